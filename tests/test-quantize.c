/*
 * test-quantize — `edgelm quantize` as a library (quant/quantize.h) and the quality figures
 * (examples/edgelm/cli_quality.h).
 *
 *   type names and llama.cpp's file_type ids; which tensors are quantized; the mix rules
 *   (Q4_K_M / Q4_K_S on attention-value and ffn_down); the fallback rule (rows that do not
 *   divide into blocks); the requantize rule (refused without allow_requantize, warned with
 *   it); metadata copied; every family quantized to every type loads and stays within a
 *   stated bound of its F32 original on the shared reference models (hf-reference llama,
 *   gpt2, bert, t5 and the elmo-bilm-tf fixture), reporting KL / top-1 as it goes.
 *
 * Quality bounds (mean KL divergence in nats over the test text, all families). The reference
 * models are tiny and random (64-wide rows, weights std 0.12, no training), which makes them
 * far more sensitive to rounding than trained models, and their 64-wide rows make the K types
 * fall back to Q5_0/Q5_1/Q8_0/Q4_0 on most matrices (Q2_K ends up as Q4_0 throughout; the K
 * kernels themselves are checked by test-quants-k). So these are regression bounds about 2x
 * the largest value measured over the four families: F16 0.001, BF16 0.002, Q8_0 and Q6_K
 * 0.015, Q5_x 0.25, Q4_x/Q4_K_x/Q3_K_M/Q2_K 1.0. They must also be ordered: KLD(F16) <
 * KLD(Q8_0) < KLD(Q4_0) for each family. ELMo (relative error of all layers): F16 0.001, BF16
 * 0.003, Q8_0/Q6_K 0.005, Q5 0.03, Q4/Q3/Q2 0.05.
 */
#include "tf.h"

#include "convert.h"
#include "convert_elmo.h"
#include "gl-quants.h"
#include "edgelm.h"
#include "cli_quality.h"
#include "quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char qt_dir[256];

static const char *qt_path(const char *name) {
    static char buf[8][512];
    static int slot;
    if (!qt_dir[0]) snprintf(qt_dir, sizeof qt_dir, "/tmp/edgelm-test-quantize-%d", (int)getpid());
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s-%s", qt_dir, name);
    return buf[slot];
}

TF_TEST(type_names_and_file_types) {
    static const struct { const char *name, *canon; gl_type base; uint32_t ft; } cases[] = {
        {"F32", "F32", GL_TYPE_F32, 0},       {"f16", "F16", GL_TYPE_F16, 1},
        {"BF16", "BF16", GL_TYPE_BF16, 32},   {"Q8_0", "Q8_0", GL_TYPE_Q8_0, 7},
        {"Q4_0", "Q4_0", GL_TYPE_Q4_0, 2},    {"Q4_1", "Q4_1", GL_TYPE_Q4_1, 3},
        {"Q5_0", "Q5_0", GL_TYPE_Q5_0, 8},    {"Q5_1", "Q5_1", GL_TYPE_Q5_1, 9},
        {"Q2_K", "Q2_K", GL_TYPE_Q2_K, 10},   {"Q3_K", "Q3_K_M", GL_TYPE_Q3_K, 12},
        {"Q3_K_S", "Q3_K_S", GL_TYPE_Q3_K, 11}, {"Q3_K_L", "Q3_K_L", GL_TYPE_Q3_K, 13},
        {"Q4_K_S", "Q4_K_S", GL_TYPE_Q4_K, 14}, {"q4_k_m", "Q4_K_M", GL_TYPE_Q4_K, 15},
        {"Q4_K", "Q4_K_M", GL_TYPE_Q4_K, 15}, {"Q5_K_S", "Q5_K_S", GL_TYPE_Q5_K, 16},
        {"Q5_K", "Q5_K_M", GL_TYPE_Q5_K, 17}, {"Q6_K", "Q6_K", GL_TYPE_Q6_K, 18},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        elm_quant_spec s;
        TF_CHECK(elm_quant_parse(cases[i].name, &s), "%s", cases[i].name);
        TF_CHECK(!strcmp(s.name, cases[i].canon) && s.base == cases[i].base && s.file_type == cases[i].ft,
                 "%s -> %s %d %u", cases[i].name, s.name, (int)s.base, s.file_type);
    }
    TF_CHECK(!elm_quant_parse("Q4_2", NULL) && !elm_quant_parse("", NULL) && !elm_quant_parse(NULL, NULL));
    /* the public face of the same table (edgelm.h) */
    const char *canon = NULL;
    gl_type base = GL_TYPE_F32;
    TF_CHECK(elm_quant_type_info("q4_k", &canon, &base) && !strcmp(canon, "Q4_K_M") && base == GL_TYPE_Q4_K);
    TF_CHECK(!elm_quant_type_info("Q4_2", &canon, &base) && strstr(elm_quant_type_list(), "IQ4_XS"));
    elm_quantize_params p = elm_quantize_default_params();
    elm_error err = {ELM_OK, ""};
    p.in = "/nonexistent-in.gguf";
    p.out = "/nonexistent-out.gguf";
    TF_CHECK(elm_quantize(&p, NULL, &err) == ELM_ERR_INVALID && strstr(err.msg, "no type"), "%s", err.msg);
    p.type = "Q4_2";
    TF_CHECK(elm_quantize(&p, NULL, &err) == ELM_ERR_INVALID && strstr(err.msg, "unknown type 'Q4_2'"), "%s", err.msg);
}

