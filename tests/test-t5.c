/*
 * test-t5.c — the T5 family: relative-position buckets, the unigram tokenizer, the converter
 * and the runtime against Hugging Face / PyTorch reference outputs, generation.
 *
 * Fixtures (skipped when absent):
 *   hf-reference/t5  transformers 4.33 outputs (refs/manifest.json): encoder/decoder hidden
 *                    states and logits within 1e-4 absolute, tokenizer_ref.json exact.
 *   hf-tiny-caikit/T5ForConditionalGeneration (pytorch_model.bin): compared with
 *                    tests/data/t5 (scripts/t5_reference.py, plain PyTorch). Its weights are
 *                    tiny (initializer_factor 0.002: logits ~1e-5), so the tolerance there is
 *                    relative: 1e-4 of the largest reference magnitude.
 */
#include "convert.h"
#include "edgelm.h"
#include "json.h"
#include "model.h" /* elm_t5_bucket (internal) */
#include "tf.h"
#include "tf-npy.h"
#include "tf-models.h"
#include "vocab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------------------------- */

static int32_t *npy_ids(const tf_npy *a) {
    int32_t *ids = malloc((size_t)a->count * sizeof *ids + 4);
    for (int64_t i = 0; i < a->count; i++) ids[i] = (int32_t)a->data[i];
    return ids;
}

