/*
 * convert_bert.c — Hugging Face BERT folders → GGUF (architecture "bert").
 *
 * Reads BertModel, BertForMaskedLM, BertForPreTraining, BertForSequenceClassification,
 * BertForTokenClassification and BertForQuestionAnswering checkpoints (model.safetensors or pytorch_model.bin, through elm_cv_source) and
 * sentence-transformers folders (modules.json + 1_Pooling/config.json). Encoder tensors get
 * llama.cpp's bert names; the heads llama.cpp drops keep names of our own (docs/FORMAT.md,
 * "BERT"). The WordPiece vocabulary is written in llama.cpp's "phantom space" spelling, so our
 * files load in llama.cpp and llama.cpp's in edgelm. A source tensor that nothing maps is
 * named in a warning (refused with --strict), never dropped silently.
 */
#include "alloc.h"
#include "convert.h"
#include "convert_plan.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cb_job {
    const elm_convert_params *p;
    elm_cv_source *src;
    const elm_json *cfg;
    char prefix[16]; /* "bert.", "distilbert.", "roberta." or "" */
    int64_t E, L, H, F, V, n_ctx, n_types;
    double eps;
    int pooling;     /* llama.cpp's pooling_type: 1 mean, 2 cls, 3 last */
    int normalize;   /* sentence-transformers Normalize module: 1 */
    elm_cv_plan plan; /* the output tensors (convert_plan.h) */
    char **labels;
    int64_t n_labels;
    int head;        /* CB_HEAD_*: what "classifier" is, from config.json's architectures */
    const struct cb_dialect *dialect; /* the family's tensor names */
    int64_t pos_offset;               /* position rows to skip (RoBERTa: padding_idx + 1) */
    const char *pooler_act;           /* NULL (tanh) or "relu" (DistilBERT's pre_classifier) */
    const elm_st_tensor *tied[2]; /* read but not written: a tied decoder weight / bias copy */
    gl_error *err;
} cb_job;

enum { CB_HEAD_SEQUENCE, CB_HEAD_TOKEN, CB_HEAD_QA };

/* ---- plan ---- */

static const elm_st_tensor *cb_find(const cb_job *j, const char *name) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", j->prefix, name);
    const elm_st_tensor *t = elm_cv_source_find(j->src, full);
    if (!t) t = elm_cv_source_find(j->src, name); /* heads (cls.*, classifier.*) have no prefix */
    if (!t && elm_cv_ends_with(name, ".weight")) { /* old TF-converted checkpoints: gamma/beta */
        snprintf(full, sizeof full, "%s%.*sgamma", j->prefix, (int)(strlen(name) - 6), name);
        t = elm_cv_source_find(j->src, full);
    } else if (!t && elm_cv_ends_with(name, ".bias")) {
        snprintf(full, sizeof full, "%s%.*sbeta", j->prefix, (int)(strlen(name) - 4), name);
        t = elm_cv_source_find(j->src, full);
    }
    return t;
}

static gl_status cb_add(cb_job *j, const char *name, const elm_st_tensor *src, int64_t rows, int64_t cols) {
    if (!src) return gl_error_set(j->err, GL_ERR_FORMAT, "bert: no source tensor for %s", name);
    /* The embedding tables that the graph reads by row (position, token type) stay F32;
     * matrices take the requested type (word embeddings too: get_rows and the tied MLM decoder
     * read any type). */
    bool keep = !strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight");
    return elm_cv_plan_add(&j->plan, name, src, rows, cols, ELM_CV_COPY, 0, keep);
}

/* "<hf>.weight" [out, in] and "<hf>.bias" [out] → "<gg>.weight", "<gg>.bias". */
static gl_status cb_lin(cb_job *j, const char *gg, const char *hf, int64_t out, int64_t in) {
    char a[128], b[128];
    snprintf(a, sizeof a, "%s.weight", hf);
    snprintf(b, sizeof b, "%s.weight", gg);
    gl_status s = cb_add(j, b, cb_find(j, a), out, in);
    snprintf(a, sizeof a, "%s.bias", hf);
    snprintf(b, sizeof b, "%s.bias", gg);
    return s == GL_OK ? cb_add(j, b, cb_find(j, a), out, 0) : s;
}

/* The encoder's Hugging Face names in each family; everything else is BERT's. */
typedef struct cb_dialect {
    const char *model_type, *prefix, *layer; /* layer: "<prefix>layer.%lld." */
    const char *q, *k, *v, *o, *ln1, *up, *down, *ln2;
} cb_dialect;

static const cb_dialect cb_dialects[] = {
    {"bert", "bert.", "encoder.layer.%lld.", "attention.self.query", "attention.self.key", "attention.self.value",
     "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"},
    {"roberta", "roberta.", "encoder.layer.%lld.", "attention.self.query", "attention.self.key", "attention.self.value",
     "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"},
    {"xlm-roberta", "roberta.", "encoder.layer.%lld.", "attention.self.query", "attention.self.key",
     "attention.self.value", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
     "output.dense", "output.LayerNorm"},
    {"distilbert", "distilbert.", "transformer.layer.%lld.", "attention.q_lin", "attention.k_lin", "attention.v_lin",
     "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"},
};

