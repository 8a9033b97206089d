package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// defaultBacklog is the backlog scenario's log sizes in a full run; 10G
// needs -backlog 256M,1G,4G,10G (and 13 GiB of free disk).
const defaultBacklog = "256M,1G,4G"

// backlogFailures names the restarts that failed.
func backlogFailures(rs []backlogResult) []string {
	var out []string
	for _, r := range rs {
		if r.Err != "" {
			out = append(out, "backlog: "+firstLine(r.Err))
		}
	}
	return out
}

// measured is the restarts on a non-empty log that succeeded.
func measured(rs []backlogResult) []backlogResult {
	var out []backlogResult
	for _, r := range rs {
		if r.Err == "" && r.Target > 0 {
			out = append(out, r)
		}
	}
	return out
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// scanPerGiB is the recovery's seconds per GiB of log.
func (r backlogResult) scanPerGiB() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return r.Scan.Seconds() / gib(r.Bytes)
}

// writeBacklog writes backlog.md and backlog.png when the scenario ran.
func (r *report) writeBacklog(dir string, logf func(string, ...any)) error {
	if len(r.Backlog) == 0 {
		return nil
	}
	md, png := filepath.Join(dir, "backlog.md"), filepath.Join(dir, "backlog.png")
	r.Git.checkUnchanged(r.Opts.Root, benchOutputs(dir)...)
	if err := os.WriteFile(md, []byte(r.backlogMarkdown()), 0o644); err != nil {
		return err
	}
	if err := r.backlogChart(png); err != nil {
		return fmt.Errorf("backlog chart: %w", err)
	}
	fmt.Fprint(r.Opts.Stdout, "\n"+r.backlogTable())
	logf("wrote %s and %s", md, png)
	return nil
}

func (r *report) backlogMarkdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# otlpcol benchmark: backlog recovery\n\n")
	if r.Git.Dirty() {
		fmt.Fprintf(&b, "> **%s.**\n\n", r.Git.describe())
	}
	fmt.Fprintf(&b, "Written by `go run ./bench -backlog SIZES` (part of `make bench`; `-pipelines none` runs only the scenarios). ")
	fmt.Fprintf(&b, "The shipped write-ahead log (`otlp_retry`'s `persistent_queue`, the real binary) is filled by the bench's trace load with the backend down, then the collector is stopped (SIGTERM) and started again on the same directory, at each size in turn. ")
	fmt.Fprintf(&b, "**scan** is the log's own recovery time (every record read and its checksum verified), from the exporter's `write-ahead log opened` line; **ready** is process start to the collector's `Everything is ready` line (its receivers listen from then on; the collector starts exporters before receivers, so it includes the scan); **peak RSS** is the process's `VmHWM` at that moment, and the column after it what it adds over the restart on an empty log. ")
	fmt.Fprintf(&b, "The segments were just written, so they are read from the page cache as far as it holds them, as after a process restart (not after a reboot); **CPU** is the collector's CPU seconds by then (the scan's work, which other processes on the machine do not inflate, unlike its wall time); **disk read** what it read from storage by then (`/proc/<pid>/io` `read_bytes`: not served by the page cache); **page cache** is the machine's `Cached` (`/proc/meminfo`) at the restart: a log larger than it is partly read from disk, and its scan is then as fast as the disk. **fill** is how long the load took to grow the log from the previous size. One run of each size: compare within the table.\n\n")
	fmt.Fprintf(&b, "![recovery time and peak RSS by log size](backlog.png)\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| commit | %s |\n", r.Git.describe())
	fmt.Fprintf(&b, "| machine | %d cores, %s, Linux %s |\n", r.Machine.Cores, r.Machine.CPU, r.Machine.Kernel)
	fmt.Fprintf(&b, "| load average at start | %s |\n", r.Machine.LoadAvg)
	fmt.Fprintf(&b, "| config | `bench/configs/gateway-wal.yaml` `--set %s` |\n\n", strings.Join(backlogSet(backlogMaxBytes(r.Opts.Backlog)), "` `--set "))
	b.WriteString(r.backlogTable())
	return b.String()
}

