package circuitbreaker

import (
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

func TestTransitions(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	var seen []string
	b := New(3, 30*time.Second, clk.now, func(from, to State) { seen = append(seen, from.String()+">"+to.String()) })

	for i := 0; i < 2; i++ {
		ok, _, _ := b.Allow()
		require.True(t, ok)
		b.Failure()
	}
	assert.Equal(t, Closed, b.State())
	ok, _, _ := b.Allow()
	require.True(t, ok)
	b.Failure()
	assert.Equal(t, Open, b.State())

	ok, wait, ch := b.Allow()
	assert.False(t, ok)
	assert.Equal(t, 30*time.Second, wait)
	assert.NotNil(t, ch)

	clk.add(30 * time.Second)
	ok, _, _ = b.Allow() // the probe
	require.True(t, ok)
	assert.Equal(t, HalfOpen, b.State())
	ok, _, _ = b.Allow() // only one probe at a time
	assert.False(t, ok)

	b.Failure() // probe failed: open again for the full duration
	assert.Equal(t, Open, b.State())
	clk.add(29 * time.Second)
	ok, _, _ = b.Allow()
	assert.False(t, ok)
	clk.add(time.Second)
	ok, _, _ = b.Allow()
	require.True(t, ok)
	b.Success()
	assert.Equal(t, Closed, b.State())

	assert.Equal(t, []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}, seen)
}

func TestSuccessResetsCount(t *testing.T) {
	b := New(2, time.Second, nil, nil)
	b.Failure()
	b.Success()
	b.Failure()
	assert.Equal(t, Closed, b.State())
	b.Failure()
	assert.Equal(t, Open, b.State())
}

func TestReleaseLetsAnotherProbe(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	b := New(1, time.Second, clk.now, nil)
	b.Failure()
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
	assert.Equal(t, Closed, b.State())
}

func TestReadyTellsWhenTheProbeMayGo(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	b := New(1, 30*time.Second, clk.now, nil)
	assert.Zero(t, b.Ready(), "closed")
	ok, _, _ := b.Allow()
	require.True(t, ok)
	b.Failure()
	require.Equal(t, Open, b.State())
	assert.Equal(t, 30*time.Second, b.Ready())
	clk.add(10 * time.Second)
	assert.Equal(t, 20*time.Second, b.Ready())
	assert.Equal(t, Open, b.State(), "Ready changes nothing")
	clk.add(20 * time.Second)
	assert.Zero(t, b.Ready(), "open duration elapsed: the probe may go")
	assert.Equal(t, Open, b.State(), "only Allow moves to half-open")
	ok, _, _ = b.Allow()
	require.True(t, ok)
	assert.Equal(t, HalfOpen, b.State())
	assert.Equal(t, 30*time.Second, b.Ready(), "probe in flight")
	b.Success()
	assert.Zero(t, b.Ready())
	var nilBreaker *Breaker
	assert.Zero(t, nilBreaker.Ready())
}
