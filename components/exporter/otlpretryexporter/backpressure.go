package otlpretryexporter

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Reasons of otelcol_otlp_retry_refused_items.
const (
	refuseNoDeadLetter    = "no_dead_letter"
	refuseDeadLetterFull  = "dead_letter_full"
	refuseDeadLetterError = "dead_letter_error"
	refuseDiskFull        = "disk_full"
	refuseQueueError      = "queue_error"
)

// refuseLogEvery bounds the warning logged while the exporter refuses data.
const refuseLogEvery = 30 * time.Second

// refuse counts a refused batch and returns err, which must stay retryable
// (not consumererror.Permanent). It logs at warn at most every refuseLogEvery.
// The queue stage refuses when it is full and placement found no room in
// the dead letter (placement.overflow), and the write-ahead log when it is
// full or cannot write (walQueue.offer).
func (e *otlpExporter) refuse(ctx context.Context, r *request, reason string, err error) error {
	e.tel.refusedItems.Add(ctx, int64(r.items), e.tel.refuseReason[reason])
	refused := e.refusedSinceLog.Add(int64(r.items))
	now := e.now().UnixNano()
	last := e.refuseLoggedAt.Load()
	if (last == 0 || now-last >= int64(refuseLogEvery)) && e.refuseLoggedAt.CompareAndSwap(last, now) {
		e.refusedSinceLog.Add(-refused)
		e.logger.Warn("refusing data with a retryable error (back-pressure; the sender retries)",
			zap.String("reason", reason), zap.Int64("items_since_last_warning", refused), zap.Error(err))
	} else {
		e.logger.Debug("batch refused", zap.String("reason", reason), zap.Int("items", r.items))
	}
	return err
}
