package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// topology is apps -> agent (configs/agent.yaml, load_balancing by trace
// ID over a static resolver) -> two gateways (configs/gateway.yaml, each
// with otlp_retry to its own sink).
type topology struct {
	agent    *harness.Collector
	gateways [2]*harness.Collector
	sinks    [2]*harness.Sink
	gwPorts  [2]int // fixed gRPC ports, so a gateway can be restarted on the same one
	gwDirs   [2]string
	gwSet    []string
}

func startTopology(t *testing.T, gatewaySet ...string) *topology {
	t.Helper()
	tp := &topology{gwSet: gatewaySet}
	for i := range tp.gateways {
		tp.sinks[i] = harness.StartSink(t)
		tp.gwPorts[i] = harness.FreePort(t)
		tp.gwDirs[i] = t.TempDir()
		tp.startGateway(t, i)
	}
	agentQueue := filepath.Join(t.TempDir(), "queue")
	tp.agent = harness.Start(t, harness.Config("agent.yaml"), harness.Options{
		Set: []string{
			"extensions::guarded_file_storage/queue::directory=" + agentQueue,
			"extensions::guarded_file_storage/queue::compaction::directory=" + agentQueue,
			"exporters::load_balancing::resolver::k8s=null",
			fmt.Sprintf("exporters::load_balancing::resolver::static::hostnames=[127.0.0.1:%d,127.0.0.1:%d]", tp.gwPorts[0], tp.gwPorts[1]),
			// Retry quickly when a gateway is away.
			"exporters::load_balancing::retry_on_failure::initial_interval=200ms",
			"exporters::load_balancing::retry_on_failure::max_interval=1s",
			fmt.Sprintf("exporters::otlp_grpc/gateway::endpoint=127.0.0.1:%d", tp.gwPorts[0]),
			"extensions::health::drain_delay=0s",
		},
	})
	tp.agent.WaitReady(30 * time.Second)
	return tp
}

// startGateway (re)starts gateway i on its fixed gRPC port and queue directory.
func (tp *topology) startGateway(t *testing.T, i int) {
	t.Helper()
	set := append(harness.GatewaySets(tp.gwDirs[i]),
		"exporters::otlp_retry::retry_on_failure::initial_interval=200ms",
		"exporters::otlp_retry::retry_on_failure::max_interval=2s")
	set = append(set, tp.gwSet...)
	c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env:      []string{"OTLP_ENDPOINT=" + tp.sinks[i].GRPCEndpoint(), "API_KEY=topology-test"},
		Set:      set,
		GRPCPort: tp.gwPorts[i],
	})
	c.WaitReady(30 * time.Second)
	tp.gateways[i] = c
}

func (tp *topology) received() []map[string]int {
	return []map[string]int{tp.sinks[0].SpanIDs(), tp.sinks[1].SpanIDs()}
}

func (tp *topology) waitDelivered(sent []string, timeout time.Duration) tally {
	return waitDelivered(sent, timeout, tp.sinks[0], tp.sinks[1])
}

// sdkApp is an application instrumented with the OpenTelemetry Go SDK,
// exporting OTLP over gRPC or HTTP, that remembers what it created.
type sdkApp struct {
	tp *sdktrace.TracerProvider

	mu     sync.Mutex
	spans  []string          // span IDs
	traces map[string]string // span ID -> trace ID
	attrs  map[string]string // span ID -> value of test.check
}

func newSDKApp(t *testing.T, name string, exp sdktrace.SpanExporter) *sdkApp {
	t.Helper()
	res := resource.NewSchemaless(attribute.String("service.name", name))
	a := &sdkApp{
		tp: sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(100*time.Millisecond), sdktrace.WithMaxExportBatchSize(256)),
		),
		traces: map[string]string{},
		attrs:  map[string]string{},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.tp.Shutdown(ctx)
	})
	return a
}

func grpcSDKApp(t *testing.T, name, endpoint string) *sdkApp {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	return newSDKApp(t, name, exp)
}

func httpSDKApp(t *testing.T, name, endpoint string) *sdkApp {
	t.Helper()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	require.NoError(t, err)
	return newSDKApp(t, name, exp)
}

