/*
 * cli_elmo_task.c — ELMo task heads in GGUF (cli_elmo_task.h; the layout: docs/FORMAT.md,
 * "ELMo task heads"): general.architecture "elmo-task", the keys elmo_task.base_model,
 * elmo_task.layer_count, elmo_task.embedding_length, elmo_task.pooling ("mean") and
 * elmo_task.output_labels, and the F32 tensors elmo_task.mix.weight [n_layers] (s: the mix
 * weights are softmax(s)), elmo_task.mix.gamma [1], elmo_task.cls.weight [dim, n_labels] and
 * elmo_task.cls.bias [n_labels].
 */
#include "cli_elmo_task.h"
#include "ggml-lite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool elmo_task_save(const char *path, const char *base, const elm_mix_trainer *t, int32_t n_layers, int32_t dim,
                    const char *const *labels, int32_t n_labels, char *msg, size_t msz) {
    const size_t nw = (size_t)dim * (size_t)n_labels;
    float *s = malloc((size_t)n_layers * sizeof *s), *w = malloc(nw * sizeof *w), *b = malloc((size_t)n_labels * sizeof *b), gamma = 0;
    gl_error ge = {0};
    gl_gguf_writer *wr = s && w && b ? gl_gguf_writer_open(path, &ge) : NULL;
    if (!wr) {
        free(s), free(w), free(b);
        return snprintf(msg, msz, "%s", ge.msg[0] ? ge.msg : "out of memory"), false;
    }
    elm_mix_trainer_params(t, s, w, b);
    elm_mix_trainer_mix(t, NULL, &gamma);
    gl_status st = gl_gguf_w_kv_str(wr, "general.architecture", "elmo-task");
    if (st == GL_OK) st = gl_gguf_w_kv_str(wr, "elmo_task.base_model", base);
    if (st == GL_OK) st = gl_gguf_w_kv_u32(wr, "elmo_task.layer_count", (uint32_t)n_layers);
    if (st == GL_OK) st = gl_gguf_w_kv_u32(wr, "elmo_task.embedding_length", (uint32_t)dim);
    if (st == GL_OK) st = gl_gguf_w_kv_str(wr, "elmo_task.pooling", "mean");
    if (st == GL_OK) st = gl_gguf_w_kv_arr_str(wr, "elmo_task.output_labels", labels, NULL, (uint64_t)n_labels);
    const int64_t ne_s[2] = {n_layers, 1}, ne_g[2] = {1, 1}, ne_w[2] = {dim, n_labels}, ne_b[2] = {n_labels, 1};
    const struct {
        const char *name;
        int n_dims;
        const int64_t *ne;
        const float *data;
        size_t n;
    } tens[4] = {{"elmo_task.mix.weight", 1, ne_s, s, (size_t)n_layers},
                 {"elmo_task.mix.gamma", 1, ne_g, &gamma, 1},
                 {"elmo_task.cls.weight", 2, ne_w, w, nw},
                 {"elmo_task.cls.bias", 1, ne_b, b, (size_t)n_labels}};
    for (int i = 0; st == GL_OK && i < 4; i++) st = gl_gguf_w_tensor_info(wr, tens[i].name, GL_TYPE_F32, tens[i].n_dims, tens[i].ne);
    for (int i = 0; st == GL_OK && i < 4; i++) st = gl_gguf_w_tensor_data(wr, tens[i].data, tens[i].n * sizeof(float));
    if (st != GL_OK) snprintf(msg, msz, "%s", gl_gguf_writer_error(wr));
    gl_error ce = {0};
    gl_status cs = st == GL_OK ? gl_gguf_writer_close(wr, &ce) : (gl_gguf_writer_discard(wr), st);
    if (st == GL_OK && cs != GL_OK) snprintf(msg, msz, "%s", ce.msg);
    free(s);
    free(w);
    free(b);
    return st == GL_OK && cs == GL_OK;
}

void elmo_task_free(elmo_task *t) {
    free(t->s);
    free(t->w);
    free(t->b);
    for (int32_t i = 0; t->labels && i < t->n_labels; i++) free(t->labels[i]);
    free(t->labels);
    free(t->base);
    memset(t, 0, sizeof *t);
}

/* An F32 tensor of exactly n elements copied out, or NULL. */
static float *et_tensor(const gl_gguf *g, const char *name, int64_t n) {
    int64_t i = gl_gguf_find_tensor(g, name);
    const gl_gguf_tensor_info *ti = i >= 0 ? gl_gguf_tensor(g, i) : NULL;
    if (!ti || ti->type != GL_TYPE_F32 || ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3] != n) return NULL;
    float *out = malloc((size_t)n * sizeof *out);
    if (out) memcpy(out, ti->data, (size_t)n * sizeof *out);
    return out;
}

static bool et_u32(const gl_gguf *g, const char *key, int32_t lo, int32_t hi, int32_t *out) {
    int64_t i = gl_gguf_find_key(g, key);
    uint64_t v;
    if (i < 0 || !gl_gguf_get_u64(g, i, &v) || v < (uint64_t)lo || v > (uint64_t)hi) return false;
    *out = (int32_t)v;
    return true;
}

