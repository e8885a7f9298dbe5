/*
 * model.c — loading a decoder model from a GGUF file.
 *
 * The architecture registry maps general.architecture to the code that reads its
 * hyperparameters (every value range-checked: the file is untrusted) and binds its weights.
 * Weights are tensor headers over the mapped file (gl_new_tensor_with_data): nothing is
 * copied, so loading costs the page faults of the first decode and no memory of its own.
 * Every tensor is checked against the shape the hyperparameters imply, and a mismatch names
 * the tensor.
 */
#include "alloc.h"
#include "model.h"
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MODEL_MAX_LAYERS 1024
#define MODEL_MAX_DIM (1 << 20)

/* ------------------------------------------------------------------------------------------
 * Hyperparameters
 * ---------------------------------------------------------------------------------------- */

struct elm_hp_reader {
    elm_model *m;
    const char *arch; /* key prefix */
    elm_loader l;
};
typedef elm_hp_reader model_loader;

/* Reads "<arch>.<key>" as an integer in [lo, hi]; def < lo means required. */
static int32_t model_get_int(model_loader *ld, const char *key, int64_t lo, int64_t hi,
                             int64_t def) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", ld->arch, key);
    return elm_load_int(&ld->l, full, lo, hi, def);
}

/* Reads "<arch>.<key>" as a finite float > 0; def <= 0 means required. */
static float model_get_float(model_loader *ld, const char *key, double def) {
    if (ld->l.failed) return 0;
    char full[128];
    snprintf(full, sizeof full, "%s.%s", ld->arch, key);
    int64_t i = gl_gguf_find_key(ld->m->gguf, full);
    double v;
    if (i < 0) {
        if (def > 0) return (float)def;
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "model file lacks the required key %s", full);
        return 0;
    }
    if (!gl_gguf_get_f64(ld->m->gguf, i, &v) || !isfinite(v) || v <= 0 || v > 1e30) {
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "key %s must be a positive finite number", full);
        return 0;
    }
    return (float)v;
}

/* An optional float key that may be 0 (missing: def). */
static float model_get_float0(model_loader *ld, const char *key, float def) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", ld->arch, key);
    if (gl_gguf_find_key(ld->m->gguf, full) < 0) return def;
    return model_get_float(ld, key, -1);
}

/* "<arch>.attention.sliding_window_pattern": an integer period, or llama.cpp's per-layer bool
 * array (true = sliding). The array form is kept as a period only when it is periodic with
 * the pattern set_swa_pattern makes; anything else is refused. */
static int32_t model_swa_pattern(model_loader *ld, int32_t def) {
    char full[128];
    snprintf(full, sizeof full, "%s.attention.sliding_window_pattern", ld->arch);
    const gl_gguf *f = ld->m->gguf;
    int64_t i = gl_gguf_find_key(f, full);
    if (i < 0 || ld->l.failed) return def;
    if (gl_gguf_kv_type(f, i) != GL_GGUF_ARRAY) return model_get_int(ld, "attention.sliding_window_pattern", 0, 1 << 16, def);
    const uint64_t n = gl_gguf_arr_n(f, i);
    if (n != (uint64_t)ld->m->hp.n_layer) {
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "%s has %llu entries for %d layers", full,
                      (unsigned long long)n, ld->m->hp.n_layer);
        return 0;
    }
    int32_t period = 0;
    for (uint64_t k = 0; k < n; k++) {
        int64_t v;
        if (!gl_gguf_arr_get_i64(f, i, k, &v)) {
            elm_load_fail(&ld->l, ELM_ERR_FORMAT, "%s must hold booleans", full);
            return 0;
        }
        if (!v && period == 0) period = (int32_t)k + 1;
    }
    if (period == 0) return 0; /* every layer sliding */
    for (uint64_t k = 0; k < n; k++) {
        int64_t v = 0;
        gl_gguf_arr_get_i64(f, i, k, &v);
        if ((v != 0) != ((int32_t)(k % (uint64_t)period) < period - 1)) {
            elm_load_fail(&ld->l, ELM_ERR_UNSUPPORTED, "%s is not periodic (not supported)", full);
            return 0;
        }
    }
    return period;
}

