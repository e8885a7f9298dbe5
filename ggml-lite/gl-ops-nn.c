/*
 * gl-ops-nn.c — kernels of the sequence ops: rope, fused attention, conv1d + max over time,
 * and the LSTM. Builders and dispatch are in gl-ops.c (the highway layer is composed there).
 */
#include "gl-impl.h"
#include "gl-ops.h"
#include "gl-quants.h"

#include <math.h>

/* ------------------------------------------------------------------------------------------
 * Scratch layout
 * ---------------------------------------------------------------------------------------- */

#define OPS_CONV_BLOCK 32 /* filters per conv1d_max work item (their weights stay in cache) */
#define OPS_ATTN_QB 64       /* queries per work item of the blocked path */
#define OPS_ATTN_MIN_Q 8     /* fewer queries: the row path (a decode step has one) */
#define OPS_ATTN_MAX_KV 8192 /* more keys: the row path (bounds the scratch: QB + d rows) */
#define OPS_AT_QT 4          /* queries per register tile of the blocked path */
#define OPS_AT_KT 16         /* keys (scores) or output elements (P V) per register tile */

static size_t ops_rope_thread_bytes(const gl_tensor *t) {
    const gl_tensor *a = t->src[0];
    return (ops_needs_tmp(a) ? ops_row_bytes(a->ne[0]) : 0) + 2 * ops_row_bytes(t->op_params[0]);
}

static bool ops_attn_blocked_ok(const gl_tensor *t);
static int64_t ops_attn_ld(const gl_tensor *t);
/* Row path: one score row. Blocked path: a block of score rows, K and V repacked. */
static size_t ops_attn_thread_bytes(const gl_tensor *t) {
    if (!ops_attn_blocked_ok(t)) return ops_row_bytes(t->src[1]->ne[1]);
    const int64_t ld = ops_attn_ld(t);
    return ops_row_bytes(OPS_ATTN_QB * ld) + ops_row_bytes(t->src[0]->ne[0] * ld) +
           ops_row_bytes(t->src[2]->ne[0] * ld);
}

static size_t ops_conv_thread_bytes(const gl_tensor *t) {
    const gl_tensor *w = t->src[1];
    return ops_row_bytes(w->ne[0]) + gl_ops_wvec_bytes(w->type, w->ne[0]) +
           ops_row_bytes(OPS_CONV_BLOCK);
}

/* The LSTM's scratch is shared by all threads: gates [4 cell, B], the cell outputs before the
 * projection [cell, B], and h / cell outputs converted to the weights' vec_dot types. */
typedef struct ops_lstm_layout {
    size_t gates, hc, hq, hcq, total; /* byte offsets and total */
    size_t hq_stride, hcq_stride;     /* bytes per column (0: the F32 vector is used) */
} ops_lstm_layout;

static ops_lstm_layout ops_lstm_plan(const gl_tensor *t) {
    const gl_tensor *xw = t->src[0], *wh = t->src[1], *wp = t->src[2];
    const int64_t cell = xw->ne[0] / 4, B = xw->ne[2], proj = wh->ne[0];
    ops_lstm_layout l;
    l.hq_stride = gl_ops_wvec_bytes(wh->type, proj);
    l.hcq_stride = wp ? gl_ops_wvec_bytes(wp->type, cell) : 0;
    l.gates = 0;
    l.hc = l.gates + ops_row_bytes(4 * cell * B);
    l.hq = l.hc + (wp ? ops_row_bytes(cell * B) : 0);
    l.hcq = l.hq + l.hq_stride * (size_t)B;
    l.total = l.hcq + l.hcq_stride * (size_t)B;
    return l;
}

size_t gl_ops_nn_work_size(const gl_tensor *t, int n_threads) {
    const size_t n = (size_t)(n_threads < 1 ? 1 : n_threads);
    switch (t->op) {
    case GL_OP_ROPE: return n * ops_rope_thread_bytes(t);
    case GL_OP_ATTN: return n * ops_attn_thread_bytes(t);
    case GL_OP_CONV1D_MAX: return n * ops_conv_thread_bytes(t);
    case GL_OP_LSTM: return ops_lstm_plan(t).total;
    default: return 0;
    }
}

static bool ops_nn_scratch_ok(const gl_compute_params *p, const gl_tensor *t) {
    const size_t need = gl_ops_nn_work_size(t, p->nth);
    return need == 0 || (p->wdata && p->wsize >= need);
}

static inline void ops_nn_unravel(const gl_tensor *t, int64_t r, int64_t *i1, int64_t *i2,
                                  int64_t *i3) {
    *i1 = r % t->ne[1];
    *i2 = (r / t->ne[1]) % t->ne[2];
    *i3 = r / (t->ne[1] * t->ne[2]);
}

/* ------------------------------------------------------------------------------------------
 * RoPE
 * ---------------------------------------------------------------------------------------- */

/* cos/sin of theta_i = pos * freq_scale * base^(-2i/n_dims) / ff[i] (ff NULL: 1), times
 * attn_factor, in double so that large positions keep their accuracy. NORMAL: one entry per element with the sign of the pair partner folded
 * into sn (sn[2i] = -sin, sn[2i+1] = +sin). NEOX: n_dims/2 entries. */
