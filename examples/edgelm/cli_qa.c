/*
 * cli_qa.c — word pieces with offsets, question-answering windows and span decoding, and
 * SQuAD's answer metric (see cli_qa.h), shared by `tag`, `qa` and `finetune --task qa`.
 *
 * Character offsets: a text is split at whitespace and punctuation (BERT's basic rule) with
 * each word's position kept, each word is tokenized on its own, and its pieces get consecutive
 * spans of their text's length (the last piece ends at the word's end; [UNK] covers the whole
 * word). This is what a fast tokenizer reports whenever normalisation keeps lengths (no accent
 * stripping inside the word); offsets count code points as Python's do.
 */
#include "cli_qa.h"
#include "unicode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool tq_push(tq_pieces *p, tq_piece x) {
    if (p->n == p->cap) {
        int64_t cap = p->cap ? p->cap * 2 : 64;
        tq_piece *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = x;
    return true;
}

/* Pieces of one word text[a, b) with offsets. */
static bool tq_word(const elm_bert *m, const char *text, int32_t a, int32_t b, tq_pieces *out, elm_error *err) {
    char *w = malloc((size_t)(b - a) + 1);
    if (!w) return false;
    memcpy(w, text + a, (size_t)(b - a));
    w[b - a] = '\0';
    int32_t ids[512];
    int64_t n = elm_bert_tokenize(m, w, NULL, false, ids, NULL, 512, err);
    free(w);
    if (n < 0) return false;
    if (n > 512) n = 512;
    int32_t pos = a;
    for (int64_t k = 0; k < n; k++) {
        char buf[256];
        int32_t len = elm_bert_token_text(m, ids[k], buf, sizeof buf);
        bool unk = ids[k] == elm_bert_unk_id(m); /* always the whole word */
        int32_t end = k == n - 1 || unk ? b : pos + len < b ? pos + len : b;
        if (!tq_push(out, (tq_piece){ids[k], pos, end, k == 0, pos})) return false;
        pos = end;
    }
    return true;
}

/* Byte-level BPE: the pieces of the whole text. Byte-level BPE loses nothing, so the pieces'
 * bytes follow one another through the text; elm_bert_token_text drops a piece's one leading
 * space, so a piece that meets a space there starts with it ("Ġcat" starts a word). Offsets
 * are trimmed as the fast tokenizer's (trim_offsets): leading spaces move the start forward,
 * trailing ones the end back, never past each other ("Ġ" alone: an empty span after it). */
static int64_t tq_tokenize_bpe(const elm_bert *m, const char *text, size_t len, tq_pieces *out, elm_error *err) {
    int32_t *ids = malloc((len + 8) * sizeof *ids);
    if (!ids) return -1;
    int64_t n = elm_bert_tokenize(m, text, NULL, false, ids, NULL, (int64_t)len + 8, err);
    int32_t pos = 0;
    for (int64_t k = 0; k < n; k++) {
        char buf[256];
        const int32_t l = elm_bert_token_text(m, ids[k], buf, sizeof buf), sp = pos < (int32_t)len && text[pos] == ' ';
        if (l >= (int32_t)sizeof buf || l + sp == 0 || l + sp > (int32_t)len - pos || memcmp(text + pos + sp, buf, (size_t)l)) {
            snprintf(err->msg, sizeof err->msg, "piece %lld (id %d) does not match the text at byte %d", (long long)k, ids[k], pos);
            n = -1;
            break;
        }
        const int32_t end = pos + sp + l;
        int32_t ld = 0, tr = 0;
        while (pos + ld < end && text[pos + ld] == ' ') ld++;
        while (end - tr > pos && text[end - tr - 1] == ' ') tr++;
        tq_piece x = {ids[k], pos + ld, end, false, pos};
        if (tr > 0) x.end = end - tr > x.start ? end - tr : x.start;
        /* a word starts at the first piece with text after whitespace (or the text's start) */
        x.word_start = x.start < x.end && (x.start == 0 || elm_uc_is_whitespace((unsigned char)text[x.start - 1]));
        if (!tq_push(out, x)) {
            n = -1;
            break;
        }
        pos = end;
    }
    free(ids);
    return n < 0 ? -1 : out->n;
}

