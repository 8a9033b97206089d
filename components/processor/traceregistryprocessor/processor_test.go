package traceregistryprocessor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

func TestPassesDataUnchanged(t *testing.T) {
	sink := new(consumertest.TracesSink)
	cfg := createDefaultConfig()
	cfg.MaxTraces = 2 // full registry: data must still pass
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.False(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(context.Background(), &testHost{ext: newFakeRegistrar()}))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

	var want [][]byte
	m := ptrace.ProtoMarshaler{}
	for i := range 5 {
		td := buildTraces(
			span{trace: byte(i + 1), id: 1, service: "a", start: 0, end: time.Second},
			span{trace: byte(i + 10), id: 2, parent: 1, service: "b", err: true},
		)
		b, err := m.MarshalTraces(td)
		require.NoError(t, err)
		want = append(want, b)
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	got := sink.AllTraces()
	require.Len(t, got, len(want))
	for i := range got {
		b, err := m.MarshalTraces(got[i])
		require.NoError(t, err)
		assert.Equal(t, want[i], b, "batch %d", i)
	}
}

func TestLifecycleActiveThenCompleted(t *testing.T) {
	h := newHarness(t, nil)
	h.send(span{trace: 1, id: 2, parent: 1, service: "db", start: 100 * time.Millisecond, end: 400 * time.Millisecond})
	h.advance(3 * time.Second)
	h.send(
		span{trace: 1, id: 1, service: "api", start: 0, end: 1500 * time.Millisecond},
		span{trace: 1, id: 3, parent: 1, service: "api", start: 200 * time.Millisecond, end: 300 * time.Millisecond},
	)
	assert.Equal(t, [5]int64{1, 1, 0, 0, 0}, h.counts())

	// Idle for less than idle_timeout since the last span: still active.
	h.advance(9 * time.Second)
	assert.Equal(t, [5]int64{1, 1, 0, 0, 0}, h.counts())
	v, ok := h.p.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, "active", v.State)

	h.advance(time.Second)
	assert.Equal(t, [5]int64{1, 0, 1, 0, 0}, h.counts())
	n, sum := h.histogram(metricTraceSpans)
	assert.Equal(t, uint64(1), n)
	assert.InDelta(t, 3, sum, 0)
	n, sum = h.histogram(metricDuration)
	assert.Equal(t, uint64(1), n)
	assert.InDelta(t, 1.5, sum, 1e-9)

	v, ok = h.p.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, "completed", v.State)
	assert.True(t, v.RootSeen)
	assert.Equal(t, "api", v.RootService)
	assert.Equal(t, []string{"api", "db"}, v.Services)
	assert.Equal(t, uint32(3), v.SpanCount)
	assert.False(t, v.Error)
	assert.InDelta(t, 1.5, v.DurationSeconds, 1e-9)
	assert.Equal(t, t0, v.FirstSeen)
	assert.Equal(t, t0.Add(3*time.Second), v.LastSeen)
	assert.Equal(t, traceID(1).String(), v.TraceID)

	// Forgotten after completed_ttl.
	h.advance(time.Minute)
	_, ok = h.p.LookupTrace(traceID(1))
	assert.False(t, ok)
}

func TestFailureMarking(t *testing.T) {
	h := newHarness(t, nil)
	h.send(
		span{trace: 1, id: 1, service: "api"},
		span{trace: 1, id: 2, parent: 1, service: "db", err: true},
		span{trace: 2, id: 1, service: "api"},
		span{trace: 3, id: 1, service: "api", err: true},
	)
	h.advance(10 * time.Second)
	assert.Equal(t, [5]int64{3, 0, 3, 2, 0}, h.counts())
	v, ok := h.p.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, "failed", v.State)
	assert.True(t, v.Error)
	v, _ = h.p.LookupTrace(traceID(2))
	assert.Equal(t, "completed", v.State)
}

