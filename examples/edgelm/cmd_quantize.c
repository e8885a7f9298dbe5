/*
 * edgelm quantize IN.gguf OUT.gguf TYPE [--threads N] [--allow-requantize] [--pure]
 *
 * Prints one line per tensor (old type and size → new type and size), then the totals and
 * bits per weight. On a terminal a progress line is drawn on stderr. Rules: quant/quantize.h.
 */
#include "cli.h"
#include "out_guard.h"
#include "quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct qcli_ui {
    bool tty, drawn, quiet;
} qcli_ui;

static void qcli_clear(qcli_ui *ui) {
    if (ui->drawn) {
        fputs("\r\033[K", stderr);
        ui->drawn = false;
    }
}

static void qcli_log(void *user, const char *msg) {
    qcli_ui *ui = user;
    qcli_clear(ui);
    fprintf(stderr, "%s\n", msg);
}

static void qcli_tensor(void *user, const elm_quant_tensor_report *r) {
    qcli_ui *ui = user;
    if (ui->quiet) return;
    qcli_clear(ui);
    char shape[64];
    int o = snprintf(shape, sizeof shape, "%lld", (long long)r->ne[0]);
    for (int d = 1; d < r->n_dims && o < (int)sizeof shape; d++)
        o += snprintf(shape + o, sizeof shape - (size_t)o, " x %lld", (long long)r->ne[d]);
    printf("[%4lld/%4lld] %-40s %-18s %6s %9.3f MB -> %-6s %9.3f MB%s%s\n", (long long)r->index + 1,
           (long long)r->n_tensors, r->name, shape, gl_type_name(r->old_type), r->old_bytes / 1e6,
           gl_type_name(r->new_type), r->new_bytes / 1e6, r->fallback ? " (fallback)" : "",
           r->requantized ? " (requantized)" : "");
    fflush(stdout);
}

static void qcli_progress(void *user, int64_t done, int64_t n, uint64_t el, uint64_t total) {
    qcli_ui *ui = user;
    if (!ui->tty) return;
    fprintf(stderr, "\r  quantizing: %lld/%lld tensors, %.0f%%", (long long)done, (long long)n,
            total ? 100.0 * (double)el / (double)total : 100.0);
    fflush(stderr);
    ui->drawn = true;
}

static void qcli_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm quantize IN.gguf OUT.gguf TYPE [options]\n"
            "  TYPE                 %s\n"
            "                       (llama.cpp's names; the _S/_M mixes raise attention-value,\n"
            "                       ffn_down and output tensors as llama-quantize does)\n"
            "  -t, --threads N      threads (default 2)\n"
            "  --allow-requantize   quantize tensors that are quantized already (quality drops)\n"
            "  --pure               no mix rules: every quantizable matrix gets TYPE's base type\n"
            "  --strict             refuse a tensor holding NaN/inf values (default: a warning)\n"
            "  -q, --quiet          no per-tensor lines\n"
            "Works on decoder, BERT, T5 and ELMo files. 1-D tensors stay F32; norms, position\n"
            "and token-type embeddings and T5's relative bias are not quantized; rows that do\n"
            "not divide into the type's blocks fall back to the nearest type that fits.\n",
            elm_quant_type_list());
}

static double qcli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_quantize(int argc, char **argv) {
    elm_quantize_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 2;
    qcli_ui ui = {.tty = isatty(fileno(stderr)) != 0};
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            qcli_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc) {
            char *end = NULL;
            const long v = strtol(argv[++i], &end, 10);
            if (!end || *end || v < 1 || v > 64) {
                fprintf(stderr, "edgelm quantize: --threads wants 1..64, not '%s'\n", argv[i]);
                return 2;
            }
            p.n_threads = (int)v;
        } else if (!strcmp(a, "--allow-requantize")) {
            p.allow_requantize = true;
        } else if (!strcmp(a, "--pure")) {
            p.pure = true;
        } else if (!strcmp(a, "--strict")) {
            p.strict = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            ui.quiet = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "edgelm quantize: unknown or incomplete option '%s'\n", a);
            qcli_usage(stderr);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "edgelm quantize: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (npos != 3) {
        qcli_usage(stderr);
        return 2;
    }
    if (!elm_quant_parse(pos[2], &p.spec)) {
        fprintf(stderr, "edgelm quantize: unknown type '%s' (one of: %s)\n", pos[2], elm_quant_type_list());
        return 2;
    }
    p.in = pos[0];
    p.out = pos[1];
    p.log = qcli_log;
    p.on_tensor = qcli_tensor;
    p.progress = qcli_progress;
    p.user = &ui;
    elm_quantize_stats st;
    gl_error err = {0};
    const double t0 = qcli_now();
    const bool existed = out_guard_add(p.out, false); /* written atomically: see out_guard.h */
    const gl_status s = elm_quantize_file(&p, &st, &err);
    qcli_clear(&ui);
    if (s != GL_OK) {
        fprintf(stderr, "edgelm quantize: %s\n", err.msg);
        return 1;
    }
    out_guard_report("quantize", p.out, existed);
    const double n = st.n_elements ? (double)st.n_elements : 1.0;
    printf("%s: %lld tensors, %lld quantized, %lld fell back, %lld requantized\n", p.out,
           (long long)st.n_tensors, (long long)st.n_quantized, (long long)st.n_fallback,
           (long long)st.n_requantized);
    printf("size: %.2f MB (%.3f bits/weight) -> %.2f MB (%.3f bits/weight), %s, %.1f s\n",
           st.bytes_in / 1e6, 8.0 * (double)st.bytes_in / n, st.bytes_out / 1e6,
           8.0 * (double)st.bytes_out / n, p.spec.name, qcli_now() - t0);
    return 0;
}
