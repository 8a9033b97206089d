package admissionextension

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/tap"
)

// GetGRPCServerOptions admits each stream when its headers arrive (an
// InTapHandle runs on the transport before grpc-go reads, decompresses or
// decodes the message: later hooks, interceptors included, come after the
// memory is spent) and learns each message's real size from the stats
// handler's InPayload, delivered once it is decoded.
func (a *admission) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.InTapHandle(a.tap), grpc.StatsHandler(streamStats{})}, nil
}

// streamKey finds a stream's admission in its context.
type streamKey struct{}

// stream is one admitted gRPC stream's hold on the budget.
type stream struct {
	a      *admission
	cancel context.CancelFunc
	timer  *time.Timer

	mu       sync.Mutex
	held     int64
	decoded  bool
	released bool
}

// tap reserves StreamReservationBytes for the stream, or refuses it. It
// runs under the connection's lock, so it never waits: a stream that does
// not fit is answered at once, and its message is never read.
func (a *admission) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	n := a.cfg.StreamReservationBytes
	a.mu.Lock()
	cut := a.cut
	a.mu.Unlock()
	if cut {
		// Shutting down, past the drain: GracefulStop has told the
		// client (GOAWAY), this is one more stream it must not wait for.
		return nil, a.refusal
	}
	if !a.budget.TryTake(n) {
		a.tel.refused.Add(ctx, 1, transportGRPC)
		return nil, a.refusal
	}
	// The returned context becomes the stream's: cancelling it fails the
	// stream's reads (stalled client), and it ends when the stream does,
	// whichever way (answered, reset, connection gone).
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{a: a, cancel: cancel, held: n}
	s.timer = time.AfterFunc(a.cfg.StreamReadTimeout, s.stall)
	a.mu.Lock()
	a.streams[s] = struct{}{}
	a.mu.Unlock()
	context.AfterFunc(ctx, s.release)
	return context.WithValue(ctx, streamKey{}, s), nil
}

// gotMessage keeps only the decoded message's size.
func (s *stream) gotMessage(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released || s.decoded {
		return
	}
	s.decoded = true
	s.timer.Stop()
	// A message larger than the reservation cannot come in: the receiver
	// refuses it first, as long as the reservation is at least its
	// max_recv_msg_size_mib (see the README).
	if size < s.held {
		s.a.budget.Give(s.held - size)
		s.held = size
	}
}

// stall cancels a stream whose message did not arrive in time.
func (s *stream) stall() {
	s.mu.Lock()
	stalled := !s.decoded && !s.released
	s.mu.Unlock()
	if stalled {
		s.a.tel.stalled.Add(context.Background(), 1)
		s.cancel()
	}
}

// cutOff cancels the stream at shutdown unless its message is in; it
// reports whether it did. Called with the admission's lock held.
func (s *stream) cutOff() bool {
	s.mu.Lock()
	waiting := !s.decoded && !s.released
	s.mu.Unlock()
	if waiting {
		s.cancel()
	}
	return waiting
}

// release gives the stream's bytes back when it ends.
func (s *stream) release() {
	s.a.mu.Lock()
	delete(s.a.streams, s)
	s.a.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return
	}
	s.released = true
	s.timer.Stop()
	s.a.budget.Give(s.held)
	s.held = 0
}

// streamStats passes each decoded message's size to its stream.
type streamStats struct{}

func (streamStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (streamStats) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	p, ok := rs.(*stats.InPayload)
	if !ok {
		return
	}
	if s, ok := ctx.Value(streamKey{}).(*stream); ok {
		s.gotMessage(int64(p.Length))
	}
}

func (streamStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (streamStats) HandleConn(context.Context, stats.ConnStats) {}
