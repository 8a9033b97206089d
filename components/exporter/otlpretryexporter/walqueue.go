package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
)

// Reasons of otelcol_otlp_retry_refused_items for the write-ahead log.
const (
	refuseWALFull     = "wal_full"
	refuseWALTooLarge = "wal_too_large"
	refuseWALError    = "wal_error"
)

// walQueue is the queue stage on the write-ahead log (persistent_queue) of
// one signal: appends from the pipeline, consumers that cut batches from
// the log and give them to placement.
type walQueue struct {
	e      *otlpExporter
	place  sender
	log    *wal.Log
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// fill lets one consumer at a time cut a batch, so that records
	// arriving while it waits for more join its batch instead of leaving
	// in small batches of their own with the other consumers.
	fill sync.Mutex
}

// start opens (and recovers) the signal's log and starts its consumers.
func (q *walQueue) start() error {
	e := q.e
	pq := e.cfg.PersistentQueue
	dir := filepath.Join(pq.Directory, e.signal)
	opts := wal.Options{
		MaxBytes:      pq.MaxBytes,
		SegmentBytes:  pq.SegmentBytes,
		MemoryBudget:  pq.MemoryBudget,
		Fsync:         wal.FsyncMode(pq.Fsync),
		FsyncInterval: pq.FsyncInterval,
		OnFsync:       e.tel.walFsync,
		// Order across batches matters to metrics (cumulative series)
		// and logs, not to traces.
		LiveFirst: pq.LiveFirst && e.signal == deadletter.Traces,
	}
	e.walLedgerOptions(&opts)
	l, rec, err := wal.Open(dir, opts)
	if err != nil {
		return fmt.Errorf("persistent_queue::directory: %q: %w", dir, err)
	}
	fields := []zap.Field{zap.String("directory", dir), zap.Int64("records", rec.Records),
		zap.Int64("acknowledged", rec.Acknowledged), zap.Int64("items", rec.Items),
		zap.Int64("bytes", rec.Bytes), zap.Int("segments", rec.Segments), zap.Duration("scan", rec.Duration)}
	if rec.TornTails > 0 || rec.CorruptSegments > 0 {
		e.logger.Warn("write-ahead log recovered with damage: torn tail truncated, corrupt segments moved to corrupt/",
			append(fields, zap.Int("torn_tails", rec.TornTails), zap.Int64("torn_bytes", rec.TornBytes),
				zap.Int("corrupt_segments", rec.CorruptSegments))...)
	} else {
		e.logger.Info("write-ahead log opened", fields...)
	}
	if err := e.tel.registerWAL(l, pq.MaxBytes); err != nil {
		_ = l.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.log, q.cancel = l, cancel
	// The delivered count kept as it changes, so that a restart after a
	// SIGKILL knows what the last checkpoint interval delivered.
	if err := e.led.l.AttachLive(dir); err != nil {
		e.logger.Warn("ledger: delivered items counted in memory only; after a crash, re-deliveries of the last checkpoint interval are not counted as duplicates",
			zap.String("directory", dir), zap.Error(err))
	}
	e.restoreLedger(&rec) // before any consumer or replay
	for i := 0; i < pq.NumConsumers; i++ {
		q.wg.Add(1)
		go q.consume(ctx)
	}
	return nil
}

// offer appends r to the log: the request is marshalled once and appended;
// nil means it is durable as the fsync mode says. No room is a retryable
// refusal, never a drop.
func (q *walQueue) offer(ctx context.Context, r *request) error {
	e := q.e
	if q.log == nil {
		return errNotStarted
	}
	body, err := r.marshal()
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("cannot marshal request: %w", err))
	}
	if r.items == 0 || len(body) == 0 {
		return nil // nothing to deliver
	}
	if _, err := q.log.Append(body, r.items); err != nil {
		switch {
		case errors.Is(err, wal.ErrFull):
			return e.refuse(ctx, r, refuseWALFull, retryLater(fmt.Errorf("persistent_queue::max_bytes reached: %w", err), retryAfterFull))
		case errors.Is(err, wal.ErrTooLarge):
			return e.refuse(ctx, r, refuseWALTooLarge, consumererror.NewPermanent(
				fmt.Errorf("request of %d bytes can never fit persistent_queue::max_bytes: %w", len(body), err)))
		case isDiskFull(err):
			// The disk_full gauge is what an operator alerts on; the log
			// answers ENOSPC (wrapped) when the disk under it is full.
			e.walDiskFull.Store(true)
			return e.refuse(ctx, r, refuseDiskFull, retryLater(fmt.Errorf("write-ahead log: disk full: %w", err), retryAfterError))
		default:
			// A directory removed or read-only, an I/O error: nothing was
			// written; the client retries later.
			return e.refuse(ctx, r, refuseWALError, retryLater(fmt.Errorf("write-ahead log: %w", err), retryAfterError))
		}
	}
	e.walDiskFull.Store(false)
	return nil
}

