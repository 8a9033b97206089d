package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		{"test", "rules", "tests/otlpcol-rules-outage.test.yaml"},
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
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	Annotations map[string]string `json:"annotations"`
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

// Every alert links to its own section of docs/runbook.md, and the section
// says what it means, what is safe, what to check and what to do.
func TestEveryAlertHasARunbookSection(t *testing.T) {
	const base = "https://github.com/otlpcol/otlpcol/blob/main/docs/runbook.md#"
	book := readFile(t, "docs/runbook.md")
	sections := map[string]string{}
	for _, part := range strings.Split(book, "\n## ")[1:] {
		title, body, _ := strings.Cut(part, "\n")
		sections[strings.ToLower(strings.TrimSpace(title))] = body
	}
	for _, r := range readRules(t) {
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, base)
		if !ok {
			t.Errorf("%s: runbook_url %q does not point into docs/runbook.md", r.Alert, url)
			continue
		}
		if anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url anchor %q, want %q", r.Alert, anchor, strings.ToLower(r.Alert))
		}
		body, ok := sections[anchor]
		if !ok {
			t.Errorf("%s: docs/runbook.md has no section \"## %s\"", r.Alert, r.Alert)
			continue
		}
		for _, part := range []string{"**Means:**", "**Safe:**", "**Check", "**Do:**"} {
			if !strings.Contains(body, part) {
				t.Errorf("docs/runbook.md section %s lacks %s", r.Alert, part)
			}
		}
	}
}

// No rule selects on a job name: the shipped discovery (prometheus-scrape.yaml,
// podmonitor.yaml) and the usual kubernetes-pods job each set job
// differently. Rules select on the pod labels they all carry.
func TestRulesSelectOnDiscoveredLabels(t *testing.T) {
	for _, r := range readRules(t) {
		if strings.Contains(r.Expr, "job=") || strings.Contains(r.Expr, "job =") {
			t.Errorf("%s selects on job: %s", r.Alert, r.Expr)
		}
		if strings.Contains(r.Expr, "up{") && !strings.Contains(r.Expr, `up{app_kubernetes_io_name="otlpcol"}`) {
			t.Errorf("%s: up must be selected by app_kubernetes_io_name=\"otlpcol\": %s", r.Alert, r.Expr)
		}
	}
	// The PodMonitor copies the same pod labels and scrapes the same port
	// as prometheus-scrape.yaml (whose relabeling tests/monitoring runs).
	var pm struct {
		Kind string
		Spec struct {
			Selector            struct{ MatchLabels map[string]string }
			PodTargetLabels     []string
			PodMetricsEndpoints []struct {
				Port, Path, Interval string
			}
		}
	}
	if err := json.Unmarshal(yamlToJSON(t, filepath.Join(root(), "deploy/monitoring/podmonitor.yaml")), &pm); err != nil {
		t.Fatal(err)
	}
	if pm.Kind != "PodMonitor" || pm.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "otlpcol" {
		t.Errorf("podmonitor.yaml: kind %q selector %v", pm.Kind, pm.Spec.Selector.MatchLabels)
	}
	for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/component"} {
		if !slices.Contains(pm.Spec.PodTargetLabels, l) {
			t.Errorf("podmonitor.yaml does not copy pod label %s", l)
		}
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != "http-health" || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" || pm.Spec.PodMetricsEndpoints[0].Interval != "30s" {
		t.Errorf("podmonitor.yaml endpoints %+v, want port http-health, /metrics, 30s", pm.Spec.PodMetricsEndpoints)
	}
	scrape := readFile(t, "deploy/monitoring/prometheus-scrape.yaml")
	for _, want := range []string{"regex: http-health", "scrape_interval: 30s", "evaluation_interval: 30s"} {
		if !strings.Contains(scrape, want) {
			t.Errorf("prometheus-scrape.yaml lacks %q", want)
		}
	}
	// Both workloads' pods carry what the discovery keeps.
	for _, name := range []string{"gateway", "agent"} {
		o := loadOverlay(t, name)
		if o.pod.Labels["app.kubernetes.io/name"] != "otlpcol" || o.pod.Labels["app.kubernetes.io/component"] != name {
			t.Errorf("%s pod labels %v", name, o.pod.Labels)
		}
		if o.pod.Annotations["prometheus.io/scrape"] != "true" || o.pod.Annotations["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s pod annotations %v", name, o.pod.Annotations)
		}
		found := false
		for _, p := range container(t, o.pod).Ports {
			found = found || p.Name == "http-health"
		}
		if !found {
			t.Errorf("%s container has no port named http-health", name)
		}
	}
}
