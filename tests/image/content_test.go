package image

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otlpcol/otlpcol/tests/harness"
)

// arches are the platforms `make image` builds, with the ELF machine of
// each one's binary.
var arches = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// TestArchive: dist/otlpcol-<version>-oci.tar holds one manifest list, named
// as the overlays reference the image, with exactly the two platforms.
func TestArchive(t *testing.T) {
	o := record(t)
	a := loadArchive(t)
	if st, err := os.Stat(archivePath(t)); err == nil {
		o.Measured = fmt.Sprintf("%s: %.1f MiB", filepath.Base(archivePath(t)), mib(st.Size()))
	}
	require.Equal(t, imageName(t), a.ref, "the archive's ref name (what podman load tags)")
	var platforms []string
	for _, d := range a.list.Manifests {
		require.NotNil(t, d.Platform, "manifest %s has no platform", d.Digest)
		require.Equal(t, "application/vnd.oci.image.manifest.v1+json", d.MediaType)
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	slices.Sort(platforms)
	require.Equal(t, []string{"linux/amd64", "linux/arm64"}, platforms)
}

// TestImageConfig: each architecture's config says that architecture (the
// arm64 one was built on an amd64 machine without emulation), runs the
// binary as 65532 with the gateway config, and carries the OCI labels.
func TestImageConfig(t *testing.T) {
	record(t)
	a := loadArchive(t)
	rev := regexp.MustCompile(`^[0-9a-f]{40}$`)
	for arch := range arches {
		t.Run(arch, func(t *testing.T) {
			c := a.image(t, arch).config
			require.Equal(t, arch, c.Architecture)
			require.Equal(t, "linux", c.OS)
			require.Equal(t, "65532:65532", c.Config.User)
			require.Equal(t, []string{"/otlpcol"}, c.Config.Entrypoint)
			require.Equal(t, []string{"--config", "/etc/otlpcol/gateway.yaml"}, c.Config.Cmd)
			l := c.Config.Labels
			require.Equal(t, version(t), l["org.opencontainers.image.version"])
			require.Regexp(t, rev, l["org.opencontainers.image.revision"], "the commit the image was built from")
			require.Equal(t, "Apache-2.0", l["org.opencontainers.image.licenses"])
			require.Equal(t, "https://github.com/otlpcol/otlpcol", l["org.opencontainers.image.source"])
			require.Equal(t, "/usr/share/doc/otlpcol/sbom.cdx.json", l["dev.otlpcol.sbom"])
		})
	}
}

// TestImageFiles: what a scratch image must bring itself: the binary of its
// architecture (static), the zone database, the CA bundle, the user's
// passwd and group entries, its state directory, the shipped configs, and
// the SBOM that make image wrote beside the archive.
func TestImageFiles(t *testing.T) {
	a := loadArchive(t)
	for arch, machine := range arches {
		t.Run(arch, func(t *testing.T) {
			o := record(t)
			img := a.image(t, arch)

			bin := img.file(t, "/otlpcol")
			require.Equal(t, os.FileMode(0o755), bin.hdr.FileInfo().Mode().Perm())
			e, err := elf.NewFile(bytes.NewReader(bin.data))
			require.NoError(t, err)
			require.Equal(t, machine, e.Machine, "/otlpcol of the linux/%s image", arch)
			for _, p := range e.Progs {
				require.NotEqual(t, elf.PT_INTERP, p.Type, "/otlpcol must be static: a scratch image has no loader")
			}
			bi, err := buildinfo.Read(bytes.NewReader(bin.data))
			require.NoError(t, err)
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			require.Equal(t, arch, settings["GOARCH"])
			require.Equal(t, "0", settings["CGO_ENABLED"])
			require.Equal(t, "true", settings["-trimpath"])

			// The zone database where Go looks for $TZ and time.LoadLocation.
			for _, zone := range []string{"Etc/UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"} {
				_, err := time.LoadLocationFromTZData(zone, img.file(t, "/usr/share/zoneinfo/"+zone).data)
				require.NoError(t, err, "zone %s", zone)
			}

			pool := x509.NewCertPool()
			require.True(t, pool.AppendCertsFromPEM(img.file(t, "/etc/ssl/certs/ca-certificates.crt").data),
				"the CA bundle (where Go looks first on Linux) holds no certificate")

			require.Regexp(t, `(?m)^otlpcol:x:65532:65532:`, string(img.file(t, "/etc/passwd").data))
			require.Regexp(t, `(?m)^otlpcol:x:65532:`, string(img.file(t, "/etc/group").data))

			state := img.file(t, "/var/lib/otlpcol")
			require.Equal(t, byte(tar.TypeDir), state.hdr.Typeflag)
			require.Equal(t, 65532, state.hdr.Uid, "/var/lib/otlpcol owner: a fresh volume mounted there copies it")
			require.Equal(t, 65532, state.hdr.Gid)

			cfgs, err := filepath.Glob(filepath.Join(harness.RepoRoot(), "configs", "*.yaml"))
			require.NoError(t, err)
			require.NotEmpty(t, cfgs)
			for _, c := range cfgs {
				want, err := os.ReadFile(c)
				require.NoError(t, err)
				require.Equal(t, string(want), string(img.file(t, "/etc/otlpcol/"+filepath.Base(c)).data))
			}

			sbom := img.file(t, "/usr/share/doc/otlpcol/sbom.cdx.json").data
			beside := filepath.Join(filepath.Dir(archivePath(t)), "otlpcol-"+version(t)+"-linux-"+arch+".cdx.json")
			want, err := os.ReadFile(beside)
			require.NoError(t, err, "make image writes the SBOM beside the archive")
			require.Equal(t, string(want), string(sbom), "the SBOM in the image is the one beside the archive")
			n := checkSBOM(t, sbom, bi)
			o.Measured = fmt.Sprintf("linux/%s: image %.1f MiB compressed (%.1f MiB unpacked, %d layers), binary %.1f MiB; SBOM %d components",
				arch, mib(img.compressed), mib(img.uncompressed), len(img.manifest.Layers), mib(int64(len(bin.data))), n)
			t.Log(o.Measured)
		})
	}
}

// checkSBOM checks the CycloneDX document against the binary's own module
// list and returns its component count.
func checkSBOM(t *testing.T, doc []byte, bi *buildinfo.BuildInfo) int {
	t.Helper()
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(doc, &bom))
	require.Equal(t, "CycloneDX", bom.BOMFormat)
	require.Equal(t, bi.Main.Path, bom.Metadata.Component.Name)
	require.Equal(t, "v"+version(t), bom.Metadata.Component.Version)
	listed := map[string]string{}
	for _, c := range bom.Components {
		listed[c.Name] = c.Version
	}
	// Every module linked into the binary is listed at the version linked
	// (a replaced module at its replacement's version).
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil && d.Replace.Version != "" {
			m = d.Replace
		}
		if d.Replace != nil && d.Replace.Version == "" {
			continue // a local directory (the in-house components): no version to list
		}
		require.Contains(t, listed, m.Path, "SBOM misses %s", m.Path)
		require.Equal(t, m.Version, listed[m.Path], "SBOM version of %s", m.Path)
	}
	require.Equal(t, "v0.161.0", listed["go.opentelemetry.io/collector/receiver/otlpreceiver"])
	return len(bom.Components)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
