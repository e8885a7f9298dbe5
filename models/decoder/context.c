/*
 * context.c — a decoding context: KV cache, thread pool, graph buffers; elm_decode and
 * elm_generate.
 *
 * Memory is sized once, when the context is created: the arena for the graph's tensor
 * headers (rebuilt for every step, because the cache views move with n_past) and the compute
 * buffer, planned for the largest step (n_batch tokens, and one token at a full cache). A
 * step then allocates nothing: its graph is built in the same gl_context, reset per step;
 * all-token logits and hidden states (evaluation, not generation) get their buffers the
 * first time they are asked for (tests/test-alloc.c counts).
 */
#include "alloc.h"
#include "model.h"
#include "common.h"

#include <stdlib.h>

#define CTX_MAX_DEFAULT 4096

struct elm_ctx {
    const elm_model *m;
    elm_ctx_params p;
    elm_kv_cache kv;
    elm_runner run;     /* pool + compute buffer (planned intermediates + kernel scratch) */
    int32_t n_past;

    gl_context *meta;   /* the per-step graph context (headers, graph), reset every step */
    size_t meta_size;

    int32_t *ids_buf, *pos_buf; /* n_batch each */
    gl_tensor **hidden_t;       /* n_layer + 1 per-step pointers */

    float *logits;      /* [n_logits_rows, n_vocab] */
    size_t logits_cap;  /* floats */
    int32_t n_logits_rows;
    float *hidden;      /* [n_layer + 1, n_hidden_tokens, n_embd] */
    size_t hidden_cap;
    int32_t n_hidden_tokens;

    /* elm_decode_batch led by this context: its graph context and inputs, for bat_cap
     * sequences (grown when a bigger batch comes) */
    gl_context *bat_meta;
    int32_t bat_cap;
    int32_t *bat_ids, *bat_pos;
    const elm_kv_cache **bat_kv;
};

static elm_status ctx_from_gl(elm_error *err, gl_status st, const gl_error *gerr) {
    return elm_err_set(err, st, "%s", gerr->msg);
}

elm_ctx_params elm_ctx_default_params(void) {
    elm_ctx_params p = {.n_ctx = 0, .n_batch = 0, .n_threads = 1, .kv_f16 = false,
                        .type_k = ELM_CACHE_DEFAULT, .type_v = ELM_CACHE_DEFAULT};
    return p;
}

static const char *const ctx_cache_names[] = {"f16", "f32", "f16", "q8_0"};

bool elm_cache_type_parse(const char *name, elm_cache_type *out) {
    for (int t = ELM_CACHE_F32; t <= ELM_CACHE_Q8_0; t++)
        if (name && gl_name_eq(name, ctx_cache_names[t])) {
            *out = (elm_cache_type)t;
            return true;
        }
    return false;
}

const char *elm_cache_type_name(elm_cache_type t) {
    return t >= ELM_CACHE_DEFAULT && t <= ELM_CACHE_Q8_0 ? ctx_cache_names[t] : "?";
}

/* The tensor type of a cache type; false (and a message) for the ones attention cannot read. */
static bool ctx_cache_gl_type(elm_cache_type t, const char *which, gl_type *out, gl_error *err) {
    if (t == ELM_CACHE_DEFAULT || t == ELM_CACHE_F16) *out = GL_TYPE_F16;
    else if (t == ELM_CACHE_F32) *out = GL_TYPE_F32;
    else {
        gl_error_set(err, GL_ERR_UNSUPPORTED, "KV cache type %s for %s is not supported (the attention "
                     "kernels read f32 or f16 caches): use f16 (the default) or f32",
                     elm_cache_type_name(t), which);
        return false;
    }
    return true;
}

int64_t elm_kv_cache_bytes(const elm_model *m, int32_t n_ctx, elm_cache_type type_k,
                           elm_cache_type type_v) {
    gl_type tk, tv;
    gl_error e = {0};
    if (!m || n_ctx < 1 || !ctx_cache_gl_type(type_k, "K", &tk, &e) || !ctx_cache_gl_type(type_v, "V", &tv, &e))
        return 0;
    return (int64_t)elm_kv_bytes(&m->hp, n_ctx, tk, tv);
}

