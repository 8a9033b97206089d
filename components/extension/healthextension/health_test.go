package healthextension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/metadata"
	"github.com/otlpcol/otlpcol/components/pkg/tracelookup"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testConfig() *Config {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	return cfg
}

func newTestHealth(t *testing.T, cfg *Config) (*health, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	h := newHealth(cfg, extensiontest.NewNopSettings(metadata.Type), c.now)
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
	return h, c
}

// get calls the handler directly and decodes a JSON answer.
func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, http.NoBody))
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), path)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

var (
	tracesID  = pipeline.NewID(pipeline.SignalTraces)
	recvID    = componentstatus.NewInstanceID(component.MustNewID("otlp"), component.KindReceiver, tracesID)
	procID    = componentstatus.NewInstanceID(component.MustNewID("batch"), component.KindProcessor, tracesID)
	expID     = componentstatus.NewInstanceID(component.MustNewIDWithName("otlp_retry", "backend"), component.KindExporter, tracesID)
	extID     = componentstatus.NewInstanceID(component.MustNewID("health"), component.KindExtension)
	pipelineC = []*componentstatus.InstanceID{recvID, procID, expID}
)

func report(h *health, st componentstatus.Status, ids ...*componentstatus.InstanceID) {
	for _, id := range ids {
		h.ComponentStatusChanged(id, componentstatus.NewEvent(st))
	}
}

func componentOf(t *testing.T, body map[string]any, key string) map[string]any {
	t.Helper()
	p := body["pipelines"].(map[string]any)["traces"].(map[string]any)
	c, ok := p["components"].(map[string]any)[key].(map[string]any)
	require.True(t, ok, "no %s in %v", key, p)
	return c
}

// TestLifecycleScenario drives the watcher interfaces as the collector
// does: starting -> ready -> degraded -> recovered -> shutting down, and
// checks every endpoint's answer at each step.
func TestLifecycleScenario(t *testing.T) {
	cfg := testConfig()
	cfg.ExporterFailureThreshold = 30 * time.Second
	cfg.RecoveryDuration = 20 * time.Second
	cfg.DrainDelay = 0
	h, clk := newTestHealth(t, cfg)

	// Starting.
	report(h, componentstatus.StatusStarting, extID)
	report(h, componentstatus.StatusOK, extID)
	report(h, componentstatus.StatusStarting, pipelineC...)
	code, body := get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "alive", body["status"])
	code, body = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, false, body["ready"])
	assert.Equal(t, "starting", body["phase"])
	code, body = get(t, h, "/status")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "starting", body["status"])
	assert.Equal(t, "ok", body["extensions"].(map[string]any)["extension:health"].(map[string]any)["status"])

	// Ready.
	report(h, componentstatus.StatusOK, pipelineC...)
	require.NoError(t, h.Ready())
	code, body = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, true, body["ready"])
	_, body = get(t, h, "/status")
	assert.Equal(t, "ok", body["status"])
	assert.Equal(t, true, body["ready"])
	assert.Equal(t, "ok", componentOf(t, body, "exporter:otlp_retry/backend")["status"])

	// Degraded: the exporter's backend is down. Ready while under the threshold.
	clk.add(time.Second)
	h.ComponentStatusChanged(expID, componentstatus.NewRecoverableErrorEvent(errors.New("rpc error: code = Unavailable")))
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code, "ready_when_degraded and under exporter_failure_threshold")
	code, _ = get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code, "liveness never depends on a backend")
	_, body = get(t, h, "/status")
	assert.Equal(t, "degraded", body["status"])
	exp := componentOf(t, body, "exporter:otlp_retry/backend")
	assert.Equal(t, "degraded", exp["status"])
	assert.Equal(t, "rpc error: code = Unavailable", exp["last_error"])

	// Flapping (OK between failed attempts) stays degraded, and the failure
	// is continuous: past the threshold, readiness goes.
	for range 4 {
		clk.add(5 * time.Second)
		report(h, componentstatus.StatusOK, expID)
		clk.add(5 * time.Second)
		h.ComponentStatusChanged(expID, componentstatus.NewRecoverableErrorEvent(errors.New("rpc error: code = Unavailable")))
		_, body = get(t, h, "/status")
		assert.Equal(t, "degraded", componentOf(t, body, "exporter:otlp_retry/backend")["status"])
	}
	code, body = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code, "failing 40s > threshold 30s")
	assert.Contains(t, fmt.Sprint(body["reasons"]), "exporter:otlp_retry/backend failing for 40s")
	assert.Contains(t, fmt.Sprint(body["reasons"]), "Unavailable")
	code, _ = get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)

	// Recovered: the backend is back; degraded until recovery_duration passes.
	clk.add(time.Second)
	report(h, componentstatus.StatusOK, expID)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code, "still recovering")
	clk.add(20 * time.Second)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code)
	_, body = get(t, h, "/status")
	assert.Equal(t, "ok", body["status"])
	exp = componentOf(t, body, "exporter:otlp_retry/backend")
	assert.Equal(t, "ok", exp["status"])
	assert.Equal(t, "rpc error: code = Unavailable", exp["last_error"], "kept after recovery")

	// Shutting down.
	require.NoError(t, h.NotReady())
	code, body = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "shutting_down", body["phase"])
	code, _ = get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)
	report(h, componentstatus.StatusStopping, pipelineC...)
	report(h, componentstatus.StatusStopped, pipelineC...)
	_, body = get(t, h, "/status")
	assert.Equal(t, "stopping", body["status"], "the extension itself is still running")
	assert.Equal(t, "stopped", body["pipelines"].(map[string]any)["traces"].(map[string]any)["status"])
	// Ready again is ignored once shutdown began.
	require.NoError(t, h.Ready())
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
}

