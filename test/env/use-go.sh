# Sourced by the Go builds of stripe-mock and kubectl-yaml under test/env: one way to find Go.
# control-plane/build.sh does the same inline: its binaries' cache key hashes its own text, so moving
# it here would rebuild kube-apiserver, etcd, kubectl and helm (~15 min) on every machine for nothing.
#
#   use_go 1.26   puts on PATH the Go that .ci/provision-go.sh pins (found, cached, or fetched from the
#                 module proxy; apt-get for a bootstrap Go only when KEYBRAKE_GO_APT=1, i.e. from .ci/),
#                 or, where that script is not there (a copied folder), the machine's own go; exits 1
#                 saying what to install when there is none. The caller defines log().
use_go() {
  local need="$1" here provision bin
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  provision="$here/../../.ci/provision-go.sh"
  if [[ -f "$provision" ]]; then
    local flags=(--no-install)
    [[ "${KEYBRAKE_GO_APT:-}" == 1 ]] && flags=()
    bin="$(bash "$provision" "${flags[@]}" | tail -n 1)" || {
      log "no Go toolchain: run bash .ci/run (or .ci/provision-go.sh as root), or install Go >= $need"
      exit 1
    }
    PATH="$bin:$PATH"
  elif ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null || {
    log "go is not on PATH: install Go >= $need (or run bash .ci/run, which provisions it)"
    exit 1
  }
}
