package healthextension

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/status"
	"github.com/otlpcol/otlpcol/components/pkg/ledgerview"
)

const (
	contentTypeJSON = "application/json"
	allowedMethods  = "GET, HEAD"
	tracesPrefix    = "/traces/"
)

// ServeHTTP routes the extension's endpoints. GET and HEAD are allowed on
// every endpoint; other methods get 405 with an Allow header, unknown paths
// 404. Every answer is JSON except /metrics.
func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	var serve func(http.ResponseWriter, *http.Request)
	switch {
	case path == "/health":
		serve = h.serveHealth
	case path == "/ready":
		serve = h.serveReady
	case path == "/status":
		serve = h.serveStatus
	case path == "/metrics":
		serve = h.metrics.serve
	case strings.HasPrefix(path, tracesPrefix) && len(path) > len(tracesPrefix) &&
		!strings.Contains(path[len(tracesPrefix):], "/"):
		serve = h.serveTrace
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not found: " + path + " (endpoints: /health, /ready, /status, /metrics, /traces/{trace_id})"})
		return
	}
	if !h.admit(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", allowedMethods)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed; use GET"})
		return
	}
	serve(w, r)
}

type errorBody struct {
	Error string `json:"error"`
}

type healthBody struct {
	Status        string    `json:"status"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Reasons       []string  `json:"reasons,omitempty"`
}

// serveHealth is liveness: 200 unless a component hit a fatal or permanent
// error. It never depends on a backend being reachable.
func (h *health) serveHealth(w http.ResponseWriter, _ *http.Request) {
	v := h.evaluate()
	body := healthBody{Status: "alive", Reasons: v.aliveReasons}
	if p := h.startedAt.Load(); p != nil {
		body.StartedAt = *p
		body.UptimeSeconds = h.now().Sub(*p).Seconds()
	}
	code := http.StatusOK
	if !v.alive {
		body.Status, code = "unhealthy", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

type readyBody struct {
	Ready   bool     `json:"ready"`
	Phase   string   `json:"phase"`
	Reasons []string `json:"reasons,omitempty"`
}

// serveReady is readiness: 200 only between the pipeline watcher's Ready
// and NotReady, and while the configured degradation rules allow it.
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) {
	v := h.evaluate()
	code := http.StatusOK
	if !v.ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, readyBody{Ready: v.ready, Phase: v.phase.String(), Reasons: v.readyReasons})
}

type statusBody struct {
	Ready        bool     `json:"ready"`
	Healthy      bool     `json:"healthy"`
	Phase        string   `json:"phase"`
	ReadyReasons []string `json:"ready_reasons,omitempty"`
	// ExporterFailures lists the exporters failing past
	// exporter_failure_threshold, whether or not they affect readiness.
	ExporterFailures []string `json:"exporter_failures,omitempty"`
	status.Snapshot
	// Ledgers: each otlp_retry exporter's conservation ledger per signal
	// (component ID -> signal -> terms), from ledgerview.
	Ledgers map[string]map[string]ledgerview.Terms `json:"ledgers,omitempty"`
}

// serveStatus shows every pipeline and component. It answers 200 whatever
// the state: the probes are /health and /ready.
func (h *health) serveStatus(w http.ResponseWriter, _ *http.Request) {
	v := h.evaluate()
	writeJSON(w, http.StatusOK, statusBody{
		Ready: v.ready, Healthy: v.alive, Phase: v.phase.String(),
		ReadyReasons: v.readyReasons, ExporterFailures: v.exporterFailures, Snapshot: v.snap, Ledgers: ledgerview.All(),
	})
}

// serveTrace answers GET /traces/{trace_id} from the registered
// trace_registry lookups.
func (h *health) serveTrace(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Path[len(tracesPrefix):]
	id, ok := parseTraceID(raw)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "malformed trace ID " + quoteShort(raw) + ": want 32 hex characters, not all zero"})
		return
	}
	lookups := h.traceLookups()
	if len(lookups) == 0 {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no trace_registry processor is configured"})
		return
	}
	for _, l := range lookups {
		if view, found := l.LookupTrace(id); found {
			writeJSON(w, http.StatusOK, view)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, errorBody{Error: "trace " + raw + " not found"})
}

func parseTraceID(s string) (pcommon.TraceID, bool) {
	var id pcommon.TraceID
	if len(s) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, !id.IsEmpty()
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
