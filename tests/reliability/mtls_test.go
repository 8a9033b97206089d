package reliability

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// The names a gateway pod has without a mesh (deploy/helm/otlpcol, mesh:
// none): the agents' k8s resolver returns <pod>.<headless>.<namespace>, and
// metrics and logs go to the ClusterIP Service.
const (
	gatewayPodName = "otlpcol-gateway-0.otlpcol-gateway-headless.otlpcol"
	gatewaySvcName = "otlpcol-gateway.otlpcol.svc.cluster.local"
)

// meshlessPKI is what a cert-manager CA Issuer would give
// (deploy/security/cert-manager.example.yaml): a gateway certificate for the
// headless per-pod names and the Service, and an agent client certificate,
// both from ca; and a second CA, wrong, that signed neither.
type meshlessPKI struct {
	ca, wrong       *harness.CA
	gateway, agent  harness.Leaf
	wrongAgent      harness.Leaf
	gatewayDNSNames []string
}

func newMeshlessPKI(t *testing.T) *meshlessPKI {
	t.Helper()
	dir := t.TempDir()
	p := &meshlessPKI{
		ca:    harness.NewCA(t, filepath.Join(dir, "right"), "otlpcol mTLS test CA"),
		wrong: harness.NewCA(t, filepath.Join(dir, "wrong"), "some other CA"),
		gatewayDNSNames: []string{
			"*.otlpcol-gateway-headless.otlpcol",
			"*.otlpcol-gateway-headless.otlpcol.svc",
			"*.otlpcol-gateway-headless.otlpcol.svc.cluster.local",
			gatewaySvcName,
		},
	}
	p.gateway = p.ca.Issue(t, "gateway", pkix.Name{CommonName: "otlpcol-gateway"}, x509.ExtKeyUsageServerAuth, nil, p.gatewayDNSNames)
	p.agent = p.ca.Issue(t, "agent", pkix.Name{CommonName: "otlpcol-agent"}, x509.ExtKeyUsageClientAuth, nil, nil)
	p.wrongAgent = p.wrong.Issue(t, "agent", pkix.Name{CommonName: "otlpcol-agent"}, x509.ExtKeyUsageClientAuth, nil, nil)
	return p
}

// startMTLSGateway runs configs/gateway.yaml with the shipped mutual-TLS
// overlay (configs/mtls/gateway.yaml), its files moved to p's.
func startMTLSGateway(t *testing.T, p *meshlessPKI, sink *harness.Sink, dir string) *harness.Collector {
	t.Helper()
	set := harness.GatewaySets(dir)
	for _, proto := range []string{"grpc", "http"} {
		k := "receivers::otlp::protocols::" + proto + "::tls::"
		set = append(set, k+"cert_file="+p.gateway.CertFile, k+"key_file="+p.gateway.KeyFile, k+"client_ca_file="+p.ca.CertFile)
	}
	c := harness.Start(t, harness.Config("gateway.yaml"), harness.Options{
		Overlays: []string{harness.Config("mtls/gateway.yaml")},
		Env:      []string{"OTLP_ENDPOINT=" + sink.GRPCEndpoint(), "API_KEY=mtls-test"},
		Set:      set,
	})
	c.WaitReady(30 * time.Second)
	return c
}

// startMTLSAgent runs configs/agent.yaml with configs/mtls/agent.yaml,
// trusting caFile, on the queue in dir. The static resolver stands in for
// the k8s one; server_name_override gives the name the k8s resolver (with
// return_hostnames) would have dialled.
func startMTLSAgent(t *testing.T, p *meshlessPKI, gw *harness.Collector, dir, caFile string) *harness.Collector {
	t.Helper()
	set := append(agentQuickRetry(dir), harness.AgentTo(gw.GRPCEndpoint())...)
	for k, name := range map[string]string{
		"exporters::load_balancing::protocol::otlp::tls::": gatewayPodName,
		"exporters::otlp_grpc/gateway::tls::":              gatewaySvcName,
	} {
		set = append(set, k+"ca_file="+caFile, k+"cert_file="+p.agent.CertFile, k+"key_file="+p.agent.KeyFile,
			k+"server_name_override="+name)
	}
	c := harness.Start(t, harness.Config("agent.yaml"), harness.Options{
		Overlays: []string{harness.Config("mtls/agent.yaml")},
		Set:      set,
	})
	c.WaitReady(30 * time.Second)
	return c
}

