/*
 * bert.c — the BERT encoder and its heads (public API: include/edgelm.h, section "BERT";
 * file layout: docs/FORMAT.md, "BERT").
 *
 * One graph per run. The batch is laid out token-major, [n_embd, T * B] with T the longest
 * sequence: every matrix product runs on the whole batch at once, and attention runs per
 * sequence on views that hold only that sequence's real keys, so padding needs no mask and
 * cannot leak into real positions (padded query rows are computed and thrown away).
 *
 * elm_bert_model holds the weights and the tokenizer (read-only once loaded); an elm_bert
 * context holds what a run needs: the thread pool, the graph context (reset per run), the
 * host-side input arrays and the compute buffer, all sized at creation for n_seq_max sequences
 * of n_ctx tokens. The results of a run are the graph's output tensors, kept in the compute
 * buffer until the next run, and copied out by elm_bert_get: a run within the creation sizes
 * allocates nothing (tests/test-alloc.c).
 */
#include "alloc.h"
#include "edgelm.h"
#include "common.h"
#include "ggml-lite.h"
#include "vocab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BERT_MAX_LAYERS 256
#define BERT_MAX_BATCH 1024
#define BERT_MAX_LABELS 4096

typedef struct bert_layer {
    gl_tensor *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    gl_tensor *ln1_w, *ln1_b, *up, *up_b, *down, *down_b, *ln2_w, *ln2_b;
} bert_layer;

struct elm_bert_model {
    gl_gguf *gguf;
    elm_vocab *vocab;
    gl_context *wctx;
    int32_t n_vocab, n_ctx, n_embd, n_layer, n_ff, n_head, n_types, n_labels;
    float eps;
    elm_bert_pooling pooling;
    bool normalize;
    bool pooler_relu; /* DistilBERT's pre_classifier: ReLU instead of BERT's tanh */
    gl_tensor *tok_embd, *pos_embd, *type_embd, *emb_ln_w, *emb_ln_b;
    bert_layer *layers;
    gl_tensor *pool_w, *pool_b, *nsp_w, *nsp_b, *cls_w, *cls_b;
    gl_tensor *tok_w, *tok_b, *qa_w, *qa_b; /* token classifier, question-answering span head */
    gl_tensor *mlm_w, *mlm_b, *mlm_ln_w, *mlm_ln_b, *mlm_dec, *mlm_bias;
    char **labels;
    elm_repacked repacked; /* Q4_0/Q8_0 layer matrices in the 8-row interleaved layout */
};

/* The tensors of a run's graph; those a request asked for are outputs, so they stay readable
 * in the compute buffer until the next run. */
typedef struct bert_graph {
    gl_tensor **hidden;       /* [L+1] each [E, T*B] */
    gl_tensor *pooled, *nsp, *classes, *mlm;
    gl_tensor *tokens, *qa; /* [n_labels, T*B], [2, T*B] */
} bert_graph;

struct elm_bert {
    const elm_bert_model *model;
    elm_bert_model *owned; /* the model elm_bert_load made for this context alone (else NULL) */
    int32_t n_ctx, n_seq_max; /* the sizes given at creation */
    int max_nodes;
    elm_runner run;  /* pool (NULL: one thread) + compute buffer, reserved at creation */
    gl_context *meta; /* the graph context of every run, reset per run */
    /* host-side inputs, [n_seq_max * n_ctx] (cls: [n_seq_max]; mlm_first: [n_seq_max + 1]) */
    int32_t *ids, *pos, *typ, *cls, *mlm;
    int64_t *mlm_first;
    size_t mlm_cap;
    gl_tensor **parts; /* [n_seq_max] per-sequence attention outputs */
    /* the last run */
    bert_graph g;      /* g.hidden: [n_layer + 1], allocated once */
    int32_t *lens;     /* [n_seq_max] */
    int32_t n_seq;
    int64_t T;
    bool all_hidden, mlm_asked;
};

/* ------------------------------------------------------------------------------------------
 * loading
 * ---------------------------------------------------------------------------------------- */

/* A weight + bias pair "<base>.weight" [in, out] and "<base>.bias" [out]; an optional pair
 * may be absent, but not half there. */
static bool bert_linear(elm_loader *ld, const char *base, int64_t in, int64_t out, bool required,
                        gl_tensor **w, gl_tensor **b) {
    *w = elm_load_tensor(ld, required, in, out, "%s.weight", base);
    if (!*w) return !ld->failed;
    *b = elm_load_tensor(ld, true, out, 0, "%s.bias", base);
    return *b != NULL;
}

static elm_status bert_hparams(elm_bert_model *m, elm_error *err) {
    const gl_gguf *g = m->gguf;
    if (!elm_load_arch(g, ELM_FAMILY_BERT, err)) return err->code;
    elm_loader ld = {.gguf = g, .err = err, .who = "bert: "};
    m->n_ctx = elm_load_int(&ld, "bert.context_length", 1, 1 << 20, -1);
    m->n_embd = elm_load_int(&ld, "bert.embedding_length", 1, 1 << 16, -1);
    m->n_layer = elm_load_int(&ld, "bert.block_count", 1, BERT_MAX_LAYERS, -1);
    m->n_ff = elm_load_int(&ld, "bert.feed_forward_length", 1, 1 << 20, -1);
    m->n_head = elm_load_int(&ld, "bert.attention.head_count", 1, 1 << 12, -1);
    int32_t pool = elm_load_int(&ld, "bert.pooling_type", 0, 4, 2);
    m->n_types = elm_load_int(&ld, "tokenizer.ggml.token_type_count", 1, 1 << 16, 2);
    if (ld.failed) return err->code;
    if (m->n_embd % m->n_head)
        return elm_err_set(err, ELM_ERR_FORMAT, "bert: %d heads do not divide embedding_length %d", m->n_head, m->n_embd);
    if (pool == 4) return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: pooling_type 4 (rank) is not supported");
    m->pooling = pool == 1 ? ELM_BERT_POOL_MEAN : pool == 0 ? ELM_BERT_POOL_NONE
                 : pool == 3 ? ELM_BERT_POOL_LAST : ELM_BERT_POOL_CLS;
    int64_t ki = gl_gguf_find_key(g, "bert.attention.layer_norm_epsilon");
    double eps = 1e-12;
    if (ki >= 0 && (!gl_gguf_get_f64(g, ki, &eps) || !(eps > 0 && eps < 1)))
        return elm_err_set(err, ELM_ERR_FORMAT, "bert: bad layer_norm_epsilon");
    m->eps = (float)eps;
    ki = gl_gguf_find_key(g, "edgelm.bert.pooler_activation");
    m->pooler_relu = false;
    if (ki >= 0) {
        if (gl_gguf_kv_type(g, ki) != GL_GGUF_STRING) return elm_err_set(err, ELM_ERR_FORMAT, "bert: bad pooler_activation");
        gl_str a = gl_gguf_get_str(g, ki);
        if (gl_str_eq(a, "relu")) m->pooler_relu = true;
        else if (!gl_str_eq(a, "tanh"))
            return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: pooler activation '%.*s'", (int)(a.len > 32 ? 32 : a.len), a.data);
    }
    ki = gl_gguf_find_key(g, "edgelm.pooling.normalize");
    m->normalize = false;
    if (ki >= 0 && !gl_gguf_get_bool(g, ki, &m->normalize))
        return elm_err_set(err, ELM_ERR_FORMAT, "bert: edgelm.pooling.normalize is not a bool");
    return ELM_OK;
}