/* Sliding window keys shared by gemma2/gemma3/olmo2. */
static void model_read_swa(model_loader *ld, int32_t def_window, int32_t def_pattern) {
    elm_hparams *hp = &ld->m->hp;
    hp->n_swa = model_get_int(ld, "attention.sliding_window", 0, 1 << 24, def_window);
    hp->rope_base_swa = model_get_float(ld, "rope.freq_base_swa", 10000.0);
    hp->rope_scale_swa = 1.0f;
    if (hp->n_swa > 0) hp->swa_pattern = model_swa_pattern(ld, def_pattern);
}

/* Gemma scales the queries by 1/sqrt(head_dim), or 1/sqrt(n_embd / n_head) for the 27B
 * shapes (llama.cpp picks those by their layer count). */
static void model_gemma_common(model_loader *ld, int32_t n_layer_27b) {
    elm_hparams *hp = &ld->m->hp;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->q_scale = hp->n_layer == n_layer_27b ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                             : 1.0f / sqrtf((float)hp->head_dim);
    hp->attn_scale = 1.0f;
}

void elm_hp_gemma2(elm_hp_reader *ld) {
    elm_hparams *hp = &ld->m->hp;
    model_read_swa(ld, 4096, 2);
    hp->rope_base_swa = model_get_float(ld, "rope.freq_base_swa", hp->rope_freq_base);
    hp->rope_scale_swa = hp->rope_freq_scale;
    hp->attn_softcap = model_get_float(ld, "attn_logit_softcapping", 50.0);
    hp->final_softcap = model_get_float(ld, "final_logit_softcapping", 30.0);
    model_gemma_common(ld, 46);
}

void elm_hp_gemma3(elm_hp_reader *ld) {
    elm_hparams *hp = &ld->m->hp;
    model_read_swa(ld, 0, 6);
    hp->final_softcap = model_get_float0(ld, "final_logit_softcapping", 0.0f);
    model_gemma_common(ld, 62);
}

void elm_hp_granite(elm_hp_reader *ld) {
    elm_hparams *hp = &ld->m->hp;
    hp->logit_scale = model_get_float(ld, "logit_scale", -1);
    hp->residual_scale = model_get_float0(ld, "residual_scale", 0.0f);
    hp->embd_scale = model_get_float0(ld, "embedding_scale", 0.0f);
    hp->attn_scale = model_get_float0(ld, "attention.scale", 0.0f);
}

void elm_hp_olmo2(elm_hp_reader *ld) { model_read_swa(ld, 0, 4); }

void elm_hp_smollm3(elm_hp_reader *ld) { ld->m->hp.nope_step = 4; }

/* Phi-3: LongRoPE's attention factor and original context; llama.cpp b10573 turns Phi's
 * sliding window off (its files' windows are not trusted), so the key is not read. */
void elm_hp_phi3(elm_hp_reader *ld) {
    elm_hparams *hp = &ld->m->hp;
    hp->rope_attn_factor = model_get_float(ld, "rope.scaling.attn_factor", 1.0);
    hp->n_ctx_orig = model_get_int(ld, "rope.scaling.original_context_length", 1, 1 << 24, hp->n_ctx_train);
}

/* "<arch>.attention.head_count_kv" of layer il: the integer, or entry il of llama.cpp's
 * per-layer array (LFM2 writes 0 for its convolution layers); -1 when absent. */
static int64_t model_head_kv_of(model_loader *ld, int il) {
    char full[128];
    snprintf(full, sizeof full, "%s.attention.head_count_kv", ld->arch);
    const gl_gguf *f = ld->m->gguf;
    int64_t i = gl_gguf_find_key(f, full), v = -1;
    if (i < 0) return -1;
    if (gl_gguf_kv_type(f, i) != GL_GGUF_ARRAY) return gl_gguf_get_i64(f, i, &v) ? v : -2;
    if (gl_gguf_arr_n(f, i) != (uint64_t)ld->m->hp.n_layer || !gl_gguf_arr_get_i64(f, i, (uint64_t)il, &v))
        return -2;
    return v;
}

/* The key/value heads of the attention layers: the integer key, or the one nonzero value of
 * the per-layer array (zeros only for short-convolution layers of ELM_F_SHORTCONV
 * architectures). */
