#!/usr/bin/env bash
# Builds liboffheap-malloc.so: SizeClassHeap as the process allocator (the C allocation ABI:
# malloc, free, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
# valloc, pvalloc, malloc_usable_size), for LD_PRELOAD or linking.
#
# The heap comes up without calling malloc on its own behalf: the OffHeap module and
# Sources/offheap-malloc/MallocHeap.swift are compiled together, in Embedded Swift (no runtime,
# no metadata instantiation, no ARC-managed allocation on the paths), with the C shim and the
# ABI layer Sources/offheap-malloc/malloc.c; only the ABI's symbols are exported.
#
# aarch64 (--arch aarch64 on an x86-64 host): the same module for aarch64-none-none-elf (the
# Embedded stdlib the toolchain ships), PIC, linked as a shared object against Debian's arm64
# glibc with the cross gcc, as ci/build-aarch64.sh does for its programs; run programs with
# `qemu-aarch64-static -L /usr/aarch64-linux-gnu -E LD_PRELOAD=DIR/liboffheap-malloc.so`.
#
# Usage:
#   ci/build-malloc.sh [--arch x86_64|aarch64] [--out DIR] [--check-deps]
#     --arch A      target (default: the host's)
#     --out DIR     build directory (default .build-malloc/ARCH): DIR/liboffheap-malloc.so
#     --check-deps  only check the dependencies (exit 0 or 3)
#
# Example:
#   ci/build-malloc.sh && LD_PRELOAD=.build-malloc/x86_64/liboffheap-malloc.so OFFHEAP_VERBOSE=1 sqlite3 :memory: 'select 1'
#
# Exit status: 0 built, 1 build failure, 2 usage error, 3 missing dependency.
set -euo pipefail

SCRIPT_NAME="build-malloc"
# shellcheck source=ci/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ARCH="$(uname -m)"
out_dir=""
check_only=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --arch)
        [[ $# -ge 2 && ( "$2" == x86_64 || "$2" == aarch64 ) ]] || die "--arch must be x86_64 or aarch64" 2
        ARCH="$2"
        shift 2
        ;;
    --out)
        [[ $# -ge 2 && -n "$2" ]] || die "--out needs a directory" 2
        out_dir="$2"
        shift 2
        ;;
    --check-deps) check_only=1; shift ;;
    -h | --help) print_help; exit 0 ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -n "$out_dir" ]] || out_dir=".build-malloc/$ARCH"
has_command swiftc || die "swiftc not found on PATH (install Swift 6.3 or newer)" 3
swift_flags=()
if [[ "$ARCH" == "$(uname -m)" ]]; then
    triple="$ARCH-unknown-linux-gnu"
    cc=gcc
elif [[ "$ARCH" == aarch64 ]]; then
    triple="aarch64-none-none-elf"
    cc=aarch64-linux-gnu-gcc
    [[ -f /usr/aarch64-linux-gnu/include/stdio.h ]] ||
        die "arm64 glibc headers missing (apt-get install -y libc6-dev-arm64-cross)" 3
    swift_flags=(-Xcc -I/usr/aarch64-linux-gnu/include -Xcc -D__linux__ -Xcc -D__unix__)
else
    die "cannot build for $ARCH on $(uname -m)" 2
fi
has_command "$cc" || die "$cc not found (apt-get install -y $([[ $cc == gcc ]] && echo gcc || echo gcc-aarch64-linux-gnu))" 3
toolchain="$(swift_toolchain_root)" || die "cannot locate the Swift toolchain root" 3
embedded_lib="$toolchain/usr/lib/swift/embedded"
[[ -e "$embedded_lib/Swift.swiftmodule/$triple.swiftmodule" ]] ||
    die "the Embedded stdlib has no $triple slice ($embedded_lib)" 3
[[ $check_only -eq 0 ]] || { log "dependencies present"; exit 0; }

mkdir -p "$out_dir/obj"
obj="$out_dir/obj"
start="$(now_ns)"

