// Package ci checks the files that only CI and image builds use: the
// Dockerfile (parsed here; `make test-image` builds and runs it with podman)
// and the GitHub workflow. It is its own Go module so that buildkit and
// actionlint do not pull the distribution's shared dependencies to newer
// versions.
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

func stages(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	ast, err := parser.Parse(f)
	require.NoError(t, err)
	st, _, err := instructions.Parse(ast.AST, nil)
	require.NoError(t, err)
	require.NotEmpty(t, st)
	return st
}

// makeVar reads `NAME := value` from the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*[:?]?=\s*(\S+)`).FindStringSubmatch(makefile(t))
	require.NotNil(t, m, "Makefile has no %s", name)
	return m[1]
}

func makefile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	require.NoError(t, err)
	return string(b)
}

// TestDockerfileNeedsNoRegistry: every stage starts from scratch, so the
// build pulls nothing (the machines that build it reach no image registry),
// and nothing runs in it (no shell, and no emulation for the arm64 build).
func TestDockerfileNeedsNoRegistry(t *testing.T) {
	for _, st := range stages(t) {
		require.Equal(t, "scratch", st.BaseName, "stage %q starts from %s: only scratch builds without a registry", st.Name, st.BaseName)
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.RunCommand:
				t.Fatalf("the Dockerfile runs %v: a scratch image has no shell, and an arm64 build would need emulation", c.CmdLine)
			case *instructions.HealthCheckCommand:
				// Nothing in the image can run a probe command: the seed's
				// curl HEALTHCHECK failed exactly that way.
				t.Fatalf("HEALTHCHECK %v: the image has no tool to run it", c.Health.Test)
			case *instructions.CopyCommand:
				require.Empty(t, c.From, "COPY --from pulls or needs another stage; stage everything into the context")
			}
		}
	}
	require.Contains(t, makefile(t), "-f Dockerfile", "make image must build the top-level Dockerfile")
}

func TestDockerfileImage(t *testing.T) {
	all := stages(t)
	st := all[len(all)-1]

	var (
		user       string
		ports      []string
		entrypoint []string
		cmd        []string
		args       = map[string]bool{}
		labels     = map[string]string{}
		copies     []instructions.CopyCommand
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
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				args[a.Key] = true
			}
		case *instructions.LabelCommand:
			for _, l := range c.Labels {
				labels[l.Key] = strings.Trim(l.Value, `"`)
			}
		case *instructions.CopyCommand:
			copies = append(copies, *c)
		}
	}

	uid, gid, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	require.NoError(t, err, "USER must be numeric so runAsNonRoot can check it, is %q", user)
	require.NotZero(t, n, "USER must not be root")
	_, err = strconv.Atoi(gid)
	require.NoError(t, err, "USER must name a numeric group too, is %q", user)

	// The user's /etc/passwd and /etc/group entries come from packaging/image.
	for _, f := range []string{"passwd", "group"} {
		b, err := os.ReadFile(filepath.Join(repo, "packaging", "image", f))
		require.NoError(t, err)
		require.Regexp(t, `(?m)^[a-z]+:x:`+uid+`:`, string(b), "packaging/image/%s has no entry for %s", f, uid)
	}

	// The state directory is owned by the user, so that a fresh volume
	// mounted on it is writable (podman and docker copy the ownership up).
	i := slices.IndexFunc(copies, func(c instructions.CopyCommand) bool { return c.DestPath == "/var/lib/otlpcol/" })
	require.GreaterOrEqual(t, i, 0, "the Dockerfile must create /var/lib/otlpcol")
	require.Equal(t, user, copies[i].Chown, "/var/lib/otlpcol must belong to USER")

	for _, p := range []string{"4317", "4318", "8080"} {
		require.Contains(t, ports, p, "EXPOSE must list %s", p)
	}

	// Each architecture's binary comes from <context>/<TARGETARCH>/, which
	// make image stages from the binaries it built.
	require.True(t, args["TARGETARCH"], "ARG TARGETARCH: podman and docker set it from --platform")
	require.True(t, slices.ContainsFunc(copies, func(c instructions.CopyCommand) bool {
		return c.DestPath == "/" && slices.Equal(c.SourcePaths, []string{"${TARGETARCH}/"})
	}), "COPY ${TARGETARCH}/ / brings in the binary of the platform being built")
	require.Len(t, entrypoint, 1, "ENTRYPOINT is the binary alone")
	require.Contains(t, makefile(t), "$$ctx/$$arch"+entrypoint[0], "make image must stage the binary as %s", entrypoint[0])

	// CMD is "--config <file>": the file must be one of configs/, staged
	// into the rootfs/ copied to /.
	require.Len(t, cmd, 2)
	require.Equal(t, "--config", cmd[0])
	dir, file := filepath.Split(cmd[1])
	require.Contains(t, makefile(t), "configs/*.yaml $$ctx/rootfs"+strings.TrimSuffix(dir, "/"), "make image must stage configs/ in %s", dir)
	_, err = os.Stat(filepath.Join(repo, "configs", file))
	require.NoError(t, err, "CMD config %s is not a file of configs/", cmd[1])

	// OCI annotations, as collector-releases sets them.
	for _, k := range []string{"version", "revision", "source", "licenses"} {
		require.NotEmpty(t, labels["org.opencontainers.image."+k], "LABEL org.opencontainers.image.%s", k)
	}
	require.Equal(t, "${VERSION}", labels["org.opencontainers.image.version"], "the version label comes from make image")
	require.Equal(t, "${REVISION}", labels["org.opencontainers.image.revision"], "the revision label comes from make image")
	require.True(t, args["VERSION"] && args["REVISION"])
	license, err := os.ReadFile(filepath.Join(repo, "LICENSE"))
	require.NoError(t, err)
	require.Contains(t, string(license), "Apache License")
	require.Contains(t, string(license), "Version 2.0")
	require.Equal(t, "Apache-2.0", labels["org.opencontainers.image.licenses"])

	require.Equal(t, "otlpcol:$(VERSION)", makeVar(t, "IMAGE"), "the overlays reference otlpcol:<version>")
}
