package otlpretryexporter

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/ledger"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
	"github.com/otlpcol/otlpcol/components/pkg/ledgerview"
)

// The conservation ledger (internal/ledger) of one exporter and signal:
//
//	accepted = delivered + pending + quarantined + dropped{reason}
//
// Each term is counted where the batch changes state, once per batch:
//   - accepted: the write-ahead log took the record (wal.Options.OnAppend,
//     under the log's lock, so that the checkpoint's count matches its
//     sequence numbers); exporterhelper's in-memory sending_queue took the
//     batch (helperQueue.offer); placement.overflow spooled it or made the
//     caller wait for it; without a sending queue, or with a persistent one
//     (whose content survives restarts out of our sight), when its consumer
//     hands it to the chain (push).
//   - delivered, dropped{partial}: placement's actDeliver, for a new batch
//     and for a dead-letter replay (a split batch is counted by its parts).
//   - quarantined, dropped{rejected}: placement.quarantine;
//     dropped{shutdown}: placement.keep; dropped{corrupt}: replayOne.
//   - pending is measured: the log's unacknowledged items (queued, held or
//     in flight) or, in front of exporterhelper, the items its memory queue
//     took and its consumers have not finished with (inflight), plus the
//     dead letter's items.
type ledgerState struct {
	l *ledger.Ledger
	// inflight: helper mode, items taken (by the in-memory queue, or by a
	// caller waiting in overflow or push) and not finished with.
	inflight atomic.Int64
	// atPush: accepted is counted when the chain gets the batch (no
	// sending queue, or a persistent one).
	atPush     bool
	unregister func()
	reg        metric.Registration
}

// measurePending reads what is pending now: log or queue, then dead letter.
func (e *otlpExporter) measurePending() int64 {
	n := e.led.inflight.Load()
	if q, ok := e.queue.(*walQueue); ok && q.log != nil {
		n += q.log.PendingItems()
	}
	if e.place.store != nil {
		n += e.place.store.ItemsOf(e.signal)
	}
	return n
}

// walLedgerOptions attach the ledger to the write-ahead log: accepted is
// counted as each record enters the log and the counters are written with
// every checkpoint.
func (e *otlpExporter) walLedgerOptions(o *wal.Options) {
	o.OnAppend = e.led.l.Accept
	o.Ledger = e.led.l.Marshal
}

// restoreLedger sets the ledger at start, before any consumer or replay
// runs. rec is nil without a write-ahead log: nothing of the counters
// survives (exporterhelper's queues keep no ledger), and what the dead
// letter holds is counted as accepted now (carried in).
func (e *otlpExporter) restoreLedger(rec *wal.Recovery) {
	var p *ledger.Persisted
	var after int64
	if rec != nil {
		after = rec.ItemsAfterCheckpoint
		if rec.Ledger != nil {
			if pp, err := ledger.Unmarshal(rec.Ledger); err == nil {
				p = &pp
			} else {
				e.logger.Warn("write-ahead log checkpoint holds a ledger this version cannot read; counting from what is on disk", zap.Error(err))
			}
		}
	}
	gap := e.led.l.Restore(p, after)
	s, holds := e.led.l.Read()
	fields := []zap.Field{zap.Int64("accepted", s.Accepted), zap.Int64("delivered", s.Delivered),
		zap.Int64("pending", s.Pending), zap.Int64("quarantined", s.Quarantined), zap.Int64("dropped", s.DroppedTotal()),
		zap.Int64("duplicates_expected", max(0, -gap)), zap.Bool("restored", p != nil)}
	if !holds {
		e.logger.Warn("ledger after recovery: accepted items found nowhere on disk (a damaged segment, records lost within the fsync window, a file removed)",
			append(fields, zap.Int64("missing", s.Gap()))...)
		return
	}
	e.logger.Info("ledger restored", fields...)
}

// persistLedger writes the log's checkpoint now (with the ledger), before
// a dead-letter file whose outcome was just counted is removed: a crash
// then leaves the count with the file (a duplicate), never the file gone
// without its count (a false gap).
func (e *otlpExporter) persistLedger() {
	if q, ok := e.queue.(*walQueue); ok && q.log != nil {
		if err := q.log.Checkpoint(); err != nil {
			e.logger.Debug("ledger checkpoint failed; a crash now counts this replay's batch again", zap.Error(err))
		}
	}
}

// delivered counts r as delivered, less what the backend refused in a
// partial success.
func (e *otlpExporter) delivered(r *request) {
	if r.rejected > 0 {
		rej := int(min(r.rejected, int64(r.items)))
		e.led.l.Drop(ledger.Partial, rej)
		e.led.l.Deliver(r.items - rej)
		return
	}
	e.led.l.Deliver(r.items)
}

