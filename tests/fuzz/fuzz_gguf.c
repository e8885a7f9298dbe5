/* GGUF: open from memory, read every key, array element and tensor record through the
 * accessors, load the tokenizer, then a decoder model load over the same bytes. */
#include "fuzz.h"
#include "edgelm.h"
#include "ggml-lite.h"
#include "vocab.h"

static void read_kvs(const gl_gguf *f) {
    for (int64_t i = 0; i < gl_gguf_n_kv(f); i++) {
        gl_str k = gl_gguf_key(f, i);
        if (k.len) (void)((volatile const char *)k.data)[k.len - 1];
        uint64_t u;
        int64_t s;
        double d;
        bool b;
        (void)gl_gguf_get_u64(f, i, &u);
        (void)gl_gguf_get_i64(f, i, &s);
        (void)gl_gguf_get_f64(f, i, &d);
        (void)gl_gguf_get_bool(f, i, &b);
        gl_str v = gl_gguf_get_str(f, i);
        if (v.len) (void)((volatile const char *)v.data)[v.len - 1];
        (void)gl_gguf_type_name(gl_gguf_kv_type(f, i));
        if (gl_gguf_kv_type(f, i) != GL_GGUF_ARRAY) continue;
        const uint64_t n = gl_gguf_arr_n(f, i);
        (void)gl_gguf_arr_data(f, i);
        for (uint64_t j = 0; j < n && j < 4096; j++) {
            (void)gl_gguf_arr_get_f64(f, i, j, &d);
            (void)gl_gguf_arr_get_i64(f, i, j, &s);
            gl_str e = gl_gguf_arr_str(f, i, j);
            if (e.len) (void)((volatile const char *)e.data)[e.len - 1];
        }
        if (k.len && k.len < 256) {
            char key[256];
            memcpy(key, k.data, (size_t)k.len);
            key[k.len] = '\0';
            (void)gl_gguf_find_key(f, key);
        }
    }
}

static void read_tensors(const gl_gguf *f) {
    for (int64_t i = 0; i < gl_gguf_n_tensors(f); i++) {
        const gl_gguf_tensor_info *t = gl_gguf_tensor(f, i);
        if (!t) abort();
        /* the tensor's bytes must lie inside the buffer: touch the first and the last */
        if (t->nbytes) {
            (void)((volatile const uint8_t *)t->data)[0];
            (void)((volatile const uint8_t *)t->data)[t->nbytes - 1];
        }
        if (t->name.len && t->name.len < 256) {
            char name[256];
            memcpy(name, t->name.data, (size_t)t->name.len);
            name[t->name.len] = '\0';
            (void)gl_gguf_find_tensor(f, name);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    gl_error err = {0};
    gl_gguf *f = gl_gguf_open_buffer(data, size, &err);
    if (!f) {
        if (!err.msg[0]) abort();
        return 0;
    }
    (void)gl_gguf_version(f);
    (void)gl_gguf_alignment(f);
    (void)gl_gguf_data_offset(f);
    read_kvs(f);
    read_tensors(f);
    elm_vocab *v = elm_vocab_load(f, &err);
    if (v) {
        int32_t ids[64];
        (void)elm_tokenize(v, "Hello world, caf\xc3\xa9 123!", 20, ids, 64, true, true, &err);
        elm_vocab_free(v);
    }
    gl_gguf_close(f);
    elm_error e = {0};
    elm_model_params mp = elm_model_default_params();
    elm_model *m = elm_model_load_memory(data, size, &mp, &e);
    elm_model_free(m);
    elm_file *ef = elm_file_open_memory(data, size, &e);
    if (ef) {
        char buf[64];
        int64_t x;
        double d;
        (void)elm_file_arch(ef);
        (void)elm_file_name(ef);
        (void)elm_file_n_params(ef);
        (void)elm_file_tensor_bytes(ef);
        (void)elm_file_get_int(ef, "general.alignment", &x);
        (void)elm_file_get_float(ef, "llama.rope.freq_base", &d);
        (void)elm_file_get_str(ef, "general.architecture", buf, sizeof buf);
        elm_file_close(ef);
    }
    return 0;
}
