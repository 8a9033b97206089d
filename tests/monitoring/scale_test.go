package monitoring

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	sigsyaml "sigs.k8s.io/yaml"
)

// The shipped rules and scrape config assume 30s intervals; the test runs
// copies with every duration divided by one factor: scrape and evaluation
// intervals, `for:`, range windows and offsets. Collector settings are not
// scaled (they are the faults' own timing).
const factor = 30

var (
	reRange  = regexp.MustCompile(`\[([0-9]+[smhdwy])+\]`)
	reOffset = regexp.MustCompile(`offset\s+(([0-9]+(ms|[smhdwy]))+)`)
	reDurPt  = regexp.MustCompile(`([0-9]+)(ms|[smhdwy])`)
)

// parseDuration reads a Prometheus duration (1h30m, 2d, 500ms).
func parseDuration(s string) (time.Duration, error) {
	units := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute,
		"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}
	parts := reDurPt.FindAllStringSubmatch(s, -1)
	if len(parts) == 0 || strings.Join(func() []string {
		var o []string
		for _, p := range parts {
			o = append(o, p[0])
		}
		return o
	}(), "") != s {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	var d time.Duration
	for _, p := range parts {
		n, _ := strconv.Atoi(p[1])
		d += time.Duration(n) * units[p[2]]
	}
	return d, nil
}

// promDuration writes d in milliseconds, which Prometheus reads everywhere.
func promDuration(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func scaleDuration(s string) (string, error) {
	d, err := parseDuration(s)
	if err != nil {
		return "", err
	}
	return promDuration(d / factor), nil
}

// scaleExpr scales the range windows and offsets of a PromQL expression.
func scaleExpr(expr string) (string, error) {
	var err error
	out := reRange.ReplaceAllStringFunc(expr, func(m string) string {
		s, e := scaleDuration(m[1 : len(m)-1])
		if e != nil {
			err = e
		}
		return "[" + s + "]"
	})
	out = reOffset.ReplaceAllStringFunc(out, func(m string) string {
		s, e := scaleDuration(strings.TrimSpace(strings.TrimPrefix(m, "offset")))
		if e != nil {
			err = e
		}
		return "offset " + s
	})
	return out, err
}

// ruleFile is the part of a rule file the test reads and scales; other
// fields pass through unchanged.
type ruleFile struct {
	Groups []map[string]any `json:"groups"`
}

// alertRule is one alert of the shipped (unscaled) rules.
type alertRule struct {
	Name string
	Expr string
	For  time.Duration
}

func readAlerts(b []byte) ([]alertRule, error) {
	var f ruleFile
	if err := sigsyaml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	var out []alertRule
	for _, g := range f.Groups {
		rules, _ := g["rules"].([]any)
		for _, r := range rules {
			m := r.(map[string]any)
			a := alertRule{Name: fmt.Sprint(m["alert"]), Expr: fmt.Sprint(m["expr"])}
			if f, ok := m["for"].(string); ok {
				d, err := parseDuration(f)
				if err != nil {
					return nil, err
				}
				a.For = d
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// scaleRules returns a copy of a rule file with every `for`, range and
// offset divided by factor.
func scaleRules(b []byte) ([]byte, error) {
	var f ruleFile
	if err := sigsyaml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	for _, g := range f.Groups {
		if iv, ok := g["interval"].(string); ok {
			s, err := scaleDuration(iv)
			if err != nil {
				return nil, err
			}
			g["interval"] = s
		}
		rules, _ := g["rules"].([]any)
		for _, r := range rules {
			m := r.(map[string]any)
			e, err := scaleExpr(fmt.Sprint(m["expr"]))
			if err != nil {
				return nil, fmt.Errorf("%v: %w", m["alert"], err)
			}
			m["expr"] = e
			if fr, ok := m["for"].(string); ok {
				s, err := scaleDuration(fr)
				if err != nil {
					return nil, err
				}
				m["for"] = s
			}
		}
	}
	return sigsyaml.Marshal(f)
}

// scaleScrapeConfig returns a copy of deploy/monitoring/prometheus-scrape.yaml
// for the test: intervals scaled, rule_files pointing at the scaled rules,
// and each job's Kubernetes discovery replaced by a file_sd file whose
// targets carry the __meta_kubernetes_* labels Kubernetes would give them.
// relabel_configs stay exactly as shipped.
func scaleScrapeConfig(b []byte, rules, targets string) ([]byte, time.Duration, error) {
	var cfg map[string]any
	if err := sigsyaml.Unmarshal(b, &cfg); err != nil {
		return nil, 0, err
	}
	global, _ := cfg["global"].(map[string]any)
	var interval time.Duration
	for _, k := range []string{"scrape_interval", "evaluation_interval"} {
		v, ok := global[k].(string)
		if !ok {
			return nil, 0, fmt.Errorf("global.%s missing", k)
		}
		d, err := parseDuration(v)
		if err != nil {
			return nil, 0, err
		}
		global[k] = promDuration(d / factor)
		interval = d / factor
	}
	global["scrape_timeout"] = promDuration(interval)
	cfg["rule_files"] = []string{rules}
	jobs, _ := cfg["scrape_configs"].([]any)
	if len(jobs) == 0 {
		return nil, 0, fmt.Errorf("no scrape_configs")
	}
	for _, j := range jobs {
		m := j.(map[string]any)
		if _, ok := m["kubernetes_sd_configs"]; !ok {
			return nil, 0, fmt.Errorf("job %v has no kubernetes_sd_configs", m["job_name"])
		}
		delete(m, "kubernetes_sd_configs")
		m["file_sd_configs"] = []any{map[string]any{"files": []string{targets}, "refresh_interval": promDuration(interval)}}
	}
	out, err := sigsyaml.Marshal(cfg)
	return out, interval, err
}

func TestScale(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x[5m]) > 0`:                    `rate(x[10000ms]) > 0`,
		`last_over_time(x[1d]) unless y`:     `last_over_time(x[2880000ms]) unless y`,
		`sum(a offset 1h + b offset 1h) > 0`: `sum(a offset 120000ms + b offset 120000ms) > 0`,
		`min_over_time(x[1h30m])`:            `min_over_time(x[180000ms])`,
	} {
		got, err := scaleExpr(in)
		if err != nil || got != want {
			t.Errorf("scaleExpr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	out, err := scaleRules([]byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x[5m]) > 0\n    for: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := readAlerts(out)
	if err != nil || len(a) != 1 || a[0].For != 4*time.Second || a[0].Expr != "rate(x[10000ms]) > 0" {
		t.Errorf("scaled rule %+v, %v", a, err)
	}
}