// trace makes one trace of depth spans: a root and its children, each with
// attributes of several types and a per-span check value.
func (a *sdkApp) trace(depth int) {
	tr := a.tp.Tracer("otlpcol/tests/reliability")
	ctx, root := tr.Start(context.Background(), "root", trace.WithSpanKind(trace.SpanKindServer))
	spans := []trace.Span{root}
	for i := 1; i < depth; i++ {
		_, sp := tr.Start(ctx, fmt.Sprintf("child-%d", i))
		spans = append(spans, sp)
	}
	a.mu.Lock()
	for i, sp := range spans {
		sc := sp.SpanContext()
		check := fmt.Sprintf("%s/%d", sc.SpanID(), i)
		sp.SetAttributes(attribute.String("test.check", check), attribute.Int("test.index", i),
			attribute.Bool("test.even", i%2 == 0), attribute.Float64("test.ratio", float64(i)/2),
			attribute.StringSlice("test.tags", []string{"a", "b"}))
		a.spans = append(a.spans, sc.SpanID().String())
		a.traces[sc.SpanID().String()] = sc.TraceID().String()
		a.attrs[sc.SpanID().String()] = check
	}
	a.mu.Unlock()
	for i := len(spans) - 1; i >= 0; i-- {
		spans[i].End()
	}
}

func (a *sdkApp) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, a.tp.ForceFlush(ctx))
}

// checkTopology asserts the topology properties on what the sinks got:
// each trace on exactly one gateway, attributes intact, and each gateway's
// trace_registry counting exactly the traces its sink received.
func checkTopology(t *testing.T, tp *topology, apps ...*sdkApp) {
	t.Helper()
	traceOf, attrs := map[string]string{}, map[string]string{}
	for _, a := range apps {
		a.mu.Lock()
		for k, v := range a.traces {
			traceOf[k] = v
		}
		for k, v := range a.attrs {
			attrs[k] = v
		}
		a.mu.Unlock()
	}
	gatewaysOfTrace := map[string]map[int]bool{}
	perGateway := [2]map[string]bool{{}, {}}
	checked := 0
	for i, s := range tp.sinks {
		for _, td := range s.Traces() {
			for sp := range harness.Spans(td) {
				id := sp.SpanID().String()
				want, ok := attrs[id]
				if !ok {
					continue
				}
				tid := sp.TraceID().String()
				require.Equal(t, traceOf[id], tid, "span %s arrived with another trace ID", id)
				if gatewaysOfTrace[tid] == nil {
					gatewaysOfTrace[tid] = map[int]bool{}
				}
				gatewaysOfTrace[tid][i] = true
				perGateway[i][tid] = true
				v, ok := sp.Attributes().Get("test.check")
				require.True(t, ok, "span %s lost its attributes", id)
				require.Equal(t, want, v.Str())
				tags, ok := sp.Attributes().Get("test.tags")
				require.True(t, ok)
				require.Equal(t, 2, tags.Slice().Len())
				checked++
			}
		}
	}
	require.Positive(t, checked)
	for tid, gws := range gatewaysOfTrace {
		require.Len(t, gws, 1, "trace %s reached more than one gateway", tid)
	}
	for i, gw := range tp.gateways {
		if gw == nil || gw.Exited() {
			continue
		}
		got := metric(t, gw, "otlp_traces_total")
		assert.Equal(t, float64(len(perGateway[i])), got, "gateway %d: trace_registry's otlp_traces_total vs traces in its sink", i)
	}
	t.Logf("traces per gateway: %d + %d = %d", len(perGateway[0]), len(perGateway[1]), len(gatewaysOfTrace))
}

// TestTopologyAgentToGateways: two SDK apps (gRPC and HTTP) -> agent ->
// two gateways -> sinks. Expected: every span exactly once, attributes
// intact, every trace on one gateway, both gateways used, and the
// trace_registry counts adding up to the traces sent.
func TestTopologyAgentToGateways(t *testing.T) {
	needBinary(t)
	o := record(t)
	tp := startTopology(t)
	grpcApp := grpcSDKApp(t, "app-grpc", tp.agent.GRPCEndpoint())
	httpApp := httpSDKApp(t, "app-http", fmt.Sprintf("127.0.0.1:%d", tp.agent.HTTPPort))
	const traces, depth = 150, 4
	for i := 0; i < traces; i++ {
		grpcApp.trace(depth)
		httpApp.trace(depth)
	}
	grpcApp.flush(t)
	httpApp.flush(t)
	sent := append(append([]string(nil), grpcApp.spans...), httpApp.spans...)
	require.Len(t, sent, 2*traces*depth)

	tl := tp.waitDelivered(sent, 60*time.Second)
	tl.fill(o)
	o.PeakRSS = max(peakRSS(tp.gateways[0]), peakRSS(tp.gateways[1]), peakRSS(tp.agent))
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	require.Zero(t, tl.duplicates)
	// Both gateways got a share.
	for i, s := range tp.sinks {
		require.Positive(t, s.SpanCount(), "gateway %d received nothing", i)
	}
	// trace_registry is read after its sink saw everything: by then every
	// span has passed the registry.
	checkTopology(t, tp, grpcApp, httpApp)
	total := metric(t, tp.gateways[0], "otlp_traces_total") + metric(t, tp.gateways[1], "otlp_traces_total")
	require.Equal(t, float64(2*traces), total, "trace_registry counts add up to the traces sent")
}
