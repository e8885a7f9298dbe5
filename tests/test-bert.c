/* BERT: converter + runtime against Hugging Face's outputs (hf-reference/bert: every hidden
 * state, MLM logits, pooled output and NSP logits within 1e-4), the slow BertTokenizer's ids
 * (tokenizer_ref.json, exact), llama.cpp's bert-bge tokenizer cases (exact, in both vocabulary
 * spellings), a pytorch_model.bin classifier and a safetensors MLM against our PyTorch
 * reference (tests/data/bert, scripts/bert_reference.py), and padded batches against one
 * sequence at a time. Fixtures missing → skipped. */
#include "convert.h"
#include "edgelm.h"
#include "json.h"
#include "tf.h"
#include "tf-npy.h"
#include "tf-models.h"
#include "vocab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA_DIR "tests/data/bert/"

/* Result `what` of sequence s of m's last run, copied by elm_bert_get into one of 8 buffers
 * reused in turn (NULL when the run did not compute it); *n (may be NULL): its floats. */
static const float *bres(const elm_bert *m, int32_t s, elm_bert_output what, int64_t *n) {
    static float *slot[8];
    static int64_t cap[8];
    static int next;
    elm_error err = {0};
    const int64_t k = elm_bert_get(m, s, what, NULL, 0, &err);
    if (k < 0) return NULL;
    const int i = next++ % 8;
    if (k + 1 > cap[i]) {
        free(slot[i]);
        cap[i] = 0;
        if (!(slot[i] = malloc((size_t)(k + 1) * sizeof(float)))) return NULL;
        cap[i] = k + 1;
    }
    if (elm_bert_get(m, s, what, slot[i], cap[i], &err) != k) return NULL;
    if (n) *n = k;
    return slot[i];
}

/* The values of a .npy file as doubles (NULL when it cannot be read), their count in *n. */
static double *npy_load(const char *path, int64_t *n) {
    tf_npy a;
    *n = 0;
    if (!tf_npy_read(path, &a)) return NULL;
    *n = a.count;
    return a.data;
}

static bool convert(const char *src, const char *out, int outtype, bool vocab_only) {
    gl_error err = {0};
    gl_status s = tfm_convert(src, out, outtype, vocab_only, NULL, &err);
    TF_CHECK(s == GL_OK, "convert %s: %s", src, err.msg);
    return s == GL_OK;
}

/* max |a - ref| over n values */
static double max_diff(const float *a, const double *ref, int64_t n) {
    double w = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= w)) w = d; /* NaN wins */
    }
    return w;
}

static elm_bert *hf_reference_model(int outtype, const char *name) {
    const char *src = tf_fixture("hf-reference/bert");
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", src);
    if (!tf_file_exists(cfg)) {
        tf_skip_fixture("no fixture %s", src);
        return NULL;
    }
    if (!convert(src, tf_tmp_path(name), outtype, false)) return NULL;
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path(name), NULL, &err);
    TF_CHECK(m != NULL, "%s", err.msg);
    return m;
}

TF_TEST(hf_reference_every_output_within_1e4) {
    elm_bert *m = hf_reference_model(-1, "ref.gguf");
    if (!m) return;
    TF_CHECK(elm_bert_has_mlm(m) && elm_bert_has_nsp(m) && elm_bert_has_pooler(m));
    const int E = elm_bert_n_embd(m), V = elm_bert_n_vocab(m);
    for (int c = 0; c < 4; c++) {
        char p[600];
        int64_t n = 0, k;
        snprintf(p, sizeof p, "%s/case%d_input_ids.npy", tf_fixture("hf-reference/bert/refs"), c);
        double *idd = npy_load(p, &n);
        TF_CHECK(idd != NULL, "%s", p);
        if (!idd) continue;
        int32_t ids[256];
        for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)idd[i];
        free(idd);
        const int32_t *idp = ids;
        int32_t nt = (int32_t)n;
        elm_bert_request rq = {.all_hidden = true, .pooled = true, .nsp = true, .mlm = true};
        elm_error err = {0};
        TF_CHECK(elm_bert_run(m, 1, &idp, NULL, &nt, &rq, &err) == ELM_OK, "%s", err.msg);
        const float *h = bres(m, 0, ELM_BERT_OUT_HIDDEN, NULL);
        for (int l = 0; l <= elm_bert_n_layer(m) && h; l++) {
            snprintf(p, sizeof p, "%s/case%d_hidden_%d.npy", tf_fixture("hf-reference/bert/refs"), c, l);
            double *r = npy_load(p, &k);
            TF_CHECK(r && k == n * E);
            if (r) TF_CHECK(max_diff(h + (size_t)l * n * E, r, k) <= 1e-4, "case %d hidden %d: %g", c, l, max_diff(h + (size_t)l * n * E, r, k));
            free(r);
        }
        static const char *names[] = {"logits", "pooler_output", "seq_relationship_logits"};
        int64_t n_mlm = 0;
        const float *got[3] = {bres(m, 0, ELM_BERT_OUT_MLM, &n_mlm), bres(m, 0, ELM_BERT_OUT_POOLED, NULL),
                               bres(m, 0, ELM_BERT_OUT_NSP, NULL)};
        int64_t want[3] = {n * V, E, 2};
        TF_CHECK(n_mlm == n * V);
        for (int j = 0; j < 3; j++) {
            snprintf(p, sizeof p, "%s/case%d_%s.npy", tf_fixture("hf-reference/bert/refs"), c, names[j]);
            double *r = npy_load(p, &k);
            TF_CHECK(r && k == want[j] && got[j]);
            if (r && got[j]) TF_CHECK(max_diff(got[j], r, k) <= 1e-4, "case %d %s: %g", c, names[j], max_diff(got[j], r, k));
            free(r);
        }
    }
    elm_bert_free(m);
}

