package traceregistryprocessor

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// observation is what one request tells the registry, gathered before the
// request is passed on and applied only if it is accepted. Observations are
// pooled, so that a request of known traces allocates nothing.
type observation struct {
	groups []obsGroup
	spans  []spanObs
}

// obsGroup is a run of spans of one resource.
type obsGroup struct {
	svc string // the resource's service.name, "" when missing
	n   int
}

// gather copies out of td what the registry needs; spans with an empty
// trace ID are skipped (passed on, not registered).
func (o *observation) gather(td ptrace.Traces) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		g := obsGroup{svc: serviceName(rs.Resource())}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				id := sp.TraceID()
				if id.IsEmpty() {
					continue
				}
				o.spans = append(o.spans, spanObs{
					id:    id,
					start: int64(sp.StartTimestamp()),
					end:   int64(sp.EndTimestamp()),
					root:  sp.ParentSpanID().IsEmpty(),
					err:   sp.Status().Code() == ptrace.StatusCodeError,
				})
				g.n++
			}
		}
		if g.n > 0 {
			o.groups = append(o.groups, g)
		}
	}
}

// reset empties o for reuse; it keeps no reference into the request.
func (o *observation) reset() {
	clear(o.groups)
	o.groups = o.groups[:0]
	o.spans = o.spans[:0]
}
