/*
 * torch_zip.c — PyTorch zip checkpoints: a zip directory reader (stored entries, zip64) and a
 * restricted unpickler that rebuilds a state dict of tensors without executing anything.
 *
 * The unpickler is a small stack machine over typed values. Each opcode creates at most one
 * value, so the value table, the stack and every container stay within a bound set by the
 * pickle's length; memo indices are checked against the table. Only the globals listed in
 * torch_zip.h are recognised; REDUCE applies one of them or fails.
 */
#include "alloc.h"
#include "torch_zip.h"

#include "safetensors.h" /* elm_map */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_MEMO (1 << 24)

/* ------------------------------------------------------------------------------------------
 * dtypes
 * ---------------------------------------------------------------------------------------- */

static const struct {
    const char *storage; /* torch.<X>Storage */
    const char *name;    /* safetensors spelling */
    size_t size;
} tz_dtypes[ELM_TZ_DTYPE_COUNT] = {
    [ELM_TZ_F32] = {"FloatStorage", "F32", 4},   [ELM_TZ_F16] = {"HalfStorage", "F16", 2},
    [ELM_TZ_BF16] = {"BFloat16Storage", "BF16", 2}, [ELM_TZ_F64] = {"DoubleStorage", "F64", 8},
    [ELM_TZ_I64] = {"LongStorage", "I64", 8},    [ELM_TZ_I32] = {"IntStorage", "I32", 4},
    [ELM_TZ_I16] = {"ShortStorage", "I16", 2},   [ELM_TZ_I8] = {"CharStorage", "I8", 1},
    [ELM_TZ_U8] = {"ByteStorage", "U8", 1},      [ELM_TZ_BOOL] = {"BoolStorage", "BOOL", 1},
};

size_t elm_tz_dtype_size(elm_tz_dtype d) { return (unsigned)d < ELM_TZ_DTYPE_COUNT ? tz_dtypes[d].size : 0; }

const char *elm_tz_dtype_name(elm_tz_dtype d) {
    return (unsigned)d < ELM_TZ_DTYPE_COUNT ? tz_dtypes[d].name : "?";
}

/* ------------------------------------------------------------------------------------------
 * zip directory
 * ---------------------------------------------------------------------------------------- */

typedef struct tz_entry {
    const char *name; /* not NUL-terminated: points into the central directory */
    size_t name_len;
    uint16_t method;
    uint64_t size;       /* uncompressed */
    uint64_t csize;      /* compressed */
    uint64_t local_offs; /* local header offset */
} tz_entry;

struct elm_tz {
    elm_map map;         /* when opened from a path */
    const uint8_t *buf;  /* the archive bytes */
    size_t size;
    tz_entry *entries;
    int64_t n_entries;
    elm_tz_tensor *tensors;
    int64_t n_tensors;
    char *strings;       /* names and storage keys, NUL-separated */
};

static uint16_t tz_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t tz_u32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static uint64_t tz_u64(const uint8_t *p) { return (uint64_t)tz_u32(p) | ((uint64_t)tz_u32(p + 4) << 32); }

/* Finds the end-of-central-directory record: scanning back over at most a 64 KiB comment. */
static gl_status tz_find_eocd(const elm_tz *tz, size_t *pos, gl_error *err) {
    if (tz->size < 22) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: file too small for a zip archive");
    size_t lo = tz->size > 22 + 65535 ? tz->size - 22 - 65535 : 0;
    for (size_t i = tz->size - 22 + 1; i-- > lo;) {
        if (tz_u32(tz->buf + i) == 0x06054b50u && i + 22 + tz_u16(tz->buf + i + 20) == tz->size) {
            *pos = i;
            return GL_OK;
        }
    }
    return gl_error_set(err, GL_ERR_FORMAT, "torch zip: no zip end-of-directory record");
}

/* Reads the zip64 fields that the 32-bit record marks with 0xFFFF / 0xFFFFFFFF. */
static gl_status tz_zip64_eocd(const elm_tz *tz, size_t eocd, uint64_t *n, uint64_t *cd_size, uint64_t *cd_offs,
                               gl_error *err) {
    if (eocd < 20 || tz_u32(tz->buf + eocd - 20) != 0x07064b50u)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: zip64 locator missing");
    uint64_t z = tz_u64(tz->buf + eocd - 20 + 8);
    if (z > tz->size || tz->size - z < 56 || tz_u32(tz->buf + z) != 0x06064b50u)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: bad zip64 end-of-directory record");
    *n = tz_u64(tz->buf + z + 32);
    *cd_size = tz_u64(tz->buf + z + 40);
    *cd_offs = tz_u64(tz->buf + z + 48);
    return GL_OK;
}

/* The zip64 extra field (id 1) holds, in order, the fields whose 32-bit value is all ones. */
static gl_status tz_zip64_extra(const uint8_t *ex, size_t len, tz_entry *e, bool need_size, bool need_csize,
                                bool need_offs, gl_error *err) {
    size_t i = 0;
    while (i + 4 <= len) {
        uint16_t id = tz_u16(ex + i), sz = tz_u16(ex + i + 2);
        if (sz > len - i - 4) break;
        if (id == 1) {
            const uint8_t *p = ex + i + 4, *end = p + sz;
            if (need_size) { if (end - p < 8) goto bad; e->size = tz_u64(p); p += 8; }
            if (need_csize) { if (end - p < 8) goto bad; e->csize = tz_u64(p); p += 8; }
            if (need_offs) { if (end - p < 8) goto bad; e->local_offs = tz_u64(p); }
            return GL_OK;
        }
        i += 4 + (size_t)sz;
    }
bad:
    return gl_error_set(err, GL_ERR_FORMAT, "torch zip: entry '%.*s' lacks its zip64 sizes", (int)(e->name_len > 64 ? 64 : e->name_len), e->name);
}

