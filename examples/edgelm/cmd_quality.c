/*
 * edgelm perplexity -m MODEL -f TEXT [-c CTX] [-t N]
 * edgelm kld -m BASE.gguf -m2 QUANT.gguf -f TEXT [-c CTX] [-t N]
 *
 * What is measured and how to read it: quant/quality.h and README.md ("Quantization").
 */
#include "cli.h"
#include "quality.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qual_opts {
    const char *m, *m2, *f;
    int32_t ctx, threads;
} qual_opts;

static char *qual_read_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        const size_t got = fread(buf + n, 1, 4096, fp);
        n += got;
        if (got == 0) break;
    }
    fclose(fp);
    if (buf) buf[n] = '\0';
    return buf;
}

/* Returns 0 on success, 2 on a usage error (message printed), -1 for --help. */
static int qual_parse(int argc, char **argv, qual_opts *o, const char *cmd) {
    o->ctx = 512;
    o->threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool v = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return -1;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) o->m = argv[++i];
        else if (!strcmp(a, "-m2") && v) o->m2 = argv[++i];
        else if (!strcmp(a, "-f") && v) o->f = argv[++i];
        else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx")) && v) o->ctx = atoi(argv[++i]);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && v) o->threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "edgelm %s: unknown or incomplete option '%s'\n", cmd, a);
            return 2;
        }
    }
    if (o->ctx < 2 || o->ctx > 1 << 16 || o->threads < 1 || o->threads > 64) {
        fprintf(stderr, "edgelm %s: -c wants 2..65536 and -t 1..64\n", cmd);
        return 2;
    }
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    qual_opts o = {0};
    const int r = qual_parse(argc, argv, &o, "perplexity");
    if (r < 0 || (r == 0 && (!o.m || !o.f))) {
        fprintf(r < 0 ? stdout : stderr,
                "usage: edgelm perplexity -m MODEL.gguf -f TEXT [-c CTX] [-t N]\n"
                "  decoder perplexity over TEXT, in chunks of CTX tokens (default 512, at most the\n"
                "  model's context); every token after the first of its chunk is scored\n");
        return r < 0 ? 0 : 2;
    }
    if (r) return r;
    char *text = qual_read_file(o.f);
    if (!text) {
        fprintf(stderr, "edgelm perplexity: cannot read %s\n", o.f);
        return 1;
    }
    double ppl = 0;
    int64_t n = 0;
    elm_error err = {0};
    const elm_status s = elm_perplexity(o.m, text, o.ctx, o.threads, &ppl, &n, &err);
    free(text);
    if (s != ELM_OK) {
        fprintf(stderr, "edgelm perplexity: %s\n", err.msg);
        return 1;
    }
    printf("perplexity: %.4f over %lld tokens (chunks of %d)\n", ppl, (long long)n, o.ctx);
    return 0;
}

int cmd_kld(int argc, char **argv) {
    qual_opts o = {0};
    const int r = qual_parse(argc, argv, &o, "kld");
    if (r < 0 || (r == 0 && (!o.m || !o.m2 || !o.f))) {
        fprintf(r < 0 ? stdout : stderr,
                "usage: edgelm kld -m BASE.gguf -m2 QUANT.gguf -f TEXT [-c CTX] [-t N]\n"
                "  how far QUANT's outputs are from BASE's over TEXT (one sequence per line for\n"
                "  BERT, T5 and ELMo): mean KL divergence of the output distributions, top-1\n"
                "  agreement, largest logit error (decoders: next-token logits; BERT: masked-LM\n"
                "  logits; T5: teacher-forced decoder logits; ELMo: relative error per layer)\n");
        return r < 0 ? 0 : 2;
    }
    if (r) return r;
    char *text = qual_read_file(o.f);
    if (!text) {
        fprintf(stderr, "edgelm kld: cannot read %s\n", o.f);
        return 1;
    }
    elm_qual q;
    elm_error err = {0};
    const elm_status s = elm_quality_compare(o.m, o.m2, text, o.ctx, o.threads, &q, &err);
    free(text);
    if (s != ELM_OK) {
        fprintf(stderr, "edgelm kld: %s\n", err.msg);
        return 1;
    }
    printf("family: %s\n", q.family);
    if (q.n_rows > 0) {
        printf("rows: %lld\nmean KLD: %.6f nats (max %.6f)\ntop-1 agreement: %.2f%%\n",
               (long long)q.n_rows, q.kld_mean, q.kld_max, 100.0 * q.top1);
    }
    printf("max abs error: %.6g\nrelative error: %.6g\n", q.max_abs_err, q.rel_err);
    for (int32_t l = 0; l < q.n_layers; l++) printf("layer %d relative error: %.6g\n", l, q.layer_rel[l]);
    return 0;
}