TF_TEST(hf_reference_tokenizer_exact) {
    elm_bert *m = hf_reference_model(-1, "ref-tok.gguf");
    if (!m) return;
    gl_error ge = {0};
    elm_json_doc *d = elm_json_parse_file(tf_fixture("hf-reference/bert/tokenizer_ref.json"), &ge);
    TF_CHECK(d != NULL, "%s", ge.msg);
    const elm_json *cases = elm_json_get(elm_json_root(d), "cases");
    int n_ok = 0;
    for (size_t i = 0; i < elm_json_count(cases); i++) {
        const elm_json *c = elm_json_at(cases, i), *want = elm_json_get(c, "ids");
        int32_t ids[512];
        elm_error err = {0};
        int64_t n = elm_bert_tokenize(m, elm_json_get_str(c, "text"), NULL, true, ids, NULL, 512, &err);
        bool same = n == (int64_t)elm_json_count(want);
        for (int64_t k = 0; same && k < n; k++) {
            int64_t w;
            same = elm_json_int(elm_json_at(want, (size_t)k), &w) && w == ids[k];
        }
        TF_CHECK(same, "case %zu (%s): %lld ids", i, elm_json_get_str(c, "text"), (long long)n);
        n_ok += same;
    }
    TF_CHECK(n_ok == 16, "%d of 16", n_ok);
    elm_json_free(d);
    elm_bert_free(m);
}

/* The bert-bge cases: .inp strings separated by "\n__ggml_vocab_test__\n", .out id lines. */
static int bge_cases(const elm_vocab *v, int *total) {
    FILE *fi = fopen(tf_fixture("llama-cpp-tokenizer-tests/ggml-vocab-bert-bge.gguf.inp"), "rb");
    FILE *fo = fopen(tf_fixture("llama-cpp-tokenizer-tests/ggml-vocab-bert-bge.gguf.out"), "rb");
    static char inp[1 << 16];
    size_t n = fi ? fread(inp, 1, sizeof inp - 1, fi) : 0;
    inp[n] = '\0';
    const char *sep = "\n__ggml_vocab_test__\n";
    int ok = 0;
    *total = 0;
    char line[1 << 14];
    for (char *p = inp; fi && fo && *p;) {
        char *e = strstr(p, sep);
        if (!e) break;
        if (!fgets(line, sizeof line, fo)) break;
        int32_t want[4096], got[4096];
        int nw = 0;
        for (char *q = line; *q && nw < 4096;) {
            if (*q >= '0' && *q <= '9') want[nw++] = (int32_t)strtol(q, &q, 10);
            else q++;
        }
        gl_error err = {0};
        int64_t ng = elm_tokenize(v, p, (size_t)(e - p), got, 4096, false, false, &err);
        bool same = ng == nw;
        for (int k = 0; same && k < nw; k++) same = got[k] == want[k];
        TF_CHECK(same, "bge case %d (%.*s): %lld ids, want %d", *total, (int)(e - p > 40 ? 40 : e - p), p, (long long)ng, nw);
        ok += same;
        (*total)++;
        p = e + strlen(sep);
    }
    if (fi) fclose(fi);
    if (fo) fclose(fo);
    return ok;
}

TF_TEST(llama_cpp_bert_bge_cases_both_spellings) {
    const char *src = tf_fixture("hf-tiny-lm-buddy/bert_tiniest");
    if (!tf_file_exists(tf_fixture("llama-cpp-tokenizer-tests/ggml-vocab-bert-bge.gguf.inp")) ||
        !tf_file_exists(tf_fixture("hf-tiny-lm-buddy/bert_tiniest/vocab.txt"))) {
        tf_skip_fixture("fixtures missing");
        return;
    }
    /* phantom spelling: through the converter's GGUF */
    if (!convert(src, tf_tmp_path("bge-vocab.gguf"), -1, true)) return;
    gl_error err = {0};
    gl_gguf *g = gl_gguf_open(tf_tmp_path("bge-vocab.gguf"), &err);
    elm_vocab *v = g ? elm_vocab_load(g, &err) : NULL;
    TF_CHECK(v != NULL, "%s", err.msg);
    int total = 0;
    if (v) {
        int ok = bge_cases(v, &total);
        TF_CHECK(ok == total && total == 46, "phantom spelling: %d of %d", ok, total);
        TF_CHECK(elm_vocab_cls(v) == 101 && elm_vocab_sep(v) == 102 && elm_vocab_mask(v) == 103 && elm_vocab_unk(v) == 100);
    }
    elm_vocab_free(v);
    gl_gguf_close(g);
    /* Hugging Face spelling: vocab.txt as it is */
    FILE *f = fopen(tf_fixture("hf-tiny-lm-buddy/bert_tiniest/vocab.txt"), "rb");
    static char buf[1 << 19];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    static gl_str toks[40000];
    static int32_t types[40000];
    int32_t nt = 0;
    for (size_t i = 0, s = 0; i < n && nt < 40000; i++)
        if (buf[i] == '\n') {
            toks[nt] = (gl_str){buf + s, i - s};
            types[nt] = toks[nt].len > 2 && buf[s] == '[' && buf[i - 1] == ']' && (i - s) <= 6 ? ELM_TOKEN_CONTROL : ELM_TOKEN_NORMAL;
            nt++;
            s = i + 1;
        }
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_WPM;
    d.n_tokens = nt;
    d.tokens = toks;
    d.types = types;
    v = elm_vocab_new(&d, &err);
    TF_CHECK(v != NULL, "%s", err.msg);
    if (v) {
        int ok = bge_cases(v, &total);
        TF_CHECK(ok == total && total == 46, "HF spelling: %d of %d", ok, total);
        /* words over 100 characters are [UNK]; 100 are not */
        char word[102];
        memset(word, 'a', sizeof word);
        int32_t ids[64];
        TF_CHECK(elm_tokenize(v, word, 101, ids, 64, false, false, &err) == 1 && ids[0] == elm_vocab_unk(v));
        TF_CHECK(elm_tokenize(v, word, 100, ids, 64, false, false, &err) > 1);
        /* special tokens kept whole with parse_special; [CLS] … [SEP] with add_special */
        int64_t k = elm_tokenize(v, "Paris is the [MASK].", 20, ids, 64, true, true, &err);
        TF_CHECK(k == 7 && ids[0] == 101 && ids[4] == 103 && ids[6] == 102, "%lld", (long long)k);
    }
    elm_vocab_free(v);
}

