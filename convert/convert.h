/*
 * convert.h — checkpoint → GGUF conversion for every family (decoders, BERT, T5, ELMo).
 *
 * elm_convert() reads a Hugging Face folder (config.json, model.safetensors or shards, or
 * pytorch_model.bin, tokenizer files), an ELMo checkpoint folder, or a llama2.c checkpoint
 * (.bin + tokenizer.bin) and writes a GGUF file that follows llama.cpp's tensor names and
 * metadata keys (docs/FORMAT.md). What a folder holds is asked of the one architecture table
 * (elm_cv_detect_dir). Each family's converter reads its config into hyperparameters and a
 * plan of output tensors; the one writer of convert_plan.h picks the types, streams the
 * tensors through reusable buffers, reports progress and fills the stats. Nothing prints:
 * messages go to the log callback and progress to the progress callback.
 */
#ifndef EDGELM_CONVERT_H
#define EDGELM_CONVERT_H

#include "common.h" /* elm_log_msg */
#include "edgelm.h"
#include "ggml-lite.h"
#include "json.h"
#include "safetensors.h"

#include <stdbool.h>
#include <stdint.h>

/* elm_convert_params, elm_convert_stats, elm_convert(), elm_convert_default_params() and the
 * callback types are public: include/edgelm.h. */

/* ------------------------------------------------------------------------------------------
 * Internal to convert/ (shared by convert.c, convert_llm.c, hf_tokenizer.c)
 * ---------------------------------------------------------------------------------------- */

/* A tokenizer in llama.cpp's terms, ready to be written as tokenizer.ggml.* keys. */
typedef struct elm_cv_vocab {
    char model[16];        /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    char pre[32];          /* tokenizer.ggml.pre ("" = do not write) */
    int32_t n_tokens;
    int32_t cap_tokens;    /* allocated slots (>= n_tokens) */
    char **tokens;         /* owned, NUL-terminated (lens hold the byte counts) */
    uint64_t *lens;
    float *scores;         /* NULL: not written */
    int32_t *types;
    int64_t n_merges;
    char **merges;         /* "a b", owned */
    int32_t bos, eos, unk, pad, eot; /* -1: none */
    int add_bos, add_eos;  /* -1 unknown (not written), 0/1 */
    int add_space_prefix;  /* -1 unknown */
    int remove_extra_whitespaces;
    char *chat_template;   /* owned or NULL */
} elm_cv_vocab;

void elm_cv_vocab_free(elm_cv_vocab *v);
/* Loads the tokenizer of a HF folder (tokenizer.json, tokenizer.model, vocab.json+merges.txt or
 * encoder.json+vocab.bpe) plus special ids/flags from tokenizer_config.json, config.json and
 * special_tokens_map.json. n_vocab > 0 pads the vocabulary to the model's embedding rows. */
gl_status elm_cv_vocab_load_dir(const char *dir, int32_t n_vocab, elm_cv_vocab *v,
                                elm_convert_log_fn log, void *user, gl_error *err);
/* SentencePiece tokenizer.model. */
gl_status elm_cv_vocab_load_spm(const char *path, int32_t n_vocab, elm_cv_vocab *v, gl_error *err);
/* llama2.c tokenizer.bin (needs n_vocab: the file does not store it; <= 0 reads to the end). */
gl_status elm_cv_vocab_load_llama2c(const char *path, int32_t n_vocab, elm_cv_vocab *v,
                                    gl_error *err);
/* Sets token id (growing the table to id + 1 when needed): text s[0..n) (valid UTF-8, copied),
 * score and llama.cpp token type. */
gl_status elm_cv_vocab_set(elm_cv_vocab *v, int32_t id, const char *s, size_t n, float score, int type,
                           gl_error *err);
/* Writes the tokenizer.ggml.* keys (and tokenizer.chat_template). */
gl_status elm_cv_vocab_write(gl_gguf_writer *w, const elm_cv_vocab *v, gl_error *err);

/* convert_llm.c: model conversion (vocab already loaded unless vocab_only). */
gl_status elm_cv_convert_hf(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err);
gl_status elm_cv_convert_llama2c(const elm_convert_params *p, elm_convert_stats *stats,
                                 gl_error *err);
