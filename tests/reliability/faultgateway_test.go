package reliability

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// The gateway the fault, lifecycle and write-ahead-log scenarios run
// (configs/gateway.yaml with test settings), the backend's failure answers,
// and the steps those scenarios share.

// Memory settings of the fault and overload gateways, and the margin the
// process's RSS may exceed the memory_limiter limit by (the limiter watches
// the Go heap; RSS adds the runtime, stacks, bbolt's mmap and freed but not
// yet returned pages).
const (
	memLimitMiB   = 256
	memSpikeMiB   = 64
	rssMarginMiB  = 160
	rssBoundBytes = (memLimitMiB + rssMarginMiB) << 20
)

// scaled is short in the default run and long with OTLPCOL_RELIABILITY_LONG=1.
func scaled(short, long time.Duration) time.Duration {
	if os.Getenv(longEnv) == "1" {
		return long
	}
	return short
}

// faultGatewaySets adapts configs/gateway.yaml for fault tests: fixed
// memory limits, quick retries and a short circuit-breaker pause.
func faultGatewaySets(dir string, extra ...string) []string {
	set := append(harness.GatewaySets(dir),
		"processors::memory_limiter::limit_percentage=0",
		"processors::memory_limiter::spike_limit_percentage=0",
		fmt.Sprintf("processors::memory_limiter::limit_mib=%d", memLimitMiB),
		fmt.Sprintf("processors::memory_limiter::spike_limit_mib=%d", memSpikeMiB),
		"exporters::otlp_retry::retry_on_failure::initial_interval=200ms",
		"exporters::otlp_retry::retry_on_failure::max_interval=2s",
		"exporters::otlp_retry::circuit_breaker::open_duration="+openDuration.String(),
		"exporters::otlp_retry::dead_letter::replay_interval="+replayInterval.String(),
	)
	set = append(set, extra...)
	// OTLPCOL_RELIABILITY_GATEWAY_SET adds overrides (separated by ";") to
	// try a gateway config change against every fault scenario.
	if extra := os.Getenv("OTLPCOL_RELIABILITY_GATEWAY_SET"); extra != "" {
		set = append(set, strings.Split(extra, ";")...)
	}
	return set
}

// startFaultGateway runs configs/gateway.yaml against sink with state in dir.
func startFaultGateway(t *testing.T, sink *harness.Sink, dir string, extra ...string) *harness.Collector {
	t.Helper()
	c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=fault-test"},
		Set: faultGatewaySets(dir, extra...),
	})
	c.WaitReady(30 * time.Second)
	return c
}

// startDownGateway starts a sink that is down (outage) and
// configs/gateway.yaml in front of it (startFaultGateway) with its state in
// a fresh directory: the start of every scenario that fills the queue or
// the dead letter. It returns the sink, the state directory and the gateway.
func startDownGateway(t *testing.T, extra ...string) (*harness.Sink, string, *harness.Collector) {
	t.Helper()
	sink := harness.StartSink(t)
	sink.SetFailure(outage)
	dir := t.TempDir()
	return sink, dir, startFaultGateway(t, sink, dir, extra...)
}

// outage is what the sink answers while the backend is "down".
var outage = errors.New("backend down (test outage)")

// throttled is a RESOURCE_EXHAUSTED with RetryInfo, what a backend answers
// when it sheds load.
func throttled(delay time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, "throttled by the test backend").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// componentStatus reads one component's status from the health
// extension's /status ("" when absent).
func componentStatus(t *testing.T, c *harness.Collector, pipeline, component string) string {
	t.Helper()
	code, body, err := harness.Get(c.HealthURL("/status"))
	if err != nil || code != http.StatusOK {
		return ""
	}
	var st struct {
		Pipelines map[string]struct {
			Components map[string]struct {
				Status string `json:"status"`
			} `json:"components"`
		} `json:"pipelines"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v", err)
	}
	return st.Pipelines[pipeline].Components[component].Status
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killUnderLoad kills c with SIGKILL while l sends, then stops l; it
// returns the spans c accepted and c's peak RSS.
func killUnderLoad(t *testing.T, c *harness.Collector, l *load) ([]string, int64) {
	t.Helper()
	peak := peakRSS(c)
	c.Kill()
	l.Stop()
	t.Logf("refused before SIGKILL: %v", l.Refused())
	return l.Accepted(), peak
}

// deliveredAfterKill is the end of a SIGKILL scenario: the backend accepts
// again, a new gateway starts on the killed one's state directory (with the
// killed one's extra settings), and every span in sent, what the killed one
// accepted, must arrive within timeout. o gets the tally and the higher
// peak RSS of the two processes (peak is the killed one's).
func deliveredAfterKill(t *testing.T, o *outcome, sink *harness.Sink, dir string, sent []string, peak int64,
	timeout time.Duration, extra ...string,
) {
	t.Helper()
	require.NotEmpty(t, sent, "nothing accepted before the kill")
	sink.SetFailure(nil)
	c2 := startFaultGateway(t, sink, dir, extra...)
	tl := waitDelivered(sent, timeout, sink)
	tl.fill(o)
	o.PeakRSS = max(peak, peakRSS(c2))
	t.Logf("accepted %d spans before SIGKILL; delivered %d after the restart, duplicates %d", len(sent), tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireLedgerDrained(t, c2, int64(len(sent)))
	requireAlive(t, c2)
}