/* ---- a synthetic file: every rule in one place ---- */

typedef struct qt_tensor {
    const char *name;
    int n_dims;
    int64_t ne0, ne1;
    gl_type type;
} qt_tensor;

static bool qt_write_file(const char *path, const qt_tensor *ts, int n, uint64_t seed) {
    gl_error err = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &err);
    if (!TF_CHECK(w != NULL, "%s", err.msg)) return false;
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    gl_gguf_w_kv_str(w, "general.name", "synthetic");
    gl_gguf_w_kv_u32(w, "general.file_type", 0);
    gl_gguf_w_kv_u32(w, "llama.attention.head_count", 8);
    gl_gguf_w_kv_u32(w, "llama.attention.head_count_kv", 8);
    gl_gguf_w_kv_f32(w, "llama.rope.freq_base", 10000.0f);
    gl_gguf_w_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    const char *toks[3] = {"<s>", "a", "b\xc3\xa9"};
    gl_gguf_w_kv_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3);
    const float scores[3] = {0.0f, -1.5f, -2.25f};
    gl_gguf_w_kv_arr(w, "tokenizer.ggml.scores", GL_GGUF_FLOAT32, scores, 3);
    for (int i = 0; i < n; i++) {
        const int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        gl_gguf_w_tensor_info(w, ts[i].name, ts[i].type, ts[i].n_dims, ne);
    }
    tf_rng rng = {seed};
    for (int i = 0; i < n; i++) {
        const int64_t nel = ts[i].ne0 * (ts[i].n_dims > 1 ? ts[i].ne1 : 1);
        float *x = malloc(sizeof(float) * (size_t)nel);
        for (int64_t j = 0; j < nel; j++) x[j] = tf_rand_normal(&rng) * 0.1f;
        const size_t bytes = gl_row_size(ts[i].type, ts[i].ne0) * (size_t)(nel / ts[i].ne0);
        void *q = malloc(bytes);
        gl_quantize_rows(ts[i].type, x, q, nel / ts[i].ne0, ts[i].ne0);
        gl_gguf_w_tensor_data(w, q, bytes);
        free(q);
        free(x);
    }
    return TF_CHECK(gl_gguf_writer_close(w, &err) == GL_OK, "%s", err.msg);
}

static gl_type qt_type_of(const gl_gguf *f, const char *name) {
    const int64_t i = gl_gguf_find_tensor(f, name);
    return i < 0 ? (gl_type)-1 : gl_gguf_tensor(f, i)->type;
}

typedef struct qt_log {
    int n_notes, n_warnings;
    char last[512];
} qt_log;

