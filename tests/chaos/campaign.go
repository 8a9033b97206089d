package chaos

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Plan is what one campaign run does: a fixed schedule, or steps drawn
// from Seed over Faults until Steps are done or Duration has passed.
type Plan struct {
	Seed     uint64
	Faults   []string
	Steps    int           // with Duration 0: this many steps
	Duration time.Duration // > 0: draw steps until it has passed
	Schedule []Step        // when set, exactly these steps (Seed only labels the run)
}

// Violation is one broken invariant, at the step where it was seen (0: the
// warm-up before the first fault; Steps+1: the end).
type Violation struct {
	Step int
	What string
}

// Result is what a run saw.
type Result struct {
	Seed                uint64
	Ran                 []Step // the steps applied, in order
	Violations          []Violation
	ByKind              map[string]int
	Acked               map[string]int // per signal name
	Delivered           int            // distinct acknowledged items at the backend
	Duplicates          int            // deliveries beyond the first of an item
	Quarantine          int            // marker items quarantined
	SetAside            int            // items in segments a damage fault hit
	SetAsideUndelivered int            // of those, not at the backend (kept in corrupt/)
	PeakRSS             map[string]int64
	Threads             map[string]int // most OS threads seen, per process
	Answers             map[string]int
	Ledger              bool // whether a ledger was found on /status and checked
	// LedgerDelivered, LedgerDuplicates: the gateways' ledgers at the end.
	LedgerDelivered, LedgerDuplicates int64
	Took                              time.Duration
}

// violationClass names what kind of invariant a violation broke, so that
// shrinking keeps a removal only when the same kind of failure remains.
func violationClass(what string) string {
	for _, c := range []string{
		"not delivered", "quarantine holds", "damaged segment", "shutdown hang", "unclean exit",
		"/health", "exited on its own", "peak RSS", "file descriptors", "goroutines", "ledger",
		"hostile input", "no answer", "took", "non-retryable", "start", "heal",
	} {
		if strings.Contains(what, c) {
			return c
		}
	}
	return "other"
}

// Failed reports whether the run saw a violation.
func (r *Result) Failed() bool { return len(r.Violations) > 0 }

// FirstFailingStep is the step of the first violation (-1: none).
func (r *Result) FirstFailingStep() int {
	if !r.Failed() {
		return -1
	}
	return r.Violations[0].Step
}

// Run runs plan against freshly started processes and checks the
// invariants after every step and at the end. The run stops at the first
// step with a violation (the schedule up to it is what shrinking works on).
func Run(t *testing.T, plan Plan) *Result {
	start := time.Now()
	res := &Result{Seed: plan.Seed, ByKind: map[string]int{}, Acked: map[string]int{}, PeakRSS: map[string]int64{}, Threads: map[string]int{}}
	defer func() { res.Took = time.Since(start) }()
	fail := func(step int, what ...string) {
		for _, s := range what {
			res.Violations = append(res.Violations, Violation{Step: step, What: s})
			t.Logf("chaos: VIOLATION at step %d (seed %d): %s", step, plan.Seed, s)
		}
	}
	w, err := newWorld(t)
	if err != nil {
		fail(0, "start: "+err.Error())
		return res
	}
	defer w.close()
	defer w.summarize(res)
	if err := w.startLoad(); err != nil {
		fail(0, "clients: "+err.Error())
		return res
	}
	time.Sleep(2 * time.Second)
	if bad := w.checkStep(0, drainTimeout, fdStepMargin, res); len(bad) > 0 {
		fail(0, bad...)
		return res
	}
	w.setBaselines()

	var gen *Generator
	if plan.Schedule == nil {
		gen = NewGenerator(plan.Seed, plan.Faults)
	}
	for i := 1; ; i++ {
		var s Step
		switch {
		case plan.Schedule != nil:
			if i > len(plan.Schedule) {
				break
			}
			s = plan.Schedule[i-1]
		case plan.Duration > 0:
			if time.Since(start) >= plan.Duration {
				break
			}
			s = gen.Next()
		default:
			if i > plan.Steps {
				break
			}
			s = gen.Next()
		}
		if s.Kind == "" {
			break
		}
		res.Ran = append(res.Ran, s)
		res.ByKind[s.Kind]++
		t.Logf("chaos: %s seed %d step %d: %s (acknowledged so far: %d)", time.Now().UTC().Format("15:04:05.000"), plan.Seed, i, s, w.ledger.Len())
		heal, err := w.apply(s)
		if err != nil {
			fail(i, fmt.Sprintf("%s: %v", s, err))
			return res
		}
		time.Sleep(s.Window)
		if err := heal(); err != nil {
			fail(i, fmt.Sprintf("%s: heal: %v", s, err))
			return res
		}
		if bad := w.checkStep(i, drainTimeout, fdStepMargin, res); len(bad) > 0 {
			fail(i, bad...)
			return res
		}
	}

	// The end: every fault healed; the clients stop, so the acknowledged
	// set is final; everything must drain; then every process must stop.
	end := len(res.Ran) + 1
	w.stopLoad()
	bad := w.checkStep(end, 2*drainTimeout, fdFinalMargin, res)
	w.readFinalLedgers(res)
	bad = append(bad, w.checkLedgersAgainstBackend(res)...)
	w.close()
	bad = append(bad, w.takeViolations()...)
	fail(end, bad...)
	return res
}

