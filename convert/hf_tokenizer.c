/*
 * hf_tokenizer.c — tokenizer files → llama.cpp's tokenizer.ggml.* metadata.
 *
 * Sources, in the order a folder is tried (llama.cpp's converter prefers the SentencePiece
 * model as well):
 *   tokenizer.model           SentencePiece protobuf             → model "llama"
 *   tokenizer.json            BPE, ByteLevel                     → model "gpt2" (+ merges, pre)
 *                             BPE, Metaspace / byte_fallback     → model "llama"
 *   vocab.json + merges.txt   (GPT-2's original names: encoder.json + vocab.bpe) → "gpt2"
 * Special ids come from tokenizer_config.json, then special_tokens_map.json, then config.json,
 * then the tokenizer model's own defaults; add_bos/add_eos from tokenizer_config.json or the
 * tokenizer.json post-processor; the chat template from tokenizer_config.json (or
 * chat_template.jinja).
 */
#include "alloc.h"
#include "convert.h"
#include "json.h"
#include "safetensors.h"
#include "spm_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TK_MAX_TOKENS (1 << 24)

enum { TK_NORMAL = 1, TK_UNKNOWN = 2, TK_CONTROL = 3, TK_USER_DEFINED = 4, TK_UNUSED = 5, TK_BYTE = 6 };

/* ---- the vocabulary table ---- */

void elm_cv_vocab_free(elm_cv_vocab *v) {
    if (!v) return;
    for (int32_t i = 0; i < v->n_tokens && v->tokens; i++) ELM_FREE(v->tokens[i]);
    for (int64_t i = 0; i < v->n_merges && v->merges; i++) ELM_FREE(v->merges[i]);
    ELM_FREE(v->tokens);
    ELM_FREE(v->lens);
    ELM_FREE(v->scores);
    ELM_FREE(v->types);
    ELM_FREE(v->merges);
    ELM_FREE(v->chat_template);
    memset(v, 0, sizeof *v);
}

static void tk_init(elm_cv_vocab *v) {
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = v->pad = v->eot = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = v->remove_extra_whitespaces = -1;
}

/* Grows the table to n slots (new slots empty: filled later or padded). */
static gl_status tk_resize(elm_cv_vocab *v, int32_t n, gl_error *err) {
    if (n <= v->n_tokens) return GL_OK;
    if (n > TK_MAX_TOKENS) return gl_error_set(err, GL_ERR_FORMAT, "vocabulary too large (%d tokens)", n);
    if (n > v->cap_tokens) { /* geometric growth: vocabularies arrive one token at a time */
        int32_t cap = v->cap_tokens > n / 2 ? v->cap_tokens * 2 : n;
        if (cap > TK_MAX_TOKENS) cap = TK_MAX_TOKENS;
        char **t = ELM_REALLOC(v->tokens, (size_t)cap * sizeof *t);
        if (t) v->tokens = t;
        uint64_t *l = ELM_REALLOC(v->lens, (size_t)cap * sizeof *l);
        if (l) v->lens = l;
        float *s = ELM_REALLOC(v->scores, (size_t)cap * sizeof *s);
        if (s) v->scores = s;
        int32_t *ty = ELM_REALLOC(v->types, (size_t)cap * sizeof *ty);
        if (ty) v->types = ty;
        if (!t || !l || !s || !ty) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        v->cap_tokens = cap;
    }
    for (int32_t i = v->n_tokens; i < n; i++) {
        v->tokens[i] = NULL;
        v->lens[i] = 0;
        v->scores[i] = 0.0f;
        v->types[i] = TK_NORMAL;
    }
    v->n_tokens = n;
    return GL_OK;
}

gl_status elm_cv_vocab_set(elm_cv_vocab *v, int32_t id, const char *s, size_t n, float score, int type,
                           gl_error *err) {
    if (id < 0 || id >= TK_MAX_TOKENS) return gl_error_set(err, GL_ERR_FORMAT, "token id %d out of range", id);
    if (elm_utf8_validate(s, n) != n) return gl_error_set(err, GL_ERR_FORMAT, "token %d is not valid UTF-8", id);
    gl_status st = tk_resize(v, id + 1, err);
    if (st != GL_OK) return st;
    char *c = ELM_MALLOC(n + 1);
    if (!c) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    memcpy(c, s, n);
    c[n] = '\0';
    ELM_FREE(v->tokens[id]);
    v->tokens[id] = c;
    v->lens[id] = n;
    v->scores[id] = score;
    v->types[id] = type;
    return GL_OK;
}

/* Pads to n_vocab (when larger) and names every empty slot [PAD<id>] like llama.cpp. */
static gl_status tk_finish(elm_cv_vocab *v, int32_t n_vocab, gl_error *err) {
    if (n_vocab > 0 && v->n_tokens > n_vocab)
        return gl_error_set(err, GL_ERR_FORMAT,
                            "the tokenizer has %d tokens but the model's vocab_size is %d", v->n_tokens, n_vocab);
    gl_status s = tk_resize(v, n_vocab, err);
    if (s != GL_OK) return s;
    if (v->n_tokens == 0) return gl_error_set(err, GL_ERR_FORMAT, "empty vocabulary");
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (v->tokens[i]) continue;
        char name[32];
        int n = snprintf(name, sizeof name, "[PAD%d]", i);
        s = elm_cv_vocab_set(v, i, name, (size_t)n, -1000.0f, TK_UNUSED, err);
        if (s != GL_OK) return s;
    }
    return GL_OK;
}

