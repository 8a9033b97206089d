package reliability

import (
	"context"
	"encoding/hex"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the gateway sends gzip
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// strictBackend is an OTLP/gRPC trace backend built on
// google.golang.org/protobuf (the generated types of
// go.opentelemetry.io/proto/otlp), as many real backends are. Unlike pdata
// (our receiver, and the harness sink), protobuf-go refuses a proto3 string
// field holding invalid UTF-8 while decoding, before any handler runs, and
// grpc-go answers that with codes.Internal: a refusal the OTLP spec lists as
// not retryable. Nothing here scripts that answer; it is what the library
// does. down makes it refuse every call (Unavailable) before reading it.
type strictBackend struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string
	down atomic.Bool

	mu       sync.Mutex
	spans    map[string]int
	attempts []time.Time // every call that reached the backend while up
	refused  []time.Time // calls answered Internal (the request did not decode)
}

func startStrictBackend(t *testing.T) *strictBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &strictBackend{addr: l.Addr().String(), spans: map[string]int{}}
	srv := grpc.NewServer(grpc.InTapHandle(b.tap), grpc.StatsHandler(b), grpc.MaxRecvMsgSize(16<<20))
	coltracepb.RegisterTraceServiceServer(srv, b)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return b
}

func (b *strictBackend) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if b.down.Load() {
		return ctx, status.Error(codes.Unavailable, "strict backend down (test outage)")
	}
	b.mu.Lock()
	b.attempts = append(b.attempts, time.Now())
	b.mu.Unlock()
	return ctx, nil
}

func (b *strictBackend) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				b.spans[hex.EncodeToString(sp.GetSpanId())]++
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (b *strictBackend) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (b *strictBackend) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (b *strictBackend) HandleConn(context.Context, stats.ConnStats) {}
func (b *strictBackend) HandleRPC(_ context.Context, s stats.RPCStats) {
	if end, ok := s.(*stats.End); ok && status.Code(end.Error) == codes.Internal {
		b.mu.Lock()
		b.refused = append(b.refused, time.Now())
		b.mu.Unlock()
	}
}

// SpanIDs is what the backend accepted, span ID (hex) -> times.
func (b *strictBackend) SpanIDs() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.spans)
}

// counts are the calls and the Internal refusals since from.
func (b *strictBackend) counts(from time.Time) (attempts, refused int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, at := range b.attempts {
		if !at.Before(from) {
			attempts++
		}
	}
	for _, at := range b.refused {
		if !at.Before(from) {
			refused++
		}
	}
	return attempts, refused
}

// sendRequests sends n requests of spans spans each, one after the other,
// and returns their span IDs; each must be accepted.
func sendRequests(t *testing.T, conn *grpc.ClientConn, scenario string, n, spans int, badServiceName bool) []string {
	t.Helper()
	var ids []string
	for range n {
		b := genBatch(scenario, spans/2, 2)
		if badServiceName {
			// Not UTF-8: pdata (our receiver) takes it as it is.
			b.td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "bad-\xff\xfe-"+scenario)
		}
		require.NoError(t, exportGRPC(conn, b.td))
		ids = append(ids, b.spanIDs...)
	}
	return ids
}

// quarantinedSpans reads every traces file of the quarantine directory.
func quarantinedSpans(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.NoError(t, err)
	out := map[string]int{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		req := ptraceotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(body))
		rss := req.Traces().ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				sps := sss.At(j).Spans()
				for k := 0; k < sps.Len(); k++ {
					out[sps.At(k).SpanID().String()]++
				}
			}
		}
	}
	return out
}

