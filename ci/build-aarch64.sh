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
# Usage:
#   ci/build-aarch64.sh [--install] [--out DIR] [--program NAME]... [--clean]
#                       [--run] [--timeout SECONDS] [-- PROGRAM-ARGS...]
#
#   --install        install missing Debian packages (needs root); without it a missing
#                    package prints the exact install command and exits 3.
#   --check-deps     only check the dependencies (exit 0 or 3); --list-deps prints them as
#                    probes of ci/deps.tsv.
#   --out DIR        build root (default .build-aarch64): binaries in DIR/bin, objects in
#                    DIR/obj.
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
# The C shim: every .c file under it is compiled; its include/ holds module.modulemap.
SHIM_DIR="Sources/COffHeapShims"
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
deps_needed() {
    echo cmd:swiftc
    echo cmd:file
    echo cmd:aarch64-linux-gnu-gcc
    echo file:/usr/include/aarch64-linux-gnu/bits/libc-header-start.h
    if [[ "$(uname -m)" != aarch64 ]]; then
        echo cmd:qemu-aarch64-static
        echo cmd:update-binfmts
        echo file:/usr/aarch64-linux-gnu/include/stdio.h
    fi
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

install=0
check_only=0
clean=0
run=0
out_dir="$REPO_ROOT/.build-aarch64"
run_timeout=600
selected=()
program_args=()

while [[ $# -gt 0 ]]; do
    case "$1" in
    --install) install=1 ;;
    --list-deps) deps_needed; exit 0 ;;
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
if [[ ${#selected[@]} -eq 0 ]]; then
    for program in "${PROGRAMS[@]}"; do
        if [[ -f "Sources/$program/main.swift" ]]; then
            selected+=("$program")
        else
            log "note: skipping $program (no Sources/$program/main.swift yet)"
        fi
    done
    [[ ${#selected[@]} -gt 0 ]] || die "none of the programs (${PROGRAMS[*]}) exists" 2
fi
for program in "${selected[@]}"; do
    [[ -f "Sources/$program/main.swift" ]] ||
        die "program '$program' has no Sources/$program/main.swift" 2
done
if [[ ${#program_args[@]} -gt 0 && $run -eq 0 ]]; then
    die "program arguments after '--' need --run" 2
fi

# --- Dependencies ------------------------------------------------------------------------

mapfile -t needed < <(deps_needed)
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

# --- Build -------------------------------------------------------------------------------

obj_dir="$out_dir/obj"
bin_dir="$out_dir/bin"
if [[ $clean -eq 1 ]]; then rm -rf "$obj_dir" "$bin_dir"; fi
mkdir -p "$obj_dir" "$bin_dir" "$obj_dir/module-cache"
shim_include="$SHIM_DIR/include"

SWIFT_FLAGS=(
    -target "$TARGET_TRIPLE"
    -enable-experimental-feature Embedded
    -wmo -O -swift-version 6
    "${SWIFT_FEATURES[@]}"
    -package-name swift_offheap # `package` declarations, shared by all modules as in SwiftPM
    -I "$shim_include" -I "$obj_dir"
    -Xcc -I"$CROSS_SYSROOT_INCLUDE" -Xcc -D__linux__ -Xcc -D__unix__
    -module-cache-path "$obj_dir/module-cache"
)
# Extra swiftc flags, e.g. AARCH64_SWIFTFLAGS="-target-cpu neoverse-n1" (LSE atomics).
if [[ -n "${AARCH64_SWIFTFLAGS:-}" ]]; then
    read -r -a extra_swift_flags <<<"$AARCH64_SWIFTFLAGS"
    SWIFT_FLAGS+=("${extra_swift_flags[@]}")
fi
CC_FLAGS=(-O2 -fPIE -std=gnu99 -Wall -Werror -I "$shim_include")
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

# C shim.
shim_objects=()
shim_inputs="$(list_sources "$SHIM_DIR" '*.[ch]'; list_sources "$shim_include" '*.modulemap')"
shim_digest="$(digest "$cc_version" "${CC_FLAGS[*]}" <<<"$shim_inputs")"
while IFS= read -r source; do
    shim_objects+=("$obj_dir/shim-$(basename "$source" .c).o")
done < <(list_sources "$SHIM_DIR" '*.c')
if ! up_to_date "$obj_dir/COffHeapShims.stamp" "$shim_digest" "${shim_objects[@]}"; then
    log "compiling COffHeapShims ($CROSS_CC)"
    while IFS= read -r source; do
        run_logged "$obj_dir/shim-$(basename "$source" .c).log" \
            "$CROSS_CC" "${CC_FLAGS[@]}" -c "$source" \
            -o "$obj_dir/shim-$(basename "$source" .c).o" ||
            die "compiling $source failed"
    done < <(list_sources "$SHIM_DIR" '*.c')
    echo "$shim_digest" >"$obj_dir/COffHeapShims.stamp"
    compiled+=(COffHeapShims)
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
        log "compiling $module (${#sources[@]} files, Embedded Swift, $TARGET_TRIPLE)"
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

built=()
for program in "${selected[@]}"; do
    module="${program//-/_}"
    compile_swift "$module" "Sources/$program" program "$dep_digest"
    binary="$bin_dir/$program"
    link_digest="$(digest "$module_digest_out" "$cc_version" "${LINK_LIBS[*]}" </dev/null)"
    if ! up_to_date "$obj_dir/$program.link-stamp" "$link_digest" "$binary"; then
        log "linking $binary (static PIE, arm64 glibc)"
        rm -f "$obj_dir/$program.link-stamp"
        run_logged "$obj_dir/$program.link.log" \
            "$CROSS_CC" -static-pie -o "$binary" \
            "$obj_dir/$module.o" "${library_objects[@]}" "${shim_objects[@]}" \
            "$unicode_tables" "${LINK_LIBS[@]}" ||
            die "linking $program failed (full log: $obj_dir/$program.link.log)"
        echo "$link_digest" >"$obj_dir/$program.link-stamp"
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
