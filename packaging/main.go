// Command package writes otlpcol's release artifacts: for each architecture
// a deb and an rpm (built by nfpm from nfpm.yaml) and a tar.gz of the binary
// with README.md and LICENSE, then SHA256SUMS over all of them. `make
// package` cross-compiles the binaries first, into
// <dist>/build/linux_<arch>/otlpcol, and runs this from packaging/ (paths
// in nfpm.yaml are relative to it).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	var (
		dist    = flag.String("dist", "../dist", "output directory")
		build   = flag.String("build", "", "directory holding linux_<arch>/otlpcol (default <dist>/build)")
		root    = flag.String("root", "..", "repository root (README.md, LICENSE)")
		version = flag.String("version", "", "package version (builder-config.yaml's dist.version)")
		release = flag.String("release", "1", "package release (deb revision, rpm release)")
		arches  = flag.String("arch", "amd64,arm64", "comma-separated GOARCH list")
		mtime   = flag.Int64("mtime", sourceDateEpoch(), "modification time of every packaged file, unix seconds (default $SOURCE_DATE_EPOCH, else now)")
	)
	flag.Parse()
	if *version == "" {
		log.Fatal("package: -version is required")
	}
	if *build == "" {
		*build = filepath.Join(*dist, "build")
	}
	b := builder{
		build:   *build,
		config:  "nfpm.yaml",
		dist:    *dist,
		root:    *root,
		version: *version,
		release: *release,
		mtime:   time.Unix(*mtime, 0).UTC(),
	}
	var written []string
	for _, arch := range strings.FieldsFunc(*arches, func(r rune) bool { return r == ',' || r == ' ' }) {
		files, err := b.all(arch)
		if err != nil {
			log.Fatalf("package %s: %v", arch, err)
		}
		written = append(written, files...)
	}
	if err := writeSums(filepath.Join(*dist, "SHA256SUMS"), written); err != nil {
		log.Fatalf("package: %v", err)
	}
	fmt.Printf(">> %s/SHA256SUMS over %d files\n", *dist, len(written))
}

// sourceDateEpoch follows the reproducible-builds convention.
func sourceDateEpoch() int64 {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v
		}
	}
	return time.Now().Unix()
}
