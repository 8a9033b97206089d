package main

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// signalsChart writes signals.png: for each signal, stock's and the
// gateway's items/s and CPU per million items side by side (bars: the
// median of the rounds, whiskers: lowest to highest round). Nothing when
// the scenario did not run.
func (r *report) signalsChart(path string) error {
	if len(r.Signals) == 0 {
		return nil
	}
	items, err := r.signalsPanel("items/s, thousands (higher is better)", func(s *signalRow) spread {
		sp := s.items()
		return spread{Median: sp.Median / 1e3, Min: sp.Min / 1e3, Max: sp.Max / 1e3, N: sp.N}
	})
	if err != nil {
		return err
	}
	cpu, err := r.signalsPanel("collector CPU s per million items (lower is better)", (*signalRow).cpu)
	if err != nil {
		return err
	}
	return plotRow(path, 10*vg.Inch, 4*vg.Inch, items, cpu)
}

// signalsPanel is one panel of signalsChart: a group of bars a pipeline,
// one bar a signal.
func (r *report) signalsPanel(title string, value func(*signalRow) spread) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Min = 0
	var signals []string
	bySignal := map[string]map[string]spread{}
	for i := range r.Signals {
		s := &r.Signals[i]
		if bySignal[s.Signal] == nil {
			bySignal[s.Signal] = map[string]spread{}
			signals = append(signals, s.Signal)
		}
		bySignal[s.Signal][s.Name] = value(s)
	}
	width := vg.Points(28)
	top := 0.0
	for k, pipe := range []struct {
		name   string
		colour color.Color
	}{{stockName, colorStock}, {"gateway-wal-always", colorGateway}} {
		shift := 0.18 * float64(2*k-1) // stock left of the signal's tick, the gateway right
		vals := make(plotter.Values, len(signals))
		var whiskers plotter.XYs
		var errs plotter.YErrors
		for i, sig := range signals {
			sp := bySignal[sig][pipe.name]
			vals[i] = sp.Median
			top = max(top, sp.Max)
			whiskers = append(whiskers, plotter.XY{X: float64(i) + shift, Y: sp.Median})
			errs = append(errs, struct{ Low, High float64 }{sp.Median - sp.Min, sp.Max - sp.Median})
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color = pipe.colour
		bars.LineStyle.Width = 0
		bars.XMin = shift
		p.Add(bars)
		p.Legend.Add(pipe.name, bars)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{whiskers, errs})
		if err != nil {
			return nil, err
		}
		p.Add(eb)
	}
	p.NominalX(signals...)
	p.Y.Max = top * 1.3 // room for the legend above the bars
	p.Legend.Top = true
	return p, nil
}
