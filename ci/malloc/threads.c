// Cross-thread frees, thread churn and fork under the interposed malloc: producers allocate
// blocks of varying size and fill them with a pattern derived from (thread, sequence);
// consumers on other threads check the pattern and free them; short-lived threads allocate
// and exit with blocks still live, freed later by main; then main forks 120 times while two
// threads keep allocating and freeing (huge blocks too, which map and unmap segments under
// the heap's locks) and starting threads (whose exit takes the heap directory's lock): each
// child allocates and frees, huge blocks included, under a 10 s alarm — a lock inherited
// from a thread that does not exist in the child hangs it and the alarm kills it. Prints one
// deterministic summary line; exit 1 on any corrupted block or failed child. An optional
// argument divides the work (`threads 4` under QEMU, where every futex is a system call); a
// second argument `qemu` leaves out the fork storm (QEMU user mode itself hangs forking a
// multi-threaded guest, with glibc's malloc as with ours).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRODUCERS 4
static unsigned PER_PRODUCER = 200000;
static int CHURN_ROUNDS = 200, FORKS = 120;
#define RING 4096

struct ring {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned char *slots[RING];
    size_t head, tail, finished;
};
static struct ring ring = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};
static unsigned long corrupted = 0, consumed = 0;

static size_t size_of(unsigned seed) { return 8 + (seed * 2654435761u) % 2040; }

static void *produce(void *argument) {
    unsigned id = (unsigned)(uintptr_t)argument;
    for (unsigned i = 0; i < PER_PRODUCER; i++) {
        unsigned seed = id * PER_PRODUCER + i;
        size_t size = size_of(seed);
        unsigned char *block = malloc(size);
        if (!block) abort();
        memcpy(block, &seed, sizeof seed);
        memset(block + sizeof seed, (int)(seed & 0xFF), size - sizeof seed);
        pthread_mutex_lock(&ring.lock);
        while (ring.head - ring.tail == RING) pthread_cond_wait(&ring.changed, &ring.lock);
        ring.slots[ring.head++ % RING] = block;
        pthread_cond_broadcast(&ring.changed);
        pthread_mutex_unlock(&ring.lock);
    }
    pthread_mutex_lock(&ring.lock);
    ring.finished++;
    pthread_cond_broadcast(&ring.changed);
    pthread_mutex_unlock(&ring.lock);
    return NULL;
}

static void *consume(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&ring.lock);
        while (ring.head == ring.tail && ring.finished < PRODUCERS) pthread_cond_wait(&ring.changed, &ring.lock);
        if (ring.head == ring.tail) {
            pthread_mutex_unlock(&ring.lock);
            return NULL;
        }
        unsigned char *block = ring.slots[ring.tail++ % RING];
        consumed++;
        pthread_cond_broadcast(&ring.changed);
        pthread_mutex_unlock(&ring.lock);
        unsigned seed;
        memcpy(&seed, block, sizeof seed);
        size_t size = size_of(seed);
        for (size_t i = sizeof seed; i < size; i++) {
            if (block[i] != (unsigned char)(seed & 0xFF)) {
                __atomic_add_fetch(&corrupted, 1, __ATOMIC_RELAXED);
                break;
            }
        }
        free(block);
    }
}

static void *leave_blocks(void *argument) {
    void **out = argument;
    for (int i = 0; i < 64; i++) {
        out[i] = malloc(32 + 16 * i);
        memset(out[i], i, 32 + 16 * i);
    }
    return NULL;
}

static volatile int storm_stop = 0;

static void *short_thread(void *unused) {
    (void)unused;
    free(malloc(100));
    return NULL;
}

static void *storm(void *argument) {
    unsigned seed = (unsigned)(uintptr_t)argument;
    while (!__atomic_load_n(&storm_stop, __ATOMIC_RELAXED)) {
        seed = seed * 1103515245u + 12345u;
        size_t size = (seed >> 8) % 4 == 0 ? (size_t)(2 + (seed >> 12) % 6) << 20 : 16 + (seed >> 8) % 4000;
        unsigned char *block = malloc(size);
        if (!block) abort();
        block[0] = 1;
        block[size - 1] = 2;
        free(block);
        if ((seed >> 4) % 64 == 0) {
            pthread_t thread;
            if (pthread_create(&thread, NULL, short_thread, NULL) == 0) pthread_join(thread, NULL);
        }
    }
    return NULL;
}

static int fork_storm(void) {
    pthread_t threads[2];
    for (unsigned i = 0; i < 2; i++) pthread_create(&threads[i], NULL, storm, (void *)(uintptr_t)(i + 1));
    int failed = 0;
    for (int round = 0; round < FORKS; round++) {
        usleep(500);
        pid_t child = fork();
        if (child == 0) {
            alarm(10);
            void *blocks[200];
            for (int i = 0; i < 200; i++) blocks[i] = malloc(i % 50 == 0 ? (size_t)3 << 20 : 24 + (size_t)i * 8);
            for (int i = 0; i < 200; i++) free(blocks[i]);
            pthread_t thread;
            if (pthread_create(&thread, NULL, short_thread, NULL) == 0) pthread_join(thread, NULL);
            _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }
    __atomic_store_n(&storm_stop, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    return failed;
}

int main(int argc, char **argv) {
    int divisor = argc > 1 ? atoi(argv[1]) : 1;
    if (divisor > 1) {
        PER_PRODUCER /= (unsigned)divisor;
        CHURN_ROUNDS /= divisor;
        FORKS /= divisor;
    }
    pthread_t producers[PRODUCERS], consumers[2];
    for (unsigned i = 0; i < PRODUCERS; i++) pthread_create(&producers[i], NULL, produce, (void *)(uintptr_t)i);
    for (int i = 0; i < 2; i++) pthread_create(&consumers[i], NULL, consume, NULL);
    for (unsigned i = 0; i < PRODUCERS; i++) pthread_join(producers[i], NULL);
    for (int i = 0; i < 2; i++) pthread_join(consumers[i], NULL);

    unsigned long churn_bad = 0;
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        void *blocks[64];
        pthread_t thread;
        pthread_create(&thread, NULL, leave_blocks, blocks);
        pthread_join(thread, NULL);  // the thread is gone; its blocks are freed here
        for (int i = 0; i < 64; i++) {
            unsigned char *block = blocks[i];
            if (block[0] != (unsigned char)i || block[31 + 16 * i] != (unsigned char)i) churn_bad++;
            free(block);
        }
    }

    pid_t child = fork();
    if (child == 0) {
        void *blocks[1000];
        for (int i = 0; i < 1000; i++) blocks[i] = malloc(24 + i);
        for (int i = 0; i < 1000; i++) free(blocks[i]);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);

    int storm = !(argc > 2 && strcmp(argv[2], "qemu") == 0);
    int storm_failures = storm ? fork_storm() : 0;
    printf("threads: consumed %lu, corrupted %lu, churn corrupted %lu, fork child %s, forks during a storm: %s\n",
           consumed, corrupted, churn_bad, WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAILED",
           storm ? (storm_failures == 0 ? "0 failed" : "FAILED") : "not run");
    return corrupted == 0 && churn_bad == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && storm_failures == 0
               ? 0 : 1;
}
