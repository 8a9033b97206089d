package reliability

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// What the trace_registry README promises about the bytes it keeps, which
// the flood tests below hold the running gateway to.
const (
	// registryLabelBytes is the longest service.name value it keeps.
	registryLabelBytes = 256
	// registryLabelBudget is what its names may take: 1 MiB of interned
	// service names and up to 1000 label values of 1 KiB.
	registryLabelBudget = 2 << 20
	// gcHeadroom is how far the Go heap may lie above what is live: the
	// heap sample includes garbage the next GC frees (GOGC 100 lets it
	// reach twice the live heap), here a few 1 MiB requests' worth.
	gcHeadroom = 64 << 20
	// heapMetric is the collector's own runtime heap gauge.
	heapMetric = "otelcol_process_runtime_heap_alloc_bytes"
)

// discardBackend is an OTLP/gRPC backend that counts spans and keeps
// nothing: a flood of huge resources costs the test process nothing.
type discardBackend struct {
	ptraceotlp.UnimplementedGRPCServer
	spans atomic.Int64
	addr  string
}

func (b *discardBackend) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	b.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

func startDiscardBackend(t *testing.T) *discardBackend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	b := &discardBackend{addr: lis.Addr().String()}
	ptraceotlp.RegisterGRPCServer(srv, b)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return b
}

// startRegistryGateway runs configs/gateway.yaml (fault-test settings:
// memory_limiter at memLimitMiB) exporting to b.
func startRegistryGateway(t *testing.T, b *discardBackend, extra ...string) *harness.Collector {
	t.Helper()
	c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + b.addr, "API_KEY=flood-test"},
		Set: faultGatewaySets(t.TempDir(), extra...),
	})
	c.WaitReady(30 * time.Second)
	return c
}

// namedSpan is one request: a span whose resource's service.name is name.
func namedSpan(name string, seq int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", name)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("flood")
	sp.SetTraceID(pcommon.TraceID{0xf1, 0x00, byte(seq >> 8), byte(seq), runNonce[0], runNonce[1], runNonce[2], runNonce[3], 1})
	sp.SetSpanID(pcommon.SpanID{0xf1, byte(seq >> 8), byte(seq), 1})
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	return td
}

// floodName is the i-th distinct service.name of size bytes: distinct in
// its first bytes, so that a kept prefix stays distinct too.
func floodName(i, size int) string {
	p := fmt.Sprintf("flood-%04d-", i)
	return p + strings.Repeat("x", size-len(p))
}

// sendNamed sends one request per name (seq from first on) and returns how
// many the gateway refused.
func sendNamed(t *testing.T, conn *grpc.ClientConn, first int, names ...string) (refused int, lastErr error) {
	t.Helper()
	for i, name := range names {
		if err := exportGRPCWithin(conn, namedSpan(name, first+i), 20*time.Second); err != nil {
			refused++
			lastErr = err
		}
	}
	return refused, lastErr
}

// minHeap samples the gateway's heap gauge n times, every 200 ms, while a
// small request goes through before each (so that the runtime keeps
// collecting), and returns the smallest sample: what is live, plus the
// garbage no collection freed yet. It adds the requests acknowledged to
// *acked (a refusal is the caller's to check, through its counts).
func minHeap(t *testing.T, c *harness.Collector, conn *grpc.ClientConn, seq, n int, acked *int) float64 {
	t.Helper()
	lowest := -1.0
	for i := range n {
		if exportGRPC(conn, namedSpan("heap-probe", seq+i)) == nil {
			*acked++
		}
		time.Sleep(200 * time.Millisecond)
		v := metric(t, c, heapMetric)
		if lowest < 0 || v < lowest {
			lowest = v
		}
	}
	return lowest
}