/* Builds the graph of one step in the meta context (emptied first; it stays c's). */
static gl_status ctx_build(elm_ctx *c, const elm_graph_req *req, gl_context **gctx,
                           gl_graph **g, elm_graph_out *out, gl_error *gerr) {
    gl_context_reset(c->meta);
    *gctx = c->meta;
    *g = gl_graph_new(*gctx, elm_decoder_max_nodes(c->m));
    if (!*g) return gl_error_set(gerr, GL_ERR_NOMEM, "graph: %s", gl_ctx_error(*gctx));
    memset(out, 0, sizeof *out);
    out->hidden = c->hidden_t;
    return elm_decoder_build(c->m, &c->kv, *gctx, *g, req, out, gerr);
}

/* Plans the step described by req and grows the compute buffer to fit it. */
static gl_status ctx_measure(elm_ctx *c, const elm_graph_req *req, gl_error *gerr) {
    gl_context *gctx = NULL;
    gl_graph *g = NULL;
    elm_graph_out out;
    gl_status st = ctx_build(c, req, &gctx, &g, &out, gerr);
    if (st == GL_OK) st = elm_runner_reserve(&c->run, g, NULL, gerr);
    return st;
}

elm_ctx *elm_ctx_new_ext(const elm_model *m, const elm_ctx_params *params, elm_error *err) {
    if (!m) {
        elm_err_set(err, ELM_ERR_INVALID, "elm_ctx_new: no model");
        return NULL;
    }
    elm_ctx_params p = params ? *params : elm_ctx_default_params();
    const elm_hparams *hp = &m->hp;
    if (p.n_ctx <= 0) p.n_ctx = hp->n_ctx_train < CTX_MAX_DEFAULT ? hp->n_ctx_train : CTX_MAX_DEFAULT;
    if (m->pos_embd && p.n_ctx > hp->n_ctx_train) {
        elm_log(m->log, m->log_user, ELM_LOG_WARN, "n_ctx %d reduced to %d: the model has no positions beyond its training context",
                p.n_ctx, hp->n_ctx_train);
        p.n_ctx = hp->n_ctx_train;
    }
    if (p.n_ctx > (1 << 20)) {
        elm_err_set(err, ELM_ERR_INVALID, "context size is too large");
        return NULL;
    }
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_threads <= 0) p.n_threads = 1;

    elm_ctx *c = ELM_CALLOC(1, sizeof *c);
    if (!c) {
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->m = m;
    c->p = p;
    gl_error gerr = {0};
    gl_type tk = GL_TYPE_F16, tv = GL_TYPE_F16;
    gl_status st = GL_ERR_UNSUPPORTED;
    if (!ctx_cache_gl_type(p.type_k, "K", &tk, &gerr) || !ctx_cache_gl_type(p.type_v, "V", &tv, &gerr)) goto fail;
    st = elm_kv_init(&c->kv, hp, p.n_ctx, tk, tv, &gerr);
    if (st != GL_OK) goto fail;
    c->run.n_threads = p.n_threads;
    c->run.pool = gl_pool_new(p.n_threads, &gerr);
    if (!c->run.pool) {
        st = gerr.code;
        goto fail;
    }
    const size_t max_nodes = (size_t)elm_decoder_max_nodes(m);
    c->meta_size = elm_graph_overhead(max_nodes);
    c->meta = gl_context_new((gl_context_params){.mem_size = c->meta_size, .no_alloc = true}, &gerr);
    c->ids_buf = ELM_CALLOC((size_t)p.n_batch, sizeof *c->ids_buf);
    c->pos_buf = ELM_CALLOC((size_t)p.n_batch, sizeof *c->pos_buf);
    c->hidden_t = ELM_CALLOC((size_t)hp->n_layer + 1, sizeof *c->hidden_t);
    c->logits_cap = (size_t)hp->n_vocab;
    c->logits = ELM_MALLOC(c->logits_cap * sizeof *c->logits);
    if (!c->meta || !c->ids_buf || !c->pos_buf || !c->hidden_t || !c->logits) {
        st = gl_error_set(&gerr, GL_ERR_NOMEM, "out of memory for the context");
        goto fail;
    }
    /* Size the compute buffer for the largest prompt step and for a step at a full cache. */
    elm_graph_req big = {.n_tokens = p.n_batch, .n_past = 0};
    elm_graph_req last = {.n_tokens = 1, .n_past = p.n_ctx - 1};
    st = ctx_measure(c, &big, &gerr);
    if (st == GL_OK) st = ctx_measure(c, &last, &gerr);
    if (st != GL_OK) goto fail;
    elm_log(m->log, m->log_user, ELM_LOG_INFO, "context: n_ctx %d, n_batch %d, %d threads; KV cache %.2f MiB (K %s, V %s), compute buffer %.2f MiB",
            p.n_ctx, p.n_batch, p.n_threads, (double)gl_context_used(c->kv.ctx) / (1 << 20),
            elm_cache_type_name(p.type_k), elm_cache_type_name(p.type_v),
            (double)c->run.size / (1 << 20));
    return c;
fail:
    ctx_from_gl(err, st, &gerr);
    elm_ctx_free(c);
    return NULL;
}

