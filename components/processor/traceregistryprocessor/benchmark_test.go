package traceregistryprocessor

import (
	"context"
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

// Every benchmark op is one batch of benchBatch spans; ns/span and
// allocs/span are reported beside the per-batch numbers.
const benchBatch = 100

func benchRegistry(b *testing.B, mutate func(*Config)) (*traceRegistry, *fakeClock) {
	b.Helper()
	cfg := createDefaultConfig()
	if mutate != nil {
		mutate(cfg)
	}
	clock := newFakeClock()
	p, err := newTraceRegistry(processortest.NewNopSettings(metadata.Type).TelemetrySettings, testID, cfg, clock.Now, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return p, clock
}

// benchTraces is one resource with n spans; trace IDs are set by setIDs.
func benchTraces(n int) (ptrace.Traces, ptrace.SpanSlice) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "node-1")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetSpanID(pcommon.SpanID{0: 1, 7: byte(i)})
		sp.SetParentSpanID(pcommon.SpanID{0: 2})
		sp.SetName("GET /cart")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond)))
	}
	return td, spans
}

func setIDs(spans ptrace.SpanSlice, first uint64) { setRunIDs(spans, first, 1) }

func reportPerSpan(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/span")
}

// allocsPerSpan measures allocations of f per span, outside the timer.
func allocsPerSpan(b *testing.B, f func()) {
	b.StopTimer()
	a := testing.AllocsPerRun(100, f)
	b.ReportMetric(a/benchBatch, "allocs/span")
	b.StartTimer()
}

// BenchmarkTraceRegistryNewTraces: every span starts a new trace, with room
// in the registry (the registry is emptied, off the clock, when full). The
// time includes setting the batch's trace IDs.
func BenchmarkTraceRegistryNewTraces(b *testing.B) {
	benchNewTraces(b, 1)
}

// BenchmarkTraceRegistryNewTraceRuns is BenchmarkTraceRegistryNewTraces
// with the spans of a trace adjacent, as SDKs export them and as the bench's
// load sends them: 10 new traces of 10 spans a batch.
func BenchmarkTraceRegistryNewTraceRuns(b *testing.B) {
	benchNewTraces(b, 10)
}

// benchNewTraces feeds batches of new traces of per adjacent spans each.
func benchNewTraces(b *testing.B, per int) {
	p, clock := benchRegistry(b, func(c *Config) { c.MaxTraces = 1 << 17; c.CompletedTTL = 0 })
	td, spans := benchTraces(benchBatch)
	ctx := context.Background()
	next := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if p.reg.active.n+benchBatch > p.cfg.MaxTraces {
			b.StopTimer()
			clock.Advance(time.Hour)
			p.sweep(ctx)
			b.StartTimer()
		}
		setRunIDs(spans, next, per)
		next += uint64(benchBatch / per)
		_ = p.consumeTraces(ctx, td)
	}
	reportPerSpan(b)
}

// setRunIDs gives runs of per adjacent spans one trace ID each, from first.
func setRunIDs(spans ptrace.SpanSlice, first uint64, per int) {
	for i := 0; i < spans.Len(); i++ {
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[8:], first+uint64(i/per))
		id[0] = 0xab
		spans.At(i).SetTraceID(id)
	}
}

func BenchmarkTraceRegistryExistingTraces(b *testing.B) {
	p, _ := benchRegistry(b, nil)
	td, spans := benchTraces(benchBatch)
	setIDs(spans, 1)
	ctx := context.Background()
	// 1000 known traces; the batch touches 100 of them.
	for i := uint64(0); i < 10; i++ {
		setIDs(spans, 1+i*benchBatch)
		_ = p.consumeTraces(ctx, td)
	}
	setIDs(spans, 1+5*benchBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = p.consumeTraces(ctx, td)
	}
	reportPerSpan(b)
	allocsPerSpan(b, func() { _ = p.consumeTraces(ctx, td) })
}

// BenchmarkTraceRegistryParallel: 10 goroutines send batches of their own
// known traces at once (several receivers and pipelines).
func BenchmarkTraceRegistryParallel(b *testing.B) {
	p, _ := benchRegistry(b, nil)
	ctx := context.Background()
	const goroutines = 10
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	batches := make(chan ptrace.Traces, 64)
	for g := uint64(0); g < 64; g++ {
		td, spans := benchTraces(benchBatch)
		setIDs(spans, 1+g*benchBatch)
		_ = p.consumeTraces(ctx, td)
		batches <- td
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		td := <-batches
		for pb.Next() {
			_ = p.consumeTraces(ctx, td)
		}
	})
	reportPerSpan(b)
}