// backlogTable is the markdown table and the conclusions it allows.
func (r *report) backlogTable() string {
	var b strings.Builder
	var base *backlogResult
	for i := range r.Backlog {
		if r.Backlog[i].Err == "" && r.Backlog[i].Target == 0 {
			base = &r.Backlog[i]
		}
	}
	fmt.Fprintf(&b, "| log | on disk | records | spans | scan | scan per GiB | ready | peak RSS | over empty log | fill | page cache | CPU | CPU per GiB | disk read |\n")
	fmt.Fprintf(&b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, x := range r.Backlog {
		if x.Err != "" {
			fmt.Fprintf(&b, "| failed | %s | | | | | | | | | | | | |\n", strings.ReplaceAll(firstLine(x.Err), "|", "/"))
			continue
		}
		name, perGiB, over, fill, cpuPerGiB := "empty", "-", "-", "-", "-"
		if x.Target > 0 {
			name, perGiB, fill = sizeLabel(x.Target), fmt.Sprintf("%.2f s", x.scanPerGiB()), x.FillTime.Round(time.Second).String()
			if base != nil {
				cpuPerGiB = fmt.Sprintf("%.2f s", (x.CPU-base.CPU)/gib(x.Bytes))
			}
			if base != nil {
				over = fmt.Sprintf("%+.0f MiB", x.PeakRSS-base.PeakRSS)
			}
		}
		fmt.Fprintf(&b, "| %s | %.0f MiB | %s | %s | %s | %s | %s | %.0f MiB | %s | %s | %.1f GiB | %.2f s | %s | %.0f MiB |\n", name, float64(x.Bytes)/(1<<20),
			thousands(float64(x.Records)), thousands(float64(x.Items)), x.Scan.Round(time.Millisecond), perGiB,
			x.Ready.Round(time.Millisecond), x.PeakRSS, over, fill, gib(x.Cached), x.CPU, cpuPerGiB, float64(x.DiskRead)/(1<<20))
	}
	m := measured(r.Backlog)
	if len(m) >= 2 {
		lo, hi := m[0], m[len(m)-1]
		fmt.Fprintf(&b, "\nFrom %s to %s of log (%.1fx the bytes): scan %.1fx the time (%.2f to %.2f s per GiB: linear would keep it equal); peak RSS %.0f to %.0f MiB",
			sizeLabel(lo.Target), sizeLabel(hi.Target), float64(hi.Bytes)/float64(lo.Bytes), hi.Scan.Seconds()/lo.Scan.Seconds(),
			lo.scanPerGiB(), hi.scanPerGiB(), lo.PeakRSS, hi.PeakRSS)
		if base != nil {
			fmt.Fprintf(&b, " (empty log: %.0f MiB)", base.PeakRSS)
		}
		if base != nil {
			fmt.Fprintf(&b, "; CPU over the empty log's start %.2f to %.2f s per GiB", (lo.CPU-base.CPU)/gib(lo.Bytes), (hi.CPU-base.CPU)/gib(hi.Bytes))
		}
		fmt.Fprintf(&b, ". One run on a shared machine: the wall time (scan) moves with what other processes take; CPU per GiB does not.\n")
	}
	return b.String()
}

// backlogChart draws scan time and peak RSS against the log's size.
func (r *report) backlogChart(path string) error {
	var scan, rss plotter.XYs
	for _, x := range measured(r.Backlog) {
		scan = append(scan, plotter.XY{X: gib(x.Bytes), Y: x.Scan.Seconds()})
		rss = append(rss, plotter.XY{X: gib(x.Bytes), Y: x.PeakRSS})
	}
	colours := map[string]color.Color{"gateway": colorGateway}
	scanPlot, err := linePanel("recovery scan time by log size", "GiB of log", "seconds", map[string]plotter.XYs{"gateway": scan}, colours)
	if err != nil {
		return err
	}
	rssPlot, err := linePanel("peak RSS at ready by log size", "GiB of log", "MiB", map[string]plotter.XYs{"gateway": rss}, colours)
	if err != nil {
		return err
	}
	// Linear axes from 0: a straight line through the origin is what
	// "time linear in size" looks like.
	for _, p := range []*plot.Plot{scanPlot, rssPlot} {
		p.X.Scale, p.X.Tick.Marker, p.X.Min = plot.LinearScale{}, plot.DefaultTicks{}, 0
	}
	return plotRow(path, 10*vg.Inch, 4*vg.Inch, scanPlot, rssPlot)
}
