package otlpretryexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func retryable() error {
	return decide(actRetry, verdict{reason: reasonRetryable}, errors.New("down"))
}

func TestRetrySenderRetriesWithBackoffUntilDelivered(t *testing.T) {
	cfg := fastConfig("127.0.0.1:1")
	cfg.RetryConfig.RandomizationFactor = 0
	e := newStageExporter(t, cfg)
	next := answering(always(retryable()), always(retryable()), always(nil))
	s := &retrySender{e: e.otlpExporter, next: next}
	require.NoError(t, s.Send(context.Background(), tracesRequest(testTraces(3))))
	assert.Equal(t, 3, next.calls())
	assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, e.sleeps)
	assert.EqualValues(t, 2, e.te.counter(t, "otelcol_otlp_retry_retries"))
}

func TestRetrySenderHonoursTheServersDelay(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	next := answering(always(decide(actRetry, verdict{reason: reasonThrottled, delay: 3 * time.Second}, errors.New("slow down"))), always(nil))
	s := &retrySender{e: e.otlpExporter, next: next}
	require.NoError(t, s.Send(context.Background(), tracesRequest(testTraces(1))))
	assert.Equal(t, []time.Duration{3 * time.Second}, e.sleeps)
}

func TestRetrySenderAnswersSpoolWhenTheBudgetIsSpent(t *testing.T) {
	cfg := fastConfig("127.0.0.1:1")
	cfg.RetryConfig.MaxElapsedTime = 100 * time.Millisecond
	e := newStageExporter(t, cfg)
	next := answering(always(retryable()))
	s := &retrySender{e: e.otlpExporter, next: next}
	err := s.Send(context.Background(), tracesRequest(testTraces(1)))
	act, _ := actionOf(err)
	assert.Equal(t, actSpool, act)
	assert.Greater(t, next.calls(), 1)
	var slept time.Duration
	for _, d := range e.sleeps {
		slept += d
	}
	assert.LessOrEqual(t, slept, 100*time.Millisecond, "never sleeps past the budget")
}

// Refused credentials and other permanent refusals go up at once: retrying
// the same request cannot help.
func TestRetrySenderPassesUpWhatRetryingCannotFix(t *testing.T) {
	for _, err := range []error{
		decide(actSpool, verdict{reason: reasonAuth}, errors.New("unauthenticated")),
		decide(actQuarantine, verdict{reason: reasonRejected}, errors.New("invalid")),
		settled(errors.New("split and settled")),
	} {
		e := newStageExporter(t, fastConfig("127.0.0.1:1"))
		next := answering(always(err))
		s := &retrySender{e: e.otlpExporter, next: next}
		assert.Equal(t, err, s.Send(context.Background(), tracesRequest(testTraces(1))))
		assert.Equal(t, 1, next.calls())
		assert.Empty(t, e.sleeps)
	}
}

func TestRetrySenderAnswersKeepWhenTheCallerGivesUp(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &retrySender{e: e.otlpExporter, next: answering(always(retryable()))}
	act, _ := actionOf(s.Send(ctx, tracesRequest(testTraces(1))))
	assert.Equal(t, actKeep, act)
}

func TestRetrySenderWaitsForTheOpenCircuit(t *testing.T) {
	cfg := fastConfig("127.0.0.1:1")
	e := newStageExporter(t, cfg)
	e.breaker.Trip(time.Second)
	next := answering(always(nil))
	s := &retrySender{e: e.otlpExporter, next: next}
	err := s.Send(context.Background(), tracesRequest(testTraces(1)))
	// The fake sleep does not move the breaker's own clock: the budget
	// runs out waiting, and the batch goes up to be placed.
	act, _ := actionOf(err)
	assert.Equal(t, actSpool, act)
	assert.ErrorIs(t, err, errCircuitOpen)
	assert.Zero(t, next.calls())
}

// A replayed batch gets one attempt, no retry.
func TestRetrySenderReplaysOnce(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	next := answering(always(retryable()))
	s := &retrySender{e: e.otlpExporter, next: next}
	r := tracesRequest(testTraces(1))
	r.replayed = true
	require.Error(t, s.Send(context.Background(), r))
	assert.Equal(t, 1, next.calls())
	assert.Empty(t, e.sleeps)
}

// A held round makes one attempt at max_interval's pace and hands the
// batch back to placement, credentials refused or not.
func TestRetrySenderHoldRound(t *testing.T) {
	cfg := fastConfig("127.0.0.1:1")
	cfg.RetryConfig.RandomizationFactor = 0
	e := newStageExporter(t, cfg)
	next := answering(always(decide(actSpool, verdict{reason: reasonAuth}, errors.New("unauthenticated"))))
	s := &retrySender{e: e.otlpExporter, next: next}
	act, _ := actionOf(s.hold(context.Background(), tracesRequest(testTraces(1)), errors.New("before")))
	assert.Equal(t, actSpool, act)
	assert.Equal(t, 1, next.calls())
	assert.Equal(t, []time.Duration{time.Second}, e.sleeps, "max_interval, at least 1s")
}
