/*
 * edgelm finetune -m BERT.gguf --task classify -f TRAIN.tsv --save OUT.gguf [options]
 * edgelm finetune -m BERT.gguf --task tag -f TRAIN.conll --save OUT.gguf [options]
 *
 * --task tag: CoNLL-style files, one `word ... label` line per token (the first column is the
 * word, the last its label), a blank line between sentences, -DOCSTART- lines skipped; each
 * word's label goes on its first word piece (the others are not scored); the held-out figure
 * are the accuracy over labelled tokens and the entity-level F1 over the words as seqeval
 * computes it (micro average, default mode); the saved model runs in `edgelm tag`.
 *
 * --task qa: SQuAD-style JSON ({"data": [{"paragraphs": [{"context": C, "qas": [{"question": Q,
 * "answers": [{"text": A, "answer_start": CHARS}]}]}]}]}); each question becomes "[CLS] Q [SEP]
 * window [SEP]" features over the context with --doc-stride as `edgelm qa` makes them; a
 * window that holds the (first) answer is labelled with its first and last piece, others with
 * [CLS] (0, 0); the loss is the mean of the start and end cross-entropies. Held-out questions
 * are answered as `edgelm qa` does (best span over the windows) and scored with SQuAD's exact
 * match and F1 (normalised answers, best over the gold answers); the saved model runs in
 * `edgelm qa`.
 *
 * Fine-tunes a BERT-family model for sequence classification on the device (library:
 * include/edgelm.h, "BERT fine-tuning"). TRAIN.tsv: one example per line, `text<TAB>label` or
 * `text<TAB>text_b<TAB>label`. Labels are the distinct label strings, sorted. The held-out
 * set is --eval FILE, or the first --eval-split share of the examples after shuffling by the
 * seed. Each epoch visits the training examples in a new seeded order in mini-batches of
 * --batch; progress shows the running loss, each epoch ends with the mean loss and the
 * held-out accuracy. --save writes the fine-tuned model, which `edgelm classify` runs.
 */
#include "cli.h"
#include "edgelm.h"
#include "cli_family.h"
#include "cli_elmo_task.h"
#include "cli_qa.h"
#include "json.h"
#include "gen_opts.h"
#include "out_guard.h"
#include "opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ft_example {
    int32_t *ids, *types, n, label;
    int32_t *tags; /* --task tag: a label per token, -1 on [CLS]/[SEP] and later word pieces */
    int32_t span[2]; /* --task qa: the answer's first and last token (0, 0: not in this window) */
} ft_example;

typedef struct ft_set {
    ft_example *v;
    int64_t n, cap;
} ft_set;

typedef struct ft_opts {
    const char *model, *task, *train, *eval, *save;
    float lr, eval_split, warmup, dropout;
    int32_t epochs, batch, max_len, freeze, n_threads, doc_stride, max_answer_len;
    uint64_t seed;
    bool lr_given;
} ft_opts;

/* The next element of a growing array (*vpp, n, *cap), zeroed: the array grows (double, from
 * 256) when full; NULL when out of memory, with the array and *cap left as they were. The caller
 * counts the element (n++). Through FT_SLOT(set) for a set with fields v, n, cap. */
static void *ft_slot(void *vpp, int64_t n, int64_t *cap, size_t elem) {
    void *v;
    memcpy(&v, vpp, sizeof v);
    if (n == *cap) {
        const int64_t c = *cap ? *cap * 2 : 256;
        void *nv = realloc(v, (size_t)c * elem);
        if (!nv) return NULL;
        *cap = c;
        v = nv;
        memcpy(vpp, &v, sizeof v);
    }
    void *e = (char *)v + (size_t)n * elem;
    memset(e, 0, elem);
    return e;
}
#define FT_SLOT(s) ft_slot(&(s)->v, (s)->n, &(s)->cap, sizeof *(s)->v)

