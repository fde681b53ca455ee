# shellcheck shell=bash
# Shared helpers for the ci/ scripts. Source it; it defines functions only (plus REPO_ROOT).
#
#   source "$(dirname "$0")/lib/common.sh"
#   need_command swift "install Swift 6.3 (https://swift.org/install)"
#   run_logged "$LOG" swiftc ...

# The repository root: the parent of ci/.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# Prefix for every message; scripts set SCRIPT_NAME before sourcing or inherit $0's name.
: "${SCRIPT_NAME:=$(basename "$0")}"

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }

# die MESSAGE [EXIT_CODE]: print an error and exit (default 1).
die() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$1" >&2
    exit "${2:-1}"
}

# print_help: the calling script's header comment (line 2 up to `set -euo`), for --help.
print_help() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# has_command NAME: whether NAME is on PATH.
has_command() { command -v "$1" >/dev/null 2>&1; }

# now_ns: monotonic-ish wall clock in nanoseconds (date +%s%N).
now_ns() { date +%s%N; }

# elapsed_ms START_NS: milliseconds since START_NS.
elapsed_ms() { echo $((($(now_ns) - $1) / 1000000)); }

# swift_toolchain_root: the toolchain prefix that holds usr/bin/swift and usr/lib/swift.
swift_toolchain_root() {
    local swift_path
    swift_path="$(readlink -f "$(command -v swift)")" || return 1
    (cd "$(dirname "$swift_path")/../.." && pwd)
}

# run_logged LOGFILE COMMAND...: runs COMMAND with its output in LOGFILE; on failure prints
# the command and the log's tail, and returns the command's status.
run_logged() {
    local logfile="$1"
    shift
    if "$@" >"$logfile" 2>&1; then
        return 0
    else
        local status=$?
        log "command failed (exit $status): $*"
        log "last lines of $logfile:"
        tail -n 40 "$logfile" >&2
        return "$status"
    fi
}
