/*
 * vocab.h — tokenizers (internal to libedgelm; the public wrappers are in edgelm.h).
 *
 * A vocabulary is read from a GGUF file's llama.cpp keys (tokenizer.ggml.model, .pre, .tokens,
 * .scores, .token_type, .merges, special ids, add_bos/add_eos/add_sep, add_space_prefix …) and
 * never copies strings: tokens point into the mapped file.
 *
 * Models: "llama" (SentencePiece BPE with byte fallback), "gpt2" (byte-level BPE with a
 * pre-tokenizer chosen by tokenizer.ggml.pre: gpt-2, llama3, qwen2 …), "bert" (WordPiece),
 * "t5" (SentencePiece unigram).
 */
#ifndef EDGELM_VOCAB_H
#define EDGELM_VOCAB_H

#include "ggml-lite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct elm_vocab elm_vocab;

typedef enum elm_vocab_kind {
    ELM_VOCAB_SPM = 1, /* "llama" */
    ELM_VOCAB_BPE,     /* "gpt2" */
    ELM_VOCAB_WPM,     /* "bert" */
    ELM_VOCAB_UGM,     /* "t5" */
} elm_vocab_kind;

/* llama.cpp's tokenizer.ggml.token_type values. */
enum {
    ELM_TOKEN_NORMAL = 1,
    ELM_TOKEN_UNKNOWN = 2,
    ELM_TOKEN_CONTROL = 3,
    ELM_TOKEN_USER_DEFINED = 4,
    ELM_TOKEN_UNUSED = 5,
    ELM_TOKEN_BYTE = 6,
};

/* Builds the vocabulary from f's metadata; f must outlive it. */
elm_vocab *elm_vocab_load(const gl_gguf *f, gl_error *err);

/* A vocabulary from plain arrays (what elm_vocab_load reads from a GGUF file); used by the
 * loader and by tests with small hand-made vocabularies. The strings (tokens, merges, pre)
 * are not copied and must outlive the vocabulary; the arrays themselves are copied. */
#define ELM_VOCAB_ID_DEFAULT (-2) /* "use the model's default" (fields of elm_vocab_desc) */
typedef struct elm_vocab_desc {
    elm_vocab_kind kind;
    int32_t n_tokens;
    const gl_str *tokens;  /* n_tokens texts */
    const float *scores;   /* n_tokens, or NULL (all 0); SPM merges by higher score first */
    const int32_t *types;  /* n_tokens ELM_TOKEN_*, or NULL (all NORMAL) */
    int64_t n_merges;      /* BPE: merge rules "left right", highest priority first */
    const gl_str *merges;
    const char *pre;       /* BPE pre-tokenizer: "gpt-2" (NULL, "default"), "llama3"
                            * ("llama-bpe"), "qwen2", "smollm" ("starcoder", "refact") */
    /* Special ids: -1 none, ELM_VOCAB_ID_DEFAULT the model's default (SPM: bos 1, eos 2,
     * unk 0; others: none, except that BPE takes "<|endoftext|>" for bos/eos when present). */
    int32_t bos, eos, eot, eom, unk, pad, sep, cls, mask;
    /* -1: the model's default (SPM: add_bos 1, add_space_prefix 1; UGM: add_eos 1,
     * add_space_prefix 1; BPE: all 0). */
    int add_bos, add_eos, add_sep, add_space_prefix;
    /* Unigram only: SentencePiece's precompiled_charsmap (not copied; NULL = no normaliser
     * table) and remove_extra_whitespaces (-1: default 1). */
    const uint8_t *charsmap;
    uint64_t charsmap_len;
    int remove_extra_ws;
    /* WordPiece only (-1: default): lower-case (default 1), strip accents (default: = lower),
     * split CJK characters (default 1), longest word in code points (default 100, at most
     * 128; longer words are [UNK]). */
    int wpm_lower, wpm_strip_accents, wpm_chinese;
    int32_t wpm_max_chars;
} elm_vocab_desc;

/* Every id ELM_VOCAB_ID_DEFAULT, every flag -1, everything else zero. */
void elm_vocab_desc_init(elm_vocab_desc *d);
elm_vocab *elm_vocab_new(const elm_vocab_desc *d, gl_error *err);
/* The pre-tokenizer name in use for BPE ("gpt-2", "llama3" …), "" for other models. */
const char *elm_vocab_pre(const elm_vocab *v);
bool elm_vocab_add_bos(const elm_vocab *v);
bool elm_vocab_add_eos(const elm_vocab *v);
void elm_vocab_free(elm_vocab *v);

