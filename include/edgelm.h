/*
 * edgelm.h — the public interface of libedgelm, for programs that embed the runtime.
 *
 * Link with $(pkg-config --cflags --libs edgelm) after `make install`, or in the tree with
 * -Iinclude -Iggml-lite build/libedgelm.a -lm -lpthread. C11 (also valid C++17); no other
 * dependency. Public functions carry ELM_API; nothing else is exported.
 *
 * Conventions
 *   - Every function that can fail returns NULL or a negative elm_status and fills the
 *     caller's elm_error with a message that can be shown to a user as it is.
 *   - The library never exits, never prints and keeps no global mutable state; an object is
 *     used by one thread at a time. Diagnostics go to an optional log callback that the
 *     caller gives a model when loading it (elm_model_params.log): it belongs to that model
 *     and the contexts made from it, and is called on the thread that uses them. There is no
 *     process-wide logger (it would be global state).
 *   - Every input (model files, text) is treated as untrusted.
 *
 * Contents: model-file inspection (GGUF v3, as written by llama.cpp's tools or by `edgelm
 * convert`), then the model runtimes: decoders, ELMo, BERT, T5. The tensor library
 * underneath, ggml-lite (ggml-lite.h, included here for the shared status and error types),
 * is usable on its own.
 */
#ifndef EDGELM_H
#define EDGELM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ggml-lite.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ELM_API marks the public functions: the only symbols libedgelm.so exports (it is built with
 * -fvisibility=hidden). Define it before including this header to override. */
#ifndef ELM_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define ELM_API __attribute__((visibility("default")))
#else
#define ELM_API
#endif
#endif

#define ELM_VERSION "0.1.0"

/* One status type and one error record for the whole library: elm_status is ggml-lite's
 * gl_status and elm_error its gl_error, so results pass between the two layers unconverted. */
typedef gl_status elm_status;
#define ELM_OK GL_OK
#define ELM_ERR_INVALID GL_ERR_INVALID         /* bad argument or malformed input */
#define ELM_ERR_NOMEM GL_ERR_NOMEM
#define ELM_ERR_IO GL_ERR_IO
#define ELM_ERR_UNSUPPORTED GL_ERR_UNSUPPORTED /* valid input that this build cannot run */
#define ELM_ERR_FORMAT GL_ERR_FORMAT           /* a file that violates its format */

typedef gl_error elm_error; /* { elm_status code; char msg[256]; } */

typedef enum elm_log_level { ELM_LOG_ERROR, ELM_LOG_WARN, ELM_LOG_INFO, ELM_LOG_DEBUG } elm_log_level;
/* A log line (no trailing newline), valid during the call. */
typedef void (*elm_log_fn)(elm_log_level level, const char *msg, void *user);

/* Library version ("0.1.0") and the SIMD paths compiled in ("AVX2 FMA F16C", "NEON DOTPROD"). */
ELM_API const char *elm_version(void);
/* Resident set of this process now and its peak so far, in bytes (Linux /proc/self/status
 * VmRSS / VmHWM); false when unavailable. */
ELM_API bool elm_process_memory(int64_t *rss_bytes, int64_t *peak_bytes);
ELM_API const char *elm_simd(void);

/* ---- model files ---- */

typedef struct elm_file elm_file;

/* Opens a GGUF file read-only through mmap; the header is fully validated here. */
ELM_API elm_file *elm_file_open(const char *path, elm_error *err);
/* Same over memory the caller keeps alive (e.g. a model linked into firmware). */
ELM_API elm_file *elm_file_open_memory(const void *data, size_t size, elm_error *err);
ELM_API void elm_file_close(elm_file *f);

/* general.architecture ("llama", "gpt2", "bert", "t5", "elmo"), or "" when absent. */
ELM_API const char *elm_file_arch(const elm_file *f);
/* Which runtime an architecture belongs to: "decoder" (elm_model_load), "bert", "t5" or
 * "elmo" (the one architecture table, models/common/arch.c); "" when edgelm does not know it. */
ELM_API const char *elm_arch_family(const char *arch);
/* general.name, or "" when absent. */
ELM_API const char *elm_file_name(const elm_file *f);
ELM_API int64_t elm_file_n_tensors(const elm_file *f);
ELM_API int64_t elm_file_n_params(const elm_file *f);
ELM_API uint64_t elm_file_tensor_bytes(const elm_file *f);
/* Metadata lookups; false when the key is absent or of an incompatible type. A string is
 * copied into buf (always NUL-terminated, truncated to bufsize - 1). */
ELM_API bool elm_file_get_int(const elm_file *f, const char *key, int64_t *out);
ELM_API bool elm_file_get_float(const elm_file *f, const char *key, double *out);
ELM_API bool elm_file_get_str(const elm_file *f, const char *key, char *buf, size_t bufsize);

/* ------------------------------------------------------------------------------------------
 * Decoder models (GPT family: architectures "llama", "qwen2", "gpt2")
 *
 *   elm_model    the weights (tensors point into the mmap-ed GGUF file: nothing is copied)
 *                and the tokenizer; read-only once loaded, so several contexts may share it.
 *   elm_ctx      one conversation: its KV cache, a thread pool and the buffers of the
 *                compute graph, all sized when the context is created; decoding a token
 *                allocates nothing once the first call of each kind has run.
 *   elm_sampler  turns logits into a token id (greedy, temperature, top-k, top-p, min-p,
 *                repetition penalty); holds its own random generator: same seed, same ids.
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_model elm_model;
typedef struct elm_ctx elm_ctx;
typedef struct elm_sampler elm_sampler;

typedef struct elm_model_params {
    bool no_vocab;  /* skip the tokenizer (ids only) */
    bool no_repack; /* keep Q4_0/Q8_0 matrices in the file's row layout, read from the
                       mapping, instead of copying them at load into the 8-row interleaved
                       layout the mat-mul kernels read faster (costs their size in memory) */
    elm_log_fn log; /* NULL: silent. INFO: what was loaded, the memory a context takes; WARN:
                       a context parameter that was adjusted */
    void *log_user;
    bool mlock;     /* lock the weights in RAM (the mapping and the repacked copies; decoders) */
} elm_model_params;

ELM_API elm_model_params elm_model_default_params(void);
/* params may be NULL (defaults). */
ELM_API elm_model *elm_model_load(const char *path, const elm_model_params *params, elm_error *err);
/* Same over memory the caller keeps alive until elm_model_free. */
ELM_API elm_model *elm_model_load_memory(const void *data, size_t size, const elm_model_params *params,
                                 elm_error *err);
ELM_API void elm_model_free(elm_model *m);

