/*
 * gl-gguf.c — GGUF v3 reader and streaming writer.
 *
 * Reader: the file (or a caller's buffer) is parsed in one pass with a cursor that checks every
 * read against the bytes that remain, so nothing is trusted before it is bounded. Counts from the
 * header are bounded by the smallest size their records can take before anything is allocated;
 * all tables then live in one allocation (plus one for the element offsets of string arrays).
 * Tensor data is never copied: gl_gguf_tensor_info.data points into the mapped file.
 *
 * Rules beyond the GGUF spec (see docs/FORMAT.md): nested arrays, zero dimensions, duplicate
 * keys or tensor names and overlapping tensor data are rejected; offsets may have gaps.
 *
 * Writer: metadata and tensor infos are kept in memory (they are small); the header goes out when
 * the first tensor data arrives (or at close), then data is streamed, each tensor padded with
 * zeros to the alignment. The first error is recorded and reported by gl_gguf_writer_close().
 *
 * Build switches for targets without a file system or mmap (the amalgamation honours them):
 *   GL_NO_MMAP   gl_gguf_open reads the file into one malloc-ed buffer instead of mapping it;
 *   GL_NO_STDIO  no file access at all: gl_gguf_open and gl_gguf_writer_open fail with
 *                GL_ERR_UNSUPPORTED; gl_gguf_open_buffer and gl_gguf_writer_open_cb remain.
 *
 * Static names carry the module prefix gguf_ (see gl-impl.h).
 */
#include "gl-impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#if !defined(GL_NO_STDIO)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(GL_NO_MMAP)
#include <sys/mman.h>
#endif
#endif

#define GGUF_MAX_KEY_LEN 65535u /* spec: keys are at most 65535 bytes */
/* Smallest encodings: a kv is key length + 1 key byte + value type + a 1-byte value; a tensor
 * info is name length + 1 name byte + n_dims + one dim + type + offset. */
#define GGUF_KV_MIN_BYTES (8u + 1u + 4u + 1u)
#define GGUF_TI_MIN_BYTES (8u + 1u + 4u + 8u + 4u + 8u)
#define GGUF_ERR_NAME 48 /* bytes of a key/name quoted in an error message */

/* ------------------------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------------------- */

static uint32_t gguf_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t gguf_le64(const uint8_t *p) {
    return (uint64_t)gguf_le32(p) | (uint64_t)gguf_le32(p + 4) << 32;
}

static bool gguf_is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* Bytes of one scalar of type t; 0 for STRING, ARRAY and invalid types. */
static size_t gguf_scalar_size(uint32_t t) {
    switch (t) {
    case GL_GGUF_UINT8: case GL_GGUF_INT8: case GL_GGUF_BOOL: return 1;
    case GL_GGUF_UINT16: case GL_GGUF_INT16: return 2;
    case GL_GGUF_UINT32: case GL_GGUF_INT32: case GL_GGUF_FLOAT32: return 4;
    case GL_GGUF_UINT64: case GL_GGUF_INT64: case GL_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* Copies at most GGUF_ERR_NAME bytes of s into out for an error message, replacing control
 * bytes so a hostile key cannot garble a terminal. */
static const char *gguf_quote(char out[GGUF_ERR_NAME + 8], const char *s, uint64_t len) {
    size_t n = len > GGUF_ERR_NAME ? GGUF_ERR_NAME : (size_t)len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
    return out;
}

static int gguf_str_cmp(gl_str a, gl_str b) {
    uint64_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.data, b.data, (size_t)m) : 0;
    if (c != 0) return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool gl_str_eq(gl_str s, const char *c) {
    if (!c) return false;
    size_t n = strlen(c);
    if (s.len != n) return false;
    return n == 0 || (s.data && memcmp(s.data, c, n) == 0);
}

/* A type we can hold in a file: a known id with a block layout. Quantized types edgelm cannot
 * compute with (Q4_K ... ) are still storable, so llama.cpp files load and `info` shows them. */
static const gl_type_traits *gguf_storable_type(uint32_t type) {
    if (type >= GL_TYPE_COUNT) return NULL;
    const gl_type_traits *tr = gl_type_get((int)type);
    if (!tr || !tr->known || tr->blck_size <= 0 || tr->type_size == 0) return NULL;
    return tr;
}

/* Checks the shape and type of a tensor and computes its byte size. Shared by the reader and
 * the writer so both enforce the same rules. Writes a message into msg on failure. */
static bool gguf_tensor_shape(const char *name, uint32_t type, int n_dims, const int64_t *ne,
                              uint64_t *nbytes, char *msg, size_t cap) {
    if (n_dims < 1 || n_dims > GL_MAX_DIMS) {
        snprintf(msg, cap, "tensor '%s': n_dims %d out of range 1..%d", name, n_dims, GL_MAX_DIMS);
        return false;
    }
    int64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) {
            snprintf(msg, cap, "tensor '%s': dimension %d is %lld (must be >= 1)", name, d,
                     (long long)ne[d]);
            return false;
        }
        if (nel > INT64_MAX / ne[d]) {
            snprintf(msg, cap, "tensor '%s': element count overflows int64", name);
            return false;
        }
        nel *= ne[d];
    }
    const gl_type_traits *tr = gguf_storable_type(type);
    if (!tr) {
        snprintf(msg, cap, "tensor '%s': unknown type id %u", name, type);
        return false;
    }
    if (ne[0] % tr->blck_size != 0) {
        snprintf(msg, cap, "tensor '%s': row of %lld elements is not a multiple of the %s block size %lld",
                 name, (long long)ne[0], tr->name ? tr->name : "?", (long long)tr->blck_size);
        return false;
    }
    /* bytes = blocks per row * block bytes * rows; every product checked */
    uint64_t row = (uint64_t)(ne[0] / tr->blck_size);
    uint64_t rows = (uint64_t)(nel / ne[0]);
    if (row > UINT64_MAX / tr->type_size || row * tr->type_size > UINT64_MAX / rows) {
        snprintf(msg, cap, "tensor '%s': byte size overflows", name);
        return false;
    }
    if (row * tr->type_size * rows > (uint64_t)SIZE_MAX) {
        snprintf(msg, cap, "tensor '%s': %llu bytes do not fit this process's address space (%u-bit build)",
                 name, (unsigned long long)(row * tr->type_size * rows), (unsigned)(sizeof(void *) * 8));
        return false;
    }
    *nbytes = row * tr->type_size * rows;
    return true;
}

/* ------------------------------------------------------------------------------------------
 * Reader state
 * ---------------------------------------------------------------------------------------- */

typedef struct gguf_kv {
    gl_str key;
    gl_gguf_type type;
    gl_gguf_type arr_type; /* arrays: element type */
    uint64_t n;            /* arrays: element count; strings: byte length */
    const uint8_t *val;    /* scalar bytes, string bytes, or the first array element */
    uint64_t str_first;    /* string arrays: first entry in gl_gguf.str_off */
} gguf_kv;

struct gl_gguf {
    const uint8_t *base;
    size_t size;
    void *map; /* non-NULL when we mmap-ed the file */
    uint32_t version;
    uint32_t alignment;
    size_t data_offset;
    int64_t n_kv;
    int64_t n_tensors;
    gguf_kv *kv;
    int64_t *kv_sorted; /* kv indices sorted by key, for lookup and the duplicate check */
    gl_gguf_tensor_info *ti;
    int64_t *ti_sorted; /* tensor indices sorted by name */
    uint64_t *str_off;  /* for every string-array element: its offset from the array's val */
    uint64_t n_str_off;
};

typedef struct gguf_rd {
    const uint8_t *p;
    size_t size;
    size_t pos;
    gl_error *err;
} gguf_rd;

static size_t gguf_rd_left(const gguf_rd *r) { return r->size - r->pos; }

