package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// helmEnv names the helm binary (tools/helm/build.sh) that `make test-k8s`
// builds; without it the chart's tests skip.
const helmEnv = "OTLPCOL_HELM"

func chartDir() string { return filepath.Join(harness.RepoRoot(), "deploy", "helm", "otlpcol") }

// chartSet is a value file of the chart's ci/ directory and the namespace
// it is applied in.
type chartSet struct {
	file, ns string
	agent    bool
}

var chartSets = []chartSet{
	{"gateway-mtls-values.yaml", "otlpcol-chart-gateway", false},
	{"agent-mtls-values.yaml", "otlpcol-chart-agent", true},
	{"gateway-istio-values.yaml", "otlpcol-chart-gateway-istio", false},
	{"agent-istio-values.yaml", "otlpcol-chart-agent-istio", true},
}

func (s chartSet) values() string { return filepath.Join(chartDir(), "ci", s.file) }

func helmBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv(helmEnv)
	if p == "" {
		t.Skipf("needs helm: run `make test-k8s` (or set %s to tools/helm/build.sh's binary)", helmEnv)
	}
	return p
}

// runHelm runs helm with a private home (no repositories, no plugins, no
// cache outside the test) and returns stdout and stderr.
func runHelm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// helmTemplate renders the chart as release "otlpcol" in ns.
func helmTemplate(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, _, err := runHelm(t, append([]string{"template", "otlpcol", chartDir(), "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// object is one rendered Kubernetes object, decoded.
type object = map[string]any

// decodeObjects splits a YAML stream into objects.
func decodeObjects(t *testing.T, stream string) []object {
	t.Helper()
	var objs []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(stream, -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("decode: %v\n%s", err, doc)
		}
		if len(o) != 0 {
			objs = append(objs, o)
		}
	}
	return objs
}

func kindName(o object) string {
	md, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v/%v", o["kind"], md["name"])
}

// find returns the object kind/name of objs.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if kindName(o) == kind+"/"+name {
			return o
		}
	}
	t.Fatalf("no %s/%s among %d objects", kind, name, len(objs))
	return nil
}

// dig walks maps by key and lists by index (given as int).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// envOf returns the otlpcol container's environment variable name.
func envOf(workload object, name string) map[string]any {
	for _, e := range dig(workload, "spec", "template", "spec", "containers", 0, "env").([]any) {
		if e := e.(map[string]any); e["name"] == name {
			return e
		}
	}
	return nil
}

// renderedConfig is the collector config of a rendering's ConfigMap.
func renderedConfig(t *testing.T, objs []object, fullname string) string {
	t.Helper()
	cfg, _ := dig(find(t, objs, "ConfigMap", fullname+"-config"), "data", "config.yaml").(string)
	if cfg == "" {
		t.Fatalf("ConfigMap %s-config has no config.yaml", fullname)
	}
	return cfg
}

