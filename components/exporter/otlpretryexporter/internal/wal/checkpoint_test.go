package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// legacyCheckpoint is the version 1 file ("OWCK" | lwm | CRC32C) that logs
// written before the acknowledged ranges left behind.
func legacyCheckpoint(lwm uint64) []byte {
	b := binary.LittleEndian.AppendUint64([]byte("OWCK"), lwm)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// replayAll takes and acknowledges every pending record and returns their
// indexes (payload(i) carries i; a fresh log numbers record i as seq i).
func replayAll(t *testing.T, l *Log) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []int
	for l.Pending() > 0 {
		recs, err := l.Next(ctx, 1000, 1<<20)
		if err != nil {
			t.Fatalf("Next with %d pending: %v", l.Pending(), err)
		}
		for _, r := range recs {
			i, err := strconv.Atoi(string(r.Payload[len("record-") : len("record-")+6]))
			if err != nil || !bytes.Equal(r.Payload, payload(i)) || r.Seq != uint64(i) {
				t.Fatalf("record seq %d: payload %q", r.Seq, r.Payload)
			}
			got = append(got, i)
		}
		l.Ack(recs)
	}
	return got
}

// outOfOrderLog appends n records to a fresh log in dir (small segments),
// takes them one by one and acknowledges those ack says, leaving the rest
// taken but unacknowledged, as consumers in flight at a crash do. It
// returns the open log and the indexes not acknowledged.
func outOfOrderLog(t *testing.T, dir string, n int, ack func(i int) bool) (*Log, []int) {
	t.Helper()
	l, _, err := Open(dir, Options{MaxBytes: 64 << 20, SegmentBytes: 4 << 10, MemoryBudget: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, n)
	var unacked []int
	for i := 0; i < n; i++ {
		recs, err := l.Next(context.Background(), 1, 1<<20) // one record
		if err != nil || len(recs) != 1 || recs[0].Seq != uint64(i) {
			t.Fatalf("Next %d: %v %v", i, recs, err)
		}
		if ack(i) {
			l.Ack(recs)
		} else {
			unacked = append(unacked, i)
		}
	}
	return l, unacked
}

// scattered acknowledges most records out of order, and every record of a
// stretch long enough to cover whole segments.
func scattered(i int) bool { return i%3 != 0 || (i >= 60 && i < 240) }

func TestReopenReplaysOnlyUnacknowledged(t *testing.T) {
	dir := t.TempDir()
	const n = 300
	l, unacked := outOfOrderLog(t, dir, n, scattered)
	segsBefore := l.Stats().Segments
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, rec := open(t, dir, Options{MemoryBudget: 1 << 20, SegmentBytes: 4 << 10})
	if rec.Records != int64(len(unacked)) || rec.Acknowledged != int64(n-len(unacked)) {
		t.Fatalf("recovery %+v: want %d records to replay and %d acknowledged", rec, len(unacked), n-len(unacked))
	}
	// Segments whose every record was acknowledged are gone at start, even
	// between segments that are not.
	if rec.Segments > segsBefore-2 {
		t.Fatalf("%d segments kept of %d: the fully acknowledged ones should be deleted", rec.Segments, segsBefore)
	}
	if got := replayAll(t, l2); !slices.Equal(got, unacked) {
		t.Fatalf("replayed %v\nwant only the unacknowledged %v", got, unacked)
	}
	// The numbers acknowledged before the restart and the deleted segments
	// do not hold back the low-water mark: everything is deleted now.
	if st := l2.Stats(); st.Segments != 1 || st.Records != 0 {
		t.Fatalf("after acknowledging the rest: %+v, want only the active segment", st)
	}
	appendN(t, l2, n, 5)
	if got := replayAll(t, l2); !slices.Equal(got, []int{n, n + 1, n + 2, n + 3, n + 4}) {
		t.Fatalf("new records after the restart: %v", got)
	}
}

// TestCheckpointWithoutClose: the acknowledged ranges reach the disk within
// checkpointEvery while the log runs, so a process killed without Close
// (here: a copy of its directory, as SIGKILL leaves it) replays only what
// was not acknowledged.
func TestCheckpointWithoutClose(t *testing.T) {
	dir := t.TempDir()
	l, unacked := outOfOrderLog(t, dir, 200, scattered)
	defer l.Close()
	l.mu.Lock()
	want := encodeCheckpoint(nil, l.lwm, l.acked)
	l.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, checkpointName))
		if bytes.Equal(b, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %x not written within 10s, want %x", b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	crashed := copyDir(t, dir)
	l2, _ := open(t, crashed, Options{MemoryBudget: 1 << 20})
	if got := replayAll(t, l2); !slices.Equal(got, unacked) {
		t.Fatalf("replayed %v\nwant only the unacknowledged %v", got, unacked)
	}
}

