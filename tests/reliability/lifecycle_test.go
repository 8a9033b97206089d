package reliability

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// Pod replacement of a gateway replica (deploy/k8s/gateway is a
// StatefulSet): Kubernetes sends SIGTERM, waits up to
// terminationGracePeriodSeconds, and starts a new pod that mounts the same
// claim (same ordinal) or, when the claim is new, an empty one.

// drainDelay is how long a replaced gateway serves with /ready 503.
const drainDelay = "extensions::health::drain_delay=2s"

// sigtermAndWait sends SIGTERM, checks /ready answers 503 while the process
// still runs (drain_delay), calls onDrain then, and waits for a clean exit.
func sigtermAndWait(t *testing.T, c *harness.Collector, onDrain func()) {
	t.Helper()
	c.Signal(sigterm)
	saw503 := waitFor(5*time.Second, func() bool {
		code, _, err := harness.Get(c.HealthURL("/ready"))
		return err == nil && code == http.StatusServiceUnavailable
	})
	require.True(t, saw503, "/ready did not answer 503 after SIGTERM")
	require.False(t, c.Exited(), "the process must still run while /ready says 503 (drain_delay)")
	if onDrain != nil {
		onDrain()
	}
	err, ok := c.Wait(60 * time.Second)
	require.True(t, ok, "no exit within 60s of SIGTERM (the grace period of the StatefulSet)")
	require.NoError(t, err, "unclean exit")
}

// loadUntilSIGTERM has two clients send to c for a few seconds, then
// replaces c like Kubernetes does (sigtermAndWait); the clients stop once
// /ready says 503, as the Service stops routing to the pod then. It returns
// the load, which must have had spans accepted.
func loadUntilSIGTERM(t *testing.T, c *harness.Collector, scenario string) *load {
	t.Helper()
	l := startLoad(t, c.GRPCEndpoint(), loadSpec{scenario: scenario, workers: 2, spansPerBatch: 20,
		interval: 10 * time.Millisecond, maxBatches: 100000})
	time.Sleep(scaled(3*time.Second, 20*time.Second))
	sigtermAndWait(t, c, l.Stop)
	require.NotEmpty(t, l.Accepted(), "nothing accepted: refused %v", l.Refused())
	return l
}

// stateFiles lists the files under dir (queue and dead letter), for the log.
func stateFiles(dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestLifecyclePodReplacedBackendDown: the backend is down while a gateway
// replica accepts data, then the replica is replaced: SIGTERM, clean exit,
// and a new process on the same state directory (the same claim), with the
// backend still down for a while. Expected: nothing arrives while the
// backend is down; once it returns, every accepted span is delivered by the
// new process (0 lost; duplicates counted).
func TestLifecyclePodReplacedBackendDown(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink, dir, c := startDownGateway(t, drainDelay)
	l := loadUntilSIGTERM(t, c, "replaced-down")
	o.PeakRSS = peakRSS(c) // the whole life, shutdown included
	sent := l.Accepted()
	require.Zero(t, count(sent, sink.SpanIDs()).delivered, "the backend was down: nothing should have arrived")
	t.Logf("left on the volume after SIGTERM: %v", stateFiles(dir))

	// The new pod mounts the same claim while the backend is still down.
	c2 := startFaultGateway(t, sink, dir)
	time.Sleep(scaled(2*time.Second, 10*time.Second))
	requireAlive(t, c2)
	sink.SetFailure(nil)
	tl := waitDelivered(sent, 90*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = max(o.PeakRSS, peakRSS(c2))
	t.Logf("accepted %d spans before SIGTERM (refused %v); delivered %d by the next process, duplicates %d",
		len(sent), l.Refused(), tl.delivered, tl.duplicates)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, c2)
}

// TestLifecycleSIGTERMFlushesBackendUp: the backend is up; SIGTERM comes
// while clients send; they stop once /ready answers 503 (the endpoints are
// removed during drain_delay). Expected: the replica sends what it accepted
// before it exits, so the next pod needs nothing from the volume: every
// accepted span is in the backend at exit, and a new process on an EMPTY
// state directory (a new claim) changes nothing: 0 lost.
func TestLifecycleSIGTERMFlushesBackendUp(t *testing.T) {
	needBinary(t)
	o := record(t)
	sink := harness.StartSink(t)
	dir := t.TempDir()
	c := startFaultGateway(t, sink, dir, drainDelay)
	sent := loadUntilSIGTERM(t, c, "flush-up").Accepted()
	o.PeakRSS = peakRSS(c) // the whole life, shutdown included
	atExit := count(sent, sink.SpanIDs())
	t.Logf("accepted %d spans; in the backend at exit %d; left on the volume: %v", len(sent), atExit.delivered, stateFiles(dir))

	// A new pod on a new, empty claim: it has nothing to replay.
	c2 := startFaultGateway(t, sink, t.TempDir())
	tl := waitDelivered(sent, 5*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = max(o.PeakRSS, peakRSS(c2))
	require.Zero(t, atExit.lost, "not sent before exit (would be lost with a new claim), e.g. %v", atExit.missing)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, c2)
}
