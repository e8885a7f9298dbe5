/*
 * elmo_train.c — learning ELMo's task-specific scalar mix and a classifier on top of a frozen
 * biLM (public API: include/edgelm.h, "ELMo scalar-mix training"):
 *
 *   ELMo_k = gamma * sum_j softmax(s)_j h_{k,j},   pooled = mean over the sentence's tokens,
 *   logits = W pooled + b,   loss = mean cross-entropy
 *
 * s, gamma, W and b are trained by AdamW from the backward graph of ggml-lite; the layer
 * outputs h (elm_elmo_run's [n_layers][n_tokens][dim] per sentence) are inputs, so the biLM
 * runs once per sentence and stays frozen. Initial values as AllenNLP's ScalarMix: s = 0
 * (equal weights), gamma = 1; W normal(0, 0.02) from the seed, b = 0.
 */
#include "alloc.h"
#include "edgelm.h"
#include "common.h"
#include "ggml-lite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct elm_mix_trainer {
    int32_t L, dim, n_labels;
    float *s, *gamma, *w, *b; /* [L], [1], [dim * n_labels], [n_labels] */
    gl_context *pctx;
    gl_tensor *leaf[4];
    gl_adamw *opt;
};

void elm_mix_trainer_free(elm_mix_trainer *t) {
    if (!t) return;
    ELM_FREE(t->s);
    ELM_FREE(t->gamma);
    ELM_FREE(t->w);
    ELM_FREE(t->b);
    gl_adamw_free(t->opt);
    gl_context_free(t->pctx);
    ELM_FREE(t);
}

