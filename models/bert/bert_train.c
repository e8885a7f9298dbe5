/*
 * bert_train.c — fine-tuning a BERT-family GGUF file for sequence classification (public API:
 * include/edgelm.h, "BERT fine-tuning").
 *
 * Every tensor of the file is copied to F32 (dequantized) and owned by the trainer; the
 * trained ones are updated by AdamW (ggml-lite gl-opt.c) from gradients of the backward graph
 * (gl-backward.c). Each step builds the forward graph of the batch with the training-capable
 * ops: embeddings (get_rows), LayerNorm, attention composed of mul_mat / softmax with a mask
 * for the padded keys of shorter sequences, exact-GELU feed-forward, the pooler (tanh, or ReLU
 * for DistilBERT) on the first token and the classifier; dropout (seeded per step and site)
 * after the embeddings, on the attention probabilities, after each block's two sublayers and
 * before the classifier, as BertForSequenceClassification places it; mean cross-entropy.
 * A file without a classifier (or with another label count) gets a new one, initialised as
 * transformers does (normal(0, 0.02) weights from the seed, zero biases), and a pooler when
 * it has none. --freeze N keeps the embeddings and the first N layers as they are.
 * Token classification (ELM_BERT_TASK_TOKEN) puts a classifier ("cls.token") on every token
 * instead, with per-token labels (-1: not scored, e.g. a word's later pieces).
 * Question answering (ELM_BERT_TASK_QA) puts BertForQuestionAnswering's span head ("cls.qa",
 * start and end logits on every token) on the last layer, with no dropout before it; the loss
 * is the mean of the start and end cross-entropies over each sequence's real tokens (padded
 * positions are masked out, so a batch's padding does not change a sequence's loss).
 */
#include "alloc.h"
#include "edgelm.h"
#include "common.h"
#include "ggml-lite.h"
#include "quantize.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BT_MAX_TENSORS 4096

typedef struct bt_param {
    char name[GL_MAX_NAME];
    int64_t ne[2];
    int n_dims;
    float *data;
    bool trained;
} bt_param;

struct elm_bert_trainer {
    gl_gguf *gguf;
    elm_bert_train_params p;
    int32_t E, L, H, F, n_ctx, n_types, n_labels;
    float eps;
    bool relu_pooler;
    bt_param *params;
    int n_params;
    char **labels;
    gl_adamw *opt;
    gl_tensor **opt_params; /* leaves over the trained params' data (a context of their own) */
    gl_context *pctx;
    int64_t step;
};

elm_bert_train_params elm_bert_train_default_params(void) {
    elm_bert_train_params p = {.lr = 2e-5f, .weight_decay = 0.01f, .warmup_ratio = 0.0f, .dropout = 0.1f,
                               .total_steps = 0, .freeze = 0, .seed = 42, .n_threads = 1};
    return p;
}

