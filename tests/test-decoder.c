/*
 * test-decoder.c — the decoder runtime (llama/gpt2 graphs, KV cache, batching), the sampler,
 * chat templates and the .npy writer.
 *
 * Fixtures (skipped when absent): stories260K (llama2.c's greedy texts, the primary check of
 * the llama graph) and hf-reference/{llama,gpt2} (Hugging Face's logits and hidden states;
 * the GGUFs are made with `edgelm convert`, found through $EDGELM as run-tests.sh sets it).
 * Tolerances: logits and hidden states 1e-4 absolute (float32 against PyTorch float32);
 * batched against one-token-at-a-time processing 1e-4.
 */
#include "tf.h"

#include "chat.h"
#include "edgelm.h"
#include "ggml-lite.h"
#include "cli_npy.h"
#include "sampler.h"
#include "tf-npy.h"

#include <unistd.h>

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------------- */

static void path_join(char *out, size_t size, const char *a, const char *b) {
    snprintf(out, size, "%s/%s", a, b);
}

/* stories260K, with its vocabulary or without: NULL after a skip (no fixture; with_vocab: its
 * tokenizer cannot be loaded) or a failed check (the model does not load). */
static elm_model *load_stories(bool with_vocab) {
    char path[512];
    path_join(path, sizeof path, tf_fixtures_dir(), "stories260K/stories260K.gguf");
    if (!tf_file_exists(path)) {
        tf_skip_fixture("stories260K fixture not found");
        return NULL;
    }
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = !with_vocab;
    elm_error err = {0};
    elm_model *m = elm_model_load(path, &mp, &err);
    if (!m && with_vocab) tf_skip_fixture("stories260K tokenizer not available: %s", err.msg);
    else TF_CHECK(m != NULL, "load: %s", err.msg);
    return m;
}

/* run.c's decoding of pieces, straight from the GGUF's token strings (so the runtime check
 * does not depend on the tokenizer module): '▁' is a space, <0xHH> is a raw byte, and the
 * leading space of a piece that follows BOS (id 1) is dropped. */
static size_t runc_piece(const gl_gguf *f, int32_t prev, int32_t id, char *out) {
    int64_t k = gl_gguf_find_key(f, "tokenizer.ggml.tokens");
    gl_str s = gl_gguf_arr_str(f, k, (uint64_t)id);
    size_t n = 0;
    if (s.len == 6 && !memcmp(s.data, "<0x", 3) && s.data[5] == '>') {
        out[n++] = (char)strtol((char[]){s.data[3], s.data[4], 0}, NULL, 16);
        return n;
    }
    for (uint64_t i = 0; i < s.len; i++) {
        if (i + 2 < s.len && (uint8_t)s.data[i] == 0xE2 && (uint8_t)s.data[i + 1] == 0x96 &&
            (uint8_t)s.data[i + 2] == 0x81) {
            out[n++] = ' ';
            i += 2;
        } else {
            out[n++] = s.data[i];
        }
    }
    if (prev == 1 && n > 0 && out[0] == ' ') {
        memmove(out, out + 1, --n);
    }
    return n;
}

typedef struct collect {
    int32_t ids[1024];
    int n;
} collect;

static bool collect_token(int32_t id, void *user) {
    collect *c = user;
    if (c->n < 1024) c->ids[c->n++] = id;
    return true;
}

/* Greedy ids from BOS: n_gen tokens (run.c's `steps` = n_gen). */
static int greedy_from_bos(elm_model *m, int n_threads, int n_gen, collect *out) {
    elm_error err = {0};
    elm_ctx *c = elm_ctx_new(m, 512, n_threads, &err);
    TF_CHECK(c != NULL, "ctx: %s", err.msg);
    elm_sampler_params sp = elm_sampler_default_params();
    sp.temp = 0.0f;
    elm_sampler *s = elm_sampler_new(&sp, elm_model_n_vocab(m), &err);
    TF_CHECK(s != NULL, "sampler: %s", err.msg);
    out->n = 0;
    int64_t n = -1;
    if (c && s) {
        const int32_t bos = 1;
        n = elm_generate(c, s, &bos, 1, n_gen, false, collect_token, out, NULL, &err);
        TF_CHECK(n >= 0, "generate: %s", err.msg);
    }
    elm_sampler_free(s);
    elm_ctx_free(c);
    return (int)n;
}

/* ------------------------------------------------------------------------------------------
 * stories260K: llama2.c's greedy texts
 * ---------------------------------------------------------------------------------------- */

static void check_stories_text(int steps, const char *expected_file) {
    elm_model *m = load_stories(false);
    if (!m) return;
    char path[512], rel[128];
    snprintf(rel, sizeof rel, "stories260K/%s", expected_file);
    path_join(path, sizeof path, tf_fixtures_dir(), rel);
    size_t exp_len = 0;
    char *expected = tf_read_file(path, &exp_len);
    TF_CHECK(expected != NULL, "cannot read %s", path);
    collect ids;
    int n = greedy_from_bos(m, 1, steps, &ids);
    TF_CHECK(n == steps, "generated %d tokens, want %d", n, steps);
    /* The model file itself: reopen it for its token strings. */
    elm_error err = {0};
    snprintf(rel, sizeof rel, "stories260K/stories260K.gguf");
    path_join(path, sizeof path, tf_fixtures_dir(), rel);
    gl_error gerr = {0};
    gl_gguf *f = gl_gguf_open(path, &gerr);
    char *text = calloc(1, 16 * 1024);
    size_t len = 0;
    int32_t prev = 1;
    for (int i = 0; i < ids.n && f; i++) {
        len += runc_piece(f, prev, ids.ids[i], text + len);
        prev = ids.ids[i];
    }
    if (expected) {
        TF_CHECK(len == exp_len && !memcmp(text, expected, len),
                 "%d steps: text differs from %s (%zu vs %zu bytes):\n%s", steps, expected_file,
                 len, exp_len, text);
    }
    (void)err;
    gl_gguf_close(f);
    free(text);
    free(expected);
    elm_model_free(m);
}

TF_TEST(stories260k_greedy_200) { check_stories_text(200, "expected_greedy_200steps.txt"); }
TF_TEST(stories260k_greedy_256) { check_stories_text(256, "expected_greedy_256steps.txt"); }

