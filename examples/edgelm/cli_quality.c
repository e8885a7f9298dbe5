/*
 * cli_quality.c — base vs quantized comparisons and perplexity (see cli_quality.h). Everything
 * runs through the public runtimes of edgelm.h (elm_decode, elm_bert_run, elm_t5_encode/decode,
 * elm_elmo_run); the statistics are accumulated in double.
 */
#include "cli_quality.h"

#include "ggml-lite.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static elm_status ql_fail(elm_error *err, elm_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* general.architecture of a GGUF file into buf ("" when unreadable). */
static void ql_arch(const char *path, char *buf, size_t size) {
    buf[0] = '\0';
    elm_error e;
    elm_file *f = elm_file_open(path, &e);
    if (!f) return;
    snprintf(buf, size, "%s", elm_file_arch(f));
    elm_file_close(f);
}

/* ---- statistics ---- */

typedef struct ql_acc {
    double kld_sum, kld_sum2, kld_max, max_abs, se, sb;
    int64_t rows, top1;
    double *klds;        /* every row's KL divergence, for the percentiles */
    int64_t cap;
    bool no_klds;        /* out of memory for them: percentiles left at 0 */
} ql_acc;

/* Log-softmax normaliser of a row (max-shifted, in double). */
static double ql_logsumexp(const float *x, int32_t n, double *mx) {
    double m = -INFINITY;
    for (int32_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    *mx = m;
    return m + log(s);
}

static int32_t ql_argmax(const float *x, int32_t n) {
    int32_t a = 0;
    for (int32_t i = 1; i < n; i++) a = x[i] > x[a] ? i : a;
    return a;
}

static void ql_add_rows(ql_acc *a, const float *b, const float *q, int32_t n_vocab, int64_t n_rows) {
    for (int64_t r = 0; r < n_rows; r++) {
        const float *br = b + r * n_vocab, *qr = q + r * n_vocab;
        double mb, mq;
        const double lb = ql_logsumexp(br, n_vocab, &mb), lq = ql_logsumexp(qr, n_vocab, &mq);
        double kl = 0;
        for (int32_t i = 0; i < n_vocab; i++) {
            const double pb = (double)br[i] - lb, pq = (double)qr[i] - lq;
            kl += exp(pb) * (pb - pq);
            const double d = fabs((double)br[i] - qr[i]);
            a->max_abs = d > a->max_abs ? d : a->max_abs;
            a->se += d * d;
            a->sb += (double)br[i] * br[i];
        }
        if (kl < 0) kl = 0; /* rounding */
        if (!a->no_klds && a->rows == a->cap) {
            const int64_t cap = a->cap ? 2 * a->cap : 1024;
            double *k = realloc(a->klds, (size_t)cap * sizeof *k);
            if (k) a->klds = k, a->cap = cap;
            else a->no_klds = true;
        }
        if (!a->no_klds) a->klds[a->rows] = kl;
        a->kld_sum += kl;
        a->kld_sum2 += kl * kl;
        a->kld_max = kl > a->kld_max ? kl : a->kld_max;
        a->top1 += ql_argmax(br, n_vocab) == ql_argmax(qr, n_vocab);
        a->rows++;
    }
}

static void ql_add_values(ql_acc *a, const float *b, const float *q, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)b[i] - q[i]);
        a->max_abs = d > a->max_abs ? d : a->max_abs;
        a->se += d * d;
        a->sb += (double)b[i] * b[i];
    }
}

