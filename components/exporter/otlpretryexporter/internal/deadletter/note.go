package deadletter

import (
	"os"
	"path/filepath"
)

// A note is a small text file beside a stored file, <name>.txt, saying why
// it is there (the quarantine keeps the backend's reason and a sample of
// its error). It counts in the file's size, so max_bytes bounds notes too,
// and goes with the file.
const noteSuffix = ".txt"

// WriteNoted is Write with note kept beside the file.
func (s *Store) WriteNoted(signal string, items int, payload, note []byte) error {
	return s.write(signal, items, payload, note)
}

// Note returns the note beside e (nil when it has none).
func (s *Store) Note(e Entry) []byte {
	b, err := os.ReadFile(filepath.Join(s.dir, e.Name+noteSuffix))
	if err != nil {
		return nil
	}
	return b
}

// writeNote writes note beside name, through a temporary file (removed at
// open if a crash leaves it); nothing for a nil note. It comes before the
// file itself, so a file is never left without its note.
func writeNote(dir, name string, note []byte, fsync bool) error {
	if note == nil {
		return nil
	}
	path := filepath.Join(dir, name+noteSuffix)
	tmp := path + tmpSuffix
	if err := writeFile(tmp, note, fsync); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func removeNote(dir, name string) {
	_ = os.Remove(filepath.Join(dir, name+noteSuffix))
}

// noteSize is the size of the note beside name, 0 without one.
func noteSize(dir, name string) int64 {
	info, err := os.Stat(filepath.Join(dir, name+noteSuffix))
	if err != nil {
		return 0
	}
	return info.Size()
}
