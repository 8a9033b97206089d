package healthextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/sendwatch"
	"github.com/otlpcol/otlpcol/components/extension/healthextension/internal/status"
	"github.com/otlpcol/otlpcol/components/pkg/tracelookup"
)

// phase is where the collector is in its life, as the pipeline watcher
// tells it.
type phase int32

const (
	phaseStarting phase = iota
	phaseReady
	phaseShuttingDown
)

func (p phase) String() string {
	switch p {
	case phaseReady:
		return "ready"
	case phaseShuttingDown:
		return "shutting_down"
	}
	return "starting"
}

type health struct {
	cfg *Config
	set extension.Settings
	now func() time.Time
	agg *status.Aggregator

	phase     atomic.Int32
	startedAt atomic.Pointer[time.Time]

	metrics metricsProxy
	access  access // resolved at Start
	sends   *sendwatch.Watch
	wg      sync.WaitGroup

	lookupsMu sync.RWMutex
	lookups   map[component.ID]tracelookup.Lookup

	server       *http.Server
	addr         string // the address the server listens on
	served       chan struct{}
	stop         chan struct{} // closed by Shutdown: ends a drain wait
	shutdownOnce sync.Once
	shutdownErr  error

	// drainedHooks run once the drain is over (see OnDrained).
	drainedMu    sync.Mutex
	drainedHooks []func()
	drainedOnce  sync.Once
}

var (
	_ extension.Extension                         = (*health)(nil)
	_ extensioncapabilities.PipelineWatcher       = (*health)(nil)
	_ extensioncapabilities.ConfigSnapshotWatcher = (*health)(nil)
	_ componentstatus.Watcher                     = (*health)(nil)
	_ tracelookup.Registrar                       = (*health)(nil)
)

func newHealth(cfg *Config, set extension.Settings, now func() time.Time) *health {
	h := &health{
		cfg:     cfg,
		set:     set,
		now:     now,
		agg:     status.NewAggregator(now, cfg.RecoveryDuration),
		lookups: map[component.ID]tracelookup.Lookup{},
		sends:   sendwatch.New(),
		stop:    make(chan struct{}),
	}
	h.metrics.init(set.Logger)
	if cfg.MetricsEndpoint != "" {
		if u, err := metricsURL(cfg.MetricsEndpoint); err == nil {
			h.metrics.set(u, "metrics_endpoint")
		}
	}
	return h
}

// Start opens the HTTP server. A port in use, unreadable TLS files or a
// missing auth extension fail the start with an error naming the cause.
func (h *health) Start(ctx context.Context, host component.Host) error {
	endpoint := h.cfg.ServerConfig.NetAddr.Endpoint
	// Resolve the authenticator and load TLS first: ToListener would leave
	// the port bound when they fail.
	acc, err := resolveAccess(ctx, &h.cfg.Access, host.GetExtensions())
	if err != nil {
		return err
	}
	h.access = acc
	if h.cfg.ServerConfig.TLS.HasValue() {
		if _, err := h.cfg.ServerConfig.TLS.Get().LoadTLSConfig(ctx); err != nil {
			return fmt.Errorf("health: tls: %w", err)
		}
	}
	ln, err := h.cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("health: cannot listen on %s: %w", endpoint, err)
	}
	srv, err := h.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), h.set.TelemetrySettings, h)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("health: cannot set up the HTTP server on %s: %w", endpoint, err)
	}
	now := h.now()
	h.startedAt.Store(&now)
	h.server = srv
	h.served = make(chan struct{})
	go func() {
		defer close(h.served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.set.Logger.Error("health server stopped", zap.Error(err))
		}
	}()
	h.addr = ln.Addr().String()
	if h.cfg.ExporterFailureThreshold > 0 {
		h.wg.Add(1)
		go h.watchSends(sendPollInterval(h.cfg.ExporterFailureThreshold))
	}
	h.set.Logger.Info("health server listening", zap.String("endpoint", h.addr),
		zap.Duration("drain_delay", h.cfg.DrainDelay))
	return nil
}

// Shutdown stops the HTTP server; it is safe to call twice and without Start.
func (h *health) Shutdown(ctx context.Context) error {
	h.shutdownOnce.Do(func() {
		close(h.stop)
		h.wg.Wait()
		if h.server != nil {
			h.shutdownErr = h.server.Shutdown(ctx)
			<-h.served
		}
		h.metrics.close()
	})
	return h.shutdownErr
}

// Ready is called once every pipeline has started.
func (h *health) Ready() error {
	if h.phase.CompareAndSwap(int32(phaseStarting), int32(phaseReady)) {
		h.set.Logger.Info("pipelines started: /ready answers 200")
	}
	return nil
}

// NotReady is called when shutdown begins, before the receivers stop.
// /ready turns 503 at once; if the collector was ready (so traffic may be
// routed here), it then waits drain_delay so that Kubernetes takes the pod
// out of its endpoints while the receivers still accept data.
func (h *health) NotReady() error {
	// The receivers stop right after this returns: whatever waits for the
	// drain to be over (the admission extension's cut-off of requests
	// still arriving) starts now.
	defer h.drained()
	was := phase(h.phase.Swap(int32(phaseShuttingDown)))
	if was != phaseReady || h.cfg.DrainDelay <= 0 {
		return nil
	}
	h.set.Logger.Info("shutdown begins: /ready answers 503; draining before the receivers stop",
		zap.Duration("drain_delay", h.cfg.DrainDelay))
	t := time.NewTimer(h.cfg.DrainDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-h.stop:
	}
	return nil
}

