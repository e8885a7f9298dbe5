/*
 * edgelm info FILE.gguf — prints a GGUF file's header, every metadata key with its type and
 * value, and the tensor table with totals. The file is opened with the validating reader, so a
 * malformed file is reported (on stderr, non-zero exit) instead of printed.
 */
#include "cli.h"
#include "opts.h"
#include "edgelm.h"
#include "ggml-lite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INFO_STR_MAX 64      /* bytes of a string value shown before it is cut */
#define INFO_ARR_STR_MAX 24  /* bytes of each string shown inside an array */
#define INFO_ARR_SHOWN 5     /* array elements shown */

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t info_cut(gl_str s, size_t max) {
    if (s.len <= max) return (size_t)s.len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s.data[n] & 0xC0) == 0x80) n--; /* continuation byte */
    return n;
}

/* Prints s escaped (control characters, quotes, backslashes) and cut to max bytes with a note
 * of its full length; returns the columns used (roughly: characters), for padding. */
static int info_escape(gl_str s, size_t max, bool quote) {
    size_t n = info_cut(s, max);
    int out = 0;
    if (quote) out += printf("\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.data[i];
        switch (c) {
        case '\n': out += printf("\\n"); break;
        case '\t': out += printf("\\t"); break;
        case '\r': out += printf("\\r"); break;
        case '"': out += printf("\\\""); break;
        case '\\': out += printf("\\\\"); break;
        default:
            if (c < 0x20 || c == 0x7f) out += printf("\\x%02x", c);
            else {
                putchar(c);
                out += (c & 0xC0) != 0x80; /* count characters, not UTF-8 continuation bytes */
            }
        }
    }
    if (quote) out += printf("\"");
    if (n < s.len) out += printf("\xe2\x80\xa6(%llu bytes)", (unsigned long long)s.len);
    return out;
}

static void info_print_str(gl_str s, size_t max) { info_escape(s, max, true); }

/* The shortest of %.6g / %.9g / %.17g that reads back as the same value (float32 values
 * compared as float32). */
static void info_print_float(double d, bool is_f32) {
    static const char *const fmts[] = {"%.6g", "%.9g", "%.17g"};
    char buf[64];
    for (int k = 0; k < 3; k++) {
        snprintf(buf, sizeof buf, fmts[k], d);
        double back = strtod(buf, NULL);
        if (is_f32 ? (float)back == (float)d : back == d) break;
    }
    fputs(buf, stdout);
}

/* One number of a scalar or array element, in the file's own type. */
static void info_print_number(gl_gguf_type t, const gl_gguf *f, int64_t i, int64_t j) {
    double d = 0;
    int64_t v = 0;
    uint64_t u = 0;
    bool b = false;
    if (t == GL_GGUF_FLOAT32 || t == GL_GGUF_FLOAT64) {
        bool ok = j < 0 ? gl_gguf_get_f64(f, i, &d) : gl_gguf_arr_get_f64(f, i, (uint64_t)j, &d);
        if (ok) info_print_float(d, t == GL_GGUF_FLOAT32);
    } else if (t == GL_GGUF_BOOL) {
        if (j < 0) gl_gguf_get_bool(f, i, &b);
        else if (gl_gguf_arr_get_i64(f, i, (uint64_t)j, &v)) b = v != 0;
        fputs(b ? "true" : "false", stdout);
    } else if (t == GL_GGUF_UINT64 && j < 0) {
        if (gl_gguf_get_u64(f, i, &u)) printf("%llu", (unsigned long long)u);
    } else if (t == GL_GGUF_UINT64) {
        /* elements above INT64_MAX do not fit arr_get_i64: read the raw bytes */
        const unsigned char *p = (const unsigned char *)gl_gguf_arr_data(f, i) + 8 * j;
        for (int k = 7; k >= 0; k--) u = u << 8 | p[k];
        printf("%llu", (unsigned long long)u);
    } else {
        bool ok = j < 0 ? gl_gguf_get_i64(f, i, &v) : gl_gguf_arr_get_i64(f, i, (uint64_t)j, &v);
        if (ok) printf("%lld", (long long)v);
    }
}

