package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// Check limits.
const (
	// drainTimeout is how long, after a step's fault is healed, every item
	// acknowledged before the heal has to reach the backend or the
	// quarantine (retries back off to 2 s, the breaker opens for 2 s, the
	// dead letter replays every second: a healthy system needs seconds).
	drainTimeout = 90 * time.Second
	// fdMargin and goroutine margins: what a healthy, drained process may
	// hold beyond its baseline (client connections come and go).
	fdStepMargin  = 128
	fdFinalMargin = 48
)

// onDisk is what the gateways hold on disk: item key -> where.
func (w *world) onDisk() map[string]string {
	where := map[string]string{}
	for g := range 2 {
		dir := w.procs[g].dir
		for _, sig := range signals {
			for _, seg := range segmentFiles(filepath.Join(dir, "wal", signalName(sig))) {
				b, err := os.ReadFile(seg)
				if err != nil {
					continue
				}
				_, payloads := walRecords(b)
				for _, p := range payloads {
					keys, _ := keysOfProto(sig, p)
					for _, k := range keys {
						where[k] = fmt.Sprintf("gateway%d write-ahead log", g)
					}
				}
			}
		}
		for k := range pbKeys(filepath.Join(dir, "deadletter")) {
			where[k] = fmt.Sprintf("gateway%d dead letter", g)
		}
	}
	return where
}

// quarantined returns every item key in the gateways' quarantines.
func (w *world) quarantined() map[string]bool {
	out := map[string]bool{}
	for g := range 2 {
		for k := range pbKeys(filepath.Join(w.procs[g].dir, "deadletter-quarantine")) {
			out[k] = true
		}
	}
	return out
}

// pbKeys reads every <...>.<signal>.pb file of dir (dead letter and
// quarantine files: one OTLP request each).
func pbKeys(dir string) map[string]bool {
	out := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pb"))
	for _, f := range files {
		parts := strings.Split(filepath.Base(f), ".")
		if len(parts) < 3 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		keys, _ := keysOfProto(sigOfDir(parts[len(parts)-2]), b)
		for _, k := range keys {
			out[k] = true
		}
	}
	return out
}

