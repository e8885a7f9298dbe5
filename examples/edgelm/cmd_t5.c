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
#include "gen_opts.h"
#include "npy.h"
#include "t5_cli.h"

bool t5_cli_is_t5(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            elm_file *f = elm_file_open(argv[i + 1], NULL);
            bool yes = f && !strcmp(elm_file_arch(f), "t5");
            elm_file_close(f);
            return yes;
        }
    return false;
}

static double t5_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Options of ours before the shared parser: --beams, --length-penalty, --dec-ids. */
typedef struct t5_opts {
    gen_opts g;
    int32_t beams;
    float length_penalty;
    const char *dec_ids;
    bool render_special;
} t5_opts;

static int t5_parse(t5_opts *o, int argc, char **argv, const char *cmd, void (*usage)(FILE *)) {
    gen_opts_init(&o->g);
    o->beams = 1;
    o->length_penalty = 1.0f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--special")) {
            o->render_special = true;
            continue;
        }
        if ((!strcmp(a, "--beams") || !strcmp(a, "--length-penalty") || !strcmp(a, "--dec-ids")) && i + 1 < argc) {
            const char *v = argv[++i];
            bool ok = true;
            if (!strcmp(a, "--beams")) ok = gen_parse_int(v, 1, 16, &o->beams);
            else if (!strcmp(a, "--length-penalty")) ok = gen_parse_float(v, &o->length_penalty);
            else o->dec_ids = v;
            if (!ok) {
                fprintf(stderr, "edgelm %s: bad value '%s' for %s\n", cmd, v, a);
                return -1;
            }
            continue;
        }
        int r = gen_parse_opt(&o->g, argc, argv, &i, cmd);
        if (r < 0) return -1;
        if (r == 0) {
            fprintf(stderr, "edgelm %s: unknown option '%s'\n", cmd, a);
            usage(stderr);
            return -1;
        }
    }
    return 1;
}

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

static void t5_generate_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm generate -m T5.gguf -p TEXT [options]   (T5 / flan-t5 models)\n"
            "  -p, --prompt TEXT       the input (e.g. \"translate English to German: ...\")\n"
            "  --ids 1,2,3             the input as token ids\n"
            "  -n, --n-predict N       most tokens to generate (default 64)\n"
            "  --beams K               beam search with K beams (default 1: greedy / sampling)\n"
            "  --length-penalty A      beam score = logp / length^A (default 1)\n"
            "  --temp T                sampling temperature (default 0 = greedy for T5);\n"
            "                          --top-k, --top-p, --min-p, --repeat-penalty, --seed as for GPT\n"
            "  --special               print control tokens (<extra_id_N>, </s>)\n"
            "  -t, --threads N         (default 1)\n"
            "  -c, --ctx-size N        decoder positions (default 512)\n"
            "  -v, --verbose           timings to stderr\n");
}

typedef struct t5_gen_state {
    const elm_t5 *m;
    int32_t *ids;
    int32_t n, cap;
    int32_t printed; /* bytes already written */
    bool special;
} t5_gen_state;

/* Streams the text: re-detokenizes the whole output and prints what is new (the pieces of a
 * unigram model are whole characters, so the prefix never changes). */
static bool t5_gen_token(int32_t id, void *user) {
    t5_gen_state *st = user;
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
    if (need > st->printed) {
        fwrite(buf + st->printed, 1, (size_t)(need - st->printed), stdout);
        fflush(stdout);
        st->printed = need;
    }
    free(buf);
    return true;
}

