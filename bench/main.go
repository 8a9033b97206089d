// Command bench is otlpcol's load benchmark: it runs bin/otlpcol on each
// pipeline in bench/configs/, drives it at saturation with OTLP/gRPC trace
// requests from this process, receives the export in an in-process OTLP sink,
// and reports delivered spans/s, collector CPU per million spans, peak RSS
// and spans lost, side by side with the stock upstream pipeline, plus the
// components' Go microbenchmarks. `make bench` runs it; see bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pipeline is one collector configuration under test.
type pipeline struct {
	Name   string // short name used by -pipelines and in the chart
	Desc   string // what it is, for the table
	Config string // file in bench/configs/
	// Cycle > 0 makes the load reuse this many traces, after sending each
	// once during warm-up, so that trace_registry holds exactly Cycle traces.
	Cycle uint64
	Env   []string
	// Exports is false for the ceiling, which has no sink to count at.
	Exports bool
	// Gateway marks otlpcol's own pipelines, judged against the targets.
	Gateway bool
}

func scalePipeline(n uint64) pipeline {
	return pipeline{
		Name:   "scale-" + shortCount(n),
		Desc:   fmt.Sprintf("gateway, registry holding %s active traces", shortCount(n)),
		Config: "gateway.yaml",
		Cycle:  n,
		Env: []string{
			fmt.Sprintf("BENCH_MAX_TRACES=%d", 2*n),
			"BENCH_IDLE_TIMEOUT=10m",
		},
		Exports: true,
		Gateway: true,
	}
}

func knownPipelines() []pipeline {
	return []pipeline{
		{Name: "ceiling", Desc: "otlp -> nop (receive only)", Config: "ceiling.yaml"},
		{Name: "stock", Desc: "otlp -> memory_limiter -> batch -> otlp_grpc (gzip)", Config: "stock.yaml", Exports: true},
		{Name: "gateway", Desc: "otlp -> memory_limiter -> trace_registry -> batch -> otlp_retry (gRPC, gzip 6)", Config: "gateway.yaml", Exports: true, Gateway: true},
		{Name: "gateway-http", Desc: "gateway, otlp_retry over HTTP (gzip 6)", Config: "gateway-http.yaml", Exports: true, Gateway: true},
		{Name: "gateway-zstd", Desc: "gateway, otlp_retry gRPC with zstd", Config: "gateway-zstd.yaml", Exports: true, Gateway: true},
		{Name: "gateway-shipped", Desc: "configs/gateway.yaml's shape: otlp -> memory_limiter -> trace_registry -> otlp_retry (gzip 6, file_storage persistent queue, batches of 1,000), no batch processor", Config: "gateway-shipped.yaml", Exports: true, Gateway: true},
		{Name: "gateway-wal-never", Desc: "gateway-shipped's shape on otlp_retry's write-ahead log (persistent_queue, fsync never), no batch processor", Config: "gateway-wal.yaml", Env: []string{"BENCH_WAL_FSYNC=never"}, Exports: true, Gateway: true},
		{Name: "gateway-wal-interval", Desc: "gateway-shipped's shape on otlp_retry's write-ahead log (persistent_queue, fsync interval), no batch processor", Config: "gateway-wal.yaml", Env: []string{"BENCH_WAL_FSYNC=interval"}, Exports: true, Gateway: true},
		{Name: "gateway-wal-always", Desc: "gateway-shipped's shape on otlp_retry's write-ahead log (persistent_queue, fsync always), no batch processor", Config: "gateway-wal.yaml", Env: []string{"BENCH_WAL_FSYNC=always"}, Exports: true, Gateway: true},
		{Name: "gateway-defaults", Desc: "gateway, otlp_retry with its own queue defaults (10,000 items, requests of 1,000)", Config: "gateway-defaults.yaml", Exports: true, Gateway: true},
		scalePipeline(1_000),
		scalePipeline(10_000),
		scalePipeline(100_000),
	}
}

const defaultPipelines = "ceiling,stock,gateway,gateway-http,gateway-zstd,gateway-shipped,gateway-wal-never,gateway-wal-interval,gateway-wal-always,gateway-defaults,scale-1k,scale-10k,scale-100k"

func shortCount(n uint64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return strconv.FormatUint(n, 10)
}

// selectPipelines resolves a comma-separated list of names; scale-N (with k
// or M suffixes) runs the gateway with N active traces.
func selectPipelines(list string) ([]pipeline, error) {
	known := map[string]pipeline{}
	for _, p := range knownPipelines() {
		known[p.Name] = p
	}
	var out []pipeline
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if p, ok := known[name]; ok {
			out = append(out, p)
			continue
		}
		if s, ok := strings.CutPrefix(name, "scale-"); ok {
			mult := uint64(1)
			switch {
			case strings.HasSuffix(s, "k"):
				mult, s = 1_000, strings.TrimSuffix(s, "k")
			case strings.HasSuffix(s, "M"):
				mult, s = 1_000_000, strings.TrimSuffix(s, "M")
			}
			n, err := strconv.ParseUint(s, 10, 64)
			if err == nil && n > 0 {
				out = append(out, scalePipeline(n*mult))
				continue
			}
		}
		return nil, fmt.Errorf("unknown pipeline %q (known: %s, or scale-N)", name, defaultPipelines)
	}
	if len(out) == 0 {
		return nil, errors.New("no pipeline selected")
	}
	return out, nil
}

