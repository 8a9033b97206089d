package otlpretryexporter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// loadFile validates testdata/name the way the collector does.
func loadFile(t *testing.T, name string) error {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", name))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	return confmap.Validate(cfg)
}

func TestStateDirectoriesMustNotOverlap(t *testing.T) {
	for file, want := range map[string]string{
		"invalid_quarantine_trailing_slash.yaml": `quarantine::directory: "/var/lib/otlpcol/deadletter/" is the same directory as ` +
			`dead_letter::directory ("/var/lib/otlpcol/deadletter"): each store needs its own directory`,
		"invalid_quarantine_dot_relative.yaml": `quarantine::directory: "./state/deadletter" is the same directory as ` +
			`dead_letter::directory ("state/deadletter"): each store needs its own directory`,
		"invalid_quarantine_inside_dead_letter.yaml": `quarantine::directory: "/var/lib/otlpcol/deadletter/quarantine" is inside ` +
			`dead_letter::directory ("/var/lib/otlpcol/deadletter"): state directories must not be nested`,
		"invalid_dead_letter_inside_log.yaml": `dead_letter::directory: "/var/lib/otlpcol/wal/../wal/deadletter" is inside ` +
			`persistent_queue::directory ("/var/lib/otlpcol/wal"): state directories must not be nested` + "\n" +
			`quarantine::directory (default, next to dead_letter::directory): "/var/lib/otlpcol/wal/deadletter-quarantine" is inside ` +
			`persistent_queue::directory ("/var/lib/otlpcol/wal"): state directories must not be nested`,
		"invalid_log_contains_quarantine.yaml": `quarantine::directory: "/var/lib/otlpcol/wal-quarantine" is inside ` +
			`persistent_queue::directory ("/var/lib/otlpcol"): state directories must not be nested`,
	} {
		t.Run(file, func(t *testing.T) {
			err := loadFile(t, file)
			require.Error(t, err)
			assert.Equal(t, want, err.Error())
		})
	}
}

// The shipped layout: siblings whose names share a prefix are not nested.
func TestStateDirectoriesSiblingsAreFine(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "backend:4317"
	cfg.PersistentQueue.Directory = "/var/lib/otlpcol/wal"
	cfg.DeadLetter.Directory = "/var/lib/otlpcol/deadletter"
	// The default quarantine: /var/lib/otlpcol/deadletter-quarantine.
	require.NoError(t, confmap.Validate(cfg))
	cfg.Quarantine.Directory = "/var/lib/otlpcol/deadletter2"
	require.NoError(t, confmap.Validate(cfg))
}

// A symbolic link to the dead letter, or a parent reached through one, is
// the same directory.
func TestStateDirectoriesThroughSymlinks(t *testing.T) {
	root := t.TempDir()
	dl := filepath.Join(root, "deadletter")
	require.NoError(t, os.Mkdir(dl, 0o750))
	require.NoError(t, os.Symlink(dl, filepath.Join(root, "alias")))
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "backend:4317"
	cfg.DeadLetter.Directory = dl

	cfg.Quarantine.Directory = filepath.Join(root, "alias")
	assert.ErrorContains(t, confmap.Validate(cfg), "is the same directory as dead_letter::directory")
	// Not created yet, below a link into the dead letter.
	cfg.Quarantine.Directory = filepath.Join(root, "alias", "q")
	assert.ErrorContains(t, confmap.Validate(cfg), "is inside dead_letter::directory")
	cfg.Quarantine.Directory = filepath.Join(root, "quarantine")
	assert.NoError(t, confmap.Validate(cfg))
}
