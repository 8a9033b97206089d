package deploy

import (
	"fmt"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsyaml "sigs.k8s.io/yaml"
)

// Memory is what deploy/k8s gives one collector container: its
// limits.memory and the GOMEMLIMIT its environment sets.
type Memory struct {
	// Limit is limits.memory in bytes.
	Limit int64
	// GoMemLimit is the GOMEMLIMIT value as the Go runtime reads it (a
	// resourceFieldRef to limits.memory becomes the limit in bytes).
	GoMemLimit string
	// GoMemLimitBytes is GoMemLimit in bytes.
	GoMemLimitBytes int64
}

// The memory sizing rule (deploy/README.md, "Memory sizing"), one place
// for the kustomize overlays and the Helm chart:
//
//	GOMEMLIMIT            = 80% of limits.memory (as upstream's chart)
//	memory_limiter limit  + HeapPerAdmittedByte × admission max_in_flight_bytes <= GOMEMLIMIT
//
// and the 20% above GOMEMLIMIT is for what the Go heap limit does not count
// (goroutine stacks, connection buffers, runtime metadata) and GC lag.
const (
	// GoMemLimitPercent is GOMEMLIMIT's share of limits.memory.
	GoMemLimitPercent = 80
	// HeapPerAdmittedByte is the most heap one admitted request byte costs
	// while held: the receiver's buffer (up to twice its length while it
	// grows), the decoded data and the write-ahead log's encoded copy.
	HeapPerAdmittedByte = 4
)

// GoMemLimitFor is GOMEMLIMIT for a container memory limit: 80%, rounded
// down to a whole MiB.
func GoMemLimitFor(limit int64) int64 {
	return limit * GoMemLimitPercent / 100 >> 20 << 20
}

// workloads maps a component to its workload file under deploy/k8s.
var workloads = map[string]string{
	"gateway": "gateway/statefulset.yaml",
	"agent":   "agent/daemonset.yaml",
}

// WorkloadMemory reads the otlpcol container's memory settings of the
// gateway's StatefulSet or the agent's DaemonSet, so that a test runs the
// collector at the size it ships with.
func WorkloadMemory(repoRoot, component string) (Memory, error) {
	rel, ok := workloads[component]
	if !ok {
		return Memory{}, fmt.Errorf("unknown component %q", component)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "k8s", rel))
	if err != nil {
		return Memory{}, err
	}
	var spec corev1.PodSpec
	switch component {
	case "gateway":
		var s appsv1.StatefulSet
		err = sigsyaml.UnmarshalStrict(b, &s)
		spec = s.Spec.Template.Spec
	default:
		var d appsv1.DaemonSet
		err = sigsyaml.UnmarshalStrict(b, &d)
		spec = d.Spec.Template.Spec
	}
	if err != nil {
		return Memory{}, fmt.Errorf("%s: %w", rel, err)
	}
	for _, c := range spec.Containers {
		if c.Name != "otlpcol" {
			continue
		}
		lim, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			return Memory{}, fmt.Errorf("%s: no limits.memory", rel)
		}
		m := Memory{Limit: lim.Value()}
		for _, e := range c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			switch {
			case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
				m.GoMemLimitBytes = m.Limit
				m.GoMemLimit = fmt.Sprint(m.Limit)
			default:
				m.GoMemLimit = e.Value
				m.GoMemLimitBytes, err = ParseGoMemLimit(e.Value)
				if err != nil {
					return Memory{}, fmt.Errorf("%s: GOMEMLIMIT: %w", rel, err)
				}
			}
		}
		if m.GoMemLimit == "" {
			return Memory{}, fmt.Errorf("%s: no GOMEMLIMIT", rel)
		}
		return m, nil
	}
	return Memory{}, fmt.Errorf("%s: no otlpcol container", rel)
}

// ParseGoMemLimit reads a GOMEMLIMIT value: bytes with an optional B, KiB,
// MiB, GiB or TiB suffix, as the Go runtime takes it.
func ParseGoMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := cutSuffix(v, u.suffix); ok {
			q, err := resource.ParseQuantity(n)
			if err != nil {
				return 0, err
			}
			return q.Value() * u.mult, nil
		}
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, err
	}
	return q.Value(), nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
