package otlpretryexporter

import (
	"context"
	"errors"
	"net/http"
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

func TestGRPCPartialSuccess(t *testing.T) {
	srv := startGRPCServer(t, grpcAnswer{rejected: 4})
	e := newTestExporter(t, fastConfig(srv.addr), true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(10)))
	assert.Equal(t, 1, srv.Calls(), "partial success is not resent")
	assert.EqualValues(t, 4, e.counter(t, "otelcol_otlp_retry_rejected_items"))
	assert.EqualValues(t, 6, e.counter(t, "otelcol_otlp_retry_sent_items"))
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

func TestHTTPStatusesAndRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name      string
		answers   []httpAnswer
		wantErr   bool
		wantCalls int
		wantSleep func(t *testing.T, sl []time.Duration)
		wantEvent []componentstatus.Status
	}{
		{name: "ok", answers: nil, wantCalls: 1},
		{name: "503 then ok", answers: []httpAnswer{{status: 503}}, wantCalls: 2},
		{name: "429 Retry-After seconds", answers: []httpAnswer{{status: 429, retryAfter: "3"}}, wantCalls: 2,
			wantSleep: func(t *testing.T, sl []time.Duration) { assert.Equal(t, []time.Duration{3 * time.Second}, sl) }},
		{name: "503 Retry-After date", answers: []httpAnswer{{status: 503, retryAfter: date}}, wantCalls: 2,
			wantSleep: func(t *testing.T, sl []time.Duration) {
				require.Len(t, sl, 1)
				assert.Greater(t, sl[0], 80*time.Second)
				assert.LessOrEqual(t, sl[0], 90*time.Second)
			}},
		{name: "502 504 then ok", answers: []httpAnswer{{status: 502}, {status: 504}}, wantCalls: 3},
		{name: "400 permanent", answers: []httpAnswer{{status: 400}}, wantErr: true, wantCalls: 1},
		{name: "413 permanent", answers: []httpAnswer{{status: 413}}, wantErr: true, wantCalls: 1},
		{name: "500 permanent", answers: []httpAnswer{{status: 500}}, wantErr: true, wantCalls: 1},
		{name: "401 permanent and reported", answers: []httpAnswer{{status: 401}}, wantErr: true, wantCalls: 1,
			wantEvent: []componentstatus.Status{componentstatus.StatusPermanentError}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHTTPServer(t, tt.answers...)
			cfg := fastConfig(srv.URL)
			cfg.Protocol = ProtocolHTTP
			cfg.RetryConfig.MaxElapsedTime = 5 * time.Minute
			e := newTestExporter(t, cfg, true)
			td := testTraces(4)
			err := e.pushTraces(context.Background(), td)
			if tt.wantErr {
				require.Error(t, err)
				assert.True(t, consumererror.IsPermanent(err))
			} else {
				require.NoError(t, err)
				assert.Equal(t, spanIDs(td), srv.Received())
			}
			assert.Equal(t, tt.wantCalls, srv.Calls())
			if tt.wantSleep != nil {
				tt.wantSleep(t, e.Sleeps())
			}
			if tt.wantEvent != nil {
				assert.Equal(t, tt.wantEvent, e.host.Events())
			}
		})
	}
}

func TestHTTPPartialSuccess(t *testing.T) {
	srv := startHTTPServer(t, httpAnswer{rejected: 2})
	cfg := fastConfig(srv.URL)
	cfg.Protocol = ProtocolHTTP
	e := newTestExporter(t, cfg, true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(5)))
	assert.Equal(t, 1, srv.Calls())
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_rejected_items"))
}

func TestHeadersSent(t *testing.T) {
	gsrv := startGRPCServer(t)
	cfg := fastConfig(gsrv.addr)
	cfg.ClientConfig.Headers.Set("api-key", "s3cret")
	e := newTestExporter(t, cfg, true)
	require.NoError(t, e.pushTraces(context.Background(), testTraces(1)))
	assert.Equal(t, []string{"s3cret"}, gsrv.headers[0].Get("api-key"))

	hsrv := startHTTPServer(t)
	hcfg := fastConfig(hsrv.URL)
	hcfg.Protocol = ProtocolHTTP
	hcfg.ClientConfig.Headers.Set("api-key", "s3cret")
	he := newTestExporter(t, hcfg, true)
	require.NoError(t, he.pushTraces(context.Background(), testTraces(1)))
	assert.Equal(t, "s3cret", hsrv.headers[0].Get("Api-Key"))
}

