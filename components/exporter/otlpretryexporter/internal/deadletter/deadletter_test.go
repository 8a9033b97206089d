package deadletter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWriteReplayOldestFirst(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 25, true)
	require.NoError(t, err)
	defer s.Release()
	for i, p := range []string{"aaaaaaaaaa", "bbbbbbbbbb"} {
		require.NoError(t, s.Write(Traces, i+2, []byte(p)))
	}
	assert.Equal(t, 2, s.Len())
	assert.EqualValues(t, 20, s.Bytes())
	assert.ErrorIs(t, s.Write(Logs, 1, make([]byte, 26)), ErrTooLarge)

	// A half-written file and an unrelated one survive a reopen as expected.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.tmp"), []byte("partial"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("keep"), 0o600))

	var order []string
	fail := errors.New("backend down")
	st, err := s.ReplayDue(context.Background(), Traces, always, func(_ context.Context, e Entry, p []byte) error {
		order = append(order, string(p))
		if len(order) == 2 {
			return fail
		}
		return nil
	})
	assert.ErrorIs(t, err, fail)
	assert.Equal(t, 1, st.Files)
	assert.Equal(t, []string{"aaaaaaaaaa", "bbbbbbbbbb"}, order)
	assert.Equal(t, 1, s.Len(), "the failed file stays")

	st, err = replayDir(context.Background(), dir, func(context.Context, Entry, []byte) error { return nil })
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
	s, err := Acquire(dir, 0, false)
	require.NoError(t, err)
	require.NoError(t, s.Write(Metrics, 7, []byte("payload")))
	s.Release()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "y.pb.tmp"), []byte("partial"), 0o600))
	s2, err := Acquire(dir, 0, false)
	require.NoError(t, err)
	defer s2.Release()
	got := s2.Oldest("", 10)
	require.Len(t, got, 1)
	assert.Equal(t, Metrics, got[0].Signal)
	assert.Equal(t, 7, got[0].Items)
	_, err = os.Stat(filepath.Join(dir, "y.pb.tmp"))
	assert.True(t, os.IsNotExist(err), "half-written files are removed on open")
}

func TestWriteNeverEvicts(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 25, true)
	require.NoError(t, err)
	defer s.Release()
	require.NoError(t, s.Write(Traces, 1, []byte("aaaaaaaaaa")))
	require.NoError(t, s.Write(Traces, 2, []byte("bbbbbbbbbb")))
	assert.ErrorIs(t, s.Write(Traces, 3, []byte("cccccccccc")), ErrFull)
	assert.ErrorIs(t, s.Write(Traces, 3, make([]byte, 26)), ErrTooLarge)
	assert.Equal(t, 2, s.Len(), "nothing evicted, nothing added")
	assert.EqualValues(t, 20, s.Bytes())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no file left behind by the refused writes, none removed")
}

// TestCorruptFileSetAsideNotDeleted: a send that says ErrCorrupt moves the
// file into corrupt/ (kept, out of the bound), and the replay goes on.
func TestCorruptFileSetAsideNotDeleted(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 0, true)
	require.NoError(t, err)
	defer s.Release()
	require.NoError(t, s.Write(Traces, 1, []byte("garbage")))
	require.NoError(t, s.Write(Traces, 2, []byte("good")))
	var sent []string
	st, err := s.ReplayDue(context.Background(), "", always, func(_ context.Context, _ Entry, p []byte) error {
		if string(p) == "garbage" {
			return fmt.Errorf("decode: %w", ErrCorrupt)
		}
		sent = append(sent, string(p))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Corrupt)
	assert.Equal(t, 1, st.Files)
	assert.Equal(t, []string{"good"}, sent)
	assert.Zero(t, s.Len())
	assert.Zero(t, s.Bytes())
	aside, err := filepath.Glob(filepath.Join(dir, CorruptDir, "*.traces.pb"))
	require.NoError(t, err)
	require.Len(t, aside, 1)
	body, err := os.ReadFile(aside[0])
	require.NoError(t, err)
	assert.Equal(t, "garbage", string(body))
	// Reopening does not count the corrupt/ subdirectory.
	s.Release()
	s2, err := Acquire(dir, 0, true)
	require.NoError(t, err)
	assert.Zero(t, s2.Len())
	s2.Release()
	s, _ = Acquire(dir, 0, true) // for the deferred Release
}

func TestWriteConcurrentStaysUnderBound(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 100, false)
	require.NoError(t, err)
	defer s.Release()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Write(Logs, 1, []byte("0123456789"))
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

// A second Acquire of an open directory shares the store only with the same
// settings: another bound or fsync is refused, not silently ignored.
func TestAcquireRefusesOtherSettings(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 25, true)
	require.NoError(t, err)
	defer s.Release()
	_, err = Acquire(dir, 26, true)
	assert.ErrorContains(t, err, "already open in this process with max_bytes 25 and fsync true (asked: 26, true)")
	_, err = Acquire(dir, 25, false)
	assert.ErrorContains(t, err, "(asked: 25, false)")
	same, err := Acquire(filepath.Join(dir, "."), 25, true)
	require.NoError(t, err)
	assert.Same(t, s, same)
	same.Release()
}

// The directory is locked while a store is open (another process, here
// another open file, cannot take it) and free after the last Release.
func TestStoreLocksItsDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 25, true)
	require.NoError(t, err)
	_, err = fsdir.Lock(dir)
	require.Error(t, err, "the dead letter's lock was free while it was open")
	s.Release()
	f, err := fsdir.Lock(dir)
	require.NoError(t, err, "the lock stayed after the last Release")
	_, err = Acquire(dir, 25, true)
	assert.ErrorContains(t, err, "is in use by another process")
	require.NoError(t, fsdir.Unlock(f))
}

// A corrupt file set aside twice under one name keeps both.
func TestSetAsideKeepsEarlierCorruptFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 1000, false)
	require.NoError(t, err)
	defer s.Release()
	require.NoError(t, s.Write(Traces, 1, []byte("first")))
	e := s.Oldest("", 1)[0]
	require.NoError(t, s.SetAside(e))
	// The same name again (a file restored by hand, or a clock step).
	require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name), []byte("second"), 0o640))
	require.NoError(t, s.SetAside(e))
	for name, want := range map[string]string{e.Name: "first", e.Name + ".1": "second"} {
		got, err := os.ReadFile(filepath.Join(dir, CorruptDir, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
}

// replayDir replays every file of dir through a store open on it (the one
// already open in this process, whatever its settings), oldest first.
func replayDir(ctx context.Context, dir string, send SendFunc) (ReplayStats, error) {
	s, err := acquire(dir, func(*Store) error { return nil }, 0, true)
	if err != nil {
		return ReplayStats{}, err
	}
	defer s.Release()
	return s.ReplayDue(ctx, "", always, send)
}

// always makes every file due.
func always(Entry) bool { return true }
