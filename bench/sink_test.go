package main

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestIDsRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		x := rnd.Uint64()
		if got := unsplitmix64(splitmix64(x)); got != x {
			t.Fatalf("unsplitmix64(splitmix64(%#x)) = %#x", x, got)
		}
	}
	for _, d := range []ids{{seed: 42}, {seed: 7, cycle: 1000}} {
		for _, seq := range []uint64{0, 1, 9, 10, 12345, 1 << 33} {
			tid, sid := d.traceID(seq/spansPerTrace), d.spanID(seq)
			got, ok := d.seq(tid[:], sid[:])
			if !ok || got != seq {
				t.Errorf("%+v: seq %d came back as %d, %v", d, seq, got, ok)
			}
		}
		// A span ID with another trace's ID, or made with another seed, is not ours.
		tid, sid := d.traceID(5), d.spanID(100)
		if _, ok := d.seq(tid[:], sid[:]); ok {
			t.Errorf("%+v: mismatched trace and span ID accepted", d)
		}
		other := ids{seed: d.seed + 1, cycle: d.cycle}
		tid, sid = other.traceID(1), other.spanID(10)
		if _, ok := d.seq(tid[:], sid[:]); ok {
			t.Errorf("%+v: another seed's span accepted", d)
		}
	}
	// Cycling keys (scale-N) come back to the same trace IDs.
	c := ids{seed: 7, cycle: 1000}
	if c.traceID(5) != c.traceID(1005) || c.traceID(5) == c.traceID(6) {
		t.Error("cycle does not wrap trace keys")
	}
}

func TestSpanSet(t *testing.T) {
	var a, b spanSet
	if !a.add(5) || a.add(5) {
		t.Error("add does not report the first time only")
	}
	// Ranges that cross a word and a chunk boundary.
	a.addRange(60, 10)
	a.addRange(chunkBits-3, 70)
	if n := a.len(); n != 1+10+70 {
		t.Errorf("len = %d, want 81", n)
	}
	for _, seq := range []uint64{60, 69, chunkBits - 3, chunkBits + 66} {
		if b.add(seq); a.add(seq) {
			t.Errorf("%d not in the range set", seq)
		}
	}
	if a.add(70) == false || a.add(chunkBits+67) == false {
		t.Error("a range marked one span too many")
	}
	if n := a.missingFrom(&b); n != 83-4 {
		t.Errorf("a missing from b = %d, want 79", n)
	}
	if n := b.missingFrom(&a); n != 0 {
		t.Errorf("b missing from a = %d, want 0", n)
	}
}

