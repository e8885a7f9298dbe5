/*
 * test-gguf.c — GGUF reader/writer: round trips of every metadata and tensor type, writer rule
 * checks, the malformed-file suite (each case a small mutation of a valid byte image, plus the
 * valid image truncated at every length) and the stories260K fixture.
 */
#include "ggml-lite.h"
#include "tf.h"

#include <sys/stat.h>

#include <unistd.h>

/* ------------------------------------------------------------------------------------------
 * A growable byte buffer: the write callback target and the malformed-file builder
 * ---------------------------------------------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u8(bytes *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(bytes *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b_u8(b, (uint8_t)(v >> (8 * i)));
}
static void b_u64(bytes *b, uint64_t v) {
    b_u32(b, (uint32_t)v);
    b_u32(b, (uint32_t)(v >> 32));
}
static void b_str(bytes *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_free(bytes *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static size_t write_to_bytes(void *user, const void *buf, size_t n) {
    b_put(user, buf, n);
    return n;
}

/* Opens an exact-size heap copy of p[0..n) (so the sanitizer sees any read past the end),
 * closes it again and says whether it opened. */
static bool try_open(const uint8_t *p, size_t n, gl_error *err) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    gl_gguf *f = gl_gguf_open_buffer(copy, n, err);
    gl_gguf_close(f);
    free(copy);
    return f != NULL;
}

#define GL_TEST_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ------------------------------------------------------------------------------------------
 * Round trip through the writer
 * ---------------------------------------------------------------------------------------- */

static const gl_type k_tensor_types[] = {
    GL_TYPE_F32,  GL_TYPE_F16,  GL_TYPE_BF16, GL_TYPE_Q4_0, GL_TYPE_Q4_1, GL_TYPE_Q5_0, GL_TYPE_Q5_1,
    GL_TYPE_Q8_0, GL_TYPE_Q8_1, GL_TYPE_Q4_K, GL_TYPE_Q6_K, GL_TYPE_I8,   GL_TYPE_I32,
};
#define N_TT ((int)(sizeof k_tensor_types / sizeof k_tensor_types[0]))

typedef struct rt_tensor {
    char name[32];
    gl_type type;
    int n_dims;
    int64_t ne[4];
    size_t nbytes;
    uint8_t *data;
} rt_tensor;

static void make_tensors(rt_tensor *ts, tf_rng *rng) {
    for (int i = 0; i < N_TT; i++) {
        rt_tensor *t = &ts[i];
        const gl_type_traits *tr = gl_type_get(k_tensor_types[i]);
        snprintf(t->name, sizeof t->name, "blk.%d.%s", i, tr->name);
        t->type = k_tensor_types[i];
        t->n_dims = 1 + i % 4;
        t->ne[0] = tr->blck_size * (1 + i % 3);
        for (int d = 1; d < 4; d++) t->ne[d] = d < t->n_dims ? 1 + (i + d) % 3 : 1;
        t->nbytes = gl_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        t->data = malloc(t->nbytes);
        for (size_t k = 0; k < t->nbytes; k++) t->data[k] = (uint8_t)tf_rand_u64(rng);
    }
}

static void free_tensors(rt_tensor *ts) {
    for (int i = 0; i < N_TT; i++) free(ts[i].data);
}

/* Scalars and arrays of every type. */
static const uint8_t v_u8 = 200;
static const int8_t v_i8 = -100;
static const uint16_t v_u16 = 60000;
static const int16_t v_i16 = -30000;
static const uint32_t v_u32 = 4000000000u;
static const int32_t v_i32 = -2000000000;
static const float v_f32 = 1.5f;
static const uint64_t v_u64 = 9223372036854775813ull;
static const int64_t v_i64 = -4611686018427387904ll;
static const double v_f64 = 3.141592653589793;
static const char *const v_utf8 = "h\xc3\xa9llo \xe2\x9c\x93 \xe2\x96\x81t"; /* héllo ✓ ▁t */

static const uint8_t a_u8[] = {0, 1, 255};
static const int8_t a_i8[] = {-128, 0, 127};
static const uint16_t a_u16[] = {0, 65535};
static const int16_t a_i16[] = {-32768, 7, 32767};
static const uint32_t a_u32[] = {1, 2, 3, 4000000000u};
static const int32_t a_i32[] = {-5, 6};
static const float a_f32[] = {0.25f, -1.0f, 1e-5f};
static const uint8_t a_bool[] = {1, 0, 1, 1};
static const uint64_t a_u64[] = {18446744073709551615ull, 0};
static const int64_t a_i64[] = {-9223372036854775807ll - 1, 42};
static const double a_f64[] = {-2.5, 1e300};

typedef struct arr_case {
    const char *key;
    gl_gguf_type type;
    const void *data;
    uint64_t n;
    size_t esz;
} arr_case;

static const arr_case k_arrs[] = {
    {"arr.u8", GL_GGUF_UINT8, a_u8, 3, 1},       {"arr.i8", GL_GGUF_INT8, a_i8, 3, 1},
    {"arr.u16", GL_GGUF_UINT16, a_u16, 2, 2},    {"arr.i16", GL_GGUF_INT16, a_i16, 3, 2},
    {"arr.u32", GL_GGUF_UINT32, a_u32, 4, 4},    {"arr.i32", GL_GGUF_INT32, a_i32, 2, 4},
    {"arr.f32", GL_GGUF_FLOAT32, a_f32, 3, 4},   {"arr.bool", GL_GGUF_BOOL, a_bool, 4, 1},
    {"arr.u64", GL_GGUF_UINT64, a_u64, 2, 8},    {"arr.i64", GL_GGUF_INT64, a_i64, 2, 8},
    {"arr.f64", GL_GGUF_FLOAT64, a_f64, 2, 8},   {"arr.empty_u32", GL_GGUF_UINT32, NULL, 0, 4},
};
#define N_ARRS ((int)(sizeof k_arrs / sizeof k_arrs[0]))

static const char *const k_strs[] = {"<unk>", "", "\xe2\x96\x81the", "a\nb"};

/* Writes the full metadata set and the tensors; data streamed in uneven pieces, one of which
 * spans two tensors. */