static elm_status bert_labels(elm_bert_model *m, elm_error *err) {
    m->labels = ELM_CALLOC((size_t)m->n_labels, sizeof *m->labels);
    if (!m->labels) return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
    int64_t ki = gl_gguf_find_key(m->gguf, "bert.classifier.output_labels");
    bool have = ki >= 0 && gl_gguf_kv_type(m->gguf, ki) == GL_GGUF_ARRAY &&
                gl_gguf_arr_type(m->gguf, ki) == GL_GGUF_STRING && gl_gguf_arr_n(m->gguf, ki) == (uint64_t)m->n_labels;
    for (int32_t i = 0; i < m->n_labels; i++) {
        char tmp[32];
        gl_str s = {tmp, 0};
        if (have) s = gl_gguf_arr_str(m->gguf, ki, (uint64_t)i);
        else s.len = (uint64_t)snprintf(tmp, sizeof tmp, "LABEL_%d", i);
        size_t n = s.len > 256 ? 256 : (size_t)s.len;
        if (!(m->labels[i] = ELM_MALLOC(n + 1))) return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
        memcpy(m->labels[i], s.data, n);
        m->labels[i][n] = '\0';
    }
    return ELM_OK;
}

static elm_status bert_bind(elm_bert_model *m, elm_error *err) {
    elm_loader ld = {.gguf = m->gguf, .wctx = m->wctx, .err = err, .who = "bert: ", .vec_bf16 = true};
    const int64_t E = m->n_embd, F = m->n_ff;
    const int64_t V = m->n_vocab = elm_load_rows(&ld, "token_embd.weight", INT32_MAX);
    if (!(m->tok_embd = elm_load_tensor(&ld, true, E, V, "token_embd.weight")) ||
        !(m->pos_embd = elm_load_tensor(&ld, true, E, m->n_ctx, "position_embd.weight")) ||
        (!(m->type_embd = elm_load_tensor(&ld, false, E, m->n_types, "token_types.weight")) && ld.failed) ||
        !(m->emb_ln_w = elm_load_tensor(&ld, true, E, 0, "token_embd_norm.weight")) ||
        !(m->emb_ln_b = elm_load_tensor(&ld, true, E, 0, "token_embd_norm.bias")))
        return err->code;
    if (!m->type_embd) m->n_types = 0; /* DistilBERT, RoBERTa-style files without token types */
    m->layers = ELM_CALLOC((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
    char base[64];
    for (int32_t l = 0; l < m->n_layer; l++) {
        bert_layer *L = &m->layers[l];
#define BERT_LIN(suffix, in, out, w, b) \
    (snprintf(base, sizeof base, "blk.%d.%s", l, suffix), bert_linear(&ld, base, in, out, true, w, b))
#define BERT_VEC(suffix, dst) ((*(dst) = elm_load_tensor(&ld, true, E, 0, "blk.%d.%s", l, suffix)) != NULL)
        if (!BERT_LIN("attn_q", E, E, &L->wq, &L->bq) || !BERT_LIN("attn_k", E, E, &L->wk, &L->bk) ||
            !BERT_LIN("attn_v", E, E, &L->wv, &L->bv) || !BERT_LIN("attn_output", E, E, &L->wo, &L->bo) ||
            !BERT_VEC("attn_output_norm.weight", &L->ln1_w) || !BERT_VEC("attn_output_norm.bias", &L->ln1_b) ||
            !BERT_LIN("ffn_up", E, F, &L->up, &L->up_b) || !BERT_LIN("ffn_down", F, E, &L->down, &L->down_b) ||
            !BERT_VEC("layer_output_norm.weight", &L->ln2_w) || !BERT_VEC("layer_output_norm.bias", &L->ln2_b))
            return err->code;
#undef BERT_LIN
#undef BERT_VEC
    }
    /* heads: each optional, but complete when present */
    if (!bert_linear(&ld, "pooler", E, E, false, &m->pool_w, &m->pool_b) ||
        !bert_linear(&ld, "cls.nsp", E, 2, false, &m->nsp_w, &m->nsp_b) ||
        !bert_linear(&ld, "cls.mlm.dense", E, E, false, &m->mlm_w, &m->mlm_b))
        return err->code;
    /* a sequence classifier ("cls") or a token classifier ("cls.token"): one label set */
    int64_t ci = gl_gguf_find_tensor(m->gguf, "cls.weight"), ti = gl_gguf_find_tensor(m->gguf, "cls.token.weight");
    if (ci >= 0 && ti >= 0) return elm_err_set(err, ELM_ERR_FORMAT, "bert: both a sequence and a token classifier");
    if (ci >= 0 || ti >= 0) {
        int64_t nl = gl_gguf_tensor(m->gguf, ci >= 0 ? ci : ti)->ne[1];
        if (nl < 1 || nl > BERT_MAX_LABELS) return elm_err_set(err, ELM_ERR_FORMAT, "bert: classifier with %lld labels", (long long)nl);
        m->n_labels = (int32_t)nl;
        bool ok = ci >= 0 ? bert_linear(&ld, "cls", E, nl, true, &m->cls_w, &m->cls_b)
                          : bert_linear(&ld, "cls.token", E, nl, true, &m->tok_w, &m->tok_b);
        if (!ok || bert_labels(m, err) != ELM_OK) return err->code;
    }
    if (!bert_linear(&ld, "cls.qa", E, 2, false, &m->qa_w, &m->qa_b)) return err->code;
    if (m->mlm_w) {
        if (!(m->mlm_ln_w = elm_load_tensor(&ld, true, E, 0, "cls.mlm.norm.weight")) ||
            !(m->mlm_ln_b = elm_load_tensor(&ld, true, E, 0, "cls.mlm.norm.bias")) ||
            !(m->mlm_bias = elm_load_tensor(&ld, true, V, 0, "cls.mlm.bias")))
            return err->code;
        m->mlm_dec = elm_load_tensor(&ld, false, E, V, "cls.mlm.decoder.weight");
        if (ld.failed) return err->code;
        if (!m->mlm_dec) m->mlm_dec = m->tok_embd; /* tied, as in every BERT checkpoint */
    }
    if ((m->nsp_w || m->cls_w) && !m->pool_w)
        return elm_err_set(err, ELM_ERR_FORMAT, "bert: next-sentence/classifier heads need the pooler");
    return ELM_OK;
}

elm_bert_params elm_bert_default_params(void) {
    elm_bert_params p = {.n_threads = 1, .n_seq_max = 1};
    return p;
}

/* Repacks every layer's projections (read only as mul_mat's first operand, with one column
 * per token of the batch). The heads stay in the file's layout: they multiply one column per
 * sequence or mask, where the interleaved layout gains nothing, and the masked-LM decoder is
 * token_embd, which get_rows reads. */
static elm_status bert_repack(elm_bert_model *m, elm_error *err) {
    enum { PER_LAYER = 6 };
    const size_t n = (size_t)m->n_layer * PER_LAYER;
    gl_tensor **w = ELM_CALLOC(n, sizeof *w);
    if (!w) return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
    size_t k = 0;
    for (int32_t l = 0; l < m->n_layer; l++) {
        const bert_layer *L = &m->layers[l];
        gl_tensor *const mats[PER_LAYER] = {L->wq, L->wk, L->wv, L->wo, L->up, L->down};
        for (int j = 0; j < PER_LAYER; j++) w[k++] = mats[j];
    }
    const elm_status st = elm_repack_weights(w, k, m->gguf, &m->repacked, err);
    ELM_FREE(w);
    return st;
}

void elm_bert_model_free(elm_bert_model *m) {
    if (!m) return;
    for (int32_t i = 0; m->labels && i < m->n_labels; i++) ELM_FREE(m->labels[i]);
    ELM_FREE(m->labels);
    ELM_FREE(m->layers);
    ELM_FREE(m->repacked.buf);
    gl_context_free(m->wctx);
    elm_vocab_free(m->vocab);
    gl_gguf_close(m->gguf);
    ELM_FREE(m);
}

/* Reads the hyperparameters, binds the weights and loads the tokenizer of g (taken over:
 * closed on failure). */
static elm_bert_model *bert_model_from_gguf(gl_gguf *g, const gl_error *gerr, const elm_bert_params *params,
                                            elm_error *err) {
    if (!g) {
        elm_err_from_gl(err, gerr);
        return NULL;
    }
    elm_bert_model *m = ELM_CALLOC(1, sizeof *m);
    if (!m) {
        gl_gguf_close(g);
        elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
        return NULL;
    }
    m->gguf = g;
    const elm_bert_params p = params ? *params : elm_bert_default_params();
    gl_error ge = {0};
    if (bert_hparams(m, err) != ELM_OK) goto fail;
    if (!(m->wctx = elm_weight_ctx_new(g, &ge))) {
        elm_err_from_gl(err, &ge);
        goto fail;
    }
    if (bert_bind(m, err) != ELM_OK || (!p.no_repack && bert_repack(m, err) != ELM_OK)) goto fail;
    if (!(m->vocab = elm_vocab_load(g, &ge))) {
        elm_err_set(err, ge.code, "bert: %s", ge.msg);
        goto fail;
    }
    if (elm_vocab_type(m->vocab) != ELM_VOCAB_WPM && elm_vocab_type(m->vocab) != ELM_VOCAB_BPE) {
        elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the tokenizer is neither WordPiece nor byte-level BPE (RoBERTa)");
        goto fail;
    }
    return m;
fail:
    elm_bert_model_free(m);
    return NULL;
}

elm_bert_model *elm_bert_model_load(const char *path, const elm_bert_params *params, elm_error *err) {
    elm_error spare;
    gl_error ge = {0};
    return bert_model_from_gguf(gl_gguf_open(path, &ge), &ge, params, err ? err : &spare);
}

elm_bert_model *elm_bert_model_load_memory(const void *data, size_t size, const elm_bert_params *params,
                                           elm_error *err) {
    elm_error spare;
    gl_error ge = {0};
    return bert_model_from_gguf(gl_gguf_open_buffer(data, size, &ge), &ge, params, err ? err : &spare);
}

int32_t elm_bert_n_embd(const elm_bert *c) { return c ? c->model->n_embd : 0; }
int64_t elm_bert_repacked_bytes(const elm_bert *c) { return c ? (int64_t)c->model->repacked.bytes : 0; }
int32_t elm_bert_n_layer(const elm_bert *c) { return c ? c->model->n_layer : 0; }
int32_t elm_bert_n_vocab(const elm_bert *c) { return c ? c->model->n_vocab : 0; }
int32_t elm_bert_n_ctx(const elm_bert *c) { return c ? c->n_ctx : 0; }
int32_t elm_bert_n_seq_max(const elm_bert *c) { return c ? c->n_seq_max : 0; }
bool elm_bert_has_mlm(const elm_bert *c) { return c && c->model->mlm_w; }
bool elm_bert_has_nsp(const elm_bert *c) { return c && c->model->nsp_w; }
bool elm_bert_has_pooler(const elm_bert *c) { return c && c->model->pool_w; }
int32_t elm_bert_n_labels(const elm_bert *c) { return c ? c->model->n_labels : 0; }
bool elm_bert_has_token_classifier(const elm_bert *c) { return c && c->model->tok_w; }
bool elm_bert_has_qa(const elm_bert *c) { return c && c->model->qa_w; }
const char *elm_bert_label(const elm_bert *c, int32_t i) {
    return c && i >= 0 && i < c->model->n_labels ? c->model->labels[i] : "";
}
elm_bert_pooling elm_bert_pooling_type(const elm_bert *c) { return c ? c->model->pooling : ELM_BERT_POOL_CLS; }
bool elm_bert_normalize(const elm_bert *c) { return c && c->model->normalize; }
int32_t elm_bert_mask_id(const elm_bert *c) { return c ? elm_vocab_mask(c->model->vocab) : -1; }
int32_t elm_bert_unk_id(const elm_bert *c) { return c ? elm_vocab_unk(c->model->vocab) : -1; }
int32_t elm_bert_n_types(const elm_bert *c) { return c ? c->model->n_types : 0; }
bool elm_bert_is_wordpiece(const elm_bert *c) { return c && elm_vocab_type(c->model->vocab) == ELM_VOCAB_WPM; }

/* ------------------------------------------------------------------------------------------
 * tokenizing
 * ---------------------------------------------------------------------------------------- */

/* RoBERTa's <mask> is an added token with lstrip: the whitespace before it belongs to it (and
 * makes no "Ġ" piece). Returns a malloc'd copy of s without that whitespace (NULL: no memory). */
static char *bert_lstrip_mask(const elm_bert_model *m, const char *s) {
    char *o = elm_strdup(s);
    int32_t mask = elm_vocab_mask(m->vocab);
    if (!o || mask < 0 || elm_vocab_type(m->vocab) != ELM_VOCAB_BPE) return o;
    char mt[64];
    int32_t ml = elm_token_to_piece(m->vocab, mask, mt, (int32_t)sizeof mt, true);
    if (ml <= 0 || ml >= (int32_t)sizeof mt) return o;
    size_t k = 0;
    for (size_t i = 0; s[i];) {
        size_t j = i;
        while (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') j++;
        if (j > i && !strncmp(s + j, mt, (size_t)ml)) i = j; /* drop the run before <mask> */
        else if (j > i) { memcpy(o + k, s + i, j - i); k += j - i; i = j; }
        else o[k++] = s[i++];
    }
    o[k] = '\0';
    return o;
}

static int64_t bert_pieces(const elm_bert_model *m, const char *text, int32_t **out, elm_error *err) {
    gl_error ge = {0};
    char *s = bert_lstrip_mask(m, text);
    if (!s) return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
    size_t len = strlen(s);
    int64_t n = elm_tokenize(m->vocab, s, len, NULL, 0, false, true, &ge);
    if (n < 0) {
        ELM_FREE(s);
        return elm_err_from_gl(err, &ge);
    }
    *out = ELM_MALLOC((size_t)(n ? n : 1) * sizeof **out);
    if (!*out) {
        ELM_FREE(s);
        return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
    }
    if (n > 0) elm_tokenize(m->vocab, s, len, *out, n, false, true, &ge);
    ELM_FREE(s);
    return n;
}

int64_t elm_bert_tokenize(const elm_bert *c, const char *a, const char *b, bool add_special, int32_t *ids,
                          int32_t *types, int64_t max, elm_error *err) {
    if (!c || !a || max < 0 || (max > 0 && !ids)) return elm_err_set(err, ELM_ERR_INVALID, "bert: bad arguments");
    const elm_bert_model *m = c->model;
    int32_t *pa = NULL, *pb = NULL;
    int64_t na = bert_pieces(m, a, &pa, err), nb = 0;
    if (na < 0) return na;
    if (b && (nb = bert_pieces(m, b, &pb, err)) < 0) {
        ELM_FREE(pa);
        return nb;
    }
    /* truncation: the longer part gives up its last piece first (longest_first) */
    /* RoBERTa (byte-level BPE): "<s> a </s></s> b </s>", every type 0 */
    const bool roberta = elm_vocab_type(m->vocab) == ELM_VOCAB_BPE;
    int64_t room = (int64_t)c->n_ctx - (add_special ? (b ? (roberta ? 4 : 3) : 2) : 0);
    if (room < 0) room = 0;
    while (na + nb > room) {
        if (na >= nb) na--;
        else nb--;
    }
    int32_t cls = elm_vocab_cls(m->vocab), sep = elm_vocab_sep(m->vocab);
    int64_t k = 0;
#define BERT_PUT(id, ty)                 \
    do {                                 \
        if (k < max) {                   \
            ids[k] = (id);               \
            if (types) types[k] = (ty);  \
        }                                \
        k++;                             \
    } while (0)
    if (add_special && cls >= 0) BERT_PUT(cls, 0);
    for (int64_t i = 0; i < na; i++) BERT_PUT(pa[i], 0);
    if (add_special && sep >= 0) BERT_PUT(sep, 0);
    if (b && add_special && sep >= 0 && roberta) BERT_PUT(sep, 0);
    for (int64_t i = 0; i < nb; i++) BERT_PUT(pb[i], roberta ? 0 : 1);
    if (b && add_special && sep >= 0) BERT_PUT(sep, roberta ? 0 : 1);
#undef BERT_PUT
    ELM_FREE(pa);
    ELM_FREE(pb);
    return k;
}

int32_t elm_bert_token_text(const elm_bert *c, int32_t id, char *buf, int32_t size) {
    if (!c) return 0;
    char tmp[512];
    int32_t n = elm_token_to_piece(c->model->vocab, id, tmp, (int32_t)sizeof tmp, true);
    if (n > (int32_t)sizeof tmp) n = (int32_t)sizeof tmp;
    int32_t skip = n > 0 && tmp[0] == ' ' ? 1 : 0; /* the word-start space */
    int32_t len = n - skip;
    if (buf && size > 0) {
        int32_t k = len < size - 1 ? len : size - 1;
        memcpy(buf, tmp + skip, (size_t)k);
        buf[k] = '\0';
    }
    return len;
}

int32_t elm_bert_word_id(const elm_bert *c, const char *word) {
    if (!c || !word) return -1;
    int32_t ids[4];
    gl_error ge = {0};
    int64_t n = elm_tokenize(c->model->vocab, word, strlen(word), ids, 4, false, false, &ge);
    return n == 1 ? ids[0] : -1;
}

/* ------------------------------------------------------------------------------------------
 * the graph
 * ---------------------------------------------------------------------------------------- */

static gl_tensor *bert_lin(gl_context *ctx, gl_tensor *x, gl_tensor *w, gl_tensor *b) {
    return gl_add(ctx, gl_mul_mat(ctx, w, x), b);
}

/* Joins per-sequence attention outputs [E, T] into [E, T*B], halves first (fewer copies). */
static gl_tensor *bert_join(gl_context *ctx, gl_tensor **parts, int32_t n) {
    if (n == 1) return parts[0];
    int32_t h = n / 2;
    return gl_concat(ctx, bert_join(ctx, parts, h), bert_join(ctx, parts + h, n - h), 1);
}

static gl_tensor *bert_layer_graph(const elm_bert_model *m, gl_context *ctx, const bert_layer *L, gl_tensor *x, int64_t T,
                                   int32_t B, const int32_t *lens, gl_tensor **parts) {
    const int64_t E = m->n_embd, H = m->n_head, D = E / H;
    const size_t fs = sizeof(float);
    gl_tensor *q = bert_lin(ctx, x, L->wq, L->bq), *k = bert_lin(ctx, x, L->wk, L->bk);
    gl_tensor *v = bert_lin(ctx, x, L->wv, L->bv);
    for (int32_t b = 0; b < B; b++) {
        size_t off = (size_t)b * (size_t)T * (size_t)E * fs;
        /* [D, H, n] views of this sequence's tokens, permuted to [D, n, H] */
        gl_tensor *qb = gl_permute(ctx, gl_view_3d(ctx, q, D, H, T, D * fs, E * fs, off), 0, 2, 1, 3);
        gl_tensor *kb = gl_permute(ctx, gl_view_3d(ctx, k, D, H, lens[b], D * fs, E * fs, off), 0, 2, 1, 3);
        gl_tensor *vb = gl_permute(ctx, gl_view_3d(ctx, v, D, H, lens[b], D * fs, E * fs, off), 0, 2, 1, 3);
        gl_tensor *a = gl_attn(ctx, qb, kb, vb, NULL, 1.0f / sqrtf((float)D), false); /* [D, H, T] */
        parts[b] = gl_reshape_2d(ctx, a, E, T);
    }
    gl_tensor *att = bert_lin(ctx, bert_join(ctx, parts, B), L->wo, L->bo);
    x = gl_layer_norm(ctx, gl_add(ctx, att, x), L->ln1_w, L->ln1_b, m->eps);
    gl_tensor *f = bert_lin(ctx, gl_gelu(ctx, bert_lin(ctx, x, L->up, L->up_b)), L->down, L->down_b);
    return gl_layer_norm(ctx, gl_add(ctx, f, x), L->ln2_w, L->ln2_b, m->eps);
}

static void bert_build(const elm_bert_model *m, gl_context *ctx, gl_tensor *ids, gl_tensor *pos, gl_tensor *typ,
                       gl_tensor *cls_rows, gl_tensor *mlm_rows, int64_t T, int32_t B, const int32_t *lens,
                       const elm_bert_request *req, gl_tensor **parts, bert_graph *g) {
    gl_tensor *x = gl_add(ctx, gl_get_rows(ctx, m->tok_embd, ids), gl_get_rows(ctx, m->pos_embd, pos));
    if (m->type_embd) x = gl_add(ctx, x, gl_get_rows(ctx, m->type_embd, typ));
    x = gl_layer_norm(ctx, x, m->emb_ln_w, m->emb_ln_b, m->eps);
    g->hidden[0] = x;
    for (int32_t l = 0; l < m->n_layer; l++) {
        x = bert_layer_graph(m, ctx, &m->layers[l], x, T, B, lens, parts);
        g->hidden[l + 1] = x;
    }
    if (cls_rows && m->pool_w) {
        gl_tensor *p = bert_lin(ctx, gl_get_rows(ctx, x, cls_rows), m->pool_w, m->pool_b);
        g->pooled = m->pooler_relu ? gl_relu(ctx, p) : gl_tanh(ctx, p);
        if (req->nsp && m->nsp_w) g->nsp = bert_lin(ctx, g->pooled, m->nsp_w, m->nsp_b);
        if (req->classify && m->cls_w) g->classes = bert_lin(ctx, g->pooled, m->cls_w, m->cls_b);
    }
    if (req->token_classify && m->tok_w) g->tokens = bert_lin(ctx, x, m->tok_w, m->tok_b);
    if (req->qa && m->qa_w) g->qa = bert_lin(ctx, x, m->qa_w, m->qa_b);
    if (mlm_rows) {
        gl_tensor *h = gl_gelu(ctx, bert_lin(ctx, gl_get_rows(ctx, x, mlm_rows), m->mlm_w, m->mlm_b));
        h = gl_layer_norm(ctx, h, m->mlm_ln_w, m->mlm_ln_b, m->eps);
        g->mlm = gl_add(ctx, gl_mul_mat(ctx, m->mlm_dec, h), m->mlm_bias);
    }
}

/* ------------------------------------------------------------------------------------------
 * contexts
 * ---------------------------------------------------------------------------------------- */

static int bert_max_nodes(const elm_bert_model *m, int32_t n_seq) { return 64 + m->n_layer * (40 + 16 * n_seq); }

void elm_bert_free(elm_bert *c) {
    if (!c) return;
    elm_runner_free(&c->run);
    gl_context_free(c->meta);
    ELM_FREE(c->ids);
    ELM_FREE(c->pos);
    ELM_FREE(c->typ);
    ELM_FREE(c->cls);
    ELM_FREE(c->mlm);
    ELM_FREE(c->mlm_first);
    ELM_FREE(c->parts);
    ELM_FREE(c->g.hidden);
    ELM_FREE(c->lens);
    elm_bert_model_free(c->owned); /* the weights belong to the model, never to a context */
    ELM_FREE(c);
}

/* Builds in the context's graph context the graph of B sequences of lens[] tokens padded to T
 * (inputs: the host arrays, filled by the caller; n_mlm masked-LM rows) into c->g, with the
 * requested results marked as outputs. */
static elm_status bert_graph_build(elm_bert *c, int64_t T, int32_t B, const int32_t *lens, const elm_bert_request *req,
                                   int64_t n_mlm, gl_graph **out, elm_error *err) {
    const elm_bert_model *m = c->model;
    gl_context *ctx = c->meta;
    gl_context_reset(ctx);
    gl_tensor **hidden = c->g.hidden;
    memset(&c->g, 0, sizeof c->g);
    c->g.hidden = hidden;
    int64_t N = T * B, nb = B, nm = n_mlm;
    gl_tensor *t_ids = gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, &N, c->ids);
    gl_tensor *t_pos = gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, &N, c->pos);
    gl_tensor *t_typ = gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, &N, c->typ);
    gl_tensor *t_cls = req->pooled || req->nsp || req->classify ? gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, &nb, c->cls) : NULL;
    gl_tensor *t_mlm = nm > 0 ? gl_new_tensor_with_data(ctx, GL_TYPE_I32, 1, &nm, c->mlm) : NULL;
    bert_graph *g = &c->g;
    bert_build(m, ctx, t_ids, t_pos, t_typ, t_cls, t_mlm, T, B, lens, req, c->parts, g);
    gl_graph *graph = gl_ctx_ok(ctx) ? gl_graph_new(ctx, c->max_nodes) : NULL;
    if (!graph)
        return elm_err_set(err, ELM_ERR_INVALID, "bert: building the graph: %s", gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "out of memory");
    gl_tensor *outs[7] = {g->hidden[m->n_layer], g->pooled, g->nsp, g->classes, g->mlm, g->tokens, g->qa};
    for (int i = 0; i < 7; i++)
        if (outs[i]) gl_set_output(outs[i]);
    if (req->all_hidden)
        for (int32_t l = 0; l < m->n_layer; l++) gl_set_output(g->hidden[l]);
    bool ok = true;
    for (int i = 0; i < 7 && ok; i++)
        if (outs[i] && gl_graph_expand(graph, outs[i]) != GL_OK) ok = false;
    for (int32_t l = 0; req->all_hidden && l < m->n_layer && ok; l++)
        if (gl_graph_expand(graph, g->hidden[l]) != GL_OK) ok = false;
    if (!ok) return elm_err_set(err, ELM_ERR_INVALID, "bert: graph too large: %s", gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "");
    *out = graph;
    return ELM_OK;
}

