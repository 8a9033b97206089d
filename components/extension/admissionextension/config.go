package admissionextension

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// Config is the admission extension's configuration.
type Config struct {
	// MaxInFlightBytes is how many request bytes, counted decompressed,
	// every receiver naming this extension in its middlewares may hold at
	// once. A request that does not fit is refused (retryable) before its
	// memory is spent.
	MaxInFlightBytes int64 `mapstructure:"max_in_flight_bytes"`
	// StreamReservationBytes is what a gRPC stream takes from the budget
	// when it opens: its message's size is unknown until grpc-go has read
	// and decompressed it, so the stream reserves the largest message the
	// receiver takes (its max_recv_msg_size_mib). Once the message is
	// decoded the stream keeps only its real size until the call ends.
	StreamReservationBytes int64 `mapstructure:"stream_reservation_bytes"`
	// StreamReadTimeout cancels a gRPC stream whose message has not arrived
	// this long after the stream opened (a stalled or trickling client),
	// which gives back its reservation.
	StreamReadTimeout time.Duration `mapstructure:"stream_read_timeout"`
	// RetryAfter is the wait a refusal asks of the client (gRPC RetryInfo,
	// HTTP Retry-After), in whole seconds.
	RetryAfter time.Duration `mapstructure:"retry_after"`
	// ShutdownGrace is how long requests still arriving when shutdown's
	// drain is over (the health extension's drain_delay; at once without
	// one) may go on before they are cut off: HTTP bodies still being
	// read fail (the client sees 503 with Retry-After, then the
	// connection closes) and gRPC streams whose message has not arrived
	// are cancelled. Without it a slow client holds the shutdown up until
	// its read timeout. Requests already read are left to finish.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate reports every problem at once, each with its key.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxInFlightBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_in_flight_bytes: must be positive, got %d", c.MaxInFlightBytes))
	}
	if c.StreamReservationBytes <= 0 {
		errs = append(errs, fmt.Errorf("stream_reservation_bytes: must be positive, got %d", c.StreamReservationBytes))
	} else if c.MaxInFlightBytes > 0 && c.StreamReservationBytes > c.MaxInFlightBytes {
		errs = append(errs, fmt.Errorf("stream_reservation_bytes: %d is more than max_in_flight_bytes %d, so no gRPC request would ever be admitted",
			c.StreamReservationBytes, c.MaxInFlightBytes))
	}
	if c.StreamReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("stream_read_timeout: must be positive, got %s", c.StreamReadTimeout))
	}
	if c.RetryAfter < time.Second || c.RetryAfter%time.Second != 0 {
		errs = append(errs, fmt.Errorf("retry_after: must be a whole number of seconds, at least 1s (Retry-After counts seconds), got %s", c.RetryAfter))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("shutdown_grace: must not be negative, got %s", c.ShutdownGrace))
	}
	return errors.Join(errs...)
}
