/*
 * gl-ops.c — op builders (shape and type checks; they only record a node) and the CPU
 * kernels of the simple ops, plus the dispatch gl_compute_forward(). The sequence/NN kernels
 * (rope, attention, conv1d_max, highway, LSTM) are in gl-ops-nn.c, the vector primitives in
 * gl-ops.h, the mul_mat kernel in gl-matmul.c.
 *
 * Op parameters (op_params slots; f32 values stored by gl_op_param_set_f32):
 *   SCALE       [0] f32 s
 *   ADD1        [0] f32 bias
 *   NORM        [0] f32 eps; src[1] w and src[2] b optional: gl_layer_norm is this one fused
 *               node, gl_norm is the same op without w and b
 *   RMS_NORM    [0] f32 eps
 *   UNARY       [0] gl_unary_op
 *   SOFTMAX     [0] f32 scale, [1] causal; src[1] mask or NULL
 *   ROPE        [0] n_dims, [1] mode, [2] f32 freq_base, [3] f32 freq_scale; src[1] pos
 *   ATTN        [0] f32 scale, [1] causal; src = q, k, v, mask (or NULL)
 *   CONV1D_MAX  [0] width; src = x, w, b
 *   LSTM        [0] f32 forget_bias, [1] f32 cell_clip, [2] f32 proj_clip, [3] reverse;
 *               src = xw, wh, wp (or NULL), state, lens (or NULL)
 *   CONCAT      [0] dim
 *   CPY         src[1] = the destination (gl_cpy: the node is a view of it, view_src set) or
 *               NULL (gl_cast: a new contiguous tensor). CONT uses the same kernel.
 *
 * Threading: every kernel splits its rows with gl_split_rows(p->ith, p->nth) and computes each
 * row with the same code whatever the thread count, so results do not depend on n_threads.
 * Per-thread scratch sits in p->wdata at p->ith * (bytes per thread), sized by gl_op_work_size.
 *
 * Untrusted values seen only at compute time (row ids of get_rows, lengths of the LSTM) are
 * bounds-checked: an out-of-range id gives a row of zeros, a length is clamped to [0, T].
 */
#include "gl-impl.h"
#include "gl-ops.h"
#include "gl-quants.h"

#include <math.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------------------
 * Names
 * ---------------------------------------------------------------------------------------- */

static const char *const ops_names[] = {
    [GL_OP_NONE] = "none",         [GL_OP_VIEW] = "view",
    [GL_OP_CPY] = "cpy",           [GL_OP_CONT] = "cont",
    [GL_OP_GET_ROWS] = "get_rows", [GL_OP_ADD] = "add",
    [GL_OP_SUB] = "sub",           [GL_OP_MUL] = "mul",
    [GL_OP_DIV] = "div",           [GL_OP_SCALE] = "scale",
    [GL_OP_ADD1] = "add1",         [GL_OP_MUL_MAT] = "mul_mat",
    [GL_OP_NORM] = "norm",         [GL_OP_RMS_NORM] = "rms_norm",
    [GL_OP_UNARY] = "unary",       [GL_OP_SOFTMAX] = "softmax",
    [GL_OP_ROPE] = "rope",         [GL_OP_ATTN] = "attn",
    [GL_OP_CONV1D_MAX] = "conv1d_max",
    [GL_OP_LSTM] = "lstm",         [GL_OP_CONCAT] = "concat",
    [GL_OP_SUM_ROWS] = "sum_rows", [GL_OP_MEAN] = "mean",
    [GL_OP_ARGMAX] = "argmax",     [GL_OP_CUSTOM] = "custom",
};
_Static_assert(sizeof ops_names / sizeof ops_names[0] == GL_OP_COUNT, "one name per op");

const char *gl_op_name(gl_op op) {
    if ((int)op < 0 || op >= GL_OP_COUNT || !ops_names[op]) return "?";
    return ops_names[op];
}

/* ------------------------------------------------------------------------------------------
 * Row access shared with gl-ops-nn.c
 * ---------------------------------------------------------------------------------------- */

static float ops_load_elem(gl_type type, const void *p) {
    switch (type) {
    case GL_TYPE_F32: return *(const float *)p;
    case GL_TYPE_F16: return gl_fp16_to_fp32(*(const gl_fp16 *)p);
    case GL_TYPE_BF16: return gl_bf16_to_fp32(*(const gl_bf16 *)p);
    case GL_TYPE_I32: return (float)*(const int32_t *)p;
    default: return 0.0f;
    }
}

static void ops_store_elem(gl_type type, void *p, float v) {
    switch (type) {
    case GL_TYPE_F32: *(float *)p = v; break;
    case GL_TYPE_F16: *(gl_fp16 *)p = gl_fp32_to_fp16(v); break;
    case GL_TYPE_BF16: *(gl_bf16 *)p = gl_fp32_to_bf16(v); break;
    case GL_TYPE_I32: *(int32_t *)p = (int32_t)gl_f32_to_int_sat(v, INT32_MIN, INT32_MAX); break;
    default: break;
    }
}

static bool ops_type_is_float(gl_type type) {
    return type == GL_TYPE_F32 || type == GL_TYPE_F16 || type == GL_TYPE_BF16;
}
static bool ops_is_float(const gl_tensor *t) { return ops_type_is_float(t->type); }

/* Rows of t can be converted to F32: a float type with any nb0, or a type with a
 * dequantizer whose blocks are contiguous along dim 0. */
static bool ops_is_readable(const gl_tensor *t) {
    if (ops_is_float(t)) return true;
    const gl_type_traits *tt = gl_type_get(t->type);
    return tt && tt->known && tt->to_float && t->nb[0] == tt->type_size;
}

void gl_ops_row_to_f32(const gl_tensor *t, int64_t i1, int64_t i2, int64_t i3, float *out) {
    const char *row = (const char *)gl_row(t, i1, i2, i3);
    const int64_t n = t->ne[0];
    const gl_type_traits *tt = gl_type_get(t->type);
    if (t->type == GL_TYPE_F32 && t->nb[0] == sizeof(float)) {
        memcpy(out, row, (size_t)n * sizeof(float));
    } else if (ops_is_float(t) && t->nb[0] != tt->type_size) {
        for (int64_t i = 0; i < n; i++) out[i] = ops_load_elem(t->type, row + i * t->nb[0]);
    } else if (tt && tt->to_float) {
        tt->to_float(row, out, n);
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = ops_load_elem(t->type, row + i * t->nb[0]);
    }
}

/* Writes n floats into row (i1, i2, i3) of t: float types with any nb0, or a type with a
 * quantizer and contiguous rows. */
static void ops_row_from_f32(gl_tensor *t, int64_t i1, int64_t i2, int64_t i3, const float *x) {
    char *row = (char *)gl_row(t, i1, i2, i3);
    const int64_t n = t->ne[0];
    if (t->type == GL_TYPE_F32 && t->nb[0] == sizeof(float)) {
        memcpy(row, x, (size_t)n * sizeof(float));
    } else if (ops_is_float(t) || t->type == GL_TYPE_I32) {
        for (int64_t i = 0; i < n; i++) ops_store_elem(t->type, row + i * t->nb[0], x[i]);
    } else {
        const gl_type_traits *tt = gl_type_get(t->type);
        gl_from_float_fn f = tt->from_float ? tt->from_float : tt->from_float_ref;
        if (f) f(x, row, n);
    }
}

float gl_ops_get1(const gl_tensor *t, int64_t i) {
    return ops_load_elem(t->type, (const char *)t->data + i * t->nb[0]);
}

/* ---- weights for the matvec-style kernels (LSTM, conv1d_max) ---- */

static gl_from_float_fn ops_vdt_quantizer(gl_type wtype) {
    const gl_type_traits *tt = gl_type_get(wtype);
    const gl_type_traits *vt = tt ? gl_type_get(tt->vec_dot_type) : NULL;
    if (!vt) return NULL;
    return vt->from_float ? vt->from_float : vt->from_float_ref;
}