// checkDelivered waits until every key in acked is at the backend, in the
// quarantine (marker items only) or set aside by a damage fault; it returns
// the violations.
func (w *world) checkDelivered(acked []string, timeout time.Duration) []string {
	pending := acked
	deadline := time.Now().Add(timeout)
	lastDisk := time.Time{}
	var quarantine map[string]bool
	for {
		got := w.backend.Snapshot()
		if time.Since(lastDisk) > 2*time.Second {
			quarantine = w.quarantined()
			lastDisk = time.Now()
		}
		w.mu.Lock()
		next := pending[:0:0]
		for _, k := range pending {
			if got[k] > 0 || (quarantine[k] && isMarkerKey(k)) || w.setAside[k] {
				continue
			}
			next = append(next, k)
		}
		w.mu.Unlock()
		pending = next
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return []string{w.describeMissing(pending, timeout)}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// describeMissing says what is missing and where it is, if anywhere.
func (w *world) describeMissing(missing []string, timeout time.Duration) string {
	disk := w.onDisk()
	quarantine := w.quarantined()
	bySig := map[string]int{}
	where := map[string]int{}
	var sample []string
	for _, k := range missing {
		bySig[signalName(k[:1])]++
		loc := disk[k]
		switch {
		case quarantine[k]:
			loc = "quarantine (not marker data)"
		case loc == "":
			loc = "nowhere on the gateways' disks (agent queue, or lost)"
		}
		if isMarkerKey(k) {
			loc = "marker item, " + loc
		}
		where[loc]++
		if len(sample) < 5 && !isMarkerKey(k) {
			sample = append(sample, k) // valid items first: they tell more
		}
	}
	for _, k := range missing {
		if len(sample) < 5 && isMarkerKey(k) {
			sample = append(sample, k)
		}
	}
	return fmt.Sprintf("not delivered within %s: %d acknowledged items (%s); where: %s; e.g. %v",
		timeout, len(missing), countsString(bySig), countsString(where), sample)
}

// checkQuarantine: the quarantine holds only marker items.
func (w *world) checkQuarantine() []string {
	var valid []string
	for k := range w.quarantined() {
		if !isMarkerKey(k) {
			valid = append(valid, k)
		}
	}
	if len(valid) == 0 {
		return nil
	}
	sort.Strings(valid)
	return []string{fmt.Sprintf("quarantine holds %d items the backend never refused (not marker data), e.g. %v",
		len(valid), valid[:min(5, len(valid))])}
}

// procStats reads a process's resident set, peak, fds and threads from /proc.
type procStats struct {
	rss, hwm     int64
	fds, threads int
}

func readProc(pid int) (procStats, error) {
	var s procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.rss, err = harness.ParseStatusBytes(string(b), "VmRSS"); err != nil {
		return s, err
	}
	if s.hwm, err = harness.ParseStatusBytes(string(b), "VmHWM"); err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			_, _ = fmt.Sscan(strings.TrimSpace(v), &s.threads)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	return s, nil
}

// goroutines reads a process's goroutine count from the pprof extension
// the campaign adds to it (the first line of /debug/pprof/goroutine?debug=1,
// "goroutine profile: total N"); -1 when it cannot be read. The collector's
// own telemetry at v0.161.0 has no goroutine gauge, and /proc shows
// threads, not goroutines.
func goroutines(p *proc) int {
	code, body, err := harness.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", p.pprofPort))
	if err != nil || code != http.StatusOK {
		return -1
	}
	first, _, _ := strings.Cut(body, "\n")
	var n int
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &n); err != nil {
		return -1
	}
	return n
}

// setBaselines records every process's fds and threads, healthy and drained.
func (w *world) setBaselines() {
	for _, p := range w.procs {
		if s, err := readProc(p.c.PID()); err == nil {
			p.baseFDs, p.baseThreads = s.fds, s.threads
		}
		p.baseGoroutines = goroutines(p)
	}
}

// checkResources: RSS and its peak under budget, file descriptors back
// near the baseline.
func (w *world) checkResources(fdMargin int) []string {
	var bad []string
	for _, p := range w.procs {
		if !p.up.Load() {
			continue
		}
		s, err := readProc(p.c.PID())
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: /proc unreadable while it should run: %v", p.name, err))
			continue
		}
		if s.hwm > p.peak {
			p.peak = s.hwm
		}
		if s.hwm > rssBudget {
			bad = append(bad, fmt.Sprintf("%s: peak RSS %d MiB over the budget %d MiB (memory_limiter %d MiB + margin %d MiB)",
				p.name, s.hwm>>20, rssBudget>>20, memLimitMiB, rssMarginMiB))
		}
		if p.baseFDs > 0 && s.fds > p.baseFDs+fdMargin {
			bad = append(bad, fmt.Sprintf("%s: %d file descriptors open, baseline %d + margin %d", p.name, s.fds, p.baseFDs, fdMargin))
		}
		if s.threads > p.peakThreads {
			p.peakThreads = s.threads
		}
		if fdMargin == fdFinalMargin {
			g := goroutines(p)
			switch {
			case p.baseGoroutines < 0 || g < 0:
				bad = append(bad, fmt.Sprintf("%s: goroutines unreadable from its pprof extension (baseline %d, now %d)", p.name, p.baseGoroutines, g))
			case g > p.baseGoroutines+max(p.baseGoroutines/2, 50):
				bad = append(bad, fmt.Sprintf("%s: %d goroutines after the drain, baseline %d", p.name, g, p.baseGoroutines))
			default:
				w.t.Logf("chaos: %s: %d goroutines after the drain, baseline %d", p.name, g, p.baseGoroutines)
			}
		}
	}
	return bad
}

// checkExited: every process meant to be up still runs.
func (w *world) checkExited() []string {
	var bad []string
	for _, p := range w.procs {
		if p.up.Load() && p.c.Exited() {
			err, _ := p.c.Wait(0)
			bad = append(bad, fmt.Sprintf("%s exited on its own (%v):\n%s", p.name, err, tail(p.c.Output(), 20)))
			p.up.Store(false)
		}
	}
	return bad
}

// ledgerTerms are the per-exporter counts issue 21 section 1 puts on
// /status. The campaign reads any object on /status that has at least
// accepted, delivered and pending; until the gateway shows one, the check
// is skipped with a note.
type ledgerTerms struct {
	Path        string
	Accepted    float64
	Delivered   float64
	Pending     float64
	Quarantined float64
	Dropped     float64
	Duplicates  float64
	Holds       *bool
}

// readLedgers finds every ledger on a gateway's /status.
func readLedgers(p *proc) ([]ledgerTerms, error) {
	code, body, err := harness.Get(p.c.HealthURL("/status"))
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("/status: %d %v", code, err)
	}
	return ledgersIn([]byte(body))
}

// settleTime bounds how long readSettledLedgers reads again while a ledger
// shows items counted twice (a variable for its test).
var settleTime = 3 * time.Second

