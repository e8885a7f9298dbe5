/*
 * quantize.h — GGUF → GGUF requantization (`edgelm quantize`, and `edgelm convert --outtype`
 * for the K-quant types and mixes).
 *
 * TYPE names follow llama.cpp's llama-quantize: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS, and the aliases
 * Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M (as llama-quantize has them). Each one sets
 * llama.cpp's general.file_type id.
 *
 * Which tensors are quantized (llama.cpp's rules, facts from its src/llama-quant.cpp):
 *   - only tensors of 2+ dimensions whose name ends in "weight"; never "*_norm.weight", the
 *     position embeddings ("position_embd.weight"), BERT's token types ("token_types.weight"),
 *     T5's relative attention bias ("*attn_rel_b.weight"); also never ELMo's character
 *     embedding ("char_embd.weight", which edgelm's ELMo runtime reads as floats);
 *   - 1-D tensors (norms, biases) stay F32 (F16/BF16 ones are widened to F32).
 * Which type a quantized tensor gets (unless `pure`):
 *   - "output.weight" (or "token_embd.weight" when there is no output.weight: tied
 *     embeddings) becomes Q6_K for every quantized TYPE except Q8_0 (Q8_0 when its rows do
 *     not divide into 256);
 *   - attention-value tensors ("attn_v.weight", "attn_qkv.weight"; T5's cross_attn_v too),
 *     counted in file order as i of n: Q4_K_M and Q5_K_M → Q6_K where use_more_bits(i, n)
 *     (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2); Q4_K_S → Q5_K for i < 4; Q3_K_M → Q5_K
 *     for i < 2 else Q4_K; Q3_K_L → Q5_K; Q2_K → Q3_K (Q4_K when head_count/head_count_kv
 *     >= 4); IQ4_NL/IQ4_XS → Q5_K when head_count/head_count_kv >= 4;
 *   - "ffn_down" tensors, i of n the same way: Q4_K_M, Q5_K_M → Q6_K where use_more_bits;
 *     Q4_K_S → Q5_K for i < n/8; Q3_K_M → Q5_K for i < n/16 else Q4_K; Q3_K_L → Q5_K;
 *     Q2_K → Q3_K; IQ4_NL/IQ4_XS → Q5_K for i < n/8 (llama.cpp without an imatrix);
 *   - "attn_output.weight": Q2_K → Q3_K, Q3_K_M → Q4_K, Q3_K_L → Q5_K.
 * Fallback: a tensor whose rows (ne[0]) do not divide into the chosen type's blocks takes
 * llama.cpp's fallback — Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0,
 * IQ4_XS → IQ4_NL — and F16
 * when even that does not fit (a legacy 32-block type that does not fit goes to F16 too).
 *
 * Requantizing: a tensor that is already quantized is refused (GL_ERR_INVALID, a message
 * naming it) unless allow_requantize; then it is dequantized and quantized again, and the
 * log callback warns that quality drops more than quantizing from F32/F16 would.
 *
 * The library never prints: per-tensor reports go to on_tensor, notes and warnings to log,
 * progress to progress.
 */
#ifndef EDGELM_QUANTIZE_H
#define EDGELM_QUANTIZE_H

#include "edgelm.h"
#include "ggml-lite.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct elm_quant_spec {
    const char *name;   /* canonical name, e.g. "Q4_K_M" */
    gl_type base;       /* type of the ordinary matrices */
    uint32_t file_type; /* llama.cpp's LLAMA_FTYPE_* id (general.file_type) */
    int mix;            /* internal: which mix rules apply */
} elm_quant_spec;

/* Parses a TYPE (case-insensitive, aliases accepted). Returns false when unknown. */
bool elm_quant_parse(const char *name, elm_quant_spec *out);
/* llama.cpp's general.file_type (LLAMA_FTYPE) of a file whose matrices are all of type t
 * (the plain types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1); 0 ("all F32") for others.
 * The one table of those numbers is qz_specs in quantize.c; the converters ask it too. */
uint32_t elm_quant_file_type_of(gl_type t);

/* elm_quantize_params, elm_quant_tensor_report, elm_quantize_stats, elm_quantize(),
 * elm_quant_type_list() and elm_quant_file_type_name() are public: include/edgelm.h. */

/* Number of NaN/inf values in x[0..n); *first (when not NULL) gets the index of the first one
 * (-1: none). Used by quantize and convert to report such weights by tensor name. */
int64_t elm_count_nonfinite(const float *x, int64_t n, int64_t *first);
/* Same over the rows of a GGUF tensor of any type with a to_float (dequantized row by row);
 * -1 when the type has none or memory runs out. */
int64_t elm_tensor_count_nonfinite(const gl_gguf_tensor_info *ti, int64_t *first);
/* Copies metadata pair i of f into w (general.file_type and general.quantization_version are
 * left out: the writer of the new file states them). */
gl_status elm_gguf_copy_kv(gl_gguf_writer *w, const gl_gguf *f, int64_t i, gl_error *err);

#endif /* EDGELM_QUANTIZE_H */
