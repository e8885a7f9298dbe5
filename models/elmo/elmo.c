/*
 * elmo.c — the ELMo runtime: character ids, char CNN, highway, projection, the biLSTM
 * language model, and the scalar mix (public API: include/edgelm.h, section "ELMo").
 *
 * One call of elm_elmo_run builds one graph for the whole batch (B sentences padded to
 * T = longest + 2 positions, including <S> and </S>):
 *
 *   ids I32 [max_chars * T * B] → get_rows(char_embd) → [E, max_chars, T*B]
 *     → per filter i: conv1d_max (valid conv, max over positions, + bias) → relu | tanh
 *     → concat [D, T*B] → highway × n_highway → proj (W x + b) → tok [P, T*B]     (layer 0)
 *   per layer l and direction d:
 *     xw = W_in · x + bias            one mat-mat for all positions  [4C, T, B]
 *     h  = gl_lstm(xw, W_rec, W_proj, state[d][l], lens, forget_bias, clips, reverse = d)
 *     h += x when skip connections are on and l > 0
 *
 * The backward direction runs each row over its own length (lens): gl_lstm's padded steps
 * (t >= lens[b]) keep the state, so the reverse pass starts at the row's </S> — exactly
 * bilm-tf's reversal over the true length. The LSTM states live in this object: stateless
 * calls zero them first, stateful calls carry them (row b of the batch ↔ column b).
 */
#include "alloc.h"
#include "elmo.h"
#include "common.h"
#include "ggml-lite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELMO_MAX_FILTERS 64
#define ELMO_MAX_HIGHWAY 16
#define ELMO_MAX_LAYERS 16
#define ELMO_MAX_BATCH 4096
#define ELMO_MAX_TOKENS 100000 /* per sentence */

/* The read-only part (file, hyperparameters, weight tensors): an elm_elmo_model holds it, and
 * every elm_elmo (a context) a copy of the same pointers, under the same names as its own
 * fields (the anonymous struct of the union below). */
#define ELMO_WEIGHT_FIELDS                                                                    \
    gl_gguf *gguf;                                                                            \
    elm_elmo_hparams hp;                                                                      \
    gl_context *wctx; /* headers of the weight tensors (data stays in the mapped file) */    \
    gl_tensor *char_embd;                                                                     \
    gl_tensor *cnn_w[ELMO_MAX_FILTERS], *cnn_b[ELMO_MAX_FILTERS];                             \
    gl_tensor *hw_w[ELMO_MAX_HIGHWAY], *hw_b[ELMO_MAX_HIGHWAY];                               \
    gl_tensor *proj_w, *proj_b;                                                               \
    gl_tensor *in_w[2][ELMO_MAX_LAYERS], *rec_w[2][ELMO_MAX_LAYERS];                          \
    gl_tensor *bias[2][ELMO_MAX_LAYERS], *lproj_w[2][ELMO_MAX_LAYERS];

typedef struct elmo_weights {
    ELMO_WEIGHT_FIELDS
} elmo_weights;

struct elm_elmo_model {
    elmo_weights w;
};

struct elm_elmo {
    union {
        elmo_weights w; /* copied from the model at creation */
        struct {
            ELMO_WEIGHT_FIELDS
        };
    };
    elm_elmo_model *owned; /* the model elm_elmo_load made for this context alone (else NULL) */
    gl_context *meta;      /* the graph context of every run (its size depends on the model only) */
    int32_t *lens;         /* sequence lengths of the current batch, grown with state_cap */
    int32_t lens_cap;
    elm_runner run; /* pool (NULL: one thread) + graph buffer, grown on demand */
    bool stateful;
    float *state;      /* [2][n_layers][state_cap][cell + proj] */
    int32_t state_cap; /* columns (batch rows) held per (direction, layer) */
    int32_t *ids;      /* character ids of the current batch */
    size_t ids_cap;
};

/* ------------------------------------------------------------------------------------------
 * Character ids
 * ---------------------------------------------------------------------------------------- */

