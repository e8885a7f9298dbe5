/*
 * quantize.c — GGUF → GGUF requantization; the rules are documented in quantize.h.
 *
 * One pass over the tensor list decides every output type (so a refusal, e.g. an already
 * quantized source, happens before the output file is created); then the metadata is copied
 * key by key (general.file_type and general.quantization_version replaced), the tensor infos
 * declared, and each tensor converted row by row (source rows → float → target rows), the
 * rows of a tensor split across n_threads threads.
 */
#include "alloc.h"
#include "common.h" /* elm_log_msg */
#include "quantize.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { QZ_MIX_NONE, QZ_MIX_Q2_K, QZ_MIX_Q3_K_S, QZ_MIX_Q3_K_M, QZ_MIX_Q3_K_L, QZ_MIX_Q4_K_S,
       QZ_MIX_Q4_K_M, QZ_MIX_Q5_K_S, QZ_MIX_Q5_K_M, QZ_MIX_Q6_K, QZ_MIX_IQ4 };

/* llama.cpp's LLAMA_FTYPE_* ids */
static const struct {
    const char *name, *alias;
    gl_type base;
    uint32_t ftype;
    int mix;
} qz_specs[] = {
    {"F32", NULL, GL_TYPE_F32, 0, QZ_MIX_NONE},
    {"F16", NULL, GL_TYPE_F16, 1, QZ_MIX_NONE},
    {"BF16", NULL, GL_TYPE_BF16, 32, QZ_MIX_NONE},
    {"Q8_0", NULL, GL_TYPE_Q8_0, 7, QZ_MIX_NONE},
    {"Q4_0", NULL, GL_TYPE_Q4_0, 2, QZ_MIX_NONE},
    {"Q4_1", NULL, GL_TYPE_Q4_1, 3, QZ_MIX_NONE},
    {"Q5_0", NULL, GL_TYPE_Q5_0, 8, QZ_MIX_NONE},
    {"Q5_1", NULL, GL_TYPE_Q5_1, 9, QZ_MIX_NONE},
    {"Q2_K", NULL, GL_TYPE_Q2_K, 10, QZ_MIX_Q2_K},
    {"Q3_K_S", NULL, GL_TYPE_Q3_K, 11, QZ_MIX_Q3_K_S},
    {"Q3_K_M", "Q3_K", GL_TYPE_Q3_K, 12, QZ_MIX_Q3_K_M},
    {"Q3_K_L", NULL, GL_TYPE_Q3_K, 13, QZ_MIX_Q3_K_L},
    {"Q4_K_S", NULL, GL_TYPE_Q4_K, 14, QZ_MIX_Q4_K_S},
    {"Q4_K_M", "Q4_K", GL_TYPE_Q4_K, 15, QZ_MIX_Q4_K_M},
    {"Q5_K_S", NULL, GL_TYPE_Q5_K, 16, QZ_MIX_Q5_K_S},
    {"Q5_K_M", "Q5_K", GL_TYPE_Q5_K, 17, QZ_MIX_Q5_K_M},
    {"Q6_K", NULL, GL_TYPE_Q6_K, 18, QZ_MIX_Q6_K},
    {"IQ4_NL", NULL, GL_TYPE_IQ4_NL, 25, QZ_MIX_IQ4},
    {"IQ4_XS", NULL, GL_TYPE_IQ4_XS, 30, QZ_MIX_IQ4},
};
#define QZ_N_SPECS (int)(sizeof qz_specs / sizeof qz_specs[0])

bool elm_quant_parse(const char *name, elm_quant_spec *out) {
    if (!name) return false;
    for (int i = 0; i < QZ_N_SPECS; i++) {
        if (gl_name_eq(name, qz_specs[i].name) ||
            (qz_specs[i].alias && gl_name_eq(name, qz_specs[i].alias))) {
            if (out) {
                out->name = qz_specs[i].name;
                out->base = qz_specs[i].base;
                out->file_type = qz_specs[i].ftype;
                out->mix = qz_specs[i].mix;
            }
            return true;
        }
    }
    return false;
}

uint32_t elm_quant_file_type_of(gl_type t) {
    for (int i = 0; i < QZ_N_SPECS; i++)
        if (qz_specs[i].base == t && qz_specs[i].mix == QZ_MIX_NONE) return qz_specs[i].ftype;
    return 0;
}