bool gl_ops_weight_ok(const gl_tensor *w) {
    const gl_type_traits *tt = gl_type_get(w->type);
    if (!tt || w->nb[0] != tt->type_size) return false;
    if (w->type == GL_TYPE_F32 || w->type == GL_TYPE_F16) return true;
    if (!tt->known || !tt->supported || !tt->vec_dot) return false;
    if (tt->vec_dot_type == GL_TYPE_F32) return true;
    return ops_vdt_quantizer(w->type) != NULL;
}

size_t gl_ops_wvec_bytes(gl_type wtype, int64_t n) {
    if (wtype == GL_TYPE_F32 || wtype == GL_TYPE_F16) return 0;
    const gl_type_traits *tt = gl_type_get(wtype);
    if (!tt || tt->vec_dot_type == GL_TYPE_F32) return 0;
    return GL_PAD(gl_row_size(tt->vec_dot_type, n), GL_CACHE_LINE);
}

const void *gl_ops_wvec_prepare(gl_type wtype, const float *x, int64_t n, void *buf) {
    if (gl_ops_wvec_bytes(wtype, n) == 0) return x;
    ops_vdt_quantizer(wtype)(x, buf, n);
    return buf;
}

/* ------------------------------------------------------------------------------------------
 * Builder helpers
 * ---------------------------------------------------------------------------------------- */

/* "[a,b,c,d]" */
static const char *ops_shape(const gl_tensor *t, char *buf, size_t size) {
    snprintf(buf, size, "[%lld,%lld,%lld,%lld]", (long long)t->ne[0], (long long)t->ne[1],
             (long long)t->ne[2], (long long)t->ne[3]);
    return buf;
}

/* A required source: NULL means an earlier builder failed; the context keeps the first error,
 * the call below only records one when none is there yet. */
static bool ops_need(gl_context *ctx, const char *who, const char *what, const gl_tensor *t) {
    if (t) return true;
    gl_ctx_fail(ctx, "%s: %s is NULL", who, what);
    return false;
}

/* An optional source given as NULL is taken as absent, unless the context has already failed:
 * then it may be the NULL of a failed builder, and the op propagates it. */
static bool ops_optional_ok(gl_context *ctx, const gl_tensor *t) { return t || gl_ctx_ok(ctx); }

static gl_tensor *ops_fail_type(gl_context *ctx, const char *who, const char *what,
                                const gl_tensor *t) {
    return gl_ctx_fail(ctx, "%s: %s has unsupported type %s or layout (nb0 = %zu)", who, what,
                       gl_type_name(t->type), t->nb[0]);
}

static gl_tensor *ops_new(gl_context *ctx, gl_type type, const int64_t *ne, gl_op op, int n_src,
                          gl_tensor *const *src) {
    return gl_new_op_tensor(ctx, type, GL_MAX_DIMS, ne, op, n_src, src);
}

static bool ops_is_1d_len(const gl_tensor *t, int64_t n) {
    return t->ne[0] == n && t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1;
}

static bool ops_finite(float x) { return isfinite(x); }

/* Elements (or blocks) of each row are adjacent: nb0 is the type's block size in bytes. */
static bool ops_rows_contiguous(const gl_tensor *t) {
    const gl_type_traits *tt = gl_type_get(t->type);
    return tt && t->nb[0] == tt->type_size;
}

/* ------------------------------------------------------------------------------------------
 * Builders: copies and lookups
 * ---------------------------------------------------------------------------------------- */

/* Types a copy can write: float types element by element, others by their quantizer on
 * contiguous rows. */
static bool ops_is_writable(const gl_tensor *t) {
    if (ops_is_float(t)) return true;
    const gl_type_traits *tt = gl_type_get(t->type);
    return tt && tt->known && t->nb[0] == tt->type_size && (tt->from_float || tt->from_float_ref);
}

gl_tensor *gl_cpy(gl_context *ctx, gl_tensor *a, gl_tensor *dst) {
    const char *who = "gl_cpy";
    if (!ops_need(ctx, who, "a", a) || !ops_need(ctx, who, "dst", dst)) return NULL;
    char s1[96], s2[96];
    if (gl_nelements(a) != gl_nelements(dst))
        return gl_ctx_fail(ctx, "%s: shapes %s and %s differ in element count", who,
                           ops_shape(a, s1, sizeof s1), ops_shape(dst, s2, sizeof s2));
    if (!ops_is_readable(a)) return ops_fail_type(ctx, who, "a", a);
    if (!ops_is_writable(dst)) return ops_fail_type(ctx, who, "dst", dst);
    if (!gl_are_same_shape(a, dst) && (!ops_is_float(a) || !ops_is_float(dst)))
        return gl_ctx_fail(ctx, "%s: reshaping copy %s -> %s needs float types", who,
                           ops_shape(a, s1, sizeof s1), ops_shape(dst, s2, sizeof s2));
    gl_tensor *src[2] = {a, dst};
    gl_tensor *t = ops_new(ctx, dst->type, dst->ne, GL_OP_CPY, 2, src);
    if (!t) return NULL;
    /* The node is a view of dst: it writes dst's bytes with dst's strides. */
    memcpy(t->nb, dst->nb, sizeof t->nb);
    t->view_src = dst->view_src ? dst->view_src : dst;
    t->view_offs = dst->view_src ? dst->view_offs : 0;
    if (t->view_src->data) t->data = (char *)t->view_src->data + t->view_offs;
    snprintf(t->name, sizeof t->name, "%.50s (copy)", dst->name);
    return t;
}

gl_tensor *gl_cont(gl_context *ctx, gl_tensor *a) {
    if (!ops_need(ctx, "gl_cont", "a", a)) return NULL;
    /* rows of any type with contiguous blocks are copied as bytes */
    if (!ops_is_readable(a) && !ops_rows_contiguous(a)) return ops_fail_type(ctx, "gl_cont", "a", a);
    return ops_new(ctx, a->type, a->ne, GL_OP_CONT, 1, &a);
}

gl_tensor *gl_cast(gl_context *ctx, gl_tensor *a, gl_type type) {
    if (!ops_need(ctx, "gl_cast", "a", a)) return NULL;
    if (!ops_is_readable(a)) return ops_fail_type(ctx, "gl_cast", "a", a);
    const gl_type_traits *tt = gl_type_get(type);
    if (!tt || !tt->known ||
        (!ops_type_is_float(type) && !tt->from_float && !tt->from_float_ref))
        return gl_ctx_fail(ctx, "gl_cast: cannot convert to type %s", gl_type_name(type));
    gl_tensor *src[2] = {a, NULL};
    return ops_new(ctx, type, a->ne, GL_OP_CPY, 2, src);
}

gl_tensor *gl_get_rows(gl_context *ctx, gl_tensor *a, gl_tensor *ids) {
    const char *who = "gl_get_rows";
    if (!ops_need(ctx, who, "a", a) || !ops_need(ctx, who, "ids", ids)) return NULL;
    char s1[96], s2[96];
    if (ids->type != GL_TYPE_I32) return ops_fail_type(ctx, who, "ids", ids);
    if (!ops_is_readable(a)) return ops_fail_type(ctx, who, "a", a);
    if (ids->ne[3] != 1 || (a->ne[2] != 1 && a->ne[2] != ids->ne[1]) ||
        (a->ne[3] != 1 && a->ne[3] != ids->ne[2]))
        return gl_ctx_fail(ctx, "%s: table %s and ids %s do not match", who,
                           ops_shape(a, s1, sizeof s1), ops_shape(ids, s2, sizeof s2));
    const int64_t ne[4] = {a->ne[0], ids->ne[0], ids->ne[1], ids->ne[2]};
    gl_tensor *src[2] = {a, ids};
    return ops_new(ctx, GL_TYPE_F32, ne, GL_OP_GET_ROWS, 2, src);
}

/* ------------------------------------------------------------------------------------------
 * Builders: elementwise
 * ---------------------------------------------------------------------------------------- */

static gl_tensor *ops_binary(gl_context *ctx, gl_op op, const char *who, gl_tensor *a,
                             gl_tensor *b) {
    if (!ops_need(ctx, who, "a", a) || !ops_need(ctx, who, "b", b)) return NULL;
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    if (!ops_is_float(b)) return ops_fail_type(ctx, who, "b", b);
    for (int i = 0; i < GL_MAX_DIMS; i++) {
        if (b->ne[i] == 0 ? a->ne[i] != 0 : a->ne[i] % b->ne[i] != 0) {
            char s1[96], s2[96];
            return gl_ctx_fail(ctx, "%s: shapes %s and %s do not broadcast", who,
                               ops_shape(a, s1, sizeof s1), ops_shape(b, s2, sizeof s2));
        }
    }
    gl_tensor *src[2] = {a, b};
    return ops_new(ctx, GL_TYPE_F32, a->ne, op, 2, src);
}