static bt_param *bt_find(elm_bert_trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bt_param *bt_find(elm_bert_trainer *t, const char *fmt, ...) {
    char name[GL_MAX_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < t->n_params; i++)
        if (!strcmp(t->params[i].name, name)) return &t->params[i];
    return NULL;
}

/* splitmix64-based normal(0, sd) for new head weights (Box-Muller, a fixed order). */
static uint64_t bt_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float bt_normal(uint64_t *s, float sd) {
    double u1 = ((double)(bt_next(s) >> 11) + 1.0) * 0x1.0p-53, u2 = (double)(bt_next(s) >> 11) * 0x1.0p-53;
    return (float)(sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static bt_param *bt_add(elm_bert_trainer *t, const char *name, int64_t ne0, int64_t ne1, int n_dims) {
    if (t->n_params >= BT_MAX_TENSORS) return NULL;
    bt_param *p = &t->params[t->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ne[0] = ne0;
    p->ne[1] = ne1;
    p->n_dims = n_dims;
    if (!(p->data = ELM_CALLOC((size_t)(ne0 * ne1), sizeof(float)))) return NULL;
    t->n_params++;
    return p;
}

/* A new linear layer [in, out] normal(0, 0.02) + zero bias. */
static elm_status bt_new_linear(elm_bert_trainer *t, const char *base, int64_t in, int64_t out, uint64_t *rng,
                                elm_error *err) {
    char n[GL_MAX_NAME];
    snprintf(n, sizeof n, "%s.weight", base);
    bt_param *w = bt_add(t, n, in, out, 2);
    snprintf(n, sizeof n, "%s.bias", base);
    bt_param *b = w ? bt_add(t, n, out, 1, 1) : NULL;
    if (!w || !b) return elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
    for (int64_t i = 0; i < in * out; i++) w->data[i] = bt_normal(rng, 0.02f);
    return ELM_OK;
}

static elm_status bt_hparams(elm_bert_trainer *t, elm_error *err) {
    const gl_gguf *g = t->gguf;
    static const char *keys[5] = {"bert.embedding_length", "bert.block_count", "bert.attention.head_count",
                                  "bert.feed_forward_length", "bert.context_length"};
    int32_t *dst[5] = {&t->E, &t->L, &t->H, &t->F, &t->n_ctx};
    for (int k = 0; k < 5; k++) {
        int64_t i = gl_gguf_find_key(g, keys[k]);
        uint64_t v;
        if (i < 0 || !gl_gguf_get_u64(g, i, &v) || v < 1 || v > (1u << 20))
            return elm_err_set(err, ELM_ERR_FORMAT, "finetune: %s missing or out of range (a bert file?)", keys[k]);
        *dst[k] = (int32_t)v;
    }
    if (t->E % t->H) return elm_err_set(err, ELM_ERR_FORMAT, "finetune: heads do not divide the width");
    double eps = 1e-12;
    int64_t i = gl_gguf_find_key(g, "bert.attention.layer_norm_epsilon");
    if (i >= 0) gl_gguf_get_f64(g, i, &eps);
    t->eps = (float)eps;
    i = gl_gguf_find_key(g, "edgelm.bert.pooler_activation");
    t->relu_pooler = i >= 0 && gl_gguf_kv_type(g, i) == GL_GGUF_STRING && gl_str_eq(gl_gguf_get_str(g, i), "relu");
    return ELM_OK;
}

/* Every tensor of the file as F32. */
static elm_status bt_load_tensors(elm_bert_trainer *t, elm_error *err) {
    const gl_gguf *g = t->gguf;
    for (int64_t i = 0; i < gl_gguf_n_tensors(g); i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(g, i);
        const gl_type_traits *tt = gl_type_get(ti->type);
        if (ti->n_dims > 2 || !tt || !tt->to_float || ti->name.len >= GL_MAX_NAME)
            return elm_err_set(err, ELM_ERR_UNSUPPORTED, "finetune: tensor %.*s (type or shape)", (int)ti->name.len, ti->name.data);
        char name[GL_MAX_NAME];
        memcpy(name, ti->name.data, ti->name.len);
        name[ti->name.len] = '\0';
        bt_param *p = bt_add(t, name, ti->ne[0], ti->ne[1], ti->n_dims);
        if (!p) return elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
        const size_t row = gl_row_size(ti->type, ti->ne[0]);
        for (int64_t r = 0; r < ti->ne[1]; r++) tt->to_float((const char *)ti->data + r * row, p->data + r * ti->ne[0], ti->ne[0]);
    }
    return ELM_OK;
}

/* The head: the file's classifier when its label count matches, else a new one (and a pooler
 * when the file has none). */
static elm_status bt_head(elm_bert_trainer *t, elm_error *err) {
    uint64_t rng = t->p.seed ^ 0x5EED5EEDull;
    elm_status st = ELM_OK;
    const bool seq = t->p.task == ELM_BERT_TASK_SEQUENCE;
    const char *head = t->p.task == ELM_BERT_TASK_TOKEN ? "cls.token" : t->p.task == ELM_BERT_TASK_QA ? "cls.qa" : "cls";
    if (seq && !bt_find(t, "pooler.weight")) st = bt_new_linear(t, "pooler", t->E, t->E, &rng, err);
    /* a file holds one classifier: the other kinds, or one with another label count, go */
    static const char *const kinds[3] = {"cls", "cls.token", "cls.qa"};
    for (int k = 0; k < 3 && st == ELM_OK; k++) {
        bt_param *c = bt_find(t, "%s.weight", kinds[k]), *cb = bt_find(t, "%s.bias", kinds[k]);
        if (!c || (!strcmp(kinds[k], head) && c->ne[1] == t->n_labels)) continue;
        char tmp[GL_MAX_NAME];
        snprintf(tmp, sizeof tmp, "unused.%.48s", c->name);
        snprintf(c->name, sizeof c->name, "%s", tmp);
        if (cb) {
            snprintf(tmp, sizeof tmp, "unused.%.48s", cb->name);
            snprintf(cb->name, sizeof cb->name, "%s", tmp);
        }
    }
    if (st == ELM_OK && !bt_find(t, "%s.weight", head)) st = bt_new_linear(t, head, t->E, t->n_labels, &rng, err);
    return st;
}

static bool bt_is_trained(const elm_bert_trainer *t, const char *name) {
    if (!strncmp(name, "unused.", 7) || !strncmp(name, "cls.mlm", 7) || !strncmp(name, "cls.nsp", 7))
        return false; /* heads no task here uses */
    const bool seq_head = !strncmp(name, "pooler.", 7) || !strncmp(name, "cls.weight", 10) || !strncmp(name, "cls.bias", 8);
    switch (t->p.task) {
    case ELM_BERT_TASK_TOKEN:
        if (seq_head || !strncmp(name, "cls.qa", 6)) return false;
        break;
    case ELM_BERT_TASK_QA:
        if (seq_head || !strncmp(name, "cls.token", 9)) return false;
        break;
    default:
        if (!strncmp(name, "cls.token", 9) || !strncmp(name, "cls.qa", 6)) return false;
    }
    if (t->p.freeze > 0) {
        if (!strncmp(name, "token_embd", 10) || !strncmp(name, "position_embd", 13) || !strncmp(name, "token_types", 11))
            return false;
        int l;
        if (sscanf(name, "blk.%d.", &l) == 1 && l < t->p.freeze) return false;
    }
    return true;
}

void elm_bert_trainer_free(elm_bert_trainer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_params; i++) ELM_FREE(t->params[i].data);
    ELM_FREE(t->params);
    for (int32_t i = 0; t->labels && i < t->n_labels; i++) ELM_FREE(t->labels[i]);
    ELM_FREE(t->labels);
    gl_adamw_free(t->opt);
    ELM_FREE(t->opt_params);
    gl_context_free(t->pctx);
    gl_gguf_close(t->gguf);
    ELM_FREE(t);
}

elm_bert_trainer *elm_bert_trainer_new(const char *path, int32_t n_labels, const char *const *labels,
                                       const elm_bert_train_params *p, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!path || n_labels < 2 || n_labels > 4096 || !p || (p->task == ELM_BERT_TASK_QA && n_labels != 2) ||
        (p->task != ELM_BERT_TASK_SEQUENCE && p->task != ELM_BERT_TASK_TOKEN && p->task != ELM_BERT_TASK_QA)) {
        elm_err_set(err, ELM_ERR_INVALID, "finetune: bad arguments (2 to 4096 labels; 2 for question answering)");
        return NULL;
    }
    elm_bert_trainer *t = ELM_CALLOC(1, sizeof *t);
    gl_error ge = {0};
    if (!t || !(t->params = ELM_CALLOC(BT_MAX_TENSORS, sizeof *t->params))) {
        ELM_FREE(t);
        elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
        return NULL;
    }
    t->p = *p;
    t->n_labels = n_labels;
    if (!(t->gguf = gl_gguf_open(path, &ge))) {
        elm_err_from_gl(err, &ge);
        goto fail;
    }
    if (!elm_load_arch(t->gguf, ELM_FAMILY_BERT, err)) goto fail;
    if (bt_hparams(t, err) != ELM_OK || bt_load_tensors(t, err) != ELM_OK || bt_head(t, err) != ELM_OK) goto fail;
    bt_param *te = bt_find(t, "token_types.weight");
    t->n_types = te ? (int32_t)te->ne[1] : 0;
    if (!(t->labels = ELM_CALLOC((size_t)n_labels, sizeof *t->labels))) goto oom;
    for (int32_t i = 0; i < n_labels; i++) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "LABEL_%d", i);
        if (!(t->labels[i] = elm_strdup(labels && labels[i] ? labels[i] : tmp))) goto oom;
    }
    /* the trained parameters, as leaves the optimiser updates in place */
    int n_tr = 0;
    for (int i = 0; i < t->n_params; i++) n_tr += t->params[i].trained = bt_is_trained(t, t->params[i].name);
    t->pctx = gl_context_new((gl_context_params){.mem_size = (size_t)(n_tr + 8) * gl_tensor_overhead(), .no_alloc = true}, &ge);
    if (!t->pctx || !(t->opt_params = ELM_CALLOC((size_t)n_tr + 1, sizeof *t->opt_params))) goto oom;
    for (int i = 0, k = 0; i < t->n_params; i++) {
        if (!t->params[i].trained) continue;
        t->opt_params[k++] = gl_new_tensor_with_data(t->pctx, GL_TYPE_F32, t->params[i].n_dims, t->params[i].ne, t->params[i].data);
    }
    gl_adamw_params ap = gl_adamw_default_params();
    ap.lr = p->lr;
    ap.weight_decay = p->weight_decay;
    ap.total_steps = p->total_steps;
    ap.warmup_steps = (int64_t)(p->warmup_ratio * (float)p->total_steps);
    if (!(t->opt = gl_adamw_new(t->opt_params, n_tr, &ap, &ge))) {
        elm_err_from_gl(err, &ge);
        goto fail;
    }
    return t;
oom:
    elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
fail:
    elm_bert_trainer_free(t);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * the graph
 * ---------------------------------------------------------------------------------------- */

typedef struct bt_graph {
    gl_context *ctx;
    gl_tensor **leaf; /* [n_params]: leaves over params' data (NULL until used) */
    int32_t *ids, *pos, *typ, *cls, *labels;
    float *mask, *span_mask; /* attention mask; QA: -1e9 on the padded positions of [T, 2B] */
    uint64_t seed;
    int site;
    bool train;
} bt_graph;

static gl_tensor *bt_w(elm_bert_trainer *t, bt_graph *g, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static gl_tensor *bt_w(elm_bert_trainer *t, bt_graph *g, const char *fmt, ...) {
    char name[GL_MAX_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < t->n_params; i++) {
        if (strcmp(t->params[i].name, name)) continue;
        if (!g->leaf[i]) {
            g->leaf[i] = gl_new_tensor_with_data(g->ctx, GL_TYPE_F32, t->params[i].n_dims, t->params[i].ne, t->params[i].data);
            if (g->leaf[i]) gl_set_name(g->leaf[i], "%s", name);
        }
        return g->leaf[i];
    }
    return NULL;
}

static gl_tensor *bt_drop(elm_bert_trainer *t, bt_graph *g, gl_tensor *x) {
    g->site++;
    if (!g->train || t->p.dropout <= 0) return x;
    return gl_dropout(g->ctx, x, t->p.dropout, g->seed * 1000003ull + (uint64_t)g->site);
}

static gl_tensor *bt_lin(elm_bert_trainer *t, bt_graph *g, gl_tensor *x, const char *base) {
    gl_tensor *w = bt_w(t, g, "%s.weight", base), *b = bt_w(t, g, "%s.bias", base);
    if (!w || !b) return NULL; /* a missing tensor: the caller reports the graph as incomplete */
    return gl_add(g->ctx, gl_mul_mat(g->ctx, w, x), b);
}

/* Logits of a padded batch (T tokens each): [n_labels, B], or [n_labels, T * B] per token. */
static gl_tensor *bt_forward(elm_bert_trainer *t, bt_graph *g, int64_t T, int32_t B) {
    gl_context *c = g->ctx;
    const int64_t E = t->E, H = t->H, D = E / H, N = T * B;
    gl_tensor *ids = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &N, g->ids);
    gl_tensor *pos = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &N, g->pos);
    gl_tensor *x = gl_add(c, gl_get_rows(c, bt_w(t, g, "token_embd.weight"), ids), gl_get_rows(c, bt_w(t, g, "position_embd.weight"), pos));
    if (t->n_types > 0) {
        gl_tensor *typ = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &N, g->typ);
        x = gl_add(c, x, gl_get_rows(c, bt_w(t, g, "token_types.weight"), typ));
    }
    x = bt_drop(t, g, gl_layer_norm(c, x, bt_w(t, g, "token_embd_norm.weight"), bt_w(t, g, "token_embd_norm.bias"), t->eps));
    const int64_t mne[4] = {T, T, 1, B};
    gl_tensor *mask = gl_new_tensor_with_data(c, GL_TYPE_F32, 4, mne, g->mask);
    char base[64];
    for (int32_t l = 0; l < t->L; l++) {
#define BT_LIN(x, s) (snprintf(base, sizeof base, "blk.%d.%s", l, s), bt_lin(t, g, x, base))
        gl_tensor *q = gl_cont(c, gl_permute(c, gl_reshape_4d(c, BT_LIN(x, "attn_q"), D, H, T, B), 0, 2, 1, 3));
        gl_tensor *k = gl_cont(c, gl_permute(c, gl_reshape_4d(c, BT_LIN(x, "attn_k"), D, H, T, B), 0, 2, 1, 3));
        gl_tensor *vt = gl_cont(c, gl_permute(c, gl_reshape_4d(c, BT_LIN(x, "attn_v"), D, H, T, B), 1, 2, 0, 3));
        gl_tensor *pr = bt_drop(t, g, gl_softmax_ext(c, gl_mul_mat(c, k, q), mask, 1.0f / sqrtf((float)D), false));
        gl_tensor *a = gl_reshape_2d(c, gl_cont(c, gl_permute(c, gl_mul_mat(c, vt, pr), 0, 2, 1, 3)), E, N);
        a = bt_drop(t, g, BT_LIN(a, "attn_output"));
        x = gl_layer_norm(c, gl_add(c, a, x), bt_w(t, g, "blk.%d.attn_output_norm.weight", l),
                          bt_w(t, g, "blk.%d.attn_output_norm.bias", l), t->eps);
        gl_tensor *up = gl_gelu(c, BT_LIN(x, "ffn_up")); /* (not nested: BT_LIN reuses base) */
        gl_tensor *f = bt_drop(t, g, BT_LIN(up, "ffn_down"));
        x = gl_layer_norm(c, gl_add(c, f, x), bt_w(t, g, "blk.%d.layer_output_norm.weight", l),
                          bt_w(t, g, "blk.%d.layer_output_norm.bias", l), t->eps);
#undef BT_LIN
    }
    if (t->p.task == ELM_BERT_TASK_TOKEN) return bt_lin(t, g, bt_drop(t, g, x), "cls.token"); /* [n_labels, T*B] */
    if (t->p.task == ELM_BERT_TASK_QA) return bt_lin(t, g, x, "cls.qa");                      /* [2, T*B] */
    const int64_t nb = B;
    gl_tensor *cls = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nb, g->cls);
    gl_tensor *pooled = bt_lin(t, g, gl_get_rows(c, x, cls), "pooler");
    pooled = bt_drop(t, g, t->relu_pooler ? gl_relu(c, pooled) : gl_tanh(c, pooled));
    return bt_lin(t, g, pooled, "cls");
}

