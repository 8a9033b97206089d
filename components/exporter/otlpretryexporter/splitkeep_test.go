package otlpretryexporter

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSplitBatchKeptHalfSurvivesRestart is issue 20 item 7 end to end,
// through the write-ahead log and a real gRPC backend that takes 32 KiB
// messages and is down. One batch holds two resources: one span of 64 KiB
// and ten small spans. The backend refuses the batch as too large, so it is
// split: the big span alone is still too large, refused for good and
// dropped (no quarantine); the ten small spans are retried until shutdown,
// then kept in the log (retryable). The batch's answer must be retryable:
// a permanent one makes the log acknowledge the whole batch, and the ten
// kept spans are gone at the next start. After a restart with the backend
// up, the ten are delivered.
func TestSplitBatchKeptHalfSurvivesRestart(t *testing.T) {
	srv := startSmallGRPCServer(t, 32<<10)
	srv.setDown(true)
	dir := t.TempDir()
	tweak := func(c *Config) {
		c.ClientConfig.Compression = "none" // the big span stays big on the wire
		c.PersistentQueue.DrainTimeout = 100 * time.Millisecond
	}

	td := ptrace.NewTraces()
	big := tracesWithPrefix(1, 1)
	big.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("db.statement", strings.Repeat("x", 64<<10))
	big.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	small := tracesWithPrefix(2, 10)
	smallIDs := spanIDs(small)
	small.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())

	exp := startWALExporter(t, dir, srv.addr, tweak)
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	// The big span dropped, the small half being retried against the outage.
	waitFor(t, "the big span dropped", func() bool {
		return exp.te.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "rejected") == 1
	})
	waitFor(t, "the small half retried", func() bool { return srv.Calls() >= 2 })
	require.NoError(t, exp.Shutdown(context.Background()))
	require.Empty(t, srv.Received())

	srv.setDown(false)
	startWALExporter(t, dir, srv.addr, tweak)
	waitFor(t, "the ten kept spans delivered after the restart", func() bool { return len(srv.Received()) == len(smallIDs) })
	require.Equal(t, smallIDs, srv.Received(), "each kept span once, the big one never")
}

// pickyServer is a real OTLP/gRPC trace backend that refuses, as invalid
// (Internal, what a protobuf-go server answers for invalid UTF-8), any
// request holding a span whose ID starts with bad, and answers Unavailable
// to the rest while down.
type pickyServer struct {
	ptraceotlp.UnimplementedGRPCServer
	addr    string
	bad     byte
	down    atomic.Bool
	refused atomic.Int64 // requests refused as invalid
	downs   atomic.Int64 // requests answered Unavailable
	mu      sync.Mutex
	got     []ptrace.Traces
}

func startPickyServer(t *testing.T, bad byte) *pickyServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &pickyServer{addr: l.Addr().String(), bad: bad}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *pickyServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	for id := range spanIDs(req.Traces()) {
		if strings.HasPrefix(id, fmt.Sprintf("%02x", s.bad)) {
			s.refused.Add(1)
			return ptraceotlp.NewExportResponse(), status.Error(codes.Internal, "string field contains invalid UTF-8")
		}
	}
	if s.down.Load() {
		s.downs.Add(1)
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "backend down")
	}
	cp := ptrace.NewTraces()
	req.Traces().CopyTo(cp)
	s.mu.Lock()
	s.got = append(s.got, cp)
	s.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

func (s *pickyServer) Received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countSpans(s.got)
}

// TestIsolatedBatchKeptHalfSurvivesRestart is the same loss on the other
// split path: one client's request the backend refuses as invalid, cut
// into one batch with ten good spans, while the backend is down for the
// rest. The batch is split to isolate the bad request: it is refused on
// its own and dropped (no quarantine), the ten are kept in the log at
// shutdown, and delivered after a restart.
func TestIsolatedBatchKeptHalfSurvivesRestart(t *testing.T) {
	srv := startPickyServer(t, 1)
	srv.down.Store(true)
	dir := t.TempDir()
	tweak := func(c *Config) { c.PersistentQueue.DrainTimeout = 100 * time.Millisecond }

	td := ptrace.NewTraces()
	tracesWithPrefix(1, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	good := tracesWithPrefix(2, 10)
	goodIDs := spanIDs(good)
	good.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())

	exp := startWALExporter(t, dir, srv.addr, tweak)
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	// The batch and the bad request alone refused, the good half retried
	// against the outage; the bad request is placed (dropped) once its
	// sibling settles, here at shutdown.
	waitFor(t, "the bad request isolated", func() bool { return srv.refused.Load() >= 2 && srv.downs.Load() >= 2 })
	require.NoError(t, exp.Shutdown(context.Background()))
	require.EqualValues(t, 1, exp.te.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "rejected"))
	require.Empty(t, srv.Received())

	srv.down.Store(false)
	startWALExporter(t, dir, srv.addr, tweak)
	waitFor(t, "the ten kept spans delivered after the restart", func() bool { return len(srv.Received()) == len(goodIDs) })
	require.Equal(t, goodIDs, srv.Received(), "each kept span once, the bad one never")
}
