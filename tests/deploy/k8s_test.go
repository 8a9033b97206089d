package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The gateway's namespace (and the Secret's); the agents run in their own.
const (
	namespace      = "otlpcol"
	agentNamespace = "otlpcol-agent"
)

// overlay is one rendered workload overlay and the collector config it runs.
type overlay struct {
	dir     string
	config  string // file in configs/
	objs    []object
	pod     corev1.PodTemplateSpec
	workloa string
}

func loadOverlay(t *testing.T, name string) overlay {
	t.Helper()
	o := overlay{dir: "deploy/k8s/" + name, config: name + ".yaml"}
	o.objs = decodeK8s(t, o.dir)
	switch name {
	case "gateway":
		o.pod = find[*appsv1.StatefulSet](t, o.objs, "StatefulSet", "otlpcol-gateway").Spec.Template
	case "agent":
		o.pod = find[*appsv1.DaemonSet](t, o.objs, "DaemonSet", "otlpcol-agent").Spec.Template
	}
	return o
}

func TestOverlaysRenderAndDecodeStrictly(t *testing.T) {
	for _, dir := range []string{"deploy/k8s/base", "deploy/k8s/gateway", "deploy/k8s/agent", "deploy/monitoring"} {
		t.Run(dir, func(t *testing.T) {
			for _, o := range decodeK8s(t, dir) {
				if o.Kind == "PodSecurityPolicy" {
					t.Errorf("%s: PodSecurityPolicy was removed in Kubernetes 1.25", o)
				}
				if o.Namespace == "" && o.Kind != "Namespace" {
					t.Errorf("%s has no namespace", o)
				}
			}
		})
	}
}

// No file under deploy/ mentions the removed PodSecurityPolicy API or
// injects faults.
func TestNoSeedMistakesInDeploy(t *testing.T) {
	err := filepath.Walk(filepath.Join(root(), "deploy"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, bad := range []string{"kind: PodSecurityPolicy", "policy/v1beta1", "circuitBreaker:", "fault:", "HEALTHCHECK", "otlp_requests_total", "/api/v1/traces"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNamespaceIsRestrictedAndMeshed(t *testing.T) {
	gw := loadOverlay(t, "gateway")
	ns := find[*corev1.Namespace](t, gw.objs, "Namespace", namespace)
	want := map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"istio-injection":                    "enabled",
	}
	for k, v := range want {
		if ns.Labels[k] != v {
			t.Errorf("namespace label %s = %q, want %q", k, ns.Labels[k], v)
		}
	}
	// The agent overlay owns its own namespace: "privileged" is enforced
	// there only because of the hostPath queue (TestAgentHostPathOnly
	// checks that nothing else needs it); audit and warn stay restricted.
	ag := loadOverlay(t, "agent")
	for _, o := range ag.objs {
		if o.Kind == "Namespace" && o.Name != agentNamespace {
			t.Errorf("agent overlay renders %s", o)
		}
		if o.Kind != "Namespace" && o.Namespace != agentNamespace {
			t.Errorf("agent overlay renders %s outside %s", o, agentNamespace)
		}
	}
	ans := find[*corev1.Namespace](t, ag.objs, "Namespace", agentNamespace)
	want["pod-security.kubernetes.io/enforce"] = "privileged"
	for k, v := range want {
		if ans.Labels[k] != v {
			t.Errorf("agent namespace label %s = %q, want %q", k, ans.Labels[k], v)
		}
	}
}

// The ConfigMap each workload mounts is generated from configs/<name>.yaml,
// byte for byte, and that config passes `otlpcol validate`.
func TestConfigMapIsTheConfigFile(t *testing.T) {
	for _, name := range []string{"gateway", "agent"} {
		t.Run(name, func(t *testing.T) {
			o := loadOverlay(t, name)
			cm := mountedConfigMap(t, o)
			want, err := os.ReadFile(filepath.Join(root(), "configs", o.config))
			if err != nil {
				t.Fatal(err)
			}
			if cm.Data["config.yaml"] != string(want) {
				t.Errorf("ConfigMap %s config.yaml differs from configs/%s", cm.Name, o.config)
			}
			if !regexp.MustCompile(`^otlpcol-` + name + `-config-[a-z0-9]{10}$`).MatchString(cm.Name) {
				t.Errorf("ConfigMap name %q has no content hash: config changes would not roll the pods", cm.Name)
			}
			cms := all[*corev1.ConfigMap](o.objs)
			for _, c := range cms {
				if strings.Contains(c.Name, "-config-") && c.Name != cm.Name {
					t.Errorf("overlay %s also renders %s", name, c.Name)
				}
			}
			validateConfig(t, o.config, cm.Data["config.yaml"])
		})
	}
}

// mountedConfigMap returns the ConfigMap behind the volume the container's
// --config flag reads, checking the key and the mount on the way.
func mountedConfigMap(t *testing.T, o overlay) *corev1.ConfigMap {
	t.Helper()
	c := container(t, o.pod)
	var path string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			path = v
		}
	}
	if path == "" {
		t.Fatalf("%s: container args %v have no --config=", o.dir, c.Args)
	}
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		for _, v := range o.pod.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := find[*corev1.ConfigMap](t, o.objs, "ConfigMap", v.ConfigMap.Name)
			file := strings.TrimPrefix(path, m.MountPath+"/")
			for _, it := range v.ConfigMap.Items {
				if it.Path == file {
					if _, ok := cm.Data[it.Key]; !ok {
						t.Fatalf("volume %s item key %q is not in ConfigMap %s", v.Name, it.Key, cm.Name)
					}
					return cm
				}
			}
			t.Fatalf("volume %s has no item for %s", v.Name, file)
		}
	}
	t.Fatalf("%s: no configMap volume is mounted at the --config path %s", o.dir, path)
	return nil
}