static void info_print_array(const gl_gguf *f, int64_t i) {
    gl_gguf_type et = gl_gguf_arr_type(f, i);
    uint64_t n = gl_gguf_arr_n(f, i);
    printf("%llu items:", (unsigned long long)n);
    uint64_t shown = n < INFO_ARR_SHOWN ? n : INFO_ARR_SHOWN;
    for (uint64_t j = 0; j < shown; j++) {
        fputs(j ? ", " : " ", stdout);
        if (et == GL_GGUF_STRING) info_print_str(gl_gguf_arr_str(f, i, j), INFO_ARR_STR_MAX);
        else info_print_number(et, f, i, (int64_t)j);
    }
    if (shown < n) fputs(", \xe2\x80\xa6", stdout);
}

static void info_print_kv(const gl_gguf *f, int64_t i, int key_width) {
    gl_str key = gl_gguf_key(f, i);
    gl_gguf_type t = gl_gguf_kv_type(f, i);
    char type[32];
    if (t == GL_GGUF_ARRAY) snprintf(type, sizeof type, "array<%s>", gl_gguf_type_name(gl_gguf_arr_type(f, i)));
    else snprintf(type, sizeof type, "%s", gl_gguf_type_name(t));
    /* keys come from the file: print them escaped like any other string */
    fputs("  ", stdout);
    int w = info_escape(key, 96, false);
    printf("%*s %-16s ", w < key_width ? key_width - w : 0, "", type);
    if (t == GL_GGUF_STRING) info_print_str(gl_gguf_get_str(f, i), INFO_STR_MAX);
    else if (t == GL_GGUF_ARRAY) info_print_array(f, i);
    else info_print_number(t, f, i, -1);
    putchar('\n');
}