static const cb_dialect *cb_dialect_of(const char *model_type) {
    for (size_t i = 0; i < sizeof cb_dialects / sizeof cb_dialects[0]; i++)
        if (model_type && !strcmp(model_type, cb_dialects[i].model_type)) return &cb_dialects[i];
    return &cb_dialects[0];
}

/* Optional "<hf>" linear layer → "<gg>" when the checkpoint has it. */
static gl_status cb_lin_opt(cb_job *j, const char *gg, const char *hf, int64_t out, int64_t in) {
    char w[128];
    snprintf(w, sizeof w, "%s.weight", hf);
    return cb_find(j, w) ? cb_lin(j, gg, hf, out, in) : GL_OK;
}

/* Masked-LM head: transform dense + LayerNorm, bias, decoder tied to the word embeddings. */
static gl_status cb_mlm(cb_job *j, const char *dense, const char *norm, const char *bias, const char *dec_w,
                        const char *dec_b) {
    const int64_t E = j->E;
    gl_status s = cb_lin(j, "cls.mlm.dense", dense, E, E);
    if (s == GL_OK) s = cb_lin(j, "cls.mlm.norm", norm, E, 0);
    const elm_st_tensor *b = cb_find(j, bias);
    if (!b) b = cb_find(j, dec_b);
    if (s == GL_OK) s = cb_add(j, "cls.mlm.bias", b, j->V, 0);
    if (s != GL_OK) return s;
    /* The decoder is tied to the word embeddings in every BERT; keep it only if not. */
    const elm_st_tensor *d = cb_find(j, dec_w);
    const elm_st_tensor *w = cb_find(j, "embeddings.word_embeddings.weight");
    bool tied = !d || (d->nbytes == w->nbytes && d->dtype == w->dtype && !memcmp(d->data, w->data, d->nbytes));
    if (!tied) s = cb_add(j, "cls.mlm.decoder.weight", d, j->V, E);
    else j->tied[0] = d;
    /* pytorch_model.bin keeps the decoder's bias beside the (shared) predictions bias */
    const elm_st_tensor *db = cb_find(j, dec_b);
    if (s == GL_OK && db && db != b) {
        if (db->nbytes != b->nbytes || db->dtype != b->dtype || memcmp(db->data, b->data, db->nbytes))
            return gl_error_set(j->err, GL_ERR_UNSUPPORTED, "bert: %s differs from %s", dec_b, bias);
        j->tied[1] = db;
    }
    return s;
}

/* The classifier on the pooled output ("cls") or on every token ("cls.token"). */
static gl_status cb_classifier(cb_job *j, const char *hf) {
    char w[128];
    snprintf(w, sizeof w, "%s.weight", hf);
    const elm_st_tensor *c = cb_find(j, w);
    j->n_labels = c->n_dims == 2 ? c->shape[0] : 0;
    if (j->n_labels < 1 || j->n_labels > 4096) return gl_error_set(j->err, GL_ERR_FORMAT, "bert: bad classifier shape");
    return cb_lin(j, j->head == CB_HEAD_TOKEN ? "cls.token" : "cls", hf, j->n_labels, j->E);
}

static gl_status cb_heads(cb_job *j) {
    const int64_t E = j->E;
    const char *mt = j->dialect->model_type;
    gl_status s = GL_OK;
    bool roberta = !strcmp(mt, "roberta") || !strcmp(mt, "xlm-roberta"), distil = !strcmp(mt, "distilbert");
    if (roberta) { /* RobertaForSequenceClassification: tanh(dense(<s>)) then out_proj = pooler + cls */
        s = cb_lin_opt(j, "pooler", "pooler.dense", E, E);
        if (s == GL_OK && cb_find(j, "classifier.dense.weight")) {
            if (j->head != CB_HEAD_SEQUENCE || cb_find(j, "pooler.dense.weight"))
                return gl_error_set(j->err, GL_ERR_UNSUPPORTED, "roberta: classifier.dense with a pooler or a token head");
            s = cb_lin(j, "pooler", "classifier.dense", E, E);
            if (s == GL_OK) s = cb_classifier(j, "classifier.out_proj");
        } else if (s == GL_OK && cb_find(j, "classifier.weight")) {
            s = cb_classifier(j, "classifier");
        }
        if (s == GL_OK && cb_find(j, "lm_head.dense.weight"))
            s = cb_mlm(j, "lm_head.dense", "lm_head.layer_norm", "lm_head.bias", "lm_head.decoder.weight", "lm_head.decoder.bias");
    } else if (distil) { /* DistilBertForSequenceClassification: relu(pre_classifier(h0)) then classifier */
        s = cb_lin_opt(j, "pooler", "pre_classifier", E, E);
        if (s == GL_OK && cb_find(j, "classifier.weight")) s = cb_classifier(j, "classifier");
        if (s == GL_OK && cb_find(j, "vocab_transform.weight"))
            s = cb_mlm(j, "vocab_transform", "vocab_layer_norm", "vocab_projector.bias", "vocab_projector.weight",
                       "vocab_projector.bias");
    } else {
        s = cb_lin_opt(j, "pooler", "pooler.dense", E, E);
        if (s == GL_OK && cb_find(j, "cls.predictions.transform.dense.weight"))
            s = cb_mlm(j, "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias",
                       "cls.predictions.decoder.weight", "cls.predictions.decoder.bias");
        if (s == GL_OK) s = cb_lin_opt(j, "cls.nsp", "cls.seq_relationship", 2, E);
        if (s == GL_OK && cb_find(j, "classifier.weight")) s = cb_classifier(j, "classifier");
    }
    if (s == GL_OK) s = cb_lin_opt(j, "cls.qa", "qa_outputs", 2, E);
    return s;
}