static void ops_rope_table(int32_t pos, int n_dims, int mode, float base, float fscale,
                           const float *ff, float mscale, float *cs, float *sn) {
    const int half = n_dims / 2;
    for (int i = 0; i < half; i++) {
        double theta = (double)pos * fscale * pow((double)base, -2.0 * i / n_dims);
        if (ff) theta /= ff[i];
        const float c = (float)cos(theta) * mscale, s = (float)sin(theta) * mscale;
        if (mode == GL_ROPE_NEOX) {
            cs[i] = c;
            sn[i] = s;
        } else {
            cs[2 * i] = cs[2 * i + 1] = c;
            sn[2 * i] = -s;
            sn[2 * i + 1] = s;
        }
    }
}

/* y[j] = x[j] cs[j] + x[j^1] sn[j] */
static void ops_rope_normal(int n_dims, float *y, const float *x, const float *cs, const float *sn) {
    int j = 0;
#if defined(GL_AVX2)
    for (; j + 8 <= n_dims; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        const __m256 sw = _mm256_permute_ps(v, 0xB1); /* swap adjacent pairs */
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(v, _mm256_loadu_ps(cs + j),
                                                _mm256_mul_ps(sw, _mm256_loadu_ps(sn + j))));
    }
#elif defined(GL_NEON)
    for (; j + 4 <= n_dims; j += 4) {
        const float32x4_t v = vld1q_f32(x + j);
        const float32x4_t sw = vrev64q_f32(v);
        vst1q_f32(y + j, vfmaq_f32(vmulq_f32(sw, vld1q_f32(sn + j)), v, vld1q_f32(cs + j)));
    }
#endif
    for (; j < n_dims; j += 2) {
        const float x0 = x[j], x1 = x[j + 1];
        y[j] = x0 * cs[j] + x1 * sn[j];
        y[j + 1] = x1 * cs[j + 1] + x0 * sn[j + 1];
    }
}

/* (x_i, x_{i+h}) -> (x_i c - x_{i+h} s, x_i s + x_{i+h} c) */
static void ops_rope_neox(int n_dims, float *y, const float *x, const float *cs, const float *sn) {
    const int h = n_dims / 2;
    int i = 0;
#if defined(GL_AVX2)
    for (; i + 8 <= h; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + h + i);
        const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(sn + i);
        _mm256_storeu_ps(y + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
        _mm256_storeu_ps(y + h + i, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
    }
#elif defined(GL_NEON)
    for (; i + 4 <= h; i += 4) {
        const float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + h + i);
        const float32x4_t c = vld1q_f32(cs + i), s = vld1q_f32(sn + i);
        vst1q_f32(y + i, vfmsq_f32(vmulq_f32(x0, c), x1, s));
        vst1q_f32(y + h + i, vfmaq_f32(vmulq_f32(x1, c), x0, s));
    }
#endif
    for (; i < h; i++) {
        const float x0 = x[i], x1 = x[h + i];
        y[i] = x0 * cs[i] - x1 * sn[i];
        y[h + i] = x0 * sn[i] + x1 * cs[i];
    }
}

void gl_ops_forward_rope(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0], *pos = t->src[1];
    GL_KERNEL_REQUIRE(p, t, ops_nn_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    const int n_dims = t->op_params[0], mode = t->op_params[1];
    const float base = gl_op_param_f32(t, 2), fscale = gl_op_param_f32(t, 3);
    const float mscale = gl_op_param_f32(t, 4);
    const float *ff = t->src[2] ? (const float *)t->src[2]->data : NULL;
    char *scratch = (char *)p->wdata + (size_t)p->ith * ops_rope_thread_bytes(t);
    float *tmp = (float *)scratch;
    float *cs = (float *)(scratch + (ops_needs_tmp(a) ? ops_row_bytes(a->ne[0]) : 0));
    float *sn = cs + ops_row_bytes(n_dims) / sizeof(float);
    const int64_t n = t->ne[0];
    int64_t r0, r1, cached = -1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_nn_unravel(t, r, &i1, &i2, &i3);
        if (i2 != cached) { /* heads of one token share the table */
            const int32_t ps = *(const int32_t *)gl_ptr(pos, i2, 0, 0, 0);
            ops_rope_table(ps, n_dims, mode, base, fscale, ff, mscale, cs, sn);
            cached = i2;
        }
        const float *x = ops_row_f32(a, i1, i2, i3, tmp);
        float *y = (float *)gl_row(t, i1, i2, i3);
        if (mode == GL_ROPE_NEOX)
            ops_rope_neox(n_dims, y, x, cs, sn);
        else
            ops_rope_normal(n_dims, y, x, cs, sn);
        if (n > n_dims) memcpy(y + n_dims, x + n_dims, (size_t)(n - n_dims) * sizeof(float));
    }
}

