/*
 * common.c — error helpers, weight loading and the graph runner shared by the model families
 * (decoder, BERT, ELMo, T5). See common.h.
 */
#include "common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

elm_status elm_err_set(elm_error *err, elm_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* elm_status mirrors gl_status value for value (edgelm.h), so the code carries over as is. */
elm_status elm_err_from_gl(elm_error *err, const gl_error *gerr) {
    return elm_err_set(err, (elm_status)gerr->code, "%s", gerr->msg);
}

/* ------------------------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------------------------- */

void elm_load_fail(elm_loader *ld, elm_status code, const char *fmt, ...) {
    ld->failed = true;
    if (!ld->err) return;
    char msg[sizeof ld->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    elm_err_set(ld->err, code, "%s%s", ld->who ? ld->who : "", msg);
}

int32_t elm_load_int(elm_loader *ld, const char *key, int64_t lo, int64_t hi, int64_t def) {
    if (ld->failed) return 0;
    int64_t i = gl_gguf_find_key(ld->gguf, key), v;
    if (i < 0) {
        if (def >= lo) return (int32_t)def;
        elm_load_fail(ld, ELM_ERR_FORMAT, "model file lacks the required key %s", key);
        return 0;
    }
    if (!gl_gguf_get_i64(ld->gguf, i, &v)) {
        elm_load_fail(ld, ELM_ERR_FORMAT, "key %s is not an integer (type %s)", key,
                      gl_gguf_type_name(gl_gguf_kv_type(ld->gguf, i)));
        return 0;
    }
    if (v < lo || v > hi) {
        elm_load_fail(ld, ELM_ERR_FORMAT, "key %s = %lld is outside [%lld, %lld]", key,
                      (long long)v, (long long)lo, (long long)hi);
        return 0;
    }
    return (int32_t)v;
}

int32_t elm_load_rows(elm_loader *ld, const char *name, int64_t max) {
    if (ld->failed) return 0;
    int64_t i = gl_gguf_find_tensor(ld->gguf, name);
    if (i < 0) {
        elm_load_fail(ld, ELM_ERR_FORMAT, "model file lacks the tensor %s", name);
        return 0;
    }
    const int64_t rows = gl_gguf_tensor(ld->gguf, i)->ne[1];
    if (rows < 1 || rows > max) {
        elm_load_fail(ld, ELM_ERR_FORMAT, "%s has %lld rows", name, (long long)rows);
        return 0;
    }
    return (int32_t)rows;
}

static bool load_vector_type_ok(const elm_loader *ld, gl_type type) {
    return type == GL_TYPE_F32 || type == GL_TYPE_F16 || (ld->vec_bf16 && type == GL_TYPE_BF16);
}

gl_tensor *elm_load_tensor(elm_loader *ld, bool required, int64_t ne0, int64_t ne1,
                           const char *fmt, ...) {
    if (ld->failed) return NULL;
    char name[GL_MAX_NAME + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t i = gl_gguf_find_tensor(ld->gguf, name);
    if (i < 0) {
        if (required) elm_load_fail(ld, ELM_ERR_FORMAT, "model file lacks the tensor %s", name);
        return NULL;
    }
    const gl_gguf_tensor_info *ti = gl_gguf_tensor(ld->gguf, i);
    const bool vector = ne1 <= 0;
    if (ti->ne[0] != ne0 || ti->ne[1] != (vector ? 1 : ne1) || ti->ne[2] != 1 || ti->ne[3] != 1) {
        if (vector)
            elm_load_fail(ld, ELM_ERR_FORMAT,
                          "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld]", name,
                          (long long)ti->ne[0], (long long)ti->ne[1], (long long)ti->ne[2],
                          (long long)ti->ne[3], (long long)ne0);
        else
            elm_load_fail(ld, ELM_ERR_FORMAT,
                          "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                          name, (long long)ti->ne[0], (long long)ti->ne[1], (long long)ti->ne[2],
                          (long long)ti->ne[3], (long long)ne0, (long long)ne1);
        return NULL;
    }
    const gl_type_traits *tt = gl_type_get(ti->type);
    if (!tt || !tt->supported) {
        elm_load_fail(ld, ELM_ERR_UNSUPPORTED, "tensor %s has type %s, which edgelm cannot "
                      "compute with", name, gl_type_name(ti->type));
        return NULL;
    }
    if (vector && !load_vector_type_ok(ld, ti->type)) {
        elm_load_fail(ld, ELM_ERR_UNSUPPORTED, "vector tensor %s has type %s (F32/F16%s only)",
                      name, gl_type_name(ti->type), ld->vec_bf16 ? "/BF16" : "");
        return NULL;
    }
    /* The file is mapped read-only; weights are never written. */
    gl_tensor *t = gl_new_tensor_with_data(ld->wctx, ti->type, vector ? 1 : 2, ti->ne,
                                           (void *)(uintptr_t)ti->data);
    if (!t) {
        elm_load_fail(ld, ELM_ERR_FORMAT, "tensor %s: %s", name,
                      gl_ctx_error(ld->wctx) ? gl_ctx_error(ld->wctx) : "invalid");
        return NULL;
    }
    gl_set_name(t, "%s", name);
    return t;
}