// options are the command-line settings of one bench run.
type options struct {
	Root       string // repository root
	Bin        string
	OutDir     string
	Pipelines  []pipeline
	Duration   time.Duration
	Warmup     time.Duration
	Drain      time.Duration
	Workers    int
	Conns      int
	Micro      bool
	MicroCount int
	BenchTime  string
	Quick      bool
	Progress   io.Writer
	Stdout     io.Writer
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if _, err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		duration   = fs.Duration("duration", 20*time.Second, "measured time per pipeline, after warm-up")
		warmup     = fs.Duration("warmup", 3*time.Second, "load before measuring starts (scale-N pipelines also wait until all N traces were sent)")
		drain      = fs.Duration("drain", 60*time.Second, "longest wait after the load stops for the sink to receive every accepted span")
		pipelines  = fs.String("pipelines", "", "comma-separated pipelines to run (default "+defaultPipelines+"; -quick: ceiling,stock,gateway)")
		workers    = fs.Int("workers", 8, "load generator goroutines")
		conns      = fs.Int("conns", 2, "gRPC connections the workers share")
		micro      = fs.Bool("micro", true, "run the components' Go microbenchmarks too")
		microCount = fs.Int("micro-count", 1, "go test -count for the microbenchmarks (use 6+ for benchstat)")
		benchTime  = fs.String("benchtime", "1s", "go test -benchtime for the microbenchmarks")
		quick      = fs.Bool("quick", false, "smoke mode: 2s per pipeline, 1s warm-up, no microbenchmarks")
		out        = fs.String("out", "", "directory for results.md and results.png (default bench/)")
		bin        = fs.String("bin", "", "otlpcol binary (default $OTLPCOL_BIN, else bin/otlpcol)")
	)
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	root, err := repoRoot()
	if err != nil {
		return options{}, err
	}
	o := options{
		Root: root, Bin: *bin, OutDir: *out, Duration: *duration, Warmup: *warmup, Drain: *drain,
		Workers: *workers, Conns: *conns, Micro: *micro, MicroCount: *microCount, BenchTime: *benchTime,
		Quick: *quick, Progress: os.Stderr, Stdout: os.Stdout,
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	list := *pipelines
	if o.Quick {
		if !set["duration"] {
			o.Duration = 2 * time.Second
		}
		if !set["warmup"] {
			o.Warmup = time.Second
		}
		if !set["micro"] {
			o.Micro = false
		}
		if !set["drain"] {
			o.Drain = 30 * time.Second
		}
		if list == "" {
			list = "ceiling,stock,gateway"
		}
	}
	if list == "" {
		list = defaultPipelines
	}
	if o.Pipelines, err = selectPipelines(list); err != nil {
		return options{}, err
	}
	if o.Workers < 1 || o.Conns < 1 {
		return options{}, errors.New("-workers and -conns must be at least 1")
	}
	return o, nil
}

// repoRoot walks up from the working directory to the directory holding
// builder-config.yaml (go run ./bench runs from the root, go test from bench/).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "builder-config.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (builder-config.yaml) above the working directory")
		}
		dir = parent
	}
}

// run benchmarks every selected pipeline, then the microbenchmarks, and
// writes the table, results.md and results.png.
func run(o options) (*report, error) {
	if o.Bin == "" {
		o.Bin = os.Getenv("OTLPCOL_BIN")
	}
	if o.Bin == "" {
		o.Bin = filepath.Join(o.Root, "bin", "otlpcol")
	}
	if _, err := os.Stat(o.Bin); err != nil {
		return nil, fmt.Errorf("otlpcol binary %s not found: run `make build` first (%w)", o.Bin, err)
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.Root, "bench")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	// The load generator and the sink share the machine with the collector:
	// fewer GC cycles here leave more CPU to the process under test.
	debug.SetGCPercent(400)

	rep := newReport(o)
	logf := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "bench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	logf("%d pipeline(s), %s warm-up + %s measured each, %d workers on %d connections; machine: %d cores, %s",
		len(o.Pipelines), o.Warmup, o.Duration, o.Workers, o.Conns, rep.Machine.Cores, rep.Machine.CPU)
	start := time.Now()
	for i, p := range o.Pipelines {
		prefix := fmt.Sprintf("[%d/%d] %s", i+1, len(o.Pipelines), p.Name)
		res := runPipeline(o, p, func(format string, args ...any) { logf(prefix+": "+format, args...) })
		rep.Results = append(rep.Results, res)
	}
	rep.LoadTime = time.Since(start)
	rep.computeRatios()
	fmt.Fprintln(o.Stdout)
	rep.writeTable(o.Stdout)

	if o.Micro {
		rep.Micro = runMicro(o, logf)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return rep, err
	}
	mdPath := filepath.Join(o.OutDir, "results.md")
	if err := os.WriteFile(mdPath, []byte(rep.markdown()), 0o644); err != nil {
		return rep, err
	}
	pngPath := filepath.Join(o.OutDir, "results.png")
	if err := rep.chart(pngPath); err != nil {
		return rep, fmt.Errorf("chart: %w", err)
	}
	logf("wrote %s and %s in %s", mdPath, pngPath, time.Since(start).Round(time.Second))
	var failed []string
	for _, r := range rep.Results {
		if r.Err != "" {
			failed = append(failed, r.Name+": "+r.Err)
		}
	}
	if len(failed) > 0 {
		return rep, fmt.Errorf("%d pipeline(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return rep, nil
}

// processCPU is this process's own user plus system CPU seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
