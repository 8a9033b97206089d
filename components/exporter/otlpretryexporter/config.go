package otlpretryexporter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// compressionNone is configcompression's "none" (unexported there).
const compressionNone configcompression.Type = "none"

// Protocols the exporter speaks.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// Config is the otlp_retry exporter's configuration. The keys shared with
// the upstream `otlp` exporter (endpoint, tls, headers, compression, auth,
// keepalive, timeout, sending_queue, retry_on_failure) keep their names and
// types, so `otlp:` can be renamed to `otlp_retry:` in a working config.
type Config struct {
	// TimeoutConfig is the per-attempt timeout (`timeout`, default 5s). The
	// overall budget of one batch is retry_on_failure::max_elapsed_time.
	TimeoutConfig exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is the collector's sending queue; sizer items, queue_size
	// 10000 and batches of 1000 items by default; `storage` makes it persistent.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is the backoff of the exporter's own retry loop.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// ClientConfig holds endpoint, tls, headers, compression, auth and the
	// gRPC-only settings. With protocol http, endpoint (a base URL), tls,
	// headers and auth are used to build a confighttp client.
	ClientConfig configgrpc.ClientConfig `mapstructure:",squash"`

	// Protocol is `grpc` (default) or `http` (OTLP/HTTP protobuf).
	Protocol string `mapstructure:"protocol"`
	// CompressionLevel is the gzip level, 1 (fastest) to 9 (smallest); default 6.
	CompressionLevel int `mapstructure:"compression_level"`
	// CircuitBreaker stops sending after consecutive failed attempts.
	CircuitBreaker CircuitBreakerConfig `mapstructure:"circuit_breaker"`
	// DeadLetter spools what the exporter gives up on to disk.
	DeadLetter DeadLetterConfig `mapstructure:"dead_letter"`
	// PersistentQueue is otlp_retry's own write-ahead log; when its
	// directory is set it replaces sending_queue.
	PersistentQueue PersistentQueueConfig `mapstructure:"persistent_queue"`

	_ struct{}
}

// CircuitBreakerConfig configures the circuit breaker.
type CircuitBreakerConfig struct {
	// Enabled turns the breaker on (default true).
	Enabled bool `mapstructure:"enabled"`
	// FailureThreshold is the number of consecutive failed attempts that
	// opens the circuit (default 5).
	FailureThreshold int `mapstructure:"failure_threshold"`
	// OpenDuration is how long the circuit stays open before one probe is
	// let through (default 30s).
	OpenDuration time.Duration `mapstructure:"open_duration"`

	_ struct{}
}

// DeadLetterConfig configures the dead-letter directory.
type DeadLetterConfig struct {
	// Directory receives one OTLP protobuf file per batch given up on. Empty
	// (the default) disables the dead letter: such batches are dropped and counted.
	Directory string `mapstructure:"directory"`
	// MaxBytes bounds the directory; the oldest files are removed first
	// (default 256 MiB).
	MaxBytes int64 `mapstructure:"max_bytes"`
	// ReplayOnStart replays the directory, oldest first, when the exporter
	// starts (default true). Files are also replayed after the backend
	// accepts data again.
	ReplayOnStart bool `mapstructure:"replay_on_start"`
	// ReplayInterval is how often a non-empty directory is retried while the
	// circuit is closed (default 30s).
	ReplayInterval time.Duration `mapstructure:"replay_interval"`

	_ struct{}
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

// Validate checks the configuration; errors name the YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must not be empty"))
	}
	switch c.Protocol {
	case ProtocolGRPC, ProtocolHTTP:
	default:
		errs = append(errs, fmt.Errorf("protocol: unknown protocol %q (want grpc or http)", c.Protocol))
	}
	if c.Protocol == ProtocolHTTP && !strings.HasPrefix(c.ClientConfig.Endpoint, "http://") &&
		!strings.HasPrefix(c.ClientConfig.Endpoint, "https://") && c.ClientConfig.Endpoint != "" {
		errs = append(errs, fmt.Errorf("endpoint: protocol http needs a URL starting with http:// or https://, got %q", c.ClientConfig.Endpoint))
	}
	switch c.ClientConfig.Compression {
	case configcompression.TypeGzip, configcompression.TypeZstd, compressionNone, "":
	default:
		errs = append(errs, fmt.Errorf("compression: %q is not supported (want gzip, zstd or none)", c.ClientConfig.Compression))
	}
	if c.CompressionLevel < 1 || c.CompressionLevel > 9 {
		errs = append(errs, fmt.Errorf("compression_level: %d is out of range 1-9", c.CompressionLevel))
	}
	if c.TimeoutConfig.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must not be negative, got %s", c.TimeoutConfig.Timeout))
	}
	r := c.RetryConfig
	if r.InitialInterval < 0 || r.MaxInterval < 0 || r.MaxElapsedTime < 0 || r.RandomizationFactor < 0 || r.Multiplier < 0 {
		errs = append(errs, errors.New("retry_on_failure: intervals, multiplier and randomization_factor must not be negative"))
	}
	if r.Enabled && r.Multiplier != 0 && r.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("retry_on_failure::multiplier: must be at least 1, got %v", r.Multiplier))
	}
	if r.Enabled && r.RandomizationFactor > 1 {
		errs = append(errs, fmt.Errorf("retry_on_failure::randomization_factor: must be at most 1, got %v", r.RandomizationFactor))
	}
	if c.CircuitBreaker.Enabled {
		if c.CircuitBreaker.FailureThreshold < 1 {
			errs = append(errs, fmt.Errorf("circuit_breaker::failure_threshold: must be at least 1, got %d", c.CircuitBreaker.FailureThreshold))
		}
		if c.CircuitBreaker.OpenDuration <= 0 {
			errs = append(errs, fmt.Errorf("circuit_breaker::open_duration: must be positive, got %s", c.CircuitBreaker.OpenDuration))
		}
	}
	if c.DeadLetter.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("dead_letter::max_bytes: must not be negative, got %d", c.DeadLetter.MaxBytes))
	}
	if c.DeadLetter.ReplayInterval < 0 {
		errs = append(errs, fmt.Errorf("dead_letter::replay_interval: must not be negative, got %s", c.DeadLetter.ReplayInterval))
	}
	errs = append(errs, c.PersistentQueue.validate()...)
	if c.PersistentQueue.enabled() && c.QueueConfig.HasValue() && c.QueueConfig.Get().StorageID != nil {
		errs = append(errs, errBothQueues)
	}
	return errors.Join(errs...)
}

// compression is the effective compression ("" means none).
func (c *Config) compression() configcompression.Type {
	if c.ClientConfig.Compression == compressionNone {
		return ""
	}
	return c.ClientConfig.Compression
}
