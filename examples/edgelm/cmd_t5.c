/*
 * T5 (encoder-decoder) commands. `edgelm generate` and `edgelm eval` hand a model whose
 * general.architecture is "t5" to cmd_t5_generate / cmd_t5_eval; `edgelm t5-bench` measures
 * encoder and decoder speed.
 *
 *   edgelm generate -m t5.gguf -p "translate English to German: ..." [-n N] [--beams K]
 *                   [--length-penalty A] [sampling options as for GPT: --temp, --top-k ...]
 *       Prints the decoded output (greedy by default; --beams K > 1 for beam search).
 *   edgelm eval -m t5.gguf (--ids 1,2,3 | -p TEXT) [--dec-ids 0,5,6] -o OUT.npy
 *               --what logits|enc|dec
 *       float32: logits [n_dec, n_vocab]; enc [n_enc_layers+1, n, d_model]; dec
 *       [n_dec_layers+1, n_dec, d_model] (Hugging Face hidden_states: [0] the embeddings, the
 *       last after the final norm). --dec-ids defaults to the decoder start token alone.
 *   edgelm t5-bench -m t5.gguf [-t 1,2] [--tokens N] [--steps N] [--reps R]
 *       encoder tokens/s (one input of N tokens) and decoder tokens/s (greedy steps with the
 *       KV cache, EOS ignored), best of R runs, per thread count.
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_perf.h"
#include "cli_stop.h"
#include "cli_table.h"
#include "gen_opts.h"
#include "cli_npy.h"
#include "out_guard.h"
#include "t5_cli.h"

/* The input ids: --ids, or -p tokenized with </s> appended (as T5Tokenizer does). */
static int32_t *t5_input(const elm_t5 *m, const gen_opts *g, int32_t *n, elm_error *err) {
    if (g->ids) {
        int32_t *ids = gen_parse_ids(g->ids, n);
        if (!ids) snprintf(err->msg, sizeof err->msg, "--ids: expected comma-separated token ids");
        return ids;
    }
    size_t len = strlen(g->prompt);
    int64_t cap = (int64_t)len + 8;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    int64_t k = ids ? elm_t5_tokenize(m, g->prompt, len, ids, cap, true, err) : -1;
    if (k > cap || k <= 0) {
        if (k == 0) snprintf(err->msg, sizeof err->msg, "the prompt gives no tokens");
        free(ids);
        return NULL;
    }
    *n = (int32_t)k;
    return ids;
}

/* ------------------------------------------------------------------------------------------
 * generate
 * ---------------------------------------------------------------------------------------- */

typedef struct t5_gen_state {
    const elm_t5 *m;
    int32_t *ids;
    int32_t n, cap;
    int32_t printed; /* bytes already written */
    bool special;
    cli_stop stop;
    cli_perf *perf;
} t5_gen_state;

/* Streams the text: re-detokenizes the whole output and prints what is new (the pieces of a
 * unigram model are whole characters, so the prefix never changes). */
static bool t5_gen_token(int32_t id, void *user) {
    t5_gen_state *st = user;
    cli_perf_token(st->perf);
    if (st->n == st->cap) {
        int32_t cap = st->cap ? 2 * st->cap : 64;
        int32_t *p = realloc(st->ids, (size_t)cap * sizeof *p);
        if (!p) return false;
        st->ids = p, st->cap = cap;
    }
    st->ids[st->n++] = id;
    int32_t need = elm_t5_detokenize(st->m, st->ids, st->n, NULL, 0, st->special);
    char *buf = malloc((size_t)need + 1);
    if (!buf) return false;
    elm_t5_detokenize(st->m, st->ids, st->n, buf, need + 1, st->special);
    bool go = true;
    if (need > st->printed) {
        go = cli_stop_push(&st->stop, buf + st->printed, (size_t)(need - st->printed));
        st->printed = need;
    }
    free(buf);
    return go;
}