int64_t tq_tokenize(const elm_bert *m, const char *text, tq_pieces *out, elm_error *err) {
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX / 2) return -1;
    if (!elm_bert_is_wordpiece(m)) return tq_tokenize_bpe(m, text, len, out, err);
    size_t i = 0, word = 0;
    bool in_word = false;
    while (i <= len) {
        size_t adv = 1;
        uint32_t c = i < len ? elm_utf8_decode(text + i, len - i, &adv) : ' ';
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || elm_uc_is_whitespace(c);
        bool punct = !space && elm_uc_is_bert_punct(c);
        if ((space || punct) && in_word) {
            if (!tq_word(m, text, (int32_t)word, (int32_t)i, out, err)) return -1;
            in_word = false;
        }
        if (punct && !tq_word(m, text, (int32_t)i, (int32_t)(i + adv), out, err)) return -1;
        if (!space && !punct && !in_word) {
            in_word = true;
            word = i;
        }
        i += adv;
    }
    return out->n;
}

int32_t tq_chars(const char *text, int32_t byte) {
    int32_t n = 0;
    for (int32_t i = 0; i < byte; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

bool tq_specials(const elm_bert *m, int32_t *cls, int32_t *sep) {
    int32_t ids[4];
    elm_error err = {0};
    if (elm_bert_tokenize(m, "", NULL, true, ids, NULL, 4, &err) != 2) return false;
    *cls = ids[0];
    *sep = ids[1];
    return true;
}

/* ---- windows and spans ---- */

void qa_windows_free(qa_windows *w) {
    free(w->buf);
    free(w->ids);
    free(w->types);
    free(w->lens);
    free(w->start);
    free(w->n_ctx);
    memset(w, 0, sizeof *w);
}

bool qa_windows_make(const tq_pieces *q, const tq_pieces *c, int32_t cls, int32_t sep, int32_t max_len, int32_t stride,
                     qa_windows *w, char *msg, size_t msz) {
    memset(w, 0, sizeof *w);
    const int64_t room = (int64_t)max_len - q->n - 3;
    if (c->n == 0 || room <= stride || stride < 0) {
        if (c->n == 0) snprintf(msg, msz, "the context is empty");
        else
            snprintf(msg, msz, "the question (%lld pieces) leaves no room for context windows of %d tokens with stride %d",
                     (long long)q->n, max_len, stride);
        return false;
    }
    int64_t nw = 1;
    for (int64_t a = 0; a + room < c->n; a += room - stride) nw++;
    if (nw > INT32_MAX / 2 / max_len) return snprintf(msg, msz, "the context is too long"), false;
    w->n = (int32_t)nw;
    w->first = (int32_t)q->n + 2;
    w->buf = malloc((size_t)nw * (size_t)max_len * 2 * sizeof *w->buf);
    w->ids = malloc((size_t)nw * sizeof *w->ids);
    w->types = malloc((size_t)nw * sizeof *w->types);
    w->lens = malloc((size_t)nw * sizeof *w->lens);
    w->start = malloc((size_t)nw * sizeof *w->start);
    w->n_ctx = malloc((size_t)nw * sizeof *w->n_ctx);
    if (!w->buf || !w->ids || !w->types || !w->lens || !w->start || !w->n_ctx) {
        qa_windows_free(w);
        return snprintf(msg, msz, "out of memory"), false;
    }
    for (int32_t k = 0; k < w->n; k++) { /* [CLS] q [SEP] c[a, b) [SEP], types 0.. then 1.. */
        int64_t a = (int64_t)k * (room - stride), b = a + room < c->n ? a + room : c->n;
        int32_t *id = w->ids[k] = w->buf + (size_t)k * (size_t)max_len * 2, *ty = w->types[k] = id + max_len;
        int32_t j = 0;
        id[j] = cls, ty[j++] = 0;
        for (int64_t i = 0; i < q->n; i++) id[j] = q->v[i].id, ty[j++] = 0;
        id[j] = sep, ty[j++] = 0;
        for (int64_t i = a; i < b; i++) id[j] = c->v[i].id, ty[j++] = 1;
        id[j] = sep, ty[j++] = 1;
        w->lens[k] = j;
        w->start[k] = (int32_t)a;
        w->n_ctx[k] = (int32_t)(b - a);
    }
    return true;
}

/* Softmax of x[0..n) where only ok[i] positions take part: others get -10000. */
static void qa_softmax(const float *lg, int stride, const bool *ok, int32_t n, double *out) {
    double mx = -1e300;
    for (int32_t i = 0; i < n; i++) {
        out[i] = ok[i] ? lg[i * stride] : -10000.0;
        if (out[i] > mx) mx = out[i];
    }
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += (out[i] = exp(out[i] - mx));
    for (int32_t i = 0; i < n; i++) out[i] /= s;
    out[0] = 0; /* [CLS]: the "no answer" slot */
}

double qa_best_span(const qa_windows *w, const float *const *logits, int32_t max_answer_len, int64_t *bs, int64_t *be) {
    int32_t n_max = 1;
    for (int32_t k = 0; k < w->n; k++) n_max = w->lens[k] > n_max ? w->lens[k] : n_max;
    double *ps = malloc((size_t)n_max * sizeof *ps), *pe = malloc((size_t)n_max * sizeof *pe);
    bool *ok = malloc((size_t)n_max * sizeof *ok);
    double best = -1;
    *bs = *be = 0;
    for (int32_t k = 0; ps && pe && ok && k < w->n; k++) {
        const int32_t n = w->lens[k], first = w->first, nc = w->n_ctx[k];
        for (int32_t i = 0; i < n; i++) ok[i] = i == 0 || (i >= first && i < first + nc);
        qa_softmax(logits[k], 2, ok, n, ps);
        qa_softmax(logits[k] + 1, 2, ok, n, pe);
        for (int32_t i = first; i < first + nc; i++) /* start <= end < start + max_answer_len, first maximum */
            for (int32_t j = i; j < first + nc && j < i + max_answer_len; j++) {
                double s = ps[i] * pe[j];
                if (s > best) {
                    best = s;
                    *bs = w->start[k] + i - first;
                    *be = w->start[k] + j - first;
                }
            }
    }
    if (!ps || !pe || !ok) best = -1;
    free(ps);
    free(pe);
    free(ok);
    return best;
}

/* ---- SQuAD's metric ---- */

static bool sq_word_char(uint32_t c) { return c == '_' || elm_uc_is_letter(c) || elm_uc_is_number(c); } /* Python's \w */
static bool sq_space(uint32_t c) { return elm_uc_is_whitespace(c) || (c >= 0x1c && c <= 0x1f); }        /* str.split() */

/* Length of an article (a, an, the) at v[i] between word boundaries, else 0. */
static size_t sq_article(const uint32_t *v, size_t n, size_t i) {
    static const char *const arts[3] = {"a", "an", "the"};
    if (i > 0 && sq_word_char(v[i - 1])) return 0;
    for (int a = 0; a < 3; a++) { /* the alternation's order: "a" first, then "an" */
        size_t len = strlen(arts[a]);
        bool match = i + len <= n;
        for (size_t k = 0; match && k < len; k++) match = v[i + k] == (uint32_t)arts[a][k];
        if (match && (i + len == n || !sq_word_char(v[i + len]))) return len;
    }
    return 0;
}

bool squad_normalize(const char *s, char *out, size_t cap) {
    const size_t len = strlen(s);
    uint32_t *v = malloc((len * 3 + 1) * sizeof *v);
    if (!v || cap == 0) return free(v), false;
    size_t n = 0;
    for (size_t i = 0; i < len;) { /* lower(), then remove_punc() (string.punctuation) */
        size_t adv = 1;
        uint32_t c = elm_utf8_decode(s + i, len - i, &adv), low[3];
        i += adv ? adv : 1;
        int nl = elm_uc_tolower(c, low);
        for (int k = 0; k < nl; k++)
            if (!(low[k] < 128 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)low[k]) && low[k])) v[n++] = low[k];
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) { /* remove_articles(): each one becomes a space */
        size_t a = sq_article(v, n, i);
        if (a) v[m++] = ' ', i += a;
        else v[m++] = v[i++];
    }
    size_t o = 0;
    bool ok = true, pending = false;
    for (size_t i = 0; i < m && ok; i++) { /* white_space_fix(): ' '.join(text.split()) */
        if (sq_space(v[i])) {
            pending = o > 0;
            continue;
        }
        char enc[4];
        int el = elm_utf8_encode(v[i], enc);
        if (o + (size_t)pending + (size_t)el + 1 > cap) ok = false;
        else {
            if (pending) out[o++] = ' ';
            memcpy(out + o, enc, (size_t)el);
            o += (size_t)el;
            pending = false;
        }
    }
    out[ok ? o : 0] = '\0';
    free(v);
    return ok;
}

