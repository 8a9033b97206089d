package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSkopeoCopiesArchive: skopeo reads the archive as a registry push
// would (`skopeo copy --all oci-archive:... docker://...`); here into an OCI
// layout of the test's own, which must then hold both platforms.
func TestSkopeoCopiesArchive(t *testing.T) {
	o := record(t)
	archive := archivePath(t)
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Fatalf("skopeo not found (`make test-image` installs it): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "skopeo", "copy", "--quiet", "--all",
		"oci-archive:"+archive, "oci:"+dir+":"+imageName(t)).CombinedOutput()
	require.NoError(t, err, "skopeo copy: %s", out)
	o.Measured = fmt.Sprintf("skopeo copy --all: %.1f s", time.Since(start).Seconds())

	copied, err := readLayout(dir)
	require.NoError(t, err)
	var platforms []string
	for _, d := range copied.list.Manifests {
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	slices.Sort(platforms)
	require.Equal(t, []string{"linux/amd64", "linux/arm64"}, platforms)
	require.Equal(t, imageName(t), copied.ref)
	_ = os.RemoveAll(dir)
}