void elm_elmo_char_ids(const char *word, size_t len, int32_t max_chars, int32_t *out) {
    if (max_chars <= 0) return;
    for (int32_t i = 0; i < max_chars; i++) out[i] = ELM_ELMO_PAD_CHAR + 1;
    if (max_chars < 3) return;
    int32_t special = -1;
    if (len == 3 && memcmp(word, "<S>", 3) == 0) special = ELM_ELMO_BOS_CHAR;
    if (len == 4 && memcmp(word, "</S>", 4) == 0) special = ELM_ELMO_EOS_CHAR;
    out[0] = ELM_ELMO_BOW_CHAR + 1;
    if (special >= 0) {
        out[1] = special + 1;
        out[2] = ELM_ELMO_EOW_CHAR + 1;
        return;
    }
    /* UTF-8 bytes cut at max_chars - 2 bytes (even inside a character, as the reference) */
    size_t n = len < (size_t)(max_chars - 2) ? len : (size_t)(max_chars - 2);
    for (size_t k = 0; k < n; k++) out[1 + k] = (int32_t)(unsigned char)word[k] + 1;
    out[n + 1] = ELM_ELMO_EOW_CHAR + 1;
}

/* ------------------------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------------------------- */

static bool elmo_get_float(const gl_gguf *g, const char *key, float dflt, float *out, elm_error *err) {
    int64_t i = gl_gguf_find_key(g, key);
    double v;
    if (i < 0) {
        *out = dflt;
        return true;
    }
    if (!gl_gguf_get_f64(g, i, &v) || !isfinite(v) || fabs(v) > 1e30) {
        elm_err_set(err, ELM_ERR_FORMAT, "elmo: metadata %s is not a finite number", key);
        return false;
    }
    *out = (float)v;
    return true;
}

static elm_status elmo_read_hparams(const gl_gguf *g, elm_elmo_hparams *hp, elm_error *err) {
    if (!elm_load_arch(g, ELM_FAMILY_ELMO, err)) return err->code;
    elm_loader ld = {.gguf = g, .err = err, .who = "elmo: "};
    hp->emb_dim = elm_load_int(&ld, "elmo.char_cnn.embedding.dim", 1, 4096, -1);
    hp->n_chars = elm_load_int(&ld, "elmo.char_cnn.n_characters", 2, 1 << 20, -1);
    hp->max_chars = elm_load_int(&ld, "elmo.char_cnn.max_characters_per_token", 3, 1024, -1);
    hp->n_highway = elm_load_int(&ld, "elmo.char_cnn.n_highway", 0, ELMO_MAX_HIGHWAY, 0);
    hp->cell = elm_load_int(&ld, "elmo.lstm.dim", 1, 1 << 16, -1);
    hp->proj = elm_load_int(&ld, "elmo.lstm.projection_dim", 1, 1 << 16, -1);
    hp->n_layers = elm_load_int(&ld, "elmo.lstm.n_layers", 1, ELMO_MAX_LAYERS, -1);
    if (ld.failed) return err->code;
    if (hp->n_chars < ELM_ELMO_PAD_CHAR + 2)
        return elm_err_set(err, ELM_ERR_FORMAT, "elmo: n_characters %d cannot hold the ids up to %d",
                           hp->n_chars, ELM_ELMO_PAD_CHAR + 1);
    if (!elmo_get_float(g, "elmo.lstm.cell_clip", 0, &hp->cell_clip, err) ||
        !elmo_get_float(g, "elmo.lstm.proj_clip", 0, &hp->proj_clip, err) ||
        !elmo_get_float(g, "elmo.lstm.forget_bias", 1.0f, &hp->forget_bias, err))
        return err->code;
    int64_t si = gl_gguf_find_key(g, "elmo.lstm.use_skip_connections");
    hp->skip = false;
    if (si >= 0 && !gl_gguf_get_bool(g, si, &hp->skip))
        return elm_err_set(err, ELM_ERR_FORMAT, "elmo: elmo.lstm.use_skip_connections is not a bool");
    int64_t act = gl_gguf_find_key(g, "elmo.char_cnn.activation");
    if (act < 0 || gl_gguf_kv_type(g, act) != GL_GGUF_STRING)
        return elm_err_set(err, ELM_ERR_FORMAT, "elmo: elmo.char_cnn.activation is missing");
    gl_str a = gl_gguf_get_str(g, act);
    if (!gl_str_eq(a, "relu") && !gl_str_eq(a, "tanh"))
        return elm_err_set(err, ELM_ERR_UNSUPPORTED, "elmo: char CNN activation '%.*s' (relu or tanh)",
                           (int)(a.len > 32 ? 32 : a.len), a.data);
    hp->relu = gl_str_eq(a, "relu");
    int64_t fi = gl_gguf_find_key(g, "elmo.char_cnn.filters");
    uint64_t nf = fi >= 0 && gl_gguf_kv_type(g, fi) == GL_GGUF_ARRAY ? gl_gguf_arr_n(g, fi) : 0;
    if (nf < 2 || nf % 2 || nf / 2 > ELMO_MAX_FILTERS)
        return elm_err_set(err, ELM_ERR_FORMAT, "elmo: elmo.char_cnn.filters must hold 1 to %d (width, count) pairs",
                           ELMO_MAX_FILTERS);
    hp->n_filters = (int32_t)(nf / 2);
    hp->filters_total = 0;
    for (int32_t i = 0; i < hp->n_filters; i++) {
        int64_t w, c;
        if (!gl_gguf_arr_get_i64(g, fi, 2 * (uint64_t)i, &w) || !gl_gguf_arr_get_i64(g, fi, 2 * (uint64_t)i + 1, &c) ||
            w < 1 || w > hp->max_chars || c < 1 || c > (1 << 16))
            return elm_err_set(err, ELM_ERR_FORMAT, "elmo: filter %d is not a valid (width, count)", i);
        hp->widths[i] = (int32_t)w;
        hp->counts[i] = (int32_t)c;
        hp->filters_total += (int32_t)c;
    }
    return ELM_OK;
}

