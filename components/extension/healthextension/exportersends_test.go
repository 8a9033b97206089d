package healthextension

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// fakeTelemetry serves an exposition with load_balancing's counters, as
// the collector's Prometheus reader would.
type fakeTelemetry struct {
	mu           sync.Mutex
	sent, queued int
}

func (f *fakeTelemetry) set(sent, queued int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent, f.queued = sent, queued
}

func (f *fakeTelemetry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(w, "otelcol_exporter_sent_spans_total{exporter=\"load_balancing\"} %d\n", f.sent)
	fmt.Fprintf(w, "otelcol_exporter_queue_size{data_type=\"traces\",exporter=\"load_balancing\"} %d\n", f.queued)
}

// TestThresholdFromExporterCounters: load_balancing never reports a
// status; its exporterhelper counters make /ready 503 once it delivered
// nothing with items queued for longer than exporter_failure_threshold, and
// 200 at the first scrape after it sent again. /health stays 200.
func TestThresholdFromExporterCounters(t *testing.T) {
	h, tel, poll := watchedSends(t, false)

	tel.set(100, 0)
	poll(0)
	tel.set(200, 10)
	poll(3 * time.Second)
	// The gateway goes down: nothing sent, the queue grows.
	tel.set(200, 500)
	poll(3 * time.Second)
	for range 10 {
		poll(3 * time.Second)
		code, _ := get(t, h, "/ready")
		assert.Equal(t, http.StatusOK, code, "under the threshold")
	}
	poll(time.Second) // 31 s since the first stalled scrape
	code, body := get(t, h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, fmt.Sprint(body["reasons"]), "exporter:load_balancing sent nothing for 31s while 500 items were queued")
	code, _ = get(t, h, "/health")
	assert.Equal(t, http.StatusOK, code)

	// The gateway is back: one send ends it.
	tel.set(201, 499)
	poll(3 * time.Second)
	code, _ = get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code)
}

// watchedSends is a ready health extension whose exporter_failure_threshold
// (30 s) reads a fake telemetry endpoint; poll advances its clock by d and
// reads the counters once.
func watchedSends(t *testing.T, readyWhenFailing bool) (h *health, tel *fakeTelemetry, poll func(d time.Duration)) {
	t.Helper()
	tel = &fakeTelemetry{}
	srv := httptest.NewServer(tel)
	t.Cleanup(srv.Close)
	cfg := testConfig()
	cfg.ExporterFailureThreshold = 30 * time.Second
	cfg.ReadyWhenExporterFailing = readyWhenFailing
	cfg.MetricsEndpoint = srv.URL
	h, clk := newTestHealth(t, cfg)
	report(h, componentstatus.StatusOK, pipelineC...)
	require.NoError(t, h.Ready())
	return h, tel, func(d time.Duration) {
		t.Helper()
		clk.add(d)
		require.NoError(t, h.pollSends(context.Background()))
	}
}

func TestSendPollInterval(t *testing.T) {
	assert.Equal(t, time.Second, sendPollInterval(time.Second))
	assert.Equal(t, 3*time.Second, sendPollInterval(30*time.Second))
	assert.Equal(t, 5*time.Second, sendPollInterval(10*time.Minute))
}

// TestReadyWhenExporterFailing is the agent's setting: the same stalled
// load_balancing past the threshold is reported under /status
// exporter_failures while /ready stays 200; the report clears at the first
// send again.
func TestReadyWhenExporterFailing(t *testing.T) {
	h, tel, poll := watchedSends(t, true)

	tel.set(100, 0)
	poll(0)
	tel.set(100, 500) // the gateway goes down
	poll(3 * time.Second)
	poll(31 * time.Second)
	code, body := get(t, h, "/ready")
	assert.Equal(t, http.StatusOK, code, "ready while the exporter fails")
	assert.Empty(t, body["reasons"])
	_, body = get(t, h, "/status")
	assert.Equal(t, true, body["ready"])
	assert.Contains(t, fmt.Sprint(body["exporter_failures"]), "exporter:load_balancing sent nothing for 31s while 500 items were queued")

	tel.set(101, 499)
	poll(3 * time.Second)
	_, body = get(t, h, "/status")
	assert.Nil(t, body["exporter_failures"], "cleared at the first send")
}
