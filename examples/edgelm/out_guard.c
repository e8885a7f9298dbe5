/*
 * out_guard.c — see out_guard.h. The handler only calls unlink(2), signal(2) and raise(3)
 * (async-signal-safe); the paths are formatted when registered.
 */
#include "out_guard.h"

#include "ggml-lite.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_GUARD_MAX 16
static char out_guard_paths[OUT_GUARD_MAX][4096];
static volatile sig_atomic_t out_guard_n;

static void out_guard_on_signal(int sig) {
    for (int i = 0; i < out_guard_n; i++) unlink(out_guard_paths[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void out_guard_push(const char *path) {
    if (out_guard_n >= OUT_GUARD_MAX || strlen(path) >= sizeof out_guard_paths[0]) return;
    strcpy(out_guard_paths[out_guard_n], path);
    out_guard_n = out_guard_n + 1;
}

bool out_guard_add(const char *target, bool also_target) {
    if (!target) return false;
    if (out_guard_n == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = out_guard_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    char tmp[4096];
    if (gl_tmp_path(target, tmp, sizeof tmp)) out_guard_push(tmp);
    if (also_target) out_guard_push(target);
    struct stat sb; /* (a device such as /dev/null is written in place, not replaced) */
    return stat(target, &sb) == 0 && S_ISREG(sb.st_mode);
}

void out_guard_report(const char *cmd, const char *target, bool existed) {
    if (existed) fprintf(stderr, "edgelm %s: replaced the existing %s\n", cmd, target);
}
