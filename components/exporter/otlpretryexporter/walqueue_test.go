package otlpretryexporter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// walExporter is a factory-built traces exporter on the write-ahead log.
type walExporter struct {
	exporter.Traces
	te *testExporter // for counter()
}

func startWALExporter(t *testing.T, dir, endpoint string, tweak func(*Config)) *walExporter {
	t.Helper()
	cfg := fastConfig(endpoint)
	cfg.PersistentQueue.Directory = dir
	cfg.PersistentQueue.Fsync = "always"
	if tweak != nil {
		tweak(cfg)
	}
	require.NoError(t, confmap.Validate(cfg))
	tt := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	w := &walExporter{Traces: exp, te: &testExporter{tel: tt}}
	t.Cleanup(func() {
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, tt.Shutdown(context.Background()))
	})
	return w
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWALDeliversConcatenatedBatches(t *testing.T) {
	srv := startGRPCServer(t)
	release := srv.hold() // let requests pile up so that batches are cut from several
	exp := startWALExporter(t, t.TempDir(), srv.addr, func(c *Config) {
		c.PersistentQueue.NumConsumers = 1
		c.PersistentQueue.BatchSize = 200
	})
	for p := byte(1); p <= 20; p++ {
		require.NoError(t, exp.ConsumeTraces(context.Background(), tracesWithPrefix(p, 50)))
	}
	release()
	waitFor(t, "1000 spans", func() bool { return len(srv.Received()) == 1000 })
	for id, n := range srv.Received() {
		require.Equal(t, 1, n, "span %s delivered %d times", id, n)
	}
	// 20 requests of 50 spans, cut into batches of up to 200: the first
	// batch was taken before the others arrived, the rest are merged.
	require.Less(t, srv.Calls(), 20, "requests were not merged into batches")
	for _, b := range srv.Batches() {
		require.LessOrEqual(t, b.SpanCount(), 200)
	}
	waitFor(t, "sent_items 1000", func() bool { return exp.te.counter(t, "otelcol_otlp_retry_sent_items") == 1000 })
}

// TestWALBatchTimeoutJoinsSmallRequests: small requests arriving one by one
// (each answered once it is in the log) leave in batches of batch_size,
// not in one export each, while the batch waits up to batch_timeout.
func TestWALBatchTimeoutJoinsSmallRequests(t *testing.T) {
	srv := startGRPCServer(t)
	exp := startWALExporter(t, t.TempDir(), srv.addr, func(c *Config) {
		c.PersistentQueue.BatchSize = 100
		c.PersistentQueue.BatchTimeout = 10 * time.Second // generous: the batches fill long before
	})
	for p := byte(1); p <= 40; p++ {
		require.NoError(t, exp.ConsumeTraces(context.Background(), tracesWithPrefix(p, 5)))
	}
	waitFor(t, "200 spans", func() bool { return len(srv.Received()) == 200 })
	for id, n := range srv.Received() {
		require.Equal(t, 1, n, "span %s delivered %d times", id, n)
	}
	require.Equal(t, 2, srv.Calls(), "40 requests of 5 spans in batches of 100")
	for _, b := range srv.Batches() {
		require.Equal(t, 100, b.SpanCount())
	}
}

func TestWALKeepsDataAcrossRestartWhileBackendDown(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setDown(true)
	dir := t.TempDir()
	cfg := func(c *Config) {
		c.PersistentQueue.DrainTimeout = 100 * time.Millisecond
		c.RetryConfig.MaxElapsedTime = 200 * time.Millisecond // gives up often: kept in the log
	}
	tt := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	c := fastConfig(srv.addr)
	c.PersistentQueue.Directory = dir
	cfg(c)
	exp, err := NewFactory().CreateTraces(context.Background(), set, c)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	for p := byte(1); p <= 10; p++ {
		require.NoError(t, exp.ConsumeTraces(context.Background(), tracesWithPrefix(p, 30)))
	}
	time.Sleep(400 * time.Millisecond) // at least one give-up: no dead letter, so kept
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, tt.Shutdown(context.Background()))
	require.Empty(t, srv.Received())

	srv.setDown(false)
	exp2 := startWALExporter(t, dir, srv.addr, cfg)
	waitFor(t, "300 spans after restart", func() bool { return len(srv.Received()) == 300 })
	require.Zero(t, exp2.te.counter(t, "otelcol_otlp_retry_dropped_items"))
}