/* The same texts through the tokenizer's streaming detokenizer (the path `generate` uses). */
TF_TEST(stories260k_detokenizer) {
    elm_model *m = load_stories(true);
    if (!m) return;
    char path[512];
    path_join(path, sizeof path, tf_fixtures_dir(), "stories260K/expected_greedy_256steps.txt");
    size_t exp_len = 0;
    char *expected = tf_read_file(path, &exp_len);
    collect ids;
    greedy_from_bos(m, 1, 256, &ids);
    elm_error err = {0};
    elm_detokenizer *d = elm_detokenizer_new(m, false, &err);
    TF_CHECK(d != NULL, "%s", err.msg);
    char *text = calloc(1, 16 * 1024);
    int32_t len = 0;
    if (d) {
        len += elm_detokenizer_push(d, 1, text, 16 * 1024); /* BOS prints nothing */
        for (int i = 0; i < ids.n; i++)
            len += elm_detokenizer_push(d, ids.ids[i], text + len, 16 * 1024 - len);
        len += elm_detokenizer_flush(d, text + len, 16 * 1024 - len);
    }
    TF_CHECK(expected && (size_t)len == exp_len && !memcmp(text, expected, exp_len),
             "detokenized text differs:\n%s", text);
    elm_detokenizer_free(d);
    free(text);
    free(expected);
    elm_model_free(m);
}

TF_TEST(stories260k_threads_agree) {
    elm_model *m = load_stories(false);
    if (!m) return;
    collect a, b;
    greedy_from_bos(m, 1, 120, &a);
    greedy_from_bos(m, 2, 120, &b);
    TF_CHECK(a.n == b.n && a.n == 120, "%d vs %d tokens", a.n, b.n);
    TF_CHECK(!memcmp(a.ids, b.ids, sizeof(int32_t) * (size_t)a.n), "1 and 2 threads disagree");
    elm_model_free(m);
}

/* A prompt in one graph gives the logits of feeding it one token at a time (and in chunks
 * smaller than the prompt), with an F32 and with an F16 cache, to the same tight bound. The
 * F16 cache holds the bound only because a token's K and V have the same bits alone as in a
 * batch (F32/F16 mat-vecs run the mat-mat kernel, gl_gemm_kernel.matvec): a last-bit
 * difference there becomes a half-ulp one in the cache (on NEON, whose mat-vec dot summed in
 * another order, the logits differed by 5.6e-3). */
