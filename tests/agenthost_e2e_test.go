package tests

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestAgentHostConfig: configs/agent-host.yaml, which the deb and rpm
// install as /etc/otlpcol/otlpcol.yaml, validates, and what it answered OK
// for while the gateway refused survives a SIGKILL: after a restart the
// persistent queue delivers every span. (tests/packaging runs the installed
// package itself.)
func TestAgentHostConfig(t *testing.T) {
	config := harness.Config("agent-host.yaml")
	sink := harness.StartSink(t)
	env := []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=test", "OTLP_INSECURE=true"}

	validate := exec.Command(harness.Binary(t), "validate", "--config", config)
	validate.Env = append(os.Environ(), env...)
	out, err := validate.CombinedOutput()
	require.NoError(t, err, "otlpcol validate %s\n%s", config, out)

	// The state directory of the package (/var/lib/otlpcol) moved to a
	// temporary one; nothing else changes.
	state := t.TempDir()
	opts := harness.Options{Env: env, Set: []string{
		"extensions::guarded_file_storage/queue::directory=" + state + "/queue",
		"extensions::guarded_file_storage/queue::compaction::directory=" + state + "/queue",
		"exporters::otlp_retry::dead_letter::directory=" + state + "/deadletter",
	}}

	sink.SetFailure(errors.New("gateway down"))
	c := harness.Start(t, config, opts)
	c.WaitReady(time.Minute)
	const batches, perBatch = 5, 20
	var tds []ptrace.Traces
	for b := range batches {
		tds = append(tds, harness.TraceBatch("agent-host", b, perBatch))
	}
	harness.ExportTraces(t, c.GRPCEndpoint(), tds...)
	c.Kill()
	require.Zero(t, sink.SpanCount(), "the gateway refused everything so far")

	sink.SetFailure(nil)
	c2 := harness.Start(t, config, opts)
	c2.WaitReady(time.Minute)
	require.Equal(t, batches*perBatch, sink.WaitSpans(batches*perBatch, time.Minute),
		"spans acknowledged before the SIGKILL, delivered from the persistent queue after the restart")
}
