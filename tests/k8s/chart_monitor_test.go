package k8s

import (
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// operatorLabels are the target labels prometheus-operator gives every
// target of a PodMonitor or ServiceMonitor by itself (its generated
// relabeling from __meta_kubernetes_*), before the monitor's own
// podTargetLabels and relabelings. Anything else a rule needs from
// discovery, the monitor must ask for.
var operatorLabels = map[string][]string{
	"PodMonitor":     {"namespace", "pod", "container", "endpoint", "job", "instance"},
	"ServiceMonitor": {"namespace", "service", "pod", "container", "endpoint", "job", "instance"},
}

// Label names a PromQL expression or a rule template uses. The rules hold no
// string that looks like a matcher or a grouping outside those places, so
// patterns are enough (the module carries no PromQL parser).
var (
	matcherRe  = regexp.MustCompile(`\{([^{}]*)\}`)
	matchName  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRe = regexp.MustCompile(`\b(?:by|on|without|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	templateRe = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	invalidRe  = regexp.MustCompile(`[^a-zA-Z0-9_]`)
)

// ruleText is one rule's alert name (empty for a recording rule) and
// expression.
type ruleText struct{ alert, expr string }

// rules yields each rule of a rendered PrometheusRule, as parsed and as
// text.
func rules(rule object) iter.Seq2[any, ruleText] {
	return func(yield func(any, ruleText) bool) {
		groups, _ := dig(rule, "spec", "groups").([]any)
		for _, g := range groups {
			rs, _ := dig(g, "rules").([]any)
			for _, r := range rs {
				alert, _ := dig(r, "alert").(string)
				expr, _ := dig(r, "expr").(string)
				if !yield(r, ruleText{alert, expr}) {
					return
				}
			}
		}
	}
}

// ruleLabels maps each label name the PrometheusRule's alerts select,
// group or print by to the alerts that use it.
func ruleLabels(t *testing.T, rule object) map[string][]string {
	t.Helper()
	uses := map[string][]string{}
	add := func(name, alert string) {
		if !slices.Contains(uses[name], alert) {
			uses[name] = append(uses[name], alert)
		}
	}
	for r, rr := range rules(rule) {
		alert, expr := rr.alert, rr.expr
		if alert == "" {
			continue
		}
		for _, m := range matcherRe.FindAllStringSubmatch(expr, -1) {
			for _, n := range matchName.FindAllStringSubmatch(m[1], -1) {
				add(n[1], alert)
			}
		}
		for _, m := range groupingRe.FindAllStringSubmatch(expr, -1) {
			for _, n := range strings.Split(m[1], ",") {
				if n = strings.TrimSpace(n); n != "" {
					add(n, alert)
				}
			}
		}
		for _, field := range []string{"labels", "annotations"} {
			m, _ := dig(r, field).(map[string]any)
			for _, v := range m {
				for _, n := range templateRe.FindAllStringSubmatch(fmt.Sprint(v), -1) {
					add(n[1], alert)
				}
			}
		}
	}
	return uses
}

// discoveryLabels are the target labels deploy/monitoring/prometheus-scrape.yaml
// (the shipped discovery without the operator, whose relabeling
// tests/monitoring runs against a real Prometheus) creates: its
// target_labels and what its labelmap copies.
func discoveryLabels(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", "monitoring", "prometheus-scrape.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			RelabelConfigs []struct {
				Action      string `json:"action"`
				Regex       string `json:"regex"`
				TargetLabel string `json:"target_label"`
			} `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, rc := range sc.RelabelConfigs {
			switch {
			case rc.Action == "labelmap":
				// __meta_kubernetes_pod_label_(a|b|c): the pod labels a, b, c.
				inner, ok := strings.CutPrefix(rc.Regex, "__meta_kubernetes_pod_label_(")
				inner, ok2 := strings.CutSuffix(inner, ")")
				if !ok || !ok2 {
					t.Fatalf("prometheus-scrape.yaml: labelmap regex %q is not __meta_kubernetes_pod_label_(a|b|...): teach this test to read it", rc.Regex)
				}
				out = append(out, strings.Split(inner, "|")...)
			case rc.TargetLabel != "" && !strings.HasPrefix(rc.TargetLabel, "__"):
				out = append(out, rc.TargetLabel)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// monitorLabels are the target labels a rendered PodMonitor or
// ServiceMonitor gives its series: the operator's own, the pod labels it
// copies (podTargetLabels, with the operator's sanitising of '.' and '/'
// to '_'), and what every endpoint's relabelings write.
func monitorLabels(t *testing.T, m object) []string {
	t.Helper()
	kind := fmt.Sprint(m["kind"])
	own, ok := operatorLabels[kind]
	if !ok {
		t.Fatalf("%s is not a monitor", kindName(m))
	}
	labels := slices.Clone(own)
	pods, _ := dig(m, "spec", "podTargetLabels").([]any)
	for _, l := range pods {
		labels = append(labels, invalidRe.ReplaceAllString(fmt.Sprint(l), "_"))
	}
	key := "podMetricsEndpoints"
	if kind == "ServiceMonitor" {
		key = "endpoints"
	}
	endpoints, _ := dig(m, "spec", key).([]any)
	if len(endpoints) == 0 {
		t.Fatalf("%s has no %s", kindName(m), key)
	}
	// A label only some endpoints write is missing from the others' series.
	var common []string
	for i, ep := range endpoints {
		var mine []string
		rels, _ := dig(ep, "relabelings").([]any)
		for _, r := range rels {
			if tl, _ := dig(r, "targetLabel").(string); tl != "" && !strings.HasPrefix(tl, "__") {
				mine = append(mine, tl)
			}
		}
		if i == 0 {
			common = mine
		} else {
			common = slices.DeleteFunc(common, func(l string) bool { return !slices.Contains(mine, l) })
		}
	}
	return append(labels, common...)
}

// TestChartMonitorsCarryRuleLabels: the chart's ServiceMonitor and
// PodMonitors give their series every label the chart's own alert rules use
// that comes from discovery rather than from the metric, and every label the
// shipped prometheus-scrape.yaml creates (so the rules and the dashboard
// read both alike). The labels are read from the rendered PrometheusRule and
// from prometheus-scrape.yaml, not listed here. Without
// app_kubernetes_io_name, OtlpcolDown never fires and OtlpcolStateOrphaned
// pages on every healthy gateway with records in its log.
// deploy/monitoring/podmonitor.yaml is held to the same.
func TestChartMonitorsCarryRuleLabels(t *testing.T) {
	helmBin(t)
	discovered := discoveryLabels(t)
	gw := decodeObjects(t, helmTemplate(t, "otlpcol", "--set", "backend.endpoint=b:4317",
		"--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true", "--set", "prometheusRule.enabled=true"))
	uses := ruleLabels(t, find(t, gw, "PrometheusRule", "otlpcol-gateway"))
	// What the rules need from discovery: the labels they use that the
	// shipped discovery makes (the others, signal, exporter, reason,
	// persistentvolumeclaim, ..., come with the metrics themselves).
	var needed []string
	for name := range uses {
		if slices.Contains(discovered, name) {
			needed = append(needed, name)
		}
	}
	sort.Strings(needed)
	if !slices.Contains(needed, "app_kubernetes_io_name") || !slices.Contains(needed, "pod") {
		t.Fatalf("rules use %v of the discovered labels %v; want app_kubernetes_io_name and pod among them (the label reading is broken)", needed, discovered)
	}
	t.Logf("rules use discovered labels %v; prometheus-scrape.yaml creates %v", needed, discovered)

	agent := decodeObjects(t, helmTemplate(t, "otlpcol", "--set", "mode=agent", "--set", "podMonitor.enabled=true"))
	monitors := map[string]object{
		"gateway ServiceMonitor": find(t, gw, "ServiceMonitor", "otlpcol-gateway"),
		"gateway PodMonitor":     find(t, gw, "PodMonitor", "otlpcol-gateway"),
		"agent PodMonitor":       find(t, agent, "PodMonitor", "otlpcol-agent"),
	}
	var pm object
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", "monitoring", "podmonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &pm); err != nil {
		t.Fatal(err)
	}
	monitors["deploy/monitoring/podmonitor.yaml"] = pm

	names := make([]string, 0, len(monitors))
	for n := range monitors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		carried := monitorLabels(t, monitors[n])
		for _, l := range needed {
			if !slices.Contains(carried, l) {
				t.Errorf("%s: series lack %s, which %s use (carries %v)", n, l, strings.Join(uses[l], ", "), carried)
			}
		}
		for _, l := range discovered {
			if !slices.Contains(needed, l) && !slices.Contains(carried, l) {
				t.Errorf("%s: series lack %s, which prometheus-scrape.yaml gives (carries %v)", n, l, carried)
			}
		}
	}
}

// TestChartRulesFollowNames: the chart's rules select the pods and claims
// the same rendering creates, whatever the release name and nameOverride:
// app_kubernetes_io_name as the pods' app.kubernetes.io/name label, and the
// claim regex matching the StatefulSet's claims (data-<statefulset>-N; from
// an agent release, the gateway named by gateway.service). With the rules
// file as shipped, a release "prod" (or a nameOverride) left OtlpcolDown and
// OtlpcolStateVolumeNearlyFull matching nothing.
func TestChartRulesFollowNames(t *testing.T) {
	helmBin(t)
	nameRe := regexp.MustCompile(`app_kubernetes_io_name="([^"]*)"`)
	claimRe := regexp.MustCompile(`persistentvolumeclaim=~"([^"]*)"`)
	for _, c := range []struct {
		release string
		set     []string
		// what the gateway's rendering of the same names creates
		gateway []string
	}{
		{"otlpcol", []string{"backend.endpoint=b:4317"}, nil},
		{"prod", []string{"backend.endpoint=b:4317", "nameOverride=tracing"}, nil},
		{"prod", []string{"mode=agent", "gateway.service=prod-gateway", "nameOverride=tracing"}, []string{"backend.endpoint=b:4317", "nameOverride=tracing"}},
	} {
		render := func(set []string) []object {
			args := []string{"template", c.release, chartDir(), "--namespace", "otlpcol", "--set", "prometheusRule.enabled=true"}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			out, _, err := runHelm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			return decodeObjects(t, out)
		}
		objs := render(c.set)
		gw := objs
		if c.gateway != nil {
			gw = render(c.gateway)
		}
		var sts, rule object
		for _, o := range gw {
			if o["kind"] == "StatefulSet" {
				sts = o
			}
		}
		for _, o := range objs {
			if o["kind"] == "PrometheusRule" {
				rule = o
			}
		}
		if sts == nil || rule == nil {
			t.Fatalf("%s %v: StatefulSet %v, PrometheusRule %v", c.release, c.set, sts != nil, rule != nil)
		}
		podName := fmt.Sprint(dig(sts, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"))
		claim := fmt.Sprintf("%v-%v-0", dig(sts, "spec", "volumeClaimTemplates", 0, "metadata", "name"), dig(sts, "metadata", "name"))
		names, claims := 0, 0
		for _, rr := range rules(rule) {
			alert, expr := rr.alert, rr.expr
			for _, m := range nameRe.FindAllStringSubmatch(expr, -1) {
				names++
				if m[1] != podName {
					t.Errorf("release %s %v: %s selects app_kubernetes_io_name=%q, the pods are labelled %q", c.release, c.set, alert, m[1], podName)
				}
			}
			for _, m := range claimRe.FindAllStringSubmatch(expr, -1) {
				claims++
				if !regexp.MustCompile("^(?:" + m[1] + ")$").MatchString(claim) {
					t.Errorf("release %s %v: %s's claim regex %q does not match the StatefulSet's claim %s", c.release, c.set, alert, m[1], claim)
				}
			}
		}
		if names == 0 || claims == 0 {
			t.Errorf("release %s %v: %d name and %d claim selectors in the rules; want both", c.release, c.set, names, claims)
		}
		t.Logf("release %s %v: pods %q, claim %s: %d name and %d claim selectors checked", c.release, c.set, podName, claim, names, claims)
	}
}
