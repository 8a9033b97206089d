package otlpretryexporter

import (
	"context"

	"go.uber.org/zap"
)

// settle does the bookkeeping of one finished attempt, the same for a new
// batch and for a dead-letter file (r.replayed): the breaker, the counters,
// the health state and the log. It returns what a failure means (the zero
// verdict on success); what to do with the batch is decided above
// (verdict.go).
func (e *otlpExporter) settle(ctx context.Context, r *request, p partial, err error) verdict {
	replayed := r.replayed
	if err == nil {
		e.breaker.Success()
		e.consecutive.Store(0)
		accepted := int64(r.items)
		if p.rejected > 0 {
			e.tel.rejectedItems.Add(ctx, p.rejected, e.tel.signal)
			accepted -= p.rejected
			e.logger.Debug("partial success: backend rejected items", zap.Int64("rejected", p.rejected), zap.String("message", p.message))
		}
		if accepted > 0 {
			if replayed {
				e.tel.replayedItems.Add(ctx, accepted, e.tel.signal)
			} else {
				e.tel.sentItems.Add(ctx, accepted, e.tel.signal)
			}
		}
		e.report(healthOK, nil)
		return verdict{}
	}
	v := classify(err)
	e.tel.failures.Add(ctx, 1, e.tel.byReason[v.reason])
	switch v.reason {
	case reasonAuth:
		// Every attempt would be refused until the credentials change: stop
		// sending, and let the replay loop probe every replay_interval.
		e.breaker.Trip(e.replayInterval())
		e.report(healthRecoverable, err)
		e.warnOnce("auth", "the backend refuses the credentials; data is kept (dead letter or queue) and delivered once they work",
			zap.String("reason", v.why), zap.Error(err))
	case reasonTooLarge:
		// Reachable, and it will take the data in smaller pieces.
		e.breaker.Success()
		e.consecutive.Store(0)
		e.logger.Debug("batch larger than the backend takes: split in two", zap.Int("items", r.items), zap.Error(err))
	case reasonRejected, reasonPermanent:
		// The backend answered: it is reachable, it refuses this request.
		e.breaker.Success()
		e.consecutive.Store(0)
		e.warnOnce("refused:"+v.why, "the backend refused a batch; not retrying it", zap.String("reason", v.why), zap.Int("items", r.items), zap.Error(err))
	default:
		e.breaker.Failure()
		e.failedAttempt(err)
		e.logger.Debug("export attempt failed", zap.String("reason", v.why), zap.Bool("replay", replayed), zap.Error(err))
	}
	return v
}
