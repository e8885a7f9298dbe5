/*
 * convert_llm.c — decoder architectures → GGUF with llama.cpp's names and keys.
 *
 *   Llama-style checkpoints (model.layers.N.self_attn.q_proj …), one row of cv_archs each:
 *   LlamaForCausalLM, MistralForCausalLM  → "llama"   q/k permuted (cv_permute); Llama 3.x rope
 *                                                      scaling → rope_freqs.weight
 *   Qwen2ForCausalLM / Qwen3ForCausalLM   → "qwen2" / "qwen3" (NeoX: no permutation)
 *   Gemma2ForCausalLM, Gemma3ForCausalLM (and the text part of Gemma3ForConditionalGeneration)
 *                                          → "gemma2" / "gemma3" (norms + 1, four norms a block)
 *   GraniteForCausalLM, SmolLM3ForCausalLM → "granite" / "smollm3" (permuted like llama)
 *   Olmo2ForCausalLM                      → "olmo2"   (post-norms only, full-width q/k norms)
 *   GPT2LMHeadModel                       → arch "gpt2"   (Conv1D [in, out] weights transposed)
 *   llama2.c legacy checkpoints (.bin)    → arch "llama"  (already in adjacent-pair RoPE order)
 * Which architecture a config.json names is asked of the one table (models/common/arch.c).
 *
 * A conversion first builds a plan (one item per output tensor: source, transform, GGUF shape,
 * type), writes the metadata and tensor infos, then streams each tensor through reusable
 * buffers: memory stays bounded by the largest permuted/transposed tensor (attention and MLP
 * matrices) plus a fixed chunk for plain copies.
 */
#include "alloc.h"
#include "arch.h"
#include "convert.h"
#include "convert_plan.h"
#include "json.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cv_hparams {
    char arch[16];
    int64_t n_vocab, n_ctx, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim;
    double eps, rope_theta;
    char rope_scaling[16];
    double rope_factor;
    bool has_rope_factor;
    bool key_length;       /* write attention.key_length / value_length even when implied */
    /* Optional keys, written when > 0 (llama.cpp's names after "<arch>."). */
    double rope_theta_swa, attn_softcap, final_softcap, logit_scale, residual_scale,
        embedding_scale, attention_scale;
    int64_t sliding_window;
    int64_t n_rot;          /* rope.dimension_count (0: head_dim) */
    int64_t n_ctx_orig;     /* rope.scaling.original_context_length (0: not written) */
    double rope_attn_factor; /* rope.scaling.attn_factor (0: not written) */
    /* 1-D F32 tensors computed from config.json (Llama 3.x rope_freqs, Phi-3's LongRoPE
     * factors): name, owned data, and a source the plan reads like a checkpoint tensor. */
    struct {
        char name[32];
        float *data;
        elm_st_tensor src;
    } gen[2];
    int n_gen;
    int32_t *kv_per_layer;  /* LFM2: head_count_kv per layer (0: convolution), owned; NULL: one value */
    int64_t conv_l;         /* LFM2: shortconv.l_cache */
} cv_hparams;

typedef elm_cv_plan cv_job;

static gl_status cv_add(cv_job *j, const char *name, const elm_st_tensor *src, int64_t rows, int64_t cols,
                        elm_cv_xform xf, int64_t heads) {
    return elm_cv_plan_add(j, name, src, rows, cols, xf, heads, false);
}

/* Writes metadata (general, arch, tokenizer), declares the tensors and streams them. */
static gl_status cv_write(cv_job *j, const cv_hparams *hp, const elm_cv_vocab *voc, const char *name,
                          elm_convert_stats *stats) {
    gl_error *err = j->err;
    gl_gguf_writer *w = elm_cv_plan_open(j, hp->arch, name);
    if (!w) return err ? err->code : GL_ERR_IO;
    const char *a = hp->arch;
    char key[96];
    gl_status s = GL_OK;
#define CV_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
#define CV_U32(k, v) \
    if (s == GL_OK) s = gl_gguf_w_kv_u32(w, k, (uint32_t)(v))
#define CV_F32(k, v) \
    if (s == GL_OK) s = gl_gguf_w_kv_f32(w, k, (float)(v))
    CV_U32(CV_KEY("vocab_size"), hp->n_vocab);
    CV_U32(CV_KEY("context_length"), hp->n_ctx);
    CV_U32(CV_KEY("embedding_length"), hp->n_embd);
    CV_U32(CV_KEY("block_count"), hp->n_layer);
    CV_U32(CV_KEY("feed_forward_length"), hp->n_ff);
    CV_U32(CV_KEY("attention.head_count"), hp->n_head);
    if (hp->kv_per_layer && s == GL_OK)
        s = gl_gguf_w_kv_arr(w, CV_KEY("attention.head_count_kv"), GL_GGUF_INT32, hp->kv_per_layer, (uint64_t)hp->n_layer);
    if (hp->conv_l > 0) CV_U32(CV_KEY("shortconv.l_cache"), hp->conv_l);
    if (strcmp(a, "gpt2")) {
        if (!hp->kv_per_layer) CV_U32(CV_KEY("attention.head_count_kv"), hp->n_head_kv);
        CV_F32(CV_KEY("attention.layer_norm_rms_epsilon"), hp->eps);
        CV_F32(CV_KEY("rope.freq_base"), hp->rope_theta);
        CV_U32(CV_KEY("rope.dimension_count"), hp->n_rot > 0 ? hp->n_rot : hp->head_dim);
        if (hp->n_ctx_orig > 0) CV_U32(CV_KEY("rope.scaling.original_context_length"), hp->n_ctx_orig);
        if (hp->rope_attn_factor > 0) CV_F32(CV_KEY("rope.scaling.attn_factor"), hp->rope_attn_factor);
        if (hp->key_length || hp->head_dim * hp->n_head != hp->n_embd) {
            CV_U32(CV_KEY("attention.key_length"), hp->head_dim);
            CV_U32(CV_KEY("attention.value_length"), hp->head_dim);
        }
        if (hp->has_rope_factor) {
            if (s == GL_OK) s = gl_gguf_w_kv_str(w, CV_KEY("rope.scaling.type"), hp->rope_scaling);
            CV_F32(CV_KEY("rope.scaling.factor"), hp->rope_factor);
        }
        if (hp->rope_theta_swa > 0) CV_F32(CV_KEY("rope.freq_base_swa"), hp->rope_theta_swa);
        if (hp->sliding_window > 0) CV_U32(CV_KEY("attention.sliding_window"), hp->sliding_window);
        if (hp->attn_softcap > 0) CV_F32(CV_KEY("attn_logit_softcapping"), hp->attn_softcap);
        if (hp->final_softcap > 0) CV_F32(CV_KEY("final_logit_softcapping"), hp->final_softcap);
        if (hp->logit_scale > 0) CV_F32(CV_KEY("logit_scale"), hp->logit_scale);
        if (hp->residual_scale > 0) CV_F32(CV_KEY("residual_scale"), hp->residual_scale);
        if (hp->embedding_scale > 0) CV_F32(CV_KEY("embedding_scale"), hp->embedding_scale);
        if (hp->attention_scale > 0) CV_F32(CV_KEY("attention.scale"), hp->attention_scale);
    } else {
        CV_F32(CV_KEY("attention.layer_norm_epsilon"), hp->eps);
    }
#undef CV_KEY
#undef CV_U32
#undef CV_F32
    if (s != GL_OK) gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    if (s == GL_OK) s = elm_cv_vocab_write(w, voc, err);
    if (s != GL_OK) {
        gl_gguf_writer_discard(w);
        return s;
    }
    s = elm_cv_plan_write(j, w, a, stats);
    if (s == GL_OK && stats) stats->n_vocab = voc->n_tokens;
    return s;
}

