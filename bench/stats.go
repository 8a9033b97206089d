package main

import (
	"fmt"
	"slices"
)

// spread is a figure over the rounds of one pipeline: the median and the
// range every round fell in.
type spread struct {
	Median, Min, Max float64
	N                int // rounds
}

func spreadOf(vals []float64) spread {
	if len(vals) == 0 {
		return spread{}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{Median: med, Min: s[0], Max: s[n-1], N: n}
}

// ratioRange is a/b for two spreads: the ratio of the medians, and the
// range from pairing a's worst round with b's best and the other way round.
// Any pairing of one round of each lies in [Lo, Hi].
type ratioRange struct {
	Median, Lo, Hi float64
	N              int // the fewer rounds of the two
}

func ratioOf(a, b spread) ratioRange {
	if b.Median <= 0 || b.Min <= 0 || a.N == 0 {
		return ratioRange{}
	}
	return ratioRange{Median: a.Median / b.Median, Lo: a.Min / b.Max, Hi: a.Max / b.Min, N: min(a.N, b.N)}
}

func (r ratioRange) valid() bool { return r.N > 0 }

func (r ratioRange) String() string {
	if !r.valid() {
		return "-"
	}
	if r.N < 2 {
		return fmt.Sprintf("%.2fx", r.Median)
	}
	return fmt.Sprintf("%.2fx (%.2f-%.2f)", r.Median, r.Lo, r.Hi)
}

// verdict is what the spread allows to say about a ratio and a bound.
type verdict int

const (
	notJudged   verdict = iota // fewer than 2 rounds: no spread to judge by
	met                        // every pairing of rounds is on the right side
	missed                     // every pairing is on the wrong side
	withinNoise                // the range straddles the bound
)

func (v verdict) String() string {
	switch v {
	case met:
		return "met"
	case missed:
		return "MISSED"
	case withinNoise:
		return "within noise"
	}
	return "not judged (1 round)"
}

// atLeast judges r >= bound.
func atLeast(r ratioRange, bound float64) verdict {
	switch {
	case !r.valid() || r.N < 2:
		return notJudged
	case r.Lo >= bound:
		return met
	case r.Hi < bound:
		return missed
	}
	return withinNoise
}

// atMost judges r <= bound.
func atMost(r ratioRange, bound float64) verdict {
	switch {
	case !r.valid() || r.N < 2:
		return notJudged
	case r.Hi <= bound:
		return met
	case r.Lo > bound:
		return missed
	}
	return withinNoise
}

// both is the verdict on two conditions that must hold together.
func both(a, b verdict) verdict {
	switch {
	case a == notJudged || b == notJudged:
		return notJudged
	case a == missed || b == missed:
		return missed
	case a == met && b == met:
		return met
	}
	return withinNoise
}

// compare says how a ratio stands to 1 in words: more (above 1 in every
// pairing), less, or within noise.
func compare(r ratioRange, more, less string) string {
	switch {
	case !r.valid():
		return "-"
	case r.N < 2:
		return "not judged (1 round)"
	case r.Lo > 1:
		return more
	case r.Hi < 1:
		return less
	}
	return "within noise"
}
