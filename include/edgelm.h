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
/* Resident set of this process now and its peak so far, in bytes (Linux /proc/self/status
 * VmRSS / VmHWM); false when unavailable. */
bool elm_process_memory(int64_t *rss_bytes, int64_t *peak_bytes);
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
/* Which runtime an architecture belongs to: "decoder" (elm_model_load), "bert", "t5" or
 * "elmo" (the one architecture table, models/arch.c); "" when edgelm does not know it. */
const char *elm_arch_family(const char *arch);
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
    bool mlock;     /* lock the weights in RAM (the mapping and the repacked copies; decoders) */
} elm_model_params;

elm_model_params elm_model_default_params(void);
/* params may be NULL (defaults). */
elm_model *elm_model_load(const char *path, const elm_model_params *params, elm_error *err);
/* Same over memory the caller keeps alive until elm_model_free. */
elm_model *elm_model_load_memory(const void *data, size_t size, const elm_model_params *params,
                                 elm_error *err);
void elm_model_free(elm_model *m);

const char *elm_model_arch(const elm_model *m); /* "llama", "qwen2", "gpt2" */
int32_t elm_model_n_vocab(const elm_model *m);  /* rows of the output matrix */
int32_t elm_model_n_embd(const elm_model *m);
int32_t elm_model_n_layer(const elm_model *m);
int32_t elm_model_n_ctx_train(const elm_model *m);
/* Bytes of weights copied into the interleaved layout at load (0: none, or no_repack). */
int64_t elm_model_repacked_bytes(const elm_model *m);
/* The GGUF's tokenizer.chat_template copied into buf (NUL-terminated); false when absent. */
bool elm_model_chat_template(const elm_model *m, char *buf, size_t size);
/* Same as elm_file_get_* for the model's file. */
bool elm_model_get_str(const elm_model *m, const char *key, char *buf, size_t bufsize);

/* ---- tokenizer wrappers (need a model loaded with its vocabulary) ---- */
bool elm_model_has_vocab(const elm_model *m);
int32_t elm_token_bos(const elm_model *m); /* -1 when none */
int32_t elm_token_eos(const elm_model *m);
int32_t elm_token_eot(const elm_model *m); /* end of turn, else eos */
bool elm_token_is_eog(const elm_model *m, int32_t id);
/* Tokenizes len bytes of text; writes at most max_ids ids and returns how many the text needs
 * (call again with a bigger buffer when that exceeds max_ids), or a negative elm_status.
 * add_special: BOS/EOS as Hugging Face's add_special_tokens=True; parse_special: control
 * token text in the input (e.g. "<|im_start|>") becomes its id. */
int64_t elm_tokenize_text(const elm_model *m, const char *text, size_t len, int32_t *ids,
                          int64_t max_ids, bool add_special, bool parse_special, elm_error *err);
/* Bytes of one token (see elm_detok_*); returns the byte count (may exceed size). */
int32_t elm_token_piece(const elm_model *m, int32_t id, char *buf, int32_t size,
                        bool render_special);

/* Streaming detokenizer: hands out only complete UTF-8 characters, drops the leading space
 * of the first SentencePiece piece after BOS. */
typedef struct elm_detokenizer elm_detokenizer;
elm_detokenizer *elm_detokenizer_new(const elm_model *m, bool render_special, elm_error *err);
void elm_detokenizer_free(elm_detokenizer *d);
/* Appends the text of id to out (at most cap bytes, no NUL); returns the bytes written. */
int32_t elm_detokenizer_push(elm_detokenizer *d, int32_t id, char *out, int32_t cap);
int32_t elm_detokenizer_flush(elm_detokenizer *d, char *out, int32_t cap);

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
bool elm_cache_type_parse(const char *name, elm_cache_type *out);
const char *elm_cache_type_name(elm_cache_type t); /* "f16" for DEFAULT */

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
bool elm_ctx_memory_use(const elm_ctx *c, elm_memory_use *out);
/* Bytes of the KV cache of m at n_ctx positions with these types (0 for Q8_0 or bad input). */
int64_t elm_kv_cache_bytes(const elm_model *m, int32_t n_ctx, elm_cache_type type_k,
                           elm_cache_type type_v);

