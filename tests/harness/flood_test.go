package harness

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestStreamFloodCountsEveryAnswer: against a real gRPC server that
// refuses streams over its limit (RST_STREAM) and ends every other one
// after a read timeout (a status), StreamFlood opens every stream it was
// asked for and sees an answer for each. Its writes share one framer with
// the reader's SETTINGS and PING acknowledgements, and the server pings as
// data arrives: unserialized writes interleave bytes on the wire, the
// server closes the connection on the garbled frame, and streams go
// unanswered (a chaos campaign's flood step under heavy load).
func TestStreamFloodCountsEveryAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.MaxConcurrentStreams(60), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		// The body never comes: answer after a read timeout.
		select {
		case <-stream.Context().Done():
		case <-time.After(300 * time.Millisecond):
		}
		return status.Error(codes.Canceled, "stream read timeout")
	}))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	for round := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		opened, answers, err := StreamFlood(ctx, ln.Addr().String(), 20, 100, 1<<20)
		cancel()
		require.NoError(t, err)
		require.Equal(t, 2000, opened, "round %d: answers %v", round, answers)
		n := 0
		for _, v := range answers {
			n += v
		}
		require.Equal(t, opened, n, "round %d: answers %v", round, answers)
	}
}
