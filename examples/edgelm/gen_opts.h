/*
 * gen_opts.h — options shared by `edgelm generate`, `chat` and `eval` (static helpers, one
 * copy per command file).
 */
#ifndef EDGELM_GEN_OPTS_H
#define EDGELM_GEN_OPTS_H

#include "cli_io.h"
#include "edgelm.h"
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GEN_MAX_STOPS 16
#define GEN_MAX_TEMPLATES 16

typedef struct gen_opts {
    const char *model;
    const char *prompt;
    const char *file;      /* -f: the prompt from a file ('-' = stdin) */
    char *file_text;       /* its contents (freed by gen_opts_free) */
    const char *ids;       /* "1,2,3" */
    const char *dec_ids;   /* T5 eval: decoder ids */
    const char *types;     /* BERT eval: token types */
    const char *pair;      /* BERT eval: -b, the second text */
    const char *system;
    const char *out;
    const char *what;
    int chat_template;     /* index into template_names; -1: from the model file */
    const char *template_names[GEN_MAX_TEMPLATES];
    int32_t n_predict;     /* -1: until end of text or a full context */
    int32_t n_threads;
    int32_t n_ctx;
    int32_t beams;         /* T5 */
    float length_penalty;  /* T5 */
    bool ignore_eos;
    bool seed_set, temp_set, ctx_set;
    bool verbose;
    bool kv_f16;
    bool no_repack;
    bool echo;
    bool no_perf;
    bool special;          /* T5: print control tokens */
    const char *stop_v[GEN_MAX_STOPS];
    opt_strs stop;
    bool mlock;
    elm_cache_type type_k, type_v; /* --cache-type-k/-v (DEFAULT: f16) */
    elm_sampler_params sp;
} gen_opts;

static inline void gen_opts_init(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_threads = opts_default_threads();
    o->chat_template = -1;
    o->beams = 1;
    o->length_penalty = 1.0f;
    o->sp = elm_sampler_default_params();
    o->stop = (opt_strs){o->stop_v, 0, GEN_MAX_STOPS};
    int k = 0;
    for (int t = 1; k < GEN_MAX_TEMPLATES - 1; t++) {
        const char *name = elm_chat_template_name((elm_chat_template)t);
        if (!name || !strcmp(name, "unknown")) break;
        o->template_names[k++] = name;
    }
    o->template_names[k] = NULL;
}

static inline void gen_opts_free(gen_opts *o) { free(o->file_text); }

/* A decoder context's parameters from o's runtime options (-c, -t, the cache types). */
static inline elm_ctx_params gen_ctx_params(const gen_opts *o) {
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_threads = o->n_threads;
    cp.kv_f16 = o->kv_f16;
    cp.type_k = o->type_k;
    cp.type_v = o->type_v;
    return cp;
}

/* Option groups of the table (opts.h), shared by generate, chat, eval and the T5 paths. */
#define GEN_DEFS_MODEL(o) \
    OPT_REQ_STR("-m,--model", &(o)->model, "FILE", "the model (GGUF)")
#define GEN_DEFS_PROMPT(o, prompt_help) \
    OPT_STR("-p,--prompt", &(o)->prompt, "TEXT", prompt_help), \
    OPT_STR("-f,--file", &(o)->file, "FILE", "read the prompt from FILE ('-' = stdin; one trailing newline is dropped)"), \
    OPT_STR("--ids", &(o)->ids, "1,2,3", "the prompt as token ids")
#define GEN_DEFS_GENERATION(o) \
    OPT_INT("-n,--predict,--n-predict", &(o)->n_predict, -1, 1 << 24, "N", \
            "tokens to generate (default -1: until end of text or a full context; T5: 64)"), \
    OPT_STRS("--stop", &(o)->stop, "TEXT", "stop before TEXT (repeatable; TEXT itself is not printed)"), \
    OPT_FLAG("--ignore-eos", &(o)->ignore_eos, "do not stop at end-of-text tokens")
#define GEN_DEFS_SAMPLING(o) \
    {.names = "--temp", .kind = OPTK_FLOAT, .dst = &(o)->sp.temp, .meta = "T", \
     .help = "temperature (default 0.8; 0 = greedy; T5 default 0)", .lo = 0, .hi = 1e6, .seen = &(o)->temp_set}, \
    OPT_INT("--top-k", &(o)->sp.top_k, 0, 1 << 24, "K", "keep the K likeliest tokens (default 40; 0 = off)"), \
    OPT_FLOAT_OPEN("--top-p", &(o)->sp.top_p, 0, 1, "P", "nucleus sampling (default 0.95; 1 = off)"), \
    OPT_FLOAT("--min-p", &(o)->sp.min_p, 0, 1, "P", "drop tokens below P times the best (default 0.05; 0 = off)"), \
    OPT_FLOAT("--repeat-penalty", &(o)->sp.repeat_penalty, 0, 1e6, "R", "repetition penalty (default 1 = off)"), \
    OPT_INT("--repeat-last-n", &(o)->sp.repeat_last_n, 0, 1 << 20, "N", "tokens the penalty looks back over (default 64)"), \
    {.names = "--seed", .kind = OPTK_U64, .dst = &(o)->sp.seed, .meta = "S", \
     .help = "random seed (default: from the clock)", .seen = &(o)->seed_set}
