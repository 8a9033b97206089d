# otlpcol: every target prints what it does. Only Go needs to be installed:
# ocb runs through `go tool builder` (pinned in go.mod).
SHELL      := /bin/bash
GO         ?= go
BIN        := bin/otlpcol
CONFIG     ?= configs/local.yaml
VERSION    := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
COMMIT     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
IMAGE      ?= otlpcol:$(VERSION)
GOVULNCHECK ?= v1.9.0
# A count of executions, not a duration: go1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" when a -fuzztime duration ends while a
# worker is busy (golang/go#75804, fixed in go1.27); a count has no deadline.
FUZZTIME   ?= 20000x
DIST       ?= dist
PKG_RELEASE ?= 1
PKG_ARCHES ?= amd64 arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
GOFILES     = $(shell git ls-files --cached --others --exclude-standard '*.go' | grep -v '^distribution/')

.PHONY: all build generate run test test-e2e chaos test-k8s test-package fuzz deps deps-package package bench lint fmt validate vuln docker docker-push check-generated clean

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

## package: static linux binaries for $(PKG_ARCHES) (CGO off, -trimpath), then for
## each a deb and an rpm (nfpm, from packaging/nfpm.yaml) and a tar.gz with
## README and LICENSE, and SHA256SUMS, all in $(DIST)/. nfpm lives in the
## packaging/ module of its own so that it never moves the collector's
## dependencies in the root go.mod.
package: generate
	@set -e; mkdir -p $(DIST); dist=$$(cd $(DIST) && pwd); \
	rm -f $$dist/otlpcol_* $$dist/otlpcol-* $$dist/SHA256SUMS; \
	for arch in $(PKG_ARCHES); do \
		echo ">> building $$dist/build/linux_$$arch/otlpcol version $(VERSION) ($(COMMIT), linux/$$arch, static)"; \
		(cd distribution && CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w" -o $$dist/build/linux_$$arch/otlpcol .); \
	done; \
	echo ">> packaging with nfpm (packaging/, release $(PKG_RELEASE))"; \
	cd packaging && $(GO) run . -dist $$dist -version $(VERSION) -release $(PKG_RELEASE) -arch "$(PKG_ARCHES)" -mtime $(SOURCE_DATE_EPOCH)

## test-package: build the packages, inspect them (dpkg-deb, lintian, rpm),
## install the .deb on this machine for real, run it, upgrade and purge it.
## Needs root on Debian; the machine is restored even when a test fails.
test-package: deps-package
	@echo ">> go vet and test of packaging/ (a module of its own)"
	@cd packaging && $(GO) vet ./... && $(GO) test -count=1 ./...
	@echo ">> package tests (installs, upgrades and purges the otlpcol .deb on this machine)"
	@OTLPCOL_PACKAGE_TEST=1 $(GO) test -count=1 -timeout 30m -v ./tests/packaging/

## test-e2e: the long fault scenarios (30 s backend outage, 20 s replica stop), with their table
test-e2e: build
	@echo ">> long reliability scenarios (about 5 minutes)"
	@mkdir -p bin
	@OTLPCOL_RELIABILITY_LONG=1 OTLPCOL_RELIABILITY_TABLE=$(CURDIR)/bin/reliability-long.md \
		$(GO) test -count=1 -timeout 20m ./tests/reliability/
	@cat bin/reliability-long.md

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
## server-side apply, RBAC, and trace-ID routing while gateways scale 2->3->2.
## Needs root (network namespaces) and iproute2 (installed when missing).
test-k8s: build
	@command -v ip >/dev/null || { echo ">> installing ip (Debian package iproute2)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends iproute2 >/dev/null; }
	@mkdir -p bin
	@set -o pipefail; k8sbin=$$(tests/k8s/tools/build.sh) && \
		echo ">> go test ./tests/k8s (control plane from $$k8sbin)" && \
		OTLPCOL_K8S_BIN=$$k8sbin OTLPCOL_K8S_TABLE=$(CURDIR)/bin/k8s.md \
		$(GO) test -count=1 -v -timeout 20m ./tests/k8s/
	@cat bin/k8s.md

## fuzz: a short coverage-guided run of every fuzz target (FUZZTIME executions
## each). A failing input is written to the package's testdata/fuzz/ and fails
## the run.
fuzz:
	@set -uo pipefail; for t in \
		FuzzParseTraceID:./components/extension/healthextension \
		FuzzConfigUnmarshal:./components/extension/healthextension \
		FuzzConfigUnmarshal:./components/extension/guardedfilestorage \
		FuzzParse:./components/extension/healthextension/internal/sendwatch \
		FuzzConfigUnmarshal:./components/processor/traceregistryprocessor \
		FuzzParseRetryAfter:./components/exporter/otlpretryexporter \
		FuzzRequestFromBody:./components/exporter/otlpretryexporter \
		FuzzConfigUnmarshal:./components/exporter/otlpretryexporter \
		FuzzSplitBody:./components/exporter/otlpretryexporter \
		FuzzParseName:./components/exporter/otlpretryexporter/internal/deadletter \
		FuzzReplayDir:./components/exporter/otlpretryexporter/internal/deadletter \
		FuzzDecodeRecord:./components/exporter/otlpretryexporter/internal/wal \
		FuzzDecodeCheckpoint:./components/exporter/otlpretryexporter/internal/wal; do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo ">> fuzz $$name in $$pkg for $(FUZZTIME)"; \
		if ! out=$$($(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime=$(FUZZTIME) "$$pkg" 2>&1); then \
			echo "$$out" | tail -40; echo "fuzz $$name failed"; exit 1; \
		fi; \
		echo "$$out" | tail -1; \
	done

## deps: install the Debian packages the tests use when missing (promtool)
deps:
	@command -v promtool >/dev/null || { echo ">> installing promtool (Debian package prometheus)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@promtool --version | head -1

## deps-package: install the Debian packages the package tests use when missing
deps-package:
	@missing=""; for t in dpkg-deb:dpkg lintian:lintian rpm:rpm file:file systemd-analyze:systemd setpriv:util-linux; do \
		command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then echo ">> installing$$missing (Debian packages)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@lintian --version; rpm --version; systemd-analyze --version | head -1

## check-generated: fail when distribution/ differs from what builder-config.yaml generates
check-generated: generate
	@echo ">> checking distribution/ matches builder-config.yaml"
	@git diff --exit-code -- distribution/ || { echo "distribution/ is stale: run 'make generate' and commit it"; exit 1; }

## bench: load benchmark of otlpcol against the stock pipelines (3 interleaved
## rounds each, about 16 minutes), plus microbenchmarks; BENCHFLAGS passes flags
bench: build
	@echo ">> running benchmarks (results in bench/results.md; about 16 minutes)"
	@$(GO) run ./bench $(BENCHFLAGS)

## lint: gofmt, go vet, and go.mod/go.sum tidy (the root module, tests/ci and tests/k8s/tools)
lint:
	@echo ">> gofmt"
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo ">> go vet ./..."
	@$(GO) vet ./...
	@echo ">> go mod tidy -diff (root module, tests/ci, tests/k8s/tools)"
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; }
	@cd tests/ci && { $(GO) mod tidy -diff || { echo "tests/ci/go.mod/go.sum are not tidy: run 'cd tests/ci && go mod tidy' and commit"; exit 1; }; }
	@cd tests/k8s/tools && { $(GO) mod tidy -diff || { echo "tests/k8s/tools/go.mod/go.sum are not tidy: run 'cd tests/k8s/tools && go mod tidy' and commit"; exit 1; }; }

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

## docker: build the container image (needs a Docker engine)
docker:
	@echo ">> docker build -t $(IMAGE)"
	docker build -t $(IMAGE) .

## docker-push: push the image built by `make docker`
docker-push:
	@echo ">> docker push $(IMAGE)"
	docker push $(IMAGE)

## clean: remove bin/ and $(DIST)/
clean:
	rm -rf bin $(DIST)
