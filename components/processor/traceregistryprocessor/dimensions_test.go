package traceregistryprocessor

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// requireInterning checks the interned names against the records: every
// name a remembered trace's slot holds is interned and counted once per
// slot, no other name is interned, and the bytes charged add up and stay
// within labelBudget.
func requireInterning(t *testing.T, r *registry, at string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := make([]uint32, len(r.svcNames))
	for _, i := range r.index {
		for _, s := range r.recs[i].svc {
			if s != 0 && s != svcOverflow {
				want[s]++
			}
		}
	}
	bytes, live := 0, 0
	for i := 1; i < len(r.svcNames); i++ {
		require.Equal(t, want[i], r.svcRefs[i], "%s: references of service %d %q", at, i, r.svcNames[i])
		name := r.svcNames[i]
		if want[i] == 0 {
			require.Empty(t, name, "%s: service %d unused but still interned", at, i)
			continue
		}
		require.NotEmpty(t, name, "%s: service %d used but released", at, i)
		require.Equal(t, uint16(i), r.svcIndex[name], "%s: index of %q", at, name)
		require.LessOrEqual(t, len(name), maxLabelBytes, at)
		bytes += internCost(name)
		live++
	}
	require.Len(t, r.svcIndex, live, at)
	require.Equal(t, live, r.svcLive, at)
	require.Equal(t, bytes, r.svcBytes, at)
	require.LessOrEqual(t, r.svcBytes, labelBudget, at)
}

func TestClampLabel(t *testing.T) {
	euro := "€" // 3 bytes
	long := strings.Repeat("a", maxLabelBytes-1) + euro + "tail"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "frontend", "frontend"},
		{"exactly the limit", strings.Repeat("b", maxLabelBytes), strings.Repeat("b", maxLabelBytes)},
		{"cut", strings.Repeat("c", 1<<20), strings.Repeat("c", maxLabelBytes)},
		{"a rune across the limit is dropped whole", long, strings.Repeat("a", maxLabelBytes-1)},
		{"invalid UTF-8 replaced", "svc\xff\xfename", "svc\uFFFDname"},
		{"huge invalid", strings.Repeat("\xff", 1<<20), "\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clampLabel(tc.in)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), maxLabelBytes)
			assert.True(t, utf8.ValidString(got))
		})
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = clampLabel(long) }), "a valid name is cut without copying")
}

// TestServiceNameCutInLookupAndLabel: a 1 MiB service.name is kept as its
// first 256 bytes, in the lookup and as the label value.
func TestServiceNameCutInLookupAndLabel(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Dimensions = []string{dimensionServiceName} })
	name := "huge-" + strings.Repeat("x", 1<<20)
	h.send(span{trace: 1, id: 1, service: name})
	v, ok := h.p.LookupTrace(traceID(1))
	require.True(t, ok)
	assert.Equal(t, []string{name[:maxLabelBytes]}, v.Services)
	assert.Equal(t, int64(1), h.value(metricTraces, name[:maxLabelBytes]))
	m, err := h.tel.GetMetric(metricTraces)
	require.NoError(t, err)
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		val, _ := dp.Attributes.Value(dimensionServiceName)
		assert.LessOrEqual(t, len(val.AsString()), maxLabelBytes)
	}
	// Another name with the same first 256 bytes is the same service.
	h.send(span{trace: 2, id: 1, service: name + "-other"})
	assert.Equal(t, int64(2), h.value(metricTraces, name[:maxLabelBytes]))
	requireInterning(t, h.p.reg, "after two names")
}

