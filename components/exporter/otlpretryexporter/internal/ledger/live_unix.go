//go:build unix

package ledger

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"
)

// mapped keeps each file's mapping for the life of the process, by device
// and inode: an exporter started again on the same directory (a pipeline
// restart) reuses it, and a mapping is never unmapped under a delivery
// that may still hold it. One page per log directory.
var mapped = struct {
	sync.Mutex
	byFile map[[2]uint64]*liveCounters
}{byFile: map[[2]uint64]*liveCounters{}}

// mapLive opens (creating it, every byte written so that its pages are
// allocated: a later store into the mapping cannot fail for a full disk)
// and maps dir's Live file.
func mapLive(dir string) (*liveCounters, error) {
	path := filepath.Join(dir, LiveFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(liveMagic))
	n, _ := f.ReadAt(head, 0)
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if n != len(liveMagic) || !bytes.Equal(head, []byte(liveMagic)) || st.Size() != liveSize {
		// New, from another version, or damaged: start from zero.
		page := make([]byte, liveSize)
		copy(page, liveMagic)
		if _, err := f.WriteAt(page, 0); err != nil {
			return nil, fmt.Errorf("ledger: writing %s: %w", path, err)
		}
		if err := f.Truncate(liveSize); err != nil {
			return nil, err
		}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, ErrLiveUnsupported
	}
	key := [2]uint64{uint64(sys.Dev), sys.Ino}
	mapped.Lock()
	defer mapped.Unlock()
	if c, ok := mapped.byFile[key]; ok {
		return c, nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, liveSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("ledger: mapping %s: %w", path, err)
	}
	// The page is aligned, so the counters at offsets 8 and 16 are too.
	c := (*liveCounters)(unsafe.Pointer(&mem[len(liveMagic)]))
	mapped.byFile[key] = c
	return c, nil
}
