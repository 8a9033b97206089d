package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickRun runs the benchmark's smoke mode, two interleaved rounds of
// the ceiling and stock pipelines, against bin/otlpcol and checks that it
// produced its rows and rounds, lost and duplicated nothing, and wrote
// results.md with the spread, ratio and round tables and a PNG. It asserts
// no timing.
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
		Root: root, Bin: bin, OutDir: out, Pipelines: pipes, Rounds: 2,
		Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Drain: 60 * time.Second,
		Workers: 4, Conns: 2, Quick: true, Progress: &progress, Stdout: &progress,
	}
	rep, err := run(o)
	if err != nil {
		t.Fatalf("bench run: %v\n%s", err, progress.String())
	}
	if len(rep.Rows) != 2 {
		t.Fatalf("want 2 rows, got %d", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if len(row.Samples) != 2 {
			t.Errorf("%s: %d rounds, want 2", row.Name, len(row.Samples))
		}
		for i, s := range row.Samples {
			if s.Err != "" {
				t.Errorf("%s round %d: %s", row.Name, i+1, s.Err)
			}
			if s.Accepted == 0 || s.SpansPerSec <= 0 || s.CPUPerM <= 0 || s.PeakRSSMiB <= 0 {
				t.Errorf("%s round %d: empty figures: %+v", row.Name, i+1, s)
			}
		}
	}
	stock := rep.Rows[1]
	acc, del := stock.sum(accepted), stock.sum(delivered)
	if stock.Name != "stock" || stock.sum(lost) != 0 || stock.sum(dups) != 0 || del != acc {
		t.Errorf("stock: accepted %d, delivered %d, dup %d, lost %d; want every accepted span delivered once",
			acc, del, stock.sum(dups), stock.sum(lost))
	}
	if sp := stock.spans(); sp.N != 2 || sp.Min > sp.Median || sp.Median > sp.Max {
		t.Errorf("stock spans/s spread %+v", sp)
	}
	cs := rep.comparisons()
	if len(cs) != 1 || cs[0].Row.Name != "ceiling" || cs[0].Ref.Name != "stock" || !cs[0].Spans.valid() {
		t.Errorf("comparisons: %+v", cs)
	}

	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| ceiling |", "| stock |", "median (min-max)", "## Ratios", "| ceiling | stock |",
		"round 2 spans/s", "| dup | lost |", "results.png", "| commit |"} {
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
	for _, want := range []string{"[1/4] round 1/2 ceiling", "[4/4] round 2/2 stock", "ETA"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
}

func TestSelectPipelines(t *testing.T) {
	all, err := selectPipelines(defaultPipelines())
	if err != nil || len(all) != len(knownPipelines()) {
		t.Fatalf("default pipelines: %d of %d known, %v", len(all), len(knownPipelines()), err)
	}
	names := map[string]bool{}
	for _, p := range all {
		names[p.Name] = true
	}
	for _, p := range all {
		if _, err := os.Stat(filepath.Join("..", p.configFile())); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Baseline != "" && !names[p.Baseline] {
			t.Errorf("%s: baseline %q is no pipeline", p.Name, p.Baseline)
		}
		for _, s := range p.Set {
			if k, _, ok := strings.Cut(s, "="); !ok || !strings.Contains(k, "::") {
				t.Errorf("%s: --set %q is not key::path=value", p.Name, s)
			}
		}
	}
	for _, want := range []string{"stock-zstd", "stock-durable"} {
		if !names[want] {
			t.Errorf("no %s row", want)
		}
	}
	got, err := selectPipelines("stock, scale-5k,scale-2M,scale-300,stock")
	if err != nil || len(got) != 4 || got[1].Cycle != 5000 || got[2].Cycle != 2_000_000 || got[3].Name != "scale-300" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := selectPipelines("nope"); err == nil {
		t.Error("unknown pipeline accepted")
	}
	o, err := parseFlags([]string{"-quick", "-pipelines", "stock"})
	if err != nil || o.Rounds != 2 || o.Duration != 2*time.Second || o.OutDir == "" {
		t.Errorf("quick flags: %+v, %v", o, err)
	}
	if o.OutDir != "" {
		_ = os.Remove(o.OutDir)
	}
	if o, err := parseFlags([]string{"-quick", "-rounds", "4", "-out", t.TempDir()}); err != nil || o.Rounds != 4 {
		t.Errorf("-quick -rounds 4: %d rounds, %v", o.Rounds, err)
	}
	if o, err := parseFlags(nil); err != nil || o.Rounds != 3 || o.Duration != 20*time.Second || len(o.Pipelines) != len(knownPipelines()) {
		t.Errorf("defaults: %d rounds, %s, %d pipelines, %v", o.Rounds, o.Duration, len(o.Pipelines), err)
	}
	if _, err := parseFlags([]string{"-rounds", "0"}); err == nil {
		t.Error("-rounds 0 accepted")
	}
}

// A scenario this run skipped is still linked when an earlier run's file is
// beside results.md, and said to be from that run; with no file, nothing.
func TestScenarioLinksKeepEarlierRuns(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "backlog.md"), []byte("# backlog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &report{Opts: options{OutDir: dir}}
	var b strings.Builder
	r.mdScenarioLink(&b, "Backlog recovery", "recovery", "backlog.md", false)
	r.mdScenarioLink(&b, "Metrics and logs", "signals", "signals.md", false)
	got := b.String()
	if !strings.Contains(got, "[backlog.md](backlog.md), from an earlier run") || strings.Contains(got, "signals.md") {
		t.Fatalf("links:\n%s", got)
	}
	b.Reset()
	r.mdScenarioLink(&b, "Metrics and logs", "signals", "signals.md", true)
	if got := b.String(); !strings.Contains(got, "[signals.md](signals.md).") || strings.Contains(got, "earlier") {
		t.Fatalf("this run's link: %s", got)
	}
}
