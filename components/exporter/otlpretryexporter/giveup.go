package otlpretryexporter

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// spool writes r to the dead letter if there is one with room. It never
// removes anything to make room; false means r must stay where it is, and
// reason says why (a reason of refused_items).
func (e *otlpExporter) spool(ctx context.Context, r *request) (bool, string) {
	if e.store == nil {
		return false, refuseNoDeadLetter
	}
	body, err := r.marshal()
	if err == nil {
		err = e.store.Write(r.signal, r.items, body)
	}
	if err != nil {
		e.noteWriteError(err)
		reason := spoolReason(err)
		e.warnOnce("spool:"+reason, "cannot write to the dead letter; the batch stays in the sending queue (refused or held)",
			zap.String("reason", reason), zap.Int("items", r.items), zap.Error(err))
		return false, reason
	}
	e.diskFull.Store(false)
	e.tel.deadLetterItems.Add(ctx, int64(r.items), e.tel.signal)
	e.tel.deadLetterBytes.Add(ctx, int64(len(body)), e.tel.signal)
	return true, ""
}

// spoolReason names why a dead-letter write failed, as refused_items does.
func spoolReason(err error) string {
	switch {
	case errors.Is(err, deadletter.ErrFull), errors.Is(err, deadletter.ErrTooLarge):
		return refuseDeadLetterFull
	case deadletter.IsDiskFull(err):
		return refuseDiskFull
	default:
		return refuseDeadLetterError
	}
}

func (e *otlpExporter) noteWriteError(err error) {
	if deadletter.IsDiskFull(err) {
		e.diskFull.Store(true)
	}
}

// quarantine handles a batch the backend refused as invalid: written to
// the quarantine directory (nil), or, without one or without room, dropped
// and counted as dropped_items{reason="rejected"} (a permanent error). This
// is the one place otlp_retry drops accepted data.
func (e *otlpExporter) quarantine(ctx context.Context, r *request, cause error) error {
	if e.quar != nil {
		body, err := r.marshal()
		if err == nil {
			err = e.quar.Write(r.signal, r.items, body)
		}
		if err == nil {
			e.diskFull.Store(false)
			e.tel.quarantineItems.Add(ctx, int64(r.items), e.tel.signal)
			e.warnOnce("quarantined", "the backend refused a batch as invalid; kept in the quarantine directory, not retried",
				zap.String("directory", e.quar.Dir()), zap.Int("items", r.items), zap.Error(cause))
			return nil
		}
		e.noteWriteError(err)
		cause = errors.Join(cause, err)
	}
	e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropReason[dropRejected])
	e.warnOnce("rejected-dropped", "the backend refused a batch as invalid and the quarantine is absent or full; dropped",
		zap.Int("items", r.items), zap.Error(cause))
	return consumererror.NewPermanent(cause)
}

// keep is what push returns when shutdown comes while a batch could be
// written nowhere. The error is retryable: exporterhelper's stopped retry
// sender turns it into a shutdown error, on which a persistent queue keeps
// the batch for the next start; the write-ahead log keeps it (the batch is
// not acknowledged). An in-memory queue cannot keep it: counted
// as dropped_items{reason="shutdown"}.
func (e *otlpExporter) keep(ctx context.Context, r *request, cause error) error {
	if e.wal != nil {
		e.logger.Debug("shutting down: batch left in the write-ahead log for the next start", zap.Int("items", r.items))
		return cause
	}
	if e.cfg.QueueConfig.HasValue() && e.cfg.QueueConfig.Get().StorageID != nil {
		e.logger.Info("shutting down: batch left in the persistent sending queue for the next start", zap.Int("items", r.items))
		return cause
	}
	e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropReason[dropShutdown])
	e.logger.Error("shutting down with a batch that could not be delivered nor written to disk; the in-memory queue loses it",
		zap.Int("items", r.items), zap.Error(cause))
	return cause
}