func TestEvictionLeastRecentlyUpdated(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTraces = 3 })
	for i := byte(1); i <= 3; i++ {
		h.send(span{trace: i, id: 1, service: "api"})
		h.clock.Advance(time.Millisecond)
	}
	h.send(span{trace: 1, id: 2, parent: 1, service: "api"}) // 1 is now the most recent
	h.send(span{trace: 4, id: 1, service: "api"})            // evicts 2
	h.send(span{trace: 5, id: 1, service: "api"})            // evicts 3
	assert.Equal(t, [5]int64{5, 3, 0, 0, 2}, h.counts())
	for i, want := range map[byte]bool{1: true, 2: false, 3: false, 4: true, 5: true} {
		_, ok := h.p.LookupTrace(traceID(i))
		assert.Equal(t, want, ok, "trace %d", i)
	}
	// A span of an evicted trace starts a new trace.
	h.send(span{trace: 2, id: 2, parent: 1, service: "api"})
	assert.Equal(t, [5]int64{6, 3, 0, 0, 3}, h.counts())
	h.advance(10 * time.Second)
	assert.Equal(t, [5]int64{6, 0, 3, 0, 3}, h.counts())
}

func TestDegradedAndRecoveredOnTransitionsOnly(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxTraces = 10
		c.DegradedRatio = 0.9
		c.RecoveryRatio = 0.5
	})
	// 8 traces at t0: below 9.
	for i := byte(1); i <= 8; i++ {
		h.send(span{trace: i, id: 1})
	}
	assert.Empty(t, h.host.statuses())
	h.advance(5 * time.Second)
	// 9th: degraded; more traces and evictions report nothing new.
	h.send(span{trace: 9, id: 1})
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, h.host.statuses())
	assert.Contains(t, h.host.events[0].Err().Error(), "degraded_ratio 0.9 of max_traces 10")
	for i := byte(10); i <= 20; i++ {
		h.send(span{trace: i, id: 1})
	}
	require.Len(t, h.host.statuses(), 1)
	assert.Equal(t, int64(10), h.value(metricActive, ""))
	assert.Equal(t, int64(10), h.value(metricEvicted, ""))
	assert.True(t, h.p.reg.isDegraded())

	// Expire down to 5 (not below recovery 5): still degraded.
	h.clock.Advance(time.Second)
	for i := byte(16); i <= 20; i++ {
		h.send(span{trace: i, id: 2, parent: 1})
	}
	h.advance(9 * time.Second) // 11..15 last seen 10s ago expire; 16..20 remain
	assert.Equal(t, int64(5), h.value(metricActive, ""))
	require.Len(t, h.host.statuses(), 1)

	h.advance(time.Second) // all expire: recovered
	assert.Equal(t, int64(0), h.value(metricActive, ""))
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, h.host.statuses())
	h.advance(time.Second)
	require.Len(t, h.host.statuses(), 2)
}

func TestLateSpanOfCompletedTrace(t *testing.T) {
	h := newHarness(t, nil)
	h.send(span{trace: 1, id: 1, service: "api", start: 0, end: time.Second})
	h.advance(10 * time.Second)
	assert.Equal(t, [5]int64{1, 0, 1, 0, 0}, h.counts())

	// A late span updates the completed trace where it is: it stays
	// completed, counted once; its Error status counts it failed, once.
	h.send(span{trace: 1, id: 2, parent: 1, service: "db", err: true, start: 0, end: 2 * time.Second})
	assert.Equal(t, [5]int64{1, 0, 1, 1, 0}, h.counts())
	v, _ := h.p.LookupTrace(traceID(1))
	assert.Equal(t, "failed", v.State)
	assert.Equal(t, uint32(2), v.SpanCount)
	h.send(span{trace: 1, id: 3, parent: 1, service: "db", err: true})
	h.advance(10 * time.Second)
	assert.Equal(t, [5]int64{1, 0, 1, 1, 0}, h.counts())
	n, _ := h.histogram(metricTraceSpans)
	assert.Equal(t, uint64(1), n, "histograms record a trace at its completion only")

	// The late span restarted completed_ttl: still remembered 50 s later.
	h.advance(50 * time.Second)
	_, ok := h.p.LookupTrace(traceID(1))
	assert.True(t, ok)
	// Once forgotten, a span counts a new trace.
	h.advance(time.Minute)
	h.send(span{trace: 1, id: 4, parent: 1, service: "db"})
	assert.Equal(t, [5]int64{2, 1, 1, 1, 0}, h.counts())
}

