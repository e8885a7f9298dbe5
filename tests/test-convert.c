/* Converter: HF folders and llama2.c checkpoints → GGUF, checked tensor by tensor; tokenizer
 * metadata; malformed inputs fail with messages (run under ASan too). */
#include "arch.h"
#include "convert.h"
#include "convert_plan.h"
#include "json.h"
#include "safetensors.h"
#include "spm_model.h"
#include "tf.h"
#include "tf-models.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>


/* Converts fixture rel (skipped when rel/probe, or rel itself with probe NULL, is absent) to
 * the temporary file outname and opens the result: NULL after a skip or a failed check. */
static gl_gguf *convert_fixture(const char *rel, const char *probe, const char *outname, int outtype,
                                bool vocab_only, elm_convert_stats *stats) {
    char probe_rel[512];
    snprintf(probe_rel, sizeof probe_rel, "%s%s%s", rel, probe ? "/" : "", probe ? probe : "");
    if (!tf_file_exists(tf_fixture(probe_rel))) {
        tf_skip_fixture("fixtures absent");
        return NULL;
    }
    const char *out = tf_tmp_path(outname);
    gl_error err = {0};
    if (!TF_CHECK(tfm_convert(tf_fixture(rel), out, outtype, vocab_only, stats, &err) == GL_OK, "%s", err.msg))
        return NULL;
    gl_gguf *g = gl_gguf_open(out, &err);
    TF_CHECK(g != NULL, "%s", err.msg);
    return g;
}

/* The safetensors source of fixture rel, NULL after a failed check. */
static elm_st *open_source(const char *rel) {
    gl_error err = {0};
    elm_st *st = elm_st_open(tf_fixture(rel), &err);
    TF_CHECK(st != NULL, "%s", err.msg);
    return st;
}

static int64_t kv_int(const gl_gguf *g, const char *key) {
    int64_t i = gl_gguf_find_key(g, key), v = -999;
    if (i < 0 || !gl_gguf_get_i64(g, i, &v)) return -999;
    return v;
}
static double kv_f64(const gl_gguf *g, const char *key) {
    int64_t i = gl_gguf_find_key(g, key);
    double v = -999;
    if (i < 0 || !gl_gguf_get_f64(g, i, &v)) return -999;
    return v;
}
static bool kv_str_is(const gl_gguf *g, const char *key, const char *want) {
    int64_t i = gl_gguf_find_key(g, key);
    return i >= 0 && gl_gguf_kv_type(g, i) == GL_GGUF_STRING && gl_str_eq(gl_gguf_get_str(g, i), want);
}
static bool kv_bool_is(const gl_gguf *g, const char *key, bool want) {
    int64_t i = gl_gguf_find_key(g, key);
    bool b;
    return i >= 0 && gl_gguf_get_bool(g, i, &b) && b == want;
}
static bool arr_str_is(const gl_gguf *g, const char *key, uint64_t j, const char *want) {
    int64_t i = gl_gguf_find_key(g, key);
    return i >= 0 && gl_str_eq(gl_gguf_arr_str(g, i, j), want);
}
static int64_t arr_i64(const gl_gguf *g, const char *key, uint64_t j) {
    int64_t i = gl_gguf_find_key(g, key), v = -999;
    if (i < 0 || !gl_gguf_arr_get_i64(g, i, j, &v)) return -999;
    return v;
}

static const gl_gguf_tensor_info *tensor(const gl_gguf *g, const char *name) {
    int64_t i = gl_gguf_find_tensor(g, name);
    return i < 0 ? NULL : gl_gguf_tensor(g, i);
}

/* Element (i0, i1) of a GGUF F32/F16 tensor. */
static float gg_at(const gl_gguf_tensor_info *t, int64_t i0, int64_t i1) {
    int64_t k = i1 * t->ne[0] + i0;
    if (t->type == GL_TYPE_F32) return ((const float *)t->data)[k];
    return gl_fp16_to_fp32(((const uint16_t *)t->data)[k]);
}

static float st_at(const elm_st_tensor *t, int64_t r, int64_t c) {
    float v = 0;
    elm_st_read_f32(t, r * (t->n_dims == 2 ? t->shape[1] : 1) + c, 1, &v, NULL);
    return v;
}

/* Checks GGUF tensor name == source tensor (same layout), exactly. */
static void check_copy(const gl_gguf *g, const elm_st *st, const char *gname, const char *sname) {
    const gl_gguf_tensor_info *t = tensor(g, gname);
    const elm_st_tensor *s = elm_st_find(st, sname);
    TF_CHECK(t && s, "%s / %s present", gname, sname);
    if (!t || !s) return;
    int64_t rows = s->shape[0], cols = s->n_dims == 2 ? s->shape[1] : 1;
    TF_CHECK(s->n_dims == 2 ? (t->ne[0] == cols && t->ne[1] == rows) : t->ne[0] == rows, "%s shape", gname);
    if (s->n_dims == 1) TF_CHECK(t->type == GL_TYPE_F32, "%s: 1-D stays F32", gname);
    int bad = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            bad += s->n_dims == 2 ? gg_at(t, c, r) != st_at(s, r, c) : gg_at(t, r, 0) != st_at(s, r, 0);
    TF_CHECK(bad == 0, "%s: %d values differ", gname, bad);
}

/* llama.cpp's q/k permutation, written as an index formula: GGUF row h*d + 2i + k holds HF row
 * h*d + k*d/2 + i. */