gl_tensor *gl_add(gl_context *ctx, gl_tensor *a, gl_tensor *b) {
    return ops_binary(ctx, GL_OP_ADD, "gl_add", a, b);
}
gl_tensor *gl_sub(gl_context *ctx, gl_tensor *a, gl_tensor *b) {
    return ops_binary(ctx, GL_OP_SUB, "gl_sub", a, b);
}
gl_tensor *gl_mul(gl_context *ctx, gl_tensor *a, gl_tensor *b) {
    return ops_binary(ctx, GL_OP_MUL, "gl_mul", a, b);
}
gl_tensor *gl_div(gl_context *ctx, gl_tensor *a, gl_tensor *b) {
    return ops_binary(ctx, GL_OP_DIV, "gl_div", a, b);
}

static gl_tensor *ops_scalar_op(gl_context *ctx, gl_op op, const char *who, gl_tensor *a,
                                float v) {
    if (!ops_need(ctx, who, "a", a)) return NULL;
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, a->ne, op, 1, &a);
    if (t) gl_op_param_set_f32(t, 0, v);
    return t;
}

gl_tensor *gl_scale(gl_context *ctx, gl_tensor *a, float s) {
    return ops_scalar_op(ctx, GL_OP_SCALE, "gl_scale", a, s);
}
gl_tensor *gl_add1(gl_context *ctx, gl_tensor *a, float bias) {
    return ops_scalar_op(ctx, GL_OP_ADD1, "gl_add1", a, bias);
}

gl_tensor *gl_unary(gl_context *ctx, gl_tensor *a, gl_unary_op op) {
    if (!ops_need(ctx, "gl_unary", "a", a)) return NULL;
    if ((int)op < 0 || op >= GL_UNARY_COUNT)
        return gl_ctx_fail(ctx, "gl_unary: unknown unary op %d", (int)op);
    if (!ops_is_float(a)) return ops_fail_type(ctx, "gl_unary", "a", a);
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, a->ne, GL_OP_UNARY, 1, &a);
    if (t) t->op_params[0] = (int32_t)op;
    return t;
}
gl_tensor *gl_relu(gl_context *ctx, gl_tensor *a) { return gl_unary(ctx, a, GL_UNARY_RELU); }
gl_tensor *gl_gelu(gl_context *ctx, gl_tensor *a) { return gl_unary(ctx, a, GL_UNARY_GELU); }
gl_tensor *gl_gelu_tanh(gl_context *ctx, gl_tensor *a) {
    return gl_unary(ctx, a, GL_UNARY_GELU_TANH);
}
gl_tensor *gl_silu(gl_context *ctx, gl_tensor *a) { return gl_unary(ctx, a, GL_UNARY_SILU); }
gl_tensor *gl_tanh(gl_context *ctx, gl_tensor *a) { return gl_unary(ctx, a, GL_UNARY_TANH); }
gl_tensor *gl_sigmoid(gl_context *ctx, gl_tensor *a) {
    return gl_unary(ctx, a, GL_UNARY_SIGMOID);
}

/* ------------------------------------------------------------------------------------------
 * Builders: matmul, norms, softmax, rope
 * ---------------------------------------------------------------------------------------- */

gl_tensor *gl_mul_mat(gl_context *ctx, gl_tensor *w, gl_tensor *x) {
    const char *who = "gl_mul_mat";
    if (!ops_need(ctx, who, "w", w) || !ops_need(ctx, who, "x", x)) return NULL;
    char s1[96], s2[96];
    if (w->ne[0] != x->ne[0] || w->ne[2] == 0 || w->ne[3] == 0 || x->ne[2] % w->ne[2] != 0 ||
        x->ne[3] % w->ne[3] != 0)
        return gl_ctx_fail(ctx, "%s: shapes %s (w) and %s (x) do not match", who,
                           ops_shape(w, s1, sizeof s1), ops_shape(x, s2, sizeof s2));
    if (x->type != GL_TYPE_F32) return ops_fail_type(ctx, who, "x", x);
    const gl_type_traits *tt = gl_type_get(w->type);
    if (!tt || !tt->known || !tt->supported || w->nb[0] != tt->type_size)
        return ops_fail_type(ctx, who, "w", w);
    const int64_t ne[4] = {w->ne[1], x->ne[1], x->ne[2], x->ne[3]};
    gl_tensor *src[2] = {w, x};
    return ops_new(ctx, GL_TYPE_F32, ne, GL_OP_MUL_MAT, 2, src);
}

static gl_tensor *ops_norm_impl(gl_context *ctx, const char *who, gl_op op, gl_tensor *a,
                                gl_tensor *w, gl_tensor *b, float eps) {
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    if (!(eps >= 0.0f) || !ops_finite(eps))
        return gl_ctx_fail(ctx, "%s: eps %g must be finite and >= 0", who, (double)eps);
    const gl_tensor *affine[2] = {w, b};
    for (int i = 0; i < 2; i++) {
        const gl_tensor *x = affine[i];
        if (!x) continue;
        if (!ops_is_float(x)) return ops_fail_type(ctx, who, i ? "b" : "w", x);
        if (!ops_is_1d_len(x, a->ne[0])) {
            char s1[96], s2[96];
            return gl_ctx_fail(ctx, "%s: %s %s does not match a %s", who, i ? "b" : "w",
                               ops_shape(x, s1, sizeof s1), ops_shape(a, s2, sizeof s2));
        }
    }
    gl_tensor *src[3] = {a, w, b};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, a->ne, op, 3, src);
    if (t) gl_op_param_set_f32(t, 0, eps);
    return t;
}

gl_tensor *gl_norm(gl_context *ctx, gl_tensor *a, float eps) {
    if (!ops_need(ctx, "gl_norm", "a", a)) return NULL;
    return ops_norm_impl(ctx, "gl_norm", GL_OP_NORM, a, NULL, NULL, eps);
}
gl_tensor *gl_rms_norm(gl_context *ctx, gl_tensor *a, float eps) {
    if (!ops_need(ctx, "gl_rms_norm", "a", a)) return NULL;
    return ops_norm_impl(ctx, "gl_rms_norm", GL_OP_RMS_NORM, a, NULL, NULL, eps);
}
gl_tensor *gl_layer_norm(gl_context *ctx, gl_tensor *a, gl_tensor *w, gl_tensor *b, float eps) {
    const char *who = "gl_layer_norm";
    if (!ops_need(ctx, who, "a", a) || !ops_need(ctx, who, "w", w) || !ops_optional_ok(ctx, b))
        return NULL;
    return ops_norm_impl(ctx, who, GL_OP_NORM, a, w, b, eps);
}

gl_tensor *gl_softmax_ext(gl_context *ctx, gl_tensor *a, gl_tensor *mask, float scale,
                          bool causal) {
    const char *who = "gl_softmax_ext";
    if (!ops_need(ctx, who, "a", a) || !ops_optional_ok(ctx, mask)) return NULL;
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    if (!ops_finite(scale)) return gl_ctx_fail(ctx, "%s: scale is not finite", who);
    if (mask) {
        if (!ops_is_float(mask)) return ops_fail_type(ctx, who, "mask", mask);
        if (mask->ne[0] != a->ne[0] || mask->ne[1] < a->ne[1] || mask->ne[2] == 0 ||
            mask->ne[3] == 0 || a->ne[2] % mask->ne[2] != 0 || a->ne[3] % mask->ne[3] != 0) {
            char s1[96], s2[96];
            return gl_ctx_fail(ctx, "%s: mask %s does not fit scores %s", who,
                               ops_shape(mask, s1, sizeof s1), ops_shape(a, s2, sizeof s2));
        }
    }
    gl_tensor *src[2] = {a, mask};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, a->ne, GL_OP_SOFTMAX, 2, src);
    if (!t) return NULL;
    gl_op_param_set_f32(t, 0, scale);
    t->op_params[1] = causal ? 1 : 0;
    return t;
}

