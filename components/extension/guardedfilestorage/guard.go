package guardedfilestorage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// corruptDir is where damaged files go, under the storage directory.
const corruptDir = fsdir.CorruptDir

// dbFile matches the names file_storage gives a component's database:
// <kind>_<type>_<name>[_<storage name>], or the SHA-256 of that when it is
// too long for the file system. Anything else in the directory (its
// compaction's tempdb files, recreate's .backup files) is not ours to judge.
var dbFile = regexp.MustCompile(`^((receiver|processor|exporter|extension|connector|other)_.+|[0-9a-f]{64})$`)

func isDBFile(name string) bool {
	return dbFile.MatchString(name) && !strings.HasSuffix(name, ".backup")
}

type guard struct {
	cfg       *Config
	logger    *zap.Logger
	inner     storage.Extension
	telemetry *telemetry
	setAside  atomic.Int64
}

var _ storage.Extension = (*guard)(nil)

func newGuard(cfg *Config, set extension.Settings, inner extension.Extension) (*guard, error) {
	s, ok := inner.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("file_storage %T is not a storage extension", inner)
	}
	g := &guard{cfg: cfg, logger: set.Logger, inner: s}
	t, err := newTelemetry(set.MeterProvider, g)
	if err != nil {
		return nil, err
	}
	g.telemetry = t
	return g, nil
}

// Start checks every database file before file_storage can open one, sets
// the damaged ones aside, then starts file_storage. Extensions start before
// the components that ask them for a client, so no file is open yet.
func (g *guard) Start(ctx context.Context, host component.Host) error {
	if err := g.checkDirectory(ctx); err != nil {
		return err
	}
	return g.inner.Start(ctx, host)
}

func (g *guard) checkDirectory(ctx context.Context) error {
	dir := g.cfg.Directory
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("directory %q: %w", dir, err)
	}
	began := time.Now()
	checked := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !isDBFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if info, err := e.Info(); err == nil && info.Size() == 0 {
			continue // bbolt initialises an empty file
		}
		checked++
		t0 := time.Now()
		v, said := checkFile(ctx, path, g.cfg.CheckTimeout)
		switch v {
		case healthy:
			g.logger.Debug("database file checked", zap.String("file", path), zap.Duration("took", time.Since(t0)))
		case unchecked:
			g.logger.Warn("could not check a database file; file_storage opens it as it is",
				zap.String("file", path), zap.String("reason", said))
		case damaged:
			to, err := g.moveAside(path)
			if to == "" {
				return fmt.Errorf("database file %q is damaged (%s) and could not be set aside: %w", path, said, err)
			}
			if err != nil {
				// Moved, but the move may not survive a power loss: the
				// next start would check the file again, nothing worse.
				g.logger.Warn("damaged database file set aside, but its directory could not be synced",
					zap.String("file", path), zap.Error(err))
			}
			g.setAside.Add(1)
			g.logger.Error("database file is damaged: set aside, kept for inspection; the component starts with an empty store",
				zap.String("file", path), zap.String("set_aside_as", to), zap.String("damage", said))
		}
	}
	if checked > 0 {
		g.logger.Info("database files checked", zap.String("directory", dir), zap.Int("files", checked),
			zap.Int64("set_aside", g.setAside.Load()), zap.Duration("took", time.Since(began)))
	}
	return nil
}

// moveAside moves path into the corrupt directory (fsdir.SetAside: an
// earlier damaged file of the same name is never replaced) and makes both
// directory entries durable. It returns where the file went ("" when it
// did not move) and any error.
func (g *guard) moveAside(path string) (string, error) {
	return fsdir.SetAside(g.cfg.Directory, path, true)
}

// corruptStored is what the corrupt directory holds now: files and bytes.
func (g *guard) corruptStored() (files, bytes int64) {
	entries, err := os.ReadDir(filepath.Join(g.cfg.Directory, corruptDir))
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files++
			bytes += info.Size()
		}
	}
	return files, bytes
}

func (g *guard) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	return g.inner.GetClient(ctx, kind, id, name)
}

func (g *guard) Shutdown(ctx context.Context) error {
	g.telemetry.unregister()
	return g.inner.Shutdown(ctx)
}
