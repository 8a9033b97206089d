// Package sendwatch decides, from exporterhelper's own counters in the
// collector's telemetry, which exporters have stopped delivering. It
// covers every exporter built on exporterhelper, including those that never
// report a component status (upstream otlp_grpc, otlp_http and
// load_balancing in v0.161).
//
// An exporter is failing from the first scrape at which it sent nothing
// since the previous scrape while it had items queued or counted send or
// enqueue failures, until the first scrape at which it sent something. An
// idle exporter (nothing queued, nothing failed, nothing sent) is not
// failing: nothing tells. Time comes from the caller; there are no
// goroutines.
package sendwatch

import (
	"sort"
	"sync"
	"time"
)

// Watch keeps every exporter's last sample and failing stretch. It is safe
// for concurrent use.
type Watch struct {
	mu   sync.Mutex
	exps map[string]*state
}

type state struct {
	last         Sample
	failingSince time.Time // zero while delivering or idle
}

// Failure is one exporter failing now.
type Failure struct {
	// ID is the exporter's component ID ("load_balancing", "otlp_grpc/gateway").
	ID string
	// Since is the scrape at which the stretch began.
	Since time.Time
	// Queued is the queue size at the last scrape.
	Queued float64
}

// New returns an empty Watch.
func New() *Watch { return &Watch{exps: map[string]*state{}} }

// Observe takes one scrape's samples, taken at now.
func (w *Watch) Observe(now time.Time, samples map[string]Sample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, cur := range samples {
		st, ok := w.exps[id]
		if !ok {
			// The first sample is a baseline: progress needs two.
			w.exps[id] = &state{last: cur}
			continue
		}
		prev := st.last
		st.last = cur
		switch {
		case cur.Sent != prev.Sent: // more sent (or a counter reset): delivering
			st.failingSince = time.Time{}
		case cur.Failed != prev.Failed || cur.Queued > 0:
			if st.failingSince.IsZero() {
				st.failingSince = now
			}
		default: // idle
			st.failingSince = time.Time{}
		}
	}
}

// Failing lists the exporters failing now, by ID.
func (w *Watch) Failing() []Failure {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Failure
	for id, st := range w.exps {
		if !st.failingSince.IsZero() {
			out = append(out, Failure{ID: id, Since: st.failingSince, Queued: st.last.Queued})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
