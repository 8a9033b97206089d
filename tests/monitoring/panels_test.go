package monitoring

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/otlpcol/otlpcol/tests/harness"
)

type dashboard struct {
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

// component tells which pods a dashboard query is about, by the metrics it
// names: exporterhelper's queue and the queue-file guard run on agents,
// otlp_retry and the trace registry on gateways, kubelet series come from
// outside; the rest on both.
func component(expr string) string {
	switch {
	case strings.Contains(expr, "kubelet_"):
		return "kubelet"
	case strings.Contains(expr, "otelcol_exporter_") || strings.Contains(expr, "guarded_file_storage"):
		return "agent"
	case strings.Contains(expr, "otlp_retry") || strings.Contains(expr, "otlp_trace") || strings.Contains(expr, "memory_limiter"):
		return "gateway"
	}
	return "gateway and agent"
}

// instantiate replaces the dashboard's variables as Grafana would for one
// pod regex, with $__rate_interval at four scrape intervals.
func instantiate(expr, pods string, interval time.Duration) string {
	return strings.NewReplacer(`$namespace`, ".*", `$pod`, pods,
		`$__rate_interval`, promDuration(4*interval)).Replace(expr)
}

// checkPanels runs every query of the dashboard against the test's
// Prometheus over the whole run, for the pods it is about, and fails on an
// empty result; then renders the key panels as PNG.
func checkPanels(t *testing.T, s *suite, soakFrom, soakTo time.Time) {
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy/monitoring/otlpcol-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	checked := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			c := component(tg.Expr)
			for _, comp := range []string{"gateway", "agent", "kubelet"} {
				if !strings.Contains(c, comp) {
					continue
				}
				// The kubelet's volume stats (kubeStandIn) name claims,
				// not pods; the query selects them itself.
				q := instantiate(tg.Expr, "otlpcol-"+comp+"-.*", s.prom.interval)
				res, err := s.prom.queryRange(q, s.start, end, 2*time.Second)
				checked++
				if err != nil {
					t.Errorf("panel %q (%s): %v", p.Title, comp, err)
					continue
				}
				n := 0
				for _, r := range res {
					n += len(r.Values)
				}
				if n == 0 {
					t.Errorf("panel %q: query %q returns nothing for the %s pods", p.Title, q, comp)
				}
			}
		}
	}
	t.Logf("%d dashboard queries checked against the run", checked)
	if t.Failed() {
		res, _ := s.prom.queryRange(`count by (__name__, pod) ({__name__=~"rpc_.*|otelcol_receiver_accepted_.*"})`, s.start, end, 10*time.Second)
		for _, r := range res {
			t.Logf("present: %v", r.Metric)
		}
	}

	out := os.Getenv("OTLPCOL_MONITORING_OUT")
	if out == "" {
		return
	}
	for _, p := range d.Panels {
		file, ok := keyPanels[p.Title]
		if !ok {
			continue
		}
		tiles := []struct {
			pod, title string
			from, to   time.Time
		}{
			{"otlpcol-gateway-outage", "backend down, then back (gateway otlpcol-gateway-outage)", s.start, end},
			{"otlpcol-gateway-0", "healthy, rolling restart (gateway otlpcol-gateway-0)", soakFrom, soakTo},
		}
		var row []*plot.Plot
		for _, tile := range tiles {
			pl := plot.New()
			pl.Title.Text = p.Title + ": " + tile.title
			pl.X.Label.Text = fmt.Sprintf("minutes (shipped timing; the test ran them %dx faster)", factor)
			pl.Legend.Top = true
			pl.Legend.Left = true
			i := 0
			for _, tg := range p.Targets {
				if component(tg.Expr) == "agent" {
					continue
				}
				res, err := s.prom.queryRange(instantiate(tg.Expr, tile.pod, s.prom.interval), tile.from, tile.to, time.Second)
				if err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				sort.Slice(res, func(a, b int) bool {
					return legend(tg.LegendFormat, res[a].Metric) < legend(tg.LegendFormat, res[b].Metric)
				})
				for _, r := range res {
					pts := plotter.XYs{}
					for _, v := range r.Values {
						ts, _ := v[0].(float64)
						pts = append(pts, plotter.XY{X: (ts - float64(tile.from.Unix())) * factor / 60, Y: parseF(v[1])})
					}
					if len(pts) == 0 {
						continue
					}
					line, err := plotter.NewLine(pts)
					if err != nil {
						t.Error(err)
						continue
					}
					line.Color = palette[i%len(palette)]
					line.Width = vg.Points(1.5)
					i++
					pl.Add(line)
					pl.Legend.Add(legend(tg.LegendFormat, r.Metric), line)
				}
			}
			row = append(row, pl)
		}
		img := vgimg.New(vg.Points(1400), vg.Points(380))
		dc := draw.New(img)
		canvases := plot.Align([][]*plot.Plot{row}, draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20), PadY: vg.Points(10),
			PadLeft: vg.Points(10), PadRight: vg.Points(10), PadTop: vg.Points(10), PadBottom: vg.Points(10)}, dc)
		for j, pl := range row {
			pl.Draw(canvases[0][j])
		}
		f, err := os.Create(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
			t.Error(err)
		}
		f.Close()
	}
}

// keyPanels are rendered to PNG (deploy/README.md shows them).
var keyPanels = map[string]string{
	"Spans sent and failed":                         "panel-sent.png",
	"Write-ahead log fill (bytes / max_bytes)":      "panel-log-fill.png",
	"Circuit state (0 closed, 1 half-open, 2 open)": "panel-circuit.png",
	"Dead letter and quarantine (bytes on disk)":    "panel-dead-letter.png",
	"Refused and dropped by reason":                 "panel-refused.png",
	"Write-ahead log records (not yet delivered)":   "panel-log-records.png",
}

var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{214, 39, 40, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{255, 127, 14, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
}

var reLegend = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

func legend(format string, m map[string]string) string {
	return reLegend.ReplaceAllStringFunc(format, func(s string) string {
		return m[reLegend.FindStringSubmatch(s)[1]]
	})
}