/* ---- Hugging Face config ---- */

static bool cv_cfg_int(const elm_json *cfg, const char *key, int64_t *out, int64_t lo, int64_t hi) {
    int64_t v;
    if (!elm_json_get_int(cfg, key, &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

#define CV_MAX_DIM ((int64_t)1 << 24)

/* Reads the hyper-parameters of the llama family; refuses missing or absurd values. */
static gl_status cv_llama_hparams(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    if (!cv_cfg_int(cfg, "hidden_size", &hp->n_embd, 1, CV_MAX_DIM) ||
        !cv_cfg_int(cfg, "num_hidden_layers", &hp->n_layer, 1, 4096) ||
        !cv_cfg_int(cfg, "num_attention_heads", &hp->n_head, 1, 65536) ||
        !cv_cfg_int(cfg, "intermediate_size", &hp->n_ff, 1, CV_MAX_DIM) ||
        !cv_cfg_int(cfg, "vocab_size", &hp->n_vocab, 1, CV_MAX_DIM))
        return gl_error_set(err, GL_ERR_FORMAT,
                            "config.json: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size "
                            "and vocab_size must be positive integers");
    hp->n_head_kv = hp->n_head;
    if (elm_json_get(cfg, "num_key_value_heads") && !elm_json_is(elm_json_get(cfg, "num_key_value_heads"), ELM_JSON_NULL) &&
        !cv_cfg_int(cfg, "num_key_value_heads", &hp->n_head_kv, 1, hp->n_head))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad num_key_value_heads");
    if (hp->n_head % hp->n_head_kv)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: %lld heads do not split into %lld key/value heads",
                            (long long)hp->n_head, (long long)hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    const elm_json *hd = elm_json_get(cfg, "head_dim");
    if (hd && !elm_json_is(hd, ELM_JSON_NULL) && !cv_cfg_int(cfg, "head_dim", &hp->head_dim, 1, CV_MAX_DIM))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad head_dim");
    if (hp->head_dim < 2 || hp->head_dim % 2)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: head dimension %lld is not even",
                            (long long)hp->head_dim);
    hp->n_ctx = 2048; /* only when config.json does not say */
    const elm_json *mpe = elm_json_get(cfg, "max_position_embeddings");
    if (mpe && !elm_json_is(mpe, ELM_JSON_NULL) && !cv_cfg_int(cfg, "max_position_embeddings", &hp->n_ctx, 1, 1 << 24))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: max_position_embeddings must be an integer in 1..%d",
                            1 << 24);
    hp->eps = 1e-6;
    elm_json_get_num(cfg, "rms_norm_eps", &hp->eps);
    hp->rope_theta = 10000.0;
    elm_json_get_num(cfg, "rope_theta", &hp->rope_theta);
    if (!(hp->eps > 0) || !(hp->rope_theta > 0))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: rms_norm_eps and rope_theta must be positive");
    return GL_OK;
}

/* A computed 1-D F32 tensor `name` of n elements for the plan; NULL when out of memory. */
static float *cv_gen(cv_hparams *hp, const char *name, int64_t n, gl_error *err) {
    if (hp->n_gen == 2) {
        gl_error_set(err, GL_ERR_INVALID, "too many computed tensors");
        return NULL;
    }
    float *d = ELM_CALLOC((size_t)n, sizeof(float));
    if (!d) {
        gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int k = hp->n_gen++;
    snprintf(hp->gen[k].name, sizeof hp->gen[k].name, "%s", name);
    hp->gen[k].data = d;
    elm_st_tensor *t = &hp->gen[k].src;
    memset(t, 0, sizeof *t);
    t->name = hp->gen[k].name;
    t->dtype = ELM_ST_F32;
    snprintf(t->dtype_name, sizeof t->dtype_name, "F32");
    t->n_dims = 1;
    t->shape[0] = n;
    t->n_elements = n;
    t->data = d;
    t->nbytes = (uint64_t)n * sizeof(float);
    return d;
}

/* Llama 3.x rope scaling as llama.cpp's converter stores it: one divisor per rotary pair,
 * 1 for high frequencies, `factor` for low ones, a smooth blend between. */
static gl_status cv_llama3_factors(const elm_json *rs, cv_hparams *hp, gl_error *err) {
    double factor = 8.0, lo = 1.0, hi = 4.0, old_ctx = 8192.0;
    elm_json_get_num(rs, "factor", &factor);
    elm_json_get_num(rs, "low_freq_factor", &lo);
    elm_json_get_num(rs, "high_freq_factor", &hi);
    elm_json_get_num(rs, "original_max_position_embeddings", &old_ctx);
    if (!(factor > 0) || !(lo > 0) || !(hi > lo) || !(old_ctx > 0))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad llama3 rope_scaling values");
    const int64_t half = hp->head_dim / 2;
    float *fr = cv_gen(hp, "rope_freqs.weight", half, err);
    if (!fr) return GL_ERR_NOMEM;
    const double lo_wl = old_ctx / lo, hi_wl = old_ctx / hi;
    for (int64_t i = 0; i < half; i++) {
        const float freq = 1.0f / powf((float)hp->rope_theta, (float)(2 * i) / (float)hp->head_dim);
        const double wl = 2.0 * 3.14159265358979323846 / freq;
        double f;
        if (wl < hi_wl) f = 1.0;
        else if (wl > lo_wl) f = factor;
        else {
            const double smooth = (old_ctx / wl - lo) / (hi - lo);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        fr[i] = (float)f;
    }
    return GL_OK;
}

static gl_status cv_rope_scaling(const cv_job *j, const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    const elm_json *rs = elm_json_get(cfg, "rope_scaling");
    if (!rs || elm_json_is(rs, ELM_JSON_NULL)) return GL_OK;
    const char *type = elm_json_get_str(rs, "rope_type");
    if (!type) type = elm_json_get_str(rs, "type");
    double f;
    if (type && !strcmp(type, "linear") && elm_json_get_num(rs, "factor", &f) && f > 0) {
        snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "linear");
        hp->rope_factor = f;
        hp->has_rope_factor = true;
        return GL_OK;
    }
    if (type && !strcmp(type, "llama3") && !strcmp(hp->arch, "llama")) return cv_llama3_factors(rs, hp, err);
    if (type && !strcmp(type, "default")) return GL_OK;
    return gl_error_set(err, GL_ERR_UNSUPPORTED, "config.json: rope_scaling type '%s' is not supported",
                        type ? type : "?");
}

/* ---- the Llama-style architectures: one row each ---- */

typedef struct cv_norm {
    const char *hf, *gguf; /* "model.layers.N.<hf>" → "blk.N.<gguf>" */
} cv_norm;

typedef struct cv_arch {
    const char *arch;
    bool permute;       /* q/k rows to adjacent-pair rope order (llama.cpp's NORM rope) */
    float norm_add;     /* added to every norm weight (Gemma stores w - 1) */
    bool skip_lm_head;  /* llama.cpp ignores lm_head (gemma2) */
    bool fused;         /* qkv_proj and gate_up_proj (phi3), kept fused */
    cv_norm norms[4];
    /* the architecture's own keys (and its rope scaling, when it reads rope_scaling itself) */
    gl_status (*extras)(const elm_json *cfg, cv_hparams *hp, gl_error *err);
    bool own_rope;
} cv_arch;

static double cv_num(const elm_json *cfg, const char *key, double def) {
    double v;
    return elm_json_get_num(cfg, key, &v) ? v : def;
}

static gl_status cv_gemma2_keys(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    (void)err;
    hp->key_length = true;
    hp->attn_softcap = cv_num(cfg, "attn_logit_softcapping", 0);
    hp->final_softcap = cv_num(cfg, "final_logit_softcapping", 0);
    hp->sliding_window = (int64_t)cv_num(cfg, "sliding_window", 0);
    return GL_OK;
}

static gl_status cv_gemma3_keys(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    (void)err;
    hp->key_length = true;
    hp->rope_theta = cv_num(cfg, "rope_theta", 1000000.0);
    hp->rope_theta_swa = cv_num(cfg, "rope_local_base_freq", 0);
    hp->final_softcap = cv_num(cfg, "final_logit_softcapping", 0);
    if (cv_num(cfg, "sliding_window_pattern", 0) != 1) hp->sliding_window = (int64_t)cv_num(cfg, "sliding_window", 0);
    return GL_OK;
}

static gl_status cv_granite_keys(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    (void)err;
    hp->attention_scale = cv_num(cfg, "attention_multiplier", 0);
    hp->embedding_scale = cv_num(cfg, "embedding_multiplier", 0);
    hp->residual_scale = cv_num(cfg, "residual_multiplier", 0);
    hp->logit_scale = cv_num(cfg, "logits_scaling", 0);
    return GL_OK;
}

/* Phi-3: partial rotary, LongRoPE factors and attention factor as llama.cpp's converter
 * writes them (rope_dims = int(partial_rotary_factor * n_embd) / n_head; attn_factor =
 * sqrt(1 + ln(max_pos / orig) / ln(orig)) for longrope). */
static gl_status cv_phi3_keys(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    const elm_json *rs = elm_json_get(cfg, "rope_scaling");
    if (rs && elm_json_is(rs, ELM_JSON_NULL)) rs = NULL;
    double orig = cv_num(cfg, "original_max_position_embeddings", 0);
    if (rs) orig = cv_num(rs, "original_max_position_embeddings", orig);
    if (!(orig >= 1))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: Phi-3 needs original_max_position_embeddings");
    hp->n_ctx_orig = (int64_t)orig;
    const double rot = cv_num(cfg, "partial_rotary_factor", 1.0);
    hp->n_rot = (int64_t)(rot * (double)hp->n_embd) / hp->n_head;
    if (hp->n_rot < 2 || hp->n_rot % 2 || hp->n_rot > hp->head_dim)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: partial_rotary_factor %g gives %lld rotary dims", rot,
                            (long long)hp->n_rot);
    const elm_json *lf = rs ? elm_json_get(rs, "long_factor") : NULL, *sf = rs ? elm_json_get(rs, "short_factor") : NULL;
    if (!lf || elm_json_count(lf) == 0) return GL_OK;
    const char *type = elm_json_get_str(rs, "type");
    if (!type) type = elm_json_get_str(rs, "rope_type");
    if (!type || (strcmp(type, "longrope") && strcmp(type, "su")))
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "config.json: Phi-3 rope_scaling type '%s' is not supported",
                            type ? type : "?");
    const int64_t half = hp->n_rot / 2;
    if (!sf || (int64_t)elm_json_count(lf) != half || (int64_t)elm_json_count(sf) != half)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: long_factor and short_factor must have %lld entries",
                            (long long)half);
    const double scale = (double)hp->n_ctx / orig;
    hp->rope_attn_factor = scale > 1.0 ? sqrt(1.0 + log(scale) / log(orig)) : 1.0;
    const elm_json *lists[2] = {lf, sf};
    static const char *const names[2] = {"rope_factors_long.weight", "rope_factors_short.weight"};
    for (int k = 0; k < 2; k++) {
        float *d = cv_gen(hp, names[k], half, err);
        if (!d) return GL_ERR_NOMEM;
        for (int64_t i = 0; i < half; i++) {
            const elm_json *v = elm_json_at(lists[k], (size_t)i);
            if (!v || !elm_json_is(v, ELM_JSON_NUMBER))
                return gl_error_set(err, GL_ERR_FORMAT, "config.json: rope factors must be numbers");
            d[i] = (float)v->num;
        }
    }
    return GL_OK;
}

