// Package admissionextension implements the admission extension: a bound
// on the request bytes (decompressed) the OTLP receivers hold at once,
// enforced before the memory is spent. Receivers use it through their
// middlewares: gRPC streams reserve a message's worth when they open (an
// InTapHandle, which runs before grpc-go reads and decompresses anything)
// and HTTP bodies take bytes as they are read, after decompression but
// before they reach the receiver. What does not fit is refused with a
// retryable answer: gRPC Unavailable with RetryInfo, HTTP 503 with
// Retry-After.
package admissionextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/metadata"
)

const (
	defaultMaxInFlightBytes       = 64 << 20
	defaultStreamReservationBytes = 16 << 20
	defaultStreamReadTimeout      = 10 * time.Second
	defaultRetryAfter             = time.Second
	defaultShutdownGrace          = time.Second
)

// NewFactory returns the admission extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		MaxInFlightBytes:       defaultMaxInFlightBytes,
		StreamReservationBytes: defaultStreamReservationBytes,
		StreamReadTimeout:      defaultStreamReadTimeout,
		RetryAfter:             defaultRetryAfter,
		ShutdownGrace:          defaultShutdownGrace,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newAdmission(cfg.(*Config), set.TelemetrySettings)
}