// TestRegistryServiceNameFlood is issue 20's repro: one client sends 300
// requests, each with a distinct 1 MiB service.name (the gateway accepts
// 16 MiB messages). Expected: trace_registry keeps at most 256 bytes of a
// name and at most its label budget of names, so the heap stays within
// baseline + label budget + GC headroom, memory_limiter refuses nothing
// during or after the flood, every span is delivered and /health is 200.
// Before the fix the registry kept every name whole for the life of the
// process: about 217 names in, memory_limiter refused every request, for
// good.
func TestRegistryServiceNameFlood(t *testing.T) {
	needBinary(t)
	o := record(t)
	b := startDiscardBackend(t)
	c := startRegistryGateway(t, b)
	conn := grpcConn(t, c.GRPCEndpoint(), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))

	acked := 0 // requests acknowledged, one span each
	before := minHeap(t, c, conn, 0, 10, &acked)

	const floods, size = 300, 1 << 20
	names := make([]string, floods)
	for i := range names {
		names[i] = floodName(i, size)
	}
	start := time.Now()
	refused, lastErr := sendNamed(t, conn, 1000, names...)
	acked += floods - refused
	t.Logf("flood: %d requests of a %d-byte service.name in %s, %d refused (last: %v)",
		floods, size, time.Since(start).Round(time.Millisecond), refused, lastErr)

	after := minHeap(t, c, conn, 100, 15, &acked)
	bound := before + registryLabelBudget + gcHeadroom
	t.Logf("heap before %.1f MiB, after the flood %.1f MiB, bound %.1f MiB (before + label budget %d MiB + GC headroom %d MiB)",
		before/(1<<20), after/(1<<20), bound/(1<<20), registryLabelBudget>>20, gcHeadroom>>20)

	// Nothing refused once the flood stops: 30 requests over 3 s.
	var afterRefused int
	for i := range 30 {
		if err := exportGRPC(conn, namedSpan("after-flood", 5000+i)); err != nil {
			afterRefused++
			lastErr = err
		} else {
			acked++
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the flood: %d of 30 refused", afterRefused)
	waitFor(30*time.Second, func() bool { return b.spans.Load() >= int64(acked) })
	o.Sent, o.Delivered = acked, int(b.spans.Load())
	o.Lost = max(0, acked-o.Delivered)
	o.PeakRSS = peakRSS(c)

	require.Zero(t, refused, "flood requests refused (last: %v)", lastErr)
	require.Zero(t, afterRefused, "requests refused after the flood (last: %v)", lastErr)
	require.LessOrEqual(t, after, bound, "heap after the flood")
	require.Zero(t, o.Lost, "acknowledged spans not delivered")
	requireAlive(t, c)
}

// TestRegistryDimensionFlood: with dimensions [service.name], 100 distinct
// service names of 100 KB (issue 20: /metrics grew to 51 MB a scrape).
// Expected: each label value is cut to 256 bytes, so both Prometheus
// endpoints grow by at most 100 values x the series of one value x (256
// bytes + the line around it), histograms of completed traces included.
func TestRegistryDimensionFlood(t *testing.T) {
	needBinary(t)
	o := record(t)
	b := startDiscardBackend(t)
	c := startRegistryGateway(t, b,
		"processors::trace_registry::dimensions=[service.name]",
		"processors::trace_registry::idle_timeout=1s")
	conn := grpcConn(t, c.GRPCEndpoint(), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))

	require.NoError(t, exportGRPC(conn, namedSpan("warm-up", 0)))
	// The warm-up trace completes: its histograms are in the baseline.
	require.True(t, waitFor(30*time.Second, func() bool {
		v, ok := metricValue(t, c, "otlp_traces_completed")
		return ok && v >= 1
	}), "warm-up trace never completed")
	sizes := func() (int, int) {
		_, tel, err := harness.Get(c.TelemetryURL())
		require.NoError(t, err)
		code, health, err := harness.Get(c.HealthURL("/metrics"))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		return len(tel), len(health)
	}
	telBefore, healthBefore := sizes()

	const values, size = 100, 100 << 10
	names := make([]string, values)
	for i := range names {
		names[i] = floodName(i, size)
	}
	refused, lastErr := sendNamed(t, conn, 1, names...)
	o.Sent = values + 1 - refused
	require.Zero(t, refused, "refused (last: %v)", lastErr)
	// Every flood trace completes, so each value has its histograms too.
	require.True(t, waitFor(30*time.Second, func() bool {
		v, ok := metricValue(t, c, "otlp_traces_completed")
		return ok && v >= values+1
	}), "flood traces never completed")
	telAfter, healthAfter := sizes()

	// Per value: 5 counters and gauges, and two histograms (16 + 13
	// buckets, +Inf, _sum and _count each): 40 lines of at most the label
	// value and 256 bytes of name, labels and number around it.
	const perValue = 40 * (registryLabelBytes + 256)
	grew := values * perValue
	t.Logf("/metrics (telemetry) %d -> %d bytes, health /metrics %d -> %d bytes; bound: +%d bytes",
		telBefore, telAfter, healthBefore, healthAfter, grew)
	o.Delivered = int(b.spans.Load())
	o.Lost = max(0, o.Sent-o.Delivered)
	o.PeakRSS = peakRSS(c)
	require.LessOrEqual(t, telAfter, telBefore+grew, "telemetry /metrics size")
	require.LessOrEqual(t, healthAfter, healthBefore+grew, "health /metrics size")
	requireAlive(t, c)
}