static int32_t model_head_count_kv(model_loader *ld) {
    elm_hparams *hp = &ld->m->hp;
    if (ld->l.failed) return 0;
    int64_t kv = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const int64_t v = model_head_kv_of(ld, il);
        if (v == -1) return hp->n_head;
        const bool conv_ok = (ld->m->arch->flags & ELM_F_SHORTCONV) && v == 0;
        if (v < 0 || v > 4096 || (v == 0 && !conv_ok) || (v > 0 && kv > 0 && v != kv)) {
            elm_load_fail(&ld->l, ELM_ERR_FORMAT, "%s.attention.head_count_kv: bad value for layer %d", ld->arch, il);
            return 0;
        }
        if (v > 0) kv = v;
    }
    if (kv == 0) kv = hp->n_head; /* every layer a convolution: the cache shape does not matter */
    return (int32_t)kv;
}

/* LFM2: taps of its short convolutions. */
void elm_hp_lfm2(elm_hp_reader *ld) {
    ld->m->hp.n_conv = model_get_int(ld, "shortconv.l_cache", 2, 64, -1);
}

static void model_read_hparams(model_loader *ld) {
    elm_hparams *hp = &ld->m->hp;
    const uint32_t fl = ld->m->arch->flags;
    const bool gpt2 = fl & ELM_F_POS_EMBD;
    hp->n_ctx_train = model_get_int(ld, "context_length", 1, 1 << 24, gpt2 ? 1024 : 2048);
    hp->n_embd = model_get_int(ld, "embedding_length", 1, MODEL_MAX_DIM, -1);
    hp->n_layer = model_get_int(ld, "block_count", 1, MODEL_MAX_LAYERS, -1);
    hp->n_ff = model_get_int(ld, "feed_forward_length", 1, MODEL_MAX_DIM,
                             gpt2 ? 4 * (int64_t)hp->n_embd : -1);
    hp->n_head = model_get_int(ld, "attention.head_count", 1, 4096, -1);
    hp->n_head_kv = model_head_count_kv(ld);
    if (ld->l.failed) return;
    int64_t head_dim_def = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : -1;
    hp->head_dim = model_get_int(ld, "attention.key_length", 1, 65536, head_dim_def);
    int32_t vlen = model_get_int(ld, "attention.value_length", 1, 65536, hp->head_dim);
    if (ld->l.failed) return;
    if (vlen != hp->head_dim) {
        elm_load_fail(&ld->l, ELM_ERR_UNSUPPORTED, "%s.attention.value_length %d differs from "
                      "key_length %d (not supported)", ld->arch, vlen, hp->head_dim);
        return;
    }
    if (hp->n_head % hp->n_head_kv != 0) {
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "%d attention heads are not a multiple of %d "
                      "key/value heads", hp->n_head, hp->n_head_kv);
        return;
    }
    if (gpt2) {
        if (hp->n_head_kv != hp->n_head || (int64_t)hp->head_dim * hp->n_head != hp->n_embd) {
            elm_load_fail(&ld->l, ELM_ERR_FORMAT, "gpt2: heads (%d x %d) do not tile n_embd %d",
                          hp->n_head, hp->head_dim, hp->n_embd);
            return;
        }
        hp->norm_eps = model_get_float(ld, "attention.layer_norm_epsilon", 1e-5);
        return;
    }
    hp->norm_eps = model_get_float(ld, "attention.layer_norm_rms_epsilon", 1e-5);
    hp->n_rot = model_get_int(ld, "rope.dimension_count", 2, hp->head_dim, hp->head_dim);
    hp->rope_freq_base = model_get_float(ld, "rope.freq_base", 10000.0);
    double scale_factor = 1.0;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", ld->arch);
    int64_t ki = gl_gguf_find_key(ld->m->gguf, key);
    if (!ld->l.failed && ki >= 0 && gl_gguf_kv_type(ld->m->gguf, ki) == GL_GGUF_STRING) {
        gl_str t = gl_gguf_get_str(ld->m->gguf, ki);
        if (gl_str_eq(t, "linear")) {
            scale_factor = model_get_float(ld, "rope.scaling.factor", 1.0);
        } else if (!gl_str_eq(t, "none")) {
            elm_load_fail(&ld->l, ELM_ERR_UNSUPPORTED, "rope scaling type '%.*s' is not supported",
                          (int)(t.len > 32 ? 32 : t.len), t.data);
            return;
        }
    }
    hp->rope_freq_scale = (float)(1.0 / scale_factor);
    if (!ld->l.failed && hp->n_rot % 2 != 0) {
        elm_load_fail(&ld->l, ELM_ERR_FORMAT, "%s.rope.dimension_count %d is odd", ld->arch,
                      hp->n_rot);
    }
    /* Meta/llama2.c pairs are adjacent in llama.cpp's layout (its converter permutes q/k rows);
     * NeoX architectures keep Hugging Face's rotate_half layout. */
    hp->rope_mode = fl & ELM_F_NEOX ? GL_ROPE_NEOX : GL_ROPE_NORMAL;
    if (ld->m->arch->hparams && !ld->l.failed) ld->m->arch->hparams(ld);
}

