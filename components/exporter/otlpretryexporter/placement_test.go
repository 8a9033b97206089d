package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// newPlacement is e's placement over next, with a dead letter in dir ("":
// none).
func newPlacement(t *testing.T, e *stageExporter, dir string, next sender) *placement {
	t.Helper()
	p := e.place
	p.next = &retrySender{e: e.otlpExporter, next: next}
	if dir != "" {
		store, err := deadletter.Acquire(dir, 1<<20, false)
		require.NoError(t, err)
		t.Cleanup(store.Release)
		p.store = store
	}
	return p
}

func spoolNow() error {
	return decide(actSpool, verdict{reason: reasonPermanent}, errors.New("not found"))
}

func TestPlacementDelivered(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, "", answering(always(nil)))
	require.NoError(t, p.Send(context.Background(), tracesRequest(testTraces(2))))
}

func TestPlacementSpoolsToTheDeadLetter(t *testing.T) {
	dir := t.TempDir()
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, dir, answering(always(spoolNow())))
	require.NoError(t, p.Send(context.Background(), tracesRequest(testTraces(3))))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 1)
	assert.EqualValues(t, 3, e.te.counter(t, "otelcol_otlp_retry_dead_letter_items"))
}

// No dead letter: the batch is held (retried at max_interval) until it is
// delivered, and counted in held_items meanwhile.
func TestPlacementHoldsWithoutRoom(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	var held int64
	next := answering(always(spoolNow()), always(retryable()), func(*request) error {
		held = e.te.counter(t, "otelcol_otlp_retry_held_items")
		return nil
	})
	p := newPlacement(t, e, "", next)
	require.NoError(t, p.Send(context.Background(), tracesRequest(testTraces(4))))
	assert.EqualValues(t, 4, held)
	assert.Zero(t, e.te.counter(t, "otelcol_otlp_retry_held_items"))
	assert.Equal(t, 3, next.calls())
	for _, d := range e.sleeps {
		assert.GreaterOrEqual(t, d, 500*time.Millisecond, "held at max_interval's pace (at least 1s, jittered)")
	}
}

func TestPlacementQuarantineAbsentDropsAndCounts(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, "", answering(always(decide(actQuarantine, verdict{reason: reasonRejected}, errors.New("invalid")))))
	err := p.Send(context.Background(), tracesRequest(testTraces(2)))
	assert.True(t, consumererror.IsPermanent(err))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "rejected"))
}

// Stopping with the batch placed nowhere: handed back, and an in-memory
// queue loses it, counted.
func TestPlacementKeepsAtShutdown(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	e.beginShutdown()
	p := newPlacement(t, e, "", answering(always(retryable())))
	err := p.Send(context.Background(), tracesRequest(testTraces(2)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "shutdown"))
}

func TestPlacementReplay(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	replayed := func() *request {
		r := tracesRequest(testTraces(1))
		r.replayed = true
		return r
	}
	p := newPlacement(t, e, "", answering(always(decide(actQuarantine, verdict{reason: reasonRejected}, errors.New("invalid")))))
	assert.NoError(t, p.Send(context.Background(), replayed()), "rejected: the file goes (quarantined or dropped)")

	p = newPlacement(t, e, "", answering(always(retryable())))
	assert.Error(t, p.Send(context.Background(), replayed()), "the file stays")
	assert.Empty(t, e.sleeps, "a replay never waits")
}

// A full queue with no room in the dead letter: a client's request (its
// context can end) is refused at once (retryable, counted); with
// block_on_overflow it waits and is taken when the queue has room. Nothing
// is sent by the caller.
func TestPlacementOverflow(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	next := answering(always(nil))
	p := newPlacement(t, e, "", next)
	retakes := 0
	full := func(context.Context) error { retakes++; return exporterhelper.ErrQueueIsFull }
	err := p.overflow(fromClient(t), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull, full)
	require.ErrorIs(t, err, exporterhelper.ErrQueueIsFull)
	assert.False(t, consumererror.IsPermanent(err))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_refused_items", "reason", "no_dead_letter"))
	assert.Zero(t, next.calls())
	assert.Zero(t, retakes, "at once")

	p.block = true
	require.NoError(t, p.overflow(fromClient(t), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull, roomAfter(3)))
	assert.Zero(t, next.calls())
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_refused_items"))

	err = p.overflow(fromClient(t), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull, full)
	require.ErrorIs(t, err, exporterhelper.ErrQueueIsFull, "block_on_overflow: refused when no room came before the deadline")
	assert.Positive(t, retakes)
	assert.EqualValues(t, 4, e.te.counter(t, "otelcol_otlp_retry_refused_items"))
}

