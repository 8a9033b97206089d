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
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
)

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

// TestDeadLetterReplayedAfterOutageWithoutNewData: an outage opens the
// circuit and batches go to the dead letter; the backend returns and no new
// data is sent. The replay loop itself makes the half-open probe once
// open_duration has elapsed, replays oldest first, empties the directory
// and the circuit closes. (Before the fix the replay skipped while the
// breaker was open, and only a new push could move it out of open.)
func TestDeadLetterReplayedAfterOutageWithoutNewData(t *testing.T) {
	const (
		openDuration   = 300 * time.Millisecond
		replayInterval = 200 * time.Millisecond
	)
	dir := t.TempDir()
	srv := startGRPCServer(t)
	srv.setDown(true)
	cfg := fastConfig(srv.addr)
	cfg.RetryConfig.Enabled = false // one attempt, then the dead letter
	cfg.CircuitBreaker.MinAttempts = 2
	cfg.CircuitBreaker.OpenDuration = openDuration
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.ReplayInterval = replayInterval
	e := newTestExporter(t, cfg, false)

	batches := []ptrace.Traces{tracesWithPrefix(0xa1, 4), tracesWithPrefix(0xa2, 5), tracesWithPrefix(0xa3, 6)}
	for _, td := range batches {
		require.NoError(t, e.pushTraces(context.Background(), td), "spooled, not lost")
	}
	assert.NotEqual(t, circuitbreaker.Closed, e.breaker.State(), "the outage opened the circuit")
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.Len(t, files, 3)
	assert.EqualValues(t, 15, e.counter(t, "otelcol_otlp_retry_dead_letter_items"))
	assert.Empty(t, srv.Batches())

	// The backend returns; nothing new is pushed from here on.
	srv.setDown(false)
	back := time.Now()
	// Bound: one open_duration (the next probe) plus one replay_interval,
	// plus slack for a loaded machine; the replay itself is three RPCs.
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pb"))
		return len(files) == 0
	}, replayInterval+openDuration+10*time.Second, 5*time.Millisecond, "dead letter not replayed without new data")
	t.Logf("dead letter emptied %s after the backend returned (replay_interval %s + open_duration %s = %s)",
		time.Since(back).Round(time.Millisecond), replayInterval, openDuration, replayInterval+openDuration)

	got := srv.Batches()
	require.Len(t, got, 3, "exactly the three spooled batches, no new data")
	for i, td := range got {
		assert.Equal(t, firstSpanPrefix(batches[i]), firstSpanPrefix(td), "oldest first")
		assert.Equal(t, spanIDs(batches[i]), spanIDs(td))
	}
	assert.Equal(t, circuitbreaker.Closed, e.breaker.State(), "the replay's probe closed the circuit")
	assert.EqualValues(t, 15, e.counter(t, "otelcol_otlp_retry_replayed_items"))
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_sent_items"), "no new data went out")
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
	events := e.host.Events()
	require.NotEmpty(t, events)
	assert.Equal(t, componentstatus.StatusOK, events[len(events)-1])
}

// TestReplayProbesEveryOpenDurationWhileDown: while the backend stays down
// the replay loop probes once per open_duration (not in a tight loop: the
// count is bounded from above by the time that passed) and keeps the files.
func TestReplayProbesEveryOpenDurationWhileDown(t *testing.T) {
	const openDuration = 100 * time.Millisecond
	dir := t.TempDir()
	srv := startGRPCServer(t)
	srv.setDown(true)
	cfg := fastConfig(srv.addr)
	cfg.RetryConfig.Enabled = false
	cfg.CircuitBreaker.MinAttempts = 1
	cfg.CircuitBreaker.HalfOpenProbes = 1
	cfg.CircuitBreaker.OpenDuration = openDuration
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.ReplayInterval = time.Hour
	e := newTestExporter(t, cfg, false)
	start := time.Now()
	require.NoError(t, e.pushTraces(context.Background(), tracesWithPrefix(0xb1, 3)))
	// Probes come from the replay loop alone (replay_interval is an hour).
	require.Eventually(t, func() bool { return srv.Calls() >= 4 }, 10*time.Second, 5*time.Millisecond)
	calls, elapsed := srv.Calls(), time.Since(start)
	// The push's attempt, then at most one probe per open_duration elapsed.
	assert.LessOrEqual(t, calls, 1+int(elapsed/openDuration), "probes in %s with open_duration %s", elapsed, openDuration)
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	assert.Len(t, files, 1, "a failed probe keeps the file")
	assert.NotEqual(t, circuitbreaker.Closed, e.breaker.State())
	srv.setDown(false)
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pb"))
		return len(files) == 0 && e.breaker.State() == circuitbreaker.Closed
	}, 10*time.Second, 5*time.Millisecond)
	assert.Len(t, srv.Batches(), 1)
}

// TestCorruptDeadLetterFileMovedAside: a file that does not decode is moved
// into corrupt/ (kept, counted), never deleted, and the files after it are
// replayed.
func TestCorruptDeadLetterFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	good := tracesWithPrefix(0xe1, 4)
	body, err := tracesRequest(good).marshal()
	require.NoError(t, err)
	garbage := []byte("\xff\xff not protobuf")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000001-000001-3.traces.pb"), garbage, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000002-000002-4.traces.pb"), body, 0o600))
	srv := startGRPCServer(t)
	cfg := fastConfig(srv.addr)
	cfg.DeadLetter.Directory = dir
	e := newTestExporter(t, cfg, false)
	require.Eventually(t, func() bool { return len(srv.Received()) == 4 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, spanIDs(good), srv.Received())
	aside, err := os.ReadFile(filepath.Join(dir, "corrupt", "00000000000000000001-000001-3.traces.pb"))
	require.NoError(t, err, "moved aside, not deleted")
	assert.Equal(t, garbage, aside)
	assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_dead_letter_corrupt_files"))
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
}
