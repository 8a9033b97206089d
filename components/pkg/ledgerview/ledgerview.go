// Package ledgerview is the hand-off between the otlp_retry exporters, which
// keep a conservation ledger per signal, and the health extension, which
// serves it on /status: neither imports the other. An exporter registers a
// read function under its component ID and signal at Start and removes it
// at Shutdown; the extension lists what is registered when asked.
package ledgerview

import "sync"

// Terms is one ledger as /status shows it, in items (spans, data points,
// log records). The identity is
//
//	accepted = delivered + pending + quarantined + sum(dropped)
//
// and duplicates (re-deliveries after a restart) are counted apart.
type Terms struct {
	Accepted    int64            `json:"accepted"`
	Delivered   int64            `json:"delivered"`
	Pending     int64            `json:"pending"`
	Quarantined int64            `json:"quarantined"`
	Dropped     map[string]int64 `json:"dropped"`
	Duplicates  int64            `json:"duplicates"`
	// Holds: the identity held in a consistent reading.
	Holds bool `json:"holds"`
}

// ReadFunc reads one ledger now.
type ReadFunc func() Terms

type key struct{ component, signal string }

var (
	mu      sync.Mutex
	readers = map[key]ReadFunc{}
)

// Register makes read visible under the exporter's component ID (e.g.
// "otlp_retry/backend") and signal ("traces", "metrics", "logs"). The
// returned function removes it (idempotent).
func Register(component, signal string, read ReadFunc) (unregister func()) {
	k := key{component, signal}
	mu.Lock()
	readers[k] = read
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			delete(readers, k)
			mu.Unlock()
		})
	}
}

// All reads every registered ledger: component ID -> signal -> terms.
// Nil when none is registered.
func All() map[string]map[string]Terms {
	mu.Lock()
	keys := make([]key, 0, len(readers))
	reads := make([]ReadFunc, 0, len(readers))
	for k, r := range readers {
		keys = append(keys, k)
		reads = append(reads, r)
	}
	mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	out := make(map[string]map[string]Terms, len(keys))
	for i, k := range keys {
		// Read outside the lock: a read may take the ledger's own locks.
		if out[k.component] == nil {
			out[k.component] = map[string]Terms{}
		}
		out[k.component][k.signal] = reads[i]()
	}
	return out
}
