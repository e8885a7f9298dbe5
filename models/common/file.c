/*
 * file.c — model-file inspection for the public API (edgelm.h), on top of ggml-lite's GGUF
 * reader. Strings from the file are copied out NUL-terminated; the file stays mapped.
 */
#include "alloc.h"
#include "edgelm.h"
#include "ggml-lite.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

struct elm_file {
    gl_gguf *gguf;
    char arch[64];
    char name[256];
};

const char *elm_version(void) { return ELM_VERSION; }
const char *elm_simd(void) { return gl_simd_name(); }

static void file_copy_str(const gl_gguf *g, const char *key, char *buf, size_t size) {
    buf[0] = '\0';
    int64_t i = gl_gguf_find_key(g, key);
    if (i < 0 || gl_gguf_kv_type(g, i) != GL_GGUF_STRING) return;
    gl_str s = gl_gguf_get_str(g, i);
    size_t n = s.len < size - 1 ? (size_t)s.len : size - 1;
    memcpy(buf, s.data, n);
    buf[n] = '\0';
}

static elm_file *file_wrap(gl_gguf *g, const gl_error *gerr, elm_error *err) {
    if (!g) {
        elm_err_from_gl(err, gerr);
        return NULL;
    }
    elm_file *f = ELM_CALLOC(1, sizeof *f);
    if (!f) {
        gl_gguf_close(g);
        elm_err_set(err, ELM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->gguf = g;
    file_copy_str(g, "general.architecture", f->arch, sizeof f->arch);
    file_copy_str(g, "general.name", f->name, sizeof f->name);
    return f;
}

elm_file *elm_file_open(const char *path, elm_error *err) {
    gl_error gerr = {0};
    return file_wrap(gl_gguf_open(path, &gerr), &gerr, err);
}

elm_file *elm_file_open_memory(const void *data, size_t size, elm_error *err) {
    gl_error gerr = {0};
    return file_wrap(gl_gguf_open_buffer(data, size, &gerr), &gerr, err);
}

void elm_file_close(elm_file *f) {
    if (!f) return;
    gl_gguf_close(f->gguf);
    ELM_FREE(f);
}

const char *elm_file_arch(const elm_file *f) { return f ? f->arch : ""; }
const char *elm_file_name(const elm_file *f) { return f ? f->name : ""; }
int64_t elm_file_n_tensors(const elm_file *f) { return f ? gl_gguf_n_tensors(f->gguf) : 0; }

int64_t elm_file_n_params(const elm_file *f) {
    int64_t n = 0;
    for (int64_t i = 0; f && i < gl_gguf_n_tensors(f->gguf); i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f->gguf, i);
        n += ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3];
    }
    return n;
}

uint64_t elm_file_tensor_bytes(const elm_file *f) {
    uint64_t n = 0;
    for (int64_t i = 0; f && i < gl_gguf_n_tensors(f->gguf); i++)
        n += gl_gguf_tensor(f->gguf, i)->nbytes;
    return n;
}

bool elm_file_get_int(const elm_file *f, const char *key, int64_t *out) {
    return f && gl_gguf_get_i64(f->gguf, gl_gguf_find_key(f->gguf, key), out);
}
bool elm_file_get_float(const elm_file *f, const char *key, double *out) {
    return f && gl_gguf_get_f64(f->gguf, gl_gguf_find_key(f->gguf, key), out);
}
bool elm_file_get_str(const elm_file *f, const char *key, char *buf, size_t bufsize) {
    if (!f || !buf || bufsize == 0) return false;
    int64_t i = gl_gguf_find_key(f->gguf, key);
    if (i < 0 || gl_gguf_kv_type(f->gguf, i) != GL_GGUF_STRING) return false;
    file_copy_str(f->gguf, key, buf, bufsize);
    return true;
}
