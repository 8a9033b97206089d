//go:build unix

package ledger

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// liveFileCounters reads the Live file as a restart after a SIGKILL finds
// it (the page cache; no unmap or flush happened).
func liveFileCounters(t *testing.T, dir string) (delivered, duplicates int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, LiveFileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != liveSize || string(b[:len(liveMagic)]) != liveMagic {
		t.Fatalf("live file: %d bytes, head %q", len(b), b[:min(len(b), 8)])
	}
	return int64(binary.NativeEndian.Uint64(b[8:])), int64(binary.NativeEndian.Uint64(b[16:]))
}

// TestLiveFileHoldsDeliveriesAfterTheCheckpoint: the deliveries after the
// last checkpoint are in the Live file as soon as they are counted; a
// restart on a copy of the directory (what a SIGKILL leaves) restores
// them, and the records they came from, still pending in the checkpoint's
// view, are counted as duplicates when delivered again.
func TestLiveFileHoldsDeliveriesAfterTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	w := newWorld()
	if err := w.l.AttachLive(dir); err != nil {
		t.Fatal(err)
	}
	w.l.Restore(nil, 0)
	w.accept(100)
	w.deliver(60)
	ckpt, err := Unmarshal(w.l.Marshal(nil)) // the last checkpoint
	if err != nil {
		t.Fatal(err)
	}
	w.deliver(30) // after it, then SIGKILL
	if d, dup := liveFileCounters(t, dir); d != 90 || dup != 0 {
		t.Fatalf("live file delivered %d duplicates %d, want 90 and 0", d, dup)
	}

	image := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, LiveFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(image, LiveFileName), b, 0o640); err != nil {
		t.Fatal(err)
	}
	w2 := newWorld()
	if err := w2.l.AttachLive(image); err != nil {
		t.Fatal(err)
	}
	w2.pending.Store(40) // the checkpoint calls the 30 delivered records unacknowledged
	if gap := w2.l.Restore(&ckpt, 0); gap != -30 {
		t.Fatalf("Restore gap %d, want -30 (30 items delivered and still on disk)", gap)
	}
	s := mustHold(t, w2.l, "after recovery")
	if s.Accepted != 100 || s.Delivered != 90 || s.Pending != 10 {
		t.Fatalf("after recovery %+v", s)
	}
	w2.deliver(40) // the replay: 30 again, 10 for the first time
	s = mustHold(t, w2.l, "drained")
	if s.Delivered != 100 || s.Duplicates != 30 || s.Pending != 0 {
		t.Fatalf("drained %+v", s)
	}
	if d, dup := liveFileCounters(t, image); d != 100 || dup != 30 {
		t.Fatalf("live file after the drain: delivered %d duplicates %d", d, dup)
	}
}

// TestLiveFileWithoutCheckpointStartsFromZero: a checkpoint lost or
// damaged restarts every counter from what is on disk, the Live file's too.
func TestLiveFileWithoutCheckpointStartsFromZero(t *testing.T) {
	dir := t.TempDir()
	w := newWorld()
	if err := w.l.AttachLive(dir); err != nil {
		t.Fatal(err)
	}
	w.l.Restore(nil, 0)
	w.accept(10)
	w.deliver(10)
	w2 := newWorld()
	if err := w2.l.AttachLive(dir); err != nil {
		t.Fatal(err)
	}
	w2.pending.Store(5)
	w2.l.Restore(nil, 5)
	s := mustHold(t, w2.l, "carried in")
	if s.Accepted != 5 || s.Delivered != 0 {
		t.Fatalf("%+v", s)
	}
}

// TestLiveFileDamagedStartsFromZero: a file of another size or magic is
// rewritten, not read.
func TestLiveFileDamagedStartsFromZero(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LiveFileName), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	if err := w.l.AttachLive(dir); err != nil {
		t.Fatal(err)
	}
	if d, dup := liveFileCounters(t, dir); d != 0 || dup != 0 {
		t.Fatalf("delivered %d duplicates %d", d, dup)
	}
}

// BenchmarkDeliverPathLive is BenchmarkDeliverPath with the counters in
// the Live file's mapping: compare the two in one run.
func BenchmarkDeliverPathLive(b *testing.B) {
	l := New(nil)
	if err := l.AttachLive(b.TempDir()); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Accept(100)
			l.Deliver(100)
		}
	})
}