static gl_status cb_plan(cb_job *j) {
    const int64_t E = j->E, F = j->F;
    const cb_dialect *d = j->dialect;
    gl_status s = GL_OK;
    j->prefix[0] = '\0';
    char probe[96];
    snprintf(probe, sizeof probe, "%sembeddings.word_embeddings.weight", d->prefix);
    if (elm_cv_source_find(j->src, probe)) snprintf(j->prefix, sizeof j->prefix, "%s", d->prefix);
    if (!cb_find(j, "embeddings.word_embeddings.weight"))
        return gl_error_set(j->err, GL_ERR_FORMAT, "%s: embeddings.word_embeddings.weight is missing", d->model_type);
    if (s == GL_OK) s = cb_add(j, "token_embd.weight", cb_find(j, "embeddings.word_embeddings.weight"), j->V, E);
    if (s == GL_OK && j->n_types > 0)
        s = cb_add(j, "token_types.weight", cb_find(j, "embeddings.token_type_embeddings.weight"), j->n_types, E);
    if (s == GL_OK) {
        s = cb_add(j, "position_embd.weight", cb_find(j, "embeddings.position_embeddings.weight"), j->n_ctx + j->pos_offset, E);
        if (s == GL_OK) { /* RoBERTa: rows 0..padding_idx are never used by real tokens */
            elm_cv_plan_last(&j->plan)->row_offset = j->pos_offset;
            elm_cv_plan_last(&j->plan)->ne[1] = j->n_ctx;
        }
    }
    if (s == GL_OK) s = cb_add(j, "token_embd_norm.weight", cb_find(j, "embeddings.LayerNorm.weight"), E, 0);
    if (s == GL_OK) s = cb_add(j, "token_embd_norm.bias", cb_find(j, "embeddings.LayerNorm.bias"), E, 0);
    for (int64_t l = 0; l < j->L && s == GL_OK; l++) {
        char gg[64], hf[128], pre[64];
        snprintf(pre, sizeof pre, d->layer, (long long)l);
        const struct {
            const char *gg, *hf;
            int kind; /* 0: E x E, 1: up F x E, 2: down E x F, 3: norm */
        } map[] = {
            {"attn_q", d->q, 0}, {"attn_k", d->k, 0}, {"attn_v", d->v, 0}, {"attn_output", d->o, 0},
            {"attn_output_norm", d->ln1, 3}, {"ffn_up", d->up, 1}, {"ffn_down", d->down, 2}, {"layer_output_norm", d->ln2, 3},
        };
        for (size_t k = 0; k < sizeof map / sizeof map[0] && s == GL_OK; k++) {
            snprintf(gg, sizeof gg, "blk.%lld.%s", (long long)l, map[k].gg);
            snprintf(hf, sizeof hf, "%s%s", pre, map[k].hf);
            if (map[k].kind == 3) s = cb_lin(j, gg, hf, E, 0);
            else s = cb_lin(j, gg, hf, map[k].kind == 1 ? F : E, map[k].kind == 2 ? F : E);
        }
    }
    /* heads (--no-heads: none, an encoder for embeddings that llama.cpp loads too) */
    if (j->p->no_heads || s != GL_OK) return s;
    return cb_heads(j);
}

/* Every source tensor is written, tied to one that is, or named (convert.h). */
static gl_status cb_check_unmapped(cb_job *j) {
    static const char *const buffers[] = {"position_ids", "token_type_ids", NULL};
    static const char *const heads[] = {"cls.", "pooler.", "bert.pooler.", "classifier.", "qa_outputs.", NULL};
    return elm_cv_plan_check_unmapped(&j->plan, j->src, j->tied, 2, buffers, j->p->no_heads ? heads : NULL);
}

