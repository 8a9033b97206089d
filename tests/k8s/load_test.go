package k8s

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlpcol/otlpcol/tests/otlptraffic"
)

// Load shape: every tick (the pause after each answer) one request carries the next span of each trace of
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

// load sends traces to the agent until finish (an otlptraffic.Load of one
// worker, a request a tick); it records what the agent accepted (answered
// OK) and what it refused.
type load struct {
	gen      *otlptraffic.Load
	nonce    uint32
	stopping atomic.Bool
	n        int // the next request's tick (the worker's own)
	lastGen  int // last generation to start; -1 while running
	mu       sync.Mutex
	traces   []*traceRec
	refused  int
	errs     map[string]int
}

func startLoad(t *testing.T, endpoint string) *load {
	t.Helper()
	var nb [4]byte
	_, _ = rand.Read(nb[:])
	l := &load{nonce: binary.BigEndian.Uint32(nb[:]), lastGen: -1, errs: map[string]int{}}
	var err error
	l.gen, err = otlptraffic.StartLoad(otlptraffic.LoadConfig{
		Endpoint: endpoint, Next: l.next, Pause: tick, Deadline: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.finish)
	return l
}

// finish stops starting traces, lets the started ones complete, and waits.
func (l *load) finish() {
	l.stopping.Store(true)
	l.gen.Wait()
	l.gen.Close()
}

// next is the request of tick n: the next span of each trace of the last
// spansPerTrace generations, a new generation while running; false once
// every started trace is complete after finish.
func (l *load) next(int) (otlptraffic.Send, bool) {
	n := l.n
	l.n++
	if l.lastGen < 0 && l.stopping.Load() {
		if n == 0 {
			return otlptraffic.Send{}, false // finished before the first tick
		}
		l.lastGen = n - 1
	}
	if l.lastGen >= 0 && n > l.lastGen+spansPerTrace-1 {
		return otlptraffic.Send{}, false
	}
	begin := time.Now()
	if l.lastGen < 0 {
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
		if l.lastGen >= 0 && g > l.lastGen {
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
	return otlptraffic.Send{Req: ptraceotlp.NewExportRequestFromTraces(td), Done: func(_ ptraceotlp.ExportResponse, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.refused += len(members)
			l.errs[err.Error()]++
			return
		}
		for _, m := range members {
			m.tr.Spans = append(m.tr.Spans, sentSpan{ID: m.sid, At: begin})
		}
	}}, true
}
