package tests

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// otlpretryBatch is n spans whose span IDs start with tag.
func otlpretryBatch(tag byte, batch, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "otlpretry-e2e")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := 0; i < n; i++ {
		s := spans.AppendEmpty()
		s.SetName("op")
		s.SetTraceID(pcommon.TraceID{0: tag, 1: byte(batch), 15: byte(i)})
		s.SetSpanID(pcommon.SpanID{0: tag, 1: byte(batch >> 8), 2: byte(batch), 6: byte(i >> 8), 7: byte(i)})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	}
	return td
}

func otlpretryMetricNames(t *testing.T, c *harness.Collector) []string {
	t.Helper()
	_, body, err := harness.Get(c.TelemetryURL())
	require.NoError(t, err)
	var names []string
	for n := range harness.SeriesNames(body) {
		if strings.HasPrefix(n, "otelcol_otlp_retry_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// An outage of the backend for a few seconds loses nothing: every span
// arrives once it is back (gRPC, gzip level 6).
func TestOTLPRetryOutageLosesNothing(t *testing.T) {
	sink := harness.StartSink(t)
	sink.SetFailure(errors.New("backend down for maintenance"))
	dl := t.TempDir()
	c := harness.Start(t, filepath.Join(harness.RepoRoot(), "tests", "testdata", "otlpretry.yaml"), harness.Options{
		Env: []string{"SINK_ENDPOINT=" + sink.GRPCEndpoint(), "DEAD_LETTER_DIR=" + dl},
	})
	c.WaitReady(30 * time.Second)

	const batches, perBatch = 20, 100
	var tds []ptrace.Traces
	for b := 0; b < batches; b++ {
		tds = append(tds, otlpretryBatch(0xa1, b, perBatch))
	}
	harness.ExportTraces(t, c.GRPCEndpoint(), tds...)

	// The exporter retries against the failing sink...
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_failures_total", `reason="retryable"`)
		if v >= 3 || time.Now().After(deadline) {
			require.GreaterOrEqual(t, v, 3.0, "retryable failures while the sink is down")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Zero(t, sink.SpanCount())
	time.Sleep(2 * time.Second)

	// ...and once the sink is back every span arrives.
	sink.SetFailure(nil)
	got := sink.WaitSpans(batches*perBatch, 90*time.Second)
	require.Equal(t, batches*perBatch, got, "spans delivered after the outage")
	assert.Zero(t, sink.Duplicates(), "gRPC OK answers are final: no duplicates expected here")

	retries, ok := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_retries_total")
	require.True(t, ok)
	assert.Positive(t, retries)
	sent, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_sent_items_total", `signal="traces"`)
	replayed, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_replayed_items_total")
	assert.Equal(t, float64(batches*perBatch), sent+replayed)
	in, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_uncompressed_bytes_total")
	out, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_compressed_bytes_total")
	assert.Less(t, out, in, "gzip shrinks the payload")
	t.Logf("exposed otlp_retry metrics: %s", strings.Join(otlpretryMetricNames(t, c), ", "))
	c.Stop(30 * time.Second)
}

// OTLP/HTTP with zstd to the real receiver: every span arrives.
func TestOTLPRetryHTTPZstd(t *testing.T) {
	sink := harness.StartSink(t)
	dl := t.TempDir()
	c := harness.Start(t, filepath.Join(harness.RepoRoot(), "tests", "testdata", "otlpretry.yaml"), harness.Options{
		Env: []string{"SINK_ENDPOINT=" + sink.HTTPEndpoint(), "DEAD_LETTER_DIR=" + dl},
		Set: []string{"exporters::otlp_retry::protocol=http", "exporters::otlp_retry::compression=zstd"},
	})
	c.WaitReady(30 * time.Second)
	const batches, perBatch = 10, 100
	var tds []ptrace.Traces
	for b := 0; b < batches; b++ {
		tds = append(tds, otlpretryBatch(0xb2, b, perBatch))
	}
	harness.ExportTraces(t, c.GRPCEndpoint(), tds...)
	require.Equal(t, batches*perBatch, sink.WaitSpans(batches*perBatch, 60*time.Second))
	assert.Zero(t, sink.Duplicates())
	in, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_uncompressed_bytes_total")
	out, _ := harness.MetricValue(t, c.TelemetryURL(), "otelcol_otlp_retry_compressed_bytes_total")
	assert.Positive(t, in)
	assert.Less(t, out, in, fmt.Sprintf("zstd shrinks the payload (%v -> %v)", in, out))
	c.Stop(30 * time.Second)
}