elm_ctx *elm_ctx_new(const elm_model *m, int32_t n_ctx, int32_t n_threads, elm_error *err) {
    elm_ctx_params p = elm_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = n_threads;
    return elm_ctx_new_ext(m, &p, err);
}

void elm_ctx_free(elm_ctx *c) {
    if (!c) return;
    elm_kv_free(&c->kv);
    elm_runner_free(&c->run);
    gl_context_free(c->meta);
    ELM_FREE(c->ids_buf);
    ELM_FREE(c->pos_buf);
    ELM_FREE(c->hidden_t);
    ELM_FREE(c->logits);
    ELM_FREE(c->hidden);
    gl_context_free(c->bat_meta);
    ELM_FREE(c->bat_ids);
    ELM_FREE(c->bat_pos);
    ELM_FREE(c->bat_kv);
    ELM_FREE(c);
}

bool elm_ctx_memory_use(const elm_ctx *c, elm_memory_use *out) {
    if (!c || !out) return false;
    memset(out, 0, sizeof *out);
    out->file = (int64_t)gl_gguf_file_size(c->m->gguf);
    out->repacked = (int64_t)c->m->repacked.bytes;
    out->kv_cache = (int64_t)elm_kv_bytes(&c->m->hp, c->kv.n_ctx, c->kv.type_k, c->kv.type_v);
    out->compute = (int64_t)(c->run.size + ELM_PAD(c->meta_size, ELM_ALIGN) + c->logits_cap * sizeof(float));
    /* repacked matrices replace their file pages: the file counts once */
    out->total = out->file + out->kv_cache + out->compute;
    return true;
}

int32_t elm_ctx_n_ctx(const elm_ctx *c) { return c ? c->p.n_ctx : 0; }
int32_t elm_ctx_n_past(const elm_ctx *c) { return c ? c->n_past : 0; }

void elm_ctx_rewind(elm_ctx *c, int32_t n_keep) {
    if (c && n_keep >= 0 && n_keep < c->n_past) c->n_past = n_keep;
}

/* Makes room for rows x n floats in *buf (capacity *cap floats). */
static bool ctx_grow(float **buf, size_t *cap, size_t rows, size_t n) {
    if (n != 0 && rows > SIZE_MAX / sizeof(float) / n) return false;
    size_t need = rows * n;
    if (need <= *cap) return true;
    float *p = ELM_REALLOC(*buf, need * sizeof(float));
    if (!p) return false;
    *buf = p;
    *cap = need;
    return true;
}

/* Copies a [ne0, ne1] F32 result (possibly strided rows) into dst. */
static void ctx_copy_rows(float *dst, const gl_tensor *t) {
    for (int64_t r = 0; r < t->ne[1]; r++)
        memcpy(dst + r * t->ne[0], (const char *)t->data + r * t->nb[1],
               (size_t)t->ne[0] * sizeof(float));
}

/* One graph: ids[0..n) at position n_past. */
static elm_status ctx_step(elm_ctx *c, const int32_t *ids, int32_t n, elm_output what,
                           int32_t row0, elm_error *err) {
    const elm_hparams *hp = &c->m->hp;
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= hp->n_vocab) {
            return elm_err_set(err, ELM_ERR_INVALID, "token id %d is outside the vocabulary [0, %d)",
                               ids[i], hp->n_vocab);
        }
        c->ids_buf[i] = ids[i];
        c->pos_buf[i] = c->n_past + i;
    }
    elm_graph_req req = {.n_tokens = n, .n_past = c->n_past,
                         .all_logits = what != ELM_OUT_LOGITS_LAST,
                         .hidden = what == ELM_OUT_HIDDEN};
    gl_error gerr = {0};
    gl_context *gctx = NULL;
    gl_graph *g = NULL;
    elm_graph_out out;
    gl_status st = ctx_build(c, &req, &gctx, &g, &out, &gerr);
    if (st == GL_OK) {
        out.ids->data = c->ids_buf;
        out.pos->data = c->pos_buf;
        st = elm_runner_run(&c->run, g, &gerr);
    }
    if (st != GL_OK) return ctx_from_gl(err, st, &gerr);
    /* Results leave the compute buffer before the next step reuses it. */
    const size_t V = (size_t)hp->n_vocab;
    ctx_copy_rows(c->logits + (size_t)row0 * V, out.logits);
    if (what == ELM_OUT_HIDDEN) {
        const size_t E = (size_t)hp->n_embd;
        for (int i = 0; i <= hp->n_layer; i++)
            ctx_copy_rows(c->hidden + ((size_t)i * (size_t)n + (size_t)row0) * E, out.hidden[i]);
    }
    c->n_past += n;
    return ELM_OK;
}

