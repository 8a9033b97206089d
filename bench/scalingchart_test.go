package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScalingChartWithoutRegistryRows: a run of only request-size rows
// (-pipelines stock-req-10,...) leaves the registry panels empty; the chart
// must still be written (an empty log axis made gonum/plot panic, which
// lost the run's flame graphs).
func TestScalingChartWithoutRegistryRows(t *testing.T) {
	rep := &report{Rows: []row{
		{pipeline: requestSizePipeline(stockName, 10), Samples: []sample{{SpansPerSec: 1000, CPUPerM: 15, Delivered: 10, Accepted: 10}}},
	}}
	if !rep.hasScaling() {
		t.Fatal("a request-size row is a scaling row")
	}
	path := filepath.Join(t.TempDir(), "scaling.png")
	if err := rep.scalingChart(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("scaling.png not written: %v", err)
	}
}

// TestRegistryScaleTable: the scale rows' table derives the bytes each
// trace adds from the peak RSS above the smallest registry (10k traces at
// 100 MiB, 1M at 200 MiB: 100 MiB for 990,000 traces, 106 bytes each) and
// says CPU per span against the smallest.
func TestRegistryScaleTable(t *testing.T) {
	scale := func(n uint64, rss, cpu float64) row {
		return row{pipeline: scalePipeline(n), Samples: []sample{{SpansPerSec: 1000, CPUPerM: cpu, PeakRSSMiB: rss, Delivered: 10, Accepted: 10}}}
	}
	rep := &report{Rows: []row{scale(1_000_000, 200, 5), scale(10_000, 100, 5)}}
	var b strings.Builder
	rep.mdRegistryScale(&b)
	got := b.String()
	for _, want := range []string{"| 10,000 | 5.00 | 1.00x | 100 | - |", "| 1,000,000 |", "| 200 | 106 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if v := bytesPerTrace(100, 200, 10_000, 1_000_000); v < 105 || v > 106 {
		t.Errorf("bytes a trace %.1f, want 105.9", v)
	}
}
