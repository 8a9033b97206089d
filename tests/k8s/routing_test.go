package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// routingService is the selector-less headless Service whose hand-written
// EndpointSlice lists the gateways in network namespaces. (The shipped
// otlpcol-gateway-headless selects kwok's pods, whose IPs belong to nobody.)
const routingService = "otlpcol-gateway-netns"

// Scenario timing: load before, between and after the two ring changes.
const (
	loadBefore  = 4 * time.Second
	loadBetween = 5 * time.Second
	loadAfter   = 4 * time.Second
	gatewayStop = 60 * time.Second // terminationGracePeriodSeconds of the gateway
)

// routingSetup is what the agent and the gateways of the routing scenario
// run: the shipped configs, or the chart's renderings of them.
type routingSetup struct {
	agentConfig, gatewayConfig string
	// More --set overrides, given the scenario's hosts.
	agentSet, gatewaySet func(hosts []*testHost) []string
	// The agent dials <pod>.<service>.<namespace> (return_hostnames):
	// it runs with an /etc/hosts of its own that names the gateways.
	perPodNames bool
}

func shippedConfigs() routingSetup {
	none := func([]*testHost) []string { return nil }
	return routingSetup{agentConfig: harness.Config("agent.yaml"), gatewayConfig: harness.Config("gateway.yaml"),
		agentSet: none, gatewaySet: none}
}

// testRouting runs the agent on the host as the agent's ServiceAccount
// (TokenRequest token in a kubeconfig), two then three then two gateways in
// network namespaces, and load with tracked trace IDs throughout.
func testRouting(t *testing.T, c *cluster, rs routingSetup) {
	needNetns(t)
	removeStaleHosts()
	out := record(t)
	ports := newGatewayPorts(t)
	hosts := []*testHost{newTestHost(t, 0), newTestHost(t, 1), newTestHost(t, 2)}
	gatewaySet := rs.gatewaySet(hosts)
	rs.gatewaySet = func([]*testHost) []string { return gatewaySet }
	gws := []*gatewayPod{
		startGatewayPod(t, "gateway-0", hosts[0], ports, rs),
		startGatewayPod(t, "gateway-1", hosts[1], ports, rs),
	}
	c.kubectlIn(t, serviceYAML(ports.GRPC), "apply", "--server-side", "--field-manager=otlpcol-test", "-f", "-")
	c.publish(t, ports.GRPC, gws)

	// The resolver in v0.161.0 builds its client with controller-runtime's
	// config.GetConfig: --kubeconfig (not a collector flag), else
	// $KUBECONFIG, else in-cluster (a token file at a fixed path), else
	// ~/.kube/config. $KUBECONFIG with a TokenRequest token is the way in
	// from outside a pod.
	token := strings.TrimSpace(c.kubectl(t, "-n", agentNS, "create", "token", agentSAName, "--duration=1h"))
	kubeconfig := c.writeKubeconfig(t, "agent.kubeconfig", "    token: "+token+"\n")
	state := t.TempDir()
	var wrapper []string
	if rs.perPodNames {
		wrapper = ownHostsFile(t, hosts)
	}
	agent := harness.Start(t, rs.agentConfig, harness.Options{
		Wrapper: wrapper,
		Set: append([]string{
			"exporters::load_balancing::resolver::k8s::service=" + routingService + "." + gatewayNS,
			fmt.Sprintf("exporters::load_balancing::resolver::k8s::ports=[%d]", ports.GRPC),
			// Metrics and logs: no cluster DNS here; never sent in this test.
			fmt.Sprintf("exporters::otlp_grpc/gateway::endpoint=%s:%d", hosts[0].PodIP, ports.GRPC),
			// The node-local state directory (a hostPath in the DaemonSet).
			"extensions::guarded_file_storage/queue::directory=" + filepath.Join(state, "queue"),
			"extensions::guarded_file_storage/queue::compaction::directory=" + filepath.Join(state, "queue"),
		}, rs.agentSet(hosts)...),
		Env: []string{"KUBECONFIG=" + kubeconfig},
	})
	agent.WaitReady(60 * time.Second)
	waitBackends(t, agent, 2)

	load := startLoad(t, agent.GRPCEndpoint())
	var changes []ringChange
	time.Sleep(loadBefore)

	// 2 -> 3: the new pod is ready, then its endpoint appears.
	gws = append(gws, startGatewayPod(t, "gateway-2", hosts[2], ports, rs))
	ch := ringChange{Name: "2->3"}
	ch.Applied = time.Now()
	c.publish(t, ports.GRPC, gws)
	ch.Observed = waitBackends(t, agent, 3)
	changes = append(changes, ch)
	time.Sleep(loadBetween)

	// 3 -> 2: scale-down removes the highest ordinal. Kubernetes takes the
	// endpoint out and sends SIGTERM at the same time; the gateway's
	// drain_delay keeps it serving while the watchers catch up.
	removed := gws[2]
	gws = gws[:2]
	ch = ringChange{Name: "3->2"}
	ch.Applied = time.Now()
	c.publish(t, ports.GRPC, gws)
	stopped := make(chan bool, 1)
	go func() { stopped <- removed.stop(gatewayStop) }()
	ch.Observed = waitBackends(t, agent, 2)
	changes = append(changes, ch)
	time.Sleep(loadAfter)
	load.finish()
	if !<-stopped {
		t.Errorf("gateway-2 did not exit within %s of SIGTERM", gatewayStop)
	}

	sinks := []*harness.Sink{gws[0].Sink, gws[1].Sink, removed.Sink}
	res := analyse(load, sinks, changes, 60*time.Second)
	res.fill(out)
	t.Logf("routing: %s", res)
	if res.Sent == 0 {
		t.Fatal("no span was accepted by the agent")
	}
	for i, s := range sinks {
		if s.Received() == 0 {
			t.Errorf("gateway-%d received nothing: the agent did not route to it", i)
		}
	}
	if res.SplitOutside != 0 {
		t.Errorf("%d traces that straddled no ring change reached more than one gateway", res.SplitOutside)
	}
	if res.Lost != 0 {
		t.Errorf("%d of %d spans the agent accepted were never delivered", res.Lost, res.Sent)
	}
}

