package traceregistryprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

func loadConfig(t *testing.T, file string, id component.ID) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		id       component.ID
		expected *Config
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig()},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: &Config{
				MaxTraces:          500,
				IdleTimeout:        5 * time.Second,
				CompletedTTL:       time.Minute,
				MaxCompleted:       1000,
				DegradedRatio:      0.95,
				RecoveryRatio:      0.5,
				Dimensions:         []string{"service.name"},
				MaxDimensionValues: 20,
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "no_memory"),
			expected: func() *Config {
				c := createDefaultConfig()
				c.CompletedTTL, c.MaxCompleted = 0, 0
				return c
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := loadConfig(t, "config.yaml", tt.id)
			assert.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"max_traces", "max_traces: must be in [1, 10000000], got 0"},
		{"max_traces_above", "max_traces: must be in [1, 10000000], got 10000001"},
		{"idle_timeout", "idle_timeout: must be greater than 0"},
		{"completed_ttl", "completed_ttl: must not be negative"},
		{"max_completed", "max_completed: must be in [0, 10000000], got -5"},
		{"max_completed_above", "max_completed: must be in [0, 10000000], got 20000000"},
		{"degraded_ratio", "degraded_ratio: must be in (0, 1]"},
		{"recovery_ratio_above", "recovery_ratio: must be greater than 0 and less than degraded_ratio"},
		{"recovery_ratio_zero", "recovery_ratio: must be greater than 0"},
		{"dimensions", `dimensions: unsupported dimension "http.route"`},
		{"dimensions_twice", `dimensions: "service.name" listed twice`},
		{"max_dimension_values", "max_dimension_values: must be in [1, 1000]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, "invalid.yaml", component.NewIDWithName(metadata.Type, tt.name))
			err := confmap.Validate(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConfigStruct(t *testing.T) {
	assert.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}
