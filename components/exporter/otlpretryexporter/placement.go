package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/ledger"
)

// placement is the stage under the queue. It decides where a batch goes
// when the stages below answer that they could not deliver it: the dead
// letter (spool), the quarantine (data the backend refuses as invalid),
// the retry loop at max_interval while there is no room on disk (hold), or
// back to the queue at shutdown (keep). Nothing is dropped here except a
// quarantine-less rejected batch (see quarantine) and, at shutdown, a
// batch an in-memory queue cannot keep (see keep).
//
// The queue's consumers, a full queue's overflow and the dead letter's
// replay all come through here: it is the one place that knows what became
// of every accepted batch.
type placement struct {
	e     *otlpExporter
	next  *retrySender
	store *deadletter.Store // nil: no dead letter
	quar  *deadletter.Store // nil: no quarantine
	// block: sending_queue::block_on_overflow (see waitFor).
	block bool
	// backoff paces the replay of each file the backend refused on its own.
	backoff *fileBackoff
	// replayable: the dead letter may hold a file no replay pass has tried
	// since it was written (or a pass stopped before it): a delivered
	// batch then starts a pass at once (see delivered).
	replayable atomic.Bool
}

// Send delivers or places r. nil: delivered, in the dead letter or in the
// quarantine; a permanent error: dropped and counted (rejected, no room in
// the quarantine); any other error: kept by the queue (shutdown).
func (p *placement) Send(ctx context.Context, r *request) error {
	if r.replayed {
		return p.replay(ctx, r)
	}
	e := p.e
	holding := false
	defer func() {
		if holding {
			e.tel.heldItems.Add(context.Background(), -int64(r.items), e.tel.signal)
		}
	}()
	err := p.next.Send(ctx, r)
	for {
		act, v := actionOf(err)
		switch act {
		case actDeliver:
			e.delivered(r) // ledger
			p.delivered()
			return nil
		case actSettled:
			// Each part was placed by its own Send.
			return cause(err)
		case actQuarantine:
			if r.part {
				// Refused as a whole: the split stage that cut r decides.
				return err
			}
			return p.quarantine(ctx, r, v, cause(err))
		case actKeep:
			return p.keep(ctx, r, cause(err))
		}
		// actSpool: retrying cannot deliver it now.
		lastErr := cause(err)
		if ok, _ := p.spool(ctx, r); ok {
			e.logger.Debug("batch written to the dead letter", zap.Int("items", r.items), zap.Error(lastErr))
			return nil
		}
		if e.stopping() {
			return p.keep(ctx, r, lastErr)
		}
		if !holding {
			holding = true
			e.tel.heldItems.Add(ctx, int64(r.items), e.tel.signal)
			if !e.sleep(ctx, e.holdDelay(), nil) && ctx.Err() != nil {
				return p.keep(ctx, r, ctx.Err())
			}
		}
		err = p.next.hold(ctx, r, lastErr)
	}
}

// replay sends a dead-letter batch once. nil: the file may go (delivered,
// or quarantined, or dropped and counted without room there); an error
// keeps the file for the next replay.
func (p *placement) replay(ctx context.Context, r *request) error {
	err := p.next.Send(ctx, r)
	switch act, v := actionOf(err); act {
	case actDeliver:
		p.e.delivered(r) // ledger
		return nil
	case actSettled:
		return cause(err)
	case actQuarantine:
		if r.part {
			return err
		}
		// A permanent error here is already counted.
		_ = p.quarantine(ctx, r, v, cause(err))
		return nil
	}
	return cause(err)
}

// delivered is called for each batch from the queue the backend accepted.
// When the dead letter may hold a file no pass has tried yet (written
// during an outage, or behind a pass that stopped), the backend taking data
// again is the moment to replay it. A file the backend refused on its own
// is not such a file: it waits for its backoff (replayFile), however many
// batches are delivered meanwhile.
func (p *placement) delivered() {
	if p.store != nil && p.replayable.Load() {
		p.e.kickReplay()
	}
}

// replayPass replays the dead letter's files of this signal that are due,
// oldest first. A file refused on its own is kept and backed off, and the
// pass goes on past it (no head-of-line blocking); a failure that says the
// backend takes nothing now (down, throttling, credentials, circuit open)
// ends the pass, since every file behind would fail the same way, and the
// breaker and replay_interval pace the next one.
func (p *placement) replayPass(ctx context.Context) (deadletter.ReplayStats, error) {
	p.replayable.Store(false)
	st, err := p.store.ReplayDue(ctx, p.e.signal, func(ent deadletter.Entry) bool {
		return p.backoff.due(ent.Name, p.e.now())
	}, p.replayFile)
	if err != nil && !errors.Is(err, deadletter.ErrKeep) {
		p.replayable.Store(true)
	}
	return st, err
}

