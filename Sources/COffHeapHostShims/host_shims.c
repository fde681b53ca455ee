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
