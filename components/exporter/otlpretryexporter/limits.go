package otlpretryexporter

import (
	"fmt"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Limits validate refuses beyond (see the README's config table). A setting
// that means "no limit" or cannot hold one request is refused, not clamped:
// bounded is the promise, and a config that looks bounded must be.
const (
	// maxNumConsumers bounds persistent_queue::num_consumers and
	// sending_queue::num_consumers: each consumer holds one batch in flight
	// (up to 3 MiB cut from the log), so 256 of them hold at most 768 MiB.
	maxNumConsumers = 256
	// minWALBytes is the smallest persistent_queue::max_bytes: a log must
	// hold the largest request the otlp receiver accepts, or every such
	// request is refused as permanent (wal_too_large) and clients drop it.
	// The receiver's limits are not visible from here; its largest default
	// is 20 MiB (HTTP max_request_body_size; gRPC's is 4 MiB) and the
	// shipped configs allow 16 MiB, so 32 MiB holds any of them with room
	// for a segment header and the next record.
	minWALBytes = 32 << 20
	// minQueueBytes is the smallest sending_queue::queue_size with sizer
	// bytes: one default batch (1000 items of up to about 1 KiB). An
	// upstream-style queue_size: 10000 would be 10 kB here, less than one
	// batch, and halve the pipeline's throughput.
	minQueueBytes = 1 << 20
)

// breakerBlindSpot describes a circuit breaker that a backend which never
// answers could not open ("" when it can): while every attempt hangs until timeout, the
// consumers make at most consumers x window / timeout attempts a window,
// and with fewer than min_attempts the failure rate is never judged (the
// breaker stayed closed through a black hole with window 10s, timeout 10s,
// 10 consumers and min_attempts 20). It is logged as a warning at start,
// not refused: a large min_attempts is also how tests and users turn the
// breaker's judgement down on purpose.
func (c *Config) breakerBlindSpot() string {
	b := c.CircuitBreaker
	timeout := c.TimeoutConfig.Timeout
	if !b.Enabled || timeout <= 0 || b.Window <= 0 {
		return ""
	}
	consumers := 0
	key := ""
	switch {
	case c.PersistentQueue.enabled():
		consumers, key = c.PersistentQueue.NumConsumers, "persistent_queue::num_consumers"
	case c.QueueConfig.HasValue():
		consumers, key = c.QueueConfig.Get().NumConsumers, "sending_queue::num_consumers"
	default:
		return "" // no queue: the callers' concurrency is not known here
	}
	if most := int64(consumers) * int64(b.Window) / int64(timeout); most < int64(b.MinAttempts) {
		return fmt.Sprintf("circuit_breaker::min_attempts: %d attempts cannot fit in a window of %s when every attempt hangs "+
			"until timeout (%s) on %d consumers (%s; at most %d): a backend that never answers would never open the circuit; "+
			"lengthen circuit_breaker::window or lower min_attempts", b.MinAttempts, b.Window, timeout, consumers, key, most)
	}
	return ""
}

// limitErrors are the checks of settings that would make a bound no bound
// (0 meaning unlimited) or too small to hold one request.
func (c *Config) limitErrors() []error {
	var errs []error
	if c.TimeoutConfig.Timeout == 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got 0s (0 lets one attempt wait for ever)"))
	}
	if r := c.RetryConfig; r.Enabled && r.InitialInterval == 0 {
		errs = append(errs, fmt.Errorf("retry_on_failure::initial_interval: must be positive, got 0s (0 retries without a pause)"))
	}
	if c.PersistentQueue.enabled() || !c.QueueConfig.HasValue() {
		return errs // sending_queue's in-memory settings are not used
	}
	q := c.QueueConfig.Get()
	if q.NumConsumers > maxNumConsumers {
		errs = append(errs, fmt.Errorf("sending_queue::num_consumers: at most %d, got %d (each consumer holds a batch in flight)",
			maxNumConsumers, q.NumConsumers))
	}
	if q.Sizer == exporterhelper.RequestSizerTypeBytes {
		if q.QueueSize < minQueueBytes {
			errs = append(errs, fmt.Errorf("sending_queue::queue_size: %d bytes with sizer bytes is less than one batch "+
				"(at least %d; for a count of items set sizer: items)", q.QueueSize, minQueueBytes))
		}
		if b := q.Batch.Get(); b != nil && b.Sizer == exporterhelper.RequestSizerTypeBytes && b.MaxSize > q.QueueSize {
			errs = append(errs, fmt.Errorf("sending_queue::queue_size: %d bytes cannot hold one batch of batch::max_size %d bytes",
				q.QueueSize, b.MaxSize))
		}
	}
	return errs
}
