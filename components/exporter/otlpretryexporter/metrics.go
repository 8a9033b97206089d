package otlpretryexporter

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
)

const (
	scopeName    = "github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter"
	metricPrefix = "otelcol_otlp_retry_"
)

// telemetry holds the exporter's instruments, created once per exporter
// instance from TelemetrySettings.MeterProvider. Every series carries the
// `signal` attribute (traces, metrics, logs).
type telemetry struct {
	attempts         metric.Int64Counter
	retries          metric.Int64Counter
	failures         metric.Int64Counter
	sentItems        metric.Int64Counter
	rejectedItems    metric.Int64Counter
	uncompressed     metric.Int64Counter
	compressed       metric.Int64Counter
	deadLetterItems  metric.Int64Counter
	deadLetterBytes  metric.Int64Counter
	replayedItems    metric.Int64Counter
	droppedItems     metric.Int64Counter
	refusedItems     metric.Int64Counter
	quarantineItems  metric.Int64Counter
	corruptFiles     metric.Int64Counter
	heldItems        metric.Int64UpDownCounter
	circuitState     metric.Int64ObservableGauge
	deadLetterStored metric.Int64ObservableGauge
	quarantineStored metric.Int64ObservableGauge
	diskFull         metric.Int64ObservableGauge
	registration     metric.Registration
	signal           metric.MeasurementOption
	byReason         map[string]metric.MeasurementOption
	dropReason       map[string]metric.MeasurementOption
	refuseReason     map[string]metric.MeasurementOption
	meter            metric.Meter
	wal              *walTelemetry
}

// gauges are read by the observable instruments at each collection.
type gauges struct {
	circuit         func() circuitbreaker.State
	deadLetterBytes func() int64 // -1: no dead letter
	quarantineBytes func() int64 // -1: no quarantine
	diskFull        func() bool
}

// Reasons of otelcol_otlp_retry_dropped_items: the only ways data is lost.
const (
	// dropRejected: the backend refused the data as invalid and the
	// quarantine is absent or full (the single documented exception).
	dropRejected = "rejected"
	// dropShutdown: the process stopped with a batch it could neither
	// deliver nor write anywhere, and the sending queue is in memory.
	dropShutdown = "shutdown"
)

