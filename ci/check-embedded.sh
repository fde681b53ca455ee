#!/usr/bin/env bash
# Host-side Embedded Swift cleanliness check of the core modules.
#
# Compiles the given SwiftPM targets (default: OffHeapWorkloads, which pulls in OffHeap and
# both C shims) in release mode with Embedded Swift enabled, on the host. Any construct
# Embedded rejects (`any P` of non-class protocols, untyped throws, key paths, Codable,
# Mutex, String(describing:), ...) fails the build. No cross toolchain is needed; the real
# aarch64 build is ci/build-aarch64.sh.
#
# Usage:
#   ci/check-embedded.sh [--target NAME]... [--scratch-path DIR]
#
# Warnings fail the check too (the project builds without warnings).
#
# Exit status: 0 clean, 1 build failed or warned (the compiler's diagnostics are printed),
# 2 usage error, 3 swift missing.
set -euo pipefail

SCRIPT_NAME="check-embedded"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

targets=()
scratch=".build-embedded"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --target)
        [[ $# -ge 2 && -n "$2" ]] || die "--target needs a name" 2
        targets+=("$2")
        shift 2
        ;;
    --scratch-path)
        [[ $# -ge 2 && -n "$2" ]] || die "--scratch-path needs a directory" 2
        scratch="$2"
        shift 2
        ;;
    -h | --help)
        print_help
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(OffHeapWorkloads)
has_command swift || die "swift not found on PATH" 3

cd "$REPO_ROOT"
logfile="$(mktemp)"
trap 'rm -f "$logfile"' EXIT
status=0
for target in "${targets[@]}"; do
    log "checking $target in Embedded Swift (scratch $scratch)"
    start="$(now_ns)"
    if swift build -c release --target "$target" \
        -Xswiftc -enable-experimental-feature -Xswiftc Embedded \
        --scratch-path "$scratch" >"$logfile" 2>&1; then
        if grep -q 'warning:' "$logfile"; then
            grep 'warning:' "$logfile" | sort -u >&2
            log "$target: Embedded build has warnings"
            status=1
        else
            log "ok: $target is Embedded-clean ($(elapsed_ms "$start") ms)"
        fi
    else
        grep -E 'error:|warning:' "$logfile" | sort -u >&2 || tail -n 40 "$logfile" >&2
        log "error: $target does not build in Embedded Swift"
        status=1
    fi
done
exit "$status"
