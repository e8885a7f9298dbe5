/*
 * convert_plan.h — the one converter pipeline every family uses (internal to convert/).
 *
 * A converter reads its config into hyperparameters, then builds a PLAN: one item per output
 * tensor, holding the GGUF name, the source tensor, the GGUF shape, the transform and the type
 * (chosen by one rule, elm_cv_plan_type). The WRITER then does the rest the same way for every
 * family: the general.* keys (llama.cpp's file-type number from quant/quantize.c, the one table
 * of them), the family's own keys (written by the caller between open and write), the tensor
 * infos, and the data streamed through reusable buffers (plain copies in chunks of rows), with
 * progress, the type fallback count and the conversion stats.
 *
 *   family converter:  config → hyperparameters → plan (names, shapes, transforms)
 *   this module:       plan → GGUF (types, chunked reading, transforms, progress, stats)
 *
 * Transforms: ELM_CV_COPY (rows as stored, optionally from a row offset and with a constant
 * added: Gemma's norms + 1), ELM_CV_PERMUTE (llama.cpp's q/k row order for "normal" RoPE),
 * ELM_CV_TRANSPOSE (GPT-2's Conv1D [in, out]), ELM_CV_FILL (a family's own re-layout of a
 * whole tensor, computed by the plan's fill function: ELMo's gate reordering, split matrices).
 */
#ifndef EDGELM_CONVERT_PLAN_H
#define EDGELM_CONVERT_PLAN_H

#include "convert.h"

typedef enum elm_cv_xform { ELM_CV_COPY, ELM_CV_PERMUTE, ELM_CV_TRANSPOSE, ELM_CV_FILL } elm_cv_xform;

typedef struct elm_cv_item {
    char name[GL_MAX_NAME];
    const elm_st_tensor *src; /* NULL for ELM_CV_FILL */
    elm_cv_xform xf;
    int64_t perm_heads;       /* ELM_CV_PERMUTE: heads in the rows */
    float add;                /* ELM_CV_COPY: added to every element */
    int64_t row_offset;       /* ELM_CV_COPY: source rows skipped before the first one written */
    int fill_kind, fill_arg[3]; /* ELM_CV_FILL: what the family's fill function builds */
    int n_dims;
    int64_t ne[2];            /* GGUF order: ne[0] contiguous */
    gl_type type;
    bool f32_rule;            /* F32 by the family's rule, not by the requested type */
} elm_cv_item;

/* Computes item it (ELM_CV_FILL) as ne[0] * ne[1] floats into dst. */
typedef gl_status (*elm_cv_fill_fn)(void *user, const elm_cv_item *it, float *dst, gl_error *err);

typedef struct elm_cv_plan {
    const elm_convert_params *p; /* outtype, log, progress */
    gl_error *err;
    elm_cv_item *items;
    int n_items, cap_items;
    int n_fallback;              /* tensors kept at F16 because rows do not split into blocks */
    elm_cv_fill_fn fill;
    void *fill_user;
} elm_cv_plan;

void elm_cv_plan_init(elm_cv_plan *pl, const elm_convert_params *p, gl_error *err);
void elm_cv_plan_free(elm_cv_plan *pl);

/* The type rule: 1-D tensors and keep_f32 ones are F32; without a requested type a matrix keeps
 * its source precision (src_dtype: elm_st_dtype; -1: computed, F32); a quantized type whose
 * blocks do not divide the rows (ne0) falls back to F16 (counted, and logged as a note). */
gl_type elm_cv_plan_type(elm_cv_plan *pl, const char *name, int src_dtype, int n_dims, int64_t ne0, bool keep_f32);

/* Adds an output tensor read from src, whose Hugging Face shape must be [rows, cols] (cols 0:
 * 1-D; ELM_CV_TRANSPOSE: src is [rows = in, cols = out]). The new item is the plan's last
 * (elm_cv_plan_last: the caller may set add / row_offset). */
gl_status elm_cv_plan_add(elm_cv_plan *pl, const char *name, const elm_st_tensor *src, int64_t rows,
                             int64_t cols, elm_cv_xform xf, int64_t heads, bool keep_f32);
/* Adds an output tensor computed by pl->fill: n_dims, GGUF shape [ne0, ne1]. */
gl_status elm_cv_plan_add_fill(elm_cv_plan *pl, const char *name, int n_dims, int64_t ne0, int64_t ne1,
                               bool keep_f32, int kind, int a0, int a1, int a2);
static inline elm_cv_item *elm_cv_plan_last(elm_cv_plan *pl) { return &pl->items[pl->n_items - 1]; }

/* Converter honesty for the whole plan (elm_cv_check_unmapped in convert.h): every tensor of
 * src is read by an item (matched by name, so a re-described copy counts: LFM2's squeezed
 * kernels), one of extra[0..n_extra) (tied copies read but not written), a buffer (name
 * suffix) or left out as requested (name prefix); any other is named in a warning, and fails
 * the conversion under --strict. The warning count is logged. */
gl_status elm_cv_plan_check_unmapped(elm_cv_plan *pl, const elm_cv_source *src, const elm_st_tensor *const *extra,
                                     int n_extra, const char *const *buffers, const char *const *requested);

/* Opens the output and writes general.architecture, general.name, general.file_type (llama.cpp's
 * number for the requested type, or for the type of the first matrix the rule did not fix) and
 * general.quantization_version when a tensor is quantized. NULL: err says why. */
gl_gguf_writer *elm_cv_plan_open(const elm_cv_plan *pl, const char *arch, const char *name);
/* Declares the plan's tensors, streams them, closes the file (discarded on failure) and fills
 * stats (arch, n_tensors, n_fallback, bytes_in, bytes_out; n_vocab is the caller's). On a
 * failure before this call the caller discards w (gl_gguf_writer_discard). */
gl_status elm_cv_plan_write(elm_cv_plan *pl, gl_gguf_writer *w, const char *arch, elm_convert_stats *stats);

/* general.name from a source path: the last component, without its extension when it is a
 * file (a llama2.c "stories15M.bin" gives "stories15M", a folder "Qwen3-0.6B" stays whole). */
void elm_cv_default_name(const char *src, char *out, size_t size);

#endif /* EDGELM_CONVERT_PLAN_H */