func TestWALFullRefusesRetryable(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setDown(true)
	exp := startWALExporter(t, t.TempDir(), srv.addr, func(c *Config) {
		c.PersistentQueue.MaxBytes = minWALBytes // the smallest log validate allows
		c.PersistentQueue.DrainTimeout = 0
	})
	var accepted, refused int
	var refuseErr error
	pad := strings.Repeat("x", 1<<20) // 1 MiB a request: the log is full after 32
	for p := 0; p < 40; p++ {
		td := tracesWithPrefix(byte(p), 20)
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("pad", pad)
		err := exp.ConsumeTraces(context.Background(), td)
		if err != nil {
			refused++
			refuseErr = err
			continue
		}
		accepted++
	}
	require.NotZero(t, refused, "a full log accepted everything")
	require.Equal(t, int64(minWALBytes), exp.te.counter(t, "otelcol_otlp_retry_wal_max_bytes"), "the bound beside the bytes")
	require.NotZero(t, accepted)
	require.False(t, consumererror.IsPermanent(refuseErr), "refusal must be retryable: %v", refuseErr)
	require.Equal(t, int64(refused*20), exp.te.counter(t, "otelcol_otlp_retry_refused_items", "reason", "wal_full"))
	// Once the backend is back, everything accepted is delivered.
	srv.setDown(false)
	waitFor(t, "accepted spans", func() bool { return len(srv.Received()) == accepted*20 })
	require.Zero(t, exp.te.counter(t, "otelcol_otlp_retry_dropped_items"))
	waitFor(t, "log emptied", func() bool { return exp.te.counter(t, "otelcol_otlp_retry_wal_records") == 0 })
}

func TestWALGiveUpMovesToDeadLetterWithRoom(t *testing.T) {
	srv := startGRPCServer(t)
	srv.setDown(true)
	dl := t.TempDir()
	exp := startWALExporter(t, t.TempDir(), srv.addr, func(c *Config) {
		c.RetryConfig.MaxElapsedTime = 50 * time.Millisecond
		c.DeadLetter.Directory = dl
		c.DeadLetter.ReplayInterval = time.Hour
		c.DeadLetter.ReplayOnStart = false
		c.PersistentQueue.DrainTimeout = 0
	})
	require.NoError(t, exp.ConsumeTraces(context.Background(), tracesWithPrefix(1, 10)))
	waitFor(t, "dead letter", func() bool { return exp.te.counter(t, "otelcol_otlp_retry_dead_letter_items") == 10 })
	waitFor(t, "log acknowledged", func() bool { return exp.te.counter(t, "otelcol_otlp_retry_wal_records") == 0 })
}

func TestWALConfigValidate(t *testing.T) {
	cfg := fastConfig("localhost:4317")
	cfg.PersistentQueue.Directory = "/tmp/x"
	cfg.PersistentQueue.Fsync = "sometimes"
	cfg.PersistentQueue.MaxBytes = 0
	err := confmap.Validate(cfg)
	require.ErrorContains(t, err, "persistent_queue: fsync")
	require.ErrorContains(t, err, "max_bytes: at least 33554432")

	cfg = fastConfig("localhost:4317")
	cfg.PersistentQueue.Directory = "/tmp/x"
	q := cfg.QueueConfig.Get()
	storage := component.MustNewID("file_storage")
	q.StorageID = &storage
	require.True(t, errors.Is(confmap.Validate(cfg), errBothQueues))
}

func TestWALOverHTTPPostsConcatenatedBody(t *testing.T) {
	srv := startHTTPServer(t)
	exp := startWALExporter(t, t.TempDir(), srv.URL, func(c *Config) {
		c.Protocol = ProtocolHTTP
		c.PersistentQueue.Fsync = "never"
	})
	for p := byte(1); p <= 10; p++ {
		require.NoError(t, exp.ConsumeTraces(context.Background(), tracesWithPrefix(p, 30)))
	}
	waitFor(t, "300 spans over HTTP", func() bool { return len(srv.Received()) == 300 })
	for id, n := range srv.Received() {
		require.Equal(t, 1, n, "span %s delivered %d times", id, n)
	}
}
