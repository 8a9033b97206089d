package harness

import (
	"bufio"
	"context"
	"iter"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

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

// SeriesNames returns the metric names in a Prometheus text exposition
// (histogram parts such as _bucket included as they appear).
func SeriesNames(exposition string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			line = line[:i]
		}
		names[line] = true
	}
	return names
}
