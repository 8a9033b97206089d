package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// appendReq is one Append waiting for the writer.
type appendReq struct {
	payload []byte
	items   uint32
	seq     uint64
	err     error
	done    chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan struct{}, 1)} }}

// maxGroup bounds the records written in one group (one pwritev(2) takes up to IOV_MAX = 1024 buffers, two a record).
const maxGroup = 1024

// Append writes payload as one record and returns its sequence number once
// it is durable as the fsync mode says (written to the page cache, or
// fdatasynced with FsyncAlways). The log keeps payload (it must not be
// modified afterwards) to hand it to consumers without reading it back.
// ErrFull is retryable; a write or fdatasync failure (a full disk) is
// returned as an error and leaves nothing of the record in the log.
func (l *Log) Append(payload []byte, items int) (uint64, error) {
	if len(payload) == 0 {
		return 0, ErrEmpty
	}
	size := int64(headerSize + len(payload))
	if len(payload) > MaxRecordBytes || size > l.opts.MaxBytes {
		return 0, ErrTooLarge
	}
	l.appendMu.RLock()
	if l.closed.Load() {
		l.appendMu.RUnlock()
		return 0, ErrClosed
	}
	if l.used.Add(size) > l.opts.MaxBytes {
		l.used.Add(-size)
		l.appendMu.RUnlock()
		return 0, ErrFull
	}
	r := reqPool.Get().(*appendReq)
	r.payload, r.items = payload, uint32(min(items, 1<<32-1))
	l.reqs <- r
	l.appendMu.RUnlock()
	<-r.done
	seq, err := r.seq, r.err
	r.payload, r.err = nil, nil
	reqPool.Put(r)
	return seq, err
}

