package harness

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/components/pkg/promtext"
	"github.com/otlpcol/otlpcol/tests/otlptraffic"
	"github.com/prometheus/common/model"
)

// Spans yields every span of td, resource by resource and scope by scope.
func Spans(td ptrace.Traces) iter.Seq[ptrace.Span] { return otlptraffic.Spans(td) }

// TraceBatch is batch number batch of a test: one trace of n spans from
// service, their IDs unique per (batch, span) within the test.
func TraceBatch(service string, batch, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := range n {
		sp := ss.AppendEmpty()
		sp.SetName(fmt.Sprintf("%s-%d-%d", service, batch, i))
		sp.SetTraceID(pcommon.TraceID{0xaa, byte(batch >> 8), byte(batch), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
		sp.SetSpanID(pcommon.SpanID{0xbb, byte(batch >> 8), byte(batch), byte(i >> 8), byte(i), 1, 2, 3})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	}
	return td
}

// ExportTraces sends each batch over OTLP/gRPC to endpoint (host:port) and
// fails the test on any error.
func ExportTraces(t testing.TB, endpoint string, batches ...ptrace.Traces) {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client for %s: %v", endpoint, err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	for i, td := range batches {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		if err != nil {
			t.Fatalf("export batch %d to %s: %v", i, endpoint, err)
		}
	}
}

// SeriesNames returns the sample names in a Prometheus text exposition,
// histogram parts (_bucket, _sum, _count) included; it is empty when the
// exposition does not parse.
func SeriesNames(exposition string) map[string]bool {
	names := map[string]bool{}
	samples, _ := promtext.Samples(strings.NewReader(exposition))
	for _, s := range samples {
		names[string(s.Metric[model.MetricNameLabel])] = true
	}
	return names
}
