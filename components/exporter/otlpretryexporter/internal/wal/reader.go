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
	return l.next(ctx, maxItems, maxBytes, 0)
}

// NextMore is Next for a batch that already holds records: it returns only
// records that fit together in maxItems and maxBytes (what room the batch
// has left), never one alone that does not. It returns nothing (and no
// error) at once when the next record does not fit, and otherwise blocks
// like Next: the caller bounds the wait with ctx.
func (l *Log) NextMore(ctx context.Context, maxItems, maxBytes int) ([]Record, error) {
	if maxItems <= 0 || maxBytes <= 0 {
		return nil, nil
	}
	return l.next(ctx, maxItems, maxBytes, 1)
}

func (l *Log) next(ctx context.Context, maxItems, maxBytes, have int) ([]Record, error) {
	for {
		if l.closed.Load() {
			return nil, ErrClosed
		}
		recs, more := l.take(maxItems, maxBytes, have)
		if len(recs) > 0 {
			return recs, nil
		}
		if more {
			return nil, nil // only with have > 0: the next record does not fit
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

// take cuts the next records for a batch already holding have records (a
// record that fits nothing goes alone only into an empty batch). more says
// records are left in the log.
func (l *Log) take(maxItems, maxBytes, have int) ([]Record, bool) {
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
	for len(l.retry) > 0 && batchFits(have+len(out), items, bytes, &l.retry[0], maxItems, maxBytes) {
		add(l.retry[0])
		l.retry = l.retry[1:]
	}
	if len(l.retry) == 0 {
		// Live records (LiveFirst) before everything older.
		for _, q := range []*ring{&l.live, &l.mem} {
			for q.len() > 0 && batchFits(have+len(out), items, bytes, q.front(), maxItems, maxBytes) {
				r := q.pop()
				l.memBytes -= int64(len(r.Payload))
				add(r)
			}
			if q.len() > 0 {
				break // the batch is full
			}
		}
	}
	readBack := len(l.retry) == 0 && l.live.len() == 0 && l.mem.len() == 0 && l.spill > 0 && items < maxItems && bytes < maxBytes
	spill, cur := l.spill, l.cur
	l.mu.Unlock()
	if readBack {
		// Only consumers (serialized by readMu) move the cursor while
		// spill > 0, so it is read without l.mu.
		var n int64
		for n < spill {
			st, err := l.readAt(cur)
			if err != nil {
				break // an I/O error: the records stay queued for the next call
			}
			if !st.found {
				n += st.skipped
				cur = st.next
				continue
			}
			if !batchFits(have+len(out), items, bytes, &st.rec, maxItems, maxBytes) {
				break
			}
			add(st.rec)
			n++
			cur = st.next
		}
		l.mu.Lock()
		l.spill -= n
		l.cur = cur
		l.liveSeqs.dropBelow(cur.seq) // passed over for good
		l.mu.Unlock()
	}
	l.mu.Lock()
	more := len(l.retry) > 0 || l.live.len() > 0 || l.mem.len() > 0 || l.spill > 0
	l.mu.Unlock()
	if more {
		l.signal()
	}
	return out, more
}

// readStep is one step of reading back from disk.
type readStep struct {
	rec     Record
	next    cursor
	found   bool  // rec is a record to deliver
	skipped int64 // otherwise: records of a damaged segment given up on (now acknowledged)
}

// readAt reads the record at c, moving to the next segment at the end of
// one. A record acknowledged before a restart (listed by the checkpoint) is
// passed over without reading its payload: recovery verified it, and its
// header says where the next one starts. A damaged record (the disk changed
// under a running log) makes the rest of its segment unreadable: those
// records are counted, acknowledged and the segment is kept in corrupt/
// when it is released.
func (l *Log) readAt(c cursor) (readStep, error) {
	l.mu.Lock()
	for c.off >= c.seg.size {
		i := slices.IndexFunc(l.segs, func(s *segment) bool { return s.firstSeq > c.seg.firstSeq })
		if i < 0 {
			l.mu.Unlock()
			return readStep{next: c}, io.EOF
		}
		c = cursor{seg: l.segs[i], off: magicSize, seq: l.segs[i].firstSeq}
	}
	seg := c.seg
	// A live record (LiveFirst) was given to consumers from memory: it is
	// passed over like an acknowledged one.
	acked := c.seq < l.lwm || l.acked.contains(c.seq) || l.liveSeqs.contains(c.seq)
	l.mu.Unlock()
	var hdr [headerSize]byte
	if _, err := seg.f.ReadAt(hdr[:], c.off); err != nil {
		return readStep{next: c}, err
	}
	h, err := parseHeader(hdr[:])
	end := c.off + headerSize + int64(h.length)
	if err != nil || end > seg.size || h.seq != c.seq {
		return l.skipSegment(c), nil
	}
	next := cursor{seg: seg, off: end, seq: c.seq + 1}
	if acked {
		return readStep{next: next}, nil
	}
	payload := make([]byte, h.length)
	if _, err := seg.f.ReadAt(payload, c.off+headerSize); err != nil {
		return readStep{next: c}, err
	}
	if recordChecksum(hdr[:], payload) != h.crc {
		return l.skipSegment(c), nil
	}
	return readStep{rec: Record{Seq: h.seq, Items: h.items, Payload: payload}, next: next, found: true}, nil
}

// skipSegment gives up on the rest of c's segment after damage.
func (l *Log) skipSegment(c cursor) readStep {
	l.mu.Lock()
	seg := c.seg
	seg.corrupt = true
	last, size := seg.lastSeq, seg.size
	n := int64(0)
	for s := c.seq; s <= last; s++ {
		if l.liveSeqs.contains(s) {
			continue // in memory (LiveFirst): delivered from there
		}
		if l.ackOne(s) {
			n++
		}
	}
	done := l.fullyAcked()
	l.mu.Unlock()
	l.corruptRecords.Add(n)
	l.removeSegments(done)
	return readStep{next: cursor{seg: seg, off: size, seq: last + 1}, skipped: n}
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

// Ack acknowledges records taken with Next, in any order. Segments whose
// every record is acknowledged are deleted.
func (l *Log) Ack(recs []Record) {
	l.mu.Lock()
	for i := range recs {
		if l.ackOne(recs[i].Seq) {
			l.unackedItems -= int64(recs[i].Items)
		}
	}
	done := l.fullyAcked()
	l.mu.Unlock()
	l.removeSegments(done)
}

// ackOne acknowledges s under l.mu and says whether it was not already.
func (l *Log) ackOne(s uint64) bool {
	switch {
	case s < l.lwm:
		return false
	case s == l.lwm:
		l.lwm++
		l.advance()
	case !l.acked.add(s):
		return false
	}
	l.unacked--
	l.ackGen++
	return true
}

// advance moves the low-water mark over the acknowledged numbers (and the
// numbers not in the log) that follow it.
func (l *Log) advance() {
	for {
		end, ok := l.acked.popBelow(l.lwm)
		if !ok {
			return
		}
		l.lwm = max(l.lwm, end)
	}
}

// fullyAcked takes the leading segments whose every record is acknowledged
// out of the log (under l.mu); the last one, being written, stays. Once
// Close began they stay too: Close closes them and the next Open finds them
// acknowledged.
func (l *Log) fullyAcked() []*segment {
	if l.closed.Load() {
		return nil
	}
	n := 0
	for n < len(l.segs)-1 && l.lwm > l.segs[n].lastSeq {
		n++
	}
	if n == 0 {
		return nil
	}
	done := slices.Clone(l.segs[:n])
	l.segs = slices.Delete(l.segs, 0, n)
	return done
}

func (l *Log) removeSegments(done []*segment) {
	if len(done) > 0 && l.opts.Ledger != nil {
		// The checkpoint first: with its records gone from disk, only the
		// checkpoint's ledger can still account for them (a failure: the
		// next recovery shows them as a gap, not as a loss of data).
		_ = l.checkpoint()
	}
	for _, s := range done {
		l.removeSegment(s)
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

// PendingItems is the items of the records appended and not yet
// acknowledged (those in flight with consumers included). The records of a
// damaged segment given up on while reading stay counted: their items are
// unknown, and they were not delivered.
func (l *Log) PendingItems() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unackedItems
}

// Pending is the number of records appended and not yet acknowledged.
func (l *Log) Pending() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unacked
}
