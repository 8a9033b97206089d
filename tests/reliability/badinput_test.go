package reliability

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// Size limits the bad-input gateway runs with, small enough that a test
// crosses them cheaply.
const (
	httpBodyLimit = 2 << 20 // receivers::otlp::protocols::http::max_request_body_size
	grpcMsgLimit  = 2       // receivers::otlp::protocols::grpc::max_recv_msg_size_mib
	hugeAttrLen   = 1 << 20 // an attribute value under both limits
	overLimitLen  = 3 << 20 // an attribute value over both limits
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// hugeAttr is one span carrying an attribute value of n bytes.
func hugeAttr(scenario string, n int) batch {
	b := genBatch(scenario, 1, 1)
	sp := b.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.Attributes().PutStr("test.huge", strings.Repeat("x", n))
	return b
}

// httpCase is one bad request to the OTLP/HTTP receiver and the answer
// v0.161.0's otlpreceiver and confighttp give it.
type httpCase struct {
	name    string
	method  string
	path    string
	headers map[string]string
	body    []byte
	want    int
	// routed is false when confighttp's decompressor answers before the
	// request reaches the /v1/traces handler (no http_route label then).
	routed bool
}

// TestBadInputHTTP sends malformed, oversized and mislabelled requests to
// the OTLP/HTTP receiver while another client keeps sending good data.
// Expected: each bad request gets its 4xx; none is counted by
// otelcol_receiver_* (the receiver counts only requests it decoded), each is
// counted under its status code in http_server_request_duration; the
// process stays alive with /health 200; every good span reaches the sink.
func TestBadInputHTTP(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	c := startBadInputGateway(t, sink)

	pb := map[string]string{"Content-Type": "application/x-protobuf"}
	js := map[string]string{"Content-Type": "application/json"}
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for hk, hv := range h {
			out[hk] = hv
		}
		return out
	}
	good := genBatch("bad-http-ref", 2, 3)
	goodPB := protoBody(t, good.td)
	goodJS := jsonBody(t, good.td)
	over := hugeAttr("bad-http-over", overLimitLen)
	zeros := make([]byte, 64<<20) // 64 MiB that compresses to a few KiB
	gzBomb, zstdBomb := gzipBytes(t, zeros), zstdBytes(t, zeros)
	require.Less(t, len(gzBomb), httpBodyLimit/4)
	require.Less(t, len(zstdBomb), httpBodyLimit/4)

	badIDs := func(traceHex, spanHex string) []byte {
		return []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"` + traceHex +
			`","spanId":"` + spanHex + `","name":"bad-id"}]}]}]}`)
	}
	cases := []httpCase{
		{name: "malformed protobuf", path: "/v1/traces", headers: pb, body: []byte("\xff\xff\xff\xffnot a protobuf"), want: 400, routed: true},
		{name: "truncated protobuf", path: "/v1/traces", headers: pb, body: goodPB[:len(goodPB)-7], want: 400, routed: true},
		{name: "invalid JSON", path: "/v1/traces", headers: js, body: []byte(`{"resourceSpans": [`), want: 400, routed: true},
		{name: "truncated JSON", path: "/v1/traces", headers: js, body: goodJS[:len(goodJS)/2], want: 400, routed: true},
		{name: "invalid gzip", path: "/v1/traces", headers: with(pb, "Content-Encoding", "gzip"), body: []byte("not gzip at all"), want: 400},
		{name: "invalid zstd", path: "/v1/traces", headers: with(pb, "Content-Encoding", "zstd"), body: []byte("not zstd at all"), want: 400},
		{name: "unsupported encoding", path: "/v1/traces", headers: with(pb, "Content-Encoding", "br2"), body: goodPB, want: 400, routed: true},
		{name: "gzip bomb", path: "/v1/traces", headers: with(pb, "Content-Encoding", "gzip"), body: gzBomb, want: 400, routed: true},
		{name: "zstd bomb", path: "/v1/traces", headers: with(pb, "Content-Encoding", "zstd"), body: zstdBomb, want: 400, routed: true},
		{name: "body over limit", path: "/v1/traces", headers: pb, body: protoBody(t, over.td), want: 400, routed: true},
		{name: "text/plain", path: "/v1/traces", headers: map[string]string{"Content-Type": "text/plain"}, body: goodPB, want: 415, routed: true},
		{name: "no content type", path: "/v1/traces", body: goodPB, want: 415, routed: true},
		{name: "short trace ID (JSON)", path: "/v1/traces", headers: js, body: badIDs("0102", "0102030405060708"), want: 400, routed: true},
		{name: "long span ID (JSON)", path: "/v1/traces", headers: js, body: badIDs("0102030405060708090a0b0c0d0e0f10", "0102030405060708090a"), want: 400, routed: true},
		{name: "short trace ID (protobuf)", path: "/v1/traces", headers: pb, body: rawSpanRequest([]byte{1, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8}), want: 400, routed: true},
		{name: "long span ID (protobuf)", path: "/v1/traces", headers: pb, body: rawSpanRequest(make([]byte, 16), make([]byte, 12)), want: 400, routed: true},
		{name: "unknown path", path: "/v1/nothing", headers: pb, body: goodPB, want: 404},
		{name: "GET", method: http.MethodGet, path: "/v1/traces", headers: pb, want: 405, routed: true},
		{name: "PUT", method: http.MethodPut, path: "/v1/traces", headers: pb, body: goodPB, want: 405, routed: true},
	}

	// The reference client: good data before, between and after the bad.
	var sent []string
	refSeq := 0
	sendGood := func() {
		refSeq++
		b := genBatch(fmt.Sprintf("bad-http-good-%d", refSeq), 1, 2)
		code, body, err := post(c.HTTPEndpoint()+"/v1/traces", protoBody(t, b.td), pb)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, body)
		sent = append(sent, b.spanIDs...)
	}
	sendGood()
	want := map[int]int{}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = http.MethodPost
		}
		code, body, err := do(method, c.HTTPEndpoint()+tc.path, tc.body, tc.headers)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, code, "%s: %s", tc.name, body)
		want[tc.want]++
		sendGood()
	}

	// A huge attribute under the limit is data, not an attack: accepted and
	// delivered with its value intact.
	huge := hugeAttr("bad-http-huge", hugeAttrLen)
	code, body, err := post(c.HTTPEndpoint()+"/v1/traces", protoBody(t, huge.td), pb)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	sent = append(sent, huge.spanIDs...)

	requireGoodDelivered(t, o, sink, c, sent, huge.spanIDs[0])

	port := fmt.Sprintf(`server_port="%d"`, c.HTTPPort)
	for code, n := range want {
		got := metric(t, c, "http_server_request_duration_count", port, fmt.Sprintf(`http_response_status_code="%d"`, code))
		assert.Equal(t, float64(n), got, "http_server_request_duration_count for %d", code)
	}
	assert.Equal(t, float64(len(sent)), metric(t, c, "otelcol_receiver_accepted_spans", `transport="http"`),
		"accepted spans are exactly the good ones")
	assert.Zero(t, metric(t, c, "otelcol_receiver_refused_spans"), "bad input is not counted as refused spans")
	assert.Zero(t, metric(t, c, "otelcol_receiver_failed_spans"))
}

