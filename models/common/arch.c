/*
 * arch.c — the table of architectures (see arch.h for what a row holds and how to add one).
 */
#include "arch.h"
#include "edgelm.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define F_LLAMA (ELM_F_ROPE_FREQS)
#define F_GEMMA (ELM_F_NEOX | ELM_F_POST_NORM | ELM_F_GELU)

static const elm_arch elm_archs[] = {
    /* decoders: one graph, switches (decoder.c) */
    {"llama", ELM_FAMILY_DECODER, {"LlamaForCausalLM", "MistralForCausalLM"}, F_LLAMA, NULL, 48, {"mistral"}},
    {"qwen2", ELM_FAMILY_DECODER, {"Qwen2ForCausalLM"}, ELM_F_NEOX | ELM_F_QKV_BIAS, NULL, 48, {NULL}},
    {"qwen3", ELM_FAMILY_DECODER, {"Qwen3ForCausalLM"}, ELM_F_NEOX | ELM_F_QK_NORM_HEAD, NULL, 52, {NULL}},
    {"gemma2", ELM_FAMILY_DECODER, {"Gemma2ForCausalLM"}, F_GEMMA, elm_hp_gemma2, 56, {NULL}},
    {"gemma3", ELM_FAMILY_DECODER, {"Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"},
     F_GEMMA | ELM_F_QK_NORM_HEAD, elm_hp_gemma3, 60, {NULL}},
    {"granite", ELM_FAMILY_DECODER, {"GraniteForCausalLM"}, F_LLAMA, elm_hp_granite, 52, {NULL}},
    {"olmo2", ELM_FAMILY_DECODER, {"Olmo2ForCausalLM"},
     ELM_F_NEOX | ELM_F_QK_NORM_FULL | ELM_F_NO_PRE_NORM | ELM_F_POST_NORM | ELM_F_OUTPUT_REQUIRED,
     elm_hp_olmo2, 56, {NULL}},
    {"smollm3", ELM_FAMILY_DECODER, {"SmolLM3ForCausalLM"}, 0, elm_hp_smollm3, 48, {NULL}},
    {"phi3", ELM_FAMILY_DECODER, {"Phi3ForCausalLM"},
     ELM_F_NEOX | ELM_F_FUSED_QKV | ELM_F_FUSED_GATE_UP | ELM_F_LONGROPE, elm_hp_phi3, 52, {NULL}},
    {"lfm2", ELM_FAMILY_DECODER, {"Lfm2ForCausalLM", "LFM2ForCausalLM"},
     ELM_F_NEOX | ELM_F_QK_NORM_HEAD | ELM_F_SHORTCONV, elm_hp_lfm2, 52, {NULL}},
    {"gpt2", ELM_FAMILY_DECODER, {"GPT2LMHeadModel"},
     ELM_F_LAYER_NORM | ELM_F_POS_EMBD | ELM_F_FUSED_QKV | ELM_F_GELU | ELM_F_NO_GATE, NULL, 48, {NULL}},
    /* the other families: their own runtimes */
    {"bert", ELM_FAMILY_BERT, {"Bert*", "DistilBert*", "Roberta*", "XLMRoberta*"}, 0, NULL, 0,
     {"distilbert", "roberta", "xlm-roberta"}},
    {"t5", ELM_FAMILY_T5, {"T5ForConditionalGeneration"}, 0, NULL, 0, {NULL}},
    {"elmo", ELM_FAMILY_ELMO, {NULL}, 0, NULL, 0, {NULL}},
};

#define N_ARCHS ((int)(sizeof elm_archs / sizeof elm_archs[0]))

const elm_arch *elm_arch_find(const char *name, size_t len) {
    if (!name) return NULL;
    for (int i = 0; i < N_ARCHS; i++)
        if (strlen(elm_archs[i].name) == len && !memcmp(elm_archs[i].name, name, len))
            return &elm_archs[i];
    return NULL;
}

const elm_arch *elm_arch_from_hf(const char *hf_class) {
    if (!hf_class) return NULL;
    for (int i = 0; i < N_ARCHS; i++)
        for (int k = 0; k < ELM_ARCH_MAX_HF && elm_archs[i].hf[k]; k++) {
            const char *h = elm_archs[i].hf[k];
            const size_t n = strlen(h);
            if (n > 0 && h[n - 1] == '*' ? !strncmp(h, hf_class, n - 1) : !strcmp(h, hf_class)) return &elm_archs[i];
        }
    return NULL;
}

const elm_arch *elm_arch_from_hf_config(const char *hf_class, const char *model_type) {
    if (hf_class) return elm_arch_from_hf(hf_class);
    if (!model_type) return NULL;
    const elm_arch *row = elm_arch_find(model_type, strlen(model_type));
    for (int i = 0; i < N_ARCHS && !row; i++)
        for (int k = 0; k < 3 && elm_archs[i].model_types[k] && !row; k++)
            if (!strcmp(elm_archs[i].model_types[k], model_type)) row = &elm_archs[i];
    return row;
}

void elm_arch_names(elm_family family, char *buf, size_t size) {
    if (!buf || size == 0) return;
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_ARCHS; i++) {
        if (elm_archs[i].family != family) continue;
        int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", elm_archs[i].name);
        if (w < 0 || (size_t)w >= size - n) break;
        n += (size_t)w;
    }
}

int elm_arch_count(void) { return N_ARCHS; }
const elm_arch *elm_arch_at(int i) { return i >= 0 && i < N_ARCHS ? &elm_archs[i] : NULL; }

const char *elm_arch_family(const char *arch) {
    static const char *const names[] = {"decoder", "bert", "t5", "elmo"};
    const elm_arch *row = arch ? elm_arch_find(arch, strlen(arch)) : NULL;
    return row ? names[row->family] : "";
}
