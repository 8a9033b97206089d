package otlpretryexporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// The queue stage on exporterhelper's queue hands a batch the queue did not
// take to placement's overflow; without a queue (direct) the answer is the
// chain's own.
func TestHelperQueueOffer(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, "", answering(always(nil)))
	full := func(context.Context, *request) error { return exporterhelper.ErrQueueIsFull }

	q := &helperQueue{consume: full, place: p}
	assert.ErrorIs(t, q.offer(fromClient(t), tracesRequest(testTraces(1))), exporterhelper.ErrQueueIsFull)
	assert.EqualValues(t, 1, e.te.counter(t, "otelcol_otlp_retry_refused_items"))

	chain := errors.New("the chain's answer")
	q = &helperQueue{consume: func(context.Context, *request) error { return chain }, place: p, direct: true}
	assert.Same(t, chain, q.offer(fromClient(t), tracesRequest(testTraces(1))))
	assert.EqualValues(t, 1, e.te.counter(t, "otelcol_otlp_retry_refused_items"), "not refused by the queue")
}

// exporterhelper's retry sender is on only where its shutdown error keeps
// a persistent sending queue's batch (keepOnShutdown).
func TestHelperQueueOptionsRetryOnlyForStorage(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.PersistentQueue.Directory = ""
	assert.Len(t, helperQueueOptions(cfg), 2, "in-memory sending queue")
	id := component.MustNewID("file_storage")
	cfg.QueueConfig.Get().StorageID = &id
	assert.Len(t, helperQueueOptions(cfg), 3, "persistent sending queue: keepOnShutdown")
	cfg.PersistentQueue.Directory = t.TempDir()
	assert.Len(t, helperQueueOptions(cfg), 2, "write-ahead log: no sending queue")
}
