package main

import "fmt"

// row is one pipeline and its rounds.
type row struct {
	pipeline
	Samples []sample
}

// good is the rounds that did not fail.
func (r *row) good() []sample {
	var out []sample
	for _, s := range r.Samples {
		if s.Err == "" {
			out = append(out, s)
		}
	}
	return out
}

// failure is the first failed round's error, "" when every round passed.
func (r *row) failure() string {
	for i, s := range r.Samples {
		if s.Err != "" {
			return fmt.Sprintf("round %d: %s", i+1, s.Err)
		}
	}
	if len(r.Samples) == 0 {
		return "not run"
	}
	return ""
}

// ok reports whether the row ran and every round passed: only such rows
// are compared.
func (r *row) ok() bool { return len(r.Samples) > 0 && r.failure() == "" }

// over is the spread of a figure over the rounds that did not fail.
func (r *row) over(f func(sample) float64) spread {
	var v []float64
	for _, s := range r.good() {
		v = append(v, f(s))
	}
	return spreadOf(v)
}

func (r *row) spans() spread { return r.over(func(s sample) float64 { return s.SpansPerSec }) }
func (r *row) cpu() spread   { return r.over(func(s sample) float64 { return s.CPUPerM }) }

// sum adds a count over every round, failed ones included: a span lost in
// a failed round is still lost.
func (r *row) sum(f func(sample) int64) int64 {
	var n int64
	for _, s := range r.Samples {
		n += f(s)
	}
	return n
}

// maxOther is the most CPU other processes took in any round, in cores.
func (r *row) maxOther() float64 {
	var m float64
	for _, s := range r.Samples {
		m = max(m, s.OtherCores)
	}
	return m
}

// comparison is one row against a reference row, over their rounds.
type comparison struct {
	Row, Ref *row
	Spans    ratioRange // spans/s, row / reference
	CPU      ratioRange // CPU per span, row / reference
}

func compareRows(a, b *row) comparison {
	return comparison{Row: a, Ref: b, Spans: ratioOf(a.spans(), b.spans()), CPU: ratioOf(a.cpu(), b.cpu())}
}

// Targets from issue 25: otlpcol's gateway (gateway-wal-always) against the
// stock pipeline, minimum 1.15x spans/s at 0.85x CPU per span.
const (
	minSpansRatio = 1.15
	maxCPURatio   = 0.85
	aimSpansRatio = 1.25
	aimCPURatio   = 0.8
)

// Issue 25's goal for otlpcol's own stages (trace_registry, marshalling,
// the write-ahead log, the rest of otlp_retry) in the gateway's CPU
// profile: at most half of the 20% the issue's profile found.
const (
	issueOursShare = 0.20
	maxOursShare   = issueOursShare / 2
)

// minimum and aim judge a comparison against the targets.
func (c comparison) minimum() verdict {
	return both(atLeast(c.Spans, minSpansRatio), atMost(c.CPU, maxCPURatio))
}

func (c comparison) aim() verdict {
	return both(atLeast(c.Spans, aimSpansRatio), atMost(c.CPU, aimCPURatio))
}

// throughput and cost say in words what the spread allows.
func (c comparison) throughput() string { return compare(c.Spans, "higher", "lower") }
func (c comparison) cost() string       { return compare(c.CPU, "higher", "lower") }

func (c comparison) targets() string {
	switch {
	case !c.Row.Gateway:
		return ""
	case c.minimum() == notJudged:
		return notJudged.String()
	}
	return fmt.Sprintf("minimum %s; aim %s", c.minimum(), c.aim())
}
