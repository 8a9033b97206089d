package main

import (
	"testing"
	"time"
)

func TestMissingFromBelowCountsOnlyBelowTheLimit(t *testing.T) {
	var accepted, delivered spanSet
	accepted.addRange(0, 3000)
	accepted.addRange(chunkBits-10, 20) // across a chunk boundary
	delivered.addRange(0, 1000)
	delivered.add(1500)
	for _, c := range []struct {
		limit uint64
		want  int64
	}{
		{0, 0}, {1000, 0}, {1001, 1}, {1501, 500}, {3000, 1999}, {1 << 40, 1999 + 20},
		{chunkBits - 5, 1999 + 5}, {chunkBits + 3, 1999 + 13},
	} {
		if got := accepted.missingFromBelow(&delivered, c.limit); got != c.want {
			t.Errorf("below %d: %d missing, want %d", c.limit, got, c.want)
		}
	}
}

func TestAgeHistogramQuantiles(t *testing.T) {
	var h ageHistogram
	h.observe(10*time.Millisecond, 90)
	h.observe(2*time.Second, 9)
	h.observe(30*time.Second, 1)
	within := func(got, want time.Duration) bool { return got >= want && got <= want+want/10 }
	if got := h.quantile(0.5); !within(got, 10*time.Millisecond) {
		t.Errorf("p50 %s, want about 10ms", got)
	}
	if got := h.quantile(0.95); !within(got, 2*time.Second) {
		t.Errorf("p95 %s, want about 2s", got)
	}
	if got := h.quantile(1); !within(got, 30*time.Second) {
		t.Errorf("p100 %s, want about 30s", got)
	}
	if h.count() != 100 {
		t.Errorf("count %d, want 100", h.count())
	}
}

// The default catch-up rows include the live-first gateway, a catch-up row
// only: gateway-wal-always with persistent_queue::live_first.
func TestCatchupRowsIncludeLiveFirst(t *testing.T) {
	ps, err := selectCatchup(defaultCatchup)
	if err != nil || len(ps) != 3 {
		t.Fatalf("default catch-up rows %+v, %v", ps, err)
	}
	lf := ps[2]
	if lf.Name != "gateway-wal-always-live-first" || lf.Set[len(lf.Set)-1] != "exporters::otlp_retry::persistent_queue::live_first=true" {
		t.Fatalf("live-first row %+v", lf)
	}
	if _, err := selectPipelines(lf.Name); err == nil {
		t.Error("the live-first row runs in the rounds too; it is a catch-up row only")
	}
}
