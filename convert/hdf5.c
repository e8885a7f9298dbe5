/*
 * hdf5.c — the read-only HDF5 reader of hdf5.h, written from the HDF5 file format
 * specification (version 3.0). Scope and guarantees are described in hdf5.h.
 *
 * Every read goes through a bounds-checked cursor over the file's bytes; addresses are
 * relative to the superblock's base address. Structures that can chain or nest (continuation
 * blocks, B-tree nodes, groups) are bounded by a per-call work budget so that a hostile file
 * cannot make the reader loop or recurse without end.
 */
#include "alloc.h"
#include "hdf5.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define H5_UNDEF UINT64_MAX
#define H5_MAX_CHUNKS 1024      /* object header continuation blocks per object */
#define H5_MAX_BTREE_DEPTH 64
#define H5_MAX_GROUP_DEPTH 64
#define H5_WORK_BUDGET 4000000  /* B-tree nodes, symbol entries and chunks per call */
#define H5_PATH_MAX 1024

struct elm_h5 {
    const uint8_t *data;
    size_t size;
    void *map;         /* mmap-ed region (NULL for caller buffers) */
    size_t map_size;
    uint64_t base;     /* absolute position of address 0 */
    int so, sl;        /* sizes of offsets and lengths in bytes */
    uint64_t root;     /* root group object header address */
    uint64_t work;     /* work done by the current call, see H5_WORK_BUDGET */
};

/* ------------------------------------------------------------------------------------------
 * Bounds-checked access
 * ---------------------------------------------------------------------------------------- */

static uint64_t h5_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A cursor over a byte range that has already been checked to lie inside the file. */
typedef struct h5_cur {
    const uint8_t *p;
    size_t left;
    bool bad; /* a read ran past the end */
} h5_cur;

static uint64_t h5_u(h5_cur *c, int n) {
    if (c->bad || (size_t)n > c->left) {
        c->bad = true;
        return 0;
    }
    uint64_t v = h5_le(c->p, n);
    c->p += n;
    c->left -= (size_t)n;
    return v;
}

static void h5_skip(h5_cur *c, uint64_t n) {
    if (c->bad || n > c->left) {
        c->bad = true;
        return;
    }
    c->p += n;
    c->left -= (size_t)n;
}

/* An address field: all ones means "undefined". */
static uint64_t h5_addr(const elm_h5 *f, h5_cur *c) {
    uint64_t v = h5_u(c, f->so);
    if (f->so < 8 && v == (UINT64_C(1) << (8 * f->so)) - 1) return H5_UNDEF;
    if (f->so == 8 && v == UINT64_MAX) return H5_UNDEF;
    return v;
}

static uint64_t h5_len(const elm_h5 *f, h5_cur *c) { return h5_u(c, f->sl); }

/* Points c at [addr, addr + len) of the file, checking the range. */
static gl_status h5_at(const elm_h5 *f, uint64_t addr, uint64_t len, h5_cur *c, const char *what,
                       gl_error *err) {
    if (addr == H5_UNDEF)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: %s has an undefined address", what);
    uint64_t abs = f->base + addr;
    if (abs < addr || abs > f->size || len > f->size - abs)
        return gl_error_set(err, GL_ERR_FORMAT,
                            "hdf5: %s at address %llu (+%llu bytes) lies outside the file (%zu bytes)",
                            what, (unsigned long long)addr, (unsigned long long)len, f->size);
    c->p = f->data + abs;
    c->left = (size_t)len;
    c->bad = false;
    return GL_OK;
}

/* Like h5_at but the range runs to the end of the file (for structures of unknown size). */
static gl_status h5_at_open(const elm_h5 *f, uint64_t addr, h5_cur *c, const char *what,
                            gl_error *err) {
    if (addr == H5_UNDEF || f->base + addr < addr || f->base + addr >= f->size)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: %s address %llu lies outside the file", what,
                            (unsigned long long)addr);
    return h5_at(f, addr, f->size - (f->base + addr), c, what, err);
}

static gl_status h5_spend(elm_h5 *f, uint64_t n, gl_error *err) {
    f->work += n;
    if (f->work > H5_WORK_BUDGET)
        return gl_error_set(err, GL_ERR_FORMAT,
                            "hdf5: the file's structures are too large or loop (work budget spent)");
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * Opening: the superblock
 * ---------------------------------------------------------------------------------------- */

static const uint8_t h5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static gl_status h5_check_sizes(elm_h5 *f, gl_error *err) {
    if ((f->so != 2 && f->so != 4 && f->so != 8) || (f->sl != 2 && f->sl != 4 && f->sl != 8))
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: unsupported sizes of offsets/lengths (%d/%d)",
                            f->so, f->sl);
    return GL_OK;
}

