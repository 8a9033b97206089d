package otlpretryexporter

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// queueFullExporter is a factory-built traces exporter (with its real
// sending queue: 5 items, one consumer, no batching) in front of srv, whose
// answers are held until release: after fill() the consumer is stuck on one
// batch, which keeps its place in the queue's capacity until it is done, so
// the next batch finds the queue full.
type queueFullExporter struct {
	exporter.Traces
	te      *testExporter // for counter()
	srv     *grpcServer
	release func()
	dir     string
}

const queueFullBatch = 5

func newQueueFullExporter(t *testing.T, dir string, maxBytes int64) *queueFullExporter {
	t.Helper()
	srv := startGRPCServer(t)
	cfg := fastConfig(srv.addr)
	cfg.TimeoutConfig.Timeout = time.Minute // the held attempt must not time out
	q := defaultQueueConfig()
	q.Sizer = exporterhelper.RequestSizerTypeItems
	q.QueueSize = queueFullBatch
	q.NumConsumers = 1
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	cfg.QueueConfig = configoptional.Some(q)
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.MaxBytes = maxBytes
	cfg.DeadLetter.ReplayOnStart = false
	cfg.DeadLetter.ReplayInterval = time.Hour
	tt := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	qf := &queueFullExporter{Traces: exp, te: &testExporter{tel: tt}, srv: srv, release: srv.hold(), dir: dir}
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		qf.release()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, exp.Shutdown(ctx))
		require.NoError(t, tt.Shutdown(context.Background()))
	})
	return qf
}