int cmd_t5_generate(int argc, char **argv) {
    t5_opts o;
    int r = t5_parse(&o, argc, argv, "generate", t5_generate_usage);
    if (r <= 0) return r == 0 ? 0 : 2;
    if (!o.g.model || (!o.g.prompt && !o.g.ids)) {
        t5_generate_usage(stderr);
        return 2;
    }
    gen_default_seed(&o.g);
    int rc = 1;
    elm_error err = {0};
    elm_t5_params mp = elm_t5_default_params();
    mp.n_threads = o.g.n_threads;
    mp.n_beams = o.beams;
    mp.n_ctx = o.g.n_ctx;
    mp.no_repack = o.g.no_repack;
    elm_t5 *m = elm_t5_load(o.g.model, &mp, &err);
    int32_t *ids = NULL, n = 0;
    t5_gen_state st = {.m = m, .special = o.render_special};
    if (!m) goto done;
    ids = t5_input(m, &o.g, &n, &err);
    if (!ids) goto done;
    elm_t5_gen_params gp = elm_t5_default_gen_params();
    gp.n_predict = o.g.n_predict < 0 ? 64 : o.g.n_predict;
    if (gp.n_predict >= elm_t5_n_ctx(m)) gp.n_predict = elm_t5_n_ctx(m) - 1;
    if (gp.n_predict < 1 && (o.g.n_predict < 0 || o.g.n_predict > 0)) {
        /* the start token takes one decoder position: -c 1 leaves none to generate with */
        snprintf(err.msg, sizeof err.msg, "-c %d leaves no decoder position to generate with (T5 needs at least 2)",
                 elm_t5_n_ctx(m));
        goto done;
    }
    gp.n_beams = o.beams;
    gp.length_penalty = o.length_penalty;
    gp.ignore_eos = o.g.ignore_eos;
    gp.sampling = o.g.sp;
    /* T5 is run greedily unless a temperature is asked for. */
    bool temp_given = false;
    for (int i = 1; i < argc; i++) temp_given = temp_given || !strcmp(argv[i], "--temp");
    if (!temp_given) gp.sampling.temp = 0.0f;
    double t0 = t5_now();
    int64_t k = elm_t5_generate(m, ids, n, &gp, NULL, 0, t5_gen_token, &st, &err);
    double t1 = t5_now();
    if (k < 0) goto done;
    fputc('\n', stdout);
    if (o.g.verbose)
        fprintf(stderr, "[edgelm: %d input tokens, %lld generated, %d beam(s), %.3f s]\n", n, (long long)k, o.beams,
                t1 - t0);
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm generate: %s\n", err.msg[0] ? err.msg : "failed");
    free(st.ids);
    free(ids);
    elm_t5_free(m);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * eval
 * ---------------------------------------------------------------------------------------- */

static void t5_eval_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm eval -m T5.gguf (--ids 1,2,3 | -p TEXT) -o OUT.npy [options]   (T5)\n"
            "  --dec-ids 0,5,6        decoder input ids (default: the decoder start token)\n"
            "  --what logits|enc|dec  logits [n_dec, n_vocab] (default), encoder hidden states\n"
            "                         [n_enc_layers+1, n, d_model] or decoder hidden states\n"
            "                         [n_dec_layers+1, n_dec, d_model]\n"
            "  -t, --threads N        (default 1)\n");
}

int cmd_t5_eval(int argc, char **argv) {
    t5_opts o;
    int r = t5_parse(&o, argc, argv, "eval", t5_eval_usage);
    if (r <= 0) return r == 0 ? 0 : 2;
    const char *what = o.g.what ? o.g.what : "logits";
    if (!o.g.model || !o.g.out || (!o.g.ids && !o.g.prompt) ||
        (strcmp(what, "logits") && strcmp(what, "enc") && strcmp(what, "dec"))) {
        t5_eval_usage(stderr);
        return 2;
    }
    int rc = 1;
    elm_error err = {0};
    elm_t5_params mp = elm_t5_default_params();
    mp.n_threads = o.g.n_threads;
    mp.no_vocab = o.g.prompt == NULL;
    mp.no_repack = o.g.no_repack;
    int32_t *ids = NULL, *dec = NULL, n = 0, nd = 0;
    float *buf = NULL;
    elm_t5 *m = NULL;
    if (o.dec_ids) {
        dec = gen_parse_ids(o.dec_ids, &nd);
        if (!dec) {
            snprintf(err.msg, sizeof err.msg, "--dec-ids: expected comma-separated token ids");
            goto done;
        }
        mp.n_ctx = nd;
    }
    m = elm_t5_load(o.g.model, &mp, &err);
    if (!m) goto done;
    if (!dec) {
        dec = malloc(sizeof *dec);
        dec[0] = elm_t5_decoder_start(m);
        nd = 1;
    }
    ids = t5_input(m, &o.g, &n, &err);
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
    if (elm_npy_write_f32(o.g.out, buf, nd_out, shape, &gerr) != GL_OK) {
        snprintf(err.msg, sizeof err.msg, "%s", gerr.msg);
        goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm eval: %s\n", err.msg[0] ? err.msg : "failed");
    free(buf);
    free(ids);
    free(dec);
    elm_t5_free(m);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * t5-bench
 * ---------------------------------------------------------------------------------------- */

static void t5_bench_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm t5-bench -m T5.gguf [options]\n"
            "  -t, --threads LIST     thread counts, e.g. 1,2 (default 1)\n"
            "  --tokens N             encoder input length (default 64)\n"
            "  --steps N              decoder steps (default 32)\n"
            "  --reps R               repetitions, the best is reported (default 3)\n"
            "  --no-repack            keep Q4_0/Q8_0 weights in the file's layout\n");
}

