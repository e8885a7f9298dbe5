/*
 * cli_progress.h — a progress line with an ETA on stderr, drawn only when stderr is a terminal
 * (silent in pipes, logs and tests): "  quantizing: 45% (9/20) 0:03 elapsed, ETA 0:04".
 */
#ifndef EDGELM_CLI_PROGRESS_H
#define EDGELM_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_progress {
    const char *label;
    bool tty, drawn;
    bool verbose; /* -v: cli_progress_space speaks off a terminal too */
    double t0, last;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *label);
/* done of total (any unit; the ETA assumes a steady rate), at most ~10 redraws a second. */
void cli_progress_update(cli_progress *p, double done, double total);
/* A (user, done, total) callback for the library's progress hooks: user is a cli_progress. */
void cli_progress_fn(void *user, int64_t done, int64_t total);
/* Erases the line (before other output, and at the end). */
void cli_progress_clear(cli_progress *p);
/* gl_space_fn for a writer (user: the cli_progress): "writing PATH: N MB, M MB free" on stderr,
 * before the first byte is written, on a terminal or with -v. */
void cli_progress_space(void *user, const char *path, uint64_t need, uint64_t avail);

#endif