gl_tensor *gl_softmax(gl_context *ctx, gl_tensor *a) {
    return gl_softmax_ext(ctx, a, NULL, 1.0f, false);
}

gl_tensor *gl_rope_ext(gl_context *ctx, gl_tensor *a, gl_tensor *pos, gl_tensor *freq_factors,
                       int n_dims, gl_rope_mode mode, float freq_base, float freq_scale,
                       float attn_factor) {
    const char *who = "gl_rope";
    if (!ops_need(ctx, who, "a", a) || !ops_need(ctx, who, "pos", pos) ||
        !ops_optional_ok(ctx, freq_factors))
        return NULL;
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    if (pos->type != GL_TYPE_I32) return ops_fail_type(ctx, who, "pos", pos);
    char s1[96], s2[96];
    if (!ops_is_1d_len(pos, a->ne[2]))
        return gl_ctx_fail(ctx, "%s: pos %s must hold one position per token of %s", who,
                           ops_shape(pos, s1, sizeof s1), ops_shape(a, s2, sizeof s2));
    if (n_dims <= 0 || n_dims % 2 != 0 || n_dims > a->ne[0])
        return gl_ctx_fail(ctx, "%s: n_dims %d must be even and in (0, %lld]", who, n_dims,
                           (long long)a->ne[0]);
    if (mode != GL_ROPE_NORMAL && mode != GL_ROPE_NEOX)
        return gl_ctx_fail(ctx, "%s: unknown mode %d", who, (int)mode);
    if (!(freq_base > 0.0f) || !ops_finite(freq_base) || !ops_finite(freq_scale) ||
        !ops_finite(attn_factor))
        return gl_ctx_fail(ctx, "%s: freq_base %g / freq_scale %g / attn_factor %g invalid", who,
                           (double)freq_base, (double)freq_scale, (double)attn_factor);
    if (freq_factors && (freq_factors->type != GL_TYPE_F32 || !gl_is_contiguous(freq_factors) ||
                         !ops_is_1d_len(freq_factors, n_dims / 2)))
        return gl_ctx_fail(ctx, "%s: freq_factors %s must be F32 [%d]", who,
                           ops_shape(freq_factors, s1, sizeof s1), n_dims / 2);
    gl_tensor *src[3] = {a, pos, freq_factors};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, a->ne, GL_OP_ROPE, freq_factors ? 3 : 2, src);
    if (!t) return NULL;
    t->op_params[0] = n_dims;
    t->op_params[1] = (int32_t)mode;
    gl_op_param_set_f32(t, 2, freq_base);
    gl_op_param_set_f32(t, 3, freq_scale);
    gl_op_param_set_f32(t, 4, attn_factor);
    return t;
}

gl_tensor *gl_rope(gl_context *ctx, gl_tensor *a, gl_tensor *pos, int n_dims, gl_rope_mode mode,
                   float freq_base, float freq_scale) {
    return gl_rope_ext(ctx, a, pos, NULL, n_dims, mode, freq_base, freq_scale, 1.0f);
}

/* ------------------------------------------------------------------------------------------
 * Builders: attention and the ELMo blocks
 * ---------------------------------------------------------------------------------------- */

gl_tensor *gl_attn_ext(gl_context *ctx, gl_tensor *q, gl_tensor *k, gl_tensor *v,
                       gl_tensor *mask, float scale, bool causal, int32_t window, float softcap) {
    const char *who = "gl_attn";
    if (!ops_need(ctx, who, "q", q) || !ops_need(ctx, who, "k", k) ||
        !ops_need(ctx, who, "v", v) || !ops_optional_ok(ctx, mask))
        return NULL;
    if (q->type != GL_TYPE_F32 || !ops_rows_contiguous(q)) return ops_fail_type(ctx, who, "q", q);
    if ((k->type != GL_TYPE_F32 && k->type != GL_TYPE_F16) || !ops_rows_contiguous(k))
        return ops_fail_type(ctx, who, "k", k);
    if ((v->type != GL_TYPE_F32 && v->type != GL_TYPE_F16) || !ops_rows_contiguous(v))
        return ops_fail_type(ctx, who, "v", v);
    if (!ops_finite(scale)) return gl_ctx_fail(ctx, "%s: scale is not finite", who);
    if (window < 0 || (window > 0 && !causal))
        return gl_ctx_fail(ctx, "%s: window %d needs causal attention and must be >= 0", who, window);
    if (!ops_finite(softcap) || softcap < 0)
        return gl_ctx_fail(ctx, "%s: softcap %g must be finite and >= 0", who, (double)softcap);
    char s1[96], s2[96], s3[96];
    if (q->ne[0] != k->ne[0] || k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2] ||
        k->ne[3] != v->ne[3] || k->ne[2] == 0 || k->ne[3] == 0 || q->ne[2] % k->ne[2] != 0 ||
        q->ne[3] % k->ne[3] != 0)
        return gl_ctx_fail(ctx, "%s: q %s, k %s, v %s do not match", who,
                           ops_shape(q, s1, sizeof s1), ops_shape(k, s2, sizeof s2),
                           ops_shape(v, s3, sizeof s3));
    if (mask) {
        if (mask->type != GL_TYPE_F32 || !ops_rows_contiguous(mask))
            return ops_fail_type(ctx, who, "mask", mask);
        if (mask->ne[0] != k->ne[1] || mask->ne[1] < q->ne[1] || mask->ne[2] == 0 ||
            mask->ne[3] == 0 || q->ne[2] % mask->ne[2] != 0 || q->ne[3] % mask->ne[3] != 0)
            return gl_ctx_fail(ctx, "%s: mask %s does not fit q %s and k %s", who,
                               ops_shape(mask, s1, sizeof s1), ops_shape(q, s2, sizeof s2),
                               ops_shape(k, s3, sizeof s3));
    }
    const int64_t ne[4] = {v->ne[0], q->ne[2], q->ne[1], q->ne[3]};
    gl_tensor *src[4] = {q, k, v, mask};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, ne, GL_OP_ATTN, 4, src);
    if (!t) return NULL;
    gl_op_param_set_f32(t, 0, scale);
    t->op_params[1] = causal ? 1 : 0;
    t->op_params[2] = window;
    gl_op_param_set_f32(t, 3, softcap);
    return t;
}

gl_tensor *gl_attn(gl_context *ctx, gl_tensor *q, gl_tensor *k, gl_tensor *v, gl_tensor *mask,
                   float scale, bool causal) {
    return gl_attn_ext(ctx, q, k, v, mask, scale, causal, 0, 0.0f);
}

/* The sources of a layer y = f(w x + b): x F32, w a weight mat_mul takes, b float; false (the
 * context failed, naming who) otherwise. */
static bool ops_xwb_ok(gl_context *ctx, const char *who, const gl_tensor *x, const gl_tensor *w,
                       const gl_tensor *b) {
    if (!ops_need(ctx, who, "x", x) || !ops_need(ctx, who, "w", w) || !ops_need(ctx, who, "b", b))
        return false;
    if (x->type != GL_TYPE_F32) return ops_fail_type(ctx, who, "x", x), false;
    if (!gl_ops_weight_ok(w)) return ops_fail_type(ctx, who, "w", w), false;
    if (!ops_is_float(b)) return ops_fail_type(ctx, who, "b", b), false;
    return true;
}

gl_tensor *gl_conv1d_max(gl_context *ctx, gl_tensor *x, gl_tensor *w, gl_tensor *b, int width) {
    const char *who = "gl_conv1d_max";
    if (!ops_xwb_ok(ctx, who, x, w, b)) return NULL;
    char s1[96], s2[96], s3[96];
    if (width < 1 || width > x->ne[1] || x->ne[3] != 1 || w->ne[2] != 1 || w->ne[3] != 1 ||
        w->ne[0] != x->ne[0] * width || !ops_is_1d_len(b, w->ne[1]))
        return gl_ctx_fail(ctx, "%s: x %s, w %s, b %s, width %d do not match", who,
                           ops_shape(x, s1, sizeof s1), ops_shape(w, s2, sizeof s2),
                           ops_shape(b, s3, sizeof s3), width);
    const int64_t ne[4] = {w->ne[1], x->ne[2], 1, 1};
    gl_tensor *src[3] = {x, w, b};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, ne, GL_OP_CONV1D_MAX, 3, src);
    if (t) t->op_params[0] = width;
    return t;
}