/* LFM2: which layers are convolutions (layer_types), the short-convolution length, and the
 * FFN width llama.cpp's converter derives (block_auto_adjust_ff_dim: 2/3, multiplier,
 * rounded up to block_multiple_of). */
static gl_status cv_lfm2_keys(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    const elm_json *types = elm_json_get(cfg, "layer_types");
    if ((int64_t)elm_json_count(types) != hp->n_layer)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: layer_types must list %lld layers", (long long)hp->n_layer);
    hp->kv_per_layer = ELM_CALLOC((size_t)hp->n_layer, sizeof *hp->kv_per_layer);
    if (!hp->kv_per_layer) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const char *t = elm_json_str(elm_json_at(types, (size_t)l));
        hp->kv_per_layer[l] = t && !strcmp(t, "conv") ? 0 : (int32_t)hp->n_head_kv;
    }
    hp->conv_l = (int64_t)cv_num(cfg, "conv_L_cache", 0);
    if (hp->conv_l < 2 || hp->conv_l > 64) return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad conv_L_cache");
    hp->eps = cv_num(cfg, "norm_eps", hp->eps);
    double ff = cv_num(cfg, "block_ff_dim", (double)hp->n_ff);
    bool adjust = false;
    elm_json_get_bool(cfg, "block_auto_adjust_ff_dim", &adjust);
    if (adjust) {
        int64_t f = (int64_t)(2 * ff / 3);
        const elm_json *mul = elm_json_get(cfg, "block_ffn_dim_multiplier");
        if (mul && elm_json_is(mul, ELM_JSON_NUMBER)) f = (int64_t)(mul->num * (double)f);
        const int64_t m = (int64_t)cv_num(cfg, "block_multiple_of", 1);
        if (m < 1) return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad block_multiple_of");
        ff = (double)(m * ((f + m - 1) / m));
    }
    hp->n_ff = (int64_t)ff;
    return GL_OK;
}