static gl_status write_file(gl_gguf_writer *w, uint32_t alignment, rt_tensor *ts) {
    if (alignment) gl_gguf_w_set_alignment(w, alignment);
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    gl_gguf_w_kv(w, "s.u8", GL_GGUF_UINT8, &v_u8);
    gl_gguf_w_kv(w, "s.i8", GL_GGUF_INT8, &v_i8);
    gl_gguf_w_kv(w, "s.u16", GL_GGUF_UINT16, &v_u16);
    gl_gguf_w_kv(w, "s.i16", GL_GGUF_INT16, &v_i16);
    gl_gguf_w_kv_u32(w, "s.u32", v_u32);
    gl_gguf_w_kv_i32(w, "s.i32", v_i32);
    gl_gguf_w_kv_f32(w, "s.f32", v_f32);
    gl_gguf_w_kv_bool(w, "s.bool", true);
    gl_gguf_w_kv_bool(w, "s.false", false);
    gl_gguf_w_kv(w, "s.u64", GL_GGUF_UINT64, &v_u64);
    gl_gguf_w_kv(w, "s.i64", GL_GGUF_INT64, &v_i64);
    gl_gguf_w_kv(w, "s.f64", GL_GGUF_FLOAT64, &v_f64);
    gl_gguf_w_kv_str(w, "s.empty", "");
    gl_gguf_w_kv_str(w, "s.utf8", v_utf8);
    gl_gguf_w_kv_strn(w, "s.nul", "a\0b", 3);
    for (int i = 0; i < N_ARRS; i++) gl_gguf_w_kv_arr(w, k_arrs[i].key, k_arrs[i].type, k_arrs[i].data, k_arrs[i].n);
    gl_gguf_w_kv_arr_str(w, "arr.str", k_strs, NULL, 4);
    const uint64_t lens[] = {2, 0, 1};
    const char *const lstrs[] = {"x\0y", NULL, "z"};
    gl_gguf_w_kv_arr_str(w, "arr.str_lens", lstrs, lens, 3);
    gl_gguf_w_kv_arr_str(w, "arr.str_empty", NULL, NULL, 0);
    for (int i = 0; i < N_TT; i++) gl_gguf_w_tensor_info(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne);
    gl_status st = GL_OK;
    for (int i = 0; i < N_TT && st == GL_OK; i++) {
        const rt_tensor *t = &ts[i];
        if (i == 3) {
            /* the tail of tensor 3 and the head of tensor 4 in one call */
            st = gl_gguf_w_tensor_data(w, t->data, t->nbytes - 5);
            uint8_t *joined = malloc(5 + ts[4].nbytes);
            memcpy(joined, t->data + t->nbytes - 5, 5);
            memcpy(joined + 5, ts[4].data, ts[4].nbytes);
            if (st == GL_OK) st = gl_gguf_w_tensor_data(w, joined, 5 + 7);
            if (st == GL_OK) st = gl_gguf_w_tensor_data(w, joined + 12, ts[4].nbytes - 7);
            free(joined);
            i++;
        } else {
            for (size_t off = 0; off < t->nbytes && st == GL_OK;) {
                size_t k = GL_TEST_MIN(t->nbytes - off, (size_t)(17 + 13 * i));
                st = gl_gguf_w_tensor_data(w, t->data + off, k);
                off += k;
            }
        }
    }
    return st;
}

