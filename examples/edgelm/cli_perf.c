/* The timing summary of generate / chat / T5 (see cli_perf.h). */
#include "cli_perf.h"

#include <sys/resource.h>
#include <time.h>

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_perf_token(cli_perf *p) {
    if (p->t_first == 0) p->t_first = cli_now();
}

uint64_t cli_peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss < 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux: kilobytes */
}

static double cli_rate(int64_t n, double ms) { return ms > 0 ? 1e3 * (double)n / ms : 0.0; }

void cli_perf_print(const cli_perf *p, FILE *out) {
    const double first = p->t_first > 0 ? p->t_first : p->t_end;
    const double load_ms = 1e3 * (p->t_loaded - p->t_start);
    const double prompt_ms = 1e3 * (first - p->t_run);
    const double gen_ms = 1e3 * (p->t_end - first);
    const int64_t n_after = p->n_gen > 1 ? p->n_gen - 1 : 0;
    fprintf(out, "\nedgelm perf: load time = %.2f ms\n", load_ms);
    fprintf(out, "edgelm perf: prompt eval = %.2f ms / %lld tokens (%.2f tokens/s)\n", prompt_ms,
            (long long)p->n_prompt, cli_rate(p->n_prompt, prompt_ms));
    fprintf(out, "edgelm perf: generation = %.2f ms / %lld tokens (%.2f tokens/s)\n", gen_ms,
            (long long)p->n_gen, cli_rate(n_after, gen_ms));
    fprintf(out, "edgelm perf: total time = %.2f ms, peak RSS = %.1f MiB\n", 1e3 * (p->t_end - p->t_start),
            (double)cli_peak_rss() / (1024.0 * 1024.0));
}