// TestChartLint: `helm lint --strict` on the defaults and every ci/ set.
func TestChartLint(t *testing.T) {
	helmBin(t)
	for _, args := range [][]string{{"--set", "backend.endpoint=backend:4317"}, {"--set", "mode=agent"}} {
		if out, _, err := runHelm(t, append([]string{"lint", "--strict", chartDir()}, args...)...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
	for _, s := range chartSets {
		if out, _, err := runHelm(t, "lint", "--strict", chartDir(), "-f", s.values()); err != nil {
			t.Errorf("%s: %v\n%s", s.file, err, out)
		}
	}
}

// TestChartRefuses: values the chart must refuse at rendering, each with a
// message that names the key.
func TestChartRefuses(t *testing.T) {
	helmBin(t)
	for _, c := range []struct {
		name string
		set  []string
		want string
	}{
		{"typo at the top", []string{"backend.endpoint=b:4317", "replcias=3"}, "replcias"},
		{"typo in a section", []string{"backend.endpoint=b:4317", "backend.tls.insecur=true"}, "insecur"},
		{"unknown mode", []string{"mode=collector"}, "mode"},
		{"unknown mesh", []string{"backend.endpoint=b:4317", "mesh=linkerd"}, "mesh"},
		{"gateway without backend", nil, "backend.endpoint is required"},
		{"claim smaller than the state budgets", []string{"backend.endpoint=b:4317", "persistence.size=2Gi"},
			"persistence.size 2Gi (2147483648 bytes) is smaller than the state budgets it must hold, 6777995264 bytes (otlp_retry::persistent_queue::max_bytes 2147483648 x 3"},
		{"a budget raised past the claim", []string{"backend.endpoint=b:4317", "config.exporters.otlp_retry.dead_letter.max_bytes=4294967296"},
			"is smaller than the state budgets"},
		{"memory_limiter above GOMEMLIMIT", []string{"backend.endpoint=b:4317", "config.processors.memory_limiter.limit_percentage=90"},
			"processors::memory_limiter::limit_percentage is 90"},
		{"memory_limiter limit_mib above GOMEMLIMIT", []string{"mode=agent", "config.processors.memory_limiter.limit_percentage=0", "config.processors.memory_limiter.limit_mib=500"},
			"processors::memory_limiter::limit_mib is 500"},
		{"no memory limit", []string{"mode=agent", "resources.limits.memory=null"}, "resources.limits.memory is required"},
		// The sizing rule (deploy/README.md, "Memory sizing"):
		// memory_limiter's limit + 4 x admission's budget <= GOMEMLIMIT.
		// Each of these is under 80% on its own.
		{"a smaller gateway with the shipped budgets", []string{"-f", filepath.Join(harness.RepoRoot(), "tests", "k8s", "testdata", "memory-too-small-values.yaml")},
			"memory sizing: processors::memory_limiter limit 256 MiB (50% of resources.limits.memory 512 MiB) + 4 x extensions::admission::max_in_flight_bytes 64 MiB = 512 MiB is more than GOMEMLIMIT 409 MiB"},
		{"admission budget raised", []string{"--set", "backend.endpoint=b:4317", "--set", "config.extensions.admission.max_in_flight_bytes=134217728"},
			"+ 4 x extensions::admission::max_in_flight_bytes 128 MiB = 1024 MiB is more than GOMEMLIMIT 819 MiB"},
		{"memory_limiter raised to 70%", []string{"--set", "mode=agent", "--set", "config.processors.memory_limiter.limit_percentage=70"},
			"memory sizing: processors::memory_limiter limit 358 MiB (70% of resources.limits.memory 512 MiB) + 4 x extensions::admission::max_in_flight_bytes 32 MiB = 486 MiB is more than GOMEMLIMIT 409 MiB"},
		{"ServiceMonitor for agents", []string{"mode=agent", "serviceMonitor.enabled=true"}, "use podMonitor.enabled"},
	} {
		args := []string{"template", "otlpcol", chartDir()}
		for i := 0; i < len(c.set); i++ {
			// "-f"/"--set" pairs pass through; a bare value is a --set.
			if s := c.set[i]; strings.HasPrefix(s, "-") && i+1 < len(c.set) {
				args = append(args, s, c.set[i+1])
				i++
				continue
			}
			args = append(args, "--set", c.set[i])
		}
		_, _, err := runHelm(t, args...)
		switch {
		case err == nil:
			t.Errorf("%s: rendered, want a refusal naming %q", c.name, c.want)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: refused with %v, want it to say %q", c.name, err, c.want)
		default:
			// helm's error line, not its "Use --debug" hint after it.
			msg := err.Error()
			if i := strings.Index(msg, "Error: "); i >= 0 {
				msg, _, _ = strings.Cut(msg[i:], "\n")
			}
			t.Logf("%s: %s", c.name, msg)
		}
	}
}

// TestChartGOMEMLIMIT: 80% of limits.memory, in whole MiB, and the shipped
// memory_limiter at or below it.
func TestChartGOMEMLIMIT(t *testing.T) {
	helmBin(t)
	for _, c := range []struct {
		set      []string
		workload string
		want     string
	}{
		{[]string{"backend.endpoint=b:4317"}, "StatefulSet/otlpcol-gateway", "819MiB"},
		{[]string{"mode=agent"}, "DaemonSet/otlpcol-agent", "409MiB"},
		{[]string{"backend.endpoint=b:4317", "resources.limits.memory=2Gi"}, "StatefulSet/otlpcol-gateway", "1638MiB"},
		{[]string{"mode=agent", "resources.limits.memory=1500M"}, "DaemonSet/otlpcol-agent", "1144MiB"},
	} {
		var args []string
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		objs := decodeObjects(t, helmTemplate(t, "otlpcol", args...))
		kind, name, _ := strings.Cut(c.workload, "/")
		env := envOf(find(t, objs, kind, name), "GOMEMLIMIT")
		if env == nil || env["value"] != c.want {
			t.Errorf("%v: GOMEMLIMIT %v, want %s", c.set, env, c.want)
		}
	}
}

// TestChartConfigsValidate: the config every ci/ set renders is one
// bin/otlpcol accepts (`otlpcol validate`), and carries what the values
// asked for.
func TestChartConfigsValidate(t *testing.T) {
	helmBin(t)
	bin := harness.Binary(t)
	for _, s := range chartSets {
		objs := decodeObjects(t, helmTemplate(t, s.ns, "-f", s.values()))
		full := "otlpcol-gateway"
		if s.agent {
			full = "otlpcol-agent"
		}
		cfg := renderedConfig(t, objs, full)
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "validate", "--config", path)
		cmd.Env = append(os.Environ(), "OTLP_ENDPOINT=backend:4317", "API_KEY=k", "OTLPCOL_TENANT=t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: otlpcol validate: %v\n%s", s.file, err, out)
		}
		var c map[string]any
		if err := yaml.Unmarshal([]byte(cfg), &c); err != nil {
			t.Fatal(err)
		}
		mtls := strings.Contains(s.file, "mtls")
		switch {
		case !s.agent && mtls:
			for _, k := range []string{"cert_file", "key_file", "client_ca_file"} {
				if dig(c, "receivers", "otlp", "protocols", "grpc", "tls", k) == nil {
					t.Errorf("%s: receivers::otlp::protocols::grpc::tls::%s missing", s.file, k)
				}
			}
			if got := dig(c, "processors", "trace_registry", "max_traces"); got != float64(200000) {
				t.Errorf("%s: config deep-merge: trace_registry::max_traces = %v, want 200000", s.file, got)
			}
			if got := dig(c, "exporters", "otlp_retry", "headers", "x-tenant"); got != "${env:OTLPCOL_TENANT}" {
				t.Errorf("%s: otlp_retry::headers::x-tenant = %v", s.file, got)
			}
		case s.agent && mtls:
			if got := dig(c, "exporters", "load_balancing", "resolver", "k8s", "return_hostnames"); got != true {
				t.Errorf("%s: load_balancing resolver return_hostnames = %v, want true (per-pod names)", s.file, got)
			}
			if got := dig(c, "exporters", "load_balancing", "protocol", "otlp", "tls", "cert_file"); got == nil {
				t.Errorf("%s: the agent presents no client certificate", s.file)
			}
		case !mtls:
			if dig(c, "receivers", "otlp", "protocols", "grpc", "tls") != nil {
				t.Errorf("%s: mesh istio, yet the receiver serves TLS", s.file)
			}
		}
	}
}

