package monitoring

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// episode is one time an alert (name and pod) was pending or firing.
type episode struct {
	activeAt  time.Time // Prometheus: when the expression first held
	firedAt   time.Time // first poll that saw it firing
	resolved  time.Time // first poll that no longer saw it
	value     string
	pod       string
	alertname string
}

// tracker polls Prometheus's alerts and keeps every episode.
type tracker struct {
	p    *prometheus
	mu   sync.Mutex
	open map[string]*episode
	all  []*episode
	stop chan struct{}
	done chan struct{}
	errs int
}

const pollEvery = 200 * time.Millisecond

func startTracker(p *prometheus) *tracker {
	tr := &tracker{p: p, open: map[string]*episode{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			tr.poll()
		}
	}()
	return tr
}

func (tr *tracker) Stop() { close(tr.stop); <-tr.done }

func (tr *tracker) poll() {
	as, err := tr.p.alerts()
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil {
		tr.errs++
		return
	}
	seen := map[string]bool{}
	for _, a := range as {
		pod := a.Labels["pod"]
		if claim, ok := strings.CutPrefix(a.Labels["persistentvolumeclaim"], "data-"); ok && pod == "" {
			// A claim alert (kubelet volume stats) is about the
			// StatefulSet pod the claim belongs to: data-<pod>.
			pod = claim
		}
		key := a.Labels["alertname"] + "/" + pod + "/" + a.Labels["signal"] + "/" + a.Labels["reason"] + "/" + a.Labels["exporter"] + "/" + a.Labels["instance"]
		seen[key] = true
		e, ok := tr.open[key]
		if !ok {
			e = &episode{activeAt: a.ActiveAt, pod: pod, alertname: a.Labels["alertname"]}
			tr.open[key] = e
			tr.all = append(tr.all, e)
		}
		if a.State == "firing" && e.firedAt.IsZero() {
			e.firedAt = now
			e.value = a.Value
		}
	}
	for key, e := range tr.open {
		if !seen[key] {
			e.resolved = now
			delete(tr.open, key)
		}
	}
}

// fired returns the first episode of alert on pod that fired after since.
func (tr *tracker) fired(alert, pod string, since time.Time) *episode {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range tr.all {
		if e.alertname == alert && e.pod == pod && !e.firedAt.IsZero() && !e.firedAt.Before(since) {
			c := *e
			return &c
		}
	}
	return nil
}

// firingNow reports whether any episode of alert on pod is open and firing.
func (tr *tracker) firingNow(alert, pod string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range tr.open {
		if e.alertname == alert && e.pod == pod {
			return true
		}
	}
	return false
}

// firedFor returns every episode that fired for one of pods between from and to.
func (tr *tracker) firedFor(pods map[string]bool, from, to time.Time) []episode {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []episode
	for _, e := range tr.all {
		if pods[e.pod] && !e.firedAt.IsZero() && !e.firedAt.Before(from) && !e.firedAt.After(to) {
			out = append(out, *e)
		}
	}
	return out
}

func fmtSscan(s string, f *float64) (int, error) { return fmt.Sscan(s, f) }
