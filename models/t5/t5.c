/*
 * t5.c — the T5 encoder-decoder runtime (architecture "t5"; public API in edgelm.h, "T5").
 *
 * Encoder (once per input of n tokens):
 *   x = token_embd[ids]
 *   per block:  x += Wo · attn(Wq·h, Wk·h, Wv·h; bias)       h = rms(x) * attn_norm
 *               x += W_down · ffn(h)                          h = rms(x) * ffn_norm
 *   enc = rms(x) * enc.output_norm
 *   and, for every decoder layer, the cross-attention keys and values Wk_c·enc, Wv_c·enc are
 *   computed in the same graph and kept: decoding never recomputes them.
 * Decoder (one step: n tokens of one hypothesis at positions n_past..):
 *   per block: causal self-attention over the hypothesis' KV cache (+ bias), cross-attention
 *   over the kept encoder K/V (no bias), feed-forward; y = rms(x) * dec.output_norm;
 *   logits = output · (y * output_scale).
 * ffn(h) = W_down · act(W_up h) (original T5, relu) or W_down · (act(W_gate h) * W_up h)
 * (v1.1/flan: gated gelu_new). T5's layer norm is RMS-style: no mean, no bias.
 *
 * Attention scores are NOT scaled by 1/sqrt(d) (T5 folds that into its initialisation); the
 * position bias is added to the scores. It comes from the block-0 table attn_rel_b
 * [n_head, n_buckets] of each stack (shared by all blocks), indexed by the bucket of the
 * relative position key - query: bidirectional for the encoder (half the buckets for each
 * sign), unidirectional for the decoder (only keys at or before the query). Buckets follow
 * Hugging Face's _relative_position_bucket: distances below n/2 have their own bucket, larger
 * ones share logarithmically wider buckets up to max_distance (computed in float32 like
 * PyTorch). The bias is built on the host as a per-head mask [n_kv, n_q, n_head] for gl_attn.
 *
 * output_scale: Hugging Face multiplies the decoder output by d_model^-0.5 before a TIED LM
 * head; llama.cpp does not. Our converter writes edgelm.t5.output_scale; a file without it
 * (llama.cpp's) gets d_model^-0.5 when it has no output.weight (tied) and 1 otherwise, which is
 * what Hugging Face computes for the same checkpoint.
 *
 * Beam search keeps one KV cache per hypothesis slot; after each step the surviving
 * hypotheses' caches are copied into place (rows 0..n_past only).
 */
#include "alloc.h"
#include "model.h"
#include "common.h"
#include "sampler.h"
#include "vocab.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T5_MAX_LAYERS 256
#define T5_MAX_DIM (1 << 20)
#define T5_MAX_BEAMS 16

typedef enum t5_act { T5_RELU, T5_GELU_TANH, T5_GELU, T5_SILU } t5_act;

typedef struct t5_layer {
    gl_tensor *attn_norm, *wq, *wk, *wv, *wo;
    gl_tensor *cross_norm, *cq, *ck, *cv, *co; /* decoder only */
    gl_tensor *ffn_norm, *ffn_gate, *ffn_up, *ffn_down;
} t5_layer;

/* The read-only part: file, tokenizer, hyperparameters, weight tensors. An elm_t5_model holds
 * one; every elm_t5 (a context) holds a copy of the same pointers and values, reached by the
 * same names as its own fields (the anonymous struct of the union below), so the graph code
 * reads m->d_model whether it was loaded or shared. */
#define T5_WEIGHT_FIELDS                                                                      \
    gl_gguf *gguf;                                                                            \
    gl_context *wctx;                                                                         \
    elm_vocab *vocab;                                                                         \
    int32_t n_vocab, d_model, d_kv, n_head, d_ff, n_enc, n_dec, n_buckets, max_distance;      \
    int32_t dec_start, n_ctx_train;                                                           \
    float eps, out_scale;                                                                     \
    t5_act act;                                                                               \
    bool gated;                                                                               \
    gl_tensor *tok_embd, *output, *enc_norm, *dec_norm;                                       \
    elm_repacked repacked; /* matrices in gl_repack's layout (empty with no_repack) */        \
    const float *enc_rel_b, *dec_rel_b; /* [n_buckets][n_head] F32 */                         \
    t5_layer *enc, *dec;

typedef struct t5_weights {
    T5_WEIGHT_FIELDS
} t5_weights;

struct elm_t5_model {
    t5_weights w;
};

struct elm_t5 {
    union {
        t5_weights w; /* copied from the model at creation */
        struct {
            T5_WEIGHT_FIELDS
        };
    };
    elm_t5_model *owned; /* the model elm_t5_load made for this context alone (else NULL) */
    elm_t5_params p;

    elm_runner run; /* pool + compute buffer */
    gl_context *meta; /* the graph context of every step, reset per step (nothing allocated) */
    size_t meta_size;

    /* encoder state */
    gl_context *sctx;        /* cross K/V tensors */
    gl_tensor **cross_k, **cross_v; /* per decoder layer [D, cap_enc] */
    int32_t cap_enc, n_enc_tokens;
    bool encoded;

    /* decoder state: one cache per hypothesis slot (+ as many spare ones for reordering) */
    int32_t n_slots;
    elm_kv_cache *kv;     /* 2 * n_slots */
    int32_t *slot_map;    /* hypothesis slot -> cache index */
    int32_t n_past;       /* positions in the caches (same for all slots) */

    float *bias;          /* host mask buffer */
    size_t bias_cap;
    int32_t *ids;         /* input ids buffer */
    size_t ids_cap;
};

/* ------------------------------------------------------------------------------------------
 * loading
 * ---------------------------------------------------------------------------------------- */

typedef struct t5_loader {
    elm_t5 *m;
    elm_loader l;
} t5_loader;

static float t5_key_float(t5_loader *ld, const char *key, double def) {
    if (ld->l.failed) return 0;
    int64_t i = gl_gguf_find_key(ld->m->gguf, key);
    double v;
    if (i < 0) return (float)def;
    if (!gl_gguf_get_f64(ld->m->gguf, i, &v) || !isfinite(v) || v <= 0 || v > 1e6) {
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "key %s must be a positive number", key);
        return 0;
    }
    return (float)v;
}

static const float *t5_rel_table(t5_loader *ld, const char *name) {
    gl_tensor *t = elm_load_tensor(&ld->l, true, ld->m->n_head, ld->m->n_buckets, "%s", name);
    if (!t) return NULL;
    if (t->type != GL_TYPE_F32) {
        elm_load_fail(&ld->l, ELM_ERR_UNSUPPORTED, "tensor %s must be f32", name);
        return NULL;
    }
    return (const float *)t->data;
}

