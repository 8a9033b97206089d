package fsdir

import "os"

// openLockable opens a directory read-only, anything else as a lock file
// (created if missing).
func openLockable(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return os.Open(path)
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
}

// Unlock releases a lock taken with Lock.
func Unlock(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}