static elm_status elmo_bind(elm_elmo *m, elm_error *err) {
    /* Vectors (biases) are read by element-wise ops: float only, BF16 included. */
    elm_loader ld = {.gguf = m->gguf, .wctx = m->wctx, .err = err, .who = "elmo: ", .vec_bf16 = true};
    const elm_elmo_hparams *hp = &m->hp;
    const int64_t E = hp->emb_dim, D = hp->filters_total, P = hp->proj, C = hp->cell;
    if (!(m->char_embd = elm_load_tensor(&ld, true, E, hp->n_chars, "char_embd.weight"))) return err->code;
    for (int i = 0; i < hp->n_filters; i++) {
        m->cnn_w[i] = elm_load_tensor(&ld, true, E * hp->widths[i], hp->counts[i], "cnn.%d.weight", i);
        m->cnn_b[i] = elm_load_tensor(&ld, true, hp->counts[i], 0, "cnn.%d.bias", i);
    }
    for (int k = 0; k < hp->n_highway; k++) {
        m->hw_w[k] = elm_load_tensor(&ld, true, D, 2 * D, "highway.%d.weight", k);
        m->hw_b[k] = elm_load_tensor(&ld, true, 2 * D, 0, "highway.%d.bias", k);
    }
    if (ld.failed) return err->code;
    m->proj_w = elm_load_tensor(&ld, false, D, P, "proj.weight");
    m->hp.has_proj = m->proj_w != NULL;
    if (m->proj_w && !(m->proj_b = elm_load_tensor(&ld, true, P, 0, "proj.bias"))) return err->code;
    if (ld.failed) return err->code;
    if (!m->proj_w && D != P)
        return elm_err_set(err, ELM_ERR_FORMAT, "elmo: proj.weight is missing but %lld filters != projection_dim %lld",
                           (long long)D, (long long)P);
    static const char *dirs[2] = {"fwd", "bwd"};
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < hp->n_layers; l++) {
            m->in_w[d][l] = elm_load_tensor(&ld, true, P, 4 * C, "lstm.%s.%d.in.weight", dirs[d], l);
            m->rec_w[d][l] = elm_load_tensor(&ld, true, P, 4 * C, "lstm.%s.%d.rec.weight", dirs[d], l);
            m->bias[d][l] = elm_load_tensor(&ld, true, 4 * C, 0, "lstm.%s.%d.bias", dirs[d], l);
            m->lproj_w[d][l] = elm_load_tensor(&ld, false, C, P, "lstm.%s.%d.proj.weight", dirs[d], l);
            if (ld.failed) return err->code;
            if (!m->lproj_w[d][l] && C != P)
                return elm_err_set(err, ELM_ERR_FORMAT, "elmo: lstm.%s.%d.proj.weight is missing but lstm.dim != "
                                   "projection_dim", dirs[d], l);
        }
    m->hp.has_lstm_proj = m->lproj_w[0][0] != NULL;
    /* The character embedding is a matrix but gathered row by row: float only as well. */
    const gl_type ct = m->char_embd->type;
    if (ct != GL_TYPE_F32 && ct != GL_TYPE_F16 && ct != GL_TYPE_BF16)
        return elm_err_set(err, ELM_ERR_UNSUPPORTED, "elmo: char_embd and biases must be f32/f16/bf16");
    return ELM_OK;
}