static void check_file(const gl_gguf *f, uint32_t alignment, const rt_tensor *ts, const void *base) {
    TF_CHECK(gl_gguf_version(f) == 3);
    TF_CHECK(gl_gguf_alignment(f) == alignment, "alignment %u", gl_gguf_alignment(f));
    TF_CHECK(gl_gguf_data_offset(f) % alignment == 0);
    int64_t i;
    uint64_t u;
    int64_t s;
    double d;
    bool b;
    TF_CHECK(gl_str_eq(gl_gguf_get_str(f, gl_gguf_find_key(f, "general.architecture")), "llama"));
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.u8"), &u) && u == v_u8);
    TF_CHECK(gl_gguf_kv_type(f, gl_gguf_find_key(f, "s.u8")) == GL_GGUF_UINT8);
    TF_CHECK(gl_gguf_get_i64(f, gl_gguf_find_key(f, "s.i8"), &s) && s == v_i8);
    TF_CHECK(!gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.i8"), &u), "negative int as u64");
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.u16"), &u) && u == v_u16);
    TF_CHECK(gl_gguf_get_i64(f, gl_gguf_find_key(f, "s.i16"), &s) && s == v_i16);
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.u32"), &u) && u == v_u32);
    TF_CHECK(gl_gguf_get_i64(f, gl_gguf_find_key(f, "s.u32"), &s) && s == (int64_t)v_u32);
    TF_CHECK(gl_gguf_get_i64(f, gl_gguf_find_key(f, "s.i32"), &s) && s == v_i32);
    TF_CHECK(gl_gguf_get_f64(f, gl_gguf_find_key(f, "s.f32"), &d) && d == 1.5);
    TF_CHECK(!gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.f32"), &u), "float as u64");
    TF_CHECK(gl_gguf_get_bool(f, gl_gguf_find_key(f, "s.bool"), &b) && b);
    TF_CHECK(gl_gguf_get_bool(f, gl_gguf_find_key(f, "s.false"), &b) && !b);
    TF_CHECK(!gl_gguf_get_bool(f, gl_gguf_find_key(f, "s.u8"), &b), "u8 as bool");
    TF_CHECK(!gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.bool"), &u), "bool as u64");
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "s.u64"), &u) && u == v_u64);
    TF_CHECK(!gl_gguf_get_i64(f, gl_gguf_find_key(f, "s.u64"), &s), "u64 > INT64_MAX as i64");
    TF_CHECK(gl_gguf_get_i64(f, gl_gguf_find_key(f, "s.i64"), &s) && s == v_i64);
    TF_CHECK(gl_gguf_get_f64(f, gl_gguf_find_key(f, "s.f64"), &d) && d == v_f64);
    TF_CHECK(gl_gguf_get_f64(f, gl_gguf_find_key(f, "s.i32"), &d) && d == (double)v_i32);
    i = gl_gguf_find_key(f, "s.empty");
    TF_CHECK(i >= 0 && gl_gguf_kv_type(f, i) == GL_GGUF_STRING && gl_gguf_get_str(f, i).len == 0);
    TF_CHECK(gl_str_eq(gl_gguf_get_str(f, gl_gguf_find_key(f, "s.utf8")), v_utf8));
    gl_str nul = gl_gguf_get_str(f, gl_gguf_find_key(f, "s.nul"));
    TF_CHECK(nul.len == 3 && memcmp(nul.data, "a\0b", 3) == 0);
    TF_CHECK(gl_gguf_get_str(f, gl_gguf_find_key(f, "s.u8")).len == 0, "u8 as string is empty");

    for (int k = 0; k < N_ARRS; k++) {
        const arr_case *a = &k_arrs[k];
        i = gl_gguf_find_key(f, a->key);
        TF_CHECK(i >= 0 && gl_gguf_kv_type(f, i) == GL_GGUF_ARRAY, "%s", a->key);
        TF_CHECK(gl_gguf_arr_type(f, i) == a->type && gl_gguf_arr_n(f, i) == a->n, "%s", a->key);
        const void *p = gl_gguf_arr_data(f, i);
        TF_CHECK(p != NULL && (a->n == 0 || memcmp(p, a->data, a->n * a->esz) == 0), "%s data", a->key);
    }
    /* element getters against the C values */
    i = gl_gguf_find_key(f, "arr.i16");
    TF_CHECK(gl_gguf_arr_get_i64(f, i, 0, &s) && s == -32768);
    TF_CHECK(gl_gguf_arr_get_f64(f, i, 2, &d) && d == 32767.0);
    TF_CHECK(!gl_gguf_arr_get_i64(f, i, 3, &s), "index past the array");
    i = gl_gguf_find_key(f, "arr.f32");
    TF_CHECK(gl_gguf_arr_get_f64(f, i, 2, &d) && d == (double)1e-5f);
    TF_CHECK(!gl_gguf_arr_get_i64(f, i, 0, &s), "float array as i64");
    i = gl_gguf_find_key(f, "arr.u64");
    TF_CHECK(!gl_gguf_arr_get_i64(f, i, 0, &s), "UINT64_MAX as i64");
    TF_CHECK(gl_gguf_arr_get_i64(f, i, 1, &s) && s == 0);
    i = gl_gguf_find_key(f, "arr.i64");
    TF_CHECK(gl_gguf_arr_get_i64(f, i, 0, &s) && s == INT64_MIN);
    i = gl_gguf_find_key(f, "arr.bool");
    TF_CHECK(gl_gguf_arr_get_i64(f, i, 1, &s) && s == 0 && gl_gguf_arr_get_i64(f, i, 3, &s) && s == 1);
    i = gl_gguf_find_key(f, "arr.f64");
    TF_CHECK(gl_gguf_arr_get_f64(f, i, 1, &d) && d == 1e300);

    i = gl_gguf_find_key(f, "arr.str");
    TF_CHECK(gl_gguf_arr_type(f, i) == GL_GGUF_STRING && gl_gguf_arr_n(f, i) == 4);
    TF_CHECK(gl_gguf_arr_data(f, i) == NULL, "no raw data for string arrays");
    for (uint64_t j = 0; j < 4; j++) TF_CHECK(gl_str_eq(gl_gguf_arr_str(f, i, j), k_strs[j]), "str %d", (int)j);
    TF_CHECK(gl_gguf_arr_str(f, i, 4).len == 0, "past the end: empty");
    i = gl_gguf_find_key(f, "arr.str_lens");
    gl_str s0 = gl_gguf_arr_str(f, i, 0);
    TF_CHECK(s0.len == 2 && memcmp(s0.data, "x\0", 2) == 0);
    TF_CHECK(gl_gguf_arr_str(f, i, 1).len == 0 && gl_str_eq(gl_gguf_arr_str(f, i, 2), "z"));
    i = gl_gguf_find_key(f, "arr.str_empty");
    TF_CHECK(i >= 0 && gl_gguf_arr_type(f, i) == GL_GGUF_STRING && gl_gguf_arr_n(f, i) == 0);

    TF_CHECK(gl_gguf_n_tensors(f) == N_TT);
    for (int k = 0; k < N_TT; k++) {
        const rt_tensor *t = &ts[k];
        int64_t ti = gl_gguf_find_tensor(f, t->name);
        TF_CHECK(ti == k, "%s at %lld", t->name, (long long)ti);
        const gl_gguf_tensor_info *info = gl_gguf_tensor(f, ti);
        if (!info) continue;
        TF_CHECK(gl_str_eq(info->name, t->name) && info->type == t->type && info->n_dims == t->n_dims, "%s", t->name);
        TF_CHECK(memcmp(info->ne, t->ne, sizeof t->ne) == 0, "%s shape", t->name);
        TF_CHECK(info->nbytes == t->nbytes, "%s nbytes %llu vs %zu", t->name, (unsigned long long)info->nbytes, t->nbytes);
        TF_CHECK(info->offset % alignment == 0, "%s offset", t->name);
        TF_CHECK((size_t)((const uint8_t *)info->data - (const uint8_t *)base) == gl_gguf_data_offset(f) + info->offset);
        TF_CHECK(memcmp(info->data, t->data, t->nbytes) == 0, "%s data", t->name);
    }
    TF_CHECK(gl_gguf_find_tensor(f, "missing") == -1 && gl_gguf_find_key(f, "missing") == -1);
}

static void roundtrip_cb(uint32_t alignment) {
    tf_rng rng = {12345 + alignment};
    rt_tensor ts[N_TT];
    make_tensors(ts, &rng);
    bytes out = {0};
    gl_error err = {0};
    gl_gguf_writer *w = gl_gguf_writer_open_cb(write_to_bytes, &out, &err);
    TF_CHECK(w != NULL, "%s", err.msg);
    if (!w) return;
    gl_status st = write_file(w, alignment, ts);
    TF_CHECK(st == GL_OK, "%s", gl_gguf_writer_error(w));
    st = gl_gguf_writer_close(w, &err);
    TF_CHECK(st == GL_OK, "%s", err.msg);
    const uint32_t align = alignment ? alignment : GL_GGUF_DEFAULT_ALIGNMENT;
    TF_CHECK(out.n % align == 0, "file of %zu bytes ends padded", out.n);
    gl_gguf *f = gl_gguf_open_buffer(out.p, out.n, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        check_file(f, align, ts, out.p);
        int64_t ai = gl_gguf_find_key(f, "general.alignment");
        uint64_t a = 0;
        if (alignment) TF_CHECK(gl_gguf_kv_type(f, ai) == GL_GGUF_UINT32 && gl_gguf_get_u64(f, ai, &a) && a == alignment);
        else TF_CHECK(ai == -1, "no alignment key by default");
        gl_gguf_close(f);
    }
    b_free(&out);
    free_tensors(ts);
}

TF_TEST(gguf_roundtrip_default_alignment) { roundtrip_cb(0); }
TF_TEST(gguf_roundtrip_alignment_64) { roundtrip_cb(64); }

