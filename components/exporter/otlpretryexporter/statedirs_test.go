package otlpretryexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
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

// TestStateDirectoriesClaimedAtStart: two otlp_retry exporters of one
// process, b's dead letter a's default quarantine (with the quarantine's
// bound, so that deadletter.Acquire alone would share one store): b's start
// fails naming both full keys; once a has shut down, b starts. The traces
// and metrics instances of a share their claims.
func TestStateDirectoriesClaimedAtStart(t *testing.T) {
	root := t.TempDir()
	f := NewFactory()
	create := func(name, deadLetter string, maxBytes int64, metrics bool) component.Component {
		cfg := f.CreateDefaultConfig().(*Config)
		cfg.ClientConfig.Endpoint = "127.0.0.1:1"
		cfg.DeadLetter.Directory = deadLetter
		cfg.DeadLetter.MaxBytes = maxBytes
		set := newTestSettings()
		set.ID = component.MustNewIDWithName("otlp_retry", name)
		var c component.Component
		var err error
		if metrics {
			c, err = f.CreateMetrics(context.Background(), set, cfg)
		} else {
			c, err = f.CreateTraces(context.Background(), set, cfg)
		}
		require.NoError(t, err)
		return c
	}
	ctx, host := context.Background(), componenttest.NewNopHost()
	aTraces := create("a", filepath.Join(root, "dl"), defaultDeadLetterBytes, false)
	aMetrics := create("a", filepath.Join(root, "dl"), defaultDeadLetterBytes, true)
	require.NoError(t, aTraces.Start(ctx, host))
	require.NoError(t, aMetrics.Start(ctx, host), "the signals of one exporter share its directories")

	b := create("b", filepath.Join(root, "dl-quarantine")+"/", defaultQuarantineBytes, false)
	err := b.Start(ctx, host)
	require.EqualError(t, err, `exporters::otlp_retry/b::dead_letter::directory: "`+root+`/dl-quarantine/" is the same directory as `+
		`exporters::otlp_retry/a::quarantine::directory (default, next to dead_letter::directory) ("`+root+`/dl-quarantine"): `+
		`each store needs its own directory`)
	require.NoError(t, b.Shutdown(ctx))

	require.NoError(t, aTraces.Shutdown(ctx))
	b = create("b", filepath.Join(root, "dl-quarantine")+"/", defaultQuarantineBytes, false)
	require.Error(t, b.Start(ctx, host), "a's metrics instance still holds the directories")
	require.NoError(t, b.Shutdown(ctx))
	require.NoError(t, aMetrics.Shutdown(ctx))
	b = create("b", filepath.Join(root, "dl-quarantine")+"/", defaultQuarantineBytes, false)
	require.NoError(t, b.Start(ctx, host), "released with a's last instance")
	require.NoError(t, b.Shutdown(ctx))
}
