/*
 * api.c — the endpoints of `edgelm serve`: OpenAI chat completions, completions and
 * embeddings, llama-server's tokenize / detokenize / health, and the generation loop they
 * share (prefix reuse in the slot, stop strings, logprobs, streaming, cancellation).
 */
#include "../edgelm/gen_opts.h" /* gen_tokenize */
#include "oai.h"
#include "server_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_PIECE 1024
#define API_PROMPT_CHUNK 256 /* prompt tokens decoded between two checks for cancellation */

/* ---- request helpers ---- */

/* ---- the generation loop ---- */

typedef struct gen_tok {
    int32_t id;
    float lp;
    int32_t n_top;
    int32_t top_id[OAI_MAX_LOGPROBS];
    float top_lp[OAI_MAX_LOGPROBS];
    size_t offset; /* bytes of text before this token's piece */
} gen_tok;

typedef struct gen_run {
    conn *c;
    slot *sl;
    const oai_gen *g;
    bool chat;
    char id[48];
    long long created;
    char *text;           /* the generated text (echoed prompt first, when asked) */
    size_t len, cap, sent;
    gen_tok *toks;        /* with logprobs */
    int32_t n_toks, cap_toks;
    int32_t n_prompt, n_eval, n_cache, n_gen;
    const char *finish;
    bool cancelled, failed, stop_hit;
    double t_prompt, t_gen;
    elm_error err;
} gen_run;

static bool gen_append(gen_run *r, const char *s, size_t n) {
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1) cap *= 2;
        char *b = realloc(r->text, cap);
        if (!b) return false;
        r->text = b;
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = '\0';
    return true;
}

/* Cuts the text at the first stop string found in what the last piece may have completed. */
static bool gen_find_stop(gen_run *r, size_t before) {
    for (int k = 0; k < r->g->n_stop; k++) {
        size_t sl = r->g->stop_len[k];
        size_t from = before >= sl ? before - sl + 1 : 0;
        if (r->len < from + sl) continue;
        const char *hit = memmem(r->text + from, r->len - from, r->g->stop[k], sl);
        if (hit) {
            r->len = (size_t)(hit - r->text);
            r->text[r->len] = '\0';
            r->stop_hit = true;
        }
    }
    return r->stop_hit;
}

/* Bytes at the end of the text that could begin a stop string (held back from the stream). */
static size_t gen_holdback(const gen_run *r) {
    size_t hold = 0;
    for (int k = 0; k < r->g->n_stop; k++) {
        size_t sl = r->g->stop_len[k];
        for (size_t h = sl - 1; h > hold; h--)
            if (h <= r->len && !memcmp(r->text + r->len - h, r->g->stop[k], h)) {
                hold = h;
                break;
            }
    }
    return hold;
}

static void gen_chunk_head(gen_run *r, jw *w) {
    jw_obj(w);
    jw_key_str(w, "id", r->id);
    jw_key_str(w, "object", r->chat ? "chat.completion.chunk" : "text_completion");
    jw_key_int(w, "created", r->created);
    jw_key_str(w, "model", r->c->s->name);
    jw_key(w, "choices");
    jw_arr(w);
}

