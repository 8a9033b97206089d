package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
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

// longEnv turns on the long fault scenarios (tens of seconds of outage).
const longEnv = "OTLPCOL_RELIABILITY_LONG"

// needBinary skips t in -short runs: every test here runs the binary.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs bin/otlpcol: skipped with -short")
	}
}

// testdata is the path of a file in this package's testdata/.
func testdata(name string) string {
	return filepath.Join(harness.RepoRoot(), "tests", "reliability", "testdata", name)
}

// runNonce keeps IDs of different test runs apart in a sink; spanSeq makes
// every span ID of this process unique.
var (
	runNonce = func() [4]byte {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return b
	}()
	spanSeq  atomic.Uint64
	traceSeq atomic.Uint64
)

// batch is a generated traces payload and the IDs it carries.
type batch struct {
	td      ptrace.Traces
	spanIDs []string
	// traceOf maps each span ID (hex) to its trace ID (hex).
	traceOf map[string]string
}

// genBatch builds traces spans-per-trace deep with unique, deterministic
// IDs and a few attributes on each span (scenario, seq, a payload).
func genBatch(scenario string, traces, spansPerTrace int) batch {
	b := batch{td: ptrace.NewTraces(), traceOf: map[string]string{}}
	rs := b.td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "reliability-"+scenario)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("otlpcol/tests/reliability")
	now := time.Now()
	for i := 0; i < traces; i++ {
		var tid pcommon.TraceID
		copy(tid[:4], runNonce[:])
		binary.BigEndian.PutUint64(tid[8:], traceSeq.Add(1))
		var parent pcommon.SpanID
		for j := 0; j < spansPerTrace; j++ {
			seq := spanSeq.Add(1)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], seq)
			sid[0] ^= runNonce[0] | 0x80 // never all zero
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			if j > 0 {
				sp.SetParentSpanID(parent)
			} else {
				parent = sid
			}
			sp.SetName(fmt.Sprintf("%s-%d", scenario, j))
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Duration(j+1) * time.Millisecond)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
			attrs := sp.Attributes()
			attrs.PutStr("test.scenario", scenario)
			attrs.PutInt("test.seq", int64(seq))
			attrs.PutStr("test.span_id", sid.String())
			b.spanIDs = append(b.spanIDs, sid.String())
			b.traceOf[sid.String()] = tid.String()
		}
	}
	return b
}

// tally compares what was sent with what a sink (or several) received.
type tally struct {
	sent, delivered, duplicates, lost int
	missing                           []string // first few lost span IDs
}

func count(sent []string, received ...map[string]int) tally {
	got := map[string]int{}
	for _, r := range received {
		for id, n := range r {
			got[id] += n
		}
	}
	var tl tally
	tl.sent = len(sent)
	for _, id := range sent {
		n := got[id]
		switch {
		case n == 0:
			tl.lost++
			if len(tl.missing) < 5 {
				tl.missing = append(tl.missing, id)
			}
		default:
			tl.delivered++
			tl.duplicates += n - 1
		}
	}
	return tl
}

func (tl tally) fill(o *outcome) {
	o.Sent, o.Delivered, o.Duplicates, o.Lost = tl.sent, tl.delivered, tl.duplicates, tl.lost
}

