package reliability

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestAgentBatchesFitTheGateway: applications send spans of about 4 KiB
// (large attributes: SQL, stack traces) through the agent to a real gateway
// (configs/gateway.yaml, whose receiver takes messages of up to 16 MiB).
// The gateway stalls for a while, so the agent's queue backs up and it cuts
// the largest batches its config allows; a batch the gateway cannot receive
// is answered ResourceExhausted without RetryInfo, which upstream's OTLP
// exporter treats as permanent and drops. Expected: every batch fits the
// gateway's limit, so everything the agent acknowledged is delivered (0
// lost).
func TestAgentBatchesFitTheGateway(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	gw := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=agent-limits"},
		Set: harness.GatewaySets(t.TempDir()),
	})
	gw.WaitReady(30 * time.Second)
	agent := startAgent(t, sink, t.TempDir(),
		"exporters::load_balancing::resolver::static::hostnames=["+gw.GRPCEndpoint()+"]",
		"exporters::otlp_grpc/gateway::endpoint="+gw.GRPCEndpoint())
	l := startLoad(t, agent.GRPCEndpoint(), loadSpec{scenario: "agent-large-spans", workers: 2, spansPerBatch: 200,
		interval: 10 * time.Millisecond, attrBytes: 4096, deadline: 5 * time.Second})
	// The gateway stalls for a few seconds (a long GC pause, CPU
	// throttling): the agent's queue backs up, and the batches it cuts
	// once the gateway answers again are as large as its config allows.
	time.Sleep(time.Second)
	gw.Signal(syscall.SIGSTOP)
	time.Sleep(3 * time.Second)
	gw.Signal(syscall.SIGCONT)
	time.Sleep(scaled(2*time.Second, 10*time.Second))
	l.Stop()
	sent := l.Accepted()
	require.NotEmpty(t, sent, "nothing acknowledged: %v", l.Refused())
	tl := waitDelivered(sent, 90*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = max(peakRSS(agent), peakRSS(gw))
	t.Logf("acknowledged %d spans of ~4 KiB (not acknowledged %v); delivered %d, duplicates %d",
		len(sent), l.Refused(), tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, agent)
}