ELM_API const char *elm_model_arch(const elm_model *m); /* "llama", "qwen2", "gpt2" */
ELM_API int32_t elm_model_n_vocab(const elm_model *m);  /* rows of the output matrix */
ELM_API int32_t elm_model_n_embd(const elm_model *m);
ELM_API int32_t elm_model_n_layer(const elm_model *m);
ELM_API int32_t elm_model_n_ctx_train(const elm_model *m);
/* Bytes of weights copied into the interleaved layout at load (0: none, or no_repack). */
ELM_API int64_t elm_model_repacked_bytes(const elm_model *m);
/* The GGUF's tokenizer.chat_template copied into buf (NUL-terminated); false when absent. */
ELM_API bool elm_model_chat_template(const elm_model *m, char *buf, size_t size);
/* Same as elm_file_get_* for the model's file. */
ELM_API bool elm_model_get_str(const elm_model *m, const char *key, char *buf, size_t bufsize);

/* ---- tokenizer wrappers (need a model loaded with its vocabulary) ---- */
ELM_API bool elm_model_has_vocab(const elm_model *m);
ELM_API int32_t elm_token_bos(const elm_model *m); /* -1 when none */
ELM_API int32_t elm_token_eos(const elm_model *m);
ELM_API int32_t elm_token_eot(const elm_model *m); /* end of turn, else eos */
ELM_API bool elm_token_is_eog(const elm_model *m, int32_t id);
/* The end-of-generation ids (eos, eot, eom and <|im_end|>, <end_of_turn>, <|eot_id|>, <|end|>
 * ... found by their text, as llama.cpp's loader does): at most max into ids; returns how many
 * there are. elm_generate stops on each of them. */
ELM_API int32_t elm_token_eog_ids(const elm_model *m, int32_t *ids, int32_t max);
/* Tokenizes len bytes of text; writes at most max_ids ids and returns how many the text needs
 * (call again with a bigger buffer when that exceeds max_ids), or a negative elm_status.
 * add_special: BOS/EOS as Hugging Face's add_special_tokens=True; parse_special: control
 * token text in the input (e.g. "<|im_start|>") becomes its id. */
ELM_API int64_t elm_tokenize_text(const elm_model *m, const char *text, size_t len, int32_t *ids,
                          int64_t max_ids, bool add_special, bool parse_special, elm_error *err);
/* Bytes of one token (see elm_detok_*); returns the byte count (may exceed size). */
ELM_API int32_t elm_token_piece(const elm_model *m, int32_t id, char *buf, int32_t size,
                        bool render_special);

/* ---- a tokenizer without a model ---- */

/* The vocabulary of a GGUF file of any family (or of a --vocab-only conversion) without its
 * weights, e.g. to count tokens before loading a model. Read-only once loaded: any number of
 * threads may use one. _load_memory reads a buffer the caller keeps alive until _free. */
typedef struct elm_tokenizer elm_tokenizer;
ELM_API elm_tokenizer *elm_tokenizer_load(const char *path, elm_error *err);
ELM_API elm_tokenizer *elm_tokenizer_load_memory(const void *data, size_t size, elm_error *err);
ELM_API void elm_tokenizer_free(elm_tokenizer *t);
ELM_API int32_t elm_tokenizer_n_vocab(const elm_tokenizer *t);
/* As elm_tokenize_text (the same ids as the model's tokenizer; ids NULL / max_ids 0: the count). */
ELM_API int64_t elm_tokenizer_encode(const elm_tokenizer *t, const char *text, size_t len, int32_t *ids,
                                     int64_t max_ids, bool add_special, bool parse_special, elm_error *err);
/* The token's text as the vocabulary stores it ("##ing"; SentencePiece's U+2581 and byte-level
 * BPE's U+0120 kept), NUL-terminated into buf (size bytes, cut when short; buf may be NULL);
 * returns its length in bytes, or -1 for an id out of range. */
ELM_API int32_t elm_tokenizer_token_text(const elm_tokenizer *t, int32_t id, char *buf, int32_t size);

/* Streaming detokenizer: hands out only complete UTF-8 characters, drops the leading space
 * of the first SentencePiece piece after BOS. */
typedef struct elm_detokenizer elm_detokenizer;
ELM_API elm_detokenizer *elm_detokenizer_new(const elm_model *m, bool render_special, elm_error *err);
ELM_API void elm_detokenizer_free(elm_detokenizer *d);
/* Appends the text of id to out (at most cap bytes, no NUL); returns the bytes written. */
ELM_API int32_t elm_detokenizer_push(elm_detokenizer *d, int32_t id, char *out, int32_t cap);
ELM_API int32_t elm_detokenizer_flush(elm_detokenizer *d, char *out, int32_t cap);

/* ---- contexts and decoding ---- */

/* Element type of the KV cache (llama.cpp's --cache-type-k/-v). DEFAULT is F16, as in
 * llama.cpp. Q8_0 is named so that it can be refused clearly: attention reads F32/F16 caches. */
typedef enum elm_cache_type {
    ELM_CACHE_DEFAULT = 0,
    ELM_CACHE_F32,
    ELM_CACHE_F16,
    ELM_CACHE_Q8_0,
} elm_cache_type;
/* "f32", "f16", "q8_0" (any case) -> *out; false for anything else. */
ELM_API bool elm_cache_type_parse(const char *name, elm_cache_type *out);
ELM_API const char *elm_cache_type_name(elm_cache_type t); /* "f16" for DEFAULT */

typedef struct elm_ctx_params {
    int32_t n_ctx;     /* positions in the KV cache (0: the model's context length, max 4096) */
    int32_t n_batch;   /* most tokens per graph (0: min(n_ctx, 512)); longer inputs are split */
    int32_t n_threads; /* 0: 1 */
    bool kv_f16;       /* kept for older callers: no effect (F16 is the default; see type_k) */
    elm_cache_type type_k, type_v; /* KV cache element types (DEFAULT: F16) */
} elm_ctx_params;
/* What a context holds in memory, in bytes (edgelm info --memory). */
typedef struct elm_memory_use {
    int64_t file;     /* the mapped model file (weights read from it are resident as used) */
    int64_t repacked; /* weights copied into the interleaved layout (their file pages released) */
    int64_t kv_cache; /* K and V at n_ctx positions */
    int64_t compute;  /* graph buffers (largest batch, and a step at a full cache), metadata, logits */
    int64_t total;    /* file + kv_cache + compute: the resident set once every weight was read */
} elm_memory_use;
ELM_API bool elm_ctx_memory_use(const elm_ctx *c, elm_memory_use *out);
/* Bytes of the KV cache of m at n_ctx positions with these types (0 for Q8_0 or bad input). */
ELM_API int64_t elm_kv_cache_bytes(const elm_model *m, int32_t n_ctx, elm_cache_type type_k,
                           elm_cache_type type_v);

