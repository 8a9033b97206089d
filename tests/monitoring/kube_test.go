package monitoring

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// kubeStandIn answers in place of the two cluster components two rules
// read: the kubelet's volume stats (OtlpcolStateVolumeNearlyFull) and
// kube-state-metrics' container limits (OtlpcolMemoryNearLimit). It holds
// no numbers of its own for volumes: each scrape reads statfs(2) of the
// directory a claim is mounted on, as the kubelet does (capacity =
// blocks x block size, available = blocks available to unprivileged
// users x block size). A limit is what a manifest or a scenario sets, as a
// pod spec would.
type kubeStandIn struct {
	addr string

	mu      sync.Mutex
	volumes map[[2]string]string  // namespace, claim -> mounted directory
	limits  map[[2]string]float64 // namespace, pod -> memory limit (bytes)
}

func startKubeStandIn(t *testing.T) *kubeStandIn {
	t.Helper()
	ln, err := harness.Listen()
	if err != nil {
		t.Fatal(err)
	}
	k := &kubeStandIn{addr: ln.Addr().String(), volumes: map[[2]string]string{}, limits: map[[2]string]float64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/kubelet/metrics", k.serveKubelet)
	mux.HandleFunc("/kube-state-metrics/metrics", k.serveKSM)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return k
}

// mountClaim reports dir as claim's volume until the returned function is
// called (the pod and its mount gone).
func (k *kubeStandIn) mountClaim(ns, claim, dir string) func() {
	k.mu.Lock()
	k.volumes[[2]string{ns, claim}] = dir
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		delete(k.volumes, [2]string{ns, claim})
		k.mu.Unlock()
	}
}

// setMemoryLimit sets pod's container "otlpcol" memory limit (0 removes it).
func (k *kubeStandIn) setMemoryLimit(ns, pod string, bytes float64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if bytes <= 0 {
		delete(k.limits, [2]string{ns, pod})
		return
	}
	k.limits[[2]string{ns, pod}] = bytes
}

func (k *kubeStandIn) serveKubelet(w http.ResponseWriter, _ *http.Request) {
	k.mu.Lock()
	vols := make(map[[2]string]string, len(k.volumes))
	for key, dir := range k.volumes {
		vols[key] = dir
	}
	k.mu.Unlock()
	var capLines, availLines []string
	for key, dir := range vols {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			continue // the kubelet skips a volume it cannot stat
		}
		labels := fmt.Sprintf(`{namespace=%q,persistentvolumeclaim=%q}`, key[0], key[1])
		capLines = append(capLines, fmt.Sprintf("kubelet_volume_stats_capacity_bytes%s %d", labels, uint64(st.Blocks)*uint64(st.Bsize)))
		availLines = append(availLines, fmt.Sprintf("kubelet_volume_stats_available_bytes%s %d", labels, uint64(st.Bavail)*uint64(st.Bsize)))
	}
	sort.Strings(capLines)
	sort.Strings(availLines)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE kubelet_volume_stats_capacity_bytes gauge\n%s# TYPE kubelet_volume_stats_available_bytes gauge\n%s",
		lines(capLines), lines(availLines))
}

func (k *kubeStandIn) serveKSM(w http.ResponseWriter, _ *http.Request) {
	k.mu.Lock()
	var out []string
	for key, v := range k.limits {
		out = append(out, fmt.Sprintf(`kube_pod_container_resource_limits{namespace=%q,pod=%q,container="otlpcol",node="node-1",resource="memory",unit="byte"} %.0f`,
			key[0], key[1], v))
	}
	k.mu.Unlock()
	sort.Strings(out)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE kube_pod_container_resource_limits gauge\n%s", lines(out))
}

func lines(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return strings.Join(l, "\n") + "\n"
}

// standInJobs are the scrape jobs a cluster's Prometheus has for the kubelet
// and kube-state-metrics (not part of deploy/monitoring, which scrapes only
// otlpcol), pointed at the stand-in. honor_labels keeps the series' own
// namespace and pod, as kube-state-metrics' scrape configs do.
func standInJobs(addr string) []any {
	job := func(name, path string) map[string]any {
		return map[string]any{"job_name": name, "honor_labels": true, "metrics_path": path,
			"static_configs": []any{map[string]any{"targets": []string{addr}}}}
	}
	return []any{job("kubelet", "/kubelet/metrics"), job("kube-state-metrics", "/kube-state-metrics/metrics")}
}

// addJobs appends jobs to a Prometheus configuration's scrape_configs.
func addJobs(cfg []byte, jobs []any) ([]byte, error) {
	var m map[string]any
	if err := sigsyaml.Unmarshal(cfg, &m); err != nil {
		return nil, err
	}
	list, _ := m["scrape_configs"].([]any)
	m["scrape_configs"] = append(list, jobs...)
	return sigsyaml.Marshal(m)
}

// shippedGatewayMemoryLimit is the gateway container's limits.memory in
// deploy/k8s/gateway/statefulset.yaml, in bytes.
func shippedGatewayMemoryLimit(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy/k8s/gateway/statefulset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sts struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name      string `json:"name"`
						Resources struct {
							Limits map[string]string `json:"limits"`
						} `json:"resources"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := sigsyaml.Unmarshal(b, &sts); err != nil {
		t.Fatal(err)
	}
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == "otlpcol" {
			q, err := resource.ParseQuantity(c.Resources.Limits["memory"])
			if err != nil {
				t.Fatalf("statefulset.yaml limits.memory: %v", err)
			}
			return float64(q.Value())
		}
	}
	t.Fatal("statefulset.yaml has no container otlpcol")
	return 0
}
