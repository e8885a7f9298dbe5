/*
 * edgelm chat -m MODEL.gguf [-sys TEXT] [--chat-template NAME] [sampling options]
 *
 * An interactive conversation, streamed. The template comes from the GGUF's
 * tokenizer.chat_template (recognised by its markers) or --chat-template (chatml, llama2,
 * llama3, zephyr, phi3, gemma, mistral).
 *
 * The KV cache holds the conversation so far: each turn renders the whole conversation and
 * feeds only the text past what the cache already holds (the end of the last reply, the new
 * user turn and the assistant prefix). When the context is full, the oldest turns are dropped
 * (the system message stays) and the rest is processed again: a context shift by
 * re-evaluation. Ctrl-C stops the current reply; Ctrl-D (end of input) exits.
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_perf.h"
#include "cli_stop.h"
#include "gen_opts.h"

#include <signal.h>

static volatile sig_atomic_t chat_interrupted;

static void chat_on_sigint(int sig) {
    (void)sig;
    chat_interrupted = 1;
}

typedef struct chat_state {
    const elm_model *m;
    elm_ctx *ctx;
    elm_sampler *smp;
    elm_chat_template tmpl;
    elm_chat_msg *msgs;
    size_t n_msgs, cap_msgs;
    size_t kv_text;      /* bytes of the rendered conversation whose tokens are in the cache */
    int32_t pending;     /* last reply token, printed but not yet in the cache (-1: none) */
    bool add_bos;        /* the tokenizer puts BOS before a text (llama-style) */
    elm_detokenizer *detok;
    char *reply;
    size_t reply_len, reply_cap;
    bool verbose;
    cli_stop stop;        /* the current reply's stop strings */
    const char *const *stops;
    int n_stops;
    cli_perf perf;        /* the current turn */
} chat_state;