func container(t *testing.T, pod corev1.PodTemplateSpec) corev1.Container {
	t.Helper()
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	return pod.Spec.Containers[0]
}

// healthPort reads the health extension's port from a collector config.
func healthPort(t *testing.T, cfg map[string]any) int32 {
	t.Helper()
	ep, _ := at(cfg, "extensions", "health", "endpoint").(string)
	// The extension's default is localhost:8080, which the kubelet cannot
	// reach on the pod IP: a Kubernetes config must listen on every address.
	if host, _, _ := strings.Cut(ep, ":"); host != "0.0.0.0" {
		t.Errorf("health endpoint %q: a Kubernetes config must set 0.0.0.0 (the default is loopback only)", ep)
	}
	_, p, ok := strings.Cut(ep, ":")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		t.Fatalf("health endpoint %q has no port", ep)
	}
	return int32(n)
}

func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("port %s is not a containerPort of %s", p.String(), c.Name)
	return 0
}

func TestWorkloadPodRules(t *testing.T) {
	for _, name := range []string{"gateway", "agent"} {
		t.Run(name, func(t *testing.T) {
			o := loadOverlay(t, name)
			cm := mountedConfigMap(t, o)
			cfg := collectorConfig(t, cm.Data["config.yaml"])
			c := container(t, o.pod)
			spec := o.pod.Spec
			hp := healthPort(t, cfg)
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}

			// Probes on the health extension's port: liveness /health,
			// readiness /ready, and a startup probe.
			t.Run("probes", func(t *testing.T) {
				probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
				wantPath := map[string]string{"startup": "/health", "liveness": "/health", "readiness": "/ready"}
				for kind, p := range probes {
					if p == nil || p.HTTPGet == nil {
						t.Errorf("%s probe missing or not httpGet", kind)
						continue
					}
					if p.HTTPGet.Path != wantPath[kind] {
						t.Errorf("%s probe path %q, want %q", kind, p.HTTPGet.Path, wantPath[kind])
					}
					if got := containerPort(t, c, p.HTTPGet.Port); got != hp || hp != 8080 {
						t.Errorf("%s probe port %d, health extension on %d (want 8080)", kind, got, hp)
					}
				}
			})

			// Container ports are the receivers' and the health port.
			t.Run("container ports", func(t *testing.T) {
				wantPorts := []int32{4317, 4318, hp}
				for _, proto := range []string{"grpc", "http"} {
					ep, _ := at(cfg, "receivers", "otlp", "protocols", proto, "endpoint").(string)
					if !strings.HasSuffix(ep, ":4317") && !strings.HasSuffix(ep, ":4318") {
						t.Errorf("receiver %s endpoint %q is not on 4317/4318", proto, ep)
					}
				}
				var got []int32
				for _, p := range c.Ports {
					got = append(got, p.ContainerPort)
					if p.HostPort != 0 {
						t.Errorf("hostPort %d: the restricted profile forbids host ports", p.HostPort)
					}
				}
				if !slices.Equal(got, wantPorts) {
					t.Errorf("containerPorts %v, want %v", got, wantPorts)
				}
			})

			// Restricted security context.
			t.Run("pod security context", func(t *testing.T) {
				psc := spec.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("pod securityContext must set runAsNonRoot and seccompProfile RuntimeDefault: %+v", psc)
				}
				if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser == 0) {
					t.Errorf("pod must run as a non-zero numeric user")
				}
			})
			t.Run("container security context", func(t *testing.T) {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Fatal("container has no securityContext")
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Error("allowPrivilegeEscalation must be false")
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Error("readOnlyRootFilesystem must be true")
				case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Error("capabilities must drop ALL and add none")
				case sc.Privileged != nil && *sc.Privileged:
					t.Error("privileged container")
				}
			})
			t.Run("no host access", func(t *testing.T) {
				if spec.HostNetwork || spec.HostPID || spec.HostIPC {
					t.Error("host namespaces are forbidden")
				}
				for _, v := range spec.Volumes {
					if v.HostPath != nil && name != "agent" {
						t.Errorf("hostPath volume %s is forbidden", v.Name)
					}
				}
			})

			// GOMEMLIMIT is 80% of the memory limit (deploy/README.md,
			// "Memory sizing"; TestMemorySizing checks the rest of the rule).
			t.Run("GOMEMLIMIT", func(t *testing.T) {
				if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
					t.Error("container needs a memory limit and a CPU request")
				}
				gml, ok := env["GOMEMLIMIT"]
				if !ok || gml.ValueFrom != nil {
					t.Fatalf("GOMEMLIMIT must be a literal value (80%% of limits.memory): %+v", gml)
				}
				got, err := ParseGoMemLimit(gml.Value)
				if err != nil {
					t.Fatalf("GOMEMLIMIT %q: %v", gml.Value, err)
				}
				if want := GoMemLimitFor(c.Resources.Limits.Memory().Value()); got != want {
					t.Errorf("GOMEMLIMIT %s = %d bytes, want %d (80%% of limits.memory %s, rounded down to MiB)",
						gml.Value, got, want, c.Resources.Limits.Memory())
				}
			})

			// Every ${env:X} the config reads is set (or has a default).
			t.Run("env", func(t *testing.T) {
				for _, m := range regexp.MustCompile(`\$\{env:([A-Z_][A-Z0-9_]*)(:-[^}]*)?\}`).FindAllStringSubmatch(cm.Data["config.yaml"], -1) {
					if _, ok := env[m[1]]; !ok && m[2] == "" {
						t.Errorf("config reads ${env:%s} but the container does not set it", m[1])
					}
				}
				checkEnvRefs(t, o, c)
			})

			// Longer grace than the drain delay plus the flush budget (the
			// in-flight attempt: the exporter's per-attempt timeout), with
			// 10s to spare.
			t.Run("termination grace", func(t *testing.T) {
				drain, err := time.ParseDuration(at(cfg, "extensions", "health", "drain_delay").(string))
				if err != nil {
					t.Fatalf("drain_delay: %v", err)
				}
				flush := exporterTimeout(t, cfg)
				var grace time.Duration
				if spec.TerminationGracePeriodSeconds != nil {
					grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
				}
				if grace < drain+flush+10*time.Second {
					t.Errorf("terminationGracePeriodSeconds %s must exceed drain_delay %s + exporter timeout %s by at least 10s", grace, drain, flush)
				}
			})

			// Writable paths are volumes (the root filesystem is read-only).
			t.Run("writable paths", func(t *testing.T) {
				for _, m := range c.VolumeMounts {
					if m.MountPath == "/tmp" && m.ReadOnly {
						t.Error("/tmp must be writable")
					}
				}
				// The state directories are on the volume that outlives the pod:
				// the gateway's per-replica claim, the agent's node directory.
				stateVolume := map[string]string{"gateway": "data", "agent": "queue"}[name]
				for _, key := range stateDirKeys {
					dir, ok := at(cfg, key...).(string)
					if !ok {
						continue
					}
					var on string
					for _, m := range c.VolumeMounts {
						if (dir == m.MountPath || strings.HasPrefix(dir, m.MountPath+"/")) && !m.ReadOnly {
							on = m.Name
						}
					}
					if on != stateVolume {
						t.Errorf("%s %s is on volume %q, want the durable volume %q", strings.Join(key, "::"), dir, on, stateVolume)
					}
				}
			})

			// Scrape annotations point at the health extension's /metrics.
			t.Run("scrape annotations", func(t *testing.T) {
				ann := o.pod.Annotations
				if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(int(hp)) {
					t.Errorf("scrape annotations %v must point at :%d/metrics", ann, hp)
				}
			})

			// The ServiceAccount exists; only the agent (k8s resolver) gets a token.
			t.Run("service account", func(t *testing.T) {
				sa := find[*corev1.ServiceAccount](t, o.objs, "ServiceAccount", spec.ServiceAccountName)
				wantToken := name == "agent"
				if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken != wantToken ||
					spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken != wantToken {
					t.Errorf("automountServiceAccountToken must be %v for %s", wantToken, name)
				}
			})
		})
	}
}

