/*
 * decoder.c — the compute graphs of the decoder architectures, one decode step each.
 *
 * A step processes n tokens at positions n_past .. n_past+n-1 (a whole prompt at once, or one
 * generated token): their keys and values are appended to the KV cache, and every query
 * attends causally over the cache positions 0 .. n_past+n-1.
 *
 * One graph for every decoder architecture; the row of the architecture table (arch.c) and
 * the hyperparameters switch its pieces on (dec_block):
 *   x = token_embd[ids] (* embd_scale) (+ position_embd[pos], gpt2)
 *   per block:  n1 = norm(x) * attn_norm                 (RMSNorm, or LayerNorm with bias;
 *                                                         none with ELM_F_NO_PRE_NORM)
 *               q, k, v = Wq·n1 + bq, Wk·n1 + bk, Wv·n1 + bv   (or one fused Wqkv)
 *               q/k RMS norms per head or over all heads; rope (NORMAL = adjacent pairs, as
 *               llama.cpp's converter permutes q/k rows for "llama"; NEOX = halves), with
 *               Llama 3.x / LongRoPE frequency divisors, an SWA base on sliding layers, none
 *               on NoPE layers; q * q_scale (gemma)
 *               a  = attn(q, k, v) over the cache (sliding window, tanh soft-capping, softmax
 *                    scale attn_scale or 1/sqrt(head_dim); GQA shares each KV head among
 *                    n_head / n_head_kv query heads) — or LFM2's short convolution
 *                    (shortconv.c) on layers without key/value heads
 *               h  = x + residual_scale * post_norm(Wo·a + bo)
 *               f  = W_down · act(W_gate·n2) * (W_up·n2)   (act SiLU or GELU-tanh; fused
 *                    gate|up for phi3; no gate for gpt2)   with n2 = norm(h) * ffn_norm
 *               x' = h + residual_scale * post_norm(f)
 *   logits = output · norm(x) / logit_scale, soft-capped (gemma2)   (output = token_embd when tied)
 *
 * Hidden states, when asked for, follow Hugging Face's hidden_states: [0] = x after the
 * embeddings, [i] = output of block i-1, and the last one after the final norm.
 */
#include "model.h"

#include <math.h>

/* Everything one step's graph builder needs. */
typedef struct dec_build {
    const elm_model *m;
    const elm_hparams *hp;
    const elm_kv_cache *kv;
    gl_context *ctx;
    gl_graph *g;
    int32_t n_tokens, n_past;
    gl_tensor *pos;
    /* A batch of sequences (n_seq > 0): row s is one token of sequence s at position
     * pasts[s], attending over its own cache kvs[s]; kv is kvs[0]. */
    int32_t n_seq;
    const elm_kv_cache *const *kvs;
    const int32_t *pasts;
} dec_build;

/* w·x (+ b). */
static gl_tensor *dec_linear(dec_build *b, gl_tensor *w, gl_tensor *bias, gl_tensor *x) {
    gl_tensor *y = gl_mul_mat(b->ctx, w, x);
    return bias ? gl_add(b->ctx, y, bias) : y;
}

static bool dec_has(const dec_build *b, uint32_t flag) { return (b->m->arch->flags & flag) != 0; }

/* The architecture's norm of x with weight w (and bias, LayerNorm only). */
static gl_tensor *dec_norm(dec_build *b, gl_tensor *x, gl_tensor *w, gl_tensor *bias) {
    if (dec_has(b, ELM_F_LAYER_NORM)) return gl_layer_norm(b->ctx, x, w, bias, b->hp->norm_eps);
    return gl_mul(b->ctx, gl_rms_norm(b->ctx, x, b->hp->norm_eps), w);
}

bool elm_layer_is_swa(const elm_hparams *hp, int il) {
    if (hp->n_swa <= 0) return false;
    return hp->swa_pattern == 0 || il % hp->swa_pattern < hp->swa_pattern - 1;
}

/* Rope of layer il (none with learned positions or on a NoPE layer); SWA layers have their
 * own base and scale. */
