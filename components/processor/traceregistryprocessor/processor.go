package traceregistryprocessor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/pkg/tracelookup"
)

const (
	// chunk bounds the spans handled per lock hold.
	chunk = 256
	// sweepChunk bounds the traces a sweep completes (and forgets) per lock
	// hold; between holds the hot path gets the lock.
	sweepChunk = 1024
	// maxSweepInterval bounds how late a trace may complete after idle_timeout.
	maxSweepInterval = time.Second
)

// traceRegistry is the trace_registry processor: it passes data on
// unchanged and keeps a bounded registry of the traces it has seen.
type traceRegistry struct {
	id       component.ID
	cfg      *Config
	logger   *zap.Logger
	reg      *registry
	tel      *telemetry
	interval time.Duration
	next     consumer.Traces
	obsPool  sync.Pool // of *observation

	statusMu sync.Mutex
	host     component.Host
	reported bool // degraded is the last status reported

	sweepMu  sync.Mutex
	sweepBuf []finished

	lifeMu     sync.Mutex
	started    bool
	stopped    bool
	done       chan struct{}
	wg         sync.WaitGroup
	callback   metric.Registration
	registrars []tracelookup.Registrar
}

var _ tracelookup.Lookup = (*traceRegistry)(nil)

func newTraceRegistry(set component.TelemetrySettings, id component.ID, cfg *Config, now func() time.Time, next consumer.Traces) (*traceRegistry, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, fmt.Errorf("trace_registry telemetry: %w", err)
	}
	interval := min(cfg.IdleTimeout/4, maxSweepInterval)
	if interval <= 0 {
		interval = time.Millisecond
	}
	return &traceRegistry{
		id:       id,
		cfg:      cfg,
		logger:   set.Logger,
		reg:      newRegistry(cfg, now),
		tel:      tel,
		interval: interval,
		next:     next,
		obsPool:  sync.Pool{New: func() any { return new(observation) }},
		done:     make(chan struct{}),
	}, nil
}

// start registers the metrics callback and the lookup, and starts the sweeper.
func (p *traceRegistry) start(_ context.Context, host component.Host) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.started || p.stopped {
		return nil
	}
	cb, err := p.tel.register(p.reg)
	if err != nil {
		return fmt.Errorf("trace_registry metrics callback: %w", err)
	}
	p.callback = cb
	p.started = true

	p.statusMu.Lock()
	p.host = host
	p.statusMu.Unlock()

	for _, ext := range host.GetExtensions() {
		if r, ok := ext.(tracelookup.Registrar); ok {
			r.RegisterTraceLookup(p.id, p)
			p.registrars = append(p.registrars, r)
		}
	}
	p.wg.Add(1)
	go p.run()
	p.logger.Info("trace registry started",
		zap.Int("max_traces", p.cfg.MaxTraces),
		zap.Duration("idle_timeout", p.cfg.IdleTimeout),
		zap.Int("lookup_registrars", len(p.registrars)))
	return nil
}

// shutdown stops the sweeper and unregisters; safe without start and twice.
func (p *traceRegistry) shutdown(context.Context) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	if !p.started {
		return nil
	}
	close(p.done)
	p.wg.Wait()
	for _, r := range p.registrars {
		r.UnregisterTraceLookup(p.id)
	}
	p.registrars = nil
	var err error
	if p.callback != nil {
		err = p.callback.Unregister()
	}
	p.logger.Info("trace registry stopped", zap.Int("active_traces", p.reg.activeCount()))
	return err
}

func (p *traceRegistry) run() {
	defer p.wg.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.sweep(context.Background())
		}
	}
}

// sweep completes idle traces, records their histograms and reports a
// health transition; the registry lock is not held while recording, and
// is given up every sweepChunk traces.
func (p *traceRegistry) sweep(ctx context.Context) {
	p.sweepMu.Lock()
	defer p.sweepMu.Unlock()
	for {
		out, opts, tr, more := p.reg.sweep(p.sweepBuf[:0], sweepChunk)
		p.tel.record(ctx, out, opts)
		clear(out)
		p.sweepBuf = out[:0]
		if tr != noChange {
			p.reportStatus()
		}
		if !more {
			return
		}
	}
}

// consumeTraces passes td on and registers its spans only once the next
// consumer accepted it: a refused request, retried by the client, is
// counted once, when it is accepted. What the registry needs is copied out
// before the call, because td belongs to the next consumer after it.
func (p *traceRegistry) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	o := p.obsPool.Get().(*observation)
	o.gather(td)
	err := p.next.ConsumeTraces(ctx, td)
	if err == nil {
		p.apply(o)
	}
	o.reset()
	p.obsPool.Put(o)
	return err
}

// apply registers gathered spans, a chunk per lock hold.
func (p *traceRegistry) apply(o *observation) {
	changed := false
	off := 0
	for _, g := range o.groups {
		spans := o.spans[off : off+g.n]
		off += g.n
		for from := 0; from < len(spans); from += chunk {
			if p.reg.observe(g.svc, spans[from:min(from+chunk, len(spans))]) != noChange {
				changed = true
			}
		}
	}
	if changed {
		p.reportStatus()
	}
}

// reportStatus reports the registry's current health if it differs from
// the last report, so that reports follow transitions in order.
func (p *traceRegistry) reportStatus() {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	want := p.reg.isDegraded()
	if p.host == nil || want == p.reported {
		return
	}
	p.reported = want
	if want {
		p.logger.Warn("trace registry degraded",
			zap.Int("max_traces", p.cfg.MaxTraces), zap.Float64("degraded_ratio", p.cfg.DegradedRatio))
		componentstatus.ReportStatus(p.host, componentstatus.NewRecoverableErrorEvent(fmt.Errorf(
			"trace registry degraded: active traces reached degraded_ratio %g of max_traces %d",
			p.cfg.DegradedRatio, p.cfg.MaxTraces)))
		return
	}
	p.logger.Info("trace registry recovered",
		zap.Int("max_traces", p.cfg.MaxTraces), zap.Float64("recovery_ratio", p.cfg.RecoveryRatio))
	componentstatus.ReportStatus(p.host, componentstatus.NewEvent(componentstatus.StatusOK))
}

// LookupTrace implements tracelookup.Lookup.
func (p *traceRegistry) LookupTrace(id pcommon.TraceID) (tracelookup.TraceView, bool) {
	return p.reg.view(id)
}

func serviceName(res pcommon.Resource) string {
	v, ok := res.Attributes().Get(dimensionServiceName)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return ""
	}
	return v.Str()
}