static bool gguf_fail(gl_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool gguf_fail(gl_error *err, const char *fmt, ...) {
    char msg[GL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gl_error_set(err, GL_ERR_FORMAT, "gguf: %s", msg);
    return false;
}

/* Makes sure n more bytes exist; what names the field for the message. */
static bool gguf_rd_need(gguf_rd *r, uint64_t n, const char *what) {
    if (n > gguf_rd_left(r)) {
        return gguf_fail(r->err, "%s at byte %zu: %llu bytes needed, past the end of the file (%zu bytes)",
                         what, r->pos, (unsigned long long)n, r->size);
    }
    return true;
}

static bool gguf_rd_u32(gguf_rd *r, uint32_t *v, const char *what) {
    if (!gguf_rd_need(r, 4, what)) return false;
    *v = gguf_le32(r->p + r->pos);
    r->pos += 4;
    return true;
}

static bool gguf_rd_u64(gguf_rd *r, uint64_t *v, const char *what) {
    if (!gguf_rd_need(r, 8, what)) return false;
    *v = gguf_le64(r->p + r->pos);
    r->pos += 8;
    return true;
}

/* A length-prefixed string; its bytes must lie inside the file. */
static bool gguf_rd_str(gguf_rd *r, gl_str *s, const char *what) {
    uint64_t len;
    size_t at = r->pos;
    if (!gguf_rd_u64(r, &len, what)) return false;
    if (len > gguf_rd_left(r)) {
        return gguf_fail(r->err, "%s at byte %zu: length %llu runs past the end of the file (%zu bytes)",
                         what, at, (unsigned long long)len, r->size);
    }
    s->data = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += (size_t)len;
    return true;
}

/* ------------------------------------------------------------------------------------------
 * Sorting index arrays (heapsort: no allocation, O(n log n) even on hostile input)
 * ---------------------------------------------------------------------------------------- */

typedef int (*gguf_cmp_fn)(const gl_gguf *f, int64_t a, int64_t b);

static int gguf_cmp_key(const gl_gguf *f, int64_t a, int64_t b) {
    return gguf_str_cmp(f->kv[a].key, f->kv[b].key);
}

static int gguf_cmp_name(const gl_gguf *f, int64_t a, int64_t b) {
    return gguf_str_cmp(f->ti[a].name, f->ti[b].name);
}

static int gguf_cmp_offset(const gl_gguf *f, int64_t a, int64_t b) {
    uint64_t x = f->ti[a].offset, y = f->ti[b].offset;
    return x < y ? -1 : x > y ? 1 : (a < b ? -1 : a > b);
}

static void gguf_sift(int64_t *v, int64_t root, int64_t n, gguf_cmp_fn cmp, const gl_gguf *f) {
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cmp(f, v[child], v[child + 1]) < 0) child++;
        if (cmp(f, v[root], v[child]) >= 0) return;
        int64_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

static void gguf_sort(int64_t *v, int64_t n, gguf_cmp_fn cmp, const gl_gguf *f) {
    for (int64_t i = 0; i < n; i++) v[i] = i;
    for (int64_t i = n / 2 - 1; i >= 0; i--) gguf_sift(v, i, n, cmp, f);
    for (int64_t end = n - 1; end > 0; end--) {
        int64_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        gguf_sift(v, 0, end, cmp, f);
    }
}

/* ------------------------------------------------------------------------------------------
 * Parsing
 * ---------------------------------------------------------------------------------------- */

static bool gguf_parse_header(gl_gguf *f, gguf_rd *r, uint64_t *n_tensors, uint64_t *n_kv) {
    if (r->size < 4 || memcmp(r->p, "GGUF", 4) != 0) {
        if (r->size < 4) return gguf_rd_need(r, 4, "magic");
        return gguf_fail(r->err, "bad magic 0x%08x at byte 0 (not a GGUF file)", gguf_le32(r->p));
    }
    r->pos = 4;
    uint32_t v;
    if (!gguf_rd_u32(r, &v, "version")) return false;
    if (v == 0) return gguf_fail(r->err, "invalid version 0");
    if ((v & 0xFFFFu) == 0) {
        return gguf_fail(r->err, "version 0x%08x looks byte-swapped: file and host endianness differ", v);
    }
    if (v == 1) return gguf_fail(r->err, "version 1 is not supported (only 2 and 3)");
    if (v > 3) return gguf_fail(r->err, "version %u is not supported (newer than 3)", v);
    f->version = v;
    if (!gguf_rd_u64(r, n_tensors, "tensor count")) return false;
    if (!gguf_rd_u64(r, n_kv, "kv count")) return false;
    /* Bound both counts by the bytes their smallest records need: no allocation may follow
     * from a count the file cannot back. */
    uint64_t left = gguf_rd_left(r);
    if (*n_kv > left / GGUF_KV_MIN_BYTES) {
        return gguf_fail(r->err, "kv count %llu at byte 16 is impossible for a file of %zu bytes",
                         (unsigned long long)*n_kv, r->size);
    }
    left -= (size_t)*n_kv * GGUF_KV_MIN_BYTES;
    if (*n_tensors > left / GGUF_TI_MIN_BYTES) {
        return gguf_fail(r->err, "tensor count %llu at byte 8 is impossible for a file of %zu bytes",
                         (unsigned long long)*n_tensors, r->size);
    }
    return true;
}

/* One array value: element type, count and elements. */
static bool gguf_parse_array(gguf_rd *r, gguf_kv *kv, const char *key, uint64_t *n_str) {
    uint32_t et;
    uint64_t n;
    size_t at = r->pos;
    if (!gguf_rd_u32(r, &et, "array element type")) return false;
    if (et == GL_GGUF_ARRAY) {
        return gguf_fail(r->err, "key '%s': nested arrays are not supported (byte %zu)", key, at);
    }
    if (et >= GL_GGUF_TYPE_COUNT) {
        return gguf_fail(r->err, "key '%s': unknown array element type %u at byte %zu", key, et, at);
    }
    at = r->pos;
    if (!gguf_rd_u64(r, &n, "array count")) return false;
    kv->arr_type = (gl_gguf_type)et;
    kv->n = n;
    kv->val = r->p + r->pos;
    if (et == GL_GGUF_STRING) {
        /* every string takes at least its 8-byte length */
        if (n > gguf_rd_left(r) / 8) {
            return gguf_fail(r->err, "key '%s': string array of %llu elements at byte %zu runs past the end of the file",
                             key, (unsigned long long)n, at);
        }
        for (uint64_t j = 0; j < n; j++) {
            gl_str s;
            if (!gguf_rd_str(r, &s, "array string")) return false;
        }
        kv->str_first = *n_str;
        *n_str += n;
        return true;
    }
    size_t esz = gguf_scalar_size(et);
    /* n > left / esz also catches n * esz overflowing */
    if (n > gguf_rd_left(r) / esz) {
        return gguf_fail(r->err, "key '%s': array of %llu x %zu bytes at byte %zu runs past the end of the file",
                         key, (unsigned long long)n, esz, at);
    }
    if (et == GL_GGUF_BOOL) {
        for (uint64_t j = 0; j < n; j++) {
            uint8_t b = r->p[r->pos + j];
            if (b > 1) {
                return gguf_fail(r->err, "key '%s': bool value %u at byte %zu (must be 0 or 1)", key, b,
                                 r->pos + (size_t)j);
            }
        }
    }
    r->pos += (size_t)(n * esz);
    return true;
}

static bool gguf_parse_kv(gguf_rd *r, gguf_kv *kv, int64_t index, uint64_t *n_str) {
    char q[GGUF_ERR_NAME + 8];
    size_t at = r->pos;
    if (!gguf_rd_str(r, &kv->key, "key")) return false;
    if (kv->key.len == 0) return gguf_fail(r->err, "empty key at byte %zu (kv %lld)", at, (long long)index);
    if (kv->key.len > GGUF_MAX_KEY_LEN) {
        return gguf_fail(r->err, "key at byte %zu: length %llu exceeds %u", at,
                         (unsigned long long)kv->key.len, GGUF_MAX_KEY_LEN);
    }
    const char *key = gguf_quote(q, kv->key.data, kv->key.len);
    uint32_t t;
    at = r->pos;
    if (!gguf_rd_u32(r, &t, "value type")) return false;
    if (t >= GL_GGUF_TYPE_COUNT) {
        return gguf_fail(r->err, "key '%s': unknown value type %u at byte %zu", key, t, at);
    }
    kv->type = (gl_gguf_type)t;
    kv->arr_type = GL_GGUF_TYPE_COUNT;
    if (t == GL_GGUF_STRING) {
        gl_str s;
        if (!gguf_rd_str(r, &s, "string value")) return false;
        kv->val = (const uint8_t *)s.data;
        kv->n = s.len;
        return true;
    }
    if (t == GL_GGUF_ARRAY) return gguf_parse_array(r, kv, key, n_str);
    size_t sz = gguf_scalar_size(t);
    at = r->pos;
    if (!gguf_rd_need(r, sz, "value")) return false;
    kv->val = r->p + r->pos;
    kv->n = 0;
    if (t == GL_GGUF_BOOL && kv->val[0] > 1) {
        return gguf_fail(r->err, "key '%s': bool value %u at byte %zu (must be 0 or 1)", key, kv->val[0], at);
    }
    r->pos += sz;
    return true;
}

/* Fills str_off with the offset of every string-array element (already validated). */
static void gguf_index_strings(gl_gguf *f) {
    for (int64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (kv->type != GL_GGUF_ARRAY || kv->arr_type != GL_GGUF_STRING) continue;
        uint64_t off = 0;
        for (uint64_t j = 0; j < kv->n; j++) {
            f->str_off[kv->str_first + j] = off;
            off += 8 + gguf_le64(kv->val + off);
        }
    }
}

static bool gguf_check_alignment(gl_gguf *f, gl_error *err) {
    f->alignment = GL_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gl_gguf_find_key(f, "general.alignment");
    if (i < 0) return true;
    const gguf_kv *kv = &f->kv[i];
    if (kv->type != GL_GGUF_UINT32) {
        return gguf_fail(err, "general.alignment must be uint32, not %s", gl_gguf_type_name(kv->type));
    }
    uint32_t a = gguf_le32(kv->val);
    if (!gguf_is_pow2(a)) return gguf_fail(err, "general.alignment %u is not a non-zero power of two", a);
    f->alignment = a;
    return true;
}

static bool gguf_parse_tensor_info(gl_gguf *f, gguf_rd *r, int64_t index) {
    gl_gguf_tensor_info *ti = &f->ti[index];
    char q[GGUF_ERR_NAME + 8], msg[GL_ERR_MAX - 8];
    size_t at = r->pos;
    uint64_t len;
    if (!gguf_rd_u64(r, &len, "tensor name length")) return false;
    if (len == 0) return gguf_fail(r->err, "tensor %lld at byte %zu: empty name", (long long)index, at);
    if (len >= GL_MAX_NAME) {
        return gguf_fail(r->err, "tensor %lld at byte %zu: name length %llu too long (at most %d bytes)",
                         (long long)index, at, (unsigned long long)len, GL_MAX_NAME - 1);
    }
    if (!gguf_rd_need(r, len, "tensor name")) return false;
    ti->name.data = (const char *)r->p + r->pos;
    ti->name.len = len;
    r->pos += (size_t)len;
    const char *name = gguf_quote(q, ti->name.data, len);

    uint32_t n_dims, type;
    at = r->pos;
    if (!gguf_rd_u32(r, &n_dims, "tensor n_dims")) return false;
    if (n_dims < 1 || n_dims > GL_MAX_DIMS) {
        return gguf_fail(r->err, "tensor '%s': n_dims %u at byte %zu out of range 1..%d", name, n_dims, at,
                         GL_MAX_DIMS);
    }
    ti->n_dims = (int)n_dims;
    for (int d = 0; d < GL_MAX_DIMS; d++) ti->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t v;
        if (!gguf_rd_u64(r, &v, "tensor dimension")) return false;
        memcpy(&ti->ne[d], &v, sizeof v); /* read as int64: negative values are rejected below */
    }
    at = r->pos;
    if (!gguf_rd_u32(r, &type, "tensor type")) return false;
    if (!gguf_tensor_shape(name, type, ti->n_dims, ti->ne, &ti->nbytes, msg, sizeof msg)) {
        return gguf_fail(r->err, "%s (tensor info at byte %zu)", msg, at);
    }
    ti->type = (gl_type)type;
    at = r->pos;
    if (!gguf_rd_u64(r, &ti->offset, "tensor offset")) return false;
    if (ti->offset % f->alignment != 0) {
        return gguf_fail(r->err, "tensor '%s': offset %llu at byte %zu is not a multiple of the alignment %u",
                         name, (unsigned long long)ti->offset, at, f->alignment);
    }
    return true;
}

/* Data: inside the file, no two tensors overlapping. ti_sorted is used as scratch here. */
static bool gguf_check_data(gl_gguf *f, gl_error *err) {
    char q1[GGUF_ERR_NAME + 8], q2[GGUF_ERR_NAME + 8];
    size_t avail = f->size - f->data_offset;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gl_gguf_tensor_info *ti = &f->ti[i];
        if (ti->offset > avail || ti->nbytes > avail - ti->offset) {
            return gguf_fail(err, "tensor '%s': data [%llu, +%llu) runs past the end of the file (data section of %zu bytes at byte %zu)",
                             gguf_quote(q1, ti->name.data, ti->name.len), (unsigned long long)ti->offset,
                             (unsigned long long)ti->nbytes, avail, f->data_offset);
        }
        ti->data = f->base + f->data_offset + ti->offset;
    }
    gguf_sort(f->ti_sorted, f->n_tensors, gguf_cmp_offset, f);
    for (int64_t k = 1; k < f->n_tensors; k++) {
        const gl_gguf_tensor_info *a = &f->ti[f->ti_sorted[k - 1]], *b = &f->ti[f->ti_sorted[k]];
        if (a->offset + a->nbytes > b->offset) {
            return gguf_fail(err, "tensors '%s' and '%s' overlap (data [%llu, %llu) and [%llu, ...))",
                             gguf_quote(q1, a->name.data, a->name.len), gguf_quote(q2, b->name.data, b->name.len),
                             (unsigned long long)a->offset, (unsigned long long)(a->offset + a->nbytes),
                             (unsigned long long)b->offset);
        }
    }
    return true;
}

