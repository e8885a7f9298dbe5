/* safetensors: the header (JSON, offsets, dtypes, shapes) through elm_st_open of a file, then
 * every tensor read as floats (the part that converts and bounds-checks the data). */
#include "fuzz.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    char path[320];
    snprintf(path, sizeof path, "%s/model.safetensors", fuzz_tmp_dir());
    if (!fuzz_write_file(path, data, size)) return 0;
    gl_error err = {0};
    elm_st *st = elm_st_open(path, &err);
    if (!st) {
        if (!err.msg[0]) abort();
        return 0;
    }
    (void)elm_st_total_bytes(st);
    (void)elm_st_n_shards(st);
    float buf[256];
    for (int64_t i = 0; i < elm_st_n_tensors(st); i++) {
        const elm_st_tensor *t = elm_st_at(st, i);
        if (elm_st_find(st, t->name) == NULL) abort();
        const int64_t n = t->n_elements < 256 ? t->n_elements : 256;
        (void)elm_st_read_f32(t, 0, n, buf, &err);
        if (t->n_elements > n) (void)elm_st_read_f32(t, t->n_elements - n, n, buf, &err);
    }
    elm_st_close(st);
    return 0;
}
