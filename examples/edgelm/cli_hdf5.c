/* A minimal HDF5 writer: superblock v2, v2 object headers, compact root group (cli_hdf5.h). */
#include "cli_hdf5.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H5W_UNDEF UINT64_MAX
#define H5W_SUPERBLOCK_SIZE 48
#define H5W_MAX_RANK 8

/* ---- lookup3 (Bob Jenkins' hash, the HDF5 metadata checksum) ---- */

static uint32_t h5w_rot(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void h5w_mix(uint32_t *a, uint32_t *b, uint32_t *c) {
    *a -= *c, *a ^= h5w_rot(*c, 4), *c += *b;
    *b -= *a, *b ^= h5w_rot(*a, 6), *a += *c;
    *c -= *b, *c ^= h5w_rot(*b, 8), *b += *a;
    *a -= *c, *a ^= h5w_rot(*c, 16), *c += *b;
    *b -= *a, *b ^= h5w_rot(*a, 19), *a += *c;
    *c -= *b, *c ^= h5w_rot(*b, 4), *b += *a;
}

static void h5w_final(uint32_t *a, uint32_t *b, uint32_t *c) {
    *c ^= *b, *c -= h5w_rot(*b, 14);
    *a ^= *c, *a -= h5w_rot(*c, 11);
    *b ^= *a, *b -= h5w_rot(*a, 25);
    *c ^= *b, *c -= h5w_rot(*b, 16);
    *a ^= *c, *a -= h5w_rot(*c, 4);
    *b ^= *a, *b -= h5w_rot(*a, 14);
    *c ^= *b, *c -= h5w_rot(*b, 24);
}

/* Little-endian word of up to 4 bytes. */
static uint32_t h5w_word(const uint8_t *k, size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n && i < 4; i++) v |= (uint32_t)k[i] << (8 * i);
    return v;
}

uint32_t cli_h5_checksum(const void *data, size_t len) {
    const uint8_t *k = data;
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    while (len > 12) {
        a += h5w_word(k, 4);
        b += h5w_word(k + 4, 4);
        c += h5w_word(k + 8, 4);
        h5w_mix(&a, &b, &c);
        len -= 12;
        k += 12;
    }
    if (len == 0) return c;
    a += h5w_word(k, len);
    if (len > 4) b += h5w_word(k + 4, len - 4);
    if (len > 8) c += h5w_word(k + 8, len - 8);
    h5w_final(&a, &b, &c);
    return c;
}

/* ---- byte buffers ---- */

typedef struct h5w_buf {
    uint8_t *p;
    size_t n, cap;
    bool bad;
} h5w_buf;

static void h5w_put(h5w_buf *b, const void *src, size_t n) {
    if (b->bad) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->bad = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void h5w_u(h5w_buf *b, uint64_t v, int bytes) {
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * i));
    h5w_put(b, t, (size_t)bytes);
}

/* One header message: type, size, flags 0, body. */
static void h5w_msg(h5w_buf *hdr, int type, const h5w_buf *body) {
    h5w_u(hdr, (uint64_t)type, 1);
    h5w_u(hdr, body->n, 2);
    h5w_u(hdr, 0, 1);
    h5w_put(hdr, body->p, body->n);
}

/* ---- the file ---- */

typedef struct h5w_link {
    char *name;
    uint64_t addr;
} h5w_link;

struct cli_h5w {
    FILE *f;
    char *path, *tmp;
    uint64_t pos; /* bytes written so far (the next address) */
    h5w_link *links;
    size_t n_links, cap_links;
};

static gl_status h5w_write(cli_h5w *w, const void *p, size_t n, gl_error *err) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return gl_error_set(err, GL_ERR_IO, "hdf5: cannot write %s: %s", w->tmp, strerror(errno));
    w->pos += n;
    return GL_OK;
}

cli_h5w *cli_h5w_create(const char *path, gl_error *err) {
    cli_h5w *w = calloc(1, sizeof *w);
    const size_t len = strlen(path) + 32;
    if (w) w->path = strdup(path);
    if (w) w->tmp = malloc(len);
    if (!w || !w->path || !w->tmp) {
        cli_h5w_abort(w);
        gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
        return NULL;
    }
    snprintf(w->tmp, len, "%s.tmp-%d", path, (int)getpid());
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        gl_error_set(err, GL_ERR_IO, "hdf5: cannot create %s: %s", w->tmp, strerror(errno));
        free(w->path);
        free(w->tmp);
        free(w);
        return NULL;
    }
    const uint8_t zero[H5W_SUPERBLOCK_SIZE] = {0}; /* the superblock, written at close */
    if (h5w_write(w, zero, sizeof zero, err) != GL_OK) {
        cli_h5w_abort(w);
        return NULL;
    }
    return w;
}

