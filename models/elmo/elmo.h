/*
 * elmo.h — ELMo runtime internals shared with tests and tools (the public API is the "ELMo"
 * section of include/edgelm.h).
 */
#ifndef EDGELM_ELMO_H
#define EDGELM_ELMO_H

#include "edgelm.h"

/* Character id constants of the bilm-tf / AllenNLP encoding, before the +1 offset. */
enum {
    ELM_ELMO_BOS_CHAR = 256, /* the sentence-start token's "character" */
    ELM_ELMO_EOS_CHAR = 257,
    ELM_ELMO_BOW_CHAR = 258, /* begin of word */
    ELM_ELMO_EOW_CHAR = 259, /* end of word */
    ELM_ELMO_PAD_CHAR = 260,
};

/* Hyperparameters as loaded (elm_elmo_macs_per_token reads them). */
typedef struct elm_elmo_hparams {
    int32_t emb_dim, n_chars, max_chars, n_filters, n_highway, filters_total;
    int32_t widths[64], counts[64];
    int32_t cell, proj, n_layers;
    float cell_clip, proj_clip, forget_bias;
    bool relu, skip, has_proj, has_lstm_proj;
} elm_elmo_hparams;

#endif /* EDGELM_ELMO_H */
