package sendwatch

import (
	"io"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/otlpcol/otlpcol/components/pkg/promtext"
)

// Sample is one exporter's exporterhelper counters at one scrape, summed
// over signals.
type Sample struct {
	// Sent is otelcol_exporter_sent_{spans,metric_points,log_records}.
	Sent float64
	// Failed is otelcol_exporter_send_failed_* plus enqueue_failed_*.
	Failed float64
	// Queued is otelcol_exporter_queue_size.
	Queued float64
}

const (
	prefix      = "otelcol_exporter_"
	exporterKey = "exporter"
)

// Parse reads the Prometheus text exposition of the collector's own
// telemetry (with the Prometheus project's parser, through promtext) and
// returns the exporterhelper series by exporter (the "exporter" label, the
// component ID). Names are accepted with or without the _total suffix, so
// both of the collector's exposition settings work.
func Parse(r io.Reader) (map[string]Sample, error) {
	samples, err := promtext.Samples(r)
	if err != nil {
		return nil, err
	}
	out := map[string]Sample{}
	for _, smp := range samples {
		name := string(smp.Metric[model.MetricNameLabel])
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		field := classify(strings.TrimSuffix(name[len(prefix):], "_total"))
		if field == nil {
			continue
		}
		id, ok := smp.Metric[exporterKey]
		if !ok {
			continue
		}
		s := out[string(id)]
		*field(&s) += float64(smp.Value)
		out[string(id)] = s
	}
	return out, nil
}

// classify returns the Sample field a series adds to, nil when unneeded.
func classify(base string) func(*Sample) *float64 {
	switch {
	case base == "queue_size":
		return func(s *Sample) *float64 { return &s.Queued }
	case base == "sent_spans", base == "sent_metric_points", base == "sent_log_records":
		return func(s *Sample) *float64 { return &s.Sent }
	case strings.HasPrefix(base, "send_failed_"), strings.HasPrefix(base, "enqueue_failed_"):
		return func(s *Sample) *float64 { return &s.Failed }
	}
	return nil
}
