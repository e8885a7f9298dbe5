/*
 * gl-backward.c — training support: custom nodes, the backward graph, and the training ops
 * (cross-entropy, dropout). See ggml-lite.h, "Training".
 *
 * The backward graph is built from the forward graph, node by node in reverse order, with
 * the gradient of each node that depends on a trained parameter accumulated by gl_add.
 * Gradients are F32 and contiguous. Most gradient kernels are custom nodes (GL_OP_CUSTOM):
 * single-threaded plain C that reads its inputs through their strides, so a gradient is the
 * same whatever the thread count. Supported forward ops: ADD, SUB, MUL (b broadcast over a),
 * SCALE, MUL_MAT (gradient to x through any weight type, dequantized row by row; to w when
 * w is F32), UNARY (GELU, TANH, RELU), NORM (layer norm with optional w, b), SOFTMAX (scale,
 * additive mask), GET_ROWS (scatter-add into an F32 table), VIEW / reshape / permute /
 * transpose (scattered into their base), CONT, CPY into a fresh tensor, SUM_ROWS, MEAN, and
 * the custom training ops of this file. Anything else on a path from a parameter to the loss
 * is an error naming the op.
 */
#include "ggml-lite.h"
#include "gl-impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * custom nodes
 * ---------------------------------------------------------------------------------------- */

/* op_params layout of a custom node: [0..1] kernel, [2..3] backward builder, then up to 12
 * int32 / float parameters of the kernel at GL_CUSTOM_P0. */
#define GL_CUSTOM_P0 4

/* A kernel that splits its work over the graph's threads (the gradient matrix products): each
 * output element is computed by one thread in a fixed order, so results do not depend on
 * the thread count. Marked by GL_CUSTOM_THREADED in the last parameter slot. */
typedef void (*bw_threaded_fn)(gl_tensor *dst, int ith, int nth);
#define GL_CUSTOM_THREADED 0x54485244 /* "THRD" */
#define GL_CUSTOM_FLAG_SLOT (GL_MAX_OP_PARAMS - 1)

typedef struct gl_custom_ptrs {
    union {
        gl_custom_fn one;
        bw_threaded_fn many;
    } fn;
    gl_custom_backward_fn back;
} gl_custom_ptrs;

gl_tensor *gl_custom(gl_context *ctx, gl_type type, const int64_t ne[4], gl_tensor *const *src, int n_src,
                     gl_custom_fn fn, gl_custom_backward_fn back) {
    if (!fn || n_src < 0 || n_src > GL_MAX_SRC) return gl_ctx_fail(ctx, "gl_custom: bad arguments");
    gl_tensor *t = gl_new_op_tensor(ctx, type, GL_MAX_DIMS, ne, GL_OP_CUSTOM, n_src, src);
    if (!t) return NULL;
    gl_custom_ptrs p = {.fn.one = fn, .back = back};
    _Static_assert(sizeof p <= GL_CUSTOM_P0 * sizeof(int32_t), "two function pointers fit");
    memcpy(t->op_params, &p, sizeof p);
    return t;
}

static gl_custom_ptrs custom_ptrs(const gl_tensor *t) {
    gl_custom_ptrs p;
    memcpy(&p, t->op_params, sizeof p);
    return p;
}

static bool custom_threaded(const gl_tensor *t) { return t->op_params[GL_CUSTOM_FLAG_SLOT] == GL_CUSTOM_THREADED; }

void gl_compute_custom(gl_tensor *t, int ith, int nth) {
    gl_custom_ptrs p = custom_ptrs(t);
    if (custom_threaded(t)) p.fn.many(t, ith, nth);
    else if (ith == 0 && p.fn.one) p.fn.one(t);
}

int gl_custom_n_tasks(const gl_tensor *t, int n_threads) { return custom_threaded(t) ? n_threads : 1; }

/* A gradient node computed by a threaded kernel. */
static gl_tensor *bw_new_threaded(gl_context *ctx, const int64_t ne[4], gl_tensor *const *src, int n_src, bw_threaded_fn fn) {
    gl_tensor *t = gl_new_op_tensor(ctx, GL_TYPE_F32, GL_MAX_DIMS, ne, GL_OP_CUSTOM, n_src, src);
    if (!t) return NULL;
    gl_custom_ptrs p = {.fn.many = fn, .back = NULL};
    memcpy(t->op_params, &p, sizeof p);
    t->op_params[GL_CUSTOM_FLAG_SLOT] = GL_CUSTOM_THREADED;
    return t;
}

