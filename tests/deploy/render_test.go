// Package deploy validates deploy/ without a cluster: every kustomize overlay
// is rendered in-process and every object decoded strictly with the
// Kubernetes (and Istio) API types, then cross-checked against the configs.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// root is the repository's top directory.
func root() string { return harness.RepoRoot() }

// object is one rendered object: its identity, raw JSON, and the decoded value.
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	JSON       []byte
	Obj        any
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name) }

// render builds the kustomization in dir (relative to the repository) with
// the kustomize library, as `kubectl apply -k` would (load restrictions on),
// and returns every object as JSON.
func render(t *testing.T, dir string) [][]byte {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	k := krusty.MakeKustomizer(opts)
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root(), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out [][]byte
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		t.Fatalf("kustomize build %s rendered nothing", dir)
	}
	return out
}

// k8sDecoder decodes built-in kinds strictly: an unknown or duplicated field
// is an error, as it is for `kubectl apply --validate=strict`.
var k8sDecoder = func() runtime.Decoder {
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

// decodeK8s decodes every rendered object of a Kubernetes overlay strictly.
func decodeK8s(t *testing.T, dir string) []object {
	t.Helper()
	var objs []object
	for _, b := range render(t, dir) {
		obj, gvk, err := k8sDecoder.Decode(b, nil, nil)
		if err != nil {
			t.Fatalf("%s: strict decode: %v\n%s", dir, err, b)
		}
		acc, err := metaOf(obj)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		objs = append(objs, object{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Name: acc.GetName(), Namespace: acc.GetNamespace(), JSON: b, Obj: obj,
		})
	}
	return objs
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}

// find returns the single object of kind and name, failing the test otherwise.
func find[T any](t *testing.T, objs []object, kind, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			v, ok := o.Obj.(T)
			if !ok {
				t.Fatalf("%s is %T", o, o.Obj)
			}
			return v
		}
	}
	t.Fatalf("no %s %q rendered", kind, name)
	var zero T
	return zero
}

func all[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// strictMeta decodes apiVersion/kind/metadata of a custom resource strictly
// and returns its spec as JSON.
func strictMeta(t *testing.T, b []byte) (metav1.TypeMeta, metav1.ObjectMeta, json.RawMessage) {
	t.Helper()
	var wrapper struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            json.RawMessage   `json:"spec"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wrapper); err != nil {
		t.Fatalf("strict decode of %s: %v", b, err)
	}
	return wrapper.TypeMeta, wrapper.Metadata, wrapper.Spec
}

// protoStrict decodes spec into msg with protojson, which rejects unknown
// fields: the same check Istio's own validation makes.
func protoStrict(spec json.RawMessage, msg proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(spec, msg)
}

// yamlToJSON converts one YAML document.
func yamlToJSON(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := sigsyaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return j
}

// collectorConfig parses a collector config YAML into a generic map.
func collectorConfig(t *testing.T, data string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := sigsyaml.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("collector config: %v", err)
	}
	return m
}

// at walks a generic map along keys.
func at(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// validateConfig runs `otlpcol validate` on a config's text.
func validateConfig(t *testing.T, name, data string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Binary(t), "validate", "--config", path)
	cmd.Env = append(os.Environ(), "OTLP_ENDPOINT=backend.example.com:4317", "API_KEY=validate")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("otlpcol validate %s: %v\n%s", name, err, strings.TrimSpace(string(out)))
	}
}