static double max_abs(const double *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static double max_diff(const float *x, const double *ref, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static elm_t5 *load(const char *path, int threads, int beams) {
    elm_t5_params p = elm_t5_default_params();
    p.n_threads = threads;
    p.n_beams = beams;
    p.n_ctx = 64;
    elm_error err = {0};
    elm_t5 *m = elm_t5_load(path, &p, &err);
    TF_CHECK(m != NULL, "load %s: %s", path, err.msg);
    return m;
}

/* ------------------------------------------------------------------------------------------
 * buckets (values from transformers' _relative_position_bucket, see scripts/t5_reference.py)
 * ---------------------------------------------------------------------------------------- */

TF_TEST(relative_position_buckets) {
    static const int rp[] = {-300, -129, -128, -100, -64, -33, -32, -17, -16, -15, -9, -8, -7, -1, 0, 1,
                             7,    8,    9,    15,   16,  17,  31,  32,  33,  64,  100, 127, 128, 129, 300, 1000};
    static const int bi32[] = {15, 15, 15, 15, 14, 12, 12, 10, 10, 9,  8,  8,  7,  1,  0,  17,
                               23, 24, 24, 25, 26, 26, 27, 28, 28, 30, 31, 31, 31, 31, 31, 31};
    static const int uni32[] = {31, 31, 31, 30, 26, 21, 21, 16, 16, 15, 9, 8, 7, 1, 0, 0,
                                0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, 0, 0};
    static const int bi8[] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 1, 0, 5, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    static const int uni8_20[] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 5, 5, 1, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof rp / sizeof rp[0]; i++) {
        TF_CHECK(elm_t5_bucket(rp[i], true, 32, 128) == bi32[i], "bi32 rel %d", rp[i]);
        TF_CHECK(elm_t5_bucket(rp[i], false, 32, 128) == uni32[i], "uni32 rel %d", rp[i]);
        TF_CHECK(elm_t5_bucket(rp[i], true, 8, 128) == bi8[i], "bi8 rel %d", rp[i]);
        TF_CHECK(elm_t5_bucket(rp[i], false, 8, 20) == uni8_20[i], "uni8/20 rel %d", rp[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * hf-reference/t5
 * ---------------------------------------------------------------------------------------- */

static char ref_gguf[600];
static bool ref_ready;

static void ref_cleanup(void) { unlink(ref_gguf); }

static bool ref_model(void) {
    if (!ref_ready) {
        ref_ready = tfm_convert_hf("hf-reference/t5", -1, ref_gguf, sizeof ref_gguf);
        if (ref_ready) atexit(ref_cleanup);
    }
    return ref_ready;
}

TF_TEST(tokenizer_reference_exact) {
    if (!ref_model()) return;
    char path[600];
    snprintf(path, sizeof path, "%s/hf-reference/t5/tokenizer_ref.json", tf_fixtures_dir());
    gl_error gerr = {0};
    elm_json_doc *doc = elm_json_parse_file(path, &gerr);
    TF_CHECK(doc != NULL, "%s: %s", path, gerr.msg);
    elm_t5 *m = load(ref_gguf, 1, 1);
    if (!doc || !m) {
        elm_json_free(doc);
        elm_t5_free(m);
        return;
    }
    const elm_json *cases = elm_json_get(elm_json_root(doc), "cases");
    TF_CHECK(elm_json_count(cases) >= 10, "cases in %s", path);
    for (size_t c = 0; c < elm_json_count(cases); c++) {
        const elm_json *cs = elm_json_at(cases, c);
        const elm_json *text = elm_json_get(cs, "text"), *ids = elm_json_get(cs, "ids");
        int32_t got[512];
        elm_error err = {0};
        int64_t n = elm_t5_tokenize(m, text->s, text->len, got, 512, true, &err);
        bool same = n == (int64_t)elm_json_count(ids);
        for (int64_t i = 0; same && i < n; i++) {
            int64_t want;
            same = elm_json_int(elm_json_at(ids, (size_t)i), &want) && want == got[i];
        }
        TF_CHECK(same, "case %zu '%.40s': %lld ids (%s)", c, text->s, (long long)n, err.msg);
    }
    /* The sentinels and EOS written in the text are special tokens; no EOS without add_eos. */
    int32_t got[16];
    int64_t n = elm_t5_tokenize(m, "<extra_id_0></s>", 16, got, 16, false, NULL);
    TF_CHECK(n == 2 && got[0] == 999 && got[1] == 1, "sentinel: n=%lld", (long long)n);
    n = elm_t5_tokenize(m, " \t ", 3, got, 16, true, NULL);
    TF_CHECK(n == 1 && got[0] == 1, "whitespace only: n=%lld", (long long)n);
    char text[64];
    int32_t hello[] = {634, 875, 481, 777, 899, 329, 6, 1};
    elm_t5_detokenize(m, hello, 8, text, sizeof text, false);
    TF_CHECK(!strcmp(text, "Hello world!"), "detokenized '%s'", text);
    elm_json_free(doc);
    elm_t5_free(m);
}

/* Compares every case of refs/manifest.json: encoder and decoder hidden states, logits, with
 * the whole decoder input at once and one token at a time (the KV cache path). */
/* The hidden states h (layers 0..n_layer, count values each) of case cs against
 * hf-reference/t5/refs/case<cs>_<which>_hidden_<i>.npy, within 1e-4; returns the largest diff. */
static double check_hidden(int cs, const char *which, const float *h, int n_layer, int64_t count) {
    double worst = 0;
    for (int i = 0; i <= n_layer; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/hf-reference/t5/refs/case%d_%s_hidden_%d.npy", tf_fixtures_dir(), cs, which, i);
        tf_npy r;
        if (TF_CHECK(tf_npy_read(path, &r) && r.count == count, "%s", path)) {
            const double d = max_diff(h + (size_t)i * count, r.data, r.count);
            TF_CHECK(d <= 1e-4, "case %d %s_hidden_%d: max diff %.3g", cs, which, i, d);
            worst = fmax(worst, d);
        }
        free(r.data);
    }
    return worst;
}

static void check_reference(int threads) {
    if (!ref_model()) return;
    elm_t5 *m = load(ref_gguf, threads, 1);
    if (!m) return;
    const int E = elm_t5_n_embd(m), V = elm_t5_n_vocab(m), Le = elm_t5_n_enc_layer(m), Ld = elm_t5_n_dec_layer(m);
    double worst = 0, worst_step = 0;
    int n_cases = 0;
    for (int cs = 0;; cs++) {
        char path[700];
        const char *dir = tf_fixtures_dir();
        tf_npy in, dec;
        snprintf(path, sizeof path, "%s/hf-reference/t5/refs/case%d_input_ids.npy", dir, cs);
        if (!tf_npy_read(path, &in)) break;
        snprintf(path, sizeof path, "%s/hf-reference/t5/refs/case%d_decoder_input_ids.npy", dir, cs);
        TF_CHECK(tf_npy_read(path, &dec), "%s", path);
        n_cases++;
        const int n = (int)in.count, nd = (int)dec.count;
        int32_t *ids = npy_ids(&in), *dids = npy_ids(&dec);
        float *eh = malloc(sizeof(float) * (size_t)(Le + 1) * n * E);
        float *dh = malloc(sizeof(float) * (size_t)(Ld + 1) * nd * E);
        float *lg = malloc(sizeof(float) * (size_t)nd * V);
        float *lg1 = malloc(sizeof(float) * (size_t)V);
        elm_error err = {0};
        TF_CHECK(elm_t5_encode(m, ids, n, eh, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(elm_t5_decode(m, dids, nd, lg, dh, &err) == ELM_OK, "%s", err.msg);
        worst = fmax(worst, check_hidden(cs, "enc", eh, Le, (int64_t)n * E));
        worst = fmax(worst, check_hidden(cs, "dec", dh, Ld, (int64_t)nd * E));
        tf_npy rl;
        snprintf(path, sizeof path, "%s/hf-reference/t5/refs/case%d_logits.npy", dir, cs);
        if (TF_CHECK(tf_npy_read(path, &rl) && rl.count == (int64_t)nd * V, "%s", path)) {
            double d = max_diff(lg, rl.data, rl.count);
            TF_CHECK(d <= 1e-4, "case %d logits: max diff %.3g", cs, d);
            worst = d > worst ? d : worst;
            /* Incremental decoding through the KV cache gives the same logits. */
            elm_t5_rewind(m);
            for (int t = 0; t < nd; t++) {
                TF_CHECK(elm_t5_decode(m, &dids[t], 1, lg1, NULL, &err) == ELM_OK, "%s", err.msg);
                double ds = max_diff(lg1, rl.data + (size_t)t * V, V);
                worst_step = ds > worst_step ? ds : worst_step;
            }
            TF_CHECK(worst_step <= 1e-4, "case %d: step-by-step logits differ by %.3g", cs, worst_step);
        }
        free(rl.data);
        free(in.data), free(dec.data), free(ids), free(dids), free(eh), free(dh), free(lg), free(lg1);
    }
    TF_CHECK(n_cases == 4, "%d cases", n_cases);
    printf("    %d thread(s): worst |diff| %.3g (batch), %.3g (step by step)\n", threads, worst, worst_step);
    elm_t5_free(m);
}

TF_TEST(reference_hidden_and_logits) { check_reference(1); }
TF_TEST(reference_hidden_and_logits_2_threads) { check_reference(2); }

static bool collect(int32_t id, void *user) {
    int32_t *buf = user;
    if (buf[0] < 63) buf[1 + buf[0]++] = id;
    return true;
}

/* Sum of log-probabilities of seq (then EOS when with_eos) given the encoded input. */
static double seq_logp(elm_t5 *m, const int32_t *seq, int n, int32_t eos, bool with_eos) {
    const int V = elm_t5_n_vocab(m);
    float *lg = malloc(sizeof(float) * (size_t)V * (n + 1));
    int32_t dec[70];
    dec[0] = elm_t5_decoder_start(m);
    for (int i = 0; i < n; i++) dec[i + 1] = seq[i];
    elm_t5_rewind(m);
    elm_t5_decode(m, dec, n + 1, lg, NULL, NULL);
    double lp = 0;
    for (int t = 0; t < n + (with_eos ? 1 : 0); t++) {
        const float *row = lg + (size_t)t * V;
        double mx = row[0], s = 0;
        for (int i = 1; i < V; i++) mx = row[i] > mx ? row[i] : mx;
        for (int i = 0; i < V; i++) s += exp(row[i] - mx);
        int32_t want = t < n ? seq[t] : eos;
        lp += row[want] - mx - log(s);
    }
    free(lg);
    return lp;
}

TF_TEST(generation_greedy_threads_and_beams) {
    if (!ref_model()) return;
    elm_t5 *m1 = load(ref_gguf, 1, 1), *m2 = load(ref_gguf, 2, 4);
    if (!m1 || !m2) {
        elm_t5_free(m1), elm_t5_free(m2);
        return;
    }
    int32_t in[64];
    const char *text = "translate English to German: the quick brown fox";
    int64_t n = elm_t5_tokenize(m1, text, strlen(text), in, 64, true, NULL);
    TF_CHECK(n > 5, "tokens: %lld", (long long)n);
    elm_t5_gen_params gp = elm_t5_default_gen_params();
    gp.n_predict = 20;
    int32_t a[64] = {0}, b[64] = {0}, c[21];
    elm_error err = {0};
    int64_t na = elm_t5_generate(m1, in, (int32_t)n, &gp, NULL, 0, collect, a, &err);
    int64_t nb = elm_t5_generate(m2, in, (int32_t)n, &gp, c, 21, collect, b, &err);
    TF_CHECK(na > 0 && na == nb && a[0] == na, "greedy lengths %lld, %lld (%s)", (long long)na, (long long)nb, err.msg);
    TF_CHECK(!memcmp(a, b, sizeof a), "greedy ids differ between 1 and 2 threads");
    TF_CHECK(nb > 0 && !memcmp(c, b + 1, (size_t)nb * sizeof *c), "out[] and on_token agree");

    /* Greedy equals the argmax of the teacher-forced logits of its own output. */
    const int V = elm_t5_n_vocab(m1);
    float *lg = malloc(sizeof(float) * (size_t)V * 22);
    int32_t dec[22];
    dec[0] = elm_t5_decoder_start(m1);
    for (int i = 0; i < na; i++) dec[i + 1] = a[1 + i];
    elm_t5_encode(m1, in, (int32_t)n, NULL, &err);
    TF_CHECK(elm_t5_decode(m1, dec, (int32_t)na, lg, NULL, &err) == ELM_OK, "%s", err.msg);
    for (int t = 0; t < na; t++) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (lg[(size_t)t * V + i] > lg[(size_t)t * V + best]) best = i;
        TF_CHECK(best == a[1 + t], "step %d: argmax %d, generated %d", t, best, a[1 + t]);
    }
    free(lg);

    /* Beam search (length_penalty 0: the score is the log-probability) finds a sequence at
     * least as likely as greedy's, and 1 vs 2 threads agree. */
    gp.n_beams = 4;
    gp.length_penalty = 0.0f;
    int32_t beam[64] = {0}, beam1[64] = {0};
    elm_t5 *m3 = load(ref_gguf, 1, 4);
    int64_t nbm = elm_t5_generate(m2, in, (int32_t)n, &gp, NULL, 0, collect, beam, &err);
    int64_t nbm1 = m3 ? elm_t5_generate(m3, in, (int32_t)n, &gp, NULL, 0, collect, beam1, &err) : -1;
    TF_CHECK(nbm >= 0 && nbm == nbm1 && !memcmp(beam, beam1, sizeof beam), "beam 1 vs 2 threads (%s)", err.msg);
    const int32_t eos = elm_t5_eos(m2);
    bool greedy_eos = na < gp.n_predict, beam_eos = nbm < gp.n_predict;
    elm_t5_encode(m2, in, (int32_t)n, NULL, &err);
    double lg_greedy = seq_logp(m2, a + 1, (int)na, eos, greedy_eos);
    double lg_beam = seq_logp(m2, beam + 1, (int)nbm, eos, beam_eos);
    TF_CHECK(lg_beam >= lg_greedy - 1e-4, "beam logp %.6f < greedy %.6f", lg_beam, lg_greedy);
    /* A short budget where the hypotheses differ: beams of the caikit-free reference model. */
    gp.n_predict = 3;
    int32_t g3[64] = {0}, b3[64] = {0};
    gp.n_beams = 1;
    int64_t ng3 = elm_t5_generate(m2, in, (int32_t)n, &gp, NULL, 0, collect, g3, &err);
    gp.n_beams = 4;
    int64_t nb3 = elm_t5_generate(m2, in, (int32_t)n, &gp, NULL, 0, collect, b3, &err);
    elm_t5_encode(m2, in, (int32_t)n, NULL, &err);
    double l_g3 = seq_logp(m2, g3 + 1, (int)ng3, eos, ng3 < 3), l_b3 = seq_logp(m2, b3 + 1, (int)nb3, eos, nb3 < 3);
    TF_CHECK(ng3 >= 0 && nb3 >= 0 && l_b3 >= l_g3 - 1e-4, "3 steps: beam logp %.6f < greedy %.6f", l_b3, l_g3);
    gp.n_beams = 8;
    TF_CHECK(elm_t5_generate(m2, in, (int32_t)n, &gp, NULL, 0, NULL, NULL, &err) == ELM_ERR_INVALID,
             "more beams than reserved is refused");
    elm_t5_free(m1), elm_t5_free(m2), elm_t5_free(m3);
}

TF_TEST(quantized_q8_0_close) {
    char q8[600];
    if (!tfm_convert_hf("hf-reference/t5", GL_TYPE_Q8_0, q8, sizeof q8)) return;
    if (!ref_model()) return;
    elm_t5 *mf = load(ref_gguf, 1, 1), *mq = load(q8, 2, 1);
    if (mf && mq) {
        int32_t ids[] = {634, 875, 481, 777, 899, 329, 6, 1}, dec[] = {0, 634, 875};
        const int V = elm_t5_n_vocab(mf);
        float *a = malloc(sizeof(float) * 3 * V), *b = malloc(sizeof(float) * 3 * V);
        elm_error err = {0};
        TF_CHECK(elm_t5_encode(mf, ids, 8, NULL, &err) == ELM_OK && elm_t5_decode(mf, dec, 3, a, NULL, &err) == ELM_OK,
                 "%s", err.msg);
        TF_CHECK(elm_t5_encode(mq, ids, 8, NULL, &err) == ELM_OK && elm_t5_decode(mq, dec, 3, b, NULL, &err) == ELM_OK,
                 "%s", err.msg);
        double d = 0, mx = 0;
        for (int i = 0; i < 3 * V; i++) {
            d = fmax(d, fabs(a[i] - b[i]));
            mx = fmax(mx, fabs(a[i]));
        }
        /* Q8_0 weights and activations: a few percent of the logit range at most. */
        TF_CHECK(d < 0.05 * mx, "q8_0 logits differ by %.3g (max |logit| %.3g)", d, mx);
        free(a), free(b);
    }
    elm_t5_free(mf), elm_t5_free(mq);
    unlink(q8);
}

/* ------------------------------------------------------------------------------------------
 * hf-tiny-caikit (pytorch_model.bin, tokenizer.json Unigram)
 * ---------------------------------------------------------------------------------------- */

static bool data_path(char *out, size_t size, const char *name) {
    const char *d = getenv("EDGELM_TESTDATA");
    snprintf(out, size, "%s/t5/%s", d && *d ? d : "tests/data", name);
    return tf_file_exists(out);
}

/* tests/data/t5/<name> (printf-style) read as .npy into a: false when absent or unreadable. */
static bool data_npy(tf_npy *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool data_npy(tf_npy *a, const char *fmt, ...) {
    char name[128], path[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return data_path(path, sizeof path, name) && tf_npy_read(path, a);
}

TF_TEST(caikit_pytorch_bin_against_pytorch) {
    char gguf[600], path[600];
    if (!data_path(path, sizeof path, "caikit_case0_logits.npy")) {
        tf_skip("tests/data/t5 not found (run from the repository root)");
        return;
    }
    if (!tfm_convert_hf("hf-tiny-caikit/T5ForConditionalGeneration", -1, gguf, sizeof gguf)) return;
    elm_t5 *m = load(gguf, 2, 1);
    if (!m) return;
    const int E = elm_t5_n_embd(m), V = elm_t5_n_vocab(m), Le = elm_t5_n_enc_layer(m), Ld = elm_t5_n_dec_layer(m);
    TF_CHECK(E == 32 && V == 1302 && Le == 5 && Ld == 5, "shape %d %d %d %d", E, V, Le, Ld);
    for (int cs = 0; cs < 2; cs++) {
        tf_npy in, dec, eref, dref, lref, gref;
        bool ok = data_npy(&in, "caikit_case%d_input_ids.npy", cs) &&
                  data_npy(&dec, "caikit_case%d_decoder_input_ids.npy", cs) &&
                  data_npy(&eref, "caikit_case%d_enc_hidden.npy", cs) &&
                  data_npy(&dref, "caikit_case%d_dec_hidden.npy", cs) &&
                  data_npy(&lref, "caikit_case%d_logits.npy", cs) && data_npy(&gref, "caikit_case%d_greedy.npy", cs);
        if (!TF_CHECK(ok, "reference files of case %d", cs)) break;
        const int n = (int)in.count, nd = (int)dec.count;
        int32_t *ids = npy_ids(&in), *dids = npy_ids(&dec);
        float *eh = malloc(sizeof(float) * (size_t)(Le + 1) * n * E), *dh = malloc(sizeof(float) * (size_t)(Ld + 1) * nd * E);
        float *lg = malloc(sizeof(float) * (size_t)nd * V);
        elm_error err = {0};
        TF_CHECK(elm_t5_encode(m, ids, n, eh, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(elm_t5_decode(m, dids, nd, lg, dh, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(eref.count == (int64_t)(Le + 1) * n * E && dref.count == (int64_t)(Ld + 1) * nd * E &&
                     lref.count == (int64_t)nd * V, "reference shapes");
        double de = max_diff(eh, eref.data, eref.count), dd = max_diff(dh, dref.data, dref.count);
        double dl = max_diff(lg, lref.data, lref.count);
        TF_CHECK(de <= 1e-4 * max_abs(eref.data, eref.count), "case %d enc: %.3g", cs, de);
        TF_CHECK(dd <= 1e-4 * max_abs(dref.data, dref.count), "case %d dec: %.3g", cs, dd);
        TF_CHECK(dl <= 1e-4 * max_abs(lref.data, lref.count), "case %d logits: %.3g (max %.3g)", cs, dl,
                 max_abs(lref.data, lref.count));
        elm_t5_gen_params gp = elm_t5_default_gen_params();
        gp.n_predict = 12;
        int32_t out[16];
        int64_t ng = elm_t5_generate(m, ids, n, &gp, out, 16, NULL, NULL, &err);
        bool same = ng == gref.count;
        for (int64_t i = 0; same && i < ng; i++) same = out[i] == (int32_t)gref.data[i];
        TF_CHECK(same, "case %d greedy: %lld ids vs %lld", cs, (long long)ng, (long long)gref.count);
        free(ids), free(dids), free(eh), free(dh), free(lg);
        free(in.data), free(dec.data), free(eref.data), free(dref.data), free(lref.data), free(gref.data);
    }
    /* Its tokenizer.json (Unigram + Precompiled normaliser, sentinels inside the vocabulary). */
    int32_t t[32];
    int64_t nt = elm_t5_tokenize(m, "Hello <extra_id_0>.", 19, t, 32, true, NULL);
    TF_CHECK(nt >= 4 && t[nt - 1] == 1, "ends with </s>");
    bool has_sentinel = false;
    for (int64_t i = 0; i < nt && i < 32; i++) has_sentinel = has_sentinel || t[i] == 102;
    TF_CHECK(has_sentinel, "<extra_id_0> is id 102 in this vocabulary");
    elm_t5_free(m);
    unlink(gguf);
}

/* ------------------------------------------------------------------------------------------
 * v1.1 / flan form: gated-gelu, untied lm_head, tokenizer.json Unigram without a normaliser
 * (tests/data/t5/gated: a tiny random checkpoint and its PyTorch outputs)
 * ---------------------------------------------------------------------------------------- */

/* Converts tests/data/t5/gated (skipped when absent) to /tmp/edgelm-test-t5-<tag>-<pid>.gguf. */
static bool convert_gated(const char *tag, char *gguf, size_t size) {
    char dir[600];
    if (!data_path(dir, sizeof dir, "gated/config.json")) {
        tf_skip("tests/data/t5/gated not found (run from the repository root)");
        return false;
    }
    dir[strlen(dir) - strlen("/config.json")] = '\0';
    snprintf(gguf, size, "/tmp/edgelm-test-t5-%s-%d.gguf", tag, (int)getpid());
    elm_convert_params p;
    p = elm_convert_default_params();
    p.src = dir;
    p.out = gguf;
    gl_error err = {0};
    return TF_CHECK(elm_convert(&p, NULL, &err) == GL_OK, "convert %s: %s", dir, err.msg);
}

TF_TEST(gated_untied_against_pytorch) {
    char gguf[600];
    if (!convert_gated("gated", gguf, sizeof gguf)) return;
    elm_t5 *m = load(gguf, 2, 1);
    if (!m) return;
    TF_CHECK(elm_t5_output_scale(m) == 1.0f, "untied: no rescaling (%g)", elm_t5_output_scale(m));
    tf_npy in, dec, eref, dref, lref, gref;
    bool ok = data_npy(&in, "gated/input_ids.npy") && data_npy(&dec, "gated/decoder_input_ids.npy") &&
              data_npy(&eref, "gated/enc_hidden.npy") && data_npy(&dref, "gated/dec_hidden.npy") &&
              data_npy(&lref, "gated/logits.npy") && data_npy(&gref, "gated/greedy.npy");
    if (TF_CHECK(ok, "reference files")) {
        const int E = elm_t5_n_embd(m), V = elm_t5_n_vocab(m), Le = elm_t5_n_enc_layer(m), Ld = elm_t5_n_dec_layer(m);
        TF_CHECK(E == 16 && V == 64 && Le == 2 && Ld == 3, "shape %d %d %d %d", E, V, Le, Ld);
        const int n = (int)in.count, nd = (int)dec.count;
        int32_t *ids = npy_ids(&in), *dids = npy_ids(&dec);
        float *eh = malloc(sizeof(float) * (size_t)(Le + 1) * n * E), *dh = malloc(sizeof(float) * (size_t)(Ld + 1) * nd * E);
        float *lg = malloc(sizeof(float) * (size_t)nd * V);
        elm_error err = {0};
        TF_CHECK(elm_t5_encode(m, ids, n, eh, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(elm_t5_decode(m, dids, nd, lg, dh, &err) == ELM_OK, "%s", err.msg);
        if (TF_CHECK(eref.count == (int64_t)(Le + 1) * n * E && dref.count == (int64_t)(Ld + 1) * nd * E &&
                         lref.count == (int64_t)nd * V, "reference shapes")) {
            double de = max_diff(eh, eref.data, eref.count), dd = max_diff(dh, dref.data, dref.count);
            double dl = max_diff(lg, lref.data, lref.count);
            TF_CHECK(de <= 1e-4 && dd <= 1e-4 && dl <= 1e-4, "enc %.3g dec %.3g logits %.3g", de, dd, dl);
        }
        elm_t5_gen_params gp = elm_t5_default_gen_params();
        gp.n_predict = 10;
        int32_t out[16];
        int64_t ng = elm_t5_generate(m, ids, n, &gp, out, 16, NULL, NULL, &err);
        bool same = ng == gref.count;
        for (int64_t i = 0; same && i < ng; i++) same = out[i] == (int32_t)gref.data[i];
        TF_CHECK(same, "greedy: %lld ids vs %lld", (long long)ng, (long long)gref.count);
        /* Its tokenizer.json: Metaspace + WhitespaceSplit, pieces by score, sentinels at the end. */
        int32_t t[16];
        int64_t nt = elm_t5_tokenize(m, "  the  tests <extra_id_0>", 25, t, 16, true, &err);
        /* ▁the ▁ t e s t s <extra_id_0> </s>: no "▁t" piece, so "▁tests" takes the bare "▁" */
        static const int32_t want[] = {4, 3, 8, 7, 6, 8, 6, 63, 1};
        bool tok_same = nt == 9;
        for (int i = 0; tok_same && i < 9; i++) tok_same = t[i] == want[i];
        TF_CHECK(tok_same, "tokens: n=%lld first %d", (long long)nt, nt > 0 ? t[0] : -1);
        free(ids), free(dids), free(eh), free(dh), free(lg);
    }
    free(in.data), free(dec.data), free(eref.data), free(dref.data), free(lref.data), free(gref.data);
    elm_t5_free(m);
    unlink(gguf);
}

/* Beam search against transformers 4.33's BeamSearchScorer (re-implemented in
 * scripts/t5_reference.py): K in 2..4, length penalties 2, 1, 0.6, 0, -1, 8 new tokens; some
 * winners end early with EOS, most run to the limit. */
TF_TEST(beam_search_against_reference) {
    char gguf[600], path[600];
    if (!data_path(path, sizeof path, "gated/beam.json")) {
        tf_skip("tests/data/t5/gated not found (run from the repository root)");
        return;
    }
    if (!convert_gated("beam", gguf, sizeof gguf)) return;
    gl_error gerr = {0};
    elm_json_doc *doc = elm_json_parse_file(path, &gerr);
    elm_t5 *m1 = load(gguf, 1, 4), *m2 = load(gguf, 2, 4);
    if (TF_CHECK(doc != NULL, "%s", gerr.msg) && m1 && m2) {
        const elm_json *cases = elm_json_get(elm_json_root(doc), "cases");
        int n_same = 0, n_short = 0;
        for (size_t c = 0; c < elm_json_count(cases); c++) {
            const elm_json *cs = elm_json_at(cases, c), *in = elm_json_get(cs, "input_ids");
            const elm_json *want = elm_json_get(cs, "output");
            int32_t ids[32];
            int n = 0;
            for (size_t i = 0; i < elm_json_count(in) && i < 32; i++) {
                int64_t v = 0;
                elm_json_int(elm_json_at(in, i), &v);
                ids[n++] = (int32_t)v;
            }
            int64_t k = 0, mx = 0;
            double lp = 0;
            elm_json_get_int(cs, "beams", &k);
            elm_json_get_int(cs, "max_new_tokens", &mx);
            elm_json_get_num(cs, "length_penalty", &lp);
            elm_t5_gen_params gp = elm_t5_default_gen_params();
            gp.n_beams = (int32_t)k;
            gp.length_penalty = (float)lp;
            gp.n_predict = (int32_t)mx;
            int32_t out[32], out2[32];
            elm_error err = {0};
            int64_t got = elm_t5_generate(m1, ids, n, &gp, out, 32, NULL, NULL, &err);
            int64_t got2 = elm_t5_generate(m2, ids, n, &gp, out2, 32, NULL, NULL, &err);
            bool same = got == (int64_t)elm_json_count(want) && got2 == got;
            for (int64_t i = 0; same && i < got; i++) {
                int64_t v = -1;
                elm_json_int(elm_json_at(want, (size_t)i), &v);
                same = out[i] == v && out2[i] == v;
            }
            TF_CHECK(same, "case %zu (K=%lld, lp=%g): %lld tokens, want %zu (%s)", c, (long long)k, lp,
                     (long long)got, elm_json_count(want), err.msg);
            n_same += same;
            n_short += elm_json_count(want) < (size_t)mx;
        }
        TF_CHECK(n_short >= 3, "only %d cases end with EOS", n_short);
        printf("    %d/%zu beam searches equal (%d end with EOS)\n", n_same, elm_json_count(cases), n_short);
    }
    elm_json_free(doc);
    elm_t5_free(m1), elm_t5_free(m2);
    unlink(gguf);
}

/* Untrusted normaliser blobs and text: random tries (valid header) and random bytes must
 * tokenize without reading outside the blob (run under ASan in CI); a bad header is refused. */
TF_TEST(unigram_random_charsmap_and_text) {
    gl_str toks[6] = {{"<pad>", 5}, {"</s>", 4}, {"<unk>", 5}, {"\xE2\x96\x81", 3}, {"a", 1}, {"\xE2\x96\x81" "ab", 5}};
    float scores[6] = {0, 0, 0, -1, -2, -1.5f};
    int32_t types[6] = {3, 3, 2, 1, 1, 1};
    tf_rng r = {77};
    uint8_t blob[4 + 256 + 64];
    for (int iter = 0; iter < 200; iter++) {
        const uint32_t trie = 256;
        blob[0] = trie & 255, blob[1] = trie >> 8, blob[2] = blob[3] = 0;
        for (size_t i = 4; i < sizeof blob; i++) blob[i] = (uint8_t)tf_rand_u64(&r);
        elm_vocab_desc d;
        elm_vocab_desc_init(&d);
        d.kind = ELM_VOCAB_UGM;
        d.n_tokens = 6;
        d.tokens = toks;
        d.scores = scores;
        d.types = types;
        d.charsmap = blob;
        d.charsmap_len = sizeof blob;
        gl_error err = {0};
        elm_vocab *v = elm_vocab_new(&d, &err);
        if (!TF_CHECK(v != NULL, "%s", err.msg)) break;
        char text[48];
        int len = tf_rand_int(&r, 0, (int)sizeof text);
        for (int i = 0; i < len; i++) text[i] = (char)(iter % 2 ? "ab  \t"[tf_rand_int(&r, 0, 4)] : (int)tf_rand_u64(&r));
        int32_t ids[256];
        int64_t n = elm_tokenize(v, text, (size_t)len, ids, 256, true, true, &err);
        TF_CHECK(n >= 1 && n <= 256 && ids[n - 1] == 1, "iteration %d: n=%lld %s", iter, (long long)n, err.msg);
        for (int64_t i = 0; i < n && i < 256; i++) TF_CHECK(ids[i] >= 0 && ids[i] < 6, "id %d", ids[i]);
        elm_vocab_free(v);
    }
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_UGM;
    d.n_tokens = 6;
    d.tokens = toks;
    blob[0] = 0xff, blob[1] = 0xff, blob[2] = 0xff, blob[3] = 0x7f; /* trie larger than the blob */
    d.charsmap = blob;
    d.charsmap_len = sizeof blob;
    gl_error err = {0};
    TF_CHECK(elm_vocab_new(&d, &err) == NULL && err.code == GL_ERR_FORMAT, "bad charsmap header accepted");
}

TF_TEST(load_rejects_other_architectures) {
    char path[600];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip_fixture("stories260K not found");
        return;
    }
    elm_error err = {0};
    elm_t5 *m = elm_t5_load(path, NULL, &err);
    TF_CHECK(m == NULL && err.code == ELM_ERR_UNSUPPORTED, "%s", err.msg);
    elm_t5_free(m);
}

TF_MAIN
