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
// trace ID are skipped (passed on, not registered). Adjacent spans of one
// trace (SDKs export a trace's spans together, so runs are the rule) are
// folded into one spanObs, so that the registry looks a trace up once a
// run instead of once a span.
func (o *observation) gather(td ptrace.Traces) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		g := obsGroup{svc: serviceName(rs.Resource())}
		first := len(o.spans) // the group's runs start here
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				id := sp.TraceID()
				if id.IsEmpty() {
					continue
				}
				start, end := int64(sp.StartTimestamp()), int64(sp.EndTimestamp())
				root := sp.ParentSpanID().IsEmpty()
				isErr := sp.Status().Code() == ptrace.StatusCodeError
				if last := len(o.spans) - 1; last >= first && o.spans[last].id == id {
					o.spans[last].fold(start, end, root, isErr)
					continue
				}
				o.spans = append(o.spans, spanObs{id: id, n: 1, start: start, end: end, root: root, err: isErr})
				g.n++
			}
		}
		if g.n > 0 {
			o.groups = append(o.groups, g)
		}
	}
}

// fold adds one more span of the same trace to a run.
func (s *spanObs) fold(start, end int64, root, isErr bool) {
	s.n++
	if start > 0 && (s.start == 0 || start < s.start) {
		s.start = start
	}
	s.end = max(s.end, end)
	s.root = s.root || root
	s.err = s.err || isErr
}

// reset empties o for reuse; it keeps no reference into the request.
func (o *observation) reset() {
	clear(o.groups)
	o.groups = o.groups[:0]
	o.spans = o.spans[:0]
}