/* Inputs of a padded batch; false when a sequence does not fit. */
static elm_status bt_inputs(elm_bert_trainer *t, bt_graph *g, int32_t B, const int32_t *const *ids,
                            const int32_t *const *types, const int32_t *n_tokens, int64_t *T_out, elm_error *err) {
    int64_t T = 1;
    if (B < 1 || B > 4096) return elm_err_set(err, ELM_ERR_INVALID, "finetune: batch of %d sequences (1 to 4096)", B);
    for (int32_t s = 0; s < B; s++) {
        if (n_tokens[s] < 1 || n_tokens[s] > t->n_ctx || !ids[s])
            return elm_err_set(err, ELM_ERR_INVALID, "finetune: sequence %d has %d tokens (1 to %d)", s, n_tokens[s], t->n_ctx);
        if (n_tokens[s] > T) T = n_tokens[s];
    }
    const size_t N = (size_t)T * (size_t)B;
    const int64_t V = bt_find(t, "token_embd.weight")->ne[1];
    g->ids = ELM_CALLOC(N, sizeof *g->ids);
    g->pos = ELM_CALLOC(N, sizeof *g->pos);
    g->typ = ELM_CALLOC(N, sizeof *g->typ);
    g->cls = ELM_CALLOC((size_t)B, sizeof *g->cls);
    g->mask = ELM_CALLOC(N * (size_t)T, sizeof *g->mask);
    if (!g->ids || !g->pos || !g->typ || !g->cls || !g->mask) return elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
    for (int32_t s = 0; s < B; s++) {
        g->cls[s] = (int32_t)(s * T);
        for (int64_t i = 0; i < T; i++) {
            size_t k = (size_t)s * (size_t)T + (size_t)i;
            g->pos[k] = (int32_t)i;
            if (i < n_tokens[s]) {
                if (ids[s][i] < 0 || ids[s][i] >= V) return elm_err_set(err, ELM_ERR_INVALID, "finetune: token id %d", ids[s][i]);
                g->ids[k] = ids[s][i];
                int32_t ty = types && types[s] ? types[s][i] : 0;
                if (ty < 0 || (ty > 0 && ty >= t->n_types)) return elm_err_set(err, ELM_ERR_INVALID, "finetune: token type %d", ty);
                g->typ[k] = ty;
            }
            for (int64_t q = 0; q < T; q++) /* key i of query q: padded keys get -1e9 */
                g->mask[((size_t)s * (size_t)T + (size_t)q) * (size_t)T + (size_t)i] = i < n_tokens[s] ? 0.0f : -1e9f;
        }
    }
    *T_out = T;
    return ELM_OK;
}

