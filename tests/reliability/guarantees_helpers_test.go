package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// flakySink is a real OTLP/gRPC backend (the collector's otlpreceiver) that
// refuses a share of the requests at random with Unavailable, like the
// contrib testbed's RandomNonPermanentError backend, and records the span
// IDs of the requests it accepts.
type flakySink struct {
	port     int
	failRate atomic.Uint64 // refusals per thousand requests
	mu       sync.Mutex
	spans    map[string]int
	rnd      *rand.Rand
}

func startFlakySink(t *testing.T, failPerMille uint64) *flakySink {
	t.Helper()
	s := &flakySink{port: harness.FreePort(t), spans: map[string]int{}, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	s.failRate.Store(failPerMille)
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", s.port)
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), "flaky")
	next, err := consumer.NewTraces(s.consume)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.CreateTraces(context.Background(), set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("flaky sink start: %v", err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return s
}

func (s *flakySink) endpoint() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *flakySink) consume(_ context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if uint64(s.rnd.IntN(1000)) < s.failRate.Load() {
		return status.Error(codes.Unavailable, "flaky test backend: random refusal")
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s.spans[spans.At(k).SpanID().String()]++
			}
		}
	}
	return nil
}

func (s *flakySink) SpanIDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.spans))
	for k, v := range s.spans {
		out[k] = v
	}
	return out
}

// waitDeliveredTo waits until every sent span reached received() or timeout.
func waitDeliveredTo(sent []string, timeout time.Duration, received func() map[string]int) tally {
	deadline := time.Now().Add(timeout)
	for {
		tl := count(sent, received())
		if tl.lost == 0 || time.Now().After(deadline) {
			return tl
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// healthWatch polls /health every 200ms until stopped and remembers every
// answer that was not 200.
type healthWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	bad  []string
}

func watchHealth(c *harness.Collector) *healthWatch {
	w := &healthWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			code, body, err := harness.Get(c.HealthURL("/health"))
			if err != nil || code != 200 {
				w.mu.Lock()
				w.bad = append(w.bad, fmt.Sprintf("%d %q %v", code, body, err))
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the non-200 answers seen.
func (w *healthWatch) Stop() []string {
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
