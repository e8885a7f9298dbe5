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
#include "gen_opts.h"
#include "t5_cli.h"

static void generate_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm generate -m MODEL.gguf [-p TEXT] [options]\n"
            "  -m, --model FILE        the model (llama, qwen2 or gpt2 GGUF)\n"
            "  -p, --prompt TEXT       text to continue (default: start from BOS)\n"
            "  --ids 1,2,3             the prompt as token ids\n"
            "  -n, --n-predict N       tokens to generate (default -1: until end of text or a\n"
            "                          full context)\n"
            "  --temp T                temperature (default 0.8; 0 = greedy)\n"
            "  --top-k K               (default 40; 0 = off)\n"
            "  --top-p P               (default 0.95; 1 = off)\n"
            "  --min-p P               (default 0.05; 0 = off)\n"
            "  --repeat-penalty R      (default 1 = off)\n"
            "  --repeat-last-n N       tokens the penalty looks back over (default 64)\n"
            "  --seed S                random seed (default: from the clock)\n"
            "  -t, --threads N         (default 1)\n"
            "  -c, --ctx-size N        KV cache positions (default: the model's, at most 4096)\n"
            "  --kv-f16                keep the KV cache in F16\n"
            "  --no-repack             read Q4_0/Q8_0 weights from the mapped file as they are\n"
            "                          (less memory; by default they are copied at load into\n"
            "                          the interleaved layout the kernels read faster)\n"
            "  --ignore-eos            do not stop at end-of-text tokens\n"
            "  -v, --verbose           print timings to stderr\n");
}

typedef struct generate_state {
    elm_detokenizer *detok;
    int32_t bos;
    bool ignore_eos;
    int32_t n_printed;
} generate_state;

static bool generate_on_token(int32_t id, void *user) {
    generate_state *st = user;
    if (id == st->bos && !st->ignore_eos) return false; /* a new document begins */
    char buf[256];
    int32_t n = elm_detokenizer_push(st->detok, id, buf, sizeof buf);
    if (n > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        fflush(stdout);
    }
    st->n_printed++;
    return true;
}

static double generate_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cmd_generate(int argc, char **argv) {
    if (t5_cli_is_t5(argc, argv)) return cmd_t5_generate(argc, argv); /* encoder-decoder */
    gen_opts o;
    gen_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            generate_usage(stdout);
            return 0;
        }
        int r = gen_parse_opt(&o, argc, argv, &i, "generate");
        if (r < 0) return 2;
        if (r == 0) {
            fprintf(stderr, "edgelm generate: unknown option '%s'\n", argv[i]);
            generate_usage(stderr);
            return 2;
        }
    }
    if (!o.model) {
        generate_usage(stderr);
        return 2;
    }
    gen_default_seed(&o);

    int rc = 1;
    elm_error err = {0};
    const elm_model_params mp = gen_model_params(&o, false);
    elm_model *m = elm_model_load(o.model, &mp, &err);
    elm_ctx *c = NULL;
    elm_sampler *s = NULL;
    elm_detokenizer *detok = NULL;
    int32_t *prompt = NULL, n_prompt = 0;
    if (!m) goto done;
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
        if (bos < 0) {
            snprintf(err.msg, sizeof err.msg, "the model has no BOS token: give a prompt with -p");
            goto done;
        }
        prompt[0] = bos;
        n_prompt = 1;
    }
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.n_threads;
    cp.kv_f16 = o.kv_f16;
    c = elm_ctx_new_ext(m, &cp, &err);
    if (!c) goto done;
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

    generate_state st = {.detok = detok, .bos = elm_token_bos(m), .ignore_eos = o.ignore_eos};
    int32_t room = elm_ctx_n_ctx(c) - n_prompt + 1;
    int32_t n_predict = o.n_predict < 0 || o.n_predict > room ? room : o.n_predict;
    double t0 = generate_now();
    int64_t n = elm_generate(c, s, prompt, n_prompt, n_predict, o.ignore_eos, generate_on_token,
                             &st, NULL, &err);
    double t1 = generate_now();
    if (n < 0) goto done;
    int32_t len = elm_detokenizer_flush(detok, scratch, sizeof scratch);
    if (len > 0) fwrite(scratch, 1, (size_t)len, stdout);
    fflush(stdout);
    if (o.verbose)
        fprintf(stderr, "\n[edgelm: %d prompt tokens, %lld generated, %.2f s, %.1f tokens/s]\n",
                n_prompt, (long long)n, t1 - t0, t1 > t0 ? (double)(n_prompt + n) / (t1 - t0) : 0.0);
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm generate: %s\n", err.msg[0] ? err.msg : "failed");
    elm_detokenizer_free(detok);
    elm_sampler_free(s);
    elm_ctx_free(c);
    elm_model_free(m);
    free(prompt);
    return rc;
}
