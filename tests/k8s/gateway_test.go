package k8s

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// gatewayPod is bin/otlpcol with configs/gateway.yaml in a test host's
// network namespace, exporting to its own sink on the host end of the veth.
type gatewayPod struct {
	Name   string
	Host   *testHost
	Sink   *harness.Sink
	health string // base URL of the health extension, at the pod IP
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// gatewayPorts are the same in every namespace, as in a pod template.
type gatewayPorts struct{ GRPC, HTTP, Health, Telemetry int }

func newGatewayPorts(t *testing.T) gatewayPorts {
	return gatewayPorts{GRPC: harness.FreePort(t), HTTP: harness.FreePort(t), Health: harness.FreePort(t), Telemetry: harness.FreePort(t)}
}

// startGatewayPod starts the gateway in host's namespace and waits until
// /ready answers 200 at the pod IP.
func startGatewayPod(t *testing.T, name string, host *testHost, p gatewayPorts, rs routingSetup) *gatewayPod {
	t.Helper()
	g := &gatewayPod{Name: name, Host: host, Sink: harness.StartSinkOn(t, host.HostIP, false), out: &lockedBuffer{}, done: make(chan struct{})}
	g.health = fmt.Sprintf("http://%s:%d", host.PodIP, p.Health)
	state := filepath.Join(t.TempDir(), name)
	args := []string{"netns", "exec", host.NS, harness.Binary(t), "--config", rs.gatewayConfig,
		"--set", fmt.Sprintf("receivers::otlp::protocols::grpc::endpoint=%s:%d", host.PodIP, p.GRPC),
		"--set", fmt.Sprintf("receivers::otlp::protocols::http::endpoint=%s:%d", host.PodIP, p.HTTP),
		"--set", fmt.Sprintf("extensions::health::endpoint=%s:%d", host.PodIP, p.Health),
		"--set", "exporters::otlp_retry::tls::insecure=true",
	}
	for _, s := range append(harness.StateSets(t, rs.gatewayConfig, state), rs.gatewaySet(nil)...) {
		args = append(args, "--set", s)
	}
	g.cmd = exec.Command("ip", args...)
	g.cmd.Env = append(os.Environ(), "OTLP_ENDPOINT="+g.Sink.GRPCEndpoint(), "API_KEY=k8s-test",
		fmt.Sprintf("OTLPCOL_TELEMETRY_PORT=%d", p.Telemetry))
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gateway %s: %v", name, err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("--- gateway %s output, last lines:\n%s", name, lastLines(g.out.String(), 20))
		}
	})
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(g.health + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		select {
		case <-g.done:
			t.Fatalf("gateway %s exited:\n%s", name, lastLines(g.out.String(), 20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s not ready at %s/ready: %v\n%s", name, g.health, err, lastLines(g.out.String(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM, as the kubelet does, and SIGKILL after grace.
func (g *gatewayPod) stop(grace time.Duration) (exitedInGrace bool) {
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-g.done:
		return true
	case <-time.After(grace):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
		return false
	}
}
