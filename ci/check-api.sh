#!/usr/bin/env bash
# Public-API listing check: the library product's public symbols must match the committed
# listing (api/<Module>.public.txt), so a change to the public surface is a visible diff.
#
# Extracts the symbol graph of each checked module from an existing debug build
# (`swift symbolgraph-extract`, minimum access level public: `package` and internal
# declarations never appear), formats it one symbol per line (ci/lib/api_listing.py) and
# diffs it against the committed file. Builds the module first unless --no-build.
#
# Usage:
#   ci/check-api.sh [--update] [--no-build] [--scratch-path DIR]
#     --update      rewrite api/*.public.txt instead of comparing (then review the diff)
#     --no-build    use the modules already in the scratch path
#
# Exit status: 0 listing matches (or was updated), 1 listing differs or build failed,
# 2 usage error, 3 swift/python3 missing.
set -euo pipefail

SCRIPT_NAME="check-api"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

modules=(OffHeap) # the library products' modules
update=0
build=1
scratch=".build"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --update) update=1; shift ;;
    --no-build) build=0; shift ;;
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
has_command swift || die "swift not found on PATH" 3
has_command python3 || die "python3 not found on PATH" 3

cd "$REPO_ROOT"
start="$(now_ns)"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
if [[ $build -eq 1 ]]; then
    for module in "${modules[@]}"; do
        swift build --target "$module" --scratch-path "$scratch" >"$workdir/build.log" 2>&1 ||
            { tail -n 40 "$workdir/build.log" >&2; die "swift build --target $module failed" 1; }
    done
fi
triple="$(swift -print-target-info | sed -n 's/^ *"triple": "\(.*\)",$/\1/p' | head -n 1)"
[[ -n "$triple" ]] || die "cannot read the target triple from swift -print-target-info" 1
modules_dir="$scratch/debug/Modules"
[[ -d "$modules_dir" ]] || die "no $modules_dir: build first (without --no-build)" 1

status=0
for module in "${modules[@]}"; do
    out="$workdir/$module"
    mkdir -p "$out"
    swift symbolgraph-extract -module-name "$module" -target "$triple" \
        -I "$modules_dir" -I Sources/COffHeapShims/include \
        -minimum-access-level public -skip-synthesized-members -output-dir "$out" \
        >"$workdir/extract.log" 2>&1 ||
        { cat "$workdir/extract.log" >&2; die "symbolgraph-extract $module failed" 1; }
    python3 ci/lib/api_listing.py "$out" "$module" >"$out/listing.txt"
    listing="api/$module.public.txt"
    if [[ $update -eq 1 ]]; then
        mkdir -p api
        cp "$out/listing.txt" "$listing"
        log "wrote $listing ($(wc -l <"$listing") symbols)"
    elif ! diff -u "$listing" "$out/listing.txt" >"$workdir/diff.txt"; then
        cat "$workdir/diff.txt"
        log "error: the public API of $module differs from $listing (+ new, - gone);" \
            "if intended, run ci/check-api.sh --update and commit the listing"
        status=1
    else
        log "ok: $module public API matches $listing ($(wc -l <"$listing") symbols)"
    fi
done
log "done in $(elapsed_ms "$start") ms"
exit "$status"