func TestReadyWhenDegradedFalse(t *testing.T) {
	cfg := testConfig()
	cfg.ReadyWhenDegraded = false
	cfg.RecoveryDuration = 0
	h, _ := newTestHealth(t, cfg)
	report(h, componentstatus.StatusOK, pipelineC...)
	require.NoError(t, h.Ready())
	code, _ := get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code)
	h.ComponentStatusChanged(procID, componentstatus.NewRecoverableErrorEvent(errors.New("memory pressure")))
	code, body := get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, fmt.Sprint(body["reasons"]), "processor:batch is degraded: memory pressure")
	report(h, componentstatus.StatusOK, procID)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code)
}

func TestPermanentAndFatalErrors(t *testing.T) {
	h, _ := newTestHealth(t, testConfig())
	report(h, componentstatus.StatusOK, pipelineC...)
	require.NoError(t, h.Ready())

	// Liveness reflects the process only: no exporter error, recoverable
	// or permanent (a wrong API key), makes /health 503.
	h.ComponentStatusChanged(expID, componentstatus.NewRecoverableErrorEvent(errors.New("rpc error: code = Unavailable")))
	code, _ := get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)
	h.ComponentStatusChanged(expID, componentstatus.NewPermanentErrorEvent(errors.New("401 Unauthorized")))
	code, body := get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "alive", body["status"])
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code, "ready_when_degraded covers permanent errors too")
	_, body = get(t, h, "/status")
	assert.Equal(t, "permanent_error", componentOf(t, body, "exporter:otlp_retry/backend")["status"], "/status shows it")

	// A fatal error is the process breaking: both probes fail.
	h.ComponentStatusChanged(recvID, componentstatus.NewFatalErrorEvent(errors.New("listen: address in use")))
	code, body = get(t, h, "/health")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "unhealthy", body["status"])
	assert.Contains(t, fmt.Sprint(body["reasons"]), "receiver:otlp is fatal_error: listen: address in use")
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	_, body = get(t, h, "/status")
	assert.Equal(t, "fatal_error", body["status"])
	assert.Equal(t, false, body["healthy"])
}

// TestFirstRecoveryReadyAtOnce: an exporter failing past the threshold
// makes /ready 503; its first OK makes /ready 200 at once (recovery_duration
// applies to flapping only), while /status shows it degraded until then.
func TestFirstRecoveryReadyAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.ExporterFailureThreshold = 30 * time.Second
	cfg.RecoveryDuration = 30 * time.Second
	h, clk := newTestHealth(t, cfg)
	report(h, componentstatus.StatusOK, pipelineC...)
	require.NoError(t, h.Ready())

	h.ComponentStatusChanged(expID, componentstatus.NewPermanentErrorEvent(errors.New("401 Unauthorized")))
	clk.add(31 * time.Second)
	code, body := get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, fmt.Sprint(body["reasons"]), "exporter:otlp_retry/backend failing for 31s")
	code, _ = get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code, "a permanent exporter error never fails liveness")

	report(h, componentstatus.StatusOK, expID)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code, "first recovery: ready at once")
	_, body = get(t, h, "/status")
	assert.Equal(t, "degraded", componentOf(t, body, "exporter:otlp_retry/backend")["status"], "shown degraded for recovery_duration")

	// Failing again within recovery_duration is flapping: the stretch goes
	// on (no new threshold wait), and OK must now last recovery_duration.
	clk.add(5 * time.Second)
	h.ComponentStatusChanged(expID, componentstatus.NewRecoverableErrorEvent(errors.New("rpc error: code = Unavailable")))
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	report(h, componentstatus.StatusOK, expID)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code, "flapping: not ready until OK for recovery_duration")
	clk.add(30 * time.Second)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code)
}

