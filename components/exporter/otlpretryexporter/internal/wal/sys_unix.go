//go:build unix

package wal

import (
	"os"
	"syscall"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// lockDir takes an exclusive flock on path, so that two processes (or two
// exporters in one process) never write the same log.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }

// syncDir flushes the log directory's entries (see fsdir.Sync).
func syncDir(dir string) error { return fsdir.Sync(dir) }
