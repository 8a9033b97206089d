package wal

import (
	"slices"
	"sort"
)

// seqRange is the sequence numbers [from, to).
type seqRange struct{ from, to uint64 }

// ackSet holds the sequence numbers above the low-water mark that need no
// delivery: acknowledged out of order, or not in the log at all (set aside
// or deleted segments). It is a sorted list of disjoint, non-adjacent
// ranges rather than a set of numbers: consumers take consecutive records,
// so the acknowledged numbers above the low-water mark form about one range
// per batch still in flight, however many records they hold. This is also
// the form the checkpoint persists.
type ackSet []seqRange

// search returns the index of the first range starting after s.
func (a ackSet) search(s uint64) int {
	return sort.Search(len(a), func(i int) bool { return a[i].from > s })
}

func (a ackSet) contains(s uint64) bool {
	i := a.search(s)
	return i > 0 && s < a[i-1].to
}

// add inserts s and says whether it was not in the set. It allocates only
// when the list grows past its capacity.
func (a *ackSet) add(s uint64) bool {
	r := *a
	i := r.search(s)
	if i > 0 && s < r[i-1].to {
		return false
	}
	joinsPrev := i > 0 && r[i-1].to == s
	joinsNext := i < len(r) && r[i].from == s+1
	switch {
	case joinsPrev && joinsNext:
		r[i-1].to = r[i].to
		*a = slices.Delete(r, i, i+1)
	case joinsPrev:
		r[i-1].to = s + 1
	case joinsNext:
		r[i].from = s
	default:
		*a = slices.Insert(r, i, seqRange{from: s, to: s + 1})
	}
	return true
}

// addRange inserts [from, to), merging with what it touches.
func (a *ackSet) addRange(from, to uint64) {
	if from >= to {
		return
	}
	r := *a
	// Ranges before i end before from; ranges from j on start after to.
	i := sort.Search(len(r), func(k int) bool { return r[k].to >= from })
	j := sort.Search(len(r), func(k int) bool { return r[k].from > to })
	if i < j {
		from = min(from, r[i].from)
		to = max(to, r[j-1].to)
	}
	*a = slices.Replace(r, i, j, seqRange{from: from, to: to})
}

// popBelow removes the first range when it starts at or below lwm and
// returns its end; ok is false when there is no such range.
func (a *ackSet) popBelow(lwm uint64) (end uint64, ok bool) {
	r := *a
	if len(r) == 0 || r[0].from > lwm {
		return 0, false
	}
	end = r[0].to
	*a = slices.Delete(r, 0, 1)
	return end, true
}

// dropBelow removes every number below s.
func (a *ackSet) dropBelow(s uint64) {
	r := *a
	i := sort.Search(len(r), func(k int) bool { return r[k].to > s })
	r = slices.Delete(r, 0, i)
	if len(r) > 0 && r[0].from < s {
		r[0].from = s
	}
	*a = r
}
