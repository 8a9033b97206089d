package reliability

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/tests/deploy"
	"github.com/otlpcol/otlpcol/tests/harness"
)

// bombSize is what each bomb and each legal request decompresses to: just
// under the receivers' 16 MiB limits, so none is refused for its size.
const bombSize = 15 << 20

// TestHostileInputStaysUnderMemoryLimit (issue 26 item 2): the gateway runs
// in a memory cgroup of the size deploy/k8s gives it (limits.memory, and
// GOMEMLIMIT as the StatefulSet sets it). 16 gRPC gzip bombs and 16 HTTP
// zstd bombs (a few hundred KB on the wire, 15 MiB each decompressed), and
// 8 clients sending legal 15 MiB requests at the same time. Expected: the
// kernel kills nothing, the peak RSS stays under the limit, every refusal
// is retryable, and every legal span a client was told OK for arrives.
func TestHostileInputStaysUnderMemoryLimit(t *testing.T) {
	needBinary(t)
	o := record(t)
	gw, sink, cg, mem := startBoundedGateway(t)

	// A request still refused when this ends was never acknowledged: it
	// counts as not sent, not as lost.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		sent    []string
		answers = map[string]int{}
		refused []harness.Outcome
	)
	note := func(out harness.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		answers[out.Answer]++
		if !out.Accepted && !out.Retryable {
			refused = append(refused, out)
		}
	}
	// 8 legal clients, half over gRPC and half over HTTP, one request
	// each, retrying what is refused retryably.
	for c := range 8 {
		wg.Go(func() {
			ids, ok := sendLegal(ctx, gw, c%2 == 0, note)
			if ok {
				mu.Lock()
				sent = append(sent, ids...)
				mu.Unlock()
			}
		})
	}
	// The bombs go at once, while the legal requests are in flight.
	time.Sleep(200 * time.Millisecond)
	for _, out := range harness.Bombs(ctx, gw.GRPCEndpoint(), gw.HTTPEndpoint(), 16, 16, bombSize) {
		note(out)
	}
	wg.Wait()

	t.Logf("answers: %v", answers)
	o.PeakRSS = requireWithinLimit(t, gw, cg, mem)
	require.Empty(t, refused, "refusals a client would not retry")
	tl := waitDelivered(sent, 90*time.Second, sink)
	tl.fill(o)
	require.NotZero(t, tl.sent, "no legal request was accepted")
	require.Zero(t, tl.lost, "accepted spans lost, e.g. %v", tl.missing)
	requireAlive(t, gw)
}

// TestAgentBombsStayUnderMemoryLimit (issue 26 item 2, the agent): the
// agent in a memory cgroup of its DaemonSet's size, 16 gRPC gzip bombs and
// 16 HTTP zstd bombs of 15 MiB each decompressed. Expected: no OOM kill,
// peak RSS under the limit, every refusal retryable.
func TestAgentBombsStayUnderMemoryLimit(t *testing.T) {
	needBinary(t)
	o := record(t)
	mem, err := deploy.WorkloadMemory(harness.RepoRoot(), "agent")
	require.NoError(t, err)
	cg := harness.MemoryCgroup(t, mem.Limit)
	t.Logf("memory cgroup %s (v2=%v): limit %d MiB, GOMEMLIMIT=%s", cg.Dir, cg.V2, mem.Limit>>20, mem.GoMemLimit)
	sink := harness.StartSink(t)
	agent := startAgentWith(t, sink, t.TempDir(), harness.Options{Env: []string{"GOMEMLIMIT=" + mem.GoMemLimit}, Cgroup: cg})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	answers := map[string]int{}
	var refused []harness.Outcome
	for range 2 {
		for _, out := range harness.Bombs(ctx, agent.GRPCEndpoint(), agent.HTTPEndpoint(), 16, 16, bombSize) {
			answers[out.Answer]++
			if !out.Accepted && !out.Retryable {
				refused = append(refused, out)
			}
		}
	}
	t.Logf("answers: %v", answers)
	o.PeakRSS = requireWithinLimit(t, agent, cg, mem)
	require.Empty(t, refused, "refusals a client would not retry")
	requireAlive(t, agent)
}

