/*
 * safetensors.h — read-only access to Hugging Face safetensors checkpoints.
 *
 * A set holds one file (model.safetensors) or every shard named by model.safetensors.index.json.
 * Files are mmap-ed; tensor data is never copied. At open, the 8-byte header length, the JSON
 * header and every tensor's data_offsets are validated against the file size and against
 * shape × dtype size, so a tensor's [data, data + nbytes) always lies inside its mapping.
 *
 * Any dtype is accepted in the header (a checkpoint may carry buffers the converter ignores),
 * but only F32, F16 and BF16 can be read as floats: elm_st_read_f32 refuses the others with a
 * message naming the tensor and dtype.
 */
#ifndef EDGELM_SAFETENSORS_H
#define EDGELM_SAFETENSORS_H

#include "ggml-lite.h"

#include <stdbool.h>
#include <stdint.h>

#define ELM_ST_MAX_DIMS 8

typedef enum elm_st_dtype {
    ELM_ST_F32 = 0,
    ELM_ST_F16,
    ELM_ST_BF16,
    ELM_ST_OTHER, /* present in the file but not convertible (I64, F8_E4M3 …) */
} elm_st_dtype;

typedef struct elm_st_tensor {
    const char *name;
    elm_st_dtype dtype;
    char dtype_name[16]; /* as written in the header ("F32", "I64" …) */
    int n_dims;
    int64_t shape[ELM_ST_MAX_DIMS]; /* safetensors (row-major) order: shape[n_dims-1] contiguous */
    int64_t n_elements;
    const void *data;
    uint64_t nbytes;
    int shard; /* index of the file it lives in */
} elm_st_tensor;

typedef struct elm_st elm_st;

/* path: a .safetensors file, a model.safetensors.index.json, or a folder holding either
 * (model.safetensors preferred). */
elm_st *elm_st_open(const char *path, gl_error *err);
void elm_st_close(elm_st *st);

int64_t elm_st_n_tensors(const elm_st *st);
const elm_st_tensor *elm_st_at(const elm_st *st, int64_t i);
const elm_st_tensor *elm_st_find(const elm_st *st, const char *name); /* NULL when absent */
int elm_st_n_shards(const elm_st *st);
uint64_t elm_st_total_bytes(const elm_st *st); /* sum of tensor data bytes */

/* Converts elements [first, first + n) of t (flat, row-major) to float. */
gl_status elm_st_read_f32(const elm_st_tensor *t, int64_t first, int64_t n, float *out,
                          gl_error *err);



/* ---- a read-only file mapping (also used for llama2.c checkpoints and tokenizer files) ---- */
typedef struct elm_map {
    const uint8_t *data;
    size_t size;
    void *base; /* mmap base, NULL for an empty file */
} elm_map;

gl_status elm_map_open(elm_map *m, const char *path, gl_error *err);
void elm_map_close(elm_map *m);
#endif /* EDGELM_SAFETENSORS_H */
