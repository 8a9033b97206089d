package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlpcol/otlpcol/components/pkg/promtext"
	"github.com/otlpcol/otlpcol/tests/harness"
)

// registrySpan is one span of the known set the trace_registry test sends.
type registrySpan struct {
	trace   byte
	span    byte
	parent  byte // 0: root span
	service string
	err     bool
	dur     time.Duration
}

func registryTraceID(b byte) pcommon.TraceID {
	return pcommon.TraceID{0: 0x7e, 1: 0x57, 15: b}
}

func registryBatch(spans ...registrySpan) ptrace.Traces {
	td := ptrace.NewTraces()
	now := time.Now()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName(fmt.Sprintf("op-%d", s.span))
		sp.SetTraceID(registryTraceID(s.trace))
		sp.SetSpanID(pcommon.SpanID{0: s.trace, 7: s.span})
		if s.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{0: s.trace, 7: s.parent})
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-s.dur)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// waitMetric polls the telemetry endpoint until series name (with labels)
// equals want, and fails with the last value seen otherwise.
func waitMetric(t *testing.T, c *harness.Collector, want float64, name string, labels ...string) {
	t.Helper()
	var got float64
	var found bool
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, found = harness.MetricValue(t, c.TelemetryURL(), name, labels...)
		if found && got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s%v: want %v, last %v (found %v)", name, labels, want, got, found)
}

// metricTypes returns the type of each metric family of an exposition whose name
// starts with prefix.
func metricTypes(t *testing.T, exposition, prefix string) map[string]string {
	t.Helper()
	types, err := promtext.Types(strings.NewReader(exposition))
	require.NoError(t, err)
	out := map[string]string{}
	for name, typ := range types {
		if strings.HasPrefix(name, prefix) {
			out[name] = typ
		}
	}
	return out
}

