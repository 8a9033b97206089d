package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
)

// Reasons of otelcol_otlp_retry_refused_items for the write-ahead log.
const (
	refuseWALFull     = "wal_full"
	refuseWALTooLarge = "wal_too_large"
	refuseWALError    = "wal_error"
)

// errKeptInLog: a batch from the write-ahead log could not be delivered nor
// spooled to the dead letter; it stays in the log and is delivered later.
var errKeptInLog = errors.New("kept in the write-ahead log")

// walKeepBackoff is how long a consumer waits before taking a batch again
// after one was kept in the log.
const walKeepBackoff = time.Second

// walQueue is the write-ahead log of one signal and its consumers.
type walQueue struct {
	log    *wal.Log
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openWAL opens (and recovers) the signal's log and starts its consumers.
func (e *otlpExporter) openWAL() error {
	pq := e.cfg.PersistentQueue
	dir := filepath.Join(pq.Directory, e.signal)
	l, rec, err := wal.Open(dir, wal.Options{
		MaxBytes:      pq.MaxBytes,
		SegmentBytes:  pq.SegmentBytes,
		MemoryBudget:  pq.MemoryBudget,
		Fsync:         wal.FsyncMode(pq.Fsync),
		FsyncInterval: pq.FsyncInterval,
		OnFsync:       e.tel.walFsync,
	})
	if err != nil {
		return fmt.Errorf("persistent_queue::directory: %q: %w", dir, err)
	}
	fields := []zap.Field{zap.String("directory", dir), zap.Int64("records", rec.Records), zap.Int64("items", rec.Items),
		zap.Int64("bytes", rec.Bytes), zap.Int("segments", rec.Segments), zap.Duration("scan", rec.Duration)}
	if rec.TornTails > 0 || rec.CorruptSegments > 0 {
		e.logger.Warn("write-ahead log recovered with damage: torn tail truncated, corrupt segments moved to corrupt/",
			append(fields, zap.Int("torn_tails", rec.TornTails), zap.Int64("torn_bytes", rec.TornBytes),
				zap.Int("corrupt_segments", rec.CorruptSegments))...)
	} else {
		e.logger.Info("write-ahead log opened", fields...)
	}
	if err := e.tel.registerWAL(l); err != nil {
		_ = l.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &walQueue{log: l, cancel: cancel}
	for i := 0; i < pq.NumConsumers; i++ {
		q.wg.Add(1)
		go e.consumeWAL(ctx, q)
	}
	e.wal = q
	return nil
}

// appendToLog is ConsumeX with the write-ahead log: the request is
// marshalled once and appended; nil means it is durable as the fsync mode
// says. No room is a retryable refusal, never a drop.
func (e *otlpExporter) appendToLog(ctx context.Context, r *request) error {
	body, err := r.marshal()
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("cannot marshal request: %w", err))
	}
	if r.items == 0 || len(body) == 0 {
		return nil // nothing to deliver
	}
	if _, err := e.wal.log.Append(body, r.items); err != nil {
		switch {
		case errors.Is(err, wal.ErrFull):
			return e.refuse(ctx, r, refuseWALFull, fmt.Errorf("persistent_queue::max_bytes reached: %w", err))
		case errors.Is(err, wal.ErrTooLarge):
			return e.refuse(ctx, r, refuseWALTooLarge, consumererror.NewPermanent(
				fmt.Errorf("request of %d bytes can never fit persistent_queue::max_bytes: %w", len(body), err)))
		default:
			return e.refuse(ctx, r, refuseWALError, fmt.Errorf("write-ahead log: %w", err))
		}
	}
	return nil
}

// consumeWAL cuts batches from the log and exports them with the retry
// loop. A batch is acknowledged once delivered, safe in the dead letter, or
// dropped and counted as the give-up rules say (data the backend rejects as
// invalid); otherwise it is handed back to the log.
func (e *otlpExporter) consumeWAL(ctx context.Context, q *walQueue) {
	defer q.wg.Done()
	maxItems := e.cfg.PersistentQueue.BatchSize
	for {
		recs, err := q.log.Next(ctx, maxItems, walBatchBytes)
		if err != nil {
			return
		}
		r := requestFromRecords(e.signal, recs)
		if err := e.push(ctx, r); errors.Is(err, errKeptInLog) {
			q.log.Release(recs)
			if !e.sleep(ctx, walKeepBackoff, nil) {
				return
			}
			continue
		}
		q.log.Ack(recs)
	}
}

// giveUpLogged is the give-up of a batch from the log after a retryable or
// auth failure (giveUp sends data refused as invalid its usual way): it goes
// to the dead letter only if that has room (no eviction) and otherwise
// stays in the log; while shutting down it stays in the log (already on disk).
func (e *otlpExporter) giveUpLogged(ctx context.Context, r *request, err error) error {
	if e.store == nil || e.stopping() {
		return errKeptInLog
	}
	body, merr := r.marshal()
	if merr != nil {
		return errKeptInLog
	}
	if werr := e.store.WriteIfRoom(r.signal, r.items, body); werr != nil {
		e.logger.Debug("giving up on batch: dead letter has no room; kept in the write-ahead log", zap.Int("items", r.items), zap.Error(werr))
		return errKeptInLog
	}
	e.tel.deadLetterItems.Add(ctx, int64(r.items), e.tel.signal)
	e.tel.deadLetterBytes.Add(ctx, int64(len(body)), e.tel.signal)
	e.logger.Debug("giving up on batch; moved from the write-ahead log to the dead letter", zap.Int("items", r.items), zap.Error(err))
	return nil
}

// drainWAL exports what the log holds for up to drain_timeout (or ctx)
// while the backend accepts, then stops the consumers. What is left stays on
// disk for the next start.
func (e *otlpExporter) drainWAL(ctx context.Context) {
	q := e.wal
	deadline := time.Now().Add(e.cfg.PersistentQueue.DrainTimeout)
	for q.log.Pending() > 0 && time.Now().Before(deadline) && ctx.Err() == nil &&
		e.breaker.State() != circuitbreaker.Open {
		time.Sleep(10 * time.Millisecond)
	}
}

// closeWAL stops the consumers (their batches in flight stay in the log) and
// closes the log.
func (e *otlpExporter) closeWAL() error {
	q := e.wal
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
