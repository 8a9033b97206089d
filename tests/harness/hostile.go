package harness

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The hostile inputs of the reliability tests and of the chaos campaign:
// compression bombs, half-open gRPC streams and slow HTTP clients. Each
// function sends one kind against an endpoint and reports what every
// request or connection saw, so a caller checks its own invariant (memory
// bounded, every refusal retryable, the process alive).

// TraceExportMethod is the OTLP trace service's gRPC method path.
const TraceExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// Outcome is the answer one request got.
type Outcome struct {
	// Accepted: gRPC OK or HTTP 2xx.
	Accepted bool
	// Retryable: a refusal the OTLP specification tells clients to retry
	// (gRPC Unavailable, Canceled, DeadlineExceeded, Aborted, OutOfRange,
	// DataLoss, ResourceExhausted with RetryInfo; HTTP 429, 502, 503, 504).
	Retryable bool
	// Answer is the gRPC code or HTTP status as text, or the transport
	// error when no answer came (connection reset: the process may be gone).
	Answer string
}

func (o Outcome) String() string { return o.Answer }

// BombPayload is an ExportTraceServiceRequest of one span whose attribute
// holds decompressed bytes of one repeated letter: it decodes into a real
// string of that size, and compresses to almost nothing.
func BombPayload(decompressed int) []byte {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0xb0, 0x4b})
	sp.SetSpanID(pcommon.SpanID{0xb0, 0x4b})
	sp.SetName("bomb")
	// The attribute fills the request up to decompressed bytes in all.
	sp.Attributes().PutStr("bomb", strings.Repeat("a", max(decompressed-64, 0)))
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

