/*
 * gen_opts.h — options shared by `edgelm generate`, `chat` and `eval` (static helpers, one
 * copy per command file).
 */
#ifndef EDGELM_GEN_OPTS_H
#define EDGELM_GEN_OPTS_H

#include "edgelm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct gen_opts {
    const char *model;
    const char *prompt;
    const char *ids;       /* "1,2,3" */
    const char *system;
    const char *chat_template;
    const char *out;
    const char *what;
    int32_t n_predict;     /* -1: until end of text or a full context */
    int32_t n_threads;
    int32_t n_ctx;
    bool ignore_eos;
    bool seed_set;
    bool verbose;
    bool kv_f16;
    bool no_repack;
    elm_sampler_params sp;
} gen_opts;

static inline void gen_opts_init(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_threads = 1;
    o->sp = elm_sampler_default_params();
}

static inline bool gen_parse_int(const char *s, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int32_t)v;
    return true;
}

static inline bool gen_parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

/* Parses argv[*i] (and its value). Returns 1 when it was a known option, 0 when not, -1 on a
 * bad or missing value (message printed). */
static inline int gen_parse_opt(gen_opts *o, int argc, char **argv, int *i, const char *cmd) {
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
#define GEN_IS(x) (!strcmp(a, x))
    bool flag = true;
    if (GEN_IS("--ignore-eos")) o->ignore_eos = true;
    else if (GEN_IS("--verbose") || GEN_IS("-v")) o->verbose = true;
    else if (GEN_IS("--kv-f16")) o->kv_f16 = true;
    else if (GEN_IS("--no-repack")) o->no_repack = true;
    else flag = false;
    if (flag) return 1;
    static const char *const with_value[] = {
        "-m", "--model", "-p", "--prompt", "--ids", "-sys", "--system", "--chat-template",
        "-o", "--output", "--what", "-n", "--n-predict", "-t", "--threads", "-c", "--ctx-size",
        "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n",
        "--seed"};
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        if (GEN_IS(with_value[k])) known = true;
    if (!known) return 0;
    if (!v) {
        fprintf(stderr, "edgelm %s: %s needs a value\n", cmd, a);
        return -1;
    }
    (*i)++;
    bool ok = true;
    if (GEN_IS("-m") || GEN_IS("--model")) o->model = v;
    else if (GEN_IS("-p") || GEN_IS("--prompt")) o->prompt = v;
    else if (GEN_IS("--ids")) o->ids = v;
    else if (GEN_IS("-sys") || GEN_IS("--system")) o->system = v;
    else if (GEN_IS("--chat-template")) o->chat_template = v;
    else if (GEN_IS("-o") || GEN_IS("--output")) o->out = v;
    else if (GEN_IS("--what")) o->what = v;
    else if (GEN_IS("-n") || GEN_IS("--n-predict")) ok = gen_parse_int(v, -1, 1 << 24, &o->n_predict);
    else if (GEN_IS("-t") || GEN_IS("--threads")) ok = gen_parse_int(v, 1, 512, &o->n_threads);
    else if (GEN_IS("-c") || GEN_IS("--ctx-size")) ok = gen_parse_int(v, 0, 1 << 20, &o->n_ctx);
    else if (GEN_IS("--temp")) ok = gen_parse_float(v, &o->sp.temp);
    else if (GEN_IS("--top-k")) ok = gen_parse_int(v, 0, 1 << 24, &o->sp.top_k);
    else if (GEN_IS("--top-p")) ok = gen_parse_float(v, &o->sp.top_p);
    else if (GEN_IS("--min-p")) ok = gen_parse_float(v, &o->sp.min_p);
    else if (GEN_IS("--repeat-penalty")) ok = gen_parse_float(v, &o->sp.repeat_penalty);
    else if (GEN_IS("--repeat-last-n")) ok = gen_parse_int(v, 0, 1 << 20, &o->sp.repeat_last_n);
    else if (GEN_IS("--seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        ok = !errno && end != v && !*end;
        o->sp.seed = s;
        o->seed_set = true;
    }
#undef GEN_IS
    if (!ok) fprintf(stderr, "edgelm %s: bad value '%s' for %s\n", cmd, v, a);
    return ok ? 1 : -1;
}

/* Model parameters from the options (no_vocab as the command needs). */
static inline elm_model_params gen_model_params(const gen_opts *o, bool no_vocab) {
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = no_vocab;
    mp.no_repack = o->no_repack;
    return mp;
}

/* Without --seed, each run draws differently. */
static inline void gen_default_seed(gen_opts *o) {
    if (!o->seed_set) o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
}

/* Parses "1,2,3" (spaces allowed) into a malloc'ed array. */
static inline int32_t *gen_parse_ids(const char *s, int32_t *n_out) {
    size_t cap = 16;
    int32_t n = 0, *ids = malloc(cap * sizeof *ids);
    const char *p = s;
    while (ids && *p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX) {
            free(ids);
            return NULL;
        }
        if ((size_t)n == cap) {
            int32_t *b = realloc(ids, 2 * cap * sizeof *ids);
            if (!b) {
                free(ids);
                return NULL;
            }
            ids = b;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (ids && n == 0) {
        free(ids);
        return NULL;
    }
    *n_out = n;
    return ids;
}

/* Tokenizes text into a malloc'ed array. */
static inline int32_t *gen_tokenize(const elm_model *m, const char *text, size_t len,
                                    bool add_special, int32_t *n_out, elm_error *err) {
    int64_t cap = (int64_t)len + 8;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return NULL;
    int64_t n = elm_tokenize_text(m, text, len, ids, cap, add_special, true, err);
    if (n > cap) {
        int32_t *b = realloc(ids, (size_t)n * sizeof *ids);
        if (!b) {
            free(ids);
            return NULL;
        }
        ids = b;
        n = elm_tokenize_text(m, text, len, ids, n, add_special, true, err);
    }
    if (n < 0 || n > INT32_MAX) {
        free(ids);
        return NULL;
    }
    *n_out = (int32_t)n;
    return ids;
}

#endif /* EDGELM_GEN_OPTS_H */