elm_vocab_kind elm_vocab_type(const elm_vocab *v);
int32_t elm_vocab_n_tokens(const elm_vocab *v);
/* Special ids (-1 when the model has none). */
int32_t elm_vocab_bos(const elm_vocab *v);
int32_t elm_vocab_eos(const elm_vocab *v);
int32_t elm_vocab_eot(const elm_vocab *v); /* end of turn (chat), else eos */
int32_t elm_vocab_unk(const elm_vocab *v);
int32_t elm_vocab_pad(const elm_vocab *v);
int32_t elm_vocab_sep(const elm_vocab *v);
int32_t elm_vocab_cls(const elm_vocab *v);
int32_t elm_vocab_mask(const elm_vocab *v);
/* True for ids that end generation: eos, eot, eom and the tokens llama.cpp's loader takes as
 * end of generation by their text (<|im_end|>, <end_of_turn>, <|eot_id|>, <|end|> ...). */
bool elm_vocab_is_eog(const elm_vocab *v, int32_t id);
/* The end-of-generation ids (*ids points into the vocabulary); returns how many. */
int32_t elm_vocab_eog_ids(const elm_vocab *v, const int32_t **ids);
int32_t elm_vocab_token_type(const elm_vocab *v, int32_t id);
/* The token's text as stored in the vocabulary (not NUL-terminated). */
gl_str elm_vocab_token_text(const elm_vocab *v, int32_t id);
/* Exact lookup of a token's text; -1 when absent. */
int32_t elm_vocab_find(const elm_vocab *v, const char *text, size_t len);

/* Tokenizes text (len bytes of UTF-8; invalid bytes are handled as the model's tokenizer does).
 * add_special: add BOS/EOS/CLS/SEP as Hugging Face's add_special_tokens=True would for this
 * model. parse_special: text of control/user-defined/unknown tokens and of the model's special
 * ids (e.g. "<|im_start|>", "<s>") becomes their ids (longest match first); off, it is text.
 * SentencePiece's dummy prefix "▁" goes only in front of text at the very start of the input
 * (as Hugging Face's Llama tokenizer with legacy=false and Metaspace prepend_scheme "first"),
 * not after a special token. Writes at most max_ids ids; returns the number of ids the text
 * needs (may exceed max_ids: call again with a bigger buffer), or a negative gl_status on
 * error. Unigram (t5) appends EOS with add_special, as Hugging Face's T5Tokenizer does;
 * WordPiece (bert) puts [CLS] before and [SEP] after the text, as BertTokenizer does. */
int64_t elm_tokenize(const elm_vocab *v, const char *text, size_t len, int32_t *ids,
                     int64_t max_ids, bool add_special, bool parse_special, gl_error *err);
/* The longest text one elm_tokenize call takes (longer: GL_ERR_INVALID naming the limit). The
 * tokenizers take time and memory linear in the text within it (about 50 bytes of working
 * memory per byte of text at worst, a word without spaces through byte-level BPE), so the
 * limit bounds one call's memory to a few GB; split longer inputs (docs/FORMAT.md, "Limits"). */
#define ELM_TOKENIZE_MAX_BYTES ((size_t)64 << 20)

/* The bytes a token stands for when it is printed (byte tokens → their byte, '▁' → space for
 * SPM, byte-level BPE pieces → their bytes; control tokens → "" unless render_special).
 * Returns the number of bytes (may exceed size: then nothing useful was written). */
int32_t elm_token_to_piece(const elm_vocab *v, int32_t id, char *buf, int32_t size,
                           bool render_special);

/* Streaming detokenizer: feeds ids one at a time and hands out only complete UTF-8 text
 * (a character split over several byte tokens comes out once complete; bytes that can never
 * form a character come out as U+FFFD). Also applies the SentencePiece rule that the leading
 * space of the first piece after BOS is dropped (llama2.c's run.c; SentencePiece's decoder
 * drops the dummy prefix the same way): at_start is true after init and after BOS, and any
 * other token clears it. A caller that continues text it has already shown (a prompt that
 * it does not push) sets d->at_start = false after init. */
typedef struct elm_detok {
    const elm_vocab *vocab;
    char pending[8];
    int n_pending;
    bool at_start;
    bool render_special;
} elm_detok;

void elm_detok_init(elm_detok *d, const elm_vocab *v, bool render_special);
/* Appends the text of id to out (at most cap bytes); returns bytes written, or
 * GL_ERR_INVALID (state unchanged) when cap is too small: cap >= 8 + the longest token's
 * length always suffices. */
int32_t elm_detok_push(elm_detok *d, int32_t id, char *out, int32_t cap);
/* Flushes incomplete bytes at the end (as U+FFFD replacement characters). */
int32_t elm_detok_flush(elm_detok *d, char *out, int32_t cap);

#endif /* EDGELM_VOCAB_H */
