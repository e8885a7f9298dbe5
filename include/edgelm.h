/*
 * edgelm.h — the public interface of libedgelm, for programs that embed the runtime.
 *
 * Link with build/libedgelm.a -lm -lpthread. C11; no other dependency.
 *
 * Conventions
 *   - Every function that can fail returns NULL or a negative elm_status and fills the
 *     caller's elm_error with a message that can be shown to a user as it is.
 *   - The library never exits, never prints and keeps no global mutable state; an object is
 *     used by one thread at a time. Diagnostics go to an optional log callback.
 *   - Every input (model files, text) is treated as untrusted.
 *
 * What is here today: model-file inspection (GGUF v3, as written by llama.cpp's tools or by
 * `edgelm convert`). The model runtimes (decoders, BERT, ELMo, T5) extend this header.
 * The tensor library underneath, ggml-lite (ggml-lite/ggml-lite.h), is usable on its own.
 */
#ifndef EDGELM_H
#define EDGELM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ELM_VERSION "0.1.0"

typedef enum elm_status {
    ELM_OK = 0,
    ELM_ERR_INVALID = -1,     /* bad argument or malformed input */
    ELM_ERR_NOMEM = -2,
    ELM_ERR_IO = -3,
    ELM_ERR_UNSUPPORTED = -4, /* valid input that this build cannot run */
    ELM_ERR_FORMAT = -5,      /* a file that violates its format */
} elm_status;

typedef struct elm_error {
    elm_status code;
    char msg[256];
} elm_error;

typedef enum elm_log_level { ELM_LOG_ERROR, ELM_LOG_WARN, ELM_LOG_INFO, ELM_LOG_DEBUG } elm_log_level;
typedef void (*elm_log_fn)(elm_log_level level, const char *msg, void *user);

/* Library version ("0.1.0") and the SIMD paths compiled in ("AVX2 FMA F16C", "NEON DOTPROD"). */
const char *elm_version(void);
const char *elm_simd(void);

/* ---- model files ---- */

typedef struct elm_file elm_file;

/* Opens a GGUF file read-only through mmap; the header is fully validated here. */
elm_file *elm_file_open(const char *path, elm_error *err);
/* Same over memory the caller keeps alive (e.g. a model linked into firmware). */
elm_file *elm_file_open_memory(const void *data, size_t size, elm_error *err);
void elm_file_close(elm_file *f);

/* general.architecture ("llama", "gpt2", "bert", "t5", "elmo"), or "" when absent. */
const char *elm_file_arch(const elm_file *f);
/* general.name, or "" when absent. */
const char *elm_file_name(const elm_file *f);
int64_t elm_file_n_tensors(const elm_file *f);
int64_t elm_file_n_params(const elm_file *f);
uint64_t elm_file_tensor_bytes(const elm_file *f);
/* Metadata lookups; false when the key is absent or of an incompatible type. A string is
 * copied into buf (always NUL-terminated, truncated to bufsize - 1). */
bool elm_file_get_int(const elm_file *f, const char *key, int64_t *out);
bool elm_file_get_float(const elm_file *f, const char *key, double *out);
bool elm_file_get_str(const elm_file *f, const char *key, char *buf, size_t bufsize);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_H */