ELM_API elm_ctx_params elm_ctx_default_params(void);
/* Short form: default parameters with n_ctx and n_threads. */
ELM_API elm_ctx *elm_ctx_new(const elm_model *m, int32_t n_ctx, int32_t n_threads, elm_error *err);
ELM_API elm_ctx *elm_ctx_new_ext(const elm_model *m, const elm_ctx_params *params, elm_error *err);
ELM_API void elm_ctx_free(elm_ctx *c);
ELM_API int32_t elm_ctx_n_ctx(const elm_ctx *c);
ELM_API int32_t elm_ctx_n_past(const elm_ctx *c); /* positions filled in the KV cache */
/* Forgets positions >= n_keep (0 clears the cache). */
ELM_API void elm_ctx_rewind(elm_ctx *c, int32_t n_keep);

typedef enum elm_output {
    ELM_OUT_LOGITS_LAST = 0, /* logits of the last token: [n_vocab] */
    ELM_OUT_LOGITS_ALL = 1,  /* logits of every token: [n, n_vocab] */
    ELM_OUT_HIDDEN = 2,      /* hidden states [n_layer + 1, n, n_embd] and all logits */
} elm_output;

/* Runs ids[0..n) at positions n_past.. (the whole input in graphs of n_batch tokens, causal
 * attention over the cache) and advances n_past. ELM_OUT_HIDDEN needs n <= n_batch.
 * Hidden states follow Hugging Face's hidden_states: index 0 = the embedding output, index i
 * = the output of block i - 1, the last one after the final norm. */
ELM_API elm_status elm_decode(elm_ctx *c, const int32_t *ids, int32_t n, elm_output what,
                      elm_error *err);
/* One step of n conversations at once: ids[s] is decoded in ctxs[s] (at its n_past, which
 * advances by one) as elm_decode(ctxs[s], &ids[s], 1, ELM_OUT_LOGITS_LAST) would, but the
 * weights are read once for all n rows (what makes serving several clients cheaper than
 * one step each). The contexts are distinct, of the same model, none full; the first one's
 * threads and buffers run the step. Each context's elm_get_logits then gives its row. On an
 * error no context has advanced. */
ELM_API elm_status elm_decode_batch(elm_ctx *const *ctxs, const int32_t *ids, int32_t n, elm_error *err);
/* Results of the last elm_decode (valid until the next call): */
ELM_API const float *elm_get_logits(const elm_ctx *c, int32_t *n_rows); /* n_rows x n_vocab */
ELM_API const float *elm_get_hidden(const elm_ctx *c, int32_t *n_tokens); /* (n_layer+1) x n x n_embd */

/* ---- sampling ---- */

typedef struct elm_sampler_params {
    float temp;             /* <= 0: greedy (argmax after the repetition penalty) */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off; llama.cpp's rule: logit > 0 ? logit/r : logit*r */
    int32_t repeat_last_n;  /* tokens of history the penalty looks at */
    uint64_t seed;
} elm_sampler_params;

/* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, repeat_last_n 64, seed 0. */
ELM_API elm_sampler_params elm_sampler_default_params(void);
ELM_API elm_sampler *elm_sampler_new(const elm_sampler_params *p, int32_t n_vocab, elm_error *err);
ELM_API void elm_sampler_free(elm_sampler *s);
/* Picks a token from logits[n_vocab] (the logits are not modified). Order: repetition
 * penalty, top-k, top-p, min-p (each on the softmax of the current logits), temperature,
 * then a draw from the renormalised distribution. */
ELM_API int32_t elm_sampler_sample(elm_sampler *s, const float *logits);
/* Adds id to the history the repetition penalty sees (elm_generate does this). */
ELM_API void elm_sampler_accept(elm_sampler *s, int32_t id);
/* Clears the history and restarts the random generator from seed. */
ELM_API void elm_sampler_reset(elm_sampler *s, uint64_t seed);

/* ---- generation ---- */

/* Called with each sampled token; return false to stop. */
typedef bool (*elm_token_fn)(int32_t id, void *user);

/* Decodes prompt (appended to the cache), then samples up to n_predict tokens (each one fed
 * back), calling on_token for each. Stops at an end-of-generation token (not passed to
 * on_token) unless ignore_eos, when on_token returns false, or when the cache is full.
 * Returns the number of tokens generated, or a negative elm_status. The last sampled token
 * is not in the cache (*pending receives it, -1 when none) so a caller can continue. */
ELM_API int64_t elm_generate(elm_ctx *c, elm_sampler *s, const int32_t *prompt, int32_t n_prompt,
                     int32_t n_predict, bool ignore_eos, elm_token_fn on_token, void *user,
                     int32_t *pending, elm_error *err);

/* ---- chat templates ---- */

typedef enum elm_chat_template {
    ELM_CHAT_UNKNOWN = 0,
    ELM_CHAT_CHATML,  /* <|im_start|>role\n...<|im_end|>\n  (Qwen2, SmolLM2) */
    ELM_CHAT_LLAMA2,  /* <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s> */
    ELM_CHAT_LLAMA3,  /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    ELM_CHAT_ZEPHYR,  /* <|user|>\n...</s>\n<|assistant|>\n  (TinyLlama-Chat) */
    ELM_CHAT_PHI3,    /* <|user|>\n...<|end|>\n<|assistant|>\n */
    ELM_CHAT_GEMMA,   /* <start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n */
    ELM_CHAT_MISTRAL, /* <s>[INST] ... [/INST]...</s> */
    ELM_CHAT_GRANITE, /* <|start_of_role|>role<|end_of_role|>...<|end_of_text|>\n */
} elm_chat_template;

typedef struct elm_chat_msg {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} elm_chat_msg;

/* By name ("chatml", "llama2", "llama3", "zephyr", "phi3", "gemma", "mistral", "granite"). */
ELM_API elm_chat_template elm_chat_template_from_name(const char *name);
ELM_API const char *elm_chat_template_name(elm_chat_template t);
/* Recognises a Jinja chat template (tokenizer.chat_template) by its marker strings. */
ELM_API elm_chat_template elm_chat_template_detect(const char *jinja);
/* Renders the conversation (and, when add_assistant, the assistant's turn prefix) into buf
 * (NUL-terminated when it fits). Returns the length the text needs (excluding the NUL), or
 * a negative elm_status for an unknown template or role. */
ELM_API int64_t elm_chat_render(elm_chat_template t, const elm_chat_msg *msgs, size_t n_msgs,
                        bool add_assistant, char *buf, size_t size);

/* Jinja chat templates (a GGUF's tokenizer.chat_template or a user's file), rendered by
 * edgelm's own interpreter of the Jinja subset chat templates use (models/chat/jinja.h lists it),
 * as Hugging Face's apply_chat_template renders them. */
