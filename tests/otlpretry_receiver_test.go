package tests

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter"
	"github.com/otlpcol/otlpcol/tests/harness"
)

// TestOTLPRetryToRealReceiver sends to the collector's own otlpreceiver
// (harness.StartSink) over each protocol and compression, through the
// factory-built otlp_retry exporter with its sending queue. It lives here,
// not in the component's package, because it uses the end-to-end harness.
func TestOTLPRetryToRealReceiver(t *testing.T) {
	sink := harness.StartSink(t)
	f := otlpretryexporter.NewFactory()
	set := exportertest.NewNopSettings(f.Type())
	n := 0
	for _, proto := range []string{otlpretryexporter.ProtocolGRPC, otlpretryexporter.ProtocolHTTP} {
		for _, comp := range []string{"gzip", "zstd", "none"} {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				cfg := f.CreateDefaultConfig().(*otlpretryexporter.Config)
				cfg.Protocol = proto
				cfg.ClientConfig.Endpoint = sink.GRPCEndpoint()
				if proto == otlpretryexporter.ProtocolHTTP {
					cfg.ClientConfig.Endpoint = sink.HTTPEndpoint()
				}
				cfg.ClientConfig.TLS.Insecure = true
				cfg.ClientConfig.Compression = configcompression.Type(comp)
				te, err := f.CreateTraces(context.Background(), set, cfg)
				require.NoError(t, err)
				me, err := f.CreateMetrics(context.Background(), set, cfg)
				require.NoError(t, err)
				le, err := f.CreateLogs(context.Background(), set, cfg)
				require.NoError(t, err)
				for _, c := range []component.Component{te, me, le} {
					require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
				}
				td := otlpretryBatch(byte(10+n), 0, 1500)
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
