/*
 * test-alloc.c — steady-state steps allocate nothing. The program is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup (see the
 * Makefile), so every allocation the library makes goes through the counters below; a step is
 * run once (the first call of each kind may size its buffers), then again several times, and
 * the count must not move.
 *
 *  - decoder (stories260K): a prompt step, then single-token steps and greedy sampling;
 *  - T5 (hf-reference/t5, converted here): encode, then teacher-forced single-token decode
 *    steps;
 *  - ELMo (elmo-bilm-tf, converted here): batches of the same or smaller sizes, stateless and
 *    stateful;
 *  - BERT (hf-reference/bert, converted here): a context made for 3 sequences of 32 tokens runs
 *    batches of every size within those, with and without heads, on 1 and 2 threads, and the
 *    results are copied out (elm_bert_get, elm_bert_embedding); masked-LM runs after the first.
 */
#include "tf.h"

#include "tf-models.h"
#include "edgelm.h"

#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);

static long alloc_count;

void *__wrap_malloc(size_t n) {
    alloc_count++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    alloc_count++;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    alloc_count++;
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    alloc_count++;
    return __real_aligned_alloc(align, n);
}
char *__wrap_strdup(const char *s) {
    alloc_count++;
    return __real_strdup(s);
}

TF_TEST(alloc_counter_sees_library_allocations) {
    /* The wrapping works: loading a model from memory allocates (its tables) and is counted. */
    long before = alloc_count;
    elm_error err = {ELM_OK, ""};
    char path[512];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip("fixture %s not found", path);
        return;
    }
    elm_model *m = elm_model_load(path, NULL, &err);
    TF_CHECK(m != NULL, "%s", err.msg);
    TF_CHECK(alloc_count > before, "no allocation was counted while loading a model");
    elm_model_free(m);
}

