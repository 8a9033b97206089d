package traceregistryprocessor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otlpcol/otlpcol/components/pkg/tracelookup"
	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fakeClock is the injected clock: time moves only when a test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testHost records status events and offers a lookup registrar extension.
type testHost struct {
	mu     sync.Mutex
	events []*componentstatus.Event
	ext    *fakeRegistrar
}

var _ componentstatus.Reporter = (*testHost)(nil)

func (h *testHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{
		component.MustNewID("health"): h.ext,
		component.MustNewID("other"):  nopExtension{}, // not a registrar
	}
}

func (h *testHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *testHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []componentstatus.Status
	for _, ev := range h.events {
		out = append(out, ev.Status())
	}
	return out
}

type nopExtension struct {
	component.StartFunc
	component.ShutdownFunc
}

type fakeRegistrar struct {
	component.StartFunc
	component.ShutdownFunc
	mu      sync.Mutex
	lookups map[component.ID]tracelookup.Lookup
}

func (r *fakeRegistrar) RegisterTraceLookup(id component.ID, l tracelookup.Lookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups[id] = l
}

func (r *fakeRegistrar) UnregisterTraceLookup(id component.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.lookups, id)
}

func (r *fakeRegistrar) get(id component.ID) tracelookup.Lookup {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[id]
}

// harness is one started processor with a fake clock, telemetry and host.
type harness struct {
	t     *testing.T
	p     *traceRegistry
	clock *fakeClock
	tel   *componenttest.Telemetry
	host  *testHost
	next  *gateSink
}

// gateSink is the next consumer: it accepts into a sink, or refuses with
// the error set by refuse.
type gateSink struct {
	consumertest.TracesSink
	mu  sync.Mutex
	err error
}

func (g *gateSink) refuse(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.err = err
}

func (g *gateSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	g.mu.Lock()
	err := g.err
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return g.TracesSink.ConsumeTraces(ctx, td)
}

var testID = component.NewID(metadata.Type)

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.IdleTimeout = 10 * time.Second
	cfg.CompletedTTL = time.Minute
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, clock: newFakeClock(), tel: componenttest.NewTelemetry(),
		host: &testHost{ext: newFakeRegistrar()}}
	h.next = &gateSink{}
	p, err := newTraceRegistry(h.tel.NewTelemetrySettings(), testID, cfg, h.clock.Now, h.next)
	require.NoError(t, err)
	// The background sweeper ticks on real time; keep it out of the way so
	// that only the test's explicit sweeps act.
	p.interval = time.Hour
	h.p = p
	require.NoError(t, p.start(context.Background(), h.host))
	t.Cleanup(func() {
		require.NoError(t, p.shutdown(context.Background()))
		require.NoError(t, h.tel.Shutdown(context.Background()))
	})
	return h
}

// span describes one span to send.
type span struct {
	trace   byte
	id      byte
	parent  byte // 0: root
	service string
	err     bool
	start   time.Duration // offset from t0
	end     time.Duration
}

func traceID(b byte) pcommon.TraceID { return pcommon.TraceID{15: b, 0: 0xab} }

func buildTraces(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		if s.service != "" {
			rs.Resource().Attributes().PutStr("service.name", s.service)
		}
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceID(s.trace))
		sp.SetSpanID(pcommon.SpanID{7: s.id, 0: s.trace})
		if s.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{7: s.parent, 0: s.trace})
		}
		sp.SetName("op")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.start)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.end)))
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

func (h *harness) send(spans ...span) {
	h.t.Helper()
	err := h.p.consumeTraces(context.Background(), buildTraces(spans...))
	require.NoError(h.t, err)
}

// advance moves the clock and runs one sweep.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.p.sweep(context.Background())
}

// value sums an int64 sum or gauge metric, over the points whose attributes
// include the given service.name (all points when svc is "").
func (h *harness) value(name, svc string) int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(h.t, err)
	var pts []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		require.True(h.t, d.IsMonotonic, name)
		pts = d.DataPoints
	case metricdata.Gauge[int64]:
		pts = d.DataPoints
	default:
		h.t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	var sum int64
	for _, p := range pts {
		if svc != "" {
			if v, ok := p.Attributes.Value(attribute.Key(dimensionServiceName)); !ok || v.AsString() != svc {
				continue
			}
		}
		sum += p.Value
	}
	return sum
}

// counts returns total, active, completed, failed, evicted.
func (h *harness) counts() [5]int64 {
	return [5]int64{
		h.value(metricTraces, ""), h.value(metricActive, ""), h.value(metricCompleted, ""),
		h.value(metricFailed, ""), h.value(metricEvicted, ""),
	}
}

// histogram returns a histogram's count and sum over every point.
func (h *harness) histogram(name string) (uint64, float64) {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0, 0
	}
	var count uint64
	var sum float64
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			count += p.Count
			sum += p.Sum
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			count += p.Count
			sum += float64(p.Sum)
		}
	default:
		h.t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	return count, sum
}

func newFakeRegistrar() *fakeRegistrar {
	return &fakeRegistrar{lookups: map[component.ID]tracelookup.Lookup{}}
}
