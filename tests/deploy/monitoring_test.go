package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool comes from Debian's prometheus package (.ci/run and the Makefile
// install it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found on PATH: install Debian's prometheus package (apt-get install -y prometheus)")
	}
	return p
}

func TestPrometheusRules(t *testing.T) {
	pt := promtool(t)
	dir := filepath.Join(root(), "deploy/monitoring")
	for _, args := range [][]string{
		{"check", "rules", "otlpcol-rules.yaml"},
		{"test", "rules", "tests/otlpcol-rules.test.yaml"},
	} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every alert has a unit test that checks it both silent and firing.
func TestEveryAlertIsUnitTested(t *testing.T) {
	rules := readRules(t)
	tests, err := os.ReadFile(filepath.Join(root(), "deploy/monitoring/tests/otlpcol-rules.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		n := strings.Count(string(tests), "alertname: "+r.Alert+"\n")
		if n < 2 {
			t.Errorf("alert %s has %d unit tests, want one silent and one firing", r.Alert, n)
		}
	}
}

// The registry alert divides by the exposed capacity, not by a constant
// that would go stale when max_traces changes.
func TestRegistryAlertUsesCapacity(t *testing.T) {
	found := false
	for _, r := range readRules(t) {
		if r.Alert != "OtlpcolTraceRegistryDegraded" {
			continue
		}
		found = true
		if !strings.Contains(r.Expr, "/ max by (namespace, pod) (otlp_traces_capacity)") {
			t.Errorf("OtlpcolTraceRegistryDegraded does not divide by otlp_traces_capacity: %s", r.Expr)
		}
		if !strings.Contains(r.Expr, "sum by (namespace, pod) (otlp_traces_active)") {
			t.Errorf("OtlpcolTraceRegistryDegraded does not sum the active series over service.name: %s", r.Expr)
		}
	}
	if !found {
		t.Error("no OtlpcolTraceRegistryDegraded rule")
	}
}

func TestGrafanaDashboard(t *testing.T) {
	var d struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type        string                `json:"type"`
			Title       string                `json:"title"`
			Datasource  *struct{ UID string } `json:"datasource"`
			FieldConfig struct {
				Defaults struct{ Unit string } `json:"defaults"`
			} `json:"fieldConfig"`
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "deploy/monitoring/otlpcol-dashboard.json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: use the current JSON model", d.SchemaVersion)
	}
	ds := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" {
			ds = true
		}
	}
	if !ds {
		t.Error("dashboard needs a datasource variable")
	}
	for _, p := range d.Panels {
		switch p.Type {
		case "row":
			continue
		case "timeseries", "stat":
		default:
			t.Errorf("panel %q is a %q panel (want timeseries or stat)", p.Title, p.Type)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		// percentunit renders a 0-1 ratio as percent; "percent" expects 0-100.
		if p.FieldConfig.Defaults.Unit == "percent" {
			t.Errorf("panel %q uses unit percent: its queries are ratios (percentunit)", p.Title)
		}
	}
}

type rule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(yamlToJSON(t, filepath.Join(root(), "deploy/monitoring/otlpcol-rules.yaml")), &f); err != nil {
		t.Fatal(err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
