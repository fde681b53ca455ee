// A misuse the checked mode must stop: `double` frees a block twice, `interior` frees a
// pointer into the middle of a block. Under liboffheap-malloc.so with OFFHEAP_CHECKED=1 the
// process must abort with one "offheap-malloc: free(): ..." line on stderr.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "double";
    char *block = malloc(64);
    char *keep = malloc(64);  // so the freed block's page stays in use
    if (strcmp(kind, "double") == 0) {
        free(block);
        free(block);
    } else {
        free(block + 8);
    }
    printf("misuse %s: not stopped\n", kind);
    free(keep);
    return 0;
}
