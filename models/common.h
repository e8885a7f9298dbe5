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

#include "edgelm.h"
#include "ggml-lite.h"

#if defined(__GNUC__)
#define ELM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ELM_PRINTF(f, a)
#endif

/* Sets err (when not NULL) to code and a printf-style message; returns code. */
elm_status elm_err_set(elm_error *err, elm_status code, const char *fmt, ...) ELM_PRINTF(3, 4);
/* Copies a ggml-lite error (same codes) into err; returns its code. */
elm_status elm_err_from_gl(elm_error *err, const gl_error *gerr);

#endif /* EDGELM_COMMON_H */
