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
#include "edgelm.h"
#include "gen_opts.h"
#include "npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BERT_CLI_MAX_INPUTS 4096

typedef struct bert_opts {
    const char *model, *a, *b, *file, *out, *pooling, *ids, *types, *what, *threads, *batches, *token_list;
    const char *texts[BERT_CLI_MAX_INPUTS];
    int n_texts;
    int32_t top_k, n_threads, tokens, reps;
    bool normalize, normalize_set, no_repack;
} bert_opts;

/* Parses the options every BERT command shares; returns 0 ok, 2 usage error. */
static int bert_parse(bert_opts *o, int argc, char **argv, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->top_k = 5;
    o->n_threads = 1;
    o->tokens = 128;
    o->reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--normalize")) {
            o->normalize = o->normalize_set = true;
            takes = false;
        } else if (!strcmp(a, "--no-repack")) { /* keep Q4_0/Q8_0 matrices in the file's layout */
            o->no_repack = true;
            takes = false;
        } else if (!strcmp(a, "--no-normalize")) {
            o->normalize = false;
            o->normalize_set = true;
            takes = false;
        } else if (!v) {
            fprintf(stderr, "edgelm %s: %s needs a value (or is unknown)\n", cmd, a);
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (o->n_texts >= BERT_CLI_MAX_INPUTS) return 2;
            o->texts[o->n_texts++] = v;
        } else if (!strcmp(a, "-a")) o->a = v;
        else if (!strcmp(a, "-b")) o->b = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->out = v;
        else if (!strcmp(a, "--pooling")) o->pooling = v;
        else if (!strcmp(a, "--ids")) o->ids = v;
        else if (!strcmp(a, "--types")) o->types = v;
        else if (!strcmp(a, "--what")) o->what = v;
        else if (!strcmp(a, "--batch")) o->batches = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            o->threads = v;
            if (!gen_parse_int(v, 1, 256, &o->n_threads) && strchr(v, ',') == NULL) {
                fprintf(stderr, "edgelm %s: bad thread count '%s'\n", cmd, v);
                return 2;
            }
        } else if (!strcmp(a, "--top-k") && gen_parse_int(v, 1, 1000000, &o->top_k)) {
        } else if (!strcmp(a, "--tokens")) { /* a list for bert-bench: checked there */
            o->token_list = v;
            if (!gen_parse_int(v, 2, 1 << 20, &o->tokens) && strchr(v, ',') == NULL) {
                fprintf(stderr, "edgelm %s: bad token count '%s'\n", cmd, v);
                return 2;
            }
        } else if (!strcmp(a, "--reps") && gen_parse_int(v, 1, 1000, &o->reps)) {
        } else {
            fprintf(stderr, "edgelm %s: unknown option or bad value '%s'\n", cmd, a);
            return 2;
        }
        if (takes) i++;
    }
    if (!o->model) {
        fprintf(stderr, "edgelm %s: -m MODEL.gguf is required\n", cmd);
        return 2;
    }
    return 0;
}