// startBoundedGateway runs configs/gateway.yaml against a fresh sink in a
// memory cgroup of the size deploy/k8s gives it (limits.memory, and
// GOMEMLIMIT as the StatefulSet sets it).
func startBoundedGateway(t *testing.T) (*harness.Collector, *harness.Sink, *harness.Cgroup, deploy.Memory) {
	t.Helper()
	mem, err := deploy.WorkloadMemory(harness.RepoRoot(), "gateway")
	require.NoError(t, err)
	cg := harness.MemoryCgroup(t, mem.Limit)
	t.Logf("memory cgroup %s (v2=%v): limit %d MiB, GOMEMLIMIT=%s", cg.Dir, cg.V2, mem.Limit>>20, mem.GoMemLimit)
	sink := harness.StartSink(t)
	gw := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env:    []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=hostile", "GOMEMLIMIT=" + mem.GoMemLimit},
		Set:    harness.GatewaySets(t.TempDir()),
		Cgroup: cg,
	})
	gw.WaitReady(30 * time.Second)
	return gw, sink, cg, mem
}

// requireWithinLimit checks the kernel killed nothing in cg and the
// collector's peak RSS stayed under the limit.
func requireWithinLimit(t *testing.T, c *harness.Collector, cg *harness.Cgroup, mem deploy.Memory) int64 {
	t.Helper()
	peak := peakRSS(c)
	kills, _ := cg.OOMKills()
	t.Logf("peak RSS %d MiB of a %d MiB limit; OOM kills %d", peak>>20, mem.Limit>>20, kills)
	require.Zero(t, kills, "the kernel OOM-killed the collector (peak RSS %d MiB, limit %d MiB)", peak>>20, mem.Limit>>20)
	require.False(t, c.Exited(), "the collector exited")
	require.Less(t, peak, mem.Limit, "peak RSS over the limit")
	return peak
}

// sendLegal sends one legal request of about bombSize bytes (incompressible
// spans of 2 KiB) until it is accepted, a refusal is not retryable or ctx
// ends; it reports every answer to note and returns the span IDs once
// accepted.
func sendLegal(ctx context.Context, gw *harness.Collector, overGRPC bool, note func(harness.Outcome)) ([]string, bool) {
	td, ids := legalRequest(bombSize / (2 << 10))
	req := ptraceotlp.NewExportRequestFromTraces(td)
	body, err := req.MarshalProto()
	if err != nil {
		panic(err)
	}
	var conn *grpc.ClientConn
	if overGRPC {
		conn, err = grpc.NewClient(gw.GRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(32<<20)))
		if err != nil {
			panic(err)
		}
		defer conn.Close()
	}
	for ctx.Err() == nil {
		var out harness.Outcome
		if overGRPC {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := ptraceotlp.NewGRPCClient(conn).Export(cctx, req)
			cancel()
			out = harness.ErrOutcome(err)
		} else {
			out = harness.PostOTLP(ctx, gw.HTTPEndpoint(), "", body)
		}
		if ctx.Err() != nil {
			break
		}
		note(out)
		if out.Accepted {
			return ids, true
		}
		if !out.Retryable {
			return nil, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, false
}

// legalRequest is n spans of 2 KiB of random hex each, with unique IDs.
func legalRequest(n int) (ptrace.Traces, []string) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "reliability-legal-large")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	payload := make([]byte, 1<<10)
	ids := make([]string, 0, n)
	for i := range n {
		var tid pcommon.TraceID
		copy(tid[:4], runNonce[:])
		binary.BigEndian.PutUint64(tid[8:], traceSeq.Add(1))
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], spanSeq.Add(1))
		sp := ss.AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName(fmt.Sprintf("legal-%d", i))
		_, _ = rand.Read(payload)
		sp.Attributes().PutStr("payload", hex.EncodeToString(payload))
		ids = append(ids, sid.String())
	}
	return td, ids
}
