package traceregistryprocessor

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/otlpcol/otlpcol/components/pkg/configfuzz"
)

// FuzzConfigUnmarshal decodes arbitrary YAML as the processor's config:
// an error or a config whose Validate does not panic, never a crash.
func FuzzConfigUnmarshal(f *testing.F) {
	configfuzz.Run(f, []string{
		"max_traces: 10000\nidle_timeout: 30s\n",
		"max_traces: 0\n", "max_traces: -5\nidle_timeout: -1s\n",
		"degraded_ratio: 0.9\nrecovery_ratio: 0.8\n", "degraded_ratio: 2\nrecovery_ratio: 3\n",
		"completed_ttl: 5m\nmax_completed: 100\n", "bogus: true\n", "max_traces: [1]\n", "[]",
	}, func() component.Config { return createDefaultConfig() })
}
