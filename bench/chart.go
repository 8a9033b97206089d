package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colorStock   = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
	colorCeiling = color.RGBA{R: 0xc8, G: 0xc8, B: 0xc8, A: 0xff}
	colorGateway = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorAim     = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// chart writes a PNG with two panels: delivered spans/s and collector CPU
// seconds per million spans, one bar per pipeline at the median of its
// rounds with a whisker from the lowest to the highest round, with the stock
// pipeline's level and the aim drawn across.
func (r *report) chart(path string) error {
	var ok []*row
	for i := range r.Rows {
		// Request-size and registry-size rows have a chart of their own.
		if r.Rows[i].ok() && r.Rows[i].SpansPerRequest == 0 && r.Rows[i].Cycle == 0 {
			ok = append(ok, &r.Rows[i])
		}
	}
	title := fmt.Sprintf("otlpcol make bench, %s, %d cores %s, load average %s at start, %d round(s)",
		r.Date.Format("2006-01-02"), r.Machine.Cores, r.Machine.CPU, r.Machine.LoadAvg, r.Opts.Rounds)
	if r.Git.Dirty() {
		title += ", DIRTY tree"
	}
	spans, err := r.barPlot(ok, true, func(row *row) spread { return scaled(row.spans(), 1e-3) },
		aimSpansRatio, "%.0fk")
	if err != nil {
		return err
	}
	cpu, err := r.barPlot(ok, false, (*row).cpu, aimCPURatio, "%.2f")
	if err != nil {
		return err
	}
	spans.Title.Text = "delivered spans/s, thousands (higher is better)"
	cpu.Title.Text = "collector CPU seconds per million spans (lower is better)"
	spans.Y.Tick.Marker = formatTicks("%.0f")
	cpu.Y.Tick.Marker = formatTicks("%.1f")

	const w, h = 12 * vg.Inch, 5.6 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	full := draw.New(img)
	head := spans.Title.TextStyle
	head.Font.Size = vg.Points(13)
	head.XAlign = draw.XCenter
	head.YAlign = draw.YTop
	mid := (full.Min.X + full.Max.X) / 2
	full.FillText(head, vg.Point{X: mid, Y: full.Max.Y - vg.Points(6)}, title)
	legend := head
	legend.Font.Size = vg.Points(10)
	full.FillText(legend, vg.Point{X: mid, Y: full.Max.Y - vg.Points(24)},
		fmt.Sprintf("bars: median of the rounds, whiskers: lowest-highest round; grey: ceiling and stock rows, blue: otlpcol; dashed: stock (grey), aim %.2fx / %.2fx (green); *: noisy rounds",
			aimSpansRatio, aimCPURatio))
	dc := draw.Crop(full, 0, 0, 0, -vg.Points(40))
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{spans, cpu}}
	canvases := plot.Align(plots, tiles, dc)
	spans.Draw(canvases[0][0])
	cpu.Draw(canvases[0][1])

	return writePNG(path, img)
}

func scaled(s spread, k float64) spread {
	return spread{Median: s.Median * k, Min: s.Min * k, Max: s.Max * k, N: s.N}
}

func (r *report) barPlot(rows []*row, markNoisy bool, value func(*row) spread, aim float64, labelFmt string) (*plot.Plot, error) {
	p := plot.New()
	p.Y.Min = 0
	names := make([]string, len(rows))
	var maxV float64
	for i, row := range rows {
		names[i] = row.Name
		maxV = math.Max(maxV, value(row).Max)
	}
	if len(names) > 0 { // every row failed: an empty panel
		p.NominalX(names...)
	}
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter

	var st *row
	for _, row := range rows {
		if row.Name == stockName {
			st = row
		}
	}
	width := vg.Points(28)
	var labels plotter.XYLabels
	var whiskers spreadBars
	for i, row := range rows {
		v := value(row)
		vals := make(plotter.Values, len(rows)) // one bar series per colour
		vals[i] = v.Median
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = 0
		switch {
		case strings.HasPrefix(row.Name, stockName):
			bars.Color = colorStock
		case !row.Exports:
			bars.Color = colorCeiling
		default:
			bars.Color = colorGateway
		}
		p.Add(bars)
		whiskers = append(whiskers, whisker{XY: plotter.XY{X: float64(i), Y: v.Median}, s: v})
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: v.Max})
		label := fmt.Sprintf(labelFmt, v.Median)
		if markNoisy && row.maxOther() > 0.1*float64(r.Machine.Cores) {
			label += "*"
		}
		if st != nil && value(st).Median > 0 && row != st {
			label += fmt.Sprintf("\n%.2fx", v.Median/value(st).Median)
		}
		labels.Labels = append(labels.Labels, label)
	}
	if len(rows) > 0 {
		if r.Opts.Rounds > 1 {
			eb, err := plotter.NewYErrorBars(whiskers)
			if err != nil {
				return nil, err
			}
			eb.LineStyle.Width = vg.Points(1)
			p.Add(eb)
		}
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		l.Offset = vg.Point{Y: vg.Points(2)}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].YAlign = draw.YBottom
		}
		p.Add(l)
	}
	if st != nil {
		ref := value(st).Median
		xmin, xmax := -0.5, float64(len(rows))-0.5
		for _, line := range []struct {
			y     float64
			c     color.Color
			dash  bool
			label string
		}{{ref, colorStock, true, "stock"}, {ref * aim, colorAim, true, fmt.Sprintf("aim %.2fx", aim)}} {
			ln, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: line.y}, {X: xmax, Y: line.y}})
			if err != nil {
				return nil, err
			}
			ln.Color = line.c
			ln.Width = vg.Points(1.2)
			if line.dash {
				ln.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(ln)
			maxV = math.Max(maxV, line.y)
		}
	}
	p.Y.Max = maxV * 1.2
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
	return p, nil
}

// spreadBars are whiskers from each bar's lowest to its highest round.
type spreadBars []whisker

type whisker struct {
	plotter.XY
	s spread
}

func (b spreadBars) Len() int                    { return len(b) }
func (b spreadBars) XY(i int) (float64, float64) { return b[i].X, b[i].Y }
func (b spreadBars) YError(i int) (float64, float64) {
	return b[i].s.Median - b[i].s.Min, b[i].s.Max - b[i].s.Median
}

// formatTicks is the default ticker with labels in the given format.
type formatTicks string

func (f formatTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = fmt.Sprintf(string(f), ticks[i].Value)
		}
	}
	return ticks
}

// writePNG writes img to path as a PNG file.
func writePNG(path string, img *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// plotRow draws plots side by side on a white w x h image (100 dpi) and
// writes it to path as PNG.
func plotRow(path string, w, h vg.Length, plots ...*plot.Plot) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(100), vgimg.UseBackgroundColor(color.White))
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter * 8, PadTop: vg.Millimeter * 3,
		PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, draw.New(img))
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	return writePNG(path, img)
}
