package tests

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/tests/harness"
)

var debugSpansRE = regexp.MustCompile(`"otelcol.signal": "traces", "resource spans": \d+, "spans": (\d+)`)

// debugSpans sums the spans the debug exporter reported.
func debugSpans(out string) int {
	n := 0
	for _, m := range debugSpansRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

func oneSpan(name string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "local-e2e")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(len(name))})
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(len(name))})
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Second)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	return td
}

// TestLocalConfig is what `make run` promises: configs/local.yaml starts,
// /health answers 200, and a trace sent over gRPC and one over HTTP both show
// in the debug exporter's output.
func TestLocalConfig(t *testing.T) {
	c := harness.Start(t, harness.Config("local.yaml"), harness.Options{})
	c.WaitReady(30 * time.Second)

	code, _, err := harness.Get(c.HealthURL("/health"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(c.GRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(oneSpan("via-grpc")))
	require.NoError(t, err)

	body, err := ptraceotlp.NewExportRequestFromTraces(oneSpan("via-http-protobuf")).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(c.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The debug exporter at basic verbosity logs one line per batch with its
	// span count; the batch processor may merge the two requests.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && debugSpans(c.Output()) < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, 2, debugSpans(c.Output()), "both traces should show in the debug output")

	c.Stop(30 * time.Second)
}
