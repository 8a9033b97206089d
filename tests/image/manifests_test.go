package image

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// podSpecOf reads the pod template of a workload manifest in deploy/k8s.
func podSpecOf(t *testing.T, rel string) corev1.PodSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", "k8s", rel))
	require.NoError(t, err)
	var w struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &w), rel)
	return w.Spec.Template.Spec
}

// TestImageMatchesKubernetesManifests: the gateway StatefulSet and the agent
// DaemonSet run this image as it is: the user the image declares is the one
// they require (runAsUser/runAsGroup, runAsNonRoot), they keep its
// ENTRYPOINT (no command), their container ports are the ports it exposes,
// and their probes reach the health extension on an exposed port (8080).
func TestImageMatchesKubernetesManifests(t *testing.T) {
	record(t)
	a := loadArchive(t)
	for arch := range arches {
		c := a.image(t, arch).config.Config
		for _, rel := range []string{"gateway/statefulset.yaml", "agent/daemonset.yaml"} {
			t.Run(arch+"/"+rel, func(t *testing.T) {
				spec := podSpecOf(t, rel)
				i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == "otlpcol" })
				require.GreaterOrEqual(t, i, 0, "%s has no otlpcol container", rel)
				ctr := spec.Containers[i]

				sc := spec.SecurityContext
				require.NotNil(t, sc)
				require.NotNil(t, sc.RunAsUser)
				require.NotNil(t, sc.RunAsGroup)
				require.Equal(t, fmt.Sprintf("%d:%d", *sc.RunAsUser, *sc.RunAsGroup), c.User,
					"the image's USER is the user %s runs it as", rel)
				require.NotNil(t, sc.RunAsNonRoot)
				require.True(t, *sc.RunAsNonRoot)

				require.Empty(t, ctr.Command, "%s overrides the image's ENTRYPOINT %v", rel, c.Entrypoint)
				require.NotEmpty(t, ctr.Args, "%s passes its own --config", rel)

				var ports []string
				named := map[string]int32{}
				for _, p := range ctr.Ports {
					ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(string(p.Protocol))))
					named[p.Name] = p.ContainerPort
				}
				var exposed []string
				for p := range c.ExposedPorts {
					exposed = append(exposed, p)
				}
				slices.Sort(ports)
				slices.Sort(exposed)
				require.Equal(t, exposed, ports, "%s container ports and the image's EXPOSE", rel)

				for name, probe := range map[string]*corev1.Probe{
					"startupProbe": ctr.StartupProbe, "livenessProbe": ctr.LivenessProbe, "readinessProbe": ctr.ReadinessProbe,
				} {
					require.NotNil(t, probe, "%s has no %s", rel, name)
					require.NotNil(t, probe.HTTPGet, "%s %s is not an HTTP probe", rel, name)
					port := probe.HTTPGet.Port.IntVal
					if probe.HTTPGet.Port.Type == intstr.String {
						port = named[probe.HTTPGet.Port.StrVal]
					}
					require.Equal(t, int32(8080), port, "%s %s", rel, name)
					require.Contains(t, c.ExposedPorts, strconv.Itoa(int(port))+"/tcp")
				}
			})
		}
	}
}
