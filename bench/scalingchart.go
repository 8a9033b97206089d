package main

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Cost as work grows: CPU per million spans against the request size (the
// request-size rows, with the 1,000-span rows they vary), and CPU per
// million spans and peak RSS against the registry's active traces (the
// scale-N rows). Written as scaling.png beside results.png.

// requestSizeSeries is base's median CPU per million spans by spans per
// request, from base and its -req-N rows.
func (r *report) requestSizeSeries(base string) plotter.XYs {
	var xy plotter.XYs
	for i := range r.Rows {
		row := &r.Rows[i]
		if !row.ok() {
			continue
		}
		switch {
		case row.cpu().Median == 0:
		case row.Name == base:
			xy = append(xy, plotter.XY{X: spansPerRequest, Y: row.cpu().Median})
		case row.SpansPerRequest > 0 && row.Name == fmt.Sprintf("%s-req-%s", base, shortCount(uint64(row.SpansPerRequest))):
			xy = append(xy, plotter.XY{X: float64(row.SpansPerRequest), Y: row.cpu().Median})
		}
	}
	sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
	return xy
}

// registrySeries is the scale-N rows' median CPU per million spans and
// peak RSS by active traces.
func (r *report) registrySeries() (cpu, rss plotter.XYs) {
	for i := range r.Rows {
		row := &r.Rows[i]
		if !row.ok() || row.Cycle == 0 {
			continue
		}
		n := float64(row.Cycle)
		cpu = append(cpu, plotter.XY{X: n, Y: row.cpu().Median})
		rss = append(rss, plotter.XY{X: n, Y: row.over(func(s sample) float64 { return s.PeakRSSMiB }).Median})
	}
	sort.Slice(cpu, func(i, j int) bool { return cpu[i].X < cpu[j].X })
	sort.Slice(rss, func(i, j int) bool { return rss[i].X < rss[j].X })
	return cpu, rss
}

// hasScaling reports whether any row of the scaling chart ran.
func (r *report) hasScaling() bool {
	for i := range r.Rows {
		if r.Rows[i].ok() && (r.Rows[i].SpansPerRequest > 0 || r.Rows[i].Cycle > 0) {
			return true
		}
	}
	return false
}

func linePanel(title, xLabel, yLabel string, series map[string]plotter.XYs, colours map[string]color.Color) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = 0
	names := make([]string, 0, len(series))
	for name := range series {
		names = append(names, name)
	}
	sort.Strings(names)
	maxY := 0.0
	for _, name := range names {
		xy := series[name]
		if len(xy) == 0 {
			continue
		}
		for _, v := range xy {
			maxY = math.Max(maxY, v.Y)
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color = colours[name], colours[name]
		p.Add(l, pts)
		p.Legend.Add(name, l, pts)
	}
	p.Y.Max = maxY * 1.15
	if maxY == 0 {
		// No row of this panel ran (-pipelines picked others): an empty
		// log axis from 0 to 0 would panic in gonum/plot.
		p.X.Min, p.X.Max, p.Y.Max = 1, 10, 1
	}
	p.Legend.Top = true
	return p, nil
}

// scalingChart writes scaling.png; it writes nothing when no scaling row ran.
func (r *report) scalingChart(path string) error {
	if !r.hasScaling() {
		return nil
	}
	req, err := linePanel("CPU per span by request size", "spans per request", "CPU s per M spans",
		map[string]plotter.XYs{stockName: r.requestSizeSeries(stockName), "gateway-wal-always": r.requestSizeSeries("gateway-wal-always")},
		map[string]color.Color{stockName: colorStock, "gateway-wal-always": colorGateway})
	if err != nil {
		return err
	}
	cpu, rss := r.registrySeries()
	regCPU, err := linePanel("CPU per span by registry size", "active traces", "CPU s per M spans",
		map[string]plotter.XYs{"gateway": cpu}, map[string]color.Color{"gateway": colorGateway})
	if err != nil {
		return err
	}
	regRSS, err := linePanel("peak RSS by registry size", "active traces", "MiB",
		map[string]plotter.XYs{"gateway": rss}, map[string]color.Color{"gateway": colorGateway})
	if err != nil {
		return err
	}
	return plotRow(path, 15*vg.Inch, 4.5*vg.Inch, req, regCPU, regRSS)
}

// mdRegistryScale is the scale-N rows as a table: CPU per span (it should
// stay flat as the registry grows) and the memory each trace adds, from
// the peak RSS above the smallest registry's, set beside the ~100 bytes a
// trace the trace_registry README documents. RSS includes everything else
// the collector holds, the same in every scale row, so the difference is
// the registry's (and the noise of the heap's growth).
func (r *report) mdRegistryScale(b *strings.Builder) {
	var rows []*row
	for i := range r.Rows {
		if r.Rows[i].ok() && r.Rows[i].Cycle > 0 {
			rows = append(rows, &r.Rows[i])
		}
	}
	if len(rows) < 2 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Cycle < rows[j].Cycle })
	rss := func(row *row) float64 { return row.over(func(s sample) float64 { return s.PeakRSSMiB }).Median }
	base := rows[0]
	fmt.Fprintf(b, "| active traces | CPU s per M spans median (min-max) | vs %s | peak RSS MiB (median) | bytes a trace above %s |\n|--:|--:|--:|--:|--:|\n",
		shortCount(base.Cycle), shortCount(base.Cycle))
	for _, row := range rows {
		perTrace := "-"
		if row != base {
			perTrace = thousands(bytesPerTrace(rss(base), rss(row), base.Cycle, row.Cycle))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.0f | %s |\n", thousands(float64(row.Cycle)), cpuCell(row.cpu()),
			ratioOf(row.cpu(), base.cpu()), rss(row), perTrace)
	}
	fmt.Fprintf(b, "\nThe trace_registry README documents about 100 bytes a tracked trace; CPU per span should stay flat (a ratio whose range holds 1).\n\n")
}

// bytesPerTrace is the memory each trace adds between two registry sizes,
// from their peak RSS in MiB.
func bytesPerTrace(rssSmall, rssLarge float64, small, large uint64) float64 {
	if large <= small {
		return 0
	}
	return (rssLarge - rssSmall) * (1 << 20) / float64(large-small)
}