// request builds one load generator request with trace keys from key on.
func request(t testing.TB, d ids, key uint64) []byte {
	t.Helper()
	td := buildRequest(3, tracesPerReq)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < tracesPerReq; i++ {
		stamp(spans, i, d, key+uint64(i), time.Now())
	}
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSinkCountsDuplicatesApartFromLoss: one request delivered twice and
// another never make accepted minus received zero; the sink must still see
// a request's worth of duplicates and of lost spans.
func TestSinkCountsDuplicatesApartFromLoss(t *testing.T) {
	d := ids{seed: 99}
	s := &sink{ids: d}
	var acceptedSpans spanSet
	// Requests A (trace keys 0-99) and B (100-199) were accepted; A
	// arrives twice, B never.
	reqA := request(t, d, 0)
	acceptedSpans.addRange(0, spansPerRequest)
	acceptedSpans.addRange(spansPerRequest, spansPerRequest)

	for _, req := range [][]byte{reqA, reqA} {
		if err := s.countRequest(req); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.unique.Load() + s.dups.Load(); got != 2*spansPerRequest {
		t.Fatalf("received %d spans, want %d", got, 2*spansPerRequest)
	}
	if s.count() != spansPerRequest || s.dups.Load() != spansPerRequest {
		t.Errorf("distinct %d, duplicates %d; want %d each", s.count(), s.dups.Load(), spansPerRequest)
	}
	if lost := acceptedSpans.missingFrom(&s.delivered); lost != spansPerRequest {
		t.Errorf("lost %d, want %d (request B never arrived)", lost, spansPerRequest)
	}
	// A request the load generator did not make counts as foreign.
	if err := s.countRequest(request(t, ids{seed: 1}, 0)); err != nil {
		t.Fatal(err)
	}
	if s.foreign.Load() != spansPerRequest || s.count() != spansPerRequest {
		t.Errorf("foreign %d, distinct %d", s.foreign.Load(), s.count())
	}
	if err := s.countRequest([]byte{0x0a, 0xff}); err == nil || s.bad.Load() != 1 {
		t.Errorf("a truncated request: %v, bad %d", err, s.bad.Load())
	}
}

// TestRequestShape checks what the load generator sends: 1000 spans of 100
// traces of 10, new IDs per send, and a size and compressibility close to
// real traffic.
func TestRequestShape(t *testing.T) {
	d := ids{seed: 7}
	b := request(t, d, 0)
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		t.Fatal(err)
	}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	traces := map[string]int{}
	spanIDs := map[string]bool{}
	roots := 0
	for i := 0; i < spans.Len(); i++ {
		traces[spans.At(i).TraceID().String()]++
		spanIDs[spans.At(i).SpanID().String()] = true
		if spans.At(i).ParentSpanID().IsEmpty() {
			roots++
		}
	}
	if spans.Len() != spansPerRequest || len(traces) != tracesPerReq || roots != tracesPerReq || len(spanIDs) != spansPerRequest {
		t.Fatalf("%d spans, %d traces, %d roots, %d span IDs", spans.Len(), len(traces), roots, len(spanIDs))
	}
	for id, n := range traces {
		if n != spansPerTrace {
			t.Fatalf("trace %s has %d spans", id, n)
		}
	}
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, 6)
	_, _ = w.Write(b)
	_ = w.Close()
	t.Logf("request: %d bytes (%d a span), gzip level 6 %d bytes (%.1fx)", len(b), len(b)/spansPerRequest, z.Len(), float64(len(b))/float64(z.Len()))
}

// BenchmarkSinkCountRequest is the sink's cost per span: reading trace and
// span IDs from the wire format and marking the span in the set.
func BenchmarkSinkCountRequest(b *testing.B) {
	d := ids{seed: 3}
	reqs := make([][]byte, 64)
	for i := range reqs {
		reqs[i] = request(b, d, uint64(i)*tracesPerReq)
	}
	s := &sink{ids: d}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.countRequest(reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spansPerRequest), "ns/span")
}

// TestSpanSeqEncodings reads the IDs from pdata's layout (trace_id and
// span_id last) and from spans that put them first or in the middle.
func TestSpanSeqEncodings(t *testing.T) {
	d := ids{seed: 5}
	s := &sink{ids: d}
	tid, sid := d.traceID(4), d.spanID(42)
	var name, forward, middle []byte
	name = protowire.AppendTag(name, 5, protowire.BytesType)
	name = protowire.AppendBytes(name, []byte("GET /api"))
	forward = protowire.AppendBytes(protowire.AppendTag(forward, 1, protowire.BytesType), tid[:])
	forward = protowire.AppendBytes(protowire.AppendTag(forward, 2, protowire.BytesType), sid[:])
	forward = append(forward, name...)
	middle = append(middle, name...)
	middle = protowire.AppendBytes(protowire.AppendTag(middle, 2, protowire.BytesType), sid[:])
	middle = protowire.AppendBytes(protowire.AppendTag(middle, 1, protowire.BytesType), tid[:])
	middle = append(middle, name...)
	pdataSpan := func() []byte {
		var span []byte
		_ = eachSpan(request(t, d, 0), func(b []byte) error {
			if span == nil {
				span = b
			}
			return nil
		})
		return span
	}()
	for _, c := range []struct {
		name string
		span []byte
		want uint64
	}{{"pdata", pdataSpan, 0}, {"ids first", forward, 42}, {"ids in the middle", middle, 42}} {
		seq, ok, err := s.spanSeq(c.span)
		if err != nil || !ok || seq != c.want {
			t.Errorf("%s: seq %d, %v, %v; want %d", c.name, seq, ok, err, c.want)
		}
	}
	if _, _, ok := idsAtEnd(pdataSpan); !ok {
		t.Error("pdata no longer ends a span with span_id and trace_id: the sink walks every span (slower, still right)")
	}
	if _, _, err := s.spanSeq([]byte{0x0a, 0xff}); err == nil {
		t.Error("a truncated span gave no error")
	}
}
