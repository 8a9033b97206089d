package otlpretryexporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/ledger"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/wal"
	"github.com/otlpcol/otlpcol/components/pkg/ledgerview"
)

// ledgerExporter is a factory-built traces exporter (the pipeline's path:
// the queue stage first) whose ledger is read as /status reads it.
type ledgerExporter struct {
	exporter.Traces
	id string
}

func startLedgerExporter(t *testing.T, cfg *Config) *ledgerExporter {
	t.Helper()
	require.NoError(t, confmap.Validate(cfg))
	tt := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName(metadata.Type.String(), strings.ReplaceAll(t.Name(), "/", "_"))
	set.TelemetrySettings = tt.NewTelemetrySettings()
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	le := &ledgerExporter{Traces: exp, id: set.ID.String()}
	t.Cleanup(func() {
		require.NoError(t, exp.Shutdown(context.Background())) // a second Shutdown is a no-op
		require.NoError(t, tt.Shutdown(context.Background()))
	})
	return le
}

// onDisk is fastConfig with the write-ahead log in dir/wal and the dead
// letter in dir/dl: retries given up after maxElapsed, the dead letter
// replayed every replay.
func onDisk(addr, dir string, maxElapsed, replay time.Duration) *Config {
	c := fastConfig(addr)
	c.PersistentQueue.Directory = filepath.Join(dir, "wal")
	c.PersistentQueue.DrainTimeout = 100 * time.Millisecond
	c.RetryConfig.MaxElapsedTime = maxElapsed
	c.DeadLetter.Directory = filepath.Join(dir, "dl")
	c.DeadLetter.ReplayInterval = replay
	return c
}

// consume sends batches first..last (tracesWithPrefix, 10 spans each), each
// of which must be accepted.
func (le *ledgerExporter) consume(t *testing.T, first, last byte) {
	t.Helper()
	for p := first; p <= last; p++ {
		require.NoError(t, le.ConsumeTraces(context.Background(), tracesWithPrefix(p, 10)))
	}
}

func (le *ledgerExporter) terms(t *testing.T) ledgerview.Terms {
	t.Helper()
	all := ledgerview.All()
	require.Contains(t, all, le.id, "ledger not registered")
	return all[le.id]["traces"]
}

// settled waits until the ledger holds with pending == wantPending, and
// returns it.
func (le *ledgerExporter) settled(t *testing.T, what string, wantPending int64) ledgerview.Terms {
	t.Helper()
	var last ledgerview.Terms
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		last = le.terms(t)
		if last.Holds && last.Pending == wantPending {
			return last
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: ledger never held with pending %d: %+v", what, wantPending, last)
	return last
}

func invalidArgument() error { return status.Error(codes.InvalidArgument, "bad span") }

// TestLedgerMemoryQueueEveryExit drives each way out of the chain through
// the in-memory sending queue, checking the identity after each.
func TestLedgerMemoryQueueEveryExit(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	cfg := fastConfig(srv.addr)
	cfg.RetryConfig.Enabled = false // one attempt, then the dead letter
	cfg.DeadLetter.Directory = filepath.Join(dir, "dl")
	cfg.DeadLetter.ReplayInterval = time.Hour
	exp := startLedgerExporter(t, cfg)
	ctx := context.Background()

	// Delivered.
	require.NoError(t, exp.ConsumeTraces(ctx, testTraces(10)))
	got := exp.settled(t, "delivered", 0)
	require.EqualValues(t, 10, got.Accepted)
	require.EqualValues(t, 10, got.Delivered)

	// Spooled: pending in the dead letter.
	srv.setDown(true)
	require.NoError(t, exp.ConsumeTraces(ctx, testTraces(7)))
	got = exp.settled(t, "spooled", 7)
	require.EqualValues(t, 17, got.Accepted)

	// Replayed once the backend is back (a new batch kicks the replay).
	srv.setDown(false)
	require.NoError(t, exp.ConsumeTraces(ctx, testTraces(3)))
	got = exp.settled(t, "replayed", 0)
	require.EqualValues(t, 20, got.Delivered)

	// Refused as invalid, whole and in every part (the batch is split
	// down to single spans to isolate what the backend refuses: 1 + 2 + 4
	// calls for 4 spans): quarantined.
	srv.setScript(refusedEverywhere(7)...)
	require.NoError(t, exp.ConsumeTraces(ctx, testTraces(4)))
	got = exp.settled(t, "quarantined", 0)
	require.EqualValues(t, 4, got.Quarantined)

	// A partial success: the refused part is dropped{partial}.
	srv.setScript(grpcAnswer{rejected: 2})
	require.NoError(t, exp.ConsumeTraces(ctx, testTraces(5)))
	got = exp.settled(t, "partial", 0)
	require.EqualValues(t, 2, got.Dropped["partial"])
	require.EqualValues(t, 23, got.Delivered)
	require.EqualValues(t, 29, got.Accepted)
	require.Zero(t, got.Duplicates)
}

// TestLedgerQuarantineFullDropsRejected: without room in the quarantine the
// rejected batch is dropped{rejected}, and the identity still holds.
func TestLedgerQuarantineFullDropsRejected(t *testing.T) {
	srv := startGRPCServer(t, refusedEverywhere(11)...) // 6 spans split down to single ones: 1 + 2 + 4 + 4 calls
	cfg := fastConfig(srv.addr)                         // no dead letter, no quarantine
	exp := startLedgerExporter(t, cfg)
	require.NoError(t, exp.ConsumeTraces(context.Background(), testTraces(6)))
	got := exp.settled(t, "rejected", 0)
	require.EqualValues(t, 6, got.Dropped["rejected"])
}

// TestLedgerWALSurvivesRestart: the counters persist with the log's
// checkpoint; what was pending in the log at shutdown is delivered after
// the next start, and the identity holds over both runs.
func TestLedgerWALSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	srv.setDown(true)
	cfg := func() *Config { return onDisk(srv.addr, dir, 200*time.Millisecond, 50*time.Millisecond) }
	exp := startLedgerExporter(t, cfg())
	ctx := context.Background()
	srv.setDown(false)
	exp.consume(t, 1, 4)
	exp.settled(t, "delivered", 0)
	srv.setDown(true)
	exp.consume(t, 5, 10)
	got := exp.settled(t, "pending while down", 60)
	require.EqualValues(t, 100, got.Accepted)
	require.NoError(t, exp.Shutdown(ctx))
	require.NotContains(t, ledgerview.All(), exp.id, "unregistered at shutdown")

	srv.setDown(false)
	exp2 := startLedgerExporter(t, cfg())
	got = exp2.settled(t, "after restart", 0)
	require.EqualValues(t, 100, got.Accepted)
	require.EqualValues(t, 100, got.Delivered)
	require.Zero(t, got.Duplicates)
	require.Len(t, srv.Received(), 100)
}

