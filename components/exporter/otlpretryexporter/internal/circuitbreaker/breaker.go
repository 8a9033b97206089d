// Package circuitbreaker is the otlp_retry exporter's circuit breaker. It
// trips on a sustained failure rate, not on a handful of consecutive
// failures, so that a backend refusing half of what it gets keeps receiving
// while a down one is left alone:
//
//	closed --(at least MinAttempts in Window, failure ratio >= FailureRatio)--> open
//	open --(OpenDuration)--> half-open
//	half-open --(a probe succeeds)--> closed
//	half-open --(HalfOpenProbes probes fail in a row)--> open
//	any --(Trip(d): the backend refuses our credentials)--> open for d
//
// Half-open lets up to HalfOpenProbes attempts through, one after the other
// or at once: a down backend fails them all, while a flaky one (50%) fails
// ten in a row once in a thousand.
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

// Settings configure a Breaker.
type Settings struct {
	// Window is the sliding window over which the failure ratio is taken.
	Window time.Duration
	// MinAttempts is the number of attempts the window must hold before the
	// ratio can trip the breaker.
	MinAttempts int
	// FailureRatio trips the breaker when failures/attempts in the window
	// reach it (0 < ratio <= 1).
	FailureRatio float64
	// OpenDuration is how long the circuit stays open before probing.
	OpenDuration time.Duration
	// HalfOpenProbes is how many attempts half-open lets through before a
	// run of failures opens the circuit again.
	HalfOpenProbes int
}

// buckets is the number of slices the window is counted in.
const buckets = 10

type bucket struct {
	start              time.Time
	attempts, failures int
}

// Breaker is safe for concurrent use. A nil *Breaker always allows.
type Breaker struct {
	set      Settings
	now      func() time.Time
	onChange func(from, to State)

	mu       sync.Mutex
	state    State
	ring     [buckets]bucket
	openedAt time.Time
	openFor  time.Duration
	inFlight int // half-open attempts allowed and not yet settled
	failed   int // half-open failures in a row
	changed  chan struct{}
}

// New returns a closed breaker. now may be nil (time.Now); onChange, called
// outside the lock on every transition, may be nil.
func New(set Settings, now func() time.Time, onChange func(from, to State)) *Breaker {
	if now == nil {
		now = time.Now
	}
	if set.HalfOpenProbes < 1 {
		set.HalfOpenProbes = 1
	}
	if set.MinAttempts < 1 {
		set.MinAttempts = 1
	}
	return &Breaker{set: set, now: now, onChange: onChange, changed: make(chan struct{})}
}

// Allow asks to send one attempt. It returns true when the attempt may go
// (the caller must then report Success, Failure or Release); otherwise it
// returns the time to wait before asking again and a channel closed on the
// next state change.
func (b *Breaker) Allow() (bool, time.Duration, <-chan struct{}) {
	if b == nil {
		return true, 0, nil
	}
	b.mu.Lock()
	from := b.state
	allowed := false
	var wait time.Duration
	switch b.state {
	case Closed:
		allowed = true
	case Open:
		if left := b.openFor - b.now().Sub(b.openedAt); left > 0 {
			wait = left
			break
		}
		b.setLocked(HalfOpen)
		fallthrough
	case HalfOpen:
		if b.inFlight < b.set.HalfOpenProbes-b.failed {
			b.inFlight++
			allowed = true
		} else {
			wait = b.set.OpenDuration
		}
	}
	to, ch := b.state, b.changed
	b.mu.Unlock()
	b.notify(from, to)
	return allowed, wait, ch
}

// Success records a successful attempt (or an answer that shows the backend
// is up). In half-open it closes the circuit.
func (b *Breaker) Success() { b.record(false) }

// Failure records a failed attempt.
func (b *Breaker) Failure() { b.record(true) }

func (b *Breaker) record(failed bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	from := b.state
	switch b.state {
	case Closed:
		bk := b.bucketLocked()
		bk.attempts++
		if failed {
			bk.failures++
		}
		if a, f := b.sumLocked(); failed && a >= b.set.MinAttempts && float64(f) >= b.set.FailureRatio*float64(a) {
			b.openLocked(b.set.OpenDuration)
		}
	case HalfOpen:
		if b.inFlight > 0 {
			b.inFlight--
		}
		if !failed {
			b.closeLocked()
			break
		}
		b.failed++
		if b.failed >= b.set.HalfOpenProbes {
			b.openLocked(b.set.OpenDuration)
		}
	case Open:
		// An attempt allowed before the circuit opened: it says nothing new.
	}
	to := b.state
	b.mu.Unlock()
	b.notify(from, to)
}

// Trip opens the circuit for d whatever its state: the backend refused our
// credentials, and every attempt until they change would be refused too.
func (b *Breaker) Trip(d time.Duration) {
	if b == nil {
		return
	}
	b.mu.Lock()
	from := b.state
	b.openLocked(d)
	b.mu.Unlock()
	b.notify(from, Open)
}

// Release gives back an allowed attempt that was not made (e.g. shutdown).
func (b *Breaker) Release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.state == HalfOpen && b.inFlight > 0 {
		b.inFlight--
		b.broadcastLocked()
	}
	b.mu.Unlock()
}

// Ready returns how long until Allow would let an attempt through: 0 when it
// would now. It changes nothing: a caller that waits for the circuit without
// new data (the dead-letter replay) uses it to know when to ask Allow for a
// probe, since only Allow moves the breaker from open to half-open.
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
		if b.inFlight >= b.set.HalfOpenProbes-b.failed {
			return b.set.OpenDuration
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

// bucketLocked returns the bucket for now, clearing buckets that fell out
// of the window.
func (b *Breaker) bucketLocked() *bucket {
	now := b.now()
	width := b.set.Window / buckets
	if width <= 0 {
		width = time.Nanosecond
	}
	slot := now.Truncate(width)
	bk := &b.ring[(slot.UnixNano()/int64(width))%buckets]
	if !bk.start.Equal(slot) {
		*bk = bucket{start: slot}
	}
	return bk
}

func (b *Breaker) sumLocked() (attempts, failures int) {
	oldest := b.now().Add(-b.set.Window)
	for _, bk := range b.ring {
		if bk.start.After(oldest) {
			attempts += bk.attempts
			failures += bk.failures
		}
	}
	return attempts, failures
}

func (b *Breaker) openLocked(d time.Duration) {
	b.openedAt = b.now()
	b.openFor = d
	b.inFlight, b.failed = 0, 0
	b.setLocked(Open)
}

func (b *Breaker) closeLocked() {
	b.ring = [buckets]bucket{}
	b.inFlight, b.failed = 0, 0
	b.setLocked(Closed)
}

func (b *Breaker) setLocked(s State) {
	b.state = s
	b.broadcastLocked()
}

func (b *Breaker) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Breaker) notify(from, to State) {
	if from != to && b.onChange != nil {
		b.onChange(from, to)
	}
}