// roomAfter is a queue full for n offers that then takes the batch.
func roomAfter(n int) func(context.Context) error {
	return func(context.Context) error {
		if n > 0 {
			n--
			return exporterhelper.ErrQueueIsFull
		}
		return nil
	}
}

// waitFor: a context that can end is refused at once, one that cannot
// waits without limit; block_on_overflow waits up to the deadline, or
// without limit.
func TestPlacementWaitFor(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, "", answering(always(nil)))
	until, wait := p.waitFor(context.Background())
	assert.True(t, wait, "a context that cannot end waits")
	assert.True(t, until.IsZero())
	cancelable, cancel0 := context.WithCancel(context.Background())
	defer cancel0()
	_, wait = p.waitFor(cancelable)
	assert.False(t, wait, "a request that can end is refused at once")
	deadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, wait = p.waitFor(ctx)
	assert.False(t, wait)

	p.block = true
	until, wait = p.waitFor(ctx)
	assert.True(t, wait)
	assert.Equal(t, deadline, until)
	until, wait = p.waitFor(cancelable)
	assert.True(t, wait)
	assert.True(t, until.IsZero())
}

// A caller whose context cannot end (the batch processor) waits for room
// however long it takes, and a batch the queue cannot take at all it sends
// itself; a request that can end is refused both at once.
func TestPlacementOverflowWithoutDeadline(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	next := answering(always(nil))
	p := newPlacement(t, e, "", next)
	require.NoError(t, p.overflow(context.Background(), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull, roomAfter(20)))
	assert.Zero(t, next.calls())
	assert.Zero(t, e.te.counter(t, "otelcol_otlp_retry_refused_items"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	retakes := 0
	full := func(context.Context) error { retakes++; return exporterhelper.ErrQueueIsFull }
	err := p.overflow(ctx, tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull, full)
	require.ErrorIs(t, err, exporterhelper.ErrQueueIsFull, "a client's request: refused, retryable")
	assert.Zero(t, retakes, "at once")
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_refused_items"))

	tooLarge := errors.New("element size too large")
	require.NoError(t, p.overflow(context.Background(), tracesRequest(testTraces(2)), tooLarge, full))
	assert.Equal(t, 1, next.calls(), "sent by the caller")
	err = p.overflow(fromClient(t), tracesRequest(testTraces(2)), tooLarge, full)
	require.ErrorIs(t, err, tooLarge)
	assert.Equal(t, 1, next.calls())
	assert.Zero(t, retakes)
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_refused_items", "reason", "queue_error"))
}

// With room in the dead letter a full queue's batch is spooled: nil.
func TestPlacementOverflowSpools(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, t.TempDir(), answering(always(nil)))
	require.NoError(t, p.overflow(fromClient(t), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull, nil))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_dead_letter_items"))
}

func TestFileBackoffDoublesUpToTheCap(t *testing.T) {
	b := newFileBackoff(time.Second)
	now := time.Unix(1_000_000, 0)
	assert.True(t, b.due("a", now), "never refused: due")
	var waits []time.Duration
	for range 7 {
		waits = append(waits, b.refused("a", now))
	}
	assert.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 16 * time.Second, 16 * time.Second}, waits)
	assert.False(t, b.due("a", now.Add(15*time.Second)))
	assert.True(t, b.due("a", now.Add(16*time.Second)))
	assert.True(t, b.due("b", now), "per file")
	b.forget("a")
	assert.True(t, b.due("a", now))
}