func serviceYAML(port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  clusterIP: None
  ports:
    - name: grpc-otlp
      port: %d
      appProtocol: grpc
`, routingService, gatewayNS, port)
}

// publish writes the EndpointSlice of routingService: one ready endpoint per
// gateway, at its pod IP.
func (c *cluster) publish(t *testing.T, port int, gws []*gatewayPod) {
	t.Helper()
	var eps strings.Builder
	for _, g := range gws {
		fmt.Fprintf(&eps, "  - addresses: [%q]\n    hostname: %s\n    conditions: {ready: true, serving: true, terminating: false}\n", g.Host.PodIP, g.Name)
	}
	c.kubectlIn(t, fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-0
  namespace: %s
  labels:
    kubernetes.io/service-name: %s
    endpointslice.kubernetes.io/managed-by: otlpcol-test
addressType: IPv4
ports:
  - name: grpc-otlp
    port: %d
    protocol: TCP
endpoints:
%s`, routingService, gatewayNS, routingService, port, eps.String()), "apply", "--server-side", "--field-manager=otlpcol-test", "-f", "-")
}

// waitBackends waits until the agent's load_balancing exporter reports n
// backends and returns when it saw that.
func waitBackends(t *testing.T, agent *harness.Collector, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, ok := harness.MetricValue(t, agent.TelemetryURL(), "otelcol_loadbalancer_num_backends")
		if ok && int(v) == n {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent's otelcol_loadbalancer_num_backends = %v (found %v), want %d\n%s", v, ok, n, lastLines(agent.Output(), 15))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownHostsFile writes an /etc/hosts naming every test host's gateway as
// the headless Service's per-pod DNS record would (gateway-N.<service>.<ns>),
// and returns the wrapper that runs a process with it in a mount namespace
// of its own: the machine's /etc/hosts is never touched.
func ownHostsFile(t *testing.T, hosts []*testHost) []string {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("the per-pod names need unshare (Debian package util-linux)")
	}
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	for i, h := range hosts {
		fmt.Fprintf(&b, "%s gateway-%d.%s.%s\n", h.PodIP, i, routingService, gatewayNS)
	}
	dir := t.TempDir()
	hostsFile, resolvConf := filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf")
	// No name server: a name the hosts file lacks fails at once, and no
	// query leaves the machine.
	for path, body := range map[string]string{hostsFile: b.String(), resolvConf: "nameserver 127.0.0.1\n"} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`, hostsFile, resolvConf}
}