static gl_status tz_read_directory(elm_tz *tz, gl_error *err) {
    size_t eocd = 0;
    gl_status s = tz_find_eocd(tz, &eocd, err);
    if (s != GL_OK) return s;
    const uint8_t *r = tz->buf + eocd;
    uint64_t n = tz_u16(r + 10), cd_size = tz_u32(r + 12), cd_offs = tz_u32(r + 16);
    if (n == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offs == 0xFFFFFFFFu)
        if ((s = tz_zip64_eocd(tz, eocd, &n, &cd_size, &cd_offs, err)) != GL_OK) return s;
    if (cd_offs > tz->size || cd_size > tz->size - cd_offs)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: central directory outside the file");
    if (n > cd_size / 46) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: entry count exceeds the directory");
    tz->entries = ELM_CALLOC(n ? (size_t)n : 1, sizeof *tz->entries);
    if (!tz->entries) return gl_error_set(err, GL_ERR_NOMEM, "torch zip: out of memory");
    const uint8_t *p = tz->buf + cd_offs, *end = p + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || tz_u32(p) != 0x02014b50u)
            return gl_error_set(err, GL_ERR_FORMAT, "torch zip: bad central directory entry %llu", (unsigned long long)i);
        size_t nl = tz_u16(p + 28), xl = tz_u16(p + 30), cl = tz_u16(p + 32);
        if ((size_t)(end - p) - 46 < nl + xl + cl)
            return gl_error_set(err, GL_ERR_FORMAT, "torch zip: central directory entry %llu overruns", (unsigned long long)i);
        tz_entry *e = &tz->entries[i];
        e->name = (const char *)p + 46;
        e->name_len = nl;
        e->method = tz_u16(p + 10);
        e->csize = tz_u32(p + 20);
        e->size = tz_u32(p + 24);
        e->local_offs = tz_u32(p + 42);
        bool a = e->size == 0xFFFFFFFFu, b = e->csize == 0xFFFFFFFFu, c = e->local_offs == 0xFFFFFFFFu;
        if ((a || b || c) && (s = tz_zip64_extra(p + 46 + nl, xl, e, a, b, c, err)) != GL_OK) return s;
        p += 46 + nl + xl + cl;
    }
    tz->n_entries = (int64_t)n;
    return GL_OK;
}

static const tz_entry *tz_entry_find(const elm_tz *tz, const char *prefix, size_t plen, const char *name,
                                     size_t nlen) {
    for (int64_t i = 0; i < tz->n_entries; i++) {
        const tz_entry *e = &tz->entries[i];
        if (e->name_len == plen + nlen && !memcmp(e->name, prefix, plen) && !memcmp(e->name + plen, name, nlen))
            return e;
    }
    return NULL;
}

/* Locates an entry's bytes through its local header; only stored entries can be mapped. */
static gl_status tz_entry_data(const elm_tz *tz, const tz_entry *e, const uint8_t **data, gl_error *err) {
    int nl = (int)(e->name_len > 64 ? 64 : e->name_len);
    if (e->method != 0 || e->csize != e->size)
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "torch zip: entry '%.*s' is compressed (method %u); only stored entries are supported",
                            nl, e->name, e->method);
    if (e->local_offs > tz->size || tz->size - e->local_offs < 30 || tz_u32(tz->buf + e->local_offs) != 0x04034b50u)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: bad local header for '%.*s'", nl, e->name);
    const uint8_t *h = tz->buf + e->local_offs;
    uint64_t start = e->local_offs + 30 + (uint64_t)tz_u16(h + 26) + tz_u16(h + 28);
    if (start > tz->size || e->size > tz->size - start)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: entry '%.*s' extends past the end of the file", nl,
                            e->name);
    *data = tz->buf + start;
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * restricted unpickler
 * ---------------------------------------------------------------------------------------- */

typedef enum tz_kind {
    TZV_NONE, TZV_BOOL, TZV_INT, TZV_FLOAT, TZV_STR, TZV_TUPLE, TZV_LIST, TZV_DICT,
    TZV_GLOBAL, TZV_STORAGE, TZV_TENSOR, TZV_MARK,
} tz_kind;

typedef enum tz_global { TZG_ORDERED_DICT, TZG_REBUILD_V2, TZG_REBUILD_PARAM, TZG_STORAGE } tz_global_id;

typedef struct tz_val {
    tz_kind kind;
    int64_t i;        /* INT, BOOL; GLOBAL: tz_global; TENSOR: index into tmp tensors; STORAGE: numel */
    const char *s;    /* STR (into the pickle); STORAGE: key */
    size_t slen;
    elm_tz_dtype dtype; /* GLOBAL storage class, STORAGE */
    int32_t *items;   /* TUPLE/LIST/DICT (dict: key, value, key, value …) */
    int64_t n, cap;
} tz_val;

/* A tensor as _rebuild_tensor_v2 describes it; its key still points into the pickle. */
typedef struct tz_tmp {
    elm_tz_tensor t;
    size_t key_len;
} tz_tmp;