static void t5_read_hparams(t5_loader *ld) {
    elm_t5 *m = ld->m;
    m->n_vocab = elm_load_rows(&ld->l, "token_embd.weight", 1 << 24);
    if (ld->l.failed) return;
    m->d_model = elm_load_int(&ld->l, "t5.embedding_length", 1, T5_MAX_DIM, -1);
    m->d_ff = elm_load_int(&ld->l, "t5.feed_forward_length", 1, T5_MAX_DIM, -1);
    m->n_enc = elm_load_int(&ld->l, "t5.block_count", 1, T5_MAX_LAYERS, -1);
    m->n_dec = elm_load_int(&ld->l, "t5.decoder_block_count", 1, T5_MAX_LAYERS, m->n_enc);
    m->n_head = elm_load_int(&ld->l, "t5.attention.head_count", 1, 4096, -1);
    int32_t def_kv = m->n_head && m->d_model % (m->n_head ? m->n_head : 1) == 0 ? m->d_model / m->n_head : -1;
    m->d_kv = elm_load_int(&ld->l, "t5.attention.key_length", 1, 65536, def_kv);
    int32_t vlen = elm_load_int(&ld->l, "t5.attention.value_length", 1, 65536, m->d_kv);
    m->n_buckets = elm_load_int(&ld->l, "t5.attention.relative_buckets_count", 2, 65536, 32);
    m->max_distance = elm_load_int(&ld->l, "edgelm.t5.relative_attention_max_distance", 1, 1 << 24, 128);
    m->dec_start = elm_load_int(&ld->l, "t5.decoder_start_token_id", 0, m->n_vocab - 1, 0);
    m->n_ctx_train = elm_load_int(&ld->l, "t5.context_length", 1, 1 << 24, 512);
    m->eps = t5_key_float(ld, "t5.attention.layer_norm_rms_epsilon",
                          t5_key_float(ld, "t5.attention.layer_norm_epsilon", 1e-6));
    if (ld->l.failed) return;
    if (vlen != m->d_kv) {
        elm_load_fail(&ld->l, ELM_ERR_UNSUPPORTED, "value_length %d differs from key_length %d", vlen, m->d_kv);
        return;
    }
    if ((int64_t)m->d_kv * m->n_head > T5_MAX_DIM) {
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "attention width %lld is too large", (long long)m->d_kv * m->n_head);
        return;
    }
    m->gated = gl_gguf_find_tensor(m->gguf, "enc.blk.0.ffn_gate.weight") >= 0;
    m->act = m->gated ? T5_GELU_TANH : T5_RELU; /* llama.cpp's rule when the key is absent */
    int64_t ka = gl_gguf_find_key(m->gguf, "edgelm.t5.dense_act_fn");
    if (ka >= 0) {
        gl_str a = gl_gguf_get_str(m->gguf, ka);
        if (gl_str_eq(a, "relu")) m->act = T5_RELU;
        else if (gl_str_eq(a, "gelu_new")) m->act = T5_GELU_TANH;
        else if (gl_str_eq(a, "gelu")) m->act = T5_GELU;
        else if (gl_str_eq(a, "silu")) m->act = T5_SILU;
        else {
            elm_load_fail(&ld->l, ELM_ERR_UNSUPPORTED, "edgelm.t5.dense_act_fn '%.*s' is not supported",
                          (int)(a.len > 32 ? 32 : a.len), a.data);
            return;
        }
    }
    const bool tied = gl_gguf_find_tensor(m->gguf, "output.weight") < 0;
    m->out_scale = t5_key_float(ld, "edgelm.t5.output_scale", tied ? 1.0 / sqrt((double)m->d_model) : 1.0);
}

/* Every matrix the graphs read through mul_mat: the blocks' projections and the output
 * matrix (when tied, token_embd, which get_rows reads too: it reads the interleaved layout). */
static elm_status t5_repack(elm_t5 *m, elm_error *err) {
    enum { PER_LAYER = 11 };
    const size_t n = (size_t)(m->n_enc + m->n_dec) * PER_LAYER + 1;
    gl_tensor **w = ELM_CALLOC(n, sizeof *w);
    if (!w) return elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (int il = 0; il < m->n_enc + m->n_dec; il++) {
        const t5_layer *l = il < m->n_enc ? &m->enc[il] : &m->dec[il - m->n_enc];
        gl_tensor *const mats[PER_LAYER] = {l->wq, l->wk, l->wv, l->wo, l->cq, l->ck,
                                            l->cv, l->co, l->ffn_gate, l->ffn_up, l->ffn_down};
        for (int j = 0; j < PER_LAYER; j++) w[k++] = mats[j];
    }
    w[k++] = m->output;
    const elm_status st = elm_repack_weights(w, k, m->gguf, &m->repacked, err);
    ELM_FREE(w);
    return st;
}

static void t5_bind_layer(t5_loader *ld, t5_layer *l, const char *side, int il, bool dec) {
    const elm_t5 *m = ld->m;
    const int64_t E = m->d_model, D = (int64_t)m->d_kv * m->n_head, F = m->d_ff;
    l->attn_norm = elm_load_tensor(&ld->l, true, E, 0, "%s.blk.%d.attn_norm.weight", side, il);
    l->wq = elm_load_tensor(&ld->l, true, E, D, "%s.blk.%d.attn_q.weight", side, il);
    l->wk = elm_load_tensor(&ld->l, true, E, D, "%s.blk.%d.attn_k.weight", side, il);
    l->wv = elm_load_tensor(&ld->l, true, E, D, "%s.blk.%d.attn_v.weight", side, il);
    l->wo = elm_load_tensor(&ld->l, true, D, E, "%s.blk.%d.attn_o.weight", side, il);
    if (dec) {
        l->cross_norm = elm_load_tensor(&ld->l, true, E, 0, "%s.blk.%d.cross_attn_norm.weight", side, il);
        l->cq = elm_load_tensor(&ld->l, true, E, D, "%s.blk.%d.cross_attn_q.weight", side, il);
        l->ck = elm_load_tensor(&ld->l, true, E, D, "%s.blk.%d.cross_attn_k.weight", side, il);
        l->cv = elm_load_tensor(&ld->l, true, E, D, "%s.blk.%d.cross_attn_v.weight", side, il);
        l->co = elm_load_tensor(&ld->l, true, D, E, "%s.blk.%d.cross_attn_o.weight", side, il);
    }
    l->ffn_norm = elm_load_tensor(&ld->l, true, E, 0, "%s.blk.%d.ffn_norm.weight", side, il);
    l->ffn_gate = elm_load_tensor(&ld->l, m->gated, E, F, "%s.blk.%d.ffn_gate.weight", side, il);
    l->ffn_up = elm_load_tensor(&ld->l, true, E, F, "%s.blk.%d.ffn_up.weight", side, il);
    l->ffn_down = elm_load_tensor(&ld->l, true, F, E, "%s.blk.%d.ffn_down.weight", side, il);
}

elm_t5_params elm_t5_default_params(void) {
    elm_t5_params p = {.n_threads = 1, .n_ctx = 0, .n_beams = 1, .no_vocab = false};
    return p;
}