// TestServiceNamesReleased: names are released once no remembered trace
// uses them, by completion and forgetting, by eviction, and when a root
// span's service takes the last slot of a trace with more than 4.
func TestServiceNamesReleased(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxTraces = 10
		c.MaxCompleted = 10
	})
	for i := range 10 {
		h.send(span{trace: byte(i + 1), id: 1, parent: 9, service: fmt.Sprintf("svc-%d", i)})
	}
	requireInterning(t, h.p.reg, "10 traces")
	assert.Equal(t, 10, h.p.reg.svcLive)

	// Eviction: 5 new traces of one service evict 5 of the named ones.
	for i := range 5 {
		h.send(span{trace: byte(100 + i), id: 1, service: "steady"})
	}
	requireInterning(t, h.p.reg, "after evictions")
	assert.Equal(t, 6, h.p.reg.svcLive)

	// A trace of 5 services: the root's takes the fourth slot's place.
	h.send(
		span{trace: 50, id: 1, parent: 9, service: "m1"},
		span{trace: 50, id: 2, parent: 9, service: "m2"},
		span{trace: 50, id: 3, parent: 9, service: "m3"},
		span{trace: 50, id: 4, parent: 9, service: "m4"},
		span{trace: 50, id: 5, service: "m5"},
	)
	requireInterning(t, h.p.reg, "five services")
	v, _ := h.p.LookupTrace(traceID(50))
	assert.Equal(t, "m5", v.RootService)
	assert.True(t, v.ServicesTruncated)

	// Completed, then forgotten after completed_ttl: nothing is left.
	h.advance(10 * time.Second)
	requireInterning(t, h.p.reg, "completed")
	assert.Positive(t, h.p.reg.svcLive, "completed traces still name their services")
	h.advance(2 * time.Minute)
	requireInterning(t, h.p.reg, "forgotten")
	assert.Zero(t, h.p.reg.svcLive)
	assert.Zero(t, h.p.reg.svcBytes)

	// Released indexes are reused.
	n := len(h.p.reg.svcNames)
	h.send(span{trace: 1, id: 1, service: "again"})
	assert.Len(t, h.p.reg.svcNames, n)
	requireInterning(t, h.p.reg, "reused")
}

// TestLabelBudget: more distinct names alive at once than the budget
// holds: the budget is never passed, further names show as "other" in the
// lookup, and once the traces are gone new names are interned again.
func TestLabelBudget(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxTraces = 100000
		c.CompletedTTL = 0
	})
	perName := internCost(strings.Repeat("x", maxLabelBytes))
	fits := labelBudget / perName
	for i := range fits + 100 {
		td := buildTraces(span{id: 1, service: fmt.Sprintf("%06d-%s", i, strings.Repeat("y", 1<<10))})
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID([16]byte{0: 0xbd, 1: byte(i >> 16), 2: byte(i >> 8), 3: byte(i)})
		require.NoError(t, h.p.consumeTraces(context.Background(), td))
	}
	requireInterning(t, h.p.reg, "full")
	assert.Equal(t, fits, h.p.reg.svcLive)
	v, ok := h.p.LookupTrace([16]byte{0: 0xbd, 2: byte((fits + 50) >> 8), 3: byte(fits + 50)})
	require.True(t, ok)
	assert.Equal(t, []string{otherValue}, v.Services)

	h.advance(10 * time.Second) // every trace completes and is forgotten (completed_ttl 0)
	requireInterning(t, h.p.reg, "forgotten")
	assert.Zero(t, h.p.reg.svcBytes)
	h.send(span{trace: 7, id: 1, service: "after"})
	v, _ = h.p.LookupTrace(traceID(7))
	assert.Equal(t, []string{"after"}, v.Services)
}

// TestHeapAfterServiceNameFlood is issue 20's repro in process: 300
// requests, each with a distinct 1 MiB service.name, through the processor
// with the gateway's registry size. The heap after the flood (after a GC)
// may exceed the heap before by the label budget and a little, never by
// the names.
func TestHeapAfterServiceNameFlood(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MaxTraces = 100000
	cfg.Dimensions = []string{dimensionServiceName}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	clock := newFakeClock()
	p, err := newTraceRegistry(tel.NewTelemetrySettings(), testID, cfg, clock.Now, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	pad := strings.Repeat("x", 1<<20)
	for i := range 300 {
		td := buildTraces(span{id: 1, service: fmt.Sprintf("flood-%04d-", i) + pad})
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID([16]byte{0: 0xf1, 1: byte(i >> 8), 2: byte(i)})
		require.NoError(t, p.consumeTraces(context.Background(), td))
	}
	_, err = tel.GetMetric(metricTraces) // the label values are built too
	require.NoError(t, err)
	after := heap()
	grew := int64(after) - int64(before)
	t.Logf("heap before %d KiB, after 300 names of 1 MiB %d KiB (grew %d KiB; label budget %d KiB)",
		before>>10, after>>10, grew/1024, labelBudget>>10)
	assert.Less(t, grew, int64(labelBudget+(2<<20)), "heap growth after the flood")
	assert.Equal(t, 300, p.reg.activeCount())
	runtime.KeepAlive(p)
}
