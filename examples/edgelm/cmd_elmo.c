/*
 * edgelm elmo -m M.gguf -f SENTENCES.txt -o OUTDIR [--all|--top|--average] [--batch B] [--stateful]
 *             [--mix s0,s1,s2 [--gamma G]] [-t N]      (options: the table in cmd_elmo)
 *   One sentence per line, whitespace-tokenised. Writes OUTDIR/sentence_<k>.npy (k from 0 in
 *   input order): float32 [n_layers + 1, n_tokens, 2 * projection_dim], or with --mix the
 *   scalar mix gamma * sum_j softmax(s)_j * layer_j as [n_tokens, 2 * projection_dim].
 *   With --task HEAD.gguf (from `edgelm finetune` on this ELMo model: the learnt scalar mix and
 *   a classifier on the mean vector, cli_elmo_task.c) no arrays are written: each sentence's
 *   label and its probability are printed, one line each, tab-separated.
 *   Sentences go through the model in batches of B (default 16) in input order; with
 *   --stateful row r of each batch continues the LSTM states of row r of the previous batch.
 *
 * edgelm elmo-bench -m M.gguf [-t 1,2] [--batch 32] [--tokens 20] [--reps 3]
 *   Tokens per second for batches of random words, achieved GFLOP/s (from the model's
 *   multiply-adds per token) and, for comparison, ggml-lite's F32 mat-mat GFLOP/s measured in
 *   the same run (4096 x 4096 weights times 64 columns).
 */
#include "cli.h"
#include "cli_elmo_task.h"
#include "cli_family.h"
#include "cli_io.h"
#include "cli_progress.h"
#include "cli_perf.h"
#include "cli_table.h"
#include "opts.h"
#include "edgelm.h"
#include "ggml-lite.h"
#include "cli_hdf5.h"
#include "cli_npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ELMO_CLI_MAX_LAYERS 17

typedef struct elmo_sentence {
    char *line;     /* the line as read (for sentence_to_index) */
    char *text;     /* the line, split in place */
    char **words;
    int32_t n;
} elmo_sentence;

/* Splits text into words in place (ASCII whitespace, as Python's str.split for these files). */
static void elmo_cli_split(elmo_sentence *s) {
    int32_t cap = 0;
    char *p = s->text;
    for (;;) {
        while (*p && strchr(" \t\r\n\f\v", *p)) p++;
        if (!*p) break;
        char *e = p;
        while (*e && !strchr(" \t\r\n\f\v", *e)) e++;
        if (s->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **w = realloc(s->words, (size_t)cap * sizeof *w);
            if (!w) break;
            s->words = w;
        }
        s->words[s->n++] = p;
        if (!*e) break;
        *e = '\0';
        p = e + 1;
    }
}

/* Every line of path ('-' = stdin) as a sentence (a blank line gives a sentence of no words). */
static elmo_sentence *elmo_cli_read(const char *path, int *n_out) {
    size_t len = 0;
    char *buf = cli_read_all(path, &len);
    *n_out = -1;
    if (!buf) {
        opts_fail("elmo", "check the path", "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    int n = 0;
    char **lines = cli_split_lines(buf, len, &n);
    elmo_sentence *v = n > 0 ? calloc((size_t)n, sizeof *v) : NULL;
    int ok = 0;
    for (; v && ok < n; ok++) {
        v[ok].text = strdup(lines[ok]);
        v[ok].line = strdup(lines[ok]);
        if (!v[ok].text || !v[ok].line) {
            free(v[ok].text);
            free(v[ok].line);
            break;
        }
        elmo_cli_split(&v[ok]);
    }
    free(lines);
    free(buf);
    if (n < 0 || (n > 0 && ok < n)) {
        opts_fail("elmo", "use a smaller input", "out of memory reading '%s'", path);
        for (int i = 0; i < ok; i++) {
            free(v[i].text);
            free(v[i].line);
            free(v[i].words);
        }
        free(v);
        return NULL;
    }
    *n_out = n;
    return v;
}

static bool elmo_cli_parse_floats(const char *s, float *out, int max, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || *n >= max || !isfinite(v)) return false;
        out[(*n)++] = (float)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return false;
    }
    return *n > 0;
}

