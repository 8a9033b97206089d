package otlpretryexporter

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// Settings that would make a bound no bound, or too small for one request,
// are refused with the key and the reason.
func TestLimitsThatAreNoLimits(t *testing.T) {
	for file, want := range map[string]string{
		"invalid_dead_letter_max_bytes_zero.yaml": "dead_letter: max_bytes: must be positive, got 0 (the dead letter is always bounded)",
		"invalid_quarantine_max_bytes_zero.yaml":  "quarantine: max_bytes: must be positive, got 0 (the quarantine is always bounded)",
		"invalid_timeout_zero.yaml":               "timeout: must be positive, got 0s (0 lets one attempt wait for ever)",
		"invalid_initial_interval_zero.yaml":      "retry_on_failure::initial_interval: must be positive, got 0s (0 retries without a pause)",
		"invalid_persistent_queue_num_consumers.yaml": "persistent_queue: num_consumers: must be 1 to 256, got 1000000 " +
			"(each consumer holds a batch of up to 3 MiB in flight)",
		"invalid_sending_queue_num_consumers.yaml": "sending_queue::num_consumers: at most 256, got 1000000 (each consumer holds a batch in flight)",
		"invalid_persistent_queue_max_bytes.yaml": "persistent_queue: max_bytes: at least 33554432 (32 MiB) to hold the largest " +
			"request a receiver accepts, got 1048576",
		"invalid_sending_queue_queue_size.yaml": "sending_queue::queue_size: 10000 bytes with sizer bytes is less than one batch " +
			"(at least 1048576; for a count of items set sizer: items)",
		"invalid_sending_queue_smaller_than_batch.yaml": "sending_queue::queue_size: 2097152 bytes cannot hold one batch of " +
			"batch::max_size 4194304 bytes",
	} {
		t.Run(file, func(t *testing.T) {
			err := loadFile(t, file)
			require.Error(t, err)
			assert.Equal(t, want, err.Error())
		})
	}
}

// Retries switched off need no initial interval; with the write-ahead log
// sending_queue's in-memory settings are not used, so not checked.
func TestLimitsOnlyWhereUsed(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "backend:4317"
	cfg.RetryConfig.Enabled = false
	cfg.RetryConfig.InitialInterval = 0
	cfg.PersistentQueue.Directory = "/var/lib/otlpcol/wal"
	cfg.QueueConfig.Get().QueueSize = 10
	require.NoError(t, cfg.Validate())
}

// The shipped gateway's breaker before window 30s never judged a black
// hole: 10 consumers whose attempts hang for 10 s make 10 attempts a 10 s
// window, under min_attempts 20. It is a warning at start, not a refusal.
func TestBreakerBlindSpotIsNamed(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.TimeoutConfig.Timeout = 10 * time.Second
	cfg.CircuitBreaker.Window = 10 * time.Second
	cfg.CircuitBreaker.MinAttempts = 20
	cfg.PersistentQueue.Directory = t.TempDir()
	cfg.PersistentQueue.NumConsumers = 10
	require.Equal(t, "circuit_breaker::min_attempts: 20 attempts cannot fit in a window of 10s when every attempt hangs "+
		"until timeout (10s) on 10 consumers (persistent_queue::num_consumers; at most 10): a backend that never answers would never "+
		"open the circuit; lengthen circuit_breaker::window or lower min_attempts", cfg.breakerBlindSpot())
	cfg.CircuitBreaker.Window = 30 * time.Second // what configs/gateway.yaml ships
	require.Empty(t, cfg.breakerBlindSpot())
}

// Every shipped config's otlp_retry breaker can judge a backend that never
// answers (no blind spot: the start-up warning above would be logged). The
// configs are read from configs/ as shipped; ${env:...} placeholders take
// their default, or are left out when they have none.
func TestShippedConfigsHaveNoBreakerBlindSpot(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "configs", "*.yaml"))
	require.NoError(t, err)
	found := 0
	for _, path := range files {
		cm, err := confmaptest.LoadConf(path)
		require.NoError(t, err)
		exporters, err := cm.Sub("exporters")
		require.NoError(t, err)
		for key, v := range exporters.ToStringMap() {
			if key != metadata.Type.String() && !strings.HasPrefix(key, metadata.Type.String()+"/") {
				continue
			}
			m, _ := v.(map[string]any)
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, confmap.NewFromStringMap(envDefaults(m)).Unmarshal(cfg), "%s: %s", path, key)
			found++
			assert.Empty(t, cfg.breakerBlindSpot(), "%s: exporters::%s", filepath.Base(path), key)
		}
	}
	require.GreaterOrEqual(t, found, 2, "otlp_retry exporters in configs/ (gateway.yaml, agent-host.yaml)")
}

// envDefaults replaces each "${env:NAME:-default}" string of m by its
// default and drops those without one.
func envDefaults(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			out[k] = envDefaults(x)
		case string:
			if inner, ok := strings.CutPrefix(x, "${env:"); ok {
				if _, def, ok := strings.Cut(strings.TrimSuffix(inner, "}"), ":-"); ok {
					out[k] = def
					if b, err := strconv.ParseBool(def); err == nil {
						out[k] = b // as the collector's resolver types it
					}
				}
				continue
			}
			out[k] = x
		default:
			out[k] = v
		}
	}
	return out
}
