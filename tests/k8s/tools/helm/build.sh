#!/usr/bin/env bash
# Builds helm for `make test-k8s` from this module's pinned helm.sh/helm/v4
# (no binary download), as ../build.sh builds the control plane: into a cache
# outside the clone, keyed by this module's go.mod and go.sum, so later runs
# reuse it. Prints the binary's path on its last line.
set -euo pipefail
cd "$(dirname "$0")"

HELM_VERSION=v4.3.2
CACHE="${OTLPCOL_K8S_CACHE:-$HOME/.cache/otlpcol-k8s}/helm-$HELM_VERSION"
LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
want=$( (cat go.mod go.sum; go version; echo "$LDFLAGS") | sha256sum | cut -d' ' -f1)
if [ -x "$CACHE/helm" ] && [ "$(cat "$CACHE/.stamp" 2>/dev/null)" = "$want" ]; then
  echo ">> helm $HELM_VERSION cached in $CACHE" >&2
  echo "$CACHE/helm"
  exit 0
fi
mkdir -p "$CACHE"
rm -f "$CACHE/.stamp"
echo ">> building helm $HELM_VERSION into $CACHE (cold: a few minutes on 2 cores)" >&2
start=$(date +%s)
tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$tmp/helm" helm.sh/helm/v4/cmd/helm
mv "$tmp/helm" "$CACHE/helm"
echo "$want" > "$CACHE/.stamp"
echo ">> helm built in $(( $(date +%s) - start )) s" >&2
echo "$CACHE/helm"