func TestCompressionEachKindRoundTrips(t *testing.T) {
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		for _, comp := range []string{"gzip", "zstd", "none"} {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				var endpoint string
				var received func() map[string]int
				var encodings func() []string
				if proto == ProtocolGRPC {
					s := startGRPCServer(t)
					endpoint, received = s.addr, s.Received
					encodings = func() []string { s.mu.Lock(); defer s.mu.Unlock(); return s.encoding }
				} else {
					s := startHTTPServer(t)
					endpoint, received = s.URL, s.Received
					encodings = func() []string { s.mu.Lock(); defer s.mu.Unlock(); return s.encoding }
				}
				cfg := fastConfig(endpoint)
				cfg.Protocol = proto
				cfg.ClientConfig.Compression = compressionType(comp)
				e := newTestExporter(t, cfg, true)
				td := testTraces(200)
				require.NoError(t, e.pushTraces(context.Background(), td))
				assert.Equal(t, spanIDs(td), received())
				want := comp
				if comp == "none" {
					want = ""
					if proto == ProtocolGRPC {
						want = "identity"
					}
				}
				enc := encodings()
				require.NotEmpty(t, enc)
				if !(proto == ProtocolGRPC && comp == "none" && enc[0] == "") {
					assert.Equal(t, want, enc[0])
				}
				in := e.counter(t, "otelcol_otlp_retry_uncompressed")
				out := e.counter(t, "otelcol_otlp_retry_compressed")
				assert.Positive(t, in)
				if comp == "none" {
					assert.Equal(t, in, out)
				} else {
					assert.Less(t, out, in/2, "compressed bytes")
				}
			})
		}
	}
}

func TestGzipLevelHonouredOverGRPC(t *testing.T) {
	sizes := map[int]int64{}
	for _, level := range []int{1, 9} {
		srv := startGRPCServer(t)
		cfg := fastConfig(srv.addr)
		cfg.CompressionLevel = level
		e := newTestExporter(t, cfg, true)
		require.NoError(t, e.pushTraces(context.Background(), testTraces(2000)))
		sizes[level] = e.counter(t, "otelcol_otlp_retry_compressed")
		srv.mu.Lock()
		wire := srv.wire
		srv.mu.Unlock()
		// What the server saw on the wire is what the exporter counted.
		assert.Equal(t, sizes[level], wire)
	}
	assert.Less(t, sizes[9], sizes[1], "level 9 must compress smaller than level 1")
}

func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.CircuitBreaker.FailureThreshold = 3
	cfg.CircuitBreaker.OpenDuration = 150 * time.Millisecond
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = time.Millisecond
	var states []circuitbreaker.State
	e := newTestExporter(t, cfg, false)
	// Observe transitions by polling the gauge after the push.
	require.NoError(t, e.pushTraces(context.Background(), testTraces(3)))
	// Three failures opened the circuit; the push waited for the probe,
	// which succeeded and closed it.
	assert.Equal(t, 4, srv.Calls())
	states = append(states, e.breaker.State())
	assert.Equal(t, []circuitbreaker.State{circuitbreaker.Closed}, states)
	assert.EqualValues(t, 0, e.counter(t, "otelcol_otlp_retry_circuit_state"))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, e.host.Events())
}

func TestCircuitOpenKeepsDataAndReportsState(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.CircuitBreaker.FailureThreshold = 2
	cfg.CircuitBreaker.OpenDuration = time.Hour
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = time.Millisecond
	e := newTestExporter(t, cfg, false)
	done := make(chan error, 1)
	go func() { done <- e.pushTraces(context.Background(), testTraces(3)) }()
	require.Eventually(t, func() bool { return e.breaker.State() == circuitbreaker.Open }, 5*time.Second, 5*time.Millisecond)
	assert.EqualValues(t, 2, e.counter(t, "otelcol_otlp_retry_circuit_state"))
	select {
	case err := <-done:
		t.Fatalf("push returned while the circuit is open: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	assert.Equal(t, 2, srv.Calls(), "no attempt while open")
	// Shutdown stops the wait; without a dead letter the batch is dropped, counted.
	e.beginShutdown()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("push did not return after shutdown began")
	}
	assert.EqualValues(t, 3, e.counter(t, "otelcol_otlp_retry_dropped_items"))
}

func TestDeadLetterAndReplay(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	srv.setScript(grpcAnswer{err: unavailable()}, grpcAnswer{err: unavailable()})
	cfg := fastConfig(srv.addr)
	cfg.RetryConfig.Enabled = false // give up after one attempt
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.ReplayInterval = time.Hour
	e := newTestExporter(t, cfg, true)

	first, second := testTraces(5), testTraces(7)
	require.NoError(t, e.pushTraces(context.Background(), first))
	require.NoError(t, e.pushTraces(context.Background(), second))
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.Len(t, files, 2)
	assert.EqualValues(t, 12, e.counter(t, "otelcol_otlp_retry_dead_letter_items"))
	assert.Positive(t, e.counter(t, "otelcol_otlp_retry_dead_letter"))
	assert.Empty(t, srv.Received())

	// The backend recovers: the next successful export triggers the replay.
	third := testTraces(1)
	require.NoError(t, e.pushTraces(context.Background(), third))
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pb"))
		return len(files) == 0
	}, 10*time.Second, 10*time.Millisecond)
	want := spanIDs(first)
	for k, v := range spanIDs(second) {
		want[k] += v
	}
	for k, v := range spanIDs(third) {
		want[k] += v
	}
	assert.Equal(t, want, srv.Received())
	assert.EqualValues(t, 12, e.counter(t, "otelcol_otlp_retry_replayed_items"))
}

