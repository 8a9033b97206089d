package k8s

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// testChartApply applies every ci/ set's rendering of the chart, server-side
// with strict field validation, each in a namespace of its own under Pod
// Security (restricted; the agents' privileged-with-restricted-warnings, as
// deploy/k8s/agent), with the prometheus-operator CRDs for the monitoring
// objects, and waits until every workload is available.
func testChartApply(t *testing.T, c *cluster) {
	helmBin(t)
	crds, err := os.ReadFile(filepath.Join("testdata", "prometheus-operator-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.applyServerSide(t, "prometheus-operator CRDs (testdata)", string(crds), true)
	c.kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
	for _, s := range chartSets {
		labels := restrictedLabels
		what := "chart " + s.file
		if s.agent {
			labels = podSecurity(agentNS)
			// The same documented deviations as deploy/k8s/agent, and no other.
			expectedWarnings[what] = expectedWarnings["deploy/k8s/agent"]
		}
		c.applyServerSide(t, "namespace "+s.ns, namespaceWithLabels(s.ns, labels), true)
		rendered := helmTemplate(t, s.ns, "-f", s.values())
		c.applyServerSide(t, what, rendered, true, "--namespace", s.ns)
		out := c.kubectlIn(t, rendered, "get", "-n", s.ns, "-f", "-", "-o", "name")
		t.Logf("%s stored in %s: %s", s.file, s.ns, strings.Join(strings.Fields(out), " "))
	}
	c.waitWorkloads(t, 3*time.Minute)
}

// testHelmRelease is the README's quick start through the API server with
// the built helm: install with only backend.endpoint set, an upgrade that
// changes one config key (the pods roll, the HPA's replica count stays),
// and an uninstall that keeps every replica's claim.
func testHelmRelease(t *testing.T, c *cluster) {
	helmBin(t)
	const ns = "otlpcol-helm"
	c.applyServerSide(t, "namespace "+ns, namespaceYAML(ns), true)
	helm := func(args ...string) string {
		t.Helper()
		out, stderr, err := runHelm(t, append(args, "--namespace", ns, "--kubeconfig", c.kubeconfig)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Split(strings.TrimSpace(stderr), "\n") {
			// The one expected line: files/ holds symbolic links (chart README).
			if w != "" && !strings.Contains(w, `msg="found symbolic link in path`) {
				t.Errorf("helm %s warned: %s", args[0], w)
			}
		}
		return out
	}
	out := helm("install", "otlpcol", chartDir(), "--set", "backend.endpoint=otlp.backend.example.com:4317")
	t.Logf("helm install:\n%s", lastLines(out, 12))

	// The StatefulSet starts without a count of its own; the HPA raises it
	// to minReplicas (3).
	var sts appsv1.StatefulSet
	c.waitFor(t, "the HPA scales otlpcol-gateway to 3 and all are available", 3*time.Minute, func() (bool, string) {
		c.bindPendingClaims(t)
		c.getJSON(t, &sts, "-n", ns, "get", "statefulset", "otlpcol-gateway")
		return sts.Spec.Replicas != nil && *sts.Spec.Replicas == 3 && sts.Status.AvailableReplicas == 3,
			strings.TrimSpace(c.kubectl(t, "-n", ns, "get", "statefulset,hpa,pvc", "--no-headers"))
	})
	before := sts.Spec.Template.Annotations["checksum/config"]

	out = helm("upgrade", "otlpcol", chartDir(), "--reuse-values", "--set", "config.processors.trace_registry.max_traces=200000")
	t.Logf("helm upgrade:\n%s", lastLines(out, 6))
	var cm corev1.ConfigMap
	c.getJSON(t, &cm, "-n", ns, "get", "configmap", "otlpcol-gateway-config")
	if !strings.Contains(cm.Data["config.yaml"], "max_traces: 200000") {
		t.Errorf("after the upgrade, the config has no max_traces: 200000:\n%s", cm.Data["config.yaml"])
	}
	c.getJSON(t, &sts, "-n", ns, "get", "statefulset", "otlpcol-gateway")
	if after := sts.Spec.Template.Annotations["checksum/config"]; after == before {
		t.Errorf("the config changed and the pod template did not (checksum/config %s): the pods would not roll", after)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("the upgrade reset the HPA's replica count to %v", sts.Spec.Replicas)
	}

	out = helm("uninstall", "otlpcol")
	t.Logf("helm uninstall: %s", strings.TrimSpace(out))
	c.waitFor(t, "the release's objects gone", time.Minute, func() (bool, string) {
		left := strings.TrimSpace(c.kubectl(t, "-n", ns, "get", "statefulset,service,configmap,hpa,pdb,role,rolebinding,serviceaccount,networkpolicy",
			"-l", "app.kubernetes.io/instance=otlpcol-gateway", "-o", "name"))
		return left == "", left
	})
	var pvcs corev1.PersistentVolumeClaimList
	c.getJSON(t, &pvcs, "-n", ns, "get", "persistentvolumeclaims")
	var kept []string
	for _, p := range pvcs.Items {
		if p.DeletionTimestamp == nil {
			kept = append(kept, p.Name)
		}
	}
	for i := range 3 {
		if !strings.Contains(" "+strings.Join(kept, " ")+" ", " data-otlpcol-gateway-"+string(rune('0'+i))+" ") {
			t.Errorf("claim data-otlpcol-gateway-%d is gone after helm uninstall (kept: %v)", i, kept)
		}
	}
	t.Logf("after helm uninstall, claims kept: %v", kept)
}

// chartMutualTLS is the routing scenario on the chart's rendering without a
// mesh, with mutual TLS (tls.clientAuth): the gateways serve the chart's
// receiver TLS, the agent's k8s resolver returns per-pod names
// (return_hostnames) and verifies each gateway by its name against a
// throwaway CA; only the certificate and key paths (a Secret's mount in a
// pod) and the scenario's addresses are changed.
func chartMutualTLS(t *testing.T) routingSetup {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	agentCfg := write("agent.yaml", renderedConfig(t, decodeObjects(t, helmTemplate(t, agentNS,
		"--set", "mode=agent", "--set", "tls.clientAuth=true")), "otlpcol-agent"))
	gatewayCfg := write("gateway.yaml", renderedConfig(t, decodeObjects(t, helmTemplate(t, gatewayNS,
		"--set", "backend.endpoint=set-by-the-test:4317", "--set", "tls.clientAuth=true")), "otlpcol-gateway"))
	ca := harness.NewCA(t, filepath.Join(dir, "pki"), "otlpcol routing test CA")
	gw := ca.Issue(t, "gateway", pkix.Name{CommonName: "otlpcol-gateway"}, x509.ExtKeyUsageServerAuth, nil,
		[]string{"*." + routingService + "." + gatewayNS})
	agent := ca.Issue(t, "agent", pkix.Name{CommonName: "otlpcol-agent"}, x509.ExtKeyUsageClientAuth, nil, nil)
	return routingSetup{
		agentConfig: agentCfg, gatewayConfig: gatewayCfg, perPodNames: true,
		gatewaySet: func([]*testHost) []string {
			var set []string
			for _, p := range []string{"grpc", "http"} {
				k := "receivers::otlp::protocols::" + p + "::tls::"
				set = append(set, k+"cert_file="+gw.CertFile, k+"key_file="+gw.KeyFile, k+"client_ca_file="+ca.CertFile)
			}
			return set
		},
		agentSet: func(hosts []*testHost) []string {
			var set []string
			for _, k := range []string{"exporters::load_balancing::protocol::otlp::tls::", "exporters::otlp_grpc/gateway::tls::"} {
				set = append(set, k+"ca_file="+ca.CertFile, k+"cert_file="+agent.CertFile, k+"key_file="+agent.KeyFile)
			}
			// Metrics and logs (unused here) go to gateway-0 by its name.
			return append(set, "exporters::otlp_grpc/gateway::tls::server_name_override=gateway-0."+routingService+"."+gatewayNS)
		},
	}
}
