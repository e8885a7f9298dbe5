/*
 * common.h — pieces every model family of libedgelm shares (internal; not part of edgelm.h):
 *
 *   elm_err_set / elm_err_from_gl   fill a caller's elm_error (printf-style, or from ggml-lite)
 *   elm_loader                      reads integer keys and binds weight tensors of an exact
 *                                   shape out of a GGUF file, stopping at the first failure
 *   elm_runner                      plans, allocates (growing one aligned buffer) and computes
 *                                   a graph on a thread pool
 */
#ifndef EDGELM_COMMON_H
#define EDGELM_COMMON_H

#include "arch.h"
#include "edgelm.h"
#include "ggml-lite.h"

#if defined(__GNUC__)
#define ELM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ELM_PRINTF(f, a)
#endif

/* Sets err (when not NULL) to code and a printf-style message; returns code. elm_error is
 * gl_error and elm_status gl_status (edgelm.h), so ggml-lite's setter is the one code for both. */
#define elm_err_set gl_error_set
/* Copies a ggml-lite error (same codes) into err; returns its code. */
elm_status elm_err_from_gl(elm_error *err, const gl_error *gerr);
/* GL_ERR_NOMEM naming `what` and both sizes when bytes exceed the machine's physical memory:
 * a file or option asking for more (a huge context, vocabulary or tensor) is refused before
 * anything is allocated instead of failing later or being killed (docs/FORMAT.md, "Limits"). */
gl_status elm_check_fits_memory(uint64_t bytes, const char *what, gl_error *err);
/* Formats a line and hands it to fn (nothing when fn is NULL). */
void elm_log(elm_log_fn fn, void *user, elm_log_level level, const char *fmt, ...) ELM_PRINTF(4, 5);
/* The same for the converter's and the quantizer's callback (elm_convert_log_fn). */
void elm_log_msg(elm_convert_log_fn fn, void *user, const char *fmt, ...) ELM_PRINTF(3, 4);

/* ------------------------------------------------------------------------------------------
 * Loading from a GGUF file (untrusted: every value is range-checked, every tensor's shape and
 * type is checked against what the hyperparameters imply, and a mismatch names the tensor).
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_loader {
    const gl_gguf *gguf;
    gl_context *wctx;  /* tensor headers of the weights (the data stays in the mapped file) */
    elm_error *err;
    const char *who;   /* prefix of every message, e.g. "bert: " (NULL: none) */
    bool vec_bf16;     /* vectors may be BF16 as well as F32/F16 */
    bool failed;       /* set by the first failure; every later call then does nothing */
} elm_loader;

/* The first step of every family's loader: the architecture table's row of the file's
 * general.architecture, which must belong to `family`. NULL with err set otherwise: no such
 * string key (ELM_ERR_FORMAT), or an architecture this family does not run (ELM_ERR_UNSUPPORTED,
 * naming the ones it does). */
const elm_arch *elm_load_arch(const gl_gguf *g, elm_family family, elm_error *err);

/* Records a failure (message as elm_err_set, after the loader's prefix). */
void elm_load_fail(elm_loader *ld, elm_status code, const char *fmt, ...) ELM_PRINTF(3, 4);
/* The integer key `key` in [lo, hi]; def < lo means required, else a missing key gives def. */
int32_t elm_load_int(elm_loader *ld, const char *key, int64_t lo, int64_t hi, int64_t def);
/* The rows (ne[1]) of the tensor `name`, which must be in [1, max]: the vocabulary size of
 * token_embd.weight, for example. 0 on failure. */
int32_t elm_load_rows(elm_loader *ld, const char *name, int64_t max);
/* Binds the tensor called fmt (printf-style) of exactly [ne0] (ne1 == 0: a vector, read
 * element-wise, so F32/F16 or, with vec_bf16, BF16) or [ne0, ne1] (any type ggml-lite
 * computes with). A missing tensor is a failure when required, else NULL with no failure. */
gl_tensor *elm_load_tensor(elm_loader *ld, bool required, int64_t ne0, int64_t ne1,
                           const char *fmt, ...) ELM_PRINTF(5, 6);

/* ------------------------------------------------------------------------------------------
 * Repacking weights (gl_repack): Q4_0/Q8_0 matrices get ggml-lite's 8-row interleaved
 * layout, which its mat-mul kernels read faster than the file's row layout. The copies live
 * in one buffer the model owns; the file's pages of each repacked matrix are released from
 * the resident set right after its copy (gl_gguf_release_pages), so a matrix is resident
 * once. Only tensors that the graph reads as mul_mat's first operand or through get_rows of
 * the X8 layout (never a view) may be listed.
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_repacked {
    void *buf;      /* 64-byte aligned; ELM_FREE it */
    size_t bytes;   /* repacked bytes */
    int n_tensors;  /* tensors repacked */
    size_t released; /* bytes of the file mapping handed back to the OS after their copy */
} elm_repacked;

/* Repacks every tensor of w[0..n) that gl_repack accepts (NULL entries and other types are
 * left in place) into one new buffer. ELM_OK also when there was nothing to repack (buf NULL).
 * On failure out->buf may still hold tensors' data: free it with the model, which the caller
 * then drops. */
/* src: the file the tensors' data lie in (their pages are released after the copy), or NULL. */
elm_status elm_repack_weights(gl_tensor *const *w, size_t n, const gl_gguf *src, elm_repacked *out,
                              elm_error *err);

/* ------------------------------------------------------------------------------------------
 * Running a graph
 * ---------------------------------------------------------------------------------------- */

/* What every runtime keeps to compute its graphs: the thread pool and one buffer for the
 * planned intermediate tensors and kernel scratch, grown to the largest plan seen so far (so
 * a warmed-up runtime allocates nothing per graph). */
typedef struct elm_runner {
    gl_pool *pool;  /* NULL: the calling thread only */
    int n_threads;  /* what plans are made for */
    void *buf;      /* 64-byte aligned */
    size_t size;
} elm_runner;

/* Plans g and grows the buffer to fit the plan (plan may be NULL when not wanted back). */
gl_status elm_runner_reserve(elm_runner *r, gl_graph *g, gl_graph_plan *plan, gl_error *gerr);
/* Plans g, grows the buffer, places g's tensors in it and computes g. */
gl_status elm_runner_run(elm_runner *r, gl_graph *g, gl_error *gerr);
/* Frees the buffer and the pool. */
void elm_runner_free(elm_runner *r);
/* Bytes of the no_alloc context a graph of at most max_nodes nodes is built in: tensor
 * headers (views and reshapes included, up to two per node), the graph's node arrays, and
 * slack for the graph struct. Every runtime sizes its graph context with this one helper. */
size_t elm_graph_overhead(size_t max_nodes);
/* The no_alloc context of a model's weight tensors: one header per tensor of the file (the
 * data stays in the mapped file), the bound every runtime's elm_load_tensor calls stay within
 * since each binds a name of the file at most once. Every family sizes it with this helper. */
gl_context *elm_weight_ctx_new(const gl_gguf *g, gl_error *ge);

#endif /* EDGELM_COMMON_H */