static gl_status t5_caches_init(elm_t5 *m, gl_error *gerr) {
    elm_hparams hp = {0};
    hp.n_layer = m->n_dec;
    hp.head_dim = m->d_kv;
    hp.n_head_kv = m->n_head;
    m->n_slots = m->p.n_beams;
    m->kv = ELM_CALLOC(2 * (size_t)m->n_slots, sizeof *m->kv);
    m->slot_map = ELM_CALLOC((size_t)m->n_slots, sizeof *m->slot_map);
    if (!m->kv || !m->slot_map) return gl_error_set(gerr, GL_ERR_NOMEM, "out of memory");
    /* Spare caches only for beam search: greedy decoding never reorders. */
    const int n_caches = m->n_slots > 1 ? 2 * m->n_slots : 1;
    for (int i = 0; i < n_caches; i++) {
        gl_status st = elm_kv_init(&m->kv[i], &hp, m->p.n_ctx, GL_TYPE_F32, GL_TYPE_F32, gerr);
        if (st != GL_OK) return st;
    }
    for (int i = 0; i < m->n_slots; i++) m->slot_map[i] = i;
    return GL_OK;
}

static void t5_weights_free(t5_weights *w) {
    elm_vocab_free(w->vocab);
    gl_context_free(w->wctx);
    ELM_FREE(w->repacked.buf);
    ELM_FREE(w->enc);
    ELM_FREE(w->dec);
    gl_gguf_close(w->gguf);
}

/* Reads the hyperparameters and binds the weights of f (taken over: closed on failure) into a
 * new model. The loader functions work on an elm_t5, so a zeroed one stages the weights. */
static elm_t5_model *t5_model_from_gguf(gl_gguf *f, const gl_error *gerr, const elm_t5_params *params,
                                        elm_error *err) {
    if (!f) {
        elm_err_from_gl(err, gerr);
        return NULL;
    }
    elm_t5_params p = params ? *params : elm_t5_default_params();
    elm_t5 *m = ELM_CALLOC(1, sizeof *m);
    elm_t5_model *model = ELM_CALLOC(1, sizeof *model);
    if (!m || !model) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        gl_gguf_close(f);
        ELM_FREE(m);
        ELM_FREE(model);
        return NULL;
    }
    m->gguf = f;
    gl_error gerr2 = {0};
    if (!elm_load_arch(m->gguf, ELM_FAMILY_T5, err)) goto fail;
    t5_loader ld = {.m = m, .l = {.gguf = m->gguf, .err = err}};
    t5_read_hparams(&ld);
    if (ld.l.failed) goto fail;
    m->enc = ELM_CALLOC((size_t)m->n_enc, sizeof *m->enc);
    m->dec = ELM_CALLOC((size_t)m->n_dec, sizeof *m->dec);
    m->wctx = elm_weight_ctx_new(m->gguf, &gerr2);
    if (!m->enc || !m->dec || !m->wctx) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    ld.l.wctx = m->wctx;
    m->tok_embd = elm_load_tensor(&ld.l, true, m->d_model, m->n_vocab, "token_embd.weight");
    m->output = elm_load_tensor(&ld.l, false, m->d_model, m->n_vocab, "output.weight");
    if (!m->output) m->output = m->tok_embd;
    m->enc_norm = elm_load_tensor(&ld.l, true, m->d_model, 0, "enc.output_norm.weight");
    m->dec_norm = elm_load_tensor(&ld.l, true, m->d_model, 0, "dec.output_norm.weight");
    m->enc_rel_b = t5_rel_table(&ld, "enc.blk.0.attn_rel_b.weight");
    m->dec_rel_b = t5_rel_table(&ld, "dec.blk.0.attn_rel_b.weight");
    for (int il = 0; il < m->n_enc && !ld.l.failed; il++) t5_bind_layer(&ld, &m->enc[il], "enc", il, false);
    for (int il = 0; il < m->n_dec && !ld.l.failed; il++) t5_bind_layer(&ld, &m->dec[il], "dec", il, true);
    if (ld.l.failed) goto fail;
    if (!p.no_repack && t5_repack(m, err) != ELM_OK) goto fail;
    if (!p.no_vocab) {
        m->vocab = elm_vocab_load(m->gguf, &gerr2);
        if (!m->vocab) {
            elm_err_set(err, gerr2.code, "tokenizer: %s", gerr2.msg);
            goto fail;
        }
    }
    model->w = m->w;
    ELM_FREE(m);
    return model;
fail:
    t5_weights_free(&m->w);
    ELM_FREE(m);
    ELM_FREE(model);
    return NULL;
}

elm_t5_model *elm_t5_model_load(const char *path, const elm_t5_params *params, elm_error *err) {
    gl_error gerr = {0};
    return t5_model_from_gguf(gl_gguf_open(path, &gerr), &gerr, params, err);
}

elm_t5_model *elm_t5_model_load_memory(const void *data, size_t size, const elm_t5_params *params,
                                       elm_error *err) {
    gl_error gerr = {0};
    return t5_model_from_gguf(gl_gguf_open_buffer(data, size, &gerr), &gerr, params, err);
}

void elm_t5_model_free(elm_t5_model *model) {
    if (!model) return;
    t5_weights_free(&model->w);
    ELM_FREE(model);
}

elm_t5 *elm_t5_new(const elm_t5_model *model, const elm_t5_params *params, elm_error *err) {
    if (!model) {
        elm_err_set(err, ELM_ERR_INVALID, "elm_t5_new: no model");
        return NULL;
    }
    elm_t5_params p = params ? *params : elm_t5_default_params();
    if (p.n_threads <= 0) p.n_threads = 1;
    if (p.n_beams <= 0) p.n_beams = 1;
    if (p.n_beams > T5_MAX_BEAMS) {
        elm_err_set(err, ELM_ERR_INVALID, "at most %d beams", T5_MAX_BEAMS);
        return NULL;
    }
    if (!p.no_vocab && !model->w.vocab) {
        elm_err_set(err, ELM_ERR_INVALID, "elm_t5_new: the model was loaded without its tokenizer (no_vocab)");
        return NULL;
    }
    elm_t5 *m = ELM_CALLOC(1, sizeof *m);
    if (!m) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->w = model->w;
    if (p.n_ctx <= 0) p.n_ctx = m->n_ctx_train < 512 ? m->n_ctx_train : 512;
    if (p.n_ctx > (1 << 16)) p.n_ctx = 1 << 16;
    m->p = p;
    gl_error gerr = {0};
    m->run.n_threads = p.n_threads;
    m->run.pool = gl_pool_new(p.n_threads, &gerr);
    if (!m->run.pool || t5_caches_init(m, &gerr) != GL_OK) {
        elm_err_from_gl(err, &gerr);
        goto fail;
    }
    const size_t max_nodes = (size_t)(m->n_enc + 3 * m->n_dec) * 48 + 64;
    m->meta_size = elm_graph_overhead(max_nodes);
    m->meta = gl_context_new((gl_context_params){.mem_size = m->meta_size, .no_alloc = true}, NULL);
    if (!m->meta) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return m;
fail:
    elm_t5_free(m);
    return NULL;
}

