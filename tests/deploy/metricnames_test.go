package deploy

import (
	"slices"
	"testing"
)

func TestExprMetrics(t *testing.T) {
	got := exprMetrics(`sum by (namespace, pod) (rate(a_total{x="y (z)"}[5m])) / on () group_left () max(b{pod=~"$pod"}) > 0.9 and histogram_quantile(0.5, sum by (le) (rate(c_bucket[$__rate_interval])))`)
	if want := []string{"a_total", "b", "c_bucket"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMetricNamesFound(t *testing.T) {
	names, err := MetricNames(root())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"otelcol_receiver_refused_spans_total", "otlp_traces_active", "otlp_trace_duration_seconds_bucket", "up"} {
		if _, ok := names[n]; !ok {
			t.Errorf("%s not extracted; got %v", n, names)
		}
	}
}