static void batched_vs_sequential(elm_model *m, elm_cache_type type) {
    static const int32_t prompt[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315,
                                     421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419};
    const int n = (int)(sizeof prompt / sizeof prompt[0]);
    const int V = elm_model_n_vocab(m);
    elm_error err = {0};
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = 64;
    cp.type_k = cp.type_v = type;
    cp.n_threads = 2;
    elm_ctx *whole = elm_ctx_new_ext(m, &cp, &err);
    cp.n_threads = 1;
    elm_ctx *step = elm_ctx_new_ext(m, &cp, &err);
    cp.n_batch = 5; /* the prompt in chunks of 5 */
    elm_ctx *chunked = elm_ctx_new_ext(m, &cp, &err);
    TF_CHECK(whole && step && chunked, "%s", err.msg);
    if (whole && step && chunked) {
        TF_CHECK(elm_decode(whole, prompt, n, ELM_OUT_LOGITS_ALL, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(elm_decode(chunked, prompt, n, ELM_OUT_LOGITS_ALL, &err) == ELM_OK, "%s", err.msg);
        const float *all = elm_get_logits(whole, NULL);
        const float *ch = elm_get_logits(chunked, NULL);
        double max_err = 0, max_err_chunk = 0;
        for (int i = 0; i < n; i++) {
            TF_CHECK(elm_decode(step, &prompt[i], 1, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s",
                     err.msg);
            const float *one = elm_get_logits(step, NULL);
            for (int j = 0; j < V; j++) {
                max_err = fmax(max_err, fabs(one[j] - all[(size_t)i * V + j]));
                max_err_chunk = fmax(max_err_chunk, fabs(one[j] - ch[(size_t)i * V + j]));
            }
        }
        const char *tn = type == ELM_CACHE_F16 ? "F16" : "F32";
        TF_CHECK(max_err <= 1e-4, "%s cache: batched vs sequential: max |diff| %g", tn, max_err);
        TF_CHECK(max_err_chunk <= 1e-4, "%s cache: chunked vs sequential: max |diff| %g", tn, max_err_chunk);
        TF_CHECK(elm_ctx_n_past(step) == n && elm_ctx_n_past(whole) == n, "n_past");
    }
    elm_ctx_free(whole);
    elm_ctx_free(step);
    elm_ctx_free(chunked);
}

TF_TEST(stories260k_batched_equals_sequential) {
    elm_model *m = load_stories(false);
    if (!m) return;
    batched_vs_sequential(m, ELM_CACHE_F32);
    batched_vs_sequential(m, ELM_CACHE_F16);
    elm_model_free(m);
}

TF_TEST(stories260k_kv_f16_and_rewind) {
    elm_model *m = load_stories(false);
    if (!m) return;
    static const int32_t prompt[] = {1, 403, 407, 261, 378, 432, 383, 286};
    const int n = 8, V = elm_model_n_vocab(m);
    elm_error err = {0};
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = 32;
    cp.type_k = cp.type_v = ELM_CACHE_F32;
    elm_ctx *f32 = elm_ctx_new_ext(m, &cp, &err);
    cp.type_k = cp.type_v = ELM_CACHE_DEFAULT; /* F16 */
    elm_ctx *f16 = elm_ctx_new_ext(m, &cp, &err);
    TF_CHECK(f32 && f16, "%s", err.msg);
    /* K and V types chosen separately; Q8_0 refused with a message naming it */
    cp.type_k = ELM_CACHE_F32;
    elm_ctx *mixed = elm_ctx_new_ext(m, &cp, &err);
    TF_CHECK(mixed != NULL, "K f32 / V f16: %s", err.msg);
    if (mixed) {
        TF_CHECK(elm_decode(mixed, prompt, n, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
        elm_ctx_free(mixed);
    }
    cp.type_v = ELM_CACHE_Q8_0;
    TF_CHECK(elm_ctx_new_ext(m, &cp, &err) == NULL && strstr(err.msg, "q8_0") && strstr(err.msg, "f16"),
             "q8_0 V cache: %s", err.msg);
    elm_cache_type ct;
    TF_CHECK(elm_cache_type_parse("F16", &ct) && ct == ELM_CACHE_F16 && elm_cache_type_parse("q8_0", &ct) &&
             ct == ELM_CACHE_Q8_0 && !elm_cache_type_parse("q4_0", &ct) && !elm_cache_type_parse("", &ct));
    const int64_t b16 = elm_kv_cache_bytes(m, 32, ELM_CACHE_DEFAULT, ELM_CACHE_DEFAULT);
    const int64_t b32 = elm_kv_cache_bytes(m, 32, ELM_CACHE_F32, ELM_CACHE_F32);
    TF_CHECK(b16 > 0 && b32 > b16 && b32 < 2 * b16 + 4096 && elm_kv_cache_bytes(m, 32, ELM_CACHE_Q8_0, ELM_CACHE_F16) == 0,
             "KV bytes f16 %lld, f32 %lld", (long long)b16, (long long)b32);
    if (f32 && f16) {
        elm_decode(f32, prompt, n, ELM_OUT_LOGITS_LAST, &err);
        elm_decode(f16, prompt, n, ELM_OUT_LOGITS_LAST, &err);
        float *ref = malloc(sizeof(float) * (size_t)V);
        memcpy(ref, elm_get_logits(f32, NULL), sizeof(float) * (size_t)V);
        double e = 0;
        for (int j = 0; j < V; j++) e = fmax(e, fabs(ref[j] - elm_get_logits(f16, NULL)[j]));
        /* F16 keys/values carry ~1e-3 relative error into logits of magnitude ~10. */
        TF_CHECK(e < 5e-2, "F16 cache: max |diff| %g", e);
        /* Rewinding and re-feeding the last 3 tokens reproduces the logits exactly. */
        elm_ctx_rewind(f32, n - 3);
        TF_CHECK(elm_ctx_n_past(f32) == n - 3, "rewind");
        elm_decode(f32, prompt + n - 3, 3, ELM_OUT_LOGITS_LAST, &err);
        double e2 = 0;
        for (int j = 0; j < V; j++) e2 = fmax(e2, fabs(ref[j] - elm_get_logits(f32, NULL)[j]));
        TF_CHECK(e2 <= 1e-5, "rewind + re-feed: max |diff| %g", e2);
        /* A full context is an error that leaves the state alone. */
        int32_t many[32] = {0};
        TF_CHECK(elm_decode(f32, many, 32, ELM_OUT_LOGITS_LAST, &err) != ELM_OK, "overflow");
        TF_CHECK(strstr(err.msg, "context full") != NULL, "message: %s", err.msg);
        TF_CHECK(elm_ctx_n_past(f32) == n, "n_past after the failed decode");
        int32_t bad = V;
        TF_CHECK(elm_decode(f32, &bad, 1, ELM_OUT_LOGITS_LAST, &err) != ELM_OK, "id out of range");
        free(ref);
    }
    elm_ctx_free(f32);
    elm_ctx_free(f16);
    elm_model_free(m);
}

TF_TEST(model_load_errors) {
    elm_error err = {0};
    TF_CHECK(elm_model_load("/nonexistent/model.gguf", NULL, &err) == NULL, "missing file");
    TF_CHECK(err.code != ELM_OK && err.msg[0], "an error message");
    /* A GGUF of another architecture is refused with its name in the message. */
    char path[] = "/tmp/edgelm-test-decoder-XXXXXX";
    int fd = mkstemp(path);
    TF_CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    gl_error gerr = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &gerr);
    gl_gguf_w_kv_str(w, "general.architecture", "mamba");
    TF_CHECK(gl_gguf_writer_close(w, &gerr) == GL_OK, "%s", gerr.msg);
    TF_CHECK(elm_model_load(path, NULL, &err) == NULL, "unknown arch loads");
    TF_CHECK(strstr(err.msg, "mamba") != NULL, "message: %s", err.msg);
    /* A llama whose q matrix has the wrong shape: the message names the tensor. */
    w = gl_gguf_writer_open(path, &gerr);
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    gl_gguf_w_kv_u32(w, "llama.embedding_length", 8);
    gl_gguf_w_kv_u32(w, "llama.block_count", 1);
    gl_gguf_w_kv_u32(w, "llama.feed_forward_length", 16);
    gl_gguf_w_kv_u32(w, "llama.attention.head_count", 2);
    const char *names[] = {"token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight",
                           "blk.0.attn_q.weight"};
    const int64_t shapes[][2] = {{8, 10}, {8, 1}, {8, 1}, {8, 6}};
    for (int i = 0; i < 4; i++) gl_gguf_w_tensor_info(w, names[i], GL_TYPE_F32, 2, shapes[i]);
    float zeros[80] = {0};
    for (int i = 0; i < 4; i++)
        gl_gguf_w_tensor_data(w, zeros, sizeof(float) * (size_t)(shapes[i][0] * shapes[i][1]));
    TF_CHECK(gl_gguf_writer_close(w, &gerr) == GL_OK, "%s", gerr.msg);
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = true;
    TF_CHECK(elm_model_load(path, &mp, &err) == NULL, "bad shape loads");
    TF_CHECK(strstr(err.msg, "blk.0.attn_q.weight") != NULL, "message: %s", err.msg);
    unlink(path);
}

/* ------------------------------------------------------------------------------------------
 * hf-reference: converted with `edgelm convert`, compared with transformers' outputs
 * ---------------------------------------------------------------------------------------- */

/* Converts fixtures/hf-reference/<name> with the edgelm program; NULL (and a skip reason)
 * when the program or its convert command is not there. */
static bool convert_reference(const char *name, const char *outtype, char *out, size_t size,
                              char *why, size_t wsize) {
    const char *edgelm = getenv("EDGELM");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hf-reference/%s", tf_fixtures_dir(), name);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (!tf_file_exists(cfg)) {
        snprintf(why, wsize, "fixture hf-reference/%s not found", name);
        return false;
    }
    if (!edgelm || !tf_file_exists(edgelm)) {
        snprintf(why, wsize, "EDGELM (the edgelm program, for `edgelm convert`) is not set");
        return false;
    }
    snprintf(out, size, "/tmp/edgelm-test-decoder-%s-%s-%d.gguf", name, outtype, (int)getpid());
    const char *emu = getenv("EMU");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s convert '%s' -o '%s' --outtype %s >/dev/null 2>&1",
             emu ? emu : "", edgelm, dir, out, outtype);
    if (system(cmd) != 0 || !tf_file_exists(out)) {
        snprintf(why, wsize, "`edgelm convert` is not available or failed (%s)", name);
        return false;
    }
    return true;
}

/* The F32 conversion of hf-reference/NAME loaded without its vocabulary (path in gguf); NULL
 * after a skip (no fixture or converter) or a failed check. */
static elm_model *load_reference(const char *name, char *gguf, size_t size) {
    char why[256];
    if (!convert_reference(name, "f32", gguf, size, why, sizeof why)) {
        tf_skip_fixture("%s", why);
        gguf[0] = '\0';
        return NULL;
    }
    elm_error err = {0};
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = true;
    elm_model *m = elm_model_load(gguf, &mp, &err);
    TF_CHECK(m != NULL, "load %s: %s", gguf, err.msg);
    return m;
}

static void check_reference(const char *name) {
    char gguf[512];
    elm_model *m = load_reference(name, gguf, sizeof gguf);
    elm_error err = {0};
    if (!m) {
        unlink(gguf);
        return;
    }
    const int L = elm_model_n_layer(m), E = elm_model_n_embd(m), V = elm_model_n_vocab(m);
    double worst_logits = 0, worst_hidden = 0;
    for (int cs = 0;; cs++) {
        char path[600];
        snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_input_ids.npy",
                 tf_fixtures_dir(), name, cs);
        tf_npy ids;
        if (!tf_npy_read(path, &ids)) {
            TF_CHECK(cs > 0, "no cases in %s", path);
            break;
        }
        const int n = (int)ids.count;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
        for (int i = 0; i < n; i++) tok[i] = (int32_t)ids.data[i];
        elm_ctx_params cp = elm_ctx_default_params(); /* an F32 cache: compared at 1e-4 */
        cp.n_ctx = 128;
        cp.n_threads = 2;
        cp.type_k = cp.type_v = ELM_CACHE_F32;
        elm_ctx *c = elm_ctx_new_ext(m, &cp, &err);
        TF_CHECK(c != NULL, "%s", err.msg);
        if (c && elm_decode(c, tok, n, ELM_OUT_HIDDEN, &err) == ELM_OK) {
            const float *logits = elm_get_logits(c, NULL);
            const float *hidden = elm_get_hidden(c, NULL);
            tf_npy ref;
            snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_logits.npy",
                     tf_fixtures_dir(), name, cs);
            TF_CHECK(tf_npy_read(path, &ref) && ref.count == (int64_t)n * V, "%s", path);
            double e = 0;
            for (int64_t i = 0; i < ref.count && i < (int64_t)n * V; i++)
                e = fmax(e, fabs(logits[i] - ref.data[i]));
            TF_CHECK(e <= 1e-4, "%s case %d logits: max |diff| %g", name, cs, e);
            worst_logits = fmax(worst_logits, e);
            free(ref.data);
            for (int h = 0; h <= L; h++) {
                snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_hidden_%d.npy",
                         tf_fixtures_dir(), name, cs, h);
                TF_CHECK(tf_npy_read(path, &ref) && ref.count == (int64_t)n * E, "%s", path);
                e = 0;
                for (int64_t i = 0; i < ref.count && i < (int64_t)n * E; i++)
                    e = fmax(e, fabs(hidden[(size_t)h * n * E + i] - ref.data[i]));
                TF_CHECK(e <= 1e-4, "%s case %d hidden_%d: max |diff| %g", name, cs, h, e);
                worst_hidden = fmax(worst_hidden, e);
                free(ref.data);
            }
        } else {
            TF_CHECK(false, "decode: %s", err.msg);
        }
        elm_ctx_free(c);
        free(tok);
        free(ids.data);
    }
    printf("    %s: max |diff| logits %.3g, hidden states %.3g (tolerance 1e-4)\n", name,
           worst_logits, worst_hidden);
    elm_model_free(m);
    unlink(gguf);
}