// stateDirKeys are the config keys of directories holding accepted data.
var stateDirKeys = [][]string{
	{"extensions", "guarded_file_storage/queue", "directory"},
	{"exporters", "otlp_retry", "persistent_queue", "directory"}, // the write-ahead log
	{"exporters", "otlp_retry", "dead_letter", "directory"},
}

// exporterTimeout is what a send in flight at shutdown may still take, the
// longest over the config's exporters: one attempt's timeout, plus the
// retry budget of load_balancing's sub-exporters (they retry inside the
// call that shutdown waits for).
func exporterTimeout(t *testing.T, cfg map[string]any) time.Duration {
	t.Helper()
	dur := func(id string, m map[string]any, path ...string) time.Duration {
		v, ok := at(m, path...).(string)
		if !ok {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("exporters::%s::%s %q: %v", id, strings.Join(path, "::"), v, err)
		}
		return d
	}
	var longest time.Duration
	exps, _ := at(cfg, "exporters").(map[string]any)
	for id, e := range exps {
		em, _ := e.(map[string]any)
		longest = max(longest, dur(id, em, "timeout"))
		sub := dur(id, em, "protocol", "otlp", "timeout")
		if on, _ := at(em, "protocol", "otlp", "retry_on_failure", "enabled").(bool); on {
			budget := dur(id, em, "protocol", "otlp", "retry_on_failure", "max_elapsed_time")
			if budget == 0 {
				t.Errorf("exporters::%s::protocol::otlp retries without a budget: a removed gateway's sub-exporter and the shutdown would wait forever", id)
			}
			sub += budget
		}
		longest = max(longest, sub)
	}
	if longest == 0 {
		t.Fatal("no exporter sets a timeout: the flush budget at shutdown is unbounded")
	}
	return longest
}