/* Sizes the compute buffer for the largest run the context was made for: n_seq_max sequences
 * of n_ctx tokens with every head of the model except the masked-LM one (whose logits, like
 * all_hidden, are kept only when asked for: those grow the buffer on their first run). */
static elm_status bert_reserve(elm_bert *c, elm_error *err) {
    const elm_bert_model *m = c->model;
    for (int32_t s = 0; s < c->n_seq_max; s++) c->lens[s] = c->n_ctx;
    elm_bert_request req = {.pooled = m->pool_w != NULL, .nsp = m->nsp_w != NULL, .classify = m->cls_w != NULL,
                            .token_classify = m->tok_w != NULL, .qa = m->qa_w != NULL};
    gl_graph *graph = NULL;
    elm_status st = bert_graph_build(c, c->n_ctx, c->n_seq_max, c->lens, &req, 0, &graph, err);
    if (st != ELM_OK) return st;
    gl_error ge = {0};
    if (elm_runner_reserve(&c->run, graph, NULL, &ge) != GL_OK) return elm_err_from_gl(err, &ge);
    return ELM_OK;
}

elm_bert *elm_bert_new(const elm_bert_model *model, const elm_bert_params *params, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    if (!model) {
        elm_err_set(err, ELM_ERR_INVALID, "elm_bert_new: no model");
        return NULL;
    }
    elm_bert_params p = params ? *params : elm_bert_default_params();
    if (p.n_seq_max < 0 || p.n_seq_max > BERT_MAX_BATCH) {
        elm_err_set(err, ELM_ERR_INVALID, "bert: n_seq_max %d is outside 1 to %d", p.n_seq_max, BERT_MAX_BATCH);
        return NULL;
    }
    if (p.n_ctx < 0 || p.n_ctx > model->n_ctx) {
        elm_err_set(err, ELM_ERR_INVALID, "bert: n_ctx %d is outside 1 to the model's context length %d", p.n_ctx, model->n_ctx);
        return NULL;
    }
    elm_bert *c = ELM_CALLOC(1, sizeof *c);
    if (!c) {
        elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
        return NULL;
    }
    c->model = model;
    c->n_seq_max = p.n_seq_max > 0 ? p.n_seq_max : 1;
    c->n_ctx = p.n_ctx > 0 ? p.n_ctx : model->n_ctx;
    c->run.n_threads = p.n_threads > 0 ? p.n_threads : 1;
    c->max_nodes = bert_max_nodes(model, c->n_seq_max);
    const size_t B = (size_t)c->n_seq_max, N = B * (size_t)c->n_ctx;
    gl_error ge = {0};
    if (elm_check_fits_memory((uint64_t)N * 4 * sizeof(int32_t), "the BERT context's inputs", &ge) != GL_OK) {
        elm_err_from_gl(err, &ge);
        goto fail;
    }
    c->ids = ELM_CALLOC(N, sizeof *c->ids);
    c->pos = ELM_CALLOC(N, sizeof *c->pos);
    c->typ = ELM_CALLOC(N, sizeof *c->typ);
    c->mlm = ELM_CALLOC(N, sizeof *c->mlm);
    c->mlm_cap = N;
    c->cls = ELM_CALLOC(B, sizeof *c->cls);
    c->mlm_first = ELM_CALLOC(B + 1, sizeof *c->mlm_first);
    c->parts = ELM_CALLOC(B, sizeof *c->parts);
    c->lens = ELM_CALLOC(B, sizeof *c->lens);
    c->g.hidden = ELM_CALLOC((size_t)model->n_layer + 1, sizeof *c->g.hidden);
    c->meta = gl_context_new((gl_context_params){.mem_size = elm_graph_overhead((size_t)c->max_nodes), .no_alloc = true}, &ge);
    if (!c->ids || !c->pos || !c->typ || !c->mlm || !c->cls || !c->mlm_first || !c->parts || !c->lens || !c->g.hidden ||
        !c->meta) {
        elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory for a context of %d sequences of %d tokens", c->n_seq_max, c->n_ctx);
        goto fail;
    }
    if (c->run.n_threads > 1 && !(c->run.pool = gl_pool_new(c->run.n_threads, &ge))) {
        elm_err_from_gl(err, &ge);
        goto fail;
    }
    if (bert_reserve(c, err) != ELM_OK) goto fail;
    return c;
fail:
    elm_bert_free(c);
    return NULL;
}

