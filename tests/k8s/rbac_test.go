package k8s

import (
	"strings"
	"testing"
)

// agentSA is the ServiceAccount deploy/k8s/agent runs the agent as.
const agentSA = "system:serviceaccount:otlpcol:otlpcol-agent"

// testRBAC asks the API server's authorizer, as the agent's ServiceAccount,
// for what the k8s resolver needs (yes) and for what it must never get (no).
func testRBAC(t *testing.T, c *cluster) {
	type check struct {
		verb, resource, ns string
		want               bool
	}
	checks := []check{
		// The resolver's informer: list, then watch, EndpointSlices of the
		// gateway's Service, in the agent's own namespace.
		{"list", "endpointslices.discovery.k8s.io", "otlpcol", true},
		{"watch", "endpointslices.discovery.k8s.io", "otlpcol", true},
		// Nothing else in its namespace, not even get (the informer never
		// gets one slice by name)...
		{"get", "endpointslices.discovery.k8s.io", "otlpcol", false},
		{"create", "endpointslices.discovery.k8s.io", "otlpcol", false},
		{"update", "endpointslices.discovery.k8s.io", "otlpcol", false},
		{"patch", "endpointslices.discovery.k8s.io", "otlpcol", false},
		{"delete", "endpointslices.discovery.k8s.io", "otlpcol", false},
		{"deletecollection", "endpointslices.discovery.k8s.io", "otlpcol", false},
		{"get", "secrets", "otlpcol", false},
		{"list", "secrets", "otlpcol", false},
		{"watch", "secrets", "otlpcol", false},
		{"create", "pods/exec", "otlpcol", false},
		{"get", "pods/exec", "otlpcol", false},
		{"create", "pods", "otlpcol", false},
		{"delete", "pods", "otlpcol", false},
		{"list", "pods", "otlpcol", false},
		{"get", "configmaps", "otlpcol", false},
		{"update", "configmaps", "otlpcol", false},
		{"create", "serviceaccounts/token", "otlpcol", false},
		{"patch", "services", "otlpcol", false},
		{"update", "deployments.apps", "otlpcol", false},
		{"update", "daemonsets.apps", "otlpcol", false},
		{"create", "roles.rbac.authorization.k8s.io", "otlpcol", false},
		{"create", "rolebindings.rbac.authorization.k8s.io", "otlpcol", false},
		{"escalate", "roles.rbac.authorization.k8s.io", "otlpcol", false},
		// ...and nothing in any other namespace or cluster-wide.
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
