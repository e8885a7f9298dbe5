/*
 * convert_elmo.c — bilm-tf / AllenNLP ELMo checkpoint → GGUF (architecture "elmo").
 *
 * Input: options.json and the weights HDF5 written by bilm-tf (dump_weights), whose layout
 * and semantics are described in the fixture's PROVENANCE.md:
 *   char_embed [261, E]                      (the padding row 0 is not stored)
 *   CNN/W_cnn_i [1, w_i, E, n_i], CNN/b_cnn_i [n_i]
 *   CNN_high_k/{W_carry, W_transform} [D, D], {b_carry, b_transform} [D]     (x · W form)
 *   CNN_proj/{W_proj [D, P], b_proj [P]}     (absent when D == P)
 *   RNN_d/RNN/MultiRNNCell/Cell{l}/LSTMCell/{W_0 [in + P, 4C], B [4C], W_P_0 [C, P]}
 * Output names and layouts: docs/FORMAT.md, "ELMo (architecture elmo)". In short, every
 * matrix is stored with one row per output unit (ggml's W [k, n] for gl_mul_mat), LSTM gate
 * blocks move from TensorFlow's (i, j, f, o) to ggml-lite's (i, f, g, o), the input and
 * recurrent halves of W_0 become two tensors, and the highway gate rows hold -W_carry so
 * that gl_highway's y = g x + (1 - g) relu(t) with g = sigmoid(-carry) equals TensorFlow's
 * y = c relu(t) + (1 - c) x with c = sigmoid(carry).
 */
#include "alloc.h"
#include "convert_elmo.h"
#include "convert.h"
#include "convert_plan.h"
#include "hdf5.h"
#include "json.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CVE_MAX_FILTERS 64
#define CVE_MAX_HIGHWAY 64
#define CVE_MAX_LAYERS 64

typedef struct cve_hp {
    int64_t emb_dim, n_chars, max_chars, n_highway;
    int64_t n_filters, widths[CVE_MAX_FILTERS], counts[CVE_MAX_FILTERS], filters_total;
    int64_t cell, proj, n_layers;
    bool has_proj;            /* CNN_proj present (filters_total != projection_dim) */
    bool has_lstm_proj;       /* W_P_0 present */
    int64_t char_rows;        /* rows of char_embed in the file (n_chars - 1 or n_chars) */
} cve_hp;

/* ------------------------------------------------------------------------------------------
 * Finding the files
 * ---------------------------------------------------------------------------------------- */

int elm_convert_is_elmo_dir(const char *dir) {
    char *p = dir ? elm_cv_path_join(dir, "options.json") : NULL;
    int yes = p && elm_cv_file_exists(p);
    ELM_FREE(p);
    return yes;
}

/* The weights file of a folder: its only .hdf5/.h5 that is not an lm_embeddings output,
 * or among several the one whose name contains "weights". */
static char *cve_find_weights(const char *dir, gl_error *err) {
    DIR *d = opendir(dir);
    if (!d) {
        gl_error_set(err, GL_ERR_IO, "elmo: cannot list %s", dir);
        return NULL;
    }
    char best[512] = "", other[512] = "";
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (!(elm_cv_ends_with(nm, ".hdf5") || elm_cv_ends_with(nm, ".h5"))) continue;
        if (strncmp(nm, "lm_embeddings", 13) == 0 || strlen(nm) >= sizeof best) continue;
        n++;
        if (strstr(nm, "weights") && !best[0]) snprintf(best, sizeof best, "%s", nm);
        else snprintf(other, sizeof other, "%s", nm);
    }
    closedir(d);
    if (!best[0] && n == 1) snprintf(best, sizeof best, "%s", other);
    if (!best[0]) {
        gl_error_set(err, GL_ERR_INVALID,
                     n ? "elmo: %s holds several .hdf5 files; name one with --weights"
                       : "elmo: no weights .hdf5 in %s (use --weights)",
                     dir);
        return NULL;
    }
    return elm_cv_path_join(dir, best);
}

/* ------------------------------------------------------------------------------------------
 * Options → metadata
 * ---------------------------------------------------------------------------------------- */

static bool cve_key_ok(const char *k) {
    if (!*k) return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_'))
            return false;
    return true;
}

