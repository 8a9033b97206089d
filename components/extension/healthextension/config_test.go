package healthextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		name    string
		want    func(*Config)
		wantErr string
	}{
		{name: "", want: func(*Config) {}},
		{name: "custom", want: func(c *Config) {
			c.ServerConfig.NetAddr.Endpoint = "127.0.0.1:9090"
			c.DrainDelay = 0
			c.ReadyWhenDegraded = false
			c.ExporterFailureThreshold = time.Minute
			c.RecoveryDuration = 10 * time.Second
			c.MetricsEndpoint = "127.0.0.1:9999"
		}},
		{name: "url", want: func(c *Config) { c.MetricsEndpoint = "https://metrics.example:9443/custom" }},
		{name: "server", want: nil},
		{name: "typo", wantErr: "unknown keys: drain_dealy"},
		{name: "empty_endpoint", wantErr: "endpoint: must not be empty"},
		{name: "negative_drain", wantErr: "drain_delay: must not be negative"},
		{name: "negative_threshold", wantErr: "exporter_failure_threshold: must not be negative"},
		{name: "negative_recovery", wantErr: "recovery_duration: must not be negative"},
		{name: "ready_when_failing_without_threshold", wantErr: "ready_when_exporter_failing: needs exporter_failure_threshold"},
		{name: "bad_metrics_scheme", wantErr: `metrics_endpoint: scheme "ftp" is not http or https`},
		{name: "bad_metrics_hostport", wantErr: "metrics_endpoint: want host:port or an http URL"},
		{name: "access", want: func(c *Config) {
			c.ServerConfig.NetAddr.Endpoint = "0.0.0.0:8080"
			c.Access.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewIDWithName("bearertokenauth", "health")})
			c.Access.Protected = []string{"status", "traces", "metrics"}
			c.Access.Disabled = []string{"traces"}
		}},
		{name: "access_default_protected", want: func(c *Config) {
			c.Access.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewID("bearertokenauth")})
		}},
		{name: "access_typo", wantErr: "access: decoding failed"},
		{name: "access_unknown_endpoint", wantErr: `access::disabled: unknown endpoint "health" (want status, traces, metrics; /health and /ready are probes and stay open)`},
		{name: "access_protected_without_auth", wantErr: "access::protected: needs access::auth::authenticator"},
	}
	for _, tt := range tests {
		t.Run("health/"+tt.name, func(t *testing.T) {
			id := component.NewIDWithName(metadata.Type, tt.name)
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.want == nil {
				return // decoded and valid: the server settings are confighttp's business
			}
			want := NewFactory().CreateDefaultConfig().(*Config)
			tt.want(want)
			assert.Equal(t, want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, "localhost:8080", cfg.ServerConfig.NetAddr.Endpoint, "loopback unless a config says otherwise")
	assert.False(t, cfg.Access.Auth.HasValue())
	assert.Empty(t, cfg.Access.Disabled)
	assert.Equal(t, 5*time.Second, cfg.DrainDelay)
	assert.True(t, cfg.ReadyWhenDegraded)
	assert.Zero(t, cfg.ExporterFailureThreshold)
	assert.Equal(t, 30*time.Second, cfg.RecoveryDuration)
	assert.Empty(t, cfg.MetricsEndpoint)
	require.NoError(t, confmap.Validate(cfg))
}

func TestMetricsURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8888":          "http://127.0.0.1:8888/metrics",
		"0.0.0.0:8888":            "http://127.0.0.1:8888/metrics",
		":8888":                   "http://127.0.0.1:8888/metrics",
		"[::]:8888":               "http://[::1]:8888/metrics",
		"localhost:8888":          "http://localhost:8888/metrics",
		"http://10.0.0.1:8888":    "http://10.0.0.1:8888/metrics",
		"https://h:1/prom/metric": "https://h:1/prom/metric",
	} {
		got, err := metricsURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	cm := confmap.NewFromStringMap(map[string]any{"drain_dealy": "1s"})
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err := cm.Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "drain_dealy")
}
