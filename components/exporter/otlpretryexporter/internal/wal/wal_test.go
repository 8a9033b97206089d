package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir string, opts Options) (*Log, Recovery) {
	t.Helper()
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 64 << 20
	}
	l, rec, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, rec
}

func payload(i int) []byte {
	return []byte(fmt.Sprintf("record-%06d-%s", i, bytes.Repeat([]byte{'x'}, i%50)))
}

func appendN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := l.Append(payload(i), i%7+1); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// drain takes n records, checks they are payload(from..from+n) in order and
// acknowledges them.
func drain(t *testing.T, l *Log, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := from
	for want < from+n {
		recs, err := l.Next(ctx, 1000, 1<<20)
		if err != nil {
			t.Fatalf("Next after %d of %d: %v", want-from, n, err)
		}
		if extra := want + len(recs) - (from + n); extra > 0 {
			l.Release(recs[len(recs)-extra:])
			recs = recs[:len(recs)-extra]
		}
		for _, r := range recs {
			if !bytes.Equal(r.Payload, payload(want)) || int(r.Items) != want%7+1 {
				t.Fatalf("record %d: got %q items %d, want %q items %d", want, r.Payload, r.Items, payload(want), want%7+1)
			}
			want++
		}
		l.Ack(recs)
	}
}

func TestAppendNextAckInOrder(t *testing.T) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(string(mode), func(t *testing.T) {
			l, _ := open(t, t.TempDir(), Options{Fsync: mode, MemoryBudget: 1 << 20})
			appendN(t, l, 0, 500)
			drain(t, l, 0, 500)
			if p := l.Pending(); p != 0 {
				t.Fatalf("pending %d after acknowledging everything", p)
			}
		})
	}
}

func TestBatchesRespectItemAndByteLimits(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{MemoryBudget: 1 << 20})
	for i := 0; i < 10; i++ {
		if _, err := l.Append(bytes.Repeat([]byte{'a'}, 100), 300); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := l.Next(context.Background(), 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("batch of %d records (900 items), want 3", len(recs))
	}
	recs2, _ := l.Next(context.Background(), 1000, 250)
	if len(recs2) != 2 {
		t.Fatalf("batch of %d records under 250 bytes, want 2", len(recs2))
	}
	// A record larger than the limits comes alone.
	recs3, _ := l.Next(context.Background(), 10, 10)
	if len(recs3) != 1 {
		t.Fatalf("oversized record: batch of %d, want 1", len(recs3))
	}
}

// TestNextMoreOnlyWhatFits: NextMore tops up a batch with records that fit
// the room left, never one alone that does not, in memory and read back
// from disk alike; it waits for records until its context ends.
func TestNextMoreOnlyWhatFits(t *testing.T) {
	for _, budget := range []int64{1 << 20, 0} { // in memory; spilled to disk
		t.Run(fmt.Sprintf("memory_budget=%d", budget), func(t *testing.T) {
			l, _ := open(t, t.TempDir(), Options{MemoryBudget: budget})
			for i := 0; i < 4; i++ {
				if _, err := l.Append(bytes.Repeat([]byte{'a'}, 100), 300); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			first, err := l.Next(ctx, 350, 1<<20)
			if err != nil || len(first) != 1 {
				t.Fatalf("Next: %d records, %v; want 1", len(first), err)
			}
			if recs, err := l.NextMore(ctx, 50, 1<<20); err != nil || len(recs) != 0 {
				t.Fatalf("NextMore with room for 50 items: %d records, %v; want none at once", len(recs), err)
			}
			if recs, err := l.NextMore(ctx, 700, 50); err != nil || len(recs) != 0 {
				t.Fatalf("NextMore with room for 50 bytes: %d records, %v; want none at once", len(recs), err)
			}
			recs, err := l.NextMore(ctx, 700, 1<<20)
			if err != nil || len(recs) != 2 {
				t.Fatalf("NextMore with room for 700 items: %d records, %v; want 2", len(recs), err)
			}
			if recs[0].Seq != first[0].Seq+1 {
				t.Fatalf("NextMore returned seq %d after %d: not in log order", recs[0].Seq, first[0].Seq)
			}
			l.Ack(append(first, recs...))
			last, err := l.Next(ctx, 1000, 1<<20)
			if err != nil || len(last) != 1 {
				t.Fatalf("Next: %d records, %v; want the last 1", len(last), err)
			}
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if recs, err := l.NextMore(wctx, 1000, 1<<20); !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
				t.Fatalf("NextMore on an empty log: %d records, %v; want to wait until the deadline", len(recs), err)
			}
			l.Ack(last)
		})
	}
}