/* One streamed chunk: text (may be empty), role (first chat chunk) or finish reason. */
static bool gen_stream_chunk(gen_run *r, const char *text, size_t n, bool role, const char *finish) {
    jw w;
    jw_init(&w);
    gen_chunk_head(r, &w);
    jw_obj(&w);
    jw_key_int(&w, "index", 0);
    if (r->chat) {
        jw_key(&w, "delta");
        jw_obj(&w);
        if (role) {
            jw_key_str(&w, "role", "assistant");
        }
        if (!finish) {
            jw_key(&w, "content");
            jw_strn(&w, text, n);
        }
        jw_obj_end(&w);
    } else {
        jw_key(&w, "text");
        jw_strn(&w, text, n);
        jw_key(&w, "logprobs");
        jw_null(&w);
    }
    jw_key(&w, "finish_reason");
    if (finish) jw_str(&w, finish);
    else jw_null(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    bool ok = conn_stream_event(r->c, &w);
    jw_free(&w);
    return ok;
}

/* Sends what is safe to send (everything when final). */
static bool gen_stream_flush(gen_run *r, bool final) {
    size_t upto = final ? r->len : r->len - gen_holdback(r);
    if (upto <= r->sent) return !r->c->broken;
    bool ok = gen_stream_chunk(r, r->text + r->sent, upto - r->sent, false, NULL);
    r->sent = upto;
    return ok;
}

/* Log-probabilities of the chosen token and the top alternatives (softmax of raw logits). */
static void gen_logprobs(gen_run *r, const float *logits, int32_t n_vocab, int32_t id) {
    if (r->n_toks == r->cap_toks) {
        int32_t cap = r->cap_toks ? 2 * r->cap_toks : 64;
        gen_tok *b = realloc(r->toks, (size_t)cap * sizeof *b);
        if (!b) return;
        r->toks = b;
        r->cap_toks = cap;
    }
    gen_tok *t = &r->toks[r->n_toks++];
    float mx = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
    const float lse = mx + (float)log(sum);
    t->id = id;
    t->lp = logits[id] - lse;
    t->offset = r->len;
    t->n_top = 0;
    const int32_t k = r->g->logprobs < n_vocab ? r->g->logprobs : n_vocab;
    for (int32_t i = 0; i < n_vocab && k > 0; i++) { /* insertion into the k best */
        float v = logits[i];
        if (t->n_top == k && v <= t->top_lp[k - 1]) continue;
        int32_t j = t->n_top < k ? t->n_top++ : k - 1;
        while (j > 0 && t->top_lp[j - 1] < v) {
            t->top_lp[j] = t->top_lp[j - 1];
            t->top_id[j] = t->top_id[j - 1];
            j--;
        }
        t->top_lp[j] = v;
        t->top_id[j] = i;
    }
    for (int32_t j = 0; j < t->n_top; j++) t->top_lp[j] -= lse;
}

/* Decodes the prompt past the slot's common prefix, then samples until the end of text, a
 * stop string, max_tokens, a full context, the client leaving or the server stopping. */
static void gen_execute(gen_run *r, const int32_t *prompt, int32_t n_prompt) {
    server *s = r->c->s;
    slot *sl = r->sl;
    const oai_gen *g = r->g;
    const int32_t n_vocab = elm_model_n_vocab(s->model);
    const double t0 = server_now();
    int32_t lcp = 0;
    while (lcp < sl->n_cache && lcp < n_prompt && sl->cache[lcp] == prompt[lcp]) lcp++;
    const int32_t keep = lcp < n_prompt ? lcp : n_prompt - 1; /* the last one gives the logits */
    elm_ctx_rewind(sl->ctx, keep);
    sl->n_cache = keep;
    r->n_prompt = n_prompt;
    r->n_cache = keep;
    r->n_eval = n_prompt - keep;
    /* In pieces, so that a client that leaves or a stopping server does not wait for a long
     * prompt to be evaluated. */
    for (int32_t at = keep; at < n_prompt; at += API_PROMPT_CHUNK) {
        const int32_t n = n_prompt - at < API_PROMPT_CHUNK ? n_prompt - at : API_PROMPT_CHUNK;
        if (at > keep && (server_stopping(s) || !conn_alive(r->c))) {
            r->cancelled = true;
            r->finish = "stop";
            r->n_eval = at - keep; /* what was evaluated before leaving */
            r->t_prompt = server_now() - t0;
            goto log;
        }
        if (elm_decode(sl->ctx, prompt + at, n, ELM_OUT_LOGITS_LAST, &r->err) != ELM_OK) {
            elm_ctx_rewind(sl->ctx, 0);
            sl->n_cache = 0;
            r->failed = true;
            return;
        }
        memcpy(sl->cache + at, prompt + at, (size_t)n * sizeof *prompt);
        sl->n_cache = at + n;
    }
    const double t1 = server_now();
    r->t_prompt = t1 - t0;

    elm_sampler_params sp = g->sp;
    if (!g->seed_set) sp.seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(t0 * 1e9);
    elm_sampler *smp = elm_sampler_new(&sp, n_vocab, &r->err);
    elm_detokenizer *dt = elm_detokenizer_new(s->model, false, &r->err);
    if (!smp || !dt) {
        r->failed = true;
        goto done;
    }
    char piece[API_PIECE];
    for (int32_t i = 0; i < n_prompt; i++) {
        elm_sampler_accept(smp, prompt[i]);
        elm_detokenizer_push(dt, prompt[i], piece, sizeof piece); /* spelling as in the whole text */
    }
    const int32_t n_ctx = s->n_ctx, room = n_ctx - n_prompt + 1;
    const int32_t n_predict = g->max_tokens < 0 || g->max_tokens > room ? room : g->max_tokens;
    const int32_t bos = elm_token_bos(s->model);
    const float *logits = elm_get_logits(sl->ctx, NULL);
    r->finish = "length";
    batch_gen_begin(s);
    while (r->n_gen < n_predict) {
        if (server_stopping(s) || !conn_alive(r->c)) {
            r->cancelled = true;
            break;
        }
        int32_t id = elm_sampler_sample(smp, logits);
        if (g->logprobs >= 0) gen_logprobs(r, logits, n_vocab, id);
        elm_sampler_accept(smp, id);
        if (!g->ignore_eos && (elm_token_is_eog(s->model, id) || id == bos)) { /* BOS: a new document */
            if (r->n_toks > 0 && r->toks[r->n_toks - 1].id == id) r->n_toks--; /* not part of the text */
            r->finish = "stop";
            break;
        }
        r->n_gen++;
        const size_t before = r->len;
        int32_t pn = elm_detokenizer_push(dt, id, piece, sizeof piece);
        if (pn > 0 && !gen_append(r, piece, (size_t)pn)) {
            r->failed = true;
            break;
        }
        if (gen_find_stop(r, before)) {
            r->finish = "stop";
            break;
        }
        if (g->stream && !gen_stream_flush(r, false)) {
            r->cancelled = true;
            break;
        }
        if (r->n_gen == n_predict || elm_ctx_n_past(sl->ctx) >= n_ctx) break;
        if (!batch_step(s, sl, id, &r->err)) {
            elm_ctx_rewind(sl->ctx, 0); /* the cache's state is unknown: start over next time */
            sl->n_cache = 0;
            r->failed = true;
            break;
        }
        sl->cache[sl->n_cache++] = id;
        logits = elm_get_logits(sl->ctx, NULL);
    }
    batch_gen_end(s);
    if (!r->stop_hit && !r->failed) {
        const size_t before = r->len;
        int32_t pn = elm_detokenizer_flush(dt, piece, sizeof piece);
        if (pn > 0 && gen_append(r, piece, (size_t)pn) && gen_find_stop(r, before)) r->finish = "stop";
    }
done:
    r->t_gen = server_now() - t1;
    elm_detokenizer_free(dt);
    elm_sampler_free(smp);
log:
    r->c->log_prompt = r->n_prompt;
    r->c->log_cache = r->n_cache;
    r->c->log_eval = r->n_eval;
    r->c->log_gen = r->n_gen;
    r->c->log_cancelled = r->cancelled;
}

static void api_usage(jw *w, const gen_run *r) {
    jw_key(w, "usage");
    jw_obj(w);
    jw_key_int(w, "prompt_tokens", r->n_prompt);
    jw_key_int(w, "completion_tokens", r->n_gen);
    jw_key_int(w, "total_tokens", (int64_t)r->n_prompt + r->n_gen);
    jw_obj_end(w);
}

/* llama-server's timings: prompt_n = prompt tokens evaluated, cache_n = reused from the slot. */
static void api_timings(jw *w, const gen_run *r) {
    jw_key(w, "timings");
    jw_obj(w);
    jw_key_int(w, "cache_n", r->n_cache);
    jw_key_int(w, "prompt_n", r->n_eval);
    jw_key_num(w, "prompt_ms", 1e3 * r->t_prompt);
    jw_key_num(w, "prompt_per_second", r->t_prompt > 0 ? r->n_eval / r->t_prompt : 0);
    jw_key_int(w, "predicted_n", r->n_gen);
    jw_key_num(w, "predicted_ms", 1e3 * r->t_gen);
    jw_key_num(w, "predicted_per_second", r->t_gen > 0 ? r->n_gen / r->t_gen : 0);
    jw_key_int(w, "slot", r->sl->id);
    jw_obj_end(w);
}

static void api_token_text(const elm_model *m, int32_t id, jw *w) {
    char b[256];
    int32_t n = elm_token_piece(m, id, b, sizeof b, true);
    jw_strn(w, b, n < 0 ? 0 : n > (int32_t)sizeof b ? sizeof b : (size_t)n);
}

/* Completions' logprobs: tokens, token_logprobs, top_logprobs, text_offset. */
static void api_logprobs_completion(jw *w, const gen_run *r, const elm_model *m) {
    jw_obj(w);
    jw_key(w, "tokens");
    jw_arr(w);
    for (int32_t i = 0; i < r->n_toks; i++) api_token_text(m, r->toks[i].id, w);
    jw_arr_end(w);
    jw_key(w, "token_logprobs");
    jw_arr(w);
    for (int32_t i = 0; i < r->n_toks; i++) jw_num(w, r->toks[i].lp);
    jw_arr_end(w);
    jw_key(w, "top_logprobs");
    jw_arr(w);
    for (int32_t i = 0; i < r->n_toks; i++) {
        jw_obj(w);
        for (int32_t j = 0; j < r->toks[i].n_top; j++) {
            char b[256];
            int32_t n = elm_token_piece(m, r->toks[i].top_id[j], b, sizeof b - 1, true);
            b[n < 0 ? 0 : n >= (int32_t)sizeof b ? sizeof b - 1 : (size_t)n] = '\0';
            jw_key(w, b);
            jw_num(w, r->toks[i].top_lp[j]);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "text_offset");
    jw_arr(w);
    for (int32_t i = 0; i < r->n_toks; i++) jw_int(w, (int64_t)r->toks[i].offset);
    jw_arr_end(w);
    jw_obj_end(w);
}

/* Chat's logprobs: {"content": [{token, logprob, top_logprobs: [{token, logprob}]}]}. */
static void api_logprobs_chat(jw *w, const gen_run *r, const elm_model *m) {
    jw_obj(w);
    jw_key(w, "content");
    jw_arr(w);
    for (int32_t i = 0; i < r->n_toks; i++) {
        jw_obj(w);
        jw_key_int(w, "id", r->toks[i].id);
        jw_key(w, "token");
        api_token_text(m, r->toks[i].id, w);
        jw_key_num(w, "logprob", r->toks[i].lp);
        jw_key(w, "top_logprobs");
        jw_arr(w);
        for (int32_t j = 0; j < r->toks[i].n_top; j++) {
            jw_obj(w);
            jw_key_int(w, "id", r->toks[i].top_id[j]);
            jw_key(w, "token");
            api_token_text(m, r->toks[i].top_id[j], w);
            jw_key_num(w, "logprob", r->toks[i].top_lp[j]);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

static void api_reply(gen_run *r) {
    const elm_model *m = r->c->s->model;
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key_str(&w, "id", r->id);
    jw_key_str(&w, "object", r->chat ? "chat.completion" : "text_completion");
    jw_key_int(&w, "created", r->created);
    jw_key_str(&w, "model", r->c->s->name);
    jw_key(&w, "choices");
    jw_arr(&w);
    jw_obj(&w);
    jw_key_int(&w, "index", 0);
    if (r->chat) {
        jw_key(&w, "message");
        jw_obj(&w);
        jw_key_str(&w, "role", "assistant");
        jw_key(&w, "content");
        jw_strn(&w, r->text ? r->text : "", r->len);
        jw_obj_end(&w);
    } else {
        jw_key(&w, "text");
        jw_strn(&w, r->text ? r->text : "", r->len);
    }
    jw_key(&w, "logprobs");
    if (r->g->logprobs < 0) jw_null(&w);
    else if (r->chat) api_logprobs_chat(&w, r, m);
    else api_logprobs_completion(&w, r, m);
    jw_key_str(&w, "finish_reason", r->finish);
    jw_obj_end(&w);
    jw_arr_end(&w);
    api_usage(&w, r);
    api_timings(&w, r);
    jw_obj_end(&w);
    conn_json(r->c, 200, &w);
    jw_free(&w);
}

/* Runs a validated request: slot, generation, then the reply or the end of the stream. */
static void api_generate(conn *c, const oai_gen *g, bool chat, const int32_t *prompt,
                         int32_t n_prompt, const char *echo, size_t echo_len) {
    server *s = c->s;
    if (n_prompt >= s->n_ctx) {
        char msg[160];
        snprintf(msg, sizeof msg, "the prompt has %d tokens; the context holds %d", n_prompt, s->n_ctx);
        conn_error(c, 400, msg);
        return;
    }
    gen_run r = {.c = c, .g = g, .chat = chat, .created = (long long)time(NULL)};
    pthread_mutex_lock(&s->mu);
    unsigned long long seq = ++s->counter;
    pthread_mutex_unlock(&s->mu);
    snprintf(r.id, sizeof r.id, "%s-%llx%llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)r.created, seq);
    r.sl = slot_acquire(s, c, prompt, n_prompt);
    if (!r.sl) {
        conn_error(c, 503, server_stopping(s) ? "the server is stopping"
                                              : "every slot is busy and the queue is full");
        return;
    }
    if (echo && !gen_append(&r, echo, echo_len)) r.failed = true;
    r.sent = 0;
    if (g->stream && !r.failed) {
        if (conn_stream_begin(c) && (!chat || gen_stream_chunk(&r, "", 0, true, NULL)))
            gen_execute(&r, prompt, n_prompt);
        if (!c->broken) {
            gen_stream_flush(&r, true);
            if (r.failed) {
                jw w;
                jw_init(&w);
                jw_error(&w, 500, r.err.msg[0] ? r.err.msg : "generation failed");
                conn_stream_event(c, &w);
                jw_free(&w);
            } else {
                gen_stream_chunk(&r, "", 0, false, r.finish ? r.finish : "stop");
            }
            if (g->include_usage && !r.failed) {
                jw w;
                jw_init(&w);
                gen_chunk_head(&r, &w);
                jw_arr_end(&w);
                api_usage(&w, &r);
                api_timings(&w, &r);
                jw_obj_end(&w);
                conn_stream_event(c, &w);
                jw_free(&w);
            }
            conn_stream_end(c);
        }
    } else if (!r.failed) {
        gen_execute(&r, prompt, n_prompt);
        if (r.failed) conn_error(c, 500, r.err.msg[0] ? r.err.msg : "generation failed");
        else if (!r.cancelled || !c->broken) api_reply(&r);
    } else {
        conn_error(c, 503, "out of memory");
    }
    if (r.cancelled) c->keep_alive = false;
    slot_release(s, r.sl);
    free(r.text);
    free(r.toks);
}

void api_chat(conn *c, const elm_json *root) {
    server *s = c->s;
    char msg[320];
    oai_gen g;
    elm_chat_msg *msgs = NULL;
    size_t n_msgs = 0;
    char *text = NULL;
    int32_t *ids = NULL, n = 0;
    if (!oai_parse_gen(root, true, &g, msg, sizeof msg) ||
        !oai_parse_messages(root, &msgs, &n_msgs, msg, sizeof msg)) {
        conn_error(c, 400, msg);
        goto done;
    }
    int64_t need = elm_chat_render(s->tmpl, msgs, n_msgs, true, NULL, 0);
    if (need < 0 || (uint64_t)need > SIZE_MAX / 2) {
        conn_error(c, 400, "the conversation cannot be rendered with the chat template");
        goto done;
    }
    text = malloc((size_t)need + 1);
    if (!text) {
        conn_error(c, 503, "out of memory");
        goto done;
    }
    elm_chat_render(s->tmpl, msgs, n_msgs, true, text, (size_t)need + 1);
    elm_error err = {0};
    int32_t nt = 0;
    int32_t *t = gen_tokenize(s->model, text, (size_t)need, false, &nt, &err);
    if (!t) {
        conn_error(c, 400, err.msg[0] ? err.msg : "the conversation could not be tokenized");
        goto done;
    }
    const int32_t bos = elm_token_bos(s->model);
    const bool add = s->add_bos && bos >= 0 && (nt == 0 || t[0] != bos);
    ids = malloc((size_t)(nt + 1) * sizeof *ids);
    if (ids) {
        if (add) ids[0] = bos;
        memcpy(ids + add, t, (size_t)nt * sizeof *t);
        n = nt + add;
    }
    free(t);
    if (!ids || n == 0) {
        conn_error(c, 400, "the conversation is empty");
        goto done;
    }
    api_generate(c, &g, true, ids, n, NULL, 0);
done:
    free(ids);
    free(text);
    oai_free_messages(msgs, n_msgs);
}

void api_completions(conn *c, const elm_json *root) {
    server *s = c->s;
    char msg[320];
    oai_gen g;
    const char *text = NULL;
    size_t len = 0;
    int32_t *ids = NULL, n = 0;
    char *echo = NULL;
    size_t echo_len = 0;
    if (!oai_parse_gen(root, false, &g, msg, sizeof msg) ||
        !oai_parse_prompt(root, elm_model_n_vocab(s->model), &text, &len, &ids, &n, msg, sizeof msg)) {
        conn_error(c, 400, msg);
        goto done;
    }
    if (g.echo && g.logprobs >= 0) {
        conn_error(c, 400, "'echo' with 'logprobs' (prompt logprobs) is not supported");
        goto done;
    }
    if (text) {
        elm_error err = {0};
        if (len > 0) ids = gen_tokenize(s->model, text, len, true, &n, &err);
        if (len > 0 && !ids) {
            conn_error(c, 400, err.msg[0] ? err.msg : "the prompt could not be tokenized");
            goto done;
        }
        if (g.echo) {
            echo = (char *)text;
            echo_len = len;
        }
    } else if (g.echo) { /* the text of the ids */
        elm_detokenizer *dt = elm_detokenizer_new(s->model, false, NULL);
        jw b;
        jw_init(&b);
        char piece[API_PIECE];
        for (int32_t i = 0; dt && i < n; i++) {
            int32_t k = elm_detokenizer_push(dt, ids[i], piece, sizeof piece);
            if (k > 0) jw_raw(&b, piece, (size_t)k);
        }
        elm_detokenizer_free(dt);
        jw_raw(&b, "", 0);
        echo = b.buf;
        echo_len = b.len;
        if (!jw_ok(&b)) {
            jw_free(&b);
            conn_error(c, 503, "out of memory");
            goto done;
        }
        b.buf = NULL; /* now owned by echo */
    }
    if (n == 0) { /* an empty prompt starts from BOS, as `edgelm generate` does */
        free(ids);
        ids = malloc(sizeof *ids);
        const int32_t bos = elm_token_bos(s->model);
        if (!ids || bos < 0) {
            conn_error(c, 400, "the prompt is empty and the model has no BOS token");
            goto done;
        }
        ids[0] = bos;
        n = 1;
    }
    api_generate(c, &g, false, ids, n, echo, echo_len);
done:
    if (echo && echo != text) free(echo);
    free(ids);
}

/* ---- embeddings ---- */

static void api_embed_write(jw *w, const float *v, int32_t n, bool base64, int64_t index) {
    jw_obj(w);
    jw_key_str(w, "object", "embedding");
    jw_key_int(w, "index", index);
    jw_key(w, "embedding");
    if (base64) {
        char *b = malloc(4 * ((size_t)n * 4 / 3 + 3) + 1);
        if (!b) {
            w->oom = true;
            return;
        }
        oai_base64((const unsigned char *)v, (size_t)n * sizeof *v, b); /* little-endian hosts */
        jw_str(w, b);
        free(b);
    } else {
        jw_arr(w);
        for (int32_t i = 0; i < n; i++) jw_num(w, v[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

/* BERT: batches of 8, pooling and normalisation as the model file says (as `edgelm embed`). */
static bool api_embed_bert(server *s, const elm_json **texts, size_t n, bool base64, jw *w,
                           int64_t *n_tokens, char *msg, size_t msg_size) {
    const int32_t E = elm_bert_n_embd(s->bert), T = s->n_ctx;
    float *vec = malloc((size_t)E * sizeof *vec);
    int32_t *ids[8] = {0}, cnt[8];
    bool ok = vec != NULL;
    elm_error err = {0};
    pthread_mutex_lock(&s->bert_mu);
    for (size_t s0 = 0; ok && s0 < n; s0 += 8) {
        int32_t nb = n - s0 < 8 ? (int32_t)(n - s0) : 8;
        for (int32_t b = 0; ok && b < nb; b++) {
            ids[b] = malloc((size_t)T * sizeof *ids[b]);
            int64_t k = ids[b] ? elm_bert_tokenize(s->bert, texts[s0 + b]->s, NULL, true, ids[b], NULL, T, &err) : -1;
            ok = k >= 0 && k <= T;
            cnt[b] = ok ? (int32_t)k : 0;
            *n_tokens += cnt[b];
        }
        ok = ok && elm_bert_run(s->bert, nb, (const int32_t *const *)ids, NULL, cnt, NULL, &err) == ELM_OK;
        for (int32_t b = 0; ok && b < nb; b++) {
            ok = elm_bert_embedding(s->bert, b, elm_bert_pooling_type(s->bert), elm_bert_normalize(s->bert),
                                    vec, &err) == ELM_OK;
            if (ok) api_embed_write(w, vec, E, base64, (int64_t)(s0 + (size_t)b));
        }
        for (int32_t b = 0; b < nb; b++) {
            free(ids[b]);
            ids[b] = NULL;
        }
    }
    pthread_mutex_unlock(&s->bert_mu);
    free(vec);
    if (!ok) snprintf(msg, msg_size, "%s", err.msg[0] ? err.msg : "out of memory");
    return ok;
}

/* Decoder: mean of the last hidden state (after the final norm) over the tokens, unit length. */
static bool api_embed_decoder(server *s, conn *c, const elm_json **texts, size_t n, bool base64,
                              jw *w, int64_t *n_tokens, int *status, char *msg, size_t msg_size) {
    slot *sl = slot_acquire(s, c, NULL, 0);
    if (!sl) {
        *status = 503;
        snprintf(msg, msg_size, "every slot is busy and the queue is full");
        return false;
    }
    const int32_t E = elm_model_n_embd(s->model), L = elm_model_n_layer(s->model);
    const int32_t max_n = s->n_ctx < 512 ? s->n_ctx : 512; /* one graph: the default n_batch */
    float *vec = malloc((size_t)E * sizeof *vec);
    bool ok = vec != NULL;
    elm_error err = {0};
    for (size_t i = 0; ok && i < n; i++) {
        int32_t nt = 0;
        int32_t *ids = gen_tokenize(s->model, texts[i]->s, texts[i]->len, true, &nt, &err);
        if (!ids || nt == 0 || nt > max_n) {
            *status = 400;
            if (ids) snprintf(err.msg, sizeof err.msg, "input %zu has %d tokens (1 to %d allowed)", i, nt, max_n);
            free(ids);
            ok = false;
            break;
        }
        *n_tokens += nt;
        elm_ctx_rewind(sl->ctx, 0);
        sl->n_cache = 0;
        ok = elm_decode(sl->ctx, ids, nt, ELM_OUT_HIDDEN, &err) == ELM_OK;
        elm_ctx_rewind(sl->ctx, 0);
        free(ids);
        int32_t got = 0;
        const float *h = ok ? elm_get_hidden(sl->ctx, &got) : NULL;
        if (!h || got != nt) {
            *status = 500;
            ok = false;
            break;
        }
        const float *last = h + (size_t)L * (size_t)nt * (size_t)E;
        double ss = 0;
        for (int32_t e = 0; e < E; e++) {
            double acc = 0;
            for (int32_t t = 0; t < nt; t++) acc += last[(size_t)t * E + e];
            vec[e] = (float)(acc / nt);
            ss += (double)vec[e] * vec[e];
        }
        const double norm = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
        for (int32_t e = 0; e < E; e++) vec[e] = (float)(vec[e] / norm);
        api_embed_write(w, vec, E, base64, (int64_t)i);
    }
    slot_release(s, sl);
    free(vec);
    if (!ok) snprintf(msg, msg_size, "%s", err.msg[0] ? err.msg : "embedding failed");
    return ok;
}

void api_embeddings(conn *c, const elm_json *root) {
    server *s = c->s;
    if (s->model && !s->p.embedding) {
        conn_error(c, 501, "embeddings of a decoder model need `edgelm serve --embedding`");
        return;
    }
    char msg[320];
    const elm_json **texts = NULL;
    size_t n = 0;
    bool base64 = false;
    if (!oai_parse_embed(root, &texts, &n, &base64, msg, sizeof msg)) {
        conn_error(c, 400, msg);
        return;
    }
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key_str(&w, "object", "list");
    jw_key_str(&w, "model", s->name);
    jw_key(&w, "data");
    jw_arr(&w);
    int64_t n_tokens = 0;
    int status = 500;
    bool ok = s->bert ? api_embed_bert(s, texts, n, base64, &w, &n_tokens, msg, sizeof msg)
                      : api_embed_decoder(s, c, texts, n, base64, &w, &n_tokens, &status, msg, sizeof msg);
    jw_arr_end(&w);
    jw_key(&w, "usage");
    jw_obj(&w);
    jw_key_int(&w, "prompt_tokens", n_tokens);
    jw_key_int(&w, "total_tokens", n_tokens);
    jw_obj_end(&w);
    jw_obj_end(&w);
    if (ok) conn_json(c, 200, &w);
    else conn_error(c, status, msg);
    c->log_prompt = (int32_t)(n_tokens < INT32_MAX ? n_tokens : INT32_MAX);
    c->log_eval = c->log_prompt;
    jw_free(&w);
    free(texts);
}

/* ---- tokenizer, models, health ---- */

void api_tokenize(conn *c, const elm_json *root) {
    server *s = c->s;
    char msg[320];
    const elm_json *content = elm_json_get(root, "content");
    bool add_special = false, pieces = false;
    elm_error err = {0};
    int32_t *ids = NULL, n = 0;
    if (!elm_json_is(content, ELM_JSON_STRING)) {
        conn_error(c, 400, "'content' must be a string");
        goto done;
    }
    const elm_json *as = elm_json_get(root, "add_special"), *wp = elm_json_get(root, "with_pieces");
    if ((as && !elm_json_bool(as, &add_special)) || (wp && !elm_json_bool(wp, &pieces))) {
        conn_error(c, 400, "'add_special' and 'with_pieces' must be true or false");
        goto done;
    }
    if (s->model) {
        ids = gen_tokenize(s->model, content->s, content->len, add_special, &n, &err);
    } else {
        const size_t cap = content->len + 3;
        ids = cap < (size_t)INT32_MAX / 4 ? malloc(cap * sizeof *ids) : NULL;
        int64_t k = ids ? elm_bert_tokenize(s->bert, content->s, NULL, add_special, ids, NULL, (int64_t)cap, &err) : -1;
        if (k < 0 || k > (int64_t)cap) {
            free(ids);
            ids = NULL;
        } else {
            n = (int32_t)k;
        }
    }
    if (!ids) {
        snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : "the text could not be tokenized");
        conn_error(c, 400, msg);
        goto done;
    }
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "tokens");
    jw_arr(&w);
    for (int32_t i = 0; i < n; i++) {
        if (!pieces) {
            jw_int(&w, ids[i]);
            continue;
        }
        char b[256];
        int32_t k = s->model ? elm_token_piece(s->model, ids[i], b, sizeof b, true)
                             : elm_bert_token_text(s->bert, ids[i], b, sizeof b);
        jw_obj(&w);
        jw_key_int(&w, "id", ids[i]);
        jw_key(&w, "piece");
        jw_strn(&w, b, k < 0 ? 0 : k > (int32_t)sizeof b - 1 ? sizeof b - 1 : (size_t)k);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    conn_json(c, 200, &w);
    jw_free(&w);
done:
    free(ids);
}

void api_detokenize(conn *c, const elm_json *root) {
    server *s = c->s;
    char msg[320];
    int32_t *ids = NULL, n = 0;
    const int32_t n_vocab = s->model ? elm_model_n_vocab(s->model) : elm_bert_n_vocab(s->bert);
    if (!oai_parse_ids(elm_json_get(root, "tokens"), "tokens", n_vocab, &ids, &n, msg, sizeof msg)) {
        conn_error(c, 400, msg);
        return;
    }
    jw text;
    jw_init(&text);
    jw_raw(&text, "", 0);
    char piece[API_PIECE];
    if (s->model) {
        elm_detokenizer *dt = elm_detokenizer_new(s->model, false, NULL);
        for (int32_t i = 0; dt && i < n; i++) {
            int32_t k = elm_detokenizer_push(dt, ids[i], piece, sizeof piece);
            if (k > 0) jw_raw(&text, piece, (size_t)k);
        }
        int32_t k = dt ? elm_detokenizer_flush(dt, piece, sizeof piece) : 0;
        if (k > 0) jw_raw(&text, piece, (size_t)k);
        elm_detokenizer_free(dt);
    } else {
        for (int32_t i = 0; i < n; i++) {
            int32_t k = elm_bert_token_text(s->bert, ids[i], piece, sizeof piece);
            if (i) jw_raw(&text, " ", 1);
            if (k > 0) jw_raw(&text, piece, k < (int32_t)sizeof piece ? (size_t)k : sizeof piece - 1);
        }
    }
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "content");
    jw_strn(&w, text.buf ? text.buf : "", text.len);
    jw_obj_end(&w);
    if (!jw_ok(&text)) w.oom = true;
    conn_json(c, 200, &w);
    jw_free(&w);
    jw_free(&text);
    free(ids);
}

void api_models(conn *c, const elm_json *root) {
    (void)root;
    server *s = c->s;
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key_str(&w, "object", "list");
    jw_key(&w, "data");
    jw_arr(&w);
    jw_obj(&w);
    jw_key_str(&w, "id", s->name);
    jw_key_str(&w, "object", "model");
    jw_key_int(&w, "created", s->created);
    jw_key_str(&w, "owned_by", "edgelm");
    jw_key(&w, "meta");
    jw_obj(&w);
    jw_key_str(&w, "arch", s->model ? elm_model_arch(s->model) : "bert");
    jw_key_int(&w, "n_ctx", s->n_ctx);
    jw_key_int(&w, "n_ctx_train", s->model ? elm_model_n_ctx_train(s->model) : s->n_ctx);
    jw_key_int(&w, "n_vocab", s->model ? elm_model_n_vocab(s->model) : elm_bert_n_vocab(s->bert));
    jw_key_int(&w, "n_embd", s->model ? elm_model_n_embd(s->model) : elm_bert_n_embd(s->bert));
    jw_key_int(&w, "slots", s->model ? s->n_slots : 1);
    jw_key(&w, "chat_template");
    if (s->model) jw_str(&w, elm_chat_template_name(s->tmpl));
    else jw_null(&w);
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    conn_json(c, 200, &w);
    jw_free(&w);
}

void api_health(conn *c, const elm_json *root) {
    (void)root;
    server *s = c->s;
    if (!atomic_load(&s->loaded)) {
        conn_error(c, 503, "the model is loading");
        return;
    }
    int busy = 0, waiting;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_slots; i++) busy += s->slots[i].busy;
    waiting = s->n_waiting;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->bat_mu);
    const long long batches = (long long)s->bat_steps, rows = (long long)s->bat_rows;
    pthread_mutex_unlock(&s->bat_mu);
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key_str(&w, "status", "ok");
    jw_key_int(&w, "slots_idle", s->n_slots - busy);
    jw_key_int(&w, "slots_processing", busy);
    jw_key_int(&w, "requests_waiting", waiting);
    jw_key_int(&w, "decode_batches", batches);     /* generation steps run (batch.c) */
    jw_key_int(&w, "decode_batch_tokens", rows);   /* the slots' tokens they decoded */
    jw_obj_end(&w);
    conn_json(c, 200, &w);
    jw_free(&w);
}
