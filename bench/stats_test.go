package main

import (
	"math"
	"testing"
)

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		in            []float64
		med, min, max float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{10, 40, 20, 30}, 25, 10, 40},
		{[]float64{7}, 7, 7, 7},
		{[]float64{5, 100, 6}, 6, 5, 100}, // one outlier moves the range, not the median
	} {
		s := spreadOf(c.in)
		if s.Median != c.med || s.Min != c.min || s.Max != c.max || s.N != len(c.in) {
			t.Errorf("spreadOf(%v) = %+v; want median %v, %v-%v", c.in, s, c.med, c.min, c.max)
		}
	}
	if s := spreadOf(nil); s.N != 0 {
		t.Errorf("spreadOf(nil) = %+v", s)
	}
}

func TestRatioRange(t *testing.T) {
	a := spread{Median: 120, Min: 110, Max: 130, N: 3}
	b := spread{Median: 100, Min: 95, Max: 105, N: 3}
	r := ratioOf(a, b)
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	if !near(r.Median, 1.2) || !near(r.Lo, 110.0/105) || !near(r.Hi, 130.0/95) || r.N != 3 {
		t.Fatalf("ratioOf = %+v", r)
	}
	if got := r.String(); got != "1.20x (1.05-1.37)" {
		t.Errorf("String = %q", got)
	}
	if r := ratioOf(a, spread{}); r.valid() {
		t.Errorf("ratio to nothing is valid: %+v", r)
	}
}

func TestVerdicts(t *testing.T) {
	rr := func(lo, med, hi float64) ratioRange { return ratioRange{Median: med, Lo: lo, Hi: hi, N: 3} }
	for _, c := range []struct {
		name    string
		r       ratioRange
		bound   float64
		atLeast verdict
		atMost  verdict
	}{
		{"all above", rr(1.05, 1.2, 1.37), 1.0, met, missed},
		{"all below", rr(0.7, 0.77, 0.79), 0.8, missed, met},
		{"straddles", rr(0.95, 1.1, 1.3), 1.0, withinNoise, withinNoise},
		{"median above, range straddles", rr(0.78, 0.85, 1.02), 0.8, withinNoise, withinNoise},
		{"median below, range straddles", rr(0.9, 0.95, 1.05), 1.0, withinNoise, withinNoise},
		{"edge counts as met", rr(1.0, 1.1, 1.2), 1.0, met, withinNoise},
		{"one round", ratioRange{Median: 1.5, Lo: 1.5, Hi: 1.5, N: 1}, 1.0, notJudged, notJudged},
	} {
		if got := atLeast(c.r, c.bound); got != c.atLeast {
			t.Errorf("%s: atLeast = %v, want %v", c.name, got, c.atLeast)
		}
		if got := atMost(c.r, c.bound); got != c.atMost {
			t.Errorf("%s: atMost = %v, want %v", c.name, got, c.atMost)
		}
	}
	for _, c := range []struct{ a, b, want verdict }{
		{met, met, met}, {met, missed, missed}, {withinNoise, missed, missed},
		{met, withinNoise, withinNoise}, {notJudged, met, notJudged},
	} {
		if got := both(c.a, c.b); got != c.want {
			t.Errorf("both(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if got := compare(rr(1.01, 1.1, 1.2), "higher", "lower"); got != "higher" {
		t.Errorf("compare above 1 = %q", got)
	}
	if got := compare(rr(0.5, 0.6, 0.99), "higher", "lower"); got != "lower" {
		t.Errorf("compare below 1 = %q", got)
	}
	if got := compare(rr(0.9, 1.1, 1.2), "higher", "lower"); got != "within noise" {
		t.Errorf("compare across 1 = %q", got)
	}
}

// TestComparisons checks which rows are compared with which, and the
// conclusions drawn from their rounds.
func TestComparisons(t *testing.T) {
	rounds := func(spans, cpu []float64) []sample {
		var out []sample
		for i := range spans {
			out = append(out, sample{SpansPerSec: spans[i], CPUPerM: cpu[i], Accepted: 1})
		}
		return out
	}
	byName := map[string]pipeline{}
	for _, p := range knownPipelines() {
		byName[p.Name] = p
	}
	rep := &report{Rows: []row{
		{pipeline: byName["stock"], Samples: rounds([]float64{100, 98, 102}, []float64{4, 4.1, 3.9})},
		{pipeline: byName["stock-durable"], Samples: rounds([]float64{50, 49, 51}, []float64{8, 8.2, 7.9})},
		{pipeline: byName["gateway-file-storage"], Samples: rounds([]float64{70, 69, 72}, []float64{6, 6.1, 5.9})},
		{pipeline: byName["gateway"], Samples: rounds([]float64{130, 120, 135}, []float64{3.1, 3.0, 3.3})},
		{pipeline: byName["gateway-zstd"], Samples: []sample{{Err: "lost spans"}}},
	}}
	got := map[string]comparison{}
	for _, c := range rep.comparisons() {
		got[c.Row.Name+"/"+c.Ref.Name] = c
	}
	for _, want := range []string{"stock-durable/stock", "gateway-file-storage/stock", "gateway-file-storage/stock-durable", "gateway/stock"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no comparison %s; have %v", want, keys(got))
		}
	}
	if len(got) != 4 {
		t.Fatalf("comparisons %v; want those 4 (a failed row is not compared)", keys(got))
	}
	shipped := got["gateway-file-storage/stock-durable"]
	if shipped.throughput() != "higher" || shipped.cost() != "lower" || shipped.minimum() != met || shipped.aim() != met {
		t.Errorf("gateway-file-storage vs stock-durable: %s, %s, %s", shipped.throughput(), shipped.cost(), shipped.targets())
	}
	if vs := got["gateway-file-storage/stock"]; vs.minimum() != missed || vs.throughput() != "lower" {
		t.Errorf("gateway-file-storage vs stock: %s %s", vs.throughput(), vs.targets())
	}
	// gateway: 1.30x median, but its 120 round against stock's 102 is
	// 1.18x: the spans/s aim (1.25x) is within noise, the minimum (1.15x) met.
	gw := got["gateway/stock"]
	if gw.minimum() != met || gw.aim() != withinNoise {
		t.Errorf("gateway vs stock: %s (spans %s, CPU %s)", gw.targets(), gw.Spans, gw.CPU)
	}
	if got["stock-durable/stock"].targets() != "" {
		t.Error("a stock row was judged against the targets")
	}
}

func keys(m map[string]comparison) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
