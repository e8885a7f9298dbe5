/*
 * model.h — decoder models (internal to libedgelm; the public API is in edgelm.h).
 *
 * arch.c       the one table of architectures (arch.h: how to add one)
 * model.c      hyperparameters and weight tensors of the table's decoders (shape-checked,
 *              pointing into the mapped GGUF file)
 * decoder.c    the one decoder graph, its pieces switched by the architecture
 * shortconv.c  LFM2's short-convolution block
 * kv_cache.c   per-layer K/V tensors and the views a graph reads and writes
 * context.c    elm_ctx: cache + pool + graph buffers; elm_decode, elm_generate
 */
#ifndef EDGELM_MODEL_H
#define EDGELM_MODEL_H

#include "edgelm.h"
#include "common.h"
#include "ggml-lite.h"
#include "vocab.h"

#include <string.h>

#define ELM_ALIGN 64 /* graph buffers: ggml-lite wants 64-byte alignment */
#define ELM_PAD(x, n) (((x) + (n) - 1) / (n) * (n))

#include "arch.h"

typedef struct elm_hparams {
    int32_t n_vocab;     /* rows of token_embd */
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_ff;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_rot;       /* dims rotated by rope (llama) */
    float norm_eps;      /* RMS norm (llama) or LayerNorm (gpt2) epsilon */
    float rope_freq_base;
    float rope_freq_scale;
    gl_rope_mode rope_mode;
    /* Switches of the one decoder graph (decoder.c); zero means "not used". */
    int32_t n_swa;          /* sliding window of the SWA layers (0: every layer global) */
    int32_t swa_pattern;    /* layer il is SWA when il % pattern < pattern - 1 (0: all) */
    float rope_base_swa, rope_scale_swa; /* rope of the SWA layers */
    int32_t nope_step;      /* layer il has no rope when (il + 1) % nope_step == 0 */
    float embd_scale;       /* token embeddings times this */
    float residual_scale;   /* attention and FFN outputs times this before the residual add */
    float attn_scale;       /* softmax scale (0: 1/sqrt(head_dim)) */
    float q_scale;          /* queries times this after rope (gemma; 0: none) */
    float logit_scale;      /* logits divided by this (granite) */
    float attn_softcap, final_softcap; /* tanh soft-capping of scores / logits */
    float rope_attn_factor; /* cos/sin multiplier (LongRoPE; 0: 1) */
    int32_t n_conv;         /* short-convolution taps (lfm2 shortconv.l_cache; 0: none) */
    int32_t n_ctx_orig;     /* LongRoPE: contexts longer than this use the long factors */
} elm_hparams;

/* Weights of one block; NULL for tensors the architecture does not have (or optional ones
 * the file leaves out, like biases of a llama without them). */
typedef struct elm_layer {
    gl_tensor *attn_norm, *attn_norm_b;
    gl_tensor *wq, *wk, *wv, *bq, *bk, *bv;
    gl_tensor *wqkv, *bqkv; /* gpt2: fused [n_embd, 3 n_embd] */
    gl_tensor *wo, *bo;
    gl_tensor *q_norm, *k_norm;        /* per head [head_dim] or full width (olmo2) */
    gl_tensor *conv, *conv_in, *conv_out; /* lfm2 short-convolution block (instead of attention) */
    gl_tensor *attn_post_norm, *ffn_post_norm;
    gl_tensor *ffn_norm, *ffn_norm_b;
    gl_tensor *ffn_gate, *ffn_up, *ffn_down;
    gl_tensor *ffn_gate_b, *ffn_up_b, *ffn_down_b;
} elm_layer;

struct elm_model {
    const elm_arch *arch;
    elm_hparams hp;
    gl_gguf *gguf;
    gl_context *wctx; /* tensor headers of the weights (data stays in the file) */
    elm_vocab *vocab; /* NULL when loaded with no_vocab */
    gl_tensor *tok_embd, *pos_embd;
    gl_tensor *out_norm, *out_norm_b;
    gl_tensor *output; /* == tok_embd when tied */
    gl_tensor *rope_freqs; /* Llama 3.x per-pair frequency divisors [n_rot/2] or NULL */
    gl_tensor *rope_long, *rope_short; /* LongRoPE divisors [n_rot/2] or NULL */
    elm_layer *layers;
    elm_repacked repacked; /* the matrices gl_repack took (empty with no_repack) */
    elm_log_fn log;        /* elm_model_params.log: the model's and its contexts' diagnostics */
    void *log_user;
};

/* What the graph of one decode step is asked for. */
typedef struct elm_graph_req {
    int32_t n_tokens;
    int32_t n_past;
    bool all_logits; /* logits of every token, not only the last */
    bool hidden;     /* mark the n_layer + 1 hidden states as outputs */
} elm_graph_req;