// take and done bracket a batch the ledger counts at push (see atPush) or
// that a caller waits for: in flight between them.
func (e *otlpExporter) take(n int) {
	e.led.inflight.Add(int64(n))
	e.led.l.Accept(n)
}

// finish ends a batch in flight in helper mode, unless it stays in a
// persistent sending queue (handed back at shutdown): it is then out of
// the ledger's sight and counted again at the next start's push.
func (e *otlpExporter) finish(n int, err error) {
	if err != nil && !consumererror.IsPermanent(err) && e.keptByStorage() {
		return // still pending, in the storage queue
	}
	e.led.inflight.Add(-int64(n))
}

// keptByStorage: a batch placement.keep hands back stays in the queue
// (sending_queue::storage).
func (e *otlpExporter) keptByStorage() bool {
	return e.cfg.QueueConfig.HasValue() && e.cfg.QueueConfig.Get().StorageID != nil
}

// push is the chain below exporterhelper's queue (its push function).
func (e *otlpExporter) push(ctx context.Context, r *request) error {
	if e.led.atPush {
		e.take(r.items)
	}
	err := e.place.Send(ctx, r)
	e.finish(r.items, err)
	return err
}

// readLedger is the /status view (ledgerview).
func (e *otlpExporter) readLedger() ledgerview.Terms {
	s, holds := e.led.l.Read()
	t := ledgerview.Terms{
		Accepted: s.Accepted, Delivered: s.Delivered, Pending: s.Pending,
		Quarantined: s.Quarantined, Duplicates: s.Duplicates, Holds: holds,
		Dropped: map[string]int64{},
	}
	for _, r := range ledger.Reasons() {
		if s.Dropped[r] > 0 {
			t.Dropped[r.String()] = s.Dropped[r]
		}
	}
	return t
}

// registerLedger exposes the ledger on /status and as metrics.
func (e *otlpExporter) registerLedger() error {
	e.led.unregister = ledgerview.Register(e.set.ID.String(), e.signal, e.readLedger)
	in := &instruments{meter: e.tel.meter}
	accepted := in.observableCounter("ledger_accepted_items", "Ledger: items the pipeline was answered OK for (accepted = delivered + pending + quarantined + dropped).", "{items}")
	delivered := in.observableCounter("ledger_delivered_items", "Ledger: items the backend acknowledged, counted once (re-deliveries after a restart are duplicates).", "{items}")
	quarantined := in.observableCounter("ledger_quarantined_items", "Ledger: items refused by the backend as invalid and kept in the quarantine.", "{items}")
	duplicates := in.observableCounter("ledger_duplicates_items", "Ledger: items delivered again after a restart (apart from the identity).", "{items}")
	dropped := in.observableCounter("ledger_dropped_items", "Ledger: accepted items dropped, by reason: rejected, partial, shutdown, corrupt.", "{items}")
	pending := in.gauge("ledger_pending_items", "Ledger: items measured in the write-ahead log or sending queue, in flight, and in the dead letter.", "{items}")
	balanced := in.gauge("ledger_balanced", "Ledger: 1 while accepted = delivered + pending + quarantined + dropped holds, else 0.", "{state}")
	if in.err != nil {
		return in.err
	}
	sig := attribute.String("signal", e.signal)
	obs := metric.WithAttributeSet(attribute.NewSet(sig))
	byReason := make([]metric.ObserveOption, 0, len(ledger.Reasons()))
	for _, r := range ledger.Reasons() {
		byReason = append(byReason, metric.WithAttributeSet(attribute.NewSet(sig, attribute.String("reason", r.String()))))
	}
	var err error
	e.led.reg, err = e.tel.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s, holds := e.led.l.Read()
		o.ObserveInt64(accepted, s.Accepted, obs)
		o.ObserveInt64(delivered, s.Delivered, obs)
		o.ObserveInt64(quarantined, s.Quarantined, obs)
		o.ObserveInt64(duplicates, s.Duplicates, obs)
		for i, r := range ledger.Reasons() {
			o.ObserveInt64(dropped, s.Dropped[r], byReason[i])
		}
		o.ObserveInt64(pending, s.Pending, obs)
		b := int64(0)
		if holds {
			b = 1
		}
		o.ObserveInt64(balanced, b, obs)
		return nil
	}, accepted, delivered, quarantined, duplicates, dropped, pending, balanced)
	return err
}

func (e *otlpExporter) unregisterLedger() {
	if e.led.unregister != nil {
		e.led.unregister()
	}
	if e.led.reg != nil {
		_ = e.led.reg.Unregister()
		e.led.reg = nil
	}
}