func TestDeadLetterReplayOnStart(t *testing.T) {
	dir := t.TempDir()
	down := startGRPCServer(t, grpcAnswer{err: unavailable()})
	cfg := fastConfig(down.addr)
	cfg.RetryConfig.Enabled = false
	cfg.DeadLetter.Directory = dir
	e := newTestExporter(t, cfg, true)
	td := testTraces(9)
	require.NoError(t, e.pushTraces(context.Background(), td))
	require.NoError(t, e.shutdown(context.Background()))

	up := startGRPCServer(t)
	cfg2 := fastConfig(up.addr)
	cfg2.DeadLetter.Directory = dir
	newTestExporter(t, cfg2, true)
	require.Eventually(t, func() bool { return len(up.Received()) == 9 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, spanIDs(td), up.Received())
}

func TestReplayLibraryFunction(t *testing.T) {
	dir := t.TempDir()
	down := startGRPCServer(t, grpcAnswer{err: unavailable()})
	cfg := fastConfig(down.addr)
	cfg.RetryConfig.Enabled = false
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.ReplayOnStart = false
	e := newTestExporter(t, cfg, true)
	td := testTraces(4)
	require.NoError(t, e.pushTraces(context.Background(), td))

	up := startHTTPServer(t)
	rcfg := fastConfig(up.URL)
	rcfg.Protocol = ProtocolHTTP
	st, err := Replay(context.Background(), dir, rcfg, e.set)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Files)
	assert.Equal(t, 4, st.Items)
	assert.Equal(t, spanIDs(td), up.Received())
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

func TestDeadLetterDirectoryNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere: use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		checkStartFails(t, filepath.Join(f, "dl"))
		return
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o500))
	checkStartFails(t, filepath.Join(dir, "dl"))
}

func checkStartFails(t *testing.T, dir string) {
	t.Helper()
	cfg := fastConfig("127.0.0.1:1")
	cfg.DeadLetter.Directory = dir
	e, err := newExporter(cfg, newTestSettings(), "traces")
	require.NoError(t, err)
	err = e.start(context.Background(), &statusHost{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "dead_letter::directory")
	require.NoError(t, e.shutdown(context.Background()))
}

func TestClassify(t *testing.T) {
	assert.Equal(t, reasonRetryable, classify(errors.New("connection refused")).reason)
	assert.Equal(t, reasonRetryable, classify(context.DeadlineExceeded).reason)
	assert.Equal(t, reasonPermanent, classify(status.Error(codes.NotFound, "")).reason)
	assert.True(t, classify(status.Error(codes.PermissionDenied, "")).auth)
	assert.Equal(t, reasonThrottled, classify(throttled(time.Second)).reason)
	assert.Equal(t, reasonRetryable, classify(&httpStatusError{code: 503}).reason)
	assert.True(t, classify(&httpStatusError{code: 403}).auth)
	assert.Equal(t, reasonPermanent, classify(&httpStatusError{code: 404}).reason)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	assert.Equal(t, 5*time.Second, parseRetryAfter("5", now))
	assert.Equal(t, 30*time.Second, parseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), parseRetryAfter(now.Add(-time.Minute).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), parseRetryAfter("soon", now))
	assert.Equal(t, time.Duration(0), parseRetryAfter("-3", now))
}
