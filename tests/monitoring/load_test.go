package monitoring

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// load sends one trace of `spans` spans every `every` to an OTLP/gRPC
// endpoint, as an application would; refusals and timeouts are counted,
// not fatal (several scenarios are about them).
type load struct {
	stop     chan struct{}
	done     sync.WaitGroup
	ok, fail atomic.Int64
	endpoint atomic.Pointer[string]
	signals  atomic.Bool // metrics and logs too, not only traces
}

// allSignals makes the load send a metric point and a log record with
// every trace, as an application with all three SDK pipelines does.
func (l *load) allSignals() { l.signals.Store(true) }

var batchSeq atomic.Int64 // trace IDs unique across the test's loads

func startLoad(endpoint string, spans int, every time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	l.endpoint.Store(&endpoint)
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		var conn *grpc.ClientConn
		var cur string
		defer func() {
			if conn != nil {
				conn.Close()
			}
		}()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			if ep := *l.endpoint.Load(); ep != cur || conn == nil {
				if conn != nil {
					conn.Close()
				}
				var err error
				conn, err = grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					l.fail.Add(1)
					continue
				}
				cur = ep
			}
			n := int(batchSeq.Add(1))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx,
				ptraceotlp.NewExportRequestFromTraces(harness.TraceBatch("monitoring", n, spans)))
			cancel()
			if err == nil && l.signals.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(onePoint(n)))
				if err == nil {
					_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(oneLog(n)))
				}
				cancel()
			}
			if err != nil {
				l.fail.Add(1)
			} else {
				l.ok.Add(1)
			}
		}
	}()
	return l
}

// retarget sends to another endpoint (a restarted pod).
func (l *load) retarget(endpoint string) { l.endpoint.Store(&endpoint) }

func (l *load) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.done.Wait()
}

func onePoint(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "monitoring")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("monitoring.requests")
	dp := m.SetEmptySum().DataPoints().AppendEmpty()
	dp.SetIntValue(int64(n))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	return md
}

func oneLog(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "monitoring")
	r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.Body().SetStr("request " + strconv.Itoa(n))
	r.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	return ld
}