// OnDrained registers f to run once, when shutdown's drain is over (after
// drain_delay, at once when there was nothing to drain), just before the
// receivers stop. The admission extension finds this method among the
// host's extensions, so that what is still arriving then is cut off
// rather than holding up the shutdown. f must not block.
func (h *health) OnDrained(f func()) {
	h.drainedMu.Lock()
	defer h.drainedMu.Unlock()
	h.drainedHooks = append(h.drainedHooks, f)
}

func (h *health) drained() {
	h.drainedOnce.Do(func() {
		h.drainedMu.Lock()
		hooks := h.drainedHooks
		h.drainedMu.Unlock()
		for _, f := range hooks {
			f()
		}
	})
}

// ComponentStatusChanged records a component's status event.
func (h *health) ComponentStatusChanged(source *componentstatus.InstanceID, event *componentstatus.Event) {
	h.agg.Record(source, event)
}

// NotifyConfigSnapshot learns where the collector serves its own metrics.
func (h *health) NotifyConfigSnapshot(_ context.Context, snap extensioncapabilities.ConfigSnapshot) error {
	if h.cfg.MetricsEndpoint != "" || snap == nil {
		return nil
	}
	u, src := telemetryURL(snap.Effective())
	if u == "" {
		h.set.Logger.Info("no Prometheus pull reader in service::telemetry::metrics::readers: /metrics answers 503 (set metrics_endpoint to choose one)")
		return nil
	}
	h.metrics.set(u, src)
	h.set.Logger.Debug("/metrics reads the collector's telemetry", zap.String("url", u), zap.String("from", src))
	return nil
}

// RegisterTraceLookup adds a trace_registry's lookup.
func (h *health) RegisterTraceLookup(id component.ID, l tracelookup.Lookup) {
	h.lookupsMu.Lock()
	defer h.lookupsMu.Unlock()
	if l == nil {
		delete(h.lookups, id)
		return
	}
	h.lookups[id] = l
}

// UnregisterTraceLookup removes a trace_registry's lookup.
func (h *health) UnregisterTraceLookup(id component.ID) {
	h.lookupsMu.Lock()
	defer h.lookupsMu.Unlock()
	delete(h.lookups, id)
}

// traceLookups returns the registered lookups in ID order.
func (h *health) traceLookups() []tracelookup.Lookup {
	type entry struct {
		id string
		l  tracelookup.Lookup
	}
	h.lookupsMu.RLock()
	entries := make([]entry, 0, len(h.lookups))
	for id, l := range h.lookups {
		entries = append(entries, entry{id.String(), l})
	}
	h.lookupsMu.RUnlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].id < entries[j].id })
	out := make([]tracelookup.Lookup, len(entries))
	for i, e := range entries {
		out[i] = e.l
	}
	return out
}

// verdict is the collector's health and readiness at one instant.
type verdict struct {
	phase        phase
	snap         status.Snapshot
	alive        bool
	aliveReasons []string
	ready        bool
	readyReasons []string
	// exporterFailures: exporters failing past exporter_failure_threshold;
	// among readyReasons too unless ready_when_exporter_failing.
	exporterFailures []string
}

func (h *health) evaluate() verdict {
	v := verdict{phase: phase(h.phase.Load()), snap: h.agg.Snapshot(), alive: true}
	// Liveness reflects the process only: a fatal error (the collector is
	// going down). An exporter's error, even permanent (a wrong API key),
	// never restarts the pod: every replica would restart at once.
	for _, key := range status.SortedKeys(v.snap.Components) {
		c := v.snap.Components[key]
		if c.Status == status.FatalError {
			v.alive = false
			v.aliveReasons = append(v.aliveReasons, describe(key, c))
		}
	}
	switch v.phase {
	case phaseStarting:
		v.readyReasons = append(v.readyReasons, "pipelines are not started yet")
	case phaseShuttingDown:
		v.readyReasons = append(v.readyReasons, "the collector is shutting down")
	}
	for _, key := range status.SortedKeys(v.snap.Components) {
		c := v.snap.Components[key]
		switch {
		case c.Status == status.FatalError:
			v.readyReasons = append(v.readyReasons, describe(key, c))
		case !h.cfg.ReadyWhenDegraded && (c.Status == status.Degraded || c.Status == status.PermanentError):
			v.readyReasons = append(v.readyReasons, describe(key, c))
		case h.cfg.ExporterFailureThreshold > 0 && c.Kind == component.KindExporter &&
			(c.Failing || c.Flapping) && c.FailingFor > h.cfg.ExporterFailureThreshold:
			// An exporter that reports OK again is ready at once, unless
			// it flaps: then recovery_duration of OK is needed.
			v.exporterFailures = append(v.exporterFailures, fmt.Sprintf("%s failing for %s (exporter_failure_threshold %s)%s",
				key, c.FailingFor.Round(time.Second), h.cfg.ExporterFailureThreshold, lastErr(c)))
		}
	}
	v.exporterFailures = append(v.exporterFailures, h.stalledExporters(v.snap.Time)...)
	if !h.cfg.ReadyWhenExporterFailing {
		v.readyReasons = append(v.readyReasons, v.exporterFailures...)
	}
	v.ready = len(v.readyReasons) == 0
	return v
}

func describe(key string, c status.Component) string {
	return key + " is " + c.Status + lastErr(c)
}

func lastErr(c status.Component) string {
	if c.LastError == "" {
		return ""
	}
	return ": " + c.LastError
}
