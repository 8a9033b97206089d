package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("4G, 256M,1G")
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{256 << 20, 1 << 30, 4 << 30}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if s, err := parseSizes("none"); err != nil || s != nil {
		t.Fatalf("none: %v %v", s, err)
	}
	for _, bad := range []string{"1T", "0G", "x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if sizeLabel(10<<30) != "10G" || sizeLabel(256<<20) != "256M" {
		t.Errorf("sizeLabel: %s %s", sizeLabel(10<<30), sizeLabel(256<<20))
	}
}

// The exporter's line as the collector writes it (zap console encoding,
// the scan in seconds).
const walOpenedLine = `2026-12-05T08:54:17.670Z	info	otlpretryexporter/walqueue.go:67	write-ahead log opened	{"otelcol.signal": "traces", "directory": "/tmp/x/traces", "records": 841, "acknowledged": 0, "items": 841000, "bytes": 271000000, "segments": 5, "scan": 0.176070754}`

func TestReadyAt(t *testing.T) {
	out := walOpenedLine + "\n2026-12-05T08:54:17.673Z\tinfo\tservice@v0.161.0/service.go:256\tEverything is ready. Begin running and processing data.\t{}\n"
	at, ok := readyAt(out)
	if !ok || at.Format("15:04:05.000") != "08:54:17.673" {
		t.Fatalf("readyAt: %v %v", at, ok)
	}
}

func TestParseRecovery(t *testing.T) {
	var r backlogResult
	if err := parseRecovery("other line\n"+walOpenedLine+"\nlater line\n", &r); err != nil {
		t.Fatal(err)
	}
	if r.Records != 841 || r.Items != 841000 || r.Scan.Round(time.Millisecond) != 176*time.Millisecond {
		t.Fatalf("parsed %+v", r)
	}
	if err := parseRecovery("no such line\n", &r); err == nil {
		t.Fatal("no error without the line")
	}
}

func TestBacklogReport(t *testing.T) {
	rep := &report{Opts: options{Backlog: []int64{256 << 20, 1 << 30}, Stdout: os.Stdout}, Date: time.Now()}
	rep.Backlog = []backlogResult{
		{Bytes: 0, PeakRSS: 60},
		{Target: 256 << 20, Bytes: 260 << 20, Records: 800, Items: 800000, Scan: 200 * time.Millisecond, PeakRSS: 66},
		{Target: 1 << 30, Bytes: 1030 << 20, Records: 3200, Items: 3200000, Scan: 800 * time.Millisecond, PeakRSS: 67},
	}
	md := rep.backlogMarkdown()
	for _, want := range []string{"| 1G | 1030 MiB | 3,200 |", "+7 MiB", "From 256M to 1G of log", "backlog.png"} {
		if !strings.Contains(md, want) {
			t.Errorf("backlog.md lacks %q:\n%s", want, md)
		}
	}
	png := filepath.Join(t.TempDir(), "backlog.png")
	if err := rep.backlogChart(png); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Fatalf("chart: %v", err)
	}
	if f := backlogFailures(append(rep.Backlog, backlogResult{Err: "boom\nmore"})); len(f) != 1 || f[0] != "backlog: boom" {
		t.Fatalf("failures: %v", f)
	}
}
