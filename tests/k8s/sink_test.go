package k8s

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// gatewaySink is the backend of one gateway: a real OTLP gRPC receiver on
// the host end of that gateway's veth pair, recording every span ID it gets.
type gatewaySink struct {
	Endpoint string
	mu       sync.Mutex
	spans    map[string]int
	first    map[string]time.Time // when each span ID first arrived
}

func startGatewaySink(t *testing.T, hostIP string) *gatewaySink {
	t.Helper()
	s := &gatewaySink{Endpoint: fmt.Sprintf("%s:%d", hostIP, harness.FreePort(t)), spans: map[string]int{}, first: map[string]time.Time{}}
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = s.Endpoint
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), "sink")
	tc, _ := consumer.NewTraces(s.consume)
	r, err := f.CreateTraces(context.Background(), set, cfg, tc)
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("sink on %s: %v", s.Endpoint, err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return s
}

func (s *gatewaySink) consume(_ context.Context, td ptrace.Traces) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				id := sp.SpanID().String()
				if s.spans[id] == 0 {
					s.first[id] = now
				}
				s.spans[id]++
			}
		}
	}
	return nil
}

// snapshot copies what the sink received: span ID -> times, and when each
// first arrived.
func (s *gatewaySink) snapshot() (map[string]int, map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.spans))
	first := make(map[string]time.Time, len(s.first))
	for k, v := range s.spans {
		out[k] = v
		first[k] = s.first[k]
	}
	return out, first
}

func (s *gatewaySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.spans {
		n += v
	}
	return n
}
