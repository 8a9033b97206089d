package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo makes a repository with one commit holding builder-config.yaml
// and bench/results.md.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"builder-config.yaml", "bench/results.md"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "one"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func TestResultsOnlyFromACleanTree(t *testing.T) {
	dir := gitRepo(t)
	g := readGitState(dir)
	if g.Dirty() || !strings.HasSuffix(g.describe(), "(clean tree)") {
		t.Fatalf("fresh commit: %+v, %s", g, g.describe())
	}
	// The run itself rewrites results.md: that alone does not make it dirty.
	if err := os.WriteFile(filepath.Join(dir, "bench", "results.md"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.checkUnchanged(dir, filepath.Join(dir, "bench", "results.md"))
	if g.Dirty() {
		t.Errorf("rewriting results.md made the run dirty: %s", g.describe())
	}
	// Nor do the scenarios' reports and the profiles, written before
	// results.md is checked (a full run with backlog and signals was
	// called dirty by its own backlog.md).
	for _, f := range []string{"backlog.md", "backlog.png", "signals.md", "cpu-stock.pprof", "flame-stock.svg", "scaling.png"} {
		if err := os.WriteFile(filepath.Join(dir, "bench", f), []byte("new\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.checkUnchanged(dir, benchOutputs(filepath.Join(dir, "bench"))...)
	if g.Dirty() {
		t.Errorf("the run's own reports made it dirty: %s", g.describe())
	}
	if err := os.WriteFile(filepath.Join(dir, "new.go"), []byte("package x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.checkUnchanged(dir, benchOutputs(filepath.Join(dir, "bench"))...)
	if !g.Dirty() || !strings.Contains(g.describe(), "changed while the bench ran") {
		t.Errorf("a file added during the run: %s", g.describe())
	}

	dirty := readGitState(dir)
	if !dirty.Dirty() || !strings.Contains(dirty.describe(), "not the results of "+dirty.Commit) {
		t.Errorf("untracked file: %+v, %s", dirty, dirty.describe())
	}
	t.Setenv("OTLPCOL_BIN", "") // run sets it; restore it afterwards
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pipes, _ := selectPipelines("stock")
	o := options{Root: dir, Bin: bin, OutDir: filepath.Join(dir, "bench"), Pipelines: pipes, Rounds: 1, Workers: 1, Conns: 1}
	if _, err := run(o); err == nil || !strings.Contains(err.Error(), "uncommitted changes") || !strings.Contains(err.Error(), "new.go") {
		t.Errorf("run into bench/ from a dirty tree: %v", err)
	}
}

func TestRoundT(t *testing.T) {
	var logged []string
	rt := newRoundT(func(f string, a ...any) { logged = append(logged, f) })
	var order []int
	reached := false
	rt.run(func() {
		rt.Cleanup(func() { order = append(order, 1) })
		rt.Cleanup(func() { order = append(order, 2); rt.Fatalf("cleanup failed") })
		rt.Cleanup(func() { order = append(order, 3) })
		rt.Fatalf("first %d", 1)
		reached = true
	})
	if reached {
		t.Error("Fatalf did not end the round")
	}
	if !rt.Failed() || rt.err() != "first 1" {
		t.Errorf("err = %q", rt.err())
	}
	rt.finish()
	if len(order) != 3 || order[0] != 3 || order[1] != 2 || order[2] != 1 {
		t.Errorf("cleanups ran %v, want [3 2 1]", order)
	}
	dir := func() string {
		rt := newRoundT(func(string, ...any) {})
		d := rt.TempDir()
		if _, err := os.Stat(d); err != nil {
			t.Fatal(err)
		}
		rt.finish()
		return d
	}()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind: %v", dir, err)
	}
}