// The chart and deploy/k8s are kept both, and this test holds them to the
// same objects: deploy/k8s stays the plain, reviewable manifests that
// tests/deploy checks in depth (probes against configs, security
// contexts, RBAC, NetworkPolicies) and Argo CD applies, and every one of
// those checks then holds for the chart's Istio rendering too. Generating
// the overlays from the chart instead would put Helm's labels and a
// generated file's churn into the manifests people read and edit.

// kustomizeHash is the suffix kustomize gives a generated ConfigMap's name.
var kustomizeHash = regexp.MustCompile(`(otlpcol-(?:gateway|agent)-(?:config|env))-[a-z0-9]{10}\b`)

// chartOnlyLabels are labels the chart adds that the overlays do not
// carry; kustomize's managed-by says kustomize.
var chartOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/version", "app.kubernetes.io/managed-by",
	"app.kubernetes.io/name", "app.kubernetes.io/instance"}

// normalise removes what legitimately differs between a kustomize object
// and the chart's: the namespace (helm's -n), the generated ConfigMaps'
// hash suffix, the chart's config checksum, the collector config's
// comments and layout (compared parsed), and labels only the chart has.
func normalise(t *testing.T, o object, peer object) object {
	t.Helper()
	b, _ := json.Marshal(o)
	b = kustomizeHash.ReplaceAll(b, []byte("$1"))
	var n object
	_ = json.Unmarshal(b, &n)
	md := n["metadata"].(map[string]any)
	delete(md, "namespace")
	labels, _ := md["labels"].(map[string]any)
	peerLabels, _ := dig(peer, "metadata", "labels").(map[string]any)
	for _, k := range chartOnlyLabels {
		if _, ok := peerLabels[k]; !ok || k == "app.kubernetes.io/managed-by" {
			delete(labels, k)
		}
	}
	if a, ok := dig(n, "spec", "template", "metadata", "annotations").(map[string]any); ok {
		delete(a, "checksum/config")
	}
	if cfg, ok := dig(n, "data", "config.yaml").(string); ok {
		var parsed any
		if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
			t.Fatalf("%s: %v", kindName(o), err)
		}
		n["data"].(map[string]any)["config.yaml"] = parsed
	}
	return n
}