/* Where the vectors go: DIR/sentence_<k>.npy, or one HDF5 file in AllenNLP's layout. */
typedef struct elmo_sink {
    const char *dir;
    cli_h5w *h5;
} elmo_sink;

static bool elmo_is_hdf5_path(const char *path) {
    const size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".hdf5")) || (n > 3 && !strcmp(path + n - 3, ".h5"));
}

/* One sentence's output: every layer, the top one, or a scalar mix. */
typedef struct elmo_output {
    const float *layers; /* [n_layers][n_tokens][dim] */
    int32_t n_layers, n_tokens, dim;
    bool top, mixed;
    const float *weights; /* the mix's (NULL: equal) */
    float gamma;
} elmo_output;

static bool elmo_write(const elmo_sink *sink, const elm_elmo *m, int k, const elmo_output *o, char *why, size_t size) {
    float *mixed = NULL;
    const float *data = o->layers;
    int64_t shape[3] = {o->n_layers, o->n_tokens, o->dim};
    int rank = 3;
    if (o->top || o->mixed) {
        rank = 2;
        shape[0] = o->n_tokens;
        shape[1] = o->dim;
    }
    if (o->top) data = o->layers + (size_t)(o->n_layers - 1) * o->n_tokens * o->dim;
    else if (o->mixed) {
        mixed = malloc(((size_t)o->n_tokens * o->dim + 1) * sizeof *mixed);
        elm_error me = {0};
        if (!mixed || elm_elmo_mix(m, o->layers, o->n_tokens, o->weights, o->gamma, mixed, &me) != ELM_OK) {
            snprintf(why, size, "%s", mixed ? me.msg : "out of memory");
            free(mixed);
            return false;
        }
        data = mixed;
    }
    gl_error ge = {0};
    gl_status st;
    if (sink->h5) {
        char name[32];
        snprintf(name, sizeof name, "%d", k);
        st = cli_h5w_f32(sink->h5, name, rank, shape, data, &ge);
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/sentence_%d.npy", sink->dir, k);
        st = cli_npy_write_f32(path, data, rank, shape, &ge);
    }
    free(mixed);
    if (st != GL_OK) snprintf(why, size, "%s", ge.msg);
    return st == GL_OK;
}

/* A growing text buffer. */
typedef struct elmo_text {
    char *p;
    size_t n, cap;
    bool bad;
} elmo_text;

static void elmo_text_put(elmo_text *t, const char *s, size_t n) {
    if (t->bad) return;
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->n + n + 1) cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q) {
            t->bad = true;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
}

/* Appends s[0..n) as a JSON string. */
static void elmo_json_str(elmo_text *t, const char *s, size_t n) {
    elmo_text_put(t, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", c);
        else if (c < 0x20) snprintf(esc, sizeof esc, "\\u%04x", c);
        else esc[0] = (char)c, esc[1] = '\0';
        elmo_text_put(t, esc, strlen(esc));
    }
    elmo_text_put(t, "\"", 1);
}

/* AllenNLP's sentence_to_index: {"sentence": "k", ...} (the line without surrounding
 * whitespace; a repeated sentence maps to its last index, as a Python dict would). */
static bool elmo_finish_hdf5(elmo_sink *sink, const elmo_sentence *sents, int n_sent) {
    elmo_text t = {0};
    elmo_text_put(&t, "{", 1);
    for (int i = 0; i < n_sent; i++) {
        const char *line = sents[i].line, *e = line + strlen(line);
        while (*line && strchr(" \t\r\n\f\v", *line)) line++;
        while (e > line && strchr(" \t\r\n\f\v", e[-1])) e--;
        char idx[24];
        snprintf(idx, sizeof idx, "%d", i);
        elmo_json_str(&t, line, (size_t)(e - line));
        elmo_text_put(&t, ": ", 2);
        elmo_json_str(&t, idx, strlen(idx));
        if (i + 1 < n_sent) elmo_text_put(&t, ", ", 2);
    }
    elmo_text_put(&t, "}", 1);
    gl_error ge = {0};
    gl_status st = t.bad ? GL_ERR_NOMEM : cli_h5w_string(sink->h5, "sentence_to_index", t.p, &ge);
    free(t.p);
    if (st == GL_OK) st = cli_h5w_close(sink->h5, &ge);
    else cli_h5w_abort(sink->h5);
    sink->h5 = NULL;
    if (st != GL_OK) opts_fail_err("elmo", NULL, &ge, "out of memory");
    return st == GL_OK;
}