static gl_tensor *dec_rope(dec_build *b, int il, gl_tensor *t) {
    const elm_hparams *hp = b->hp;
    if (dec_has(b, ELM_F_POS_EMBD) || (hp->nope_step > 0 && (il + 1) % hp->nope_step == 0)) return t;
    const bool swa = elm_layer_is_swa(hp, il);
    /* LongRoPE: the long factors when the context is longer than the original one. */
    gl_tensor *ff = b->m->rope_freqs;
    if (b->m->rope_long) ff = b->kv->n_ctx > hp->n_ctx_orig ? b->m->rope_long : b->m->rope_short;
    return gl_rope_ext(b->ctx, t, b->pos, ff, hp->n_rot, hp->rope_mode,
                       swa ? hp->rope_base_swa : hp->rope_freq_base,
                       swa ? hp->rope_scale_swa : hp->rope_freq_scale,
                       hp->rope_attn_factor > 0 ? hp->rope_attn_factor : 1.0f);
}

/* Appends k and v ([head_dim, n_head_kv, n]) to the cache kv, then attends q ([head_dim, n_head, n])
 * over its positions 0 .. n_past+n-1 (the last n_swa of them on a sliding-window layer).
 * Returns [head_dim * n_head, n]. */
static gl_tensor *dec_attend(dec_build *b, int il, const elm_kv_cache *kv, int32_t n_past,
                             gl_tensor *q, gl_tensor *k, gl_tensor *v) {
    gl_context *ctx = b->ctx;
    const elm_hparams *hp = b->hp;
    /* The stores go into the graph before the attention node that reads the cache. */
    gl_tensor *k_st = elm_kv_store(ctx, kv, il, false, k, n_past);
    gl_tensor *v_st = elm_kv_store(ctx, kv, il, true, v, n_past);
    if (!k_st || !v_st) return NULL;
    gl_graph_expand(b->g, k_st);
    gl_graph_expand(b->g, v_st);
    const int32_t n_kv = n_past + (int32_t)q->ne[2];
    gl_tensor *kc = elm_kv_view(ctx, kv, il, false, n_kv);
    gl_tensor *vc = elm_kv_view(ctx, kv, il, true, n_kv);
    gl_tensor *qp = gl_permute(ctx, q, 0, 2, 1, 3); /* [head_dim, n, n_head] */
    const float scale = hp->attn_scale > 0 ? hp->attn_scale : 1.0f / sqrtf((float)hp->head_dim);
    const int32_t window = elm_layer_is_swa(hp, il) ? hp->n_swa : 0;
    gl_tensor *o = gl_attn_ext(ctx, qp, kc, vc, NULL, scale, true, window, hp->attn_softcap);
    if (!o) return NULL; /* [head_dim, n_head, n] */
    return gl_reshape_2d(ctx, o, o->ne[0] * o->ne[1], o->ne[2]);
}

/* Token s of t ([ne0, ne1, n] when heads, else [ne0, n]) as a view of that one token. */
static gl_tensor *dec_row(dec_build *b, gl_tensor *t, int32_t s, bool heads) {
    if (!t) return NULL;
    if (!heads) return gl_view_2d(b->ctx, t, t->ne[0], 1, t->nb[1], (size_t)s * t->nb[1]);
    return gl_view_3d(b->ctx, t, t->ne[0], t->ne[1], 1, t->nb[1], t->nb[2], (size_t)s * t->nb[2]);
}

/* Appends the rows of a batch's per-sequence results: acc (or NULL) then r, along tokens. */
static gl_tensor *dec_rows_cat(dec_build *b, gl_tensor *acc, gl_tensor *r) {
    if (!r) return NULL;
    return acc ? gl_concat(b->ctx, acc, r, 1) : r;
}

/* Attention of one step: over the cache of its sequence, or of a batch, each token over its
 * own sequence's cache. */
static gl_tensor *dec_attention(dec_build *b, int il, gl_tensor *q, gl_tensor *k, gl_tensor *v) {
    if (b->n_seq == 0) return dec_attend(b, il, b->kv, b->n_past, q, k, v);
    gl_tensor *out = NULL;
    for (int32_t s = 0; s < b->n_seq; s++) {
        gl_tensor *o = dec_attend(b, il, b->kvs[s], b->pasts[s], dec_row(b, q, s, true),
                                  dec_row(b, k, s, true), dec_row(b, v, s, true));
        if (!(out = dec_rows_cat(b, out, o))) return NULL;
    }
    return out;
}

