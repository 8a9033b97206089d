package deadletter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
)

// ErrKeep, wrapped in a SendFunc's error, says the file failed on its own
// account (its own refusal, not the backend being unreachable): ReplayDue
// keeps it and goes on with the next file.
var ErrKeep = errors.New("file kept for a later replay")

// ReplayDue sends the files of signal ("" for all) that due reports as due
// now, without head-of-line blocking: oldest first, removing
// each one once send succeeded, and skips the others. A send error wrapping
// ErrCorrupt moves the file aside; one wrapping ErrKeep keeps the file and
// goes on (counted in Kept, the last such error returned); any other error
// stops the pass (the file stays), as does the end of ctx.
func (s *Store) ReplayDue(ctx context.Context, signal string, due func(Entry) bool, send SendFunc) (ReplayStats, error) {
	var st ReplayStats
	var kept error
	last := ""
	for {
		batch := s.after(signal, last, 16)
		if len(batch) == 0 {
			return st, kept
		}
		for _, e := range batch {
			last = e.Name
			if !due(e) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return st, err
			}
			payload, err := s.Read(e)
			if errors.Is(err, os.ErrNotExist) {
				_ = s.Remove(e)
				continue
			}
			if err != nil {
				return st, err
			}
			if err := send(ctx, e, payload); err != nil {
				switch {
				case errors.Is(err, ErrCorrupt):
					if aerr := s.SetAside(e); aerr != nil {
						return st, fmt.Errorf("replay %s: cannot move the corrupt file aside: %w", e.Name, aerr)
					}
					st.Corrupt++
				case errors.Is(err, ErrKeep):
					st.Kept++
					kept = fmt.Errorf("replay %s: %w", e.Name, err)
				default:
					return st, fmt.Errorf("replay %s: %w", e.Name, err)
				}
				continue
			}
			if err := s.Remove(e); err != nil {
				return st, err
			}
			st.Files++
			st.Items += e.Items
			st.Bytes += e.Size
		}
	}
}

// after returns up to n entries of signal ("" for all) whose names sort
// after name, oldest first: a pass goes on past the files it skipped.
func (s *Store) after(signal, name string, n int) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	i := sort.Search(len(s.files), func(i int) bool { return s.files[i].Name > name })
	for _, e := range s.files[i:] {
		if signal != "" && e.Signal != signal {
			continue
		}
		out = append(out, e)
		if len(out) == n {
			break
		}
	}
	return out
}