/* Tensors a built graph exposes. */
typedef struct elm_graph_out {
    gl_tensor *ids, *pos;  /* I32 [n_tokens] inputs (the caller points them at its data) */
    gl_tensor *logits;     /* F32 [n_vocab, n_rows] */
    gl_tensor **hidden;    /* n_layer + 1 tensors F32 [n_embd, n_tokens] (when asked) */
} elm_graph_out;

typedef struct elm_kv_cache {
    gl_context *ctx;
    gl_type type_k, type_v; /* F32 or F16 each */
    int32_t n_ctx;
    int32_t n_layer;
    int32_t head_dim, n_head_kv;
    int32_t row;      /* elements per position: head_dim * n_head_kv */
    gl_tensor **k, **v; /* per layer [row, n_ctx] in size, stored head by head (kv_cache.c) */
    /* Short-convolution inputs (lfm2), when the model has them: per layer [n_embd, conv_pad +
     * n_ctx], row conv_pad + p = the block's gated input at position p, rows 0..conv_pad-1
     * zero. The state a convolution needs is the conv_pad rows before a position, so it
     * rewinds with n_past like the K/V cache. */
    gl_tensor **conv;
    int32_t conv_pad, n_embd;
} elm_kv_cache;

/* ---- kv_cache.c ---- */
gl_status elm_kv_init(elm_kv_cache *kv, const elm_hparams *hp, int32_t n_ctx, gl_type type_k,
                      gl_type type_v, gl_error *err);
/* Bytes elm_kv_init allocates for these (0 when a size overflows). */
size_t elm_kv_bytes(const elm_hparams *hp, int32_t n_ctx, gl_type type_k, gl_type type_v);
void elm_kv_free(elm_kv_cache *kv);
/* Graph node writing cur [head_dim, n_head_kv, n] at positions n_past.. of layer il's K (or V
 * with is_v). */
gl_tensor *elm_kv_store(gl_context *ctx, const elm_kv_cache *kv, int il, bool is_v,
                        gl_tensor *cur, int32_t n_past);
/* View [head_dim, n_kv, n_head_kv] of positions 0..n_kv of layer il's K (or V). */
gl_tensor *elm_kv_view(gl_context *ctx, const elm_kv_cache *kv, int il, bool is_v, int32_t n_kv);
/* View [n_embd, conv_pad + n] of layer il's convolution rows for n tokens after n_past, and
 * the node writing cur [n_embd, n] at positions n_past.. (shortconv.c). */
gl_tensor *elm_kv_conv_window(gl_context *ctx, const elm_kv_cache *kv, int il, int32_t n_past, int32_t n);
gl_tensor *elm_kv_conv_store(gl_context *ctx, const elm_kv_cache *kv, int il, gl_tensor *cur, int32_t n_past);
/* Copies positions 0..n_past of every layer's K and V (and convolution rows) from src into
 * dst (same shape). */
void elm_kv_copy(const elm_kv_cache *dst, const elm_kv_cache *src, int32_t n_past);

/* ---- decoder.c ---- */
/* Builds the graph of one decode step into g (whose context is ctx): the K/V stores are
 * expanded first, so attention reads the cache after they ran. */
gl_status elm_decoder_build(const elm_model *m, const elm_kv_cache *kv, gl_context *ctx,
                            gl_graph *g, const elm_graph_req *req, elm_graph_out *out,
                            gl_error *err);
/* Upper bound on tensor headers and graph nodes one decode step needs. */
int32_t elm_decoder_max_nodes(const elm_model *m);
/* One step of n_seq sequences, one token each: row s at position pasts[s] of cache kvs[s]
 * (distinct caches of m's shape); the weights are read once for all rows, the attention
 * (and LFM2's convolution) runs per sequence. out->logits is [n_vocab, n_seq]. */
gl_status elm_decoder_build_batch(const elm_model *m, const elm_kv_cache *const *kvs,
                                  const int32_t *pasts, int32_t n_seq, gl_context *ctx,
                                  gl_graph *g, elm_graph_out *out, gl_error *err);
int32_t elm_decoder_max_nodes_batch(const elm_model *m, int32_t n_seq);
/* ---- shortconv.c ---- */
/* LFM2's gated short-convolution block on cur [n_embd, n] at positions n_past.. of layer il:
 * (b, c, x) = in_proj·cur, y = c * conv(b * x over the last n_conv positions), out_proj·y. */
gl_tensor *elm_shortconv_block(gl_context *ctx, gl_graph *g, const elm_model *m, const elm_kv_cache *kv,
                               int il, gl_tensor *cur, int32_t n_past);

/* Whether layer il of the model uses the sliding window. */
bool elm_layer_is_swa(const elm_hparams *hp, int il);

/* t5.c: relative-position bucket of key - query position (Hugging Face's
 * _relative_position_bucket); internal, checked by tests/test-t5.c. */
int32_t elm_t5_bucket(int32_t rel, bool bidirectional, int32_t n_buckets, int32_t max_distance);

#endif /* EDGELM_MODEL_H */