/* The reference cases (token sequences of different lengths) decoded side by side, one token
 * of each per elm_decode_batch step: every step's logits equal Hugging Face's at that position
 * within the same 1e-4 (gpt2: position embeddings per row; llama: rope per row). */
#define BATCH_MAX_CASES 8
static void check_reference_batched(const char *name) {
    char gguf[512], path[600];
    elm_model *m = load_reference(name, gguf, sizeof gguf);
    if (!gguf[0]) return;
    elm_error err = {0};
    tf_npy ids[BATCH_MAX_CASES], ref[BATCH_MAX_CASES];
    elm_ctx *cs[BATCH_MAX_CASES] = {0};
    int n_cases = 0, longest = 0;
    const int32_t V = m ? elm_model_n_vocab(m) : 0;
    while (m && n_cases < BATCH_MAX_CASES) {
        snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_input_ids.npy", tf_fixtures_dir(), name, n_cases);
        if (!tf_npy_read(path, &ids[n_cases])) break;
        snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_logits.npy", tf_fixtures_dir(), name, n_cases);
        if (!TF_CHECK(tf_npy_read(path, &ref[n_cases]) && ref[n_cases].count == ids[n_cases].count * V, "%s", path)) {
            free(ids[n_cases].data);
            break;
        }
        elm_ctx_params cp = elm_ctx_default_params();
        cp.n_ctx = 128;
        cp.type_k = cp.type_v = ELM_CACHE_F32;
        cs[n_cases] = elm_ctx_new_ext(m, &cp, &err);
        TF_CHECK(cs[n_cases] != NULL, "%s", err.msg);
        if ((int)ids[n_cases].count > longest) longest = (int)ids[n_cases].count;
        n_cases++;
    }
    TF_CHECK(n_cases >= 2, "%s: %d reference cases for a batch", name, n_cases);
    double worst = 0;
    int max_rows = 0;
    for (int i = 0; i < longest && n_cases >= 2; i++) {
        elm_ctx *step[BATCH_MAX_CASES];
        int32_t tok[BATCH_MAX_CASES];
        int which[BATCH_MAX_CASES], n = 0;
        for (int k = 0; k < n_cases; k++) {
            if (!cs[k] || i >= ids[k].count) continue;
            step[n] = cs[k];
            tok[n] = (int32_t)ids[k].data[i];
            which[n++] = k;
        }
        if (!TF_CHECK(elm_decode_batch(step, tok, n, &err) == ELM_OK, "%s step %d: %s", name, i, err.msg)) break;
        if (n > max_rows) max_rows = n;
        for (int j = 0; j < n; j++) {
            const float *lg = elm_get_logits(step[j], NULL);
            const double *want = ref[which[j]].data + (size_t)i * (size_t)V;
            for (int32_t v = 0; v < V; v++) worst = fmax(worst, fabs(lg[v] - want[v]));
        }
    }
    printf("    %s batched: %d cases (up to %d rows a step), max |diff| logits %.3g (tolerance 1e-4)\n", name,
           n_cases, max_rows, worst);
    TF_CHECK(max_rows >= 2 && worst <= 1e-4, "%s batched: %d rows, max |diff| %g", name, max_rows, worst);
    for (int k = 0; k < n_cases; k++) {
        elm_ctx_free(cs[k]);
        free(ids[k].data);
        free(ref[k].data);
    }
    elm_model_free(m);
    unlink(gguf);
}

