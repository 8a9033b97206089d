// Package ci checks the files that only CI and image builds use: the
// Dockerfile (no Docker engine runs here, so it is parsed, not built) and the
// GitHub workflow. It is its own Go module so that buildkit and actionlint do
// not pull the distribution's shared dependencies to newer versions.
package ci

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/stretchr/testify/require"
)

const repo = "../.."

func finalStage(t *testing.T) instructions.Stage {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	ast, err := parser.Parse(f)
	require.NoError(t, err)
	stages, _, err := instructions.Parse(ast.AST, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(stages), 2, "the Dockerfile must be multi-stage")
	return stages[len(stages)-1]
}

// makeVar reads `NAME := value` from the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + name + `\s*[:?]?=\s*(\S+)`).FindSubmatch(b)
	require.NotNil(t, m, "Makefile has no %s", name)
	return string(m[1])
}

func TestDockerfileFinalStage(t *testing.T) {
	st := finalStage(t)
	require.True(t, strings.HasPrefix(st.BaseName, "gcr.io/distroless/") || st.BaseName == "scratch",
		"final stage must be distroless or scratch, is %s", st.BaseName)

	var (
		user       string
		ports      []string
		entrypoint []string
		cmd        []string
		copies     = map[string]string{} // destination -> source
	)
	for _, c := range st.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.ExposeCommand:
			ports = append(ports, c.Ports...)
		case *instructions.EntrypointCommand:
			require.False(t, c.PrependShell, "ENTRYPOINT must be exec form (there is no shell in the image)")
			entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			require.False(t, c.PrependShell, "CMD must be exec form")
			cmd = c.CmdLine
		case *instructions.HealthCheckCommand:
			// Nothing in a distroless image can run a probe command: the seed's
			// curl HEALTHCHECK failed exactly that way.
			t.Fatalf("final stage has a HEALTHCHECK %v; the image has no tool to run it", c.Health.Test)
		case *instructions.RunCommand:
			t.Fatalf("final stage runs %v, but it has no shell", c.CmdLine)
		case *instructions.CopyCommand:
			for _, src := range c.SourcePaths {
				copies[c.DestPath] = src
			}
		}
	}

	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	require.NoError(t, err, "USER must be numeric so runAsNonRoot can check it, is %q", user)
	require.NotZero(t, n, "USER must not be root")

	for _, p := range []string{"4317", "4318", "8080"} {
		require.Contains(t, ports, p, "EXPOSE must list %s", p)
	}

	require.Len(t, entrypoint, 1, "ENTRYPOINT is the binary alone")
	bin := makeVar(t, "BIN")
	require.Equal(t, "/src/"+bin, copies[entrypoint[0]], "ENTRYPOINT %s must be the binary `make build` writes (%s)", entrypoint[0], bin)

	// CMD is "--config <file>": the file must be one of configs/, copied in.
	require.Len(t, cmd, 2)
	require.Equal(t, "--config", cmd[0])
	cfgDir := ""
	for dst, src := range copies {
		if strings.TrimSuffix(src, "/") == "configs" {
			cfgDir = dst
		}
	}
	require.NotEmpty(t, cfgDir, "configs/ must be copied into the image")
	rel, err := filepath.Rel(cfgDir, cmd[1])
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(repo, "configs", rel))
	require.NoError(t, err, "CMD config %s is not a file of configs/", cmd[1])
}

func TestDockerfileBuildsWithMake(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	require.NoError(t, err)
	require.Contains(t, string(b), "RUN make build", "the image must be built by the same make target as a developer's binary")
	ports := regexp.MustCompile(`EXPOSE ([0-9 ]+)`).FindStringSubmatch(string(b))
	require.NotNil(t, ports)
	require.True(t, slices.Contains(strings.Fields(ports[1]), "8080"))
}
