package otlpretryexporter

import (
	"context"

	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The wrappers put the queue stage in front of exporterhelper's component
// (which gives Start, Shutdown and its own otelcol_exporter_* telemetry):
// every batch goes to e.queue, and Shutdown drains the queue, tells the
// stages to stop waiting, and only then shuts exporterhelper down, so that
// its queue's drain cannot hang on a down backend.

type tracesExporter struct {
	exporter.Traces
	e *otlpExporter
}

func (w *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return w.e.queue.offer(ctx, tracesRequest(td))
}

func (w *tracesExporter) Shutdown(ctx context.Context) error {
	return w.e.shutdownOnce(ctx, w.Traces.Shutdown)
}

type metricsExporter struct {
	exporter.Metrics
	e *otlpExporter
}

func (w *metricsExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return w.e.queue.offer(ctx, metricsRequest(md))
}

func (w *metricsExporter) Shutdown(ctx context.Context) error {
	return w.e.shutdownOnce(ctx, w.Metrics.Shutdown)
}

type logsExporter struct {
	exporter.Logs
	e *otlpExporter
}

func (w *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return w.e.queue.offer(ctx, logsRequest(ld))
}

func (w *logsExporter) Shutdown(ctx context.Context) error {
	return w.e.shutdownOnce(ctx, w.Logs.Shutdown)
}

// shutdownOnce drains the queue within its budget (the write-ahead log's
// drain_timeout; exporterhelper drains its own queue), tells the stages to
// stop waiting, then shuts exporterhelper down once: a component must
// survive being shut down twice, and exporterhelper's retry sender (see
// keepOnShutdown) panics on a second Shutdown.
func (e *otlpExporter) shutdownOnce(ctx context.Context, inner func(context.Context) error) error {
	if !e.stopping() {
		e.queue.drain(ctx)
	}
	e.beginShutdown()
	e.helperShutdown.Do(func() { e.helperShutdownErr = inner(ctx) })
	return e.helperShutdownErr
}