static void bt_graph_free(bt_graph *g) {
    gl_context_free(g->ctx);
    ELM_FREE(g->leaf);
    ELM_FREE(g->ids);
    ELM_FREE(g->pos);
    ELM_FREE(g->typ);
    ELM_FREE(g->cls);
    ELM_FREE(g->labels);
    ELM_FREE(g->mask);
    ELM_FREE(g->span_mask);
}

/* QA: logits [2, T*B] -> [T, 2B] (column s: sequence s's start logits, column B + s: its end
 * logits) with the padded positions masked, and the loss over the labels [2B]. */
static gl_tensor *bt_qa_loss(bt_graph *g, gl_tensor *logits, int64_t T, int32_t B, const int32_t *n_tokens) {
    gl_context *c = g->ctx;
    const int64_t ne[2] = {T, 2 * (int64_t)B};
    if (!(g->span_mask = ELM_CALLOC((size_t)(T * 2 * B), sizeof *g->span_mask))) return NULL;
    for (int64_t col = 0; col < 2 * B; col++)
        for (int64_t i = n_tokens[col % B]; i < T; i++) g->span_mask[col * T + i] = -1e9f;
    gl_tensor *m = gl_new_tensor_with_data(c, GL_TYPE_F32, 2, ne, g->span_mask);
    gl_tensor *lt = gl_reshape_2d(c, gl_cont(c, gl_transpose(c, logits)), T, 2 * (int64_t)B);
    const int64_t nl = 2 * (int64_t)B;
    gl_tensor *lab = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nl, g->labels);
    return gl_cross_entropy(c, gl_add(c, lt, m), lab);
}