/* Array of numbers (or of arrays of numbers, flattened row by row): all integers → INT32. */
static gl_status cve_write_num_array(gl_gguf_writer *w, const char *key, const elm_json *v,
                                     gl_error *err) {
    size_t n = 0;
    bool all_int = true, nested = false;
    for (size_t i = 0; i < elm_json_count(v); i++) {
        const elm_json *it = elm_json_at(v, i);
        if (elm_json_is(it, ELM_JSON_ARRAY)) {
            nested = true;
            for (size_t j = 0; j < elm_json_count(it); j++) {
                const elm_json *x = elm_json_at(it, j);
                if (!elm_json_is(x, ELM_JSON_NUMBER)) return GL_OK; /* not numeric: raw JSON only */
                all_int = all_int && x->is_int && x->i >= INT32_MIN && x->i <= INT32_MAX;
                n++;
            }
        } else if (elm_json_is(it, ELM_JSON_NUMBER)) {
            all_int = all_int && it->is_int && it->i >= INT32_MIN && it->i <= INT32_MAX;
            n++;
        } else {
            return GL_OK;
        }
    }
    (void)nested;
    void *buf = ELM_MALLOC(n ? n * 4 : 4);
    if (!buf) return gl_error_set(err, GL_ERR_NOMEM, "elmo: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < elm_json_count(v); i++) {
        const elm_json *it = elm_json_at(v, i);
        size_t m = elm_json_is(it, ELM_JSON_ARRAY) ? elm_json_count(it) : 1;
        for (size_t j = 0; j < m; j++) {
            const elm_json *x = elm_json_is(it, ELM_JSON_ARRAY) ? elm_json_at(it, j) : it;
            if (all_int) ((int32_t *)buf)[k++] = (int32_t)x->i;
            else ((float *)buf)[k++] = (float)x->num;
        }
    }
    gl_status st = gl_gguf_w_kv_arr(w, key, all_int ? GL_GGUF_INT32 : GL_GGUF_FLOAT32, buf, n);
    ELM_FREE(buf);
    return st;
}

/* Writes every scalar / numeric-array option as elmo.<path>: nested objects join with '.'. */
static gl_status cve_write_options(gl_gguf_writer *w, const char *prefix, const elm_json *v,
                                   int depth, gl_error *err) {
    if (depth > 8) return GL_OK;
    for (size_t i = 0; i < elm_json_count(v); i++) {
        const elm_json *it = elm_json_at(v, i);
        if (!cve_key_ok(it->key)) continue; /* kept in elmo.options_json only */
        char key[256];
        if ((size_t)snprintf(key, sizeof key, "%s.%s", prefix, it->key) >= sizeof key) continue;
        gl_status st = GL_OK;
        switch (it->type) {
        case ELM_JSON_OBJECT: st = cve_write_options(w, key, it, depth + 1, err); break;
        case ELM_JSON_BOOL: st = gl_gguf_w_kv_bool(w, key, it->b); break;
        case ELM_JSON_STRING: st = gl_gguf_w_kv_strn(w, key, it->s, it->len); break;
        case ELM_JSON_NUMBER:
            if (it->is_int && it->i >= INT32_MIN && it->i <= INT32_MAX)
                st = gl_gguf_w_kv_i32(w, key, (int32_t)it->i);
            else if (it->is_int)
                st = gl_gguf_w_kv(w, key, GL_GGUF_INT64, &it->i);
            else
                st = gl_gguf_w_kv_f32(w, key, (float)it->num);
            break;
        case ELM_JSON_ARRAY: st = cve_write_num_array(w, key, it, err); break;
        default: break;
        }
        if (st != GL_OK)
            return err->code ? err->code
                             : gl_error_set(err, st, "elmo: writing %s: %s", key, gl_gguf_writer_error(w));
    }
    return GL_OK;
}

static gl_status cve_need_int(const elm_json *obj, const char *sect, const char *key, int64_t lo,
                              int64_t hi, int64_t *out, gl_error *err) {
    if (!elm_json_get_int(obj, key, out) || *out < lo || *out > hi)
        return gl_error_set(err, GL_ERR_INVALID, "elmo: options.json: %s.%s must be an integer in [%lld, %lld]",
                            sect, key, (long long)lo, (long long)hi);
    return GL_OK;
}