typedef struct tz_vm {
    const uint8_t *p, *end;
    tz_val *vals;
    int64_t n_vals, cap_vals;
    int32_t *stack;
    int64_t sp, cap_stack;
    int32_t *memo;    /* value index or -1 */
    int64_t n_memo;
    tz_tmp *tens;     /* rebuilt tensors (name and data filled later) */
    int64_t n_tens, cap_tens;
    gl_error *err;
} tz_vm;

static gl_status tz_fail(tz_vm *vm, const char *what) {
    return gl_error_set(vm->err, GL_ERR_FORMAT, "torch pickle: %s", what);
}

static void *tz_grow(void *p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return p;
    int64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = ELM_REALLOC(p, (size_t)c * elem);
    if (q) *cap = c;
    return q;
}

/* Adds a value; returns its index or -1 (error set). */
static int32_t tz_new(tz_vm *vm, tz_kind kind) {
    if (vm->n_vals >= INT32_MAX) { tz_fail(vm, "too many values"); return -1; }
    tz_val *v = tz_grow(vm->vals, &vm->cap_vals, vm->n_vals + 1, sizeof *vm->vals);
    if (!v) { gl_error_set(vm->err, GL_ERR_NOMEM, "torch pickle: out of memory"); return -1; }
    vm->vals = v;
    memset(&v[vm->n_vals], 0, sizeof *v);
    v[vm->n_vals].kind = kind;
    return (int32_t)vm->n_vals++;
}

static gl_status tz_push(tz_vm *vm, int32_t idx) {
    if (idx < 0) return vm->err ? vm->err->code : GL_ERR_FORMAT;
    int32_t *s = tz_grow(vm->stack, &vm->cap_stack, vm->sp + 1, sizeof *vm->stack);
    if (!s) return gl_error_set(vm->err, GL_ERR_NOMEM, "torch pickle: out of memory");
    vm->stack = s;
    vm->stack[vm->sp++] = idx;
    return GL_OK;
}

static gl_status tz_push_new(tz_vm *vm, tz_kind kind, int64_t i) {
    int32_t idx = tz_new(vm, kind);
    if (idx >= 0) vm->vals[idx].i = i;
    return tz_push(vm, idx);
}

/* Pops a value that must not be a MARK; -1 on underflow. */
static int32_t tz_pop(tz_vm *vm) {
    if (vm->sp <= 0 || vm->vals[vm->stack[vm->sp - 1]].kind == TZV_MARK) {
        tz_fail(vm, "stack underflow");
        return -1;
    }
    return vm->stack[--vm->sp];
}

static gl_status tz_append(tz_vm *vm, int32_t container, int32_t item) {
    tz_val *c = &vm->vals[container];
    int32_t *it = tz_grow(c->items, &c->cap, c->n + 1, sizeof *c->items);
    if (!it) return gl_error_set(vm->err, GL_ERR_NOMEM, "torch pickle: out of memory");
    c->items = it;
    c->items[c->n++] = item;
    return GL_OK;
}

/* Position of the topmost MARK on the stack, or -1. */
static int64_t tz_mark_pos(const tz_vm *vm) {
    for (int64_t i = vm->sp; i-- > 0;)
        if (vm->vals[vm->stack[i]].kind == TZV_MARK) return i;
    return -1;
}

/* Moves the stack items above position `from` into a new container of `kind` (replacing them). */
static gl_status tz_collect(tz_vm *vm, int64_t from, tz_kind kind) {
    int32_t c = tz_new(vm, kind);
    if (c < 0) return vm->err ? vm->err->code : GL_ERR_NOMEM;
    for (int64_t i = from; i < vm->sp; i++)
        if (tz_append(vm, c, vm->stack[i]) != GL_OK) return GL_ERR_NOMEM;
    vm->sp = from;
    return tz_push(vm, c);
}

static gl_status tz_collect_mark(tz_vm *vm, tz_kind kind) {
    int64_t m = tz_mark_pos(vm);
    if (m < 0) return tz_fail(vm, "no MARK for a tuple/list");
    gl_status s = tz_collect(vm, m + 1, kind);
    if (s != GL_OK) return s;
    /* drop the MARK under the new container */
    vm->stack[m] = vm->stack[m + 1];
    vm->sp = m + 1;
    return GL_OK;
}

static gl_status tz_need(tz_vm *vm, size_t n) {
    return (size_t)(vm->end - vm->p) >= n ? GL_OK : tz_fail(vm, "truncated");
}

static bool tz_str_is(const tz_val *v, const char *lit) {
    size_t n = strlen(lit);
    return v->kind == TZV_STR && v->slen == n && !memcmp(v->s, lit, n);
}