static char *sq_norm(const char *s) {
    size_t cap = strlen(s) * 3 + 8;
    char *o = malloc(cap);
    if (o && !squad_normalize(s, o, cap)) o[0] = '\0';
    return o;
}

double squad_exact(const char *pred, const char *gold) {
    char *a = sq_norm(pred), *b = sq_norm(gold);
    double r = a && b && !strcmp(a, b) ? 1.0 : 0.0;
    free(a);
    free(b);
    return r;
}

/* Splits a normalised string at its single spaces in place. */
static int64_t sq_tokens(char *s, char **tok, int64_t max) {
    int64_t n = 0;
    for (char *p = s; *p && n < max;) {
        tok[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp) break;
        *sp = '\0';
        p = sp + 1;
    }
    return n;
}

double squad_f1(const char *pred, const char *gold) {
    char *a = sq_norm(pred), *b = sq_norm(gold);
    const size_t ma = a ? strlen(a) + 1 : 1, mb = b ? strlen(b) + 1 : 1;
    char **ta = malloc(ma * sizeof *ta), **tb = malloc(mb * sizeof *tb);
    bool *used = calloc(mb, sizeof *used);
    double f1 = 0;
    if (a && b && ta && tb && used) {
        int64_t na = sq_tokens(a, ta, (int64_t)ma), nb = sq_tokens(b, tb, (int64_t)mb), same = 0;
        for (int64_t i = 0; i < na; i++) /* the bags' overlap (Counter &) */
            for (int64_t j = 0; j < nb; j++)
                if (!used[j] && !strcmp(ta[i], tb[j])) {
                    used[j] = true;
                    same++;
                    break;
                }
        if (na == 0 || nb == 0) f1 = na == nb ? 1.0 : 0.0;
        else if (same > 0) {
            double p = (double)same / (double)na, r = (double)same / (double)nb;
            f1 = 2 * p * r / (p + r);
        }
    }
    free(a);
    free(b);
    free(ta);
    free(tb);
    free(used);
    return f1;
}

