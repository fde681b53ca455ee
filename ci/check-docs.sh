#!/usr/bin/env bash
# Documentation check: builds the OffHeap DocC catalog (Sources/OffHeap/OffHeap.docc) with the
# toolchain's own `docc` and fails on any DocC warning (a broken ``link``, an undocumented
# parameter, a topic naming a symbol that is gone) or on any public symbol without a summary.
#
# The symbol graph comes from an existing debug build (`swift symbolgraph-extract`, minimum
# access level public, as ci/check-api.sh does): no plugin and no rebuild with other flags,
# so a warm .build makes this a few seconds. Builds the module first unless --no-build.
#
# Usage:
#   ci/check-docs.sh [--no-build] [--scratch-path DIR] [--output DIR]
#     --no-build      use the modules already in the scratch path (default .build)
#     --output DIR    keep the rendered archive (OffHeap.doccarchive) and the coverage
#                     listing in DIR (default: a temporary directory, removed)
#
# Exit status: 0 clean, 1 warnings, undocumented symbols or a failed build, 2 usage error,
# 3 swift, docc or python3 missing.
set -euo pipefail

SCRIPT_NAME="check-docs"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

module=OffHeap
catalog="Sources/$module/$module.docc"
build=1
scratch=".build"
output=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --no-build) build=0; shift ;;
    --scratch-path)
        [[ $# -ge 2 && -n "$2" ]] || die "--scratch-path needs a directory" 2
        scratch="$2"
        shift 2
        ;;
    --output)
        [[ $# -ge 2 && -n "$2" ]] || die "--output needs a directory" 2
        output="$2"
        shift 2
        ;;
    -h | --help)
        print_help
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
done
has_command swift || die "swift not found on PATH" 3
has_command python3 || die "python3 not found on PATH" 3
docc="$(command -v docc || true)"
if [[ -z "$docc" ]]; then
    root="$(swift_toolchain_root)" || die "cannot locate the Swift toolchain" 3
    docc="$root/usr/bin/docc"
fi
[[ -x "$docc" ]] || die "docc not found (on PATH or in the toolchain's usr/bin)" 3

cd "$REPO_ROOT"
[[ -d "$catalog" ]] || die "no catalog at $catalog" 1
start="$(now_ns)"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
if [[ $build -eq 1 ]]; then
    swift build --target "$module" --scratch-path "$scratch" >"$workdir/build.log" 2>&1 ||
        { tail -n 40 "$workdir/build.log" >&2; die "swift build --target $module failed" 1; }
fi
triple="$(swift -print-target-info | sed -n 's/^ *"triple": "\(.*\)",$/\1/p' | head -n 1)"
[[ -n "$triple" ]] || die "cannot read the target triple from swift -print-target-info" 1
modules_dir="$scratch/debug/Modules"
[[ -d "$modules_dir" ]] || die "no $modules_dir: build first (without --no-build)" 1

mkdir -p "$workdir/symbols"
swift symbolgraph-extract -module-name "$module" -target "$triple" \
    -I "$modules_dir" -I Sources/COffHeapShims/include \
    -minimum-access-level public -skip-synthesized-members -output-dir "$workdir/symbols" \
    >"$workdir/extract.log" 2>&1 ||
    { cat "$workdir/extract.log" >&2; die "symbolgraph-extract $module failed" 1; }

archive="${output:-$workdir}/$module.doccarchive"
mkdir -p "$(dirname "$archive")"
status=0
# Any warning fails the check (counted below). Not `--warnings-as-errors`: with it docc
# stops before writing the coverage listing, and the undocumented symbols go unreported.
"$docc" convert "$catalog" --additional-symbol-graph-dir "$workdir/symbols" \
    --output-dir "$archive" --fallback-display-name "$module" \
    --fallback-bundle-identifier "swift-offheap.$module" \
    --experimental-documentation-coverage --coverage-summary-level brief \
    >"$workdir/docc.log" 2>&1 || status=1
diagnostics="$(grep -c -E '^(warning|error):' "$workdir/docc.log" || true)"
if [[ $status -ne 0 || $diagnostics -ne 0 ]]; then
    grep -E -A 6 '^(warning|error):' "$workdir/docc.log" >&2 || tail -n 40 "$workdir/docc.log" >&2
    log "error: docc convert reported $diagnostics warning(s)/error(s)"
    status=1
fi

# Every public symbol needs a summary (DocC's coverage: hasAbstract). Members whose docs
# DocC inherits from a protocol requirement count as documented there.
coverage="$archive/documentation-coverage.json"
if [[ -f "$coverage" ]]; then
    python3 - "$coverage" >"$workdir/undocumented.txt" <<'EOF'
import json, sys
entries = json.load(open(sys.argv[1]))
for entry in entries:
    if entry.get("kind", {}).get("isSymbol") and not entry.get("hasAbstract"):
        print(entry["referencePath"].split("/documentation/", 1)[-1])
EOF
    undocumented="$(wc -l <"$workdir/undocumented.txt")"
    documented="$(python3 -c 'import json,sys; print(sum(1 for e in json.load(open(sys.argv[1])) if e.get("kind",{}).get("isSymbol")))' "$coverage")"
    [[ -z "$output" ]] || cp "$workdir/undocumented.txt" "$output/undocumented.txt"
    if [[ $undocumented -ne 0 ]]; then
        sort "$workdir/undocumented.txt" >&2
        log "error: $undocumented of $documented public symbols have no documentation"
        status=1
    else
        log "every public symbol is documented ($documented symbols)"
    fi
else
    log "error: docc wrote no coverage listing ($coverage)"
    status=1
fi
[[ $status -eq 0 ]] && log "ok: $catalog builds without warnings"
log "done in $(elapsed_ms "$start") ms"
exit "$status"