/* ------------------------------------------------------------------------------------------
 * Tensors (elm_load_tensor checks each against the shape the hyperparameters imply); which
 * ones a block has follows the architecture's switches.
 * ---------------------------------------------------------------------------------------- */

static void model_bind(model_loader *ld) {
    elm_model *m = ld->m;
    const elm_hparams *hp = &m->hp;
    const uint32_t fl = m->arch->flags;
    const bool ln = fl & ELM_F_LAYER_NORM, pre = !(fl & ELM_F_NO_PRE_NORM);
    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    const int64_t nq = (int64_t)hp->head_dim * hp->n_head;
    const int64_t nkv = (int64_t)hp->head_dim * hp->n_head_kv;
    m->tok_embd = elm_load_tensor(&ld->l, true, E, V, "token_embd.weight");
    if (fl & ELM_F_POS_EMBD)
        m->pos_embd = elm_load_tensor(&ld->l, true, E, hp->n_ctx_train, "position_embd.weight");
    /* llama.cpp's LFM2 calls its final norm token_embd_norm */
    m->out_norm = elm_load_tensor(&ld->l, true, E, 0, fl & ELM_F_SHORTCONV ? "token_embd_norm.weight" : "output_norm.weight");
    m->out_norm_b = elm_load_tensor(&ld->l, ln, E, 0, "output_norm.bias");
    m->output = elm_load_tensor(&ld->l, fl & ELM_F_OUTPUT_REQUIRED, E, V, "output.weight");
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    if (fl & ELM_F_ROPE_FREQS)
        m->rope_freqs = elm_load_tensor(&ld->l, false, hp->n_rot / 2, 0, "rope_freqs.weight");
    if (fl & ELM_F_LONGROPE) {
        m->rope_long = elm_load_tensor(&ld->l, false, hp->n_rot / 2, 0, "rope_factors_long.weight");
        m->rope_short = elm_load_tensor(&ld->l, false, hp->n_rot / 2, 0, "rope_factors_short.weight");
    }
    const gl_tensor *ff[3] = {m->rope_freqs, m->rope_long, m->rope_short};
    for (int k = 0; k < 3; k++)
        if (ff[k] && ff[k]->type != GL_TYPE_F32)
            elm_load_fail(&ld->l, ELM_ERR_FORMAT, "rope frequency factors must be F32");
    for (int il = 0; il < hp->n_layer && !ld->l.failed; il++) {
        elm_layer *l = &m->layers[il];
        if (pre) {
            l->attn_norm = elm_load_tensor(&ld->l, true, E, 0, "blk.%d.attn_norm.weight", il);
            l->attn_norm_b = elm_load_tensor(&ld->l, ln, E, 0, "blk.%d.attn_norm.bias", il);
        }
        if ((fl & ELM_F_SHORTCONV) && model_head_kv_of(ld, il) == 0) {
            l->conv = elm_load_tensor(&ld->l, true, hp->n_conv, E, "blk.%d.shortconv.conv.weight", il);
            l->conv_in = elm_load_tensor(&ld->l, true, E, 3 * E, "blk.%d.shortconv.in_proj.weight", il);
            l->conv_out = elm_load_tensor(&ld->l, true, E, E, "blk.%d.shortconv.out_proj.weight", il);
        } else if (fl & ELM_F_FUSED_QKV) {
            l->wqkv = elm_load_tensor(&ld->l, true, E, nq + 2 * nkv, "blk.%d.attn_qkv.weight", il);
            l->bqkv = elm_load_tensor(&ld->l, ln, nq + 2 * nkv, 0, "blk.%d.attn_qkv.bias", il);
        } else {
            const bool qb = fl & ELM_F_QKV_BIAS;
            l->wq = elm_load_tensor(&ld->l, true, E, nq, "blk.%d.attn_q.weight", il);
            l->wk = elm_load_tensor(&ld->l, true, E, nkv, "blk.%d.attn_k.weight", il);
            l->wv = elm_load_tensor(&ld->l, true, E, nkv, "blk.%d.attn_v.weight", il);
            l->bq = elm_load_tensor(&ld->l, qb, nq, 0, "blk.%d.attn_q.bias", il);
            l->bk = elm_load_tensor(&ld->l, qb, nkv, 0, "blk.%d.attn_k.bias", il);
            l->bv = elm_load_tensor(&ld->l, qb, nkv, 0, "blk.%d.attn_v.bias", il);
        }
        if ((fl & (ELM_F_QK_NORM_HEAD | ELM_F_QK_NORM_FULL)) && !l->conv_in) {
            const bool full = fl & ELM_F_QK_NORM_FULL;
            l->q_norm = elm_load_tensor(&ld->l, true, full ? nq : hp->head_dim, 0,
                                        "blk.%d.attn_q_norm.weight", il);
            l->k_norm = elm_load_tensor(&ld->l, true, full ? nkv : hp->head_dim, 0,
                                        "blk.%d.attn_k_norm.weight", il);
        }
        if (!l->conv_in) {
            l->wo = elm_load_tensor(&ld->l, true, nq, E, "blk.%d.attn_output.weight", il);
            l->bo = elm_load_tensor(&ld->l, ln, E, 0, "blk.%d.attn_output.bias", il);
        }
        if (fl & ELM_F_POST_NORM) {
            l->attn_post_norm = elm_load_tensor(&ld->l, true, E, 0, "blk.%d.post_attention_norm.weight", il);
            l->ffn_post_norm = elm_load_tensor(&ld->l, true, E, 0, "blk.%d.post_ffw_norm.weight", il);
        }
        if (pre) {
            l->ffn_norm = elm_load_tensor(&ld->l, true, E, 0, "blk.%d.ffn_norm.weight", il);
            l->ffn_norm_b = elm_load_tensor(&ld->l, ln, E, 0, "blk.%d.ffn_norm.bias", il);
        }
        if (!(fl & (ELM_F_NO_GATE | ELM_F_FUSED_GATE_UP))) {
            l->ffn_gate = elm_load_tensor(&ld->l, true, E, F, "blk.%d.ffn_gate.weight", il);
            l->ffn_gate_b = elm_load_tensor(&ld->l, false, F, 0, "blk.%d.ffn_gate.bias", il);
        }
        const int64_t F_up = fl & ELM_F_FUSED_GATE_UP ? 2 * F : F;
        l->ffn_up = elm_load_tensor(&ld->l, true, E, F_up, "blk.%d.ffn_up.weight", il);
        l->ffn_down = elm_load_tensor(&ld->l, true, F, E, "blk.%d.ffn_down.weight", il);
        l->ffn_up_b = elm_load_tensor(&ld->l, ln, F_up, 0, "blk.%d.ffn_up.bias", il);
        l->ffn_down_b = elm_load_tensor(&ld->l, ln, E, 0, "blk.%d.ffn_down.bias", il);
    }
}

