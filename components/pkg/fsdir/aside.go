package fsdir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
)

// CorruptDir is the subdirectory, under a store's directory, that damaged
// files are moved into: kept for inspection, never read again, never
// deleted by the store.
const CorruptDir = "corrupt"

// SetAside moves the damaged file path into dir/corrupt/ and returns where
// it went. It keeps the file's name, adding ".1", ".2", ... when an earlier
// file of that name is already there: a second damaged file never replaces
// the first. With sync, both directories' entries are flushed, so the move
// survives a power loss. The caller holds the directory (its lock), so no
// one else picks the same free name.
func SetAside(dir, path string, sync bool) (string, error) {
	aside := filepath.Join(dir, CorruptDir)
	if err := os.MkdirAll(aside, 0o750); err != nil {
		return "", err
	}
	base := filepath.Base(path)
	to := filepath.Join(aside, base)
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", err
		}
		to = filepath.Join(aside, base+"."+strconv.Itoa(i))
	}
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	if !sync {
		return to, nil
	}
	if err := Sync(aside); err != nil {
		return to, err
	}
	return to, Sync(dir)
}