func TestLateSpanAtCapacity(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTraces = 2; c.MaxCompleted = 1 })
	h.send(span{trace: 1, id: 1})
	h.advance(10 * time.Second) // 1 completed, remembered
	h.send(span{trace: 2, id: 1}, span{trace: 3, id: 1})
	// A late span of 1 with the registry full evicts nothing: 1 is not
	// active again.
	h.send(span{trace: 1, id: 2, parent: 1})
	assert.Equal(t, [5]int64{3, 2, 1, 0, 0}, h.counts())
	h.send(span{trace: 4, id: 1})
	assert.Equal(t, [5]int64{4, 2, 1, 0, 1}, h.counts())
	v, ok := h.p.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, "completed", v.State)
}

func TestMaxCompletedBound(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCompleted = 2 })
	h.send(span{trace: 1, id: 1}, span{trace: 2, id: 1}, span{trace: 3, id: 1})
	h.advance(10 * time.Second)
	_, ok := h.p.LookupTrace(traceID(1))
	assert.False(t, ok, "oldest completed trace is forgotten")
	for _, id := range []byte{2, 3} {
		_, ok := h.p.LookupTrace(traceID(id))
		assert.True(t, ok)
	}
	assert.Equal(t, 2, h.p.reg.done.n)
}

func TestNoCompletedMemory(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CompletedTTL = 0 })
	h.send(span{trace: 1, id: 1})
	h.advance(10 * time.Second)
	_, ok := h.p.LookupTrace(traceID(1))
	assert.False(t, ok)
	h.send(span{trace: 1, id: 2})
	assert.Equal(t, [5]int64{2, 1, 1, 0, 0}, h.counts())
}

func TestDimensionsCapped(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Dimensions = []string{"service.name"}
		c.MaxDimensionValues = 2
	})
	h.send(
		span{trace: 1, id: 1, service: "a"},
		span{trace: 2, id: 1, service: "b"},
		span{trace: 3, id: 1, service: "c"},
		span{trace: 4, id: 1, service: "d", err: true},
		span{trace: 5, id: 1, service: "a", err: true},
	)
	assert.Equal(t, int64(2), h.value(metricTraces, "a"))
	assert.Equal(t, int64(1), h.value(metricTraces, "b"))
	assert.Equal(t, int64(2), h.value(metricTraces, "other"))
	assert.Equal(t, int64(0), h.value(metricTraces, "c"))
	h.advance(10 * time.Second)
	assert.Equal(t, int64(2), h.value(metricCompleted, "other"))
	assert.Equal(t, int64(1), h.value(metricFailed, "other"))
	assert.Equal(t, int64(1), h.value(metricFailed, "a"))
	m, err := h.tel.GetMetric(metricTraces)
	require.NoError(t, err)
	values := map[string]bool{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("service.name")
		values[v.AsString()] = true
	}
	assert.Equal(t, map[string]bool{"a": true, "b": true, "other": true}, values)
}

func TestDimensionIsFirstSpansService(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Dimensions = []string{"service.name"} })
	// The child's span arrives first, from "db"; the root comes from "api".
	h.send(span{trace: 1, id: 2, parent: 1, service: "db"})
	h.send(span{trace: 1, id: 1, service: "api", err: true})
	// Every series of the trace stays with "db", so that per label value
	// total = active + completed + evicted.
	assert.Equal(t, int64(1), h.value(metricTraces, "db"))
	assert.Equal(t, int64(1), h.value(metricActive, "db"))
	assert.Equal(t, int64(0), h.value(metricTraces, "api"))
	assert.Equal(t, int64(0), h.value(metricActive, "api"))
	h.advance(10 * time.Second)
	assert.Equal(t, int64(1), h.value(metricCompleted, "db"))
	assert.Equal(t, int64(1), h.value(metricFailed, "db"))
	assert.Equal(t, int64(0), h.value(metricCompleted, "api"))
	// The lookup still names the root's service.
	v, _ := h.p.LookupTrace(traceID(1))
	assert.Equal(t, "api", v.RootService)
	assert.Equal(t, []string{"api", "db"}, v.Services)
}

