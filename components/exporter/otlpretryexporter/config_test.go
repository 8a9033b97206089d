package otlpretryexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, ProtocolGRPC, cfg.Protocol)
	assert.Equal(t, configcompression.TypeGzip, cfg.ClientConfig.Compression)
	assert.Equal(t, 6, cfg.CompressionLevel)
	assert.Equal(t, 5*time.Second, cfg.TimeoutConfig.Timeout)
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Equal(t, time.Second, cfg.RetryConfig.InitialInterval)
	assert.Equal(t, 2.0, cfg.RetryConfig.Multiplier)
	assert.Equal(t, 30*time.Second, cfg.RetryConfig.MaxInterval)
	assert.Equal(t, 300*time.Second, cfg.RetryConfig.MaxElapsedTime)
	q := cfg.QueueConfig.Get()
	require.NotNil(t, q)
	assert.Equal(t, exporterhelper.RequestSizerTypeBytes, q.Sizer)
	assert.EqualValues(t, 64<<20, q.QueueSize)
	assert.False(t, q.BlockOnOverflow, "otlp_retry blocks by itself where a refusal would be dropped")
	require.NotNil(t, q.Batch.Get())
	assert.EqualValues(t, 1000, q.Batch.Get().MinSize)
	assert.EqualValues(t, 1000, q.Batch.Get().MaxSize)
	cb := cfg.CircuitBreaker
	assert.Equal(t, 10*time.Second, cb.Window)
	assert.Equal(t, 20, cb.MinAttempts)
	assert.Equal(t, 0.8, cb.FailureRatio)
	assert.Equal(t, 10, cb.HalfOpenProbes)
	assert.Equal(t, 30*time.Second, cb.OpenDuration)
	assert.Empty(t, cfg.DeadLetter.Directory)
	assert.True(t, cfg.DeadLetter.Fsync)
	assert.Empty(t, cfg.Quarantine.Directory)
	assert.EqualValues(t, 64<<20, cfg.Quarantine.MaxBytes)
	assert.True(t, cfg.Quarantine.Fsync)
	// The default config only lacks an endpoint.
	assert.ErrorContains(t, confmap.Validate(cfg), "endpoint")
}

func TestConfigFull(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "https://backend.example:4317", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 9, cfg.CompressionLevel)
	assert.Equal(t, 10*time.Second, cfg.TimeoutConfig.Timeout)
	v, ok := cfg.ClientConfig.Headers.Get("api-key")
	require.True(t, ok)
	assert.Equal(t, "secret-key", string(v))
	q := cfg.QueueConfig.Get()
	require.NotNil(t, q.StorageID)
	assert.Equal(t, "file_storage", q.StorageID.String())
	assert.EqualValues(t, 20000, q.QueueSize)
	assert.EqualValues(t, 2000, q.Batch.Get().MaxSize)
	assert.Equal(t, 3.0, cfg.RetryConfig.Multiplier)
	cb := cfg.CircuitBreaker
	assert.Equal(t, 20*time.Second, cb.Window)
	assert.Equal(t, 50, cb.MinAttempts)
	assert.Equal(t, 0.9, cb.FailureRatio)
	assert.Equal(t, 4, cb.HalfOpenProbes)
	assert.Equal(t, 10*time.Second, cb.OpenDuration)
	assert.False(t, cfg.DeadLetter.Fsync)
	assert.Equal(t, "/var/lib/otlpcol/quarantine", cfg.Quarantine.Directory)
	assert.EqualValues(t, 4096, cfg.Quarantine.MaxBytes)
	assert.Equal(t, "/var/lib/otlpcol/dead-letter", cfg.DeadLetter.Directory)
	assert.EqualValues(t, 1048576, cfg.DeadLetter.MaxBytes)
	assert.False(t, cfg.DeadLetter.ReplayOnStart)
}

