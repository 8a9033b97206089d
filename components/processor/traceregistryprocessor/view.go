package traceregistryprocessor

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlpcol/otlpcol/components/pkg/tracelookup"
)

// view returns the lookup view of a trace.
func (r *registry) view(id pcommon.TraceID) (tracelookup.TraceView, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.index[id]
	if !ok {
		return tracelookup.TraceView{}, false
	}
	rec := &r.recs[i]
	v := tracelookup.TraceView{
		TraceID:           id.String(),
		State:             "active",
		SpanCount:         rec.spans,
		RootSeen:          rec.flags&flagRoot != 0,
		Error:             rec.flags&flagError != 0,
		FirstSeen:         time.Unix(0, rec.first).UTC(),
		LastSeen:          time.Unix(0, rec.last).UTC(),
		DurationSeconds:   rec.duration(),
		ServicesTruncated: rec.flags&flagMoreServices != 0,
		Services:          make([]string, 0, svcSlots),
	}
	if rec.flags&flagDone != 0 {
		v.State = "completed"
		if v.Error {
			v.State = "failed"
		}
	}
	if v.RootSeen {
		v.RootService = r.serviceName(rec.svc[0])
	}
	for _, s := range rec.svc {
		if s != 0 {
			v.Services = append(v.Services, r.serviceName(s))
		}
	}
	return v, true
}

// snapshot copies the per-dimension counts into dst and returns them with
// the dimensions' attribute options.
func (r *registry) snapshot(dst []dimCounts) ([]dimCounts, []metric.MeasurementOption) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(dst[:0], r.counts...), r.dimOpts
}

// activeCount is the number of active traces.
func (r *registry) activeCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active.n
}

// isDegraded reports the health decided by the last transition.
func (r *registry) isDegraded() bool { return r.degradedFlag.Load() }