/* Our PyTorch reference (tests/data/bert) for a converted folder. */
static void check_reference(const char *model, const char *src, int n_cases, double tol, int outtype) {
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", src);
    if (!tf_file_exists(cfg)) {
        tf_skip_fixture("no fixture %s", src);
        return;
    }
    char out[64];
    snprintf(out, sizeof out, "%s-%d.gguf", model, outtype);
    if (!convert(src, tf_tmp_path(out), outtype, false)) return;
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path(out), NULL, &err);
    TF_CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    const int E = elm_bert_n_embd(m);
    for (int c = 0; c < n_cases; c++) {
        char p[256];
        int64_t n, k;
        snprintf(p, sizeof p, DATA_DIR "%s_case%d_ids.npy", model, c);
        double *di = npy_load(p, &n);
        snprintf(p, sizeof p, DATA_DIR "%s_case%d_types.npy", model, c);
        double *dt = npy_load(p, &k);
        TF_CHECK(di && dt && k == n, "%s", p);
        if (!di || !dt) { free(di); free(dt); continue; }
        int32_t ids[64], types[64];
        for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)di[i], types[i] = (int32_t)dt[i];
        free(di);
        free(dt);
        const int32_t *ip = ids, *tp = types;
        int32_t nt = (int32_t)n, pos = 2, npos = 1;
        const int32_t *pp = &pos;
        bool pooled = elm_bert_has_pooler(m);
        bool tokcls = elm_bert_has_token_classifier(m);
        elm_bert_request rq = {.pooled = pooled, .classify = elm_bert_n_labels(m) > 0 && !tokcls, .mlm = elm_bert_has_mlm(m),
                               .mlm_pos = &pp, .n_mlm_pos = &npos, .token_classify = tokcls, .qa = elm_bert_has_qa(m)};
        TF_CHECK(elm_bert_run(m, 1, &ip, &tp, &nt, &rq, &err) == ELM_OK, "%s", err.msg);
        struct { const char *name; const float *got; int64_t n; } outs[] = {
            {"last", bres(m, 0, ELM_BERT_OUT_LAST, NULL), n * E},
            {"pooled", bres(m, 0, ELM_BERT_OUT_POOLED, NULL), E},
            {"classes", bres(m, 0, ELM_BERT_OUT_CLASSES, NULL), elm_bert_n_labels(m)},
            {"mlm", bres(m, 0, ELM_BERT_OUT_MLM, NULL), elm_bert_n_vocab(m)},
            {"tokens", bres(m, 0, ELM_BERT_OUT_TOKEN_LOGITS, NULL), n * elm_bert_n_labels(m)},
            {"qa", bres(m, 0, ELM_BERT_OUT_QA, NULL), n * 2},
        };
        for (size_t j = 0; j < sizeof outs / sizeof outs[0]; j++) {
            snprintf(p, sizeof p, DATA_DIR "%s_case%d_%s.npy", model, c, outs[j].name);
            if (!tf_file_exists(p)) {
                TF_CHECK(outs[j].got == NULL || j == 0, "%s: %s computed without reference", model, outs[j].name);
                continue;
            }
            double *r = npy_load(p, &k);
            TF_CHECK(r && outs[j].got && k == outs[j].n, "%s %s", model, outs[j].name);
            if (r && outs[j].got && k == outs[j].n)
                TF_CHECK(max_diff(outs[j].got, r, k) <= tol, "%s case %d %s: %g > %g", model, c, outs[j].name,
                         max_diff(outs[j].got, r, k), tol);
            free(r);
        }
    }
    elm_bert_free(m);
}

TF_TEST(caikit_classifier_from_pytorch_model_bin) {
    check_reference("caikit", tf_fixture("hf-tiny-caikit/BertForSequenceClassification"), 2, 1e-4, -1);
}

TF_TEST(tiniest_mlm_from_safetensors) {
    check_reference("tiniest", tf_fixture("hf-tiny-lm-buddy/bert_tiniest"), 2, 1e-4, -1);
}

