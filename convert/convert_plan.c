/*
 * convert_plan.c — the one converter pipeline: plan items, the type rule, the transforms and
 * the streaming writer (see convert_plan.h).
 *
 * Memory stays bounded: a plain copy goes through CV_CHUNK_ELEMS floats at a time; a permuted,
 * transposed or filled tensor needs the whole tensor twice (read, rearranged) as floats; the
 * encoded bytes reuse one buffer.
 */
#include "alloc.h"
#include "convert_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CV_CHUNK_ELEMS ((int64_t)1 << 22) /* plain copies go through 16 MB of floats */

void elm_cv_plan_init(elm_cv_plan *pl, const elm_convert_params *p, gl_error *err) {
    memset(pl, 0, sizeof *pl);
    pl->p = p;
    pl->err = err;
}

void elm_cv_plan_free(elm_cv_plan *pl) {
    ELM_FREE(pl->items);
    pl->items = NULL;
    pl->n_items = pl->cap_items = 0;
}

static bool cv_is_quant(int t) { return t >= 0 && gl_type_get(t) && gl_type_get(t)->is_quantized; }

gl_type elm_cv_plan_type(elm_cv_plan *pl, const char *name, int src_dtype, int n_dims, int64_t ne0, bool keep_f32) {
    if (n_dims == 1 || keep_f32) return GL_TYPE_F32;
    const int want = pl->p->outtype;
    if (want < 0) {
        if (src_dtype == ELM_ST_F16) return GL_TYPE_F16;
        if (src_dtype == ELM_ST_BF16) return GL_TYPE_BF16;
        return GL_TYPE_F32;
    }
    if (cv_is_quant(want) && ne0 % gl_type_get(want)->blck_size != 0) {
        pl->n_fallback++;
        elm_cv_log(pl->p, "note: %s has rows of %lld, not a multiple of %lld: kept as f16", name, (long long)ne0,
                   (long long)gl_type_get(want)->blck_size);
        return GL_TYPE_F16;
    }
    return (gl_type)want;
}