elm_elmo_params elm_elmo_default_params(void) {
    elm_elmo_params p = {.n_threads = 1, .stateful = false};
    return p;
}

/* Nodes of one run's graph (for any batch: the graph is per layer, not per sentence). */
static int elmo_max_nodes(const elm_elmo_hparams *hp) {
    return 128 + 8 * hp->n_filters + 4 * hp->n_highway + 24 * hp->n_layers;
}

/* Reads the hyperparameters and binds the weights of g (taken over: closed on failure) into a
 * new model; a zeroed elm_elmo stages them for the binding code. */
static elm_elmo_model *elmo_model_from_gguf(gl_gguf *g, const gl_error *gerr, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!g) {
        elm_err_from_gl(err, gerr);
        return NULL;
    }
    elm_elmo *m = ELM_CALLOC(1, sizeof *m);
    elm_elmo_model *model = ELM_CALLOC(1, sizeof *model);
    if (!m || !model) {
        gl_gguf_close(g);
        ELM_FREE(m);
        ELM_FREE(model);
        elm_err_set(err, ELM_ERR_NOMEM, "elmo: out of memory");
        return NULL;
    }
    m->gguf = g;
    gl_error ge = {0};
    if (elmo_read_hparams(g, &m->hp, err) != ELM_OK) goto fail;
    if (!(m->wctx = elm_weight_ctx_new(g, &ge))) {
        elm_err_from_gl(err, &ge);
        goto fail;
    }
    if (elmo_bind(m, err) != ELM_OK) goto fail;
    model->w = m->w;
    ELM_FREE(m);
    return model;
fail:
    gl_context_free(m->wctx);
    gl_gguf_close(m->gguf);
    ELM_FREE(m);
    ELM_FREE(model);
    return NULL;
}

elm_elmo_model *elm_elmo_model_load(const char *path, elm_error *err) {
    gl_error ge = {0};
    return elmo_model_from_gguf(gl_gguf_open(path, &ge), &ge, err);
}

elm_elmo_model *elm_elmo_model_load_memory(const void *data, size_t size, elm_error *err) {
    gl_error ge = {0};
    return elmo_model_from_gguf(gl_gguf_open_buffer(data, size, &ge), &ge, err);
}

void elm_elmo_model_free(elm_elmo_model *model) {
    if (!model) return;
    gl_context_free(model->w.wctx);
    gl_gguf_close(model->w.gguf);
    ELM_FREE(model);
}

