/*
 * edgelm chat -m MODEL.gguf [-sys TEXT] [--chat-template NAME | --chat-template-file FILE]
 *             [--reasoning off | --reasoning-budget 0 | --no-think] [sampling options]
 *
 * An interactive conversation, streamed. The prompt is the model's own Jinja chat template
 * (tokenizer.chat_template) rendered by edgelm's Jinja interpreter, or a Jinja file the user
 * gives (--chat-template-file), or a built-in layout (--chat-template NAME; also the stand-in
 * when the interpreter refuses the model's template, recognised by its family's markers).
 * Thinking models (Qwen3, SmolLM3) get enable_thinking = false with --reasoning off.
 *
 * Each turn renders the whole conversation, tokenizes it and feeds only the tokens past the
 * longest prefix the KV cache already holds: templates may rewrite earlier turns (Qwen3 drops
 * past reasoning), and then the cache is rewound to where the token sequences part. When the
 * context is full, the oldest turns are dropped (the system message stays) and the rest is
 * processed again. Generation stops on every end-of-generation token of the vocabulary (see
 * elm_token_is_eog). Ctrl-C stops the current reply; Ctrl-D (end of input) exits.
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
    elm_chat_template tmpl;     /* the built-in layout, used when jinja is NULL */
    char *jinja;                /* the Jinja template, or NULL */
    size_t jinja_len;
    elm_chat_jinja_opts jopts;
    char bos_text[128], eos_text[128];
    elm_chat_msg *msgs;
    size_t n_msgs, cap_msgs;
    int32_t *cached;            /* the tokens in the KV cache, in order */
    int32_t n_cached, cap_cached;
    bool add_bos;               /* the tokenizer puts BOS before a text (llama-style) */
    elm_detokenizer *detok;
    char *reply;
    size_t reply_len, reply_cap;
    bool verbose, verbose_prompt;
    cli_stop stop;        /* the current reply's stop strings */
    const char *const *stops;
    int n_stops;
    cli_perf perf;        /* the current turn */
} chat_state;

/* Options of this command beyond gen_opts. */
enum { CHAT_REASONING_ON, CHAT_REASONING_OFF, CHAT_REASONING_AUTO };
static const char *const chat_reasoning_names[] = {"on", "off", "auto", NULL};

typedef struct chat_opts {
    const char *template_file;
    int reasoning;  /* CHAT_REASONING_* (-rea) */
    int32_t budget; /* --reasoning-budget: -1 or 0 */
    bool no_think;
    bool verbose_prompt;
    int thinking;   /* from the three above: -1: the template's default, 0: off, 1: on */
} chat_opts;

/* --reasoning-budget N: -1 (unrestricted) or 0 (thinking off); a token budget is refused. */
static bool chat_parse_budget(const char *value, void *dst, char *why, size_t why_size) {
    if (!strcmp(value, "-1") || !strcmp(value, "0")) {
        *(int32_t *)dst = value[0] == '-' ? -1 : 0;
        return true;
    }
    snprintf(why, why_size, "give -1 (unrestricted) or 0 (thinking off); a token budget is not supported");
    return false;
}

/* The options that go together only in some ways; sets c->thinking. OPTS_OK or OPTS_ERROR. */
static int chat_check_opts(const gen_opts *o, chat_opts *c) {
    if (o->chat_template >= 0 && c->template_file)
        return opts_fail("chat", "give only one of them",
                         "--chat-template and --chat-template-file exclude each other");
    const bool off = c->no_think || c->budget == 0;
    if (off && c->reasoning == CHAT_REASONING_ON)
        return opts_fail("chat", "give only one of them",
                         "--reasoning on contradicts --no-think / --reasoning-budget 0");
    c->thinking = off || c->reasoning == CHAT_REASONING_OFF ? 0 : c->reasoning == CHAT_REASONING_ON ? 1 : -1;
    return OPTS_OK;
}

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

static void chat_drop_msg(chat_state *s, size_t at) {
    free((char *)s->msgs[at].content);
    memmove(s->msgs + at, s->msgs + at + 1, (s->n_msgs - at - 1) * sizeof *s->msgs);
    s->n_msgs--;
}