static gl_status h5w_add_link(cli_h5w *w, const char *name, uint64_t addr, gl_error *err) {
    const size_t n = strlen(name);
    if (n == 0 || n > 255 || strchr(name, '/') || strcmp(name, ".") == 0)
        return gl_error_set(err, GL_ERR_INVALID, "hdf5: bad dataset name '%.64s'", name);
    for (size_t i = 0; i < w->n_links; i++)
        if (!strcmp(w->links[i].name, name))
            return gl_error_set(err, GL_ERR_INVALID, "hdf5: dataset '%.64s' written twice", name);
    if (w->n_links == w->cap_links) {
        const size_t cap = w->cap_links ? 2 * w->cap_links : 64;
        h5w_link *l = realloc(w->links, cap * sizeof *l);
        if (!l) return gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
        w->links = l;
        w->cap_links = cap;
    }
    char *copy = strdup(name);
    if (!copy) return gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
    w->links[w->n_links++] = (h5w_link){copy, addr};
    return GL_OK;
}

/* Writes a version-2 object header holding the messages in body (already framed) and its
 * checksum at the current position; returns its address in *addr. */
static gl_status h5w_object_header(cli_h5w *w, const h5w_buf *msgs, uint64_t *addr, gl_error *err) {
    h5w_buf h = {0};
    h5w_put(&h, "OHDR", 4);
    h5w_u(&h, 2, 1);    /* version */
    h5w_u(&h, 0x02, 1); /* flags: 4-byte size of chunk 0; no times, no attribute phase values */
    h5w_u(&h, msgs->n, 4);
    h5w_put(&h, msgs->p, msgs->n);
    if (!h.bad) h5w_u(&h, cli_h5_checksum(h.p, h.n), 4);
    gl_status s = h.bad ? gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory") : GL_OK;
    *addr = w->pos;
    if (s == GL_OK) s = h5w_write(w, h.p, h.n, err);
    free(h.p);
    return s;
}

/* A dataset: raw data (contiguous) followed by its object header, linked from the root. */
static gl_status h5w_dataset(cli_h5w *w, const char *name, int rank, const uint64_t *dims, const h5w_buf *dtype,
                             const void *data, uint64_t bytes, gl_error *err) {
    const uint64_t data_addr = bytes ? w->pos : H5W_UNDEF;
    gl_status s = h5w_write(w, data, (size_t)bytes, err);
    if (s != GL_OK) return s;
    h5w_buf msgs = {0}, m = {0};
    /* dataspace v2: simple (or scalar), no maximum dimensions */
    h5w_u(&m, 2, 1);
    h5w_u(&m, (uint64_t)rank, 1);
    h5w_u(&m, 0, 1);
    h5w_u(&m, rank ? 1 : 0, 1);
    for (int i = 0; i < rank; i++) h5w_u(&m, dims[i], 8);
    h5w_msg(&msgs, 0x0001, &m);
    h5w_msg(&msgs, 0x0003, dtype);
    m.n = 0; /* fill value v3: allocation late, written if set, no value defined */
    h5w_u(&m, 3, 1);
    h5w_u(&m, 0x0A, 1);
    h5w_msg(&msgs, 0x0005, &m);
    m.n = 0; /* layout v3: contiguous */
    h5w_u(&m, 3, 1);
    h5w_u(&m, 1, 1);
    h5w_u(&m, data_addr, 8);
    h5w_u(&m, bytes, 8);
    h5w_msg(&msgs, 0x0008, &m);
    uint64_t addr = 0;
    s = msgs.bad || m.bad ? gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory") : h5w_object_header(w, &msgs, &addr, err);
    free(msgs.p);
    free(m.p);
    return s == GL_OK ? h5w_add_link(w, name, addr, err) : s;
}

gl_status cli_h5w_f32(cli_h5w *w, const char *name, int rank, const int64_t *dims, const float *data,
                      gl_error *err) {
    if (!w || rank < 0 || rank > H5W_MAX_RANK) return gl_error_set(err, GL_ERR_INVALID, "hdf5: bad rank %d", rank);
    uint64_t d[H5W_MAX_RANK], n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && n > (UINT64_MAX / 8) / (uint64_t)dims[i]))
            return gl_error_set(err, GL_ERR_INVALID, "hdf5: bad dimension %lld", (long long)dims[i]);
        d[i] = (uint64_t)dims[i];
        n *= d[i];
    }
    h5w_buf t = {0}; /* IEEE float32 little-endian: class 1, version 1 */
    const uint8_t head[8] = {0x11, 0x20, 31, 0, 4, 0, 0, 0};
    h5w_put(&t, head, sizeof head);
    h5w_u(&t, 0, 2);  /* bit offset */
    h5w_u(&t, 32, 2); /* precision */
    const uint8_t fields[4] = {23, 8, 0, 23}; /* exponent location, size; mantissa location, size */
    h5w_put(&t, fields, sizeof fields);
    h5w_u(&t, 127, 4); /* exponent bias */
    const gl_status s = t.bad ? gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory")
                              : h5w_dataset(w, name, rank, d, &t, data, 4 * n, err);
    free(t.p);
    return s;
}

