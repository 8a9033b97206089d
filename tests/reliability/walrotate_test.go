package reliability

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestWALRotationFails: configs/gateway.yaml with 64 KiB segments on a
// 2 MiB tmpfs. The active segment is filled to its boundary, then the next
// segment cannot be created: the disk is full, the log's directory was
// removed, or it is immutable (chattr +i). Expected: every request is
// answered at once with a retryable refusal (Unavailable with RetryInfo),
// counted in refused_items and logged; the log takes requests again once
// the cause is gone (where it can come back); SIGTERM stops the gateway in
// time. Needs root (mount, chattr); skipped otherwise.
func TestWALRotationFails(t *testing.T) {
	needBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	t.Run("disk-full", func(t *testing.T) {
		g := startRotationGateway(t)
		filler := fillDisk(t, g.dir)
		g.requireRefused(t, "disk_full")
		require.Equal(t, 1.0, metric(t, g.c, "otelcol_otlp_retry_disk_full"), "disk_full gauge while the log cannot rotate")
		require.NoError(t, os.Remove(filler))
		g.requireAccepted(t)
		require.Equal(t, 0.0, metric(t, g.c, "otelcol_otlp_retry_disk_full"), "disk_full gauge once the log writes again")
		g.c.Stop(20 * time.Second)
	})
	t.Run("directory-removed", func(t *testing.T) {
		g := startRotationGateway(t)
		require.NoError(t, os.RemoveAll(g.logDir))
		g.requireRefused(t, "wal_error")
		g.c.Stop(20 * time.Second)
	})
	t.Run("directory-immutable", func(t *testing.T) {
		g := startRotationGateway(t)
		if out, err := exec.Command("chattr", "+i", g.logDir).CombinedOutput(); err != nil {
			t.Skipf("chattr +i: %v: %s", err, out)
		}
		undo := func() { _ = exec.Command("chattr", "-i", g.logDir).Run() }
		t.Cleanup(undo) // before the tmpfs is unmounted (cleanups run last in, first out)
		g.requireRefused(t, "wal_error")
		undo()
		g.requireAccepted(t)
		g.c.Stop(20 * time.Second)
	})
}

// rotationGateway is a gateway whose traces log sits at a segment boundary.
type rotationGateway struct {
	c      *harness.Collector
	conn   *grpc.ClientConn
	dir    string // the tmpfs
	logDir string // the traces log
	sent   int    // spans accepted so far
}

const rotationSegment = 64 << 10

// startRotationGateway starts the gateway on a fresh 2 MiB tmpfs with the
// backend down (nothing leaves the log: the retry budget outlasts the test)
// and fills the active segment until the next request needs a new one.
func startRotationGateway(t *testing.T) *rotationGateway {
	t.Helper()
	dir := mountTmpfs(t, "2m")
	sink := harness.StartSink(t)
	sink.SetFailure(outage)
	c := startFaultGateway(t, sink, dir,
		"exporters::otlp_retry::persistent_queue::segment_bytes=65536",
		"exporters::otlp_retry::persistent_queue::drain_timeout=1s")
	g := &rotationGateway{c: c, conn: grpcConn(t, c.GRPCEndpoint()), dir: dir,
		logDir: filepath.Join(dir, "wal", "traces")}
	// One request of 5 spans is a few hundred bytes; stop when the active
	// segment has no room for two more.
	var prev, step int64
	for i := 0; ; i++ {
		require.Less(t, i, 1000, "the segment never reached its boundary")
		require.NoError(t, exportGRPC(g.conn, genBatch("rotation", 1, 5).td), "request %d before the boundary", i)
		g.sent += 5
		segs := walSegments(t, dir)
		require.Len(t, segs, 1, "the log rotated while filling the first segment")
		st, err := os.Stat(segs[0])
		require.NoError(t, err)
		if prev > 0 {
			step = max(step, st.Size()-prev)
		}
		prev = st.Size()
		if step > 0 && prev+2*step > rotationSegment {
			break
		}
	}
	// The last request that fits, so that the next one must rotate.
	require.NoError(t, exportGRPC(g.conn, genBatch("rotation", 1, 5).td))
	g.sent += 5
	require.Len(t, walSegments(t, dir), 1)
	return g
}

// requireRefused sends three gRPC requests and one OTLP/HTTP request: each
// must be refused at once as retryable with RetryInfo (HTTP: 503 with
// Retry-After), counted under reason and logged.
func (g *rotationGateway) requireRefused(t *testing.T, reason string) {
	t.Helper()
	for i := 0; i < 3; i++ {
		start := time.Now()
		err := exportGRPCWithin(g.conn, genBatch("rotation", 1, 5).td, 15*time.Second)
		took := time.Since(start)
		require.Error(t, err, "request %d past the boundary was accepted", i)
		st := status.Convert(err)
		require.Equal(t, codes.Unavailable, st.Code(), "request %d: %v (after %s)", i, err, took)
		var info *errdetails.RetryInfo
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				info = ri
			}
		}
		require.NotNil(t, info, "request %d: Unavailable without RetryInfo: %v", i, err)
		assert.Positive(t, info.GetRetryDelay().AsDuration())
	}
	// OTLP/HTTP: 503 with Retry-After.
	req, err := http.NewRequest(http.MethodPost, g.c.HTTPEndpoint()+"/v1/traces",
		bytes.NewReader(protoBody(t, genBatch("rotation", 1, 5).td)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err, "OTLP/HTTP request past the boundary")
	_ = resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"), "503 without Retry-After")

	v, ok := waitCounter(t, g.c, "otelcol_otlp_retry_refused_items", 20, 10*time.Second)
	require.True(t, ok, "refused_items %v, want at least 20", v)
	require.GreaterOrEqual(t, metric(t, g.c, "otelcol_otlp_retry_refused_items", `reason="`+reason+`"`), 20.0)
	require.True(t, waitFor(10*time.Second, func() bool {
		return strings.Contains(g.c.Output(), "refusing data with a retryable error")
	}), "the refusal was not logged")
	requireAlive(t, g.c)
}

// requireAccepted checks the log takes a request again.
func (g *rotationGateway) requireAccepted(t *testing.T) {
	t.Helper()
	require.NoError(t, exportGRPC(g.conn, genBatch("rotation", 1, 5).td), "request once the cause is gone")
	g.sent += 5
	require.Len(t, walSegments(t, g.dir), 2, "the log did not start its second segment")
}

// fillDisk writes a file under dir until the filesystem is full and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling the disk: %v", err)
			return path
		}
	}
}
