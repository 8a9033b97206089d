package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
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

// enqueueFailed handles a batch the sending queue did not take: full, a
// batch larger than the whole queue ("element size too large"), or a
// persistent queue that cannot write (disk full). It is never dropped and
// never evicts anything:
//   - written to the dead letter if that has room (nil: the data is on disk);
//     otherwise
//   - when the caller cannot pass a refusal back to its client (see
//     mustBlock), sent right here, in the caller's goroutine, with the same
//     retries, dead letter and holding as a queued batch: the caller waits
//     (back-pressure), and a batch no queue room could ever fit goes out too;
//   - otherwise refused with the queue's retryable error (the receiver
//     answers gRPC Unavailable / HTTP 503 and the client retries), counted
//     in refused_items by reason.
func (e *otlpExporter) enqueueFailed(ctx context.Context, r *request, qerr error) error {
	if consumererror.IsPermanent(qerr) {
		return qerr
	}
	reason := ""
	if !errors.Is(qerr, exporterhelper.ErrQueueIsFull) {
		reason = refuseQueueError
		if deadletter.IsDiskFull(qerr) {
			e.diskFull.Store(true)
			reason = refuseDiskFull
		}
	}
	ok, spoolReason := e.spool(ctx, r)
	if ok {
		return nil
	}
	if reason == "" {
		reason = spoolReason
	}
	if e.mustBlock(ctx) {
		return e.push(ctx, r)
	}
	return e.refuse(ctx, r, reason, fmt.Errorf("sending queue did not take the batch, dead letter: %s: %w", spoolReason, qerr))
}

// mustBlock says whether a full queue makes the caller wait rather than
// refusing it. sending_queue::block_on_overflow asks for it always. Otherwise
// it blocks when the caller cannot pass a refusal back to a client: the
// collector's receivers put the client's address into the context
// (client.Info.Addr), and a component that answered its client before
// exporting (the batch processor) calls with a context of its own, without
// it. Refusing such a caller drops the data there, so it is made to wait.
func (e *otlpExporter) mustBlock(ctx context.Context) bool {
	if q := e.cfg.QueueConfig; q.HasValue() && q.Get().BlockOnOverflow {
		return true
	}
	if client.FromContext(ctx).Addr != nil {
		return false
	}
	e.warnOnce("block", "otlp_retry is fed by a component that already answered its client (e.g. the batch processor): "+
		"with the sending queue full it sends that component's batches itself and makes it wait, instead of refusing, "+
		"because that component would drop a refusal. "+
		"Put batching in sending_queue::batch instead, so that clients see the back-pressure")
	return true
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
		e.logger.Warn("refusing data with a retryable error (back-pressure; the sender retries)",
			zap.String("reason", reason), zap.Int64("items_since_last_warning", refused), zap.Error(err))
	} else {
		e.logger.Debug("batch refused", zap.String("reason", reason), zap.Int("items", r.items))
	}
	return err
}

// sentDirect says there is no sending queue: a consumer's error then is
// push's own answer, not a queue that did not take the batch.
func (e *otlpExporter) sentDirect() bool {
	return !e.cfg.QueueConfig.HasValue() || e.cfg.QueueConfig.Get().WaitForResult
}
