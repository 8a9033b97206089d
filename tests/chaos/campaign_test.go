package chaos

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// Short campaign of `make test`: a fixed seed and a few steps (~60 s).
const (
	shortSeed  = 37
	shortSteps = 12
)

// TestCampaign is `make chaos`: CHAOS_SEED (empty: a fresh one, printed),
// CHAOS_STEPS or CHAOS_DURATION, CHAOS_FAULTS, CHAOS_SCHEDULE (replay a
// printed schedule), CHAOS_SHRINK (time budget, 0: no shrinking),
// CHAOS_RESULTS (write the results table there; with CHAOS_RESULTS_RUNS, a
// directory that several campaigns run at once share, the table covers
// every run saved there for this commit), CHAOS_RUNS (runs, one
// seed each).
func TestCampaign(t *testing.T) {
	if os.Getenv("CHAOS_RUN") != "1" {
		t.Skip("the campaign of make chaos (CHAOS_RUN=1)")
	}
	needRoot(t)
	plan := Plan{Steps: 20}
	var err error
	if plan.Faults, err = faultsList(os.Getenv("CHAOS_FAULTS")); err != nil {
		t.Fatal(err)
	}
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		if plan.Seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
	} else {
		plan.Seed = uint64(time.Now().UnixNano()) % 1_000_000_007
	}
	if s := os.Getenv("CHAOS_STEPS"); s != "" {
		if plan.Steps, err = strconv.Atoi(s); err != nil {
			t.Fatalf("CHAOS_STEPS: %v", err)
		}
	}
	if s := os.Getenv("CHAOS_DURATION"); s != "" {
		if plan.Duration, err = time.ParseDuration(s); err != nil {
			t.Fatalf("CHAOS_DURATION: %v", err)
		}
	}
	if s := os.Getenv("CHAOS_SCHEDULE"); s != "" {
		if plan.Schedule, err = ParseSchedule(s); err != nil {
			t.Fatal(err)
		}
	}
	shrink := 15 * time.Minute
	if s := os.Getenv("CHAOS_SHRINK"); s != "" {
		if shrink, err = time.ParseDuration(s); err != nil {
			t.Fatalf("CHAOS_SHRINK: %v", err)
		}
	}
	// CHAOS_RUNS: that many runs one after the other, each with its own
	// seed (the next fresh one, or SEED+1, ...) and STEPS or DURATION,
	// until one finds a violation; the results table covers them all.
	runs := 1
	if s := os.Getenv("CHAOS_RUNS"); s != "" {
		if runs, err = strconv.Atoi(s); err != nil || runs < 1 {
			t.Fatalf("CHAOS_RUNS: want a positive number, got %q", s)
		}
	}
	commit := gitDescribe()
	var done []*Result
	for i := range runs {
		p := plan
		if i > 0 {
			p.Seed = plan.Seed + uint64(i)
			if os.Getenv("CHAOS_SEED") == "" {
				p.Seed = uint64(time.Now().UnixNano()) % 1_000_000_007
			}
		}
		fmt.Printf("chaos: run %d of %d, seed %d (replay: make chaos SEED=%d CHAOS_FAULTS=%s), faults %s\n",
			i+1, runs, p.Seed, p.Seed, strings.Join(p.Faults, ","), strings.Join(p.Faults, ","))
		res := runAndShrink(t, p, shrink)
		done = append(done, res)
		if path := os.Getenv("CHAOS_RESULTS"); path != "" {
			all, err := SaveRun(os.Getenv("CHAOS_RESULTS_RUNS"), commit, res, done)
			if err != nil {
				t.Errorf("results runs: %v", err)
			}
			if err := WriteResults(path, plan, commit, all); err != nil {
				t.Errorf("results table: %v", err)
			}
		}
		if res.Failed() {
			return
		}
	}
}

