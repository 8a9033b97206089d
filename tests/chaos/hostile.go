package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// giantLabelBytes is the size of the attribute value the giant-label
// client puts on every item: large, valid data that must be delivered
// (below the backend's size limit in sizelimit steps, so that one item
// always fits).
const giantLabelBytes = 16 << 10

// Target is a collector under hostile input: its OTLP endpoints.
type Target struct {
	Name     string
	GRPCAddr string // host:port
	HTTPURL  string // base URL
}

// HostileBurst is one kind of hostile input. It returns a description of
// each answer that broke a rule (no answer within its deadline, an answer
// that is not a refusal); the campaign checks health, memory and delivery
// around it.
type HostileBurst func(ctx context.Context, t Target) []string

// HostileBursts are the bursts a hostile step sends, in turn; more hostile
// input is appended here. floodAndSlowClients runs while the probe clients
// send legitimate requests (hostileBurst).
var HostileBursts = []HostileBurst{garbageBurst, gzipBombBurst, admissionBombs, floodAndSlowClients}

// The shipped limits the flood and the slow clients are checked against
// (configs/gateway.yaml and configs/agent.yaml; the campaign does not
// change them).
const (
	// streamReadTimeout: admission's stream_read_timeout, after which a
	// stalled stream is cancelled (with its reservation).
	streamReadTimeout = 10 * time.Second
	// httpReadTimeout: the HTTP receiver's read_timeout (read_header_timeout,
	// 5 s, is below it): a slow client is cut off by then.
	httpReadTimeout = 15 * time.Second
	// cutOffMargin is how late after its limit a stalled stream or a slow
	// connection may still be answered or closed on a loaded machine.
	cutOffMargin = 5 * time.Second
	// floodConns x floodStreams half-open streams (headers and a length
	// prefix announcing floodDeclared bytes, then nothing): 100 a
	// connection is the shipped max_concurrent_streams.
	floodConns, floodStreams, floodDeclared = 20, 100, 1 << 20
	// slowConns connections trickle headers, as many trickle a body.
	slowConns = 50
)

// floodAndSlowClients: half-open gRPC streams and slow HTTP clients at
// once (issue 26 items 3 and 4). Every stream must be answered (a gRPC
// status or RST_STREAM: refused by admission, or cancelled after
// stream_read_timeout) and every slow connection closed by the server
// (read_header_timeout, read_timeout), each within its limit plus
// cutOffMargin; memory is checked by the step and legitimate requests by
// the probes (hostileBurst).
func floodAndSlowClients(ctx context.Context, t Target) []string {
	var (
		bad     []string
		wg      sync.WaitGroup
		opened  int
		answers map[string]int
		ferr    error
		slow    []harness.SlowClient
	)
	fctx, cancel := context.WithTimeout(ctx, streamReadTimeout+cutOffMargin)
	defer cancel()
	wg.Go(func() {
		opened, answers, ferr = harness.StreamFlood(fctx, t.GRPCAddr, floodConns, floodStreams, floodDeclared)
	})
	sctx, scancel := context.WithTimeout(ctx, httpReadTimeout+cutOffMargin)
	defer scancel()
	wg.Go(func() {
		slow = harness.SlowClients(sctx, strings.TrimPrefix(t.HTTPURL, "http://"), slowConns, time.Second)
	})
	wg.Wait()
	answered := 0
	for _, n := range answers {
		answered += n
	}
	if ferr != nil && opened == 0 {
		bad = append(bad, fmt.Sprintf("stream flood: no stream opened: %v", ferr))
	}
	if answered < opened {
		bad = append(bad, fmt.Sprintf("stream flood: %d of %d half-open streams never answered within stream_read_timeout %s + %s (answers %v)",
			opened-answered, opened, streamReadTimeout, cutOffMargin, answers))
	}
	open := 0
	for _, c := range slow {
		if !c.Closed {
			open++
		}
	}
	if open > 0 {
		bad = append(bad, fmt.Sprintf("slow clients: %d of %d connections not cut off within read_timeout %s + %s",
			open, len(slow), httpReadTimeout, cutOffMargin))
	}
	return bad
}

// probe sends legitimate, tracked batches to the target while a hostile
// burst runs, one a second on gRPC and on HTTP, until stop: each must be
// answered before its deadline (accepted, or refused retryably: sendOne
// reports a non-retryable refusal and a late HTTP answer).
func (w *world) probe(t Target, stop <-chan struct{}) {
	w.probeGRPC.endpoint = func() string { return t.GRPCAddr }
	w.probeHTTP.endpoint = func() string { return t.HTTPURL }
	var wg sync.WaitGroup
	for _, c := range []*rawClient{w.probeGRPC, w.probeHTTP} {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				c.sendOne(signals[i%len(signals)], itemsPerBatch, payload{pad: padBytes})
				if took := time.Since(start); !c.http && took >= grpcDeadline {
					w.violation("hostile input to %s: a legitimate gRPC request got no answer within its %s deadline", t.Name, grpcDeadline)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		})
	}
	wg.Wait()
}

