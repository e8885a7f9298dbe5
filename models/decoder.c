/*
 * decoder.c — the compute graphs of the decoder architectures, one decode step each.
 *
 * A step processes n tokens at positions n_past .. n_past+n-1 (a whole prompt at once, or one
 * generated token): their keys and values are appended to the KV cache, and every query
 * attends causally over the cache positions 0 .. n_past+n-1.
 *
 * llama (and qwen2):
 *   x = token_embd[ids]
 *   per block:  h   = x + Wo · attn(rope(Wq·n1 + bq), rope(Wk·n1 + bk), Wv·n1 + bv)
 *                     with n1 = rms_norm(x) * attn_norm
 *               x'  = h + W_down · (silu(W_gate·n2) * (W_up·n2))   with n2 = rms_norm(h) * ffn_norm
 *   logits = output · (rms_norm(x) * output_norm)       (output = token_embd when tied)
 *   Rope rotates the first n_rot dims of each head: adjacent pairs for "llama" (llama.cpp's
 *   converter permuted q/k rows so), first/second halves for "qwen2". Scale 1/sqrt(head_dim);
 *   grouped-query attention shares each KV head among n_head / n_head_kv query heads.
 * gpt2:
 *   x = token_embd[ids] + position_embd[pos]
 *   per block:  h  = x + Wo · attn(split(Wqkv · LN1(x) + bqkv)) + bo
 *               x' = h + W_down · gelu_tanh(W_up · LN2(h) + b_up) + b_down
 *   logits = output · LN_f(x)
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
} dec_build;

/* w·x (+ b). */
static gl_tensor *dec_linear(dec_build *b, gl_tensor *w, gl_tensor *bias, gl_tensor *x) {
    gl_tensor *y = gl_mul_mat(b->ctx, w, x);
    return bias ? gl_add(b->ctx, y, bias) : y;
}

static gl_tensor *dec_rms_norm(dec_build *b, gl_tensor *x, gl_tensor *w) {
    return gl_mul(b->ctx, gl_rms_norm(b->ctx, x, b->hp->norm_eps), w);
}

/* Appends k and v ([head_dim, n_head_kv, n]) to the cache, then attends q ([head_dim, n_head, n])
 * over cache positions 0 .. n_past+n-1. Returns [head_dim * n_head, n]. */
static gl_tensor *dec_attention(dec_build *b, int il, gl_tensor *q, gl_tensor *k, gl_tensor *v) {
    gl_context *ctx = b->ctx;
    /* The stores go into the graph before the attention node that reads the cache. */
    gl_tensor *k_st = elm_kv_store(ctx, b->kv, il, false, k, b->n_past);
    gl_tensor *v_st = elm_kv_store(ctx, b->kv, il, true, v, b->n_past);
    if (!k_st || !v_st) return NULL;
    gl_graph_expand(b->g, k_st);
    gl_graph_expand(b->g, v_st);
    const int32_t n_kv = b->n_past + b->n_tokens;
    gl_tensor *kc = elm_kv_view(ctx, b->kv, il, false, n_kv);
    gl_tensor *vc = elm_kv_view(ctx, b->kv, il, true, n_kv);
    gl_tensor *qp = gl_permute(ctx, q, 0, 2, 1, 3); /* [head_dim, n, n_head] */
    const float scale = 1.0f / sqrtf((float)b->hp->head_dim);
    gl_tensor *o = gl_attn(ctx, qp, kc, vc, NULL, scale, true); /* [head_dim, n_head, n] */
    if (!o) return NULL;
    return gl_reshape_2d(ctx, o, o->ne[0] * o->ne[1], o->ne[2]);
}

static gl_tensor *dec_llama_block(dec_build *b, int il, gl_tensor *x) {
    gl_context *ctx = b->ctx;
    const elm_hparams *hp = b->hp;
    const elm_layer *l = &b->m->layers[il];
    const int64_t n = b->n_tokens;

    gl_tensor *cur = dec_rms_norm(b, x, l->attn_norm);
    gl_tensor *q = dec_linear(b, l->wq, l->bq, cur);
    gl_tensor *k = dec_linear(b, l->wk, l->bk, cur);
    gl_tensor *v = dec_linear(b, l->wv, l->bv, cur);
    q = gl_reshape_3d(ctx, q, hp->head_dim, hp->n_head, n);
    k = gl_reshape_3d(ctx, k, hp->head_dim, hp->n_head_kv, n);
    v = gl_reshape_3d(ctx, v, hp->head_dim, hp->n_head_kv, n);
    q = gl_rope(ctx, q, b->pos, hp->n_rot, hp->rope_mode, hp->rope_freq_base, hp->rope_freq_scale);
    k = gl_rope(ctx, k, b->pos, hp->n_rot, hp->rope_mode, hp->rope_freq_base, hp->rope_freq_scale);
    cur = dec_attention(b, il, q, k, v);
    cur = dec_linear(b, l->wo, l->bo, cur);
    gl_tensor *h = gl_add(ctx, x, cur);

    cur = dec_rms_norm(b, h, l->ffn_norm);
    gl_tensor *gate = gl_silu(ctx, dec_linear(b, l->ffn_gate, l->ffn_gate_b, cur));
    gl_tensor *up = dec_linear(b, l->ffn_up, l->ffn_up_b, cur);
    cur = dec_linear(b, l->ffn_down, l->ffn_down_b, gl_mul(ctx, gate, up));
    return gl_add(ctx, h, cur);
}