const char *elm_quant_file_type_name(uint32_t ft) {
    for (int i = 0; i < QZ_N_SPECS; i++)
        if (qz_specs[i].ftype == ft) return qz_specs[i].name;
    return NULL;
}

const char *elm_quant_type_list(void) {
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M (= Q3_K), Q3_K_L, "
           "Q4_K_S, Q4_K_M (= Q4_K), Q5_K_S, Q5_K_M (= Q5_K), Q6_K, IQ4_NL, IQ4_XS";
}

/* ------------------------------------------------------------------------------------------
 * Type selection
 * ---------------------------------------------------------------------------------------- */

static bool qz_has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool qz_ends_with(const char *s, const char *suf) {
    const size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* llama.cpp's tensor_allows_quantization, for the architectures edgelm runs. */
static bool qz_quantizable(const char *name, int n_dims) {
    if (n_dims < 2 || !qz_ends_with(name, "weight")) return false;
    if (qz_has(name, "_norm.weight")) return false;
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight")) return false;
    if (qz_has(name, "attn_rel_b.weight")) return false;
    if (!strcmp(name, "char_embd.weight")) return false; /* ELMo: read as floats */
    if (qz_has(name, "shortconv.conv.weight")) return false; /* LFM2's 3-tap kernels */
    return true;
}

static bool qz_is_attn_v(const char *name) {
    return qz_has(name, "attn_v.weight") || qz_has(name, "attn_qkv.weight");
}

static bool qz_use_more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

typedef struct qz_state {
    const elm_quantize_params *p;
    elm_quant_spec spec; /* p->type parsed */
    int64_t n_attn_v, i_attn_v, n_ffn_down, i_ffn_down;
    bool tied;     /* no output.weight: token_embd doubles as the output matrix */
    int64_t n_gqa; /* head_count / head_count_kv (1 when unknown) */
} qz_state;

/* The mix rules of quantize.h for one quantizable tensor; advances the counters. */
static gl_type qz_mix_type(qz_state *s, const char *name, int64_t ne0) {
    const int mix = s->spec.mix;
    gl_type t = s->spec.base;
    const bool is_output = !strcmp(name, "output.weight") ||
                           (s->tied && !strcmp(name, "token_embd.weight"));
    if (is_output) {
        if (ne0 % 256 != 0 /* QK_K */) return GL_TYPE_Q8_0;
        return t == GL_TYPE_Q8_0 ? t : GL_TYPE_Q6_K;
    }
    if (qz_is_attn_v(name)) {
        const int64_t i = s->i_attn_v++, n = s->n_attn_v;
        if (mix == QZ_MIX_Q2_K) t = s->n_gqa >= 4 ? GL_TYPE_Q4_K : GL_TYPE_Q3_K;
        else if (mix == QZ_MIX_Q3_K_M) t = i < 2 ? GL_TYPE_Q5_K : GL_TYPE_Q4_K;
        else if (mix == QZ_MIX_Q3_K_L) t = GL_TYPE_Q5_K;
        else if ((mix == QZ_MIX_Q4_K_M || mix == QZ_MIX_Q5_K_M) && qz_use_more_bits(i, n)) t = GL_TYPE_Q6_K;
        else if (mix == QZ_MIX_Q4_K_S && i < 4) t = GL_TYPE_Q5_K;
        else if (mix == QZ_MIX_IQ4 && s->n_gqa >= 4) t = GL_TYPE_Q5_K;
    } else if (qz_has(name, "ffn_down")) {
        const int64_t i = s->i_ffn_down++, n = s->n_ffn_down;
        if (mix == QZ_MIX_Q2_K) t = GL_TYPE_Q3_K;
        else if (mix == QZ_MIX_Q3_K_M) t = i < n / 16 ? GL_TYPE_Q5_K : GL_TYPE_Q4_K;
        else if (mix == QZ_MIX_Q3_K_L) t = GL_TYPE_Q5_K;
        else if ((mix == QZ_MIX_Q4_K_M || mix == QZ_MIX_Q5_K_M) && qz_use_more_bits(i, n)) t = GL_TYPE_Q6_K;
        else if ((mix == QZ_MIX_Q4_K_S || mix == QZ_MIX_IQ4) && i < n / 8) t = GL_TYPE_Q5_K;
    } else if (qz_has(name, "attn_output.weight")) {
        if (mix == QZ_MIX_Q2_K) t = GL_TYPE_Q3_K;
        else if (mix == QZ_MIX_Q3_K_M) t = GL_TYPE_Q4_K;
        else if (mix == QZ_MIX_Q3_K_L) t = GL_TYPE_Q5_K;
    }
    return t;
}

/* llama.cpp's fallback for rows that do not divide into the type's blocks. */
static gl_type qz_fallback(gl_type t, int64_t ne0) {
    if (ne0 % gl_type_get(t)->blck_size == 0) return t;
    gl_type f = GL_TYPE_F16;
    switch (t) {
    case GL_TYPE_Q2_K:
    case GL_TYPE_Q3_K: f = GL_TYPE_Q4_0; break;
    case GL_TYPE_Q4_K: f = GL_TYPE_Q5_0; break;
    case GL_TYPE_Q5_K: f = GL_TYPE_Q5_1; break;
    case GL_TYPE_Q6_K: f = GL_TYPE_Q8_0; break;
    case GL_TYPE_IQ4_XS: f = GL_TYPE_IQ4_NL; break;
    default: break;
    }
    return ne0 % gl_type_get(f)->blck_size == 0 ? f : GL_TYPE_F16;
}

typedef struct qz_plan {
    gl_type type, wanted;
    bool fallback, quantize, requant;
} qz_plan;

static void qz_decide(qz_state *s, const gl_gguf_tensor_info *ti, const char *name, qz_plan *pl) {
    memset(pl, 0, sizeof *pl);
    const gl_type src = ti->type;
    pl->type = pl->wanted = src;
    if (ti->n_dims < 2) {
        /* vectors (norms, biases): F32 */
        if (src == GL_TYPE_F16 || src == GL_TYPE_BF16) pl->type = pl->wanted = GL_TYPE_F32;
        return;
    }
    if (!qz_quantizable(name, ti->n_dims)) return;
    gl_type t = s->spec.base;
    if (gl_type_get(t)->is_quantized && !s->p->pure) t = qz_mix_type(s, name, ti->ne[0]);
    else if (qz_is_attn_v(name)) s->i_attn_v++;
    pl->wanted = t;
    pl->type = qz_fallback(t, ti->ne[0]);
    pl->fallback = pl->type != t;
    pl->quantize = pl->type != src;
    pl->requant = pl->quantize && gl_type_get(src)->is_quantized;
}

/* ------------------------------------------------------------------------------------------
 * Metadata copy
 * ---------------------------------------------------------------------------------------- */

static gl_status qz_copy_scalar(gl_gguf_writer *w, const gl_gguf *f, int64_t i, const char *key,
                                gl_gguf_type t) {
    uint8_t buf[8];
    uint64_t u = 0;
    int64_t v = 0;
    double d = 0;
    bool b = false;
    switch (t) {
    case GL_GGUF_UINT8: gl_gguf_get_u64(f, i, &u); buf[0] = (uint8_t)u; break;
    case GL_GGUF_INT8: gl_gguf_get_i64(f, i, &v); { int8_t x = (int8_t)v; memcpy(buf, &x, 1); } break;
    case GL_GGUF_UINT16: gl_gguf_get_u64(f, i, &u); { uint16_t x = (uint16_t)u; memcpy(buf, &x, 2); } break;
    case GL_GGUF_INT16: gl_gguf_get_i64(f, i, &v); { int16_t x = (int16_t)v; memcpy(buf, &x, 2); } break;
    case GL_GGUF_UINT32: gl_gguf_get_u64(f, i, &u); { uint32_t x = (uint32_t)u; memcpy(buf, &x, 4); } break;
    case GL_GGUF_INT32: gl_gguf_get_i64(f, i, &v); { int32_t x = (int32_t)v; memcpy(buf, &x, 4); } break;
    case GL_GGUF_UINT64: gl_gguf_get_u64(f, i, &u); memcpy(buf, &u, 8); break;
    case GL_GGUF_INT64: gl_gguf_get_i64(f, i, &v); memcpy(buf, &v, 8); break;
    case GL_GGUF_FLOAT32: gl_gguf_get_f64(f, i, &d); { float x = (float)d; memcpy(buf, &x, 4); } break;
    case GL_GGUF_FLOAT64: gl_gguf_get_f64(f, i, &d); memcpy(buf, &d, 8); break;
    case GL_GGUF_BOOL: gl_gguf_get_bool(f, i, &b); buf[0] = b ? 1 : 0; break;
    default: return GL_ERR_FORMAT;
    }
    return gl_gguf_w_kv(w, key, t, buf);
}

gl_status elm_gguf_copy_kv(gl_gguf_writer *w, const gl_gguf *f, int64_t i, gl_error *err) {
    const gl_str k = gl_gguf_key(f, i);
    char key[256];
    if (k.len >= sizeof key) return gl_error_set(err, GL_ERR_FORMAT, "metadata key longer than %zu bytes", sizeof key - 1);
    memcpy(key, k.data, k.len);
    key[k.len] = '\0';
    if (!strcmp(key, "general.file_type") || !strcmp(key, "general.quantization_version")) return GL_OK;
    const gl_gguf_type t = gl_gguf_kv_type(f, i);
    gl_status st;
    if (t == GL_GGUF_STRING) {
        const gl_str s = gl_gguf_get_str(f, i);
        st = gl_gguf_w_kv_strn(w, key, s.data, s.len);
    } else if (t == GL_GGUF_ARRAY) {
        const gl_gguf_type at = gl_gguf_arr_type(f, i);
        const uint64_t n = gl_gguf_arr_n(f, i);
        if (at == GL_GGUF_STRING) {
            const char **strs = ELM_MALLOC(sizeof *strs * (n ? n : 1));
            uint64_t *lens = ELM_MALLOC(sizeof *lens * (n ? n : 1));
            if (!strs || !lens) {
                ELM_FREE(strs);
                ELM_FREE(lens);
                return gl_error_set(err, GL_ERR_NOMEM, "out of memory copying %s", key);
            }
            for (uint64_t j = 0; j < n; j++) {
                const gl_str s = gl_gguf_arr_str(f, i, j);
                strs[j] = s.data ? s.data : "";
                lens[j] = s.len;
            }
            st = gl_gguf_w_kv_arr_str(w, key, strs, lens, n);
            ELM_FREE(strs);
            ELM_FREE(lens);
        } else if (at == GL_GGUF_ARRAY) {
            return gl_error_set(err, GL_ERR_UNSUPPORTED, "metadata %s: arrays of arrays are not copied", key);
        } else {
            st = gl_gguf_w_kv_arr(w, key, at, gl_gguf_arr_data(f, i), n);
        }
    } else {
        st = qz_copy_scalar(w, f, i, key, t);
    }
    if (st != GL_OK) return gl_error_set(err, st, "metadata %s: %s", key, gl_gguf_writer_error(w));
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * Tensor conversion (threads split the rows)
 * ---------------------------------------------------------------------------------------- */

typedef struct qz_job {
    const gl_type_traits *src_t, *dst_t;
    const uint8_t *src;
    uint8_t *dst;
    size_t src_row, dst_row;
    int64_t ne0, r0, r1;
    bool ok;
} qz_job;

static int64_t qz_min(int64_t a, int64_t b) { return a < b ? a : b; }

static void *qz_worker(void *arg) {
    qz_job *j = arg;
    float *row = ELM_MALLOC(sizeof(float) * (size_t)(j->ne0 ? j->ne0 : 1));
    if (!row) {
        j->ok = false;
        return NULL;
    }
    for (int64_t r = j->r0; r < j->r1; r++) {
        j->src_t->to_float(j->src + (size_t)r * j->src_row, row, j->ne0);
        j->dst_t->from_float_ref(row, j->dst + (size_t)r * j->dst_row, j->ne0);
    }
    ELM_FREE(row);
    j->ok = true;
    return NULL;
}

static bool qz_convert_rows(const gl_gguf_tensor_info *ti, gl_type dst_type, uint8_t *dst, int n_threads) {
    const int64_t ne0 = ti->ne[0];
    const int64_t nrows = ne0 ? (int64_t)(ti->nbytes / gl_row_size(ti->type, ne0)) : 0;
    qz_job jobs[64];
    pthread_t th[64];
    int nth = n_threads < 1 ? 1 : n_threads > 64 ? 64 : n_threads;
    if (nrows < nth) nth = nrows > 0 ? (int)nrows : 1;
    const int64_t per = (nrows + nth - 1) / nth;
    bool ok = true;
    int started = 0;
    for (int t = 0; t < nth; t++) {
        jobs[t] = (qz_job){.src_t = gl_type_get(ti->type), .dst_t = gl_type_get(dst_type),
                           .src = ti->data, .dst = dst, .src_row = gl_row_size(ti->type, ne0),
                           .dst_row = gl_row_size(dst_type, ne0), .ne0 = ne0,
                           .r0 = qz_min(nrows, per * t), .r1 = qz_min(nrows, per * (t + 1))};
    }
    for (int t = 1; t < nth; t++) {
        if (pthread_create(&th[t], NULL, qz_worker, &jobs[t]) != 0) break;
        started = t;
    }
    /* rows of threads that could not start are done here */
    for (int t = started + 1; t < nth; t++) jobs[0].r1 = jobs[t].r1;
    qz_worker(&jobs[0]);
    ok = jobs[0].ok;
    for (int t = 1; t <= started; t++) {
        pthread_join(th[t], NULL);
        ok = ok && jobs[t].ok;
    }
    return ok;
}

/* ------------------------------------------------------------------------------------------
 * The file
 * ---------------------------------------------------------------------------------------- */

#define qz_log(p, ...) elm_log_msg((p)->log, (p)->user, __VA_ARGS__)

static void qz_name(const gl_gguf_tensor_info *ti, char *buf, size_t size) {
    const size_t n = ti->name.len < size - 1 ? (size_t)ti->name.len : size - 1;
    memcpy(buf, ti->name.data, n);
    buf[n] = '\0';
}

static int64_t qz_key_i64(const gl_gguf *f, const char *arch, const char *suffix) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const int64_t i = gl_gguf_find_key(f, key);
    int64_t v = 0;
    if (i < 0 || !gl_gguf_get_i64(f, i, &v)) return 0;
    return v;
}

/* Counts the attention-value and ffn_down tensors, finds out whether the embeddings are tied
 * and the GQA ratio. */
static void qz_survey(qz_state *s, const gl_gguf *f) {
    s->tied = gl_gguf_find_tensor(f, "output.weight") < 0;
    char name[256];
    for (int64_t i = 0; i < gl_gguf_n_tensors(f); i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, i);
        qz_name(ti, name, sizeof name);
        if (!qz_quantizable(name, ti->n_dims)) continue;
        if (qz_is_attn_v(name)) s->n_attn_v++;
        else if (qz_has(name, "ffn_down")) s->n_ffn_down++;
    }
    s->n_gqa = 1;
    const int64_t ka = gl_gguf_find_key(f, "general.architecture");
    if (ka >= 0 && gl_gguf_kv_type(f, ka) == GL_GGUF_STRING) {
        const gl_str a = gl_gguf_get_str(f, ka);
        char arch[64];
        const size_t n = a.len < sizeof arch - 1 ? (size_t)a.len : sizeof arch - 1;
        memcpy(arch, a.data, n);
        arch[n] = '\0';
        const int64_t h = qz_key_i64(f, arch, "attention.head_count");
        const int64_t hkv = qz_key_i64(f, arch, "attention.head_count_kv");
        if (h > 0 && hkv > 0) s->n_gqa = h / hkv;
    }
}

