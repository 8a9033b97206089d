package admissionextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id   component.ID
		want *Config
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: &Config{
			MaxInFlightBytes:       128 << 20,
			StreamReservationBytes: 8 << 20,
			StreamReadTimeout:      5 * time.Second,
			RetryAfter:             2 * time.Second,
			ShutdownGrace:          3 * time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			require.Equal(t, tt.want, cfg)
		})
	}
}

// TestValidateNamesEveryKey: every problem at once, each with its key.
func TestValidateNamesEveryKey(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "invalid.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, cm.Unmarshal(cfg))
	err = confmap.Validate(cfg)
	require.Error(t, err)
	for _, key := range []string{"max_in_flight_bytes", "stream_reservation_bytes", "stream_read_timeout", "retry_after", "shutdown_grace"} {
		require.ErrorContains(t, err, key+":")
	}
	c := createDefaultConfig().(*Config)
	c.StreamReservationBytes = c.MaxInFlightBytes + 1
	require.ErrorContains(t, c.Validate(), "no gRPC request would ever be admitted")
}
