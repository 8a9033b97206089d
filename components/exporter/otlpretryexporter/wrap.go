package otlpretryexporter

import (
	"context"

	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The wrappers add three things around exporterhelper: with
// persistent_queue the data goes to the write-ahead log (appendToLog)
// instead of exporterhelper's queue; a batch the sending
// queue does not take is spooled, refused (retryable) or made to wait (see
// enqueueFailed), and Shutdown first tells the retry loops to stop waiting,
// so the queue's drain cannot hang on a down backend.

type tracesExporter struct {
	exporter.Traces
	e *otlpExporter
}

func (w *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if w.e.wal != nil {
		return w.e.appendToLog(ctx, tracesRequest(td))
	}
	err := w.Traces.ConsumeTraces(ctx, td)
	if err == nil || w.e.sentDirect() {
		return err
	}
	return w.e.enqueueFailed(ctx, tracesRequest(td), err)
}

func (w *tracesExporter) Shutdown(ctx context.Context) error {
	return w.e.shutdownOnce(ctx, w.Traces.Shutdown)
}

type metricsExporter struct {
	exporter.Metrics
	e *otlpExporter
}

func (w *metricsExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if w.e.wal != nil {
		return w.e.appendToLog(ctx, metricsRequest(md))
	}
	err := w.Metrics.ConsumeMetrics(ctx, md)
	if err == nil || w.e.sentDirect() {
		return err
	}
	return w.e.enqueueFailed(ctx, metricsRequest(md), err)
}

func (w *metricsExporter) Shutdown(ctx context.Context) error {
	return w.e.shutdownOnce(ctx, w.Metrics.Shutdown)
}

type logsExporter struct {
	exporter.Logs
	e *otlpExporter
}

func (w *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if w.e.wal != nil {
		return w.e.appendToLog(ctx, logsRequest(ld))
	}
	err := w.Logs.ConsumeLogs(ctx, ld)
	if err == nil || w.e.sentDirect() {
		return err
	}
	return w.e.enqueueFailed(ctx, logsRequest(ld), err)
}

func (w *logsExporter) Shutdown(ctx context.Context) error {
	return w.e.shutdownOnce(ctx, w.Logs.Shutdown)
}

// shutdownOnce first drains the write-ahead log within its budget, then
// tells the retry loops to stop waiting, then shuts
// exporterhelper down once: its retry sender panics on a second Shutdown,
// and a component must survive being shut down twice.
func (e *otlpExporter) shutdownOnce(ctx context.Context, inner func(context.Context) error) error {
	if e.wal != nil && !e.stopping() {
		e.drainWAL(ctx) // export what the log holds while the budget lasts
	}
	e.beginShutdown()
	e.helperShutdown.Do(func() { e.helperShutdownErr = inner(ctx) })
	return e.helperShutdownErr
}
