package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// istioAPI is the istio.io/api release whose CRD file is installed.
const istioAPI = "istio.io/api@v1.32.0"

// overlays are the kustomizations applied, in order: the gateway owns the
// namespace, so it comes first.
var overlays = []string{"deploy/k8s/gateway", "deploy/k8s/agent", "deploy/istio", "deploy/monitoring", "deploy/argocd"}

// restrictedLabels are the Pod Security labels every namespace gets.
var restrictedLabels = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
}

// podSecurity is what each namespace must carry: restricted everywhere but
// in the agents' namespace, which enforces privileged for its one hostPath
// volume and the init container that chowns it, and still audits and warns
// at restricted (deploy/k8s/agent/namespace.yaml says why).
func podSecurity(ns string) map[string]string {
	if ns != agentNS {
		return restrictedLabels
	}
	return map[string]string{
		"pod-security.kubernetes.io/enforce":         "privileged",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/audit":           "restricted",
		"pod-security.kubernetes.io/warn":            "restricted",
	}
}

// expectedWarnings are the API server's warnings an overlay is known to
// draw, exactly: the restricted profile's "warn" on the agent DaemonSet,
// listing its documented deviations and nothing else. Any other warning
// fails the test.
var expectedWarnings = map[string][]string{
	"deploy/k8s/agent": {`Warning: would violate PodSecurity "restricted:latest": ` +
		`unrestricted capabilities (container "queue-dir-owner" must not include "CHOWN" in securityContext.capabilities.add), ` +
		`restricted volume types (volume "queue" uses restricted volume type "hostPath"), ` +
		`runAsNonRoot != true (container "queue-dir-owner" must not set securityContext.runAsNonRoot=false), ` +
		`runAsUser=0 (container "queue-dir-owner" must not set runAsUser=0)`},
}

// renderYAML builds a kustomization with the kustomize library, as
// `kubectl apply -k` would, and returns the objects as one YAML stream.
func renderYAML(t *testing.T, dir string) string {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), filepath.Join(harness.RepoRoot(), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b, err := m.AsYaml()
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return string(b)
}

// istioCRDs is the path of istio.io/api's CRD file, downloaded through the
// Go module proxy (outside any module, so no go.sum changes).
func istioCRDs(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", istioAPI)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", istioAPI, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: %v (%s)", istioAPI, err, out)
	}
	return filepath.Join(m.Dir, "kubernetes", "customresourcedefinitions.gen.yaml")
}

// applyServerSide applies a YAML stream server-side, strictly validated.
// For what we ship (ours), any warning fails the test: Pod Security "would
// violate" warnings are among them. Warnings about third-party CRDs are logged.
// Extra kubectl arguments (a namespace) follow.
func (c *cluster) applyServerSide(t *testing.T, what, yaml string, ours bool, args ...string) {
	t.Helper()
	out, stderr, err := c.kubectlFull(c.kubeconfig, yaml, append([]string{"apply", "--server-side", "--field-manager=otlpcol-test",
		"--validate=strict", "-f", "-"}, args...)...)
	if err != nil {
		t.Fatalf("apply %s: %v", what, err)
	}
	for _, w := range strings.Split(strings.TrimSpace(stderr), "\n") {
		switch {
		case w == "":
		case slices.Contains(expectedWarnings[what], w):
			t.Logf("apply %s: expected warning: %s", what, w)
		case ours:
			t.Errorf("apply %s: the API server warned: %s", what, w)
		default:
			t.Logf("apply %s: the API server warned: %s", what, w)
		}
	}
	t.Logf("apply %s:\n%s", what, strings.TrimSpace(out))
}

// testApply applies the CRDs and every overlay and waits until every
// workload is available on the fake nodes.
func testApply(t *testing.T, c *cluster) {
	crds, err := os.ReadFile(istioCRDs(t))
	if err != nil {
		t.Fatal(err)
	}
	argo, err := os.ReadFile(filepath.Join("testdata", "argocd-application-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.applyServerSide(t, "Istio CRDs ("+istioAPI+")", string(crds), false)
	c.applyServerSide(t, "Argo CD Application CRD (testdata)", string(argo), true)
	c.kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")

	rendered := map[string]string{}
	namespaces := map[string]bool{}
	for _, o := range overlays {
		rendered[o] = renderYAML(t, o)
		for _, ns := range namespacesOf(rendered[o]) {
			namespaces[ns] = true
		}
	}
	// The namespaces the overlays do not create themselves get the
	// restricted labels here; the ones they create must carry theirs.
	created := namespacesCreated(rendered)
	for ns := range namespaces {
		if created[ns] {
			continue
		}
		c.applyServerSide(t, "namespace "+ns, namespaceYAML(ns), true)
	}
	for _, o := range overlays {
		c.applyServerSide(t, o, rendered[o], true)
	}
	for ns := range namespaces {
		var got corev1.Namespace
		c.getJSON(t, &got, "get", "namespace", ns)
		for k, v := range podSecurity(ns) {
			if got.Labels[k] != v {
				t.Errorf("namespace %s: label %s=%q, want %q", ns, k, got.Labels[k], v)
			}
		}
	}
	// Every rendered object is there, as the API server stored it.
	for _, o := range overlays {
		out := c.kubectlIn(t, rendered[o], "get", "-f", "-", "-o", "name")
		t.Logf("%s stored: %s", o, strings.Join(strings.Fields(out), " "))
	}
	c.waitWorkloads(t, 3*time.Minute)
	for _, kind := range []string{"poddisruptionbudget", "horizontalpodautoscaler"} {
		if out := strings.TrimSpace(c.kubectl(t, "-n", gatewayNS, "get", kind, "-o", "name")); out == "" {
			t.Errorf("no %s in namespace %s", kind, gatewayNS)
		}
	}
}

func namespaceYAML(ns string) string { return namespaceWithLabels(ns, restrictedLabels) }

func namespaceWithLabels(ns string, labels map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n", ns)
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s: %s\n", k, labels[k])
	}
	return b.String()
}

// namespacesOf lists the metadata.namespace values in a YAML stream.
func namespacesOf(yaml string) []string {
	var out []string
	for _, doc := range strings.Split(yaml, "\n---\n") {
		for _, l := range strings.Split(doc, "\n") {
			if strings.HasPrefix(l, "  namespace: ") {
				out = append(out, strings.TrimSpace(strings.TrimPrefix(l, "  namespace: ")))
			}
		}
	}
	return out
}

// namespacesCreated lists the Namespace objects the overlays render.
func namespacesCreated(rendered map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, y := range rendered {
		for _, doc := range strings.Split(y, "\n---\n") {
			if !strings.Contains("\n"+doc, "\nkind: Namespace\n") {
				continue
			}
			for _, l := range strings.Split(doc, "\n") {
				if strings.HasPrefix(l, "  name: ") {
					out[strings.TrimSpace(strings.TrimPrefix(l, "  name: "))] = true
					break
				}
			}
		}
	}
	return out
}

// getJSON runs kubectl ... -o json as admin and decodes the answer.
func (c *cluster) getJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := c.kubectl(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubectl %v: %v", args, err)
	}
}

