/*
 * arch.h — the one table of architectures edgelm knows, every family (internal).
 *
 * A row names the GGUF architecture (general.architecture), its family (which runtime loads
 * it), the Hugging Face class names the converter takes for it, and, for decoders, the
 * switches of the one decoder graph (decoder.c), the hook that reads the architecture's own
 * GGUF keys, and the graph nodes one block needs. Everything that asks "what is this file /
 * checkpoint?" — the model loader, the CLI, the converter — asks this table.
 *
 * How to add a decoder architecture (the table is in arch.c):
 *   1. Read llama.cpp's loader and graph of the architecture (src/models/NAME.cpp) and its
 *      converter (conversion/NAME.py) for the facts: GGUF keys, tensor names, norm kind and
 *      placement, rope mode (NORM = adjacent pairs, NEOX = halves), scales.
 *   2. Add a row to elm_archs[] in arch.c: the GGUF name, ELM_FAMILY_DECODER, the HF class
 *      names, the ELM_F_* switches that describe the block, nodes_per_layer (count the
 *      nodes dec_block builds with those switches, plus slack) and any config.json model_type
 *      other than the name that should select it ({NULL}: none).
 *   3. If the architecture has GGUF keys of its own (scales, soft-capping, sliding window),
 *      write an elm_hp_NAME hook in model.c that reads them into elm_hparams (every value
 *      range-checked) and put it in the row. A new kind of switch goes into elm_hparams (a
 *      value) or ELM_F_* (a flag) and one `if` in decoder.c's dec_block.
 *   4. Only when the block differs in kind (not in switches), write its builder in a file of
 *      its own, as LFM2's short-convolution blocks are (models/decoder/shortconv.c, chosen per layer
 *      by ELM_F_SHORTCONV in dec_block), with any per-sequence state in elm_kv_cache.
 *   5. Converter: add a row to cv_archs[] in convert/convert_llm.c (config.json keys → GGUF
 *      keys, which tensors are permuted or shifted) if the HF tensor names differ from Llama's.
 *   6. Tests: add the architecture to scripts/make_arch_checkpoints.py (tiny random HF
 *      checkpoint), record llama.cpp's logits, token ids and llama-quantize's types with
 *      scripts/record_arch_refs.sh, and add a TF_TEST to tests/test-arch.c
 *      (tests/cli-arch-quant.sh picks up the types by itself).
 *      docs/adding-an-architecture.md walks through one example.
 */
#ifndef EDGELM_ARCH_H
#define EDGELM_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum elm_family {
    ELM_FAMILY_DECODER, /* models/decoder/model.c + decoder.c (elm_model_load) */
    ELM_FAMILY_BERT,    /* models/bert/bert.c */
    ELM_FAMILY_T5,      /* models/t5/t5.c */
    ELM_FAMILY_ELMO,    /* models/elmo/elmo.c */
} elm_family;

/* Switches of the one decoder graph (decoder.c). */
enum {
    ELM_F_LAYER_NORM = 1u << 0,   /* LayerNorm with bias (gpt2) instead of RMSNorm */
    ELM_F_POS_EMBD = 1u << 1,     /* learned position embeddings, no rope (gpt2) */
    ELM_F_QKV_BIAS = 1u << 2,     /* q/k/v biases required (qwen2) */
    ELM_F_FUSED_QKV = 1u << 3,    /* one attn_qkv matrix with bias (gpt2) */
    ELM_F_QK_NORM_HEAD = 1u << 4, /* RMS norm of each q/k head before rope (qwen3, gemma3) */
    ELM_F_QK_NORM_FULL = 1u << 5, /* RMS norm over all q / all k before the head split (olmo2) */
    ELM_F_NO_PRE_NORM = 1u << 6,  /* no norm before attention / FFN (olmo2) */
    ELM_F_POST_NORM = 1u << 7,    /* attn_post_norm / ffn_post_norm on the block outputs */
    ELM_F_GELU = 1u << 8,         /* GELU (tanh) FFN activation instead of SiLU */
    ELM_F_NO_GATE = 1u << 9,      /* plain FFN up → act → down (gpt2) */
    ELM_F_OUTPUT_REQUIRED = 1u << 10, /* output.weight must be present (never tied) */
    ELM_F_NEOX = 1u << 11,        /* NeoX rope (halves) instead of adjacent pairs */
    ELM_F_ROPE_FREQS = 1u << 12,  /* optional rope_freqs.weight (Llama 3.x scaling) */
    ELM_F_FUSED_GATE_UP = 1u << 13, /* ffn_up holds gate | up ([n_embd, 2 n_ff], phi3) */
    ELM_F_LONGROPE = 1u << 14,    /* optional rope_factors_long/short.weight (phi3 LongRoPE) */
    ELM_F_SHORTCONV = 1u << 15,   /* layers with 0 key/value heads are gated short-convolution
                                   * blocks (lfm2, models/decoder/shortconv.c) */
};

typedef struct elm_hp_reader elm_hp_reader; /* model.c */
typedef void (*elm_hp_fn)(elm_hp_reader *r);

#define ELM_ARCH_MAX_HF 4

typedef struct elm_arch {
    const char *name;       /* general.architecture */
    elm_family family;
    const char *hf[ELM_ARCH_MAX_HF]; /* config.json "architectures" classes the converter takes
                                        ("Bert*": every class with that prefix) */
    uint32_t flags;         /* ELM_F_* (decoders) */
    elm_hp_fn hparams;      /* reads the architecture's own keys (NULL: none) */
    int32_t nodes_per_layer; /* graph nodes and tensor headers one block needs (decoders) */
    const char *model_types[3]; /* config.json model_type values, besides name, that name it */
} elm_arch;

/* The row of general.architecture `name` (length len), NULL when unknown. */
const elm_arch *elm_arch_find(const char *name, size_t len);
/* The row whose hf[] names the Hugging Face class `hf_class`, NULL when none. */
const elm_arch *elm_arch_from_hf(const char *hf_class);
/* What a Hugging Face config.json names: its "architectures" class when it has one (hf[]),
 * else its model_type (a row's name or model_types[]); NULL when neither is known. The one
 * place the converter asks "what is this checkpoint?". */
const elm_arch *elm_arch_from_hf_config(const char *hf_class, const char *model_type);
/* Comma-separated names of the architectures of one family into buf (for messages). */
void elm_arch_names(elm_family family, char *buf, size_t size);
/* Number of rows and row i (for listings). */
int elm_arch_count(void);
const elm_arch *elm_arch_at(int i);

/* Hyperparameter hooks (model.c). */
void elm_hp_gemma2(elm_hp_reader *r);
void elm_hp_gemma3(elm_hp_reader *r);
void elm_hp_granite(elm_hp_reader *r);
void elm_hp_olmo2(elm_hp_reader *r);
void elm_hp_smollm3(elm_hp_reader *r);
void elm_hp_phi3(elm_hp_reader *r);
void elm_hp_lfm2(elm_hp_reader *r);

#endif /* EDGELM_ARCH_H */
