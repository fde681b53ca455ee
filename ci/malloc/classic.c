// Classic allocator benchmark programs, written from their published descriptions, for
// ci/malloc/bench-programs.sh (timed under every allocator) — fixed work, so wall time is the
// figure; every block carries a pattern that is checked before it is freed, so each is also a
// correctness test (exit 1 on a corrupted block).
//
//   classic larson        Larson & Krishnan (ISMM 1998), the server simulation: each thread
//                         owns an array of blocks and replaces random ones with blocks of
//                         random size; after each round the array is handed to a new thread,
//                         which frees blocks another thread allocated.
//   classic xmalloc       Lever & Boreham's xmalloc-test: producer threads allocate batches,
//                         consumer threads free them (every free is cross-thread).
//   classic cache-scratch Berger et al.'s Hoard cache-scratch (passive false sharing): each
//                         thread frees a small object the main thread allocated, then
//                         allocates, writes and frees same-size objects many times.
//   classic cache-thrash  Hoard's cache-thrash (active false sharing): each thread allocates,
//                         writes and frees small objects many times.
//   classic mstress       mimalloc-bench's mstress in spirit: threads allocate, reallocate and
//                         free mixed sizes, and hand a share of their blocks to the next thread.
//   classic rptest        rpmalloc's rptest in spirit: RP_THREADS threads, rounds of many blocks
//                         of random sizes (mostly small, a tail up to 128 KiB); each round half of
//                         every thread's blocks go to the next thread, which frees them.
//
// An optional second argument multiplies the work (default 1: the malloc cell's correctness
// runs); ci/malloc/bench-programs.sh passes a larger one so each run lasts long enough to time.
//
// After the run (every block freed) each mode prints VmRSS from /proc/self/status on stderr as
// "rss-after-free-kib N": what the allocator keeps once the program has freed everything
// (bench-programs.sh reports it beside peak RSS, as mimalloc-bench does).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 2
static unsigned long corrupted = 0;
static long scale = 1;  // work multiplier (argv[2])