/* ------------------------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------------------------- */

elm_model_params elm_model_default_params(void) {
    elm_model_params p = {.no_vocab = false, .no_repack = false};
    return p;
}

/* The matrices the decoder graph reads through mul_mat: every block's projections and the
 * output matrix — when it is tied, token_embd, which get_rows also reads (it can: a row of the
 * interleaved layout dequantizes to the same floats). An untied token_embd only feeds
 * get_rows, so it stays in the file. */
static elm_status model_repack(elm_model *m, elm_error *err) {
    enum { PER_LAYER = 10 };
    const size_t n = (size_t)m->hp.n_layer * PER_LAYER + 1;
    gl_tensor **w = ELM_CALLOC(n, sizeof *w);
    if (!w) return elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const elm_layer *l = &m->layers[il];
        gl_tensor *const mats[PER_LAYER] = {l->wq,       l->wk,    l->wv,     l->wqkv,    l->wo,
                                            l->ffn_gate, l->ffn_up, l->ffn_down, l->conv_in, l->conv_out};
        for (int j = 0; j < PER_LAYER; j++) w[k++] = mats[j];
    }
    w[k++] = m->output;
    const elm_status st = elm_repack_weights(w, k, m->gguf, &m->repacked, err);
    ELM_FREE(w);
    return st;
}

/* --mlock: the whole mapping first (the repacked matrices' pages are unlocked and released
 * as they are copied), the repacked buffer after. */
