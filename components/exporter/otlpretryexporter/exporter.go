package otlpretryexporter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/circuitbreaker"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/compress"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// Health states reported through componentstatus, on transitions only.
const (
	healthOK int32 = iota
	healthRecoverable
	healthPermanent
)

// recoverableAfter is the number of consecutive failed attempts after which
// the exporter reports RecoverableError (the circuit opening also reports it).
const recoverableAfter = 2

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
	var cp *compress.Compressor
	if c := e.cfg.compression(); c != "" {
		var err error
		if cp, err = compress.New(string(c), e.cfg.CompressionLevel); err != nil {
			return fmt.Errorf("compression: %w", err)
		}
		cp.OnCompressed = func(in, out int) { e.tel.bytes(context.Background(), int64(in), int64(out)) }
	}
	if dir := e.cfg.DeadLetter.Directory; dir != "" {
		store, err := deadletter.Acquire(dir, e.cfg.DeadLetter.MaxBytes)
		if err != nil {
			return fmt.Errorf("dead_letter::directory: %q: %w", dir, err)
		}
		e.store = store
	}
	var err error
	switch e.cfg.Protocol {
	case ProtocolHTTP:
		e.transport, err = newHTTPTransport(ctx, e.cfg, host, e.set.TelemetrySettings, cp, e.tel)
	default:
		e.transport, err = newGRPCTransport(ctx, e.cfg, host, e.set.TelemetrySettings, cp, e.tel)
	}
	if err != nil {
		return err
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

func (e *otlpExporter) shutdown(context.Context) error {
	e.beginShutdown()
	var err error
	e.closeOnce.Do(func() {
		e.wg.Wait()
		if e.transport != nil {
			err = e.transport.close()
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

// push sends one batch with retries until it is accepted, refused for good,
// or the retry budget (retry_on_failure::max_elapsed_time) is spent.
func (e *otlpExporter) push(ctx context.Context, r *request) error {
	start := e.now()
	budget := e.cfg.RetryConfig.MaxElapsedTime
	interval := e.cfg.RetryConfig.InitialInterval
	attempt := 0
	var lastErr error
	for {
		if e.stopping() && lastErr != nil {
			return e.giveUp(ctx, r, fmt.Errorf("shutting down while retrying: %w", lastErr))
		}
		allowed, wait, changed := e.breaker.Allow()
		if !allowed {
			if lastErr == nil {
				lastErr = errors.New("circuit breaker open")
			}
			if e.stopping() {
				return e.giveUp(ctx, r, fmt.Errorf("shutting down with the circuit open: %w", lastErr))
			}
			if !e.cfg.RetryConfig.Enabled {
				return e.giveUp(ctx, r, fmt.Errorf("circuit breaker open and retry_on_failure disabled: %w", lastErr))
			}
			if budget > 0 {
				left := budget - e.now().Sub(start)
				if left <= 0 {
					return e.giveUp(ctx, r, fmt.Errorf("retry budget of %s spent: %w", budget, lastErr))
				}
				wait = min(wait, left)
			}
			if !e.sleep(ctx, wait, changed) && e.stopping() {
				continue // next round gives up
			}
			if ctx.Err() != nil {
				return e.giveUp(ctx, r, ctx.Err())
			}
			continue
		}

		attempt++
		if attempt > 1 {
			e.tel.retries.Add(ctx, 1, e.tel.signal)
		}
		e.tel.attempts.Add(ctx, 1, e.tel.signal)
		p, err := e.attempt(ctx, r)
		if err == nil {
			e.breaker.Success()
			e.succeeded(ctx, r, p)
			return nil
		}
		v := classify(err)
		e.tel.failures.Add(ctx, 1, e.tel.byReason[v.reason])
		if v.reason == reasonPermanent {
			// The backend answered: it is reachable, the data is refused.
			e.breaker.Success()
			e.consecutive.Store(0)
			e.logPermanent(v, err, r)
			if v.auth {
				e.report(healthPermanent, err)
			}
			return e.giveUp(ctx, r, consumererror.NewPermanent(err))
		}
		e.breaker.Failure()
		e.failedAttempt(err)
		lastErr = err
		e.logger.Debug("export attempt failed", zap.Int("attempt", attempt), zap.String("reason", v.why), zap.Error(err))

		if !e.cfg.RetryConfig.Enabled {
			return e.giveUp(ctx, r, err)
		}
		delay := v.delay
		if delay == 0 {
			delay = jitter(interval, e.cfg.RetryConfig.RandomizationFactor)
			interval = min(time.Duration(float64(interval)*max(e.cfg.RetryConfig.Multiplier, 1)), e.cfg.RetryConfig.MaxInterval)
		}
		if budget > 0 && e.now().Sub(start)+delay > budget {
			return e.giveUp(ctx, r, fmt.Errorf("retry budget of %s spent after %d attempts: %w", budget, attempt, err))
		}
		if !e.sleep(ctx, delay, nil) {
			if ctx.Err() != nil {
				return e.giveUp(ctx, r, ctx.Err())
			}
			// stopping: the top of the loop gives up
		}
	}
}

// attempt makes one attempt under the per-attempt timeout.
func (e *otlpExporter) attempt(ctx context.Context, r *request) (partial, error) {
	if e.cfg.TimeoutConfig.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.TimeoutConfig.Timeout)
		defer cancel()
	}
	return e.transport.export(ctx, r)
}

func (e *otlpExporter) succeeded(ctx context.Context, r *request, p partial) {
	e.consecutive.Store(0)
	accepted := int64(r.items)
	if p.rejected > 0 {
		e.tel.rejectedItems.Add(ctx, p.rejected, e.tel.signal)
		accepted -= p.rejected
		e.logger.Debug("partial success: backend rejected items", zap.Int64("rejected", p.rejected), zap.String("message", p.message))
	}
	if accepted > 0 {
		e.tel.sentItems.Add(ctx, accepted, e.tel.signal)
	}
	if e.health.Load() != healthPermanent {
		e.report(healthOK, nil)
	}
	if e.store != nil && e.store.Len() > 0 {
		e.kickReplay()
	}
}

func (e *otlpExporter) failedAttempt(err error) {
	if e.consecutive.Add(1) >= recoverableAfter {
		e.report(healthRecoverable, err)
	}
}

func (e *otlpExporter) onBreakerChange(from, to circuitbreaker.State) {
	e.logger.Info("circuit breaker state changed", zap.Stringer("from", from), zap.Stringer("to", to))
	if to == circuitbreaker.Open {
		e.report(healthRecoverable, fmt.Errorf("circuit breaker open after %d consecutive failed attempts", e.cfg.CircuitBreaker.FailureThreshold))
		if e.store != nil {
			// The replay loop arms its probe for the end of open_duration.
			e.kickReplay()
		}
	}
}

// report sends a status event when the health state changes. A permanent
// error (authentication) is final until restart, as the collector's status
// model wants.
func (e *otlpExporter) report(state int32, err error) {
	for {
		old := e.health.Load()
		if old == state || old == healthPermanent {
			return
		}
		if e.health.CompareAndSwap(old, state) {
			break
		}
	}
	if e.host == nil {
		return
	}
	switch state {
	case healthOK:
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
	case healthRecoverable:
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
	case healthPermanent:
		componentstatus.ReportStatus(e.host, componentstatus.NewPermanentErrorEvent(err))
	}
}

func (e *otlpExporter) logPermanent(v verdict, err error, r *request) {
	if _, seen := e.loggedPerm.LoadOrStore(v.why, struct{}{}); seen {
		e.logger.Debug("backend refused data permanently", zap.String("reason", v.why), zap.Int("items", r.items), zap.Error(err))
		return
	}
	e.logger.Warn("backend refused data permanently; not retrying (further refusals for this reason are logged at debug and counted)",
		zap.String("reason", v.why), zap.Int("items", r.items), zap.Error(err))
}

// giveUp spools r to the dead letter when one is configured (returning nil:
// the data is safe on disk) and otherwise drops it, counted, returning err.
func (e *otlpExporter) giveUp(ctx context.Context, r *request, err error) error {
	if e.store == nil {
		e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropNoDeadLetter)
		e.logger.Warn("giving up on batch; dropped (no dead_letter::directory configured)", zap.Int("items", r.items), zap.Error(err))
		return err
	}
	if serr := e.spool(ctx, r); serr != nil {
		e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropNoDeadLetter)
		e.logger.Error("giving up on batch; dead letter write failed, dropped", zap.Int("items", r.items), zap.Error(errors.Join(err, serr)))
		return errors.Join(err, serr)
	}
	e.logger.Warn("giving up on batch; written to the dead letter", zap.Int("items", r.items), zap.Error(err))
	return nil
}

func (e *otlpExporter) spool(ctx context.Context, r *request) error {
	body, err := r.marshal()
	if err != nil {
		return err
	}
	evicted, err := e.store.Write(r.signal, r.items, body)
	for _, old := range evicted {
		e.tel.droppedItems.Add(ctx, int64(old.Items), e.tel.dropEvicted)
	}
	if len(evicted) > 0 {
		e.logger.Warn("dead letter full: removed the oldest files", zap.Int("files", len(evicted)))
	}
	if err != nil {
		return err
	}
	e.tel.deadLetterItems.Add(ctx, int64(r.items), e.tel.signal)
	e.tel.deadLetterBytes.Add(ctx, int64(len(body)), e.tel.signal)
	return nil
}

func (e *otlpExporter) kickReplay() {
	select {
	case e.replayKick <- struct{}{}:
	default:
	}
}

// replayLoop replays the dead letter, oldest first, when kicked (start,
// recovery, circuit opened) and every replay_interval while files remain.
// While the circuit is open it waits for open_duration to elapse and then
// makes the half-open probe itself with the oldest file: after an outage the
// dead letter is replayed even when no new data arrives to probe the backend.
func (e *otlpExporter) replayLoop() {
	defer e.wg.Done()
	interval := e.cfg.DeadLetter.ReplayInterval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	probe := time.NewTimer(time.Hour)
	probe.Stop()
	defer probe.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stopCh
		cancel()
	}()
	for {
		select {
		case <-e.stopCh:
			return
		case <-e.replayKick:
		case <-ticker.C:
		case <-probe.C:
		}
		if wait := e.breaker.Ready(); wait > 0 {
			// Open (or a probe in flight): come back when a probe may go.
			probe.Reset(wait)
			continue
		}
		if len(e.store.Oldest(e.signal, 1)) == 0 {
			continue
		}
		st, err := e.store.Replay(ctx, e.signal, e.replayOne)
		if st.Files > 0 || err != nil {
			e.logger.Info("dead letter replay", zap.Int("files", st.Files), zap.Int("items", st.Items), zap.Error(err))
		}
	}
}

