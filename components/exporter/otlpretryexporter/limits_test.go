package otlpretryexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
