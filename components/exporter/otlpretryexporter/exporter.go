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
// honoured, and what is given up on goes to the dead letter, or stays in the
// retry loop (and so in the queue) while there is no room on disk.
type otlpExporter struct {
	cfg    *Config
	set    exporter.Settings
	signal string
	logger *zap.Logger
	tel    *telemetry

	breaker   *circuitbreaker.Breaker
	transport transport
	store     *deadletter.Store // nil: no dead letter
	quar      *deadletter.Store // nil: no quarantine
	wal       *walQueue         // persistent_queue; nil with sending_queue
	host      component.Host

	health      atomic.Int32
	consecutive atomic.Int64
	diskFull    atomic.Bool // the dead letter's and quarantine's last write
	walDiskFull atomic.Bool // the write-ahead log's last append (its own: one store's success does not clear the other's)
	logged      sync.Map    // warning key -> struct{}: conditions already logged at warn

	refuseLoggedAt  atomic.Int64 // unix nanos of the last back-pressure warning
	refusedSinceLog atomic.Int64 // items refused since then

	stopOnce   sync.Once
	stopCh     chan struct{}
	replayKick chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once

	helperShutdown    sync.Once
	helperShutdownErr error

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
	if cb := cfg.CircuitBreaker; cb.Enabled {
		e.breaker = circuitbreaker.New(circuitbreaker.Settings{
			Window:         cb.Window,
			MinAttempts:    cb.MinAttempts,
			FailureRatio:   cb.FailureRatio,
			OpenDuration:   cb.OpenDuration,
			HalfOpenProbes: cb.HalfOpenProbes,
		}, nil, e.onBreakerChange)
	}
	tel, err := newTelemetry(set.TelemetrySettings, signal, gauges{
		circuit:         e.breaker.State,
		deadLetterBytes: func() int64 { return storedBytes(e.store, signal) },
		quarantineBytes: func() int64 { return storedBytes(e.quar, signal) },
		diskFull:        func() bool { return e.diskFull.Load() || e.walDiskFull.Load() },
	})
	if err != nil {
		return nil, err
	}
	e.tel = tel
	return e, nil
}

func (e *otlpExporter) start(ctx context.Context, host component.Host) error {
	e.host = host
	if dir := e.cfg.DeadLetter.Directory; dir != "" {
		store, err := deadletter.Acquire(dir, e.cfg.DeadLetter.MaxBytes, e.cfg.DeadLetter.Fsync)
		if err != nil {
			return fmt.Errorf("dead_letter::directory: %q: %w", dir, err)
		}
		e.store = store
	}
	if dir := e.cfg.quarantineDir(); dir != "" {
		quar, err := deadletter.Acquire(dir, e.cfg.Quarantine.MaxBytes, e.cfg.Quarantine.Fsync)
		if err != nil {
			return fmt.Errorf("quarantine::directory: %q: %w", dir, err)
		}
		e.quar = quar
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
		zap.String("compression", string(e.cfg.compression())), zap.String("dead_letter", e.cfg.DeadLetter.Directory),
		zap.String("quarantine", e.cfg.quarantineDir()))
	if e.store == nil {
		e.logger.Warn("otlp_retry has no dead_letter::directory: batches past their retry budget stay in the sending queue, " +
			"which then refuses (or blocks) new data; an in-memory queue loses them if the process stops meanwhile")
	}
	return nil
}

// beginShutdown makes every retry loop stop waiting: what is still being
// retried is spooled to the dead letter, or handed back to the queue (see
// keep). It runs before exporterhelper drains the queue.
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
		if e.quar != nil {
			e.quar.Release()
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

// storedBytes is what s holds for signal now, -1 without a store.
func storedBytes(s *deadletter.Store, signal string) int64 {
	if s == nil {
		return -1
	}
	return s.BytesOf(signal)
}