// checkEnvRefs: every configMapKeyRef and secretKeyRef names a key that
// exists, in a rendered ConfigMap or in the Secret template.
func checkEnvRefs(t *testing.T, o overlay, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			cm := find[*corev1.ConfigMap](t, o.objs, "ConfigMap", r.Name)
			if _, ok := cm.Data[r.Key]; !ok {
				t.Errorf("env %s: configMapKeyRef key %q is not in ConfigMap %s", e.Name, r.Key, cm.Name)
			}
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			s := secretTemplate(t)
			if s.Name != r.Name || s.Namespace != namespace {
				t.Errorf("env %s: secretKeyRef %s, the template is %s/%s", e.Name, r.Name, s.Namespace, s.Name)
			}
			if _, ok := s.StringData[r.Key]; !ok {
				t.Errorf("env %s: secretKeyRef key %q is not in the Secret template", e.Name, r.Key)
			}
		}
	}
}

// secretTemplate decodes deploy/security/backend-secret.example.yaml. It is
// a template: it must hold a placeholder, never a key.
func secretTemplate(t *testing.T) *corev1.Secret {
	t.Helper()
	obj, _, err := k8sDecoder.Decode(yamlToJSON(t, filepath.Join(root(), "deploy/security/backend-secret.example.yaml")), nil, nil)
	if err != nil {
		t.Fatalf("secret template: %v", err)
	}
	s := obj.(*corev1.Secret)
	if len(s.Data) > 0 {
		t.Errorf("secret template has data: use stringData placeholders only")
	}
	for k, v := range s.StringData {
		if !strings.HasPrefix(v, "REPLACE_") {
			t.Errorf("secret template key %s holds %q, not a REPLACE_ placeholder", k, v)
		}
	}
	return s
}