int cmd_t5_bench(int argc, char **argv) {
    const char *model = NULL, *threads = "1";
    int32_t tokens = 64, steps = 32, reps = 3;
    bool no_repack = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            t5_bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-repack")) {
            no_repack = true;
            continue;
        } else if (v && (!strcmp(a, "-m") || !strcmp(a, "--model"))) model = v;
        else if (v && (!strcmp(a, "-t") || !strcmp(a, "--threads"))) threads = v;
        else if (v && !strcmp(a, "--tokens")) ok = gen_parse_int(v, 1, 4096, &tokens);
        else if (v && !strcmp(a, "--steps")) ok = gen_parse_int(v, 1, 4096, &steps);
        else if (v && !strcmp(a, "--reps")) ok = gen_parse_int(v, 1, 1000, &reps);
        else {
            fprintf(stderr, "edgelm t5-bench: unknown or incomplete option '%s'\n", a);
            t5_bench_usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "edgelm t5-bench: bad value for %s\n", a);
            return 2;
        }
        i++;
    }
    int32_t n_list = 0;
    int32_t *tl = gen_parse_ids(threads, &n_list);
    if (!model || !tl) {
        free(tl);
        t5_bench_usage(stderr);
        return 2;
    }
    printf("%-8s %10s %14s %14s\n", "threads", "type", "encoder tok/s", "decoder tok/s");
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
            fprintf(stderr, "edgelm t5-bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        int32_t *ids = malloc((size_t)tokens * sizeof *ids);
        for (int32_t i = 0; i < tokens; i++) ids[i] = 3 + (int32_t)((i * 7919u) % (uint32_t)(elm_t5_n_vocab(m) - 3));
        double best_enc = 0, best_dec = 0;
        const int32_t V = elm_t5_n_vocab(m);
        float *logits = malloc((size_t)V * sizeof *logits);
        for (int32_t r = 0; r < reps && rc == 0 && logits; r++) {
            double t0 = t5_now();
            if (elm_t5_encode(m, ids, tokens, NULL, &err) != ELM_OK) rc = 1;
            double t1 = t5_now();
            /* greedy decoding, one token per step through the KV cache (EOS ignored) */
            int32_t tok = elm_t5_decoder_start(m);
            for (int32_t s = 0; s < steps && rc == 0; s++) {
                if (elm_t5_decode(m, &tok, 1, logits, NULL, &err) != ELM_OK) rc = 1;
                int32_t best = 0;
                for (int32_t i = 1; i < V; i++)
                    if (logits[i] > logits[best]) best = i;
                tok = best;
            }
            double t2 = t5_now();
            double enc = tokens / (t1 - t0), dec = steps / (t2 - t1);
            if (enc > best_enc) best_enc = enc;
            if (dec > best_dec) best_dec = dec;
        }
        free(logits);
        char type[32] = "?";
        elm_file *f = elm_file_open(model, NULL);
        int64_t ft;
        if (f && elm_file_get_int(f, "general.file_type", &ft))
            snprintf(type, sizeof type, "%s", ft == 0 ? "f32" : ft == 1 ? "f16" : ft == 7 ? "q8_0" : ft == 2 ? "q4_0" : "other");
        elm_file_close(f);
        if (rc) fprintf(stderr, "edgelm t5-bench: %s\n", err.msg);
        else printf("%-8d %10s %14.1f %14.1f\n", mp.n_threads, type, best_enc, best_dec);
        free(ids);
        elm_t5_free(m);
    }
    free(tl);
    return rc;
}