elm_elmo *elm_elmo_new(const elm_elmo_model *model, const elm_elmo_params *params, elm_error *err) {
    if (!model) {
        elm_err_set(err, ELM_ERR_INVALID, "elm_elmo_new: no model");
        return NULL;
    }
    elm_elmo *m = ELM_CALLOC(1, sizeof *m);
    if (!m) {
        elm_err_set(err, ELM_ERR_NOMEM, "elmo: out of memory");
        return NULL;
    }
    m->w = model->w;
    elm_elmo_params p = params ? *params : elm_elmo_default_params();
    m->run.n_threads = p.n_threads > 0 ? p.n_threads : 1;
    m->stateful = p.stateful;
    gl_error ge = {0};
    const size_t max_nodes = (size_t)elmo_max_nodes(&m->hp);
    gl_context_params cp = {.mem_size = elm_graph_overhead(max_nodes), .no_alloc = true};
    if (!(m->meta = gl_context_new(cp, &ge))) {
        elm_err_from_gl(err, &ge);
        elm_elmo_free(m);
        return NULL;
    }
    if (m->run.n_threads > 1 && !(m->run.pool = gl_pool_new(m->run.n_threads, &ge))) {
        elm_err_from_gl(err, &ge);
        elm_elmo_free(m);
        return NULL;
    }
    return m;
}

/* A context that owns its model (freed with it). */
static elm_elmo *elmo_new_owning(elm_elmo_model *model, const elm_elmo_params *params, elm_error *err) {
    if (!model) return NULL;
    elm_elmo *m = elm_elmo_new(model, params, err);
    if (!m) {
        elm_elmo_model_free(model);
        return NULL;
    }
    m->owned = model;
    return m;
}

elm_elmo *elm_elmo_load(const char *path, const elm_elmo_params *params, elm_error *err) {
    return elmo_new_owning(elm_elmo_model_load(path, err), params, err);
}

elm_elmo *elm_elmo_load_memory(const void *data, size_t size, const elm_elmo_params *params,
                               elm_error *err) {
    return elmo_new_owning(elm_elmo_model_load_memory(data, size, err), params, err);
}

void elm_elmo_free(elm_elmo *m) {
    if (!m) return;
    elm_runner_free(&m->run);
    gl_context_free(m->meta);
    ELM_FREE(m->lens);
    ELM_FREE(m->state);
    ELM_FREE(m->ids);
    elm_elmo_model_free(m->owned); /* the weights belong to the model, never to a context */
    ELM_FREE(m);
}

int32_t elm_elmo_n_layers(const elm_elmo *m) { return m ? m->hp.n_layers + 1 : 0; }
int32_t elm_elmo_dim(const elm_elmo *m) { return m ? 2 * m->hp.proj : 0; }
int32_t elm_elmo_max_chars(const elm_elmo *m) { return m ? m->hp.max_chars : 0; }
elm_elmo_macs elm_elmo_macs_per_token(const elm_elmo *m) {
    elm_elmo_macs r = {0, 0, 0};
    if (!m) return r;
    const elm_elmo_hparams *hp = &m->hp;
    for (int i = 0; i < hp->n_filters; i++)
        r.cnn += (double)(hp->max_chars - hp->widths[i] + 1) * hp->widths[i] * hp->emb_dim * hp->counts[i];
    r.highway = 2.0 * hp->n_highway * hp->filters_total * (double)hp->filters_total +
                (hp->has_proj ? (double)hp->filters_total * hp->proj : 0);
    const double per = 8.0 * hp->proj * hp->cell + (hp->has_lstm_proj ? (double)hp->cell * hp->proj : 0);
    r.lstm = 2.0 * hp->n_layers * per;
    return r;
}

/* ------------------------------------------------------------------------------------------
 * LSTM states
 * ---------------------------------------------------------------------------------------- */

static size_t elmo_state_col(const elm_elmo *m) { return (size_t)m->hp.cell + (size_t)m->hp.proj; }

/* State block of (direction d, layer l): state_cap columns of cell + proj floats. */
static float *elmo_state(const elm_elmo *m, int d, int l) {
    return m->state + ((size_t)d * m->hp.n_layers + (size_t)l) * m->state_cap * elmo_state_col(m);
}

void elm_elmo_reset(elm_elmo *m) {
    if (m && m->state)
        memset(m->state, 0, 2 * (size_t)m->hp.n_layers * m->state_cap * elmo_state_col(m) * sizeof(float));
}

void elm_elmo_set_stateful(elm_elmo *m, bool stateful) {
    if (!m) return;
    m->stateful = stateful;
    elm_elmo_reset(m);
}

