package otlpretryexporter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestSplitBatchKeptHalfSurvivesRestart is issue 20 item 7 end to end,
// through the write-ahead log and a real gRPC backend that takes 32 KiB
// messages and is down. One batch holds two resources: one span of 64 KiB
// and ten small spans. The backend refuses the batch as too large, so it is
// split: the big span alone is still too large, refused for good and
// dropped (no quarantine); the ten small spans are retried until shutdown,
// then kept in the log (retryable). The batch's answer must be retryable:
// a permanent one makes the log acknowledge the whole batch, and the ten
// kept spans are gone at the next start. After a restart with the backend
// up, the ten are delivered.
func TestSplitBatchKeptHalfSurvivesRestart(t *testing.T) {
	srv := startSmallGRPCServer(t, 32<<10)
	srv.setDown(true)
	dir := t.TempDir()
	tweak := func(c *Config) {
		c.ClientConfig.Compression = "none" // the big span stays big on the wire
		c.PersistentQueue.DrainTimeout = 100 * time.Millisecond
	}

	td := ptrace.NewTraces()
	big := tracesWithPrefix(1, 1)
	big.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("db.statement", strings.Repeat("x", 64<<10))
	big.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	small := tracesWithPrefix(2, 10)
	smallIDs := spanIDs(small)
	small.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())

	exp := startWALExporter(t, dir, srv.addr, tweak)
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	// The big span dropped, the small half being retried against the outage.
	waitFor(t, "the big span dropped", func() bool {
		return exp.te.counter(t, "otelcol_otlp_retry_dropped_items", "reason", "rejected") == 1
	})
	waitFor(t, "the small half retried", func() bool { return srv.Calls() >= 2 })
	require.NoError(t, exp.Shutdown(context.Background()))
	require.Empty(t, srv.Received())

	srv.setDown(false)
	startWALExporter(t, dir, srv.addr, tweak)
	waitFor(t, "the ten kept spans delivered after the restart", func() bool { return len(srv.Received()) == len(smallIDs) })
	require.Equal(t, smallIDs, srv.Received(), "each kept span once, the big one never")
}
