package reliability

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestStreamFloodBounded (issue 26 item 3): 120,000 half-open gRPC streams
// (headers and a 5-byte length prefix, then nothing) on 1,200 connections
// against the gateway in its shipped memory cgroup, while a legitimate
// client sends small batches. Expected: no OOM kill, peak RSS under the
// limit, and every batch of the legitimate client accepted (after
// retryable refusals at most) and delivered.
func TestStreamFloodBounded(t *testing.T) {
	needBinary(t)
	o := record(t)
	gw, sink, cg, mem := startBoundedGateway(t)

	floodCtx, stopFlood := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopFlood()
	var (
		wg      sync.WaitGroup
		opened  int
		refused map[string]int
		err     error
	)
	wg.Go(func() {
		opened, refused, err = harness.StreamFlood(floodCtx, gw.GRPCEndpoint(), 1200, 100, 1<<20)
	})
	time.Sleep(2 * time.Second)

	// The legitimate client: 20 batches of 50 spans, each retried while
	// refused retryably, for as long as the flood lasts.
	conn, cerr := grpc.NewClient(gw.GRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, cerr)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	var sent []string
	answers := map[string]int{}
	start := time.Now()
	var legitErr error
batches:
	for i := range 20 {
		b := genBatch("stream-flood", 10, 5)
		for {
			ctx, cancel := context.WithTimeout(floodCtx, 10*time.Second)
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(b.td))
			cancel()
			out := harness.ErrOutcome(err)
			answers[out.Answer]++
			switch {
			case out.Accepted:
				sent = append(sent, b.spanIDs...)
				continue batches
			case !out.Retryable:
				legitErr = fmt.Errorf("batch %d refused for good: %w", i, err)
				break batches
			case floodCtx.Err() != nil:
				legitErr = fmt.Errorf("batch %d not accepted while the flood lasted: %w", i, err)
				break batches
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("legitimate client: %d of 20 batches accepted in %s during the flood; answers %v", len(sent)/50, time.Since(start).Round(time.Millisecond), answers)
	// RSS while the flood still holds its connections.
	o.PeakRSS = requireWithinLimit(t, gw, cg, mem)
	require.NoError(t, legitErr)
	stopFlood()
	wg.Wait()
	t.Logf("flood: %d streams opened; the gateway's answers %v (dial error: %v)", opened, refused, err)
	o.PeakRSS = requireWithinLimit(t, gw, cg, mem)
	tl := waitDelivered(sent, 60*time.Second, sink)
	tl.fill(o)
	require.Zero(t, tl.lost, "accepted spans lost, e.g. %v", tl.missing)
	requireAlive(t, gw)
}

// TestSlowClientsCutOffAndShutdown (issue 26 item 4): 100 HTTP connections
// trickling a header byte a second and 100 trickling the body are closed by
// the receiver within its timeouts (read_header_timeout, read_timeout).
// Then SIGTERM, with slow clients and half-open gRPC streams open before it
// and more opened during the drain, ends the process within drain_delay +
// the admission extension's shutdown_grace + the exporter's flush budget:
// what is still arriving once the drain is over is cut off, it does not
// hold the shutdown until its read timeout. A batch accepted before the
// SIGTERM is delivered.
func TestSlowClientsCutOffAndShutdown(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	// A drain of 3 s (the shipped 5 s would only make the test longer):
	// the receivers keep serving during it, so slow clients can still
	// connect, as they would in a pod that is leaving the Service.
	const drainDelay = 3 * time.Second
	gw := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=slow"},
		Set: append(harness.GatewaySets(t.TempDir()), "extensions::health::drain_delay="+drainDelay.String()),
	})
	gw.WaitReady(30 * time.Second)
	httpAddr := strings.TrimPrefix(gw.HTTPEndpoint(), "http://")

	// The shipped timeouts (configs/gateway.yaml): headers 5 s, whole
	// request 15 s, admission shutdown_grace 1 s, persistent_queue
	// drain_timeout 10 s (the flush budget). Generous room for a loaded
	// machine, far below "never".
	const (
		readHeaderTimeout, readTimeout = 5 * time.Second, 15 * time.Second
		shutdownGrace, flush           = 1 * time.Second, 10 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout+20*time.Second)
	defer cancel()
	slow := harness.SlowClients(ctx, httpAddr, 100, time.Second)
	var open int
	var headers, bodies time.Duration
	for i, c := range slow {
		if !c.Closed {
			open++
		}
		if i < len(slow)/2 {
			headers = max(headers, c.After)
		} else {
			bodies = max(bodies, c.After)
		}
	}
	t.Logf("slow clients: %d of %d still open after %s; the last trickling headers closed after %s, the last trickling a body after %s",
		open, len(slow), readTimeout+20*time.Second, headers.Round(time.Millisecond), bodies.Round(time.Millisecond))
	// Not fatal: the shutdown below is worth seeing either way.
	assert.Zero(t, open, "slow HTTP clients never cut off")
	assert.LessOrEqual(t, headers, readHeaderTimeout+3*time.Second, "header tricklers held past read_header_timeout")
	assert.LessOrEqual(t, bodies, readTimeout+3*time.Second, "body tricklers held past read_timeout")

	// A batch the gateway acknowledges before the SIGTERM: the stop must
	// deliver it.
	conn := grpcConn(t, gw.GRPCEndpoint())
	b := genBatch("slow-shutdown", 20, 5)
	require.NoError(t, exportGRPC(conn, b.td))

	// Shutdown with slow clients and stalled streams open, and more of
	// both arriving during the drain (1 s before its end), which without
	// a cut-off hold the stop for their whole read_timeout.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel2()
	var wg sync.WaitGroup
	slowLoad := func() {
		wg.Go(func() { harness.SlowClients(ctx2, httpAddr, 50, time.Second) })
		// One half-open stream a batch: each reserves 16 MiB of the
		// 64 MiB admission budget, and more would leave the HTTP bodies
		// refused (503) at once rather than held.
		wg.Go(func() { _, _, _ = harness.StreamFlood(ctx2, gw.GRPCEndpoint(), 1, 1, 1<<20) })
	}
	slowLoad()
	time.Sleep(2 * time.Second)
	start := time.Now()
	gw.Signal(syscall.SIGTERM)
	time.Sleep(drainDelay - time.Second)
	slowLoad()
	budget := drainDelay + shutdownGrace + flush
	_, exited := gw.Wait(drainDelay + readTimeout + 30*time.Second)
	took := time.Since(start)
	cancel2()
	wg.Wait()
	o.Scenario += fmt.Sprintf(" (slow clients cut off after %.1f s (headers), %.1f s (bodies); SIGTERM to exit %.1f s, bound %.0f s)",
		headers.Seconds(), bodies.Seconds(), took.Seconds(), budget.Seconds())
	t.Logf("SIGTERM to exit: %s (bound drain_delay + shutdown_grace + flush = %s)", took.Round(time.Millisecond), budget)
	require.True(t, exited, "still running %s after SIGTERM", took)
	for line := range strings.Lines(gw.Output()) {
		if strings.Contains(line, "cut off") {
			t.Logf("gateway: %s", strings.TrimSpace(line))
		}
	}
	tl := waitDelivered(b.spanIDs, 10*time.Second, sink)
	tl.fill(o)
	assert.Zero(t, tl.lost, "acknowledged spans lost, e.g. %v", tl.missing)
	require.LessOrEqual(t, took, budget, "shutdown held up by slow clients")
}
