/*
 * torch_zip.h — read-only access to PyTorch checkpoints saved by torch.save (zip format,
 * torch >= 1.6): pytorch_model.bin and friends.
 *
 * The archive holds <prefix>/data.pkl (a pickle of the state dict) and <prefix>/data/<key>
 * (one entry per storage, raw little-endian elements). Entries must be stored, not deflated
 * (torch never compresses them). The pickle is read by a RESTRICTED unpickler: it knows only
 * the opcodes a state dict uses and only these globals:
 *   collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
 *   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage
 * and persistent ids of the form ('storage', <storage class>, key, location, numel).
 * Nothing is executed or imported; anything else is refused with a message naming it.
 *
 * Every zip offset and size, every pickle length, memo index and stack access, and every
 * tensor's extent (storage_offset + sum((shape[i]-1)*stride[i]) < storage numel) is checked,
 * so a tensor's elements always lie inside its mapped storage entry.
 */
#ifndef EDGELM_TORCH_ZIP_H
#define EDGELM_TORCH_ZIP_H

#include "ggml-lite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELM_TZ_MAX_DIMS 8

typedef enum elm_tz_dtype {
    ELM_TZ_F32 = 0,
    ELM_TZ_F16,
    ELM_TZ_BF16,
    ELM_TZ_F64,
    ELM_TZ_I64,
    ELM_TZ_I32,
    ELM_TZ_I16,
    ELM_TZ_I8,
    ELM_TZ_U8,
    ELM_TZ_BOOL,
    ELM_TZ_DTYPE_COUNT,
} elm_tz_dtype;

typedef struct elm_tz_tensor {
    const char *name;        /* state-dict key (owned by the elm_tz) */
    elm_tz_dtype dtype;
    int n_dims;              /* 0 for a scalar */
    int64_t shape[ELM_TZ_MAX_DIMS];   /* PyTorch order: shape[n_dims-1] is innermost */
    int64_t strides[ELM_TZ_MAX_DIMS]; /* in elements, PyTorch order */
    int64_t storage_offset;  /* in elements */
    int64_t n_elements;
    bool contiguous;         /* row-major with no gaps: data holds n_elements in order */
    const void *data;        /* element [0,...,0]: storage start + storage_offset (in the mmap) */
    const char *storage_key; /* "0", "1" ... (owned by the elm_tz) */
    int64_t storage_numel;   /* elements in the storage */
} elm_tz_tensor;

typedef struct elm_tz elm_tz;

/* Opens and maps a torch zip checkpoint. NULL + err on failure (a legacy, non-zip torch file,
 * a deflated entry or an unknown pickle global each gets its own message). */
elm_tz *elm_tz_open(const char *path, gl_error *err);
/* Same over a caller's buffer (kept by the caller while the elm_tz lives). */
elm_tz *elm_tz_open_buffer(const void *data, size_t size, gl_error *err);
void elm_tz_close(elm_tz *tz);

int64_t elm_tz_n_tensors(const elm_tz *tz);
const elm_tz_tensor *elm_tz_at(const elm_tz *tz, int64_t i); /* in pickle order */
const elm_tz_tensor *elm_tz_find(const elm_tz *tz, const char *name);

size_t elm_tz_dtype_size(elm_tz_dtype d);
/* safetensors' spelling: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL". */
const char *elm_tz_dtype_name(elm_tz_dtype d);

/* Copies a tensor's elements, in row-major order whatever its strides, into out
 * (n_elements * dtype size bytes). */
void elm_tz_copy_contiguous(const elm_tz_tensor *t, void *out);

#endif /* EDGELM_TORCH_ZIP_H */