// TestGuaranteePoisonBatchIsolated (issue 20 item 2): configs/gateway.yaml
// in front of a strict backend (protobuf-go refuses invalid UTF-8 with gRPC
// Internal). During a 12 s outage with a 2 s retry budget, 60 good
// requests, 1 whose service.name is not UTF-8 and 40 more good ones go to
// the dead letter; the write-ahead log cuts batches across requests, so
// the bad one shares a file with good ones. The backend returns; then a
// burst of 200 good requests. Expected: every good span is delivered, only
// the bad request's spans are quarantined, and the backend does not see
// the bad data again and again (refused attempts per minute bounded; before
// the fix every successful export replayed the whole file, stopping there,
// so the good spans in it and every file behind it never arrived).
func TestGuaranteePoisonBatchIsolated(t *testing.T) {
	needBinary(t)
	o := record(t)
	backend := startStrictBackend(t)
	backend.down.Store(true)
	dir := t.TempDir()
	c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + backend.addr, "API_KEY=poison-test"},
		Set: faultGatewaySets(dir, deadLetterBudget),
	})
	c.WaitReady(30 * time.Second)
	conn := grpcConn(t, c.GRPCEndpoint())

	outageStart := time.Now()
	good := sendRequests(t, conn, "poison-before", 60, 10, false)
	bad := sendRequests(t, conn, "poison-bad", 1, 10, true)
	good = append(good, sendRequests(t, conn, "poison-after", 40, 10, false)...)
	// Everything reaches the dead letter (2 s budget) within the outage.
	_, spooled := waitCounter(t, c, "otelcol_otlp_retry_dead_letter_items", len(good)+len(bad), 30*time.Second)
	require.True(t, spooled, "not everything reached the dead letter")
	time.Sleep(time.Until(outageStart.Add(12 * time.Second)))
	files, _ := filepath.Glob(filepath.Join(dir, "deadletter", "*.traces.pb"))
	t.Logf("outage %s: %d dead-letter files for %d spans", time.Since(outageStart).Round(time.Millisecond), len(files), len(good)+len(bad))
	back := time.Now()
	backend.down.Store(false)

	var recovered tally
	waitFor(45*time.Second, func() bool {
		recovered = count(good, backend.SpanIDs())
		return recovered.lost == 0
	})
	t.Logf("%s after the backend returned: %d of %d good spans delivered", time.Since(back).Round(time.Millisecond), recovered.delivered, len(good))

	// A burst of good traffic: before the fix each success restarted the
	// replay, which re-sent the refused file.
	burstStart := time.Now()
	burst := sendRequests(t, conn, "poison-burst", 200, 10, false)
	time.Sleep(time.Until(burstStart.Add(30 * time.Second)))
	window := time.Since(back)
	attempts, refused := backend.counts(back)
	_, refusedLate := backend.counts(burstStart.Add(15 * time.Second))
	perMin := float64(refused) / window.Minutes()

	all := append(append([]string{}, good...), burst...)
	tl := count(all, backend.SpanIDs())
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	o.Scenario += " (10 quarantined)"
	quar := quarantinedSpans(t, filepath.Join(dir, "deadletter-quarantine"))
	var quarIDs []string
	for id := range quar {
		quarIDs = append(quarIDs, id)
	}
	sort.Strings(quarIDs)
	t.Logf("over %s after the backend returned: %d calls, %d refused Internal (%.0f/min; %d in the last 15 s); good spans delivered %d of %d (dup %d); quarantined %d spans (%d of the bad request's %d)",
		window.Round(time.Second), attempts, refused, perMin, refusedLate, tl.delivered, len(all), tl.duplicates,
		len(quar), len(intersect(quar, bad)), len(bad))

	require.Zero(t, tl.lost, "good spans lost behind the refused batch, e.g. %v", tl.missing)
	assert.Zero(t, count(bad, backend.SpanIDs()).delivered, "the strict backend cannot have taken the bad spans")
	want := map[string]int{}
	for _, id := range bad {
		want[id] = 1
	}
	assert.Equal(t, want, quar, "the quarantine must hold the bad request's spans, once, and nothing else")
	assert.Zero(t, refusedLate, "the refused data was sent again after it was isolated")
	// Isolating the bad request costs, once, one refused attempt per level
	// of the split down to it (log2 of the 101 requests, 7) plus 2n-1 for
	// its n = 10 spans, which share the bad resource: 27. Before the fix
	// the file was re-sent after every success, without end (205 a minute).
	assert.LessOrEqual(t, refused, 40, "refused attempts")
	requireNothingDropped(t, c)
	requireAlive(t, c)
}

func intersect(m map[string]int, ids []string) []string {
	var out []string
	for _, id := range ids {
		if m[id] > 0 {
			out = append(out, id)
		}
	}
	return out
}
