package otlpretryexporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVerdictActions(t *testing.T) {
	for reason, want := range map[string]action{
		"":              actDeliver,
		reasonRetryable: actRetry,
		reasonThrottled: actRetry,
		reasonAuth:      actSpool,
		reasonPermanent: actSpool,
		reasonRejected:  actQuarantine,
		reasonTooLarge:  actSplit,
	} {
		assert.Equal(t, want, verdict{reason: reason}.action(), reason)
	}
}

func TestActionOfAndCause(t *testing.T) {
	act, _ := actionOf(nil)
	assert.Equal(t, actDeliver, act)
	// An error no stage answered (the caller's context, a queue's) is
	// retried.
	act, _ = actionOf(context.DeadlineExceeded)
	assert.Equal(t, actRetry, act)

	base := errors.New("backend said no")
	err := decide(actQuarantine, verdict{reason: reasonRejected}, base)
	act, v := actionOf(err)
	assert.Equal(t, actQuarantine, act)
	assert.Equal(t, reasonRejected, v.reason)
	assert.ErrorIs(t, err, base)
	assert.Same(t, base, cause(decide(actSpool, verdict{}, err)), "cause strips every answer")
	assert.Same(t, base, cause(base))

	act, _ = actionOf(settled(base))
	assert.Equal(t, actSettled, act, "a settled answer is not acted on again")
	assert.NoError(t, cause(settled(nil)), "every part delivered or placed")
}