/* A context that owns its model (freed with it). */
static elm_t5 *t5_new_owning(elm_t5_model *model, const elm_t5_params *params, elm_error *err) {
    if (!model) return NULL;
    elm_t5 *m = elm_t5_new(model, params, err);
    if (!m) {
        elm_t5_model_free(model);
        return NULL;
    }
    m->owned = model;
    return m;
}

elm_t5 *elm_t5_load(const char *path, const elm_t5_params *params, elm_error *err) {
    return t5_new_owning(elm_t5_model_load(path, params, err), params, err);
}

elm_t5 *elm_t5_load_memory(const void *data, size_t size, const elm_t5_params *params, elm_error *err) {
    return t5_new_owning(elm_t5_model_load_memory(data, size, params, err), params, err);
}

void elm_t5_free(elm_t5 *m) {
    if (!m) return;
    if (m->kv)
        for (int i = 0; i < 2 * m->n_slots; i++) elm_kv_free(&m->kv[i]);
    ELM_FREE(m->kv);
    ELM_FREE(m->slot_map);
    elm_runner_free(&m->run);
    gl_context_free(m->sctx);
    ELM_FREE(m->cross_k);
    ELM_FREE(m->cross_v);
    gl_context_free(m->meta);
    ELM_FREE(m->bias);
    ELM_FREE(m->ids);
    elm_t5_model_free(m->owned); /* the weights belong to the model, never to a context */
    ELM_FREE(m);
}

int32_t elm_t5_n_vocab(const elm_t5 *m) { return m ? m->n_vocab : 0; }
int32_t elm_t5_n_embd(const elm_t5 *m) { return m ? m->d_model : 0; }
int32_t elm_t5_n_enc_layer(const elm_t5 *m) { return m ? m->n_enc : 0; }
int32_t elm_t5_n_dec_layer(const elm_t5 *m) { return m ? m->n_dec : 0; }
int32_t elm_t5_n_ctx(const elm_t5 *m) { return m ? m->p.n_ctx : 0; }
int32_t elm_t5_decoder_start(const elm_t5 *m) { return m ? m->dec_start : 0; }
int32_t elm_t5_eos(const elm_t5 *m) { return m && m->vocab ? elm_vocab_eos(m->vocab) : 1; }
int32_t elm_t5_n_past(const elm_t5 *m) { return m ? m->n_past : 0; }
float elm_t5_output_scale(const elm_t5 *m) { return m ? m->out_scale : 0; }

int64_t elm_t5_tokenize(const elm_t5 *m, const char *text, size_t len, int32_t *ids, int64_t max_ids,
                        bool add_eos, elm_error *err) {
    if (!m || !m->vocab) return elm_err_set(err, ELM_ERR_INVALID, "the model was loaded without a tokenizer");
    gl_error gerr = {0};
    int64_t n = elm_tokenize(m->vocab, text, len, ids, max_ids, add_eos, true, &gerr);
    if (n < 0) return elm_err_from_gl(err, &gerr);
    return n;
}

int32_t elm_t5_detokenize(const elm_t5 *m, const int32_t *ids, int32_t n, char *buf, int32_t size,
                          bool render_special) {
    if (!m || !m->vocab || n < 0 || (!buf && size > 0)) return 0;
    elm_detok d;
    elm_detok_init(&d, m->vocab, render_special);
    char tmp[512];
    int32_t pos = 0;
    for (int32_t i = 0; i <= n; i++) {
        int32_t k = i < n ? elm_detok_push(&d, ids[i], tmp, (int32_t)sizeof tmp) : elm_detok_flush(&d, tmp, (int32_t)sizeof tmp);
        for (int32_t j = 0; j < k; j++, pos++)
            if (pos < size - 1) buf[pos] = tmp[j];
    }
    if (size > 0) buf[pos < size - 1 ? pos : size - 1] = '\0';
    return pos;
}

/* ------------------------------------------------------------------------------------------
 * relative position buckets
 * ---------------------------------------------------------------------------------------- */

int32_t elm_t5_bucket(int32_t rel, bool bidirectional, int32_t n_buckets, int32_t max_distance) {
    int32_t bucket = 0;
    int32_t n = n_buckets;
    if (bidirectional) {
        n /= 2;
        if (rel > 0) bucket += n;
        rel = rel < 0 ? -rel : rel;
    } else {
        rel = rel < 0 ? -rel : 0; /* keys after the query never occur (causal) */
    }
    const int32_t max_exact = n / 2;
    if (rel < max_exact) return bucket + rel;
    if (max_exact < 1 || max_distance <= max_exact) return bucket + n - 1; /* degenerate tables */
    /* float32 like PyTorch: log(rel / max_exact) / log(max_distance / max_exact) * (n - max_exact) */
    float r = logf((float)rel / (float)max_exact) / (float)log((double)max_distance / (double)max_exact) *
              (float)(n - max_exact);
    /* compare before converting: a float beyond int range must not reach the cast */
    int32_t large = r < (float)(n - 1 - max_exact) ? max_exact + (int32_t)r : n - 1;
    return bucket + large;
}

/* Fills m->bias with [n_head][n_q][n_kv] (ne order [n_kv, n_q, n_head]): the bias of key j for
 * query i (at absolute position q0 + i). */
static bool t5_fill_bias(elm_t5 *m, const float *table, bool bidir, int32_t n_q, int32_t n_kv, int32_t q0) {
    size_t need = (size_t)n_q * (size_t)n_kv * (size_t)m->n_head;
    if (need > m->bias_cap) {
        float *b = ELM_REALLOC(m->bias, need * sizeof *b);
        if (!b) return false;
        m->bias = b;
        m->bias_cap = need;
    }
    for (int32_t i = 0; i < n_q; i++)
        for (int32_t j = 0; j < n_kv; j++) {
            int32_t bk = elm_t5_bucket(j - (q0 + i), bidir, m->n_buckets, m->max_distance);
            for (int32_t h = 0; h < m->n_head; h++)
                m->bias[((size_t)h * n_q + i) * n_kv + j] = table[(size_t)bk * m->n_head + h];
        }
    return true;
}

/* ------------------------------------------------------------------------------------------
 * graphs
 * ---------------------------------------------------------------------------------------- */

typedef struct t5_build {
    elm_t5 *m;
    gl_context *ctx;
    gl_graph *g;
    gl_tensor *bias; /* [n_kv, n_q, n_head] */
} t5_build;

static gl_tensor *t5_norm(t5_build *b, gl_tensor *x, gl_tensor *w) {
    return gl_mul(b->ctx, gl_rms_norm(b->ctx, x, b->m->eps), w);
}