static gl_status qz_write(const elm_quantize_params *p, const elm_quant_spec *spec, const gl_gguf *f,
                          const qz_plan *plans, elm_quantize_stats *st, gl_error *err) {
    gl_error werr = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(p->out, &werr);
    if (!w) return gl_error_set(err, werr.code ? werr.code : GL_ERR_IO, "%s", werr.msg);
    gl_gguf_writer_on_size(w, p->on_size, p->user);
    gl_status s = GL_OK;
    /* the alignment key must come first: the writer pads with it */
    const int64_t ka = gl_gguf_find_key(f, "general.alignment");
    if (ka >= 0) s = elm_gguf_copy_kv(w, f, ka, err);
    for (int64_t i = 0; s == GL_OK && i < gl_gguf_n_kv(f); i++) {
        if (i != ka) s = elm_gguf_copy_kv(w, f, i, err);
    }
    const bool quantized = gl_type_get(spec->base)->is_quantized;
    if (s == GL_OK) s = gl_gguf_w_kv_u32(w, "general.file_type", spec->file_type);
    if (s == GL_OK && quantized) s = gl_gguf_w_kv_u32(w, "general.quantization_version", 2);
    const int64_t n = gl_gguf_n_tensors(f);
    char name[256];
    for (int64_t i = 0; s == GL_OK && i < n; i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, i);
        qz_name(ti, name, sizeof name);
        s = gl_gguf_w_tensor_info(w, name, plans[i].type, ti->n_dims, ti->ne);
    }
    uint64_t elems_total = 0, elems_done = 0;
    for (int64_t i = 0; i < n; i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, i);
        elems_total += (uint64_t)(ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3]);
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (int64_t i = 0; s == GL_OK && i < n; i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, i);
        qz_name(ti, name, sizeof name);
        const int64_t nel = ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3];
        const size_t out_bytes = gl_row_size(plans[i].type, ti->ne[0]) * (size_t)(nel / (ti->ne[0] ? ti->ne[0] : 1));
        if (plans[i].type == ti->type) {
            s = gl_gguf_w_tensor_data(w, ti->data, ti->nbytes);
        } else {
            if (out_bytes > cap) {
                ELM_FREE(buf);
                cap = out_bytes;
                buf = ELM_MALLOC(cap ? cap : 1);
                if (!buf) {
                    s = gl_error_set(err, GL_ERR_NOMEM, "out of memory for tensor %s (%zu bytes)", name, out_bytes);
                    break;
                }
            }
            if (!qz_convert_rows(ti, plans[i].type, buf, p->n_threads)) {
                s = gl_error_set(err, GL_ERR_NOMEM, "out of memory converting %s", name);
                break;
            }
            s = gl_gguf_w_tensor_data(w, buf, out_bytes);
        }
        if (s != GL_OK) break;
        elems_done += (uint64_t)nel;
        st->n_elements += (uint64_t)nel;
        st->bytes_in += ti->nbytes;
        st->bytes_out += plans[i].type == ti->type ? ti->nbytes : out_bytes;
        st->n_quantized += plans[i].quantize && gl_type_get(plans[i].type)->is_quantized;
        st->n_fallback += plans[i].fallback;
        st->n_requantized += plans[i].requant;
        if (p->on_tensor) {
            elm_quant_tensor_report r = {.name = name, .index = i, .n_tensors = n, .n_dims = ti->n_dims,
                                         .old_type = ti->type, .new_type = plans[i].type,
                                         .old_bytes = ti->nbytes,
                                         .new_bytes = plans[i].type == ti->type ? ti->nbytes : out_bytes,
                                         .fallback = plans[i].fallback, .wanted = plans[i].wanted,
                                         .requantized = plans[i].requant};
            memcpy(r.ne, ti->ne, sizeof r.ne);
            p->on_tensor(p->user, &r);
        }
        if (p->progress) p->progress(p->user, i + 1, n, elems_done, elems_total);
    }
    ELM_FREE(buf);
    if (s != GL_OK && err && err->code == GL_OK) gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    gl_error cerr = {0};
    /* on failure the writer's temporary file goes; a file already at p->out stays untouched */
    const gl_status cs = s == GL_OK ? gl_gguf_writer_close(w, &cerr) : (gl_gguf_writer_discard(w), s);
    if (s == GL_OK && cs != GL_OK) s = gl_error_set(err, cs, "%s", cerr.msg);
    return s;
}

