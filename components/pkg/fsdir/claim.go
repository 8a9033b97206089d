package fsdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// A component's Validate sees only its own config, so two components of one
// collector can name the same state directory (one otlp_retry's quarantine
// another's dead letter, a guarded_file_storage directory inside a write-ahead
// log) and each pass. Every component that keeps state therefore claims its
// directories here as it starts; a claim that is equal to or nested in
// another component's is refused, naming both keys, and the collector does
// not start. Claims are process-wide because the collector is one process.

// claim is one directory a component keeps state in.
type claim struct {
	key  string // the full config key, e.g. exporters::otlp_retry/a::dead_letter::directory
	path string // as configured; compared with Overlap at each new claim
	refs int    // the signals of one exporter claim its directories once each
}

var (
	claimsMu sync.Mutex
	claims   []*claim
)

// Claim records that the config key (the component's full key path, such as
// exporters::otlp_retry/a::dead_letter::directory) keeps state in path. The
// same key claiming the same directory again (the traces, metrics and logs
// instances of one exporter) shares the claim. A directory equal to, inside
// or containing one claimed by another key is refused: two stores would read
// or delete each other's files. The returned release gives the claim back;
// call it once, at shutdown.
func Claim(key, path string) (release func(), err error) {
	claimsMu.Lock()
	defer claimsMu.Unlock()
	for _, c := range claims {
		rel := Overlap(c.path, path)
		if c.key == key && rel == "same" {
			c.refs++
			return releaser(c), nil
		}
		switch rel {
		case "same":
			return nil, fmt.Errorf("%s: %q is the same directory as %s (%q): each store needs its own directory",
				key, path, c.key, c.path)
		case "inside":
			return nil, fmt.Errorf("%s: %q is inside %s (%q): state directories must not be nested",
				key, path, c.key, c.path)
		case "contains":
			return nil, fmt.Errorf("%s: %q contains %s (%q): state directories must not be nested",
				key, path, c.key, c.path)
		}
	}
	c := &claim{key: key, path: path, refs: 1}
	claims = append(claims, c)
	return releaser(c), nil
}

// releaser drops one reference to c, and c itself with the last; a second
// call of the same release does nothing.
func releaser(c *claim) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			claimsMu.Lock()
			defer claimsMu.Unlock()
			c.refs--
			if c.refs > 0 {
				return
			}
			for i, o := range claims {
				if o == c {
					claims = append(claims[:i], claims[i+1:]...)
					break
				}
			}
		})
	}
}

// Overlap says how directory b stands to a: "same", "inside" (b in a),
// "contains" (a in b), or "". Paths are compared absolute and cleaned
// ("dir/", "./dir" and "dir" are one), with symbolic links resolved, and as
// files (os.SameFile) where both exist.
func Overlap(a, b string) string {
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
