package admissionextension

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestShutdownCutsOffSlowClients: a real OTLP receiver with an HTTP body
// trickling in and a gRPC stream whose message never comes. Its Shutdown
// waits for both (HTTP Shutdown and GracefulStop have no deadline) until
// the cut-off, shutdown_grace after shutdown began (no drain here): then
// the HTTP client is answered 503 with Retry-After and the stream is
// cancelled, and Shutdown returns.
func TestShutdownCutsOffSlowClients(t *testing.T) {
	const grace = 300 * time.Millisecond
	cfg := createDefaultConfig().(*Config)
	cfg.StreamReadTimeout = time.Hour
	cfg.ShutdownGrace = grace
	grpcAddr, httpAddr, a, r := newReceiver(t, cfg, new(consumertest.TracesSink))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = r.Shutdown(context.Background())
		}
	})

	// HTTP: headers and 10 of 1000 body bytes, then nothing.
	hc, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", httpAddr)
	require.NoError(t, err)
	defer hc.Close()
	_, err = hc.Write([]byte("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n0123456789"))
	require.NoError(t, err)

	// gRPC: a stream opened (headers sent), its message never.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	cs, err := conn.NewStream(sctx, &grpc.StreamDesc{}, "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
	require.NoError(t, err)
	streamErr := make(chan error, 1)
	go func() {
		streamErr <- cs.RecvMsg(new(emptypb.Empty))
	}()
	require.Eventually(t, func() bool { return a.budget.InFlight() >= cfg.StreamReservationBytes+10 },
		10*time.Second, 5*time.Millisecond, "both requests admitted (a read in wait holds what it asked for)")

	// Shutdown begins; with no drain, the grace starts now.
	require.NoError(t, a.NotReady())
	start := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	stopped = true
	took := time.Since(start)
	t.Logf("receiver shutdown with a slow HTTP body and a half-open gRPC stream took %s (shutdown_grace %s)", took.Round(time.Millisecond), grace)
	require.GreaterOrEqual(t, took, grace-50*time.Millisecond, "cut off before the grace")
	require.Less(t, took, grace+5*time.Second)

	require.NoError(t, hc.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(hc), nil)
	require.NoError(t, err, "the cut-off HTTP client got no answer")
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))

	select {
	case err := <-streamErr:
		require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the half-open stream was not ended")
	}
	require.Eventually(t, func() bool { return a.budget.InFlight() == 0 }, 5*time.Second, time.Millisecond)

	// Past the cut-off, new streams are refused at once (retryably).
	_, err = a.tap(context.Background(), &tap.Info{})
	requireRetryable(t, err)
}

// drainer stands in for the health extension: it says when its drain is
// over.
type drainer struct {
	component.Component
	hooks []func()
}

func (d *drainer) OnDrained(f func()) { d.hooks = append(d.hooks, f) }

// TestCutOffWaitsForTheDrain: with a drain to wait for, the grace starts
// when the drain is over, not when shutdown begins.
func TestCutOffWaitsForTheDrain(t *testing.T) {
	a := newTestAdmission(t, func(c *Config) { c.ShutdownGrace = 20 * time.Millisecond; c.StreamReadTimeout = time.Hour })
	d := &drainer{}
	host := receiverHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{component.MustNewID("health"): d}}
	require.NoError(t, a.Start(context.Background(), host))
	require.Len(t, d.hooks, 1)
	ctx, err := a.tap(context.Background(), &tap.Info{})
	require.NoError(t, err)

	require.NoError(t, a.NotReady())
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, ctx.Err(), "cut off during the drain")
	s, err := a.tap(context.Background(), &tap.Info{})
	require.NoError(t, err, "refused during the drain")

	d.hooks[0]()
	for _, c := range []context.Context{ctx, s} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("stream not cut off after the drain and the grace")
		}
	}
	_, err = a.tap(context.Background(), &tap.Info{})
	requireRetryable(t, err)
}
