/* oai.c — see oai.h. */
#include "oai.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool oai_fail(char *msg, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return false;
}

elm_json_doc *oai_parse_body(const char *text, size_t len, char *msg, size_t msg_size) {
    gl_error ge = {0};
    elm_json_doc *doc = elm_json_parse(text, len, &ge);
    if (!doc) {
        oai_fail(msg, msg_size, "invalid JSON: %s", ge.msg);
        return NULL;
    }
    if (!elm_json_is(elm_json_root(doc), ELM_JSON_OBJECT)) {
        elm_json_free(doc);
        oai_fail(msg, msg_size, "the request body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* Optional number field within [lo, hi]; false with a message for a wrong type or range. */
static bool oai_opt_num(const elm_json *root, const char *key, double lo, double hi, float *out,
                        char *msg, size_t size) {
    const elm_json *v = elm_json_get(root, key);
    if (!v || elm_json_is(v, ELM_JSON_NULL)) return true;
    double d;
    if (!elm_json_num(v, &d)) return oai_fail(msg, size, "'%s' must be a number", key);
    if (!isfinite(d) || d < lo || d > hi)
        return oai_fail(msg, size, "'%s' must be between %g and %g", key, lo, hi);
    *out = (float)d;
    return true;
}

static bool oai_opt_int(const elm_json *root, const char *key, int64_t lo, int64_t hi,
                        int64_t *out, bool *set, char *msg, size_t size) {
    const elm_json *v = elm_json_get(root, key);
    if (!v || elm_json_is(v, ELM_JSON_NULL)) return true;
    int64_t i;
    if (!elm_json_int(v, &i)) return oai_fail(msg, size, "'%s' must be an integer", key);
    if (i < lo || i > hi)
        return oai_fail(msg, size, "'%s' must be between %lld and %lld", key, (long long)lo, (long long)hi);
    *out = i;
    if (set) *set = true;
    return true;
}

static bool oai_opt_bool(const elm_json *root, const char *key, bool *out, char *msg, size_t size) {
    const elm_json *v = elm_json_get(root, key);
    if (!v || elm_json_is(v, ELM_JSON_NULL)) return true;
    if (!elm_json_bool(v, out)) return oai_fail(msg, size, "'%s' must be true or false", key);
    return true;
}

static bool oai_add_stop(oai_gen *g, const elm_json *v, char *msg, size_t size) {
    if (!elm_json_is(v, ELM_JSON_STRING)) return oai_fail(msg, size, "'stop' must be a string or a list of strings");
    if (v->len == 0 || v->len > OAI_MAX_STOP_LEN)
        return oai_fail(msg, size, "each stop string must have 1 to %d bytes", OAI_MAX_STOP_LEN);
    if (g->n_stop >= OAI_MAX_STOP) return oai_fail(msg, size, "at most %d stop strings", OAI_MAX_STOP);
    g->stop[g->n_stop] = v->s;
    g->stop_len[g->n_stop++] = v->len;
    return true;
}

static bool oai_parse_stop(const elm_json *root, oai_gen *g, char *msg, size_t size) {
    const elm_json *v = elm_json_get(root, "stop");
    if (!v || elm_json_is(v, ELM_JSON_NULL)) return true;
    if (elm_json_is(v, ELM_JSON_STRING)) return oai_add_stop(g, v, msg, size);
    if (!elm_json_is(v, ELM_JSON_ARRAY)) return oai_fail(msg, size, "'stop' must be a string or a list of strings");
    for (size_t i = 0; i < elm_json_count(v); i++)
        if (!oai_add_stop(g, elm_json_at(v, i), msg, size)) return false;
    return true;
}

/* logprobs: chat has "logprobs": bool + "top_logprobs": int; completions "logprobs": int. */
static bool oai_parse_logprobs(const elm_json *root, bool chat, oai_gen *g, char *msg, size_t size) {
    int64_t k = -1;
    if (chat) {
        bool on = false, set = false;
        if (!oai_opt_bool(root, "logprobs", &on, msg, size)) return false;
        if (!oai_opt_int(root, "top_logprobs", 0, OAI_MAX_LOGPROBS, &k, &set, msg, size)) return false;
        if (set && !on) return oai_fail(msg, size, "'top_logprobs' needs 'logprobs': true");
        g->logprobs = on ? (int32_t)(set ? k : 0) : -1;
        return true;
    }
    if (!oai_opt_int(root, "logprobs", 0, OAI_MAX_LOGPROBS, &k, NULL, msg, size)) return false;
    g->logprobs = (int32_t)k;
    return true;
}

bool oai_parse_gen(const elm_json *root, bool chat, oai_gen *g, char *msg, size_t size) {
    memset(g, 0, sizeof *g);
    g->sp = elm_sampler_default_params();
    g->sp.temp = 1.0f;   /* OpenAI's defaults: temperature 1, top_p 1, no top-k / min-p */
    g->sp.top_k = 0;
    g->sp.top_p = 1.0f;
    g->sp.min_p = 0.0f;
    g->max_tokens = -1;
    g->logprobs = -1;
    const elm_json *model = elm_json_get(root, "model");
    if (model && !elm_json_is(model, ELM_JSON_STRING) && !elm_json_is(model, ELM_JSON_NULL))
        return oai_fail(msg, size, "'model' must be a string");
    int64_t n = 1, mt = -1, seed = 0, top_k = 0, last_n = g->sp.repeat_last_n;
    bool seed_set = false;
    if (!oai_opt_int(root, "n", 1, 1, &n, NULL, msg, size)) return false;
    if (!oai_opt_int(root, "max_tokens", 0, INT32_MAX, &mt, NULL, msg, size)) return false;
    if (chat && !oai_opt_int(root, "max_completion_tokens", 0, INT32_MAX, &mt, NULL, msg, size)) return false;
    if (!oai_opt_int(root, "n_predict", -1, INT32_MAX, &mt, NULL, msg, size)) return false;
    if (!oai_opt_int(root, "seed", INT64_MIN, INT64_MAX, &seed, &seed_set, msg, size)) return false;
    if (!oai_opt_int(root, "top_k", 0, 1 << 20, &top_k, NULL, msg, size)) return false;
    if (!oai_opt_int(root, "repeat_last_n", 0, 1 << 20, &last_n, NULL, msg, size)) return false;
    if (!oai_opt_num(root, "temperature", 0, 100, &g->sp.temp, msg, size)) return false;
    if (!oai_opt_num(root, "top_p", 0, 1, &g->sp.top_p, msg, size)) return false;
    if (!oai_opt_num(root, "min_p", 0, 1, &g->sp.min_p, msg, size)) return false;
    if (!oai_opt_num(root, "repeat_penalty", 0.01, 100, &g->sp.repeat_penalty, msg, size)) return false;
    float fp = 0, pp = 0;
    if (!oai_opt_num(root, "frequency_penalty", -2, 2, &fp, msg, size)) return false;
    if (!oai_opt_num(root, "presence_penalty", -2, 2, &pp, msg, size)) return false;
    if (fp != 0 || pp != 0)
        return oai_fail(msg, size, "frequency_penalty and presence_penalty are not supported "
                        "(use repeat_penalty)");
    if (!oai_opt_bool(root, "stream", &g->stream, msg, size)) return false;
    if (!oai_opt_bool(root, "ignore_eos", &g->ignore_eos, msg, size)) return false;
    const elm_json *so = elm_json_get(root, "stream_options");
    if (so && !elm_json_is(so, ELM_JSON_NULL)) {
        if (!elm_json_is(so, ELM_JSON_OBJECT)) return oai_fail(msg, size, "'stream_options' must be an object");
        if (!oai_opt_bool(so, "include_usage", &g->include_usage, msg, size)) return false;
    }
    if (!oai_parse_stop(root, g, msg, size)) return false;
    if (!oai_parse_logprobs(root, chat, g, msg, size)) return false;
    if (!chat && !oai_opt_bool(root, "echo", &g->echo, msg, size)) return false;
    if (g->stream && g->logprobs >= 0)
        return oai_fail(msg, size, "logprobs are returned only by requests without 'stream'");
    g->max_tokens = (int32_t)mt;
    g->sp.top_k = (int32_t)top_k;
    g->sp.repeat_last_n = (int32_t)last_n;
    g->sp.seed = (uint64_t)seed;
    g->seed_set = seed_set;
    return true;
}

void oai_free_messages(elm_chat_msg *msgs, size_t n) {
    for (size_t i = 0; msgs && i < n; i++) free((char *)msgs[i].content);
    free(msgs);
}

/* content: a string, null (an assistant turn with no text) or a list of {"type":"text"} parts. */
static char *oai_content(const elm_json *c, size_t idx, char *msg, size_t size) {
    if (!c || elm_json_is(c, ELM_JSON_NULL)) return calloc(1, 1);
    if (elm_json_is(c, ELM_JSON_STRING)) {
        char *s = malloc(c->len + 1);
        if (s) memcpy(s, c->s, c->len + 1);
        return s;
    }
    if (!elm_json_is(c, ELM_JSON_ARRAY)) {
        oai_fail(msg, size, "messages[%zu].content must be a string or a list of text parts", idx);
        return NULL;
    }
    size_t total = 0;
    for (size_t k = 0; k < elm_json_count(c); k++) {
        const elm_json *part = elm_json_at(c, k);
        const char *type = elm_json_get_str(part, "type");
        const elm_json *t = elm_json_get(part, "text");
        if (!type || strcmp(type, "text") || !elm_json_is(t, ELM_JSON_STRING)) {
            oai_fail(msg, size, "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": "
                     "...} parts are supported", idx, k);
            return NULL;
        }
        total += t->len; /* bounded by the body size */
    }
    char *s = malloc(total + 1);
    if (!s) return NULL;
    size_t at = 0;
    for (size_t k = 0; k < elm_json_count(c); k++) {
        const elm_json *t = elm_json_get(elm_json_at(c, k), "text");
        memcpy(s + at, t->s, t->len);
        at += t->len;
    }
    s[at] = '\0';
    return s;
}

bool oai_parse_messages(const elm_json *root, elm_chat_msg **out, size_t *n_out, char *msg,
                        size_t size) {
    *out = NULL;
    *n_out = 0;
    const elm_json *arr = elm_json_get(root, "messages");
    if (!elm_json_is(arr, ELM_JSON_ARRAY) || elm_json_count(arr) == 0)
        return oai_fail(msg, size, "'messages' must be a non-empty list");
    size_t n = elm_json_count(arr);
    if (n > OAI_MAX_MESSAGES) return oai_fail(msg, size, "at most %d messages", OAI_MAX_MESSAGES);
    elm_chat_msg *msgs = calloc(n, sizeof *msgs);
    if (!msgs) return oai_fail(msg, size, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const elm_json *m = elm_json_at(arr, i);
        const char *role = elm_json_get_str(m, "role");
        if (!elm_json_is(m, ELM_JSON_OBJECT) || !role) {
            oai_free_messages(msgs, i);
            return oai_fail(msg, size, "messages[%zu] must be an object with a 'role' string", i);
        }
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")) {
            oai_free_messages(msgs, i);
            return oai_fail(msg, size, "messages[%zu].role must be system, user or assistant", i);
        }
        msg[0] = '\0';
        char *content = oai_content(elm_json_get(m, "content"), i, msg, size);
        if (!content) {
            oai_free_messages(msgs, i);
            if (!msg[0]) oai_fail(msg, size, "out of memory");
            return false;
        }
        msgs[i].role = role; /* one of the literals above or the document's string */
        msgs[i].content = content;
    }
    *out = msgs;
    *n_out = n;
    return true;
}

bool oai_parse_ids(const elm_json *arr, const char *field, int32_t n_vocab, int32_t **ids,
                   int32_t *n, char *msg, size_t size) {
    *ids = NULL;
    *n = 0;
    if (!elm_json_is(arr, ELM_JSON_ARRAY)) return oai_fail(msg, size, "'%s' must be a list of token ids", field);
    size_t cnt = elm_json_count(arr);
    if (cnt > INT32_MAX / 4) return oai_fail(msg, size, "'%s' is too long", field);
    int32_t *v = malloc((cnt ? cnt : 1) * sizeof *v);
    if (!v) return oai_fail(msg, size, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        int64_t x;
        if (!elm_json_int(elm_json_at(arr, i), &x) || x < 0 || x >= n_vocab) {
            free(v);
            return oai_fail(msg, size, "'%s'[%zu] must be a token id in [0, %d)", field, i, n_vocab);
        }
        v[i] = (int32_t)x;
    }
    *ids = v;
    *n = (int32_t)cnt;
    return true;
}

bool oai_parse_prompt(const elm_json *root, int32_t n_vocab, const char **text, size_t *len,
                      int32_t **ids, int32_t *n_ids, char *msg, size_t size) {
    *text = NULL;
    *len = 0;
    *ids = NULL;
    *n_ids = 0;
    const elm_json *p = elm_json_get(root, "prompt");
    if (!p) return oai_fail(msg, size, "'prompt' is required");
    if (elm_json_is(p, ELM_JSON_ARRAY) && elm_json_count(p) == 1) {
        const elm_json *only = elm_json_at(p, 0);
        if (elm_json_is(only, ELM_JSON_STRING) || elm_json_is(only, ELM_JSON_ARRAY)) p = only;
    }
    if (elm_json_is(p, ELM_JSON_STRING)) {
        *text = p->s;
        *len = p->len;
        return true;
    }
    if (elm_json_is(p, ELM_JSON_ARRAY)) {
        for (size_t i = 0; i < elm_json_count(p); i++)
            if (!elm_json_is(elm_json_at(p, i), ELM_JSON_NUMBER))
                return oai_fail(msg, size, "'prompt' must be a string or token ids (one prompt per request)");
        if (!oai_parse_ids(p, "prompt", n_vocab, ids, n_ids, msg, size)) return false;
        if (*n_ids == 0) {
            free(*ids);
            *ids = NULL;
            *text = "";
        }
        return true;
    }
    return oai_fail(msg, size, "'prompt' must be a string or token ids");
}

bool oai_parse_embed(const elm_json *root, const elm_json ***texts, size_t *n, bool *base64,
                     char *msg, size_t size) {
    *texts = NULL;
    *n = 0;
    *base64 = false;
    const char *fmt = NULL;
    const elm_json *f = elm_json_get(root, "encoding_format");
    if (f && !elm_json_is(f, ELM_JSON_NULL)) {
        fmt = elm_json_str(f);
        if (!fmt || (strcmp(fmt, "float") && strcmp(fmt, "base64")))
            return oai_fail(msg, size, "'encoding_format' must be \"float\" or \"base64\"");
        *base64 = !strcmp(fmt, "base64");
    }
    const elm_json *in = elm_json_get(root, "input");
    if (!in) in = elm_json_get(root, "content"); /* llama-server's spelling */
    size_t cnt = elm_json_is(in, ELM_JSON_STRING) ? 1 : elm_json_is(in, ELM_JSON_ARRAY) ? elm_json_count(in) : 0;
    if (cnt == 0) return oai_fail(msg, size, "'input' must be a string or a non-empty list of strings");
    if (cnt > OAI_MAX_INPUTS) return oai_fail(msg, size, "at most %d inputs per request", OAI_MAX_INPUTS);
    const elm_json **v = malloc(cnt * sizeof *v);
    if (!v) return oai_fail(msg, size, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        v[i] = elm_json_is(in, ELM_JSON_STRING) ? in : elm_json_at(in, i);
        if (!elm_json_is(v[i], ELM_JSON_STRING)) {
            free(v);
            return oai_fail(msg, size, "'input' must be a string or a list of strings");
        }
    }
    *texts = v;
    *n = cnt;
    return true;
}

void oai_base64(const unsigned char *in, size_t n, char *out) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}
