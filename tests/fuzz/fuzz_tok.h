/*
 * fuzz_tok.h — the body of the tokenizer harnesses (fuzz_tok_bpe.c, _spm, _wpm, _ugm): a real
 * vocabulary (FUZZ_TOK_VOCAB under fuzz_vocab_dir(), written by scripts/fuzz_corpus.sh from
 * the fixtures) tokenizes arbitrary bytes with and without special-token parsing, and the ids
 * are decoded again piece by piece and through the streaming decoder. Checks: no crash or
 * sanitizer report, every id in range, tokenizing fails only with a message.
 */
#ifndef EDGELM_FUZZ_TOK_H
#define EDGELM_FUZZ_TOK_H

#include "fuzz.h"
#include "ggml-lite.h"
#include "vocab.h"

static gl_gguf *fz_file;
static elm_vocab *fz_vocab;

/* At exit: the vocabulary and its file are freed (LeakSanitizer counts them otherwise). */
static void fz_close(void) {
    elm_vocab_free(fz_vocab);
    if (fz_file) gl_gguf_close(fz_file);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    atexit(fz_close);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_vocab_dir(), FUZZ_TOK_VOCAB);
    gl_error err = {0};
    fz_file = gl_gguf_open(path, &err);
    if (fz_file) fz_vocab = elm_vocab_load(fz_file, &err);
    if (!fz_vocab) {
        fprintf(stderr, "fuzz: cannot load the vocabulary %s: %s (run scripts/fuzz_corpus.sh)\n", path, err.msg);
        exit(1);
    }
    return 0;
}

static void fz_roundtrip(const uint8_t *data, size_t size, bool add_special, bool parse_special) {
    gl_error err = {0};
    int32_t ids[4096];
    const int64_t n = elm_tokenize(fz_vocab, (const char *)data, size, ids, 4096, add_special, parse_special, &err);
    if (n < 0) {
        if (!err.msg[0]) abort();
        return;
    }
    const int32_t nv = elm_vocab_n_tokens(fz_vocab);
    char buf[1024];
    elm_detok d;
    elm_detok_init(&d, fz_vocab, parse_special);
    for (int64_t i = 0; i < n && i < 4096; i++) {
        if (ids[i] < 0 || ids[i] >= nv) abort();
        const int32_t k = elm_token_to_piece(fz_vocab, ids[i], buf, (int32_t)sizeof buf, true);
        if (k < 0) abort();
        if (elm_detok_push(&d, ids[i], buf, (int32_t)sizeof buf) < 0) abort();
    }
    if (elm_detok_flush(&d, buf, (int32_t)sizeof buf) < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0; /* long texts: tests/cli-reliability.sh and test-limits */
    fz_roundtrip(data, size, true, true);
    fz_roundtrip(data, size, false, false);
    return 0;
}

#endif
