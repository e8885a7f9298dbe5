/*
 * elmo-vectors — contextual ELMo vectors for the words of one sentence (an AllenNLP / bilm-tf
 * model converted by `edgelm convert`).
 *
 *   elmo-vectors MODEL.gguf "The cat sat on the mat ."
 *
 * The sentence is split at spaces (ELMo takes words, not sub-words). Prints the layer count
 * and vector size, then for each word its scalar mix with equal weights (gamma 1): the word
 * and the first values of its vector, and the vector's norm.
 * Build: cc $(pkg-config --cflags edgelm) elmo-vectors.c $(pkg-config --libs edgelm) -lm
 */
#include "edgelm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 256

/* Splits s in place at spaces; returns the number of words. */
static int32_t split_words(char *s, const char **words) {
    int32_t n = 0;
    for (char *w = strtok(s, " "); w && n < MAX_WORDS; w = strtok(NULL, " ")) words[n++] = w;
    return n;
}

static bool run(elm_elmo *m, const char *const *words, int32_t n, elm_error *err) {
    const int32_t L = elm_elmo_n_layers(m), d = elm_elmo_dim(m);
    float *layers = (float *)malloc((size_t)L * (size_t)n * (size_t)d * sizeof(float));
    float *mix = (float *)malloc((size_t)n * (size_t)d * sizeof(float));
    bool ok = layers && mix;
    const char *const *sentences[1] = {words};
    float *outs[1] = {layers};
    ok = ok && elm_elmo_run(m, 1, sentences, &n, outs, err) == ELM_OK;
    ok = ok && elm_elmo_mix(m, layers, n, NULL, 1.0f, mix, err) == ELM_OK; /* equal weights */
    if (ok) printf("layers %d, dim %d, words %d\n", L, d, n);
    for (int32_t t = 0; ok && t < n; t++) {
        const float *v = mix + (size_t)t * d;
        double norm = 0;
        for (int32_t i = 0; i < d; i++) norm += (double)v[i] * v[i];
        printf("%-12s %9.5f %9.5f %9.5f ... |v| = %.4f\n", words[t], v[0], v[1], v[2], sqrt(norm));
    }
    free(layers);
    free(mix);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SENTENCE\n", argv[0]);
        return 2;
    }
    const char *words[MAX_WORDS];
    int32_t n = split_words(argv[2], words);
    if (n == 0) {
        fprintf(stderr, "error: the sentence has no words\n");
        return 2;
    }
    elm_error err = {ELM_OK, ""};
    elm_elmo *m = elm_elmo_load(argv[1], NULL, &err);
    bool ok = m && run(m, words, n, &err);
    if (!ok) fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : "out of memory");
    elm_elmo_free(m);
    return ok ? 0 : 1;
}
