package wal

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// backlogged opens a log whose memory holds nothing and whose disk holds a
// backlog: records 0..n-1 appended past a small memory budget, those that
// were in memory (0..k-1) taken and acknowledged. It returns n and k.
func backlogged(t *testing.T, dir string, liveFirst bool) (*Log, int, int) {
	t.Helper()
	const budget = 4 << 10
	l, _ := open(t, dir, Options{MemoryBudget: budget, SegmentBytes: 32 << 10, LiveFirst: liveFirst})
	n := 0
	for l.Stats().SpilledRecords < 50 {
		appendN(t, l, n, 1)
		n++
	}
	inMem, err := l.Next(context.Background(), 1<<30, int(l.Stats().MemoryBytes))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range inMem {
		if !bytes.Equal(r.Payload, payload(i)) {
			t.Fatalf("memory record %d: %q", i, r.Payload)
		}
	}
	l.Ack(inMem)
	if st := l.Stats(); st.MemoryBytes != 0 || st.SpilledRecords != int64(n-len(inMem)) {
		t.Fatalf("after taking memory: %+v, want %d spilled", st, n-len(inMem))
	}
	return l, n, len(inMem)
}

// takeAll takes every record the log holds now, in the order Next gives them.
func takeAll(t *testing.T, l *Log, want int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Record
	for len(out) < want {
		recs, err := l.Next(ctx, 1<<30, 1<<30)
		if err != nil {
			t.Fatalf("Next after %d of %d: %v", len(out), want, err)
		}
		out = append(out, recs...)
	}
	return out
}

func payloads(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Payload)
	}
	return out
}

func wantOrder(t *testing.T, got []Record, order ...[2]int) {
	t.Helper()
	var want []string
	for _, r := range order {
		for i := r[0]; i < r[1]; i++ {
			want = append(want, string(payload(i)))
		}
	}
	g := payloads(got)
	if len(g) != len(want) {
		t.Fatalf("took %d records, want %d", len(g), len(want))
	}
	for i := range want {
		if g[i] != want[i] {
			t.Fatalf("record %d taken: %q, want %q", i, g[i], want[i])
		}
	}
}

// With LiveFirst, records appended while a backlog waits on disk are taken
// before it, and the backlog follows in append order, each record once.
// Without it the log is first in, first out.
func TestLiveFirstTakesNewRecordsBeforeTheBacklog(t *testing.T) {
	for _, liveFirst := range []bool{true, false} {
		l, n, k := backlogged(t, t.TempDir(), liveFirst)
		appendN(t, l, n, 10)
		if got, want := l.Stats().LiveRecords, map[bool]int64{true: 10, false: 0}[liveFirst]; got != want {
			t.Fatalf("liveFirst %v: %d live records, want %d", liveFirst, got, want)
		}
		got := takeAll(t, l, n+10-k)
		if liveFirst {
			wantOrder(t, got, [2]int{n, n + 10}, [2]int{k, n})
		} else {
			wantOrder(t, got, [2]int{k, n + 10})
		}
		l.Ack(got)
		if st := l.Stats(); st.Records != 0 || st.SpilledRecords != 0 || st.LiveRecords != 0 || st.MemoryBytes != 0 {
			t.Fatalf("liveFirst %v: after acknowledging everything: %+v", liveFirst, st)
		}
		// Caught up: the next records are in memory, in order.
		appendN(t, l, n+10, 3)
		drain(t, l, n+10, 3)
	}
}