static gl_status cve_parse_hp(const elm_json *root, cve_hp *hp, gl_error *err) {
    const elm_json *cnn = elm_json_get(root, "char_cnn"), *lstm = elm_json_get(root, "lstm");
    if (!elm_json_is(cnn, ELM_JSON_OBJECT) || !elm_json_is(lstm, ELM_JSON_OBJECT))
        return gl_error_set(err, GL_ERR_UNSUPPORTED,
                            "elmo: options.json needs \"char_cnn\" and \"lstm\" objects (token-input models are not supported)");
    const char *act = elm_json_get_str(cnn, "activation");
    if (!act || (strcmp(act, "relu") && strcmp(act, "tanh")))
        return gl_error_set(err, GL_ERR_UNSUPPORTED, "elmo: char_cnn.activation must be \"relu\" or \"tanh\"");
    if (cve_need_int(elm_json_get(cnn, "embedding"), "char_cnn.embedding", "dim", 1, 4096, &hp->emb_dim, err) ||
        cve_need_int(cnn, "char_cnn", "n_characters", 2, 1 << 20, &hp->n_chars, err) ||
        cve_need_int(cnn, "char_cnn", "max_characters_per_token", 3, 1 << 12, &hp->max_chars, err) ||
        cve_need_int(lstm, "lstm", "dim", 1, 1 << 16, &hp->cell, err) ||
        cve_need_int(lstm, "lstm", "projection_dim", 1, 1 << 16, &hp->proj, err) ||
        cve_need_int(lstm, "lstm", "n_layers", 1, CVE_MAX_LAYERS, &hp->n_layers, err))
        return err->code;
    if (!elm_json_get(cnn, "n_highway")) hp->n_highway = 0;
    else if (cve_need_int(cnn, "char_cnn", "n_highway", 0, CVE_MAX_HIGHWAY, &hp->n_highway, err)) return err->code;
    const elm_json *filters = elm_json_get(cnn, "filters");
    hp->n_filters = (int64_t)elm_json_count(filters);
    if (!elm_json_is(filters, ELM_JSON_ARRAY) || hp->n_filters < 1 || hp->n_filters > CVE_MAX_FILTERS)
        return gl_error_set(err, GL_ERR_INVALID, "elmo: char_cnn.filters must list 1 to %d [width, count] pairs",
                            CVE_MAX_FILTERS);
    hp->filters_total = 0;
    for (int64_t i = 0; i < hp->n_filters; i++) {
        const elm_json *f = elm_json_at(filters, (size_t)i);
        int64_t wd, cnt;
        if (elm_json_count(f) != 2 || !elm_json_int(elm_json_at(f, 0), &wd) ||
            !elm_json_int(elm_json_at(f, 1), &cnt) || wd < 1 || wd > hp->max_chars || cnt < 1 ||
            cnt > (1 << 16))
            return gl_error_set(err, GL_ERR_INVALID, "elmo: char_cnn.filters[%lld] is not a valid [width, count]",
                                (long long)i);
        hp->widths[i] = wd;
        hp->counts[i] = cnt;
        hp->filters_total += cnt;
    }
    double clip;
    const elm_json *cc = elm_json_get(lstm, "cell_clip"), *pc = elm_json_get(lstm, "proj_clip");
    if ((cc && !elm_json_is(cc, ELM_JSON_NULL) && !elm_json_num(cc, &clip)) ||
        (pc && !elm_json_is(pc, ELM_JSON_NULL) && !elm_json_num(pc, &clip)))
        return gl_error_set(err, GL_ERR_INVALID, "elmo: lstm.cell_clip / proj_clip must be numbers");
    const elm_json *skip = elm_json_get(lstm, "use_skip_connections");
    if (skip && !elm_json_is(skip, ELM_JSON_BOOL) && !elm_json_is(skip, ELM_JSON_NULL))
        return gl_error_set(err, GL_ERR_INVALID, "elmo: lstm.use_skip_connections must be true or false");
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * Weights
 * ---------------------------------------------------------------------------------------- */

typedef enum cve_kind {
    CVE_CHAR, CVE_CNN_W, CVE_CNN_B, CVE_HW_W, CVE_HW_B, CVE_PROJ_W, CVE_PROJ_B,
    CVE_LSTM_IN, CVE_LSTM_REC, CVE_LSTM_B, CVE_LSTM_P,
} cve_kind;

/* A planned tensor (convert_plan.h) is filled by cve_fill: fill_kind is its cve_kind,
 * fill_arg[] = {filter or highway index, direction, layer}. */
typedef struct cve_src {
    elm_h5 *h;
    const cve_hp *hp;
} cve_src;

/* Reads dataset path, which must have exactly the given dims; returns malloc'd floats. */
static float *cve_read(elm_h5 *h, const char *path, int rank, const int64_t *dims, gl_error *err) {
    elm_h5_info info;
    if (elm_h5_info_of(h, path, &info, err)) return NULL;
    bool ok = info.rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = info.dims[i] == (uint64_t)dims[i];
    if (!ok) {
        char got[128] = "", want[128] = "";
        for (int i = 0; i < info.rank && i < 6; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? ", " : "", (unsigned long long)info.dims[i]);
        for (int i = 0; i < rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)dims[i]);
        gl_error_set(err, GL_ERR_INVALID, "elmo: %s has shape (%s), options.json implies (%s)", path, got, want);
        return NULL;
    }
    float *v = ELM_MALLOC((size_t)(info.n_elements ? info.n_elements : 1) * sizeof *v);
    if (!v) {
        gl_error_set(err, GL_ERR_NOMEM, "elmo: out of memory reading %s", path);
        return NULL;
    }
    if (elm_h5_read_f32(h, path, v, info.n_elements, err)) {
        ELM_FREE(v);
        return NULL;
    }
    return v;
}