int cmd_t5_generate(gen_opts *o) {
    if (!o->prompt && !o->ids)
        return opts_fail("generate", "give -p TEXT, -f FILE or --ids 1,2,3", "a T5 model needs an input");
    gen_default_seed(o);
    int rc = 1;
    elm_error err = {0};
    cli_perf perf = {.t_start = cli_now()};
    elm_t5_params mp = elm_t5_default_params();
    mp.n_threads = o->n_threads;
    mp.n_beams = o->beams;
    mp.n_ctx = o->n_ctx;
    mp.no_repack = o->no_repack;
    elm_t5 *m = elm_t5_load(o->model, &mp, &err);
    int32_t *ids = NULL, n = 0;
    t5_gen_state st = {.m = m, .special = o->special, .perf = &perf};
    cli_stop_init(&st.stop, o->stop.v, o->stop.n, stdout);
    if (!m) goto done;
    ids = t5_input(m, o, &n, &err);
    if (!ids) goto done;
    elm_t5_gen_params gp = elm_t5_default_gen_params();
    gp.n_predict = o->n_predict < 0 ? 64 : o->n_predict;
    if (gp.n_predict >= elm_t5_n_ctx(m)) gp.n_predict = elm_t5_n_ctx(m) - 1;
    if (gp.n_predict < 1 && (o->n_predict < 0 || o->n_predict > 0)) {
        /* the start token takes one decoder position: -c 1 leaves none to generate with */
        snprintf(err.msg, sizeof err.msg, "-c %d leaves no decoder position to generate with (T5 needs at least 2)",
                 elm_t5_n_ctx(m));
        goto done;
    }
    gp.n_beams = o->beams;
    gp.length_penalty = o->length_penalty;
    gp.ignore_eos = o->ignore_eos;
    gp.sampling = o->sp;
    if (!o->temp_set) gp.sampling.temp = 0.0f; /* T5 is run greedily unless a temperature is asked for */
    if (o->echo && o->prompt) fprintf(stdout, "%s\n", o->prompt);
    perf.t_loaded = perf.t_run = cli_now();
    int64_t k = elm_t5_generate(m, ids, n, &gp, NULL, 0, t5_gen_token, &st, &err);
    perf.t_end = cli_now();
    if (k < 0) goto done;
    cli_stop_finish(&st.stop);
    fputc('\n', stdout);
    fflush(stdout);
    perf.n_prompt = n;
    perf.n_gen = k;
    if (!o->no_perf) cli_perf_print(&perf, stderr);
    rc = 0;
done:
    if (rc) opts_fail_err("generate", NULL, &err, "failed");
    cli_stop_finish(&st.stop);
    free(st.ids);
    free(ids);
    elm_t5_free(m);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * eval
 * ---------------------------------------------------------------------------------------- */

int cmd_t5_eval(gen_opts *g) {
    static const char *const whats[] = {"logits", "enc", "dec", NULL};
    const char *what = g->what ? g->what : "logits";
    if (opts_choice("eval", "--what (T5)", what, whats) < 0) return 2;
    if (!g->ids && !g->prompt) return opts_fail("eval", "give -p TEXT or --ids 1,2,3", "no input");
    int rc = 1;
    elm_error err = {0};
    elm_t5_params mp = elm_t5_default_params();
    mp.n_threads = g->n_threads;
    mp.no_vocab = g->prompt == NULL;
    mp.no_repack = g->no_repack;
    int32_t *ids = NULL, *dec = NULL, n = 0, nd = 0;
    float *buf = NULL;
    elm_t5 *m = NULL;
    if (g->dec_ids) {
        dec = gen_parse_ids(g->dec_ids, &nd);
        if (!dec) {
            snprintf(err.msg, sizeof err.msg, "--dec-ids: expected comma-separated token ids");
            goto done;
        }
        mp.n_ctx = nd;
    }
    m = elm_t5_load(g->model, &mp, &err);
    if (!m) goto done;
    if (!dec) {
        dec = malloc(sizeof *dec);
        dec[0] = elm_t5_decoder_start(m);
        nd = 1;
    }
    ids = t5_input(m, g, &n, &err);
    if (!ids) goto done;
    const int64_t E = elm_t5_n_embd(m), V = elm_t5_n_vocab(m);
    const int64_t Le = elm_t5_n_enc_layer(m) + 1, Ld = elm_t5_n_dec_layer(m) + 1;
    bool want_enc = !strcmp(what, "enc"), want_dec = !strcmp(what, "dec");
    size_t count = want_enc ? (size_t)(Le * n * E) : want_dec ? (size_t)(Ld * nd * E) : (size_t)(nd * V);
    buf = malloc(count * sizeof *buf);
    if (!buf) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        goto done;
    }
    if (elm_t5_encode(m, ids, n, want_enc ? buf : NULL, &err) != ELM_OK) goto done;
    if (!want_enc && elm_t5_decode(m, dec, nd, want_dec ? NULL : buf, want_dec ? buf : NULL, &err) != ELM_OK)
        goto done;
    gl_error gerr = {0};
    int64_t shape[3];
    int nd_out;
    if (want_enc) shape[0] = Le, shape[1] = n, shape[2] = E, nd_out = 3;
    else if (want_dec) shape[0] = Ld, shape[1] = nd, shape[2] = E, nd_out = 3;
    else shape[0] = nd, shape[1] = V, nd_out = 2;
    out_guard_add(g->out, false); /* its temporary file goes on SIGINT/SIGTERM */
    if (cli_npy_write_f32(g->out, buf, nd_out, shape, &gerr) != GL_OK) {
        snprintf(err.msg, sizeof err.msg, "%s", gerr.msg);
        goto done;
    }
    if (g->verbose) fprintf(stderr, "edgelm eval: wrote %s: T5 %s, %d encoder and %d decoder tokens\n", g->out, what, n, nd);
    rc = 0;
done:
    if (rc) opts_fail_err("eval", NULL, &err, "failed");
    free(buf);
    free(ids);
    free(dec);
    elm_t5_free(m);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * t5-bench
 * ---------------------------------------------------------------------------------------- */

int cmd_t5_bench(int argc, char **argv) {
    const char *model = NULL;
    int32_t tokens = 64, steps = 32, reps = 3;
    int fmt = CLI_FMT_MD;
    bool no_repack = false;
    opt_ints th = {{opts_default_threads()}, 1};
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &model, "FILE", "the T5 model"),
        OPT_FUNC("-t,--threads", &th, opt_parse_int_list, "LIST", "thread counts, e.g. 1,2 (default: " OPT_THREADS_DEFAULT ")"),
        OPT_INT("--tokens", &tokens, 1, 4096, "N", "encoder input length (default 64)"),
        OPT_INT("--steps", &steps, 1, 4096, "N", "decoder steps (default 32)"),
        OPT_INT("-r,--repetitions,--reps", &reps, 1, 1000, "R", "repetitions, the best is reported (default 3)"),
        OPT_ENUM("-o,--output", &fmt, cli_fmt_names, "result table format (default md)"),
        OPT_FLAG("--no-repack", &no_repack, "keep Q4_0/Q8_0 weights in the file's layout"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("t5-bench", "-m T5.gguf [options]",
                         "T5 encoder tokens/s (one input of --tokens tokens) and decoder tokens/s (greedy "
                         "steps through the KV cache, EOS ignored), best of -r runs, per thread count.",
                         defs);
    const int pr = opts_parse(&cmd, argc, argv);
    if (pr != OPTS_OK) return opts_exit(pr);
    const int32_t n_list = th.n, *tl = th.v;
    if (!cli_family_check("t5-bench", model, CLI_T5)) return 1;
    static const char *const cols[] = {"model", "type", "threads", "tokens", "steps", "encoder_tps", "decoder_tps"};
    static const bool numeric[] = {false, false, true, true, true, true, true};
    cli_table tab = {stdout, fmt, cols, numeric, 7, 0};
    cli_table_begin(&tab);

    int rc = 0;
    for (int32_t ti = 0; ti < n_list && rc == 0; ti++) {
        elm_error err = {0};
        elm_t5_params mp = elm_t5_default_params();
        mp.n_threads = tl[ti] > 0 ? tl[ti] : 1;
        mp.n_ctx = steps + 1;
        mp.no_vocab = true;
        mp.no_repack = no_repack;
        elm_t5 *m = elm_t5_load(model, &mp, &err);
        if (!m) {
            opts_fail_err("t5-bench", NULL, &err, NULL);
            rc = 1;
            break;
        }
        int32_t *ids = malloc((size_t)tokens * sizeof *ids);
        for (int32_t i = 0; i < tokens; i++) ids[i] = 3 + (int32_t)((i * 7919u) % (uint32_t)(elm_t5_n_vocab(m) - 3));
        double best_enc = 0, best_dec = 0;
        const int32_t V = elm_t5_n_vocab(m);
        float *logits = malloc((size_t)V * sizeof *logits);
        for (int32_t r = 0; r < reps && rc == 0 && logits; r++) {
            double t0 = cli_now();
            if (elm_t5_encode(m, ids, tokens, NULL, &err) != ELM_OK) rc = 1;
            double t1 = cli_now();
            /* greedy decoding, one token per step through the KV cache (EOS ignored) */
            int32_t tok = elm_t5_decoder_start(m);
            for (int32_t s = 0; s < steps && rc == 0; s++) {
                if (elm_t5_decode(m, &tok, 1, logits, NULL, &err) != ELM_OK) rc = 1;
                int32_t best = 0;
                for (int32_t i = 1; i < V; i++)
                    if (logits[i] > logits[best]) best = i;
                tok = best;
            }
            double t2 = cli_now();
            double enc = tokens / (t1 - t0), dec = steps / (t2 - t1);
            if (enc > best_enc) best_enc = enc;
            if (dec > best_dec) best_dec = dec;
        }
        free(logits);
        char type[32] = "?";
        elm_file *f = elm_file_open(model, NULL);
        int64_t ft;
        if (f && elm_file_get_int(f, "general.file_type", &ft))
            cli_file_type_name(ft, false, type, sizeof type);
        elm_file_close(f);
        if (rc) opts_fail_err("t5-bench", NULL, &err, NULL);
        else {
            char c_th[16], c_tok[16], c_st[16], c_enc[32], c_dec[32];
            snprintf(c_th, sizeof c_th, "%d", mp.n_threads);
            snprintf(c_tok, sizeof c_tok, "%d", tokens);
            snprintf(c_st, sizeof c_st, "%d", steps);
            snprintf(c_enc, sizeof c_enc, "%.1f", best_enc);
            snprintf(c_dec, sizeof c_dec, "%.1f", best_dec);
            const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
            const char *cells[] = {base, type, c_th, c_tok, c_st, c_enc, c_dec};
            cli_table_row(&tab, cells);
        }
        free(ids);
        elm_t5_free(m);
    }
    cli_table_end(&tab);
    return rc;
}
