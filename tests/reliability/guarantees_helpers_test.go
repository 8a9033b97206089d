package reliability

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// flakyRefusal is what the flaky backend answers to the requests it
// refuses, like the contrib testbed's RandomNonPermanentError backend.
var flakyRefusal = status.Error(codes.Unavailable, "flaky test backend: random refusal")

// startFlakySink is a sink refusing perMille of every thousand requests at
// random with flakyRefusal.
func startFlakySink(t *testing.T, perMille int) *harness.Sink {
	t.Helper()
	s := harness.StartSink(t)
	s.SetFailureRate(flakyRefusal, perMille)
	return s
}

// startGuarantees runs testdata/guarantees.yaml exporting to endpoint.
func startGuarantees(t *testing.T, endpoint string, set ...string) *harness.Collector {
	t.Helper()
	c := harness.Start(t, testdata("guarantees.yaml"), harness.Options{
		Set: set,
		Env: []string{"SINK_ENDPOINT=" + endpoint},
	})
	c.WaitReady(30 * time.Second)
	return c
}

// probeWatch polls one of a collector's probes until stopped and remembers
// every answer that was not 200.
type probeWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	bad  []string
}

// watchHealth polls /health every 200 ms.
func watchHealth(c *harness.Collector) *probeWatch {
	return watchProbe(c.HealthURL("/health"), 200*time.Millisecond)
}

// watchReady polls /ready every 250 ms.
func watchReady(c *harness.Collector) *probeWatch {
	return watchProbe(c.HealthURL("/ready"), 250*time.Millisecond)
}

func watchProbe(url string, every time.Duration) *probeWatch {
	w := &probeWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			code, body, err := harness.Get(url)
			if err != nil || code != http.StatusOK {
				w.mu.Lock()
				w.bad = append(w.bad, fmt.Sprintf("%d %q %v", code, strings.TrimSpace(body), err))
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the non-200 answers seen (safe to call
// twice).
func (w *probeWatch) Stop() []string {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bad...)
}