// TestTraceRegistryEndToEnd runs bin/otlpcol on configs/local.yaml with a
// short idle_timeout, sends a known set of traces over OTLP gRPC, and reads
// the exact trace-level counts from the internal telemetry endpoint.
func TestTraceRegistryEndToEnd(t *testing.T) {
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{Set: []string{
		"processors::trace_registry::idle_timeout=1s",
		"processors::trace_registry::dimensions=[service.name]",
		"processors::trace_registry::max_dimension_values=1",
		"processors::trace_registry::max_traces=4321",
	}})
	c.WaitReady(30 * time.Second)

	// Six traces: 1-4 complete with a root, 2 and 4 with an Error span, 5
	// without a root span, 6 from a second service (over the dimension cap).
	// Trace 1 arrives in two requests, its root last.
	first := registryBatch(
		registrySpan{trace: 1, span: 2, parent: 1, service: "frontend", dur: 100 * time.Millisecond},
		registrySpan{trace: 2, span: 1, service: "frontend", dur: 300 * time.Millisecond},
		registrySpan{trace: 2, span: 2, parent: 1, service: "frontend", err: true, dur: 50 * time.Millisecond},
		registrySpan{trace: 3, span: 1, service: "frontend", dur: 10 * time.Millisecond},
	)
	second := registryBatch(
		registrySpan{trace: 1, span: 1, service: "frontend", dur: 200 * time.Millisecond},
		registrySpan{trace: 1, span: 3, parent: 1, service: "frontend", dur: 20 * time.Millisecond},
		registrySpan{trace: 4, span: 1, service: "frontend", err: true, dur: time.Millisecond},
		registrySpan{trace: 5, span: 2, parent: 1, service: "frontend", dur: time.Millisecond},
		registrySpan{trace: 6, span: 1, service: "backend", dur: time.Millisecond},
		registrySpan{trace: 6, span: 2, parent: 1, service: "backend", dur: time.Millisecond},
	)
	const traces, failed, spans = 6, 2, 10
	harness.ExportTraces(t, c.GRPCEndpoint(), first, second)

	waitMetric(t, c, traces, "otlp_traces_total")
	// Past idle_timeout every trace is completed, none is active.
	waitMetric(t, c, traces, "otlp_traces_completed_total")
	waitMetric(t, c, 0, "otlp_traces_active")

	code, body, err := harness.Get(c.TelemetryURL())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]string{
		"otlp_traces_total":           "counter",
		"otlp_traces_active":          "gauge",
		"otlp_traces_completed_total": "counter",
		"otlp_traces_failed_total":    "counter",
		"otlp_traces_evicted_total":   "counter",
		"otlp_traces_capacity":        "gauge",
		"otlp_trace_duration_seconds": "histogram",
		"otlp_trace_spans":            "histogram",
	}, metricTypes(t, body, "otlp_trace"), "the exposed trace_registry metric names")

	value := func(name string, labels ...string) float64 {
		v, ok := harness.SumSamples(body, name, labels...)
		require.True(t, ok, "%s%v not exposed", name, labels)
		return v
	}
	assert.Equal(t, float64(traces), value("otlp_traces_total"))
	assert.Equal(t, float64(traces), value("otlp_traces_completed_total"))
	assert.Equal(t, float64(failed), value("otlp_traces_failed_total"))
	assert.Equal(t, float64(0), value("otlp_traces_evicted_total"))
	assert.Equal(t, float64(0), value("otlp_traces_active"))
	assert.Equal(t, float64(4321), value("otlp_traces_capacity"), "capacity is max_traces")
	assert.Equal(t, float64(traces), value("otlp_trace_spans_count"))
	assert.Equal(t, float64(spans), value("otlp_trace_spans_sum"))
	assert.Equal(t, float64(traces), value("otlp_trace_duration_seconds_count"))
	assert.Equal(t, float64(traces), value("otlp_trace_duration_seconds_bucket", `le="+Inf"`))
	// max_dimension_values=1: frontend has its own label value, backend
	// falls under "other".
	assert.Equal(t, float64(5), value("otlp_traces_total", `service_name="frontend"`))
	assert.Equal(t, float64(1), value("otlp_traces_total", `service_name="other"`))
	assert.Equal(t, float64(2), value("otlp_traces_failed_total", `service_name="frontend"`))

	// The same series on the health extension's /metrics.
	code, hbody, err := harness.Get(c.HealthURL("/metrics"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	v, ok := harness.SumSamples(hbody, "otlp_traces_failed_total")
	assert.True(t, ok)
	assert.Equal(t, float64(failed), v)

	// The lookup, through the health extension.
	code, lbody, err := harness.Get(c.HealthURL("/traces/" + registryTraceID(2).String()))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, lbody)
	var view struct {
		State     string   `json:"state"`
		SpanCount int      `json:"span_count"`
		Error     bool     `json:"error"`
		Services  []string `json:"services"`
		Duration  float64  `json:"duration_seconds"`
	}
	require.NoError(t, json.Unmarshal([]byte(lbody), &view), lbody)
	assert.Equal(t, "failed", view.State)
	assert.Equal(t, 2, view.SpanCount)
	assert.True(t, view.Error)
	assert.Equal(t, []string{"frontend"}, view.Services)
	assert.InDelta(t, 0.3, view.Duration, 0.01)

	code, _, err = harness.Get(c.HealthURL("/traces/" + registryTraceID(99).String()))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, code)
	code, _, err = harness.Get(c.HealthURL("/traces/not-a-trace-id"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, code)

	// A late span of a completed trace updates it where it is: not active
	// again, not counted again.
	harness.ExportTraces(t, c.GRPCEndpoint(), registryBatch(
		registrySpan{trace: 3, span: 2, parent: 1, service: "frontend", err: true, dur: time.Millisecond}))
	waitMetric(t, c, failed+1, "otlp_traces_failed_total")
	waitMetric(t, c, 0, "otlp_traces_active")
	waitMetric(t, c, traces, "otlp_traces_total")
	waitMetric(t, c, traces, "otlp_traces_completed_total")
	code, lbody, err = harness.Get(c.HealthURL("/traces/" + registryTraceID(3).String()))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, lbody)
	require.NoError(t, json.Unmarshal([]byte(lbody), &view), lbody)
	assert.Equal(t, "failed", view.State)
	assert.Equal(t, 2, view.SpanCount)

	c.Stop(30 * time.Second)
}

// TestTraceRegistryEvictionEndToEnd fills a small registry: the least
// recently updated traces are evicted and counted, and data still flows.
func TestTraceRegistryEvictionEndToEnd(t *testing.T) {
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{Set: []string{
		"processors::trace_registry::max_traces=4",
		"processors::trace_registry::idle_timeout=1s",
	}})
	c.WaitReady(30 * time.Second)

	var batch []registrySpan
	for i := byte(1); i <= 10; i++ {
		batch = append(batch, registrySpan{trace: i, span: 1, service: "frontend", err: i%5 == 0, dur: time.Millisecond})
	}
	harness.ExportTraces(t, c.GRPCEndpoint(), registryBatch(batch...))

	waitMetric(t, c, 10, "otlp_traces_total")
	waitMetric(t, c, 6, "otlp_traces_evicted_total")
	// Full registry: the processor reported itself degraded (RecoverableError),
	// which the health extension's /status shows.
	deadline := time.Now().Add(10 * time.Second)
	status := ""
	for time.Now().Before(deadline) && !strings.Contains(status, "trace registry degraded") {
		_, status, _ = harness.Get(c.HealthURL("/status"))
		time.Sleep(50 * time.Millisecond)
	}
	assert.Contains(t, status, "trace registry degraded: active traces reached degraded_ratio 0.9 of max_traces 4")
	// The 4 kept (7-10) complete; 10 had an Error span.
	waitMetric(t, c, 4, "otlp_traces_completed_total")
	waitMetric(t, c, 1, "otlp_traces_failed_total")
	waitMetric(t, c, 0, "otlp_traces_active")
	c.Stop(30 * time.Second)
}