#define GEN_DEFS_T5(o) \
    OPT_INT("--beams", &(o)->beams, 1, 16, "K", "T5: beam search with K beams (default 1: greedy or sampling)"), \
    OPT_FLOAT("--length-penalty", &(o)->length_penalty, -100, 100, "A", "T5: beam score = logp / length^A (default 1)"), \
    OPT_FLAG("--special", &(o)->special, "T5: print control tokens (<extra_id_N>, </s>)")
#define GEN_DEFS_RUNTIME(o) \
    OPT_THREADS(&(o)->n_threads), \
    {.names = "-c,--ctx-size", .kind = OPTK_INT, .dst = &(o)->n_ctx, .meta = "N", .help = \
     "KV cache positions (default: the model's, at most 4096; T5: decoder positions, 512); " \
     "a warning above the trained context", .lo = 1, .hi = 1 << 24, .seen = &(o)->ctx_set}, \
    OPT_FUNC("-ctk,--cache-type-k", &(o)->type_k, opt_parse_cache_type, "T", \
             "KV cache type of the keys: f16 (default) or f32 (q8_0 is refused)"), \
    OPT_FUNC("-ctv,--cache-type-v", &(o)->type_v, opt_parse_cache_type, "T", \
             "KV cache type of the values: f16 (default) or f32 (q8_0 is refused)"), \
    OPT_FLAG("--kv-f16", &(o)->kv_f16, "no effect: the KV cache is F16 by default (kept for old scripts)"), \
    OPT_FLAG("--mlock", &(o)->mlock, "lock the weights in RAM (an error names the limit, ulimit -l, when it is too low)"), \
    OPT_FLAG("--no-repack", &(o)->no_repack, \
             "read Q4_0/Q8_0 weights from the mapped file as they are (less memory; by default " \
             "they are copied at load into the interleaved layout the kernels read faster)")
#define GEN_DEFS_OUTPUT(o) \
    OPT_FLAG("--echo", &(o)->echo, "print the prompt before the continuation"), \
    OPT_FLAG("--no-perf", &(o)->no_perf, "no timing summary on stderr"), \
    OPT_FLAG("-v,--verbose", &(o)->verbose, "more messages on stderr")

/* Reads -f into o->prompt (after parsing). Returns false after printing the one-line error. */
static inline bool gen_read_prompt_file(gen_opts *o, const char *cmd) {
    if (!o->file) return true;
    if (o->prompt || o->ids) {
        opts_fail(cmd, "give only one of them", "-p, -f and --ids are alternatives");
        return false;
    }
    return cli_prompt_or_file(cmd, NULL, o->file, &o->prompt, &o->file_text);
}

/* opts_parse, then -f read into the prompt. */
static inline int gen_parse(const opt_cmd *cmd, gen_opts *o, int argc, char **argv) {
    int r = opts_parse(cmd, argc, argv);
    if (r == OPTS_OK && !gen_read_prompt_file(o, cmd->name)) r = OPTS_ERROR;
    return r;
}

/* The warning for -c above the model's trained context. */
static inline void gen_warn_ctx(const gen_opts *o, const char *cmd, int32_t n_ctx_train) {
    if (o->ctx_set && n_ctx_train > 0 && o->n_ctx > n_ctx_train)
        fprintf(stderr, "edgelm %s: warning: -c %d is above the %d positions the model was trained "
                "on: expect worse output past %d\n", cmd, o->n_ctx, n_ctx_train, n_ctx_train);
}

/* Model parameters from the options (no_vocab as the command needs). */
static inline elm_model_params gen_model_params(const gen_opts *o, bool no_vocab) {
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = no_vocab;
    mp.no_repack = o->no_repack;
    mp.mlock = o->mlock;
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
    if (len > (size_t)INT32_MAX / 8) { /* the id buffer's size must fit a 32-bit size_t */
        snprintf(err->msg, sizeof err->msg, "the text is too long (%zu bytes)", len);
        return NULL;
    }
    int64_t cap = (int64_t)len + 8;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return NULL;
    int64_t n = elm_tokenize_text(m, text, len, ids, cap, add_special, true, err);
    if (n > cap) {
        int32_t *b = n <= INT32_MAX / 4 ? realloc(ids, (size_t)n * sizeof *ids) : NULL;
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