func TestServicesMatchPods(t *testing.T) {
	for _, name := range []string{"gateway", "agent"} {
		o := loadOverlay(t, name)
		c := container(t, o.pod)
		for _, svc := range all[*corev1.Service](o.objs) {
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(o.pod.Labels)) || len(svc.Spec.Selector) == 0 {
				t.Errorf("Service %s selector %v does not select the %s pods", svc.Name, svc.Spec.Selector, name)
			}
			for _, p := range svc.Spec.Ports {
				if cp := containerPort(t, c, p.TargetPort); cp != p.Port {
					t.Errorf("Service %s port %d targets container port %d", svc.Name, p.Port, cp)
				}
				if p.AppProtocol == nil {
					t.Errorf("Service %s port %s has no appProtocol (Istio protocol selection)", svc.Name, p.Name)
				}
			}
		}
	}
	gw := loadOverlay(t, "gateway")
	svc := find[*corev1.Service](t, gw.objs, "Service", "otlpcol-gateway")
	if ports := servicePorts(svc); !slices.Equal(ports, []int32{4317, 4318, 8080}) {
		t.Errorf("gateway Service ports %v, want 4317 4318 8080", ports)
	}
	hl := find[*corev1.Service](t, gw.objs, "Service", "otlpcol-gateway-headless")
	if hl.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("headless Service clusterIP %q", hl.Spec.ClusterIP)
	}
	ag := loadOverlay(t, "agent")
	asvc := find[*corev1.Service](t, ag.objs, "Service", "otlpcol-agent")
	if asvc.Spec.InternalTrafficPolicy == nil || *asvc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
		t.Error("agent Service must keep traffic on the node: internalTrafficPolicy Local")
	}
}

func servicePorts(s *corev1.Service) []int32 {
	var out []int32
	for _, p := range s.Spec.Ports {
		out = append(out, p.Port)
	}
	return out
}

func TestGatewayScaling(t *testing.T) {
	o := loadOverlay(t, "gateway")
	if n := len(all[*appsv1.Deployment](o.objs)); n > 0 {
		t.Errorf("gateway renders %d Deployments: its state must outlive the pod (StatefulSet)", n)
	}
	d := find[*appsv1.StatefulSet](t, o.objs, "StatefulSet", "otlpcol-gateway")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 && d.Spec.Template.Spec.Affinity == nil {
		t.Error("gateway needs topology spread or anti-affinity")
	}
	for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
		sel, err := metav1LabelSelector(tsc.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("topology spread on %s does not select the gateway pods", tsc.TopologyKey)
		}
	}
	hpa := find[*autoscalingv2.HorizontalPodAutoscaler](t, o.objs, "HorizontalPodAutoscaler", "otlpcol-gateway")
	if hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" || hpa.Spec.ScaleTargetRef.APIVersion != "apps/v1" || hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA targets %+v", hpa.Spec.ScaleTargetRef)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < *d.Spec.Replicas || hpa.Spec.MaxReplicas <= *hpa.Spec.MinReplicas {
		t.Errorf("HPA min %v max %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	cpu := false
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource.Name == corev1.ResourceCPU {
			cpu = true
		}
	}
	if !cpu {
		t.Error("HPA must scale on CPU")
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, o.objs, "PodDisruptionBudget", "otlpcol-gateway")
	sel, err := metav1LabelSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("PDB does not select the gateway pods")
	}
}

