/* PyTorch zip checkpoints: the zip directory, the pickle machine and the tensor records, then
 * every tensor's data touched (contiguous copies made as the converter does). */
#include "fuzz.h"
#include "torch_zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    gl_error err = {0};
    elm_tz *tz = elm_tz_open_buffer(data, size, &err);
    if (!tz) {
        if (!err.msg[0]) abort();
        return 0;
    }
    for (int64_t i = 0; i < elm_tz_n_tensors(tz); i++) {
        const elm_tz_tensor *t = elm_tz_at(tz, i);
        (void)elm_tz_dtype_name(t->dtype);
        if (elm_tz_find(tz, t->name) == NULL) abort();
        const size_t bytes = (size_t)t->n_elements * elm_tz_dtype_size(t->dtype);
        if (bytes > ((size_t)1 << 24)) continue;
        void *out = malloc(bytes ? bytes : 1);
        if (out) elm_tz_copy_contiguous(t, out);
        free(out);
    }
    elm_tz_close(tz);
    return 0;
}