TF_TEST(hf_reference_llama) { check_reference("llama"); }
TF_TEST(hf_reference_batched_llama) { check_reference_batched("llama"); }
TF_TEST(hf_reference_batched_gpt2) { check_reference_batched("gpt2"); }
TF_TEST(hf_reference_gpt2) { check_reference("gpt2"); }

/* ------------------------------------------------------------------------------------------
 * Quantized models: greedy top-1 against F32
 *
 * At every position of the test inputs the quantized model's argmax (its greedy choice) is
 * compared with F32's. Where F32's two best logits are nearly tied, any rounding may swap
 * them, so agreement is required at every position whose F32 margin (best minus runner-up)
 * exceeds the stated `margin`; the agreement over all positions and the largest logit error
 * are reported and bounded as well. The hf-reference models are random (nearly flat logits,
 * 64-wide rows with weights of std 0.12: Q4_0 moves their logits by up to ~9), so they get
 * wide margins; stories260K is trained, but only 64 wide too, and --pure puts its embedding
 * and output matrices at Q4_0 as well. Measured when written (agreement / max error / largest
 * F32 margin at a disagreement): llama Q8_0 94% / 0.67 / 0.25, Q4_0 60% / 9.4 / 2.2; gpt2
 * Q8_0 97% / 0.36 / 0.08, Q4_0 68% / 4.4 / 1.5; stories260K Q8_0 98.4% / 0.39 / 0.12, Q4_0
 * 86.8% / 8.5 / 2.5. So Q8_0 agrees wherever F32 is not nearly tied (margin > 0.25-0.5,
 * 55-90% of the positions); Q4_0 on 64-wide rows does only where F32's lead is large (margin
 * > 3-3.5, 5-40% of the positions): the figures are regression bounds, not a quality claim.
 * ---------------------------------------------------------------------------------------- */

typedef struct top1_bound {
    const char *model, *type;
    double margin;    /* F32 margin above which the argmax must agree */
    double min_agree; /* fraction of all positions that must agree */
    double max_err;   /* largest |logit - F32 logit| allowed */
    double min_decided; /* fraction of positions the margin must leave to be checked */
} top1_bound;

typedef struct top1_stats {
    int n, agree, decided, decided_agree;
    double max_err, worst_margin; /* worst_margin: largest F32 margin where they disagree */
} top1_stats;

static void top1_add(top1_stats *st, const float *ref, const float *q, int n_rows, int V,
                     double margin) {
    for (int r = 0; r < n_rows; r++) {
        const float *a = ref + (size_t)r * V, *b = q + (size_t)r * V;
        int ia = 0, ib = 0;
        for (int i = 1; i < V; i++) {
            if (a[i] > a[ia]) ia = i;
            if (b[i] > b[ib]) ib = i;
        }
        float second = -INFINITY;
        for (int i = 0; i < V; i++) {
            if (i != ia && a[i] > second) second = a[i];
            st->max_err = fmax(st->max_err, fabs((double)a[i] - b[i]));
        }
        const double m = (double)a[ia] - second;
        st->n++;
        st->agree += ia == ib;
        if (m > margin) {
            st->decided++;
            st->decided_agree += ia == ib;
        }
        if (ia != ib) st->worst_margin = fmax(st->worst_margin, m);
    }
}

static void top1_check(const top1_bound *b, const top1_stats *st) {
    printf("    %s %s: top-1 agrees at %d/%d positions (%.1f%%), at %d/%d with F32 margin > %.2f; "
           "max |logit diff| %.3f; largest margin at a disagreement %.3f\n",
           b->model, b->type, st->agree, st->n, st->n ? 100.0 * st->agree / st->n : 0.0,
           st->decided_agree, st->decided, b->margin, st->max_err, st->worst_margin);
    TF_CHECK(st->n > 0, "%s %s: no positions", b->model, b->type);
    TF_CHECK(st->decided_agree == st->decided, "%s %s: top-1 differs where F32's margin > %g",
             b->model, b->type, b->margin);
    TF_CHECK(st->decided >= b->min_decided * st->n, "%s %s: margin %g leaves only %d of %d positions",
             b->model, b->type, b->margin, st->decided, st->n);
    TF_CHECK(st->agree >= b->min_agree * st->n, "%s %s: agreement %d/%d below %g", b->model,
             b->type, st->agree, st->n, b->min_agree);
    TF_CHECK(st->max_err <= b->max_err, "%s %s: max logit error %g > %g", b->model, b->type,
             st->max_err, b->max_err);
}

/* All positions' logits of ids through model path (n_ctx 512, one thread); *repacked gets
 * the bytes the load repacked. */
