package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// gitState is what results.md says about the source it measured.
type gitState struct {
	Commit string // short hash of HEAD, "" outside git
	// Status is `git status --porcelain` (untracked files included, as they
	// are built too): empty for a clean tree.
	Status string
	// Changed is set when HEAD or the tree changed while the bench ran.
	Changed bool
}

func readGitState(root string) gitState {
	var g gitState
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return g
	}
	g.Commit = strings.TrimSpace(string(out))
	if out, err := exec.Command("git", "-C", root, "status", "--porcelain").Output(); err == nil {
		g.Status = strings.TrimRight(string(out), "\n")
	} else {
		g.Status = "(git status failed: " + err.Error() + ")"
	}
	return g
}

// Dirty reports whether the measured source may differ from Commit.
func (g gitState) Dirty() bool { return g.Commit == "" || g.Status != "" || g.Changed }

// benchOutputs lists the files a run writes into dir (results, charts,
// the scenarios' reports, profiles and flame graphs): a run that rewrote
// some of them before another is checked has not changed the source.
func benchOutputs(dir string) []string {
	var out []string
	for _, f := range []string{"results.md", "results.png", "scaling.png", "signals.md", "signals.png", "backlog.md", "backlog.png"} {
		out = append(out, filepath.Join(dir, f))
	}
	for _, pattern := range []string{"cpu-*.pprof", "flame-*.svg"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		out = append(out, m...)
	}
	return out
}

// checkUnchanged marks g changed when the tree at the end of the run is not
// the one at its start, ignoring the files the run itself writes.
func (g *gitState) checkUnchanged(root string, written ...string) {
	now := readGitState(root)
	if now.Commit != g.Commit || withoutPaths(now.Status, root, written) != withoutPaths(g.Status, root, written) {
		g.Changed = true
	}
}

// withoutPaths drops the porcelain lines of the given files.
func withoutPaths(status, root string, paths []string) string {
	skip := map[string]bool{}
	for _, p := range paths {
		if rel, err := filepath.Rel(root, p); err == nil {
			skip[filepath.ToSlash(rel)] = true
		}
	}
	var keep []string
	for _, line := range strings.Split(status, "\n") {
		if line == "" || (len(line) > 3 && skip[line[3:]]) {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// describe is the commit line of results.md.
func (g gitState) describe() string {
	switch {
	case g.Commit == "":
		return "DIRTY: not a git checkout; the source measured is unknown"
	case g.Changed:
		return "DIRTY: the tree changed while the bench ran; these are not the results of " + g.Commit
	case g.Status != "":
		n := len(strings.Split(g.Status, "\n"))
		return "DIRTY: " + g.Commit + " with uncommitted changes (" + plural(n, "file") + "); these are not the results of " + g.Commit
	}
	return g.Commit + " (clean tree)"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
