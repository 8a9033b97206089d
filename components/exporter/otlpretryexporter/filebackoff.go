package otlpretryexporter

import (
	"sync"
	"time"
)

// fileBackoff is the replay's pace for each dead-letter file the backend
// refused on its own (a permanent refusal: the backend answered, and
// sending the same file again soon will not change its answer). Such a
// file is skipped by the replay until its backoff has passed: the first
// wait is dead_letter::replay_interval, doubled at each refusal up to
// maxFileBackoffFactor times it. The files behind it are replayed
// meanwhile, and successes of other data do not re-send it. The state is
// in memory: after a restart every file is tried once more.
type fileBackoff struct {
	base, max time.Duration

	mu    sync.Mutex
	files map[string]fileRetry // file name -> its refusals
}

type fileRetry struct {
	failures int
	next     time.Time
}

// maxFileBackoffFactor caps a file's backoff at this many replay
// intervals (8 minutes at the default 30 s).
const maxFileBackoffFactor = 16

func newFileBackoff(base time.Duration) *fileBackoff {
	return &fileBackoff{base: base, max: maxFileBackoffFactor * base, files: map[string]fileRetry{}}
}

// due says whether name may be replayed at now.
func (b *fileBackoff) due(name string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.files[name]
	return !ok || !now.Before(f.next)
}

// refused records a refusal of name at now and returns its next wait.
func (b *fileBackoff) refused(name string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.files[name]
	wait := b.base
	for i := 0; i < f.failures && wait < b.max; i++ {
		wait *= 2
	}
	wait = min(wait, b.max)
	f.failures++
	f.next = now.Add(wait)
	b.files[name] = f
	return wait
}

// forget drops name's state: it left the dead letter.
func (b *fileBackoff) forget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.files, name)
}