int32_t *gl_custom_params(gl_tensor *t) { return t->op_params + GL_CUSTOM_P0; }

static float cparam_f32(const gl_tensor *t, int i) { return gl_op_param_f32(t, GL_CUSTOM_P0 + i); }
static void cparam_set_f32(gl_tensor *t, int i, float v) { gl_op_param_set_f32(t, GL_CUSTOM_P0 + i, v); }

/* ------------------------------------------------------------------------------------------
 * element access
 * ---------------------------------------------------------------------------------------- */

static float bw_get(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    const char *p = gl_ptr(t, i0, i1, i2, i3);
    switch (t->type) {
    case GL_TYPE_F32: return *(const float *)p;
    case GL_TYPE_F16: return gl_fp16_to_fp32(*(const gl_fp16 *)p);
    case GL_TYPE_BF16: return gl_bf16_to_fp32(*(const gl_bf16 *)p);
    case GL_TYPE_I32: return (float)*(const int32_t *)p;
    default: return 0.0f;
    }
}

/* dst (contiguous F32) element index of (i0..i3). */
static inline int64_t bw_idx(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return ((i3 * t->ne[2] + i2) * t->ne[1] + i1) * t->ne[0] + i0;
}

#define BW_FOR4(t)                                       \
    for (int64_t i3 = 0; i3 < (t)->ne[3]; i3++)          \
        for (int64_t i2 = 0; i2 < (t)->ne[2]; i2++)      \
            for (int64_t i1 = 0; i1 < (t)->ne[1]; i1++)  \
                for (int64_t i0 = 0; i0 < (t)->ne[0]; i0++)

static gl_tensor *bw_new(gl_context *ctx, const int64_t ne[4], gl_tensor *const *src, int n_src, gl_custom_fn fn) {
    return gl_custom(ctx, GL_TYPE_F32, ne, src, n_src, fn, NULL);
}

/* ------------------------------------------------------------------------------------------
 * gradient kernels
 * ---------------------------------------------------------------------------------------- */

/* dst (shape of the broadcast operand) = g summed over the repeats. src: g. */
static void k_reduce_to(gl_tensor *d) {
    const gl_tensor *g = d->src[0];
    float *o = d->data;
    memset(o, 0, (size_t)gl_nelements(d) * sizeof *o);
    const int64_t n0 = g->ne[0], rows = g->ne[1] * g->ne[2] * g->ne[3];
    if (d->ne[0] == n0 && d->ne[1] == 1 && d->ne[2] == 1 && d->ne[3] == 1 && g->type == GL_TYPE_F32 &&
        g->nb[0] == sizeof(float) && g->nb[1] == (size_t)n0 * sizeof(float) && g->nb[2] == g->nb[1] * (size_t)g->ne[1] &&
        g->nb[3] == g->nb[2] * (size_t)g->ne[2]) { /* a bias: contiguous rows summed, in the same order as below */
        const float *gv = g->data;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i0 = 0; i0 < n0; i0++) o[i0] += gv[r * n0 + i0];
        return;
    }
    BW_FOR4(g) o[bw_idx(d, i0 % d->ne[0], i1 % d->ne[1], i2 % d->ne[2], i3 % d->ne[3])] += bw_get(g, i0, i1, i2, i3);
}

/* Broadcast g (shape of the reduced result: ne0 == 1) over x's rows, times s. src: g, x. */
static void k_repeat_rows(gl_tensor *d) {
    const gl_tensor *g = d->src[0];
    const float s = cparam_f32(d, 0);
    float *o = d->data;
    BW_FOR4(d) o[bw_idx(d, i0, i1, i2, i3)] = s * bw_get(g, 0, i1, i2, i3);
}

/* mul_mat y[m, n] = sum_k w[k, m] x[k, n] (w broadcast over x's batch dims):
 * dx[k, n] = sum_m w[k, m] g[m, n]. src: w (any type: rows dequantized), g. Thread ith owns the
 * columns n = ith, ith + nth, ... (each summed over m in the same order on any thread count). */
