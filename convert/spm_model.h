/*
 * spm_model.h — reads a SentencePiece tokenizer.model (a serialized ModelProto protobuf).
 *
 * Only what a converter needs: the pieces with their scores and types, the trainer's model type
 * and special ids, byte_fallback, and the normalizer's add_dummy_prefix /
 * remove_extra_whitespaces flags and precompiled charsmap. Every varint, length and field is
 * bounds-checked; unknown fields are skipped by wire type. Piece strings point into the
 * caller's buffer (not NUL-terminated).
 */
#ifndef EDGELM_SPM_MODEL_H
#define EDGELM_SPM_MODEL_H

#include "ggml-lite.h"

#include <stdbool.h>
#include <stdint.h>

/* SentencePiece.Type */
enum {
    ELM_SPM_NORMAL = 1,
    ELM_SPM_UNKNOWN = 2,
    ELM_SPM_CONTROL = 3,
    ELM_SPM_USER_DEFINED = 4,
    ELM_SPM_UNUSED = 5,
    ELM_SPM_BYTE = 6,
};

/* TrainerSpec.ModelType */
enum { ELM_SPM_UNIGRAM = 1, ELM_SPM_BPE = 2, ELM_SPM_WORD = 3, ELM_SPM_CHAR = 4 };

typedef struct elm_spm_piece {
    const char *text;
    uint32_t len;
    float score;
    int type;
} elm_spm_piece;

typedef struct elm_spm_model {
    elm_spm_piece *pieces;
    int32_t n_pieces;
    int model_type;        /* default UNIGRAM */
    bool byte_fallback;
    int32_t unk_id, bos_id, eos_id, pad_id; /* defaults 0, 1, 2, -1 */
    bool add_dummy_prefix;          /* default true */
    bool remove_extra_whitespaces;  /* default true */
    bool escape_whitespaces;        /* default true */
    const uint8_t *charsmap;        /* precompiled_charsmap, or NULL */
    uint64_t charsmap_len;
    char normalizer_name[32];
} elm_spm_model;

/* Parses size bytes at data; the model keeps pointers into data. */
gl_status elm_spm_parse(const void *data, size_t size, elm_spm_model *m, gl_error *err);
void elm_spm_free(elm_spm_model *m);

#endif /* EDGELM_SPM_MODEL_H */
