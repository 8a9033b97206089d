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
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/ledger"
)

// otlpExporter is one otlp_retry instance for one signal: the chain of
// stages (sender.go) and what they share: config, telemetry, the breaker,
// the health state, the shutdown signal and the injected clock.
type otlpExporter struct {
	cfg    *Config
	set    exporter.Settings
	signal string
	logger *zap.Logger
	tel    *telemetry

	queue     queue      // the first stage
	place     *placement // the stage under it: the chain below the queue
	breaker   *circuitbreaker.Breaker
	transport transport
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

	led ledgerState // the conservation ledger (ledger.go)

	claims []func() // releases of the state directories claimed at start (statedirs.go)

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
	e.place = &placement{e: e, block: cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().BlockOnOverflow,
		backoff: newFileBackoff(e.replayInterval())}
	e.led.l = ledger.New(e.measurePending)
	e.led.atPush = !cfg.PersistentQueue.enabled() &&
		(!cfg.QueueConfig.HasValue() || cfg.QueueConfig.Get().WaitForResult || cfg.QueueConfig.Get().StorageID != nil)
	e.place.next = &retrySender{e: e, next: &splitSender{top: e.place, next: &attemptSender{e: e}, quarantine: e.place.quarantine}}
	if cfg.PersistentQueue.enabled() {
		e.queue = &walQueue{e: e, place: e.place}
	}
	tel, err := newTelemetry(set.TelemetrySettings, signal, gauges{
		circuit:         e.breaker.State,
		deadLetterBytes: func() int64 { return storedBytes(e.place.store, signal) },
		quarantineBytes: func() int64 { return storedBytes(e.place.quar, signal) },
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
	if msg := e.cfg.breakerBlindSpot(); msg != "" {
		e.logger.Warn(msg)
	}
	if err := e.claimStateDirs(); err != nil {
		return err
	}
	if dir := e.cfg.DeadLetter.Directory; dir != "" {
		store, err := deadletter.Acquire(dir, e.cfg.DeadLetter.MaxBytes, e.cfg.DeadLetter.Fsync)
		if err != nil {
			return fmt.Errorf("dead_letter::directory: %q: %w", dir, err)
		}
		e.place.store = store
	}
	if dir := e.cfg.quarantineDir(); dir != "" {
		quar, err := deadletter.Acquire(dir, e.cfg.Quarantine.MaxBytes, e.cfg.Quarantine.Fsync)
		if err != nil {
			return fmt.Errorf("quarantine::directory: %q: %w", dir, err)
		}
		e.place.quar = quar
	}
	t, err := newClient(ctx, e.cfg, host, e.set.TelemetrySettings, e.tel)
	if err != nil {
		return err
	}
	e.transport = t
	if _, ok := e.queue.(*walQueue); !ok {
		e.restoreLedger(nil) // the write-ahead log restores it as it opens
	}
	if e.queue != nil {
		if err := e.queue.start(); err != nil {
			return err
		}
	}
	if err := e.registerLedger(); err != nil {
		return err
	}
	if e.place.store != nil {
		e.place.replayable.Store(true) // what a previous run left
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
	if e.place.store == nil {
		e.logger.Warn("otlp_retry has no dead_letter::directory: batches past their retry budget stay in the sending queue, " +
			"which then refuses (or blocks) new data; an in-memory queue loses them if the process stops meanwhile")
	}
	return nil
}

// beginShutdown makes every stage stop waiting: what is still being retried
// is spooled to the dead letter, or handed back to the queue (see
// placement.keep). It runs before exporterhelper drains its queue.
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
		e.unregisterLedger()
		// The replay loop ends first: its last counts reach the log's
		// final checkpoint.
		e.wg.Wait()
		if e.queue != nil {
			err = e.queue.close()
		}
		if e.transport != nil {
			err = errors.Join(err, e.transport.close())
		}
		if e.place.store != nil {
			e.place.store.Release()
		}
		if e.place.quar != nil {
			e.place.quar.Release()
		}
		e.releaseStateDirs()
		e.tel.shutdown()
	})
	return err
}

// pushTraces, pushMetrics and pushLogs are the chain below the queue, as
// exporterhelper's queue consumers call it.
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
