#!/usr/bin/env bash
# Proves that each aarch64 checker cell can go red: builds a planted defect for it and
# asserts the checker reports it and exits non-zero, exactly as the cell would fail.
#
#   race  two threads write one FreeList slot unsynchronised   -> ThreadSanitizer (exit 66)
#   leak  a malloc whose last pointer is dropped                -> memcheck definite leak (99)
#   oob   a write one byte past a 16-byte malloc block          -> AddressSanitizer overflow
#
# The planted programs live in ci/aarch64/planted/ and are built only here
# (ci/build-aarch64.sh --variant V --planted KIND), never by a normal build.
#
# Usage:
#   ci/selftest-aarch64-checkers.sh [--out DIR] [--only race|leak|oob]...
#
#   --out DIR   where the checkers' logs and checkers.tsv go (default .build-aarch64/selftest)
#   --only K    run only planted defect K (repeatable)
#
# Output: DIR/checkers.tsv, one row per defect: kind, checker, exit status, caught (yes/no),
# the checker's one-line summary. Exit status: 0 when every planted defect was caught, 1
# otherwise, 2 usage error, 3 missing dependency.
set -euo pipefail

SCRIPT_NAME="selftest-aarch64-checkers"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=ci/lib/a64-checkers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/a64-checkers.sh"

out=""
kinds=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --out)
        [[ $# -ge 2 && -n "$2" ]] || die "--out needs a directory" 2
        out="$2"
        shift 2
        ;;
    --only)
        [[ $# -ge 2 && "$2" =~ ^(race|leak|oob)$ ]] || die "--only needs race, leak or oob" 2
        kinds+=("$2")
        shift 2
        ;;
    -h | --help)
        print_help
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
done
[[ ${#kinds[@]} -gt 0 ]] || kinds=(race leak oob)
build_root="$REPO_ROOT/.build-aarch64"
[[ -n "$out" ]] || out="$build_root/selftest"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$REPO_ROOT"
table="$out/checkers.tsv"
printf 'kind\tchecker\texit\tcaught\tsummary\n' >"$table"

caught_all=1
# record KIND CHECKER EXIT CAUGHT SUMMARY
record() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$table"
    if [[ "$4" == yes ]]; then
        log "caught: $1 by $2 (exit $3): $5"
    else
        log "NOT CAUGHT: $1 by $2 (exit $3): ${5:-no report}"
        caught_all=0
    fi
}

for kind in "${kinds[@]}"; do
    case "$kind" in
    race) variant=tsan ;;
    leak) variant=dynamic ;;
    oob) variant=asan ;;
    esac
    log "building planted-$kind ($variant)"
    ci/build-aarch64.sh --variant "$variant" --planted "$kind" >"$out/build-$kind.log" 2>&1 ||
        {
            rc=$?
            tail -n 5 "$out/build-$kind.log" >&2
            [[ $rc -ne 3 ]] || exit 3
            die "building planted-$kind failed (log: $out/build-$kind.log)"
        }
    program="$build_root/$variant/bin/planted-$kind"
    [[ "$variant" != plain ]] || program="$build_root/bin/planted-$kind"
    log_file="$out/$kind.log"
    rc=0
    case "$kind" in
    race)
        a64_tsan_run "$program" >"$log_file" 2>&1 || rc=$?
        summary="$(grep -a -m1 'SUMMARY: ThreadSanitizer' "$log_file" || true)"
        if [[ $rc -eq $A64_TSAN_EXIT ]] && grep -q 'WARNING: ThreadSanitizer: data race' "$log_file"; then
            record race tsan "$rc" yes "$summary"
        else
            record race tsan "$rc" no "$summary"
        fi
        ;;
    leak)
        root="$(a64_valgrind_root "$build_root")" || die "cannot provide valgrind:arm64" 3
        a64_memcheck "$root" "$log_file" "$program" >"$out/leak.stdout" 2>&1 || rc=$?
        summary="$(grep -a -m1 'definitely lost:' "$log_file" | sed 's/^==[0-9]*== *//' || true)"
        if [[ $rc -eq $A64_MEMCHECK_EXIT ]] && grep -q -E 'definitely lost: [1-9]' "$log_file"; then
            record leak memcheck "$rc" yes "$summary"
        else
            record leak memcheck "$rc" no "$summary"
        fi
        ;;
    oob)
        a64_asan_run "$program" >"$log_file" 2>&1 || rc=$?
        summary="$(grep -a -m1 'SUMMARY: AddressSanitizer' "$log_file" || true)"
        if [[ $rc -ne 0 ]] && grep -q 'ERROR: AddressSanitizer: heap-buffer-overflow' "$log_file"; then
            record oob asan "$rc" yes "$summary"
        else
            record oob asan "$rc" no "$summary"
        fi
        ;;
    esac
done

cat "$table" >&2
[[ $caught_all -eq 1 ]] || die "a planted defect went unnoticed: its checker cannot fail (see $table)" 1
log "every planted defect was caught (${kinds[*]})"
