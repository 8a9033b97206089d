package otlpretryexporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

var errTooLarge = decide(actSplit, verdict{reason: reasonTooLarge}, errors.New("message larger than max"))

// tooLargeOver answers too_large for a request of more than n items.
func tooLargeOver(n int) func(*request) error {
	return func(r *request) error {
		if r.items > n {
			return errTooLarge
		}
		return nil
	}
}

func TestSplitSenderPassesOtherAnswersUp(t *testing.T) {
	quarantine := decide(actQuarantine, verdict{reason: reasonRejected}, errors.New("invalid"))
	for _, err := range []error{nil, quarantine, decide(actRetry, verdict{reason: reasonRetryable}, errors.New("down"))} {
		top := answering(always(nil))
		s := &splitSender{next: answering(always(err)), top: top}
		assert.Equal(t, err, s.Send(context.Background(), tracesRequest(testTraces(4))))
		assert.Zero(t, top.calls(), "nothing re-enters the chain")
	}
}

func TestSplitSenderHalvesThroughTheTop(t *testing.T) {
	top := answering(always(nil))
	s := &splitSender{next: answering(tooLargeOver(2)), top: top}
	err := s.Send(context.Background(), tracesRequest(testTraces(4)))
	require.NoError(t, cause(err))
	act, _ := actionOf(err)
	assert.Equal(t, actSettled, act)
	require.Equal(t, 2, top.calls())
	assert.Equal(t, 2, top.sent[0].items)
	assert.Equal(t, 2, top.sent[1].items)
	assert.True(t, top.sent[0].raw)
}

// A half kept at shutdown (retryable) and a half dropped (permanent): the
// batch answers retryable and no stage above acts on it again.
func TestSplitSenderSettlesWithTheJoinedVerdict(t *testing.T) {
	kept := errors.New("kept for the next start")
	top := answering(always(consumererror.NewPermanent(errors.New("dropped"))), always(kept))
	s := &splitSender{next: answering(tooLargeOver(2)), top: top}
	err := s.Send(context.Background(), tracesRequest(testTraces(4)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.ErrorIs(t, err, kept)
	act, _ := actionOf(err)
	assert.Equal(t, actSettled, act)
}

func TestSplitSenderQuarantinesASingleItemTooLarge(t *testing.T) {
	top := answering(always(nil))
	s := &splitSender{next: answering(tooLargeOver(0)), top: top}
	err := s.Send(context.Background(), tracesRequest(testTraces(1)))
	act, v := actionOf(err)
	assert.Equal(t, actQuarantine, act)
	assert.Equal(t, reasonTooLarge, v.reason)
	assert.Zero(t, top.calls())
}

// A replayed batch stops at the first half that fails: the file stays and
// is sent whole next time.
func TestSplitSenderReplayStopsAtFirstFailedHalf(t *testing.T) {
	down := errors.New("down")
	top := answering(always(down))
	s := &splitSender{next: answering(tooLargeOver(2)), top: top}
	r := tracesRequest(testTraces(4))
	r.replayed = true
	assert.ErrorIs(t, s.Send(context.Background(), r), down)
	require.Equal(t, 1, top.calls())
	assert.True(t, top.sent[0].replayed, "halves of a replayed batch are replayed")
}
