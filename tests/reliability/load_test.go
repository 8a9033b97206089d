package reliability

import (
	"cmp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// load sends batches to a collector's gRPC receiver from a few workers,
// keeping the IDs of the spans the collector accepted (Export returned OK)
// and counting refusals by code. Bounded by maxBatches per worker (none
// when 0) and Stop.
type load struct {
	mu       sync.Mutex
	accepted []string
	refused  map[codes.Code]int // spans refused, by code
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
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
	l := &load{refused: map[codes.Code]int{}, stop: make(chan struct{})}
	for w := 0; w < spec.workers; w++ {
		conn := grpcConn(t, endpoint)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; spec.maxBatches == 0 || i < spec.maxBatches; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				b := genBatch(spec.scenario, spec.spansPerBatch/2, 2)
				if spec.attrBytes > 0 {
					spans := b.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
					pad := make([]byte, spec.attrBytes)
					for k := range pad {
						pad[k] = 'a' + byte(k%26)
					}
					for k := 0; k < spans.Len(); k++ {
						spans.At(k).Attributes().PutStr("test.payload", string(pad))
					}
				}
				err := exportGRPCWithin(conn, b.td, cmp.Or(spec.deadline, 10*time.Second))
				l.mu.Lock()
				if err == nil {
					l.accepted = append(l.accepted, b.spanIDs...)
				} else {
					l.refused[status.Code(err)] += len(b.spanIDs)
				}
				l.mu.Unlock()
				select {
				case <-l.stop:
					return
				case <-time.After(spec.interval):
				}
			}
		}()
	}
	t.Cleanup(l.Stop)
	return l
}

// Stop ends the load and waits for the workers (safe to call twice).
func (l *load) Stop() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

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
	l.wg.Wait()
	sent := l.Accepted()
	require.Len(t, sent, spec.workers*spec.maxBatches*(spec.spansPerBatch/2*2), "refused: %v", l.Refused())
	return sent
}
