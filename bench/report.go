package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

type machine struct {
	Cores   int
	CPU     string
	LoadAvg string
	Kernel  string
}

type report struct {
	Opts     options
	Date     time.Time
	Machine  machine
	Go       string
	Otlpcol  string
	Git      gitState
	Rows     []row
	Micro    []microResult
	LoadTime time.Duration
	Catchup  []catchupResult
	Backlog  []backlogResult
	Signals  []signalRow
}

func newReport(o options, git gitState) *report {
	r := &report{Opts: o, Date: time.Now().UTC(), Go: runtime.Version(), Git: git}
	r.Machine.Cores = runtime.NumCPU()
	r.Machine.CPU = cpuModel()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			r.Machine.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Machine.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(o.Bin, "--version").Output(); err == nil {
		r.Otlpcol = strings.TrimSpace(string(out))
	}
	return r
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// find is the row of a pipeline that ran with every round passing.
func (r *report) find(name string) *row {
	for i := range r.Rows {
		if r.Rows[i].Name == name && r.Rows[i].ok() {
			return &r.Rows[i]
		}
	}
	return nil
}

// comparisons is every passing row against stock, and against its own
// baseline where it names another.
func (r *report) comparisons() []comparison {
	var out []comparison
	st := r.find(stockName)
	for i := range r.Rows {
		row := &r.Rows[i]
		if !row.ok() {
			continue
		}
		if st != nil && row.Name != stockName {
			out = append(out, compareRows(row, st))
		}
		if row.Baseline != "" && row.Baseline != stockName {
			if b := r.find(row.Baseline); b != nil {
				out = append(out, compareRows(row, b))
			}
		}
	}
	return out
}

func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// spansCell is a spans/s spread: the median, and the range in thousands.
func spansCell(s spread) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return thousands(s.Median)
	}
	return fmt.Sprintf("%s (%.0fk-%.0fk)", thousands(s.Median), s.Min/1e3, s.Max/1e3)
}

func cpuCell(s spread) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.2f", s.Median)
	}
	return fmt.Sprintf("%.2f (%.2f-%.2f)", s.Median, s.Min, s.Max)
}

// countCell is a count summed over the rounds ("n/a" where nothing is exported).
func (r *row) countCell(f func(sample) int64) string {
	if !r.Exports {
		return "n/a"
	}
	return thousands(float64(r.sum(f)))
}

func (r *row) note() string {
	var notes []string
	if !r.Exports {
		notes = append(notes, "spans/s accepted; nothing exported")
	}
	if a := r.over(func(s sample) float64 { return s.Active }); a.N > 0 && r.good()[0].HasActive {
		notes = append(notes, fmt.Sprintf("registry %s active", thousands(a.Median)))
	}
	if n := r.sum(func(s sample) int64 { return s.Refused }); n > 0 {
		notes = append(notes, fmt.Sprintf("%s spans refused", thousands(float64(n))))
	}
	if n := r.sum(func(s sample) int64 { return s.Unasked }); n > 0 {
		notes = append(notes, fmt.Sprintf("%s spans of refused requests delivered all the same", thousands(float64(n))))
	}
	if e := r.failure(); e != "" {
		notes = append(notes, "FAILED "+firstLine(e))
	}
	return strings.Join(notes, "; ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func accepted(s sample) int64  { return s.Accepted }
func delivered(s sample) int64 { return s.Delivered }
func dups(s sample) int64      { return s.Dups }
func lost(s sample) int64      { return s.Lost }

// writeTable prints the results as aligned text tables.
func (r *report) writeTable(w io.Writer) {
	fmt.Fprintf(w, "%d round(s) per pipeline, interleaved; figures are the median (min-max) over the rounds; counts are summed over them.\n\n", r.Opts.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline\tspans/s\tCPU s/M spans\tcores\tothers\tpeak RSS MiB\taccepted\tdelivered\tdup\tlost\t")
	for i := range r.Rows {
		row := &r.Rows[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t  %s\n",
			row.Name, spansCell(row.spans()), cpuCell(row.cpu()),
			row.over(func(s sample) float64 { return s.CPUCores }).Median, row.maxOther(),
			row.over(func(s sample) float64 { return s.PeakRSSMiB }).Max,
			thousands(float64(row.sum(accepted))), row.countCell(delivered), row.countCell(dups), row.countCell(lost), row.note())
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncores: the collector's CPU use (median); others: most cores other processes took in any round (noise); peak RSS: highest VmHWM of the rounds\n\n")

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pipeline\tvs\tspans/s ratio (range)\tCPU/span ratio (range)\tspans/s\tCPU per span\ttargets\t")
	for _, c := range r.comparisons() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Row.Name, c.Ref.Name, c.Spans, c.CPU, c.throughput(), c.cost(), c.targets())
	}
	tw.Flush()
	fmt.Fprintf(w, "\nratio: of the medians; range: the worst and the best pairing of one round of each; higher/lower only where the whole range is on one side of 1, else within noise\n")
	fmt.Fprintf(w, "targets (gateway rows): minimum >= %.2fx spans/s and <= %.2fx CPU per span; aim >= %.2fx and <= %.2fx; met/MISSED only where the whole range is\n",
		minSpansRatio, maxCPURatio, aimSpansRatio, aimCPURatio)
	fmt.Fprintf(w, "machine: %d cores, %s; load average at start %s; %s; commit %s\n", r.Machine.Cores, r.Machine.CPU, r.Machine.LoadAvg, r.Go, r.Git.describe())
	if n := r.noiseLine(); n != "" {
		fmt.Fprintln(w, n)
	}
}

// noiseLine warns when other processes took a noticeable share of the
// machine during some rounds; empty when the run was quiet.
func (r *report) noiseLine() string {
	limit := 0.1 * float64(r.Machine.Cores)
	var names []string
	worst := 0.0
	for i := range r.Rows {
		if o := r.Rows[i].maxOther(); o > limit {
			names = append(names, r.Rows[i].Name)
			worst = max(worst, o)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("noise: other processes took up to %.2f of %d cores in rounds of %s: spans/s there understates a quiet machine and widens the spread; CPU per span is less affected. Rerun on a quiet machine.",
		worst, r.Machine.Cores, strings.Join(names, ", "))
}