static uint64_t ft_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void ft_shuffle(int64_t *idx, int64_t n, uint64_t *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(ft_rand(rng) % (uint64_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static const char *const ft_tasks[] = {"classify", "tag", "qa", NULL};

static int ft_parse(ft_opts *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->lr = 2e-5f;
    o->eval_split = 0.1f;
    o->dropout = 0.1f;
    o->epochs = 3;
    o->batch = 16;
    o->max_len = 128;
    o->n_threads = opts_default_threads();
    o->seed = 42;
    o->doc_stride = -1;
    o->max_answer_len = 15;
    int task = -1;
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &o->model, "FILE", "the BERT-family model to start from, or an ELMo model (GGUF)"),
        {.names = "--task", .kind = OPTK_ENUM, .dst = &task, .choices = ft_tasks, .flags = OPT_REQUIRED,
         .help = "classify: TRAIN has one example per line, text, a tab and the label (or text, text_b, label); tag: TRAIN is "
                 "CoNLL-style (word ... label per line, blank line between sentences), the saved model runs in `edgelm tag`; "
                 "qa: TRAIN is SQuAD-style JSON (context, question, answers with answer_start), the saved model runs in `edgelm qa`"},
        OPT_REQ_STR("-f,--file,--train", &o->train, "TRAIN", "the training examples"),
        OPT_REQ_STR("--save,-o", &o->save, "OUT.gguf", "where the fine-tuned model goes"),
        OPT_STR("--eval", &o->eval, "FILE", "held-out examples (default: --eval-split of TRAIN)"),
        {.names = "--lr", .kind = OPTK_FLOAT, .dst = &o->lr, .meta = "X", .lo = 0, .hi = 1, .flags = OPT_LO_OPEN, .seen = &o->lr_given,
         .help = "peak learning rate (default 2e-5; ELMo's mix and classifier: 0.1), linear decay to 0"},
        OPT_FLOAT("--warmup", &o->warmup, 0, 1, "X", "share of the steps with a linear warm-up (default 0)"),
        OPT_INT("--epochs", &o->epochs, 1, 100000, "N", "passes over TRAIN (default 3)"),
        OPT_INT("--batch", &o->batch, 1, 4096, "N", "examples per step (default 16)"),
        OPT_INT("--max-len", &o->max_len, 2, 1 << 16, "N", "tokens per example, longer ones truncated (default 128)"),
        OPT_U64("--seed", &o->seed, "S", "shuffling, dropout, new head weights (default 42)"),
        OPT_INT("--freeze", &o->freeze, 0, 1 << 16, "N", "keep the embeddings and the first N layers (default 0: train all)"),
        OPT_FLOAT("--dropout", &o->dropout, 0, 0.95, "X", "dropout probability (default 0.1)"),
        OPT_FLOAT("--eval-split", &o->eval_split, 0, 0.9, "X", "share held out when there is no --eval (default 0.1)"),
        OPT_INT("--doc-stride", &o->doc_stride, 0, 1 << 20, "N",
                "qa: context tokens shared by consecutive windows (default min(128, max-len / 2))"),
        OPT_INT("--max-answer-len", &o->max_answer_len, 1, 1 << 20, "N", "qa: longest held-out answer in tokens (default 15)"),
        OPT_THREADS(&o->n_threads),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("finetune", "-m BERT.gguf --task classify|tag|qa -f TRAIN --save OUT.gguf [options]",
                                "Fine-tunes a BERT-family model on the device (AdamW, linear decay, gradient clipping at "
                                "norm 1); each epoch reports the mean loss and the held-out accuracy (qa: exact match "
                                "and F1). The result is the same for a seed whatever the thread count.",
                                defs);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r) == 0 ? 1 : 2;
    o->task = ft_tasks[task];
    return 0;
}

/* ---- data ---- */

typedef struct ft_labels {
    char **v;
    int32_t n;
} ft_labels;

static int32_t ft_label_find(const ft_labels *l, const char *s) {
    for (int32_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return i;
    return -1;
}

static int ft_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Splits a TSV line in place into text, text_b (or NULL) and label. */
static bool ft_split(char *line, char **a, char **b, char **label) {
    line[strcspn(line, "\r\n")] = '\0';
    char *t1 = strchr(line, '\t');
    if (!t1) return false;
    *t1 = '\0';
    char *t2 = strchr(t1 + 1, '\t');
    *a = line;
    if (t2) {
        *t2 = '\0';
        *b = t1 + 1;
        *label = t2 + 1;
        if (strchr(*label, '\t')) return false;
    } else {
        *b = NULL;
        *label = t1 + 1;
    }
    return **label != '\0';
}

/* A TSV training file read line by line (ft_read, fe_read). */
typedef struct ft_tsv {
    FILE *f;
    const char *path;
    int64_t ln; /* the current line's number */
    char line[16384];
} ft_tsv;

static bool ft_tsv_open(ft_tsv *r, const char *path, char *msg, size_t msz) {
    r->path = path;
    r->ln = 0;
    if (!(r->f = fopen(path, "r"))) return snprintf(msg, msz, "cannot open %s", path), false;
    return true;
}

/* The next non-blank line split by ft_split: 1; 0 at the end; -1 with msg when the file cannot
 * be read or a line does not split (or has a text_b when !pair_ok): expect names the format. */
static int ft_tsv_next(ft_tsv *r, bool pair_ok, const char *expect, char **a, char **b, char **lab, char *msg, size_t msz) {
    while (fgets(r->line, sizeof r->line, r->f)) {
        r->ln++;
        if (r->line[0] == '\n' || r->line[0] == '\0') continue;
        if (!ft_split(r->line, a, b, lab) || (*b && !pair_ok))
            return snprintf(msg, msz, "%s:%lld: expected %s", r->path, (long long)r->ln, expect), -1;
        return 1;
    }
    if (ferror(r->f)) return snprintf(msg, msz, "cannot read %s", r->path), -1;
    return 0;
}

/* Pass 1 (collect = true): the label names. Pass 2: the examples, tokenized. */
static bool ft_read(const char *path, const elm_bert *m, int32_t max_len, ft_labels *labels, bool collect, ft_set *out,
                    char *msg, size_t msz) {
    ft_tsv r;
    if (!ft_tsv_open(&r, path, msg, msz)) return false;
    bool ok = true;
    char *a, *b, *lab;
    int got = 0;
    while (ok && (got = ft_tsv_next(&r, true, "text<TAB>label or text<TAB>text_b<TAB>label", &a, &b, &lab, msg, msz)) > 0) {
        int32_t li = ft_label_find(labels, lab);
        if (collect) {
            if (li >= 0) continue;
            char **nv = realloc(labels->v, (size_t)(labels->n + 1) * sizeof *nv);
            if (!nv || !(nv[labels->n] = strdup(lab))) {
                if (nv) labels->v = nv;
                ok = false;
                snprintf(msg, msz, "out of memory");
                break;
            }
            labels->v = nv;
            labels->n++;
            continue;
        }
        if (li < 0) {
            ok = false;
            snprintf(msg, msz, "%s:%lld: label '%s' is not one of the training labels", path, (long long)r.ln, lab);
            break;
        }
        ft_example *e = FT_SLOT(out);
        if (!e) {
            ok = false;
            snprintf(msg, msz, "out of memory");
            break;
        }
        const int32_t cap = elm_bert_n_ctx(m); /* the tokenizer truncates to the context itself */
        e->ids = malloc((size_t)cap * sizeof *e->ids);
        e->types = malloc((size_t)cap * sizeof *e->types);
        elm_error err = {0};
        int64_t n = e->ids && e->types ? elm_bert_tokenize(m, a, b, true, e->ids, e->types, cap, &err) : -1;
        if (n < 1) {
            free(e->ids);
            free(e->types);
            ok = false;
            snprintf(msg, msz, "%s:%lld: %s", path, (long long)r.ln, err.msg[0] ? err.msg : "out of memory");
            break;
        }
        if (n > cap) n = cap;
        if (n > max_len) { /* longer than --max-len: the first max_len - 1 tokens and the final [SEP] */
            e->ids[max_len - 1] = e->ids[n - 1];
            e->types[max_len - 1] = e->types[n - 1];
            n = max_len;
        }
        e->n = (int32_t)n;
        e->label = li;
        out->n++;
    }
    if (got < 0) ok = false;
    fclose(r.f);
    return ok;
}

/* Adds a label name (collect) or finds it; -2 when unknown, -3 out of memory. */
static int32_t ft_label(ft_labels *labels, const char *lab, bool collect) {
    int32_t li = ft_label_find(labels, lab);
    if (li >= 0 || !collect) return li >= 0 ? li : -2;
    char **nv = realloc(labels->v, (size_t)(labels->n + 1) * sizeof *nv);
    if (!nv) return -3;
    labels->v = nv;
    if (!(nv[labels->n] = strdup(lab))) return -3;
    return labels->n++;
}

/* One CoNLL sentence (words[], their labels) -> [CLS] pieces [SEP] with a label on each
 * word's first piece. */
static bool ft_conll_sentence(const elm_bert *m, int32_t max_len, char **words, const int32_t *wl, int n_words, ft_set *out,
                              char *msg, size_t msz) {
    int32_t sp[4];
    elm_error err = {0};
    if (elm_bert_tokenize(m, "", NULL, true, sp, NULL, 4, &err) != 2) return snprintf(msg, msz, "no [CLS]/[SEP] tokens"), false;
    ft_example *e = FT_SLOT(out);
    if (!e) return snprintf(msg, msz, "out of memory"), false;
    e->ids = malloc((size_t)max_len * sizeof *e->ids);
    e->types = calloc((size_t)max_len, sizeof *e->types);
    e->tags = malloc((size_t)max_len * sizeof *e->tags);
    if (!e->ids || !e->types || !e->tags) {
        free(e->ids), free(e->types), free(e->tags);
        return snprintf(msg, msz, "out of memory"), false;
    }
    int32_t k = 0;
    e->ids[k] = sp[0], e->tags[k++] = -1;
    const bool bpe = !elm_bert_is_wordpiece(m);
    for (int w = 0; w < n_words && k < max_len - 1; w++) {
        int32_t pieces[64];
        char spaced[4096]; /* byte-level BPE: words after the first with their space, as in running text (`tag`) */
        if (bpe && w > 0) snprintf(spaced, sizeof spaced, " %s", words[w]);
        int64_t np = elm_bert_tokenize(m, bpe && w > 0 ? spaced : words[w], NULL, false, pieces, NULL, 64, &err);
        if (np < 0) return snprintf(msg, msz, "%s", err.msg), false;
        if (np > 64) np = 64;
        for (int64_t j = 0; j < np && k < max_len - 1; j++) e->ids[k] = pieces[j], e->tags[k++] = j == 0 ? wl[w] : -1;
    }
    e->ids[k] = sp[1], e->tags[k++] = -1;
    e->n = k;
    out->n++;
    return true;
}

static bool ft_read_conll(const char *path, const elm_bert *m, int32_t max_len, ft_labels *labels, bool collect, ft_set *out,
                          char *msg, size_t msz) {
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(msg, msz, "cannot open %s", path), false;
    char line[4096];
    char *words[512];
    int32_t wl[512];
    int n = 0;
    int64_t ln = 0;
    bool ok = true, more = true;
    while (ok && more) {
        more = fgets(line, sizeof line, f) != NULL;
        ln++;
        if (more) line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL, *first = more ? strtok_r(line, " \t", &save) : NULL, *last = first, *tok;
        while (first && (tok = strtok_r(NULL, " \t", &save))) last = tok;
        if (first && !strcmp(first, "-DOCSTART-")) continue;
        if (first) {
            if (last == first) {
                ok = false;
                snprintf(msg, msz, "%s:%lld: expected a word and its label", path, (long long)ln);
                break;
            }
            int32_t li = ft_label(labels, last, collect);
            if (li < 0) {
                ok = false;
                snprintf(msg, msz, li == -2 ? "%s:%lld: label '%s' is not one of the training labels" : "out of memory", path,
                         (long long)ln, last);
                break;
            }
            if (n < 512 && !collect) {
                if (!(words[n] = strdup(first))) {
                    ok = false;
                    snprintf(msg, msz, "out of memory");
                    break;
                }
                wl[n++] = li;
            }
            continue;
        }
        if (n > 0) ok = ft_conll_sentence(m, max_len, words, wl, n, out, msg, msz); /* a blank line or the end */
        for (int i = 0; i < n; i++) free(words[i]);
        n = 0;
    }
    for (int i = 0; i < n; i++) free(words[i]);
    fclose(f);
    return ok;
}

static void ft_set_free(ft_set *s) {
    for (int64_t i = 0; i < s->n; i++) {
        free(s->v[i].ids);
        free(s->v[i].types);
        free(s->v[i].tags);
    }
    free(s->v);
}

/* ---- --task qa ---- */

typedef struct ft_qa_item {
    const char *context, *question; /* in the JSON document */
    int32_t n_ans;
    const char **ans;   /* the gold answers' texts */
    int32_t *sb, *eb;   /* their byte spans in the context */
} ft_qa_item;

typedef struct ft_qa_set {
    ft_qa_item *v;
    int64_t n, cap;
    elm_json_doc *doc;
} ft_qa_set;

static void ft_qa_free(ft_qa_set *s) {
    for (int64_t i = 0; i < s->n; i++) {
        free(s->v[i].ans);
        free(s->v[i].sb);
        free(s->v[i].eb);
    }
    free(s->v);
    elm_json_free(s->doc);
    memset(s, 0, sizeof *s);
}

/* Byte offset of code point `chars` of text (-1 past the end). */
static int64_t ft_char_byte(const char *text, int64_t chars) {
    int64_t b = 0;
    for (int64_t c = 0; c < chars; c++) {
        if (!text[b]) return -1;
        b++;
        while (((unsigned char)text[b] & 0xC0) == 0x80) b++;
    }
    return b;
}

/* One question with its answers; false with msg. */
static bool ft_qa_add(ft_qa_set *s, const char *context, const elm_json *qa, const char *where, char *msg, size_t msz) {
    const char *question = elm_json_get_str(qa, "question");
    const elm_json *answers = elm_json_get(qa, "answers");
    if (!question || (answers && !elm_json_is(answers, ELM_JSON_ARRAY)))
        return snprintf(msg, msz, "%s: a question needs \"question\" and an \"answers\" array", where), false;
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        ft_qa_item *nv = realloc(s->v, (size_t)cap * sizeof *nv);
        if (!nv) return snprintf(msg, msz, "out of memory"), false;
        s->v = nv;
        s->cap = cap;
    }
    ft_qa_item *it = &s->v[s->n];
    memset(it, 0, sizeof *it);
    const size_t na = elm_json_count(answers);
    it->ans = calloc(na + 1, sizeof *it->ans);
    it->sb = calloc(na + 1, sizeof *it->sb);
    it->eb = calloc(na + 1, sizeof *it->eb);
    s->n++; /* freed with the set from here on */
    if (!it->ans || !it->sb || !it->eb) return snprintf(msg, msz, "out of memory"), false;
    it->context = context;
    it->question = question;
    for (size_t a = 0; a < na; a++) {
        const elm_json *ans = elm_json_at(answers, a);
        const char *text = elm_json_get_str(ans, "text");
        int64_t start;
        if (!text || !elm_json_get_int(ans, "answer_start", &start) || start < 0)
            return snprintf(msg, msz, "%s: an answer needs \"text\" and a non-negative integer \"answer_start\"", where), false;
        const int64_t sb = ft_char_byte(context, start), len = (int64_t)strlen(text);
        if (sb < 0 || sb + len > (int64_t)strlen(context) || strncmp(context + sb, text, (size_t)len) || len == 0)
            return snprintf(msg, msz, "%s: answer \"%.40s\" is not at character %lld of its context", where, text, (long long)start), false;
        it->ans[it->n_ans] = text;
        it->sb[it->n_ans] = (int32_t)sb;
        it->eb[it->n_ans++] = (int32_t)(sb + len);
    }
    return true;
}

/* Reads a SQuAD-style file into s (questions in document order). */
static bool ft_read_squad(const char *path, ft_qa_set *s, char *msg, size_t msz) {
    gl_error ge = {0};
    if (!(s->doc = elm_json_parse_file(path, &ge))) return snprintf(msg, msz, "%s", ge.msg), false;
    const elm_json *data = elm_json_get(elm_json_root(s->doc), "data");
    if (!elm_json_is(data, ELM_JSON_ARRAY)) return snprintf(msg, msz, "%s: no \"data\" array (SQuAD format)", path), false;
    for (size_t d = 0; d < elm_json_count(data); d++) {
        const elm_json *paras = elm_json_get(elm_json_at(data, d), "paragraphs");
        for (size_t p = 0; p < elm_json_count(paras); p++) {
            const elm_json *para = elm_json_at(paras, p), *qas = elm_json_get(para, "qas");
            const char *context = elm_json_get_str(para, "context");
            char where[96];
            snprintf(where, sizeof where, "%s: data[%zu].paragraphs[%zu]", path, d, p);
            if (!context || !elm_json_is(qas, ELM_JSON_ARRAY))
                return snprintf(msg, msz, "%s: a paragraph needs \"context\" and a \"qas\" array", where), false;
            for (size_t q = 0; q < elm_json_count(qas); q++)
                if (!ft_qa_add(s, context, elm_json_at(qas, q), where, msg, msz)) return false;
        }
    }
    if (s->n == 0) return snprintf(msg, msz, "%s holds no questions", path), false;
    return true;
}

typedef struct ft_qa_tok {
    tq_pieces q, c;
    qa_windows w;
} ft_qa_tok;

static void ft_qa_tok_free(ft_qa_tok *k) {
    free(k->q.v);
    free(k->c.v);
    qa_windows_free(&k->w);
    memset(k, 0, sizeof *k);
}

static bool ft_qa_windows(const elm_bert *m, const ft_qa_item *it, const ft_opts *o, ft_qa_tok *k, char *msg, size_t msz) {
    elm_error err = {0};
    int32_t cls, sep;
    memset(k, 0, sizeof *k);
    if (tq_tokenize(m, it->question, &k->q, &err) < 0 || tq_tokenize(m, it->context, &k->c, &err) < 0 || !tq_specials(m, &cls, &sep))
        return snprintf(msg, msz, "%s", err.msg[0] ? err.msg : "out of memory"), false;
    const int32_t stride = o->doc_stride >= 0 ? o->doc_stride : (o->max_len / 2 < 128 ? o->max_len / 2 : 128);
    if (!qa_windows_make(&k->q, &k->c, cls, sep, o->max_len, stride, &k->w, msg, msz)) return false;
    return true;
}

/* The training features of one question: a window each, labelled with the first answer's
 * first and last piece when the window holds it, else (0, 0). */
static bool ft_qa_features(const elm_bert *m, const ft_qa_item *it, const ft_opts *o, ft_set *out, char *msg, size_t msz) {
    ft_qa_tok k;
    if (!ft_qa_windows(m, it, o, &k, msg, msz)) return ft_qa_tok_free(&k), false;
    bool ok = true;
    for (int32_t w = 0; ok && w < k.w.n; w++) {
        ft_example *e = FT_SLOT(out);
        if (!e) {
            ok = false;
            break;
        }
        const int32_t n = k.w.lens[w];
        e->ids = malloc((size_t)n * sizeof *e->ids);
        e->types = malloc((size_t)n * sizeof *e->types);
        if (!e->ids || !e->types) {
            free(e->ids), free(e->types);
            ok = false;
            break;
        }
        memcpy(e->ids, k.w.ids[w], (size_t)n * sizeof *e->ids);
        memcpy(e->types, k.w.types[w], (size_t)n * sizeof *e->types);
        e->n = n;
        const int32_t a = k.w.start[w], b = a + k.w.n_ctx[w];
        if (it->n_ans > 0 && k.c.v[a].start <= it->sb[0] && k.c.v[b - 1].end >= it->eb[0]) {
            int32_t i = a, j;
            while (i + 1 < b && k.c.v[i + 1].start <= it->sb[0]) i++; /* the last piece starting at or before the answer */
            for (j = i; j < b - 1 && k.c.v[j].end < it->eb[0]; j++) {} /* the first piece ending at or after it */
            e->span[0] = k.w.first + i - a;
            e->span[1] = k.w.first + j - a;
        }
        out->n++;
    }
    if (!ok) snprintf(msg, msz, "out of memory");
    ft_qa_tok_free(&k);
    return ok;
}

/* Answers questions idx[0..n) with the current weights as `edgelm qa` does and scores them:
 * mean exact match and F1 (each the best over the gold answers). */
static bool ft_qa_eval(elm_bert_trainer *t, const elm_bert *m, const ft_qa_set *s, const int64_t *idx, int64_t n,
                       const ft_opts *o, double *em, double *f1, char *msg, size_t msz) {
    double sem = 0, sf1 = 0;
    bool ok = true;
    for (int64_t q = 0; ok && q < n; q++) {
        const ft_qa_item *it = &s->v[idx[q]];
        ft_qa_tok k;
        if (!ft_qa_windows(m, it, o, &k, msg, msz)) return ft_qa_tok_free(&k), false;
        int64_t total = 0;
        for (int32_t w = 0; w < k.w.n; w++) total += k.w.lens[w];
        float *lg = malloc((size_t)total * 2 * sizeof *lg);
        const float **lgs = malloc((size_t)k.w.n * sizeof *lgs);
        elm_error err = {0};
        ok = lg && lgs;
        for (int32_t w0 = 0, off = 0; ok && w0 < k.w.n; w0 += o->batch) { /* the windows in batches */
            const int32_t nb = k.w.n - w0 < o->batch ? k.w.n - w0 : o->batch;
            ok = elm_bert_trainer_predict(t, nb, (const int32_t *const *)k.w.ids + w0, (const int32_t *const *)k.w.types + w0,
                                          k.w.lens + w0, lg + (size_t)off * 2, &err) == ELM_OK;
            for (int32_t w = w0; ok && w < w0 + nb; off += k.w.lens[w], w++) lgs[w] = lg + (size_t)off * 2;
        }
        int64_t bs = 0, be = 0;
        if (ok && qa_best_span(&k.w, lgs, o->max_answer_len, &bs, &be) < 0) ok = false;
        char *pred = NULL;
        if (ok) {
            const int32_t a = k.c.v[bs].start, b = k.c.v[be].end;
            if ((pred = malloc((size_t)(b - a) + 1))) {
                memcpy(pred, it->context + a, (size_t)(b - a));
                pred[b - a] = '\0';
            }
            ok = pred != NULL;
        }
        double bem = 0, bf1 = 0;
        for (int32_t g = 0; ok && g < it->n_ans; g++) {
            const double e1 = squad_exact(pred, it->ans[g]), f = squad_f1(pred, it->ans[g]);
            bem = e1 > bem ? e1 : bem;
            bf1 = f > bf1 ? f : bf1;
        }
        if (ok && it->n_ans == 0) bem = bf1 = squad_exact(pred, ""); /* no answer: right only when it is empty */
        sem += bem;
        sf1 += bf1;
        if (!ok) snprintf(msg, msz, "%s", err.msg[0] ? err.msg : "out of memory");
        free(pred);
        free(lg);
        free(lgs);
        ft_qa_tok_free(&k);
    }
    *em = n > 0 ? sem / (double)n : 0;
    *f1 = n > 0 ? sf1 / (double)n : 0;
    return ok;
}

/* Entity counts of one tagged sentence (gold and predicted word labels) for seqeval's micro F1. */
typedef struct ft_ent_counts {
    int64_t gold, pred, correct;
} ft_ent_counts;

static void ft_entities(const char *const *gold, const char *const *pred, int64_t n, ft_ent_counts *c) {
    seq_entity *eg = malloc((size_t)(n + 1) * sizeof *eg), *ep = malloc((size_t)(n + 1) * sizeof *ep);
    if (eg && ep) {
        const int64_t ng = seqeval_entities(gold, n, eg), np = seqeval_entities(pred, n, ep);
        c->gold += ng;
        c->pred += np;
        for (int64_t i = 0; i < np; i++)
            for (int64_t j = 0; j < ng; j++)
                if (seqeval_same(&ep[i], &eg[j])) {
                    c->correct++;
                    break;
                }
    }
    free(eg);
    free(ep);
}

/* Runs examples idx[0..n) in batches; returns the accuracy (argmax == label; --task tag: over
 * the labelled tokens, and *f1 the entity-level F1 as seqeval computes it over the words). */
static double ft_accuracy(elm_bert_trainer *t, const ft_set *s, const int64_t *idx, int64_t n, int32_t batch, int32_t n_labels,
                          int32_t max_len, bool tag, const ft_labels *names, double *f1, elm_error *err) {
    int64_t right = 0, total = 0;
    ft_ent_counts ec = {0};
    const char **gold = malloc((size_t)max_len * sizeof *gold), **pred = malloc((size_t)max_len * sizeof *pred);
    if (!gold || !pred) n = -1;
    float *lg = malloc((size_t)batch * (size_t)max_len * (size_t)n_labels * sizeof *lg);
    const int32_t **ids = malloc((size_t)batch * sizeof *ids), **ty = malloc((size_t)batch * sizeof *ty);
    int32_t *nt = malloc((size_t)batch * sizeof *nt);
    if (!lg || !ids || !ty || !nt) n = -1;
    for (int64_t b0 = 0; b0 < n; b0 += batch) {
        int32_t nb = (int32_t)(n - b0 < batch ? n - b0 : batch);
        for (int32_t k = 0; k < nb; k++) {
            const ft_example *e = &s->v[idx[b0 + k]];
            ids[k] = e->ids, ty[k] = e->types, nt[k] = e->n;
        }
        if (elm_bert_trainer_predict(t, nb, ids, ty, nt, lg, err) != ELM_OK) {
            n = -1;
            break;
        }
        for (int32_t k = 0, row = 0; k < nb; k++) {
            const ft_example *e = &s->v[idx[b0 + k]];
            int64_t nw = 0;
            for (int32_t i = 0; i < (tag ? e->n : 1); i++, row++) {
                const int32_t want = tag ? e->tags[i] : e->label;
                if (want < 0) continue;
                int32_t best = 0;
                for (int32_t c = 1; c < n_labels; c++)
                    if (lg[row * n_labels + c] > lg[row * n_labels + best]) best = c;
                right += best == want;
                total++;
                if (tag) gold[nw] = names->v[want], pred[nw++] = names->v[best];
            }
            if (tag) ft_entities(gold, pred, nw, &ec);
        }
    }
    free(lg);
    free(ids);
    free(ty);
    free(nt);
    free(gold);
    free(pred);
    const double p = ec.pred ? (double)ec.correct / (double)ec.pred : 0, r = ec.gold ? (double)ec.correct / (double)ec.gold : 0;
    *f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
    return n < 0 ? -1.0 : total > 0 ? (double)right / (double)total : 0.0;
}

/* ---- ELMo: the scalar mix and a classifier on the frozen biLM ---- */

typedef struct fe_sent {
    char *text, **words, *label;
    int32_t n, y;
    float *layers; /* [n_layers][n][dim] from the biLM */
} fe_sent;

typedef struct fe_set {
    fe_sent *v;
    int64_t n, cap;
} fe_set;

static void fe_set_free(fe_set *s) {
    for (int64_t i = 0; i < s->n; i++) {
        free(s->v[i].text);
        free(s->v[i].words);
        free(s->v[i].label);
        free(s->v[i].layers);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* text<TAB>label lines, the text split at ASCII whitespace (as `elmo` reads sentences). */
static bool fe_read(const char *path, fe_set *out, char *msg, size_t msz) {
    ft_tsv r;
    if (!ft_tsv_open(&r, path, msg, msz)) return false;
    bool ok = true;
    char *a, *b, *lab;
    int got = 0;
    while (ok && (got = ft_tsv_next(&r, false, "text<TAB>label (ELMo takes one text per example)", &a, &b, &lab, msg, msz)) > 0) {
        fe_sent *s = FT_SLOT(out);
        if (!s) {
            ok = false;
            break;
        }
        const size_t len = strlen(a);
        s->text = strdup(a);
        s->label = strdup(lab);
        s->words = malloc((len / 2 + 2) * sizeof *s->words);
        out->n++;
        if (!s->text || !s->label || !s->words) {
            ok = false;
            break;
        }
        char *save = NULL;
        for (char *w = strtok_r(s->text, " \t\v\f", &save); w; w = strtok_r(NULL, " \t\v\f", &save)) s->words[s->n++] = w;
        if (s->n == 0) {
            ok = false;
            snprintf(msg, msz, "%s:%lld: the text has no words", path, (long long)r.ln);
        }
    }
    if (got < 0) ok = false;
    if (!ok && !msg[0]) snprintf(msg, msz, "out of memory");
    fclose(r.f);
    return ok;
}

/* The biLM's layers of every sentence, in batches. */
static bool fe_run_bilm(elm_elmo *m, fe_set *s, int32_t batch, char *msg, size_t msz) {
    const int32_t nl = elm_elmo_n_layers(m), dim = elm_elmo_dim(m);
    const char *const **toks = malloc((size_t)batch * sizeof *toks);
    int32_t *n = malloc((size_t)batch * sizeof *n);
    float **out = malloc((size_t)batch * sizeof *out);
    bool ok = toks && n && out;
    const bool tty = isatty(fileno(stderr));
    for (int64_t b0 = 0; ok && b0 < s->n; b0 += batch) {
        const int32_t bn = (int32_t)(s->n - b0 < batch ? s->n - b0 : batch);
        for (int32_t k = 0; ok && k < bn; k++) {
            fe_sent *e = &s->v[b0 + k];
            toks[k] = (const char *const *)e->words;
            n[k] = e->n;
            ok = (out[k] = e->layers = malloc((size_t)nl * (size_t)e->n * (size_t)dim * sizeof(float))) != NULL;
        }
        elm_error err = {0};
        if (ok && elm_elmo_run(m, bn, toks, n, out, &err) != ELM_OK) {
            ok = false;
            snprintf(msg, msz, "%s", err.msg);
        }
        if (ok && tty) fprintf(stderr, "\rbiLM: %lld/%lld sentences   ", (long long)(b0 + bn), (long long)s->n);
    }
    if (tty) fputc('\r', stderr);
    if (!ok && !msg[0]) snprintf(msg, msz, "out of memory");
    free(toks);
    free(n);
    free(out);
    return ok;
}

/* Held-out accuracy of sentences idx[0..n). */
static double fe_accuracy(elm_mix_trainer *t, const fe_set *s, const int64_t *idx, int64_t n, int32_t batch, int32_t n_labels,
                          elm_error *err) {
    const float **ly = malloc((size_t)batch * sizeof *ly);
    int32_t *nt = malloc((size_t)batch * sizeof *nt);
    float *lg = malloc((size_t)batch * (size_t)n_labels * sizeof *lg);
    int64_t right = 0;
    if (!ly || !nt || !lg) n = -1;
    for (int64_t b0 = 0; b0 < n; b0 += batch) {
        const int32_t bn = (int32_t)(n - b0 < batch ? n - b0 : batch);
        for (int32_t k = 0; k < bn; k++) ly[k] = s->v[idx[b0 + k]].layers, nt[k] = s->v[idx[b0 + k]].n;
        if (elm_mix_trainer_predict(t, bn, ly, nt, lg, err) != ELM_OK) {
            n = -1;
            break;
        }
        for (int32_t k = 0; k < bn; k++) {
            int32_t best = 0;
            for (int32_t c = 1; c < n_labels; c++)
                if (lg[k * n_labels + c] > lg[k * n_labels + best]) best = c;
            right += best == s->v[idx[b0 + k]].y;
        }
    }
    free(ly);
    free(nt);
    free(lg);
    return n < 0 ? -1.0 : n > 0 ? (double)right / (double)n : 0.0;
}

static bool ft_is_elmo(const char *path) {
    elm_file *f = elm_file_open(path, NULL);
    const bool yes = f && !strcmp(elm_arch_family(elm_file_arch(f)), "elmo");
    elm_file_close(f);
    return yes;
}

static int ft_elmo(const ft_opts *o) {
    char msg[512] = "";
    int rc = 1;
    fe_set tr = {0}, ev = {0};
    ft_labels labels = {0};
    int64_t *idx = NULL, *eidx = NULL;
    elm_mix_trainer *t = NULL;
    elm_elmo *m = NULL;
    const float **ly = NULL;
    int32_t *nt = NULL, *lab = NULL;
    const bool existed = out_guard_add(o->save, false);
    if (strcmp(o->task, "classify")) {
        snprintf(msg, sizeof msg, "an ELMo model takes --task classify (the mix and a classifier on the mean vector)");
        goto done;
    }
    if (!fe_read(o->train, &tr, msg, sizeof msg) || (o->eval && !fe_read(o->eval, &ev, msg, sizeof msg))) goto done;
    for (int64_t i = 0; i < tr.n; i++)
        if (ft_label(&labels, tr.v[i].label, true) == -3) goto done;
    if (labels.n < 2) {
        snprintf(msg, sizeof msg, "%s has fewer than two labels", o->train);
        goto done;
    }
    qsort(labels.v, (size_t)labels.n, sizeof *labels.v, ft_cmp_str);
    fe_set *sets[2] = {&tr, &ev};
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < sets[k]->n; i++)
            if ((sets[k]->v[i].y = ft_label(&labels, sets[k]->v[i].label, false)) < 0) {
                snprintf(msg, sizeof msg, "%s: label '%s' is not one of the training labels", o->eval, sets[k]->v[i].label);
                goto done;
            }
    elm_elmo_params ep = elm_elmo_default_params();
    ep.n_threads = o->n_threads;
    elm_error err = {0};
    if (!(m = elm_elmo_load(o->model, &ep, &err))) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto done;
    }
    if (!fe_run_bilm(m, &tr, o->batch, msg, sizeof msg) || !fe_run_bilm(m, &ev, o->batch, msg, sizeof msg)) goto done;
    /* the split, as for BERT: shuffled by the seed; without --eval the first share is held out */
    uint64_t rng = o->seed;
    idx = malloc((size_t)(tr.n + 1) * sizeof *idx);
    eidx = malloc((size_t)(tr.n + ev.n + 1) * sizeof *eidx);
    if (!idx || !eidx) goto done;
    for (int64_t i = 0; i < tr.n; i++) idx[i] = i;
    ft_shuffle(idx, tr.n, &rng);
    int64_t n_eval = o->eval ? ev.n : (int64_t)ceil(o->eval_split * (double)tr.n), n_train = tr.n;
    const fe_set *eset = o->eval ? &ev : &tr;
    if (o->eval) {
        for (int64_t i = 0; i < ev.n; i++) eidx[i] = i;
    } else {
        memcpy(eidx, idx, (size_t)n_eval * sizeof *eidx);
        memmove(idx, idx + n_eval, (size_t)(tr.n - n_eval) * sizeof *idx);
        n_train = tr.n - n_eval;
    }
    if (n_train < 1) {
        snprintf(msg, sizeof msg, "no training examples left after the held-out split");
        goto done;
    }
    const int64_t steps = (n_train + o->batch - 1) / o->batch, total = steps * o->epochs;
    const int32_t nl = elm_elmo_n_layers(m), dim = elm_elmo_dim(m);
    if (!(t = elm_mix_trainer_new(nl, dim, labels.n, o->lr_given ? o->lr : 0.1f, total, o->seed, &err))) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto done;
    }
    fprintf(stderr, "finetune: ELMo scalar mix of %d layers and a classifier (biLM frozen), %lld training and %lld held-out examples, "
            "%d labels, %lld steps (%d epochs of %lld)\n", nl, (long long)n_train, (long long)n_eval, labels.n, (long long)total,
            o->epochs, (long long)steps);
    ly = malloc((size_t)o->batch * sizeof *ly);
    nt = malloc((size_t)o->batch * sizeof *nt);
    lab = malloc((size_t)o->batch * sizeof *lab);
    if (!ly || !nt || !lab) goto done;
    for (int32_t e = 0; e < o->epochs; e++) {
        if (e > 0) ft_shuffle(idx, n_train, &rng);
        double sum = 0;
        for (int64_t st = 0; st < steps; st++) {
            const int64_t b0 = st * o->batch;
            const int32_t bn = (int32_t)(n_train - b0 < o->batch ? n_train - b0 : o->batch);
            for (int32_t k = 0; k < bn; k++) {
                const fe_sent *x = &tr.v[idx[b0 + k]];
                ly[k] = x->layers, nt[k] = x->n, lab[k] = x->y;
            }
            float loss = 0;
            if (elm_mix_trainer_step(t, bn, ly, nt, lab, &loss, &err) != ELM_OK) {
                snprintf(msg, sizeof msg, "%s", err.msg);
                goto done;
            }
            sum += loss;
        }
        double acc = n_eval > 0 ? fe_accuracy(t, eset, eidx, n_eval, o->batch, labels.n, &err) : 0;
        if (acc < 0) {
            snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : "out of memory");
            goto done;
        }
        float w[64], gamma;
        elm_mix_trainer_mix(t, w, &gamma);
        fprintf(stderr, "epoch %d/%d: loss %.4f", e + 1, o->epochs, sum / (double)steps);
        if (n_eval > 0) fprintf(stderr, ", held-out accuracy %.4f (%lld examples)", acc, (long long)n_eval);
        fprintf(stderr, ", mix");
        for (int32_t j = 0; j < nl && j < 64; j++) fprintf(stderr, " %.3f", w[j]);
        fprintf(stderr, ", gamma %.3f\n", gamma);
    }
    if (!elmo_task_save(o->save, o->model, t, nl, dim, (const char *const *)labels.v, labels.n, msg, sizeof msg)) goto done;
    fprintf(stderr, "wrote %s (run it with edgelm elmo -m %s --task %s -f SENTENCES)\n", o->save, o->model, o->save);
    out_guard_report("finetune", o->save, existed);
    rc = 0;
