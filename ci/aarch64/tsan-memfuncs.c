// ThreadSanitizer entry points that the Swift frontend's instrumentation calls and that
// GCC 12's libtsan (Debian's libtsan2:arm64) does not export. Linked only into the aarch64
// TSan variant (ci/build-aarch64.sh --variant tsan). The forwarded calls go to the
// interceptors libtsan installs for memcpy/memmove/memset, so the accesses stay checked.
#include <string.h>

void *__tsan_memcpy(void *destination, const void *source, size_t count);
void *__tsan_memmove(void *destination, const void *source, size_t count);
void *__tsan_memset(void *destination, int value, size_t count);

void *__tsan_memcpy(void *destination, const void *source, size_t count) {
    return memcpy(destination, source, count);
}

void *__tsan_memmove(void *destination, const void *source, size_t count) {
    return memmove(destination, source, count);
}

void *__tsan_memset(void *destination, int value, size_t count) {
    return memset(destination, value, count);
}