static int32_t tk_find(const elm_cv_vocab *v, const char *s) {
    size_t n = strlen(s);
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i] && v->lens[i] == n && !memcmp(v->tokens[i], s, n)) return i;
    return -1;
}

static bool tk_is_byte_token(const char *s, size_t n) {
    return n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
           strchr("0123456789ABCDEF", s[3]) && strchr("0123456789ABCDEF", s[4]) && s[3] && s[4];
}

static gl_status tk_add_merge(elm_cv_vocab *v, const char *a, size_t na, const char *b, size_t nb,
                              int64_t *cap, gl_error *err) {
    if (v->n_merges == *cap) {
        int64_t ncap = *cap ? *cap * 2 : 1024;
        if (ncap > TK_MAX_TOKENS * 4LL) return gl_error_set(err, GL_ERR_FORMAT, "too many merges");
        char **m = ELM_REALLOC(v->merges, (size_t)ncap * sizeof *m);
        if (!m) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        v->merges = m;
        *cap = ncap;
    }
    if (na == 0 || nb == 0) return gl_error_set(err, GL_ERR_FORMAT, "merge %lld has an empty side", (long long)v->n_merges);
    if (elm_utf8_validate(a, na) != na || elm_utf8_validate(b, nb) != nb)
        return gl_error_set(err, GL_ERR_FORMAT, "merge %lld is not valid UTF-8", (long long)v->n_merges);
    char *m = ELM_MALLOC(na + nb + 2);
    if (!m) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    memcpy(m, a, na);
    m[na] = ' ';
    memcpy(m + na + 1, b, nb);
    m[na + nb + 1] = '\0';
    v->merges[v->n_merges++] = m;
    return GL_OK;
}

/* Open-addressing hash of the token texts, for lookups in loops over the whole vocabulary. */
typedef struct tk_hash {
    int32_t *slots; /* token id + 1, 0 = empty */
    uint32_t mask;
} tk_hash;

static uint32_t tk_fnv(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static bool tk_hash_build(tk_hash *h, const elm_cv_vocab *v) {
    uint32_t cap = 16;
    while (cap < (uint32_t)v->n_tokens * 2u) cap *= 2;
    h->slots = ELM_CALLOC(cap, sizeof *h->slots);
    h->mask = cap - 1;
    if (!h->slots) return false;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (!v->tokens[i]) continue;
        uint32_t k = tk_fnv(v->tokens[i], v->lens[i]) & h->mask;
        while (h->slots[k]) k = (k + 1) & h->mask;
        h->slots[k] = i + 1;
    }
    return true;
}

static int32_t tk_hash_find(const tk_hash *h, const elm_cv_vocab *v, const char *s, size_t n) {
    uint32_t k = tk_fnv(s, n) & h->mask;
    while (h->slots[k]) {
        int32_t id = h->slots[k] - 1;
        if (v->lens[id] == n && !memcmp(v->tokens[id], s, n)) return id;
        k = (k + 1) & h->mask;
    }
    return -1;
}

/* Every merge "a b" must name two tokens of the vocabulary and make a third ("ab"), as the
 * Hugging Face tokenizers library requires: a merge naming a missing token is an error. */
static gl_status tk_check_merges(const elm_cv_vocab *v, const char *what, gl_error *err) {
    tk_hash h;
    if (!tk_hash_build(&h, v)) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    gl_status s = GL_OK;
    for (int64_t r = 0; r < v->n_merges && s == GL_OK; r++) {
        const char *m = v->merges[r], *sp = strchr(m, ' ');
        const size_t na = (size_t)(sp - m), nb = strlen(sp + 1);
        char *ab = ELM_MALLOC(na + nb + 1);
        if (!ab) {
            s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(ab, m, na);
        memcpy(ab + na, sp + 1, nb + 1);
        const char *missing = tk_hash_find(&h, v, m, na) < 0 ? "its first part"
                            : tk_hash_find(&h, v, sp + 1, nb) < 0 ? "its second part"
                            : tk_hash_find(&h, v, ab, na + nb) < 0 ? "the merged token" : NULL;
        if (missing)
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: merge %lld \"%.60s\": %s is not in the vocabulary", what,
                             (long long)r, m, missing);
        ELM_FREE(ab);
    }
    ELM_FREE(h.slots);
    return s;
}

/* ---- small file helpers ---- */

/* A special token written as "text" or {"content": "text"}. */
static const char *tk_token_text(const elm_json *v) {
    if (elm_json_is(v, ELM_JSON_STRING)) return v->s;
    return elm_json_get_str(v, "content");
}

