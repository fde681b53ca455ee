#!/usr/bin/env bash
# Cross-builds the Embedded-clean modules and the aarch64 programs for aarch64 Linux, and
# optionally runs one of them under qemu-aarch64-static.
#
# There is no aarch64 Swift SDK on the build machine. Instead the Swift code is compiled in
# Embedded Swift for `aarch64-none-none-elf` (the toolchain ships that stdlib), the C shim
# with aarch64-linux-gnu-gcc, and everything is linked against Debian's arm64 glibc as a
# static PIE (-lm -lpthread). See ../shared/TOOLCHAIN-NOTES.md ("aarch64") for the recipe
# and its traps.
#
# Variants (--variant): the checkers of the matrix need other builds of the same programs.
#   plain    static PIE (default), -O: DIR/bin, objects in DIR/obj. The build users run.
#   dynamic  the memcheck build: its own objects (DIR/dynamic/obj), instrumented, linked as a
#            dynamic PIE against arm64 glibc (memcheck sees no allocations in a static PIE):
#            DIR/dynamic/bin.
#   tsan     ThreadSanitizer: swiftc refuses -sanitize= for aarch64-none-none-elf, so the
#            Embedded stdlib modules are copied with their target triple re-labelled to
#            aarch64-unknown-linux-gnu (same length; DIR/linux-stdlib), the Swift code is
#            compiled for that triple with -sanitize=thread, the shim with -fsanitize=thread,
#            and everything linked dynamically with Debian's arm64 libtsan (GCC 12's lacks
#            __tsan_memcpy/memmove/memset: ci/aarch64/tsan-memfuncs.c forwards them).
#            DIR/tsan/bin; run with `setarch x86_64 -R qemu-aarch64-static -L /`.
#   asan     AddressSanitizer, the same way with Debian's arm64 libasan: DIR/asan/bin; run
#            with ASAN_OPTIONS=detect_leaks=0 (LeakSanitizer cannot run under QEMU).
#
# The checker variants (dynamic, tsan, asan) differ from plain in two ways:
#   - Instrumented (dynamic, asan): compiled with -D OFFHEAP_INSTRUMENTED, as x86-64's
#     valgrind and asan builds are, so the allocators report their blocks to memcheck
#     (mempools; <valgrind/memcheck.h>'s client requests, copied into DIR/valgrind-include
#     because the cross compiler does not search /usr/include) and poison free slots for
#     ASan (__asan_poison_memory_region, resolved by Debian's arm64 libasan). They also
#     build offheap-defects, the seeded-defect programs of the aarch64 defects cell.
#   - dynamic and asan at -Onone (AARCH64_CHECKER_OPT overrides): a checker checks the
#     accesses the program makes, and an unoptimised build makes every one of them (nothing
#     is folded into a register, merged or hoisted out of a loop), so it loses no finding the
#     -O build could give. The -O build that users run is plain, exercised by the smoke,
#     race, stress and bench cells. -Onone compiles a variant in ~30 s of CPU instead of ~95.
#     tsan stays at -O (AARCH64_TSAN_OPT overrides): its race loop runs x50 under QEMU,
#     about twice as long at -Onone (the aarch64/tsan cell: 45 s at -O in the quick CI run
#     of fbef140, 163 s at -Onone in that of 87b82a7), more than the faster compile saves.
#
# Usage:
#   ci/build-aarch64.sh [--install] [--out DIR] [--variant V] [--program NAME]... [--clean]
#                       [--planted race|leak|oob] [--run] [--timeout SECONDS] [-- PROGRAM-ARGS...]
#
#   --install        install missing Debian packages (needs root); without it a missing
#                    package prints the exact install command and exits 3.
#   --check-deps     only check the dependencies (exit 0 or 3); --list-deps prints them as
#                    probes of ci/deps.tsv.
#   --out DIR        build root (default .build-aarch64): binaries in DIR/bin, objects in
#                    DIR/obj (other variants: DIR/VARIANT/bin, DIR/VARIANT/obj).
#   --variant V      plain (default), dynamic, tsan or asan (see above); `all` builds the four.
#   --planted KIND   build only the planted defect KIND (race, leak or oob; sources in
#                    ci/aarch64/planted/KIND) as DIR/<variant>/bin/planted-KIND: the checkers'
#                    self-test (ci/selftest-aarch64-checkers.sh). Never part of a normal build.
#   --program NAME   build only NAME (repeatable; default: every entry of PROGRAMS below
#                    that exists under Sources/).
#   --clean          rebuild everything (otherwise unchanged modules are reused).
#   --run            after building, run the first selected program under
#                    qemu-aarch64-static with PROGRAM-ARGS (see ci/run-aarch64.sh).
#   --timeout SEC    kill a --run that takes longer (default 600).
#
# Environment: AARCH64_SWIFTFLAGS adds swiftc flags (e.g. "-target-cpu neoverse-n1");
# AARCH64_CC, AARCH64_INCLUDE and QEMU override the cross compiler, its headers and the
# emulator.
#
# Exit status: 0 success, 1 build/run failure, 2 usage error, 3 missing dependency,
# otherwise the program's own exit status under --run (124: it timed out).
#
# Examples:
#   ci/build-aarch64.sh --run
#   ci/build-aarch64.sh --out /tmp/a64 --program offheap-engine --run -- stress --threads 4
set -euo pipefail