#define CV_LLAMA_NORMS {{"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"}}
#define CV_GEMMA_NORMS                                                                     \
    {{"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "post_attention_norm"}, \
     {"pre_feedforward_layernorm", "ffn_norm"}, {"post_feedforward_layernorm", "post_ffw_norm"}}

static const cv_arch cv_archs[] = {
    {"llama", true, 0.0f, false, false, CV_LLAMA_NORMS, NULL, false},
    {"qwen2", false, 0.0f, false, false, CV_LLAMA_NORMS, NULL, false},
    {"qwen3", false, 0.0f, false, false, CV_LLAMA_NORMS, NULL, false},
    {"gemma2", false, 1.0f, true, false, CV_GEMMA_NORMS, cv_gemma2_keys, false},
    {"gemma3", false, 1.0f, false, false, CV_GEMMA_NORMS, cv_gemma3_keys, false},
    {"granite", true, 0.0f, false, false, CV_LLAMA_NORMS, cv_granite_keys, false},
    {"smollm3", true, 0.0f, false, false, CV_LLAMA_NORMS, NULL, false},
    {"olmo2", false, 0.0f, false, false,
     {{"post_attention_layernorm", "post_attention_norm"}, {"post_feedforward_layernorm", "post_ffw_norm"}}, NULL, false},
    {"phi3", false, 0.0f, false, true, CV_LLAMA_NORMS, cv_phi3_keys, true},
    {"lfm2", false, 0.0f, false, false, {{NULL, NULL}}, cv_lfm2_keys, false}, /* cv_plan_lfm2 */
};

static const cv_arch *cv_arch_row(const char *arch) {
    for (size_t k = 0; k < sizeof cv_archs / sizeof cv_archs[0]; k++)
        if (!strcmp(cv_archs[k].arch, arch)) return &cv_archs[k];
    return NULL;
}

/* Where the decoder's tensors live: "model." for the CausalLM classes; the text part of
 * Gemma3ForConditionalGeneration is under "language_model.model." or "model.language_model.". */
static const char *cv_prefix(const elm_cv_source *st) {
    static const char *const prefixes[] = {"model.", "language_model.model.", "model.language_model."};
    char name[96];
    for (size_t k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%sembed_tokens.weight", prefixes[k]);
        if (elm_cv_source_find(st, name)) return prefixes[k];
    }
    return "model.";
}

static const elm_st_tensor *cv_find_p(const elm_cv_source *st, const char *prefix, const char *fmt, int64_t l) {
    char name[256], full[300];
    snprintf(name, sizeof name, fmt, (long long)l);
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return elm_cv_source_find(st, full);
}

static const elm_st_tensor *cv_need_p(const elm_cv_source *st, const char *prefix, gl_error *err, const char *fmt,
                                      int64_t l) {
    const elm_st_tensor *t = cv_find_p(st, prefix, fmt, l);
    if (!t) {
        char name[256];
        snprintf(name, sizeof name, fmt, (long long)l);
        gl_error_set(err, GL_ERR_FORMAT, "tensor %s%s is missing from the checkpoint", prefix, name);
    }
    return t;
}

/* Adds a norm (1-D) with the architecture's shift. */
static gl_status cv_add_norm(cv_job *j, const char *name, const elm_st_tensor *t, int64_t n, float add) {
    gl_status s = cv_add(j, name, t, n, 0, ELM_CV_COPY, 0);
    if (s == GL_OK) j->items[j->n_items - 1].add = add;
    return s;
}

static gl_status cv_plan_llama(cv_job *j, const elm_cv_source *st, const cv_hparams *hp, const cv_arch *ca) {
    gl_error *err = j->err;
    const bool permute = ca->permute;
    const char *pre = cv_prefix(st);
    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, Dq = hp->n_head * hp->head_dim,
                  Dkv = hp->n_head_kv * hp->head_dim;
    const elm_st_tensor *t;
    gl_status s;
    if (!(t = cv_need_p(st, pre, err, "embed_tokens.weight", 0))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "token_embd.weight", t, V, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    for (int k = 0; k < hp->n_gen; k++)
        if ((s = cv_add(j, hp->gen[k].name, &hp->gen[k].src, hp->gen[k].src.shape[0], 0, ELM_CV_COPY, 0)) != GL_OK)
            return s;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        char nm[GL_MAX_NAME];
        static const struct {
            const char *src, *dst;
            int kind; /* 1 q, 2 k, 3 v, 4 o, 5 gate/up, 6 down */
        } map[] = {
            {"layers.%lld.self_attn.q_proj.weight", "attn_q.weight", 1},
            {"layers.%lld.self_attn.k_proj.weight", "attn_k.weight", 2},
            {"layers.%lld.self_attn.v_proj.weight", "attn_v.weight", 3},
            {"layers.%lld.self_attn.o_proj.weight", "attn_output.weight", 4},
            {"layers.%lld.mlp.gate_proj.weight", "ffn_gate.weight", 5},
            {"layers.%lld.mlp.up_proj.weight", "ffn_up.weight", 5},
            {"layers.%lld.mlp.down_proj.weight", "ffn_down.weight", 6},
        };
        for (size_t k = 0; k < sizeof ca->norms / sizeof ca->norms[0] && ca->norms[k].hf; k++) {
            char src[96];
            snprintf(src, sizeof src, "layers.%%lld.%s.weight", ca->norms[k].hf);
            if (!(t = cv_need_p(st, pre, err, src, l))) return GL_ERR_FORMAT;
            snprintf(nm, sizeof nm, "blk.%lld.%s.weight", (long long)l, ca->norms[k].gguf);
            if ((s = cv_add_norm(j, nm, t, E, ca->norm_add)) != GL_OK) return s;
        }
        for (size_t k = 0; ca->fused && k < 4; k++) { /* phi3: qkv and gate_up stay fused */
            static const char *const fmap[4][2] = {{"layers.%lld.self_attn.qkv_proj.weight", "attn_qkv.weight"},
                                                   {"layers.%lld.self_attn.o_proj.weight", "attn_output.weight"},
                                                   {"layers.%lld.mlp.gate_up_proj.weight", "ffn_up.weight"},
                                                   {"layers.%lld.mlp.down_proj.weight", "ffn_down.weight"}};
            const int64_t rows[4] = {Dq + 2 * Dkv, E, 2 * F, E}, cols[4] = {E, Dq, E, F};
            if (!(t = cv_need_p(st, pre, err, fmap[k][0], l))) return GL_ERR_FORMAT;
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, fmap[k][1]);
            if ((s = cv_add(j, nm, t, rows[k], cols[k], ELM_CV_COPY, 0)) != GL_OK) return s;
        }
        for (size_t k = 0; !ca->fused && k < sizeof map / sizeof map[0]; k++) {
            if (!(t = cv_need_p(st, pre, err, map[k].src, l))) return GL_ERR_FORMAT;
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, map[k].dst);
            switch (map[k].kind) {
            case 1: s = cv_add(j, nm, t, Dq, E, permute ? ELM_CV_PERMUTE : ELM_CV_COPY, hp->n_head); break;
            case 2: s = cv_add(j, nm, t, Dkv, E, permute ? ELM_CV_PERMUTE : ELM_CV_COPY, hp->n_head_kv); break;
            case 3: s = cv_add(j, nm, t, Dkv, E, ELM_CV_COPY, 0); break;
            case 4: s = cv_add(j, nm, t, E, Dq, ELM_CV_COPY, 0); break;
            case 5: s = cv_add(j, nm, t, F, E, ELM_CV_COPY, 0); break;
            default: s = cv_add(j, nm, t, E, F, ELM_CV_COPY, 0); break;
            }
            if (s != GL_OK) return s;
        }
        /* q/k norms: per head [head_dim] (qwen3, gemma3) or over all heads (olmo2). */
        static const char *const qk[2][2] = {{"layers.%lld.self_attn.q_norm.weight", "attn_q_norm.weight"},
                                             {"layers.%lld.self_attn.k_norm.weight", "attn_k_norm.weight"}};
        for (int k = 0; k < 2; k++) {
            if (!(t = cv_find_p(st, pre, qk[k][0], l))) continue;
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, qk[k][1]);
            const int64_t full = k == 0 ? Dq : Dkv;
            if ((s = cv_add_norm(j, nm, t, t->shape[0] == full ? full : hp->head_dim, ca->norm_add)) != GL_OK) return s;
        }
        /* Optional biases (Qwen2 q/k/v; Llama with attention_bias / mlp_bias). */
        static const struct {
            const char *src, *dst;
            int kind; /* 1 q, 2 k, 3 v, 4 o / down, 5 gate/up */
        } bias[] = {
            {"layers.%lld.self_attn.q_proj.bias", "attn_q.bias", 1},
            {"layers.%lld.self_attn.k_proj.bias", "attn_k.bias", 2},
            {"layers.%lld.self_attn.v_proj.bias", "attn_v.bias", 3},
            {"layers.%lld.self_attn.o_proj.bias", "attn_output.bias", 4},
            {"layers.%lld.mlp.gate_proj.bias", "ffn_gate.bias", 5},
            {"layers.%lld.mlp.up_proj.bias", "ffn_up.bias", 5},
            {"layers.%lld.mlp.down_proj.bias", "ffn_down.bias", 4},
        };
        for (size_t k = 0; k < sizeof bias / sizeof bias[0]; k++) {
            if (!(t = cv_find_p(st, pre, bias[k].src, l))) continue;
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, bias[k].dst);
            int64_t n = bias[k].kind == 1 ? Dq : bias[k].kind <= 3 ? Dkv : bias[k].kind == 4 ? E : F;
            /* A bias permutes like a weight with one column. */
            s = cv_add(j, nm, t, n, 0, ELM_CV_COPY, 0);
            if (s == GL_OK && permute && (bias[k].kind == 1 || bias[k].kind == 2)) {
                j->items[j->n_items - 1].xf = ELM_CV_PERMUTE;
                j->items[j->n_items - 1].perm_heads = bias[k].kind == 1 ? hp->n_head : hp->n_head_kv;
            }
            if (s != GL_OK) return s;
        }
    }
    if (!(t = cv_need_p(st, pre, err, "norm.weight", 0))) return GL_ERR_FORMAT;
    if ((s = cv_add_norm(j, "output_norm.weight", t, E, ca->norm_add)) != GL_OK) return s;
    if (ca->skip_lm_head) return GL_OK;
    if ((t = elm_cv_source_find(st, "lm_head.weight")) != NULL || (t = elm_cv_source_find(st, "language_model.lm_head.weight")) != NULL)
        if ((s = cv_add(j, "output.weight", t, V, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    return GL_OK;
}

/* LFM2: attention layers named like Llama's but for out_proj, q/k_layernorm and the
 * feed_forward.w1/w3/w2 FFN; convolution layers conv.in_proj, conv.out_proj and conv.conv
 * ([n_embd, 1, L], stored squeezed as [L, n_embd]). */
static gl_status cv_plan_lfm2(cv_job *j, const elm_cv_source *st, const cv_hparams *hp, elm_st_tensor *squeezed) {
    gl_error *err = j->err;
    const char *pre = "model.";
    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, Dq = hp->n_head * hp->head_dim,
                  Dkv = hp->n_head_kv * hp->head_dim;
    const elm_st_tensor *t;
    gl_status s;
    char nm[GL_MAX_NAME];
    if (!(t = cv_need_p(st, pre, err, "embed_tokens.weight", 0))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "token_embd.weight", t, V, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const bool conv = hp->kv_per_layer[l] == 0;
        struct {
            const char *src, *dst;
            int64_t rows, cols;
        } const att[] = {
            {"layers.%lld.self_attn.q_proj.weight", "attn_q.weight", Dq, E},
            {"layers.%lld.self_attn.k_proj.weight", "attn_k.weight", Dkv, E},
            {"layers.%lld.self_attn.v_proj.weight", "attn_v.weight", Dkv, E},
            {"layers.%lld.self_attn.out_proj.weight", "attn_output.weight", E, Dq},
            {"layers.%lld.self_attn.q_layernorm.weight", "attn_q_norm.weight", hp->head_dim, 0},
            {"layers.%lld.self_attn.k_layernorm.weight", "attn_k_norm.weight", hp->head_dim, 0},
        }, cv[] = {
            {"layers.%lld.conv.in_proj.weight", "shortconv.in_proj.weight", 3 * E, E},
            {"layers.%lld.conv.out_proj.weight", "shortconv.out_proj.weight", E, E},
        }, common[] = {
            {"layers.%lld.operator_norm.weight", "attn_norm.weight", E, 0},
            {"layers.%lld.ffn_norm.weight", "ffn_norm.weight", E, 0},
            {"layers.%lld.feed_forward.w1.weight", "ffn_gate.weight", F, E},
            {"layers.%lld.feed_forward.w3.weight", "ffn_up.weight", F, E},
            {"layers.%lld.feed_forward.w2.weight", "ffn_down.weight", E, F},
        };
        const size_t n_own = conv ? 2 : 6;
        for (size_t k = 0; k < n_own + 5; k++) {
            const char *src = k < n_own ? (conv ? cv[k].src : att[k].src) : common[k - n_own].src;
            const char *dst = k < n_own ? (conv ? cv[k].dst : att[k].dst) : common[k - n_own].dst;
            const int64_t rows = k < n_own ? (conv ? cv[k].rows : att[k].rows) : common[k - n_own].rows;
            const int64_t cols = k < n_own ? (conv ? cv[k].cols : att[k].cols) : common[k - n_own].cols;
            if (!(t = cv_need_p(st, pre, err, src, l))) return GL_ERR_FORMAT;
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, dst);
            if ((s = cv_add(j, nm, t, rows, cols, ELM_CV_COPY, 0)) != GL_OK) return s;
        }
        if (!conv) continue;
        if (!(t = cv_need_p(st, pre, err, "layers.%lld.conv.conv.weight", l))) return GL_ERR_FORMAT;
        if (t->n_dims != 3 || t->shape[0] != E || t->shape[1] != 1 || t->shape[2] != hp->conv_l)
            return gl_error_set(err, GL_ERR_FORMAT, "tensor %s must be [%lld, 1, %lld]", t->name, (long long)E,
                                (long long)hp->conv_l);
        elm_st_tensor *q = &squeezed[l];
        *q = *t;
        q->n_dims = 2;
        q->shape[1] = hp->conv_l;
        snprintf(nm, sizeof nm, "blk.%lld.shortconv.conv.weight", (long long)l);
        /* Always F32, as llama.cpp's converter keeps it: its ssm_conv kernel takes F32 only. */
        if ((s = elm_cv_plan_add(j, nm, q, E, hp->conv_l, ELM_CV_COPY, 0, true)) != GL_OK) return s;
    }
    if (!(t = cv_need_p(st, pre, err, "embedding_norm.weight", 0))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "token_embd_norm.weight", t, E, 0, ELM_CV_COPY, 0)) != GL_OK) return s;
    if ((t = elm_cv_source_find(st, "lm_head.weight")) != NULL)
        if ((s = cv_add(j, "output.weight", t, V, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    return GL_OK;
}

/* GPT-2 checkpoints name tensors "transformer.h.0..." or, in older saves, "h.0...". */
static const elm_st_tensor *cv_gpt2_find(const elm_cv_source *st, const char *prefix, const char *fmt, int64_t l,
                                         gl_error *err, bool required) {
    char name[256], full[300];
    snprintf(name, sizeof name, fmt, (long long)l);
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const elm_st_tensor *t = elm_cv_source_find(st, full);
    if (!t && required) gl_error_set(err, GL_ERR_FORMAT, "tensor %s is missing from the checkpoint", full);
    return t;
}

static gl_status cv_gpt2_hparams(const elm_json *cfg, cv_hparams *hp, gl_error *err) {
    if (!cv_cfg_int(cfg, "n_embd", &hp->n_embd, 1, CV_MAX_DIM) || !cv_cfg_int(cfg, "n_layer", &hp->n_layer, 1, 4096) ||
        !cv_cfg_int(cfg, "n_head", &hp->n_head, 1, 65536) || !cv_cfg_int(cfg, "vocab_size", &hp->n_vocab, 1, CV_MAX_DIM))
        return gl_error_set(err, GL_ERR_FORMAT,
                            "config.json: n_embd, n_layer, n_head and vocab_size must be positive integers");
    if (hp->n_embd % hp->n_head)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: n_embd is not a multiple of n_head");
    hp->n_ff = 4 * hp->n_embd;
    const elm_json *inner = elm_json_get(cfg, "n_inner");
    if (inner && !elm_json_is(inner, ELM_JSON_NULL) && !cv_cfg_int(cfg, "n_inner", &hp->n_ff, 1, CV_MAX_DIM))
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad n_inner");
    hp->n_ctx = 1024;
    if (!cv_cfg_int(cfg, "n_positions", &hp->n_ctx, 1, INT32_MAX)) cv_cfg_int(cfg, "n_ctx", &hp->n_ctx, 1, INT32_MAX);
    hp->eps = 1e-5;
    elm_json_get_num(cfg, "layer_norm_epsilon", &hp->eps);
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    return GL_OK;
}

static gl_status cv_plan_gpt2(cv_job *j, const elm_cv_source *st, const cv_hparams *hp) {
    gl_error *err = j->err;
    const char *pre = elm_cv_source_find(st, "transformer.wte.weight") ? "transformer." : "";
    const int64_t E = hp->n_embd, F = hp->n_ff;
    const elm_st_tensor *t;
    gl_status s;
    if (!(t = cv_gpt2_find(st, pre, "wte.weight", 0, err, true))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "token_embd.weight", t, hp->n_vocab, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    if (!(t = cv_gpt2_find(st, pre, "wpe.weight", 0, err, true))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "position_embd.weight", t, hp->n_ctx, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        static const struct {
            const char *src, *dst;
            int64_t in, out; /* in units: 0 = E, else multiples of E (1: E, 3: 3E) or -1 = F */
            bool conv;
        } map[] = {
            {"h.%lld.ln_1.weight", "attn_norm.weight", 1, 0, false},
            {"h.%lld.ln_1.bias", "attn_norm.bias", 1, 0, false},
            {"h.%lld.attn.c_attn.weight", "attn_qkv.weight", 1, 3, true},
            {"h.%lld.attn.c_attn.bias", "attn_qkv.bias", 3, 0, false},
            {"h.%lld.attn.c_proj.weight", "attn_output.weight", 1, 1, true},
            {"h.%lld.attn.c_proj.bias", "attn_output.bias", 1, 0, false},
            {"h.%lld.ln_2.weight", "ffn_norm.weight", 1, 0, false},
            {"h.%lld.ln_2.bias", "ffn_norm.bias", 1, 0, false},
            {"h.%lld.mlp.c_fc.weight", "ffn_up.weight", 1, -1, true},
            {"h.%lld.mlp.c_fc.bias", "ffn_up.bias", -1, 0, false},
            {"h.%lld.mlp.c_proj.weight", "ffn_down.weight", -1, 1, true},
            {"h.%lld.mlp.c_proj.bias", "ffn_down.bias", 1, 0, false},
        };
        for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
            if (!(t = cv_gpt2_find(st, pre, map[k].src, l, err, true))) return GL_ERR_FORMAT;
            char nm[GL_MAX_NAME];
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, map[k].dst);
            int64_t in = map[k].in < 0 ? F : map[k].in * E;
            int64_t out = map[k].out < 0 ? F : map[k].out * E;
            s = map[k].conv ? cv_add(j, nm, t, in, out, ELM_CV_TRANSPOSE, 0) : cv_add(j, nm, t, in, 0, ELM_CV_COPY, 0);
            if (s != GL_OK) return s;
        }
    }
    if (!(t = cv_gpt2_find(st, pre, "ln_f.weight", 0, err, true))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "output_norm.weight", t, E, 0, ELM_CV_COPY, 0)) != GL_OK) return s;
    if (!(t = cv_gpt2_find(st, pre, "ln_f.bias", 0, err, true))) return GL_ERR_FORMAT;
    if ((s = cv_add(j, "output_norm.bias", t, E, 0, ELM_CV_COPY, 0)) != GL_OK) return s;
    if ((t = elm_cv_source_find(st, "lm_head.weight")) != NULL) /* saved only when untied */
        if ((s = cv_add(j, "output.weight", t, hp->n_vocab, E, ELM_CV_COPY, 0)) != GL_OK) return s;
    return GL_OK;
}