gl_tensor *gl_highway(gl_context *ctx, gl_tensor *x, gl_tensor *w, gl_tensor *b) {
    const char *who = "gl_highway";
    if (!ops_xwb_ok(ctx, who, x, w, b)) return NULL;
    char s1[96], s2[96], s3[96];
    const int64_t d = x->ne[0];
    if (x->ne[2] != 1 || x->ne[3] != 1 || w->ne[0] != d || w->ne[1] != 2 * d || w->ne[2] != 1 ||
        w->ne[3] != 1 || !ops_is_1d_len(b, 2 * d))
        return gl_ctx_fail(ctx, "%s: x %s, w %s, b %s do not match", who,
                           ops_shape(x, s1, sizeof s1), ops_shape(w, s2, sizeof s2),
                           ops_shape(b, s3, sizeof s3));
    /* Composed from ops, so that the affine part (most of the work: a [2d, d] by [d, n]
     * product) runs through the mat-mat kernels: h = w.x + b, t = relu(h[0:d]),
     * g = sigmoid(h[d:2d]), y = t + g * (x - t)  (= g x + (1 - g) t). */
    gl_tensor *h = gl_add(ctx, gl_mul_mat(ctx, w, x), b);
    if (!h) return NULL;
    const int64_t n = x->ne[1];
    gl_tensor *tr = gl_relu(ctx, gl_view_2d(ctx, h, d, n, h->nb[1], 0));
    gl_tensor *g = gl_sigmoid(ctx, gl_view_2d(ctx, h, d, n, h->nb[1], (size_t)d * sizeof(float)));
    return gl_add(ctx, tr, gl_mul(ctx, g, gl_sub(ctx, x, tr)));
}

gl_tensor *gl_lstm(gl_context *ctx, gl_tensor *xw, gl_tensor *wh, gl_tensor *wp, gl_tensor *state,
                   gl_tensor *lens, float forget_bias, float cell_clip, float proj_clip,
                   bool reverse) {
    const char *who = "gl_lstm";
    if (!ops_need(ctx, who, "xw", xw) || !ops_need(ctx, who, "wh", wh) ||
        !ops_need(ctx, who, "state", state) || !ops_optional_ok(ctx, wp) ||
        !ops_optional_ok(ctx, lens))
        return NULL;
    if (xw->type != GL_TYPE_F32) return ops_fail_type(ctx, who, "xw", xw);
    if (!gl_ops_weight_ok(wh)) return ops_fail_type(ctx, who, "wh", wh);
    if (wp && !gl_ops_weight_ok(wp)) return ops_fail_type(ctx, who, "wp", wp);
    if (state->type != GL_TYPE_F32 || state->nb[0] != sizeof(float))
        return ops_fail_type(ctx, who, "state", state);
    if (lens && lens->type != GL_TYPE_I32) return ops_fail_type(ctx, who, "lens", lens);
    if (!ops_finite(forget_bias) || !ops_finite(cell_clip) || !ops_finite(proj_clip))
        return gl_ctx_fail(ctx, "%s: forget_bias and clips must be finite", who);
    const int64_t cell = xw->ne[0] / 4, T = xw->ne[1], B = xw->ne[2];
    const int64_t proj = wh->ne[0];
    char s1[96], s2[96], s3[96], s4[96];
    bool ok = xw->ne[0] % 4 == 0 && cell > 0 && xw->ne[3] == 1 && wh->ne[1] == 4 * cell &&
              wh->ne[2] == 1 && wh->ne[3] == 1 && state->ne[0] == cell + proj &&
              state->ne[1] == B && state->ne[2] == 1 && state->ne[3] == 1;
    if (wp)
        ok = ok && wp->ne[0] == cell && wp->ne[1] == proj && wp->ne[2] == 1 && wp->ne[3] == 1;
    else
        ok = ok && proj == cell;
    if (!ok)
        return gl_ctx_fail(ctx, "%s: xw %s, wh %s, wp %s, state %s do not match", who,
                           ops_shape(xw, s1, sizeof s1), ops_shape(wh, s2, sizeof s2),
                           wp ? ops_shape(wp, s3, sizeof s3) : "none",
                           ops_shape(state, s4, sizeof s4));
    if (lens && !ops_is_1d_len(lens, B))
        return gl_ctx_fail(ctx, "%s: lens %s must hold %lld lengths", who,
                           ops_shape(lens, s1, sizeof s1), (long long)B);
    const int64_t ne[4] = {proj, T, B, 1};
    gl_tensor *src[5] = {xw, wh, wp, state, lens};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, ne, GL_OP_LSTM, 5, src);
    if (!t) return NULL;
    gl_op_param_set_f32(t, 0, forget_bias);
    gl_op_param_set_f32(t, 1, cell_clip);
    gl_op_param_set_f32(t, 2, proj_clip);
    t->op_params[3] = reverse ? 1 : 0;
    return t;
}

/* ------------------------------------------------------------------------------------------
 * Builders: concat and reductions
 * ---------------------------------------------------------------------------------------- */

