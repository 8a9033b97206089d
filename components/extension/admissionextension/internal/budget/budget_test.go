package budget

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTakeAndGive(t *testing.T) {
	b := New(100)
	require.True(t, b.TryTake(60))
	require.False(t, b.TryTake(41), "over the limit")
	require.True(t, b.TryTake(40), "exactly the limit")
	require.Equal(t, int64(100), b.InFlight())
	b.Give(60)
	require.True(t, b.TryTake(0))
	require.True(t, b.TryTake(60))
	b.Give(100)
	require.Zero(t, b.InFlight())
	require.Panics(t, func() { b.Give(1) })
}

// TestConcurrentNeverOverLimit: however takes interleave, what is in
// flight never passes the limit, and everything comes back.
func TestConcurrentNeverOverLimit(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10000 {
				if b.TryTake(70) {
					require.LessOrEqual(t, b.InFlight(), int64(1000))
					b.Give(70)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, b.InFlight())
}
