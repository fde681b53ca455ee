// The few shim functions that need a single definition per process.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "COffHeapShims.h"
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

__thread void *offheap_tls_slots[OFFHEAP_TLS_SLOT_COUNT] __attribute__((tls_model("initial-exec")));
__thread unsigned offheap_internal_depth __attribute__((tls_model("initial-exec")));

long offheap_read_file(const char *path, void *buffer, size_t capacity) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t total = 0;
    while (total < capacity) {
        ssize_t n = read(fd, (char *)buffer + total, capacity - total);
        if (n < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0) break;
        total += (size_t)n;
    }
    close(fd);
    return (long)total;
}

int offheap_uname(char *release, size_t releaseCapacity, char *machine, size_t machineCapacity) {
    struct utsname u;
    if (uname(&u) != 0) return -1;
    if (releaseCapacity > 0) {
        strncpy(release, u.release, releaseCapacity - 1);
        release[releaseCapacity - 1] = 0;
    }
    if (machineCapacity > 0) {
        strncpy(machine, u.machine, machineCapacity - 1);
        machine[machineCapacity - 1] = 0;
    }
    return 0;
}

struct offheap_thread_start_box {
    offheap_thread_body body;
    void *context;
};

static void *offheap_thread_trampoline(void *raw) {
    struct offheap_thread_start_box box = *(struct offheap_thread_start_box *)raw;
    free(raw);
    box.body(box.context);
    return NULL;
}

int offheap_thread_start(uint64_t *handle, offheap_thread_body body, void *context,
                         size_t stackSize) {
    struct offheap_thread_start_box *box = malloc(sizeof *box);
    if (!box) return ENOMEM;
    box->body = body;
    box->context = context;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stackSize > 0) pthread_attr_setstacksize(&attr, stackSize);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, offheap_thread_trampoline, box);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(box);
        return rc;
    }
    *handle = (uint64_t)thread;
    return 0;
}

int offheap_thread_join(uint64_t handle) {
    return pthread_join((pthread_t)handle, NULL);
}

int offheap_tls_key_create(uint32_t *key, void (*destructor)(void *)) {
    pthread_key_t k;
    int rc = pthread_key_create(&k, destructor);
    if (rc == 0) *key = (uint32_t)k;
    return rc;
}

int offheap_tls_key_set(uint32_t key, const void *value) {
    return pthread_setspecific((pthread_key_t)key, value);
}

/* Weak reference: resolves to the TSan runtime's entry point when it is linked in, to 0
   otherwise (also in static links). */
extern void __tsan_init(void) __attribute__((weak));

int offheap_thread_sanitizer_active(void) {
    return __tsan_init != 0;
}

// MARK: - Checker instrumentation

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define OFFHEAP_HAVE_MEMCHECK 1
#endif
#endif
#ifndef OFFHEAP_HAVE_MEMCHECK
#define OFFHEAP_HAVE_MEMCHECK 0
#endif

#if __has_feature(address_sanitizer) || defined(__SANITIZE_ADDRESS__)
#define OFFHEAP_HAVE_ASAN 1
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#else
#define OFFHEAP_HAVE_ASAN 0
#endif

// Ranges are told to the checkers up to this many bytes from their start: poisoning writes
// one shadow byte per 8 bytes (a freed 32 TiB huge block would write 4 TiB of shadow), and
// memcheck walks its maps per 64 KiB. A block larger than this is checked in its first
// 64 MiB; leaks and invalid frees are reported for any size (they key on the start).
#define OFFHEAP_INSTR_LIMIT ((size_t)64 << 20)
static inline size_t offheap_instr_capped(size_t size) {
    return size < OFFHEAP_INSTR_LIMIT ? size : OFFHEAP_INSTR_LIMIT;
}

int offheap_instr_capabilities(void) {
    return (OFFHEAP_HAVE_MEMCHECK ? 1 : 0) | (OFFHEAP_HAVE_ASAN ? 2 : 0);
}

void offheap_instr_pool_create(const void *pool) {
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
#else
    (void)pool;
#endif
}

void offheap_instr_pool_destroy(const void *pool) {
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_DESTROY_MEMPOOL(pool);
#else
    (void)pool;
#endif
}

