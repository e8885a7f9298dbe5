/*
 * cli_npy.c — the CLI's NumPy .npy writer: the magic "\x93NUMPY", version 1.0, a little-endian u16
 * header length, then a Python dict literal padded with spaces and ended by '\n' so that the data
 * starts at a multiple of 64 bytes, then the raw little-endian float32 values.
 */
#include "cli_npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* write(2) until done (EINTR retried); false on an error. */
static bool npy_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        const ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

gl_status cli_npy_write_f32(const char *path, const float *data, int n_dims,
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

    /* written under a temporary name in path's folder, renamed over path when complete */
    char tmp[4096];
    if (strlen(path) >= sizeof tmp - 64) return gl_error_set(err, GL_ERR_INVALID, "npy: path too long");
    const bool atomic = gl_tmp_path(path, tmp, sizeof tmp); /* false: a device or a pipe */
    if (!atomic) memcpy(tmp, path, strlen(path) + 1);
    if (count > (UINT64_MAX - 4096) / sizeof(float))
        return gl_error_set(err, GL_ERR_INVALID, "npy: shape overflows");
    gl_status st = atomic ? gl_check_free_space(path, prefix + header + count * sizeof(float), err) : GL_OK;
    if (st != GL_OK) return st;
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return gl_error_set(err, GL_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    bool ok = npy_write_all(fd, head, prefix + header);
    /* float32 little-endian: the host order on every target edgelm supports (x86-64, aarch64). */
    if (ok && count > 0) ok = npy_write_all(fd, data, (size_t)count * sizeof(float));
    if (!ok) {
        gl_error_set(err, GL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        if (atomic) unlink(tmp);
        return GL_ERR_IO;
    }
    if (!atomic) return close(fd) == 0 ? GL_OK : gl_error_set(err, GL_ERR_IO, "cannot close %s", path);
    return gl_commit_file(fd, tmp, path, err);
}