/* Which head "classifier" is: BertForTokenClassification applies it to every token. */
static gl_status cb_head_kind(cb_job *j) {
    const elm_json *archs = elm_json_get(j->cfg, "architectures");
    const char *a0 = elm_json_str(elm_json_at(archs, 0));
    j->head = CB_HEAD_SEQUENCE;
    if (!a0) return GL_OK;
    if (strstr(a0, "ForTokenClassification")) j->head = CB_HEAD_TOKEN;
    else if (strstr(a0, "ForQuestionAnswering")) j->head = CB_HEAD_QA;
    else if (strstr(a0, "ForMultipleChoice"))
        return gl_error_set(j->err, GL_ERR_UNSUPPORTED, "bert: %.64s is not supported", a0);
    return GL_OK;
}

/* ---- config ---- */

static bool cb_cfg(const elm_json *cfg, const char *key, int64_t *out, int64_t lo, int64_t hi) {
    int64_t v;
    if (!elm_json_get_int(cfg, key, &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static gl_status cb_hparams(cb_job *j) {
    const elm_json *c = j->cfg;
    j->dialect = cb_dialect_of(elm_json_get_str(c, "model_type"));
    const char *mt = j->dialect->model_type;
    const bool distil = !strcmp(mt, "distilbert"), roberta = mt[0] == 'r' || mt[0] == 'x';
    j->n_types = 2;
    /* DistilBERT spells the sizes dim / n_layers / n_heads / hidden_dim */
    if (!cb_cfg(c, distil ? "dim" : "hidden_size", &j->E, 1, 1 << 16) ||
        !cb_cfg(c, distil ? "n_layers" : "num_hidden_layers", &j->L, 1, 256) ||
        !cb_cfg(c, distil ? "n_heads" : "num_attention_heads", &j->H, 1, 4096) ||
        !cb_cfg(c, distil ? "hidden_dim" : "intermediate_size", &j->F, 1, 1 << 20) ||
        !cb_cfg(c, "max_position_embeddings", &j->n_ctx, 1, 1 << 20) || !cb_cfg(c, "vocab_size", &j->V, 1, 1 << 24))
        return gl_error_set(j->err, GL_ERR_FORMAT,
                            "%s config.json: the hidden size, layer count, head count, feed-forward size, "
                            "max_position_embeddings and vocab_size must be positive integers", mt);
    if (distil) j->n_types = 0; /* no token type embeddings */
    else cb_cfg(c, "type_vocab_size", &j->n_types, 1, 1 << 16);
    if (roberta) { /* positions start after padding_idx: rows 0..pad are never used */
        int64_t pad = 1;
        cb_cfg(c, "pad_token_id", &pad, 0, 1 << 20);
        j->pos_offset = pad + 1;
        if (j->n_ctx <= j->pos_offset) return gl_error_set(j->err, GL_ERR_FORMAT, "%s: max_position_embeddings too small", mt);
        j->n_ctx -= j->pos_offset;
    }
    if (distil) j->pooler_act = "relu";
    if (j->E % j->H) return gl_error_set(j->err, GL_ERR_FORMAT, "bert: %lld heads do not divide %lld", (long long)j->H, (long long)j->E);
    j->eps = 1e-12;
    elm_json_get_num(c, "layer_norm_eps", &j->eps);
    const char *act = elm_json_get_str(c, distil ? "activation" : "hidden_act");
    if (act && strcmp(act, "gelu"))
        return gl_error_set(j->err, GL_ERR_UNSUPPORTED, "%s: activation '%.32s' (only gelu)", mt, act);
    const char *pe = elm_json_get_str(c, "position_embedding_type");
    if (pe && strcmp(pe, "absolute"))
        return gl_error_set(j->err, GL_ERR_UNSUPPORTED, "bert: position_embedding_type '%.32s' (only absolute)", pe);
    return GL_OK;
}

/* id2label: {"0": "NEGATIVE", "1": "POSITIVE"}; missing entries become LABEL_i. */
static gl_status cb_labels(cb_job *j) {
    if (j->n_labels <= 0) return GL_OK;
    j->labels = ELM_CALLOC((size_t)j->n_labels, sizeof *j->labels);
    if (!j->labels) return gl_error_set(j->err, GL_ERR_NOMEM, "out of memory");
    const elm_json *m = elm_json_get(j->cfg, "id2label");
    for (int64_t i = 0; i < j->n_labels; i++) {
        char key[24], buf[32];
        snprintf(key, sizeof key, "%lld", (long long)i);
        const char *name = elm_json_get_str(m, key);
        if (!name) {
            snprintf(buf, sizeof buf, "LABEL_%lld", (long long)i);
            name = buf;
        }
        if (!(j->labels[i] = elm_strdup(name))) return gl_error_set(j->err, GL_ERR_NOMEM, "out of memory");
    }
    return GL_OK;
}

/* sentence-transformers: modules.json names a Pooling module (and maybe Normalize). */
static gl_status cb_sentence_transformers(cb_job *j) {
    const char *dir = j->p->src;
    bool failed = false;
    j->pooling = 2;
    j->normalize = 0;
    elm_json_doc *mods = elm_cv_json_opt(dir, "modules.json", j->err, &failed);
    if (failed) return j->err ? j->err->code : GL_ERR_FORMAT;
    if (!mods) return GL_OK;
    const elm_json *r = elm_json_root(mods);
    gl_status s = GL_OK;
    for (size_t i = 0; i < elm_json_count(r) && s == GL_OK; i++) {
        const elm_json *mo = elm_json_at(r, i);
        const char *type = elm_json_get_str(mo, "type"), *path = elm_json_get_str(mo, "path");
        if (!type || !path) continue;
        if (strstr(type, "Normalize")) j->normalize = 1;
        if (!strstr(type, "Pooling")) continue;
        if (strstr(path, "..")) {
            s = gl_error_set(j->err, GL_ERR_FORMAT, "modules.json: bad module path");
            break;
        }
        char *pdir = elm_cv_path_join(dir, path);
        elm_json_doc *pc = pdir ? elm_cv_json_opt(pdir, "config.json", j->err, &failed) : NULL;
        ELM_FREE(pdir);
        if (failed) {
            s = j->err ? j->err->code : GL_ERR_FORMAT;
            break;
        }
        const elm_json *pr = elm_json_root(pc);
        bool cls = false, mean = false, last = false, other = false, b;
        if (elm_json_get_bool(pr, "pooling_mode_cls_token", &b)) cls = b;
        if (elm_json_get_bool(pr, "pooling_mode_mean_tokens", &b)) mean = b;
        if (elm_json_get_bool(pr, "pooling_mode_lasttoken", &b)) last = b;
        static const char *others[] = {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                                       "pooling_mode_weightedmean_tokens"};
        for (size_t k = 0; k < 3; k++)
            if (elm_json_get_bool(pr, others[k], &b) && b) other = true;
        const char *pm = elm_json_get_str(pr, "pooling_mode");
        if (pm) {
            cls = !strcmp(pm, "cls");
            mean = !strcmp(pm, "mean");
            last = !strcmp(pm, "lasttoken");
            other = !cls && !mean && !last;
        }
        if (other || cls + mean + last != 1)
            s = gl_error_set(j->err, GL_ERR_UNSUPPORTED, "sentence-transformers pooling: one of cls, mean or lasttoken is "
                             "supported (GGUF bert.pooling_type 2, 1, 3); for max pooling convert the model and run "
                             "`edgelm embed --pooling max`");
        else j->pooling = mean ? 1 : last ? 3 : 2;
        elm_json_free(pc);
        elm_cv_log(j->p, "sentence-transformers: %s pooling%s", mean ? "mean" : last ? "last-token" : "cls",
                   j->normalize ? ", normalized" : "");
    }
    elm_json_free(mods);
    return s;
}

/* ---- vocabulary ---- */

typedef struct cb_vocab {
    elm_cv_vocab v;
    int lower, strip, chinese; /* -1: not stated */
    int32_t sep, cls, mask;
} cb_vocab;

static gl_status cb_vocab_push(cb_vocab *cv, const char *s, size_t n, gl_error *err) {
    elm_cv_vocab *v = &cv->v;
    if (v->n_tokens == v->cap_tokens) {
        int32_t cap = v->cap_tokens ? v->cap_tokens * 2 : 1024;
        char **t = ELM_REALLOC(v->tokens, (size_t)cap * sizeof *t);
        if (t) v->tokens = t;
        uint64_t *l = ELM_REALLOC(v->lens, (size_t)cap * sizeof *l);
        if (l) v->lens = l;
        int32_t *ty = ELM_REALLOC(v->types, (size_t)cap * sizeof *ty);
        if (ty) v->types = ty;
        if (!t || !l || !ty) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        v->cap_tokens = cap;
    }
    char *c = ELM_MALLOC(n + 1);
    if (!c) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    memcpy(c, s, n);
    c[n] = '\0';
    v->tokens[v->n_tokens] = c;
    v->lens[v->n_tokens] = n;
    v->types[v->n_tokens] = 1;
    v->n_tokens++;
    return GL_OK;
}

static gl_status cb_vocab_txt(cb_vocab *cv, const char *path, gl_error *err) {
    elm_map m;
    gl_status s = elm_map_open(&m, path, err);
    if (s != GL_OK) return s;
    const char *p = (const char *)m.data, *end = p + m.size;
    while (p < end && s == GL_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t n = (size_t)(e - p);
        if (n > 0 && p[n - 1] == '\r') n--;
        if (elm_utf8_validate(p, n) != n) s = gl_error_set(err, GL_ERR_FORMAT, "%s: invalid UTF-8 on line %d", path, cv->v.n_tokens + 1);
        else if (nl || n > 0) s = cb_vocab_push(cv, p, n, err);
        p = nl ? nl + 1 : end;
    }
    elm_map_close(&m);
    return s;
}

/* tokenizer.json model.vocab {"token": id}: ids must be 0..n-1. */
static gl_status cb_vocab_json(cb_vocab *cv, const elm_json *vocab, gl_error *err) {
    size_t n = elm_json_count(vocab);
    if (n == 0 || n > (1u << 24)) return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: empty or huge WordPiece vocab");
    const elm_json **by_id = ELM_CALLOC(n, sizeof *by_id);
    if (!by_id) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    gl_status s = GL_OK;
    for (size_t i = 0; i < n && s == GL_OK; i++) {
        const elm_json *it = elm_json_at(vocab, i);
        int64_t id;
        if (!elm_json_int(it, &id) || id < 0 || (size_t)id >= n || by_id[id])
            s = gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: WordPiece ids are not 0..%zu", n - 1);
        else by_id[id] = it;
    }
    for (size_t i = 0; i < n && s == GL_OK; i++) s = cb_vocab_push(cv, by_id[i]->key, by_id[i]->key_len, err);
    ELM_FREE(by_id);
    return s;
}

static int32_t cb_vocab_find(const cb_vocab *cv, const char *s) {
    for (int32_t i = 0; i < cv->v.n_tokens; i++)
        if (!strcmp(cv->v.tokens[i], s)) return i;
    return -1;
}

/* Which text a special role uses: special_tokens_map.json / tokenizer_config.json, else the
 * BERT default. */
static const char *cb_special_text(const elm_json *smap, const elm_json *tcfg, const char *role, const char *dflt) {
    const elm_json *srcs[2] = {smap, tcfg};
    for (int k = 0; k < 2; k++) {
        const elm_json *v = elm_json_get(srcs[k], role);
        if (elm_json_str(v)) return elm_json_str(v);
        if (elm_json_get_str(v, "content")) return elm_json_get_str(v, "content");
    }
    return dflt;
}

static gl_status cb_vocab_load(const char *dir, int64_t n_vocab, cb_vocab *cv, gl_error *err) {
    memset(cv, 0, sizeof *cv);
    cv->lower = cv->strip = cv->chinese = -1;
    bool failed = false;
    elm_json_doc *tc = elm_cv_json_opt(dir, "tokenizer_config.json", err, &failed);
    elm_json_doc *sm = failed ? NULL : elm_cv_json_opt(dir, "special_tokens_map.json", err, &failed);
    elm_json_doc *tj = failed ? NULL : elm_cv_json_opt(dir, "tokenizer.json", err, &failed);
    gl_status s = failed ? (err ? err->code : GL_ERR_FORMAT) : GL_OK;
    const elm_json *tcr = elm_json_root(tc), *smr = elm_json_root(sm), *tjr = elm_json_root(tj);
    char *vt = elm_cv_path_join(dir, "vocab.txt");
    if (s == GL_OK) {
        if (vt && elm_cv_file_exists(vt)) s = cb_vocab_txt(cv, vt, err);
        else if (tj && elm_json_get(elm_json_get(tjr, "model"), "vocab")) s = cb_vocab_json(cv, elm_json_get(elm_json_get(tjr, "model"), "vocab"), err);
        else s = gl_error_set(err, GL_ERR_IO, "%s: no vocab.txt or WordPiece tokenizer.json", dir);
    }
    ELM_FREE(vt);
    if (s == GL_OK) {
        /* settings: tokenizer_config.json (slow tokenizer), else tokenizer.json's normalizer */
        const elm_json *norm = elm_json_get(tjr, "normalizer");
        bool b;
        if (elm_json_get_bool(tcr, "do_lower_case", &b)) cv->lower = b;
        else if (elm_json_get_bool(norm, "lowercase", &b)) cv->lower = b;
        if (elm_json_get_bool(tcr, "strip_accents", &b)) cv->strip = b;
        else if (!elm_json_get(tcr, "strip_accents") && elm_json_get_bool(norm, "strip_accents", &b)) cv->strip = b;
        if (elm_json_get_bool(tcr, "tokenize_chinese_chars", &b)) cv->chinese = b;
        else if (elm_json_get_bool(norm, "handle_chinese_chars", &b)) cv->chinese = b;
        if (cv->lower < 0) cv->lower = 1; /* BertTokenizer's default */
        /* special tokens are CONTROL (what llama.cpp's converter marks them) */
        static const char *roles[][2] = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
                                         {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}};
        int32_t ids[5];
        for (int k = 0; k < 5; k++) {
            ids[k] = cb_vocab_find(cv, cb_special_text(smr, tcr, roles[k][0], roles[k][1]));
            if (ids[k] >= 0) cv->v.types[ids[k]] = 3;
        }
        cv->v.unk = ids[0];
        cv->sep = ids[1];
        cv->v.pad = ids[2];
        cv->cls = ids[3];
        cv->mask = ids[4];
        const elm_json *added = elm_json_get(tjr, "added_tokens");
        for (size_t i = 0; i < elm_json_count(added); i++) {
            const elm_json *a = elm_json_at(added, i);
            int64_t id;
            if (elm_json_get_int(a, "id", &id) && id >= 0 && id < cv->v.n_tokens && elm_json_get_bool(a, "special", &b) && b)
                cv->v.types[id] = 3;
        }
        while (s == GL_OK && n_vocab > 0 && cv->v.n_tokens < n_vocab) { /* rows the tokenizer does not use */
            char pad[32];
            int n = snprintf(pad, sizeof pad, "[PAD%d]", cv->v.n_tokens);
            s = cb_vocab_push(cv, pad, (size_t)n, err);
            if (s == GL_OK) cv->v.types[cv->v.n_tokens - 1] = 5;
        }
        if (s == GL_OK && n_vocab > 0 && cv->v.n_tokens > n_vocab)
            s = gl_error_set(err, GL_ERR_FORMAT, "vocabulary has %d tokens, the model %lld", cv->v.n_tokens, (long long)n_vocab);
    }
    snprintf(cv->v.model, sizeof cv->v.model, "bert");
    cv->v.bos = cv->cls; /* llama.cpp's WPM takes BOS as [CLS] */
    cv->v.eos = cv->v.eot = -1;
    cv->v.add_bos = cv->v.add_eos = cv->v.add_space_prefix = cv->v.remove_extra_whitespaces = -1;
    elm_json_free(tc);
    elm_json_free(sm);
    elm_json_free(tj);
    return s;
}

/* RoBERTa / XLM-R: the byte-level BPE (or SentencePiece) tokenizer of the folder, with <s> as
 * [CLS], </s> as [SEP] and <mask>, all CONTROL. */
static gl_status cb_vocab_bpe(const elm_convert_params *p, int64_t n_vocab, cb_vocab *cv, gl_error *err) {
    memset(cv, 0, sizeof *cv);
    cv->lower = cv->strip = cv->chinese = -1;
    gl_status s = elm_cv_vocab_load_dir(p->src, (int32_t)n_vocab, &cv->v, p->log, p->user, err);
    if (s != GL_OK) return s;
    bool failed = false;
    elm_json_doc *tc = elm_cv_json_opt(p->src, "tokenizer_config.json", err, &failed);
    elm_json_doc *sm = failed ? NULL : elm_cv_json_opt(p->src, "special_tokens_map.json", err, &failed);
    if (failed) s = err ? err->code : GL_ERR_FORMAT;
    const elm_json *tcr = elm_json_root(tc), *smr = elm_json_root(sm);
    int32_t *slots[3] = {&cv->cls, &cv->sep, &cv->mask};
    static const char *roles[3][2] = {{"cls_token", "<s>"}, {"sep_token", "</s>"}, {"mask_token", "<mask>"}};
    for (int k = 0; k < 3 && s == GL_OK; k++) {
        *slots[k] = cb_vocab_find(cv, cb_special_text(smr, tcr, roles[k][0], roles[k][1]));
        if (*slots[k] >= 0) cv->v.types[*slots[k]] = 3;
    }
    if (s == GL_OK && (cv->cls < 0 || cv->sep < 0))
        s = gl_error_set(err, GL_ERR_FORMAT, "%s: the tokenizer has no <s> / </s> tokens", p->src);
    cv->v.bos = cv->cls;
    cv->v.eos = cv->sep;
    cv->v.add_bos = cv->v.add_eos = 1; /* "<s> text </s>" (llama.cpp's keys, what `tokenize` adds) */
    elm_json_free(tc);
    elm_json_free(sm);
    return s;
}

/* llama.cpp's spelling: a non-CONTROL "##piece" loses its "##", every other non-CONTROL token
 * gets '▁' in front (a word start). */
static gl_status cb_vocab_phantom(cb_vocab *cv, gl_error *err) {
    elm_cv_vocab *v = &cv->v;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (v->types[i] == 3) continue;
        char *t = v->tokens[i];
        size_t n = v->lens[i];
        if (n > 2 && t[0] == '#' && t[1] == '#') {
            memmove(t, t + 2, n - 1);
            v->lens[i] = n - 2;
            continue;
        }
        char *c = ELM_MALLOC(n + 4);
        if (!c) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        memcpy(c, "\xE2\x96\x81", 3);
        memcpy(c + 3, t, n + 1);
        ELM_FREE(t);
        v->tokens[i] = c;
        v->lens[i] = n + 3;
    }
    return GL_OK;
}

static gl_status cb_vocab_write(gl_gguf_writer *w, const cb_vocab *cv, int64_t n_types, gl_error *err) {
    gl_status s = elm_cv_vocab_write(w, &cv->v, err);
    if (s != GL_OK) return s;
    if (cv->sep >= 0) s = gl_gguf_w_kv_u32(w, "tokenizer.ggml.seperator_token_id", (uint32_t)cv->sep);
    if (s == GL_OK && cv->cls >= 0) s = gl_gguf_w_kv_u32(w, "tokenizer.ggml.cls_token_id", (uint32_t)cv->cls);
    if (s == GL_OK && cv->mask >= 0) s = gl_gguf_w_kv_u32(w, "tokenizer.ggml.mask_token_id", (uint32_t)cv->mask);
    if (s == GL_OK && n_types > 0) s = gl_gguf_w_kv_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)n_types);
    if (s == GL_OK && cv->lower >= 0) s = gl_gguf_w_kv_bool(w, "edgelm.tokenizer.do_lower_case", cv->lower != 0);
    if (s == GL_OK && cv->strip >= 0) s = gl_gguf_w_kv_bool(w, "edgelm.tokenizer.strip_accents", cv->strip != 0);
    if (s == GL_OK && cv->chinese >= 0) s = gl_gguf_w_kv_bool(w, "edgelm.tokenizer.tokenize_chinese_chars", cv->chinese != 0);
    if (s != GL_OK) return gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    return GL_OK;
}

