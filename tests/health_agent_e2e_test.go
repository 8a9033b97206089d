package tests

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// agentRecoveryBound is the documented longest time from the gateway's
// return to the agent's first delivery, when /status clears the failure
// (components/extension/healthextension README, "Timing"): the exporter's
// next retry (agent.yaml's max_interval 30 s, +50% jitter) on a reconnected
// gRPC channel (reconnect backoff, up to about 27 s after a one-minute
// outage), plus one poll.
const agentRecoveryBound = 80 * time.Second

// TestAgentReportsGatewayOutage runs configs/agent.yaml in front of a real
// gateway (configs/gateway.yaml, backend: an in-process sink) while an
// application sends steadily. The gateway is killed: once load_balancing
// has delivered nothing for exporter_failure_threshold (read from
// agent.yaml), never before, /status lists it under exporter_failures,
// while /ready and /health stay 200 throughout (the agent is its node's
// only endpoint: issue 22 section 4). The gateway comes back on the same
// port: /status clears within agentRecoveryBound.
func TestAgentReportsGatewayOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("about two minutes: skipped with -short")
	}
	threshold := agentFailureThreshold(t)
	backend := harness.StartSink(t)
	gateway := harness.NewGateway(t, backend, "health-e2e", 30*time.Second)
	gw := gateway.Start()
	agent := gateway.StartAgent()

	stop := sendSteadily(t, agent.GRPCEndpoint())
	defer stop()
	require.Positive(t, backend.WaitSpans(1, 30*time.Second), "nothing reached the backend through agent and gateway")
	require.Equal(t, http.StatusOK, getCode(t, agent.HealthURL("/ready")))
	probes := func() {
		assert.Equal(t, http.StatusOK, getCode(t, agent.HealthURL("/ready")), "readiness never follows the gateway")
		assert.Equal(t, http.StatusOK, getCode(t, agent.HealthURL("/health")), "liveness never follows an exporter")
	}

	// The gateway goes down.
	gw.Kill()
	down := time.Now()
	reported := waitStatus(t, agent.HealthURL("/status"), true, threshold+30*time.Second, probes)
	after := reported.Sub(down)
	t.Logf("gateway down: agent /status reports it after %s (exporter_failure_threshold %s); /ready stayed 200", after.Round(100*time.Millisecond), threshold)
	assert.GreaterOrEqual(t, after, threshold, "/status reported the failure before the threshold")
	probes()

	// The gateway returns on the same port and queue.
	gateway.Start()
	up := time.Now()
	cleared := waitStatus(t, agent.HealthURL("/status"), false, agentRecoveryBound, probes)
	t.Logf("gateway back: agent /status clear after %s (documented bound %s)", cleared.Sub(up).Round(100*time.Millisecond), agentRecoveryBound)
}

// waitStatus polls /status every 250 ms until its exporter_failures names
// load_balancing (failing true) or does not (false) and returns when; each
// round also runs check. It fails the test after timeout.
func waitStatus(t *testing.T, url string, failing bool, timeout time.Duration, check func()) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, body, err := harness.Get(url)
		if err == nil && strings.Contains(body, "exporter:load_balancing sent nothing for") == failing {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: load_balancing failing=%v not shown within %s (last %v: %s)", url, failing, timeout, err, body)
		}
		check()
		time.Sleep(250 * time.Millisecond)
	}
}

// agentFailureThreshold reads exporter_failure_threshold from agent.yaml,
// so that the test follows the shipped setting.
func agentFailureThreshold(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(harness.Config("agent.yaml"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s+exporter_failure_threshold:\s*(\S+)`).FindSubmatch(b)
	require.NotNil(t, m, "configs/agent.yaml sets no exporter_failure_threshold")
	d, err := time.ParseDuration(string(m[1]))
	require.NoError(t, err)
	require.Positive(t, d)
	return d
}

// sendSteadily exports one span every 100 ms to endpoint until stopped,
// as an application would; refusals are expected during the outage and
// ignored (the application's SDK would retry or drop on its own).
func sendSteadily(t *testing.T, endpoint string) func() {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	client := ptraceotlp.NewGRPCClient(conn)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "health-e2e")
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			_, _ = rand.Read(tid[:])
			_, _ = rand.Read(sid[:])
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetName("steady")
			now := time.Now()
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
			cancel()
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			_ = conn.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}