/* LFM2's short convolution, per sequence in a batch (its state is the sequence's). */
static gl_tensor *dec_shortconv(dec_build *b, int il, gl_tensor *cur) {
    if (b->n_seq == 0) return elm_shortconv_block(b->ctx, b->g, b->m, b->kv, il, cur, b->n_past);
    gl_tensor *out = NULL;
    for (int32_t s = 0; s < b->n_seq; s++) {
        gl_tensor *o = elm_shortconv_block(b->ctx, b->g, b->m, b->kvs[s], il, dec_row(b, cur, s, false),
                                            b->pasts[s]);
        if (!(out = dec_rows_cat(b, out, o))) return NULL;
    }
    return out;
}

/* q, k, v of one block as [head_dim, heads, n]: separate or fused projections, q/k norms. */
static void dec_qkv(dec_build *b, const elm_layer *l, gl_tensor *cur, gl_tensor **q,
                    gl_tensor **k, gl_tensor **v) {
    gl_context *ctx = b->ctx;
    const elm_hparams *hp = b->hp;
    const int64_t n = b->n_tokens, hd = hp->head_dim;
    if (l->wqkv) { /* [nq + 2 nkv, n]: q | k | v per token */
        gl_tensor *qkv = dec_linear(b, l->wqkv, l->bqkv, cur);
        if (!qkv) {
            *q = *k = *v = NULL;
            return;
        }
        const size_t el = qkv->nb[0], row = qkv->nb[1], hb = (size_t)hd * el;
        const size_t nq = (size_t)hd * (size_t)hp->n_head, nkv = (size_t)hd * (size_t)hp->n_head_kv;
        *q = gl_view_3d(ctx, qkv, hd, hp->n_head, n, hb, row, 0);
        *k = gl_view_3d(ctx, qkv, hd, hp->n_head_kv, n, hb, row, nq * el);
        *v = gl_view_3d(ctx, qkv, hd, hp->n_head_kv, n, hb, row, (nq + nkv) * el);
        return;
    }
    gl_tensor *q2 = dec_linear(b, l->wq, l->bq, cur);
    gl_tensor *k2 = dec_linear(b, l->wk, l->bk, cur);
    gl_tensor *v2 = dec_linear(b, l->wv, l->bv, cur);
    if (dec_has(b, ELM_F_QK_NORM_FULL)) {
        q2 = dec_norm(b, q2, l->q_norm, NULL);
        k2 = dec_norm(b, k2, l->k_norm, NULL);
    }
    *q = gl_reshape_3d(ctx, q2, hd, hp->n_head, n);
    *k = gl_reshape_3d(ctx, k2, hd, hp->n_head_kv, n);
    *v = gl_reshape_3d(ctx, v2, hd, hp->n_head_kv, n);
    if (dec_has(b, ELM_F_QK_NORM_HEAD)) {
        *q = dec_norm(b, *q, l->q_norm, NULL);
        *k = dec_norm(b, *k, l->k_norm, NULL);
    }
}

/* The FFN: act(W_gate·x) * (W_up·x), or act(W_up·x) without a gate; then W_down. */
static gl_tensor *dec_ffn(dec_build *b, const elm_layer *l, gl_tensor *cur) {
    gl_context *ctx = b->ctx;
    const bool gelu = dec_has(b, ELM_F_GELU);
    gl_tensor *up = dec_linear(b, l->ffn_up, l->ffn_up_b, cur);
    if (dec_has(b, ELM_F_FUSED_GATE_UP) && up) { /* [2 n_ff, n]: gate | up per token */
        const int64_t F = b->hp->n_ff;
        gl_tensor *g = gl_cont(ctx, gl_view_2d(ctx, up, F, up->ne[1], up->nb[1], 0));
        gl_tensor *u = gl_cont(ctx, gl_view_2d(ctx, up, F, up->ne[1], up->nb[1], (size_t)F * up->nb[0]));
        up = gl_mul(ctx, gelu ? gl_gelu_tanh(ctx, g) : gl_silu(ctx, g), u);
    } else if (l->ffn_gate) {
        gl_tensor *g = dec_linear(b, l->ffn_gate, l->ffn_gate_b, cur);
        up = gl_mul(ctx, gelu ? gl_gelu_tanh(ctx, g) : gl_silu(ctx, g), up);
    } else {
        up = gelu ? gl_gelu_tanh(ctx, up) : gl_silu(ctx, up);
    }
    return dec_linear(b, l->ffn_down, l->ffn_down_b, up);
}