static float *logits_of(const char *path, bool no_repack, const int32_t *ids, int n, int *n_vocab,
                        int64_t *repacked) {
    elm_error err = {0};
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = true;
    mp.no_repack = no_repack;
    elm_model *m = elm_model_load(path, &mp, &err);
    TF_CHECK(m != NULL, "load %s: %s", path, err.msg);
    if (!m) return NULL;
    *repacked = elm_model_repacked_bytes(m);
    float *out = NULL;
    elm_ctx *c = elm_ctx_new(m, 512, 1, &err);
    TF_CHECK(c != NULL, "%s", err.msg);
    if (c && TF_CHECK(elm_decode(c, ids, n, ELM_OUT_LOGITS_ALL, &err) == ELM_OK, "%s", err.msg)) {
        *n_vocab = elm_model_n_vocab(m);
        out = malloc(sizeof(float) * (size_t)n * (size_t)*n_vocab);
        memcpy(out, elm_get_logits(c, NULL), sizeof(float) * (size_t)n * (size_t)*n_vocab);
    }
    elm_ctx_free(c);
    elm_model_free(m);
    return out;
}

/* hf-reference model converted with --outtype b->type, against transformers' F32 logits. */
static void check_reference_top1(const top1_bound *b) {
    char gguf[512], why[256];
    if (!convert_reference(b->model, b->type, gguf, sizeof gguf, why, sizeof why)) {
        tf_skip_fixture("%s", why);
        return;
    }
    top1_stats st = {0};
    for (int cs = 0;; cs++) {
        char path[600];
        snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_input_ids.npy",
                 tf_fixtures_dir(), b->model, cs);
        tf_npy ids, ref;
        if (!tf_npy_read(path, &ids)) break;
        const int n = (int)ids.count;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
        for (int i = 0; i < n; i++) tok[i] = (int32_t)ids.data[i];
        int V = 0, Vr = 0;
        int64_t repacked = 0, none = 0;
        float *q = logits_of(gguf, false, tok, n, &V, &repacked);
        /* the interleaved (repacked) layout computes the same integer block sums in the same
         * order as the row layout: the same logits, bit for bit */
        float *rows = logits_of(gguf, true, tok, n, &Vr, &none);
        TF_CHECK(none == 0, "no_repack still repacked %lld bytes", (long long)none);
        if (cs == 0) {
            printf("    %s %s: %lld bytes repacked at load%s\n", b->model, b->type, (long long)repacked,
                   repacked ? "" : " (this build has no X8 kernel for the type)");
        }
        if (q && rows && TF_CHECK(V == Vr)) {
            TF_CHECK(!memcmp(q, rows, sizeof(float) * (size_t)n * (size_t)V),
                     "%s %s case %d: repacked and row-layout logits differ", b->model, b->type, cs);
        }
        free(rows);
        snprintf(path, sizeof path, "%s/hf-reference/%s/refs/case%d_logits.npy",
                 tf_fixtures_dir(), b->model, cs);
        if (q && TF_CHECK(tf_npy_read(path, &ref) && ref.count == (int64_t)n * V, "%s", path)) {
            float *rf = malloc(sizeof(float) * (size_t)ref.count);
            for (int64_t i = 0; i < ref.count; i++) rf[i] = (float)ref.data[i];
            top1_add(&st, rf, q, n, V, b->margin);
            free(rf);
            free(ref.data);
        }
        free(q);
        free(tok);
        free(ids.data);
    }
    top1_check(b, &st);
    unlink(gguf);
}

TF_TEST(hf_reference_quantized_top1) {
    static const top1_bound bounds[] = {
        {"llama", "q8_0", 0.5, 0.90, 1.0, 0.5},
        {"llama", "q4_0", 3.0, 0.50, 12.0, 0.04},
        {"gpt2", "q8_0", 0.5, 0.90, 0.6, 0.5},
        {"gpt2", "q4_0", 3.0, 0.55, 7.0, 0.08},
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) check_reference_top1(&bounds[i]);
}

/* stories260K (trained) quantized with `edgelm quantize --pure`, fed its own F32 greedy text
 * (BOS + 256 tokens, which stories260k_greedy_256 checks against llama2.c). */
TF_TEST(stories260k_quantized_top1) {
    static const top1_bound bounds[] = {
        {"stories260K", "Q8_0", 0.25, 0.95, 0.6, 0.8},
        {"stories260K", "Q4_0", 3.5, 0.80, 12.0, 0.3},
    };
    char src[512];
    path_join(src, sizeof src, tf_fixtures_dir(), "stories260K/stories260K.gguf");
    const char *edgelm = getenv("EDGELM");
    if (!tf_file_exists(src) || !edgelm || !tf_file_exists(edgelm)) {
        tf_skip_fixture("stories260K fixture or EDGELM (for `edgelm quantize`) not found");
        return;
    }
    elm_model *m = load_stories(false);
    collect g;
    const int steps = 256;
    const int n = m ? greedy_from_bos(m, 1, steps, &g) : 0;
    elm_model_free(m);
    if (!TF_CHECK(n == steps, "greedy run: %d tokens", n)) return;
    int32_t ids[257];
    ids[0] = 1;
    memcpy(ids + 1, g.ids, sizeof(int32_t) * steps);
    int V = 0, Vq = 0;
    int64_t repacked = 0;
    float *ref = logits_of(src, false, ids, steps + 1, &V, &repacked);
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0] && ref; i++) {
        char out[512], cmd[2048];
        snprintf(out, sizeof out, "/tmp/edgelm-test-decoder-s260-%s-%d.gguf", bounds[i].type,
                 (int)getpid());
        const char *emu = getenv("EMU");
        snprintf(cmd, sizeof cmd, "%s %s quantize '%s' '%s' %s --pure -q >/dev/null 2>&1",
                 emu ? emu : "", edgelm, src, out, bounds[i].type);
        if (!TF_CHECK(system(cmd) == 0, "%s", cmd)) continue;
        float *q = logits_of(out, false, ids, steps + 1, &Vq, &repacked);
        if (q && TF_CHECK(Vq == V)) {
            top1_stats st = {0};
            top1_add(&st, ref, q, steps + 1, V, bounds[i].margin);
            top1_check(&bounds[i], &st);
        }
        free(q);
        unlink(out);
    }
    free(ref);
}

/* ------------------------------------------------------------------------------------------
 * Sampler
 * ---------------------------------------------------------------------------------------- */

