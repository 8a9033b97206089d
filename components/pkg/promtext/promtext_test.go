package promtext

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// service is the service.name of the one span sent before the scrape in
// testdata/otlpcol.prom, as its label holds it: quotes, a backslash,
// spaces and a newline, escaped in the exposition.
const service = "say \"hi\" \\ there\nnext"

// TestSamplesRealExposition reads testdata/otlpcol.prom, what bin/otlpcol
// served on its telemetry endpoint (configs/local.yaml with
// trace_registry's service.name dimension, after one failed trace of one
// span lasting 0.5 s, Accept: text/plain;version=0.0.4), unedited.
func TestSamplesRealExposition(t *testing.T) {
	f, err := os.Open("testdata/otlpcol.prom")
	require.NoError(t, err)
	defer f.Close()
	samples, err := Samples(f)
	require.NoError(t, err)

	sum := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := Sum(samples, name, labels)
		require.True(t, ok, "%s%v not found", name, labels)
		return v
	}
	svc := map[string]string{"service_name": service}
	assert.Equal(t, 1.0, sum("otelcol_exporter_sent_spans_total", map[string]string{"exporter": "debug"}))
	assert.Equal(t, 1.0, sum("otlp_traces_total", svc))
	assert.Equal(t, 1.0, sum("otlp_traces_failed_total", svc))
	assert.Equal(t, 0.5, sum("otlp_trace_duration_seconds_sum", svc))
	assert.Equal(t, 1.0, sum("otlp_trace_duration_seconds_count", svc))
	assert.Equal(t, 1.0, sum("otlp_trace_duration_seconds_bucket", map[string]string{"service_name": service, "le": "+Inf"}))
	assert.Equal(t, 1.0, sum("otlp_trace_duration_seconds_bucket", map[string]string{"service_name": service, "le": "0.5"}))
	assert.Equal(t, 0.0, sum("otlp_trace_duration_seconds_bucket", map[string]string{"service_name": service, "le": "0.25"}))
	// Labels match whole values, not prefixes.
	_, ok := Sum(samples, "otlp_traces_total", map[string]string{"service_name": "say"})
	assert.False(t, ok)

	// Every sample line of the file is one sample (its histograms all have
	// their +Inf bucket, so flattening adds none).
	b, err := os.ReadFile("testdata/otlpcol.prom")
	require.NoError(t, err)
	lines := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines++
		}
	}
	assert.Len(t, samples, lines)

	types, err := Types(strings.NewReader(string(b)))
	require.NoError(t, err)
	assert.Equal(t, "histogram", types["otlp_trace_duration_seconds"])
	assert.Equal(t, "counter", types["otlp_traces_total"])
	assert.Equal(t, "gauge", types["otlp_traces_active"])
}

// TestSamplesEdgeCases: what the format allows that otlpcol's own
// exposition did not show in the recorded scrape.
func TestSamplesEdgeCases(t *testing.T) {
	const in = `# TYPE ratio gauge
ratio{q="a"} NaN
ratio{q="b"} +Inf
ratio{q="c"} -Inf 1700000000000
untyped_thing 3
# TYPE lat summary
lat{quantile="0.5"} 0.1
lat{quantile="0.99"} 2
lat_sum 12
lat_count 40
# TYPE h histogram
h_bucket{le="1"} 2
h_sum 1.5
h_count 3
`
	samples, err := Samples(strings.NewReader(in))
	require.NoError(t, err)
	v, ok := Sum(samples, "ratio", map[string]string{"q": "a"})
	assert.True(t, ok)
	assert.True(t, math.IsNaN(v))
	v, _ = Sum(samples, "ratio", map[string]string{"q": "b"})
	assert.True(t, math.IsInf(v, 1))
	v, _ = Sum(samples, "ratio", map[string]string{"q": "c"})
	assert.True(t, math.IsInf(v, -1))
	v, _ = Sum(samples, "untyped_thing", nil)
	assert.Equal(t, 3.0, v)
	v, _ = Sum(samples, "lat", map[string]string{"quantile": "0.99"})
	assert.Equal(t, 2.0, v)
	v, _ = Sum(samples, "lat_count", nil)
	assert.Equal(t, 40.0, v)
	// A histogram without its +Inf bucket gets one, equal to its count.
	v, ok = Sum(samples, "h_bucket", map[string]string{"le": "+Inf"})
	assert.True(t, ok)
	assert.Equal(t, 3.0, v)
	_, ok = Sum(samples, "absent", nil)
	assert.False(t, ok)
	for _, s := range samples {
		assert.NotEqual(t, model.LabelValue(""), s.Metric[model.MetricNameLabel])
	}
}

func TestSamplesErrors(t *testing.T) {
	for _, in := range []string{
		`m{l="x} 1`,
		`m{l=x} 1`,
		`m{l="x"}`,
		`m{l="x"} one`,
		"# TYPE m counter\nm 1\n# TYPE m gauge\n",
		"#TYPE A \n{}", // expfmt v0.71.0 panics on it (nil metric); FuzzParse found it
	} {
		_, err := Samples(strings.NewReader(in + "\n"))
		assert.Error(t, err, in)
	}
}

// FuzzSamples: any input gives samples or an error, never a panic.
func FuzzSamples(f *testing.F) {
	b, err := os.ReadFile("testdata/otlpcol.prom")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add(`m{l="a\` + "\n")
	f.Add(`m{l="a",} 1e3` + "\n")
	f.Add("#TYPE A \n{}")
	f.Fuzz(func(_ *testing.T, in string) {
		_, _ = Samples(strings.NewReader(in))
	})
}
