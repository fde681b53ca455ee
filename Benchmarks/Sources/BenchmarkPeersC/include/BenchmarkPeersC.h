// Peer allocators for the micro-benchmarks, measured in the same run as ours.
//
// Each peer is a Debian package's shared library opened with dlopen(RTLD_LOCAL) and called
// through its own entry points, so it does not replace the process's malloc and several
// peers coexist in one benchmark process. glibc's malloc is looked up in libc.so.6 itself,
// which bypasses package-benchmark's malloc interposer (it would otherwise count every call).
#ifndef BENCHMARK_PEERS_C_H
#define BENCHMARK_PEERS_C_H

#include <stddef.h>

typedef void *_Nullable (*bp_malloc_fn)(size_t size);
typedef void (*bp_free_fn)(void *_Nullable pointer);

/// Opens `library` (a path or soname) and looks up `mallocName` / `freeName` in it.
/// Returns 0, or -1 when the library or a symbol is missing (the peer is then skipped).
int bp_open_peer(const char *_Nonnull library, const char *_Nonnull mallocName,
                 const char *_Nonnull freeName, bp_malloc_fn _Nullable *_Nonnull mallocOut,
                 bp_free_fn _Nullable *_Nonnull freeOut);

/// The "inline C LIFO" reference: an intrusive free list of fixed-size blocks, the
/// fastest possible single-thread allocator (no checks, no statistics, no thread cache
/// lookup). `bp_lifo_pop` returns NULL when empty.
typedef struct { void *_Nullable head; } bp_lifo;

static inline void *_Nullable bp_lifo_pop(bp_lifo *_Nonnull lifo) {
    void *block = lifo->head;
    if (block) lifo->head = *(void **)block;
    return block;
}

static inline void bp_lifo_push(bp_lifo *_Nonnull lifo, void *_Nonnull block) {
    *(void **)block = lifo->head;
    lifo->head = block;
}

/// The two locked instructions a Hyaline enter+leave needs at the least: a sequentially
/// consistent store of the slot head (x86-64: `xchg`) and a CAS back (`lock cmpxchg`). The
/// hardware floor for the enter+leave target on this machine, measured in the same run.
static inline void bp_store_then_cas(unsigned long long *_Nonnull word) {
    __atomic_store_n(word, 0ULL, __ATOMIC_SEQ_CST);
    unsigned long long expected = 0;
    __atomic_compare_exchange_n(word, &expected, ~0ULL, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

#endif
