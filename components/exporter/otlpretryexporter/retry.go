package otlpretryexporter

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

var errCircuitOpen = errors.New("circuit breaker open")

// retrySender is the retry stage with the circuit breaker: it sends r
// again, after a backoff with jitter or the server's delay, while the
// retry budget (retry_on_failure::max_elapsed_time) lasts and the breaker
// lets attempts through. It answers as soon as retrying cannot help
// (actSpool: budget spent, credentials refused, a permanent refusal,
// shutting down), when the caller's context ends (actKeep), and passes up
// any answer that is not a retry (quarantine, a settled split).
//
// hold is its slow mode for a batch placement found no room for: one
// round at max_interval, with no budget.
type retrySender struct {
	e    *otlpExporter
	next sender
}

func (s *retrySender) Send(ctx context.Context, r *request) error {
	if r.replayed {
		return s.once(ctx, r)
	}
	e := s.e
	start := e.now()
	interval := e.cfg.RetryConfig.InitialInterval
	var lastErr error
	for {
		if lastErr != nil && (e.stopping() || e.budgetSpent(start)) {
			return decide(actSpool, verdict{}, lastErr)
		}
		allowed, wait, changed := e.breaker.Allow()
		if !allowed {
			if lastErr == nil {
				lastErr = errCircuitOpen
			}
			if e.stopping() {
				continue // the top of the loop places or keeps it
			}
			wait = min(wait, e.budgetLeft(start))
			if !e.sleep(ctx, wait, changed) && ctx.Err() != nil {
				return decide(actKeep, verdict{}, ctx.Err())
			}
			continue
		}
		err := s.try(ctx, r)
		act, v := actionOf(err)
		if act != actRetry {
			return err
		}
		lastErr = cause(err)
		if !e.cfg.RetryConfig.Enabled {
			return decide(actSpool, v, lastErr)
		}
		delay := v.delay
		if delay <= 0 {
			delay = jitter(interval, e.cfg.RetryConfig.RandomizationFactor)
			interval = min(time.Duration(float64(interval)*max(e.cfg.RetryConfig.Multiplier, 1)), e.cfg.RetryConfig.MaxInterval)
		}
		if delay > e.budgetLeft(start) {
			return decide(actSpool, v, lastErr)
		}
		if !e.sleep(ctx, delay, nil) && ctx.Err() != nil {
			return decide(actKeep, v, ctx.Err())
		}
		// stopping: the top of the loop places it
	}
}

// hold makes one round for a held batch: it waits for the breaker, or
// makes one attempt and waits the server's delay or max_interval. It
// answers actSpool for placement to offer r to the dead letter again,
// unless the round settled r.
func (s *retrySender) hold(ctx context.Context, r *request, lastErr error) error {
	e := s.e
	if e.stopping() {
		return decide(actSpool, verdict{}, lastErr)
	}
	allowed, wait, changed := e.breaker.Allow()
	if !allowed {
		if e.stopping() {
			return decide(actSpool, verdict{}, lastErr)
		}
		if !e.sleep(ctx, wait, changed) && ctx.Err() != nil {
			return decide(actKeep, verdict{}, ctx.Err())
		}
		return decide(actSpool, verdict{}, lastErr)
	}
	err := s.try(ctx, r)
	act, v := actionOf(err)
	switch act {
	case actRetry, actSpool:
		// Held: refused credentials and permanent refusals are retried at
		// the hold's pace too.
	default:
		return err
	}
	delay := v.delay
	if delay <= 0 {
		delay = e.holdDelay()
	}
	if !e.sleep(ctx, delay, nil) && ctx.Err() != nil {
		return decide(actKeep, v, ctx.Err())
	}
	return decide(actSpool, v, cause(err))
}

// once is a replayed batch's single attempt: a file is not retried within
// one replay; it waits for the next.
func (s *retrySender) once(ctx context.Context, r *request) error {
	if allowed, _, _ := s.e.breaker.Allow(); !allowed {
		return errCircuitOpen
	}
	return s.next.Send(ctx, r)
}

// try sends r once down the chain, counting a retry after the first.
func (s *retrySender) try(ctx context.Context, r *request) error {
	r.attempts++
	if r.attempts > 1 {
		s.e.tel.retries.Add(ctx, 1, s.e.tel.signal)
	}
	return s.next.Send(ctx, r)
}

// budgetLeft is what remains of retry_on_failure::max_elapsed_time (no
// limit when it is 0).
func (e *otlpExporter) budgetLeft(start time.Time) time.Duration {
	budget := e.cfg.RetryConfig.MaxElapsedTime
	if budget <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return budget - e.now().Sub(start)
}

func (e *otlpExporter) budgetSpent(start time.Time) bool {
	return !e.cfg.RetryConfig.Enabled || e.budgetLeft(start) <= 0
}

// holdDelay is the pace of a held batch: max_interval (at least 1s).
func (e *otlpExporter) holdDelay() time.Duration {
	return jitter(max(e.cfg.RetryConfig.MaxInterval, time.Second), e.cfg.RetryConfig.RandomizationFactor)
}

func (e *otlpExporter) defaultSleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	case <-e.stopCh:
		return false
	}
}

// jitter spreads d by ±factor.
func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 || d <= 0 {
		return d
	}
	delta := factor * float64(d)
	return time.Duration(float64(d) - delta + rand.Float64()*(2*delta))
}
