package sendwatch

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exposition is what the collector's Prometheus reader shows, abridged,
// with conventional names (_total) for load_balancing and plain names for
// otlp_grpc/gateway.
const exposition = `# HELP otelcol_exporter_sent_spans_total Number of spans successfully sent to destination.
# TYPE otelcol_exporter_sent_spans_total counter
otelcol_exporter_sent_spans_total{exporter="load_balancing",otel_scope_name="go.opentelemetry.io/collector/exporter/exporterhelper"} 1200
otelcol_exporter_send_failed_spans_total{exporter="load_balancing",error_type="Unavailable"} 30
otelcol_exporter_enqueue_failed_spans_total{exporter="load_balancing"} 2
otelcol_exporter_queue_size{data_type="traces",exporter="load_balancing"} 7
otelcol_exporter_queue_capacity{data_type="traces",exporter="load_balancing"} 5000
otelcol_exporter_sent_metric_points{exporter="otlp_grpc/gateway"} 10 1700000000000
otelcol_exporter_sent_log_records{exporter="otlp_grpc/gateway"} 5
otelcol_exporter_queue_size{exporter="with \"quotes\" and \\ slash"} 1
otelcol_exporter_sent_spans_total 99
otelcol_receiver_accepted_spans_total{receiver="otlp"} 5000
`

func TestParse(t *testing.T) {
	got, err := Parse(strings.NewReader(exposition))
	require.NoError(t, err)
	assert.Equal(t, map[string]Sample{
		"load_balancing":            {Sent: 1200, Failed: 32, Queued: 7},
		"otlp_grpc/gateway":         {Sent: 15},
		`with "quotes" and \ slash`: {Queued: 1},
	}, got)
}

// TestParseRealExposition reads what bin/otlpcol served (promtext's
// testdata): label values with escaped quotes, backslashes and newlines and
// histograms around the exporter's counters.
func TestParseRealExposition(t *testing.T) {
	f, err := os.Open("../../../../pkg/promtext/testdata/otlpcol.prom")
	require.NoError(t, err)
	defer f.Close()
	got, err := Parse(f)
	require.NoError(t, err)
	assert.Equal(t, map[string]Sample{"debug": {Sent: 1}}, got)
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		`otelcol_exporter_sent_spans_total{exporter="x} 1`,
		`otelcol_exporter_sent_spans_total{exporter=x} 1`,
		`otelcol_exporter_sent_spans_total{exporter="x"}`,
		`otelcol_exporter_sent_spans_total{exporter="x"} one`,
	} {
		_, err := Parse(strings.NewReader(in))
		assert.Error(t, err, in)
	}
}

func TestWatch(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	w := New()
	ids := func() []string {
		var out []string
		for _, f := range w.Failing() {
			out = append(out, f.ID)
		}
		return out
	}

	// Baseline, then delivering: not failing.
	w.Observe(at(0), map[string]Sample{"lb": {Sent: 10, Queued: 5}, "idle": {}})
	assert.Empty(t, ids(), "one sample says nothing")
	w.Observe(at(3), map[string]Sample{"lb": {Sent: 20, Queued: 5}, "idle": {}})
	assert.Empty(t, ids())

	// Backend down: nothing sent while items wait.
	w.Observe(at(6), map[string]Sample{"lb": {Sent: 20, Queued: 40}, "idle": {}})
	w.Observe(at(9), map[string]Sample{"lb": {Sent: 20, Queued: 90}, "idle": {}})
	require.Equal(t, []Failure{{ID: "lb", Since: at(6), Queued: 90}}, w.Failing(), "the stretch begins at the first stalled scrape")

	// Failures without a queue count too.
	w.Observe(at(12), map[string]Sample{"lb": {Sent: 20, Queued: 90}, "idle": {Failed: 1}})
	assert.Equal(t, []string{"idle", "lb"}, ids())

	// One successful send ends the stretch, whatever is still queued.
	w.Observe(at(15), map[string]Sample{"lb": {Sent: 21, Queued: 89}, "idle": {Failed: 2}})
	assert.Equal(t, []string{"idle"}, ids())

	// Nothing queued, nothing failed, nothing sent: idle, so not failing
	// (a drained queue must not keep a pod unready with no traffic to
	// prove it healthy again).
	w.Observe(at(18), map[string]Sample{"lb": {Sent: 21}, "idle": {Failed: 2}})
	assert.Empty(t, ids())

	// A counter reset (the exporter restarted) is not a stall.
	w.Observe(at(21), map[string]Sample{"lb": {Sent: 3, Queued: 4}})
	assert.Empty(t, ids())
}