static bool gguf_check_duplicates(gl_gguf *f, gl_error *err) {
    char q[GGUF_ERR_NAME + 8];
    gguf_sort(f->kv_sorted, f->n_kv, gguf_cmp_key, f);
    for (int64_t k = 1; k < f->n_kv; k++) {
        if (gguf_cmp_key(f, f->kv_sorted[k - 1], f->kv_sorted[k]) == 0) {
            const gl_str s = f->kv[f->kv_sorted[k]].key;
            return gguf_fail(err, "duplicate key '%s'", gguf_quote(q, s.data, s.len));
        }
    }
    return true;
}

static bool gguf_check_duplicate_names(gl_gguf *f, gl_error *err) {
    char q[GGUF_ERR_NAME + 8];
    gguf_sort(f->ti_sorted, f->n_tensors, gguf_cmp_name, f);
    for (int64_t k = 1; k < f->n_tensors; k++) {
        if (gguf_cmp_name(f, f->ti_sorted[k - 1], f->ti_sorted[k]) == 0) {
            const gl_str s = f->ti[f->ti_sorted[k]].name;
            return gguf_fail(err, "duplicate tensor name '%s'", gguf_quote(q, s.data, s.len));
        }
    }
    return true;
}

/* One allocation for the kv and tensor tables; counts were bounded by the file size. */
static bool gguf_alloc_tables(gl_gguf *f, uint64_t n_kv, uint64_t n_t, gl_error *err) {
    const size_t kv_sz = sizeof(gguf_kv) + sizeof(int64_t);
    const size_t ti_sz = sizeof(gl_gguf_tensor_info) + sizeof(int64_t);
    if (n_kv > SIZE_MAX / 2 / kv_sz || n_t > SIZE_MAX / 2 / ti_sz) {
        gl_error_set(err, GL_ERR_NOMEM, "gguf: tables for %llu kvs and %llu tensors do not fit in memory",
                     (unsigned long long)n_kv, (unsigned long long)n_t);
        return false;
    }
    size_t total = (size_t)n_kv * kv_sz + (size_t)n_t * ti_sz;
    uint8_t *mem = GL_CALLOC(1, total ? total : 1);
    if (!mem) {
        gl_error_set(err, GL_ERR_NOMEM, "gguf: out of memory for %zu bytes of tables", total);
        return false;
    }
    /* largest alignment first: the structs (8-byte members), then the index arrays */
    f->kv = (gguf_kv *)mem;
    f->ti = (gl_gguf_tensor_info *)(mem + (size_t)n_kv * sizeof(gguf_kv));
    f->kv_sorted = (int64_t *)(mem + (size_t)n_kv * sizeof(gguf_kv) + (size_t)n_t * sizeof(gl_gguf_tensor_info));
    f->ti_sorted = f->kv_sorted + n_kv;
    f->n_kv = (int64_t)n_kv;
    f->n_tensors = (int64_t)n_t;
    return true;
}