/* TensorFlow's column blocks (i, j, f, o) → ours (i, f, g=j, o): our block q is TF's tf_q[q]. */
static const int cve_tf_gate[4] = {0, 2, 1, 3};

/* The datasets the planned tensor (kind, idx, dir, layer) is built from: their paths in
 * path[0..n), n returned (a highway tensor reads its transform and carry parts). */
static int cve_paths(cve_kind kind, int idx, int dir, int layer, char path[2][96]) {
    static const char *const cell = "RNN_%d/RNN/MultiRNNCell/Cell%d/LSTMCell/%s";
    switch (kind) {
    case CVE_CHAR: snprintf(path[0], 96, "char_embed"); return 1;
    case CVE_CNN_W: snprintf(path[0], 96, "CNN/W_cnn_%d", idx); return 1;
    case CVE_CNN_B: snprintf(path[0], 96, "CNN/b_cnn_%d", idx); return 1;
    case CVE_HW_W:
    case CVE_HW_B:
        snprintf(path[0], 96, kind == CVE_HW_W ? "CNN_high_%d/W_transform" : "CNN_high_%d/b_transform", idx);
        snprintf(path[1], 96, kind == CVE_HW_W ? "CNN_high_%d/W_carry" : "CNN_high_%d/b_carry", idx);
        return 2;
    case CVE_PROJ_W: snprintf(path[0], 96, "CNN_proj/W_proj"); return 1;
    case CVE_PROJ_B: snprintf(path[0], 96, "CNN_proj/b_proj"); return 1;
    case CVE_LSTM_IN:
    case CVE_LSTM_REC: snprintf(path[0], 96, cell, dir, layer, "W_0"); return 1;
    case CVE_LSTM_B: snprintf(path[0], 96, cell, dir, layer, "B"); return 1;
    case CVE_LSTM_P: snprintf(path[0], 96, cell, dir, layer, "W_P_0"); return 1;
    }
    return 0;
}