/* A context that owns its model (freed with it). */
static elm_bert *bert_new_owning(elm_bert_model *model, const elm_bert_params *params, elm_error *err) {
    if (!model) return NULL;
    elm_bert *c = elm_bert_new(model, params, err);
    if (!c) {
        elm_bert_model_free(model);
        return NULL;
    }
    c->owned = model;
    return c;
}

elm_bert *elm_bert_load(const char *path, const elm_bert_params *params, elm_error *err) {
    return bert_new_owning(elm_bert_model_load(path, params, err), params, err);
}

elm_bert *elm_bert_load_memory(const void *data, size_t size, const elm_bert_params *params, elm_error *err) {
    return bert_new_owning(elm_bert_model_load_memory(data, size, params, err), params, err);
}

/* ------------------------------------------------------------------------------------------
 * running
 * ---------------------------------------------------------------------------------------- */

/* Fills the context's input arrays for a run of n_seq sequences padded to T tokens. */
static elm_status bert_fill_inputs(elm_bert *c, int32_t n_seq, const int32_t *const *ids, const int32_t *const *types,
                                   const int32_t *n_tokens, int64_t T, const elm_bert_request *req, int64_t *n_mlm,
                                   elm_error *err) {
    const elm_bert_model *m = c->model;
    c->mlm_first[0] = 0;
    for (int32_t s = 0; s < n_seq; s++) {
        for (int64_t t = 0; t < T; t++) {
            size_t k = (size_t)s * (size_t)T + (size_t)t;
            c->pos[k] = (int32_t)t;
            c->ids[k] = c->typ[k] = 0; /* padding: id 0, type 0 (never attended) */
            if (t >= n_tokens[s]) continue;
            int32_t id = ids[s][t], ty = types && types[s] ? types[s][t] : 0;
            if (id < 0 || id >= m->n_vocab)
                return elm_err_set(err, ELM_ERR_INVALID, "bert: sequence %d: token id %d is outside the vocabulary (%d)", s, id, m->n_vocab);
            if (ty < 0 || (ty >= m->n_types && ty != 0))
                return elm_err_set(err, ELM_ERR_INVALID, "bert: sequence %d: token type %d (the model has %d)", s, ty, m->n_types);
            c->ids[k] = id;
            c->typ[k] = ty;
        }
        c->cls[s] = (int32_t)((int64_t)s * T);
        int64_t nm = 0;
        if (req->mlm) {
            nm = req->mlm_pos && req->n_mlm_pos ? req->n_mlm_pos[s] : n_tokens[s];
            if (nm < 0 || nm > n_tokens[s] * 4 + 64) return elm_err_set(err, ELM_ERR_INVALID, "bert: bad mask position count");
        }
        c->mlm_first[s + 1] = c->mlm_first[s] + nm;
    }
    *n_mlm = c->mlm_first[n_seq];
    if ((size_t)*n_mlm > c->mlm_cap) { /* more masked positions than tokens: repeated ones */
        int32_t *p = ELM_REALLOC(c->mlm, (size_t)*n_mlm * sizeof *p);
        if (!p) return elm_err_set(err, ELM_ERR_NOMEM, "bert: out of memory");
        c->mlm = p;
        c->mlm_cap = (size_t)*n_mlm;
    }
    for (int32_t s = 0; s < n_seq; s++)
        for (int64_t j = 0; j < c->mlm_first[s + 1] - c->mlm_first[s]; j++) {
            int32_t p = req->mlm_pos && req->n_mlm_pos ? req->mlm_pos[s][j] : (int32_t)j;
            if (p < 0 || p >= n_tokens[s]) return elm_err_set(err, ELM_ERR_INVALID, "bert: mask position %d outside sequence %d", p, s);
            c->mlm[c->mlm_first[s] + j] = (int32_t)((int64_t)s * T + p);
        }
    return ELM_OK;
}

