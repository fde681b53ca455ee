# shellcheck shell=bash
# Running aarch64 programs under the checkers (ThreadSanitizer, valgrind memcheck,
# AddressSanitizer) on an x86-64 host through qemu-user-static, natively on an arm64 host.
# Sourced by ci/lib/cell.sh (aarch64 tsan/valgrind/asan cells) and
# ci/selftest-aarch64-checkers.sh; never executed. The builds come from
# `ci/build-aarch64.sh --variant tsan|dynamic|asan`. Traps (../shared/TOOLCHAIN-NOTES.md,
# "aarch64 under QEMU"):
#   - TSan re-executes itself with ASLR off and fails under QEMU (errno 8) unless started
#     with `setarch x86_64 -R`; start-up costs ~12 s and ~3 GB of RSS per process.
#   - memcheck needs a dynamically linked program (a static PIE shows "0 allocs"); the
#     arm64 valgrind cannot be installed beside the amd64 one, so its package (and
#     libc6-dbg:arm64, for glibc's suppressions to match) is extracted into a cache.
#   - LeakSanitizer cannot run under QEMU: ASan runs with detect_leaks=0.
#   - `-L /` (the host's arm64 multiarch glibc), never `-L /usr/aarch64-linux-gnu`.
#
#   source ci/lib/a64-checkers.sh
#   a64_tsan_run .build-aarch64/tsan/bin/offheap-smoke --repetitions 50    # exit 66 on a race
#   root="$(a64_valgrind_root .build-aarch64)" && a64_memcheck "$root" log.txt prog args
#   a64_asan_run .build-aarch64/asan/bin/offheap-smoke

# Exit status memcheck uses for errors and definite leaks; TSan's is its default, 66.
A64_MEMCHECK_EXIT=99
A64_TSAN_EXIT=66

a64_native() { [ "$(uname -m)" = aarch64 ]; }

# a64_tsan_run PROGRAM ARGS...: the program under ThreadSanitizer; exit 66 on a report.
# Under QEMU every mmap of the process moves QEMU's next guest address up; after ~1,200
# threads with 8 MiB stacks one lands outside TSan's aarch64 address map and TSan dies
# ("mmap at bad address"). 2 MiB thread stacks (glibc takes the default from RLIMIT_STACK)
# push that to ~2,000 threads; the cells also split long loops into batches.
a64_tsan_run() {
    if a64_native; then "$@"; return; fi
    (
        ulimit -s 2048
        TSAN_OPTIONS="${TSAN_OPTIONS:-exitcode=$A64_TSAN_EXIT}" \
            exec setarch x86_64 -R qemu-aarch64-static -L / "$@"
    )
}

# a64_asan_run PROGRAM ARGS...: the program under AddressSanitizer (no leak checking).
a64_asan_run() {
    if a64_native; then ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" "$@"; return; fi
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" qemu-aarch64-static -L / "$@"
}

# a64_valgrind_root BUILD_DIR: prints the root of an extracted valgrind:arm64 (+ libc6-dbg)
# under BUILD_DIR/valgrind-arm64, downloading the two packages with apt-get the first time
# (their versions are the stamp: a new candidate version re-extracts). On an arm64 host the
# installed valgrind serves and "/" is printed.
a64_valgrind_root() {
    local build_dir="$1" cache want staging package
    if a64_native; then echo /; return; fi
    cache="$build_dir/valgrind-arm64"
    want="$(apt-cache policy valgrind:arm64 libc6-dbg:arm64 2>/dev/null | awk '/Candidate:/ { print $2 }' | paste -sd' ' -)"
    if [ -x "$cache/root/usr/bin/valgrind.bin" ] && [ -f "$cache/stamp" ] \
        && { [ -z "$want" ] || [ "$(cat "$cache/stamp")" = "$want" ]; }; then
        echo "$cache/root"; return 0
    fi
    [ -n "$want" ] || { echo "a64_valgrind_root: apt knows no valgrind:arm64 (dpkg --add-architecture arm64 && apt-get update)" >&2; return 1; }
    mkdir -p "$cache"
    staging="$(mktemp -d "$cache/staging.XXXXXX")"
    (cd "$staging" && apt-get download valgrind:arm64 libc6-dbg:arm64 >&2) \
        || { rm -rf "$staging"; echo "a64_valgrind_root: apt-get download valgrind:arm64 libc6-dbg:arm64 failed" >&2; return 1; }
    mkdir -p "$staging/root"
    for package in "$staging"/*.deb; do
        dpkg-deb -x "$package" "$staging/root" || { rm -rf "$staging"; return 1; }
    done
    rm -f "$staging"/*.deb
    rm -rf "$cache/root"
    mv -T "$staging/root" "$cache/root"
    rm -rf "$staging"
    echo "$want" >"$cache/stamp"
    echo "$cache/root"
}

# a64_memcheck ROOT LOG PROGRAM ARGS...: memcheck with full leak checking; exit 99 when it
# finds an error or a definite leak, else the program's own status. ROOT from
# a64_valgrind_root.
a64_memcheck() {
    local root="$1" log="$2"
    shift 2
    local options=(--tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
        "--error-exitcode=$A64_MEMCHECK_EXIT" --num-callers=30 "--log-file=$log")
    if a64_native; then valgrind "${options[@]}" "$@"; return; fi
    VALGRIND_LIB="$root/usr/libexec/valgrind" VALGRIND_LAUNCHER="$root/usr/bin/valgrind.bin" \
        qemu-aarch64-static -L "$root" "$root/usr/libexec/valgrind/memcheck-arm64-linux" \
        "${options[@]}" "$@"
}