TF_TEST(token_classifier_and_qa_heads) {
    /* tests/data/bert/tiny-tokcls (BertForTokenClassification, safetensors, id2label) and
     * tiny-qa (BertForQuestionAnswering, pytorch_model.bin): scripts/bert_heads_reference.py */
    check_reference("tokcls", DATA_DIR "tiny-tokcls", 2, 1e-4, -1);
    check_reference("qa", DATA_DIR "tiny-qa", 2, 1e-4, -1);
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path("tokcls--1.gguf"), NULL, &err);
    TF_CHECK(m && elm_bert_has_token_classifier(m) && !elm_bert_has_qa(m) && elm_bert_n_labels(m) == 7 &&
             !strcmp(elm_bert_label(m, 1), "B-PER") && !strcmp(elm_bert_label(m, 6), "I-ORG"), "%s", err.msg);
    /* the cased vocabulary's NFC entry reached with an NFD-written umlaut */
    int32_t ids[16];
    TF_CHECK(m && elm_bert_tokenize(m, "Zu\xcc\x88rich", NULL, false, ids, NULL, 16, &err) == 1 && ids[0] == 30);
    elm_bert_request rq = {.qa = true};
    const int32_t one[1] = {2}, *ip = one;
    int32_t n1 = 1;
    TF_CHECK(m && elm_bert_run(m, 1, &ip, NULL, &n1, &rq, &err) == ELM_ERR_UNSUPPORTED);
    elm_bert_free(m);
    m = elm_bert_load(tf_tmp_path("qa--1.gguf"), NULL, &err);
    TF_CHECK(m && elm_bert_has_qa(m) && !elm_bert_has_token_classifier(m) && elm_bert_n_labels(m) == 0, "%s", err.msg);
    elm_bert_free(m);
}

/* Log lines of a conversion, joined. */
static void capture_log(void *user, const char *msg) {
    char *buf = user;
    size_t n = strlen(buf);
    snprintf(buf + n, 4096 - n, "%s\n", msg);
}

static gl_status convert_logged(const char *src, bool strict, bool no_heads, char *log, gl_error *err) {
    elm_convert_params p;
    p = elm_convert_default_params();
    p.src = src;
    p.out = tf_tmp_path("honesty.gguf");
    p.strict = strict;
    p.no_heads = no_heads;
    p.log = capture_log;
    p.user = log;
    log[0] = '\0';
    return elm_convert(&p, NULL, err);
}

TF_TEST(converter_names_every_dropped_tensor) {
    /* tiny-extra: the token classifier plus one tensor nothing maps and a position_ids buffer */
    char log[4096];
    gl_error err = {0};
    TF_CHECK(convert_logged(DATA_DIR "tiny-extra", false, false, log, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(strstr(log, "warning: bert.encoder.layer.1.adapter.weight [4, 8] is not converted") != NULL, "%s", log);
    TF_CHECK(strstr(log, "position_ids") == NULL && strstr(log, "1 source tensor dropped") != NULL, "%s", log);
    TF_CHECK(convert_logged(DATA_DIR "tiny-extra", true, false, log, &err) == GL_ERR_UNSUPPORTED &&
             strstr(err.msg, "--strict") && strstr(err.msg, "adapter.weight"), "%s", err.msg);
    /* every tensor of the head checkpoints is mapped: --strict accepts them, silently */
    TF_CHECK(convert_logged(DATA_DIR "tiny-qa", true, false, log, &err) == GL_OK && !strstr(log, "warning"), "%s %s", err.msg, log);
    TF_CHECK(convert_logged(DATA_DIR "tiny-tokcls", true, false, log, &err) == GL_OK && !strstr(log, "warning"), "%s", log);
    /* --no-heads: the heads are named as left out on request, never refused */
    TF_CHECK(convert_logged(DATA_DIR "tiny-qa", true, true, log, &err) == GL_OK && strstr(log, "note: qa_outputs.weight") &&
             !strstr(log, "warning"), "%s %s", err.msg, log);
}

TF_TEST(distilbert_and_roberta_logits) {
    /* scripts/bert_variants_reference.py: DistilBertFor{SequenceClassification (safetensors),
     * QuestionAnswering (pytorch_model.bin)}, RobertaFor{SequenceClassification,
     * TokenClassification}: last hidden state, pooled (pre_classifier + ReLU / classifier.dense
     * + tanh), class, QA and token logits within 1e-4 */
    check_reference("distilcls", DATA_DIR "tiny-distil-cls", 2, 1e-4, -1);
    check_reference("distilqa", DATA_DIR "tiny-distil-qa", 2, 1e-4, -1);
    check_reference("robertacls", DATA_DIR "tiny-roberta-cls", 2, 1e-4, -1);
    check_reference("robertatok", DATA_DIR "tiny-roberta-tok", 2, 1e-4, -1);
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path("robertacls--1.gguf"), NULL, &err);
    TF_CHECK(m && elm_bert_n_ctx(m) == 32 && elm_bert_n_labels(m) == 2 && !strcmp(elm_bert_label(m, 1), "POSITIVE") &&
             !elm_bert_has_nsp(m), "%s", err.msg);
    /* pairs as RobertaTokenizer builds them: <s> a </s></s> b </s>, every type 0 */
    int32_t ids[32], types[32];
    TF_CHECK(m && elm_bert_tokenize(m, "x", "x", true, ids, types, 32, &err) == 6 && ids[0] == 0 && ids[1] == 124 &&
             ids[2] == 2 && ids[3] == 2 && ids[4] == 124 && ids[5] == 2 && types[4] == 0 && types[5] == 0);
    elm_bert_free(m);
    m = elm_bert_load(tf_tmp_path("distilcls--1.gguf"), NULL, &err);
    /* no token type embeddings: type 1 is refused */
    const int32_t two[2] = {2, 3}, ty[2] = {0, 1}, *ip = two, *tp = ty;
    int32_t n2 = 2;
    TF_CHECK(m && elm_bert_run(m, 1, &ip, &tp, &n2, NULL, &err) == ELM_ERR_INVALID);
    elm_bert_free(m);
}

#include "data/bert/variant_tokens.h"

static void check_variant_tokens(const char *gguf, const variant_tok_case *cases, size_t n_cases) {
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path(gguf), NULL, &err);
    TF_CHECK(m != NULL, "%s: %s", gguf, err.msg);
    for (size_t i = 0; m && i < n_cases; i++) {
        int32_t ids[64];
        int64_t n = elm_bert_tokenize(m, cases[i].text, NULL, false, ids, NULL, 64, &err);
        bool ok = n == cases[i].n;
        for (int64_t k = 0; ok && k < n; k++) ok = ids[k] == cases[i].ids[k];
        TF_CHECK(ok, "%s case %zu (%s): %lld ids, want %d", gguf, i, cases[i].text, (long long)n, cases[i].n);
    }
    elm_bert_free(m);
}