static elm_cv_item *cv_push(elm_cv_plan *pl, const char *name) {
    if (pl->n_items == pl->cap_items) {
        int cap = pl->cap_items ? pl->cap_items * 2 : 64;
        elm_cv_item *ni = ELM_REALLOC(pl->items, (size_t)cap * sizeof *ni);
        if (!ni) {
            gl_error_set(pl->err, GL_ERR_NOMEM, "out of memory");
            return NULL;
        }
        pl->items = ni;
        pl->cap_items = cap;
    }
    elm_cv_item *it = &pl->items[pl->n_items++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    return it;
}

gl_status elm_cv_plan_add(elm_cv_plan *pl, const char *name, const elm_st_tensor *src, int64_t rows, int64_t cols,
                          elm_cv_xform xf, int64_t heads, bool keep_f32) {
    const int nd = cols > 0 ? 2 : 1;
    if (!src) return gl_error_set(pl->err, GL_ERR_FORMAT, "no source tensor for %s", name);
    if (src->n_dims != nd || src->shape[0] != rows || (nd == 2 && src->shape[1] != cols)) {
        char got[96] = "", exp[48];
        int n = 0;
        for (int d = 0; d < src->n_dims && n < (int)sizeof got - 24; d++)
            n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", d ? ", " : "", (long long)src->shape[d]);
        if (nd == 1) snprintf(exp, sizeof exp, "%lld", (long long)rows);
        else snprintf(exp, sizeof exp, "%lld, %lld", (long long)rows, (long long)cols);
        return gl_error_set(pl->err, GL_ERR_FORMAT, "tensor %s has shape [%s], expected [%s]", src->name, got, exp);
    }
    if (src->dtype == ELM_ST_OTHER)
        return gl_error_set(pl->err, GL_ERR_UNSUPPORTED,
                            "tensor %s has dtype %s: only F32, F16 and BF16 can be converted", src->name,
                            src->dtype_name);
    elm_cv_item *it = cv_push(pl, name);
    if (!it) return GL_ERR_NOMEM;
    it->src = src;
    it->xf = xf;
    it->perm_heads = heads;
    it->n_dims = nd;
    if (xf == ELM_CV_TRANSPOSE) { /* Conv1D [in, out]: GGUF rows are outputs */
        it->ne[0] = rows;
        it->ne[1] = nd == 2 ? cols : 1;
    } else {
        it->ne[0] = nd == 2 ? cols : rows;
        it->ne[1] = nd == 2 ? rows : 1;
    }
    it->f32_rule = keep_f32 && nd == 2;
    it->type = elm_cv_plan_type(pl, name, src->dtype, nd, it->ne[0], keep_f32);
    return GL_OK;
}

gl_status elm_cv_plan_add_fill(elm_cv_plan *pl, const char *name, int n_dims, int64_t ne0, int64_t ne1,
                               bool keep_f32, int kind, int a0, int a1, int a2) {
    elm_cv_item *it = cv_push(pl, name);
    if (!it) return GL_ERR_NOMEM;
    it->xf = ELM_CV_FILL;
    it->fill_kind = kind;
    it->fill_arg[0] = a0;
    it->fill_arg[1] = a1;
    it->fill_arg[2] = a2;
    it->n_dims = n_dims;
    it->ne[0] = ne0;
    it->ne[1] = n_dims == 2 ? ne1 : 1;
    it->f32_rule = keep_f32 && n_dims == 2;
    it->type = elm_cv_plan_type(pl, name, -1, n_dims, ne0, keep_f32);
    return GL_OK;
}

gl_status elm_cv_plan_check_unmapped(elm_cv_plan *pl, const elm_cv_source *src, const elm_st_tensor *const *extra,
                                     int n_extra, const char *const *buffers, const char *const *requested) {
    const int64_t n = (int64_t)pl->n_items + n_extra;
    const elm_st_tensor **used = ELM_MALLOC((size_t)(n > 0 ? n : 1) * sizeof *used);
    if (!used) return gl_error_set(pl->err, GL_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    for (int i = 0; i < pl->n_items; i++) {
        const elm_st_tensor *t = pl->items[i].src ? elm_cv_source_find(src, pl->items[i].src->name) : NULL;
        if (t) used[k++] = t;
    }
    for (int i = 0; i < n_extra; i++)
        if (extra[i]) used[k++] = extra[i];
    int64_t n_bad = 0;
    gl_status s = elm_cv_check_unmapped(pl->p, src, used, k, buffers, requested, &n_bad, pl->err);
    ELM_FREE(used);
    if (s == GL_OK && n_bad > 0)
        elm_cv_log(pl->p, "warning: %lld source tensor%s dropped (--strict refuses such a checkpoint)", (long long)n_bad,
                   n_bad == 1 ? "" : "s");
    return s;
}

/* ---- transforms ---- */

/* llama.cpp's q/k permutation: HF stores each head's rows in rotate-half order (first half of
 * the rotary pairs, then the second half); llama.cpp's "normal" RoPE rotates adjacent rows.
 * Within head h of size d: new row h*d + 2i + k comes from old row h*d + k*d/2 + i. */
static void cv_permute(const float *src, float *dst, int64_t rows, int64_t cols, int64_t heads) {
    const int64_t d = rows / heads, half = d / 2;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t k = 0; k < 2; k++)
                memcpy(dst + (h * d + 2 * i + k) * cols, src + (h * d + k * half + i) * cols,
                       (size_t)cols * sizeof(float));
}

/* [in, out] row-major → [out, in] row-major. */
static void cv_transpose(const float *src, float *dst, int64_t in, int64_t out) {
    for (int64_t r = 0; r < in; r++)
        for (int64_t c = 0; c < out; c++) dst[c * in + r] = src[r * out + c];
}

/* ---- streaming ---- */

typedef struct cv_bufs {
    float *a, *b;
    size_t a_n, b_n;
    uint8_t *q;
    size_t q_n;
} cv_bufs;

static void *cv_grow(void **p, size_t *have, size_t need) {
    if (need <= *have) return *p;
    void *n = ELM_REALLOC(*p, need);
    if (!n) return NULL;
    *p = n;
    *have = need;
    return n;
}

/* Encodes nrows rows of floats to the item's type and writes them. */
static gl_status cv_emit(gl_gguf_writer *w, const elm_cv_item *it, const float *x, int64_t nrows, cv_bufs *bf,
                         uint64_t *bytes_out, gl_error *err) {
    const gl_type_traits *tt = gl_type_get(it->type);
    size_t row = gl_row_size(it->type, it->ne[0]);
    size_t need = row * (size_t)nrows;
    if (!cv_grow((void **)&bf->q, &bf->q_n, need)) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    for (int64_t r = 0; r < nrows; r++) tt->from_float_ref(x + r * it->ne[0], bf->q + (size_t)r * row, it->ne[0]);
    gl_status s = gl_gguf_w_tensor_data(w, bf->q, need);
    if (s != GL_OK) return gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    *bytes_out += need;
    return GL_OK;
}

static gl_status cv_stream_copy(gl_gguf_writer *w, const elm_cv_item *it, cv_bufs *bf, uint64_t *bytes_out,
                                gl_error *err) {
    const int64_t ne0 = it->ne[0], ne1 = it->ne[1];
    const int64_t step = CV_CHUNK_ELEMS / ne0 > 0 ? CV_CHUNK_ELEMS / ne0 : 1;
    gl_status s;
    for (int64_t r0 = 0; r0 < ne1; r0 += step) {
        int64_t nr = ne1 - r0 < step ? ne1 - r0 : step;
        if (!cv_grow((void **)&bf->a, &bf->a_n, (size_t)(nr * ne0) * sizeof(float)))
            return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        if ((s = elm_st_read_f32(it->src, (it->row_offset + r0) * ne0, nr * ne0, bf->a, err)) != GL_OK) return s;
        if (it->add != 0.0f)
            for (int64_t e = 0; e < nr * ne0; e++) bf->a[e] += it->add;
        if ((s = cv_emit(w, it, bf->a, nr, bf, bytes_out, err)) != GL_OK) return s;
    }
    return GL_OK;
}

static gl_status cv_stream_item(const elm_cv_plan *pl, gl_gguf_writer *w, const elm_cv_item *it, cv_bufs *bf,
                                uint64_t *bytes_out) {
    gl_error *err = pl->err;
    const int64_t ne0 = it->ne[0], ne1 = it->ne[1], nel = ne0 * ne1;
    if (it->xf == ELM_CV_COPY) return cv_stream_copy(w, it, bf, bytes_out, err);
    if (!cv_grow((void **)&bf->a, &bf->a_n, (size_t)nel * sizeof(float)) ||
        (it->xf != ELM_CV_FILL && !cv_grow((void **)&bf->b, &bf->b_n, (size_t)nel * sizeof(float))))
        return gl_error_set(err, GL_ERR_NOMEM, "out of memory for %s", it->name);
    gl_status s;
    if (it->xf == ELM_CV_FILL) {
        if (!pl->fill) return gl_error_set(err, GL_ERR_INVALID, "%s: the plan has no fill function", it->name);
        if ((s = pl->fill(pl->fill_user, it, bf->a, err)) != GL_OK) return s;
        return cv_emit(w, it, bf->a, ne1, bf, bytes_out, err);
    }
    if ((s = elm_st_read_f32(it->src, 0, nel, bf->a, err)) != GL_OK) return s;
    if (it->xf == ELM_CV_PERMUTE && it->n_dims == 1) cv_permute(bf->a, bf->b, ne0, 1, it->perm_heads); /* bias */
    else if (it->xf == ELM_CV_PERMUTE) cv_permute(bf->a, bf->b, ne1, ne0, it->perm_heads);
    else cv_transpose(bf->a, bf->b, ne0, ne1);
    return cv_emit(w, it, bf->b, ne1, bf, bytes_out, err);
}

/* llama.cpp's general.file_type: the requested type's, or (keeping the source precision) the
 * type of the first matrix whose type the family's rule did not fix. */
static uint32_t cv_file_type(const elm_cv_plan *pl) {
    int t = pl->p->outtype;
    if (t < 0) {
        t = GL_TYPE_F32;
        for (int i = 0; i < pl->n_items; i++)
            if (pl->items[i].n_dims == 2 && !pl->items[i].f32_rule) {
                t = pl->items[i].type;
                break;
            }
    }
    return elm_cv_file_type(t);
}

gl_gguf_writer *elm_cv_plan_open(const elm_cv_plan *pl, const char *arch, const char *name) {
    gl_error *err = pl->err;
    gl_gguf_writer *w = gl_gguf_writer_open(pl->p->out, err);
    if (!w) return NULL;
    gl_gguf_writer_on_size(w, pl->p->on_size, pl->p->user);
    bool quantized = false;
    for (int i = 0; i < pl->n_items; i++) quantized = quantized || cv_is_quant(pl->items[i].type);
    gl_status s = gl_gguf_w_kv_str(w, "general.architecture", arch);
    if (s == GL_OK) s = gl_gguf_w_kv_str(w, "general.name", name);
    if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "general.file_type", cv_file_type(pl));
    if (s == GL_OK && quantized) s = gl_gguf_w_kv_u32(w, "general.quantization_version", 2);
    if (s != GL_OK) {
        gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
        gl_gguf_writer_discard(w);
        return NULL;
    }
    return w;
}

