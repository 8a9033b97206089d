package ci

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/require"
)

// TestWorkflowLints runs actionlint (as a library) over the GitHub workflows.
func TestWorkflowLints(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repo, ".github", "workflows", "*.y*ml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no workflow in .github/workflows")
	linter, err := actionlint.NewLinter(os.Stderr, &actionlint.LinterOptions{})
	require.NoError(t, err)
	errs, err := linter.LintFiles(files, nil)
	require.NoError(t, err)
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
}

// TestWorkflowCallsMakeTargets keeps the workflow thin: every `run:` step is
// a make target the Makefile defines (or a tool install), so CI and a
// developer machine run the same commands.
func TestWorkflowCallsMakeTargets(t *testing.T) {
	wf, err := os.ReadFile(filepath.Join(repo, ".github", "workflows", "ci.yaml"))
	require.NoError(t, err)
	mk, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	require.NoError(t, err)
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z-]*):`).FindAllSubmatch(mk, -1) {
		targets[string(m[1])] = true
	}
	calls := regexp.MustCompile(`make ([a-z][a-z-]*)`).FindAllSubmatch(wf, -1)
	require.NotEmpty(t, calls, "the workflow calls no make target")
	for _, c := range calls {
		require.True(t, targets[string(c[1])], "workflow calls `make %s`, which the Makefile does not define", c[1])
	}
}