static float mt_normal(uint64_t *st, float sd) {
    uint64_t r[2];
    for (int k = 0; k < 2; k++) {
        uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r[k] = z ^ (z >> 31);
    }
    const double u1 = ((double)(r[0] >> 11) + 1.0) * 0x1.0p-53, u2 = (double)(r[1] >> 11) * 0x1.0p-53;
    return (float)(sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

elm_mix_trainer *elm_mix_trainer_new(int32_t n_layers, int32_t dim, int32_t n_labels, float lr, int64_t total_steps,
                                     uint64_t seed, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (n_layers < 1 || n_layers > 64 || dim < 1 || dim > (1 << 16) || n_labels < 2 || n_labels > 4096 || !(lr > 0)) {
        elm_err_set(err, ELM_ERR_INVALID, "mix trainer: bad arguments");
        return NULL;
    }
    elm_mix_trainer *t = ELM_CALLOC(1, sizeof *t);
    gl_error ge = {0};
    if (!t || !(t->s = ELM_CALLOC((size_t)n_layers, sizeof(float))) || !(t->gamma = ELM_MALLOC(sizeof(float))) ||
        !(t->w = ELM_MALLOC((size_t)dim * (size_t)n_labels * sizeof(float))) || !(t->b = ELM_CALLOC((size_t)n_labels, sizeof(float))) ||
        !(t->pctx = gl_context_new((gl_context_params){.mem_size = 8 * gl_tensor_overhead(), .no_alloc = true}, &ge))) {
        elm_mix_trainer_free(t);
        elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: out of memory");
        return NULL;
    }
    t->L = n_layers;
    t->dim = dim;
    t->n_labels = n_labels;
    t->gamma[0] = 1.0f;
    uint64_t st = seed ^ 0xE1A0ull;
    for (int64_t i = 0; i < (int64_t)dim * n_labels; i++) t->w[i] = mt_normal(&st, 0.02f);
    const int64_t ne_s = n_layers, ne_g = 1, ne_w[2] = {dim, n_labels}, ne_b = n_labels;
    t->leaf[0] = gl_new_tensor_with_data(t->pctx, GL_TYPE_F32, 1, &ne_s, t->s);
    t->leaf[1] = gl_new_tensor_with_data(t->pctx, GL_TYPE_F32, 1, &ne_g, t->gamma);
    t->leaf[2] = gl_new_tensor_with_data(t->pctx, GL_TYPE_F32, 2, ne_w, t->w);
    t->leaf[3] = gl_new_tensor_with_data(t->pctx, GL_TYPE_F32, 1, &ne_b, t->b);
    gl_adamw_params ap = gl_adamw_default_params();
    ap.lr = lr;
    ap.total_steps = total_steps;
    if (!(t->opt = gl_adamw_new(t->leaf, 4, &ap, &ge))) {
        elm_err_from_gl(err, &ge);
        elm_mix_trainer_free(t);
        return NULL;
    }
    return t;
}

/* One batch: inputs X [L, dim * N] (layer fastest), pooling P [N, B] (1/n_tokens of each
 * sentence's tokens). Builds logits [n_labels, B]; loss when labels are given. */
typedef struct mt_batch {
    gl_context *ctx;
    float *x, *p;
    int32_t *labels;
    int64_t N;
} mt_batch;

static void mt_batch_free(mt_batch *b) {
    gl_context_free(b->ctx);
    ELM_FREE(b->x);
    ELM_FREE(b->p);
    ELM_FREE(b->labels);
}

static gl_tensor *mt_build(elm_mix_trainer *t, mt_batch *mb, int32_t B, const float *const *layers, const int32_t *n_tokens,
                           gl_tensor **leaves, elm_error *err) {
    int64_t N = 0;
    for (int32_t s = 0; s < B; s++) {
        if (n_tokens[s] < 1 || !layers[s]) {
            elm_err_set(err, ELM_ERR_INVALID, "mix trainer: sentence %d is empty", s);
            return NULL;
        }
        N += n_tokens[s];
    }
    mb->N = N;
    const int64_t L = t->L, Dm = t->dim;
    gl_error ge = {0};
    mb->x = ELM_MALLOC((size_t)(L * Dm * N) * sizeof(float));
    mb->p = ELM_CALLOC((size_t)(N * B), sizeof(float));
    mb->ctx = gl_context_new((gl_context_params){.mem_size = 256 * gl_tensor_overhead() + (1 << 16), .no_alloc = true}, &ge);
    if (!mb->x || !mb->p || !mb->ctx) {
        elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: out of memory");
        return NULL;
    }
    int64_t off = 0;
    for (int32_t s = 0; s < B; s++) {
        const int64_t n = n_tokens[s];
        for (int64_t j = 0; j < L; j++)
            for (int64_t tk = 0; tk < n; tk++)
                for (int64_t d = 0; d < Dm; d++) mb->x[((off + tk) * Dm + d) * L + j] = layers[s][(j * n + tk) * Dm + d];
        for (int64_t tk = 0; tk < n; tk++) mb->p[s * N + off + tk] = 1.0f / (float)n;
        off += n;
    }
    gl_context *c = mb->ctx;
    for (int k = 0; k < 4; k++) {
        leaves[k] = gl_new_tensor_with_data(c, GL_TYPE_F32, t->leaf[k]->ne[1] > 1 ? 2 : 1, t->leaf[k]->ne, t->leaf[k]->data);
    }
    const int64_t xne[2] = {L, Dm * N}, pne[2] = {N, B};
    gl_tensor *x = gl_new_tensor_with_data(c, GL_TYPE_F32, 2, xne, mb->x);
    gl_tensor *p = gl_new_tensor_with_data(c, GL_TYPE_F32, 2, pne, mb->p);
    gl_tensor *wts = gl_reshape_2d(c, gl_softmax(c, gl_reshape_2d(c, leaves[0], L, 1)), L, 1); /* softmax(s) */
    gl_tensor *mix = gl_mul(c, gl_mul_mat(c, x, wts), leaves[1]);                             /* [dim * N, 1] * gamma */
    gl_tensor *tokens = gl_reshape_2d(c, mix, Dm, N);
    gl_tensor *pooled = gl_mul_mat(c, gl_cont(c, gl_transpose(c, tokens)), p);               /* [dim, B] */
    gl_tensor *logits = gl_add(c, gl_mul_mat(c, leaves[2], pooled), leaves[3]);
    if (!gl_ctx_ok(c)) {
        elm_err_set(err, ELM_ERR_INVALID, "mix trainer: %s", gl_ctx_error(c));
        return NULL;
    }
    return logits;
}

static elm_status mt_compute(gl_graph *g, void **buf, elm_error *err) {
    gl_error ge = {0};
    gl_graph_plan plan;
    if (gl_graph_plan_memory(g, 1, &plan, &ge) != GL_OK) return elm_err_from_gl(err, &ge);
    size_t size = plan.buffer_size + plan.work_size;
    if (!(*buf = ELM_ALIGNED_ALLOC(64, (size + 64) / 64 * 64))) return elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: out of memory");
    if (gl_graph_alloc(g, &plan, *buf, size, &ge) != GL_OK || gl_graph_compute(g, NULL, &ge) != GL_OK)
        return elm_err_from_gl(err, &ge);
    return ELM_OK;
}

elm_status elm_mix_trainer_step(elm_mix_trainer *t, int32_t n_seq, const float *const *layers, const int32_t *n_tokens,
                                const int32_t *labels, float *loss, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!t || n_seq < 1 || n_seq > 65536 || !layers || !n_tokens || !labels)
        return elm_err_set(err, ELM_ERR_INVALID, "mix trainer: bad arguments");
    mt_batch mb = {0};
    gl_tensor *leaves[4], *grads[4] = {0};
    void *buf = NULL;
    elm_status st = ELM_OK;
    gl_tensor *logits = mt_build(t, &mb, n_seq, layers, n_tokens, leaves, err);
    if (!logits) st = err->code;
    gl_tensor *lossn = NULL;
    if (st == ELM_OK) {
        const int64_t nb = n_seq;
        mb.labels = ELM_MALLOC((size_t)n_seq * sizeof *mb.labels);
        if (!mb.labels) st = elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: out of memory");
        for (int32_t s = 0; st == ELM_OK && s < n_seq; s++) {
            if (labels[s] < 0 || labels[s] >= t->n_labels) st = elm_err_set(err, ELM_ERR_INVALID, "mix trainer: label %d", labels[s]);
            else mb.labels[s] = labels[s];
        }
        if (st == ELM_OK) lossn = gl_cross_entropy(mb.ctx, logits, gl_new_tensor_with_data(mb.ctx, GL_TYPE_I32, 1, &nb, mb.labels));
        if (st == ELM_OK && !lossn) st = elm_err_set(err, ELM_ERR_INVALID, "mix trainer: %s", gl_ctx_error(mb.ctx));
    }
    gl_graph *fwd = st == ELM_OK ? gl_graph_new(mb.ctx, 128) : NULL, *full = NULL;
    if (st == ELM_OK && (!fwd || gl_graph_expand(fwd, lossn) != GL_OK)) st = elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: graph");
    gl_error ge = {0};
    if (st == ELM_OK && gl_build_backward(mb.ctx, fwd, lossn, leaves, 4, grads, &ge) != GL_OK) st = elm_err_from_gl(err, &ge);
    if (st == ELM_OK) {
        full = gl_graph_new(mb.ctx, 256);
        gl_set_output(lossn);
        bool ok = full && gl_graph_expand(full, lossn) == GL_OK;
        for (int k = 0; ok && k < 4; k++) ok = !grads[k] || gl_graph_expand(full, grads[k]) == GL_OK;
        if (!ok) st = elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: graph");
    }
    if (st == ELM_OK) st = mt_compute(full, &buf, err);
    if (st == ELM_OK && gl_adamw_step(t->opt, grads, NULL, &ge) != GL_OK) st = elm_err_from_gl(err, &ge);
    if (st == ELM_OK && loss) *loss = *(float *)lossn->data;
    ELM_FREE(buf);
    mt_batch_free(&mb);
    return st;
}

elm_status elm_mix_trainer_predict(elm_mix_trainer *t, int32_t n_seq, const float *const *layers, const int32_t *n_tokens,
                                   float *logits, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!t || n_seq < 1 || n_seq > 65536 || !layers || !n_tokens || !logits)
        return elm_err_set(err, ELM_ERR_INVALID, "mix trainer: bad arguments");
    mt_batch mb = {0};
    gl_tensor *leaves[4];
    void *buf = NULL;
    gl_tensor *out = mt_build(t, &mb, n_seq, layers, n_tokens, leaves, err);
    elm_status st = out ? ELM_OK : err->code;
    gl_graph *g = st == ELM_OK ? gl_graph_new(mb.ctx, 128) : NULL;
    if (st == ELM_OK && (!g || gl_graph_expand(g, out) != GL_OK)) st = elm_err_set(err, ELM_ERR_NOMEM, "mix trainer: graph");
    if (st == ELM_OK) {
        gl_set_output(out);
        st = mt_compute(g, &buf, err);
    }
    if (st == ELM_OK) memcpy(logits, out->data, (size_t)n_seq * (size_t)t->n_labels * sizeof *logits);
    ELM_FREE(buf);
    mt_batch_free(&mb);
    return st;
}

/* The learnt mix: weights = softmax(s) (n_layers values) and gamma. */
void elm_mix_trainer_mix(const elm_mix_trainer *t, float *weights, float *gamma) {
    if (!t) return;
    double mx = t->s[0], z = 0;
    for (int32_t j = 1; j < t->L; j++) mx = fmax(mx, t->s[j]);
    for (int32_t j = 0; j < t->L; j++) z += exp(t->s[j] - mx);
    for (int32_t j = 0; weights && j < t->L; j++) weights[j] = (float)(exp(t->s[j] - mx) / z);
    if (gamma) *gamma = t->gamma[0];
}

void elm_mix_trainer_params(const elm_mix_trainer *t, float *s, float *w, float *b) {
    if (!t) return;
    if (s) memcpy(s, t->s, (size_t)t->L * sizeof *s);
    if (w) memcpy(w, t->w, (size_t)t->dim * (size_t)t->n_labels * sizeof *w);
    if (b) memcpy(b, t->b, (size_t)t->n_labels * sizeof *b);
}
