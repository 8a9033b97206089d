package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// The backlog scenario: how long the shipped write-ahead log takes to
// recover at start, and how much memory recovering needs, as the backlog
// on disk grows. It runs the real binary (bench/ cannot import the
// exporter's internal/wal, and the binary is what users restart): the
// gateway-wal pipeline with the backend down fills one data directory; at
// each size the collector is stopped and started again on it, and the
// restart is measured. The collector starts its exporters before its
// receivers, so the receiver answers only after the log is recovered.

// backlogResult is one restart on a log of a given size.
type backlogResult struct {
	Target   int64         // size asked for, bytes (0: the empty log, the baseline)
	Bytes    int64         // segment bytes on disk at the restart
	Records  int64         // records the log recovered (from its "write-ahead log opened" line)
	Items    int64         // their spans
	Scan     time.Duration // the log's own recovery time (Recovery.Duration, logged as scan)
	Ready    time.Duration // process start -> the receiver answers
	PeakRSS  float64       // MiB, VmHWM when the receiver first answered
	FillTime time.Duration // time the load took to grow the log to this size
	Cached   int64         // the machine's page cache (/proc/meminfo Cached) at the restart, bytes
	CPU      float64       // the collector's CPU seconds when ready: the scan's work, whatever other processes take
	DiskRead int64         // bytes the collector read from storage by then (/proc/<pid>/io read_bytes): not from the page cache
	Err      string
}

// backlogSet is the config's overrides: fsync never (the fill is not what
// is measured), no trace_registry (a faster fill), a small memory budget
// (the consumers' reads after the recovery stay small next to what is
// measured), and info logs for the log's recovery line.
func backlogSet(maxBytes int64) []string {
	return []string{
		"exporters::otlp_retry::persistent_queue::fsync=never",
		fmt.Sprintf("exporters::otlp_retry::persistent_queue::max_bytes=%d", maxBytes),
		"exporters::otlp_retry::persistent_queue::memory_budget=8388608",
		"service::pipelines::traces::processors=[memory_limiter]",
		"service::telemetry::logs::level=info",
	}
}

// backlogMaxBytes is the log's bound: room above the largest size, so
// that the fill is never refused.
func backlogMaxBytes(sizes []int64) int64 {
	largest := sizes[len(sizes)-1]
	return largest + largest/4 + 1<<30
}

// parseSizes reads "256M,1G,4G" (binary units); "none" or "" is no size.
func parseSizes(list string) ([]int64, error) {
	if list == "" || list == "none" {
		return nil, nil
	}
	var sizes []int64
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		mult := int64(1)
		switch {
		case strings.HasSuffix(f, "G"):
			mult, f = 1<<30, strings.TrimSuffix(f, "G")
		case strings.HasSuffix(f, "M"):
			mult, f = 1<<20, strings.TrimSuffix(f, "M")
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-backlog: %q is not a size like 256M or 4G", f)
		}
		sizes = append(sizes, n*mult)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	return sizes, nil
}

// sizeLabel is 256M, 1G, 10G.
func sizeLabel(b int64) string {
	if b >= 1<<30 && b%(1<<30) == 0 {
		return fmt.Sprintf("%dG", b>>30)
	}
	return fmt.Sprintf("%dM", b>>20)
}

// pageCache is /proc/meminfo's Cached in bytes, 0 when unreadable: a log
// larger than the page cache is partly read from disk at recovery.
func pageCache() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Cached:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// readBytes is /proc/<pid>/io's read_bytes (what the process made the
// kernel fetch from storage), 0 when unreadable.
func readBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "read_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// dirBytes sums the sizes of the regular files below dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// runBacklog measures a restart on an empty log, then on each size of
// o.Backlog, growing one log. The data directory is removed at the end.
func runBacklog(o options, logf func(string, ...any)) []backlogResult {
	if len(o.Backlog) == 0 {
		return nil
	}
	res := make([]backlogResult, 0, len(o.Backlog)+1)
	t := newRoundT(logf)
	t.run(func() { backlogScenario(t, o, &res, logf) })
	t.finish()
	if e := t.err(); e != "" {
		res = append(res, backlogResult{Err: e})
	}
	return res
}