gl_status cli_h5w_string(cli_h5w *w, const char *name, const char *text, gl_error *err) {
    if (!w) return gl_error_set(err, GL_ERR_INVALID, "hdf5: no file");
    const size_t len = strlen(text) ? strlen(text) : 1;
    if (len > UINT32_MAX) return gl_error_set(err, GL_ERR_INVALID, "hdf5: string too long");
    h5w_buf t = {0}; /* string: class 3, version 1; null-padded, UTF-8 */
    const uint8_t head[4] = {0x13, 0x11, 0, 0};
    h5w_put(&t, head, sizeof head);
    h5w_u(&t, len, 4);
    const uint64_t dims[1] = {1};
    char *data = calloc(1, len);
    gl_status s;
    if (t.bad || !data) s = gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
    else {
        memcpy(data, text, strlen(text));
        s = h5w_dataset(w, name, 1, dims, &t, data, len, err);
    }
    free(data);
    free(t.p);
    return s;
}

/* The root group: link info, group info and a link message per dataset. */
static gl_status h5w_root(cli_h5w *w, uint64_t *addr, gl_error *err) {
    h5w_buf msgs = {0}, m = {0};
    h5w_u(&m, 0, 1); /* link info v0: no creation order; no fractal heap, no name index */
    h5w_u(&m, 0, 1);
    h5w_u(&m, H5W_UNDEF, 8);
    h5w_u(&m, H5W_UNDEF, 8);
    h5w_msg(&msgs, 0x0002, &m);
    m.n = 0; /* group info v0: defaults */
    h5w_u(&m, 0, 2);
    h5w_msg(&msgs, 0x000A, &m);
    for (size_t i = 0; i < w->n_links; i++) {
        const size_t n = strlen(w->links[i].name);
        m.n = 0; /* link v1: hard link, 1-byte name length */
        h5w_u(&m, 1, 1);
        h5w_u(&m, 0, 1);
        h5w_u(&m, n, 1);
        h5w_put(&m, w->links[i].name, n);
        h5w_u(&m, w->links[i].addr, 8);
        h5w_msg(&msgs, 0x0006, &m);
    }
    gl_status s = msgs.bad || m.bad ? gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory")
                                    : msgs.n > UINT32_MAX ? gl_error_set(err, GL_ERR_INVALID, "hdf5: too many datasets")
                                                          : h5w_object_header(w, &msgs, addr, err);
    free(msgs.p);
    free(m.p);
    return s;
}

static void h5w_free(cli_h5w *w) {
    for (size_t i = 0; i < w->n_links; i++) free(w->links[i].name);
    free(w->links);
    free(w->path);
    free(w->tmp);
    free(w);
}

gl_status cli_h5w_close(cli_h5w *w, gl_error *err) {
    if (!w) return gl_error_set(err, GL_ERR_INVALID, "hdf5: no file");
    uint64_t root = 0;
    gl_status s = h5w_root(w, &root, err);
    if (s == GL_OK) {
        h5w_buf sb = {0};
        h5w_put(&sb, "\x89HDF\r\n\x1a\n", 8);
        const uint8_t v[4] = {2, 8, 8, 0}; /* version 2, 8-byte offsets and lengths, flags */
        h5w_put(&sb, v, 4);
        h5w_u(&sb, 0, 8);         /* base address */
        h5w_u(&sb, H5W_UNDEF, 8); /* no superblock extension */
        h5w_u(&sb, w->pos, 8);    /* end of file */
        h5w_u(&sb, root, 8);
        if (!sb.bad) h5w_u(&sb, cli_h5_checksum(sb.p, sb.n), 4);
        if (sb.bad || sb.n != H5W_SUPERBLOCK_SIZE) s = gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
        else if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(sb.p, 1, sb.n, w->f) != sb.n || fflush(w->f) != 0 ||
                 fsync(fileno(w->f)) != 0)
            s = gl_error_set(err, GL_ERR_IO, "hdf5: cannot write %s: %s", w->tmp, strerror(errno));
        free(sb.p);
    }
    if (fclose(w->f) != 0 && s == GL_OK) s = gl_error_set(err, GL_ERR_IO, "hdf5: cannot write %s: %s", w->tmp, strerror(errno));
    w->f = NULL;
    if (s == GL_OK && rename(w->tmp, w->path) != 0)
        s = gl_error_set(err, GL_ERR_IO, "hdf5: cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
    if (s != GL_OK) remove(w->tmp);
    h5w_free(w);
    return s;
}

void cli_h5w_abort(cli_h5w *w) {
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        if (w->tmp) remove(w->tmp);
    }
    h5w_free(w);
}
