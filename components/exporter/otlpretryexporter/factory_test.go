package otlpretryexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
	"github.com/otlpcol/otlpcol/tests/harness"
)

func compressionType(s string) configcompression.Type { return configcompression.Type(s) }

func newTestSettings() exporter.Settings { return exportertest.NewNopSettings(metadata.Type) }

func TestFactoryType(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "otlp_retry", f.Type().String())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))
}

// TestComponentLifecycle is what mdatagen's generated lifecycle test does:
// create, start, shut down twice; and shut down without start.
func TestComponentLifecycle(t *testing.T) {
	f := NewFactory()
	for _, sig := range []string{"traces", "metrics", "logs"} {
		t.Run(sig, func(t *testing.T) {
			create := func() component.Component {
				cfg := f.CreateDefaultConfig().(*Config)
				cfg.ClientConfig.Endpoint = "127.0.0.1:1"
				cfg.DeadLetter.Directory = t.TempDir()
				var c component.Component
				var err error
				switch sig {
				case "traces":
					c, err = f.CreateTraces(context.Background(), newTestSettings(), cfg)
				case "metrics":
					c, err = f.CreateMetrics(context.Background(), newTestSettings(), cfg)
				default:
					c, err = f.CreateLogs(context.Background(), newTestSettings(), cfg)
				}
				require.NoError(t, err)
				return c
			}
			c := create()
			require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, c.Shutdown(context.Background()))
			require.NoError(t, c.Shutdown(context.Background()))
			require.NoError(t, create().Shutdown(context.Background()))
		})
	}
}

// TestRealReceiverBothProtocols sends to the collector's own otlpreceiver
// (harness.StartSink) over each protocol and compression, through the
// factory-built exporter with its sending queue.
func TestRealReceiverBothProtocols(t *testing.T) {
	sink := harness.StartSink(t)
	f := NewFactory()
	n := 0
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		for _, comp := range []string{"gzip", "zstd", "none"} {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				cfg := f.CreateDefaultConfig().(*Config)
				cfg.Protocol = proto
				cfg.ClientConfig.Endpoint = sink.GRPCEndpoint()
				if proto == ProtocolHTTP {
					cfg.ClientConfig.Endpoint = sink.HTTPEndpoint()
				}
				cfg.ClientConfig.TLS.Insecure = true
				cfg.ClientConfig.Compression = compressionType(comp)
				te, err := f.CreateTraces(context.Background(), newTestSettings(), cfg)
				require.NoError(t, err)
				me, err := f.CreateMetrics(context.Background(), newTestSettings(), cfg)
				require.NoError(t, err)
				le, err := f.CreateLogs(context.Background(), newTestSettings(), cfg)
				require.NoError(t, err)
				for _, c := range []component.Component{te, me, le} {
					require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
				}
				// Distinct span IDs per subtest.
				td := testTraces(1500)
				spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
				for i := 0; i < spans.Len(); i++ {
					id := spans.At(i).SpanID()
					id[0] = byte(10 + n)
					spans.At(i).SetSpanID(id)
				}
				n++
				before := sink.SpanCount()
				require.NoError(t, te.ConsumeTraces(context.Background(), td))
				md := pmetric.NewMetrics()
				g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
				g.SetName("queue_depth")
				g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(3)
				require.NoError(t, me.ConsumeMetrics(context.Background(), md))
				ld := plog.NewLogs()
				ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
				mBefore, lBefore := sink.MetricPoints(), sink.LogRecords()
				require.NoError(t, le.ConsumeLogs(context.Background(), ld))
				// Shutdown drains the queue.
				for _, c := range []component.Component{te, me, le} {
					require.NoError(t, c.Shutdown(context.Background()))
				}
				assert.Equal(t, before+1500, sink.SpanCount())
				assert.Equal(t, mBefore+1, sink.MetricPoints())
				assert.Equal(t, lBefore+1, sink.LogRecords())
				assert.Zero(t, sink.Duplicates())
			})
		}
	}
}

// TestShutdownWhileRetryingSpools: a down backend, a long retry budget;
// Shutdown returns promptly and what was being retried is on disk.
func TestShutdownWhileRetryingSpools(t *testing.T) {
	srv := startGRPCServer(t)
	script := make([]grpcAnswer, 1000)
	for i := range script {
		script[i] = grpcAnswer{err: unavailable()}
	}
	srv.setScript(script...)
	dir := t.TempDir()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = srv.addr
	cfg.ClientConfig.TLS.Insecure = true
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.DeadLetter.Directory = dir
	exp, err := f.CreateTraces(context.Background(), newTestSettings(), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeTraces(context.Background(), testTraces(1000)))
	require.Eventually(t, func() bool { return srv.Calls() >= 2 }, 10*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, ctx.Err(), "shutdown used its whole timeout")
	files, _ := filepath.Glob(filepath.Join(dir, "*.traces.pb"))
	require.Len(t, files, 1)
	assert.Contains(t, filepath.Base(files[0]), "-1000.traces.pb")
}