typedef struct elm_chat_jinja_opts {
    bool add_assistant;    /* add_generation_prompt */
    const char *bos_token; /* the model's BOS / EOS text (NULL: undefined in the template) */
    const char *eos_token;
    int enable_thinking;   /* -1: undefined (the template's default), 0: false, 1: true */
    int64_t now;           /* the clock strftime_now reads: seconds since 1970, UTC */
} elm_chat_jinja_opts;

/* Renders the conversation into buf (NUL-terminated when it fits); returns the length the
 * text needs, or a negative elm_status with a message naming the unsupported construct and
 * its line and column, the template's own raise_exception text, or the limit reached. */
ELM_API int64_t elm_chat_render_jinja(const char *tmpl, size_t tmpl_len, const elm_chat_msg *msgs,
                              size_t n_msgs, const elm_chat_jinja_opts *o, char *buf,
                              size_t size, elm_error *err);
/* The model family a Jinja chat template is written for, recognised from its text ("llama3",
 * "qwen3", "qwen2.5", "smollm3", "smollm2", "lfm2", "chatml", "gemma3", "gemma2", "phi4-mini",
 * "phi3", "granite", "olmo2", "zephyr", "mistral", "llama2"), NULL when none is. */
ELM_API const char *elm_chat_template_family(const char *jinja);

/* ------------------------------------------------------------------------------------------
 * ELMo (architecture "elmo": AllenNLP / bilm-tf checkpoints converted by `edgelm convert`)
 *
 * Contextual word vectors: each word's characters go through a char CNN, highway layers and
 * a projection (the token embedding, layer 0), then a bidirectional LSTM language model of
 * n_layers layers. For a sentence of n words the model gives n_layers + 1 layers of
 * [n, 2 * projection_dim] (layer 0 = the token embedding repeated for both directions; layer
 * j = forward and backward LSTM outputs side by side). <S> and </S> are added around each
 * sentence and their rows removed, as the reference implementations do.
 *
 * Stateless by default: every call starts the LSTMs from zero. In stateful mode (what the
 * bilm-tf tests use) row b of a batch continues the forward and backward (c, h) of every
 * layer from row b of the previous call; rows beyond the batch keep their state.
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_elmo_model elm_elmo_model; /* the weights: read-only, shared by contexts */
typedef struct elm_elmo elm_elmo;             /* a context: thread pool, buffers, LSTM states */

typedef struct elm_elmo_params {
    int32_t n_threads; /* 0: 1 */
    bool stateful;
} elm_elmo_params;

ELM_API elm_elmo_params elm_elmo_default_params(void);
/* The weights alone, from a file (mapped) or from memory the caller keeps alive until
 * elm_elmo_model_free; any number of contexts (one per thread) may share them. */
ELM_API elm_elmo_model *elm_elmo_model_load(const char *path, elm_error *err);
ELM_API elm_elmo_model *elm_elmo_model_load_memory(const void *data, size_t size, elm_error *err);
/* Frees the weights; every context made from them must be freed first. */
ELM_API void elm_elmo_model_free(elm_elmo_model *model);
/* A context over a shared model (the model must outlive it); params may be NULL. */
ELM_API elm_elmo *elm_elmo_new(const elm_elmo_model *model, const elm_elmo_params *params, elm_error *err);
/* A context with its own model (freed with it). */
ELM_API elm_elmo *elm_elmo_load(const char *path, const elm_elmo_params *params, elm_error *err);
/* Same over memory the caller keeps alive until elm_elmo_free. */
ELM_API elm_elmo *elm_elmo_load_memory(const void *data, size_t size, const elm_elmo_params *params,
                                       elm_error *err);
ELM_API void elm_elmo_free(elm_elmo *m);

ELM_API int32_t elm_elmo_n_layers(const elm_elmo *m);  /* output layers: LSTM layers + 1 */
ELM_API int32_t elm_elmo_dim(const elm_elmo *m);       /* 2 * projection_dim */
ELM_API int32_t elm_elmo_max_chars(const elm_elmo *m); /* characters per token (50) */
/* Multiply-adds per token position (for benchmarks): the character CNN, the highway layers with
 * the projection, and the biLSTM (both directions, every layer). All 0 for NULL. */
typedef struct elm_elmo_macs {
    double cnn, highway, lstm;
} elm_elmo_macs;
ELM_API elm_elmo_macs elm_elmo_macs_per_token(const elm_elmo *m);

/* Character ids of one word as the model consumes them (bilm-tf / AllenNLP encoding, with the
 * +1 offset that keeps 0 for padding): [BOW, utf-8 bytes (at most max_chars - 2), EOW, PAD..]
 * where BOW = 259, EOW = 260, PAD = 261 and byte b -> b + 1. The words "<S>" and "</S>"
 * become [259, 257, 260, 261 ...] and [259, 258, 260, 261 ...]. out holds max_chars ids. */
ELM_API void elm_elmo_char_ids(const char *word, size_t len, int32_t max_chars, int32_t *out);

/* Runs a batch of n_sent sentences; sentence b has n_tokens[b] NUL-terminated words in
 * tokens[b]. out[b] (NULL to skip) receives n_layers * n_tokens[b] * dim floats, ordered
 * [layer][token][dim]. */
ELM_API elm_status elm_elmo_run(elm_elmo *m, int32_t n_sent, const char *const *const *tokens,
                        const int32_t *n_tokens, float *const *out, elm_error *err);
/* Stateful mode on/off; either change clears the carried states. */
ELM_API void elm_elmo_set_stateful(elm_elmo *m, bool stateful);
/* Clears the carried states (stateful mode starts again from zero). */
ELM_API void elm_elmo_reset(elm_elmo *m);

/* Scalar mix: out[t] = gamma * sum_j softmax(s)_j * layers[j][t] for one sentence's output
 * ([n_layers][n_tokens][dim] as elm_elmo_run writes it). s = NULL: equal weights. */
ELM_API elm_status elm_elmo_mix(const elm_elmo *m, const float *layers, int32_t n_tokens, const float *s,
                        float gamma, float *out, elm_error *err);