static bool gguf_parse(gl_gguf *f, gl_error *err) {
    gguf_rd r = {f->base, f->size, 0, err};
    uint64_t n_t, n_kv, n_str = 0;
    if (!gguf_parse_header(f, &r, &n_t, &n_kv)) return false;
    if (!gguf_alloc_tables(f, n_kv, n_t, err)) return false;
    for (int64_t i = 0; i < f->n_kv; i++) {
        if (!gguf_parse_kv(&r, &f->kv[i], i, &n_str)) return false;
    }
    if (n_str > 0) {
        /* each element used at least 8 bytes of the file, so this count is bounded too */
        f->str_off = GL_MALLOC((size_t)n_str * sizeof(uint64_t));
        if (!f->str_off) {
            gl_error_set(err, GL_ERR_NOMEM, "gguf: out of memory indexing %llu strings", (unsigned long long)n_str);
            return false;
        }
        f->n_str_off = n_str;
        gguf_index_strings(f);
    }
    if (!gguf_check_duplicates(f, err)) return false;
    if (!gguf_check_alignment(f, err)) return false;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        if (!gguf_parse_tensor_info(f, &r, i)) return false;
    }
    if (!gguf_check_duplicate_names(f, err)) return false;
    /* The data section starts at the next multiple of the alignment. A file without tensors
     * may end before that padding. */
    uint64_t data = ((uint64_t)r.pos + f->alignment - 1) & ~((uint64_t)f->alignment - 1);
    if (data > f->size) {
        if (f->n_tensors > 0) {
            return gguf_fail(err, "data section at byte %llu starts past the end of the file (%zu bytes)",
                             (unsigned long long)data, f->size);
        }
        data = f->size;
    }
    f->data_offset = (size_t)data;
    if (!gguf_check_data(f, err)) return false;
    /* ti_sorted served as scratch for the overlap check: sort by name again for lookups */
    gguf_sort(f->ti_sorted, f->n_tensors, gguf_cmp_name, f);
    return true;
}

/* ------------------------------------------------------------------------------------------
 * Open / close
 * ---------------------------------------------------------------------------------------- */

/* Gives back the memory gl_gguf_open took for a file: its mapping, or (GL_NO_MMAP) its copy. */
static void gguf_release_file(void *map, size_t size) {
#if defined(GL_NO_STDIO)
    (void)map;
    (void)size;
#elif defined(GL_NO_MMAP)
    (void)size;
    GL_FREE(map);
#else
    munmap(map, size);
#endif
}

static gl_gguf *gguf_open_memory(const void *buf, size_t size, void *map, gl_error *err) {
    gl_gguf *f = GL_CALLOC(1, sizeof *f);
    if (!f) {
        if (map) gguf_release_file(map, size);
        gl_error_set(err, GL_ERR_NOMEM, "gguf: out of memory");
        return NULL;
    }
    f->base = buf;
    f->size = size;
    f->map = map;
    f->alignment = GL_GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_parse(f, err)) {
        gl_gguf_close(f);
        return NULL;
    }
    return f;
}

gl_gguf *gl_gguf_open_buffer(const void *buf, size_t size, gl_error *err) {
    if (!buf && size > 0) {
        gl_error_set(err, GL_ERR_INVALID, "gguf: NULL buffer of %zu bytes", size);
        return NULL;
    }
    if (size == 0) {
        gl_error_set(err, GL_ERR_FORMAT, "gguf: empty buffer (not a GGUF file)");
        return NULL;
    }
    return gguf_open_memory(buf, size, NULL, err);
}

#if defined(GL_NO_STDIO)
gl_status gl_map_file(const char *path, const char *who, void **base, size_t *size, gl_error *err) {
    *base = NULL;
    *size = 0;
    return gl_error_set(err, GL_ERR_UNSUPPORTED, "%s: cannot open '%s': built without file access (GL_NO_STDIO)",
                        who, path ? path : "(null)");
}
#else
#if defined(GL_NO_MMAP)
/* Reads size bytes of fd into a new buffer (*out), page-aligned as a mapping would be, so that
 * tensor data keeps the alignment the file promises. */
#define GGUF_READ_ALIGN 4096u
static gl_status gguf_read_all(int fd, size_t size, const char *who, const char *path, void **out, gl_error *err) {
    uint8_t *buf = size <= SIZE_MAX - GGUF_READ_ALIGN ? GL_ALIGNED_ALLOC(GGUF_READ_ALIGN, GL_PAD(size, GGUF_READ_ALIGN)) : NULL;
    if (!buf) return gl_error_set(err, GL_ERR_NOMEM, "%s: out of memory reading '%s' (%zu bytes)", who, path, size);
    size_t done = 0;
    while (done < size) {
        ssize_t k = read(fd, buf + done, size - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            gl_status st = gl_error_set(err, GL_ERR_IO, "%s: cannot read '%s': %s", who, path,
                                        k < 0 ? strerror(errno) : "file shrank while reading");
            GL_FREE(buf);
            return st;
        }
        done += (size_t)k;
    }
    *out = buf;
    return GL_OK;
}
#endif

/* One message for a file that cannot be mapped because it is larger than what this process can
 * address (a 32-bit build: about 2-3 GB usable). */
static gl_status gguf_map_too_big(gl_error *err, const char *who, const char *path, uint64_t bytes) {
    return gl_error_set(err, GL_ERR_NOMEM,
                        "%s: '%s' (%llu MB) does not fit this process's address space (%u-bit build); "
                        "use a smaller model or a 64-bit system",
                        who, path, (unsigned long long)(bytes >> 20), (unsigned)(sizeof(void *) * 8));
}

gl_status gl_map_file(const char *path, const char *who, void **base, size_t *size, gl_error *err) {
    *base = NULL;
    *size = 0;
    if (!path) return gl_error_set(err, GL_ERR_INVALID, "%s: NULL path", who);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gl_error_set(err, GL_ERR_IO, "%s: cannot open '%s': %s", who, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return gl_error_set(err, GL_ERR_IO, "%s: cannot stat '%s': %s", who, path, strerror(saved));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return gl_error_set(err, GL_ERR_IO, "%s: '%s' is not a regular file", who, path);
    }
    if (st.st_size <= 0) {
        close(fd);
        return gl_error_set(err, GL_ERR_FORMAT, "%s: '%s' is empty", who, path);
    }
    /* off_t is 64-bit (_FILE_OFFSET_BITS=64); size_t may be 32-bit */
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return gguf_map_too_big(err, who, path, (uint64_t)st.st_size);
    }
#if defined(GL_NO_MMAP)
    void *map = NULL;
    gl_status rst = gguf_read_all(fd, (size_t)st.st_size, who, path, &map, err);
    close(fd);
    if (rst != GL_OK) return rst;
#else
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        if (saved == ENOMEM && sizeof(void *) < 8) return gguf_map_too_big(err, who, path, (uint64_t)st.st_size);
        return gl_error_set(err, GL_ERR_IO, "%s: cannot mmap '%s': %s", who, path, strerror(saved));
    }
#endif
    *base = map;
    *size = (size_t)st.st_size;
    return GL_OK;
}
#endif /* GL_NO_STDIO */

void gl_unmap_file(void *base, size_t size) {
    if (base) gguf_release_file(base, size);
}

bool gl_gguf_release_pages(const gl_gguf *f, const void *p, size_t n) {
#if defined(GL_NO_MMAP) || defined(GL_NO_STDIO) || !defined(MADV_DONTNEED)
    /* A heap copy of the file (or none), or a strict POSIX build (the amalgamation without
     * _GNU_SOURCE: no madvise): nothing given back. */
    (void)f;
    (void)p;
    (void)n;
    return false;
#else
    if (!f || !f->map || !p || n == 0) return false;
    const uintptr_t base = (uintptr_t)f->map, a = (uintptr_t)p;
    if (a < base || n > f->size || a - base > f->size - n) return false;
    const long ps = sysconf(_SC_PAGESIZE);
    const uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    const uintptr_t lo = (a + page - 1) / page * page, hi = (a + n) / page * page;
    if (hi <= lo) return false;
    /* Locked pages (gl_gguf_mlock) cannot be dropped: unlock them first (a no-op otherwise).
     * A private, never-written file mapping: dropped pages fault back in from the file. */
    munlock((void *)lo, hi - lo);
    return madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0;
#endif
}