/* Which of our decoders config.json describes, asked of the one table (models/common/arch.c). */
static gl_status cv_detect_arch(const elm_json *cfg, char *arch, size_t size, gl_error *err) {
    const elm_json *archs = elm_json_get(cfg, "architectures");
    const char *a0 = elm_json_str(elm_json_at(archs, 0));
    const char *mt = elm_json_get_str(cfg, "model_type");
    const elm_arch *row = elm_arch_from_hf_config(a0, mt);
    if (row && row->family == ELM_FAMILY_DECODER && (cv_arch_row(row->name) || !strcmp(row->name, "gpt2"))) {
        snprintf(arch, size, "%s", row->name);
        return GL_OK;
    }
    return gl_error_set(err, GL_ERR_UNSUPPORTED,
                        "unsupported architecture: config.json has architectures %s%s%s and model_type %s%s%s",
                        a0 ? "[\"" : "", a0 ? a0 : "(none)", a0 ? "\"]" : "", mt ? "\"" : "", mt ? mt : "(none)",
                        mt ? "\"" : "");
}

/* Every checkpoint tensor is converted or named (convert.h); besides non-parameter buffers. */
static gl_status cv_check_unmapped(cv_job *j, const elm_cv_source *st) {
    static const char *const buffers[] = {"rotary_emb.inv_freq", ".attn.bias", ".attn.masked_bias", NULL};
    return elm_cv_plan_check_unmapped(j, st, NULL, 0, buffers, NULL);
}

