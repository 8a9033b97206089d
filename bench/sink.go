package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"

	// Registers the gRPC gzip, zstd and snappy decompressors the collector's
	// exporters may use.
	_ "go.opentelemetry.io/collector/config/configgrpc"
)

// sink is the backend the collector under test exports to: an OTLP/gRPC and
// OTLP/HTTP (protobuf) trace server on loopback, in this process, that
// decompresses each request and reads each span's trace and span ID by
// walking the protobuf wire format, without building pdata. It costs far
// less CPU than a full receiver, which leaves more of the shared cores to
// the collector. Each span is marked in a bit set by its number (see ids),
// so a span received twice counts as a duplicate, not as a second delivery.
type sink struct {
	grpcPort int
	httpPort int
	ids      ids

	delivered spanSet      // span numbers received at least once
	unique    atomic.Int64 // spans received the first time
	dups      atomic.Int64 // receptions of a span already received
	foreign   atomic.Int64 // spans whose IDs the load generator did not make
	requests  atomic.Int64
	bad       atomic.Int64 // requests that could not be read
	points    atomic.Int64 // metric data points received (signals scenario: counted, not told apart)
	records   atomic.Int64 // log records received (likewise)

	grpcSrv *grpc.Server
	httpSrv *http.Server

	// down makes the sink refuse every request as unavailable (a backend
	// outage); times, when set, records live spans' age at delivery.
	down  atomic.Bool
	times *sendTimes
}

var errSinkDown = status.Error(codes.Unavailable, "bench sink: backend down")

// startSink listens on two ports the kernel picks and keeps them: nothing
// can take a port between choosing and binding it.
func startSink(d ids) (*sink, error) {
	s := &sink{ids: d}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.grpcPort = gl.Addr().(*net.TCPAddr).Port
	s.httpPort = hl.Addr().(*net.TCPAddr).Port

	s.grpcSrv = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(256<<20))
	s.grpcSrv.RegisterService(s.exportService("opentelemetry.proto.collector.trace.v1.TraceService", s.countRequest), struct{}{})
	s.grpcSrv.RegisterService(s.countingService("opentelemetry.proto.collector.metrics.v1.MetricsService", eachDataPoint, &s.points), struct{}{})
	s.grpcSrv.RegisterService(s.countingService("opentelemetry.proto.collector.logs.v1.LogsService", eachLogRecord, &s.records), struct{}{})
	go func() { _ = s.grpcSrv.Serve(gl) }()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.serveHTTP)
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.httpSrv.Serve(hl) }()
	return s, nil
}

// countingService is an OTLP/gRPC Export service (metrics or logs) that
// adds the items each walks in a request to n: the signals scenario counts,
// it does not tell items apart.
func (s *sink) countingService(name string, each func([]byte, func([]byte) error) error, n *atomic.Int64) *grpc.ServiceDesc {
	return s.exportService(name, func(b []byte) error {
		var items int64
		if err := each(b, func([]byte) error { items++; return nil }); err != nil {
			s.bad.Add(1)
			return err
		}
		n.Add(items)
		s.requests.Add(1)
		return nil
	})
}

// exportService is an OTLP/gRPC Export service that hands each request's
// raw bytes to count (refused while the sink is down) and answers with an
// empty response.
func (s *sink) exportService(name string, count func([]byte) error) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if s.down.Load() {
					return nil, errSinkDown
				}
				var msg rawMessage
				if err := dec(&msg); err != nil {
					return nil, err
				}
				if err := count(msg.b); err != nil {
					return nil, err
				}
				return &rawMessage{}, nil // an empty Export*ServiceResponse
			},
		}},
	}
}

// count is the number of distinct spans received so far.
func (s *sink) count() int64 { return s.unique.Load() }

func (s *sink) stop() {
	s.grpcSrv.Stop()
	_ = s.httpSrv.Close()
}

// countRequest marks the spans of one export request; the counters are
// added once a request, not once a span.
func (s *sink) countRequest(b []byte) error {
	var unique, dups, foreign int64
	now := time.Now()
	var run, runReq uint64 // consecutive new spans of one request, for the age recorder
	flush := func() {
		if s.times != nil && run > 0 {
			s.times.delivered(runReq, int64(run), now)
		}
		run = 0
	}
	err := eachSpan(b, func(span []byte) error {
		seq, ok, err := s.spanSeq(span)
		if err != nil {
			return err
		}
		switch {
		case !ok || seq >= maxSpanSeq:
			foreign++
		case s.delivered.add(seq):
			unique++
			if req := seq / spansPerRequest; req != runReq {
				flush()
				runReq = req
			}
			run++
		default:
			dups++
		}
		return nil
	})
	flush()
	s.unique.Add(unique)
	s.dups.Add(dups)
	s.foreign.Add(foreign)
	if err != nil {
		s.bad.Add(1)
		return err
	}
	s.requests.Add(1)
	return nil
}

var (
	gzipReaders  sync.Pool
	zstdDecoders sync.Pool
	bodyBuffers  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

func (s *sink) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "bench sink: backend down", http.StatusServiceUnavailable)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "bench sink reads application/x-protobuf only, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r.Body)
		} else {
			err = zr.Reset(r.Body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer gzipReaders.Put(zr)
		body = zr
	case "zstd":
		zd, _ := zstdDecoders.Get().(*zstd.Decoder)
		var err error
		if zd == nil {
			zd, err = zstd.NewReader(r.Body, zstd.WithDecoderConcurrency(1))
		} else {
			err = zd.Reset(r.Body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zstdDecoders.Put(zd)
		body = zd
	default:
		http.Error(w, "unsupported Content-Encoding "+enc, http.StatusUnsupportedMediaType)
		return
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer bodyBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.countRequest(buf.Bytes()); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
}

// gzipCompressor replaces grpc's gzip (the standard library's) in this
// process with klauspost's, which inflates about twice as fast: the sink
// decompresses every span the collector exports and should cost little.
type gzipCompressor struct{}

func init() { encoding.RegisterCompressor(gzipCompressor{}) }

func (gzipCompressor) Name() string { return "gzip" }

func (gzipCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return gzip.NewWriterLevel(w, gzip.DefaultCompression)
}

func (gzipCompressor) Decompress(r io.Reader) (io.Reader, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	if zr == nil {
		var err error
		if zr, err = gzip.NewReader(r); err != nil {
			return nil, err
		}
	} else if err := zr.Reset(r); err != nil {
		gzipReaders.Put(zr)
		return nil, err
	}
	return &pooledGzipReader{zr: zr}, nil
}

// pooledGzipReader returns its reader to the pool at the end of the stream.
type pooledGzipReader struct{ zr *gzip.Reader }

func (p *pooledGzipReader) Read(b []byte) (int, error) {
	if p.zr == nil {
		return 0, io.EOF
	}
	n, err := p.zr.Read(b)
	if err == io.EOF {
		gzipReaders.Put(p.zr)
		p.zr = nil
	}
	return n, err
}

// rawMessage carries a gRPC message's bytes untouched.
type rawMessage struct{ b []byte }

// rawCodec hands the sink the request bytes instead of unmarshalling them.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, errors.New("rawCodec: unexpected message type")
	}
	return m.b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return errors.New("rawCodec: unexpected message type")
	}
	m.b = data
	return nil
}
