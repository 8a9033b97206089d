package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	spansPerRequest = 1000
	spansPerTrace   = 10
	tracesPerReq    = spansPerRequest / spansPerTrace
)

// loadGen sends pre-built OTLP/gRPC trace requests from several goroutines
// as fast as the collector takes them. Each request carries 1000 spans of
// 100 traces; before every send the worker rewrites the IDs in place, so
// every request brings new traces (or, with cycle > 0, spans of the same
// cycle traces over and over: the registry then holds exactly cycle traces)
// and every span a span ID of its own (see ids).
type loadGen struct {
	conns   []*grpc.ClientConn
	clients []ptraceotlp.GRPCClient
	workers int
	ids     ids
	traces  int // traces per request (of spansPerTrace spans each)

	nextTrace atomic.Uint64 // trace keys handed out so far
	accepted  atomic.Int64  // spans the collector answered OK for
	refused   atomic.Int64  // spans of requests that failed or were rejected
	requests  atomic.Int64
	lastErr   atomic.Pointer[error]
	// acceptedSpans holds the span numbers of every request answered OK
	// without rejections (a partial success does not say which spans were
	// rejected, so those requests are counted as refused in full).
	acceptedSpans spanSet

	stopping atomic.Bool
	wg       sync.WaitGroup

	// interval > 0 paces the workers together to one request per interval
	// (see pace); next is the next request's slot, UnixNano.
	interval time.Duration
	next     atomic.Int64
	// times, when set, records each request's send time (catch-up scenario).
	times *sendTimes
}

// pace limits the load to spansPerSec, shared by all workers; a worker that
// falls behind (the collector refusing or slow) does not make up for more
// than a second of it in a burst.
func (g *loadGen) pace(spansPerSec float64) {
	g.interval = time.Duration(float64(time.Second) * float64(g.traces*spansPerTrace) / spansPerSec)
	g.next.Store(time.Now().UnixNano())
}

// wait blocks until this worker's next paced slot; it returns at once when
// the load is not paced.
func (g *loadGen) wait() {
	if g.interval <= 0 {
		return
	}
	now := time.Now().UnixNano()
	slot := g.next.Add(int64(g.interval)) - int64(g.interval)
	if slot < now-int64(time.Second) {
		g.next.Store(now + int64(g.interval))
		slot = now
	}
	if d := time.Duration(slot - now); d > 0 {
		time.Sleep(d)
	}
}

func newLoadGen(endpoint string, conns, workers int, d ids) (*loadGen, error) {
	g := &loadGen{workers: workers, ids: d, traces: tracesPerReq}
	for i := 0; i < conns; i++ {
		conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			g.close()
			return nil, err
		}
		g.conns = append(g.conns, conn)
		g.clients = append(g.clients, ptraceotlp.NewGRPCClient(conn))
	}
	return g, nil
}

func (g *loadGen) close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
}