SCRIPT_NAME="build-aarch64"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=ci/lib/deps.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/deps.sh"

# ---------------------------------------------------------------------------------------
# What gets built. Library modules are compiled in this order (each may import the ones
# before it); every program links all of them. To add a program, add one line to PROGRAMS
# naming its folder under Sources/ (its main.swift holds top-level code). By default the
# programs whose folder exists are built; naming a missing one with --program is an error.
LIBRARY_MODULES=(
    OffHeap
    OffHeapWorkloads
)
PROGRAMS=(
    offheap-smoke  # allocator smoke checks, 4 threads
    offheap-engine # the workload engine: stress, workloads, probe (same options as `offheap`)
)
# The seeded-defect programs (ci/defects/): built by the checker variants only.
DEFECTS_PROGRAM=offheap-defects
# The C shims: every .c file under each is compiled; each include/ holds a module.modulemap.
# COffHeapShims is the allocator core's; COffHeapHostShims the engine's and programs' (argv,
# signals, files, malloc, exit).
SHIM_DIRS=(Sources/COffHeapShims Sources/COffHeapHostShims)
# Upcoming features the SwiftPM targets enable (keep in step with Package.swift).
SWIFT_FEATURES=(-enable-upcoming-feature ExistentialAny)
# ---------------------------------------------------------------------------------------

TARGET_TRIPLE="aarch64-none-none-elf"
# Tools and paths; the environment may override them (AARCH64_CC, AARCH64_INCLUDE, QEMU). On
# an arm64 host the native gcc and headers serve (no cross packages, no QEMU).
CROSS_CC="${AARCH64_CC:-aarch64-linux-gnu-gcc}"
if [[ "$(uname -m)" == aarch64 ]]; then
    CROSS_SYSROOT_INCLUDE="${AARCH64_INCLUDE:-/usr/include}"
else
    CROSS_SYSROOT_INCLUDE="${AARCH64_INCLUDE:-/usr/aarch64-linux-gnu/include}"
fi
QEMU="${QEMU:-qemu-aarch64-static}"
# What this script needs from the machine, as probes of ci/deps.tsv (which names the package
# that provides each). `--check-deps` checks them, `--list-deps` prints them.
# `deps_needed VARIANT` (all: the union, as --list-deps prints it).
deps_needed() {
    local variant="${1:-all}"
    echo cmd:swiftc
    echo cmd:file
    echo cmd:flock
    echo cmd:aarch64-linux-gnu-gcc
    echo file:/usr/include/aarch64-linux-gnu/bits/libc-header-start.h
    if [[ "$(uname -m)" != aarch64 ]]; then
        echo cmd:qemu-aarch64-static
        echo cmd:update-binfmts
        echo file:/usr/aarch64-linux-gnu/include/stdio.h
    fi
    # The sanitizer runtimes: the cross linker's copy and the arm64 one QEMU loads at run
    # time (-L /), plus setarch (TSan re-executes itself unless ASLR is off).
    if [[ "$variant" == tsan || "$variant" == all ]]; then
        if [[ "$(uname -m)" != aarch64 ]]; then echo file:/usr/aarch64-linux-gnu/lib/libtsan.so.2; fi
        echo file:/usr/lib/aarch64-linux-gnu/libtsan.so.2
        echo cmd:setarch
    fi
    if [[ "$variant" == asan || "$variant" == all ]]; then
        if [[ "$(uname -m)" != aarch64 ]]; then echo file:/usr/aarch64-linux-gnu/lib/libasan.so.8; fi
        echo file:/usr/lib/aarch64-linux-gnu/libasan.so.8
    fi
    # The instrumented variants compile memcheck's client requests (header only).
    if [[ "$variant" == dynamic || "$variant" == asan || "$variant" == all ]]; then
        echo file:/usr/include/valgrind/memcheck.h
    fi
    # Dynamic builds run against arm64 glibc itself (its loader).
    if [[ "$variant" != plain ]]; then echo file:/lib/ld-linux-aarch64.so.1; fi
}

