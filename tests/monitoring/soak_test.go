package monitoring

import (
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// soakFor is the healthy soak: 15 scaled minutes and more.
const soakFor = 40 * time.Second

// soak runs an agent and two gateways at steady load for soakFor, with a
// rolling restart of the gateways (one at a time, each drained by SIGTERM,
// its pod deleted and recreated on the same claim, as the StatefulSet's
// RollingUpdate does), and returns the window in which no alert may fire
// for their pods.
func soak(t *testing.T, s *suite, pods map[string]bool) (time.Time, time.Time) {
	b := startBackend(t)
	var gws []*pod
	// kube-state-metrics reports the shipped limit for the soak's
	// gateways: OtlpcolMemoryNearLimit must stay silent against it.
	limit := shippedGatewayMemoryLimit(t)
	for _, name := range []string{"otlpcol-gateway-0", "otlpcol-gateway-1"} {
		s.prom.kube.setMemoryLimit(namespace, name, limit)
		gw := newPod(t, s.prom, name, "gateway", t.TempDir(), gatewaySets, gatewayEnv(b)...)
		// A fixed OTLP port: the agent's static resolver keeps its address
		// (the headless Service's DNS name, in a cluster).
		gw.grpcPort = harness.FreePort(t)
		gw.start()
		gws = append(gws, gw)
		pods[name] = true
	}
	ag := newPod(t, s.prom, "otlpcol-agent-soak", "agent", t.TempDir(),
		agentSets(gws[0].c.GRPCEndpoint(), gws[1].c.GRPCEndpoint()))
	ag.start()
	pods[ag.name] = true
	l := startLoad(ag.c.GRPCEndpoint(), 20, 50*time.Millisecond)
	l.allSignals()
	defer l.Stop()
	from := time.Now()
	wait(soakFor / 4)
	for i := len(gws) - 1; i >= 0; i-- { // highest ordinal first
		gws[i].stop()
		gws[i].start()
		wait(3 * time.Second)
	}
	if left := soakFor - time.Since(from); left > 0 {
		wait(left)
	}
	// Give the last evaluations time to land in the tracker.
	wait(2*s.prom.interval + pollEvery)
	to := time.Now()
	t.Logf("soak: %d exports accepted, %d failed; backend received %d spans", l.ok.Load(), l.fail.Load(), b.SpanCount())
	if l.ok.Load() == 0 || b.SpanCount() == 0 {
		t.Error("no traffic went through during the soak")
	}
	return from, to
}
