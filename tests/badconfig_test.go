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
