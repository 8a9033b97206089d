package main

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlpcol/otlpcol/tests/otlptraffic"
)

const (
	spansPerRequest = 1000
	spansPerTrace   = 10
	tracesPerReq    = spansPerRequest / spansPerTrace
)

// loadGen is the bench's load: an otlptraffic.Load whose workers send
// pre-built OTLP/gRPC trace requests as fast as the collector takes them.
// Each request carries 1000 spans of 100 traces; before every send the
// worker rewrites the IDs in place, so every request brings new traces (or,
// with cycle > 0, spans of the same cycle traces over and over: the
// registry then holds exactly cycle traces) and every span a span ID of its
// own (see ids).
type loadGen struct {
	load   *otlptraffic.Load
	ids    ids
	traces int // traces per request (of spansPerTrace spans each)
	reqs   []workerReq

	nextTrace atomic.Uint64 // trace keys handed out so far
	accepted  atomic.Int64  // spans the collector answered OK for
	refused   atomic.Int64  // spans of requests that failed or were rejected
	lastErr   atomic.Pointer[error]
	// acceptedSpans holds the span numbers of every request answered OK
	// without rejections (a partial success does not say which spans were
	// rejected, so those requests are counted as refused in full).
	acceptedSpans spanSet

	// times, when set, records each request's send time (catch-up scenario).
	times *sendTimes
}

// workerReq is one worker's request, built at its first send and
// rewritten in place for every later one.
type workerReq struct {
	built bool
	spans ptrace.SpanSlice
	send  otlptraffic.Send // the request and its answer's counting, made once: no allocation a send
	first uint64           // first trace key of the request in flight
}

// pace limits the load to spansPerSec, shared by all workers (see
// otlptraffic.Load.Pace).
func (g *loadGen) pace(spansPerSec float64) {
	g.load.Pace(spansPerSec / float64(g.traces*spansPerTrace))
}

func newLoadGen(endpoint string, conns, workers int, d ids) (*loadGen, error) {
	g := &loadGen{ids: d, traces: tracesPerReq, reqs: make([]workerReq, workers)}
	l, err := otlptraffic.NewLoad(otlptraffic.LoadConfig{
		Endpoint: endpoint, Conns: conns, Workers: workers,
		Next:            g.next,
		PauseAfterError: 10 * time.Millisecond, // back off a little when refused
		Deadline:        30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	g.load = l
	return g, nil
}

func (g *loadGen) close() { g.load.Close() }

// waitReady sends empty requests until the collector's receiver answers.
func (g *loadGen) waitReady(timeout time.Duration, exited func() bool) error {
	return g.load.WaitReady(timeout, exited)
}

// start launches the workers; stop ends them after their request in flight.
func (g *loadGen) start() { g.load.Start() }

func (g *loadGen) stop() { g.load.Stop() }

// next stamps worker w's request with the next trace keys.
func (g *loadGen) next(w int) (otlptraffic.Send, bool) {
	r := &g.reqs[w]
	if !r.built {
		r.built = true
		td := buildRequest(w, g.traces)
		r.spans = td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		r.send = otlptraffic.Send{
			Req:  ptraceotlp.NewExportRequestFromTraces(td),
			Done: func(resp ptraceotlp.ExportResponse, err error) { g.done(r.first, resp, err) },
		}
	}
	r.first = g.nextTrace.Add(uint64(g.traces)) - uint64(g.traces)
	now := time.Now()
	if g.times != nil {
		g.times.sent(r.first/uint64(g.traces), now)
	}
	for t := 0; t < g.traces; t++ {
		stamp(r.spans, t, g.ids, r.first+uint64(t), now)
	}
	return r.send, true
}

// done counts one answer to the request whose first trace key is first.
func (g *loadGen) done(first uint64, resp ptraceotlp.ExportResponse, err error) {
	n := int64(g.traces * spansPerTrace)
	switch {
	case err != nil:
		g.refused.Add(n)
		g.lastErr.Store(&err)
	case resp.PartialSuccess().RejectedSpans() > 0:
		g.refused.Add(n)
	default:
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
