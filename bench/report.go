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

// Targets from the issue: otlpcol's gateway against the stock pipeline.
const (
	minSpansRatio = 1.0
	maxCPURatio   = 1.0
	aimSpansRatio = 1.25
	aimCPURatio   = 0.8
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
	Commit   string
	Results  []result
	Micro    []microResult
	LoadTime time.Duration
}

func newReport(o options) *report {
	r := &report{Opts: o, Date: time.Now().UTC(), Go: runtime.Version()}
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
	if out, err := exec.Command("git", "-C", o.Root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", o.Root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			r.Commit += " (with uncommitted changes)"
		}
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

func (r *report) stock() *result {
	for i := range r.Results {
		if r.Results[i].Name == "stock" && r.Results[i].Err == "" {
			return &r.Results[i]
		}
	}
	return nil
}

func (r *report) computeRatios() {
	st := r.stock()
	if st == nil || st.SpansPerSec == 0 || st.CPUPerM == 0 {
		return
	}
	for i := range r.Results {
		res := &r.Results[i]
		res.SpansRatio = res.SpansPerSec / st.SpansPerSec
		res.CPURatio = res.CPUPerM / st.CPUPerM
	}
}

func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
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

func (res *result) lostCell() string {
	if !res.Exports {
		return "n/a"
	}
	return thousands(float64(res.Lost))
}

func (res *result) note() string {
	var notes []string
	if !res.Exports {
		notes = append(notes, "spans/s accepted; nothing exported")
	}
	if res.HasActive {
		notes = append(notes, fmt.Sprintf("registry %s active", thousands(res.Active)))
	}
	if res.Refused > 0 {
		notes = append(notes, fmt.Sprintf("%s spans refused", thousands(float64(res.Refused))))
	}
	if res.Err != "" {
		notes = append(notes, "FAILED: "+firstLine(res.Err))
	}
	return strings.Join(notes, "; ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeTable prints the results as an aligned text table.
func (r *report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline\tspans/s\tvs stock\tCPU s/M spans\tvs stock\tcores\tothers\tpeak RSS MiB\taccepted\tdelivered\tlost\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%.2f\t%.2f\t%.0f\t%s\t%s\t%s\t  %s\n",
			res.Name, thousands(res.SpansPerSec), ratio(res.SpansRatio), res.CPUPerM, ratio(res.CPURatio),
			res.CPUCores, res.OtherCores, res.PeakRSSMiB, thousands(float64(res.Accepted)), thousands(float64(res.Delivered)),
			res.lostCell(), res.note())
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncores: the collector's CPU use; others: cores other processes on the machine took meanwhile (noise)\n")
	fmt.Fprintf(w, "machine: %d cores, %s; load average at start %s; %s\n", r.Machine.Cores, r.Machine.CPU, r.Machine.LoadAvg, r.Go)
	if n := r.noiseLine(); n != "" {
		fmt.Fprintln(w, n)
	}
	for _, line := range r.targetLines() {
		fmt.Fprintln(w, line)
	}
}

// noiseLine warns when other processes took a noticeable share of the
// machine during some measured windows; empty when the run was quiet.
func (r *report) noiseLine() string {
	limit := 0.1 * float64(r.Machine.Cores)
	var names []string
	worst := 0.0
	for _, res := range r.Results {
		if res.Err == "" && res.OtherCores > limit {
			names = append(names, res.Name)
			worst = max(worst, res.OtherCores)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("noise: other processes took up to %.2f of %d cores while %s ran: those rows' spans/s (and their ratios) understate a quiet machine; CPU per span is not affected. Rerun on a quiet machine for spans/s.",
		worst, r.Machine.Cores, strings.Join(names, ", "))
}

// targetLines judges each gateway pipeline against the targets.
func (r *report) targetLines() []string {
	st := r.stock()
	if st == nil {
		return []string{"targets: not judged (the stock pipeline did not run or failed)"}
	}
	var out []string
	for _, res := range r.Results {
		if !res.Gateway || res.Err != "" || res.SpansRatio == 0 {
			continue
		}
		min := res.SpansRatio >= minSpansRatio && res.CPURatio <= maxCPURatio
		aim := res.SpansRatio >= aimSpansRatio && res.CPURatio <= aimCPURatio
		line := fmt.Sprintf("target %-17s %s spans/s, %s CPU per span: minimum (>= %.2fx, <= %.2fx) %s; aim (>= %.2fx, <= %.2fx) %s",
			res.Name+":", ratio(res.SpansRatio), ratio(res.CPURatio), minSpansRatio, maxCPURatio, metWord(min),
			aimSpansRatio, aimCPURatio, metWord(aim))
		if noisy := max(res.OtherCores, st.OtherCores); noisy > 0.1*float64(r.Machine.Cores) {
			line += fmt.Sprintf(" (spans/s ratio noisy: other processes took %.2f cores)", noisy)
		}
		out = append(out, line)
	}
	return out
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// markdown renders bench/results.md.
func (r *report) markdown() string {
	var b strings.Builder
	o := r.Opts
	fmt.Fprintf(&b, "# otlpcol benchmark results\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`go run ./bench`); rerun it to refresh. ")
	fmt.Fprintf(&b, "Absolute numbers drift with the machine and its load; the ratios to the stock pipeline, measured in the same run, are what to compare.\n\n")
	fmt.Fprintf(&b, "![spans/s and CPU per million spans per pipeline](results.png)\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| machine | %d cores, %s, Linux %s |\n", r.Machine.Cores, r.Machine.CPU, r.Machine.Kernel)
	fmt.Fprintf(&b, "| load average at start | %s |\n", r.Machine.LoadAvg)
	fmt.Fprintf(&b, "| go | %s |\n", r.Go)
	if r.Otlpcol != "" {
		fmt.Fprintf(&b, "| otlpcol | %s |\n", r.Otlpcol)
	}
	if r.Commit != "" {
		fmt.Fprintf(&b, "| commit | %s |\n", r.Commit)
	}
	mode := ""
	if o.Quick {
		mode = " (quick smoke mode: too short for real figures)"
	}
	fmt.Fprintf(&b, "| load | %s warm-up + %s measured per pipeline%s; %d sender goroutines on %d gRPC connections; requests of %d spans (%d traces of %d spans), new trace IDs on every request (scale-N: the same N traces, each sent once during warm-up) |\n",
		o.Warmup, o.Duration, mode, o.Workers, o.Conns, spansPerRequest, tracesPerReq, spansPerTrace)
	fmt.Fprintf(&b, "| load run time | %s |\n\n", r.LoadTime.Round(time.Second))

	fmt.Fprintf(&b, "## Pipelines\n\n")
	fmt.Fprintf(&b, "| pipeline | spans/s | vs stock | CPU s per M spans | vs stock | collector cores | peak RSS MiB | accepted | delivered | lost | notes |\n")
	fmt.Fprintf(&b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %.2f | %.0f | %s | %s | %s | %s |\n",
			res.Name, thousands(res.SpansPerSec), ratio(res.SpansRatio), res.CPUPerM, ratio(res.CPURatio),
			res.CPUCores, res.PeakRSSMiB, thousands(float64(res.Accepted)), thousands(float64(res.Delivered)),
			res.lostCell(), res.note())
	}
	fmt.Fprintf(&b, "\n")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "- **%s**: %s (`bench/configs/%s`)\n", res.Name, res.Desc, configOf(res.Name))
	}
	fmt.Fprintf(&b, "\nspans/s is counted at the sink (for the ceiling, spans the collector accepted); CPU is the collector process's user+system time from /proc/<pid>/stat over the measured window, divided by the spans delivered in it; peak RSS is VmHWM; lost is spans the collector accepted minus spans the sink received after the load stopped and the pipeline drained. The load generator and the sink run in the bench process on the same cores and cost about %s CPU s per million spans on top (not counted above).\n\n",
		r.harnessCost())

	if n := r.noiseLine(); n != "" {
		fmt.Fprintf(&b, "**%s**\n\n", n)
	}
	fmt.Fprintf(&b, "### Where the CPU went\n\n")
	fmt.Fprintf(&b, "Cores used over each measured window (from /proc/stat and getrusage). Saturation means idle near 0; CPU taken by other processes makes that run's absolute numbers lower than a quiet machine's.\n\n")
	fmt.Fprintf(&b, "| pipeline | collector | bench (sender + sink) | other processes | idle | bench CPU s per M spans | spans per export request |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, res := range r.Results {
		perExport := "-"
		if res.ExportRequests > 0 {
			perExport = thousands(float64(res.Delivered) / float64(res.ExportRequests))
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n", res.Name, res.CPUCores, res.HarnessCores, res.OtherCores, res.IdleCores, res.HarnessPerM, perExport)
	}
	fmt.Fprintf(&b, "\n")

	fmt.Fprintf(&b, "## Targets\n\n")
	fmt.Fprintf(&b, "otlpcol's gateway must reach at least %.2fx the stock pipeline's spans/s at no more than %.2fx its CPU per span; the aim is %.2fx at %.2fx. Reference for this machine type: stock about 210,000-230,000 spans/s, receive-only ceiling about 640,000 spans/s.\n\n",
		minSpansRatio, maxCPURatio, aimSpansRatio, aimCPURatio)
	for _, line := range r.targetLines() {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	if st := r.stock(); st != nil {
		fmt.Fprintf(&b, "- this run: stock %s spans/s", thousands(st.SpansPerSec))
		for _, res := range r.Results {
			if res.Name == "ceiling" && res.Err == "" {
				fmt.Fprintf(&b, ", ceiling %s spans/s", thousands(res.SpansPerSec))
			}
		}
		fmt.Fprintf(&b, "\n")
	}
	fmt.Fprintf(&b, "\n")

	fmt.Fprintf(&b, "## Microbenchmarks\n\n")
	if !o.Micro {
		fmt.Fprintf(&b, "Not run in this mode (`-micro=false`).\n")
	}
	for _, m := range r.Micro {
		fmt.Fprintf(&b, "### %s\n\n", m.Package)
		fmt.Fprintf(&b, "`%s`\n\n", m.Command)
		if m.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", m.Note)
		}
		if m.Output != "" {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", strings.TrimRight(m.Output, "\n"))
		}
	}
	if len(r.Micro) > 0 {
		fmt.Fprintf(&b, "The blocks above are raw `go test -bench` output: save two runs to files and compare them with `benchstat old.txt new.txt` (run with `-micro-count 6` or more for benchstat's statistics).\n")
	}
	return b.String()
}

func configOf(name string) string {
	for _, p := range knownPipelines() {
		if p.Name == name {
			return p.Config
		}
	}
	if strings.HasPrefix(name, "scale-") {
		return "gateway.yaml"
	}
	return name + ".yaml"
}

func (r *report) harnessCost() string {
	var sum float64
	n := 0
	for _, res := range r.Results {
		if res.Exports && res.Err == "" && res.HarnessPerM > 0 {
			sum += res.HarnessPerM
			n++
		}
	}
	if n == 0 {
		return "an unmeasured amount of"
	}
	return fmt.Sprintf("%.2f", sum/float64(n))
}
