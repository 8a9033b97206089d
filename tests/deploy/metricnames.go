package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// External metrics are named by rules or panels but come from elsewhere than
// otlpcol; each with where it comes from.
var External = map[string]string{
	"up":                                 "Prometheus, per scrape target",
	"kube_pod_container_resource_limits": "kube-state-metrics",
	// The gateway's claims (data-otlpcol-gateway-N), from the kubelet.
	"kubelet_volume_stats_available_bytes": "kubelet, per mounted PersistentVolumeClaim",
	"kubelet_volume_stats_capacity_bytes":  "kubelet, per mounted PersistentVolumeClaim",
}

// MetricNames returns every metric name used by the alert rules and the
// Grafana dashboard under repoRoot, mapped to where each is used.
func MetricNames(repoRoot string) (map[string][]string, error) {
	names := map[string][]string{}
	add := func(expr, where string) {
		for _, n := range exprMetrics(expr) {
			names[n] = append(names[n], where)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/monitoring/otlpcol-rules.yaml"))
	if err != nil {
		return nil, err
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := sigsyaml.Unmarshal(b, &rules); err != nil {
		return nil, err
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			add(r.Expr, "rule "+r.Alert+r.Record)
		}
	}
	b, err = os.ReadFile(filepath.Join(repoRoot, "deploy/monitoring/otlpcol-dashboard.json"))
	if err != nil {
		return nil, err
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		return nil, err
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			add(tg.Expr, "panel "+p.Title)
		}
	}
	labelValues := regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	for _, v := range dash.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			names[m[1]] = append(names[m[1]], "variable "+v.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no metric names found")
	}
	return names, nil
}

var (
	reStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reBraces   = regexp.MustCompile(`\{[^}]*\}`)
	reRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords   = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// exprMetrics extracts the metric names of a PromQL expression: identifiers
// outside label matchers, ranges and grouping clauses that are neither
// keywords nor function calls.
func exprMetrics(expr string) []string {
	s := reStrings.ReplaceAllString(expr, `""`)
	s = reBraces.ReplaceAllString(s, " ")
	s = reRanges.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] == '$' || (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9') || s[loc[0]-1] == '.') {
			continue
		}
		rest := strings.TrimLeft(s[loc[1]:], " ")
		if strings.HasPrefix(rest, "(") || keywords[strings.ToLower(id)] {
			continue
		}
		seen[id] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
