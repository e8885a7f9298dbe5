/*
 * cli_stop.h — streamed output with stop strings (--stop, repeatable): text is written as it
 * comes, except a tail that could still grow into a stop string; when a stop string appears
 * the output ends right before it.
 */
#ifndef EDGELM_CLI_STOP_H
#define EDGELM_CLI_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct cli_stop {
    const char *const *stops;
    int n_stops;
    FILE *out;
    char *held;       /* text not yet written (could begin a stop string) */
    size_t n_held, cap_held;
    bool stopped;
} cli_stop;

void cli_stop_init(cli_stop *s, const char *const *stops, int n_stops, FILE *out);
/* Adds text; returns false once a stop string has been seen (nothing after it is written). */
bool cli_stop_push(cli_stop *s, const char *text, size_t len);
/* Writes what is held (at the end of the output) and frees the buffer. */
void cli_stop_finish(cli_stop *s);

#endif
