/*
 * gl-core.c — errors, contexts (caller-sized arenas), tensor creation and views.
 */
#include "gl-impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------- */

gl_status gl_error_set(gl_error *err, gl_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

bool gl_name_eq(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z') ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z') cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb) return false;
        if (ca == '\0') return true;
    }
}

/* ------------------------------------------------------------------------------------------
 * Contexts
 * ---------------------------------------------------------------------------------------- */

struct gl_context {
    char *mem;
    size_t mem_size;
    size_t used;
    bool owns_mem;
    bool no_alloc;
    bool failed;
    char error[GL_ERR_MAX];
};

size_t gl_tensor_overhead(void) { return GL_PAD(sizeof(gl_tensor), GL_ALIGN); }

gl_context *gl_context_new(gl_context_params params, gl_error *err) {
    gl_context *ctx = GL_CALLOC(1, sizeof *ctx);
    if (!ctx) {
        gl_error_set(err, GL_ERR_NOMEM, "gl_context_new: out of memory");
        return NULL;
    }
    ctx->mem_size = params.mem_size;
    ctx->no_alloc = params.no_alloc;
    if (params.mem_buffer) {
        /* The caller's buffer may be unaligned: start at the first aligned byte. */
        uintptr_t p = (uintptr_t)params.mem_buffer;
        size_t skip = (size_t)(GL_PAD(p, GL_ALIGN) - p);
        if (skip > params.mem_size) {
            GL_FREE(ctx);
            gl_error_set(err, GL_ERR_INVALID, "gl_context_new: buffer of %zu bytes is too small",
                         params.mem_size);
            return NULL;
        }
        ctx->mem = (char *)params.mem_buffer + skip;
        ctx->mem_size = params.mem_size - skip;
    } else if (params.mem_size > 0) {
        size_t size = GL_PAD(params.mem_size, GL_ALIGN);
        if (size < params.mem_size || !(ctx->mem = GL_ALIGNED_ALLOC(GL_ALIGN, size))) {
            GL_FREE(ctx);
            gl_error_set(err, GL_ERR_NOMEM, "gl_context_new: cannot allocate %zu bytes",
                         params.mem_size);
            return NULL;
        }
        ctx->owns_mem = true;
    }
    return ctx;
}

void gl_context_free(gl_context *ctx) {
    if (!ctx) return;
    if (ctx->owns_mem) GL_FREE(ctx->mem);
    GL_FREE(ctx);
}

void gl_context_reset(gl_context *ctx) {
    if (!ctx) return;
    ctx->used = 0;
    ctx->failed = false;
    ctx->error[0] = '\0';
}

size_t gl_context_used(const gl_context *ctx) { return ctx ? ctx->used : 0; }
const char *gl_ctx_error(const gl_context *ctx) {
    return ctx && ctx->failed ? ctx->error : NULL;
}
bool gl_ctx_ok(const gl_context *ctx) { return ctx && !ctx->failed; }

gl_tensor *gl_ctx_fail(gl_context *ctx, const char *fmt, ...) {
    if (ctx && !ctx->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
        ctx->failed = true;
    }
    return NULL;
}

/* Carves size bytes (GL_ALIGN aligned) from the arena, or records an error. */
static void *core_arena_alloc(gl_context *ctx, size_t size, const char *what) {
    size_t need = GL_PAD(size, GL_ALIGN);
    if (need < size || ctx->used > ctx->mem_size || need > ctx->mem_size - ctx->used) {
        gl_ctx_fail(ctx, "context arena full: %s needs %zu bytes, %zu of %zu in use", what, size,
                    ctx->used, ctx->mem_size);
        return NULL;
    }
    void *p = ctx->mem + ctx->used;
    ctx->used += need;
    return p;
}

void *gl_ctx_alloc(gl_context *ctx, size_t size, const char *what) {
    if (!ctx || ctx->failed) return NULL;
    return core_arena_alloc(ctx, size, what);
}

/* ------------------------------------------------------------------------------------------
 * Tensors
 * ---------------------------------------------------------------------------------------- */

bool gl_ne_valid(const int64_t *ne, int n_dims) {
    if (n_dims < 1 || n_dims > GL_MAX_DIMS) return false;
    int64_t total = 1;
    for (int i = 0; i < n_dims; i++) {
        if (ne[i] < 0) return false;
        if (ne[i] > 0 && total > INT64_MAX / ne[i]) return false;
        total *= ne[i];
    }
    return true;
}