// TestAgentGatewayMutualTLS: agent -> gateway without a mesh, over the
// shipped mutual-TLS overlays (configs/mtls/), with a throwaway CA. The
// gateway refuses a client without a certificate and one whose certificate
// another CA signed. An agent that trusts the wrong CA refuses the
// gateway: it accepts the applications' spans into its persistent queue
// and delivers none. Restarted on the same queue with the right CA (the
// Secret fixed and the pod replaced), it delivers every one: 0 lost.
func TestAgentGatewayMutualTLS(t *testing.T) {
	needBinary(t)
	o := record(t)
	p := newMeshlessPKI(t)
	sink := harness.StartSink(t)
	gw := startMTLSGateway(t, p, sink, t.TempDir())

	// The gateway's side: no client certificate, or one from another CA,
	// is refused in the handshake; the right one gets in.
	probe := genBatch("mtls-probe", 1, 1)
	for _, c := range []struct {
		name string
		cert *harness.Leaf
		ok   bool
	}{{"no client certificate", nil, false}, {"client certificate of another CA", &p.wrongAgent, false}, {"the agent's certificate", &p.agent, true}} {
		cfg := &tls.Config{RootCAs: p.ca.Pool, ServerName: gatewayPodName, MinVersion: tls.VersionTLS12}
		if c.cert != nil {
			// Presented whatever CAs the gateway asks for: Go's client would
			// otherwise send no certificate rather than one of another CA.
			kp := c.cert.KeyPair(t)
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
		}
		conn, err := grpc.NewClient(gw.GRPCEndpoint(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		require.NoError(t, err)
		err = exportGRPCWithin(conn, probe.td, 5*time.Second)
		_ = conn.Close()
		if c.ok {
			require.NoError(t, err, "%s: refused", c.name)
		} else {
			require.Error(t, err, "%s: accepted", c.name)
			t.Logf("gateway, %s: %v", c.name, err)
		}
	}
	require.True(t, waitFor(30*time.Second, func() bool { return count(probe.spanIDs, sink.SpanIDs()).lost == 0 }),
		"the span sent with the agent's certificate never reached the backend")

	// The agent's side: it trusts the wrong CA.
	dir := t.TempDir()
	agent := startMTLSAgent(t, p, gw, dir, p.wrong.CertFile)
	var sent []string
	for i := range 20 {
		b := genBatch(fmt.Sprintf("mtls-%d", i), 10, 5)
		conn := grpcConn(t, agent.GRPCEndpoint())
		require.NoError(t, exportGRPC(conn, b.td), "the agent refused batch %d", i)
		sent = append(sent, b.spanIDs...)
	}
	require.True(t, waitFor(30*time.Second, func() bool {
		return strings.Contains(agent.Output(), "certificate signed by unknown authority")
	}), "the agent never reported the gateway's certificate as untrusted")
	time.Sleep(3 * time.Second) // retries keep failing meanwhile
	wrongPhase := count(sent, sink.SpanIDs())
	assert.Zero(t, wrongPhase.delivered, "spans went to a gateway the agent must not trust")
	assert.Positive(t, metric(t, agent, "otelcol_exporter_queue_size"), "the accepted spans are not in the agent's queue")
	t.Logf("wrong CA: %d spans acknowledged by the agent, %d delivered", len(sent), wrongPhase.delivered)

	// The right CA mounted: a new agent pod on the node's queue.
	agent.Signal(syscall.SIGTERM)
	if _, exited := agent.Wait(30 * time.Second); !exited {
		t.Fatal("the agent did not stop within 30s of SIGTERM")
	}
	agent = startMTLSAgent(t, p, gw, dir, p.ca.CertFile)
	tl := waitDelivered(sent, 60*time.Second, sink)
	tl.fill(o)
	o.PeakRSS = peakRSS(agent)
	t.Logf("right CA: %d of %d spans delivered, %d duplicates, %d lost", tl.delivered, tl.sent, tl.duplicates, tl.lost)
	require.Zero(t, tl.lost, "lost spans, e.g. %v", tl.missing)
	requireAlive(t, agent)
	requireAlive(t, gw)
}
