package admissionextension

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/budget"
	"github.com/otlpcol/otlpcol/components/pkg/observe"
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
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	reg, err := observe.Register(m,
		observe.Int64{
			Name:        "otelcol_admission_in_flight_bytes",
			Description: "Request bytes (decompressed, or reserved for a gRPC message not yet read) held now.",
			Unit:        "By",
			Read:        observe.Value(b.InFlight),
		},
		observe.Int64{
			Name:        "otelcol_admission_limit_bytes",
			Description: "The in-flight budget (max_in_flight_bytes).",
			Unit:        "By",
			Read:        observe.Value(b.Limit),
		})
	if err != nil {
		return nil, err
	}
	return &telemetry{refused: refused, stalled: stalled, registration: reg}, nil
}

func (t *telemetry) shutdown() error { return t.registration.Unregister() }
