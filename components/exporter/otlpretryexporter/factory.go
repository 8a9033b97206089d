// Package otlpretryexporter implements the otlp_retry exporter: OTLP over
// gRPC or HTTP with level-controlled compression, its own retries (backoff
// with jitter, server throttling honoured, permanent errors never retried),
// a circuit breaker, a dead-letter directory with replay, and the
// collector's sending queue or a write-ahead log in front, built as a chain
// of small stages (sender.go).
package otlpretryexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/metadata"
)

// Defaults (the seed's exporter settings).
const (
	defaultTimeout          = 5 * time.Second
	defaultQueueBytes       = 64 << 20
	defaultBatchSize        = 1_000
	defaultFlushTimeout     = 200 * time.Millisecond
	defaultNumConsumers     = 10
	defaultCompressionLevel = 6
	defaultBreakerWindow    = 10 * time.Second
	defaultMinAttempts      = 20
	defaultFailureRatio     = 0.8
	defaultOpenDuration     = 30 * time.Second
	defaultHalfOpenProbes   = 10
	defaultDeadLetterBytes  = 256 << 20
	defaultQuarantineBytes  = 64 << 20
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
	// Bytes, not items: 10,000 items are 30 ms of traffic at 300k spans/s,
	// while 64 MiB of OTLP protobuf hold seconds of it at any batch size.
	q.Sizer = exporterhelper.RequestSizerTypeBytes
	q.QueueSize = defaultQueueBytes
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
			Enabled:        true,
			Window:         defaultBreakerWindow,
			MinAttempts:    defaultMinAttempts,
			FailureRatio:   defaultFailureRatio,
			OpenDuration:   defaultOpenDuration,
			HalfOpenProbes: defaultHalfOpenProbes,
		},
		DeadLetter: DeadLetterConfig{
			MaxBytes:       defaultDeadLetterBytes,
			Fsync:          true,
			ReplayOnStart:  true,
			ReplayInterval: defaultReplayInterval,
		},
		Quarantine: QuarantineConfig{
			MaxBytes: defaultQuarantineBytes,
			Fsync:    true,
		},
		PersistentQueue: defaultPersistentQueueConfig(),
	}
}

// shellOptions make exporterhelper the component shell around the chain:
// its queue (see helperQueueOptions), our Start and Shutdown, and the
// chain below the queue as its push function.
func shellOptions(cfg *Config, e *otlpExporter) []exporterhelper.Option {
	return append(helperQueueOptions(cfg),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}))
}

// useHelperQueue makes exporterhelper's sending queue the first stage,
// unless the write-ahead log is.
func (e *otlpExporter) useHelperQueue(consume func(ctx context.Context, r *request) error) {
	if e.queue != nil {
		return
	}
	q := e.cfg.QueueConfig
	e.queue = &helperQueue{consume: consume, place: e.place, direct: !q.HasValue() || q.Get().WaitForResult}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, deadletter.Traces)
	if err != nil {
		return nil, err
	}
	inner, err := exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces, shellOptions(c, e)...)
	if err != nil {
		return nil, err
	}
	e.useHelperQueue(func(ctx context.Context, r *request) error { return inner.ConsumeTraces(ctx, r.traces) })
	return &tracesExporter{Traces: inner, e: e}, nil
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, deadletter.Metrics)
	if err != nil {
		return nil, err
	}
	inner, err := exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics, shellOptions(c, e)...)
	if err != nil {
		return nil, err
	}
	e.useHelperQueue(func(ctx context.Context, r *request) error { return inner.ConsumeMetrics(ctx, r.metrics) })
	return &metricsExporter{Metrics: inner, e: e}, nil
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, deadletter.Logs)
	if err != nil {
		return nil, err
	}
	inner, err := exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs, shellOptions(c, e)...)
	if err != nil {
		return nil, err
	}
	e.useHelperQueue(func(ctx context.Context, r *request) error { return inner.ConsumeLogs(ctx, r.logs) })
	return &logsExporter{Logs: inner, e: e}, nil
}