static void k_mm_dx(gl_tensor *d, int ith, int nth) {
    const gl_tensor *w = d->src[0], *g = d->src[1];
    const int64_t K = w->ne[0], M = w->ne[1];
    const gl_type_traits *tt = gl_type_get(w->type);
    float *row = GL_MALLOC((size_t)K * sizeof *row), *o = d->data;
    if (!row) return;
    for (int64_t i3 = 0; i3 < d->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < d->ne[2]; i2++)
            for (int64_t n = ith; n < d->ne[1]; n += nth) memset(o + bw_idx(d, 0, n, i2, i3), 0, (size_t)K * sizeof *o);
    for (int64_t i3 = 0; i3 < d->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < d->ne[2]; i2++) {
            const int64_t w2 = i2 / (d->ne[2] / w->ne[2]), w3 = i3 / (d->ne[3] / w->ne[3]);
            for (int64_t m = 0; m < M; m++) {
                const void *wr = gl_row(w, m, w2, w3);
                if (w->type == GL_TYPE_F32) memcpy(row, wr, (size_t)K * sizeof *row);
                else tt->to_float(wr, row, K);
                for (int64_t n = ith; n < d->ne[1]; n += nth) {
                    const float gv = bw_get(g, m, n, i2, i3);
                    if (gv == 0.0f) continue;
                    float *on = o + bw_idx(d, 0, n, i2, i3);
                    for (int64_t k = 0; k < K; k++) on[k] += row[k] * gv;
                }
            }
        }
    GL_FREE(row);
}

/* Unary derivatives. src: x (the op's input), y (its output), g. param 0: the unary op. */
static void k_unary_back(gl_tensor *d) {
    const gl_tensor *x = d->src[0], *y = d->src[1], *g = d->src[2];
    const int op = gl_custom_params(d)[1];
    float *o = d->data;
    BW_FOR4(d) {
        const float xv = bw_get(x, i0, i1, i2, i3), gv = bw_get(g, i0, i1, i2, i3);
        float dv;
        switch (op) {
        case GL_UNARY_GELU: { /* Phi(x) + x phi(x) */
            const double cdf = 0.5 * (1.0 + erf(xv / sqrt(2.0))), pdf = exp(-0.5 * (double)xv * xv) / 2.5066282746310002 /* sqrt(2 pi) */;
            dv = (float)(cdf + xv * pdf);
            break;
        }
        case GL_UNARY_TANH: {
            const float yv = bw_get(y, i0, i1, i2, i3);
            dv = 1.0f - yv * yv;
            break;
        }
        default: dv = xv > 0.0f ? 1.0f : 0.0f; break; /* RELU */
        }
        o[bw_idx(d, i0, i1, i2, i3)] = gv * dv;
    }
}

/* Mean and 1 / sqrt(var + eps) of row (i1, i2, i3) of x. */
static void bw_row_stats(const gl_tensor *x, int64_t i1, int64_t i2, int64_t i3, float eps, double *mean, double *inv) {
    const int64_t n = x->ne[0];
    double m = 0, var = 0;
    for (int64_t i = 0; i < n; i++) m += bw_get(x, i, i1, i2, i3);
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        const double c = bw_get(x, i, i1, i2, i3) - m;
        var += c * c;
    }
    *mean = m;
    *inv = 1.0 / sqrt(var / (double)n + eps);
}

/* Layer norm over ne0: y = xhat * w + b, xhat = (x - mean) / sqrt(var + eps).
 * dx = (1/sigma) (gw - mean(gw) - xhat mean(gw xhat)) with gw = g * w. src: x, g, w (or NULL).
 * param 0: eps. */
static void k_norm_dx(gl_tensor *d) {
    const gl_tensor *x = d->src[0], *g = d->src[1], *w = d->src[2];
    const float eps = cparam_f32(d, 0);
    const int64_t n = x->ne[0];
    double *xh = GL_MALLOC((size_t)n * sizeof *xh), *gw = GL_MALLOC((size_t)n * sizeof *gw);
    float *o = d->data;
    if (!xh || !gw) goto done;
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                double mean, inv;
                bw_row_stats(x, i1, i2, i3, eps, &mean, &inv);
                double m1 = 0, m2 = 0;
                for (int64_t i = 0; i < n; i++) {
                    xh[i] = (bw_get(x, i, i1, i2, i3) - mean) * inv;
                    gw[i] = (double)bw_get(g, i, i1, i2, i3) * (w ? bw_get(w, i, 0, 0, 0) : 1.0f);
                    m1 += gw[i];
                    m2 += gw[i] * xh[i];
                }
                m1 /= (double)n;
                m2 /= (double)n;
                for (int64_t i = 0; i < n; i++) o[bw_idx(d, i, i1, i2, i3)] = (float)(inv * (gw[i] - m1 - xh[i] * m2));
            }
done:
    GL_FREE(xh);
    GL_FREE(gw);
}

