package monitoring

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// statusSample is what /status said of one component at one instant ("" when
// /status did not answer or did not list it).
type statusSample struct {
	at     time.Time
	status string
}

// statusWatch reads a pod's /status every second and keeps what it says of
// one component of one pipeline, as an operator polling it would see it.
type statusWatch struct {
	url, pipeline, component string

	mu      sync.Mutex
	samples []statusSample
	stop    chan struct{}
	done    chan struct{}
}

func watchStatus(url, pipeline, component string) *statusWatch {
	w := &statusWatch{url: url, pipeline: pipeline, component: component, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *statusWatch) sample() {
	at := time.Now()
	st := ""
	if code, body, err := harness.Get(w.url); err == nil && code == 200 {
		var v struct {
			Pipelines map[string]struct {
				Components map[string]struct {
					Status string `json:"status"`
				} `json:"components"`
			} `json:"pipelines"`
		}
		if json.Unmarshal([]byte(body), &v) == nil {
			st = v.Pipelines[w.pipeline].Components[w.component].Status
		}
	}
	w.mu.Lock()
	w.samples = append(w.samples, statusSample{at, st})
	w.mu.Unlock()
}

// Stop ends the sampling; it may be called more than once.
func (w *statusWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// between returns the samples taken in [from, to).
func (w *statusWatch) between(from, to time.Time) []statusSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []statusSample
	for _, s := range w.samples {
		if !s.at.Before(from) && s.at.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// firstOK is the first sample at or after from that reads "ok", if any.
func (w *statusWatch) firstOK(from time.Time) (time.Time, bool) {
	for _, s := range w.between(from, time.Now().Add(time.Hour)) {
		if s.status == "ok" {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// judgeFault checks what /status said while a fault that no attempt can
// succeed through lasted, from `from` to `to`: the component is reported
// not "ok" by notOKBy at the latest, and from its first non-OK sample on,
// no sample reads "ok" again (nothing succeeded, so nothing may clear it).
// It returns when the first non-OK sample was taken and a summary.
func judgeFault(samples []statusSample, from, notOKBy time.Time) (time.Duration, string, error) {
	var first time.Time
	answered, bad, okAfter := 0, 0, 0
	seen := map[string]int{}
	for _, s := range samples {
		if s.status == "" {
			continue // /status did not answer in time: says nothing
		}
		answered++
		seen[s.status]++
		if s.status == "ok" {
			if !first.IsZero() {
				okAfter++
			}
			continue
		}
		bad++
		if first.IsZero() {
			first = s.at
		}
	}
	summary := fmt.Sprintf("%d samples answered, %d not ok %v", answered, bad, seen)
	switch {
	case first.IsZero():
		return 0, summary, fmt.Errorf("/status said %v at every one of %d samples of the fault", seen, answered)
	case first.After(notOKBy):
		return first.Sub(from), summary, fmt.Errorf("/status first said not ok %.1f s into the fault, after %.1f s (when it must)",
			first.Sub(from).Seconds(), notOKBy.Sub(from).Seconds())
	case okAfter > 0:
		return first.Sub(from), summary, fmt.Errorf("/status said ok %d times after it first said not ok (%.1f s into the fault) while nothing could be delivered",
			okAfter, first.Sub(from).Seconds())
	}
	return first.Sub(from), summary, nil
}

// TestJudgeFault: the /status judgement of the black hole on samples made
// up as /status gave them: "ok" at every sample while nothing was
// delivered (issue 22's loaded black-hole run), not ok too late, ok again
// mid-fault, and runs that pass.
func TestJudgeFault(t *testing.T) {
	from := time.Unix(1000, 0)
	seq := func(states ...string) []statusSample {
		out := make([]statusSample, len(states))
		for i, st := range states {
			out[i] = statusSample{from.Add(time.Duration(i) * time.Second), st}
		}
		return out
	}
	for _, c := range []struct {
		name    string
		samples []statusSample
		by      time.Duration
		want    string        // "" passes
		first   time.Duration // when it passes
	}{
		{"ok throughout", seq("ok", "ok", "ok", "ok"), 3 * time.Second, "at every one of 4 samples", 0},
		{"not ok too late", seq("ok", "ok", "ok", "degraded"), 2 * time.Second, "first said not ok 3.0 s into the fault, after 2.0 s", 0},
		{"ok again mid-fault", seq("ok", "degraded", "ok", "degraded"), 3 * time.Second, "said ok 1 times after", 0},
		{"unanswered samples say nothing", seq("ok", "", "degraded", "", "degraded"), 3 * time.Second, "", 2 * time.Second},
		{"degraded from the second sample", seq("ok", "degraded", "degraded", "degraded"), 3 * time.Second, "", time.Second},
	} {
		first, summary, err := judgeFault(c.samples, from, from.Add(c.by))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v (%s)", c.name, err, summary)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error saying %q", c.name, err, c.want)
		case c.want == "" && first != c.first:
			t.Errorf("%s: first not ok after %s, want %s", c.name, first, c.first)
		}
	}
}
