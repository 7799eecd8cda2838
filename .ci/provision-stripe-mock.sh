#!/usr/bin/env bash
# CI step: stripe-mock, the Stripe upstream of the e2e suites, built from the module pinned in
# test/env/stripe-mock/go.{mod,sum} (or restored from cache). Prints the binary's path last.
#
# Cache between CI runs: ${XDG_CACHE_HOME:-~/.cache}/keybrake/stripe-mock/<version> (~30 MB; key: the
# version in test/env/stripe-mock/build.sh). A cold build is ~20 s; a warm run is one file check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYBRAKE_GO_APT=1 exec bash "$ROOT/test/env/stripe-mock/build.sh"
