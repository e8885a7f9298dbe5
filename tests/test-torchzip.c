/* torch zip reader: a torch.save'd state dict (tests/data/torch/, made by
 * scripts/make_torch_zip_tests.py) read tensor by tensor against PyTorch's own description
 * (expected.txt); the restricted unpickler refuses other globals; every truncation and many
 * corruptions fail cleanly (run under ASan too); the tensor source reads both file kinds. */
#include "convert.h"
#include "torch_zip.h"
#include "tf.h"

#include <stdlib.h>
#include <string.h>

#define DATA_DIR "tests/data/torch/"

static double elem_f64(const elm_tz_tensor *t, const uint8_t *p) {
    switch (t->dtype) {
    case ELM_TZ_F32: { float v; memcpy(&v, p, 4); return v; }
    case ELM_TZ_F16: { uint16_t h; memcpy(&h, p, 2); return gl_fp16_to_fp32(h); }
    case ELM_TZ_BF16: { uint16_t h; memcpy(&h, p, 2); return gl_bf16_to_fp32(h); }
    case ELM_TZ_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    default: return 0;
    }
}

static const char *torch_dtype(elm_tz_dtype d) {
    switch (d) {
    case ELM_TZ_F32: return "float32";
    case ELM_TZ_F16: return "float16";
    case ELM_TZ_BF16: return "bfloat16";
    case ELM_TZ_I64: return "int64";
    default: return "?";
    }
}

static void join(char *out, size_t size, const int64_t *v, int n) {
    out[0] = '\0';
    if (n == 0) snprintf(out, size, "-");
    for (int i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s%lld", i ? "," : "", (long long)v[i]);
    }
}

TF_TEST(small_state_dict_matches_pytorch) {
    gl_error err = {0};
    elm_tz *tz = elm_tz_open(DATA_DIR "small.pt", &err);
    TF_CHECK(tz != NULL, "%s", err.msg);
    if (!tz) return;
    FILE *f = fopen(DATA_DIR "expected.txt", "r");
    TF_CHECK(f != NULL);
    if (!f) { elm_tz_close(tz); return; }
    char name[64], dtype[16], shape[64], strides[64];
    long long off;
    double sum;
    int64_t n = 0;
    while (fscanf(f, "%63s %15s %63s %63s %lld %lf", name, dtype, shape, strides, &off, &sum) == 6) {
        const elm_tz_tensor *t = elm_tz_find(tz, name);
        TF_CHECK(t != NULL, "%s missing", name);
        if (!t) continue;
        TF_CHECK(t == elm_tz_at(tz, n), "%s out of pickle order", name);
        n++;
        char buf[64];
        TF_CHECK(!strcmp(torch_dtype(t->dtype), dtype), "%s: %s vs %s", name, torch_dtype(t->dtype), dtype);
        join(buf, sizeof buf, t->shape, t->n_dims);
        TF_CHECK(!strcmp(buf, shape), "%s shape %s vs %s", name, buf, shape);
        join(buf, sizeof buf, t->strides, t->n_dims);
        TF_CHECK(!strcmp(buf, strides), "%s strides %s vs %s", name, buf, strides);
        TF_CHECK(t->storage_offset == off, "%s offset", name);
        /* walk the elements through the strides, and through a contiguous copy */
        size_t es = elm_tz_dtype_size(t->dtype);
        uint8_t *c = malloc((size_t)t->n_elements * es + 1);
        elm_tz_copy_contiguous(t, c);
        double s = 0;
        for (int64_t k = 0; k < t->n_elements; k++) s += elem_f64(t, c + k * es);
        TF_NEAR(s, sum, 1e-6);
        free(c);
    }
    fclose(f);
    TF_CHECK(n == 8 && elm_tz_n_tensors(tz) == 8, "%lld tensors", (long long)elm_tz_n_tensors(tz));
    const elm_tz_tensor *a = elm_tz_find(tz, "a.f32"), *at = elm_tz_find(tz, "a.t");
    TF_CHECK(a && at && a->contiguous && !at->contiguous && a->data == at->data, "view shares storage");
    elm_tz_close(tz);
}