gl_status elm_cv_plan_write(elm_cv_plan *pl, gl_gguf_writer *w, const char *arch, elm_convert_stats *stats) {
    gl_error *err = pl->err;
    const elm_convert_params *p = pl->p;
    gl_status s = GL_OK;
    uint64_t total = 0;
    for (int i = 0; i < pl->n_items && s == GL_OK; i++) {
        const elm_cv_item *it = &pl->items[i];
        s = gl_gguf_w_tensor_info(w, it->name, it->type, it->n_dims, it->ne);
        if (s != GL_OK) gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
        total += gl_row_size(it->type, it->ne[0]) * (uint64_t)it->ne[1];
    }
    cv_bufs bf = {0};
    uint64_t done = 0, bytes_in = 0;
    for (int i = 0; i < pl->n_items && s == GL_OK; i++) {
        if (p->progress) p->progress(p->user, i, pl->n_items, done, total);
        s = cv_stream_item(pl, w, &pl->items[i], &bf, &done);
        bytes_in += pl->items[i].src ? pl->items[i].src->nbytes : 0;
    }
    if (s == GL_OK && p->progress) p->progress(p->user, pl->n_items, pl->n_items, done, total);
    ELM_FREE(bf.a);
    ELM_FREE(bf.b);
    ELM_FREE(bf.q);
    gl_error cerr = {0};
    gl_status cs = s == GL_OK ? gl_gguf_writer_close(w, &cerr) : (gl_gguf_writer_discard(w), s);
    if (s == GL_OK && cs != GL_OK) s = gl_error_set(err, cs, "%s", cerr.msg);
    if (s == GL_OK && stats) {
        snprintf(stats->arch, sizeof stats->arch, "%s", arch);
        stats->n_tensors = pl->n_items;
        stats->n_fallback = pl->n_fallback;
        stats->bytes_in = bytes_in;
        stats->bytes_out = done;
    }
    return s;
}

void elm_cv_default_name(const char *src, char *out, size_t size) {
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && src[b - 1] != '/') b--;
    struct stat sb;
    size_t e = n;
    if (stat(src, &sb) == 0 && S_ISREG(sb.st_mode)) /* a file: without its extension */
        for (size_t k = n; k > b + 1; k--)
            if (src[k - 1] == '.') {
                e = k - 1;
                break;
            }
    snprintf(out, size, "%.*s", (int)(e - b), src + b);
}
