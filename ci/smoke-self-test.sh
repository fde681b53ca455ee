#!/usr/bin/env bash
# Proves the smoke program's detectors work: runs it clean (must pass) and with each
# deliberate defect of OFFHEAP_SMOKE_FAULT (must fail, with the right counter in its JSON).
#
# Usage:
#   ci/smoke-self-test.sh [--aarch64 | BINARY]
#
#   (no argument)  the hosted debug build, .build/debug/offheap-smoke (built if missing)
#   --aarch64      .build-aarch64/bin/offheap-smoke under QEMU (ci/build-aarch64.sh first)
#   BINARY         any offheap-smoke executable for this machine
#
# Exit status: 0 when every case behaved as expected, 1 otherwise, 2 usage error.
set -euo pipefail

SCRIPT_NAME="smoke-self-test"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

runner=()
case "${1:-}" in
"")
    [[ -x .build/debug/offheap-smoke ]] || swift build --product offheap-smoke
    runner=(.build/debug/offheap-smoke)
    ;;
--aarch64) runner=(ci/run-aarch64.sh --timeout 300 offheap-smoke) ;;
-h | --help)
    print_help
    exit 0
    ;;
-*) die "unknown option '$1' (see --help)" 2 ;;
*) runner=("$1") ;;
esac

failures=0
# expect FAULT EXIT JSON-FRAGMENT...: runs with OFFHEAP_SMOKE_FAULT=FAULT and checks the exit
# status and that the JSON line contains every fragment.
expect() {
    local fault="$1" want_status="$2"
    shift 2
    local output status=0
    output="$(OFFHEAP_SMOKE_FAULT="$fault" "${runner[@]}" 2>/dev/null)" || status=$?
    local json
    json="$(grep -E '^\{"program":"offheap-smoke"' <<<"$output" || true)"
    local problem=""
    [[ $status -eq $want_status ]] || problem="exit status $status, expected $want_status"
    local fragment
    for fragment in "$@"; do
        [[ "$json" == *"$fragment"* ]] || problem="${problem:+$problem; }JSON lacks $fragment"
    done
    if [[ -n "$problem" ]]; then
        log "FAIL fault=${fault:-none}: $problem"
        printf '%s\n' "$output" | tail -n 12 >&2
        failures=$((failures + 1))
    else
        log "ok   fault=${fault:-none}: exit $status${json:+ $json}"
    fi
}

expect "" 0 '"threads":4' '"corruption":0' '"errors":0' '"ok":true'
expect corrupt-slot 1 '"corruption":1' '"ok":false'
expect swallow-double-free 1 '"corruption":0' '"errors":1' '"ok":false'
expect lose-wordpair-update 1 '"errors":1' '"ok":false'
expect no-such-fault 2

if [[ $failures -gt 0 ]]; then
    die "$failures case(s) did not behave as expected"
fi
log "all cases behaved as expected"