// TestConfigValidation checks every message through confmap.Validate, the
// walk the collector runs: Config.Validate names top-level keys; each nested
// section's Validate names its fields, and the walk prefixes the section's
// key once; every problem of a section stays on the line that names the
// section. Lines from upstream's own Validate (retry_on_failure, timeout)
// are as v0.161.0 words them.
func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		want string // the whole message; empty: valid
	}{
		{name: ""},
		{name: "full"},
		{name: "http"},
		{name: "bad_protocol", want: `protocol: unknown protocol "thrift" (want grpc or http)`},
		{name: "bad_level", want: "compression_level: 12 is out of range 1-9"},
		{name: "bad_compression", want: `compression: "snappy" is not supported (want gzip, zstd or none)`},
		{name: "negative_timeout", want: "timeout: must be positive, got -1s\n" +
			"timeoutconfig: timeout value must be greater than or equal to 0"},
		{name: "same_quarantine", want: `quarantine::directory: "/tmp/x" is the same directory as dead_letter::directory ("/tmp/x"): each store needs its own directory`},
		{name: "both_queues", want: errBothQueues.Error()},
		{name: "no_endpoint", want: "endpoint: must not be empty"},
		{name: "http_no_scheme", want: `endpoint: protocol http needs a URL starting with http:// or https://, got "backend:4318"`},
		{name: "negative_retry", want: "retry_on_failure: initial_interval value must be greater than or equal to 0"},
		{name: "negative_open", want: "circuit_breaker: open_duration: must be positive, got -5s"},
		{name: "bad_breaker", want: "circuit_breaker: window: must be positive, got 0s; " +
			"min_attempts: must be at least 1, got 0; failure_ratio: must be in (0, 1], got 1.5; " +
			"half_open_probes: must be at least 1, got 0"},
		{name: "breaker_off"},
		{name: "negative_max_bytes", want: "dead_letter: max_bytes: must be positive, got -1 (the dead letter is always bounded)"},
		{name: "bad_dead_letter", want: "dead_letter: max_bytes: must be positive, got -1 (the dead letter is always bounded); " +
			"replay_interval: must not be negative, got -1s"},
		{name: "bad_quarantine", want: "quarantine: max_bytes: must be positive, got -1 (the quarantine is always bounded)"},
		{name: "bad_persistent_queue", want: `persistent_queue: fsync: "sometimes" is not one of always, interval, never; ` +
			"max_bytes: at least 33554432 (32 MiB) to hold the largest request a receiver accepts, got 0; " +
			"num_consumers: must be 1 to 256, got 0 (each consumer holds a batch of up to 3 MiB in flight); " +
			"batch_timeout: must not be negative, got -1s"},
		{name: "persistent_queue_off"},
		{name: "several_sections", want: "endpoint: must not be empty\n" +
			"compression_level: 0 is out of range 1-9\n" +
			"circuit_breaker: open_duration: must be positive, got 0s\n" +
			"quarantine: max_bytes: must be positive, got -5 (the quarantine is always bounded)\n" +
			"persistent_queue: batch_size: must be at least 1, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestSectionErrorsUnwrap(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "backend:4317"
	cfg.PersistentQueue.Directory = "/tmp/wal"
	cfg.PersistentQueue.MaxBytes = 0
	cfg.PersistentQueue.BatchSize = 0
	cfg.QueueConfig.Get().StorageID = &component.ID{}
	err := confmap.Validate(cfg)
	// The cross-section rule stays with Config.Validate and stays matchable.
	assert.ErrorIs(t, err, errBothQueues)
	var se sectionErrors
	require.ErrorAs(t, err, &se)
	assert.Len(t, se, 2)
}

func TestHeadersFromEnvShape(t *testing.T) {
	// `headers: {api-key: ${env:API_KEY}}` arrives as a map after expansion.
	cfg := createDefaultConfig().(*Config)
	conf := confmap.NewFromStringMap(map[string]any{
		"endpoint": "backend:4317",
		"headers":  map[string]any{"api-key": "from-env"},
	})
	require.NoError(t, conf.Unmarshal(cfg))
	v, ok := cfg.ClientConfig.Headers.Get("api-key")
	require.True(t, ok)
	assert.Equal(t, "from-env", string(v))
}