/* Plans, allocates and runs graph gr; *buf holds its memory (the caller frees it). */
static elm_status bt_compute(elm_bert_trainer *t, gl_graph *gr, void **buf, elm_error *err) {
    gl_error ge = {0};
    gl_graph_plan plan;
    int nth = t->p.n_threads > 0 ? t->p.n_threads : 1;
    if (gl_graph_plan_memory(gr, nth, &plan, &ge) != GL_OK) return elm_err_from_gl(err, &ge);
    size_t size = plan.buffer_size + plan.work_size;
    if (!(*buf = ELM_ALIGNED_ALLOC(64, (size + 64) / 64 * 64))) return elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
    gl_pool *pool = nth > 1 ? gl_pool_new(nth, &ge) : NULL;
    gl_status s = nth > 1 && !pool ? ge.code : gl_graph_alloc(gr, &plan, *buf, size, &ge);
    if (s == GL_OK) s = gl_graph_compute(gr, pool, &ge);
    gl_pool_free(pool);
    return s == GL_OK ? ELM_OK : elm_err_from_gl(err, &ge);
}

static elm_status bt_begin(elm_bert_trainer *t, bt_graph *g, bool train, elm_error *err) {
    memset(g, 0, sizeof *g);
    gl_error ge = {0};
    const size_t nodes = 256 + (size_t)t->L * 400;
    g->ctx = gl_context_new((gl_context_params){.mem_size = nodes * 2 * gl_tensor_overhead() + nodes * 64 + (1 << 20), .no_alloc = true}, &ge);
    g->leaf = ELM_CALLOC((size_t)t->n_params, sizeof *g->leaf);
    g->train = train;
    g->seed = t->p.seed ^ ((uint64_t)t->step * 0x9E3779B97F4A7C15ull);
    if (!g->ctx || !g->leaf) return elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
    return ELM_OK;
}