func TestDrainDelay(t *testing.T) {
	cfg := testConfig()
	cfg.DrainDelay = time.Hour // released by Shutdown below, never by time
	h, _ := newTestHealth(t, cfg)
	require.NoError(t, h.Ready())

	returned := make(chan struct{})
	go func() { _ = h.NotReady(); close(returned) }()
	require.Eventually(t, func() bool {
		code, _ := get(t, h, "/ready")
		return code == http.StatusServiceUnavailable
	}, 10*time.Second, time.Millisecond)
	code, _ := get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)
	select {
	case <-returned:
		t.Fatal("NotReady returned before the drain delay")
	default:
	}
	require.NoError(t, h.Shutdown(context.Background()))
	<-returned
}

// TestOnDrainedRunsAfterTheDrain: the hooks run once the drain delay is
// over (not when it begins), once, also when there was nothing to drain.
func TestOnDrainedRunsAfterTheDrain(t *testing.T) {
	cfg := testConfig()
	cfg.DrainDelay = 200 * time.Millisecond
	h, _ := newTestHealth(t, cfg)
	require.NoError(t, h.Ready())
	var ran atomic.Int32
	var at time.Time
	h.OnDrained(func() { at = time.Now(); ran.Add(1) })
	start := time.Now()
	require.NoError(t, h.NotReady())
	require.Equal(t, int32(1), ran.Load())
	require.GreaterOrEqual(t, at.Sub(start), cfg.DrainDelay)
	require.NoError(t, h.NotReady())
	require.Equal(t, int32(1), ran.Load(), "hooks run once")

	never, _ := newTestHealth(t, testConfig())
	never.OnDrained(func() { ran.Add(1) })
	require.NoError(t, never.NotReady())
	require.Equal(t, int32(2), ran.Load(), "no drain: the hooks run at once")
}

func TestNoDrainWhenNeverReady(t *testing.T) {
	cfg := testConfig()
	cfg.DrainDelay = time.Hour
	h, _ := newTestHealth(t, cfg)
	require.NoError(t, h.NotReady(), "a failed start must not wait an hour")
}

type fakeLookup map[pcommon.TraceID]tracelookup.TraceView

func (f fakeLookup) LookupTrace(id pcommon.TraceID) (tracelookup.TraceView, bool) {
	v, ok := f[id]
	return v, ok
}

func TestTraces(t *testing.T) {
	h, _ := newTestHealth(t, testConfig())
	const idHex = "0102030405060708090a0b0c0d0e0f10"
	var id pcommon.TraceID
	copy(id[:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})

	code, body := get(t, h, "/traces/"+idHex)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body["error"], "no trace_registry")

	for _, bad := range []string{"xyz", "00000000000000000000000000000000", idHex + "00", "0102030405060708090a0b0c0d0e0fzz"} {
		code, body = get(t, h, "/traces/"+bad)
		assert.Equal(t, http.StatusBadRequest, code, bad)
		assert.Contains(t, body["error"], "32 hex characters")
	}

	var reg tracelookup.Registrar = h
	a := component.MustNewIDWithName("trace_registry", "a")
	b := component.MustNewIDWithName("trace_registry", "b")
	reg.RegisterTraceLookup(a, fakeLookup{})
	reg.RegisterTraceLookup(b, fakeLookup{id: {TraceID: idHex, State: "active", SpanCount: 3, Services: []string{"api"}}})
	code, body = get(t, h, "/traces/"+idHex)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, idHex, body["trace_id"])
	assert.Equal(t, "active", body["state"])
	assert.EqualValues(t, 3, body["span_count"])
	code, body = get(t, h, "/traces/"+strings.ToUpper(idHex))
	assert.Equal(t, http.StatusOK, code, "upper case hex is accepted")
	code, body = get(t, h, "/traces/ffffffffffffffffffffffffffffffff")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body["error"], "not found")

	reg.UnregisterTraceLookup(b)
	reg.UnregisterTraceLookup(a)
	code, _ = get(t, h, "/traces/"+idHex)
	assert.Equal(t, http.StatusNotFound, code)
}

func TestRouting(t *testing.T) {
	h, _ := newTestHealth(t, testConfig())
	for _, p := range []string{"/", "/healthz", "/health/", "/traces/", "/traces/a/b", "/metricsx"} {
		code, body := get(t, h, p)
		assert.Equal(t, http.StatusNotFound, code, p)
		assert.Contains(t, body["error"], "not found", p)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		for _, p := range []string{"/health", "/ready", "/status", "/metrics", "/traces/0102030405060708090a0b0c0d0e0f10"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(m, p, http.NoBody))
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m+" "+p)
			assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/health", http.NoBody))
	assert.Equal(t, http.StatusOK, rec.Code)
}