elm_status elm_bert_run(elm_bert *c, int32_t n_seq, const int32_t *const *ids, const int32_t *const *types,
                        const int32_t *n_tokens, const elm_bert_request *req, elm_error *err) {
    elm_error spare;
    if (!err) err = &spare;
    elm_bert_request none = {0};
    if (!req) req = &none;
    if (!c || n_seq < 0 || (n_seq > 0 && (!ids || !n_tokens))) return elm_err_set(err, ELM_ERR_INVALID, "bert: bad arguments");
    if (n_seq > c->n_seq_max)
        return elm_err_set(err, ELM_ERR_INVALID, "bert: %d sequences in one run; the context was made for at most %d (n_seq_max)",
                           n_seq, c->n_seq_max);
    const elm_bert_model *m = c->model;
    if (req->mlm && !m->mlm_w) return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the model has no masked-LM head");
    if ((req->pooled || req->nsp || req->classify) && !m->pool_w)
        return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the model has no pooler");
    if (req->nsp && !m->nsp_w) return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the model has no next-sentence head");
    if (req->classify && !m->cls_w) return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the model has no classifier");
    if (req->token_classify && !m->tok_w)
        return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the model has no token classifier");
    if (req->qa && !m->qa_w) return elm_err_set(err, ELM_ERR_UNSUPPORTED, "bert: the model has no question-answering head");
    c->n_seq = 0; /* the previous results are gone */
    if (n_seq == 0) return ELM_OK;
    int64_t T = 0;
    for (int32_t s = 0; s < n_seq; s++) {
        if (n_tokens[s] < 1 || n_tokens[s] > c->n_ctx || !ids[s])
            return elm_err_set(err, ELM_ERR_INVALID, "bert: sequence %d has %d tokens (1 to %d)", s, n_tokens[s], c->n_ctx);
        if (n_tokens[s] > T) T = n_tokens[s];
    }
    int64_t n_mlm = 0;
    elm_status st = bert_fill_inputs(c, n_seq, ids, types, n_tokens, T, req, &n_mlm, err);
    memcpy(c->lens, n_tokens, (size_t)n_seq * sizeof *c->lens);
    gl_graph *graph = NULL;
    if (st == ELM_OK) st = bert_graph_build(c, T, n_seq, c->lens, req, n_mlm, &graph, err);
    if (st != ELM_OK) return st;
    gl_error ge = {0};
    if (elm_runner_run(&c->run, graph, &ge) != GL_OK) return elm_err_from_gl(err, &ge);
    c->n_seq = n_seq;
    c->T = T;
    c->all_hidden = req->all_hidden;
    c->mlm_asked = req->mlm;
    return ELM_OK;
}