/* Makes room for B rows, keeping the rows already carried. */
static elm_status elmo_state_reserve(elm_elmo *m, int32_t B, elm_error *err) {
    if (B <= m->state_cap) return ELM_OK;
    const size_t col = elmo_state_col(m), blocks = 2 * (size_t)m->hp.n_layers;
    float *s = ELM_CALLOC(blocks * (size_t)B * col, sizeof *s);
    if (!s) return elm_err_set(err, ELM_ERR_NOMEM, "elmo: out of memory for LSTM states");
    for (size_t k = 0; k < blocks && m->state; k++)
        memcpy(s + k * (size_t)B * col, m->state + k * (size_t)m->state_cap * col,
               (size_t)m->state_cap * col * sizeof *s);
    ELM_FREE(m->state);
    m->state = s;
    m->state_cap = B;
    return ELM_OK;
}

/* ------------------------------------------------------------------------------------------
 * The graph
 * ---------------------------------------------------------------------------------------- */

typedef struct elmo_graph {
    gl_tensor *tok;                              /* [P, T*B] (layer 0) */
    gl_tensor *h[ELMO_MAX_LAYERS][2];            /* [P, T, B] per layer and direction */
} elmo_graph;

/* Char CNN + highway + projection for every position: [P, N]. */
static gl_tensor *elmo_token_embedding(const elm_elmo *m, gl_context *ctx, gl_tensor *ids, int64_t N) {
    const elm_elmo_hparams *hp = &m->hp;
    gl_tensor *emb = gl_get_rows(ctx, m->char_embd, ids); /* [E, max_chars * N] */
    gl_tensor *x = emb ? gl_reshape_3d(ctx, emb, hp->emb_dim, hp->max_chars, N) : NULL;
    gl_tensor *cat = NULL;
    for (int i = 0; i < hp->n_filters; i++) {
        gl_tensor *c = gl_conv1d_max(ctx, x, m->cnn_w[i], m->cnn_b[i], hp->widths[i]); /* [n_i, N] */
        c = hp->relu ? gl_relu(ctx, c) : gl_tanh(ctx, c);
        cat = i == 0 ? c : gl_concat(ctx, cat, c, 0);
    }
    for (int k = 0; k < hp->n_highway; k++) cat = gl_highway(ctx, cat, m->hw_w[k], m->hw_b[k]);
    if (m->proj_w) cat = gl_add(ctx, gl_mul_mat(ctx, m->proj_w, cat), m->proj_b);
    return cat;
}

static void elmo_build(const elm_elmo *m, gl_context *ctx, gl_tensor *ids, gl_tensor *lens,
                       gl_tensor *const states[2][ELMO_MAX_LAYERS], int64_t T, int64_t B, elmo_graph *g) {
    const elm_elmo_hparams *hp = &m->hp;
    g->tok = elmo_token_embedding(m, ctx, ids, T * B);
    gl_tensor *tok3 = g->tok ? gl_reshape_3d(ctx, g->tok, hp->proj, T, B) : NULL;
    for (int d = 0; d < 2; d++) {
        gl_tensor *x = tok3;
        for (int l = 0; l < hp->n_layers; l++) {
            gl_tensor *xw = gl_add(ctx, gl_mul_mat(ctx, m->in_w[d][l], x), m->bias[d][l]); /* [4C, T, B] */
            gl_tensor *h = gl_lstm(ctx, xw, m->rec_w[d][l], m->lproj_w[d][l], states[d][l], lens,
                                   hp->forget_bias, hp->cell_clip, hp->proj_clip, d == 1);
            if (hp->skip && l > 0) h = gl_add(ctx, h, x);
            g->h[l][d] = h;
            x = h;
        }
    }
}