func TestReopenReplaysUnackedInOrder(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(dir, Options{MaxBytes: 64 << 20, MemoryBudget: 1 << 20, SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 300)
	drain(t, l, 0, 100) // acknowledged: not replayed (checkpoint at Close)
	// Taken but not acknowledged: replayed.
	if _, err := l.Next(context.Background(), 50, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, rec := open(t, dir, Options{MemoryBudget: 1 << 20, SegmentBytes: 8 << 10})
	if rec.Records != 200 || rec.TornTails != 0 || rec.CorruptSegments != 0 {
		t.Fatalf("recovery %+v, want 200 records and no damage", rec)
	}
	drain(t, l2, 100, 200)
	appendN(t, l2, 300, 10)
	drain(t, l2, 300, 10)
}

func TestOutOfOrderAcksDeleteSegments(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentBytes: 4 << 10, MemoryBudget: 1 << 20})
	appendN(t, l, 0, 400)
	var batches [][]Record
	for l.Stats().Records > 0 && len(batches) < 1000 {
		recs, err := l.Next(context.Background(), 20, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, recs)
		if l.Stats().MemoryBytes == 0 && l.Stats().SpilledRecords == 0 {
			break
		}
	}
	segs := l.Stats().Segments
	if segs < 5 {
		t.Fatalf("%d segments, want several", segs)
	}
	// Acknowledge in reverse: nothing can be deleted until the first batch.
	for i := len(batches) - 1; i >= 1; i-- {
		l.Ack(batches[i])
	}
	if got := l.Stats().Segments; got != segs {
		t.Fatalf("segments %d -> %d before the oldest record was acknowledged", segs, got)
	}
	l.Ack(batches[0])
	st := l.Stats()
	if st.Segments != 1 || st.Records != 0 {
		t.Fatalf("after acknowledging everything: %+v, want only the active segment", st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if len(files) != 1 {
		t.Fatalf("%d segment files on disk, want 1", len(files))
	}
}

func TestFullRefusesUntilAcked(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{MaxBytes: 64 << 10, SegmentBytes: 4 << 10, MemoryBudget: 1 << 20})
	body := bytes.Repeat([]byte{'z'}, 1000)
	n := 0
	for ; n < 1000; n++ {
		if _, err := l.Append(body, 1); err != nil {
			if !errors.Is(err, ErrFull) {
				t.Fatalf("Append: %v, want ErrFull", err)
			}
			break
		}
	}
	if n == 0 || n == 1000 {
		t.Fatalf("%d appends before full", n)
	}
	if b := l.Stats().Bytes; b > 64<<10 {
		t.Fatalf("log holds %d bytes over max 65536", b)
	}
	// Nothing was dropped to make room: every accepted record is there.
	ctx := context.Background()
	got := 0
	for got < n {
		recs, err := l.Next(ctx, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got += len(recs)
		l.Ack(recs)
	}
	if _, err := l.Append(body, 1); err != nil {
		t.Fatalf("Append after acknowledging: %v", err)
	}
	if _, err := l.Append(make([]byte, 128<<10), 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("record over max_bytes: %v, want ErrTooLarge", err)
	}
}

func TestMemoryBudgetSpillsAndReadsBack(t *testing.T) {
	const budget = 16 << 10
	l, _ := open(t, t.TempDir(), Options{MemoryBudget: budget, SegmentBytes: 32 << 10})
	// A backlog of more than 10x the budget.
	n := 0
	for l.Stats().Bytes < 12*budget {
		appendN(t, l, n, 1)
		n++
		if m := l.Stats().MemoryBytes; m > budget {
			t.Fatalf("memory holds %d bytes, budget %d", m, budget)
		}
	}
	if l.Stats().SpilledRecords == 0 {
		t.Fatal("nothing spilled past the budget")
	}
	// Consume half, append more meanwhile: order is kept across memory and disk.
	drain(t, l, 0, n/2)
	appendN(t, l, n, 100)
	drain(t, l, n/2, n-n/2+100)
	// Caught up: new records are served from memory again.
	appendN(t, l, n+100, 5)
	if st := l.Stats(); st.SpilledRecords != 0 || st.MemoryBytes == 0 {
		t.Fatalf("after catching up: %+v, want records in memory", st)
	}
	drain(t, l, n+100, 5)
}

func TestReleaseRedeliversFirst(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{MemoryBudget: 1 << 20})
	appendN(t, l, 0, 10)
	first, _ := l.Next(context.Background(), 3, 1<<20)
	l.Release(first)
	drain(t, l, 0, 10)
}

func TestGroupCommitSharesFsync(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{Fsync: FsyncAlways, MemoryBudget: 64 << 20})
	const writers, each = 16, 100
	before := l.Stats().Fsyncs
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := l.Append(payload(i), 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fsyncs := l.Stats().Fsyncs - before
	if fsyncs == 0 || fsyncs >= writers*each {
		t.Fatalf("%d fdatasyncs for %d appends: want fewer (shared), and some", fsyncs, writers*each)
	}
	t.Logf("%d appends, %d fdatasyncs", writers*each, fsyncs)
}

func TestCloseStopsAppendsAndNext(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(dir, Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir, Options{MaxBytes: 1 << 20}); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Next(context.Background(), 10, 10)
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := l.Append([]byte("x"), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriteFailureLeavesNoRecord(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{MemoryBudget: 1 << 20})
	appendN(t, l, 0, 3)
	// Make the active segment unwritable underneath the log.
	l.mu.Lock()
	seg := l.segs[len(l.segs)-1]
	l.mu.Unlock()
	ro, err := os.Open(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	saved := seg.f
	seg.f = ro
	before := l.Stats()
	if _, err := l.Append(payload(99), 1); err == nil {
		t.Fatal("Append on a failing file returned nil")
	}
	if after := l.Stats(); after.Bytes != before.Bytes || after.Records != before.Records {
		t.Fatalf("failed append changed the log: %+v -> %+v", before, after)
	}
	seg.f = saved
	_ = ro.Close()
	appendN(t, l, 3, 2)
	drain(t, l, 0, 5)
}