/* ------------------------------------------------------------------------------------------
 * results
 * ---------------------------------------------------------------------------------------- */

static const char *const bert_output_names[] = {"last hidden state", "hidden states", "pooled output",
                                                "next-sentence logits", "classifier logits", "token-classifier logits",
                                                "question-answering logits", "masked-LM logits"};

/* Where result `what` of sequence s lies: n rows of width floats from row `first` of t (for
 * HIDDEN, of each layer's tensor). NULL when the last run did not compute it. */
static const gl_tensor *bert_output(const elm_bert *c, int32_t s, elm_bert_output what, int64_t *first, int64_t *n,
                                    int64_t *width) {
    const elm_bert_model *m = c->model;
    const bert_graph *g = &c->g;
    const int64_t tok0 = (int64_t)s * c->T, len = c->lens[s];
    *first = tok0;
    *n = len;
    *width = m->n_embd;
    switch (what) {
    case ELM_BERT_OUT_LAST: return g->hidden[m->n_layer];
    case ELM_BERT_OUT_HIDDEN: return c->all_hidden ? g->hidden[0] : NULL;
    case ELM_BERT_OUT_POOLED: *first = s, *n = 1; return g->pooled;
    case ELM_BERT_OUT_NSP: *first = s, *n = 1, *width = 2; return g->nsp;
    case ELM_BERT_OUT_CLASSES: *first = s, *n = 1, *width = m->n_labels; return g->classes;
    case ELM_BERT_OUT_TOKEN_LOGITS: *width = m->n_labels; return g->tokens;
    case ELM_BERT_OUT_QA: *width = 2; return g->qa;
    case ELM_BERT_OUT_MLM:
        *first = c->mlm_first[s];
        *n = c->mlm_first[s + 1] - c->mlm_first[s];
        *width = m->n_vocab;
        return g->mlm;
    }
    return NULL;
}

