#!/usr/bin/env bash
# Runs an aarch64 program built by ci/build-aarch64.sh under qemu-aarch64-static (natively
# on an aarch64 host).
#
# Usage:
#   ci/run-aarch64.sh [--timeout SECONDS] PROGRAM [ARGS...]
#
# PROGRAM is a path, or a name looked up in .build-aarch64/bin (override the build root with
# AARCH64_OUT=DIR). The program's exit status is passed through; 124 means it was killed
# after --timeout seconds (default 600), 3 that QEMU is missing, 2 a usage error.
# QEMU=PATH overrides the emulator.
#
# No `-L /usr/aarch64-linux-gnu` is passed to QEMU on purpose: the binaries are static PIEs,
# and mixing that glibc with the static one makes pthread_create hang.
set -euo pipefail

SCRIPT_NAME="run-aarch64"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QEMU="${QEMU:-qemu-aarch64-static}"
run_timeout=600

while [[ $# -gt 0 ]]; do
    case "$1" in
    --timeout)
        [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--timeout needs a whole number of seconds" 2
        run_timeout="$2"
        shift 2
        ;;
    -h | --help)
        print_help
        exit 0
        ;;
    *) break ;;
    esac
done
[[ $# -ge 1 ]] || die "usage: ci/run-aarch64.sh [--timeout SECONDS] PROGRAM [ARGS...]" 2

program="$1"
shift
if [[ "$program" != */* ]]; then
    program="${AARCH64_OUT:-$REPO_ROOT/.build-aarch64}/bin/$program"
fi
[[ -x "$program" ]] || die "no executable at $program (build it with ci/build-aarch64.sh)" 2
# On an aarch64 host (or in an arm64 container) the program runs natively.
launcher=()
if [[ "$(uname -m)" != aarch64 ]]; then
    has_command "$QEMU" ||
        die "$QEMU not found; install with: apt-get install -y qemu-user-static binfmt-support" 3
    launcher=("$QEMU")
fi

log "running $program${launcher[*]:+ under ${launcher[*]}}${*:+ with: $*}"
start="$(now_ns)"
status=0
timeout --kill-after=10 "$run_timeout" "${launcher[@]}" "$program" "$@" || status=$?
elapsed="$(elapsed_ms "$start")"
if [[ $status -eq 124 ]]; then
    log "error: $program timed out after ${run_timeout} s"
elif [[ $status -ne 0 ]]; then
    log "error: $program exited with status $status after $elapsed ms"
else
    log "ok: $program finished in $elapsed ms"
fi
exit "$status"