// waitWorkloads waits until every Deployment, StatefulSet and DaemonSet in
// the cluster is available, giving every pending PersistentVolumeClaim a
// volume on the way (there is no storage provisioner here).
func (c *cluster) waitWorkloads(t *testing.T, timeout time.Duration) {
	t.Helper()
	c.waitFor(t, "every Deployment, StatefulSet and DaemonSet available", timeout, func() (bool, string) {
		c.bindPendingClaims(t)
		var notReady []string
		var deps appsv1.DeploymentList
		c.getJSON(t, &deps, "get", "deployments", "-A")
		for _, d := range deps.Items {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			if d.Status.AvailableReplicas < want || d.Status.ObservedGeneration < d.Generation {
				notReady = append(notReady, fmt.Sprintf("Deployment %s/%s %d/%d available", d.Namespace, d.Name, d.Status.AvailableReplicas, want))
			}
		}
		var sts appsv1.StatefulSetList
		c.getJSON(t, &sts, "get", "statefulsets", "-A")
		for _, s := range sts.Items {
			want := int32(1)
			if s.Spec.Replicas != nil {
				want = *s.Spec.Replicas
			}
			if s.Status.AvailableReplicas < want || s.Status.ObservedGeneration < s.Generation {
				notReady = append(notReady, fmt.Sprintf("StatefulSet %s/%s %d/%d available", s.Namespace, s.Name, s.Status.AvailableReplicas, want))
			}
		}
		var dss appsv1.DaemonSetList
		c.getJSON(t, &dss, "get", "daemonsets", "-A")
		for _, d := range dss.Items {
			if d.Status.DesiredNumberScheduled == 0 || d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
				notReady = append(notReady, fmt.Sprintf("DaemonSet %s/%s %d/%d available", d.Namespace, d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled))
			}
		}
		if len(deps.Items)+len(sts.Items)+len(dss.Items) == 0 {
			return false, "no workloads at all"
		}
		if len(notReady) == 0 {
			t.Logf("available: %d Deployments, %d StatefulSets, %d DaemonSets", len(deps.Items), len(sts.Items), len(dss.Items))
			return true, ""
		}
		// Why: the events that keep pods from existing or running.
		ev, _ := c.kubectlErr("get", "events", "-A", "--field-selector=type=Warning", "-o",
			`jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name}: {.reason}: {.message}{"\n"}{end}`)
		return false, strings.Join(notReady, "; ") + "\nwarning events:\n" + lastLines(ev, 10)
	})
}

// bindPendingClaims creates a hostPath PersistentVolume for every claim that
// has none, pre-bound to it (claimRef), of the claim's class, size and modes.
// Nothing writes to it: the pods are kwok's and run no containers.
func (c *cluster) bindPendingClaims(t *testing.T) {
	t.Helper()
	var pvcs corev1.PersistentVolumeClaimList
	c.getJSON(t, &pvcs, "get", "persistentvolumeclaims", "-A")
	for _, p := range pvcs.Items {
		if p.Spec.VolumeName != "" || p.Status.Phase != corev1.ClaimPending {
			continue
		}
		name := fmt.Sprintf("pv-%s-%s", p.Namespace, p.Name)
		if _, err := c.kubectlErr("get", "pv", name); err == nil {
			continue
		}
		size := p.Spec.Resources.Requests[corev1.ResourceStorage]
		class := ""
		if p.Spec.StorageClassName != nil {
			class = *p.Spec.StorageClassName
		}
		modes := make([]string, 0, len(p.Spec.AccessModes))
		for _, m := range p.Spec.AccessModes {
			modes = append(modes, string(m))
		}
		pv := fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: %s
spec:
  capacity: {storage: %q}
  accessModes: [%s]
  storageClassName: %q
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %q}
  claimRef: {namespace: %s, name: %s}
`, name, size.String(), strings.Join(modes, ", "), class, filepath.Join(c.dir, "pv", name), p.Namespace, p.Name)
		c.kubectlIn(t, pv, "apply", "-f", "-")
		t.Logf("PersistentVolume %s for claim %s/%s (%s, class %q)", name, p.Namespace, p.Name, size.String(), class)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
