/*
 * convert_t5.c — T5ForConditionalGeneration (Hugging Face) → GGUF architecture "t5".
 *
 * Both forms:
 *   original T5 (feed_forward_proj "relu"): DenseReluDense wi / wo, tied embeddings; Hugging
 *     Face scales the decoder output by d_model^-0.5 before the shared LM head.
 *   v1.1 / flan-t5 ("gated-gelu"): wi_0 (gate, gelu_new) and wi_1 (up), untied lm_head.
 * Weights from model.safetensors (single or sharded) or pytorch_model.bin (torch zip), through
 * elm_cv_source. Names and keys are llama.cpp's "t5" ones (enc.blk.N.attn_q …, see
 * docs/FORMAT.md "T5"); what llama.cpp leaves out goes under edgelm.t5.*:
 *   edgelm.t5.output_scale                    f32  factor on the final decoder hidden state
 *                                                  before the LM head (d_model^-0.5 when tied)
 *   edgelm.t5.dense_act_fn                    str  relu | gelu_new | gelu | silu
 *   edgelm.t5.relative_attention_max_distance u32  (llama.cpp hard-codes 128)
 * The tokenizer (spiece.model, else tokenizer.json's Unigram model) is written as llama.cpp's
 * t5 tokenizer: model "t5", pieces with scores and types, the <extra_id_N> sentinels as control
 * tokens, precompiled_charsmap, add_space_prefix, remove_extra_whitespaces, add_eos.
 */
#include "alloc.h"
#include "convert.h"
#include "convert_plan.h"
#include "json.h"
#include "safetensors.h"
#include "spm_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T5_NORMAL = 1, T5_UNKNOWN = 2, T5_CONTROL = 3, T5_USER_DEFINED = 4, T5_UNUSED = 5 };

typedef struct t5_hparams {
    int64_t n_vocab, d_model, d_kv, d_ff, n_enc, n_dec, n_head, n_buckets, max_distance, n_ctx;
    int64_t decoder_start, eos, pad;
    double eps;
    bool gated, tied;
    char act[16];
} t5_hparams;

typedef elm_cv_plan t5_job; /* the output tensors (convert_plan.h) */

/* ------------------------------------------------------------------------------------------
 * config.json
 * ---------------------------------------------------------------------------------------- */

