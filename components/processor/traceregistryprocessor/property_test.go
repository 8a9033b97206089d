package traceregistryprocessor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// byLabel reads every point of an int64 counter or gauge by its
// service.name value.
func (h *harness) byLabel(name string) map[string]int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(h.t, err)
	var pts []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		pts = d.DataPoints
	case metricdata.Gauge[int64]:
		pts = d.DataPoints
	default:
		h.t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	out := map[string]int64{}
	for _, p := range pts {
		v, _ := p.Attributes.Value(attribute.Key(dimensionServiceName))
		out[v.AsString()] += p.Value
	}
	return out
}

// scrape is every counter series by label value, as one scrape sees them.
type scrape map[string][5]int64 // total, active, completed, failed, evicted

func (h *harness) scrape() scrape {
	h.t.Helper()
	out := scrape{}
	for k, name := range []string{metricTraces, metricActive, metricCompleted, metricFailed, metricEvicted} {
		for label, v := range h.byLabel(name) {
			c := out[label]
			c[k] = v
			out[label] = c
		}
	}
	return out
}

// TestPropertyIdentitiesPerLabel drives the registry with random requests
// (spans of random traces from several services, in random order, roots and
// errors at random), refusals by the next consumer, and clock steps with
// sweeps, over a registry small enough to evict and forget all the time.
// After every step, for every service.name value:
//
//	total = active + completed + evicted, failed <= completed,
//
// no counter went down, a refused request changed nothing, the active
// series add up to the registry's size, at most its capacity, and exactly
// the names remembered traces use are interned (requireInterning).
func TestPropertyIdentitiesPerLabel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			h := newHarness(t, func(c *Config) {
				c.MaxTraces = 6
				c.MaxCompleted = 4
				c.CompletedTTL = 20 * time.Second
				c.DegradedRatio = 0.8
				c.RecoveryRatio = 0.5
				c.Dimensions = []string{dimensionServiceName}
				c.MaxDimensionValues = 3 // 5 services: some count as "other"
			})
			services := []string{"api", "db", "cache", "queue", ""}
			prev := h.scrape()
			for step := range 200 {
				what := "send"
				switch r := rng.IntN(10); {
				case r < 2:
					what = "advance"
					h.advance(time.Duration(rng.IntN(15)) * time.Second)
				case r < 4:
					what = "refused send"
					h.next.refuse(errors.New("backend down"))
					require.Error(t, h.p.consumeTraces(context.Background(), randomTraces(rng, services)))
					h.next.refuse(nil)
				default:
					require.NoError(t, h.p.consumeTraces(context.Background(), randomTraces(rng, services)))
				}
				cur := h.scrape()
				var active int64
				for label, c := range cur {
					at := fmt.Sprintf("step %d (%s), service.name=%q: %v", step, what, label, c)
					require.Equal(t, c[0], c[1]+c[2]+c[4], "total = active + completed + evicted; %s", at)
					require.LessOrEqual(t, c[3], c[2], "failed <= completed; %s", at)
					for k := range c {
						if k != 1 {
							require.GreaterOrEqual(t, c[k], prev[label][k], "counter %d went down; %s", k, at)
						}
					}
					active += c[1]
				}
				if what == "refused send" {
					require.Equal(t, prev, cur, "a refused request changed the counts at step %d", step)
				}
				require.Equal(t, int64(h.p.reg.activeCount()), active, "step %d", step)
				require.LessOrEqual(t, active, int64(6), "step %d", step)
				requireInterning(t, h.p.reg, fmt.Sprintf("step %d (%s)", step, what))
				prev = cur
			}
		})
	}
}

// randomTraces is a request of 1-3 resources of random services with 1-6
// spans each, of 12 possible traces, with random parents and statuses.
func randomTraces(rng *rand.Rand, services []string) ptrace.Traces {
	td := ptrace.NewTraces()
	for range 1 + rng.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		if svc := services[rng.IntN(len(services))]; svc != "" {
			rs.Resource().Attributes().PutStr(dimensionServiceName, svc)
		}
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for range 1 + rng.IntN(6) {
			sp := spans.AppendEmpty()
			sp.SetTraceID(traceID(byte(1 + rng.IntN(12))))
			sp.SetSpanID(pcommon.SpanID{0: byte(rng.IntN(256)), 7: 1})
			if rng.IntN(3) > 0 {
				sp.SetParentSpanID(pcommon.SpanID{7: 9})
			}
			if rng.IntN(5) == 0 {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
			start := t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(rng.IntN(500)) * time.Millisecond)))
		}
	}
	return td
}