func snapshot(t *testing.T, m map[string]any) extensioncapabilities.ConfigSnapshot {
	t.Helper()
	return extensioncapabilities.NewConfigSnapshot(confmap.NewFromStringMap(m), nil)
}

func telemetryConf(host string, port any, level string) map[string]any {
	return map[string]any{"service": map[string]any{"telemetry": map[string]any{"metrics": map[string]any{
		"level": level,
		"readers": []any{
			map[string]any{"periodic": map[string]any{"exporter": map[string]any{"otlp": map[string]any{}}}},
			map[string]any{"pull": map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": host, "port": port}}}},
		},
	}}}}
}

func TestTelemetryURL(t *testing.T) {
	for _, tc := range []struct {
		conf map[string]any
		want string
	}{
		{telemetryConf("127.0.0.1", 8888, "detailed"), "http://127.0.0.1:8888/metrics"},
		{telemetryConf("0.0.0.0", "9999", "normal"), "http://127.0.0.1:9999/metrics"},
		{telemetryConf("localhost", 8888.0, "basic"), "http://localhost:8888/metrics"},
		{telemetryConf("::", 8888, "normal"), "http://[::1]:8888/metrics"},
		{telemetryConf("127.0.0.1", 8888, "None"), ""},
		{telemetryConf("127.0.0.1", nil, "normal"), ""},
		{map[string]any{"service": map[string]any{}}, ""},
	} {
		got, src := telemetryURL(confmap.NewFromStringMap(tc.conf))
		assert.Equal(t, tc.want, got)
		if got != "" {
			assert.Equal(t, "service::telemetry::metrics::readers[1]", src)
		}
	}
	got, _ := telemetryURL(nil)
	assert.Empty(t, got)
}

func TestMetricsProxy(t *testing.T) {
	const exposition = "# TYPE otelcol_exporter_sent_spans counter\notelcol_exporter_sent_spans{exporter=\"debug\"} 42\n"
	var gotAccept string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		gotAccept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, exposition)
	}))
	defer upstream.Close()
	_, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())

	h, _ := newTestHealth(t, testConfig())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", http.NoBody))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "nothing configured yet")
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), "no Prometheus pull reader")

	require.NoError(t, h.NotifyConfigSnapshot(context.Background(), snapshot(t, telemetryConf("0.0.0.0", port, "normal"))))
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", http.NoBody)
	req.Header.Set("Accept", "text/plain")
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, exposition, rec.Body.String())
	assert.Equal(t, "text/plain", gotAccept)

	// The explicit metrics_endpoint wins over the snapshot.
	cfg := testConfig()
	cfg.MetricsEndpoint = "http://127.0.0.1:" + port + "/wrong"
	h2, _ := newTestHealth(t, cfg)
	require.NoError(t, h2.NotifyConfigSnapshot(context.Background(), snapshot(t, telemetryConf("127.0.0.1", port, "normal"))))
	rec = httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", http.NoBody))
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Contains(t, rec.Body.String(), "answered 404")
	assert.Contains(t, rec.Body.String(), "metrics_endpoint")

	// Upstream down.
	upstream.Close()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", http.NoBody))
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), "cannot read the collector's metrics")
}

// TestServer runs the real server: started, answering, then stopped.
func TestServer(t *testing.T) {
	h, _ := newTestHealth(t, testConfig())
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	resp, err := http.Get("http://" + h.addr + "/health")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(b), `"alive"`)
	http.DefaultClient.CloseIdleConnections()
	require.NoError(t, h.Shutdown(context.Background()))
	_, err = http.Get("http://" + h.addr + "/health")
	require.Error(t, err)
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	cfg := testConfig()
	cfg.ServerConfig.NetAddr.Endpoint = busy.Addr().String()
	h, _ := newTestHealth(t, cfg)
	err = h.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health: cannot listen on "+busy.Addr().String())
	assert.Contains(t, err.Error(), "address already in use")

	cfg = testConfig()
	cfg.ServerConfig.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{
		CertFile: "testdata/missing.crt", KeyFile: "testdata/missing.key",
	}})
	h, _ = newTestHealth(t, cfg)
	err = h.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health: tls:")
	assert.Contains(t, err.Error(), "missing.crt")
	t.Log(err)

	cfg = testConfig()
	cfg.ServerConfig.Auth = configoptional.Some(confighttpAuth("bearertokenauth"))
	h, _ = newTestHealth(t, cfg)
	err = h.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health: cannot set up the HTTP server")
	assert.Contains(t, err.Error(), "bearertokenauth")
	t.Log(err)
}

func confighttpAuth(name string) confighttp.AuthConfig {
	return confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: component.MustNewID(name)}}
}