static void qt_log_fn(void *user, const char *msg) {
    qt_log *l = user;
    if (!strncmp(msg, "note:", 5)) l->n_notes++;
    if (!strncmp(msg, "warning:", 8)) l->n_warnings++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

static gl_status qt_quantize(const char *in, const char *out, const char *type, bool allow, bool pure,
                             qt_log *log, elm_quantize_stats *st, gl_error *err) {
    elm_quantize_params p = elm_quantize_default_params();
    p.in = in;
    p.out = out;
    p.type = type;
    p.n_threads = 2;
    p.allow_requantize = allow;
    p.pure = pure;
    p.log = qt_log_fn;
    p.user = log;
    return elm_quantize(&p, st, err);
}

static const qt_tensor qt_synth[] = {
    {"token_embd.weight", 2, 256, 16, GL_TYPE_F32},
    {"position_embd.weight", 2, 256, 8, GL_TYPE_F32},
    {"blk.0.attn_norm.weight", 1, 256, 1, GL_TYPE_F16},   /* vector in F16: becomes F32 */
    {"blk.0.attn_v.weight", 2, 256, 8, GL_TYPE_F32},
    {"blk.0.ffn_down.weight", 2, 96, 8, GL_TYPE_F32},    /* 96: not /256, /32 */
    {"blk.0.ffn_up.weight", 2, 40, 8, GL_TYPE_F16},      /* 40: not even /32 */
    {"blk.0.attn_rel_b.weight", 2, 32, 8, GL_TYPE_F32},  /* T5's bias: never quantized */
    {"blk.0.ffn_up.bias", 1, 8, 1, GL_TYPE_F32},
    {"output.weight", 2, 64, 16, GL_TYPE_F32},           /* 64: Q6_K does not fit -> Q8_0 */
};
#define QT_NS (int)(sizeof qt_synth / sizeof qt_synth[0])

TF_TEST(tensor_rules_fallback_and_metadata) {
    const char *in = qt_path("synth.gguf"), *out = qt_path("synth-q4km.gguf");
    if (!qt_write_file(in, qt_synth, QT_NS, 1)) return;
    qt_log log = {0};
    elm_quantize_stats st;
    gl_error err = {0};
    TF_CHECK(qt_quantize(in, out, "Q4_K_M", false, false, &log, &st, &err) == GL_OK, "%s", err.msg);
    gl_gguf *f = gl_gguf_open(out, &err);
    if (!TF_CHECK(f != NULL, "%s", err.msg)) return;
    TF_CHECK(qt_type_of(f, "token_embd.weight") == GL_TYPE_Q4_K);
    TF_CHECK(qt_type_of(f, "position_embd.weight") == GL_TYPE_F32, "position embeddings stay");
    TF_CHECK(qt_type_of(f, "blk.0.attn_norm.weight") == GL_TYPE_F32, "vectors become F32");
    /* one attention-value tensor: use_more_bits(0, 1) (0 >= 7/8) → Q6_K */
    TF_CHECK(qt_type_of(f, "blk.0.attn_v.weight") == GL_TYPE_Q6_K, "%s", gl_type_name(qt_type_of(f, "blk.0.attn_v.weight")));
    /* ffn_down wants Q6_K (use_more_bits) → rows of 96 → Q8_0 (llama.cpp's Q6_K fallback) */
    TF_CHECK(qt_type_of(f, "blk.0.ffn_down.weight") == GL_TYPE_Q8_0, "%s", gl_type_name(qt_type_of(f, "blk.0.ffn_down.weight")));
    TF_CHECK(qt_type_of(f, "blk.0.ffn_up.weight") == GL_TYPE_F16, "rows of 40 -> F16");
    TF_CHECK(qt_type_of(f, "blk.0.attn_rel_b.weight") == GL_TYPE_F32);
    TF_CHECK(qt_type_of(f, "blk.0.ffn_up.bias") == GL_TYPE_F32);
    TF_CHECK(qt_type_of(f, "output.weight") == GL_TYPE_Q8_0, "output with rows of 64 -> Q8_0");
    TF_CHECK(st.n_fallback == 2 && log.n_notes == 2, "fallbacks %lld, notes %d", (long long)st.n_fallback, log.n_notes);
    TF_CHECK(st.n_tensors == QT_NS && st.n_requantized == 0);
    /* metadata: copied, file_type replaced, quantization_version added */
    int64_t k = gl_gguf_find_key(f, "general.file_type");
    uint64_t u = 0;
    TF_CHECK(k >= 0 && gl_gguf_get_u64(f, k, &u) && u == 15, "file_type %llu", (unsigned long long)u);
    k = gl_gguf_find_key(f, "general.quantization_version");
    TF_CHECK(k >= 0 && gl_gguf_get_u64(f, k, &u) && u == 2);
    k = gl_gguf_find_key(f, "tokenizer.ggml.tokens");
    TF_CHECK(k >= 0 && gl_gguf_arr_n(f, k) == 3 && gl_str_eq(gl_gguf_arr_str(f, k, 2), "b\xc3\xa9"));
    k = gl_gguf_find_key(f, "tokenizer.ggml.scores");
    double d = 0;
    TF_CHECK(k >= 0 && gl_gguf_arr_get_f64(f, k, 2, &d) && d == -2.25);
    k = gl_gguf_find_key(f, "llama.rope.freq_base");
    TF_CHECK(k >= 0 && gl_gguf_kv_type(f, k) == GL_GGUF_FLOAT32 && gl_gguf_get_f64(f, k, &d) && d == 10000.0);
    bool b = false;
    k = gl_gguf_find_key(f, "tokenizer.ggml.add_bos_token");
    TF_CHECK(k >= 0 && gl_gguf_get_bool(f, k, &b) && b);
    gl_gguf_close(f);
    /* pure: no mix rules (but the fallback still applies) */
    TF_CHECK(qt_quantize(in, out, "Q4_K_M", false, true, &log, &st, &err) == GL_OK, "%s", err.msg);
    f = gl_gguf_open(out, &err);
    if (f) {
        TF_CHECK(qt_type_of(f, "blk.0.attn_v.weight") == GL_TYPE_Q4_K && qt_type_of(f, "output.weight") == GL_TYPE_Q5_0,
                 "pure: %s %s", gl_type_name(qt_type_of(f, "blk.0.attn_v.weight")), gl_type_name(qt_type_of(f, "output.weight")));
        gl_gguf_close(f);
    }
    remove(in);
    remove(out);
}

TF_TEST(mix_rules_by_layer) {
    /* 8 layers: Q4_K_M raises attn_v and ffn_down where use_more_bits(i, 8): i = 0, 3, 6, 7;
     * Q4_K_S raises attn_v i < 4 and ffn_down i < 1 to Q5_K */
    qt_tensor ts[17];
    static char names[16][40];
    for (int l = 0; l < 8; l++) {
        snprintf(names[2 * l], sizeof names[0], "blk.%d.attn_v.weight", l);
        snprintf(names[2 * l + 1], sizeof names[0], "blk.%d.ffn_down.weight", l);
        ts[2 * l] = (qt_tensor){names[2 * l], 2, 256, 2, GL_TYPE_F32};
        ts[2 * l + 1] = (qt_tensor){names[2 * l + 1], 2, 256, 2, GL_TYPE_F32};
    }
    ts[16] = (qt_tensor){"output.weight", 2, 256, 4, GL_TYPE_F32};
    const char *in = qt_path("layers.gguf"), *out = qt_path("layers-q.gguf");
    if (!qt_write_file(in, ts, 17, 2)) return;
    qt_log log = {0};
    gl_error err = {0};
    elm_quantize_stats st;
    TF_CHECK(qt_quantize(in, out, "Q4_K_M", false, false, &log, &st, &err) == GL_OK, "%s", err.msg);
    gl_gguf *f = gl_gguf_open(out, &err);
    if (f) {
        for (int l = 0; l < 8; l++) {
            const gl_type want = (l == 0 || l == 3 || l == 6 || l == 7) ? GL_TYPE_Q6_K : GL_TYPE_Q4_K;
            TF_CHECK(qt_type_of(f, names[2 * l]) == want && qt_type_of(f, names[2 * l + 1]) == want, "Q4_K_M layer %d", l);
        }
        TF_CHECK(qt_type_of(f, "output.weight") == GL_TYPE_Q6_K);
        gl_gguf_close(f);
    }
    TF_CHECK(qt_quantize(in, out, "Q4_K_S", false, false, &log, &st, &err) == GL_OK, "%s", err.msg);
    f = gl_gguf_open(out, &err);
    if (f) {
        for (int l = 0; l < 8; l++) {
            TF_CHECK(qt_type_of(f, names[2 * l]) == (l < 4 ? GL_TYPE_Q5_K : GL_TYPE_Q4_K), "Q4_K_S attn_v %d", l);
            TF_CHECK(qt_type_of(f, names[2 * l + 1]) == (l < 1 ? GL_TYPE_Q5_K : GL_TYPE_Q4_K), "Q4_K_S ffn_down %d", l);
        }
        gl_gguf_close(f);
    }
    remove(in);
    remove(out);
}

TF_TEST(requantize_rule) {
    const char *in = qt_path("rq.gguf"), *q = qt_path("rq-q4.gguf"), *q2 = qt_path("rq-q8.gguf");
    if (!qt_write_file(in, qt_synth, QT_NS, 3)) return;
    qt_log log = {0};
    gl_error err = {0};
    elm_quantize_stats st;
    TF_CHECK(qt_quantize(in, q, "Q4_0", false, false, &log, &st, &err) == GL_OK, "%s", err.msg);
    remove(q2);
    memset(&err, 0, sizeof err);
    TF_CHECK(qt_quantize(q, q2, "Q8_0", false, false, &log, &st, &err) == GL_ERR_INVALID, "refused");
    TF_CHECK(strstr(err.msg, "already quantized") && strstr(err.msg, "--allow-requantize"), "%s", err.msg);
    TF_CHECK(access(q2, F_OK) != 0, "no output file after a refusal");
    /* the same type again needs no requantization: tensors are copied */
    TF_CHECK(qt_quantize(q, q2, "Q4_0", false, false, &log, &st, &err) == GL_OK && st.n_requantized == 0, "%s", err.msg);
    log = (qt_log){0};
    TF_CHECK(qt_quantize(q, q2, "Q8_0", true, false, &log, &st, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(st.n_requantized > 0 && log.n_warnings == 1, "requantized %lld, warnings %d",
             (long long)st.n_requantized, log.n_warnings);
    gl_gguf *f = gl_gguf_open(q2, &err);
    if (f) {
        TF_CHECK(qt_type_of(f, "token_embd.weight") == GL_TYPE_Q8_0);
        gl_gguf_close(f);
    }
    remove(in);
    remove(q);
    remove(q2);
}

/* ---- every family, every type, against its F32 original ---- */

static const char *qt_text =
    "The quick brown fox jumps over the lazy dog.\n"
    "Once upon a time there was a little girl who lived in a village near the forest.\n"
    "Paris is the capital of France, and Berlin is the capital of Germany.\n"
    "She said that it would rain tomorrow, so we stayed home and read books.\n";

typedef struct qt_type_bound {
    const char *type;
    double kld, rel;
} qt_type_bound;

static const qt_type_bound qt_bounds[] = {
    {"F16", 0.001, 0.001},  {"BF16", 0.002, 0.003}, {"Q8_0", 0.015, 0.005}, {"Q6_K", 0.015, 0.005},
    {"Q5_1", 0.25, 0.03},   {"Q5_0", 0.25, 0.03},   {"Q5_K_M", 0.25, 0.03}, {"Q4_1", 1.0, 0.05},
    {"Q4_0", 1.0, 0.05},    {"Q4_K_M", 1.0, 0.05},  {"Q4_K_S", 1.0, 0.05},  {"Q3_K_M", 1.0, 0.05},
    {"Q2_K", 1.0, 0.05},
};

static void qt_family(const char *family, const char *f32) {
    double kld_f16 = -1, kld_q8 = -1, kld_q4 = -1;
    for (size_t i = 0; i < sizeof qt_bounds / sizeof qt_bounds[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%s.gguf", family, qt_bounds[i].type);
        const char *q = qt_path(name);
        qt_log log = {0};
        gl_error err = {0};
        elm_quantize_stats st;
        if (!TF_CHECK(qt_quantize(f32, q, qt_bounds[i].type, false, false, &log, &st, &err) == GL_OK,
                      "%s %s: %s", family, qt_bounds[i].type, err.msg))
            continue;
        cli_qual r;
        elm_error e = {0};
        if (TF_CHECK(cli_quality_compare(f32, q, qt_text, 64, 1, &r, &e) == ELM_OK, "%s %s: %s", family,
                     qt_bounds[i].type, e.msg)) {
            const double bpw = 8.0 * (double)st.bytes_out / (double)st.n_elements;
            if (r.n_rows > 0) {
                printf("# %-5s %-7s %6.3f bpw  KLD %.5f (max %.4f)  top-1 %5.1f%%  max err %.4f  (bound %.3f)\n",
                       family, qt_bounds[i].type, bpw, r.kld_mean, r.kld_max, 100 * r.top1, r.max_abs_err,
                       qt_bounds[i].kld);
                TF_CHECK(r.kld_mean <= qt_bounds[i].kld, "%s %s: KLD %g > %g", family, qt_bounds[i].type,
                         r.kld_mean, qt_bounds[i].kld);
                if (!strcmp(qt_bounds[i].type, "F16")) kld_f16 = r.kld_mean;
                if (!strcmp(qt_bounds[i].type, "Q8_0")) kld_q8 = r.kld_mean;
                if (!strcmp(qt_bounds[i].type, "Q4_0")) kld_q4 = r.kld_mean;
            } else {
                printf("# %-5s %-7s %6.3f bpw  relative error %.5f (bound %.3f)\n", family, qt_bounds[i].type,
                       bpw, r.rel_err, qt_bounds[i].rel);
                TF_CHECK(r.rel_err <= qt_bounds[i].rel, "%s %s: relative error %g > %g", family,
                         qt_bounds[i].type, r.rel_err, qt_bounds[i].rel);
            }
        }
        remove(q);
    }
    if (kld_f16 >= 0) {
        TF_CHECK(kld_f16 < kld_q8 && kld_q8 < kld_q4, "%s: KLD F16 %g, Q8_0 %g, Q4_0 %g not ordered",
                 family, kld_f16, kld_q8, kld_q4);
    }
}

static bool qt_convert_hf(const char *model, const char *out) {
    char src[512];
    snprintf(src, sizeof src, "%s/hf-reference/%s", tf_fixtures_dir(), model);
    if (!tf_file_exists(src)) return false;
    elm_convert_params p;
    p = elm_convert_default_params();
    p.src = src;
    p.out = out;
    p.outtype = GL_TYPE_F32;
    gl_error err = {0};
    return TF_CHECK(elm_convert(&p, NULL, &err) == GL_OK, "convert %s: %s", model, err.msg);
}

static void qt_hf_family(const char *model) {
    char name[64];
    snprintf(name, sizeof name, "%s-f32.gguf", model);
    const char *f32 = qt_path(name);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", f32);
    if (!qt_convert_hf(model, keep)) {
        tf_skip_fixture("hf-reference/%s not found under %s", model, tf_fixtures_dir());
        return;
    }
    qt_family(model, keep);
    remove(keep);
}

TF_TEST(llama_every_type) { qt_hf_family("llama"); }
TF_TEST(gpt2_every_type) { qt_hf_family("gpt2"); }
TF_TEST(bert_every_type) { qt_hf_family("bert"); }
TF_TEST(t5_every_type) { qt_hf_family("t5"); }

TF_TEST(elmo_every_type) {
    char src[512], keep[512];
    snprintf(src, sizeof src, "%s/elmo-bilm-tf/model", tf_fixtures_dir());
    if (!tf_file_exists(src)) {
        tf_skip_fixture("elmo-bilm-tf fixture not found under %s", tf_fixtures_dir());
        return;
    }
    snprintf(keep, sizeof keep, "%s", qt_path("elmo-f32.gguf"));
    gl_error err = {0};
    if (!TF_CHECK(elm_convert_elmo(src, NULL, NULL, keep, "f32", &err) == GL_OK, "%s", err.msg)) return;
    qt_family("elmo", keep);
    remove(keep);
}

/* ---- the K kernels inside a model: a synthetic llama with 256-wide rows ---- */

static bool qt_write_llama256(const char *path) {
    enum { E = 256, F = 512, V = 256, NL = 2 };
    gl_error err = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &err);
    if (!TF_CHECK(w != NULL, "%s", err.msg)) return false;
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    gl_gguf_w_kv_u32(w, "llama.context_length", 64);
    gl_gguf_w_kv_u32(w, "llama.embedding_length", E);
    gl_gguf_w_kv_u32(w, "llama.block_count", NL);
    gl_gguf_w_kv_u32(w, "llama.feed_forward_length", F);
    gl_gguf_w_kv_u32(w, "llama.attention.head_count", 4);
    gl_gguf_w_kv_u32(w, "llama.attention.head_count_kv", 2);
    gl_gguf_w_kv_u32(w, "llama.rope.dimension_count", 64);
    gl_gguf_w_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gl_gguf_w_kv_u32(w, "llama.vocab_size", V);
    typedef struct { char name[48]; int nd; int64_t ne0, ne1; float std; } tdef;
    tdef ts[32];
    int n = 0;
    ts[n++] = (tdef){"token_embd.weight", 2, E, V, 1.0f};
    for (int l = 0; l < NL; l++) {
        const struct { const char *s; int nd; int64_t a, b; float std; } b[] = {
            {"attn_norm.weight", 1, E, 1, 0}, {"attn_q.weight", 2, E, E, 0.08f},
            {"attn_k.weight", 2, E, E / 2, 0.08f}, {"attn_v.weight", 2, E, E / 2, 0.08f},
            {"attn_output.weight", 2, E, E, 0.08f}, {"ffn_norm.weight", 1, E, 1, 0},
            {"ffn_gate.weight", 2, E, F, 0.08f}, {"ffn_up.weight", 2, E, F, 0.08f},
            {"ffn_down.weight", 2, F, E, 0.06f}};
        for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
            ts[n] = (tdef){"", b[k].nd, b[k].a, b[k].b, b[k].std};
            snprintf(ts[n].name, sizeof ts[n].name, "blk.%d.%s", l, b[k].s);
            n++;
        }
    }
    ts[n++] = (tdef){"output_norm.weight", 1, E, 1, 0};
    ts[n++] = (tdef){"output.weight", 2, E, V, 0.15f};
    for (int i = 0; i < n; i++) {
        const int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        gl_gguf_w_tensor_info(w, ts[i].name, GL_TYPE_F32, ts[i].nd, ne);
    }
    tf_rng rng = {77};
    for (int i = 0; i < n; i++) {
        const int64_t nel = ts[i].ne0 * ts[i].ne1;
        float *x = malloc(sizeof(float) * (size_t)nel);
        for (int64_t j = 0; j < nel; j++) x[j] = ts[i].nd == 1 ? 1.0f : tf_rand_normal(&rng) * ts[i].std;
        gl_gguf_w_tensor_data(w, x, sizeof(float) * (size_t)nel);
        free(x);
    }
    return TF_CHECK(gl_gguf_writer_close(w, &err) == GL_OK, "%s", err.msg);
}

/* Logits of ids under a model file (no tokenizer); caller frees. */
static float *qt_logits(const char *path, const int32_t *ids, int32_t n, int32_t *n_vocab) {
    elm_error e = {0};
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = true;
    elm_model *m = elm_model_load(path, &mp, &e);
    if (!TF_CHECK(m != NULL, "%s: %s", path, e.msg)) return NULL;
    elm_ctx *c = elm_ctx_new(m, 64, 2, &e);
    float *out = NULL;
    if (TF_CHECK(c != NULL, "%s", e.msg) && TF_CHECK(elm_decode(c, ids, n, ELM_OUT_LOGITS_ALL, &e) == ELM_OK, "%s", e.msg)) {
        int32_t rows = 0;
        const float *lg = elm_get_logits(c, &rows);
        *n_vocab = elm_model_n_vocab(m);
        out = malloc(sizeof(float) * (size_t)rows * (size_t)*n_vocab);
        memcpy(out, lg, sizeof(float) * (size_t)rows * (size_t)*n_vocab);
    }
    elm_ctx_free(c);
    elm_model_free(m);
    return out;
}

static double qt_kl_row(const float *a, const float *b, int32_t n) {
    double ma = -1e300, mb = -1e300, sa = 0, sb = 0, kl = 0;
    for (int32_t i = 0; i < n; i++) {
        ma = a[i] > ma ? a[i] : ma;
        mb = b[i] > mb ? b[i] : mb;
    }
    for (int32_t i = 0; i < n; i++) {
        sa += exp(a[i] - ma);
        sb += exp(b[i] - mb);
    }
    for (int32_t i = 0; i < n; i++) {
        const double la = a[i] - ma - log(sa), lb = b[i] - mb - log(sb);
        kl += exp(la) * (la - lb);
    }
    return kl;
}

/* Bounds (mean KL over 24 positions of a 2-layer 256-wide random llama whose logits are far
 * from flat, so small weight errors show): about 2x the measured values, which are printed —
 * Q8_0 0.004, Q6_K 0.03, Q5_K 0.1, Q4_K_M 0.26, Q4_K 0.3, Q3_K 1.3, Q2_K 4.5. Each type must
 * also do no better than 0.8x the next larger one (the ordering by bits holds). */
TF_TEST(k_types_in_a_model) {
    const char *f32 = qt_path("l256-f32.gguf");
    char keep[512];
    snprintf(keep, sizeof keep, "%s", f32);
    if (!qt_write_llama256(keep)) return;
    int32_t ids[24];
    for (int i = 0; i < 24; i++) ids[i] = (i * 37 + 11) % 256;
    int32_t V = 0;
    float *base = qt_logits(keep, ids, 24, &V);
    if (!base) return;
    static const struct { const char *type; bool pure; gl_type expect; double bound; } cases[] = {
        {"Q8_0", true, GL_TYPE_Q8_0, 0.004}, {"Q6_K", true, GL_TYPE_Q6_K, 0.03},
        {"Q5_K_S", true, GL_TYPE_Q5_K, 0.1}, {"Q4_K_M", false, GL_TYPE_Q4_K, 0.26},
        {"Q4_K_S", true, GL_TYPE_Q4_K, 0.3}, {"Q3_K_S", true, GL_TYPE_Q3_K, 1.3},
        {"Q2_K", true, GL_TYPE_Q2_K, 4.5},
    };
    double prev = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[48];
        snprintf(name, sizeof name, "l256-%s%s.gguf", cases[c].type, cases[c].pure ? "-pure" : "");
        const char *q = qt_path(name);
        qt_log log = {0};
        gl_error err = {0};
        elm_quantize_stats st;
        if (!TF_CHECK(qt_quantize(keep, q, cases[c].type, false, cases[c].pure, &log, &st, &err) == GL_OK, "%s", err.msg)) continue;
        TF_CHECK(st.n_fallback == 0, "%s: no fallback at 256-wide rows", cases[c].type);
        gl_gguf *f = gl_gguf_open(q, &err);
        if (f) {
            TF_CHECK(qt_type_of(f, "blk.0.ffn_up.weight") == cases[c].expect, "%s: ffn_up is %s", cases[c].type,
                     gl_type_name(qt_type_of(f, "blk.0.ffn_up.weight")));
            gl_gguf_close(f);
        }
        int32_t V2 = 0;
        float *lq = qt_logits(q, ids, 24, &V2);
        if (lq && V2 == V) {
            double kl = 0;
            int top1 = 0;
            for (int r = 0; r < 24; r++) {
                kl += qt_kl_row(base + r * V, lq + r * V, V) / 24;
                int ab = 0, aq = 0;
                for (int i = 1; i < V; i++) {
                    ab = base[r * V + i] > base[r * V + ab] ? i : ab;
                    aq = lq[r * V + i] > lq[r * V + aq] ? i : aq;
                }
                top1 += ab == aq;
            }
            printf("# llama-256 %-7s%s %.3f bpw  KLD %.5f  top-1 %d/24  (bound %.3f)\n", cases[c].type,
                   cases[c].pure ? " (pure)" : "       ", 8.0 * (double)st.bytes_out / (double)st.n_elements, kl, top1,
                   cases[c].bound);
            TF_CHECK(kl <= cases[c].bound, "%s: KLD %g > %g", cases[c].type, kl, cases[c].bound);
            TF_CHECK(c == 0 || kl >= prev * 0.8, "%s: KLD %g below the larger type's %g", cases[c].type, kl, prev);
            prev = kl;
        }
        free(lq);
        remove(q);
    }
    free(base);
    remove(keep);
}

TF_MAIN
