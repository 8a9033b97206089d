package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client deadlines, and the margin past them a request may take before it
// counts as unanswered.
const (
	grpcDeadline  = 5 * time.Second
	httpDeadline  = 20 * time.Second
	answerMargin  = 3 * time.Second
	itemsPerBatch = 20
	sendInterval  = 100 * time.Millisecond
	padBytes      = 200
)

// Ledger is what the clients were told OK for: item key -> true. Every
// client adds to the campaign's one ledger.
type Ledger struct {
	mu    sync.Mutex
	acked map[string]struct{}
	order []string // in the order acknowledged, for snapshots
}

func newLedger() *Ledger { return &Ledger{acked: map[string]struct{}{}} }

func (l *Ledger) add(keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if _, ok := l.acked[k]; !ok {
			l.acked[k] = struct{}{}
			l.order = append(l.order, k)
		}
	}
}

// Snapshot returns every key acknowledged so far.
func (l *Ledger) Snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

// Len is the number of items acknowledged.
func (l *Ledger) Len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.order) }

// answers tallies the clients' outcomes and the answers that break the
// data rule (a valid request refused permanently) or came late.
type answers struct {
	mu        sync.Mutex
	byOutcome map[string]int
	bad       []string // violations, first few
	nbad      int
}

func (a *answers) note(outcome string) {
	a.mu.Lock()
	a.byOutcome[outcome]++
	a.mu.Unlock()
}

func (a *answers) violation(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nbad++
	if len(a.bad) < 5 {
		a.bad = append(a.bad, fmt.Sprintf(format, args...))
	}
}

// take returns and clears the violations seen since the last call.
func (a *answers) take() (int, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, bad := a.nbad, a.bad
	a.nbad, a.bad = 0, nil
	return n, bad
}

// retryableGRPC says whether code is an answer the data rule allows for a
// valid request the collector could not take now.
func retryableGRPC(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
		return true
	}
	return false
}

// rawClient sends pdata batches of all three signals, in turn, over OTLP
// gRPC or HTTP/protobuf, to an endpoint read before every request (a
// restarted collector may listen elsewhere).
type rawClient struct {
	name     string
	http     bool
	endpoint func() string // host:port (gRPC) or base URL (HTTP)
	ledger   *Ledger
	answers  *answers
	pad      int
	marker   bool
	active   atomic.Bool // the marker client sends only during marker steps

	seq  atomic.Uint64
	conn *grpc.ClientConn
	ep   string
	// inflight is when the request in flight was sent (unix nanos; 0: none).
	inflight atomic.Int64
}

// sendOne sends one batch of n items of signal sig and records the outcome.
func (c *rawClient) sendOne(sig string, n int, p payload) {
	ids := make([]string, n)
	keys := make([]string, n)
	prefix := c.name
	if p.marker {
		prefix = markerPrefix + c.name
	}
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, c.seq.Add(1))
		keys[i] = sig + ":" + ids[i]
	}
	start := time.Now()
	c.inflight.Store(start.UnixNano())
	defer c.inflight.Store(0)
	var err error
	if c.http {
		err = c.sendHTTP(sig, ids, p)
	} else {
		err = c.sendGRPC(sig, ids, p)
	}
	took := time.Since(start)
	limit := grpcDeadline
	if c.http {
		limit = httpDeadline
	}
	if took > limit+answerMargin {
		c.answers.violation("%s: a %s request sent at %s took %s (deadline %s + margin %s)", c.name, signalName(sig),
			start.UTC().Format("15:04:05.000"), took.Round(time.Millisecond), limit, answerMargin)
	}
	if err == nil {
		c.ledger.add(keys)
		c.answers.note("ok")
	}
}

func (c *rawClient) grpcConn() (*grpc.ClientConn, error) {
	ep := c.endpoint()
	if c.conn != nil && c.ep == ep {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
	conn, err := grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	c.conn, c.ep = conn, ep
	return conn, nil
}

func (c *rawClient) sendGRPC(sig string, ids []string, p payload) error {
	conn, err := c.grpcConn()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), grpcDeadline)
	defer cancel()
	switch sig {
	case sigTraces:
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(genTraces(c.name, ids, p)))
	case sigMetrics:
		_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(genMetrics(c.name, ids, p)))
	default:
		_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(genLogs(c.name, ids, p)))
	}
	if err != nil {
		code := status.Code(err)
		c.answers.note("grpc " + code.String())
		if !retryableGRPC(code) {
			c.answers.violation("%s: a valid %s request refused with non-retryable %v", c.name, signalName(sig), err)
		}
	}
	return err
}

