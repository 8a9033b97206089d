package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// markdown renders results.md.
func (r *report) markdown() string {
	var b strings.Builder
	o := r.Opts
	fmt.Fprintf(&b, "# otlpcol benchmark results\n\n")
	if r.Git.Dirty() {
		fmt.Fprintf(&b, "> **%s.**\n\n", r.Git.describe())
	}
	fmt.Fprintf(&b, "Written by `make bench` (`go run ./bench`); rerun it to refresh. ")
	fmt.Fprintf(&b, "Each pipeline ran %d round(s), interleaved (every pipeline once, then again), so that a slow spell of the machine spreads over all of them. ", o.Rounds)
	fmt.Fprintf(&b, "Figures are the median (min-max) over the rounds; absolute numbers drift with the machine and its load, so compare the ratios, and only where their range allows.\n\n")
	fmt.Fprintf(&b, "![spans/s and CPU per million spans per pipeline](results.png)\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| commit | %s |\n", r.Git.describe())
	fmt.Fprintf(&b, "| machine | %d cores, %s, Linux %s |\n", r.Machine.Cores, r.Machine.CPU, r.Machine.Kernel)
	fmt.Fprintf(&b, "| load average at start | %s |\n", r.Machine.LoadAvg)
	fmt.Fprintf(&b, "| go | %s |\n", r.Go)
	if r.Otlpcol != "" {
		fmt.Fprintf(&b, "| otlpcol | %s |\n", r.Otlpcol)
	}
	mode := ""
	if o.Quick {
		mode = " (quick smoke mode: too short for real figures)"
	}
	fmt.Fprintf(&b, "| load | %d rounds of %s warm-up + %s measured per pipeline%s; %d sender goroutines on %d gRPC connections; requests of %d spans (%d traces of %d spans), new trace IDs on every request (scale-N: the same N traces, each sent once during warm-up), a span ID of its own for every span |\n",
		o.Rounds, o.Warmup, o.Duration, mode, o.Workers, o.Conns, spansPerRequest, tracesPerReq, spansPerTrace)
	fmt.Fprintf(&b, "| load run time | %s |\n\n", r.LoadTime.Round(time.Second))

	r.mdPipelines(&b)
	r.mdRatios(&b)
	r.mdRounds(&b)
	r.mdCPU(&b)
	if r.hasScaling() {
		fmt.Fprintf(&b, "## Cost as work grows\n\nCPU per span by request size (stock and the shipped gateway, the `-req-N` rows and the 1,000-span rows they vary), and CPU per span and peak RSS by the registry's active traces (the `scale-N` rows); medians of the rounds, figures in the tables above.\n\n![cost by request size and registry size](scaling.png)\n\n")
		r.mdRegistryScale(&b)
	}
	r.mdProfiles(&b)
	r.mdCatchup(&b)
	r.mdScenarioLink(&b, "Metrics and logs", "Data points and log records through the shipped gateway against stock", "signals.md", len(r.Signals) > 0)
	r.mdScenarioLink(&b, "Backlog recovery", "The write-ahead log's recovery time and memory by the size of the log", "backlog.md", len(r.Backlog) > 0)
	r.mdMicro(&b)
	return b.String()
}

func (r *report) mdPipelines(b *strings.Builder) {
	fmt.Fprintf(b, "## Pipelines\n\n")
	fmt.Fprintf(b, "| pipeline | spans/s median (min-max) | CPU s per M spans median (min-max) | collector cores | peak RSS MiB | accepted | delivered | dup | lost | notes |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for i := range r.Rows {
		row := &r.Rows[i]
		fmt.Fprintf(b, "| %s | %s | %s | %.2f | %.0f | %s | %s | %s | %s | %s |\n",
			row.Name, spansCell(row.spans()), cpuCell(row.cpu()),
			row.over(func(s sample) float64 { return s.CPUCores }).Median,
			row.over(func(s sample) float64 { return s.PeakRSSMiB }).Max,
			thousands(float64(row.sum(accepted))), row.countCell(delivered), row.countCell(dups), row.countCell(lost), row.note())
	}
	fmt.Fprintf(b, "\n")
	for i := range r.Rows {
		row := &r.Rows[i]
		set := ""
		if len(row.Set) > 0 {
			set = " with `--set " + strings.Join(row.Set, "` `--set ") + "`"
		}
		fmt.Fprintf(b, "- **%s**: %s (`%s`%s)\n", row.Name, row.Desc, row.configFile(), set)
	}
	fmt.Fprintf(b, "\nspans/s: distinct spans the sink received per second of the measured window (for the ceiling, spans the collector accepted). "+
		"CPU: the collector process's user+system time (/proc/<pid>/stat) over the window, per million spans delivered in it. "+
		"Peak RSS: the highest VmHWM of the rounds. Counts are summed over the rounds: accepted is spans the collector answered OK for; "+
		"delivered is distinct spans the sink received; dup is receptions of a span the sink already had; lost is accepted spans the sink never received, "+
		"after the load stopped and the pipeline drained. The sink tells spans apart by their trace and span IDs, so a duplicate cannot hide a loss. "+
		"Any lost or duplicated span fails the row, and `make bench` exits non-zero. "+
		"The load generator and the sink run in the bench process on the same cores and cost about %s CPU s per million spans on top (not counted above).\n\n",
		r.harnessCost())
	if n := r.noiseLine(); n != "" {
		fmt.Fprintf(b, "**%s**\n\n", n)
	}
}

