/*
 * llamacpp_bench.c — llama.cpp's speed measured the way its llama-bench measures it, with its
 * repacked/AMX weight buffers off (our program, compiled against a llama.cpp build by
 * scripts/bench_arch_vs_llamacpp.sh; never part of the edgelm build).
 *
 * Why: llama-bench b10573 always enables llama.cpp's extra buffer types, and on this VM their
 * AMX tile instructions raise SIGILL for every quantized model (even with -ot '.*=CPU'); this
 * program sets llama_model_params.use_extra_bufts = false, as scripts/llamacpp_logits.c does.
 *
 *   llamacpp_bench -m MODEL.gguf [-t N] [-p N[,N...]] [-n N] [-r N] [-o json]
 *
 * Method (llama-bench's): per test a fresh context of n_prompt + n_gen positions (batch 2048,
 * micro-batch 512, F16 KV cache, flash attention off, the same thread count for prompt and
 * generation); one warm-up run; then r runs from an empty cache of random tokens (BOS first):
 * ppN decodes N tokens in one batch, tgN decodes N tokens one at a time. tokens/s = tokens /
 * wall time. JSON on stdout: one object per test with n_prompt, n_gen, avg_ts (mean over runs)
 * and load_ms (model load + creation of a 512-position context); stderr: the peak RSS (VmHWM).
 */
#include "llama.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long long peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atoll(line + 6);
    if (f) fclose(f);
    return kb * 1024;
}

/* Decodes n tokens starting at position pos, in batches of n_batch (n_batch 1: generation). */
static int run_tokens(struct llama_context *ctx, const struct llama_vocab *vocab, int n, int n_batch, int pos) {
    const int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_batch b = llama_batch_init(n_batch, 0, 1);
    for (int done = 0; done < n;) {
        const int k = n - done < n_batch ? n - done : n_batch;
        for (int i = 0; i < k; i++) {
            const int p = pos + done + i;
            b.token[i] = p == 0 && llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : rand() % n_vocab;
            b.pos[i] = p;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = i == k - 1;
        }
        b.n_tokens = k;
        if (llama_decode(ctx, b) != 0) {
            llama_batch_free(b);
            return -1;
        }
        done += k;
    }
    llama_synchronize(ctx);
    llama_batch_free(b);
    return 0;
}

static struct llama_context *new_ctx(struct llama_model *model, int n_ctx, int threads) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = 2048;
    cp.n_ubatch = 512;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.type_k = GGML_TYPE_F16;
    cp.type_v = GGML_TYPE_F16;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    return llama_init_from_model(model, cp);
}

/* One test: warm-up, then reps timed runs; returns the mean tokens/s or -1. */
static double run_test(struct llama_model *model, int n_prompt, int n_gen, int threads, int reps) {
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    struct llama_context *ctx = new_ctx(model, n_prompt + n_gen, threads);
    if (!ctx) return -1;
    double sum = 0;
    for (int r = -1; r < reps; r++) {
        llama_memory_clear(llama_get_memory(ctx), true);
        const double t0 = now_s();
        int rc = n_prompt > 0 ? run_tokens(ctx, vocab, n_prompt, 2048, 0)
                              : run_tokens(ctx, vocab, r < 0 ? 1 : n_gen, 1, 0);
        const double dt = now_s() - t0;
        if (rc != 0) {
            llama_free(ctx);
            return -1;
        }
        if (r >= 0) sum += (n_prompt > 0 ? n_prompt : n_gen) / dt;
    }
    llama_free(ctx);
    return sum / reps;
}

int main(int argc, char **argv) {
    const char *path = NULL, *prompts = "512";
    int threads = 2, n_gen = 128, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) path = argv[i + 1];
        else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-p")) prompts = argv[i + 1];
        else if (!strcmp(argv[i], "-n")) n_gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-o")) {
            if (strcmp(argv[i + 1], "json") != 0) return fprintf(stderr, "only -o json\n"), 2;
        } else return fprintf(stderr, "unknown option %s\n", argv[i]), 2;
    }
    if (!path || threads < 1 || n_gen < 0 || reps < 1) {
        fprintf(stderr, "usage: %s -m MODEL.gguf [-t N] [-p N[,N...]] [-n N] [-r N] [-o json]\n", argv[0]);
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    srand(1234);
    const double t0 = now_s();
    struct llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = false; /* no repacked/AMX buffers: AMX tiles fault in this sandbox */
    struct llama_model *model = llama_model_load_from_file(path, mp);
    struct llama_context *first = model ? new_ctx(model, 512, threads) : NULL;
    const double load_ms = 1e3 * (now_s() - t0);
    if (!first) return fprintf(stderr, "cannot load %s\n", path), 1;
    llama_free(first);
    printf("[");
    int n_out = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", prompts);
    for (char *s = strtok(list, ","); s; s = strtok(NULL, ",")) {
        const int np = atoi(s);
        if (np <= 0) continue;
        const double ts = run_test(model, np, 0, threads, reps);
        if (ts < 0) return fprintf(stderr, "pp%d failed\n", np), 1;
        printf("%s\n {\"n_prompt\": %d, \"n_gen\": 0, \"n_threads\": %d, \"avg_ts\": %.4f, \"load_ms\": %.1f}",
               n_out++ ? "," : "", np, threads, ts, load_ms);
    }
    if (n_gen > 0) {
        const double ts = run_test(model, 0, n_gen, threads, reps);
        if (ts < 0) return fprintf(stderr, "tg%d failed\n", n_gen), 1;
        printf("%s\n {\"n_prompt\": 0, \"n_gen\": %d, \"n_threads\": %d, \"avg_ts\": %.4f, \"load_ms\": %.1f}",
               n_out++ ? "," : "", n_gen, threads, ts, load_ms);
    }
    printf("\n]\n");
    fprintf(stderr, "peak RSS %.1f MiB, load %.0f ms\n", peak_rss() / 1048576.0, load_ms);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