gl_status gl_gguf_mlock(const gl_gguf *f, gl_error *err) {
    if (!f) return gl_error_set(err, GL_ERR_INVALID, "gguf: NULL file");
    if (!f->map) return GL_OK; /* a caller's buffer: the caller decides */
#if defined(GL_NO_STDIO) || defined(GL_NO_MMAP)
    return GL_OK; /* a heap copy (GL_NO_MMAP): no mlock without <sys/mman.h>; nothing locked */
#else
    if (mlock(f->map, f->size) != 0)
        return gl_error_set(err, GL_ERR_NOMEM, "cannot lock the %zu MB model file in memory: %s "
                            "(raise the locked-memory limit, ulimit -l)", f->size >> 20, strerror(errno));
    return GL_OK;
#endif
}

gl_gguf *gl_gguf_open(const char *path, gl_error *err) {
    void *map;
    size_t size;
    gl_error e = {0};
    if (gl_map_file(path, "gguf", &map, &size, &e) != GL_OK) {
        if (e.code == GL_ERR_FORMAT) /* empty */
            gl_error_set(err, GL_ERR_FORMAT, "%s (not a GGUF file)", e.msg);
        else
            gl_error_set(err, e.code, "%s", e.msg);
        return NULL;
    }
    return gguf_open_memory(map, size, map, err);
}

void gl_gguf_close(gl_gguf *f) {
    if (!f) return;
    gl_unmap_file(f->map, f->size);
    GL_FREE(f->kv); /* the start of the table allocation */
    GL_FREE(f->str_off);
    GL_FREE(f);
}

/* ------------------------------------------------------------------------------------------
 * Accessors: every index is checked; bad ones give empty / false / -1 / GL_GGUF_TYPE_COUNT.
 * ---------------------------------------------------------------------------------------- */

static const gguf_kv *gguf_kv_at(const gl_gguf *f, int64_t i) {
    return f && i >= 0 && i < f->n_kv ? &f->kv[i] : NULL;
}

static const gl_str gguf_empty = {"", 0};

uint32_t gl_gguf_version(const gl_gguf *f) { return f ? f->version : 0; }
uint32_t gl_gguf_alignment(const gl_gguf *f) { return f ? f->alignment : 0; }
size_t gl_gguf_file_size(const gl_gguf *f) { return f ? f->size : 0; }
size_t gl_gguf_data_offset(const gl_gguf *f) { return f ? f->data_offset : 0; }
int64_t gl_gguf_n_kv(const gl_gguf *f) { return f ? f->n_kv : 0; }
int64_t gl_gguf_n_tensors(const gl_gguf *f) { return f ? f->n_tensors : 0; }

/* Binary search over an index sorted by the strings get() returns. */
static int64_t gguf_search(const gl_gguf *f, const int64_t *sorted, int64_t n, const char *s,
                           gl_str (*get)(const gl_gguf *, int64_t)) {
    if (!f || !s) return -1;
    gl_str want = {s, strlen(s)};
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = gguf_str_cmp(get(f, sorted[mid]), want);
        if (c == 0) return sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static gl_str gguf_get_key(const gl_gguf *f, int64_t i) { return f->kv[i].key; }
static gl_str gguf_get_name(const gl_gguf *f, int64_t i) { return f->ti[i].name; }

int64_t gl_gguf_find_key(const gl_gguf *f, const char *key) {
    return f ? gguf_search(f, f->kv_sorted, f->n_kv, key, gguf_get_key) : -1;
}

int64_t gl_gguf_find_tensor(const gl_gguf *f, const char *name) {
    return f ? gguf_search(f, f->ti_sorted, f->n_tensors, name, gguf_get_name) : -1;
}

gl_str gl_gguf_key(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    return kv ? kv->key : gguf_empty;
}

gl_gguf_type gl_gguf_kv_type(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    return kv ? kv->type : GL_GGUF_TYPE_COUNT;
}

gl_gguf_type gl_gguf_arr_type(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    return kv && kv->type == GL_GGUF_ARRAY ? kv->arr_type : GL_GGUF_TYPE_COUNT;
}

uint64_t gl_gguf_arr_n(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    return kv && kv->type == GL_GGUF_ARRAY ? kv->n : 0;
}

const void *gl_gguf_arr_data(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    if (!kv || kv->type != GL_GGUF_ARRAY || kv->arr_type == GL_GGUF_STRING) return NULL;
    return kv->val;
}

gl_str gl_gguf_arr_str(const gl_gguf *f, int64_t i, uint64_t j) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    if (!kv || kv->type != GL_GGUF_ARRAY || kv->arr_type != GL_GGUF_STRING || j >= kv->n) return gguf_empty;
    const uint8_t *p = kv->val + f->str_off[kv->str_first + j];
    gl_str s = {(const char *)p + 8, gguf_le64(p)};
    return s;
}

gl_str gl_gguf_get_str(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    if (!kv || kv->type != GL_GGUF_STRING) return gguf_empty;
    gl_str s = {(const char *)kv->val, kv->n};
    return s;
}

/* A decoded number: which family it belongs to decides which getters accept it. */
typedef enum { GGUF_NUM_U, GGUF_NUM_I, GGUF_NUM_F, GGUF_NUM_BOOL, GGUF_NUM_NONE } gguf_num_kind;
typedef struct gguf_num {
    gguf_num_kind kind;
    uint64_t u;
    int64_t i;
    double d;
} gguf_num;

static gguf_num gguf_decode(gl_gguf_type t, const uint8_t *p) {
    gguf_num n = {GGUF_NUM_NONE, 0, 0, 0.0};
    switch (t) {
    case GL_GGUF_UINT8: n.kind = GGUF_NUM_U; n.u = p[0]; break;
    case GL_GGUF_UINT16: n.kind = GGUF_NUM_U; n.u = (uint64_t)p[0] | (uint64_t)p[1] << 8; break;
    case GL_GGUF_UINT32: n.kind = GGUF_NUM_U; n.u = gguf_le32(p); break;
    case GL_GGUF_UINT64: n.kind = GGUF_NUM_U; n.u = gguf_le64(p); break;
    case GL_GGUF_INT8: n.kind = GGUF_NUM_I; n.i = (int8_t)p[0]; break;
    case GL_GGUF_INT16: n.kind = GGUF_NUM_I; n.i = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case GL_GGUF_INT32: n.kind = GGUF_NUM_I; n.i = (int32_t)gguf_le32(p); break;
    case GL_GGUF_INT64: n.kind = GGUF_NUM_I; n.i = (int64_t)gguf_le64(p); break;
    case GL_GGUF_FLOAT32: {
        uint32_t b = gguf_le32(p);
        float v;
        memcpy(&v, &b, 4);
        n.kind = GGUF_NUM_F;
        n.d = v;
        break;
    }
    case GL_GGUF_FLOAT64: {
        uint64_t b = gguf_le64(p);
        memcpy(&n.d, &b, 8);
        n.kind = GGUF_NUM_F;
        break;
    }
    case GL_GGUF_BOOL: n.kind = GGUF_NUM_BOOL; n.u = p[0]; break;
    default: break;
    }
    if (n.kind == GGUF_NUM_U || n.kind == GGUF_NUM_BOOL) n.d = (double)n.u;
    if (n.kind == GGUF_NUM_I) n.d = (double)n.i;
    return n;
}

static gguf_num gguf_scalar(const gl_gguf *f, int64_t i) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    gguf_num none = {GGUF_NUM_NONE, 0, 0, 0.0};
    if (!kv || kv->type == GL_GGUF_STRING || kv->type == GL_GGUF_ARRAY) return none;
    return gguf_decode(kv->type, kv->val);
}

static gguf_num gguf_element(const gl_gguf *f, int64_t i, uint64_t j) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    gguf_num none = {GGUF_NUM_NONE, 0, 0, 0.0};
    if (!kv || kv->type != GL_GGUF_ARRAY || kv->arr_type == GL_GGUF_STRING || j >= kv->n) return none;
    return gguf_decode(kv->arr_type, kv->val + j * gguf_scalar_size(kv->arr_type));
}

/* Unsigned from any integer that is >= 0. */
static bool gguf_num_u64(gguf_num n, uint64_t *out) {
    if (n.kind == GGUF_NUM_U) *out = n.u;
    else if (n.kind == GGUF_NUM_I && n.i >= 0) *out = (uint64_t)n.i;
    else return false;
    return true;
}