void offheap_instr_pool_alloc(const void *pool, void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_MEMPOOL_ALLOC(pool, address, size);
#endif
#if OFFHEAP_HAVE_ASAN
    __asan_unpoison_memory_region(address, size);
#endif
    (void)pool; (void)address; (void)size;
}

void offheap_instr_pool_free(const void *pool, void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_MEMPOOL_FREE(pool, address);
    VALGRIND_MAKE_MEM_NOACCESS(address, size);
#endif
#if OFFHEAP_HAVE_ASAN
    __asan_poison_memory_region(address, size);
#endif
    (void)pool; (void)address; (void)size;
}

void offheap_instr_no_access(const void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_MAKE_MEM_NOACCESS(address, size);
#endif
#if OFFHEAP_HAVE_ASAN
    __asan_poison_memory_region(address, size);
#endif
    (void)address; (void)size;
}

void offheap_instr_defined(const void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_MAKE_MEM_DEFINED(address, size);
#endif
#if OFFHEAP_HAVE_ASAN
    __asan_unpoison_memory_region(address, size);
#endif
    (void)address; (void)size;
}

void offheap_instr_undefined(const void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_MAKE_MEM_UNDEFINED(address, size);
#endif
#if OFFHEAP_HAVE_ASAN
    __asan_unpoison_memory_region(address, size);
#endif
    (void)address; (void)size;
}

void offheap_instr_asan_unpoison(const void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_ASAN
    __asan_unpoison_memory_region(address, size);
#endif
    (void)address; (void)size;
}

void offheap_instr_pool_reset(const void *pool, const void *address, size_t size) {
    size = offheap_instr_capped(size);
#if OFFHEAP_HAVE_MEMCHECK
    VALGRIND_DESTROY_MEMPOOL(pool);
    VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
    VALGRIND_MAKE_MEM_NOACCESS(address, size);
#endif
    (void)pool; (void)address; (void)size;
}

#if defined(__clang__)
__attribute__((no_sanitize("address", "thread")))
#elif defined(__GNUC__)
__attribute__((no_sanitize_address, no_sanitize_thread))
#endif
void offheap_instr_unchecked_store64(void *address, uint64_t value) {
    *(volatile uint64_t *)address = value;
}

#if defined(__clang__)
__attribute__((no_sanitize("address", "thread")))
#elif defined(__GNUC__)
__attribute__((no_sanitize_address, no_sanitize_thread))
#endif
uint64_t offheap_instr_unchecked_load64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_RELAXED);
}

// membarrier(2) commands (linux/membarrier.h, spelled out: the cross build's headers may lack it).
#define OFFHEAP_MEMBARRIER_CMD_QUERY 0
#define OFFHEAP_MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define OFFHEAP_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)

// 0: not asked yet; 1: registered; 2: unavailable. Written once (CAS from 0), then read-only.
static int offheap_fence_state;

int offheap_asymmetric_fence_prepare(void) {
    int state = __atomic_load_n(&offheap_fence_state, __ATOMIC_ACQUIRE);
    if (state != 0) return state == 1;
    int available = 0;
    // OFFHEAP_MEMBARRIER=0 forces the fallback (SC on both sides): for the checkers' runs of
    // that path, and for environments where membarrier is slow or misbehaves.
    const char *setting = getenv("OFFHEAP_MEMBARRIER");
    int allowed = setting == NULL || setting[0] != '0';
#ifdef SYS_membarrier
    long commands = syscall(SYS_membarrier, OFFHEAP_MEMBARRIER_CMD_QUERY, 0, 0);
    // Racing first calls may both register: registering twice is harmless.
    if (allowed && commands > 0 && (commands & OFFHEAP_MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0
        && syscall(SYS_membarrier, OFFHEAP_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        available = 1;
#endif
    int expected = 0;
    __atomic_compare_exchange_n(&offheap_fence_state, &expected, available ? 1 : 2, 0,
                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&offheap_fence_state, __ATOMIC_ACQUIRE) == 1;
}

int offheap_asymmetric_fence_heavy(void) {
#ifdef SYS_membarrier
    return (int)syscall(SYS_membarrier, OFFHEAP_MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}
