package guardedfilestorage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// The damage a queue file meets in the field (a torn write at power loss,
// a bad sector, a file cut short by a full disk), each on a file of 300
// items of 1 KiB.
var damages = map[string]func(t *testing.T, path string){
	// Both meta pages unreadable: bbolt.Open fails ("invalid database").
	"meta pages": func(t *testing.T, path string) {
		page := int64(os.Getpagesize())
		overwrite(t, path, 16, 80, 1)
		overwrite(t, path, page+16, page+80, 1)
	},
	// Every page after the meta pages is noise: the page walk bbolt does
	// while opening panics, in a goroutine of its own (contrib #35899).
	"data pages": func(t *testing.T, path string) {
		overwrite(t, path, 2*int64(os.Getpagesize()), fileSize(t, path), 1)
	},
	// The file ends before the pages its meta page names: reading them
	// through mmap faults (SIGBUS), which no recover() catches.
	"truncated": func(t *testing.T, path string) {
		require.NoError(t, os.Truncate(path, 4*int64(os.Getpagesize())))
	},
}

func TestDamagedFileIsSetAsideAndStartSucceeds(t *testing.T) {
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := fillStore(t, dir, 300)
			damage(t, path)
			want, err := os.ReadFile(path)
			require.NoError(t, err)

			tel := componenttest.NewTelemetry()
			ext := startGuard(t, testConfig(dir), tel)

			// The damaged file is kept, byte for byte, in corrupt/.
			aside, err := filepath.Glob(filepath.Join(dir, corruptDir, queueFile+"*"))
			require.NoError(t, err)
			require.Len(t, aside, 1, "the damaged file must be set aside")
			got, err := os.ReadFile(aside[0])
			require.NoError(t, err)
			assert.Equal(t, want, got, "the set-aside file must be the damaged file unchanged")
			assert.EqualValues(t, 1, gauge(t, tel, "otelcol_guarded_file_storage_set_aside_files"))
			assert.EqualValues(t, 1, gauge(t, tel, "otelcol_guarded_file_storage_corrupt_stored_files"))
			assert.EqualValues(t, len(want), gauge(t, tel, "otelcol_guarded_file_storage_corrupt_stored_bytes"))

			// The component gets a fresh, working store.
			c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, queueID, "traces")
			require.NoError(t, err)
			require.NoError(t, c.Set(context.Background(), "k", []byte("v")))
			v, err := c.Get(context.Background(), "k")
			require.NoError(t, err)
			assert.Equal(t, []byte("v"), v)
			require.NoError(t, c.Close(context.Background()))
		})
	}
}

// TestUpstreamFailsOnTheSameDamage shows the damage is real: upstream
// file_storage alone refuses the file whose damage surfaces as an error (the
// others crash the process, which an in-process test cannot show; the
// reliability suite shows it with the binary).
func TestUpstreamFailsOnTheSameDamage(t *testing.T) {
	dir := t.TempDir()
	damages["meta pages"](t, fillStore(t, dir, 300))
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory, cfg.Compaction.Directory, cfg.Recreate = dir, dir, true
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	_, err = ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, queueID, "traces")
	require.Error(t, err, "upstream file_storage (even with recreate) opened a file whose meta pages are noise")
}

func TestHealthyFileIsKept(t *testing.T) {
	dir := t.TempDir()
	path := fillStore(t, dir, 300)
	// Files that are not a component's database are not judged.
	for _, other := range []string{"tempdb123", queueFile + ".20260101T000000.000Z.backup", "notes.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, other), []byte("not a database"), 0o600))
	}
	tel := componenttest.NewTelemetry()
	ext := startGuard(t, testConfig(dir), tel)
	_, err := os.Stat(filepath.Join(dir, corruptDir))
	assert.True(t, os.IsNotExist(err), "nothing may be set aside")
	assert.Zero(t, gauge(t, tel, "otelcol_guarded_file_storage_set_aside_files"))
	assert.Zero(t, gauge(t, tel, "otelcol_guarded_file_storage_corrupt_stored_files"))

	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, queueID, "traces")
	require.NoError(t, err)
	v, err := c.Get(context.Background(), "299")
	require.NoError(t, err)
	assert.Len(t, v, 1024, "the queued items must still be there")
	require.NoError(t, c.Close(context.Background()))
	_, err = os.Stat(path)
	require.NoError(t, err)
}

// TestLockedFileIsNotJudged: a file another process holds open says nothing
// about its content; it stays where it is (and file_storage then reports
// the lock as upstream does).
func TestLockedFileIsNotJudged(t *testing.T) {
	dir := t.TempDir()
	path := fillStore(t, dir, 10)
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	v, said := checkFile(context.Background(), path, time.Minute)
	assert.Equal(t, unchecked, v, said)
}

func TestCheckTimeoutIsDamage(t *testing.T) {
	path := fillStore(t, t.TempDir(), 10)
	v, said := checkFile(context.Background(), path, time.Nanosecond)
	assert.Equal(t, damaged, v)
	assert.Contains(t, said, "check_timeout")
}

func TestDamageIsExplained(t *testing.T) {
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			path := fillStore(t, t.TempDir(), 300)
			damage(t, path)
			v, said := checkFile(context.Background(), path, time.Minute)
			assert.Equal(t, damaged, v)
			assert.NotEmpty(t, said)
			assert.NotContains(t, said, "goroutine", "a panic's dump is cut to its message")
			t.Logf("%s: %s", name, said)
		})
	}
}
