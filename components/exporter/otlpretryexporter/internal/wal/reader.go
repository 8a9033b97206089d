package wal

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
)

// Next returns the next records in log order, at least one, together at
// most maxItems items and maxBytes payload bytes (a single record larger
// than that is returned alone). It blocks until a record is available, ctx
// is done or the log is closed. Records stay in the log until Ack; Release
// hands them back for redelivery.
func (l *Log) Next(ctx context.Context, maxItems, maxBytes int) ([]Record, error) {
	for {
		if l.closed.Load() {
			return nil, ErrClosed
		}
		recs := l.take(maxItems, maxBytes)
		if len(recs) > 0 {
			return recs, nil
		}
		select {
		case <-l.avail:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.quit:
			return nil, ErrClosed
		}
	}
}

// batchFits says whether rec can join a batch of n records, items and bytes.
func batchFits(n, items, bytes int, rec *Record, maxItems, maxBytes int) bool {
	return n == 0 || (items+int(rec.Items) <= maxItems && bytes+len(rec.Payload) <= maxBytes)
}

func (l *Log) take(maxItems, maxBytes int) []Record {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	var out []Record
	items, bytes := 0, 0
	add := func(r Record) {
		out = append(out, r)
		items += int(r.Items)
		bytes += len(r.Payload)
	}
	l.mu.Lock()
	for len(l.retry) > 0 && batchFits(len(out), items, bytes, &l.retry[0], maxItems, maxBytes) {
		add(l.retry[0])
		l.retry = l.retry[1:]
	}
	if len(l.retry) == 0 {
		for l.mem.len() > 0 && batchFits(len(out), items, bytes, l.mem.front(), maxItems, maxBytes) {
			r := l.mem.pop()
			l.memBytes -= int64(len(r.Payload))
			add(r)
		}
	}
	readBack := len(l.retry) == 0 && l.mem.len() == 0 && l.spill > 0 && items < maxItems && bytes < maxBytes
	spill, cur := l.spill, l.cur
	l.mu.Unlock()
	if readBack {
		// Only consumers (serialized by readMu) move the cursor while
		// spill > 0, so it is read without l.mu.
		var n int64
		for n < spill {
			rec, next, skipped, err := l.readAt(cur)
			if err != nil {
				break // an I/O error: the records stay queued for the next call
			}
			if skipped > 0 {
				n += skipped
				cur = next
				continue
			}
			if !batchFits(len(out), items, bytes, &rec, maxItems, maxBytes) {
				break
			}
			add(rec)
			n++
			cur = next
		}
		l.mu.Lock()
		l.spill -= n
		l.cur = cur
		l.mu.Unlock()
	}
	l.mu.Lock()
	more := len(l.retry) > 0 || l.mem.len() > 0 || l.spill > 0
	l.mu.Unlock()
	if more {
		l.signal()
	}
	return out
}

// readAt reads the record at c, moving to the next segment at the end of
// one. A damaged record (the disk changed under a running log) makes the
// rest of its segment unreadable: those records are counted, acknowledged
// and the segment is kept in corrupt/ when it is released.
func (l *Log) readAt(c cursor) (Record, cursor, int64, error) {
	l.mu.Lock()
	for c.off >= c.seg.size {
		i := slices.IndexFunc(l.segs, func(s *segment) bool { return s.firstSeq > c.seg.firstSeq })
		if i < 0 {
			l.mu.Unlock()
			return Record{}, c, 0, io.EOF
		}
		c = cursor{seg: l.segs[i], off: magicSize, seq: l.segs[i].firstSeq}
	}
	seg := c.seg
	l.mu.Unlock()
	var hdr [headerSize]byte
	if _, err := seg.f.ReadAt(hdr[:], c.off); err != nil {
		return Record{}, c, 0, err
	}
	h, err := parseHeader(hdr[:])
	var payload []byte
	if err == nil && c.off+headerSize+int64(h.length) <= seg.size {
		payload = make([]byte, h.length)
		if _, err := seg.f.ReadAt(payload, c.off+headerSize); err != nil {
			return Record{}, c, 0, err
		}
		if recordChecksum(hdr[:], payload) != h.crc || h.seq != c.seq {
			err = errChecksum
		}
	} else if err == nil {
		err = errShort
	}
	if err != nil {
		return l.skipSegment(c)
	}
	next := cursor{seg: seg, off: c.off + headerSize + int64(h.length), seq: c.seq + 1}
	return Record{Seq: h.seq, Items: h.items, Payload: payload}, next, 0, nil
}

// skipSegment gives up on the rest of c's segment after damage.
func (l *Log) skipSegment(c cursor) (Record, cursor, int64, error) {
	l.mu.Lock()
	seg := c.seg
	seg.corrupt = true
	skipped := int64(seg.lastSeq - c.seq + 1)
	l.mu.Unlock()
	l.corruptRecords.Add(skipped)
	seqs := make([]uint64, 0, skipped)
	for s := c.seq; s <= seg.lastSeq; s++ {
		seqs = append(seqs, s)
	}
	l.AckSeqs(seqs)
	return Record{}, cursor{seg: seg, off: seg.size, seq: seg.lastSeq + 1}, skipped, nil
}

// Release hands records taken with Next back; they are delivered again
// before anything newer.
func (l *Log) Release(recs []Record) {
	if len(recs) == 0 {
		return
	}
	l.mu.Lock()
	l.retry = append(l.retry, recs...)
	slices.SortFunc(l.retry, func(a, b Record) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	l.mu.Unlock()
	l.signal()
}

// Ack acknowledges records taken with Next, in any order.
func (l *Log) Ack(recs []Record) {
	seqs := make([]uint64, len(recs))
	for i, r := range recs {
		seqs[i] = r.Seq
	}
	l.AckSeqs(seqs)
}

// AckSeqs acknowledges records by sequence number. Segments whose every
// record is acknowledged are deleted.
func (l *Log) AckSeqs(seqs []uint64) {
	l.mu.Lock()
	for _, s := range seqs {
		switch {
		case s == l.lwm:
			l.lwm++
		case s > l.lwm:
			l.ackedAbove[s] = struct{}{}
		default:
			continue // acknowledged twice
		}
		l.unacked--
	}
	l.advance()
	var done []*segment
	for len(l.segs) > 1 && l.lwm > l.segs[0].lastSeq {
		done = append(done, l.segs[0])
		l.segs = l.segs[1:]
	}
	closed := l.closed.Load()
	l.mu.Unlock()
	if closed {
		return // Close closed the files; the next Open finds them acknowledged
	}
	for _, s := range done {
		l.removeSegment(s)
	}
}

// advance moves the low-water mark over acknowledged sequence numbers and
// over numbers not in the log.
func (l *Log) advance() {
	for {
		if len(l.gaps) > 0 && l.lwm >= l.gaps[0].from {
			l.lwm = max(l.lwm, l.gaps[0].to)
			l.gaps = l.gaps[1:]
			continue
		}
		if _, ok := l.ackedAbove[l.lwm]; ok {
			delete(l.ackedAbove, l.lwm)
			l.lwm++
			continue
		}
		return
	}
}

func (l *Log) removeSegment(s *segment) {
	_ = s.f.Close()
	if s.corrupt {
		if l.setAside(s.path) == nil {
			l.used.Add(-s.size)
			return
		}
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return // keep counting its bytes: the space is still used
	}
	l.used.Add(-s.size)
}

// Pending is the number of records appended and not yet acknowledged.
func (l *Log) Pending() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unacked
}
