/*
 * BERT token tagging and extractive question answering (library: include/edgelm.h, "BERT"):
 *
 *   edgelm tag -m M -p TEXT [--words] [-t N]
 *       BertForTokenClassification: entity spans merged as Hugging Face's token-classification
 *       pipeline does with aggregation_strategy="simple": every word piece (not [CLS]/[SEP])
 *       takes its argmax label with the softmax probability as score; consecutive pieces join a
 *       group while the tag (label without "B-"/"I-") stays the same and the piece's label is
 *       not a "B-"; a group's score is the mean, its word the pieces' vocabulary texts joined
 *       ("##" glued; [UNK] shows the text it covers), its
 *       start/end the character offsets of its first/last piece; groups tagged "O" are dropped.
 *       Printed one per line: entity_group, score, start, end, word (tab-separated).
 *       --words prints each word with the label and score of its first piece instead.
 *   edgelm qa -m M -q QUESTION -c CONTEXT [--max-answer-len 15] [--max-seq-len 384]
 *             [--doc-stride 128] [-t N]
 *       BertForQuestionAnswering, as Hugging Face's question-answering pipeline: "[CLS] question
 *       [SEP] context [SEP]" windows of at most max-seq-len tokens, consecutive windows sharing
 *       doc-stride context tokens; in each, start and end logits of non-context tokens (except
 *       [CLS]) are masked, both softmaxed, [CLS] zeroed, and the best start <= end span no longer
 *       than max-answer-len tokens scores p_start * p_end; the best window's span wins. Prints
 *       the answer, score, start and end (character offsets into the context).
 *   eval -m M --ids .. -o OUT.npy --what logits (through cmd_bert_eval): the head's outputs.
 *
 * Character offsets: a text is split at whitespace and punctuation (BERT's basic rule) with
 * each word's position kept, each word is tokenized on its own, and its pieces get consecutive
 * spans of their text's length (the last piece ends at the word's end; [UNK] covers the whole
 * word). This is what a fast tokenizer reports whenever normalisation keeps lengths (no accent
 * stripping inside the word); offsets count code points as Python's do.
 */
#include "cli.h"
#include "cli_family.h"
#include "opts.h"
#include "edgelm.h"
#include "gen_opts.h"
#include "npy.h"
#include "unicode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A word piece and the bytes of the text it comes from. */
typedef struct tq_piece {
    int32_t id;
    int32_t start, end; /* byte offsets */
    bool word_start;    /* first piece of a word */
} tq_piece;

typedef struct tq_pieces {
    tq_piece *v;
    int64_t n, cap;
} tq_pieces;

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
        if (!tq_push(out, (tq_piece){ids[k], pos, end, k == 0})) return false;
        pos = end;
    }
    return true;
}

/* Splits text at whitespace and punctuation and tokenizes each word. */
static int64_t tq_tokenize(const elm_bert *m, const char *text, tq_pieces *out, elm_error *err) {
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX / 2) return -1;
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

