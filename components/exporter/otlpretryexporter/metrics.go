package otlpretryexporter

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
)

const scopeName = "github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter"

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
	circuitState     metric.Int64ObservableGauge
	registration     metric.Registration
	signal           metric.MeasurementOption
	byReason         map[string]metric.MeasurementOption
	dropNoDeadLetter metric.MeasurementOption
	dropEvicted      metric.MeasurementOption
	refuseReason     map[string]metric.MeasurementOption
	meter            metric.Meter
	wal              *walTelemetry
}

func newTelemetry(set component.TelemetrySettings, signal string, state func() circuitbreaker.State) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{
		signal:   metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal))),
		byReason: map[string]metric.MeasurementOption{},
		meter:    m,
	}
	for _, r := range []string{reasonRetryable, reasonThrottled, reasonPermanent} {
		t.byReason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal), attribute.String("reason", r)))
	}
	t.dropNoDeadLetter = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal), attribute.String("reason", "no_dead_letter")))
	t.dropEvicted = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal), attribute.String("reason", "dead_letter_full")))
	t.refuseReason = map[string]metric.MeasurementOption{}
	for _, r := range []string{refuseNoDeadLetter, refuseDeadLetterFull, refuseDeadLetterError, refuseWALFull, refuseWALTooLarge, refuseWALError} {
		t.refuseReason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal), attribute.String("reason", r)))
	}
	var errs, err error
	counter := func(name, desc, unit string) metric.Int64Counter {
		c, e := m.Int64Counter("otelcol_otlp_retry_"+name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = errors.Join(errs, e)
		return c
	}
	t.attempts = counter("attempts", "Export attempts made (first tries and retries).", "{attempts}")
	t.retries = counter("retries", "Export attempts that were retries of a failed attempt.", "{attempts}")
	t.failures = counter("failures", "Failed export attempts by reason (retryable, throttled, permanent).", "{attempts}")
	t.sentItems = counter("sent_items", "Items (spans, data points, log records) the backend accepted.", "{items}")
	t.rejectedItems = counter("rejected_items", "Items the backend rejected in an OTLP partial success; not resent.", "{items}")
	t.uncompressed = counter("uncompressed", "Bytes of OTLP protobuf before compression, per attempt.", "By")
	t.compressed = counter("compressed", "Bytes sent after compression, per attempt.", "By")
	t.deadLetterItems = counter("dead_letter_items", "Items written to the dead-letter directory.", "{items}")
	t.deadLetterBytes = counter("dead_letter", "Bytes written to the dead-letter directory.", "By")
	t.replayedItems = counter("replayed_items", "Items replayed from the dead-letter directory and accepted.", "{items}")
	t.droppedItems = counter("dropped_items", "Items given up on and lost (no dead letter configured, or evicted from a full one).", "{items}")
	t.refusedItems = counter("refused_items", "Items refused to the caller with a retryable error (back-pressure): sending queue full and the dead letter full, absent or failing, or the write-ahead log full (wal_full) or failing (wal_error). Not lost: the client retries.", "{items}")
	t.circuitState, err = m.Int64ObservableGauge("otelcol_otlp_retry_circuit_state",
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."), metric.WithUnit("{state}"))
	errs = errors.Join(errs, err)
	t.wal, err = newWALTelemetry(m)
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	obsOpt := metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal)))
	t.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(t.circuitState, int64(state()), obsOpt)
		return nil
	}, t.circuitState)
	if err != nil {
		return nil, err
	}
	return t, nil
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
