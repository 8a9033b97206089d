package otlpretryexporter

import (
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/otlpcol/otlpcol/components/pkg/fsdir"
)

// stateDir is one directory an instance keeps state in, by its YAML key.
type stateDir struct {
	key  string
	path string
}

// stateDirs are the directories this instance writes: the write-ahead log,
// the dead letter and the quarantine (its effective path: by default a
// sibling of the dead letter). A file_storage directory behind
// sending_queue::storage belongs to that extension's config, which Validate
// cannot see (the configcheck converter compares every component's
// directories as the configuration loads, and guarded_file_storage claims
// its own at start, see claimStateDirs); persistent_queue and
// sending_queue::storage are already mutually exclusive.
func (c *Config) stateDirs() []stateDir {
	var dirs []stateDir
	if c.PersistentQueue.enabled() {
		dirs = append(dirs, stateDir{"persistent_queue::directory", c.PersistentQueue.Directory})
	}
	if d := c.DeadLetter.Directory; d != "" {
		dirs = append(dirs, stateDir{"dead_letter::directory", d})
	}
	if q := c.quarantineDir(); q != "" {
		key := "quarantine::directory"
		if c.Quarantine.Directory == "" {
			key += " (default, next to dead_letter::directory)"
		}
		dirs = append(dirs, stateDir{key, q})
	}
	return dirs
}

// checkStateDirs refuses two state directories that are the same directory
// or one inside the other: the stores would read each other's files (the
// quarantine inside the dead letter is replayed in a loop; a log inside the
// dead letter is taken for damaged spool files). Paths are compared
// absolute and cleaned ("dir/", "./dir" and "dir" are one), with symbolic
// links resolved, and as files (os.SameFile) where both exist (fsdir.Overlap).
// Another component's directories are checked as the exporter starts
// (claimStateDirs).
func checkStateDirs(dirs []stateDir) []error {
	var errs []error
	for i := range dirs {
		for j := i + 1; j < len(dirs); j++ {
			a, b := dirs[i], dirs[j]
			switch rel := fsdir.Overlap(a.path, b.path); rel {
			case "same":
				errs = append(errs, fmt.Errorf("%s: %q is the same directory as %s (%q): each store needs its own directory",
					b.key, b.path, a.key, a.path))
			case "inside":
				errs = append(errs, fmt.Errorf("%s: %q is inside %s (%q): state directories must not be nested",
					b.key, b.path, a.key, a.path))
			case "contains":
				errs = append(errs, fmt.Errorf("%s: %q contains %s (%q): state directories must not be nested",
					b.key, b.path, a.key, a.path))
			}
		}
	}
	return errs
}

// StateDirectory is one directory an otlp_retry exporter keeps state in:
// its key under the exporter (persistent_queue::directory,
// dead_letter::directory, quarantine::directory) and its path as configured.
type StateDirectory struct {
	Key  string
	Path string
}

// StateDirectories are the directories an otlp_retry config keeps state in
// (none for another component's config), for a check across the whole
// configuration (components/converter/statedirconverter).
func StateDirectories(cfg component.Config) []StateDirectory {
	c, ok := cfg.(*Config)
	if !ok {
		return nil
	}
	var out []StateDirectory
	for _, d := range c.stateDirs() {
		out = append(out, StateDirectory{Key: d.key, Path: d.path})
	}
	return out
}

// claimStateDirs claims this instance's state directories for the whole
// collector as it starts (fsdir.Claim), under their full keys
// (exporters::otlp_retry/a::dead_letter::directory): Validate compared them
// with each other, this compares them with every other component's, such as
// a second otlp_retry whose dead letter is this one's quarantine (the two
// would share one store and replay quarantined data in a loop) or a
// guarded_file_storage directory inside this one's log. The traces, metrics
// and logs instances of one exporter share their claims.
func (e *otlpExporter) claimStateDirs() error {
	prefix := "exporters::" + e.set.ID.String() + "::"
	for _, d := range e.cfg.stateDirs() {
		release, err := fsdir.Claim(prefix+d.key, d.path)
		if err != nil {
			return err
		}
		e.claims = append(e.claims, release)
	}
	return nil
}

// releaseStateDirs gives the claims back (shutdown, also after a failed start).
func (e *otlpExporter) releaseStateDirs() {
	for _, release := range e.claims {
		release()
	}
	e.claims = nil
}
