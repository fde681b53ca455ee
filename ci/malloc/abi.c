// The C allocation ABI as POSIX and glibc define it, checked call by call. Built and run by
// ci/malloc/real-programs.sh twice: on glibc alone and under liboffheap-malloc.so; both runs
// must print the same lines ("abi: ok" last). Exit 1 on the first broken promise.
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(condition, what)                                              \
    do {                                                                    \
        if (!(condition)) {                                                 \
            printf("abi: FAILED %s (line %d, errno %d)\n", what, __LINE__, errno); \
            failures++;                                                     \
        }                                                                   \
    } while (0)

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    free(NULL);

    void *zero = malloc(0);
    CHECK(zero != NULL, "malloc(0) returns a unique pointer");
    free(zero);

    for (size_t size = 1; size <= (1u << 22); size = size * 3 + 1) {
        unsigned char *block = malloc(size);
        CHECK(block != NULL && ((uintptr_t)block & 15) == 0, "malloc is 16-byte aligned");
        CHECK(malloc_usable_size(block) >= size, "malloc_usable_size >= the request");
        memset(block, 0xA5, size);
        unsigned char *grown = realloc(block, size * 2 + 7);
        CHECK(grown != NULL, "realloc grows");
        size_t intact = 0;
        for (size_t i = 0; i < size; i++) intact += grown[i] == 0xA5;
        CHECK(intact == size, "realloc keeps the contents");
        unsigned char *shrunk = realloc(grown, size / 2 + 1);
        CHECK(shrunk != NULL && shrunk[0] == 0xA5 && shrunk[size / 2] == 0xA5, "realloc shrinks, keeping the prefix");
        free(shrunk);
    }

    unsigned char *zeroed = calloc(1000, 33);
    size_t nonzero = 0;
    for (size_t i = 0; zeroed && i < 33000; i++) nonzero += zeroed[i] != 0;
    CHECK(zeroed != NULL && nonzero == 0, "calloc zeroes");
    // A recycled block must be zeroed too.
    memset(zeroed, 0xFF, 33000);
    free(zeroed);
    zeroed = calloc(33000, 1);
    nonzero = 0;
    for (size_t i = 0; zeroed && i < 33000; i++) nonzero += zeroed[i] != 0;
    CHECK(zeroed != NULL && nonzero == 0, "calloc zeroes a reused block");
    free(zeroed);

    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "calloc overflow is ENOMEM");
    errno = 0;
    CHECK(reallocarray(NULL, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "reallocarray overflow is ENOMEM");
    errno = 0;
    CHECK(malloc(SIZE_MAX - 4096) == NULL && errno == ENOMEM, "an impossible malloc is ENOMEM");

    void *aligned = NULL;
    CHECK(posix_memalign(&aligned, 3, 64) == EINVAL, "posix_memalign rejects a non-power-of-two");
    CHECK(posix_memalign(&aligned, 4, 64) == EINVAL, "posix_memalign rejects an alignment below sizeof(void *)");
    for (size_t alignment = 8; alignment <= (1u << 21); alignment <<= 1) {
        aligned = NULL;
        CHECK(posix_memalign(&aligned, alignment, 100) == 0 && ((uintptr_t)aligned & (alignment - 1)) == 0,
              "posix_memalign aligns");
        free(aligned);
        void *other = aligned_alloc(alignment, alignment * 2);
        CHECK(other != NULL && ((uintptr_t)other & (alignment - 1)) == 0, "aligned_alloc aligns");
        free(other);
        other = memalign(alignment, 10);
        CHECK(other != NULL && ((uintptr_t)other & (alignment - 1)) == 0, "memalign aligns");
        free(other);
    }
    void *rounded = memalign(48, 10);  // glibc: rounded up to 64
    CHECK(rounded != NULL && ((uintptr_t)rounded & 63) == 0, "memalign rounds 48 up to 64");
    free(rounded);
    void *paged = valloc(10);
    CHECK(paged != NULL && ((uintptr_t)paged & (page - 1)) == 0, "valloc is page aligned");
    free(paged);
    paged = pvalloc(page + 1);
    CHECK(paged != NULL && ((uintptr_t)paged & (page - 1)) == 0 && malloc_usable_size(paged) >= (size_t)(2 * page),
          "pvalloc rounds up to whole pages");
    free(paged);

    CHECK(realloc(malloc(10), 0) == NULL, "realloc(p, 0) frees and returns NULL (glibc)");
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) is 0");

    // strdup/getline/asprintf allocate inside glibc with the interposed malloc.
    char *copy = strdup("offheap");
    CHECK(copy != NULL && strcmp(copy, "offheap") == 0, "strdup");
    free(copy);
    char *text = NULL;
    CHECK(asprintf(&text, "%d-%s", 42, "x") == 4 && strcmp(text, "42-x") == 0, "asprintf");
    free(text);

    printf("abi: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