/* The conversation's first n_msgs messages as text (malloc'ed), with the assistant's prefix. */
static char *chat_render(chat_state *s, size_t n_msgs, size_t *len, elm_error *err) {
    int64_t n;
    if (s->jinja) {
        s->jopts.add_assistant = true;
        n = elm_chat_render_jinja(s->jinja, s->jinja_len, s->msgs, n_msgs, &s->jopts, NULL, 0, err);
    } else {
        n = elm_chat_render(s->tmpl, s->msgs, n_msgs, true, NULL, 0);
        if (n < 0) snprintf(err->msg, sizeof err->msg, "the %s layout cannot render this conversation",
                            elm_chat_template_name(s->tmpl));
    }
    if (n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return NULL;
    if (s->jinja) elm_chat_render_jinja(s->jinja, s->jinja_len, s->msgs, n_msgs, &s->jopts, buf, (size_t)n + 1, err);
    else elm_chat_render(s->tmpl, s->msgs, n_msgs, true, buf, (size_t)n + 1);
    *len = (size_t)n;
    return buf;
}

/* Tokens of a rendered conversation, with BOS first when the tokenizer wants one. */
static int32_t *chat_tokens(chat_state *s, const char *text, size_t len, int32_t *n, elm_error *err) {
    int32_t nt = 0;
    int32_t *t = gen_tokenize(s->m, text, len, false, &nt, err);
    if (!t) return NULL;
    if (s->add_bos && (nt == 0 || t[0] != elm_token_bos(s->m))) {
        int32_t *b = realloc(t, (size_t)(nt + 1) * sizeof *t);
        if (!b) {
            free(t);
            return NULL;
        }
        t = b;
        memmove(t + 1, t, (size_t)nt * sizeof *t);
        t[0] = elm_token_bos(s->m);
        nt++;
    }
    *n = nt;
    return t;
}

/* The tokens of the whole conversation and the assistant's prefix. When they and a reply of
 * `reserve` tokens do not fit the context, the oldest turns are dropped (the system message
 * stays; a reply goes with its question) until they use at most half of it. */
static int32_t *chat_prompt(chat_state *s, int32_t reserve, int32_t *n_out, elm_error *err) {
    const int32_t n_ctx = elm_ctx_n_ctx(s->ctx);
    const size_t first = s->n_msgs > 0 && !strcmp(s->msgs[0].role, "system") ? 1 : 0;
    size_t dropped = 0;
    for (;;) {
        size_t len = 0;
        char *text = chat_render(s, s->n_msgs, &len, err);
        int32_t n = 0;
        int32_t *ids = text ? chat_tokens(s, text, len, &n, err) : NULL;
        if (ids && s->verbose_prompt) fprintf(stderr, "[prompt: %d tokens]\n%s\n[end of prompt]\n", n, text);
        free(text);
        if (!ids) return NULL;
        const bool fits = n + reserve <= n_ctx && (dropped > 0 ? n <= n_ctx / 2 : true);
        if (fits || s->n_msgs - first <= 1) {
            if (n + 8 > n_ctx) {
                snprintf(err->msg, sizeof err->msg, "the message needs %d tokens; the context "
                         "holds %d", n, n_ctx);
                free(ids);
                return NULL;
            }
            if (dropped) fprintf(stderr, "[context full: dropped the %zu oldest messages]\n", dropped);
            *n_out = n;
            return ids;
        }
        free(ids);
        chat_drop_msg(s, first);
        dropped++;
        if (s->n_msgs - first > 1 && !strcmp(s->msgs[first].role, "assistant")) {
            chat_drop_msg(s, first);
            dropped++;
        }
    }
}

static bool chat_cache_push(chat_state *s, int32_t id) {
    if (s->n_cached == s->cap_cached) {
        int32_t cap = s->cap_cached ? 2 * s->cap_cached : 1024;
        int32_t *b = realloc(s->cached, (size_t)cap * sizeof *b);
        if (!b) return false;
        s->cached = b;
        s->cap_cached = cap;
    }
    s->cached[s->n_cached++] = id;
    return true;
}

static bool chat_on_token(int32_t id, void *user) {
    chat_state *s = user;
    cli_perf_token(&s->perf);
    char buf[256];
    int32_t n = elm_detokenizer_push(s->detok, id, buf, sizeof buf);
    if (!chat_cache_push(s, id)) return false;
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

/* One turn: the user's text in, the reply streamed out. */
static bool chat_turn(chat_state *s, const char *line, size_t len, int32_t n_predict,
                      elm_error *err) {
    if (!chat_push_msg(s, "user", line, len)) return false;
    const int32_t n_ctx = elm_ctx_n_ctx(s->ctx);
    /* Keep room for a reply too: n_predict tokens, or a quarter of the context. */
    const int32_t reserve = n_predict > 0 ? (n_predict < n_ctx / 2 ? n_predict : n_ctx / 2) : n_ctx / 4;
    int32_t n = 0;
    int32_t *ids = chat_prompt(s, reserve, &n, err);
    if (!ids || n == 0) {
        /* The turn is forgotten; the conversation stays as it was. */
        chat_drop_msg(s, s->n_msgs - 1);
        free(ids);
        return false;
    }
    /* Reuse the cache up to where it and the new tokens part; feed at least one token. */
    int32_t keep = 0;
    while (keep < n && keep < s->n_cached && ids[keep] == s->cached[keep]) keep++;
    if (keep == n) keep--;
    if (keep < s->n_cached) {
        elm_ctx_rewind(s->ctx, keep);
        s->n_cached = keep;
    }
    bool ok = true;
    for (int32_t i = keep; i < n && ok; i++) ok = chat_cache_push(s, ids[i]);
    s->reply_len = 0;
    const int32_t room = n_ctx - keep - (n - keep) + 1;
    const int32_t limit = n_predict < 0 || n_predict > room ? room : n_predict;
    int32_t pending = -1;
    chat_interrupted = 0;
    cli_stop_init(&s->stop, s->stops, s->n_stops, stdout);
    s->perf.t_start = s->perf.t_loaded = s->perf.t_run = cli_now();
    s->perf.t_first = 0;
    s->perf.n_prompt = n - keep;
    int64_t got = ok ? elm_generate(s->ctx, s->smp, ids + keep, n - keep, limit, false, chat_on_token,
                                    s, &pending, err)
                     : ELM_ERR_NOMEM;
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
        chat_drop_msg(s, s->n_msgs - 1);
        elm_ctx_rewind(s->ctx, 0); /* resync on the next turn: feed everything again */
        s->n_cached = 0;
        return false;
    }
    /* The cache holds the prompt and the reply but the last sampled token (pending). */
    s->n_cached = elm_ctx_n_past(s->ctx);
    if (s->verbose)
        fprintf(stderr, "[%d prompt tokens (%d reused), %lld generated, %d of %d positions in use]\n",
                n, keep, (long long)got, elm_ctx_n_past(s->ctx), n_ctx);
    if (chat_interrupted) fprintf(stderr, "[stopped]\n");
    else if (elm_ctx_n_past(s->ctx) >= n_ctx) fprintf(stderr, "[context full: reply cut]\n");
    chat_interrupted = 0;
    return chat_push_msg(s, "assistant", s->reply ? s->reply : "", s->reply_len);
}

/* The text of a special token (BOS / EOS) as templates spell it. */
static const char *chat_token_text(const elm_model *m, int32_t id, char *buf, size_t size) {
    if (id < 0) return NULL;
    int32_t n = elm_token_piece(m, id, buf, (int32_t)size - 1, true);
    if (n < 0 || (size_t)n >= size) return NULL;
    buf[n] = '\0';
    return buf;
}

/* A probe conversation (the system message and one user turn) through the Jinja template. */
static bool chat_probe(chat_state *s, elm_error *err) {
    elm_chat_msg probe[2] = {{"system", s->n_msgs ? s->msgs[0].content : ""}, {"user", "Hello"}};
    const size_t skip = s->n_msgs ? 0 : 1;
    s->jopts.add_assistant = true;
    return elm_chat_render_jinja(s->jinja, s->jinja_len, probe + skip, 2 - skip, &s->jopts, NULL, 0, err) >= 0;
}

#define CHAT_MAX_TEMPLATE (1 << 20)

static char *chat_read_file(const char *path, size_t *len, elm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "cannot open %.200s", path);
        return NULL;
    }
    char *buf = malloc(CHAT_MAX_TEMPLATE + 1);
    size_t n = buf ? fread(buf, 1, CHAT_MAX_TEMPLATE + 1, f) : 0;
    fclose(f);
    if (!buf || n > CHAT_MAX_TEMPLATE) {
        snprintf(err->msg, sizeof err->msg, "%.200s is larger than %d bytes", path, CHAT_MAX_TEMPLATE);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Chooses the template: a named layout, the user's Jinja file, or the model's own template
 * (the interpreter's rendering, else the built-in layout of its family). */
static bool chat_pick_template(chat_state *s, const gen_opts *o, const chat_opts *c, elm_error *err) {
    if (o->chat_template >= 0) { /* checked by the option parser */
        s->tmpl = elm_chat_template_from_name(o->template_names[o->chat_template]);
        return s->tmpl != ELM_CHAT_UNKNOWN;
    }
    char names[160] = "";
    for (int k = 0; o->template_names[k]; k++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", o->template_names[k]);
    if (c->template_file) {
        s->jinja = chat_read_file(c->template_file, &s->jinja_len, err);
        return s->jinja && chat_probe(s, err);
    }
    s->jinja = malloc(CHAT_MAX_TEMPLATE + 2);
    if (!s->jinja) return false;
    if (!elm_model_chat_template(s->m, s->jinja, CHAT_MAX_TEMPLATE + 2) || !s->jinja[0]) {
        snprintf(err->msg, sizeof err->msg, "the model has no chat template: name one with "
                 "--chat-template (%s) or --chat-template-file", names);
        return false;
    }
    s->jinja_len = strlen(s->jinja);
    if (s->jinja_len <= CHAT_MAX_TEMPLATE && chat_probe(s, err)) return true;
    if (s->jinja_len > CHAT_MAX_TEMPLATE)
        snprintf(err->msg, sizeof err->msg, "chat template: longer than %d bytes", CHAT_MAX_TEMPLATE);
    s->tmpl = elm_chat_template_detect(s->jinja);
    const char *family = elm_chat_template_family(s->jinja);
    free(s->jinja);
    s->jinja = NULL;
    if (s->tmpl == ELM_CHAT_UNKNOWN) {
        char why[120];
        snprintf(why, sizeof why, "%.119s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%s; its family is not recognised either: name a "
                 "layout with --chat-template", why);
        return false;
    }
    fprintf(stderr, "[%s; using the built-in %s layout for this %s template]\n", err->msg,
            elm_chat_template_name(s->tmpl), family ? family : "model's");
    err->msg[0] = '\0';
    return true;
}

int cmd_chat(int argc, char **argv) {
    gen_opts o;
    gen_opts_init(&o);
    chat_opts c = {.reasoning = CHAT_REASONING_AUTO, .budget = -1};
    const opt_def defs[] = {
        OPT_SECTION("Conversation"),
        GEN_DEFS_MODEL(&o),
        OPT_STR("-p,--prompt", &o.prompt, "TEXT", "the first user message (then the chat goes on from stdin)"),
        OPT_STR("-f,--file", &o.file, "FILE", "the first user message from FILE ('-' = stdin)"),
        OPT_STR("-sys,--system-prompt,--system", &o.system, "TEXT", "system message"),
        OPT_ENUM("--chat-template", &o.chat_template, o.template_names,
                 "a built-in layout (default: the model's own Jinja template, rendered by edgelm's "
                 "interpreter; the built-in layout of its family when the interpreter refuses it)"),
        OPT_STR("--chat-template-file", &c.template_file, "FILE",
                "a Jinja chat template of your own (not with --chat-template)"),
        OPT_ENUM("-rea,--reasoning", &c.reasoning, chat_reasoning_names,
                 "thinking models: off passes enable_thinking=false to the template (default auto: "
                 "the template's default)"),
        OPT_FUNC("--reasoning-budget", &c.budget, chat_parse_budget, "N",
                 "-1: unrestricted (default), 0: thinking off (as --reasoning off); a token budget "
                 "is not supported"),
        OPT_FLAG("--no-think", &c.no_think, "the same as --reasoning off"),
        OPT_INT("-n,--predict,--n-predict", &o.n_predict, -1, 1 << 24, "N", "longest reply in tokens (default: the context's room)"),
        OPT_STRS("--stop", &o.stop, "TEXT", "end a reply before TEXT (repeatable)"),
        OPT_SECTION("Sampling"),
        GEN_DEFS_SAMPLING(&o),
        OPT_SECTION("Runtime"),
        GEN_DEFS_RUNTIME(&o),
        OPT_SECTION("Output"),
        OPT_FLAG("--no-perf", &o.no_perf, "no timing summary on stderr after each reply"),
        OPT_FLAG("--verbose-prompt", &c.verbose_prompt, "print each rendered prompt to stderr"),
        OPT_FLAG("-v,--verbose", &o.verbose, "more messages on stderr (with the end-of-generation tokens)"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("chat", "-m MODEL.gguf [-sys TEXT] [-p FIRST_MESSAGE] [options]",
                         "An interactive conversation, streamed: type a message and Enter; Ctrl-C stops a reply, "
                         "Ctrl-D (end of input) exits. The prompt is the model's Jinja chat template rendered by "
                         "edgelm's interpreter, --chat-template-file, or a built-in layout (--chat-template).",
                         defs);
    int r = gen_parse(&cmd, &o, argc, argv);
    if (r == OPTS_OK) r = chat_check_opts(&o, &c);
    if (r != OPTS_OK) {
        gen_opts_free(&o);
        return opts_exit(r);
    }
    gen_default_seed(&o);
    int rc = 1;
    elm_error err = {0};
    chat_state s = {.verbose = o.verbose, .verbose_prompt = c.verbose_prompt, .stops = o.stop.v,
                    .n_stops = o.stop.n};
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
    if (o.system && !chat_push_msg(&s, "system", o.system, strlen(o.system))) goto done;
    s.jopts = (elm_chat_jinja_opts){
        .bos_token = chat_token_text(m, elm_token_bos(m), s.bos_text, sizeof s.bos_text),
        .eos_token = chat_token_text(m, elm_token_eos(m), s.eos_text, sizeof s.eos_text),
        .enable_thinking = c.thinking,
        .now = (int64_t)time(NULL),
    };
    if (!chat_pick_template(&s, &o, &c, &err)) goto done;
    {
        int32_t probe[4];
        int64_t np = elm_tokenize_text(m, "", 0, probe, 4, true, false, &err);
        s.add_bos = np > 0 && probe[0] == elm_token_bos(m);
    }
    elm_ctx_params cp = gen_ctx_params(&o);
    s.ctx = elm_ctx_new_ext(m, &cp, &err);
    if (!s.ctx) goto done;
    s.smp = elm_sampler_new(&o.sp, elm_model_n_vocab(m), &err);
    s.detok = elm_detokenizer_new(m, false, &err);
    if (!s.smp || !s.detok) goto done;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = chat_on_sigint; /* no SA_RESTART: Ctrl-C at the prompt ends the chat */
    sigaction(SIGINT, &sa, NULL);
    {
        const char *family = s.jinja ? elm_chat_template_family(s.jinja) : NULL;
        fprintf(stderr, "[edgelm chat: %s%s%s template%s, %d positions; Ctrl-C stops a reply, "
                "Ctrl-D exits]\n", s.jinja ? "Jinja " : "", s.jinja ? (family ? family : "unrecognised") : elm_chat_template_name(s.tmpl),
                s.jinja ? (c.template_file ? " (your file)" : " (the model's)") : " (built-in)",
                c.thinking == 0 ? ", thinking off" : "", elm_ctx_n_ctx(s.ctx));
    }
    if (s.verbose) {
        int32_t eog[32];
        const int32_t n_eog = elm_token_eog_ids(m, eog, 32);
        fprintf(stderr, "[stops on:");
        for (int32_t i = 0; i < n_eog && i < 32; i++) {
            char t[64];
            const char *txt = chat_token_text(m, eog[i], t, sizeof t);
            fprintf(stderr, " %d %s", eog[i], txt ? txt : "?");
        }
        fprintf(stderr, "]\n");
    }
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
            opts_fail_err("chat", NULL, &err, "failed");
        else if (!o.no_perf)
            cli_perf_print(&s.perf, stderr);
        err.msg[0] = '\0';
    }
    rc = 0;
done:
    if (rc) opts_fail_err("chat", NULL, &err, "failed");
    for (size_t i = 0; i < s.n_msgs; i++) free((char *)s.msgs[i].content);
    free(s.msgs);
    free(s.reply);
    free(s.cached);
    free(s.jinja);
    free(line);
    elm_detokenizer_free(s.detok);
    elm_sampler_free(s.smp);
    elm_ctx_free(s.ctx);
    elm_model_free(m);
    gen_opts_free(&o);
    return rc;
}
