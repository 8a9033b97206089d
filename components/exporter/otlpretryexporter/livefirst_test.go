package otlpretryexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// persistent_queue::live_first: after an outage, spans that arrive while
// the backlog drains reach the backend before the end of the backlog;
// without it they wait behind all of it. Either way every span arrives.
func TestWALLiveFirstSendsNewSpansBeforeTheBacklog(t *testing.T) {
	const backlog, live = 20, byte(100)
	for _, liveFirst := range []bool{false, true} {
		srv := startGRPCServer(t)
		srv.setDown(true)
		req := ptraceotlp.NewExportRequestFromTraces(tracesWithPrefix(1, 30))
		size, err := req.MarshalProto()
		require.NoError(t, err)
		exp := startWALExporter(t, t.TempDir(), srv.addr, func(c *Config) {
			c.PersistentQueue.LiveFirst = liveFirst
			c.PersistentQueue.NumConsumers = 1
			c.PersistentQueue.BatchSize = 30 // one request a batch
			c.PersistentQueue.BatchTimeout = 0
			// Room in memory for two requests: the backlog spills.
			c.PersistentQueue.MemoryBudget = int64(len(size) * 5 / 2)
			c.CircuitBreaker.Enabled = false
		})
		ctx := context.Background()
		for p := byte(1); p <= backlog; p++ {
			require.NoError(t, exp.ConsumeTraces(ctx, tracesWithPrefix(p, 30)))
		}
		waitFor(t, "an attempt against the outage", func() bool { return srv.Calls() > 0 })
		// The backend returns and takes the requests memory held (the
		// oldest three at most), then holds its answers: the consumer has
		// the first request read back from disk in flight, memory is free,
		// and the rest of the backlog waits. New spans arrive then, and
		// nothing moves until the answer (no race with the drain).
		release := srv.holdAfter(3)
		srv.setDown(false)
		waitFor(t, "the first read-back attempt held", func() bool { return srv.Held() > 0 })
		for p := live; p < live+3; p++ {
			require.NoError(t, exp.ConsumeTraces(ctx, tracesWithPrefix(p, 30)))
		}
		release()
		waitFor(t, "every span", func() bool { return len(srv.Received()) == (backlog+3)*30 })
		order := map[byte]int{}
		for i, td := range srv.Batches() {
			if _, seen := order[firstSpanPrefix(td)]; !seen {
				order[firstSpanPrefix(td)] = i
			}
		}
		if liveFirst {
			require.Less(t, order[live], order[backlog], "live_first: the new spans arrive before the end of the backlog (arrival order %v)", order)
		} else {
			require.Greater(t, order[live], order[backlog], "first in, first out: the new spans wait behind the backlog (arrival order %v)", order)
		}
	}
}