static int ql_cmp_double(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Nearest-rank percentile p (0..1) of n sorted values. */
static double ql_pct(const double *v, int64_t n, double p) { return v[(int64_t)(p * (double)(n - 1) + 0.5)]; }

/* The summary into out; frees the per-row values. */
static void ql_finish(ql_acc *a, cli_qual *out) {
    const double n = (double)a->rows;
    out->n_rows = a->rows;
    out->kld_mean = a->rows ? a->kld_sum / n : 0;
    out->kld_max = a->kld_max;
    out->top1 = a->rows ? (double)a->top1 / n : 0;
    out->max_abs_err = a->max_abs;
    out->rel_err = a->sb > 0 ? sqrt(a->se / a->sb) : 0;
    if (a->rows > 1) {
        const double var = a->kld_sum2 / n - out->kld_mean * out->kld_mean;
        out->kld_mean_stderr = var > 0 ? sqrt(var / (n - 1)) : 0;
        out->top1_stderr = sqrt(out->top1 * (1 - out->top1) / (n - 1));
    }
    if (a->rows > 0 && !a->no_klds) {
        double *v = a->klds;
        qsort(v, (size_t)a->rows, sizeof *v, ql_cmp_double);
        out->kld_min = v[0];
        out->kld_p01 = ql_pct(v, a->rows, 0.001);
        out->kld_p1 = ql_pct(v, a->rows, 0.01);
        out->kld_p5 = ql_pct(v, a->rows, 0.05);
        out->kld_p10 = ql_pct(v, a->rows, 0.10);
        out->kld_median = ql_pct(v, a->rows, 0.5);
        out->kld_p90 = ql_pct(v, a->rows, 0.90);
        out->kld_p95 = ql_pct(v, a->rows, 0.95);
        out->kld_p99 = ql_pct(v, a->rows, 0.99);
        out->kld_p999 = ql_pct(v, a->rows, 0.999);
    }
    free(a->klds);
    a->klds = NULL;
    a->cap = 0;
}

/* Next line of text: [*pos, end of line), advancing *pos; false at the end. Skips empty lines. */
static bool ql_next_line(const char *text, size_t *pos, const char **s, size_t *len) {
    const size_t n = strlen(text);
    while (*pos < n) {
        const char *start = text + *pos;
        const char *nl = memchr(start, '\n', n - *pos);
        const size_t l = nl ? (size_t)(nl - start) : n - *pos;
        *pos += l + (nl ? 1 : 0);
        size_t k = l;
        while (k > 0 && (start[k - 1] == '\r' || start[k - 1] == ' ')) k--;
        if (k > 0) {
            *s = start;
            *len = k;
            return true;
        }
    }
    return false;
}

/* ---- decoders ---- */

static int32_t *ql_dec_tokens(const elm_model *m, const char *text, int64_t *n, elm_error *err) {
    const size_t len = strlen(text);
    int64_t need = elm_tokenize_text(m, text, len, NULL, 0, true, false, err);
    if (need < 0) return NULL;
    int32_t *ids = malloc(sizeof *ids * (size_t)(need ? need : 1));
    if (!ids) {
        ql_fail(err, ELM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *n = elm_tokenize_text(m, text, len, ids, need, true, false, err);
    if (*n < 0) {
        free(ids);
        return NULL;
    }
    return ids;
}

/* Calls the caller's progress function (when given) with done of total. */
static void ql_tick(const cli_qual_progress *p, int64_t done, int64_t total) {
    if (p && p->fn) p->fn(p->user, done, total);
}

static elm_status ql_decoder(const char *base, const char *quant, const char *text, int32_t n_ctx,
                             int32_t nth, const cli_qual_progress *prog, cli_qual *out, elm_error *err) {
    elm_model *mb = elm_model_load(base, NULL, err);
    elm_model *mq = mb ? elm_model_load(quant, NULL, err) : NULL;
    elm_ctx *cb = NULL, *cq = NULL;
    int32_t *ids = NULL;
    float *lb = NULL;
    elm_status st = err ? err->code : ELM_ERR_INVALID;
    if (!mq) goto done;
    st = ELM_OK;
    if (elm_model_n_vocab(mb) != elm_model_n_vocab(mq)) {
        st = ql_fail(err, ELM_ERR_INVALID, "the two files have different vocabularies");
        goto done;
    }
    const int32_t V = elm_model_n_vocab(mb);
    if (elm_model_n_ctx_train(mb) > 0 && n_ctx > elm_model_n_ctx_train(mb)) n_ctx = elm_model_n_ctx_train(mb);
    int64_t n = 0;
    if (!(ids = ql_dec_tokens(mb, text, &n, err))) { st = err->code; goto done; }
    if (!(cb = elm_ctx_new(mb, n_ctx, nth, err)) || !(cq = elm_ctx_new(mq, n_ctx, nth, err))) { st = err->code; goto done; }
    ql_acc a = {0};
    lb = malloc(sizeof(float) * (size_t)n_ctx * (size_t)V);
    if (!lb) { st = ql_fail(err, ELM_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t c0 = 0; c0 < n && st == ELM_OK; c0 += n_ctx) {
        const int32_t len = (int32_t)(n - c0 < n_ctx ? n - c0 : n_ctx);
        elm_ctx_rewind(cb, 0);
        elm_ctx_rewind(cq, 0);
        int32_t rows = 0;
        if ((st = elm_decode(cb, ids + c0, len, ELM_OUT_LOGITS_ALL, err)) != ELM_OK) break;
        const float *got = elm_get_logits(cb, &rows); /* sets rows: not inside memcpy's arguments */
        memcpy(lb, got, sizeof(float) * (size_t)rows * (size_t)V);
        if ((st = elm_decode(cq, ids + c0, len, ELM_OUT_LOGITS_ALL, err)) != ELM_OK) break;
        const float *gq = elm_get_logits(cq, &rows);
        ql_add_rows(&a, lb, gq, V, rows);
        ql_tick(prog, c0 + len, n);
    }
    ql_finish(&a, out);
done:
    free(lb);
    free(ids);
    elm_ctx_free(cb);
    elm_ctx_free(cq);
    elm_model_free(mb);
    elm_model_free(mq);
    return st;
}

elm_status cli_perplexity_ext(const char *model, const char *text, int32_t n_ctx, int32_t nth,
                              cli_ppl_chunk_fn on_chunk, void *user, cli_ppl_result *out, elm_error *err) {
    if (n_ctx <= 0) n_ctx = 512;
    if (nth <= 0) nth = 1;
    elm_model *m = elm_model_load(model, NULL, err);
    if (!m) return err->code;
    if (elm_model_n_ctx_train(m) > 0 && n_ctx > elm_model_n_ctx_train(m)) n_ctx = elm_model_n_ctx_train(m);
    elm_status st = ELM_OK;
    int64_t n = 0;
    int32_t *ids = ql_dec_tokens(m, text, &n, err);
    elm_ctx *c = ids ? elm_ctx_new(m, n_ctx, nth, err) : NULL;
    double nll = 0, nll2 = 0;
    int64_t scored = 0;
    if (!c) st = err->code;
    const int32_t V = elm_model_n_vocab(m);
    const int32_t n_chunks = (int32_t)((n + n_ctx - 1) / n_ctx);
    int32_t chunk = 0;
    for (int64_t c0 = 0; c && c0 < n && st == ELM_OK; c0 += n_ctx, chunk++) {
        const int32_t len = (int32_t)(n - c0 < n_ctx ? n - c0 : n_ctx);
        elm_ctx_rewind(c, 0);
        if ((st = elm_decode(c, ids + c0, len, ELM_OUT_LOGITS_ALL, err)) != ELM_OK) break;
        int32_t rows = 0;
        const float *lg = elm_get_logits(c, &rows);
        for (int32_t i = 0; i + 1 < len && i < rows; i++) {
            double mx;
            const double lse = ql_logsumexp(lg + (size_t)i * V, V, &mx);
            const int32_t next = ids[c0 + i + 1];
            if (next < 0 || next >= V) continue;
            const double t = lse - lg[(size_t)i * V + next];
            nll += t;
            nll2 += t * t;
            scored++;
        }
        if (on_chunk && scored > 0) on_chunk(user, chunk, n_chunks, exp(nll / (double)scored));
    }
    if (st == ELM_OK && scored == 0) st = ql_fail(err, ELM_ERR_INVALID, "perplexity: the text has fewer than two tokens");
    if (st == ELM_OK) {
        const double mean = nll / (double)scored, var = nll2 / (double)scored - mean * mean;
        out->nll_mean = mean;
        out->nll_stderr = scored > 1 && var > 0 ? sqrt(var / (double)(scored - 1)) : 0.0;
        out->ppl = exp(mean);
        out->ppl_stderr = out->ppl * out->nll_stderr;
        out->n_scored = scored;
        out->n_chunks = chunk;
    }
    free(ids);
    elm_ctx_free(c);
    elm_model_free(m);
    return st;
}

elm_status cli_perplexity(const char *model, const char *text, int32_t n_ctx, int32_t nth,
                          double *ppl, int64_t *n_scored, elm_error *err) {
    cli_ppl_result r;
    const elm_status st = cli_perplexity_ext(model, text, n_ctx, nth, NULL, NULL, &r, err);
    if (st == ELM_OK) {
        *ppl = r.ppl;
        if (n_scored) *n_scored = r.n_scored;
    }
    return st;
}

/* ---- BERT ---- */

static elm_status ql_bert(const char *base, const char *quant, const char *text, int32_t nth,
                          const cli_qual_progress *prog, cli_qual *out, elm_error *err) {
    elm_bert_params bp = elm_bert_default_params();
    bp.n_threads = nth;
    elm_bert *mb = elm_bert_load(base, &bp, err);
    elm_bert *mq = mb ? elm_bert_load(quant, &bp, err) : NULL;
    if (!mq) {
        elm_bert_free(mb);
        return err->code;
    }
    const bool mlm = elm_bert_has_mlm(mb) && elm_bert_has_mlm(mq);
    const int32_t V = elm_bert_n_vocab(mb), max = elm_bert_n_ctx(mb);
    int32_t *ids = malloc(sizeof *ids * (size_t)max);
    float *keep = NULL, *other = NULL;
    ql_acc a = {0};
    elm_status st = ids ? ELM_OK : ql_fail(err, ELM_ERR_NOMEM, "out of memory");
    size_t pos = 0, len;
    const char *line;
    char *buf = NULL;
    while (st == ELM_OK && ql_next_line(text, &pos, &line, &len)) {
        free(buf);
        buf = malloc(len + 1);
        if (!buf) { st = ql_fail(err, ELM_ERR_NOMEM, "out of memory"); break; }
        memcpy(buf, line, len);
        buf[len] = '\0';
        int64_t n = elm_bert_tokenize(mb, buf, NULL, true, ids, NULL, max, err);
        if (n < 0) { st = (elm_status)n; break; }
        if (n > max) n = max;
        const int32_t nt = (int32_t)n;
        const int32_t *idp = ids;
        elm_bert_request req = {.mlm = mlm};
        if ((st = elm_bert_run(mb, 1, &idp, NULL, &nt, &req, err)) != ELM_OK) break;
        const elm_bert_output what = mlm ? ELM_BERT_OUT_MLM : ELM_BERT_OUT_LAST;
        const int64_t cnt = elm_bert_get(mb, 0, what, NULL, 0, err);
        if (cnt < 0) { st = (elm_status)cnt; break; }
        free(keep);
        free(other);
        keep = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
        other = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!keep || !other) { st = ql_fail(err, ELM_ERR_NOMEM, "out of memory"); break; }
        if ((st = (elm_status)elm_bert_get(mb, 0, what, keep, cnt, err)) < 0) break;
        if ((st = elm_bert_run(mq, 1, &idp, NULL, &nt, &req, err)) != ELM_OK) break;
        if ((st = (elm_status)elm_bert_get(mq, 0, what, other, cnt, err)) < 0) break;
        st = ELM_OK;
        if (mlm) ql_add_rows(&a, keep, other, V, (int32_t)(cnt / V));
        else ql_add_values(&a, keep, other, cnt);
        ql_tick(prog, (int64_t)pos, (int64_t)strlen(text));
    }
    ql_finish(&a, out);
    free(buf);
    free(keep);
    free(other);
    free(ids);
    elm_bert_free(mb);
    elm_bert_free(mq);
    return st;
}

/* ---- T5 ---- */

static elm_status ql_t5(const char *base, const char *quant, const char *text, int32_t nth,
                        const cli_qual_progress *prog, cli_qual *out, elm_error *err) {
    elm_t5_params tp = elm_t5_default_params();
    tp.n_threads = nth;
    elm_t5 *mb = elm_t5_load(base, &tp, err);
    elm_t5 *mq = mb ? elm_t5_load(quant, &tp, err) : NULL;
    if (!mq) {
        elm_t5_free(mb);
        return err->code;
    }
    const int32_t V = elm_t5_n_vocab(mb), max = elm_t5_n_ctx(mb) > 0 ? elm_t5_n_ctx(mb) : 512;
    int32_t *ids = malloc(sizeof *ids * (size_t)max), *dec = malloc(sizeof *dec * (size_t)max);
    float *lb = malloc(sizeof(float) * (size_t)max * (size_t)V), *lq = malloc(sizeof(float) * (size_t)max * (size_t)V);
    ql_acc a = {0};
    elm_status st = ids && dec && lb && lq ? ELM_OK : ql_fail(err, ELM_ERR_NOMEM, "out of memory");
    size_t pos = 0, len;
    const char *line;
    while (st == ELM_OK && ql_next_line(text, &pos, &line, &len)) {
        int64_t n = elm_t5_tokenize(mb, line, len, ids, max, true, err);
        if (n < 0) { st = (elm_status)n; break; }
        if (n > max) n = max;
        dec[0] = elm_t5_decoder_start(mb);
        for (int64_t i = 1; i < n; i++) dec[i] = ids[i - 1];
        const int32_t nt = (int32_t)n;
        if ((st = elm_t5_encode(mb, ids, nt, NULL, err)) != ELM_OK) break;
        if ((st = elm_t5_decode(mb, dec, nt, lb, NULL, err)) != ELM_OK) break;
        if ((st = elm_t5_encode(mq, ids, nt, NULL, err)) != ELM_OK) break;
        if ((st = elm_t5_decode(mq, dec, nt, lq, NULL, err)) != ELM_OK) break;
        ql_add_rows(&a, lb, lq, V, nt);
        ql_tick(prog, (int64_t)pos, (int64_t)strlen(text));
    }
    ql_finish(&a, out);
    free(ids);
    free(dec);
    free(lb);
    free(lq);
    elm_t5_free(mb);
    elm_t5_free(mq);
    return st;
}

/* ---- ELMo ---- */

static elm_status ql_elmo(const char *base, const char *quant, const char *text, int32_t nth,
                          const cli_qual_progress *prog, cli_qual *out, elm_error *err) {
    elm_elmo_params ep = elm_elmo_default_params();
    ep.n_threads = nth;
    elm_elmo *mb = elm_elmo_load(base, &ep, err);
    elm_elmo *mq = mb ? elm_elmo_load(quant, &ep, err) : NULL;
    if (!mq) {
        elm_elmo_free(mb);
        return err->code;
    }
    const int32_t L = elm_elmo_n_layers(mb), D = elm_elmo_dim(mb);
    out->n_layers = L < CLI_QUAL_MAX_LAYERS ? L : CLI_QUAL_MAX_LAYERS;
    double se[CLI_QUAL_MAX_LAYERS] = {0}, sb[CLI_QUAL_MAX_LAYERS] = {0};
    ql_acc a = {0};
    elm_status st = ELM_OK;
    size_t pos = 0, len;
    const char *line;
    while (st == ELM_OK && ql_next_line(text, &pos, &line, &len)) {
        /* words: a copy of the line cut at spaces */
        char *copy = malloc(len + 1);
        const char **words = malloc(sizeof *words * (len / 2 + 2));
        float *ob = NULL, *oq = NULL;
        if (!copy || !words) st = ql_fail(err, ELM_ERR_NOMEM, "out of memory");
        int32_t nw = 0;
        if (st == ELM_OK) {
            memcpy(copy, line, len);
            copy[len] = '\0';
            for (char *tok = strtok(copy, " \t"); tok; tok = strtok(NULL, " \t")) words[nw++] = tok;
        }
        if (st == ELM_OK && nw > 0) {
            ob = malloc(sizeof(float) * (size_t)L * (size_t)nw * (size_t)D);
            oq = malloc(sizeof(float) * (size_t)L * (size_t)nw * (size_t)D);
            if (!ob || !oq) st = ql_fail(err, ELM_ERR_NOMEM, "out of memory");
            const char *const *wp = words;
            if (st == ELM_OK) st = elm_elmo_run(mb, 1, &wp, &nw, &ob, err);
            if (st == ELM_OK) st = elm_elmo_run(mq, 1, &wp, &nw, &oq, err);
            if (st == ELM_OK) {
                const size_t per = (size_t)nw * (size_t)D;
                ql_add_values(&a, ob, oq, (int64_t)(per * (size_t)L));
                for (int32_t l = 0; l < out->n_layers; l++) {
                    for (size_t i = 0; i < per; i++) {
                        const double d = (double)ob[l * per + i] - oq[l * per + i];
                        se[l] += d * d;
                        sb[l] += (double)ob[l * per + i] * ob[l * per + i];
                    }
                }
            }
        }
        free(ob);
        free(oq);
        free(words);
        free(copy);
        ql_tick(prog, (int64_t)pos, (int64_t)strlen(text));
    }
    ql_finish(&a, out);
    for (int32_t l = 0; l < out->n_layers; l++) out->layer_rel[l] = sb[l] > 0 ? sqrt(se[l] / sb[l]) : 0;
    elm_elmo_free(mb);
    elm_elmo_free(mq);
    return st;
}

elm_status cli_quality_compare(const char *base, const char *quant, const char *text,
                               int32_t n_ctx, int32_t nth, cli_qual *out, elm_error *err) {
    return cli_quality_compare_ext(base, quant, text, n_ctx, nth, NULL, out, err);
}

elm_status cli_quality_compare_ext(const char *base, const char *quant, const char *text, int32_t n_ctx,
                                   int32_t nth, const cli_qual_progress *prog, cli_qual *out, elm_error *err) {
    if (!base || !quant || !text || !out) return ql_fail(err, ELM_ERR_INVALID, "kld: missing argument");
    memset(out, 0, sizeof *out);
    if (n_ctx <= 0) n_ctx = 512;
    if (nth <= 0) nth = 1;
    char arch[64], arch2[64];
    ql_arch(base, arch, sizeof arch);
    ql_arch(quant, arch2, sizeof arch2);
    if (!arch[0]) return ql_fail(err, ELM_ERR_FORMAT, "%s: not a GGUF model file", base);
    if (strcmp(arch, arch2) != 0)
        return ql_fail(err, ELM_ERR_INVALID, "the files have different architectures (%s, %s)", arch, arch2[0] ? arch2 : "?");
    /* Which runtime measures it: the family of the architecture table (elm_arch_family); the
     * decoder loader names unknown ones. */
    const char *fam = elm_arch_family(arch);
    snprintf(out->family, sizeof out->family, "%s", fam[0] ? fam : "decoder");
    if (!strcmp(fam, "bert")) return ql_bert(base, quant, text, nth, prog, out, err);
    if (!strcmp(fam, "t5")) return ql_t5(base, quant, text, nth, prog, out, err);
    if (!strcmp(fam, "elmo")) return ql_elmo(base, quant, text, nth, prog, out, err);
    return ql_decoder(base, quant, text, n_ctx, nth, prog, out, err);
}