// gomemlimitBytes parses GOMEMLIMIT's form (a number with an optional B,
// KiB, MiB, GiB or TiB).
func gomemlimitBytes(s string) (int64, bool) {
	m := regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	var n int64
	fmt.Sscan(m[1], &n)
	return n << map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]], true
}

// TestChartMatchesKustomize: the chart's Istio rendering (ci/*-istio-values)
// is deploy/k8s/gateway and deploy/k8s/agent object for object, but for
// the Namespaces (the chart installs into one; Pod Security labels are the
// namespace owner's) and what normalise removes.
func TestChartMatchesKustomize(t *testing.T) {
	helmBin(t)
	for _, c := range []struct {
		overlay, values, ns string
	}{
		{"deploy/k8s/gateway", "gateway-istio-values.yaml", gatewayNS},
		{"deploy/k8s/agent", "agent-istio-values.yaml", agentNS},
	} {
		kust := decodeObjects(t, renderYAML(t, c.overlay))
		chart := decodeObjects(t, helmTemplate(t, c.ns, "-f", filepath.Join(chartDir(), "ci", c.values)))
		byName := map[string]object{}
		for _, o := range chart {
			byName[kindName(o)] = o
		}
		var compared []string
		for _, k := range kust {
			if k["kind"] == "Namespace" {
				continue
			}
			name := kustomizeHash.ReplaceAllString(kindName(k), "$1")
			h, ok := byName[name]
			if !ok {
				t.Errorf("%s: %s is not in the chart's rendering", c.overlay, name)
				continue
			}
			delete(byName, name)
			kn, hn := normalise(t, k, h), normalise(t, h, k)
			checkGOMEMLIMIT(t, c.overlay, kn, hn)
			// The HPA owns the gateway's count: the chart leaves replicas
			// out (an upgrade must not reset it); the overlay's is the HPA's minimum.
			if k["kind"] == "StatefulSet" && dig(hn, "spec", "replicas") == nil {
				if dig(kn, "spec", "replicas") != dig(find(t, chart, "HorizontalPodAutoscaler", "otlpcol-gateway"), "spec", "minReplicas") {
					t.Errorf("%s: StatefulSet replicas %v differ from the chart's HPA minimum", c.overlay, dig(kn, "spec", "replicas"))
				}
				delete(kn["spec"].(map[string]any), "replicas")
			}
			kj, _ := json.MarshalIndent(kn, "", "  ")
			hj, _ := json.MarshalIndent(hn, "", "  ")
			if !bytes.Equal(kj, hj) {
				t.Errorf("%s: %s differs from the chart's:\n%s", c.overlay, name, lineDiff(string(kj), string(hj)))
			}
			compared = append(compared, name)
		}
		for name := range byName {
			t.Errorf("%s: the chart renders %s, the overlay does not", c.overlay, name)
		}
		sort.Strings(compared)
		t.Logf("%s = chart with %s: %s", c.overlay, c.values, strings.Join(compared, ", "))
	}
}