/* [D, n] -> [d_kv, n, n_head] (a view: gl_attn takes any strides). */
static gl_tensor *t5_heads(t5_build *b, gl_tensor *x, int64_t n) {
    gl_tensor *r = gl_reshape_3d(b->ctx, x, b->m->d_kv, b->m->n_head, n);
    return gl_permute(b->ctx, r, 0, 2, 1, 3);
}

/* attention output [d_kv, n_head, n] -> Wo · [D, n] */
static gl_tensor *t5_attn_out(t5_build *b, gl_tensor *o, gl_tensor *wo) {
    if (!o) return NULL;
    return gl_mul_mat(b->ctx, wo, gl_reshape_2d(b->ctx, o, o->ne[0] * o->ne[1], o->ne[2]));
}

static gl_tensor *t5_ffn(t5_build *b, const t5_layer *l, gl_tensor *x) {
    gl_context *ctx = b->ctx;
    gl_tensor *h = t5_norm(b, x, l->ffn_norm);
    gl_tensor *up = gl_mul_mat(ctx, l->ffn_up, h);
    gl_tensor *a = b->m->gated ? gl_mul_mat(ctx, l->ffn_gate, h) : up;
    switch (b->m->act) {
    case T5_RELU: a = gl_relu(ctx, a); break;
    case T5_GELU_TANH: a = gl_gelu_tanh(ctx, a); break;
    case T5_GELU: a = gl_gelu(ctx, a); break;
    case T5_SILU: a = gl_silu(ctx, a); break;
    }
    if (b->m->gated) a = gl_mul(ctx, a, up);
    return gl_add(ctx, x, gl_mul_mat(ctx, l->ffn_down, a));
}

static gl_tensor *t5_input_ids(t5_build *b, const int32_t *ids, int32_t n) {
    int64_t ne = n;
    gl_tensor *t = gl_new_tensor_with_data(b->ctx, GL_TYPE_I32, 1, &ne, (void *)(uintptr_t)ids);
    return gl_get_rows(b->ctx, b->m->tok_embd, t);
}

static gl_tensor *t5_input_bias(t5_build *b, int32_t n_kv, int32_t n_q) {
    int64_t ne[3] = {n_kv, n_q, b->m->n_head};
    return gl_new_tensor_with_data(b->ctx, GL_TYPE_F32, 3, ne, b->m->bias);
}

/* Encoder graph; hidden[0..n_enc] marked as outputs when hidden != NULL. */
static gl_status t5_build_encoder(t5_build *b, const int32_t *ids, int32_t n, gl_tensor **hidden, gl_error *gerr) {
    elm_t5 *m = b->m;
    gl_context *ctx = b->ctx;
    gl_tensor *x = t5_input_ids(b, ids, n);
    b->bias = t5_input_bias(b, n, n);
    if (hidden) hidden[0] = x;
    for (int il = 0; il < m->n_enc; il++) {
        const t5_layer *l = &m->enc[il];
        gl_tensor *h = t5_norm(b, x, l->attn_norm);
        gl_tensor *q = t5_heads(b, gl_mul_mat(ctx, l->wq, h), n);
        gl_tensor *k = t5_heads(b, gl_mul_mat(ctx, l->wk, h), n);
        gl_tensor *v = t5_heads(b, gl_mul_mat(ctx, l->wv, h), n);
        x = gl_add(ctx, x, t5_attn_out(b, gl_attn(ctx, q, k, v, b->bias, 1.0f, false), l->wo));
        x = t5_ffn(b, l, x);
        if (hidden && il + 1 < m->n_enc) hidden[il + 1] = x;
    }
    gl_tensor *y = t5_norm(b, x, m->enc_norm);
    if (hidden) hidden[m->n_enc] = y;
    /* Cross-attention keys and values of every decoder layer, into the kept tensors. */
    for (int il = 0; il < m->n_dec; il++) {
        const t5_layer *l = &m->dec[il];
        const int64_t D = (int64_t)m->d_kv * m->n_head;
        gl_tensor *kd = gl_view_2d(ctx, m->cross_k[il], D, n, m->cross_k[il]->nb[1], 0);
        gl_tensor *vd = gl_view_2d(ctx, m->cross_v[il], D, n, m->cross_v[il]->nb[1], 0);
        gl_graph_expand(b->g, gl_cpy(ctx, gl_mul_mat(ctx, l->ck, y), kd));
        gl_graph_expand(b->g, gl_cpy(ctx, gl_mul_mat(ctx, l->cv, y), vd));
    }
    if (hidden)
        for (int i = 0; i <= m->n_enc; i++) {
            if (hidden[i]) gl_set_output(hidden[i]);
            gl_graph_expand(b->g, hidden[i]);
        }
    if (!gl_ctx_ok(ctx)) return gl_error_set(gerr, GL_ERR_INVALID, "encoder graph: %s", gl_ctx_error(ctx));
    return GL_OK;
}

/* One decoder step for cache kv: n tokens at positions m->n_past... */
static gl_status t5_build_decoder(t5_build *b, const elm_kv_cache *kv, const int32_t *ids, int32_t n,
                                  gl_tensor **hidden, gl_tensor **logits, gl_error *gerr) {
    elm_t5 *m = b->m;
    gl_context *ctx = b->ctx;
    const int32_t n_kv = m->n_past + n;
    gl_tensor *x = t5_input_ids(b, ids, n);
    b->bias = t5_input_bias(b, n_kv, n);
    if (hidden) hidden[0] = x;
    for (int il = 0; il < m->n_dec; il++) {
        const t5_layer *l = &m->dec[il];
        gl_tensor *h = t5_norm(b, x, l->attn_norm);
        gl_tensor *q = t5_heads(b, gl_mul_mat(ctx, l->wq, h), n);
        gl_tensor *k = gl_reshape_3d(ctx, gl_mul_mat(ctx, l->wk, h), m->d_kv, m->n_head, n);
        gl_tensor *v = gl_reshape_3d(ctx, gl_mul_mat(ctx, l->wv, h), m->d_kv, m->n_head, n);
        gl_tensor *ks = elm_kv_store(ctx, kv, il, false, k, m->n_past);
        gl_tensor *vs = elm_kv_store(ctx, kv, il, true, v, m->n_past);
        if (!ks || !vs) return gl_error_set(gerr, GL_ERR_INVALID, "decoder graph: %s", gl_ctx_error(ctx));
        gl_graph_expand(b->g, ks); /* stores run before the attention that reads the cache */
        gl_graph_expand(b->g, vs);
        gl_tensor *kc = elm_kv_view(ctx, kv, il, false, n_kv);
        gl_tensor *vc = elm_kv_view(ctx, kv, il, true, n_kv);
        x = gl_add(ctx, x, t5_attn_out(b, gl_attn(ctx, q, kc, vc, b->bias, 1.0f, true), l->wo));

        h = t5_norm(b, x, l->cross_norm);
        q = t5_heads(b, gl_mul_mat(ctx, l->cq, h), n);
        const size_t el = sizeof(float);
        gl_tensor *ck = gl_view_3d(ctx, m->cross_k[il], m->d_kv, m->n_enc_tokens, m->n_head,
                                   m->cross_k[il]->nb[1], (size_t)m->d_kv * el, 0);
        gl_tensor *cv = gl_view_3d(ctx, m->cross_v[il], m->d_kv, m->n_enc_tokens, m->n_head,
                                   m->cross_v[il]->nb[1], (size_t)m->d_kv * el, 0);
        x = gl_add(ctx, x, t5_attn_out(b, gl_attn(ctx, q, ck, cv, NULL, 1.0f, false), l->co));
        x = t5_ffn(b, l, x);
        if (hidden && il + 1 < m->n_dec) hidden[il + 1] = x;
    }
    gl_tensor *y = t5_norm(b, x, m->dec_norm);
    if (hidden) hidden[m->n_dec] = y;
    gl_tensor *lg = gl_mul_mat(ctx, m->output, m->out_scale != 1.0f ? gl_scale(ctx, y, m->out_scale) : y);
    if (lg) gl_set_output(lg);
    *logits = lg;
    if (hidden)
        for (int i = 0; i <= m->n_dec; i++) {
            if (hidden[i]) gl_set_output(hidden[i]);
            gl_graph_expand(b->g, hidden[i]);
        }
    gl_graph_expand(b->g, lg);
    if (!gl_ctx_ok(ctx) || !lg) return gl_error_set(gerr, GL_ERR_INVALID, "decoder graph: %s", gl_ctx_error(ctx));
    return GL_OK;
}