int64_t elm_count_nonfinite(const float *x, int64_t n, int64_t *first) {
    int64_t c = 0;
    if (first) *first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(x[i])) continue;
        if (c++ == 0 && first) *first = i;
    }
    return c;
}

int64_t elm_tensor_count_nonfinite(const gl_gguf_tensor_info *ti, int64_t *first) {
    const gl_type_traits *tt = gl_type_get(ti->type);
    const int64_t ne0 = ti->ne[0];
    if (first) *first = -1;
    if (!tt || !tt->to_float || ne0 <= 0) return tt && tt->to_float ? 0 : -1;
    const size_t rs = gl_row_size(ti->type, ne0);
    const int64_t nrows = rs ? (int64_t)(ti->nbytes / rs) : 0;
    float *row = ELM_MALLOC(sizeof(float) * (size_t)ne0);
    if (!row) return -1;
    int64_t total = 0;
    for (int64_t r = 0; r < nrows; r++) {
        tt->to_float((const uint8_t *)ti->data + (size_t)r * rs, row, ne0);
        int64_t f;
        const int64_t c = elm_count_nonfinite(row, ne0, &f);
        if (c && total == 0 && first) *first = r * ne0 + f;
        total += c;
    }
    ELM_FREE(row);
    return total;
}

/* Warns about (or with p->strict refuses) a tensor holding NaN/inf values. */
static gl_status qz_check_finite(const elm_quantize_params *p, const gl_gguf_tensor_info *ti, const char *name,
                                 gl_error *err) {
    int64_t first;
    const int64_t c = elm_tensor_count_nonfinite(ti, &first);
    if (c <= 0) return GL_OK;
    if (p->strict)
        return gl_error_set(err, GL_ERR_INVALID,
                            "tensor %s holds %lld NaN/inf values (first at element %lld): refused (--strict)",
                            name, (long long)c, (long long)first);
    qz_log(p, "warning: tensor %s holds %lld NaN/inf values (first at element %lld): the model will "
              "give NaN or wrong outputs",
           name, (long long)c, (long long)first);
    return GL_OK;
}

