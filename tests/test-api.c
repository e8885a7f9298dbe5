/*
 * test-api.c — conventions of the public header that no model family owns:
 *  - the log callback a model is given at load (elm_model_params.log) receives what was loaded
 *    and what a context costs, from that model and its contexts only; without it nothing is
 *    reported anywhere;
 *  - elm_status / elm_error are ggml-lite's gl_status / gl_error: an error from the tensor
 *    layer reaches the caller with its code and message unchanged;
 *  - T5 weights (elm_t5_model) shared by contexts on two threads at once give each the same
 *    output as a context with a model of its own, loaded from a file or from memory; the same
 *    for ELMo (elm_elmo_model) and BERT (elm_bert_model, a batch of two with its heads).
 */
#include "tf.h"

#include "tf-models.h"
#include "edgelm.h"

#include <pthread.h>

typedef struct log_rec {
    int n_info, n_other;
    char first[512], last[512];
} log_rec;

static void collect(elm_log_level level, const char *msg, void *user) {
    log_rec *r = (log_rec *)user;
    if (level == ELM_LOG_INFO) r->n_info++;
    else r->n_other++;
    if (!r->first[0]) snprintf(r->first, sizeof r->first, "%s", msg);
    snprintf(r->last, sizeof r->last, "%s", msg);
}

