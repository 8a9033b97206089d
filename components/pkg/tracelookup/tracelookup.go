// Package tracelookup is the hand-off between the trace_registry processor,
// which knows traces, and the health extension, which serves HTTP: neither
// imports the other. The extension implements Registrar; each trace_registry
// processor finds it among the host's extensions at Start and registers its
// Lookup, and unregisters at Shutdown.
package tracelookup

import (
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TraceView is the read-only view of one trace served at GET /traces/{id}.
type TraceView struct {
	TraceID     string   `json:"trace_id"`
	State       string   `json:"state"` // "active", "completed" or "failed"
	SpanCount   uint32   `json:"span_count"`
	RootSeen    bool     `json:"root_seen"`
	RootService string   `json:"root_service,omitempty"`
	Services    []string `json:"services"`
	// ServicesTruncated is true when the trace had more services than the
	// registry keeps per trace (Services then lists the first ones).
	ServicesTruncated bool      `json:"services_truncated,omitempty"`
	Error             bool      `json:"error"`
	FirstSeen         time.Time `json:"first_seen"`
	LastSeen          time.Time `json:"last_seen"`
	// DurationSeconds spans the earliest span start to the latest span end.
	DurationSeconds float64 `json:"duration_seconds"`
}

// Lookup finds a trace by ID; ok is false when the trace is unknown.
type Lookup interface {
	LookupTrace(id pcommon.TraceID) (view TraceView, ok bool)
}

// Registrar is implemented by an extension that serves lookups.
type Registrar interface {
	RegisterTraceLookup(id component.ID, l Lookup)
	UnregisterTraceLookup(id component.ID)
}
