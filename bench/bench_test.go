package main

import (
	"bytes"
	"compress/gzip"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestQuickRun runs the benchmark's smoke mode on the ceiling and stock
// pipelines against bin/otlpcol and checks that it produced its rows, lost
// nothing, and wrote results.md and a PNG. It asserts no timing.
func TestQuickRun(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("OTLPCOL_BIN")
	if bin == "" {
		bin = filepath.Join(root, "bin", "otlpcol")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("otlpcol binary %s not found (run `make build` or set OTLPCOL_BIN): %v", bin, err)
	}
	pipes, err := selectPipelines("ceiling,stock")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var progress bytes.Buffer
	o := options{
		Root: root, Bin: bin, OutDir: out, Pipelines: pipes,
		Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Drain: 60 * time.Second,
		Workers: 4, Conns: 2, Quick: true, Progress: &progress, Stdout: &progress,
	}
	rep, err := run(o)
	if err != nil {
		t.Fatalf("bench run: %v\n%s", err, progress.String())
	}
	if len(rep.Results) != 2 {
		t.Fatalf("want 2 rows, got %d", len(rep.Results))
	}
	for _, res := range rep.Results {
		if res.Err != "" {
			t.Errorf("%s: %s", res.Name, res.Err)
		}
		if res.Accepted == 0 || res.SpansPerSec <= 0 || res.CPUPerM <= 0 || res.PeakRSSMiB <= 0 {
			t.Errorf("%s: empty figures: %+v", res.Name, res)
		}
	}
	stock := rep.Results[1]
	if stock.Name != "stock" || stock.Lost != 0 || stock.Delivered != stock.Accepted {
		t.Errorf("stock: accepted %d, delivered %d, lost %d; want every accepted span delivered",
			stock.Accepted, stock.Delivered, stock.Lost)
	}
	if stock.SpansRatio != 1 || stock.CPURatio != 1 {
		t.Errorf("stock ratios to itself: %v %v", stock.SpansRatio, stock.CPURatio)
	}

	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| ceiling |", "| stock |", "results.png", "cores"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	f, err := os.Open(filepath.Join(out, "results.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("results.png: %v", err)
	}
	if cfg.Width < 400 || cfg.Height < 200 {
		t.Errorf("results.png is %dx%d", cfg.Width, cfg.Height)
	}
	if !strings.Contains(progress.String(), "stock") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}
}

// TestRequestShape checks what the load generator sends: 1000 spans of 100
// traces of 10, new IDs per send, and a size and compressibility close to
// real traffic; and that the sink counts them from the wire format.
func TestRequestShape(t *testing.T) {
	td := buildRequest(3)
	g := &loadGen{seed: 7}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	now := time.Now()
	for i := 0; i < tracesPerReq; i++ {
		stamp(spans, i, g.traceID(uint64(i)), now, uint64(i)^g.seed)
	}
	traces := map[string]int{}
	roots := 0
	for i := 0; i < spans.Len(); i++ {
		traces[spans.At(i).TraceID().String()]++
		if spans.At(i).ParentSpanID().IsEmpty() {
			roots++
		}
	}
	if spans.Len() != spansPerRequest || len(traces) != tracesPerReq || roots != tracesPerReq {
		t.Fatalf("%d spans, %d traces, %d roots", spans.Len(), len(traces), roots)
	}
	for id, n := range traces {
		if n != spansPerTrace {
			t.Fatalf("trace %s has %d spans", id, n)
		}
	}
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	n, err := countSpans(b)
	if err != nil || n != spansPerRequest {
		t.Fatalf("countSpans = %d, %v", n, err)
	}
	if _, err := countSpans([]byte{0x0a, 0xff}); err == nil {
		t.Error("countSpans accepted a truncated message")
	}
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, 6)
	_, _ = w.Write(b)
	_ = w.Close()
	t.Logf("request: %d bytes (%d a span), gzip level 6 %d bytes (%.1fx)", len(b), len(b)/spansPerRequest, z.Len(), float64(len(b))/float64(z.Len()))

	// Cycling keys (scale-N) come back to the same trace IDs.
	c := &loadGen{seed: 7, cycle: 1000}
	if c.traceID(5) != c.traceID(1005) || c.traceID(5) == c.traceID(6) {
		t.Error("cycle does not wrap trace keys")
	}
}

func TestProcParsing(t *testing.T) {
	cpu, err := parseStatCPU("1234 (otl col) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	if err != nil || cpu != 3.0 {
		t.Errorf("parseStatCPU = %v, %v; want 3 s", cpu, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Error("parseStatCPU accepted garbage")
	}
	hwm, err := parseVmHWM("Name:\totlpcol\nVmPeak:\t  900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1000 kB\n")
	if err != nil || hwm != 2048<<10 {
		t.Errorf("parseVmHWM = %v, %v", hwm, err)
	}
	sum, ok := sumSamples("# HELP x\notlp_traces_active{a=\"b\"} 10\notlp_traces_active_other 5\notlp_traces_active 2.5\n", "otlp_traces_active")
	if !ok || sum != 12.5 {
		t.Errorf("sumSamples = %v, %v", sum, ok)
	}
}

func TestSelectPipelines(t *testing.T) {
	all, err := selectPipelines(defaultPipelines)
	if err != nil || len(all) != len(knownPipelines()) {
		t.Fatalf("default pipelines: %d of %d known, %v", len(all), len(knownPipelines()), err)
	}
	for _, p := range all {
		if _, err := os.Stat(filepath.Join("configs", p.Config)); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	got, err := selectPipelines("stock, scale-5k,scale-2M,scale-300")
	if err != nil || len(got) != 4 || got[1].Cycle != 5000 || got[2].Cycle != 2_000_000 || got[3].Name != "scale-300" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := selectPipelines("nope"); err == nil {
		t.Error("unknown pipeline accepted")
	}
	if _, err := parseFlags([]string{"-quick", "-pipelines", "stock"}); err != nil {
		t.Error(err)
	}
}