// TestLedgerWALCrashImage: a copy of the log and dead-letter directories
// taken while the exporter runs is what a SIGKILL leaves. Started on it,
// the exporter rebuilds pending from disk; the identity holds once
// recovery ends and again after the drain; accepted is what was accepted
// before the image; re-deliveries count as duplicates.
func TestLedgerWALCrashImage(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	c := onDisk(srv.addr, dir, 100*time.Millisecond, time.Hour)
	exp := startLedgerExporter(t, c)
	exp.consume(t, 1, 5)
	exp.settled(t, "delivered", 0)
	// Backend down: the next batches are given up on and spooled.
	srv.setDown(true)
	exp.consume(t, 6, 10)
	exp.settled(t, "spooled", 50)
	time.Sleep(300 * time.Millisecond) // a checkpoint or more
	image := filepath.Join(t.TempDir(), "image")
	copyTree(t, dir, image)

	srv.setDown(false)
	before := len(srv.Received())
	exp2 := startLedgerExporter(t, onDisk(srv.addr, image, c.RetryConfig.MaxElapsedTime, 20*time.Millisecond))
	got := exp2.settled(t, "drained after the crash", 0)
	require.EqualValues(t, 100, got.Accepted)
	received := 0
	for _, n := range srv.Received() {
		received += n
	}
	require.Len(t, srv.Received(), 100, "every span at the backend")
	require.EqualValues(t, 100, got.Delivered)
	// delivered + duplicates is what the backend got (nothing was in
	// flight when the image was taken).
	require.EqualValues(t, received, got.Delivered+got.Duplicates, "backend received %d (%d before the image)", received, before)
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o750)
		}
		if info.Name() == "LOCK" || strings.HasSuffix(info.Name(), ".lock") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o640)
	}))
}

// TestLedgerShutdownDropCounted: an in-memory queue that stops with a batch
// it could write nowhere counts it as dropped{shutdown}.
func TestLedgerShutdownDropCounted(t *testing.T) {
	e := newStageExporter(t, fastConfig("127.0.0.1:1"))
	p := newPlacement(t, e, "", answering(always(retryable())))
	e.led.l.Accept(3)
	require.Error(t, p.keep(context.Background(), tracesRequest(testTraces(3)), retryable()))
	s, holds := e.led.l.Read()
	require.True(t, holds, "%+v", s)
	require.EqualValues(t, 3, s.Dropped[ledger.Shutdown])
}

