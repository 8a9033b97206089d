package packaging

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// entry is one packaged path as the package tools list it.
type entry struct {
	perms, owner, group string
}

// debFiles and rpmFiles: every regular file each package must hold, and
// nothing else. The env file carries the API key: readable by the service's
// group only.
var (
	debFiles = map[string]entry{
		"/usr/bin/otlpcol":                           {"-rwxr-xr-x", "root", "root"},
		"/etc/otlpcol/otlpcol.yaml":                  {"-rw-r--r--", "root", "root"},
		"/etc/otlpcol/gateway.yaml":                  {"-rw-r--r--", "root", "root"},
		"/etc/otlpcol/otlpcol.env":                   {"-rw-r-----", "root", "otlpcol"},
		"/lib/systemd/system/otlpcol.service":        {"-rw-r--r--", "root", "root"},
		"/usr/share/doc/otlpcol/copyright":           {"-rw-r--r--", "root", "root"},
		"/usr/share/doc/otlpcol/changelog.Debian.gz": {"-rw-r--r--", "root", "root"},
		"/usr/share/lintian/overrides/otlpcol":       {"-rw-r--r--", "root", "root"},
	}
	rpmFiles = map[string]entry{
		"/usr/bin/otlpcol":                        {"-rwxr-xr-x", "root", "root"},
		"/etc/otlpcol/otlpcol.yaml":               {"-rw-r--r--", "root", "root"},
		"/etc/otlpcol/gateway.yaml":               {"-rw-r--r--", "root", "root"},
		"/etc/otlpcol/otlpcol.env":                {"-rw-r-----", "root", "otlpcol"},
		"/usr/lib/systemd/system/otlpcol.service": {"-rw-r--r--", "root", "root"},
		"/usr/share/licenses/otlpcol/LICENSE":     {"-rw-r--r--", "root", "root"},
	}
	conffiles = []string{"/etc/otlpcol/gateway.yaml", "/etc/otlpcol/otlpcol.env", "/etc/otlpcol/otlpcol.yaml"}
)

// checkDeb inspects a .deb with dpkg-deb: control fields, maintainer
// scripts, conffiles, and every file with its mode and owner.
func checkDeb(t *testing.T, r release, arch string) {
	deb := r.deb(arch)
	fields := run(t, "", "dpkg-deb", "--field", deb, "Package", "Version", "Architecture")
	require.Equal(t, "Package: otlpcol\nVersion: "+r.version+"-"+r.release+"\nArchitecture: "+arch+"\n", fields)

	info := run(t, "", "dpkg-deb", "--info", deb)
	for _, script := range []string{"preinst", "postinst", "prerm", "postrm", "conffiles"} {
		require.Regexp(t, `(?m)^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+`+script+`\b`, info, "control member %s", script)
	}
	require.Contains(t, run(t, "", "dpkg-deb", "--info", deb, "preinst"), "useradd --system")
	require.Equal(t, strings.Join(conffiles, "\n"), sortedLines(run(t, "", "dpkg-deb", "--info", deb, "conffiles")))

	got := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, "", "dpkg-deb", "--contents", deb)), "\n") {
		// -rw-r----- root/otlpcol  641 2026-12-01 01:50 ./etc/otlpcol/otlpcol.env
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 6, "dpkg-deb --contents line %q", line)
		if f[0][0] != '-' {
			continue // directories
		}
		owner, group, _ := strings.Cut(f[1], "/")
		owner, group = rootName(owner), rootName(group) // nfpm writes the changelog as 0/0
		got[strings.TrimPrefix(f[5], ".")] = entry{f[0], owner, group}
	}
	require.Equal(t, debFiles, got, "files in %s", deb)
}

// checkLintian runs lintian on a .deb: no error and no warning. The tags
// overridden, each with its reason, are in packaging/files/lintian-overrides;
// a second run shows them in the log (--show-overrides makes lintian count
// overridden tags towards --fail-on, so it cannot give the verdict).
func checkLintian(t *testing.T, r release, arch string) {
	out, stderr, err := runErr("", nil, "lintian", "--fail-on", "error,warning", "--display-info", r.deb(arch))
	t.Logf("lintian %s:\n%s%s", arch, out, stderr)
	require.NoError(t, err, "lintian reports errors or warnings")
	require.NotRegexp(t, `(?m)^[EW]: `, out)

	out, stderr, _ = runErr("", nil, "lintian", "--show-overrides", r.deb(arch))
	t.Logf("lintian %s, overridden tags and why:\n%s%s", arch, out, stderr)
}

var rpmInfoRE = regexp.MustCompile(`(?m)^(Name|Version|Release|Architecture)\s*: (\S+)`)

// checkRPM inspects an .rpm with rpm -qpi, -qpl, --scripts and the file
// attributes: modes, owners and the config-noreplace flag of the conffiles.
func checkRPM(t *testing.T, r release, arch string) {
	rpm := r.rpm(arch)
	info := map[string]string{}
	for _, m := range rpmInfoRE.FindAllStringSubmatch(run(t, "", "rpm", "-qpi", rpm), -1) {
		info[m[1]] = m[2]
	}
	require.Equal(t, map[string]string{"Name": "otlpcol", "Version": r.version, "Release": r.release, "Architecture": rpmArch[arch]}, info)

	var want []string
	for p := range rpmFiles {
		want = append(want, p)
	}
	list := run(t, "", "rpm", "-qpl", rpm)
	for _, p := range want {
		require.Contains(t, strings.Split(list, "\n"), p, "rpm -qpl %s", rpm)
	}

	scripts := run(t, "", "rpm", "-qp", "--scripts", rpm)
	for _, s := range []string{"preinstall scriptlet", "postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
		require.Contains(t, scripts, s)
	}
	require.Contains(t, scripts, "useradd --system")

	got := map[string]entry{}
	flags := map[string]string{}
	attrs := run(t, "", "rpm", "-qp", "--qf", `[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} "%{FILEFLAGS:fflags}" %{FILENAMES}\n]`, rpm)
	for _, line := range strings.Split(strings.TrimSpace(attrs), "\n") {
		f := strings.Fields(line)
		require.Len(t, f, 5, "rpm file line %q", line)
		if f[0][0] != '-' {
			continue
		}
		got[f[4]] = entry{f[0], f[1], f[2]}
		flags[f[4]] = strings.Trim(f[3], `"`)
	}
	require.Equal(t, rpmFiles, got, "files in %s", rpm)
	for _, c := range conffiles {
		require.Contains(t, flags[c], "c", "%s is %%config", c)
		require.Contains(t, flags[c], "n", "%s is %%config(noreplace)", c)
	}
}

func rootName(id string) string {
	if id == "0" {
		return "root"
	}
	return id
}

func sortedLines(s string) string {
	lines := strings.Fields(s)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