static elm_bert *bert_open(const bert_opts *o, const char *cmd) {
    elm_error err = {0};
    elm_bert_params p = elm_bert_default_params();
    p.n_threads = o->n_threads;
    p.no_repack = o->no_repack;
    elm_bert *m = elm_bert_load(o->model, &p, &err);
    if (!m) fprintf(stderr, "edgelm %s: %s\n", cmd, err.msg);
    return m;
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

static void softmax(const float *x, int32_t n, double *p) {
    double mx = -INFINITY, s = 0;
    for (int32_t i = 0; i < n; i++) mx = fmax(mx, x[i]);
    for (int32_t i = 0; i < n; i++) s += p[i] = exp((double)x[i] - mx);
    for (int32_t i = 0; i < n; i++) p[i] /= s;
}

/* ---- fill-mask ---- */

int cmd_fill_mask(int argc, char **argv) {
    bert_opts o;
    if (bert_parse(&o, argc, argv, "fill-mask") || o.n_texts != 1) {
        fprintf(stderr, "usage: edgelm fill-mask -m M -p \"Paris is the [MASK] of France.\" [--top-k 5] [-t N]\n");
        return 2;
    }
    elm_bert *m = bert_open(&o, "fill-mask");
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    int32_t *ids = NULL, *types = NULL, *pos = NULL, n_pos = 0;
    double *p = NULL;
    int32_t n = bert_encode(m, o.texts[0], NULL, &ids, &types, &err);
    int32_t mask = elm_bert_mask_id(m);
    if (n < 0) goto done;
    if (!elm_bert_has_mlm(m)) {
        snprintf(err.msg, sizeof err.msg, "the model has no masked-LM head");
        goto done;
    }
    pos = malloc((size_t)n * sizeof *pos);
    for (int32_t i = 0; pos && i < n; i++)
        if (ids[i] == mask) pos[n_pos++] = i;
    if (n_pos == 0) {
        snprintf(err.msg, sizeof err.msg, "the text has no [MASK] token");
        goto done;
    }
    const int32_t *ip = ids, *tp = types, *pp = pos;
    elm_bert_request rq = {.mlm = true, .mlm_pos = &pp, .n_mlm_pos = &n_pos};
    if (elm_bert_run(m, 1, &ip, &tp, &n, &rq, &err) != ELM_OK) goto done;
    const int32_t V = elm_bert_n_vocab(m);
    const float *logits = elm_bert_mlm(m, 0, NULL);
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
            char text[256];
            elm_bert_token_text(m, best, text, sizeof text);
            printf("  %-16s %.4f  (id %d)\n", text, p[best], best);
            p[best] = -1;
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm fill-mask: %s\n", err.msg[0] ? err.msg : "failed");
    free(ids);
    free(types);
    free(pos);
    free(p);
    elm_bert_free(m);
    return rc;
}

/* ---- embed ---- */

/* Lines of FILE as inputs (empty lines skipped); the buffer is kept in *keep. */
static int bert_read_lines(bert_opts *o, char **keep) {
    FILE *f = strcmp(o->file, "-") ? fopen(o->file, "rb") : stdin;
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) break;
            buf = b;
            cap *= 2;
        }
    }
    if (f != stdin) fclose(f);
    if (!buf) return -1;
    buf[n] = '\0';
    *keep = buf;
    for (char *s = buf; *s && o->n_texts < BERT_CLI_MAX_INPUTS;) {
        char *e = strchr(s, '\n');
        if (e) *e = '\0';
        if (*s) o->texts[o->n_texts++] = s;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}

