package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// otlpExporter is one otlp_retry instance for one signal. Its retry loop runs
// inside the push function, behind exporterhelper's sending queue, so that
// every attempt is counted, the server's throttle and the circuit breaker are
// honoured, and what is given up on goes to the dead letter.
type otlpExporter struct {
	cfg    *Config
	set    exporter.Settings
	signal string
	logger *zap.Logger
	tel    *telemetry

	breaker   *circuitbreaker.Breaker
	transport transport
	store     *deadletter.Store
	wal       *walQueue // persistent_queue; nil with sending_queue
	host      component.Host

	health      atomic.Int32
	consecutive atomic.Int64
	loggedPerm  sync.Map // reason -> struct{}: permanent reasons already logged at warn

	refuseLoggedAt  atomic.Int64 // unix nanos of the last back-pressure warning
	refusedSinceLog atomic.Int64 // items refused since then

	stopOnce   sync.Once
	stopCh     chan struct{}
	replayKick chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool
}

func newExporter(cfg *Config, set exporter.Settings, signal string) (*otlpExporter, error) {
	e := &otlpExporter{
		cfg:        cfg,
		set:        set,
		signal:     signal,
		logger:     set.Logger.With(zap.String("signal", signal)),
		stopCh:     make(chan struct{}),
		replayKick: make(chan struct{}, 1),
		now:        time.Now,
	}
	e.sleep = e.defaultSleep
	if cfg.CircuitBreaker.Enabled {
		e.breaker = circuitbreaker.New(cfg.CircuitBreaker.FailureThreshold, cfg.CircuitBreaker.OpenDuration, nil, e.onBreakerChange)
	}
	tel, err := newTelemetry(set.TelemetrySettings, signal, e.breaker.State)
	if err != nil {
		return nil, err
	}
	e.tel = tel
	return e, nil
}

func (e *otlpExporter) start(ctx context.Context, host component.Host) error {
	e.host = host
	if dir := e.cfg.DeadLetter.Directory; dir != "" {
		store, err := deadletter.Acquire(dir, e.cfg.DeadLetter.MaxBytes)
		if err != nil {
			return fmt.Errorf("dead_letter::directory: %q: %w", dir, err)
		}
		e.store = store
	}
	t, err := newClient(ctx, e.cfg, host, e.set.TelemetrySettings, e.tel)
	if err != nil {
		return err
	}
	e.transport = t
	if e.cfg.PersistentQueue.enabled() {
		if err := e.openWAL(); err != nil {
			return err
		}
	}
	if e.store != nil {
		e.wg.Add(1)
		go e.replayLoop()
		if e.cfg.DeadLetter.ReplayOnStart {
			e.kickReplay()
		}
	}
	e.logger.Info("otlp_retry exporter started",
		zap.String("endpoint", e.cfg.ClientConfig.Endpoint), zap.String("protocol", e.cfg.Protocol),
		zap.String("compression", string(e.cfg.compression())), zap.String("dead_letter", e.cfg.DeadLetter.Directory))
	return nil
}

// beginShutdown makes every retry loop stop waiting: what is still being
// retried is spooled to the dead letter (or dropped and counted without
// one). It runs before exporterhelper drains the queue.
func (e *otlpExporter) beginShutdown() {
	e.stopOnce.Do(func() { close(e.stopCh) })
}

func (e *otlpExporter) stopping() bool {
	select {
	case <-e.stopCh:
		return true
	default:
		return false
	}
}

// drainThenStop exports what the write-ahead log holds for up to its drain
// budget, then makes the retry loops stop waiting.
func (e *otlpExporter) drainThenStop(ctx context.Context) {
	if e.wal != nil {
		e.drainWAL(ctx)
	}
	e.beginShutdown()
}

func (e *otlpExporter) shutdown(context.Context) error {
	e.beginShutdown()
	var err error
	e.closeOnce.Do(func() {
		if e.wal != nil {
			err = e.closeWAL()
		}
		e.wg.Wait()
		if e.transport != nil {
			err = errors.Join(err, e.transport.close())
		}
		if e.store != nil {
			e.store.Release()
		}
		e.tel.shutdown()
	})
	return err
}

func (e *otlpExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	return e.push(ctx, tracesRequest(td))
}

func (e *otlpExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	return e.push(ctx, metricsRequest(md))
}

func (e *otlpExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	return e.push(ctx, logsRequest(ld))
}