static gl_status t5_begin(t5_build *b, elm_t5 *m, gl_error *gerr) {
    b->m = m;
    gl_context_reset(m->meta);
    b->ctx = m->meta;
    b->g = gl_graph_new(b->ctx, (int)((m->n_enc + 3 * m->n_dec) * 48 + 64));
    if (!b->g) return gl_error_set(gerr, GL_ERR_NOMEM, "graph: %s", gl_ctx_error(b->ctx));
    return GL_OK;
}

/* Copies a [ne0, ne1] F32 tensor (rows possibly strided) into dst. */
static void t5_copy_rows(float *dst, const gl_tensor *t) {
    for (int64_t r = 0; r < t->ne[1]; r++)
        memcpy(dst + r * t->ne[0], (const char *)t->data + (size_t)r * t->nb[1], (size_t)t->ne[0] * sizeof(float));
}

static bool t5_check_ids(const elm_t5 *m, const int32_t *ids, int32_t n, elm_error *err) {
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->n_vocab) {
            elm_err_set(err, ELM_ERR_INVALID, "token id %d at %d is outside [0, %d)", ids[i], i, m->n_vocab);
            return false;
        }
    return true;
}

static gl_status t5_reserve_cross(elm_t5 *m, int32_t n, gl_error *gerr) {
    if (n <= m->cap_enc) return GL_OK;
    gl_context_free(m->sctx);
    m->sctx = NULL;
    m->cap_enc = 0;
    ELM_FREE(m->cross_k);
    ELM_FREE(m->cross_v);
    m->cross_k = ELM_CALLOC((size_t)m->n_dec, sizeof *m->cross_k);
    m->cross_v = ELM_CALLOC((size_t)m->n_dec, sizeof *m->cross_v);
    const int64_t D = (int64_t)m->d_kv * m->n_head;
    size_t bytes = 2 * (size_t)m->n_dec * (ELM_PAD((size_t)D * (size_t)n * sizeof(float), ELM_ALIGN) + gl_tensor_overhead()) + ELM_ALIGN;
    m->sctx = gl_context_new((gl_context_params){.mem_size = bytes}, gerr);
    if (!m->cross_k || !m->cross_v || !m->sctx) return gl_error_set(gerr, GL_ERR_NOMEM, "out of memory for the encoder state");
    for (int il = 0; il < m->n_dec; il++) {
        m->cross_k[il] = gl_new_tensor_2d(m->sctx, GL_TYPE_F32, D, n);
        m->cross_v[il] = gl_new_tensor_2d(m->sctx, GL_TYPE_F32, D, n);
        if (!m->cross_k[il] || !m->cross_v[il]) return gl_error_set(gerr, GL_ERR_NOMEM, "out of memory for the encoder state");
    }
    m->cap_enc = n;
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * public steps
 * ---------------------------------------------------------------------------------------- */

elm_status elm_t5_encode(elm_t5 *m, const int32_t *ids, int32_t n, float *hidden, elm_error *err) {
    if (!m || !ids || n < 1) return elm_err_set(err, ELM_ERR_INVALID, "elm_t5_encode: no input");
    if (n > (1 << 16)) return elm_err_set(err, ELM_ERR_INVALID, "input of %d tokens is too long", n);
    if (!t5_check_ids(m, ids, n, err)) return ELM_ERR_INVALID;
    gl_error gerr = {0};
    m->encoded = false;
    m->n_past = 0;
    gl_status st = t5_reserve_cross(m, n, &gerr);
    if (st != GL_OK) return elm_err_from_gl(err, &gerr);
    if (!t5_fill_bias(m, m->enc_rel_b, true, n, n, 0)) return elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
    t5_build b;
    gl_tensor *hid[T5_MAX_LAYERS + 1] = {0};
    st = t5_begin(&b, m, &gerr);
    m->n_enc_tokens = n;
    if (st == GL_OK) st = t5_build_encoder(&b, ids, n, hidden ? hid : NULL, &gerr);
    if (st == GL_OK) st = elm_runner_run(&m->run, b.g, &gerr);
    if (st == GL_OK && hidden)
        for (int i = 0; i <= m->n_enc; i++) t5_copy_rows(hidden + (size_t)i * n * m->d_model, hid[i]);
    if (st != GL_OK) return elm_err_from_gl(err, &gerr);
    m->encoded = true;
    return ELM_OK;
}

/* One step of slot s (its cache) for n tokens; logits [n][n_vocab] and hidden optional. */
static elm_status t5_step(elm_t5 *m, int32_t slot, const int32_t *ids, int32_t n, float *logits, float *hidden,
                          elm_error *err) {
    if (!m->encoded) return elm_err_set(err, ELM_ERR_INVALID, "elm_t5: decode before encode");
    if (m->n_past + n > m->p.n_ctx)
        return elm_err_set(err, ELM_ERR_INVALID, "decoder positions exhausted (%d + %d > %d)", m->n_past, n, m->p.n_ctx);
    if (!t5_check_ids(m, ids, n, err)) return ELM_ERR_INVALID;
    gl_error gerr = {0};
    if (!t5_fill_bias(m, m->dec_rel_b, false, n, m->n_past + n, m->n_past))
        return elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
    t5_build b;
    gl_tensor *hid[T5_MAX_LAYERS + 1] = {0};
    gl_tensor *lg = NULL;
    gl_status st = t5_begin(&b, m, &gerr);
    if (st == GL_OK)
        st = t5_build_decoder(&b, &m->kv[m->slot_map[slot]], ids, n, hidden ? hid : NULL, &lg, &gerr);
    if (st == GL_OK) st = elm_runner_run(&m->run, b.g, &gerr);
    if (st == GL_OK && logits) t5_copy_rows(logits, lg);
    if (st == GL_OK && hidden)
        for (int i = 0; i <= m->n_dec; i++) t5_copy_rows(hidden + (size_t)i * n * m->d_model, hid[i]);
    if (st != GL_OK) return elm_err_from_gl(err, &gerr);
    return ELM_OK;
}

elm_status elm_t5_decode(elm_t5 *m, const int32_t *ids, int32_t n, float *logits, float *hidden, elm_error *err) {
    if (!m || !ids || n < 1) return elm_err_set(err, ELM_ERR_INVALID, "elm_t5_decode: no input");
    elm_status s = t5_step(m, 0, ids, n, logits, hidden, err);
    if (s == ELM_OK) m->n_past += n;
    return s;
}

void elm_t5_rewind(elm_t5 *m) {
    if (!m) return;
    m->n_past = 0;
    for (int i = 0; i < m->n_slots; i++) m->slot_map[i] = i;
}

/* ------------------------------------------------------------------------------------------
 * generation
 * ---------------------------------------------------------------------------------------- */

elm_t5_gen_params elm_t5_default_gen_params(void) {
    elm_t5_gen_params g;
    memset(&g, 0, sizeof g);
    g.n_predict = 64;
    g.n_beams = 1;
    g.length_penalty = 1.0f;
    g.sampling = elm_sampler_default_params();
    g.sampling.temp = 0.0f; /* greedy */
    return g;
}

/* log-softmax of row into out; returns nothing (row has n finite values). */
static void t5_log_softmax(const float *row, int32_t n, float *out) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < n; i++) mx = row[i] > mx ? row[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)row[i] - mx);
    const float lse = mx + (float)log(sum);
    for (int32_t i = 0; i < n; i++) out[i] = row[i] - lse;
}

