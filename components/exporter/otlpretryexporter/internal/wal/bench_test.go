package wal

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppendAck is the cost of one record through the log: Append (one
// request of about 30 spans), Next and Ack, serially and with 8 concurrent
// writers, for each fsync mode. ns/op and allocs/op are per record.
func BenchmarkAppendAck(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncNever, FsyncInterval, FsyncAlways} {
		for _, writers := range []int{1, 8} {
			b.Run(benchName(mode, writers), func(b *testing.B) {
				benchAppendAck(b, mode, writers, func(l *Log, recs []Record) { l.Ack(recs) })
			})
		}
	}
}

// BenchmarkAppendAckOutOfOrder is BenchmarkAppendAck (fsync never) with
// every batch acknowledged record by record, last first: all but one
// acknowledgement go to the ranges above the low-water mark, which the
// checkpoint persists.
func BenchmarkAppendAckOutOfOrder(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(benchName(FsyncNever, writers), func(b *testing.B) {
			benchAppendAck(b, FsyncNever, writers, func(l *Log, recs []Record) {
				for i := len(recs) - 1; i >= 0; i-- {
					l.Ack(recs[i : i+1])
				}
			})
		})
	}
}

// BenchmarkAppendLarge is BenchmarkAppendAck (fsync never, 8 writers) with
// records of 320 KiB, a request of 1,000 spans: the writer's share of the
// bytes (checksum, the copy into the page cache) dominates. cpu-ns/op is
// the process's user+system CPU per record, less sensitive than ns/op to
// other load on the machine.
func BenchmarkAppendLarge(b *testing.B) {
	body := make([]byte, 320<<10)
	l, _, err := Open(b.TempDir(), Options{MaxBytes: 1 << 34, Fsync: FsyncNever, MemoryBudget: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	stop := consume(l, (*Log).Ack)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(body, 1000); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for l.Pending() > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	stop()
}

// consume runs one consumer that takes records as they come and hands
// them to ack; stop ends it and waits for it.
func consume(l *Log, ack func(*Log, []Record)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			recs, err := l.Next(ctx, 1000, 4<<20)
			if err != nil {
				return
			}
			ack(l, recs)
		}
	})
	return func() { cancel(); wg.Wait() }
}

func benchName(mode FsyncMode, writers int) string {
	if writers > 1 {
		return string(mode) + "/8writers"
	}
	return string(mode) + "/serial"
}

func benchAppendAck(b *testing.B, mode FsyncMode, writers int, ack func(*Log, []Record)) {
	body := make([]byte, 8<<10)
	l, _, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30, Fsync: mode, MemoryBudget: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	stop := consume(l, ack) // one consumer acknowledging as it goes
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / writers
	for w := 0; w < writers; w++ {
		n := per
		if w == 0 {
			n += b.N % writers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if _, err := l.Append(body, 30); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for l.Pending() > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	stop()
}

// BenchmarkRecover1GiB writes 1 GiB of log (8 KiB records, fsync never),
// closes it and measures Open, which scans and checksums every record. It
// needs 1 GiB of disk in the temporary directory and runs only with -bench.
func BenchmarkRecover1GiB(b *testing.B) {
	dir := b.TempDir()
	body := make([]byte, 8<<10)
	for i := range body {
		body[i] = byte(i)
	}
	const total = 1 << 30
	l, _, err := Open(dir, Options{MaxBytes: total + 256<<20, Fsync: FsyncNever})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.Stats().Bytes < total {
				if _, err := l.Append(body, 30); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, rec, err := Open(dir, Options{MaxBytes: total + 256<<20, Fsync: FsyncNever})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rec.Bytes)/(1<<20), "MiB_replayed")
		b.ReportMetric(rec.Duration.Seconds(), "s_scan")
		_ = l.Close()
	}
}

// BenchmarkBacklogMemory holds a backlog of 10x the memory budget and
// reports the heap in use while it is read back: bounded by the budget, not
// the backlog.
func BenchmarkBacklogMemory(b *testing.B) {
	const budget = 8 << 20
	body := make([]byte, 8<<10)
	for i := 0; i < b.N; i++ {
		l, _, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30, Fsync: FsyncNever, MemoryBudget: budget})
		if err != nil {
			b.Fatal(err)
		}
		for l.Stats().Bytes < 10*budget {
			if _, err := l.Append(append([]byte(nil), body...), 30); err != nil {
				b.Fatal(err)
			}
		}
		var peak uint64
		var ms runtime.MemStats
		for l.Pending() > 0 {
			recs, err := l.Next(context.Background(), 1000, 4<<20)
			if err != nil {
				b.Fatal(err)
			}
			l.Ack(recs)
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		b.ReportMetric(float64(peak)/(1<<20), "MiB_peak_heap")
		b.ReportMetric(float64(budget)/(1<<20), "MiB_budget")
		_ = l.Close()
	}
}
