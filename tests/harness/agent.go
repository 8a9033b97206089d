package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// AgentTo returns the --set overrides that point configs/agent.yaml at
// these gateways (host:port) in place of the cluster's Services: the static
// resolver for load_balancing, otlp_grpc/gateway at the first one, and no
// drain delay.
func AgentTo(gateways ...string) []string {
	return []string{
		"exporters::load_balancing::resolver::k8s=null",
		"exporters::load_balancing::resolver::static::hostnames=[" + strings.Join(gateways, ",") + "]",
		"exporters::otlp_grpc/gateway::endpoint=" + gateways[0],
		"extensions::health::drain_delay=0s",
	}
}

// Gateway is configs/gateway.yaml on a fixed loopback gRPC port and state
// directory, exporting to a Sink over plain gRPC. Start starts it (again,
// after a Kill: on the same port and state, as a restarted pod would be).
type Gateway struct {
	t       testing.TB
	backend *Sink
	apiKey  string
	dir     string
	ready   time.Duration
	// Port is the gateway's OTLP gRPC port, the same at every start.
	Port int
}

// NewGateway picks the gateway's port and state directory; readyTimeout is
// how long Start and StartAgent wait for /ready.
func NewGateway(t testing.TB, backend *Sink, apiKey string, readyTimeout time.Duration) *Gateway {
	t.Helper()
	return &Gateway{t: t, backend: backend, apiKey: apiKey, dir: t.TempDir(), ready: readyTimeout, Port: FreePort(t)}
}

// Endpoint is host:port of the gateway's OTLP gRPC receiver.
func (g *Gateway) Endpoint() string { return fmt.Sprintf("127.0.0.1:%d", g.Port) }

// Start runs the gateway and waits until it is ready.
func (g *Gateway) Start() *Collector {
	g.t.Helper()
	config := Config("gateway.yaml")
	c := Start(g.t, config, Options{
		Env: []string{"OTLP_ENDPOINT=" + g.backend.GRPCEndpoint(), "API_KEY=" + g.apiKey},
		Set: append(GatewaySets(g.dir), "receivers::otlp::protocols::grpc::endpoint="+g.Endpoint()),
	})
	c.WaitReady(g.ready)
	return c
}

// StartAgent runs configs/agent.yaml in front of the gateway (AgentTo),
// its state in a fresh directory, and waits until it is ready.
func (g *Gateway) StartAgent() *Collector {
	g.t.Helper()
	config := Config("agent.yaml")
	c := Start(g.t, config, Options{Set: append(StateSets(g.t, config, g.t.TempDir()), AgentTo(g.Endpoint())...)})
	c.WaitReady(g.ready)
	return c
}
