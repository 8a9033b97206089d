package monitoring

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// prometheus is a real Prometheus server (Debian's package) on loopback,
// running the scaled copies of the shipped scrape config and rules.
type prometheus struct {
	t        *testing.T
	url      string
	targets  string // file_sd file
	interval time.Duration
	mu       sync.Mutex
	groups   map[string]targetGroup // by pod
	kube     *kubeStandIn           // the kubelet and kube-state-metrics
}

// targetGroup is one file_sd entry.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func startPrometheus(t *testing.T, dir string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found on PATH: install Debian's prometheus package (make test-monitoring does)")
	}
	root := harness.RepoRoot()
	rules, err := os.ReadFile(filepath.Join(root, "deploy/monitoring/otlpcol-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := scaleRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	rulesPath := filepath.Join(dir, "rules.yaml")
	targets := filepath.Join(dir, "targets.json")
	if err := os.WriteFile(rulesPath, scaled, 0o600); err != nil {
		t.Fatal(err)
	}
	scrape, err := os.ReadFile(filepath.Join(root, "deploy/monitoring/prometheus-scrape.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, interval, err := scaleScrapeConfig(scrape, rulesPath, targets)
	if err != nil {
		t.Fatal(err)
	}
	kube := startKubeStandIn(t)
	if cfg, err = addJobs(cfg, standInJobs(kube.addr)); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{t: t, targets: targets, interval: interval, groups: map[string]targetGroup{}, kube: kube}
	p.writeTargets()
	port := harness.FreePort(t)
	p.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	out, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		// The lookback for an instant vector, scaled like everything else.
		"--query.lookback-delta="+promDuration(5*time.Minute/factor))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("prometheus log (tail):\n%s", tail(string(b), 3000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _, err := harness.Get(p.url + "/-/ready"); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("prometheus not ready after 60s:\n%s", tail(string(b), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// writeTargets replaces the file_sd file atomically.
func (p *prometheus) writeTargets() {
	p.mu.Lock()
	defer p.mu.Unlock() // one writer at a time: they share the temporary file
	list := make([]targetGroup, 0, len(p.groups))
	for _, g := range p.groups {
		list = append(list, g)
	}
	b, err := json.Marshal(list)
	if err != nil {
		p.t.Error(err)
		return
	}
	tmp := p.targets + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		p.t.Error(err)
		return
	}
	if err := os.Rename(tmp, p.targets); err != nil {
		p.t.Error(err)
	}
}

// podTargets are the targets Kubernetes' pod discovery yields for one
// pod: one per container port, each with the pod's labels and annotations
// as the shipped manifests set them.
func podTargets(ns, pod, component string, ports map[string]int) []targetGroup {
	var out []targetGroup
	for name, port := range ports {
		out = append(out, targetGroup{
			Targets: []string{"127.0.0.1:" + strconv.Itoa(port)},
			Labels: map[string]string{
				"__meta_kubernetes_namespace":                                  ns,
				"__meta_kubernetes_pod_name":                                   pod,
				"__meta_kubernetes_pod_node_name":                              "node-1",
				"__meta_kubernetes_pod_label_app_kubernetes_io_name":           "otlpcol",
				"__meta_kubernetes_pod_label_app_kubernetes_io_instance":       "otlpcol-" + component,
				"__meta_kubernetes_pod_label_app_kubernetes_io_component":      component,
				"__meta_kubernetes_pod_label_app_kubernetes_io_part_of":        "otlpcol",
				"__meta_kubernetes_pod_annotation_prometheus_io_scrape":        "true",
				"__meta_kubernetes_pod_annotation_prometheus_io_port":          "8080",
				"__meta_kubernetes_pod_annotation_prometheus_io_path":          "/metrics",
				"__meta_kubernetes_pod_container_name":                         "otlpcol",
				"__meta_kubernetes_pod_container_port_name":                    name,
				"__meta_kubernetes_pod_container_port_number":                  strconv.Itoa(port),
				"__meta_kubernetes_pod_container_port_protocol":                "TCP",
				"__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name":    "true",
				"__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape": "true",
			},
		})
	}
	return out
}

// setPod adds or replaces a pod's targets; nil ports removes the pod (its
// targets vanish, as when Kubernetes deletes it).
func (p *prometheus) setPod(ns, pod, component string, ports map[string]int) {
	p.mu.Lock()
	for k := range p.groups {
		if len(k) > len(pod) && k[:len(pod)+1] == pod+"/" {
			delete(p.groups, k)
		}
	}
	for _, g := range podTargets(ns, pod, component, ports) {
		p.groups[pod+"/"+g.Labels["__meta_kubernetes_pod_container_port_name"]] = g
	}
	p.mu.Unlock()
	p.writeTargets()
}

// addRaw adds a target group as it is (a decoy pod of another application).
func (p *prometheus) addRaw(key string, g targetGroup) {
	p.mu.Lock()
	p.groups[key] = g
	p.mu.Unlock()
	p.writeTargets()
}

func (p *prometheus) api(path string, v url.Values, out any) error {
	resp, err := http.Get(p.url + path + "?" + v.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %w: %s", path, err, tail(string(b), 300))
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %v: %s", path, v, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

func (p *prometheus) alerts() ([]alert, error) {
	var d struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.api("/api/v1/alerts", nil, &d)
	return d.Alerts, err
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

func (p *prometheus) query(q string) ([]sample, error) {
	var d struct {
		Result []sample `json:"result"`
	}
	err := p.api("/api/v1/query", url.Values{"query": {q}}, &d)
	return d.Result, err
}

func (p *prometheus) queryRange(q string, start, end time.Time, step time.Duration) ([]sample, error) {
	var d struct {
		Result []sample `json:"result"`
	}
	err := p.api("/api/v1/query_range", url.Values{"query": {q},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', 3, 64)}}, &d)
	return d.Result, err
}

type activeTarget struct {
	Labels           map[string]string `json:"labels"`
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	Health           string            `json:"health"`
	ScrapeURL        string            `json:"scrapeUrl"`
}

func (p *prometheus) targetsAPI() (active []activeTarget, dropped int, err error) {
	var d struct {
		Active  []activeTarget `json:"activeTargets"`
		Dropped []struct{}     `json:"droppedTargets"`
	}
	err = p.api("/api/v1/targets", nil, &d)
	return d.Active, len(d.Dropped), err
}
