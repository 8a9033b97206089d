// Package ledger keeps the conservation ledger of one otlp_retry exporter
// and signal, in items (spans, data points, log records):
//
//	accepted = delivered + pending + quarantined + sum(dropped by reason)
//
// accepted, delivered, quarantined and dropped are counters, added to once
// per batch where the batch changes state (no per-item work). pending is
// measured, not derived: the exporter gives a function that reads what its
// queue (or write-ahead log), its batches in flight and its dead letter hold
// now. The identity is then a real check: a code path that forgets a batch,
// or counts one twice, shows as a gap.
//
// Duplicates are counted apart: items delivered again after a restart,
// because the previous run delivered (or spooled) them after the last
// persisted state. See Restore and Live.
package ledger

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync/atomic"
)

// Reason is why accepted items were dropped.
type Reason int

const (
	// Rejected: the backend refused the batch as invalid and there is no
	// quarantine or no room in it.
	Rejected Reason = iota
	// Partial: the backend answered a partial success and refused part of
	// the batch (its rejected count).
	Partial
	// Shutdown: an in-memory queue stopped with a batch it could not keep.
	Shutdown
	// Corrupt: a dead-letter file that does not decode, moved aside.
	Corrupt
	numReasons
)

var reasonNames = [numReasons]string{"rejected", "partial", "shutdown", "corrupt"}

// String is the reason's label value.
func (r Reason) String() string { return reasonNames[r] }

// Reasons lists every reason, in order.
func Reasons() []Reason { return []Reason{Rejected, Partial, Shutdown, Corrupt} }

// Ledger is safe for concurrent use. The zero value is not usable: New.
type Ledger struct {
	accepted    atomic.Int64
	quarantined atomic.Int64
	dropped     [numReasons]atomic.Int64
	// live holds delivered and duplicates: in memory, or in a Live file
	// once attached (AttachLive), where a SIGKILL cannot take them back.
	live atomic.Pointer[liveCounters]
	// debt: items known at recovery to be held twice (on disk twice, or
	// delivered before the crash and still on disk). The next deliveries
	// up to debt are counted as duplicates, and pending is the measured
	// copies minus debt.
	debt    atomic.Int64
	pending func() int64
}

// New returns a ledger whose pending term is read by pending (which must
// not block on the exporter's delivery path).
func New(pending func() int64) *Ledger {
	if pending == nil {
		pending = func() int64 { return 0 }
	}
	l := &Ledger{pending: pending}
	l.live.Store(new(liveCounters))
	return l
}

// SetPending replaces the pending measure (the queue opens after New).
func (l *Ledger) SetPending(pending func() int64) { l.pending = pending }

// Accept counts n items the pipeline was answered OK for.
func (l *Ledger) Accept(n int) { l.accepted.Add(int64(n)) }

// Deliver counts n items the backend acknowledged; while a recovery debt
// remains they are counted as duplicates instead.
func (l *Ledger) Deliver(n int) {
	m := int64(n)
	c := l.live.Load()
	for l.debt.Load() > 0 {
		d := l.debt.Load()
		take := min(d, m)
		if l.debt.CompareAndSwap(d, d-take) {
			c.duplicates.Add(take)
			m -= take
			break
		}
	}
	if m > 0 {
		c.delivered.Add(m)
	}
}

// Quarantine counts n items written to the quarantine.
func (l *Ledger) Quarantine(n int) { l.quarantined.Add(int64(n)) }

// Drop counts n accepted items dropped for reason.
func (l *Ledger) Drop(reason Reason, n int) { l.dropped[reason].Add(int64(n)) }

// Snapshot is one reading of the ledger.
type Snapshot struct {
	Accepted    int64
	Delivered   int64
	Pending     int64
	Quarantined int64
	Dropped     [numReasons]int64
	Duplicates  int64
}

// DroppedTotal is the sum of the dropped terms.
func (s Snapshot) DroppedTotal() int64 {
	var t int64
	for _, d := range s.Dropped {
		t += d
	}
	return t
}

// Gap is accepted minus every term it should equal: 0 when the identity
// holds, > 0 when accepted items are accounted nowhere (lost), < 0 when
// some are accounted twice.
func (s Snapshot) Gap() int64 {
	return s.Accepted - s.Delivered - s.Pending - s.Quarantined - s.DroppedTotal()
}

// Holds says whether the identity holds in s.
func (s Snapshot) Holds() bool { return s.Gap() == 0 }

// read takes one reading. The order matters: a batch changes state by
// first adding to where it goes, then leaving where it was (the log
// record is acknowledged after the batch was delivered or spooled; a
// dead-letter file is removed after its batch was delivered; an append is
// counted accepted after it is in the log). Reading accepted first, then
// pending, then the terminal terms, a batch in motion can only be seen
// twice (Gap < 0), never missed: a positive gap is never transient.
func (l *Ledger) read() Snapshot {
	var s Snapshot
	s.Accepted = l.accepted.Load()
	// The debt after pending: a duplicate's delivery lowers the debt
	// before its copy leaves the disk.
	s.Pending = l.pending()
	s.Pending -= l.debt.Load()
	c := l.live.Load()
	s.Duplicates = c.duplicates.Load()
	s.Delivered = c.delivered.Load()
	s.Quarantined = l.quarantined.Load()
	for i := range s.Dropped {
		s.Dropped[i] = l.dropped[i].Load()
	}
	return s
}

// checkReads bounds how often Read rereads while batches move.
const checkReads = 5

