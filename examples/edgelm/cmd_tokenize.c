/*
 * edgelm tokenize -m MODEL.gguf (-p TEXT | -f FILE) [--no-special] [--ids-only | --pieces]
 *
 * Prints the token ids of TEXT on one line, separated by spaces. By default the model's
 * special tokens are added as Hugging Face's add_special_tokens=True does (BOS for Llama-style
 * SentencePiece models, nothing for GPT-2); --no-special adds none. Special-token text written
 * in the input (e.g. "<|im_start|>") becomes its id either way. --pieces prints one token a
 * line instead: id, then its text as the vocabulary stores it (escaped).
 */
#include "cli.h"
#include "ggml-lite.h"
#include "vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm tokenize -m MODEL.gguf (-p TEXT | -f FILE) [options]\n"
            "  -m, --model FILE    a GGUF file with a tokenizer (a --vocab-only conversion will do)\n"
            "  -p, --prompt TEXT   the text to tokenize\n"
            "  -f, --file FILE     read the text from FILE (exact bytes; '-' = stdin)\n"
            "  --no-special        add no BOS/EOS (special-token text in the input still counts)\n"
            "  --ids-only          print only the ids, space-separated (the default)\n"
            "  --pieces            print one token a line: id and its vocabulary text\n");
}

/* Reads a whole file (or stdin) into memory. */
static char *tokenize_read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (f != stdin) fclose(f);
    *len = n;
    return buf;
}

static void tokenize_print_escaped(gl_str s) {
    putchar('\'');
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\'' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool add_special = true, pieces = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val) prompt = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) file = argv[++i];
        else if (!strcmp(a, "--no-special")) add_special = false;
        else if (!strcmp(a, "--ids-only")) pieces = false;
        else if (!strcmp(a, "--pieces")) pieces = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "edgelm tokenize: unknown or incomplete option '%s'\n", a);
            tokenize_usage(stderr);
            return 2;
        }
    }
    if (!model || (!prompt) == (!file)) {
        fprintf(stderr, "edgelm tokenize: need -m MODEL and one of -p TEXT or -f FILE\n");
        tokenize_usage(stderr);
        return 2;
    }
    char *text = NULL;
    size_t len;
    if (file) {
        text = tokenize_read_all(file, &len);
        if (!text) {
            fprintf(stderr, "edgelm tokenize: cannot read '%s'\n", file);
            return 1;
        }
    } else {
        len = strlen(prompt);
    }
    const char *src = file ? text : prompt;

    int rc = 1;
    gl_error err = {0};
    elm_vocab *v = NULL;
    int32_t *ids = NULL;
    gl_gguf *f = gl_gguf_open(model, &err);
    if (!f) goto fail;
    v = elm_vocab_load(f, &err);
    if (!v) goto fail;
    int64_t n = elm_tokenize(v, src, len, NULL, 0, add_special, true, &err);
    if (n < 0) goto fail;
    ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids) {
        gl_error_set(&err, GL_ERR_NOMEM, "out of memory");
        goto fail;
    }
    n = elm_tokenize(v, src, len, ids, n, add_special, true, &err);
    if (n < 0) goto fail;
    for (int64_t i = 0; i < n; i++) {
        if (pieces) {
            printf("%d\t", ids[i]);
            tokenize_print_escaped(elm_vocab_token_text(v, ids[i]));
            putchar('\n');
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (!pieces) putchar('\n');
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "edgelm tokenize: %s: %s\n", model, err.msg);
done:
    free(ids);
    elm_vocab_free(v);
    if (f) gl_gguf_close(f);
    free(text);
    return rc;
}
