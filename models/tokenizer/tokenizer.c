/*
 * tokenizer.c — the public tokenizer without a model (elm_tokenizer, include/edgelm.h): the
 * GGUF file's metadata and vocabulary, no weights. The vocabulary points into the file's
 * metadata, so the file stays open with it.
 */
#include "alloc.h"
#include "common.h"
#include "vocab.h"

#include <stdint.h>
#include <string.h>

struct elm_tokenizer {
    gl_gguf *file;
    elm_vocab *vocab;
};

static elm_tokenizer *tokenizer_wrap(gl_gguf *f, const gl_error *gerr, elm_error *err) {
    if (!f) {
        elm_err_from_gl(err, gerr);
        return NULL;
    }
    gl_error verr = {0};
    elm_vocab *v = elm_vocab_load(f, &verr);
    elm_tokenizer *t = v ? ELM_CALLOC(1, sizeof *t) : NULL;
    if (!t) {
        if (v) elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        else elm_err_from_gl(err, &verr);
        elm_vocab_free(v);
        gl_gguf_close(f);
        return NULL;
    }
    t->file = f;
    t->vocab = v;
    return t;
}

elm_tokenizer *elm_tokenizer_load(const char *path, elm_error *err) {
    gl_error gerr = {0};
    if (!path) return elm_err_set(err, ELM_ERR_INVALID, "tokenizer: no path"), NULL;
    return tokenizer_wrap(gl_gguf_open(path, &gerr), &gerr, err);
}

elm_tokenizer *elm_tokenizer_load_memory(const void *data, size_t size, elm_error *err) {
    gl_error gerr = {0};
    if (!data) return elm_err_set(err, ELM_ERR_INVALID, "tokenizer: no data"), NULL;
    return tokenizer_wrap(gl_gguf_open_buffer(data, size, &gerr), &gerr, err);
}

void elm_tokenizer_free(elm_tokenizer *t) {
    if (!t) return;
    elm_vocab_free(t->vocab);
    gl_gguf_close(t->file);
    ELM_FREE(t);
}

int32_t elm_tokenizer_n_vocab(const elm_tokenizer *t) {
    return t ? elm_vocab_n_tokens(t->vocab) : 0;
}

int64_t elm_tokenizer_encode(const elm_tokenizer *t, const char *text, size_t len, int32_t *ids, int64_t max_ids,
                             bool add_special, bool parse_special, elm_error *err) {
    if (!t || (!text && len)) return elm_err_set(err, ELM_ERR_INVALID, "tokenize: no tokenizer or text");
    return elm_tokenize(t->vocab, text ? text : "", len, ids, max_ids, add_special, parse_special, err);
}

int32_t elm_tokenizer_token_text(const elm_tokenizer *t, int32_t id, char *buf, int32_t size) {
    if (!t || id < 0 || id >= elm_vocab_n_tokens(t->vocab)) return -1;
    const gl_str s = elm_vocab_token_text(t->vocab, id);
    const int32_t n = s.len > INT32_MAX - 1 ? INT32_MAX - 1 : (int32_t)s.len;
    if (buf && size > 0) {
        const int32_t k = n < size - 1 ? n : size - 1;
        if (k > 0) memcpy(buf, s.data, (size_t)k);
        buf[k] = '\0';
    }
    return n;
}