static gl_status h5_superblock(elm_h5 *f, size_t pos, gl_error *err) {
    h5_cur c = {f->data + pos + 8, f->size - pos - 8, false};
    int version = (int)h5_u(&c, 1);
    uint64_t base;
    if (version == 0 || version == 1) {
        h5_skip(&c, 4); /* free-space, root symbol entry, reserved, shared header versions */
        f->so = (int)h5_u(&c, 1);
        f->sl = (int)h5_u(&c, 1);
        h5_skip(&c, 1 + 2 + 2 + 4); /* reserved, group leaf/internal K, consistency flags */
        if (version == 1) h5_skip(&c, 4);
        if (c.bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated superblock");
        if (h5_check_sizes(f, err)) return err->code;
        base = h5_u(&c, f->so);
        h5_skip(&c, 3 * (size_t)f->so); /* free-space info, end of file, driver info */
        /* root group symbol table entry: link name offset, object header address, ... */
        h5_skip(&c, (size_t)f->so);
        f->root = h5_addr(f, &c);
        h5_skip(&c, 4 + 4 + 16);
    } else if (version == 2 || version == 3) {
        f->so = (int)h5_u(&c, 1);
        f->sl = (int)h5_u(&c, 1);
        h5_skip(&c, 1);
        if (c.bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated superblock");
        if (h5_check_sizes(f, err)) return err->code;
        base = h5_u(&c, f->so);
        h5_skip(&c, 2 * (size_t)f->so); /* superblock extension, end of file */
        f->root = h5_addr(f, &c);
        h5_skip(&c, 4); /* checksum */
    } else {
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: superblock version %d is not supported",
                            version);
    }
    if (c.bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated superblock");
    /* Addresses are relative to the base address, which libhdf5 sets to the superblock's
     * position when a user block precedes it. */
    f->base = base != 0 ? base : pos;
    if (f->base > f->size)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: base address outside the file");
    if (f->root == H5_UNDEF)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: the root group has no address");
    return GL_OK;
}

elm_h5 *elm_h5_open_buffer(const void *buf, size_t size, gl_error *err) {
    gl_error spare;
    if (!err) err = &spare;
    elm_h5 *f = ELM_CALLOC(1, sizeof *f);
    if (!f) {
        gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
        return NULL;
    }
    f->data = buf;
    f->size = size;
    /* The superblock sits at 0, 512, 1024, 2048 ... (after an optional user block). */
    for (size_t pos = 0; buf && pos + 8 <= size; pos = pos ? pos * 2 : 512) {
        if (memcmp(f->data + pos, h5_signature, 8) != 0) continue;
        if (h5_superblock(f, pos, err) != GL_OK) {
            ELM_FREE(f);
            return NULL;
        }
        return f;
    }
    ELM_FREE(f);
    gl_error_set(err, GL_ERR_FORMAT, "hdf5: no HDF5 signature found (not an HDF5 file)");
    return NULL;
}

elm_h5 *elm_h5_open(const char *path, gl_error *err) {
    void *map;
    size_t size;
    if (gl_map_file(path, "hdf5", &map, &size, err) != GL_OK) return NULL;
    gl_error e = {0};
    elm_h5 *f = elm_h5_open_buffer(map, size, &e);
    if (!f) {
        gl_unmap_file(map, size);
        gl_error_set(err, e.code, "%s: %s", path, e.msg);
        return NULL;
    }
    f->map = map;
    f->map_size = size;
    return f;
}

void elm_h5_close(elm_h5 *f) {
    if (!f) return;
    gl_unmap_file(f->map, f->map_size);
    ELM_FREE(f);
}

/* ------------------------------------------------------------------------------------------
 * Object headers
 * ---------------------------------------------------------------------------------------- */

enum {
    H5M_DATASPACE = 0x01,
    H5M_LINK_INFO = 0x02,
    H5M_DATATYPE = 0x03,
    H5M_LINK = 0x06,
    H5M_LAYOUT = 0x08,
    H5M_FILTERS = 0x0B,
    H5M_CONTINUATION = 0x10,
    H5M_SYMBOL_TABLE = 0x11,
};

typedef struct h5_msg {
    int type;
    int flags;
    h5_cur body;
} h5_msg;

/* Called per message; returns GL_OK to go on, 1 to stop, or an error status. */
typedef int (*h5_msg_fn)(elm_h5 *f, h5_msg *m, void *user, gl_error *err);

typedef struct h5_span {
    uint64_t addr, len;
} h5_span;

/* Walks the messages of one header block; continuation messages are queued in spans. */
static int h5_block_messages(elm_h5 *f, h5_cur c, int version, bool with_order, h5_span *spans,
                             int *n_spans, h5_msg_fn fn, void *user, gl_error *err) {
    const size_t hdr = version == 1 ? 8 : (with_order ? 6 : 4);
    while (c.left >= hdr) {
        h5_msg m;
        uint64_t size;
        if (version == 1) {
            m.type = (int)h5_u(&c, 2);
            size = h5_u(&c, 2);
            m.flags = (int)h5_u(&c, 1);
            h5_skip(&c, 3);
        } else {
            m.type = (int)h5_u(&c, 1);
            size = h5_u(&c, 2);
            m.flags = (int)h5_u(&c, 1);
            if (with_order) h5_skip(&c, 2);
        }
        if (size > c.left)
            return gl_error_set(err, GL_ERR_FORMAT,
                                "hdf5: object header message (type %d, %llu bytes) overruns its block",
                                m.type, (unsigned long long)size);
        m.body = (h5_cur){c.p, (size_t)size, false};
        h5_skip(&c, size);
        if (h5_spend(f, 1, err)) return err->code;
        if (m.type == H5M_CONTINUATION) {
            h5_cur b = m.body;
            uint64_t addr = h5_addr(f, &b), len = h5_len(f, &b);
            if (b.bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated continuation message");
            if (*n_spans >= H5_MAX_CHUNKS)
                return gl_error_set(err, GL_ERR_FORMAT, "hdf5: too many object header continuations");
            spans[(*n_spans)++] = (h5_span){addr, len};
            continue;
        }
        int r = fn(f, &m, user, err);
        if (r != GL_OK) return r;
    }
    return GL_OK;
}

/* Calls fn for every message of the object header at addr (v1 or v2), continuations included. */
static int h5_messages(elm_h5 *f, uint64_t addr, h5_msg_fn fn, void *user, gl_error *err) {
    h5_cur c;
    if (h5_at_open(f, addr, &c, "object header", err)) return err->code;
    h5_span *spans = ELM_MALLOC(sizeof(h5_span) * H5_MAX_CHUNKS);
    if (!spans) return gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
    int n_spans = 0, version, r;
    bool with_order = false;
    h5_cur block;
    if (c.left >= 4 && memcmp(c.p, "OHDR", 4) == 0) {
        h5_skip(&c, 4);
        version = (int)h5_u(&c, 1);
        int flags = (int)h5_u(&c, 1);
        if (version != 2) {
            ELM_FREE(spans);
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: object header version %d", version);
        }
        if (flags & 0x20) h5_skip(&c, 16); /* times */
        if (flags & 0x10) h5_skip(&c, 4);  /* attribute phase change values */
        uint64_t size0 = h5_u(&c, 1 << (flags & 3));
        with_order = (flags & 0x04) != 0;
        if (c.bad || size0 > c.left) {
            ELM_FREE(spans);
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: object header at %llu is truncated",
                                (unsigned long long)addr);
        }
        block = (h5_cur){c.p, (size_t)size0, false};
    } else {
        version = (int)h5_u(&c, 1);
        h5_skip(&c, 1 + 2 + 4);
        uint64_t size0 = h5_u(&c, 4);
        h5_skip(&c, 4); /* the 12-byte prefix is padded to 16 */
        if (version != 1) {
            ELM_FREE(spans);
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: no object header at address %llu (version byte %d)",
                                (unsigned long long)addr, version);
        }
        if (c.bad || size0 > c.left) {
            ELM_FREE(spans);
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: object header at %llu is truncated",
                                (unsigned long long)addr);
        }
        block = (h5_cur){c.p, (size_t)size0, false};
    }
    r = h5_block_messages(f, block, version, with_order, spans, &n_spans, fn, user, err);
    for (int i = 0; r == GL_OK && i < n_spans; i++) {
        if (h5_at(f, spans[i].addr, spans[i].len, &block, "object header continuation", err)) {
            r = err->code;
            break;
        }
        if (version == 2) {
            if (block.left < 8 || memcmp(block.p, "OCHK", 4) != 0) {
                r = gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad object header continuation block");
                break;
            }
            block.p += 4;
            block.left -= 8; /* signature and checksum */
        }
        r = h5_block_messages(f, block, version, with_order, spans, &n_spans, fn, user, err);
    }
    ELM_FREE(spans);
    return r == 1 ? GL_OK : r;
}

