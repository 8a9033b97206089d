package otlptraffic

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
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

// SinkConfig says where a Sink listens.
type SinkConfig struct {
	// Host is the address to listen on; 127.0.0.1 when empty.
	Host string
	// GRPCPort is the OTLP/gRPC port. It must be set: the receiver cannot
	// tell which port the kernel would pick for 0.
	GRPCPort int
	// HTTPPort is the OTLP/HTTP port; 0 serves gRPC only.
	HTTPPort int
}

// Sink is a real OTLP backend: the collector's own otlpreceiver, in this
// process, recording what it receives (every span ID with how often and
// when it first arrived, copies of the trace batches, counts of metric
// points and log records). SetFailure makes it refuse data, to simulate an
// outage; SetFailureRate refuses a share of the exports at random, a flaky
// backend.
type Sink struct {
	Host     string
	GRPCPort int
	HTTPPort int // 0: no HTTP

	mu      sync.Mutex
	spans   map[string]int       // span ID (hex) -> times received
	first   map[string]time.Time // span ID (hex) -> first arrival
	traces  []ptrace.Traces
	metrics int
	logs    int
	fail    atomic.Pointer[failure]

	recv receiver.Traces // the otlp factory shares one receiver between signals
}

// NewSink returns a Sink that is not listening: consume calls reach it
// directly (unit tests of its bookkeeping).
func NewSink() *Sink {
	return &Sink{Host: "127.0.0.1", spans: map[string]int{}, first: map[string]time.Time{}}
}

// StartSink starts a Sink on cfg's ports. A port taken by another process
// fails it with the bind error ("address already in use"), for the caller to try
// other ports.
func StartSink(cfg SinkConfig) (*Sink, error) {
	s := NewSink()
	if cfg.Host != "" {
		s.Host = cfg.Host
	}
	s.GRPCPort, s.HTTPPort = cfg.GRPCPort, cfg.HTTPPort
	if s.GRPCPort <= 0 {
		return nil, fmt.Errorf("sink: GRPCPort must be set, got %d", s.GRPCPort)
	}
	f := otlpreceiver.NewFactory()
	rc := f.CreateDefaultConfig().(*otlpreceiver.Config)
	rc.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = s.GRPCEndpoint()
	if s.HTTPPort > 0 {
		rc.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = net.JoinHostPort(s.Host, strconv.Itoa(s.HTTPPort))
	}
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), "sink")
	ctx := context.Background()
	tc, _ := consumer.NewTraces(s.consumeTraces)
	mc, _ := consumer.NewMetrics(s.consumeMetrics)
	lc, _ := consumer.NewLogs(s.consumeLogs)
	tr, err := f.CreateTraces(ctx, set, rc, tc)
	if err != nil {
		return nil, fmt.Errorf("sink traces: %w", err)
	}
	if _, err := f.CreateMetrics(ctx, set, rc, mc); err != nil {
		return nil, fmt.Errorf("sink metrics: %w", err)
	}
	if _, err := f.CreateLogs(ctx, set, rc, lc); err != nil {
		return nil, fmt.Errorf("sink logs: %w", err)
	}
	// Starting the shared receiver once serves all three signals. A failed
	// start has shut down what it started.
	if err := tr.Start(ctx, componenttest.NewNopHost()); err != nil {
		_ = tr.Shutdown(ctx)
		return nil, fmt.Errorf("sink on %s: %w", s.GRPCEndpoint(), err)
	}
	s.recv = tr
	return s, nil
}

// Stop shuts the sink down (safe to call twice).
func (s *Sink) Stop() error {
	s.mu.Lock()
	r := s.recv
	s.recv = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Shutdown(context.Background())
}

// GRPCEndpoint is host:port of the sink's gRPC receiver.
func (s *Sink) GRPCEndpoint() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.GRPCPort)) }

// HTTPEndpoint is the base URL of the sink's HTTP receiver.
func (s *Sink) HTTPEndpoint() string {
	return "http://" + net.JoinHostPort(s.Host, strconv.Itoa(s.HTTPPort))
}

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
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	s.traces = append(s.traces, cp)
	for sp := range Spans(td) {
		id := sp.SpanID().String()
		if s.spans[id] == 0 {
			s.first[id] = now
		}
		s.spans[id]++
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

// Received is the number of span deliveries, duplicates included.
func (s *Sink) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.spans {
		n += c
	}
	return n
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
	return maps.Clone(s.spans)
}

// FirstArrivals returns when each received span ID first arrived.
func (s *Sink) FirstArrivals() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.first)
}

// Traces returns copies of every traces batch received, in order.
func (s *Sink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// MetricPoints counts the metric data points received.
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

// Spans yields every span of td, resource by resource and scope by scope.
func Spans(td ptrace.Traces) iter.Seq[ptrace.Span] {
	return func(yield func(ptrace.Span) bool) {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if !yield(sp) {
						return
					}
				}
			}
		}
	}
}