// Gzip compresses b at the best ratio (15 MiB of one letter: ~15 KB).
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// Zstd compresses b at the best ratio (15 MiB of one letter: < 1 KB).
func Zstd(b []byte) []byte {
	w, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		panic(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// Bombs sends grpcBombs gzip bombs over OTLP/gRPC to grpcAddr (host:port)
// and httpBombs zstd bombs over OTLP/HTTP to httpURL (http://host:port),
// all at once, each decompressing to decompressed bytes, and returns every
// answer (gRPC first).
func Bombs(ctx context.Context, grpcAddr, httpURL string, grpcBombs, httpBombs, decompressed int) []Outcome {
	payload := BombPayload(decompressed)
	gz, zs := Gzip(payload), Zstd(payload)
	out := make([]Outcome, grpcBombs+httpBombs)
	var wg sync.WaitGroup
	for i := range grpcBombs {
		wg.Go(func() { out[i] = RawGRPC(ctx, grpcAddr, "gzip", gz) })
	}
	for i := range httpBombs {
		wg.Go(func() { out[grpcBombs+i] = PostOTLP(ctx, httpURL, "zstd", zs) })
	}
	wg.Wait()
	return out
}

// h2cClient speaks cleartext HTTP/2 (gRPC without TLS), one connection per
// client so that requests are not serialised behind one peer's limits.
func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// RawGRPC sends one trace export to addr with its message already encoded
// (compressed with enc, "" for none) and framed by hand, so a caller
// controls the exact bytes on the wire.
func RawGRPC(ctx context.Context, addr, enc string, msg []byte) Outcome {
	var hdr [5]byte
	if enc != "" {
		hdr[0] = 1
	}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(msg)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+TraceExportMethod,
		io.MultiReader(bytes.NewReader(hdr[:]), bytes.NewReader(msg)))
	if err != nil {
		return Outcome{Answer: err.Error()}
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	if enc != "" {
		req.Header.Set("grpc-encoding", enc)
	}
	client := h2cClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return Outcome{Answer: "transport: " + err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	code, details := resp.Trailer.Get("grpc-status"), resp.Trailer.Get("grpc-status-details-bin")
	if code == "" {
		code, details = resp.Header.Get("grpc-status"), resp.Header.Get("grpc-status-details-bin")
	}
	n, err := strconv.Atoi(code)
	if err != nil {
		return Outcome{Answer: fmt.Sprintf("HTTP %d without grpc-status", resp.StatusCode)}
	}
	return GRPCOutcome(codes.Code(n), hasRetryInfo(details))
}

// hasRetryInfo reports whether a grpc-status-details-bin header carries a
// RetryInfo.
func hasRetryInfo(details string) bool {
	if details == "" {
		return false
	}
	raw, err := decodeBinHeader(details)
	if err != nil {
		return false
	}
	var st spb.Status
	if proto.Unmarshal(raw, &st) != nil {
		return false
	}
	for _, d := range st.GetDetails() {
		var ri errdetails.RetryInfo
		if d.UnmarshalTo(&ri) == nil {
			return true
		}
	}
	return false
}

// GRPCOutcome classifies a gRPC answer as the OTLP specification does.
func GRPCOutcome(code codes.Code, retryInfo bool) Outcome {
	o := Outcome{Accepted: code == codes.OK, Answer: code.String()}
	switch code {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		o.Retryable = true
	case codes.ResourceExhausted:
		o.Retryable = retryInfo
	}
	if retryInfo {
		o.Answer += "+RetryInfo"
	}
	return o
}

// ErrOutcome classifies an error from a generated gRPC client.
func ErrOutcome(err error) Outcome {
	if err == nil {
		return Outcome{Accepted: true, Answer: codes.OK.String()}
	}
	st, ok := status.FromError(err)
	if !ok {
		return Outcome{Answer: "transport: " + err.Error()}
	}
	retryInfo := false
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			retryInfo = true
		}
	}
	return GRPCOutcome(st.Code(), retryInfo)
}

// PostOTLP posts one protobuf trace export to url (http://host:port),
// compressed with enc ("" for none).
func PostOTLP(ctx context.Context, url, enc string, body []byte) Outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return Outcome{Answer: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Outcome{Answer: "transport: " + err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	o := Outcome{Accepted: resp.StatusCode/100 == 2, Answer: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		o.Retryable = true
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		o.Answer += " Retry-After " + ra
	}
	return o
}

// decodeBinHeader decodes a gRPC binary header value (base64, padded or not).
func decodeBinHeader(v string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
}

// StreamFlood opens conns HTTP/2 connections to addr and on each up to
// perConn half-open trace export streams: headers and a 5-byte length
// prefix announcing declared bytes, then nothing. It holds them until ctx
// ends, then closes everything. It returns how many streams it opened and
// the server's answers (gRPC status or RST_STREAM) by kind.
func StreamFlood(ctx context.Context, addr string, conns, perConn, declared int) (opened int, answers map[string]int, err error) {
	answers = map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for range conns {
		wg.Go(func() {
			h, r, e := floodConn(ctx, addr, perConn, declared)
			mu.Lock()
			defer mu.Unlock()
			opened += h
			for k, v := range r {
				answers[k] += v
			}
			if e != nil && firstErr == nil {
				firstErr = e
			}
		})
	}
	wg.Wait()
	return opened, answers, firstErr
}

// floodConn is one connection of StreamFlood. Streams the server refused
// with GOAWAY (above its last stream ID) count as answered "GOAWAY", and
// streams still open when the server closed the connection before ctx
// ended count as "closed by server": a client sees both at once, as an
// error it may retry.
func floodConn(ctx context.Context, addr string, streams, declared int) (int, map[string]int, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return 0, nil, err
	}
	fr := http2.NewFramer(conn, conn)
	// The framer builds each frame in one buffer: the writer below and the
	// reader's acknowledgements must not write at once, or their bytes
	// interleave and the server closes the connection on a garbled frame.
	var wmu sync.Mutex
	write := func(f func() error) error {
		wmu.Lock()
		defer wmu.Unlock()
		return f()
	}
	if err := write(func() error { return fr.WriteSettings() }); err != nil {
		return 0, nil, err
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	var (
		mu             sync.Mutex
		answered       = map[uint32]string{}
		goAway         = ^uint32(0) // streams above it were refused by GOAWAY
		goAwayCode     http2.ErrCode
		closedByServer bool
	)
	readDone := make(chan struct{})
	// The reader notes which streams the server answered or reset; it
	// acknowledges settings and pings so the connection stays healthy.
	go func() {
		defer close(readDone)
		dec := hpack.NewDecoder(4096, nil)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				mu.Lock()
				closedByServer = ctx.Err() == nil
				mu.Unlock()
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = write(fr.WriteSettingsAck)
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					_ = write(func() error { return fr.WritePing(true, f.Data) })
				}
			case *http2.RSTStreamFrame:
				mu.Lock()
				if _, ok := answered[f.StreamID]; !ok {
					answered[f.StreamID] = "RST_STREAM " + f.ErrCode.String()
				}
				mu.Unlock()
			case *http2.HeadersFrame:
				fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, hf := range fields {
					if hf.Name == "grpc-status" {
						n, _ := strconv.Atoi(hf.Value)
						mu.Lock()
						answered[f.StreamID] = codes.Code(n).String()
						mu.Unlock()
					}
				}
			case *http2.GoAwayFrame:
				// Streams up to LastStreamID are still served: keep reading.
				mu.Lock()
				goAway, goAwayCode = min(goAway, f.LastStreamID), f.ErrCode
				mu.Unlock()
			}
		}
	}()
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(declared))
	opened := 0
	for i := range streams {
		id := uint32(2*i + 1)
		hbuf.Reset()
		for _, hf := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
			{Name: ":path", Value: TraceExportMethod}, {Name: ":authority", Value: addr},
			{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
		} {
			_ = enc.WriteField(hf)
		}
		if err := write(func() error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true})
		}); err != nil {
			break
		}
		opened++
		if err := write(func() error { return fr.WriteData(id, false, prefix[:]) }); err != nil {
			break
		}
	}
	select {
	case <-ctx.Done():
	case <-readDone:
	}
	_ = conn.Close()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	byKind := map[string]int{}
	for i := range opened {
		id := uint32(2*i + 1)
		switch a, ok := answered[id]; {
		case ok:
			byKind[a]++
		case id > goAway:
			byKind["GOAWAY "+goAwayCode.String()]++
		case closedByServer:
			byKind["closed by server"]++
		}
	}
	return opened, byKind, nil
}