elm_ctx_params elm_ctx_default_params(void);
/* Short form: default parameters with n_ctx and n_threads. */
elm_ctx *elm_ctx_new(const elm_model *m, int32_t n_ctx, int32_t n_threads, elm_error *err);
elm_ctx *elm_ctx_new_ext(const elm_model *m, const elm_ctx_params *params, elm_error *err);
void elm_ctx_free(elm_ctx *c);
int32_t elm_ctx_n_ctx(const elm_ctx *c);
int32_t elm_ctx_n_past(const elm_ctx *c); /* positions filled in the KV cache */
/* Forgets positions >= n_keep (0 clears the cache). */
void elm_ctx_rewind(elm_ctx *c, int32_t n_keep);

typedef enum elm_output {
    ELM_OUT_LOGITS_LAST = 0, /* logits of the last token: [n_vocab] */
    ELM_OUT_LOGITS_ALL = 1,  /* logits of every token: [n, n_vocab] */
    ELM_OUT_HIDDEN = 2,      /* hidden states [n_layer + 1, n, n_embd] and all logits */
} elm_output;

/* Runs ids[0..n) at positions n_past.. (the whole input in graphs of n_batch tokens, causal
 * attention over the cache) and advances n_past. ELM_OUT_HIDDEN needs n <= n_batch.
 * Hidden states follow Hugging Face's hidden_states: index 0 = the embedding output, index i
 * = the output of block i - 1, the last one after the final norm. */
elm_status elm_decode(elm_ctx *c, const int32_t *ids, int32_t n, elm_output what,
                      elm_error *err);
/* Results of the last elm_decode (valid until the next call): */
const float *elm_get_logits(const elm_ctx *c, int32_t *n_rows); /* n_rows x n_vocab */
const float *elm_get_hidden(const elm_ctx *c, int32_t *n_tokens); /* (n_layer+1) x n x n_embd */

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
elm_sampler_params elm_sampler_default_params(void);
elm_sampler *elm_sampler_new(const elm_sampler_params *p, int32_t n_vocab, elm_error *err);
void elm_sampler_free(elm_sampler *s);
/* Picks a token from logits[n_vocab] (the logits are not modified). Order: repetition
 * penalty, top-k, top-p, min-p (each on the softmax of the current logits), temperature,
 * then a draw from the renormalised distribution. */
int32_t elm_sampler_sample(elm_sampler *s, const float *logits);
/* Adds id to the history the repetition penalty sees (elm_generate does this). */
void elm_sampler_accept(elm_sampler *s, int32_t id);
/* Clears the history and restarts the random generator from seed. */
void elm_sampler_reset(elm_sampler *s, uint64_t seed);

/* ---- generation ---- */

/* Called with each sampled token; return false to stop. */
typedef bool (*elm_token_fn)(int32_t id, void *user);

/* Decodes prompt (appended to the cache), then samples up to n_predict tokens (each one fed
 * back), calling on_token for each. Stops at an end-of-generation token (not passed to
 * on_token) unless ignore_eos, when on_token returns false, or when the cache is full.
 * Returns the number of tokens generated, or a negative elm_status. The last sampled token
 * is not in the cache (*pending receives it, -1 when none) so a caller can continue. */
int64_t elm_generate(elm_ctx *c, elm_sampler *s, const int32_t *prompt, int32_t n_prompt,
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
} elm_chat_template;

typedef struct elm_chat_msg {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} elm_chat_msg;

/* By name ("chatml", "llama2", "llama3", "zephyr", "phi3", "gemma", "mistral"). */
elm_chat_template elm_chat_template_from_name(const char *name);
const char *elm_chat_template_name(elm_chat_template t);
/* Recognises a Jinja chat template (tokenizer.chat_template) by its marker strings. */
elm_chat_template elm_chat_template_detect(const char *jinja);
/* Renders the conversation (and, when add_assistant, the assistant's turn prefix) into buf
 * (NUL-terminated when it fits). Returns the length the text needs (excluding the NUL), or
 * a negative elm_status for an unknown template or role. */
int64_t elm_chat_render(elm_chat_template t, const elm_chat_msg *msgs, size_t n_msgs,
                        bool add_assistant, char *buf, size_t size);

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

typedef struct elm_elmo elm_elmo;

typedef struct elm_elmo_params {
    int32_t n_threads; /* 0: 1 */
    bool stateful;
} elm_elmo_params;

elm_elmo_params elm_elmo_default_params(void);
elm_elmo *elm_elmo_load(const char *path, const elm_elmo_params *params, elm_error *err);
void elm_elmo_free(elm_elmo *m);

