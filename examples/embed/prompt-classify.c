/*
 * prompt-classify — classification with a masked language model and no training: the text is
 * wrapped in a cloze template ("<text> It was [MASK].") and each label is scored by the
 * masked-LM probability of its verbalizer word at the mask (the "prompt learning" use of BERT,
 * as in PET / LM-BFF). Labels are given as label=word pairs.
 *
 *   prompt-classify MODEL.gguf "The food was cold and the waiter rude." \
 *       [--template "{} It was [MASK]."] negative=terrible positive=great
 *
 * Prints each label with its probability among the candidates (softmax over the verbalizer
 * logits). Build: cc -Iinclude examples/embed/prompt-classify.c build/libedgelm.a -lm -lpthread
 */
#include "edgelm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 32

/* Puts text where the template has "{}" (or in front of it when it has none). */
static char *fill_template(const char *tmpl, const char *text) {
    const char *hole = strstr(tmpl, "{}");
    size_t a = hole ? (size_t)(hole - tmpl) : 0, t = strlen(text), r = strlen(tmpl) - (hole ? a + 2 : 0);
    char *out = (char *)malloc(a + t + r + 2);
    if (!out) return NULL;
    if (hole) sprintf(out, "%.*s%s%s", (int)a, tmpl, text, hole + 2);
    else sprintf(out, "%s %s", text, tmpl);
    return out;
}

/* Scores each label's verbalizer word at the mask of prompt; prints them. 0 on success. */
static int classify(elm_bert *m, const char *prompt, int n_labels, const char *const *names,
                    const char *const *words, elm_error *err) {
    int32_t ids[512], n = 0, mask_pos = -1, word_ids[MAX_LABELS];
    if (!elm_bert_has_mlm(m)) {
        fprintf(stderr, "the model has no masked-LM head\n");
        return 1;
    }
    for (int l = 0; l < n_labels; l++)
        if ((word_ids[l] = elm_bert_word_id(m, words[l])) < 0) {
            fprintf(stderr, "verbalizer word '%s' is not a single vocabulary token\n", words[l]);
            return 1;
        }
    int64_t k = elm_bert_tokenize(m, prompt, NULL, true, ids, NULL, 512, err);
    if (k < 0 || k > 512) {
        fprintf(stderr, "%s\n", k < 0 ? err->msg : "text too long");
        return 1;
    }
    n = (int32_t)k;
    for (int32_t i = 0; i < n; i++)
        if (ids[i] == elm_bert_mask_id(m)) mask_pos = i;
    if (mask_pos < 0) {
        fprintf(stderr, "the template has no [MASK] (or it was truncated away)\n");
        return 1;
    }
    /* the vocabulary head runs at the mask position only */
    const int32_t *ip = ids, *pp = &mask_pos;
    int32_t one = 1;
    elm_bert_request rq;
    memset(&rq, 0, sizeof rq); /* every other output off (valid C and C++, whatever fields come) */
    rq.mlm = true;
    rq.mlm_pos = &pp;
    rq.n_mlm_pos = &one;
    if (elm_bert_run(m, 1, &ip, NULL, &n, &rq, err) != ELM_OK) {
        fprintf(stderr, "%s\n", err->msg);
        return 1;
    }
    const float *logits = elm_bert_mlm(m, 0, NULL);
    double mx = -INFINITY, sum = 0, p[MAX_LABELS];
    for (int l = 0; l < n_labels; l++) mx = fmax(mx, logits[word_ids[l]]);
    for (int l = 0; l < n_labels; l++) sum += p[l] = exp(logits[word_ids[l]] - mx);
    printf("prompt: %s\n", prompt);
    for (int l = 0; l < n_labels; l++) printf("%-12s %-12s %.4f\n", names[l], words[l], p[l] / sum);
    return 0;
}

int main(int argc, char **argv) {
    const char *tmpl = "{} It was [MASK].";
    const char *names[MAX_LABELS], *words[MAX_LABELS];
    int n_labels = 0;
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL.gguf TEXT [--template \"{} It was [MASK].\"] label=word label=word ...\n", argv[0]);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--template") && i + 1 < argc) {
            tmpl = argv[++i];
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq || n_labels == MAX_LABELS) {
            fprintf(stderr, "%s: expected label=word, got '%s'\n", argv[0], argv[i]);
            return 2;
        }
        *eq = '\0';
        names[n_labels] = argv[i];
        words[n_labels++] = eq + 1;
    }
    elm_error err = {ELM_OK, ""};
    elm_bert *m = elm_bert_load(argv[1], NULL, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    char *prompt = fill_template(tmpl, argv[2]);
    int rc = prompt ? classify(m, prompt, n_labels, names, words, &err) : 1;
    if (!prompt) fprintf(stderr, "out of memory\n");
    free(prompt);
    elm_bert_free(m);
    return rc;
}