static uint32_t next_random(uint32_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

// A block: its size in the first word, then bytes derived from the size.
static void *make_block(size_t size) {
    unsigned char *block = malloc(size);
    if (block == NULL) abort();
    memcpy(block, &size, sizeof size);
    for (size_t i = sizeof size; i < size; i += 61) block[i] = (unsigned char)(size + i);
    return block;
}

static void check_and_free(void *pointer) {
    unsigned char *block = pointer;
    size_t size;
    memcpy(&size, block, sizeof size);
    for (size_t i = sizeof size; i < size; i += 61) {
        if (block[i] != (unsigned char)(size + i)) {
            __atomic_add_fetch(&corrupted, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    free(block);
}

// ---------------------------------------------------------------------------------- rptest
#define RP_THREADS 4
#define RP_ROUNDS 200
#define RP_BLOCKS 2000
static void *rp_outbox[RP_THREADS][RP_BLOCKS / 2];
static pthread_barrier_t rp_barrier;

static size_t rp_size(uint32_t r) {
    uint32_t kind = r % 100;
    if (kind < 80) return 16 + r % 496;
    if (kind < 98) return 512 + r % 16000;
    return 16384 + r % 114688;
}

static void *rp_worker(void *argument) {
    int id = (int)(intptr_t)argument;
    uint32_t seed = 1234u + 77u * (uint32_t)id;
    void **blocks = malloc(RP_BLOCKS * sizeof *blocks);
    if (blocks == NULL) abort();
    for (long round = 0; round < RP_ROUNDS * scale; round++) {
        for (int i = 0; i < RP_BLOCKS; i++) blocks[i] = make_block(rp_size(next_random(&seed)));
        for (int i = 0; i < RP_BLOCKS / 2; i++) rp_outbox[id][i] = blocks[RP_BLOCKS / 2 + i];
        pthread_barrier_wait(&rp_barrier);
        // The previous thread's half: cross-thread frees, interleaved with our own.
        int from = (id + RP_THREADS - 1) % RP_THREADS;
        for (int i = 0; i < RP_BLOCKS / 2; i++) {
            check_and_free(rp_outbox[from][i]);
            check_and_free(blocks[i]);
        }
        pthread_barrier_wait(&rp_barrier);
    }
    free(blocks);
    return NULL;
}

static void rptest(void) {
    pthread_t threads[RP_THREADS];
    pthread_barrier_init(&rp_barrier, NULL, RP_THREADS);
    for (int t = 0; t < RP_THREADS; t++) pthread_create(&threads[t], NULL, rp_worker, (void *)(intptr_t)t);
    for (int t = 0; t < RP_THREADS; t++) pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&rp_barrier);
}

// Resident set size now, in KiB (0 when /proc is unavailable).
static long rss_kib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    if (status == NULL) return 0;
    while (fgets(line, sizeof line, status) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(status);
    return kib;
}

// ---------------------------------------------------------------------------------- larson
#define LARSON_SLOTS 1000
#define LARSON_ROUNDS 20
#define LARSON_REPLACEMENTS 40000
struct larson_state {
    void *slots[LARSON_SLOTS];
    uint32_t seed;
    int round;
};

static void *larson_worker(void *argument) {
    struct larson_state *state = argument;
    for (long i = 0; i < LARSON_REPLACEMENTS * scale; i++) {
        int slot = (int)(next_random(&state->seed) % LARSON_SLOTS);
        check_and_free(state->slots[slot]);
        state->slots[slot] = make_block(16 + next_random(&state->seed) % 497);
    }
    if (++state->round < LARSON_ROUNDS) {
        // Hand the array to a new thread, as the server simulation does.
        pthread_t next;
        pthread_create(&next, NULL, larson_worker, state);
        pthread_detach(next);
    } else {
        __atomic_store_n(&state->round, -1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void larson(void) {
    static struct larson_state states[THREADS];
    for (int t = 0; t < THREADS; t++) {
        states[t].seed = 0x9E3779B9u * (uint32_t)(t + 1);
        for (int i = 0; i < LARSON_SLOTS; i++) states[t].slots[i] = make_block(16 + next_random(&states[t].seed) % 497);
        pthread_t thread;
        pthread_create(&thread, NULL, larson_worker, &states[t]);
        pthread_detach(thread);
    }
    for (int t = 0; t < THREADS; t++) {
        while (__atomic_load_n(&states[t].round, __ATOMIC_ACQUIRE) != -1) sched_yield();
        for (int i = 0; i < LARSON_SLOTS; i++) check_and_free(states[t].slots[i]);
    }
}

// --------------------------------------------------------------------------------- xmalloc
#define XM_BATCH 64
#define XM_BATCHES 20000
struct batch {
    struct batch *next;
    void *blocks[XM_BATCH];
};
static struct batch *xm_queue = NULL;
static int xm_producers_left = 1;
static pthread_mutex_t xm_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t xm_ready = PTHREAD_COND_INITIALIZER;

static void *xm_producer(void *unused) {
    (void)unused;
    uint32_t seed = 12345;
    for (long b = 0; b < XM_BATCHES * scale; b++) {
        struct batch *batch = malloc(sizeof *batch);
        for (int i = 0; i < XM_BATCH; i++) batch->blocks[i] = make_block(16 + next_random(&seed) % 240);
        pthread_mutex_lock(&xm_lock);
        batch->next = xm_queue;
        xm_queue = batch;
        pthread_cond_signal(&xm_ready);
        pthread_mutex_unlock(&xm_lock);
    }
    pthread_mutex_lock(&xm_lock);
    xm_producers_left = 0;
    pthread_cond_broadcast(&xm_ready);
    pthread_mutex_unlock(&xm_lock);
    return NULL;
}

static void *xm_consumer(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&xm_lock);
        while (xm_queue == NULL && xm_producers_left) pthread_cond_wait(&xm_ready, &xm_lock);
        struct batch *batch = xm_queue;
        if (batch) xm_queue = batch->next;
        pthread_mutex_unlock(&xm_lock);
        if (!batch) return NULL;
        for (int i = 0; i < XM_BATCH; i++) check_and_free(batch->blocks[i]);
        free(batch);
    }
}

static void xmalloc(void) {
    pthread_t producer, consumer;
    pthread_create(&producer, NULL, xm_producer, NULL);
    pthread_create(&consumer, NULL, xm_consumer, NULL);
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
}

// ------------------------------------------------------------------------ cache-scratch/thrash
#define CACHE_OBJECT 8
#define CACHE_ITERATIONS 2000000
#define CACHE_WRITES 50
struct cache_argument {
    char *given;
    int scratch;
};

static void *cache_worker(void *argument) {
    struct cache_argument *arg = argument;
    if (arg->scratch) free(arg->given);
    for (long i = 0; i < CACHE_ITERATIONS / THREADS * scale; i++) {
        volatile char *object = malloc(CACHE_OBJECT);
        if (!object) abort();
        for (int w = 0; w < CACHE_WRITES; w++) object[w % CACHE_OBJECT] = (char)(object[w % CACHE_OBJECT] + w);
        free((void *)object);
    }
    return NULL;
}

static void cache(int scratch) {
    pthread_t threads[THREADS];
    struct cache_argument arguments[THREADS];
    for (int t = 0; t < THREADS; t++) {
        arguments[t].given = malloc(CACHE_OBJECT);  // neighbours in the main thread's page
        arguments[t].scratch = scratch;
    }
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, cache_worker, &arguments[t]);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    if (!scratch)
        for (int t = 0; t < THREADS; t++) free(arguments[t].given);
}

// --------------------------------------------------------------------------------- mstress
#define MS_SLOTS 4096
#define MS_STEPS 600000
static void *ms_handoff[THREADS][MS_SLOTS / 8];

static void *ms_worker(void *argument) {
    int id = (int)(intptr_t)argument;
    uint32_t seed = 77u + (uint32_t)id;
    void **slots = calloc(MS_SLOTS, sizeof *slots);
    for (long step = 0; step < MS_STEPS / THREADS * scale; step++) {
        int slot = (int)(next_random(&seed) % MS_SLOTS);
        uint32_t r = next_random(&seed);
        size_t size = r % 100 < 90 ? 16 + r % 240 : (r % 100 < 99 ? 256 + r % 8000 : 16384 + r % 200000);
        if (slots[slot] && r % 7 == 0) {
            // realloc keeps the prefix: re-stamp the block for its new size after checking.
            unsigned char *old = slots[slot];
            size_t old_size;
            memcpy(&old_size, old, sizeof old_size);
            check_and_free(make_block(24));  // churn a small block too
            unsigned char *grown = realloc(old, size);
            if (!grown) abort();
            memcpy(grown, &size, sizeof size);
            for (size_t i = sizeof size; i < size; i += 61) grown[i] = (unsigned char)(size + i);
            slots[slot] = grown;
        } else {
            if (slots[slot]) check_and_free(slots[slot]);
            slots[slot] = make_block(size);
        }
    }
    // A share of the blocks goes to the next thread, which frees them.
    for (int i = 0; i < MS_SLOTS / 8; i++) {
        ms_handoff[(id + 1) % THREADS][i] = slots[i];
        slots[i] = NULL;
    }
    for (int i = 0; i < MS_SLOTS; i++)
        if (slots[i]) check_and_free(slots[i]);
    free(slots);
    return NULL;
}

static void mstress(void) {
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, ms_worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < MS_SLOTS / 8; i++)
            if (ms_handoff[t][i]) check_and_free(ms_handoff[t][i]);
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "";
    if (argc > 2) scale = atol(argv[2]);
    if (scale < 1) {
        fprintf(stderr, "classic: the scale must be a positive integer\n");
        return 2;
    }
    if (strcmp(which, "larson") == 0) larson();
    else if (strcmp(which, "xmalloc") == 0) xmalloc();
    else if (strcmp(which, "cache-scratch") == 0) cache(1);
    else if (strcmp(which, "cache-thrash") == 0) cache(0);
    else if (strcmp(which, "mstress") == 0) mstress();
    else if (strcmp(which, "rptest") == 0) rptest();
    else {
        fprintf(stderr, "usage: classic larson|xmalloc|cache-scratch|cache-thrash|mstress|rptest [SCALE]\n");
        return 2;
    }
    fprintf(stderr, "rss-after-free-kib %ld\n", rss_kib());
    printf("classic %s: corrupted %lu\n", which, corrupted);
    return corrupted == 0 ? 0 : 1;
}
