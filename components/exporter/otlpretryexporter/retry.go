package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"
)

var errCircuitOpen = errors.New("circuit breaker open")

// push sends one batch until it is delivered or placed: written to the dead
// letter once the retry budget (retry_on_failure::max_elapsed_time) is spent
// or the backend refuses our credentials, or to the quarantine when the
// backend refuses the data as invalid. While it can be written nowhere (no
// dead letter, dead letter full, disk full) it stays here, retried every
// max_interval and offered to the dead letter again: the sending queue
// fills behind it and refuses new data, which is the back-pressure. Nothing
// is dropped here except a quarantine-less rejected batch (see quarantine)
// and, at shutdown, a batch an in-memory queue cannot keep (see keep).
func (e *otlpExporter) push(ctx context.Context, r *request) error {
	start := e.now()
	interval := e.cfg.RetryConfig.InitialInterval
	attempt := 0
	placeNow := false // spend no more of the budget: write it to disk now
	holding := false  // past the budget with no room: retry at max_interval
	var lastErr error
	defer func() {
		if holding {
			e.tel.heldItems.Add(context.Background(), -int64(r.items), e.tel.signal)
		}
	}()
	for {
		if lastErr != nil && (placeNow || holding || e.stopping() || e.budgetSpent(start)) {
			if ok, _ := e.spool(ctx, r); ok {
				e.logger.Debug("batch written to the dead letter", zap.Int("items", r.items), zap.Error(lastErr))
				return nil
			}
			if e.stopping() {
				return e.keep(ctx, r, lastErr)
			}
			placeNow = false
			if !holding {
				holding = true
				e.tel.heldItems.Add(ctx, int64(r.items), e.tel.signal)
				if !e.sleep(ctx, e.holdDelay(), nil) && ctx.Err() != nil {
					return e.keep(ctx, r, ctx.Err())
				}
				continue
			}
		}
		allowed, wait, changed := e.breaker.Allow()
		if !allowed {
			if lastErr == nil {
				lastErr = errCircuitOpen
			}
			if e.stopping() {
				continue // the top of the loop places or keeps it
			}
			if left := e.budgetLeft(start); !holding && left < wait {
				wait = left
			}
			if !e.sleep(ctx, wait, changed) && ctx.Err() != nil {
				return e.keep(ctx, r, ctx.Err())
			}
			continue
		}

		attempt++
		if attempt > 1 {
			e.tel.retries.Add(ctx, 1, e.tel.signal)
		}
		p, err := e.attempt(ctx, r)
		v := e.settle(ctx, r, p, err, false)
		if err == nil {
			return nil
		}
		lastErr = err
		if v.reason == reasonTooLarge {
			if a, b, ok := r.split(); ok {
				// Each half settles on its own (delivered, on disk or
				// quarantined); r is done when both are.
				return joinVerdicts(e.push(ctx, a), e.push(ctx, b))
			}
			// A single item the backend will never take.
			return e.quarantine(ctx, r, err)
		}
		if v.reason == reasonRejected {
			return e.quarantine(ctx, r, err)
		}
		// Retrying the same request now cannot help after refused
		// credentials or another permanent refusal: put it on disk.
		if !holding && (v.reason == reasonAuth || v.reason == reasonPermanent || !e.cfg.RetryConfig.Enabled) {
			placeNow = true
			continue
		}
		var delay time.Duration
		switch {
		case v.delay > 0:
			delay = v.delay
		case holding:
			delay = e.holdDelay()
		default:
			delay = jitter(interval, e.cfg.RetryConfig.RandomizationFactor)
			interval = min(time.Duration(float64(interval)*max(e.cfg.RetryConfig.Multiplier, 1)), e.cfg.RetryConfig.MaxInterval)
		}
		if !holding && delay > e.budgetLeft(start) {
			placeNow = true
			continue
		}
		if !e.sleep(ctx, delay, nil) && ctx.Err() != nil {
			return e.keep(ctx, r, ctx.Err())
		}
		// stopping: the top of the loop places or keeps it
	}
}

// joinVerdicts combines the answers of a split batch's parts. The batch is
// settled only when every part is: if any part is retryable (kept for later,
// e.g. left in the log at shutdown), the whole answer must be retryable, or
// the caller (the log, a persistent queue) would acknowledge the batch and
// lose that part. errors.Join would not do: consumererror.IsPermanent finds
// a Permanent in any branch. The permanent parts' text is kept, unwrapped.
func joinVerdicts(errs ...error) error {
	var retryable, permanent []error
	for _, err := range errs {
		switch {
		case err == nil:
		case consumererror.IsPermanent(err):
			permanent = append(permanent, err)
		default:
			retryable = append(retryable, err)
		}
	}
	if len(retryable) == 0 {
		return errors.Join(permanent...)
	}
	if len(permanent) == 0 {
		return errors.Join(retryable...)
	}
	return fmt.Errorf("%w (other parts settled permanently: %s)", errors.Join(retryable...), errors.Join(permanent...).Error())
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

// replayInterval is dead_letter::replay_interval with its default.
func (e *otlpExporter) replayInterval() time.Duration {
	if d := e.cfg.DeadLetter.ReplayInterval; d > 0 {
		return d
	}
	return defaultReplayInterval
}

// attempt makes one attempt under the per-attempt timeout.
func (e *otlpExporter) attempt(ctx context.Context, r *request) (partial, error) {
	e.tel.attempts.Add(ctx, 1, e.tel.signal)
	if e.cfg.TimeoutConfig.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.TimeoutConfig.Timeout)
		defer cancel()
	}
	return e.transport.export(ctx, r)
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
