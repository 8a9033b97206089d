package otlpretryexporter

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

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

// nopTraceServer is a gRPC trace backend that accepts everything.
type nopTraceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	calls atomic.Int64
}

func (s *nopTraceServer) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.calls.Add(1)
	return ptraceotlp.NewExportResponse(), nil
}

// BenchmarkWALSmallRequests is requests of 10 spans from 8 clients through
// the write-ahead log (fsync always, as shipped), gzip, to a real gRPC
// server in the process, with batch_timeout 0 (what the log holds leaves at
// once) and the default 50ms. An op is one request. The disk's latency sets
// the pace, so cpu-ns/span (the process's user+system CPU, server
// included) is the figure to compare, with exports/op.
func BenchmarkWALSmallRequests(b *testing.B) {
	for _, timeout := range []time.Duration{0, defaultWALBatchTimeout} {
		b.Run("batch_timeout="+timeout.String(), func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := grpc.NewServer()
			backend := &nopTraceServer{}
			ptraceotlp.RegisterGRPCServer(srv, backend)
			go func() { _ = srv.Serve(l) }()
			defer srv.Stop()
			cfg := fastConfig(l.Addr().String())
			cfg.PersistentQueue.Directory = b.TempDir()
			cfg.PersistentQueue.Fsync = "always"
			cfg.PersistentQueue.BatchTimeout = timeout
			tt := componenttest.NewTelemetry()
			defer func() { _ = tt.Shutdown(context.Background()) }()
			set := exportertest.NewNopSettings(metadata.Type)
			set.TelemetrySettings = tt.NewTelemetrySettings()
			exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = exp.Shutdown(context.Background()) }()
			te := &testExporter{tel: tt}
			sent := func() int64 { return te.counter(b, "otelcol_otlp_retry_sent_items") }
			b.ReportAllocs()
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				td := testTraces(10)
				for pb.Next() {
					if err := exp.ConsumeTraces(context.Background(), td); err != nil {
						b.Error(err)
						return
					}
				}
			})
			want := int64(b.N) * 10
			for sent() < want {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(want), "cpu-ns/span")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/span")
			b.ReportMetric(float64(backend.calls.Load())/float64(b.N), "exports/op")
		})
	}
}
