// COffHeapShims: the platform layer of swift-offheap.
//
// Every libc/kernel facility the allocators use goes through this header, so the same
// `import COffHeapShims` works in the hosted build (SwiftPM, glibc) and in the Embedded
// Swift build for aarch64-none-none-elf (linked against Debian's arm64 glibc), where no
// Glibc Swift module exists. Only what the allocator core needs lives here: process-level
// facilities (command line, signals, files, malloc, exit) are in COffHeapHostShims, which
// the library does not link. Functions are thin `static inline` wrappers so they
// inline into Swift callers; only state that must be unique per process (the thread-local
// slots) lives in shims.c.
#ifndef COFFHEAPSHIMS_H
#define COFFHEAPSHIMS_H

#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <fcntl.h>
#include <sys/utsname.h>

// The aarch64 cross build compiles shims.c with aarch64-linux-gnu-gcc, which knows neither
// clang's nullability qualifiers nor __has_feature: make both vanish there.
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if !defined(__clang__)
#define _Nullable
#define _Nonnull
#endif

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0x4000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#if __has_feature(nullability)
#pragma clang assume_nonnull begin
#endif

// MARK: - errno

static inline int offheap_errno(void) { return errno; }

// MARK: - Virtual memory

/// Protection values, re-exported as plain ints so Swift need not see the macros.
static const int OFFHEAP_PROT_NONE = PROT_NONE;
static const int OFFHEAP_PROT_READ_WRITE = PROT_READ | PROT_WRITE;

/// Flags for `offheap_mmap_anonymous`.
enum {
    OFFHEAP_MAP_NORESERVE = 1 << 0,
    OFFHEAP_MAP_HUGETLB = 1 << 1,
    OFFHEAP_MAP_POPULATE = 1 << 2,
    OFFHEAP_MAP_FIXED_NOREPLACE = 1 << 3,
};