/* A sub-block's output before the residual add: post-norm and residual scale when the
 * architecture has them. */
static gl_tensor *dec_residual(dec_build *b, gl_tensor *x, gl_tensor *out, gl_tensor *post_norm) {
    if (post_norm) out = dec_norm(b, out, post_norm, NULL);
    if (b->hp->residual_scale > 0) out = gl_scale(b->ctx, out, b->hp->residual_scale);
    return gl_add(b->ctx, x, out);
}

/* One block of the decoder graph; the architecture's switches (arch.h) pick its pieces. */
static gl_tensor *dec_block(dec_build *b, int il, gl_tensor *x) {
    const elm_layer *l = &b->m->layers[il];
    gl_tensor *cur = l->attn_norm ? dec_norm(b, x, l->attn_norm, l->attn_norm_b) : x;
    if (l->conv_in) { /* LFM2: a short-convolution block instead of attention */
        cur = dec_shortconv(b, il, cur);
    } else {
        gl_tensor *q, *k, *v;
        dec_qkv(b, l, cur, &q, &k, &v);
        q = dec_rope(b, il, q);
        k = dec_rope(b, il, k);
        if (b->hp->q_scale > 0) q = gl_scale(b->ctx, q, b->hp->q_scale);
        cur = dec_attention(b, il, q, k, v);
        cur = dec_linear(b, l->wo, l->bo, cur);
    }
    gl_tensor *h = dec_residual(b, x, cur, l->attn_post_norm);

    cur = l->ffn_norm ? dec_norm(b, h, l->ffn_norm, l->ffn_norm_b) : h;
    cur = dec_ffn(b, l, cur);
    return dec_residual(b, h, cur, l->ffn_post_norm);
}

/* logits = output · x, then granite's logit scale and gemma's final soft-capping. */
static gl_tensor *dec_logits(dec_build *b, gl_tensor *x) {
    gl_context *ctx = b->ctx;
    const elm_hparams *hp = b->hp;
    gl_tensor *y = gl_mul_mat(ctx, b->m->output, x);
    if (hp->logit_scale > 0) y = gl_scale(ctx, y, 1.0f / hp->logit_scale);
    if (hp->final_softcap > 0)
        y = gl_scale(ctx, gl_tanh(ctx, gl_scale(ctx, y, 1.0f / hp->final_softcap)), hp->final_softcap);
    return y;
}

int32_t elm_decoder_max_nodes(const elm_model *m) {
    /* The architecture's nodes per block (views and copies included), inputs and the head. */
    return m->arch->nodes_per_layer * m->hp.n_layer + 64;
}

/* Inputs, blocks and head of the graph b describes (n_tokens rows). */
static gl_status dec_forward(dec_build *b, const elm_graph_req *req, elm_graph_out *out,
                             gl_error *err) {
    const elm_model *m = b->m;
    const elm_hparams *hp = b->hp;
    gl_context *ctx = b->ctx;
    gl_graph *g = b->g;
    const int32_t n = b->n_tokens;
    out->ids = gl_set_name(gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, (int64_t[]){n}, NULL), "ids");
    out->pos = gl_set_name(gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, (int64_t[]){n}, NULL), "pos");
    gl_set_input(out->ids);
    gl_set_input(out->pos);
    b->pos = out->pos;

    gl_tensor *x = gl_get_rows(ctx, m->tok_embd, out->ids);
    if (hp->embd_scale > 0) x = gl_scale(ctx, x, hp->embd_scale);
    if (m->pos_embd) x = gl_add(ctx, x, gl_get_rows(ctx, m->pos_embd, out->pos));
    if (req->hidden && out->hidden) out->hidden[0] = x;
    for (int il = 0; il < hp->n_layer; il++) {
        x = dec_block(b, il, x);
        if (req->hidden && out->hidden && il + 1 < hp->n_layer) out->hidden[il + 1] = x;
    }
    /* Only the rows whose logits are wanted go through the head. */
    if (!req->all_logits && !req->hidden && n > 1 && x)
        x = gl_view_2d(ctx, x, x->ne[0], 1, x->nb[1], (size_t)(n - 1) * x->nb[1]);
    x = dec_norm(b, x, m->out_norm, m->out_norm_b);
    if (req->hidden && out->hidden) out->hidden[hp->n_layer] = x;
    out->logits = dec_logits(b, x);
    if (!gl_ctx_ok(ctx) || !out->logits)
        return gl_error_set(err, GL_ERR_INVALID, "building the %s graph: %s", m->arch->name,
                            gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "an op got no input");
    gl_set_output(out->logits);
    if (req->hidden && out->hidden)
        for (int i = 0; i <= hp->n_layer; i++) gl_set_output(out->hidden[i]);
    gl_status st = gl_graph_expand(g, out->logits);
    if (st == GL_OK && req->hidden && out->hidden)
        for (int i = 0; i <= hp->n_layer && st == GL_OK; i++) st = gl_graph_expand(g, out->hidden[i]);
    if (st != GL_OK || !gl_ctx_ok(ctx))
        return gl_error_set(err, st != GL_OK ? st : GL_ERR_INVALID, "graph of the %s step: %s",
                            m->arch->name, gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "too many nodes");
    return GL_OK;
}

