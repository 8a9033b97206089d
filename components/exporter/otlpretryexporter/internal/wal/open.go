package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

const lockName = "LOCK"

// Open opens (creating it if needed) the log in dir and recovers it: every
// segment is scanned in order and every record's checksum verified; a torn
// tail of the last segment is truncated; a segment with a damaged record
// elsewhere is moved into dir/corrupt/; what is not acknowledged is queued
// for consumers in order. Damage is counted, never fatal.
func Open(dir string, opts Options) (*Log, Recovery, error) {
	var rec Recovery
	if opts.MaxBytes <= 0 {
		return nil, rec, errors.New("wal: MaxBytes must be positive")
	}
	if opts.Fsync == "" {
		opts.Fsync = FsyncAlways
	}
	switch opts.Fsync {
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return nil, rec, fmt.Errorf("wal: unknown fsync mode %q", opts.Fsync)
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = DefaultFsyncInterval
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	opts.SegmentBytes = max(min(opts.SegmentBytes, opts.MaxBytes/4), minSegmentBytes)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, rec, err
	}
	lock, err := fsdir.Lock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, rec, fmt.Errorf("wal: %s is in use: %w", dir, err)
	}
	l := &Log{
		dir:        dir,
		opts:       opts,
		lockFile:   lock,
		reqs:       make(chan *appendReq, 1024),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		bgDone:     make(chan struct{}),
		avail:      make(chan struct{}, 1),
	}
	start := time.Now()
	if err := l.recover(&rec); err != nil {
		_ = l.closeFiles()
		_ = fsdir.Unlock(lock)
		return nil, rec, err
	}
	rec.Duration = time.Since(start)
	if err := l.rotate(); err != nil {
		_ = l.closeFiles()
		_ = fsdir.Unlock(lock)
		return nil, rec, err
	}
	go l.writeLoop()
	go l.background()
	return l, rec, nil
}

func (l *Log) recover(rec *Recovery) error {
	cd := readCheckpoint(filepath.Join(l.dir, checkpointName))
	ckpt, ckptAcked := cd.lwm, cd.acked
	rec.Ledger = cd.ledger
	segs, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	// Never reuse a number the checkpoint calls acknowledged, even when
	// its record is gone (a torn tail): a new record under it would be
	// skipped by the next recovery.
	next := ckpt
	if len(ckptAcked) > 0 {
		next = max(next, ckptAcked[len(ckptAcked)-1].to)
	}
	var kept []*segment
	var first *cursor
	for i, s := range segs {
		last := i == len(segs)-1
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return err
		}
		size := st.Size()
		var segFirst *cursor
		var records, items, bytes int64
		var acked int64
		res := scanSegment(io.NewSectionReader(f, 0, size), size, s.firstSeq, func(h header, off int64, payload []byte) {
			if h.seq < ckpt || ckptAcked.contains(h.seq) {
				acked++
				return
			}
			if segFirst == nil {
				segFirst = &cursor{seg: s, off: off, seq: h.seq}
			}
			records++
			items += int64(h.items)
			if h.seq >= cd.next {
				rec.ItemsAfterCheckpoint += int64(h.items)
			}
			bytes += int64(len(payload))
		})
		if res.records > 0 {
			next = max(next, res.lastSeq+1)
		} else {
			next = max(next, s.firstSeq)
		}
		if res.state == scanTorn && last {
			// A torn tail is cut, but its bytes are kept in corrupt/
			// first: a full-length last record whose checksum fails may
			// be damage of a record already answered OK, not a write the
			// crash interrupted, and what was acknowledged stays on disk.
			if err := l.keepTail(f, s.path, res.valid, size); err != nil {
				_ = f.Close()
				return err
			}
			if err := f.Truncate(res.valid); err != nil {
				_ = f.Close()
				return err
			}
			rec.TornTails++
			rec.TornBytes += size - res.valid
			l.tornTails.Add(1)
			size = res.valid
		} else if res.state != scanClean {
			// Damage in the middle (or a torn segment that is not the
			// last: written before a later segment was started, so not
			// torn by the crash): keep the file for inspection, out of the
			// log. Its sequence numbers are never reused.
			_ = f.Close()
			next = max(next, s.firstSeq+1)
			if err := l.setAside(s.path); err != nil {
				return err
			}
			rec.CorruptSegments++
			l.corruptSegments.Add(1)
			continue
		}
		rec.Acknowledged += acked
		if records == 0 {
			// Empty or fully acknowledged.
			_ = f.Close()
			if err := os.Remove(s.path); err != nil {
				return err
			}
			continue
		}
		s.f, s.size, s.records, s.lastSeq = f, size, res.records, res.lastSeq
		kept = append(kept, s)
		if first == nil {
			first = segFirst
		}
		rec.Records += records
		rec.Items += items
		rec.Bytes += bytes
		l.used.Add(size)
	}
	l.segs = kept
	l.nextSeq = next
	l.lwm = next
	if first != nil {
		// The first record to replay. Consumers read on from it and pass
		// over the records the checkpoint lists (spill counts only the
		// others).
		l.lwm = first.seq
		l.cur = *first
		l.spill = rec.Records
		l.unacked = rec.Records
		l.unackedItems = rec.Items
	}
	// Above the low-water mark, what the checkpoint lists and the numbers
	// not in the log (between kept segments and after the last one) count
	// as acknowledged when the low-water mark reaches them.
	for _, r := range ckptAcked {
		l.acked.addRange(max(r.from, l.lwm+1), r.to)
	}
	for i, s := range kept {
		to := next
		if i+1 < len(kept) {
			to = kept[i+1].firstSeq
		}
		l.acked.addRange(s.lastSeq+1, to)
	}
	l.advance()
	rec.Segments = len(kept)
	return nil
}

// setAside moves a damaged segment into dir/corrupt/ (fsdir.SetAside: an
// earlier file of the same name is never replaced).
// keepTail copies the bytes of f from valid to size into
// corrupt/<segment>.torn (fsynced) before the tail is truncated. A tail of
// zeros (the file grew before its data was written) holds nothing and is
// not kept.
func (l *Log) keepTail(f *os.File, path string, valid, size int64) error {
	if size <= valid {
		return nil
	}
	tail := make([]byte, size-valid)
	if _, err := f.ReadAt(tail, valid); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("wal: read torn tail of %s: %w", path, err)
	}
	zero := true
	for _, b := range tail {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return nil
	}
	tmp := path + ".torn"
	if err := os.WriteFile(tmp, tail, 0o600); err != nil {
		return fmt.Errorf("wal: keep torn tail of %s: %w", path, err)
	}
	if tf, err := os.Open(tmp); err == nil {
		_ = tf.Sync()
		_ = tf.Close()
	}
	return l.setAside(tmp)
}

func (l *Log) setAside(path string) error {
	_, err := fsdir.SetAside(l.dir, path, true)
	return err
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		if s.f != nil {
			errs = append(errs, s.f.Close())
		}
	}
	return errors.Join(errs...)
}