gl_tensor *gl_concat(gl_context *ctx, gl_tensor *a, gl_tensor *b, int dim) {
    const char *who = "gl_concat";
    if (!ops_need(ctx, who, "a", a) || !ops_need(ctx, who, "b", b)) return NULL;
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    if (!ops_is_float(b)) return ops_fail_type(ctx, who, "b", b);
    if (dim < 0 || dim >= GL_MAX_DIMS) return gl_ctx_fail(ctx, "%s: dim %d out of range", who, dim);
    int64_t ne[4];
    for (int i = 0; i < GL_MAX_DIMS; i++) {
        if (i != dim && a->ne[i] != b->ne[i]) {
            char s1[96], s2[96];
            return gl_ctx_fail(ctx, "%s: shapes %s and %s differ outside dim %d", who,
                               ops_shape(a, s1, sizeof s1), ops_shape(b, s2, sizeof s2), dim);
        }
        ne[i] = i == dim ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    gl_tensor *src[2] = {a, b};
    gl_tensor *t = ops_new(ctx, GL_TYPE_F32, ne, GL_OP_CONCAT, 2, src);
    if (t) t->op_params[0] = dim;
    return t;
}

static gl_tensor *ops_reduce(gl_context *ctx, gl_op op, const char *who, gl_tensor *a) {
    if (!ops_need(ctx, who, "a", a)) return NULL;
    if (!ops_is_float(a)) return ops_fail_type(ctx, who, "a", a);
    if (op == GL_OP_ARGMAX) {
        if (a->ne[0] == 0) return gl_ctx_fail(ctx, "%s: empty rows", who);
        const int64_t ne[4] = {a->ne[1], a->ne[2], a->ne[3], 1};
        return ops_new(ctx, GL_TYPE_I32, ne, op, 1, &a);
    }
    const int64_t ne[4] = {1, a->ne[1], a->ne[2], a->ne[3]};
    return ops_new(ctx, GL_TYPE_F32, ne, op, 1, &a);
}

gl_tensor *gl_sum_rows(gl_context *ctx, gl_tensor *a) {
    return ops_reduce(ctx, GL_OP_SUM_ROWS, "gl_sum_rows", a);
}
gl_tensor *gl_mean(gl_context *ctx, gl_tensor *a) { return ops_reduce(ctx, GL_OP_MEAN, "gl_mean", a); }
gl_tensor *gl_argmax(gl_context *ctx, gl_tensor *a) {
    return ops_reduce(ctx, GL_OP_ARGMAX, "gl_argmax", a);
}

/* ------------------------------------------------------------------------------------------
 * Scratch sizes and task counts
 * ---------------------------------------------------------------------------------------- */

/* Scratch bytes each thread of the simple kernels uses (rows converted to F32). */
static size_t ops_thread_bytes(const gl_tensor *t) {
    const gl_tensor *a = t->src[0];
    if (!a) return 0;
    const size_t row = ops_row_bytes(a->ne[0]);
    switch (t->op) {
    case GL_OP_ADD:
    case GL_OP_SUB:
    case GL_OP_MUL:
    case GL_OP_DIV:
        return (ops_needs_tmp(a) ? row : 0) +
               (ops_needs_tmp(t->src[1]) ? ops_row_bytes(t->src[1]->ne[0]) : 0);
    case GL_OP_SCALE:
    case GL_OP_ADD1:
    case GL_OP_UNARY:
    case GL_OP_RMS_NORM:
    case GL_OP_SUM_ROWS:
    case GL_OP_MEAN:
    case GL_OP_ARGMAX:
        return ops_needs_tmp(a) ? row : 0;
    case GL_OP_NORM:
        return row * ((ops_needs_tmp(a) ? 1 : 0) + (ops_needs_tmp(t->src[1]) ? 1 : 0) +
                      (ops_needs_tmp(t->src[2]) ? 1 : 0));
    case GL_OP_SOFTMAX:
        return row * ((ops_needs_tmp(a) ? 1 : 0) + (ops_needs_tmp(t->src[1]) ? 1 : 0));
    case GL_OP_CPY:
    case GL_OP_CONT:
        return row;
    default:
        return 0;
    }
}

size_t gl_op_work_size(const gl_tensor *t, int n_threads) {
    GL_KDISPATCH(op_work_size, t, n_threads);
    if (n_threads < 1) n_threads = 1;
    switch (t->op) {
    case GL_OP_MUL_MAT: return gl_mul_mat_work_size(t, n_threads);
    case GL_OP_ROPE:
    case GL_OP_ATTN:
    case GL_OP_CONV1D_MAX:
    case GL_OP_LSTM: return gl_ops_nn_work_size(t, n_threads);
    default: return (size_t)n_threads * ops_thread_bytes(t);
    }
}

int gl_op_n_tasks(const gl_tensor *t, int n_threads) {
    GL_KDISPATCH(op_n_tasks, t, n_threads);
    if (n_threads < 1) return 1;
    switch (t->op) {
    case GL_OP_NONE:
    case GL_OP_VIEW:
    case GL_OP_CUSTOM: return gl_custom_n_tasks(t, n_threads);
    /* These split finer than by result rows; the LSTM also needs every thread at its
     * barriers. */
    case GL_OP_MUL_MAT:
    case GL_OP_LSTM:
    case GL_OP_ATTN:
    case GL_OP_CONV1D_MAX: return n_threads;
    default: {
        const int64_t rows = gl_nrows(t);
        return rows < n_threads ? (rows < 1 ? 1 : (int)rows) : n_threads;
    }
    }
}

/* ------------------------------------------------------------------------------------------
 * Kernels: the simple ops
 * ---------------------------------------------------------------------------------------- */

/* Row r of t as (i1, i2, i3). */
static inline void ops_unravel(const gl_tensor *t, int64_t r, int64_t *i1, int64_t *i2,
                               int64_t *i3) {
    *i1 = r % t->ne[1];
    *i2 = (r / t->ne[1]) % t->ne[2];
    *i3 = r / (t->ne[1] * t->ne[2]);
}

static char *ops_thread_scratch(const gl_compute_params *p, const gl_tensor *t) {
    return (char *)p->wdata + (size_t)p->ith * ops_thread_bytes(t);
}

static bool ops_scratch_ok(const gl_compute_params *p, const gl_tensor *t) {
    const size_t need = (size_t)p->nth * ops_thread_bytes(t);
    return need == 0 || (p->wdata && p->wsize >= need);
}

/* CPY, CONT and cast: src[0] converted into t (t's strides: dst's for gl_cpy). */
static void ops_forward_copy(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    float *tmp = (float *)ops_thread_scratch(p, t);
    const int64_t nr = gl_nrows(t);
    int64_t r0, r1;
    gl_split_rows(nr, p->ith, p->nth, &r0, &r1);
    if (gl_are_same_shape(a, t)) {
        const gl_type_traits *tt = gl_type_get(a->type);
        const bool raw = a->type == t->type && a->nb[0] == tt->type_size && t->nb[0] == tt->type_size;
        const size_t row_size = gl_row_size(a->type, a->ne[0]);
        for (int64_t r = r0; r < r1; r++) {
            int64_t i1, i2, i3;
            ops_unravel(t, r, &i1, &i2, &i3);
            if (raw) {
                memcpy(gl_row(t, i1, i2, i3), gl_row(a, i1, i2, i3), row_size);
            } else {
                const float *x = ops_row_f32(a, i1, i2, i3, tmp);
                ops_row_from_f32(t, i1, i2, i3, x);
            }
        }
        return;
    }
    /* Same element count, different shape: elements in row-major order (float types). */
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        char *dst_row = gl_row(t, i1, i2, i3);
        for (int64_t i0 = 0; i0 < t->ne[0]; i0++) {
            int64_t l = r * t->ne[0] + i0;
            const int64_t j0 = l % a->ne[0];
            l /= a->ne[0];
            const int64_t j1 = l % a->ne[1];
            l /= a->ne[1];
            const int64_t j2 = l % a->ne[2];
            const int64_t j3 = l / a->ne[2];
            const float v = ops_load_elem(a->type, gl_ptr(a, j0, j1, j2, j3));
            ops_store_elem(t->type, dst_row + i0 * t->nb[0], v);
        }
    }
}

static void ops_forward_get_rows(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0], *ids = t->src[1];
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        const int32_t id = *(const int32_t *)gl_ptr(ids, i1, i2, i3, 0);
        float *out = (float *)gl_row(t, i1, i2, i3);
        if (id < 0 || id >= a->ne[1]) { /* untrusted id: a zero row, never a wild read */
            memset(out, 0, (size_t)t->ne[0] * sizeof(float));
            continue;
        }
        if (a->layout == GL_LAYOUT_X8) { /* a tied embedding the output mul_mat reads too */
            gl_x8_row_to_f32(a->type, a->data, a->ne[0], id, out);
        } else {
            gl_ops_row_to_f32(a, id, i2 % a->ne[2], i3 % a->ne[3], out);
        }
    }
}

static void ops_forward_binary(const gl_compute_params *p, gl_tensor *t, ops_binop op) {
    const gl_tensor *a = t->src[0], *b = t->src[1];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    float *tmp_a = (float *)ops_thread_scratch(p, t);
    float *tmp_b = tmp_a + (ops_needs_tmp(a) ? ops_row_bytes(a->ne[0]) / sizeof(float) : 0);
    const int64_t n = t->ne[0], nb0 = b->ne[0];
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        const float *x = ops_row_f32(a, i1, i2, i3, tmp_a);
        const float *y = ops_row_f32(b, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3], tmp_b);
        float *z = (float *)gl_row(t, i1, i2, i3);
        if (nb0 == n) {
            ops_vec_bin(op, n, z, x, y);
        } else if (nb0 == 1) {
            const float s = y[0];
            for (int64_t i = 0; i < n; i++) z[i] = ops_bin1(op, x[i], s);
        } else {
            for (int64_t i = 0; i < n; i += nb0) ops_vec_bin(op, nb0, z + i, x + i, y);
        }
    }
}

static void ops_forward_scalar_op(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    float *tmp = (float *)ops_thread_scratch(p, t);
    const float v = gl_op_param_f32(t, 0);
    const int64_t n = t->ne[0];
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        const float *x = ops_row_f32(a, i1, i2, i3, tmp);
        float *y = (float *)gl_row(t, i1, i2, i3);
        if (t->op == GL_OP_SCALE) {
            ops_vec_scale(n, y, x, v);
        } else {
            for (int64_t i = 0; i < n; i++) y[i] = x[i] + v;
        }
    }
}

/* ---- unary ---- */

/* Exact GELU, 0.5 x (1 + erf(x / sqrt 2)). For negative arguments 1 + erf(z) is computed as
 * erfc(-z): 1 + erff(z) is a difference of numbers near 1, a multiple of 6e-8 (at x = -5,
 * where 1 + erf is 5.7e-7, a 10 % error) and 0 below x = -5.4. */