// writeLoop is the single writer: it takes every append waiting, writes them
// in one write and syncs once (group commit).
func (l *Log) writeLoop() {
	defer close(l.writerDone)
	batch := make([]*appendReq, 0, maxGroup)
	for {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-l.quit:
			// Close stopped new appends before closing quit: drain.
			for {
				select {
				case r := <-l.reqs:
					batch = append(batch, r)
					if len(batch) == maxGroup {
						l.writeGroup(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				l.writeGroup(batch)
			}
			return
		}
	fill:
		for len(batch) < maxGroup {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.writeGroup(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// writeGroup writes batch (in order, rotating segments as they fill) and
// completes every request: on every path each one gets its answer.
func (l *Log) writeGroup(batch []*appendReq) {
	i := 0
	for i < len(batch) {
		l.mu.Lock()
		seg := l.segs[len(l.segs)-1]
		seq := l.nextSeq
		l.mu.Unlock()
		size := seg.size
		l.hbuf = l.hbuf[:0]
		j := i
		for j < len(batch) {
			rs := int64(headerSize + len(batch[j].payload))
			if size > magicSize && size+rs > l.opts.SegmentBytes {
				break
			}
			l.hbuf = appendHeader(l.hbuf, seq, batch[j].items, batch[j].payload)
			batch[j].seq = seq
			seq++
			size += rs
			j++
		}
		// Headers and payloads go to the file as they are (one pwritev),
		// not copied into one buffer first. hbuf is complete before the
		// slices into it are taken: appending may move it.
		l.iov = l.iov[:0]
		for k := i; k < j; k++ {
			h := (k - i) * headerSize
			l.iov = append(l.iov, l.hbuf[h:h+headerSize], batch[k].payload)
		}
		if j == i {
			if err := l.rotate(); err != nil {
				// No segment to write into (disk full, directory gone or
				// read-only): every request left is refused, and answered
				// below like the others. The next group tries again.
				l.fail(batch[i:], fmt.Errorf("wal rotate: %w", err))
				break
			}
			continue
		}
		if err := l.writeChunk(seg, l.iov, size-seg.size); err != nil {
			l.fail(batch[i:j], err)
		} else {
			l.publish(seg, batch[i:j])
		}
		i = j
	}
	clear(l.iov) // holds no payload past its group
	for _, r := range batch {
		r.done <- struct{}{}
	}
}

// writeChunk appends bufs (n bytes) to seg and, with FsyncAlways,
// fdatasyncs them. On any error the segment is truncated back, so a failed
// append leaves no record.
func (l *Log) writeChunk(seg *segment, bufs [][]byte, n int64) error {
	err := writeVec(seg.f, bufs, n, seg.size)
	if err == nil && l.opts.Fsync == FsyncAlways {
		err = l.sync(seg.f)
	}
	if err != nil {
		if terr := seg.f.Truncate(seg.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("wal write: %w", err)
	}
	if l.opts.Fsync == FsyncInterval {
		l.dirty.Store(true)
	}
	return nil
}

func (l *Log) fail(reqs []*appendReq, err error) {
	for _, r := range reqs {
		r.err = err
		l.used.Add(-int64(headerSize + len(r.payload)))
	}
}

// publish makes written records visible to consumers: in memory while the
// budget allows and nothing older waits on disk only, on disk otherwise.
func (l *Log) publish(seg *segment, reqs []*appendReq) {
	l.mu.Lock()
	off := seg.size
	for _, r := range reqs {
		l.unackedItems += int64(r.items)
		if l.opts.OnAppend != nil {
			l.opts.OnAppend(int(r.items))
		}
		n := int64(len(r.payload))
		fits := l.memBytes+n <= l.opts.MemoryBudget
		switch {
		case l.spill == 0 && fits:
			l.mem.push(Record{Seq: r.seq, Items: r.items, Payload: r.payload})
			l.memBytes += n
		case l.opts.LiveFirst && l.spill > 0 && fits:
			// A backlog waits on disk: this record goes before it.
			l.live.push(Record{Seq: r.seq, Items: r.items, Payload: r.payload})
			l.memBytes += n
			l.liveSeqs.add(r.seq)
		default:
			if l.spill == 0 {
				l.cur = cursor{seg: seg, off: off, seq: r.seq}
				// Every live record is older than the new cursor.
				l.liveSeqs = l.liveSeqs[:0]
			}
			l.spill++
		}
		off += headerSize + n
	}
	seg.size = off
	seg.records += int64(len(reqs))
	seg.lastSeq = reqs[len(reqs)-1].seq
	l.nextSeq = seg.lastSeq + 1
	l.unacked += int64(len(reqs))
	l.mu.Unlock()
	l.signal()
}

// rotate seals the active segment (flushing it unless FsyncNever) and starts
// a new one named after the next sequence number.
func (l *Log) rotate() error {
	l.mu.Lock()
	var prev *segment
	if len(l.segs) > 0 {
		prev = l.segs[len(l.segs)-1]
	}
	first := l.nextSeq
	l.mu.Unlock()
	if prev != nil && l.opts.Fsync != FsyncNever {
		if err := l.sync(prev.f); err != nil {
			return err
		}
	}
	path := filepath.Join(l.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(segmentMagic), 0); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if l.opts.Fsync != FsyncNever {
		if err := errors.Join(l.sync(f), syncDir(l.dir)); err != nil {
			_ = f.Close()
			_ = os.Remove(path)
			return err
		}
	}
	l.used.Add(magicSize)
	l.mu.Lock()
	l.segs = append(l.segs, &segment{firstSeq: first, path: path, f: f, size: magicSize})
	l.mu.Unlock()
	return nil
}

func (l *Log) sync(f *os.File) error {
	start := time.Now()
	err := fdatasync(f)
	l.fsyncs.Add(1)
	if l.opts.OnFsync != nil {
		l.opts.OnFsync(time.Since(start))
	}
	return err
}

func (l *Log) syncActive() error {
	l.mu.Lock()
	seg := l.segs[len(l.segs)-1]
	l.mu.Unlock()
	l.dirty.Store(false)
	return l.sync(seg.f)
}

// background flushes (FsyncInterval) and checkpoints the acknowledged
// position until Close.
func (l *Log) background() {
	defer close(l.bgDone)
	ckpt := time.NewTicker(checkpointEvery)
	defer ckpt.Stop()
	var flush <-chan time.Time
	if l.opts.Fsync == FsyncInterval {
		t := time.NewTicker(l.opts.FsyncInterval)
		defer t.Stop()
		flush = t.C
	}
	for {
		select {
		case <-l.quit:
			return
		case <-flush:
			if l.dirty.Load() {
				_ = l.syncActive() // a failure is retried at the next tick
			}
		case <-ckpt.C:
			_ = l.checkpoint() // a failure means more replay; retried at the next tick
		}
	}
}

func (l *Log) signal() {
	select {
	case l.avail <- struct{}{}:
	default:
	}
}