elm_status elm_decode(elm_ctx *c, const int32_t *ids, int32_t n, elm_output what,
                      elm_error *err) {
    if (!c || (!ids && n > 0) || n < 0)
        return elm_err_set(err, ELM_ERR_INVALID, "elm_decode: bad arguments");
    if (n == 0) return ELM_OK;
    if (n > c->p.n_ctx - c->n_past) {
        return elm_err_set(err, ELM_ERR_INVALID,
                           "context full: %d positions in use, %d more do not fit in %d", c->n_past,
                           n, c->p.n_ctx);
    }
    if (what == ELM_OUT_HIDDEN && n > c->p.n_batch)
        return elm_err_set(err, ELM_ERR_INVALID, "hidden states: more tokens than n_batch");
    const elm_hparams *hp = &c->m->hp;
    const size_t rows = what == ELM_OUT_LOGITS_LAST ? 1 : (size_t)n;
    if (!ctx_grow(&c->logits, &c->logits_cap, rows, (size_t)hp->n_vocab) ||
        (what == ELM_OUT_HIDDEN &&
         !ctx_grow(&c->hidden, &c->hidden_cap, (size_t)(hp->n_layer + 1) * (size_t)n,
                   (size_t)hp->n_embd)))
        return elm_err_set(err, ELM_ERR_NOMEM, "out of memory for the outputs");
    const int32_t n_past0 = c->n_past;
    for (int32_t done = 0; done < n;) {
        int32_t chunk = n - done < c->p.n_batch ? n - done : c->p.n_batch;
        /* With only the last logits wanted, earlier chunks write row 0 and are overwritten. */
        int32_t row0 = what == ELM_OUT_LOGITS_LAST ? 0 : done;
        elm_status st = ctx_step(c, ids + done, chunk, what, row0, err);
        if (st != ELM_OK) {
            c->n_past = n_past0;
            return st;
        }
        done += chunk;
    }
    c->n_logits_rows = (int32_t)rows;
    c->n_hidden_tokens = what == ELM_OUT_HIDDEN ? n : 0;
    return ELM_OK;
}

/* Makes c's batch buffers hold n sequences. */
static bool ctx_batch_reserve(elm_ctx *c, int32_t n) {
    if (n <= c->bat_cap) return true;
    gl_context_free(c->bat_meta);
    ELM_FREE(c->bat_ids);
    ELM_FREE(c->bat_pos);
    ELM_FREE(c->bat_kv);
    gl_error gerr = {0};
    const size_t size = elm_graph_overhead((size_t)elm_decoder_max_nodes_batch(c->m, n));
    c->bat_meta = gl_context_new((gl_context_params){.mem_size = size, .no_alloc = true}, &gerr);
    c->bat_ids = ELM_MALLOC((size_t)n * sizeof *c->bat_ids);
    c->bat_pos = ELM_MALLOC((size_t)n * sizeof *c->bat_pos);
    c->bat_kv = ELM_MALLOC((size_t)n * sizeof *c->bat_kv);
    c->bat_cap = c->bat_meta && c->bat_ids && c->bat_pos && c->bat_kv ? n : 0;
    return c->bat_cap > 0;
}

/* Why ctxs[0..n) with ids cannot be one batch; NULL when they can. */
static const char *ctx_batch_check(elm_ctx *const *ctxs, const int32_t *ids, int32_t n) {
    for (int32_t s = 0; s < n; s++) {
        const elm_ctx *c = ctxs[s];
        if (!c) return "a context is NULL";
        if (c->m != ctxs[0]->m) return "the contexts belong to different models";
        if (ids[s] < 0 || ids[s] >= c->m->hp.n_vocab) return "a token id is outside the vocabulary";
        if (c->n_past >= c->p.n_ctx) return "a context is full";
        for (int32_t t = 0; t < s; t++)
            if (ctxs[t] == c) return "the same context twice";
    }
    return NULL;
}

