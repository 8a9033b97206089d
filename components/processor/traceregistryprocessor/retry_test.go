package traceregistryprocessor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

// TestRefusedThenRetriedCountsOnce runs trace_registry, as the factory
// builds it, in front of an exporterhelper exporter whose backend refuses
// the first attempts (retries and queue off, so the refusal reaches the
// client, which retries the same request). Every trace_registry series must
// equal what one successful delivery of the request gives.
func TestRefusedThenRetriedCountsOnce(t *testing.T) {
	request := func() ptrace.Traces {
		return buildTraces(
			span{trace: 1, id: 1, service: "api", start: 0, end: 2 * time.Second},
			span{trace: 1, id: 2, parent: 1, service: "db", err: true, start: time.Second, end: 1500 * time.Millisecond},
			span{trace: 2, id: 1, service: "db", start: 0, end: 300 * time.Millisecond},
			span{trace: 2, id: 2, parent: 1, service: "db"},
			span{trace: 3, id: 5, parent: 4, service: "cache", err: true},
		)
	}
	once := runPipeline(t, 0, request)
	retried := runPipeline(t, 3, request)
	assert.Equal(t, once, retried)
	assert.Equal(t, int64(3), once[metricTraces])
	assert.Equal(t, int64(3), once[metricCompleted])
	assert.Equal(t, int64(2), once[metricFailed])
	assert.Equal(t, int64(5), once[metricTraceSpans+"_sum"])
}

// runPipeline sends request until the pipeline accepts it, with the backend
// refusing the first refusals attempts, waits until every trace completed
// and returns every trace_registry series summed over its labels.
func runPipeline(t *testing.T, refusals int64, request func() ptrace.Traces) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	var calls atomic.Int64
	exp, err := exporterhelper.NewTraces(ctx, exportertest.NewNopSettings(metadata.Type), &struct{}{},
		func(context.Context, ptrace.Traces) error {
			if calls.Add(1) <= refusals {
				return errors.New("backend unavailable")
			}
			return nil
		},
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithQueue(configoptional.None[exporterhelper.QueueBatchConfig]()),
		exporterhelper.WithCapabilities(consumer.Capabilities{}))
	require.NoError(t, err)

	tel := componenttest.NewTelemetry()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig()
	cfg.IdleTimeout = 20 * time.Millisecond
	cfg.Dimensions = []string{dimensionServiceName}
	proc, err := NewFactory().CreateTraces(ctx, set, cfg, exp)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, exp.Start(ctx, host))
	require.NoError(t, proc.Start(ctx, host))
	t.Cleanup(func() {
		require.NoError(t, proc.Shutdown(ctx))
		require.NoError(t, exp.Shutdown(ctx))
		require.NoError(t, tel.Shutdown(ctx))
	})

	// The client: the same request again until it is accepted.
	attempts := int64(0)
	for {
		attempts++
		if proc.ConsumeTraces(ctx, request()) == nil {
			break
		}
		require.Less(t, attempts, refusals+2, "the pipeline refuses more often than the backend")
	}
	require.Equal(t, refusals+1, attempts)

	read := func() map[string]int64 {
		out := map[string]int64{}
		for _, name := range []string{metricTraces, metricActive, metricCompleted, metricFailed, metricEvicted, metricTraceSpans, metricDuration} {
			m, err := tel.GetMetric(name)
			if err != nil {
				continue // a histogram has no points before the first completion
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[name] += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[name] += p.Value
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out[name+"_count"] += int64(p.Count)
					out[name+"_sum"] += p.Sum
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[name+"_count"] += int64(p.Count)
					out[name+"_sum_ms"] += int64(p.Sum * 1000)
				}
			}
		}
		return out
	}
	var got map[string]int64
	require.Eventually(t, func() bool {
		got = read()
		return got[metricActive] == 0 && got[metricCompleted] > 0
	}, 10*time.Second, 10*time.Millisecond)
	return got
}