/* Resolves module.name against the allow-list. */
static gl_status tz_global(tz_vm *vm, const char *mod, size_t ml, const char *name, size_t nl) {
#define TZ_IS(str, len, lit) ((len) == sizeof(lit) - 1 && !memcmp((str), (lit), (len)))
    int32_t g = tz_new(vm, TZV_GLOBAL);
    if (g < 0) return vm->err ? vm->err->code : GL_ERR_NOMEM;
    tz_val *v = &vm->vals[g];
    if (TZ_IS(mod, ml, "collections") && TZ_IS(name, nl, "OrderedDict")) v->i = TZG_ORDERED_DICT;
    else if (TZ_IS(mod, ml, "torch._utils") && TZ_IS(name, nl, "_rebuild_tensor_v2")) v->i = TZG_REBUILD_V2;
    else if (TZ_IS(mod, ml, "torch._utils") && TZ_IS(name, nl, "_rebuild_parameter")) v->i = TZG_REBUILD_PARAM;
    else {
        int d = -1;
        if (TZ_IS(mod, ml, "torch"))
            for (int k = 0; k < ELM_TZ_DTYPE_COUNT; k++)
                if (strlen(tz_dtypes[k].storage) == nl && !memcmp(tz_dtypes[k].storage, name, nl)) d = k;
        if (d < 0)
            return gl_error_set(vm->err, GL_ERR_UNSUPPORTED,
                                "torch pickle: global %.*s.%.*s is not allowed (only a state dict of tensors "
                                "can be read)",
                                (int)(ml > 64 ? 64 : ml), mod, (int)(nl > 64 ? 64 : nl), name);
        v->i = TZG_STORAGE;
        v->dtype = (elm_tz_dtype)d;
    }
#undef TZ_IS
    return tz_push(vm, g);
}

/* GLOBAL opcode: "module\nname\n". */
static gl_status tz_op_global(tz_vm *vm) {
    const char *a = (const char *)vm->p, *e = (const char *)vm->end;
    const char *n1 = memchr(a, '\n', (size_t)(e - a));
    if (!n1) return tz_fail(vm, "truncated GLOBAL");
    const char *b = n1 + 1;
    const char *n2 = memchr(b, '\n', (size_t)(e - b));
    if (!n2) return tz_fail(vm, "truncated GLOBAL");
    vm->p = (const uint8_t *)n2 + 1;
    return tz_global(vm, a, (size_t)(n1 - a), b, (size_t)(n2 - b));
}

static gl_status tz_op_stack_global(tz_vm *vm) {
    int32_t n = tz_pop(vm), m = n >= 0 ? tz_pop(vm) : -1;
    if (m < 0) return GL_ERR_FORMAT;
    if (vm->vals[n].kind != TZV_STR || vm->vals[m].kind != TZV_STR) return tz_fail(vm, "STACK_GLOBAL needs strings");
    return tz_global(vm, vm->vals[m].s, vm->vals[m].slen, vm->vals[n].s, vm->vals[n].slen);
}

static gl_status tz_op_string(tz_vm *vm, size_t len_bytes) {
    gl_status s = tz_need(vm, len_bytes);
    if (s != GL_OK) return s;
    uint64_t n = len_bytes == 1 ? vm->p[0] : len_bytes == 4 ? tz_u32(vm->p) : tz_u64(vm->p);
    vm->p += len_bytes;
    if (n > (uint64_t)(vm->end - vm->p)) return tz_fail(vm, "string runs past the end");
    int32_t v = tz_new(vm, TZV_STR);
    if (v < 0) return GL_ERR_NOMEM;
    vm->vals[v].s = (const char *)vm->p;
    vm->vals[v].slen = (size_t)n;
    vm->p += n;
    return tz_push(vm, v);
}