typedef struct t5_hyp {
    int32_t *ids; /* generated tokens (without the start token) */
    int32_t n;
    float logp;   /* sum of log-probabilities */
    float score;  /* finished: logp / (n + 1)^length_penalty */
} t5_hyp;

static int64_t t5_greedy(elm_t5 *m, const elm_t5_gen_params *gp, int32_t *out, int32_t max_out, elm_token_fn on_token,
                         void *user, elm_error *err) {
    elm_sampler *smp = NULL;
    float *logits = ELM_MALLOC((size_t)m->n_vocab * sizeof *logits);
    if (!logits) return elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
    if (gp->sampling.temp > 0 || gp->sampling.repeat_penalty != 1.0f) {
        smp = elm_sampler_new(&gp->sampling, m->n_vocab, err);
        if (!smp) {
            ELM_FREE(logits);
            return err ? err->code : ELM_ERR_NOMEM;
        }
    }
    const int32_t eos = elm_t5_eos(m);
    int32_t tok = m->dec_start;
    int64_t n_out = 0;
    elm_status s = ELM_OK;
    for (int32_t step = 0; step < gp->n_predict; step++) {
        if (m->n_past >= m->p.n_ctx) break;
        s = t5_step(m, 0, &tok, 1, logits, NULL, err);
        if (s != ELM_OK) break;
        m->n_past++;
        int32_t next;
        if (smp) {
            next = elm_sampler_sample(smp, logits);
            elm_sampler_accept(smp, next);
        } else {
            next = 0; /* argmax, ties: lowest id */
            for (int32_t i = 1; i < m->n_vocab; i++)
                if (logits[i] > logits[next]) next = i;
        }
        if (next == eos && !gp->ignore_eos) break;
        if (n_out < max_out && out) out[n_out] = next;
        n_out++;
        if (on_token && !on_token(next, user)) break;
        tok = next;
    }
    elm_sampler_free(smp);
    ELM_FREE(logits);
    return s == ELM_OK ? n_out : s;
}

/* Copies positions 0..n_past of cache a into cache b (every layer, K and V). */
static void t5_cache_copy(const elm_kv_cache *a, const elm_kv_cache *b, int32_t n_past) {
    elm_kv_copy(b, a, n_past);
}

/* Keeps the K best finished hypotheses (replacing the worst when full). */
static void t5_add_fin(t5_hyp *fin, int32_t *n_fin, int32_t K, const int32_t *ids, int32_t n, float logp,
                       float score) {
    int32_t slot = -1;
    if (*n_fin < K) {
        slot = (*n_fin)++;
    } else {
        int32_t w = 0;
        for (int32_t f = 1; f < K; f++)
            if (fin[f].score < fin[w].score) w = f;
        if (score > fin[w].score) slot = w;
    }
    if (slot < 0) return;
    memcpy(fin[slot].ids, ids, (size_t)n * sizeof(int32_t));
    fin[slot].n = n;
    fin[slot].logp = logp;
    fin[slot].score = score;
}

typedef struct t5_cand {
    float logp;
    int32_t beam, tok;
} t5_cand;

static int t5_cand_cmp(const void *x, const void *y) {
    const t5_cand *a = x, *b = y;
    if (a->logp != b->logp) return a->logp > b->logp ? -1 : 1;
    if (a->beam != b->beam) return a->beam < b->beam ? -1 : 1;
    return a->tok < b->tok ? -1 : a->tok > b->tok;
}

/* Beam search with Hugging Face's length penalty (transformers 4.33 BeamSearchScorer): a
 * hypothesis ending in EOS after n tokens scores logp / (n + 1)^length_penalty (its length
 * counts the start token, not the EOS; logp includes the EOS); only EOS among the K best
 * candidates of a step finishes a hypothesis. It stops when K hypotheses are finished and the
 * best live score divided by the current length^length_penalty cannot beat the worst of them
 * (early_stopping=False), or after n_predict steps; the live beams then compete with the
 * finished ones at their own length. */
