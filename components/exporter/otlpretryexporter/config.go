package otlpretryexporter

import (
	"errors"
	"fmt"
	"path/filepath"
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
	// QueueConfig is the collector's sending queue: by default 64 MiB
	// (sizer bytes) cut into batches of 1000 items; `storage` makes it
	// persistent. block_on_overflow is otlp_retry's own (see README).
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
	// CircuitBreaker stops sending while the failure rate is high.
	CircuitBreaker CircuitBreakerConfig `mapstructure:"circuit_breaker"`
	// DeadLetter spools what the exporter gives up on to disk.
	DeadLetter DeadLetterConfig `mapstructure:"dead_letter"`
	// Quarantine keeps what the backend refuses as invalid.
	Quarantine QuarantineConfig `mapstructure:"quarantine"`
	// PersistentQueue is otlp_retry's own write-ahead log; when its
	// directory is set it replaces sending_queue.
	PersistentQueue PersistentQueueConfig `mapstructure:"persistent_queue"`

	_ struct{}
}

// CircuitBreakerConfig configures the circuit breaker.
type CircuitBreakerConfig struct {
	// Enabled turns the breaker on (default true).
	Enabled bool `mapstructure:"enabled"`
	// Window is the sliding window the failure rate is taken over (default 10s).
	Window time.Duration `mapstructure:"window"`
	// MinAttempts is how many attempts the window must hold before the rate
	// can open the circuit (default 20).
	MinAttempts int `mapstructure:"min_attempts"`
	// FailureRatio opens the circuit when failed/attempts in the window
	// reaches it (default 0.8: a backend failing half the time stays in use).
	FailureRatio float64 `mapstructure:"failure_ratio"`
	// OpenDuration is how long the circuit stays open before probing
	// (default 30s).
	OpenDuration time.Duration `mapstructure:"open_duration"`
	// HalfOpenProbes is how many attempts the half-open circuit lets through;
	// one success closes it, that many failures in a row open it again
	// (default 10).
	HalfOpenProbes int `mapstructure:"half_open_probes"`

	_ struct{}
}

// DeadLetterConfig configures the dead-letter directory.
type DeadLetterConfig struct {
	// Directory receives one OTLP protobuf file per batch given up on. Empty
	// (the default) disables the dead letter: such batches are dropped and counted.
	Directory string `mapstructure:"directory"`
	// MaxBytes bounds the directory (default 256 MiB). When it is reached
	// nothing is removed: batches stay in the sending queue, which fills and
	// refuses new data with a retryable error.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// Fsync flushes every file and the directory after each rename
	// (default true), so that spooled data survives a power loss.
	Fsync bool `mapstructure:"fsync"`
	// ReplayOnStart replays the directory, oldest first, when the exporter
	// starts (default true). Files are also replayed after the backend
	// accepts data again.
	ReplayOnStart bool `mapstructure:"replay_on_start"`
	// ReplayInterval is how often a non-empty directory is retried while the
	// circuit is closed, and how long the circuit stays open after the
	// backend refused the credentials (default 30s).
	ReplayInterval time.Duration `mapstructure:"replay_interval"`

	_ struct{}
}

// QuarantineConfig configures the quarantine directory: batches the backend
// refused as invalid (HTTP 400/413, gRPC InvalidArgument), kept for
// inspection and never replayed.
type QuarantineConfig struct {
	// Directory receives one OTLP protobuf file per refused batch. Empty (the
	// default) means dead_letter::directory with "-quarantine" appended (a
	// sibling, on the same volume), or, without a dead letter, no
	// quarantine: refused batches are then dropped and counted in
	// dropped_items{reason="rejected"}.
	Directory string `mapstructure:"directory"`
	// MaxBytes bounds the directory (default 64 MiB); once full, refused
	// batches are dropped and counted (dropped_items{reason="rejected"}).
	MaxBytes int64 `mapstructure:"max_bytes"`
	// Fsync as for dead_letter (default true).
	Fsync bool `mapstructure:"fsync"`

	_ struct{}
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
	_ confmap.Validator = (*CircuitBreakerConfig)(nil)
	_ confmap.Validator = (*DeadLetterConfig)(nil)
	_ confmap.Validator = (*QuarantineConfig)(nil)
	_ confmap.Validator = (*PersistentQueueConfig)(nil)
)

// Validate checks the top-level keys and the rules that span sections; each
// section checks itself in its own Validate, which confmap.Validate (and so
// the collector) calls. Errors name the YAML key.
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
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.TimeoutConfig.Timeout))
	}
	errs = append(errs, c.limitErrors()...)
	errs = append(errs, checkStateDirs(c.stateDirs())...)
	if c.PersistentQueue.enabled() && c.QueueConfig.HasValue() && c.QueueConfig.Get().StorageID != nil {
		errs = append(errs, errBothQueues)
	}
	return errors.Join(errs...)
}

// Validate checks circuit_breaker; confmap.Validate prefixes the section key.
func (c *CircuitBreakerConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be positive, got %s", c.Window))
	}
	if c.MinAttempts < 1 {
		errs = append(errs, fmt.Errorf("min_attempts: must be at least 1, got %d", c.MinAttempts))
	}
	if c.FailureRatio <= 0 || c.FailureRatio > 1 {
		errs = append(errs, fmt.Errorf("failure_ratio: must be in (0, 1], got %v", c.FailureRatio))
	}
	if c.HalfOpenProbes < 1 {
		errs = append(errs, fmt.Errorf("half_open_probes: must be at least 1, got %d", c.HalfOpenProbes))
	}
	if c.OpenDuration <= 0 {
		errs = append(errs, fmt.Errorf("open_duration: must be positive, got %s", c.OpenDuration))
	}
	return joinSection(errs)
}

// Validate checks dead_letter; confmap.Validate prefixes the section key.
func (c *DeadLetterConfig) Validate() error {
	var errs []error
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be positive, got %d (the dead letter is always bounded)", c.MaxBytes))
	}
	if c.ReplayInterval < 0 {
		errs = append(errs, fmt.Errorf("replay_interval: must not be negative, got %s", c.ReplayInterval))
	}
	return joinSection(errs)
}

// Validate checks quarantine; confmap.Validate prefixes the section key.
func (c *QuarantineConfig) Validate() error {
	if c.MaxBytes <= 0 {
		return fmt.Errorf("max_bytes: must be positive, got %d (the quarantine is always bounded)", c.MaxBytes)
	}
	return nil
}

// sectionErrors is a nested section's problems on one line. confmap.Validate
// prefixes the error of a section's Validate with the section's key
// ("circuit_breaker: "), and errors.Join's lines after the first would lose
// that prefix, leaving a bare "max_bytes" that three sections have.
type sectionErrors []error

func (e sectionErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e sectionErrors) Unwrap() []error { return e }

// joinSection is nil without errors, the error itself for one, and a
// sectionErrors for more.
func joinSection(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return sectionErrors(errs)
}

// compression is the effective compression ("" means none).
func (c *Config) compression() configcompression.Type {
	if c.ClientConfig.Compression == compressionNone {
		return ""
	}
	return c.ClientConfig.Compression
}

// quarantineDir is the effective quarantine directory ("" for none).
func (c *Config) quarantineDir() string {
	if c.Quarantine.Directory != "" {
		return c.Quarantine.Directory
	}
	if d := c.DeadLetter.Directory; d != "" {
		return filepath.Clean(d) + "-quarantine"
	}
	return ""
}
