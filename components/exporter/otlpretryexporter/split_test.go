package otlpretryexporter

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// shapes are traces whose split happens at each level: several resources,
// one resource with several scopes, one scope with several spans.
func shapes() map[string]ptrace.Traces {
	several := ptrace.NewTraces()
	for i := range 3 {
		rs := several.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("r", int64(i))
		testTraces(2).ResourceSpans().At(0).ScopeSpans().MoveAndAppendTo(rs.ScopeSpans())
	}
	scopes := ptrace.NewTraces()
	rs := scopes.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	for i := range 3 {
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope-" + string(rune('a'+i)))
		testTraces(2).ResourceSpans().At(0).ScopeSpans().At(0).Spans().MoveAndAppendTo(ss.Spans())
	}
	spans := testTraces(5)
	spans.ResourceSpans().At(0).ScopeSpans().At(0).Scope().SetName("only-scope")
	return map[string]ptrace.Traces{"resources": several, "scopes": scopes, "spans": spans}
}

func TestSplitBodyKeepsEverySpanAndItsParents(t *testing.T) {
	for name, td := range shapes() {
		t.Run(name, func(t *testing.T) {
			body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
			require.NoError(t, err)
			a, b, ok := splitBody(body)
			require.True(t, ok)
			got := map[string]int{}
			for _, half := range [][]byte{a, b} {
				req := ptraceotlp.NewExportRequest()
				require.NoError(t, req.UnmarshalProto(half))
				h := req.Traces()
				require.Positive(t, h.SpanCount(), "an empty half")
				for k, v := range spanIDs(h) {
					got[k] += v
				}
				// Every span keeps its resource and scope.
				for i := 0; i < h.ResourceSpans().Len(); i++ {
					rs := h.ResourceSpans().At(i)
					assert.Positive(t, rs.Resource().Attributes().Len(), "resource lost")
					if name == "scopes" {
						assert.Equal(t, "https://opentelemetry.io/schemas/1.26.0", rs.SchemaUrl())
					}
					if name == "spans" {
						assert.Equal(t, "only-scope", rs.ScopeSpans().At(0).Scope().Name())
					}
				}
			}
			assert.Equal(t, spanIDs(td), got, "the halves must hold every span once")
		})
	}
}

func TestSplitBodyMetricsAndLogs(t *testing.T) {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	for range 4 {
		sm.Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	a, b, ok := splitBody(body)
	require.True(t, ok)
	n := 0
	for _, half := range [][]byte{a, b} {
		req := pmetricotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(half))
		n += req.Metrics().DataPointCount()
	}
	assert.Equal(t, 4, n)

	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for range 3 {
		sl.LogRecords().AppendEmpty().Body().SetStr("line")
	}
	body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	a, b, ok = splitBody(body)
	require.True(t, ok)
	n = 0
	for _, half := range [][]byte{a, b} {
		req := plogotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(half))
		n += req.Logs().LogRecordCount()
	}
	assert.Equal(t, 3, n)
}

func TestSplitBodyStopsAtOneItem(t *testing.T) {
	body, err := ptraceotlp.NewExportRequestFromTraces(testTraces(1)).MarshalProto()
	require.NoError(t, err)
	_, _, ok := splitBody(body)
	assert.False(t, ok)
	_, _, ok = splitBody([]byte{0x0a, 0xff}) // a length past the end
	assert.False(t, ok)
}

// startSmallGRPCServer is startGRPCServer with the server's receive limit
// set to maxBytes, as a backend with smaller limits than our batches.
func startSmallGRPCServer(t *testing.T, maxBytes int) *grpcServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &grpcServer{addr: l.Addr().String()}
	s.srv = grpc.NewServer(grpc.MaxRecvMsgSize(maxBytes), grpc.StatsHandler(&wireCounter{s: s}))
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(s.srv.Stop)
	return s
}

// TestTooLargeBatchIsSplitUntilItFits: a batch of 2000 spans (~260 KiB)
// against a backend that takes 32 KiB messages: grpc-go refuses it
// (ResourceExhausted, "larger than max"); otlp_retry halves it until the
// pieces fit. Everything arrives once, nothing is quarantined or dropped.
func TestTooLargeBatchIsSplitUntilItFits(t *testing.T) {
	srv := startSmallGRPCServer(t, 32<<10)
	cfg := fastConfig(srv.addr)
	cfg.ClientConfig.Compression = "none"
	e := newTestExporter(t, cfg, true)
	td := testTraces(2000)
	require.NoError(t, e.pushTraces(context.Background(), td))
	assert.Equal(t, spanIDs(td), srv.Received())
	assert.Positive(t, e.counter(t, "otelcol_otlp_retry_failures", "reason", reasonTooLarge))
	assert.EqualValues(t, 2000, e.counter(t, "otelcol_otlp_retry_sent_items"))
	assert.Zero(t, e.counter(t, "otelcol_otlp_retry_dropped_items"))
}

// TestSingleSpanTooLargeIsRefusedForGood: one span bigger than the
// backend's limit cannot be split: it is the rejected case (quarantined;
// here there is no quarantine, so dropped and counted).
func TestSingleSpanTooLargeIsRefusedForGood(t *testing.T) {
	srv := startSmallGRPCServer(t, 32<<10)
	cfg := fastConfig(srv.addr)
	cfg.ClientConfig.Compression = "none"
	e := newTestExporter(t, cfg, true)
	td := testTraces(1)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("db.statement", strings.Repeat("x", 64<<10))
	err := e.pushTraces(context.Background(), td)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Empty(t, srv.Received())
	assert.EqualValues(t, 1, e.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "rejected"))
}

// FuzzSplitBody: any input splits or says no, without panicking; a valid
// traces request splits into two valid requests with the same spans.
func FuzzSplitBody(f *testing.F) {
	for _, td := range shapes() {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(f, err)
		f.Add(body)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		a, b, ok := splitBody(body)
		whole := ptraceotlp.NewExportRequest()
		if !ok || whole.UnmarshalProto(body) != nil {
			return
		}
		n := 0
		for _, half := range [][]byte{a, b} {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(half); err != nil {
				t.Fatalf("a half of a valid request does not decode: %v", err)
			}
			n += req.Traces().SpanCount()
		}
		if n != whole.Traces().SpanCount() {
			t.Fatalf("halves hold %d spans, the request %d", n, whole.Traces().SpanCount())
		}
	})
}
