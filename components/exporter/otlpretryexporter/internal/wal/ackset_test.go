package wal

import (
	"math/rand"
	"testing"
)

// TestAckSetMatchesAModel drives the range list with random additions and
// low-water-mark moves and checks it against a plain set after every step:
// the same members, and the list stays sorted, disjoint and merged.
func TestAckSetMatchesAModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		var a ackSet
		model := map[uint64]bool{}
		lwm := uint64(0)
		for step := 0; step < 300; step++ {
			switch op := rng.Intn(10); {
			case op < 6:
				s := lwm + 1 + uint64(rng.Intn(60))
				if got, want := a.add(s), !model[s]; got != want {
					t.Fatalf("add(%d) = %v, want %v (set %v)", s, got, want, a)
				}
				model[s] = true
			case op < 8:
				from := lwm + 1 + uint64(rng.Intn(60))
				to := from + uint64(rng.Intn(8))
				a.addRange(from, to)
				for s := from; s < to; s++ {
					model[s] = true
				}
			default:
				// What advance does: the mark moves to the next number,
				// then over every range that reaches it.
				delete(model, lwm)
				lwm++
				for {
					end, ok := a.popBelow(lwm)
					if !ok {
						break
					}
					for s := lwm; s < end; s++ {
						delete(model, s)
					}
					lwm = max(lwm, end)
				}
				if model[lwm] {
					t.Fatalf("mark %d left in the set %v", lwm, a)
				}
			}
			for i, r := range a {
				if r.from >= r.to || (i > 0 && a[i-1].to >= r.from) || r.from <= lwm {
					t.Fatalf("ranges %v not sorted, disjoint and merged above %d", a, lwm)
				}
			}
			n := 0
			for _, r := range a {
				n += int(r.to - r.from)
			}
			if n != len(model) {
				t.Fatalf("%d numbers in %v, model has %d", n, a, len(model))
			}
			for s := range model {
				if !a.contains(s) {
					t.Fatalf("%d missing from %v", s, a)
				}
			}
		}
	}
}
