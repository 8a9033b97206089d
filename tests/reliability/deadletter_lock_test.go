package reliability

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestDeadLetterLockedAgainstASecondProcess: two gateways with their own
// write-ahead logs but one dead-letter directory. The second must refuse to
// start, naming the directory in use (as the log does for its own); the
// first keeps running; once it stopped, the directory can be taken.
func TestDeadLetterLockedAgainstASecondProcess(t *testing.T) {
	needBinary(t)
	sink := harness.StartSink(t)
	first := t.TempDir()
	c1 := startFaultGateway(t, sink, first)
	shared := filepath.Join(first, "deadletter")

	second := func() *harness.Collector {
		return harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
			Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=lock-test"},
			Set: faultGatewaySets(t.TempDir(), "exporters::otlp_retry::dead_letter::directory="+shared),
		})
	}
	c2 := second()
	err, exited := c2.Wait(60 * time.Second)
	require.True(t, exited, "a second gateway on the same dead letter kept running")
	require.Error(t, err, "the second gateway exited cleanly")
	out := c2.Output()
	require.True(t, strings.Contains(out, "dead_letter::directory") && strings.Contains(out, "is in use by another process"),
		"the second gateway's error does not name the dead letter in use:\n%s", out)
	requireAlive(t, c1)

	c1.Stop(30 * time.Second)
	c3 := second()
	c3.WaitReady(30 * time.Second)
	c3.Stop(30 * time.Second)
}
