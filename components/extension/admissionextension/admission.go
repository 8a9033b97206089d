package admissionextension

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
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

	// What is still arriving, for the cut-off at shutdown (see cutOff):
	// HTTP requests whose body is being read and admitted gRPC streams.
	mu       sync.Mutex
	requests map[*meteredBody]struct{}
	streams  map[*stream]struct{}
	cut      bool        // the cut-off happened: new requests are refused
	cutTimer *time.Timer // set once the drain is over
	drains   int         // drain hooks registered at Start, not yet run

	shutdownOnce sync.Once
}

var (
	_ extension.Extension                   = (*admission)(nil)
	_ extensionmiddleware.GRPCServer        = (*admission)(nil)
	_ extensionmiddleware.HTTPServer        = (*admission)(nil)
	_ extensioncapabilities.PipelineWatcher = (*admission)(nil)
)

// drainNotifier is an extension that says when shutdown's drain is over
// (the health extension: after its drain_delay, just before the receivers
// stop).
type drainNotifier interface {
	OnDrained(func())
}

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
	return &admission{
		cfg: cfg, logger: set.Logger, budget: b, tel: tel, refusal: st.Err(),
		requests: map[*meteredBody]struct{}{}, streams: map[*stream]struct{}{},
	}, nil
}

func (a *admission) Start(_ context.Context, host component.Host) error {
	// The cut-off waits for every drain there is (the health extension's
	// drain_delay); without one it starts when shutdown does (NotReady).
	var drains []drainNotifier
	for _, ext := range host.GetExtensions() {
		if d, ok := ext.(drainNotifier); ok {
			drains = append(drains, d)
		}
	}
	a.mu.Lock()
	a.drains = len(drains)
	a.mu.Unlock()
	for _, d := range drains {
		d.OnDrained(a.drained)
	}
	a.logger.Info("admission control on",
		zap.Int64("max_in_flight_bytes", a.cfg.MaxInFlightBytes),
		zap.Int64("stream_reservation_bytes", a.cfg.StreamReservationBytes),
		zap.Duration("stream_read_timeout", a.cfg.StreamReadTimeout),
		zap.Duration("shutdown_grace", a.cfg.ShutdownGrace),
		zap.Bool("after_drain", len(drains) > 0))
	return nil
}

// Ready is part of PipelineWatcher; nothing to do.
func (a *admission) Ready() error { return nil }

// NotReady is called when shutdown begins. With no drain to wait for, the
// receivers stop right after it, so the grace starts now.
func (a *admission) NotReady() error {
	a.mu.Lock()
	none := a.drains == 0
	a.mu.Unlock()
	if none {
		a.startGrace()
	}
	return nil
}

// drained is a drain hook: the grace starts once the last drain is over.
func (a *admission) drained() {
	a.mu.Lock()
	a.drains--
	last := a.drains == 0
	a.mu.Unlock()
	if last {
		a.startGrace()
	}
}

func (a *admission) startGrace() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cutTimer == nil {
		a.cutTimer = time.AfterFunc(a.cfg.ShutdownGrace, a.cutOff)
	}
}

// cutOff ends what is still arriving once the drain and the grace are
// over, so that a slow client cannot hold the shutdown up until its read
// timeout (the receivers' servers wait for every open request: HTTP
// Shutdown and gRPC GracefulStop, with no deadline from the collector).
// Nothing it ends was acknowledged: HTTP clients get a retryable 503,
// gRPC clients Canceled; both retry, elsewhere. Requests already read are
// left to finish: their data is on its way into the write-ahead log.
func (a *admission) cutOff() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cut = true
	var nHTTP, nGRPC int
	for b := range a.requests {
		if b.cutOff() {
			nHTTP++
		}
	}
	for s := range a.streams {
		if s.cutOff() {
			nGRPC++
		}
	}
	a.logger.Info("shutdown: requests still arriving after the drain are cut off",
		zap.Duration("shutdown_grace", a.cfg.ShutdownGrace),
		zap.Int("http_requests", nHTTP), zap.Int("grpc_streams", nGRPC))
}

func (a *admission) Shutdown(context.Context) error {
	var err error
	a.shutdownOnce.Do(func() {
		a.mu.Lock()
		if a.cutTimer != nil {
			a.cutTimer.Stop()
		}
		a.mu.Unlock()
		err = a.tel.shutdown()
	})
	return err
}