/* Fills dst (ne0 * ne1 floats, rows of ne0) for the planned tensor it (elm_cv_fill_fn). */
static gl_status cve_fill(void *user, const elm_cv_item *it, float *dst, gl_error *err) {
    elm_h5 *h = ((const cve_src *)user)->h;
    const cve_hp *hp = ((const cve_src *)user)->hp;
    const struct {
        cve_kind kind;
        int idx, dir, layer;
    } jj = {(cve_kind)it->fill_kind, it->fill_arg[0], it->fill_arg[1], it->fill_arg[2]}, *j = &jj;
    char path[2][96];
    cve_paths(j->kind, j->idx, j->dir, j->layer, path);
    const int64_t D = hp->filters_total, P = hp->proj, C = hp->cell, E = hp->emb_dim;
    float *a = NULL, *b = NULL;
    switch (j->kind) {
    case CVE_CHAR: {
        int64_t dims[2] = {hp->char_rows, E};
        if (!(a = cve_read(h, path[0], 2, dims, err))) return err->code;
        /* bilm-tf stores no row for id 0 (padding): prepend zeros */
        int64_t skip = hp->n_chars - hp->char_rows;
        memset(dst, 0, (size_t)(skip * E) * sizeof *dst);
        memcpy(dst + skip * E, a, (size_t)(hp->char_rows * E) * sizeof *dst);
        break;
    }
    case CVE_CNN_W: {
        const int64_t w = hp->widths[j->idx], n = hp->counts[j->idx];
        int64_t dims[4] = {1, w, E, n};
        if (!(a = cve_read(h, path[0], 4, dims, err))) return err->code;
        /* [1, w, E, n] → row o holds (tap k, channel c) at k*E + c */
        for (int64_t o = 0; o < n; o++)
            for (int64_t kc = 0; kc < w * E; kc++) dst[o * w * E + kc] = a[kc * n + o];
        break;
    }
    case CVE_CNN_B: {
        int64_t dims[1] = {hp->counts[j->idx]};
        if (!(a = cve_read(h, path[0], 1, dims, err))) return err->code;
        memcpy(dst, a, (size_t)dims[0] * sizeof *dst);
        break;
    }
    case CVE_HW_W:
    case CVE_HW_B: {
        const bool wt = j->kind == CVE_HW_W;
        int64_t dims[2] = {D, D};
        if (!(a = cve_read(h, path[0], wt ? 2 : 1, dims + (wt ? 0 : 1), err))) return err->code;
        if (!(b = cve_read(h, path[1], wt ? 2 : 1, dims + (wt ? 0 : 1), err))) break;
        if (wt) {
            for (int64_t o = 0; o < D; o++)
                for (int64_t l = 0; l < D; l++) {
                    dst[o * D + l] = a[l * D + o];
                    dst[(D + o) * D + l] = -b[l * D + o];
                }
        } else {
            for (int64_t o = 0; o < D; o++) {
                dst[o] = a[o];
                dst[D + o] = -b[o];
            }
        }
        break;
    }
    case CVE_PROJ_W: {
        int64_t dims[2] = {D, P};
        if (!(a = cve_read(h, path[0], 2, dims, err))) return err->code;
        for (int64_t o = 0; o < P; o++)
            for (int64_t l = 0; l < D; l++) dst[o * D + l] = a[l * P + o];
        break;
    }
    case CVE_PROJ_B: {
        int64_t dims[1] = {P};
        if (!(a = cve_read(h, path[0], 1, dims, err))) return err->code;
        memcpy(dst, a, (size_t)P * sizeof *dst);
        break;
    }
    case CVE_LSTM_IN:
    case CVE_LSTM_REC: {
        const int64_t in = P, rows = in + P;
        int64_t dims[2] = {rows, 4 * C};
        if (!(a = cve_read(h, path[0], 2, dims, err))) return err->code;
        const int64_t l0 = j->kind == CVE_LSTM_IN ? 0 : in, nl = j->kind == CVE_LSTM_IN ? in : P;
        for (int q = 0; q < 4; q++)
            for (int64_t u = 0; u < C; u++) {
                const int64_t src_col = cve_tf_gate[q] * C + u, row = q * C + u;
                for (int64_t l = 0; l < nl; l++) dst[row * nl + l] = a[(l0 + l) * 4 * C + src_col];
            }
        break;
    }
    case CVE_LSTM_B: {
        int64_t dims[1] = {4 * C};
        if (!(a = cve_read(h, path[0], 1, dims, err))) return err->code;
        for (int q = 0; q < 4; q++)
            for (int64_t u = 0; u < C; u++) dst[q * C + u] = a[cve_tf_gate[q] * C + u];
        break;
    }
    case CVE_LSTM_P: {
        int64_t dims[2] = {C, P};
        if (!(a = cve_read(h, path[0], 2, dims, err))) return err->code;
        for (int64_t k = 0; k < P; k++)
            for (int64_t u = 0; u < C; u++) dst[k * C + u] = a[u * P + k];
        break;
    }
    }
    ELM_FREE(a);
    if (b == NULL && (j->kind == CVE_HW_W || j->kind == CVE_HW_B)) return err->code;
    ELM_FREE(b);
    return GL_OK;
}

/* *has: whether the dataset exists. A file that cannot be read there (truncated, malformed)
 * is an error with the reader's message, not an absent dataset. */
static gl_status cve_has(elm_h5 *h, const char *path, bool *has, gl_error *err) {
    elm_h5_info info;
    gl_error e = {0};
    const gl_status s = elm_h5_info_of(h, path, &info, &e);
    *has = s == GL_OK;
    if (s == GL_OK || s == GL_ERR_INVALID) return GL_OK; /* GL_ERR_INVALID: no such dataset */
    return gl_error_set(err, s, "elmo: reading %s: %s", path, e.msg);
}

static gl_status cve_add(elm_cv_plan *pl, cve_kind kind, int idx, int dir, int layer, int n_dims, int64_t ne0,
                         int64_t ne1, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 9, 10)))
#endif
    ;