static gl_tensor *dec_gpt2_block(dec_build *b, int il, gl_tensor *x) {
    gl_context *ctx = b->ctx;
    const elm_hparams *hp = b->hp;
    const elm_layer *l = &b->m->layers[il];
    const int64_t n = b->n_tokens, E = hp->n_embd;

    gl_tensor *cur = gl_layer_norm(ctx, x, l->attn_norm, l->attn_norm_b, hp->norm_eps);
    gl_tensor *qkv = dec_linear(b, l->wqkv, l->bqkv, cur); /* [3E, n]: q | k | v per token */
    if (!qkv) return NULL;
    const size_t el = qkv->nb[0], row = qkv->nb[1], hd = (size_t)hp->head_dim * el;
    gl_tensor *q = gl_view_3d(ctx, qkv, hp->head_dim, hp->n_head, n, hd, row, 0);
    gl_tensor *k = gl_view_3d(ctx, qkv, hp->head_dim, hp->n_head, n, hd, row, (size_t)E * el);
    gl_tensor *v = gl_view_3d(ctx, qkv, hp->head_dim, hp->n_head, n, hd, row, 2 * (size_t)E * el);
    cur = dec_attention(b, il, q, k, v);
    cur = dec_linear(b, l->wo, l->bo, cur);
    gl_tensor *h = gl_add(ctx, x, cur);

    cur = gl_layer_norm(ctx, h, l->ffn_norm, l->ffn_norm_b, hp->norm_eps);
    cur = gl_gelu_tanh(ctx, dec_linear(b, l->ffn_up, l->ffn_up_b, cur));
    cur = dec_linear(b, l->ffn_down, l->ffn_down_b, cur);
    return gl_add(ctx, h, cur);
}

static gl_tensor *dec_final_norm(dec_build *b, gl_tensor *x) {
    if (b->m->arch->id == ELM_ARCH_GPT2)
        return gl_layer_norm(b->ctx, x, b->m->out_norm, b->m->out_norm_b, b->hp->norm_eps);
    return dec_rms_norm(b, x, b->m->out_norm);
}

int32_t elm_decoder_max_nodes(const elm_model *m) {
    /* About 45 tensors per block (views and copies included), plus inputs and the head. */
    return 64 * m->hp.n_layer + 64;
}

gl_status elm_decoder_build(const elm_model *m, const elm_kv_cache *kv, gl_context *ctx,
                            gl_graph *g, const elm_graph_req *req, elm_graph_out *out,
                            gl_error *err) {
    const elm_hparams *hp = &m->hp;
    const int32_t n = req->n_tokens;
    if (n < 1 || req->n_past < 0 || req->n_past > kv->n_ctx - n)
        return gl_error_set(err, GL_ERR_INVALID, "%d tokens after %d do not fit a context of %d",
                            n, req->n_past, kv->n_ctx);
    if (m->arch->id == ELM_ARCH_GPT2 && req->n_past + n > hp->n_ctx_train)
        return gl_error_set(err, GL_ERR_INVALID, "gpt2 has position embeddings for %d positions "
                            "only", hp->n_ctx_train);
    dec_build b = {.m = m, .hp = hp, .kv = kv, .ctx = ctx, .g = g, .n_tokens = n,
                   .n_past = req->n_past};

    out->ids = gl_set_name(gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, (int64_t[]){n}, NULL), "ids");
    out->pos = gl_set_name(gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, (int64_t[]){n}, NULL), "pos");
    gl_set_input(out->ids);
    gl_set_input(out->pos);
    b.pos = out->pos;

    gl_tensor *x = gl_get_rows(ctx, m->tok_embd, out->ids);
    if (m->pos_embd) x = gl_add(ctx, x, gl_get_rows(ctx, m->pos_embd, out->pos));
    if (req->hidden && out->hidden) out->hidden[0] = x;
    for (int il = 0; il < hp->n_layer; il++) {
        x = m->arch->id == ELM_ARCH_GPT2 ? dec_gpt2_block(&b, il, x) : dec_llama_block(&b, il, x);
        if (req->hidden && out->hidden && il + 1 < hp->n_layer) out->hidden[il + 1] = x;
    }
    /* Only the rows whose logits are wanted go through the head. */
    if (!req->all_logits && !req->hidden && n > 1 && x)
        x = gl_view_2d(ctx, x, x->ne[0], 1, x->nb[1], (size_t)(n - 1) * x->nb[1]);
    x = dec_final_norm(&b, x);
    if (req->hidden && out->hidden) out->hidden[hp->n_layer] = x;
    out->logits = gl_mul_mat(ctx, m->output, x);
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