elm_status elm_bert_trainer_step(elm_bert_trainer *t, int32_t n_seq, const int32_t *const *ids, const int32_t *const *types,
                                 const int32_t *n_tokens, const int32_t *labels, float *loss, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!t || n_seq < 1 || !ids || !n_tokens || !labels) return elm_err_set(err, ELM_ERR_INVALID, "finetune: bad arguments");
    const bool token = t->p.task == ELM_BERT_TASK_TOKEN, qa = t->p.task == ELM_BERT_TASK_QA;
    int64_t n_lab = 0;
    for (int32_t s = 0; s < n_seq; s++) n_lab += token ? (n_tokens[s] > 0 ? n_tokens[s] : 0) : 1;
    for (int64_t i = 0; !qa && i < n_lab; i++)
        if (labels[i] >= t->n_labels || (labels[i] < 0 && !token))
            return elm_err_set(err, ELM_ERR_INVALID, "finetune: label %d", labels[i]);
    for (int32_t s = 0; qa && s < n_seq; s++) /* start and end: token positions, start <= end */
        if (labels[2 * s] < 0 || labels[2 * s + 1] < labels[2 * s] || labels[2 * s + 1] >= n_tokens[s])
            return elm_err_set(err, ELM_ERR_INVALID, "finetune: answer span %d..%d of sequence %d (%d tokens)", labels[2 * s],
                               labels[2 * s + 1], s, n_tokens[s]);
    bt_graph g;
    void *buf = NULL;
    int64_t T = 0;
    elm_status st = bt_begin(t, &g, true, err);
    if (st == ELM_OK) st = bt_inputs(t, &g, n_seq, ids, types, n_tokens, &T, err);
    gl_tensor *lossn = NULL, **grads = NULL, **leaves = NULL;
    int n_tr = 0;
    if (st == ELM_OK) {
        /* per sequence, or per token with -1 on padding (ignored by the loss) */
        const int64_t nb = token ? T * n_seq : qa ? 2 * (int64_t)n_seq : n_seq;
        g.labels = ELM_MALLOC((size_t)nb * sizeof *g.labels);
        for (int64_t i = 0; g.labels && i < nb; i++) g.labels[i] = -1;
        for (int32_t s = 0, off = 0; g.labels && s < n_seq; off += token ? n_tokens[s] : 1, s++) {
            if (qa) g.labels[s] = labels[2 * s], g.labels[n_seq + s] = labels[2 * s + 1];
            else if (!token) g.labels[s] = labels[s];
            else memcpy(g.labels + (size_t)s * (size_t)T, labels + off, (size_t)n_tokens[s] * sizeof *labels);
        }
        gl_tensor *lab = g.labels && !qa ? gl_new_tensor_with_data(g.ctx, GL_TYPE_I32, 1, &nb, g.labels) : NULL;
        gl_tensor *logits = g.labels ? bt_forward(t, &g, T, n_seq) : NULL;
        lossn = logits && qa ? bt_qa_loss(&g, logits, T, n_seq, n_tokens) : logits && lab ? gl_cross_entropy(g.ctx, logits, lab) : NULL;
        if (!lossn) st = elm_err_set(err, ELM_ERR_INVALID, "finetune: building the graph: %s", gl_ctx_error(g.ctx) ? gl_ctx_error(g.ctx) : "");
    }
    gl_graph *fwd = NULL, *full = NULL;
    const int max_nodes = 512 + t->L * 600;
    if (st == ELM_OK) {
        fwd = gl_graph_new(g.ctx, max_nodes);
        grads = ELM_CALLOC((size_t)t->n_params, sizeof *grads);
        leaves = ELM_CALLOC((size_t)t->n_params, sizeof *leaves);
        if (!fwd || !grads || !leaves || gl_graph_expand(fwd, lossn) != GL_OK) st = elm_err_set(err, ELM_ERR_NOMEM, "finetune: graph too large");
    }
    if (st == ELM_OK) {
        for (int i = 0; i < t->n_params; i++)
            if (t->params[i].trained && g.leaf[i]) leaves[n_tr++] = g.leaf[i];
        gl_error ge = {0};
        if (gl_build_backward(g.ctx, fwd, lossn, leaves, n_tr, grads, &ge) != GL_OK) st = elm_err_from_gl(err, &ge);
    }
    if (st == ELM_OK) {
        full = gl_graph_new(g.ctx, max_nodes * 4);
        gl_set_output(lossn);
        bool ok = full && gl_graph_expand(full, lossn) == GL_OK;
        for (int k = 0; ok && k < n_tr; k++) ok = !grads[k] || gl_graph_expand(full, grads[k]) == GL_OK;
        if (!ok) st = elm_err_set(err, ELM_ERR_NOMEM, "finetune: graph too large");
    }
    if (st == ELM_OK) st = bt_compute(t, full, &buf, err);
    if (st == ELM_OK) {
        /* the optimiser's leaves are in its own order: every trained param, used or not */
        gl_tensor **og = ELM_CALLOC((size_t)t->n_params + 1, sizeof *og);
        if (!og) st = elm_err_set(err, ELM_ERR_NOMEM, "finetune: out of memory");
        for (int i = 0, k = 0, j = 0; og && i < t->n_params; i++) {
            if (!t->params[i].trained) continue;
            if (g.leaf[i] && j < n_tr && leaves[j] == g.leaf[i]) og[k] = grads[j++];
            k++;
        }
        gl_error ge = {0};
        if (og && gl_adamw_step(t->opt, og, NULL, &ge) != GL_OK) st = elm_err_from_gl(err, &ge);
        ELM_FREE(og);
        if (loss) *loss = *(float *)lossn->data;
        t->step++;
    }
    ELM_FREE(grads);
    ELM_FREE(leaves);
    ELM_FREE(buf);
    bt_graph_free(&g);
    return st;
}