static void check_permuted(const gl_gguf *g, const elm_st *st, const char *gname, const char *sname, int heads) {
    const gl_gguf_tensor_info *t = tensor(g, gname);
    const elm_st_tensor *s = elm_st_find(st, sname);
    TF_CHECK(t && s);
    if (!t || !s) return;
    int64_t rows = s->shape[0], cols = s->shape[1], d = rows / heads;
    TF_CHECK(t->ne[0] == cols && t->ne[1] == rows);
    int bad = 0, moved = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = r / d, w = r % d, i = w / 2, k = w % 2, src = h * d + k * (d / 2) + i;
        moved += src != r;
        for (int64_t c = 0; c < cols; c++) bad += gg_at(t, c, r) != st_at(s, src, c);
    }
    TF_CHECK(bad == 0, "%s: %d values differ from the permuted source", gname, bad);
    TF_CHECK(moved > 0, "the permutation moves rows");
}

TF_TEST(convert_llama_f32) {
    elm_convert_stats stats;
    gl_gguf *g = convert_fixture("hf-reference/llama", "config.json", "llama-f32.gguf", GL_TYPE_F32, false, &stats);
    if (!g) return;
    TF_CHECK(stats.n_tensors == 2 + 2 * 9 + 1, "tensors %lld", (long long)stats.n_tensors);
    elm_st *st = open_source("hf-reference/llama");
    if (!st) goto done;
    TF_CHECK(kv_str_is(g, "general.architecture", "llama"));
    TF_CHECK(kv_int(g, "general.file_type") == 0);
    TF_CHECK(gl_gguf_find_key(g, "general.quantization_version") < 0);
    TF_CHECK(kv_int(g, "llama.embedding_length") == 64);
    TF_CHECK(kv_int(g, "llama.block_count") == 2);
    TF_CHECK(kv_int(g, "llama.feed_forward_length") == 160);
    TF_CHECK(kv_int(g, "llama.attention.head_count") == 4);
    TF_CHECK(kv_int(g, "llama.attention.head_count_kv") == 2);
    TF_CHECK(kv_int(g, "llama.rope.dimension_count") == 16);
    TF_CHECK(kv_int(g, "llama.context_length") == 128);
    TF_CHECK(kv_int(g, "llama.vocab_size") == 1000);
    TF_NEAR(kv_f64(g, "llama.rope.freq_base"), 10000.0, 0);
    TF_NEAR(kv_f64(g, "llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-10);
    TF_CHECK(gl_gguf_find_key(g, "llama.attention.key_length") < 0, "head_dim = embd/heads");
    /* tokenizer: SentencePiece */
    TF_CHECK(kv_str_is(g, "tokenizer.ggml.model", "llama"));
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.tokens")) == 1000);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 1, "<s>"));
    TF_CHECK(arr_i64(g, "tokenizer.ggml.token_type", 1) == 3 && arr_i64(g, "tokenizer.ggml.token_type", 0) == 2);
    TF_CHECK(kv_int(g, "tokenizer.ggml.bos_token_id") == 1 && kv_int(g, "tokenizer.ggml.eos_token_id") == 2);
    TF_CHECK(kv_int(g, "tokenizer.ggml.unknown_token_id") == 0);
    TF_CHECK(kv_bool_is(g, "tokenizer.ggml.add_bos_token", true) && kv_bool_is(g, "tokenizer.ggml.add_eos_token", false));
    /* tensors */
    check_copy(g, st, "token_embd.weight", "model.embed_tokens.weight");
    check_copy(g, st, "output.weight", "lm_head.weight");
    check_copy(g, st, "output_norm.weight", "model.norm.weight");
    for (int l = 0; l < 2; l++) {
        char gn[64], sn[128];
        static const char *const pairs[][2] = {
            {"attn_norm.weight", "input_layernorm.weight"},  {"attn_v.weight", "self_attn.v_proj.weight"},
            {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
            {"ffn_gate.weight", "mlp.gate_proj.weight"},      {"ffn_up.weight", "mlp.up_proj.weight"},
            {"ffn_down.weight", "mlp.down_proj.weight"},
        };
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            snprintf(gn, sizeof gn, "blk.%d.%s", l, pairs[k][0]);
            snprintf(sn, sizeof sn, "model.layers.%d.%s", l, pairs[k][1]);
            check_copy(g, st, gn, sn);
        }
        snprintf(gn, sizeof gn, "blk.%d.attn_q.weight", l);
        snprintf(sn, sizeof sn, "model.layers.%d.self_attn.q_proj.weight", l);
        check_permuted(g, st, gn, sn, 4);
        snprintf(gn, sizeof gn, "blk.%d.attn_k.weight", l);
        snprintf(sn, sizeof sn, "model.layers.%d.self_attn.k_proj.weight", l);
        check_permuted(g, st, gn, sn, 2);
    }
    const gl_gguf_tensor_info *ti = tensor(g, "blk.0.attn_k.weight");
    TF_CHECK(ti && ti->ne[0] == 64 && ti->ne[1] == 32 && ti->type == GL_TYPE_F32);
done:
    elm_st_close(st);
    gl_gguf_close(g);
}

TF_TEST(convert_llama_q8_0) {
    elm_convert_stats stats;
    gl_gguf *g = convert_fixture("hf-reference/llama", "config.json", "llama-q8.gguf", GL_TYPE_Q8_0, false, &stats);
    if (!g) return;
    elm_st *st = open_source("hf-reference/llama");
    if (!st) goto done;
    TF_CHECK(kv_int(g, "general.file_type") == 7 && kv_int(g, "general.quantization_version") == 2);
    TF_CHECK(stats.n_fallback == 0);
    const gl_gguf_tensor_info *t = tensor(g, "blk.1.ffn_down.weight");
    const elm_st_tensor *s = elm_st_find(st, "model.layers.1.mlp.down_proj.weight");
    TF_CHECK(t && s && t->type == GL_TYPE_Q8_0 && t->ne[0] == 160 && t->ne[1] == 64);
    TF_CHECK(tensor(g, "blk.1.ffn_norm.weight")->type == GL_TYPE_F32);
    if (t && s) {
        /* Q8_0: each value within half a step (amax/127/2) of its source value, plus the
         * rounding of the block scale to fp16 (up to 127 steps * 2^-11 relative = 0.124
         * half-steps): tolerance 1.13 half-steps. */
        float row[160];
        double worst = 0;
        size_t rs = gl_row_size(GL_TYPE_Q8_0, 160);
        for (int64_t r = 0; r < 64; r++) {
            gl_type_get(GL_TYPE_Q8_0)->to_float((const uint8_t *)t->data + r * rs, row, 160);
            for (int b = 0; b < 5; b++) {
                float amax = 0;
                for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(st_at(s, r, b * 32 + k)));
                for (int k = 0; k < 32; k++) {
                    double e = fabs(row[b * 32 + k] - st_at(s, r, b * 32 + k)) / (amax / 127.0 * 0.5 + 1e-12);
                    worst = fmax(worst, e);
                }
            }
        }
        TF_CHECK(worst <= 1.13, "worst error %.3f half-steps", worst);
    }
done:
    elm_st_close(st);
    gl_gguf_close(g);
}

TF_TEST(convert_gpt2_transposes_conv1d) {
    elm_convert_stats stats;
    gl_gguf *g = convert_fixture("hf-reference/gpt2", "config.json", "gpt2.gguf", -1, false, &stats);
    if (!g) return;
    elm_st *st = open_source("hf-reference/gpt2");
    if (!st) goto done;
    TF_CHECK(kv_str_is(g, "general.architecture", "gpt2"));
    TF_CHECK(kv_int(g, "gpt2.context_length") == 128 && kv_int(g, "gpt2.embedding_length") == 64);
    TF_CHECK(kv_int(g, "gpt2.feed_forward_length") == 256 && kv_int(g, "gpt2.attention.head_count") == 4);
    TF_CHECK(kv_int(g, "gpt2.block_count") == 2);
    TF_NEAR(kv_f64(g, "gpt2.attention.layer_norm_epsilon"), 1e-5, 1e-10);
    TF_CHECK(tensor(g, "output.weight") == NULL, "tied: no output tensor");
    TF_CHECK(gl_gguf_n_tensors(g) == 4 + 2 * 12, "%lld", (long long)gl_gguf_n_tensors(g));
    check_copy(g, st, "token_embd.weight", "transformer.wte.weight");
    check_copy(g, st, "position_embd.weight", "transformer.wpe.weight");
    check_copy(g, st, "output_norm.bias", "transformer.ln_f.bias");
    check_copy(g, st, "blk.1.attn_qkv.bias", "transformer.h.1.attn.c_attn.bias");
    static const char *const conv[][2] = {{"blk.1.attn_qkv.weight", "transformer.h.1.attn.c_attn.weight"},
                                          {"blk.0.attn_output.weight", "transformer.h.0.attn.c_proj.weight"},
                                          {"blk.0.ffn_up.weight", "transformer.h.0.mlp.c_fc.weight"},
                                          {"blk.1.ffn_down.weight", "transformer.h.1.mlp.c_proj.weight"}};
    for (int k = 0; k < 4; k++) {
        const gl_gguf_tensor_info *t = tensor(g, conv[k][0]);
        const elm_st_tensor *s = elm_st_find(st, conv[k][1]);
        TF_CHECK(t && s);
        if (!t || !s) continue;
        /* Conv1D [in, out]: GGUF ne = [in, out], element (i, o) = W[i][o]. */
        TF_CHECK(t->ne[0] == s->shape[0] && t->ne[1] == s->shape[1], "%s shape", conv[k][0]);
        int bad = 0;
        for (int64_t i = 0; i < s->shape[0]; i++)
            for (int64_t o = 0; o < s->shape[1]; o++) bad += gg_at(t, i, o) != st_at(s, i, o);
        TF_CHECK(bad == 0, "%s: %d differ", conv[k][0], bad);
    }
    TF_CHECK(kv_str_is(g, "tokenizer.ggml.model", "gpt2") && kv_str_is(g, "tokenizer.ggml.pre", "gpt-2"));
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.tokens")) == 1000);
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.merges")) == 743);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.merges", 0, "\xC4\xA0 s"));
    TF_CHECK(kv_int(g, "tokenizer.ggml.bos_token_id") == 999 && kv_int(g, "tokenizer.ggml.eos_token_id") == 999);
    TF_CHECK(kv_bool_is(g, "tokenizer.ggml.add_bos_token", false));
