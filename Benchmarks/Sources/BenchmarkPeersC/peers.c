#include "BenchmarkPeersC.h"

#include <dlfcn.h>

int bp_open_peer(const char *library, const char *mallocName, const char *freeName,
                 bp_malloc_fn *mallocOut, bp_free_fn *freeOut) {
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) return -1;
    void *allocate = dlsym(handle, mallocName);
    void *release = dlsym(handle, freeName);
    if (allocate == NULL || release == NULL) return -1;  // the handle stays open: harmless
    *mallocOut = (bp_malloc_fn)allocate;
    *freeOut = (bp_free_fn)release;
    return 0;
}
