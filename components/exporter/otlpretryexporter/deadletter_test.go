package otlpretryexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeadLetterDirectoryNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere: use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		checkStartFails(t, filepath.Join(f, "dl"))
		return
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o500))
	checkStartFails(t, filepath.Join(dir, "dl"))
}

func checkStartFails(t *testing.T, dir string) {
	t.Helper()
	cfg := fastConfig("127.0.0.1:1")
	cfg.DeadLetter.Directory = dir
	e, err := newExporter(cfg, newTestSettings(), "traces")
	require.NoError(t, err)
	err = e.start(context.Background(), &statusHost{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "dead_letter::directory")
	require.NoError(t, e.shutdown(context.Background()))
}