gl_status elm_cv_convert_hf(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    char *cfg_path = elm_cv_path_join(p->src, "config.json");
    if (!cfg_path) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    elm_json_doc *cfg_doc = elm_json_parse_file(cfg_path, err);
    ELM_FREE(cfg_path);
    if (!cfg_doc) return err ? err->code : GL_ERR_FORMAT;
    const elm_json *cfg = elm_json_root(cfg_doc);
    cv_hparams hp;
    memset(&hp, 0, sizeof hp);
    cv_job j;
    elm_cv_plan_init(&j, p, err);
    elm_cv_source *st = NULL;
    elm_cv_vocab voc;
    memset(&voc, 0, sizeof voc);
    bool have_vocab = false;
    elm_st_tensor *squeezed = NULL; /* LFM2's conv kernels as 2-D */
    gl_status s = cv_detect_arch(cfg, hp.arch, sizeof hp.arch, err);
    bool is_gpt2 = s == GL_OK && !strcmp(hp.arch, "gpt2");
    const cv_arch *ca = s == GL_OK && !is_gpt2 ? cv_arch_row(hp.arch) : NULL;
    /* Gemma3ForConditionalGeneration keeps the text model's config in text_config. */
    const elm_json *tcfg = elm_json_get(cfg, "text_config");
    if (tcfg && elm_json_is(tcfg, ELM_JSON_OBJECT) && !elm_json_get(cfg, "hidden_size")) cfg = tcfg;
    if (s == GL_OK) s = is_gpt2 ? cv_gpt2_hparams(cfg, &hp, err) : cv_llama_hparams(cfg, &hp, err);
    if (s == GL_OK && ca && ca->extras) s = ca->extras(cfg, &hp, err);
    if (s == GL_OK && !is_gpt2 && !(ca && ca->own_rope)) s = cv_rope_scaling(&j, cfg, &hp, err);
    if (s == GL_OK) {
        st = elm_cv_source_open(p->src, err);
        if (!st) s = err ? err->code : GL_ERR_IO;
    }
    if (s == GL_OK) {
        elm_cv_log(p, "model: %s, %lld layers, %lld embd, %lld heads (%lld kv), vocab %lld, %lld tensors (%s)",
                   hp.arch, (long long)hp.n_layer, (long long)hp.n_embd, (long long)hp.n_head,
                   (long long)hp.n_head_kv, (long long)hp.n_vocab, (long long)elm_cv_source_n(st),
                   elm_cv_source_kind(st));
        if (is_gpt2) s = cv_plan_gpt2(&j, st, &hp);
        else if (hp.kv_per_layer) {
            squeezed = ELM_CALLOC((size_t)hp.n_layer, sizeof *squeezed);
            s = squeezed ? cv_plan_lfm2(&j, st, &hp, squeezed) : gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        } else s = cv_plan_llama(&j, st, &hp, ca);
    }
    if (s == GL_OK) s = cv_check_unmapped(&j, st);
    if (s == GL_OK) {
        s = elm_cv_vocab_load_dir(p->src, (int32_t)hp.n_vocab, &voc, p->log, p->user, err);
        have_vocab = s == GL_OK;
    }
    if (s == GL_OK) {
        char name[128];
        elm_cv_default_name(p->src, name, sizeof name);
        s = cv_write(&j, &hp, &voc, p->name ? p->name : name, stats);
    }
    if (have_vocab) elm_cv_vocab_free(&voc);
    elm_cv_plan_free(&j);
    for (int k = 0; k < hp.n_gen; k++) ELM_FREE(hp.gen[k].data);
    ELM_FREE(hp.kv_per_layer);
    ELM_FREE(squeezed);
    elm_cv_source_close(st);
    elm_json_free(cfg_doc);
    return s;
}

