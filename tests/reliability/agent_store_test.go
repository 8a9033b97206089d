package reliability

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestAgentCorruptQueueStoreAtStart: the agent's queue files are damaged
// while it is down (the gateway was down too, so they hold acknowledged
// spans): the traces queue is cut short (a disk that filled, a file system
// repaired after a crash), the metrics queue's pages are noise (a torn
// write), the logs queue is intact (no logs were sent: it holds no items). Upstream file_storage, even with its
// `recreate` option, stops the collector on such a file at every start
// (contrib #35899). Expected: the agent starts; the two damaged files are
// in corrupt/ byte for byte, counted, and the metric the alert
// OtlpcolQueueStoreSetAside watches says so; the intact one is kept; every
// span acknowledged after the restart is delivered (0 lost).
func TestAgentCorruptQueueStoreAtStart(t *testing.T) {
	needBinary(t)
	o := record(t)
	gw := harness.StartSink(t)
	dir := t.TempDir()
	queue := filepath.Join(dir, "queue")

	// Acknowledged spans in the queue files, the gateway down.
	c, l := loadAgentGatewayDown(t, gw, dir, "agent-corrupt-before")
	l.Stop()
	before := l.Accepted()
	c.Signal(sigterm)
	_, ok := c.Wait(40 * time.Second)
	require.True(t, ok, "the agent did not stop")

	traces := onlyFile(t, queue, "exporter_load_balancing_*traces")
	metrics := onlyFile(t, queue, "exporter_otlp_grpc_gateway_*metrics")
	logs := onlyFile(t, queue, "exporter_otlp_grpc_gateway_*logs")
	page := int64(os.Getpagesize())
	require.Greater(t, fileSize(t, traces), 8*page, "the traces queue should hold many pages")
	require.NoError(t, os.Truncate(traces, 4*page))
	noise(t, metrics, 2*page)
	damaged := map[string][32]byte{filepath.Base(traces): digest(t, traces), filepath.Base(metrics): digest(t, metrics)}

	// Upstream file_storage on a copy of the same files does not start.
	stockDir := t.TempDir()
	copyDir(t, queue, stockDir)
	stock := harness.Start(t, harness.Config("agent.yaml"), harness.Options{Set: stockStorage(gw, stockDir)})
	err, exited := stock.Wait(60 * time.Second)
	require.True(t, exited, "upstream file_storage started on the damaged queue: the damage is not the one this test is about")
	require.Error(t, err, "upstream file_storage exited cleanly on the damaged queue")
	t.Logf("upstream file_storage (recreate: true) on the same files: %v, %s", err, crashLine(stock.Output()))

	// The guarded agent starts, sets the damaged files aside, keeps the rest.
	c2 := startAgent(t, gw, dir)
	assert.EqualValues(t, 2, metric(t, c2, "otelcol_guarded_file_storage_set_aside_files"))
	assert.EqualValues(t, 2, metric(t, c2, "otelcol_guarded_file_storage_corrupt_stored_files"))
	aside, err := filepath.Glob(filepath.Join(queue, "corrupt", "*"))
	require.NoError(t, err)
	require.Len(t, aside, 2)
	for _, f := range aside {
		// Set aside under its own name (".1", ... only after an earlier one).
		want, ok := damaged[filepath.Base(f)]
		require.True(t, ok, "unexpected file set aside: %s", f)
		assert.Equal(t, want, digest(t, f), "%s must be kept as it was", f)
	}
	// The intact file stays in use (compaction on start rewrites it, so
	// only its place is checked).
	_, err = os.Stat(logs)
	assert.NoError(t, err, "the intact logs queue must be kept in place")

	// The agent works: everything acknowledged now reaches the gateway.
	gw.SetFailure(nil)
	l2 := startAppLoad(t, c2.GRPCEndpoint(), "agent-corrupt-after", 2, 5*time.Second)
	time.Sleep(scaled(2*time.Second, 10*time.Second))
	l2.Stop()
	sent, refused := l2.Accepted(), l2.Refused()
	require.NotEmpty(t, sent, "nothing acknowledged after the restart: %v", refused)
	tl := waitDelivered(sent, 60*time.Second, gw)
	tl.fill(o)
	o.PeakRSS = peakRSS(c2)
	t.Logf("before the damage: %d spans acknowledged, kept on disk in corrupt/ (not replayed); after: acknowledged %d, delivered %d, duplicates %d",
		len(before), len(sent), tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, c2)
}

// stockStorage runs configs/agent.yaml on upstream's file_storage (with its
// recreate option, upstream's own answer to #35899) in dir.
func stockStorage(gw *harness.Sink, dir string) []string {
	return []string{
		"extensions::file_storage/queue::directory=" + dir,
		"extensions::file_storage/queue::create_directory=true",
		"extensions::file_storage/queue::fsync=true",
		"extensions::file_storage/queue::recreate=true",
		"extensions::file_storage/queue::compaction::on_start=true",
		"extensions::file_storage/queue::compaction::directory=" + dir,
		"extensions::guarded_file_storage/queue::directory=" + dir,
		"extensions::guarded_file_storage/queue::compaction::directory=" + dir,
		"service::extensions=[health, file_storage/queue]",
		"exporters::load_balancing::sending_queue::storage=file_storage/queue",
		"exporters::otlp_grpc/gateway::sending_queue::storage=file_storage/queue",
		"exporters::load_balancing::resolver::k8s=null",
		"exporters::load_balancing::resolver::static::hostnames=[" + gw.GRPCEndpoint() + "]",
		"exporters::otlp_grpc/gateway::endpoint=" + gw.GRPCEndpoint(),
	}
}

// onlyFile is the one file in dir matching pattern.
func onlyFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	require.Len(t, m, 1, "files matching %s in %s", pattern, dir)
	return m[0]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}

// noise overwrites path from offset to its end with bytes no page has.
func noise(t *testing.T, path string, from int64) {
	t.Helper()
	size := fileSize(t, path)
	require.Greater(t, size, from, "%s is too short to damage", path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{0xA5, 0x5A, 0xFF, 0x13}, int(size-from)/4), from)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func digest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// copyDir copies the regular files of from into to.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		dst, err := os.Create(filepath.Join(to, e.Name()))
		require.NoError(t, err)
		_, err = io.Copy(dst, src)
		require.NoError(t, err)
		require.NoError(t, src.Close())
		require.NoError(t, dst.Close())
	}
}

// crashLine is the line of out that says why the process ended: a panic,
// a fatal error or the collector's start-up error.
func crashLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		for _, p := range []string{"panic:", "fatal error:", "Error:"} {
			if strings.HasPrefix(l, p) {
				return l
			}
		}
	}
	return "(no panic or error line)"
}
