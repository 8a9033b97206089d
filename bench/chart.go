package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

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
// seconds per million spans, one bar per pipeline, with the stock pipeline's
// level and the aim drawn across.
func (r *report) chart(path string) error {
	var ok []result
	for _, res := range r.Results {
		if res.Err == "" {
			ok = append(ok, res)
		}
	}
	title := fmt.Sprintf("otlpcol make bench, %s, %d cores %s, load average %s at start",
		r.Date.Format("2006-01-02"), r.Machine.Cores, r.Machine.CPU, r.Machine.LoadAvg)
	spans, err := r.barPlot(ok, true, func(res result) float64 { return res.SpansPerSec / 1000 },
		aimSpansRatio, "%.0fk")
	if err != nil {
		return err
	}
	cpu, err := r.barPlot(ok, false, func(res result) float64 { return res.CPUPerM },
		aimCPURatio, "%.2f")
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
		fmt.Sprintf("bars: light grey ceiling (receive only), dark grey stock, blue otlpcol gateway; dashed: stock level (grey), aim (green, %.2fx spans/s, %.2fx CPU); * other processes took over 10%% of the cores",
			aimSpansRatio, aimCPURatio))
	dc := draw.Crop(full, 0, 0, 0, -vg.Points(40))
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{spans, cpu}}
	canvases := plot.Align(plots, tiles, dc)
	spans.Draw(canvases[0][0])
	cpu.Draw(canvases[0][1])

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

func (r *report) barPlot(results []result, markNoisy bool, value func(result) float64, aim float64, labelFmt string) (*plot.Plot, error) {
	p := plot.New()
	p.Y.Min = 0
	names := make([]string, len(results))
	var maxV float64
	for i, res := range results {
		names[i] = res.Name
		maxV = math.Max(maxV, value(res))
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter

	width := vg.Points(28)
	var labels plotter.XYLabels
	for i, res := range results {
		vals := make(plotter.Values, len(results)) // one bar series per colour
		vals[i] = value(res)
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = 0
		switch {
		case res.Name == "stock":
			bars.Color = colorStock
		case !res.Exports:
			bars.Color = colorCeiling
		default:
			bars.Color = colorGateway
		}
		p.Add(bars)
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: value(res)})
		label := fmt.Sprintf(labelFmt, value(res))
		if markNoisy && res.OtherCores > 0.1*float64(r.Machine.Cores) {
			label += "*"
		}
		if st := r.stock(); st != nil && value(*st) > 0 && res.Name != "stock" {
			label += fmt.Sprintf("\n%.2fx", value(res)/value(*st))
		}
		labels.Labels = append(labels.Labels, label)
	}
	if len(results) > 0 {
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
	if st := r.stock(); st != nil {
		ref := value(*st)
		xmin, xmax := -0.5, float64(len(results))-0.5
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
	p.Y.Max = maxV * 1.15
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
	return p, nil
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