/// Anonymous private mapping. Returns NULL (not MAP_FAILED) on failure; errno is set.
static inline void *_Nullable offheap_mmap_anonymous(void *_Nullable hint, size_t length,
                                                     int prot, int flags) {
    int f = MAP_PRIVATE | MAP_ANONYMOUS;
    if (flags & OFFHEAP_MAP_NORESERVE) f |= MAP_NORESERVE;
    if (flags & OFFHEAP_MAP_HUGETLB) f |= MAP_HUGETLB;
    if (flags & OFFHEAP_MAP_POPULATE) f |= MAP_POPULATE;
    if (flags & OFFHEAP_MAP_FIXED_NOREPLACE) f |= MAP_FIXED_NOREPLACE;
    void *p = mmap(hint, length, prot, f, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline int offheap_munmap(void *address, size_t length) {
    return munmap(address, length);
}

static inline int offheap_mprotect(void *address, size_t length, int prot) {
    return mprotect(address, length, prot);
}

enum {
    OFFHEAP_MADV_DONTNEED = MADV_DONTNEED,
    OFFHEAP_MADV_FREE = MADV_FREE,
    OFFHEAP_MADV_HUGEPAGE = MADV_HUGEPAGE,
};

static inline int offheap_madvise(void *address, size_t length, int advice) {
    return madvise(address, length, advice);
}

static inline long offheap_page_size(void) { return sysconf(_SC_PAGESIZE); }
static inline long offheap_online_cpus(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

// MARK: - Files (the probe reads /proc and /sys)

/// Reads up to `capacity` bytes of a file into `buffer`; returns the count or -1 (errno).
long offheap_read_file(const char *path, void *buffer, size_t capacity);

/// Kernel release and machine name (uname); returns 0 on success.
int offheap_uname(char *release, size_t releaseCapacity, char *machine, size_t machineCapacity);

// MARK: - Time

/// CLOCK_MONOTONIC in nanoseconds.
static inline uint64_t offheap_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void offheap_sleep_ns(uint64_t ns) {
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static inline void offheap_yield(void) { sched_yield(); }

// MARK: - Asymmetric fences (AsymmetricFence.swift)

/// 1 once the process is registered for expedited private membarrier(2) (Linux 4.14+), so
/// `offheap_asymmetric_fence_heavy` can stand in for a fence on every other thread; 0 when the
/// kernel (or a seccomp filter, or an emulator) does not offer it, or OFFHEAP_MEMBARRIER=0
/// is set. Idempotent, thread-safe; the answer never changes once given.
int offheap_asymmetric_fence_prepare(void);

/// Every running thread of the process executes a full memory barrier before this returns
/// (membarrier PRIVATE_EXPEDITED). Only after `offheap_asymmetric_fence_prepare()` returned 1.
int offheap_asymmetric_fence_heavy(void);

/// The light side: orders the compiler only (the heavy side's membarrier orders the CPU).
static inline void offheap_compiler_barrier(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

// MARK: - Threads

typedef void (*offheap_thread_body)(void *_Nullable context);

/// Starts a joinable thread running `body(context)`. Returns 0 or an errno value.
int offheap_thread_start(uint64_t *handle, offheap_thread_body body, void *_Nullable context,
                         size_t stackSize);
/// Joins a thread started with offheap_thread_start. Returns 0 or an errno value.
int offheap_thread_join(uint64_t handle);

/// A small kernel-independent id of the calling thread (unique while it lives).
static inline uint64_t offheap_thread_self(void) { return (uint64_t)pthread_self(); }

/// Thread-exit hook: a pthread key whose destructor runs `destructor(value)` when a thread
/// that set a non-NULL value exits (one key, ThreadExitRegistry's). Returns 0 or an errno value.
int offheap_tls_key_create(uint32_t *key, void (*destructor)(void *));
int offheap_tls_key_set(uint32_t key, const void *_Nullable value);

// MARK: - Mutex (baselines for benchmarks; the allocators never lock)

/// Bytes a pthread mutex needs; the caller provides that much storage (e.g. from mmap).
static inline size_t offheap_mutex_size(void) { return sizeof(pthread_mutex_t); }
static inline int offheap_mutex_init(void *storage) {
    return pthread_mutex_init((pthread_mutex_t *)storage, NULL);
}
static inline int offheap_mutex_lock(void *storage) {
    return pthread_mutex_lock((pthread_mutex_t *)storage);
}
static inline int offheap_mutex_unlock(void *storage) {
    return pthread_mutex_unlock((pthread_mutex_t *)storage);
}
static inline int offheap_mutex_destroy(void *storage) {
    return pthread_mutex_destroy((pthread_mutex_t *)storage);
}

// MARK: - Fast thread-local slots

/// Number of pointer-sized thread-local slots (see `ThreadLocalSlot` in Swift for owners).
#define OFFHEAP_TLS_SLOT_COUNT 8

/// Initial-exec TLS: one `mov %fs:OFF` on x86-64, `mrs tpidr_el0` + load on aarch64.
/// Not `pthread_getspecific`: the thread caches read this on every allocation.
extern __thread void *_Nullable offheap_tls_slots[OFFHEAP_TLS_SLOT_COUNT]
    __attribute__((tls_model("initial-exec")));

static inline void *_Nullable offheap_tls_get(unsigned slot) {
    return offheap_tls_slots[slot];
}

static inline void offheap_tls_set(unsigned slot, void *_Nullable value) {
    offheap_tls_slots[slot] = value;
}

/// Depth of the calling thread's library-internal sections: liboffheap-malloc's entry points
/// (malloc.c) and the allocators' thread-exit processing. While it is non-zero the process
/// allocator serves malloc and free from glibc, so the heap's own allocations (Swift arrays,
/// the runtime) never re-enter the heap, which may hold its lock or be tearing the thread's
/// state down. Unused when the library is not the process allocator.
extern __thread unsigned offheap_internal_depth __attribute__((tls_model("initial-exec")));
static inline void offheap_internal_enter(void) { offheap_internal_depth++; }
static inline void offheap_internal_leave(void) { offheap_internal_depth--; }

// MARK: - Process

/// 1 when the ThreadSanitizer runtime is linked into the process. Its mmap interceptor
/// drops address hints outside the application range (and aborts on mappings it does not
/// expect), so the address-space probe skips its hint experiment under TSan.
int offheap_thread_sanitizer_active(void);

// MARK: - Checker instrumentation (valgrind memcheck client requests, ASan poisoning)
//
// Memcheck and ASan see only malloc memory; these calls tell them about the blocks the
// allocators hand out of their own mappings. Swift calls them only when built with
// `-Xswiftc -DOFFHEAP_INSTRUMENTED` (see `Instrumentation` in OffHeap), so an ordinary build
// contains no call at all. Each call forwards to memcheck when shims.c was compiled with
// <valgrind/memcheck.h> available (a client request is a no-op outside valgrind) and to
// ASan's poisoning interface when shims.c is compiled with -fsanitize=address.
// `pool` is any address that identifies one allocator instance (a memcheck mempool).

/// Bit 0: memcheck client requests compiled in; bit 1: ASan poisoning compiled in.
int offheap_instr_capabilities(void);
void offheap_instr_pool_create(const void *pool);
void offheap_instr_pool_destroy(const void *pool);
/// A block of `size` bytes becomes the caller's (memcheck: undefined contents; ASan: unpoisoned).
void offheap_instr_pool_alloc(const void *pool, void *address, size_t size);
/// A block goes back to its allocator (memcheck: an invalid free is reported if it is not a
/// live block of `pool`; both: inaccessible afterwards).
void offheap_instr_pool_free(const void *pool, void *address, size_t size);
/// Free memory the allocator owns: any user access is an error.
void offheap_instr_no_access(const void *address, size_t size);
/// The allocator's own bracketed access to metadata inside free memory (a link word).
void offheap_instr_defined(const void *address, size_t size);
/// Every block of `pool` is free again (a reset): memcheck forgets the pool's chunks and
/// marks [address, address + size) NOACCESS; ASan is left unchanged.
void offheap_instr_pool_reset(const void *pool, const void *address, size_t size);
/// A store neither ASan nor TSan checks: for tests that write a slot which a racing reset
/// may have freed and handed to a new owner already (a misuse they provoke on purpose, in
/// order to test the pool's answer; the write races the new owner's by construction).
void offheap_instr_unchecked_store64(void *address, uint64_t value);
/// The matching load (relaxed, single-copy atomic), neither ASan nor TSan checks it.
uint64_t offheap_instr_unchecked_load64(const void *address);
/// ASan only: unpoisons a range (a free that a reset overtook; memcheck is left alone).
void offheap_instr_asan_unpoison(const void *address, size_t size);
/// Undefined but accessible (memcheck); unpoisoned (ASan).
void offheap_instr_undefined(const void *address, size_t size);

#if __has_feature(nullability)
#pragma clang assume_nonnull end
#endif

#endif
