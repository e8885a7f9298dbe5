/*
 * BERT commands (library: include/edgelm.h, section "BERT"):
 *
 *   edgelm fill-mask -m M -p "Paris is the [MASK] of France." [--top-k 5]
 *   edgelm embed -m M (-p TEXT ... | -f FILE) [--pooling cls|mean|none] [--normalize] [-o OUT.npy]
 *   edgelm nsp -m M -a TEXT -b TEXT
 *   edgelm classify -m M -p TEXT [-b TEXT]
 *   edgelm bert-bench -m M [-t 1,2] [--batch 1,8] [--tokens 128,512] [--reps 3] [-o json]
 *   (every command: --no-repack keeps Q4_0/Q8_0 matrices in the file's layout)
 *   edgelm eval -m BERT.gguf --ids .. [--types ..] -o OUT.npy --what hidden|mlm|nsp|pooled
 *     (reached through `edgelm eval` when the model's architecture is bert)
 */
#include "cli.h"
#include "cli_family.h"
#include "edgelm.h"
#include "cli_io.h"
#include "cli_perf.h"
#include "cli_progress.h"
#include "cli_table.h"
#include "gen_opts.h"
#include "cli_npy.h"
#include "out_guard.h"
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BERT_CLI_MAX_INPUTS 4096

typedef struct bert_opts {
    const char *model, *a, *b, *file, *out;
    const char *text_v[BERT_CLI_MAX_INPUTS];
    opt_strs texts;
    int32_t top_k, n_threads, reps, batch;
    int pooling;          /* index into bert_pool_names; -1: the model's */
    int fmt;              /* bert-bench: CLI_FMT_* */
    opt_ints threads, batches, tokens;
    bool normalize, no_normalize, no_repack, json, verbose;
} bert_opts;

/* --pooling names; max and last are computed here from the per-token vectors. */
static const char *const bert_pool_names[] = {"cls", "mean", "max", "last", "none", NULL};
enum { BERT_POOL_CLS, BERT_POOL_MEAN, BERT_POOL_MAX, BERT_POOL_LAST, BERT_POOL_NONE };

/* The --pooling index of the model's own pooling (sentence: none becomes cls). */
static int bert_model_pool(elm_bert_pooling p, bool sentence) {
    if (p == ELM_BERT_POOL_MEAN) return BERT_POOL_MEAN;
    if (p == ELM_BERT_POOL_LAST) return BERT_POOL_LAST;
    if (p == ELM_BERT_POOL_NONE && !sentence) return BERT_POOL_NONE;
    return BERT_POOL_CLS;
}

static void bert_opts_init(bert_opts *o) {
    memset(o, 0, sizeof *o);
    o->texts = (opt_strs){o->text_v, 0, BERT_CLI_MAX_INPUTS};
    o->top_k = 5;
    o->n_threads = opts_default_threads();
    o->reps = 3;
    o->batch = 8;
    o->pooling = -1;
    o->threads = (opt_ints){{o->n_threads}, 1};
    o->batches = (opt_ints){{1}, 1};
    o->tokens = (opt_ints){{128}, 1};
}

#define BERT_DEFS_MODEL(o) OPT_REQ_STR("-m,--model", &(o)->model, "FILE", "the BERT model (GGUF)")
#define BERT_DEFS_RUNTIME(o) \
    OPT_THREADS(&(o)->n_threads), \
    OPT_FLAG("--no-repack", &(o)->no_repack, "keep Q4_0/Q8_0 matrices in the file's layout"), \
    OPT_FLAG("-v,--verbose", &(o)->verbose, "more messages on stderr")

/* Parses with defs; returns OPTS_OK or the exit status to return (0 after --help). */
static int bert_parse(const opt_cmd *cmd, int argc, char **argv) {
    const int r = opts_parse(cmd, argc, argv);
    return r == OPTS_OK ? OPTS_OK : opts_exit(r) == 0 ? -1 : 2;
}

/* n_seq_max: the most sequences the command runs at once. */
static elm_bert *bert_open(const bert_opts *o, const char *cmd, int32_t n_seq_max) {
    elm_error err = {0};
    elm_bert_params p = elm_bert_default_params();
    p.n_threads = o->n_threads;
    p.no_repack = o->no_repack;
    p.n_seq_max = n_seq_max;
    if (!cli_family_check(cmd, o->model, CLI_BERT)) return NULL;
    const double t0 = cli_now();
    elm_bert *m = elm_bert_load(o->model, &p, &err);
    if (!m) opts_fail_err(cmd, NULL, &err, NULL);
    else if (o->verbose)
        fprintf(stderr, "edgelm %s: loaded %s in %.2f ms: %d layers, %d dims, %d tokens, %d threads\n", cmd, o->model,
                1e3 * (cli_now() - t0), elm_bert_n_layer(m), elm_bert_n_embd(m), elm_bert_n_vocab(m), o->n_threads);
    return m;
}

/* The same message for every missing head: "edgelm CMD: the model has no HEAD head: ...". */
static bool bert_has_head(const elm_bert *m, const char *cmd, const char *head, const char *arch, bool has) {
    (void)m;
    char todo[256];
    snprintf(todo, sizeof todo, "convert a %s checkpoint (without --no-heads)", arch);
    if (!has) opts_fail(cmd, todo, "the model has no %s head", head);
    return has;
}