// admissionBombs: the admission work's bombs (tests/harness), two gzip over
// gRPC and two zstd over HTTP at once, each a real span whose attribute
// inflates to 64 MiB: each must be answered (refused; memory is checked
// by the step).
func admissionBombs(ctx context.Context, t Target) []string {
	var bad []string
	ctx, cancel := context.WithTimeout(ctx, httpDeadline+answerMargin)
	defer cancel()
	for _, o := range harness.Bombs(ctx, t.GRPCAddr, t.HTTPURL, 2, 2, 64<<20) {
		switch {
		case o.Accepted:
			bad = append(bad, "a 64 MiB bomb was accepted")
		case ctx.Err() != nil:
			bad = append(bad, fmt.Sprintf("a bomb got no answer within %s (%s)", httpDeadline+answerMargin, o.Answer))
		}
	}
	return bad
}

// hostileBurst sends every burst to process i, then a few batches of
// giant-label items (tracked: they are valid and must arrive).
func (w *world) hostileBurst(i int) {
	p := w.procs[i]
	t := Target{Name: p.name, GRPCAddr: fmt.Sprintf("127.0.0.1:%d", p.port), HTTPURL: p.c.HTTPEndpoint()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop := make(chan struct{})
	probed := make(chan struct{})
	go func() { defer close(probed); w.probe(t, stop) }()
	for _, b := range HostileBursts {
		for _, bad := range b(ctx, t) {
			w.violation("hostile input to %s: %s", p.name, bad)
		}
	}
	close(stop)
	<-probed
	// Alive and ready again once the input stops.
	if err := waitReady(p.c, readyTimeout); err != nil {
		w.violation("hostile input to %s: %v", p.name, err)
	}
	ep := t.GRPCAddr
	w.giant.endpoint = func() string { return ep }
	for k := range 6 {
		w.giant.sendOne(signals[k%len(signals)], 10, payload{pad: giantLabelBytes})
	}
}

// waitReady waits until c's /ready answers 200.
func waitReady(c *harness.Collector, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := harness.Get(c.HealthURL("/ready"))
		if err == nil && code == http.StatusOK {
			return nil
		}
		if c.Exited() {
			return fmt.Errorf("exited:\n%s", tail(c.Output(), 8))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/ready not 200 within %s after the burst (last %d, %v)", timeout, code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// postAnswered posts body and reports a rule broken: no answer within
// httpDeadline + margin, or a 200 for what cannot be valid.
func postAnswered(ctx context.Context, url string, body []byte, hdr map[string]string) string {
	ctx, cancel := context.WithTimeout(ctx, httpDeadline+answerMargin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Sprintf("POST %s: no answer within %s", url, time.Since(start).Round(time.Millisecond))
		}
		return "" // connection refused or reset: an answer
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return fmt.Sprintf("POST %s: garbage answered 200", url)
	}
	return ""
}

// garbageBurst: random bytes as OTLP/HTTP protobuf bodies on every signal,
// and random bytes on raw connections to the gRPC port.
func garbageBurst(ctx context.Context, t Target) []string {
	var bad []string
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for k := range 9 {
		body := make([]byte, 64+r.IntN(64<<10))
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		path := []string{"/v1/traces", "/v1/metrics", "/v1/logs"}[k%3]
		if b := postAnswered(ctx, t.HTTPURL+path, body, map[string]string{"Content-Type": "application/x-protobuf"}); b != "" {
			bad = append(bad, b)
		}
	}
	for range 3 {
		c, err := net.DialTimeout("tcp", t.GRPCAddr, 5*time.Second)
		if err != nil {
			continue
		}
		junk := make([]byte, 4096)
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(junk)
		_, _ = io.Copy(io.Discard, c) // the server closes it
		_ = c.Close()
	}
	return bad
}

// gzipBombBurst: a gzip body that inflates to 256 MiB of zeros, far past
// the receivers' 16 MiB body limit; it must be refused, not inflated.
func gzipBombBurst(ctx context.Context, t Target) []string {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 256 {
		_, _ = zw.Write(zero)
	}
	_ = zw.Close()
	if b := postAnswered(ctx, t.HTTPURL+"/v1/traces", buf.Bytes(), map[string]string{
		"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip",
	}); b != "" {
		return []string{b}
	}
	return nil
}