// TestDamagedCheckpointReplaysMoreNeverLess cuts the checkpoint at every
// length and flips every byte of it: each start replays at least every
// unacknowledged record (a damaged checkpoint is ignored: everything is).
func TestDamagedCheckpointReplaysMoreNeverLess(t *testing.T) {
	dir := t.TempDir()
	l, unacked := outOfOrderLog(t, dir, 60, func(i int) bool { return i%4 != 1 && i != 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if err != nil {
		t.Fatal(err)
	}
	if _, acked, ok := decodeCheckpoint(good); !ok || len(acked) < 10 {
		t.Fatalf("checkpoint %x holds %d ranges, want many", good, len(acked))
	}
	var damaged [][]byte
	for n := 0; n < len(good); n++ {
		damaged = append(damaged, good[:n])
	}
	for i := range good {
		for _, x := range []byte{0x01, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= x
			damaged = append(damaged, b)
		}
	}
	for _, b := range damaged {
		d := copyDir(t, dir)
		if err := os.WriteFile(filepath.Join(d, checkpointName), b, 0o640); err != nil {
			t.Fatal(err)
		}
		l, rec, err := Open(d, Options{MaxBytes: 64 << 20, MemoryBudget: 1 << 20, Fsync: FsyncNever})
		if err != nil {
			t.Fatal(err)
		}
		got := replayAll(t, l)
		_ = l.Close()
		if len(got) != 60 || rec.Acknowledged != 0 {
			t.Fatalf("checkpoint %x: replayed %d records (%d acknowledged), want all 60 (unacknowledged: %v)",
				b, len(got), rec.Acknowledged, unacked)
		}
	}
}

func TestLegacyCheckpointHonoured(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 50)
	if err := os.WriteFile(filepath.Join(dir, checkpointName), legacyCheckpoint(20), 0o640); err != nil {
		t.Fatal(err)
	}
	l, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.Records != 30 || rec.Acknowledged != 20 {
		t.Fatalf("recovery %+v: want 30 records after the version 1 low-water mark", rec)
	}
	drain(t, l, 20, 30)
}

// TestAcknowledgedNumbersNeverReused: the checkpoint lists numbers whose
// records are no longer on disk (a tail lost with fsync never). New records
// must be numbered above them, or the next start would skip them as
// acknowledged.
func TestAcknowledgedNumbersNeverReused(t *testing.T) {
	dir := t.TempDir()
	l, _ := outOfOrderLog(t, dir, 10, func(i int) bool { return i == 7 || i == 8 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Lose records 5-9 from the end of the segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	f, err := os.Open(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	var cut int64
	scanSegment(f, st.Size(), 0, func(h header, off int64, _ []byte) {
		if h.seq == 5 {
			cut = off
		}
	})
	_ = f.Close()
	if err := os.Truncate(segs[0], cut); err != nil {
		t.Fatal(err)
	}
	l2, _, err := Open(dir, Options{MaxBytes: 64 << 20, MemoryBudget: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for i := 0; i < 5; i++ {
		seq, err := l2.Append(payload(100+i), 1)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if seqs[0] < 9 {
		t.Fatalf("new records numbered %v: below the acknowledged 7 and 8", seqs)
	}
	_, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.Records != 10 {
		t.Fatalf("recovered %d records, want the 5 old unacknowledged and the 5 new", rec.Records)
	}
}

// copyDir copies the log's files (not its subdirectories) to a new directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestDamageWhileRunningAfterRestart: records read back after a restart
// pass over those the checkpoint lists; a record damaged on disk while the
// log runs gives up the rest of its segment, counting only the records that
// were not acknowledged, and the records after that segment still come.
func TestDamageWhileRunningAfterRestart(t *testing.T) {
	dir := t.TempDir()
	l, unacked := outOfOrderLog(t, dir, 200, func(i int) bool { return i%3 != 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, _ := open(t, dir, Options{MemoryBudget: 1 << 20})
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	var victim int64
	last := uint64(0)
	scanSegment(f, st.Size(), 0, func(h header, off int64, _ []byte) {
		if h.seq == 30 {
			victim = off
		}
		last = h.seq
	})
	if victim == 0 || last < 40 {
		t.Fatalf("segment 0 holds records up to %d, want 30 and more in it", last)
	}
	if _, err := f.WriteAt([]byte{0xff}, victim+headerSize+2); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	var want []int
	lost := int64(0)
	for _, i := range unacked {
		if i >= 30 && uint64(i) <= last {
			lost++
			continue
		}
		want = append(want, i)
	}
	if got := replayAll(t, l2); !slices.Equal(got, want) {
		t.Fatalf("replayed %v\nwant %v", got, want)
	}
	if st := l2.Stats(); st.CorruptRecords != lost || st.Segments != 1 || st.Records != 0 {
		t.Fatalf("stats %+v: want %d corrupt records (the unacknowledged ones from 30 to %d) and only the active segment", st, lost, last)
	}
	if _, err := os.Stat(filepath.Join(dir, corruptDir, filepath.Base(segs[0]))); err != nil {
		t.Fatalf("damaged segment not kept in corrupt/: %v", err)
	}
}