done:
    elm_st_close(st);
    gl_gguf_close(g);
}

TF_TEST(convert_fake_gpt2_and_fallback) {
    elm_convert_stats stats;
    gl_gguf *g = convert_fixture("hf-tiny-lm-buddy/fake_gpt2", "config.json", "fake-gpt2-q4.gguf", GL_TYPE_Q4_0,
                                 false, &stats);
    if (!g) return;
    TF_CHECK(stats.n_fallback > 0, "rows of 2 cannot be Q4_0");
    const gl_gguf_tensor_info *t = tensor(g, "token_embd.weight");
    TF_CHECK(t && t->type == GL_TYPE_F16 && t->ne[0] == 2 && t->ne[1] == 50257);
    t = tensor(g, "blk.0.ffn_down.weight"); /* [8 in, 2 out] */
    TF_CHECK(t && t->ne[0] == 8 && t->ne[1] == 2 && t->type == GL_TYPE_F16);
    TF_CHECK(kv_str_is(g, "tokenizer.ggml.pre", "gpt-2"), "tokenizer.json ByteLevel → gpt-2");
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.tokens")) == 50257);
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.merges")) == 50000);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 50256, "<|endoftext|>"));
    TF_CHECK(arr_i64(g, "tokenizer.ggml.token_type", 50256) == 3 && arr_i64(g, "tokenizer.ggml.token_type", 220) == 1);
    TF_CHECK(kv_int(g, "tokenizer.ggml.eos_token_id") == 50256);
    gl_gguf_close(g);
}

