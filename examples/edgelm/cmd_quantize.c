/*
 * edgelm quantize IN.gguf OUT.gguf TYPE [--threads N] [--allow-requantize] [--pure]
 *
 * Prints one line per tensor (old type and size → new type and size), then the totals and
 * bits per weight. On a terminal a progress line is drawn on stderr. Rules: quant/quantize.h.
 */
#include "cli.h"
#include "cli_perf.h"
#include "cli_progress.h"
#include "cli_quant.h"
#include "opts.h"
#include "out_guard.h"
#include "edgelm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct qcli_ui {
    cli_progress prog;
    bool quiet;
    cli_quant_counts counts;
} qcli_ui;

void cli_quant_count(cli_quant_counts *c, const elm_quant_tensor_report *r) {
    if ((int)r->new_type >= 0 && (int)r->new_type < GL_TYPE_COUNT) c->per_type[r->new_type]++;
}

void cli_quant_summary(FILE *out, const char *path, const cli_quant_counts *c, const elm_quantize_stats *st) {
    fprintf(out, "%s: %lld tensors:", path, (long long)st->n_tensors);
    for (int t = 0, k = 0; t < GL_TYPE_COUNT; t++)
        if (c->per_type[t]) fprintf(out, "%s %s %lld", k++ ? "," : "", gl_type_name((gl_type)t), (long long)c->per_type[t]);
    fprintf(out, "\n%lld quantized, %lld requantized; %lld matrices took a fallback type (rows that do not divide into "
            "the wanted type's blocks)\n",
            (long long)st->n_quantized, (long long)st->n_requantized, (long long)st->n_fallback);
}

static void qcli_clear(qcli_ui *ui) { cli_progress_clear(&ui->prog); }

static void qcli_log(void *user, const char *msg) {
    qcli_ui *ui = user;
    if (ui->quiet && strncmp(msg, "warning", 7) != 0) return; /* -q: notes (fallbacks ..) off, warnings kept */
    qcli_clear(ui);
    fprintf(stderr, "%s\n", msg);
}

static void qcli_tensor(void *user, const elm_quant_tensor_report *r) {
    qcli_ui *ui = user;
    cli_quant_count(&ui->counts, r);
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

/* The output's size and the free space, before writing (a terminal or -v; not with -q). */
static void qcli_space(void *user, const char *path, uint64_t need, uint64_t avail) {
    qcli_ui *ui = user;
    if (!ui->quiet) cli_progress_space(&ui->prog, path, need, avail);
}

static void qcli_progress(void *user, int64_t done, int64_t n, uint64_t el, uint64_t total) {
    qcli_ui *ui = user;
    (void)done, (void)n;
    cli_progress_update(&ui->prog, (double)el / 1e6, (double)total / 1e6); /* millions of weights */
}

/* TYPE: one of elm_quant_type_list(); *dst gets its canonical name. */
static bool qcli_parse_type(const char *v, const char **dst, char *why, size_t why_size) {
    if (elm_quant_type_info(v, dst, NULL)) return true;
    snprintf(why, why_size, "use one of %s", elm_quant_type_list());
    return false;
}

int cmd_quantize(int argc, char **argv) {
    elm_quantize_params p = elm_quantize_default_params();
    p.n_threads = opts_default_threads();
    qcli_ui ui = {.quiet = false};
    cli_progress_init(&ui.prog, "quantizing (millions of weights)");
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    const opt_def defs[] = {
        OPT_THREADS(&p.n_threads),
        OPT_FLAG("--allow-requantize", &p.allow_requantize, "quantize tensors that are quantized already (quality drops)"),
        OPT_FLAG("--pure", &p.pure, "no mix rules: every quantizable matrix gets TYPE's base type"),
        OPT_FLAG("--strict", &p.strict, "refuse a tensor holding NaN/inf values (default: a warning)"),
        OPT_FLAG("-q,--quiet", &ui.quiet, "no per-tensor lines and no notes"),
        OPT_FLAG("-v,--verbose", &ui.prog.verbose, "state the output's size and the free space also when stderr is no terminal"),
        OPT_END,
    };
    char about[1024];
    snprintf(about, sizeof about,
             "TYPE: %s (llama.cpp's names; the _S/_M mixes raise attention-value, ffn_down and output tensors as "
             "llama-quantize does). Works on decoder, BERT, T5 and ELMo files. 1-D tensors stay F32; norms, position "
             "and token-type embeddings and T5's relative bias are not quantized; rows that do not divide into the "
             "type's blocks fall back to the nearest type that fits.",
             elm_quant_type_list());
    const opt_cmd cmd = OPT_CMD_POS("quantize", "IN.gguf OUT.gguf TYPE [options]", about, defs, pos, 3, &npos);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    char why[1024];
    if (npos != 3) {
        snprintf(why, sizeof why, "give IN.gguf OUT.gguf TYPE (TYPE: one of %s)", elm_quant_type_list());
        return opts_fail("quantize", why, "%d of 3 arguments", npos);
    }
    if (!qcli_parse_type(pos[2], &p.type, why, sizeof why)) return opts_fail("quantize", why, "unknown type '%s'", pos[2]);
    p.in = pos[0];
    p.out = pos[1];
    p.log = qcli_log;
    p.on_tensor = qcli_tensor;
    p.progress = qcli_progress;
    p.on_size = qcli_space;
    p.user = &ui;
    elm_quantize_stats st;
    gl_error err = {0};
    const double t0 = cli_now();
    const bool existed = out_guard_add(p.out, false); /* written atomically: see out_guard.h */
    const elm_status s = elm_quantize(&p, &st, &err);
    qcli_clear(&ui);
    if (s != GL_OK) {
        opts_fail_err("quantize", NULL, &err, NULL);
        return 1;
    }
    out_guard_report("quantize", p.out, existed);
    const double n = st.n_elements ? (double)st.n_elements : 1.0;
    cli_quant_summary(stdout, p.out, &ui.counts, &st);
    printf("size: %.2f MB (%.3f bits/weight) -> %.2f MB (%.3f bits/weight), %s, %.1f s\n",
           st.bytes_in / 1e6, 8.0 * (double)st.bytes_in / n, st.bytes_out / 1e6,
           8.0 * (double)st.bytes_out / n, p.type, cli_now() - t0);
    return 0;
}