/* Whether n tokens after n_past fit the cache (and gpt2's position table); err says why not. */
static gl_status dec_check_range(const elm_model *m, const elm_kv_cache *kv, int32_t n,
                                 int32_t n_past, gl_error *err) {
    if (n < 1 || n_past < 0 || n_past > kv->n_ctx - n)
        return gl_error_set(err, GL_ERR_INVALID, "%d tokens after %d do not fit a context of %d",
                            n, n_past, kv->n_ctx);
    if (m->pos_embd && n_past + n > m->hp.n_ctx_train)
        return gl_error_set(err, GL_ERR_INVALID, "gpt2 has position embeddings for %d positions "
                            "only", m->hp.n_ctx_train);
    return GL_OK;
}

gl_status elm_decoder_build(const elm_model *m, const elm_kv_cache *kv, gl_context *ctx,
                            gl_graph *g, const elm_graph_req *req, elm_graph_out *out,
                            gl_error *err) {
    gl_status st = dec_check_range(m, kv, req->n_tokens, req->n_past, err);
    if (st != GL_OK) return st;
    dec_build b = {.m = m, .hp = &m->hp, .kv = kv, .ctx = ctx, .g = g, .n_tokens = req->n_tokens,
                   .n_past = req->n_past};
    return dec_forward(&b, req, out, err);
}

int32_t elm_decoder_max_nodes_batch(const elm_model *m, int32_t n_seq) {
    /* Per sequence and layer: the row views, stores, cache views, attention and the concat. */
    return elm_decoder_max_nodes(m) + n_seq * m->hp.n_layer * (16 + 8 * m->hp.n_conv);
}

gl_status elm_decoder_build_batch(const elm_model *m, const elm_kv_cache *const *kvs,
                                  const int32_t *pasts, int32_t n_seq, gl_context *ctx,
                                  gl_graph *g, elm_graph_out *out, gl_error *err) {
    if (n_seq < 1) return gl_error_set(err, GL_ERR_INVALID, "a batch of %d sequences", n_seq);
    for (int32_t s = 0; s < n_seq; s++) {
        gl_status st = dec_check_range(m, kvs[s], 1, pasts[s], err);
        if (st != GL_OK) return st;
        /* LongRoPE picks its factors by the context size: one choice for the whole batch. */
        if (m->rope_long && kvs[s]->n_ctx != kvs[0]->n_ctx)
            return gl_error_set(err, GL_ERR_INVALID, "a batch of contexts of different sizes "
                                "(%d, %d) with LongRoPE", kvs[0]->n_ctx, kvs[s]->n_ctx);
    }
    dec_build b = {.m = m, .hp = &m->hp, .kv = kvs[0], .ctx = ctx, .g = g, .n_tokens = n_seq,
                   .n_past = 0, .n_seq = n_seq, .kvs = kvs, .pasts = pasts};
    const elm_graph_req req = {.n_tokens = n_seq, .all_logits = true};
    return dec_forward(&b, &req, out, err);
}
