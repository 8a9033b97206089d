#!/usr/bin/env bash
# Builds the control plane for `make test-k8s` from Go modules (no downloads of
# binaries): etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl and kwok, at the versions this module's go.mod pins. The binaries
# land in a cache outside the clone, keyed by this module's go.sum, so later
# runs on the same machine reuse them. Prints the directory on its last line.
set -euo pipefail
cd "$(dirname "$0")"

KUBE_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
ETCD_VERSION=v3.7.0
CACHE="${OTLPCOL_K8S_CACHE:-$HOME/.cache/otlpcol-k8s}/$KUBE_VERSION"
STAMP="$CACHE/.stamp"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

ver=k8s.io/component-base/version
cgo=k8s.io/client-go/pkg/version
LDFLAGS="-s -w"
for p in $ver $cgo; do
  LDFLAGS+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
done
LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
# The cache is valid for exactly these module versions and flags.
want=$( (cat go.mod go.sum; go version; echo "$LDFLAGS") | sha256sum | cut -d' ' -f1)

# kwok's stages (what its fake kubelet does to nodes and pods), from the
# same module: nodes become Ready and keep a heartbeat, pods become Running
# and Ready, and deleted pods go away.
mkdir -p "$CACHE"
# go list -m prints no directory for a module not yet in the module cache.
go mod download sigs.k8s.io/kwok
kwokdir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
stages="$kwokdir/kustomize/stage"
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  echo "---"; cat "$stages/$f"
done > "$CACHE/kwok-stages.yaml"

ok=1
for b in "${bins[@]}"; do [ -x "$CACHE/$b" ] || ok=0; done
if [ "$ok" = 1 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo ">> control-plane binaries cached in $CACHE" >&2
  echo "$CACHE"
  exit 0
fi

mkdir -p "$CACHE"
rm -f "$STAMP"
echo ">> building etcd $ETCD_VERSION, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBE_VERSION and kwok $KWOK_VERSION" >&2
echo ">>   into $CACHE (cold: many minutes on 2 cores; progress every 100 packages)" >&2
start=$(date +%s)
tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# One go build for all six: shared packages compile once. -v names every
# package as it is compiled, which is the progress report; count them.
CGO_ENABLED=0 go build -v -trimpath -ldflags "$LDFLAGS" -o "$tmp/" \
  go.etcd.io/etcd/server/v3 \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok 2>&1 |
  awk '/^[A-Za-z0-9._~\/-]+$/ { n++; if (n % 100 == 0) { printf ">>   %d packages compiled (%s)\n", n, $0; fflush() }; next }
       { print; fflush() }
       END { printf ">>   %d packages compiled\n", n }' >&2
[ -x "$tmp/server" ] && mv "$tmp/server" "$tmp/etcd"
[ -x "$tmp/v3" ] && mv "$tmp/v3" "$tmp/etcd"
for b in "${bins[@]}"; do mv "$tmp/$b" "$CACHE/$b"; done
echo "$want" > "$STAMP"
echo ">> control plane built in $(( $(date +%s) - start )) s" >&2
echo "$CACHE"
