/*
 * cli_perf.h — the timing summary generate, chat and T5 print on stderr after a run (as
 * llama.cpp's perf lines do; --no-perf silences it):
 *
 *   edgelm perf: load time = 12.34 ms
 *   edgelm perf: prompt eval = 5.67 ms / 9 tokens (1587.30 tokens/s)
 *   edgelm perf: generation = 45.67 ms / 31 tokens (678.77 tokens/s)
 *   edgelm perf: total time = 63.68 ms, peak RSS = 12.3 MiB
 *
 * "prompt eval" runs from the start of the run to the first generated token (the prompt's
 * forward pass and the first sampling); "generation" covers the tokens after the first.
 */
#ifndef EDGELM_CLI_PERF_H
#define EDGELM_CLI_PERF_H

#include <stdint.h>
#include <stdio.h>

typedef struct cli_perf {
    double t_start, t_loaded, t_run, t_first, t_end; /* cli_now() seconds; 0 = not reached */
    int64_t n_prompt, n_gen;
} cli_perf;

double cli_now(void); /* CLOCK_MONOTONIC seconds */
/* Records the first generated token's time (call from the token callback). */
void cli_perf_token(cli_perf *p);
void cli_perf_print(const cli_perf *p, FILE *out);
/* Peak resident set size of this process in bytes (getrusage), 0 when unknown. */
uint64_t cli_peak_rss(void);

#endif
