/*
 * edgelm convert SRC -o OUT.gguf [--outtype T] [--vocab-only] [--tokenizer FILE] [--name NAME]
 *
 * SRC: a Hugging Face folder (config.json + safetensors + tokenizer files) or a llama2.c
 * checkpoint .bin (with --tokenizer tokenizer.bin). Progress is shown on a terminal only.
 */
#include "cli.h"
#include "cli_progress.h"
#include "cli_quant.h"
#include "opts.h"
#include "out_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct convert_ui {
    cli_progress prog;
    bool quiet;
} convert_ui;

static void convert_log(void *user, const char *msg) {
    convert_ui *ui = user;
    if (ui->quiet) return;
    cli_progress_clear(&ui->prog); /* keep the progress line from swallowing the message */
    fprintf(stderr, "%s\n", msg);
}

/* The output's size and the free space, before writing (a terminal or -v; not with -q). */
static void convert_space(void *user, const char *path, uint64_t need, uint64_t avail) {
    convert_ui *ui = user;
    if (!ui->quiet) cli_progress_space(&ui->prog, path, need, avail);
}

static void convert_progress(void *user, int64_t done, int64_t n, uint64_t bytes, uint64_t total) {
    convert_ui *ui = user;
    (void)done, (void)n;
    cli_progress_update(&ui->prog, (double)bytes / 1e6, (double)total / 1e6);
}

/* The quantize phase of --outtype K-quant: the same line, counted in millions of weights. */
typedef struct convert_quant_ui {
    cli_progress prog;
    cli_quant_counts counts;
} convert_quant_ui;

static void convert_quant_progress(void *user, int64_t done, int64_t n, uint64_t el, uint64_t total) {
    convert_quant_ui *ui = user;
    (void)done, (void)n;
    cli_progress_update(&ui->prog, (double)el / 1e6, (double)total / 1e6);
}

static void convert_quant_space(void *user, const char *path, uint64_t need, uint64_t avail) {
    convert_quant_ui *ui = user;
    cli_progress_space(&ui->prog, path, need, avail);
}

static void convert_quant_tensor(void *user, const elm_quant_tensor_report *r) {
    convert_quant_ui *ui = user;
    cli_quant_count(&ui->counts, r);
}

static double convert_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct convert_opts {
    const char *src, *out, *outtype, *tokenizer, *name, *elmo_options, *elmo_weights;
    bool vocab_only, no_heads, quiet, strict, verbose;
    int32_t n_threads;
    const char *qtype;     /* --outtype a K-quant type or mix (its canonical name): quantized after converting */
    bool then_quantize;
    bool intermediate; /* writing the F32 file quantize reads: no "wrote" line */
} convert_opts;

/* --outtype: a GGUF type convert writes directly, or a type/mix of `edgelm quantize`. */
static bool convert_parse_outtype(const char *v, void *dst, char *why, size_t why_size) {
    convert_opts *o = dst;
    const char *qtype = NULL;
    gl_type base = GL_TYPE_F32;
    const bool direct = gl_type_from_name(v) >= 0;
    const bool quant = elm_quant_type_info(v, &qtype, &base);
    if (!direct && !quant) {
        snprintf(why, why_size, "use one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, %s", elm_quant_type_list());
        return false;
    }
    o->outtype = v;
    o->then_quantize = quant && (!direct || gl_type_get(base)->blck_size == 256);
    if (o->then_quantize) o->qtype = qtype;
    return true;
}

static int convert_main(const convert_opts *o);

/* --outtype with a K-quant type or mix: convert at the source precision (ELMo: f32) into a
 * temporary file, then run the `edgelm quantize` path on it. */