#define OPS_SQRT1_2 0.70710678118654752f
static inline float ops_gelu1(float x) {
    const float z = x * OPS_SQRT1_2;
    return 0.5f * x * (z < 0.0f ? erfcf(-z) : 1.0f + erff(z));
}

/* The SIMD GELU: 1 + erf(z) = erfc(|z|) for z < 0 and 2 - erfc(|z|) otherwise, both
 * well conditioned when erfc(u) has a small relative error. erfc(u) = t exp(g(t) - u^2),
 * t = 2 / (2 + u), g a degree-9 polynomial fitted here (weighted least squares on 3000
 * Chebyshev nodes of t in [1/6, 1], i.e. u in [0, 10]; |g - ln(erfc(u) / t) - u^2| <= 4.6e-8).
 * g - u^2 is carried as a rounded sum plus its exact residual (two-sum, and u^2 = hi + lo by
 * FMA), which one FMA folds into exp's result. u is clamped to 10 (erfc(10) ~ 2e-45 is 0 in
 * float). Error against the GELU of the rounded z in double (test-ops gelu_relative,
 * x in [-12, 12]): <= 4e-7 relative (AVX2), against 1-2 ulp for the scalar form above. */
#define OPS_ERFC_G0 (-1.2654409408569336f)
#define OPS_ERFC_G1 0.9984813928604126f
#define OPS_ERFC_G2 0.38800033926963806f
#define OPS_ERFC_G3 0.027854450047016144f
#define OPS_ERFC_G4 0.021730246022343636f
#define OPS_ERFC_G5 (-0.11976657807826996f)
#define OPS_ERFC_G6 (-0.647553026676178f)
#define OPS_ERFC_G7 1.1195653676986694f
#define OPS_ERFC_G8 (-0.664837121963501f)
#define OPS_ERFC_G9 0.14196594059467316f
#if defined(GL_AVX2)
static inline __m256 ops_gelu8(__m256 x) {
    const __m256 two = _mm256_set1_ps(2.0f);
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(OPS_SQRT1_2));
    const __m256 u = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), z), _mm256_set1_ps(10.0f));
    const __m256 t = _mm256_div_ps(two, _mm256_add_ps(two, u));
    __m256 g = _mm256_set1_ps(OPS_ERFC_G9);
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G8));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G7));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G6));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G5));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G4));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G3));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G2));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G1));
    g = _mm256_fmadd_ps(g, t, _mm256_set1_ps(OPS_ERFC_G0));
    const __m256 hi = _mm256_mul_ps(u, u);
    const __m256 lo = _mm256_fmsub_ps(u, u, hi);
    const __m256 a = _mm256_sub_ps(g, hi);
    const __m256 bb = _mm256_sub_ps(a, g);
    const __m256 r = _mm256_sub_ps(_mm256_add_ps(_mm256_sub_ps(g, _mm256_sub_ps(a, bb)),
                                                 _mm256_sub_ps(_mm256_setzero_ps(), _mm256_add_ps(hi, bb))),
                                   lo);
    const __m256 e = ops_exp8(a);
    const __m256 c = _mm256_mul_ps(t, _mm256_fmadd_ps(e, r, e));
    const __m256 onep = _mm256_blendv_ps(c, _mm256_sub_ps(two, c), _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GT_OQ));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), onep);
}
#elif defined(GL_NEON)
static inline float32x4_t ops_gelu4(float32x4_t x) {
    const float32x4_t two = vdupq_n_f32(2.0f);
    const float32x4_t z = vmulq_n_f32(x, OPS_SQRT1_2);
    const float32x4_t u = vminq_f32(vabsq_f32(z), vdupq_n_f32(10.0f));
    const float32x4_t t = vdivq_f32(two, vaddq_f32(two, u));
    float32x4_t g = vdupq_n_f32(OPS_ERFC_G9);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G8), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G7), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G6), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G5), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G4), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G3), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G2), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G1), g, t);
    g = vfmaq_f32(vdupq_n_f32(OPS_ERFC_G0), g, t);
    const float32x4_t hi = vmulq_f32(u, u);
    const float32x4_t lo = vnegq_f32(vfmsq_f32(hi, u, u)); /* u*u - hi, exactly */
    const float32x4_t a = vsubq_f32(g, hi);
    const float32x4_t bb = vsubq_f32(a, g);
    const float32x4_t r = vsubq_f32(vaddq_f32(vsubq_f32(g, vsubq_f32(a, bb)), vnegq_f32(vaddq_f32(hi, bb))), lo);
    const float32x4_t e = ops_exp4(a);
    const float32x4_t c = vmulq_f32(t, vfmaq_f32(e, e, r));
    const float32x4_t onep = vbslq_f32(vcgtq_f32(z, vdupq_n_f32(0.0f)), vsubq_f32(two, c), c);
    return vmulq_f32(vmulq_n_f32(x, 0.5f), onep);
}
#endif

#define OPS_GELU_K 0.79788456080286536f /* sqrt(2/pi) */
#define OPS_GELU_C 0.044715f

static inline float ops_gelu_tanh1(float x) {
    return 0.5f * x * (1.0f + tanhf(OPS_GELU_K * (x + OPS_GELU_C * x * x * x)));
}

static void ops_vec_unary(gl_unary_op op, int64_t n, float *y, const float *x) {
    int64_t i = 0;
    switch (op) {
    case GL_UNARY_TANH: ops_vec_tanh(n, y, x); return;
    case GL_UNARY_SIGMOID: ops_vec_sigmoid(n, y, x); return;
    case GL_UNARY_GELU:
#if defined(GL_AVX2)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, ops_gelu8(_mm256_loadu_ps(x + i)));
#elif defined(GL_NEON)
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, ops_gelu4(vld1q_f32(x + i)));
#endif
        for (; i < n; i++) y[i] = ops_gelu1(x[i]);
        return;
    default: break;
    }
#if defined(GL_AVX2)
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 r;
        switch (op) {
        case GL_UNARY_RELU: r = _mm256_max_ps(v, _mm256_setzero_ps()); break;
        case GL_UNARY_SILU: r = _mm256_mul_ps(v, ops_sigmoid8(v)); break;
        case GL_UNARY_GELU_TANH: {
            /* 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation for negative x */
            const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
            const __m256 u = _mm256_mul_ps(_mm256_set1_ps(2.0f * OPS_GELU_K),
                                           _mm256_fmadd_ps(x3, _mm256_set1_ps(OPS_GELU_C), v));
            r = _mm256_mul_ps(v, ops_sigmoid8(u));
            break;
        }
        case GL_UNARY_NEG: r = _mm256_sub_ps(_mm256_setzero_ps(), v); break;
        case GL_UNARY_SQR: r = _mm256_mul_ps(v, v); break;
        case GL_UNARY_SQRT: r = _mm256_sqrt_ps(v); break;
        default: r = ops_exp8(v); break; /* GL_UNARY_EXP */
        }
        _mm256_storeu_ps(y + i, r);
    }
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        float32x4_t r;
        switch (op) {
        case GL_UNARY_RELU: r = vmaxq_f32(v, vdupq_n_f32(0.0f)); break;
        case GL_UNARY_SILU: r = vmulq_f32(v, ops_sigmoid4(v)); break;
        case GL_UNARY_GELU_TANH: {
            const float32x4_t x3 = vmulq_f32(vmulq_f32(v, v), v);
            const float32x4_t u = vmulq_n_f32(vfmaq_n_f32(v, x3, OPS_GELU_C), 2.0f * OPS_GELU_K);
            r = vmulq_f32(v, ops_sigmoid4(u));
            break;
        }
        case GL_UNARY_NEG: r = vnegq_f32(v); break;
        case GL_UNARY_SQR: r = vmulq_f32(v, v); break;
        case GL_UNARY_SQRT: r = vsqrtq_f32(v); break;
        default: r = ops_exp4(v); break;
        }
        vst1q_f32(y + i, r);
    }
#endif
    for (; i < n; i++) {
        const float v = x[i];
        switch (op) {
        case GL_UNARY_RELU: y[i] = v > 0.0f ? v : 0.0f; break;
        case GL_UNARY_SILU: y[i] = v / (1.0f + expf(-v)); break;
        case GL_UNARY_GELU_TANH: y[i] = ops_gelu_tanh1(v); break;
        case GL_UNARY_NEG: y[i] = -v; break;
        case GL_UNARY_SQR: y[i] = v * v; break;
        case GL_UNARY_SQRT: y[i] = sqrtf(v); break;
        default: y[i] = expf(v); break;
        }
    }
}