// The gateway's queue and dead letter outlive its pods: a claim per replica
// from volumeClaimTemplates, kept when the StatefulSet scales in or is
// deleted, mounted where the config keeps its state, and named by a
// headless Service that exists.
func TestGatewayStateSurvivesPodReplacement(t *testing.T) {
	o := loadOverlay(t, "gateway")
	ss := find[*appsv1.StatefulSet](t, o.objs, "StatefulSet", "otlpcol-gateway")
	hl := find[*corev1.Service](t, o.objs, "Service", ss.Spec.ServiceName)
	if hl.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %s is not headless", ss.Spec.ServiceName)
	}
	rp := ss.Spec.PersistentVolumeClaimRetentionPolicy
	if rp == nil || rp.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		rp.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("persistentVolumeClaimRetentionPolicy %+v: both must be Retain", rp)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("want one volumeClaimTemplate, got %d", len(ss.Spec.VolumeClaimTemplates))
	}
	vct := ss.Spec.VolumeClaimTemplates[0]
	if !slices.Contains(vct.Spec.AccessModes, corev1.ReadWriteOnce) || vct.Spec.Resources.Requests.Storage().IsZero() {
		t.Errorf("claim template %s: access modes %v, storage %v", vct.Name, vct.Spec.AccessModes, vct.Spec.Resources.Requests.Storage())
	}
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.Name == vct.Name {
			t.Errorf("pod volume %s shadows the claim template", v.Name)
		}
		if v.EmptyDir != nil && v.Name != "tmp" {
			t.Errorf("emptyDir volume %s: state on it dies with the pod", v.Name)
		}
	}
	// The claim is mounted at a directory holding every state directory
	// of the config (TestWorkloadPodRules checks each is on it).
	cfg := collectorConfig(t, mountedConfigMap(t, o).Data["config.yaml"])
	c := container(t, o.pod)
	n := 0
	for _, key := range stateDirKeys {
		dir, ok := at(cfg, key...).(string)
		if !ok {
			continue
		}
		n++
		for _, m := range c.VolumeMounts {
			if m.Name == vct.Name && !strings.HasPrefix(dir, m.MountPath+"/") {
				t.Errorf("%s %s is not under the claim's mount %s", strings.Join(key, "::"), dir, m.MountPath)
			}
		}
	}
	if n == 0 {
		t.Error("the gateway config keeps no state directory")
	}
}

// The agent's one departure from the restricted profile is its hostPath
// queue directory: one hostPath volume, type DirectoryOrCreate, mounted only
// where the config keeps its queue, and an init container that does nothing
// but give that directory to the agent's user.
func TestAgentHostPathOnly(t *testing.T) {
	o := loadOverlay(t, "agent")
	cfg := collectorConfig(t, mountedConfigMap(t, o).Data["config.yaml"])
	spec := o.pod.Spec
	var hp []corev1.Volume
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hp = append(hp, v)
		}
	}
	if len(hp) != 1 {
		t.Fatalf("want one hostPath volume, got %d", len(hp))
	}
	v := hp[0]
	if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate || !strings.HasPrefix(v.HostPath.Path, "/var/lib/otlpcol") {
		t.Errorf("hostPath %+v: want a DirectoryOrCreate under /var/lib/otlpcol", v.HostPath)
	}
	dir, _ := at(cfg, "extensions", "guarded_file_storage/queue", "directory").(string)
	if fsync, _ := at(cfg, "extensions", "guarded_file_storage/queue", "fsync").(bool); !fsync {
		t.Error("the agent's guarded_file_storage/queue must fsync")
	}
	c := container(t, o.pod)
	for _, m := range c.VolumeMounts {
		if m.Name == v.Name && (m.ReadOnly || !strings.HasPrefix(dir, m.MountPath+"/")) {
			t.Errorf("hostPath mounted at %s (read-only %v); the queue is %s", m.MountPath, m.ReadOnly, dir)
		}
	}
	if len(spec.InitContainers) != 1 {
		t.Fatalf("want one init container (chown of the queue directory), got %d", len(spec.InitContainers))
	}
	ic := spec.InitContainers[0]
	sc := ic.SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		!slices.Equal(sc.Capabilities.Add, []corev1.Capability{"CHOWN"}) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("init container %s: securityContext %+v, want drop ALL, add only CHOWN, no escalation", ic.Name, sc)
	}
	if len(ic.Command) == 0 || ic.Command[0] != "chown" || len(ic.VolumeMounts) != 1 || ic.VolumeMounts[0].Name != v.Name {
		t.Errorf("init container %s runs %v on %v: want only chown of the hostPath", ic.Name, ic.Command, ic.VolumeMounts)
	}
	if ic.Resources.Limits.Memory().IsZero() {
		t.Errorf("init container %s needs resource limits", ic.Name)
	}
	if gw := loadOverlay(t, "gateway"); len(gw.pod.Spec.InitContainers) > 0 {
		t.Error("the gateway needs no init container")
	}
}