// gitDescribe names the commit the campaign runs (bin/otlpcol is built
// from the working tree: "-dirty" says it has uncommitted changes).
func gitDescribe() string {
	out, err := exec.Command("git", "-C", harness.RepoRoot(), "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// TestShortCampaign is the fixed-seed campaign `make test` runs.
func TestShortCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bin/otlpcol: skipped with -short")
	}
	needRoot(t)
	harness.Binary(t)
	runAndShrink(t, Plan{Seed: shortSeed, Steps: shortSteps, Faults: DefaultFaults}, 0)
}

// TestRegressions replays every seed in regressions.txt: seeds that once
// found a violation, fixed since.
func TestRegressions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bin/otlpcol: skipped with -short")
	}
	plans, err := readRegressions(filepath.Join(harness.RepoRoot(), "tests", "chaos", "regressions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) == 0 {
		t.Skip("regressions.txt lists no seed yet")
	}
	needRoot(t)
	harness.Binary(t)
	for _, p := range plans {
		faults := strings.Join(p.Faults, "+")
		if slices.Equal(p.Faults, AllFaults) {
			faults = "all"
		}
		t.Run(fmt.Sprintf("seed-%d-%s", p.Seed, faults), func(t *testing.T) { runAndShrink(t, p, 0) })
	}
}

// runAndShrink runs plan; on a violation it prints the seed and step,
// shrinks the schedule (within budget) and fails t with the minimal one.
func runAndShrink(t *testing.T, plan Plan, budget time.Duration) *Result {
	var res *Result
	t.Run("run", func(t *testing.T) { res = Run(t, plan) })
	if res == nil {
		t.Fatalf("chaos: seed %d: the run ended without a result (see its log)", plan.Seed)
	}
	fmt.Print("chaos: ", res.Report())
	if !res.Failed() {
		return res
	}
	failing := res.Ran
	if s := res.FirstFailingStep(); s >= 1 && s <= len(failing) {
		failing = failing[:s]
	}
	minimal := failing
	if budget > 0 && len(failing) > 1 {
		minimal = Shrink(t, plan.Seed, failing, violationClass(res.Violations[0].What), budget)
	}
	t.Errorf("chaos: seed %d failed at step %d: %s\nschedule up to the failure: %s\nminimal schedule: CHAOS_SCHEDULE='%s' make chaos",
		plan.Seed, res.FirstFailingStep(), res.Violations[0].What, FormatSchedule(failing), FormatSchedule(minimal))
	return res
}

// readRegressions reads lines "seed steps faults,... # note".
func readRegressions(path string) ([]Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var plans []Plan
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: %q: want seed steps faults", path, sc.Text())
		}
		seed, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return nil, err
		}
		steps, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, err
		}
		faults, err := faultsList(fields[2])
		if err != nil {
			return nil, err
		}
		plans = append(plans, Plan{Seed: seed, Steps: steps, Faults: faults})
	}
	return plans, sc.Err()
}

// needRoot skips without root: the disk-full faults mount a tmpfs.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the campaign mounts a tmpfs: needs root")
	}
}

func TestGeneratorReplays(t *testing.T) {
	a := NewGenerator(7, AllFaults).Schedule(50)
	b := NewGenerator(7, AllFaults).Schedule(50)
	if FormatSchedule(a) != FormatSchedule(b) {
		t.Fatalf("same seed, different schedules:\n%s\n%s", FormatSchedule(a), FormatSchedule(b))
	}
	back, err := ParseSchedule(FormatSchedule(a))
	if err != nil {
		t.Fatal(err)
	}
	if FormatSchedule(back) != FormatSchedule(a) {
		t.Fatalf("schedule does not survive printing: %s", FormatSchedule(back))
	}
	kinds := map[string]bool{}
	for _, s := range NewGenerator(1, AllFaults).Schedule(500) {
		kinds[s.Kind] = true
	}
	if len(kinds) != len(AllFaults) {
		t.Fatalf("500 steps drew %d of %d kinds", len(kinds), len(AllFaults))
	}
}
