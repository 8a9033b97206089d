package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// Reasons of otelcol_otlp_retry_refused_items.
const (
	refuseNoDeadLetter    = "no_dead_letter"
	refuseDeadLetterFull  = "dead_letter_full"
	refuseDeadLetterError = "dead_letter_error"
)

// refuseLogEvery bounds the warning logged while the exporter refuses data.
const refuseLogEvery = 30 * time.Second

// queueFull handles a batch the sending queue refused. The batch can still
// be refused, so it is never dropped and never evicts anything: it is
// written to the dead letter if that has room (nil: the data is on disk),
// and otherwise handed back to the caller as the queue's retryable error
// (the receiver answers gRPC Unavailable / HTTP 503 and the client retries),
// counted in refused_items.
func (e *otlpExporter) queueFull(ctx context.Context, r *request, qerr error) error {
	if e.store == nil {
		return e.refuse(ctx, r, refuseNoDeadLetter, qerr)
	}
	body, err := r.marshal()
	if err != nil {
		return e.refuse(ctx, r, refuseDeadLetterError, errors.Join(qerr, err))
	}
	if err := e.store.WriteIfRoom(r.signal, r.items, body); err != nil {
		reason := refuseDeadLetterError
		if errors.Is(err, deadletter.ErrFull) || errors.Is(err, deadletter.ErrTooLarge) {
			reason = refuseDeadLetterFull
		}
		return e.refuse(ctx, r, reason, fmt.Errorf("sending queue full and %w: %w", err, qerr))
	}
	e.tel.deadLetterItems.Add(ctx, int64(r.items), e.tel.signal)
	e.tel.deadLetterBytes.Add(ctx, int64(len(body)), e.tel.signal)
	e.logger.Debug("sending queue full: batch written to the dead letter", zap.Int("items", r.items))
	return nil
}

// refuse counts a refused batch and returns err, which must stay retryable
// (not consumererror.Permanent). It logs at warn at most every refuseLogEvery.
func (e *otlpExporter) refuse(ctx context.Context, r *request, reason string, err error) error {
	e.tel.refusedItems.Add(ctx, int64(r.items), e.tel.refuseReason[reason])
	refused := e.refusedSinceLog.Add(int64(r.items))
	now := e.now().UnixNano()
	last := e.refuseLoggedAt.Load()
	if (last == 0 || now-last >= int64(refuseLogEvery)) && e.refuseLoggedAt.CompareAndSwap(last, now) {
		e.refusedSinceLog.Add(-refused)
		e.logger.Warn("sending queue full: refusing data with a retryable error (back-pressure; the sender retries)",
			zap.String("reason", reason), zap.Int64("items_since_last_warning", refused), zap.Error(err))
	} else {
		e.logger.Debug("sending queue full: batch refused", zap.String("reason", reason), zap.Int("items", r.items))
	}
	return err
}