/* Fills the character ids of the batch: row-major [b][t][char], <S>/</S> around each row. */
static elm_status elmo_fill_ids(elm_elmo *m, int32_t B, int64_t T, const char *const *const *tokens,
                                const int32_t *n_tokens, elm_error *err) {
    const int32_t mc = m->hp.max_chars;
    const size_t need = (size_t)B * (size_t)T * (size_t)mc;
    if (need > m->ids_cap) {
        ELM_FREE(m->ids);
        m->ids = ELM_MALLOC(need * sizeof *m->ids);
        m->ids_cap = m->ids ? need : 0;
        if (!m->ids) return elm_err_set(err, ELM_ERR_NOMEM, "elmo: out of memory for character ids");
    }
    memset(m->ids, 0, need * sizeof *m->ids); /* padding positions: all-zero rows */
    for (int32_t b = 0; b < B; b++) {
        const int64_t len = (int64_t)n_tokens[b] + 2;
        for (int64_t t = 0; t < len; t++) {
            int32_t *dst = m->ids + ((size_t)b * T + (size_t)t) * mc;
            const char *w = t == 0 ? "<S>" : t == len - 1 ? "</S>" : tokens[b][t - 1];
            if (!w) return elm_err_set(err, ELM_ERR_INVALID, "elmo: sentence %d: word %lld is NULL", b, (long long)t - 1);
            elm_elmo_char_ids(w, strlen(w), mc, dst);
        }
    }
    return ELM_OK;
}

/* Copies row b's real positions (1 .. n) of every layer into out [layer][token][2P]. */
static void elmo_copy_out(const elm_elmo *m, const elmo_graph *g, int64_t T, int32_t b, int32_t n, float *out) {
    const int64_t P = m->hp.proj, dim = 2 * P;
    for (int32_t i = 0; i < n; i++) {
        const int64_t t = i + 1;
        const float *tok = (const float *)((const char *)g->tok->data + (size_t)(t + T * b) * g->tok->nb[1]);
        float *o = out + (size_t)i * dim;
        memcpy(o, tok, (size_t)P * sizeof *o);
        memcpy(o + P, tok, (size_t)P * sizeof *o);
        for (int l = 0; l < m->hp.n_layers; l++) {
            o = out + ((size_t)(l + 1) * n + i) * dim;
            for (int d = 0; d < 2; d++) {
                const gl_tensor *h = g->h[l][d];
                const float *src = (const float *)((const char *)h->data + (size_t)t * h->nb[1] + (size_t)b * h->nb[2]);
                memcpy(o + d * P, src, (size_t)P * sizeof *o);
            }
        }
    }
}

