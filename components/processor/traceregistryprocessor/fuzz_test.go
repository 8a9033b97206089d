package traceregistryprocessor

import (
	"testing"

	"go.opentelemetry.io/collector/confmap"
	yaml "go.yaml.in/yaml/v3"
)

// FuzzConfigUnmarshal decodes arbitrary YAML as the processor's config:
// an error or a config whose Validate does not panic, never a crash.
func FuzzConfigUnmarshal(f *testing.F) {
	for _, s := range []string{
		"max_traces: 10000\nidle_timeout: 30s\n",
		"max_traces: 0\n", "max_traces: -5\nidle_timeout: -1s\n",
		"degraded_ratio: 0.9\nrecovery_ratio: 0.8\n", "degraded_ratio: 2\nrecovery_ratio: 3\n",
		"completed_ttl: 5m\nmax_completed: 100\n", "bogus: true\n", "max_traces: [1]\n", "[]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw map[string]any
		if err := yaml.Unmarshal(data, &raw); err != nil || raw == nil {
			return
		}
		cfg := createDefaultConfig()
		if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
			return
		}
		_ = cfg.Validate()
	})
}