// replayFile sends one dead-letter file down the chain (replayOne) and
// keeps its backoff.
func (p *placement) replayFile(ctx context.Context, ent deadletter.Entry, body []byte) error {
	e := p.e
	err := e.replayOne(ctx, ent, body)
	switch {
	case err == nil, errors.Is(err, deadletter.ErrCorrupt):
		p.backoff.forget(ent.Name)
		return err
	case ctx.Err() != nil, errors.Is(err, errCircuitOpen):
		return err
	case classify(err).reason == reasonPermanent:
		wait := p.backoff.refused(ent.Name, e.now())
		e.logger.Debug("dead-letter file refused by the backend; kept, tried again after its backoff",
			zap.String("file", ent.Name), zap.Duration("backoff", wait), zap.Error(err))
		return fmt.Errorf("%w (next try in %s): %w", deadletter.ErrKeep, wait, err)
	}
	return err
}

// overflow handles a batch the queue did not take: full, a batch larger
// than the whole queue ("element size too large"), or a persistent queue
// that cannot write (disk full). It is never dropped and never evicts
// anything:
//   - written to the dead letter if that has room (nil: the data is on disk);
//     otherwise
//   - a full queue, for a request that waits (see waitFor): offered to the
//     queue again (retake) until it has room, as long as the request
//     allows;
//   - a queue that cannot take r at all, for a request that waits without
//     a time limit (the batch processor; block_on_overflow without a
//     deadline): sent right here, in the caller's goroutine, with the same
//     retries, dead letter and holding as a queued batch (a batch no queue
//     room could ever fit goes out too);
//   - otherwise refused with the queue's retryable error (the receiver
//     answers gRPC Unavailable / HTTP 503 and the client retries), counted
//     in refused_items by reason.
func (p *placement) overflow(ctx context.Context, r *request, qerr error, retake func(context.Context) error) error {
	if consumererror.IsPermanent(qerr) {
		return qerr
	}
	e := p.e
	ok, spoolReason := p.spool(ctx, r)
	if ok {
		e.led.l.Accept(r.items) // ledger
		return nil
	}
	until, wait := p.waitFor(ctx)
	if wait && errors.Is(qerr, exporterhelper.ErrQueueIsFull) {
		if ctx.Done() == nil {
			e.warnOnce("wait", "the sending queue is full and the dead letter has no room: a caller whose request cannot end "+
				"(the batch processor, which already answered its client and would drop a refusal) waits for room instead of being refused. "+
				"Put batching in sending_queue::batch instead, so that clients hear the back-pressure",
				zap.Int("items", r.items))
		}
		qerr = p.waitForRoom(ctx, until, qerr, retake)
		if qerr == nil {
			return nil // the queue took it
		}
	}
	reason := spoolReason
	if !errors.Is(qerr, exporterhelper.ErrQueueIsFull) {
		reason = refuseQueueError
		if deadletter.IsDiskFull(qerr) {
			e.diskFull.Store(true)
			reason = refuseDiskFull
		}
		if wait && until.IsZero() && ctx.Err() == nil && !e.stopping() {
			e.take(r.items) // ledger: accepted, in flight while the caller waits
			err := p.Send(ctx, r)
			e.finish(r.items, err)
			return err
		}
	}
	return e.refuse(ctx, r, reason, fmt.Errorf("sending queue did not take the batch, dead letter: %s: %w", spoolReason, qerr))
}

// waitFor says whether a batch that neither the queue nor the dead letter
// has room for waits for room, and until when (zero: no limit). It is
// decided from the request's context, not from who the caller seems to be:
//   - block_on_overflow: it waits, up to the context's deadline if it has
//     one, else while the context lasts;
//   - a context that can end (a client's request: its deadline, or its
//     connection going): refused at once, retryable, as upstream's queue
//     does, so that the client backs off and retries;
//   - a context that can never end (ctx.Done() is nil): nobody can hear a
//     refusal or give up on the batch. The batch processor exports so,
//     after it has answered its client, and drops what is refused
//     (tests/reliability TestGuaranteeSaturationBatch loses 92% of its
//     spans when it is refused): it waits without a time limit (until
//     shutdown), and a batch no queue room could ever fit is sent by the
//     caller.
func (p *placement) waitFor(ctx context.Context) (time.Time, bool) {
	if p.block {
		deadline, _ := ctx.Deadline()
		return deadline, true
	}
	return time.Time{}, ctx.Done() == nil
}

// Waiting for room offers the batch to the queue again after each pause,
// from the first to the last, doubling.
const (
	roomPollFirst = time.Millisecond
	roomPollLast  = 50 * time.Millisecond
)

// waitForRoom offers r to the queue again (retake) until it takes it (nil)
// or answers other than full (that error), or until until (zero: no
// limit), the context's end or shutdown comes (the queue's last error).
func (p *placement) waitForRoom(ctx context.Context, until time.Time, qerr error, retake func(context.Context) error) error {
	pause := roomPollFirst
	for {
		if e := p.e; e.stopping() || ctx.Err() != nil {
			return qerr
		}
		d := pause
		if !until.IsZero() {
			left := time.Until(until)
			if left <= 0 {
				return qerr
			}
			d = min(d, left)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return qerr
		case <-t.C:
		}
		if qerr = retake(ctx); !errors.Is(qerr, exporterhelper.ErrQueueIsFull) {
			return qerr
		}
		pause = min(2*pause, roomPollLast)
	}
}