/* ------------------------------------------------------------------------------------------
 * BERT (architecture "bert": BertModel / BertForMaskedLM / BertForPreTraining /
 * BertForSequenceClassification / BertForTokenClassification / BertForQuestionAnswering and
 * sentence-transformers folders, from `edgelm convert`,
 * or llama.cpp's bert GGUF files)
 *
 * Variants in the same file layout: DistilBERT (no token types; its sequence classifier's
 * pre_classifier is the pooler with ReLU), RoBERTa (byte-level BPE, no token types or one,
 * position rows from padding_idx + 1 on: the converter drops the unused rows).
 *
 * A bidirectional encoder: token + position + token-type embeddings, LayerNorm, n_layer
 * post-LN blocks (self-attention, exact-erf GELU feed-forward). Heads, when the file has them:
 * masked-LM (transform + vocabulary projection tied to the word embeddings), pooler (tanh
 * dense on [CLS]), next-sentence prediction and a sequence classifier on the pooled output.
 *
 * A run takes a batch of sequences of different lengths (padded inside; padding never reaches
 * a real token's attention), so a batch gives the same per-sequence results as one at a time.
 *
 * elm_bert_model holds the weights (mapped, not copied) and the tokenizer; it is read-only
 * once loaded, so any number of contexts (one per thread) may share it. elm_bert is one such
 * context: a thread pool, the host-side inputs and the compute buffer, sized when it is made
 * for runs of at most n_seq_max sequences of at most n_ctx tokens. A run within those sizes
 * allocates nothing (the masked-LM logits and all_hidden grow the buffer on their first run).
 * elm_bert_load / elm_bert_load_memory make a context with a model of its own (freed with it);
 * elm_bert_model_load + elm_bert_new share one model. Results are copied out with
 * elm_bert_get (size query: out NULL) and stay available until the next run.
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_bert_model elm_bert_model; /* the weights: read-only, shared by contexts */
typedef struct elm_bert elm_bert;             /* a context: pool, buffers, the last run's results */

typedef struct elm_bert_params {
    int32_t n_threads; /* 0: 1 */
    bool no_repack;    /* keep Q4_0/Q8_0 matrices in the file's layout (see elm_model_params) */
    int32_t n_seq_max; /* most sequences per run (0: 1; at most 1024) */
    int32_t n_ctx;     /* most tokens per sequence (0: the model's context length, also the most) */
} elm_bert_params; /* a model reads no_repack; a context the other three */

typedef enum elm_bert_pooling {
    ELM_BERT_POOL_NONE = 0, /* llama.cpp's pooling_type values */
    ELM_BERT_POOL_MEAN = 1,
    ELM_BERT_POOL_CLS = 2,
    ELM_BERT_POOL_LAST = 3, /* the last token's row (sentence-transformers "lasttoken") */
} elm_bert_pooling;

ELM_API elm_bert_params elm_bert_default_params(void);
/* The weights alone (params may be NULL): from a file (mapped), or from memory the caller keeps
 * alive until elm_bert_model_free. */
ELM_API elm_bert_model *elm_bert_model_load(const char *path, const elm_bert_params *params, elm_error *err);
ELM_API elm_bert_model *elm_bert_model_load_memory(const void *data, size_t size, const elm_bert_params *params,
                                                   elm_error *err);
/* Frees the weights; every context made from them must be freed first. */
ELM_API void elm_bert_model_free(elm_bert_model *model);
/* A context over a shared model (the model must outlive it); params may be NULL. */
ELM_API elm_bert *elm_bert_new(const elm_bert_model *model, const elm_bert_params *params, elm_error *err);
/* A context with its own model, loaded from a file or from memory (kept alive by the caller). */
ELM_API elm_bert *elm_bert_load(const char *path, const elm_bert_params *params, elm_error *err);
ELM_API elm_bert *elm_bert_load_memory(const void *data, size_t size, const elm_bert_params *params,
                                       elm_error *err);
ELM_API void elm_bert_free(elm_bert *m);

ELM_API int32_t elm_bert_n_embd(const elm_bert *m);
ELM_API int32_t elm_bert_n_layer(const elm_bert *m);
ELM_API int32_t elm_bert_n_vocab(const elm_bert *m);
ELM_API int32_t elm_bert_n_ctx(const elm_bert *m);     /* longest sequence of a run (params.n_ctx) */
ELM_API int32_t elm_bert_n_seq_max(const elm_bert *m); /* most sequences of a run */
ELM_API int32_t elm_bert_n_types(const elm_bert *m);   /* token types (0: none, e.g. DistilBERT; types must be 0) */
/* Bytes of weights copied into the interleaved layout at load (0: none, or no_repack). */
ELM_API int64_t elm_bert_repacked_bytes(const elm_bert *m);
ELM_API bool elm_bert_has_mlm(const elm_bert *m);
ELM_API bool elm_bert_has_nsp(const elm_bert *m);
ELM_API bool elm_bert_has_pooler(const elm_bert *m);
ELM_API int32_t elm_bert_n_labels(const elm_bert *m);  /* classifier outputs, 0 without one */
ELM_API const char *elm_bert_label(const elm_bert *m, int32_t i); /* id2label name, or "LABEL_i" */
/* BertForTokenClassification: a classifier on every token (its labels: n_labels / label). */
ELM_API bool elm_bert_has_token_classifier(const elm_bert *m);
/* BertForQuestionAnswering: start and end logits on every token. */
ELM_API bool elm_bert_has_qa(const elm_bert *m);
/* Pooling and normalisation recorded by the converter (sentence-transformers), CLS/false
 * otherwise. */
ELM_API elm_bert_pooling elm_bert_pooling_type(const elm_bert *m);
ELM_API bool elm_bert_normalize(const elm_bert *m);

/* Tokenizes a sentence (b == NULL) or a pair as BertTokenizer does: "[CLS] a [SEP]" or
 * "[CLS] a [SEP] b [SEP]" with token types 0 for the first part and 1 for b (RoBERTa files,
 * byte-level BPE: "<s> a </s>" / "<s> a </s></s> b </s>", all types 0) (add_special
 * false: the bare word pieces, types 0). Special-token text ("[MASK]") becomes its id.
 * Sequences longer than the model's context are truncated (pairs: the longer part loses a
 * token at a time, Hugging Face's longest_first). Writes at most max ids (types may be NULL)
 * and returns the count needed, or a negative elm_status. */
ELM_API int64_t elm_bert_tokenize(const elm_bert *m, const char *a, const char *b, bool add_special,
                          int32_t *ids, int32_t *types, int64_t max, elm_error *err);
ELM_API int32_t elm_bert_mask_id(const elm_bert *m); /* -1 when the vocabulary has none */
ELM_API int32_t elm_bert_unk_id(const elm_bert *m);  /* -1 when the vocabulary has none */
ELM_API bool elm_bert_is_wordpiece(const elm_bert *m); /* false: byte-level BPE (RoBERTa) */
/* A token's text without the word-piece markers ("##ing" / "▁paris" -> "ing" / "paris");
 * returns the byte count (may exceed size), buf NUL-terminated when it fits. */
ELM_API int32_t elm_bert_token_text(const elm_bert *m, int32_t id, char *buf, int32_t size);
/* Id of a single vocabulary word as written ("great"), -1 when the word is not one piece. */
ELM_API int32_t elm_bert_word_id(const elm_bert *m, const char *word);

