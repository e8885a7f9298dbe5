/*
 * edgelm eval -m MODEL.gguf (--ids 1,2,3 | -p TEXT) -o OUT.npy [--what logits|hidden]
 *
 * Runs the ids through the model in one batch and writes float32 NumPy arrays:
 *   logits  [n_tokens, n_vocab]
 *   hidden  [n_layers + 1, n_tokens, n_embd] in Hugging Face's hidden_states convention
 *           (index 0 = the embedding output, index i = the output of block i-1, the last one
 *           after the final norm).
 */
#include "cli.h"
#include "gen_opts.h"
#include "npy.h"
#include "t5_cli.h"

static void eval_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm eval -m MODEL.gguf (--ids 1,2,3 | -p TEXT) -o OUT.npy [options]\n"
            "  --what logits|hidden   logits [n_tokens, n_vocab] (default) or hidden states\n"
            "                         [n_layers+1, n_tokens, n_embd]\n"
            "  -p TEXT                tokenize TEXT (with the model's special tokens) instead\n"
            "  -t, --threads N        (default 1)\n"
            "  --no-repack            keep Q4_0/Q8_0 weights in the file's layout (see generate -h)\n");
}

int cmd_eval(int argc, char **argv) {
    if (t5_cli_is_t5(argc, argv)) return cmd_t5_eval(argc, argv); /* --what logits|enc|dec */
    if (bert_cli_is_bert(argc, argv)) return cmd_bert_eval(argc, argv); /* hidden|mlm|nsp|pooled */
    gen_opts o;
    gen_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            eval_usage(stdout);
            return 0;
        }
        int r = gen_parse_opt(&o, argc, argv, &i, "eval");
        if (r < 0) return 2;
        if (r == 0) {
            fprintf(stderr, "edgelm eval: unknown option '%s'\n", argv[i]);
            eval_usage(stderr);
            return 2;
        }
    }
    const bool hidden = o.what && !strcmp(o.what, "hidden");
    if (!o.model || !o.out || (!o.ids && !o.prompt) ||
        (o.what && !hidden && strcmp(o.what, "logits"))) {
        eval_usage(stderr);
        return 2;
    }
    int rc = 1;
    elm_error err = {0};
    const elm_model_params mp = gen_model_params(&o, o.prompt == NULL); /* ids need no tokenizer */
    elm_model *m = elm_model_load(o.model, &mp, &err);
    elm_ctx *c = NULL;
    int32_t *ids = NULL, n = 0;
    if (!m) goto done;
    if (o.ids) {
        ids = gen_parse_ids(o.ids, &n);
        if (!ids) {
            snprintf(err.msg, sizeof err.msg, "--ids: expected comma-separated token ids");
            goto done;
        }
    } else {
        ids = gen_tokenize(m, o.prompt, strlen(o.prompt), true, &n, &err);
        if (!ids) goto done;
        if (n == 0) {
            snprintf(err.msg, sizeof err.msg, "the prompt gives no tokens");
            goto done;
        }
    }
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = n;
    cp.n_batch = n; /* one graph: hidden states of every token at once */
    cp.n_threads = o.n_threads;
    c = elm_ctx_new_ext(m, &cp, &err);
    if (!c) goto done;
    if (elm_decode(c, ids, n, hidden ? ELM_OUT_HIDDEN : ELM_OUT_LOGITS_ALL, &err) != ELM_OK)
        goto done;
    gl_error gerr = {0};
    gl_status st;
    if (hidden) {
        const int64_t shape[3] = {elm_model_n_layer(m) + 1, n, elm_model_n_embd(m)};
        st = elm_npy_write_f32(o.out, elm_get_hidden(c, NULL), 3, shape, &gerr);
    } else {
        const int64_t shape[2] = {n, elm_model_n_vocab(m)};
        st = elm_npy_write_f32(o.out, elm_get_logits(c, NULL), 2, shape, &gerr);
    }
    if (st != GL_OK) {
        snprintf(err.msg, sizeof err.msg, "%s", gerr.msg);
        goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm eval: %s\n", err.msg[0] ? err.msg : "failed");
    elm_ctx_free(c);
    elm_model_free(m);
    free(ids);
    return rc;
}