/* dw = sum over rows of g * xhat. src: x, g. param 0: eps. */
static void k_norm_dw(gl_tensor *d) {
    const gl_tensor *x = d->src[0], *g = d->src[1];
    const float eps = cparam_f32(d, 0);
    const int64_t n = x->ne[0];
    double *acc = GL_CALLOC((size_t)n, sizeof *acc);
    float *o = d->data;
    if (!acc) return;
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                double mean, inv;
                bw_row_stats(x, i1, i2, i3, eps, &mean, &inv);
                for (int64_t i = 0; i < n; i++) acc[i] += (bw_get(x, i, i1, i2, i3) - mean) * inv * bw_get(g, i, i1, i2, i3);
            }
    for (int64_t i = 0; i < n; i++) o[i] = (float)acc[i];
    GL_FREE(acc);
}

/* softmax(scale * a + mask) over ne0: da = scale * y * (g - sum(g y)). src: y, g. param 0: scale. */
static void k_softmax_back(gl_tensor *d) {
    const gl_tensor *y = d->src[0], *g = d->src[1];
    const float scale = cparam_f32(d, 0);
    float *o = d->data;
    for (int64_t i3 = 0; i3 < y->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < y->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < y->ne[1]; i1++) {
                double dot = 0;
                for (int64_t i = 0; i < y->ne[0]; i++) dot += (double)bw_get(g, i, i1, i2, i3) * bw_get(y, i, i1, i2, i3);
                for (int64_t i = 0; i < y->ne[0]; i++)
                    o[bw_idx(d, i, i1, i2, i3)] =
                        (float)(scale * bw_get(y, i, i1, i2, i3) * (bw_get(g, i, i1, i2, i3) - dot));
            }
}

/* get_rows: the table's gradient, every looked-up row's g added to its row. src: g, ids. */
static void k_get_rows_back(gl_tensor *d) {
    const gl_tensor *g = d->src[0], *ids = d->src[1];
    float *o = d->data;
    memset(o, 0, (size_t)gl_nelements(d) * sizeof *o);
    for (int64_t i2 = 0; i2 < g->ne[2]; i2++)
        for (int64_t i1 = 0; i1 < g->ne[1]; i1++) {
            const int32_t r = *(const int32_t *)gl_ptr(ids, i1, i2, 0, 0);
            if (r < 0 || r >= d->ne[1]) continue;
            for (int64_t i0 = 0; i0 < g->ne[0]; i0++) o[bw_idx(d, i0, r, i2 % d->ne[2], 0)] += bw_get(g, i0, i1, i2, 0);
        }
}

/* A view's gradient scattered into its base (contiguous F32): element (i) of the view lives at
 * byte view_offs + sum i_k nb_k of the base. src: g, the view (for its strides). */
static void k_view_back(gl_tensor *d) {
    const gl_tensor *g = d->src[0], *v = d->src[1];
    float *o = d->data;
    memset(o, 0, (size_t)gl_nelements(d) * sizeof *o);
    BW_FOR4(g) {
        const size_t byte = v->view_offs + (size_t)i0 * v->nb[0] + (size_t)i1 * v->nb[1] + (size_t)i2 * v->nb[2] +
                            (size_t)i3 * v->nb[3];
        o[byte / sizeof(float)] += bw_get(g, i0, i1, i2, i3);
    }
}

/* ------------------------------------------------------------------------------------------
 * training ops: cross-entropy and dropout
 * ---------------------------------------------------------------------------------------- */

/* Mean over rows with a label >= 0 of -log softmax(logits)[label]. src: logits [C, N], labels. */
static void k_ce(gl_tensor *d) {
    const gl_tensor *lg = d->src[0], *lab = d->src[1];
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t n = 0; n < lg->ne[1]; n++) {
        const int32_t y = *(const int32_t *)gl_ptr(lab, n, 0, 0, 0);
        if (y < 0 || y >= lg->ne[0]) continue;
        double mx = bw_get(lg, 0, n, 0, 0), z = 0;
        for (int64_t c = 1; c < lg->ne[0]; c++) mx = fmax(mx, bw_get(lg, c, n, 0, 0));
        for (int64_t c = 0; c < lg->ne[0]; c++) z += exp(bw_get(lg, c, n, 0, 0) - mx);
        sum += mx + log(z) - bw_get(lg, y, n, 0, 0);
        cnt++;
    }
    *(float *)d->data = cnt ? (float)(sum / (double)cnt) : 0.0f;
}

