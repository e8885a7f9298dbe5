/*
 * edgelm perplexity -m MODEL -f TEXT [-c CTX] [-t N]
 * edgelm kld -m BASE.gguf -m2 QUANT.gguf -f TEXT [-c CTX] [-t N]
 *
 * What is measured and how to read it: cli_quality.h and README.md ("Quantization").
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_io.h"
#include "cli_progress.h"
#include "opts.h"
#include "cli_quality.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qual_opts {
    const char *m, *m2, *f;
    int32_t ctx, threads;
} qual_opts;

/* Parses the options of perplexity (kld: with -m2); returns opts_parse's result. */
static int qual_parse(int argc, char **argv, qual_opts *o, bool kld) {
    o->ctx = 512;
    o->threads = opts_default_threads();
    const opt_def defs[] = {
        OPT_REQ_STR("-m,--model", &o->m, "FILE", kld ? "the reference model (e.g. F32 or F16)" : "the decoder"),
        kld ? (opt_def)OPT_REQ_STR("-m2,--model2", &o->m2, "FILE", "the model compared with it (e.g. quantized)")
            : (opt_def)OPT_SECTION("Input"),
        OPT_REQ_STR("-f,--file", &o->f, "FILE", kld ? "the text ('-' = stdin; one sequence per line for BERT, T5 and ELMo)"
                                                   : "the text ('-' = stdin)"),
        OPT_INT("-c,--ctx-size,--ctx", &o->ctx, 2, 1 << 16, "N", "tokens per chunk (default 512, at most the model's context)"),
        OPT_THREADS(&o->threads),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD(kld ? "kld" : "perplexity", kld ? "-m BASE.gguf -m2 QUANT.gguf -f TEXT [options]"
                                                                 : "-m MODEL.gguf -f TEXT [options]",
                                kld ? "How far QUANT's outputs are from BASE's over TEXT: mean KL divergence of the output "
                                      "distributions, top-1 agreement, largest logit error (decoders: next-token logits; "
                                      "BERT: masked-LM logits; T5: teacher-forced decoder logits; ELMo: relative error per layer)."
                                    : "Decoder perplexity over TEXT in chunks of -c tokens; every token after the first of its "
                                      "chunk is scored.",
                                defs);
    return opts_parse(&cmd, argc, argv);
}

/* llama-perplexity's running line: "[1]12.3456,[2]11.2345,..." on stdout, ETA on stderr. */
static void qual_on_chunk(void *user, int32_t chunk, int32_t n_chunks, double ppl) {
    cli_progress *prog = user;
    cli_progress_clear(prog);
    printf("[%d]%.4f,", chunk + 1, ppl);
    fflush(stdout);
    cli_progress_update(prog, chunk + 1, n_chunks);
}

int cmd_perplexity(int argc, char **argv) {
    qual_opts o = {0};
    const int r = qual_parse(argc, argv, &o, false);
    if (r != OPTS_OK) return opts_exit(r);
    if (!cli_family_check("perplexity", o.m, CLI_DECODER)) return 1;
    char *text = cli_read_all(o.f, NULL);
    if (!text) return opts_fail("perplexity", "check the path", "cannot read '%s': %s", o.f, strerror(errno)) - 1;
    cli_ppl_result res;
    elm_error err = {0};
    cli_progress prog;
    cli_progress_init(&prog, "perplexity");
    const elm_status s = cli_perplexity_ext(o.m, text, o.ctx, o.threads, qual_on_chunk, &prog, &res, &err);
    cli_progress_clear(&prog);
    free(text);
    if (s != ELM_OK) {
        fflush(stdout);
        opts_fail_err("perplexity", NULL, &err, NULL);
        return 1;
    }
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_stderr);
    printf("perplexity: %.4f over %lld tokens (%d chunks of %d)\n", res.ppl, (long long)res.n_scored, res.n_chunks,
           o.ctx);
    return 0;
}

/* The KL-divergence block as llama-perplexity --kl-divergence prints it. */
static void qual_print_kld(const cli_qual *q) {
    printf("====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f \u00b1 %10.6f\n", q->kld_mean, q->kld_mean_stderr);
    printf("Maximum KLD: %10.6f\n", q->kld_max);
    printf("99.9%%   KLD: %10.6f\n", q->kld_p999);
    printf("99.0%%   KLD: %10.6f\n", q->kld_p99);
    printf("95.0%%   KLD: %10.6f\n", q->kld_p95);
    printf("90.0%%   KLD: %10.6f\n", q->kld_p90);
    printf("Median  KLD: %10.6f\n", q->kld_median);
    printf("10.0%%   KLD: %10.6f\n", q->kld_p10);
    printf(" 5.0%%   KLD: %10.6f\n", q->kld_p5);
    printf(" 1.0%%   KLD: %10.6f\n", q->kld_p1);
    printf(" 0.1%%   KLD: %10.6f\n", q->kld_p01);
    printf("Minimum KLD: %10.6f\n", q->kld_min);
    printf("====== Token probability statistics ======\n");
    printf("Same top p: %6.3f \u00b1 %5.3f %%\n", 100.0 * q->top1, 100.0 * q->top1_stderr);
}

int cmd_kld(int argc, char **argv) {
    qual_opts o = {0};
    const int r = qual_parse(argc, argv, &o, true);
    if (r != OPTS_OK) return opts_exit(r);
    char *text = cli_read_all(o.f, NULL);
    if (!text) return opts_fail("kld", "check the path", "cannot read '%s': %s", o.f, strerror(errno)) - 1;
    cli_qual q;
    elm_error err = {0};
    cli_progress prog;
    cli_progress_init(&prog, "kld");
    const cli_qual_progress qp = {cli_progress_fn, &prog};
    const elm_status s = cli_quality_compare_ext(o.m, o.m2, text, o.ctx, o.threads, &qp, &q, &err);
    cli_progress_clear(&prog);
    free(text);
    if (s != ELM_OK) {
        opts_fail_err("kld", NULL, &err, NULL);
        return 1;
    }
    printf("family: %s\n", q.family);
    if (q.n_rows > 0) {
        printf("rows: %lld\nmean KLD: %.6f nats (max %.6f)\ntop-1 agreement: %.2f%%\n",
               (long long)q.n_rows, q.kld_mean, q.kld_max, 100.0 * q.top1);
        qual_print_kld(&q);
    }
    printf("max abs error: %.6g\nrelative error: %.6g\n", q.max_abs_err, q.rel_err);
    for (int32_t l = 0; l < q.n_layers; l++) printf("layer %d relative error: %.6g\n", l, q.layer_rel[l]);
    return 0;
}