// readSettledLedgers reads a gateway's ledgers until none shows a negative
// gap, or settleTime passed, and returns the last reading. The clients keep
// sending while the campaign checks, and the ledger counts a batch where it
// goes before it leaves where it was (delivered, then acknowledged in the
// log): a reading that falls between the two sees the batch twice, a
// negative gap that the next reading no longer shows. The otlp_retry
// README documents that (the identity is reported as not holding for that
// instant; the alert waits minutes). A gap that persists is a double
// count, and a positive gap is never transient: neither is read again.
// Seed 180539872 step 14 failed on one such reading under three campaigns
// at once: accepted 1940 = delivered 1940, pending 20 (one log batch of 20
// records between its delivery and its acknowledgement).
func readSettledLedgers(p *proc) ([]ledgerTerms, error) {
	deadline := time.Now().Add(settleTime)
	for {
		ls, err := readLedgers(p)
		if err != nil || !anyCountedTwice(ls) || time.Now().After(deadline) {
			return ls, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// anyCountedTwice: some ledger's terms exceed its accepted items.
func anyCountedTwice(ls []ledgerTerms) bool {
	for _, l := range ls {
		if l.Delivered+l.Pending+l.Quarantined+l.Dropped > l.Accepted {
			return true
		}
	}
	return false
}

// ledgersIn finds every ledger in a /status document.
func ledgersIn(body []byte) ([]ledgerTerms, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("/status is not JSON: %w", err)
	}
	var out []ledgerTerms
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if l, ok := ledgerOf(path, v); ok {
				out = append(out, l)
				return
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"/"+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", doc)
	return out, nil
}

func ledgerOf(path string, m map[string]any) (ledgerTerms, bool) {
	num := func(k string) (float64, bool) {
		switch v := m[k].(type) {
		case float64:
			return v, true
		case map[string]any: // by reason
			var s float64
			for _, x := range v {
				if f, ok := x.(float64); ok {
					s += f
				}
			}
			return s, true
		}
		return 0, false
	}
	l := ledgerTerms{Path: path}
	var ok1, ok2, ok3 bool
	l.Accepted, ok1 = num("accepted")
	l.Delivered, ok2 = num("delivered")
	l.Pending, ok3 = num("pending")
	if !ok1 || !ok2 || !ok3 {
		return l, false
	}
	l.Quarantined, _ = num("quarantined")
	l.Dropped, _ = num("dropped")
	l.Duplicates, _ = num("duplicates")
	for _, k := range []string{"holds", "identity_holds", "balanced"} {
		if b, ok := m[k].(bool); ok {
			l.Holds = &b
		}
	}
	return l, true
}

// checkLedger checks the ledger identity on every running gateway (after a
// drain: nothing in flight) and, at the end, that nothing is pending or
// dropped. ok is false when no gateway exposes a ledger: the check was
// skipped.
func (w *world) checkLedger(final bool) (bad []string, ok bool) {
	for g := range 2 {
		p := w.procs[g]
		if !p.up.Load() {
			continue
		}
		ls, err := readSettledLedgers(p)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", p.name, err))
			continue
		}
		// Items the campaign's damage faults took out of this gateway's
		// log (a damaged segment or record moved into corrupt/, not
		// delivered) are outside the ledger by design: a positive gap up
		// to their number is what the ledger must show (the alert fires),
		// not a violation.
		allow := float64(w.damagedItems(p.dir))
		for _, l := range ls {
			ok = true
			sum := l.Delivered + l.Pending + l.Quarantined + l.Dropped
			if gap := l.Accepted - sum; gap > 0 && gap <= allow {
				allow -= gap
				w.t.Logf("chaos: note: %s ledger %s: %.0f accepted items set aside with a damaged segment (corrupt/), outside the identity by design",
					p.name, l.Path, gap)
				continue
			}
			if l.Accepted != sum {
				bad = append(bad, fmt.Sprintf("%s ledger %s: accepted %.0f != delivered %.0f + pending %.0f + quarantined %.0f + dropped %.0f",
					p.name, l.Path, l.Accepted, l.Delivered, l.Pending, l.Quarantined, l.Dropped))
			}
			if l.Holds != nil && !*l.Holds {
				bad = append(bad, fmt.Sprintf("%s ledger %s: says the identity does not hold", p.name, l.Path))
			}
			if final && (l.Pending != 0 || l.Dropped != 0) {
				bad = append(bad, fmt.Sprintf("%s ledger %s: drained, yet pending %.0f, dropped %.0f", p.name, l.Path, l.Pending, l.Dropped))
			}
		}
	}
	return bad, ok
}

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// damagedItems counts the items of the records of damaged segments under
// dir, each copy apart: at most that many accepted items can have left a
// gateway's ledger with its set-aside segments. Whether the backend has an
// item says nothing here: another copy of it (the agent's retry through the
// other gateway, a client's retry) may have been delivered while this
// gateway's copy was set aside, and this ledger's gap counts its own copy
// (seed 841953968 step 81: a gap of 240 on gateway0's logs against 200
// items of its damaged segments missing at the backend).
func (w *world) damagedItems(dir string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, d := range w.damaged {
		if strings.HasPrefix(d.path, dir+string(filepath.Separator)) {
			n += len(d.keys)
		}
	}
	return n
}
