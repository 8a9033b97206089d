package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// defaultSignals is the signals scenario's signals in a full run.
const defaultSignals = "metrics,logs"

// signalFailures names the rows with a failed round.
func signalFailures(rows []signalRow) []string {
	var out []string
	for _, r := range rows {
		for _, f := range r.Failures {
			out = append(out, fmt.Sprintf("signals %s %s: %s", r.Signal, r.Name, firstLine(f)))
		}
	}
	return out
}

// writeSignals writes signals.md when the scenario ran.
func (r *report) writeSignals(dir string, logf func(string, ...any)) error {
	if len(r.Signals) == 0 {
		return nil
	}
	md := filepath.Join(dir, "signals.md")
	r.Git.checkUnchanged(r.Opts.Root, benchOutputs(dir)...)
	if err := os.WriteFile(md, []byte(r.signalsMarkdown()), 0o644); err != nil {
		return err
	}
	if err := r.signalsChart(filepath.Join(dir, "signals.png")); err != nil {
		return fmt.Errorf("signals chart: %w", err)
	}
	fmt.Fprint(r.Opts.Stdout, "\n"+r.signalsTable())
	logf("wrote %s", md)
	return nil
}

func (r *report) signalsMarkdown() string {
	var b strings.Builder
	o := r.Opts
	fmt.Fprintf(&b, "# otlpcol benchmark: metrics and logs\n\n")
	if r.Git.Dirty() {
		fmt.Fprintf(&b, "> **%s.**\n\n", r.Git.describe())
	}
	fmt.Fprintf(&b, "Written by `go run ./bench -signals metrics,logs` (part of `make bench`; `-pipelines none` runs only the scenarios). ")
	fmt.Fprintf(&b, "Each signal through **stock** (`stock.yaml` with the signal's pipeline: memory_limiter -> batch -> `otlp_grpc`, gzip) and the shipped **gateway-wal-always** (`gateway-wal.yaml`, fsync always, with the signal's pipeline: memory_limiter -> `otlp_retry` on its write-ahead log, gzip 6: what `configs/gateway.yaml` ships for metrics and logs). ")
	fmt.Fprintf(&b, "%d round(s) per row, interleaved; %s warm-up + %s measured. The load sends requests of %d data points (100 gauges and cumulative sums of 10 points) or %d log records (structured application logs), the same bytes every time, from %d workers on %d gRPC connections, at saturation. ",
		o.Rounds, o.Warmup, o.Duration, itemsPerRequest, itemsPerRequest, o.Workers, o.Conns)
	fmt.Fprintf(&b, "The sink counts items from the wire without building pdata; lost is accepted minus delivered after the drain (a count: unlike the trace rows, a duplicate could hide a loss). ")
	fmt.Fprintf(&b, "Figures are the median (min-max) over the rounds; compare the ratios.\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| commit | %s |\n", r.Git.describe())
	fmt.Fprintf(&b, "| machine | %d cores, %s, Linux %s |\n", r.Machine.Cores, r.Machine.CPU, r.Machine.Kernel)
	fmt.Fprintf(&b, "| load average at start | %s |\n\n", r.Machine.LoadAvg)
	fmt.Fprintf(&b, "![items/s and CPU per million items, stock beside the gateway](signals.png)\n\n")
	b.WriteString(r.signalsTable())
	return b.String()
}

// signalsTable is the rows and, per signal, the gateway against stock.
func (r *report) signalsTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| signal | pipeline | items/s | CPU s/M items | peak RSS MiB | accepted | delivered | lost | result |\n")
	fmt.Fprintf(&b, "|---|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, row := range r.Signals {
		var acc, del, lost int64
		rss := 0.0
		for _, s := range row.Samples {
			acc, del, lost, rss = acc+s.Accepted, del+s.Delivered, lost+s.Lost, max(rss, s.PeakRSSMiB)
		}
		result := "PASS"
		if len(row.Failures) > 0 {
			result = "FAIL: " + strings.ReplaceAll(firstLine(row.Failures[0]), "|", "/")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %s | %s | %d | %s |\n", row.Signal, row.Name,
			spansCell(row.items()), cpuCell(row.cpu()), rss, thousands(float64(acc)), thousands(float64(del)), lost, result)
	}
	fmt.Fprintf(&b, "\n| signal | gateway-wal-always vs stock | items/s ratio (range) | CPU per item ratio (range) | items/s | CPU per item |\n")
	fmt.Fprintf(&b, "|---|---|--:|--:|---|---|\n")
	for i := range r.Signals {
		g := &r.Signals[i]
		if g.Name == stockName {
			continue
		}
		for j := range r.Signals {
			s := &r.Signals[j]
			if s.Signal != g.Signal || s.Name != stockName {
				continue
			}
			items, cpu := ratioOf(g.items(), s.items()), ratioOf(g.cpu(), s.cpu())
			fmt.Fprintf(&b, "| %s | per %s | %s | %s | %s | %s |\n", g.Signal, strings.TrimSuffix(g.unit(), "s"),
				items, cpu, compare(items, "higher", "lower"), compare(cpu, "higher", "lower"))
		}
	}
	return b.String()
}