elm_status elm_bert_trainer_predict(elm_bert_trainer *t, int32_t n_seq, const int32_t *const *ids,
                                    const int32_t *const *types, const int32_t *n_tokens, float *logits, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!t || n_seq < 1 || !ids || !n_tokens || !logits) return elm_err_set(err, ELM_ERR_INVALID, "finetune: bad arguments");
    bt_graph g;
    void *buf = NULL;
    int64_t T = 0;
    elm_status st = bt_begin(t, &g, false, err);
    if (st == ELM_OK) st = bt_inputs(t, &g, n_seq, ids, types, n_tokens, &T, err);
    gl_tensor *out = st == ELM_OK ? bt_forward(t, &g, T, n_seq) : NULL;
    gl_graph *gr = out ? gl_graph_new(g.ctx, 512 + t->L * 600) : NULL;
    if (st == ELM_OK && (!gr || gl_graph_expand(gr, out) != GL_OK))
        st = elm_err_set(err, ELM_ERR_INVALID, "finetune: building the graph: %s", gl_ctx_error(g.ctx) ? gl_ctx_error(g.ctx) : "");
    if (st == ELM_OK) {
        gl_set_output(out);
        st = bt_compute(t, gr, &buf, err);
    }
    if (st == ELM_OK && t->p.task != ELM_BERT_TASK_SEQUENCE) { /* each sequence's real tokens, in order */
        for (int32_t s = 0, off = 0; s < n_seq; off += n_tokens[s], s++)
            memcpy(logits + (size_t)off * (size_t)t->n_labels, (const float *)out->data + (size_t)s * (size_t)T * (size_t)t->n_labels,
                   (size_t)n_tokens[s] * (size_t)t->n_labels * sizeof *logits);
    } else if (st == ELM_OK) {
        memcpy(logits, out->data, (size_t)n_seq * (size_t)t->n_labels * sizeof *logits);
    }
    ELM_FREE(buf);
    bt_graph_free(&g);
    return st;
}

