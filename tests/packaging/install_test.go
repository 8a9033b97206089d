package packaging

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	unitPath = "/lib/systemd/system/otlpcol.service"
	envPath  = "/etc/otlpcol/otlpcol.env"
	yamlPath = "/etc/otlpcol/otlpcol.yaml"
	stateDir = "/var/lib/otlpcol"
)

// ours is every path the package or its scripts create: absent before the
// test, absent after a purge, removed by restore whatever happened.
var ours = []string{
	"/usr/bin/otlpcol", "/etc/otlpcol", stateDir, unitPath,
	"/usr/share/doc/otlpcol", "/usr/share/lintian/overrides/otlpcol",
	"/etc/systemd/system/multi-user.target.wants/otlpcol.service",
}

// requireClean refuses to run on a machine that already has otlpcol
// installed or its user: the test would not know what to restore.
func requireClean(t *testing.T) {
	t.Helper()
	require.False(t, dpkgInstalled(t), "the otlpcol package is already on this machine (dpkg -l otlpcol)")
	for _, p := range ours {
		_, err := os.Lstat(p)
		require.True(t, os.IsNotExist(err), "%s already exists", p)
	}
	_, err := user.Lookup("otlpcol")
	require.Error(t, err, "user otlpcol already exists")
	_, err = user.LookupGroup("otlpcol")
	require.Error(t, err, "group otlpcol already exists")
}

// restore puts the machine back as requireClean found it: purge the
// package, then remove whatever a failed script may have left.
func restore(t *testing.T) {
	if dpkgInstalled(t) {
		if out, stderr, err := apt("purge", "otlpcol"); err != nil {
			t.Errorf("restore: apt-get purge: %v\n%s%s", err, out, stderr)
			if out, err := runCombined("dpkg", "--purge", "--force-all", "otlpcol"); err != nil {
				t.Errorf("restore: dpkg --purge --force-all: %v\n%s", err, out)
			}
		}
	}
	for _, p := range ours {
		if err := os.RemoveAll(p); err != nil {
			t.Errorf("restore: %v", err)
		}
	}
	if _, err := user.Lookup("otlpcol"); err == nil {
		if out, err := runCombined("userdel", "otlpcol"); err != nil {
			t.Errorf("restore: userdel: %v\n%s", err, out)
		}
	}
	if _, err := user.LookupGroup("otlpcol"); err == nil {
		if out, err := runCombined("groupdel", "otlpcol"); err != nil {
			t.Errorf("restore: groupdel: %v\n%s", err, out)
		}
	}
}

// dpkgInstalled: dpkg knows otlpcol in any state but "not installed"
// (installed, half-configured, or removed with its conffiles left).
func dpkgInstalled(t *testing.T) bool {
	out, _, err := runErr("", nil, "dpkg-query", "--show", "--showformat=${db:Status-Abbrev}", "otlpcol")
	if err != nil {
		return false // dpkg never heard of it
	}
	return !strings.HasPrefix(out, "un")
}

// apt runs apt-get non-interactively, waiting for the dpkg lock (another
// process may be installing Debian packages on this shared machine). No
// --force-conf* option: an upgrade must keep an edited conffile by itself.
func apt(args ...string) (string, string, error) {
	base := []string{"-y", "-o", "DPkg::Lock::Timeout=300"}
	return runErr("", []string{"DEBIAN_FRONTEND=noninteractive"}, "apt-get", append(base, args...)...)
}

func aptInstall(t *testing.T, deb string) {
	t.Helper()
	out, stderr, err := apt("install", "--no-install-recommends", deb)
	require.NoError(t, err, "apt-get install %s\n%s%s", deb, out, stderr)
	t.Logf("apt-get install %s:\n%s", filepath.Base(deb), out)
}

func runCombined(name string, args ...string) (string, error) {
	stdout, stderr, err := runErr("", nil, name, args...)
	return stdout + stderr, err
}

// checkInstalled: package state, the system user, every file's mode and
// owner, the state directory, and a service neither enabled nor running.
func checkInstalled(t *testing.T, r release) {
	status := run(t, "", "dpkg-query", "--show", "--showformat=${db:Status-Abbrev}${Version}", "otlpcol")
	require.Equal(t, "ii "+r.version+"-"+r.release, status)

	u, err := user.Lookup("otlpcol")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	require.Less(t, uid, 1000, "otlpcol is a system user")
	passwd := strings.Split(strings.TrimSpace(run(t, "", "getent", "passwd", "otlpcol")), ":")
	require.Equal(t, []string{stateDir, "/usr/sbin/nologin"}, passwd[5:], "home and shell of otlpcol")
	g, err := user.LookupGroup("otlpcol")
	require.NoError(t, err)
	require.Equal(t, g.Gid, u.Gid, "otlpcol's primary group")

	for path, want := range debFiles {
		require.Equal(t, want, stat(t, path), path)
	}
	require.Equal(t, entry{"drwxr-x---", "otlpcol", "otlpcol"}, stat(t, stateDir), stateDir)

	_, err = os.Lstat("/etc/systemd/system/multi-user.target.wants/otlpcol.service")
	require.True(t, os.IsNotExist(err), "install must not enable the service before the endpoint is set")
	require.Empty(t, processesOf(t, uid), "install must not start otlpcol with the placeholder endpoint")
}

