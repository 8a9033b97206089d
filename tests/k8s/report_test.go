package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// ringChange is one change of the gateway set: when the EndpointSlice was
// written, and when the agent's exporter reported the new backend count.
type ringChange struct {
	Name              string
	Applied, Observed time.Time
}

// routingResult is what the routing scenario measured, in spans and traces.
type routingResult struct {
	Sent, Refused, Delivered, Duplicates, Lost int
	Traces                                     int
	SplitOutside                               int            // split, straddling no change
	SplitBy                                    map[string]int // split, by the change they straddled
	Straddling                                 map[string]int // traces that straddled each change
	PerGateway                                 []int
	Changes                                    []ringChange
	Errors                                     map[string]int
}

// analyse waits until every accepted span was delivered or delivery made no
// progress for settle, then counts.
func analyse(l *load, sinks []*harness.Sink, changes []ringChange, settle time.Duration) routingResult {
	l.mu.Lock()
	traces := l.traces
	refused := l.refused
	errs := l.errs
	l.mu.Unlock()
	sent := 0
	for _, tr := range traces {
		sent += len(tr.Spans)
	}
	// arrived: when each span ID first reached any sink.
	received := func() ([]map[string]int, map[string]time.Time, int) {
		var snaps []map[string]int
		arrived := map[string]time.Time{}
		for _, s := range sinks {
			m, first := s.SpanIDs(), s.FirstArrivals()
			snaps = append(snaps, m)
			for id, at := range first {
				if old, ok := arrived[id]; !ok || at.Before(old) {
					arrived[id] = at
				}
			}
		}
		n := 0
		for _, tr := range traces {
			for _, sp := range tr.Spans {
				if _, ok := arrived[sp.ID]; ok {
					n++
				}
			}
		}
		return snaps, arrived, n
	}
	snaps, arrived, delivered := received()
	last, lastChange := delivered, time.Now()
	for delivered < sent && time.Since(lastChange) < settle {
		time.Sleep(250 * time.Millisecond)
		snaps, arrived, delivered = received()
		if delivered != last {
			last, lastChange = delivered, time.Now()
		}
	}

	r := routingResult{Sent: sent, Refused: refused, Delivered: delivered, Lost: sent - delivered,
		SplitBy: map[string]int{}, Straddling: map[string]int{}, Changes: changes, Errors: errs}
	for _, m := range snaps {
		n := 0
		for _, v := range m {
			n += v
			r.Duplicates += v - 1
		}
		r.PerGateway = append(r.PerGateway, n)
	}
	for _, tr := range traces {
		if len(tr.Spans) == 0 {
			continue
		}
		r.Traces++
		gws := map[int]bool{}
		for _, sp := range tr.Spans {
			for i, m := range snaps {
				if m[sp.ID] > 0 {
					gws[i] = true
				}
			}
		}
		var straddled []string
		for _, ch := range changes {
			if straddles(tr, arrived, ch) {
				straddled = append(straddled, ch.Name)
				r.Straddling[ch.Name]++
			}
		}
		if len(gws) <= 1 {
			continue
		}
		if len(straddled) == 0 {
			r.SplitOutside++
		}
		for _, name := range straddled {
			r.SplitBy[name]++
		}
	}
	return r
}

// straddles tells whether the agent may have routed some span of tr by the
// ring before ch and another by the ring after it. The ring changed at a
// moment between ch.Applied and ch.Observed; a span was routed at a moment
// between its send and its first arrival at a sink (the agent's queue and
// batching sit in between). A span is certainly on the old ring if it
// arrived before Applied, certainly on the new one if it was sent after
// Observed; any other span could be on either.
func straddles(tr *traceRec, arrived map[string]time.Time, ch ringChange) bool {
	before, after, either := false, false, false
	for _, sp := range tr.Spans {
		at, ok := arrived[sp.ID]
		switch {
		case ok && at.Before(ch.Applied):
			before = true
		case sp.At.After(ch.Observed):
			after = true
		default:
			either = true
		}
	}
	return either || (before && after)
}

func (r routingResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, refused %d, delivered %d, duplicates %d, lost %d; per gateway %v; traces %d, split outside changes %d",
		r.Sent, r.Refused, r.Delivered, r.Duplicates, r.Lost, r.PerGateway, r.Traces, r.SplitOutside)
	for _, ch := range r.Changes {
		fmt.Fprintf(&b, "; %s: observed %s after the slice changed, %d traces straddled it, %d split",
			ch.Name, ch.Observed.Sub(ch.Applied).Round(time.Millisecond), r.Straddling[ch.Name], r.SplitBy[ch.Name])
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "; agent refusals: %v", r.Errors)
	}
	return b.String()
}

// outcome is one line of the table TestMain prints.
type outcome struct {
	harness.ScenarioRow
	Sent, Delivered, Duplicates, Lost, Refused int
	Traces, SplitOutside                       int
	SplitBy                                    string
}

func (r routingResult) fill(o *outcome) {
	o.Sent, o.Delivered, o.Duplicates, o.Lost, o.Refused = r.Sent, r.Delivered, r.Duplicates, r.Lost, r.Refused
	o.Traces, o.SplitOutside = r.Traces, r.SplitOutside
	var parts []string
	for _, ch := range r.Changes {
		parts = append(parts, fmt.Sprintf("%s: %d of %d", ch.Name, r.SplitBy[ch.Name], r.Straddling[ch.Name]))
	}
	o.SplitBy = strings.Join(parts, ", ")
}

var outcomes harness.ScenarioTable[outcome, *outcome]

// record returns the scenario's line for the test to fill; it joins the
// table with PASS, FAIL or SKIP when the test ends.
func record(t *testing.T) *outcome {
	t.Helper()
	return outcomes.Record(t, t.Name())
}

func routingTable() string {
	return outcomes.Markdown("Kubernetes routing (spans; traces split: of those that straddled the change)",
		[]harness.Column{harness.Num("sent"), harness.Num("delivered"), harness.Num("duplicates"), harness.Num("lost"), harness.Num("refused"),
			harness.Num("traces"), harness.Num("split outside changes"), harness.Text("split by change")},
		func(o outcome) []any {
			return []any{o.Sent, o.Delivered, o.Duplicates, o.Lost, o.Refused, o.Traces, o.SplitOutside, o.SplitBy}
		})
}
