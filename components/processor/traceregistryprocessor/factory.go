// Package traceregistryprocessor implements the trace_registry processor: it
// passes spans on unchanged and keeps a bounded registry of live traces, with
// trace-level metrics, health reporting and a lookup by trace ID.
package traceregistryprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otlpcol/otlpcol/components/processor/traceregistryprocessor/internal/metadata"
)

// NewFactory returns the trace_registry processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newTraceRegistry(set.TelemetrySettings, set.ID, cfg.(*Config), time.Now, next)
	if err != nil {
		return nil, err
	}
	// The helper keeps the processor's standard telemetry; the registry sits
	// between it and next, so that it sees what next answered.
	counting, err := consumer.NewTraces(p.consumeTraces)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, counting, passThrough,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}

func passThrough(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) { return td, nil }