/* --mix: "equal" or one comma-separated weight per layer (counted against the model later). */
typedef struct elmo_mix_opt {
    float s[ELMO_CLI_MAX_LAYERS];
    int n;      /* 0: not given */
    bool equal;
} elmo_mix_opt;

static bool elmo_parse_mix(const char *v, void *dst, char *why, size_t why_size) {
    elmo_mix_opt *m = dst;
    m->equal = !strcmp(v, "equal");
    if (m->equal || elmo_cli_parse_floats(v, m->s, ELMO_CLI_MAX_LAYERS, &m->n)) {
        if (m->equal) m->n = 0;
        return true;
    }
    snprintf(why, why_size, "give \"equal\" or one comma-separated number per layer, e.g. 0,0,0");
    return false;
}

int cmd_elmo(int argc, char **argv) {
    const char *model = NULL, *input = NULL, *outdir = NULL, *task_path = NULL;
    int32_t batch = 16, threads = opts_default_threads();
    bool stateful = false, all = false, top = false, average = false, mix_given = false;
    float gamma = 1.0f;
    elmo_mix_opt mix = {{0}, 0, false};
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &model, "FILE", "ELMo model (GGUF from `edgelm convert` of an AllenNLP / bilm-tf folder)"),
        OPT_STR("-f,--file,-i", &input, "FILE", "one sentence per line, whitespace-tokenised ('-' = stdin; a blank "
                "line is a sentence of no tokens)"),
        OPT_STR("-o,--output", &outdir, "OUT.hdf5|DIR", "OUT.hdf5 (or .h5): one HDF5 file in AllenNLP's layout, a dataset "
                    "per sentence named by its index plus sentence_to_index (JSON {sentence: index} as a one-element "
                    "string); otherwise a folder of DIR/sentence_<k>.npy, k from 0 in input order"),
        OPT_FLAG("--all", &all, "every layer: float32 [layers, tokens, 2*proj] (the default)"),
        OPT_FLAG("--top", &top, "the top layer only: [tokens, 2*proj]"),
        OPT_FLAG("--average", &average, "the mean of the layers: [tokens, 2*proj]"),
        {.names = "--mix", .kind = OPTK_FUNC, .dst = &mix, .fn = elmo_parse_mix, .meta = "s0,s1,..",
         .help = "the scalar mix gamma * sum_j softmax(s)_j layer_j: [tokens, 2*proj]; one weight per layer "
                 "(\"equal\" = all 0)", .seen = &mix_given},
        OPT_FLOAT("--gamma", &gamma, -1e6, 1e6, "G", "scale of the mix (default 1)"),
        OPT_STR("--task", &task_path, "HEAD.gguf", "a task head from `edgelm finetune` on this model (learnt mix and "
                "classifier): prints each sentence's label and probability instead of writing arrays"),
        OPT_INT("--batch", &batch, 1, 4096, "B", "sentences per batch (default 16)"),
        OPT_FLAG("--stateful", &stateful, "row r of each batch continues the LSTM state of row r of the previous batch "
                 "(as the bilm-tf reference tests do); default: every batch from zero"),
        OPT_THREADS(&threads),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("elmo", "-m ELMO.gguf -f SENTENCES.txt -o DIR [options]",
                                "ELMo embeddings of every sentence (line) of the input as NumPy arrays.", defs);
    const int pr = opts_parse(&cmd, argc, argv);
    if (pr != OPTS_OK) return opts_exit(pr);
    if (all + top + average + mix_given > 1)
        return opts_fail("elmo", "give only one of them", "--all, --top, --average and --mix are alternatives");
    if (!input) return opts_fail("elmo", "give -f FILE ('-' = stdin)", "no input");
    if (task_path && (all || top || average || mix_given || outdir))
        return opts_fail("elmo", "give --task alone", "--task prints labels: no -o, --all, --top, --average or --mix");
    if (!task_path && !outdir) return opts_fail("elmo", "give -o OUT.hdf5|DIR (or --task HEAD.gguf)", "no output");
    elm_elmo_params p = elm_elmo_default_params();
    p.n_threads = threads;
    p.stateful = stateful;
    elm_error err = {0};
    if (!cli_family_check("elmo", model, CLI_ELMO)) return 1;
    elm_elmo *m = elm_elmo_load(model, &p, &err);
    if (!m) {
        opts_fail_err("elmo", NULL, &err, NULL);
        return 1;
    }
    const int32_t nl = elm_elmo_n_layers(m), dim = elm_elmo_dim(m);
    float s[ELMO_CLI_MAX_LAYERS];
    int ns = 0;
    if (mix_given && !mix.equal && mix.n != nl) {
        elm_elmo_free(m);
        return opts_fail("elmo", "give one weight per layer", "--mix has %d weights; the model has %d layers", mix.n, nl);
    }
    memcpy(s, mix.s, sizeof s);
    ns = mix.n;
    if (average) { /* equal weights, gamma 1: the mean of the layers */
        ns = 0;
        gamma = 1.0f;
    }
    const bool mixed_out = mix_given || top || average;
    int n_sent = 0;
    elmo_sentence *sents = elmo_cli_read(input, &n_sent);
    if (!sents) { /* the reason is printed, unless there was none */
        if (n_sent == 0) opts_fail("elmo", "give a file with one sentence per line", "'%s' has no lines", input);
        elm_elmo_free(m);
        return 1;
    }
    elmo_sink sink = {.dir = outdir};
    elmo_task task = {0};
    char tmsg[512] = "";
    float probs[4096];
    if (task_path && !elmo_task_load(task_path, &task, tmsg, sizeof tmsg)) {
        fprintf(stderr, "edgelm elmo: %s\n", tmsg);
        elm_elmo_free(m);
        return 1;
    }
    if (task_path) {
        sink.dir = NULL;
    } else if (elmo_is_hdf5_path(outdir)) {
        gl_error ge = {0};
        sink.dir = NULL;
        sink.h5 = cli_h5w_create(outdir, &ge);
        if (!sink.h5) {
            opts_fail_err("elmo", NULL, &ge, NULL);
            elm_elmo_free(m);
            return 1;
        }
    } else if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        opts_fail("elmo", "give -o OUT.hdf5 or a folder that can be created", "cannot create %s: %s", outdir,
                  strerror(errno));
        elm_elmo_free(m);
        return 1;
    }
    int rc = 0;
    const char *const **toks = calloc((size_t)batch, sizeof *toks);
    int32_t *n = calloc((size_t)batch, sizeof *n);
    float **out = calloc((size_t)batch, sizeof *out);
    cli_progress prog;
    cli_progress_init(&prog, "elmo (sentences)");
    for (int b0 = 0; b0 < n_sent && rc == 0; b0 += batch) {
        cli_progress_update(&prog, b0, n_sent);
        const int bn = n_sent - b0 < batch ? n_sent - b0 : batch;
        for (int b = 0; b < bn; b++) {
            toks[b] = (const char *const *)sents[b0 + b].words;
            n[b] = sents[b0 + b].n;
            out[b] = malloc(((size_t)nl * n[b] * dim + 1) * sizeof(float));
        }
        if (elm_elmo_run(m, bn, toks, n, out, &err) != ELM_OK) {
            char at[48];
            snprintf(at, sizeof at, "batch at sentence %d", b0);
            opts_fail_err("elmo", at, &err, NULL);
            rc = 1;
        }
        for (int b = 0; b < bn && rc == 0 && task_path; b++) { /* --task: the label and its probability */
            if (!elmo_task_probs(m, &task, out[b], n[b], probs, tmsg, sizeof tmsg)) {
                fprintf(stderr, "edgelm elmo: sentence %d: %s\n", b0 + b, tmsg);
                rc = 1;
                break;
            }
            int32_t best = 0;
            for (int32_t c = 1; c < task.n_labels; c++)
                if (probs[c] > probs[best]) best = c;
            printf("%s\t%.4f\n", task.labels[best], probs[best]);
        }
        for (int b = 0; b < bn && rc == 0 && !task_path; b++) {
            elmo_output o = {.layers = out[b], .n_layers = nl, .n_tokens = n[b], .dim = dim, .top = top,
                             .mixed = mixed_out, .weights = ns ? s : NULL, .gamma = gamma};
            char why[GL_ERR_MAX];
            if (!elmo_write(&sink, m, b0 + b, &o, why, sizeof why)) {
                opts_fail("elmo", "check the output path and the free disk space", "%s", why);
                rc = 1;
            }
        }
        for (int b = 0; b < bn; b++) free(out[b]);
        if (rc) cli_progress_clear(&prog);
    }
    cli_progress_clear(&prog);
    if (rc == 0 && sink.h5) rc = elmo_finish_hdf5(&sink, sents, n_sent) ? 0 : 1;
    else if (sink.h5) cli_h5w_abort(sink.h5);
    if (rc == 0 && task_path)
        fprintf(stderr, "classified %d sentence(s) with %s\n", n_sent, task_path);
    else if (rc == 0)
        fprintf(stderr, "wrote %d sentence(s) to %s (%d layers x 2*%d, %s, batch %d)\n", n_sent, outdir, nl, dim / 2,
                stateful ? "stateful" : "stateless", batch);
    for (int i = 0; i < n_sent; i++) {
        free(sents[i].text);
        free(sents[i].line);
        free(sents[i].words);
    }
    free(sents);
    free(toks);
    free(n);
    free(out);
    elmo_task_free(&task);
    elm_elmo_free(m);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * elmo-bench
 * ---------------------------------------------------------------------------------------- */