/* ------------------------------------------------------------------------------------------
 * Objects: what a dataset or group header says
 * ---------------------------------------------------------------------------------------- */

typedef struct h5_obj {
    bool has_space, has_type, has_layout, has_filters, has_symtab, has_linkinfo, n_links;
    elm_h5_info info;
    uint64_t btree, heap;      /* symbol table message */
    uint64_t dense_heap;       /* link info: fractal heap (H5_UNDEF when links are compact) */
    /* layout */
    int layout_version;
    uint64_t data_addr, data_size;
    h5_cur compact;
    int chunk_rank;                         /* dims in chunk_dims (dataset rank) */
    uint64_t chunk_dims[ELM_H5_MAX_RANK];
    int chunk_index;                        /* v4: 1 single, 2 implicit, 3 fixed array, ... */
    bool chunk_filtered;
} h5_obj;

static gl_status h5_parse_dataspace(h5_obj *o, h5_msg *m, const elm_h5 *f, gl_error *err) {
    h5_cur *c = &m->body;
    int version = (int)h5_u(c, 1), rank = (int)h5_u(c, 1), flags = (int)h5_u(c, 1);
    int type = 1;
    if (version == 1) {
        h5_skip(c, 5);
    } else if (version == 2) {
        type = (int)h5_u(c, 1);
    } else {
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: dataspace message version %d", version);
    }
    if (rank > ELM_H5_MAX_RANK)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: dataspace rank %d exceeds %d", rank, ELM_H5_MAX_RANK);
    o->info.rank = rank;
    uint64_t n = type == 2 ? 0 : 1; /* a null dataspace holds nothing */
    for (int i = 0; i < rank; i++) {
        uint64_t d = h5_len(f, c);
        o->info.dims[i] = d;
        if (d != 0 && n > (UINT64_C(1) << 62) / d)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: dataspace too large");
        n *= d;
    }
    (void)flags; /* maximum dimensions (if present) do not matter for reading */
    if (c->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated dataspace message");
    o->info.n_elements = n;
    o->has_space = true;
    return GL_OK;
}

static gl_status h5_parse_datatype(h5_obj *o, h5_msg *m, gl_error *err) {
    h5_cur *c = &m->body;
    int b0 = (int)h5_u(c, 1);
    uint32_t bits = (uint32_t)h5_u(c, 3);
    uint64_t size = h5_u(c, 4);
    int cls = b0 & 15;
    int offset = (int)h5_u(c, 2), precision = (int)h5_u(c, 2);
    if (c->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated datatype message");
    if (cls == 0) {
        if ((size != 1 && size != 2 && size != 4 && size != 8) || offset != 0 ||
            precision != (int)size * 8)
            return gl_error_set(err, GL_ERR_UNSUPPORTED,
                                "hdf5: integer type of %llu bytes / %d bits is not supported",
                                (unsigned long long)size, precision);
        o->info.cls = (bits & 8) ? ELM_H5_SINT : ELM_H5_UINT;
        o->info.big_endian = bits & 1;
    } else if (cls == 1) {
        int exp_loc = (int)h5_u(c, 1), exp_size = (int)h5_u(c, 1);
        int mant_loc = (int)h5_u(c, 1), mant_size = (int)h5_u(c, 1);
        uint64_t bias = h5_u(c, 4);
        if (c->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated datatype message");
        bool ieee = offset == 0 && mant_loc == 0 &&
                    ((size == 4 && precision == 32 && exp_loc == 23 && exp_size == 8 &&
                      mant_size == 23 && bias == 127) ||
                     (size == 8 && precision == 64 && exp_loc == 52 && exp_size == 11 &&
                      mant_size == 52 && bias == 1023) ||
                     (size == 2 && precision == 16 && exp_loc == 10 && exp_size == 5 &&
                      mant_size == 10 && bias == 15));
        if (!ieee || (bits & 0x40))
            return gl_error_set(err, GL_ERR_UNSUPPORTED,
                                "hdf5: floating-point type of %llu bytes is not IEEE binary16/32/64",
                                (unsigned long long)size);
        o->info.cls = ELM_H5_FLOAT;
        o->info.big_endian = bits & 1;
    } else {
        static const char *names[] = {"integer", "float", "time", "string", "bitfield", "opaque",
                                      "compound", "reference", "enum", "variable-length", "array"};
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: datatype class %s is not supported",
                            cls < 11 ? names[cls] : "unknown");
    }
    o->info.elem_size = (int)size;
    o->has_type = true;
    return GL_OK;
}

static gl_status h5_parse_layout(h5_obj *o, h5_msg *m, const elm_h5 *f, gl_error *err) {
    h5_cur *c = &m->body;
    int version = (int)h5_u(c, 1);
    o->layout_version = version;
    if (version == 1 || version == 2) {
        int ndims = (int)h5_u(c, 1), cls = (int)h5_u(c, 1);
        h5_skip(c, 5);
        if (ndims < 1 || ndims > ELM_H5_MAX_RANK + 1)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad layout dimensionality %d", ndims);
        o->info.layout = cls;
        if (cls != 0) o->data_addr = h5_addr(f, c);
        uint64_t d[ELM_H5_MAX_RANK + 1];
        for (int i = 0; i < ndims; i++) d[i] = h5_u(c, 4);
        if (cls == 2) { /* the last dimension is the element size */
            o->chunk_rank = ndims - 1;
            for (int i = 0; i < ndims - 1; i++) o->chunk_dims[i] = d[i];
        } else if (cls == 0) {
            uint64_t n = h5_u(c, 4);
            if (!c->bad && n > c->left) c->bad = true;
            o->compact = (h5_cur){c->p, c->bad ? 0 : (size_t)n, false};
        }
        o->data_size = UINT64_MAX; /* v1/v2 do not store it: checked against the element count */
    } else if (version == 3 || version == 4) {
        int cls = (int)h5_u(c, 1);
        o->info.layout = cls;
        if (cls == 0) {
            uint64_t n = h5_u(c, 2);
            if (!c->bad && n > c->left) c->bad = true;
            o->compact = (h5_cur){c->p, c->bad ? 0 : (size_t)n, false};
        } else if (cls == 1) {
            o->data_addr = h5_addr(f, c);
            o->data_size = h5_len(f, c);
        } else if (cls == 2 && version == 3) {
            int ndims = (int)h5_u(c, 1);
            if (ndims < 1 || ndims > ELM_H5_MAX_RANK + 1)
                return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad chunk dimensionality %d", ndims);
            o->data_addr = h5_addr(f, c);
            o->chunk_rank = ndims - 1;
            for (int i = 0; i < ndims - 1; i++) o->chunk_dims[i] = h5_u(c, 4);
            h5_skip(c, 4); /* the last dimension is the element size */
        } else if (cls == 2) {
            int flags = (int)h5_u(c, 1), ndims = (int)h5_u(c, 1), enc = (int)h5_u(c, 1);
            if (ndims < 1 || ndims > ELM_H5_MAX_RANK + 1 || enc < 1 || enc > 8)
                return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad chunk layout (%d dims, %d-byte sizes)",
                                    ndims, enc);
            o->chunk_rank = ndims - 1;
            for (int i = 0; i < ndims; i++) {
                uint64_t d = h5_u(c, enc);
                if (i < ndims - 1) o->chunk_dims[i] = d;
            }
            o->chunk_index = (int)h5_u(c, 1);
            if (o->chunk_index == 1 && (flags & 2)) {
                o->chunk_filtered = true;
                h5_len(f, c);
                h5_skip(c, 4);
            } else if (o->chunk_index == 3) {
                h5_skip(c, 1);
            } else if (o->chunk_index == 4) {
                h5_skip(c, 5);
            } else if (o->chunk_index == 5) {
                h5_skip(c, 6);
            }
            o->data_addr = h5_addr(f, c);
        } else {
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: data layout class %d is not supported", cls);
        }
    } else {
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: data layout message version %d", version);
    }
    if (c->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated data layout message");
    if (o->info.layout == 2)
        for (int i = 0; i < o->chunk_rank; i++)
            if (o->chunk_dims[i] == 0)
                return gl_error_set(err, GL_ERR_FORMAT, "hdf5: a chunk dimension is zero");
    o->has_layout = true;
    return GL_OK;
}

static int h5_obj_msg(elm_h5 *f, h5_msg *m, void *user, gl_error *err) {
    h5_obj *o = user;
    bool shared = (m->flags & 0x02) != 0;
    switch (m->type) {
    case H5M_DATASPACE:
        if (shared) return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: shared dataspaces are not supported");
        return h5_parse_dataspace(o, m, f, err);
    case H5M_DATATYPE:
        if (shared)
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: committed (shared) datatypes are not supported");
        return h5_parse_datatype(o, m, err);
    case H5M_LAYOUT:
        return h5_parse_layout(o, m, f, err);
    case H5M_FILTERS:
        o->has_filters = true;
        return GL_OK;
    case H5M_SYMBOL_TABLE: {
        o->btree = h5_addr(f, &m->body);
        o->heap = h5_addr(f, &m->body);
        if (m->body.bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated symbol table message");
        o->has_symtab = true;
        return GL_OK;
    }
    case H5M_LINK_INFO: {
        h5_cur *c = &m->body;
        h5_u(c, 1);
        int flags = (int)h5_u(c, 1);
        if (flags & 1) h5_skip(c, 8);
        o->dense_heap = h5_addr(f, c);
        if (c->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated link info message");
        o->has_linkinfo = true;
        return GL_OK;
    }
    case H5M_LINK:
        o->n_links = true;
        return GL_OK;
    default:
        return GL_OK;
    }
}

static gl_status h5_object(elm_h5 *f, uint64_t addr, h5_obj *o, gl_error *err) {
    memset(o, 0, sizeof *o);
    o->dense_heap = H5_UNDEF;
    o->data_addr = H5_UNDEF;
    return h5_messages(f, addr, h5_obj_msg, o, err);
}

static bool h5_is_group(const h5_obj *o) {
    return o->has_symtab || o->has_linkinfo || o->n_links;
}
static bool h5_is_dataset(const h5_obj *o) { return o->has_layout && o->has_space && o->has_type; }

/* ------------------------------------------------------------------------------------------
 * Groups: members of old-style (symbol table) and new-style (link messages) groups
 * ---------------------------------------------------------------------------------------- */

/* Called per member; returns GL_OK to go on, 1 to stop, or an error status. */
typedef int (*h5_member_fn)(elm_h5 *f, const char *name, size_t len, uint64_t addr, void *user,
                            gl_error *err);

typedef struct h5_heap {
    h5_cur data; /* the data segment */
} h5_heap;

static gl_status h5_local_heap(elm_h5 *f, uint64_t addr, h5_heap *h, gl_error *err) {
    h5_cur c;
    if (h5_at(f, addr, 8 + 2 * (uint64_t)f->sl + (uint64_t)f->so, &c, "local heap", err)) return err->code;
    if (memcmp(c.p, "HEAP", 4) != 0)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad local heap signature");
    h5_skip(&c, 8);
    uint64_t size = h5_len(f, &c);
    h5_len(f, &c); /* free list */
    uint64_t data = h5_addr(f, &c);
    return h5_at(f, data, size, &h->data, "local heap data", err);
}

typedef struct h5_btree_walk {
    int type;           /* 0 group nodes, 1 raw data chunks */
    int key_size;
    int (*leaf)(elm_h5 *f, h5_cur *key, uint64_t child, void *user, gl_error *err);
    void *user;
} h5_btree_walk;

/* Visits the level-0 children of a version 1 B-tree, left to right. */
static int h5_btree(elm_h5 *f, const h5_btree_walk *w, uint64_t addr, int expect_level,
                    gl_error *err) {
    h5_cur c;
    if (h5_spend(f, 1, err)) return err->code;
    if (h5_at(f, addr, 8 + 2 * (uint64_t)f->so, &c, "B-tree node", err)) return err->code;
    if (memcmp(c.p, "TREE", 4) != 0) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad B-tree node signature");
    h5_skip(&c, 4);
    int type = (int)h5_u(&c, 1), level = (int)h5_u(&c, 1);
    uint64_t entries = h5_u(&c, 2);
    if (type != w->type)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: B-tree node of type %d where %d was expected", type, w->type);
    if (level >= H5_MAX_BTREE_DEPTH || (expect_level >= 0 && level != expect_level))
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: B-tree node at a wrong level (%d)", level);
    uint64_t body = entries * (uint64_t)(w->key_size + f->so) + (uint64_t)w->key_size;
    if (h5_at(f, addr, 8 + 2 * (uint64_t)f->so + body, &c, "B-tree node", err)) return err->code;
    h5_skip(&c, 8 + 2 * (uint64_t)f->so);
    for (uint64_t i = 0; i < entries; i++) {
        h5_cur key = {c.p, (size_t)w->key_size, false};
        h5_skip(&c, (uint64_t)w->key_size);
        uint64_t child = h5_addr(f, &c);
        int r = level == 0 ? w->leaf(f, &key, child, w->user, err)
                           : h5_btree(f, w, child, level - 1, err);
        if (r != GL_OK) return r;
    }
    return GL_OK;
}

typedef struct h5_symwalk {
    h5_heap heap;
    h5_member_fn fn;
    void *user;
} h5_symwalk;

/* A symbol table node: its entries name the group's members through the local heap. */
static int h5_snod(elm_h5 *f, h5_cur *key, uint64_t child, void *user, gl_error *err) {
    (void)key;
    h5_symwalk *sw = user;
    h5_cur c;
    if (h5_at(f, child, 8, &c, "symbol table node", err)) return err->code;
    if (memcmp(c.p, "SNOD", 4) != 0) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad symbol table node");
    h5_skip(&c, 6);
    uint64_t n = h5_u(&c, 2);
    uint64_t entry = 2 * (uint64_t)f->so + 24;
    if (h5_at(f, child, 8 + n * entry, &c, "symbol table node", err)) return err->code;
    h5_skip(&c, 8);
    for (uint64_t i = 0; i < n; i++) {
        if (h5_spend(f, 1, err)) return err->code;
        uint64_t name_off = h5_u(&c, f->so); /* offset of the name in the local heap */
        uint64_t obj = h5_addr(f, &c);
        h5_skip(&c, 24);
        const h5_cur *d = &sw->heap.data;
        if (name_off >= d->left) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: symbol name outside the local heap");
        const char *name = (const char *)d->p + name_off;
        const void *nul = memchr(name, 0, d->left - (size_t)name_off);
        if (!nul) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: unterminated symbol name");
        int r = sw->fn(f, name, (size_t)((const char *)nul - name), obj, sw->user, err);
        if (r != GL_OK) return r;
    }
    return GL_OK;
}

typedef struct h5_linkwalk {
    h5_member_fn fn;
    void *user;
} h5_linkwalk;

static int h5_link_msg(elm_h5 *f, h5_msg *m, void *user, gl_error *err) {
    if (m->type != H5M_LINK) return GL_OK;
    h5_linkwalk *lw = user;
    h5_cur *c = &m->body;
    int version = (int)h5_u(c, 1), flags = (int)h5_u(c, 1);
    if (version != 1) return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: link message version %d", version);
    int type = 0;
    if (flags & 0x08) type = (int)h5_u(c, 1);
    if (flags & 0x04) h5_skip(c, 8);
    if (flags & 0x10) h5_skip(c, 1);
    uint64_t len = h5_u(c, 1 << (flags & 3));
    if (c->bad || len > c->left) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated link message");
    const char *name = (const char *)c->p;
    h5_skip(c, len);
    if (type != 0) return GL_OK; /* soft and external links are not followed */
    uint64_t addr = h5_addr(f, c);
    if (c->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated link message");
    return lw->fn(f, name, (size_t)len, addr, lw->user, err);
}

/* Calls fn for every hard-linked member of the group whose header is at addr (parsed as g). */
static int h5_members(elm_h5 *f, uint64_t addr, const h5_obj *g, h5_member_fn fn, void *user,
                      gl_error *err) {
    if (g->has_symtab) {
        h5_symwalk sw = {.fn = fn, .user = user};
        if (h5_local_heap(f, g->heap, &sw.heap, err)) return err->code;
        h5_btree_walk w = {.type = 0, .key_size = f->sl, .leaf = h5_snod, .user = &sw};
        return h5_btree(f, &w, g->btree, -1, err);
    }
    if (g->has_linkinfo && g->dense_heap != H5_UNDEF)
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "hdf5: the group uses dense link storage (a fractal heap, written by "
                            "libver='latest' for groups of more than 8 members), which is not supported");
    h5_linkwalk lw = {fn, user};
    return h5_messages(f, addr, h5_link_msg, &lw, err);
}

typedef struct h5_find {
    const char *name;
    size_t len;
    uint64_t addr;
    bool found;
} h5_find;

static int h5_find_member(elm_h5 *f, const char *name, size_t len, uint64_t addr, void *user,
                          gl_error *err) {
    (void)f, (void)err;
    h5_find *fd = user;
    if (len != fd->len || memcmp(name, fd->name, len) != 0) return GL_OK;
    fd->addr = addr;
    fd->found = true;
    return 1;
}

/* Resolves a path to an object header address. */
static gl_status h5_resolve(elm_h5 *f, const char *path, uint64_t *addr, gl_error *err) {
    uint64_t cur = f->root;
    const char *p = path;
    int depth = 0;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        h5_obj g;
        if (h5_object(f, cur, &g, err)) return err->code;
        if (!h5_is_group(&g) || ++depth > H5_MAX_GROUP_DEPTH)
            return gl_error_set(err, GL_ERR_INVALID, "hdf5: '%.*s' in path '%s' is not inside a group",
                                (int)len, p, path);
        h5_find fd = {p, len, 0, false};
        int r = h5_members(f, cur, &g, h5_find_member, &fd, err);
        if (r != GL_OK && r != 1) return err->code;
        if (!fd.found)
            return gl_error_set(err, GL_ERR_INVALID, "hdf5: no object '%.*s' in path '%s'", (int)len, p, path);
        cur = fd.addr;
        p += len;
    }
    *addr = cur;
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * Datasets
 * ---------------------------------------------------------------------------------------- */

static gl_status h5_dataset(elm_h5 *f, const char *path, h5_obj *o, gl_error *err) {
    uint64_t addr;
    f->work = 0;
    if (h5_resolve(f, path, &addr, err)) return err->code;
    if (h5_object(f, addr, o, err)) return err->code;
    if (!h5_is_dataset(o))
        return gl_error_set(err, GL_ERR_INVALID, "hdf5: '%s' is not a dataset", path);
    if (o->info.layout == 2 && o->chunk_rank != o->info.rank)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: '%s': chunk rank %d differs from dataset rank %d",
                            path, o->chunk_rank, o->info.rank);
    return GL_OK;
}

gl_status elm_h5_info_of(elm_h5 *f, const char *path, elm_h5_info *info, gl_error *err) {
    gl_error spare;
    if (!err) err = &spare;
    h5_obj o;
    if (!f || !path || !info) return gl_error_set(err, GL_ERR_INVALID, "hdf5: bad arguments");
    if (h5_dataset(f, path, &o, err)) return err->code;
    *info = o.info;
    return GL_OK;
}

enum { H5_OUT_F32, H5_OUT_F64, H5_OUT_I64 };

typedef struct h5_read {
    const h5_obj *o;
    void *out;
    int kind;
    uint64_t chunks_seen, chunks_max;
} h5_read;

/* Converts n elements at src (the dataset's type) into out[at .. at+n). */
static gl_status h5_convert(const h5_read *rd, const uint8_t *src, uint64_t at, uint64_t n,
                            gl_error *err) {
    const elm_h5_info *in = &rd->o->info;
    const int es = in->elem_size;
    for (uint64_t i = 0; i < n; i++, src += es) {
        uint8_t b[8];
        for (int k = 0; k < es; k++) b[k] = in->big_endian ? src[es - 1 - k] : src[k];
        uint64_t u = h5_le(b, es);
        double d = 0;
        int64_t iv = 0;
        bool is_int = in->cls != ELM_H5_FLOAT;
        if (in->cls == ELM_H5_FLOAT) {
            if (es == 8) {
                memcpy(&d, &u, 8);
            } else if (es == 4) {
                uint32_t u32 = (uint32_t)u;
                float fl;
                memcpy(&fl, &u32, 4);
                d = fl;
            } else {
                d = gl_fp16_to_fp32((gl_fp16)u);
            }
        } else if (in->cls == ELM_H5_SINT) {
            if (es < 8 && (u >> (8 * es - 1)) & 1) u |= ~UINT64_C(0) << (8 * es); /* sign-extend */
            memcpy(&iv, &u, 8);
            d = (double)iv;
        } else {
            if (rd->kind == H5_OUT_I64 && u > (uint64_t)INT64_MAX)
                return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: unsigned value above INT64_MAX");
            iv = (int64_t)u;
            d = (double)u;
        }
        switch (rd->kind) {
        case H5_OUT_F32: ((float *)rd->out)[at + i] = (float)d; break;
        case H5_OUT_F64: ((double *)rd->out)[at + i] = d; break;
        default:
            if (!is_int) return gl_error_set(err, GL_ERR_INVALID, "hdf5: a float dataset read as integers");
            ((int64_t *)rd->out)[at + i] = iv;
        }
    }
    return GL_OK;
}

/* Copies one stored chunk whose first element sits at coordinates off[] into the output. */
static gl_status h5_put_chunk(const h5_read *rd, const uint64_t *off, const uint8_t *src,
                              uint64_t src_len, gl_error *err) {
    const h5_obj *o = rd->o;
    const int r = o->info.rank, es = o->info.elem_size;
    uint64_t chunk_elems = 1;
    for (int i = 0; i < r; i++) {
        if (off[i] >= o->info.dims[i] || off[i] % o->chunk_dims[i] != 0)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: chunk offset %llu outside dimension %d",
                                (unsigned long long)off[i], i);
        if (chunk_elems > (UINT64_C(1) << 40) / o->chunk_dims[i])
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: chunk too large");
        chunk_elems *= o->chunk_dims[i];
    }
    if (src_len < chunk_elems * (uint64_t)es)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: chunk of %llu bytes is smaller than %llu",
                            (unsigned long long)src_len, (unsigned long long)(chunk_elems * es));
    const uint64_t row = o->chunk_dims[r - 1];
    const uint64_t n_rows = chunk_elems / row;
    const uint64_t room = o->info.dims[r - 1] - off[r - 1];
    const uint64_t take = row < room ? row : room;
    for (uint64_t k = 0; k < n_rows; k++) {
        /* local coordinates of this row in dims 0..r-2 (row-major), then global index */
        uint64_t rem = k, gidx = 0, stride = 1;
        bool inside = true;
        uint64_t coord[ELM_H5_MAX_RANK];
        for (int i = r - 2; i >= 0; i--) {
            coord[i] = off[i] + rem % o->chunk_dims[i];
            rem /= o->chunk_dims[i];
            if (coord[i] >= o->info.dims[i]) inside = false;
        }
        if (!inside) continue;
        coord[r - 1] = off[r - 1];
        for (int i = r - 1; i >= 0; i--) {
            gidx += coord[i] * stride;
            stride *= o->info.dims[i];
        }
        if (h5_convert(rd, src + k * row * (uint64_t)es, gidx, take, err)) return err->code;
    }
    return GL_OK;
}

static gl_status h5_count_chunk(h5_read *rd, gl_error *err) {
    if (++rd->chunks_seen > rd->chunks_max)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: the chunk index lists more chunks than the dataset has");
    return GL_OK;
}

/* B-tree v1 leaf of a chunked dataset: key = chunk size, filter mask, offsets; child = chunk. */
static int h5_chunk_leaf(elm_h5 *f, h5_cur *key, uint64_t child, void *user, gl_error *err) {
    h5_read *rd = user;
    if (h5_count_chunk(rd, err)) return err->code;
    uint64_t size = h5_u(key, 4);
    uint64_t mask = h5_u(key, 4);
    uint64_t off[ELM_H5_MAX_RANK];
    for (int i = 0; i < rd->o->info.rank; i++) off[i] = h5_u(key, 8);
    if (key->bad) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: truncated chunk key");
    if (mask != 0) return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: filtered chunks are not supported");
    h5_cur c;
    if (h5_at(f, child, size, &c, "data chunk", err)) return err->code;
    return h5_put_chunk(rd, off, c.p, size, err);
}

/* Chunk k of the chunk grid (row-major) → its element offsets. */
static void h5_chunk_coords(const h5_obj *o, uint64_t k, uint64_t *off) {
    for (int i = o->info.rank - 1; i >= 0; i--) {
        uint64_t n = (o->info.dims[i] + o->chunk_dims[i] - 1) / o->chunk_dims[i];
        off[i] = (k % n) * o->chunk_dims[i];
        k /= n;
    }
}

static gl_status h5_read_chunked(elm_h5 *f, h5_read *rd, gl_error *err) {
    const h5_obj *o = rd->o;
    uint64_t n_chunks = 1, chunk_bytes = (uint64_t)o->info.elem_size;
    for (int i = 0; i < o->info.rank; i++) {
        if (o->info.dims[i] == 0) return GL_OK;
        n_chunks *= (o->info.dims[i] + o->chunk_dims[i] - 1) / o->chunk_dims[i];
        if (chunk_bytes > (UINT64_C(1) << 40) / o->chunk_dims[i])
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: chunk too large");
        chunk_bytes *= o->chunk_dims[i];
    }
    rd->chunks_max = n_chunks;
    if (o->data_addr == H5_UNDEF) return GL_OK; /* nothing written: the fill value (0) */
    if (o->layout_version < 4) {
        h5_btree_walk w = {.type = 1, .key_size = 8 + 8 * (o->info.rank + 1), .leaf = h5_chunk_leaf, .user = rd};
        int r = h5_btree(f, &w, o->data_addr, -1, err);
        return r == 1 ? GL_OK : r;
    }
    uint64_t off[ELM_H5_MAX_RANK];
    h5_cur c;
    if (o->chunk_filtered) return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: filtered chunks are not supported");
    if (o->chunk_index == 1 || o->chunk_index == 2) { /* single chunk, or all chunks in a row */
        if (o->chunk_index == 1 && n_chunks != 1)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: single-chunk index over %llu chunks",
                                (unsigned long long)n_chunks);
        for (uint64_t k = 0; k < n_chunks; k++) {
            if (k * chunk_bytes / chunk_bytes != k || o->data_addr + k * chunk_bytes < o->data_addr)
                return gl_error_set(err, GL_ERR_FORMAT, "hdf5: chunk address overflows");
            if (h5_at(f, o->data_addr + k * chunk_bytes, chunk_bytes, &c, "data chunk", err)) return err->code;
            h5_chunk_coords(o, k, off);
            if (h5_put_chunk(rd, off, c.p, chunk_bytes, err)) return err->code;
        }
        return GL_OK;
    }
    if (o->chunk_index == 3) { /* fixed array: header FAHD → data block FADB of chunk addresses */
        if (h5_at(f, o->data_addr, 12 + (uint64_t)f->sl + (uint64_t)f->so, &c, "fixed array header", err))
            return err->code;
        if (memcmp(c.p, "FAHD", 4) != 0) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad fixed array header");
        h5_skip(&c, 5);
        int client = (int)h5_u(&c, 1), entry = (int)h5_u(&c, 1), page_bits = (int)h5_u(&c, 1);
        uint64_t n = h5_len(f, &c);
        uint64_t block = h5_addr(f, &c);
        if (client != 0 || entry != f->so)
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: filtered chunks are not supported");
        if (n != n_chunks) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: fixed array size mismatch");
        if (page_bits < 64 && n > (UINT64_C(1) << page_bits))
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: paged fixed array chunk index is not supported");
        uint64_t hdr = 6 + (uint64_t)f->so;
        if (n > f->size / (uint64_t)f->so)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: fixed array larger than the file");
        if (h5_at(f, block, hdr + n * (uint64_t)f->so, &c, "fixed array data block", err)) return err->code;
        if (memcmp(c.p, "FADB", 4) != 0) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: bad fixed array data block");
        h5_skip(&c, hdr);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t a = h5_addr(f, &c);
            if (a == H5_UNDEF) continue;
            h5_cur d;
            if (h5_at(f, a, chunk_bytes, &d, "data chunk", err)) return err->code;
            h5_chunk_coords(o, k, off);
            if (h5_put_chunk(rd, off, d.p, chunk_bytes, err)) return err->code;
        }
        return GL_OK;
    }
    return gl_error_set(err, GL_ERR_UNSUPPORTED,
                        "hdf5: chunk index type %d (extensible array / B-tree v2) is not supported",
                        o->chunk_index);
}

