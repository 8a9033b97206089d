package tests

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/deploy"
	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestEveryMonitoredMetricIsExposed runs configs/gateway.yaml and
// configs/agent.yaml for real, drives the gateway through the situations the
// alerts are about (healthy traffic, a backend that refuses, a backend that
// is down with a tiny queue, a starved memory limiter), and fails if any metric named by deploy/monitoring's rules or
// dashboard is missing from the health extension's /metrics (what
// Prometheus scrapes) or from the internal telemetry endpoint.
func TestEveryMonitoredMetricIsExposed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bin/otlpcol")
	}
	names, err := deploy.MetricNames(harness.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	sink := harness.StartSink(t)
	start := func(name string, set ...string) *harness.Collector {
		dir := t.TempDir()
		base := append(harness.GatewaySets(dir),
			"processors::trace_registry::idle_timeout=1s",
			"processors::trace_registry::max_traces=20",
			"exporters::otlp_retry::sending_queue::batch::flush_timeout=10ms",
		)
		c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
			Set: append(base, set...),
			Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=e2e"},
		})
		c.WaitReady(30 * time.Second)
		t.Logf("%s: health :%d telemetry :%d", name, c.HealthPort, c.TelemetryPort)
		return c
	}

	// Healthy traffic, then a backend that refuses permanently: sent and
	// failed counts, retries' reasons, the dead letter, registry metrics.
	healthy := start("healthy")
	sendAll(t, healthy, 1)
	if got := sink.WaitSpans(90, 30*time.Second); got < 90 {
		t.Errorf("sink got %d spans of 90", got)
	}
	sink.SetFailure(consumererror.NewPermanent(errors.New("backend refuses")))
	sendAll(t, healthy, 2)

	// A backend that hangs (it accepts connections and never answers), a
	// small queue and no dead letter: retries, a full queue (enqueue
	// failures), dropped items, the circuit opening.
	hang, err := harness.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	// A backend that refuses the data as invalid, and no dead letter (so no
	// quarantine): otlp_retry's one counted drop (dropped_items{reason=
	// "rejected"}, exporterhelper's send_failed).
	down := harness.StartSink(t)
	down.SetFailure(status.Error(codes.InvalidArgument, "backend refuses the data"))
	outage := start("outage",
		"exporters::otlp_retry::endpoint="+hang.Addr().String(),
		"exporters::otlp_retry::dead_letter::directory=",
		"exporters::otlp_retry::timeout=2s",
		// The in-memory sending queue (the write-ahead log is off), so that
		// its metrics (queue size, enqueue failures) are exposed too.
		"exporters::otlp_retry::persistent_queue::directory=",
		"exporters::otlp_retry::sending_queue::storage=null",
		"exporters::otlp_retry::sending_queue::num_consumers=1",
		"exporters::otlp_retry::sending_queue::sizer=items", // 200 bytes would be refused by validate
		"exporters::otlp_retry::sending_queue::queue_size=200",
		"exporters::otlp_retry::sending_queue::batch::min_size=10",
		"exporters::otlp_retry::sending_queue::batch::max_size=50",
		"exporters::otlp_retry::retry_on_failure::initial_interval=10ms",
		"exporters::otlp_retry::retry_on_failure::max_interval=100ms",
		"exporters::otlp_retry::retry_on_failure::max_elapsed_time=1s",
		"exporters::otlp_retry::circuit_breaker::min_attempts=2",
	)
	// The same hanging backend with a dead letter and a 1 s retry budget:
	// what the budget gives up on is spooled (dead_letter_items). The
	// healthy gateway's refusing backend no longer spools: a permanent
	// refusal is isolated and quarantined.
	spooling := start("spooling",
		"exporters::otlp_retry::endpoint="+hang.Addr().String(),
		"exporters::otlp_retry::timeout=1s",
		"exporters::otlp_retry::retry_on_failure::initial_interval=10ms",
		"exporters::otlp_retry::retry_on_failure::max_interval=100ms",
		"exporters::otlp_retry::retry_on_failure::max_elapsed_time=1s",
		"exporters::otlp_retry::circuit_breaker::min_attempts=1000",
	)
	// The same against a backend that refuses at once, as invalid. On
	// sending_queue: exporterhelper's otelcol_exporter_* series (sent,
	// send_failed, queue size) exist only on that path (the agent's
	// exporters, a gateway without persistent_queue); the shipped gateway's
	// write-ahead log is watched through otelcol_otlp_retry_* instead.
	refusing := start("refusing",
		"exporters::otlp_retry::endpoint="+down.GRPCEndpoint(),
		"exporters::otlp_retry::dead_letter::directory=",
		"exporters::otlp_retry::persistent_queue::directory=",
		"exporters::otlp_retry::retry_on_failure::initial_interval=10ms",
		"exporters::otlp_retry::retry_on_failure::max_interval=100ms",
		"exporters::otlp_retry::retry_on_failure::max_elapsed_time=1s",
		"exporters::otlp_retry::circuit_breaker::min_attempts=2",
	)

	// A memory limiter below the heap: everything is refused.
	starved := start("starved",
		"processors::memory_limiter::limit_percentage=0",
		"processors::memory_limiter::spike_limit_percentage=0",
		"processors::memory_limiter::limit_mib=2",
		"processors::memory_limiter::spike_limit_mib=1",
	)

	// The agent (configs/agent.yaml), for what only it runs: the guard of
	// its queue files (guarded_file_storage).
	agentDir := t.TempDir()
	agent := harness.Start(t, harness.Config("agent.yaml"), harness.Options{Set: []string{
		"extensions::guarded_file_storage/queue::directory=" + agentDir,
		"extensions::guarded_file_storage/queue::compaction::directory=" + agentDir,
		"extensions::health::drain_delay=0s",
		"exporters::load_balancing::resolver::k8s=null",
		"exporters::load_balancing::resolver::static::hostnames=[" + sink.GRPCEndpoint() + "]",
		"exporters::otlp_grpc/gateway::endpoint=" + sink.GRPCEndpoint(),
	}})
	agent.WaitReady(30 * time.Second)

	all := []*harness.Collector{healthy, outage, spooling, refusing, starved, agent}
	var missingHealth, missingTelemetry []string
	deadline := time.Now().Add(60 * time.Second)
	for round := 0; ; round++ {
		sendAll(t, outage, 10+round)
		sendAll(t, spooling, 30+round)
		sendAll(t, refusing, 50+round)
		sendAll(t, starved, 100+round)
		if round%5 == 0 {
			sendAll(t, healthy, 200+round)
		}
		health, tel := map[string]bool{}, map[string]bool{}
		for _, c := range all {
			for n := range scrapeNames(t, c.HealthURL("/metrics")) {
				health[n] = true
			}
			for n := range scrapeNames(t, c.TelemetryURL()) {
				tel[n] = true
			}
		}
		missingHealth, missingTelemetry = missing(names, health), missing(names, tel)
		if len(missingHealth)+len(missingTelemetry) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(missingHealth) > 0 {
		t.Errorf("named in deploy/monitoring but not on the health extension's /metrics:\n%s", describe(names, missingHealth))
	}
	if len(missingTelemetry) > 0 {
		t.Errorf("named in deploy/monitoring but not on the internal telemetry endpoint:\n%s", describe(names, missingTelemetry))
	}
}

func missing(names map[string][]string, exposed map[string]bool) []string {
	var out []string
	for n := range names {
		if _, ext := deploy.External[n]; ext {
			continue
		}
		if !exposed[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func describe(names map[string][]string, list []string) string {
	var b strings.Builder
	for _, n := range list {
		fmt.Fprintf(&b, "  %s (used by %s)\n", n, strings.Join(names[n], ", "))
	}
	return b.String()
}
