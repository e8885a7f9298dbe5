/*
 * test-alloc-hooks.c — the whole library (ggml-lite, models, convert, quant) compiled again
 * with its allocation hooks (models/common/alloc.h: -DELM_MALLOC=tah_malloc ... -DELM_FREE=tah_free,
 * see the Makefile) routed to the counting functions below: converting a checkpoint,
 * quantizing the result, loading and running it (BERT, on two threads) and a decoder (load from
 * a file, a context, generation) all allocate through the hooks, and after everything is freed
 * every allocation was given back to them. (That no source calls the C library's allocator
 * directly is checked by tests/cli-symbols.sh.)
 */
#include "tf.h"

#include "tf-models.h"
#include "edgelm.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_long n_alloc, n_free;

void *tah_malloc(size_t n);
void *tah_calloc(size_t n, size_t size);
void *tah_realloc(void *p, size_t n);
void *tah_aligned_alloc(size_t align, size_t n);
void tah_free(void *p);

void *tah_malloc(size_t n) {
    void *p = malloc(n);
    if (p) n_alloc++;
    return p;
}
void *tah_calloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (p) n_alloc++;
    return p;
}
void *tah_realloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!p && q) n_alloc++;
    return q;
}
void *tah_aligned_alloc(size_t align, size_t n) {
    void *p = aligned_alloc(align, n);
    if (p) n_alloc++;
    return p;
}
void tah_free(void *p) {
    if (p) n_free++;
    free(p);
}

static bool gen_token(int32_t id, void *user) {
    (void)id;
    ++*(int *)user;
    return true;
}

TF_TEST(decoder_allocates_through_the_hooks) {
    char path[512];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip("fixture %s not found", path);
        return;
    }
    const long a0 = n_alloc, f0 = n_free;
    elm_error err = {ELM_OK, ""};
    elm_model *m = elm_model_load(path, NULL, &err);
    elm_ctx *c = m ? elm_ctx_new(m, 64, 2, &err) : NULL;
    elm_sampler_params sp = elm_sampler_default_params();
    elm_sampler *s = m ? elm_sampler_new(&sp, elm_model_n_vocab(m), &err) : NULL;
    TF_CHECK(m && c && s, "%s", err.msg);
    int32_t ids[16];
    const int64_t n = m ? elm_tokenize_text(m, "Once upon a time", 16, ids, 16, true, false, &err) : -1;
    int got = 0;
    TF_CHECK(n > 0 && n <= 16, "%s", err.msg);
    if (c && s && n > 0 && n <= 16)
        TF_CHECK(elm_generate(c, s, ids, (int32_t)n, 8, true, gen_token, &got, NULL, &err) == 8 && got == 8, "%s", err.msg);
    elm_sampler_free(s);
    elm_ctx_free(c);
    elm_model_free(m);
    TF_CHECK(n_alloc - a0 > 10, "only %ld allocations counted for a model, a context and generation", n_alloc - a0);
    TF_CHECK(n_alloc - a0 == n_free - f0, "%ld allocations, %ld frees", n_alloc - a0, n_free - f0);
}

TF_TEST(convert_quantize_bert_allocate_through_the_hooks) {
    const long a0 = n_alloc, f0 = n_free;
    char f32[256], q8[300];
    if (!tfm_convert_hf("hf-reference/bert", -1, f32, sizeof f32)) return;
    const long a_conv = n_alloc - a0;
    snprintf(q8, sizeof q8, "%s.q8_0.gguf", f32);
    elm_error err = {ELM_OK, ""};
    elm_quantize_params qp = elm_quantize_default_params();
    qp.in = f32;
    qp.out = q8;
    qp.type = "Q8_0";
    qp.n_threads = 2;
    TF_CHECK(elm_quantize(&qp, NULL, &err) == ELM_OK, "%s", err.msg);
    elm_bert_params bp = elm_bert_default_params();
    bp.n_threads = 2;
    bp.n_seq_max = 2;
    elm_bert *b = elm_bert_load(q8, &bp, &err);
    TF_CHECK(b != NULL, "%s", err.msg);
    if (b) {
        static const int32_t s0[5] = {101, 475, 158, 192, 102}, s1[3] = {101, 166, 102};
        const int32_t *ip[2] = {s0, s1}, n[2] = {5, 3};
        const elm_bert_request rq = {.pooled = true};
        TF_CHECK(elm_bert_run(b, 2, ip, NULL, n, &rq, &err) == ELM_OK, "%s", err.msg);
        float v[64];
        TF_CHECK(elm_bert_n_embd(b) <= 64 && elm_bert_get(b, 1, ELM_BERT_OUT_POOLED, v, 64, &err) == elm_bert_n_embd(b),
                 "%s", err.msg);
        int32_t tok[32];
        TF_CHECK(elm_bert_tokenize(b, "hello world", NULL, true, tok, NULL, 32, &err) > 2, "%s", err.msg);
    }
    elm_bert_free(b);
    remove(f32);
    remove(q8);
    TF_CHECK(a_conv > 10, "only %ld allocations counted while converting", a_conv);
    TF_CHECK(n_alloc - a0 == n_free - f0, "%ld allocations, %ld frees", n_alloc - a0, n_free - f0);
}

TF_MAIN