static void info_print_shape(const gl_gguf_tensor_info *t, char *out, size_t cap) {
    int n = snprintf(out, cap, "[");
    for (int d = 0; d < t->n_dims && n > 0 && (size_t)n < cap; d++) {
        n += snprintf(out + n, cap - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    }
    if (n > 0 && (size_t)n < cap) snprintf(out + n, cap - (size_t)n, "]");
}

static void info_print_tensors(const gl_gguf *f) {
    int64_t nt = gl_gguf_n_tensors(f);
    int name_w = 4;
    for (int64_t i = 0; i < nt; i++) {
        int len = (int)gl_gguf_tensor(f, i)->name.len; /* < 64: checked by the reader */
        if (len > name_w) name_w = len;
    }
    printf("tensors:      %lld\n", (long long)nt);
    if (nt == 0) return;
    printf("  %5s  %-*s  %-7s  %-22s  %12s  %12s\n", "#", name_w, "name", "type", "shape", "offset", "bytes");
    uint64_t total_bytes = 0, params = 0;
    bool seen[GL_TYPE_COUNT] = {false};
    for (int64_t i = 0; i < nt; i++) {
        const gl_gguf_tensor_info *t = gl_gguf_tensor(f, i);
        char shape[96];
        info_print_shape(t, shape, sizeof shape);
        printf("  %5lld  %-*.*s  %-7s  %-22s  %12llu  %12llu\n", (long long)i, name_w, (int)t->name.len,
               t->name.data, gl_type_name(t->type), shape, (unsigned long long)t->offset,
               (unsigned long long)t->nbytes);
        total_bytes += t->nbytes;
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if ((unsigned)t->type < GL_TYPE_COUNT) seen[t->type] = true;
    }
    printf("total:        %lld tensors, %llu bytes, %llu params, %.3f bits per weight\n", (long long)nt,
           (unsigned long long)total_bytes, (unsigned long long)params,
           params ? 8.0 * (double)total_bytes / (double)params : 0.0);
    for (int ty = 0; ty < GL_TYPE_COUNT; ty++) {
        const gl_type_traits *tr = gl_type_get(ty);
        if (seen[ty] && tr && !tr->supported) {
            printf("note:         edgelm stores but cannot compute with %s tensors\n", tr->name);
        }
    }
}

static double info_mib(int64_t b) { return (double)b / 1048576.0; }

/* --memory: loads the model and a context as generate does, and reports their sizes. */
static int info_memory(const char *path, int32_t n_ctx) {
    elm_error err = {0};
    elm_model *m = elm_model_load(path, &(elm_model_params){.no_vocab = true}, &err);
    if (!m) {
        opts_fail_err("info", path, &err, NULL);
        return 1;
    }
    elm_ctx_params cp = elm_ctx_default_params();
    cp.n_ctx = n_ctx;
    elm_ctx *c = elm_ctx_new_ext(m, &cp, &err);
    elm_memory_use u;
    if (!c || !elm_ctx_memory_use(c, &u)) {
        opts_fail_err("info", path, &err, NULL);
        elm_model_free(m);
        return 1;
    }
    int64_t rss = 0, peak = 0;
    printf("memory of %s at %d positions (f16 KV cache, 1 thread):\n", path, elm_ctx_n_ctx(c));
    printf("  weights:   %9.2f MiB (the mapped file; %.2f MiB of it copied into the interleaved\n"
           "                            layout at load, whose file pages are released)\n",
           info_mib(u.file), info_mib(u.repacked));
    printf("  KV cache:  %9.2f MiB\n", info_mib(u.kv_cache));
    printf("  compute:   %9.2f MiB\n", info_mib(u.compute));
    printf("  total:     %9.2f MiB\n", info_mib(u.total));
    if (elm_process_memory(&rss, &peak))
        printf("  measured:  %9.2f MiB peak resident after loading (weights are read on first use)\n",
               info_mib(peak));
    elm_ctx_free(c);
    elm_model_free(m);
    return 0;
}

int cmd_info(int argc, char **argv) {
    const char *pos[1] = {NULL};
    int n_pos = 0;
    bool memory = false, ctx_set = false;
    int32_t n_ctx = 0;
    const opt_def defs[] = {
        OPT_SECTION("Memory"),
        OPT_FLAG("--memory", &memory, "instead of the header: the RAM a decoder needs (weights, KV cache, compute "
                 "buffers) at a context of N positions, F16 KV cache, as loaded"),
        {.names = "-c,--ctx-size", .kind = OPTK_INT, .dst = &n_ctx, .lo = 1, .hi = 1 << 20, .meta = "N",
         .help = "with --memory: the context size (default: the model's context length, at most 4096)",
         .seen = &ctx_set},
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD_POS("info", "FILE.gguf [--memory [-c N]]",
                          "Prints the GGUF header, every metadata key (type and value) and the tensor table (index, "
                          "name, type, shape, offset in the data section, bytes) with totals.",
                          defs, pos, 1, &n_pos);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    if (n_pos != 1) return opts_fail("info", "give the file: edgelm info FILE.gguf", "no file");
    if (ctx_set && !memory) return opts_fail("info", "add --memory or leave -c out", "-c is for --memory");
    if (memory) return info_memory(pos[0], n_ctx);
    const char *path = pos[0];
    gl_error err = {GL_OK, ""};
    gl_gguf *f = gl_gguf_open(path, &err);
    if (!f) {
        /* open errors already name the file; format errors say where in it */
        opts_fail_err("info", path, &err, NULL);
        return 1;
    }
    size_t size = gl_gguf_file_size(f);
    printf("file:         %s\n", path);
    printf("size:         %zu bytes (%.2f MiB)\n", size, (double)size / (1024.0 * 1024.0));
    printf("version:      %u\n", gl_gguf_version(f));
    printf("alignment:    %u\n", gl_gguf_alignment(f));
    printf("data offset:  %zu\n", gl_gguf_data_offset(f));
    int64_t n_kv = gl_gguf_n_kv(f);
    printf("metadata:     %lld keys\n", (long long)n_kv);
    int key_w = 8;
    for (int64_t i = 0; i < n_kv; i++) {
        uint64_t len = gl_gguf_key(f, i).len;
        if (len > (uint64_t)key_w && len <= 48) key_w = (int)len;
    }
    for (int64_t i = 0; i < n_kv; i++) info_print_kv(f, i, key_w);
    info_print_tensors(f);
    gl_gguf_close(f);
    if (fflush(stdout) != 0) {
        opts_fail("info", "check the output's free disk space", "cannot write the output");
        return 1;
    }
    return 0;
}
