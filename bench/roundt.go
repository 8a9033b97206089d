package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/otlpcol/otlpcol/tests/harness"
)

var _ harness.TB = (*roundT)(nil)

// roundT is one round's scope: the harness.TB the bench runs the collector
// under (harness.Start: its port picking, process handling and /proc
// readings, exactly as the tests have them). As in a test, Cleanup
// functions run when the round ends, last first; Fatalf and FailNow end
// the round (not the bench), Fatalf with that message. They must be called on the round's goroutine, as in a test.
type roundT struct {
	logf func(string, ...any)

	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

// roundAbort is the panic value of FailNow, recovered by run.
type roundAbort struct{}

func newRoundT(logf func(string, ...any)) *roundT { return &roundT{logf: logf} }

func (t *roundT) Helper() {}

func (t *roundT) Logf(format string, args ...any) { t.logf(format, args...) }

func (t *roundT) Fatalf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
	t.FailNow()
}

func (t *roundT) FailNow() { panic(roundAbort{}) }

func (t *roundT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}

func (t *roundT) fail(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, msg)
}

// err is the round's first failure, "" when it has none.
func (t *roundT) err() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.errs) == 0 {
		return ""
	}
	return t.errs[0]
}

func (t *roundT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// TempDir is a new directory, removed when the round ends.
func (t *roundT) TempDir() string {
	dir, err := os.MkdirTemp("", "otlpcol-bench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// run calls fn and returns when it does or when it calls FailNow.
func (t *roundT) run(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(roundAbort); !ok {
				panic(r)
			}
		}
	}()
	fn()
}

// finish runs the cleanups, last registered first; a cleanup that fails
// the round does not keep the others from running.
func (t *roundT) finish() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		t.run(f)
	}
}