/* ggml-lite's F32 mat-mat: 4096 x 4096 weights times 64 columns, GFLOP/s (best of reps). */
static double elmo_matmat_gflops(int threads, int reps) {
    const int64_t k = 4096, n = 4096, cols = 64;
    gl_error err = {0};
    gl_context_params cp = {.mem_size = (size_t)(k * n + k * cols) * 4 + 16 * gl_tensor_overhead() + (1 << 20)};
    gl_context *ctx = gl_context_new(cp, &err);
    if (!ctx) return 0;
    gl_tensor *w = gl_new_tensor_2d(ctx, GL_TYPE_F32, k, n), *x = gl_new_tensor_2d(ctx, GL_TYPE_F32, k, cols);
    float *wd = w->data, *xd = x->data;
    for (int64_t i = 0; i < k * n; i++) wd[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (int64_t i = 0; i < k * cols; i++) xd[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    gl_tensor *y = gl_mul_mat(ctx, w, x);
    gl_graph *g = gl_graph_new(ctx, 8);
    gl_graph_plan plan;
    gl_pool *pool = threads > 1 ? gl_pool_new(threads, &err) : NULL;
    double best = 0;
    void *buf = NULL;
    if (y && g && gl_graph_expand(g, y) == GL_OK && gl_graph_plan_memory(g, threads, &plan, &err) == GL_OK &&
        posix_memalign(&buf, 64, plan.buffer_size + plan.work_size + 64) == 0 &&
        gl_graph_alloc(g, &plan, buf, plan.buffer_size + plan.work_size + 64, &err) == GL_OK) {
        for (int r = 0; r < reps + 1; r++) {
            double t0 = cli_now();
            if (gl_graph_compute(g, pool, &err) != GL_OK) break;
            double gf = 2.0 * k * n * cols / (cli_now() - t0) / 1e9;
            if (r > 0 && gf > best) best = gf;
        }
    }
    free(buf);
    gl_pool_free(pool);
    gl_context_free(ctx);
    return best;
}

int cmd_elmo_bench(int argc, char **argv) {
    const char *model = NULL;
    int32_t batch = 32, tokens = 20, reps = 3;
    int fmt = CLI_FMT_MD;
    opt_ints th = {{opts_default_threads()}, 1};
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &model, "FILE", "the ELMo model"),
        OPT_FUNC("-t,--threads", &th, opt_parse_int_list, "LIST", "thread counts, e.g. 1,2 (default: " OPT_THREADS_DEFAULT ")"),
        OPT_INT("--batch", &batch, 1, 4096, "B", "sentences per run (default 32)"),
        OPT_INT("--tokens", &tokens, 1, 10000, "N", "words per sentence (default 20)"),
        OPT_INT("-r,--repetitions,--reps", &reps, 1, 1000, "R", "timed runs after a warm-up, the best is reported (default 3)"),
        OPT_ENUM("-o,--output", &fmt, cli_fmt_names, "result table format (default md)"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("elmo-bench", "-m ELMO.gguf [options]",
                                "ELMo tokens/s for batches of random words, the GFLOP/s achieved (from the model's "
                                "multiply-adds per token) and ggml-lite's F32 mat-mat GFLOP/s in the same run.",
                                defs);
    const int pr = opts_parse(&cmd, argc, argv);
    if (pr != OPTS_OK) return opts_exit(pr);
    const int32_t *threads = th.v;
    const int n_threads = th.n;
    if (!cli_family_check("elmo-bench", model, CLI_ELMO)) return 1;
    /* random lower-case words of 2-10 letters, fixed seed */
    char *words = malloc((size_t)batch * tokens * 12);
    const char ***toks = malloc((size_t)batch * sizeof *toks);
    int32_t *n = malloc((size_t)batch * sizeof *n);
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int b = 0; b < batch; b++) {
        toks[b] = malloc((size_t)tokens * sizeof *toks[b]);
        n[b] = tokens;
        for (int t = 0; t < tokens; t++) {
            char *w = words + ((size_t)b * tokens + t) * 12;
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            int len = 2 + (int)(rng % 9);
            for (int c = 0; c < len; c++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                w[c] = (char)('a' + rng % 26);
            }
            w[len] = 0;
            toks[b][t] = w;
        }
    }
    int rc = 0;
    static const char *const cols[] = {"model", "weights", "threads", "batch x tokens", "time/batch (s)", "tokens/s",
                                       "GFLOP/s", "F32 mat-mat GFLOP/s", "% of mat-mat"};
    static const bool numeric[] = {false, false, true, false, true, true, true, true, true};
    cli_table tab = {stdout, fmt, cols, numeric, 9, 0};
    cli_table_begin(&tab);
    for (int ti = 0; ti < n_threads && rc == 0; ti++) {
        elm_elmo_params p = elm_elmo_default_params();
        p.n_threads = threads[ti];
        elm_error err = {0};
        elm_elmo *m = elm_elmo_load(model, &p, &err);
        if (!m) {
            opts_fail_err("elmo-bench", NULL, &err, NULL);
            rc = 1;
            break;
        }
        const elm_elmo_macs macs = elm_elmo_macs_per_token(m);
        const double cnn = macs.cnn, hw = macs.highway, lstm = macs.lstm;
        double best = 1e30;
        for (int r = 0; r < reps + 1 && rc == 0; r++) { /* the first run warms up */
            double t0 = cli_now();
            if (elm_elmo_run(m, batch, (const char *const *const *)toks, n, NULL, &err) != ELM_OK) {
                opts_fail_err("elmo-bench", NULL, &err, NULL);
                rc = 1;
            }
            double dt = cli_now() - t0;
            if (r > 0 && dt < best) best = dt;
        }
        if (rc == 0) {
            /* <S> and </S> are computed too: count them as the model's work */
            const double n_tok = (double)batch * tokens, n_pos = (double)batch * (tokens + 2);
            const double gflops = 2.0 * (cnn + hw + lstm) * n_pos / best / 1e9;
            const double ref = elmo_matmat_gflops(threads[ti], reps);
            char type[32] = "?";
            elm_file *f = elm_file_open(model, NULL);
            int64_t ft;
            if (f && elm_file_get_int(f, "general.file_type", &ft))
                cli_file_type_name(ft, true, type, sizeof type);
            elm_file_close(f);
            const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
            char c[7][32];
            snprintf(c[0], 32, "%d", threads[ti]);
            snprintf(c[1], 32, "%d x %d", batch, tokens);
            snprintf(c[2], 32, "%.3f", best);
            snprintf(c[3], 32, "%.1f", n_tok / best);
            snprintf(c[4], 32, "%.2f", gflops);
            snprintf(c[5], 32, "%.2f", ref);
            snprintf(c[6], 32, fmt == CLI_FMT_MD ? "%.0f%%" : "%.0f", ref > 0 ? 100.0 * gflops / ref : 0);
            const char *cells[] = {base, type, c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
            cli_table_row(&tab, cells);
            if (ti == 0)
                fprintf(stderr, "multiply-adds per token: char CNN %.1f M, highway + projection %.1f M, biLSTM %.1f M\n",
                        cnn / 1e6, hw / 1e6, lstm / 1e6);
        }
        elm_elmo_free(m);
    }
    cli_table_end(&tab);
    for (int b = 0; b < batch; b++) free(toks[b]);
    free(toks);
    free(n);
    free(words);
    return rc;
}