/* ------------------------------------------------------------------------------------------
 * Fused attention
 *
 * Row path (scalar builds, few queries, dv not a multiple of OPS_AT_KT): one result
 * row per (head, query): the scores of its visible keys go into the thread's score row
 * (n_kv floats), then one vectorised exp pass and a weighted sum of V rows.
 *
 * Blocked path (SIMD builds; F32 or F16 K and V, dv a multiple of OPS_AT_KT, at least
 * OPS_ATTN_MIN_Q queries, at most OPS_ATTN_MAX_KV keys): work items are (sequence, head,
 * block of OPS_ATTN_QB queries). K and V are repacked (F16 converted to F32) into the thread's scratch once per
 * (sequence, kv head) and reused by the thread's following items: K in panels of OPS_AT_KT
 * keys, [ld / KT][d][KT] (zeros after n_kv), V in panels of OPS_AT_KT elements,
 * [dv / KT][ld][KT], so both inner loops read memory in order (V's rows in place are a
 * stride of n_embd floats apart, which maps a head's rows onto a few L1 sets). Scores: register tiles of OPS_AT_QT queries x OPS_AT_KT keys, one
 * broadcast query element times a vector of keys per FMA (outer products, no horizontal
 * sums: a head's d = 64 is too short for dot-product kernels). Softmax per row over its
 * visible keys (hidden keys up to the block's last visible one get p = 0). P V: tiles of
 * OPS_AT_QT queries x OPS_AT_KT output elements, V rows read in place; each output is
 * scaled by 1/sum as on the row path. Every element is a sum in key (or d) order whatever
 * the tiling or thread split; the paths differ by float reassociation only. Keys the mask
 * or causality hide contribute p = 0 times their V row, so V must be finite there (it is:
 * every key < n_kv has been written).
 *
 * Neither path stores more than a block of n_kv x n_q. GQA: query head h reads kv head
 * h / (n_head / n_head_kv).
 * ---------------------------------------------------------------------------------------- */

/* Soft-capping (softcap > 0) and the sliding window (keys before jmin hidden) of scores
 * row[0..jmax) that were already scaled. */
static void ops_attn_cap_window(float *row, int64_t jmin, int64_t jmax, float softcap) {
    if (softcap > 0.0f)
        for (int64_t j = 0; j < jmax; j++) row[j] = softcap * tanhf(row[j] / softcap);
    for (int64_t j = 0; j < jmin && j < jmax; j++) row[j] = -INFINITY;
}

/* First key query i sees under a sliding window (0 without one). */
static int64_t ops_attn_jmin(const gl_tensor *t, int64_t i, int64_t n_kv, int64_t n_q) {
    const int64_t window = t->op_params[2];
    return window > 0 ? GL_MAX(0, i + (n_kv - n_q) - window + 1) : 0;
}

static bool ops_attn_blocked_ok(const gl_tensor *t) {
#if defined(GL_AVX2) || defined(GL_NEON)
    const gl_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const bool kf = k->type == GL_TYPE_F32 || k->type == GL_TYPE_F16;
    const bool vf = v->type == GL_TYPE_F32 || v->type == GL_TYPE_F16;
    return kf && vf && v->ne[0] % OPS_AT_KT == 0 &&
           q->ne[1] >= OPS_ATTN_MIN_Q && k->ne[1] <= OPS_ATTN_MAX_KV;
#else
    (void)t;
    return false;
#endif
}

/* Floats between the rows of the score block and of K transposed. */
static int64_t ops_attn_ld(const gl_tensor *t) { return (int64_t)GL_PAD((size_t)t->src[1]->ne[1], OPS_AT_KT); }

#if defined(GL_AVX2) || defined(GL_NEON)
#if defined(GL_AVX2)
#define OPS_AT_NV (OPS_AT_KT / 8)
typedef __m256 ops_at_v;
#define OPS_AT_ZERO() _mm256_setzero_ps()
#define OPS_AT_LOAD(p) _mm256_loadu_ps(p)
#define OPS_AT_STORE(p, x) _mm256_storeu_ps(p, x)
#define OPS_AT_FMA_S(acc, x, s) _mm256_fmadd_ps(_mm256_set1_ps(s), x, acc) /* acc + x s */
#define OPS_AT_MUL_S(x, s) _mm256_mul_ps(x, _mm256_set1_ps(s))
#define OPS_AT_W 8
/* Keeps a loaded vector in a register: otherwise GCC folds the load into each FMA that uses
 * it (one memory operand per FMA), and the tile becomes bound by loads. */
#if defined(__AVX512VL__)
#define OPS_AT_PIN(x) __asm__("" : "+v"(x))
#else
#define OPS_AT_PIN(x) __asm__("" : "+x"(x))
#endif
#else
#define OPS_AT_NV (OPS_AT_KT / 4)
typedef float32x4_t ops_at_v;
#define OPS_AT_ZERO() vdupq_n_f32(0.0f)
#define OPS_AT_LOAD(p) vld1q_f32(p)
#define OPS_AT_STORE(p, x) vst1q_f32(p, x)
#define OPS_AT_FMA_S(acc, x, s) vfmaq_n_f32(acc, x, s)
#define OPS_AT_MUL_S(x, s) vmulq_n_f32(x, s)
#define OPS_AT_W 4
#define OPS_AT_PIN(x) ((void)0)
#endif

/* o[c][0..KT) = (sum_j a[c][j] panel[j KT + 0..KT)) * inv[c] (inv NULL: no scaling),
 * j = 0..n-1 in order, for c < OPS_AT_QT: the scores (a = queries, panel = K, n = d) and
 * P V (a = probabilities, panel = V, n = keys, inv = 1 / row sums) alike. */
