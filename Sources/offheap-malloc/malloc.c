// liboffheap-malloc.so: the C allocation ABI over one process-wide SizeClassHeap
// (MallocHeap.swift, Embedded Swift). Load it with LD_PRELOAD or link it.
//
//   LD_PRELOAD=.build-malloc/x86_64/liboffheap-malloc.so python3 -c 'print(sum(range(10)))'
//
// Who serves what:
//   - the heap serves every call once it is up (the first call creates it);
//   - glibc (`__libc_*`) serves calls made while this thread is already inside an entry
//     point (`inside`: the Swift code's own allocations, dlsym, stdio at exit), calls before
//     the heap is up or after it failed to come up, and alignments above the heap's limit;
//   - free/realloc/malloc_usable_size of a pointer the heap does not own (it came from glibc:
//     before the preload, from the dynamic loader's relocation of libc, or a fallback above)
//     go to glibc too. The heap's segment registry tells them apart without touching the
//     pointer's memory.
// So no entry point is ever re-entered on one thread, and no pointer goes to the wrong free.
//
// Environment (read once, at the first call):
//   OFFHEAP_CHECKED=0|1          checked mode (default 1): a double or invalid free prints one
//                                line on stderr and aborts, like glibc's and mimalloc's
//                                secure modes. 0: the heap's unchecked mode (faster; a double
//                                free is then undefined, as in glibc without tcache checks).
//   OFFHEAP_VERBOSE=1            statistics on stderr at exit (one line per process).
//   OFFHEAP_VERBOSE_FILE=PATH    the same line appended to PATH instead (for programs whose
//                                tests compare their children's stderr).
//   OFFHEAP_SEGMENT_CACHE=N      empty segments kept mapped for reuse (default: the heap's).
//   OFFHEAP_SEGMENT_CACHE_BYTES=N  the same bound in bytes.
//   OFFHEAP_HUGE_CACHE=N         freed huge blocks (> 32 KiB) kept mapped for reuse (default: the heap's).
//   OFFHEAP_HUGE_CACHE_BYTES=N   the same bound in bytes.
//   OFFHEAP_PURGE_DELAY=MS       milliseconds free pages stay committed before they are
//                                decommitted (default: the heap's, 100; 0: at once).
//   OFFHEAP_MEMBARRIER=0         frees announce themselves with a full barrier instead of
//                                relying on membarrier(2) at unmap (the library's fallback).
//   OFFHEAP_DISABLE=1            every call goes straight to glibc (a bisecting aid).
//
// fork(): atfork handlers hold every lock of the heap across the fork (MallocHeap.swift), so a
// child never inherits a lock held by a thread that does not exist there; in the child the
// other threads' blocks leak (their pages stay with records nobody drains), as in mimalloc.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

// MallocHeap.swift.
void *offheap_malloc_heap_create(int32_t checked, intptr_t max_cached_segments,
                                 intptr_t max_cached_segment_bytes, intptr_t huge_cache_count,
                                 intptr_t huge_cache_bytes, intptr_t purge_delay_ms);
void *offheap_malloc_allocate(void *heap, intptr_t byte_count, intptr_t alignment);
void *offheap_malloc_allocate16(void *heap, intptr_t byte_count);
int32_t offheap_malloc_free(void *heap, void *pointer);
intptr_t offheap_malloc_usable_size(void *heap, void *pointer);
void offheap_malloc_statistics(void *heap, uint64_t *out);
void offheap_malloc_fork_prepare(void *heap);
void offheap_malloc_fork_parent(void *heap);
void offheap_malloc_fork_child(void *heap);

enum { FREED = 0, NOT_OURS = 1, DOUBLE_FREE = 2, INVALID = 3 };
enum { STATE_NONE = 0, STATE_STARTING = 1, STATE_READY = 2, STATE_OFF = 3 };

// The heap's largest alignment (SizeClassHeap.maximumAlignment); larger ones go to glibc.
#define HEAP_MAX_ALIGNMENT ((size_t)1 << 20)
#define MALLOC_ALIGNMENT ((size_t)16)

static _Atomic int state = STATE_NONE;
static void *_Atomic heap_pointer;
static int checked_mode = 1;
static int verbose = 0;
// Initial-exec TLS: no allocation, no __tls_get_addr call (a preloaded object gets static TLS).
// The depth lives in the core shim (COffHeapShims), so the library's own internal sections
// (the allocators' thread-exit processing, run by ThreadExitRegistry's pthread key destructor,
// not from an entry point here) count too: an allocation made there goes to glibc, never back
// into a heap that may hold its lock.
extern __thread unsigned offheap_internal_depth __attribute__((tls_model("initial-exec")));
#define inside offheap_internal_depth

static intptr_t env_int(const char *name, intptr_t fallback) {
    const char *text = getenv(name);
    if (text == NULL || *text == '\0') return fallback;
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    return (end != NULL && *end == '\0' && value >= 0) ? (intptr_t)value : fallback;
}