TF_TEST(gguf_roundtrip_file) {
    tf_rng rng = {777};
    rt_tensor ts[N_TT];
    make_tensors(ts, &rng);
    char path[] = "/tmp/test-gguf-XXXXXX";
    int fd = mkstemp(path);
    TF_CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    gl_error err = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &err);
    TF_CHECK(w != NULL, "%s", err.msg);
    if (w) {
        write_file(w, 128, ts);
        TF_CHECK(gl_gguf_writer_close(w, &err) == GL_OK, "%s", err.msg);
        gl_gguf *f = gl_gguf_open(path, &err);
        TF_CHECK(f != NULL, "%s", err.msg);
        if (f) {
            /* the mapping is page-aligned, so data pointers are aligned in memory too */
            const gl_gguf_tensor_info *t0 = gl_gguf_tensor(f, 0);
            check_file(f, 128, ts, (const uint8_t *)t0->data - gl_gguf_data_offset(f) - t0->offset);
            TF_CHECK(((uintptr_t)t0->data) % 128 == 0);
            gl_gguf_close(f);
        }
    }
    unlink(path);
    free_tensors(ts);
}

TF_TEST(gguf_open_errors) {
    gl_error err = {0};
    TF_CHECK(gl_gguf_open("/nonexistent/x.gguf", &err) == NULL && err.code == GL_ERR_IO);
    TF_CHECK(strstr(err.msg, "x.gguf") != NULL, "%s", err.msg);
    TF_CHECK(gl_gguf_open("/tmp", &err) == NULL && err.code == GL_ERR_IO, "directory: %s", err.msg);
    char path[] = "/tmp/test-gguf-empty-XXXXXX";
    int fd = mkstemp(path);
    TF_CHECK(fd >= 0);
    if (fd >= 0) {
        close(fd);
        TF_CHECK(gl_gguf_open(path, &err) == NULL && strstr(err.msg, "empty"), "%s", err.msg);
        FILE *fp = fopen(path, "wb");
        fwrite("GGUF\3\0", 1, 6, fp);
        fclose(fp);
        TF_CHECK(gl_gguf_open(path, &err) == NULL && err.code == GL_ERR_FORMAT, "%s", err.msg);
        unlink(path);
    }
    TF_CHECK(gl_gguf_open_buffer(NULL, 0, &err) == NULL);
    TF_CHECK(gl_gguf_open_buffer(NULL, 10, &err) == NULL);
    /* accessors tolerate NULL files and bad indices */
    TF_CHECK(gl_gguf_n_kv(NULL) == 0 && gl_gguf_find_key(NULL, "a") == -1 && gl_gguf_tensor(NULL, 0) == NULL);
    TF_CHECK(gl_gguf_key(NULL, 0).len == 0 && gl_gguf_kv_type(NULL, 0) == GL_GGUF_TYPE_COUNT);
    TF_CHECK(strcmp(gl_gguf_type_name(GL_GGUF_TYPE_COUNT), "?") == 0 && strcmp(gl_gguf_type_name(GL_GGUF_STRING), "string") == 0);
    gl_gguf_close(NULL);
}

TF_TEST(gguf_metadata_only) {
    bytes out = {0};
    gl_error err = {0};
    gl_gguf_writer *w = gl_gguf_writer_open_cb(write_to_bytes, &out, &err);
    gl_gguf_w_kv_str(w, "general.architecture", "bert");
    TF_CHECK(gl_gguf_writer_close(w, &err) == GL_OK, "%s", err.msg);
    /* header (24) + key (8 + 20) + type (4) + value (8 + 4) = 68, padded to 96 */
    TF_CHECK(out.n == 96, "%zu bytes", out.n);
    gl_gguf *f = gl_gguf_open_buffer(out.p, out.n, &err);
    TF_CHECK(f && gl_gguf_n_tensors(f) == 0 && gl_gguf_n_kv(f) == 1 && gl_gguf_data_offset(f) == 96, "%s", err.msg);
    gl_gguf_close(f);
    /* without the padding the file is still complete */
    f = gl_gguf_open_buffer(out.p, 68, &err);
    TF_CHECK(f && gl_gguf_data_offset(f) == 68, "%s", err.msg);
    gl_gguf_close(f);
    TF_CHECK(gl_gguf_open_buffer(out.p, 67, &err) == NULL && strstr(err.msg, "past the end"), "%s", err.msg);
    b_free(&out);
}

/* ------------------------------------------------------------------------------------------
 * Writer rules
 * ---------------------------------------------------------------------------------------- */

static size_t write_short(void *user, const void *buf, size_t n) {
    (void)user;
    (void)buf;
    return n > 4 ? n / 2 : n;
}

/* Runs body on a fresh callback writer and checks close fails with msg in its message. */
#define WRITER_CASE(want_, ...)                                                                \
    do {                                                                                       \
        bytes out_ = {0};                                                                      \
        gl_error err_ = {0};                                                                   \
        gl_gguf_writer *w = gl_gguf_writer_open_cb(write_to_bytes, &out_, &err_);             \
        __VA_ARGS__;                                                                           \
        gl_status st_ = gl_gguf_writer_close(w, &err_);                                        \
        TF_CHECK(st_ != GL_OK && strstr(err_.msg, want_) != NULL, "want '%s', got '%s'", want_, err_.msg); \
        b_free(&out_);                                                                         \
    } while (0)

