// Package status keeps the health extension's view of every component's
// status, learned from componentstatus events, with hysteresis: a component
// that reported an error stays "degraded" until it has been OK for the
// recovery duration, so one that flaps faster than that does not flip.
//
// All time-dependent answers are computed from an injected clock when a
// snapshot is taken: there are no timers and no goroutines.
package status

import (
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pipeline"
)

// Displayed statuses, as /status shows them.
const (
	None           = "none"
	Starting       = "starting"
	OK             = "ok"
	Degraded       = "degraded"
	PermanentError = "permanent_error"
	FatalError     = "fatal_error"
	Stopping       = "stopping"
	Stopped        = "stopped"
)

// Aggregator records component status events. It is safe for concurrent use.
type Aggregator struct {
	now      func() time.Time
	recovery time.Duration

	mu    sync.Mutex
	comps map[componentstatus.InstanceID]*record
}

type record struct {
	id       componentstatus.InstanceID
	reported componentstatus.Status
	since    time.Time // when the reported status last changed

	lastErr   string
	lastErrAt time.Time

	// errorSince starts an error stretch: the first error after the
	// component was healthy for at least the recovery duration. It is zero
	// while the component is healthy.
	errorSince time.Time
	// okSince is when the component last went from an error back to OK.
	okSince time.Time
	// flapped is set when the component failed again within the recovery
	// duration of an OK, in the current error stretch.
	flapped bool
}

// NewAggregator returns an Aggregator that reads time from now and keeps a
// recovered component degraded for recovery.
func NewAggregator(now func() time.Time, recovery time.Duration) *Aggregator {
	if now == nil {
		now = time.Now
	}
	return &Aggregator{now: now, recovery: recovery, comps: map[componentstatus.InstanceID]*record{}}
}

