/*
 * test-limits — resource limits on untrusted files and options (issue 14, docs/FORMAT.md
 * "Limits"): what a file or option asks for beyond the machine is refused before anything is
 * allocated, with a message giving the size.
 *   - a KV cache for a context of 2^30 tokens: GL_ERR_NOMEM naming the GiB needed;
 *   - a GGUF declaring a 2^40-element tensor: refused at open with its byte size;
 *   - a text over ELM_TOKENIZE_MAX_BYTES: refused by elm_tokenize naming the limit (the
 *     text is not read: the check comes first).
 */
#include "tf.h"

#include "ggml-lite.h"
#include "model.h"
#include "sampler.h"
#include "vocab.h"

TF_TEST(kv_cache_beyond_memory_refused) {
    elm_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.n_layer = 32;
    hp.head_dim = 128;
    hp.n_head_kv = 32;
    hp.n_head = 32;
    hp.n_embd = 4096;
    elm_kv_cache kv;
    gl_error err = {0};
    TF_CHECK(elm_kv_init(&kv, &hp, 1 << 30, GL_TYPE_F32, GL_TYPE_F32, &err) == GL_ERR_NOMEM &&
                 strstr(err.msg, "context of 1073741824 tokens needs") && strstr(err.msg, "GiB"),
             "%s", err.msg);
    memset(&err, 0, sizeof err);
    TF_CHECK(elm_kv_init(&kv, &hp, 16, GL_TYPE_F32, GL_TYPE_F32, &err) == GL_OK, "a small cache still works: %s", err.msg);
    elm_kv_free(&kv);
}

/* A GGUF with one F32 tensor of 2^20 x 2^20 elements and no data behind it. */
TF_TEST(gguf_huge_tensor_refused_with_its_size) {
    uint8_t buf[256];
    size_t n = 0;
#define PUT(p, k)                                                                            \
    do {                                                                                     \
        memcpy(buf + n, (p), (k));                                                           \
        n += (k);                                                                            \
    } while (0)
    const uint32_t version = 3, n_dims = 2, type = 0;
    const uint64_t n_tensors = 1, n_kv = 0, name_len = 4, ne = (uint64_t)1 << 20, offset = 0;
    PUT("GGUF", 4);
    PUT(&version, 4);
    PUT(&n_tensors, 8);
    PUT(&n_kv, 8);
    PUT(&name_len, 8);
    PUT("huge", 4);
    PUT(&n_dims, 4);
    PUT(&ne, 8);
    PUT(&ne, 8);
    PUT(&type, 4);
    PUT(&offset, 8);
    memset(buf + n, 0, 64);
    n += 64;
#undef PUT
    gl_error err = {0};
    gl_gguf *f = gl_gguf_open_buffer(buf, n, &err);
    TF_CHECK(f == NULL && strstr(err.msg, "huge") && strstr(err.msg, "4398046511104"), "%s", err.msg);
    gl_gguf_close(f);
}

TF_TEST(tokenize_over_limit_refused_before_reading) {
    gl_str t[2] = {{"a", 1}, {"<unk>", 5}};
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_WPM;
    d.n_tokens = 2;
    d.tokens = t;
    d.unk = 1;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_new(&d, &err);
    TF_CHECK(v != NULL, "%s", err.msg);
    if (!v) return;
    const char dummy = 'a'; /* never read past: the length is checked first */
    TF_CHECK(elm_tokenize(v, &dummy, ELM_TOKENIZE_MAX_BYTES + 1, NULL, 0, false, false, &err) == GL_ERR_INVALID &&
                 strstr(err.msg, "over the limit of 64 MiB"),
             "%s", err.msg);
    elm_vocab_free(v);
}

/* NaN logits (from NaN weights) sort after every number, so that qsort sees a consistent
 * order (an inconsistent comparator is undefined behaviour), and the sampler stays defined. */
TF_TEST(nan_logits_sort_last) {
    float logits[64];
    for (int i = 0; i < 64; i++) logits[i] = i % 3 == 0 ? NAN : (float)((i * 17) % 11) - 5.0f;
    elm_candidates c;
    elm_candidate data[64];
    c.data = data;
    elm_cand_init(&c, logits, 64);
    elm_cand_top_k(&c, 64);
    elm_cand_softmax(&c);
    bool seen_nan = false, ordered = true;
    for (int i = 0; i < c.n; i++) {
        if (isnan(c.data[i].logit)) seen_nan = true;
        else if (seen_nan) ordered = false;
        if (i > 0 && !isnan(c.data[i].logit) && c.data[i].logit > c.data[i - 1].logit) ordered = false;
    }
    TF_CHECK(ordered, "NaN logits must come after all numbers, numbers descending");
}

/* The free-space check the writers make once a file's size is known (statvfs): a size no
 * disk has is refused with both sizes named; a small one passes. */
TF_TEST(free_space_check_names_the_sizes) {
    gl_error err = {0};
    TF_CHECK(gl_check_free_space("/tmp/x.gguf", UINT64_MAX / 2, &err) == GL_ERR_IO &&
                 strstr(err.msg, "not enough free space in /tmp") && strstr(err.msg, "MB are free"),
             "%s", err.msg);
    TF_CHECK(gl_check_free_space("/tmp/x.gguf", 1, &err) == GL_OK);
}

TF_MAIN