static gl_status cve_add(elm_cv_plan *pl, cve_kind kind, int idx, int dir, int layer, int n_dims, int64_t ne0,
                         int64_t ne1, const char *fmt, ...) {
    char name[GL_MAX_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    /* the character embeddings are read by row as floats: F32 whatever the requested type */
    return elm_cv_plan_add_fill(pl, name, n_dims, ne0, ne1, kind == CVE_CHAR, (int)kind, idx, dir, layer);
}

static gl_status cve_plan(elm_cv_plan *pl, const cve_hp *hp) {
    const int64_t D = hp->filters_total, P = hp->proj, C = hp->cell, E = hp->emb_dim;
    gl_status s = cve_add(pl, CVE_CHAR, 0, 0, 0, 2, E, hp->n_chars, "char_embd.weight");
    for (int i = 0; i < hp->n_filters && s == GL_OK; i++) {
        s = cve_add(pl, CVE_CNN_W, i, 0, 0, 2, E * hp->widths[i], hp->counts[i], "cnn.%d.weight", i);
        if (s == GL_OK) s = cve_add(pl, CVE_CNN_B, i, 0, 0, 1, hp->counts[i], 1, "cnn.%d.bias", i);
    }
    for (int k = 0; k < hp->n_highway && s == GL_OK; k++) {
        s = cve_add(pl, CVE_HW_W, k, 0, 0, 2, D, 2 * D, "highway.%d.weight", k);
        if (s == GL_OK) s = cve_add(pl, CVE_HW_B, k, 0, 0, 1, 2 * D, 1, "highway.%d.bias", k);
    }
    if (hp->has_proj && s == GL_OK) {
        s = cve_add(pl, CVE_PROJ_W, 0, 0, 0, 2, D, P, "proj.weight");
        if (s == GL_OK) s = cve_add(pl, CVE_PROJ_B, 0, 0, 0, 1, P, 1, "proj.bias");
    }
    static const char *dirs[2] = {"fwd", "bwd"};
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < hp->n_layers && s == GL_OK; l++) {
            s = cve_add(pl, CVE_LSTM_IN, 0, d, l, 2, P, 4 * C, "lstm.%s.%d.in.weight", dirs[d], l);
            if (s == GL_OK) s = cve_add(pl, CVE_LSTM_REC, 0, d, l, 2, P, 4 * C, "lstm.%s.%d.rec.weight", dirs[d], l);
            if (s == GL_OK) s = cve_add(pl, CVE_LSTM_B, 0, d, l, 1, 4 * C, 1, "lstm.%s.%d.bias", dirs[d], l);
            if (hp->has_lstm_proj && s == GL_OK)
                s = cve_add(pl, CVE_LSTM_P, 0, d, l, 2, C, P, "lstm.%s.%d.proj.weight", dirs[d], l);
        }
    return s;
}

/* The datasets of the weights file, described for elm_cv_check_unmapped_array. */
typedef struct cve_list {
    elm_st_tensor *v;
    int64_t n, cap;
    bool nomem;
} cve_list;

static int cve_list_add(const char *path, const elm_h5_info *info, void *user) {
    cve_list *l = user;
    if (l->n == l->cap) {
        const int64_t c = l->cap ? 2 * l->cap : 64;
        elm_st_tensor *nv = ELM_REALLOC(l->v, (size_t)c * sizeof *nv);
        if (!nv) return l->nomem = true, 1;
        l->v = nv, l->cap = c;
    }
    elm_st_tensor *t = &l->v[l->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = elm_strdup(path))) return l->nomem = true, 1;
    t->n_dims = info->rank < ELM_ST_MAX_DIMS ? info->rank : ELM_ST_MAX_DIMS;
    for (int d = 0; d < t->n_dims; d++) t->shape[d] = (int64_t)info->dims[d];
    l->n++;
    return 0;
}

/* Converter honesty (convert.h): every dataset of the weights file is read by a planned tensor
 * or named in a warning; p->strict refuses the checkpoint (e.g. options.json with fewer LSTM
 * layers or highways than the file holds). */
static gl_status cve_check_unmapped(elm_h5 *h, const elm_cv_plan *pl, const elm_convert_params *p, gl_error *err) {
    cve_list l = {0};
    gl_status st = elm_h5_visit(h, cve_list_add, &l, err);
    if (st == GL_OK && l.nomem) st = gl_error_set(err, GL_ERR_NOMEM, "elmo: out of memory");
    const elm_st_tensor **used = st ? NULL : ELM_MALLOC((size_t)(2 * pl->n_items + 1) * sizeof *used);
    if (st == GL_OK && !used) st = gl_error_set(err, GL_ERR_NOMEM, "elmo: out of memory");
    int64_t n_used = 0;
    for (int i = 0; st == GL_OK && i < pl->n_items; i++) {
        const elm_cv_item *it = &pl->items[i];
        char path[2][96];
        const int np = cve_paths((cve_kind)it->fill_kind, it->fill_arg[0], it->fill_arg[1], it->fill_arg[2], path);
        for (int k = 0; k < np; k++)
            for (int64_t j = 0; j < l.n; j++)
                if (!strcmp(l.v[j].name, path[k])) used[n_used++] = &l.v[j];
    }
    if (st == GL_OK) st = elm_cv_check_unmapped_array(p, l.v, l.n, used, n_used, NULL, err);
    for (int64_t j = 0; j < l.n; j++) ELM_FREE((void *)l.v[j].name);
    ELM_FREE(l.v);
    ELM_FREE(used);
    return st;
}