static gl_status h5_read_as(elm_h5 *f, const char *path, void *out, int kind, uint64_t n, gl_error *err) {
    gl_error spare;
    if (!err) err = &spare;
    if (!f || !path || (!out && n)) return gl_error_set(err, GL_ERR_INVALID, "hdf5: bad arguments");
    h5_obj o;
    if (h5_dataset(f, path, &o, err)) return err->code;
    if (o.has_filters)
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "hdf5: '%s' is stored with filters (compression); unsupported", path);
    if (n != o.info.n_elements)
        return gl_error_set(err, GL_ERR_INVALID, "hdf5: '%s' has %llu elements, not %llu", path,
                            (unsigned long long)o.info.n_elements, (unsigned long long)n);
    const size_t out_size = kind == H5_OUT_F32 ? 4 : 8;
    if (n) memset(out, 0, (size_t)n * out_size);
    h5_read rd = {.o = &o, .out = out, .kind = kind};
    const uint64_t bytes = n * (uint64_t)o.info.elem_size;
    h5_cur c;
    switch (o.info.layout) {
    case 0:
        if (o.compact.left < bytes)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: '%s': compact data is too short", path);
        return h5_convert(&rd, o.compact.p, 0, n, err);
    case 1:
        if (o.data_addr == H5_UNDEF) return GL_OK; /* never written: fill value 0 */
        if (o.data_size != UINT64_MAX && o.data_size < bytes)
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: '%s': stored size %llu < %llu bytes", path,
                                (unsigned long long)o.data_size, (unsigned long long)bytes);
        if (h5_at(f, o.data_addr, bytes, &c, "dataset data", err)) return err->code;
        return h5_convert(&rd, c.p, 0, n, err);
    case 2:
        return h5_read_chunked(f, &rd, err);
    default:
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "hdf5: '%s': layout class %d", path, o.info.layout);
    }
}

