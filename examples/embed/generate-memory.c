/*
 * generate-memory — text generation from a model that is already in memory (as firmware holds
 * a model linked into its image or read from flash): the GGUF bytes are read into a buffer
 * here, then elm_model_load_memory uses them in place; nothing is copied and nothing is mapped.
 *
 *   generate-memory MODEL.gguf "Once upon a time" [N_TOKENS]
 *
 * Greedy decoding, streamed to stdout: the continuation only, the same text as
 * `edgelm generate -m MODEL.gguf -p PROMPT -n N_TOKENS --temp 0`.
 * Build: cc $(pkg-config --cflags edgelm) generate-memory.c $(pkg-config --libs edgelm)
 */
#include "edgelm.h"

#include <stdio.h>
#include <stdlib.h>

/* Reads a whole file into a new buffer; NULL on failure. */
static void *read_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    void *buf = NULL;
    long n = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) != NULL &&
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

typedef struct stream {
    elm_detokenizer *detok;
    int32_t bos;
} stream;

/* Called with every generated token: prints its text as soon as it is a complete character. */
static bool print_token(int32_t id, void *user) {
    stream *s = (stream *)user;
    if (id == s->bos) return false; /* a new document would begin: stop */
    char text[256];
    int32_t n = elm_detokenizer_push(s->detok, id, text, (int32_t)sizeof text);
    fwrite(text, 1, (size_t)n, stdout);
    fflush(stdout);
    return true;
}

/* Tokenizes the prompt (a size query, then the ids), generates n_predict tokens greedily. */
static bool generate(elm_model *model, const char *prompt, int32_t n_predict, elm_error *err) {
    bool ok = false;
    size_t len = 0;
    while (prompt[len]) len++;
    int64_t n = elm_tokenize_text(model, prompt, len, NULL, 0, true, false, err);
    int32_t *ids = n >= 0 ? (int32_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof *ids) : NULL;
    elm_ctx *ctx = ids ? elm_ctx_new(model, 0, 1, err) : NULL; /* n_ctx 0: the model's */
    elm_sampler_params sp = elm_sampler_default_params();
    sp.temp = 0.0f; /* greedy */
    elm_sampler *smp = ctx ? elm_sampler_new(&sp, elm_model_n_vocab(model), err) : NULL;
    stream st = {smp ? elm_detokenizer_new(model, false, err) : NULL, elm_token_bos(model)};
    if (st.detok && elm_tokenize_text(model, prompt, len, ids, n, true, false, err) == n) {
        /* The prompt goes through the detokenizer unprinted, so that the first generated
         * piece is spelled as inside the whole text. */
        char text[256];
        for (int64_t i = 0; i < n; i++) elm_detokenizer_push(st.detok, ids[i], text, (int32_t)sizeof text);
        if (elm_generate(ctx, smp, ids, (int32_t)n, n_predict, false, print_token, &st, NULL, err) >= 0) {
            fwrite(text, 1, (size_t)elm_detokenizer_flush(st.detok, text, (int32_t)sizeof text), stdout);
            ok = true;
        }
    }
    elm_detokenizer_free(st.detok);
    elm_sampler_free(smp);
    elm_ctx_free(ctx);
    free(ids);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_TOKENS]\n", argv[0]);
        return 2;
    }
    size_t size = 0;
    void *data = read_file(argv[1], &size);
    if (!data) {
        fprintf(stderr, "%s: cannot read the file\n", argv[1]);
        return 1;
    }
    elm_error err = {ELM_OK, ""};
    elm_model *model = elm_model_load_memory(data, size, NULL, &err); /* data must outlive it */
    bool ok = model && generate(model, argv[2], argc == 4 ? atoi(argv[3]) : 32, &err);
    if (!ok) fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : "out of memory");
    elm_model_free(model);
    free(data);
    return ok ? 0 : 1;
}