static gl_type cve_parse_outtype(const char *s, gl_error *err) {
    if (!s || !*s) return GL_TYPE_F32;
    int t = gl_type_from_name(s);
    const gl_type_traits *tt = t >= 0 ? gl_type_get(t) : NULL;
    if (!tt || !tt->supported || !tt->from_float_ref || t == GL_TYPE_Q8_1 || t == GL_TYPE_Q8_K ||
        (t >= GL_TYPE_I8 && t <= GL_TYPE_F64)) {
        gl_error_set(err, GL_ERR_UNSUPPORTED, "elmo: unsupported --outtype '%s' (f32, f16, bf16, q8_0, q4_0 ...)", s);
        return (gl_type)-1;
    }
    return (gl_type)t;
}

/* The plan writer's progress as the ELMo converter's: source bytes read of their total. */
typedef struct cve_cb {
    const elm_cve_progress *prog;
    const elm_cve_check *check;
} cve_cb;

static void cve_progress(void *user, int64_t tensors_done, int64_t n_tensors, uint64_t bytes_done,
                         uint64_t bytes_total) {
    (void)tensors_done;
    (void)n_tensors;
    const elm_cve_progress *prog = ((const cve_cb *)user)->prog;
    prog->fn(prog->user, (int64_t)bytes_done, (int64_t)bytes_total);
}

/* The converter's notes and warnings to the caller's log. */
static void cve_log(void *user, const char *msg) {
    const elm_cve_check *check = ((const cve_cb *)user)->check;
    check->log(check->user, msg);
}

static gl_status cve_write(elm_h5 *h, const char *options_path, const elm_json *root, const cve_hp *hp,
                           gl_type mt, const char *name, const char *out, const elm_cve_progress *prog,
                           const elm_cve_check *check, gl_error *err) {
    elm_convert_params p = elm_convert_default_params();
    p.out = out;
    p.outtype = (int)mt;
    cve_cb cb = {prog, check};
    p.user = &cb;
    if (prog && prog->fn) p.progress = cve_progress;
    if (check && check->log) p.log = cve_log;
    p.strict = check && check->strict;
    elm_cv_plan pl;
    elm_cv_plan_init(&pl, &p, err);
    cve_src src = {h, hp};
    pl.fill = cve_fill;
    pl.fill_user = &src;
    gl_status st = cve_plan(&pl, hp);
    if (!st) st = cve_check_unmapped(h, &pl, &p, err);
    gl_gguf_writer *w = NULL;
    if (!st && !(w = elm_cv_plan_open(&pl, "elmo", name))) st = err->code;
    /* the options file verbatim, so that nothing of it is lost */
    char *raw = NULL;
    size_t raw_len = 0;
    FILE *fp = st ? NULL : fopen(options_path, "rb");
    if (fp) {
        raw = ELM_MALLOC(1 << 20);
        if (raw) raw_len = fread(raw, 1, (1 << 20) - 1, fp);
        fclose(fp);
    }
    if (!st) st = cve_write_options(w, "elmo", root, 0, err);
    /* what the converter adds (docs/FORMAT.md): the runtime facts of the TF implementation */
    if (!st) st = gl_gguf_w_kv_f32(w, "elmo.lstm.forget_bias", 1.0f);
    if (!st) st = gl_gguf_w_kv_str(w, "elmo.lstm.gate_order", "ifgo");
    if (!st) st = gl_gguf_w_kv_str(w, "elmo.highway.convention", "allennlp");
    if (!st && raw) st = gl_gguf_w_kv_strn(w, "elmo.options_json", raw, raw_len);
    if (st && w) {
        if (!err->msg[0]) gl_error_set(err, st, "elmo: writing %s: %s", out, gl_gguf_writer_error(w));
        gl_gguf_writer_discard(w); /* its temporary file goes; a file already at out stays untouched */
    }
    if (!st) st = elm_cv_plan_write(&pl, w, "elmo", NULL);
    ELM_FREE(raw);
    elm_cv_plan_free(&pl);
    return st;
}

