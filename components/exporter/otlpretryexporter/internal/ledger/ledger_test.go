package ledger

import (
	"sync"
	"sync/atomic"
	"testing"
)

// world is a toy exporter: a queue of pending items the ledger measures.
type world struct {
	pending atomic.Int64
	l       *Ledger
}

func newWorld() *world {
	w := &world{}
	w.l = New(w.pending.Load)
	return w
}

func (w *world) accept(n int)  { w.pending.Add(int64(n)); w.l.Accept(n) }
func (w *world) deliver(n int) { w.l.Deliver(n); w.pending.Add(-int64(n)) }

func mustHold(t *testing.T, l *Ledger, what string) Snapshot {
	t.Helper()
	s, ok := l.Read()
	if !ok {
		t.Fatalf("%s: identity does not hold: %+v gap %d", what, s, s.Gap())
	}
	return s
}

func TestIdentityOverEveryExit(t *testing.T) {
	w := newWorld()
	w.accept(10)
	mustHold(t, w.l, "accepted")
	w.deliver(4)
	w.l.Quarantine(2)
	w.pending.Add(-2)
	w.l.Drop(Rejected, 1)
	w.l.Drop(Shutdown, 1)
	w.pending.Add(-2)
	s := mustHold(t, w.l, "every exit")
	if s.Accepted != 10 || s.Delivered != 4 || s.Pending != 2 || s.Quarantined != 2 || s.DroppedTotal() != 2 {
		t.Fatalf("terms %+v", s)
	}
	// A path that forgets a batch: the gap is positive and stays.
	w.pending.Add(-2)
	if s, ok := w.l.Read(); ok || s.Gap() != 2 {
		t.Fatalf("forgotten batch: holds=%v gap %d, want false and 2", ok, s.Gap())
	}
	// Counted twice: a negative gap.
	w.pending.Add(2)
	w.l.Deliver(1)
	if s, ok := w.l.Read(); ok || s.Gap() != -1 {
		t.Fatalf("double count: holds=%v gap %d", ok, s.Gap())
	}
}

// TestConcurrentMovesNeverShowAGap: batches moving while the ledger is read
// (counted where they go first, then leaving where they were) never show
// as lost, and the identity holds once they rest.
func TestConcurrentMovesNeverShowAGap(t *testing.T) {
	w := newWorld()
	var wg, movers sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		movers.Add(1)
		go func() {
			defer movers.Done()
			for i := 0; i < 20000; i++ {
				w.accept(3)
				w.deliver(3)
			}
		}()
	}
	var readErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s, _ := w.l.Read(); s.Gap() > 0 {
				readErr.Store(s)
			}
		}
	}()
	movers.Wait()
	close(stop)
	wg.Wait()
	if v := readErr.Load(); v != nil {
		t.Fatalf("a reading showed items lost while batches moved: %+v", v)
	}
	s := mustHold(t, w.l, "at rest")
	if s.Delivered != 4*20000*3 {
		t.Fatalf("delivered %d", s.Delivered)
	}
}

func TestPersistRoundTrip(t *testing.T) {
	w := newWorld()
	w.accept(100)
	w.deliver(60)
	w.l.Quarantine(5)
	w.l.Drop(Partial, 3)
	w.l.Drop(Corrupt, 2)
	w.pending.Add(-10)
	b := w.l.Marshal(nil)
	p, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Accepted != 100 || p.Delivered != 60 || p.Quarantined != 5 || p.Dropped[Partial] != 3 || p.Dropped[Corrupt] != 2 {
		t.Fatalf("persisted %+v", p)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-8], append([]byte("XLG1"), b[4:]...), b[:len(b)-1]} {
		if _, err := Unmarshal(bad); err == nil {
			t.Fatalf("Unmarshal(%x) accepted", bad)
		}
	}
	// A later version with one more reason is still read.
	if _, err := Unmarshal(append(b, make([]byte, 8)...)); err != nil {
		t.Fatalf("longer encoding: %v", err)
	}
}

// TestRestoreAfterACrash: after a crash the pending term is measured from
// disk; items found twice become duplicates as they are delivered, and the
// identity holds throughout.
func TestRestoreAfterACrash(t *testing.T) {
	// Checkpoint: 100 accepted, 60 delivered, 40 pending.
	p := Persisted{Accepted: 100, Delivered: 60}
	// Then, before the SIGKILL: 10 more accepted (on disk, after the
	// checkpoint), 5 of the 40 spooled to the dead letter without their
	// log records being acknowledged (on disk twice), and the checkpoint
	// counted 3 delivered whose records were not yet acknowledged.
	w := newWorld()
	w.pending.Store(40 + 10 + 5 + 3)
	gap := w.l.Restore(&p, 10)
	if gap != -8 {
		t.Fatalf("Restore gap %d, want -8 (8 items held twice)", gap)
	}
	s := mustHold(t, w.l, "after recovery")
	if s.Accepted != 110 || s.Pending != 50 {
		t.Fatalf("after recovery %+v", s)
	}
	// Everything on disk is delivered: 58 items, 8 of them again.
	w.deliver(20)
	mustHold(t, w.l, "partly drained")
	w.deliver(38)
	s = mustHold(t, w.l, "drained")
	if s.Delivered != 110 || s.Duplicates != 8 || s.Pending != 0 {
		t.Fatalf("drained %+v", s)
	}
}

func TestRestoreWithShortfallKeepsTheGap(t *testing.T) {
	w := newWorld()
	w.pending.Store(30) // a damaged segment with 10 items was set aside
	if gap := w.l.Restore(&Persisted{Accepted: 100, Delivered: 60}, 0); gap != 10 {
		t.Fatalf("gap %d, want 10", gap)
	}
	if _, ok := w.l.Read(); ok {
		t.Fatal("identity holds although 10 accepted items are nowhere")
	}
}

func TestRestoreWithoutCheckpointCarriesIn(t *testing.T) {
	w := newWorld()
	w.pending.Store(42)
	w.l.Restore(nil, 42)
	s := mustHold(t, w.l, "carried in")
	if s.Accepted != 42 {
		t.Fatalf("%+v", s)
	}
}

func BenchmarkDeliverPath(b *testing.B) {
	l := New(nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Accept(100)
			l.Deliver(100)
		}
	})
}
