package otlpretryexporter

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The wrappers add three things around exporterhelper: with
// persistent_queue the data goes to the write-ahead log (appendToLog), not
// to exporterhelper's queue; a full sending queue spools to
// the dead letter while it has room and refuses (retryable) once it has not
// (see queueFull), and Shutdown first tells the retry
// loops to stop waiting, so the queue's drain cannot hang on a down backend.

type tracesExporter struct {
	exporter.Traces
	e *otlpExporter
}

func (w *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if w.e.wal != nil {
		return w.e.appendToLog(ctx, tracesRequest(td))
	}
	err := w.Traces.ConsumeTraces(ctx, td)
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return w.e.queueFull(ctx, tracesRequest(td), err)
	}
	return err
}

func (w *tracesExporter) Shutdown(ctx context.Context) error {
	w.e.drainThenStop(ctx)
	return w.Traces.Shutdown(ctx)
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
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return w.e.queueFull(ctx, metricsRequest(md), err)
	}
	return err
}

func (w *metricsExporter) Shutdown(ctx context.Context) error {
	w.e.drainThenStop(ctx)
	return w.Metrics.Shutdown(ctx)
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
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return w.e.queueFull(ctx, logsRequest(ld), err)
	}
	return err
}

func (w *logsExporter) Shutdown(ctx context.Context) error {
	w.e.drainThenStop(ctx)
	return w.Logs.Shutdown(ctx)
}
