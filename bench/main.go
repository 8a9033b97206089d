// Command bench is otlpcol's load benchmark: it runs bin/otlpcol on each
// pipeline of bench/pipelines.go, several rounds interleaved, drives it at
// saturation with OTLP/gRPC trace requests from this process, receives the
// export in an in-process OTLP sink that tells every span apart, and reports
// per pipeline the median and spread of delivered spans/s and collector CPU
// per million spans, spans lost and duplicated, and the ratios to the stock
// pipelines with the conclusions the spread allows; then the components' Go
// microbenchmarks. `make bench` runs it; see bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// options are the command-line settings of one bench run.
type options struct {
	Root       string // repository root
	Bin        string
	OutDir     string
	Pipelines  []pipeline
	Rounds     int
	Duration   time.Duration
	Warmup     time.Duration
	Drain      time.Duration
	Workers    int
	Conns      int
	Micro      bool
	MicroCount int
	BenchTime  string
	Quick      bool
	// Dirty allows writing results.md into bench/ from a tree with
	// uncommitted changes; the file then says so.
	Dirty    bool
	Progress io.Writer
	Stdout   io.Writer

	// The catch-up scenario (catchup.go): its pipelines, the backend
	// outage, the longest drain it waits for, and a fixed live rate
	// (0: half the lowest saturation of its pipelines).
	Catchup     []pipeline
	Outage      time.Duration
	MaxDrain    time.Duration
	CatchupRate float64

	// The backlog scenario (backlog.go): log sizes, ascending; none skips it.
	Backlog []int64
	// The signals scenario (signals.go): metrics, logs; none skips it.
	Signals []string
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
		rounds     = fs.Int("rounds", 3, "rounds per pipeline, interleaved (A B C A B C ...); the tables show the median and the spread")
		duration   = fs.Duration("duration", 20*time.Second, "measured time per round, after warm-up")
		warmup     = fs.Duration("warmup", 3*time.Second, "load before measuring starts (scale-N pipelines also wait until all N traces were sent)")
		drain      = fs.Duration("drain", 60*time.Second, "longest wait after the load stops for the sink to receive every accepted span")
		pipelines  = fs.String("pipelines", "", "comma-separated pipelines to run (default: all; -quick: "+quickPipelines+"; none: only the scenarios)")
		workers    = fs.Int("workers", 8, "load generator goroutines")
		conns      = fs.Int("conns", 2, "gRPC connections the workers share")
		micro      = fs.Bool("micro", true, "run the components' Go microbenchmarks too")
		microCount = fs.Int("micro-count", 1, "go test -count for the microbenchmarks (use 6+ for benchstat)")
		benchTime  = fs.String("benchtime", "1s", "go test -benchtime for the microbenchmarks")
		quick      = fs.Bool("quick", false, "smoke mode: 2 rounds of 1s warm-up + 2s measured, no microbenchmarks, results in a temporary directory")
		dirty      = fs.Bool("dirty", false, "allow writing bench/results.md from a tree with uncommitted changes (the file says it is dirty)")
		out        = fs.String("out", "", "directory for results.md and results.png (default bench/; -quick: a new temporary directory)")
		bin        = fs.String("bin", "", "otlpcol binary (default $OTLPCOL_BIN, else bin/otlpcol)")
		catchup    = fs.String("catchup", defaultCatchup, "pipelines of the catch-up scenario, comma-separated; none to skip (-quick: none)")
		outage     = fs.Duration("outage", 120*time.Second, "the catch-up scenario's backend outage")
		maxDrain   = fs.Duration("max-drain", 10*time.Minute, "longest the catch-up scenario waits for the backlog to drain")
		backlog    = fs.String("backlog", defaultBacklog, "write-ahead log sizes of the backlog recovery scenario, e.g. 256M,1G,4G,10G; none to skip (-quick: none)")
		signals    = fs.String("signals", defaultSignals, "signals of the metrics and logs scenario (stock against the shipped gateway), comma-separated; none to skip (-quick: none)")
		liveRate   = fs.Float64("catchup-rate", 0, "the catch-up scenario's live load in spans/s (0: half the lowest saturation of its pipelines)")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags]\n\npipelines: %s, or scale-N\n\n", defaultPipelines())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	root, err := repoRoot()
	if err != nil {
		return options{}, err
	}
	o := options{
		Root: root, Bin: *bin, OutDir: *out, Rounds: *rounds, Duration: *duration, Warmup: *warmup, Drain: *drain,
		Workers: *workers, Conns: *conns, Micro: *micro, MicroCount: *microCount, BenchTime: *benchTime,
		Quick: *quick, Dirty: *dirty, Progress: os.Stderr, Stdout: os.Stdout,
		Outage: *outage, MaxDrain: *maxDrain, CatchupRate: *liveRate,
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
		if !set["rounds"] {
			o.Rounds = 2 // the fewest that show a spread
		}
		if list == "" {
			list = quickPipelines
		}
		if !set["catchup"] {
			*catchup = "none"
		}
		if !set["backlog"] {
			*backlog = "none"
		}
		if !set["signals"] {
			*signals = "none"
		}
		if !set["outage"] {
			o.Outage = 3 * time.Second
		}
		if o.OutDir == "" {
			// A smoke run never replaces the committed results.
			if o.OutDir, err = os.MkdirTemp("", "otlpcol-bench-quick-"); err != nil {
				return options{}, err
			}
		}
	}
	if list == "" {
		list = defaultPipelines()
	}
	if o.Pipelines, err = selectPipelines(list); err != nil {
		return options{}, err
	}
	if o.Catchup, err = selectCatchup(*catchup); err != nil {
		return options{}, err
	}
	if o.Backlog, err = parseSizes(*backlog); err != nil {
		return options{}, err
	}
	if o.Signals, err = parseSignals(*signals); err != nil {
		return options{}, err
	}
	if o.Rounds < 1 || o.Workers < 1 || o.Conns < 1 {
		return options{}, errors.New("-rounds, -workers and -conns must be at least 1")
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
