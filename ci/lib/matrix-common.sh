# shellcheck shell=bash disable=SC2034
# Shared helpers for ci/run-matrix.sh, ci/lib/cell.sh and docker/build-images.sh.
# Sourced, never executed. Callers set -euo pipefail themselves.

# Repository root (this file lives in ci/lib/).
MATRIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MATRIX_ROOT

say() { printf '[matrix %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# die MESSAGE [STATUS]: print and exit (default 2, a usage error).
die() { say "error: $1"; exit "${2:-2}"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Seconds from a duration such as 90, 90s, 10m, 1h.
duration_seconds() {
    local value="$1"
    case "$value" in
        *h) echo $(( ${value%h} * 3600 )) ;;
        *m) echo $(( ${value%m} * 60 )) ;;
        *s) echo "${value%s}" ;;
        *[!0-9]*|'') die "bad duration: $value" ;;
        *) echo "$value" ;;
    esac
}
