package reliability

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// startAgent runs configs/agent.yaml as shipped, with only its addresses,
// its queue directory and its retry pace changed: load_balancing's static
// resolver and otlp_grpc/gateway point at gw (a real OTLP receiver standing
// in for the gateway); the persistent queue lives in dir.
func startAgent(t *testing.T, gw *harness.Sink, dir string, extra ...string) *harness.Collector {
	t.Helper()
	return startAgentWith(t, gw, dir, harness.Options{}, extra...)
}

// startAgentWith is startAgent with harness options (environment, cgroup).
func startAgentWith(t *testing.T, gw *harness.Sink, dir string, opts harness.Options, extra ...string) *harness.Collector {
	t.Helper()
	set := append(agentQuickRetry(dir), harness.AgentTo(gw.GRPCEndpoint())...)
	set = append(set,
		"exporters::otlp_grpc/gateway::retry_on_failure::initial_interval=100ms",
		"exporters::otlp_grpc/gateway::retry_on_failure::max_interval=1s",
	)
	opts.Set = append(append(set, extra...), opts.Set...)
	c := harness.Start(t, harness.Config("agent.yaml"), opts)
	c.WaitReady(30 * time.Second)
	return c
}

// agentQuickRetry is the --set overrides of an agent under test: its queue
// in dir/queue, and load_balancing's retries within a second. The
// sub-exporters' in-place retry gives up within a second, so an outage of
// a few seconds already reaches load_balancing's own retry (the one that
// must never give up).
func agentQuickRetry(dir string) []string {
	q := filepath.Join(dir, "queue")
	return []string{
		"extensions::guarded_file_storage/queue::directory=" + q,
		"extensions::guarded_file_storage/queue::compaction::directory=" + q,
		"exporters::load_balancing::retry_on_failure::initial_interval=100ms",
		"exporters::load_balancing::retry_on_failure::max_interval=1s",
		"exporters::load_balancing::protocol::otlp::retry_on_failure::initial_interval=100ms",
		"exporters::load_balancing::protocol::otlp::retry_on_failure::max_interval=500ms",
		"exporters::load_balancing::protocol::otlp::retry_on_failure::max_elapsed_time=1s",
	}
}

// startAppLoad is applications sending to the agent with a short deadline,
// as an SDK does: a request not answered in time is not acknowledged, and
// the application keeps (and retries) it. The load records what was
// acknowledged and how the rest was answered.
func startAppLoad(t *testing.T, endpoint, scenario string, workers int, deadline time.Duration) *load {
	t.Helper()
	return startLoad(t, endpoint, loadSpec{scenario: scenario, workers: workers, spansPerBatch: 20,
		interval: 10 * time.Millisecond, deadline: deadline})
}

// loadAgentGatewayDown starts the agent on dir with the gateway (gw) down
// and applications sending, and returns once the agent's persistent queue
// has held data for a while: the start of every scenario that stops the
// agent with acknowledged data on its disk.
func loadAgentGatewayDown(t *testing.T, gw *harness.Sink, dir, scenario string) (*harness.Collector, *load) {
	t.Helper()
	gw.SetFailure(outage)
	c := startAgent(t, gw, dir)
	l := startAppLoad(t, c.GRPCEndpoint(), scenario, 2, 5*time.Second)
	require.True(t, waitFor(30*time.Second, func() bool {
		return metric(t, c, "otelcol_exporter_queue_size") > 0
	}), "nothing reached the agent's sending queue")
	time.Sleep(scaled(2*time.Second, 10*time.Second))
	return c, l
}

// restartAgentDelivers starts a new agent on dir, brings the gateway back,
// and requires every span in sent to arrive (0 lost); o gets the tally and
// the new agent's peak RSS on top of what it holds.
func restartAgentDelivers(t *testing.T, o *outcome, gw *harness.Sink, dir string, sent []string) tally {
	t.Helper()
	c := startAgent(t, gw, dir)
	gw.SetFailure(nil)
	tl := waitDelivered(sent, 60*time.Second, gw)
	tl.fill(o)
	o.PeakRSS = max(o.PeakRSS, peakRSS(c))
	t.Logf("%d spans acknowledged before the stop; the next agent delivered %d, duplicates %d",
		len(sent), tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, c)
	return tl
}