bool elmo_task_load(const char *path, elmo_task *t, char *msg, size_t msz) {
    memset(t, 0, sizeof *t);
    gl_error ge = {0};
    gl_gguf *g = gl_gguf_open(path, &ge);
    if (!g) return snprintf(msg, msz, "%s", ge.msg), false;
    bool ok = false;
    int64_t ka = gl_gguf_find_key(g, "general.architecture"), kl = gl_gguf_find_key(g, "elmo_task.output_labels");
    int64_t kb = gl_gguf_find_key(g, "elmo_task.base_model");
    if (ka < 0 || gl_gguf_kv_type(g, ka) != GL_GGUF_STRING || !gl_str_eq(gl_gguf_get_str(g, ka), "elmo-task")) {
        snprintf(msg, msz, "%s is not an ELMo task head (architecture elmo-task, from `edgelm finetune` on an ELMo model)", path);
        goto done;
    }
    if (!et_u32(g, "elmo_task.layer_count", 1, 64, &t->n_layers) || !et_u32(g, "elmo_task.embedding_length", 1, 1 << 16, &t->dim) ||
        kl < 0 || gl_gguf_kv_type(g, kl) != GL_GGUF_ARRAY || gl_gguf_arr_type(g, kl) != GL_GGUF_STRING ||
        gl_gguf_arr_n(g, kl) < 2 || gl_gguf_arr_n(g, kl) > 4096) {
        snprintf(msg, msz, "%s: elmo_task keys missing or out of range", path);
        goto done;
    }
    t->n_labels = (int32_t)gl_gguf_arr_n(g, kl);
    float *gamma = et_tensor(g, "elmo_task.mix.gamma", 1);
    t->s = et_tensor(g, "elmo_task.mix.weight", t->n_layers);
    t->w = et_tensor(g, "elmo_task.cls.weight", (int64_t)t->dim * t->n_labels);
    t->b = et_tensor(g, "elmo_task.cls.bias", t->n_labels);
    t->labels = calloc((size_t)t->n_labels, sizeof *t->labels);
    if (gamma) t->gamma = *gamma;
    if (!gamma || !t->s || !t->w || !t->b || !t->labels) {
        free(gamma);
        snprintf(msg, msz, "%s: elmo_task tensors missing or of the wrong shape", path);
        goto done;
    }
    free(gamma);
    for (int32_t i = 0; i < t->n_labels; i++) {
        gl_str l = gl_gguf_arr_str(g, kl, (uint64_t)i);
        if (!(t->labels[i] = malloc(l.len + 1))) goto done;
        memcpy(t->labels[i], l.data, l.len);
        t->labels[i][l.len] = '\0';
    }
    if (kb >= 0 && gl_gguf_kv_type(g, kb) == GL_GGUF_STRING) {
        gl_str bs = gl_gguf_get_str(g, kb);
        if ((t->base = malloc(bs.len + 1))) memcpy(t->base, bs.data, bs.len), t->base[bs.len] = '\0';
    }
    ok = true;
done:
    gl_gguf_close(g);
    if (!ok) {
        if (!msg[0]) snprintf(msg, msz, "out of memory");
        elmo_task_free(t);
    }
    return ok;
}

bool elmo_task_probs(const elm_elmo *m, const elmo_task *t, const float *layers, int32_t n, float *probs, char *msg, size_t msz) {
    if (elm_elmo_n_layers(m) != t->n_layers || elm_elmo_dim(m) != t->dim)
        return snprintf(msg, msz, "the head is for %d layers of %d, the model has %d of %d", t->n_layers, t->dim,
                        elm_elmo_n_layers(m), elm_elmo_dim(m)), false;
    if (n < 1) return snprintf(msg, msz, "a sentence without words"), false;
    float *mixed = malloc((size_t)n * (size_t)t->dim * sizeof *mixed);
    double *pooled = calloc((size_t)t->dim, sizeof *pooled);
    elm_error err = {0};
    bool ok = mixed && pooled && elm_elmo_mix(m, layers, n, t->s, t->gamma, mixed, &err) == ELM_OK;
    if (ok) { /* mean over the tokens, then W pooled + b and a softmax */
        for (int32_t k = 0; k < n; k++)
            for (int32_t d = 0; d < t->dim; d++) pooled[d] += mixed[(size_t)k * (size_t)t->dim + (size_t)d];
        double mx = -1e300, z = 0;
        for (int32_t c = 0; c < t->n_labels; c++) {
            double v = t->b[c];
            for (int32_t d = 0; d < t->dim; d++) v += (double)t->w[(size_t)c * (size_t)t->dim + (size_t)d] * (pooled[d] / n);
            probs[c] = (float)v;
            mx = v > mx ? v : mx;
        }
        for (int32_t c = 0; c < t->n_labels; c++) z += exp(probs[c] - mx);
        for (int32_t c = 0; c < t->n_labels; c++) probs[c] = (float)(exp(probs[c] - mx) / z);
    } else {
        snprintf(msg, msz, "%s", err.msg[0] ? err.msg : "out of memory");
    }
    free(mixed);
    free(pooled);
    return ok;
}
