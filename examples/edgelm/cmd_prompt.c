/*
 * edgelm prompt-classify -m M [--template "{} It was [MASK]."] --verbalizer 'pos=great,good;neg=bad'
 *                        (-p TEXT | -f FILE) [-t N]
 *
 * Classification with a masked language model and no training (prompt learning, as in PET /
 * LM-BFF): each text is put where the template has "{}" (in front of the template when it has
 * none), and each label is scored through its verbalizer words at the template's [MASK]:
 *   - a word of k word pieces fills k consecutive masks (the template's [MASK] repeated k
 *     times) and scores the mean over its pieces of log p(piece | its mask position), the
 *     log-softmax over the whole vocabulary (one run per distinct k, batched);
 *   - a label scores the mean of its words' scores; the labels' probabilities are the softmax
 *     of their scores.
 * -p TEXT prints every label: name, probability, score. -f FILE (one text per line) prints one
 * line per text: the best label, its probability, the text.
 */
#include "cli.h"
#include "edgelm.h"
#include "cli_family.h"
#include "gen_opts.h"
#include "opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX_LABELS 64
#define PC_MAX_WORDS 256
#define PC_MAX_PIECES 16

typedef struct pc_word {
    int label;
    int32_t ids[PC_MAX_PIECES];
    int n;
} pc_word;

typedef struct pc_spec {
    char *buf; /* the verbalizer string, cut in place */
    const char *names[PC_MAX_LABELS];
    int n_labels;
    pc_word words[PC_MAX_WORDS];
    int n_words;
} pc_spec;

/* "pos=great,good;neg=bad" -> labels and their words' pieces. Returns false (with a message)
 * on a malformed string or a word that gives no pieces. */
static bool pc_parse(const elm_bert *m, const char *verb, pc_spec *s, char *msg, size_t msz) {
    if (!(s->buf = strdup(verb))) return snprintf(msg, msz, "out of memory"), false;
    for (char *save = NULL, *lab = strtok_r(s->buf, ";", &save); lab; lab = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(lab, '=');
        if (!eq || eq == lab || !eq[1] || s->n_labels == PC_MAX_LABELS)
            return snprintf(msg, msz, "--verbalizer: expected label=word[,word...] (at most %d labels), got '%s'",
                            PC_MAX_LABELS, lab), false;
        *eq = '\0';
        s->names[s->n_labels] = lab;
        for (char *save2 = NULL, *w = strtok_r(eq + 1, ",", &save2); w; w = strtok_r(NULL, ",", &save2)) {
            if (s->n_words == PC_MAX_WORDS) return snprintf(msg, msz, "--verbalizer: more than %d words", PC_MAX_WORDS), false;
            pc_word *pw = &s->words[s->n_words];
            elm_error err = {0};
            /* the word as it follows a space in running text (byte-level BPE: "Ġword") */
            char spaced[256];
            snprintf(spaced, sizeof spaced, " %s", w);
            int64_t n = elm_bert_tokenize(m, spaced, NULL, false, pw->ids, NULL, PC_MAX_PIECES, &err);
            if (n < 1 || n > PC_MAX_PIECES)
                return snprintf(msg, msz, "verbalizer word '%s' gives %lld pieces (1 to %d)", w, (long long)n, PC_MAX_PIECES),
                       false;
            pw->n = (int)n;
            pw->label = s->n_labels;
            s->n_words++;
        }
        s->n_labels++;
    }
    if (s->n_labels < 2) return snprintf(msg, msz, "--verbalizer: give at least two labels"), false;
    return true;
}

/* Puts text where the template has "{}" (or in front of it when it has none). */
static char *pc_fill(const char *tmpl, const char *text) {
    const char *hole = strstr(tmpl, "{}");
    size_t a = hole ? (size_t)(hole - tmpl) : 0, t = strlen(text), r = strlen(tmpl) - (hole ? a + 2 : 0);
    char *out = malloc(a + t + r + 2);
    if (!out) return NULL;
    if (hole) sprintf(out, "%.*s%s%s", (int)a, tmpl, text, hole + 2);
    else sprintf(out, "%s %s", text, tmpl);
    return out;
}

