package deploy

import (
	"slices"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
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

// The decoders really are strict: an unknown field fails.
func TestStrictDecodersRejectUnknownFields(t *testing.T) {
	dep := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":1,"circuitBreaker":{}}}`)
	if _, _, err := k8sDecoder.Decode(dep, nil, nil); err == nil {
		t.Error("k8s decoder accepted an unknown field")
	}
	if err := protoStrict([]byte(`{"host":"x","trafficPolicy":{"circuitBreaker":{}}}`), &networking.DestinationRule{}); err == nil {
		t.Error("Istio decoder accepted DestinationRule.trafficPolicy.circuitBreaker")
	}
}