// Record stores one event for source.
func (a *Aggregator) Record(source *componentstatus.InstanceID, ev *componentstatus.Event) {
	if source == nil || ev == nil {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.comps[*source]
	if !ok {
		r = &record{id: *source, since: now}
		a.comps[*source] = r
	}
	st := ev.Status()
	prev := r.reported
	recovered := a.recoveredLocked(r, now)
	if st != prev {
		r.reported = st
		r.since = now
	}
	if err := ev.Err(); err != nil {
		r.lastErr = err.Error()
		r.lastErrAt = now
	}
	switch {
	case componentstatus.StatusIsError(st):
		if r.errorSince.IsZero() || recovered {
			r.errorSince = now
			r.flapped = false
		} else if prev == componentstatus.StatusOK {
			r.flapped = true
		}
	case st == componentstatus.StatusOK:
		if componentstatus.StatusIsError(prev) {
			r.okSince = now
		}
	case st == componentstatus.StatusStopping, st == componentstatus.StatusStopped, st == componentstatus.StatusStarting:
		r.errorSince = time.Time{}
		r.flapped = false
	}
}

// recoveredLocked reports whether r is OK and has been for the recovery
// duration since its last error stretch.
func (a *Aggregator) recoveredLocked(r *record, now time.Time) bool {
	return r.reported == componentstatus.StatusOK && now.Sub(r.okSince) >= a.recovery
}

// Component is the view of one component.
type Component struct {
	// Status is the displayed status (one of the constants above).
	Status string `json:"status"`
	// Reported is the last status the component reported.
	Reported string `json:"reported"`
	// Since is when the displayed status began.
	Since time.Time `json:"since"`
	// ErrorSince is when the current error stretch began, while degraded.
	ErrorSince *time.Time `json:"error_since,omitempty"`
	// LastError is the last error message the component reported, kept
	// after recovery.
	LastError     string     `json:"last_error,omitempty"`
	LastErrorTime *time.Time `json:"last_error_time,omitempty"`

	// Kind is the component kind, for the readiness rules.
	Kind component.Kind `json:"-"`
	// FailingFor is how long the current error stretch has lasted (zero
	// when healthy).
	FailingFor time.Duration `json:"-"`
	// Failing is true while the last reported status is an error.
	Failing bool `json:"-"`
	// Flapping is true when, in the current error stretch, the component
	// failed again within the recovery duration after reporting OK.
	Flapping bool `json:"-"`
}

// Group is the view of a pipeline (or of the extensions).
type Group struct {
	Status     string               `json:"status"`
	Since      time.Time            `json:"since"`
	Components map[string]Component `json:"components"`
}

// Snapshot is the view of the whole collector at one instant.
type Snapshot struct {
	Status     string               `json:"status"`
	Since      time.Time            `json:"since"`
	Time       time.Time            `json:"time"`
	Pipelines  map[string]Group     `json:"pipelines"`
	Extensions map[string]Component `json:"extensions"`
	// Components lists every component once (keyed "kind:id"), whatever
	// the number of pipelines it is in.
	Components map[string]Component `json:"-"`
}

// Snapshot computes the view at the aggregator's current time.
func (a *Aggregator) Snapshot() Snapshot {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	snap := Snapshot{
		Time:       now,
		Pipelines:  map[string]Group{},
		Extensions: map[string]Component{},
		Components: map[string]Component{},
	}
	for _, r := range a.comps {
		c := a.viewLocked(r, now)
		key := Key(r.id.Kind(), r.id.ComponentID())
		snap.Components[key] = c
		if r.id.Kind() == component.KindExtension {
			snap.Extensions[key] = c
			continue
		}
		r.id.AllPipelineIDs(func(p pipeline.ID) bool {
			g, ok := snap.Pipelines[p.String()]
			if !ok {
				g = Group{Components: map[string]Component{}}
			}
			g.Components[key] = c
			snap.Pipelines[p.String()] = g
			return true
		})
	}
	all := make([]Component, 0, len(snap.Pipelines)+len(snap.Extensions))
	for name, g := range snap.Pipelines {
		cs := make([]Component, 0, len(g.Components))
		for _, c := range g.Components {
			cs = append(cs, c)
		}
		g.Status, g.Since = aggregate(cs)
		snap.Pipelines[name] = g
		all = append(all, Component{Status: g.Status, Since: g.Since})
	}
	for _, c := range snap.Extensions {
		all = append(all, c)
	}
	snap.Status, snap.Since = aggregate(all)
	return snap
}

func (a *Aggregator) viewLocked(r *record, now time.Time) Component {
	c := Component{
		Reported: reportedName(r.reported),
		Since:    r.since,
		Kind:     r.id.Kind(),
		Failing:  componentstatus.StatusIsError(r.reported),
		Flapping: r.flapped && !r.errorSince.IsZero(),
	}
	if r.lastErr != "" {
		t := r.lastErrAt
		c.LastError, c.LastErrorTime = r.lastErr, &t
	}
	switch r.reported {
	case componentstatus.StatusStarting:
		c.Status = Starting
	case componentstatus.StatusOK:
		c.Status = OK
		if !r.errorSince.IsZero() {
			if a.recoveredLocked(r, now) {
				c.Since = r.okSince.Add(a.recovery)
			} else {
				c.Status = Degraded
			}
		}
	case componentstatus.StatusRecoverableError:
		c.Status = Degraded
	case componentstatus.StatusPermanentError:
		c.Status = PermanentError
	case componentstatus.StatusFatalError:
		c.Status = FatalError
	case componentstatus.StatusStopping:
		c.Status = Stopping
	case componentstatus.StatusStopped:
		c.Status = Stopped
	default:
		c.Status = None
	}
	if c.Status == Degraded || c.Status == PermanentError || c.Status == FatalError {
		t := r.errorSince
		c.ErrorSince = &t
		c.FailingFor = now.Sub(r.errorSince)
		if c.Status == Degraded {
			c.Since = r.errorSince
		}
	}
	return c
}

// aggregate folds statuses: a fatal error wins, then lifecycle (starting,
// stopping), then permanent errors, then degraded. Error statuses carry the
// earliest time (where the trouble began), others the latest.
func aggregate(cs []Component) (string, time.Time) {
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Status != None {
			seen[c.Status] = true
		}
	}
	st := None
	switch {
	case len(seen) == 0:
	case len(seen) == 1:
		for s := range seen {
			st = s
		}
	case seen[FatalError]:
		st = FatalError
	case seen[Starting]:
		st = Starting
	case seen[Stopping], seen[Stopped]:
		st = Stopping
	case seen[PermanentError]:
		st = PermanentError
	case seen[Degraded]:
		st = Degraded
	default:
		st = OK
	}
	isErr := st == FatalError || st == PermanentError || st == Degraded
	var since time.Time
	for _, c := range cs {
		if c.Status != st && (st != Stopping || c.Status != Stopped) {
			continue
		}
		if since.IsZero() || (isErr && c.Since.Before(since)) || (!isErr && c.Since.After(since)) {
			since = c.Since
		}
	}
	return st, since
}

// Key names a component as /status shows it: "exporter:otlp_retry/backend".
func Key(kind component.Kind, id component.ID) string {
	return strings.ToLower(kind.String()) + ":" + id.String()
}

func reportedName(s componentstatus.Status) string {
	switch s {
	case componentstatus.StatusStarting:
		return "starting"
	case componentstatus.StatusOK:
		return "ok"
	case componentstatus.StatusRecoverableError:
		return "recoverable_error"
	case componentstatus.StatusPermanentError:
		return "permanent_error"
	case componentstatus.StatusFatalError:
		return "fatal_error"
	case componentstatus.StatusStopping:
		return "stopping"
	case componentstatus.StatusStopped:
		return "stopped"
	}
	return "none"
}

// SortedKeys returns m's keys in order, for stable messages.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
