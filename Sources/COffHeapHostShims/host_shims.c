// The host shims that need a single definition per process: the stop flag and the saved
// command line.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "COffHeapHostShims.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t offheap_stop_flag;

static void offheap_stop_handler(int signo) {
    (void)signo;
    offheap_stop_flag = 1;
}

int offheap_install_stop_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = offheap_stop_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0) return -1;
    return sigaction(SIGTERM, &sa, NULL);
}

int offheap_stop_requested(void) { return offheap_stop_flag ? 1 : 0; }

const char *offheap_getenv(const char *name) { return getenv(name); }

// MARK: - Command line (Embedded Swift has no CommandLine)

static int offheap_saved_argc;
static char **offheap_saved_argv;

// glibc calls ELF constructors with (argc, argv, envp), in dynamic and static-pie programs.
__attribute__((constructor)) static void offheap_capture_arguments(int argc, char **argv,
                                                                   char **envp) {
    (void)envp;
    offheap_saved_argc = argc;
    offheap_saved_argv = argv;
}

int offheap_argument_count(void) { return offheap_saved_argv ? offheap_saved_argc : 0; }

const char *offheap_argument(int index) {
    if (!offheap_saved_argv || index < 0 || index >= offheap_saved_argc) return NULL;
    return offheap_saved_argv[index];
}

int offheap_resident_bytes(unsigned long long *current, unsigned long long *peak) {
    *current = 0;
    *peak = 0;
    // Plain read(2) into a stack buffer: no stdio (its buffer comes from malloc, which is
    // the allocator under measurement when a peer is preloaded).
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[4096];
    size_t used = 0;
    for (;;) {
        ssize_t got = read(fd, text + used, sizeof text - 1 - used);
        if (got <= 0) break;
        used += (size_t)got;
        if (used == sizeof text - 1) break;
    }
    close(fd);
    text[used] = 0;
    int found = 0;
    for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned long long *target = NULL;
        if (strncmp(line, "VmRSS:", 6) == 0) target = current;
        else if (strncmp(line, "VmHWM:", 6) == 0) target = peak;
        if (!target) continue;
        unsigned long long kib = 0;
        for (const char *c = line + 6; *c && *c != '\n'; c++) {
            if (*c >= '0' && *c <= '9') kib = kib * 10 + (unsigned long long)(*c - '0');
        }
        *target = kib * 1024;
        found++;
    }
    return found == 2 ? 0 : -1;
}

int offheap_reset_resident_peak(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t wrote = write(fd, "5", 1);
    close(fd);
    return wrote == 1 ? 0 : -1;
}