func newTelemetry(set component.TelemetrySettings, signal string, g gauges) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{
		signal:   metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal))),
		byReason: map[string]metric.MeasurementOption{},
		meter:    m,
	}
	withReason := func(r string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal), attribute.String("reason", r)))
	}
	for _, r := range []string{reasonRetryable, reasonThrottled, reasonAuth, reasonRejected, reasonTooLarge, reasonPermanent} {
		t.byReason[r] = withReason(r)
	}
	t.dropReason = map[string]metric.MeasurementOption{}
	for _, r := range []string{dropRejected, dropShutdown} {
		t.dropReason[r] = withReason(r)
	}
	t.refuseReason = map[string]metric.MeasurementOption{}
	for _, r := range []string{refuseNoDeadLetter, refuseDeadLetterFull, refuseDeadLetterError, refuseDiskFull, refuseQueueError, refuseWALFull, refuseWALTooLarge, refuseWALError} {
		t.refuseReason[r] = withReason(r)
	}
	in := &instruments{meter: m}
	t.attempts = in.counter("attempts", "Export attempts made (first tries and retries).", "{attempts}")
	t.retries = in.counter("retries", "Export attempts that were retries of a failed attempt.", "{attempts}")
	t.failures = in.counter("failures", "Failed export attempts by reason (retryable, throttled, auth, rejected, permanent).", "{attempts}")
	t.sentItems = in.counter("sent_items", "Items (spans, data points, log records) the backend accepted.", "{items}")
	t.rejectedItems = in.counter("rejected_items", "Items the backend rejected in an OTLP partial success; not resent.", "{items}")
	t.uncompressed = in.counter("uncompressed", "Bytes of OTLP protobuf before compression, per attempt.", "By")
	t.compressed = in.counter("compressed", "Bytes sent after compression, per attempt.", "By")
	t.deadLetterItems = in.counter("dead_letter_items", "Items written to the dead-letter directory.", "{items}")
	t.deadLetterBytes = in.counter("dead_letter", "Bytes written to the dead-letter directory.", "By")
	t.replayedItems = in.counter("replayed_items", "Items replayed from the dead-letter directory and accepted.", "{items}")
	t.droppedItems = in.counter("dropped_items", "Items lost, by reason: rejected (the backend refused them as invalid and the quarantine is absent or full) or shutdown (the process stopped with a batch it could write nowhere, in-memory queue).", "{items}")
	t.refusedItems = in.counter("refused_items", "Items refused to the caller with a retryable error (back-pressure), by reason: no_dead_letter, dead_letter_full, dead_letter_error, disk_full (sending queue full and nowhere to spool), queue_error (the sending queue could not store them), wal_full, wal_error, wal_too_large (the write-ahead log is full, failing, or the request exceeds persistent_queue::max_bytes). Not lost: the client retries.", "{items}")
	t.quarantineItems = in.counter("quarantine_items", "Items the backend refused as invalid, written to the quarantine directory (kept for inspection, never replayed).", "{items}")
	t.corruptFiles = in.counter("dead_letter_corrupt_files", "Dead-letter files that could not be decoded, moved aside into corrupt/ (kept, not replayed).", "{files}")
	t.heldItems = in.upDownCounter("held_items", "Items past their retry budget with no room on disk, kept in the retry loop (the sending queue fills and pushes back).", "{items}")
	t.circuitState = in.gauge("circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", "{state}")
	t.deadLetterStored = in.gauge("dead_letter_stored", "Bytes in the dead-letter directory now (corrupt/ not counted).", "By")
	t.quarantineStored = in.gauge("quarantine_stored", "Bytes in the quarantine directory now.", "By")
	t.diskFull = in.gauge("disk_full", "1 while the last write to the write-ahead log, or the last to the dead letter or quarantine, failed for lack of space (ENOSPC, EDQUOT), else 0.", "{state}")
	t.wal = newWALTelemetry(in)
	if in.err != nil {
		return nil, in.err
	}
	obsOpt := metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal)))
	var err error
	t.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(t.circuitState, int64(g.circuit()), obsOpt)
		if n := g.deadLetterBytes(); n >= 0 {
			o.ObserveInt64(t.deadLetterStored, n, obsOpt)
		}
		if n := g.quarantineBytes(); n >= 0 {
			o.ObserveInt64(t.quarantineStored, n, obsOpt)
		}
		full := int64(0)
		if g.diskFull() {
			full = 1
		}
		o.ObserveInt64(t.diskFull, full, obsOpt)
		return nil
	}, t.circuitState, t.deadLetterStored, t.quarantineStored, t.diskFull)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// instruments creates the exporter's instruments, each named
// otelcol_otlp_retry_<name>, and joins their creation errors for one check
// once all exist.
type instruments struct {
	meter metric.Meter
	err   error
}

func (in *instruments) counter(name, desc, unit string) metric.Int64Counter {
	c, err := in.meter.Int64Counter(metricPrefix+name, metric.WithDescription(desc), metric.WithUnit(unit))
	in.err = errors.Join(in.err, err)
	return c
}

func (in *instruments) upDownCounter(name, desc, unit string) metric.Int64UpDownCounter {
	c, err := in.meter.Int64UpDownCounter(metricPrefix+name, metric.WithDescription(desc), metric.WithUnit(unit))
	in.err = errors.Join(in.err, err)
	return c
}

// gauge and observableCounter are observed by a registered callback.
func (in *instruments) gauge(name, desc, unit string) metric.Int64ObservableGauge {
	g, err := in.meter.Int64ObservableGauge(metricPrefix+name, metric.WithDescription(desc), metric.WithUnit(unit))
	in.err = errors.Join(in.err, err)
	return g
}

func (in *instruments) observableCounter(name, desc, unit string) metric.Int64ObservableCounter {
	c, err := in.meter.Int64ObservableCounter(metricPrefix+name, metric.WithDescription(desc), metric.WithUnit(unit))
	in.err = errors.Join(in.err, err)
	return c
}

func (in *instruments) histogram(name, desc, unit string, bounds ...float64) metric.Float64Histogram {
	h, err := in.meter.Float64Histogram(metricPrefix+name, metric.WithDescription(desc), metric.WithUnit(unit),
		metric.WithExplicitBucketBoundaries(bounds...))
	in.err = errors.Join(in.err, err)
	return h
}

func (t *telemetry) bytes(ctx context.Context, in, out int64) {
	t.uncompressed.Add(ctx, in, t.signal)
	t.compressed.Add(ctx, out, t.signal)
}

func (t *telemetry) shutdown() {
	if t != nil && t.registration != nil {
		_ = t.registration.Unregister()
		t.registration = nil
	}
}
