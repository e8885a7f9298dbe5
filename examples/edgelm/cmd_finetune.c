/*
 * edgelm finetune -m BERT.gguf --task classify -f TRAIN.tsv --save OUT.gguf [options]
 * edgelm finetune -m BERT.gguf --task tag -f TRAIN.conll --save OUT.gguf [options]
 *
 * --task tag: CoNLL-style files, one `word ... label` line per token (the first column is the
 * word, the last its label), a blank line between sentences, -DOCSTART- lines skipped; each
 * word's label goes on its first word piece (the others are not scored); the held-out figure
 * is the accuracy over labelled tokens; the saved model runs in `edgelm tag`.
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
} ft_example;

typedef struct ft_set {
    ft_example *v;
    int64_t n, cap;
} ft_set;

typedef struct ft_opts {
    const char *model, *task, *train, *eval, *save;
    float lr, eval_split, warmup, dropout;
    int32_t epochs, batch, max_len, freeze, n_threads;
    uint64_t seed;
} ft_opts;

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

static const char *const ft_tasks[] = {"classify", "tag", NULL};

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
    int task = -1;
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &o->model, "FILE", "the BERT-family model to start from (GGUF)"),
        {.names = "--task", .kind = OPTK_ENUM, .dst = &task, .choices = ft_tasks, .flags = OPT_REQUIRED,
         .help = "classify: TRAIN has one example per line, text, a tab and the label (or text, text_b, label); tag: TRAIN is "
                 "CoNLL-style (word ... label per line, blank line between sentences), the saved model runs in `edgelm tag`"},
        OPT_REQ_STR("-f,--file,--train", &o->train, "TRAIN", "the training examples"),
        OPT_REQ_STR("--save,-o", &o->save, "OUT.gguf", "where the fine-tuned model goes"),
        OPT_STR("--eval", &o->eval, "FILE", "held-out examples (default: --eval-split of TRAIN)"),
        OPT_FLOAT_OPEN("--lr", &o->lr, 0, 1, "X", "peak learning rate (default 2e-5), linear decay to 0"),
        OPT_FLOAT("--warmup", &o->warmup, 0, 1, "X", "share of the steps with a linear warm-up (default 0)"),
        OPT_INT("--epochs", &o->epochs, 1, 100000, "N", "passes over TRAIN (default 3)"),
        OPT_INT("--batch", &o->batch, 1, 4096, "N", "examples per step (default 16)"),
        OPT_INT("--max-len", &o->max_len, 2, 1 << 16, "N", "tokens per example, longer ones truncated (default 128)"),
        OPT_U64("--seed", &o->seed, "S", "shuffling, dropout, new head weights (default 42)"),
        OPT_INT("--freeze", &o->freeze, 0, 1 << 16, "N", "keep the embeddings and the first N layers (default 0: train all)"),
        OPT_FLOAT("--dropout", &o->dropout, 0, 0.95, "X", "dropout probability (default 0.1)"),
        OPT_FLOAT("--eval-split", &o->eval_split, 0, 0.9, "X", "share held out when there is no --eval (default 0.1)"),
        OPT_THREADS(&o->n_threads),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("finetune", "-m BERT.gguf --task classify|tag -f TRAIN --save OUT.gguf [options]",
                                "Fine-tunes a BERT-family model on the device (AdamW, linear decay, gradient clipping at "
                                "norm 1); each epoch reports the mean loss and the held-out accuracy. The result is the "
                                "same for a seed whatever the thread count.",
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

/* Pass 1 (collect = true): the label names. Pass 2: the examples, tokenized. */
static bool ft_read(const char *path, const elm_bert *m, int32_t max_len, ft_labels *labels, bool collect, ft_set *out,
                    char *msg, size_t msz) {
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(msg, msz, "cannot open %s", path), false;
    char line[16384];
    int64_t ln = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        ln++;
        if (line[0] == '\n' || line[0] == '\0') continue;
        char *a, *b, *lab;
        if (!ft_split(line, &a, &b, &lab)) {
            ok = false;
            snprintf(msg, msz, "%s:%lld: expected text<TAB>label or text<TAB>text_b<TAB>label", path, (long long)ln);
            break;
        }
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
            snprintf(msg, msz, "%s:%lld: label '%s' is not one of the training labels", path, (long long)ln, lab);
            break;
        }
        if (out->n == out->cap) {
            int64_t cap = out->cap ? out->cap * 2 : 256;
            ft_example *nv = realloc(out->v, (size_t)cap * sizeof *nv);
            if (!nv) {
                ok = false;
                snprintf(msg, msz, "out of memory");
                break;
            }
            out->v = nv;
            out->cap = cap;
        }
        ft_example *e = &out->v[out->n];
        memset(e, 0, sizeof *e);
        const int32_t cap = elm_bert_n_ctx(m); /* the tokenizer truncates to the context itself */
        e->ids = malloc((size_t)cap * sizeof *e->ids);
        e->types = malloc((size_t)cap * sizeof *e->types);
        elm_error err = {0};
        int64_t n = e->ids && e->types ? elm_bert_tokenize(m, a, b, true, e->ids, e->types, cap, &err) : -1;
        if (n < 1) {
            free(e->ids);
            free(e->types);
            ok = false;
            snprintf(msg, msz, "%s:%lld: %s", path, (long long)ln, err.msg[0] ? err.msg : "out of memory");
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
    fclose(f);
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
    if (out->n == out->cap) {
        int64_t cap = out->cap ? out->cap * 2 : 256;
        ft_example *nv = realloc(out->v, (size_t)cap * sizeof *nv);
        if (!nv) return snprintf(msg, msz, "out of memory"), false;
        out->v = nv;
        out->cap = cap;
    }
    ft_example *e = &out->v[out->n];
    memset(e, 0, sizeof *e);
    e->ids = malloc((size_t)max_len * sizeof *e->ids);
    e->types = calloc((size_t)max_len, sizeof *e->types);
    e->tags = malloc((size_t)max_len * sizeof *e->tags);
    if (!e->ids || !e->types || !e->tags) {
        free(e->ids), free(e->types), free(e->tags);
        return snprintf(msg, msz, "out of memory"), false;
    }
    int32_t k = 0;
    e->ids[k] = sp[0], e->tags[k++] = -1;
    for (int w = 0; w < n_words && k < max_len - 1; w++) {
        int32_t pieces[64];
        int64_t np = elm_bert_tokenize(m, words[w], NULL, false, pieces, NULL, 64, &err);
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

/* Runs examples idx[0..n) in batches; returns the accuracy (argmax == label; --task tag: over
 * the labelled tokens). */
static double ft_accuracy(elm_bert_trainer *t, const ft_set *s, const int64_t *idx, int64_t n, int32_t batch, int32_t n_labels,
                          int32_t max_len, bool tag, elm_error *err) {
    int64_t right = 0, total = 0;
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
            for (int32_t i = 0; i < (tag ? e->n : 1); i++, row++) {
                const int32_t want = tag ? e->tags[i] : e->label;
                if (want < 0) continue;
                int32_t best = 0;
                for (int32_t c = 1; c < n_labels; c++)
                    if (lg[row * n_labels + c] > lg[row * n_labels + best]) best = c;
                right += best == want;
                total++;
            }
        }
    }
    free(lg);
    free(ids);
    free(ty);
    free(nt);
    return n < 0 ? -1.0 : total > 0 ? (double)right / (double)total : 0.0;
}