static int64_t t5_beam(elm_t5 *m, const elm_t5_gen_params *gp, int32_t *out, int32_t max_out, elm_token_fn on_token,
                       void *user, elm_error *err) {
    const int32_t K = gp->n_beams, V = m->n_vocab, eos = elm_t5_eos(m);
    const int32_t max_len = gp->n_predict < m->p.n_ctx ? gp->n_predict : m->p.n_ctx;
    t5_hyp live[T5_MAX_BEAMS], next[T5_MAX_BEAMS], fin[T5_MAX_BEAMS];
    memset(live, 0, sizeof live), memset(next, 0, sizeof next), memset(fin, 0, sizeof fin);
    int32_t n_live = 1, n_fin = 0;
    float *logits = ELM_MALLOC((size_t)V * sizeof *logits);
    float *lp = ELM_MALLOC((size_t)V * sizeof *lp);
    t5_cand *cand = ELM_MALLOC((size_t)K * 2 * K * sizeof *cand);
    int32_t *parent = ELM_MALLOC((size_t)K * sizeof *parent);
    bool ok = logits && lp && cand && parent;
    for (int i = 0; i < K && ok; i++) {
        live[i].ids = ELM_MALLOC((size_t)(max_len + 1) * sizeof(int32_t));
        next[i].ids = ELM_MALLOC((size_t)(max_len + 1) * sizeof(int32_t));
        fin[i].ids = ELM_MALLOC((size_t)(max_len + 1) * sizeof(int32_t));
        ok = live[i].ids && next[i].ids && fin[i].ids;
    }
    elm_status s = ok ? ELM_OK : elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
    const double lpen = gp->length_penalty;
    bool done = false;
    for (int32_t step = 0; step < max_len && s == ELM_OK && !done; step++) {
        /* Expand every live beam: its best 2K continuations are enough to fill K live beams. */
        int32_t nc = 0;
        for (int32_t bi = 0; bi < n_live && s == ELM_OK; bi++) {
            int32_t tok = step == 0 ? m->dec_start : live[bi].ids[live[bi].n - 1];
            s = t5_step(m, bi, &tok, 1, logits, NULL, err);
            if (s != ELM_OK) break;
            t5_log_softmax(logits, V, lp);
            /* partial selection of the 2K best tokens of this beam */
            int32_t base = nc;
            for (int32_t t = 0; t < V; t++) {
                float v = live[bi].logp + lp[t];
                int32_t have = nc - base;
                if (have < 2 * K) {
                    cand[nc++] = (t5_cand){v, bi, t};
                } else {
                    int32_t worst = base;
                    for (int32_t c = base + 1; c < nc; c++)
                        if (t5_cand_cmp(&cand[c], &cand[worst]) > 0) worst = c;
                    t5_cand nw = {v, bi, t};
                    if (t5_cand_cmp(&nw, &cand[worst]) < 0) cand[worst] = nw;
                }
            }
        }
        if (s != ELM_OK) break;
        m->n_past++;
        qsort(cand, (size_t)nc, sizeof *cand, t5_cand_cmp);
        int32_t n_next = 0;
        for (int32_t c = 0; c < nc && n_next < K; c++) {
            const t5_hyp *src = &live[cand[c].beam];
            if (cand[c].tok == eos && !gp->ignore_eos) {
                /* a finished hypothesis (only from the top K candidates, as HF) */
                if (c >= K) continue;
                float score = (float)(cand[c].logp / pow((double)src->n + 1.0, lpen));
                t5_add_fin(fin, &n_fin, K, src->ids, src->n, cand[c].logp, score);
                continue;
            }
            memcpy(next[n_next].ids, src->ids, (size_t)src->n * sizeof(int32_t));
            next[n_next].ids[src->n] = cand[c].tok;
            next[n_next].n = src->n + 1;
            next[n_next].logp = cand[c].logp;
            parent[n_next] = cand[c].beam;
            n_next++;
        }
        /* Reorder the caches: new beam i continues the cache of its parent. */
        int32_t spare[T5_MAX_BEAMS], ns = 0;
        bool used[2 * T5_MAX_BEAMS] = {false};
        for (int32_t i = 0; i < m->n_slots; i++) used[m->slot_map[i]] = true;
        for (int32_t i = 0; i < 2 * m->n_slots; i++)
            if (!used[i]) spare[ns++] = i;
        int32_t new_map[T5_MAX_BEAMS];
        for (int32_t i = 0; i < n_next; i++) {
            new_map[i] = spare[i];
            t5_cache_copy(&m->kv[m->slot_map[parent[i]]], &m->kv[new_map[i]], m->n_past);
        }
        /* Unused slots keep distinct caches so the map stays a permutation of 2K caches. */
        for (int32_t i = n_next; i < m->n_slots; i++) new_map[i] = spare[i];
        memcpy(m->slot_map, new_map, (size_t)m->n_slots * sizeof *new_map);
        for (int32_t i = 0; i < n_next; i++) {
            t5_hyp t = live[i];
            live[i] = next[i];
            next[i] = t;
        }
        n_live = n_next;
        if (n_live == 0) break;
        /* Done when no candidate of this step (EOS ones included), divided by the length so
         * far (start token included, the new token not), beats the worst finished one. */
        if (n_fin == K && nc > 0) {
            float worst = fin[0].score;
            for (int32_t f = 1; f < K; f++) worst = fin[f].score < worst ? fin[f].score : worst;
            done = worst >= (float)(cand[0].logp / pow((double)step + 1.0, lpen));
        }
        if (m->n_past >= m->p.n_ctx) break;
    }
    int64_t result = s;
    if (s == ELM_OK) {
        /* Unless done, the live beams compete with the finished ones at their own length. */
        for (int32_t i = 0; i < n_live && !done; i++)
            t5_add_fin(fin, &n_fin, K, live[i].ids, live[i].n, live[i].logp,
                       (float)(live[i].logp / pow((double)live[i].n + 1.0, lpen)));
        int32_t best = 0;
        for (int32_t f = 1; f < n_fin; f++)
            if (fin[f].score > fin[best].score) best = f;
        result = n_fin > 0 ? fin[best].n : 0;
        for (int32_t i = 0; i < result; i++) {
            if (out && i < max_out) out[i] = fin[best].ids[i];
            if (on_token && !on_token(fin[best].ids[i], user)) break;
        }
    }
    for (int i = 0; i < K; i++) ELM_FREE(live[i].ids), ELM_FREE(next[i].ids), ELM_FREE(fin[i].ids);
    ELM_FREE(logits);
    ELM_FREE(lp);
    ELM_FREE(cand);
    ELM_FREE(parent);
    elm_t5_rewind(m);
    return result;
}

int64_t elm_t5_generate(elm_t5 *m, const int32_t *ids, int32_t n, const elm_t5_gen_params *gp, int32_t *out,
                        int32_t max_out, elm_token_fn on_token, void *user, elm_error *err) {
    elm_t5_gen_params defaults = elm_t5_default_gen_params();
    if (!gp) gp = &defaults;
    if (!m) return elm_err_set(err, ELM_ERR_INVALID, "elm_t5_generate: no model");
    if (gp->n_beams < 1 || gp->n_beams > m->n_slots)
        return elm_err_set(err, ELM_ERR_INVALID, "%d beams requested, the model was loaded for %d (elm_t5_params.n_beams)",
                           gp->n_beams, m->n_slots);
    if (gp->n_predict < 0) return elm_err_set(err, ELM_ERR_INVALID, "n_predict < 0");
    elm_status s = elm_t5_encode(m, ids, n, NULL, err);
    if (s != ELM_OK) return s;
    elm_t5_rewind(m);
    if (gp->n_beams == 1) return t5_greedy(m, gp, out, max_out, on_token, user, err);
    return t5_beam(m, gp, out, max_out, on_token, user, err);
}
