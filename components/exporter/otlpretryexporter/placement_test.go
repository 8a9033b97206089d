package otlpretryexporter

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

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

// A full queue with no room in the dead letter: a caller whose refusal
// reaches a client is refused (retryable, counted); block_on_overflow makes
// it wait and sends the batch itself.
func TestPlacementOverflow(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	next := answering(always(nil))
	p := newPlacement(t, e, "", next)
	err := p.overflow(fromClient(), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull)
	require.ErrorIs(t, err, exporterhelper.ErrQueueIsFull)
	assert.False(t, consumererror.IsPermanent(err))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_refused_items", "reason", "no_dead_letter"))
	assert.Zero(t, next.calls())

	p.block = true
	require.NoError(t, p.overflow(fromClient(), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull))
	assert.Equal(t, 1, next.calls())
}

// With room in the dead letter a full queue's batch is spooled: nil.
func TestPlacementOverflowSpools(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, t.TempDir(), answering(always(nil)))
	require.NoError(t, p.overflow(fromClient(), tracesRequest(testTraces(2)), exporterhelper.ErrQueueIsFull))
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_dead_letter_items"))
}
