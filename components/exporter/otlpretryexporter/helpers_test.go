package otlpretryexporter

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the test server decodes gzip
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// testTraces builds n spans with distinct IDs.
func testTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < n; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("GET /api/orders")
		s.SetTraceID(pcommon.TraceID{1, 2, 3, byte(i >> 8), byte(i)})
		s.SetSpanID(pcommon.SpanID{9, byte(i >> 16), byte(i >> 8), byte(i)})
		s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + uint64(i)))
		s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_500_000 + uint64(i)))
		s.Attributes().PutStr("http.method", "GET")
		s.Attributes().PutInt("http.status_code", 200)
		s.Attributes().PutStr("http.url", "https://shop.example/api/orders?page=1")
	}
	return td
}

func spanIDs(td ptrace.Traces) map[string]int {
	out := map[string]int{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				out[spans.At(k).SpanID().String()]++
			}
		}
	}
	return out
}

// grpcAnswer scripts one answer of the test gRPC server.
type grpcAnswer struct {
	err      error
	rejected int64
	block    bool // wait until the attempt's context ends
}

// grpcServer is a real OTLP/gRPC trace server on 127.0.0.1 answering from a script;
// once the script is used up it accepts.
type grpcServer struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string
	srv  *grpc.Server

	mu       sync.Mutex
	script   []grpcAnswer
	calls    int
	received []ptrace.Traces
	headers  []grpcmd.MD
	wire     int64 // compressed bytes on the wire (payload)
	encoding []string
	down     bool          // answer Unavailable to everything (an outage)
	gate     chan struct{} // when set, every Export waits for it to close
	held     int           // Exports that waited at gate
	holdFrom int           // gate holds only once this many requests were accepted
}

func startGRPCServer(t *testing.T, script ...grpcAnswer) *grpcServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &grpcServer{addr: l.Addr().String(), script: script}
	s.srv = grpc.NewServer(grpc.StatsHandler(&wireCounter{s: s}))
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(s.srv.Stop)
	return s
}

func (s *grpcServer) setScript(script ...grpcAnswer) {
	s.mu.Lock()
	s.script = script
	s.mu.Unlock()
}

func (s *grpcServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	s.calls++
	md, _ := grpcmd.FromIncomingContext(ctx)
	s.headers = append(s.headers, md)
	var a grpcAnswer
	if len(s.script) > 0 {
		a, s.script = s.script[0], s.script[1:]
	}
	down, gate := s.down, s.gate
	if len(s.received) < s.holdFrom {
		gate = nil
	}
	s.mu.Unlock()
	if down {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "backend down")
	}
	if gate != nil {
		s.mu.Lock()
		s.held++
		s.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
			return ptraceotlp.NewExportResponse(), ctx.Err()
		}
	}
	if a.block {
		<-ctx.Done()
		return ptraceotlp.NewExportResponse(), ctx.Err()
	}
	if a.err != nil {
		return ptraceotlp.NewExportResponse(), a.err
	}
	cp := ptrace.NewTraces()
	req.Traces().CopyTo(cp)
	s.mu.Lock()
	s.received = append(s.received, cp)
	s.mu.Unlock()
	resp := ptraceotlp.NewExportResponse()
	if a.rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(a.rejected)
		resp.PartialSuccess().SetErrorMessage("some spans were too old")
	}
	return resp, nil
}

func (s *grpcServer) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

// Held counts the Exports that waited for a hold's release.
func (s *grpcServer) Held() int { s.mu.Lock(); defer s.mu.Unlock(); return s.held }

// setDown starts (true) or ends (false) an outage: every Export answers Unavailable.
func (s *grpcServer) setDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// hold makes every Export wait until release is called (or its context ends).
func (s *grpcServer) hold() (release func()) { return s.holdAfter(0) }

// holdAfter is hold for the Exports after the first n accepted requests.
func (s *grpcServer) holdAfter(n int) (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate, s.holdFrom = gate, n
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate, s.holdFrom = nil, 0
			s.mu.Unlock()
			close(gate)
		})
	}
}

// Batches returns the accepted requests in arrival order.
func (s *grpcServer) Batches() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.received...)
}

func (s *grpcServer) Received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countSpans(s.received)
}

// countSpans counts how often each span ID occurs in tds.
func countSpans(tds []ptrace.Traces) map[string]int {
	out := map[string]int{}
	for _, td := range tds {
		for k, v := range spanIDs(td) {
			out[k] += v
		}
	}
	return out
}

// wireCounter records the compressed size and encoding of incoming messages.
type wireCounter struct{ s *grpcServer }