func (r *report) mdRatios(b *strings.Builder) {
	fmt.Fprintf(b, "## Ratios\n\n")
	fmt.Fprintf(b, "Every row against stock, and against its own baseline where it has one (the row that differs from it only in what it is about). "+
		"The ratio is of the medians; the range pairs the worst round of one with the best of the other, both ways. "+
		"Higher or lower is said only where the whole range is on one side of 1, and a target only counts as met or missed where the whole range is on one side of it; otherwise: within noise.\n\n")
	fmt.Fprintf(b, "| pipeline | vs | spans/s ratio (range) | CPU per span ratio (range) | spans/s | CPU per span | targets |\n|---|---|--:|--:|---|---|---|\n")
	for _, c := range r.comparisons() {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.Row.Name, c.Ref.Name, c.Spans, c.CPU, c.throughput(), c.cost(), c.targets())
	}
	fmt.Fprintf(b, "\nTargets for otlpcol's gateway rows: minimum at least %.2fx the reference's spans/s at no more than %.2fx its CPU per span; aim %.2fx at %.2fx.\n\n",
		minSpansRatio, maxCPURatio, aimSpansRatio, aimCPURatio)
}

func (r *report) mdRounds(b *strings.Builder) {
	fmt.Fprintf(b, "### Every round\n\n| pipeline |")
	for i := 1; i <= r.Opts.Rounds; i++ {
		fmt.Fprintf(b, " round %d spans/s | CPU s/M |", i)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("--:|--:|", r.Opts.Rounds))
	for i := range r.Rows {
		row := &r.Rows[i]
		fmt.Fprintf(b, "| %s |", row.Name)
		for _, s := range row.Samples {
			if s.Err != "" {
				fmt.Fprintf(b, " failed | |")
				continue
			}
			fmt.Fprintf(b, " %s | %.2f |", thousands(s.SpansPerSec), s.CPUPerM)
		}
		fmt.Fprintf(b, "%s\n", strings.Repeat(" | |", r.Opts.Rounds-len(row.Samples)))
	}
	fmt.Fprintf(b, "\n")
}

func (r *report) mdCPU(b *strings.Builder) {
	fmt.Fprintf(b, "### Where the CPU went\n\n")
	fmt.Fprintf(b, "Cores used over the measured windows, median of the rounds (from /proc/stat and getrusage). Saturation means idle near 0; CPU taken by other processes lowers that round's absolute numbers.\n\n")
	fmt.Fprintf(b, "| pipeline | collector | bench (sender + sink) | other processes | idle | bench CPU s per M spans | spans per export request |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for i := range r.Rows {
		row := &r.Rows[i]
		med := func(f func(sample) float64) float64 { return row.over(f).Median }
		perExport := "-"
		if n := row.sum(func(s sample) int64 { return s.ExportRequests }); n > 0 {
			perExport = thousands(float64(row.sum(delivered)) / float64(n))
		}
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n", row.Name,
			med(func(s sample) float64 { return s.CPUCores }), med(func(s sample) float64 { return s.HarnessCores }),
			med(func(s sample) float64 { return s.OtherCores }), med(func(s sample) float64 { return s.IdleCores }),
			med(func(s sample) float64 { return s.HarnessPerM }), perExport)
	}
	fmt.Fprintf(b, "\n")
}

func (r *report) mdMicro(b *strings.Builder) {
	fmt.Fprintf(b, "## Microbenchmarks\n\n")
	if !r.Opts.Micro {
		fmt.Fprintf(b, "Not run in this mode (`-micro=false`).\n")
	}
	for _, m := range r.Micro {
		fmt.Fprintf(b, "### %s\n\n", m.Package)
		fmt.Fprintf(b, "`%s`\n\n", m.Command)
		if m.Note != "" {
			fmt.Fprintf(b, "%s\n\n", m.Note)
		}
		if m.Output != "" {
			fmt.Fprintf(b, "```\n%s\n```\n\n", strings.TrimRight(m.Output, "\n"))
		}
	}
	if len(r.Micro) > 0 {
		fmt.Fprintf(b, "The blocks above are raw `go test -bench` output: save two runs to files and compare them with `benchstat old.txt new.txt` (run with `-micro-count 6` or more for benchstat's statistics).\n")
	}
}

func (r *report) harnessCost() string {
	var v []float64
	for i := range r.Rows {
		if r.Rows[i].Exports {
			for _, s := range r.Rows[i].good() {
				if s.HarnessPerM > 0 {
					v = append(v, s.HarnessPerM)
				}
			}
		}
	}
	if len(v) == 0 {
		return "an unmeasured amount of"
	}
	return fmt.Sprintf("%.2f", spreadOf(v).Median)
}

// mdScenarioLink links a scenario's own file: this run's, or, when this
// run skipped the scenario (-signals none, -backlog none), the one an
// earlier run left beside results.md, said to be from that run.
func (r *report) mdScenarioLink(b *strings.Builder, title, what, file string, ran bool) {
	switch {
	case ran:
		fmt.Fprintf(b, "## %s\n\n%s: [%s](%s).\n\n", title, what, file, file)
	case r.Opts.OutDir != "" && fileExists(filepath.Join(r.Opts.OutDir, file)):
		fmt.Fprintf(b, "## %s\n\n%s: [%s](%s), from an earlier run (its header says which); this run skipped the scenario.\n\n", title, what, file, file)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
