package admissionextension

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/budget"
)

// admission is the extension: one budget shared by every receiver that
// names it, whichever transport.
type admission struct {
	cfg     *Config
	logger  *zap.Logger
	budget  *budget.Budget
	tel     *telemetry
	refusal error // the retryable answer to what does not fit, built once

	shutdownOnce sync.Once
}

var (
	_ extension.Extension            = (*admission)(nil)
	_ extensionmiddleware.GRPCServer = (*admission)(nil)
	_ extensionmiddleware.HTTPServer = (*admission)(nil)
)

func newAdmission(cfg *Config, set component.TelemetrySettings) (*admission, error) {
	b := budget.New(cfg.MaxInFlightBytes)
	tel, err := newTelemetry(set.MeterProvider, b)
	if err != nil {
		return nil, err
	}
	// Unavailable, not ResourceExhausted: every OTLP client retries it,
	// with or without RetryInfo; the receiver maps it to HTTP 503 and
	// turns the RetryInfo into Retry-After.
	st, err := status.New(codes.Unavailable, "admission: request bytes in flight at the limit, retry later").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(cfg.RetryAfter)})
	if err != nil {
		return nil, err
	}
	return &admission{cfg: cfg, logger: set.Logger, budget: b, tel: tel, refusal: st.Err()}, nil
}

func (a *admission) Start(context.Context, component.Host) error {
	a.logger.Info("admission control on",
		zap.Int64("max_in_flight_bytes", a.cfg.MaxInFlightBytes),
		zap.Int64("stream_reservation_bytes", a.cfg.StreamReservationBytes),
		zap.Duration("stream_read_timeout", a.cfg.StreamReadTimeout))
	return nil
}

func (a *admission) Shutdown(context.Context) error {
	var err error
	a.shutdownOnce.Do(func() { err = a.tel.shutdown() })
	return err
}
