package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podman runs podman on a store of the test's own (root, runroot and tmpdir
// under one temporary directory), the way `make image` runs it: vfs storage,
// runc, no daemon. Everything the test loads, creates and runs lives there,
// and the cleanup removes it all, even when the test fails; the machine's
// own podman store is never touched.
type podman struct {
	t   *testing.T
	dir string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman not found (`make test-image` installs it): %v", err)
	}
	// Short: conmon's attach socket path under runroot must fit in a
	// unix socket address (108 bytes).
	dir, err := os.MkdirTemp("", "otlpcol-img-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{t: t, dir: dir}
	t.Cleanup(p.remove)
	return p
}

func (p *podman) args(args ...string) []string {
	return append([]string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--storage-driver", "vfs",
		"--runtime", "runc",
		"--events-backend", "file",
	}, args...)
}

// run runs podman with args and returns its standard output.
func (p *podman) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", p.args(args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// must runs podman with args and fails the test on an error.
func (p *podman) must(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.run(timeout, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// remove takes away every container, volume and image of the store, then
// the store itself.
func (p *podman) remove() {
	for _, args := range [][]string{
		{"rm", "--all", "--force", "--volumes", "--time", "0"},
		{"volume", "rm", "--all", "--force"},
		{"rmi", "--all", "--force"},
	} {
		if _, err := p.run(2*time.Minute, args...); err != nil {
			p.t.Errorf("cleanup: %v", err)
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		p.t.Errorf("cleanup: %v", err)
	}
}
