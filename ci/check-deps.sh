#!/usr/bin/env bash
# Every script's dependency check, for every cell of every profile on this host, both
# container engines included: what a machine needs to run the whole matrix.
#
#   ci/check-deps.sh            check: exit 0 when every probe is satisfied, 1 otherwise
#   ci/check-deps.sh --list     print the union of the probes the scripts declare
#   ci/check-deps.sh --agree    check that ci/deps.tsv and the scripts agree: every declared
#                               probe has a row, and every row is declared by some script
#   ci/check-deps.sh --owners   on a Debian machine where everything is installed: for each
#                               row, dpkg names the row's package as the owner of the probe
#
# The scripts declare their needs themselves (ci/lib/cell.sh --needs, ci/build-aarch64.sh
# --list-deps, engine_needs in ci/lib/engine.sh); ci/deps.tsv only maps probes to packages.
set -euo pipefail
# shellcheck source=ci/lib/matrix-common.sh
source "$(dirname "$0")/lib/matrix-common.sh"
# shellcheck source=ci/lib/engine.sh
source "$MATRIX_ROOT/ci/lib/engine.sh"
# shellcheck source=ci/lib/deps.sh
source "$MATRIX_ROOT/ci/lib/deps.sh"
cd "$MATRIX_ROOT"

mode="${1:-check}"
declared() {
    local arch cell
    echo cmd:python3; echo py:statistics; echo cmd:git   # run-matrix.sh, report.py, gate.py
    # Every cell for every arch on this host (run-matrix.sh --list knows them).
    while IFS=/ read -r arch cell; do
        bash ci/lib/cell.sh --needs "$arch" "$cell"
    done < <(bash ci/run-matrix.sh --list --no-install)
    bash ci/build-aarch64.sh --list-deps
    engine_needs docker x86_64 aarch64
    engine_needs podman x86_64 aarch64
}

case "$mode" in
    --list) declared | awk '!seen[$0]++' ;;
    check|--check)
        mapfile -t probes < <(declared | awk '!seen[$0]++')
        if deps_check "${probes[@]}"; then
            say "all ${#probes[@]} probes satisfied"
        else
            exit 1
        fi ;;
    --agree)
        mapfile -t probes < <(declared | awk '!seen[$0]++')
        rc=0
        declare -A is_declared=()
        for probe in "${probes[@]}"; do
            is_declared[$probe]=1
            [ -n "$(deps_package_of "$probe")" ] || { echo "declared but not in ci/deps.tsv: $probe"; rc=1; }
        done
        # (A lookup, not `printf | grep -q`: under pipefail grep's early exit can kill printf
        # with SIGPIPE and make a declared probe look undeclared, as lint once did.)
        while read -r _ probe package; do
            [ -n "${is_declared[$probe]:-}" ] \
                || { echo "in ci/deps.tsv but declared by no script: $probe ($package)"; rc=1; }
        done < <(deps_rows)
        [ "$rc" = 0 ] && say "ci/deps.tsv and the scripts agree (${#probes[@]} probes)"
        exit "$rc" ;;
    --owners)
        rc=0
        while read -r _ probe package; do
            case "$package" in -|pip:*) continue ;; esac
            path="$(deps_probe_path "$probe")" || { echo "unsatisfied: $probe ($package)"; rc=1; continue; }
            # dpkg knows a merged-/usr path under the name its package shipped it with.
            owners="$(dpkg -S "$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null || true)"
            # shellcheck disable=SC2001  # one owner list per line: sed, not ${//}
            owners="$(sed 's/: .*//' <<<"$owners" | tr ',' '\n' | sed 's/^ *//')"
            if ! grep -qxF -- "$package" <<<"$owners" \
                && ! grep -qxF -- "$package:$(deps_host_arch)" <<<"$owners"; then
                echo "$probe: $path belongs to '$(paste -sd' ' - <<<"$owners")', not $package"; rc=1
            fi
        done < <(deps_rows)
        [ "$rc" = 0 ] && say "dpkg confirms the package of every row"
        exit "$rc" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
    *) die "unknown mode $mode (see --help)" ;;
esac