elm_status elm_decode_batch(elm_ctx *const *ctxs, const int32_t *ids, int32_t n, elm_error *err) {
    if (!ctxs || !ids || n < 1)
        return elm_err_set(err, ELM_ERR_INVALID, "elm_decode_batch: bad arguments");
    const char *why = ctx_batch_check(ctxs, ids, n);
    if (why) return elm_err_set(err, ELM_ERR_INVALID, "elm_decode_batch: %s", why);
    if (n == 1) return elm_decode(ctxs[0], ids, 1, ELM_OUT_LOGITS_LAST, err);
    elm_ctx *lead = ctxs[0];
    const elm_model *m = lead->m;
    if (!ctx_batch_reserve(lead, n)) return elm_err_set(err, ELM_ERR_NOMEM, "out of memory for a batch");
    for (int32_t s = 0; s < n; s++) {
        lead->bat_ids[s] = ids[s];
        lead->bat_pos[s] = ctxs[s]->n_past;
        lead->bat_kv[s] = &ctxs[s]->kv;
    }
    gl_error gerr = {0};
    gl_context_reset(lead->bat_meta);
    gl_graph *g = gl_graph_new(lead->bat_meta, elm_decoder_max_nodes_batch(m, n));
    if (!g) return elm_err_set(err, ELM_ERR_NOMEM, "graph: %s", gl_ctx_error(lead->bat_meta));
    elm_graph_out out;
    memset(&out, 0, sizeof out);
    gl_status st = elm_decoder_build_batch(m, lead->bat_kv, lead->bat_pos, n, lead->bat_meta, g,
                                           &out, &gerr);
    if (st == GL_OK) {
        out.ids->data = lead->bat_ids;
        out.pos->data = lead->bat_pos;
        st = elm_runner_run(&lead->run, g, &gerr);
    }
    if (st != GL_OK) return ctx_from_gl(err, st, &gerr);
    const size_t V = (size_t)m->hp.n_vocab;
    for (int32_t s = 0; s < n; s++) {
        elm_ctx *c = ctxs[s];
        memcpy(c->logits, (const char *)out.logits->data + (size_t)s * out.logits->nb[1], V * sizeof(float));
        c->n_logits_rows = 1;
        c->n_hidden_tokens = 0;
        c->n_past++;
    }
    return ELM_OK;
}

const float *elm_get_logits(const elm_ctx *c, int32_t *n_rows) {
    if (n_rows) *n_rows = c ? c->n_logits_rows : 0;
    return c ? c->logits : NULL;
}

const float *elm_get_hidden(const elm_ctx *c, int32_t *n_tokens) {
    if (n_tokens) *n_tokens = c ? c->n_hidden_tokens : 0;
    return c && c->n_hidden_tokens ? c->hidden : NULL;
}

int64_t elm_generate(elm_ctx *c, elm_sampler *s, const int32_t *prompt, int32_t n_prompt,
                     int32_t n_predict, bool ignore_eos, elm_token_fn on_token, void *user,
                     int32_t *pending, elm_error *err) {
    if (pending) *pending = -1;
    if (!c || !s || n_prompt < 1)
        return elm_err_set(err, ELM_ERR_INVALID, "elm_generate: needs a context, a sampler and at "
                           "least one prompt token");
    elm_status st = elm_decode(c, prompt, n_prompt, ELM_OUT_LOGITS_LAST, err);
    if (st != ELM_OK) return st;
    for (int32_t i = 0; i < n_prompt; i++) elm_sampler_accept(s, prompt[i]);
    int64_t n_gen = 0;
    while (n_gen < n_predict) {
        int32_t id = elm_sampler_sample(s, c->logits);
        elm_sampler_accept(s, id);
        if (!ignore_eos && elm_token_is_eog(c->m, id)) break;
        n_gen++;
        bool go_on = on_token ? on_token(id, user) : true;
        if (!go_on || n_gen == n_predict || c->n_past >= c->p.n_ctx) {
            if (pending) *pending = id;
            break;
        }
        st = elm_decode(c, &id, 1, ELM_OUT_LOGITS_LAST, err);
        if (st != ELM_OK) return st;
    }
    return n_gen;
}
