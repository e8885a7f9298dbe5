/*
 * vocab_impl.h — internals shared by vocab.c (loading, special tokens, decoding) and the
 * tokenizer cores tok_spm.c and tok_bpe.c. Not part of any public interface.
 */
#ifndef EDGELM_VOCAB_IMPL_H
#define EDGELM_VOCAB_IMPL_H

#include "vocab.h"

/* Byte-level BPE pre-tokenizers (regex families implemented as scanners in tok_bpe.c). */
typedef enum elm_bpe_pre {
    ELM_PRE_GPT2 = 0, /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    ELM_PRE_LLAMA3,   /* case-insensitive contractions, [^\r\n\p{L}\p{N}]?\p{L}+, \p{N}{1,3} … */
    ELM_PRE_QWEN2,    /* as llama3 but \p{N} one digit at a time */
    ELM_PRE_SMOLLM,   /* every digit alone (HF Digits(individual_digits)), then gpt-2 */
} elm_bpe_pre;

#define ELM_MAX_EOG 32

struct elm_vocab {
    elm_vocab_kind kind;
    int32_t n_tokens;
    gl_str *text;    /* token texts (point into the caller's memory / the mapped file) */
    float *score;
    uint8_t *type;
    int32_t max_token_len;

    /* Open-addressing hash of token texts -> id (power-of-two capacity, -1 = empty). */
    int32_t *tok_slots;
    uint32_t tok_mask;

    /* BPE merges: rank = index; hash of "left right" -> rank. */
    int64_t n_merges;
    gl_str *merges;
    int32_t *merge_slots;
    uint32_t merge_mask;

    elm_bpe_pre pre;
    const char *pre_name;
    bool ignore_merges; /* llama3: a pre-token that is a whole token is taken as it is */

    int32_t bos, eos, eot, eom, unk, pad, sep, cls, mask;
    bool add_bos, add_eos, add_sep, add_space_prefix;
    int32_t eog[ELM_MAX_EOG];
    int n_eog;

    /* SPM: no piece has a '▁' right after another character ("a▁b"), so no merge crosses the
     * start of a word ("▁" after a non-"▁"): the text is merged one word at a time (memory
     * bounded by the longest word rather than by the text). */
    bool spm_word_split;

    /* SPM: id of "<0xHH>"; BPE: id of the byte's one-character token; -1 when absent. */
    int32_t byte_id[256];
    /* BPE byte <-> code point of GPT-2's byte-level alphabet. */
    uint16_t byte_cp[256];
    int16_t cp_byte[512]; /* code point (< 512) -> byte, -1 when not in the alphabet */

    /* Special tokens recognised in text: ids grouped by first byte, longest first. */
    int32_t *special;
    int32_t special_start[257];

    /* Unigram (t5): SentencePiece's precompiled normaliser blob (points into the file; NULL:
     * identity) and its remove_extra_whitespaces flag. */
    const uint8_t *charsmap;
    uint64_t charsmap_len;
    bool remove_extra_ws;

    /* WordPiece (bert): basic-tokenizer settings, and whether the vocabulary uses llama.cpp's
     * "phantom space" spelling ("▁word", "piece") instead of Hugging Face's ("word", "##piece"). */
    bool wpm_lower, wpm_strip_accents, wpm_chinese, wpm_phantom;
    int32_t wpm_max_chars;
};

/* Growable id list used while tokenizing. */
typedef struct elm_ids {
    int32_t *v;
    int64_t n, cap;
    bool oom;
} elm_ids;

bool elm_ids_push(elm_ids *ids, int32_t id);

/* 64-bit FNV-1a, continued from h (start with ELM_FNV_INIT). */
#define ELM_FNV_INIT 0xcbf29ce484222325ULL
static inline uint64_t elm_fnv(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* -1 when absent. */
int32_t elm_vocab_find_merge(const elm_vocab *v, const char *l, size_t nl, const char *r, size_t nr);

/* The cores: tokenize one piece of raw text (no special tokens in it) and append ids.
 * SPM: add_prefix puts the dummy "▁" in front. Return GL_OK or an error status. */
gl_status elm_spm_tokenize(const elm_vocab *v, const char *text, size_t len, bool add_prefix,
                           elm_ids *out, gl_error *err);
gl_status elm_bpe_tokenize(const elm_vocab *v, const char *text, size_t len, elm_ids *out,
                           gl_error *err);
/* Unigram (tok_ugm.c): normalises (charsmap, whitespace, '▁' escaping, dummy prefix when
 * add_prefix) and segments by Viterbi. */
gl_status elm_ugm_tokenize(const elm_vocab *v, const char *text, size_t len, bool add_prefix,
                           elm_ids *out, gl_error *err);
/* The normaliser alone (for tests): *out is malloc'd (may be NULL when *out_len is 0). */
gl_status elm_ugm_normalize(const elm_vocab *v, const char *text, size_t len, bool add_prefix,
                            char **out, size_t *out_len, gl_error *err);
/* Whether a precompiled_charsmap blob has a consistent header. */
bool elm_ugm_charsmap_valid(const uint8_t *blob, uint64_t len);

/* WordPiece (tok_wpm.c): Hugging Face's basic tokenizer + WordPiece on text without special
 * tokens; elm_wpm_init sets the settings, the spelling and [CLS]/[SEP]/[MASK]/[UNK]/[PAD]. */
gl_status elm_wpm_tokenize(const elm_vocab *v, const char *text, size_t len, elm_ids *out,
                           gl_error *err);
void elm_wpm_init(elm_vocab *v, const elm_vocab_desc *d);

/* Pre-tokenizer alone (for tests): splits text into words; calls fn(user, start, end) with
 * byte offsets. Returns GL_OK or GL_ERR_NOMEM. */
typedef void (*elm_pretok_fn)(void *user, size_t start, size_t end);
gl_status elm_bpe_pretokenize(elm_bpe_pre pre, const char *text, size_t len, elm_pretok_fn fn,
                              void *user);

#endif /* EDGELM_VOCAB_IMPL_H */
