#!/usr/bin/env bash
# Op-sequence fuzzing of every allocator against its shadow model (Sources/offheap-fuzz/).
#
#   ci/fuzz.sh [--seconds N] [--fuzzer NAME]... [--out DIR] [--planted]
#
# Builds offheap-fuzz with libFuzzer and ASan (debug, its own scratch path), then for each
# fuzzer replays the committed seed corpus (ci/fuzz/corpus/NAME) plus the run's working corpus
# and fuzzes for N seconds (-max_total_time). A divergence from the shadow model traps; a
# crash input is kept under OUT/artifacts/NAME/. Figures per fuzzer (runs, cov, ft, corpus
# size, findings) go to OUT/fuzz.tsv, logs to OUT/fuzz-NAME.log.
#
# --planted builds with -DOFFHEAP_PLANTED_ARENA_OFF_BY_ONE (an off-by-one in
# Arena.deallocate, see Arena+Allocation.swift) into a separate scratch path, fuzzes only
# `arena`, and succeeds only when the fuzzer finds the defect (a shadow divergence) within N
# seconds: the proof that the fuzzers can find a bug, starting from the seed corpus.
#
# Environment: FUZZ_SCRATCH (default .build-fuzz; --planted adds -planted), FUZZ_NICE (15).
#
# Exit status: 0 no finding (--planted: the defect was found), 1 a finding (--planted: not
# found), 2 usage or build error.
set -euo pipefail
SCRIPT_NAME=fuzz.sh
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

SECONDS_EACH=60
FUZZERS=()
OUT=""
PLANTED=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift 2 ;;
        --fuzzer) FUZZERS+=("$2"); shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --planted) PLANTED=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" 2 ;;
    esac
done
if ! [[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || [ "$SECONDS_EACH" -eq 0 ]; then
    die "--seconds needs a positive integer" 2
fi
ALL=(freelist sharded arena slabpool sizeclass hyaline)
[ "$PLANTED" = 1 ] && FUZZERS=(arena)
[ ${#FUZZERS[@]} -gt 0 ] || FUZZERS=("${ALL[@]}")
for f in "${FUZZERS[@]}"; do
    [[ " ${ALL[*]} " == *" $f "* ]] || die "unknown fuzzer '$f' (fuzzers: ${ALL[*]})" 2
done
[ -n "$OUT" ] || OUT="ci/out/fuzz-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

SCRATCH="${FUZZ_SCRATCH:-.build-fuzz}"
# shellcheck disable=SC2054  # one swiftc option: -sanitize=fuzzer,address
FLAGS=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -DOFFHEAP_LIBFUZZER)
if [ "$PLANTED" = 1 ]; then
    SCRATCH="${FUZZ_SCRATCH:-.build-fuzz}-planted"
    FLAGS+=(-Xswiftc -DOFFHEAP_PLANTED_ARENA_OFF_BY_ONE)
fi
log "building offheap-fuzz (scratch $SCRATCH)"
start=$(now_ns)
run_logged "$OUT/build.log" nice -n "${FUZZ_NICE:-15}" swift build --product offheap-fuzz \
    --scratch-path "$SCRATCH" "${FLAGS[@]}" || die "build failed (log: $OUT/build.log)" 2
BIN="$(swift build --product offheap-fuzz --scratch-path "$SCRATCH" "${FLAGS[@]}" --show-bin-path)/offheap-fuzz"
log "built in $(elapsed_ms "$start") ms: $BIN"

# Per-input leak checks stay on (a leak in the harness or a hosted path is a finding);
# malloc(0) and allocator-may-return-null keep ASan from aborting on legal calls.
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}"
printf 'fuzzer\tseconds\truns\tcov\tft\tcorpus\tfindings\tartifact\texit\n' >"$OUT/fuzz.tsv"
findings=0
for f in "${FUZZERS[@]}"; do
    corpus="$OUT/corpus/$f"; artifacts="$OUT/artifacts/$f"
    mkdir -p "$corpus" "$artifacts"
    log "$f: replaying ci/fuzz/corpus/$f, then fuzzing for ${SECONDS_EACH} s"
    rc=0
    OFFHEAP_FUZZ_TARGET="$f" nice -n "${FUZZ_NICE:-15}" "$BIN" -max_total_time="$SECONDS_EACH" \
        -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" \
        "$corpus" "ci/fuzz/corpus/$f" >"$OUT/fuzz-$f.log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$OUT/fuzz-$f.log" | tail -1)
    status=$(grep -E '^#[0-9]+' "$OUT/fuzz-$f.log" | grep -E 'cov: ' | tail -1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$status"); ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$status")
    artifact=$(find "$artifacts" -type f | head -1)
    found=0
    if [ "$rc" != 0 ] || [ -n "$artifact" ]; then found=1; findings=$((findings + 1)); fi
    size=$(find "$corpus" "ci/fuzz/corpus/$f" -type f | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$f" "$SECONDS_EACH" "${runs:-0}" "${cov:-0}" \
        "${ft:-0}" "$size" "$found" "${artifact#"$OUT/"}" "$rc" >>"$OUT/fuzz.tsv"
    if [ "$found" = 1 ]; then
        log "$f: FINDING (exit $rc) — $(grep -m1 -E 'fuzz divergence|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$OUT/fuzz-$f.log" || echo 'see log')"
        [ -n "$artifact" ] && log "$f: input kept at $artifact (replay: OFFHEAP_FUZZ_TARGET=$f $BIN $artifact)"
    else
        log "$f: ${runs:-0} runs, cov ${cov:-0}, ft ${ft:-0}, corpus $size, no finding"
    fi
done

if [ "$PLANTED" = 1 ]; then
    if [ "$findings" -gt 0 ] && grep -q 'fuzz divergence' "$OUT/fuzz-arena.log"; then
        log "planted defect found: $(grep -m1 'fuzz divergence' "$OUT/fuzz-arena.log")"
        exit 0
    fi
    log "planted defect NOT found in ${SECONDS_EACH} s"
    exit 1
fi
[ "$findings" = 0 ] || { log "$findings fuzzer(s) found something (artifacts under $OUT/artifacts)"; exit 1; }
log "no finding in ${#FUZZERS[@]} fuzzer(s)"
