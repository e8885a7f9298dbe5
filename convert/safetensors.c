/*
 * safetensors.c — validated, zero-copy reader for safetensors files and sharded sets.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data; offsets are relative to the byte after the header.
 */
#include "alloc.h"
#include "safetensors.h"
#include "convert.h" /* elm_cv_path_join */

#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)256 << 20) /* HF caps headers at 100 MB; be a bit looser */
#define ST_MAX_SHARDS 4096

typedef struct st_shard {
    char *path;
    elm_map map;
    const uint8_t *data; /* start of the data section */
    uint64_t data_size;
} st_shard;

struct elm_st {
    st_shard *shards;
    int n_shards;
    elm_st_tensor *tensors;
    int64_t n_tensors, cap_tensors;
};

/* ---- file mapping ---- */

gl_status elm_map_open(elm_map *m, const char *path, gl_error *err) {
    memset(m, 0, sizeof *m);
    void *p;
    size_t size;
    gl_error e = {0};
    if (gl_map_file(path, "map", &p, &size, &e) != GL_OK) {
        if (e.code != GL_ERR_FORMAT) return gl_error_set(err, e.code, "%s", e.msg);
        return GL_OK; /* an empty file maps to nothing; the caller's parser reports it */
    }
    m->base = p;
    m->data = p;
    m->size = size;
    return GL_OK;
}

void elm_map_close(elm_map *m) {
    if (m) gl_unmap_file(m->base, m->size);
    if (m) memset(m, 0, sizeof *m);
}

/* ---- dtypes ---- */

/* Bytes per element of a safetensors dtype; 0 when unknown. */
static size_t st_dtype_size(const char *s, elm_st_dtype *kind) {
    static const struct {
        const char *name;
        size_t size;
        elm_st_dtype kind;
    } table[] = {
        {"F32", 4, ELM_ST_F32},    {"F16", 2, ELM_ST_F16},     {"BF16", 2, ELM_ST_BF16},
        {"F64", 8, ELM_ST_OTHER},  {"I64", 8, ELM_ST_OTHER},   {"U64", 8, ELM_ST_OTHER},
        {"I32", 4, ELM_ST_OTHER},  {"U32", 4, ELM_ST_OTHER},   {"I16", 2, ELM_ST_OTHER},
        {"U16", 2, ELM_ST_OTHER},  {"I8", 1, ELM_ST_OTHER},    {"U8", 1, ELM_ST_OTHER},
        {"BOOL", 1, ELM_ST_OTHER}, {"F8_E4M3", 1, ELM_ST_OTHER}, {"F8_E5M2", 1, ELM_ST_OTHER},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!strcmp(s, table[i].name)) {
            *kind = table[i].kind;
            return table[i].size;
        }
    }
    return 0;
}

/* ---- header parsing ---- */

static gl_status st_add_tensor(elm_st *st, const elm_st_tensor *t) {
    if (st->n_tensors == st->cap_tensors) {
        int64_t cap = st->cap_tensors ? st->cap_tensors * 2 : 64;
        elm_st_tensor *nt = ELM_REALLOC(st->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return GL_ERR_NOMEM;
        st->tensors = nt;
        st->cap_tensors = cap;
    }
    st->tensors[st->n_tensors++] = *t;
    return GL_OK;
}

/* Validates one header entry and appends the tensor. */
static gl_status st_parse_entry(elm_st *st, int shard_idx, const elm_json *e, gl_error *err) {
    const st_shard *sh = &st->shards[shard_idx];
    const char *name = e->key;
    if (e->type != ELM_JSON_OBJECT)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: entry '%.64s' is not an object", sh->path, name);
    if (e->key_len == 0 || strlen(name) != e->key_len)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: empty or invalid tensor name", sh->path);
    elm_st_tensor t;
    memset(&t, 0, sizeof t);
    t.shard = shard_idx;
    const char *dt = elm_json_get_str(e, "dtype");
    if (!dt) return gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' has no dtype", sh->path, name);
    size_t esz = st_dtype_size(dt, &t.dtype);
    if (esz == 0)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' has unknown dtype '%.16s'", sh->path,
                            name, dt);
    snprintf(t.dtype_name, sizeof t.dtype_name, "%s", dt);
    const elm_json *shape = elm_json_get(e, "shape");
    if (!elm_json_is(shape, ELM_JSON_ARRAY) || shape->len > ELM_ST_MAX_DIMS)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' has a bad shape", sh->path, name);
    t.n_dims = (int)shape->len;
    uint64_t numel = 1;
    for (int d = 0; d < t.n_dims; d++) {
        int64_t v;
        if (!elm_json_int(shape->items[d], &v) || v < 0)
            return gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' has a bad dimension", sh->path, name);
        if (v != 0 && numel > (UINT64_MAX / 16) / (uint64_t)v)
            return gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' is too large", sh->path, name);
        numel *= (uint64_t)v;
        t.shape[d] = v;
    }
    const elm_json *offs = elm_json_get(e, "data_offsets");
    int64_t b, en;
    if (elm_json_count(offs) != 2 || !elm_json_is(offs, ELM_JSON_ARRAY) || !elm_json_int(offs->items[0], &b) ||
        !elm_json_int(offs->items[1], &en) || b < 0 || en < b)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' has bad data_offsets", sh->path, name);
    if ((uint64_t)en > sh->data_size)
        return gl_error_set(err, GL_ERR_FORMAT,
                            "%s: tensor '%.64s' data [%lld, %lld) runs past the end of the file "
                            "(%llu data bytes)",
                            sh->path, name, (long long)b, (long long)en, (unsigned long long)sh->data_size);
    if ((uint64_t)(en - b) != numel * esz)
        return gl_error_set(err, GL_ERR_FORMAT,
                            "%s: tensor '%.64s' has %lld data bytes but its shape and dtype need %llu",
                            sh->path, name, (long long)(en - b), (unsigned long long)(numel * esz));
    t.n_elements = (int64_t)numel;
    t.nbytes = (uint64_t)(en - b);
    t.data = sh->data + b;
    char *nm = ELM_MALLOC(e->key_len + 1);
    if (!nm) return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    memcpy(nm, name, e->key_len + 1);
    t.name = nm;
    if (st_add_tensor(st, &t) != GL_OK) {
        ELM_FREE(nm);
        return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    }
    return GL_OK;
}