static inline void ops_at_tile(int64_t n, const float *const *pr, const float *vp, float *const *o,
                               const float *inv) {
    ops_at_v acc[OPS_AT_QT][OPS_AT_NV];
#pragma GCC unroll 8
    for (int c = 0; c < OPS_AT_QT; c++)
#pragma GCC unroll 8
        for (int v = 0; v < OPS_AT_NV; v++) acc[c][v] = OPS_AT_ZERO();
    for (int64_t j = 0; j < n; j++) {
        ops_at_v vv[OPS_AT_NV];
#pragma GCC unroll 8
        for (int v = 0; v < OPS_AT_NV; v++) {
            vv[v] = OPS_AT_LOAD(vp + j * OPS_AT_KT + v * OPS_AT_W);
            OPS_AT_PIN(vv[v]);
        }
#pragma GCC unroll 8
        for (int c = 0; c < OPS_AT_QT; c++) {
            const float pj = pr[c][j];
#pragma GCC unroll 8
            for (int v = 0; v < OPS_AT_NV; v++) acc[c][v] = OPS_AT_FMA_S(acc[c][v], vv[v], pj);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < OPS_AT_QT; c++)
#pragma GCC unroll 8
        for (int v = 0; v < OPS_AT_NV; v++)
            OPS_AT_STORE(o[c] + v * OPS_AT_W, inv ? OPS_AT_MUL_S(acc[c][v], inv[c]) : acc[c][v]);
}

/* Element e of an F32 or F16 row as a float (packing K and V, once per head and thread: an
 * F16 cache is converted here). */
static inline float ops_at_elem(gl_type type, const char *row, int64_t e) {
    return type == GL_TYPE_F16 ? gl_fp16_to_fp32(((const gl_fp16 *)row)[e]) : ((const float *)row)[e];
}

static void ops_attn_blocked(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *mask = t->src[3];
    const float scale = gl_op_param_f32(t, 0), softcap = gl_op_param_f32(t, 3);
    const bool causal = t->op_params[1] != 0;
    const int64_t d = q->ne[0], n_q = q->ne[1], n_head = q->ne[2], n_seq = q->ne[3];
    const int64_t n_kv = k->ne[1], dv = v->ne[0], group = n_head / k->ne[2];
    const int64_t ld = ops_attn_ld(t), nqb = (n_q + OPS_ATTN_QB - 1) / OPS_ATTN_QB;
    char *scratch = (char *)p->wdata + (size_t)p->ith * ops_attn_thread_bytes(t);
    float *sb = (float *)scratch;                                    /* [QB][ld] scores */
    float *kp = (float *)(scratch + ops_row_bytes(OPS_ATTN_QB * ld));  /* [ld/KT][d][KT] */
    float *vp = (float *)((char *)kp + ops_row_bytes(d * ld));          /* [dv/KT][ld][KT] */
    float inv[OPS_ATTN_QB + OPS_AT_QT];
    int64_t packed_h = -1, packed_b = -1;
    int64_t w0, w1;
    gl_split_rows(n_seq * n_head * nqb, p->ith, p->nth, &w0, &w1);
    for (int64_t w = w0; w < w1; w++) {
        const int64_t qb = w % nqb, h = (w / nqb) % n_head, b = w / (nqb * n_head);
        const int64_t hk = h / group, bk = b % k->ne[3], bv = b % v->ne[3];
        const int64_t i0 = qb * OPS_ATTN_QB, nq = GL_MIN(OPS_ATTN_QB, n_q - i0);
        /* keys visible to the block's last query (causal: the most of any of its rows) */
        const int64_t jblk = causal ? GL_MAX(0, GL_MIN(n_kv, i0 + nq - 1 + (n_kv - n_q) + 1)) : n_kv;
        if (jblk == 0) {
            for (int64_t c = 0; c < nq; c++) memset(gl_row(t, h, i0 + c, b), 0, (size_t)dv * sizeof(float));
            continue;
        }
        if (packed_h != hk || packed_b != b) {
            memset(kp + (ld - OPS_AT_KT) * d, 0, (size_t)(OPS_AT_KT * d) * sizeof(float)); /* last panel's tail */
            for (int64_t j = 0; j < n_kv; j++) {
                const char *kr = gl_row(k, j, hk, bk), *vr = gl_row(v, j, hk, bv);
                float *kc = kp + (j / OPS_AT_KT) * OPS_AT_KT * d + j % OPS_AT_KT;
                for (int64_t e = 0; e < d; e++) kc[e * OPS_AT_KT] = ops_at_elem(k->type, kr, e);
                for (int64_t r = 0; r < dv; r += OPS_AT_KT) {
                    float *dst = vp + r * ld + j * OPS_AT_KT;
                    for (int64_t i = 0; i < OPS_AT_KT; i++) dst[i] = ops_at_elem(v->type, vr, r + i);
                }
            }
            packed_h = hk;
            packed_b = b;
        }
        /* scores of the block's queries for keys [0, jblk rounded up to KT); a tile past the
         * last query repeats it (same values written twice) */
        const float *qp[OPS_AT_QT];
        float *sp[OPS_AT_QT];
        for (int64_t j = 0; j < jblk; j += OPS_AT_KT) {
            for (int64_t c = 0; c < nq; c += OPS_AT_QT) {
                for (int cc = 0; cc < OPS_AT_QT; cc++) {
                    const int64_t ci = GL_MIN(c + cc, nq - 1);
                    qp[cc] = (const float *)gl_row(q, i0 + ci, h, b);
                    sp[cc] = sb + ci * ld + j;
                }
                ops_at_tile(d, qp, kp + j * d, sp, NULL);
            }
        }
        /* softmax per row over its visible keys; hidden keys up to jblk get p = 0 */
        for (int64_t c = 0; c < nq; c++) {
            const int64_t i = i0 + c;
            float *row = sb + c * ld;
            const int64_t jmax = causal ? GL_MAX(0, GL_MIN(n_kv, i + (n_kv - n_q) + 1)) : n_kv;
            float mx = -INFINITY;
            if (jmax > 0) {
                ops_vec_scale(jmax, row, row, scale);
                ops_attn_cap_window(row, ops_attn_jmin(t, i, n_kv, n_q), jmax, softcap);
                if (mask) {
                    const float *mr = (const float *)gl_row(mask, i, h % mask->ne[2], b % mask->ne[3]);
                    ops_vec_bin(OPS_BIN_ADD, jmax, row, row, mr);
                }
                mx = ops_vec_max(jmax, row);
            }
            if (mx == -INFINITY) { /* no visible key: a zero row */
                inv[c] = 0.0f;
                memset(row, 0, (size_t)jblk * sizeof(float));
                continue;
            }
            inv[c] = 1.0f / ops_vec_exp_sum(jmax, row, row, mx);
            if (jmax < jblk) memset(row + jmax, 0, (size_t)(jblk - jmax) * sizeof(float));
        }
        /* O = P V into the output rows, scaled by 1/sum */
        const float *pp[OPS_AT_QT];
        float *op[OPS_AT_QT];
        float iv[OPS_AT_QT];
        for (int64_t r = 0; r < dv; r += OPS_AT_KT) {
            for (int64_t c = 0; c < nq; c += OPS_AT_QT) {
                for (int cc = 0; cc < OPS_AT_QT; cc++) {
                    const int64_t ci = GL_MIN(c + cc, nq - 1);
                    pp[cc] = sb + ci * ld;
                    op[cc] = (float *)gl_row(t, h, i0 + ci, b) + r;
                    iv[cc] = inv[ci];
                }
                ops_at_tile(jblk, pp, vp + r * ld, op, iv);
            }
        }
        for (int64_t c = 0; c < nq; c++)
            if (inv[c] == 0.0f) memset(gl_row(t, h, i0 + c, b), 0, (size_t)dv * sizeof(float));
    }
}
#endif

void gl_ops_forward_attn(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *mask = t->src[3];
    GL_KERNEL_REQUIRE(p, t, ops_nn_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
#if defined(GL_AVX2) || defined(GL_NEON)
    if (ops_attn_blocked_ok(t)) {
        ops_attn_blocked(p, t);
        return;
    }
#endif
    const float scale = gl_op_param_f32(t, 0), softcap = gl_op_param_f32(t, 3);
    const bool causal = t->op_params[1] != 0;
    const int64_t d = q->ne[0], n_q = q->ne[1], n_head = q->ne[2];
    const int64_t n_kv = k->ne[1], dv = v->ne[0];
    const int64_t group = n_head / k->ne[2];
    float *scores = (float *)((char *)p->wdata + (size_t)p->ith * ops_attn_thread_bytes(t));
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t h, i, b;
        ops_nn_unravel(t, r, &h, &i, &b);
        const int64_t hk = h / group, bk = b % k->ne[3];
        const float *qr = (const float *)gl_row(q, i, h, b);
        const float *mr = mask ? (const float *)gl_row(mask, i, h % mask->ne[2], b % mask->ne[3]) : NULL;
        int64_t jmax = n_kv;
        if (causal) jmax = GL_MAX(0, GL_MIN(n_kv, i + (n_kv - n_q) + 1));
        float mx = -INFINITY;
        for (int64_t j = 0; j < jmax; j++) {
            const void *kr = gl_row(k, j, hk, bk);
            float s = k->type == GL_TYPE_F32 ? ops_vec_dot_f32(d, (const float *)kr, qr)
                                             : ops_vec_dot_f16(d, (const gl_fp16 *)kr, qr);
            scores[j] = s * scale;
        }
        ops_attn_cap_window(scores, ops_attn_jmin(t, i, n_kv, n_q), jmax, softcap);
        for (int64_t j = 0; j < jmax; j++) {
            if (mr) scores[j] += mr[j];
            mx = scores[j] > mx ? scores[j] : mx;
        }
        float *out = (float *)gl_row(t, h, i, b);
        memset(out, 0, (size_t)dv * sizeof(float));
        if (jmax == 0 || mx == -INFINITY) continue; /* no visible key: zeros */
        const float sum = ops_vec_exp_sum(jmax, scores, scores, mx);
        for (int64_t j = 0; j < jmax; j++) {
            const float pj = scores[j];
            if (pj == 0.0f) continue;
            const void *vr = gl_row(v, j, hk, bk);
            if (v->type == GL_TYPE_F32)
                ops_vec_mad_f32(dv, out, (const float *)vr, pj);
            else
                ops_vec_mad_f16(dv, out, (const gl_fp16 *)vr, pj);
        }
        ops_vec_scale(dv, out, out, 1.0f / sum);
    }
}

/* ------------------------------------------------------------------------------------------
 * conv1d + max over time (the ELMo character CNN)
 *
 * Work items are (sequence, block of OPS_CONV_BLOCK filters). The window of `width` rows of x
 * starting at position t is one contiguous vector of c_in*width floats when x is contiguous
 * (else it is gathered), dotted with each filter's row of w. The bias is added after the max:
 * rounding is monotonic, so max_t fl(b + v_t) = fl(b + max_t v_t) exactly.
 * ---------------------------------------------------------------------------------------- */

void gl_ops_forward_conv1d_max(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    GL_KERNEL_REQUIRE(p, t, ops_nn_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    const int64_t width = t->op_params[0];
    const int64_t c_in = x->ne[0], len = x->ne[1], n = x->ne[2];
    const int64_t K = w->ne[0], c_out = w->ne[1];
    const int64_t n_pos = len - width + 1;
    const int64_t nblk = (c_out + OPS_CONV_BLOCK - 1) / OPS_CONV_BLOCK;
    char *scratch = (char *)p->wdata + (size_t)p->ith * ops_conv_thread_bytes(t);
    float *win = (float *)scratch;
    void *wbuf = scratch + ops_row_bytes(K);
    float *best = (float *)(scratch + ops_row_bytes(K) + gl_ops_wvec_bytes(w->type, K));
    const bool contiguous = x->nb[0] == sizeof(float) && x->nb[1] == (size_t)c_in * sizeof(float);
    int64_t r0, r1;
    gl_split_rows(n * nblk, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t s = r / nblk, o0 = (r % nblk) * OPS_CONV_BLOCK;
        const int64_t o1 = GL_MIN(c_out, o0 + OPS_CONV_BLOCK);
        for (int64_t o = o0; o < o1; o++) best[o - o0] = -INFINITY;
        for (int64_t tp = 0; tp < n_pos; tp++) {
            const float *xv;
            if (contiguous) {
                xv = (const float *)gl_row(x, tp, s, 0);
            } else {
                for (int64_t kk = 0; kk < width; kk++) gl_ops_row_to_f32(x, tp + kk, s, 0, win + kk * c_in);
                xv = win;
            }
            const void *xp = gl_ops_wvec_prepare(w->type, xv, K, wbuf);
            for (int64_t o = o0; o < o1; o++) {
                const float vo = ops_wrow_dot(w, o, xp, K);
                best[o - o0] = vo > best[o - o0] ? vo : best[o - o0];
            }
        }
        for (int64_t o = o0; o < o1; o++)
            *(float *)gl_ptr(t, o, s, 0, 0) = best[o - o0] + gl_ops_get1(b, o);
    }
}

/* ------------------------------------------------------------------------------------------
 * LSTM over a whole sequence, one direction.
 *
 * The steps are serial; inside a step the phases are split over threads with a barrier
 * between them:
 *   0. (quantized wh only) h of each column converted to wh's vec_dot type
 *   1. gates[:, b] = xw[:, t, b] + wh . h_b, forget_bias added to the f rows   (rows split)
 *   2. c = clip(sig(f) c + sig(i) tanh(g)), h_cell = sig(o) tanh(c)              (cells split)
 *   3. (projection only) h = clip(wp . h_cell)                                   (rows split)
 * The node writes its state source in place: c (rows [0, cell)) and h (rows [cell, cell+proj))
 * of every column hold the state after the column's last valid step. Padded steps
 * (t >= lens[b]) leave the state alone and output zeros. proj_clip applies to the projection
 * output only (as TensorFlow's LSTMCell); cell_clip to c. Clips <= 0 are off.
 * ---------------------------------------------------------------------------------------- */

typedef struct ops_lstm {
    const gl_tensor *xw, *wh, *wp, *lens;
    gl_tensor *state, *out;
    int64_t cell, proj, T, B;
    float fb, cell_clip, proj_clip;
    float *gates, *hc;
    char *hq, *hcq;
    ops_lstm_layout l;
} ops_lstm;

static inline float *ops_lstm_c(const ops_lstm *s, int64_t b) {
    return (float *)gl_row(s->state, b, 0, 0);
}
static inline float *ops_lstm_h(const ops_lstm *s, int64_t b) { return ops_lstm_c(s, b) + s->cell; }

static inline bool ops_lstm_active(const ops_lstm *s, int64_t b, int64_t t) {
    if (!s->lens) return true;
    const int32_t len = *(const int32_t *)gl_ptr(s->lens, b, 0, 0, 0);
    return t < GL_MIN((int64_t)GL_MAX(len, 0), s->T);
}

static inline float ops_clip(float x, float c) { return c > 0.0f ? (x > c ? c : (x < -c ? -c : x)) : x; }

/* The register-blocked kernel for a step's products W . v_b, when the build has one for w's
 * type and v_b (F32 for F32 weights, else w's vec_dot type) is what it takes. F16 weights keep
 * the per-row dot (the kernel would round v to fp16; the LSTM keeps v in F32). */
static gl_gemm_kernel ops_lstm_gemm(const gl_tensor *w) {
    gl_gemm_kernel k = gl_type_gemm(w->type);
    const gl_type vt = w->type == GL_TYPE_F32 ? GL_TYPE_F32 : gl_type_get(w->type)->vec_dot_type;
    if (!k.fn || k.f16_round || k.ytype != vt || w->type == GL_TYPE_F16 || k.mr < 1 ||
        k.nc < 1 || k.nc > GL_GEMM_NC_MAX)
        k.fn = NULL;
    return k;
}

/* Active columns starting at b, at most max of them (0 when b is inactive). */
static int ops_lstm_active_run(const ops_lstm *s, int64_t t, int64_t b, int max) {
    int n = 0;
    while (n < max && b + n < s->B && ops_lstm_active(s, b + n, t)) n++;
    return n;
}

/* s_out[c * bs + r] = W row (j + r) . v(b + c) for rows [j0, j1) and every active column:
 * tiles of mr rows outermost, so a tile of W stays in cache while every column uses it (W is
 * streamed once per step). An element's value does not depend on the tiling. */
static void ops_lstm_gemm_rows(const gl_gemm_kernel *k, const ops_lstm *s, int64_t t,
                               const gl_tensor *w, int64_t n, int64_t j0, int64_t j1,
                               const void *(*vec)(const ops_lstm *, int64_t), float *out,
                               size_t bs_col) {
    for (int64_t j = j0; j < j1; j += k->mr) {
        const int nr = (int)GL_MIN(k->mr, j1 - j);
        for (int64_t b = 0; b < s->B;) {
            const int nc = ops_lstm_active_run(s, t, b, k->nc);
            if (nc == 0) {
                b++;
                continue;
            }
            const void *y[GL_GEMM_NC_MAX];
            for (int c = 0; c < nc; c++) y[c] = vec(s, b + c);
            k->fn((int)n, nr, nc, gl_row(w, j, 0, 0), w->nb[1], y, out + (size_t)b * bs_col + j,
                  bs_col, false);
            b += nc;
        }
    }
}

static const void *ops_lstm_hvec(const ops_lstm *s, int64_t b) {
    return s->l.hq_stride ? (const void *)(s->hq + (size_t)b * s->l.hq_stride)
                          : (const void *)ops_lstm_h(s, b);
}

static const void *ops_lstm_hcvec(const ops_lstm *s, int64_t b) {
    return s->l.hcq_stride ? (const void *)(s->hcq + (size_t)b * s->l.hcq_stride)
                           : (const void *)(s->hc + b * s->cell);
}

/* Phase 1: gates = xw_t + W_h . h for every active column. Threads split the 4*cell weight
 * rows; each row is applied to all columns while it is in cache, so the recurrent matrix is
 * streamed once per step, not once per column. Every gate is one product whose value does not
 * depend on the thread split. */
static void ops_lstm_gates(const gl_compute_params *p, const ops_lstm *s, int64_t t) {
    const int64_t g4 = 4 * s->cell;
    int64_t j0, j1;
    gl_split_rows(g4, p->ith, p->nth, &j0, &j1);
    const gl_gemm_kernel k = ops_lstm_gemm(s->wh);
    if (k.fn) ops_lstm_gemm_rows(&k, s, t, s->wh, s->proj, j0, j1, ops_lstm_hvec, s->gates, (size_t)g4);
    for (int64_t j = j0; j < j1; j++) {
        const float fb = j >= s->cell && j < 2 * s->cell ? s->fb : 0.0f;
        for (int64_t b = 0; b < s->B; b++) {
            if (!ops_lstm_active(s, b, t)) continue;
            float *g = &s->gates[b * g4 + j];
            const float d = k.fn ? *g : ops_wrow_dot(s->wh, j, ops_lstm_hvec(s, b), s->proj);
            *g = *(const float *)gl_ptr(s->xw, j, t, b, 0) + d + fb;
        }
    }
}

/* Phase 2 on cells [j0, j1) of column b. */
static void ops_lstm_cells(const ops_lstm *s, int64_t b, int64_t t, int64_t j0, int64_t j1) {
    const int64_t c = s->cell, n = j1 - j0;
    float *out = s->wp ? NULL : (float *)gl_ptr(s->out, j0, t, b, 0);
    if (!ops_lstm_active(s, b, t)) {
        if (out) memset(out, 0, (size_t)n * sizeof(float));
        return;
    }
    float *gi = s->gates + b * 4 * c + j0, *gf = gi + c, *gg = gi + 2 * c, *go = gi + 3 * c;
    ops_vec_sigmoid(n, gi, gi);
    ops_vec_sigmoid(n, gf, gf);
    ops_vec_tanh(n, gg, gg);
    ops_vec_sigmoid(n, go, go);
    float *cs = ops_lstm_c(s, b) + j0;
    for (int64_t j = 0; j < n; j++) {
        const float cn = ops_clip(gf[j] * cs[j] + gi[j] * gg[j], s->cell_clip);
        cs[j] = cn;
        gi[j] = cn; /* the i slot is free now: holds c for the tanh below */
    }
    ops_vec_tanh(n, gi, gi);
    float *h = s->wp ? s->hc + b * c + j0 : ops_lstm_h(s, b) + j0;
    for (int64_t j = 0; j < n; j++) h[j] = go[j] * gi[j];
    if (out) memcpy(out, h, (size_t)n * sizeof(float));
}

/* Work items are fixed chunks of OPS_LSTM_CHUNK cells of a column: every cell then goes
 * through the same SIMD or scalar tail path whatever the thread count, so results do not
 * depend on it (the vector exp and libm's differ in the last bits). */
#define OPS_LSTM_CHUNK 16

static void ops_lstm_update(const gl_compute_params *p, const ops_lstm *s, int64_t t) {
    const int64_t nchunk = (s->cell + OPS_LSTM_CHUNK - 1) / OPS_LSTM_CHUNK;
    int64_t r0, r1;
    gl_split_rows(nchunk * s->B, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / nchunk, j0 = (r % nchunk) * OPS_LSTM_CHUNK;
        ops_lstm_cells(s, b, t, j0, GL_MIN(s->cell, j0 + OPS_LSTM_CHUNK));
    }
}

/* Phase 3: h = clip(W_p . c-output) per active column; threads split the projection rows and
 * each row serves all columns (one pass over W_p per step). The kernel path writes the raw
 * products straight into the output column, then clips in place. */
static void ops_lstm_project(const gl_compute_params *p, const ops_lstm *s, int64_t t) {
    int64_t k0, k1;
    gl_split_rows(s->proj, p->ith, p->nth, &k0, &k1);
    gl_gemm_kernel k = ops_lstm_gemm(s->wp);
    const size_t ob = s->out->nb[2] / sizeof(float);
    if (s->out->nb[0] != sizeof(float) || s->out->nb[2] % sizeof(float) != 0) k.fn = NULL;
    if (k.fn)
        ops_lstm_gemm_rows(&k, s, t, s->wp, s->cell, k0, k1, ops_lstm_hcvec,
                           (float *)gl_ptr(s->out, 0, t, 0, 0), ob);
    for (int64_t kk = k0; kk < k1; kk++) {
        for (int64_t b = 0; b < s->B; b++) {
            float *out = (float *)gl_ptr(s->out, kk, t, b, 0);
            if (!ops_lstm_active(s, b, t)) {
                *out = 0.0f;
                continue;
            }
            const float d = k.fn ? *out : ops_wrow_dot(s->wp, kk, ops_lstm_hcvec(s, b), s->cell);
            const float h = ops_clip(d, s->proj_clip);
            ops_lstm_h(s, b)[kk] = h;
            *out = h;
        }
    }
}

/* Converts one vector per active column to a weight's vec_dot type (columns split). */
static void ops_lstm_quantize(const gl_compute_params *p, const ops_lstm *s, int64_t t,
                              gl_type wtype, bool from_hc, char *dst, size_t stride) {
    const int64_t n = from_hc ? s->cell : s->proj;
    int64_t b0, b1;
    gl_split_rows(s->B, p->ith, p->nth, &b0, &b1);
    for (int64_t b = b0; b < b1; b++) {
        if (!ops_lstm_active(s, b, t)) continue;
        const float *x = from_hc ? s->hc + b * s->cell : ops_lstm_h(s, b);
        gl_ops_wvec_prepare(wtype, x, n, dst + (size_t)b * stride);
    }
}

void gl_ops_forward_lstm(const gl_compute_params *p, gl_tensor *t) {
    GL_KERNEL_REQUIRE(p, t, ops_nn_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    ops_lstm s;
    s.xw = t->src[0];
    s.wh = t->src[1];
    s.wp = t->src[2];
    s.state = t->src[3];
    s.lens = t->src[4];
    s.out = t;
    s.cell = s.xw->ne[0] / 4;
    s.T = s.xw->ne[1];
    s.B = s.xw->ne[2];
    s.proj = s.wh->ne[0];
    s.fb = gl_op_param_f32(t, 0);
    s.cell_clip = gl_op_param_f32(t, 1);
    s.proj_clip = gl_op_param_f32(t, 2);
    s.l = ops_lstm_plan(t);
    char *w = (char *)p->wdata;
    s.gates = (float *)(w + s.l.gates);
    s.hc = (float *)(w + s.l.hc);
    s.hq = w + s.l.hq;
    s.hcq = w + s.l.hcq;
    const bool reverse = t->op_params[3] != 0;
    for (int64_t step = 0; step < s.T; step++) {
        const int64_t tt = reverse ? s.T - 1 - step : step;
        if (s.l.hq_stride) {
            ops_lstm_quantize(p, &s, tt, s.wh->type, false, s.hq, s.l.hq_stride);
            gl_compute_barrier(p);
        }
        ops_lstm_gates(p, &s, tt);
        gl_compute_barrier(p);
        ops_lstm_update(p, &s, tt);
        gl_compute_barrier(p);
        if (s.wp) {
            if (s.l.hcq_stride) {
                ops_lstm_quantize(p, &s, tt, s.wp->type, true, s.hcq, s.l.hcq_stride);
                gl_compute_barrier(p);
            }
            ops_lstm_project(p, &s, tt);
            gl_compute_barrier(p);
        }
    }
}
