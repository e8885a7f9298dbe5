/*
 * convert_util.c — small helpers every converter (convert_llm.c, convert_bert.c,
 * convert_elmo.c, convert_t5.c, hf_tokenizer.c, tensor_source.c) shares. See convert.h.
 */
#include "alloc.h"
#include "convert.h"
#include "quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool elm_cv_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

elm_json_doc *elm_cv_json_opt(const char *dir, const char *name, gl_error *err, bool *failed) {
    char *p = elm_cv_path_join(dir, name);
    elm_json_doc *d = NULL;
    if (p && elm_cv_file_exists(p)) {
        d = elm_json_parse_file(p, err);
        if (!d) *failed = true;
    }
    ELM_FREE(p);
    return d;
}

/* llama.cpp's LLAMA_FTYPE numbers for the types our converters write (quant/quantize.c holds
 * the one table). */
uint32_t elm_cv_file_type(int type) { return elm_quant_file_type_of((gl_type)type); }

static bool cv_any_suffix(const char *name, const char *const *list) {
    for (size_t i = 0; list && list[i]; i++)
        if (elm_cv_ends_with(name, list[i])) return true;
    return false;
}

static bool cv_any_prefix(const char *name, const char *const *list) {
    for (size_t i = 0; list && list[i]; i++)
        if (!strncmp(name, list[i], strlen(list[i]))) return true;
    return false;
}

static int cv_cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (const elm_st_tensor *const *)a, y = (uintptr_t) * (const elm_st_tensor *const *)b;
    return x < y ? -1 : x > y;
}

static void cv_shape(const elm_st_tensor *t, char *buf, size_t size) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->n_dims && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < size) snprintf(buf + k, size - k, "]");
}

/* The check over any list of source tensors: n of them, at(list, i). */
typedef const elm_st_tensor *(*cv_tensor_at)(const void *list, int64_t i);

static gl_status cv_check_unmapped(const elm_convert_params *p, const void *list, int64_t n_src, cv_tensor_at at,
                                   const elm_st_tensor *const *used, int64_t n_used, const char *const *buffers,
                                   const char *const *requested, int64_t *n_unmapped, gl_error *err) {
    if (n_unmapped) *n_unmapped = 0;
    if (n_used < 0) return gl_error_set(err, GL_ERR_INVALID, "convert: bad used-tensor count");
    const elm_st_tensor **sorted = ELM_MALLOC((size_t)(n_used > 0 ? n_used : 1) * sizeof *sorted);
    if (!sorted) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    if (n_used > 0) memcpy(sorted, used, (size_t)n_used * sizeof *sorted);
    qsort(sorted, (size_t)n_used, sizeof *sorted, cv_cmp_ptr);
    int64_t n_bad = 0;
    const char *first = NULL;
    for (int64_t i = 0; i < n_src; i++) {
        const elm_st_tensor *t = at(list, i);
        if (!t || cv_any_suffix(t->name, buffers)) continue;
        if (n_used > 0 && bsearch(&t, sorted, (size_t)n_used, sizeof *sorted, cv_cmp_ptr)) continue;
        char shape[96];
        cv_shape(t, shape, sizeof shape);
        if (cv_any_prefix(t->name, requested)) {
            elm_cv_log(p, "note: %.160s %s left out as asked", t->name, shape);
            continue;
        }
        elm_cv_log(p, "warning: %.160s %s is not converted (nothing maps it)", t->name, shape);
        if (!first) first = t->name;
        n_bad++;
    }
    ELM_FREE(sorted);
    if (n_unmapped) *n_unmapped = n_bad;
    if (n_bad > 0 && p->strict)
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "--strict: %lld source tensor%s not converted (first: %.160s)",
                            (long long)n_bad, n_bad == 1 ? " is" : "s are", first);
    return GL_OK;
}

static const elm_st_tensor *cv_source_at(const void *list, int64_t i) { return elm_cv_source_at(list, i); }
static const elm_st_tensor *cv_array_at(const void *list, int64_t i) { return (const elm_st_tensor *)list + i; }
static const elm_st_tensor *cv_st_at(const void *list, int64_t i) { return elm_st_at(list, i); }

gl_status elm_cv_check_unmapped(const elm_convert_params *p, const elm_cv_source *src,
                                const elm_st_tensor *const *used, int64_t n_used,
                                const char *const *buffers, const char *const *requested,
                                int64_t *n_unmapped, gl_error *err) {
    return cv_check_unmapped(p, src, elm_cv_source_n(src), cv_source_at, used, n_used, buffers, requested, n_unmapped, err);
}

gl_status elm_cv_check_unmapped_st(const elm_convert_params *p, const elm_st *st, const elm_st_tensor *const *used,
                                   int64_t n_used, const char *const *buffers, int64_t *n_unmapped, gl_error *err) {
    return cv_check_unmapped(p, st, elm_st_n_tensors(st), cv_st_at, used, n_used, buffers, NULL, n_unmapped, err);
}

gl_status elm_cv_check_unmapped_array(const elm_convert_params *p, const elm_st_tensor *src, int64_t n_src,
                                      const elm_st_tensor *const *used, int64_t n_used, int64_t *n_unmapped,
                                      gl_error *err) {
    int64_t n_bad = 0;
    const gl_status s = cv_check_unmapped(p, src, n_src, cv_array_at, used, n_used, NULL, NULL, &n_bad, err);
    if (n_unmapped) *n_unmapped = n_bad;
    if (s == GL_OK && n_bad > 0)
        elm_cv_log(p, "warning: %lld source tensor%s dropped (--strict refuses such a checkpoint)", (long long)n_bad,
                   n_bad == 1 ? "" : "s");
    return s;
}