/* Maps shard i (path already set) and reads its header. */
static gl_status st_load_shard(elm_st *st, int i, gl_error *err) {
    st_shard *sh = &st->shards[i];
    gl_status s = elm_map_open(&sh->map, sh->path, err);
    if (s != GL_OK) return s;
    if (sh->map.size < 8)
        return gl_error_set(err, GL_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes)", sh->path,
                            sh->map.size);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | sh->map.data[k];
    if (hlen > ST_MAX_HEADER || hlen > sh->map.size - 8)
        return gl_error_set(err, GL_ERR_FORMAT,
                            "%s: header length %llu does not fit the file (%zu bytes): not a safetensors "
                            "file or truncated",
                            sh->path, (unsigned long long)hlen, sh->map.size);
    sh->data = sh->map.data + 8 + hlen;
    sh->data_size = sh->map.size - 8 - hlen;
    gl_error jerr = {0};
    elm_json_doc *doc = elm_json_parse((const char *)sh->map.data + 8, (size_t)hlen, &jerr);
    if (!doc) return gl_error_set(err, GL_ERR_FORMAT, "%s: bad header: %s", sh->path, jerr.msg);
    const elm_json *root = elm_json_root(doc);
    if (root->type != ELM_JSON_OBJECT) {
        elm_json_free(doc);
        return gl_error_set(err, GL_ERR_FORMAT, "%s: header is not a JSON object", sh->path);
    }
    s = GL_OK;
    for (size_t k = 0; k < root->len && s == GL_OK; k++) {
        if (!strcmp(root->items[k]->key, "__metadata__")) continue;
        s = st_parse_entry(st, i, root->items[k], err);
    }
    elm_json_free(doc);
    return s;
}

static bool st_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool st_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool st_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static gl_status st_add_shard(elm_st *st, char *path, gl_error *err) {
    if (st->n_shards >= ST_MAX_SHARDS) {
        ELM_FREE(path);
        return gl_error_set(err, GL_ERR_FORMAT, "too many shards");
    }
    st_shard *ns = ELM_REALLOC(st->shards, (size_t)(st->n_shards + 1) * sizeof *ns);
    if (!ns) {
        ELM_FREE(path);
        return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    }
    st->shards = ns;
    memset(&ns[st->n_shards], 0, sizeof ns[0]);
    ns[st->n_shards].path = path;
    st->n_shards++;
    return st_load_shard(st, st->n_shards - 1, err);
}