static gl_status tz_op_long1(tz_vm *vm) {
    gl_status s = tz_need(vm, 1);
    if (s != GL_OK) return s;
    unsigned n = vm->p[0];
    vm->p++;
    if (n > 8) return tz_fail(vm, "integer wider than 64 bits");
    if ((s = tz_need(vm, n)) != GL_OK) return s;
    uint64_t u = 0;
    for (unsigned k = 0; k < n; k++) u |= (uint64_t)vm->p[k] << (8 * k);
    if (n > 0 && n < 8 && (vm->p[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    vm->p += n;
    return tz_push_new(vm, TZV_INT, (int64_t)u);
}

static gl_status tz_memo_put(tz_vm *vm, uint64_t key) {
    if (vm->sp <= 0) return tz_fail(vm, "memo store on an empty stack");
    if (key >= TZ_MAX_MEMO) return tz_fail(vm, "memo index too large");
    if ((int64_t)key >= vm->n_memo) {
        int32_t *m = ELM_REALLOC(vm->memo, (size_t)(key + 1) * sizeof *m);
        if (!m) return gl_error_set(vm->err, GL_ERR_NOMEM, "torch pickle: out of memory");
        for (int64_t i = vm->n_memo; i <= (int64_t)key; i++) m[i] = -1;
        vm->memo = m;
        vm->n_memo = (int64_t)key + 1;
    }
    vm->memo[key] = vm->stack[vm->sp - 1];
    return GL_OK;
}

static gl_status tz_memo_get(tz_vm *vm, uint64_t key) {
    if ((int64_t)key >= vm->n_memo || vm->memo[key] < 0) return tz_fail(vm, "memo index not set");
    return tz_push(vm, vm->memo[key]);
}

/* A tuple of non-negative ints (size or stride) → out[]; returns count or -1. */
static int tz_int_tuple(const tz_vm *vm, int32_t idx, int64_t *out) {
    const tz_val *t = &vm->vals[idx];
    if ((t->kind != TZV_TUPLE && t->kind != TZV_LIST) || t->n > ELM_TZ_MAX_DIMS) return -1;
    for (int64_t i = 0; i < t->n; i++) {
        const tz_val *e = &vm->vals[t->items[i]];
        if (e->kind != TZV_INT || e->i < 0) return -1;
        out[i] = e->i;
    }
    return (int)t->n;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata]). */
static gl_status tz_rebuild_tensor(tz_vm *vm, const tz_val *args) {
    if (args->n < 6 || args->n > 7) return tz_fail(vm, "_rebuild_tensor_v2 expects 6 or 7 arguments");
    const tz_val *st = &vm->vals[args->items[0]], *off = &vm->vals[args->items[1]];
    if (st->kind != TZV_STORAGE) return tz_fail(vm, "_rebuild_tensor_v2: first argument is not a storage");
    if (off->kind != TZV_INT || off->i < 0) return tz_fail(vm, "_rebuild_tensor_v2: bad storage offset");
    elm_tz_tensor t;
    memset(&t, 0, sizeof t);
    int nd = tz_int_tuple(vm, args->items[2], t.shape), ns = tz_int_tuple(vm, args->items[3], t.strides);
    if (nd < 0 || ns != nd) return tz_fail(vm, "_rebuild_tensor_v2: bad size/stride tuples (or more than 8 dims)");
    t.n_dims = nd;
    t.dtype = st->dtype;
    t.storage_offset = off->i;
    t.storage_numel = st->i;
    t.storage_key = st->s; /* not terminated: copied with its length in tz_finish */
    tz_tmp *tt = tz_grow(vm->tens, &vm->cap_tens, vm->n_tens + 1, sizeof *vm->tens);
    if (!tt) return gl_error_set(vm->err, GL_ERR_NOMEM, "torch pickle: out of memory");
    vm->tens = tt;
    vm->tens[vm->n_tens].t = t;
    vm->tens[vm->n_tens].key_len = st->slen;
    return tz_push_new(vm, TZV_TENSOR, vm->n_tens++);
}

static gl_status tz_op_reduce(tz_vm *vm) {
    int32_t a = tz_pop(vm), f = a >= 0 ? tz_pop(vm) : -1;
    if (f < 0) return GL_ERR_FORMAT;
    const tz_val *fn = &vm->vals[f], *args = &vm->vals[a];
    if (fn->kind != TZV_GLOBAL || args->kind != TZV_TUPLE) return tz_fail(vm, "REDUCE of something not callable");
    switch ((tz_global_id)fn->i) {
    case TZG_ORDERED_DICT:
        if (args->n != 0) return tz_fail(vm, "OrderedDict with arguments");
        return tz_push_new(vm, TZV_DICT, 0);
    case TZG_REBUILD_V2:
        return tz_rebuild_tensor(vm, args);
    case TZG_REBUILD_PARAM: /* (tensor, requires_grad, hooks): the tensor itself */
        if (args->n < 1 || vm->vals[args->items[0]].kind != TZV_TENSOR)
            return tz_fail(vm, "_rebuild_parameter without a tensor");
        return tz_push(vm, args->items[0]);
    default:
        return tz_fail(vm, "a storage class cannot be called");
    }
}

/* BINPERSID: ('storage', storage_class, key, location, numel). */
static gl_status tz_op_persid(tz_vm *vm) {
    int32_t pid = tz_pop(vm);
    if (pid < 0) return GL_ERR_FORMAT;
    const tz_val *t = &vm->vals[pid];
    if (t->kind != TZV_TUPLE || t->n != 5 || !tz_str_is(&vm->vals[t->items[0]], "storage"))
        return tz_fail(vm, "persistent id is not a ('storage', …) tuple");
    const tz_val *cls = &vm->vals[t->items[1]], *key = &vm->vals[t->items[2]], *num = &vm->vals[t->items[4]];
    if (cls->kind != TZV_GLOBAL || cls->i != TZG_STORAGE) return tz_fail(vm, "persistent id without a storage class");
    if (key->kind != TZV_STR || key->slen == 0 || key->slen > 64) return tz_fail(vm, "bad storage key");
    for (size_t k = 0; k < key->slen; k++)
        if (key->s[k] == '/' || key->s[k] == '\0') return tz_fail(vm, "bad storage key");
    if (num->kind != TZV_INT || num->i < 0) return tz_fail(vm, "bad storage size");
    int32_t v = tz_new(vm, TZV_STORAGE);
    if (v < 0) return GL_ERR_NOMEM;
    vm->vals[v].dtype = vm->vals[vm->vals[pid].items[1]].dtype;
    vm->vals[v].s = vm->vals[vm->vals[pid].items[2]].s;
    vm->vals[v].slen = vm->vals[vm->vals[pid].items[2]].slen;
    vm->vals[v].i = vm->vals[vm->vals[pid].items[4]].i;
    return tz_push(vm, v);
}

/* Adds stack[from, sp) to container c (which must have kind `kind`) and pops them. */
static gl_status tz_fill(tz_vm *vm, int64_t c_pos, int64_t from, tz_kind kind) {
    if (c_pos < 0) return tz_fail(vm, "stack underflow");
    int32_t c = vm->stack[c_pos];
    if (vm->vals[c].kind != kind) return tz_fail(vm, kind == TZV_DICT ? "SETITEM(S) on something not a dict"
                                                                       : "APPEND(S) on something not a list");
    if (kind == TZV_DICT && (vm->sp - from) % 2) return tz_fail(vm, "SETITEMS with an odd item count");
    for (int64_t i = from; i < vm->sp; i++) {
        if (vm->vals[vm->stack[i]].kind == TZV_MARK) return tz_fail(vm, "stray MARK");
        if (tz_append(vm, c, vm->stack[i]) != GL_OK) return GL_ERR_NOMEM;
    }
    vm->sp = c_pos + 1;
    return GL_OK;
}

/* SETITEM [dict key value], SETITEMS [dict MARK k v …], APPEND [list x], APPENDS [list MARK x …]. */
static gl_status tz_op_fill(tz_vm *vm, tz_kind kind, bool many) {
    if (many) {
        int64_t m = tz_mark_pos(vm);
        if (m < 1) return tz_fail(vm, "SETITEMS/APPENDS without MARK and container");
        gl_status s = tz_fill(vm, m - 1, m + 1, kind);
        return s;
    }
    int64_t k = kind == TZV_DICT ? 2 : 1;
    if (vm->sp < k + 1) return tz_fail(vm, "stack underflow");
    return tz_fill(vm, vm->sp - k - 1, vm->sp - k, kind);
}

/* Runs the pickle to STOP; *result gets the final value. */
static gl_status tz_run(tz_vm *vm, int32_t *result) {
    gl_status s = GL_OK;
    while (s == GL_OK) {
        if (vm->p >= vm->end) return tz_fail(vm, "no STOP opcode");
        uint8_t op = *vm->p++;
        switch (op) {
        case 0x80: /* PROTO */
            if ((s = tz_need(vm, 1)) == GL_OK) {
                if (vm->p[0] > 5) return tz_fail(vm, "unsupported pickle protocol");
                vm->p++;
            }
            break;
        case 0x95: /* FRAME: a length hint */
            if ((s = tz_need(vm, 8)) == GL_OK) vm->p += 8;
            break;
        case '.': /* STOP */
            if (vm->sp != 1) return tz_fail(vm, "STOP with a stack that is not one value");
            *result = vm->stack[0];
            return GL_OK;
        case '(': s = tz_push_new(vm, TZV_MARK, 0); break;
        case 'N': s = tz_push_new(vm, TZV_NONE, 0); break;
        case 0x88: s = tz_push_new(vm, TZV_BOOL, 1); break;
        case 0x89: s = tz_push_new(vm, TZV_BOOL, 0); break;
        case ')': s = tz_push_new(vm, TZV_TUPLE, 0); break;
        case ']': s = tz_push_new(vm, TZV_LIST, 0); break;
        case '}': s = tz_push_new(vm, TZV_DICT, 0); break;
        case 'K':
            if ((s = tz_need(vm, 1)) == GL_OK) { s = tz_push_new(vm, TZV_INT, vm->p[0]); vm->p += 1; }
            break;
        case 'M':
            if ((s = tz_need(vm, 2)) == GL_OK) { s = tz_push_new(vm, TZV_INT, tz_u16(vm->p)); vm->p += 2; }
            break;
        case 'J':
            if ((s = tz_need(vm, 4)) == GL_OK) { s = tz_push_new(vm, TZV_INT, (int32_t)tz_u32(vm->p)); vm->p += 4; }
            break;
        case 0x8a: s = tz_op_long1(vm); break;
        case 'G': /* BINFLOAT, big-endian: kept only as a value of the right kind */
            if ((s = tz_need(vm, 8)) == GL_OK) { vm->p += 8; s = tz_push_new(vm, TZV_FLOAT, 0); }
            break;
        case 'X': s = tz_op_string(vm, 4); break;
        case 0x8c: s = tz_op_string(vm, 1); break;
        case 0x8d: s = tz_op_string(vm, 8); break;
        case 'U': s = tz_op_string(vm, 1); break; /* SHORT_BINSTRING */
        case 'c': s = tz_op_global(vm); break;
        case 0x93: s = tz_op_stack_global(vm); break;
        case 'q':
            if ((s = tz_need(vm, 1)) == GL_OK) { s = tz_memo_put(vm, vm->p[0]); vm->p += 1; }
            break;
        case 'r':
            if ((s = tz_need(vm, 4)) == GL_OK) { s = tz_memo_put(vm, tz_u32(vm->p)); vm->p += 4; }
            break;
        case 0x94: s = tz_memo_put(vm, (uint64_t)vm->n_memo); break; /* MEMOIZE */
        case 'h':
            if ((s = tz_need(vm, 1)) == GL_OK) { s = tz_memo_get(vm, vm->p[0]); vm->p += 1; }
            break;
        case 'j':
            if ((s = tz_need(vm, 4)) == GL_OK) { s = tz_memo_get(vm, tz_u32(vm->p)); vm->p += 4; }
            break;
        case 't': s = tz_collect_mark(vm, TZV_TUPLE); break;
        case 'l': s = tz_collect_mark(vm, TZV_LIST); break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int64_t k = op - 0x84;
            if (vm->sp < k) return tz_fail(vm, "stack underflow");
            for (int64_t i = vm->sp - k; i < vm->sp; i++)
                if (vm->vals[vm->stack[i]].kind == TZV_MARK) return tz_fail(vm, "stray MARK");
            s = tz_collect(vm, vm->sp - k, TZV_TUPLE);
            break;
        }
        case 'Q': s = tz_op_persid(vm); break;
        case 'R': s = tz_op_reduce(vm); break;
        case 'b': { /* BUILD: state for an OrderedDict (_metadata) or a tensor: ignored */
            int32_t st = tz_pop(vm);
            if (st < 0) return GL_ERR_FORMAT;
            if (vm->sp < 1) return tz_fail(vm, "BUILD on an empty stack");
            tz_kind k = vm->vals[vm->stack[vm->sp - 1]].kind;
            if (k != TZV_DICT && k != TZV_TENSOR) return tz_fail(vm, "BUILD on an unsupported object");
            break;
        }
        case 's': s = tz_op_fill(vm, TZV_DICT, false); break;
        case 'u': s = tz_op_fill(vm, TZV_DICT, true); break;
        case 'a': s = tz_op_fill(vm, TZV_LIST, false); break;
        case 'e': s = tz_op_fill(vm, TZV_LIST, true); break;
        case '0': s = tz_pop(vm) < 0 ? GL_ERR_FORMAT : GL_OK; break;
        default: {
            char msg[64];
            snprintf(msg, sizeof msg, "opcode 0x%02x is not supported", op);
            return tz_fail(vm, msg);
        }
        }
    }
    return s;
}

static void tz_vm_free(tz_vm *vm) {
    for (int64_t i = 0; i < vm->n_vals; i++) ELM_FREE(vm->vals[i].items);
    ELM_FREE(vm->vals);
    ELM_FREE(vm->stack);
    ELM_FREE(vm->memo);
    ELM_FREE(vm->tens);
}

/* ------------------------------------------------------------------------------------------
 * state dict → tensors
 * ---------------------------------------------------------------------------------------- */

static bool tz_is_contiguous(const elm_tz_tensor *t) {
    int64_t want = 1;
    for (int d = t->n_dims; d-- > 0;) {
        if (t->shape[d] != 1 && t->strides[d] != want) return t->n_elements == 0;
        want *= t->shape[d];
    }
    return true;
}

/* Checks the tensor's extent against its storage and the storage against its zip entry. */
static gl_status tz_place(elm_tz *tz, elm_tz_tensor *t, const char *prefix, size_t plen, gl_error *err) {
    int64_t n = 1, last = t->storage_offset;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->shape[d] > 0 && n > INT64_MAX / t->shape[d]) goto overflow;
        n *= t->shape[d];
    }
    for (int d = 0; d < t->n_dims && n > 0; d++) {
        if (t->shape[d] > 1 && t->strides[d] > (INT64_MAX - last) / (t->shape[d] - 1)) goto overflow;
        last += (t->shape[d] - 1) * t->strides[d];
    }
    t->n_elements = n;
    if (n > 0 ? last >= t->storage_numel : t->storage_offset > t->storage_numel)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: tensor '%.64s' reaches past its storage %s", t->name,
                            t->storage_key);
    const tz_entry *e = tz_entry_find(tz, prefix, plen, t->storage_key, strlen(t->storage_key));
    if (!e) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: storage data/%s of '%.64s' is missing", t->storage_key, t->name);
    const uint8_t *data;
    gl_status s = tz_entry_data(tz, e, &data, err);
    if (s != GL_OK) return s;
    size_t es = elm_tz_dtype_size(t->dtype);
    if ((uint64_t)t->storage_numel > e->size / es)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: storage %s holds %llu bytes, fewer than %lld elements of %s",
                            t->storage_key, (unsigned long long)e->size, (long long)t->storage_numel,
                            elm_tz_dtype_name(t->dtype));
    t->data = data + (size_t)t->storage_offset * es;
    t->contiguous = tz_is_contiguous(t);
    return GL_OK;