done:
    if (rc) fprintf(stderr, "edgelm finetune: %s\n", msg[0] ? msg : "out of memory");
    elm_mix_trainer_free(t);
    elm_elmo_free(m);
    fe_set_free(&tr);
    fe_set_free(&ev);
    for (int32_t i = 0; i < labels.n; i++) free(labels.v[i]);
    free(labels.v);
    free(idx);
    free(eidx);
    free(ly);
    free(nt);
    free(lab);
    return rc;
}

int cmd_finetune(int argc, char **argv) {
    ft_opts o;
    int r = ft_parse(&o, argc, argv);
    if (r) return r == 1 ? 0 : r;
    elm_error err = {0};
    char msg[512] = "";
    int rc = 1;
    if (!cli_family_check("finetune", o.model, CLI_BERT | CLI_ELMO)) return 1;
    if (ft_is_elmo(o.model)) return ft_elmo(&o);
    const bool existed = out_guard_add(o.save, false); /* written atomically: out_guard.h */
    elm_bert *m = elm_bert_load(o.model, NULL, &err);
    ft_labels labels = {0};
    ft_set train = {0}, held = {0};
    ft_qa_set qtrain = {0}, qheld = {0};
    int64_t *idx = NULL, *eidx = NULL, n_train = 0, n_eval = 0;
    elm_bert_trainer *t = NULL;
    const bool tty = isatty(fileno(stderr));
    if (!m) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto done;
    }
    if (o.max_len > elm_bert_n_ctx(m)) o.max_len = elm_bert_n_ctx(m);
    const bool tag = !strcmp(o.task, "tag"), qa = !strcmp(o.task, "qa");
    ft_qa_set *qeset = &qheld;
    if (qa && !elm_bert_is_wordpiece(m)) { /* `qa` builds BERT's windows; RoBERTa's "</s></s>" pair is not done */
        snprintf(msg, sizeof msg, "--task qa takes a WordPiece model (BERT, DistilBERT): byte-level BPE (RoBERTa) question "
                                  "answering is not supported yet (classify and tag are)");
        goto done;
    }
    if (qa) { /* questions split (not windows); the training questions' windows are the examples */
        if (!ft_read_squad(o.train, &qtrain, msg, sizeof msg) || (o.eval && !ft_read_squad(o.eval, &qheld, msg, sizeof msg)))
            goto done;
        uint64_t qrng = o.seed;
        int64_t *qidx = malloc((size_t)qtrain.n * sizeof *qidx);
        if (!(eidx = malloc((size_t)(qtrain.n + qheld.n + 1) * sizeof *eidx)) || !qidx) {
            free(qidx);
            goto done;
        }
        for (int64_t i = 0; i < qtrain.n; i++) qidx[i] = i;
        ft_shuffle(qidx, qtrain.n, &qrng);
        int64_t held_q = o.eval ? 0 : (int64_t)ceil(o.eval_split * (double)qtrain.n);
        if (o.eval) {
            for (int64_t i = 0; i < qheld.n; i++) eidx[i] = i;
            n_eval = qheld.n;
        } else {
            memcpy(eidx, qidx, (size_t)held_q * sizeof *eidx);
            n_eval = held_q;
            qeset = &qtrain;
        }
        bool fok = true;
        for (int64_t i = held_q; fok && i < qtrain.n; i++) fok = ft_qa_features(m, &qtrain.v[qidx[i]], &o, &train, msg, sizeof msg);
        free(qidx);
        if (!fok) goto done;
        labels.v = calloc(2, sizeof *labels.v);
        if (!labels.v || !(labels.v[0] = strdup("start")) || !(labels.v[1] = strdup("end"))) goto done;
        labels.n = 2;
    } else if (tag ? !ft_read_conll(o.train, m, o.max_len, &labels, true, NULL, msg, sizeof msg)
            : !ft_read(o.train, m, o.max_len, &labels, true, NULL, msg, sizeof msg))
        goto done;
    if (!qa && labels.n < 2) {
        snprintf(msg, sizeof msg, "%s has fewer than two labels", o.train);
        goto done;
    }
    if (!qa) qsort(labels.v, (size_t)labels.n, sizeof *labels.v, ft_cmp_str);
    if (!qa && (tag ? !ft_read_conll(o.train, m, o.max_len, &labels, false, &train, msg, sizeof msg)
                    : !ft_read(o.train, m, o.max_len, &labels, false, &train, msg, sizeof msg)))
        goto done;
    if (!qa && o.eval && (tag ? !ft_read_conll(o.eval, m, o.max_len, &labels, false, &held, msg, sizeof msg)
                       : !ft_read(o.eval, m, o.max_len, &labels, false, &held, msg, sizeof msg)))
        goto done;
    /* the split: shuffled by the seed; without --eval the first share is held out */
    uint64_t rng = o.seed;
    idx = malloc((size_t)(train.n + 1) * sizeof *idx);
    if (!qa) eidx = malloc((size_t)(train.n + held.n + 1) * sizeof *eidx);
    if (!idx || !eidx) goto done;
    for (int64_t i = 0; i < train.n; i++) idx[i] = i;
    ft_shuffle(idx, train.n, &rng);
    ft_set *eset = &held;
    if (qa) {
        n_train = train.n;
    } else if (o.eval) {
        for (int64_t i = 0; i < held.n; i++) eidx[i] = i;
        n_eval = held.n;
        n_train = train.n;
    } else {
        n_eval = (int64_t)ceil(o.eval_split * (double)train.n);
        memcpy(eidx, idx, (size_t)n_eval * sizeof *eidx);
        memmove(idx, idx + n_eval, (size_t)(train.n - n_eval) * sizeof *idx);
        n_train = train.n - n_eval;
        eset = &train;
    }
    if (n_train < 1) {
        snprintf(msg, sizeof msg, "no training examples left after the held-out split");
        goto done;
    }
    const int64_t steps_per_epoch = (n_train + o.batch - 1) / o.batch, total = steps_per_epoch * o.epochs;
    elm_bert_train_params tp = elm_bert_train_default_params();
    tp.task = tag ? ELM_BERT_TASK_TOKEN : qa ? ELM_BERT_TASK_QA : ELM_BERT_TASK_SEQUENCE;
    tp.lr = o.lr;
    tp.warmup_ratio = o.warmup;
    tp.dropout = o.dropout;
    tp.total_steps = total;
    tp.freeze = o.freeze;
    tp.seed = o.seed;
    tp.n_threads = o.n_threads;
    if (!(t = elm_bert_trainer_new(o.model, labels.n, (const char *const *)labels.v, &tp, &err))) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto done;
    }
    if (qa)
        fprintf(stderr, "finetune: %lld training windows, %lld held-out questions, %lld steps (%d epochs of %lld)\n",
                (long long)n_train, (long long)n_eval, (long long)total, o.epochs, (long long)steps_per_epoch);
    else
        fprintf(stderr, "finetune: %lld training and %lld held-out examples, %d labels, %lld steps (%d epochs of %lld)\n",
                (long long)n_train, (long long)n_eval, labels.n, (long long)total, o.epochs, (long long)steps_per_epoch);
    const int32_t **ids = malloc((size_t)o.batch * sizeof *ids), **ty = malloc((size_t)o.batch * sizeof *ty);
    int32_t *nt = malloc((size_t)o.batch * sizeof *nt), *lab = malloc((size_t)o.batch * (size_t)o.max_len * sizeof *lab);
    bool ok = ids && ty && nt && lab;
    for (int32_t ep = 0; ok && ep < o.epochs; ep++) {
        if (ep > 0) ft_shuffle(idx, n_train, &rng);
        double sum = 0;
        for (int64_t s = 0; ok && s < steps_per_epoch; s++) {
            const int64_t b0 = s * o.batch;
            const int32_t nb = (int32_t)(n_train - b0 < o.batch ? n_train - b0 : o.batch);
            for (int32_t k = 0, off = 0; k < nb; k++) {
                const ft_example *e = &train.v[idx[b0 + k]];
                ids[k] = e->ids, ty[k] = e->types, nt[k] = e->n;
                if (tag) memcpy(lab + off, e->tags, (size_t)e->n * sizeof *lab), off += e->n;
                else if (qa) lab[2 * k] = e->span[0], lab[2 * k + 1] = e->span[1];
                else lab[k] = e->label;
            }
            float loss = 0;
            ok = elm_bert_trainer_step(t, nb, ids, ty, nt, lab, &loss, &err) == ELM_OK;
            sum += loss;
            if (ok && tty)
                fprintf(stderr, "\repoch %d/%d step %lld/%lld loss %.4f   ", ep + 1, o.epochs, (long long)(s + 1),
                        (long long)steps_per_epoch, sum / (double)(s + 1));
        }
        if (!ok) break;
        double acc = 0, em = 0, f1 = 0;
        if (qa) ok = n_eval == 0 || ft_qa_eval(t, m, qeset, eidx, n_eval, &o, &em, &f1, err.msg, sizeof err.msg);
        else ok = (acc = n_eval > 0 ? ft_accuracy(t, eset, eidx, n_eval, o.batch, labels.n, o.max_len, tag, &labels, &f1, &err) : 0) >= 0;
        if (tty) fputc('\r', stderr);
        if (ok) {
            fprintf(stderr, "epoch %d/%d: loss %.4f", ep + 1, o.epochs, sum / (double)steps_per_epoch);
            if (n_eval > 0 && qa)
                fprintf(stderr, ", held-out exact match %.4f, F1 %.4f (%lld questions)", em, f1, (long long)n_eval);
            else if (n_eval > 0 && tag)
                fprintf(stderr, ", held-out token accuracy %.4f, entity F1 %.4f (%lld sentences)", acc, f1, (long long)n_eval);
            else if (n_eval > 0)
                fprintf(stderr, ", held-out accuracy %.4f (%lld examples)", acc, (long long)n_eval);
            fprintf(stderr, "\n");
        }
    }
    free(ids);
    free(ty);
    free(nt);
    free(lab);
    if (!ok) {
        snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : "out of memory");
        goto done;
    }
    if (elm_bert_trainer_save(t, o.save, &err) != ELM_OK) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto done;
    }
    fprintf(stderr, "wrote %s\n", o.save);
    out_guard_report("finetune", o.save, existed);
    rc = 0;
done:
    if (rc) {
        gl_error em = {msg[0] ? ELM_ERR_INVALID : ELM_ERR_NOMEM, {0}};
        snprintf(em.msg, sizeof em.msg, "%.*s", (int)sizeof em.msg - 1, msg[0] ? msg : "out of memory");
        opts_fail_err("finetune", NULL, &em, NULL);
    }
    elm_bert_trainer_free(t);
    ft_set_free(&train);
    ft_set_free(&held);
    ft_qa_free(&qtrain);
    ft_qa_free(&qheld);
    for (int32_t i = 0; i < labels.n; i++) free(labels.v[i]);
    free(labels.v);
    free(idx);
    free(eidx);
    elm_bert_free(m);
    return rc;
}