// waitReady sends empty requests until the collector's receiver answers.
func (g *loadGen) waitReady(timeout time.Duration, exited func() bool) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if exited() {
			return errors.New("collector exited")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = g.clients[0].Export(ctx, ptraceotlp.NewExportRequestFromTraces(ptrace.NewTraces()))
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// start launches the workers; stop ends them after their request in flight.
func (g *loadGen) start() {
	for w := 0; w < g.workers; w++ {
		g.wg.Add(1)
		go g.worker(g.clients[w%len(g.clients)], w)
	}
}

func (g *loadGen) stop() {
	g.stopping.Store(true)
	g.wg.Wait()
}

func (g *loadGen) worker(client ptraceotlp.GRPCClient, id int) {
	defer g.wg.Done()
	td := buildRequest(id, g.traces)
	n := int64(g.traces * spansPerTrace)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	for !g.stopping.Load() {
		g.wait()
		first := g.nextTrace.Add(uint64(g.traces)) - uint64(g.traces)
		now := time.Now()
		if g.times != nil {
			g.times.sent(first/uint64(g.traces), now)
		}
		for t := 0; t < g.traces; t++ {
			stamp(spans, t, g.ids, first+uint64(t), now)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := client.Export(ctx, req)
		cancel()
		g.requests.Add(1)
		if err != nil {
			g.refused.Add(n)
			g.lastErr.Store(&err)
			time.Sleep(10 * time.Millisecond) // back off a little when refused
			continue
		}
		if rejected := resp.PartialSuccess().RejectedSpans(); rejected > 0 {
			g.refused.Add(n)
			continue
		}
		g.accepted.Add(n)
		g.acceptedSpans.addRange(first*spansPerTrace, uint64(n))
	}
}

// buildRequest builds one request of 1000 spans: 100 traces of 10 spans,
// a root server span and nine children (database, cache, outgoing HTTP and
// internal work), with attributes shaped like an instrumented web service's,
// identifiers that do not repeat, and one trace in 50 with an error span.
// It comes to about 320 bytes a span in protobuf, which gzip level 6 shrinks
// about 10x: close to real OTLP traffic, unlike uniform synthetic spans that
// compress far better and make compression look cheaper than it is.
func buildRequest(worker, traces int) ptrace.Traces {
	rnd := rand.New(rand.NewPCG(uint64(worker), 0x5eed))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "bench-frontend")
	ra.PutStr("service.version", "1.4.2")
	ra.PutStr("service.instance.id", fmt.Sprintf("%016x", rnd.Uint64()))
	ra.PutStr("deployment.environment.name", "bench")
	ra.PutStr("host.name", fmt.Sprintf("bench-host-%d", worker))
	ra.PutStr("k8s.pod.name", fmt.Sprintf("frontend-7d9f8c6b5-%05x", rnd.Uint32()&0xfffff))
	ra.PutStr("telemetry.sdk.language", "go")
	ra.PutStr("telemetry.sdk.name", "opentelemetry")
	ra.PutStr("telemetry.sdk.version", "1.38.0")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/otlpcol/otlpcol/bench")
	ss.Scope().SetVersion("0.1.0")
	spans := ss.Spans()
	spans.EnsureCapacity(traces * spansPerTrace)
	for t := 0; t < traces; t++ {
		item := rnd.IntN(1_000_000)
		user := fmt.Sprintf("%016x", rnd.Uint64())
		client := fmt.Sprintf("10.%d.%d.%d", rnd.IntN(256), rnd.IntN(256), rnd.IntN(256))
		for s := 0; s < spansPerTrace; s++ {
			sp := spans.AppendEmpty()
			a := sp.Attributes()
			switch {
			case s == 0:
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetName("GET /api/items/{id}")
				a.PutStr("http.request.method", "GET")
				a.PutStr("http.route", "/api/items/{id}")
				a.PutStr("url.path", fmt.Sprintf("/api/items/%d", item))
				a.PutStr("url.scheme", "https")
				a.PutInt("http.response.status_code", 200)
				a.PutStr("server.address", "shop.example.com")
				a.PutInt("server.port", 443)
				a.PutStr("client.address", client)
				a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
				a.PutStr("network.protocol.version", "2")
				a.PutStr("enduser.id", user)
				a.PutStr("http.request.header.x-request-id", fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
					rnd.Uint32(), rnd.Uint32()&0xffff, rnd.Uint32()&0xffff, rnd.Uint32()&0xffff, rnd.Uint64()&0xffffffffffff))
			case s%3 == 1:
				sp.SetKind(ptrace.SpanKindClient)
				sp.SetName("SELECT shop.items")
				a.PutStr("db.system.name", "postgresql")
				a.PutStr("db.namespace", "shop")
				a.PutStr("db.operation.name", "SELECT")
				a.PutStr("db.query.text", "SELECT id, name, price, stock FROM items WHERE id = $1 AND tenant_id = $2")
				a.PutStr("server.address", "postgres.shop.svc.cluster.local")
				a.PutInt("server.port", 5432)
				a.PutInt("db.response.returned_rows", int64(rnd.IntN(20)))
			case s%3 == 2:
				sp.SetKind(ptrace.SpanKindClient)
				sp.SetName("GET")
				a.PutStr("http.request.method", "GET")
				a.PutStr("url.full", fmt.Sprintf("http://pricing.shop.svc.cluster.local:8080/v1/prices/%d?currency=EUR", item))
				a.PutStr("server.address", "pricing.shop.svc.cluster.local")
				a.PutInt("server.port", 8080)
				a.PutInt("http.response.status_code", 200)
			default:
				sp.SetKind(ptrace.SpanKindInternal)
				sp.SetName("cache.get")
				a.PutStr("cache.key", fmt.Sprintf("item:%d:user:%s", item, user))
				a.PutBool("cache.hit", rnd.IntN(4) != 0)
				a.PutStr("code.function.name", "github.com/shop/frontend/internal/cache.(*Store).Get")
			}
			if t%50 == 0 && s == spansPerTrace-1 {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("context deadline exceeded")
			}
		}
	}
	return td
}

// stamp gives the spans of trace t in a request, trace key key, their IDs
// and times: the trace ID, span IDs numbered from key*spansPerTrace (each
// child's parent is the root) and start and end times around now, so that no
// two requests carry the same bytes.
func stamp(spans ptrace.SpanSlice, t int, d ids, key uint64, now time.Time) {
	var root pcommon.SpanID
	tid := d.traceID(key)
	jitter := key ^ d.seed
	base := now.Add(-time.Duration(jitter%1000) * time.Microsecond)
	for s := 0; s < spansPerTrace; s++ {
		sp := spans.At(t*spansPerTrace + s)
		sid := d.spanID(key*spansPerTrace + uint64(s))
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		if s == 0 {
			root = sid
		} else {
			sp.SetParentSpanID(root)
		}
		start := base.Add(time.Duration(s)*time.Millisecond + time.Duration(splitmix64(jitter+uint64(s))%1000)*time.Microsecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(10-s)*time.Millisecond + time.Duration(jitter%997)*time.Microsecond)))
	}
}
