package healthextension

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

const (
	metricsTimeout      = 10 * time.Second
	contentTypeText     = "text/plain; charset=utf-8"
	defaultPromTextType = "text/plain; version=0.0.4; charset=utf-8"
)

// metricsProxy serves /metrics by reading the collector's own Prometheus
// endpoint (the internal telemetry pull reader) and passing its answer on,
// so the series are exactly those of the internal telemetry endpoint.
type metricsProxy struct {
	logger *zap.Logger
	client *http.Client

	mu     sync.RWMutex
	url    string
	source string
}

func (m *metricsProxy) init(logger *zap.Logger) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // loopback: never through an HTTP proxy from the environment
	m.logger = logger
	m.client = &http.Client{Timeout: metricsTimeout, Transport: tr}
}

func (m *metricsProxy) set(url, source string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.url, m.source = url, source
}

func (m *metricsProxy) target() (string, string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.url, m.source
}

func (m *metricsProxy) close() { m.client.CloseIdleConnections() }

func (m *metricsProxy) serve(w http.ResponseWriter, r *http.Request) {
	url, source := m.target()
	if url == "" {
		writeText(w, http.StatusServiceUnavailable,
			"no collector metrics to serve: service::telemetry::metrics has no Prometheus pull reader "+
				"(or its level is none) and the health extension's metrics_endpoint is not set\n")
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, http.NoBody)
	if err != nil {
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("bad metrics URL %s (from %s): %v\n", url, source, err))
		return
	}
	if accept := r.Header.Get("Accept"); accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		m.logger.Debug("reading the collector's metrics failed", zap.String("url", url), zap.Error(err))
		writeText(w, http.StatusBadGateway, fmt.Sprintf("cannot read the collector's metrics from %s (from %s): %v\n", url, source, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		writeText(w, http.StatusBadGateway, fmt.Sprintf("the collector's metrics endpoint %s (from %s) answered %s\n", url, source, resp.Status))
		return
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = defaultPromTextType
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, resp.Body)
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", contentTypeText)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// telemetryURL finds the first Prometheus pull reader in the effective
// configuration's service::telemetry::metrics::readers and returns the URL
// to scrape it, with where it was found; "" when there is none or the
// metrics level is none.
func telemetryURL(conf *confmap.Conf) (string, string) {
	if conf == nil {
		return "", ""
	}
	if lvl := conf.Get("service::telemetry::metrics::level"); lvl != nil && strings.EqualFold(fmt.Sprint(lvl), "none") {
		return "", ""
	}
	readers, _ := conf.Get("service::telemetry::metrics::readers").([]any)
	for i, r := range readers {
		prom, ok := dig(r, "pull", "exporter", "prometheus")
		if !ok {
			continue
		}
		p, ok := prom.(map[string]any)
		if !ok {
			continue
		}
		port := fmt.Sprint(p["port"])
		if p["port"] == nil || port == "" || port == "0" {
			continue
		}
		host, _ := p["host"].(string)
		src := fmt.Sprintf("service::telemetry::metrics::readers[%d]", i)
		return "http://" + net.JoinHostPort(dialHost(host), port) + "/metrics", src
	}
	return "", ""
}

func dig(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok || v == nil {
			return nil, false
		}
	}
	return v, true
}
