package wal

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxIOV is the most buffers one pwritev takes (IOV_MAX on Linux).
const maxIOV = 1024

// writeVec writes bufs (n bytes together) to f at off with pwritev(2),
// without joining them: a group's payloads go from the requests' buffers to
// the page cache in one copy, the kernel's.
func writeVec(f *os.File, bufs [][]byte, n int64, off int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	cerr := rc.Write(func(fd uintptr) bool {
		werr = pwritevAll(int(fd), bufs, off)
		return true
	})
	if cerr != nil {
		return cerr
	}
	return werr
}

// pwritevAll writes every byte of bufs from off, IOV_MAX buffers a call,
// resuming after a short write. It reslices the elements of bufs (the
// writer's own scratch slice) as it goes.
func pwritevAll(fd int, bufs [][]byte, off int64) error {
	for len(bufs) > 0 {
		w, err := unix.Pwritev(fd, bufs[:min(len(bufs), maxIOV)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if w == 0 {
			return fmt.Errorf("pwritev: %w", io.ErrShortWrite)
		}
		off += int64(w)
		for w > 0 {
			if w < len(bufs[0]) {
				bufs[0] = bufs[0][w:]
				break
			}
			w -= len(bufs[0])
			bufs = bufs[1:]
		}
	}
	return nil
}
