// Package guardedfilestorage implements guarded_file_storage: upstream's
// file_storage extension (bbolt files) behind a check at start that sets a
// damaged database file aside instead of letting it stop the collector.
package guardedfilestorage

import (
	"context"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otlpcol/otlpcol/components/extension/guardedfilestorage/internal/metadata"
)

const (
	defaultCheckTimeout = time.Minute
	// defaultFreeSpaceReserveMiB: twice compaction's default rebound
	// trigger (10 MiB of live data copied), with room for the dispatch
	// records and deletes of requests admitted as the line was crossed.
	defaultFreeSpaceReserveMiB = 32
)

// NewFactory returns the guarded_file_storage factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	upstream := filestorage.NewFactory().CreateDefaultConfig().(*filestorage.Config)
	return &Config{Config: *upstream, CheckTimeout: defaultCheckTimeout, FreeSpaceReserveMiB: defaultFreeSpaceReserveMiB}
}

func create(ctx context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	c := cfg.(*Config)
	// The wrapped extension is upstream's own, created by its factory under
	// its own type and this instance's name; it creates the directories.
	up := filestorage.NewFactory()
	inner := set
	inner.ID = component.NewIDWithName(up.Type(), set.ID.Name())
	ext, err := up.Create(ctx, inner, &c.Config)
	if err != nil {
		return nil, err
	}
	return newGuard(c, set, ext)
}