func TestAgentRoutesToGateway(t *testing.T) {
	ag := loadOverlay(t, "agent")
	gw := loadOverlay(t, "gateway")
	cfg := collectorConfig(t, mountedConfigMap(t, ag).Data["config.yaml"])
	lb := at(cfg, "exporters", "load_balancing")
	if at(lb.(map[string]any), "routing_key") != "traceID" {
		t.Error("agent load_balancing must route by traceID")
	}
	svcName, _ := at(lb.(map[string]any), "resolver", "k8s", "service").(string)
	name, ns, _ := strings.Cut(svcName, ".")
	hl := find[*corev1.Service](t, gw.objs, "Service", name)
	if hl.Spec.ClusterIP != corev1.ClusterIPNone || ns != hl.Namespace {
		t.Errorf("resolver service %q must be the gateway's headless Service in %s", svcName, hl.Namespace)
	}
	ports, _ := at(lb.(map[string]any), "resolver", "k8s", "ports").([]any)
	if len(ports) != 1 || int32(ports[0].(float64)) != hl.Spec.Ports[0].Port {
		t.Errorf("resolver ports %v, headless Service port %d", ports, hl.Spec.Ports[0].Port)
	}
	// Metrics and logs go to the gateway's ClusterIP Service.
	ep, _ := at(cfg, "exporters", "otlp_grpc/gateway", "endpoint").(string)
	if ep != "otlpcol-gateway."+namespace+".svc.cluster.local:4317" {
		t.Errorf("otlp_grpc/gateway endpoint %q", ep)
	}
	find[*corev1.Service](t, gw.objs, "Service", "otlpcol-gateway")

	// RBAC: list/watch on endpointslices, nothing more (tests/k8s asks the API server).
	// The gateway overlay grants it in its namespace to the agents' account.
	role := find[*rbacv1.Role](t, gw.objs, "Role", "otlpcol-agent-resolver")
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			if res != "endpointslices" && res != "endpoints" {
				t.Errorf("Role grants %s", res)
			}
		}
		for _, v := range r.Verbs {
			if v != "list" && v != "watch" {
				t.Errorf("Role grants verb %s", v)
			}
		}
		for _, g := range r.APIGroups {
			if g != "" && g != "discovery.k8s.io" {
				t.Errorf("Role grants API group %s", g)
			}
		}
	}
	for _, o := range [][]object{ag.objs, gw.objs} {
		if len(all[*rbacv1.ClusterRole](o)) > 0 || len(all[*rbacv1.ClusterRoleBinding](o)) > 0 {
			t.Error("the agent needs no cluster-wide RBAC")
		}
	}
	if len(all[*rbacv1.Role](ag.objs)) > 0 {
		t.Error("a Role in the agent's namespace grants nothing the resolver needs")
	}
	rb := find[*rbacv1.RoleBinding](t, gw.objs, "RoleBinding", "otlpcol-agent-resolver")
	if rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 || rb.Subjects[0].Name != ag.pod.Spec.ServiceAccountName || rb.Subjects[0].Namespace != agentNamespace {
		t.Errorf("RoleBinding %+v does not bind the agent's ServiceAccount", rb)
	}
	if role.Namespace != hl.Namespace {
		t.Errorf("Role in %s, gateway Service in %s", role.Namespace, hl.Namespace)
	}
}

func TestNetworkPolicies(t *testing.T) {
	for _, name := range []string{"gateway", "agent"} {
		o := loadOverlay(t, name)
		c := container(t, o.pod)
		nps := all[*networkingv1.NetworkPolicy](o.objs)
		if len(nps) != 1 {
			t.Fatalf("%s: want one NetworkPolicy, got %d", name, len(nps))
		}
		np := nps[0]
		sel, err := metav1LabelSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(o.pod.Labels)) {
			t.Errorf("%s NetworkPolicy does not select its pods", name)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("%s NetworkPolicy must restrict ingress and egress", name)
		}
		own := map[int32]bool{15020: true} // Istio's merged metrics port
		for _, p := range c.Ports {
			own[p.ContainerPort] = true
		}
		for _, r := range np.Spec.Ingress {
			if len(r.Ports) == 0 || len(r.From) == 0 {
				t.Errorf("%s: ingress rule open to all ports or all sources", name)
			}
			for _, p := range r.Ports {
				if !own[p.Port.IntVal] {
					t.Errorf("%s: ingress on port %d that nothing listens on", name, p.Port.IntVal)
				}
			}
		}
		dns := false
		for _, r := range np.Spec.Egress {
			for _, p := range r.Ports {
				if p.Port.IntVal == 53 {
					dns = true
				}
			}
		}
		if !dns {
			t.Errorf("%s: egress must allow DNS", name)
		}
	}
}