/* d logits = g (softmax - onehot) / count. src: logits, labels, g. */
static void k_ce_back(gl_tensor *d) {
    const gl_tensor *lg = d->src[0], *lab = d->src[1], *g = d->src[2];
    const float gv = *(const float *)g->data;
    float *o = d->data;
    int64_t cnt = 0;
    for (int64_t n = 0; n < lg->ne[1]; n++) {
        const int32_t y = *(const int32_t *)gl_ptr(lab, n, 0, 0, 0);
        cnt += y >= 0 && y < lg->ne[0];
    }
    for (int64_t n = 0; n < lg->ne[1]; n++) {
        const int32_t y = *(const int32_t *)gl_ptr(lab, n, 0, 0, 0);
        float *on = o + n * lg->ne[0];
        if (y < 0 || y >= lg->ne[0] || !cnt) {
            memset(on, 0, (size_t)lg->ne[0] * sizeof *on);
            continue;
        }
        double mx = bw_get(lg, 0, n, 0, 0), z = 0;
        for (int64_t c = 1; c < lg->ne[0]; c++) mx = fmax(mx, bw_get(lg, c, n, 0, 0));
        for (int64_t c = 0; c < lg->ne[0]; c++) z += exp(bw_get(lg, c, n, 0, 0) - mx);
        for (int64_t c = 0; c < lg->ne[0]; c++)
            on[c] = (float)(gv * (exp(bw_get(lg, c, n, 0, 0) - mx) / z - (c == y)) / (double)cnt);
    }
}

static gl_tensor *ce_backward(gl_context *ctx, gl_tensor *node, int i, gl_tensor *g) {
    if (i != 0) return NULL;
    gl_tensor *src[3] = {node->src[0], node->src[1], g};
    return bw_new(ctx, node->src[0]->ne, src, 3, k_ce_back);
}

gl_tensor *gl_cross_entropy(gl_context *ctx, gl_tensor *logits, gl_tensor *labels) {
    if (!logits || !labels || labels->type != GL_TYPE_I32 || labels->ne[0] != logits->ne[1] ||
        logits->ne[2] != 1 || logits->ne[3] != 1 || logits->type != GL_TYPE_F32)
        return gl_ctx_fail(ctx, "gl_cross_entropy: logits [C, N] F32 and labels I32 [N] expected");
    const int64_t ne[4] = {1, 1, 1, 1};
    gl_tensor *src[2] = {logits, labels};
    return gl_custom(ctx, GL_TYPE_F32, ne, src, 2, k_ce, ce_backward);
}

/* Counter-based generator: the keep decision of element i depends on (seed, i) only. */
static uint64_t bw_mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* x * keep / (1 - p), keep with probability 1 - p. src: x (or g for the backward). params: p,
 * seed (two int32 halves). */
static void k_dropout(gl_tensor *d) {
    const gl_tensor *x = d->src[0];
    const float p = cparam_f32(d, 0);
    const uint64_t seed = (uint64_t)(uint32_t)gl_custom_params(d)[1] | (uint64_t)(uint32_t)gl_custom_params(d)[2] << 32;
    const float keep = 1.0f - p;
    float *o = d->data;
    BW_FOR4(d) {
        const int64_t i = bw_idx(d, i0, i1, i2, i3);
        const double u = (double)(bw_mix(seed ^ bw_mix((uint64_t)i)) >> 11) * 0x1.0p-53;
        o[i] = u < keep ? bw_get(x, i0, i1, i2, i3) / keep : 0.0f;
    }
}

static gl_tensor *dropout_backward(gl_context *ctx, gl_tensor *node, int i, gl_tensor *g) {
    if (i != 0) return NULL;
    gl_tensor *t = gl_custom(ctx, GL_TYPE_F32, node->ne, &g, 1, k_dropout, NULL); /* the same mask */
    if (t) memcpy(gl_custom_params(t), gl_custom_params(node), 3 * sizeof(int32_t));
    return t;
}

gl_tensor *gl_dropout(gl_context *ctx, gl_tensor *x, float p, uint64_t seed) {
    if (!x || x->type != GL_TYPE_F32 || !(p >= 0.0f && p < 1.0f))
        return gl_ctx_fail(ctx, "gl_dropout: F32 input and 0 <= p < 1 expected");
    gl_tensor *t = gl_custom(ctx, GL_TYPE_F32, x->ne, &x, 1, k_dropout, dropout_backward);
    if (!t) return NULL;
    cparam_set_f32(t, 0, p);
    gl_custom_params(t)[1] = (int32_t)(uint32_t)seed;
    gl_custom_params(t)[2] = (int32_t)(uint32_t)(seed >> 32);
    return t;
}

/* ------------------------------------------------------------------------------------------
 * the backward graph
 * ---------------------------------------------------------------------------------------- */

typedef struct bw_map {
    gl_tensor **key, **grad;
    bool *needs;
    int n, cap;
} bw_map;

