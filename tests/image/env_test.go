package image

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// archivePath is the OCI archive under test: OTLPCOL_IMAGE_ARCHIVE, which
// `make test-image` sets after building it. Without it the test skips.
func archivePath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OTLPCOL_IMAGE_ARCHIVE")
	if p == "" {
		t.Skip("OTLPCOL_IMAGE_ARCHIVE is not set: `make test-image` builds the image and runs these tests")
	}
	return p
}

// imageName is the name `make image` gives the manifest list (IMAGE).
func imageName(t *testing.T) string {
	t.Helper()
	if n := os.Getenv("OTLPCOL_IMAGE"); n != "" {
		return n
	}
	return "otlpcol:" + version(t)
}

// version is the distribution's version in builder-config.yaml.
func version(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  version: *(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("builder-config.yaml has no dist version")
	}
	return string(m[1])
}
