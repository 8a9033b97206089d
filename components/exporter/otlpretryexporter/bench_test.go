package otlpretryexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// nopTransport accepts every attempt without a network, so that the
// benchmark measures the delivery path itself.
type nopTransport struct{}

func (nopTransport) export(context.Context, *request) (partial, error) { return partial{}, nil }
func (nopTransport) close() error                                      { return nil }

// BenchmarkDeliveryPath is one batch of 100 spans through everything below
// the queue (placement, retry and breaker, split, the attempt's
// bookkeeping) to a transport that accepts it.
func BenchmarkDeliveryPath(b *testing.B) {
	tt := componenttest.NewTelemetry()
	defer func() { _ = tt.Shutdown(context.Background()) }()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	cfg := fastConfig("127.0.0.1:1")
	e, err := newExporter(cfg, set, "traces")
	if err != nil {
		b.Fatal(err)
	}
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.shutdown(context.Background()) }()
	_ = e.transport.close()
	useTransport(e, nopTransport{})
	td := testTraces(100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.pushTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
}