int cmd_finetune(int argc, char **argv) {
    ft_opts o;
    int r = ft_parse(&o, argc, argv);
    if (r) return r == 1 ? 0 : r;
    elm_error err = {0};
    char msg[512] = "";
    int rc = 1;
    if (!cli_family_check("finetune", o.model, CLI_BERT)) return 1;
    const bool existed = out_guard_add(o.save, false); /* written atomically: out_guard.h */
    elm_bert *m = elm_bert_load(o.model, NULL, &err);
    ft_labels labels = {0};
    ft_set train = {0}, held = {0};
    int64_t *idx = NULL, *eidx = NULL, n_train = 0, n_eval = 0;
    elm_bert_trainer *t = NULL;
    const bool tty = isatty(fileno(stderr));
    if (!m) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto done;
    }
    if (o.max_len > elm_bert_n_ctx(m)) o.max_len = elm_bert_n_ctx(m);
    const bool tag = !strcmp(o.task, "tag");
    if (tag ? !ft_read_conll(o.train, m, o.max_len, &labels, true, NULL, msg, sizeof msg)
            : !ft_read(o.train, m, o.max_len, &labels, true, NULL, msg, sizeof msg))
        goto done;
    if (labels.n < 2) {
        snprintf(msg, sizeof msg, "%s has fewer than two labels", o.train);
        goto done;
    }
    qsort(labels.v, (size_t)labels.n, sizeof *labels.v, ft_cmp_str);
    if (tag ? !ft_read_conll(o.train, m, o.max_len, &labels, false, &train, msg, sizeof msg)
            : !ft_read(o.train, m, o.max_len, &labels, false, &train, msg, sizeof msg))
        goto done;
    if (o.eval && (tag ? !ft_read_conll(o.eval, m, o.max_len, &labels, false, &held, msg, sizeof msg)
                       : !ft_read(o.eval, m, o.max_len, &labels, false, &held, msg, sizeof msg)))
        goto done;
    /* the split: shuffled by the seed; without --eval the first share is held out */
    uint64_t rng = o.seed;
    idx = malloc((size_t)(train.n + 1) * sizeof *idx);
    eidx = malloc((size_t)(train.n + held.n + 1) * sizeof *eidx);
    if (!idx || !eidx) goto done;
    for (int64_t i = 0; i < train.n; i++) idx[i] = i;
    ft_shuffle(idx, train.n, &rng);
    ft_set *eset = &held;
    if (o.eval) {
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
    tp.task = tag ? ELM_BERT_TASK_TOKEN : ELM_BERT_TASK_SEQUENCE;
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
        double acc = n_eval > 0 ? ft_accuracy(t, eset, eidx, n_eval, o.batch, labels.n, o.max_len, tag, &err) : 0;
        ok = acc >= 0;
        if (tty) fputc('\r', stderr);
        if (ok) {
            fprintf(stderr, "epoch %d/%d: loss %.4f", ep + 1, o.epochs, sum / (double)steps_per_epoch);
            if (n_eval > 0)
                fprintf(stderr, ", held-out %saccuracy %.4f (%lld examples)", tag ? "token " : "", acc, (long long)n_eval);
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
    for (int32_t i = 0; i < labels.n; i++) free(labels.v[i]);
    free(labels.v);
    free(idx);
    free(eidx);
    elm_bert_free(m);
    return rc;
}