static bool chat_push_msg(chat_state *s, const char *role, const char *text, size_t len) {
    if (s->n_msgs == s->cap_msgs) {
        size_t cap = s->cap_msgs ? 2 * s->cap_msgs : 16;
        elm_chat_msg *b = realloc(s->msgs, cap * sizeof *b);
        if (!b) return false;
        s->msgs = b;
        s->cap_msgs = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    s->msgs[s->n_msgs++] = (elm_chat_msg){role, copy};
    return true;
}

static char *chat_render(const chat_state *s, size_t n_msgs, bool add_ass, size_t *len) {
    int64_t n = elm_chat_render(s->tmpl, s->msgs, n_msgs, add_ass, NULL, 0);
    if (n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (buf) elm_chat_render(s->tmpl, s->msgs, n_msgs, add_ass, buf, (size_t)n + 1);
    *len = (size_t)n;
    return buf;
}

static bool chat_on_token(int32_t id, void *user) {
    chat_state *s = user;
    cli_perf_token(&s->perf);
    char buf[256];
    int32_t n = elm_detokenizer_push(s->detok, id, buf, sizeof buf);
    if (n > 0) {
        if (!cli_stop_push(&s->stop, buf, (size_t)n)) return false;
        if (s->reply_len + (size_t)n + 1 > s->reply_cap) {
            size_t cap = 2 * (s->reply_len + (size_t)n + 1);
            char *b = realloc(s->reply, cap);
            if (!b) return false;
            s->reply = b;
            s->reply_cap = cap;
        }
        memcpy(s->reply + s->reply_len, buf, (size_t)n);
        s->reply_len += (size_t)n;
    }
    return !chat_interrupted;
}

/* Tokens of text[from..len), with the pending reply token first and BOS at the very start. */
static int32_t *chat_tokens(chat_state *s, const char *text, size_t from, size_t len,
                            int32_t *n, elm_error *err) {
    int32_t nt = 0;
    int32_t *t = gen_tokenize(s->m, text + from, len - from, false, &nt, err);
    if (!t) return NULL;
    const bool bos = from == 0 && s->add_bos && (nt == 0 || t[0] != elm_token_bos(s->m));
    const int32_t extra = (s->pending >= 0) + bos;
    if (extra) {
        int32_t *b = realloc(t, (size_t)(nt + extra) * sizeof *t);
        if (!b) {
            free(t);
            return NULL;
        }
        t = b;
        memmove(t + extra, t, (size_t)nt * sizeof *t);
        if (bos) t[0] = elm_token_bos(s->m);
        if (s->pending >= 0) t[extra - 1] = s->pending;
    }
    *n = nt + extra;
    return t;
}

/* Drops the oldest turns until the conversation uses at most half the context (the system
 * message stays), clears the cache and returns the tokens of the whole remaining conversation
 * (with the assistant prefix); NULL when even the newest turn does not fit. */
static int32_t *chat_shift(chat_state *s, int32_t *n_out, elm_error *err) {
    const int32_t n_ctx = elm_ctx_n_ctx(s->ctx);
    const size_t first = s->n_msgs > 0 && !strcmp(s->msgs[0].role, "system") ? 1 : 0;
    size_t dropped = 0;
    s->pending = -1; /* the whole text is tokenized again */
    for (;;) {
        size_t len;
        char *text = chat_render(s, s->n_msgs, true, &len);
        int32_t n = 0;
        int32_t *ids = text ? chat_tokens(s, text, 0, len, &n, err) : NULL;
        free(text);
        if (!ids) return NULL;
        if (n <= n_ctx / 2 || s->n_msgs - first <= 1) {
            if (n + 8 > n_ctx) {
                snprintf(err->msg, sizeof err->msg, "the message needs %d tokens; the context "
                         "holds %d", n, n_ctx);
                free(ids);
                return NULL;
            }
            if (dropped)
                fprintf(stderr, "[context full: dropped the %zu oldest messages]\n", dropped);
            elm_ctx_rewind(s->ctx, 0);
            s->kv_text = len;
            *n_out = n;
            return ids;
        }
        free(ids);
        free((char *)s->msgs[first].content);
        memmove(s->msgs + first, s->msgs + first + 1, (s->n_msgs - first - 1) * sizeof *s->msgs);
        s->n_msgs--;
        dropped++;
    }
}

/* One turn: the user's text in, the reply streamed out. */
static bool chat_turn(chat_state *s, const char *line, size_t len, int32_t n_predict,
                      elm_error *err) {
    if (!chat_push_msg(s, "user", line, len)) return false;
    size_t full_len;
    char *full = chat_render(s, s->n_msgs, true, &full_len);
    if (!full) return false;
    int32_t n = 0;
    const size_t from = s->kv_text <= full_len ? s->kv_text : full_len;
    int32_t *ids = chat_tokens(s, full, from, full_len, &n, err);
    free(full);
    const int32_t n_ctx = elm_ctx_n_ctx(s->ctx);
    /* Keep room for a reply too: n_predict tokens, or a quarter of the context. */
    const int32_t reserve = n_predict > 0 ? (n_predict < n_ctx / 2 ? n_predict : n_ctx / 2)
                                          : n_ctx / 4;
    if (ids && elm_ctx_n_past(s->ctx) + n + reserve > n_ctx) {
        free(ids);
        ids = chat_shift(s, &n, err);
    } else {
        s->kv_text = full_len;
    }
    if (!ids || n == 0) {
        /* The turn is forgotten; the conversation stays as it was. */
        free((char *)s->msgs[--s->n_msgs].content);
        free(ids);
        return false;
    }
    s->reply_len = 0;
    const int32_t room = n_ctx - elm_ctx_n_past(s->ctx) - n + 1;
    const int32_t limit = n_predict < 0 || n_predict > room ? room : n_predict;
    int32_t pending = -1;
    chat_interrupted = 0;
    cli_stop_init(&s->stop, s->stops, s->n_stops, stdout);
    s->perf.t_start = s->perf.t_loaded = s->perf.t_run = cli_now();
    s->perf.t_first = 0;
    s->perf.n_prompt = n;
    int64_t got = elm_generate(s->ctx, s->smp, ids, n, limit, false, chat_on_token, s, &pending,
                               err);
    s->perf.t_end = cli_now();
    s->perf.n_gen = got > 0 ? got : 0;
    free(ids);
    char tail[64];
    int32_t t = elm_detokenizer_flush(s->detok, tail, sizeof tail);
    if (t > 0) cli_stop_push(&s->stop, tail, (size_t)t);
    cli_stop_finish(&s->stop);
    fputc('\n', stdout);
    fflush(stdout);
    if (got < 0) {
        free((char *)s->msgs[--s->n_msgs].content);
        elm_ctx_rewind(s->ctx, 0); /* resync on the next turn: feed everything again */
        s->kv_text = 0;
        return false;
    }
    if (s->verbose)
        fprintf(stderr, "[%d prompt tokens, %lld generated, %d of %d positions in use]\n", n,
                (long long)got, elm_ctx_n_past(s->ctx), n_ctx);
    if (chat_interrupted) fprintf(stderr, "[stopped]\n");
    else if (elm_ctx_n_past(s->ctx) >= n_ctx) fprintf(stderr, "[context full: reply cut]\n");
    chat_interrupted = 0;
    s->pending = pending;
    if (!chat_push_msg(s, "assistant", s->reply ? s->reply : "", s->reply_len)) return false;
    /* The cache holds the prompt and the reply (the pending token aside). */
    s->kv_text += s->reply_len;
    return true;
}

int cmd_chat(int argc, char **argv) {
    gen_opts o;
    gen_opts_init(&o);
    const opt_def defs[] = {
        OPT_SECTION("Conversation"),
        GEN_DEFS_MODEL(&o),
        OPT_STR("-p,--prompt", &o.prompt, "TEXT", "the first user message (then the chat goes on from stdin)"),
        OPT_STR("-f,--file", &o.file, "FILE", "the first user message from FILE ('-' = stdin)"),
        OPT_STR("-sys,--system-prompt,--system", &o.system, "TEXT", "system message"),
        OPT_ENUM("--chat-template", &o.chat_template, o.template_names,
                 "the prompt format (default: recognised from the model file)"),
        OPT_INT("-n,--predict,--n-predict", &o.n_predict, -1, 1 << 24, "N", "longest reply in tokens (default: the context's room)"),
        OPT_STRS("--stop", &o.stop, "TEXT", "end a reply before TEXT (repeatable)"),
        OPT_SECTION("Sampling"),
        GEN_DEFS_SAMPLING(&o),
        OPT_SECTION("Runtime"),
        GEN_DEFS_RUNTIME(&o),
        OPT_SECTION("Output"),
        OPT_FLAG("--no-perf", &o.no_perf, "no timing summary on stderr after each reply"),
        OPT_FLAG("-v,--verbose", &o.verbose, "more messages on stderr"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("chat", "-m MODEL.gguf [-sys TEXT] [-p FIRST_MESSAGE] [options]",
                         "An interactive conversation, streamed: type a message and Enter; Ctrl-C stops a reply, "
                         "Ctrl-D (end of input) exits. Templates: the model's (recognised by its markers) or "
                         "--chat-template.",
                         defs);
    const int r = gen_parse(&cmd, &o, argc, argv);
    if (r != OPTS_OK) {
        gen_opts_free(&o);
        return opts_exit(r);
    }
    gen_default_seed(&o);
    int rc = 1;
    elm_error err = {0};
    chat_state s = {.pending = -1, .verbose = o.verbose, .stops = o.stop.v, .n_stops = o.stop.n};
    char *line = NULL;
    size_t line_cap = 0;
    const elm_model_params mp = gen_model_params(&o, false);
    if (!cli_family_check("chat", o.model, CLI_DECODER)) {
        gen_opts_free(&o);
        return 1;
    }
    elm_model *m = elm_model_load(o.model, &mp, &err);
    s.m = m;
    if (!m) goto done;
    gen_warn_ctx(&o, "chat", elm_model_n_ctx_train(m));
    if (o.chat_template >= 0) {
        s.tmpl = elm_chat_template_from_name(o.template_names[o.chat_template]);
    } else {
        char *jinja = malloc(1 << 16);
        if (jinja && elm_model_chat_template(m, jinja, 1 << 16))
            s.tmpl = elm_chat_template_detect(jinja);
        free(jinja);
        if (s.tmpl == ELM_CHAT_UNKNOWN) {
            char names[128] = "";
            for (int k = 0; o.template_names[k]; k++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", o.template_names[k]);
            snprintf(err.msg, sizeof err.msg, "the model's chat template is missing or not "
                     "recognised: name one with --chat-template (%.120s)", names);
            goto done;
        }
    }
    {
        int32_t probe[4];
        int64_t np = elm_tokenize_text(m, "", 0, probe, 4, true, false, &err);
        s.add_bos = np > 0 && probe[0] == elm_token_bos(m);
    }
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.n_threads;
    cp.kv_f16 = o.kv_f16;
    cp.type_k = o.type_k;
    cp.type_v = o.type_v;
    s.ctx = elm_ctx_new_ext(m, &cp, &err);
    if (!s.ctx) goto done;
    s.smp = elm_sampler_new(&o.sp, elm_model_n_vocab(m), &err);
    s.detok = elm_detokenizer_new(m, false, &err);
    if (!s.smp || !s.detok) goto done;
    if (o.system && !chat_push_msg(&s, "system", o.system, strlen(o.system))) goto done;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = chat_on_sigint; /* no SA_RESTART: Ctrl-C at the prompt ends the chat */
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "[edgelm chat: %s template, %d positions; Ctrl-C stops a reply, Ctrl-D "
            "exits]\n", elm_chat_template_name(s.tmpl), elm_ctx_n_ctx(s.ctx));
    for (bool first = true;; first = false) {
        fputs("> ", stdout);
        fflush(stdout);
        chat_interrupted = 0;
        ssize_t n;
        if (first && o.prompt) { /* -p / -f: the first message, shown as if typed */
            n = (ssize_t)strlen(o.prompt);
            free(line);
            line = strdup(o.prompt);
            line_cap = line ? (size_t)n + 1 : 0;
            if (!line) break;
            printf("%s\n", line);
        } else {
            n = getline(&line, &line_cap, stdin);
        }
        if (n < 0) {
            fputc('\n', stdout);
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (!chat_turn(&s, line, (size_t)n, o.n_predict, &err))
            fprintf(stderr, "edgelm chat: %s\n", err.msg[0] ? err.msg : "failed");
        else if (!o.no_perf)
            cli_perf_print(&s.perf, stderr);
        err.msg[0] = '\0';
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm chat: %s\n", err.msg[0] ? err.msg : "failed");
    for (size_t i = 0; i < s.n_msgs; i++) free((char *)s.msgs[i].content);
    free(s.msgs);
    free(s.reply);
    free(line);
    elm_detokenizer_free(s.detok);
    elm_sampler_free(s.smp);
    elm_ctx_free(s.ctx);
    elm_model_free(m);
    gen_opts_free(&o);
    return rc;
}