TF_TEST(vocab_only_gpt2_tokenizer) {
    elm_convert_stats stats;
    gl_gguf *g = convert_fixture("gpt2-tokenizer", "encoder.json", "gpt2-vocab.gguf", -1, true, &stats);
    if (!g) return;
    TF_CHECK(gl_gguf_n_tensors(g) == 0);
    TF_CHECK(kv_str_is(g, "tokenizer.ggml.model", "gpt2") && kv_str_is(g, "tokenizer.ggml.pre", "gpt-2"));
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.tokens")) == 50257);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 220, "\xC4\xA0"), "220 = 'Ġ'");
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 1212, "This"));
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 50256, "<|endoftext|>"));
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.merges")) == 50000);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.merges", 0, "\xC4\xA0 t"));
    TF_CHECK(gl_gguf_find_key(g, "tokenizer.ggml.scores") < 0);
    TF_CHECK(kv_int(g, "tokenizer.ggml.bos_token_id") == 50256);
    gl_gguf_close(g);
}

TF_TEST(vocab_only_llama2_spm) {
    elm_convert_stats stats;
    gl_gguf *g = convert_fixture("llama2-tokenizer/tokenizer.model", NULL, "llama2-vocab.gguf", -1, true, &stats);
    if (!g) return;
    TF_CHECK(kv_str_is(g, "tokenizer.ggml.model", "llama"));
    TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.tokens")) == 32000);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 0, "<unk>") && arr_str_is(g, "tokenizer.ggml.tokens", 2, "</s>"));
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 3, "<0x00>") && arr_i64(g, "tokenizer.ggml.token_type", 3) == 6);
    TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 260, "\xE2\x96\x81t"), "260 = '▁t'");
    TF_CHECK(arr_i64(g, "tokenizer.ggml.token_type", 0) == 2 && arr_i64(g, "tokenizer.ggml.token_type", 1) == 3);
    double sc = -999;
    TF_CHECK(gl_gguf_arr_get_f64(g, gl_gguf_find_key(g, "tokenizer.ggml.scores"), 261, &sc) && sc == -2.0, "%g", sc);
    TF_CHECK(kv_int(g, "tokenizer.ggml.bos_token_id") == 1 && kv_int(g, "tokenizer.ggml.eos_token_id") == 2);
    TF_CHECK(kv_bool_is(g, "tokenizer.ggml.add_space_prefix", true));
    gl_gguf_close(g);
}