static void report_and_abort(const char *function, void *pointer, int32_t code) {
    // No stdio: this may run with stdio's locks held.
    char line[160];
    const char *what = code == DOUBLE_FREE ? "double free" : "invalid pointer";
    int length = snprintf(line, sizeof line, "offheap-malloc: %s(): %s %p (OFFHEAP_CHECKED=1); aborting\n",
                          function, what, pointer);
    if (length > 0) {
        ssize_t ignored = write(STDERR_FILENO, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
        (void)ignored;
    }
    abort();
}

static void print_statistics(void) {
    void *heap = atomic_load_explicit(&heap_pointer, memory_order_acquire);
    if (heap == NULL) return;
    uint64_t figures[8] = {0};
    inside++;
    offheap_malloc_statistics(heap, figures);
    char line[400];
    int length = snprintf(line, sizeof line,
            "offheap-malloc: pid %d: segments %llu mapped, %llu cached; committed %llu B, in use %llu B; "
            "huge blocks %llu; remote frees %llu; allocations %llu, frees %llu (checked %d)\n", (int)getpid(),
            (unsigned long long)figures[0], (unsigned long long)figures[1], (unsigned long long)figures[2],
            (unsigned long long)figures[3], (unsigned long long)figures[4], (unsigned long long)figures[5],
            (unsigned long long)figures[6], (unsigned long long)figures[7], checked_mode);
    const char *path = getenv("OFFHEAP_VERBOSE_FILE");
    int descriptor = (path != NULL && *path != '\0') ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)
                                                    : STDERR_FILENO;
    if (descriptor >= 0 && length > 0) {
        ssize_t ignored = write(descriptor, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
        (void)ignored;
    }
    if (descriptor >= 0 && descriptor != STDERR_FILENO) close(descriptor);
    inside--;
}

static void fork_prepare(void) {
    inside++;
    offheap_malloc_fork_prepare(atomic_load_explicit(&heap_pointer, memory_order_acquire));
}
static void fork_parent(void) {
    offheap_malloc_fork_parent(atomic_load_explicit(&heap_pointer, memory_order_acquire));
    inside--;
}
static void fork_child(void) {
    offheap_malloc_fork_child(atomic_load_explicit(&heap_pointer, memory_order_acquire));
    inside--;
}

// The heap, creating it on the first call; NULL while another thread creates it (the caller
// then uses glibc for this one call) or when it is off.
static void *start_heap(void) {
    int expected = STATE_NONE;
    if (!atomic_compare_exchange_strong(&state, &expected, STATE_STARTING)) {
        if (expected == STATE_READY) return atomic_load_explicit(&heap_pointer, memory_order_acquire);
        return NULL;
    }
    inside++;
    void *heap = NULL;
    if (env_int("OFFHEAP_DISABLE", 0) == 0) {
        checked_mode = env_int("OFFHEAP_CHECKED", 1) != 0;
        const char *file = getenv("OFFHEAP_VERBOSE_FILE");
        verbose = env_int("OFFHEAP_VERBOSE", 0) != 0 || (file != NULL && *file != '\0');
        heap = offheap_malloc_heap_create(checked_mode, env_int("OFFHEAP_SEGMENT_CACHE", -1),
                                          env_int("OFFHEAP_SEGMENT_CACHE_BYTES", -1),
                                          env_int("OFFHEAP_HUGE_CACHE", -1),
                                          env_int("OFFHEAP_HUGE_CACHE_BYTES", -1),
                                          env_int("OFFHEAP_PURGE_DELAY", -1));
    }
    if (heap != NULL) {
        atomic_store_explicit(&heap_pointer, heap, memory_order_release);
        atomic_store_explicit(&state, STATE_READY, memory_order_release);
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        if (verbose) atexit(print_statistics);
    } else {
        atomic_store_explicit(&state, STATE_OFF, memory_order_release);
    }
    inside--;
    return heap;
}

// The heap if it is up and this thread is not inside an entry point, without starting it
// (free-side calls: a pointer from before the heap existed is glibc's). The pointer is
// published, with release, only once the heap is fully created, and never by a failed start.
static inline void *published_heap(void) {
    return __builtin_expect(inside == 0, 1) ? atomic_load_explicit(&heap_pointer, memory_order_acquire) : NULL;
}

// The heap for a call from outside any entry point, starting it on the first call, or NULL
// (use glibc).
static inline void *ready_heap(void) {
    void *heap = published_heap();
    if (__builtin_expect(heap != NULL, 1) || inside) return heap;
    return start_heap();
}

static void *allocate(size_t size, size_t alignment) {
    void *heap = ready_heap();
    if (heap == NULL || alignment > HEAP_MAX_ALIGNMENT || size > (size_t)INTPTR_MAX)
        return alignment <= MALLOC_ALIGNMENT ? __libc_malloc(size) : __libc_memalign(alignment, size);
    inside++;
    void *block = offheap_malloc_allocate(heap, size == 0 ? 1 : (intptr_t)size, (intptr_t)alignment);
    inside--;
    if (block == NULL) errno = ENOMEM;
    return block;
}

// malloc's fast path: the heap is up, a size the heap takes at malloc's alignment. Anything
// else (the first call, a call from inside, size 0 or huge, a failure) takes allocate().
EXPORT void *malloc(size_t size) {
    void *heap = published_heap();
    if (__builtin_expect(heap != NULL && size - 1 < (size_t)INTPTR_MAX, 1)) {
        // No `inside` here: the Swift fast path makes no call, and its slow path raises the
        // depth itself (MallocHeap.swift).
        void *block = offheap_malloc_allocate16(heap, (intptr_t)size);
        if (__builtin_expect(block != NULL, 1)) return block;
        errno = ENOMEM;
        return NULL;
    }
    return allocate(size, MALLOC_ALIGNMENT);
}

EXPORT void free(void *pointer) {
    if (pointer == NULL) return;
    void *heap = published_heap();
    if (__builtin_expect(heap == NULL, 0)) {
        __libc_free(pointer);
        return;
    }
    int32_t code = offheap_malloc_free(heap, pointer);  // raises `inside` on its slow path
    if (__builtin_expect(code == FREED, 1)) return;
    if (code == NOT_OURS) {
        __libc_free(pointer);
    } else if (checked_mode) {
        report_and_abort("free", pointer, code);
    }
}

EXPORT void *calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (ready_heap() == NULL) return __libc_calloc(count, size);
    void *block = allocate(total, MALLOC_ALIGNMENT);
    if (block != NULL) memset(block, 0, total);
    return block;
}

