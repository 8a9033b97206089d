package harness

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
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// Sink is a real OTLP backend for tests: the collector's own otlpreceiver,
// in the test process, on loopback gRPC and HTTP ports, recording what it
// receives. SetFailure makes it refuse data, to simulate an outage;
// SetFailureRate refuses a share of the exports at random, a flaky backend.
type Sink struct {
	GRPCPort int
	HTTPPort int

	mu      sync.Mutex
	spans   map[string]int // span ID (hex) -> times received
	traces  []ptrace.Traces
	metrics int
	logs    int
	fail    atomic.Pointer[failure]

	receivers []receiver.Traces
	mrecv     receiver.Metrics
	lrecv     receiver.Logs
}

// StartSink starts a Sink on fresh loopback ports (see Port), trying other
// ports should one be taken all the same; it stops when the test ends.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{spans: map[string]int{}}
	var err error
	for range maxBindTries {
		s.GRPCPort, s.HTTPPort = FreePort(t), FreePort(t)
		notePicked(s.GRPCPort, s.HTTPPort)
		if err = s.start(); !IsAddrInUse(err) {
			break
		}
		t.Logf("sink could not bind (%v): trying fresh ports", err)
	}
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Sink) start() error {
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", s.GRPCPort)
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", s.HTTPPort)
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), "sink")
	ctx := context.Background()
	tc, _ := consumer.NewTraces(s.consumeTraces)
	mc, _ := consumer.NewMetrics(s.consumeMetrics)
	lc, _ := consumer.NewLogs(s.consumeLogs)
	tr, err := f.CreateTraces(ctx, set, cfg, tc)
	if err != nil {
		return fmt.Errorf("traces: %w", err)
	}
	mr, err := f.CreateMetrics(ctx, set, cfg, mc)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	lr, err := f.CreateLogs(ctx, set, cfg, lc)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	// The otlp factory shares one receiver between signals: starting it once
	// serves all three. A failed start has shut down what it started.
	if err := tr.Start(ctx, componenttest.NewNopHost()); err != nil {
		_ = tr.Shutdown(ctx)
		return fmt.Errorf("start: %w", err)
	}
	s.receivers, s.mrecv, s.lrecv = []receiver.Traces{tr}, mr, lr
	return nil
}

// Stop shuts the sink down (safe to call twice).
func (s *Sink) Stop() {
	for _, r := range s.receivers {
		_ = r.Shutdown(context.Background())
	}
	s.receivers = nil
}

// GRPCEndpoint is host:port of the sink's gRPC receiver.
func (s *Sink) GRPCEndpoint() string { return fmt.Sprintf("127.0.0.1:%d", s.GRPCPort) }

// HTTPEndpoint is the base URL of the sink's HTTP receiver.
func (s *Sink) HTTPEndpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", s.HTTPPort) }

// failure is how the sink refuses: err for perMille of every thousand
// exports, chosen at random.
type failure struct {
	err      error
	perMille int
}

// SetFailure makes every export fail with err (nil: accept again). A plain
// error is answered as retryable (gRPC Unavailable, HTTP 503); wrap it with
// consumererror.NewPermanent for a permanent refusal.
func (s *Sink) SetFailure(err error) { s.SetFailureRate(err, 1000) }

// SetFailureRate makes perMille of every thousand exports fail with err, at
// random (each export on its own), like the contrib testbed's
// RandomNonPermanentError backend. A nil err or a perMille of 0 accepts
// everything again.
func (s *Sink) SetFailureRate(err error, perMille int) {
	if err == nil || perMille <= 0 {
		s.fail.Store(nil)
		return
	}
	s.fail.Store(&failure{err: err, perMille: perMille})
}

func (s *Sink) failure() error {
	f := s.fail.Load()
	if f == nil || f.perMille < 1000 && rand.IntN(1000) >= f.perMille {
		return nil
	}
	return f.err
}

func (s *Sink) consumeTraces(_ context.Context, td ptrace.Traces) error {
	if err := s.failure(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	s.traces = append(s.traces, cp)
	for sp := range Spans(td) {
		s.spans[sp.SpanID().String()]++
	}
	return nil
}

func (s *Sink) consumeMetrics(_ context.Context, md pmetric.Metrics) error {
	if err := s.failure(); err != nil {
		return err
	}
	s.mu.Lock()
	s.metrics += md.DataPointCount()
	s.mu.Unlock()
	return nil
}

func (s *Sink) consumeLogs(_ context.Context, ld plog.Logs) error {
	if err := s.failure(); err != nil {
		return err
	}
	s.mu.Lock()
	s.logs += ld.LogRecordCount()
	s.mu.Unlock()
	return nil
}

// SpanCount is the number of distinct spans received.
func (s *Sink) SpanCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.spans)
}

// Duplicates is the number of span deliveries beyond the first of each span.
func (s *Sink) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, n := range s.spans {
		d += n - 1
	}
	return d
}

// SpanIDs returns the received span IDs with how often each arrived.
func (s *Sink) SpanIDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.spans))
	for k, v := range s.spans {
		out[k] = v
	}
	return out
}

// Traces returns copies of every traces batch received, in order.
func (s *Sink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// MetricPoints and LogRecords count what arrived of the other signals.
func (s *Sink) MetricPoints() int { s.mu.Lock(); defer s.mu.Unlock(); return s.metrics }

// LogRecords counts the log records received.
func (s *Sink) LogRecords() int { s.mu.Lock(); defer s.mu.Unlock(); return s.logs }

// WaitSpans waits until at least n distinct spans arrived or timeout passes,
// and returns the count seen.
func (s *Sink) WaitSpans(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		got := s.SpanCount()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}