TF_TEST(vocab_llama2c_tokenizer_bin_matches_spm) {
    const char *bin = tf_fixture("llama2-tokenizer/tokenizer.bin"), *model = tf_fixture("llama2-tokenizer/tokenizer.model");
    if (!tf_file_exists(bin)) return tf_skip_fixture("fixtures absent");
    elm_cv_vocab a, b;
    gl_error err = {0};
    TF_CHECK(elm_cv_vocab_load_llama2c(bin, 32000, &a, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(elm_cv_vocab_load_spm(model, 32000, &b, &err) == GL_OK, "%s", err.msg);
    int diff_text = 0, diff_type = 0;
    for (int i = 0; i < 32000 && a.n_tokens == 32000 && b.n_tokens == 32000; i++) {
        diff_text += a.lens[i] != b.lens[i] || memcmp(a.tokens[i], b.tokens[i], a.lens[i]);
        diff_type += a.types[i] != b.types[i];
    }
    TF_CHECK(a.n_tokens == 32000 && diff_text == 0 && diff_type == 0, "text %d type %d", diff_text, diff_type);
    elm_cv_vocab_free(&a);
    elm_cv_vocab_free(&b);
}

/* ---- llama2.c checkpoint, synthesized ---- */

/* The warnings a conversion logged: their count and the last one. */
typedef struct l2c_log_t {
    int n;
    char last[512];
} l2c_log_t;

static void l2c_log_fn(void *user, const char *msg) {
    l2c_log_t *l = user;
    if (strncmp(msg, "warning:", 8)) return;
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

TF_TEST(convert_llama2c_checkpoint) {
    const char *tok = tf_fixture("llama2-tokenizer/tokenizer.bin");
    if (!tf_file_exists(tok)) return tf_skip_fixture("fixtures absent");
    /* dim 8, hidden 12, 2 layers, 2 heads, 1 kv head, vocab -32000 (unshared), seq 4 */
    const int32_t h[7] = {8, 12, 2, 2, 1, -32000, 4};
    const int64_t E = 8, F = 12, L = 2, KV = 4, V = 32000, S = 4, hs = 4;
    l2c_log_t l2c_log = {0};
    int64_t n = V * E + L * E + L * E * E + 2 * L * KV * E + L * E * E + L * E + 3 * L * F * E + E + S * hs + V * E;
    float *w = malloc((size_t)n * sizeof *w);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(i % 1000) * 0.001f - 0.5f;
    const char *path = tf_tmp_path("l2c.bin");
    FILE *f = fopen(path, "wb");
    fwrite(h, 4, 7, f);
    fwrite(w, 4, (size_t)n, f);
    fclose(f);
    elm_convert_params p;
    p = elm_convert_default_params();
    p.src = path;
    p.out = tf_tmp_path("l2c.gguf");
    p.tokenizer = tok;
    p.outtype = GL_TYPE_F32;
    p.log = l2c_log_fn;
    p.user = &l2c_log;
    gl_error err = {0};
    elm_convert_stats st;
    TF_CHECK(elm_convert(&p, &st, &err) == GL_OK, "%s", err.msg);
    gl_gguf *g = gl_gguf_open(p.out, &err);
    TF_CHECK(g != NULL, "%s", err.msg);
    if (g) {
        TF_CHECK(kv_int(g, "llama.attention.head_count_kv") == 1 && kv_int(g, "llama.context_length") == 4);
        /* offsets of known elements: wk of layer 1 starts after emb, rms_att, wq, wk[0] */
        int64_t off_wk1 = V * E + L * E + L * E * E + KV * E;
        const gl_gguf_tensor_info *t = tensor(g, "blk.1.attn_k.weight");
        TF_CHECK(t && t->ne[0] == E && t->ne[1] == KV);
        if (t) TF_CHECK(gg_at(t, 3, 2) == w[off_wk1 + 2 * E + 3], "no permutation for llama2.c");
        int64_t off_w2_0 = V * E + L * E + L * E * E + 2 * L * KV * E + L * E * E + L * E + L * F * E;
        t = tensor(g, "blk.0.ffn_down.weight");
        TF_CHECK(t && t->ne[0] == F && t->ne[1] == E && gg_at(t, 5, 7) == w[off_w2_0 + 7 * F + 5]);
        t = tensor(g, "output.weight");
        TF_CHECK(t && gg_at(t, 1, 31999) == w[n - V * E + 31999 * E + 1]);
        TF_CHECK(gl_gguf_arr_n(g, gl_gguf_find_key(g, "tokenizer.ggml.tokens")) == 32000);
        TF_CHECK(arr_str_is(g, "tokenizer.ggml.tokens", 1, "<s>") && arr_str_is(g, "tokenizer.ggml.tokens", 260, "\xE2\x96\x81t"));
        gl_gguf_close(g);
    }
    /* bytes after the last array (nothing maps them): a warning naming their count, and
     * --strict refuses (converter honesty); the clean file above gave no warning */
    TF_CHECK(l2c_log.n == 0, "a clean checkpoint warned: %s", l2c_log.last);
    f = fopen(path, "ab");
    fwrite(w, 4, 3, f);
    fclose(f);
    TF_CHECK(elm_convert(&p, &st, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(l2c_log.n == 1 && strstr(l2c_log.last, "warning: 12 bytes after the last tensor") &&
                 strstr(l2c_log.last, "not converted"),
             "log: %s", l2c_log.last);
    p.strict = true;
    TF_CHECK(elm_convert(&p, &st, &err) != GL_OK && strstr(err.msg, "--strict: 12 bytes after the last tensor"), "%s",
             err.msg);
    p.strict = false;
    /* truncated checkpoint */
    f = fopen(path, "wb");
    fwrite(h, 4, 7, f);
    fwrite(w, 4, (size_t)(n / 2), f);
    fclose(f);
    TF_CHECK(elm_convert(&p, &st, &err) != GL_OK && strstr(err.msg, "truncated"), "%s", err.msg);
    free(w);
}

/* ---- malformed inputs ---- */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }

/* A safetensors file with the given JSON header and data_bytes of zeros. */
static void write_st(const char *path, const char *header, size_t data_bytes, int64_t hlen_override) {
    size_t hl = strlen(header);
    uint64_t len = hlen_override >= 0 ? (uint64_t)hlen_override : hl;
    size_t total = 8 + hl + data_bytes;
    uint8_t *buf = calloc(1, total);
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)(len >> (8 * k));
    memcpy(buf + 8, header, hl);
    write_file(path, buf, total);
    free(buf);
}

static void expect_fail(const char *dir, const char *what, const char *needle) {
    gl_error err = {0};
    gl_status s = tfm_convert(dir, tf_tmp_path("bad.gguf"), -1, false, NULL, &err);
    TF_CHECK(s != GL_OK, "%s should fail", what);
    TF_CHECK(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, needle);
}

TF_TEST(malformed_inputs_fail_cleanly) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s", tf_tmp_path("bad"));
    mkdir(dir, 0700);
    char cfg[512], stp[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(stp, sizeof stp, "%s/model.safetensors", dir);
    const char *llama_cfg = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4,\"num_hidden_layers\":1,"
                            "\"num_attention_heads\":2,\"intermediate_size\":8,\"vocab_size\":10}";
    write_str(cfg, "{\"architectures\":[\"FooModel\"],\"model_type\":\"foo\"}");
    expect_fail(dir, "unknown arch", "FooModel");
    write_str(cfg, "{\"architectures\":[\"LlamaForCausalLM\"],");
    expect_fail(dir, "bad JSON", "JSON");
    write_str(cfg, llama_cfg);
    remove(stp);
    expect_fail(dir, "no weights", "model.safetensors");
    write_file(stp, "\x10\x00\x00", 3);
    expect_fail(dir, "truncated safetensors", "truncated");
    write_st(stp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1 << 20);
    expect_fail(dir, "header length past the end", "header length");
    write_st(stp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1);
    expect_fail(dir, "offsets past the end", "past the end");
    write_st(stp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8, -1);
    expect_fail(dir, "size mismatch", "need");
    write_st(stp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, -1);
    expect_fail(dir, "reversed offsets", "data_offsets");
    write_st(stp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, -1);
    expect_fail(dir, "bad header JSON", "JSON");
    write_st(stp, "{\"model.embed_tokens.weight\":{\"dtype\":\"I64\",\"shape\":[10,4],\"data_offsets\":[0,320]}}", 320, -1);
    expect_fail(dir, "integer weights", "I64");
    write_st(stp, "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[10,5],\"data_offsets\":[0,200]}}", 200, -1);
    expect_fail(dir, "wrong shape", "expected [10, 4]");
    write_st(stp, "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[10,4],\"data_offsets\":[0,160]}}", 160, -1);
    expect_fail(dir, "missing tensor", "input_layernorm");
    /* sharded index naming a file outside the folder */
    remove(stp);
    char idx[512];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    write_str(idx, "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
    expect_fail(dir, "shard path", "shard file name");
    remove(idx);
    remove(cfg);
}

TF_TEST(malformed_tokenizers_fail_cleanly) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s", tf_tmp_path("badtok"));
    mkdir(dir, 0700);
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer.model", dir);
    write_file(p, "\x0a\xff\xff\xff\xff\x0f", 6); /* piece with a length far past the end */
    gl_error err = {0};
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, "protobuf"), "%s",
             err.msg);
    write_file(p, "\x0a\x04\x0a\x02\xff\xfe", 6); /* piece text not UTF-8 */
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, "UTF-8"), "%s", err.msg);
    remove(p);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}");
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, "two tokens"), "%s",
             err.msg);
    write_str(p, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}");
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, "WordPiece"), "%s",
             err.msg);
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]},"
                 "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
                 "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
                 "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}},{\"type\":\"ByteLevel\",\"use_regex\":false}]},"
                 "\"added_tokens\":[{\"id\":3,\"content\":\"<|eot_id|>\",\"special\":true}],"
                 "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|eot_id|>\"}},"
                 "{\"Sequence\":{\"id\":\"A\"}}]}}");
    const char *out = tf_tmp_path("t.gguf");
    TF_CHECK(tfm_convert(dir, out, -1, true, NULL, &err) == GL_OK, "%s", err.msg);
    gl_gguf *g = gl_gguf_open(out, &err);
    TF_CHECK(g && kv_str_is(g, "tokenizer.ggml.pre", "llama-bpe"), "llama3 pattern recognised");
    TF_CHECK(g && arr_i64(g, "tokenizer.ggml.token_type", 3) == 3 && kv_bool_is(g, "tokenizer.ggml.add_bos_token", true));
    gl_gguf_close(g);
    remove(p);
}