// Read returns a reading of the ledger and whether the identity holds. A
// batch moving between states while it reads shows as counted twice; Read
// then reads again, a few times, and reports the first reading that holds
// or else the last one. Under a steady load a reading can still catch a
// batch in motion each time: holds=false with a negative gap of at most
// the items in motion is transient (the alert waits for minutes); a
// positive gap is never transient.
func (l *Ledger) Read() (Snapshot, bool) {
	var s Snapshot
	for i := 0; i < checkReads; i++ {
		s = l.read()
		if s.Holds() || s.Gap() > 0 {
			return s, s.Holds()
		}
		runtime.Gosched()
	}
	return s, false
}

// Persisted is what survives a restart: the counters, not pending (which
// is measured again from disk).
type Persisted struct {
	Accepted    int64
	Delivered   int64
	Quarantined int64
	Duplicates  int64
	Dropped     [numReasons]int64
}

const (
	magic       = "OLG1"
	encodedSize = 4 + 8*(4+int(numReasons))
)

// Marshal encodes the counters (not pending) for the write-ahead log's
// checkpoint. Reading the counters after the log's acknowledged set (the
// log calls it under its lock, after encoding that set) means every
// acknowledged record's outcome is in it.
func (l *Ledger) Marshal(dst []byte) []byte {
	le := binary.LittleEndian
	dst = append(dst, magic...)
	// The debt is not persisted: the copies it stands for are still on
	// disk, and the next recovery measures them again.
	c := l.live.Load()
	dst = le.AppendUint64(dst, uint64(l.accepted.Load()))
	dst = le.AppendUint64(dst, uint64(c.delivered.Load()))
	dst = le.AppendUint64(dst, uint64(l.quarantined.Load()))
	dst = le.AppendUint64(dst, uint64(c.duplicates.Load()))
	for i := range l.dropped {
		dst = le.AppendUint64(dst, uint64(l.dropped[i].Load()))
	}
	return dst
}

// ErrFormat: the bytes are not a ledger this version reads.
var ErrFormat = errors.New("ledger: unknown or damaged encoding")

// Unmarshal decodes what Marshal wrote. A longer encoding (more reasons,
// from a later version) is read as far as this version knows it.
func Unmarshal(b []byte) (Persisted, error) {
	var p Persisted
	if len(b) < 4 || string(b[:4]) != magic || len(b) < encodedSize || (len(b)-4)%8 != 0 {
		return p, ErrFormat
	}
	le := binary.LittleEndian
	u := func(i int) int64 { return int64(le.Uint64(b[4+8*i:])) }
	p.Accepted, p.Delivered, p.Quarantined, p.Duplicates = u(0), u(1), u(2), u(3)
	for i := range p.Dropped {
		p.Dropped[i] = u(4 + i)
	}
	return p, nil
}

// Restore sets the ledger after a restart. p is what the last checkpoint
// held (nil: none, a fresh directory or one written before the ledger
// existed); appendedAfter is the items of the log records appended after
// that checkpoint and found on disk (they were accepted after it). The
// pending term is measured now (from the log and the dead letter, before
// any consumer runs). With a Live file attached, its delivered and
// duplicates (which the previous run kept up to its last delivery) are
// read in place of the checkpoint's, which may be up to one checkpoint
// interval older.
//
// Without p, everything found on disk is counted as accepted now (carried
// in) and the identity holds from there; the Live file starts from zero
// with the other counters.
//
// With p, accepted = p.Accepted + appendedAfter, exact. What the previous
// run did after the checkpoint and before it stopped is on disk twice
// (a batch spooled to the dead letter before its log record was
// acknowledged) or was delivered and is still on disk (a record
// delivered after the checkpoint, which still calls it unacknowledged;
// a dead-letter file delivered and not yet removed): the measured terms
// exceed accepted by those items, and they will be delivered again.
// That excess becomes the debt: the next deliveries up to it are counted
// as duplicates, and pending is the measured copies minus it. A shortfall
// (accepted items found nowhere: a segment damaged and set aside, records
// lost in the fsync window, a file removed by hand) is left as a positive
// gap: the identity does not hold and the alert fires.
//
// Quarantined and dropped come from the checkpoint: a batch quarantined or
// dropped after it is still in the log, is refused again on replay and
// counted again then, once in all (only its copy in the quarantine is
// doubled). Without a Live file, delivered comes from the checkpoint too:
// a record delivered after it is replayed and counted as delivered, once,
// but not as a duplicate, so duplicates under-report by what was delivered
// in the last checkpoint interval (100 ms) before a SIGKILL.
func (l *Ledger) Restore(p *Persisted, appendedAfter int64) (gap int64) {
	measured := l.pending()
	c := l.live.Load()
	if p == nil {
		l.accepted.Store(measured)
		c.delivered.Store(0)
		c.duplicates.Store(0)
		return 0
	}
	l.accepted.Store(p.Accepted + appendedAfter)
	// The live counters are never behind the checkpoint's, unless the
	// file is stale (power lost before its pages were written back) or
	// was not attached: the larger of the two is the last known count.
	c.delivered.Store(max(c.delivered.Load(), p.Delivered))
	c.duplicates.Store(max(c.duplicates.Load(), p.Duplicates))
	l.quarantined.Store(p.Quarantined)
	for i := range l.dropped {
		l.dropped[i].Store(p.Dropped[i])
	}
	l.debt.Store(0)
	gap = l.read().Gap()
	if gap < 0 {
		l.debt.Store(-gap)
	}
	return gap
}
