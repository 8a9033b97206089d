package deadletter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplayDueGoesPastAKeptFile: a file whose send fails with ErrKeep
// stays and the pass goes on; one not due is skipped; any other error
// stops the pass.
func TestReplayDueGoesPastAKeptFile(t *testing.T) {
	s, err := Acquire(t.TempDir(), 0, false)
	require.NoError(t, err)
	defer s.Release()
	for _, p := range []string{"refused", "skipped", "ok-1", "down", "ok-2"} {
		require.NoError(t, s.Write(Traces, 1, []byte(p)))
	}
	var sent []string
	send := func(_ context.Context, _ Entry, p []byte) error {
		sent = append(sent, string(p))
		switch string(p) {
		case "refused":
			return fmt.Errorf("%w: not found", ErrKeep)
		case "down":
			return errors.New("unavailable")
		}
		return nil
	}
	skip := s.Oldest(Traces, 2)[1].Name
	due := func(e Entry) bool { return e.Name != skip }
	st, err := s.ReplayDue(context.Background(), Traces, due, send)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrKeep, "stopped by the failure that is not the file's own")
	assert.Equal(t, []string{"refused", "ok-1", "down"}, sent)
	assert.Equal(t, 1, st.Files)
	assert.Equal(t, 1, st.Kept)
	assert.Equal(t, 4, s.Len())

	sent = nil
	st, err = s.ReplayDue(context.Background(), Traces, func(Entry) bool { return true }, func(_ context.Context, e Entry, p []byte) error {
		sent = append(sent, string(p))
		if string(p) == "refused" {
			return fmt.Errorf("%w: not found", ErrKeep)
		}
		return nil
	})
	assert.ErrorIs(t, err, ErrKeep)
	assert.Equal(t, []string{"refused", "skipped", "down", "ok-2"}, sent)
	assert.Equal(t, 3, st.Files)
	assert.Equal(t, 1, s.Len())
}

// TestWriteNotedKeepsTheNoteInTheBound: the note beside a file counts in
// max_bytes, survives a reopen in the account, and goes with the file.
func TestWriteNotedKeepsTheNoteInTheBound(t *testing.T) {
	dir := t.TempDir()
	s, err := Acquire(dir, 30, false)
	require.NoError(t, err)
	require.NoError(t, s.WriteNoted(Traces, 2, []byte("0123456789"), []byte("why: 0123456")))
	assert.EqualValues(t, 22, s.Bytes())
	assert.ErrorIs(t, s.WriteNoted(Traces, 1, []byte("0123"), []byte("why: 01234")), ErrFull)
	ent := s.Oldest(Traces, 1)[0]
	assert.Equal(t, "why: 0123456", string(s.Note(ent)))
	s.Release()

	s, err = Acquire(dir, 30, false)
	require.NoError(t, err)
	defer s.Release()
	assert.EqualValues(t, 22, s.Bytes(), "the note counted after a reopen")
	require.NoError(t, s.Remove(ent))
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Empty(t, left, "the note goes with its file")
	_, err = os.Stat(filepath.Join(dir, ent.Name+noteSuffix))
	assert.True(t, os.IsNotExist(err))
}
