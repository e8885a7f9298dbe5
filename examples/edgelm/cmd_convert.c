/*
 * edgelm convert SRC -o OUT.gguf [--outtype T] [--vocab-only] [--tokenizer FILE] [--name NAME]
 *
 * SRC: a Hugging Face folder (config.json + safetensors + tokenizer files) or a llama2.c
 * checkpoint .bin (with --tokenizer tokenizer.bin). Progress is shown on a terminal only.
 */
#include "cli.h"
#include "out_guard.h"
#include "convert.h"
#include "convert_elmo.h"
#include "quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct convert_ui {
    bool tty;
    bool drawn;
} convert_ui;

static void convert_log(void *user, const char *msg) {
    convert_ui *ui = user;
    if (ui->drawn) { /* keep the progress line from swallowing the message */
        fputc('\n', stderr);
        ui->drawn = false;
    }
    fprintf(stderr, "%s\n", msg);
}

static void convert_progress(void *user, int64_t done, int64_t n, uint64_t bytes, uint64_t total) {
    convert_ui *ui = user;
    if (!ui->tty) return;
    fprintf(stderr, "\r  [%lld/%lld tensors] %.1f / %.1f MB", (long long)done, (long long)n, bytes / 1e6,
            total / 1e6);
    fflush(stderr);
    ui->drawn = true;
}

static void convert_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm convert SRC -o OUT.gguf [options]\n"
            "  SRC                 Hugging Face folder (LlamaForCausalLM, MistralForCausalLM,\n"
            "                      Qwen2ForCausalLM, GPT2LMHeadModel) or llama2.c checkpoint .bin\n"
            "  -o, --outfile PATH  GGUF file to write\n"
            "  --outtype T         f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1 (default: keep the source\n"
            "                      precision); 1-D tensors always stay f32; also the K-quant\n"
            "                      types and mixes of `edgelm quantize` (Q4_K_M, Q6_K ..): the\n"
            "                      checkpoint is converted first, then quantized\n"
            "  --vocab-only        write only the tokenizer (SRC: folder with tokenizer files,\n"
            "                      tokenizer.model or llama2.c tokenizer.bin)\n"
            "  --tokenizer FILE    tokenizer of a llama2.c checkpoint (tokenizer.bin or .model)\n"
            "  --name NAME         general.name (default: SRC's base name)\n"
            "  --strict            refuse a checkpoint tensor holding NaN/inf values (default: a\n"
            "                      warning naming it)\n"
            "  BERT (BertModel, BertFor*, sentence-transformers folders): every head is kept;\n"
            "  --no-heads writes the encoder alone (a file llama.cpp loads too)\n"
            "  ELMo: SRC is a folder with options.json and the weights .hdf5 (AllenNLP / bilm-tf),\n"
            "  or give --options FILE --weights FILE; --outtype f32|f16|q8_0 (default f32)\n");
}

static double convert_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int convert_main(int argc, char **argv);

/* --outtype with a K-quant type or mix: convert at the source precision (ELMo: f32) into a
 * temporary file, then run the `edgelm quantize` path on it. */
static int convert_then_quantize(int argc, char **argv, int type_at, const elm_quant_spec *spec) {
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--outfile")) out = argv[i + 1];
    if (!out) {
        convert_usage(stderr);
        return 2;
    }
    /* the intermediate lives in the destination folder (no full-size copy elsewhere) and is
     * removed on failure and on SIGINT/SIGTERM, as is the writers' temporary file */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.f32-%d.tmp", out, (int)getpid());
    out_guard_add(tmp, true);
    char **av = malloc(sizeof *av * (size_t)(argc + 1));
    if (!av) return 1;
    for (int i = 0; i < argc; i++) av[i] = argv[i];
    av[argc] = NULL;
    av[type_at] = "f32";
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--outfile")) av[i + 1] = tmp;
    int rc = convert_main(argc, av);
    free(av);
    if (rc != 0) {
        remove(tmp);
        return rc;
    }
    struct stat sb;
    if (stat(tmp, &sb) == 0) /* the disk this path needs: the intermediate plus the result */
        fprintf(stderr, "convert: quantizing through an F32 intermediate of %.1f MB next to %s (removed when done)\n",
                (double)sb.st_size / 1e6, out);
    elm_quantize_params qp;
    memset(&qp, 0, sizeof qp);
    qp.in = tmp;
    qp.out = out;
    qp.spec = *spec;
    qp.n_threads = 2;
    for (int i = 1; i < argc; i++) qp.strict = qp.strict || !strcmp(argv[i], "--strict");
    elm_quantize_stats qs;
    gl_error err = {0};
    const bool existed = out_guard_add(out, false);
    const gl_status s = elm_quantize_file(&qp, &qs, &err);
    remove(tmp);
    if (s == GL_OK) out_guard_report("convert", out, existed);
    if (s != GL_OK) {
        fprintf(stderr, "edgelm convert: quantizing: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "quantized %s to %s: %lld tensors quantized (%lld fell back), %.2f MB, %.3f bits/weight\n",
            out, spec->name, (long long)qs.n_quantized, (long long)qs.n_fallback, qs.bytes_out / 1e6,
            qs.n_elements ? 8.0 * (double)qs.bytes_out / (double)qs.n_elements : 0.0);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++) {
        elm_quant_spec spec;
        if (!strcmp(argv[i], "--outtype") && gl_type_from_name(argv[i + 1]) < 0 &&
            elm_quant_parse(argv[i + 1], &spec)) {
            return convert_then_quantize(argc, argv, i + 1, &spec);
        }
        if (!strcmp(argv[i], "--outtype") && elm_quant_parse(argv[i + 1], &spec) &&
            gl_type_get(spec.base)->blck_size == 256) {
            return convert_then_quantize(argc, argv, i + 1, &spec);
        }
    }
    return convert_main(argc, argv);
}