/* ---- llama2.c legacy checkpoints ---- */

/* Header: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len); a
 * negative vocab_size means the classifier is stored separately. Then float32 arrays:
 * token_embedding [vocab][dim], rms_att [L][dim], wq [L][dim][dim], wk [L][kv][dim],
 * wv [L][kv][dim], wo [L][dim][dim], rms_ffn [L][dim], w1 [L][hidden][dim], w2 [L][dim][hidden],
 * w3 [L][hidden][dim], rms_final [dim], freq_cis_real/imag [seq][head/2] (skipped),
 * wcls [vocab][dim] when not shared. */
typedef struct cv_l2c {
    elm_st_tensor *t;
    int n, cap;
    const uint8_t *base;
    uint64_t off, size;
} cv_l2c;

static elm_st_tensor *cv_l2c_take(cv_l2c *c, const char *name, int64_t rows, int64_t cols, gl_error *err) {
    uint64_t nel = (uint64_t)rows * (uint64_t)(cols ? cols : 1);
    if (nel > (c->size - c->off) / 4) {
        gl_error_set(err, GL_ERR_FORMAT, "llama2.c checkpoint is truncated (at %s: needs %llu more bytes, %llu left)",
                     name, (unsigned long long)(nel * 4), (unsigned long long)(c->size - c->off));
        return NULL;
    }
    if (c->n == c->cap) {
        gl_error_set(err, GL_ERR_NOMEM, "too many tensors");
        return NULL;
    }
    elm_st_tensor *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = ELM_ST_F32;
    snprintf(t->dtype_name, sizeof t->dtype_name, "F32");
    t->n_dims = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->n_elements = (int64_t)nel;
    t->data = c->base + c->off;
    t->nbytes = nel * 4;
    c->off += nel * 4;
    return t;
}

