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
 * Character offsets and windows: cli_qa.c.
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_qa.h"
#include "cli_io.h"
#include "opts.h"
#include "edgelm.h"
#include "gen_opts.h"
#include "cli_npy.h"
#include "unicode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static elm_bert *tq_open(const tq_opts *o, const char *cmd, bool bpe_ok) {
    elm_error err = {0};
    elm_bert_params p = elm_bert_default_params();
    p.n_threads = o->n_threads;
    p.no_repack = o->no_repack;
    if (!cli_family_check(cmd, o->model, CLI_BERT)) return NULL;
    elm_bert *m = elm_bert_load(o->model, &p, &err);
    if (!m) opts_fail_err(cmd, NULL, &err, NULL);
    if (m && !bpe_ok && !elm_bert_is_wordpiece(m)) { /* qa's windows are BERT's "[CLS] q [SEP] c [SEP]" */
        opts_fail(cmd, "use a BERT or DistilBERT model with a WordPiece vocabulary", "byte-level BPE (RoBERTa) models are not supported yet");
        elm_bert_free(m);
        m = NULL;
    }
    return m;
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
    if (!elm_bert_is_wordpiece(m)) { /* byte-level BPE: the pieces' bytes decoded, a leading space kept */
        printf("%.*s\n", p[b - 1].end - p[a].raw, text + p[a].raw);
        return;
    }
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
    const char *prompt = NULL, *file = NULL;
    char *owned = NULL;
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &o.model, "FILE", "a BertForTokenClassification model (GGUF)"),
        OPT_STR("-p,--prompt", &prompt, "TEXT", "the text to tag"),
        OPT_STR("-f,--file", &file, "FILE", "read the text from FILE ('-' = stdin; one trailing newline is dropped)"),
        OPT_FLAG("--words", &o.words, "each word's label and score (its first piece's) instead of entity spans"),
        TQ_DEFS_RUNTIME(&o),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("tag", "-m MODEL.gguf (-p TEXT | -f FILE) [options]",
                                "BertForTokenClassification: entity spans (entity_group, score, start, end, word), "
                                "merged as Hugging Face's token-classification pipeline with aggregation \"simple\".",
                                defs);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    if (!cli_prompt_or_file("tag", prompt, file, &o.text, &owned)) return 2;
    elm_bert *m = tq_open(&o, "tag", true);
    if (!m) {
        free(owned);
        return 1;
    }
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
            int64_t e = k + 1, last = k; /* last: the word's last piece with text (not a lone BPE space) */
            for (; e < p.n && !p.v[e].word_start; e++)
                if (p.v[e].end > p.v[e].start) last = e;
            printf("%.*s\t%s\t%.4f\n", p.v[last].end - p.v[k].start, o.text + p.v[k].start, elm_bert_label(m, t[k].label),
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
    if (rc) opts_fail_err("tag", NULL, &err, "out of memory");
    free(p.v);
    free(ids);
    free(t);
    free(lg);
    elm_bert_free(m);
    free(owned);
    return rc;
}

/* ---- qa ---- */

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
    elm_bert *m = tq_open(&o, "qa", false);
    if (!m) return 1;
    int rc = 1;
    elm_error err = {0};
    tq_pieces q = {0}, c = {0};
    qa_windows w = {0};
    float **lgs = NULL; /* each window's QA logits (cli_bert_get) */
    int32_t cls, sep;
    const int32_t max_len = o.max_seq_len < elm_bert_n_ctx(m) ? o.max_seq_len : elm_bert_n_ctx(m);
    const int32_t stride = o.doc_stride >= 0 ? o.doc_stride : (max_len / 2 < 128 ? max_len / 2 : 128);
    if (!elm_bert_has_qa(m)) {
        snprintf(err.msg, sizeof err.msg, "the model has no question-answering head (BertForQuestionAnswering)");
        goto done;
    }
    if (tq_tokenize(m, o.question, &q, &err) < 0 || tq_tokenize(m, o.context, &c, &err) < 0 || !tq_specials(m, &cls, &sep))
        goto done;
    if (!qa_windows_make(&q, &c, cls, sep, max_len, stride, &w, err.msg, sizeof err.msg)) goto done;
    elm_bert_request rq = {.qa = true};
    const int32_t *const *tys = elm_bert_n_types(m) > 1 ? (const int32_t *const *)w.types : NULL; /* DistilBERT: none */
    if (!(lgs = calloc((size_t)w.n, sizeof *lgs))) goto done;
    for (int32_t k = 0; k < w.n; k++) { /* a window per run (the context holds one sequence): the same logits */
        const int32_t *iw = w.ids[k], *tw = tys ? tys[k] : NULL;
        if (elm_bert_run(m, 1, &iw, tys ? &tw : NULL, &w.lens[k], &rq, &err) != ELM_OK ||
            !(lgs[k] = cli_bert_get(m, 0, ELM_BERT_OUT_QA, NULL, &err)))
            goto done;
    }
    int64_t bs, be;
    double best = qa_best_span(&w, (const float *const *)lgs, o.max_answer_len, &bs, &be);
    if (best < 0) goto done;
    int32_t s0 = c.v[bs].start, e0 = c.v[be].end;
    printf("answer: %.*s\nscore: %.4f\nstart: %d\nend: %d\n", e0 - s0, o.context + s0, best, tq_chars(o.context, s0),
           tq_chars(o.context, e0));
    rc = 0;
done:
    if (rc) opts_fail_err("qa", NULL, &err, "out of memory");
    free(q.v);
    free(c.v);
    for (int32_t k = 0; lgs && k < w.n; k++) free(lgs[k]);
    free(lgs);
    qa_windows_free(&w);
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
        st = cli_npy_write_f32(out, lg, 2, shape, &ge);
    } else if (rq.token_classify) {
        int64_t shape[2] = {n, elm_bert_n_labels(m)};
        st = cli_npy_write_f32(out, lg, 2, shape, &ge);
    } else {
        int64_t shape[1] = {elm_bert_n_labels(m)};
        st = cli_npy_write_f32(out, lg, 1, shape, &ge);
    }
    free(lg);
    if (st != GL_OK) {
        snprintf(err->msg, sizeof err->msg, "%s", ge.msg);
        return 1;
    }
    return 0;
}
