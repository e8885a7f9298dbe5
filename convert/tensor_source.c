/*
 * tensor_source.c — one view of a checkpoint's tensors over safetensors and torch zip files,
 * so that every architecture's mapping code reads both (see elm_cv_source in convert.h).
 */
#include "alloc.h"
#include "convert.h"
#include "safetensors.h"
#include "torch_zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct elm_cv_source {
    elm_st *st;              /* safetensors, or */
    elm_tz *tz;              /* a torch zip, with its tensors re-described: */
    elm_st_tensor *tensors;
    void **copies;           /* contiguous copies of strided torch tensors (NULL when not needed) */
    int64_t n;
    uint64_t total;
};

static elm_st_dtype src_st_dtype(elm_tz_dtype d) {
    switch (d) {
    case ELM_TZ_F32: return ELM_ST_F32;
    case ELM_TZ_F16: return ELM_ST_F16;
    case ELM_TZ_BF16: return ELM_ST_BF16;
    default: return ELM_ST_OTHER;
    }
}

/* Describes each torch tensor as a safetensors record (copying strided ones). */
static gl_status src_from_torch(elm_cv_source *s, gl_error *err) {
    int64_t n = elm_tz_n_tensors(s->tz);
    s->tensors = ELM_CALLOC(n ? (size_t)n : 1, sizeof *s->tensors);
    s->copies = ELM_CALLOC(n ? (size_t)n : 1, sizeof *s->copies);
    if (!s->tensors || !s->copies) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    s->n = n; /* copies[] is freed up to n even when a later step fails */
    for (int64_t i = 0; i < n; i++) {
        const elm_tz_tensor *t = elm_tz_at(s->tz, i);
        elm_st_tensor *o = &s->tensors[i];
        o->name = t->name;
        o->dtype = src_st_dtype(t->dtype);
        snprintf(o->dtype_name, sizeof o->dtype_name, "%s", elm_tz_dtype_name(t->dtype));
        o->n_dims = t->n_dims;
        for (int d = 0; d < t->n_dims; d++) o->shape[d] = t->shape[d];
        o->n_elements = t->n_elements;
        o->nbytes = (uint64_t)t->n_elements * elm_tz_dtype_size(t->dtype);
        o->data = t->data;
        if (!t->contiguous) {
            s->copies[i] = ELM_MALLOC(o->nbytes ? (size_t)o->nbytes : 1);
            if (!s->copies[i]) return gl_error_set(err, GL_ERR_NOMEM, "out of memory copying '%.64s'", t->name);
            elm_tz_copy_contiguous(t, s->copies[i]);
            o->data = s->copies[i];
        }
        s->total += o->nbytes;
    }
    s->n = n;
    return GL_OK;
}

static bool src_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* In a folder: safetensors first (what HF writes today), then pytorch_model.bin. */
static bool src_pick_torch(const char *path, char **torch_path) {
    *torch_path = NULL;
    if (!src_is_dir(path)) return elm_cv_ends_with(path, ".bin") || elm_cv_ends_with(path, ".pt") || elm_cv_ends_with(path, ".pth");
    static const char *st_names[] = {"model.safetensors", "model.safetensors.index.json"};
    for (size_t i = 0; i < 2; i++) {
        char *p = elm_cv_path_join(path, st_names[i]);
        bool have = elm_cv_file_exists(p);
        ELM_FREE(p);
        if (have) return false;
    }
    char *p = elm_cv_path_join(path, "pytorch_model.bin");
    if (p && elm_cv_file_exists(p)) {
        *torch_path = p;
        return true;
    }
    ELM_FREE(p);
    return false;
}

elm_cv_source *elm_cv_source_open(const char *path, gl_error *err) {
    elm_cv_source *s = ELM_CALLOC(1, sizeof *s);
    if (!s) {
        gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char *tp = NULL;
    if (src_pick_torch(path, &tp)) {
        s->tz = elm_tz_open(tp ? tp : path, err);
        ELM_FREE(tp);
        if (!s->tz || src_from_torch(s, err) != GL_OK) {
            elm_cv_source_close(s);
            return NULL;
        }
        return s;
    }
    s->st = elm_st_open(path, err);
    if (!s->st) {
        ELM_FREE(s);
        return NULL;
    }
    s->n = elm_st_n_tensors(s->st);
    s->total = elm_st_total_bytes(s->st);
    return s;
}

void elm_cv_source_close(elm_cv_source *s) {
    if (!s) return;
    if (s->copies)
        for (int64_t i = 0; i < s->n; i++) ELM_FREE(s->copies[i]);
    ELM_FREE(s->copies);
    ELM_FREE(s->tensors);
    elm_tz_close(s->tz);
    elm_st_close(s->st);
    ELM_FREE(s);
}

int64_t elm_cv_source_n(const elm_cv_source *s) { return s ? s->n : 0; }

const elm_st_tensor *elm_cv_source_at(const elm_cv_source *s, int64_t i) {
    if (!s || i < 0 || i >= s->n) return NULL;
    return s->st ? elm_st_at(s->st, i) : &s->tensors[i];
}

const elm_st_tensor *elm_cv_source_find(const elm_cv_source *s, const char *name) {
    if (!s) return NULL;
    if (s->st) return elm_st_find(s->st, name);
    for (int64_t i = 0; i < s->n; i++)
        if (!strcmp(s->tensors[i].name, name)) return &s->tensors[i];
    return NULL;
}

const char *elm_cv_source_kind(const elm_cv_source *s) { return s && s->tz ? "torch" : "safetensors"; }

uint64_t elm_cv_source_total_bytes(const elm_cv_source *s) { return s ? s->total : 0; }