// startBadInputGateway runs the sink gateway with the receivers' size
// limits lowered to httpBodyLimit and grpcMsgLimit.
func startBadInputGateway(t *testing.T, sink *harness.Sink) *harness.Collector {
	t.Helper()
	return startSinkGateway(t, sink,
		fmt.Sprintf("receivers::otlp::protocols::http::max_request_body_size=%d", httpBodyLimit),
		fmt.Sprintf("receivers::otlp::protocols::grpc::max_recv_msg_size_mib=%d", grpcMsgLimit))
}

// requireGoodDelivered fills o and checks that bad input cost the good
// clients nothing: every good span arrived exactly once, the one with the
// huge attribute (hugeSpan) whole, and the gateway is alive.
func requireGoodDelivered(t *testing.T, o *outcome, sink *harness.Sink, c *harness.Collector, sent []string, hugeSpan string) {
	t.Helper()
	tl := waitDelivered(sent, 30*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	require.Zero(t, tl.lost, "good spans lost: %v", tl.missing)
	require.Zero(t, tl.duplicates)
	requireHugeIntact(t, sink, hugeSpan, hugeAttrLen)
	requireAlive(t, c)
}

// requireHugeIntact checks the span's huge attribute reached the sink whole.
func requireHugeIntact(t *testing.T, sink *harness.Sink, spanID string, n int) {
	t.Helper()
	for _, td := range sink.Traces() {
		for sp := range harness.Spans(td) {
			if sp.SpanID().String() != spanID {
				continue
			}
			v, ok := sp.Attributes().Get("test.huge")
			require.True(t, ok, "huge attribute missing")
			require.Equal(t, n, len(v.Str()), "huge attribute length")
			return
		}
	}
	t.Fatalf("span %s with the huge attribute not found in the sink", spanID)
}

// grpcCase is one bad gRPC request and the status v0.161.0 answers.
type grpcCase struct {
	name   string
	method string
	enc    string
	body   []byte
	want   codes.Code
	// counted is the rpc_response_status_code label otelgrpc records the
	// call under ("" when the call never reaches a handler: unknown
	// methods and services are answered by grpc-go itself, uncounted).
	counted string
}

// TestBadInputGRPC does the same over gRPC: hand-framed requests with
// malformed, truncated, mis-compressed and oversized messages, IDs of the
// wrong length, unknown methods and services. Expected: each gets its gRPC
// code, the process stays alive, good data from a second client arrives.
func TestBadInputGRPC(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	c := startBadInputGateway(t, sink)

	goodPB := protoBody(t, genBatch("bad-grpc-ref", 2, 3).td)
	overPB := protoBody(t, hugeAttr("bad-grpc-over", overLimitLen).td)
	zeros := make([]byte, 64<<20)
	gzBomb := gzipBytes(t, zeros)
	notGzip := []byte("definitely not gzip")
	cases := []grpcCase{
		{name: "malformed protobuf", body: wrapFrame([]byte("\xff\xff\xff\xffnot proto")), want: codes.Internal, counted: "INTERNAL"},
		{name: "truncated protobuf", body: frame(false, len(goodPB)-7, goodPB[:len(goodPB)-7]), want: codes.Internal, counted: "INTERNAL"},
		// The stream ends inside the message: the client sees Unknown, the
		// server records Internal.
		{name: "truncated frame", body: frame(false, len(goodPB), goodPB[:len(goodPB)/2]), want: codes.Unknown, counted: "INTERNAL"},
		{name: "invalid gzip", enc: "gzip", body: frame(true, len(notGzip), notGzip), want: codes.Internal, counted: "INTERNAL"},
		{name: "invalid zstd", enc: "zstd", body: frame(true, len(notGzip), notGzip), want: codes.Internal, counted: "INTERNAL"},
		{name: "unknown encoding", enc: "br2", body: frame(true, len(goodPB), goodPB), want: codes.Unimplemented, counted: "UNIMPLEMENTED"},
		{name: "gzip bomb", enc: "gzip", body: frame(true, len(gzBomb), gzBomb), want: codes.ResourceExhausted, counted: "RESOURCE_EXHAUSTED"},
		{name: "message over limit", body: frame(false, len(overPB), overPB), want: codes.ResourceExhausted, counted: "RESOURCE_EXHAUSTED"},
		{name: "short trace ID", body: wrapFrame(rawSpanRequest([]byte{1, 2, 3}, make([]byte, 8))), want: codes.Internal, counted: "INTERNAL"},
		{name: "long span ID", body: wrapFrame(rawSpanRequest(make([]byte, 16), make([]byte, 12))), want: codes.Internal, counted: "INTERNAL"},
		{name: "unknown method", method: "/opentelemetry.proto.collector.trace.v1.TraceService/Nope", body: frame(false, len(goodPB), goodPB), want: codes.Unimplemented},
		{name: "unknown service", method: "/no.such.Service/Export", body: frame(false, len(goodPB), goodPB), want: codes.Unimplemented},
	}

	conn := grpcConn(t, c.GRPCEndpoint())
	var sent []string
	refSeq := 0
	sendGood := func() {
		refSeq++
		b := genBatch(fmt.Sprintf("bad-grpc-good-%d", refSeq), 1, 2)
		require.NoError(t, exportGRPC(conn, b.td))
		sent = append(sent, b.spanIDs...)
	}
	raw := newRawGRPC(c.GRPCEndpoint())
	sendGood()
	want := map[string]int{}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = traceExportMethod
		}
		code, msg, err := raw.call(method, tc.enc, tc.body)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want.String(), code.String(), "%s: %s", tc.name, msg)
		if tc.counted != "" {
			want[tc.counted]++
		}
		sendGood()
	}

	// Through a generated client: a huge attribute under the limit is
	// accepted and delivered intact; one over it is ResourceExhausted.
	huge := hugeAttr("bad-grpc-huge", hugeAttrLen)
	require.NoError(t, exportGRPC(conn, huge.td))
	sent = append(sent, huge.spanIDs...)
	err := exportGRPC(conn, hugeAttr("bad-grpc-over2", overLimitLen).td)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	want["RESOURCE_EXHAUSTED"]++
	want["OK"] = refSeq + 1

	requireGoodDelivered(t, o, sink, c, sent, huge.spanIDs[0])
	assert.Equal(t, float64(len(sent)), metric(t, c, "otelcol_receiver_accepted_spans", `transport="grpc"`))
	assert.Zero(t, metric(t, c, "otelcol_receiver_refused_spans"))
	assert.Zero(t, metric(t, c, "otelcol_receiver_failed_spans"))
	// otelgrpc counts every call under its status code.
	for code, n := range want {
		got := metric(t, c, "rpc_server_call_duration_count", `rpc_response_status_code="`+code+`"`)
		assert.Equal(t, float64(n), got, "rpc_server_call_duration_count for %s", code)
	}
	if t.Failed() {
		t.Logf("rpc server series:\n%s", grepMetrics(t, c, "rpc_server_call_duration_count"))
	}
}

func wrapFrame(msg []byte) []byte { return frame(false, len(msg), msg) }

// grepMetrics returns the non-comment telemetry lines containing s.
func grepMetrics(t *testing.T, c *harness.Collector, s string) string {
	t.Helper()
	_, body, err := harness.Get(c.TelemetryURL())
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) && !strings.HasPrefix(l, "#") && !strings.Contains(l, "_bucket") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