int32_t elm_elmo_n_layers(const elm_elmo *m);  /* output layers: LSTM layers + 1 */
int32_t elm_elmo_dim(const elm_elmo *m);       /* 2 * projection_dim */
int32_t elm_elmo_max_chars(const elm_elmo *m); /* characters per token (50) */

/* Character ids of one word as the model consumes them (bilm-tf / AllenNLP encoding, with the
 * +1 offset that keeps 0 for padding): [BOW, utf-8 bytes (at most max_chars - 2), EOW, PAD..]
 * where BOW = 259, EOW = 260, PAD = 261 and byte b -> b + 1. The words "<S>" and "</S>"
 * become [259, 257, 260, 261 ...] and [259, 258, 260, 261 ...]. out holds max_chars ids. */
void elm_elmo_char_ids(const char *word, size_t len, int32_t max_chars, int32_t *out);

/* Runs a batch of n_sent sentences; sentence b has n_tokens[b] NUL-terminated words in
 * tokens[b]. out[b] (NULL to skip) receives n_layers * n_tokens[b] * dim floats, ordered
 * [layer][token][dim]. */
elm_status elm_elmo_run(elm_elmo *m, int32_t n_sent, const char *const *const *tokens,
                        const int32_t *n_tokens, float *const *out, elm_error *err);
/* Stateful mode on/off; either change clears the carried states. */
void elm_elmo_set_stateful(elm_elmo *m, bool stateful);
/* Clears the carried states (stateful mode starts again from zero). */
void elm_elmo_reset(elm_elmo *m);

/* Scalar mix: out[t] = gamma * sum_j softmax(s)_j * layers[j][t] for one sentence's output
 * ([n_layers][n_tokens][dim] as elm_elmo_run writes it). s = NULL: equal weights. */
elm_status elm_elmo_mix(const elm_elmo *m, const float *layers, int32_t n_tokens, const float *s,
                        float gamma, float *out, elm_error *err);

/* ------------------------------------------------------------------------------------------
 * BERT (architecture "bert": BertModel / BertForMaskedLM / BertForPreTraining /
 * BertForSequenceClassification and sentence-transformers folders, from `edgelm convert`,
 * or llama.cpp's bert GGUF files)
 *
 * A bidirectional encoder: token + position + token-type embeddings, LayerNorm, n_layer
 * post-LN blocks (self-attention, exact-erf GELU feed-forward). Heads, when the file has them:
 * masked-LM (transform + vocabulary projection tied to the word embeddings), pooler (tanh
 * dense on [CLS]), next-sentence prediction and a sequence classifier on the pooled output.
 *
 * A run takes a batch of sequences of different lengths (padded inside; padding never reaches
 * a real token's attention), so a batch gives the same per-sequence results as one at a time.
 * Results stay valid until the next run of the same elm_bert.
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_bert elm_bert;

typedef struct elm_bert_params {
    int32_t n_threads; /* 0: 1 */
    bool no_repack;    /* keep Q4_0/Q8_0 matrices in the file's layout (see elm_model_params) */
} elm_bert_params;

typedef enum elm_bert_pooling {
    ELM_BERT_POOL_NONE = 0, /* llama.cpp's pooling_type values */
    ELM_BERT_POOL_MEAN = 1,
    ELM_BERT_POOL_CLS = 2,
    ELM_BERT_POOL_LAST = 3, /* the last token's row (sentence-transformers "lasttoken") */
} elm_bert_pooling;

elm_bert_params elm_bert_default_params(void);
elm_bert *elm_bert_load(const char *path, const elm_bert_params *params, elm_error *err);
void elm_bert_free(elm_bert *m);

int32_t elm_bert_n_embd(const elm_bert *m);
int32_t elm_bert_n_layer(const elm_bert *m);
int32_t elm_bert_n_vocab(const elm_bert *m);
int32_t elm_bert_n_ctx(const elm_bert *m);     /* longest sequence (position embeddings) */
/* Bytes of weights copied into the interleaved layout at load (0: none, or no_repack). */
int64_t elm_bert_repacked_bytes(const elm_bert *m);
bool elm_bert_has_mlm(const elm_bert *m);
bool elm_bert_has_nsp(const elm_bert *m);
bool elm_bert_has_pooler(const elm_bert *m);
int32_t elm_bert_n_labels(const elm_bert *m);  /* classifier outputs, 0 without one */
const char *elm_bert_label(const elm_bert *m, int32_t i); /* id2label name, or "LABEL_i" */
/* Pooling and normalisation recorded by the converter (sentence-transformers), CLS/false
 * otherwise. */
