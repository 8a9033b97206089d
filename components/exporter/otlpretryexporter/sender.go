package otlpretryexporter

import "context"

// The exporter is a chain of small stages, as upstream's exporterhelper is
// built. A request travels down, an answer travels back up:
//
//	queue      memory (exporterhelper's sending_queue) or write-ahead log
//	  |          (persistent_queue): one interface, queue.go
//	placement  what becomes of a batch the stages below could not deliver:
//	  |          dead letter, hold, quarantine, hand back (placement.go)
//	retry      backoff within the retry budget, circuit breaker (retry.go)
//	  |
//	split      halve a batch the backend finds too large (split.go)
//	  |
//	attempt    one attempt under the per-attempt timeout over the
//	             transport (gRPC or HTTP, compression), and its bookkeeping
//	             (attempt.go, settle.go, transport.go)
//
// What an answer means is decided in one place, verdict.go. The dead
// letter's replay enters the same chain at placement (replay.go): there is
// one delivery path.

// sender is one stage: it sends r, through its next stage, and answers.
type sender interface {
	Send(ctx context.Context, r *request) error
}