// spool writes r to the dead letter if there is one with room. It never
// removes anything to make room; false means r must stay where it is, and
// reason says why (a reason of refused_items).
func (p *placement) spool(ctx context.Context, r *request) (bool, string) {
	e := p.e
	if p.store == nil {
		return false, refuseNoDeadLetter
	}
	body, err := r.marshal()
	if err == nil {
		err = p.store.Write(r.signal, r.items, body)
	}
	if err != nil {
		e.noteWriteError(err)
		reason := spoolReason(err)
		e.warnOnce("spool:"+reason, "cannot write to the dead letter; the batch stays in the sending queue (refused or held)",
			zap.String("reason", reason), zap.Int("items", r.items), zap.Error(err))
		return false, reason
	}
	e.diskFull.Store(false)
	p.replayable.Store(true)
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

// quarantine handles a batch the backend refused as invalid (v says how):
// written to the quarantine directory with a note beside it (the items,
// the reason and a sample of the backend's error) (nil), or, without one or
// without room, dropped and counted as dropped_items{reason="rejected"} (a
// permanent error). This is the one place otlp_retry drops accepted data.
// Each reason is logged once at warn.
func (p *placement) quarantine(ctx context.Context, r *request, v verdict, cause error) error {
	e := p.e
	why := v.reason
	if v.why != "" {
		why += " (" + v.why + ")"
	}
	if p.quar != nil {
		body, err := r.marshal()
		if err == nil {
			err = p.quar.WriteNoted(r.signal, r.items, body, quarantineNote(r, why, cause, e.now()))
		}
		if err == nil {
			e.diskFull.Store(false)
			e.tel.quarantineItems.Add(ctx, int64(r.items), e.tel.signal)
			e.led.l.Quarantine(r.items) // ledger
			e.warnOnce("quarantined:"+why, "the backend refused data as invalid; the refused piece is kept in the quarantine directory "+
				"(a .txt note beside each file says why), not retried; the rest of its batch is delivered",
				zap.String("directory", p.quar.Dir()), zap.String("reason", why), zap.Int("items", r.items), zap.Error(cause))
			return nil
		}
		e.noteWriteError(err)
		cause = errors.Join(cause, err)
	}
	e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropReason[dropRejected])
	e.led.l.Drop(ledger.Rejected, r.items) // ledger
	e.warnOnce("rejected-dropped:"+why, "the backend refused data as invalid and the quarantine is absent or full; dropped",
		zap.String("reason", why), zap.Int("items", r.items), zap.Error(cause))
	return consumererror.NewPermanent(cause)
}

// quarantineNoteSample bounds the backend's error kept in a note.
const quarantineNoteSample = 512

// quarantineNote is the text kept beside a quarantined file.
func quarantineNote(r *request, why string, cause error, now time.Time) []byte {
	sample := ""
	if cause != nil {
		sample = cause.Error()
	}
	if len(sample) > quarantineNoteSample {
		sample = sample[:quarantineNoteSample] + "..."
	}
	return fmt.Appendf(nil, "signal: %s\nitems: %d\nreason: %s\nquarantined_at: %s\nerror: %q\n",
		r.signal, r.items, why, now.UTC().Format(time.RFC3339), sample)
}

// keep is what Send returns when shutdown (or the end of the caller's
// context) comes while a batch could be written nowhere. The error is
// retryable: the queue keeps the batch for the next start (the write-ahead
// log does not acknowledge it; a persistent sending queue, see
// keepOnShutdown). An in-memory queue cannot keep it: counted as
// dropped_items{reason="shutdown"}.
func (p *placement) keep(ctx context.Context, r *request, cause error) error {
	e := p.e
	if e.cfg.PersistentQueue.enabled() {
		e.logger.Debug("shutting down: batch left in the write-ahead log for the next start", zap.Int("items", r.items))
		return cause
	}
	if e.cfg.QueueConfig.HasValue() && e.cfg.QueueConfig.Get().StorageID != nil {
		e.logger.Info("shutting down: batch left in the persistent sending queue for the next start", zap.Int("items", r.items))
		return cause
	}
	e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropReason[dropShutdown])
	e.led.l.Drop(ledger.Shutdown, r.items) // ledger
	e.logger.Error("shutting down with a batch that could not be delivered nor written to disk; the in-memory queue loses it",
		zap.Int("items", r.items), zap.Error(cause))
	return cause
}

func (e *otlpExporter) noteWriteError(err error) {
	if deadletter.IsDiskFull(err) {
		e.diskFull.Store(true)
	}
}