/* ---- write ---- */

static gl_status cb_write(cb_job *j, const cb_vocab *cv, elm_convert_stats *stats) {
    gl_error *err = j->err;
    const elm_convert_params *p = j->p;
    char name[256];
    if (p->name) snprintf(name, sizeof name, "%s", p->name);
    else elm_cv_default_name(p->src, name, sizeof name);
    gl_gguf_writer *w = elm_cv_plan_open(&j->plan, "bert", name);
    if (!w) return err ? err->code : GL_ERR_IO;
    gl_status s = GL_OK;
    if (!p->vocab_only) {
        if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "bert.context_length", (uint32_t)j->n_ctx);
        if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "bert.embedding_length", (uint32_t)j->E);
        if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "bert.block_count", (uint32_t)j->L);
        if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "bert.feed_forward_length", (uint32_t)j->F);
        if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "bert.attention.head_count", (uint32_t)j->H);
        if (s == GL_OK) s = gl_gguf_w_kv_f32(w, "bert.attention.layer_norm_epsilon", (float)j->eps);
        if (s == GL_OK) s = gl_gguf_w_kv_bool(w, "bert.attention.causal", false);
        if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "bert.pooling_type", (uint32_t)j->pooling);
        if (s == GL_OK && j->normalize) s = gl_gguf_w_kv_bool(w, "edgelm.pooling.normalize", true);
        if (s == GL_OK && j->pooler_act) s = gl_gguf_w_kv_str(w, "edgelm.bert.pooler_activation", j->pooler_act);
        if (s == GL_OK && j->n_labels > 0)
            s = gl_gguf_w_kv_arr_str(w, "bert.classifier.output_labels", (const char *const *)j->labels, NULL, (uint64_t)j->n_labels);
    }
    if (s != GL_OK) gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    if (s == GL_OK) s = cb_vocab_write(w, cv, j->n_types, err);
    if (s != GL_OK) {
        gl_gguf_writer_discard(w);
        return s;
    }
    s = elm_cv_plan_write(&j->plan, w, "bert", stats);
    if (s == GL_OK && stats) stats->n_vocab = cv->v.n_tokens;
    return s;
}