// The usable size of `pointer`, or -1 when it is glibc's.
static intptr_t usable_size(void *heap, void *pointer, const char *function) {
    inside++;
    intptr_t usable = offheap_malloc_usable_size(heap, pointer);
    inside--;
    if (usable < -1) {
        if (checked_mode) report_and_abort(function, pointer, (int32_t)-usable);
        errno = EINVAL;
    }
    return usable;
}

EXPORT void *realloc(void *pointer, size_t size) {
    if (pointer == NULL) return malloc(size);
    void *heap = published_heap();
    if (heap == NULL) return __libc_realloc(pointer, size);
    if (size == 0) {
        free(pointer);
        return NULL;
    }
    intptr_t usable = usable_size(heap, pointer, "realloc");
    if (usable == -1) return __libc_realloc(pointer, size);
    if (usable < 0) return NULL;
    // Shrinking by less than half keeps the block, as glibc does for in-place shrinks.
    if (size <= (size_t)usable && size >= (size_t)usable / 2) return pointer;
    void *fresh = allocate(size, MALLOC_ALIGNMENT);
    if (fresh == NULL) return NULL;
    memcpy(fresh, pointer, size < (size_t)usable ? size : (size_t)usable);
    free(pointer);
    return fresh;
}

EXPORT void *reallocarray(void *pointer, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(pointer, total);
}

static int power_of_two(size_t value) { return value != 0 && (value & (value - 1)) == 0; }

EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
    if (!power_of_two(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
    int saved = errno;
    void *block = allocate(size, alignment);
    if (block == NULL) return ENOMEM;
    errno = saved;
    *out = block;
    return 0;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    if (!power_of_two(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return allocate(size, alignment < MALLOC_ALIGNMENT ? MALLOC_ALIGNMENT : alignment);
}

EXPORT void *memalign(size_t alignment, size_t size) {
    // glibc rounds a non-power-of-two alignment up to the next power of two.
    size_t rounded = MALLOC_ALIGNMENT;
    while (rounded < alignment) {
        if (rounded > ((size_t)-1 >> 1)) {
            errno = EINVAL;
            return NULL;
        }
        rounded <<= 1;
    }
    return allocate(size, rounded);
}

EXPORT void *valloc(size_t size) { return memalign((size_t)sysconf(_SC_PAGESIZE), size); }

EXPORT void *pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(page, rounded & ~(page - 1));
}

EXPORT size_t malloc_usable_size(void *pointer) {
    if (pointer == NULL) return 0;
    void *heap = published_heap();
    if (heap != NULL) {
        intptr_t usable = usable_size(heap, pointer, "malloc_usable_size");
        if (usable >= 0) return (size_t)usable;
        if (usable < -1) return 0;
    }
    // glibc's own answer for its blocks.
    static size_t (*_Atomic next)(void *);
    size_t (*function)(void *) = atomic_load_explicit(&next, memory_order_acquire);
    if (function == NULL) {
        inside++;
        function = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        inside--;
        if (function == NULL) return 0;
        atomic_store_explicit(&next, function, memory_order_release);
    }
    return function(pointer);
}