gl_status elm_h5_read_f32(elm_h5 *f, const char *path, float *out, uint64_t n, gl_error *err) {
    return h5_read_as(f, path, out, H5_OUT_F32, n, err);
}
gl_status elm_h5_read_f64(elm_h5 *f, const char *path, double *out, uint64_t n, gl_error *err) {
    return h5_read_as(f, path, out, H5_OUT_F64, n, err);
}
gl_status elm_h5_read_i64(elm_h5 *f, const char *path, int64_t *out, uint64_t n, gl_error *err) {
    return h5_read_as(f, path, out, H5_OUT_I64, n, err);
}

/* ------------------------------------------------------------------------------------------
 * Visiting every dataset
 * ---------------------------------------------------------------------------------------- */

typedef struct h5_visit {
    elm_h5_visit_fn fn;
    void *user;
    char path[H5_PATH_MAX];
    uint64_t ancestors[H5_MAX_GROUP_DEPTH + 1];
    int depth;
    bool stopped;
} h5_visit;

static int h5_visit_group(elm_h5 *f, uint64_t addr, const h5_obj *g, h5_visit *v, gl_error *err);

static int h5_visit_member(elm_h5 *f, const char *name, size_t len, uint64_t addr, void *user,
                           gl_error *err) {
    h5_visit *v = user;
    if (v->stopped) return 1;
    for (int i = 0; i <= v->depth; i++)
        if (v->ancestors[i] == addr) /* a link back up: reported, not followed */
            return gl_error_set(err, GL_ERR_FORMAT, "hdf5: '%s/%.*s' links back to an enclosing group (cyclic groups)",
                                v->path, (int)(len < 200 ? len : 200), name);
    const size_t orig = strlen(v->path);
    size_t at = orig;
    if (at + len + 2 > sizeof v->path)
        return gl_error_set(err, GL_ERR_FORMAT, "hdf5: object path longer than %d bytes", H5_PATH_MAX);
    if (memchr(name, 0, len)) return gl_error_set(err, GL_ERR_FORMAT, "hdf5: link name with a NUL byte");
    if (at) v->path[at++] = '/';
    memcpy(v->path + at, name, len);
    v->path[at + len] = '\0';
    h5_obj o;
    int r = h5_object(f, addr, &o, err);
    if (r == GL_OK) {
        if (h5_is_dataset(&o)) {
            if (v->fn(v->path, &o.info, v->user)) {
                v->stopped = true;
                r = 1;
            }
        } else if (h5_is_group(&o)) {
            if (v->depth + 1 >= H5_MAX_GROUP_DEPTH) {
                r = gl_error_set(err, GL_ERR_FORMAT, "hdf5: groups nested deeper than %d", H5_MAX_GROUP_DEPTH);
            } else {
                v->ancestors[++v->depth] = addr;
                r = h5_visit_group(f, addr, &o, v, err);
                v->depth--;
            }
        }
    }
    v->path[orig] = '\0';
    return r;
}

static int h5_visit_group(elm_h5 *f, uint64_t addr, const h5_obj *g, h5_visit *v, gl_error *err) {
    return h5_members(f, addr, g, h5_visit_member, v, err);
}

gl_status elm_h5_visit(elm_h5 *f, elm_h5_visit_fn fn, void *user, gl_error *err) {
    gl_error spare;
    if (!err) err = &spare;
    if (!f || !fn) return gl_error_set(err, GL_ERR_INVALID, "hdf5: bad arguments");
    h5_visit *v = ELM_CALLOC(1, sizeof *v);
    if (!v) return gl_error_set(err, GL_ERR_NOMEM, "hdf5: out of memory");
    v->fn = fn;
    v->user = user;
    v->ancestors[0] = f->root;
    f->work = 0;
    h5_obj g;
    int r = h5_object(f, f->root, &g, err);
    if (r == GL_OK) {
        if (!h5_is_group(&g)) r = gl_error_set(err, GL_ERR_FORMAT, "hdf5: the root object is not a group");
        else r = h5_visit_group(f, f->root, &g, v, err);
    }
    ELM_FREE(v);
    return r == 1 ? GL_OK : (gl_status)r;
}