/* What a folder holds, asked of the one architecture table (models/common/arch.h): an ELMo
 * checkpoint (options.json), else the class (or model_type) of its config.json. NULL: none. */
const struct elm_arch *elm_cv_detect_dir(const char *dir);
/* convert_t5.c: T5ForConditionalGeneration folders (weights and tokenizer, or vocab_only). */
gl_status elm_cv_convert_t5(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err);

/* A checkpoint's tensors, whatever the file kind: model.safetensors (single or sharded) or a
 * torch zip pytorch_model.bin. Mapping code sees elm_st_tensor records either way (torch
 * tensors with gaps in their strides are copied into contiguous memory at open; other dtypes
 * than F32/F16/BF16 come as ELM_ST_OTHER and are refused by elm_st_read_f32 when read). */
typedef struct elm_cv_source elm_cv_source;
/* path: a folder (model.safetensors[.index.json] preferred, then pytorch_model.bin), a
 * .safetensors file or index, or a torch zip file. */
elm_cv_source *elm_cv_source_open(const char *path, gl_error *err);
void elm_cv_source_close(elm_cv_source *s);
int64_t elm_cv_source_n(const elm_cv_source *s);
const elm_st_tensor *elm_cv_source_at(const elm_cv_source *s, int64_t i);
const elm_st_tensor *elm_cv_source_find(const elm_cv_source *s, const char *name); /* NULL: absent */
const char *elm_cv_source_kind(const elm_cv_source *s); /* "safetensors" or "torch" */
uint64_t elm_cv_source_total_bytes(const elm_cv_source *s);

/* convert_bert.c: BERT, DistilBERT, RoBERTa folders, vocab_only included. */
gl_status elm_cv_convert_bert(const elm_convert_params *p, elm_convert_stats *stats, gl_error *err);

/* Converter honesty (convert_util.c): every source tensor is mapped or named. After planning,
 * a converter passes the source tensors it maps (used[0..n_used), duplicates fine); every
 * other one of src is logged as "warning: <name> [shape] is not converted", and with
 * p->strict the conversion fails naming the first. Not reported: names ending in one of
 * buffers[] (non-parameter buffers such as "position_ids"; NULL-terminated, may be NULL).
 * Names starting with one of requested[] (what an option asked to leave out, e.g. heads under
 * --no-heads) are logged as notes and never fail. Returns the number of unmapped tensors in
 * *n_unmapped (may be NULL). */
gl_status elm_cv_check_unmapped(const elm_convert_params *p, const elm_cv_source *src,
                                const elm_st_tensor *const *used, int64_t n_used,
                                const char *const *buffers, const char *const *requested,
                                int64_t *n_unmapped, gl_error *err);
/* The same over a safetensors checkpoint opened with elm_st_open (the decoder converter). */
gl_status elm_cv_check_unmapped_st(const elm_convert_params *p, const elm_st *st, const elm_st_tensor *const *used,
                                   int64_t n_used, const char *const *buffers, int64_t *n_unmapped, gl_error *err);

/* The same over an array of n_src descriptions (a format without elm_st: ELMo's HDF5
 * datasets, the name and shape filled), logging the count of dropped tensors as well. */
gl_status elm_cv_check_unmapped_array(const elm_convert_params *p, const elm_st_tensor *src, int64_t n_src,
                                      const elm_st_tensor *const *used, int64_t n_used, int64_t *n_unmapped,
                                      gl_error *err);

/* Helpers */
char *elm_cv_path_join(const char *dir, const char *name); /* malloc'd */
bool elm_cv_file_exists(const char *path);
/* convert_util.c */
bool elm_cv_ends_with(const char *s, const char *suffix);
/* dir/name parsed when the file exists, else NULL; *failed is set when it exists but does not
 * parse (err says why). */
elm_json_doc *elm_cv_json_opt(const char *dir, const char *name, gl_error *err, bool *failed);
/* general.file_type (llama.cpp's numbering) of files whose matrices have type `type`. */
uint32_t elm_cv_file_type(int type);
/* A line for p's log callback (common.h elm_log_msg). */
#define elm_cv_log(p, ...) elm_log_msg((p)->log, (p)->user, __VA_ARGS__)

#endif /* EDGELM_CONVERT_H */
