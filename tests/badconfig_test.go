package tests

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestBadConfigNamesTheKey: an unknown key, a wrong type or an invalid value
// makes both `otlpcol validate` and start-up fail, and the message names the
// key at fault.
func TestBadConfigNamesTheKey(t *testing.T) {
	local := harness.Config("local.yaml")
	retry := "testdata/otlp_retry_min.yaml"
	cases := []struct {
		name   string
		config string
		set    string
		want   []string // every string must appear in the error output
	}{
		{"unknown key in trace_registry", local, "processors::trace_registry::max_trace=5", []string{"trace_registry", "max_trace"}},
		{"wrong type in trace_registry", local, "processors::trace_registry::max_traces=lots", []string{"trace_registry", "max_traces"}},
		{"invalid value in trace_registry", local, "processors::trace_registry::max_traces=-1", []string{"trace_registry", "max_traces"}},
		{"unknown key in health", local, "extensions::health::drain=5s", []string{"health", "drain"}},
		{"invalid value in health", local, "extensions::health::drain_delay=-1s", []string{"health", "drain_delay"}},
		{"unknown key in otlp_retry", retry, "exporters::otlp_retry::retry_forever=true", []string{"otlp_retry", "retry_forever"}},
		{"invalid value in otlp_retry", retry, "exporters::otlp_retry::endpoint=", []string{"otlp_retry", "endpoint"}},
		{"unknown key upstream", local, "receivers::otlp::protocols::grpc::port=1", []string{"otlp", "port"}},
	}
	bin := harness.Binary(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range [][]string{{"validate"}, {}} {
				args := append(append([]string{}, mode...), "--config", tc.config, "--set", tc.set,
					// Never the default ports, in case validation passed and it starts.
					"--set", "extensions::health::endpoint=127.0.0.1:0")
				if tc.config == retry {
					args = args[:len(args)-2]
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Env = append(cmd.Environ(), "OTLPCOL_TELEMETRY_PORT=0")
				out, err := cmd.CombinedOutput()
				cancel()
				require.Error(t, err, "%v should fail:\n%s", args, out)
				require.NotEqual(t, context.DeadlineExceeded, ctx.Err(), "%v started instead of failing", args)
				for _, w := range tc.want {
					require.Contains(t, string(out), w, "%v: the error should name %q:\n%s", args, w, lastLine(string(out)))
				}
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestRequestLargerThanTheLog: an otlp receiver that accepts 64 MiB gRPC
// messages in front of an otlp_retry log of 32 MiB (the least its Validate
// allows) would have every request over 32 MiB refused as permanent, which
// clients drop. No component's Validate sees both; the distribution's
// configcheck converter does, so `otlpcol validate` and start both fail,
// naming the two keys. A log large enough passes.
func TestRequestLargerThanTheLog(t *testing.T) {
	bin := harness.Binary(t)
	wal := t.TempDir()
	args := func(maxBytes string) []string {
		return []string{"--config", "testdata/otlp_retry_min.yaml",
			"--set", "exporters::otlp_retry::persistent_queue::directory=" + wal,
			"--set", "exporters::otlp_retry::persistent_queue::max_bytes=" + maxBytes,
			"--set", "receivers::otlp::protocols::grpc::max_recv_msg_size_mib=64"}
	}
	want := []string{
		"exporters::otlp_retry::persistent_queue::max_bytes: the log takes requests of at most 33554408 bytes",
		"receivers::otlp::protocols::grpc::max_recv_msg_size_mib (64) accepts requests of up to 67108864 bytes",
		"raise max_bytes to at least 67108888",
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"validate"}, args("33554432")...)...).CombinedOutput()
	require.Error(t, err, "validate passed:\n%s", out)
	for _, w := range want {
		require.Contains(t, string(out), w, "validate: %s", lastLine(string(out)))
	}

	outStart, started := runUntilReady(t, bin, args("33554432"), "OTLPCOL_TELEMETRY_PORT=0")
	require.False(t, started, "the collector started:\n%s", outStart)
	for _, w := range want {
		require.Contains(t, outStart, w, "start: %s", lastLine(outStart))
	}
	t.Logf("refused: %s", lastLine(outStart))

	out, err = exec.CommandContext(ctx, bin, append([]string{"validate"}, args("67108888")...)...).CombinedOutput()
	require.NoError(t, err, "a log that holds 64 MiB requests:\n%s", out)
}