TF_TEST(gguf_writer_rules) {
    const int64_t ne2[2] = {32, 2}, ne5[5] = {1, 1, 1, 1, 1}, ne33[1] = {33}, ne0[2] = {4, 0};
    const float zeros[64] = {0};
    WRITER_CASE("duplicate key", {
        gl_gguf_w_kv_u32(w, "a.b", 1);
        TF_CHECK(gl_gguf_w_kv_str(w, "a.b", "x") != GL_OK);
        TF_CHECK(gl_gguf_w_kv_u32(w, "c", 1) != GL_OK, "first error sticks");
        TF_CHECK(strstr(gl_gguf_writer_error(w), "duplicate key"), "%s", gl_gguf_writer_error(w));
    });
    WRITER_CASE("empty key", gl_gguf_w_kv_u32(w, "", 1));
    WRITER_CASE("duplicate tensor name", {
        gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 2, ne2);
        gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 2, ne2);
    });
    WRITER_CASE("too long", gl_gguf_w_tensor_info(w, "0123456789012345678901234567890123456789012345678901234567890123",
                                                  GL_TYPE_F32, 2, ne2));
    WRITER_CASE("empty tensor name", gl_gguf_w_tensor_info(w, "", GL_TYPE_F32, 2, ne2));
    WRITER_CASE("n_dims", gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 5, ne5));
    WRITER_CASE("dimension 1", gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 2, ne0));
    WRITER_CASE("block size", gl_gguf_w_tensor_info(w, "t", GL_TYPE_Q4_0, 1, ne33));
    WRITER_CASE("unknown type id 4", gl_gguf_w_tensor_info(w, "t", (gl_type)4, 2, ne2));
    WRITER_CASE("power of two", gl_gguf_w_set_alignment(w, 48));
    WRITER_CASE("must be uint32", gl_gguf_w_kv_i32(w, "general.alignment", 32));
    WRITER_CASE("nested", gl_gguf_w_kv_arr(w, "a", GL_GGUF_ARRAY, zeros, 1));
    WRITER_CASE("bool", {
        const uint8_t bad[2] = {0, 2};
        gl_gguf_w_kv_arr(w, "a", GL_GGUF_BOOL, bad, 2);
    });
    WRITER_CASE("data bytes written", {
        gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 2, ne2);
        gl_gguf_w_tensor_data(w, zeros, 100);
    });
    WRITER_CASE("more tensor data than declared", {
        gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 1, ne2);
        gl_gguf_w_tensor_data(w, zeros, 132);
    });
    WRITER_CASE("after tensor data", {
        gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 1, ne2);
        gl_gguf_w_tensor_data(w, zeros, 16);
        gl_gguf_w_kv_u32(w, "late", 1);
    });
    WRITER_CASE("declared after", {
        gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 1, ne2);
        gl_gguf_w_tensor_data(w, zeros, 128);
        gl_gguf_w_tensor_info(w, "u", GL_TYPE_F32, 1, ne2);
    });
    /* a short write from the callback is an I/O error */
    gl_error err = {0};
    gl_gguf_writer *w = gl_gguf_writer_open_cb(write_short, NULL, &err);
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    TF_CHECK(gl_gguf_writer_close(w, &err) == GL_ERR_IO, "%s", err.msg);
    /* a failed file writer leaves no file behind, and a file already at the path (here: 3
     * bytes) is left as it was (the writer works on a temporary file renamed at the end) */
    char path[] = "/tmp/test-gguf-fail-XXXXXX", tmp[128];
    int fd = mkstemp(path);
    if (fd >= 0) {
        TF_CHECK(write(fd, "old", 3) == 3);
        close(fd);
    }
    w = gl_gguf_writer_open(path, &err);
    TF_CHECK(w != NULL && gl_tmp_path(path, tmp, sizeof tmp) && tf_file_exists(tmp));
    gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 1, ne2);
    struct stat sb;
    TF_CHECK(gl_gguf_writer_close(w, &err) != GL_OK && stat(path, &sb) == 0 && sb.st_size == 3 && !tf_file_exists(tmp),
             "%s", err.msg);
    w = gl_gguf_writer_open(path, &err);
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    gl_gguf_writer_discard(w);
    TF_CHECK(stat(path, &sb) == 0 && sb.st_size == 3 && !tf_file_exists(tmp), "discard keeps the old file");
    w = gl_gguf_writer_open(path, &err);
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    TF_CHECK(gl_gguf_writer_close(w, &err) == GL_OK && stat(path, &sb) == 0 && sb.st_size > 3 && !tf_file_exists(tmp),
             "a complete file replaces it: %s", err.msg);
    unlink(path);
    TF_CHECK(gl_gguf_writer_open("/nonexistent/dir/x.gguf", &err) == NULL && err.code == GL_ERR_IO);
}

/* ------------------------------------------------------------------------------------------
 * The malformed-file builder: a spec of a small valid file; each case mutates one field
 * ---------------------------------------------------------------------------------------- */

typedef struct spec_kv {
    const char *key;
    uint32_t type;
    bytes val; /* raw value bytes after the type field */
} spec_kv;

typedef struct spec_tensor {
    const char *name;
    uint64_t name_len; /* written length; 0: strlen(name) */
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
} spec_tensor;

#define SPEC_KV 6
#define SPEC_T 3

typedef struct spec {
    char magic[4];
    uint32_t version;
    uint64_t n_tensors, n_kv; /* written counts */
    spec_kv kv[SPEC_KV];
    spec_tensor t[SPEC_T];
    uint32_t pad_align;
    uint64_t data_size;
} spec;

static bytes v_scalar(uint64_t v, int size) {
    bytes b = {0};
    for (int i = 0; i < size; i++) b_u8(&b, (uint8_t)(v >> (8 * i)));
    return b;
}
static bytes v_string(const char *s) {
    bytes b = {0};
    b_str(&b, s);
    return b;
}

/* The valid base file:
 *   kv: general.architecture="llama", general.alignment=32, test.u32s=[1,2,3], test.flag=true,
 *       test.strs=["a","bc"], test.f32=0.5
 *   tensors: tok.weight f32 [8,2] @0 (64 B), blk.q q4_0 [32,2] @64 (36 B), blk.i i32 [4] @128 (16 B)
 *   the data section ends with the last tensor (no tail padding), so every truncation fails. */
static void spec_init(spec *s) {
    memset(s, 0, sizeof *s);
    memcpy(s->magic, "GGUF", 4);
    s->version = 3;
    s->n_tensors = SPEC_T;
    s->n_kv = SPEC_KV;
    s->kv[0] = (spec_kv){"general.architecture", GL_GGUF_STRING, v_string("llama")};
    s->kv[1] = (spec_kv){"general.alignment", GL_GGUF_UINT32, v_scalar(32, 4)};
    bytes arr = {0};
    b_u32(&arr, GL_GGUF_UINT32);
    b_u64(&arr, 3);
    for (uint32_t i = 1; i <= 3; i++) b_u32(&arr, i);
    s->kv[2] = (spec_kv){"test.u32s", GL_GGUF_ARRAY, arr};
    s->kv[3] = (spec_kv){"test.flag", GL_GGUF_BOOL, v_scalar(1, 1)};
    bytes strs = {0};
    b_u32(&strs, GL_GGUF_STRING);
    b_u64(&strs, 2);
    b_str(&strs, "a");
    b_str(&strs, "bc");
    s->kv[4] = (spec_kv){"test.strs", GL_GGUF_ARRAY, strs};
    s->kv[5] = (spec_kv){"test.f32", GL_GGUF_FLOAT32, v_scalar(0x3f000000u, 4)};
    s->t[0] = (spec_tensor){"tok.weight", 0, 2, {8, 2}, GL_TYPE_F32, 0};
    s->t[1] = (spec_tensor){"blk.q", 0, 2, {32, 2}, GL_TYPE_Q4_0, 64};
    s->t[2] = (spec_tensor){"blk.i", 0, 1, {4}, GL_TYPE_I32, 128};
    s->pad_align = 32;
    s->data_size = 144;
}

