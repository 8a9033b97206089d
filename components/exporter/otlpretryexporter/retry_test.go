package otlpretryexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func unavailable() error { return status.Error(codes.Unavailable, "backend restarting") }

func throttled(d time.Duration) error {
	st, _ := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	return st.Err()
}

func TestGRPCSuccess(t *testing.T) {
	srv := startGRPCServer(t)
	e := newTestExporter(t, fastConfig(srv.addr), true)
	td := testTraces(50)
	require.NoError(t, e.pushTraces(context.Background(), td))
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_attempts"))
	assert.EqualValues(t, 0, e.counter(t, "otelcol_otlp_retry_retries"))
	assert.EqualValues(t, 50, e.counter(t, "otelcol_otlp_retry_sent_items", "signal", "traces"))
	assert.Equal(t, []string{"gzip"}, srv.encoding)
}

func TestGRPCRetryThenSuccess(t *testing.T) {
	srv := startGRPCServer(t, grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	e := newTestExporter(t, fastConfig(srv.addr), true)
	td := testTraces(10)
	require.NoError(t, e.pushTraces(context.Background(), td))
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.EqualValues(t, 3, e.counter(t, "otelcol_otlp_retry_attempts"))
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_retries"))
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_failures", "reason", "retryable"))
	// Exponential backoff with jitter (±50%): 10ms then 20ms.
	sl := e.Sleeps()
	require.Len(t, sl, 2)
	assert.InDelta(t, float64(10*time.Millisecond), float64(sl[0]), float64(5*time.Millisecond))
	assert.InDelta(t, float64(20*time.Millisecond), float64(sl[1]), float64(10*time.Millisecond))
	// Two consecutive failures reported RecoverableError, the success OK.
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, e.host.Events())
}

func TestGRPCThrottleHonoursRetryInfo(t *testing.T) {
	srv := startGRPCServer(t, grpcAnswer{err: throttled(7 * time.Second)})
	e := newTestExporter(t, fastConfig(srv.addr), true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(3)))
	assert.Equal(t, []time.Duration{7 * time.Second}, e.Sleeps())
	assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_failures", "reason", "throttled"))
	assert.Equal(t, 2, srv.Calls())
}

func TestGRPCPermanentNotRetried(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.InvalidArgument, "bad span"),
		status.Error(codes.ResourceExhausted, "quota, no RetryInfo"),
		status.Error(codes.Unauthenticated, "bad api key"),
	} {
		t.Run(status.Code(err).String(), func(t *testing.T) {
			srv := startGRPCServer(t, grpcAnswer{err: err})
			e := newTestExporter(t, fastConfig(srv.addr), true)
			got := e.pushTraces(context.Background(), testTraces(3))
			require.Error(t, got)
			assert.True(t, consumererror.IsPermanent(got))
			assert.Equal(t, 1, srv.Calls())
			assert.Empty(t, e.Sleeps())
			assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_failures", "reason", "permanent"))
			assert.EqualValues(t, 3, e.counter(t, "otelcol_otlp_retry_dropped_items"))
			if status.Code(err) == codes.Unauthenticated {
				assert.Equal(t, []componentstatus.Status{componentstatus.StatusPermanentError}, e.host.Events())
			}
		})
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	srv := startGRPCServer(t, grpcAnswer{block: true})
	cfg := fastConfig(srv.addr)
	cfg.TimeoutConfig.Timeout = 100 * time.Millisecond
	e := newTestExporter(t, cfg, true)
	td := testTraces(5)
	require.NoError(t, e.pushTraces(context.Background(), td))
	assert.Equal(t, 2, srv.Calls())
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_failures", "reason", "retryable"))
}

func TestRetryBudgetSpentWithoutDeadLetter(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()},
		grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.RetryConfig.InitialInterval = time.Second
	cfg.RetryConfig.RandomizationFactor = 0
	cfg.RetryConfig.MaxInterval = 4 * time.Second
	cfg.RetryConfig.MaxElapsedTime = 5 * time.Second
	e := newTestExporter(t, cfg, true)
	// The fake sleep does not advance the clock: drive it.
	clock := time.Now()
	e.now = func() time.Time { return clock }
	e.sleep = func(_ context.Context, d time.Duration, _ <-chan struct{}) bool { clock = clock.Add(d); return true }
	err := e.pushTraces(context.Background(), testTraces(2))
	require.Error(t, err)
	assert.ErrorContains(t, err, "retry budget")
	// 1s + 2s elapsed; the next 4s would pass 5s: three attempts in all.
	assert.Equal(t, 3, srv.Calls())
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "no_dead_letter"))
}