static bool stories(char *path, size_t size) {
    snprintf(path, size, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (tf_file_exists(path)) return true;
    tf_skip("fixture %s not found", path);
    return false;
}

TF_TEST(log_callback_per_model) {
    char path[512];
    if (!stories(path, sizeof path)) return;
    log_rec a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    elm_error err = {ELM_OK, ""};
    elm_model_params pa = elm_model_default_params(), pb = elm_model_default_params();
    pa.log = collect;
    pa.log_user = &a;
    elm_model *ma = elm_model_load(path, &pa, &err);
    elm_model *mb = elm_model_load(path, &pb, &err); /* no callback: silent */
    TF_CHECK(ma && mb, "%s", err.msg);
    if (!ma || !mb) return;
    TF_CHECK(a.n_info == 1 && a.n_other == 0, "%d info, %d other lines at load", a.n_info, a.n_other);
    TF_CHECK(strstr(a.first, "loaded llama: 5 layers, n_embd 64") == a.first, "'%s'", a.first);
    elm_ctx *ca = elm_ctx_new(ma, 64, 1, &err);
    elm_ctx *cb = elm_ctx_new(mb, 64, 1, &err);
    TF_CHECK(ca && cb, "%s", err.msg);
    TF_CHECK(a.n_info == 2, "%d info lines after a context", a.n_info);
    TF_CHECK(strstr(a.last, "context: n_ctx 64, n_batch 64, 1 threads; KV cache ") == a.last, "'%s'", a.last);
    TF_CHECK(b.n_info == 0 && b.n_other == 0, "the model without a callback reached another's");
    elm_ctx_free(ca);
    elm_ctx_free(cb);
    elm_model_free(ma);
    elm_model_free(mb);
}

TF_TEST(one_status_type_across_layers) {
    /* A GGUF error raised inside ggml-lite arrives through edgelm as the same code and text. */
    static const unsigned char bad[8] = {'G', 'G', 'U', 'F', 2, 0, 0, 0}; /* version 2 */
    elm_error err = {ELM_OK, ""};
    gl_error gerr = {GL_OK, ""};
    TF_CHECK(elm_file_open_memory(bad, sizeof bad, &err) == NULL);
    TF_CHECK(gl_gguf_open_buffer(bad, sizeof bad, &gerr) == NULL);
    TF_CHECK(err.code == gerr.code && err.code != ELM_OK, "codes %d and %d", (int)err.code, (int)gerr.code);
    TF_CHECK(strstr(err.msg, gerr.msg) != NULL, "'%s' vs '%s'", err.msg, gerr.msg);
    elm_status s = GL_ERR_FORMAT; /* the same type: no conversion */
    TF_CHECK(s == ELM_ERR_FORMAT);
}

typedef struct t5_job {
    elm_t5 *c;
    int32_t out[16];
    int64_t n;
} t5_job;

static const int32_t t5_input[5] = {634, 875, 481, 8, 1};

static void *t5_run(void *arg) {
    t5_job *j = (t5_job *)arg;
    elm_t5_gen_params gp = elm_t5_default_gen_params();
    gp.n_predict = 16;
    elm_error err = {ELM_OK, ""};
    for (int rep = 0; rep < 3 && j->n >= 0; rep++) /* overlapping runs on the shared weights */
        j->n = elm_t5_generate(j->c, t5_input, 5, &gp, j->out, 16, NULL, NULL, &err);
    return NULL;
}

TF_TEST(t5_model_shared_by_contexts) {
    char path[256];
    /* Q8_0: repacked where the build can, and those copies belong to the model */
    if (!tfm_convert_hf("hf-reference/t5", GL_TYPE_Q8_0, path, sizeof path)) return;
    elm_error err = {ELM_OK, ""};
    size_t size = 0;
    void *data = tfm_slurp(path, &size);
    elm_t5 *own = elm_t5_load(path, NULL, &err);
    elm_t5 *mem = data ? elm_t5_load_memory(data, size, NULL, &err) : NULL;
    elm_t5_model *model = elm_t5_model_load(path, NULL, &err);
    remove(path);
    TF_CHECK(own && mem && model, "%s", err.msg);
    t5_job ref = {own, {0}, 0}, from_mem = {mem, {0}, 0}, a = {NULL, {0}, 0}, b = {NULL, {0}, 0};
    a.c = model ? elm_t5_new(model, NULL, &err) : NULL;
    b.c = model ? elm_t5_new(model, NULL, &err) : NULL;
    TF_CHECK(a.c && b.c, "%s", err.msg);
    if (own && mem && a.c && b.c) {
        t5_run(&ref);
        t5_run(&from_mem);
        pthread_t ta, tb;
        TF_CHECK(pthread_create(&ta, NULL, t5_run, &a) == 0 && pthread_create(&tb, NULL, t5_run, &b) == 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        TF_CHECK(ref.n > 0, "generated %lld", (long long)ref.n);
        TF_CHECK(from_mem.n == ref.n && !memcmp(from_mem.out, ref.out, sizeof ref.out), "load_memory differs");
        TF_CHECK(a.n == ref.n && !memcmp(a.out, ref.out, sizeof ref.out), "thread a differs");
        TF_CHECK(b.n == ref.n && !memcmp(b.out, ref.out, sizeof ref.out), "thread b differs");
    }
    elm_t5_params nv = elm_t5_default_params();
    nv.no_vocab = true;
    elm_t5_model *bare = elm_t5_model_load_memory(data, size, &nv, &err);
    TF_CHECK(bare != NULL, "%s", err.msg);
    TF_CHECK(elm_t5_new(bare, NULL, &err) == NULL && strstr(err.msg, "no_vocab"), "'%s'", err.msg);
    TF_CHECK(elm_t5_model_load_memory(data, size / 2, NULL, &err) == NULL && err.code != ELM_OK);
    elm_t5_model_free(bare);
    elm_t5_free(a.c);
    elm_t5_free(b.c);
    elm_t5_model_free(model);
    elm_t5_free(own);
    elm_t5_free(mem);
    free(data);
}

typedef struct elmo_job {
    elm_elmo *c;
    float *out; /* [layers][7][dim] */
    elm_status st;
} elmo_job;

static void *elmo_run(void *arg) {
    elmo_job *j = (elmo_job *)arg;
    static const char *const words[7] = {"The", "cat", "sat", "on", "the", "mat", "."};
    const char *const *sent[1] = {words};
    const int32_t n[1] = {7};
    float *outs[1] = {j->out};
    elm_error err = {ELM_OK, ""};
    for (int rep = 0; rep < 3 && j->st == ELM_OK; rep++) j->st = elm_elmo_run(j->c, 1, sent, n, outs, &err);
    return NULL;
}

TF_TEST(elmo_model_shared_by_contexts) {
    char path[256];
    if (!tfm_convert_elmo(path, sizeof path)) return;
    elm_error err = {ELM_OK, ""};
    size_t size = 0;
    void *data = tfm_slurp(path, &size);
    elm_elmo *own = elm_elmo_load(path, NULL, &err);
    elm_elmo_model *model = data ? elm_elmo_model_load_memory(data, size, &err) : NULL;
    remove(path);
    TF_CHECK(own && model, "%s", err.msg);
    if (own) {
        /* Multiply-adds per token of the fixture's options.json: char CNN sum over filters
         * (width w, count c) of (50 - w + 1) * w * 4 * c; 2 highway layers of 124 x 124 twice and
         * the 124 -> 16 projection; 2 layers x 2 directions of 4 gates x 64 cells x (16 + 16)
         * inputs plus the 64 -> 16 cell projection. */
        const elm_elmo_macs mc = elm_elmo_macs_per_token(own), none = elm_elmo_macs_per_token(NULL);
        TF_CHECK(mc.cnn == 96096 && mc.highway == 63488 && mc.lstm == 36864, "%g %g %g", mc.cnn, mc.highway, mc.lstm);
        TF_CHECK(none.cnn == 0 && none.highway == 0 && none.lstm == 0);
    }
    if (own && model) {
        const size_t nf = (size_t)elm_elmo_n_layers(own) * 7 * (size_t)elm_elmo_dim(own);
        elmo_job ref = {own, (float *)calloc(nf, sizeof(float)), ELM_OK};
        elmo_job a = {elm_elmo_new(model, NULL, &err), (float *)calloc(nf, sizeof(float)), ELM_OK};
        elmo_job b = {elm_elmo_new(model, NULL, &err), (float *)calloc(nf, sizeof(float)), ELM_OK};
        TF_CHECK(a.c && b.c && ref.out && a.out && b.out, "%s", err.msg);
        if (a.c && b.c && ref.out && a.out && b.out) {
            elmo_run(&ref);
            pthread_t ta, tb;
            TF_CHECK(pthread_create(&ta, NULL, elmo_run, &a) == 0 && pthread_create(&tb, NULL, elmo_run, &b) == 0);
            pthread_join(ta, NULL);
            pthread_join(tb, NULL);
            TF_CHECK(ref.st == ELM_OK && a.st == ELM_OK && b.st == ELM_OK);
            TF_CHECK(!memcmp(a.out, ref.out, nf * sizeof(float)) && !memcmp(b.out, ref.out, nf * sizeof(float)),
                     "a shared-model context differs from a context with its own model");
        }
        elm_elmo_free(a.c);
        elm_elmo_free(b.c);
        free(ref.out);
        free(a.out);
        free(b.out);
    }
    elm_elmo_free(own);
    elm_elmo_model_free(model);
    free(data);
}

typedef struct bert_job {
    elm_bert *c;
    float out[2][64 * 64 + 64 + 2]; /* per sequence: last hidden [n][E], pooled, nsp */
    elm_status st;
} bert_job;

static void *bert_run(void *arg) {
    bert_job *j = (bert_job *)arg;
    static const int32_t s0[6] = {101, 475, 158, 192, 180, 102}, s1[4] = {101, 166, 151, 102};
    const int32_t *ids[2] = {s0, s1}, n[2] = {6, 4};
    const elm_bert_request rq = {.pooled = true, .nsp = true};
    elm_error err = {ELM_OK, ""};
    for (int rep = 0; rep < 3 && j->st == ELM_OK; rep++) {
        j->st = elm_bert_run(j->c, 2, ids, NULL, n, &rq, &err);
        for (int s = 0; s < 2 && j->st == ELM_OK; s++) {
            const int64_t E = elm_bert_n_embd(j->c), k = n[s] * E;
            if (elm_bert_get(j->c, s, ELM_BERT_OUT_LAST, j->out[s], k, &err) != k ||
                elm_bert_get(j->c, s, ELM_BERT_OUT_POOLED, j->out[s] + k, E, &err) != E ||
                elm_bert_get(j->c, s, ELM_BERT_OUT_NSP, j->out[s] + k + E, 2, &err) != 2)
                j->st = ELM_ERR_INVALID;
        }
    }
    return NULL;
}

TF_TEST(bert_model_shared_by_contexts) {
    char path[256];
    if (!tfm_convert_hf("hf-reference/bert", -1, path, sizeof path)) return;
    elm_error err = {ELM_OK, ""};
    size_t size = 0;
    void *data = tfm_slurp(path, &size);
    elm_bert_params p = elm_bert_default_params();
    p.n_seq_max = 2;
    elm_bert *own = elm_bert_load(path, &p, &err);
    elm_bert_model *model = data ? elm_bert_model_load_memory(data, size, NULL, &err) : NULL;
    remove(path);
    TF_CHECK(own && model && elm_bert_n_embd(own) <= 64, "%s", err.msg);
    static bert_job ref, a, b;
    ref.c = own;
    a.c = model ? elm_bert_new(model, &p, &err) : NULL;
    b.c = model ? elm_bert_new(model, &p, &err) : NULL;
    TF_CHECK(a.c && b.c, "%s", err.msg);
    if (own && a.c && b.c && elm_bert_n_embd(own) <= 64) {
        bert_run(&ref);
        pthread_t ta, tb;
        TF_CHECK(pthread_create(&ta, NULL, bert_run, &a) == 0 && pthread_create(&tb, NULL, bert_run, &b) == 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        TF_CHECK(ref.st == ELM_OK && a.st == ELM_OK && b.st == ELM_OK);
        TF_CHECK(!memcmp(a.out, ref.out, sizeof ref.out) && !memcmp(b.out, ref.out, sizeof ref.out),
                 "a shared-model context differs from a context with its own model");
    }
    elm_bert_free(a.c);
    elm_bert_free(b.c);
    elm_bert_free(own);
    elm_bert_model_free(model);
    free(data);
}

/* The tokenizer without a model (elm_tokenizer): from a file and from memory, the same ids as
 * the loaded model's tokenizer, token texts into caller buffers with the length query, and
 * errors for a missing file, a non-GGUF buffer and an id out of range. */
TF_TEST(tokenizer_without_model) {
    char path[512];
    if (!stories(path, sizeof path)) return;
    elm_error err = {ELM_OK, ""};
    size_t size = 0;
    void *data = tfm_slurp(path, &size);
    elm_model *m = elm_model_load(path, NULL, &err);
    elm_tokenizer *t = elm_tokenizer_load(path, &err);
    elm_tokenizer *tm = data ? elm_tokenizer_load_memory(data, size, &err) : NULL;
    TF_CHECK(m && t && tm, "%s", err.msg);
    if (m && t && tm) {
        TF_CHECK(elm_tokenizer_n_vocab(t) == 512 && elm_tokenizer_n_vocab(tm) == 512, "%d", elm_tokenizer_n_vocab(t));
        const char *text = "Once upon a time, there was a little girl named Lily.";
        int32_t want[64], got[64], got_m[64];
        const int64_t nw = elm_tokenize_text(m, text, strlen(text), want, 64, true, false, &err);
        const int64_t need = elm_tokenizer_encode(t, text, strlen(text), NULL, 0, true, false, &err);
        const int64_t ng = elm_tokenizer_encode(t, text, strlen(text), got, 64, true, false, &err);
        const int64_t nm = elm_tokenizer_encode(tm, text, strlen(text), got_m, 64, true, false, &err);
        TF_CHECK(nw > 10 && need == nw && ng == nw && nm == nw, "%lld %lld %lld %lld", (long long)nw,
                 (long long)need, (long long)ng, (long long)nm);
        TF_CHECK(nw > 0 && nw <= 64 && !memcmp(got, want, (size_t)nw * sizeof *got) &&
                 !memcmp(got_m, want, (size_t)nw * sizeof *got), "ids differ from the model's");
        /* Token texts: the stored piece (SentencePiece's U+2581 kept), cut with a NUL when short. */
        char buf[64], small[3];
        bool found = false;
        for (int64_t i = 1; i < nw && !found; i++) {
            const int32_t n = elm_tokenizer_token_text(t, got[i], buf, sizeof buf);
            char piece[64];
            const int32_t np = elm_token_piece(m, got[i], piece, sizeof piece, false);
            if (n >= 4 && !strncmp(buf, "\xe2\x96\x81", 3) && np == n - 2 && !memcmp(piece + 1, buf + 3, (size_t)n - 3)) {
                found = true;
                TF_CHECK(elm_tokenizer_token_text(t, got[i], NULL, 0) == n);
                TF_CHECK(elm_tokenizer_token_text(t, got[i], small, sizeof small) == n && small[2] == '\0' &&
                         !memcmp(small, buf, 2));
            }
        }
        TF_CHECK(found, "no word-initial piece with U+2581 among the ids");
        TF_CHECK(elm_tokenizer_token_text(t, 512, buf, sizeof buf) == -1 && elm_tokenizer_token_text(t, -1, buf, 8) == -1);
    }
    elm_tokenizer_free(t);
    elm_tokenizer_free(tm);
    elm_model_free(m);
    free(data);
    err.code = ELM_OK;
    TF_CHECK(!elm_tokenizer_load("/nonexistent/x.gguf", &err) && err.code != ELM_OK && err.msg[0]);
    err.code = ELM_OK;
    TF_CHECK(!elm_tokenizer_load_memory("GGUF", 4, &err) && err.code != ELM_OK, "%s", err.msg);
    elm_tokenizer_free(NULL);
}

/* What convert reads (elm_convert_supported: the whole text's length, cut with a NUL in a short
 * buffer) and the names of llama.cpp's general.file_type values. */
TF_TEST(convert_supported_and_file_type_names) {
    const int32_t n = elm_convert_supported(NULL, 0);
    char *all = (char *)malloc((size_t)n + 1), small[16];
    TF_CHECK(n > 100 && all && elm_convert_supported(all, n + 1) == n && (int32_t)strlen(all) == n, "%d", n);
    if (all) {
        TF_CHECK(strstr(all, "LlamaForCausalLM") && strstr(all, "Bert*, ") && strstr(all, "T5ForConditionalGeneration") &&
                     strstr(all, "(decoders); ") && strstr(all, "(ELMo)"), "%s", all);
        TF_CHECK(elm_convert_supported(small, sizeof small) == n && strlen(small) == sizeof small - 1 &&
                 !strncmp(small, all, sizeof small - 1));
    }
    free(all);
    TF_CHECK(!strcmp(elm_quant_file_type_name(0), "F32") && !strcmp(elm_quant_file_type_name(1), "F16") &&
             !strcmp(elm_quant_file_type_name(7), "Q8_0") && !strcmp(elm_quant_file_type_name(15), "Q4_K_M"));
    TF_CHECK(elm_quant_file_type_name(1000) == NULL);
}

TF_MAIN