func backlogScenario(t *roundT, o options, res *[]backlogResult, logf func(string, ...any)) {
	s, err := startSink(ids{seed: uint64(time.Now().UnixNano())})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.stop)
	s.down.Store(true) // the backend is down throughout: everything accepted stays in the log
	dir := t.TempDir()
	config := filepath.Join(o.Root, "bench", "configs", "gateway-wal.yaml")
	set := backlogSet(backlogMaxBytes(o.Backlog))
	logf("backlog: gateway-wal.yaml --set %s; data in %s", strings.Join(set, " --set "), dir)

	// start runs the collector on dir and measures it until its receiver
	// answers, with the load generator it returns.
	start := func(r *backlogResult) (*harness.Collector, *loadGen) {
		r.Bytes = dirBytes(dir)
		r.Cached = pageCache()
		t0 := time.Now()
		c := harness.Start(t, config, harness.Options{
			Set: set,
			Env: []string{"BENCH_DATA_DIR=" + dir,
				fmt.Sprintf("BENCH_SINK_GRPC_PORT=%d", s.grpcPort), fmt.Sprintf("BENCH_SINK_HTTP_PORT=%d", s.httpPort)},
			NoHealthPort: true,
		})
		g, err := newLoadGen(c.GRPCEndpoint(), o.Conns, o.Workers, s.ids)
		if err != nil {
			t.Fatalf("load generator: %v", err)
		}
		t.Cleanup(g.close)
		if err := g.waitReady(10*time.Minute, c.Exited); err != nil {
			t.Fatalf("collector not ready on a log of %s: %v\n%s", sizeLabel(r.Bytes), err, lastLines(c.Output(), 20))
		}
		// The receiver's answer comes after gRPC's reconnect backoff (1 s,
		// then 1.6x), far coarser than the scan: ready is read from the
		// collector's own "Everything is ready" line instead.
		r.Ready = time.Since(t0)
		if at, ok := readyAt(c.Output()); ok {
			r.Ready = at.Sub(t0)
		}
		if cpu, err := c.CPUSeconds(); err == nil {
			r.CPU = cpu
		}
		r.DiskRead = readBytes(c.PID())
		if peak, err := c.PeakRSS(); err == nil {
			r.PeakRSS = float64(peak) / (1 << 20)
		}
		if err := parseRecovery(c.Output(), r); err != nil {
			t.Fatalf("%v", err)
		}
		logf("backlog: restart on %.0f MiB of log (%d records, %d spans): scan %s, ready after %s, CPU %.2f s, %.0f MiB read from disk, peak RSS %.0f MiB",
			float64(r.Bytes)/(1<<20), r.Records, r.Items, r.Scan.Round(time.Millisecond), r.Ready.Round(time.Millisecond), r.CPU,
			float64(r.DiskRead)/(1<<20), r.PeakRSS)
		return c, g
	}

	base := backlogResult{}
	c, g := start(&base)
	*res = append(*res, base)
	for _, target := range o.Backlog {
		r := backlogResult{Target: target}
		t0 := time.Now()
		g.start()
		for dirBytes(dir) < target {
			if c.Exited() {
				t.Fatalf("collector exited while filling the log:\n%s", lastLines(c.Output(), 20))
			}
			if time.Since(t0) > 30*time.Minute {
				t.Fatalf("log at %d bytes after 30 minutes, short of %d", dirBytes(dir), target)
			}
			time.Sleep(200 * time.Millisecond)
		}
		g.stop()
		r.FillTime = time.Since(t0)
		c.Stop(2 * time.Minute)
		c, g = start(&r)
		*res = append(*res, r)
	}
	g.stop()
	c.Stop(2 * time.Minute)
}

// The exporter's "write-ahead log opened" info line (zap console
// encoding: its fields as JSON after the message).
var (
	recoveryRecords = regexp.MustCompile(`write-ahead log (?:opened|recovered)[^\n]*"records": (\d+)`)
	recoveryItems   = regexp.MustCompile(`write-ahead log (?:opened|recovered)[^\n]*"items": (\d+)`)
	recoveryScan    = regexp.MustCompile(`write-ahead log (?:opened|recovered)[^\n]*"scan": "?([0-9.e+-]+[a-zµ]*)"?`)
)

var everythingReady = regexp.MustCompile(`(?m)^(\S+)\tinfo\t[^\n]*Everything is ready`)

// readyAt is the time of the collector's "Everything is ready" line (its
// receivers listen from then on).
func readyAt(out string) (time.Time, bool) {
	m := everythingReady.FindStringSubmatch(out)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	return at, err == nil
}

func parseRecovery(out string, r *backlogResult) error {
	m := recoveryScan.FindStringSubmatch(out)
	if m == nil {
		return errors.New("no \"write-ahead log opened\" line with a scan time in the collector's output:\n" + lastLines(out, 20))
	}
	// zap's duration encoder of the collector's logger writes seconds as a
	// number; a string encoder would write "812ms".
	if secs, err := strconv.ParseFloat(m[1], 64); err == nil {
		r.Scan = time.Duration(secs * float64(time.Second))
	} else if r.Scan, err = time.ParseDuration(m[1]); err != nil {
		return fmt.Errorf("scan %q: %w", m[1], err)
	}
	if m := recoveryRecords.FindStringSubmatch(out); m != nil {
		r.Records, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := recoveryItems.FindStringSubmatch(out); m != nil {
		r.Items, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