/* Signed from any integer that fits; bool (as 0/1) only when allow_bool. */
static bool gguf_num_i64(gguf_num n, bool allow_bool, int64_t *out) {
    if (n.kind == GGUF_NUM_I) *out = n.i;
    else if (n.kind == GGUF_NUM_U && n.u <= (uint64_t)INT64_MAX) *out = (int64_t)n.u;
    else if (allow_bool && n.kind == GGUF_NUM_BOOL) *out = (int64_t)n.u;
    else return false;
    return true;
}

bool gl_gguf_get_u64(const gl_gguf *f, int64_t i, uint64_t *out) {
    uint64_t v;
    if (!out || !gguf_num_u64(gguf_scalar(f, i), &v)) return false;
    *out = v;
    return true;
}

bool gl_gguf_get_i64(const gl_gguf *f, int64_t i, int64_t *out) {
    int64_t v;
    if (!out || !gguf_num_i64(gguf_scalar(f, i), false, &v)) return false;
    *out = v;
    return true;
}

bool gl_gguf_get_f64(const gl_gguf *f, int64_t i, double *out) {
    gguf_num n = gguf_scalar(f, i);
    if (!out || n.kind == GGUF_NUM_NONE || n.kind == GGUF_NUM_BOOL) return false;
    *out = n.d;
    return true;
}

bool gl_gguf_get_bool(const gl_gguf *f, int64_t i, bool *out) {
    gguf_num n = gguf_scalar(f, i);
    if (!out || n.kind != GGUF_NUM_BOOL) return false;
    *out = n.u != 0;
    return true;
}

bool gl_gguf_arr_get_f64(const gl_gguf *f, int64_t i, uint64_t j, double *out) {
    gguf_num n = gguf_element(f, i, j);
    if (!out || n.kind == GGUF_NUM_NONE) return false;
    *out = n.d;
    return true;
}

/* Integer and bool arrays; a float array gives false (no silent truncation). */
bool gl_gguf_arr_get_i64(const gl_gguf *f, int64_t i, uint64_t j, int64_t *out) {
    int64_t v;
    if (!out || !gguf_num_i64(gguf_element(f, i, j), true, &v)) return false;
    *out = v;
    return true;
}

const gl_gguf_tensor_info *gl_gguf_tensor(const gl_gguf *f, int64_t i) {
    return f && i >= 0 && i < f->n_tensors ? &f->ti[i] : NULL;
}

const char *gl_gguf_type_name(gl_gguf_type t) {
    static const char *const names[GL_GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    return (unsigned)t < GL_GGUF_TYPE_COUNT ? names[t] : "?";
}

/* ------------------------------------------------------------------------------------------
 * Writer
 * ---------------------------------------------------------------------------------------- */

typedef struct gguf_buf {
    uint8_t *p;
    size_t n, cap;
} gguf_buf;

typedef struct gguf_wtensor {
    char name[GL_MAX_NAME];
    size_t name_len;
    int n_dims;
    int64_t ne[GL_MAX_DIMS];
    gl_type type;
    uint64_t nbytes;
    uint64_t offset; /* set when the header is written */
} gguf_wtensor;

typedef struct gguf_wkey {
    size_t off; /* of the key bytes inside the kv buffer */
    size_t len;
} gguf_wkey;

struct gl_gguf_writer {
    gl_write_fn fn;
    void *user;
    int fd;     /* file mode: our descriptor, else -1 */
    char *path; /* file mode: the target, renamed onto from tmp when complete */
    char *tmp;  /* file mode: the temporary file being written (removed on failure) */
    uint32_t alignment;
    gguf_buf kv;   /* serialized kv pairs */
    gguf_buf keys; /* gguf_wkey per kv, for the duplicate check */
    uint64_t n_kv;
    gguf_buf tensors; /* gguf_wtensor per declared tensor */
    int64_t n_tensors;
    bool header_done;
    int64_t cur;       /* tensor whose data is streaming */
    uint64_t cur_done; /* bytes of it written */
    gl_status status;
    char msg[GL_ERR_MAX];
    gl_space_fn on_size; /* gl_gguf_writer_on_size */
    void *on_size_user;
};

void gl_gguf_writer_on_size(gl_gguf_writer *w, gl_space_fn fn, void *user) {
    if (!w) return;
    w->on_size = fn;
    w->on_size_user = user;
}

static gl_status gguf_w_fail(gl_gguf_writer *w, gl_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Records the first error; later calls return it untouched. */
static gl_status gguf_w_fail(gl_gguf_writer *w, gl_status code, const char *fmt, ...) {
    if (w->status != GL_OK) return w->status;
    static const char prefix[] = "gguf writer: ";
    memcpy(w->msg, prefix, sizeof prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg + sizeof prefix - 1, sizeof w->msg - (sizeof prefix - 1), fmt, ap);
    va_end(ap);
    w->status = code;
    return code;
}

static bool gguf_buf_put(gguf_buf *b, const void *p, size_t n) {
    if (n > SIZE_MAX / 2 - b->n) return false;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = GL_REALLOC(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    return true;
}

static bool gguf_buf_u32(gguf_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return gguf_buf_put(b, x, 4);
}

static bool gguf_buf_u64(gguf_buf *b, uint64_t v) {
    return gguf_buf_u32(b, (uint32_t)v) && gguf_buf_u32(b, (uint32_t)(v >> 32));
}

static bool gguf_buf_str(gguf_buf *b, const char *s, uint64_t len) {
    return len <= SIZE_MAX && gguf_buf_u64(b, len) && gguf_buf_put(b, s, (size_t)len);
}

#if !defined(GL_NO_STDIO)
static size_t gguf_fd_write(void *user, const void *buf, size_t n) {
    const gl_gguf_writer *w = user;
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(w->fd, p + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        done += (size_t)k;
    }
    return done;
}
#endif

static gl_status gguf_w_out(gl_gguf_writer *w, const void *p, size_t n) {
    if (n == 0) return GL_OK;
    if (w->fn(w->user, p, n) != n) return gguf_w_fail(w, GL_ERR_IO, "write of %zu bytes failed", n);
    return GL_OK;
}

static gl_status gguf_w_zeros(gl_gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (gguf_w_out(w, zeros, k) != GL_OK) return w->status;
        n -= k;
    }
    return GL_OK;
}

static gl_gguf_writer *gguf_w_new(gl_error *err) {
    gl_gguf_writer *w = GL_CALLOC(1, sizeof *w);
    if (!w) {
        gl_error_set(err, GL_ERR_NOMEM, "gguf writer: out of memory");
        return NULL;
    }
    w->fd = -1;
    w->alignment = GL_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

gl_gguf_writer *gl_gguf_writer_open_cb(gl_write_fn fn, void *user, gl_error *err) {
    if (!fn) {
        gl_error_set(err, GL_ERR_INVALID, "gguf writer: NULL write callback");
        return NULL;
    }
    gl_gguf_writer *w = gguf_w_new(err);
    if (!w) return NULL;
    w->fn = fn;
    w->user = user;
    return w;
}

#if defined(GL_NO_STDIO)
gl_gguf_writer *gl_gguf_writer_open(const char *path, gl_error *err) {
    gl_error_set(err, GL_ERR_UNSUPPORTED, "gguf writer: cannot create '%s': built without file access (GL_NO_STDIO); use gl_gguf_writer_open_cb",
                 path ? path : "(null)");
    return NULL;
}
#else
gl_gguf_writer *gl_gguf_writer_open(const char *path, gl_error *err) {
    if (!path) {
        gl_error_set(err, GL_ERR_INVALID, "gguf writer: NULL path");
        return NULL;
    }
    gl_gguf_writer *w = gguf_w_new(err);
    if (!w) return NULL;
    w->path = GL_MALLOC(strlen(path) + 1);
    if (!w->path) {
        GL_FREE(w);
        gl_error_set(err, GL_ERR_NOMEM, "gguf writer: out of memory");
        return NULL;
    }
    strcpy(w->path, path);
    const size_t tn = strlen(path) + 64;
    w->tmp = GL_MALLOC(tn);
    if (!w->tmp) {
        GL_FREE(w->path);
        GL_FREE(w);
        gl_error_set(err, GL_ERR_NOMEM, "gguf writer: out of memory");
        return NULL;
    }
    if (!gl_tmp_path(path, w->tmp, tn)) { /* a device or a pipe: written in place */
        GL_FREE(w->tmp);
        w->tmp = NULL;
    }
    const char *name = w->tmp ? w->tmp : path;
    w->fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        gl_error_set(err, GL_ERR_IO, "gguf writer: cannot create '%s': %s", name, strerror(errno));
        GL_FREE(w->tmp);
        GL_FREE(w->path);
        GL_FREE(w);
        return NULL;
    }
    w->fn = gguf_fd_write;
    w->user = w;
    return w;
}
#endif /* GL_NO_STDIO */

/* Common entry checks of the kv functions: writer usable, key valid and new. */
static gl_status gguf_w_key(gl_gguf_writer *w, const char *key) {
    if (w->status != GL_OK) return w->status;
    if (w->header_done) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s' added after tensor data", key ? key : "");
    if (!key || !*key) return gguf_w_fail(w, GL_ERR_INVALID, "empty key");
    size_t len = strlen(key);
    if (len > GGUF_MAX_KEY_LEN) return gguf_w_fail(w, GL_ERR_INVALID, "key of %zu bytes exceeds %u", len, GGUF_MAX_KEY_LEN);
    const gguf_wkey *keys = (const gguf_wkey *)w->keys.p;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (keys[i].len == len && memcmp(w->kv.p + keys[i].off, key, len) == 0) {
            return gguf_w_fail(w, GL_ERR_INVALID, "duplicate key '%.*s'", GGUF_ERR_NAME, key);
        }
    }
    return GL_OK;
}

/* Appends key + value type; the caller appends the value and calls gguf_w_kv_done. */
static gl_status gguf_w_kv_begin(gl_gguf_writer *w, const char *key, gl_gguf_type type) {
    gguf_wkey k = {w->kv.n + 8, strlen(key)};
    if (!gguf_buf_str(&w->kv, key, k.len) || !gguf_buf_u32(&w->kv, (uint32_t)type) ||
        !gguf_buf_put(&w->keys, &k, sizeof k)) {
        return gguf_w_fail(w, GL_ERR_NOMEM, "out of memory");
    }
    return GL_OK;
}

static gl_status gguf_w_kv_done(gl_gguf_writer *w, bool ok) {
    if (!ok) return gguf_w_fail(w, GL_ERR_NOMEM, "out of memory");
    w->n_kv++;
    return GL_OK;
}

/* Host value of a scalar type to its little-endian bytes. */
static void gguf_encode_scalar(gl_gguf_type type, const void *val, uint8_t out[8]) {
    size_t sz = gguf_scalar_size(type);
    uint64_t v = 0;
    switch (sz) {
    case 1: { uint8_t x; memcpy(&x, val, 1); v = x; break; }
    case 2: { uint16_t x; memcpy(&x, val, 2); v = x; break; }
    case 4: { uint32_t x; memcpy(&x, val, 4); v = x; break; }
    default: memcpy(&v, val, 8); break;
    }
    for (size_t i = 0; i < sz; i++) out[i] = (uint8_t)(v >> (8 * i));
}

gl_status gl_gguf_w_kv(gl_gguf_writer *w, const char *key, gl_gguf_type type, const void *val) {
    if (!w) return GL_ERR_INVALID;
    gl_status st = gguf_w_key(w, key);
    if (st != GL_OK) return st;
    size_t sz = gguf_scalar_size(type);
    if (sz == 0) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': type %d is not a scalar type", key, (int)type);
    if (!val) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': NULL value", key);
    uint8_t bytes[8];
    gguf_encode_scalar(type, val, bytes);
    if (type == GL_GGUF_BOOL && bytes[0] > 1) {
        return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': bool value %u (must be 0 or 1)", key, bytes[0]);
    }
    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a = gguf_le32(bytes);
        if (type != GL_GGUF_UINT32) return gguf_w_fail(w, GL_ERR_INVALID, "general.alignment must be uint32");
        if (!gguf_is_pow2(a)) return gguf_w_fail(w, GL_ERR_INVALID, "alignment %u is not a non-zero power of two", a);
        w->alignment = a;
    }
    if ((st = gguf_w_kv_begin(w, key, type)) != GL_OK) return st;
    return gguf_w_kv_done(w, gguf_buf_put(&w->kv, bytes, sz));
}