static int convert_then_quantize(const convert_opts *o) {
    /* the intermediate lives in the destination folder (no full-size copy elsewhere) and is
     * removed on failure and on SIGINT/SIGTERM, as is the writers' temporary file */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.f32-%d.tmp", o->out, (int)getpid());
    out_guard_add(tmp, true);
    convert_opts first = *o;
    first.outtype = "f32";
    first.out = tmp;
    first.intermediate = true;
    int rc = convert_main(&first);
    if (rc != 0) {
        remove(tmp);
        return rc;
    }
    struct stat sb;
    if (!o->quiet && stat(tmp, &sb) == 0) /* the disk this path needs: the intermediate plus the result */
        fprintf(stderr, "convert: quantizing through an F32 intermediate of %.1f MB next to %s (removed when done)\n",
                (double)sb.st_size / 1e6, o->out);
    elm_quantize_params qp = elm_quantize_default_params();
    qp.in = tmp;
    qp.out = o->out;
    qp.type = o->qtype;
    qp.n_threads = o->n_threads;
    qp.strict = o->strict;
    convert_quant_ui ui;
    memset(&ui, 0, sizeof ui);
    cli_progress_init(&ui.prog, "quantizing (millions of weights)");
    ui.prog.verbose = o->verbose;
    qp.progress = convert_quant_progress;
    qp.on_tensor = convert_quant_tensor;
    if (!o->quiet) qp.on_size = convert_quant_space;
    qp.user = &ui;
    elm_quantize_stats qs;
    gl_error err = {0};
    const bool existed = out_guard_add(o->out, false);
    const elm_status s = elm_quantize(&qp, &qs, &err);
    cli_progress_clear(&ui.prog);
    remove(tmp);
    if (s == GL_OK) out_guard_report("convert", o->out, existed);
    if (s != GL_OK) {
        opts_fail_err("convert", "quantizing", &err, NULL);
        return 1;
    }
    cli_quant_summary(stderr, o->out, &ui.counts, &qs);
    fprintf(stderr, "quantized %s to %s: %.2f MB, %.3f bits/weight\n", o->out, o->qtype, qs.bytes_out / 1e6,
            qs.n_elements ? 8.0 * (double)qs.bytes_out / (double)qs.n_elements : 0.0);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    convert_opts o;
    memset(&o, 0, sizeof o);
    o.n_threads = opts_default_threads();
    const char *pos[1] = {NULL};
    int n_pos = 0;
    const opt_def defs[] = {
        OPT_REQ_STR("-o,--outfile,--output", &o.out, "FILE.gguf", "the GGUF file to write"),
        OPT_FUNC("--outtype", &o, convert_parse_outtype, "TYPE",
                 "f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1 (default: keep the source precision; 1-D tensors stay f32), "
                 "or a K-quant type or mix of `edgelm quantize` (Q4_K_M, Q6_K ..): converted first, then quantized"),
        OPT_FLAG("--vocab-only", &o.vocab_only, "write only the tokenizer (SRC: a folder with tokenizer files, "
                 "tokenizer.model or llama2.c tokenizer.bin)"),
        OPT_STR("--tokenizer", &o.tokenizer, "FILE", "tokenizer of a llama2.c checkpoint (tokenizer.bin or .model)"),
        OPT_STR("--name", &o.name, "NAME", "general.name (default: SRC's base name)"),
        OPT_FLAG("--no-heads", &o.no_heads, "BERT: write the encoder alone (a file llama.cpp loads too)"),
        OPT_STR("--options", &o.elmo_options, "FILE", "ELMo: options.json (when SRC is not a folder holding it)"),
        OPT_STR("--weights", &o.elmo_weights, "FILE", "ELMo: the weights .hdf5"),
        OPT_FLAG("--strict", &o.strict, "refuse a checkpoint tensor holding NaN/inf values, or source tensors the converter "
                 "does not map (default: a warning naming each)"),
        OPT_THREADS(&o.n_threads),
        OPT_FLAG("-q,--quiet", &o.quiet, "no notes, only errors and the summary"),
        OPT_FLAG("-v,--verbose", &o.verbose, "state the output's size and the free space also when stderr is no terminal"),
        OPT_END,
    };
    char supported[1024], about[1400];
    elm_convert_supported(supported, (int32_t)sizeof supported);
    snprintf(about, sizeof about,
             "SRC: a Hugging Face folder (config.json, safetensors or pytorch_model.bin, tokenizer files), a llama2.c "
             "checkpoint .bin, or an ELMo folder (--outtype f32|f16|q8_0). Architectures (the \"architectures\" of "
             "config.json), from the architecture table: %s. Progress is shown on a terminal only.",
             supported);
    const opt_cmd cmd = OPT_CMD_POS("convert", "SRC -o OUT.gguf [options]",
                          about,                           defs, pos, 1, &n_pos);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    o.src = n_pos ? pos[0] : NULL;
    if (!o.src && !o.elmo_options && !o.elmo_weights)
        return opts_fail("convert", "give the checkpoint folder or file first: edgelm convert SRC -o OUT.gguf", "no source");
    return o.then_quantize ? convert_then_quantize(&o) : convert_main(&o);
}

