package otlpretryexporter

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/compress"
)

// newClient builds the compressor and the transport cfg describes. It is the
// one place that does, for the running exporter (start) and for Replay.
// host may be nil (no auth extensions outside a running collector).
func newClient(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings, tel *telemetry) (transport, error) {
	var cp *compress.Compressor
	if c := cfg.compression(); c != "" {
		var err error
		if cp, err = compress.New(string(c), cfg.CompressionLevel); err != nil {
			return nil, fmt.Errorf("compression: %w", err)
		}
		cp.OnCompressed = func(in, out int) { tel.bytes(context.Background(), int64(in), int64(out)) }
	}
	if cfg.Protocol == ProtocolHTTP {
		t, err := newHTTPTransport(ctx, cfg, host, set, cp, tel)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	t, err := newGRPCTransport(ctx, cfg, host, set, cp, tel)
	if err != nil {
		return nil, err
	}
	return t, nil
}