static elm_status model_mlock_file(const gl_gguf *f, elm_error *err) {
    gl_error gerr = {0};
    if (gl_gguf_mlock(f, &gerr) != GL_OK) return elm_err_from_gl(err, &gerr);
    return ELM_OK;
}

static elm_model *model_load_gguf(gl_gguf *f, const gl_error *gerr, const elm_model_params *params,
                                  elm_error *err) {
    if (!f) {
        elm_err_from_gl(err, gerr);
        return NULL;
    }
    elm_model_params defaults = elm_model_default_params();
    if (!params) params = &defaults;
    elm_model *m = ELM_CALLOC(1, sizeof *m);
    if (!m) {
        gl_gguf_close(f);
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->gguf = f;
    m->log = params->log;
    m->log_user = params->log_user;
    m->arch = elm_load_arch(f, ELM_FAMILY_DECODER, err);
    if (!m->arch) goto fail;
    model_loader ld = {.m = m, .arch = m->arch->name, .l = {.gguf = f, .err = err}};
    model_read_hparams(&ld);
    /* Rows of token_embd give the vocabulary size of the matrices. */
    m->hp.n_vocab = elm_load_rows(&ld.l, "token_embd.weight", 1 << 24);
    if (ld.l.failed) goto fail;

    m->layers = ELM_CALLOC((size_t)m->hp.n_layer, sizeof *m->layers);
    gl_error gerr2 = {0};
    m->wctx = elm_weight_ctx_new(m->gguf, &gerr2);
    if (!m->layers || !m->wctx) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory for %d layers", m->hp.n_layer);
        goto fail;
    }
    ld.l.wctx = m->wctx;
    model_bind(&ld);
    if (ld.l.failed) goto fail;
    if (params->mlock && model_mlock_file(f, err) != ELM_OK) goto fail;
    if (!params->no_repack && model_repack(m, err) != ELM_OK) goto fail;
    if (params->mlock && m->repacked.buf && mlock(m->repacked.buf, m->repacked.bytes) != 0) {
        elm_err_set(err, ELM_ERR_NOMEM, "cannot lock the %zu MB of repacked weights in memory: %s "
                    "(raise the locked-memory limit, ulimit -l)", m->repacked.bytes >> 20, strerror(errno));
        goto fail;
    }

    if (!params->no_vocab) {
        gl_error verr = {0};
        m->vocab = elm_vocab_load(f, &verr);
        if (!m->vocab) {
            elm_err_set(err, verr.code, "tokenizer: %s", verr.msg);
            goto fail;
        }
        if (elm_vocab_n_tokens(m->vocab) > m->hp.n_vocab) {
            elm_err_set(err, ELM_ERR_FORMAT, "the tokenizer has %d tokens but token_embd only "
                        "%d rows", elm_vocab_n_tokens(m->vocab), m->hp.n_vocab);
            goto fail;
        }
    }
    elm_log(m->log, m->log_user, ELM_LOG_INFO,
            "loaded %s: %d layers, n_embd %d, %d heads (%d kv), n_vocab %d, context %d; %lld tensors, "
            "%.2f MiB of weights, %.2f MiB repacked%s",
            m->arch->name, m->hp.n_layer, m->hp.n_embd, m->hp.n_head, m->hp.n_head_kv, m->hp.n_vocab,
            m->hp.n_ctx_train, (long long)gl_gguf_n_tensors(f),
            (double)(gl_gguf_file_size(f) - gl_gguf_data_offset(f)) / (1 << 20),
            (double)m->repacked.bytes / (1 << 20), m->vocab ? "" : "; no tokenizer");
    return m;
fail:
    elm_model_free(m);
    return NULL;
}

elm_model *elm_model_load(const char *path, const elm_model_params *params, elm_error *err) {
    gl_error gerr = {0};
    gl_gguf *f = gl_gguf_open(path, &gerr);
    return model_load_gguf(f, &gerr, params, err);
}

elm_model *elm_model_load_memory(const void *data, size_t size, const elm_model_params *params,
                                 elm_error *err) {
    gl_error gerr = {0};
    gl_gguf *f = gl_gguf_open_buffer(data, size, &gerr);
    return model_load_gguf(f, &gerr, params, err);
}

void elm_model_free(elm_model *m) {
    if (!m) return;
    elm_vocab_free(m->vocab);
    gl_context_free(m->wctx);
    ELM_FREE(m->repacked.buf);
    ELM_FREE(m->layers);
    gl_gguf_close(m->gguf);
    ELM_FREE(m);
}

