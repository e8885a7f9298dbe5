/*
 * common.c — error helpers, weight loading and the graph runner shared by the model families
 * (decoder, BERT, ELMo, T5). See common.h.
 */
#include "alloc.h"
#include "common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void elm_log(elm_log_fn fn, void *user, elm_log_level level, const char *fmt, ...) {
    if (!fn) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(level, line, user);
}

void elm_log_msg(elm_convert_log_fn fn, void *user, const char *fmt, ...) {
    if (!fn) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(user, line);
}

/* elm_error is gl_error (edgelm.h): the record is copied as it is. */
elm_status elm_err_from_gl(elm_error *err, const gl_error *gerr) {
    if (err && err != gerr) *err = *gerr;
    return gerr->code;
}

/* ------------------------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------------------------- */

const elm_arch *elm_load_arch(const gl_gguf *g, elm_family family, elm_error *err) {
    static const char *const what[] = {"a decoder", "a BERT model", "a T5 model", "an ELMo model"};
    const int64_t i = gl_gguf_find_key(g, "general.architecture");
    if (i < 0 || gl_gguf_kv_type(g, i) != GL_GGUF_STRING) {
        elm_err_set(err, ELM_ERR_FORMAT, "model file has no general.architecture string");
        return NULL;
    }
    const gl_str a = gl_gguf_get_str(g, i);
    const elm_arch *row = elm_arch_find(a.data, (size_t)a.len);
    if (row && row->family == family) return row;
    char names[256];
    elm_arch_names(family, names, sizeof names);
    elm_err_set(err, ELM_ERR_UNSUPPORTED, "architecture '%.*s' is not %s edgelm runs (%s)",
                (int)(a.len > 64 ? 64 : a.len), a.data, what[family], names);
    return NULL;
}

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

/* ------------------------------------------------------------------------------------------
 * Repacking weights
 * ---------------------------------------------------------------------------------------- */

#define REPACK_ALIGN 64

static size_t repack_slot(size_t bytes) { return (bytes + REPACK_ALIGN - 1) / REPACK_ALIGN * REPACK_ALIGN; }

elm_status elm_repack_weights(gl_tensor *const *w, size_t n, const gl_gguf *src, elm_repacked *out,
                              elm_error *err) {
    *out = (elm_repacked){0};
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t need = w[i] ? gl_repack_size(w[i]) : 0;
        if (!need) continue;
        if (repack_slot(need) > SIZE_MAX - total)
            return elm_err_set(err, ELM_ERR_NOMEM, "repacked weights overflow size_t");
        total += repack_slot(need);
    }
    if (!total) return ELM_OK;
    char *buf = ELM_ALIGNED_ALLOC(REPACK_ALIGN, total);
    if (!buf) {
        return elm_err_set(err, ELM_ERR_NOMEM, "cannot allocate %zu MiB for repacked weights "
                           "(load without repacking to use the mapped file only)", total >> 20);
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t need = w[i] ? gl_repack_size(w[i]) : 0;
        if (!need) continue;
        gl_error gerr = {0};
        const void *old = w[i]->data;
        const size_t old_bytes = gl_nbytes(w[i]);
        if (!gl_repack(w[i], buf + at, total - at, &gerr)) {
            out->buf = buf; /* tensors before w[i] point into it: freed with the model */
            return elm_err_set(err, ELM_ERR_INVALID, "repacking %s: %s", w[i]->name, gerr.msg);
        }
        /* no second resident copy: the file's pages of this matrix are not read any more */
        if (gl_gguf_release_pages(src, old, old_bytes)) out->released += old_bytes;
        at += repack_slot(need);
        out->n_tensors++;
    }
    out->buf = buf;
    out->bytes = at;
    return ELM_OK;
}

/* ------------------------------------------------------------------------------------------
 * Running a graph
 * ---------------------------------------------------------------------------------------- */

#define RUNNER_ALIGN 64 /* ggml-lite wants graph buffers 64-byte aligned */

gl_status elm_check_fits_memory(uint64_t bytes, const char *what, gl_error *err) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return GL_OK; /* unknown: the allocation will tell */
    const uint64_t phys = (uint64_t)pages * (uint64_t)page;
    if (bytes <= phys) return GL_OK;
    return gl_error_set(err, GL_ERR_NOMEM, "%s needs %.2f GiB, more than this machine's %.2f GiB of memory", what,
                        (double)bytes / (1 << 30), (double)phys / (1 << 30));
}

gl_status elm_runner_reserve(elm_runner *r, gl_graph *g, gl_graph_plan *plan, gl_error *gerr) {
    gl_graph_plan local;
    if (!plan) plan = &local;
    gl_status st = gl_graph_plan_memory(g, r->n_threads, plan, gerr);
    if (st != GL_OK) return st;
    const size_t need = plan->buffer_size + plan->work_size;
    if (need <= r->size) return GL_OK;
    if (need > SIZE_MAX - RUNNER_ALIGN)
        return gl_error_set(gerr, GL_ERR_NOMEM, "a graph of %zu bytes is too large", need);
    if (elm_check_fits_memory(need, "the compute graph's buffers", gerr) != GL_OK) return GL_ERR_NOMEM;
    const size_t size = need ? (need + RUNNER_ALIGN - 1) / RUNNER_ALIGN * RUNNER_ALIGN : RUNNER_ALIGN;
    void *p = ELM_ALIGNED_ALLOC(RUNNER_ALIGN, size);
    if (!p) return gl_error_set(gerr, GL_ERR_NOMEM, "cannot allocate %zu MiB for the graph", need >> 20);
    ELM_FREE(r->buf);
    r->buf = p;
    r->size = size;
    return GL_OK;
}

gl_status elm_runner_run(elm_runner *r, gl_graph *g, gl_error *gerr) {
    gl_graph_plan plan;
    gl_status st = elm_runner_reserve(r, g, &plan, gerr);
    if (st == GL_OK) st = gl_graph_alloc(g, &plan, r->buf, r->size, gerr);
    if (st == GL_OK) st = gl_graph_compute(g, r->pool, gerr);
    return st;
}

void elm_runner_free(elm_runner *r) {
    gl_pool_free(r->pool);
    ELM_FREE(r->buf);
    r->pool = NULL;
    r->buf = NULL;
    r->size = 0;
}

size_t elm_graph_overhead(size_t max_nodes) {
    return (2 * max_nodes + 64) * gl_tensor_overhead() + max_nodes * 12 * sizeof(void *) + (1u << 16);
}

gl_context *elm_weight_ctx_new(const gl_gguf *g, gl_error *ge) {
    const int64_t n = gl_gguf_n_tensors(g);
    return gl_context_new((gl_context_params){.mem_size = (size_t)(n > 0 ? n : 0) * gl_tensor_overhead() + 4096,
                                              .no_alloc = true},
                          ge);
}

/* ------------------------------------------------------------------------------------------
 * Process memory (edgelm bench, -v)
 * ---------------------------------------------------------------------------------------- */

bool elm_process_memory(int64_t *rss_bytes, int64_t *peak_bytes) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return false;
    char line[256];
    long long rss = -1, hwm = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) rss = strtoll(line + 6, NULL, 10);
        else if (!strncmp(line, "VmHWM:", 6)) hwm = strtoll(line + 6, NULL, 10);
    }
    fclose(f);
    if (rss < 0 || hwm < 0) return false;
    if (rss_bytes) *rss_bytes = (int64_t)rss * 1024;
    if (peak_bytes) *peak_bytes = (int64_t)hwm * 1024;
    return true;
}