TF_TEST(spm_protobuf_fuzz) {
    /* Random mutations of a valid 3-piece model: parse or fail, never crash (ASan). */
    const uint8_t base[] = {0x0a, 0x0c, 0x0a, 0x05, '<', 'u', 'n', 'k', '>', 0x15, 0, 0, 0, 0,
                            0x0a, 0x0a, 0x0a, 0x01, 'a', 0x15, 0, 0, 0x80, 0xbf, 0x18, 0x01,
                            0x12, 0x05, 0x18, 0x02, 0x98, 0x02, 0x01, 0x1a, 0x02, 0x18, 0x00};
    elm_spm_model m;
    gl_error err = {0};
    TF_CHECK(elm_spm_parse(base, sizeof base, &m, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(m.n_pieces == 2 && m.model_type == ELM_SPM_BPE && !m.add_dummy_prefix && m.byte_fallback && m.pieces[1].score == -1.0f);
    elm_spm_free(&m);
    tf_rng rng = {42};
    uint8_t buf[sizeof base];
    int fails = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, base, sizeof base);
        buf[tf_rand_int(&rng, 0, (int)sizeof base - 1)] = (uint8_t)tf_rand_int(&rng, 0, 255);
        size_t len = (size_t)tf_rand_int(&rng, 0, (int)sizeof base);
        if (elm_spm_parse(buf, len, &m, &err) == GL_OK) elm_spm_free(&m);
        else fails++;
    }
    TF_CHECK(fails > 0);
}

/* Regression (issue 14): an empty tokenizer.model (NULL, 0) is refused with a message
 * instead of doing pointer arithmetic on NULL (UBSan in test-asan). */
TF_TEST(spm_parse_empty) {
    elm_spm_model m;
    gl_error err = {0};
    TF_CHECK(elm_spm_parse(NULL, 0, &m, &err) == GL_ERR_FORMAT && strstr(err.msg, "empty"), "%s", err.msg);
    const uint8_t one = 0;
    TF_CHECK(elm_spm_parse(&one, 0, &m, &err) == GL_ERR_FORMAT && m.n_pieces == 0 && !m.pieces);
}

/* Regression (issue 14): tokenizer.json merges naming tokens that are not in the vocabulary
 * and three-part merges were accepted silently. */
TF_TEST(tokenizer_json_bad_merges_refused) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s", tf_tmp_path("badmerge"));
    mkdir(dir, 0700);
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    static const struct {
        const char *merges, *needle;
    } cases[] = {
        {"[\"a c\"]", "second part is not in the vocabulary"},
        {"[\"x b\"]", "first part is not in the vocabulary"},
        {"[\"b a\"]", "merged token is not in the vocabulary"},
        {"[\"a b c\"]", "more than two parts"},
        {"[[\"a\",\"q\"]]", "second part"},
    };
    gl_error err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"c d\":3},\"merges\":%s},"
                 "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}",
                 cases[i].merges);
        write_str(p, json);
        memset(&err, 0, sizeof err);
        TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, cases[i].needle),
                 "case %zu: '%s'", i, err.msg);
    }
    /* the same vocabulary with a good merge converts */
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]},"
                 "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}");
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) == GL_OK, "%s", err.msg);
    /* SentencePiece-style BPE: a merge making a token that is not there */
    write_str(p, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2},\"merges\":[\"a b\"],"
                 "\"unk_token\":\"<unk>\"}}");
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, "not in the vocabulary"),
             "%s", err.msg);
    remove(p);
}