/* What a run computes besides the last hidden state (always kept). */
typedef struct elm_bert_request {
    bool all_hidden; /* every layer: [n_layer + 1][n][n_embd], 0 = embeddings after LayerNorm */
    bool pooled, nsp, classify;
    bool token_classify, qa; /* token classifier / question-answering logits on every token */
    /* Masked-LM logits at these positions of each sequence (mlm_pos[s][k]); mlm_pos NULL
     * with mlm true: at every position. The vocabulary projection runs only on them. */
    bool mlm;
    const int32_t *const *mlm_pos;
    const int32_t *n_mlm_pos;
} elm_bert_request;

/* Runs n_seq sequences (at most n_seq_max): ids[s][0..n_tokens[s]) (at most n_ctx tokens),
 * types[s] (NULL or types NULL: all 0). req NULL: the last hidden state only. */
ELM_API elm_status elm_bert_run(elm_bert *m, int32_t n_seq, const int32_t *const *ids,
                        const int32_t *const *types, const int32_t *n_tokens,
                        const elm_bert_request *req, elm_error *err);

/* The results of a run, per sequence (n: its tokens): */
typedef enum elm_bert_output {
    ELM_BERT_OUT_LAST = 0,     /* [n][n_embd], always computed */
    ELM_BERT_OUT_HIDDEN,       /* [n_layer + 1][n][n_embd] (all_hidden) */
    ELM_BERT_OUT_POOLED,       /* [n_embd] (pooled, nsp or classify) */
    ELM_BERT_OUT_NSP,          /* [2]: 0 = "B follows A" */
    ELM_BERT_OUT_CLASSES,      /* [n_labels] logits */
    ELM_BERT_OUT_TOKEN_LOGITS, /* [n][n_labels] */
    ELM_BERT_OUT_QA,           /* [n][2]: start, end */
    ELM_BERT_OUT_MLM,          /* [rows][n_vocab]: one row per masked position asked for */
} elm_bert_output;

/* Copies result `what` of sequence s of the last run into out and returns its size in floats;
 * out NULL: returns the size only. A negative elm_status when the last run did not compute it
 * or when max (out's capacity in floats) is smaller. */
ELM_API int64_t elm_bert_get(const elm_bert *m, int32_t s, elm_bert_output what, float *out, int64_t max,
                             elm_error *err);
/* Sentence embedding of sequence s from the last run: CLS row, mean over its tokens, the last
 * token's row, or (NONE) the CLS row too; normalize: unit L2 length. out holds n_embd floats. */
ELM_API elm_status elm_bert_embedding(const elm_bert *m, int32_t s, elm_bert_pooling pooling,
                              bool normalize, float *out, elm_error *err);

/* ------------------------------------------------------------------------------------------
 * BERT fine-tuning (models/bert/bert_train.c): sequence classification on the device
 *
 * The trainer copies every tensor of a bert GGUF file to F32 and trains them (all, or all but
 * the embeddings and the first `freeze` layers) with AdamW on the cross-entropy of a
 * classifier on the pooled first token (the file's, when it has n_labels outputs; otherwise
 * a new one, and a pooler when the file has none). Steps are deterministic for a seed
 * (dropout masks included) and do not depend on the thread count.
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_bert_trainer elm_bert_trainer;

typedef enum elm_bert_task {
    ELM_BERT_TASK_SEQUENCE = 0, /* one label per sequence (pooled first token) */
    ELM_BERT_TASK_TOKEN = 1,    /* one label per token ("cls.token"); label -1: not scored */
    ELM_BERT_TASK_QA = 2,       /* answer span ("cls.qa"): labels are each sequence's start, end token */
} elm_bert_task;

typedef struct elm_bert_train_params {
    elm_bert_task task;  /* (SEQUENCE) */
    float lr;            /* peak learning rate (2e-5) */
    float weight_decay;  /* AdamW decoupled decay on matrices (0.01) */
    float warmup_ratio;  /* share of total_steps with a linear warm-up (0) */
    float dropout;       /* hidden and attention dropout (0.1) */
    int64_t total_steps; /* the learning rate decays linearly to 0 at this step (0: constant) */
    int32_t freeze;      /* > 0: embeddings and layers 0..freeze-1 stay as they are */
    uint64_t seed;       /* new head weights and dropout masks (42) */
    int32_t n_threads;   /* 0: 1 */
} elm_bert_train_params;

ELM_API elm_bert_train_params elm_bert_train_default_params(void);
/* labels: n_labels names (NULL: LABEL_i). */
ELM_API elm_bert_trainer *elm_bert_trainer_new(const char *path, int32_t n_labels, const char *const *labels,
                                       const elm_bert_train_params *p, elm_error *err);
ELM_API void elm_bert_trainer_free(elm_bert_trainer *t);
/* One AdamW step on a batch (ids/types/n_tokens as elm_bert_run takes them; labels: n_seq
 * of them, or for TOKEN every sequence's n_tokens labels one after the other, or for QA
 * 2 * n_seq: each sequence's start and end token, 0 0 for [CLS] when a window holds no
 * answer; n_labels is 2); *loss: the batch's mean cross-entropy before the update (QA: the
 * mean of the start and end cross-entropies). */
ELM_API elm_status elm_bert_trainer_step(elm_bert_trainer *t, int32_t n_seq, const int32_t *const *ids,
                                 const int32_t *const *types, const int32_t *n_tokens,
                                 const int32_t *labels, float *loss, elm_error *err);
/* Classifier logits with the current weights (no dropout): [n_seq][n_labels], or for TOKEN
 * [sum of n_tokens][n_labels], for QA [sum of n_tokens][2] (start, end). */
ELM_API elm_status elm_bert_trainer_predict(elm_bert_trainer *t, int32_t n_seq, const int32_t *const *ids,
                                    const int32_t *const *types, const int32_t *n_tokens,
                                    float *logits, elm_error *err);
ELM_API int64_t elm_bert_trainer_steps(const elm_bert_trainer *t);
ELM_API float elm_bert_trainer_lr(const elm_bert_trainer *t); /* the rate of the next step */
/* Writes the fine-tuned model (every tensor F32, the labels as bert.classifier.output_labels):
 * a file `classify` and elm_bert_load run. */
ELM_API elm_status elm_bert_trainer_save(const elm_bert_trainer *t, const char *path, elm_error *err);

/* ELMo scalar-mix training (models/elmo/elmo_train.c): the formula of elm_elmo_mix with s and gamma
 * learnt, plus a linear classifier on the mean of each sentence's mixed vectors, trained with
 * AdamW (weight decay on W only) from the layer outputs of a frozen biLM (elm_elmo_run's
 * [n_layers][n_tokens][dim] per sentence). Starts from equal weights and gamma = 1. */