TF_TEST(distilbert_wordpiece_and_roberta_bpe_ids) {
    /* ids of the slow tokenizers' algorithms (scripts/bert_variants_reference.py) on tricky
     * strings: spaces, contractions, numbers, NFC/NFD accents, tabs, emoji, CJK, upper-case
     * accents, <mask> with lstrip, compatibility singletons (Ohm, Angstrom signs) */
    if (!tf_file_exists(tf_tmp_path("distilcls--1.gguf")) || !tf_file_exists(tf_tmp_path("robertacls--1.gguf")))
        TF_CHECK(convert(DATA_DIR "tiny-distil-cls", tf_tmp_path("distilcls--1.gguf"), -1, false) &&
                 convert(DATA_DIR "tiny-roberta-cls", tf_tmp_path("robertacls--1.gguf"), -1, false));
    check_variant_tokens("distilcls--1.gguf", distil_tok_cases, sizeof distil_tok_cases / sizeof distil_tok_cases[0]);
    check_variant_tokens("robertacls--1.gguf", roberta_tok_cases, sizeof roberta_tok_cases / sizeof roberta_tok_cases[0]);
}

TF_TEST(bertmodel_without_prefix_and_gamma_beta_names) {
    /* tests/data/bert/tiny-bertmodel: a BertModel state dict (no "bert." prefix, pooler, old
     * LayerNorm gamma/beta names in layer 0) in pytorch_model.bin */
    check_reference("tinymodel", DATA_DIR "tiny-bertmodel", 2, 1e-4, -1);
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path("tinymodel--1.gguf"), NULL, &err);
    if (!m) return;
    int32_t ids[16], types[16];
    TF_CHECK(elm_bert_tokenize(m, "The cats sat.", "A dog!", true, ids, types, 16, &err) == 11);
    static const int32_t want[] = {2, 5, 6, 10, 7, 11, 3, 12, 13, 23, 3};
    static const int32_t want_t[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    TF_CHECK(!memcmp(ids, want, sizeof want) && !memcmp(types, want_t, sizeof want_t));
    char text[32];
    TF_CHECK(elm_bert_token_text(m, 10, text, sizeof text) == 1 && !strcmp(text, "s"));
    TF_CHECK(elm_bert_word_id(m, "cat") == 6 && elm_bert_word_id(m, "cats") == -1);
    /* truncation to the 16 positions: the longer part gives way first */
    char longer[256] = "";
    for (int i = 0; i < 20; i++) strcat(longer, "red ");
    int64_t n = elm_bert_tokenize(m, longer, "a dog", true, ids, types, 16, &err);
    TF_CHECK(n == 16 && ids[15] == 3 && ids[14] == 13 && ids[13] == 12 && ids[12] == 3, "%lld", (long long)n);
    elm_bert_free(m);
}

TF_TEST(quantized_types_stay_close) {
    /* hf-reference at F16 / Q8_0: same outputs within a loose tolerance (weights rounded) */
    static const int types[] = {GL_TYPE_F16, GL_TYPE_Q8_0};
    elm_bert *ref = hf_reference_model(-1, "q-ref.gguf");
    if (!ref) return;
    int32_t ids[] = {101, 475, 158, 192, 180, 174, 182, 143, 103, 102};
    const int32_t *ip = ids;
    int32_t n = 10;
    elm_bert_request rq = {.pooled = true, .nsp = true};
    elm_error err = {0};
    TF_CHECK(elm_bert_run(ref, 1, &ip, NULL, &n, &rq, &err) == ELM_OK, "%s", err.msg);
    const int E = elm_bert_n_embd(ref);
    double want[64];
    for (int i = 0; i < E; i++) want[i] = bres(ref, 0, ELM_BERT_OUT_POOLED, NULL)[i];
    for (size_t t = 0; t < 2; t++) {
        char name[32];
        snprintf(name, sizeof name, "q-%d.gguf", types[t]);
        elm_bert *m = hf_reference_model(types[t], name);
        if (!m) continue;
        TF_CHECK(elm_bert_run(m, 1, &ip, NULL, &n, &rq, &err) == ELM_OK, "%s", err.msg);
        double d = max_diff(bres(m, 0, ELM_BERT_OUT_POOLED, NULL), want, E);
        TF_CHECK(d < (types[t] == GL_TYPE_F16 ? 2e-3 : 3e-2), "%s: pooled differs by %g", gl_type_name(types[t]), d);
        elm_bert_free(m);
    }
    elm_bert_free(ref);
}

/* Q8_0 / Q4_0 matrices repacked at load (the default) give the same hidden states, bit for
 * bit, as the file's row layout (no_repack): the interleaved kernels compute the same block
 * sums in the same order. */
