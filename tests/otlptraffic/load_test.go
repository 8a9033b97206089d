package otlptraffic

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPaceSpreadsRequests(t *testing.T) {
	l := &Load{}
	l.Pace(100) // 100 requests/s
	start := time.Now()
	for range 20 {
		l.wait()
	}
	// 20 slots 10 ms apart: the last starts about 190 ms after the first.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("20 paced requests at 100/s took %s, want at least 150ms", d)
	}
}

// freePort is a loopback port the kernel had free a moment ago: good
// enough for this package's own tests, which run nothing else.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func oneSpan(w, i int) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1, byte(w), byte(i)})
	sp.SetSpanID(pcommon.SpanID{2, byte(w), byte(i)})
	sp.SetName(fmt.Sprintf("w%d-%d", w, i))
	return td
}

// TestLoadToSink: a Load's workers deliver MaxRequests each to a Sink; the
// answers reach Done; a refusing sink's code reaches Done too; Stop and
// Close end everything (goleak checks).
func TestLoadToSink(t *testing.T) {
	s, err := StartSink(SinkConfig{GRPCPort: freePort(t)})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Stop()) }()

	var mu sync.Mutex
	codesSeen := map[codes.Code]int{}
	var sent [3]int
	l, err := NewLoad(LoadConfig{
		Endpoint: s.GRPCEndpoint(), Conns: 2, Workers: 3, MaxRequests: 5,
		Next: func(w int) (Send, bool) {
			i := sent[w]
			sent[w]++
			return Send{Req: ptraceotlp.NewExportRequestFromTraces(oneSpan(w, i)), Done: func(_ ptraceotlp.ExportResponse, err error) {
				mu.Lock()
				codesSeen[status.Code(err)]++
				mu.Unlock()
			}}, true
		},
	})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.WaitReady(10*time.Second, nil))
	l.Start()
	l.Wait()
	assert.Equal(t, int64(15), l.Requests())
	assert.Equal(t, 15, s.SpanCount())
	assert.Equal(t, map[codes.Code]int{codes.OK: 15}, codesSeen)
	assert.Len(t, s.FirstArrivals(), 15)

	// A refusing backend: the answer's code reaches Done; Stop ends an
	// endless load.
	s.SetFailure(errors.New("down"))
	var refused atomic.Int64
	l2, err := StartLoad(LoadConfig{
		Endpoint: s.GRPCEndpoint(), Pause: time.Millisecond,
		Next: func(int) (Send, bool) {
			return Send{Req: ptraceotlp.NewExportRequestFromTraces(oneSpan(9, 9)), Done: func(_ ptraceotlp.ExportResponse, err error) {
				if status.Code(err) == codes.Unavailable {
					refused.Add(1)
				}
			}}, true
		},
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return refused.Load() >= 3 }, 10*time.Second, 10*time.Millisecond)
	l2.Close()
	l2.Close()
	assert.Equal(t, 15, s.SpanCount(), "nothing accepted while refusing")
}