/* Tokenizes into malloc'd ids/types (with [CLS]/[SEP]). */
static int32_t bert_encode(const elm_bert *m, const char *a, const char *b, int32_t **ids, int32_t **types,
                           elm_error *err) {
    int64_t n = elm_bert_tokenize(m, a, b, true, NULL, NULL, 0, err);
    if (n < 0) return -1;
    *ids = malloc((size_t)(n ? n : 1) * sizeof **ids);
    *types = malloc((size_t)(n ? n : 1) * sizeof **types);
    if (!*ids || !*types) return -1;
    elm_bert_tokenize(m, a, b, true, *ids, *types, n, err);
    return (int32_t)n;
}

float *cli_bert_get(const elm_bert *m, int32_t s, elm_bert_output what, int64_t *n, elm_error *err) {
    const int64_t k = elm_bert_get(m, s, what, NULL, 0, err);
    if (k < 0) return NULL;
    float *v = malloc((size_t)(k ? k : 1) * sizeof *v);
    if (!v) snprintf(err->msg, sizeof err->msg, "out of memory for the results");
    else if (elm_bert_get(m, s, what, v, k, err) < 0) {
        free(v);
        return NULL;
    }
    if (n) *n = k;
    return v;
}

static void softmax(const float *x, int32_t n, double *p) {
    double mx = -INFINITY, s = 0;
    for (int32_t i = 0; i < n; i++) mx = fmax(mx, x[i]);
    for (int32_t i = 0; i < n; i++) s += p[i] = exp((double)x[i] - mx);
    for (int32_t i = 0; i < n; i++) p[i] /= s;
}

/* ---- fill-mask ---- */

