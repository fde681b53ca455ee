#!/usr/bin/env bash
# swift-format lint (never rewrites) of the Swift files a change touches, against the
# repository's .swift-format.
#
# The code base predates the configuration and does not pass it whole (`swift format lint -r
# Sources Tests` reports ~500 findings, mostly pretty-printer line breaks and indentation),
# and a mass reformat would collide with every branch in flight. So by default only the
# findings on lines a change adds or modifies count: new code follows the format, old code
# converges as it is edited.
#
# Usage:
#   ci/check-format.sh [--base REF] [--all-lines] [--all-files]
#     --base REF    compare with REF (default: the merge base of HEAD and main; without a
#                   main branch, HEAD~1); uncommitted changes are included
#     --all-lines   report every finding in the changed files, not only on changed lines
#     --all-files   lint every Swift file under Sources/ and Tests/ (implies --all-lines)
#
# Exit status: 0 clean, 1 findings (printed as swift-format prints them), 2 usage error,
# 3 swift format missing.
set -euo pipefail

SCRIPT_NAME="check-format"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

base=""
all_lines=0
all_files=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --base)
        [[ $# -ge 2 && -n "$2" ]] || die "--base needs a git ref" 2
        base="$2"
        shift 2
        ;;
    --all-lines) all_lines=1; shift ;;
    --all-files) all_files=1; all_lines=1; shift ;;
    -h | --help)
        print_help
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
done
if ! has_command swift || ! swift format --version >/dev/null 2>&1; then
    die "swift format not found (it ships with Swift 6 toolchains)" 3
fi

cd "$REPO_ROOT"
[[ -f .swift-format ]] || die "no .swift-format at the repository root"

files=()
if [[ $all_files -eq 1 ]]; then
    while IFS= read -r file; do files+=("$file"); done < <(find Sources Tests -name '*.swift' | LC_ALL=C sort)
else
    if [[ -z "$base" ]]; then
        base="$(git merge-base HEAD main 2>/dev/null || true)"
        # On main itself (or without one): the last commit's change (a merge's whole branch).
        if [[ -z "$base" || "$base" == "$(git rev-parse HEAD)" ]]; then base="$(git rev-parse HEAD~1)"; fi
    fi
    git rev-parse --verify --quiet "$base^{commit}" >/dev/null || die "unknown git ref '$base'" 2
    while IFS= read -r file; do
        [[ -f "$file" ]] && files+=("$file")
    done < <(git diff -M --name-only --diff-filter=ACMR "$base" -- 'Sources/*.swift' 'Tests/*.swift' | LC_ALL=C sort -u)
fi
if [[ ${#files[@]} -eq 0 ]]; then
    log "no changed Swift files${base:+ since $base}"
    exit 0
fi

findings="$(mktemp)"
ranges="$(mktemp)"
trap 'rm -f "$findings" "$ranges"' EXIT
swift format lint --configuration .swift-format "${files[@]}" >"$findings" 2>&1 || true
# Anything that is not a finding (a parse error, a crash) is reported as is and fails.
if grep -v -E '^[^:]+:[0-9]+:[0-9]+: (warning|error): ' "$findings" | grep -q .; then
    grep -v -E '^[^:]+:[0-9]+:[0-9]+: (warning|error): ' "$findings" >&2
    die "swift format lint failed"
fi

if [[ $all_lines -eq 0 ]]; then
    # "file start end" for every added or modified hunk of the diff (new-side line numbers).
    git diff -M -U0 "$base" -- 'Sources/*.swift' 'Tests/*.swift' | awk '
        /^\+\+\+ b\// { file = substr($0, 7) }
        /^@@ / {
            split($3, part, ",")
            start = substr(part[1], 2) + 0
            count = (part[2] == "") ? 1 : part[2] + 0
            if (count > 0) print file, start, start + count - 1
        }' >"$ranges"
    awk 'NR == FNR { n[$1]++; lo[$1, n[$1]] = $2; hi[$1, n[$1]] = $3; next }
         {
             split($0, f, ":"); line = f[2] + 0
             for (i = 1; i <= n[f[1]]; i++)
                 if (line >= lo[f[1], i] && line <= hi[f[1], i]) { print; break }
         }' "$ranges" "$findings" >"$findings.kept"
    mv "$findings.kept" "$findings"
fi

count="$(grep -c . "$findings" || true)"
if [[ "$count" -gt 0 ]]; then
    cat "$findings"
    log "$count finding(s) in ${#files[@]} file(s)$([[ $all_lines -eq 1 ]] || echo ' on changed lines')"
    exit 1
fi
log "ok: ${#files[@]} file(s) clean$([[ $all_lines -eq 1 ]] || echo ' on changed lines')"