static bool bw_grow(bw_map *m) {
    int cap = m->cap * 2;
    gl_tensor **k = GL_REALLOC(m->key, (size_t)cap * sizeof *k);
    if (k) m->key = k;
    gl_tensor **g = GL_REALLOC(m->grad, (size_t)cap * sizeof *g);
    if (g) m->grad = g;
    bool *nd = GL_REALLOC(m->needs, (size_t)cap * sizeof *nd);
    if (nd) m->needs = nd;
    if (!k || !g || !nd) return false;
    memset(m->grad + m->cap, 0, (size_t)(cap - m->cap) * sizeof *m->grad);
    m->cap = cap;
    return true;
}

static int bw_find(const bw_map *m, const gl_tensor *t) {
    for (int i = 0; i < m->n; i++)
        if (m->key[i] == t) return i;
    return -1;
}

/* grad(t) += g */
static void bw_acc(gl_context *ctx, bw_map *m, gl_tensor *t, gl_tensor *g) {
    int i = bw_find(m, t);
    if (i < 0 || !m->needs[i] || !g) return;
    m->grad[i] = m->grad[i] ? gl_add(ctx, m->grad[i], g) : g;
}

/* g summed down to b's shape when b was broadcast. */
static gl_tensor *bw_reduce(gl_context *ctx, gl_tensor *g, const gl_tensor *b) {
    if (g->ne[0] == b->ne[0] && g->ne[1] == b->ne[1] && g->ne[2] == b->ne[2] && g->ne[3] == b->ne[3]) return g;
    return bw_new(ctx, b->ne, &g, 1, k_reduce_to);
}

static bool bw_is_f32_contig(const gl_tensor *t) {
    return t->type == GL_TYPE_F32 && t->nb[0] == sizeof(float) && t->nb[1] == t->ne[0] * sizeof(float) &&
           t->nb[2] == t->nb[1] * (size_t)t->ne[1] && t->nb[3] == t->nb[2] * (size_t)t->ne[2];
}