static void spec_free(spec *s) {
    for (int i = 0; i < SPEC_KV; i++) b_free(&s->kv[i].val);
}

static void set_val(spec *s, int i, uint32_t type, bytes val) {
    b_free(&s->kv[i].val);
    s->kv[i].type = type;
    s->kv[i].val = val;
}

static bytes spec_build(const spec *s) {
    bytes b = {0};
    b_put(&b, s->magic, 4);
    b_u32(&b, s->version);
    b_u64(&b, s->n_tensors);
    b_u64(&b, s->n_kv);
    for (int i = 0; i < SPEC_KV; i++) {
        b_str(&b, s->kv[i].key);
        b_u32(&b, s->kv[i].type);
        b_put(&b, s->kv[i].val.p, s->kv[i].val.n);
    }
    for (int i = 0; i < SPEC_T; i++) {
        const spec_tensor *t = &s->t[i];
        b_u64(&b, t->name_len ? t->name_len : strlen(t->name));
        b_put(&b, t->name, strlen(t->name));
        b_u32(&b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && d < 5; d++) b_u64(&b, t->ne[d]);
        b_u32(&b, t->type);
        b_u64(&b, t->offset);
    }
    while (b.n % s->pad_align) b_u8(&b, 0);
    for (uint64_t k = 0; k < s->data_size; k++) b_u8(&b, (uint8_t)(k * 7 + 1));
    return b;
}

/* Builds s, opens it, and checks the failure names the problem. */
static void expect_fail(spec *s, const char *what, const char *substr) {
    bytes b = spec_build(s);
    gl_error err = {0};
    TF_CHECK(!try_open(b.p, b.n, &err), "%s: opened a malformed file", what);
    TF_CHECK(err.code == GL_ERR_FORMAT, "%s: code %d (%s)", what, err.code, err.msg);
    TF_CHECK(strstr(err.msg, substr) != NULL, "%s: want '%s' in '%s'", what, substr, err.msg);
    b_free(&b);
    spec_free(s);
}

TF_TEST(gguf_malformed_base_is_valid) {
    spec s;
    spec_init(&s);
    bytes b = spec_build(&s);
    gl_error err = {0};
    gl_gguf *f = gl_gguf_open_buffer(b.p, b.n, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        TF_CHECK(gl_gguf_n_kv(f) == SPEC_KV && gl_gguf_n_tensors(f) == SPEC_T);
        TF_CHECK(gl_gguf_tensor(f, 1)->nbytes == 36 && gl_gguf_tensor(f, 2)->nbytes == 16);
        TF_CHECK(gl_gguf_data_offset(f) + 144 == b.n);
        TF_CHECK(gl_str_eq(gl_gguf_arr_str(f, 4, 1), "bc"));
        double d;
        TF_CHECK(gl_gguf_get_f64(f, 5, &d) && d == 0.5);
        /* every accessor with bad indices */
        TF_CHECK(gl_gguf_key(f, -1).len == 0 && gl_gguf_key(f, SPEC_KV).len == 0);
        TF_CHECK(gl_gguf_kv_type(f, 99) == GL_GGUF_TYPE_COUNT && gl_gguf_arr_type(f, 0) == GL_GGUF_TYPE_COUNT);
        TF_CHECK(gl_gguf_arr_n(f, 0) == 0 && gl_gguf_arr_data(f, -5) == NULL && gl_gguf_arr_data(f, 4) == NULL);
        TF_CHECK(gl_gguf_arr_str(f, 2, 0).len == 0 && gl_gguf_arr_str(f, 4, UINT64_MAX).len == 0);
        TF_CHECK(gl_gguf_get_str(f, 1).len == 0 && gl_gguf_get_str(f, 1000).len == 0);
        uint64_t u;
        int64_t i;
        TF_CHECK(!gl_gguf_get_u64(f, 0, &u) && !gl_gguf_get_u64(f, -1, &u) && !gl_gguf_get_u64(f, 1, NULL));
        TF_CHECK(!gl_gguf_arr_get_i64(f, 4, 0, &i) && !gl_gguf_arr_get_f64(f, 2, 3, &d));
        TF_CHECK(gl_gguf_arr_get_i64(f, 2, 2, &i) && i == 3);
        TF_CHECK(gl_gguf_tensor(f, -1) == NULL && gl_gguf_tensor(f, SPEC_T) == NULL);
        TF_CHECK(gl_gguf_find_key(f, NULL) == -1 && gl_gguf_find_tensor(f, "") == -1);
        gl_gguf_close(f);
    }
    b_free(&b);
    /* gaps between tensors are allowed (the spec only requires alignment) */
    s.t[2].offset = 256;
    s.data_size = 256 + 16;
    b = spec_build(&s);
    f = gl_gguf_open_buffer(b.p, b.n, &err);
    TF_CHECK(f != NULL, "gap: %s", err.msg);
    gl_gguf_close(f);
    b_free(&b);
    /* version 2 has the same layout */
    s.version = 2;
    b = spec_build(&s);
    f = gl_gguf_open_buffer(b.p, b.n, &err);
    TF_CHECK(f != NULL && gl_gguf_version(f) == 2, "v2: %s", err.msg);
    gl_gguf_close(f);
    b_free(&b);
    spec_free(&s);
}

TF_TEST(gguf_malformed_header) {
    spec s;
    spec_init(&s); memcpy(s.magic, "GGUG", 4); expect_fail(&s, "bad magic", "magic");
    spec_init(&s); s.version = 0; expect_fail(&s, "version 0", "version");
    spec_init(&s); s.version = 1; expect_fail(&s, "version 1", "version");
    spec_init(&s); s.version = 4; expect_fail(&s, "version 4", "version");
    spec_init(&s); s.version = 0x03000000u; expect_fail(&s, "byte-swapped version", "endianness");
    spec_init(&s); s.n_tensors = 1ull << 63; expect_fail(&s, "tensor count 2^63", "tensor count");
    spec_init(&s); s.n_tensors = 1ull << 40; expect_fail(&s, "tensor count 2^40", "tensor count");
    spec_init(&s); s.n_tensors = UINT64_MAX; expect_fail(&s, "tensor count -1", "tensor count");
    spec_init(&s); s.n_kv = 1ull << 63; expect_fail(&s, "kv count 2^63", "kv count");
    spec_init(&s); s.n_kv = 1ull << 40; expect_fail(&s, "kv count 2^40", "kv count");
}

