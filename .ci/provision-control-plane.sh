#!/usr/bin/env bash
# CI step: make sure the k8s test control plane can start, i.e. openssl is installed and the etcd,
# kube-apiserver, kubectl and helm binaries are built (or restored from cache). Prints the bin dir
# last. `provision-control-plane.sh helm` stops at helm (the chart tests need nothing else).
#
# A cache miss needs Go: the pinned version is found or fetched by .ci/provision-go.sh, which may
# apt-get Debian's golang-go as a bootstrap when the machine has no Go at all (KEYBRAKE_GO_APT=1).
#
# Cache between CI runs (keys: hash of test/env/control-plane/go/*/go.{mod,sum}, build.sh and the Go
# version pinned in .ci/provision-go.sh):
#   ${XDG_CACHE_HOME:-~/.cache}/keybrake/control-plane   the binaries (~250 MB, enough on its own)
#   ${XDG_CACHE_HOME:-~/.cache}/keybrake/go               the pinned Go, when the machine had another
#   $(go env GOMODCACHE) and $(go env GOCACHE)            only to speed up rebuilds after a version bump
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v openssl >/dev/null; then
  echo "[provision-control-plane] installing openssl" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

KEYBRAKE_GO_APT=1 exec bash "$ROOT/test/env/control-plane/build.sh" "$@"
