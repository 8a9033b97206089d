package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// tlsSets are the --set overrides that put TLS (and, with clientCA, mutual
// TLS) on both OTLP receivers.
func tlsSets(p *pki, clientCA bool) []string {
	var out []string
	for _, proto := range []string{"grpc", "http"} {
		prefix := "receivers::otlp::protocols::" + proto + "::tls::"
		out = append(out, prefix+"cert_file="+p.server.CertFile, prefix+"key_file="+p.server.KeyFile)
		if clientCA {
			out = append(out, prefix+"client_ca_file="+p.ca.CertFile)
		}
	}
	return out
}

// exportTLSGRPC sends td over gRPC with TLS configuration cfg (nil: plaintext).
func exportTLSGRPC(t *testing.T, endpoint string, cfg *tls.Config, td ptrace.Traces) error {
	t.Helper()
	var opt grpc.DialOption
	if cfg != nil {
		opt = grpc.WithTransportCredentials(credentials.NewTLS(cfg))
	}
	var conn *grpc.ClientConn
	var err error
	if opt != nil {
		conn, err = grpc.NewClient(endpoint, opt)
	} else {
		conn = grpcConn(t, endpoint)
	}
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

// postTLS posts td as protobuf to https://endpoint/v1/traces.
func postTLS(t *testing.T, port int, cfg *tls.Config, td ptrace.Traces) (int, error) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/v1/traces", port), "application/x-protobuf",
		bytes.NewReader(protoBody(t, td)))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestTLSReceivers: with TLS on the receivers, a client trusting the test
// CA gets its data through over gRPC and HTTP; a plaintext client and a
// client trusting another CA are refused, and nothing of theirs arrives.
func TestTLSReceivers(t *testing.T) {
	needBinary(t)
	o := record(t)
	p, other := newPKI(t, "tls"), newPKI(t, "other")
	sink := harness.StartSink(t)
	c := startSinkGateway(t, sink, tlsSets(p, false)...)

	var sent []string
	okG, okH := genBatch("tls-grpc", 1, 2), genBatch("tls-http", 1, 2)
	require.NoError(t, exportTLSGRPC(t, c.GRPCEndpoint(), p.clientTLS(nil), okG.td))
	code, err := postTLS(t, c.HTTPPort, p.clientTLS(nil), okH.td)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	sent = append(append(sent, okG.spanIDs...), okH.spanIDs...)

	refused := genBatch("tls-refused", 1, 1)
	err = exportTLSGRPC(t, c.GRPCEndpoint(), nil, refused.td)
	assert.Equal(t, codes.Unavailable, status.Code(err), "plaintext gRPC: %v", err)
	err = exportTLSGRPC(t, c.GRPCEndpoint(), other.clientTLS(nil), refused.td)
	assert.Equal(t, codes.Unavailable, status.Code(err), "gRPC client not trusting the server: %v", err)
	_, err = postTLS(t, c.HTTPPort, other.clientTLS(nil), refused.td)
	assert.ErrorContains(t, err, "certificate", "HTTPS client not trusting the server")
	code, body, err := post(c.HTTPEndpoint()+"/v1/traces", protoBody(t, refused.td), map[string]string{"Content-Type": "application/x-protobuf"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, code, "plaintext HTTP to the TLS port: %s", body)

	tl := waitDelivered(sent, 20*time.Second, sink)
	tl.fill(o)
	require.Zero(t, tl.lost)
	require.Zero(t, count(refused.spanIDs, sink.SpanIDs()).delivered, "refused client's spans arrived")
	requireAlive(t, c)
}

// TestMTLSReceivers: with client_ca_file set, only clients presenting a
// certificate signed by that CA get through; no certificate or one from
// another CA fails the handshake, over gRPC and HTTP.
func TestMTLSReceivers(t *testing.T) {
	needBinary(t)
	o := record(t)
	p, other := newPKI(t, "mtls"), newPKI(t, "rogue")
	sink := harness.StartSink(t)
	c := startSinkGateway(t, sink, tlsSets(p, true)...)

	ok := genBatch("mtls-ok", 2, 2)
	require.NoError(t, exportTLSGRPC(t, c.GRPCEndpoint(), p.clientTLS(&p.clientKeyPair), ok.td))
	okH := genBatch("mtls-ok-http", 1, 2)
	code, err := postTLS(t, c.HTTPPort, p.clientTLS(&p.clientKeyPair), okH.td)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	sent := append(append([]string(nil), ok.spanIDs...), okH.spanIDs...)

	refused := genBatch("mtls-refused", 1, 1)
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":        p.clientTLS(nil),
		"certificate from another CA":  p.clientTLS(&other.clientKeyPair),
		"server's CA, rogue cert pool": other.clientTLS(&p.clientKeyPair),
	} {
		err := exportTLSGRPC(t, c.GRPCEndpoint(), cfg, refused.td)
		assert.Equal(t, codes.Unavailable, status.Code(err), "gRPC, %s: %v", name, err)
		_, err = postTLS(t, c.HTTPPort, cfg, refused.td)
		assert.Error(t, err, "HTTP, %s", name)
	}

	tl := waitDelivered(sent, 20*time.Second, sink)
	tl.fill(o)
	require.Zero(t, tl.lost)
	require.Zero(t, count(refused.spanIDs, sink.SpanIDs()).delivered, "refused clients' spans arrived")
	requireAlive(t, c)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// TestBearerTokenReceivers: bearertokenauth on both receivers. No token and
// a wrong token get 401 / Unauthenticated; the right token gets through.
// The token itself never shows in the collector's output (debug logs).
func TestBearerTokenReceivers(t *testing.T) {
	needBinary(t)
	o := record(t)
	token := "rt-" + randomHex(t, 16)
	sink := harness.StartSink(t)
	c := harness.Start(t, testdata("gateway-auth.yaml"), harness.Options{
		Env: []string{"SINK_ENDPOINT=" + sink.GRPCEndpoint(), "RECEIVER_TOKEN=" + token},
	})
	c.WaitReady(30 * time.Second)

	conn := grpcConn(t, c.GRPCEndpoint())
	exportWith := func(md metadata.MD, td ptrace.Traces) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if md != nil {
			ctx = metadata.NewOutgoingContext(ctx, md)
		}
		_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		return err
	}
	refused := genBatch("auth-refused", 1, 1)
	pb := map[string]string{"Content-Type": "application/x-protobuf"}
	for name, hdr := range map[string]string{
		"no token":    "",
		"wrong token": "Bearer wrong-" + token[3:10],
		"no scheme":   token,
		"basic":       "Basic " + token,
	} {
		var md metadata.MD
		h := map[string]string{"Content-Type": "application/x-protobuf"}
		if hdr != "" {
			md = metadata.Pairs("authorization", hdr)
			h["Authorization"] = hdr
		}
		err := exportWith(md, refused.td)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "gRPC, %s: %v", name, err)
		code, body, err := post(c.HTTPEndpoint()+"/v1/traces", protoBody(t, refused.td), h)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, code, "HTTP, %s: %s", name, body)
	}

	okG, okH := genBatch("auth-grpc", 1, 2), genBatch("auth-http", 1, 2)
	require.NoError(t, exportWith(metadata.Pairs("authorization", "Bearer "+token), okG.td))
	h := map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + token}
	code, body, err := post(c.HTTPEndpoint()+"/v1/traces", protoBody(t, okH.td), h)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	_ = pb

	sent := append(append([]string(nil), okG.spanIDs...), okH.spanIDs...)
	tl := waitDelivered(sent, 20*time.Second, sink)
	tl.fill(o)
	require.Zero(t, tl.lost)
	require.Zero(t, count(refused.spanIDs, sink.SpanIDs()).delivered)
	requireAlive(t, c)
	requireNoSecret(t, c, token)
}

