package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// batch is a realistic batch of 1000 spans (the exporter's default batch).
func batch() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("k8s.pod.name", "checkout-7d9f8b6c5-x2x4z")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < 1000; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("GET /api/orders/{id}")
		s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8, byte(i * 7), 10, 11, 12, 13, 14, 15, 16})
		s.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), byte(i * 13), 4, 5, 6, 7, 8})
		s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + uint64(i)*1_000_003))
		s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + uint64(i)*1_000_003 + 250_000))
		s.Attributes().PutStr("http.method", "GET")
		s.Attributes().PutInt("http.status_code", 200)
		s.Attributes().PutStr("http.url", "https://shop.example/api/orders/12345")
		s.Attributes().PutInt("order.items", int64(i%17))
	}
	return td
}

func TestRoundTrip(t *testing.T) {
	body, err := ptraceotlp.NewExportRequestFromTraces(batch()).MarshalProto()
	require.NoError(t, err)
	var in, out int
	for _, tc := range []struct {
		name  string
		level int
	}{{Gzip, 1}, {Gzip, 6}, {Gzip, 9}, {Zstd, 0}} {
		c, err := New(tc.name, tc.level)
		require.NoError(t, err)
		c.OnCompressed = func(i, o int) { in, out = i, o }
		var buf bytes.Buffer
		require.NoError(t, c.Do(&buf, body))
		assert.Equal(t, len(body), in)
		assert.Equal(t, buf.Len(), out)
		var got []byte
		if tc.name == Gzip {
			zr, err := kgzip.NewReader(&buf)
			require.NoError(t, err)
			got, err = io.ReadAll(zr)
			require.NoError(t, err)
		} else {
			d, err := zstd.NewReader(nil)
			require.NoError(t, err)
			got, err = d.DecodeAll(buf.Bytes(), nil)
			d.Close()
			require.NoError(t, err)
		}
		assert.Equal(t, body, got)
		appended, err := c.Append([]byte("x"), body)
		require.NoError(t, err)
		assert.Equal(t, byte('x'), appended[0])
	}
	_, err = New(Gzip, 10)
	assert.Error(t, err)
	_, err = New("snappy", 0)
	assert.Error(t, err)
}

// BenchmarkEncodeCompress measures what one attempt costs before the
// network: marshal the OTLP request, then compress it. stdlib-gzip-6 is what
// upstream's gRPC gzip does (grpc/encoding/gzip, compress/gzip, pooled).
func BenchmarkEncodeCompress(b *testing.B) {
	td := batch()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	raw, _ := req.MarshalProto()
	var stdPool sync.Pool
	run := func(name string, compress func(w io.Writer, p []byte) error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				body, err := req.MarshalProto()
				if err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				if err := compress(&buf, body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/float64(len(raw)), "ratio")
		})
	}
	run("stdlib-gzip-6", func(w io.Writer, p []byte) error {
		zw, _ := stdPool.Get().(*stdgzip.Writer)
		if zw == nil {
			zw, _ = stdgzip.NewWriterLevel(w, 6)
		} else {
			zw.Reset(w)
		}
		if _, err := zw.Write(p); err != nil {
			return err
		}
		err := zw.Close()
		stdPool.Put(zw)
		return err
	})
	for _, tc := range []struct {
		name  string
		level int
	}{{Gzip, 1}, {Gzip, 6}, {Zstd, 0}} {
		c, err := New(tc.name, tc.level)
		if err != nil {
			b.Fatal(err)
		}
		label := tc.name
		if tc.name == Gzip {
			label = "klauspost-gzip-" + string(rune('0'+tc.level))
		}
		run(label, c.Do)
	}
	run("none", func(w io.Writer, p []byte) error { _, err := w.Write(p); return err })
}
