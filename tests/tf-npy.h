/*
 * tf-npy.h — a small .npy reader for the tests that compare with numpy references (after tf.h):
 *   tf_npy a; tf_npy_read(path, &a)   format 1.x/2.x, C order, '<f4', '<f8', '<i4' or '<i8';
 *                                     values as double in a.data (free it), shape in
 *                                     a.shape[a.n_dims], a.count values, a.dtype the stored type
 */
#ifndef TF_NPY_H
#define TF_NPY_H

typedef struct tf_npy {
    int n_dims;
    int64_t shape[8];
    int64_t count;
    double *data;
    int dtype; /* 0 '<f4', 1 '<i4', 2 '<f8', 3 '<i8' */
} tf_npy;

static inline bool tf_npy_read(const char *path, tf_npy *a) {
    memset(a, 0, sizeof *a);
    size_t len;
    char *buf = tf_read_file(path, &len);
    if (!buf || len < 12 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        free(buf);
        return false;
    }
    size_t hlen, off;
    if (buf[6] == 1) {
        hlen = (uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8;
        off = 10;
    } else {
        hlen = (uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8 | (size_t)(uint8_t)buf[10] << 16 |
               (size_t)(uint8_t)buf[11] << 24;
        off = 12;
    }
    if (off + hlen > len) {
        free(buf);
        return false;
    }
    char *hdr = strndup(buf + off, hlen);
    static const char *const dtypes[4] = {"'<f4'", "'<i4'", "'<f8'", "'<i8'"};
    int dt = 0;
    while (dt < 4 && !strstr(hdr, dtypes[dt])) dt++;
    bool fortran = strstr(hdr, "'fortran_order': True") != NULL;
    const char *sh = strstr(hdr, "'shape': (");
    bool ok = dt < 4 && !fortran && sh;
    a->dtype = dt;
    a->count = 1;
    if (ok) {
        const char *p = sh + 10;
        while (*p && *p != ')') {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p) break;
            if (a->n_dims < 8) a->shape[a->n_dims++] = v;
            a->count *= v;
            p = end;
            while (*p == ',' || *p == ' ') p++;
        }
    }
    const size_t es = dt < 2 ? 4 : 8;
    ok = ok && a->count >= 0 && off + hlen + (size_t)a->count * es <= len;
    if (ok) {
        a->data = malloc((size_t)a->count * sizeof(double) + 8);
        const char *d = buf + off + hlen;
        for (int64_t i = 0; a->data && i < a->count; i++) {
            float f;
            int32_t i4;
            int64_t i8;
            switch (dt) {
            case 0: memcpy(&f, d + i * 4, 4); a->data[i] = f; break;
            case 1: memcpy(&i4, d + i * 4, 4); a->data[i] = i4; break;
            case 2: memcpy(&a->data[i], d + i * 8, 8); break;
            default: memcpy(&i8, d + i * 8, 8); a->data[i] = (double)i8; break;
            }
        }
        ok = a->data != NULL;
    }
    free(hdr);
    free(buf);
    return ok;
}

#endif
