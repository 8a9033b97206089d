package wal

import (
	"os"
	"syscall"
)

// fdatasync flushes the file's data (and the size, which a write past the
// end changes) without the other metadata fsync writes.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fdatasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}