/* Regressions (issue 14): max_position_embeddings 0 or 2^33 was replaced by 2048, and a
 * bos_token_id outside the vocabulary was dropped; both are errors now. */
TF_TEST(config_bad_context_and_bos_refused) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s", tf_tmp_path("badcfg"));
    mkdir(dir, 0700);
    char cfg[512], tok[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(tok, sizeof tok, "%s/tokenizer.json", dir);
    static const char *const bad_ctx[] = {"0", "8589934592", "-5", "\"2048\""};
    for (size_t i = 0; i < sizeof bad_ctx / sizeof bad_ctx[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4,\"num_hidden_layers\":1,"
                 "\"num_attention_heads\":2,\"intermediate_size\":8,\"vocab_size\":10,\"max_position_embeddings\":%s}",
                 bad_ctx[i]);
        write_str(cfg, json);
        expect_fail(dir, bad_ctx[i], "max_position_embeddings");
    }
    write_str(tok, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]},"
                   "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}");
    write_str(cfg, "{\"bos_token_id\": 3}");
    gl_error err = {0};
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) != GL_OK && strstr(err.msg, "bos_token_id"),
             "%s", err.msg);
    write_str(cfg, "{\"bos_token_id\": 2}");
    TF_CHECK(tfm_convert(dir, tf_tmp_path("t.gguf"), -1, true, NULL, &err) == GL_OK, "%s", err.msg);
    remove(tok);
    remove(cfg);
}

/* An in-memory F32 source tensor of [rows, cols] (cols 0: 1-D) holding 0, 1, 2, ... */
static elm_st_tensor plan_src(const char *name, float *data, int64_t rows, int64_t cols) {
    elm_st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = ELM_ST_F32;
    snprintf(t.dtype_name, sizeof t.dtype_name, "F32");
    t.n_dims = cols > 0 ? 2 : 1;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.n_elements = rows * (cols > 0 ? cols : 1);
    for (int64_t i = 0; i < t.n_elements; i++) data[i] = (float)i;
    t.data = data;
    t.nbytes = (uint64_t)t.n_elements * 4;
    return t;
}

static gl_status plan_fill_squares(void *user, const elm_cv_item *it, float *dst, gl_error *err) {
    (void)user;
    (void)err;
    for (int64_t i = 0; i < it->ne[0] * it->ne[1]; i++) dst[i] = (float)(i * i) + (float)it->fill_arg[0];
    return GL_OK;
}

/* The one converter pipeline: each transform, the type rule with its F16 fallback, the
 * file type, a family's fill function and the stats, written and read back. */
