package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// push sends one batch with retries until it is accepted, refused for good,
// or the retry budget (retry_on_failure::max_elapsed_time) is spent.
func (e *otlpExporter) push(ctx context.Context, r *request) error {
	start := e.now()
	budget := e.cfg.RetryConfig.MaxElapsedTime
	interval := e.cfg.RetryConfig.InitialInterval
	attempt := 0
	var lastErr error
	for {
		if e.stopping() && lastErr != nil {
			return e.giveUp(ctx, r, fmt.Errorf("shutting down while retrying: %w", lastErr))
		}
		allowed, wait, changed := e.breaker.Allow()
		if !allowed {
			if lastErr == nil {
				lastErr = errors.New("circuit breaker open")
			}
			if e.stopping() {
				return e.giveUp(ctx, r, fmt.Errorf("shutting down with the circuit open: %w", lastErr))
			}
			if !e.cfg.RetryConfig.Enabled {
				return e.giveUp(ctx, r, fmt.Errorf("circuit breaker open and retry_on_failure disabled: %w", lastErr))
			}
			if budget > 0 {
				left := budget - e.now().Sub(start)
				if left <= 0 {
					return e.giveUp(ctx, r, fmt.Errorf("retry budget of %s spent: %w", budget, lastErr))
				}
				wait = min(wait, left)
			}
			if !e.sleep(ctx, wait, changed) && e.stopping() {
				continue // next round gives up
			}
			if ctx.Err() != nil {
				return e.giveUp(ctx, r, ctx.Err())
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
		if v.reason == reasonPermanent {
			return e.giveUp(ctx, r, consumererror.NewPermanent(err))
		}
		lastErr = err

		if !e.cfg.RetryConfig.Enabled {
			return e.giveUp(ctx, r, err)
		}
		delay := v.delay
		if delay == 0 {
			delay = jitter(interval, e.cfg.RetryConfig.RandomizationFactor)
			interval = min(time.Duration(float64(interval)*max(e.cfg.RetryConfig.Multiplier, 1)), e.cfg.RetryConfig.MaxInterval)
		}
		if budget > 0 && e.now().Sub(start)+delay > budget {
			return e.giveUp(ctx, r, fmt.Errorf("retry budget of %s spent after %d attempts: %w", budget, attempt, err))
		}
		if !e.sleep(ctx, delay, nil) {
			if ctx.Err() != nil {
				return e.giveUp(ctx, r, ctx.Err())
			}
			// stopping: the top of the loop gives up
		}
	}
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
