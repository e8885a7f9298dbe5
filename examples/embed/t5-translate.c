/*
 * t5-translate — text to text with a T5 model (translation, summarisation: whatever task
 * prefix the model was trained on), greedy decoding.
 *
 *   t5-translate MODEL.gguf "translate English to German: How old are you?" [N_TOKENS]
 *
 * Prints the output text: the same as `edgelm generate -m MODEL.gguf -p TEXT -n N_TOKENS`.
 * Build: cc $(pkg-config --cflags edgelm) t5-translate.c $(pkg-config --libs edgelm)
 */
#include "edgelm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool translate(elm_t5 *m, const char *text, int32_t n_predict, elm_error *err) {
    const size_t len = strlen(text);
    int64_t n = elm_t5_tokenize(m, text, len, NULL, 0, true, err); /* size query; adds </s> */
    int32_t *ids = n > 0 ? (int32_t *)malloc((size_t)n * sizeof(int32_t)) : NULL;
    int32_t *out = (int32_t *)malloc((size_t)(n_predict > 0 ? n_predict : 1) * sizeof(int32_t));
    bool ok = ids && out && elm_t5_tokenize(m, text, len, ids, n, true, err) == n;
    elm_t5_gen_params gp = elm_t5_default_gen_params(); /* greedy */
    gp.n_predict = n_predict;
    int64_t k = ok ? elm_t5_generate(m, ids, (int32_t)n, &gp, out, n_predict, NULL, NULL, err) : -1;
    ok = k >= 0;
    if (ok) {
        int32_t need = elm_t5_detokenize(m, out, (int32_t)k, NULL, 0, false); /* size query */
        char *buf = (char *)malloc((size_t)need + 1);
        ok = buf != NULL;
        if (ok) {
            elm_t5_detokenize(m, out, (int32_t)k, buf, need + 1, false);
            printf("%s\n", buf);
        }
        free(buf);
    }
    free(ids);
    free(out);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL.gguf TEXT [N_TOKENS]\n", argv[0]);
        return 2;
    }
    elm_error err = {ELM_OK, ""};
    elm_t5 *m = elm_t5_load(argv[1], NULL, &err);
    bool ok = m && translate(m, argv[2], argc == 4 ? atoi(argv[3]) : 64, &err);
    if (!ok) fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : "out of memory");
    elm_t5_free(m);
    return ok ? 0 : 1;
}