/* ---- SentencePiece ---- */

gl_status elm_cv_vocab_load_spm(const char *path, int32_t n_vocab, elm_cv_vocab *v, gl_error *err) {
    tk_init(v);
    elm_map map;
    gl_status s = elm_map_open(&map, path, err);
    if (s != GL_OK) return s;
    elm_spm_model m;
    gl_error e = {0};
    s = elm_spm_parse(map.data, map.size, &m, &e);
    if (s != GL_OK) {
        elm_map_close(&map);
        return gl_error_set(err, s, "%s: %s", path, e.msg);
    }
    snprintf(v->model, sizeof v->model, "%s", "llama");
    snprintf(v->pre, sizeof v->pre, "%s", "default");
    if (m.model_type != ELM_SPM_BPE)
        snprintf(v->model, sizeof v->model, "%s", m.model_type == ELM_SPM_UNIGRAM ? "t5" : "llama");
    s = tk_resize(v, m.n_pieces, err);
    for (int32_t i = 0; i < m.n_pieces && s == GL_OK; i++) {
        const elm_spm_piece *pc = &m.pieces[i];
        s = elm_cv_vocab_set(v, i, pc->text, pc->len, pc->score, pc->type, err);
    }
    if (s == GL_OK) {
        if (m.unk_id >= 0 && m.unk_id < m.n_pieces) v->unk = m.unk_id;
        if (m.bos_id >= 0 && m.bos_id < m.n_pieces) v->bos = m.bos_id;
        if (m.eos_id >= 0 && m.eos_id < m.n_pieces) v->eos = m.eos_id;
        if (m.pad_id >= 0 && m.pad_id < m.n_pieces) v->pad = m.pad_id;
        v->add_space_prefix = m.add_dummy_prefix;
        v->remove_extra_whitespaces = m.remove_extra_whitespaces;
        s = tk_finish(v, n_vocab, err);
    }
    elm_spm_free(&m);
    elm_map_close(&map);
    if (s != GL_OK) elm_cv_vocab_free(v);
    return s;
}

/* ---- llama2.c tokenizer.bin ---- */

static uint32_t tk_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

gl_status elm_cv_vocab_load_llama2c(const char *path, int32_t n_vocab, elm_cv_vocab *v, gl_error *err) {
    tk_init(v);
    elm_map map;
    gl_status s = elm_map_open(&map, path, err);
    if (s != GL_OK) return s;
    snprintf(v->model, sizeof v->model, "%s", "llama");
    snprintf(v->pre, sizeof v->pre, "%s", "default");
    size_t off = 4;
    char *buf = ELM_MALLOC(65536 * 3 + 8); /* a piece with every ' ' widened to '▁' */
    if (!buf) s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    else if (map.size < 4) s = gl_error_set(err, GL_ERR_FORMAT, "%s: truncated tokenizer.bin", path);
    for (int32_t id = 0; s == GL_OK && (n_vocab <= 0 ? off < map.size : id < n_vocab); id++) {
        if (map.size - off < 8) {
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: truncated at token %d", path, id);
            break;
        }
        float score;
        uint32_t bits = tk_u32le(map.data + off);
        memcpy(&score, &bits, 4);
        uint32_t len = tk_u32le(map.data + off + 4);
        off += 8;
        if (len > 65536 || len > map.size - off) {
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: token %d has a bad length %u", path, id, len);
            break;
        }
        /* llama2.c stores pieces with '▁' turned into ' ' and BOS/EOS as "\n<s>\n"/"\n</s>\n". */
        size_t n = 0;
        const char *src = (const char *)map.data + off;
        size_t b = 0, e = len;
        if (len >= 2 && src[0] == '\n' && src[len - 1] == '\n') {
            b = 1;
            e = len - 1;
        }
        for (size_t k = b; k < e; k++) {
            if (src[k] == ' ') {
                memcpy(buf + n, "\xE2\x96\x81", 3);
                n += 3;
            } else {
                buf[n++] = src[k];
            }
        }
        off += len;
        int type = TK_NORMAL;
        if (id == 0) type = TK_UNKNOWN;
        else if (id == 1 || id == 2) type = TK_CONTROL;
        else if (tk_is_byte_token(buf, n)) type = TK_BYTE;
        s = elm_cv_vocab_set(v, id, buf, n, score, type, err);
    }
    ELM_FREE(buf);
    elm_map_close(&map);
    if (s == GL_OK) {
        v->unk = 0;
        v->bos = v->n_tokens > 1 ? 1 : -1;
        v->eos = v->n_tokens > 2 ? 2 : -1;
        v->add_bos = 1;
        v->add_eos = 0;
        v->add_space_prefix = 1;
        s = tk_finish(v, n_vocab, err);
    }
    if (s != GL_OK) elm_cv_vocab_free(v);
    return s;
}

/* ---- byte-level BPE: vocab map + merges ---- */