elm_bert_pooling elm_bert_pooling_type(const elm_bert *m);
bool elm_bert_normalize(const elm_bert *m);

/* Tokenizes a sentence (b == NULL) or a pair as BertTokenizer does: "[CLS] a [SEP]" or
 * "[CLS] a [SEP] b [SEP]" with token types 0 for the first part and 1 for b (add_special
 * false: the bare word pieces, types 0). Special-token text ("[MASK]") becomes its id.
 * Sequences longer than the model's context are truncated (pairs: the longer part loses a
 * token at a time, Hugging Face's longest_first). Writes at most max ids (types may be NULL)
 * and returns the count needed, or a negative elm_status. */
int64_t elm_bert_tokenize(const elm_bert *m, const char *a, const char *b, bool add_special,
                          int32_t *ids, int32_t *types, int64_t max, elm_error *err);
int32_t elm_bert_mask_id(const elm_bert *m); /* -1 when the vocabulary has none */
/* A token's text without the word-piece markers ("##ing" / "▁paris" -> "ing" / "paris");
 * returns the byte count (may exceed size), buf NUL-terminated when it fits. */
int32_t elm_bert_token_text(const elm_bert *m, int32_t id, char *buf, int32_t size);
/* Id of a single vocabulary word as written ("great"), -1 when the word is not one piece. */
int32_t elm_bert_word_id(const elm_bert *m, const char *word);

/* What a run computes besides the last hidden state (always kept). */
typedef struct elm_bert_request {
    bool all_hidden; /* every layer: [n_layer + 1][n][n_embd], 0 = embeddings after LayerNorm */
    bool pooled, nsp, classify;
    /* Masked-LM logits at these positions of each sequence (mlm_pos[s][k]); mlm_pos NULL
     * with mlm true: at every position. The vocabulary projection runs only on them. */
    bool mlm;
    const int32_t *const *mlm_pos;
    const int32_t *n_mlm_pos;
} elm_bert_request;

/* Runs n_seq sequences: ids[s][0..n_tokens[s]), types[s] (NULL or types NULL: all 0). */
elm_status elm_bert_run(elm_bert *m, int32_t n_seq, const int32_t *const *ids,
                        const int32_t *const *types, const int32_t *n_tokens,
                        const elm_bert_request *req, elm_error *err);
/* Results of the last run for sequence s (NULL when not computed): */
const float *elm_bert_hidden(const elm_bert *m, int32_t s);   /* [n_layer+1][n][n_embd] */
const float *elm_bert_last(const elm_bert *m, int32_t s);     /* [n][n_embd] */
const float *elm_bert_pooled(const elm_bert *m, int32_t s);   /* [n_embd] */
const float *elm_bert_nsp(const elm_bert *m, int32_t s);      /* [2]: 0 = "B follows A" */
const float *elm_bert_classes(const elm_bert *m, int32_t s);  /* [n_labels] logits */
const float *elm_bert_mlm(const elm_bert *m, int32_t s, int32_t *n_rows); /* [n_rows][n_vocab] */
/* Sentence embedding of sequence s from the last run: CLS row, mean over its tokens, the last
 * token's row, or (NONE) the CLS row too; normalize: unit L2 length. out holds n_embd floats. */
elm_status elm_bert_embedding(const elm_bert *m, int32_t s, elm_bert_pooling pooling,
                              bool normalize, float *out, elm_error *err);

/* ------------------------------------------------------------------------------------------
 * T5 (architecture "t5": encoder-decoder; T5ForConditionalGeneration converted by
 * `edgelm convert`, original ReLU and v1.1/flan gated-GELU forms, or llama.cpp's t5 files)
 *
 * elm_t5 holds the weights (mapped, not copied), the SentencePiece unigram tokenizer, a thread
 * pool, the encoder state (cross-attention keys/values of every decoder layer, computed once
 * per input) and one decoder KV cache per beam. Typical use: elm_t5_generate(); for
 * evaluation, elm_t5_encode() then elm_t5_decode() with teacher-forced decoder ids.
 * Hidden states follow Hugging Face: [n_layers + 1][n][d_model], index 0 the embedding
 * output, index i the output of block i-1, the last one after the stack's final norm.
 * Logits follow Hugging Face too: for a tied model (the original T5) the decoder output is
 * scaled by d_model^-0.5 before the LM head (edgelm.t5.output_scale, docs/FORMAT.md).
 * ---------------------------------------------------------------------------------------- */

