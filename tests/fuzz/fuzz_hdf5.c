/* HDF5: superblock, object headers, both group styles and chunk indexes through a visit of
 * every dataset, then each dataset read as floats (bounded size). */
#include "fuzz.h"
#include "hdf5.h"

typedef struct fz_h5 {
    elm_h5 *f;
    int n;
} fz_h5;

static int on_dataset(const char *path, const elm_h5_info *info, void *user) {
    fz_h5 *z = user;
    if (++z->n > 64) return 1;
    if (info->n_elements == 0 || info->n_elements > 4096) return 0;
    float *buf = malloc(sizeof(float) * (size_t)info->n_elements);
    gl_error err = {0};
    if (buf && elm_h5_read_f32(z->f, path, buf, info->n_elements, &err) != GL_OK && !err.msg[0]) abort();
    free(buf);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    gl_error err = {0};
    elm_h5 *f = elm_h5_open_buffer(data, size, &err);
    if (!f) {
        if (!err.msg[0]) abort();
        return 0;
    }
    fz_h5 z = {f, 0};
    (void)elm_h5_visit(f, on_dataset, &z, &err);
    elm_h5_info info;
    (void)elm_h5_info_of(f, "char_embed", &info, &err);
    elm_h5_close(f);
    return 0;
}
