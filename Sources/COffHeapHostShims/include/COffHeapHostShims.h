// COffHeapHostShims: the process-level shims of the workload engine and the executables.
//
// What a program needs and an allocator library must not impose on every process that links
// it: the command line (captured by an ELF constructor), SIGINT/SIGTERM handlers, file
// creation and writes, the environment, process exit, and the system allocator (malloc) the
// workloads compare against. The allocator core (OffHeap) imports only COffHeapShims; this
// module is imported by OffHeapWorkloads and the executables. Like COffHeapShims it is plain
// C over glibc, so the Embedded aarch64 build (ci/build-aarch64.sh) compiles it the same way.
#ifndef COFFHEAPHOSTSHIMS_H
#define COFFHEAPHOSTSHIMS_H

#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if !defined(__clang__)
#define _Nullable
#define _Nonnull
#endif

#if __has_feature(nullability)
#pragma clang assume_nonnull begin
#endif

// MARK: - System allocator (the workloads' baseline and the LD_PRELOAD peers)

/// `malloc`; NULL on failure. Whatever allocator is interposed (LD_PRELOAD) serves it.
static inline void *_Nullable offheap_malloc(size_t size) { return malloc(size); }
/// `posix_memalign`; NULL on failure.
static inline void *_Nullable offheap_aligned_malloc(size_t size, size_t alignment) {
    void *p = NULL;
    if (alignment < sizeof(void *)) alignment = sizeof(void *);
    return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}
static inline void offheap_free(void *_Nullable pointer) { free(pointer); }

// MARK: - Files

/// Creates or truncates `path` for writing (0644); returns a descriptor or -1 (errno).
static inline int offheap_create_file(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}
static inline int offheap_close(int fd) { return close(fd); }
static inline int offheap_isatty(int fd) { return isatty(fd); }
static inline long offheap_write(int fd, const void *buffer, size_t count) {
    return write(fd, buffer, count);
}

// MARK: - Process

/// Flushes stdio and ends the process with `status` (programs report failure this way).
static inline void offheap_exit(int status) { exit(status); }
/// Installs SIGINT/SIGTERM handlers that only set a flag; returns 0 or -1 (errno).
int offheap_install_stop_signal_handlers(void);
/// 1 once SIGINT or SIGTERM arrived after offheap_install_stop_signal_handlers.
int offheap_stop_requested(void);
/// The process's command line, captured by an ELF constructor (glibc passes argc/argv to
/// constructors): Embedded Swift has no `CommandLine`.
int offheap_argument_count(void);
/// Argument `index` (0 = program name) or NULL.
const char *_Nullable offheap_argument(int index);
/// Value of an environment variable or NULL.
const char *_Nullable offheap_getenv(const char *name);

// MARK: - Resident memory

/// The process's resident set now (`VmRSS`) and its peak (`VmHWM`) in bytes, from
/// /proc/self/status; returns 0, or -1 when it cannot be read (both then 0).
int offheap_resident_bytes(unsigned long long *current, unsigned long long *peak);
/// Resets the peak (`VmHWM`) to the current resident set (writes 5 to /proc/self/clear_refs,
/// Linux 4.0+); returns 0 or -1 (errno) when the kernel refuses.
int offheap_reset_resident_peak(void);

#if __has_feature(nullability)
#pragma clang assume_nonnull end
#endif

#endif
