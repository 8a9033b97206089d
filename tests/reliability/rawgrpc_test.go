package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
)

// traceExportMethod is the OTLP trace service's gRPC method path.
const traceExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawGRPC sends one hand-framed gRPC request over cleartext HTTP/2, so that
// a test controls every byte: the compressed flag, the length prefix and
// the payload, which a generated client would never get wrong.
type rawGRPC struct {
	client *http.Client
	base   string
}

func newRawGRPC(endpoint string) *rawGRPC {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return &rawGRPC{client: &http.Client{Transport: tr, Timeout: 20 * time.Second}, base: "http://" + endpoint}
}

// frame is a gRPC length-prefixed message: flag byte, 4-byte length, data.
func frame(compressed bool, declaredLen int, data []byte) []byte {
	var hdr [5]byte
	if compressed {
		hdr[0] = 1
	}
	binary.BigEndian.PutUint32(hdr[1:], uint32(declaredLen))
	return append(hdr[:], data...)
}

// call posts body to method with grpc-encoding enc ("" for none) and
// returns the grpc-status code and message from the trailers (or headers,
// for trailers-only answers).
func (r *rawGRPC) call(method, enc string, body []byte) (codes.Code, string, error) {
	req, err := http.NewRequest(http.MethodPost, r.base+method, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	if enc != "" {
		req.Header.Set("grpc-encoding", enc)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	st := resp.Trailer.Get("grpc-status")
	msg := resp.Trailer.Get("grpc-message")
	if st == "" {
		st, msg = resp.Header.Get("grpc-status"), resp.Header.Get("grpc-message")
	}
	if st == "" {
		return 0, "", fmt.Errorf("no grpc-status in answer (HTTP %d)", resp.StatusCode)
	}
	n, err := strconv.Atoi(st)
	if err != nil {
		return 0, "", fmt.Errorf("grpc-status %q: %w", st, err)
	}
	return codes.Code(n), msg, nil
}

// rawSpanRequest encodes an ExportTraceServiceRequest with one span whose
// trace and span IDs are the given bytes, whatever their length: pdata
// would refuse to build such a request.
func rawSpanRequest(traceID, spanID []byte) []byte {
	var span []byte
	span = protowire.AppendTag(span, 1, protowire.BytesType) // trace_id
	span = protowire.AppendBytes(span, traceID)
	span = protowire.AppendTag(span, 2, protowire.BytesType) // span_id
	span = protowire.AppendBytes(span, spanID)
	span = protowire.AppendTag(span, 5, protowire.BytesType) // name
	span = protowire.AppendString(span, "bad-id")
	var scope []byte
	scope = protowire.AppendTag(scope, 2, protowire.BytesType) // ScopeSpans.spans
	scope = protowire.AppendBytes(scope, span)
	var rs []byte
	rs = protowire.AppendTag(rs, 2, protowire.BytesType) // ResourceSpans.scope_spans
	rs = protowire.AppendBytes(rs, scope)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType) // resource_spans
	req = protowire.AppendBytes(req, rs)
	return req
}