/* Adds the gradients of node's sources given g = d loss / d node. */
static gl_status bw_node(gl_context *ctx, bw_map *m, gl_tensor *t, gl_tensor *g, gl_error *err) {
    gl_tensor *a = t->src[0], *b = t->src[1];
    const bool na = a && bw_find(m, a) >= 0 && m->needs[bw_find(m, a)];
    const bool nb = b && bw_find(m, b) >= 0 && m->needs[bw_find(m, b)];
    switch (t->op) {
    case GL_OP_ADD:
        if (na) bw_acc(ctx, m, a, g);
        if (nb) bw_acc(ctx, m, b, bw_reduce(ctx, g, b));
        return GL_OK;
    case GL_OP_SUB:
        if (na) bw_acc(ctx, m, a, g);
        if (nb) bw_acc(ctx, m, b, bw_reduce(ctx, gl_scale(ctx, g, -1.0f), b));
        return GL_OK;
    case GL_OP_MUL:
        if (na) bw_acc(ctx, m, a, gl_mul(ctx, g, b));
        if (nb) bw_acc(ctx, m, b, bw_reduce(ctx, gl_mul(ctx, g, a), b));
        return GL_OK;
    case GL_OP_SCALE:
        if (na) bw_acc(ctx, m, a, gl_scale(ctx, g, gl_op_param_f32(t, 0)));
        return GL_OK;
    case GL_OP_MUL_MAT: { /* a = w [K, M], b = x [K, N] */
        /* Both gradients are mat-muls of transposed copies, run by the forward mat-mul kernels
         * (blocked, threaded, the same sums on any thread count): dx = mul_mat(w^T [M, K], g)
         * (w broadcast over g's batches as in the forward pass) and dw = mul_mat(x^T [N, K],
         * g^T [N, M]) summed over the batches w was broadcast across. A quantized w's dx keeps
         * the row-dequantizing kernel. */
        gl_tensor *gc = bw_is_f32_contig(g) ? g : gl_cont(ctx, g);
        if (nb && a->type == GL_TYPE_F32) {
            bw_acc(ctx, m, b, gl_mul_mat(ctx, gl_cont(ctx, gl_transpose(ctx, a)), gc));
        } else if (nb) {
            gl_tensor *src[2] = {a, g};
            bw_acc(ctx, m, b, bw_new_threaded(ctx, b->ne, src, 2, k_mm_dx));
        }
        if (na) {
            if (a->type != GL_TYPE_F32)
                return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: mul_mat weight %s is %s (train F32 weights)", a->name,
                                    gl_type_get(a->type)->name);
            gl_tensor *dw = gl_mul_mat(ctx, gl_cont(ctx, gl_transpose(ctx, b)), gl_cont(ctx, gl_transpose(ctx, gc)));
            bw_acc(ctx, m, a, bw_reduce(ctx, dw, a));
        }
        return GL_OK;
    }
    case GL_OP_UNARY: {
        const int op = t->op_params[0];
        if (op != GL_UNARY_GELU && op != GL_UNARY_TANH && op != GL_UNARY_RELU)
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: unary op %d has no gradient here", op);
        if (na) {
            gl_tensor *src[3] = {a, t, g};
            gl_tensor *d = bw_new(ctx, a->ne, src, 3, k_unary_back);
            if (d) gl_custom_params(d)[1] = op;
            bw_acc(ctx, m, a, d);
        }
        return GL_OK;
    }
    case GL_OP_NORM: {
        gl_tensor *w = t->src[1], *bb = t->src[2];
        const float eps = gl_op_param_f32(t, 0);
        if (na) {
            gl_tensor *src[3] = {a, g, w};
            gl_tensor *d = bw_new(ctx, a->ne, src, 3, k_norm_dx);
            if (d) cparam_set_f32(d, 0, eps);
            bw_acc(ctx, m, a, d);
        }
        if (w && bw_find(m, w) >= 0 && m->needs[bw_find(m, w)]) {
            gl_tensor *src[2] = {a, g};
            gl_tensor *d = bw_new(ctx, w->ne, src, 2, k_norm_dw);
            if (d) cparam_set_f32(d, 0, eps);
            bw_acc(ctx, m, w, d);
        }
        if (bb && bw_find(m, bb) >= 0 && m->needs[bw_find(m, bb)]) bw_acc(ctx, m, bb, bw_reduce(ctx, g, bb));
        return GL_OK;
    }
    case GL_OP_SOFTMAX:
        if (t->op_params[1]) return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: causal softmax");
        if (na) {
            gl_tensor *src[2] = {t, g};
            gl_tensor *d = bw_new(ctx, a->ne, src, 2, k_softmax_back);
            if (d) cparam_set_f32(d, 0, gl_op_param_f32(t, 0));
            bw_acc(ctx, m, a, d);
        }
        return GL_OK;
    case GL_OP_GET_ROWS:
        if (na) {
            if (a->type != GL_TYPE_F32 || a->ne[3] != 1)
                return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: get_rows from a %s table", gl_type_get(a->type)->name);
            gl_tensor *src[2] = {g, b};
            bw_acc(ctx, m, a, bw_new(ctx, a->ne, src, 2, k_get_rows_back));
        }
        return GL_OK;
    case GL_OP_VIEW: {
        gl_tensor *base = t->view_src ? t->view_src : a;
        if (!bw_is_f32_contig(base))
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: view of a non-contiguous or non-F32 tensor");
        gl_tensor *src[2] = {g, t};
        bw_acc(ctx, m, base, bw_new(ctx, base->ne, src, 2, k_view_back));
        return GL_OK;
    }
    case GL_OP_CONT:
    case GL_OP_CPY:
        if (t->op == GL_OP_CPY && t->view_src)
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: copy into a view");
        if (na) bw_acc(ctx, m, a, gl_reshape_4d(ctx, g, a->ne[0], a->ne[1], a->ne[2], a->ne[3]));
        return GL_OK;
    case GL_OP_SUM_ROWS:
    case GL_OP_MEAN:
        if (na) {
            gl_tensor *src[2] = {g, a};
            gl_tensor *d = bw_new(ctx, a->ne, src, 2, k_repeat_rows);
            if (d) cparam_set_f32(d, 0, t->op == GL_OP_MEAN ? 1.0f / (float)a->ne[0] : 1.0f);
            bw_acc(ctx, m, a, d);
        }
        return GL_OK;
    case GL_OP_CUSTOM: {
        gl_custom_ptrs p = custom_ptrs(t);
        if (!p.back) return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: custom node %s has no gradient", t->name);
        for (int i = 0; i < GL_MAX_SRC; i++) {
            gl_tensor *s = t->src[i];
            if (s && bw_find(m, s) >= 0 && m->needs[bw_find(m, s)]) bw_acc(ctx, m, s, p.back(ctx, t, i, g));
        }
        return GL_OK;
    }
    default:
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "backward: op %s has no gradient", gl_op_name(t->op));
    }
}

