package k8s

import (
	"strings"
	"testing"
)

// The agent runs as ServiceAccount otlpcol-agent in its own namespace
// (deploy/k8s/agent); the gateway overlay lets it watch the gateway's
// EndpointSlices in the gateway's namespace.
const (
	agentNS     = "otlpcol-agent"
	agentSAName = "otlpcol-agent"
	agentSA     = "system:serviceaccount:" + agentNS + ":" + agentSAName
	gatewayNS   = "otlpcol"
)

// testRBAC asks the API server's authorizer, as the agent's ServiceAccount,
// for what the k8s resolver needs (yes) and for what it must never get (no).
func testRBAC(t *testing.T, c *cluster) {
	type check struct {
		verb, resource, ns string
		want               bool
	}
	checks := []check{
		// The resolver's informer: list, then watch, EndpointSlices of the
		// gateway's Service, in the gateway's namespace.
		{"list", "endpointslices.discovery.k8s.io", gatewayNS, true},
		{"watch", "endpointslices.discovery.k8s.io", gatewayNS, true},
		// Nothing else in its namespace, not even get (the informer never
		// gets one slice by name)...
		{"get", "endpointslices.discovery.k8s.io", gatewayNS, false},
		{"create", "endpointslices.discovery.k8s.io", gatewayNS, false},
		{"update", "endpointslices.discovery.k8s.io", gatewayNS, false},
		{"patch", "endpointslices.discovery.k8s.io", gatewayNS, false},
		{"delete", "endpointslices.discovery.k8s.io", gatewayNS, false},
		{"deletecollection", "endpointslices.discovery.k8s.io", gatewayNS, false},
		{"get", "secrets", gatewayNS, false},
		{"list", "secrets", gatewayNS, false},
		{"watch", "secrets", gatewayNS, false},
		{"create", "pods/exec", gatewayNS, false},
		{"get", "pods/exec", gatewayNS, false},
		{"create", "pods", gatewayNS, false},
		{"delete", "pods", gatewayNS, false},
		{"list", "pods", gatewayNS, false},
		{"get", "configmaps", gatewayNS, false},
		{"update", "configmaps", gatewayNS, false},
		{"create", "serviceaccounts/token", gatewayNS, false},
		{"patch", "services", gatewayNS, false},
		{"update", "deployments.apps", gatewayNS, false},
		{"update", "daemonsets.apps", gatewayNS, false},
		{"create", "roles.rbac.authorization.k8s.io", gatewayNS, false},
		{"create", "rolebindings.rbac.authorization.k8s.io", gatewayNS, false},
		{"escalate", "roles.rbac.authorization.k8s.io", gatewayNS, false},
		// ...and nothing in any other namespace (its own included) or
		// cluster-wide.
		{"list", "endpointslices.discovery.k8s.io", agentNS, false},
		{"get", "secrets", agentNS, false},
		{"list", "pods", agentNS, false},
		{"create", "pods/exec", agentNS, false},
		{"list", "endpointslices.discovery.k8s.io", "default", false},
		{"watch", "endpointslices.discovery.k8s.io", "kube-system", false},
		{"get", "secrets", "kube-system", false},
		{"list", "nodes", "", false},
		{"create", "clusterrolebindings.rbac.authorization.k8s.io", "", false},
	}
	for _, ck := range checks {
		args := []string{"auth", "can-i", ck.verb, ck.resource, "--as=" + agentSA}
		if ck.ns != "" {
			args = append(args, "-n", ck.ns)
		}
		out, err := c.kubectlErr(args...)
		got := strings.TrimSpace(out) == "yes"
		// can-i exits 1 on "no": only an answer other than yes/no is an error.
		if err != nil && strings.TrimSpace(out) != "no" {
			t.Errorf("%s: %v", strings.Join(args, " "), err)
			continue
		}
		if got != ck.want {
			t.Errorf("can-i %s %s -n %q as the agent: %v, want %v", ck.verb, ck.resource, ck.ns, got, ck.want)
		}
	}
}
