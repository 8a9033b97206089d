package traceregistryprocessor

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

// Instrument names are the exact Prometheus names: with the collector's
// default exposition (no suffixes added) they show as written, and with
// suffixes enabled the translator finds _total and _seconds already there.
const (
	metricTraces     = "otlp_traces_total"
	metricActive     = "otlp_traces_active"
	metricCompleted  = "otlp_traces_completed_total"
	metricFailed     = "otlp_traces_failed_total"
	metricEvicted    = "otlp_traces_evicted_total"
	metricCapacity   = "otlp_traces_capacity"
	metricDuration   = "otlp_trace_duration_seconds"
	metricTraceSpans = "otlp_trace_spans"
	unitTraces       = "{trace}"
	unitSpans        = "{span}"
	unitSeconds      = "s"
	descTraces       = "Traces seen for the first time (a late span of a remembered completed trace does not count again)."
	descActive       = "Traces currently active: a span arrived within idle_timeout."
	descCompleted    = "Traces completed: no span arrived for idle_timeout."
	descFailed       = "Completed traces with at least one span of status Error."
	descEvicted      = "Active traces evicted because max_traces was reached."
	descCapacity     = "Most active traces the registry holds (max_traces)."
	descDuration     = "Duration of completed traces, from the earliest span start to the latest span end."
	descTraceSpans   = "Spans per completed trace."
)

var (
	durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	spansBuckets    = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
)

// telemetry holds the processor's instruments, created once.
type telemetry struct {
	traces    metric.Int64ObservableCounter
	active    metric.Int64ObservableGauge
	completed metric.Int64ObservableCounter
	failed    metric.Int64ObservableCounter
	evicted   metric.Int64ObservableCounter
	capacity  metric.Int64ObservableGauge
	duration  metric.Float64Histogram
	spans     metric.Int64Histogram
	meter     metric.Meter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	t := &telemetry{meter: m}
	var errs, err error
	t.traces, err = m.Int64ObservableCounter(metricTraces, metric.WithDescription(descTraces), metric.WithUnit(unitTraces))
	errs = errors.Join(errs, err)
	t.active, err = m.Int64ObservableGauge(metricActive, metric.WithDescription(descActive), metric.WithUnit(unitTraces))
	errs = errors.Join(errs, err)
	t.completed, err = m.Int64ObservableCounter(metricCompleted, metric.WithDescription(descCompleted), metric.WithUnit(unitTraces))
	errs = errors.Join(errs, err)
	t.failed, err = m.Int64ObservableCounter(metricFailed, metric.WithDescription(descFailed), metric.WithUnit(unitTraces))
	errs = errors.Join(errs, err)
	t.evicted, err = m.Int64ObservableCounter(metricEvicted, metric.WithDescription(descEvicted), metric.WithUnit(unitTraces))
	errs = errors.Join(errs, err)
	t.capacity, err = m.Int64ObservableGauge(metricCapacity, metric.WithDescription(descCapacity), metric.WithUnit(unitTraces))
	errs = errors.Join(errs, err)
	t.duration, err = m.Float64Histogram(metricDuration, metric.WithDescription(descDuration), metric.WithUnit(unitSeconds),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	errs = errors.Join(errs, err)
	t.spans, err = m.Int64Histogram(metricTraceSpans, metric.WithDescription(descTraceSpans), metric.WithUnit(unitSpans),
		metric.WithExplicitBucketBoundaries(spansBuckets...))
	errs = errors.Join(errs, err)
	return t, errs
}

// register observes the registry's counters at every collection; the
// returned registration is unregistered at shutdown.
func (t *telemetry) register(r *registry) (metric.Registration, error) {
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts, opts := r.snapshot(nil)
		for d, c := range counts {
			// Dimension 0 is always observed so that every series exists
			// (at 0) from the start.
			if d > 0 && c == (dimCounts{}) {
				continue
			}
			opt := opts[d]
			o.ObserveInt64(t.traces, c.created, opt)
			o.ObserveInt64(t.active, c.active, opt)
			o.ObserveInt64(t.completed, c.completed, opt)
			o.ObserveInt64(t.failed, c.failed, opt)
			o.ObserveInt64(t.evicted, c.evicted, opt)
		}
		// One series without the dimension label: alerts divide the sum
		// of the active series by it.
		o.ObserveInt64(t.capacity, int64(r.maxActive))
		return nil
	}, t.traces, t.active, t.completed, t.failed, t.evicted, t.capacity)
}

// record adds completed traces to the histograms.
func (t *telemetry) record(ctx context.Context, done []finished, opts []metric.MeasurementOption) {
	for _, f := range done {
		opt := opts[f.dim]
		t.duration.Record(ctx, f.duration, opt)
		t.spans.Record(ctx, int64(f.spans), opt)
	}
}