/* Scores the labels for one text into score[] (mean log-probabilities). */
static bool pc_score(elm_bert *m, const pc_spec *s, const char *tmpl, const char *text, double *score, char *msg,
                     size_t msz) {
    const int32_t mask = elm_bert_mask_id(m), V = elm_bert_n_vocab(m);
    int ks[PC_MAX_PIECES + 1] = {0}; /* which piece counts occur */
    for (int w = 0; w < s->n_words; w++) ks[s->words[w].n] = 1;
    int32_t *ids[PC_MAX_PIECES], nt[PC_MAX_PIECES], *pos[PC_MAX_PIECES], npos[PC_MAX_PIECES];
    int kof[PC_MAX_PIECES + 1], nseq = 0;
    bool ok = true;
    char *prompt = pc_fill(tmpl, text);
    elm_error terr = {0};
    int64_t n = prompt ? elm_bert_tokenize(m, prompt, NULL, true, NULL, NULL, 0, &terr) : -1;
    int32_t *base = n > 0 ? malloc((size_t)n * sizeof *base) : NULL;
    int32_t mpos = -1;
    if (base) elm_bert_tokenize(m, prompt, NULL, true, base, NULL, n, &terr);
    for (int64_t i = 0; base && i < n; i++)
        if (base[i] == mask) {
            if (mpos >= 0) ok = false;
            mpos = (int32_t)i;
        }
    free(prompt);
    if (!base || mpos < 0 || !ok) {
        free(base);
        snprintf(msg, msz, base ? "the template must hold exactly one [MASK] (within the model's context)" : "out of memory");
        return false;
    }
    for (int k = 1; k <= PC_MAX_PIECES && ok; k++) { /* one sequence per piece count: k masks */
        if (!ks[k]) continue;
        int32_t len = (int32_t)n + k - 1;
        ids[nseq] = malloc((size_t)len * sizeof **ids);
        pos[nseq] = malloc((size_t)k * sizeof **pos);
        if (!ids[nseq] || !pos[nseq]) {
            free(ids[nseq]);
            free(pos[nseq]);
            ok = false;
            break;
        }
        memcpy(ids[nseq], base, (size_t)mpos * sizeof *base);
        for (int j = 0; j < k; j++) ids[nseq][mpos + j] = mask, pos[nseq][j] = mpos + j;
        memcpy(ids[nseq] + mpos + k, base + mpos + 1, (size_t)(n - mpos - 1) * sizeof *base);
        nt[nseq] = len;
        npos[nseq] = k;
        kof[k] = nseq++;
    }
    free(base);
    elm_error err = {0};
    elm_bert_request rq = {.mlm = true, .mlm_pos = (const int32_t *const *)pos, .n_mlm_pos = npos};
    if (ok && elm_bert_run(m, nseq, (const int32_t *const *)ids, NULL, nt, &rq, &err) != ELM_OK) {
        snprintf(msg, msz, "%s", err.msg);
        ok = false;
    } else if (!ok) {
        snprintf(msg, msz, "out of memory");
    }
    double sum[PC_MAX_LABELS] = {0};
    int cnt[PC_MAX_LABELS] = {0};
    for (int w = 0; ok && w < s->n_words; w++) {
        const pc_word *pw = &s->words[w];
        float *lg = cli_bert_get(m, kof[pw->n], ELM_BERT_OUT_MLM, NULL, &err);
        if (!lg) {
            snprintf(msg, msz, "%s", err.msg);
            ok = false;
            break;
        }
        double lp = 0;
        for (int j = 0; j < pw->n; j++) { /* log-softmax over the vocabulary at mask j */
            const float *row = lg + (size_t)j * (size_t)V;
            double mx = row[0], z = 0;
            for (int32_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int32_t v = 0; v < V; v++) z += exp(row[v] - mx);
            lp += row[pw->ids[j]] - mx - log(z);
        }
        free(lg);
        sum[pw->label] += lp / pw->n;
        cnt[pw->label]++;
    }
    for (int l = 0; ok && l < s->n_labels; l++) score[l] = sum[l] / cnt[l];
    for (int q = 0; q < nseq; q++) {
        free(ids[q]);
        free(pos[q]);
    }
    return ok;
}