// BenchmarkTraceRegistryAtCapacity: the registry is full; every span starts
// a new trace and evicts the least recently updated one.
func BenchmarkTraceRegistryAtCapacity(b *testing.B) {
	p, _ := benchRegistry(b, func(c *Config) { c.MaxTraces = 10000 })
	td, spans := benchTraces(benchBatch)
	ctx := context.Background()
	next := uint64(1)
	for next <= 10000 {
		setIDs(spans, next)
		next += benchBatch
		_ = p.consumeTraces(ctx, td)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		setIDs(spans, next)
		next += benchBatch
		_ = p.consumeTraces(ctx, td)
	}
	reportPerSpan(b)
	allocsPerSpan(b, func() {
		setIDs(spans, next)
		next += benchBatch
		_ = p.consumeTraces(ctx, td)
	})
}

// BenchmarkTraceRegistryComponent is the whole processor as the pipeline
// calls it (processor helper, its own metrics, a no-op next consumer), on
// known traces.
func BenchmarkTraceRegistryComponent(b *testing.B) {
	f := NewFactory()
	proc, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), f.CreateDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	td, spans := benchTraces(benchBatch)
	setIDs(spans, 1)
	ctx := context.Background()
	_ = proc.ConsumeTraces(ctx, td)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = proc.ConsumeTraces(ctx, td)
	}
	reportPerSpan(b)
}

// BenchmarkTraceRegistryMemory reports the heap held per tracked trace:
// a registry created for, and filled with, 100k traces, all of it
// (record slab, index map, interned names) divided by 100k.
func BenchmarkTraceRegistryMemory(b *testing.B) {
	const traces = 100000
	for _, tc := range []struct {
		name      string
		completed int
	}{{"active", 0}, {"active+completed", traces}} {
		b.Run(tc.name, func(b *testing.B) {
			var perTrace float64
			for b.Loop() {
				perTrace = measureBytesPerTrace(b, traces, tc.completed)
			}
			b.ReportMetric(perTrace, "bytes/trace")
		})
	}
}

func measureBytesPerTrace(b *testing.B, active, completed int) float64 {
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, clock := benchRegistry(b, func(c *Config) {
		c.MaxTraces = active
		c.MaxCompleted = completed
		c.CompletedTTL = time.Hour
	})
	td, spans := benchTraces(benchBatch)
	next := uint64(1)
	fill := func(n int) {
		for i := 0; i < n; i += benchBatch {
			setIDs(spans, next)
			next += benchBatch
			_ = p.consumeTraces(ctx, td)
		}
	}
	tracked := active
	if completed > 0 {
		fill(completed)
		clock.Advance(time.Minute)
		p.sweep(ctx)
		tracked += completed
	}
	fill(active)
	td = ptrace.Traces{}
	spans = ptrace.SpanSlice{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := p.reg.active.n + p.reg.done.n; got != tracked {
		b.Fatalf("tracked %d traces, want %d", got, tracked)
	}
	runtime.KeepAlive(p)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(tracked)
}

// BenchmarkTraceRegistrySweepAfterBurst: 100k traces arrive in a burst and
// go idle together; the sweep then completes them all. The hot path waits
// for the registry lock while a sweep holds it, so the longest single hold
// is the worst pause a request can see ("max-hold-µs"; on a busy machine it
// includes preemption, so "p99-hold-µs" is shown too); "unbounded" is the
// sweep as it was, every idle trace in one hold.
func BenchmarkTraceRegistrySweepAfterBurst(b *testing.B) {
	const burst = 100000
	for _, tc := range []struct {
		name  string
		limit int
	}{{"bounded", sweepChunk}, {"unbounded", burst}} {
		b.Run(tc.name, func(b *testing.B) {
			p, clock := benchRegistry(b, func(c *Config) { c.MaxTraces = burst; c.MaxCompleted = burst })
			td, spans := benchTraces(benchBatch)
			ctx := context.Background()
			next := uint64(1)
			var worst, total time.Duration
			var holds []time.Duration
			for b.Loop() {
				b.StopTimer()
				for range burst / benchBatch {
					setIDs(spans, next)
					next += benchBatch
					_ = p.consumeTraces(ctx, td)
				}
				clock.Advance(time.Hour)
				b.StartTimer()
				// processor.sweep's loop, timing each lock hold.
				for more := true; more; {
					start := time.Now()
					var out []finished
					out, _, _, more = p.reg.sweep(p.sweepBuf[:0], tc.limit)
					hold := time.Since(start)
					worst = max(worst, hold)
					holds = append(holds, hold)
					total += hold
					p.tel.record(ctx, out, p.reg.dimOpts)
					p.sweepBuf = out[:0]
				}
				if p.reg.active.n != 0 {
					b.Fatalf("%d traces left active", p.reg.active.n)
				}
			}
			slices.Sort(holds)
			b.ReportMetric(float64(worst.Microseconds()), "max-hold-µs")
			b.ReportMetric(float64(holds[len(holds)*99/100].Microseconds()), "p99-hold-µs")
			b.ReportMetric(float64(holds[len(holds)/2].Microseconds()), "p50-hold-µs")
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "sweep-µs/op")
		})
	}
}