// waitDelivered waits until every sent span is in the sinks or timeout.
func waitDelivered(sent []string, timeout time.Duration, sinks ...*harness.Sink) tally {
	deadline := time.Now().Add(timeout)
	for {
		maps := make([]map[string]int, len(sinks))
		for i, s := range sinks {
			maps[i] = s.SpanIDs()
		}
		tl := count(sent, maps...)
		if tl.lost == 0 || time.Now().After(deadline) {
			return tl
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// grpcConn dials a collector's OTLP gRPC receiver without TLS.
func grpcConn(t *testing.T, endpoint string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// exportGRPC sends td over an OTLP gRPC client with a bounded deadline.
func exportGRPC(conn *grpc.ClientConn, td ptrace.Traces) error {
	return exportGRPCWithin(conn, td, 10*time.Second)
}

// exportGRPCWithin exports td with deadline as the client's deadline.
func exportGRPCWithin(conn *grpc.ClientConn, td ptrace.Traces, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

// post sends body to url with the given headers and returns the status code
// and response body.
func post(url string, body []byte, headers map[string]string) (int, string, error) {
	return do(http.MethodPost, url, body, headers)
}

func do(method, url string, body []byte, headers map[string]string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// protoBody marshals td as an OTLP/HTTP protobuf request body.
func protoBody(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// jsonBody marshals td as an OTLP/HTTP JSON request body.
func jsonBody(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// startSinkGateway runs testdata/gateway-sink.yaml exporting to sink.
func startSinkGateway(t *testing.T, sink *harness.Sink, set ...string) *harness.Collector {
	t.Helper()
	c := harness.Start(t, testdata("gateway-sink.yaml"), harness.Options{
		Set: set,
		Env: []string{"SINK_ENDPOINT=" + sink.GRPCEndpoint()},
	})
	c.WaitReady(30 * time.Second)
	return c
}

// metric scrapes the collector's internal telemetry for one series: the sum
// of the matching samples. A series that is absent fails the test, so a zero
// check cannot pass on a renamed or missing metric. A counter is found under
// its plain name and under name_total: configs/gateway.yaml keeps
// Prometheus' type suffix, the test configs here do not.
func metric(t *testing.T, c *harness.Collector, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricValue(t, c, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v on %s", name, labels, c.TelemetryURL())
	}
	return v
}

// metricValue is metric for polling: ok is false while the series is absent
// (the SDK shows a counter only once something was recorded on it).
func metricValue(t *testing.T, c *harness.Collector, name string, labels ...string) (float64, bool) {
	t.Helper()
	_, body, err := harness.Get(c.TelemetryURL())
	if err != nil {
		t.Fatalf("scrape %s: %v", c.TelemetryURL(), err)
	}
	if v, ok := harness.SumSamples(body, name, labels...); ok {
		return v, true
	}
	return harness.SumSamples(body, name+"_total", labels...)
}

// waitCounter polls a counter until it reaches atLeast or timeout passes;
// it returns the last value and whether it got there. An absent series
// counts as 0 (the SDK shows a counter only once something was recorded).
func waitCounter(t *testing.T, c *harness.Collector, name string, atLeast int, timeout time.Duration) (float64, bool) {
	t.Helper()
	var v float64
	ok := waitFor(timeout, func() bool {
		v, _ = metricValue(t, c, name)
		return v >= float64(atLeast)
	})
	return v, ok
}

// droppedItems is otlp_retry's count of items it lost. Like every SDK
// counter it shows only once something was recorded on it, so its absence
// is the healthy answer; its name is pinned instead: deploy/monitoring names
// it, and TestEveryMonitoredMetricIsExposed fails when a drop does not show
// up under that name.
const droppedItems = "otelcol_otlp_retry_dropped_items"

// requireNothingDropped checks otlp_retry dropped nothing, under either
// exposition (with or without the _total suffix).
func requireNothingDropped(t *testing.T, c *harness.Collector) {
	t.Helper()
	monitored, err := deploy.MetricNames(harness.RepoRoot())
	require.NoError(t, err)
	if _, ok := monitored[droppedItems+"_total"]; !ok {
		t.Fatalf("deploy/monitoring no longer names %s_total: its name is not pinned", droppedItems)
	}
	if v, ok := metricValue(t, c, droppedItems); ok {
		require.Zero(t, v, "%s", droppedItems)
	}
}

// peakRSS is c's peak RSS (see harness.Collector.PeakRSS), 0 when unknown.
func peakRSS(c *harness.Collector) int64 {
	v, _ := c.PeakRSS()
	return v
}

// requireAlive checks the process still runs and /health answers 200.
func requireAlive(t *testing.T, c *harness.Collector) {
	t.Helper()
	if c.Exited() {
		t.Fatalf("otlpcol exited")
	}
	code, body, err := harness.Get(c.HealthURL("/health"))
	if err != nil || code != http.StatusOK {
		t.Fatalf("/health = %d %q %v, want 200", code, body, err)
	}
}