static int convert_main(int argc, char **argv) {
    elm_convert_params p;
    elm_convert_params_init(&p);
    const char *elmo_options = NULL, *elmo_weights = NULL, *outtype_name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            convert_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--outfile")) && has_val) {
            p.out = argv[++i];
        } else if ((!strcmp(a, "--options") || !strcmp(a, "--weights")) && has_val) {
            /* ELMo checkpoints (AllenNLP / bilm-tf): options.json and weights .hdf5 */
            *(a[2] == 'o' ? &elmo_options : &elmo_weights) = argv[++i];
        } else if (!strcmp(a, "--outtype") && has_val) {
            outtype_name = argv[i + 1];
            p.outtype = gl_type_from_name(argv[++i]);
            if (p.outtype < 0) {
                fprintf(stderr, "edgelm convert: unknown --outtype '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--vocab-only")) {
            p.vocab_only = true;
        } else if (!strcmp(a, "--no-heads")) { /* BERT: the encoder alone */
            p.no_heads = true;
        } else if (!strcmp(a, "--strict")) { /* refuse NaN/inf weights instead of warning */
            p.strict = true;
        } else if (!strcmp(a, "--tokenizer") && has_val) {
            p.tokenizer = argv[++i];
        } else if (!strcmp(a, "--name") && has_val) {
            p.name = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "edgelm convert: unknown or incomplete option '%s'\n", a);
            convert_usage(stderr);
            return 2;
        } else if (!p.src) {
            p.src = a;
        } else {
            fprintf(stderr, "edgelm convert: more than one source ('%s', '%s')\n", p.src, a);
            return 2;
        }
    }
    const bool existed = p.out && out_guard_add(p.out, false); /* written atomically: out_guard.h */
    if ((elmo_options || elmo_weights || (p.src && elm_convert_is_elmo_dir(p.src))) && p.out) {
        gl_error eerr = {0};
        if (elm_convert_elmo(p.src, elmo_options, elmo_weights, p.out, outtype_name, &eerr) != GL_OK) {
            fprintf(stderr, "edgelm convert: %s\n", eerr.msg);
            return 1;
        }
        fprintf(stderr, "wrote %s: elmo\n", p.out);
        out_guard_report("convert", p.out, existed);
        return 0;
    }
    if (!p.src || !p.out) {
        convert_usage(stderr);
        return 2;
    }
    convert_ui ui = {.tty = isatty(fileno(stderr)) != 0};
    p.log = convert_log;
    p.progress = convert_progress;
    p.user = &ui;
    elm_convert_stats st;
    gl_error err = {0};
    double t0 = convert_now();
    gl_status s = elm_convert(&p, &st, &err);
    if (ui.drawn) fputc('\n', stderr);
    if (s != GL_OK) {
        fprintf(stderr, "edgelm convert: %s\n", err.msg[0] ? err.msg : "conversion failed");
        return 1;
    }
    double dt = convert_now() - t0;
    out_guard_report("convert", p.out, existed);
    if (p.vocab_only) {
        fprintf(stderr, "wrote %s: %s vocabulary, %d tokens (%.2f s)\n", p.out, st.arch, st.n_vocab, dt);
    } else {
        fprintf(stderr, "wrote %s: %s, %lld tensors, %d tokens, %.2f MB read -> %.2f MB written",
                p.out, st.arch, (long long)st.n_tensors, st.n_vocab, st.bytes_in / 1e6, st.bytes_out / 1e6);
        if (st.n_fallback) fprintf(stderr, " (%lld tensors kept at f16)", (long long)st.n_fallback);
        fprintf(stderr, " in %.2f s\n", dt);
    }
    return 0;
}
