/*
 * npy.c — NumPy .npy writer: the magic "\x93NUMPY", version 1.0, a little-endian u16 header
 * length, then a Python dict literal padded with spaces and ended by '\n' so that the data
 * starts at a multiple of 64 bytes, then the raw little-endian float32 values.
 */
#include "npy.h"

#include <stdio.h>
#include <string.h>

gl_status elm_npy_write_f32(const char *path, const float *data, int n_dims,
                            const int64_t *shape, gl_error *err) {
    if (!path || n_dims < 1 || n_dims > 8 || !shape)
        return gl_error_set(err, GL_ERR_INVALID, "npy: bad arguments");
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t count = 1;
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] < 0) return gl_error_set(err, GL_ERR_INVALID, "npy: negative dimension");
        /* numpy's own spelling: "(5, 512)", and "(30,)" for one dimension. */
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)shape[i],
                        i + 1 < n_dims ? ", " : n_dims == 1 ? "," : "");
        if (shape[i] && count > UINT64_MAX / (uint64_t)shape[i])
            return gl_error_set(err, GL_ERR_INVALID, "npy: shape overflows");
        count *= (uint64_t)shape[i];
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    const size_t prefix = 10; /* magic 6 + version 2 + header length 2 */
    size_t header = (size_t)len + 1;
    header += (64 - (prefix + header) % 64) % 64;
    char head[512];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)(header & 0xff);
    head[9] = (char)(header >> 8);
    memcpy(head + prefix, dict, (size_t)len);
    memset(head + prefix + len, ' ', header - (size_t)len - 1);
    head[prefix + header - 1] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return gl_error_set(err, GL_ERR_IO, "cannot create %s", path);
    bool ok = fwrite(head, 1, prefix + header, f) == prefix + header;
    /* float32 little-endian: the host order on every target edgelm supports (x86-64, aarch64). */
    if (ok && count > 0) ok = fwrite(data, sizeof(float), (size_t)count, f) == (size_t)count;
    if (fclose(f) != 0) ok = false;
    if (!ok) return gl_error_set(err, GL_ERR_IO, "cannot write %s", path);
    return GL_OK;
}
