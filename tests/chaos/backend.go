package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // otlp_retry sends gzip
	"google.golang.org/grpc/status"
)

// Mode is how the backend answers during a step.
type Mode string

// The backend's modes. A strict google.golang.org/protobuf server refuses
// a request carrying invalid UTF-8 in a string field with gRPC Internal in
// every mode: that is the marker refusal, not a mode of its own.
const (
	ModeNormal    Mode = "normal"
	ModeDown      Mode = "down"      // nothing listens: connection refused
	ModeBlackHole Mode = "blackhole" // accepts the connection, never answers
	ModeSlow      Mode = "slow"      // answers after slowDelay
	ModeFlaky     Mode = "flaky"     // 50% Unavailable
	ModeAuth      Mode = "auth"      // Unauthenticated (HTTP 401's gRPC twin)
	ModeSizeLimit Mode = "sizelimit" // MaxRecvMsgSize below the gateway's batch
)

const (
	slowDelay = 1500 * time.Millisecond
	// sizeLimit is below a batch of the gateway (batch_size items of ~300
	// bytes) and above the largest single item the clients send.
	sizeLimit = 96 << 10
)

// Backend is the OTLP backend behind the gateways: the generated
// go.opentelemetry.io/proto/otlp services on a real gRPC server (so it
// decodes as strictly as a production backend), recording every item's
// chaos.id with how often it arrived. Its mode is switched per step; the
// port stays the same.
type Backend struct {
	port int

	mu       sync.Mutex
	mode     Mode
	srv      *grpc.Server
	hole     net.Listener
	held     []net.Conn
	got      map[string]int // item key -> deliveries
	refused  int            // marker requests refused as Internal
	received int            // requests accepted
}

// NewBackend starts a backend in normal mode on port.
func NewBackend(port int) (*Backend, error) {
	b := &Backend{port: port, mode: ModeNormal, got: map[string]int{}}
	if err := b.serve(0); err != nil {
		return nil, err
	}
	return b, nil
}

// Endpoint is host:port of the backend.
func (b *Backend) Endpoint() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// listen binds the backend's port, retrying briefly: the port was closed a
// moment ago by the previous mode.
func (b *Backend) listen() (net.Listener, error) {
	var err error
	for range 50 {
		var l net.Listener
		if l, err = net.Listen("tcp", b.Endpoint()); err == nil {
			return l, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// serve starts the gRPC server (maxRecv 0: grpc-go's default, 4 MiB).
// Called with b.mu held or before b is shared.
func (b *Backend) serve(maxRecv int) error {
	l, err := b.listen()
	if err != nil {
		return fmt.Errorf("backend listen: %w", err)
	}
	var opts []grpc.ServerOption
	if maxRecv > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(maxRecv))
	}
	s := grpc.NewServer(opts...)
	coltrace.RegisterTraceServiceServer(s, traceSvc{b: b})
	colmetrics.RegisterMetricsServiceServer(s, metricsSvc{b: b})
	collogs.RegisterLogsServiceServer(s, logsSvc{b: b})
	b.srv = s
	go func() { _ = s.Serve(l) }()
	return nil
}

// blackHole listens and holds every connection without a byte of answer.
func (b *Backend) blackHole() error {
	l, err := b.listen()
	if err != nil {
		return fmt.Errorf("black hole listen: %w", err)
	}
	b.hole = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.held = append(b.held, c)
			b.mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return nil
}

// stopLocked ends whatever listens now.
func (b *Backend) stopLocked() {
	if b.srv != nil {
		b.srv.Stop()
		b.srv = nil
	}
	if b.hole != nil {
		_ = b.hole.Close()
		b.hole = nil
	}
	for _, c := range b.held {
		_ = c.Close()
	}
	b.held = nil
}

// SetMode switches the backend to m.
func (b *Backend) SetMode(m Mode) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	restart := m == ModeDown || m == ModeBlackHole || m == ModeSizeLimit ||
		b.mode == ModeDown || b.mode == ModeBlackHole || b.mode == ModeSizeLimit
	b.mode = m
	if !restart {
		return nil
	}
	b.stopLocked()
	switch m {
	case ModeDown:
		return nil
	case ModeBlackHole:
		return b.blackHole()
	case ModeSizeLimit:
		return b.serve(sizeLimit)
	default:
		return b.serve(0)
	}
}

// Stop ends the backend.
func (b *Backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked()
}

// answer is the mode's verdict on a request, before it is recorded.
func (b *Backend) answer(ctx context.Context) error {
	b.mu.Lock()
	m := b.mode
	b.mu.Unlock()
	switch m {
	case ModeSlow:
		select {
		case <-time.After(slowDelay):
		case <-ctx.Done():
			return status.Error(codes.DeadlineExceeded, "slow backend: caller gave up")
		}
	case ModeFlaky:
		if rand.IntN(2) == 0 {
			return status.Error(codes.Unavailable, "flaky backend (chaos)")
		}
	case ModeAuth:
		return status.Error(codes.Unauthenticated, "bad credentials (chaos)")
	}
	return nil
}

func (b *Backend) record(keys []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.received++
	for _, k := range keys {
		b.got[k]++
	}
}

// Has reports which of keys arrived.
func (b *Backend) Has(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[key] > 0
}

// Snapshot returns a copy of what arrived: key -> deliveries.
func (b *Backend) Snapshot() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.got))
	for k, v := range b.got {
		out[k] = v
	}
	return out
}

type traceSvc struct {
	coltrace.UnimplementedTraceServiceServer
	b *Backend
}

func (s traceSvc) Export(ctx context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	if err := s.b.answer(ctx); err != nil {
		return nil, err
	}
	var keys []string
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				keys = appendKey(keys, sigTraces, sp.GetAttributes())
			}
		}
	}
	s.b.record(keys)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

type metricsSvc struct {
	colmetrics.UnimplementedMetricsServiceServer
	b *Backend
}

func (s metricsSvc) Export(ctx context.Context, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	if err := s.b.answer(ctx); err != nil {
		return nil, err
	}
	var keys []string
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				for _, dp := range m.GetGauge().GetDataPoints() {
					keys = appendKey(keys, sigMetrics, dp.GetAttributes())
				}
				for _, dp := range m.GetSum().GetDataPoints() {
					keys = appendKey(keys, sigMetrics, dp.GetAttributes())
				}
			}
		}
	}
	s.b.record(keys)
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

type logsSvc struct {
	collogs.UnimplementedLogsServiceServer
	b *Backend
}

func (s logsSvc) Export(ctx context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	if err := s.b.answer(ctx); err != nil {
		return nil, err
	}
	var keys []string
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				keys = appendKey(keys, sigLogs, lr.GetAttributes())
			}
		}
	}
	s.b.record(keys)
	return &collogs.ExportLogsServiceResponse{}, nil
}

// appendKey appends the item's key when it carries a chaos.id (data from
// outside the campaign's clients, none expected, is not tracked).
func appendKey(keys []string, sig string, attrs []*commonpb.KeyValue) []string {
	for _, kv := range attrs {
		if kv.GetKey() == idAttr {
			return append(keys, sig+":"+kv.GetValue().GetStringValue())
		}
	}
	return keys
}
