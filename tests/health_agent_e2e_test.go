package tests

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
// return to /ready 200 on the agent (components/extension/healthextension
// README, "Timing"): the exporter's next retry (agent.yaml's max_interval
// 30 s, +50% jitter) on a reconnected gRPC channel (reconnect backoff, up
// to about 27 s after a one-minute outage), plus one poll.
const agentRecoveryBound = 80 * time.Second

// TestAgentReadinessFollowsGateway runs configs/agent.yaml in front of a
// real gateway (configs/gateway.yaml, backend: an in-process sink) while an
// application sends steadily. The gateway is killed: the agent's /ready
// turns 503 once load_balancing has delivered nothing for
// exporter_failure_threshold (read from agent.yaml), never before, while
// /health stays 200. The gateway comes back on the same port: /ready is 200
// again within agentRecoveryBound.
func TestAgentReadinessFollowsGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("about two minutes: skipped with -short")
	}
	threshold := agentFailureThreshold(t)
	backend := harness.StartSink(t)
	gwPort := harness.FreePort(t)
	gwDir := t.TempDir()
	startGateway := func() *harness.Collector {
		q := filepath.Join(gwDir, "queue")
		require.NoError(t, os.MkdirAll(q, 0o700))
		gw := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
			Env: []string{"OTLP_ENDPOINT=" + backend.GRPCEndpoint(), "API_KEY=health-e2e"},
			Set: []string{
				fmt.Sprintf("receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d", gwPort),
				"extensions::file_storage/queue::directory=" + q,
				"extensions::file_storage/queue::compaction::directory=" + q,
				"exporters::otlp_retry::dead_letter::directory=" + filepath.Join(gwDir, "deadletter"),
				"exporters::otlp_retry::tls::insecure=true", // the sink speaks plain gRPC
				"extensions::health::drain_delay=0s",
			},
		})
		gw.WaitReady(30 * time.Second)
		return gw
	}
	gw := startGateway()

	agentSet := []string{
		// Loopback instead of the cluster's Services.
		"exporters::load_balancing::resolver::k8s=null",
		fmt.Sprintf("exporters::load_balancing::resolver::static::hostnames=[127.0.0.1:%d]", gwPort),
		fmt.Sprintf("exporters::otlp_grpc/gateway::endpoint=127.0.0.1:%d", gwPort),
		"extensions::health::drain_delay=0s",
	}
	agentSet = append(agentSet, storageDirSets(t, harness.Config("agent.yaml"))...)
	agent := harness.Start(t, harness.Config("agent.yaml"), harness.Options{Set: agentSet})
	agent.WaitReady(30 * time.Second)

	stop := sendSteadily(t, agent.GRPCEndpoint())
	defer stop()
	require.Positive(t, backend.WaitSpans(1, 30*time.Second), "nothing reached the backend through agent and gateway")
	require.Equal(t, http.StatusOK, getCode(t, agent.HealthURL("/ready")))

	// The gateway goes down.
	gw.Kill()
	down := time.Now()
	notReady := waitCode(t, agent.HealthURL("/ready"), http.StatusServiceUnavailable, threshold+30*time.Second,
		func() {
			assert.Equal(t, http.StatusOK, getCode(t, agent.HealthURL("/health")), "liveness never follows an exporter")
		})
	after := notReady.Sub(down)
	t.Logf("gateway down: agent /ready 503 after %s (exporter_failure_threshold %s)", after.Round(100*time.Millisecond), threshold)
	assert.GreaterOrEqual(t, after, threshold, "/ready turned 503 before the threshold")
	_, body, err := harness.Get(agent.HealthURL("/ready"))
	require.NoError(t, err)
	assert.Contains(t, body, "exporter:load_balancing sent nothing for")
	assert.Equal(t, http.StatusOK, getCode(t, agent.HealthURL("/health")))

	// The gateway returns on the same port and queue.
	startGateway()
	up := time.Now()
	ready := waitCode(t, agent.HealthURL("/ready"), http.StatusOK, agentRecoveryBound, nil)
	t.Logf("gateway back: agent /ready 200 after %s (documented bound %s)", ready.Sub(up).Round(100*time.Millisecond), agentRecoveryBound)
}

// waitCode polls url every 250 ms until it answers want and returns when;
// each round also runs check, if any. It fails the test after timeout.
func waitCode(t *testing.T, url string, want int, timeout time.Duration, check func()) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := harness.Get(url)
		if err == nil && code == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s (last %d, %v)", url, want, timeout, code, err)
		}
		if check != nil {
			check()
		}
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

// storageDirSets points every file_storage extension of a config at a test
// directory (the agent's persistent queue, when it has one).
func storageDirSets(t *testing.T, config string) []string {
	t.Helper()
	b, err := os.ReadFile(config)
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  (file_storage(?:/[\w-]+)?):\s*$`).FindAllSubmatch(b, -1) {
		dir := t.TempDir()
		out = append(out, "extensions::"+string(m[1])+"::directory="+dir,
			"extensions::"+string(m[1])+"::compaction::directory="+dir)
	}
	return out
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
