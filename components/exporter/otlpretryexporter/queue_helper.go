package otlpretryexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// helperQueue is the queue stage on exporterhelper's sending_queue: in
// memory, or persistent through sending_queue::storage. exporterhelper owns
// the queue and its consumers, which call placement (the exporter's push
// function); this stage adds what happens when the queue does not take a
// batch (placement.overflow).
type helperQueue struct {
	// consume is exporterhelper's ConsumeTraces/Metrics/Logs for r.
	consume func(ctx context.Context, r *request) error
	place   *placement
	// direct: no sending queue, or wait_for_result: the consumer's error
	// is the chain's own answer, not a queue that did not take the batch.
	direct bool
}

func (q *helperQueue) offer(ctx context.Context, r *request) error {
	err := q.take(ctx, r)
	if err == nil || q.direct {
		return err
	}
	return q.place.overflow(ctx, r, err, func(ctx context.Context) error { return q.take(ctx, r) })
}

// take hands r to exporterhelper's queue once, counting it as the ledger
// says.
func (q *helperQueue) take(ctx context.Context, r *request) error {
	e := q.place.e
	count := !e.led.atPush // the in-memory queue: accepted as it takes r
	if count {
		e.led.inflight.Add(int64(r.items)) // before a consumer can finish it
	}
	err := q.consume(ctx, r)
	if count {
		if err == nil {
			e.led.l.Accept(r.items)
		} else {
			e.led.inflight.Add(-int64(r.items))
		}
	}
	return err
}

// exporterhelper starts, drains and stops its queue in its own Start and
// Shutdown.
func (q *helperQueue) start() error          { return nil }
func (q *helperQueue) drain(context.Context) {}
func (q *helperQueue) close() error          { return nil }

// helperQueueOptions configure exporterhelper for the sending queue (or for
// none, with the write-ahead log in front). block_on_overflow is placement's
// (after the dead letter had its chance), so exporterhelper never blocks
// itself. Its timeout is off: the per-attempt timeout is the attempt
// stage's.
func helperQueueOptions(cfg *Config) []exporterhelper.Option {
	q := cfg.QueueConfig
	if cfg.PersistentQueue.enabled() {
		q = configoptional.None[exporterhelper.QueueBatchConfig]()
	} else if q.HasValue() {
		qc := *q.Get()
		qc.BlockOnOverflow = false
		q = configoptional.Some(qc)
	}
	opts := []exporterhelper.Option{
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithQueue(q),
	}
	if q.HasValue() && q.Get().StorageID != nil {
		opts = append(opts, keepOnShutdown())
	}
	return opts
}

// keepOnShutdown makes exporterhelper's persistent sending queue keep, for
// the next start, a batch placement hands back at shutdown (see keep).
// That queue deletes every item its consumer finishes with, except on
// exporterhelper's internal shutdown error, which only its retry sender
// creates (for a retryable error while it is stopping) and which no other
// code can make. The retry sender is on for that alone: the chain returns
// a retryable error at no other time, so it never retries by itself.
// Upstream knows the gap (open-telemetry/opentelemetry-collector#15677:
// the persistent queue deletes what fails during shutdown unless the retry
// sender is on); once a fix such as #15680 (keep what fails while the
// queue shuts down) is in the pinned release, this option goes.
func keepOnShutdown() exporterhelper.Option {
	return exporterhelper.WithRetry(configretry.BackOffConfig{
		Enabled:         true,
		InitialInterval: time.Second,
		MaxInterval:     time.Second,
		Multiplier:      1,
	})
}
