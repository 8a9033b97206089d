// Package circuitbreaker is the otlp_retry exporter's circuit breaker: a
// small consecutive-failures breaker with one probe in half-open state.
//
// closed --(threshold consecutive failures)--> open --(open duration)-->
// half-open --(probe succeeds)--> closed; half-open --(probe fails)--> open.
package circuitbreaker

import (
	"sync"
	"time"
)

// State is the breaker's state; the numbers are what the circuit-state gauge shows.
type State int

const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	default:
		return "open"
	}
}

// Breaker is safe for concurrent use. A nil *Breaker always allows.
type Breaker struct {
	threshold int
	openFor   time.Duration
	now       func() time.Time
	onChange  func(from, to State)

	mu       sync.Mutex
	state    State
	failures int
	openedAt time.Time
	probing  bool
	changed  chan struct{} // closed and replaced on every state change
}

// New returns a closed breaker. now may be nil (time.Now); onChange, called
// outside the lock on every transition, may be nil.
func New(threshold int, openFor time.Duration, now func() time.Time, onChange func(from, to State)) *Breaker {
	if now == nil {
		now = time.Now
	}
	return &Breaker{threshold: threshold, openFor: openFor, now: now, onChange: onChange, changed: make(chan struct{})}
}

// Allow asks to send one attempt. It returns true when the attempt may go
// (the caller must then report Success or Failure); otherwise it returns the
// time to wait before asking again and a channel closed on the next state change.
func (b *Breaker) Allow() (bool, time.Duration, <-chan struct{}) {
	if b == nil {
		return true, 0, nil
	}
	b.mu.Lock()
	var from State
	transition := false
	allowed := false
	var wait time.Duration
	switch b.state {
	case Closed:
		allowed = true
	case Open:
		if elapsed := b.now().Sub(b.openedAt); elapsed >= b.openFor {
			from, transition = b.state, true
			b.setLocked(HalfOpen)
			b.probing = true
			allowed = true
		} else {
			wait = b.openFor - elapsed
		}
	case HalfOpen:
		if !b.probing {
			b.probing = true
			allowed = true
		} else {
			wait = b.openFor
		}
	}
	ch := b.changed
	b.mu.Unlock()
	if transition && b.onChange != nil {
		b.onChange(from, HalfOpen)
	}
	return allowed, wait, ch
}

// Success records a successful attempt: the breaker closes.
func (b *Breaker) Success() {
	if b == nil {
		return
	}
	b.mu.Lock()
	from := b.state
	b.failures = 0
	b.probing = false
	if from != Closed {
		b.setLocked(Closed)
	}
	b.mu.Unlock()
	if from != Closed && b.onChange != nil {
		b.onChange(from, Closed)
	}
}

// Failure records a failed attempt.
func (b *Breaker) Failure() {
	if b == nil {
		return
	}
	b.mu.Lock()
	from := b.state
	to := from
	switch from {
	case Closed:
		b.failures++
		if b.failures >= b.threshold {
			to = Open
		}
	case HalfOpen:
		to = Open
	case Open:
		// A failure reported by an attempt allowed before the circuit opened.
	}
	if to == Open && from != Open {
		b.openedAt = b.now()
		b.probing = false
		b.setLocked(Open)
	}
	b.mu.Unlock()
	if to != from && b.onChange != nil {
		b.onChange(from, to)
	}
}

// Release gives back an allowed attempt that was not made (e.g. shutdown).
func (b *Breaker) Release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.state == HalfOpen && b.probing {
		b.probing = false
		close(b.changed)
		b.changed = make(chan struct{})
	}
	b.mu.Unlock()
}

// Ready returns how long until Allow would let an attempt through: 0 when it
// would now (closed; open with open duration elapsed; half-open with the probe
// free). It changes nothing: a caller that may wait for the circuit without
// new data (the dead-letter replay) uses it to know when to ask Allow for
// the probe, since only Allow moves the breaker from open to half-open.
func (b *Breaker) Ready() time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Open:
		if left := b.openFor - b.now().Sub(b.openedAt); left > 0 {
			return left
		}
	case HalfOpen:
		if b.probing {
			return b.openFor
		}
	}
	return 0
}

// State returns the current state.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *Breaker) setLocked(s State) {
	b.state = s
	close(b.changed)
	b.changed = make(chan struct{})
}