typedef struct elm_mix_trainer elm_mix_trainer;
ELM_API elm_mix_trainer *elm_mix_trainer_new(int32_t n_layers, int32_t dim, int32_t n_labels, float lr,
                                     int64_t total_steps, uint64_t seed, elm_error *err);
ELM_API void elm_mix_trainer_free(elm_mix_trainer *t);
ELM_API elm_status elm_mix_trainer_step(elm_mix_trainer *t, int32_t n_seq, const float *const *layers,
                                const int32_t *n_tokens, const int32_t *labels, float *loss,
                                elm_error *err);
ELM_API elm_status elm_mix_trainer_predict(elm_mix_trainer *t, int32_t n_seq, const float *const *layers,
                                   const int32_t *n_tokens, float *logits, elm_error *err);
/* softmax(s) into weights[n_layers] (may be NULL) and gamma (may be NULL). */
ELM_API void elm_mix_trainer_mix(const elm_mix_trainer *t, float *weights, float *gamma);
/* The raw mix parameters s[n_layers] and the classifier: w[n_labels][dim] (row c holds label
 * c's weights), b[n_labels]; any may be NULL. */
ELM_API void elm_mix_trainer_params(const elm_mix_trainer *t, float *s, float *w, float *b);

/* ------------------------------------------------------------------------------------------
 * T5 (architecture "t5": encoder-decoder; T5ForConditionalGeneration converted by
 * `edgelm convert`, original ReLU and v1.1/flan gated-GELU forms, or llama.cpp's t5 files)
 *
 * elm_t5_model holds the weights (mapped, not copied) and the SentencePiece unigram tokenizer;
 * it is read-only once loaded, so any number of contexts (one per thread) may share it.
 * elm_t5 is one such context: a thread pool, the encoder state (cross-attention keys/values of
 * every decoder layer, computed once per input) and one decoder KV cache per beam.
 * elm_t5_load / elm_t5_load_memory make a context with a model of its own (freed with it);
 * elm_t5_model_load + elm_t5_new share one model. Typical use: elm_t5_generate(); for
 * evaluation, elm_t5_encode() then elm_t5_decode() with teacher-forced decoder ids.
 * Hidden states follow Hugging Face: [n_layers + 1][n][d_model], index 0 the embedding
 * output, index i the output of block i-1, the last one after the stack's final norm.
 * Logits follow Hugging Face too: for a tied model (the original T5) the decoder output is
 * scaled by d_model^-0.5 before the LM head (edgelm.t5.output_scale, docs/FORMAT.md).
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_t5_model elm_t5_model;
typedef struct elm_t5 elm_t5;

typedef struct elm_t5_params {
    int32_t n_threads; /* 0: 1 */
    int32_t n_ctx;     /* decoder positions per hypothesis (0: min(context_length, 512)) */
    int32_t n_beams;   /* most beams elm_t5_generate may use (one KV cache each; 0: 1) */
    bool no_vocab;     /* skip the tokenizer */
    bool no_repack;    /* keep Q4_0/Q8_0 matrices in the file's layout (see elm_model_params) */
} elm_t5_params; /* a model reads no_vocab and no_repack; a context the other three */

ELM_API elm_t5_params elm_t5_default_params(void);
/* The weights alone (params may be NULL): from a file (mapped), or from memory the caller keeps
 * alive until elm_t5_model_free. */
ELM_API elm_t5_model *elm_t5_model_load(const char *path, const elm_t5_params *params, elm_error *err);
ELM_API elm_t5_model *elm_t5_model_load_memory(const void *data, size_t size, const elm_t5_params *params,
                                               elm_error *err);
/* Frees the weights; every context made from them must be freed first. */
ELM_API void elm_t5_model_free(elm_t5_model *model);
/* A context over a shared model (the model must outlive it). */
ELM_API elm_t5 *elm_t5_new(const elm_t5_model *model, const elm_t5_params *params, elm_error *err);
/* A context with its own model, loaded from a file or from memory (kept alive by the caller). */
ELM_API elm_t5 *elm_t5_load(const char *path, const elm_t5_params *params, elm_error *err);
ELM_API elm_t5 *elm_t5_load_memory(const void *data, size_t size, const elm_t5_params *params, elm_error *err);
ELM_API void elm_t5_free(elm_t5 *m);

ELM_API int32_t elm_t5_n_vocab(const elm_t5 *m);
ELM_API int32_t elm_t5_n_embd(const elm_t5 *m);
ELM_API int32_t elm_t5_n_enc_layer(const elm_t5 *m);
ELM_API int32_t elm_t5_n_dec_layer(const elm_t5 *m);
ELM_API int32_t elm_t5_n_ctx(const elm_t5 *m);
ELM_API int32_t elm_t5_decoder_start(const elm_t5 *m); /* t5.decoder_start_token_id (pad, 0) */
ELM_API int32_t elm_t5_eos(const elm_t5 *m);
ELM_API float elm_t5_output_scale(const elm_t5 *m);

/* Tokenizes as Hugging Face's T5Tokenizer: "<extra_id_N>", "</s>" … in the text become their
 * ids; add_eos appends </s>. Same return convention as elm_tokenize_text. */
ELM_API int64_t elm_t5_tokenize(const elm_t5 *m, const char *text, size_t len, int32_t *ids, int64_t max_ids,
                        bool add_eos, elm_error *err);
/* Text of ids (NUL-terminated in buf when size > 0); returns the byte count the text needs.
 * Control tokens (<pad>, </s>, <extra_id_N>) only with render_special. */
ELM_API int32_t elm_t5_detokenize(const elm_t5 *m, const int32_t *ids, int32_t n, char *buf, int32_t size,
                          bool render_special);

/* Runs the encoder over ids[0..n) and keeps its result for decoding; clears the decoder state.
 * hidden (NULL to skip) receives (n_enc_layer + 1) * n * n_embd floats. */
ELM_API elm_status elm_t5_encode(elm_t5 *m, const int32_t *ids, int32_t n, float *hidden, elm_error *err);
/* Appends n decoder tokens (the first decoder id is normally elm_t5_decoder_start) with causal
 * self-attention over the earlier ones. logits (NULL to skip): n * n_vocab floats; hidden
 * (NULL to skip): (n_dec_layer + 1) * n * n_embd floats. */
ELM_API elm_status elm_t5_decode(elm_t5 *m, const int32_t *ids, int32_t n, float *logits, float *hidden,
                         elm_error *err);
ELM_API int32_t elm_t5_n_past(const elm_t5 *m); /* decoder positions filled */
ELM_API void elm_t5_rewind(elm_t5 *m);          /* forgets the decoder tokens (keeps the encoding) */

