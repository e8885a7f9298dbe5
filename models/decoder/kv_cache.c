/*
 * kv_cache.c — the key/value cache of a decoder context.
 *
 * Per layer one K and one V tensor of head_dim * n_head_kv * n_ctx elements (F32 or F16),
 * laid out head by head: [head_dim, n_ctx, n_head_kv]. Attention reads, for each KV head,
 * the keys (then the values) of positions 0..n_kv one after the other, so with this layout
 * each head's reads are one contiguous run that the hardware prefetchers stream; with a row
 * per position holding every head (llama.cpp's layout) they are head_dim-element pieces at a
 * stride of a whole row, which a generation step (whose weights have just evicted the cache
 * from every cache level) pays for in memory latency — a sixth of a Q4_0 step at 64
 * positions. Appending n tokens writes n_head_kv runs of n * head_dim elements; the writes
 * are gl_cpy nodes into a strided view (converting to F16 when the cache is F16).
 */
#include "alloc.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

/* Bytes of one layer's K or V tensor of type (data padded + header); 0 on overflow. */
static size_t kv_tensor_bytes(const elm_hparams *hp, int32_t n_ctx, gl_type type) {
    const size_t row = gl_row_size(type, (int64_t)hp->head_dim * hp->n_head_kv);
    if (!row || n_ctx < 1 || row > (SIZE_MAX - 2 * ELM_ALIGN) / (size_t)n_ctx) return 0;
    return ELM_PAD(row * (size_t)n_ctx, ELM_ALIGN) + gl_tensor_overhead();
}

/* Bytes of one layer's short-convolution state (LFM2: F32 rows of n_embd for n_conv - 1 zero
 * positions before 0, then n_ctx positions), data only; 0 when the model has none or on
 * overflow (kv_conv_tensor_bytes tells them apart). */
static size_t kv_conv_row_bytes(const elm_hparams *hp, int32_t n_ctx) {
    if (hp->n_conv <= 1 || n_ctx < 1 || hp->n_embd < 1) return 0;
    const size_t rows = (size_t)n_ctx + (size_t)hp->n_conv;
    const size_t row = (size_t)hp->n_embd * sizeof(float);
    if (row > (SIZE_MAX - 2 * ELM_ALIGN) / rows) return 0;
    return row * rows;
}

/* The same padded with the tensor header: 0 when none, SIZE_MAX on overflow. */
static size_t kv_conv_tensor_bytes(const elm_hparams *hp, int32_t n_ctx) {
    if (hp->n_conv <= 1) return 0;
    const size_t data = kv_conv_row_bytes(hp, n_ctx);
    if (!data) return SIZE_MAX;
    return ELM_PAD(data, ELM_ALIGN) + gl_tensor_overhead();
}

size_t elm_kv_bytes(const elm_hparams *hp, int32_t n_ctx, gl_type type_k, gl_type type_v) {
    const size_t k = kv_tensor_bytes(hp, n_ctx, type_k), v = kv_tensor_bytes(hp, n_ctx, type_v);
    const size_t conv = kv_conv_tensor_bytes(hp, n_ctx);
    if (!k || !v || conv == SIZE_MAX || k > SIZE_MAX / 4 || v > SIZE_MAX / 4 || conv > SIZE_MAX / 4)
        return 0;
    if (hp->n_layer < 1 || k + v + conv > (SIZE_MAX - ELM_ALIGN) / (size_t)hp->n_layer) return 0;
    return (k + v + conv) * (size_t)hp->n_layer + ELM_ALIGN;
}

static bool kv_type_ok(gl_type t) { return t == GL_TYPE_F32 || t == GL_TYPE_F16; }

