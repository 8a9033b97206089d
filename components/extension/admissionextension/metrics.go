package admissionextension

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/budget"
)

const scope = "github.com/otlpcol/otlpcol/components/extension/admissionextension"

// Transports, as the refused counter's transport attribute names them.
var (
	transportGRPC = metric.WithAttributeSet(attribute.NewSet(attribute.String("transport", "grpc")))
	transportHTTP = metric.WithAttributeSet(attribute.NewSet(attribute.String("transport", "http")))
)

// telemetry is the extension's instruments, built once.
type telemetry struct {
	refused      metric.Int64Counter
	stalled      metric.Int64Counter
	registration metric.Registration
}

func newTelemetry(mp metric.MeterProvider, b *budget.Budget) (*telemetry, error) {
	m := mp.Meter(scope)
	refused, err1 := m.Int64Counter("otelcol_admission_refused_requests",
		metric.WithDescription("Requests refused (retryable) because their bytes did not fit the in-flight budget, by transport."),
		metric.WithUnit("{requests}"))
	stalled, err2 := m.Int64Counter("otelcol_admission_stalled_streams",
		metric.WithDescription("gRPC streams cancelled because their message had not arrived within stream_read_timeout."),
		metric.WithUnit("{streams}"))
	inFlight, err3 := m.Int64ObservableGauge("otelcol_admission_in_flight_bytes",
		metric.WithDescription("Request bytes (decompressed, or reserved for a gRPC message not yet read) held now."),
		metric.WithUnit("By"))
	limit, err4 := m.Int64ObservableGauge("otelcol_admission_limit_bytes",
		metric.WithDescription("The in-flight budget (max_in_flight_bytes)."),
		metric.WithUnit("By"))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(inFlight, b.InFlight())
		o.ObserveInt64(limit, b.Limit())
		return nil
	}, inFlight, limit)
	if err != nil {
		return nil, err
	}
	return &telemetry{refused: refused, stalled: stalled, registration: reg}, nil
}

func (t *telemetry) shutdown() error { return t.registration.Unregister() }
