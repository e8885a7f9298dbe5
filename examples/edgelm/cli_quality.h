/*
 * cli_quality.h — how much a quantized file differs from its original (`edgelm kld`) and
 * decoder perplexity (`edgelm perplexity`), through the public runtimes of include/edgelm.h.
 *
 * What is compared, per family (the architecture of the base file decides):
 *   decoder (llama, qwen2, gpt2): next-token logits of every position of the text, in
 *     chunks of n_ctx tokens (BOS first);
 *   bert: masked-LM logits at every position of each line (a line = one sequence); files
 *     without the masked-LM head: the last hidden state (relative error only);
 *   t5: teacher-forced decoder logits: each line is encoded, and the decoder is fed the start
 *     id followed by the line's tokens (all but the last);
 *   elmo: every output layer of each line (words split at spaces): relative error
 *     ||q - b|| / ||b|| per layer over all tokens.
 * For logits rows: mean KL(P_base || P_quant) of the softmax distributions (nats), its
 * maximum, top-1 agreement (argmax equal) and the largest |logit difference|.
 */
#ifndef EDGELM_CLI_QUALITY_H
#define EDGELM_CLI_QUALITY_H

#include "edgelm.h"

#include <stdint.h>

#define CLI_QUAL_MAX_LAYERS 16

typedef struct cli_qual {
    char family[16];          /* "decoder", "bert", "t5", "elmo" */
    int64_t n_rows;           /* logits rows compared (0 for hidden/elmo comparisons) */
    double kld_mean, kld_max;
    /* The distribution of the rows' KL divergences, as llama-perplexity --kl-divergence prints
     * it (nearest-rank percentiles over the sorted values) and the standard errors of the mean
     * and of the top-1 agreement (binomial). */
    double kld_mean_stderr, kld_min, kld_median;
    double kld_p01, kld_p1, kld_p5, kld_p10, kld_p90, kld_p95, kld_p99, kld_p999; /* 0.1% .. 99.9% */
    double top1_stderr;
    double top1;              /* fraction of rows whose argmax agrees ("same top p") */
    double max_abs_err;       /* largest |difference| of a logit (or state value) */
    double rel_err;           /* ||q - b|| / ||b|| over everything compared */
    int32_t n_layers;         /* elmo: output layers */
    double layer_rel[CLI_QUAL_MAX_LAYERS];
} cli_qual;

/* Compares quant against base over text (lines separated by '\n'). n_ctx <= 0: 512 (decoder
 * chunk length); n_threads <= 0: 1. */
elm_status cli_quality_compare(const char *base, const char *quant, const char *text,
                               int32_t n_ctx, int32_t n_threads, cli_qual *out, elm_error *err);

/* The same, calling prog->fn (when prog and fn are not NULL) after each chunk (decoders: tokens
 * done of all) or line (BERT, T5, ELMo: bytes of text done of all). */
typedef struct cli_qual_progress {
    void (*fn)(void *user, int64_t done, int64_t total);
    void *user;
} cli_qual_progress;
elm_status cli_quality_compare_ext(const char *base, const char *quant, const char *text, int32_t n_ctx,
                                   int32_t n_threads, const cli_qual_progress *prog, cli_qual *out, elm_error *err);

/* Perplexity of a decoder over text: exp(mean negative log-likelihood of each token given the
 * ones before it in its chunk of n_ctx tokens, BOS first; the first token of a chunk is not
 * scored). */
elm_status cli_perplexity(const char *model, const char *text, int32_t n_ctx, int32_t n_threads,
                          double *ppl, int64_t *n_scored, elm_error *err);

/* The same with what llama-perplexity reports: on_chunk (may be NULL) after each chunk with
 * the estimate so far; at the end the estimate with its standard error (from the per-token
 * negative log-likelihoods: se(mean nll) = sqrt((mean(nll^2) - mean(nll)^2) / (N - 1)), and
 * PPL's = PPL * se(mean nll)). */
typedef struct cli_ppl_result {
    double ppl, ppl_stderr;
    double nll_mean, nll_stderr;
    int64_t n_scored;
    int32_t n_chunks;
} cli_ppl_result;
typedef void (*cli_ppl_chunk_fn)(void *user, int32_t chunk, int32_t n_chunks, double ppl_so_far);
elm_status cli_perplexity_ext(const char *model, const char *text, int32_t n_ctx, int32_t n_threads,
                              cli_ppl_chunk_fn on_chunk, void *user, cli_ppl_result *out, elm_error *err);

#endif /* EDGELM_CLI_QUALITY_H */