// stat is a path's mode and owner as the package tools print them.
func stat(t *testing.T, path string) entry {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	require.NoError(t, err)
	g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
	require.NoError(t, err)
	perms := fi.Mode().String()
	if fi.IsDir() {
		perms = "d" + perms[1:]
	}
	return entry{perms, u.Username, g.Name}
}

// processesOf lists the PIDs owned by uid.
func processesOf(t *testing.T, uid int) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if fi, err := os.Stat("/proc/" + d.Name()); err == nil && int(fi.Sys().(*syscall.Stat_t).Uid) == uid {
			pids = append(pids, pid)
		}
	}
	return pids
}

var exposureRE = regexp.MustCompile(`Overall exposure level for otlpcol\.service: ([0-9.]+) (\S+)`)

// checkUnit: systemd-analyze verify accepts the installed unit without a
// word about it, and its security exposure rates OK or better (SAFE).
func checkUnit(t *testing.T) {
	stdout, stderr, err := runErr("", nil, "systemd-analyze", "verify", unitPath)
	t.Logf("systemd-analyze verify:\n%s%s", stdout, stderr)
	require.NoError(t, err)
	require.NotContains(t, stdout+stderr, "otlpcol.service:", "systemd-analyze verify complains about the unit")

	stdout, stderr, err = runErr("", nil, "systemd-analyze", "security", "--offline=true", "--no-pager", unitPath)
	require.NoError(t, err, "%s%s", stdout, stderr)
	t.Logf("systemd-analyze security:\n%s", stdout)
	m := exposureRE.FindStringSubmatch(stdout)
	require.NotNil(t, m, "no overall exposure in:\n%s", stdout)
	t.Logf("systemd-analyze security: exposure %s %s", m[1], m[2])
	require.Contains(t, []string{"SAFE", "OK"}, m[2], "exposure %s", m[1])
}

// unit is what the test needs of the installed otlpcol.service.
type unit struct {
	execStart                  []string
	user, group, workDir, envF string
}

func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitPath)
	require.NoError(t, err)
	defer f.Close()
	var u unit
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch k {
		case "ExecStart":
			u.execStart = strings.Fields(v)
		case "User":
			u.user = v
		case "Group":
			u.group = v
		case "WorkingDirectory":
			u.workDir = v
		case "EnvironmentFile":
			u.envF = v
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, u.execStart, "ExecStart in %s", unitPath)
	require.True(t, filepath.IsAbs(u.execStart[0]), "ExecStart %q is an absolute path without a prefix", u.execStart[0])
	require.Equal(t, "otlpcol", u.user)
	require.Equal(t, envPath, u.envF)
	return u
}

// readEnvFile parses KEY=VALUE lines as systemd's EnvironmentFile= does for
// the simple form the package ships (no quotes, no continuation lines).
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		require.Contains(t, line, "=", "env file line %q", line)
		env = append(env, line)
	}
	return env
}

// fillEnvFile writes the operator's edit of the env file: the real
// endpoint, a key, plaintext to the loopback backend, and test ports.
func fillEnvFile(t *testing.T, endpoint string, ports map[string]int) {
	t.Helper()
	b, err := os.ReadFile(envPath)
	require.NoError(t, err)
	s := string(b)
	replace := map[string]string{
		"OTLP_ENDPOINT=gateway.example.invalid:4317": "OTLP_ENDPOINT=" + endpoint,
		"API_KEY=change-me":                          "API_KEY=package-test",
		"OTLP_INSECURE=false":                        "OTLP_INSECURE=true",
	}
	for old, repl := range replace {
		require.Contains(t, s, old, "the packaged env file")
		s = strings.Replace(s, old, repl, 1)
	}
	for k, p := range ports {
		require.Contains(t, s, "#"+k+"=", "the packaged env file documents %s", k)
		s += fmt.Sprintf("%s=%d\n", k, p)
	}
	// WriteFile truncates the existing file: its mode and owner stay.
	require.NoError(t, os.WriteFile(envPath, []byte(s), 0o640))
}