static void ops_forward_unary(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    float *tmp = (float *)ops_thread_scratch(p, t);
    const gl_unary_op op = (gl_unary_op)t->op_params[0];
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        ops_vec_unary(op, t->ne[0], (float *)gl_row(t, i1, i2, i3), ops_row_f32(a, i1, i2, i3, tmp));
    }
}

/* ---- norms ---- */

static void ops_forward_norm(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0], *w = t->src[1], *b = t->src[2];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    const int64_t n = t->ne[0];
    const size_t row_f = ops_row_bytes(n) / sizeof(float);
    float *tmp = (float *)ops_thread_scratch(p, t);
    float *tmp_a = tmp;
    if (ops_needs_tmp(a)) tmp += row_f;
    /* w and b are the same for every row: convert them once per thread. */
    const float *wv = NULL, *bv = NULL;
    if (w) {
        wv = ops_row_f32(w, 0, 0, 0, tmp);
        if (ops_needs_tmp(w)) tmp += row_f;
    }
    if (b) bv = ops_row_f32(b, 0, 0, 0, tmp);
    const float eps = gl_op_param_f32(t, 0);
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        const float *x = ops_row_f32(a, i1, i2, i3, tmp_a);
        float *y = (float *)gl_row(t, i1, i2, i3);
        if (n == 0) continue;
        if (t->op == GL_OP_RMS_NORM) {
            const float ms = ops_vec_sumsq_dev(n, x, 0.0f) / (float)n;
            ops_vec_scale(n, y, x, 1.0f / sqrtf(ms + eps));
        } else {
            const float mean = ops_vec_sum(n, x) / (float)n;
            const float var = ops_vec_sumsq_dev(n, x, mean) / (float)n;
            ops_vec_shift_scale(n, y, x, mean, 1.0f / sqrtf(var + eps));
            if (wv) ops_vec_bin(OPS_BIN_MUL, n, y, y, wv);
            if (bv) ops_vec_bin(OPS_BIN_ADD, n, y, y, bv);
        }
    }
}

/* ---- softmax ---- */

static void ops_forward_softmax(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0], *mask = t->src[1];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    const int64_t n = t->ne[0];
    float *tmp_a = (float *)ops_thread_scratch(p, t);
    float *tmp_m = tmp_a + (ops_needs_tmp(a) ? ops_row_bytes(n) / sizeof(float) : 0);
    const float scale = gl_op_param_f32(t, 0);
    const bool causal = t->op_params[1] != 0;
    const int64_t n_past = t->ne[0] - t->ne[1];
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(t, r, &i1, &i2, &i3);
        const float *x = ops_row_f32(a, i1, i2, i3, tmp_a);
        float *y = (float *)gl_row(t, i1, i2, i3);
        /* Keys past jmax are masked by causality: they get probability 0. */
        int64_t jmax = n;
        if (causal) jmax = GL_MAX(0, GL_MIN(n, i1 + n_past + 1));
        ops_vec_scale(jmax, y, x, scale);
        if (mask) {
            const float *m = ops_row_f32(mask, i1, i2 % mask->ne[2], i3 % mask->ne[3], tmp_m);
            ops_vec_bin(OPS_BIN_ADD, jmax, y, y, m);
        }
        const float mx = ops_vec_max(jmax, y);
        if (mx == -INFINITY || jmax == 0) { /* every key masked: no distribution, zeros */
            memset(y, 0, (size_t)n * sizeof(float));
            continue;
        }
        const float sum = ops_vec_exp_sum(jmax, y, y, mx);
        ops_vec_scale(jmax, y, y, 1.0f / sum);
        for (int64_t j = jmax; j < n; j++) y[j] = 0.0f;
    }
}

/* ---- concat and reductions ---- */

static void ops_forward_concat(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0], *b = t->src[1];
    const int dim = t->op_params[0];
    int64_t r0, r1;
    gl_split_rows(gl_nrows(t), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i[4] = {0, 0, 0, 0};
        ops_unravel(t, r, &i[1], &i[2], &i[3]);
        float *y = (float *)gl_row(t, i[1], i[2], i[3]);
        if (dim == 0) {
            gl_ops_row_to_f32(a, i[1], i[2], i[3], y);
            gl_ops_row_to_f32(b, i[1], i[2], i[3], y + a->ne[0]);
        } else if (i[dim] < a->ne[dim]) {
            gl_ops_row_to_f32(a, i[1], i[2], i[3], y);
        } else {
            i[dim] -= a->ne[dim];
            gl_ops_row_to_f32(b, i[1], i[2], i[3], y);
        }
    }
}

static void ops_forward_reduce(const gl_compute_params *p, gl_tensor *t) {
    const gl_tensor *a = t->src[0];
    GL_KERNEL_REQUIRE(p, t, ops_scratch_ok(p, t), "too little scratch memory (%zu bytes)", p->wsize);
    float *tmp = (float *)ops_thread_scratch(p, t);
    const int64_t n = a->ne[0];
    const int64_t nr = gl_nrows(a);
    int64_t r0, r1;
    gl_split_rows(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        ops_unravel(a, r, &i1, &i2, &i3);
        const float *x = ops_row_f32(a, i1, i2, i3, tmp);
        if (t->op == GL_OP_ARGMAX) {
            int64_t best = 0; /* first maximum wins */
            for (int64_t i = 1; i < n; i++)
                if (x[i] > x[best]) best = i;
            *(int32_t *)gl_ptr(t, i1, i2, i3, 0) = (int32_t)best;
        } else {
            const float s = ops_vec_sum(n, x);
            *(float *)gl_ptr(t, 0, i1, i2, i3) = t->op == GL_OP_MEAN ? (n ? s / (float)n : 0.0f) : s;
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Dispatch
 * ---------------------------------------------------------------------------------------- */

void gl_compute_forward(const gl_compute_params *p, gl_tensor *t) {
    GL_KDISPATCH_VOID(compute_forward, p, t);
    GL_KERNEL_REQUIRE(p, t, t->data || t->op == GL_OP_NONE || t->op == GL_OP_VIEW, "the node has no data");
    switch (t->op) {
    case GL_OP_NONE:
    case GL_OP_VIEW:
    case GL_OP_COUNT: break;
    case GL_OP_CUSTOM: gl_compute_custom(t, p->ith, p->nth); break; /* gl-backward.c */
    case GL_OP_CPY:
    case GL_OP_CONT: ops_forward_copy(p, t); break;
    case GL_OP_GET_ROWS: ops_forward_get_rows(p, t); break;
    case GL_OP_ADD: ops_forward_binary(p, t, OPS_BIN_ADD); break;
    case GL_OP_SUB: ops_forward_binary(p, t, OPS_BIN_SUB); break;
    case GL_OP_MUL: ops_forward_binary(p, t, OPS_BIN_MUL); break;
    case GL_OP_DIV: ops_forward_binary(p, t, OPS_BIN_DIV); break;
    case GL_OP_SCALE:
    case GL_OP_ADD1: ops_forward_scalar_op(p, t); break;
    case GL_OP_MUL_MAT: gl_compute_mul_mat(p, t); break;
    case GL_OP_NORM:
    case GL_OP_RMS_NORM: ops_forward_norm(p, t); break;
    case GL_OP_UNARY: ops_forward_unary(p, t); break;
    case GL_OP_SOFTMAX: ops_forward_softmax(p, t); break;
    case GL_OP_ROPE: gl_ops_forward_rope(p, t); break;
    case GL_OP_ATTN: gl_ops_forward_attn(p, t); break;
    case GL_OP_CONV1D_MAX: gl_ops_forward_conv1d_max(p, t); break;
    case GL_OP_LSTM: gl_ops_forward_lstm(p, t); break;
    case GL_OP_CONCAT: ops_forward_concat(p, t); break;
    case GL_OP_SUM_ROWS:
    case GL_OP_MEAN:
    case GL_OP_ARGMAX: ops_forward_reduce(p, t); break;
    }
}