// A live record taken and not acknowledged when the log closes is replayed
// at the next open, with the backlog, in append order, once.
func TestLiveFirstRecoveryReplaysInAppendOrder(t *testing.T) {
	dir := t.TempDir()
	l, n, k := backlogged(t, dir, true)
	appendN(t, l, n, 10)
	live, err := l.Next(context.Background(), 1<<30, 1<<30)
	if err != nil || len(live) == 0 || !bytes.Equal(live[0].Payload, payload(n)) {
		t.Fatalf("first take %v, %v: want the live records first", payloads(live), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, rec := open(t, dir, Options{MemoryBudget: 4 << 10, SegmentBytes: 32 << 10, LiveFirst: true})
	if rec.Records != int64(n+10-k) {
		t.Fatalf("recovered %d records, want %d", rec.Records, n+10-k)
	}
	got := takeAll(t, l2, n+10-k)
	wantOrder(t, got, [2]int{k, n + 10})
	l2.Ack(got)
}

// Random appends, takes, acknowledgements, releases and reopenings of a
// live-first log with a small memory budget: every record appended is
// taken, none is out with two consumers at once, and once everything is
// acknowledged nothing is left, nor replayed at the next open.
func TestLiveFirstRandomSchedules(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		opts := Options{MemoryBudget: 2 << 10, SegmentBytes: 8 << 10, LiveFirst: true}
		l, _, err := Open(dir, Options{MaxBytes: 64 << 20, MemoryBudget: opts.MemoryBudget, SegmentBytes: opts.SegmentBytes, LiveFirst: true})
		if err != nil {
			t.Fatal(err)
		}
		appended := 0
		done := map[string]bool{}  // acknowledged
		out := map[string]Record{} // taken, not yet acknowledged or released
		ctx := context.Background()
		for step := 0; step < 3000; step++ {
			switch op := rng.IntN(10); {
			case op < 4:
				if _, err := l.Append(payload(appended), appended%7+1); err != nil {
					t.Fatalf("seed %d step %d: Append: %v", seed, step, err)
				}
				appended++
			case op < 7:
				if l.Stats().Records == int64(len(out)) {
					continue // nothing to take: Next would wait
				}
				tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				recs, err := l.Next(tctx, 1+rng.IntN(30), 64+rng.IntN(2048))
				cancel()
				if err != nil {
					t.Fatalf("seed %d step %d: Next: %v (stats %+v, %d out)", seed, step, err, l.Stats(), len(out))
				}
				for _, r := range recs {
					p := string(r.Payload)
					if _, twice := out[p]; twice || done[p] {
						t.Fatalf("seed %d step %d: %q taken again (out %v, done %v)", seed, step, p, twice, done[p])
					}
					out[p] = r
				}
			case op < 9:
				var acks []Record
				for p, r := range out {
					if rng.IntN(2) == 0 {
						acks = append(acks, r)
						delete(out, p)
						done[p] = true
					}
				}
				l.Ack(acks)
			case op < 10 && rng.IntN(10) == 0:
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				out = map[string]Record{} // replayed after the reopen
				var rec Recovery
				if l, rec, err = Open(dir, Options{MaxBytes: 64 << 20, MemoryBudget: opts.MemoryBudget, SegmentBytes: opts.SegmentBytes, LiveFirst: true}); err != nil {
					t.Fatal(err)
				}
				if want := int64(appended - len(done)); rec.Records != want {
					t.Fatalf("seed %d step %d: reopened with %d records, want %d", seed, step, rec.Records, want)
				}
			default:
				var rel []Record
				for p, r := range out {
					rel = append(rel, r)
					delete(out, p)
				}
				l.Release(rel)
			}
		}
		// Drain: everything left is taken once and acknowledged.
		var rel []Record
		for _, r := range out {
			rel = append(rel, r)
		}
		l.Release(rel)
		for len(done) < appended {
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			recs, err := l.Next(tctx, 1000, 1<<20)
			cancel()
			if err != nil {
				t.Fatalf("seed %d: drain at %d of %d: %v", seed, len(done), appended, err)
			}
			for _, r := range recs {
				if done[string(r.Payload)] {
					t.Fatalf("seed %d: %q taken after it was acknowledged", seed, r.Payload)
				}
				done[string(r.Payload)] = true
			}
			l.Ack(recs)
		}
		if st := l.Stats(); st.Records != 0 || st.LiveRecords != 0 || st.SpilledRecords != 0 {
			t.Fatalf("seed %d: drained, yet %+v", seed, st)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, rec, err := Open(dir, Options{MaxBytes: 64 << 20, LiveFirst: true})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Records != 0 {
			t.Fatalf("seed %d: %d records replayed after everything was acknowledged", seed, rec.Records)
		}
		_ = l2.Close()
	}
}

// Live records fill the memory budget; the records after them spill, behind
// the live ones in the file. Reading the backlog back passes over the live
// records (taken from memory) and reads the spilled ones after them: every
// record once, the live ones first, the rest in append order.
func TestLiveFirstBacklogReadsPastLiveRecords(t *testing.T) {
	l, n, k := backlogged(t, t.TempDir(), true)
	m := n
	for prev := int64(-1); l.Stats().LiveRecords != prev; m++ {
		prev = l.Stats().LiveRecords
		appendN(t, l, m, 1)
	}
	live := int(l.Stats().LiveRecords)
	appendN(t, l, m, 20) // spill, after the live records
	m += 20
	if live < 10 || int(l.Stats().SpilledRecords) != m-k-live {
		t.Fatalf("%d live, %+v: want the memory budget full of live records and %d spilled", live, l.Stats(), m-k-live)
	}
	got := takeAll(t, l, m-k)
	// The live ones are n..n+live-1; the spilled ones k..n-1, then
	// n+live..m-1.
	wantOrder(t, got, [2]int{n, n + live}, [2]int{k, n}, [2]int{n + live, m})
	l.Ack(got)
	if st := l.Stats(); st.Records != 0 {
		t.Fatalf("after acknowledging everything: %+v", st)
	}
}
