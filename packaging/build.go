package main

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// builder makes every artifact of one release.
type builder struct {
	config  string // nfpm.yaml
	dist    string // output directory
	build   string // holds linux_<arch>/otlpcol
	root    string
	version string
	release string
	mtime   time.Time
}

// elfMachine is the ELF machine each supported GOARCH must produce.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// all writes the deb, rpm and tar.gz of arch and returns their paths.
func (b builder) all(arch string) ([]string, error) {
	bin := filepath.Join(b.build, "linux_"+arch, "otlpcol")
	if err := checkELF(bin, arch); err != nil {
		return nil, err
	}
	var out []string
	for _, format := range []string{"deb", "rpm"} {
		path, err := b.pkg(format, arch, filepath.Dir(bin))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", format, err)
		}
		out = append(out, path)
	}
	archive := filepath.Join(b.dist, fmt.Sprintf("otlpcol_%s_linux_%s.tar.gz", b.version, arch))
	if err := writeArchive(archive, b.mtime, []archiveFile{
		{name: "otlpcol", src: bin, mode: 0o755},
		{name: "README.md", src: filepath.Join(b.root, "README.md"), mode: 0o644},
		{name: "LICENSE", src: filepath.Join(b.root, "LICENSE"), mode: 0o644},
	}); err != nil {
		return nil, fmt.Errorf("tar.gz: %w", err)
	}
	fmt.Printf(">> %s\n", archive)
	return append(out, archive), nil
}

// changelog writes a one-entry changelog for this release, in the chglog
// YAML that nfpm turns into /usr/share/doc/otlpcol/changelog.Debian.gz.
func (b builder) changelog(maintainer string) (string, error) {
	f, err := os.CreateTemp("", "otlpcol-changelog-*.yaml")
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintf(f, `- semver: %q
  date: %q
  packager: %q
  deb:
    urgency: medium
    distributions: [stable]
  changes:
    - note: "otlpcol %s, release %s. Changes: see README.md."
`, b.version+"-"+b.release, b.mtime.Format(time.RFC3339), maintainer, b.version, b.release)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// checkELF refuses to package a binary built for another architecture (a
// stale dist/build would otherwise ship silently).
func checkELF(path, arch string) error {
	want, ok := elfMachine[arch]
	if !ok {
		return fmt.Errorf("unsupported arch %q", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("%s is %s, want %s", path, f.Machine, want)
	}
	return nil
}

// pkg builds one nfpm package; binDir holds the binary nfpm.yaml's ${BUILD} names.
func (b builder) pkg(format, arch, binDir string) (string, error) {
	vars := map[string]string{
		"ARCH":    arch,
		"VERSION": b.version,
		"RELEASE": b.release,
		"BUILD":   binDir,
	}
	cfg, err := nfpm.ParseFileWithEnvMapping(b.config, func(k string) string { return vars[k] })
	if err != nil {
		return "", err
	}
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info.MTime = b.mtime
	if format == "deb" {
		// Debian wants a changelog in every package; one entry for this release.
		if info.Changelog, err = b.changelog(info.Maintainer); err != nil {
			return "", err
		}
		defer os.Remove(info.Changelog)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.dist, packager.ConventionalFileName(info))
	info.Target = path
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	fmt.Printf(">> %s\n", path)
	return path, nil
}
