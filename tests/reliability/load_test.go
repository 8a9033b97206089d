package reliability

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
	"github.com/otlpcol/otlpcol/tests/otlptraffic"
)

// load sends batches to a collector's gRPC receiver from a few workers,
// keeping the IDs of the spans the collector accepted (Export returned OK)
// and counting refusals by code. Bounded by maxBatches per worker (none
// when 0) and Stop.
type load struct {
	gen      *otlptraffic.Load
	mu       sync.Mutex
	accepted []string
	refused  map[codes.Code]int // spans refused, by code
}

type loadSpec struct {
	scenario      string
	workers       int
	spansPerBatch int           // even: a batch holds traces of two spans
	interval      time.Duration // pause between a worker's batches
	maxBatches    int           // per worker; 0: until Stop
	attrBytes     int           // payload attribute size per span
	deadline      time.Duration // the client's deadline per request; 10 s when 0
}

func startLoad(t *testing.T, endpoint string, spec loadSpec) *load {
	t.Helper()
	l := &load{refused: map[codes.Code]int{}}
	var err error
	l.gen, err = otlptraffic.StartLoad(otlptraffic.LoadConfig{
		Endpoint: endpoint,
		// A connection a worker, as a fleet of clients would have.
		Conns: spec.workers, Workers: spec.workers,
		MaxRequests: spec.maxBatches,
		Pause:       spec.interval,
		Deadline:    spec.deadline,
		Next: func(int) (otlptraffic.Send, bool) {
			b := genBatch(spec.scenario, spec.spansPerBatch/2, 2)
			if spec.attrBytes > 0 {
				pad := make([]byte, spec.attrBytes)
				for k := range pad {
					pad[k] = 'a' + byte(k%26)
				}
				for sp := range harness.Spans(b.td) {
					sp.Attributes().PutStr("test.payload", string(pad))
				}
			}
			return otlptraffic.Send{Req: ptraceotlp.NewExportRequestFromTraces(b.td), Done: func(_ ptraceotlp.ExportResponse, err error) {
				l.mu.Lock()
				defer l.mu.Unlock()
				if err == nil {
					l.accepted = append(l.accepted, b.spanIDs...)
				} else {
					l.refused[status.Code(err)] += len(b.spanIDs)
				}
			}}, true
		},
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(l.gen.Close)
	return l
}

// Stop ends the load and waits for the workers (safe to call twice).
func (l *load) Stop() { l.gen.Stop() }

func (l *load) Accepted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

func (l *load) Refused() map[codes.Code]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[codes.Code]int{}
	for k, v := range l.refused {
		out[k] = v
	}
	return out
}

// sendAll sends spec's batches (maxBatches from each worker) to completion
// and requires the collector to accept every span; it returns their IDs.
func sendAll(t *testing.T, endpoint string, spec loadSpec) []string {
	t.Helper()
	l := startLoad(t, endpoint, spec)
	l.gen.Wait()
	sent := l.Accepted()
	require.Len(t, sent, spec.workers*spec.maxBatches*(spec.spansPerBatch/2*2), "refused: %v", l.Refused())
	return sent
}
