#!/usr/bin/env bash
# Builds stripe-mock (github.com/stripe/stripe-mock, pinned by go.mod/go.sum next to this script) with the
# machine's Go and caches it. Prints the binary's path as the last stdout line; progress goes to stderr.
#
#   KEYBRAKE_STRIPE_MOCK  use this prebuilt binary, build nothing
#   XDG_CACHE_HOME        cache root (default ~/.cache); the binary lands in
#                         $XDG_CACHE_HOME/keybrake/stripe-mock/<version>/bin/stripe-mock
#
# A warm run is one file check. A cold run downloads the module (Go module proxy) and builds in ~20 s.
set -euo pipefail

VERSION=v0.203.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[stripe-mock/build] %s\n' "$*" >&2; }

if [[ -n "${KEYBRAKE_STRIPE_MOCK:-}" ]]; then
  if [[ ! -x "$KEYBRAKE_STRIPE_MOCK" ]]; then
    log "KEYBRAKE_STRIPE_MOCK=$KEYBRAKE_STRIPE_MOCK is not an executable file"
    exit 1
  fi
  echo "$KEYBRAKE_STRIPE_MOCK"
  exit 0
fi

KEY_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/keybrake/stripe-mock/$VERSION"
BIN="$KEY_DIR/bin/stripe-mock"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

# Reproducible, static Go build from the pinned wrapper module (same flags as the control-plane build).
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod
export GOSUMDB="${GOSUMDB:-off}"

# shellcheck source=../use-go.sh
source "$HERE/../use-go.sh"
use_go 1.24

mkdir -p "$KEY_DIR"
# Two concurrent first runs (CI provisioning and a test run) build once.
exec 9>"$KEY_DIR/.lock"
flock 9
if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

# Build into a scratch dir and rename at the end so a half-written binary never looks complete.
STAGE="$(mktemp -d "$KEY_DIR/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
log "building stripe-mock $VERSION with $(go env GOVERSION)"
(cd "$HERE" && go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$STAGE/stripe-mock" \
  github.com/stripe/stripe-mock)
chmod 755 "$STAGE" # mktemp made it 0700; the cache may be shared with other users (CI runners)
rm -rf "$KEY_DIR/bin"
mv "$STAGE" "$KEY_DIR/bin"
trap - EXIT
log "stripe-mock ready at $BIN"
echo "$BIN"
