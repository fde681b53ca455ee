#!/usr/bin/env bash
# Instructions per hot-path pair (allocate + deallocate, or Hyaline enter + leave), counted
# by callgrind: Benchmarks/HotPathPairs runs N pairs on one thread at N = 100 000 and
# 200 000, and (Ir@200k − Ir@100k) / 100k is the pair alone. Deterministic, so a change
# can state that its hot paths did not move: run it on the change and on its base.
#
#   ci/hot-path-counts.sh [--rev REV] [--names "freelist heap …"]
#     --rev REV     count REV's library instead of the working tree (a temporary git
#                   worktree, with this tree's Benchmarks/HotPathPairs and Package.swift
#                   laid over it; the harness uses the public API only)
#     --names LIST  the pairs to count (default: all of HotPathPairs' names)
#
# Output: one "name<TAB>instructions per pair" line a pair (two decimals). Needs valgrind (apt-get install
# valgrind); builds Benchmarks' HotPathPairs product in release (~1 min).
# Exit status: 0 counted, 1 build or run failure, 2 usage error, 3 valgrind missing.
set -euo pipefail

SCRIPT_NAME="hot-path-counts"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

rev=""
names="freelist freelist-unchecked sharded sharded-unchecked heap heap-unchecked hyaline"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --rev)
        [[ $# -ge 2 && -n "$2" ]] || die "--rev needs a git revision" 2
        rev="$2"
        shift 2
        ;;
    --names)
        [[ $# -ge 2 && -n "$2" ]] || die "--names needs a list" 2
        names="$2"
        shift 2
        ;;
    -h | --help)
        print_help
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
done
has_command valgrind || die "valgrind not found (apt-get install valgrind)" 3

tree="$REPO_ROOT"
work="$(mktemp -d "${TMPDIR:-/tmp}/offheap-hot-path.XXXXXX")"
cleanup() {
    if [[ -n "$rev" && -d "$work/tree" ]]; then
        git -C "$REPO_ROOT" worktree remove --force "$work/tree" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
if [[ -n "$rev" ]]; then
    git -C "$REPO_ROOT" rev-parse --verify --quiet "$rev^{commit}" >/dev/null || die "no commit '$rev'" 2
    git -C "$REPO_ROOT" worktree add --detach "$work/tree" "$rev" >/dev/null 2>&1 ||
        die "cannot check out $rev" 1
    tree="$work/tree"
    mkdir -p "$tree/Benchmarks/HotPathPairs"
    cp "$REPO_ROOT/Benchmarks/HotPathPairs/main.swift" "$tree/Benchmarks/HotPathPairs/"
    cp "$REPO_ROOT/Benchmarks/Package.swift" "$tree/Benchmarks/Package.swift"
fi

scratch="$tree/Benchmarks/.build-hot-path"
# SwiftPM does not re-plan a path dependency whose only change is a new source file: drop the
# cached build plan so every run compiles the tree as it is.
rm -f "$scratch/release.yaml"
log "building HotPathPairs (release) in ${rev:-the working tree}"
(cd "$tree/Benchmarks" && swift build -c release --product HotPathPairs --scratch-path "$scratch" >"$work/build.log" 2>&1) ||
    { tail -n 20 "$work/build.log" >&2; die "build failed" 1; }
binary="$(cd "$tree/Benchmarks" && swift build -c release --scratch-path "$scratch" --show-bin-path)/HotPathPairs"

# totals NAME N: callgrind's total instruction count for N pairs.
totals() {
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$binary" "$1" "$2" >/dev/null 2>"$work/valgrind.log" ||
        { tail -n 5 "$work/valgrind.log" >&2; die "$1: HotPathPairs failed under callgrind" 1; }
    awk '/^totals:/ { print $2; exit }' "$work/cg.out"
}

for name in $names; do
    low="$(totals "$name" 100000)"
    high="$(totals "$name" 200000)"
    [[ -n "$low" && -n "$high" ]] || die "$name: no callgrind totals" 1
    awk -v name="$name" -v low="$low" -v high="$high" 'BEGIN { printf "%s\t%.2f\n", name, (high - low) / 100000 }'
done
