package otlpretryexporter

import (
	"context"
	"os"
	"path/filepath"
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

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
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

// TestGRPCInvalidArgumentQuarantined: the backend refuses the data as
// invalid: not retried, written to the quarantine, never replayed; without
// a quarantine it is the one case that drops, counted as rejected.
func TestGRPCInvalidArgumentQuarantined(t *testing.T) {
	for _, mode := range []string{"explicit", "dead_letter_sibling", "none"} {
		t.Run(mode, func(t *testing.T) {
			srv := startGRPCServer(t, grpcAnswer{err: status.Error(codes.InvalidArgument, "bad span")})
			cfg := fastConfig(srv.addr)
			cfg.DeadLetter.ReplayInterval = 20 * time.Millisecond
			qdir := t.TempDir()
			withQuarantine := mode != "none"
			switch mode {
			case "explicit":
				cfg.DeadLetter.Directory = t.TempDir()
				cfg.Quarantine.Directory = qdir
			case "dead_letter_sibling":
				cfg.DeadLetter.Directory = filepath.Join(qdir, "deadletter")
				qdir = filepath.Join(qdir, "deadletter-quarantine")
			}
			e := newTestExporter(t, cfg, true)
			// One span: nothing to isolate (TestSplitSenderIsolates*).
			got := e.pushTraces(context.Background(), testTraces(1))
			assert.Equal(t, 1, srv.Calls())
			assert.Empty(t, e.Sleeps(), "not retried")
			assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_failures", "reason", "rejected"))
			files, _ := filepath.Glob(filepath.Join(qdir, "*.traces.pb"))
			if withQuarantine {
				require.NoError(t, got)
				require.Len(t, files, 1)
				note, err := os.ReadFile(files[0] + ".txt")
				require.NoError(t, err, "a note beside the quarantined file")
				assert.Contains(t, string(note), "items: 1\n")
				assert.Contains(t, string(note), "reason: rejected (gRPC InvalidArgument)")
				assert.Contains(t, string(note), "bad span")
				assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_quarantine_items"))
				assert.Positive(t, e.counter(t, "otelcol_otlp_retry_quarantine_stored"))
				assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
				// Replays and new traffic never send it again.
				require.NoError(t, e.pushTraces(context.Background(), testTraces(1)))
				time.Sleep(100 * time.Millisecond)
				assert.Equal(t, 2, srv.Calls())
				files, _ = filepath.Glob(filepath.Join(qdir, "*.traces.pb"))
				assert.Len(t, files, 1, "kept for inspection")
			} else {
				require.Error(t, got)
				assert.True(t, consumererror.IsPermanent(got))
				assert.Empty(t, files)
				assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "rejected"))
			}
		})
	}
}

// TestOtherPermanentRefusalKeepsData: a refusal that is neither auth nor
// invalid data (ResourceExhausted without RetryInfo, NotFound) is not the
// data's fault: without a dead letter the batch stays and is retried at
// max_interval until it goes through.
func TestOtherPermanentRefusalKeepsData(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.ResourceExhausted, "quota, no RetryInfo"),
		status.Error(codes.NotFound, "no such tenant"),
	} {
		t.Run(status.Code(err).String(), func(t *testing.T) {
			srv := startGRPCServer(t, grpcAnswer{err: err}, grpcAnswer{err: err})
			e := newTestExporter(t, fastConfig(srv.addr), true)
			td := testTraces(3)
			require.NoError(t, e.pushTraces(context.Background(), td))
			assert.Equal(t, 3, srv.Calls())
			assert.Equal(t, spanIDs(td), srv.Received())
			assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_failures", "reason", "permanent"))
			assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
			assert.Zero(t, e.counter(t, "otelcol_otlp_retry_held_items"), "no longer held")
		})
	}
}

// TestAuthFailureKeepsDataAndProbes: 401/Unauthenticated is the key's
// fault, not the data's. The batch goes to the dead letter, the circuit
// opens for replay_interval, the replay probes at that pace, a refused
// probe never deletes the file, and once the key works the data arrives.
// The component is degraded (RecoverableError), never PermanentError.
func TestAuthFailureKeepsDataAndProbes(t *testing.T) {
	const replayInterval = 100 * time.Millisecond
	srv := startGRPCServer(t)
	refused := make([]grpcAnswer, 4)
	for i := range refused {
		refused[i] = grpcAnswer{err: status.Error(codes.Unauthenticated, "bad api key")}
	}
	srv.setScript(refused...)
	dir := t.TempDir()
	cfg := fastConfig(srv.addr)
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.ReplayInterval = replayInterval
	e := newTestExporter(t, cfg, false)
	td := testTraces(3)
	start := time.Now()
	require.NoError(t, e.pushTraces(context.Background(), td), "kept on disk")
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.Len(t, files, 1)
	assert.Equal(t, circuitbreaker.Open, e.breaker.State(), "auth opens the circuit")
	// Three more refusals (probes), then the key works.
	require.Eventually(t, func() bool { return len(srv.Received()) == 3 }, 10*time.Second, 5*time.Millisecond)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 4*replayInterval-replayInterval/2, "probes at replay_interval, not faster")
	assert.Equal(t, 5, srv.Calls())
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.EqualValues(t, 4, e.counter(t, "otelcol_otlp_retry_failures", "reason", "auth"))
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pb"))
		return len(files) == 0
	}, 5*time.Second, 5*time.Millisecond)
	assert.NotContains(t, e.host.Events(), componentstatus.StatusPermanentError)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, e.host.Events())
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

// TestRetryBudgetSpentWithoutDeadLetterHolds: with the budget spent and no
// dead letter the batch is not dropped: it stays in the retry loop (and so
// in the sending queue), retried every max_interval, counted as held, until
// the backend takes it.
func TestRetryBudgetSpentWithoutDeadLetterHolds(t *testing.T) {
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
	var sleeps []time.Duration
	var held []int64
	e.now = func() time.Time { return clock }
	e.sleep = func(_ context.Context, d time.Duration, _ <-chan struct{}) bool {
		held = append(held, e.counter(t, "otelcol_otlp_retry_held_items"))
		sleeps = append(sleeps, d)
		clock = clock.Add(d)
		return true
	}
	td := testTraces(2)
	require.NoError(t, e.pushTraces(context.Background(), td))
	// 1s + 2s within the budget; then held, every max_interval (4s).
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}, sleeps)
	assert.Equal(t, []int64{0, 0, 2, 2, 2, 2}, held)
	assert.Equal(t, 7, srv.Calls())
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_held_items"))
}
