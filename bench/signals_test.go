package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// The sink's wire walk counts what pdata says the request holds.
func TestSinkCountsDataPointsAndLogRecords(t *testing.T) {
	md := buildMetrics(0)
	// One of each other point kind, so every kind's field number is walked.
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	ms.AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	ms.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := eachDataPoint(b, func([]byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := md.DataPointCount(); n != want || want != itemsPerRequest+3 {
		t.Fatalf("counted %d data points, pdata says %d", n, want)
	}

	ld := buildLogs(0)
	b, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	if err := eachLogRecord(b, func([]byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != ld.LogRecordCount() || n != itemsPerRequest {
		t.Fatalf("counted %d log records, pdata says %d", n, ld.LogRecordCount())
	}
}

func TestParseSignals(t *testing.T) {
	if s, err := parseSignals("metrics, logs"); err != nil || strings.Join(s, ",") != "metrics,logs" {
		t.Fatalf("%v %v", s, err)
	}
	if s, err := parseSignals("none"); err != nil || s != nil {
		t.Fatalf("none: %v %v", s, err)
	}
	if _, err := parseSignals("profiles"); err == nil {
		t.Fatal("profiles: no error")
	}
}

func TestSignalsReport(t *testing.T) {
	rep := &report{Signals: signalRows([]string{"metrics"})}
	rep.Signals[0].Samples = []signalSample{{ItemsPerSec: 100e3, CPUPerM: 10, Accepted: 5, Delivered: 5}, {ItemsPerSec: 110e3, CPUPerM: 11}}
	rep.Signals[1].Samples = []signalSample{{ItemsPerSec: 150e3, CPUPerM: 6}, {ItemsPerSec: 160e3, CPUPerM: 7}}
	md := rep.signalsMarkdown()
	for _, want := range []string{"| metrics | stock | 105,000", "| metrics | per data point | 1.48x (1.36-1.60) |", "| higher | lower |", "(signals.png)"} {
		if !strings.Contains(md, want) {
			t.Errorf("signals.md lacks %q:\n%s", want, md)
		}
	}
	png := filepath.Join(t.TempDir(), "signals.png")
	if err := rep.signalsChart(png); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Errorf("signals.png not written: %v", err)
	}
}