/* An index file: {"weight_map": {"tensor": "model-00001-of-00002.safetensors", ...}}. */
static gl_status st_open_index(elm_st *st, const char *index_path, gl_error *err) {
    elm_json_doc *doc = elm_json_parse_file(index_path, err);
    if (!doc) return err ? err->code : GL_ERR_FORMAT;
    const elm_json *wm = elm_json_get(elm_json_root(doc), "weight_map");
    if (!elm_json_is(wm, ELM_JSON_OBJECT)) {
        elm_json_free(doc);
        return gl_error_set(err, GL_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    }
    char *dir = elm_strdup(index_path);
    if (!dir) {
        elm_json_free(doc);
        return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else strcpy(dir, "./");
    gl_status s = GL_OK;
    /* Distinct shard files in order of first mention. */
    for (size_t k = 0; k < wm->len && s == GL_OK; k++) {
        const char *file = elm_json_str(wm->items[k]);
        if (!file || !*file || strchr(file, '/') || strchr(file, '\\') || !strcmp(file, "..")) {
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: bad shard file name for '%.64s'", index_path,
                             wm->items[k]->key);
            break;
        }
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++) seen = !strcmp(elm_json_str(wm->items[j]), file);
        if (seen) continue;
        char *p = elm_cv_path_join(dir, file);
        if (!p) s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        else s = st_add_shard(st, p, err);
    }
    /* Every mapped tensor must be in the shard the index names. */
    for (size_t k = 0; k < wm->len && s == GL_OK; k++) {
        const elm_st_tensor *t = elm_st_find(st, wm->items[k]->key);
        const char *file = elm_json_str(wm->items[k]);
        if (!t || !st_ends_with(st->shards[t->shard].path, file))
            s = gl_error_set(err, GL_ERR_FORMAT, "%s: tensor '%.64s' is not in %.64s", index_path,
                             wm->items[k]->key, file);
    }
    ELM_FREE(dir);
    elm_json_free(doc);
    return s;
}

elm_st *elm_st_open(const char *path, gl_error *err) {
    elm_st *st = ELM_CALLOC(1, sizeof *st);
    if (!st) {
        gl_error_set(err, GL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    gl_status s;
    if (st_is_dir(path)) {
        char *single = elm_cv_path_join(path, "model.safetensors");
        char *index = elm_cv_path_join(path, "model.safetensors.index.json");
        if (!single || !index) {
            s = gl_error_set(err, GL_ERR_NOMEM, "out of memory");
            ELM_FREE(single);
        } else if (st_exists(single)) {
            s = st_add_shard(st, single, err);
        } else if (st_exists(index)) {
            ELM_FREE(single);
            s = st_open_index(st, index, err);
        } else {
            ELM_FREE(single);
            s = gl_error_set(err, GL_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json",
                             path);
        }
        ELM_FREE(index);
    } else if (st_ends_with(path, ".json")) {
        s = st_open_index(st, path, err);
    } else {
        char *p = elm_strdup(path);
        s = p ? st_add_shard(st, p, err) : gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    }
    if (s != GL_OK) {
        elm_st_close(st);
        return NULL;
    }
    return st;
}

void elm_st_close(elm_st *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n_tensors; i++) ELM_FREE((char *)st->tensors[i].name);
    for (int i = 0; i < st->n_shards; i++) {
        elm_map_close(&st->shards[i].map);
        ELM_FREE(st->shards[i].path);
    }
    ELM_FREE(st->tensors);
    ELM_FREE(st->shards);
    ELM_FREE(st);
}

int64_t elm_st_n_tensors(const elm_st *st) { return st ? st->n_tensors : 0; }

const elm_st_tensor *elm_st_at(const elm_st *st, int64_t i) {
    return st && i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const elm_st_tensor *elm_st_find(const elm_st *st, const char *name) {
    if (!st || !name) return NULL;
    for (int64_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

int elm_st_n_shards(const elm_st *st) { return st ? st->n_shards : 0; }

uint64_t elm_st_total_bytes(const elm_st *st) {
    uint64_t n = 0;
    for (int64_t i = 0; st && i < st->n_tensors; i++) n += st->tensors[i].nbytes;
    return n;
}

gl_status elm_st_read_f32(const elm_st_tensor *t, int64_t first, int64_t n, float *out, gl_error *err) {
    if (first < 0 || n < 0 || first > t->n_elements || n > t->n_elements - first)
        return gl_error_set(err, GL_ERR_INVALID, "read of '%.64s' out of range", t->name);
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ELM_ST_F32:
        memcpy(out, p + first * 4, (size_t)n * 4);
        return GL_OK;
    case ELM_ST_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + (first + i) * 2, 2);
            out[i] = gl_fp16_to_fp32(h);
        }
        return GL_OK;
    case ELM_ST_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + (first + i) * 2, 2);
            out[i] = gl_bf16_to_fp32(h);
        }
        return GL_OK;
    default:
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "tensor '%.64s' has dtype %s: only F32, F16 and BF16 can be converted", t->name,
                            t->dtype_name);
    }
}
