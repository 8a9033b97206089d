package otlpretryexporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/compress"
	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter/internal/deadletter"
)

// transport sends one attempt of a request.
type transport interface {
	export(ctx context.Context, r *request) (partial, error)
	close() error
}

// grpcTransport is OTLP/gRPC through configgrpc. Compression is a
// per-connection compressor (grpc.WithCompressor), so the gzip level set
// here holds over gRPC.
type grpcTransport struct {
	conn    *grpc.ClientConn
	traces  ptraceotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	logs    plogotlp.GRPCClient
	cp      *compress.Compressor // nil: no compression
	tel     *telemetry
}

func newGRPCTransport(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings, cp *compress.Compressor, tel *telemetry) (*grpcTransport, error) {
	cc := cfg.ClientConfig
	cc.Compression = "" // compression is ours, see cp
	var opts []configgrpc.ToClientConnOption
	if cp != nil {
		//nolint:staticcheck // WithCompressor is the only per-connection compressor; UseCompressor's registry has one level per name.
		opts = append(opts, configgrpc.WithGrpcDialOption(grpc.WithCompressor(cp)))
	}
	var exts map[component.ID]component.Component
	if host != nil {
		exts = host.GetExtensions()
	}
	conn, err := cc.ToClientConn(ctx, exts, set, opts...)
	if err != nil {
		return nil, err
	}
	return &grpcTransport{
		conn:    conn,
		traces:  ptraceotlp.NewGRPCClient(conn),
		metrics: pmetricotlp.NewGRPCClient(conn),
		logs:    plogotlp.NewGRPCClient(conn),
		cp:      cp,
		tel:     tel,
	}, nil
}

func (t *grpcTransport) export(ctx context.Context, r *request) (partial, error) {
	if t.cp == nil {
		n := int64(r.protoSize())
		t.tel.bytes(ctx, n, n)
	}
	if r.raw {
		return t.exportRaw(ctx, r)
	}
	switch r.signal {
	case deadletter.Traces:
		resp, err := t.traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(r.traces))
		if err != nil {
			return partial{}, err
		}
		ps := resp.PartialSuccess()
		return partial{rejected: ps.RejectedSpans(), message: ps.ErrorMessage()}, nil
	case deadletter.Metrics:
		resp, err := t.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(r.metrics))
		if err != nil {
			return partial{}, err
		}
		ps := resp.PartialSuccess()
		return partial{rejected: ps.RejectedDataPoints(), message: ps.ErrorMessage()}, nil
	default:
		resp, err := t.logs.Export(ctx, plogotlp.NewExportRequestFromLogs(r.logs))
		if err != nil {
			return partial{}, err
		}
		ps := resp.PartialSuccess()
		return partial{rejected: ps.RejectedLogRecords(), message: ps.ErrorMessage()}, nil
	}
}

func (t *grpcTransport) close() error { return t.conn.Close() }

// httpTransport is OTLP/HTTP protobuf through a confighttp client built from
// the shared endpoint, tls, headers and auth settings.
type httpTransport struct {
	client *http.Client
	base   string
	cp     *compress.Compressor
	tel    *telemetry
}

func newHTTPTransport(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings, cp *compress.Compressor, tel *telemetry) (*httpTransport, error) {
	hc := confighttp.NewDefaultClientConfig()
	hc.Endpoint = cfg.ClientConfig.Endpoint
	hc.TLS = cfg.ClientConfig.TLS
	hc.Headers = cfg.ClientConfig.Headers
	hc.Auth = cfg.ClientConfig.Auth
	hc.Middlewares = cfg.ClientConfig.Middlewares
	hc.Timeout = 0 // per attempt, through the context
	var exts map[component.ID]component.Component
	if host != nil {
		exts = host.GetExtensions()
	}
	client, err := hc.ToClient(ctx, exts, set)
	if err != nil {
		return nil, err
	}
	return &httpTransport{client: client, base: strings.TrimSuffix(cfg.ClientConfig.Endpoint, "/"), cp: cp, tel: tel}, nil
}

const maxResponseBody = 64 << 10

func (t *httpTransport) export(ctx context.Context, r *request) (partial, error) {
	body, err := r.marshal()
	if err != nil {
		return partial{}, permanentMarshal(err)
	}
	wire := body
	if t.cp != nil {
		if r.wire == nil {
			if r.wire, err = t.cp.Append(nil, body); err != nil {
				return partial{}, err
			}
		} else {
			t.tel.bytes(ctx, int64(len(body)), int64(len(r.wire)))
		}
		wire = r.wire
	} else {
		t.tel.bytes(ctx, int64(len(body)), int64(len(body)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/v1/"+r.signal, bytes.NewReader(wire))
	if err != nil {
		return partial{}, permanentMarshal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if t.cp != nil {
		req.Header.Set("Content-Encoding", t.cp.Type())
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return partial{}, err
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return decodePartial(r.signal, resp.Header.Get("Content-Type"), respBody), nil
	}
	return partial{}, &httpStatusError{
		code:       resp.StatusCode,
		retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		message:    statusMessage(respBody),
	}
}

func (t *httpTransport) close() error {
	t.client.CloseIdleConnections()
	return nil
}

func decodePartial(signal, contentType string, body []byte) partial {
	if len(body) == 0 || !strings.Contains(contentType, "protobuf") {
		return partial{}
	}
	switch signal {
	case deadletter.Traces:
		resp := ptraceotlp.NewExportResponse()
		if resp.UnmarshalProto(body) == nil {
			return partial{rejected: resp.PartialSuccess().RejectedSpans(), message: resp.PartialSuccess().ErrorMessage()}
		}
	case deadletter.Metrics:
		resp := pmetricotlp.NewExportResponse()
		if resp.UnmarshalProto(body) == nil {
			return partial{rejected: resp.PartialSuccess().RejectedDataPoints(), message: resp.PartialSuccess().ErrorMessage()}
		}
	default:
		resp := plogotlp.NewExportResponse()
		if resp.UnmarshalProto(body) == nil {
			return partial{rejected: resp.PartialSuccess().RejectedLogRecords(), message: resp.PartialSuccess().ErrorMessage()}
		}
	}
	return partial{}
}

// statusMessage extracts the message of a google.rpc.Status body, or the
// start of a text body.
func statusMessage(body []byte) string {
	var st spb.Status
	if len(body) > 0 && proto.Unmarshal(body, &st) == nil && st.GetMessage() != "" {
		return st.GetMessage()
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		// Clamp before multiplying: a huge value would overflow into a
		// negative or wrapped duration (found by FuzzParseRetryAfter).
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// maxRetryAfter bounds a server's Retry-After. Anything near it is beyond
// any sane retry budget anyway, so the batch goes to the dead letter.
const maxRetryAfter = 24 * time.Hour

// httpStatusError is a non-2xx OTLP/HTTP answer.
type httpStatusError struct {
	code       int
	retryAfter time.Duration
	message    string
}

func (e *httpStatusError) Error() string {
	if e.message != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.code, http.StatusText(e.code), e.message)
	}
	return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
}

type marshalError struct{ err error }

func (e *marshalError) Error() string { return "cannot build request: " + e.err.Error() }
func (e *marshalError) Unwrap() error { return e.err }

func permanentMarshal(err error) error { return &marshalError{err: err} }
