// Package budget is a byte budget shared by concurrent requests: each
// takes bytes before it spends memory on them and gives them back when it
// is done. Taking never waits: a request that does not fit is refused at
// once, so the caller answers a retryable error instead of queueing work
// (and memory) behind the limit.
package budget

import "sync/atomic"

// Budget is a limit on bytes in flight. The zero value is not usable.
type Budget struct {
	limit    int64
	inFlight atomic.Int64
}

// New returns a budget of limit bytes (limit > 0).
func New(limit int64) *Budget { return &Budget{limit: limit} }

// TryTake takes n bytes (n >= 0) when they fit under the limit, and
// reports whether it did.
func (b *Budget) TryTake(n int64) bool {
	for {
		cur := b.inFlight.Load()
		if cur+n > b.limit {
			return false
		}
		if b.inFlight.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Give returns n bytes taken earlier.
func (b *Budget) Give(n int64) {
	if b.inFlight.Add(-n) < 0 {
		panic("budget: more bytes given back than taken")
	}
}

// InFlight is the bytes taken now.
func (b *Budget) InFlight() int64 { return b.inFlight.Load() }

// Limit is the budget's size.
func (b *Budget) Limit() int64 { return b.limit }
