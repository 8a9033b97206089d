// Package configfuzz is the body every in-house component's
// FuzzConfigUnmarshal shares: arbitrary YAML decoded as the component's
// config the way the collector decodes a user's file, then validated
// (nested sections included). It must return an error or pass, never panic.
package configfuzz

import (
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	yaml "go.yaml.in/yaml/v3"
)

// Run fuzzes newConfig's config type from the seeds.
func Run(f *testing.F, seeds []string, newConfig func() component.Config) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw map[string]any
		if err := yaml.Unmarshal(data, &raw); err != nil || raw == nil {
			return
		}
		cfg := newConfig()
		if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
			return
		}
		_ = confmap.Validate(cfg)
	})
}
