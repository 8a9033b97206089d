package packaging

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// release describes one `make package` run.
type release struct {
	dist    string // output directory
	version string // builder-config.yaml's dist.version
	release string // package release
}

func (r release) deb(arch string) string {
	return filepath.Join(r.dist, fmt.Sprintf("otlpcol_%s-%s_%s.deb", r.version, r.release, arch))
}

func (r release) rpm(arch string) string {
	return filepath.Join(r.dist, fmt.Sprintf("otlpcol-%s-%s.%s.rpm", r.version, r.release, rpmArch[arch]))
}

func (r release) archive(arch string) string {
	return filepath.Join(r.dist, fmt.Sprintf("otlpcol_%s_linux_%s.tar.gz", r.version, arch))
}

var (
	arches  = []string{"amd64", "arm64"}
	rpmArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
	elfArch = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
)

// requirePackageTest skips unless `make test-package` runs this package,
// and fails when the machine cannot run it.
func requirePackageTest(t *testing.T) {
	t.Helper()
	if os.Getenv("OTLPCOL_PACKAGE_TEST") != "1" {
		t.Skip("installs a .deb on this machine: run by `make test-package` (OTLPCOL_PACKAGE_TEST=1)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the package tests install a .deb: run them as root")
	}
	for _, tool := range []string{"make", "dpkg", "dpkg-deb", "apt-get", "lintian", "rpm", "systemd-analyze", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: `make test-package` installs the tools it needs (make deps-package)", tool)
		}
	}
}

// version is dist.version from builder-config.yaml, as the Makefile reads it.
func version(t *testing.T) string {
	t.Helper()
	out := run(t, harness.RepoRoot(), "sed", "-n", "s/^  version: *//p", "builder-config.yaml")
	v := strings.TrimSpace(out)
	require.NotEmpty(t, v, "dist.version in builder-config.yaml")
	return v
}

// makePackage runs `make package` into a fresh directory.
func makePackage(t *testing.T, rel string) release {
	t.Helper()
	r := release{dist: t.TempDir(), version: version(t), release: rel}
	run(t, harness.RepoRoot(), "make", "--no-print-directory", "package", "DIST="+r.dist, "PKG_RELEASE="+rel)
	return r
}

// repackage runs only the packager (no compile) on the binaries of from,
// with another release number: the "next version" of an upgrade.
func repackage(t *testing.T, from release, rel string) release {
	t.Helper()
	r := release{dist: t.TempDir(), version: from.version, release: rel}
	run(t, filepath.Join(harness.RepoRoot(), "packaging"), "go", "run", ".",
		"-dist", r.dist, "-build", filepath.Join(from.dist, "build"),
		"-version", r.version, "-release", rel, "-arch", "amd64")
	return r
}

// checkArtifacts: every file exists, SHA256SUMS lists exactly them and
// sha256sum -c accepts it.
func checkArtifacts(t *testing.T, r release) {
	var want []string
	for _, a := range arches {
		for _, p := range []string{r.deb(a), r.rpm(a), r.archive(a)} {
			require.FileExists(t, p)
			want = append(want, filepath.Base(p))
		}
	}
	sums, err := os.ReadFile(filepath.Join(r.dist, "SHA256SUMS"))
	require.NoError(t, err)
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		f := strings.Fields(line)
		require.Len(t, f, 2, "SHA256SUMS line %q", line)
		require.Len(t, f[0], 64, "sha256 of %s", f[1])
		listed = append(listed, f[1])
	}
	sort.Strings(want)
	sort.Strings(listed)
	require.Equal(t, want, listed, "files in SHA256SUMS")
	run(t, r.dist, "sha256sum", "--check", "--strict", "SHA256SUMS")
}

// checkArchive: the tar.gz holds the binary (static, for its architecture),
// README.md and LICENSE under one top directory.
func checkArchive(t *testing.T, r release, arch string) {
	path := r.archive(arch)
	top := strings.TrimSuffix(filepath.Base(path), ".tar.gz") + "/"
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		name := strings.TrimPrefix(hdr.Name, top)
		require.NotEqual(t, hdr.Name, name, "%s outside %s", hdr.Name, top)
		seen[name] = true
		if name == "otlpcol" {
			require.Equal(t, int64(0o755), hdr.Mode, "binary mode")
			bin := filepath.Join(t.TempDir(), "otlpcol")
			out, err := os.Create(bin)
			require.NoError(t, err)
			_, err = io.Copy(out, tr)
			require.NoError(t, err)
			require.NoError(t, out.Close())
			checkELF(t, bin, arch)
		}
	}
	require.Equal(t, map[string]bool{"otlpcol": true, "README.md": true, "LICENSE": true}, seen, "entries of %s", path)
}

// checkELF: a 64-bit little-endian Linux executable for arch with no
// interpreter and no shared libraries (static, CGO off).
func checkELF(t *testing.T, path, arch string) {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, elfArch[arch], f.Machine, "%s machine", path)
	require.Equal(t, elf.ELFCLASS64, f.Class)
	require.Equal(t, elf.ELFDATA2LSB, f.Data)
	require.Equal(t, elf.ET_EXEC, f.Type, "a static Go executable is ET_EXEC")
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "%s asks for a dynamic loader", path)
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs, "%s links shared libraries", path)
}

// run runs a command in dir and returns its stdout; it fails the test with
// the command's output on a non-zero exit.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	stdout, stderr, err := runErr(dir, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// runErr runs a command and returns its stdout, stderr and error; env
// entries are added to this process's environment.
func runErr(dir string, env []string, name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
