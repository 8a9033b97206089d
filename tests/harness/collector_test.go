package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSumSamplesRealExposition reads what bin/otlpcol's telemetry endpoint
// served (configs/local.yaml, one span whose service.name holds quotes, a
// backslash, spaces and a newline, trace_registry's service.name
// dimension on): label values with escapes and spaces, histograms with
// their +Inf bucket, _sum and _count.
func TestSumSamplesRealExposition(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "components", "pkg", "promtext", "testdata", "otlpcol.prom"))
	require.NoError(t, err)
	body := string(b)
	service := `service_name="say \"hi\" \\ there\nnext"`
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"otelcol_exporter_sent_spans_total", []string{`exporter="debug"`}, 1},
		{"otlp_traces_total", []string{service}, 1},
		{"otlp_traces_failed_total", []string{service}, 1},
		{"otlp_trace_duration_seconds_bucket", []string{service, `le="+Inf"`}, 1},
		{"otlp_trace_duration_seconds_bucket", []string{service, `le="0.25"`}, 0},
		{"otlp_trace_duration_seconds_sum", []string{service}, 0.5},
		{"otlp_trace_duration_seconds_count", nil, 1},
	} {
		got, ok := SumSamples(body, c.name, c.labels...)
		if assert.True(t, ok, "%s%v not found", c.name, c.labels) {
			assert.Equal(t, c.want, got, "%s%v", c.name, c.labels)
		}
	}
	_, ok := SumSamples(body, "otlp_traces_total", `service_name="say"`)
	assert.False(t, ok, "a label matches its whole value, not a prefix")
}

func TestSumSamplesLabelSyntax(t *testing.T) {
	const body = "m{signal=\"traces\"} 2\nm{signal=\"logs\"} 3\n"
	v, ok := SumSamples(body, "m", `signal="traces"`)
	assert.True(t, ok)
	assert.Equal(t, 2.0, v)
	v, ok = SumSamples(body, "m")
	assert.True(t, ok)
	assert.Equal(t, 5.0, v)
	assert.Panics(t, func() { SumSamples(body, "m", "signal", "traces") }, "a label written as two words")
}
