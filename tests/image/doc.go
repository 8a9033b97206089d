// Package image tests the container image `make image` builds: the OCI
// archive's two images (architecture, user, entrypoint, ports against the
// Kubernetes manifests, files, SBOM) and the host architecture's image run
// with podman on the shipped gateway config. `make test-image` runs it; it
// needs the archive (OTLPCOL_IMAGE_ARCHIVE), so a plain `go test ./...`
// skips it.
package image