/* log-probabilities of a known distribution over 6 tokens: p = .4 .25 .15 .1 .06 .04 */
static const float known_p[6] = {0.4f, 0.25f, 0.15f, 0.1f, 0.06f, 0.04f};

static void known_logits(float *l) {
    /* Shuffled order, so the filters must sort: ids 3,0,5,1,4,2 hold p[0..5]. */
    static const int at[6] = {3, 0, 5, 1, 4, 2};
    for (int i = 0; i < 6; i++) l[at[i]] = logf(known_p[i]) + 1.5f;
}

TF_TEST(sampler_filters) {
    float l[6];
    known_logits(l);
    elm_candidate buf[6];
    elm_candidates c = {.data = buf};

    elm_cand_init(&c, l, 6);
    elm_cand_softmax(&c);
    for (int i = 0; i < 6; i++) TF_NEAR(c.data[i].p, known_p[i], 1e-6);
    TF_CHECK(c.data[0].id == 3 && c.data[5].id == 2, "sorted by probability");

    elm_cand_init(&c, l, 6);
    elm_cand_top_k(&c, 3);
    TF_CHECK(c.n == 3 && c.data[0].id == 3 && c.data[1].id == 0 && c.data[2].id == 5, "top-k 3");

    /* top-p 0.8: .4+.25+.15 = .80 reaches it with 3 tokens; 0.81 needs 4. */
    elm_cand_init(&c, l, 6);
    elm_cand_top_p(&c, 0.79f);
    TF_CHECK(c.n == 3, "top-p 0.79 keeps %d", c.n);
    elm_cand_init(&c, l, 6);
    elm_cand_top_p(&c, 0.81f);
    TF_CHECK(c.n == 4, "top-p 0.81 keeps %d", c.n);
    elm_cand_init(&c, l, 6);
    elm_cand_top_p(&c, 0.01f);
    TF_CHECK(c.n == 1 && c.data[0].id == 3, "top-p keeps at least one");

    /* min-p 0.3: threshold .12 keeps .4 .25 .15; min-p 0.2 (.08) adds .1. */
    elm_cand_init(&c, l, 6);
    elm_cand_min_p(&c, 0.3f);
    TF_CHECK(c.n == 3, "min-p 0.3 keeps %d", c.n);
    elm_cand_init(&c, l, 6);
    elm_cand_min_p(&c, 0.2f);
    TF_CHECK(c.n == 4, "min-p 0.2 keeps %d", c.n);

    /* Temperature 0.5 squares the probabilities (renormalised). */
    elm_cand_init(&c, l, 6);
    elm_cand_temp(&c, 0.5f);
    elm_cand_softmax(&c);
    double z = 0;
    for (int i = 0; i < 6; i++) z += (double)known_p[i] * known_p[i];
    TF_NEAR(c.data[0].p, known_p[0] * known_p[0] / z, 1e-6);

    /* Draw: u below .4 gives the top token, u in [.4, .65) the second. */
    elm_cand_init(&c, l, 6);
    TF_CHECK(elm_cand_draw(&c, 0.39f) == 3, "draw 0.39");
    elm_cand_init(&c, l, 6);
    TF_CHECK(elm_cand_draw(&c, 0.41f) == 0, "draw 0.41");
    elm_cand_init(&c, l, 6);
    TF_CHECK(elm_cand_draw(&c, 0.999f) == 2, "draw 0.999");
}

TF_TEST(sampler_repetition_penalty) {
    float l[4] = {2.0f, -1.0f, 0.5f, 1.0f};
    elm_candidate buf[4];
    elm_candidates c = {.data = buf};
    uint8_t seen[1] = {0};
    const int32_t last[] = {0, 1, 0, 0, 7 /* out of range: ignored */};
    elm_cand_init(&c, l, 4);
    elm_cand_penalize(&c, last, 5, 2.0f, seen);
    TF_NEAR(c.data[0].logit, 1.0f, 0); /* positive: divided once, though it occurs 3 times */
    TF_NEAR(c.data[1].logit, -2.0f, 0); /* negative: multiplied */
    TF_NEAR(c.data[2].logit, 0.5f, 0);
    TF_NEAR(c.data[3].logit, 1.0f, 0);
    TF_CHECK(seen[0] == 0, "scratch left clear");

    /* Through the sampler, greedy: token 0 leads until it is in the history. */
    elm_sampler_params p = elm_sampler_default_params();
    p.temp = 0;
    p.repeat_penalty = 2.5f;
    p.repeat_last_n = 2;
    elm_sampler *s = elm_sampler_new(&p, 4, NULL);
    TF_CHECK(s != NULL, "sampler");
    if (!s) return;
    TF_CHECK(elm_sampler_sample(s, l) == 0, "no history");
    elm_sampler_accept(s, 0);
    TF_CHECK(elm_sampler_sample(s, l) == 3, "0 penalised to 0.8 < 1.0");
    elm_sampler_accept(s, 2);
    elm_sampler_accept(s, 1); /* 0 falls out of the last 2 */
    TF_CHECK(elm_sampler_sample(s, l) == 0, "history window");
    elm_sampler_free(s);
}

TF_TEST(sampler_seed_reproducible) {
    enum { V = 50, N = 200 };
    float l[V];
    tf_rng r = {42};
    for (int i = 0; i < V; i++) l[i] = tf_rand_normal(&r);
    elm_sampler_params p = elm_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1234;
    elm_sampler *a = elm_sampler_new(&p, V, NULL), *b = elm_sampler_new(&p, V, NULL);
    p.seed = 99;
    elm_sampler *d = elm_sampler_new(&p, V, NULL);
    TF_CHECK(a && b && d, "samplers");
    if (!a || !b || !d) return;
    int32_t ya[N], yb[N];
    int same_as_other = 0, counts[V] = {0};
    for (int i = 0; i < N; i++) {
        ya[i] = elm_sampler_sample(a, l);
        yb[i] = elm_sampler_sample(b, l);
        same_as_other += elm_sampler_sample(d, l) == ya[i];
        counts[ya[i]]++;
    }
    TF_CHECK(!memcmp(ya, yb, sizeof ya), "same seed, same ids");
    TF_CHECK(same_as_other < N, "another seed gives other ids");
    elm_sampler_reset(a, 1234);
    for (int i = 0; i < N; i++) yb[i] = elm_sampler_sample(a, l);
    TF_CHECK(!memcmp(ya, yb, sizeof ya), "reset restarts the sequence");
    /* Sanity of the draw: the most likely token is drawn most often. */
    int best = 0, most = 0;
    for (int i = 1; i < V; i++) if (l[i] > l[best]) best = i;
    for (int i = 1; i < V; i++) if (counts[i] > counts[most]) most = i;
    TF_CHECK(counts[best] >= counts[most] / 2, "token %d drawn %d times, the argmax %d %d times",
             most, counts[most], best, counts[best]);
    elm_sampler_free(a);
    elm_sampler_free(b);
    elm_sampler_free(d);
    elm_error err = {0};
    p.top_p = 0.0f;
    TF_CHECK(elm_sampler_new(&p, V, &err) == NULL && strstr(err.msg, "top-p"), "bad top-p");
}

