package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// writeLog appends n records to a fresh log in dir with small segments,
// closes it and returns the segment paths in order.
func writeLog(t *testing.T, dir string, n int) []string {
	t.Helper()
	l, _, err := Open(dir, Options{MaxBytes: 64 << 20, SegmentBytes: 4 << 10, MemoryBudget: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	// The last file is the empty segment Open started; drop it so that the
	// damaged segment below is the last one.
	last := segs[len(segs)-1]
	if st, _ := os.Stat(last); st.Size() == magicSize {
		_ = os.Remove(last)
		segs = segs[:len(segs)-1]
	}
	return segs
}

func recordsIn(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	seq, _ := parseSegmentName(filepath.Base(path))
	return scanSegment(f, st.Size(), seq, func(header, int64, []byte) {}).records
}

func TestRecoverTruncatesTornTail(t *testing.T) {
	dir := t.TempDir()
	segs := writeLog(t, dir, 200)
	last := segs[len(segs)-1]
	st, _ := os.Stat(last)
	// Cut the last record in half, as a crash during its write would.
	if err := os.Truncate(last, st.Size()-10); err != nil {
		t.Fatal(err)
	}
	l, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.TornTails != 1 || rec.TornBytes == 0 || rec.CorruptSegments != 0 {
		t.Fatalf("recovery %+v, want one torn tail", rec)
	}
	if rec.Records != 199 {
		t.Fatalf("recovered %d records, want 199 (all but the torn one)", rec.Records)
	}
	if l.Stats().TornTails != 1 {
		t.Fatal("torn tail not counted in Stats")
	}
	drain(t, l, 0, 199)
	// New records follow without reusing the torn one's place wrongly.
	appendN(t, l, 500, 3)
	drain(t, l, 500, 3)
}

func TestRecoverZeroTailIsTorn(t *testing.T) {
	dir := t.TempDir()
	segs := writeLog(t, dir, 50)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(make([]byte, 4096)) // the size grew, the data never came
	_ = f.Close()
	l, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.TornTails != 1 || rec.TornBytes != 4096 || rec.Records != 50 {
		t.Fatalf("recovery %+v, want a 4096-byte torn tail and 50 records", rec)
	}
	drain(t, l, 0, 50)
}

func TestRecoverSetsAsideCorruptMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	segs := writeLog(t, dir, 400)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	mid := segs[1]
	lost := recordsIn(t, mid)
	b, err := os.ReadFile(mid)
	if err != nil {
		t.Fatal(err)
	}
	b[magicSize+headerSize+3] ^= 0x40 // a payload byte of the first record
	if err := os.WriteFile(mid, b, 0o640); err != nil {
		t.Fatal(err)
	}
	l, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.CorruptSegments != 1 || rec.TornTails != 0 {
		t.Fatalf("recovery %+v, want one corrupt segment", rec)
	}
	if rec.Records != 400-lost {
		t.Fatalf("recovered %d records, want %d", rec.Records, 400-lost)
	}
	if _, err := os.Stat(filepath.Join(dir, corruptDir, filepath.Base(mid))); err != nil {
		t.Fatalf("corrupt segment not kept in corrupt/: %v", err)
	}
	first := recordsIn(t, segs[0])
	drain(t, l, 0, int(first))
	drain(t, l, int(first+lost), int(400-first-lost))
	// The gap left by the set-aside segment does not hold back deletion.
	if st := l.Stats(); st.Segments != 1 || st.Records != 0 {
		t.Fatalf("after acknowledging all: %+v, want only the active segment", st)
	}
}

func TestRecoverCorruptLastSegmentInTheMiddle(t *testing.T) {
	// A damaged record followed by valid ones in the LAST segment is damage,
	// not a torn tail: truncating would drop the valid records after it.
	dir := t.TempDir()
	segs := writeLog(t, dir, 200)
	last := segs[len(segs)-1]
	b, _ := os.ReadFile(last)
	b[magicSize+headerSize+1] ^= 1
	_ = os.WriteFile(last, b, 0o640)
	_, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.CorruptSegments != 1 || rec.TornTails != 0 {
		t.Fatalf("recovery %+v, want the last segment set aside", rec)
	}
}

func TestRecoverIgnoresDamagedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 20)
	if err := os.WriteFile(filepath.Join(dir, checkpointName), []byte("garbage garbage!"), 0o640); err != nil {
		t.Fatal(err)
	}
	l, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.Records != 20 {
		t.Fatalf("recovered %d, want 20 (a damaged checkpoint replays everything)", rec.Records)
	}
	drain(t, l, 0, 20)
}

func TestRecoverSkipsAcknowledged(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(dir, Options{MaxBytes: 1 << 20, MemoryBudget: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 30)
	drain(t, l, 0, 30)
	_ = l.Close()
	_, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.Records != 0 {
		t.Fatalf("replayed %d acknowledged records", rec.Records)
	}
}

// A full-length last record whose checksum fails is cut from the log as a
// torn write, but its bytes stay on disk in corrupt/: with fsync always it
// may be a record already answered OK, damaged afterwards (found by the
// chaos campaign, damagetail). A tail of zeros keeps nothing.
func TestRecoverKeepsTornTailInCorrupt(t *testing.T) {
	dir := t.TempDir()
	segs := writeLog(t, dir, 200)
	last := segs[len(segs)-1]
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x01 // a byte of the last record's payload
	if err := os.WriteFile(last, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, rec := open(t, dir, Options{MemoryBudget: 1 << 20})
	if rec.TornTails != 1 || rec.Records != 199 {
		t.Fatalf("recovery %+v, want one torn tail and 199 records", rec)
	}
	kept, err := os.ReadFile(filepath.Join(dir, "corrupt", filepath.Base(last)+".torn"))
	if err != nil {
		t.Fatalf("the cut record is not kept in corrupt/: %v", err)
	}
	if int64(len(kept)) != rec.TornBytes || kept[len(kept)-3] != b[len(b)-3] {
		t.Fatalf("kept %d bytes, want the %d cut ones", len(kept), rec.TornBytes)
	}

	zeroDir := t.TempDir()
	zs := writeLog(t, zeroDir, 50)
	f, err := os.OpenFile(zs[len(zs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(make([]byte, 4096))
	_ = f.Close()
	_, _ = open(t, zeroDir, Options{MemoryBudget: 1 << 20})
	if left, _ := filepath.Glob(filepath.Join(zeroDir, "corrupt", "*")); len(left) != 0 {
		t.Fatalf("a zero tail kept %v", left)
	}
}
