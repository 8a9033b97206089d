// Package wal is otlp_retry's persistent queue: an append-only, segmented
// write-ahead log with group commit, out-of-order acknowledgement, a memory
// budget for the records the exporter has not taken yet, and crash recovery
// that checksums every record. It knows nothing of OTLP: a record is an
// opaque payload with an item count.
//
// One writer goroutine owns the files. Append enqueues a record and waits;
// the writer writes every record waiting at that moment with one pwritev(2)
// (headers and payloads as they are, not copied into one buffer first) and,
// with FsyncAlways, makes them durable with one fdatasync (group commit).
// Consumers take records in order with Next, from memory while they keep up
// and from the segment files beyond the memory budget, and Ack them in any
// order. A segment is deleted once every record in it is acknowledged.
// See README.md for the on-disk format and the recovery rules.
package wal

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// FsyncMode says when written records are flushed to stable storage.
type FsyncMode string

const (
	// FsyncAlways: Append returns after the record's group is fdatasynced.
	FsyncAlways FsyncMode = "always"
	// FsyncInterval: Append returns once the record is in the page cache
	// (it survives a process crash); the log is fdatasynced every interval.
	FsyncInterval FsyncMode = "interval"
	// FsyncNever leaves flushing to the kernel.
	FsyncNever FsyncMode = "never"
)

// Defaults for zero Options fields.
const (
	DefaultSegmentBytes  = 64 << 20
	DefaultFsyncInterval = 200 * time.Millisecond
	minSegmentBytes      = 4 << 10
	// checkpointEvery bounds how many acknowledgements a crash forgets
	// (their records are replayed); see checkpoint.go.
	checkpointEvery = 100 * time.Millisecond
)

// Errors returned by Append and Next.
var (
	// ErrFull means the record does not fit under MaxBytes now; it is
	// retryable (space returns as consumers acknowledge).
	ErrFull = errors.New("write-ahead log full")
	// ErrTooLarge means the record can never fit (larger than MaxBytes or
	// MaxRecordBytes); it is not retryable.
	ErrTooLarge = errors.New("record larger than the write-ahead log allows")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("write-ahead log closed")
	// ErrEmpty is returned by Append for an empty payload.
	ErrEmpty = errors.New("empty record")
)

// Options configure a Log.
type Options struct {
	// MaxBytes bounds the total size of the segment files (required).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started (default
	// 64 MiB, at most a quarter of MaxBytes so that space can be reclaimed).
	SegmentBytes int64
	// MemoryBudget is how many payload bytes the log keeps in memory for
	// consumers; records beyond it are read back from disk.
	MemoryBudget int64
	// Fsync is the durability mode (default FsyncAlways).
	Fsync FsyncMode
	// FsyncInterval is the flush period of FsyncInterval (default 200ms).
	FsyncInterval time.Duration
	// OnFsync, when set, is called after every fdatasync with its duration.
	OnFsync func(time.Duration)
	// OnAppend, when set, is called with each record's items once it is in
	// the log, under the log's lock (it must only count: no blocking, no
	// call into the log). A count kept by it is consistent with the
	// sequence numbers the checkpoint records.
	OnAppend func(items int)
	// Ledger, when set, appends the bytes the checkpoint keeps with the
	// acknowledged position (version 3), called under the same lock (the
	// same rules as OnAppend). The next Open returns them in
	// Recovery.Ledger. The checkpoint is then also rewritten when only
	// these bytes changed.
	Ledger func(dst []byte) []byte
	// LiveFirst: while records wait on disk beyond the memory budget (a
	// backlog), new records are kept in memory, within the same budget,
	// and given to consumers before the backlog, which drains with the
	// capacity left. Records then leave out of append order; durability,
	// recovery (which replays in append order) and acknowledgement are
	// unchanged. A segment is still deleted only once every record up to
	// its end is acknowledged, so the log's size holds the backlog and
	// the live records written during its drain until the drain ends.
	LiveFirst bool
}

// Record is one appended payload.
type Record struct {
	Seq     uint64
	Items   uint32
	Payload []byte
}

// Recovery is what Open found on disk.
type Recovery struct {
	Segments        int           // segment files kept
	Records         int64         // unacknowledged records to replay
	Acknowledged    int64         // records on disk the checkpoint lists as acknowledged: not replayed
	Items           int64         // their items
	Bytes           int64         // their payload bytes
	TornTails       int           // torn tails truncated
	TornBytes       int64         // bytes truncated
	CorruptSegments int           // segments set aside into corrupt/
	Duration        time.Duration // time the scan took
	// Ledger is the bytes Options.Ledger gave to the last checkpoint; nil
	// without one (no checkpoint, a damaged one, or an older version).
	Ledger []byte
	// ItemsAfterCheckpoint: items of the records to replay that were
	// appended after that checkpoint was taken (all of them without one).
	ItemsAfterCheckpoint int64
}