void gl_set_contiguous_strides(gl_tensor *t) {
    const gl_type_traits *tt = gl_type_get(t->type);
    t->nb[0] = tt->type_size;
    t->nb[1] = t->nb[0] * (size_t)(t->ne[0] / tt->blck_size);
    for (int i = 2; i < GL_MAX_DIMS; i++) t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
}

/* Header + (optionally) data for a tensor of type and ne; checks the type and shape. */
static gl_tensor *core_new_tensor_impl(gl_context *ctx, gl_type type, int n_dims,
                                       const int64_t *ne, bool alloc_data, const char *who) {
    if (!ctx || ctx->failed) return NULL;
    const gl_type_traits *tt = gl_type_get(type);
    if (!tt || !tt->known) return gl_ctx_fail(ctx, "%s: unknown tensor type %d", who, (int)type);
    if (!gl_ne_valid(ne, n_dims))
        return gl_ctx_fail(ctx, "%s: invalid shape (n_dims %d, negative dim or overflow)", who,
                           n_dims);
    if (ne[0] % tt->blck_size != 0)
        return gl_ctx_fail(ctx, "%s: ne0 = %lld is not a multiple of %s's block size %lld", who,
                           (long long)ne[0], tt->name, (long long)tt->blck_size);
    int64_t n_el = 1;
    for (int i = 0; i < n_dims; i++) n_el *= ne[i];
    if ((uint64_t)(n_el / tt->blck_size) > SIZE_MAX / tt->type_size)
        return gl_ctx_fail(ctx, "%s: tensor byte size overflows", who);
    gl_tensor *t = core_arena_alloc(ctx, sizeof(gl_tensor), "a tensor header");
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->type = type;
    for (int i = 0; i < GL_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    gl_set_contiguous_strides(t);
    t->plan_slot = -1;
    if (alloc_data && !ctx->no_alloc) {
        size_t nbytes = gl_nbytes(t);
        t->data = core_arena_alloc(ctx, nbytes ? nbytes : 1, "tensor data");
        if (!t->data) return NULL;
    }
    return t;
}

gl_tensor *gl_new_tensor(gl_context *ctx, gl_type type, int n_dims, const int64_t *ne) {
    return core_new_tensor_impl(ctx, type, n_dims, ne, true, "gl_new_tensor");
}
gl_tensor *gl_new_tensor_1d(gl_context *ctx, gl_type type, int64_t ne0) {
    return gl_new_tensor(ctx, type, 1, &ne0);
}
gl_tensor *gl_new_tensor_2d(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1) {
    const int64_t ne[2] = {ne0, ne1};
    return gl_new_tensor(ctx, type, 2, ne);
}
gl_tensor *gl_new_tensor_3d(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1,
                            int64_t ne2) {
    const int64_t ne[3] = {ne0, ne1, ne2};
    return gl_new_tensor(ctx, type, 3, ne);
}
gl_tensor *gl_new_tensor_4d(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1, int64_t ne2,
                            int64_t ne3) {
    const int64_t ne[4] = {ne0, ne1, ne2, ne3};
    return gl_new_tensor(ctx, type, 4, ne);
}

gl_tensor *gl_new_tensor_with_data(gl_context *ctx, gl_type type, int n_dims, const int64_t *ne,
                                   void *data) {
    gl_tensor *t = core_new_tensor_impl(ctx, type, n_dims, ne, false, "gl_new_tensor_with_data");
    if (t) t->data = data;
    return t;
}

/* A repacked (X8) tensor is only readable by mul_mat's first operand and get_rows' table (both
 * know the layout): any other reader would take its interleaved bytes for rows. */
static bool core_layout_ok(gl_context *ctx, const gl_tensor *src, const char *who, bool allowed) {
    if (!src || src->layout == GL_LAYOUT_ROWS || allowed) return true;
    gl_ctx_fail(ctx, "%s: '%s' is repacked (X8); only mul_mat (as its first operand) and get_rows may read it",
                who, src->name[0] ? src->name : "(unnamed)");
    return false;
}

gl_tensor *gl_new_op_tensor(gl_context *ctx, gl_type type, int n_dims, const int64_t *ne, gl_op op,
                            int n_src, gl_tensor *const *src) {
    if (!ctx || ctx->failed) return NULL;
    for (int i = 0; i < n_src && i < GL_MAX_SRC; i++)
        if (!core_layout_ok(ctx, src[i], gl_op_name(op),
                            (op == GL_OP_MUL_MAT || op == GL_OP_GET_ROWS) && i == 0))
            return NULL;
    gl_tensor *t = core_new_tensor_impl(ctx, type, n_dims, ne, false, gl_op_name(op));
    if (!t) return NULL;
    t->op = op;
    for (int i = 0; i < n_src && i < GL_MAX_SRC; i++) t->src[i] = src[i];
    return t;
}

gl_tensor *gl_set_name(gl_tensor *t, const char *fmt, ...) {
    if (!t) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    return t;
}

void gl_set_input(gl_tensor *t) {
    if (t) t->is_input = true;
}
void gl_set_output(gl_tensor *t) {
    if (t) t->is_output = true;
}

int64_t gl_nelements(const gl_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }
int64_t gl_nrows(const gl_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t gl_nbytes(const gl_tensor *t) {
    const gl_type_traits *tt = gl_type_get(t->type);
    for (int i = 0; i < GL_MAX_DIMS; i++)
        if (t->ne[i] <= 0) return 0;
    /* Bytes from the first to one past the last element, whatever the strides (dim 0 counts
     * in blocks; it may be permuted for unquantized types). */
    size_t bytes = (size_t)(t->ne[0] / tt->blck_size - 1) * t->nb[0] + tt->type_size;
    for (int i = 1; i < GL_MAX_DIMS; i++) bytes += (size_t)(t->ne[i] - 1) * t->nb[i];
    return bytes;
}

bool gl_is_contiguous(const gl_tensor *t) {
    const gl_type_traits *tt = gl_type_get(t->type);
    size_t expect = tt->type_size;
    if (t->nb[0] != expect) return false;
    expect *= (size_t)(t->ne[0] / tt->blck_size);
    for (int i = 1; i < GL_MAX_DIMS; i++) {
        if (t->ne[i] != 1 && t->nb[i] != expect) return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

bool gl_are_same_shape(const gl_tensor *a, const gl_tensor *b) {
    for (int i = 0; i < GL_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

int gl_n_dims(const gl_tensor *t) {
    for (int i = GL_MAX_DIMS - 1; i >= 1; i--)
        if (t->ne[i] > 1) return i + 1;
    return 1;
}

float gl_get_f32_nd(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    const void *p = gl_ptr(t, i0, i1, i2, i3);
    switch (t->type) {
    case GL_TYPE_F32: return *(const float *)p;
    case GL_TYPE_F16: return gl_fp16_to_fp32(*(const gl_fp16 *)p);
    case GL_TYPE_BF16: return gl_bf16_to_fp32(*(const gl_bf16 *)p);
    case GL_TYPE_I32: return (float)*(const int32_t *)p;
    case GL_TYPE_I16: return (float)*(const int16_t *)p;
    case GL_TYPE_I8: return (float)*(const int8_t *)p;
    default: return NAN;
    }
}

void gl_set_f32_nd(gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, float v) {
    void *p = gl_ptr(t, i0, i1, i2, i3);
    switch (t->type) {
    case GL_TYPE_F32: *(float *)p = v; break;
    case GL_TYPE_F16: *(gl_fp16 *)p = gl_fp32_to_fp16(v); break;
    case GL_TYPE_BF16: *(gl_bf16 *)p = gl_fp32_to_bf16(v); break;
    case GL_TYPE_I32: *(int32_t *)p = (int32_t)gl_f32_to_int_sat(v, INT32_MIN, INT32_MAX); break;
    case GL_TYPE_I16: *(int16_t *)p = (int16_t)gl_f32_to_int_sat(v, INT16_MIN, INT16_MAX); break;
    case GL_TYPE_I8: *(int8_t *)p = (int8_t)gl_f32_to_int_sat(v, INT8_MIN, INT8_MAX); break;
    default: break;
    }
}

/* ------------------------------------------------------------------------------------------
 * Views: a new header over the same data. view_src is always the tensor that owns the data
 * (views of views collapse), so the planner and allocator only follow one link.
 * ---------------------------------------------------------------------------------------- */

static gl_tensor *core_view_impl(gl_context *ctx, gl_tensor *a, int n_dims, const int64_t *ne,
                                 const size_t *nb, size_t offset, const char *who) {
    if (!a) return NULL;
    if (!core_layout_ok(ctx, a, who, false)) return NULL;
    gl_tensor *base = a->view_src ? a->view_src : a;
    size_t base_offs = a->view_src ? a->view_offs : 0;
    gl_tensor *t = gl_new_op_tensor(ctx, a->type, n_dims, ne, GL_OP_VIEW, 1, &a);
    if (!t) return NULL;
    if (nb) {
        t->nb[0] = a->nb[0];
        for (int i = 1; i < GL_MAX_DIMS; i++)
            t->nb[i] = i < n_dims ? nb[i] : t->nb[i - 1] * (size_t)t->ne[i - 1];
    }
    /* The view must stay inside its base's bytes. */
    size_t span = gl_nbytes(t);
    size_t base_bytes = gl_nbytes(base);
    if (offset > SIZE_MAX - base_offs || base_offs + offset > base_bytes ||
        span > base_bytes - (base_offs + offset))
        return gl_ctx_fail(ctx, "%s: view of %zu bytes at offset %zu exceeds %s's %zu bytes", who,
                           span, base_offs + offset, base->name[0] ? base->name : "its source",
                           base_bytes);
    t->view_src = base;
    t->view_offs = base_offs + offset;
    if (base->data) t->data = (char *)base->data + t->view_offs;
    snprintf(t->name, sizeof t->name, "%.50s (view)", a->name);
    return t;
}

gl_tensor *gl_view_1d(gl_context *ctx, gl_tensor *a, int64_t ne0, size_t offset) {
    const int64_t ne[1] = {ne0};
    return core_view_impl(ctx, a, 1, ne, NULL, offset, "gl_view_1d");
}
gl_tensor *gl_view_2d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, size_t nb1,
                      size_t offset) {
    const int64_t ne[2] = {ne0, ne1};
    const size_t nb[2] = {0, nb1};
    return core_view_impl(ctx, a, 2, ne, nb, offset, "gl_view_2d");
}
gl_tensor *gl_view_3d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2,
                      size_t nb1, size_t nb2, size_t offset) {
    const int64_t ne[3] = {ne0, ne1, ne2};
    const size_t nb[3] = {0, nb1, nb2};
    return core_view_impl(ctx, a, 3, ne, nb, offset, "gl_view_3d");
}
gl_tensor *gl_view_4d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2,
                      int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset) {
    const int64_t ne[4] = {ne0, ne1, ne2, ne3};
    const size_t nb[4] = {0, nb1, nb2, nb3};
    return core_view_impl(ctx, a, 4, ne, nb, offset, "gl_view_4d");
}

static gl_tensor *core_reshape(gl_context *ctx, gl_tensor *a, int n_dims, const int64_t *ne) {
    if (!a) return NULL;
    if (!gl_is_contiguous(a))
        return gl_ctx_fail(ctx, "gl_reshape: source '%s' is not contiguous (use gl_cont)",
                           a->name);
    if (!gl_ne_valid(ne, n_dims)) return gl_ctx_fail(ctx, "gl_reshape: invalid shape");
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= ne[i];
    if (n != gl_nelements(a))
        return gl_ctx_fail(ctx, "gl_reshape: %lld elements cannot become %lld",
                           (long long)gl_nelements(a), (long long)n);
    return core_view_impl(ctx, a, n_dims, ne, NULL, 0, "gl_reshape");
}

gl_tensor *gl_reshape_2d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1) {
    const int64_t ne[2] = {ne0, ne1};
    return core_reshape(ctx, a, 2, ne);
}
gl_tensor *gl_reshape_3d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2) {
    const int64_t ne[3] = {ne0, ne1, ne2};
    return core_reshape(ctx, a, 3, ne);
}
gl_tensor *gl_reshape_4d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2,
                         int64_t ne3) {
    const int64_t ne[4] = {ne0, ne1, ne2, ne3};
    return core_reshape(ctx, a, 4, ne);
}

gl_tensor *gl_permute(gl_context *ctx, gl_tensor *a, int ax0, int ax1, int ax2, int ax3) {
    if (!a) return NULL;
    const int ax[4] = {ax0, ax1, ax2, ax3};
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        if (ax[i] < 0 || ax[i] > 3 || (seen & (1 << ax[i])))
            return gl_ctx_fail(ctx, "gl_permute: axes (%d,%d,%d,%d) are not a permutation", ax0,
                               ax1, ax2, ax3);
        seen |= 1 << ax[i];
    }
    if (gl_type_get(a->type)->blck_size != 1 && ax0 != 0)
        return gl_ctx_fail(ctx, "gl_permute: cannot move dim 0 of a quantized tensor");
    gl_tensor *t = core_view_impl(ctx, a, 4, a->ne, a->nb, 0, "gl_permute");
    if (!t) return NULL;
    for (int i = 0; i < 4; i++) {
        t->ne[ax[i]] = a->ne[i];
        t->nb[ax[i]] = a->nb[i];
    }
    return t;
}

gl_tensor *gl_transpose(gl_context *ctx, gl_tensor *a) { return gl_permute(ctx, a, 1, 0, 2, 3); }