// checkGOMEMLIMIT compares the two GOMEMLIMIT settings as amounts, then
// drops them from the comparison: the overlay may write 819MiB as bytes.
func checkGOMEMLIMIT(t *testing.T, overlay string, k, h object) {
	t.Helper()
	if k["kind"] != "StatefulSet" && k["kind"] != "DaemonSet" {
		return
	}
	ke, he := envOf(k, "GOMEMLIMIT"), envOf(h, "GOMEMLIMIT")
	hb, _ := gomemlimitBytes(fmt.Sprint(he["value"]))
	if kv, ok := ke["value"].(string); ok {
		kb, ok := gomemlimitBytes(kv)
		// Within a MiB: the chart rounds down to whole MiB.
		if !ok || kb-hb >= 1<<20 || hb-kb >= 1<<20 {
			t.Errorf("%s: GOMEMLIMIT %q in the overlay, %v in the chart", overlay, kv, he["value"])
		}
	} else {
		t.Logf("%s: the overlay sets GOMEMLIMIT from %v, not 80%% of limits.memory (the chart: %v)", overlay, ke["valueFrom"], he["value"])
	}
	for _, o := range []object{k, h} {
		c := dig(o, "spec", "template", "spec", "containers", 0).(map[string]any)
		var env []any
		for _, e := range c["env"].([]any) {
			if e.(map[string]any)["name"] != "GOMEMLIMIT" {
				env = append(env, e)
			}
		}
		c["env"] = env
	}
}

// lineDiff shows the lines of a that b lacks (-) and of b that a lacks (+).
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := func(l []string) map[string]int {
		m := map[string]int{}
		for _, s := range l {
			m[s]++
		}
		return m
	}
	am, bm := in(al), in(bl)
	var out []string
	for _, s := range al {
		if bm[s] == 0 {
			out = append(out, "- (overlay) "+s)
		}
	}
	for _, s := range bl {
		if am[s] == 0 {
			out = append(out, "+ (chart)   "+s)
		}
	}
	return strings.Join(out, "\n")
}

// TestChartPackage: `helm package` stores the linked files' contents (the
// chart travels without the repository), leaves ci/ out, and the archive
// renders the same config as the directory.
func TestChartPackage(t *testing.T) {
	helmBin(t)
	dir := t.TempDir()
	if _, _, err := runHelm(t, "package", chartDir(), "--destination", dir); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "otlpcol-0.1.0.tgz")
	out, err := exec.Command("tar", "-xzf", archive, "-C", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	for packed, source := range map[string]string{
		"files/gateway.yaml": "configs/gateway.yaml", "files/agent.yaml": "configs/agent.yaml",
		"files/mtls-gateway.yaml": "configs/mtls/gateway.yaml", "files/mtls-agent.yaml": "configs/mtls/agent.yaml",
		"files/otlpcol-rules.yaml": "deploy/monitoring/otlpcol-rules.yaml",
	} {
		p := filepath.Join(dir, "otlpcol", packed)
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s in the archive: %v (mode %v), want a regular file", packed, err, fi)
			continue
		}
		got, _ := os.ReadFile(p)
		want, _ := os.ReadFile(filepath.Join(harness.RepoRoot(), source))
		if !bytes.Equal(got, want) {
			t.Errorf("%s in the archive differs from %s", packed, source)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "otlpcol", "ci")); err == nil {
		t.Error("the archive carries ci/ (.helmignore)")
	}
	args := []string{"--set", "backend.endpoint=b:4317"}
	fromDir := renderedConfig(t, decodeObjects(t, helmTemplate(t, "otlpcol", args...)), "otlpcol-gateway")
	fromArchive, _, err := runHelm(t, append([]string{"template", "otlpcol", archive, "--namespace", "otlpcol"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if renderedConfig(t, decodeObjects(t, fromArchive), "otlpcol-gateway") != fromDir {
		t.Error("the packaged chart renders another config than the chart directory")
	}
}

// chartDecoder decodes the built-in kinds the chart renders strictly (an
// unknown or duplicated field is an error), without an API server.
var chartDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// TestChartObjectsDecodeStrictly: every ci/ set's built-in objects decode
// strictly into k8s.io/api types (the monitoring kinds are left to the
// API server with testdata's CRDs, in TestControlPlane/Chart).
func TestChartObjectsDecodeStrictly(t *testing.T) {
	helmBin(t)
	for _, s := range chartSets {
		for _, o := range decodeObjects(t, helmTemplate(t, s.ns, "-f", s.values())) {
			if strings.HasPrefix(fmt.Sprint(o["apiVersion"]), "monitoring.coreos.com/") {
				continue
			}
			b, _ := json.Marshal(o)
			if _, _, err := chartDecoder.Decode(b, nil, nil); err != nil {
				t.Errorf("%s: %s: strict decode: %v", s.file, kindName(o), err)
			}
		}
	}
}
