package tests

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestAgentGatewayTopology runs configs/agent.yaml and configs/gateway.yaml
// as shipped, on loopback: apps -> agent (load_balancing by trace ID, here
// with a static resolver instead of the k8s one) -> gateway (trace_registry,
// otlp_retry) -> a local OTLP sink. Every span arrives once, and the
// gateway's registry saw every trace.
func TestAgentGatewayTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bin/otlpcol")
	}
	sink := harness.StartSink(t)
	dir := t.TempDir()
	gw := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Set: append(harness.GatewaySets(dir),
			"exporters::otlp_retry::sending_queue::batch::flush_timeout=10ms",
		),
		Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=e2e"},
	})
	gw.WaitReady(30 * time.Second)

	agent := harness.Start(t, harness.Config("agent.yaml"), harness.Options{
		Set: []string{
			"exporters::load_balancing::resolver::k8s=null",
			fmt.Sprintf("exporters::load_balancing::resolver::static::hostnames=[%s]", gw.GRPCEndpoint()),
			"exporters::otlp_grpc/gateway::endpoint=" + gw.GRPCEndpoint(),
			"extensions::guarded_file_storage/queue::directory=" + filepath.Join(dir, "agent-queue"),
			"extensions::guarded_file_storage/queue::compaction::directory=" + filepath.Join(dir, "agent-queue"),
			"exporters::load_balancing::sending_queue::batch::flush_timeout=10ms",
		},
	})
	agent.WaitReady(30 * time.Second)

	const traces, spans = 20, 5
	body, err := ptraceotlp.NewExportRequestFromTraces(deployTraces(7, traces, spans)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if code := postOTLP(t, agent.HTTPEndpoint(), "/v1/traces", body); code != 200 {
		t.Fatalf("agent answered %d", code)
	}
	if got := sink.WaitSpans(traces*spans, 30*time.Second); got != traces*spans {
		t.Fatalf("sink got %d spans, want %d", got, traces*spans)
	}
	if d := sink.Duplicates(); d != 0 {
		t.Errorf("%d duplicate span deliveries", d)
	}
	// The gateway's trace registry counted every trace (agent routing kept
	// each trace whole).
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := harness.MetricValue(t, gw.HealthURL("/metrics"), "otlp_traces_total")
		if ok && v == traces {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway otlp_traces_total = %v (found %v), want %d", v, ok, traces)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Metrics and logs take the agent's otlp_grpc/gateway exporter.
	sendAll(t, agent, 8)
	deadline = time.Now().Add(20 * time.Second)
	for sink.MetricPoints() == 0 || sink.LogRecords() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("metrics %d, logs %d reached the sink through agent and gateway", sink.MetricPoints(), sink.LogRecords())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