TF_TEST(plan_transforms_types_and_stats) {
    float d_copy[6 * 4], d_perm[8 * 2], d_tr[3 * 5], d_norm[4], d_pos[5 * 32], d_q[3 * 32];
    elm_st_tensor copy = plan_src("copy", d_copy, 6, 4), perm = plan_src("perm", d_perm, 8, 2),
                  tr = plan_src("tr", d_tr, 3, 5), norm = plan_src("norm", d_norm, 4, 0),
                  pos = plan_src("pos", d_pos, 5, 32), q = plan_src("q", d_q, 3, 32);
    elm_convert_params p;
    p = elm_convert_default_params();
    p.out = tf_tmp_path("plan.gguf");
    p.outtype = GL_TYPE_Q8_0;
    gl_error err = {0};
    elm_cv_plan pl;
    elm_cv_plan_init(&pl, &p, &err);
    pl.fill = plan_fill_squares;
    TF_CHECK(elm_cv_plan_add(&pl, "copy.weight", &copy, 6, 4, ELM_CV_COPY, 0, false) == GL_OK); /* rows of 4: f16 */
    TF_CHECK(elm_cv_plan_add(&pl, "perm.weight", &perm, 8, 2, ELM_CV_PERMUTE, 2, true) == GL_OK);
    TF_CHECK(elm_cv_plan_add(&pl, "tr.weight", &tr, 3, 5, ELM_CV_TRANSPOSE, 0, true) == GL_OK);
    TF_CHECK(elm_cv_plan_add(&pl, "norm.weight", &norm, 4, 0, ELM_CV_COPY, 0, false) == GL_OK);
    elm_cv_plan_last(&pl)->add = 1.0f;
    TF_CHECK(elm_cv_plan_add(&pl, "pos.weight", &pos, 5, 32, ELM_CV_COPY, 0, true) == GL_OK);
    elm_cv_plan_last(&pl)->row_offset = 2; /* rows 2..4 are written */
    elm_cv_plan_last(&pl)->ne[1] = 3;
    TF_CHECK(elm_cv_plan_add(&pl, "q.weight", &q, 3, 32, ELM_CV_COPY, 0, false) == GL_OK);
    TF_CHECK(elm_cv_plan_add_fill(&pl, "fill.weight", 2, 3, 2, true, 7, 10, 0, 0) == GL_OK);
    /* a wrong shape and a missing source are refused, naming the tensor */
    TF_CHECK(elm_cv_plan_add(&pl, "bad", &copy, 4, 6, ELM_CV_COPY, 0, false) != GL_OK && strstr(err.msg, "copy"), "%s",
             err.msg);
    TF_CHECK(elm_cv_plan_add(&pl, "none", NULL, 4, 6, ELM_CV_COPY, 0, false) != GL_OK && strstr(err.msg, "none"));
    TF_CHECK(pl.n_items == 7 && pl.n_fallback == 1, "%d items, %d fallbacks", pl.n_items, pl.n_fallback);
    gl_gguf_writer *w = elm_cv_plan_open(&pl, "test", "plan");
    if (!TF_CHECK(w != NULL, "%s", err.msg)) {
        elm_cv_plan_free(&pl);
        return;
    }
    elm_convert_stats st;
    memset(&st, 0, sizeof st);
    TF_CHECK(elm_cv_plan_write(&pl, w, "test", &st) == GL_OK, "%s", err.msg);
    TF_CHECK(!strcmp(st.arch, "test") && st.n_tensors == 7 && st.n_fallback == 1 &&
             st.bytes_in == copy.nbytes + perm.nbytes + tr.nbytes + norm.nbytes + pos.nbytes + q.nbytes);
    elm_cv_plan_free(&pl);
    gl_gguf *g = gl_gguf_open(p.out, &err);
    if (!TF_CHECK(g != NULL, "%s", err.msg)) return;
    TF_CHECK(kv_int(g, "general.file_type") == 7 && kv_int(g, "general.quantization_version") == 2);
    const gl_gguf_tensor_info *t = tensor(g, "copy.weight");
    TF_CHECK(t && t->type == GL_TYPE_F16 && t->ne[0] == 4 && t->ne[1] == 6 && gg_at(t, 3, 5) == 23.0f);
    t = tensor(g, "perm.weight"); /* 2 heads of 4 rows: new row 2i + k of a head = old row k*2 + i */
    TF_CHECK(t && t->type == GL_TYPE_F32 && gg_at(t, 0, 1) == 4.0f && gg_at(t, 1, 2) == 3.0f && gg_at(t, 0, 5) == 12.0f);
    t = tensor(g, "tr.weight"); /* [3 in, 5 out] → rows of 3 */
    TF_CHECK(t && t->ne[0] == 3 && t->ne[1] == 5 && gg_at(t, 2, 1) == 11.0f && gg_at(t, 0, 4) == 4.0f);
    t = tensor(g, "norm.weight");
    TF_CHECK(t && t->type == GL_TYPE_F32 && gg_at(t, 0, 0) == 1.0f && gg_at(t, 3, 0) == 4.0f);
    t = tensor(g, "pos.weight");
    TF_CHECK(t && t->type == GL_TYPE_F32 && t->ne[1] == 3 && gg_at(t, 0, 0) == 64.0f && gg_at(t, 31, 2) == 159.0f);
    t = tensor(g, "q.weight");
    TF_CHECK(t && t->type == GL_TYPE_Q8_0);
    t = tensor(g, "fill.weight");
    TF_CHECK(t && t->type == GL_TYPE_F32 && gg_at(t, 1, 1) == 26.0f);
    gl_gguf_close(g);
}

/* Architecture detection asks the one table: classes (and class prefixes) first, model_type
 * only without a class. */
TF_TEST(detect_from_config_asks_the_table) {
    const elm_arch *a;
    TF_CHECK((a = elm_arch_from_hf_config("DistilBertForSequenceClassification", "distilbert")) && !strcmp(a->name, "bert"));
    TF_CHECK((a = elm_arch_from_hf_config("XLMRobertaForMaskedLM", NULL)) && !strcmp(a->name, "bert"));
    TF_CHECK((a = elm_arch_from_hf_config("T5ForConditionalGeneration", "t5")) && a->family == ELM_FAMILY_T5);
    TF_CHECK((a = elm_arch_from_hf_config(NULL, "mistral")) && !strcmp(a->name, "llama"));
    TF_CHECK((a = elm_arch_from_hf_config(NULL, "xlm-roberta")) && !strcmp(a->name, "bert"));
    TF_CHECK((a = elm_arch_from_hf_config("Gemma3ForConditionalGeneration", "gemma3")) && !strcmp(a->name, "gemma3"));
    TF_CHECK(elm_arch_from_hf_config("FooModel", "bert") == NULL && elm_arch_from_hf_config("T5EncoderModel", "t5") == NULL);
    TF_CHECK(elm_arch_from_hf_config(NULL, NULL) == NULL && elm_arch_from_hf("Ber") == NULL);
    char name[64];
    write_str(tf_tmp_path("stories.v2.bin"), "x");
    elm_cv_default_name(tf_tmp_path("stories.v2.bin"), name, sizeof name);
    TF_CHECK(!strcmp(name, "stories.v2"), "%s", name);
    mkdir(tf_tmp_path("Qwen3-0.6B"), 0700);
    elm_cv_default_name(tf_tmp_path("Qwen3-0.6B/"), name, sizeof name);
    TF_CHECK(!strcmp(name, "Qwen3-0.6B"), "%s", name);
    TF_CHECK(elm_cv_detect_dir(tf_tmp_path("Qwen3-0.6B")) == NULL); /* no config.json */
    write_str(tf_tmp_path("Qwen3-0.6B/config.json"), "{\"architectures\": [\"Qwen3ForCausalLM\"]}");
    TF_CHECK((a = elm_cv_detect_dir(tf_tmp_path("Qwen3-0.6B"))) && !strcmp(a->name, "qwen3"));
    remove(tf_tmp_path("Qwen3-0.6B/config.json"));
    rmdir(tf_tmp_path("Qwen3-0.6B"));
    remove(tf_tmp_path("stories.v2.bin"));
    remove(tf_tmp_path("plan.gguf"));
}

TF_MAIN
