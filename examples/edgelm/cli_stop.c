/* Stop strings over streamed output (see cli_stop.h). */
#include "cli_stop.h"

#include <stdlib.h>
#include <string.h>

void cli_stop_init(cli_stop *s, const char *const *stops, int n_stops, FILE *out) {
    memset(s, 0, sizeof *s);
    s->stops = stops;
    s->n_stops = n_stops;
    s->out = out;
}

/* Length of the longest tail of the held text that is a proper prefix of a stop string. */
static size_t cli_stop_partial(const cli_stop *s) {
    size_t best = 0;
    for (int k = 0; k < s->n_stops; k++) {
        const size_t ls = strlen(s->stops[k]);
        for (size_t t = ls > 1 ? ls - 1 : 0; t > best; t--)
            if (t <= s->n_held && !memcmp(s->held + s->n_held - t, s->stops[k], t)) {
                best = t;
                break;
            }
    }
    return best;
}

bool cli_stop_push(cli_stop *s, const char *text, size_t len) {
    if (s->stopped) return false;
    if (s->n_stops == 0) {
        fwrite(text, 1, len, s->out);
        fflush(s->out);
        return true;
    }
    if (s->n_held + len + 1 > s->cap_held) {
        const size_t cap = 2 * (s->n_held + len + 1);
        char *b = realloc(s->held, cap);
        if (!b) return false;
        s->held = b;
        s->cap_held = cap;
    }
    memcpy(s->held + s->n_held, text, len);
    s->n_held += len;
    s->held[s->n_held] = '\0';
    size_t cut = s->n_held;
    for (int k = 0; k < s->n_stops; k++) {
        if (!s->stops[k][0]) continue;
        const char *hit = strstr(s->held, s->stops[k]); /* held text has no NUL bytes of its own */
        if (hit && (size_t)(hit - s->held) < cut) cut = (size_t)(hit - s->held);
    }
    if (cut < s->n_held) {
        fwrite(s->held, 1, cut, s->out);
        fflush(s->out);
        s->n_held = 0;
        s->stopped = true;
        return false;
    }
    const size_t keep = cli_stop_partial(s);
    fwrite(s->held, 1, s->n_held - keep, s->out);
    fflush(s->out);
    memmove(s->held, s->held + s->n_held - keep, keep);
    s->n_held = keep;
    return true;
}

void cli_stop_finish(cli_stop *s) {
    if (!s->stopped && s->n_held) fwrite(s->held, 1, s->n_held, s->out);
    fflush(s->out);
    free(s->held);
    s->held = NULL;
    s->n_held = s->cap_held = 0;
}