int cmd_fill_mask(int argc, char **argv) {
    bert_opts o;
    bert_opts_init(&o);
    const char *text = NULL, *prompt = NULL;
    char *owned = NULL;
    const opt_def defs[] = {
        BERT_DEFS_MODEL(&o),
        OPT_STR("-p,--prompt", &prompt, "TEXT", "a text with one or more [MASK] tokens"),
        OPT_STR("-f,--file", &o.file, "FILE", "read the text from FILE ('-' = stdin; one trailing newline is dropped)"),
        OPT_INT("--top-k", &o.top_k, 1, 1000000, "K", "candidates per mask (default 5)"),
        BERT_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("fill-mask", "-m BERT.gguf (-p \"Paris is the [MASK] of France.\" | -f FILE) [options]",
                         "The likeliest tokens for each [MASK] of the text, with probabilities (the masked-LM head).",
                         defs);
    const int pr = bert_parse(&cmd, argc, argv);
    if (pr) return pr < 0 ? 0 : pr;
    if (!cli_prompt_or_file("fill-mask", prompt, o.file, &text, &owned)) return 2;
    elm_bert *m = bert_open(&o, "fill-mask", 1);
    if (!m) {
        free(owned);
        return 1;
    }
    if (!bert_has_head(m, "fill-mask", "masked-LM", "BertForMaskedLM or BertForPreTraining", elm_bert_has_mlm(m))) {
        elm_bert_free(m);
        free(owned);
        return 1;
    }
    int rc = 1;
    elm_error err = {0};
    int32_t *ids = NULL, *types = NULL, *pos = NULL, n_pos = 0;
    double *p = NULL;
    float *logits = NULL;
    int32_t n = bert_encode(m, text, NULL, &ids, &types, &err);
    int32_t mask = elm_bert_mask_id(m);
    if (n < 0) goto done;
    pos = malloc((size_t)n * sizeof *pos);
    for (int32_t i = 0; pos && i < n; i++)
        if (ids[i] == mask) pos[n_pos++] = i;
    if (n_pos == 0) {
        snprintf(err.msg, sizeof err.msg, "the text has no [MASK] token: put [MASK] where a word should be guessed");
        goto done;
    }
    const int32_t *ip = ids, *tp = types, *pp = pos;
    elm_bert_request rq = {.mlm = true, .mlm_pos = &pp, .n_mlm_pos = &n_pos};
    if (elm_bert_run(m, 1, &ip, &tp, &n, &rq, &err) != ELM_OK) goto done;
    const int32_t V = elm_bert_n_vocab(m);
    if (!(logits = cli_bert_get(m, 0, ELM_BERT_OUT_MLM, NULL, &err))) goto done;
    p = malloc((size_t)V * sizeof *p);
    if (!p) goto done;
    int32_t k = o.top_k < V ? o.top_k : V;
    for (int32_t j = 0; j < n_pos; j++) {
        softmax(logits + (size_t)j * V, V, p);
        printf("mask %d (token %d):\n", j + 1, pos[j]);
        for (int32_t r = 0; r < k; r++) { /* k passes of argmax: k is small */
            int32_t best = 0;
            for (int32_t i = 1; i < V; i++)
                if (p[i] > p[best]) best = i;
            char piece[256];
            elm_bert_token_text(m, best, piece, sizeof piece);
            printf("  %-16s %.4f  (id %d)\n", piece, p[best], best);
            p[best] = -1;
        }
    }
    rc = 0;
done:
    if (rc) opts_fail_err("fill-mask", NULL, &err, "failed");
    free(ids);
    free(types);
    free(pos);
    free(p);
    free(owned);
    free(logits);
    elm_bert_free(m);
    return rc;
}

/* ---- embed ---- */

/* Every line of FILE ('-' = stdin) as an input, blank lines included (a final newline ends the
 * last line; it does not start another); the buffer is kept in *keep. */
static bool bert_read_lines(bert_opts *o, const char *cmd, char **keep) {
    size_t n = 0;
    char *buf = cli_read_all(o->file, &n);
    if (!buf) {
        opts_fail(cmd, "check the path", "cannot read '%s': %s", o->file, strerror(errno));
        return false;
    }
    *keep = buf;
    int count = 0;
    char **lines = cli_split_lines(buf, n, &count);
    if (count < 0) opts_fail(cmd, "use a smaller input", "out of memory for the lines of '%s'", o->file);
    else if (count > o->texts.cap - 1)
        opts_fail(cmd, "split the input", "more than %d lines in '%s'", o->texts.cap - 1, o->file);
    for (int i = 0; i < count && count <= o->texts.cap - 1; i++) o->texts.v[o->texts.n++] = lines[i];
    free(lines);
    return count >= 0 && count <= o->texts.cap - 1;
}

/* Scales each of n rows of E floats to unit length. */
static void bert_normalize_rows(float *v, int64_t n, int32_t E) {
    for (int64_t t = 0; t < n; t++) {
        double ss = 0;
        float *r = v + t * E;
        for (int32_t i = 0; i < E; i++) ss += (double)r[i] * r[i];
        for (int32_t i = 0; i < E; i++) r[i] = (float)(r[i] / fmax(sqrt(ss), 1e-12));
    }
}

/* The sentence vector of sentence b of the last run (k = 1 row), or its n token vectors
 * (pooling none). max and last are computed from the last layer's token vectors. */
static bool bert_pool(const elm_bert *m, int32_t b, int32_t n, int pool, bool norm, float *dst, elm_error *err) {
    const int32_t E = elm_bert_n_embd(m);
    if (pool == BERT_POOL_NONE) {
        if (elm_bert_get(m, b, ELM_BERT_OUT_LAST, dst, (int64_t)n * E, err) < 0) return false;
        if (norm) bert_normalize_rows(dst, n, E);
        return true;
    }
    if (pool == BERT_POOL_MAX || pool == BERT_POOL_LAST) {
        float *h = cli_bert_get(m, b, ELM_BERT_OUT_LAST, NULL, err);
        if (!h) return false;
        memcpy(dst, h + (size_t)(pool == BERT_POOL_LAST ? n - 1 : 0) * (size_t)E, (size_t)E * sizeof *dst);
        for (int32_t t = 1; pool == BERT_POOL_MAX && t < n; t++)
            for (int32_t i = 0; i < E; i++) dst[i] = fmaxf(dst[i], h[(size_t)t * E + i]);
        free(h);
        if (norm) bert_normalize_rows(dst, 1, E);
        return true;
    }
    return elm_bert_embedding(m, b, pool == BERT_POOL_MEAN ? ELM_BERT_POOL_MEAN : ELM_BERT_POOL_CLS, norm, dst, err) ==
           ELM_OK;
}

typedef struct bert_rows {
    float *v;           /* every row, E floats each */
    int64_t n, cap;
    int64_t *first;     /* per sentence: its first row (pooling none: one row per token) */
    int32_t *count;     /* per sentence: its rows */
} bert_rows;

static void bert_print_vec(FILE *out, const float *v, int32_t E, bool json) {
    for (int32_t i = 0; i < E; i++) fprintf(out, json ? (i ? ", %.7g" : "%.7g") : (i ? " %.6g" : "%.6g"), v[i]);
}

/* OpenAI's embeddings response: {"object": "list", "data": [{"object": "embedding", "index": i,
 * "embedding": [...]}], "model": ...}; pooling none gives a list of token vectors per entry. */
static void bert_print_json(const bert_rows *r, int n_sent, int32_t E, bool per_token, const char *model) {
    printf("{\"object\": \"list\", \"data\": [");
    for (int s = 0; s < n_sent; s++) {
        printf("%s\n  {\"object\": \"embedding\", \"index\": %d, \"embedding\": %s", s ? "," : "", s, per_token ? "[" : "");
        for (int32_t t = 0; t < r->count[s]; t++) {
            printf("%s[", t ? ", " : "");
            bert_print_vec(stdout, r->v + (r->first[s] + t) * E, E, true);
            printf("]");
        }
        printf("%s}", per_token ? "]" : "");
    }
    printf("\n], \"model\": \"");
    for (const char *p = model; *p; p++) printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    printf("\"}\n");
}

/* -o FILE.npy: [n, E]; pooling none: [n, T, E] with T the longest sentence, zero-padded. */
static bool bert_write_npy(const char *path, const bert_rows *r, int n_sent, int32_t E, bool per_token, elm_error *err) {
    gl_error ge = {0};
    gl_status st;
    if (!per_token) {
        const int64_t shape[2] = {n_sent, E};
        st = cli_npy_write_f32(path, r->v, 2, shape, &ge);
    } else {
        int32_t T = 1;
        for (int s = 0; s < n_sent; s++) T = r->count[s] > T ? r->count[s] : T;
        float *pad = calloc((size_t)n_sent * (size_t)T * (size_t)E + 1, sizeof *pad);
        if (!pad) {
            snprintf(err->msg, sizeof err->msg, "out of memory for the padded array");
            return false;
        }
        for (int s = 0; s < n_sent; s++)
            memcpy(pad + (size_t)s * T * E, r->v + r->first[s] * E, (size_t)r->count[s] * E * sizeof *pad);
        const int64_t shape[3] = {n_sent, T, E};
        st = cli_npy_write_f32(path, pad, 3, shape, &ge);
        free(pad);
    }
    if (st != GL_OK) snprintf(err->msg, sizeof err->msg, "%s", ge.msg);
    return st == GL_OK;
}

static void bert_rows_free(bert_rows *r) {
    free(r->v);
    free(r->first);
    free(r->count);
    memset(r, 0, sizeof *r);
}

/* Embeds texts[0..n_sent) batch by batch into rows (one row per text; pooling none: one per
 * token); a progress line on a terminal when progress is set. */
static bool bert_embed_all(elm_bert *m, const char *const *texts, int n_sent, int pool, bool norm, int32_t batch,
                           bool progress, bert_rows *rows, elm_error *err) {
    const int32_t E = elm_bert_n_embd(m);
    rows->first = malloc((size_t)n_sent * sizeof *rows->first);
    rows->count = malloc((size_t)n_sent * sizeof *rows->count);
    int32_t **ids = calloc((size_t)batch, sizeof *ids), **types = calloc((size_t)batch, sizeof *types);
    int32_t *n = calloc((size_t)batch, sizeof *n);
    bool ok = rows->first && rows->count && ids && types && n;
    if (!ok) snprintf(err->msg, sizeof err->msg, "out of memory");
    cli_progress prog;
    cli_progress_init(&prog, "embed (sentences)");
    for (int s0 = 0; ok && s0 < n_sent; s0 += batch) {
        if (progress) cli_progress_update(&prog, s0, n_sent);
        const int32_t nb = n_sent - s0 < batch ? n_sent - s0 : batch;
        for (int32_t b = 0; ok && b < nb; b++) ok = (n[b] = bert_encode(m, texts[s0 + b], NULL, &ids[b], &types[b], err)) >= 0;
        ok = ok && elm_bert_run(m, nb, (const int32_t *const *)ids, (const int32_t *const *)types, n, NULL, err) == ELM_OK;
        for (int32_t b = 0; ok && b < nb; b++) {
            const int64_t k = pool == BERT_POOL_NONE ? n[b] : 1;
            if (rows->n + k > rows->cap) {
                rows->cap = (rows->n + k) * 2;
                float *na = realloc(rows->v, (size_t)rows->cap * (size_t)E * sizeof *na);
                if (!na) {
                    snprintf(err->msg, sizeof err->msg, "out of memory");
                    ok = false;
                    break;
                }
                rows->v = na;
            }
            ok = bert_pool(m, b, n[b], pool, norm, rows->v + rows->n * E, err);
            rows->first[s0 + b] = rows->n;
            rows->count[s0 + b] = (int32_t)k;
            rows->n += k;
        }
        for (int32_t b = 0; b < nb; b++) {
            free(ids[b]);
            free(types[b]);
            ids[b] = types[b] = NULL;
        }
    }
    cli_progress_clear(&prog);
    free(ids);
    free(types);
    free(n);
    return ok;
}

int cmd_embed(int argc, char **argv) {
    bert_opts o;
    bert_opts_init(&o);
    const opt_def defs[] = {
        BERT_DEFS_MODEL(&o),
        OPT_STRS("-p,--prompt", &o.texts, "TEXT", "a sentence to embed (repeatable)"),
        OPT_STR("-f,--file", &o.file, "FILE", "one sentence per line ('-' = stdin); every line gives one row, "
                "a blank line the embedding of the empty text ([CLS] [SEP])"),
        OPT_ENUM("--pooling", &o.pooling, bert_pool_names,
                 "sentence vector: [CLS], mean, element-wise max or last token of the last layer; none keeps every "
                 "token's vector (default: the model's, as its converter recorded)"),
        OPT_FLAG("--normalize", &o.normalize, "scale every vector to unit length (default: the model's setting)"),
        OPT_FLAG("--no-normalize", &o.no_normalize, "do not normalize"),
        OPT_INT("--batch", &o.batch, 1, 1024, "N", "sentences per forward pass (default 8)"),
        OPT_STR("-o,--output", &o.out, "FILE.npy", "write float32 [n, dim] (pooling none: [n, tokens, dim], "
                "zero-padded) instead of text"),
        OPT_FLAG("--json", &o.json, "print OpenAI's embeddings response format"),
        BERT_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("embed", "-m BERT.gguf (-p TEXT ... | -f FILE) [options]",
                         "Sentence embeddings, one row per input in order: as text (one vector a line; pooling "
                         "none: a blank line after each sentence), as JSON (--json) or as NumPy (-o).",
                         defs);
    char *keep = NULL;
    const int pr = bert_parse(&cmd, argc, argv);
    if (pr) return pr < 0 ? 0 : pr;
    if (o.normalize && o.no_normalize)
        return opts_fail("embed", "give only one of them", "--normalize and --no-normalize contradict");
    if (o.file && o.texts.n) return opts_fail("embed", "give only one of them", "-p and -f are alternatives");
    if (o.out && o.json) return opts_fail("embed", "give only one of them", "-o and --json are alternatives");
    if (o.file && !bert_read_lines(&o, "embed", &keep)) {
        free(keep);
        return 1;
    }
    if (o.texts.n == 0) {
        free(keep);
        return opts_fail("embed", "give -p TEXT or -f FILE", "nothing to embed");
    }
    elm_bert *m = bert_open(&o, "embed", o.batch < o.texts.n ? o.batch : o.texts.n);
    if (!m) {
        free(keep);
        return 1;
    }
    const elm_bert_pooling model_pool = elm_bert_pooling_type(m);
    const int pool = o.pooling >= 0 ? o.pooling : bert_model_pool(model_pool, false);
    const bool norm = o.normalize ? true : o.no_normalize ? false : elm_bert_normalize(m);
    const int32_t batch = o.batch, E = elm_bert_n_embd(m);
    const int n_sent = o.texts.n;
    int rc = 1;
    elm_error err = {0};
    bert_rows rows = {0};
    if (!bert_embed_all(m, o.texts.v, n_sent, pool, norm, batch, o.file != NULL, &rows, &err)) goto done;
    if (o.out) {
        out_guard_add(o.out, false); /* its temporary file goes on SIGINT/SIGTERM */
        if (!bert_write_npy(o.out, &rows, n_sent, E, pool == BERT_POOL_NONE, &err)) goto done;
        fprintf(stderr, "wrote %s: [%d, %s%d] (%s pooling%s)\n", o.out, n_sent, pool == BERT_POOL_NONE ? "tokens, " : "",
                E, bert_pool_names[pool], norm ? ", normalized" : "");
    } else if (o.json) {
        bert_print_json(&rows, n_sent, E, pool == BERT_POOL_NONE, o.model);
    } else {
        for (int s = 0; s < n_sent; s++) {
            for (int32_t t = 0; t < rows.count[s]; t++) {
                bert_print_vec(stdout, rows.v + (rows.first[s] + t) * E, E, false);
                printf("\n");
            }
            if (pool == BERT_POOL_NONE) printf("\n");
        }
    }
    rc = 0;
done:
    if (rc) opts_fail_err("embed", NULL, &err, "out of memory");
    bert_rows_free(&rows);
    free(keep);
    elm_bert_free(m);
    return rc;
}

/* ---- nsp and classify ---- */

static int bert_pair_cmd(int argc, char **argv, const char *cmd, bool nsp) {
    bert_opts o;
    bert_opts_init(&o);
    const char *a = NULL;
    const opt_def nsp_defs[] = {
        BERT_DEFS_MODEL(&o),
        OPT_REQ_STR("-a", &o.a, "TEXT", "the first sentence"),
        OPT_REQ_STR("-b", &o.b, "TEXT", "the sentence that may follow it"),
        BERT_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_def cls_defs[] = {
        BERT_DEFS_MODEL(&o),
        OPT_STR("-p,--prompt", &o.a, "TEXT", "the text to classify"),
        OPT_STR("-f,--file", &o.file, "FILE", "read the text from FILE ('-' = stdin; one trailing newline is dropped)"),
        OPT_STR("-b", &o.b, "TEXT", "a second text (sentence-pair classifiers)"),
        BERT_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd nsp_cmd = OPT_CMD("nsp", "-m BERT.gguf -a TEXT -b TEXT [options]",
                             "The probability that B follows A (BERT's next-sentence head).", nsp_defs);
    const opt_cmd cls_cmd = OPT_CMD("classify", "-m BERT.gguf (-p TEXT | -f FILE) [-b TEXT] [options]",
                             "A BERT sequence classifier's labels, likeliest first, with probabilities.", cls_defs);
    const int pr = bert_parse(nsp ? &nsp_cmd : &cls_cmd, argc, argv);
    if (pr) return pr < 0 ? 0 : pr;
    char *owned = NULL;
    a = o.a;
    if (!nsp && !cli_prompt_or_file(cmd, o.a, o.file, &a, &owned)) return 2;
    elm_bert *m = bert_open(&o, cmd, 1);
    if (!m) {
        free(owned);
        return 1;
    }
    if (!bert_has_head(m, cmd, nsp ? "next-sentence" : "sequence-classifier",
                       nsp ? "BertForPreTraining or BertForNextSentencePrediction" : "BertForSequenceClassification",
                       nsp ? elm_bert_has_nsp(m) : elm_bert_n_labels(m) > 0)) {
        elm_bert_free(m);
        free(owned);
        return 1;
    }
    int rc = 1;
    elm_error err = {0};
    int32_t *ids = NULL, *types = NULL;
    float *lg = NULL;
    int32_t n = bert_encode(m, a, o.b, &ids, &types, &err);
    if (n < 0) goto done;
    const int32_t *ip = ids, *tp = types;
    elm_bert_request rq = {.nsp = nsp, .classify = !nsp};
    if (elm_bert_run(m, 1, &ip, &tp, &n, &rq, &err) != ELM_OK) goto done;
    if (!(lg = cli_bert_get(m, 0, nsp ? ELM_BERT_OUT_NSP : ELM_BERT_OUT_CLASSES, NULL, &err))) goto done;
    if (nsp) {
        double p[2];
        softmax(lg, 2, p);
        printf("P(B follows A) = %.4f\n", p[0]);
    } else {
        int32_t L = elm_bert_n_labels(m);
        double *p = malloc((size_t)L * sizeof *p);
        if (!p) goto done;
        softmax(lg, L, p);
        for (int32_t r = 0; r < L; r++) {
            int32_t best = 0;
            for (int32_t i = 1; i < L; i++)
                if (p[i] > p[best]) best = i;
            printf("%-20s %.4f\n", elm_bert_label(m, best), p[best]);
            p[best] = -1;
        }
        free(p);
    }
    rc = 0;
done:
    if (rc) opts_fail_err(cmd, NULL, &err, "failed");
    free(ids);
    free(types);
    free(lg);
    elm_bert_free(m);
    free(owned);
    return rc;
}

int cmd_nsp(int argc, char **argv) { return bert_pair_cmd(argc, argv, "nsp", true); }
int cmd_classify(int argc, char **argv) { return bert_pair_cmd(argc, argv, "classify", false); }

/* ---- eval ---- */

int cmd_bert_eval(gen_opts *g) {
    static const char *const whats[] = {"hidden", "mlm", "nsp", "pooled", "logits", NULL};
    const char *what = g->what ? g->what : "hidden";
    if (opts_choice("eval", "--what (BERT)", what, whats) < 0) return 2;
    bert_opts o;
    bert_opts_init(&o);
    o.model = g->model;
    o.n_threads = g->n_threads;
    o.no_repack = g->no_repack;
    o.out = g->out;
    o.b = g->pair;
    o.verbose = g->verbose;
    elm_bert *m = bert_open(&o, "eval", 1);
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    int32_t *ids = NULL, *types = NULL, n = 0, nt = 0;
    float *res = NULL;
    if (g->ids) {
        ids = gen_parse_ids(g->ids, &n);
        if (g->types) types = gen_parse_ids(g->types, &nt);
        if (!ids || (g->types && (!types || nt != n))) {
            snprintf(err.msg, sizeof err.msg, "--ids/--types: comma-separated integers, as many types as ids");
            goto done;
        }
    } else if ((n = bert_encode(m, g->prompt, o.b, &ids, &types, &err)) < 0) {
        goto done;
    }
    if (!strcmp(what, "logits")) {
        rc = bert_eval_logits(m, ids, types, n, o.out, &err);
        goto done;
    }
    const int32_t *ip = ids, *tp = types;
    elm_bert_request rq = {.all_hidden = !strcmp(what, "hidden"), .mlm = !strcmp(what, "mlm"),
                           .nsp = !strcmp(what, "nsp"), .pooled = !strcmp(what, "pooled")};
    if (elm_bert_run(m, 1, &ip, types ? &tp : NULL, &n, &rq, &err) != ELM_OK) goto done;
    const elm_bert_output out = rq.all_hidden ? ELM_BERT_OUT_HIDDEN : rq.mlm ? ELM_BERT_OUT_MLM
                                : rq.nsp ? ELM_BERT_OUT_NSP : ELM_BERT_OUT_POOLED;
    if (!(res = cli_bert_get(m, 0, out, NULL, &err))) goto done;
    gl_error ge = {0};
    gl_status st;
    const int64_t E = elm_bert_n_embd(m);
    out_guard_add(o.out, false); /* its temporary file goes on SIGINT/SIGTERM */
    if (rq.all_hidden) {
        int64_t shape[3] = {elm_bert_n_layer(m) + 1, n, E};
        st = cli_npy_write_f32(o.out, res, 3, shape, &ge);
    } else if (rq.mlm) {
        int64_t shape[2] = {n, elm_bert_n_vocab(m)};
        st = cli_npy_write_f32(o.out, res, 2, shape, &ge);
    } else if (rq.nsp) {
        int64_t shape[1] = {2};
        st = cli_npy_write_f32(o.out, res, 1, shape, &ge);
    } else {
        int64_t shape[1] = {E};
        st = cli_npy_write_f32(o.out, res, 1, shape, &ge);
    }
    if (st != GL_OK) {
        snprintf(err.msg, sizeof err.msg, "%s", ge.msg);
        goto done;
    }
    rc = 0;
done:
    if (rc) opts_fail_err("eval", NULL, &err, "failed");
    free(ids);
    free(types);
    free(res);
    elm_bert_free(m);
    return rc;
}

/* ---- bench ---- */

/* Sentences of T random token ids (a fixed generator), B of them encoded in one graph per run
 * (the encoder only, no head); the first run warms up, then reps timed runs. Table: the best
 * run; -o json: every run, like llama-bench's JSON (avg_ts and samples_ts in tokens/s). */
int cmd_bert_bench(int argc, char **argv) {
    bert_opts o;
    bert_opts_init(&o);
    const opt_def defs[] = {
        BERT_DEFS_MODEL(&o),
        OPT_FUNC("-t,--threads", &o.threads, opt_parse_int_list, "LIST", "thread counts, e.g. 1,2 (default: " OPT_THREADS_DEFAULT ")"),
        OPT_FUNC("--batch", &o.batches, opt_parse_int_list, "LIST", "sentences per run, e.g. 1,8 (default 1)"),
        OPT_FUNC("--tokens", &o.tokens, opt_parse_int_list, "LIST", "tokens per sentence, e.g. 128,512 (default 128; at most the model's context)"),
        OPT_INT("-r,--repetitions,--reps", &o.reps, 1, 1000, "R", "timed runs after a warm-up (default 3)"),
        OPT_ENUM("-o,--output", &o.fmt, cli_fmt_names, "md: the best run per row; csv; json: every run, like llama-bench's JSON"),
        OPT_FLAG("--no-repack", &o.no_repack, "keep Q4_0/Q8_0 matrices in the file's layout"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("bert-bench", "-m BERT.gguf [options]",
                         "BERT encoder speed: sentences of random token ids, B of them per forward pass (no head).",
                         defs);
    const int pr = bert_parse(&cmd, argc, argv);
    if (pr) return pr < 0 ? 0 : pr;
    const int32_t *th = o.threads.v, *bs = o.batches.v, *ts = o.tokens.v;
    const int nth = o.threads.n, nbs = o.batches.n, nts = o.tokens.n;
    const bool json = o.fmt == CLI_FMT_JSON;
    static const char *const cols[] = {"threads", "batch", "tokens", "sentences/s", "tokens/s"};
    static const bool numeric[] = {true, true, true, true, true};
    cli_table tab = {stdout, o.fmt, cols, numeric, 5, 0};
    if (json)
        printf("[");
    else
        cli_table_begin(&tab);
    double *samples = malloc((size_t)o.reps * sizeof *samples);
    if (!samples) return 1;
    int n_out = 0;
    for (int a = 0; a < nth; a++) {
        o.n_threads = th[a];
        int32_t max_b = 1;
        for (int b = 0; b < nbs; b++) max_b = bs[b] > max_b ? bs[b] : max_b;
        elm_bert *m = bert_open(&o, "bert-bench", max_b);
        if (!m) {
            free(samples);
            return 1;
        }
        for (int k = 0; k < nts; k++) {
            int32_t T = ts[k] < elm_bert_n_ctx(m) ? ts[k] : elm_bert_n_ctx(m);
            for (int b = 0; b < nbs; b++) {
                int32_t B = bs[b];
                int32_t *ids = malloc((size_t)T * (size_t)B * sizeof *ids), *n = malloc((size_t)B * sizeof *n);
                const int32_t **ip = malloc((size_t)B * sizeof *ip);
                if (!ids || !n || !ip) {
                    free(ids), free(n), free(ip), free(samples);
                    elm_bert_free(m);
                    return 1;
                }
                uint64_t r = 12345;
                for (int64_t i = 0; i < (int64_t)T * B; i++) {
                    r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                    ids[i] = (int32_t)((r >> 33) % (uint64_t)elm_bert_n_vocab(m));
                }
                for (int32_t s = 0; s < B; s++) {
                    n[s] = T;
                    ip[s] = ids + (size_t)s * T;
                }
                double best = 1e30, sum = 0;
                elm_error err = {0};
                for (int rep = 0; rep <= o.reps; rep++) { /* the first run warms up */
                    double t0 = cli_now();
                    if (elm_bert_run(m, B, ip, NULL, n, NULL, &err) != ELM_OK) {
                        opts_fail_err("bert-bench", NULL, &err, NULL);
                        free(ids), free(n), free(ip), free(samples);
                        elm_bert_free(m);
                        return 1;
                    }
                    double dt = cli_now() - t0;
                    if (rep == 0) continue;
                    if (dt < best) best = dt;
                    samples[rep - 1] = dt;
                    sum += (double)B * T / dt;
                }
                if (json) {
                    const double avg = sum / o.reps;
                    double var = 0;
                    for (int i = 0; i < o.reps; i++) {
                        const double d = (double)B * T / samples[i] - avg;
                        var += d * d;
                    }
                    printf("%s\n  {\"test\": \"bert%d\", \"n_threads\": %d, \"batch\": %d, \"n_tokens\": %d, "
                           "\"repacked_bytes\": %lld, \"avg_ts\": %.3f, \"stddev_ts\": %.3f, \"sentences_per_s\": %.4f, "
                           "\"samples_ts\": [",
                           n_out++ ? "," : "", T, th[a], B, T, (long long)elm_bert_repacked_bytes(m), avg,
                           o.reps > 1 ? sqrt(var / (o.reps - 1)) : 0.0, avg / T);
                    for (int i = 0; i < o.reps; i++) printf("%s%.3f", i ? ", " : "", (double)B * T / samples[i]);
                    printf("]}");
                } else {
                    char c[5][32];
                    snprintf(c[0], 32, "%d", th[a]);
                    snprintf(c[1], 32, "%d", B);
                    snprintf(c[2], 32, "%d", T);
                    snprintf(c[3], 32, "%.2f", B / best);
                    snprintf(c[4], 32, "%.0f", (double)B * T / best);
                    const char *cells[] = {c[0], c[1], c[2], c[3], c[4]};
                    cli_table_row(&tab, cells);
                }
                fflush(stdout);
                free(ids);
                free(n);
                free(ip);
            }
        }
        elm_bert_free(m);
    }
    if (json) printf("\n]\n");
    else cli_table_end(&tab);
    free(samples);
    return 0;
}

/* ---- similarity ---- */

/* The cosine similarity of unit vectors a and b. */
static double bert_dot(const float *a, const float *b, int32_t E) {
    double s = 0;
    for (int32_t i = 0; i < E; i++) s += (double)a[i] * b[i];
    return s;
}

/* Prints the k lines most similar to the query (row q), best first: score, line number, text. */
static void bert_print_top_k(const bert_rows *r, int q, const char *const *texts, int n, int32_t E, int32_t k) {
    double *score = malloc((size_t)n * sizeof *score);
    if (!score) return;
    for (int i = 0; i < n; i++) score[i] = bert_dot(r->v + (int64_t)q * E, r->v + (int64_t)i * E, E);
    for (int32_t j = 0; j < k && j < n; j++) { /* k passes of argmax: k is small */
        int best = 0;
        for (int i = 1; i < n; i++)
            if (score[i] > score[best]) best = i;
        printf("%.4f\t%d\t%s\n", score[best], best + 1, texts[best]);
        score[best] = -INFINITY;
    }
    free(score);
}

int cmd_similarity(int argc, char **argv) {
    bert_opts o;
    bert_opts_init(&o);
    const char *query = NULL;
    const opt_def defs[] = {
        BERT_DEFS_MODEL(&o),
        OPT_REQ_STR("-f,--file", &o.file, "FILE", "the sentences, one per line ('-' = stdin; blank lines count)"),
        OPT_STR("-p,--prompt", &query, "QUERY", "print the --top-k lines most similar to QUERY instead of the matrix"),
        OPT_INT("--top-k", &o.top_k, 1, 1000000, "K", "neighbours printed for a query (default 5)"),
        OPT_ENUM("--pooling", &o.pooling, bert_pool_names, "sentence vector (default: the model's); not none"),
        OPT_INT("--batch", &o.batch, 1, 1024, "N", "sentences per forward pass (default 8)"),
        BERT_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("similarity", "-m BERT.gguf -f FILE [-p QUERY [--top-k K]] [options]",
                                "Cosine similarities of sentence embeddings: without -p, the n x n matrix of the "
                                "lines of FILE (row i, column j: line i against line j, 4 decimals, tab-separated); "
                                "with -p, the K most similar lines to QUERY as score, line number (from 1) and text.",
                                defs);
    const int pr = bert_parse(&cmd, argc, argv);
    if (pr) return pr < 0 ? 0 : pr;
    if (o.pooling == BERT_POOL_NONE)
        return opts_fail("similarity", "use cls, mean, max or last", "--pooling none gives no sentence vector");
    char *keep = NULL;
    if (!bert_read_lines(&o, "similarity", &keep)) {
        free(keep);
        return 1;
    }
    if (o.texts.n == 0) {
        free(keep);
        return opts_fail("similarity", "give a file with one sentence per line", "'%s' has no lines", o.file) - 1;
    }
    if (query) o.texts.v[o.texts.n] = query; /* the query is embedded last (the cap keeps one slot) */
    const int n = o.texts.n + (query != NULL);
    elm_bert *m = bert_open(&o, "similarity", o.batch < n ? o.batch : n);
    if (!m) {
        free(keep);
        return 1;
    }
    const elm_bert_pooling model_pool = elm_bert_pooling_type(m);
    const int pool = o.pooling >= 0 ? o.pooling : bert_model_pool(model_pool, true);
    const int32_t E = elm_bert_n_embd(m);
    elm_error err = {0};
    bert_rows rows = {0};
    int rc = 1;
    if (bert_embed_all(m, o.texts.v, n, pool, true, o.batch, true, &rows, &err)) {
        if (query) {
            bert_print_top_k(&rows, n - 1, o.texts.v, n - 1, E, o.top_k);
        } else {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++)
                    printf(j ? "\t%.4f" : "%.4f", bert_dot(rows.v + (int64_t)i * E, rows.v + (int64_t)j * E, E));
                printf("\n");
            }
        }
        rc = 0;
    } else {
        opts_fail_err("similarity", NULL, &err, "out of memory");
    }
    bert_rows_free(&rows);
    free(keep);
    elm_bert_free(m);
    return rc;
}
