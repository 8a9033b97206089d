# otlpcol: every target prints what it does. Only Go needs to be installed:
# ocb runs through `go tool builder` (pinned in go.mod).
SHELL      := /bin/bash
GO         ?= go
BIN        := bin/otlpcol
CONFIG     ?= configs/local.yaml
VERSION    := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
COMMIT     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
REVISION   := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE      ?= otlpcol:$(VERSION)
GOVULNCHECK ?= v1.9.0
# A count of executions, not a duration: go1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" when a -fuzztime duration ends while a
# worker is busy (golang/go#75804, fixed in go1.27); a count has no deadline.
FUZZTIME   ?= 20000x
DIST       ?= dist
PKG_RELEASE ?= 1
PKG_ARCHES ?= amd64 arm64
# `make image`: podman as it works on these machines (no daemon, vfs storage,
# runc: crun refuses the hybrid cgroup setup here), on a store of its own
# outside the clone, so that whatever the machine's podman store holds (or
# which driver it was created with) does not matter. The image leaves it as
# the OCI archive.
PODMAN_STORE ?= $(HOME)/.cache/otlpcol-podman
PODMAN     ?= podman --root $(PODMAN_STORE)/root --runroot $(PODMAN_STORE)/run --tmpdir $(PODMAN_STORE)/tmp \
	--storage-driver vfs --runtime runc --events-backend file
IMAGE_ARCHIVE = $(DIST)/otlpcol-$(VERSION)-oci.tar
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
GOFILES     = $(shell git ls-files --cached --others --exclude-standard '*.go' | grep -v '^distribution/')

.PHONY: all build generate run test test-e2e chaos test-k8s test-monitoring test-package test-image fuzz deps deps-package deps-image binaries package image image-push bench lint fmt validate vuln check-generated clean

all: build

## generate: regenerate distribution/ from builder-config.yaml with ocb
generate:
	@echo ">> generating distribution/ from builder-config.yaml with ocb (go tool builder)"
	@$(GO) tool builder --config builder-config.yaml --skip-compilation

## build: generate, then compile a static, trimmed bin/otlpcol
build: generate
	@echo ">> building $(BIN) version $(VERSION) ($(COMMIT))"
	@mkdir -p bin
	@cd distribution && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../$(BIN) .
	@echo ">> $(BIN) ready"

## run: build, then run otlpcol on $(CONFIG)
run: build
	@echo ">> running $(BIN) --config $(CONFIG) (Ctrl-C stops it)"
	@./$(BIN) --config $(CONFIG)

