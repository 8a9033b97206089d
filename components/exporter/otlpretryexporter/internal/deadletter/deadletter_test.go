package deadletter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWriteEvictReplayOldestFirst(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 25)
	require.NoError(t, err)
	defer s.Release()
	for i, p := range []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"} {
		evicted, err := s.Write(Traces, i+1, []byte(p))
		require.NoError(t, err)
		if i == 2 {
			require.Len(t, evicted, 1, "the oldest file makes room")
			assert.Equal(t, 1, evicted[0].Items)
		}
	}
	assert.Equal(t, 2, s.Len())
	assert.EqualValues(t, 20, s.Bytes())
	_, err = s.Write(Logs, 1, make([]byte, 26))
	assert.ErrorIs(t, err, ErrTooLarge)

	// A half-written file and an unrelated one survive a reopen as expected.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.tmp"), []byte("partial"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("keep"), 0o600))

	var order []string
	fail := errors.New("backend down")
	st, err := s.Replay(context.Background(), Traces, func(_ context.Context, e Entry, p []byte) error {
		order = append(order, string(p))
		if len(order) == 2 {
			return fail
		}
		return nil
	})
	assert.ErrorIs(t, err, fail)
	assert.Equal(t, 1, st.Files)
	assert.Equal(t, []string{"bbbbbbbbbb", "cccccccccc"}, order)
	assert.Equal(t, 1, s.Len(), "the failed file stays")

	st, err = Replay(context.Background(), dir, func(context.Context, Entry, []byte) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, 1, st.Files)
	assert.Equal(t, 3, st.Items)
	_, err = os.Stat(filepath.Join(dir, "x.tmp"))
	assert.True(t, os.IsNotExist(err) || err == nil) // removed on first open only
	_, err = os.Stat(filepath.Join(dir, "README"))
	assert.NoError(t, err)
}

func TestReopenFindsFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 0)
	require.NoError(t, err)
	_, err = s.Write(Metrics, 7, []byte("payload"))
	require.NoError(t, err)
	s.Release()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "y.pb.tmp"), []byte("partial"), 0o600))
	s2, err := Acquire(dir, 0)
	require.NoError(t, err)
	defer s2.Release()
	got := s2.Oldest("", 10)
	require.Len(t, got, 1)
	assert.Equal(t, Metrics, got[0].Signal)
	assert.Equal(t, 7, got[0].Items)
	_, err = os.Stat(filepath.Join(dir, "y.pb.tmp"))
	assert.True(t, os.IsNotExist(err), "half-written files are removed on open")
}

func TestWriteIfRoomNeverEvicts(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 25)
	require.NoError(t, err)
	defer s.Release()
	require.NoError(t, s.WriteIfRoom(Traces, 1, []byte("aaaaaaaaaa")))
	require.NoError(t, s.WriteIfRoom(Traces, 2, []byte("bbbbbbbbbb")))
	assert.True(t, s.HasRoom(5))
	assert.False(t, s.HasRoom(6))
	assert.ErrorIs(t, s.WriteIfRoom(Traces, 3, []byte("cccccccccc")), ErrFull)
	assert.ErrorIs(t, s.WriteIfRoom(Traces, 3, make([]byte, 26)), ErrTooLarge)
	assert.Equal(t, 2, s.Len(), "nothing evicted, nothing added")
	assert.EqualValues(t, 20, s.Bytes())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no file left behind by the refused writes")
	// Write (data that cannot be refused) still evicts the oldest.
	evicted, err := s.Write(Traces, 3, []byte("cccccccccc"))
	require.NoError(t, err)
	require.Len(t, evicted, 1)
	assert.Equal(t, 1, evicted[0].Items)
}

func TestWriteIfRoomConcurrentStaysUnderBound(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 100)
	require.NoError(t, err)
	defer s.Release()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.WriteIfRoom(Logs, 1, []byte("0123456789"))
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrFull) {
				full++
			} else if assert.NoError(t, err) {
				ok++
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 10, ok)
	assert.Equal(t, 20, full)
	assert.EqualValues(t, 100, s.Bytes())
}