int64_t elm_bert_trainer_steps(const elm_bert_trainer *t) { return t ? t->step : 0; }
float elm_bert_trainer_lr(const elm_bert_trainer *t) { return t ? gl_adamw_lr(t->opt) : 0; }

/* The fine-tuned model: the source's metadata (labels replaced), every tensor as F32. */
elm_status elm_bert_trainer_save(const elm_bert_trainer *t, const char *path, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!t || !path) return elm_err_set(err, ELM_ERR_INVALID, "finetune: bad arguments");
    gl_error ge = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &ge);
    if (!w) return elm_err_from_gl(err, &ge);
    gl_status s = GL_OK;
    const int64_t ka = gl_gguf_find_key(t->gguf, "general.alignment");
    if (ka >= 0) s = elm_gguf_copy_kv(w, t->gguf, ka, &ge);
    for (int64_t i = 0; s == GL_OK && i < gl_gguf_n_kv(t->gguf); i++)
        if (i != ka && !gl_str_eq(gl_gguf_key(t->gguf, i), "bert.classifier.output_labels"))
            s = elm_gguf_copy_kv(w, t->gguf, i, &ge);
    if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "general.file_type", elm_quant_file_type_of(GL_TYPE_F32));
    if (s == GL_OK && t->p.task != ELM_BERT_TASK_QA) /* a span head has no label names */
        s = gl_gguf_w_kv_arr_str(w, "bert.classifier.output_labels", (const char *const *)t->labels, NULL, (uint64_t)t->n_labels);
    if (s != GL_OK && !ge.msg[0]) gl_error_set(&ge, s, "%s", gl_gguf_writer_error(w));
    for (int i = 0; s == GL_OK && i < t->n_params; i++) {
        const bt_param *p = &t->params[i];
        if (strncmp(p->name, "unused.", 7) && (s = gl_gguf_w_tensor_info(w, p->name, GL_TYPE_F32, p->n_dims, p->ne)) != GL_OK)
            gl_error_set(&ge, s, "%s", gl_gguf_writer_error(w));
    }
    for (int i = 0; s == GL_OK && i < t->n_params; i++) {
        const bt_param *p = &t->params[i];
        if (strncmp(p->name, "unused.", 7) &&
            (s = gl_gguf_w_tensor_data(w, p->data, (size_t)(p->ne[0] * p->ne[1]) * sizeof(float))) != GL_OK)
            gl_error_set(&ge, s, "%s", gl_gguf_writer_error(w));
    }
    gl_error ce = {0};
    gl_status cs = gl_gguf_writer_close(w, &ce);
    if (s == GL_OK && cs != GL_OK) {
        s = cs;
        ge = ce;
    }
    return s == GL_OK ? ELM_OK : elm_err_from_gl(err, &ge);
}
