#!/usr/bin/env bash
# The Go toolchain that builds the test control plane (test/env/control-plane/build.sh): Go is not a
# dependency of Keybrake itself, only of its Kubernetes tests. Prints the toolchain's bin dir last.
#
#   1. a `go` on PATH (or /usr/local/go) that is exactly go$GO_VERSION: used as is;
#   2. else go$GO_VERSION cached in ${XDG_CACHE_HOME:-~/.cache}/keybrake/go/;
#   3. else it is fetched from the Go module proxy as the module golang.org/toolchain (what
#      GOTOOLCHAIN=go$GO_VERSION does), checked against the hashes pinned below, with any Go as the
#      bootstrap: one on PATH, or Debian's golang-go (apt-get install golang-go, 1.19 on bookworm,
#      which predates GOTOOLCHAIN, hence `go mod download` instead).
#
#   --no-install   never apt-get (build.sh, run from tests): say what to install instead.
#
# Needs: bash, coreutils, sed; root and apt-get only when no Go at all is installed.
set -euo pipefail

# Pinned: the version the control-plane binaries were built and checked with. helm v3.22 needs >= 1.26.
GO_VERSION=1.26.8
# go.sum lines of golang.org/toolchain v0.0.1-go$GO_VERSION.<os>-<arch>, from sum.golang.org.
declare -A ZIP_SUMS=(
  [linux-amd64]='h1:ZOmGe1OnfREDMIdb1Qi4G9JSuDPBLGExZMQ4nis1RXM='
  [linux-arm64]='h1:sYL/O6MqS68ML0kjsQ36WoYIpJqkw60TxizWUYUKQMc='
)
MOD_SUM='h1:8wlg68NqwW7eMnI1aABk/C2pDYXj8mrMY4TyRfiLeS0='

install=1
[[ "${1:-}" == "--no-install" ]] && install=0

log() { printf '[provision-go] %s\n' "$*" >&2; }

# `go env GOVERSION` of a go binary (GOTOOLCHAIN=local: report itself, never switch).
version_of() { GOTOOLCHAIN=local GOFLAGS= "$1" env GOVERSION 2>/dev/null || true; }

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/keybrake/go"
CACHED="$CACHE/go$GO_VERSION"

for go in "$(command -v go || true)" /usr/local/go/bin/go "$CACHED/bin/go"; do
  [[ -n "$go" && -x "$go" ]] || continue
  if [[ "$(version_of "$go")" == "go$GO_VERSION" ]]; then
    dirname "$go"
    exit 0
  fi
done

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-amd64 ;;
  Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
  *)
    log "no pinned toolchain hash for $(uname -s)-$(uname -m): install go$GO_VERSION from https://go.dev/dl and put it on PATH"
    exit 1
    ;;
esac

# Any Go can bootstrap: it only downloads and verifies a module.
bootstrap=""
for go in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go/bin/go /usr/lib/go-*/bin/go; do
  if [[ -n "$go" && -x "$go" && -n "$(version_of "$go")" ]]; then
    bootstrap="$go"
    break
  fi
done
if [[ -z "$bootstrap" ]]; then
  if [[ $install -eq 1 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "no Go found: installing Debian's golang-go to bootstrap go$GO_VERSION"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq golang-go >/dev/null
    bootstrap="$(command -v go)"
  else
    log "no Go found. Install any Go (Debian/Ubuntu: sudo apt-get install -y golang-go; or go$GO_VERSION"
    log "from https://go.dev/dl), then run .ci/provision-go.sh again: it fetches go$GO_VERSION itself."
    exit 1
  fi
fi

log "fetching go$GO_VERSION ($platform) from the Go module proxy with $(version_of "$bootstrap") ($bootstrap)"
mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/fetch.XXXXXX")"
cleanup() {
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
module="golang.org/toolchain"
version="v0.0.1-go$GO_VERSION.$platform"
mkdir -p "$work/m"
printf 'module keybrake.local/gotoolchain\n\ngo 1.19\n' >"$work/m/go.mod"
# The pinned hashes: a mismatch is a SECURITY ERROR, whatever the proxy or GOSUMDB say.
printf '%s %s %s\n%s %s/go.mod %s\n' "$module" "$version" "${ZIP_SUMS[$platform]}" \
  "$module" "$version" "$MOD_SUM" >"$work/m/go.sum"
json=$(
  cd "$work/m" &&
    GOTOOLCHAIN=local GOFLAGS=-mod=mod GOWORK=off GOMODCACHE="$work/mod" GOPATH="$work/gopath" \
      GOPROXY="${GOPROXY:-https://proxy.golang.org}" GOSUMDB="${GOSUMDB:-sum.golang.org}" \
      "$bootstrap" mod download -json "$module@$version"
) || {
  log "download of $module@$version failed (above); GOPROXY must reach the Go module proxy"
  exit 1
}
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$json")
[[ -n "$dir" && -d "$dir/bin" ]] || {
  log "download of $module@$version gave no toolchain: $json"
  exit 1
}
# The module cache keeps files read-only and drops the executable bits: what `go` itself restores
# when it switches toolchains (bin/ and pkg/tool/).
rm -rf "$CACHED.partial"
cp -R "$dir" "$CACHED.partial"
chmod -R u+w "$CACHED.partial"
chmod +x "$CACHED.partial"/bin/* "$CACHED.partial"/pkg/tool/*/*
got="$(version_of "$CACHED.partial/bin/go")"
if [[ "$got" != "go$GO_VERSION" ]]; then
  log "the fetched toolchain reports '$got', not go$GO_VERSION"
  exit 1
fi
rm -rf "$CACHED"
mv "$CACHED.partial" "$CACHED"
log "go$GO_VERSION ready in $CACHED"
echo "$CACHED/bin"
