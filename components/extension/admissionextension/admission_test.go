package admissionextension

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/otlpcol/otlpcol/components/extension/admissionextension/internal/metadata"
)

func newTestAdmission(t *testing.T, mutate func(*Config)) *admission {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	mutate(cfg)
	require.NoError(t, cfg.Validate())
	a, err := newAdmission(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Shutdown(context.Background())) })
	return a
}

// requireRetryable checks err is Unavailable with a RetryInfo.
func requireRetryable(t *testing.T, err error) {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status: %v", err)
	require.Equal(t, codes.Unavailable, st.Code(), "%v", err)
	var found bool
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			found = ri.GetRetryDelay().AsDuration() == time.Second
		}
	}
	require.True(t, found, "no RetryInfo of 1s in %v", st.Details())
}

// TestTapReservesAndReleases: a stream reserves a whole message when it
// opens; one that does not fit is refused retryably; the stream keeps only
// its message's size once decoded, and gives everything back when it ends.
func TestTapReservesAndReleases(t *testing.T) {
	a := newTestAdmission(t, func(c *Config) {
		c.MaxInFlightBytes, c.StreamReservationBytes = 32<<20, 16<<20
		c.StreamReadTimeout = time.Hour
	})
	info := &tap.Info{FullMethodName: "/x/y"}
	ctx1, cancel1 := context.WithCancel(context.Background())
	s1, err := a.tap(ctx1, info)
	require.NoError(t, err)
	ctx2, cancel2 := context.WithCancel(context.Background())
	_, err = a.tap(ctx2, info)
	require.NoError(t, err)
	require.Equal(t, int64(32<<20), a.budget.InFlight())

	_, err = a.tap(context.Background(), info)
	requireRetryable(t, err)

	// The first stream's message turns out to be 1 KiB: room for another.
	streamStats{}.HandleRPC(s1, &stats.InPayload{Length: 1024})
	require.Equal(t, int64(16<<20+1024), a.budget.InFlight())
	_, err = a.tap(context.Background(), info)
	require.Error(t, err, "15 MiB left, a stream needs 16")

	cancel1()
	cancel2()
	require.Eventually(t, func() bool { return a.budget.InFlight() == 0 }, 5*time.Second, time.Millisecond)
}

// TestTapCancelsStalledStream: a stream whose message has not arrived
// within stream_read_timeout is cancelled, which gives its bytes back; a
// decoded one is left alone.
func TestTapCancelsStalledStream(t *testing.T) {
	a := newTestAdmission(t, func(c *Config) { c.StreamReadTimeout = 50 * time.Millisecond })
	stalled, err := a.tap(context.Background(), &tap.Info{})
	require.NoError(t, err)
	fine, err := a.tap(context.Background(), &tap.Info{})
	require.NoError(t, err)
	streamStats{}.HandleRPC(fine, &stats.InPayload{Length: 10})
	select {
	case <-stalled.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stalled stream not cancelled")
	}
	require.Eventually(t, func() bool { return a.budget.InFlight() == 10 }, 5*time.Second, time.Millisecond)
	require.NoError(t, fine.Err())
}

// receiverHost hands the receiver its middleware extensions.
type receiverHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h receiverHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// startReceiver runs a real OTLP receiver whose gRPC and HTTP servers name
// the admission extension as middleware; it returns their addresses.
func startReceiver(t *testing.T, cfg *Config, next *consumertest.TracesSink) (string, string, *admission) {
	t.Helper()
	grpcAddr, httpAddr, a, r := newReceiver(t, cfg, next)
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return grpcAddr, httpAddr, a
}

// newReceiver starts the extension and a real OTLP receiver (gRPC and HTTP
// on free loopback ports) behind it; stopping the receiver is the caller's.
func newReceiver(t *testing.T, cfg *Config, next *consumertest.TracesSink) (string, string, *admission, receiver.Traces) {
	t.Helper()
	f := NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	id := component.NewID(metadata.Type)

	rf := otlpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*otlpreceiver.Config)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	g := rcfg.Protocols.GRPC.GetOrInsertDefault()
	g.NetAddr.Endpoint = grpcAddr
	g.Middlewares = []configmiddleware.Config{{ID: id}}
	h := rcfg.Protocols.HTTP.GetOrInsertDefault()
	h.ServerConfig.NetAddr.Endpoint = httpAddr
	h.ServerConfig.Middlewares = []configmiddleware.Config{{ID: id}}
	r, err := rf.CreateTraces(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), receiverHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{id: ext}}))
	return grpcAddr, httpAddr, ext.(*admission), r
}

func traces(attrBytes int) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("s")
	sp.Attributes().PutStr("a", strings.Repeat("x", attrBytes))
	return td
}

// TestThroughOTLPReceiver: the receiver's gRPC and HTTP servers take the
// extension's options; a request that fits is delivered and its bytes come
// back; an HTTP body over the budget is answered 503 with Retry-After
// before the receiver decodes it.
func TestThroughOTLPReceiver(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxInFlightBytes, cfg.StreamReservationBytes = 1<<20, 1<<20
	sink := new(consumertest.TracesSink)
	grpcAddr, httpAddr, a := startReceiver(t, cfg, sink)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(1000)))
	require.NoError(t, err)
	require.Equal(t, 1, sink.SpanCount())
	require.Eventually(t, func() bool { return a.budget.InFlight() == 0 }, 5*time.Second, time.Millisecond)

	post := func(td ptrace.Traces) *http.Response {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		resp, err := http.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusOK, post(traces(1000)).StatusCode)
	require.Equal(t, 2, sink.SpanCount())

	resp := post(traces(2 << 20))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, 2, sink.SpanCount(), "the refused request reached the pipeline")
	require.Zero(t, a.budget.InFlight())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	// Port 0 is not possible: the test needs the address before Start.
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return fmt.Sprint(l.Addr())
}