/* Code points in text[0, byte). */
static int32_t tq_chars(const char *text, int32_t byte) {
    int32_t n = 0;
    for (int32_t i = 0; i < byte; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

typedef struct tq_opts {
    const char *model, *text, *question, *context;
    int32_t n_threads, max_answer_len, max_seq_len, doc_stride;
    bool words, no_repack;
} tq_opts;

static void tq_opts_init(tq_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_threads = opts_default_threads();
    o->max_answer_len = 15;
    o->max_seq_len = 384;
    o->doc_stride = -1;
}

#define TQ_DEFS_RUNTIME(o) \
    OPT_THREADS(&(o)->n_threads), \
    OPT_FLAG("--no-repack", &(o)->no_repack, "keep Q4_0/Q8_0 matrices in the file's layout")

static elm_bert *tq_open(const tq_opts *o, const char *cmd) {
    elm_error err = {0};
    elm_bert_params p = elm_bert_default_params();
    p.n_threads = o->n_threads;
    p.no_repack = o->no_repack;
    if (!cli_family_check(cmd, o->model, CLI_BERT)) return NULL;
    elm_bert *m = elm_bert_load(o->model, &p, &err);
    if (!m) fprintf(stderr, "edgelm %s: %s\n", cmd, err.msg);
    if (m && !elm_bert_is_wordpiece(m)) { /* the offsets above follow BERT's basic tokenizer */
        fprintf(stderr, "edgelm %s: byte-level BPE (RoBERTa) models are not supported yet\n", cmd);
        elm_bert_free(m);
        m = NULL;
    }
    return m;
}

/* [CLS] and [SEP] ids (what the tokenizer adds around an empty text). */
static bool tq_specials(const elm_bert *m, int32_t *cls, int32_t *sep) {
    int32_t ids[4];
    elm_error err = {0};
    if (elm_bert_tokenize(m, "", NULL, true, ids, NULL, 4, &err) != 2) return false;
    *cls = ids[0];
    *sep = ids[1];
    return true;
}

/* ---- tag ---- */

/* "B-PER" -> ('B', "PER"); a label without B-/I- counts as I of itself. */
static const char *tag_split(const char *label, char *bi) {
    if ((label[0] == 'B' || label[0] == 'I') && label[1] == '-') {
        *bi = label[0];
        return label + 2;
    }
    *bi = 'I';
    return label;
}

typedef struct tag_tok {
    int32_t label;
    double score;
} tag_tok;

static void tag_print_group(const elm_bert *m, const char *text, const tq_piece *p, const tag_tok *t, int64_t a,
                            int64_t b) {
    char bi;
    const char *group = tag_split(elm_bert_label(m, t[a].label), &bi);
    if (!strcmp(group, "O")) return;
    double s = 0;
    for (int64_t k = a; k < b; k++) s += t[k].score;
    printf("%s\t%.4f\t%d\t%d\t", group, s / (double)(b - a), tq_chars(text, p[a].start), tq_chars(text, p[b - 1].end));
    for (int64_t k = a; k < b; k++) { /* tokens joined, continuations glued ("##" dropped); [UNK]: the text */
        if (k > a && p[k].word_start) putchar(' ');
        if (k == a && !p[k].word_start) fputs("##", stdout); /* a group that starts inside a word */
        char buf[256];
        int32_t len = elm_bert_token_text(m, p[k].id, buf, sizeof buf);
        if (p[k].id == elm_bert_unk_id(m) || len >= (int32_t)sizeof buf) printf("%.*s", p[k].end - p[k].start, text + p[k].start);
        else fputs(buf, stdout);
    }
    putchar('\n');
}

int cmd_tag(int argc, char **argv) {
    tq_opts o;
    tq_opts_init(&o);
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &o.model, "FILE", "a BertForTokenClassification model (GGUF)"),
        OPT_REQ_STR("-p,--prompt", &o.text, "TEXT", "the text to tag"),
        OPT_FLAG("--words", &o.words, "each word's label and score (its first piece's) instead of entity spans"),
        TQ_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("tag", "-m MODEL.gguf -p TEXT [options]",
                                "BertForTokenClassification: entity spans (entity_group, score, start, end, word), "
                                "merged as Hugging Face's token-classification pipeline with aggregation \"simple\".",
                                defs);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    elm_bert *m = tq_open(&o, "tag");
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    tq_pieces p = {0};
    int32_t *ids = NULL;
    float *lg = NULL;
    tag_tok *t = NULL;
    int32_t cls, sep;
    if (!elm_bert_has_token_classifier(m)) {
        snprintf(err.msg, sizeof err.msg, "the model has no token classifier (BertForTokenClassification)");
        goto done;
    }
    if (tq_tokenize(m, o.text, &p, &err) < 0 || !tq_specials(m, &cls, &sep)) goto done;
    if (p.n + 2 > elm_bert_n_ctx(m)) {
        snprintf(err.msg, sizeof err.msg, "the text has %lld pieces, the model takes %d", (long long)p.n, elm_bert_n_ctx(m) - 2);
        goto done;
    }
    int32_t n = (int32_t)p.n + 2;
    ids = malloc((size_t)n * sizeof *ids);
    t = malloc((size_t)(p.n ? p.n : 1) * sizeof *t);
    if (!ids || !t) goto done;
    ids[0] = cls;
    ids[n - 1] = sep;
    for (int64_t k = 0; k < p.n; k++) ids[k + 1] = p.v[k].id;
    const int32_t *ip = ids;
    elm_bert_request rq = {.token_classify = true};
    if (elm_bert_run(m, 1, &ip, NULL, &n, &rq, &err) != ELM_OK) goto done;
    if (!(lg = cli_bert_get(m, 0, ELM_BERT_OUT_TOKEN_LOGITS, NULL, &err))) goto done;
    const int32_t nl = elm_bert_n_labels(m);
    for (int64_t k = 0; k < p.n; k++) { /* softmax, argmax (the first of equal maxima) */
        const float *row = lg + (k + 1) * nl;
        int32_t best = 0;
        for (int32_t j = 1; j < nl; j++)
            if (row[j] > row[best]) best = j;
        double sum = 0;
        for (int32_t j = 0; j < nl; j++) sum += exp((double)row[j] - row[best]);
        t[k] = (tag_tok){best, 1.0 / sum};
    }
    if (o.words) {
        for (int64_t k = 0; k < p.n; k++) {
            if (!p.v[k].word_start) continue;
            int64_t e = k + 1;
            while (e < p.n && !p.v[e].word_start) e++;
            printf("%.*s\t%s\t%.4f\n", p.v[e - 1].end - p.v[k].start, o.text + p.v[k].start, elm_bert_label(m, t[k].label),
                   t[k].score);
        }
    } else {
        int64_t a = 0;
        for (int64_t k = 1; k <= p.n; k++) {
            char bi, lbi;
            if (k < p.n) {
                const char *tag = tag_split(elm_bert_label(m, t[k].label), &bi);
                const char *last = tag_split(elm_bert_label(m, t[k - 1].label), &lbi);
                if (!strcmp(tag, last) && bi != 'B') continue;
            }
            tag_print_group(m, o.text, p.v, t, a, k);
            a = k;
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm tag: %s\n", err.msg[0] ? err.msg : "out of memory");
    free(p.v);
    free(ids);
    free(t);
    free(lg);
    elm_bert_free(m);
    return rc;
}

/* ---- qa ---- */

/* Softmax of x[0..n) where only mask[i] positions (and 0) take part: others get -10000. */
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

int cmd_qa(int argc, char **argv) {
    tq_opts o;
    tq_opts_init(&o);
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &o.model, "FILE", "a BertForQuestionAnswering model (GGUF)"),
        OPT_REQ_STR("-q,--question", &o.question, "TEXT", "the question"),
        OPT_REQ_STR("-c,--context", &o.context, "TEXT", "the text that holds the answer"),
        OPT_INT("--max-answer-len", &o.max_answer_len, 1, 1 << 20, "N", "longest answer in tokens (default 15)"),
        OPT_INT("--max-seq-len", &o.max_seq_len, 4, 1 << 20, "N",
                "tokens per window, question included (default 384, at most the model's context)"),
        OPT_INT("--doc-stride", &o.doc_stride, 0, 1 << 20, "N",
                "context tokens shared by consecutive windows (default min(128, max-seq-len / 2))"),
        TQ_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("qa", "-m MODEL.gguf -q QUESTION -c CONTEXT [options]",
                                "BertForQuestionAnswering: the best answer span of CONTEXT, as Hugging Face's "
                                "question-answering pipeline (prints answer, score, start, end).",
                                defs);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    elm_bert *m = tq_open(&o, "qa");
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    tq_pieces q = {0}, c = {0};
    int32_t *buf = NULL, **ids = NULL, **types = NULL, *lens = NULL, *win = NULL;
    double *ps = NULL, *pe = NULL;
    float *lg = NULL;
    bool *ok = NULL;
    int32_t cls, sep;
    const int32_t max_len = o.max_seq_len < elm_bert_n_ctx(m) ? o.max_seq_len : elm_bert_n_ctx(m);
    const int32_t stride = o.doc_stride >= 0 ? o.doc_stride : (max_len / 2 < 128 ? max_len / 2 : 128);
    if (!elm_bert_has_qa(m)) {
        snprintf(err.msg, sizeof err.msg, "the model has no question-answering head (BertForQuestionAnswering)");
        goto done;
    }
    if (tq_tokenize(m, o.question, &q, &err) < 0 || tq_tokenize(m, o.context, &c, &err) < 0 || !tq_specials(m, &cls, &sep))
        goto done;
    const int64_t room = (int64_t)max_len - q.n - 3;
    if (c.n == 0 || room <= stride) {
        snprintf(err.msg, sizeof err.msg, c.n == 0 ? "the context is empty"
                 : "the question (%lld pieces) leaves no room for context windows of %d tokens with stride %d",
                 (long long)q.n, max_len, stride);
        goto done;
    }
    int32_t nw = 1;
    for (int64_t a = 0; a + room < c.n; a += room - stride) nw++;
    buf = malloc((size_t)nw * (size_t)max_len * 2 * sizeof *buf);
    ids = malloc((size_t)nw * sizeof *ids);
    types = malloc((size_t)nw * sizeof *types);
    lens = malloc((size_t)nw * sizeof *lens);
    win = malloc((size_t)nw * sizeof *win);
    ps = malloc((size_t)max_len * sizeof *ps);
    pe = malloc((size_t)max_len * sizeof *pe);
    ok = malloc((size_t)max_len * sizeof *ok);
    if (!buf || !ids || !types || !lens || !win || !ps || !pe || !ok) goto done;
    for (int32_t w = 0; w < nw; w++) { /* [CLS] q [SEP] c[a, b) [SEP], types 0.. then 1.. */
        int64_t a = (int64_t)w * (room - stride), b = a + room < c.n ? a + room : c.n;
        int32_t *id = ids[w] = buf + (size_t)w * (size_t)max_len * 2, *ty = types[w] = id + max_len;
        int32_t k = 0;
        id[k] = cls, ty[k++] = 0;
        for (int64_t i = 0; i < q.n; i++) id[k] = q.v[i].id, ty[k++] = 0;
        id[k] = sep, ty[k++] = 0;
        for (int64_t i = a; i < b; i++) id[k] = c.v[i].id, ty[k++] = 1;
        id[k] = sep, ty[k++] = 1;
        lens[w] = k;
        win[w] = (int32_t)a;
    }
    elm_bert_request rq = {.qa = true};
    const bool tys = elm_bert_n_types(m) > 1; /* DistilBERT: none */
    double best = -1;
    int64_t bs = 0, be = 0;
    const int32_t first = (int32_t)q.n + 2;
    for (int32_t w = 0; w < nw; w++) { /* a window per run: the same logits as one batch */
        const int32_t n = lens[w], nc = n - first - 1;
        const int32_t *iw = ids[w], *tw = types[w];
        free(lg);
        if (elm_bert_run(m, 1, &iw, tys ? &tw : NULL, &lens[w], &rq, &err) != ELM_OK ||
            !(lg = cli_bert_get(m, 0, ELM_BERT_OUT_QA, NULL, &err)))
            goto done;
        for (int32_t i = 0; i < n; i++) ok[i] = i == 0 || (i >= first && i < first + nc);
        qa_softmax(lg, 2, ok, n, ps);
        qa_softmax(lg + 1, 2, ok, n, pe);
        for (int32_t i = 0; i < n; i++) /* start <= end < start + max_answer_len, first maximum */
            for (int32_t j = i; j < n && j < i + o.max_answer_len; j++) {
                double s = ps[i] * pe[j];
                if (s > best && i >= first && j < first + nc) {
                    best = s;
                    bs = win[w] + i - first;
                    be = win[w] + j - first;
                }
            }
    }
    int32_t s0 = c.v[bs].start, e0 = c.v[be].end;
    printf("answer: %.*s\nscore: %.4f\nstart: %d\nend: %d\n", e0 - s0, o.context + s0, best, tq_chars(o.context, s0),
           tq_chars(o.context, e0));
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm qa: %s\n", err.msg[0] ? err.msg : "out of memory");
    free(q.v);
    free(c.v);
    free(buf);
    free(ids);
    free(types);
    free(lens);
    free(win);
    free(ps);
    free(pe);
    free(ok);
    free(lg);
    elm_bert_free(m);
    return rc;
}

/* ---- eval --what logits ---- */

int bert_eval_logits(elm_bert *m, const int32_t *ids, const int32_t *types, int32_t n, const char *out, elm_error *err) {
    const int32_t *ip = ids, *tp = types;
    elm_bert_request rq = {.classify = elm_bert_n_labels(m) > 0 && !elm_bert_has_token_classifier(m),
                           .token_classify = elm_bert_has_token_classifier(m), .qa = elm_bert_has_qa(m)};
    if (!rq.classify && !rq.token_classify && !rq.qa) {
        snprintf(err->msg, sizeof err->msg, "--what logits: the model has no classifier, token classifier or QA head");
        return 1;
    }
    if (elm_bert_run(m, 1, &ip, types ? &tp : NULL, &n, &rq, err) != ELM_OK) return 1;
    float *lg = cli_bert_get(m, 0, rq.qa ? ELM_BERT_OUT_QA : rq.token_classify ? ELM_BERT_OUT_TOKEN_LOGITS
                                   : ELM_BERT_OUT_CLASSES, NULL, err);
    if (!lg) return 1;
    gl_error ge = {0};
    gl_status st;
    if (rq.qa) {
        int64_t shape[2] = {n, 2};
        st = elm_npy_write_f32(out, lg, 2, shape, &ge);
    } else if (rq.token_classify) {
        int64_t shape[2] = {n, elm_bert_n_labels(m)};
        st = elm_npy_write_f32(out, lg, 2, shape, &ge);
    } else {
        int64_t shape[1] = {elm_bert_n_labels(m)};
        st = elm_npy_write_f32(out, lg, 1, shape, &ge);
    }
    free(lg);
    if (st != GL_OK) {
        snprintf(err->msg, sizeof err->msg, "%s", ge.msg);
        return 1;
    }
    return 0;
}