// TestLedgerCountsDuplicatesFoundOnDisk: the crash image of a batch that
// was written to the dead letter while the log's checkpoint still called
// its record unacknowledged (the log from before the spool, the dead
// letter from after it). At start the batch is on disk twice: pending
// counts it once, and its second delivery is counted as a duplicate.
func TestLedgerCountsDuplicatesFoundOnDisk(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	srv.setDown(true)
	c := onDisk(srv.addr, dir, 1500*time.Millisecond, time.Hour)
	exp := startLedgerExporter(t, c)
	require.NoError(t, exp.ConsumeTraces(context.Background(), tracesWithPrefix(1, 30)))
	time.Sleep(400 * time.Millisecond) // checkpointed: accepted 30, its record unacknowledged
	image := filepath.Join(t.TempDir(), "image")
	copyTree(t, filepath.Join(dir, "wal"), filepath.Join(image, "wal"))
	waitFor(t, "the batch in the dead letter", func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "dl", "*.traces.pb"))
		return len(files) == 1
	})
	exp.settled(t, "spooled", 30)
	copyTree(t, filepath.Join(dir, "dl"), filepath.Join(image, "dl"))

	srv.setDown(false)
	exp2 := startLedgerExporter(t, onDisk(srv.addr, image, c.RetryConfig.MaxElapsedTime, 20*time.Millisecond))
	got := exp2.settled(t, "drained", 0)
	require.EqualValues(t, 30, got.Accepted)
	require.EqualValues(t, 30, got.Delivered)
	require.EqualValues(t, 30, got.Duplicates)
	n := 0
	for _, k := range srv.Received() {
		n += k
	}
	require.Equal(t, 60, n, "the backend got each span twice")
}

// refusedEverywhere scripts n refusals as invalid: a batch and every part
// its isolation splits it into.
func refusedEverywhere(n int) []grpcAnswer {
	out := make([]grpcAnswer, n)
	for i := range out {
		out[i] = grpcAnswer{err: invalidArgument()}
	}
	return out
}

// TestLedgerCountsDuplicatesDeliveredBeforeCheckpoint: the crash image of
// a SIGKILL right after a delivery, before the log's next checkpoint (it
// is written every 100 ms): the checkpoint still calls the delivered
// record unacknowledged, so the restart delivers it again. That second
// delivery is a duplicate: delivered counts each span once, duplicates
// the re-delivery, and delivered + duplicates is what the backend got.
func TestLedgerCountsDuplicatesDeliveredBeforeCheckpoint(t *testing.T) {
	dir := t.TempDir()
	srv := startGRPCServer(t)
	c := fastConfig(srv.addr)
	c.PersistentQueue.Directory = filepath.Join(dir, "wal")
	c.PersistentQueue.DrainTimeout = 100 * time.Millisecond
	c.DeadLetter.Directory = filepath.Join(dir, "dl")
	exp := startLedgerExporter(t, c)
	ctx := context.Background()
	require.NoError(t, exp.ConsumeTraces(ctx, tracesWithPrefix(1, 10)))
	exp.settled(t, "first batch delivered", 0)
	ckptPath := filepath.Join(dir, "wal", "traces", "checkpoint")
	waitFor(t, "a checkpoint with the first batch acknowledged", func() bool { return wal.CheckpointCoversAll(ckptPath) })
	ckpt, err := os.ReadFile(ckptPath)
	require.NoError(t, err)
	require.NoError(t, exp.ConsumeTraces(ctx, tracesWithPrefix(2, 10)))
	got := exp.settled(t, "second batch delivered", 0)
	require.EqualValues(t, 20, got.Delivered)
	// What a SIGKILL now leaves: everything on disk as it is, the
	// checkpoint from before the second delivery.
	image := filepath.Join(t.TempDir(), "image")
	copyTree(t, dir, image)
	require.NoError(t, os.WriteFile(filepath.Join(image, "wal", "traces", "checkpoint"), ckpt, 0o640))

	c2 := *c
	c2.PersistentQueue.Directory = filepath.Join(image, "wal")
	c2.DeadLetter.Directory = filepath.Join(image, "dl")
	exp2 := startLedgerExporter(t, &c2)
	received := 0
	waitFor(t, "the second batch delivered again", func() bool {
		received = 0
		for _, n := range srv.Received() {
			received += n
		}
		return received == 30
	})
	// The backend counts the re-delivery before the exporter reads its
	// answer; the restored ledger already holds with pending 0 (the debt
	// covers the copy on disk), so wait for the count itself.
	waitFor(t, "the re-delivery counted", func() bool {
		tm := exp2.terms(t)
		return tm.Delivered+tm.Duplicates >= int64(received)
	})
	got = exp2.settled(t, "drained after the crash", 0)
	require.EqualValues(t, 20, got.Accepted)
	require.EqualValues(t, 20, got.Delivered, "each span counted delivered once")
	require.EqualValues(t, 10, got.Duplicates, "the re-delivery of the second batch")
	require.EqualValues(t, received, got.Delivered+got.Duplicates)
}
