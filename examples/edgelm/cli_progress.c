/* Progress with an ETA on a terminal (see cli_progress.h). */
#include "cli_progress.h"

#include "cli_perf.h"

#include <stdio.h>
#include <unistd.h>

void cli_progress_init(cli_progress *p, const char *label) {
    p->label = label;
    p->tty = isatty(fileno(stderr)) != 0;
    p->drawn = false;
    p->verbose = false;
    p->t0 = cli_now();
    p->last = 0;
}

static void cli_progress_time(char *buf, size_t size, double s) {
    const long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_update(cli_progress *p, double done, double total) {
    if (!p->tty || total <= 0) return;
    const double now = cli_now();
    if (p->drawn && now - p->last < 0.1 && done < total) return;
    p->last = now;
    const double frac = done / total > 1 ? 1 : done / total;
    const double elapsed = now - p->t0;
    char el[32], eta[32] = "?";
    cli_progress_time(el, sizeof el, elapsed);
    if (frac > 0) cli_progress_time(eta, sizeof eta, elapsed * (1 - frac) / frac);
    fprintf(stderr, "\r\033[K  %s: %3.0f%% (%.0f/%.0f) %s elapsed, ETA %s", p->label, 100 * frac, done, total, el, eta);
    fflush(stderr);
    p->drawn = true;
}

void cli_progress_fn(void *user, int64_t done, int64_t total) {
    cli_progress_update(user, (double)done, (double)total);
}

void cli_progress_clear(cli_progress *p) {
    if (!p->drawn) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = false;
}

void cli_progress_space(void *user, const char *path, uint64_t need, uint64_t avail) {
    cli_progress *p = user;
    if (!p->tty && !p->verbose) return;
    cli_progress_clear(p);
    if (avail == UINT64_MAX) fprintf(stderr, "writing %s: %.1f MB (free space unknown)\n", path, need / 1e6);
    else fprintf(stderr, "writing %s: %.1f MB, %.1f MB free\n", path, need / 1e6, avail / 1e6);
}