typedef struct elm_t5 elm_t5;

typedef struct elm_t5_params {
    int32_t n_threads; /* 0: 1 */
    int32_t n_ctx;     /* decoder positions per hypothesis (0: min(context_length, 512)) */
    int32_t n_beams;   /* most beams elm_t5_generate may use (one KV cache each; 0: 1) */
    bool no_vocab;     /* skip the tokenizer */
    bool no_repack;    /* keep Q4_0/Q8_0 matrices in the file's layout (see elm_model_params) */
} elm_t5_params;

elm_t5_params elm_t5_default_params(void);
elm_t5 *elm_t5_load(const char *path, const elm_t5_params *params, elm_error *err);
void elm_t5_free(elm_t5 *m);

int32_t elm_t5_n_vocab(const elm_t5 *m);
int32_t elm_t5_n_embd(const elm_t5 *m);
int32_t elm_t5_n_enc_layer(const elm_t5 *m);
int32_t elm_t5_n_dec_layer(const elm_t5 *m);
int32_t elm_t5_n_ctx(const elm_t5 *m);
int32_t elm_t5_decoder_start(const elm_t5 *m); /* t5.decoder_start_token_id (pad, 0) */
int32_t elm_t5_eos(const elm_t5 *m);
float elm_t5_output_scale(const elm_t5 *m);
/* Relative-position bucket of key - query position (Hugging Face's _relative_position_bucket). */
int32_t elm_t5_bucket(int32_t rel, bool bidirectional, int32_t n_buckets, int32_t max_distance);

/* Tokenizes as Hugging Face's T5Tokenizer: "<extra_id_N>", "</s>" … in the text become their
 * ids; add_eos appends </s>. Same return convention as elm_tokenize_text. */
int64_t elm_t5_tokenize(const elm_t5 *m, const char *text, size_t len, int32_t *ids, int64_t max_ids,
                        bool add_eos, elm_error *err);
/* Text of ids (NUL-terminated in buf when size > 0); returns the byte count the text needs.
 * Control tokens (<pad>, </s>, <extra_id_N>) only with render_special. */
int32_t elm_t5_detokenize(const elm_t5 *m, const int32_t *ids, int32_t n, char *buf, int32_t size,
                          bool render_special);

/* Runs the encoder over ids[0..n) and keeps its result for decoding; clears the decoder state.
 * hidden (NULL to skip) receives (n_enc_layer + 1) * n * n_embd floats. */
elm_status elm_t5_encode(elm_t5 *m, const int32_t *ids, int32_t n, float *hidden, elm_error *err);
/* Appends n decoder tokens (the first decoder id is normally elm_t5_decoder_start) with causal
 * self-attention over the earlier ones. logits (NULL to skip): n * n_vocab floats; hidden
 * (NULL to skip): (n_dec_layer + 1) * n * n_embd floats. */
elm_status elm_t5_decode(elm_t5 *m, const int32_t *ids, int32_t n, float *logits, float *hidden,
                         elm_error *err);
int32_t elm_t5_n_past(const elm_t5 *m); /* decoder positions filled */
void elm_t5_rewind(elm_t5 *m);          /* forgets the decoder tokens (keeps the encoding) */

typedef struct elm_t5_gen_params {
    int32_t n_predict;          /* most tokens to generate (EOS excluded) */
    int32_t n_beams;            /* 1: greedy or sampling; > 1: beam search */
    float length_penalty;       /* beam search: score = logp / length^length_penalty (HF) */
    bool ignore_eos;
    elm_sampler_params sampling; /* n_beams == 1: temp <= 0 is greedy (argmax) */
} elm_t5_gen_params;

/* n_predict 64, 1 beam, length_penalty 1, greedy (sampling defaults with temp 0). */
elm_t5_gen_params elm_t5_default_gen_params(void);
/* Encodes ids[0..n), then decodes from the start token until EOS or n_predict tokens. The
 * generated ids (no start token, no EOS) go to out (at most max_out; NULL to skip) and to
 * on_token (as they are chosen; for beam search, the winner's at the end). Returns the
 * number of generated tokens, or a negative elm_status. */
int64_t elm_t5_generate(elm_t5 *m, const int32_t *ids, int32_t n, const elm_t5_gen_params *gp,
                        int32_t *out, int32_t max_out, elm_token_fn on_token, void *user,
                        elm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_H */