TF_TEST(gguf_malformed_kv) {
    spec s;
    bytes v;
    spec_init(&s);
    v = (bytes){0}; b_u64(&v, 1ull << 40); b_put(&v, "llama", 5);
    set_val(&s, 0, GL_GGUF_STRING, v);
    expect_fail(&s, "string length 2^40", "past the end");

    spec_init(&s);
    v = (bytes){0}; b_u64(&v, 100000); b_put(&v, "llama", 5);
    set_val(&s, 0, GL_GGUF_STRING, v);
    expect_fail(&s, "string length just past the file", "past the end");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, GL_GGUF_UINT32); b_u64(&v, 1ull << 40); b_u32(&v, 1);
    set_val(&s, 2, GL_GGUF_ARRAY, v);
    expect_fail(&s, "array length 2^40", "past the end");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, GL_GGUF_UINT64); b_u64(&v, 1ull << 62); b_u64(&v, 1);
    set_val(&s, 2, GL_GGUF_ARRAY, v);
    expect_fail(&s, "array 2^62 x u64 overflows", "past the end");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, GL_GGUF_STRING); b_u64(&v, 1ull << 61); b_str(&v, "a");
    set_val(&s, 4, GL_GGUF_ARRAY, v);
    expect_fail(&s, "string array 2^61", "past the end");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, GL_GGUF_STRING); b_u64(&v, 2); b_str(&v, "a"); b_u64(&v, 1ull << 50);
    set_val(&s, 4, GL_GGUF_ARRAY, v);
    expect_fail(&s, "string inside array past the end", "past the end");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, GL_GGUF_ARRAY); b_u64(&v, 1); b_u32(&v, GL_GGUF_UINT32); b_u64(&v, 1); b_u32(&v, 5);
    set_val(&s, 2, GL_GGUF_ARRAY, v);
    expect_fail(&s, "nested array", "nested");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, 13); b_u64(&v, 1); b_u32(&v, 5);
    set_val(&s, 2, GL_GGUF_ARRAY, v);
    expect_fail(&s, "array element type 13", "element type 13");

    spec_init(&s); s.kv[3].type = 13; expect_fail(&s, "value type 13", "unknown value type 13");
    spec_init(&s); s.kv[3].type = 0xFFFFFFFFu; expect_fail(&s, "value type 0xFFFFFFFF", "unknown value type 4294967295");
    spec_init(&s); set_val(&s, 3, GL_GGUF_BOOL, v_scalar(2, 1)); expect_fail(&s, "bool value 2", "bool value 2");

    spec_init(&s);
    v = (bytes){0}; b_u32(&v, GL_GGUF_BOOL); b_u64(&v, 3); b_u8(&v, 1); b_u8(&v, 0); b_u8(&v, 7);
    set_val(&s, 2, GL_GGUF_ARRAY, v);
    expect_fail(&s, "bool array element 7", "bool value 7");

    spec_init(&s); s.kv[5].key = ""; expect_fail(&s, "empty key", "empty key");
    spec_init(&s); s.kv[5].key = "test.flag"; expect_fail(&s, "duplicate key", "duplicate key 'test.flag'");
    spec_init(&s); set_val(&s, 1, GL_GGUF_UINT64, v_scalar(32, 8)); expect_fail(&s, "alignment u64", "general.alignment must be uint32");
    spec_init(&s); set_val(&s, 1, GL_GGUF_STRING, v_string("32")); expect_fail(&s, "alignment string", "general.alignment must be uint32");
    spec_init(&s); set_val(&s, 1, GL_GGUF_UINT32, v_scalar(0, 4)); expect_fail(&s, "alignment 0", "power of two");
    spec_init(&s); set_val(&s, 1, GL_GGUF_UINT32, v_scalar(48, 4)); expect_fail(&s, "alignment 48", "power of two");
}

TF_TEST(gguf_malformed_tensors) {
    spec s;
    char name64[65];
    memset(name64, 'n', 64);
    name64[64] = '\0';
    spec_init(&s); s.t[1].name = name64; expect_fail(&s, "name of 64 bytes", "too long");
    spec_init(&s); s.t[1].name_len = 1ull << 40; expect_fail(&s, "name length 2^40", "too long");
    spec_init(&s); s.t[1].name = ""; expect_fail(&s, "empty name", "empty name");
    spec_init(&s); s.t[0].n_dims = 0; expect_fail(&s, "n_dims 0", "n_dims 0");
    spec_init(&s); s.t[0].n_dims = 5; s.t[0].ne[2] = s.t[0].ne[3] = s.t[0].ne[4] = 1; expect_fail(&s, "n_dims 5", "n_dims 5");
    spec_init(&s); s.t[0].ne[1] = 0; expect_fail(&s, "zero dim", "dimension 1 is 0");
    spec_init(&s); s.t[0].ne[1] = (uint64_t)-2; expect_fail(&s, "negative dim", "dimension 1 is -2");
    spec_init(&s); s.t[0].ne[0] = 1ull << 32; s.t[0].ne[1] = 1ull << 32; expect_fail(&s, "element count overflow", "overflows int64");
    spec_init(&s); s.t[2].n_dims = 4; s.t[2].ne[1] = s.t[2].ne[2] = s.t[2].ne[3] = 1ull << 21;
    expect_fail(&s, "element count 2^65", "overflows int64");
    spec_init(&s); s.t[1].ne[0] = 33; expect_fail(&s, "q4_0 row of 33", "block size");
    spec_init(&s); s.t[0].type = 4; expect_fail(&s, "type 4", "unknown type id 4");
    spec_init(&s); s.t[0].type = 43; expect_fail(&s, "type 43", "unknown type id 43");
    spec_init(&s); s.t[0].type = 0xFFFFFFFFu; expect_fail(&s, "type 0xFFFFFFFF", "unknown type id 4294967295");
    spec_init(&s); s.t[2].offset = 136; expect_fail(&s, "unaligned offset", "alignment");
    spec_init(&s); s.data_size = 143; expect_fail(&s, "data one byte short", "past the end");
    spec_init(&s); s.t[2].offset = 1ull << 40; expect_fail(&s, "offset 2^40", "past the end");
    spec_init(&s); s.t[2].offset = UINT64_MAX - 31; expect_fail(&s, "offset near 2^64", "past the end");
    spec_init(&s); s.t[1].offset = 32; expect_fail(&s, "overlapping tensors", "overlap");
    /* blk.i [0, 80) written last overlaps blk.q [64, 100); tok.weight moved to [128, 160) */
    spec_init(&s); s.t[2].offset = 0; s.t[2].ne[0] = 20; s.t[0].offset = 128; s.t[0].ne[0] = 4; s.data_size = 160;
    expect_fail(&s, "overlap in reverse file order", "overlap");
    spec_init(&s); s.t[2].name = "blk.q"; expect_fail(&s, "duplicate tensor names", "duplicate tensor name 'blk.q'");
    /* a huge 1-D I8 tensor whose byte size is fine as a count but not in the file */
    spec_init(&s); s.t[2].type = GL_TYPE_I8; s.t[2].ne[0] = (1ull << 62);
    expect_fail(&s, "2^62 bytes", SIZE_MAX > UINT32_MAX ? "past the end" : "address space");
}