TF_TEST(repacked_equals_row_layout) {
    static const int types[] = {GL_TYPE_Q8_0, GL_TYPE_Q4_0};
    const char *src = tf_fixture("hf-reference/bert");
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", src);
    if (!tf_file_exists(cfg)) {
        tf_skip_fixture("no fixture %s", src);
        return;
    }
    int32_t ids[] = {101, 475, 158, 192, 180, 174, 182, 143, 103, 102, 166, 151, 102};
    const int32_t *ip = ids;
    int32_t n = 13;
    elm_bert_request rq = {.all_hidden = true, .pooled = true};
    for (size_t t = 0; t < 2; t++) {
        char name[32];
        snprintf(name, sizeof name, "rp-%d.gguf", types[t]);
        if (!convert(src, tf_tmp_path(name), types[t], false)) continue;
        elm_bert *m[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            elm_bert_params p = elm_bert_default_params();
            p.no_repack = k == 1;
            elm_error err = {0};
            m[k] = elm_bert_load(tf_tmp_path(name), &p, &err);
            TF_CHECK(m[k] != NULL, "%s", err.msg);
            if (m[k]) TF_CHECK(elm_bert_run(m[k], 1, &ip, NULL, &n, &rq, &err) == ELM_OK, "%s", err.msg);
        }
        if (m[0] && m[1]) {
            TF_CHECK(elm_bert_repacked_bytes(m[1]) == 0, "no_repack still repacked");
            printf("    %s: %lld bytes repacked at load%s\n", gl_type_name(types[t]),
                   (long long)elm_bert_repacked_bytes(m[0]),
                   elm_bert_repacked_bytes(m[0]) ? "" : " (this build has no X8 kernel for the type)");
            const size_t bytes = (size_t)(elm_bert_n_layer(m[0]) + 1) * (size_t)n * (size_t)elm_bert_n_embd(m[0]) * sizeof(float);
            TF_CHECK(bres(m[0], 0, ELM_BERT_OUT_HIDDEN, NULL) && bres(m[1], 0, ELM_BERT_OUT_HIDDEN, NULL) &&
                         !memcmp(bres(m[0], 0, ELM_BERT_OUT_HIDDEN, NULL), bres(m[1], 0, ELM_BERT_OUT_HIDDEN, NULL), bytes),
                     "%s: repacked and row-layout hidden states differ", gl_type_name(types[t]));
            TF_CHECK(!memcmp(bres(m[0], 0, ELM_BERT_OUT_POOLED, NULL), bres(m[1], 0, ELM_BERT_OUT_POOLED, NULL), (size_t)elm_bert_n_embd(m[0]) * sizeof(float)),
                     "%s: pooled outputs differ", gl_type_name(types[t]));
        }
        elm_bert_free(m[0]);
        elm_bert_free(m[1]);
    }
}

/* Basic-tokenizer rules on a hand-made vocabulary: casing, accents, cleaning, CJK, punctuation. */
static int64_t wpm(int lower, const char *text, int32_t *ids) {
    static const char *words[] = {"[UNK]", "[CLS]", "[SEP]", "Hello", "hello", "caf\xc3\xa9", "cafe", "##s", "!",
                                  "\xe6\x9d\xb1", "\xe4\xba\xac", "a", "##b", "$"};
    gl_str toks[14];
    for (int i = 0; i < 14; i++) toks[i] = (gl_str){words[i], strlen(words[i])};
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);
    d.kind = ELM_VOCAB_WPM;
    d.n_tokens = 14;
    d.tokens = toks;
    d.wpm_lower = lower;
    gl_error err = {0};
    elm_vocab *v = elm_vocab_new(&d, &err);
    if (!v) return -1;
    int64_t n = elm_tokenize(v, text, strlen(text), ids, 16, false, false, &err);
    elm_vocab_free(v);
    return n;
}