static gl_status tk_vocab_map(elm_cv_vocab *v, const elm_json *vocab, const char *what, gl_error *err) {
    if (!elm_json_is(vocab, ELM_JSON_OBJECT) || vocab->len == 0)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: vocabulary is not a non-empty object", what);
    int64_t max_id = -1;
    for (size_t i = 0; i < vocab->len; i++) {
        int64_t id;
        if (!elm_json_int(vocab->items[i], &id) || id < 0 || id >= TK_MAX_TOKENS)
            return gl_error_set(err, GL_ERR_FORMAT, "%s: bad id for token '%.40s'", what, vocab->items[i]->key);
        if (id > max_id) max_id = id;
    }
    gl_status s = tk_resize(v, (int32_t)max_id + 1, err);
    for (size_t i = 0; i < vocab->len && s == GL_OK; i++) {
        const elm_json *it = vocab->items[i];
        int32_t id = (int32_t)it->i;
        if (v->tokens[id])
            return gl_error_set(err, GL_ERR_FORMAT, "%s: id %d is used by two tokens", what, id);
        s = elm_cv_vocab_set(v, id, it->key, it->key_len, 0.0f, TK_NORMAL, err);
    }
    return s;
}

static gl_status tk_merges_json(elm_cv_vocab *v, const elm_json *merges, gl_error *err) {
    int64_t cap = 0;
    for (size_t i = 0; i < elm_json_count(merges); i++) {
        const elm_json *m = merges->items[i];
        gl_status s;
        if (m->type == ELM_JSON_STRING) {
            const char *sp = memchr(m->s + (m->len ? 1 : 0), ' ', m->len ? m->len - 1 : 0);
            if (!sp) return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: merge %zu has no space", i);
            if (memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->s)))
                return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: merge %zu \"%.40s\" has more than two parts",
                                    i, m->s);
            s = tk_add_merge(v, m->s, (size_t)(sp - m->s), sp + 1, m->len - (size_t)(sp - m->s) - 1, &cap, err);
        } else if (elm_json_count(m) == 2 && m->type == ELM_JSON_ARRAY && elm_json_str(m->items[0]) &&
                   elm_json_str(m->items[1])) {
            s = tk_add_merge(v, m->items[0]->s, m->items[0]->len, m->items[1]->s, m->items[1]->len, &cap, err);
        } else {
            return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: merge %zu is neither \"a b\" nor [a, b]", i);
        }
        if (s != GL_OK) return s;
    }
    return GL_OK;
}

static gl_status tk_merges_txt(elm_cv_vocab *v, const char *path, gl_error *err) {
    elm_map map;
    gl_status s = elm_map_open(&map, path, err);
    if (s != GL_OK) return s;
    int64_t cap = 0;
    const char *p = (const char *)map.data, *end = p + map.size;
    int64_t line = 0;
    while (p < end && s == GL_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (e > p && e[-1] == '\r') e--;
        line++;
        if (e > p && !(line == 1 && e - p >= 8 && !memcmp(p, "#version", 8))) {
            const char *sp = e - p > 1 ? memchr(p + 1, ' ', (size_t)(e - p - 1)) : NULL;
            if (!sp || memchr(sp + 1, ' ', (size_t)(e - sp - 1)))
                s = gl_error_set(err, GL_ERR_FORMAT, "%s: line %lld is not \"a b\"", path, (long long)line);
            else s = tk_add_merge(v, p, (size_t)(sp - p), sp + 1, (size_t)(e - sp - 1), &cap, err);
        }
        p = next;
    }
    elm_map_close(&map);
    return s;
}

/* ---- tokenizer.json ---- */

typedef struct tk_ctx {
    const char *dir;
    elm_json_doc *tok_json;  /* tokenizer.json */
    elm_json_doc *tok_cfg;   /* tokenizer_config.json */
    elm_json_doc *spec_map;  /* special_tokens_map.json */
    elm_json_doc *config;    /* config.json */
    elm_convert_log_fn log;
    void *user;
} tk_ctx;

static bool tk_has_type(const elm_json *node, const char *type) {
    if (!node) return false;
    const char *t = elm_json_get_str(node, "type");
    if (t && !strcmp(t, type)) return true;
    const char *lists[] = {"pretokenizers", "decoders", "normalizers", "processors"};
    for (size_t k = 0; k < 4; k++) {
        const elm_json *l = elm_json_get(node, lists[k]);
        for (size_t i = 0; i < elm_json_count(l); i++)
            if (tk_has_type(l->items[i], type)) return true;
    }
    return false;
}

