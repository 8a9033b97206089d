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

// HostileBursts are the bursts a hostile step sends, in turn. The
// admission work (gzip bombs of every shape, stream floods, slow clients)
// adds its harness helpers here: append to this list from an init
// function in this package.
var HostileBursts = []HostileBurst{garbageBurst, gzipBombBurst, admissionBombs}

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
	for _, b := range HostileBursts {
		for _, bad := range b(ctx, t) {
			w.violation("hostile input to %s: %s", p.name, bad)
		}
	}
	ep := t.GRPCAddr
	w.giant.endpoint = func() string { return ep }
	for k := range 6 {
		w.giant.sendOne(signals[k%len(signals)], 10, payload{pad: giantLabelBytes})
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
