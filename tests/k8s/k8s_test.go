// Package k8s runs what deploy/ ships against a real Kubernetes control
// plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler built
// from source by tools/, kwok for fake nodes), on loopback: server-side apply
// under Pod Security "restricted", RBAC as the agent's ServiceAccount, and
// the agent's trace-ID routing through a real EndpointSlice watch while
// gateways come and go. `make test-k8s` builds the binaries and runs it;
// `go test ./...` skips it.
package k8s

import (
	"fmt"
	"os"
	"testing"
)

// binEnv names the directory of the control-plane binaries (tools/build.sh).
const binEnv = "OTLPCOL_K8S_BIN"

func TestMain(m *testing.M) {
	code := m.Run()
	if table := routingTable(); table != "" {
		fmt.Print(table)
		if path := os.Getenv("OTLPCOL_K8S_TABLE"); path != "" {
			if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "writing %s: %v\n", path, err)
			}
		}
	}
	os.Exit(code)
}

// TestControlPlane starts one control plane with three fake nodes and runs
// the checks on it in order; the control plane goes away when it ends.
func TestControlPlane(t *testing.T) {
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Skipf("needs a control plane: run `make test-k8s` (or set %s to tools/build.sh's directory)", binEnv)
	}
	c := startCluster(t, bin, 3)
	if !t.Run("Apply", func(t *testing.T) { testApply(t, c) }) {
		t.Log("Apply failed: RBAC and routing still run on what was accepted")
	}
	t.Run("Chart", func(t *testing.T) { testChartApply(t, c) })
	t.Run("HelmRelease", func(t *testing.T) { testHelmRelease(t, c) })
	t.Run("RBAC", func(t *testing.T) { testRBAC(t, c) })
	t.Run("Routing", func(t *testing.T) { testRouting(t, c, shippedConfigs()) })
	t.Run("RoutingChartMutualTLS", func(t *testing.T) { testRouting(t, c, chartMutualTLS(t)) })
	t.Run("AgentReadiness", func(t *testing.T) { testAgentReadiness(t, c) })
}