// waitAnswered waits until every client request sent before since has an
// answer or gave up (at most the HTTP deadline plus the margin), so that a
// request the step left unanswered counts against this step.
func (w *world) waitAnswered(since time.Time) {
	deadline := time.Now().Add(httpDeadline + answerMargin)
	clients := append([]*rawClient{w.marker, w.giant, w.probeGRPC, w.probeHTTP}, w.raw...)
	for time.Now().Before(deadline) {
		waiting := false
		for _, c := range clients {
			if t := c.inflight.Load(); t != 0 && t < since.UnixNano() {
				waiting = true
			}
		}
		if !waiting {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkStep runs every check after a step's heal.
func (w *world) checkStep(step int, drain time.Duration, fdMargin int, res *Result) []string {
	if w.raw != nil {
		w.waitAnswered(time.Now())
	}
	bad := w.checkExited()
	bad = append(bad, w.checkDelivered(w.ledger.Snapshot(), drain)...)
	bad = append(bad, w.checkQuarantine()...)
	bad = append(bad, w.checkDamaged()...)
	bad = append(bad, w.checkResources(fdMargin)...)
	lbad, found := w.checkLedger(step > 0 && fdMargin == fdFinalMargin)
	if found {
		res.Ledger = true
		bad = append(bad, lbad...)
	} else if w.procs[0].up.Load() || w.procs[1].up.Load() {
		bad = append(bad, "ledger: no running gateway shows a ledger (accepted, delivered, pending...) on /status")
	}
	n, answers := w.answers.take()
	for _, a := range answers {
		bad = append(bad, "answer: "+a)
	}
	if n > len(answers) {
		bad = append(bad, fmt.Sprintf("answer: %d more like these", n-len(answers)))
	}
	return append(bad, w.takeViolations()...)
}

// readFinalLedgers sums the gateways' ledgers, drained, before they stop.
func (w *world) readFinalLedgers(res *Result) {
	for g := range 2 {
		if !w.procs[g].up.Load() {
			continue
		}
		ls, _ := readLedgers(w.procs[g])
		for _, l := range ls {
			res.LedgerDelivered += int64(l.Delivered)
			res.LedgerDuplicates += int64(l.Duplicates)
		}
	}
}

// checkLedgersAgainstBackend: an item a gateway's ledger counts as
// delivered, or delivered again (duplicates), was acknowledged by the
// backend, so the backend received at least that many deliveries. The
// converse does not hold: a delivery whose answer was lost to a timeout or
// a kill is re-sent and the backend sees it twice while the ledger may
// count it once, and a stopped or replaced gateway's ledger is not read.
func (w *world) checkLedgersAgainstBackend(res *Result) []string {
	deliveries := 0
	for _, n := range w.backend.Snapshot() {
		deliveries += n
	}
	if counted := res.LedgerDelivered + res.LedgerDuplicates; counted > int64(deliveries) {
		return []string{fmt.Sprintf("ledger: the gateways' ledgers count %d deliveries (delivered %d + duplicates %d), the backend received %d",
			counted, res.LedgerDelivered, res.LedgerDuplicates, deliveries)}
	}
	return nil
}

// summarize fills res with the final tallies.
func (w *world) summarize(res *Result) {
	got := w.backend.Snapshot()
	q := w.quarantined()
	for _, k := range w.ledger.Snapshot() {
		res.Acked[signalName(k[:1])]++
		if got[k] > 0 {
			res.Delivered++
			res.Duplicates += got[k] - 1
		}
		if q[k] {
			res.Quarantine++
		}
	}
	w.mu.Lock()
	res.SetAside = len(w.setAside)
	for k := range w.setAside {
		if got[k] == 0 {
			res.SetAsideUndelivered++
		}
	}
	w.mu.Unlock()
	for _, p := range w.procs {
		res.PeakRSS[p.name] = p.peak
		res.Threads[p.name] = p.peakThreads
	}
	// The ledger against the backend: an upper bound is checked
	// (checkLedgersAgainstBackend); the equality is printed, not checked.
	if res.Ledger {
		deliveries := 0
		for _, n := range got {
			deliveries += n
		}
		w.t.Logf("chaos: ledgers at the end: delivered %d, duplicates %d; backend: %d distinct items, %d deliveries",
			res.LedgerDelivered, res.LedgerDuplicates, len(got), deliveries)
	}
	w.answers.mu.Lock()
	res.Answers = map[string]int{}
	for k, v := range w.answers.byOutcome {
		res.Answers[k] = v
	}
	w.answers.mu.Unlock()
}

// Shrink reruns a failing schedule with steps removed, one at a time, and
// keeps each removal after which a run still fails, until no single
// removal does or budget has passed; a run that fails otherwise than class
// (violationClass of the original failure) does not count. It returns the
// minimal schedule found.
func Shrink(t *testing.T, seed uint64, failing []Step, class string, budget time.Duration) []Step {
	deadline := time.Now().Add(budget)
	cur := append([]Step(nil), failing...)
	for i := len(cur) - 1; i >= 0 && len(cur) > 1; i-- {
		if time.Now().After(deadline) {
			t.Logf("chaos: shrink budget %s spent; the schedule may shrink further", budget)
			break
		}
		cand := append(append([]Step(nil), cur[:i]...), cur[i+1:]...)
		var res *Result
		t.Run(fmt.Sprintf("shrink-%d-steps", len(cand)), func(t *testing.T) {
			res = Run(t, Plan{Seed: seed, Schedule: cand})
		})
		if res != nil && res.Failed() && violationClass(res.Violations[0].What) == class {
			t.Logf("chaos: still fails without step %d (%s): %s", i+1, cur[i], FormatSchedule(cand))
			cur = cand
			if s := res.FirstFailingStep(); s >= 1 && s <= len(cur) {
				cur = cur[:s] // what came after the failure played no part
			}
			i = min(i, len(cur))
		}
	}
	return cur
}

// Report renders a result for the log.
func (r *Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d steps in %s; faults: %s\n", r.Seed, len(r.Ran), r.Took.Round(time.Second), countsString(r.ByKind))
	fmt.Fprintf(&b, "acknowledged: %s; at the backend: %d (duplicates %d); marker items quarantined: %d; in damaged segments: %d (%d of them never reached the backend)\n",
		countsString(r.Acked), r.Delivered, r.Duplicates, r.Quarantine, r.SetAside, r.SetAsideUndelivered)
	peaks := map[string]int{}
	for k, v := range r.PeakRSS {
		peaks[k] = int(v >> 20)
	}
	fmt.Fprintf(&b, "peak RSS (MiB): %s; most threads: %s; client answers: %s; ledger checked: %v\n",
		countsString(peaks), countsString(r.Threads), countsString(r.Answers), r.Ledger)
	if !r.Failed() {
		b.WriteString("violations: none\n")
		return b.String()
	}
	fmt.Fprintf(&b, "violations (seed %d, step %d):\n", r.Seed, r.FirstFailingStep())
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  step %d: %s\n", v.Step, v.What)
	}
	return b.String()
}

// faultsList parses CHAOS_FAULTS: "" (DefaultFaults), "all", or kinds
// separated by commas.
func faultsList(s string) ([]string, error) {
	switch s {
	case "":
		return DefaultFaults, nil
	case "all":
		return AllFaults, nil
	}
	known := map[string]bool{}
	for _, f := range AllFaults {
		known[f] = true
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !known[f] {
			return nil, fmt.Errorf("CHAOS_FAULTS: unknown fault %q (known: %s)", f, strings.Join(AllFaults, ","))
		}
		out = append(out, f)
	}
	sort.Strings(out)
	return out, nil
}
