package otlpretryexporter

import "context"

// queue is the first stage: it takes a request from the pipeline and hands
// it to placement from its own consumers. Two implementations:
// helperQueue, exporterhelper's sending_queue (in memory, or persistent
// through sending_queue::storage), and walQueue, our write-ahead log
// (persistent_queue). No stage below knows which one is in front.
type queue interface {
	// offer takes r. nil: the queue has it (or, without room, the dead
	// letter has it); a retryable error: refused for lack of room
	// (back-pressure), counted in refused_items.
	offer(ctx context.Context, r *request) error
	// start opens the queue and starts its consumers, once the transport
	// and the dead letter are ready.
	start() error
	// drain delivers what the queue holds while ctx and the queue's drain
	// budget last and the backend accepts, before the stages stop waiting.
	drain(ctx context.Context)
	// close stops the consumers (their batches in flight stay queued) and
	// closes the queue.
	close() error
}