typedef struct elm_t5_gen_params {
    int32_t n_predict;          /* most tokens to generate (EOS excluded) */
    int32_t n_beams;            /* 1: greedy or sampling; > 1: beam search */
    float length_penalty;       /* beam search: score = logp / length^length_penalty (HF) */
    bool ignore_eos;
    elm_sampler_params sampling; /* n_beams == 1: temp <= 0 is greedy (argmax) */
} elm_t5_gen_params;

/* n_predict 64, 1 beam, length_penalty 1, greedy (sampling defaults with temp 0). */
ELM_API elm_t5_gen_params elm_t5_default_gen_params(void);
/* Encodes ids[0..n), then decodes from the start token until EOS or n_predict tokens. The
 * generated ids (no start token, no EOS) go to out (at most max_out; NULL to skip) and to
 * on_token (as they are chosen; for beam search, the winner's at the end). Returns the
 * number of generated tokens, or a negative elm_status. */
ELM_API int64_t elm_t5_generate(elm_t5 *m, const int32_t *ids, int32_t n, const elm_t5_gen_params *gp,
                        int32_t *out, int32_t max_out, elm_token_fn on_token, void *user,
                        elm_error *err);

/* ------------------------------------------------------------------------------------------
 * Converting checkpoints and quantizing GGUF files (what `edgelm convert` and `edgelm
 * quantize` run). Both stream tensors one at a time through reusable buffers and write the
 * output atomically (a temporary file renamed into place). Nothing prints: notes and warnings
 * ("note: ...", "warning: ...") go to log, progress to progress, both on the calling thread.
 * ---------------------------------------------------------------------------------------- */

typedef void (*elm_convert_log_fn)(void *user, const char *msg);
/* done of n tensors; amount_done of amount_total (convert: source bytes; quantize: weights). */
typedef void (*elm_convert_progress_fn)(void *user, int64_t done, int64_t n, uint64_t amount_done,
                                        uint64_t amount_total);

typedef struct elm_convert_params {
    const char *src;       /* Hugging Face folder (decoders, BERT, T5), llama2.c checkpoint .bin,
                              or an ELMo folder (options.json + weights .hdf5) */
    const char *out;       /* GGUF path to write */
    const char *tokenizer; /* llama2.c: tokenizer.bin or tokenizer.model (NULL: none) */
    int outtype;           /* gl_type: F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1, or -1 = keep the
                              source precision (F32 stays F32, F16/BF16 stay 16-bit; ELMo: F32) */
    bool vocab_only;       /* only tokenizer metadata (src may hold just tokenizer files) */
    const char *name;      /* general.name (NULL: from the folder name) */
    bool no_heads;         /* BERT: leave out every head (pooler, masked-LM, next-sentence,
                              classifier): an encoder that llama.cpp's loader accepts too */
    bool strict;           /* refuse a checkpoint tensor holding NaN/inf values, and a checkpoint
                              with source tensors the converter does not map (default: a warning
                              naming each) */
    elm_convert_log_fn log;
    elm_convert_progress_fn progress;
    gl_space_fn on_size;   /* the output's size and the free space, once known, before writing
                              (NULL: not asked) */
    void *user;
    const char *elmo_options, *elmo_weights; /* ELMo: explicit paths (NULL: found in src) */
} elm_convert_params;

typedef struct elm_convert_stats {
    char arch[32];
    int64_t n_tensors;
    int64_t n_fallback;   /* tensors kept at F16/F32 because rows do not divide into blocks */
    int32_t n_vocab;
    uint64_t bytes_in;    /* source tensor bytes read */
    uint64_t bytes_out;   /* tensor data bytes written */
} elm_convert_stats;

/* Everything 0/NULL/false, outtype -1. */
ELM_API elm_convert_params elm_convert_default_params(void);
/* stats may be NULL. */
ELM_API elm_status elm_convert(const elm_convert_params *p, elm_convert_stats *stats, elm_error *err);
/* What elm_convert reads, from the architecture table: the Hugging Face classes per family
 * ("LlamaForCausalLM, ... (decoders); BertModel, ... (BERT); ... (ELMo)"), written into buf
 * (size bytes, NUL-terminated, cut when short; buf may be NULL with size 0). Returns the length
 * of the whole text: a result >= size means buf was too small. */
ELM_API int32_t elm_convert_supported(char *buf, int32_t size);

/* What elm_quantize reports per tensor (on_tensor). */
typedef struct elm_quant_tensor_report {
    const char *name;
    int64_t index, n_tensors;
    int n_dims;
    int64_t ne[GL_MAX_DIMS];
    gl_type old_type, new_type;
    uint64_t old_bytes, new_bytes;
    bool fallback;     /* rows did not divide into the wanted type's blocks */
    gl_type wanted;    /* the type before the fallback */
    bool requantized;  /* the source was quantized already */
} elm_quant_tensor_report;

typedef struct elm_quantize_params {
    const char *in, *out;
    const char *type;       /* one of elm_quant_type_list(), any case ("Q4_K_M", "q8_0") */
    int n_threads;          /* <= 0: 1 */
    bool allow_requantize;  /* dequantize and quantize again tensors that are quantized already */
    bool pure;              /* every quantizable tensor gets the type's base (no mix rules) */
    bool strict;            /* refuse an input tensor holding NaN/inf values (default: warn) */
    elm_convert_log_fn log;
    void (*on_tensor)(void *user, const elm_quant_tensor_report *r);
    elm_convert_progress_fn progress;
    gl_space_fn on_size;    /* the output's size and the free space, once known, before writing
                               (NULL: not asked) */
    void *user;
} elm_quantize_params;

typedef struct elm_quantize_stats {
    int64_t n_tensors, n_quantized, n_fallback, n_requantized;
    uint64_t n_elements;           /* all tensors */
    uint64_t bytes_in, bytes_out;  /* tensor data */
} elm_quantize_stats;

/* Everything 0/NULL/false (type must be set). */
ELM_API elm_quantize_params elm_quantize_default_params(void);
/* GGUF -> GGUF with llama-quantize's type names and mix rules (quant/quantize.h has them);
 * stats may be NULL. */
ELM_API elm_status elm_quantize(const elm_quantize_params *p, elm_quantize_stats *stats, elm_error *err);
/* "F32, F16, ... IQ4_XS" for messages. */
ELM_API const char *elm_quant_type_list(void);
/* A quantize TYPE (aliases such as Q4_K accepted): its canonical name and the type of its
 * ordinary matrices (either pointer may be NULL); false when unknown. */
ELM_API bool elm_quant_type_info(const char *name, const char **canonical, gl_type *base);
/* The name of a GGUF general.file_type value (llama.cpp's numbering: "F32", "Q8_0", "Q4_K_M" ...),
 * or NULL when unknown. */
ELM_API const char *elm_quant_file_type_name(uint32_t ft);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_H */
