package circuitbreaker

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func settings() Settings {
	return Settings{Window: 10 * time.Second, MinAttempts: 20, FailureRatio: 0.8, OpenDuration: 30 * time.Second, HalfOpenProbes: 3}
}

// attempt makes one allowed attempt and records its result.
func attempt(t *testing.T, b *Breaker, fail bool) {
	t.Helper()
	ok, _, _ := b.Allow()
	require.True(t, ok)
	if fail {
		b.Failure()
	} else {
		b.Success()
	}
}

func TestTripsOnRateNotOnARun(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	b := New(settings(), clk.now, nil)
	// Nineteen failures in a row: below min_attempts, still closed.
	for i := 0; i < 19; i++ {
		attempt(t, b, true)
	}
	assert.Equal(t, Closed, b.State(), "a run below min_attempts does not trip")
	attempt(t, b, true)
	assert.Equal(t, Open, b.State(), "20 attempts, all failed")
}

func TestFlakyBackendKeepsTheCircuitClosed(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	b := New(settings(), clk.now, nil)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10_000; i++ {
		clk.add(10 * time.Millisecond)
		attempt(t, b, r.IntN(2) == 0)
		require.Equal(t, Closed, b.State(), "a 50%% failing backend opened the circuit at attempt %d", i)
	}
}

func TestOldFailuresLeaveTheWindow(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	b := New(settings(), clk.now, nil)
	for i := 0; i < 15; i++ {
		attempt(t, b, true)
	}
	clk.add(11 * time.Second)
	for i := 0; i < 10; i++ {
		attempt(t, b, true)
	}
	assert.Equal(t, Closed, b.State(), "the first 15 failures are out of the window")
}

func TestTransitions(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	var seen []string
	set := settings()
	set.MinAttempts = 3
	b := New(set, clk.now, func(from, to State) { seen = append(seen, from.String()+">"+to.String()) })
	for i := 0; i < 3; i++ {
		attempt(t, b, true)
	}
	require.Equal(t, Open, b.State())
	ok, wait, ch := b.Allow()
	assert.False(t, ok)
	assert.Equal(t, 30*time.Second, wait)
	assert.NotNil(t, ch)

	clk.add(30 * time.Second)
	// Half-open: three probes may go; all fail -> open again.
	for i := 0; i < 3; i++ {
		ok, _, _ = b.Allow()
		require.True(t, ok, "probe %d", i)
	}
	ok, _, _ = b.Allow()
	assert.False(t, ok, "no more than half_open_probes")
	b.Failure()
	b.Failure()
	assert.Equal(t, HalfOpen, b.State(), "two of three probes failed")
	b.Failure()
	assert.Equal(t, Open, b.State())
	clk.add(29 * time.Second)
	ok, _, _ = b.Allow()
	assert.False(t, ok)
	clk.add(time.Second)
	// A flaky backend: the first probe fails, the second succeeds -> closed.
	attempt(t, b, true)
	assert.Equal(t, HalfOpen, b.State())
	attempt(t, b, false)
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}, seen)
}

func TestTripOpensForTheGivenDuration(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	b := New(settings(), clk.now, nil)
	b.Trip(time.Minute)
	assert.Equal(t, Open, b.State())
	assert.Equal(t, time.Minute, b.Ready())
	clk.add(time.Minute)
	attempt(t, b, false)
	assert.Equal(t, Closed, b.State())
}

func TestReleaseLetsAnotherProbe(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	set := settings()
	set.HalfOpenProbes = 1
	b := New(set, clk.now, nil)
	b.Trip(time.Second)
	clk.add(time.Second)
	ok, _, _ := b.Allow()
	require.True(t, ok)
	ok, _, ch := b.Allow()
	require.False(t, ok)
	b.Release()
	select {
	case <-ch:
	default:
		t.Fatal("release did not wake waiters")
	}
	ok, _, _ = b.Allow()
	assert.True(t, ok)
}

func TestNilBreakerAllows(t *testing.T) {
	var b *Breaker
	ok, _, _ := b.Allow()
	assert.True(t, ok)
	b.Failure()
	b.Success()
	b.Release()
	b.Trip(time.Second)
	assert.Equal(t, Closed, b.State())
	assert.Zero(t, b.Ready())
}

func TestReadyTellsWhenTheProbeMayGo(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	set := settings()
	set.HalfOpenProbes = 1
	b := New(set, clk.now, nil)
	assert.Zero(t, b.Ready(), "closed")
	b.Trip(30 * time.Second)
	assert.Equal(t, 30*time.Second, b.Ready())
	clk.add(10 * time.Second)
	assert.Equal(t, 20*time.Second, b.Ready())
	assert.Equal(t, Open, b.State(), "Ready changes nothing")
	clk.add(20 * time.Second)
	assert.Zero(t, b.Ready(), "open duration elapsed: the probe may go")
	assert.Equal(t, Open, b.State(), "only Allow moves to half-open")
	ok, _, _ := b.Allow()
	require.True(t, ok)
	assert.Equal(t, HalfOpen, b.State())
	assert.Equal(t, 30*time.Second, b.Ready(), "probe in flight")
	b.Success()
	assert.Zero(t, b.Ready())
}