gl_status gl_gguf_w_set_alignment(gl_gguf_writer *w, uint32_t alignment) {
    return gl_gguf_w_kv_u32(w, "general.alignment", alignment);
}

gl_status gl_gguf_w_kv_u32(gl_gguf_writer *w, const char *key, uint32_t v) {
    return gl_gguf_w_kv(w, key, GL_GGUF_UINT32, &v);
}

gl_status gl_gguf_w_kv_i32(gl_gguf_writer *w, const char *key, int32_t v) {
    return gl_gguf_w_kv(w, key, GL_GGUF_INT32, &v);
}

gl_status gl_gguf_w_kv_f32(gl_gguf_writer *w, const char *key, float v) {
    return gl_gguf_w_kv(w, key, GL_GGUF_FLOAT32, &v);
}

gl_status gl_gguf_w_kv_bool(gl_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return gl_gguf_w_kv(w, key, GL_GGUF_BOOL, &b);
}

gl_status gl_gguf_w_kv_str(gl_gguf_writer *w, const char *key, const char *s) {
    if (!w) return GL_ERR_INVALID;
    if (!s) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': NULL string", key ? key : "");
    return gl_gguf_w_kv_strn(w, key, s, strlen(s));
}

gl_status gl_gguf_w_kv_strn(gl_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    if (!w) return GL_ERR_INVALID;
    gl_status st = gguf_w_key(w, key);
    if (st != GL_OK) return st;
    if (!s && len > 0) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': NULL string", key);
    if ((st = gguf_w_kv_begin(w, key, GL_GGUF_STRING)) != GL_OK) return st;
    return gguf_w_kv_done(w, gguf_buf_str(&w->kv, s ? s : "", len));
}

gl_status gl_gguf_w_kv_arr(gl_gguf_writer *w, const char *key, gl_gguf_type elem_type,
                           const void *data, uint64_t n) {
    if (!w) return GL_ERR_INVALID;
    gl_status st = gguf_w_key(w, key);
    if (st != GL_OK) return st;
    size_t esz = gguf_scalar_size(elem_type);
    if (esz == 0) {
        return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': array element type %d is not a scalar type (use gl_gguf_w_kv_arr_str for strings; nested arrays are not supported)",
                           key, (int)elem_type);
    }
    if (n > SIZE_MAX / esz) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': array of %llu elements is too large", key, (unsigned long long)n);
    if (!data && n > 0) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': NULL array data", key);
    if (elem_type == GL_GGUF_BOOL) {
        for (uint64_t j = 0; j < n; j++) {
            if (((const uint8_t *)data)[j] > 1) {
                return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': bool element %llu is %u (must be 0 or 1)", key,
                                   (unsigned long long)j, ((const uint8_t *)data)[j]);
            }
        }
    }
    if ((st = gguf_w_kv_begin(w, key, GL_GGUF_ARRAY)) != GL_OK) return st;
    /* elements are stored as given: the caller passes little-endian data (every host edgelm
     * targets is little-endian) */
    bool ok = gguf_buf_u32(&w->kv, (uint32_t)elem_type) && gguf_buf_u64(&w->kv, n) &&
              gguf_buf_put(&w->kv, data, (size_t)(n * esz));
    return gguf_w_kv_done(w, ok);
}

gl_status gl_gguf_w_kv_arr_str(gl_gguf_writer *w, const char *key, const char *const *strs,
                               const uint64_t *lens, uint64_t n) {
    if (!w) return GL_ERR_INVALID;
    gl_status st = gguf_w_key(w, key);
    if (st != GL_OK) return st;
    if (!strs && n > 0) return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': NULL string array", key);
    for (uint64_t j = 0; j < n; j++) {
        if (!strs[j] && (!lens || lens[j] > 0)) {
            return gguf_w_fail(w, GL_ERR_INVALID, "key '%s': string %llu is NULL", key, (unsigned long long)j);
        }
    }
    if ((st = gguf_w_kv_begin(w, key, GL_GGUF_ARRAY)) != GL_OK) return st;
    bool ok = gguf_buf_u32(&w->kv, GL_GGUF_STRING) && gguf_buf_u64(&w->kv, n);
    for (uint64_t j = 0; ok && j < n; j++) {
        const char *s = strs[j] ? strs[j] : "";
        ok = gguf_buf_str(&w->kv, s, lens ? lens[j] : strlen(s));
    }
    return gguf_w_kv_done(w, ok);
}