TF_TEST(refuses_other_globals) {
    gl_error err = {0};
    elm_tz *tz = elm_tz_open(DATA_DIR "evil.pt", &err);
    TF_CHECK(tz == NULL);
    TF_CHECK(strstr(err.msg, "system") && strstr(err.msg, "not allowed"), "%s", err.msg);
    elm_tz_close(tz);
}

TF_TEST(truncations_and_corruptions_fail_cleanly) {
    size_t n = 0;
    uint8_t *b = (uint8_t *)tf_read_file(DATA_DIR "small.pt", &n);
    TF_CHECK(b != NULL);
    if (!b) return;
    gl_error err = {0};
    for (size_t cut = 0; cut < n; cut += 7) {
        elm_tz *tz = elm_tz_open_buffer(b, cut, &err);
        TF_CHECK(tz == NULL, "truncated at %zu accepted", cut);
        elm_tz_close(tz);
    }
    /* every byte flipped in turn: either an error or tensors that stay inside the buffer */
    uint8_t *c = malloc(n);
    int opened = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(c, b, n);
        c[i] ^= 0x5a;
        elm_tz *tz = elm_tz_open_buffer(c, n, &err);
        if (!tz) {
            TF_CHECK(err.msg[0] != '\0');
            continue;
        }
        opened++;
        for (int64_t k = 0; k < elm_tz_n_tensors(tz); k++) {
            const elm_tz_tensor *t = elm_tz_at(tz, k);
            const uint8_t *p = t->data;
            TF_CHECK(t->n_elements == 0 || (p >= c && p < c + n), "tensor %s outside the buffer", t->name);
        }
        elm_tz_close(tz);
    }
    TF_CHECK(opened > 0); /* flips inside tensor data leave the file valid */
    free(c);
    TF_CHECK(elm_tz_open_buffer(NULL, 0, &err) == NULL);
    free(b);
}

TF_TEST(tensor_source_reads_torch_and_safetensors) {
    gl_error err = {0};
    elm_cv_source *s = elm_cv_source_open(DATA_DIR "small.pt", &err);
    TF_CHECK(s != NULL, "%s", err.msg);
    if (s) {
        TF_CHECK(!strcmp(elm_cv_source_kind(s), "torch"));
        const elm_st_tensor *t = elm_cv_source_find(s, "a.t");
        TF_CHECK(t && t->dtype == ELM_ST_F32 && t->n_dims == 2 && t->shape[0] == 4 && t->shape[1] == 3);
        float v[12];
        if (t && elm_st_read_f32(t, 0, 12, v, &err) == GL_OK) {
            /* a.t[i][j] = base[j][i] = (4j + i) / 8 */
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) TF_NEAR(v[i * 3 + j], (4 * j + i) / 8.0, 0);
        } else {
            TF_CHECK(false, "%s", err.msg);
        }
        t = elm_cv_source_find(s, "d.i64");
        TF_CHECK(t && t->dtype == ELM_ST_OTHER && !strcmp(t->dtype_name, "I64"));
        TF_CHECK(elm_st_read_f32(t, 0, 1, v, &err) != GL_OK);
        elm_cv_source_close(s);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/hf-tiny-caikit/BertForSequenceClassification", tf_fixtures_dir());
    s = elm_cv_source_open(path, &err);
    if (!s) {
        tf_skip_fixture("fixture %s: %s", path, err.msg);
        return;
    }
    TF_CHECK(!strcmp(elm_cv_source_kind(s), "torch"));
    TF_CHECK(elm_cv_source_n(s) == 90, "%lld", (long long)elm_cv_source_n(s));
    const elm_st_tensor *w = elm_cv_source_find(s, "bert.embeddings.word_embeddings.weight");
    TF_CHECK(w && w->n_dims == 2 && w->shape[0] == 1124 && w->shape[1] == 32);
    elm_cv_source_close(s);
    snprintf(path, sizeof path, "%s/hf-tiny-lm-buddy/bert_tiniest", tf_fixtures_dir());
    s = elm_cv_source_open(path, &err);
    TF_CHECK(s && !strcmp(elm_cv_source_kind(s), "safetensors"), "%s", err.msg);
    elm_cv_source_close(s);
}

TF_MAIN
