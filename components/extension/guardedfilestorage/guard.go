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
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
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
	// reserve and the backstop's switch: reserve.go, backstop.go, admission.go.
	reserve  *reserve
	enforced atomic.Bool
	// key is directory's full config key; release gives back its claim
	// (fsdir.Claim), taken at Start.
	key     string
	release func()
}

var (
	_ storage.Extension                     = (*guard)(nil)
	_ extensioncapabilities.PipelineWatcher = (*guard)(nil)
)

func newGuard(cfg *Config, set extension.Settings, inner extension.Extension) (*guard, error) {
	s, ok := inner.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("file_storage %T is not a storage extension", inner)
	}
	g := &guard{cfg: cfg, logger: set.Logger, inner: s, key: "extensions::" + set.ID.String() + "::directory"}
	t, err := newTelemetry(set.MeterProvider, g)
	if err != nil {
		return nil, err
	}
	g.telemetry = t
	g.reserve = newReserve(cfg.Directory, cfg.FreeSpaceReserveMiB, set.Logger)
	if err := g.reserve.register(set.MeterProvider); err != nil {
		t.unregister()
		return nil, err
	}
	return g, nil
}

// Start checks every database file before file_storage can open one, sets
// the damaged ones aside, then starts file_storage. Extensions start before
// the components that ask them for a client, so no file is open yet.
//
// The directory is claimed first, for the whole collector: another
// component's state directory (an otlp_retry log, dead letter or quarantine,
// or a second guarded_file_storage) equal to it or nested with it is refused,
// naming both keys. Its compaction directory is not claimed: it only holds a
// temporary copy during compaction, and by default it is the directory
// itself.
func (g *guard) Start(ctx context.Context, host component.Host) error {
	release, err := fsdir.Claim(g.key, g.cfg.Directory)
	if err != nil {
		return err
	}
	g.release = release
	if err := g.checkDirectory(ctx); err != nil {
		return err
	}
	g.reserve.checkVolume(g.cfg)
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
	c, err := g.inner.GetClient(ctx, kind, id, name)
	if err != nil || !g.reserve.enabled() {
		return c, err
	}
	return &backstopClient{Client: c, reserve: g.reserve, enforced: &g.enforced}, nil
}

// Ready (every pipeline started) turns the backstop on; see backstop.go.
func (g *guard) Ready() error {
	g.enforced.Store(true)
	return nil
}

func (g *guard) NotReady() error { return nil }

func (g *guard) Shutdown(ctx context.Context) error {
	if g.release != nil {
		g.release()
	}
	g.reserve.unregister()
	g.telemetry.unregister()
	return g.inner.Shutdown(ctx)
}
