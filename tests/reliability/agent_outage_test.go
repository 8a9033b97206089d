package reliability

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestAgentAbsorbsGatewayOutage is issue 22 section 4: applications send
// through configs/agent.yaml (as shipped: its retry pace, readiness and
// queue) at a steady rate while the gateway (configs/gateway.yaml, a real
// process) is killed for a minute (five with OTLPCOL_RELIABILITY_LONG=1)
// and started again on the same port and state. Expected: the agent's
// queue has room, so the applications see no failed export at all; its
// /ready stays 200 throughout (its Service is node-local: an unready agent
// leaves the node's applications no endpoint), while /status reports the
// outage; and every acknowledged span arrives once the gateway is back.
func TestAgentAbsorbsGatewayOutage(t *testing.T) {
	needBinary(t)
	o := record(t)
	outageFor := scaled(time.Minute, 5*time.Minute)
	backend := harness.StartSink(t)
	gateway := harness.NewGateway(t, backend, "agent-outage", 30*time.Second)
	gw := gateway.Start()
	agent := gateway.StartAgent()

	// Applications: 2 × 10 spans every 100 ms, an SDK's 10 s deadline.
	l := startLoad(t, agent.GRPCEndpoint(), loadSpec{scenario: "agent-outage", workers: 2, spansPerBatch: 10,
		interval: 100 * time.Millisecond, deadline: 10 * time.Second})
	ready := watchReady(agent)
	require.Positive(t, backend.WaitSpans(1, 30*time.Second), "nothing reached the backend through agent and gateway")

	gw.Kill()
	t.Logf("gateway down for %s", outageFor)
	time.Sleep(outageFor)
	queued := metric(t, agent, "otelcol_exporter_queue_size", `exporter="load_balancing"`)
	_, status, err := harness.Get(agent.HealthURL("/status"))
	require.NoError(t, err)
	acceptedDuring, refusedDuring := len(l.Accepted()), l.Refused()
	gateway.Start()
	time.Sleep(10 * time.Second)
	l.Stop()
	notReady := ready.Stop()

	sent, refused := l.Accepted(), l.Refused()
	tl := waitDelivered(sent, 3*time.Minute, backend)
	tl.fill(o)
	o.PeakRSS = peakRSS(agent)
	t.Logf("outage %s: %d spans acknowledged by its end, %g queued; refused %v (during the outage %v); /ready not 200 %d times",
		outageFor, acceptedDuring, queued, refused, refusedDuring, len(notReady))
	t.Logf("gateway back: acknowledged %d, delivered %d, duplicates %d, lost %d", len(sent), tl.delivered, tl.duplicates, tl.lost)
	assert.Empty(t, refused, "an application's export failed while the agent's queue had room")
	assert.Empty(t, notReady, "the agent's /ready left 200 during the outage")
	assert.Positive(t, queued, "the outage never reached the agent's queue")
	assert.Contains(t, status, "exporter:load_balancing sent nothing for", "/status did not report the outage")
	require.Zero(t, tl.lost, "acknowledged spans lost, e.g. %v", tl.missing)
	requireAlive(t, agent)
}