## test: every test: lint, drift check, unit tests, the tests that run bin/otlpcol, fuzzing
test: deps lint check-generated build
	@echo ">> go test ./... (unit, end-to-end, reliability, deploy validation; fuzz seed corpora)"
	@mkdir -p bin
	@OTLPCOL_RELIABILITY_TABLE=$(CURDIR)/bin/reliability.md $(GO) test -count=1 -timeout 45m ./...
	@cat bin/reliability.md
	@echo ">> go test ./tests/ci (Dockerfile and CI workflow checks, a module of their own)"
	@cd tests/ci && $(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

## binaries: static linux binaries for $(PKG_ARCHES) in $(DIST)/build/linux_<arch>/
## (CGO off, -trimpath); package and image ship these.
binaries: generate
	@set -e; mkdir -p $(DIST); dist=$$(cd $(DIST) && pwd); \
	for arch in $(PKG_ARCHES); do \
		echo ">> building $$dist/build/linux_$$arch/otlpcol version $(VERSION) ($(COMMIT), linux/$$arch, static)"; \
		(cd distribution && CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w" -o $$dist/build/linux_$$arch/otlpcol .); \
	done

## package: for each of $(PKG_ARCHES) a deb and an rpm (nfpm, from
## packaging/nfpm.yaml) and a tar.gz with README and LICENSE, and SHA256SUMS,
## all in $(DIST)/. nfpm lives in the packaging/ module of its own so that it
## never moves the collector's dependencies in the root go.mod.
package: binaries
	@set -e; dist=$$(cd $(DIST) && pwd); \
	rm -f $$dist/otlpcol_* $$dist/otlpcol-*.rpm $$dist/SHA256SUMS; \
	echo ">> packaging with nfpm (packaging/, release $(PKG_RELEASE))"; \
	cd packaging && $(GO) run . -dist $$dist -version $(VERSION) -release $(PKG_RELEASE) -arch "$(PKG_ARCHES)" -mtime $(SOURCE_DATE_EPOCH)

## image: the container image $(IMAGE), a manifest list of linux/amd64 and
## linux/arm64 images built FROM scratch from the binaries (Dockerfile) with
## podman: no daemon, no registry, no emulation (nothing runs in the build).
## Stages the build context in $(DIST)/image/ (passwd and group from
## packaging/image/, the machine's CA bundle and zone database, configs/,
## LICENSE, each architecture's binary and its CycloneDX SBOM), then writes
## $(IMAGE_ARCHIVE) (OCI archive of the list, for podman load / skopeo copy)
## and $(DIST)/otlpcol-$(VERSION)-linux-<arch>.cdx.json (the SBOMs, also in
## the image as /usr/share/doc/otlpcol/sbom.cdx.json): every module linked
## into the binary, read from its build info (cyclonedx-gomod bin), with
## version, hash and purl. No license detection: it reads every module's
## files and doubles the time of `make image`.
image: deps-image binaries
	@set -e; ctx=$(DIST)/image; rm -rf $$ctx; \
	echo ">> staging the build context in $$ctx"; \
	mkdir -p $$ctx/rootfs/etc/ssl/certs $$ctx/rootfs/etc/otlpcol $$ctx/rootfs/usr/share/doc/otlpcol $$ctx/state; \
	install -m 0644 packaging/image/passwd packaging/image/group $$ctx/rootfs/etc/; \
	install -m 0644 /etc/ssl/certs/ca-certificates.crt $$ctx/rootfs/etc/ssl/certs/; \
	mkdir -p $$ctx/rootfs/usr/share; cp -a /usr/share/zoneinfo $$ctx/rootfs/usr/share/; rm -rf $$ctx/rootfs/usr/share/zoneinfo/right; \
	install -m 0644 configs/*.yaml $$ctx/rootfs/etc/otlpcol/; \
	install -m 0644 LICENSE $$ctx/rootfs/usr/share/doc/otlpcol/; \
	mkdir -p bin; $(GO) build -o bin/cyclonedx-gomod github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod; \
	$(PODMAN) manifest rm $(IMAGE) >/dev/null 2>&1 || true; \
	$(PODMAN) rmi --ignore -f $(IMAGE) $(foreach a,$(PKG_ARCHES),$(IMAGE)-$(a)) >/dev/null; \
	for arch in $(PKG_ARCHES); do \
		sbom=$(DIST)/otlpcol-$(VERSION)-linux-$$arch.cdx.json; \
		echo ">> SBOM of linux/$$arch (cyclonedx-gomod bin): $$sbom"; \
		bin/cyclonedx-gomod bin -json -version v$(VERSION) -output $$sbom $(DIST)/build/linux_$$arch/otlpcol; \
		install -D -m 0755 $(DIST)/build/linux_$$arch/otlpcol $$ctx/$$arch/otlpcol; \
		install -D -m 0644 $$sbom $$ctx/$$arch/usr/share/doc/otlpcol/sbom.cdx.json; \
		echo ">> podman build --platform linux/$$arch -t $(IMAGE)-$$arch"; \
		$(PODMAN) build --quiet --platform linux/$$arch --timestamp $(SOURCE_DATE_EPOCH) \
			--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
			-t $(IMAGE)-$$arch -f Dockerfile $$ctx >/dev/null; \
	done; \
	echo ">> manifest list $(IMAGE) -> $(IMAGE_ARCHIVE)"; \
	$(PODMAN) manifest create $(IMAGE) >/dev/null; \
	for arch in $(PKG_ARCHES); do $(PODMAN) manifest add $(IMAGE) containers-storage:localhost/$(IMAGE)-$$arch >/dev/null; done; \
	rm -f $(IMAGE_ARCHIVE); \
	$(PODMAN) manifest push --quiet --all $(IMAGE) oci-archive:$(IMAGE_ARCHIVE):$(IMAGE); \
	$(PODMAN) manifest rm $(IMAGE) >/dev/null; \
	for arch in $(PKG_ARCHES); do \
		echo ">> $(IMAGE)-$$arch: $$($(PODMAN) image inspect --format '{{.Size}}' $(IMAGE)-$$arch) bytes"; done; \
	ls -l $(IMAGE_ARCHIVE)

## image-push: push the archive `make image` wrote (and test-image tested),
## the manifest list with both architectures, to IMAGE_PUSH (a registry
## reference: make image-push IMAGE_PUSH=ghcr.io/o/otlpcol:0.1.0)
image-push:
	@test -n "$(IMAGE_PUSH)" || { echo "set IMAGE_PUSH=registry/repository:tag"; exit 1; }
	@echo ">> skopeo copy --all oci-archive:$(IMAGE_ARCHIVE) docker://$(IMAGE_PUSH)"
	@skopeo copy --all oci-archive:$(IMAGE_ARCHIVE) docker://$(IMAGE_PUSH)

## test-image: make image, then tests/image: the OCI archive's two images
## (architecture, user, entrypoint, ports against deploy/k8s, SBOM, binary),
## and the host's image run with podman on configs/gateway.yaml (read-only
## root, uid 65532, state on a volume) against a loopback backend: probes, a
## trace delivered, SIGTERM stops that deliver or keep what was accepted.
## Loads the archive into a podman store of its own, removed afterwards.
## Writes the tests' table (image sizes, SBOM component counts, timings) to
## tests/image/results.md.
test-image: image
	@echo ">> go test ./tests/image ($(IMAGE_ARCHIVE))"
	@mkdir -p bin; rm -f bin/image.md
	@OTLPCOL_IMAGE_ARCHIVE=$(CURDIR)/$(IMAGE_ARCHIVE) OTLPCOL_IMAGE=$(IMAGE) OTLPCOL_IMAGE_TABLE=$(CURDIR)/bin/image.md \
		$(GO) test -count=1 -v -timeout 15m ./tests/image/
	@{ echo '# Container image: measured'; echo; \
	  echo '<!-- Generated by `make test-image` (tests/image); do not edit by hand. -->'; echo; \
	  echo "\`make test-image\`, $$(nproc) cores, $$(podman --version); commit $(COMMIT)$$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (dirty tree)'), $$(date -u +%F)."; \
	  echo 'Sizes are of the layers in dist/otlpcol-$(VERSION)-oci.tar (compressed as stored, and unpacked); SBOM components'; \
	  echo 'are the CycloneDX document'"'"'s modules (make image, cyclonedx-gomod), checked against the binary'"'"'s build info.'; echo; \
	  grep '^|' bin/image.md; } > tests/image/results.md
	@echo ">> tests/image/results.md written"

## test-package: build the packages, inspect them (dpkg-deb, lintian, rpm),
## install the .deb on this machine for real, run it, upgrade and purge it.
## Needs root on Debian; the machine is restored even when a test fails.
test-package: deps-package
	@echo ">> go vet and test of packaging/ (a module of its own)"
	@cd packaging && $(GO) vet ./... && $(GO) test -count=1 ./...
	@echo ">> package tests (installs, upgrades and purges the otlpcol .deb on this machine)"
	@OTLPCOL_PACKAGE_TEST=1 $(GO) test -count=1 -timeout 30m -v ./tests/packaging/

## test-e2e: the long fault scenarios (30 s backend outage, 20 s replica stop); writes their
## table to tests/reliability/results.md
E2E_BESIDE := TestAgentAbsorbsGatewayOutage
test-e2e: build
	@echo ">> long reliability scenarios (about 15 minutes; the 5-minute agent outage runs beside the rest)"
	@mkdir -p bin
	@rm -f bin/reliability-long*.md
	@# The agent-outage scenario mostly waits (a 5-minute gateway outage at a
	@# light steady load), so it runs in a second test process beside the others
	@# instead of after them; harness ports are per process (flock'ed blocks).
	@OTLPCOL_RELIABILITY_LONG=1 OTLPCOL_RELIABILITY_TABLE=$(CURDIR)/bin/reliability-long-outage.md \
		$(GO) test -count=1 -timeout 25m -run '^$(E2E_BESIDE)$$' ./tests/reliability/ > bin/reliability-long-outage.log 2>&1 & beside=$$!; \
	OTLPCOL_RELIABILITY_LONG=1 OTLPCOL_RELIABILITY_TABLE=$(CURDIR)/bin/reliability-long-rest.md \
		$(GO) test -count=1 -timeout 25m -skip '^$(E2E_BESIDE)$$' ./tests/reliability/; rest=$$?; \
	wait $$beside; besiderc=$$?; cat bin/reliability-long-outage.log; \
	test $$rest -eq 0 && test $$besiderc -eq 0
	@{ grep -E '^\| (scenario|---)' bin/reliability-long-rest.md; \
	  cat bin/reliability-long-rest.md bin/reliability-long-outage.md | grep -E '^\| [A-Z]' | sort; } > bin/reliability-long.md
	@cat bin/reliability-long.md
	@{ echo '# Reliability scenarios: measured'; echo; \
	  echo '<!-- Generated by `make test-e2e` (tests/reliability, long variant); do not edit by hand. -->'; echo; \
	  echo "Long variant (\`make test-e2e\`), $$(nproc) cores; commit $(COMMIT)$$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (dirty tree)'), $$(date -u +%F)."; \
	  echo 'sent = spans the clients were told OK for; duplicates are arrivals beyond the first (at least'; \
	  echo "once at work); peak RSS is the highest VmHWM of the scenario's collectors."; echo; \
	  grep '^|' bin/reliability-long.md; } > tests/reliability/results.md
	@echo ">> tests/reliability/results.md written"

## test-monitoring: a real Prometheus (Debian package prometheus, installed when
## missing) runs deploy/monitoring's scrape config and rules, scaled 30x faster on
## copies, against bin/otlpcol gateways and agents; every alert is driven by its
## real fault and must fire and resolve, a healthy soak with a rolling restart
## must stay silent, every dashboard query must return data. Prints the table and
## writes it (docs/monitoring/alerts.md) with the key panels (docs/monitoring/*.png).
## Mounts a small tmpfs (disk full) when run as root. About 5 minutes.
test-monitoring: build
	@.ci/need prometheus:prometheus
	@mkdir -p docs/monitoring
	@echo ">> go test ./tests/monitoring (Prometheus $$(prometheus --version 2>&1 | awk 'NR==1{print $$3}'), scaled 30x)"
	@OTLPCOL_MONITORING=1 OTLPCOL_MONITORING_OUT=$(CURDIR)/docs/monitoring \
		$(GO) test -count=1 -parallel 16 -timeout 15m -v ./tests/monitoring/

## chaos: the randomized fault campaign (tests/chaos) against bin/otlpcol:
## SEED= (empty: a fresh one, printed), STEPS= or DURATION= (e.g. 10m),
## CHAOS_FAULTS= (kinds, comma-separated, or all), CHAOS_SCHEDULE= (replay a
## printed schedule), CHAOS_SHRINK= (shrink budget, default 15m),
## CHAOS_RESULTS= (write the results table there). Needs root (tmpfs).
chaos: build
	@echo ">> chaos campaign (seed $(if $(SEED),$(SEED),fresh), $(if $(DURATION),$(DURATION),$(if $(STEPS),$(STEPS),20) steps))"
	@CHAOS_RUN=1 CHAOS_SEED=$(SEED) CHAOS_STEPS=$(STEPS) CHAOS_DURATION=$(DURATION) \
		$(GO) test -count=1 -v -timeout 90m -run '^TestCampaign$$' ./tests/chaos/ 2>&1 | \
		grep --line-buffered -vE '^\s*$$|^=== (RUN|NAME)' ; exit $${PIPESTATUS[0]}

## test-k8s: deploy/ on a real control plane (built from Go modules into
## OTLPCOL_K8S_CACHE, default ~/.cache/otlpcol-k8s: slow once, then cached):
## server-side apply, RBAC, and trace-ID routing while gateways scale 2->3->2;
## the Helm chart (deploy/helm/otlpcol, helm built from Go modules into the
## same cache): lint, rendering checks, drift against deploy/k8s, its
## renderings applied, install/upgrade/uninstall.
## Needs root (network namespaces) and iproute2 (installed when missing).
test-k8s: build
	@.ci/need ip:iproute2
	@mkdir -p bin
	@set -o pipefail; k8sbin=$$(tests/k8s/tools/build.sh) && helm=$$(tests/k8s/tools/helm/build.sh) && \
		echo ">> go test ./tests/k8s (control plane from $$k8sbin, $$helm)" && \
		OTLPCOL_K8S_BIN=$$k8sbin OTLPCOL_HELM=$$helm OTLPCOL_K8S_TABLE=$(CURDIR)/bin/k8s.md \
		$(GO) test -count=1 -v -timeout 20m ./tests/k8s/
	@cat bin/k8s.md

## fuzz: a short coverage-guided run of every fuzz target (FUZZTIME executions
## each). A failing input is written to the package's testdata/fuzz/ and fails
## the run.
fuzz:
	@set -uo pipefail; targets=$$(git grep -l '^func Fuzz' -- '*_test.go' | while read -r f; do \
		sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f" | sed "s|\$$|:./$$(dirname $$f)|"; done | sort -u); \
	[ -n "$$targets" ] || { echo "no fuzz targets found"; exit 1; }; \
	for t in $$targets; do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo ">> fuzz $$name in $$pkg for $(FUZZTIME)"; \
		if ! out=$$($(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime=$(FUZZTIME) "$$pkg" 2>&1); then \
			echo "$$out" | tail -40; echo "fuzz $$name failed"; exit 1; \
		fi; \
		echo "$$out" | tail -1; \
	done

## deps: install the Debian packages the tests use when missing (promtool)
deps:
	@.ci/need promtool:prometheus
	@promtool --version | head -1

## deps-image: install what `make image` and its tests use when missing
## (Debian packages podman, runc and skopeo; ca-certificates and tzdata for
## the CA bundle and zone database copied into the image)
deps-image:
	@.ci/need podman:podman runc:runc skopeo:skopeo /etc/ssl/certs/ca-certificates.crt:ca-certificates /usr/share/zoneinfo/UTC:tzdata
	@podman --version; runc --version | head -1

## deps-package: install the Debian packages the package tests use when missing
deps-package:
	@.ci/need dpkg-deb:dpkg lintian:lintian rpm:rpm file:file systemd-analyze:systemd setpriv:util-linux
	@lintian --version; rpm --version; systemd-analyze --version | head -1

## check-generated: fail when distribution/ differs from what builder-config.yaml generates
check-generated: generate
	@echo ">> checking distribution/ matches builder-config.yaml"
	@git diff --exit-code -- distribution/ || { echo "distribution/ is stale: run 'make generate' and commit it"; exit 1; }

## bench: load benchmark of otlpcol against the stock pipelines (3 interleaved
## rounds each), a CPU profile by stage, the catch-up scenario, plus microbenchmarks
## (about 45 minutes); BENCHFLAGS passes flags
bench: build
	@echo ">> running benchmarks (results in bench/results.md; about 45 minutes)"
	@$(GO) run ./bench $(BENCHFLAGS)

## lint: gofmt, go vet, and go.mod/go.sum tidy (the root module, tests/ci and tests/k8s/tools)
lint:
	@echo ">> gofmt"
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo ">> go vet ./..."
	@$(GO) vet ./...
	@echo ">> go mod tidy -diff (root module, tests/ci, tests/k8s/tools, tests/k8s/tools/helm)"
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; }
	@cd tests/ci && { $(GO) mod tidy -diff || { echo "tests/ci/go.mod/go.sum are not tidy: run 'cd tests/ci && go mod tidy' and commit"; exit 1; }; }
	@cd tests/k8s/tools && { $(GO) mod tidy -diff || { echo "tests/k8s/tools/go.mod/go.sum are not tidy: run 'cd tests/k8s/tools && go mod tidy' and commit"; exit 1; }; }
	@cd tests/k8s/tools/helm && { $(GO) mod tidy -diff || { echo "tests/k8s/tools/helm/go.mod/go.sum are not tidy: run 'cd tests/k8s/tools/helm && go mod tidy' and commit"; exit 1; }; }

## fmt: format the Go sources
fmt:
	@gofmt -w $(GOFILES)

## validate: every config in configs/ through bin/otlpcol validate
validate: build
	@for f in configs/*.yaml; do echo ">> validate $$f"; OTLP_ENDPOINT=backend.example:4317 API_KEY=validate ./$(BIN) validate --config $$f || exit 1; done

## vuln: govulncheck over the module and the distribution (needs the vulnerability database online)
vuln:
	@echo ">> govulncheck"
	@$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK) ./...
	@cd distribution && $(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK) ./...

## clean: remove bin/ and $(DIST)/
clean:
	rm -rf bin $(DIST)