func (w *wireCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *wireCounter) HandleRPC(_ context.Context, st stats.RPCStats) {
	switch in := st.(type) {
	case *stats.InPayload:
		w.s.mu.Lock()
		w.s.wire += int64(in.CompressedLength)
		w.s.mu.Unlock()
	case *stats.InHeader:
		w.s.mu.Lock()
		w.s.encoding = append(w.s.encoding, in.Compression)
		w.s.mu.Unlock()
	}
}
func (w *wireCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (w *wireCounter) HandleConn(context.Context, stats.ConnStats)                       {}

// httpAnswer scripts one answer of the test HTTP server.
type httpAnswer struct {
	status     int
	retryAfter string
	rejected   int64
}

// httpServer is a real OTLP/HTTP server on 127.0.0.1 answering from a script.
type httpServer struct {
	URL string
	srv *http.Server

	mu       sync.Mutex
	script   []httpAnswer
	calls    int
	received []ptrace.Traces
	encoding []string
	wire     int64
	headers  []http.Header
}

func startHTTPServer(t *testing.T, script ...httpAnswer) *httpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &httpServer{URL: "http://" + l.Addr().String(), script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *httpServer) handle(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls++
	s.encoding = append(s.encoding, r.Header.Get("Content-Encoding"))
	s.headers = append(s.headers, r.Header.Clone())
	s.wire += int64(len(raw))
	var a httpAnswer
	if len(s.script) > 0 {
		a, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if a.status != 0 && a.status != http.StatusOK {
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte("scripted refusal"))
		return
	}
	body, err := decode(r.Header.Get("Content-Encoding"), raw)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.received = append(s.received, req.Traces())
	s.mu.Unlock()
	resp := ptraceotlp.NewExportResponse()
	if a.rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(a.rejected)
	}
	out, _ := resp.MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func decode(encoding string, raw []byte) ([]byte, error) {
	switch encoding {
	case "gzip":
		zr, err := kgzip.NewReader(bytesReader(raw))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(raw, nil)
	default:
		return raw, nil
	}
}

func (s *httpServer) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

func (s *httpServer) Received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countSpans(s.received)
}

// statusHost records the status events the exporter reports.
type statusHost struct {
	mu     sync.Mutex
	events []componentstatus.Status
}

func (h *statusHost) GetExtensions() map[component.ID]component.Component { return nil }
func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev.Status())
	h.mu.Unlock()
}

func (h *statusHost) Events() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]componentstatus.Status(nil), h.events...)
}

// fastConfig is a config with short retry intervals for tests.
func fastConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = endpoint
	cfg.ClientConfig.TLS.Insecure = true
	cfg.TimeoutConfig.Timeout = 2 * time.Second
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 10 * time.Second
	cfg.CircuitBreaker.MinAttempts = 1000 // tests that want the breaker set it
	return cfg
}

// testExporter is an otlpExporter for traces, started, with its telemetry
// readable, shut down at test end. sleeps records requested backoff delays.
type testExporter struct {
	*otlpExporter
	tel    *componenttest.Telemetry
	host   *statusHost
	mu     sync.Mutex
	sleeps []time.Duration
}

func newTestExporter(t *testing.T, cfg *Config, fakeSleep bool) *testExporter {
	t.Helper()
	tt := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	e, err := newExporter(cfg, set, "traces")
	require.NoError(t, err)
	te := &testExporter{otlpExporter: e, tel: tt, host: &statusHost{}}
	if fakeSleep {
		e.sleep = func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
			te.mu.Lock()
			te.sleeps = append(te.sleeps, d)
			te.mu.Unlock()
			return ctx.Err() == nil && !e.stopping()
		}
	}
	require.NoError(t, e.start(context.Background(), te.host))
	t.Cleanup(func() {
		require.NoError(t, e.shutdown(context.Background()))
		require.NoError(t, tt.Shutdown(context.Background()))
	})
	return te
}

func (te *testExporter) Sleeps() []time.Duration {
	te.mu.Lock()
	defer te.mu.Unlock()
	return append([]time.Duration(nil), te.sleeps...)
}

// counter sums the int counter name over data points whose attributes
// include every given key=value pair.
func (te *testExporter) counter(t testing.TB, name string, kv ...string) int64 {
	t.Helper()
	m, err := te.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var sum int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if hasAttrs(dp.Attributes.ToSlice(), kv) {
				sum += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			if hasAttrs(dp.Attributes.ToSlice(), kv) {
				sum += dp.Value
			}
		}
	}
	return sum
}

// tracesWithPrefix builds n spans whose span IDs start with prefix, so that
// batches built with different prefixes are told apart at the server.
func tracesWithPrefix(prefix byte, n int) ptrace.Traces {
	td := testTraces(n)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		id := spans.At(i).SpanID()
		id[0] = prefix
		spans.At(i).SetSpanID(id)
	}
	return td
}

func firstSpanPrefix(td ptrace.Traces) byte {
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID()[0]
}
