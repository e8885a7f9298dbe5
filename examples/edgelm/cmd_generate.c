/*
 * edgelm generate -m MODEL.gguf [-p TEXT | --ids 1,2,3] [-n N] [sampling options]
 *
 * Prints only the continuation, streamed piece by piece. Without a prompt it starts from BOS.
 *
 * -n N is the number of tokens generated. Starting from BOS this equals llama2.c's `steps`
 * (run.c runs positions 0..steps-1 and prints the token sampled at each, so `-n 200` prints
 * the same 200 tokens as `run -n 200`; checked against llama2.c's stories260K texts).
 * Generation stops early at an end-of-generation token, or (llama2.c's rule) at a sampled BOS,
 * which starts a new document; --ignore-eos disables both.
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_perf.h"
#include "cli_stop.h"
#include "gen_opts.h"
#include "t5_cli.h"

/* The option table of `edgelm generate` (decoders and T5 alike). */
static int generate_parse(gen_opts *o, int argc, char **argv) {
    gen_opts_init(o);
    const opt_def defs[] = {
        OPT_SECTION("Input"),
        GEN_DEFS_MODEL(o),
        GEN_DEFS_PROMPT(o, "text to continue (default: start from BOS; T5: the input)"),
        OPT_SECTION("Generation"),
        GEN_DEFS_GENERATION(o),
        OPT_SECTION("Sampling"),
        GEN_DEFS_SAMPLING(o),
        OPT_SECTION("T5 (encoder-decoder models)"),
        GEN_DEFS_T5(o),
        OPT_SECTION("Runtime"),
        GEN_DEFS_RUNTIME(o),
        OPT_SECTION("Output"),
        GEN_DEFS_OUTPUT(o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("generate", "-m MODEL.gguf [-p TEXT | -f FILE | --ids 1,2,3] [options]",
                         "Continues a text, streamed to stdout (only the continuation unless --echo). "
                         "Decoders (llama, qwen2, gpt2 families) and T5. A timing summary follows "
                         "on stderr unless --no-perf.",
                         defs);
    const int r = gen_parse(&cmd, o, argc, argv);
    if (r != OPTS_OK) return r;
    if (o->prompt && o->ids) return opts_fail("generate", "give only one of them", "-p and --ids are alternatives");
    return OPTS_OK;
}

typedef struct generate_state {
    elm_detokenizer *detok;
    int32_t bos;
    bool ignore_eos;
    int32_t n_printed;
    cli_stop stop;
    cli_perf *perf;
} generate_state;

static bool generate_on_token(int32_t id, void *user) {
    generate_state *st = user;
    cli_perf_token(st->perf);
    if (id == st->bos && !st->ignore_eos) return false; /* a new document begins */
    char buf[256];
    int32_t n = elm_detokenizer_push(st->detok, id, buf, sizeof buf);
    st->n_printed++;
    return n <= 0 || cli_stop_push(&st->stop, buf, (size_t)n);
}

int cmd_generate(int argc, char **argv) {
    gen_opts o;
    int r = generate_parse(&o, argc, argv);
    if (r != OPTS_OK) {
        gen_opts_free(&o);
        return opts_exit(r);
    }
    if (cli_file_is_arch(o.model, "t5")) { /* encoder-decoder */
        r = cmd_t5_generate(&o);
        gen_opts_free(&o);
        return r;
    }
    if (!cli_family_check("generate", o.model, CLI_DECODER | CLI_T5)) {
        gen_opts_free(&o);
        return 1;
    }
    gen_default_seed(&o);

    int rc = 1;
    elm_error err = {0};
    cli_perf perf = {.t_start = cli_now()};
    const elm_model_params mp = gen_model_params(&o, false);
    elm_model *m = elm_model_load(o.model, &mp, &err);
    elm_ctx *c = NULL;
    elm_sampler *s = NULL;
    elm_detokenizer *detok = NULL;
    int32_t *prompt = NULL, n_prompt = 0;
    generate_state st = {.perf = &perf};
    cli_stop_init(&st.stop, o.stop.v, o.stop.n, stdout);
    if (!m) goto done;
    gen_warn_ctx(&o, "generate", elm_model_n_ctx_train(m));
    if (o.ids) {
        prompt = gen_parse_ids(o.ids, &n_prompt);
        if (!prompt) {
            snprintf(err.msg, sizeof err.msg, "--ids: expected comma-separated token ids");
            goto done;
        }
    } else if (o.prompt && *o.prompt) {
        prompt = gen_tokenize(m, o.prompt, strlen(o.prompt), true, &n_prompt, &err);
        if (!prompt) goto done;
    }
    if (n_prompt == 0) {
        free(prompt);
        prompt = malloc(sizeof *prompt);
        int32_t bos = elm_token_bos(m);
        if (bos < 0 || !prompt) {
            snprintf(err.msg, sizeof err.msg, "the model has no BOS token: give a prompt with -p");
            goto done;
        }
        prompt[0] = bos;
        n_prompt = 1;
    }
    elm_ctx_params cp = gen_ctx_params(&o);
    c = elm_ctx_new_ext(m, &cp, &err);
    if (!c) goto done;
    if (o.verbose)
        fprintf(stderr, "edgelm generate: %s: %s, %d layers, %d dims, %d of %d trained positions, %d threads, %d prompt tokens\n",
                o.model, elm_model_arch(m), elm_model_n_layer(m), elm_model_n_embd(m), elm_ctx_n_ctx(c),
                elm_model_n_ctx_train(m), o.n_threads, n_prompt);
    if (n_prompt >= elm_ctx_n_ctx(c)) {
        snprintf(err.msg, sizeof err.msg, "the prompt has %d tokens; the context holds %d",
                 n_prompt, elm_ctx_n_ctx(c));
        goto done;
    }
    s = elm_sampler_new(&o.sp, elm_model_n_vocab(m), &err);
    detok = elm_detokenizer_new(m, false, &err);
    if (!s || !detok) goto done;
    /* The prompt goes through the detokenizer too (its text is not printed), so that the
     * continuation's first piece is spelled as it would be inside the whole text. */
    char scratch[256];
    for (int32_t i = 0; i < n_prompt; i++) elm_detokenizer_push(detok, prompt[i], scratch, sizeof scratch);
    if (o.echo && o.prompt) {
        fputs(o.prompt, stdout);
        fflush(stdout);
    }
    st.detok = detok;
    st.bos = elm_token_bos(m);
    st.ignore_eos = o.ignore_eos;
    int32_t room = elm_ctx_n_ctx(c) - n_prompt + 1;
    int32_t n_predict = o.n_predict < 0 || o.n_predict > room ? room : o.n_predict;
    perf.t_loaded = perf.t_run = cli_now();
    int64_t n = elm_generate(c, s, prompt, n_prompt, n_predict, o.ignore_eos, generate_on_token,
                             &st, NULL, &err);
    perf.t_end = cli_now();
    if (n < 0) goto done;
    int32_t len = elm_detokenizer_flush(detok, scratch, sizeof scratch);
    if (len > 0) cli_stop_push(&st.stop, scratch, (size_t)len);
    cli_stop_finish(&st.stop);
    perf.n_prompt = n_prompt;
    perf.n_gen = n;
    if (!o.no_perf) cli_perf_print(&perf, stderr);
    rc = 0;
done:
    if (rc) opts_fail_err("generate", NULL, &err, "failed");
    cli_stop_finish(&st.stop);
    elm_detokenizer_free(detok);
    elm_sampler_free(s);
    elm_ctx_free(c);
    elm_model_free(m);
    free(prompt);
    gen_opts_free(&o);
    return rc;
}
