package otlptraffic

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Send is one request of a worker and what to do with its answer.
type Send struct {
	Req ptraceotlp.ExportRequest
	// Done, when set, is told the answer (err nil: the collector said OK;
	// resp may still report rejected spans). It runs on the worker's
	// goroutine before the worker asks for its next request.
	Done func(resp ptraceotlp.ExportResponse, err error)
}

// LoadConfig is what a Load sends, where, and how fast.
type LoadConfig struct {
	// Endpoint is the collector's OTLP/gRPC receiver, host:port.
	Endpoint string
	// Conns is the number of gRPC connections the workers share in turn;
	// 1 when 0.
	Conns int
	// Workers is the number of goroutines that send, each one request at a
	// time; 1 when 0.
	Workers int
	// Next gives worker w's next request; false ends that worker. It is
	// called on the worker's goroutine, so a worker may reuse its own
	// request (rewrite it in place) from one call to the next.
	Next func(w int) (Send, bool)
	// MaxRequests ends each worker after that many requests; 0: until
	// Stop or Next says so.
	MaxRequests int
	// Pause is how long a worker waits after each answer (Stop cuts it
	// short).
	Pause time.Duration
	// PauseAfterError is how long a worker waits after a failed request,
	// when longer than Pause: a refused load backs off a little.
	PauseAfterError time.Duration
	// Deadline bounds each request; 10 s when 0.
	Deadline time.Duration
}

// Load sends OTLP/gRPC trace requests to a collector from a few workers,
// each as fast as the collector answers, or paced (Pause after each answer,
// or Pace for a rate shared by all workers). What the requests carry and
// what is kept of the answers is the caller's (LoadConfig.Next, Send.Done).
type Load struct {
	cfg     LoadConfig
	conns   []*grpc.ClientConn
	clients []ptraceotlp.GRPCClient

	requests atomic.Int64
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	// interval > 0 paces the workers together to one request per interval
	// (see Pace); next is the next request's slot, UnixNano.
	interval atomic.Int64
	next     atomic.Int64
}

// NewLoad connects to cfg.Endpoint; Start sends.
func NewLoad(cfg LoadConfig) (*Load, error) {
	if cfg.Next == nil {
		return nil, errors.New("load: Next must be set")
	}
	cfg.Conns, cfg.Workers = max(cfg.Conns, 1), max(cfg.Workers, 1)
	cfg.Deadline = cmp.Or(cfg.Deadline, 10*time.Second)
	l := &Load{cfg: cfg, stop: make(chan struct{})}
	for range cfg.Conns {
		conn, err := grpc.NewClient(cfg.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			l.Close()
			return nil, err
		}
		l.conns = append(l.conns, conn)
		l.clients = append(l.clients, ptraceotlp.NewGRPCClient(conn))
	}
	return l, nil
}

// StartLoad is NewLoad and Start.
func StartLoad(cfg LoadConfig) (*Load, error) {
	l, err := NewLoad(cfg)
	if err != nil {
		return nil, err
	}
	l.Start()
	return l, nil
}

// WaitReady sends empty requests until the collector's receiver answers OK,
// exited (when set) reports the collector gone, or timeout passes.
func (l *Load) WaitReady(timeout time.Duration, exited func() bool) error {
	deadline := time.Now().Add(timeout)
	err := errors.New("no answer")
	for time.Now().Before(deadline) {
		if exited != nil && exited() {
			return errors.New("collector exited")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = l.clients[0].Export(ctx, ptraceotlp.NewExportRequestFromTraces(ptrace.NewTraces()))
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Pace limits the load to requestsPerSec requests a second, shared by all
// workers; a worker that falls behind (the collector refusing or slow) does
// not make up for more than a second of it in a burst. 0 removes the limit.
func (l *Load) Pace(requestsPerSec float64) {
	if requestsPerSec <= 0 {
		l.interval.Store(0)
		return
	}
	l.next.Store(time.Now().UnixNano())
	l.interval.Store(int64(float64(time.Second) / requestsPerSec))
}

// wait blocks until the worker's next paced slot; it returns at once when
// the load is not paced.
func (l *Load) wait() {
	iv := l.interval.Load()
	if iv <= 0 {
		return
	}
	now := time.Now().UnixNano()
	slot := l.next.Add(iv) - iv
	if slot < now-int64(time.Second) {
		l.next.Store(now + iv)
		slot = now
	}
	if d := time.Duration(slot - now); d > 0 {
		time.Sleep(d)
	}
}

// Start launches the workers.
func (l *Load) Start() {
	for w := range l.cfg.Workers {
		l.wg.Add(1)
		go l.worker(w, l.clients[w%len(l.clients)])
	}
}

// Requests is the number of requests answered so far (OK or not).
func (l *Load) Requests() int64 { return l.requests.Load() }

// Wait waits until every worker has ended by itself (MaxRequests, or Next
// said so).
func (l *Load) Wait() { l.wg.Wait() }

// Stop ends the workers after their request in flight and waits for them
// (safe to call twice).
func (l *Load) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// Close stops the load and closes its connections (safe to call twice).
func (l *Load) Close() {
	l.Stop()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

func (l *Load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Load) worker(w int, client ptraceotlp.GRPCClient) {
	defer l.wg.Done()
	for i := 0; l.cfg.MaxRequests == 0 || i < l.cfg.MaxRequests; i++ {
		if l.stopped() {
			return
		}
		l.wait()
		s, ok := l.cfg.Next(w)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Deadline)
		resp, err := client.Export(ctx, s.Req)
		cancel()
		l.requests.Add(1)
		if s.Done != nil {
			s.Done(resp, err)
		}
		pause := l.cfg.Pause
		if err != nil {
			pause = max(pause, l.cfg.PauseAfterError)
		}
		if pause > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(pause):
			}
		}
	}
}