gl_status elm_cv_convert_llama2c(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    elm_map map;
    gl_status s = elm_map_open(&map, p->src, err);
    if (s != GL_OK) return s;
    int32_t h[7];
    if (map.size < 28) {
        elm_map_close(&map);
        return gl_error_set(err, GL_ERR_FORMAT, "%s: too small for a llama2.c checkpoint", p->src);
    }
    memcpy(h, map.data, sizeof h);
    if (h[0] == 0x616b3432) { /* "ak42": llama2.c's newer export versions */
        elm_map_close(&map);
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "%s: llama2.c export version %d is not supported (use the legacy format, version 0)",
                            p->src, h[1]);
    }
    cv_hparams hp;
    memset(&hp, 0, sizeof hp);
    snprintf(hp.arch, sizeof hp.arch, "llama");
    bool shared = h[5] > 0;
    hp.n_embd = h[0];
    hp.n_ff = h[1];
    hp.n_layer = h[2];
    hp.n_head = h[3];
    hp.n_head_kv = h[4];
    hp.n_vocab = h[5] < 0 ? -(int64_t)h[5] : h[5];
    hp.n_ctx = h[6];
    if (hp.n_embd <= 0 || hp.n_ff <= 0 || hp.n_layer <= 0 || hp.n_layer > 4096 || hp.n_head <= 0 ||
        hp.n_head_kv <= 0 || hp.n_vocab <= 0 || hp.n_ctx <= 0 || hp.n_embd % hp.n_head ||
        hp.n_head % hp.n_head_kv || (hp.n_embd / hp.n_head) % 2 || hp.n_embd > CV_MAX_DIM || hp.n_ff > CV_MAX_DIM ||
        hp.n_vocab > CV_MAX_DIM || hp.n_ctx > CV_MAX_DIM) {
        elm_map_close(&map);
        return gl_error_set(err, GL_ERR_FORMAT,
                            "%s: not a llama2.c checkpoint (header dim %d hidden %d layers %d heads %d kv %d vocab %d "
                            "seq %d)",
                            p->src, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    }
    hp.head_dim = hp.n_embd / hp.n_head;
    hp.eps = 1e-5;
    hp.rope_theta = 10000.0;
    const int64_t E = hp.n_embd, F = hp.n_ff, L = hp.n_layer, KV = hp.n_head_kv * hp.head_dim;
    cv_l2c c = {.base = map.data, .off = 28, .size = map.size, .cap = (int)(L * 9 + 8)};
    c.t = ELM_CALLOC((size_t)c.cap, sizeof *c.t);
    char *names = ELM_CALLOC((size_t)c.cap, GL_MAX_NAME); /* GGUF names double as source names */
    cv_job j;
    elm_cv_plan_init(&j, p, err);
    elm_cv_vocab voc;
    bool have_vocab = false;
    if (!c.t || !names) s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    /* Source arrays are per kind over all layers; GGUF wants them per layer. */
    const elm_st_tensor *emb = NULL, *fin = NULL, *cls = NULL;
    const elm_st_tensor *per[9][4096];
    static const char *const kinds[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                         "ffn_norm",  "ffn_gate", "ffn_down", "ffn_up"};
    const int64_t rows[9] = {E, E, KV, KV, E, E, F, E, F};
    const int64_t cols[9] = {0, E, E, E, E, 0, E, F, E};
    int nn = 0;
    if (s == GL_OK) {
        snprintf(names + (size_t)nn * GL_MAX_NAME, GL_MAX_NAME, "token_embd.weight");
        emb = cv_l2c_take(&c, names + (size_t)(nn++) * GL_MAX_NAME, hp.n_vocab, E, err);
        if (!emb) s = GL_ERR_FORMAT;
    }
    /* File order: rms_att, wq, wk, wv, wo, rms_ffn, w1 (gate), w2 (down), w3 (up). */
    for (int k = 0; k < 9 && s == GL_OK; k++) {
        for (int64_t l = 0; l < L && s == GL_OK; l++) {
            char *nm = names + (size_t)(nn++) * GL_MAX_NAME;
            snprintf(nm, GL_MAX_NAME, "blk.%lld.%s.weight", (long long)l, kinds[k]);
            per[k][l] = cv_l2c_take(&c, nm, rows[k], cols[k], err);
            if (!per[k][l]) s = GL_ERR_FORMAT;
        }
    }
    if (s == GL_OK) {
        snprintf(names + (size_t)nn * GL_MAX_NAME, GL_MAX_NAME, "output_norm.weight");
        fin = cv_l2c_take(&c, names + (size_t)(nn++) * GL_MAX_NAME, E, 0, err);
        if (!fin) s = GL_ERR_FORMAT;
    }
    if (s == GL_OK) { /* RoPE tables: recomputed by the runtime */
        uint64_t skip = (uint64_t)hp.n_ctx * (uint64_t)(hp.head_dim / 2) * 2 * 4;
        if (skip > c.size - c.off) s = gl_error_set(err, GL_ERR_FORMAT, "llama2.c checkpoint is truncated (RoPE tables)");
        else c.off += skip;
    }
    if (s == GL_OK && !shared) {
        snprintf(names + (size_t)nn * GL_MAX_NAME, GL_MAX_NAME, "output.weight");
        cls = cv_l2c_take(&c, names + (size_t)(nn++) * GL_MAX_NAME, hp.n_vocab, E, err);
        if (!cls) s = GL_ERR_FORMAT;
    }
    /* Converter honesty (convert.h): the format has no names, so what nothing maps is the bytes
     * after the last array (a checkpoint of another layout, or a longer export). */
    if (s == GL_OK && c.off != c.size && p->strict)
        s = gl_error_set(err, GL_ERR_UNSUPPORTED, "--strict: %llu bytes after the last tensor of %s are not converted",
                         (unsigned long long)(c.size - c.off), p->src);
    else if (s == GL_OK && c.off != c.size)
        elm_cv_log(p, "warning: %llu bytes after the last tensor of %s are not converted (nothing maps them; --strict "
                      "refuses such a checkpoint)",
                   (unsigned long long)(c.size - c.off), p->src);
    /* Plan in llama.cpp's order. llama2.c already rotates adjacent pairs: no permutation. */
    if (s == GL_OK) s = cv_add(&j, emb->name, emb, hp.n_vocab, E, ELM_CV_COPY, 0);
    for (int64_t l = 0; l < L && s == GL_OK; l++)
        for (int k = 0; k < 9 && s == GL_OK; k++) s = cv_add(&j, per[k][l]->name, per[k][l], rows[k], cols[k], ELM_CV_COPY, 0);
    if (s == GL_OK) s = cv_add(&j, fin->name, fin, E, 0, ELM_CV_COPY, 0);
    if (s == GL_OK && cls) s = cv_add(&j, cls->name, cls, hp.n_vocab, E, ELM_CV_COPY, 0);
    if (s == GL_OK) {
        if (!p->tokenizer) {
            s = gl_error_set(err, GL_ERR_INVALID, "a llama2.c checkpoint needs --tokenizer tokenizer.bin (or tokenizer.model)");
        } else {
            size_t tl = strlen(p->tokenizer);
            bool spm = tl >= 6 && !strcmp(p->tokenizer + tl - 6, ".model");
            s = spm ? elm_cv_vocab_load_spm(p->tokenizer, (int32_t)hp.n_vocab, &voc, err)
                    : elm_cv_vocab_load_llama2c(p->tokenizer, (int32_t)hp.n_vocab, &voc, err);
            have_vocab = s == GL_OK;
        }
    }
    if (s == GL_OK) {
        char name[128];
        elm_cv_default_name(p->src, name, sizeof name);
        elm_cv_log(p, "model: llama2.c, %lld layers, %lld embd, %lld heads (%lld kv), vocab %lld", (long long)L,
                   (long long)E, (long long)hp.n_head, (long long)hp.n_head_kv, (long long)hp.n_vocab);
        s = cv_write(&j, &hp, &voc, p->name ? p->name : name, stats);
    }
    if (have_vocab) elm_cv_vocab_free(&voc);
    elm_cv_plan_free(&j);
    ELM_FREE(c.t);
    ELM_FREE(names);
    elm_map_close(&map);
    return s;
}