elm_quantize_params elm_quantize_default_params(void) {
    elm_quantize_params p;
    memset(&p, 0, sizeof p);
    return p;
}

bool elm_quant_type_info(const char *name, const char **canonical, gl_type *base) {
    elm_quant_spec spec;
    if (!elm_quant_parse(name, &spec)) return false;
    if (canonical) *canonical = spec.name;
    if (base) *base = spec.base;
    return true;
}

gl_status elm_quantize(const elm_quantize_params *p, elm_quantize_stats *stats, gl_error *err) {
    elm_quantize_stats local;
    elm_quantize_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!p || !p->in || !p->out) return gl_error_set(err, GL_ERR_INVALID, "quantize: input and output are required");
    qz_state s = {.p = p};
    if (!p->type) return gl_error_set(err, GL_ERR_INVALID, "quantize: no type given");
    if (!elm_quant_parse(p->type, &s.spec))
        return gl_error_set(err, GL_ERR_INVALID, "quantize: unknown type '%.32s' (one of %s)", p->type, elm_quant_type_list());
    if (!strcmp(p->in, p->out)) return gl_error_set(err, GL_ERR_INVALID, "quantize: input and output are the same file");
    gl_gguf *f = gl_gguf_open(p->in, err);
    if (!f) return err ? err->code : GL_ERR_IO;
    const int64_t n = gl_gguf_n_tensors(f);
    qz_plan *plans = ELM_CALLOC((size_t)(n ? n : 1), sizeof *plans);
    if (!plans) {
        gl_gguf_close(f);
        return gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    }
    qz_survey(&s, f);
    gl_status status = GL_OK;
    char name[256];
    int64_t n_requant = 0;
    for (int64_t i = 0; i < n && status == GL_OK; i++) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, i);
        qz_name(ti, name, sizeof name);
        const gl_type_traits *tt = gl_type_get(ti->type);
        qz_decide(&s, ti, name, &plans[i]);
        if (plans[i].type != ti->type && (!tt->supported || !tt->to_float)) {
            status = gl_error_set(err, GL_ERR_UNSUPPORTED, "tensor %s: type %s cannot be converted",
                                  name, gl_type_name(ti->type));
        } else if (plans[i].requant && !p->allow_requantize) {
            status = gl_error_set(err, GL_ERR_INVALID,
                                  "tensor %s is already quantized (%s): requantizing loses more quality than "
                                  "quantizing the F32/F16 original; pass --allow-requantize to do it anyway",
                                  name, gl_type_name(ti->type));
        }
        if (status == GL_OK) status = qz_check_finite(p, ti, name, err);
        n_requant += plans[i].requant;
        if (plans[i].fallback) {
            qz_log(p, "note: %s has rows of %lld, not a multiple of %s's %lld: using %s", name,
                   (long long)ti->ne[0], gl_type_name(plans[i].wanted),
                   (long long)gl_type_get(plans[i].wanted)->blck_size, gl_type_name(plans[i].type));
        }
    }
    if (status == GL_OK && n_requant > 0) {
        qz_log(p, "warning: requantizing %lld already-quantized tensors: quality will be worse than "
                  "quantizing from the F32/F16 original", (long long)n_requant);
    }
    if (status == GL_OK) {
        st->n_tensors = n;
        status = qz_write(p, &s.spec, f, plans, st, err);
    }
    ELM_FREE(plans);
    gl_gguf_close(f);
    return status;
}
