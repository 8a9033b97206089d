package guardedfilestorage

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

	"github.com/otlpcol/otlpcol/components/extension/guardedfilestorage/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

func TestDefaultConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.CheckTimeout)
	assert.Equal(t, time.Second, cfg.Timeout, "upstream's defaults are kept")
	assert.False(t, cfg.FSync)
}

func TestUpstreamKeysUnchanged(t *testing.T) {
	cfg, err := loadConfig(t, "queue")
	require.NoError(t, err)
	assert.Equal(t, "/tmp", cfg.Directory)
	assert.True(t, cfg.CreateDirectory)
	assert.True(t, cfg.FSync)
	assert.Equal(t, 2*time.Second, cfg.Timeout)
	assert.Equal(t, 30*time.Second, cfg.CheckTimeout)
	assert.True(t, cfg.Compaction.OnStart)
}

func TestInvalidConfig(t *testing.T) {
	for name, want := range map[string]string{
		"no_timeout":        "check_timeout must be positive",
		"negative_max_size": "max size cannot be less than 0",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}