TF_TEST(basic_tokenizer_rules) {
    int32_t ids[16];
    /* cased: no lower-casing, accents kept */
    TF_CHECK(wpm(0, "Hello caf\xc3\xa9s!", ids) == 4 && ids[0] == 3 && ids[1] == 5 && ids[2] == 7 && ids[3] == 8);
    /* uncased: lower-case, then NFD and drop Mn (É -> e) */
    TF_CHECK(wpm(1, "HELLO CAF\xc3\x89S!", ids) == 4 && ids[0] == 4 && ids[1] == 6 && ids[2] == 7 && ids[3] == 8);
    /* control characters dropped, tabs/newlines/NBSP are spaces, U+FFFD dropped */
    TF_CHECK(wpm(1, "he\x01" "llo\t\xc2\xa0" "a\xef\xbf\xbd", ids) == 2 && ids[0] == 4 && ids[1] == 11);
    /* CJK characters are words of their own even without spaces; '$' is punctuation for BERT */
    TF_CHECK(wpm(1, "a\xe6\x9d\xb1\xe4\xba\xac" "$ab", ids) == 6 && ids[0] == 11 && ids[1] == 9 && ids[2] == 10 &&
             ids[3] == 13 && ids[4] == 11 && ids[5] == 12);
    /* a word with an unmatched rest is one [UNK] */
    TF_CHECK(wpm(1, "abz hello", ids) == 2 && ids[0] == 0 && ids[1] == 4);
    /* NFC first (BasicTokenizer): an accent typed as a combining mark (NFD "cafe\u0301s")
     * finds the precomposed vocabulary entry in a cased model instead of [UNK]... */
    TF_CHECK(wpm(0, "Hello cafe\xcc\x81s!", ids) == 4 && ids[0] == 3 && ids[1] == 5 && ids[2] == 7 && ids[3] == 8);
    /* ...and in an uncased one both spellings lose the accent alike */
    TF_CHECK(wpm(1, "CAFE\xcc\x81S cafe\xcc\x81", ids) == 3 && ids[0] == 6 && ids[1] == 7 && ids[2] == 6);
    /* U+212B ANGSTROM SIGN is NFC U+00C5: the same piece as the letter */
    int32_t a1[16], a2[16];
    int64_t n1 = wpm(0, "\xe2\x84\xab", a1), n2 = wpm(0, "\xc3\x85", a2);
    TF_CHECK(n1 == 1 && n2 == 1 && a1[0] == a2[0]);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TF_TEST(sentence_transformers_pooling_recorded) {
    const char *src = tf_fixture("hf-reference/bert");
    static const char *files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                                  "special_tokens_map.json"};
    char path[600], dir[300];
    snprintf(path, sizeof path, "%s/config.json", src);
    if (!tf_file_exists(path)) {
        tf_skip_fixture("no fixture %s", src);
        return;
    }
    snprintf(dir, sizeof dir, "%s", tf_tmp_path("st"));
    mkdir(dir, 0700);
    for (size_t i = 0; i < 5; i++) {
        char from[600], to[600];
        snprintf(from, sizeof from, "%s/%s", src, files[i]);
        if (from[0] != '/') {
            char cwd[256];
            if (!getcwd(cwd, sizeof cwd)) return;
            snprintf(from, sizeof from, "%s/%s/%s", cwd, src, files[i]);
        }
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        TF_CHECK(symlink(from, to) == 0);
    }
    snprintf(path, sizeof path, "%s/modules.json", dir);
    write_file(path, "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                     " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
                     " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}]");
    snprintf(path, sizeof path, "%s/1_Pooling", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
    write_file(path, "{\"word_embedding_dimension\": 64, \"pooling_mode_cls_token\": false, \"pooling_mode_mean_tokens\": true}");
    if (!convert(dir, tf_tmp_path("st.gguf"), -1, false)) return;
    elm_error err = {0};
    elm_bert *m = elm_bert_load(tf_tmp_path("st.gguf"), NULL, &err);
    TF_CHECK(m && elm_bert_pooling_type(m) == ELM_BERT_POOL_MEAN && elm_bert_normalize(m), "%s", err.msg);
    elm_bert_free(m);
    /* two pooling modes at once are refused */
    write_file(path, "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true}");
    elm_convert_params p;
    p = elm_convert_default_params();
    p.src = dir;
    p.out = tf_tmp_path("st2.gguf");
    gl_error ge = {0};
    TF_CHECK(elm_convert(&p, NULL, &ge) == GL_ERR_UNSUPPORTED, "%s", ge.msg);
    /* max pooling is refused with the way to get it; lasttoken is llama.cpp's pooling_type 3
     * and elm_bert_embedding's LAST is the last token's row */
    write_file(path, "{\"pooling_mode_max_tokens\": true}");
    TF_CHECK(elm_convert(&p, NULL, &ge) == GL_ERR_UNSUPPORTED && strstr(ge.msg, "--pooling max"), "%s", ge.msg);
    write_file(path, "{\"pooling_mode_lasttoken\": true}");
    TF_CHECK(elm_convert(&p, NULL, &ge) == GL_OK, "%s", ge.msg);
    elm_bert *ml = elm_bert_load(p.out, NULL, &err);
    TF_CHECK(ml && elm_bert_pooling_type(ml) == ELM_BERT_POOL_LAST, "%s", err.msg);
    int32_t ids[8], types[8];
    int64_t k = ml ? elm_bert_tokenize(ml, "hello world", NULL, true, ids, types, 8, &err) : -1;
    TF_CHECK(k > 1 && k <= 8, "%s", err.msg);
    if (ml && k > 1 && k <= 8) {
        const int32_t *ip = ids, *tp = types, nk = (int32_t)k;
        TF_CHECK(elm_bert_run(ml, 1, &ip, &tp, &nk, NULL, &err) == ELM_OK, "%s", err.msg);
        float e[64];
        const int32_t E = elm_bert_n_embd(ml);
        TF_CHECK(E == 64 && elm_bert_embedding(ml, 0, ELM_BERT_POOL_LAST, false, e, &err) == ELM_OK, "%s", err.msg);
        TF_CHECK(E == 64 && memcmp(e, bres(ml, 0, ELM_BERT_OUT_LAST, NULL) + (k - 1) * E, sizeof e) == 0);
    }
    elm_bert_free(ml);
}

TF_TEST(padded_batch_equals_one_at_a_time) {
    elm_bert *m = hf_reference_model(-1, "batch.gguf");
    if (!m) return;
    static const char *a[] = {"the quick brown fox", "Hello world!", "Attention heads share keys and values in the runtime cache."};
    static const char *b[] = {"jumps over the lazy dog", NULL, "a"};
    int32_t ids[3][128], types[3][128], n[3];
    elm_error err = {0};
    for (int s = 0; s < 3; s++) {
        int64_t k = elm_bert_tokenize(m, a[s], b[s], true, ids[s], types[s], 128, &err);
        TF_CHECK(k > 0 && k <= 128, "%s", err.msg);
        n[s] = (int32_t)k;
    }
    TF_CHECK(types[0][n[0] - 1] == 1 && types[0][0] == 0, "pair token types");
    const int E = elm_bert_n_embd(m), V = elm_bert_n_vocab(m);
    float *single_last[3], single_pool[3][64], single_nsp[3][2], single_mlm[3][1000];
    int32_t pos[3] = {1, 2, 3}, npos[3] = {1, 1, 1};
    for (int s = 0; s < 3; s++) {
        const int32_t *ip = ids[s], *tp = types[s], *pp = &pos[s];
        elm_bert_request rq = {.pooled = true, .nsp = true, .mlm = true, .mlm_pos = &pp, .n_mlm_pos = &npos[s]};
        TF_CHECK(elm_bert_run(m, 1, &ip, &tp, &n[s], &rq, &err) == ELM_OK, "%s", err.msg);
        single_last[s] = malloc((size_t)n[s] * E * sizeof(float));
        memcpy(single_last[s], bres(m, 0, ELM_BERT_OUT_LAST, NULL), (size_t)n[s] * E * sizeof(float));
        memcpy(single_pool[s], bres(m, 0, ELM_BERT_OUT_POOLED, NULL), (size_t)E * sizeof(float));
        memcpy(single_nsp[s], bres(m, 0, ELM_BERT_OUT_NSP, NULL), 2 * sizeof(float));
        memcpy(single_mlm[s], bres(m, 0, ELM_BERT_OUT_MLM, NULL), (size_t)V * sizeof(float));
    }
    const int32_t *ip[3] = {ids[0], ids[1], ids[2]}, *tp[3] = {types[0], types[1], types[2]};
    const int32_t *pp[3] = {&pos[0], &pos[1], &pos[2]};
    elm_bert_request rq = {.pooled = true, .nsp = true, .mlm = true, .mlm_pos = pp, .n_mlm_pos = npos};
    /* the single-sequence context refuses a batch of 3; contexts for 3 over one shared model,
     * on 1 and 2 threads, run it */
    TF_CHECK(elm_bert_run(m, 3, ip, tp, n, &rq, &err) == ELM_ERR_INVALID && strstr(err.msg, "n_seq_max"), "%s", err.msg);
    elm_bert_free(m);
    m = NULL;
    elm_bert_model *model = elm_bert_model_load(tf_tmp_path("batch.gguf"), NULL, &err);
    TF_CHECK(model != NULL, "%s", err.msg);
    for (int threads = 1; model && threads <= 2; threads++) {
        elm_bert_free(m);
        elm_bert_params bp = elm_bert_default_params();
        bp.n_threads = threads;
        bp.n_seq_max = 3;
        bp.n_ctx = 64;
        m = elm_bert_new(model, &bp, &err);
        TF_CHECK(m && elm_bert_n_ctx(m) == 64 && elm_bert_n_seq_max(m) == 3, "%s", err.msg);
        if (!m) break;
        TF_CHECK(elm_bert_run(m, 3, ip, tp, n, &rq, &err) == ELM_OK, "%s", err.msg);
        for (int s = 0; s < 3; s++) {
            double d = 0;
            for (int64_t i = 0; i < (int64_t)n[s] * E; i++) d = fmax(d, fabs(bres(m, s, ELM_BERT_OUT_LAST, NULL)[i] - single_last[s][i]));
            for (int i = 0; i < E; i++) d = fmax(d, fabs(bres(m, s, ELM_BERT_OUT_POOLED, NULL)[i] - single_pool[s][i]));
            for (int i = 0; i < 2; i++) d = fmax(d, fabs(bres(m, s, ELM_BERT_OUT_NSP, NULL)[i] - single_nsp[s][i]));
            for (int i = 0; i < V; i++) d = fmax(d, fabs(bres(m, s, ELM_BERT_OUT_MLM, NULL)[i] - single_mlm[s][i]));
            TF_CHECK(d <= 1e-5, "sequence %d (%d threads): batch differs from single by %g", s, threads, d);
        }
    }
    for (int s = 0; s < 3; s++) free(single_last[s]);
    /* embeddings: mean pooling normalised has unit length */
    float e[64];
    TF_CHECK(m && elm_bert_embedding(m, 0, ELM_BERT_POOL_MEAN, true, e, &err) == ELM_OK);
    double ss = 0;
    for (int i = 0; i < E; i++) ss += (double)e[i] * e[i];
    TF_NEAR(ss, 1.0, 1e-5);
    /* bad input is refused */
    int32_t bad = 5000, one = 1;
    const int32_t *bp = &bad;
    TF_CHECK(elm_bert_run(m, 1, &bp, NULL, &one, NULL, &err) == ELM_ERR_INVALID);
    /* a sequence longer than the context's n_ctx is refused, as is a result not asked for,
     * a result of a sequence the run did not have, and a buffer too small */
    int32_t long_ids[65] = {0};
    int32_t n65 = 65;
    const int32_t *lp = long_ids;
    TF_CHECK(m && elm_bert_run(m, 1, &lp, NULL, &n65, NULL, &err) == ELM_ERR_INVALID && strstr(err.msg, "1 to 64"), "%s", err.msg);
    const int32_t *ip0 = ids[0];
    TF_CHECK(m && elm_bert_run(m, 1, &ip0, NULL, &n[0], NULL, &err) == ELM_OK, "%s", err.msg);
    float small[4];
    TF_CHECK(elm_bert_get(m, 0, ELM_BERT_OUT_LAST, NULL, 0, &err) == (int64_t)n[0] * E);
    TF_CHECK(elm_bert_get(m, 0, ELM_BERT_OUT_POOLED, NULL, 0, &err) == ELM_ERR_INVALID && strstr(err.msg, "pooled"), "%s", err.msg);
    TF_CHECK(elm_bert_get(m, 1, ELM_BERT_OUT_LAST, NULL, 0, &err) == ELM_ERR_INVALID);
    TF_CHECK(elm_bert_get(m, 0, ELM_BERT_OUT_LAST, small, 4, &err) == ELM_ERR_INVALID && strstr(err.msg, "holds 4"), "%s", err.msg);
    /* n_ctx beyond the model's context and too many sequences are refused at creation */
    elm_bert_params big = elm_bert_default_params();
    big.n_ctx = 1 << 20;
    TF_CHECK(model && !elm_bert_new(model, &big, &err) && strstr(err.msg, "n_ctx"), "%s", err.msg);
    big = elm_bert_default_params();
    big.n_seq_max = 5000;
    TF_CHECK(model && !elm_bert_new(model, &big, &err) && strstr(err.msg, "n_seq_max"), "%s", err.msg);
    elm_bert_free(m);
    elm_bert_model_free(model);
}

TF_MAIN