// Stats is a snapshot of the log's state and counters.
type Stats struct {
	Bytes           int64 // segment bytes on disk (and reserved by pending appends)
	Segments        int
	Records         int64 // appended and not yet acknowledged
	MemoryBytes     int64 // payload bytes held in memory for consumers
	SpilledRecords  int64 // records waiting on disk only (beyond the memory budget)
	LiveRecords     int64 // LiveFirst: records appended during a backlog, in memory, taken before it
	Fsyncs          int64
	CorruptSegments int64 // at recovery
	TornTails       int64 // at recovery
	CorruptRecords  int64 // found damaged while reading back; their segment is kept in corrupt/
}

// Log is an open write-ahead log directory.
type Log struct {
	dir      string
	opts     Options
	lockFile *os.File

	used atomic.Int64 // segment bytes plus bytes reserved by pending appends

	appendMu   sync.RWMutex // Close takes it to stop new appends
	closed     atomic.Bool
	reqs       chan *appendReq
	quit       chan struct{}
	writerDone chan struct{}
	bgDone     chan struct{}
	closeOnce  sync.Once
	closeErr   error

	hbuf  []byte      // writer-owned: the headers of a group
	iov   [][]byte    // writer-owned: a group's headers and payloads, in file order
	dirty atomic.Bool // written since the last fdatasync

	readMu sync.Mutex // serializes consumers (reading back from disk is sequential)

	mu       sync.Mutex
	segs     []*segment // log order; the last one is being written
	nextSeq  uint64
	retry    []Record // released by consumers, redelivered first, sorted by seq
	mem      ring     // records in memory, older than every spilled one
	memBytes int64    // payload bytes in mem and live
	spill    int64    // records after mem, on disk only (live ones not counted)
	cur      cursor   // position of the first spilled record
	// live (Options.LiveFirst): records appended while spill > 0, kept
	// in memory and taken before mem and the spill. liveSeqs holds their
	// numbers at or after the cursor, so that reading the spill back
	// passes over them.
	live     ring
	liveSeqs ackSet
	lwm      uint64 // every sequence number below it is acknowledged
	acked    ackSet // numbers above lwm acknowledged or not in the log
	ackGen   uint64 // counts changes of lwm and acked
	ckptGen  uint64 // ackGen the checkpoint file holds
	ckptBuf  []byte // owned by checkpoint
	unacked  int64
	// unackedItems: items of the unacknowledged records (PendingItems).
	unackedItems int64

	ckptMu     sync.Mutex // serializes checkpoint
	ledgerBuf  []byte     // owned by checkpoint
	ckptLedger []byte     // ledger bytes the checkpoint file holds
	avail      chan struct{}

	fsyncs          atomic.Int64
	corruptSegments atomic.Int64
	tornTails       atomic.Int64
	corruptRecords  atomic.Int64
}

// cursor points at a record in a segment.
type cursor struct {
	seg *segment
	off int64
	seq uint64
}

// Stats returns a snapshot.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	s := Stats{
		Segments:       len(l.segs),
		Records:        l.unacked,
		MemoryBytes:    l.memBytes,
		SpilledRecords: l.spill,
		LiveRecords:    int64(l.live.len()),
	}
	l.mu.Unlock()
	s.Bytes = l.used.Load()
	s.Fsyncs = l.fsyncs.Load()
	s.CorruptSegments = l.corruptSegments.Load()
	s.TornTails = l.tornTails.Load()
	s.CorruptRecords = l.corruptRecords.Load()
	return s
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Close stops appends, writes what is pending, flushes (unless FsyncNever),
// records the acknowledged position and closes the files. Records not
// acknowledged stay in the log for the next Open.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.appendMu.Lock()
		l.closed.Store(true)
		close(l.quit)
		l.appendMu.Unlock()
		<-l.writerDone
		<-l.bgDone
		var errs []error
		if l.opts.Fsync != FsyncNever {
			errs = append(errs, l.syncActive())
		}
		// Best effort, as every checkpoint: one that cannot be written (the
		// directory removed, the disk full) only means more is replayed at
		// the next start, and must not fail the shutdown.
		_ = l.checkpoint()
		l.mu.Lock()
		for _, s := range l.segs {
			if s.f != nil {
				errs = append(errs, s.f.Close())
			}
		}
		l.mu.Unlock()
		errs = append(errs, fsdir.Unlock(l.lockFile))
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func (l *Log) String() string { return fmt.Sprintf("wal(%s)", l.dir) }
