// exitrelease: pages released at thread exit. Thread A allocates 20000 blocks of 512 B, the
// main thread checks and frees every one of them remotely while A waits, then A exits: its
// exit processing collects the remote frees and releases the emptied pages, and with
// OFFHEAP_SEGMENT_CACHE=0 unmaps their segments. That processing runs from a pthread key
// destructor, outside malloc's entry points, and allocated (a Swift array) under the heap's
// lock: the allocation came back into the heap and the thread deadlocked on its own lock
// (found by stress-ng --malloc). 20 rounds; exit 0 and one line when all is well.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { BLOCKS = 20000, SIZE = 512, ROUNDS = 20 };
static void *blocks[BLOCKS];
static atomic_int phase;

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(SIZE);
        if (!blocks[i]) abort();
        memset(blocks[i], 0x5a, SIZE);
    }
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2) sched_yield();
    return NULL;
}

int main(void) {
    // A hang (the bug this program was written for: a deadlock in the exit processing) ends
    // the run with SIGALRM instead of holding the matrix until its timeout.
    alarm(60);
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&phase, 0);
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker, NULL) != 0) return 2;
        while (atomic_load(&phase) != 1) sched_yield();
        for (int i = 0; i < BLOCKS; i++) {
            unsigned char *b = blocks[i];
            if (b[0] != 0x5a || b[SIZE - 1] != 0x5a) { fprintf(stderr, "corrupted\n"); return 1; }
            free(b);
        }
        atomic_store(&phase, 2);
        pthread_join(thread, NULL);
    }
    printf("exit-release: %d rounds of %d blocks freed remotely, pages released at thread exit\n", ROUNDS, BLOCKS);
    return 0;
}