gl_status elm_kv_init(elm_kv_cache *kv, const elm_hparams *hp, int32_t n_ctx, gl_type type_k,
                      gl_type type_v, gl_error *err) {
    memset(kv, 0, sizeof *kv);
    if (!kv_type_ok(type_k) || !kv_type_ok(type_v))
        return gl_error_set(err, GL_ERR_INVALID, "KV cache type must be f32 or f16");
    if (n_ctx < 1) return gl_error_set(err, GL_ERR_INVALID, "context size %d < 1", n_ctx);
    kv->type_k = type_k;
    kv->type_v = type_v;
    kv->n_ctx = n_ctx;
    kv->n_layer = hp->n_layer;
    kv->head_dim = hp->head_dim;
    kv->n_head_kv = hp->n_head_kv;
    kv->row = hp->head_dim * hp->n_head_kv;
    const size_t total = elm_kv_bytes(hp, n_ctx, type_k, type_v);
    const size_t conv_bytes = kv_conv_row_bytes(hp, n_ctx);
    char what[96];
    snprintf(what, sizeof what, "the KV cache for a context of %d tokens", n_ctx);
    if (!total) { /* past size_t (a 32-bit build): say how much it would be */
        const double need = (double)hp->n_layer * (double)n_ctx * (double)kv->row *
                            (double)(gl_type_get(type_k)->type_size + gl_type_get(type_v)->type_size) +
                            (hp->n_conv > 1 ? (double)hp->n_layer * ((double)n_ctx + hp->n_conv) * hp->n_embd * 4.0 : 0.0);
        return gl_error_set(err, GL_ERR_NOMEM, "%s needs %.2f GiB, more than this process can address "
                            "(%u-bit build)", what, need / (1 << 30), (unsigned)(sizeof(void *) * 8));
    }
    if (elm_check_fits_memory(total, what, err) != GL_OK) return GL_ERR_NOMEM;
    kv->k = ELM_CALLOC((size_t)hp->n_layer, sizeof *kv->k);
    kv->v = ELM_CALLOC((size_t)hp->n_layer, sizeof *kv->v);
    if (conv_bytes) {
        kv->conv = ELM_CALLOC((size_t)hp->n_layer, sizeof *kv->conv);
        kv->conv_pad = hp->n_conv - 1;
        kv->n_embd = hp->n_embd;
    }
    if (!kv->k || !kv->v || (conv_bytes && !kv->conv)) {
        elm_kv_free(kv);
        return gl_error_set(err, GL_ERR_NOMEM, "out of memory for the KV cache");
    }
    kv->ctx = gl_context_new((gl_context_params){.mem_size = total}, err);
    if (!kv->ctx) {
        elm_kv_free(kv);
        return gl_error_set(err, GL_ERR_NOMEM, "cannot allocate the KV cache (%zu MiB)",
                            total >> 20);
    }
    for (int il = 0; il < hp->n_layer; il++) {
        kv->k[il] = gl_set_name(gl_new_tensor_2d(kv->ctx, type_k, kv->row, n_ctx), "cache_k.%d", il);
        kv->v[il] = gl_set_name(gl_new_tensor_2d(kv->ctx, type_v, kv->row, n_ctx), "cache_v.%d", il);
        if (!kv->k[il] || !kv->v[il]) {
            gl_error_set(err, GL_ERR_NOMEM, "KV cache: %s", gl_ctx_error(kv->ctx));
            elm_kv_free(kv);
            return GL_ERR_NOMEM;
        }
        /* Positions not yet written are never read, but keep them defined for tools. */
        memset(kv->k[il]->data, 0, gl_nbytes(kv->k[il]));
        memset(kv->v[il]->data, 0, gl_nbytes(kv->v[il]));
        if (kv->conv) {
            kv->conv[il] = gl_set_name(gl_new_tensor_2d(kv->ctx, GL_TYPE_F32, kv->n_embd,
                                                        (int64_t)n_ctx + kv->conv_pad), "cache_conv.%d", il);
            if (!kv->conv[il]) {
                gl_error_set(err, GL_ERR_NOMEM, "KV cache: %s", gl_ctx_error(kv->ctx));
                elm_kv_free(kv);
                return GL_ERR_NOMEM;
            }
            memset(kv->conv[il]->data, 0, gl_nbytes(kv->conv[il])); /* rows before position 0 stay 0 */
        }
    }
    return GL_OK;
}