int cmd_embed(int argc, char **argv) {
    bert_opts o;
    char *keep = NULL;
    if (bert_parse(&o, argc, argv, "embed") || (o.file && bert_read_lines(&o, &keep)) || o.n_texts == 0) {
        fprintf(stderr, "usage: edgelm embed -m M (-p TEXT ... | -f FILE) [--pooling cls|mean|none] [--normalize]\n"
                        "                    [--batch 8] [-o OUT.npy] [-t N]\n");
        free(keep);
        return 2;
    }
    elm_bert *m = bert_open(&o, "embed");
    if (!m) {
        free(keep);
        return 1;
    }
    elm_bert_pooling pool = elm_bert_pooling_type(m);
    if (o.pooling) pool = !strcmp(o.pooling, "mean") ? ELM_BERT_POOL_MEAN : !strcmp(o.pooling, "none") ? ELM_BERT_POOL_NONE : ELM_BERT_POOL_CLS;
    bool norm = o.normalize_set ? o.normalize : elm_bert_normalize(m);
    int32_t batch = 8;
    if (o.batches && !gen_parse_int(o.batches, 1, 1024, &batch)) batch = 8;
    const int32_t E = elm_bert_n_embd(m);
    int rc = 1;
    elm_error err = {0};
    float *all = NULL;
    int64_t rows = 0, cap = 0;
    int32_t *ids[1024] = {0}, *types[1024] = {0}, n[1024];
    for (int s0 = 0; s0 < o.n_texts; s0 += batch) {
        int32_t nb = o.n_texts - s0 < batch ? o.n_texts - s0 : batch;
        for (int32_t b = 0; b < nb; b++)
            if ((n[b] = bert_encode(m, o.texts[s0 + b], NULL, &ids[b], &types[b], &err)) < 0) goto done;
        if (elm_bert_run(m, nb, (const int32_t *const *)ids, (const int32_t *const *)types, n, NULL, &err) != ELM_OK) goto done;
        for (int32_t b = 0; b < nb; b++) {
            int64_t k = pool == ELM_BERT_POOL_NONE ? n[b] : 1;
            if (rows + k > cap) {
                cap = (rows + k) * 2;
                float *na = realloc(all, (size_t)cap * (size_t)E * sizeof *na);
                if (!na) goto done;
                all = na;
            }
            if (pool == ELM_BERT_POOL_NONE) { /* every token's vector */
                memcpy(all + rows * E, elm_bert_last(m, b), (size_t)k * (size_t)E * sizeof *all);
                for (int64_t t = 0; norm && t < k; t++) {
                    double ss = 0;
                    float *r = all + (rows + t) * E;
                    for (int32_t i = 0; i < E; i++) ss += (double)r[i] * r[i];
                    for (int32_t i = 0; i < E; i++) r[i] = (float)(r[i] / fmax(sqrt(ss), 1e-12));
                }
            } else if (elm_bert_embedding(m, b, pool, norm, all + rows * E, &err) != ELM_OK) {
                goto done;
            }
            rows += k;
            free(ids[b]);
            free(types[b]);
            ids[b] = types[b] = NULL;
        }
    }
    if (o.out) {
        gl_error ge = {0};
        int64_t shape[2] = {rows, E};
        if (elm_npy_write_f32(o.out, all, 2, shape, &ge) != GL_OK) {
            snprintf(err.msg, sizeof err.msg, "%s", ge.msg);
            goto done;
        }
        fprintf(stderr, "wrote %s: [%lld, %d] (%s pooling%s)\n", o.out, (long long)rows, E,
                pool == ELM_BERT_POOL_MEAN ? "mean" : pool == ELM_BERT_POOL_NONE ? "no" : "cls", norm ? ", normalized" : "");
    } else {
        for (int64_t r = 0; r < rows; r++) {
            for (int32_t i = 0; i < E; i++) printf(i ? " %.6g" : "%.6g", all[r * E + i]);
            printf("\n");
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm embed: %s\n", err.msg[0] ? err.msg : "failed");
    for (int b = 0; b < 1024; b++) {
        free(ids[b]);
        free(types[b]);
    }
    free(all);
    free(keep);
    elm_bert_free(m);
    return rc;
}

/* ---- nsp and classify ---- */

static int bert_pair_cmd(int argc, char **argv, const char *cmd, bool nsp) {
    bert_opts o;
    const char *a = NULL;
    int bad = bert_parse(&o, argc, argv, cmd);
    a = nsp ? o.a : o.n_texts == 1 ? o.texts[0] : NULL;
    if (bad || !a || (nsp && !o.b)) {
        fprintf(stderr, nsp ? "usage: edgelm nsp -m M -a TEXT -b TEXT\n" : "usage: edgelm classify -m M -p TEXT [-b TEXT]\n");
        return 2;
    }
    elm_bert *m = bert_open(&o, cmd);
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    int32_t *ids = NULL, *types = NULL;
    int32_t n = bert_encode(m, a, o.b, &ids, &types, &err);
    if (n < 0) goto done;
    const int32_t *ip = ids, *tp = types;
    elm_bert_request rq = {.nsp = nsp, .classify = !nsp};
    if (elm_bert_run(m, 1, &ip, &tp, &n, &rq, &err) != ELM_OK) goto done;
    if (nsp) {
        double p[2];
        softmax(elm_bert_nsp(m, 0), 2, p);
        printf("P(B follows A) = %.4f\n", p[0]);
    } else {
        int32_t L = elm_bert_n_labels(m);
        double *p = malloc((size_t)L * sizeof *p);
        if (!p) goto done;
        softmax(elm_bert_classes(m, 0), L, p);
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
    if (rc) fprintf(stderr, "edgelm %s: %s\n", cmd, err.msg[0] ? err.msg : "failed");
    free(ids);
    free(types);
    elm_bert_free(m);
    return rc;
}

int cmd_nsp(int argc, char **argv) { return bert_pair_cmd(argc, argv, "nsp", true); }
int cmd_classify(int argc, char **argv) { return bert_pair_cmd(argc, argv, "classify", false); }

/* ---- eval ---- */

bool bert_cli_is_bert(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            elm_error err = {0};
            elm_file *f = elm_file_open(argv[i + 1], &err);
            bool yes = f && !strcmp(elm_file_arch(f), "bert");
            elm_file_close(f);
            return yes;
        }
    return false;
}

int cmd_bert_eval(int argc, char **argv) {
    bert_opts o;
    if (bert_parse(&o, argc, argv, "eval") || !o.out || (!o.ids && o.n_texts != 1)) {
        fprintf(stderr, "usage: edgelm eval -m BERT.gguf (--ids 101,7592,102 [--types 0,0,0] | -p TEXT) -o OUT.npy\n"
                        "                   [--what hidden|mlm|nsp|pooled]  (default hidden)\n");
        return 2;
    }
    const char *what = o.what ? o.what : "hidden";
    if (strcmp(what, "hidden") && strcmp(what, "mlm") && strcmp(what, "nsp") && strcmp(what, "pooled")) {
        fprintf(stderr, "edgelm eval: --what must be hidden, mlm, nsp or pooled\n");
        return 2;
    }
    elm_bert *m = bert_open(&o, "eval");
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    int32_t *ids = NULL, *types = NULL, n = 0, nt = 0;
    if (o.ids) {
        ids = gen_parse_ids(o.ids, &n);
        if (o.types) types = gen_parse_ids(o.types, &nt);
        if (!ids || (o.types && (!types || nt != n))) {
            snprintf(err.msg, sizeof err.msg, "--ids/--types: comma-separated integers, as many types as ids");
            goto done;
        }
    } else if ((n = bert_encode(m, o.texts[0], o.b, &ids, &types, &err)) < 0) {
        goto done;
    }
    const int32_t *ip = ids, *tp = types;
    elm_bert_request rq = {.all_hidden = !strcmp(what, "hidden"), .mlm = !strcmp(what, "mlm"),
                           .nsp = !strcmp(what, "nsp"), .pooled = !strcmp(what, "pooled")};
    if (elm_bert_run(m, 1, &ip, types ? &tp : NULL, &n, &rq, &err) != ELM_OK) goto done;
    gl_error ge = {0};
    gl_status st;
    const int64_t E = elm_bert_n_embd(m);
    if (rq.all_hidden) {
        int64_t shape[3] = {elm_bert_n_layer(m) + 1, n, E};
        st = elm_npy_write_f32(o.out, elm_bert_hidden(m, 0), 3, shape, &ge);
    } else if (rq.mlm) {
        int64_t shape[2] = {n, elm_bert_n_vocab(m)};
        st = elm_npy_write_f32(o.out, elm_bert_mlm(m, 0, NULL), 2, shape, &ge);
    } else if (rq.nsp) {
        int64_t shape[1] = {2};
        st = elm_npy_write_f32(o.out, elm_bert_nsp(m, 0), 1, shape, &ge);
    } else {
        int64_t shape[1] = {E};
        st = elm_npy_write_f32(o.out, elm_bert_pooled(m, 0), 1, shape, &ge);
    }
    if (st != GL_OK) {
        snprintf(err.msg, sizeof err.msg, "%s", ge.msg);
        goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm eval: %s\n", err.msg[0] ? err.msg : "failed");
    free(ids);
    free(types);
    elm_bert_free(m);
    return rc;
}

/* ---- bench ---- */

static double bert_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Parses "1,2,8" into at most 16 positive values. */
static int bert_list(const char *s, int32_t *out, int32_t dflt) {
    if (!s) {
        out[0] = dflt;
        return 1;
    }
    int n = 0;
    for (const char *p = s; *p && n < 16;) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p || v < 1 || v > 1024) return 0;
        out[n++] = (int32_t)v;
        p = *e == ',' ? e + 1 : e;
        if (*e && *e != ',') return 0;
    }
    return n;
}

/* Sentences of T random token ids (a fixed generator), B of them encoded in one graph per run
 * (the encoder only, no head); the first run warms up, then reps timed runs. Table: the best
 * run; -o json: every run, like llama-bench's JSON (avg_ts and samples_ts in tokens/s). */
int cmd_bert_bench(int argc, char **argv) {
    bert_opts o;
    int32_t th[16], bs[16], ts[16];
    int nth = 0, nbs = 0, nts = 0;
    if (bert_parse(&o, argc, argv, "bert-bench") || !(nth = bert_list(o.threads, th, 1)) ||
        !(nbs = bert_list(o.batches, bs, 1)) || !(nts = bert_list(o.token_list, ts, 128)) ||
        (o.out && strcmp(o.out, "json") && strcmp(o.out, "md"))) {
        fprintf(stderr, "usage: edgelm bert-bench -m M [-t 1,2] [--batch 1,8] [--tokens 128,512] [--reps 3] [-o md|json] [--no-repack]\n");
        return 2;
    }
    const bool json = o.out && !strcmp(o.out, "json");
    if (json)
        printf("[");
    else
        printf("| threads | batch | tokens | sentences/s | tokens/s |\n| --- | --- | --- | --- | --- |\n");
    double *samples = malloc((size_t)o.reps * sizeof *samples);
    if (!samples) return 1;
    int n_out = 0;
    for (int a = 0; a < nth; a++) {
        o.n_threads = th[a];
        elm_bert *m = bert_open(&o, "bert-bench");
        if (!m) return 1;
        for (int k = 0; k < nts; k++) {
            int32_t T = ts[k] < elm_bert_n_ctx(m) ? ts[k] : elm_bert_n_ctx(m);
            for (int b = 0; b < nbs; b++) {
                int32_t B = bs[b];
                int32_t *ids = malloc((size_t)T * (size_t)B * sizeof *ids), *n = malloc((size_t)B * sizeof *n);
                const int32_t **ip = malloc((size_t)B * sizeof *ip);
                if (!ids || !n || !ip) return 1;
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
                    double t0 = bert_now();
                    if (elm_bert_run(m, B, ip, NULL, n, NULL, &err) != ELM_OK) {
                        fprintf(stderr, "edgelm bert-bench: %s\n", err.msg);
                        return 1;
                    }
                    double dt = bert_now() - t0;
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
                    printf("| %d | %d | %d | %.2f | %.0f |\n", th[a], B, T, B / best, (double)B * T / best);
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
    free(samples);
    return 0;
}
