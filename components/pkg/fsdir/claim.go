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
// The distribution's configcheck converter runs the same comparison on the
// configuration, in a Registry of its own, so `otlpcol validate` fails too.

// claim is one directory a component keeps state in.
type claim struct {
	key  string // the full config key, e.g. exporters::otlp_retry/a::dead_letter::directory
	path string // as configured; compared with Overlap at each new claim
	refs int    // the signals of one exporter claim its directories once each
}

// Registry holds claimed state directories. The collector's components
// claim theirs in one process-wide Registry (Claim); a configuration check
// can fill one of its own with every directory a config names.
type Registry struct {
	mu     sync.Mutex
	claims []*claim
}

// process is the registry of the running collector's components.
var process Registry

// Claim records, in the collector's registry, that the config key (the
// component's full key path, such as
// exporters::otlp_retry/a::dead_letter::directory) keeps state in path; see
// Registry.Claim.
func Claim(key, path string) (release func(), err error) {
	return process.Claim(key, path)
}

// Claim records that key keeps state in path. The same key claiming the
// same directory again (the traces, metrics and logs instances of one
// exporter) shares the claim. A directory equal to, inside or containing
// one claimed by another key is refused: two stores would read or delete
// each other's files. The returned release gives the claim back; call it
// once, at shutdown.
func (r *Registry) Claim(key, path string) (release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.claims {
		rel := Overlap(c.path, path)
		if c.key == key && rel == "same" {
			c.refs++
			return r.releaser(c), nil
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
	r.claims = append(r.claims, c)
	return r.releaser(c), nil
}

// releaser drops one reference to c, and c itself with the last; a second
// call of the same release does nothing.
func (r *Registry) releaser(c *claim) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			c.refs--
			if c.refs > 0 {
				return
			}
			for i, o := range r.claims {
				if o == c {
					r.claims = append(r.claims[:i], r.claims[i+1:]...)
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
