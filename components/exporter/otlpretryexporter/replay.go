package otlpretryexporter

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/exporter"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/compress"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// ReplayStats says what Replay sent.
type ReplayStats = deadletter.ReplayStats

// Replay sends every file of the dead-letter directory dir, oldest first, to
// the backend that cfg describes (endpoint, protocol, compression, headers,
// tls; auth extensions are not available outside a running collector), one
// attempt per file under cfg's per-attempt timeout, deleting each file once
// the backend accepted it. It stops at the first failure, leaving that file
// and the newer ones in place. The running exporter does the same by itself
// on start (dead_letter::replay_on_start) and whenever the backend recovers.
func Replay(ctx context.Context, dir string, cfg *Config, set exporter.Settings) (ReplayStats, error) {
	if err := cfg.Validate(); err != nil {
		return ReplayStats{}, err
	}
	var cp *compress.Compressor
	if c := cfg.compression(); c != "" {
		var err error
		if cp, err = compress.New(string(c), cfg.CompressionLevel); err != nil {
			return ReplayStats{}, err
		}
	}
	tel, err := newTelemetry(set.TelemetrySettings, "replay", func() (s circuitbreaker.State) { return s })
	if err != nil {
		return ReplayStats{}, err
	}
	defer tel.shutdown()
	var t transport
	if cfg.Protocol == ProtocolHTTP {
		t, err = newHTTPTransport(ctx, cfg, nil, set.TelemetrySettings, cp, tel)
	} else {
		t, err = newGRPCTransport(ctx, cfg, nil, set.TelemetrySettings, cp, tel)
	}
	if err != nil {
		return ReplayStats{}, err
	}
	defer t.close()
	return deadletter.Replay(ctx, dir, func(ctx context.Context, e deadletter.Entry, body []byte) error {
		r, err := requestFromBody(e.Signal, body)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if cfg.TimeoutConfig.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.TimeoutConfig.Timeout)
			defer cancel()
		}
		_, err = t.export(ctx, r)
		return err
	})
}