const char *elm_model_arch(const elm_model *m) { return m ? m->arch->name : ""; }
int32_t elm_model_n_vocab(const elm_model *m) { return m ? m->hp.n_vocab : 0; }
int32_t elm_model_n_embd(const elm_model *m) { return m ? m->hp.n_embd : 0; }
int32_t elm_model_n_layer(const elm_model *m) { return m ? m->hp.n_layer : 0; }
int32_t elm_model_n_ctx_train(const elm_model *m) { return m ? m->hp.n_ctx_train : 0; }
int64_t elm_model_repacked_bytes(const elm_model *m) { return m ? (int64_t)m->repacked.bytes : 0; }

bool elm_model_get_str(const elm_model *m, const char *key, char *buf, size_t bufsize) {
    if (!m || !buf || bufsize == 0) return false;
    int64_t i = gl_gguf_find_key(m->gguf, key);
    if (i < 0 || gl_gguf_kv_type(m->gguf, i) != GL_GGUF_STRING) return false;
    gl_str s = gl_gguf_get_str(m->gguf, i);
    size_t n = s.len < bufsize - 1 ? (size_t)s.len : bufsize - 1;
    memcpy(buf, s.data, n);
    buf[n] = '\0';
    return true;
}

bool elm_model_chat_template(const elm_model *m, char *buf, size_t size) {
    return elm_model_get_str(m, "tokenizer.chat_template", buf, size);
}

/* ------------------------------------------------------------------------------------------
 * Tokenizer wrappers
 * ---------------------------------------------------------------------------------------- */

bool elm_model_has_vocab(const elm_model *m) { return m && m->vocab; }
int32_t elm_token_bos(const elm_model *m) { return m && m->vocab ? elm_vocab_bos(m->vocab) : -1; }
int32_t elm_token_eos(const elm_model *m) { return m && m->vocab ? elm_vocab_eos(m->vocab) : -1; }
int32_t elm_token_eot(const elm_model *m) { return m && m->vocab ? elm_vocab_eot(m->vocab) : -1; }
bool elm_token_is_eog(const elm_model *m, int32_t id) {
    return m && m->vocab && elm_vocab_is_eog(m->vocab, id);
}
int32_t elm_token_eog_ids(const elm_model *m, int32_t *ids, int32_t max) {
    if (!m || !m->vocab) return 0;
    const int32_t *eog;
    const int32_t n = elm_vocab_eog_ids(m->vocab, &eog);
    for (int32_t i = 0; i < n && i < max; i++) ids[i] = eog[i];
    return n;
}

int64_t elm_tokenize_text(const elm_model *m, const char *text, size_t len, int32_t *ids,
                          int64_t max_ids, bool add_special, bool parse_special, elm_error *err) {
    if (!m || !m->vocab)
        return elm_err_set(err, ELM_ERR_INVALID, "the model was loaded without a tokenizer");
    gl_error gerr = {0};
    int64_t n = elm_tokenize(m->vocab, text, len, ids, max_ids, add_special, parse_special, &gerr);
    if (n < 0) return elm_err_from_gl(err, &gerr);
    return n;
}

int32_t elm_token_piece(const elm_model *m, int32_t id, char *buf, int32_t size,
                        bool render_special) {
    if (!m || !m->vocab) return 0;
    return elm_token_to_piece(m->vocab, id, buf, size, render_special);
}

struct elm_detokenizer {
    elm_detok d;
};

elm_detokenizer *elm_detokenizer_new(const elm_model *m, bool render_special, elm_error *err) {
    if (!m || !m->vocab) {
        elm_err_set(err, ELM_ERR_INVALID, "the model was loaded without a tokenizer");
        return NULL;
    }
    elm_detokenizer *d = ELM_CALLOC(1, sizeof *d);
    if (!d) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    elm_detok_init(&d->d, m->vocab, render_special);
    return d;
}

void elm_detokenizer_free(elm_detokenizer *d) { ELM_FREE(d); }

int32_t elm_detokenizer_push(elm_detokenizer *d, int32_t id, char *out, int32_t cap) {
    return d ? elm_detok_push(&d->d, id, out, cap) : 0;
}

int32_t elm_detokenizer_flush(elm_detokenizer *d, char *out, int32_t cap) {
    return d ? elm_detok_flush(&d->d, out, cap) : 0;
}