overflow:
    return gl_error_set(err, GL_ERR_FORMAT, "torch zip: tensor '%.64s' has an overflowing shape", t->name);
}

/* Copies names and keys into one owned block and places every (name, tensor) pair of the dict. */
static gl_status tz_finish(elm_tz *tz, tz_vm *vm, int32_t root, const char *prefix, size_t plen, gl_error *err) {
    const tz_val *d = &vm->vals[root];
    if (d->kind != TZV_DICT) return gl_error_set(err, GL_ERR_UNSUPPORTED, "torch zip: data.pkl does not hold a dict");
    int64_t n = d->n / 2;
    size_t bytes = 1;
    for (int64_t i = 0; i < n; i++) {
        const tz_val *k = &vm->vals[d->items[2 * i]], *v = &vm->vals[d->items[2 * i + 1]];
        if (k->kind != TZV_STR) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: a state-dict key is not a string");
        if (v->kind != TZV_TENSOR)
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "torch zip: '%.*s' is not a tensor (not a plain state dict)",
                                (int)(k->slen > 64 ? 64 : k->slen), k->s);
        if (memchr(k->s, '\0', k->slen)) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: NUL in a key");
        bytes += k->slen + 1 + vm->tens[v->i].key_len + 1;
    }
    tz->strings = ELM_MALLOC(bytes);
    tz->tensors = ELM_CALLOC(n ? (size_t)n : 1, sizeof *tz->tensors);
    if (!tz->strings || !tz->tensors) return gl_error_set(err, GL_ERR_NOMEM, "torch zip: out of memory");
    char *w = tz->strings;
    for (int64_t i = 0; i < n; i++) {
        const tz_val *k = &vm->vals[d->items[2 * i]], *v = &vm->vals[d->items[2 * i + 1]];
        elm_tz_tensor *t = &tz->tensors[i];
        *t = vm->tens[v->i].t;
        size_t klen = vm->tens[v->i].key_len;
        memcpy(w, k->s, k->slen);
        w[k->slen] = '\0';
        t->name = w;
        w += k->slen + 1;
        memcpy(w, t->storage_key, klen);
        w[klen] = '\0';
        t->storage_key = w;
        w += klen + 1;
        tz->n_tensors = i + 1;
        gl_status s = tz_place(tz, t, prefix, plen, err);
        if (s != GL_OK) return s;
    }
    return GL_OK;
}