# Sources: the whole OffHeap module plus the process-allocator entry points, one module.
sources=()
while IFS= read -r source; do sources+=("$source"); done < <(find Sources/OffHeap Sources/offheap-malloc -name '*.swift' | LC_ALL=C sort)

log "compiling OffHeap + offheap-malloc (${#sources[@]} files, Embedded Swift, $triple, -O, PIC)"
run_logged "$obj/OffHeap.log" swiftc -target "$triple" -enable-experimental-feature Embedded \
    -wmo -O -swift-version 6 -enable-upcoming-feature ExistentialAny -parse-as-library \
    -package-name swift_offheap -module-name OffHeap -I Sources/COffHeapShims/include \
    -Xcc -fPIC ${swift_flags[@]+"${swift_flags[@]}"} -module-cache-path "$obj/module-cache" \
    -c "${sources[@]}" -o "$obj/OffHeap.o" || die "compiling the Swift module failed (log: $obj/OffHeap.log)"

cc_flags=(-O2 -fPIC -std=gnu11 -Wall -Werror -fvisibility=hidden -I Sources/COffHeapShims/include)
for c in Sources/COffHeapShims/*.c; do
    run_logged "$obj/shim-$(basename "$c" .c).log" "$cc" "${cc_flags[@]}" -c "$c" -o "$obj/shim-$(basename "$c" .c).o" ||
        die "compiling $c failed"
done
run_logged "$obj/malloc.log" "$cc" "${cc_flags[@]}" -c Sources/offheap-malloc/malloc.c -o "$obj/malloc.o" ||
    die "compiling Sources/offheap-malloc/malloc.c failed (log: $obj/malloc.log)"

# Only the allocation ABI is exported; the Swift and shim symbols stay local, so they can
# never bind to (or be bound by) anything else in the process.
cat >"$obj/exports.map" <<'MAP'
{
  global: malloc; free; calloc; realloc; reallocarray; posix_memalign; aligned_alloc;
          memalign; valloc; pvalloc; malloc_usable_size;
  local: *;
};
MAP
unicode_tables="$embedded_lib/$triple/libswiftUnicodeDataTables.a"
extra=()
[[ ! -f "$unicode_tables" ]] || extra=("$unicode_tables")
run_logged "$obj/link.log" "$cc" -shared -o "$out_dir/liboffheap-malloc.so" "$obj/OffHeap.o" "$obj"/shim-*.o \
    "$obj/malloc.o" ${extra[@]+"${extra[@]}"} -Wl,--version-script="$obj/exports.map" -Wl,-z,now \
    -Wl,--no-undefined -lm -lpthread -ldl ||
    die "linking liboffheap-malloc.so failed (log: $obj/link.log)"
# malloc's and free's fast paths run without raising the thread's internal depth
# (MallocHeap.swift): they must make no call, or one could reach malloc and re-enter the heap.
# Check the compiled code: only jumps (to the slow paths) may leave them.
objdump_tool=objdump call_pattern=$'\tcall'
if [[ "$ARCH" == aarch64 ]]; then
    call_pattern=$'\tblr?\t'
    [[ "$(uname -m)" == aarch64 ]] || objdump_tool=aarch64-linux-gnu-objdump
fi
if has_command "$objdump_tool"; then
    disassembly="$("$objdump_tool" -d --no-show-raw-insn "$out_dir/liboffheap-malloc.so")"
    for function in mallocAllocate16 mallocFree; do
        body="$(awk -v name="[0-9]${function}33_" '
            $0 ~ "^[0-9a-f]+ <.*" name ".*>:$" { inside = 1; next }
            inside && /^$/ { exit }
            inside' <<<"$disassembly")"
        [[ -n "$body" ]] || die "cannot find the $function fast path in liboffheap-malloc.so" 1
        if grep -qE "$call_pattern" <<<"$body"; then
            die "the $function fast path makes a call (it runs outside the internal depth: see MallocHeap.swift)" 1
        fi
    done
else
    log "warning: $objdump_tool not found; the fast paths' no-call check is skipped"
fi
log "ok: $out_dir/liboffheap-malloc.so ($(elapsed_ms "$start") ms)"