gl_status gl_build_backward(gl_context *ctx, gl_graph *fwd, gl_tensor *loss, gl_tensor *const *params, int n_params,
                            gl_tensor **grads, gl_error *err) {
    if (!ctx || !fwd || !loss || (n_params > 0 && (!params || !grads)))
        return gl_error_set(err, GL_ERR_INVALID, "gl_build_backward: bad arguments");
    if (gl_nelements(loss) != 1 || loss->type != GL_TYPE_F32)
        return gl_error_set(err, GL_ERR_INVALID, "gl_build_backward: the loss must be one F32 value");
    const int n = gl_graph_n_nodes(fwd);
    const int cap0 = 2 * n + 16;
    bw_map m = {GL_CALLOC((size_t)cap0, sizeof *m.key), GL_CALLOC((size_t)cap0, sizeof *m.grad), GL_CALLOC((size_t)cap0, sizeof *m.needs), 0,
                cap0};
    gl_status st = GL_OK;
    if (!m.key || !m.grad || !m.needs) {
        st = gl_error_set(err, GL_ERR_NOMEM, "gl_build_backward: out of memory");
        goto done;
    }
    /* which nodes depend on a parameter (the graph is in execution order; its leaves are not
     * listed: they enter the map when a node first reads them) */
    for (int i = 0; i < n; i++) {
        gl_tensor *t = gl_graph_node(fwd, i);
        gl_tensor *leaves[GL_MAX_SRC + 1];
        int nl = 0;
        for (int s = 0; s < GL_MAX_SRC; s++) leaves[nl++] = t->src[s];
        leaves[nl++] = t->view_src;
        for (int s = 0; s < nl; s++) {
            gl_tensor *l = leaves[s];
            if (!l || l->op != GL_OP_NONE || bw_find(&m, l) >= 0) continue;
            if (m.n == m.cap && !bw_grow(&m)) {
                st = gl_error_set(err, GL_ERR_NOMEM, "gl_build_backward: out of memory");
                goto done;
            }
            bool is_param = false;
            for (int k = 0; k < n_params && !is_param; k++) is_param = params[k] == l;
            m.key[m.n] = l;
            m.needs[m.n++] = is_param;
        }
        bool need = false;
        for (int s = 0; s < GL_MAX_SRC && !need; s++) {
            int j = t->src[s] ? bw_find(&m, t->src[s]) : -1;
            need = j >= 0 && m.needs[j];
        }
        if (t->op == GL_OP_VIEW && t->view_src) { /* a view needs what its base needs */
            int j = bw_find(&m, t->view_src);
            need = need || (j >= 0 && m.needs[j]);
        }
        if (m.n == m.cap && !bw_grow(&m)) {
            st = gl_error_set(err, GL_ERR_NOMEM, "gl_build_backward: out of memory");
            goto done;
        }
        m.key[m.n] = t;
        m.needs[m.n++] = need;
    }
    int li = bw_find(&m, loss);
    if (li < 0) {
        st = gl_error_set(err, GL_ERR_INVALID, "gl_build_backward: the loss is not in the graph");
        goto done;
    }
    static const float one_value = 1.0f; /* d loss / d loss; read only */
    const int64_t one[1] = {1};
    gl_tensor *seed = gl_new_tensor_with_data(ctx, GL_TYPE_F32, 1, one, (void *)&one_value);
    if (!seed) {
        st = gl_error_set(err, GL_ERR_NOMEM, "gl_build_backward: %s", gl_ctx_error(ctx));
        goto done;
    }
    gl_set_name(seed, "loss_grad_seed");
    m.grad[li] = seed;
    for (int i = li; i >= 0 && st == GL_OK; i--) {
        gl_tensor *t = m.key[i];
        if (!m.needs[i] || !m.grad[i] || t->op == GL_OP_NONE) continue;
        st = bw_node(ctx, &m, t, m.grad[i], err);
        if (st == GL_OK && !gl_ctx_ok(ctx)) st = gl_error_set(err, GL_ERR_NOMEM, "gl_build_backward: %s", gl_ctx_error(ctx));
    }
    for (int k = 0; k < n_params && st == GL_OK; k++) {
        int j = bw_find(&m, params[k]);
        grads[k] = j >= 0 ? m.grad[j] : NULL;
        if (grads[k]) {
            if (grads[k]->op != GL_OP_CUSTOM && grads[k]->op != GL_OP_ADD) grads[k] = gl_cont(ctx, grads[k]);
            gl_set_output(grads[k]);
        }
    }
done:
    GL_FREE(m.key);
    GL_FREE(m.grad);
    GL_FREE(m.needs);
    return st;
}