static gl_status tz_load(elm_tz *tz, gl_error *err) {
    if (tz->size >= 2 && tz->buf[0] == 0x80 && tz->buf[1] <= 5)
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "torch zip: this is the legacy (pre-1.6) torch.save format; re-save it with a newer "
                            "PyTorch or as safetensors");
    if (tz->size < 4 || tz_u32(tz->buf) != 0x04034b50u)
        return gl_error_set(err, GL_ERR_FORMAT, "torch zip: not a zip archive");
    gl_status s = tz_read_directory(tz, err);
    if (s != GL_OK) return s;
    /* <prefix>/data.pkl at the archive's top folder */
    const tz_entry *pkl = NULL;
    for (int64_t i = 0; i < tz->n_entries && !pkl; i++) {
        const tz_entry *e = &tz->entries[i];
        const char *slash = memchr(e->name, '/', e->name_len);
        if (slash && (size_t)(e->name + e->name_len - slash) == sizeof "/data.pkl" - 1 &&
            !memcmp(slash, "/data.pkl", sizeof "/data.pkl" - 1))
            pkl = e;
    }
    if (!pkl) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: no <archive>/data.pkl entry");
    size_t plen = pkl->name_len - (sizeof "data.pkl" - 1);
    char prefix[320];
    if (plen + 5 >= sizeof prefix) return gl_error_set(err, GL_ERR_FORMAT, "torch zip: archive name too long");
    memcpy(prefix, pkl->name, plen);
    memcpy(prefix + plen, "data/", 5);
    plen += 5;
    const uint8_t *pk;
    if ((s = tz_entry_data(tz, pkl, &pk, err)) != GL_OK) return s;
    tz_vm vm;
    memset(&vm, 0, sizeof vm);
    vm.p = pk;
    vm.end = pk + pkl->size;
    vm.err = err;
    int32_t root = -1;
    s = tz_run(&vm, &root);
    if (s == GL_OK) s = tz_finish(tz, &vm, root, prefix, plen, err);
    tz_vm_free(&vm);
    return s;
}

