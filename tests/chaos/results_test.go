package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSaveRunJoinsCampaigns: two campaigns of one commit saving into one
// directory write a table of both runs; a run of another commit stays out.
func TestSaveRunJoinsCampaigns(t *testing.T) {
	dir := t.TempDir()
	a := &Result{Seed: 1, Ran: make([]Step, 3), ByKind: map[string]int{"kill": 3}, Took: time.Minute}
	b := &Result{Seed: 2, Ran: make([]Step, 5), ByKind: map[string]int{"down": 5}, Took: time.Minute}
	other := &Result{Seed: 3, Ran: make([]Step, 7)}
	if _, err := SaveRun(dir, "c1", a, []*Result{a}); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveRun(dir, "c0", other, []*Result{other}); err != nil {
		t.Fatal(err)
	}
	all, err := SaveRun(dir, "c1", b, []*Result{b})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Seed+all[1].Seed != 3 {
		t.Fatalf("runs %+v; want seeds 1 and 2", all)
	}
	path := filepath.Join(dir, "results.md")
	if err := WriteResults(path, Plan{Faults: AllFaults}, "c1", all); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "- runs: 2, steps: 8 ") || !strings.Contains(string(md), "consecutive clean steps at the end: 8") {
		t.Errorf("table:\n%s", md)
	}
	if own, _ := SaveRun("", "c1", b, []*Result{b}); len(own) != 1 {
		t.Errorf("without a directory: %d runs, want this process's 1", len(own))
	}
}