static int convert_main(const convert_opts *o) {
    elm_convert_params p = elm_convert_default_params();
    p.src = o->src;
    p.out = o->out;
    p.vocab_only = o->vocab_only;
    p.no_heads = o->no_heads;
    p.tokenizer = o->tokenizer;
    p.name = o->name;
    p.strict = o->strict;
    if (o->outtype && !o->then_quantize) p.outtype = gl_type_from_name(o->outtype);
    else if (o->outtype) p.outtype = GL_TYPE_F32;
    p.elmo_options = o->elmo_options;
    p.elmo_weights = o->elmo_weights;
    const bool existed = p.out && out_guard_add(p.out, false); /* written atomically: out_guard.h */
    convert_ui ui = {.quiet = o->quiet};
    /* An ELMo folder (options.json + weights .hdf5) says so on the progress line. */
    char opt_path[4096];
    snprintf(opt_path, sizeof opt_path, "%s/options.json", p.src ? p.src : ".");
    const bool elmo = p.elmo_options || p.elmo_weights || access(opt_path, R_OK) == 0;
    cli_progress_init(&ui.prog, elmo ? "converting ELMo (MB)" : "converting (MB)");
    ui.prog.verbose = o->verbose;
    p.log = convert_log;
    p.progress = convert_progress;
    p.on_size = convert_space;
    p.user = &ui;
    elm_convert_stats st;
    gl_error err = {0};
    double t0 = convert_now();
    gl_status s = elm_convert(&p, &st, &err);
    cli_progress_clear(&ui.prog);
    if (s != GL_OK) {
        if (err.code == GL_ERR_UNSUPPORTED && !strncmp(err.msg, "unsupported architecture", 24)) {
            char supported[1024], todo[1100];
            elm_convert_supported(supported, (int32_t)sizeof supported);
            snprintf(todo, sizeof todo, "convert a supported checkpoint (%s)", supported);
            opts_fail("convert", todo, "%s", err.msg);
        } else {
            opts_fail_err("convert", NULL, &err, "conversion failed");
        }
        return 1;
    }
    double dt = convert_now() - t0;
    out_guard_report("convert", p.out, existed);
    if (o->intermediate) return 0;
    if (!strcmp(st.arch, "elmo")) {
        fprintf(stderr, "wrote %s: elmo\n", p.out);
    } else if (p.vocab_only) {
        fprintf(stderr, "wrote %s: %s vocabulary, %d tokens (%.2f s)\n", p.out, st.arch, st.n_vocab, dt);
    } else {
        fprintf(stderr, "wrote %s: %s, %lld tensors, %d tokens, %.2f MB read -> %.2f MB written",
                p.out, st.arch, (long long)st.n_tensors, st.n_vocab, st.bytes_in / 1e6, st.bytes_out / 1e6);
        if (st.n_fallback) fprintf(stderr, " (%lld tensors kept at f16)", (long long)st.n_fallback);
        fprintf(stderr, " in %.2f s\n", dt);
    }
    return 0;
}
