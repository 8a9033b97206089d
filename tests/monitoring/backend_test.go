package monitoring

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// backendMode is what the switchable backend does with a connection.
type backendMode int32

const (
	backendUp        backendMode = iota // forwarded to the sink
	backendDown                         // closed at once: the backend is not there
	backendBlackHole                    // accepted, read, never answered
)

// backend is a harness sink behind a TCP switch on a loopback port that
// stays the same, so that a collector's endpoint never changes while the
// test takes the backend down, makes it a black hole, or brings it back.
type backend struct {
	*harness.Sink
	ln   net.Listener
	mode atomic.Int32
	// frozen: open connections stay established but nothing passes any
	// more, in either direction (a backend that hangs mid-stream).
	frozen atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	ln, err := harness.Listen()
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{Sink: harness.StartSink(t), ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); b.dropAll() })
	go b.serve()
	return b
}

// Endpoint is the host:port collectors export to.
func (b *backend) Endpoint() string { return b.ln.Addr().String() }

// Set switches the mode and drops every open connection, so that clients
// meet the new mode on their next connection.
func (b *backend) Set(m backendMode) {
	b.mode.Store(int32(m))
	b.frozen.Store(false)
	b.dropAll()
}

// Freeze makes the backend a black hole without closing what is open:
// established connections stay up and go silent, new ones are swallowed.
func (b *backend) Freeze() {
	b.mode.Store(int32(backendBlackHole))
	b.frozen.Store(true)
}

// pipe copies src to dst until either fails, discarding while frozen.
func (b *backend) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
}

func (b *backend) dropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
	clear(b.conns)
}

func (b *backend) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns[c] = struct{}{}
	return true
}

func (b *backend) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		switch backendMode(b.mode.Load()) {
		case backendDown:
			c.Close()
		case backendBlackHole:
			b.track(c)
			go func() { _, _ = io.Copy(io.Discard, c) }()
		default:
			up, err := net.Dial("tcp", b.GRPCEndpoint())
			if err != nil {
				c.Close()
				continue
			}
			b.track(c)
			b.track(up)
			go b.pipe(up, c)
			go b.pipe(c, up)
		}
	}
}