TF_TEST(gguf_malformed_truncated_everywhere) {
    spec s;
    spec_init(&s);
    bytes b = spec_build(&s);
    spec_free(&s);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        gl_error err = {0};
        bool opened = try_open(b.p, n, &err);
        if (opened || err.code != GL_ERR_FORMAT || err.msg[0] == '\0') {
            if (++bad <= 5) TF_CHECK(false, "truncated at %zu: opened %d code %d '%s'", n, opened, err.code, err.msg);
        }
    }
    TF_CHECK(bad == 0, "%d truncations misbehaved of %zu", bad, b.n);
    gl_error err = {0};
    TF_CHECK(try_open(b.p, b.n, &err), "full file: %s", err.msg);
    b_free(&b);
}

/* ------------------------------------------------------------------------------------------
 * The llama.cpp-made fixture
 * ---------------------------------------------------------------------------------------- */

TF_TEST(gguf_stories260k) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip_fixture("%s not found", path);
        return;
    }
    gl_error err = {0};
    gl_gguf *f = gl_gguf_open(path, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (!f) return;
    TF_CHECK(gl_gguf_version(f) == 3 && gl_gguf_alignment(f) == 32);
    TF_CHECK(gl_gguf_file_size(f) == 1185376 && gl_gguf_data_offset(f) == 14176, "data at %zu", gl_gguf_data_offset(f));
    TF_CHECK(gl_gguf_n_kv(f) == 19 && gl_gguf_n_tensors(f) == 48);
    TF_CHECK(gl_str_eq(gl_gguf_get_str(f, gl_gguf_find_key(f, "general.architecture")), "llama"));
    TF_CHECK(gl_str_eq(gl_gguf_get_str(f, gl_gguf_find_key(f, "tokenizer.ggml.model")), "llama"));
    uint64_t u;
    double d;
    int64_t v;
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "llama.context_length"), &u) && u == 2048);
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "llama.embedding_length"), &u) && u == 64);
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "llama.block_count"), &u) && u == 5);
    TF_CHECK(gl_gguf_get_u64(f, gl_gguf_find_key(f, "tokenizer.ggml.seperator_token_id"), &u) && u == 4294967295u);
    TF_CHECK(gl_gguf_get_f64(f, gl_gguf_find_key(f, "llama.attention.layer_norm_rms_epsilon"), &d));
    TF_NEAR(d, 1e-5, 1e-9);
    int64_t tok = gl_gguf_find_key(f, "tokenizer.ggml.tokens");
    TF_CHECK(gl_gguf_arr_type(f, tok) == GL_GGUF_STRING && gl_gguf_arr_n(f, tok) == 512);
    TF_CHECK(gl_str_eq(gl_gguf_arr_str(f, tok, 0), "<unk>") && gl_str_eq(gl_gguf_arr_str(f, tok, 1), "<s>"));
    TF_CHECK(gl_str_eq(gl_gguf_arr_str(f, tok, 3), "<0x00>") && gl_str_eq(gl_gguf_arr_str(f, tok, 259), "\xe2\x96\x81t"));
    TF_CHECK(gl_str_eq(gl_gguf_arr_str(f, tok, 260), "he"));
    int64_t sc = gl_gguf_find_key(f, "tokenizer.ggml.scores");
    TF_CHECK(gl_gguf_arr_type(f, sc) == GL_GGUF_FLOAT32 && gl_gguf_arr_n(f, sc) == 512);
    TF_CHECK(gl_gguf_arr_get_f64(f, sc, 511, &d) && d == -252.0, "score 511 = %g", d);
    int64_t tt = gl_gguf_find_key(f, "tokenizer.ggml.token_type");
    TF_CHECK(gl_gguf_arr_n(f, tt) == 512);
    TF_CHECK(gl_gguf_arr_get_i64(f, tt, 0, &v) && v == 2);
    TF_CHECK(gl_gguf_arr_get_i64(f, tt, 1, &v) && v == 3);
    TF_CHECK(gl_gguf_arr_get_i64(f, tt, 100, &v) && v == 6);
    TF_CHECK(gl_gguf_arr_get_i64(f, tt, 300, &v) && v == 1);
    const gl_gguf_tensor_info *t = gl_gguf_tensor(f, gl_gguf_find_tensor(f, "token_embd.weight"));
    TF_CHECK(t && t->type == GL_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512 && t->nbytes == 131072);
    t = gl_gguf_tensor(f, gl_gguf_find_tensor(f, "blk.4.ffn_down.weight"));
    TF_CHECK(t && t->ne[0] == 172 && t->ne[1] == 64);
    t = gl_gguf_tensor(f, gl_gguf_find_tensor(f, "output_norm.weight"));
    TF_CHECK(t && t->n_dims == 1 && t->ne[0] == 64 && t->ne[1] == 1);
    /* every tensor lies in the file: sum of sizes matches the parameter count of the model */
    uint64_t params = 0;
    for (int64_t i = 0; i < gl_gguf_n_tensors(f); i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, i);
        params += (uint64_t)(ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3]);
    }
    TF_CHECK(params == 64 * 512 * 2 + 64 + 5 * (64 * 64 * 2 + 64 * 32 * 2 + 64 * 2 + 64 * 172 * 3), "params %llu",
             (unsigned long long)params);
    /* the header truncated at many lengths fails cleanly */
    const uint8_t *base = (const uint8_t *)gl_gguf_tensor(f, 0)->data - gl_gguf_data_offset(f) - gl_gguf_tensor(f, 0)->offset;
    int bad = 0;
    for (size_t n = 0; n < gl_gguf_data_offset(f) + 64; n += 7) {
        gl_gguf *g = gl_gguf_open_buffer(base, n, &err);
        if (g || err.code != GL_ERR_FORMAT) bad++;
        gl_gguf_close(g);
    }
    TF_CHECK(bad == 0, "%d truncations of the fixture opened", bad);
    gl_gguf_close(f);
}

TF_MAIN
