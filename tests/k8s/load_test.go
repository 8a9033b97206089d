package k8s

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Load shape: every tick one request carries the next span of each trace of
// the last spansPerTrace generations, so each trace is spread over
// spansPerTrace requests (about spansPerTrace ticks) and can straddle a ring
// change.
const (
	tracesPerGen  = 25
	spansPerTrace = 4
	tick          = 50 * time.Millisecond
)

// traceRec is one trace as the sender saw it.
type traceRec struct {
	ID    pcommon.TraceID
	Spans []sentSpan // the spans the agent accepted
}

// sentSpan is one accepted span and when its request was sent: the agent
// routed it at some moment between that and its arrival at a gateway's sink.
type sentSpan struct {
	ID string
	At time.Time
}

// load sends traces to the agent until finish; it records what the agent
// accepted (answered OK) and what it refused.
type load struct {
	t       *testing.T
	client  ptraceotlp.GRPCClient
	conn    *grpc.ClientConn
	nonce   uint32
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	traces  []*traceRec
	refused int
	errs    map[string]int
}

func startLoad(t *testing.T, endpoint string) *load {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var nb [4]byte
	_, _ = rand.Read(nb[:])
	l := &load{t: t, client: ptraceotlp.NewGRPCClient(conn), conn: conn, nonce: binary.BigEndian.Uint32(nb[:]),
		stop: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	t.Cleanup(func() { l.finish() })
	go l.run()
	return l
}

// finish stops starting traces, lets the started ones complete, and waits.
func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.conn.Close()
}

func (l *load) run() {
	defer close(l.done)
	lastGen := -1 // last generation to start; -1 while running
	for n := 0; lastGen < 0 || n <= lastGen+spansPerTrace-1; n++ {
		if lastGen < 0 {
			select {
			case <-l.stop:
				lastGen = n - 1
				if lastGen < 0 {
					return
				}
			default:
			}
		}
		begin := time.Now()
		if lastGen < 0 || n <= lastGen {
			l.mu.Lock()
			for range tracesPerGen {
				tr := &traceRec{}
				binary.BigEndian.PutUint32(tr.ID[:4], l.nonce)
				binary.BigEndian.PutUint64(tr.ID[8:], uint64(len(l.traces)+1))
				l.traces = append(l.traces, tr)
			}
			l.mu.Unlock()
		}
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "k8s-routing")
		ss := rs.ScopeSpans().AppendEmpty()
		type member struct {
			tr  *traceRec
			sid string
		}
		var members []member
		l.mu.Lock()
		for g := max(0, n-spansPerTrace+1); g <= n; g++ {
			if lastGen >= 0 && g > lastGen {
				break
			}
			j := n - g
			for k := range tracesPerGen {
				tr := l.traces[g*tracesPerGen+k]
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(tr.ID)
				var sid pcommon.SpanID
				binary.BigEndian.PutUint64(sid[:], uint64(l.nonce)<<32|uint64(g*tracesPerGen+k)<<4|uint64(j))
				s.SetSpanID(sid)
				s.SetName("op")
				s.SetStartTimestamp(pcommon.NewTimestampFromTime(begin))
				s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Millisecond)))
				members = append(members, member{tr, sid.String()})
			}
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := l.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		l.mu.Lock()
		if err != nil {
			l.refused += len(members)
			l.errs[err.Error()]++
		} else {
			for _, m := range members {
				m.tr.Spans = append(m.tr.Spans, sentSpan{ID: m.sid, At: begin})
			}
		}
		l.mu.Unlock()
		if d := tick - time.Since(begin); d > 0 {
			time.Sleep(d)
		}
	}
}
