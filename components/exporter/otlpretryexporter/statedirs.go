package otlpretryexporter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
// cannot see; persistent_queue and sending_queue::storage are already
// mutually exclusive.
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
// links resolved, and as files (os.SameFile) where both exist.
func checkStateDirs(dirs []stateDir) []error {
	var errs []error
	for i := range dirs {
		for j := i + 1; j < len(dirs); j++ {
			a, b := dirs[i], dirs[j]
			switch rel := overlap(a.path, b.path); rel {
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

// overlap says how directory b stands to a: "same", "inside" (b in a),
// "contains" (a in b), or "".
func overlap(a, b string) string {
	if sa, err := os.Stat(a); err == nil {
		if sb, err := os.Stat(b); err == nil && os.SameFile(sa, sb) {
			return "same"
		}
	}
	ra, rb := canonical(a), canonical(b)
	switch {
	case ra == rb:
		return "same"
	case within(rb, ra):
		return "inside"
	case within(ra, rb):
		return "contains"
	}
	return ""
}

// canonical is p absolute and clean, with the symbolic links of its longest
// existing prefix resolved (the rest does not exist yet, so has none).
func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = filepath.Clean(p)
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		if parent := filepath.Dir(dir); parent == dir {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// within reports whether child lies strictly below parent (both canonical).
func within(child, parent string) bool {
	rel, err := filepath.Rel(parent, child)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) &&
		!filepath.IsAbs(rel)
}