/* ---- seqeval's entities ---- */

/* The prefix character and the type slice of a label (seqeval: chunk[0], then
 * chunk[1:].split('-', maxsplit=1)[-1] or '_'). */
static char sv_split(const char *label, const char **type, size_t *len) {
    const char *rest = label[0] ? label + 1 : label, *dash = strchr(rest, '-');
    *type = dash ? dash + 1 : rest;
    *len = strlen(*type);
    if (*len == 0) *type = "_", *len = 1;
    return label[0] ? label[0] : 'O';
}

static bool sv_type_eq(const char *a, size_t na, const char *b, size_t nb) { return na == nb && !memcmp(a, b, na); }

static bool sv_end(char pt, char t, bool same_type) {
    if (pt == 'E' || pt == 'S') return true;
    if ((pt == 'B' || pt == 'I') && (t == 'B' || t == 'S' || t == 'O')) return true;
    return pt != 'O' && pt != '.' && !same_type;
}

static bool sv_start(char pt, char t, bool same_type) {
    if (t == 'B' || t == 'S') return true;
    if ((pt == 'E' || pt == 'S' || pt == 'O') && (t == 'E' || t == 'I')) return true;
    return t != 'O' && t != '.' && !same_type;
}

int64_t seqeval_entities(const char *const *labels, int64_t n, seq_entity *out) {
    char pt = 'O';
    const char *ptype = "";
    size_t plen = 0;
    int64_t begin = 0, k = 0;
    for (int64_t i = 0; i <= n; i++) { /* the sequence and a closing "O" */
        const char *type;
        size_t len;
        const char t = sv_split(i < n ? labels[i] : "O", &type, &len);
        const bool same = sv_type_eq(ptype, plen, type, len);
        if (sv_end(pt, t, same)) out[k++] = (seq_entity){ptype, plen, begin, i - 1};
        if (sv_start(pt, t, same)) begin = i;
        pt = t, ptype = type, plen = len;
    }
    return k;
}

bool seqeval_same(const seq_entity *a, const seq_entity *b) {
    return a->start == b->start && a->end == b->end && sv_type_eq(a->type, a->type_len, b->type, b->type_len);
}
