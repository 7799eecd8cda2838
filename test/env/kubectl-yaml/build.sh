#!/usr/bin/env bash
# Builds kubectl-yaml (main.go here: sigs.k8s.io/yaml's YAMLToJSON and k8s.io/apimachinery's splitter of
# a file into documents, pinned by go.mod/go.sum next to this script) with the machine's Go and caches
# it. Prints the binary's path as the last stdout line; progress goes to stderr. The oracle of
# src/sources/file/kubectl-reading.test.ts.
#
#   XDG_CACHE_HOME  cache root (default ~/.cache); the binary lands in
#                   $XDG_CACHE_HOME/keybrake/kubectl-yaml/<hash of this folder>/bin/kubectl-yaml
#
# A warm run is one file check. A cold run downloads four modules from the Go module proxy (about 2 MB,
# most of it k8s.io/apimachinery), ~5 s.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[kubectl-yaml/build] %s\n' "$*" >&2; }

# The cache key is the source itself: an edit to main.go or a version bump builds anew.
KEY=$(cat "$HERE/main.go" "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-16)
KEY_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/keybrake/kubectl-yaml/$KEY"
BIN="$KEY_DIR/bin/kubectl-yaml"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod
export GOSUMDB="${GOSUMDB:-off}"

# shellcheck source=../use-go.sh
source "$HERE/../use-go.sh"
use_go 1.26

mkdir -p "$KEY_DIR"
# Two concurrent first runs build once.
exec 9>"$KEY_DIR/.lock"
flock 9
if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

# Build into a scratch dir and rename at the end so a half-written binary never looks complete.
STAGE="$(mktemp -d "$KEY_DIR/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
log "building kubectl-yaml with $(go env GOVERSION)"
(cd "$HERE" && go build -trimpath -ldflags "-s -w" -o "$STAGE/kubectl-yaml" .)
chmod 755 "$STAGE"
rm -rf "$KEY_DIR/bin"
mv "$STAGE" "$KEY_DIR/bin"
trap - EXIT
log "kubectl-yaml ready at $BIN"
echo "$BIN"
