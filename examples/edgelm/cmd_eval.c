/*
 * edgelm eval -m MODEL.gguf (--ids 1,2,3 | -p TEXT | -f FILE) -o OUT.npy [--what logits|hidden]
 * (T5 and BERT files go to cmd_t5_eval / cmd_bert_eval with the options parsed here)
 *
 * Runs the ids through the model in one batch and writes float32 NumPy arrays:
 *   logits  [n_tokens, n_vocab]
 *   hidden  [n_layers + 1, n_tokens, n_embd] in Hugging Face's hidden_states convention
 *           (index 0 = the embedding output, index i = the output of block i-1, the last one
 *           after the final norm).
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_io.h"
#include "gen_opts.h"
#include "cli_npy.h"
#include "out_guard.h"
#include "t5_cli.h"

int cmd_eval(int argc, char **argv) {
    gen_opts o;
    gen_opts_init(&o);
    const opt_def defs[] = {
        GEN_DEFS_MODEL(&o),
        GEN_DEFS_PROMPT(&o, "tokenize TEXT (with the model's special tokens) as the input"),
        OPT_REQ_STR("-o,--output", &o.out, "FILE.npy", "where the float32 array goes"),
        OPT_STR("--what", &o.what, "WHAT",
                "decoders: logits (default) [n_tokens, n_vocab] | hidden [n_layers+1, n_tokens, n_embd]; "
                "T5: logits [n_dec, n_vocab] | enc [n_enc_layers+1, n, d_model] | dec [n_dec_layers+1, n_dec, d_model]; "
                "BERT: hidden (default) | mlm | nsp | pooled | logits (the classifier [n_labels], token classifier "
                "[n, n_labels] or QA head [n, 2])"),
        OPT_STR("--dec-ids", &o.dec_ids, "0,5,6", "T5: decoder input ids (default: the decoder start token)"),
        OPT_STR("--types", &o.types, "0,0,1", "BERT: token type ids, as many as --ids"),
        OPT_STR("-b", &o.pair, "TEXT", "BERT: the second text of a pair (with -p)"),
        OPT_THREADS(&o.n_threads),
        OPT_FLAG("--no-repack", &o.no_repack, "keep Q4_0/Q8_0 weights in the file's layout (see generate -h)"),
        OPT_FLAG("-v,--verbose", &o.verbose, "more messages on stderr"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("eval", "-m MODEL.gguf (--ids 1,2,3 | -p TEXT | -f FILE) -o OUT.npy [options]",
                         "Runs the input through the model in one batch and writes float32 NumPy arrays "
                         "(Hugging Face's hidden_states convention: index 0 = the embeddings, the last after "
                         "the final norm). Decoders, T5 and BERT files.",
                         defs);
    int r = gen_parse(&cmd, &o, argc, argv);
    if (r == OPTS_OK && !o.ids && !o.prompt) r = opts_fail("eval", "give --ids 1,2,3, -p TEXT or -f FILE", "no input");
    if (r != OPTS_OK) {
        gen_opts_free(&o);
        return opts_exit(r);
    }
    if (cli_file_is_arch(o.model, "t5") || cli_file_is_arch(o.model, "bert")) {
        r = cli_file_is_arch(o.model, "t5") ? cmd_t5_eval(&o) : cmd_bert_eval(&o);
        gen_opts_free(&o);
        return r;
    }
    if (!cli_family_check("eval", o.model, CLI_DECODER)) {
        gen_opts_free(&o);
        return 1;
    }
    static const char *const whats[] = {"logits", "hidden", NULL};
    if (o.what && opts_choice("eval", "--what", o.what, whats) < 0) {
        gen_opts_free(&o);
        return 2;
    }
    const bool hidden = o.what && !strcmp(o.what, "hidden");
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
    out_guard_add(o.out, false); /* its temporary file goes on SIGINT/SIGTERM */
    if (hidden) {
        const int64_t shape[3] = {elm_model_n_layer(m) + 1, n, elm_model_n_embd(m)};
        st = cli_npy_write_f32(o.out, elm_get_hidden(c, NULL), 3, shape, &gerr);
    } else {
        const int64_t shape[2] = {n, elm_model_n_vocab(m)};
        st = cli_npy_write_f32(o.out, elm_get_logits(c, NULL), 2, shape, &gerr);
    }
    if (st != GL_OK) {
        snprintf(err.msg, sizeof err.msg, "%s", gerr.msg);
        goto done;
    }
    if (o.verbose)
        fprintf(stderr, "edgelm eval: wrote %s: %s of %d tokens\n", o.out, hidden ? "hidden states" : "logits", n);
    rc = 0;
done:
    if (rc) opts_fail_err("eval", NULL, &err, "failed");
    elm_ctx_free(c);
    elm_model_free(m);
    free(ids);
    gen_opts_free(&o);
    return rc;
}