static void pc_softmax(const double *score, int n, double *p) {
    double mx = score[0], z = 0;
    for (int l = 1; l < n; l++) mx = score[l] > mx ? score[l] : mx;
    for (int l = 0; l < n; l++) z += p[l] = exp(score[l] - mx);
    for (int l = 0; l < n; l++) p[l] /= z;
}

int cmd_prompt_classify(int argc, char **argv) {
    const char *model = NULL, *tmpl = "{} It was [MASK].", *verb = NULL, *text = NULL, *file = NULL;
    int32_t n_threads = opts_default_threads();
    bool no_repack = false;
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &model, "FILE", "a BERT model with its masked-LM head (GGUF)"),
        OPT_REQ_STR("--verbalizer", &verb, "SPEC", "labels and their words: 'pos=great,good;neg=bad,terrible' (two labels at least)"),
        OPT_STR("-p,--prompt", &text, "TEXT", "one text: print every label (name, probability, score)"),
        OPT_STR("-f,--file", &file, "FILE", "one text per line: print the best label, its probability and the text"),
        OPT_STR("--template", &tmpl, "TEXT", "the prompt, {} the text, one [MASK] (default \"{} It was [MASK].\")"),
        OPT_THREADS(&n_threads),
        OPT_FLAG("--no-repack", &no_repack, "keep Q4_0/Q8_0 matrices in the file's layout"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("prompt-classify", "-m MODEL.gguf --verbalizer 'pos=great,good;neg=bad' (-p TEXT | -f FILE) [options]",
                                "Zero-shot labels by the masked LM: each label is scored by its words at the template's "
                                "[MASK]; a word of k pieces fills k masks and scores its mean log-probability, a label the "
                                "mean over its words; probabilities: softmax over the labels.",
                                defs);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    if (!text == !file)
        return opts_fail("prompt-classify", "give -p TEXT or -f FILE", text ? "-p and -f are alternatives" : "no text");
    elm_error err = {0};
    elm_bert_params bp = elm_bert_default_params();
    bp.n_threads = n_threads;
    bp.no_repack = no_repack;
    bp.n_seq_max = PC_MAX_PIECES; /* one sequence per piece count */
    if (!cli_family_check("prompt-classify", model, CLI_BERT)) return 1;
    elm_bert *m = elm_bert_load(model, &bp, &err);
    if (!m) {
        opts_fail_err("prompt-classify", NULL, &err, NULL);
        return 1;
    }
    int rc = 1;
    char msg[256] = "";
    pc_spec *s = calloc(1, sizeof *s);
    FILE *f = NULL;
    double score[PC_MAX_LABELS], p[PC_MAX_LABELS];
    if (!s) goto done;
    if (!elm_bert_has_mlm(m) || elm_bert_mask_id(m) < 0) {
        snprintf(msg, sizeof msg, "the model has no masked-LM head");
        goto done;
    }
    if (!pc_parse(m, verb, s, msg, sizeof msg)) goto done;
    if (text) {
        if (!pc_score(m, s, tmpl, text, score, msg, sizeof msg)) goto done;
        pc_softmax(score, s->n_labels, p);
        for (int l = 0; l < s->n_labels; l++) printf("%s\t%.4f\t%.4f\n", s->names[l], p[l], score[l]);
    } else {
        if (!(f = fopen(file, "r"))) {
            snprintf(msg, sizeof msg, "cannot open %s", file);
            goto done;
        }
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0]) continue;
            if (!pc_score(m, s, tmpl, line, score, msg, sizeof msg)) goto done;
            pc_softmax(score, s->n_labels, p);
            int best = 0;
            for (int l = 1; l < s->n_labels; l++) best = p[l] > p[best] ? l : best;
            printf("%s\t%.4f\t%s\n", s->names[best], p[best], line);
        }
    }
    rc = 0;
done:
    if (rc) {
        gl_error em = {msg[0] ? ELM_ERR_INVALID : ELM_ERR_NOMEM, {0}};
        snprintf(em.msg, sizeof em.msg, "%.*s", (int)sizeof em.msg - 1, msg[0] ? msg : "out of memory");
        opts_fail_err("prompt-classify", NULL, &em, NULL);
    }
    if (f) fclose(f);
    if (s) free(s->buf);
    free(s);
    elm_bert_free(m);
    return rc;
}