static void bert_copy_rows(float *dst, const gl_tensor *t, int64_t first, int64_t n, int64_t width) {
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * width, (const char *)t->data + (size_t)(first + i) * t->nb[1], (size_t)width * sizeof *dst);
}

int64_t elm_bert_get(const elm_bert *c, int32_t s, elm_bert_output what, float *out, int64_t max, elm_error *err) {
    if (!c || what < ELM_BERT_OUT_LAST || what > ELM_BERT_OUT_MLM)
        return elm_err_set(err, ELM_ERR_INVALID, "bert: bad arguments");
    if (s < 0 || s >= c->n_seq)
        return elm_err_set(err, ELM_ERR_INVALID, "bert: the last run has no sequence %d (it had %d)", s, c->n_seq);
    int64_t first, n, width;
    const gl_tensor *t = bert_output(c, s, what, &first, &n, &width);
    const int64_t layers = what == ELM_BERT_OUT_HIDDEN ? c->model->n_layer + 1 : 1;
    const int64_t need = layers * n * width;
    if (!t && what == ELM_BERT_OUT_MLM && c->mlm_asked) return 0; /* asked for, at no position */
    if (!t) return elm_err_set(err, ELM_ERR_INVALID, "bert: the last run did not compute the %s (see elm_bert_request)",
                               bert_output_names[what]);
    if (!out) return need;
    if (max < need)
        return elm_err_set(err, ELM_ERR_INVALID, "bert: the %s of sequence %d take %lld floats, the buffer holds %lld",
                           bert_output_names[what], s, (long long)need, (long long)max);
    for (int64_t l = 0; l < layers; l++)
        bert_copy_rows(out + l * n * width, what == ELM_BERT_OUT_HIDDEN ? c->g.hidden[l] : t, first, n, width);
    return need;
}

