package k8s

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// agentOutage is how long the gateway stays down: longer than the health
// extension's exporter_failure_threshold in configs/agent.yaml (30 s) plus
// the DaemonSet's readiness probe period × failure threshold, so an agent
// that followed its gateway would have turned unready.
const agentOutage = 60 * time.Second

// testAgentReadiness is issue 22 section 4 in Kubernetes: the agent's
// EndpointSlice endpoint (Service otlpcol-agent, internalTrafficPolicy
// Local: the node's only one) stays ready while the gateway is down.
//
// The agent DaemonSet's pods here are kwok's (no containers, no kubelet).
// One of them is played by a real agent on the host (configs/agent.yaml, a
// real gateway it forwards to): the test is that pod's kubelet prober. It
// probes the agent with the DaemonSet's own readinessProbe (path, period,
// timeout, failure threshold) and writes the result to the pod's Ready
// condition, as the kubelet does; Kubernetes' EndpointSlice controller
// turns it into the endpoint's ready condition, which the test watches.
// At the end the agent is stopped: the endpoint must turn unready, so
// the watch is shown to see a change.
func testAgentReadiness(t *testing.T, c *cluster) {
	var dss appsv1.DaemonSetList
	c.getJSON(t, &dss, "-n", agentNS, "get", "daemonsets")
	if len(dss.Items) != 1 {
		t.Fatalf("want one DaemonSet in %s, got %d", agentNS, len(dss.Items))
	}
	ds := dss.Items[0]
	var probe *corev1.Probe
	for _, ct := range ds.Spec.Template.Spec.Containers {
		if ct.ReadinessProbe != nil && ct.ReadinessProbe.HTTPGet != nil {
			probe = ct.ReadinessProbe
		}
	}
	if probe == nil {
		t.Fatalf("DaemonSet %s has no HTTP readinessProbe", ds.Name)
	}
	var pods corev1.PodList
	c.getJSON(t, &pods, "-n", agentNS, "get", "pods", "-l", "app.kubernetes.io/instance=otlpcol-agent")
	if len(pods.Items) == 0 {
		t.Fatal("no agent pod")
	}
	pod := pods.Items[0].Name

	backend := harness.StartSink(t)
	gateway := harness.NewGateway(t, backend, "k8s-agent-ready", 60*time.Second)
	gw := gateway.Start()
	agent := gateway.StartAgent()

	p := startProber(t, c, pod, agent.HealthURL(probe.HTTPGet.Path), probe)
	w := watchEndpoint(t, c, pod)
	c.waitFor(t, "the agent's endpoint ready", 60*time.Second, func() (bool, string) {
		r, seen := w.last()
		return seen && r, fmt.Sprintf("seen %v, ready %v", seen, r)
	})
	load := startLoad(t, agent.GRPCEndpoint())
	time.Sleep(3 * time.Second)

	gw.Kill()
	t.Logf("gateway down for %s", agentOutage)
	time.Sleep(agentOutage)
	gateway.Start()
	time.Sleep(10 * time.Second)
	load.finish()
	probes, failed := p.counts()
	obs, unready := w.counts()
	t.Logf("outage %s: %d probes (%d failed), endpoint observed %d times (%d not ready); apps refused %d spans %v",
		agentOutage, probes, failed, obs, unready, load.refused, load.errs)
	if unready != 0 {
		t.Errorf("the agent's EndpointSlice endpoint was not ready %d of %d times during the gateway outage (probe failures %d)", unready, obs, failed)
	}
	if obs < int(agentOutage/time.Second)/2 {
		t.Errorf("endpoint observed only %d times", obs)
	}
	if load.refused != 0 {
		t.Errorf("the applications had %d spans refused while the agent's queue had room: %v", load.refused, load.errs)
	}

	// The control: a stopped agent fails its probe, and the endpoint goes.
	agent.Stop(30 * time.Second)
	c.waitFor(t, "the stopped agent's endpoint not ready", 2*time.Minute, func() (bool, string) {
		r, seen := w.last()
		return seen && !r, fmt.Sprintf("ready %v", r)
	})
	p.stop()
	w.stop()
}

// prober is a kubelet's readiness prober for one pod, writing the pod's
// Ready condition through the status subresource.
type prober struct {
	mu            sync.Mutex
	probes, fails int
	done          chan struct{}
	wg            sync.WaitGroup
	once          sync.Once
}

func startProber(t *testing.T, c *cluster, pod, url string, pr *corev1.Probe) *prober {
	p := &prober{done: make(chan struct{})}
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	client := &http.Client{Timeout: time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second}
	failureThreshold := int(max(pr.FailureThreshold, 1))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ready, consecutive := true, 0
		for {
			select {
			case <-p.done:
				return
			case <-time.After(period):
			}
			ok := false
			if resp, err := client.Get(url); err == nil {
				ok = resp.StatusCode >= 200 && resp.StatusCode < 400
				resp.Body.Close()
			}
			p.mu.Lock()
			p.probes++
			if !ok {
				p.fails++
			}
			p.mu.Unlock()
			if ok {
				consecutive = 0
			} else {
				consecutive++
			}
			want := ready
			switch {
			case ok:
				want = true
			case consecutive >= failureThreshold:
				want = false
			}
			if want != ready {
				status := map[bool]string{true: "True", false: "False"}[want]
				patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":%q},{"type":"ContainersReady","status":%q}]}}`, status, status)
				if _, err := c.kubectlErr("-n", agentNS, "patch", "pod", pod, "--subresource=status", "--type=strategic", "-p", patch); err != nil {
					t.Errorf("prober: patching %s Ready=%s: %v", pod, status, err)
					continue
				}
				ready = want
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *prober) counts() (probes, fails int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes, p.fails
}

func (p *prober) stop() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// endpointWatch polls the agent Service's EndpointSlices every second and
// records the pod's endpoint ready condition.
type endpointWatch struct {
	mu              sync.Mutex
	obs, unready    int
	seen, lastReady bool
	done            chan struct{}
	wg              sync.WaitGroup
	once            sync.Once
}

func watchEndpoint(t *testing.T, c *cluster, pod string) *endpointWatch {
	w := &endpointWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.done:
				return
			case <-time.After(time.Second):
			}
			out, err := c.kubectlErr("-n", agentNS, "get", "endpointslices", "-l", "kubernetes.io/service-name=otlpcol-agent", "-o", "json")
			if err != nil {
				continue
			}
			var list discoveryv1.EndpointSliceList
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				continue
			}
			found, ready := false, false
			for _, s := range list.Items {
				for _, e := range s.Endpoints {
					if e.TargetRef != nil && e.TargetRef.Name == pod {
						found = true
						ready = e.Conditions.Ready == nil || *e.Conditions.Ready
					}
				}
			}
			w.mu.Lock()
			if found {
				if w.seen {
					w.obs++
					if !ready {
						w.unready++
					}
				}
				w.seen, w.lastReady = true, ready
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *endpointWatch) last() (ready, seen bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastReady, w.seen
}

// counts is what was seen since the endpoint first appeared.
func (w *endpointWatch) counts() (obs, unready int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.obs, w.unready
}

func (w *endpointWatch) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}
