package k8s

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
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
func analyse(l *load, sinks []*gatewaySink, changes []ringChange, settle time.Duration) routingResult {
	l.mu.Lock()
	traces := l.traces
	refused := l.refused
	errs := l.errs
	l.mu.Unlock()
	sent := 0
	for _, tr := range traces {
		sent += len(tr.Spans)
	}
	received := func() ([]map[string]int, int) {
		var snaps []map[string]int
		seen := map[string]bool{}
		for _, s := range sinks {
			m := s.snapshot()
			snaps = append(snaps, m)
			for id := range m {
				seen[id] = true
			}
		}
		n := 0
		for _, tr := range traces {
			for _, id := range tr.Spans {
				if seen[id] {
					n++
				}
			}
		}
		return snaps, n
	}
	snaps, delivered := received()
	last, lastChange := delivered, time.Now()
	for delivered < sent && time.Since(lastChange) < settle {
		time.Sleep(250 * time.Millisecond)
		snaps, delivered = received()
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
		for _, id := range tr.Spans {
			for i, m := range snaps {
				if m[id] > 0 {
					gws[i] = true
				}
			}
		}
		var straddled []string
		for _, ch := range changes {
			// The agent's ring changed somewhere between Applied and
			// Observed: a trace whose sends overlap that window may be split.
			if tr.First.Before(ch.Observed) && tr.Last.After(ch.Applied) {
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
	Scenario                                   string
	Sent, Delivered, Duplicates, Lost, Refused int
	Traces, SplitOutside                       int
	SplitBy                                    string
	Result                                     string
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

var (
	outcomesMu sync.Mutex
	outcomes   []outcome
)

// record returns the scenario's line for the test to fill; it joins the
// table with PASS, FAIL or SKIP when the test ends.
func record(t *testing.T) *outcome {
	t.Helper()
	o := &outcome{Scenario: t.Name()}
	t.Cleanup(func() {
		switch {
		case t.Failed():
			o.Result = "FAIL"
		case t.Skipped():
			o.Result = "SKIP"
		default:
			o.Result = "PASS"
		}
		outcomesMu.Lock()
		outcomes = append(outcomes, *o)
		outcomesMu.Unlock()
	})
	return o
}

func routingTable() string {
	outcomesMu.Lock()
	defer outcomesMu.Unlock()
	if len(outcomes) == 0 {
		return ""
	}
	rows := append([]outcome(nil), outcomes...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	var b strings.Builder
	b.WriteString("\nKubernetes routing (spans; traces split: of those that straddled the change)\n\n")
	b.WriteString("| scenario | sent | delivered | duplicates | lost | refused | traces | split outside changes | split by change | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, o := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %s | %s |\n",
			o.Scenario, o.Sent, o.Delivered, o.Duplicates, o.Lost, o.Refused, o.Traces, o.SplitOutside, o.SplitBy, o.Result)
	}
	b.WriteString("\n")
	return b.String()
}