elm_status elm_bert_embedding(const elm_bert *c, int32_t s, elm_bert_pooling pooling, bool normalize, float *out,
                              elm_error *err) {
    if (!c || !out || s < 0 || s >= c->n_seq) return elm_err_set(err, ELM_ERR_INVALID, "bert: no result for sequence %d", s);
    const gl_tensor *t = c->g.hidden[c->model->n_layer];
    const int64_t E = c->model->n_embd, n = c->lens[s], tok0 = (int64_t)s * c->T;
#define BERT_ROW(i) ((const float *)((const char *)t->data + (size_t)(tok0 + (i)) * t->nb[1]))
    if (pooling == ELM_BERT_POOL_MEAN) {
        for (int64_t i = 0; i < E; i++) {
            double acc = 0;
            for (int64_t k = 0; k < n; k++) acc += BERT_ROW(k)[i];
            out[i] = (float)(acc / (double)n);
        }
    } else {
        const int64_t row = pooling == ELM_BERT_POOL_LAST && n > 0 ? n - 1 : 0;
        memcpy(out, BERT_ROW(row), (size_t)E * sizeof *out);
    }
#undef BERT_ROW
    if (normalize) {
        double ss = 0;
        for (int64_t i = 0; i < E; i++) ss += (double)out[i] * out[i];
        double inv = 1.0 / fmax(sqrt(ss), 1e-12); /* F.normalize's eps */
        for (int64_t i = 0; i < E; i++) out[i] = (float)(out[i] * inv);
    }
    return ELM_OK;
}