usage() { print_help; }

install=0
check_only=0
variant=plain
planted=""
clean=0
run=0
out_dir="$REPO_ROOT/.build-aarch64"
run_timeout=600
selected=()
program_args=()

while [[ $# -gt 0 ]]; do
    case "$1" in
    --install) install=1 ;;
    --list-deps) deps_needed all; exit 0 ;;
    --variant)
        [[ $# -ge 2 && "$2" =~ ^(plain|dynamic|tsan|asan|all)$ ]] ||
            die "--variant needs plain, dynamic, tsan, asan or all" 2
        variant="$2"
        shift
        ;;
    --planted)
        [[ $# -ge 2 && "$2" =~ ^(race|leak|oob)$ ]] || die "--planted needs race, leak or oob" 2
        planted="$2"
        shift
        ;;
    --check-deps) check_only=1 ;;
    --clean) clean=1 ;;
    --run) run=1 ;;
    --out)
        [[ $# -ge 2 && -n "$2" ]] || die "--out needs a directory" 2
        out_dir="$2"
        shift
        ;;
    --program)
        [[ $# -ge 2 && -n "$2" ]] || die "--program needs a name" 2
        selected+=("$2")
        shift
        ;;
    --timeout)
        [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--timeout needs a whole number of seconds" 2
        run_timeout="$2"
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        program_args=("$@")
        break
        ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
    shift
done

# --out is relative to the caller's directory; the default lives in the repository.
[[ "$out_dir" == /* ]] || out_dir="$PWD/$out_dir"
cd "$REPO_ROOT"
if [[ "$variant" == all ]]; then
    [[ $run -eq 0 && -z "$planted" ]] || die "--variant all builds only (no --run, no --planted)" 2
    forward=(--out "$out_dir")
    [[ $install -eq 0 ]] || forward+=(--install)
    [[ $check_only -eq 0 ]] || forward+=(--check-deps)
    [[ $clean -eq 0 ]] || forward+=(--clean)
    for program in "${selected[@]}"; do forward+=(--program "$program"); done
    for one in plain dynamic tsan asan; do
        "$0" --variant "$one" "${forward[@]}" || exit $?
    done
    exit 0
fi
explicit_programs=0 # --program given: build exactly those
if [[ -n "$planted" ]]; then
    [[ ${#selected[@]} -eq 0 ]] || die "--planted builds only the planted program (no --program)" 2
    [[ -f "ci/aarch64/planted/$planted/main.swift" ]] ||
        die "no ci/aarch64/planted/$planted/main.swift" 2
elif [[ ${#selected[@]} -gt 0 ]]; then
    explicit_programs=1
else
    for program in "${PROGRAMS[@]}"; do
        if [[ -f "Sources/$program/main.swift" ]]; then
            selected+=("$program")
        else
            log "note: skipping $program (no Sources/$program/main.swift yet)"
        fi
    done
    [[ ${#selected[@]} -gt 0 ]] || die "none of the programs (${PROGRAMS[*]}) exists" 2
fi
for program in ${selected[@]+"${selected[@]}"}; do
    [[ -f "Sources/$program/main.swift" ]] ||
        die "program '$program' has no Sources/$program/main.swift" 2
done
if [[ ${#program_args[@]} -gt 0 && $run -eq 0 ]]; then
    die "program arguments after '--' need --run" 2
fi

# --- Dependencies ------------------------------------------------------------------------

mapfile -t needed < <(deps_needed "$variant")
if ! deps_check "${needed[@]}" 2>/dev/null; then
    if [[ $install -eq 1 ]]; then
        deps_install "${needed[@]}" || die "dependencies still missing after install (see above)" 3
    else
        deps_check "${needed[@]}" || true
        log "or rerun with --install"
        exit 3
    fi
fi
[[ $check_only -eq 0 ]] || { log "dependencies present"; exit 0; }

has_command swiftc || die "swiftc not found on PATH (install Swift 6.3 or newer)" 3
has_command file || die "'file' not found (apt-get install -y file)" 3
toolchain="$(swift_toolchain_root)" || die "cannot locate the Swift toolchain root" 3
embedded_lib="$toolchain/usr/lib/swift/embedded"
[[ -d "$embedded_lib/Swift.swiftmodule" ]] ||
    die "this Swift toolchain has no Embedded stdlib ($embedded_lib/Swift.swiftmodule)" 3
[[ -e "$embedded_lib/Swift.swiftmodule/$TARGET_TRIPLE.swiftmodule" ]] ||
    die "the Embedded stdlib has no $TARGET_TRIPLE slice" 3
unicode_tables="$embedded_lib/$TARGET_TRIPLE/libswiftUnicodeDataTables.a"

# --- Variant -----------------------------------------------------------------------------

# Objects (obj_dir), binaries (bin_dir), the Swift target, optimisation, sanitizer and
# instrumentation flags and the link mode (see "checker variants" above).
swift_target="$TARGET_TRIPLE"
swift_opt=-O
variant_swift_flags=()
variant_cc_flags=()
instrumented=0
link_mode=(-static-pie)
link_extra=()
case "$variant" in
plain) obj_dir="$out_dir/obj"; bin_dir="$out_dir/bin" ;;
dynamic)
    obj_dir="$out_dir/dynamic/obj"
    bin_dir="$out_dir/dynamic/bin"
    link_mode=(-pie)
    instrumented=1
    ;;
tsan | asan)
    obj_dir="$out_dir/$variant/obj"
    bin_dir="$out_dir/$variant/bin"
    swift_target="aarch64-unknown-linux-gnu"
    sanitizer="thread"
    [[ "$variant" == tsan ]] || { sanitizer="address"; instrumented=1; }
    variant_swift_flags=(-Xfrontend "-sanitize=$sanitizer" -I "$out_dir/linux-stdlib")
    variant_cc_flags=("-fsanitize=$sanitizer" -fno-omit-frame-pointer -g)
    link_mode=(-pie "-fsanitize=$sanitizer")
    ;;
esac
if [[ "$variant" != plain ]]; then
    swift_opt="${AARCH64_CHECKER_OPT:--Onone}"
    [[ "$variant" != tsan ]] || swift_opt="${AARCH64_TSAN_OPT:--O}"
    # The seeded defects (ci/defects/catalogue.tsv) run in the checker builds only.
    if [[ -z "$planted" && ${#selected[@]} -gt 0 && -f "Sources/$DEFECTS_PROGRAM/main.swift" \
        && " ${selected[*]} " != *" $DEFECTS_PROGRAM "* && $explicit_programs -eq 0 ]]; then
        selected+=("$DEFECTS_PROGRAM")
    fi
fi
if [[ $instrumented -eq 1 ]]; then
    variant_swift_flags+=(-D OFFHEAP_INSTRUMENTED)
    # memcheck's client requests: valgrind.h + memcheck.h are plain headers with an arm64
    # branch; the cross compiler does not search /usr/include, so a copy of the two serves.
    valgrind_include="$out_dir/valgrind-include"
    if ! cmp -s /usr/include/valgrind/memcheck.h "$valgrind_include/valgrind/memcheck.h" 2>/dev/null \
        || ! cmp -s /usr/include/valgrind/valgrind.h "$valgrind_include/valgrind/valgrind.h" 2>/dev/null; then
        mkdir -p "$valgrind_include/valgrind"
        cp /usr/include/valgrind/valgrind.h /usr/include/valgrind/memcheck.h "$valgrind_include/valgrind/"
    fi
    variant_cc_flags+=(-I "$valgrind_include")
fi
# The build-time mutants of the seeded-defect catalogue (OFFHEAP_MUTANTS: every mutant of
# Sources/OffHeap/Support/Mutants.swift in one build, dormant until offheap-defects arms
# one; ci/defects/README.md). In tsan (the TSan rows) and dynamic (the stress and checked
# rows, run without valgrind: the cheapest build to run under QEMU), not in a variant of
# their own: every aarch64 build costs minutes on 2 cores. Dormant, a site costs one relaxed
# load and compare in these checker builds; TSan, memcheck and the race loop see the same
# accesses as without it. plain (the build users run) and asan never have them.
if [[ "$variant" == tsan || "$variant" == dynamic ]]; then
    variant_swift_flags+=(-D OFFHEAP_MUTANTS)
fi
if [[ $clean -eq 1 ]]; then rm -rf "$obj_dir" "$bin_dir"; fi
mkdir -p "$obj_dir" "$bin_dir" "$obj_dir/module-cache"
shim_includes=()
for shim_dir in "${SHIM_DIRS[@]}"; do shim_includes+=(-I "$shim_dir/include"); done
# One build at a time per object directory (plain and dynamic share one; matrix cells may
# build variants in parallel).
exec 9>"$obj_dir/.lock"
flock 9

# The Embedded stdlib re-labelled for aarch64-unknown-linux-gnu (tsan, asan): the same
# modules with the 21-byte triple string aarch64-none-none-elf replaced by
# aarch64-unknown-linux (the frontend then accepts -sanitize=). Made once per toolchain, in
# a temporary directory renamed into place, so two variants building at once cannot see a
# half-written copy.
STDLIB_MODULES=(Swift Synchronization _Volatile _Builtin_float)
if [[ "$swift_target" != "$TARGET_TRIPLE" ]]; then
    relabelled="$out_dir/linux-stdlib"
    stdlib_stamp="$(swiftc --version 2>&1 | head -n 1) $embedded_lib"
    if [[ ! -f "$relabelled/stamp" || "$(cat "$relabelled/stamp")" != "$stdlib_stamp" ]]; then
        log "re-labelling the Embedded stdlib for $swift_target ($relabelled)"
        staging="$(mktemp -d "$out_dir/linux-stdlib.XXXXXX")"
        for module in "${STDLIB_MODULES[@]}"; do
            mkdir -p "$staging/$module.swiftmodule"
            for ext in swiftmodule swiftdoc; do
                source_file="$embedded_lib/$module.swiftmodule/$TARGET_TRIPLE.$ext"
                [[ -f "$source_file" ]] || continue
                LC_ALL=C sed 's/aarch64-none-none-elf/aarch64-unknown-linux/g' "$source_file" \
                    >"$staging/$module.swiftmodule/$swift_target.$ext"
                [[ "$(stat -c %s "$source_file")" == "$(stat -c %s "$staging/$module.swiftmodule/$swift_target.$ext")" ]] ||
                    die "re-labelling $source_file changed its size"
            done
        done
        echo "$stdlib_stamp" >"$staging/stamp"
        rm -rf "$relabelled.old"
        [[ ! -e "$relabelled" ]] || mv -T "$relabelled" "$relabelled.old" 2>/dev/null || true
        mv -T "$staging" "$relabelled" 2>/dev/null || rm -rf "$staging" # another build won
        rm -rf "$relabelled.old"
    fi
fi

# --- Build -------------------------------------------------------------------------------

SWIFT_FLAGS=(
    -target "$swift_target"
    ${variant_swift_flags[@]+"${variant_swift_flags[@]}"}
    -enable-experimental-feature Embedded
    -wmo "$swift_opt" -swift-version 6
    "${SWIFT_FEATURES[@]}"
    -package-name swift_offheap # `package` declarations, shared by all modules as in SwiftPM
    "${shim_includes[@]}" -I "$obj_dir"
    -Xcc -I"$CROSS_SYSROOT_INCLUDE" -Xcc -D__linux__ -Xcc -D__unix__
    -module-cache-path "$obj_dir/module-cache"
)
# Extra swiftc flags, e.g. AARCH64_SWIFTFLAGS="-target-cpu neoverse-n1" (LSE atomics).
if [[ -n "${AARCH64_SWIFTFLAGS:-}" ]]; then
    read -r -a extra_swift_flags <<<"$AARCH64_SWIFTFLAGS"
    SWIFT_FLAGS+=("${extra_swift_flags[@]}")
fi
CC_FLAGS=(-O2 -fPIE -std=gnu99 -Wall -Werror ${variant_cc_flags[@]+"${variant_cc_flags[@]}"} "${shim_includes[@]}")
# Libraries after the objects: libm (sqrtf and friends in the workloads), pthreads.
LINK_LIBS=(-lm -lpthread)

# Sorted list of files under DIR matching a find -name PATTERN.
list_sources() { find "$1" -type f -name "$2" | LC_ALL=C sort; }

# A digest of the files named on stdin plus extra words: a module is rebuilt only when its
# sources, the flags, the compiler or anything it depends on changed.
digest() {
    {
        printf '%s\n' "$@"
        while IFS= read -r file; do
            printf '%s\n' "$file"
            cat "$file"
        done
    } | sha256sum | cut -d' ' -f1
}

# up_to_date STAMP DIGEST OUTPUT...: whether STAMP holds DIGEST and every OUTPUT exists.
up_to_date() {
    local stamp="$1" want="$2"
    shift 2
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] || return 1
    local output
    for output in "$@"; do [[ -e "$output" ]] || return 1; done
}

swift_version="$(swiftc --version 2>&1 | head -n 1)"
cc_version="$("$CROSS_CC" --version | head -n 1)"
build_start="$(now_ns)"
compiled=()

# C shims (C file names are unique across them: objects are named after the file).
shim_sources() { local dir; for dir in "${SHIM_DIRS[@]}"; do list_sources "$dir" '*.c'; done; }
shim_objects=()
shim_inputs="$(for shim_dir in "${SHIM_DIRS[@]}"; do list_sources "$shim_dir" '*.[ch]'
    list_sources "$shim_dir/include" '*.modulemap'; done
    [[ $instrumented -eq 0 ]] || list_sources "$valgrind_include" '*.h')"
shim_digest="$(digest "$cc_version" "${CC_FLAGS[*]}" <<<"$shim_inputs")"
while IFS= read -r source; do
    shim_objects+=("$obj_dir/shim-$(basename "$source" .c).o")
done < <(shim_sources)
if ! up_to_date "$obj_dir/COffHeapShims.stamp" "$shim_digest" "${shim_objects[@]}"; then
    log "compiling the C shims ($CROSS_CC)"
    while IFS= read -r source; do
        run_logged "$obj_dir/shim-$(basename "$source" .c).log" \
            "$CROSS_CC" "${CC_FLAGS[@]}" -c "$source" \
            -o "$obj_dir/shim-$(basename "$source" .c).o" ||
            die "compiling $source failed"
    done < <(shim_sources)
    echo "$shim_digest" >"$obj_dir/COffHeapShims.stamp"
    compiled+=(COffHeapShims COffHeapHostShims)
fi

# compile_swift MODULE_NAME SOURCE_DIR KIND DEP_DIGEST: compiles one Swift module (KIND is
# library: -parse-as-library + -emit-module; or program: top-level code in main.swift).
# Prints the module's digest on stdout for its dependents.
compile_swift() {
    local module="$1" dir="$2" kind="$3" dep_digest="$4"
    local sources=()
    while IFS= read -r source; do sources+=("$source"); done < <(list_sources "$dir" '*.swift')
    [[ ${#sources[@]} -gt 0 ]] || die "no Swift sources under $dir"
    local extra=()
    if [[ "$kind" == library ]]; then
        extra=(-parse-as-library -emit-module -emit-module-path "$obj_dir/$module.swiftmodule")
    fi
    local module_digest
    module_digest="$(digest "$swift_version" "${SWIFT_FLAGS[*]}" "${extra[*]}" "$dep_digest" \
        < <(printf '%s\n' "${sources[@]}"))"
    local outputs=("$obj_dir/$module.o")
    [[ "$kind" != library ]] || outputs+=("$obj_dir/$module.swiftmodule")
    if ! up_to_date "$obj_dir/$module.stamp" "$module_digest" "${outputs[@]}"; then
        log "compiling $module (${#sources[@]} files, Embedded Swift, $swift_target, $swift_opt${variant_swift_flags[0]:+, $variant}$([[ $instrumented -eq 0 ]] || echo ', instrumented'))"
        rm -f "$obj_dir/$module.stamp"
        run_logged "$obj_dir/$module.log" \
            swiftc "${SWIFT_FLAGS[@]}" -module-name "$module" "${extra[@]}" \
            -c "${sources[@]}" -o "$obj_dir/$module.o" ||
            die "compiling $module failed (full log: $obj_dir/$module.log)"
        if grep -q 'warning:' "$obj_dir/$module.log"; then
            log "warnings in $module (full log: $obj_dir/$module.log):"
            grep 'warning:' "$obj_dir/$module.log" | sort -u >&2
        fi
        echo "$module_digest" >"$obj_dir/$module.stamp"
        compiled+=("$module")
    fi
    module_digest_out="$module_digest"
}

library_objects=()
dep_digest="$shim_digest"
for module in "${LIBRARY_MODULES[@]}"; do
    compile_swift "$module" "Sources/$module" library "$dep_digest"
    dep_digest="$module_digest_out"
    library_objects+=("$obj_dir/$module.o")
done

# TSan: GCC 12's libtsan has no __tsan_memcpy/__tsan_memmove/__tsan_memset, which the
# Swift frontend's instrumentation calls; three forwarders provide them.
if [[ "$variant" == tsan ]]; then
    forwarders_source="ci/aarch64/tsan-memfuncs.c"
    forwarders_digest="$(digest "$cc_version" "${CC_FLAGS[*]}" <<<"$forwarders_source")"
    if ! up_to_date "$obj_dir/tsan-memfuncs.stamp" "$forwarders_digest" "$obj_dir/tsan-memfuncs.o"; then
        run_logged "$obj_dir/tsan-memfuncs.log" \
            "$CROSS_CC" "${CC_FLAGS[@]}" -c "$forwarders_source" -o "$obj_dir/tsan-memfuncs.o" ||
            die "compiling $forwarders_source failed"
        echo "$forwarders_digest" >"$obj_dir/tsan-memfuncs.stamp"
    fi
    link_extra=("$obj_dir/tsan-memfuncs.o")
fi

# Programs: name and source folder (a planted defect lives outside Sources/).
program_dirs=()
if [[ -n "$planted" ]]; then
    selected=("planted-$planted")
    program_dirs=("ci/aarch64/planted/$planted")
else
    for program in "${selected[@]}"; do program_dirs+=("Sources/$program"); done
fi
link_description="static PIE"
[[ "$variant" == plain ]] || link_description="dynamic PIE, $variant"
built=()
for index in "${!selected[@]}"; do
    program="${selected[$index]}"
    module="${program//-/_}"
    compile_swift "$module" "${program_dirs[$index]}" program "$dep_digest"
    binary="$bin_dir/$program"
    link_stamp="$obj_dir/$program.$variant.link-stamp"
    link_digest="$(digest "$module_digest_out" "$cc_version" "${LINK_LIBS[*]}" "${link_mode[*]}" \
        ${link_extra[@]+"${link_extra[@]}"} </dev/null)"
    if ! up_to_date "$link_stamp" "$link_digest" "$binary"; then
        log "linking $binary ($link_description, arm64 glibc)"
        rm -f "$link_stamp"
        run_logged "$obj_dir/$program.$variant.link.log" \
            "$CROSS_CC" "${link_mode[@]}" -o "$binary" \
            "$obj_dir/$module.o" "${library_objects[@]}" "${shim_objects[@]}" \
            ${link_extra[@]+"${link_extra[@]}"} "$unicode_tables" "${LINK_LIBS[@]}" ||
            die "linking $program failed (full log: $obj_dir/$program.$variant.link.log)"
        echo "$link_digest" >"$link_stamp"
        compiled+=("$program(link)")
    fi
    description="$(file -b "$binary")"
    case "$description" in
    *"ARM aarch64"*) ;;
    *) die "$binary is not an aarch64 executable: $description" ;;
    esac
    built+=("$binary")
    log "ok: $binary: $description"
done

if [[ ${#compiled[@]} -eq 0 ]]; then
    log "everything up to date ($(elapsed_ms "$build_start") ms)"
else
    log "built ${compiled[*]} in $(elapsed_ms "$build_start") ms"
fi

# --- Run ---------------------------------------------------------------------------------

if [[ $run -eq 1 ]]; then
    exec "$REPO_ROOT/ci/run-aarch64.sh" --timeout "$run_timeout" "${built[0]}" \
        "${program_args[@]}"
fi
