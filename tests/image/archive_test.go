package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The OCI image layout, as much of it as the tests read
// (github.com/opencontainers/image-spec, specs-go/v1).
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform"`
}

type index struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
}

// imageConfig is an image's configuration blob.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Env          []string            `json:"Env"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"config"`
}

// file is one regular file or directory of an image's filesystem.
type file struct {
	hdr  *tar.Header
	data []byte
}

// ociImage is one platform's image of the archive.
type ociImage struct {
	arch     string
	manifest manifest
	config   imageConfig
	// files is the filesystem the layers make, by path without leading /.
	files map[string]file
	// compressed and uncompressed are the layers' sizes in bytes.
	compressed, uncompressed int64
}

// ociArchive is what `make image` wrote to dist/otlpcol-<version>-oci.tar.
type ociArchive struct {
	// ref is the name the archive gives its one entry (podman load tags it so).
	ref   string
	list  index
	blobs map[string][]byte // "sha256:..." -> content
}

var (
	archiveOnce sync.Once
	archive     *ociArchive
	archiveErr  error
	imagesMu    sync.Mutex
	images      = map[string]*ociImage{}
)

// loadArchive reads the OCI archive once for every test of the package.
func loadArchive(t *testing.T) *ociArchive {
	t.Helper()
	name := archivePath(t) // skips the test when unset: outside the Once
	archiveOnce.Do(func() { archive, archiveErr = readArchive(name) })
	if archiveErr != nil {
		t.Fatalf("read %s: %v", name, archiveErr)
	}
	return archive
}

func readArchive(name string) (*ociArchive, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var top []byte
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		switch name := path.Clean(hdr.Name); {
		case name == "index.json":
			top = b
		case strings.HasPrefix(name, "blobs/sha256/"):
			blobs["sha256:"+path.Base(name)] = b
		}
	}
	return newArchive(top, blobs)
}

// readLayout reads an OCI image layout directory (what `skopeo copy` to
// oci: writes).
func readLayout(dir string) (*ociArchive, error) {
	top, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	blobs := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		blobs["sha256:"+filepath.Base(f)] = b
	}
	return newArchive(top, blobs)
}

func newArchive(indexJSON []byte, blobs map[string][]byte) (*ociArchive, error) {
	a := &ociArchive{blobs: blobs}
	var top index
	if err := json.Unmarshal(indexJSON, &top); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	// The archive's one entry is the manifest list (an OCI image index)
	// with both architectures, named by org.opencontainers.image.ref.name.
	if len(top.Manifests) != 1 {
		return nil, fmt.Errorf("index.json has %d entries, want the one manifest list", len(top.Manifests))
	}
	d := top.Manifests[0]
	if d.MediaType != "application/vnd.oci.image.index.v1+json" {
		return nil, fmt.Errorf("index.json points at a %s, want an OCI image index", d.MediaType)
	}
	a.ref = d.Annotations["org.opencontainers.image.ref.name"]
	if err := a.json(d, &a.list); err != nil {
		return nil, err
	}
	return a, nil
}

// json decodes the blob d points at into v.
func (a *ociArchive) json(d descriptor, v any) error {
	b, ok := a.blobs[d.Digest]
	if !ok {
		return fmt.Errorf("blob %s (%s) missing from the archive", d.Digest, d.MediaType)
	}
	if int64(len(b)) != d.Size {
		return fmt.Errorf("blob %s has %d bytes, its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return json.Unmarshal(b, v)
}

// image returns arch's image: manifest, configuration and filesystem.
func (a *ociArchive) image(t *testing.T, arch string) *ociImage {
	t.Helper()
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if img, ok := images[arch]; ok {
		return img
	}
	var desc *descriptor
	for i, d := range a.list.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			desc = &a.list.Manifests[i]
		}
	}
	if desc == nil {
		t.Fatalf("the manifest list has no linux/%s image", arch)
	}
	img := &ociImage{arch: arch, files: map[string]file{}}
	if err := a.json(*desc, &img.manifest); err != nil {
		t.Fatalf("linux/%s manifest: %v", arch, err)
	}
	if err := a.json(img.manifest.Config, &img.config); err != nil {
		t.Fatalf("linux/%s config: %v", arch, err)
	}
	for _, l := range img.manifest.Layers {
		n, err := a.unpack(l, img.files)
		if err != nil {
			t.Fatalf("linux/%s layer %s: %v", arch, l.Digest, err)
		}
		img.compressed += l.Size
		img.uncompressed += n
	}
	images[arch] = img
	return img
}

// unpack applies layer l to files and returns its uncompressed size.
func (a *ociArchive) unpack(l descriptor, files map[string]file) (int64, error) {
	b, ok := a.blobs[l.Digest]
	if !ok {
		return 0, fmt.Errorf("missing from the archive")
	}
	if !strings.HasSuffix(l.MediaType, "gzip") {
		return 0, fmt.Errorf("media type %s, want a gzip layer", l.MediaType)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	cr := &countingReader{r: zr}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return 0, fmt.Errorf("whiteout %s: a scratch image's layers only add", name)
		}
		f := file{hdr: hdr}
		if hdr.Typeflag == tar.TypeReg {
			if f.data, err = io.ReadAll(tr); err != nil {
				return 0, err
			}
		}
		files[name] = f
	}
	_, _ = io.Copy(io.Discard, cr)
	return cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// file returns the image's file at p (absolute), failing the test when absent.
func (img *ociImage) file(t *testing.T, p string) file {
	t.Helper()
	f, ok := img.files[strings.TrimPrefix(p, "/")]
	if !ok {
		t.Fatalf("linux/%s image has no %s", img.arch, p)
	}
	return f
}
