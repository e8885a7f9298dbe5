/*
 * edgelm tokenize -m MODEL.gguf (-p TEXT | -f FILE) [--no-special] [--ids-only | --pieces]
 *
 * Prints the token ids of TEXT on one line, separated by spaces. By default the model's
 * special tokens are added as Hugging Face's add_special_tokens=True does (BOS for Llama-style
 * SentencePiece models, nothing for GPT-2); --no-special adds none. Special-token text written
 * in the input (e.g. "<|im_start|>") becomes its id either way. --pieces prints one token a
 * line instead: id, then its text as the vocabulary stores it (escaped).
 *
 * --compare REF.json checks the tokenizer against reference ids instead: REF holds
 * {"cases": [{"text": ..., "ids": [...]}, ...]} (as made with Hugging Face's tokenizer; the
 * ids include the special tokens it adds); every case is tokenized and compared, mismatches
 * are printed, and the exit status is 1 unless all are equal.
 */
#include "cli.h"
#include "cli_io.h"
#include "opts.h"
#include "ggml-lite.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void tokenize_print_ids(const char *label, const int32_t *ids, int64_t n) {
    printf("  %s:", label);
    for (int64_t i = 0; i < n; i++) printf(" %d", ids[i]);
    putchar('\n');
}

/* Tokenizes every case of a reference file and compares; returns the exit status. */
static int tokenize_compare(const elm_tokenizer *v, const char *ref, bool add_special) {
    gl_error err = {0};
    elm_json_doc *doc = elm_json_parse_file(ref, &err);
    if (!doc) {
        opts_fail_err("tokenize", NULL, &err, NULL);
        return 1;
    }
    const elm_json *cases = elm_json_get(elm_json_root(doc), "cases");
    size_t n_cases = elm_json_count(cases), n_ok = 0;
    int rc = 0;
    if (!elm_json_is(cases, ELM_JSON_ARRAY) || n_cases == 0) {
        opts_fail("tokenize", "give a JSON file {\"cases\": [{\"text\": ..., \"ids\": [..]}, ..]}", "%s has no \"cases\" array", ref);
        rc = 1;
    }
    for (size_t i = 0; i < n_cases && rc == 0; i++) {
        const elm_json *c = elm_json_at(cases, i);
        const elm_json *text = elm_json_get(c, "text"), *jids = elm_json_get(c, "ids");
        size_t nw = elm_json_count(jids);
        if (!elm_json_is(text, ELM_JSON_STRING) || !elm_json_is(jids, ELM_JSON_ARRAY)) {
            opts_fail("tokenize", "give each case a \"text\" string and an \"ids\" array", "%s: case %zu lacks \"text\" or \"ids\"", ref, i);
            rc = 1;
            break;
        }
        int32_t *want = malloc((nw ? nw : 1) * sizeof *want);
        int64_t n = elm_tokenizer_encode(v, text->s, text->len, NULL, 0, add_special, true, &err);
        int32_t *got = n >= 0 ? malloc((size_t)(n ? n : 1) * sizeof *got) : NULL;
        if (!want || !got) {
            char at[32];
            snprintf(at, sizeof at, "case %zu", i);
            if (n >= 0) err = (elm_error){ELM_ERR_NOMEM, "out of memory"};
            opts_fail_err("tokenize", at, &err, NULL);
            free(want);
            free(got);
            rc = 1;
            break;
        }
        elm_tokenizer_encode(v, text->s, text->len, got, n, add_special, true, &err);
        bool same = (size_t)n == nw;
        for (size_t k = 0; k < nw; k++) {
            int64_t id = -1;
            elm_json_int(elm_json_at(jids, k), &id);
            want[k] = (int32_t)id;
            if (same && got[k] != want[k]) same = false;
        }
        if (same) {
            n_ok++;
        } else {
            printf("case %zu differs: \"%s\"\n", i, text->s);
            tokenize_print_ids("got ", got, n);
            tokenize_print_ids("want", want, (int64_t)nw);
        }
        free(want);
        free(got);
    }
    if (rc == 0) {
        printf("%zu/%zu cases equal\n", n_ok, n_cases);
        if (n_ok != n_cases) rc = 1;
    }
    elm_json_free(doc);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL, *compare = NULL;
    bool no_special = false, pieces = false, ids_only = false, verbose = false;
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &model, "FILE", "a GGUF file with a tokenizer (a --vocab-only conversion will do)"),
        OPT_STR("-p,--prompt", &prompt, "TEXT", "the text to tokenize"),
        OPT_STR("-f,--file", &file, "FILE", "read the text from FILE (exact bytes; '-' = stdin)"),
        OPT_FLAG("--no-special", &no_special, "add no BOS/EOS (special-token text in the input still counts)"),
        OPT_FLAG("--ids-only", &ids_only, "print only the ids, space-separated (the default)"),
        OPT_FLAG("--pieces", &pieces, "print one token a line: id and its vocabulary text"),
        OPT_STR("--compare", &compare, "REF.json", "check every {\"text\", \"ids\"} case of REF's \"cases\" array"),
        OPT_FLAG("-v,--verbose", &verbose, "more messages on stderr"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("tokenize", "-m MODEL.gguf (-p TEXT | -f FILE | --compare REF.json) [options]",
                                "Prints the token ids of the text on one line. Special tokens are added as Hugging "
                                "Face's add_special_tokens=True does unless --no-special.",
                                defs);
    const int pr = opts_parse(&cmd, argc, argv);
    if (pr != OPTS_OK) return opts_exit(pr);
    const bool add_special = !no_special;
    if (pieces && ids_only) return opts_fail("tokenize", "give only one of them", "--pieces and --ids-only contradict");
    if ((!prompt) + (!file) + (!compare) != 2)
        return opts_fail("tokenize", "give exactly one of -p TEXT, -f FILE or --compare REF.json", "no single input");
    char *text = NULL;
    size_t len;
    if (file) {
        text = cli_read_all(file, &len);
        if (!text) return opts_fail("tokenize", "check the path", "cannot read '%s': %s", file, strerror(errno)) - 1;
    } else {
        len = prompt ? strlen(prompt) : 0;
    }
    const char *src = file ? text : prompt ? prompt : "";

    int rc = 1;
    gl_error err = {0};
    elm_tokenizer *v = elm_tokenizer_load(model, &err);
    char *piece = NULL;
    int32_t *ids = NULL;
    if (!v) goto fail;
    if (compare) {
        rc = tokenize_compare(v, compare, add_special);
        goto done;
    }
    int64_t n = elm_tokenizer_encode(v, src, len, NULL, 0, add_special, true, &err);
    if (n < 0) goto fail;
    ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids) {
        gl_error_set(&err, GL_ERR_NOMEM, "out of memory");
        goto fail;
    }
    n = elm_tokenizer_encode(v, src, len, ids, n, add_special, true, &err);
    if (n < 0) goto fail;
    if (verbose) fprintf(stderr, "edgelm tokenize: %lld tokens from %zu bytes\n", (long long)n, len);
    for (int64_t i = 0; i < n; i++) {
        if (pieces) {
            printf("%d\t", ids[i]);
            const int32_t k = elm_tokenizer_token_text(v, ids[i], NULL, 0);
            char *grown = k >= 0 ? realloc(piece, (size_t)k + 1) : NULL;
            if (!grown) {
                gl_error_set(&err, k < 0 ? GL_ERR_INVALID : GL_ERR_NOMEM, k < 0 ? "token id out of range" : "out of memory");
                goto fail;
            }
            piece = grown;
            elm_tokenizer_token_text(v, ids[i], piece, k + 1);
            tokenize_print_escaped((gl_str){.data = piece, .len = (uint64_t)k});
            putchar('\n');
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (!pieces) putchar('\n');
    rc = 0;
    goto done;
fail:
    opts_fail_err("tokenize", model, &err, NULL);
done:
    free(ids);
    free(piece);
    elm_tokenizer_free(v);
    free(text);
    return rc;
}