func TestLookupView(t *testing.T) {
	h := newHarness(t, nil)
	// Registered with the registrar extension at start.
	l := h.host.ext.get(testID)
	require.NotNil(t, l)

	_, ok := l.LookupTrace(traceID(9))
	assert.False(t, ok)

	var spans []span
	for i, s := range []string{"a", "b", "c", "d", "e", "a"} {
		spans = append(spans, span{trace: 1, id: byte(i + 2), parent: 1, service: s})
	}
	h.send(spans...)
	v, ok := l.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, "active", v.State)
	assert.False(t, v.RootSeen)
	assert.Empty(t, v.RootService)
	assert.Equal(t, []string{"a", "b", "c", "d"}, v.Services)
	assert.True(t, v.ServicesTruncated)
	assert.Equal(t, uint32(6), v.SpanCount)
	// The root arriving late takes the first place, even with full slots.
	h.send(span{trace: 1, id: 1, service: "e"})
	v, _ = l.LookupTrace(traceID(1))
	assert.Equal(t, "e", v.RootService)
	assert.Equal(t, "e", v.Services[0])

	// A trace without service.name.
	h.send(span{trace: 2, id: 1})
	v, _ = l.LookupTrace(traceID(2))
	assert.Equal(t, []string{unknownService}, v.Services)

	require.NoError(t, h.p.shutdown(context.Background()))
	assert.Nil(t, h.host.ext.get(testID), "unregistered at shutdown")
}

func TestSpanWithoutTimestampsOrTraceID(t *testing.T) {
	h := newHarness(t, nil)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	spans.AppendEmpty().SetTraceID(traceID(1))
	spans.AppendEmpty() // empty trace ID: passed on, not registered
	err := h.p.consumeTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, [5]int64{1, 1, 0, 0, 0}, h.counts())
	h.advance(10 * time.Second)
	n, sum := h.histogram(metricDuration)
	assert.Equal(t, uint64(1), n)
	assert.Zero(t, sum)
}

func TestBackgroundSweeper(t *testing.T) {
	// Real time, short idle_timeout: the sweeper goroutine completes traces.
	cfg := createDefaultConfig()
	cfg.IdleTimeout = 20 * time.Millisecond
	p, err := newTraceRegistry(processortest.NewNopSettings(metadata.Type).TelemetrySettings, testID, cfg, time.Now, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), &testHost{ext: newFakeRegistrar()}))
	defer func() { require.NoError(t, p.shutdown(context.Background())) }()
	err = p.consumeTraces(context.Background(), buildTraces(span{trace: 1, id: 1}))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, ok := p.LookupTrace(traceID(1))
		return ok && v.State == "completed"
	}, 10*time.Second, 5*time.Millisecond)
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTraces = 100000 })
	const workers, tracesPer, spansPer = 8, 200, 5
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Readers: lookups, metric collection and sweeps run alongside.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.p.LookupTrace(traceID(1))
			_, _ = h.tel.GetMetric(metricActive)
			h.p.sweep(context.Background())
		}
	}()
	var senders sync.WaitGroup
	for w := range workers {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for tr := range tracesPer {
				td := ptrace.NewTraces()
				ss := td.ResourceSpans().AppendEmpty()
				ss.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", w))
				spans := ss.ScopeSpans().AppendEmpty().Spans()
				for s := range spansPer {
					sp := spans.AppendEmpty()
					// Every worker also sends spans of shared traces.
					id := pcommon.TraceID{0: byte(w + 1), 1: byte(tr), 2: byte(tr >> 8)}
					if s == 0 {
						id = pcommon.TraceID{15: byte(tr%50 + 1)}
					}
					sp.SetTraceID(id)
					if s == spansPer-1 {
						sp.Status().SetCode(ptrace.StatusCodeError)
					}
				}
				err := h.p.consumeTraces(context.Background(), td)
				assert.NoError(t, err)
			}
		}()
	}
	senders.Wait()
	close(stop)
	wg.Wait()
	const distinct = workers*tracesPer + 50
	assert.Equal(t, int64(distinct), h.value(metricTraces, ""))
	h.advance(10 * time.Second)
	assert.Equal(t, [5]int64{distinct, 0, distinct, workers * tracesPer, 0}, h.counts())
}