/* Recognizes the pre-tokenizer by its regex and shape; names are llama.cpp's. */
static void tk_detect_pre(const elm_json *pre, char *out, size_t size, const tk_ctx *c) {
    static const char llama3_re[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|";
    static const char qwen2_re[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^";
    const elm_json *list = elm_json_get(pre, "pretokenizers");
    size_t n = list ? elm_json_count(list) : (pre ? 1 : 0);
    bool byte_level_regex = false, digits_single = false;
    const char *pattern = NULL;
    for (size_t i = 0; i < n; i++) {
        const elm_json *p = list ? list->items[i] : pre;
        const char *t = elm_json_get_str(p, "type");
        if (!t) continue;
        if (!strcmp(t, "ByteLevel")) {
            bool use_regex = true;
            elm_json_get_bool(p, "use_regex", &use_regex);
            byte_level_regex = use_regex;
        } else if (!strcmp(t, "Split")) {
            const char *re = elm_json_get_str(elm_json_get(p, "pattern"), "Regex");
            if (re) pattern = re;
        } else if (!strcmp(t, "Digits")) {
            bool single = false;
            elm_json_get_bool(p, "individual_digits", &single);
            digits_single = single;
        }
    }
    const char *name = NULL;
    if (pattern && strstr(pattern, llama3_re)) name = "llama-bpe";
    else if (pattern && strstr(pattern, qwen2_re)) name = "qwen2";
    else if (!pattern && byte_level_regex && digits_single) name = "smollm";
    else if (!pattern && byte_level_regex) name = "gpt-2";
    if (!name) {
        name = "default";
        elm_log_msg(c->log, c->user, "warning: pre-tokenizer not recognised (pattern %.120s); writing tokenizer.ggml.pre = \"default\"",
               pattern ? pattern : "none");
    }
    snprintf(out, size, "%s", name);
}

/* Token ids of the tokenizer.json post-processor's single-sequence template. */
static void tk_template_flags(const elm_json *pp, elm_cv_vocab *v) {
    if (!pp) return;
    const char *t = elm_json_get_str(pp, "type");
    const elm_json *procs = elm_json_get(pp, "processors");
    if (t && !strcmp(t, "Sequence")) {
        for (size_t i = 0; i < elm_json_count(procs); i++) tk_template_flags(procs->items[i], v);
        return;
    }
    if (!t || strcmp(t, "TemplateProcessing")) return;
    const elm_json *single = elm_json_get(pp, "single");
    size_t n = elm_json_count(single);
    if (n == 0) return;
    const elm_json *first = elm_json_get(single->items[0], "SpecialToken");
    const elm_json *last = elm_json_get(single->items[n - 1], "SpecialToken");
    const char *fid = elm_json_get_str(first, "id"), *lid = elm_json_get_str(last, "id");
    if (v->add_bos < 0) v->add_bos = fid != NULL;
    if (v->add_eos < 0) v->add_eos = lid != NULL;
    if (fid && v->bos < 0) v->bos = tk_find(v, fid);
    if (lid && v->eos < 0) v->eos = tk_find(v, lid);
}

static gl_status tk_added_tokens(elm_cv_vocab *v, const tk_ctx *c, gl_error *err) {
    const elm_json *added = elm_json_get(elm_json_root(c->tok_json), "added_tokens");
    for (size_t i = 0; i < elm_json_count(added); i++) {
        const elm_json *a = added->items[i];
        int64_t id;
        const elm_json *content = elm_json_get(a, "content");
        bool special = false;
        elm_json_get_bool(a, "special", &special);
        if (!elm_json_get_int(a, "id", &id) || !elm_json_str(content) || id < 0 || id >= TK_MAX_TOKENS)
            return gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: bad added_tokens entry %zu", i);
        int type = special ? TK_CONTROL : TK_USER_DEFINED;
        if (id < v->n_tokens && v->tokens[id] && v->types[id] == TK_UNKNOWN) type = TK_UNKNOWN;
        gl_status s = elm_cv_vocab_set(v, (int32_t)id, content->s, content->len, 0.0f, type, err);
        if (s != GL_OK) return s;
    }
    /* tokenizer_config.json: {"added_tokens_decoder": {"50256": {"content": ..., "special": true}}} */
    const elm_json *dec = elm_json_get(elm_json_root(c->tok_cfg), "added_tokens_decoder");
    for (size_t i = 0; i < elm_json_count(dec); i++) {
        const elm_json *a = dec->items[i];
        char *endp;
        long id = strtol(a->key, &endp, 10);
        const elm_json *content = elm_json_get(a, "content");
        if (*endp || endp == a->key || id < 0 || id >= TK_MAX_TOKENS || !elm_json_str(content))
            return gl_error_set(err, GL_ERR_FORMAT, "tokenizer_config.json: bad added_tokens_decoder entry '%.20s'",
                                a->key);
        bool special = false;
        elm_json_get_bool(a, "special", &special);
        int type = special ? TK_CONTROL : TK_USER_DEFINED;
        if (id < v->n_tokens && v->tokens[id] && v->types[id] == TK_UNKNOWN) type = TK_UNKNOWN;
        if (id < v->n_tokens && v->tokens[id] && v->types[id] == TK_BYTE) continue;
        gl_status s = elm_cv_vocab_set(v, (int32_t)id, content->s, content->len, id < v->n_tokens ? v->scores[id] : 0.0f,
                             type, err);
        if (s != GL_OK) return s;
    }
    return GL_OK;
}

/* tokenizer.json with a BPE model. */
static gl_status tk_load_tokenizer_json(elm_cv_vocab *v, const tk_ctx *c, gl_error *err) {
    const elm_json *root = elm_json_root(c->tok_json);
    const elm_json *model = elm_json_get(root, "model");
    const char *mtype = elm_json_get_str(model, "type");
    if (!mtype || strcmp(mtype, "BPE"))
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "tokenizer.json: model type '%s' is not supported for decoder models (BPE expected)",
                            mtype ? mtype : "?");
    const elm_json *pre = elm_json_get(root, "pre_tokenizer");
    const elm_json *decoder = elm_json_get(root, "decoder");
    bool byte_level = tk_has_type(pre, "ByteLevel") || tk_has_type(decoder, "ByteLevel");
    bool byte_fallback = false;
    elm_json_get_bool(model, "byte_fallback", &byte_fallback);
    gl_status s = tk_vocab_map(v, elm_json_get(model, "vocab"), "tokenizer.json", err);
    if (s != GL_OK) return s;
    const elm_json *merges = elm_json_get(model, "merges");
    if (byte_level) {
        snprintf(v->model, sizeof v->model, "%s", "gpt2");
        tk_detect_pre(pre, v->pre, sizeof v->pre, c);
        s = tk_merges_json(v, merges, err);
        if (s == GL_OK && v->n_merges == 0)
            s = gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: byte-level BPE without merges");
        if (s == GL_OK) s = tk_check_merges(v, "tokenizer.json", err);
        if (s != GL_OK) return s;
    } else {
        /* SentencePiece-style BPE (Metaspace, byte fallback): llama.cpp's "llama" model ranks
         * merges by token score, so a token gets minus the rank of the merge that makes it. */
        snprintf(v->model, sizeof v->model, "%s", "llama");
        snprintf(v->pre, sizeof v->pre, "%s", "default");
        elm_cv_vocab tmp;
        tk_init(&tmp);
        tk_hash h = {0};
        s = tk_merges_json(&tmp, merges, err);
        if (s == GL_OK && !tk_hash_build(&h, v)) s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        for (int64_t r = 0; r < tmp.n_merges && s == GL_OK; r++) {
            char *sp = strchr(tmp.merges[r], ' ');
            memmove(sp, sp + 1, strlen(sp + 1) + 1); /* "a b" → "ab" */
            int32_t id = tk_hash_find(&h, v, tmp.merges[r], strlen(tmp.merges[r]));
            if (id < 0)
                s = gl_error_set(err, GL_ERR_FORMAT, "tokenizer.json: merge %lld makes \"%.60s\", which is not in the vocabulary",
                                 (long long)r, tmp.merges[r]);
            else if (v->scores[id] == 0.0f) v->scores[id] = -(float)(r + 1);
        }
        ELM_FREE(h.slots);
        elm_cv_vocab_free(&tmp);
        if (s != GL_OK) return s;
        for (int32_t i = 0; i < v->n_tokens; i++)
            if (v->tokens[i] && tk_is_byte_token(v->tokens[i], v->lens[i])) v->types[i] = TK_BYTE;
        const char *unk = elm_json_get_str(model, "unk_token");
        if (unk) {
            int32_t id = tk_find(v, unk);
            if (id >= 0) v->types[id] = TK_UNKNOWN, v->unk = id;
        }
        v->add_space_prefix = tk_has_type(elm_json_get(root, "normalizer"), "Prepend") ||
                              tk_has_type(pre, "Metaspace");
        if (!byte_fallback) elm_log_msg(c->log, c->user, "note: SentencePiece-style tokenizer.json without byte_fallback");
    }
    return GL_OK;
}

/* ---- special ids, flags and chat template ---- */

static gl_status tk_special_id(elm_cv_vocab *v, int32_t *slot, const char *name, const tk_ctx *c, gl_error *err) {
    char key[32];
    snprintf(key, sizeof key, "%s_token", name);
    const char *text = tk_token_text(elm_json_get(elm_json_root(c->tok_cfg), key));
    if (!text) text = tk_token_text(elm_json_get(elm_json_root(c->spec_map), key));
    if (text) {
        int32_t id = tk_find(v, text);
        if (id >= 0) {
            *slot = id;
            return GL_OK;
        }
    }
    snprintf(key, sizeof key, "%s_token_id", name);
    const elm_json *j = elm_json_get(elm_json_root(c->config), key);
    if (elm_json_is(j, ELM_JSON_ARRAY)) j = elm_json_at(j, 0); /* eos_token_id may be a list */
    int64_t id;
    if (!j || elm_json_is(j, ELM_JSON_NULL)) return GL_OK;
    if (!elm_json_int(j, &id) || id < 0 || id >= v->n_tokens)
        return gl_error_set(err, GL_ERR_FORMAT, "config.json: %s is not a token id of the vocabulary (0..%d)", key,
                            v->n_tokens - 1);
    *slot = (int32_t)id;
    return GL_OK;
}

static gl_status tk_chat_template(elm_cv_vocab *v, const tk_ctx *c, gl_error *err) {
    const elm_json *t = elm_json_get(elm_json_root(c->tok_cfg), "chat_template");
    const char *text = elm_json_str(t);
    if (elm_json_is(t, ELM_JSON_ARRAY)) { /* [{"name": "default", "template": ...}, ...] */
        for (size_t i = 0; i < t->len && !text; i++)
            if (elm_json_get_str(t->items[i], "name") && !strcmp(elm_json_get_str(t->items[i], "name"), "default"))
                text = elm_json_get_str(t->items[i], "template");
        if (!text) text = elm_json_get_str(elm_json_at(t, 0), "template");
    }
    if (text) {
        v->chat_template = elm_strdup(text);
        return v->chat_template ? GL_OK : gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    }
    char *p = elm_cv_path_join(c->dir, "chat_template.jinja");
    if (p && elm_cv_file_exists(p)) {
        elm_map m;
        gl_status s = elm_map_open(&m, p, err);
        if (s == GL_OK) {
            if (elm_utf8_validate((const char *)m.data, m.size) != m.size) {
                s = gl_error_set(err, GL_ERR_FORMAT, "%s is not valid UTF-8", p);
            } else if ((v->chat_template = ELM_MALLOC(m.size + 1)) != NULL) {
                if (m.size) memcpy(v->chat_template, m.data, m.size);
                v->chat_template[m.size] = '\0';
            } else {
                s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
            }
            elm_map_close(&m);
        }
        ELM_FREE(p);
        return s;
    }
    ELM_FREE(p);
    return GL_OK;
}

static const char *const tk_eot_texts[] = {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"};

static gl_status tk_specials(elm_cv_vocab *v, const tk_ctx *c, bool spm, gl_error *err) {
    gl_status s = tk_special_id(v, &v->bos, "bos", c, err);
    if (s == GL_OK) s = tk_special_id(v, &v->eos, "eos", c, err);
    if (s == GL_OK) s = tk_special_id(v, &v->unk, "unk", c, err);
    if (s == GL_OK) s = tk_special_id(v, &v->pad, "pad", c, err);
    if (s != GL_OK) return s;
    bool b;
    if (elm_json_get_bool(elm_json_root(c->tok_cfg), "add_bos_token", &b)) v->add_bos = b;
    if (elm_json_get_bool(elm_json_root(c->tok_cfg), "add_eos_token", &b)) v->add_eos = b;
    tk_template_flags(elm_json_get(elm_json_root(c->tok_json), "post_processor"), v);
    if (!strcmp(v->model, "gpt2") && v->bos < 0 && v->eos < 0) {
        /* GPT-2's own files name no specials; its config uses <|endoftext|> for both. */
        int32_t id = tk_find(v, "<|endoftext|>");
        v->bos = v->eos = id;
    }
    if (v->add_bos < 0) v->add_bos = spm; /* LlamaTokenizer adds BOS; GPT2Tokenizer adds nothing */
    if (v->add_eos < 0) v->add_eos = 0;
    /* The end-of-turn token of chat models, when it is a control token other than EOS. */
    for (size_t k = 0; k < sizeof tk_eot_texts / sizeof tk_eot_texts[0] && v->eot < 0; k++) {
        int32_t id = tk_find(v, tk_eot_texts[k]);
        if (id >= 0 && id != v->eos && v->types[id] == TK_CONTROL) v->eot = id;
    }
    return tk_chat_template(v, c, err);
}

gl_status elm_cv_vocab_load_dir(const char *dir, int32_t n_vocab, elm_cv_vocab *v, elm_convert_log_fn log,
                                void *user, gl_error *err) {
    tk_init(v);
    tk_ctx c = {.dir = dir, .log = log, .user = user};
    bool failed = false;
    c.tok_cfg = elm_cv_json_opt(dir, "tokenizer_config.json", err, &failed);
    if (!failed) c.spec_map = elm_cv_json_opt(dir, "special_tokens_map.json", err, &failed);
    if (!failed) c.config = elm_cv_json_opt(dir, "config.json", err, &failed);
    gl_status s = failed ? (err ? err->code : GL_ERR_FORMAT) : GL_OK;
    char *spm = elm_cv_path_join(dir, "tokenizer.model");
    char *tj = elm_cv_path_join(dir, "tokenizer.json");
    char *vj = elm_cv_path_join(dir, "vocab.json");
    char *mt = elm_cv_path_join(dir, "merges.txt");
    char *ej = elm_cv_path_join(dir, "encoder.json");
    char *vb = elm_cv_path_join(dir, "vocab.bpe");
    bool is_spm = false;
    if (s != GL_OK) {
        /* keep the JSON error */
    } else if (!spm || !tj || !vj || !mt || !ej || !vb) {
        s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    } else if (elm_cv_file_exists(spm)) {
        is_spm = true;
        s = elm_cv_vocab_load_spm(spm, -1, v, err);
        if (s == GL_OK) elm_log_msg(log, user, "tokenizer: %s (SentencePiece, %d pieces)", spm, v->n_tokens);
    } else if (elm_cv_file_exists(tj)) {
        c.tok_json = elm_json_parse_file(tj, err);
        if (!c.tok_json) s = err ? err->code : GL_ERR_FORMAT;
        else s = tk_load_tokenizer_json(v, &c, err);
        is_spm = s == GL_OK && !strcmp(v->model, "llama");
        if (s == GL_OK) elm_log_msg(log, user, "tokenizer: %s (%s, %d tokens)", tj, v->model, v->n_tokens);
    } else if ((elm_cv_file_exists(vj) && elm_cv_file_exists(mt)) || (elm_cv_file_exists(ej) && elm_cv_file_exists(vb))) {
        bool hf_names = elm_cv_file_exists(vj) && elm_cv_file_exists(mt);
        const char *vpath = hf_names ? vj : ej, *mpath = hf_names ? mt : vb;
        elm_json_doc *vd = elm_json_parse_file(vpath, err);
        if (!vd) s = err ? err->code : GL_ERR_FORMAT;
        else s = tk_vocab_map(v, elm_json_root(vd), vpath, err);
        elm_json_free(vd);
        if (s == GL_OK) s = tk_merges_txt(v, mpath, err);
        if (s == GL_OK) s = tk_check_merges(v, mpath, err);
        if (s == GL_OK) {
            snprintf(v->model, sizeof v->model, "%s", "gpt2");
            snprintf(v->pre, sizeof v->pre, "%s", "gpt-2");
            elm_log_msg(log, user, "tokenizer: %s + %s (byte-level BPE, %d tokens, %lld merges)", vpath, mpath,
                   v->n_tokens, (long long)v->n_merges);
        }
    } else {
        s = gl_error_set(err, GL_ERR_IO,
                         "%s: no tokenizer found (tokenizer.model, tokenizer.json, vocab.json + merges.txt or "
                         "encoder.json + vocab.bpe)",
                         dir);
    }
    if (s == GL_OK) s = tk_added_tokens(v, &c, err);
    if (s == GL_OK) s = tk_specials(v, &c, is_spm, err);
    if (s == GL_OK) s = tk_finish(v, n_vocab, err);
    if (s == GL_OK && !strcmp(v->model, "gpt2")) {
        ELM_FREE(v->scores); /* llama.cpp writes no scores for byte-level BPE vocabularies */
        v->scores = NULL;
    }
    ELM_FREE(spm);
    ELM_FREE(tj);
    ELM_FREE(vj);
    ELM_FREE(mt);
    ELM_FREE(ej);
    ELM_FREE(vb);
    elm_json_free(c.tok_json);
    elm_json_free(c.tok_cfg);
    elm_json_free(c.spec_map);
    elm_json_free(c.config);
    if (s != GL_OK) elm_cv_vocab_free(v);
    return s;
}

/* ---- writing ---- */

gl_status elm_cv_vocab_write(gl_gguf_writer *w, const elm_cv_vocab *v, gl_error *err) {
    gl_status s = gl_gguf_w_kv_str(w, "tokenizer.ggml.model", v->model);
    if (s == GL_OK && v->pre[0]) s = gl_gguf_w_kv_str(w, "tokenizer.ggml.pre", v->pre);
    if (s == GL_OK)
        s = gl_gguf_w_kv_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, v->lens,
                                 (uint64_t)v->n_tokens);
    if (s == GL_OK && v->scores)
        s = gl_gguf_w_kv_arr(w, "tokenizer.ggml.scores", GL_GGUF_FLOAT32, v->scores, (uint64_t)v->n_tokens);
    if (s == GL_OK)
        s = gl_gguf_w_kv_arr(w, "tokenizer.ggml.token_type", GL_GGUF_INT32, v->types, (uint64_t)v->n_tokens);
    if (s == GL_OK && v->n_merges > 0)
        s = gl_gguf_w_kv_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, NULL,
                                 (uint64_t)v->n_merges);
    const struct {
        const char *key;
        int32_t id;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", v->bos},     {"tokenizer.ggml.eos_token_id", v->eos},
        {"tokenizer.ggml.unknown_token_id", v->unk}, {"tokenizer.ggml.padding_token_id", v->pad},
        {"tokenizer.ggml.eot_token_id", v->eot},
    };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0] && s == GL_OK; k++)
        if (ids[k].id >= 0) s = gl_gguf_w_kv_u32(w, ids[k].key, (uint32_t)ids[k].id);
    if (s == GL_OK && v->add_bos >= 0) s = gl_gguf_w_kv_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    if (s == GL_OK && v->add_eos >= 0) s = gl_gguf_w_kv_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (s == GL_OK && v->add_space_prefix >= 0 && !strcmp(v->model, "llama"))
        s = gl_gguf_w_kv_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
    if (s == GL_OK && v->remove_extra_whitespaces >= 0 && !strcmp(v->model, "llama"))
        s = gl_gguf_w_kv_bool(w, "tokenizer.ggml.remove_extra_whitespaces", v->remove_extra_whitespaces);
    if (s == GL_OK && v->chat_template) s = gl_gguf_w_kv_str(w, "tokenizer.chat_template", v->chat_template);
    if (s != GL_OK) return gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    return GL_OK;
}
