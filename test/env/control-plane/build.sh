#!/usr/bin/env bash
# Builds the test control-plane binaries (etcd, kube-apiserver, kubectl, helm) from the pinned wrapper
# modules under go/ and caches them. Prints the bin dir as the last stdout line; progress goes to stderr.
#
#   build.sh        all four binaries (the k8s vitest project)
#   build.sh helm   helm alone, a few minutes cold instead of ten (the chart vitest project)
#
#   KEYBRAKE_K8S_BIN_DIR  use prebuilt binaries from this dir, build nothing
#   XDG_CACHE_HOME        cache root (default ~/.cache); binaries land in
#                         $XDG_CACHE_HOME/keybrake/control-plane/<hash>/bin (helm: helm-<hash>/bin)
#
# The cache keys hash the wrapper go.mod/go.sum files, this script and the pinned Go version
# (.ci/provision-go.sh), so any version bump or change to build flags produces a fresh dir and a warm
# run is a few file checks. Go itself comes from .ci/provision-go.sh, only on a cache miss.
set -euo pipefail

TARGET="${1:-all}"
case "$TARGET" in
  all) BINARIES=(etcd kube-apiserver kubectl helm) ;;
  helm) BINARIES=(helm) ;;
  *)
    echo "usage: build.sh [all|helm]" >&2
    exit 2
    ;;
esac
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROVISION_GO="$HERE/../../../.ci/provision-go.sh"

K8S_VERSION=v1.35.4
HELM_VERSION=v3.22.0

log() { printf '[control-plane/build] %s\n' "$*" >&2; }

has_all_binaries() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do
    [[ -x "$dir/$b" ]] || return 1
  done
}

cache_key() {
  # Fixed file order so the key does not depend on the locale or glob ordering.
  (
    cd "$HERE"
    cat "$@" build.sh "$PROVISION_GO"
  ) | sha256sum | cut -c1-16
}

if [[ -n "${KEYBRAKE_K8S_BIN_DIR:-}" ]]; then
  if ! has_all_binaries "$KEYBRAKE_K8S_BIN_DIR"; then
    log "KEYBRAKE_K8S_BIN_DIR=$KEYBRAKE_K8S_BIN_DIR must contain executables: ${BINARIES[*]}"
    exit 1
  fi
  echo "$KEYBRAKE_K8S_BIN_DIR"
  exit 0
fi

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/keybrake/control-plane"
HELM_KEY_DIR="$CACHE_ROOT/helm-$(cache_key go/helm/go.mod go/helm/go.sum)"
if [[ "$TARGET" == helm ]]; then
  KEY_DIR="$HELM_KEY_DIR"
else
  KEY_DIR="$CACHE_ROOT/$(cache_key go/etcd/go.mod go/etcd/go.sum go/helm/go.mod go/helm/go.sum go/k8s/go.mod go/k8s/go.sum)"
fi
BIN_DIR="$KEY_DIR/bin"

if has_all_binaries "$BIN_DIR"; then
  echo "$BIN_DIR"
  exit 0
fi

# Reproducible, static, offline-friendly Go builds. The committed go.sum files pin every module hash, so
# the checksum database is not needed (and is unreachable on machines that only see the module proxy);
# set GOSUMDB explicitly to use it anyway.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod
export GOSUMDB="${GOSUMDB:-off}"
# GOMODCACHE/GOCACHE keep Go's defaults (~/go/pkg/mod, ~/.cache/go-build) unless set by the caller, so
# CI can cache them next to the bin dir.

# The pinned Go (helm $HELM_VERSION needs >= 1.26): found, or fetched from the module proxy. Only the
# CI scripts (KEYBRAKE_GO_APT=1) let it apt-get a bootstrap Go; tests calling this script never do.
go_flags=(--no-install)
[[ "${KEYBRAKE_GO_APT:-}" == 1 ]] && go_flags=()
GO_BIN="$(bash "$PROVISION_GO" "${go_flags[@]}" | tail -n 1)" || {
  log "no Go toolchain: run bash .ci/run (or .ci/provision-go.sh as root), or install Go >= 1.26"
  exit 1
}
PATH="$GO_BIN:$PATH"
log "using $(go version) from $GO_BIN"

mkdir -p "$KEY_DIR"
# Two concurrent first runs (e.g. CI provisioning and a test) must not both spend 15 minutes building.
exec 9>"$KEY_DIR/.lock"
flock 9
if has_all_binaries "$BIN_DIR"; then
  echo "$BIN_DIR"
  exit 0
fi

# Build into a scratch dir and rename at the end so a half-built dir never looks complete.
STAGE="$(mktemp -d "$KEY_DIR/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

build_k8s() {
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w"
  # Without these /version and `kubectl version` report v0.0.0-master.
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  log "building kube-apiserver + kubectl $K8S_VERSION"
  (cd "$HERE/go/k8s" && go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags "$ldflags" \
    -o "$STAGE/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  log "building etcd"
  # -o with a file name: the main package's import path ends in /v3, so go would name it v3.
  (cd "$HERE/go/etcd" && go build -trimpath -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3)
}

build_helm() {
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  # Helm's built-in default cluster version is 1.20; align `helm template`/`helm lint` with our apiserver.
  local pkg
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  log "building helm $HELM_VERSION"
  (cd "$HERE/go/helm" && go build -trimpath -ldflags "$ldflags" -o "$STAGE/helm" helm.sh/helm/v3/cmd/helm)
}

# Sequential on purpose: each build already uses every core, and the k8s link step alone needs ~2 GB.
if [[ "$TARGET" == helm ]]; then
  build_helm
else
  # helm from its own cache when `build.sh helm` ran first (the chart tests start on it early).
  if [[ -x "$HELM_KEY_DIR/bin/helm" ]]; then
    cp "$HELM_KEY_DIR/bin/helm" "$STAGE/helm"
  else
    build_helm
  fi
  build_k8s
  build_etcd
fi

chmod 755 "$STAGE" # mktemp made it 0700; the cache may be shared with other users (CI runners)
rm -rf "$BIN_DIR"
mv "$STAGE" "$BIN_DIR"
trap - EXIT
log "binaries ready in $BIN_DIR"
echo "$BIN_DIR"