// TestAgentGatewayDownBackPressure: applications keep sending through the
// agent while the gateway refuses everything for longer than a retry budget
// would last (the old config gave up after max_elapsed_time 300s and
// dropped; rerun with --set
// exporters::load_balancing::retry_on_failure::max_elapsed_time=2s to see
// that loss). The agent's queue is made small (1000 spans) so it fills.
// Expected: the applications see back-pressure (requests not acknowledged:
// DeadlineExceeded while the full queue blocks, or Unavailable /
// ResourceExhausted), and every span the agent acknowledged reaches the
// gateway once it accepts again: 0 lost.
func TestAgentGatewayDownBackPressure(t *testing.T) {
	needBinary(t)
	o := record(t)
	gw := harness.StartSink(t)
	gw.SetFailure(outage)
	c := startAgent(t, gw, t.TempDir(),
		"exporters::load_balancing::sending_queue::queue_size=1000")
	l := startAppLoad(t, c.GRPCEndpoint(), "agent-backpressure", 2, time.Second)
	time.Sleep(scaled(8*time.Second, 60*time.Second))
	refusedDuring := l.Refused()
	gw.SetFailure(nil)
	time.Sleep(2 * time.Second)
	l.Stop()
	sent, refused := l.Accepted(), l.Refused()
	tl := waitDelivered(sent, 60*time.Second, gw)
	tl.fill(o)
	o.PeakRSS = peakRSS(c)
	t.Logf("acknowledged %d spans, not acknowledged %v (during the outage %v); delivered %d, duplicates %d",
		len(sent), refused, refusedDuring, tl.delivered, tl.duplicates)
	n := 0
	for code, k := range refusedDuring {
		assert.Contains(t, []codes.Code{codes.DeadlineExceeded, codes.Unavailable, codes.ResourceExhausted}, code,
			"the applications must get an answer they retry")
		n += k
	}
	require.Positive(t, n, "the applications never felt the full queue")
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, c)
}

// TestAgentSIGKILLPersistentQueue: the gateway is down while applications
// send; the agent is killed with SIGKILL mid-load and restarted on the same
// queue directory (the node's hostPath), then the gateway returns.
// Expected: every span the agent acknowledged is delivered (0 lost),
// duplicates counted: the queue is on disk (fsync) before the agent answers.
func TestAgentSIGKILLPersistentQueue(t *testing.T) {
	needBinary(t)
	o := record(t)
	gw := harness.StartSink(t)
	dir := t.TempDir()
	c, l := loadAgentGatewayDown(t, gw, dir, "agent-sigkill")
	o.PeakRSS = peakRSS(c)
	c.Kill()
	l.Stop()
	sent, refused := l.Accepted(), l.Refused()
	require.NotEmpty(t, sent, "nothing acknowledged: %v", refused)
	require.Zero(t, count(sent, gw.SpanIDs()).delivered, "the gateway was down: nothing should have arrived")
	t.Logf("SIGKILL; not acknowledged before it: %v", refused)
	restartAgentDelivers(t, o, gw, dir, sent)
}

// TestAgentSIGTERMGatewayDown is an agent pod replaced (rolling update,
// eviction) while the gateway is down: SIGTERM mid-load, a clean exit
// within the DaemonSet's grace period, and a new agent on the same queue
// directory (the node's hostPath). Expected: the batches being retried at
// shutdown stay in the queue (not dropped as given up), and every span the
// agent acknowledged is delivered once the gateway returns: 0 lost.
func TestAgentSIGTERMGatewayDown(t *testing.T) {
	needBinary(t)
	o := record(t)
	gw := harness.StartSink(t)
	dir := t.TempDir()
	c, l := loadAgentGatewayDown(t, gw, dir, "agent-sigterm")
	c.Signal(sigterm)
	err, ok := c.Wait(40 * time.Second)
	l.Stop()
	o.PeakRSS = peakRSS(c) // the whole life, shutdown included
	require.True(t, ok, "no exit within the agent's terminationGracePeriodSeconds (40s)")
	require.NoError(t, err, "unclean exit")
	sent, refused := l.Accepted(), l.Refused()
	require.NotEmpty(t, sent, "nothing acknowledged: %v", refused)
	t.Logf("SIGTERM; not acknowledged before it: %v", refused)
	restartAgentDelivers(t, o, gw, dir, sent)
}