static bool t5_cfg_int(const elm_json *cfg, const char *key, int64_t *out, int64_t lo, int64_t hi) {
    int64_t v;
    const elm_json *j = elm_json_get(cfg, key);
    if (!j || elm_json_is(j, ELM_JSON_NULL)) return true; /* keep the default */
    if (!elm_json_int(j, &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static gl_status t5_hparams_read(const elm_json *cfg, t5_hparams *hp, gl_error *err) {
    const int64_t MAXD = (int64_t)1 << 24;
    memset(hp, 0, sizeof *hp);
    hp->d_model = 512, hp->d_kv = 64, hp->d_ff = 2048, hp->n_enc = 6, hp->n_head = 8;
    hp->n_buckets = 32, hp->max_distance = 128, hp->n_ctx = 512, hp->eos = 1, hp->pad = 0;
    hp->n_vocab = 32128;
    hp->eps = 1e-6;
    hp->tied = true;
    bool ok = t5_cfg_int(cfg, "vocab_size", &hp->n_vocab, 1, MAXD) &&
              t5_cfg_int(cfg, "d_model", &hp->d_model, 1, MAXD) &&
              t5_cfg_int(cfg, "d_kv", &hp->d_kv, 1, MAXD) && t5_cfg_int(cfg, "d_ff", &hp->d_ff, 1, MAXD) &&
              t5_cfg_int(cfg, "num_layers", &hp->n_enc, 1, 4096) &&
              t5_cfg_int(cfg, "num_heads", &hp->n_head, 1, 4096) &&
              t5_cfg_int(cfg, "relative_attention_num_buckets", &hp->n_buckets, 2, 65536) &&
              t5_cfg_int(cfg, "relative_attention_max_distance", &hp->max_distance, 1, 1 << 24) &&
              t5_cfg_int(cfg, "n_positions", &hp->n_ctx, 1, 1 << 24) &&
              t5_cfg_int(cfg, "eos_token_id", &hp->eos, 0, MAXD) &&
              t5_cfg_int(cfg, "pad_token_id", &hp->pad, 0, MAXD);
    hp->n_dec = hp->n_enc;
    hp->decoder_start = hp->pad;
    ok = ok && t5_cfg_int(cfg, "num_decoder_layers", &hp->n_dec, 1, 4096) &&
         t5_cfg_int(cfg, "decoder_start_token_id", &hp->decoder_start, 0, MAXD);
    if (!ok)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: a T5 size (d_model, d_kv, d_ff, num_layers, "
                            "num_heads, vocab_size, relative_attention_*, token ids) is not a valid integer");
    double eps;
    if (elm_json_get_num(cfg, "layer_norm_epsilon", &eps)) hp->eps = eps;
    if (!(hp->eps > 0) || hp->eps > 1) return gl_error_set(err, GL_ERR_FORMAT, "config.json: bad layer_norm_epsilon");
    bool b;
    if (elm_json_get_bool(cfg, "tie_word_embeddings", &b)) hp->tied = b;
    /* Hugging Face: feed_forward_proj "[gated-]ACT"; "gated-gelu" means gelu_new. */
    const char *ffp = elm_json_get_str(cfg, "feed_forward_proj");
    if (!ffp) ffp = "relu";
    const char *act = ffp;
    if (!strncmp(ffp, "gated-", 6)) hp->gated = true, act = ffp + 6;
    if (!strcmp(ffp, "gated-gelu")) act = "gelu_new";
    if (!strcmp(act, "gelu_pytorch_tanh")) act = "gelu_new";
    if (!strcmp(act, "swish")) act = "silu";
    if (strcmp(act, "relu") && strcmp(act, "gelu_new") && strcmp(act, "gelu") && strcmp(act, "silu"))
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "config.json: feed_forward_proj '%.40s' is not supported "
                            "(relu, gated-gelu, gated-relu, gated-silu, gelu, silu)", ffp);
    snprintf(hp->act, sizeof hp->act, "%s", act);
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * tensor plan
 * ---------------------------------------------------------------------------------------- */

/* Maps one HF tensor (printf name with the layer) to its GGUF name; required unless opt. */
static gl_status t5_map(t5_job *j, const elm_cv_source *src, bool opt, const char *gguf, const char *hf, int64_t il,
                        int64_t rows, int64_t cols, bool keep_f32) {
    char hname[160], gname[GL_MAX_NAME];
    snprintf(hname, sizeof hname, hf, (long long)il);
    snprintf(gname, sizeof gname, gguf, (long long)il);
    const elm_st_tensor *t = elm_cv_source_find(src, hname);
    if (!t) {
        if (opt) return GL_OK;
        return gl_error_set(j->err, GL_ERR_FORMAT, "tensor %s is missing from the checkpoint", hname);
    }
    return elm_cv_plan_add(j, gname, t, rows, cols, ELM_CV_COPY, 0, keep_f32);
}

static gl_status t5_plan_ffn(t5_job *j, const elm_cv_source *src, const t5_hparams *hp, const char *side,
                             int sub, int64_t il) {
    char g[96], h[160];
    const int64_t E = hp->d_model, F = hp->d_ff;
    const char *hs = !strcmp(side, "enc") ? "encoder" : "decoder";
    gl_status s;
#define T5_FFN(gsuf, hsuf, r, c)                                                                    \
    do {                                                                                           \
        snprintf(g, sizeof g, "%s.blk.%%lld.%s", side, gsuf);                                        \
        snprintf(h, sizeof h, "%s.block.%%lld.layer.%d.%s", hs, sub, hsuf);                          \
        if ((s = t5_map(j, src, false, g, h, il, r, c, false)) != GL_OK) return s;                  \
    } while (0)
    if (hp->gated) {
        T5_FFN("ffn_gate.weight", "DenseReluDense.wi_0.weight", F, E);
        T5_FFN("ffn_up.weight", "DenseReluDense.wi_1.weight", F, E);
    } else {
        T5_FFN("ffn_up.weight", "DenseReluDense.wi.weight", F, E);
    }
    T5_FFN("ffn_down.weight", "DenseReluDense.wo.weight", E, F);
#undef T5_FFN
    snprintf(g, sizeof g, "%s.blk.%%lld.ffn_norm.weight", side);
    snprintf(h, sizeof h, "%s.block.%%lld.layer.%d.layer_norm.weight", hs, sub);
    return t5_map(j, src, false, g, h, il, E, 0, true);
}

/* Self- (sub 0, "SelfAttention") or cross-attention (decoder sub 1, "EncDecAttention"). */
static gl_status t5_plan_attn(t5_job *j, const elm_cv_source *src, const t5_hparams *hp, const char *side,
                              int sub, const char *prefix, int64_t il) {
    const int64_t E = hp->d_model, D = hp->d_kv * hp->n_head;
    const char *hs = !strcmp(side, "enc") ? "encoder" : "decoder";
    const char *hmod = sub == 0 ? "SelfAttention" : "EncDecAttention";
    static const char *const qkvo[4] = {"q", "k", "v", "o"};
    char g[96], h[160];
    gl_status s;
    for (int k = 0; k < 4; k++) {
        snprintf(g, sizeof g, "%s.blk.%%lld.%s_%s.weight", side, prefix, qkvo[k]);
        snprintf(h, sizeof h, "%s.block.%%lld.layer.%d.%s.%s.weight", hs, sub, hmod, qkvo[k]);
        if ((s = t5_map(j, src, false, g, h, il, k == 3 ? E : D, k == 3 ? D : E, false)) != GL_OK) return s;
    }
    snprintf(g, sizeof g, "%s.blk.%%lld.%s_norm.weight", side, prefix);
    snprintf(h, sizeof h, "%s.block.%%lld.layer.%d.layer_norm.weight", hs, sub);
    if ((s = t5_map(j, src, false, g, h, il, E, 0, true)) != GL_OK) return s;
    /* The relative position bias lives in block 0 only (shared by the later blocks). */
    snprintf(g, sizeof g, "%s.blk.%%lld.%s_rel_b.weight", side, prefix);
    snprintf(h, sizeof h, "%s.block.%%lld.layer.%d.%s.relative_attention_bias.weight", hs, sub, hmod);
    return t5_map(j, src, !(sub == 0 && il == 0), g, h, il, hp->n_buckets, hp->n_head, true);
}

static gl_status t5_plan(t5_job *j, const elm_cv_source *src, const t5_hparams *hp) {
    gl_status s = t5_map(j, src, false, "token_embd.weight", "shared.weight", 0, hp->n_vocab, hp->d_model, false);
    if (s == GL_OK && !hp->tied)
        s = t5_map(j, src, false, "output.weight", "lm_head.weight", 0, hp->n_vocab, hp->d_model, false);
    for (int64_t il = 0; il < hp->n_enc && s == GL_OK; il++) {
        s = t5_plan_attn(j, src, hp, "enc", 0, "attn", il);
        if (s == GL_OK) s = t5_plan_ffn(j, src, hp, "enc", 1, il);
    }
    if (s == GL_OK)
        s = t5_map(j, src, false, "enc.output_norm.weight", "encoder.final_layer_norm.weight", 0, hp->d_model, 0, true);
    for (int64_t il = 0; il < hp->n_dec && s == GL_OK; il++) {
        s = t5_plan_attn(j, src, hp, "dec", 0, "attn", il);
        if (s == GL_OK) s = t5_plan_attn(j, src, hp, "dec", 1, "cross_attn", il);
        if (s == GL_OK) s = t5_plan_ffn(j, src, hp, "dec", 2, il);
    }
    if (s == GL_OK)
        s = t5_map(j, src, false, "dec.output_norm.weight", "decoder.final_layer_norm.weight", 0, hp->d_model, 0, true);
    return s;
}

/* Every source tensor is written, tied to one that is (the embeddings' copies of
 * shared.weight; lm_head.weight when tie_word_embeddings), or named (convert.h). */
static gl_status t5_check_unmapped(const t5_job *j, const elm_cv_source *src, const t5_hparams *hp) {
    const elm_st_tensor **used = ELM_MALLOC((size_t)(j->n_items + 3) * sizeof *used);
    if (!used) return gl_error_set(j->err, GL_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    for (int i = 0; i < j->n_items; i++) used[k++] = j->items[i].src;
    static const char *const tied[3] = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"};
    for (int i = 0; i < (hp->tied ? 3 : 2); i++) {
        const elm_st_tensor *t = elm_cv_source_find(src, tied[i]);
        if (t) used[k++] = t;
    }
    int64_t n_bad = 0;
    gl_status s = elm_cv_check_unmapped(j->p, src, used, k, NULL, NULL, &n_bad, j->err);
    ELM_FREE(used);
    if (s == GL_OK && n_bad > 0)
        elm_cv_log(j->p, "warning: %lld source tensor%s dropped (--strict refuses such a checkpoint)", (long long)n_bad,
                   n_bad == 1 ? "" : "s");
    return s;
}

/* ------------------------------------------------------------------------------------------
 * tokenizer
 * ---------------------------------------------------------------------------------------- */

typedef struct t5_vocab {
    elm_cv_vocab v;
    uint8_t *charsmap;
    uint64_t charsmap_len;
} t5_vocab;

/* A token of the model's fixed-size vocabulary (hp->n_vocab slots, allocated up front). */
static gl_status t5_tok_set(elm_cv_vocab *v, int32_t id, const char *s, size_t n, float score, int type,
                            gl_error *err) {
    if (id < 0 || id >= v->n_tokens) return gl_error_set(err, GL_ERR_FORMAT, "token id %d out of range", id);
    return elm_cv_vocab_set(v, id, s, n, score, type, err);
}

static gl_status t5_tok_alloc(elm_cv_vocab *v, int32_t n, gl_error *err) {
    v->tokens = ELM_CALLOC((size_t)n, sizeof *v->tokens);
    v->lens = ELM_CALLOC((size_t)n, sizeof *v->lens);
    v->scores = ELM_CALLOC((size_t)n, sizeof *v->scores);
    v->types = ELM_CALLOC((size_t)n, sizeof *v->types);
    v->n_tokens = v->cap_tokens = n;
    if (!v->tokens || !v->lens || !v->scores || !v->types) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    return GL_OK;
}

static gl_status t5_base64(const char *in, uint8_t **out, uint64_t *out_len, gl_error *err) {
    size_t n = strlen(in);
    uint8_t *o = ELM_MALLOC(n / 4 * 3 + 3);
    if (!o) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    uint32_t acc = 0;
    int bits = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') break;
        else {
            ELM_FREE(o);
            return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: precompiled_charsmap is not base64");
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    *out = o;
    *out_len = k;
    return GL_OK;
}

/* spiece.model + the T5Tokenizer sentinels: <extra_id_N> is id (sp_size + n_extra - 1 - N). */
static gl_status t5_vocab_spm(const char *path, const elm_json *tok_cfg, const t5_hparams *hp, t5_vocab *tv,
                              gl_error *err) {
    elm_map map;
    gl_status s = elm_map_open(&map, path, err);
    if (s != GL_OK) return s;
    elm_spm_model m;
    gl_error e = {0};
    if ((s = elm_spm_parse(map.data, map.size, &m, &e)) != GL_OK) {
        elm_map_close(&map);
        return gl_error_set(err, s, "%s: %s", path, e.msg);
    }
    int64_t n_extra = 100;
    const elm_json *x = elm_json_get(tok_cfg, "extra_ids");
    if (x && (!elm_json_int(x, &n_extra) || n_extra < 0 || n_extra > 100000))
        s = gl_error_set(err, GL_ERR_FORMAT, "tokenizer_config.json: bad extra_ids");
    if (s == GL_OK && m.model_type != ELM_SPM_UNIGRAM)
        s = gl_error_set(err, GL_ERR_UNSUPPORTED, "%s is not a unigram SentencePiece model", path);
    int64_t n = (int64_t)m.n_pieces + n_extra;
    if (s == GL_OK && n > hp->n_vocab)
        s = gl_error_set(err, GL_ERR_FORMAT, "%d pieces + %lld extra ids exceed vocab_size %lld", m.n_pieces,
                         (long long)n_extra, (long long)hp->n_vocab);
    if (s == GL_OK) s = t5_tok_alloc(&tv->v, (int32_t)hp->n_vocab, err);
    for (int32_t i = 0; i < m.n_pieces && s == GL_OK; i++)
        s = t5_tok_set(&tv->v, i, m.pieces[i].text, m.pieces[i].len, m.pieces[i].score, m.pieces[i].type, err);
    for (int64_t k = 0; k < n_extra && s == GL_OK; k++) {
        char t[40];
        int len = snprintf(t, sizeof t, "<extra_id_%lld>", (long long)(n_extra - 1 - k));
        s = t5_tok_set(&tv->v, (int32_t)(m.n_pieces + k), t, (size_t)len, 0.0f, T5_CONTROL, err);
    }
    if (s == GL_OK) {
        tv->v.unk = m.unk_id >= 0 && m.unk_id < m.n_pieces ? m.unk_id : -1;
        tv->v.eos = m.eos_id >= 0 && m.eos_id < m.n_pieces ? m.eos_id : -1;
        tv->v.pad = m.pad_id >= 0 && m.pad_id < m.n_pieces ? m.pad_id : -1;
        tv->v.add_space_prefix = m.add_dummy_prefix;
        tv->v.remove_extra_whitespaces = m.remove_extra_whitespaces;
        if (m.charsmap && m.charsmap_len > 0) {
            tv->charsmap = ELM_MALLOC((size_t)m.charsmap_len);
            if (!tv->charsmap) s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
            else memcpy(tv->charsmap, m.charsmap, (size_t)m.charsmap_len), tv->charsmap_len = m.charsmap_len;
        }
    }
    elm_spm_free(&m);
    elm_map_close(&map);
    return s;
}

static bool t5_has_type(const elm_json *node, const char *type) {
    if (!node) return false;
    const char *t = elm_json_get_str(node, "type");
    if (t && !strcmp(t, type)) return true;
    const char *lists[] = {"normalizers", "pretokenizers"};
    for (int l = 0; l < 2; l++) {
        const elm_json *a = elm_json_get(node, lists[l]);
        for (size_t i = 0; i < elm_json_count(a); i++)
            if (t5_has_type(elm_json_at(a, i), type)) return true;
    }
    return false;
}

static const elm_json *t5_find_type(const elm_json *node, const char *type) {
    if (!node) return NULL;
    const char *t = elm_json_get_str(node, "type");
    if (t && !strcmp(t, type)) return node;
    const elm_json *a = elm_json_get(node, "normalizers");
    for (size_t i = 0; i < elm_json_count(a); i++) {
        const elm_json *f = t5_find_type(elm_json_at(a, i), type);
        if (f) return f;
    }
    return NULL;
}

/* tokenizer.json with a Unigram model. */
static gl_status t5_vocab_json(const char *path, const t5_hparams *hp, t5_vocab *tv, gl_error *err) {
    elm_json_doc *doc = elm_json_parse_file(path, err);
    if (!doc) return err ? err->code : GL_ERR_FORMAT;
    const elm_json *root = elm_json_root(doc);
    const elm_json *model = elm_json_get(root, "model");
    const char *mt = elm_json_get_str(model, "type");
    const elm_json *vocab = elm_json_get(model, "vocab");
    gl_status s = GL_OK;
    if (!mt || strcmp(mt, "Unigram") || !elm_json_is(vocab, ELM_JSON_ARRAY))
        s = gl_error_set(err, GL_ERR_UNSUPPORTED, "%s: a T5 tokenizer.json needs a Unigram model", path);
    size_t n = elm_json_count(vocab);
    if (s == GL_OK && (n == 0 || (int64_t)n > hp->n_vocab))
        s = gl_error_set(err, GL_ERR_FORMAT, "%s: %zu pieces for vocab_size %lld", path, n, (long long)hp->n_vocab);
    if (s == GL_OK) s = t5_tok_alloc(&tv->v, (int32_t)hp->n_vocab, err);
    int64_t unk = -1;
    elm_json_get_int(model, "unk_id", &unk);
    for (size_t i = 0; i < n && s == GL_OK; i++) {
        const elm_json *e = elm_json_at(vocab, i);
        const elm_json *t = elm_json_at(e, 0);
        double sc = 0;
        if (!elm_json_str(t) || !elm_json_num(elm_json_at(e, 1), &sc)) {
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: vocab entry %zu is not [piece, score]", path, i);
            break;
        }
        s = t5_tok_set(&tv->v, (int32_t)i, t->s, t->len, (float)sc, (int64_t)i == unk ? T5_UNKNOWN : T5_NORMAL, err);
    }
    const elm_json *added = elm_json_get(root, "added_tokens");
    for (size_t i = 0; i < elm_json_count(added) && s == GL_OK; i++) {
        const elm_json *a = elm_json_at(added, i);
        int64_t id;
        bool special = false;
        elm_json_get_bool(a, "special", &special);
        const elm_json *c = elm_json_get(a, "content");
        if (!elm_json_get_int(a, "id", &id) || id < 0 || id >= hp->n_vocab || !elm_json_str(c)) {
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: bad added_tokens entry %zu", path, i);
            break;
        }
        int type = id == unk ? T5_UNKNOWN : special ? T5_CONTROL : T5_USER_DEFINED;
        float sc = id < (int64_t)n ? tv->v.scores[id] : 0.0f;
        s = t5_tok_set(&tv->v, (int32_t)id, c->s, c->len, sc, type, err);
    }
    if (s == GL_OK) {
        tv->v.unk = unk >= 0 && unk < (int64_t)n ? (int32_t)unk : -1;
        const elm_json *norm = elm_json_get(root, "normalizer");
        const elm_json *pc = t5_find_type(norm, "Precompiled");
        const char *b64 = elm_json_get_str(pc, "precompiled_charsmap");
        if (b64 && *b64) s = t5_base64(b64, &tv->charsmap, &tv->charsmap_len, err);
        const elm_json *pre = elm_json_get(root, "pre_tokenizer");
        /* Metaspace(add_prefix_space) is SentencePiece's dummy prefix; WhitespaceSplit drops the
         * extra whitespace SentencePiece's normaliser would remove. */
        tv->v.add_space_prefix = t5_has_type(pre, "Metaspace");
        tv->v.remove_extra_whitespaces = t5_has_type(pre, "WhitespaceSplit") || t5_has_type(norm, "Strip");
    }
    elm_json_free(doc);
    return s;
}

static int32_t t5_tok_find(const elm_cv_vocab *v, const char *s) {
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i] && !strcmp(v->tokens[i], s)) return i;
    return -1;
}

static gl_status t5_vocab_load(const char *dir, const t5_hparams *hp, t5_vocab *tv, elm_convert_log_fn log,
                               void *user, gl_error *err) {
    memset(tv, 0, sizeof *tv);
    snprintf(tv->v.model, sizeof tv->v.model, "%s", "t5");
    tv->v.bos = tv->v.eos = tv->v.unk = tv->v.pad = tv->v.eot = -1;
    tv->v.add_bos = 0;
    tv->v.add_eos = 1; /* T5Tokenizer appends </s> */
    char *cfg_path = elm_cv_path_join(dir, "tokenizer_config.json");
    char *spm = elm_cv_path_join(dir, "spiece.model");
    char *spm2 = elm_cv_path_join(dir, "tokenizer.model");
    char *tj = elm_cv_path_join(dir, "tokenizer.json");
    gl_status s = GL_OK;
    elm_json_doc *tok_cfg = NULL;
    if (!cfg_path || !spm || !spm2 || !tj) s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    if (s == GL_OK && elm_cv_file_exists(cfg_path)) {
        tok_cfg = elm_json_parse_file(cfg_path, err);
        if (!tok_cfg) s = err ? err->code : GL_ERR_FORMAT;
    }
    const char *sp = s == GL_OK && elm_cv_file_exists(spm) ? spm : elm_cv_file_exists(spm2) ? spm2 : NULL;
    if (s != GL_OK) {
    } else if (sp) {
        s = t5_vocab_spm(sp, elm_json_root(tok_cfg), hp, tv, err);
        if (s == GL_OK && log) {
            char msg[300];
            snprintf(msg, sizeof msg, "tokenizer: %s (SentencePiece unigram)", sp);
            log(user, msg);
        }
    } else if (elm_cv_file_exists(tj)) {
        s = t5_vocab_json(tj, hp, tv, err);
    } else {
        s = gl_error_set(err, GL_ERR_IO, "%s: no T5 tokenizer (spiece.model or tokenizer.json)", dir);
    }
    /* Padding rows of the embedding (t5-small: 32100 tokens, 32128 rows). */
    for (int32_t i = 0; i < tv->v.n_tokens && s == GL_OK; i++) {
        if (tv->v.tokens[i]) continue;
        char name[32];
        int len = snprintf(name, sizeof name, "[PAD%d]", i);
        s = t5_tok_set(&tv->v, i, name, (size_t)len, -1000.0f, T5_UNUSED, err);
    }
    if (s == GL_OK) {
        int32_t id;
        if ((id = t5_tok_find(&tv->v, "</s>")) >= 0) tv->v.eos = id;
        if ((id = t5_tok_find(&tv->v, "<unk>")) >= 0) tv->v.unk = id;
        if ((id = t5_tok_find(&tv->v, "<pad>")) >= 0) tv->v.pad = id;
        if (tv->v.eos < 0 && hp->eos < tv->v.n_tokens) tv->v.eos = (int32_t)hp->eos;
        if (tv->v.pad < 0 && hp->pad < tv->v.n_tokens) tv->v.pad = (int32_t)hp->pad;
        bool b;
        if (elm_json_get_bool(elm_json_root(tok_cfg), "add_eos_token", &b)) tv->v.add_eos = b;
    }
    elm_json_free(tok_cfg);
    ELM_FREE(cfg_path);
    ELM_FREE(spm);
    ELM_FREE(spm2);
    ELM_FREE(tj);
    return s;
}

static gl_status t5_vocab_write(gl_gguf_writer *w, const t5_vocab *tv, gl_error *err) {
    gl_status s = elm_cv_vocab_write(w, &tv->v, err);
    if (s != GL_OK) return s;
    if (tv->v.add_space_prefix >= 0)
        s = gl_gguf_w_kv_bool(w, "tokenizer.ggml.add_space_prefix", tv->v.add_space_prefix != 0);
    if (s == GL_OK && tv->v.remove_extra_whitespaces >= 0)
        s = gl_gguf_w_kv_bool(w, "tokenizer.ggml.remove_extra_whitespaces", tv->v.remove_extra_whitespaces != 0);
    if (s == GL_OK && tv->charsmap)
        s = gl_gguf_w_kv_arr(w, "tokenizer.ggml.precompiled_charsmap", GL_GGUF_UINT8, tv->charsmap,
                             tv->charsmap_len);
    if (s != GL_OK) return gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * writing
 * ---------------------------------------------------------------------------------------- */

static gl_status t5_write_keys(gl_gguf_writer *w, const t5_hparams *hp) {
    gl_status s = GL_OK;
    const struct {
        const char *k;
        int64_t v;
    } u[] = {
        {"t5.vocab_size", hp->n_vocab},
        {"t5.context_length", hp->n_ctx},
        {"t5.embedding_length", hp->d_model},
        {"t5.feed_forward_length", hp->d_ff},
        {"t5.block_count", hp->n_enc},
        {"t5.decoder_block_count", hp->n_dec},
        {"t5.attention.head_count", hp->n_head},
        {"t5.attention.key_length", hp->d_kv},
        {"t5.attention.value_length", hp->d_kv},
        {"t5.attention.relative_buckets_count", hp->n_buckets},
        {"t5.decoder_start_token_id", hp->decoder_start},
        {"edgelm.t5.relative_attention_max_distance", hp->max_distance},
    };
    for (size_t k = 0; k < sizeof u / sizeof u[0] && s == GL_OK; k++) s = gl_gguf_w_kv_u32(w, u[k].k, (uint32_t)u[k].v);
    if (s == GL_OK) s = gl_gguf_w_kv_f32(w, "t5.attention.layer_norm_epsilon", (float)hp->eps);
    if (s == GL_OK) s = gl_gguf_w_kv_f32(w, "t5.attention.layer_norm_rms_epsilon", (float)hp->eps);
    /* Hugging Face rescales before a tied LM head (llama.cpp does not): keep that explicit. */
    float scale = hp->tied ? (float)(1.0 / sqrt((double)hp->d_model)) : 1.0f;
    if (s == GL_OK) s = gl_gguf_w_kv_f32(w, "edgelm.t5.output_scale", scale);
    if (s == GL_OK) s = gl_gguf_w_kv_str(w, "edgelm.t5.dense_act_fn", hp->act);
    return s;
}

gl_status elm_cv_convert_t5(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    char *cfg_path = elm_cv_path_join(p->src, "config.json");
    if (!cfg_path) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    elm_json_doc *cfg_doc = elm_json_parse_file(cfg_path, err);
    ELM_FREE(cfg_path);
    if (!cfg_doc) return err ? err->code : GL_ERR_FORMAT;
    t5_hparams hp;
    t5_job j;
    elm_cv_plan_init(&j, p, err);
    t5_vocab tv;
    memset(&tv, 0, sizeof tv);
    elm_cv_source *src = NULL;
    gl_status s = t5_hparams_read(elm_json_root(cfg_doc), &hp, err);
    if (s == GL_OK && !p->vocab_only) {
        src = elm_cv_source_open(p->src, err);
        if (!src) s = err ? err->code : GL_ERR_IO;
        if (s == GL_OK) {
            elm_cv_log(p, "model: t5 (%s%s), %lld+%lld layers, d_model %lld, %lld heads x %lld, ff %lld, vocab %lld, "
                       "%s", hp.gated ? "gated-" : "", hp.act, (long long)hp.n_enc, (long long)hp.n_dec,
                       (long long)hp.d_model, (long long)hp.n_head, (long long)hp.d_kv, (long long)hp.d_ff,
                       (long long)hp.n_vocab, elm_cv_source_kind(src));
            s = t5_plan(&j, src, &hp);
            if (s == GL_OK) s = t5_check_unmapped(&j, src, &hp);
        }
        if (s == GL_OK) { /* Hugging Face ties these to shared.weight: read through it */
            const elm_st_tensor *tied[3] = {elm_cv_source_find(src, "encoder.embed_tokens.weight"),
                                            elm_cv_source_find(src, "decoder.embed_tokens.weight"),
                                            hp.tied ? elm_cv_source_find(src, "lm_head.weight") : NULL};
            s = elm_cv_plan_check_unmapped(&j, src, tied, 3, NULL, NULL);
        }
    }
    if (s == GL_OK) s = t5_vocab_load(p->src, &hp, &tv, p->log, p->user, err);
    char name[128];
    elm_cv_default_name(p->src, name, sizeof name);
    gl_gguf_writer *w = NULL;
    if (s == GL_OK) {
        w = elm_cv_plan_open(&j, "t5", p->name ? p->name : name);
        if (!w) s = err ? err->code : GL_ERR_IO;
    }
    if (s == GL_OK) {
        s = t5_write_keys(w, &hp);
        if (s != GL_OK) gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    }
    if (s == GL_OK) s = t5_vocab_write(w, &tv, err);
    if (s != GL_OK && w) gl_gguf_writer_discard(w);
    if (s == GL_OK && stats) memset(stats, 0, sizeof *stats);
    if (s == GL_OK) s = elm_cv_plan_write(&j, w, "t5", stats);
    if (s == GL_OK && stats) stats->n_vocab = tv.v.n_tokens;
    elm_cv_vocab_free(&tv.v);
    ELM_FREE(tv.charsmap);
    elm_cv_plan_free(&j);
    elm_cv_source_close(src);
    elm_json_free(cfg_doc);
    return s;
}