gl_status elm_convert_elmo(const char *dir, const char *options, const char *weights, const char *out,
                           const char *outtype, gl_error *err) {
    return (gl_status)elm_convert_elmo_progress(dir, options, weights, out, outtype, NULL, err);
}

int elm_convert_elmo_progress(const char *dir, const char *options, const char *weights, const char *out,
                              const char *outtype, const elm_cve_progress *progress, gl_error *err) {
    return elm_convert_elmo_checked(dir, options, weights, out, outtype, progress, NULL, err);
}

int elm_convert_elmo_checked(const char *dir, const char *options, const char *weights, const char *out,
                             const char *outtype, const elm_cve_progress *progress, const elm_cve_check *check,
                             gl_error *err) {
    gl_error spare;
    if (!err) err = &spare;
    err->code = GL_OK;
    err->msg[0] = '\0';
    if (!out || (!dir && (!options || !weights)))
        return gl_error_set(err, GL_ERR_INVALID, "elmo: need a checkpoint folder (or --options and --weights) and -o");
    const gl_type mt = cve_parse_outtype(outtype, err);
    if ((int)mt < 0) return err->code;
    char *opath = options ? elm_strdup(options) : elm_cv_path_join(dir, "options.json");
    char *wpath = weights ? elm_strdup(weights) : cve_find_weights(dir, err);
    elm_json_doc *doc = NULL;
    elm_h5 *h = NULL;
    gl_status st = GL_OK;
    if (!opath || !wpath) {
        st = err->code ? err->code : gl_error_set(err, GL_ERR_NOMEM, "elmo: out of memory");
        goto done;
    }
    if (!(doc = elm_json_parse_file(opath, err))) {
        st = err->code;
        goto done;
    }
    cve_hp hp;
    memset(&hp, 0, sizeof hp);
    if ((st = cve_parse_hp(elm_json_root(doc), &hp, err)) != GL_OK) goto done;
    if (!(h = elm_h5_open(wpath, err))) {
        st = err->code;
        goto done;
    }
    elm_h5_info ci;
    if ((st = elm_h5_info_of(h, "char_embed", &ci, err)) != GL_OK) goto done;
    hp.char_rows = ci.rank == 2 ? (int64_t)ci.dims[0] : -1;
    if (ci.rank != 2 || (int64_t)ci.dims[1] != hp.emb_dim ||
        (hp.char_rows != hp.n_chars - 1 && hp.char_rows != hp.n_chars)) {
        st = gl_error_set(err, GL_ERR_INVALID, "elmo: char_embed must be [%lld or %lld, %lld]",
                          (long long)hp.n_chars - 1, (long long)hp.n_chars, (long long)hp.emb_dim);
        goto done;
    }
    if ((st = cve_has(h, "CNN_proj/W_proj", &hp.has_proj, err)) != GL_OK) goto done;
    if (!hp.has_proj && hp.filters_total != hp.proj) {
        st = gl_error_set(err, GL_ERR_INVALID, "elmo: CNN_proj/W_proj is missing but %lld filters != projection_dim %lld",
                          (long long)hp.filters_total, (long long)hp.proj);
        goto done;
    }
    if ((st = cve_has(h, "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0", &hp.has_lstm_proj, err)) != GL_OK) goto done;
    if (!hp.has_lstm_proj && hp.cell != hp.proj) {
        st = gl_error_set(err, GL_ERR_INVALID, "elmo: W_P_0 is missing but lstm.dim != projection_dim");
        goto done;
    }
    bool has_bwd;
    if ((st = cve_has(h, "RNN_1/RNN/MultiRNNCell/Cell0/LSTMCell/W_0", &has_bwd, err)) != GL_OK) goto done;
    if (!has_bwd) {
        st = gl_error_set(err, GL_ERR_UNSUPPORTED, "elmo: no backward LSTM (RNN_1) in %s: only bidirectional models are supported", wpath);
        goto done;
    }
    /* general.name: the folder's (or weights file's) base name */
    const char *src = dir ? dir : wpath;
    char name[128];
    size_t len = strlen(src);
    while (len > 1 && src[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && src[start - 1] != '/') start--;
    snprintf(name, sizeof name, "%.*s", (int)(len - start), src + start);
    st = cve_write(h, opath, elm_json_root(doc), &hp, mt, name, out, progress, check, err);
done:
    elm_h5_close(h);
    elm_json_free(doc);
    ELM_FREE(opath);
    ELM_FREE(wpath);
    return st;
}