gl_status elm_cv_convert_bert(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    cb_job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.err = err;
    elm_cv_plan_init(&j.plan, p, err);
    cb_vocab cv;
    memset(&cv, 0, sizeof cv);
    bool failed = false;
    elm_json_doc *cfg = elm_cv_json_opt(p->src, "config.json", err, &failed);
    gl_status s = cfg ? GL_OK : failed ? (err ? err->code : GL_ERR_FORMAT)
                                       : gl_error_set(err, GL_ERR_IO, "%s: no config.json", p->src);
    if (s == GL_OK) {
        j.cfg = elm_json_root(cfg);
        s = cb_hparams(&j);
    }
    if (s == GL_OK) s = cb_sentence_transformers(&j);
    if (s == GL_OK && !p->vocab_only) {
        if (!(j.src = elm_cv_source_open(p->src, err))) s = err ? err->code : GL_ERR_IO;
        if (s == GL_OK) {
            elm_cv_log(p, "bert: %lld layers, %lld hidden, %lld heads, vocab %lld, %lld tensors (%s)", (long long)j.L,
                       (long long)j.E, (long long)j.H, (long long)j.V, (long long)elm_cv_source_n(j.src),
                       elm_cv_source_kind(j.src));
            s = cb_head_kind(&j);
            if (s == GL_OK) s = cb_plan(&j);
        }
        if (s == GL_OK) s = cb_check_unmapped(&j);
        if (s == GL_OK) s = cb_labels(&j);
    }
    const bool bpe = j.dialect && j.dialect->model_type[0] != 'b' && j.dialect->model_type[0] != 'd'; /* RoBERTa */
    if (s == GL_OK && bpe) s = cb_vocab_bpe(p, p->vocab_only ? -1 : j.V, &cv, err);
    if (s == GL_OK && !bpe) s = cb_vocab_load(p->src, p->vocab_only ? -1 : j.V, &cv, err);
    if (s == GL_OK && !bpe) s = cb_vocab_phantom(&cv, err);
    if (s == GL_OK) s = cb_write(&j, &cv, stats);
    elm_cv_vocab_free(&cv.v);
    for (int64_t i = 0; j.labels && i < j.n_labels; i++) ELM_FREE(j.labels[i]);
    ELM_FREE(j.labels);
    elm_cv_plan_free(&j.plan);
    elm_cv_source_close(j.src);
    elm_json_free(cfg);
    return s;
}