func TestCapacityGauge(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxTraces = 1234
		c.Dimensions = []string{dimensionServiceName}
	})
	h.send(span{trace: 1, id: 1, service: "api"})
	m, err := h.tel.GetMetric(metricCapacity)
	require.NoError(t, err)
	pts := m.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, pts, 1)
	assert.Equal(t, int64(1234), pts[0].Value)
	assert.Zero(t, pts[0].Attributes.Len(), "capacity has no dimension label")
}

func TestSweepBoundedPerLockHold(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTraces = 3 * sweepChunk })
	for i := range 3 * sweepChunk {
		td := buildTraces(span{id: 1})
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.TraceID{0: 1, 14: byte(i >> 8), 15: byte(i)})
		require.NoError(t, h.p.consumeTraces(context.Background(), td))
	}
	h.clock.Advance(time.Minute)
	out, opts, _, more := h.p.reg.sweep(nil, sweepChunk)
	assert.Len(t, out, sweepChunk, "one lock hold completes at most sweepChunk traces")
	h.p.tel.record(context.Background(), out, opts)
	assert.True(t, more)
	assert.Equal(t, 2*sweepChunk, h.p.reg.activeCount())
	// The processor's sweep goes on until nothing is left.
	h.p.sweep(context.Background())
	assert.Equal(t, [5]int64{3 * sweepChunk, 0, 3 * sweepChunk, 0, 0}, h.counts())
	n, _ := h.histogram(metricTraceSpans)
	assert.Equal(t, uint64(3*sweepChunk), n)
}

// TestAdjacentSpansFoldIntoOneObservation: spans of one trace next to each
// other in a request (as SDKs send them) are looked up once as a run; the
// registry must end up exactly as if each had come in its own resource.
func TestAdjacentSpansFoldIntoOneObservation(t *testing.T) {
	spans := []span{
		{id: 2, parent: 1, service: "api", start: 3 * time.Millisecond, end: 9 * time.Millisecond},
		{id: 1, service: "api", start: 2 * time.Millisecond, end: 20 * time.Millisecond}, // the root, in the middle
		{id: 3, parent: 1, service: "api", err: true, start: 0, end: 25 * time.Millisecond},
		{id: 4, parent: 1, service: "api", start: 4 * time.Millisecond, end: 5 * time.Millisecond},
	}
	sep := newHarness(t, nil) // one resource a span: no runs
	for i := range spans {
		spans[i].trace = 1
	}
	sep.send(spans...)

	run := newHarness(t, nil) // one scope: a run of four, then another trace
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "api")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for _, s := range append(spans, span{trace: 2, id: 1, service: "api"}) {
		buildTraces(s).ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).CopyTo(ss.AppendEmpty())
	}
	require.NoError(t, run.p.consumeTraces(context.Background(), td))

	want, ok := sep.p.LookupTrace(traceID(1))
	require.True(t, ok)
	got, ok := run.p.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, want, got)
	assert.Equal(t, uint32(4), got.SpanCount)
	assert.True(t, got.RootSeen)
	assert.True(t, got.Error)
	assert.InDelta(t, 0.025, got.DurationSeconds, 1e-9, "the earliest start (the third span's) to the latest end (its own)")
	_, ok = run.p.LookupTrace(traceID(2))
	assert.True(t, ok, "the next trace is a run of its own")
	assert.Equal(t, [5]int64{2, 2, 0, 0, 0}, run.counts())
}