// fromClient is a context as a receiver passes it on: a client's request,
// which ends at its deadline (an SDK's export timeout).
func fromClient(t *testing.T) context.Context {
	ctx := client.NewContext(context.Background(), client.Info{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	ctx, cancel := context.WithTimeout(ctx, clientDeadline)
	t.Cleanup(cancel)
	return ctx
}

const clientDeadline = 400 * time.Millisecond

// fill leaves one batch in flight (held by the server), filling the queue.
func (q *queueFullExporter) fill(t *testing.T) {
	t.Helper()
	require.NoError(t, q.ConsumeTraces(fromClient(t), tracesWithPrefix(0xc1, queueFullBatch)))
	require.Eventually(t, func() bool { return q.srv.Calls() == 1 }, 10*time.Second, 5*time.Millisecond)
}

func (q *queueFullExporter) files(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(q.dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func batchBytes(t *testing.T, prefix byte) int64 {
	body, err := tracesRequest(tracesWithPrefix(prefix, queueFullBatch)).marshal()
	require.NoError(t, err)
	return int64(len(body))
}

// TestQueueFullSpoolsWhileDeadLetterHasRoom: queue full, dead letter has
// room -> the batch is written to the dead letter and the caller gets nil;
// once the backend answers, everything (queue and dead letter) is delivered.
func TestQueueFullSpoolsWhileDeadLetterHasRoom(t *testing.T) {
	q := newQueueFullExporter(t, t.TempDir(), 1<<20)
	q.fill(t)
	third := tracesWithPrefix(0xc3, queueFullBatch)
	require.NoError(t, q.ConsumeTraces(fromClient(t), third), "queue full, dead letter has room: accepted")
	require.Len(t, q.files(t), 1)
	assert.EqualValues(t, queueFullBatch, q.te.counter(t, "otelcol_otlp_retry_dead_letter_items"))
	assert.Zero(t, q.te.counter(t, "otelcol_otlp_retry_refused_items"))
	assert.Zero(t, q.te.counter(t, "otelcol_otlp_retry_dropped_items"))

	q.release()
	require.Eventually(t, func() bool {
		return len(q.srv.Received()) == 2*queueFullBatch && len(q.files(t)) == 0
	}, 10*time.Second, 5*time.Millisecond)
	want := spanIDs(tracesWithPrefix(0xc1, queueFullBatch))
	for _, p := range []byte{0xc3} {
		for k, v := range spanIDs(tracesWithPrefix(p, queueFullBatch)) {
			want[k] += v
		}
	}
	assert.Equal(t, want, q.srv.Received())
}

// TestQueueFullAndDeadLetterFullRefusesRetryable: queue full and dead letter
// full -> the caller gets a retryable (non-permanent) error, nothing is
// evicted, nothing is dropped, and the refusal is counted.
func TestQueueFullAndDeadLetterFullRefusesRetryable(t *testing.T) {
	// Room for exactly one batch.
	q := newQueueFullExporter(t, t.TempDir(), batchBytes(t, 0xc3))
	q.fill(t)
	require.NoError(t, q.ConsumeTraces(fromClient(t), tracesWithPrefix(0xc3, queueFullBatch)), "fills the dead letter")
	before := q.files(t)
	require.Len(t, before, 1)

	err := q.ConsumeTraces(fromClient(t), tracesWithPrefix(0xc4, queueFullBatch))
	require.Error(t, err, "queue and dead letter full: refused")
	assert.False(t, consumererror.IsPermanent(err), "the refusal must be retryable")
	assert.ErrorIs(t, err, exporterhelper.ErrQueueIsFull)
	assert.Equal(t, before, q.files(t), "nothing evicted")
	assert.Zero(t, q.te.counter(t, "otelcol_otlp_retry_dropped_items"), "nothing dropped")
	assert.EqualValues(t, queueFullBatch, q.te.counter(t, "otelcol_otlp_retry_refused_items", "reason", refuseDeadLetterFull))
	assert.EqualValues(t, queueFullBatch, q.te.counter(t, "otelcol_otlp_retry_dead_letter_items"), "only the third batch")

	// What was accepted is delivered; what was refused is not (the client resends it).
	q.release()
	require.Eventually(t, func() bool {
		return len(q.srv.Received()) == 2*queueFullBatch && len(q.files(t)) == 0
	}, 10*time.Second, 5*time.Millisecond)
	for k := range spanIDs(tracesWithPrefix(0xc4, queueFullBatch)) {
		assert.NotContains(t, q.srv.Received(), k)
	}
}

// TestQueueFullWithoutDeadLetterRefusesRetryable: no dead letter configured
// -> a full queue refuses with a retryable error, counted, nothing dropped.
func TestQueueFullWithoutDeadLetterRefusesRetryable(t *testing.T) {
	q := newQueueFullExporter(t, "", 0)
	q.fill(t)
	err := q.ConsumeTraces(fromClient(t), tracesWithPrefix(0xc3, queueFullBatch))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.True(t, errors.Is(err, exporterhelper.ErrQueueIsFull))
	assert.EqualValues(t, queueFullBatch, q.te.counter(t, "otelcol_otlp_retry_refused_items", "reason", refuseNoDeadLetter))
	assert.Zero(t, q.te.counter(t, "otelcol_otlp_retry_dropped_items"))
}

// TestGiveUpNeverEvictsWhenDeadLetterFull: a batch past its retry budget
// that finds the dead letter full removes nothing: it stays in the retry
// loop (held, counted) and is delivered once the backend returns; the file
// already spooled is replayed. Nothing dropped.
func TestGiveUpNeverEvictsWhenDeadLetterFull(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	srv.setDown(true)
	cfg := fastConfig(srv.addr)
	cfg.RetryConfig.Enabled = false
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.DeadLetter.Directory = dir
	cfg.DeadLetter.MaxBytes = batchBytes(t, 0xd1)
	cfg.DeadLetter.ReplayInterval = 50 * time.Millisecond
	e := newTestExporter(t, cfg, false)
	require.NoError(t, e.pushTraces(context.Background(), tracesWithPrefix(0xd1, queueFullBatch)))
	first, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.Len(t, first, 1)
	done := make(chan error, 1)
	go func() { done <- e.pushTraces(context.Background(), tracesWithPrefix(0xd2, queueFullBatch)) }()
	require.Eventually(t, func() bool {
		return e.counter(t, "otelcol_otlp_retry_held_items") == queueFullBatch
	}, 10*time.Second, 5*time.Millisecond, "the second batch is held")
	select {
	case err := <-done:
		t.Fatalf("push returned while the batch could go nowhere: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	assert.Equal(t, first, files, "nothing evicted")
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))

	srv.setDown(false)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("held batch not delivered after the backend returned")
	}
	require.Eventually(t, func() bool { return len(srv.Received()) == 2*queueFullBatch }, 10*time.Second, 5*time.Millisecond)
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_held_items"))
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
}

// TestQueueFullBlocksCallerThatCannotRefuse: a caller whose context cannot
// end (the batch processor, which already answered its client) is made to
// wait for room instead of being refused, and its batch delivered.
func TestQueueFullBlocksCallerThatCannotRefuse(t *testing.T) {
	q := newQueueFullExporter(t, "", 0)
	q.fill(t)
	done := make(chan error, 1)
	go func() { done <- q.ConsumeTraces(context.Background(), tracesWithPrefix(0xc5, queueFullBatch)) }()
	select {
	case err := <-done:
		t.Fatalf("returned while the queue is full: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	assert.Zero(t, q.te.counter(t, "otelcol_otlp_retry_refused_items"))
	q.release()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("still blocked after the queue drained")
	}
	require.Eventually(t, func() bool { return len(q.srv.Received()) == 2*queueFullBatch }, 10*time.Second, 5*time.Millisecond)
	assert.Zero(t, q.te.counter(t, "otelcol_otlp_retry_dropped_items"))
}