/* ------------------------------------------------------------------------------------------
 * Chat templates: rendered against the published formats
 * ---------------------------------------------------------------------------------------- */

static void check_render(elm_chat_template t, const elm_chat_msg *msgs, size_t n,
                         const char *want) {
    char buf[1024];
    int64_t len = elm_chat_render(t, msgs, n, true, buf, sizeof buf);
    TF_CHECK(len == (int64_t)strlen(want) && !strcmp(buf, want), "%s:\n got: [%s]\nwant: [%s]",
             elm_chat_template_name(t), buf, want);
    /* The length is reported even when the buffer is too small. */
    char small[8];
    TF_CHECK(elm_chat_render(t, msgs, n, true, small, sizeof small) == len &&
                 strlen(small) == 7, "truncation");
}

TF_TEST(chat_templates_render) {
    const elm_chat_msg conv[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Why?"}};
    check_render(ELM_CHAT_CHATML, conv, 4,
                 "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n"
                 "<|im_start|>assistant\n");
    check_render(ELM_CHAT_LLAMA2, conv, 4,
                 "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
                 "<s>[INST] Why? [/INST]");
    check_render(ELM_CHAT_LLAMA3, conv, 4,
                 "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief."
                 "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check_render(ELM_CHAT_ZEPHYR, conv, 4,
                 "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n"
                 "<|user|>\nWhy?</s>\n<|assistant|>\n");
    check_render(ELM_CHAT_PHI3, conv, 4,
                 "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!"
                 "<|end|>\n<|user|>\nWhy?<|end|>\n<|assistant|>\n");
    check_render(ELM_CHAT_GEMMA, conv, 4,
                 "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
                 "Hello!<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n"
                 "<start_of_turn>model\n");
    check_render(ELM_CHAT_MISTRAL, conv, 4,
                 "<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] Why? [/INST]");
    check_render(ELM_CHAT_LLAMA2, conv + 1, 1, "<s>[INST] Hi [/INST]");
    const elm_chat_msg bad[] = {{"tool", "x"}};
    TF_CHECK(elm_chat_render(ELM_CHAT_CHATML, bad, 1, true, NULL, 0) < 0, "unknown role");
    TF_CHECK(elm_chat_render(ELM_CHAT_UNKNOWN, conv, 1, true, NULL, 0) < 0, "unknown template");
}

TF_TEST(chat_templates_detect) {
    /* Excerpts of the templates as published in the models' tokenizer_config.json files. */
    static const struct {
        const char *jinja;
        elm_chat_template want;
    } cases[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
         "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
         ELM_CHAT_CHATML},
        {"{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
         "messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' }}",
         ELM_CHAT_LLAMA2},
        {"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
         "message['content'] | trim + '<|eot_id|>' }}",
         ELM_CHAT_LLAMA3},
        {"{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + eos_token }}"
         "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' }}",
         ELM_CHAT_ZEPHYR},
        {"{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + "
         "'\\n'}}",
         ELM_CHAT_PHI3},
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
         ELM_CHAT_GEMMA},
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
         "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + "
         "eos_token}}{% endif %}{% endfor %}",
         ELM_CHAT_MISTRAL},
        {"{{ message['content'] }}", ELM_CHAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        TF_CHECK(elm_chat_template_detect(cases[i].jinja) == cases[i].want, "case %zu: got %s",
                 i, elm_chat_template_name(elm_chat_template_detect(cases[i].jinja)));
    for (int t = ELM_CHAT_CHATML; t <= ELM_CHAT_MISTRAL; t++)
        TF_CHECK(elm_chat_template_from_name(elm_chat_template_name((elm_chat_template)t)) == (elm_chat_template)t,
                 "name of %d", t);
    TF_CHECK(elm_chat_template_from_name("jinja") == ELM_CHAT_UNKNOWN, "unknown name");
}

/* ------------------------------------------------------------------------------------------
 * .npy writer
 * ---------------------------------------------------------------------------------------- */

TF_TEST(npy_roundtrip) {
    char path[] = "/tmp/edgelm-test-npy-XXXXXX";
    int fd = mkstemp(path);
    TF_CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    float data[2 * 3 * 5];
    for (int i = 0; i < 30; i++) data[i] = (float)i * 0.25f - 3.0f;
    const int64_t shape[3] = {2, 3, 5};
    gl_error err = {0};
    TF_CHECK(cli_npy_write_f32(path, data, 3, shape, &err) == GL_OK, "%s", err.msg);
    size_t len;
    char *raw = tf_read_file(path, &len);
    TF_CHECK(raw && len == 128 + 30 * 4, "file size %zu (header padded to 64 bytes)", len);
    TF_CHECK(raw && raw[127] == '\n', "header ends with a newline");
    free(raw);
    tf_npy a;
    TF_CHECK(tf_npy_read(path, &a), "read back");
    TF_CHECK(a.n_dims == 3 && a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 5, "shape");
    for (int i = 0; i < 30 && a.data; i++) TF_CHECK(a.data[i] == data[i], "value %d", i);
    free(a.data);
    const int64_t one[1] = {30};
    TF_CHECK(cli_npy_write_f32(path, data, 1, one, &err) == GL_OK, "1-D");
    TF_CHECK(tf_npy_read(path, &a) && a.n_dims == 1 && a.shape[0] == 30, "1-D shape");
    free(a.data);
    unlink(path);
}

TF_MAIN
