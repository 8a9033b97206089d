package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

func TestPackages(t *testing.T) {
	requirePackageTest(t)
	r := makePackage(t, "1")

	t.Run("artifacts", func(t *testing.T) { checkArtifacts(t, r) })
	for _, arch := range arches {
		t.Run("archive/"+arch, func(t *testing.T) { checkArchive(t, r, arch) })
		t.Run("deb/"+arch, func(t *testing.T) { checkDeb(t, r, arch) })
		t.Run("lintian/"+arch, func(t *testing.T) { checkLintian(t, r, arch) })
		t.Run("rpm/"+arch, func(t *testing.T) { checkRPM(t, r, arch) })
	}
	t.Run("install", func(t *testing.T) { installUpgradePurge(t, r) })
}

// installUpgradePurge installs the amd64 .deb on this machine, checks and
// runs it, upgrades it with edited conffiles, and purges it. Each step needs
// the one before, so the first failure ends it; restore runs regardless.
func installUpgradePurge(t *testing.T, r release) {
	requireClean(t)
	next := repackage(t, r, "2")
	t.Cleanup(func() {
		restore(t)
		for _, p := range ours {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("machine not restored: %s is still there", p)
			}
		}
	})

	aptInstall(t, r.deb("amd64"))
	checkInstalled(t, r)
	require.ElementsMatch(t, conffiles, dpkgConffiles(t), "conffiles dpkg recorded")

	// The packaged agent config is valid for the packaged binary and for
	// bin/otlpcol, with the env file as shipped (placeholders).
	env := readEnvFile(t, envPath)
	run(t, "", "env", append(env, "/usr/bin/otlpcol", "validate", "--config", yamlPath)...)
	run(t, "", "env", append(env, harness.Binary(t), "validate", "--config", yamlPath)...)

	checkUnit(t)
	runAsService(t)

	// The operator's edits: the env file (filled in by runAsService) and
	// the agent config.
	edited, err := os.ReadFile(yamlPath)
	require.NoError(t, err)
	require.Contains(t, string(edited), "limit_mib: 512")
	edited = []byte(strings.Replace(string(edited), "limit_mib: 512", "limit_mib: 384", 1))
	require.NoError(t, os.WriteFile(yamlPath, edited, 0o644))
	envEdited, err := os.ReadFile(envPath)
	require.NoError(t, err)

	aptInstall(t, next.deb("amd64"))
	checkInstalled(t, next)
	for path, want := range map[string][]byte{yamlPath: edited, envPath: envEdited} {
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s after the upgrade", path)
	}
	left, err := filepath.Glob("/etc/otlpcol/*.dpkg-*")
	require.NoError(t, err)
	require.Empty(t, left, "dpkg set an edited conffile aside")
	_, err = os.Stat(stateDir + "/queue")
	require.NoError(t, err, "the upgrade keeps the state directory")

	out, stderr, err := apt("purge", "otlpcol")
	require.NoError(t, err, "apt-get purge otlpcol\n%s%s", out, stderr)
	require.False(t, dpkgInstalled(t), "dpkg still knows otlpcol after the purge")
	for _, p := range ours {
		_, err := os.Lstat(p)
		require.True(t, os.IsNotExist(err), "%s is left after the purge", p)
	}
	requireClean(t)
}

// dpkgConffiles lists the conffiles dpkg recorded for the installed package.
func dpkgConffiles(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(run(t, "", "dpkg-query", "--show", "--showformat=${Conffiles}", "otlpcol")), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			paths = append(paths, f[0])
		}
	}
	return paths
}
