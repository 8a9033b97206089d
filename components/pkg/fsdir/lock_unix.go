//go:build unix

package fsdir

import (
	"os"
	"syscall"
)

// Lock takes an exclusive flock on path, a lock file (created if missing)
// or a directory itself, so that two processes (or two stores in one
// process) never write one directory. The lock goes with the process: a
// crash releases it. Unlock with Unlock.
func Lock(path string) (*os.File, error) {
	f, err := openLockable(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