// SlowClient is what one slow HTTP connection saw.
type SlowClient struct {
	// Closed: the server closed the connection (or answered and closed).
	Closed bool
	// After is how long after the connection opened the server closed it.
	After time.Duration
}

// SlowClients opens n connections to addr (host:port) that send a header
// byte every interval and n that send complete headers then trickle the
// body a byte every interval, and waits until ctx ends or every
// connection was closed by the server. Headers first, then bodies.
func SlowClients(ctx context.Context, addr string, n int, interval time.Duration) []SlowClient {
	out := make([]SlowClient, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() { out[i] = slowClient(ctx, addr, i >= n, interval) })
	}
	wg.Wait()
	return out
}

// slowClient is one connection of SlowClients.
func slowClient(ctx context.Context, addr string, body bool, interval time.Duration) SlowClient {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return SlowClient{}
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		// Any byte or error from the server means it answered or hung up.
		var b [512]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				break
			}
		}
		close(closed)
	}()
	head := "POST /v1/traces HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-protobuf\r\n"
	var rest string
	if body {
		// Headers at once, then a body that never ends.
		if _, err := conn.Write([]byte(head + "Content-Length: 1048576\r\n\r\n")); err != nil {
			return SlowClient{Closed: true, After: time.Since(start)}
		}
		rest = strings.Repeat("\x0a", 1<<20)
	} else {
		rest = head
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return SlowClient{Closed: true, After: time.Since(start)}
		case <-ctx.Done():
			return SlowClient{}
		case <-t.C:
			if _, err := conn.Write([]byte{rest[i%len(rest)]}); err != nil {
				<-closed
				return SlowClient{Closed: true, After: time.Since(start)}
			}
		}
	}
}