elm_status elm_elmo_run(elm_elmo *m, int32_t n_sent, const char *const *const *tokens,
                        const int32_t *n_tokens, float *const *out, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!m || n_sent < 0 || (n_sent > 0 && (!tokens || !n_tokens)))
        return elm_err_set(err, ELM_ERR_INVALID, "elmo: bad arguments");
    if (n_sent == 0) return ELM_OK;
    if (n_sent > ELMO_MAX_BATCH) return elm_err_set(err, ELM_ERR_INVALID, "elmo: more than %d sentences in a batch", ELMO_MAX_BATCH);
    int64_t T = 0;
    for (int32_t b = 0; b < n_sent; b++) {
        if (n_tokens[b] < 0 || n_tokens[b] > ELMO_MAX_TOKENS || (n_tokens[b] > 0 && !tokens[b]))
            return elm_err_set(err, ELM_ERR_INVALID, "elmo: sentence %d has an invalid token count", b);
        if (n_tokens[b] + 2 > T) T = n_tokens[b] + 2;
    }
    const int64_t B = n_sent, N = T * B, L = m->hp.n_layers;
    if ((uint64_t)N * (uint64_t)m->hp.max_chars > (uint64_t)INT32_MAX)
        return elm_err_set(err, ELM_ERR_INVALID, "elmo: batch too large");
    elm_status st;
    if ((st = elmo_state_reserve(m, n_sent, err)) != ELM_OK) return st;
    if (!m->stateful) elm_elmo_reset(m);
    if ((st = elmo_fill_ids(m, n_sent, T, tokens, n_tokens, err)) != ELM_OK) return st;
    if (n_sent > m->lens_cap) { /* a larger batch than any before: the only allocation of a run */
        int32_t *l = ELM_REALLOC(m->lens, (size_t)n_sent * sizeof *l);
        if (!l) return elm_err_set(err, ELM_ERR_NOMEM, "elmo: out of memory");
        m->lens = l;
        m->lens_cap = n_sent;
    }
    int32_t *lens_data = m->lens;
    for (int32_t b = 0; b < n_sent; b++) lens_data[b] = n_tokens[b] + 2;

    gl_error ge = {0};
    const int max_nodes = elmo_max_nodes(&m->hp);
    gl_context *ctx = m->meta;
    gl_context_reset(ctx);
    int64_t ne_ids[1] = {N * m->hp.max_chars}, ne_lens[1] = {B};
    gl_tensor *ids = gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, ne_ids, m->ids);
    gl_tensor *lens = gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, ne_lens, lens_data);
    gl_tensor *states[2][ELMO_MAX_LAYERS] = {{0}};
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < L; l++) {
            int64_t ne[2] = {(int64_t)elmo_state_col(m), B};
            states[d][l] = gl_new_tensor_with_data(ctx, GL_TYPE_F32, 2, ne, elmo_state(m, d, l));
        }
    elmo_graph g;
    memset(&g, 0, sizeof g);
    elmo_build(m, ctx, ids, lens, states, T, B, &g);
    gl_graph *graph = gl_ctx_ok(ctx) ? gl_graph_new(ctx, max_nodes) : NULL;
    st = ELM_OK;
    if (!graph) {
        st = elm_err_set(err, ELM_ERR_INVALID, "elmo: building the graph: %s",
                         gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "out of memory");
        goto done;
    }
    gl_set_output(g.tok);
    for (int l = 0; l < L; l++)
        for (int d = 0; d < 2; d++) gl_set_output(g.h[l][d]);
    if (gl_graph_expand(graph, g.tok) != GL_OK) st = ELM_ERR_INVALID;
    for (int l = 0; l < L && st == ELM_OK; l++)
        for (int d = 0; d < 2 && st == ELM_OK; d++)
            if (gl_graph_expand(graph, g.h[l][d]) != GL_OK) st = ELM_ERR_INVALID;
    if (st != ELM_OK) {
        st = elm_err_set(err, ELM_ERR_INVALID, "elmo: graph too large: %s", gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "");
        goto done;
    }
    if (elm_runner_run(&m->run, graph, &ge) != GL_OK) {
        st = elm_err_from_gl(err, &ge);
        goto done;
    }
    for (int32_t b = 0; b < n_sent; b++)
        if (out && out[b]) elmo_copy_out(m, &g, T, b, n_tokens[b], out[b]);
done:
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Scalar mix
 * ---------------------------------------------------------------------------------------- */

elm_status elm_elmo_mix(const elm_elmo *m, const float *layers, int32_t n_tokens, const float *s,
                        float gamma, float *out, elm_error *err) {
    if (!m || n_tokens < 0 || (n_tokens > 0 && (!layers || !out)))
        return elm_err_set(err, ELM_ERR_INVALID, "elmo: bad arguments to elm_elmo_mix");
    const int32_t nl = elm_elmo_n_layers(m), dim = elm_elmo_dim(m);
    double w[ELMO_MAX_LAYERS + 1], mx = -INFINITY, sum = 0;
    for (int j = 0; j < nl; j++) {
        if (s && !isfinite(s[j])) return elm_err_set(err, ELM_ERR_INVALID, "elmo: mix weight %d is not finite", j);
        mx = fmax(mx, s ? s[j] : 0.0);
    }
    for (int j = 0; j < nl; j++) sum += (w[j] = exp((s ? s[j] : 0.0) - mx));
    for (int j = 0; j < nl; j++) w[j] = gamma * w[j] / sum;
    const size_t per_layer = (size_t)n_tokens * (size_t)dim;
    for (size_t i = 0; i < per_layer; i++) {
        double acc = 0;
        for (int j = 0; j < nl; j++) acc += w[j] * layers[(size_t)j * per_layer + i];
        out[i] = (float)acc;
    }
    return ELM_OK;
}