// spoolFile writes a batch of n spans named prefix-i to p's dead letter.
func spoolFile(t *testing.T, p *placement, prefix string, n int) {
	t.Helper()
	td := testTraces(n)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		spans.At(i).SetName(fmt.Sprintf("%s-%d", prefix, i))
	}
	ok, reason := p.spool(context.Background(), tracesRequest(td))
	require.True(t, ok, reason)
}

// refusing is a backend refusing (gRPC NotFound, permanent) every request
// holding a span named with prefix, taking the rest, and counting calls.
func refusing(prefix string, calls map[string]int) func(*request) error {
	return func(r *request) error {
		body, _ := r.marshal()
		name := "good"
		if strings.Contains(string(body), prefix) {
			name = prefix
		}
		calls[name]++
		if name == prefix {
			return decide(actSpool, verdict{reason: reasonPermanent, why: "gRPC NotFound"}, status.Error(codes.NotFound, "no such tenant"))
		}
		return nil
	}
}

// TestReplayIsNotHeadOfLineBlocked: the oldest dead-letter file is refused
// by the backend on its own; the files behind it are replayed in the same
// pass. It is not sent again before its backoff has passed, however many
// passes and delivered batches come meanwhile, then once per backoff,
// which doubles.
func TestReplayIsNotHeadOfLineBlocked(t *testing.T) {
	cfg := fastConfig("127.0.0.1:1")
	cfg.DeadLetter.ReplayInterval = time.Second
	e := newStageExporter(t, cfg)
	calls := map[string]int{}
	p := newPlacement(t, e, t.TempDir(), answering(refusing("poison", calls)))
	spoolFile(t, p, "poison", 3)
	spoolFile(t, p, "fine", 2)
	spoolFile(t, p, "fine", 4)
	require.True(t, p.replayable.Load())

	st, err := p.replayPass(context.Background())
	require.ErrorIs(t, err, deadletter.ErrKeep)
	assert.Equal(t, 2, st.Files, "the files behind the refused one")
	assert.Equal(t, 1, st.Kept)
	assert.Equal(t, map[string]int{"poison": 1, "good": 2}, calls)
	assert.Equal(t, 1, p.store.Len(), "the refused file stays")
	assert.False(t, p.replayable.Load(), "every file was tried")

	// Delivered batches do not start a pass for it; new files do.
	p.delivered()
	assert.Empty(t, e.replayKick)
	spoolFile(t, p, "fine", 1)
	p.delivered()
	assert.Len(t, e.replayKick, 1)
	<-e.replayKick

	// Passes within its backoff skip it and deliver the rest.
	for range 5 {
		_, _ = p.replayPass(context.Background())
	}
	assert.Equal(t, map[string]int{"poison": 1, "good": 3}, calls)

	// Then once per backoff: 1s, 2s, 4s...
	e.clock = e.clock.Add(time.Second)
	_, _ = p.replayPass(context.Background())
	_, _ = p.replayPass(context.Background())
	assert.Equal(t, 2, calls["poison"])
	e.clock = e.clock.Add(time.Second)
	_, _ = p.replayPass(context.Background())
	assert.Equal(t, 2, calls["poison"], "the second wait is 2s")
	e.clock = e.clock.Add(time.Second)
	_, _ = p.replayPass(context.Background())
	assert.Equal(t, 3, calls["poison"])
}

// A failure that says the backend takes nothing now ends the pass (every
// file behind would fail the same way) and backs nothing off: the next
// pass starts from the same file, as soon as the breaker lets it.
func TestReplayPassStopsWhenTheBackendIsDown(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	down := answering(always(decide(actRetry, verdict{reason: reasonRetryable}, status.Error(codes.Unavailable, "down"))))
	p := newPlacement(t, e, t.TempDir(), down)
	spoolFile(t, p, "a", 1)
	spoolFile(t, p, "b", 1)
	_, err := p.replayPass(context.Background())
	require.Error(t, err)
	assert.NotErrorIs(t, err, deadletter.ErrKeep)
	assert.Equal(t, 1, down.calls(), "stopped at the first file")
	assert.True(t, p.replayable.Load(), "files remain untried: the next delivered batch replays them")
	for _, ent := range p.store.Oldest("traces", 0) {
		assert.True(t, p.backoff.due(ent.Name, e.clock), "not backed off")
	}
}