// requireNoSecret fails when secret appears in the collector's output or in
// anything its health server and telemetry endpoint serve.
func requireNoSecret(t *testing.T, c *harness.Collector, secret string) {
	t.Helper()
	require.NotContains(t, c.Output(), secret, "secret in the collector's logs")
	for _, path := range []string{"/health", "/ready", "/status", "/metrics", "/traces/0102030405060708090a0b0c0d0e0f10"} {
		_, body, err := harness.Get(c.HealthURL(path))
		require.NoError(t, err, path)
		require.NotContains(t, body, secret, "secret served at %s", path)
	}
	_, body, err := harness.Get(c.TelemetryURL())
	require.NoError(t, err)
	require.NotContains(t, body, secret, "secret in the internal telemetry")
}

// TestAPIKeyNeverExposed runs configs/gateway.yaml as shipped, with the
// backend's API key in API_KEY, debug logs, and a backend that first fails
// (so the exporter logs and reports errors) then recovers. Expected: the key
// appears nowhere in the logs, /status, /health, /ready, /metrics or the
// telemetry endpoint, and data still gets through once the backend is back.
func TestAPIKeyNeverExposed(t *testing.T) {
	needBinary(t)
	o := record(t)
	apiKey := "ak-" + randomHex(t, 20)
	sink := harness.StartSink(t)
	sink.SetFailure(fmt.Errorf("backend down for the test"))
	dir := t.TempDir()
	c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Env: []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=" + apiKey},
		Set: append(harness.GatewaySets(dir),
			"service::telemetry::logs::level=debug",
			"exporters::otlp_retry::retry_on_failure::initial_interval=100ms",
			"exporters::otlp_retry::retry_on_failure::max_interval=500ms"),
	})
	c.WaitReady(30 * time.Second)

	b := genBatch("apikey", 2, 2)
	require.NoError(t, exportGRPC(grpcConn(t, c.GRPCEndpoint()), b.td))
	// Let a few attempts fail and be logged and reported.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := metricValue(t, c, "otelcol_otlp_retry_failures"); v >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.GreaterOrEqual(t, metric(t, c, "otelcol_otlp_retry_failures"), 3.0, "the exporter should have failed a few attempts")
	_, st, err := harness.Get(c.HealthURL("/status"))
	require.NoError(t, err)
	t.Logf("/status during the outage: %s", st)
	requireNoSecret(t, c, apiKey)
	sink.SetFailure(nil)

	tl := waitDelivered(b.spanIDs, 60*time.Second, sink)
	tl.fill(o)
	require.Zero(t, tl.lost, "spans lost: %v", tl.missing)
	requireNoSecret(t, c, apiKey)
	c.Stop(30 * time.Second)
	require.NotContains(t, c.Output(), apiKey)
}