// replayOne makes one attempt for a spooled batch. A permanent refusal
// removes the file (counted); anything else keeps it for the next replay.
func (e *otlpExporter) replayOne(ctx context.Context, ent deadletter.Entry, body []byte) error {
	r, err := requestFromBody(ent.Signal, body)
	if err != nil {
		e.logger.Warn("dead letter file is not valid OTLP protobuf; removing it", zap.String("file", ent.Name), zap.Error(err))
		return nil
	}
	allowed, _, _ := e.breaker.Allow()
	if !allowed {
		return errors.New("circuit breaker open")
	}
	e.tel.attempts.Add(ctx, 1, e.tel.signal)
	p, err := e.attempt(ctx, r)
	if err == nil {
		e.breaker.Success()
		e.tel.replayedItems.Add(ctx, int64(r.items)-p.rejected, e.tel.signal)
		e.consecutive.Store(0)
		if p.rejected > 0 {
			e.tel.rejectedItems.Add(ctx, p.rejected, e.tel.signal)
		}
		if e.health.Load() != healthPermanent {
			e.report(healthOK, nil)
		}
		return nil
	}
	if ctx.Err() != nil {
		e.breaker.Release()
		return err
	}
	v := classify(err)
	e.tel.failures.Add(ctx, 1, e.tel.byReason[v.reason])
	if v.reason == reasonPermanent {
		e.breaker.Success()
		e.logPermanent(v, err, r)
		e.tel.droppedItems.Add(ctx, int64(r.items), e.tel.dropNoDeadLetter)
		return nil
	}
	e.breaker.Failure()
	e.failedAttempt(err)
	return err
}

func (e *otlpExporter) defaultSleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	case <-e.stopCh:
		return false
	}
}

// jitter spreads d by ±factor.
func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 || d <= 0 {
		return d
	}
	delta := factor * float64(d)
	return time.Duration(float64(d) - delta + rand.Float64()*(2*delta))
}