static elm_tz *tz_open_common(elm_tz *tz, gl_error *err) {
    if (tz_load(tz, err) != GL_OK) {
        elm_tz_close(tz);
        return NULL;
    }
    return tz;
}

elm_tz *elm_tz_open_buffer(const void *data, size_t size, gl_error *err) {
    elm_tz *tz = ELM_CALLOC(1, sizeof *tz);
    if (!tz) {
        gl_error_set(err, GL_ERR_NOMEM, "torch zip: out of memory");
        return NULL;
    }
    tz->buf = data;
    tz->size = data ? size : 0;
    return tz_open_common(tz, err);
}

elm_tz *elm_tz_open(const char *path, gl_error *err) {
    elm_tz *tz = ELM_CALLOC(1, sizeof *tz);
    if (!tz) {
        gl_error_set(err, GL_ERR_NOMEM, "torch zip: out of memory");
        return NULL;
    }
    if (elm_map_open(&tz->map, path, err) != GL_OK) {
        ELM_FREE(tz);
        return NULL;
    }
    tz->buf = tz->map.data;
    tz->size = tz->map.size;
    elm_tz *r = tz_open_common(tz, err);
    if (!r && err) {
        char msg[GL_ERR_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        gl_error_set(err, err->code, "%.100s: %s", path, msg);
    }
    return r;
}

void elm_tz_close(elm_tz *tz) {
    if (!tz) return;
    elm_map_close(&tz->map);
    ELM_FREE(tz->entries);
    ELM_FREE(tz->tensors);
    ELM_FREE(tz->strings);
    ELM_FREE(tz);
}

int64_t elm_tz_n_tensors(const elm_tz *tz) { return tz ? tz->n_tensors : 0; }

const elm_tz_tensor *elm_tz_at(const elm_tz *tz, int64_t i) {
    return tz && i >= 0 && i < tz->n_tensors ? &tz->tensors[i] : NULL;
}

const elm_tz_tensor *elm_tz_find(const elm_tz *tz, const char *name) {
    for (int64_t i = 0; tz && i < tz->n_tensors; i++)
        if (!strcmp(tz->tensors[i].name, name)) return &tz->tensors[i];
    return NULL;
}

void elm_tz_copy_contiguous(const elm_tz_tensor *t, void *out) {
    size_t es = elm_tz_dtype_size(t->dtype);
    if (t->contiguous) {
        memcpy(out, t->data, (size_t)t->n_elements * es);
        return;
    }
    int64_t idx[ELM_TZ_MAX_DIMS] = {0};
    const uint8_t *base = t->data;
    uint8_t *o = out;
    for (int64_t k = 0; k < t->n_elements; k++) {
        int64_t off = 0;
        for (int d = 0; d < t->n_dims; d++) off += idx[d] * t->strides[d];
        memcpy(o + (size_t)k * es, base + (size_t)off * es, es);
        for (int d = t->n_dims; d-- > 0;) { /* odometer, innermost first */
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}