func (c *rawClient) sendHTTP(sig string, ids []string, p payload) error {
	start := time.Now()
	var body []byte
	var err error
	var path string
	switch sig {
	case sigTraces:
		path = "/v1/traces"
		body, err = ptraceotlp.NewExportRequestFromTraces(genTraces(c.name, ids, p)).MarshalProto()
	case sigMetrics:
		path = "/v1/metrics"
		body, err = pmetricotlp.NewExportRequestFromMetrics(genMetrics(c.name, ids, p)).MarshalProto()
	default:
		path = "/v1/logs"
		body, err = plogotlp.NewExportRequestFromLogs(genLogs(c.name, ids, p)).MarshalProto()
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint()+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.answers.note("http transport error")
		if errors.Is(err, context.DeadlineExceeded) {
			c.answers.violation("%s: a %s request sent at %s got no answer within %s", c.name, signalName(sig),
				start.UTC().Format("15:04:05.000"), httpDeadline)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	c.answers.note(fmt.Sprintf("http %d", resp.StatusCode))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
		return fmt.Errorf("http %d", resp.StatusCode)
	default:
		c.answers.violation("%s: a valid %s request refused with non-retryable HTTP %d", c.name, signalName(sig), resp.StatusCode)
		return fmt.Errorf("http %d", resp.StatusCode)
	}
}

// run sends a batch every sendInterval, signals in turn, until ctx ends.
func (c *rawClient) run(ctx context.Context) {
	tick := time.NewTicker(sendInterval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			if c.conn != nil {
				_ = c.conn.Close()
			}
			return
		case <-tick.C:
		}
		if c.marker && !c.active.Load() {
			continue
		}
		c.sendOne(signals[i%len(signals)], itemsPerBatch, payload{pad: c.pad, marker: c.marker})
	}
}

// sdkClient is an application instrumented with the OpenTelemetry Go SDK
// (batch span processor, otlptracegrpc). The exporter is wrapped: the
// spans of an ExportSpans that returned nil are the ones it was told OK for.
type sdkClient struct {
	name   string
	tp     *sdktrace.TracerProvider
	ledger *Ledger
	seq    atomic.Uint64
}

type ackingExporter struct {
	sdktrace.SpanExporter
	ledger *Ledger
}

func (e ackingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		return err
	}
	keys := make([]string, 0, len(spans))
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			if string(kv.Key) == idAttr {
				keys = append(keys, sigTraces+":"+kv.Value.AsString())
			}
		}
	}
	e.ledger.add(keys)
	return nil
}

func newSDKClient(name, endpoint string, ledger *Ledger) (*sdkClient, error) {
	exp, err := otlptracegrpc.New(context.Background(),
		otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithTimeout(grpcDeadline),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
			Enabled: true, InitialInterval: 200 * time.Millisecond,
			MaxInterval: time.Second, MaxElapsedTime: 5 * time.Second,
		}))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
		sdktrace.WithBatcher(ackingExporter{SpanExporter: exp, ledger: ledger},
			sdktrace.WithBatchTimeout(200*time.Millisecond), sdktrace.WithMaxExportBatchSize(100)),
	)
	return &sdkClient{name: name, tp: tp, ledger: ledger}, nil
}

// run makes a trace of a few spans every sendInterval until ctx ends.
func (c *sdkClient) run(ctx context.Context) {
	tr := c.tp.Tracer("otlpcol/tests/chaos")
	tick := time.NewTicker(sendInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sctx, root := tr.Start(context.Background(), "root")
		root.SetAttributes(attribute.String(idAttr, fmt.Sprintf("%s-%d", c.name, c.seq.Add(1))))
		for range 4 {
			_, sp := tr.Start(sctx, "child")
			sp.SetAttributes(attribute.String(idAttr, fmt.Sprintf("%s-%d", c.name, c.seq.Add(1))))
			sp.End()
		}
		root.End()
	}
}

// shutdown flushes what the SDK still holds (bounded).
func (c *sdkClient) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = c.tp.Shutdown(ctx)
}