TF_TEST(decoder_steps_allocate_nothing) {
    char path[512];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip("fixture %s not found", path);
        return;
    }
    elm_error err = {ELM_OK, ""};
    elm_model *m = elm_model_load(path, NULL, &err);
    TF_CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    for (int threads = 1; threads <= 2; threads++) {
        elm_ctx *c = elm_ctx_new(m, 128, threads, &err);
        elm_sampler_params sp = elm_sampler_default_params();
        elm_sampler *s = elm_sampler_new(&sp, elm_model_n_vocab(m), &err);
        TF_CHECK(c && s, "%s", err.msg);
        if (!c || !s) break;
        const int32_t prompt[4] = {1, 403, 407, 261};
        TF_CHECK(elm_decode(c, prompt, 4, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
        int32_t id = elm_sampler_sample(s, elm_get_logits(c, NULL));
        elm_sampler_accept(s, id);
        TF_CHECK(elm_decode(c, &id, 1, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
        long before = alloc_count;
        for (int i = 0; i < 16; i++) {
            id = elm_sampler_sample(s, elm_get_logits(c, NULL));
            elm_sampler_accept(s, id);
            TF_CHECK(elm_decode(c, &id, 1, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
        }
        /* A second prompt-sized step after a rewind reuses the buffers of the first. */
        elm_ctx_rewind(c, 0);
        TF_CHECK(elm_decode(c, prompt, 4, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(alloc_count == before, "%d threads: %ld allocations in 16 decode steps and a prompt", threads,
                 alloc_count - before);
        elm_sampler_free(s);
        elm_ctx_free(c);
    }
    elm_model_free(m);
}

TF_TEST(t5_steps_allocate_nothing) {
    char out[256];
    if (!tfm_convert_hf("hf-reference/t5", -1, out, sizeof out)) return;
    elm_error err = {ELM_OK, ""};
    elm_t5 *m = elm_t5_load(out, NULL, &err);
    remove(out);
    TF_CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    const int32_t ids[5] = {634, 875, 481, 1};
    static float logits[1000 * 2];
    TF_CHECK(elm_t5_n_vocab(m) <= 1000, "vocabulary of %d", elm_t5_n_vocab(m));
    int32_t tok = elm_t5_decoder_start(m);
    TF_CHECK(elm_t5_encode(m, ids, 4, NULL, &err) == ELM_OK, "%s", err.msg);
    TF_CHECK(elm_t5_decode(m, &tok, 1, logits, NULL, &err) == ELM_OK, "%s", err.msg);
    long before = alloc_count;
    for (int i = 0; i < 8; i++) {
        tok = 5 + i;
        TF_CHECK(elm_t5_decode(m, &tok, 1, logits, NULL, &err) == ELM_OK, "%s", err.msg);
    }
    /* Encoding the same length again, then decoding, reuses every buffer. */
    TF_CHECK(elm_t5_encode(m, ids, 4, NULL, &err) == ELM_OK, "%s", err.msg);
    TF_CHECK(elm_t5_decode(m, &tok, 1, logits, NULL, &err) == ELM_OK, "%s", err.msg);
    TF_CHECK(alloc_count == before, "%ld allocations in 9 T5 decode steps and an encode", alloc_count - before);
    elm_t5_free(m);
}

TF_TEST(elmo_batches_allocate_nothing) {
    char out[256];
    if (!tfm_convert_elmo(out, sizeof out)) return;
    elm_error err = {ELM_OK, ""};
    elm_elmo *m = elm_elmo_load(out, NULL, &err);
    remove(out);
    TF_CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    static const char *const s0[6] = {"The", "cat", "sat", "on", "the", "mat"};
    static const char *const s1[3] = {"It", "was", "happy"};
    const char *const *batch[2] = {s0, s1};
    const int32_t n2[2] = {6, 3}, n1[1] = {4};
    static float o0[3 * 6 * 1024], o1[3 * 3 * 1024];
    float *outs[2] = {o0, o1};
    TF_CHECK(elm_elmo_n_layers(m) * elm_elmo_dim(m) <= 3 * 1024, "%d layers of %d", elm_elmo_n_layers(m), elm_elmo_dim(m));
    TF_CHECK(elm_elmo_run(m, 2, batch, n2, outs, &err) == ELM_OK, "%s", err.msg);
    long before = alloc_count;
    for (int i = 0; i < 3; i++) TF_CHECK(elm_elmo_run(m, 2, batch, n2, outs, &err) == ELM_OK, "%s", err.msg);
    TF_CHECK(elm_elmo_run(m, 1, batch, n1, outs, &err) == ELM_OK, "%s", err.msg); /* smaller */
    elm_elmo_set_stateful(m, true);
    for (int i = 0; i < 2; i++) TF_CHECK(elm_elmo_run(m, 2, batch, n2, outs, &err) == ELM_OK, "%s", err.msg);
    TF_CHECK(alloc_count == before, "%ld allocations in 6 ELMo batches", alloc_count - before);
    elm_elmo_free(m);
}

/* Runs n sequences of the given lengths (ids: a fixed pattern inside the vocabulary). */
static bool bert_batch(elm_bert *m, int32_t n, const int32_t *lens, const elm_bert_request *rq, elm_error *err) {
    static int32_t ids[3][32];
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 32; t++) ids[s][t] = t == 0 ? 101 : 150 + (s * 7 + t * 3) % 300;
    const int32_t *ip[3] = {ids[0], ids[1], ids[2]};
    return elm_bert_run(m, n, ip, NULL, lens, rq, err) == ELM_OK;
}

TF_TEST(bert_batches_allocate_nothing) {
    char out[256];
    if (!tfm_convert_hf("hf-reference/bert", -1, out, sizeof out)) return;
    elm_error err = {ELM_OK, ""};
    elm_bert_model *model = elm_bert_model_load(out, NULL, &err);
    TF_CHECK(model != NULL, "%s", err.msg);
    if (!model) {
        remove(out);
        return;
    }
    for (int threads = 1; threads <= 2; threads++) {
        elm_bert_params p = elm_bert_default_params();
        p.n_threads = threads;
        p.n_seq_max = 3;
        p.n_ctx = 32;
        elm_bert *m = elm_bert_new(model, &p, &err);
        TF_CHECK(m != NULL, "%s", err.msg);
        if (!m) break;
        static float res[32 * 1000];
        TF_CHECK(elm_bert_n_vocab(m) <= 1000 && elm_bert_n_embd(m) <= 1000, "vocabulary of %d", elm_bert_n_vocab(m));
        const int32_t one[1] = {5}, full[3] = {32, 32, 32}, mixed[3] = {7, 20, 1}, two[2] = {12, 3};
        const elm_bert_request heads = {.pooled = true, .nsp = true};
        TF_CHECK(bert_batch(m, 1, one, NULL, &err), "%s", err.msg); /* the first call */
        long before = alloc_count;
        TF_CHECK(bert_batch(m, 3, full, &heads, &err), "%s", err.msg);
        TF_CHECK(elm_bert_get(m, 2, ELM_BERT_OUT_LAST, res, 32 * 1000, &err) == 32 * elm_bert_n_embd(m), "%s", err.msg);
        TF_CHECK(elm_bert_get(m, 1, ELM_BERT_OUT_NSP, res, 2, &err) == 2, "%s", err.msg);
        TF_CHECK(bert_batch(m, 3, mixed, NULL, &err), "%s", err.msg);
        TF_CHECK(elm_bert_embedding(m, 1, ELM_BERT_POOL_MEAN, true, res, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(bert_batch(m, 2, two, &heads, &err), "%s", err.msg);
        TF_CHECK(bert_batch(m, 1, one, NULL, &err), "%s", err.msg);
        TF_CHECK(alloc_count == before, "%d threads: %ld allocations in 4 BERT runs within the context's sizes", threads,
                 alloc_count - before);
        /* masked-LM logits: the first run may grow the buffer, the next ones allocate nothing */
        const int32_t pos[2] = {1, 2}, *pp[3] = {pos, pos, pos}, npos[3] = {2, 2, 2};
        const elm_bert_request mlm = {.mlm = true, .mlm_pos = pp, .n_mlm_pos = npos};
        TF_CHECK(bert_batch(m, 3, full, &mlm, &err), "%s", err.msg);
        before = alloc_count;
        TF_CHECK(bert_batch(m, 3, full, &mlm, &err), "%s", err.msg);
        TF_CHECK(bert_batch(m, 2, two, &mlm, &err), "%s", err.msg);
        TF_CHECK(elm_bert_get(m, 0, ELM_BERT_OUT_MLM, res, 32 * 1000, &err) == 2 * elm_bert_n_vocab(m), "%s", err.msg);
        TF_CHECK(alloc_count == before, "%d threads: %ld allocations in 2 masked-LM runs", threads, alloc_count - before);
        elm_bert_free(m);
    }
    elm_bert_model_free(model);
    remove(out);
}

TF_MAIN
