// Package otlpretryexporter implements the otlp_retry exporter: OTLP over
// gRPC or HTTP with level-controlled compression, its own retry loop
// (backoff with jitter, server throttling honoured, permanent errors never
// retried), a circuit breaker, a dead-letter directory with replay, and the
// collector's sending queue in front.
package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// Defaults (the seed's exporter settings).
const (
	defaultTimeout          = 5 * time.Second
	defaultQueueSize        = 10_000
	defaultBatchSize        = 1_000
	defaultFlushTimeout     = 200 * time.Millisecond
	defaultNumConsumers     = 10
	defaultCompressionLevel = 6
	defaultFailureThreshold = 5
	defaultOpenDuration     = 30 * time.Second
	defaultDeadLetterBytes  = 256 << 20
	defaultReplayInterval   = 30 * time.Second
)

// NewFactory returns the otlp_retry exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func defaultQueueConfig() exporterhelper.QueueBatchConfig {
	q := exporterhelper.NewDefaultQueueConfig()
	q.Sizer = exporterhelper.RequestSizerTypeItems
	q.QueueSize = defaultQueueSize
	q.NumConsumers = defaultNumConsumers
	q.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: defaultFlushTimeout,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      defaultBatchSize,
		MaxSize:      defaultBatchSize,
	})
	return q
}

func createDefaultConfig() component.Config {
	client := configgrpc.NewDefaultClientConfig()
	client.Compression = configcompression.TypeGzip
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = time.Second
	retry.Multiplier = 2
	retry.MaxInterval = 30 * time.Second
	retry.MaxElapsedTime = 300 * time.Second
	return &Config{
		TimeoutConfig:    exporterhelper.TimeoutConfig{Timeout: defaultTimeout},
		QueueConfig:      configoptional.Some(defaultQueueConfig()),
		RetryConfig:      retry,
		ClientConfig:     client,
		Protocol:         ProtocolGRPC,
		CompressionLevel: defaultCompressionLevel,
		CircuitBreaker: CircuitBreakerConfig{
			Enabled:          true,
			FailureThreshold: defaultFailureThreshold,
			OpenDuration:     defaultOpenDuration,
		},
		DeadLetter: DeadLetterConfig{
			MaxBytes:       defaultDeadLetterBytes,
			ReplayOnStart:  true,
			ReplayInterval: defaultReplayInterval,
		},
	}
}

// helperOptions: no exporterhelper retry (the loop is ours) and no overall
// timeout (the per-attempt timeout is ours); the sending queue is kept.
func helperOptions(cfg *Config, e *otlpExporter) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithQueue(cfg.QueueConfig),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, deadletter.Traces)
	if err != nil {
		return nil, err
	}
	inner, err := exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces, helperOptions(c, e)...)
	if err != nil {
		return nil, err
	}
	return &tracesExporter{Traces: inner, e: e}, nil
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, deadletter.Metrics)
	if err != nil {
		return nil, err
	}
	inner, err := exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics, helperOptions(c, e)...)
	if err != nil {
		return nil, err
	}
	return &metricsExporter{Metrics: inner, e: e}, nil
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, deadletter.Logs)
	if err != nil {
		return nil, err
	}
	inner, err := exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs, helperOptions(c, e)...)
	if err != nil {
		return nil, err
	}
	return &logsExporter{Logs: inner, e: e}, nil
}

// The wrappers add two things around exporterhelper: a full queue spools to
// the dead letter while it has room and refuses (retryable) once it has not
// (see queueFull), and Shutdown first tells the retry
// loops to stop waiting, so the queue's drain cannot hang on a down backend.

type tracesExporter struct {
	exporter.Traces
	e *otlpExporter
}

func (w *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	err := w.Traces.ConsumeTraces(ctx, td)
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return w.e.queueFull(ctx, tracesRequest(td), err)
	}
	return err
}

func (w *tracesExporter) Shutdown(ctx context.Context) error {
	w.e.beginShutdown()
	return w.Traces.Shutdown(ctx)
}

type metricsExporter struct {
	exporter.Metrics
	e *otlpExporter
}

func (w *metricsExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	err := w.Metrics.ConsumeMetrics(ctx, md)
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return w.e.queueFull(ctx, metricsRequest(md), err)
	}
	return err
}

func (w *metricsExporter) Shutdown(ctx context.Context) error {
	w.e.beginShutdown()
	return w.Metrics.Shutdown(ctx)
}

type logsExporter struct {
	exporter.Logs
	e *otlpExporter
}

func (w *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	err := w.Logs.ConsumeLogs(ctx, ld)
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return w.e.queueFull(ctx, logsRequest(ld), err)
	}
	return err
}

func (w *logsExporter) Shutdown(ctx context.Context) error {
	w.e.beginShutdown()
	return w.Logs.Shutdown(ctx)
}

// Reasons of otelcol_otlp_retry_refused_items.
const (
	refuseNoDeadLetter    = "no_dead_letter"
	refuseDeadLetterFull  = "dead_letter_full"
	refuseDeadLetterError = "dead_letter_error"
)

// refuseLogEvery bounds the warning logged while the exporter refuses data.
const refuseLogEvery = 30 * time.Second

// queueFull handles a batch the sending queue refused. The batch can still
// be refused, so it is never dropped and never evicts anything: it is
// written to the dead letter if that has room (nil: the data is on disk),
// and otherwise handed back to the caller as the queue's retryable error
// (the receiver answers gRPC Unavailable / HTTP 503 and the client retries),
// counted in refused_items.
func (e *otlpExporter) queueFull(ctx context.Context, r *request, qerr error) error {
	if e.store == nil {
		return e.refuse(ctx, r, refuseNoDeadLetter, qerr)
	}
	body, err := r.marshal()
	if err != nil {
		return e.refuse(ctx, r, refuseDeadLetterError, errors.Join(qerr, err))
	}
	if err := e.store.WriteIfRoom(r.signal, r.items, body); err != nil {
		reason := refuseDeadLetterError
		if errors.Is(err, deadletter.ErrFull) || errors.Is(err, deadletter.ErrTooLarge) {
			reason = refuseDeadLetterFull
		}
		return e.refuse(ctx, r, reason, fmt.Errorf("sending queue full and %w: %w", err, qerr))
	}
	e.tel.deadLetterItems.Add(ctx, int64(r.items), e.tel.signal)
	e.tel.deadLetterBytes.Add(ctx, int64(len(body)), e.tel.signal)
	e.logger.Debug("sending queue full: batch written to the dead letter", zap.Int("items", r.items))
	return nil
}

// refuse counts a refused batch and returns err, which must stay retryable
// (not consumererror.Permanent). It logs at warn at most every refuseLogEvery.
func (e *otlpExporter) refuse(ctx context.Context, r *request, reason string, err error) error {
	e.tel.refusedItems.Add(ctx, int64(r.items), e.tel.refuseReason[reason])
	refused := e.refusedSinceLog.Add(int64(r.items))
	now := e.now().UnixNano()
	last := e.refuseLoggedAt.Load()
	if (last == 0 || now-last >= int64(refuseLogEvery)) && e.refuseLoggedAt.CompareAndSwap(last, now) {
		e.refusedSinceLog.Add(-refused)
		e.logger.Warn("sending queue full: refusing data with a retryable error (back-pressure; the sender retries)",
			zap.String("reason", reason), zap.Int64("items_since_last_warning", refused), zap.Error(err))
	} else {
		e.logger.Debug("sending queue full: batch refused", zap.String("reason", reason), zap.Int("items", r.items))
	}
	return err
}