gl_status gl_gguf_w_tensor_info(gl_gguf_writer *w, const char *name, gl_type type, int n_dims,
                                const int64_t *ne) {
    if (!w) return GL_ERR_INVALID;
    if (w->status != GL_OK) return w->status;
    if (w->header_done) return gguf_w_fail(w, GL_ERR_INVALID, "tensor '%s' declared after tensor data", name ? name : "");
    if (!name || !*name) return gguf_w_fail(w, GL_ERR_INVALID, "empty tensor name");
    size_t len = strlen(name);
    if (len >= GL_MAX_NAME) {
        return gguf_w_fail(w, GL_ERR_INVALID, "tensor name '%.*s...' too long (%zu bytes, at most %d)", GGUF_ERR_NAME,
                           name, len, GL_MAX_NAME - 1);
    }
    if (!ne) return gguf_w_fail(w, GL_ERR_INVALID, "tensor '%s': NULL shape", name);
    gguf_wtensor t;
    memset(&t, 0, sizeof t);
    memcpy(t.name, name, len + 1);
    t.name_len = len;
    t.n_dims = n_dims;
    t.type = type;
    char msg[GL_ERR_MAX - 32];
    if (n_dims < 1 || n_dims > GL_MAX_DIMS) {
        return gguf_w_fail(w, GL_ERR_INVALID, "tensor '%s': n_dims %d out of range 1..%d", name, n_dims, GL_MAX_DIMS);
    }
    for (int d = 0; d < GL_MAX_DIMS; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    if (!gguf_tensor_shape(name, (uint32_t)type, n_dims, t.ne, &t.nbytes, msg, sizeof msg)) {
        return gguf_w_fail(w, GL_ERR_INVALID, "%s", msg);
    }
    const gguf_wtensor *ts = (const gguf_wtensor *)w->tensors.p;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        if (ts[i].name_len == len && memcmp(ts[i].name, name, len) == 0) {
            return gguf_w_fail(w, GL_ERR_INVALID, "duplicate tensor name '%s'", name);
        }
    }
    if (!gguf_buf_put(&w->tensors, &t, sizeof t)) return gguf_w_fail(w, GL_ERR_NOMEM, "out of memory");
    w->n_tensors++;
    return GL_OK;
}

/* Lays out the data section (each tensor padded to the alignment) and writes everything up to
 * its start. */
static gl_status gguf_w_header(gl_gguf_writer *w) {
    gguf_buf h = {NULL, 0, 0};
    gguf_wtensor *ts = (gguf_wtensor *)w->tensors.p;
    uint64_t off = 0;
    bool ok = gguf_buf_put(&h, "GGUF", 4) && gguf_buf_u32(&h, 3) && gguf_buf_u64(&h, (uint64_t)w->n_tensors) &&
              gguf_buf_u64(&h, w->n_kv) && gguf_buf_put(&h, w->kv.p, w->kv.n);
    for (int64_t i = 0; ok && i < w->n_tensors; i++) {
        gguf_wtensor *t = &ts[i];
        t->offset = off;
        uint64_t padded = (t->nbytes + w->alignment - 1) & ~((uint64_t)w->alignment - 1);
        if (padded < t->nbytes || off > UINT64_MAX - padded) {
            GL_FREE(h.p);
            return gguf_w_fail(w, GL_ERR_INVALID, "data section size overflows");
        }
        off += padded;
        ok = gguf_buf_str(&h, t->name, t->name_len) && gguf_buf_u32(&h, (uint32_t)t->n_dims);
        for (int d = 0; ok && d < t->n_dims; d++) ok = gguf_buf_u64(&h, (uint64_t)t->ne[d]);
        ok = ok && gguf_buf_u32(&h, (uint32_t)t->type) && gguf_buf_u64(&h, t->offset);
    }
    if (!ok) {
        GL_FREE(h.p);
        return gguf_w_fail(w, GL_ERR_NOMEM, "out of memory");
    }
    size_t pad = GL_PAD(h.n, w->alignment) - h.n;
    w->header_done = true;
    if (w->tmp) { /* the whole file's size is known now: refuse early when the disk cannot hold it */
        gl_error e = {0};
        if (w->on_size) w->on_size(w->on_size_user, w->path, (uint64_t)h.n + pad + off, gl_free_space(w->path));
        if (gl_check_free_space(w->path, (uint64_t)h.n + pad + off, &e) != GL_OK) {
            GL_FREE(h.p);
            return gguf_w_fail(w, GL_ERR_IO, "%s", e.msg);
        }
    }
    gl_status st = gguf_w_out(w, h.p, h.n);
    GL_FREE(h.p);
    if (st == GL_OK) st = gguf_w_zeros(w, pad);
    return st;
}

gl_status gl_gguf_w_tensor_data(gl_gguf_writer *w, const void *data, size_t n) {
    if (!w) return GL_ERR_INVALID;
    if (w->status != GL_OK) return w->status;
    if (!data && n > 0) return gguf_w_fail(w, GL_ERR_INVALID, "NULL tensor data");
    if (!w->header_done && gguf_w_header(w) != GL_OK) return w->status;
    const gguf_wtensor *ts = (const gguf_wtensor *)w->tensors.p;
    const uint8_t *p = data;
    /* a piece may finish one tensor and continue into the next */
    while (n > 0) {
        if (w->cur >= w->n_tensors) return gguf_w_fail(w, GL_ERR_INVALID, "more tensor data than declared");
        const gguf_wtensor *t = &ts[w->cur];
        uint64_t want = t->nbytes - w->cur_done;
        size_t k = want < n ? (size_t)want : n;
        if (gguf_w_out(w, p, k) != GL_OK) return w->status;
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            uint64_t padded = (t->nbytes + w->alignment - 1) & ~((uint64_t)w->alignment - 1);
            if (gguf_w_zeros(w, padded - t->nbytes) != GL_OK) return w->status;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return GL_OK;
}

const char *gl_gguf_writer_error(const gl_gguf_writer *w) { return w ? w->msg : ""; }

gl_status gl_gguf_writer_close(gl_gguf_writer *w, gl_error *err) {
    if (!w) return gl_error_set(err, GL_ERR_INVALID, "gguf writer: NULL writer");
    if (w->status == GL_OK && !w->header_done) gguf_w_header(w);
    if (w->status == GL_OK && w->cur < w->n_tensors) {
        const gguf_wtensor *t = &((const gguf_wtensor *)w->tensors.p)[w->cur];
        gguf_w_fail(w, GL_ERR_INVALID, "tensor '%s': %llu of %llu data bytes written (%lld of %lld tensors complete)",
                    t->name, (unsigned long long)w->cur_done, (unsigned long long)t->nbytes, (long long)w->cur,
                    (long long)w->n_tensors);
    }
#if !defined(GL_NO_STDIO)
    if (w->fd >= 0 && w->status == GL_OK) {
        gl_error e = {0};
        if (!w->tmp) { /* written in place */
            if (close(w->fd) != 0) gguf_w_fail(w, GL_ERR_IO, "close failed: %s", strerror(errno));
        } else if (gl_commit_file(w->fd, w->tmp, w->path, &e) != GL_OK) {
            gguf_w_fail(w, e.code, "%s", e.msg);
        }
        w->fd = -1;
    }
#endif
    gl_status st = w->status;
    if (st != GL_OK) gl_error_set(err, st, "%s", w->msg);
    gl_gguf_writer_discard(w); /* (after a commit only frees: the temporary file is gone) */
    return st;
}

void gl_gguf_writer_discard(gl_gguf_writer *w) {
    if (!w) return;
#if !defined(GL_NO_STDIO)
    if (w->fd >= 0) {
        close(w->fd);
        if (w->tmp) unlink(w->tmp); /* never leave a half-written file behind */
    }
#endif
    GL_FREE(w->kv.p);
    GL_FREE(w->keys.p);
    GL_FREE(w->tensors.p);
    GL_FREE(w->path);
    GL_FREE(w->tmp);
    GL_FREE(w);
}
