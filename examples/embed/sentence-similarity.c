/*
 * sentence-similarity — sentence embeddings from a BERT model (a sentence-transformers folder
 * converted by `edgelm convert`, or any BERT GGUF) and their cosine similarities.
 *
 *   sentence-similarity MODEL.gguf "A man is eating food." "A man eats." "The sky is blue."
 *
 * The model (read-only weights) is loaded once and a context made for one batch of all the
 * sentences (elm_bert_params.n_seq_max); every sentence runs in that batch. The pooling and normalisation are those the converter
 * recorded (sentence-transformers' config), as `edgelm embed` uses them. Prints one line per
 * pair: i j cosine.
 * Build: cc $(pkg-config --cflags edgelm) sentence-similarity.c $(pkg-config --libs edgelm) -lm
 */
#include "edgelm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SENTENCES 64

static float cosine(const float *a, const float *b, int32_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int32_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? (float)(ab / sqrt(aa * bb)) : 0.0f;
}

/* Tokenizes the sentences, runs them as one batch, writes n x n_embd floats to emb. */
static bool embed(elm_bert *m, int n, char **texts, float *emb, elm_error *err) {
    int32_t *ids[MAX_SENTENCES] = {NULL}, n_tokens[MAX_SENTENCES];
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        int64_t need = elm_bert_tokenize(m, texts[i], NULL, true, NULL, NULL, 0, err); /* size */
        ids[i] = need > 0 ? (int32_t *)malloc((size_t)need * sizeof(int32_t)) : NULL;
        ok = ids[i] && elm_bert_tokenize(m, texts[i], NULL, true, ids[i], NULL, need, err) == need;
        n_tokens[i] = (int32_t)need;
    }
    elm_bert_request req;
    memset(&req, 0, sizeof req); /* the last hidden state only (valid C and C++) */
    ok = ok && elm_bert_run(m, n, (const int32_t *const *)ids, NULL, n_tokens, &req, err) == ELM_OK;
    const int32_t d = elm_bert_n_embd(m);
    for (int i = 0; i < n && ok; i++)
        ok = elm_bert_embedding(m, i, elm_bert_pooling_type(m), elm_bert_normalize(m), emb + (size_t)i * d, err) == ELM_OK;
    for (int i = 0; i < n; i++) free(ids[i]);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc - 2 > MAX_SENTENCES) {
        fprintf(stderr, "usage: %s MODEL.gguf SENTENCE SENTENCE [SENTENCE ...] (at most %d)\n", argv[0], MAX_SENTENCES);
        return 2;
    }
    elm_error err = {ELM_OK, ""};
    const int n = argc - 2;
    /* The weights (shareable between threads), then a context sized for one batch of n. */
    elm_bert_params params = elm_bert_default_params();
    params.n_seq_max = n;
    elm_bert_model *model = elm_bert_model_load(argv[1], &params, &err);
    elm_bert *m = model ? elm_bert_new(model, &params, &err) : NULL;
    float *emb = m ? (float *)malloc((size_t)n * (size_t)elm_bert_n_embd(m) * sizeof(float)) : NULL;
    bool ok = emb && embed(m, n, argv + 2, emb, &err);
    for (int i = 0; ok && i < n; i++)
        for (int j = i + 1; j < n; j++)
            printf("%d %d %.4f\n", i, j, cosine(emb + (size_t)i * elm_bert_n_embd(m), emb + (size_t)j * elm_bert_n_embd(m), elm_bert_n_embd(m)));
    if (!ok) fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : "out of memory");
    free(emb);
    elm_bert_free(m);
    elm_bert_model_free(model);
    return ok ? 0 : 1;
}