void elm_kv_free(elm_kv_cache *kv) {
    if (!kv) return;
    gl_context_free(kv->ctx);
    ELM_FREE(kv->k);
    ELM_FREE(kv->v);
    ELM_FREE(kv->conv);
    memset(kv, 0, sizeof *kv);
}

gl_tensor *elm_kv_store(gl_context *ctx, const elm_kv_cache *kv, int il, bool is_v,
                        gl_tensor *cur, int32_t n_past) {
    if (!cur) return NULL;
    gl_tensor *cache = is_v ? kv->v[il] : kv->k[il];
    const int64_t n = cur->ne[2];
    if (n_past < 0 || n_past + n > kv->n_ctx || cur->ne[0] != kv->head_dim || cur->ne[1] != kv->n_head_kv)
        return NULL; /* elm_decoder_build checked the range; never reached */
    const size_t pos = (size_t)kv->head_dim * cache->nb[0]; /* bytes of one position of a head */
    gl_tensor *dst = gl_view_3d(ctx, cache, kv->head_dim, kv->n_head_kv, n, pos * (size_t)kv->n_ctx,
                                pos, (size_t)n_past * pos);
    return gl_cpy(ctx, cur, dst);
}

gl_tensor *elm_kv_view(gl_context *ctx, const elm_kv_cache *kv, int il, bool is_v, int32_t n_kv) {
    gl_tensor *cache = is_v ? kv->v[il] : kv->k[il];
    if (n_kv < 1 || n_kv > kv->n_ctx)
        return NULL; /* checked by elm_decoder_build */
    const size_t pos = (size_t)kv->head_dim * cache->nb[0];
    return gl_view_3d(ctx, cache, kv->head_dim, n_kv, kv->n_head_kv, pos, pos * (size_t)kv->n_ctx, 0);
}

gl_tensor *elm_kv_conv_window(gl_context *ctx, const elm_kv_cache *kv, int il, int32_t n_past, int32_t n) {
    if (!kv->conv || n_past < 0 || n < 1 || n_past + n > kv->n_ctx) return NULL;
    gl_tensor *c = kv->conv[il];
    return gl_view_2d(ctx, c, kv->n_embd, kv->conv_pad + n, c->nb[1], (size_t)n_past * c->nb[1]);
}

gl_tensor *elm_kv_conv_store(gl_context *ctx, const elm_kv_cache *kv, int il, gl_tensor *cur, int32_t n_past) {
    if (!cur || !kv->conv || n_past < 0 || n_past + cur->ne[1] > kv->n_ctx || cur->ne[0] != kv->n_embd) return NULL;
    gl_tensor *c = kv->conv[il];
    gl_tensor *dst = gl_view_2d(ctx, c, kv->n_embd, cur->ne[1], c->nb[1],
                                ((size_t)kv->conv_pad + (size_t)n_past) * c->nb[1]);
    return gl_cpy(ctx, cur, dst);
}

void elm_kv_copy(const elm_kv_cache *dst, const elm_kv_cache *src, int32_t n_past) {
    if (n_past <= 0) return;
    for (int il = 0; il < src->n_layer; il++) {
        for (int kv = 0; kv < 2; kv++) {
            const gl_tensor *s = kv ? src->v[il] : src->k[il];
            gl_tensor *d = kv ? dst->v[il] : dst->k[il];
            const size_t pos = (size_t)src->head_dim * s->nb[0];
            const size_t head = pos * (size_t)src->n_ctx; /* one head's run of positions */
            for (int h = 0; h < src->n_head_kv; h++)
                memcpy((char *)d->data + head * (size_t)h, (const char *)s->data + head * (size_t)h,
                       pos * (size_t)n_past);
        }
        if (src->conv && dst->conv) /* the zero rows before position 0, then positions 0..n_past */
            memcpy(dst->conv[il]->data, src->conv[il]->data,
                   src->conv[il]->nb[1] * ((size_t)src->conv_pad + (size_t)n_past));
    }
}
