package ledger

import (
	"errors"
	"sync/atomic"
)

// liveCounters are the counters a restart needs as they were at the
// crash, not at the last checkpoint: with them, the deliveries of the last
// checkpoint interval are known (Restore counts their re-delivery as
// duplicates). In memory by default; in a Live file once attached.
type liveCounters struct {
	delivered  atomic.Int64
	duplicates atomic.Int64
}

// LiveFileName is the Live file's name in its directory.
const LiveFileName = "ledger.live"

// The Live file: one page, mapped shared into memory, whose bytes are the
// counters themselves. Deliver adds to them as it adds to memory (an
// atomic add, no system call, no write in the delivery path); the kernel
// holds the page, so a SIGKILL loses nothing of it, and writes it back in
// its own time. A power loss may leave it stale (older values): Restore
// never takes it below the checkpoint's. Layout (the counters in the
// machine's byte order, as atomic stores write them):
//
//	offset  size  field
//	0       8     "OLLIVE1\\0"
//	8       8     delivered
//	16      8     duplicates
//	24      ...   zero, to the end of the page
const (
	liveMagic = "OLLIVE1\x00"
	liveSize  = 4096
)

// ErrLiveUnsupported: this platform has no shared file mappings here.
var ErrLiveUnsupported = errors.New("ledger: live counters file not supported on this platform")

// AttachLive keeps delivered and duplicates in the file dir/ledger.live
// (created when missing), with the values the previous run left in it, so
// that Restore reads them. Call it once, before Restore and before any
// delivery. On an error the counters stay in memory (the ledger works;
// duplicates may under-report after a crash, as Restore says).
func (l *Ledger) AttachLive(dir string) error {
	c, err := mapLive(dir)
	if err != nil {
		return err
	}
	l.live.Store(c)
	return nil
}
