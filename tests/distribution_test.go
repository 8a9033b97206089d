package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otlpcol/otlpcol/tests/harness"
)

type manifestEntry struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

type manifest struct {
	Dist struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	} `yaml:"dist"`
	Receivers  []manifestEntry `yaml:"receivers"`
	Processors []manifestEntry `yaml:"processors"`
	Exporters  []manifestEntry `yaml:"exporters"`
	Extensions []manifestEntry `yaml:"extensions"`
	Providers  []manifestEntry `yaml:"providers"`
	Converters []manifestEntry `yaml:"converters"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "builder-config.yaml"))
	require.NoError(t, err)
	var m manifest
	require.NoError(t, yaml.Unmarshal(b, &m))
	return m
}

type listedComponent struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
}

type componentsOutput struct {
	BuildInfo struct {
		Command string `yaml:"command"`
		Version string `yaml:"version"`
	} `yaml:"buildinfo"`
	Receivers  []listedComponent `yaml:"receivers"`
	Processors []listedComponent `yaml:"processors"`
	Exporters  []listedComponent `yaml:"exporters"`
	Extensions []listedComponent `yaml:"extensions"`
	Providers  []listedComponent `yaml:"providers"`
	Converters []listedComponent `yaml:"converters"`
}

func runComponents(t *testing.T) componentsOutput {
	t.Helper()
	out, err := exec.Command(harness.Binary(t), "components").Output()
	require.NoError(t, err)
	var c componentsOutput
	require.NoError(t, yaml.Unmarshal(out, &c))
	return c
}

// key is "kind module" with the module's version dropped, sorted.
func keys(kind string, mods []string) []string {
	var out []string
	for _, m := range mods {
		path, _, _ := strings.Cut(m, " ")
		out = append(out, kind+" "+path)
	}
	sort.Strings(out)
	return out
}

// TestComponentsAgree keeps builder-config.yaml, what the built binary
// reports, and README.md's component table in agreement.
func TestComponentsAgree(t *testing.T) {
	m := readManifest(t)
	c := runComponents(t)

	fromManifest := func(kind string, es []manifestEntry) []string {
		var mods []string
		for _, e := range es {
			mods = append(mods, e.GoMod)
		}
		return keys(kind, mods)
	}
	fromBinary := func(kind string, ls []listedComponent) []string {
		var mods []string
		for _, l := range ls {
			mods = append(mods, l.Module)
		}
		return keys(kind, mods)
	}
	kinds := []struct {
		kind string
		man  []manifestEntry
		bin  []listedComponent
	}{
		{"receiver", m.Receivers, c.Receivers},
		{"processor", m.Processors, c.Processors},
		{"exporter", m.Exporters, c.Exporters},
		{"extension", m.Extensions, c.Extensions},
		{"provider", m.Providers, c.Providers},
		{"converter", m.Converters, c.Converters},
	}

	// The README table: | kind | type | module |
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "README.md"))
	require.NoError(t, err)
	table := regexp.MustCompile(`(?s)<!-- components:begin -->(.*)<!-- components:end -->`).FindSubmatch(readme)
	require.NotNil(t, table, "README.md has no components table between the markers")
	readmeRows := map[string][]string{} // kind -> "kind module"
	readmeTypes := map[string][]string{}
	for _, line := range strings.Split(string(table[1]), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 || strings.Contains(cells[0], "---") || strings.TrimSpace(cells[0]) == "kind" {
			continue
		}
		kind, typ := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		mod, _, _ := strings.Cut(strings.TrimSpace(cells[2]), " ")
		readmeRows[kind] = append(readmeRows[kind], kind+" "+mod)
		readmeTypes[kind] = append(readmeTypes[kind], typ)
	}

	for _, k := range kinds {
		want := fromManifest(k.kind, k.man)
		require.Equal(t, want, fromBinary(k.kind, k.bin), "%ss: builder-config.yaml and `otlpcol components` differ", k.kind)
		got := append([]string(nil), readmeRows[k.kind]...)
		sort.Strings(got)
		require.Equal(t, want, got, "%ss: builder-config.yaml and the README table differ", k.kind)
		if k.kind == "provider" || k.kind == "converter" {
			continue // providers and converters are listed by module only
		}
		var names []string
		for _, l := range k.bin {
			names = append(names, l.Name)
		}
		sort.Strings(names)
		types := append([]string(nil), readmeTypes[k.kind]...)
		sort.Strings(types)
		require.Equal(t, names, types, "%ss: README types differ from `otlpcol components`", k.kind)
	}
}

// TestVersionStamped checks the binary carries the manifest's name and version.
func TestVersionStamped(t *testing.T) {
	m := readManifest(t)
	c := runComponents(t)
	require.Equal(t, m.Dist.Name, c.BuildInfo.Command)
	require.Equal(t, m.Dist.Version, c.BuildInfo.Version)
	out, err := exec.Command(harness.Binary(t), "--version").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(out), m.Dist.Version)
}

// TestCollectorModulesPinned guards DESIGN.md's rule: every collector module
// at the one pinned release, in the root module and the distribution alike
// (the distribution replaces the root module, so a stray upgrade here
// upgrades the distribution too).
func TestCollectorModulesPinned(t *testing.T) {
	for _, f := range []string{"go.mod", "distribution/go.mod"} {
		b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), f))
		require.NoError(t, err)
		re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?((?:go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)\S*) (v\S+)`)
		n := 0
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			n++
			require.Contains(t, []string{"v0.161.0", "v1.67.0"}, m[2], "%s: %s is at %s, not the pinned release", f, m[1], m[2])
		}
		require.NotZero(t, n, "%s lists no collector module", f)
	}
}
