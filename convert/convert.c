/*
 * convert.c — entry point of the converter: picks the source kind and handles --vocab-only.
 * The model mappings live in convert_llm.c, the tokenizers in hf_tokenizer.c.
 */
#include "arch.h"
#include "common.h"
#include "alloc.h"
#include "convert.h"
#include "convert_elmo.h"
#include "quantize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

elm_convert_params elm_convert_default_params(void) {
    elm_convert_params p;
    memset(&p, 0, sizeof p);
    p.outtype = -1;
    return p;
}

char *elm_cv_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = ELM_MALLOC(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

bool elm_cv_file_exists(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool cv_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const elm_arch *elm_cv_detect_dir(const char *dir) {
    if (!dir || !cv_is_dir(dir)) return NULL;
    if (elm_convert_is_elmo_dir(dir)) return elm_arch_find("elmo", 4); /* options.json + weights */
    gl_error e = {0};
    bool failed = false;
    elm_json_doc *d = elm_cv_json_opt(dir, "config.json", &e, &failed);
    if (!d) return NULL;
    const elm_json *cfg = elm_json_root(d);
    const elm_arch *row = elm_arch_from_hf_config(elm_json_str(elm_json_at(elm_json_get(cfg, "architectures"), 0)),
                                                  elm_json_get_str(cfg, "model_type"));
    elm_json_free(d);
    return row;
}

/* --vocab-only: a GGUF holding only general.* and tokenizer.* keys. */
static gl_status cv_vocab_only(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    elm_cv_vocab v;
    gl_status s;
    const char *src = p->tokenizer ? p->tokenizer : p->src;
    if (cv_is_dir(src)) s = elm_cv_vocab_load_dir(src, -1, &v, p->log, p->user, err);
    else if (elm_cv_ends_with(src, ".model")) s = elm_cv_vocab_load_spm(src, -1, &v, err);
    else if (elm_cv_ends_with(src, ".bin")) s = elm_cv_vocab_load_llama2c(src, -1, &v, err);
    else
        return gl_error_set(err, GL_ERR_INVALID,
                            "%s: --vocab-only needs a folder with tokenizer files, a tokenizer.model or a "
                            "llama2.c tokenizer.bin",
                            src);
    if (s != GL_OK) return s;
    gl_gguf_writer *w = gl_gguf_writer_open(p->out, err);
    if (!w) {
        elm_cv_vocab_free(&v);
        return err ? err->code : GL_ERR_IO;
    }
    gl_gguf_writer_on_size(w, p->on_size, p->user);
    /* llama.cpp's vocab-only files name the tokenizer's family as the architecture. */
    const char *arch = !strcmp(v.model, "gpt2") ? "gpt2" : "llama";
    s = gl_gguf_w_kv_str(w, "general.architecture", arch);
    if (s == GL_OK) s = gl_gguf_w_kv_str(w, "general.name", p->name ? p->name : "vocab");
    if (s == GL_OK) s = elm_cv_vocab_write(w, &v, err);
    else gl_error_set(err, s, "%s", gl_gguf_writer_error(w));
    gl_error cerr = {0};
    gl_status cs = s == GL_OK ? gl_gguf_writer_close(w, &cerr) : (gl_gguf_writer_discard(w), s);
    if (s == GL_OK && cs != GL_OK) s = gl_error_set(err, cs, "%s", cerr.msg);
    if (s == GL_OK && stats) {
        memset(stats, 0, sizeof *stats);
        snprintf(stats->arch, sizeof stats->arch, "%s", arch);
        stats->n_vocab = v.n_tokens;
    }
    elm_cv_vocab_free(&v);
    return s;
}

/* NaN/inf values in one checkpoint tensor (read in chunks as floats); -1 when unreadable. */
static int64_t cv_tensor_nonfinite(const elm_st_tensor *t, float *buf, int64_t chunk, int64_t *first) {
    int64_t total = 0;
    *first = -1;
    for (int64_t i0 = 0; i0 < t->n_elements; i0 += chunk) {
        const int64_t n = t->n_elements - i0 < chunk ? t->n_elements - i0 : chunk;
        gl_error e = {0};
        if (elm_st_read_f32(t, i0, n, buf, &e) != GL_OK) return -1;
        int64_t f;
        const int64_t c = elm_count_nonfinite(buf, n, &f);
        if (c && total == 0) *first = i0 + f;
        total += c;
    }
    return total;
}

/* Reports the checkpoint's tensors that hold NaN/inf values: a warning naming each, or with
 * p->strict an error. A source that does not open here (a llama2.c file, an ELMo HDF5) is
 * left to the converter, which reports its own errors. */
static gl_status cv_check_finite(const elm_convert_params *p, gl_error *err) {
    gl_error e = {0};
    elm_cv_source *src = elm_cv_source_open(p->src, &e);
    if (!src) return GL_OK;
    const int64_t chunk = (int64_t)1 << 20;
    float *buf = ELM_MALLOC(sizeof(float) * (size_t)chunk);
    gl_status s = buf ? GL_OK : gl_error_set(err, GL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; s == GL_OK && i < elm_cv_source_n(src); i++) {
        const elm_st_tensor *t = elm_cv_source_at(src, i);
        if (t->dtype != ELM_ST_F32 && t->dtype != ELM_ST_F16 && t->dtype != ELM_ST_BF16) continue;
        int64_t first;
        const int64_t c = cv_tensor_nonfinite(t, buf, chunk, &first);
        if (c <= 0) continue;
        if (p->strict)
            s = gl_error_set(err, GL_ERR_INVALID,
                             "tensor %s holds %lld NaN/inf values (first at element %lld): refused (--strict)",
                             t->name, (long long)c, (long long)first);
        else
            elm_cv_log(p, "warning: tensor %s holds %lld NaN/inf values (first at element %lld): the model "
                          "will give NaN or wrong outputs",
                       t->name, (long long)c, (long long)first);
    }
    ELM_FREE(buf);
    elm_cv_source_close(src);
    return s;
}

/* The ELMo converter's progress (source bytes read of their total) as elm_convert's. */
static void cv_elmo_progress(void *user, int64_t done, int64_t total) {
    const elm_convert_params *p = user;
    p->progress(p->user, 0, 0, (uint64_t)done, (uint64_t)total);
}

/* ELMo (options.json + weights .hdf5): its own converter, F32 unless an outtype is given. */
static gl_status cv_elmo(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    const elm_cve_progress prog = {p->progress ? cv_elmo_progress : NULL, (void *)p};
    const elm_cve_check check = {p->strict, p->log, p->user};
    const gl_status s = elm_convert_elmo_checked(p->src, p->elmo_options, p->elmo_weights, p->out,
                                                 p->outtype >= 0 ? gl_type_name((gl_type)p->outtype) : NULL, &prog,
                                                 &check, err);
    if (s == GL_OK && stats) snprintf(stats->arch, sizeof stats->arch, "elmo");
    return s;
}

/* Appends to buf[size] at *o what snprintf would (nothing once full); *o counts every byte. */
static void cv_cat(char *buf, size_t size, size_t *o, const char *fmt, ...) ELM_PRINTF(4, 5);
static void cv_cat(char *buf, size_t size, size_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(*o < size ? buf + *o : NULL, *o < size ? size - *o : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *o += (size_t)n;
}

int32_t elm_convert_supported(char *buf, int32_t size) {
    static const char *const family_names[] = {"decoders", "BERT", "T5 and flan-t5", "ELMo"};
    static const char *const family_notes[] = {"", " and the other BertFor* heads, sentence-transformers folders", "",
                                               "AllenNLP / bilm-tf folders with options.json and the weights .hdf5"};
    const size_t cap = buf && size > 0 ? (size_t)size : 0;
    size_t o = 0;
    if (cap) buf[0] = '\0';
    for (int fam = ELM_FAMILY_DECODER; fam <= ELM_FAMILY_ELMO; fam++) {
        if (fam != ELM_FAMILY_DECODER) cv_cat(buf, cap, &o, "; ");
        int k = 0;
        for (int i = 0; i < elm_arch_count(); i++) {
            const elm_arch *r = elm_arch_at(i);
            if ((int)r->family != fam) continue;
            for (int h = 0; h < ELM_ARCH_MAX_HF && r->hf[h]; h++) cv_cat(buf, cap, &o, "%s%s", k++ ? ", " : "", r->hf[h]);
        }
        cv_cat(buf, cap, &o, "%s (%s)", family_notes[fam], family_names[fam]);
    }
    return o > INT32_MAX ? INT32_MAX : (int32_t)o;
}

gl_status elm_convert(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err) {
    if (p && stats) memset(stats, 0, sizeof *stats);
    if (p && p->out && (p->elmo_options || p->elmo_weights || (p->src && elm_convert_is_elmo_dir(p->src))))
        return cv_elmo(p, stats, err);
    if (!p || !p->src || !p->out) return gl_error_set(err, GL_ERR_INVALID, "convert: source and output are required");
    if (p->outtype >= 0) {
        static const int allowed[] = {GL_TYPE_F32, GL_TYPE_F16, GL_TYPE_BF16, GL_TYPE_Q8_0,
                                      GL_TYPE_Q4_0, GL_TYPE_Q4_1, GL_TYPE_Q5_0, GL_TYPE_Q5_1};
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) ok = ok || p->outtype == allowed[i];
        if (!ok)
            return gl_error_set(err, GL_ERR_UNSUPPORTED,
                                "output type %s is not supported (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)",
                                gl_type_name(p->outtype));
    }
    if (!p->vocab_only) {
        const gl_status fs = cv_check_finite(p, err);
        if (fs != GL_OK) return fs;
    }
    const elm_arch *row = elm_cv_detect_dir(p->src);
    if (row && row->family == ELM_FAMILY_T5) return elm_cv_convert_t5(p, stats, err);
    if (row && row->family == ELM_FAMILY_BERT) return elm_cv_convert_bert(p, stats, err);
    if (p->vocab_only) return cv_vocab_only(p, stats, err);
    if (cv_is_dir(p->src)) return elm_cv_convert_hf(p, stats, err);
    if (elm_cv_file_exists(p->src)) return elm_cv_convert_llama2c(p, stats, err);
    return gl_error_set(err, GL_ERR_IO, "%s: no such folder or file", p->src);
}
