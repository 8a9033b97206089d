package main

import (
	"os"
	"path/filepath"
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