var errNotStarted = errors.New("otlp_retry: the write-ahead log is not open (exporter not started)")

// isDiskFull reports a log write that failed for a full disk.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// consume cuts batches from the log (nextBatch) and gives them to placement, which
// answers nil once a batch is delivered, in the dead letter or in the
// quarantine, and a permanent error once it was dropped and counted as
// invalid data (the one documented drop): the batch is acknowledged. While
// it can be placed nowhere placement holds it, so the batch stays in the
// log and the log fills (then refuses). Any other error means shutdown: the
// batch is handed back and stays on disk for the next start.
func (q *walQueue) consume(ctx context.Context) {
	e := q.e
	defer q.wg.Done()
	for {
		recs, err := q.nextBatch(ctx)
		if err != nil {
			return
		}
		err = q.place.Send(ctx, requestFromRecords(e.signal, recs))
		if err != nil && !consumererror.IsPermanent(err) {
			q.log.Release(recs)
			if ctx.Err() != nil || e.stopping() {
				return
			}
			continue
		}
		q.log.Ack(recs)
	}
}

// nextBatch cuts the next batch: what the log holds up to batch_size items
// and walBatchBytes, and, while it is short of them, what arrives within
// batch_timeout. Under a backlog the batch is full at once and nothing
// waits; with small requests arriving, they leave together, paying one
// compression and one export call instead of one each.
func (q *walQueue) nextBatch(ctx context.Context) ([]wal.Record, error) {
	q.fill.Lock()
	defer q.fill.Unlock()
	pq := &q.e.cfg.PersistentQueue
	recs, err := q.log.Next(ctx, pq.BatchSize, walBatchBytes)
	if err != nil || pq.BatchTimeout <= 0 {
		return recs, err
	}
	items, size := 0, 0
	for _, r := range recs {
		items += int(r.Items)
		size += len(r.Payload)
	}
	if items >= pq.BatchSize || size >= walBatchBytes {
		return recs, nil
	}
	wctx, cancel := context.WithTimeout(ctx, pq.BatchTimeout)
	defer cancel()
	for {
		more, err := q.log.NextMore(wctx, pq.BatchSize-items, walBatchBytes-size)
		if err != nil || len(more) == 0 {
			// The timeout, shutdown (the batch is handed back by Send's
			// error), or the next record does not fit: send what we have.
			return recs, nil
		}
		recs = append(recs, more...)
		for _, r := range more {
			items += int(r.Items)
			size += len(r.Payload)
		}
	}
}

// drain lets the consumers export what the log holds for up to
// drain_timeout (or ctx) while the backend accepts. What is left stays on
// disk for the next start.
func (q *walQueue) drain(ctx context.Context) {
	e := q.e
	if q.log == nil {
		return
	}
	deadline := time.Now().Add(e.cfg.PersistentQueue.DrainTimeout)
	for q.log.Pending() > 0 && time.Now().Before(deadline) && ctx.Err() == nil &&
		e.breaker.State() != circuitbreaker.Open {
		time.Sleep(10 * time.Millisecond)
	}
}

// close stops the consumers (their batches in flight stay in the log) and
// closes the log.
func (q *walQueue) close() error {
	e := q.e
	if q.log == nil {
		return nil // never started
	}
	q.cancel()
	q.wg.Wait()
	e.tel.unregisterWAL()
	if err := q.log.Close(); err != nil {
		return fmt.Errorf("persistent_queue: %w", err)
	}
	if left := q.log.Pending(); left > 0 {
		e.logger.Info("write-ahead log closed with records left on disk; they are delivered after the next start", zap.Int64("records", left))
	}
	return nil
}
