package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// run benchmarks every selected pipeline, then the microbenchmarks, and
// writes the tables, results.md and results.png.
func run(o options) (*report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	git := readGitState(o.Root)
	if committed := filepath.Join(o.Root, "bench"); sameDir(o.OutDir, committed) && git.Dirty() && !o.Dirty {
		return nil, fmt.Errorf("the working tree has uncommitted changes, so bench/results.md would not be the result of commit %s:\n%s\n"+
			"commit first, or pass -dirty (results.md then says it is dirty), or -out DIR", git.Commit, git.Status)
	}
	// The load generator and the sink share the machine with the collector:
	// fewer GC cycles here leave more CPU to the process under test.
	debug.SetGCPercent(400)

	rep := newReport(o, git)
	logf := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "bench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	logf("%d pipeline(s) x %d round(s), interleaved; %s warm-up + %s measured each; %d workers on %d connections; machine: %d cores, %s",
		len(o.Pipelines), o.Rounds, o.Warmup, o.Duration, o.Workers, o.Conns, rep.Machine.Cores, rep.Machine.CPU)
	start := time.Now()
	rep.Rows = runRounds(o, logf)
	rep.LoadTime = time.Since(start)
	fmt.Fprintln(o.Stdout)
	rep.writeTable(o.Stdout)
	if rep.Catchup = runCatchup(o, logf); len(rep.Catchup) > 0 {
		var b strings.Builder
		rep.mdCatchup(&b)
		fmt.Fprint(o.Stdout, "\n"+b.String())
	}
	if len(o.Signals) > 0 {
		rep.Signals = runSignals(o, logf)
	}
	rep.Backlog = runBacklog(o, logf)
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return rep, err
	}
	if err := rep.writeBacklog(o.OutDir, logf); err != nil {
		return rep, err
	}
	if err := rep.writeSignals(o.OutDir, logf); err != nil {
		return rep, err
	}
	if len(o.Pipelines) == 0 {
		// -pipelines none: only the scenarios ran; results.md keeps the
		// rows of the last full run.
		if f := append(backlogFailures(rep.Backlog), signalFailures(rep.Signals)...); len(f) > 0 {
			return rep, fmt.Errorf("scenario failed:\n  %s", strings.Join(f, "\n  "))
		}
		return rep, nil
	}

	if o.Micro {
		rep.Micro = runMicro(o, logf)
	}
	mdPath := filepath.Join(o.OutDir, "results.md")
	pngPath := filepath.Join(o.OutDir, "results.png")
	rep.Git.checkUnchanged(o.Root, benchOutputs(o.OutDir)...)
	if err := os.WriteFile(mdPath, []byte(rep.markdown()), 0o644); err != nil {
		return rep, err
	}
	if err := rep.chart(pngPath); err != nil {
		return rep, fmt.Errorf("chart: %w", err)
	}
	if err := rep.scalingChart(filepath.Join(o.OutDir, "scaling.png")); err != nil {
		return rep, fmt.Errorf("scaling chart: %w", err)
	}
	if err := rep.writeFlameGraphs(o.OutDir); err != nil {
		return rep, fmt.Errorf("flame graphs: %w", err)
	}
	logf("wrote %s and %s in %s; commit: %s", mdPath, pngPath, time.Since(start).Round(time.Second), rep.Git.describe())
	var failed []string
	for _, r := range rep.Rows {
		if e := r.failure(); e != "" {
			failed = append(failed, r.Name+": "+e)
		}
	}
	failed = append(failed, catchupFailures(rep.Catchup)...)
	failed = append(failed, backlogFailures(rep.Backlog)...)
	failed = append(failed, signalFailures(rep.Signals)...)
	if len(failed) > 0 {
		return rep, fmt.Errorf("%d pipeline(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return rep, nil
}

func (o *options) defaults() error {
	if o.Bin == "" {
		o.Bin = os.Getenv("OTLPCOL_BIN")
	}
	if o.Bin == "" {
		o.Bin = filepath.Join(o.Root, "bin", "otlpcol")
	}
	bin, err := filepath.Abs(o.Bin)
	if err != nil {
		return err
	}
	o.Bin = bin
	if _, err := os.Stat(o.Bin); err != nil {
		return fmt.Errorf("otlpcol binary %s not found: run `make build` first (%w)", o.Bin, err)
	}
	// tests/harness, which starts the collector, runs $OTLPCOL_BIN.
	if err := os.Setenv("OTLPCOL_BIN", o.Bin); err != nil {
		return err
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.Root, "bench")
	}
	if o.Rounds < 1 || o.Workers < 1 || o.Conns < 1 {
		return errors.New("-rounds, -workers and -conns must be at least 1")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	return nil
}

func sameDir(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(ia, ib)
}

// runRounds runs every pipeline o.Rounds times, interleaved (A B C A B C
// ...), so that a slow spell of the machine spreads over all pipelines
// instead of falling on one; it logs which run is next and when the whole
// load part should end.
func runRounds(o options, logf func(string, ...any)) []row {
	rows := make([]row, len(o.Pipelines))
	for i, p := range o.Pipelines {
		rows[i].pipeline = p
	}
	total := o.Rounds * len(o.Pipelines)
	start := time.Now()
	for round := 1; round <= o.Rounds; round++ {
		for i, p := range o.Pipelines {
			k := (round-1)*len(o.Pipelines) + i
			left := remaining(o, rows, round, i)
			prefix := fmt.Sprintf("[%d/%d] round %d/%d %s", k+1, total, round, o.Rounds, p.Name)
			logf("%s: ETA %s (%s left of the load runs; %s so far)", prefix,
				time.Now().Add(left).Format("15:04:05"), left.Round(time.Second), time.Since(start).Round(time.Second))
			p.Profile = p.Profile && round == 1
			s := runRound(o, p, func(format string, args ...any) { logf(prefix+": "+format, args...) })
			rows[i].Samples = append(rows[i].Samples, s)
		}
	}
	return rows
}

// remaining estimates the wall time of the runs from (round, i) on: each
// pipeline's mean round so far, or the mean of all rounds so far for a
// pipeline not yet run, or a guess from the settings before any ran.
func remaining(o options, rows []row, round, i int) time.Duration {
	var all time.Duration
	n := 0
	for _, r := range rows {
		for _, s := range r.Samples {
			all += s.Wall
			n++
		}
	}
	guess := o.Warmup + o.Duration + 4*time.Second // start, drain and stop
	if n > 0 {
		guess = all / time.Duration(n)
	}
	var left time.Duration
	for j, r := range rows {
		runs := o.Rounds - round // later rounds
		if j >= i {
			runs++ // this round, not yet run
		}
		per := guess
		if len(r.Samples) > 0 {
			var sum time.Duration
			for _, s := range r.Samples {
				sum += s.Wall
			}
			per = sum / time.Duration(len(r.Samples))
		}
		left += time.Duration(runs) * per
	}
	return left
}

// processCPU is this process's own user plus system CPU seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
