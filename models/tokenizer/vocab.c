/*
 * vocab.c — vocabularies: building one from arrays or from a GGUF file's tokenizer.ggml.*
 * keys, token lookup (hash map over texts that stay in the mapped file), special tokens
 * written in the text, piece decoding and the streaming detokenizer. The tokenizer cores are
 * in tok_spm.c (SentencePiece BPE) and tok_bpe.c (byte-level BPE).
 */
#include "alloc.h"
#include "unicode.h"
#include "vocab_impl.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * small helpers
 * ---------------------------------------------------------------------------------------- */

bool elm_ids_push(elm_ids *ids, int32_t id) {
    if (ids->oom) return false;
    if (ids->n == ids->cap) {
        int64_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *p = ELM_REALLOC(ids->v, (size_t)cap * sizeof *p);
        if (!p) {
            ids->oom = true;
            return false;
        }
        ids->v = p;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return true;
}

static uint32_t vocab_pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n && c < (1u << 31)) c <<= 1;
    return c;
}

/* ------------------------------------------------------------------------------------------
 * hash maps (open addressing, linear probing; keys are the texts themselves)
 * ---------------------------------------------------------------------------------------- */

int32_t elm_vocab_find(const elm_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return -1;
    uint32_t i = (uint32_t)elm_fnv(ELM_FNV_INIT, text, len) & v->tok_mask;
    for (;;) {
        int32_t id = v->tok_slots[i];
        if (id < 0) return -1;
        if (v->text[id].len == len && (len == 0 || memcmp(v->text[id].data, text, len) == 0))
            return id;
        i = (i + 1) & v->tok_mask;
    }
}

int32_t elm_vocab_find_merge(const elm_vocab *v, const char *l, size_t nl, const char *r,
                             size_t nr) {
    if (!v->merge_slots) return -1;
    uint64_t h = elm_fnv(ELM_FNV_INIT, l, nl);
    h = elm_fnv(h, " ", 1);
    h = elm_fnv(h, r, nr);
    uint32_t i = (uint32_t)h & v->merge_mask;
    for (;;) {
        int32_t m = v->merge_slots[i];
        if (m < 0) return -1;
        const gl_str *s = &v->merges[m];
        if (s->len == nl + 1 + nr && memcmp(s->data, l, nl) == 0 && s->data[nl] == ' ' &&
            memcmp(s->data + nl + 1, r, nr) == 0)
            return m;
        i = (i + 1) & v->merge_mask;
    }
}

static gl_status vocab_build_token_map(elm_vocab *v, gl_error *err) {
    uint32_t cap = vocab_pow2_at_least((uint64_t)v->n_tokens * 2);
    v->tok_slots = ELM_MALLOC((size_t)cap * sizeof *v->tok_slots);
    if (!v->tok_slots) return gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
    memset(v->tok_slots, 0xff, (size_t)cap * sizeof *v->tok_slots);
    v->tok_mask = cap - 1;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const gl_str *t = &v->text[id];
        uint32_t i = (uint32_t)elm_fnv(ELM_FNV_INIT, t->data, t->len) & v->tok_mask;
        bool dup = false;
        while (v->tok_slots[i] >= 0) {
            const gl_str *o = &v->text[v->tok_slots[i]];
            if (o->len == t->len && (t->len == 0 || memcmp(o->data, t->data, t->len) == 0)) {
                dup = true; /* a repeated text keeps its first (lowest) id */
                break;
            }
            i = (i + 1) & v->tok_mask;
        }
        if (!dup) v->tok_slots[i] = id;
    }
    return GL_OK;
}

static gl_status vocab_build_merge_map(elm_vocab *v, gl_error *err) {
    if (v->n_merges == 0) return GL_OK;
    uint32_t cap = vocab_pow2_at_least((uint64_t)v->n_merges * 2);
    v->merge_slots = ELM_MALLOC((size_t)cap * sizeof *v->merge_slots);
    if (!v->merge_slots) return gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
    memset(v->merge_slots, 0xff, (size_t)cap * sizeof *v->merge_slots);
    v->merge_mask = cap - 1;
    for (int64_t m = 0; m < v->n_merges; m++) {
        const gl_str *s = &v->merges[m];
        uint32_t i = (uint32_t)elm_fnv(ELM_FNV_INIT, s->data, s->len) & v->merge_mask;
        bool dup = false;
        while (v->merge_slots[i] >= 0) {
            const gl_str *o = &v->merges[v->merge_slots[i]];
            if (o->len == s->len && memcmp(o->data, s->data, s->len) == 0) {
                dup = true; /* the earlier rule has the better rank */
                break;
            }
            i = (i + 1) & v->merge_mask;
        }
        if (!dup) v->merge_slots[i] = (int32_t)m;
    }
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * construction
 * ---------------------------------------------------------------------------------------- */

void elm_vocab_desc_init(elm_vocab_desc *d) {
    memset(d, 0, sizeof *d);
    d->bos = d->eos = d->eot = d->eom = d->unk = d->pad = d->sep = d->cls = d->mask =
        ELM_VOCAB_ID_DEFAULT;
    d->add_bos = d->add_eos = d->add_sep = d->add_space_prefix = -1;
    d->remove_extra_ws = -1;
    d->wpm_lower = d->wpm_strip_accents = d->wpm_chinese = d->wpm_max_chars = -1;
}

static bool vocab_pre_from_name(const char *name, elm_bpe_pre *pre, const char **canon) {
    static const struct {
        const char *name;
        elm_bpe_pre pre;
        const char *canon;
    } table[] = {
        {"gpt-2", ELM_PRE_GPT2, "gpt-2"},       {"gpt2", ELM_PRE_GPT2, "gpt-2"},
        {"default", ELM_PRE_GPT2, "gpt-2"},     {"", ELM_PRE_GPT2, "gpt-2"},
        {"llama3", ELM_PRE_LLAMA3, "llama3"},   {"llama-bpe", ELM_PRE_LLAMA3, "llama3"},
        {"llama-v3", ELM_PRE_LLAMA3, "llama3"}, {"qwen2", ELM_PRE_QWEN2, "qwen2"},
        {"smollm", ELM_PRE_SMOLLM, "smollm"},   {"starcoder", ELM_PRE_SMOLLM, "smollm"},
        {"refact", ELM_PRE_SMOLLM, "smollm"},
    };
    if (!name) name = "";
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!strcmp(name, table[i].name)) {
            *pre = table[i].pre;
            *canon = table[i].canon;
            return true;
        }
    }
    return false;
}

static int32_t vocab_pick_id(int32_t given, int32_t dflt, int32_t n) {
    int32_t id = given == ELM_VOCAB_ID_DEFAULT ? dflt : given;
    return id >= 0 && id < n ? id : -1;
}

/* A special id the file gives must name a token (-1: none); a default may be absent. */
static gl_status vocab_check_given_id(int32_t given, const char *what, int32_t n, gl_error *err) {
    if (given == ELM_VOCAB_ID_DEFAULT || given < 0 || given < n) return GL_OK;
    return gl_error_set(err, GL_ERR_FORMAT, "vocabulary: the %s token id %d is outside the vocabulary of %d tokens",
                        what, given, n);
}

/* GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68
 * bytes (controls, space, DEL, NBSP, soft hyphen …) take the code points 256, 257, … in
 * byte order. */
static void vocab_init_byte_level(elm_vocab *v) {
    int next = 256;
    for (int i = 0; i < 512; i++) v->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        v->byte_cp[b] = (uint16_t)(printable ? b : next++);
        v->cp_byte[v->byte_cp[b]] = (int16_t)b;
    }
    for (int b = 0; b < 256; b++) {
        char u[4];
        int n = elm_utf8_encode(v->byte_cp[b], u);
        v->byte_id[b] = elm_vocab_find(v, u, (size_t)n);
    }
}

/* spm_word_split (vocab_impl.h): true when no piece holds "▁" after a byte that ends no "▁". */
static void vocab_init_spm_word_split(elm_vocab *v) {
    v->spm_word_split = true;
    for (int32_t id = 0; id < v->n_tokens && v->spm_word_split; id++) {
        const gl_str *t = &v->text[id];
        for (size_t i = 1; i + 3 <= t->len; i++)
            if (memcmp(t->data + i, "\xE2\x96\x81", 3) == 0 &&
                (i < 3 || memcmp(t->data + i - 3, "\xE2\x96\x81", 3) != 0)) {
                v->spm_word_split = false;
                break;
            }
    }
}

static void vocab_init_byte_tokens_spm(elm_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char t[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        v->byte_id[b] = elm_vocab_find(v, t, 6);
    }
}

/* Every byte has a token (byte-level BPE alphabet or SentencePiece <0xHH> pieces): any text
 * can be represented without an unknown token. */
static bool vocab_covers_all_bytes(const elm_vocab *v) {
    if (v->kind != ELM_VOCAB_BPE && v->kind != ELM_VOCAB_SPM) return false;
    for (int b = 0; b < 256; b++)
        if (v->byte_id[b] < 0) return false;
    return true;
}

static bool vocab_is_special_type(int t) {
    return t == ELM_TOKEN_CONTROL || t == ELM_TOKEN_USER_DEFINED || t == ELM_TOKEN_UNKNOWN;
}

/* Special tokens for parse_special: grouped by first byte, longest first inside a group so
 * that the first match found at a position is the longest. Sorted through keys that carry
 * what the order needs, so that plain qsort (no context argument in C11) will do. */
typedef struct vocab_special_key {
    uint64_t len;
    int32_t id;
    unsigned char first;
} vocab_special_key;

static int vocab_special_cmp(const void *a, const void *b) {
    const vocab_special_key *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool vocab_sort_specials(elm_vocab *v, int32_t *a, int32_t n) {
    vocab_special_key *k = ELM_MALLOC((size_t)(n ? n : 1) * sizeof *k);
    if (!k) return false;
    for (int32_t i = 0; i < n; i++)
        k[i] = (vocab_special_key){v->text[a[i]].len, a[i], (unsigned char)v->text[a[i]].data[0]};
    qsort(k, (size_t)n, sizeof *k, vocab_special_cmp);
    for (int32_t i = 0; i < n; i++) a[i] = k[i].id;
    ELM_FREE(k);
    return true;
}

/* Recognised in text: control, user-defined and unknown tokens, and the model's special ids
 * whatever their type (Hugging Face treats bos/eos/unk/pad … as special tokens even when a
 * vocabulary file such as GPT-2's encoder.json does not mark them). */
static bool vocab_is_parsed_special(const elm_vocab *v, int32_t id) {
    if (v->text[id].len == 0) return false;
    if (vocab_is_special_type(v->type[id])) return true;
    return id == v->bos || id == v->eos || id == v->eot || id == v->eom || id == v->unk ||
           id == v->pad || id == v->sep || id == v->cls || id == v->mask;
}

static gl_status vocab_build_specials(elm_vocab *v, gl_error *err) {
    int32_t n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (vocab_is_parsed_special(v, id)) n++;
    v->special = ELM_MALLOC((size_t)(n ? n : 1) * sizeof *v->special);
    if (!v->special) return gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
    int32_t k = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (vocab_is_parsed_special(v, id)) v->special[k++] = id;
    if (!vocab_sort_specials(v, v->special, n))
        return gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
    /* special_start[b] .. special_start[b+1]: the group of first byte b. */
    int32_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < n && (unsigned char)v->text[v->special[j]].data[0] < b) j++;
        v->special_start[b] = j;
    }
    v->special_start[256] = n;
    return GL_OK;
}

/* End-of-generation tokens, found by their text as llama.cpp b10573's vocabulary loader does
 * (whatever the file's token type says: such a token is made a control token, so that it is
 * parsed as special and not printed). The first ones name the end of a chat turn, in the
 * order the end-of-turn id is chosen when the file gives none. */
static const char *const vocab_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xEF\xBD\234end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>",
};
static const char *const vocab_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\234end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~[",
};

static void vocab_add_eog(elm_vocab *v, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    if (v->n_eog < ELM_MAX_EOG) v->eog[v->n_eog++] = id;
}

static int32_t vocab_find_text(const elm_vocab *v, const char *text) {
    return elm_vocab_find(v, text, strlen(text));
}

/* Before the special-token table is built: the texts above become control tokens. */
static void vocab_init_eog(elm_vocab *v) {
    if (v->eot < 0) {
        for (size_t i = 0; i < sizeof vocab_eot_texts / sizeof vocab_eot_texts[0] && v->eot < 0; i++)
            v->eot = vocab_find_text(v, vocab_eot_texts[i]);
    }
    if (v->eom < 0) v->eom = vocab_find_text(v, "<|eom_id|>");
    for (size_t i = 0; i < sizeof vocab_eog_texts / sizeof vocab_eog_texts[0]; i++) {
        int32_t id = vocab_find_text(v, vocab_eog_texts[i]);
        if (id < 0) continue;
        vocab_add_eog(v, id);
        v->type[id] = ELM_TOKEN_CONTROL;
    }
    if (v->eot >= 0) v->type[v->eot] = ELM_TOKEN_CONTROL;
    if (v->eom >= 0) v->type[v->eom] = ELM_TOKEN_CONTROL;
    vocab_add_eog(v, v->eos);
    vocab_add_eog(v, v->eot);
    vocab_add_eog(v, v->eom);
    /* gpt-oss (and solar-open) end a tool call or a final answer with <|call|> / <|return|>
     * (<|calls|> / <|flush|>); their <|end|> only closes a message and does not stop. */
    const int32_t end = vocab_find_text(v, "<|end|>");
    const bool harmony = (vocab_find_text(v, "<|return|>") >= 0 && vocab_find_text(v, "<|call|>") >= 0) ||
                         (vocab_find_text(v, "<|calls|>") >= 0 && vocab_find_text(v, "<|flush|>") >= 0);
    if (harmony && end >= 0) {
        for (int i = 0; i < v->n_eog; i++) {
            if (v->eog[i] == end) {
                v->eog[i] = v->eog[--v->n_eog];
                break;
            }
        }
    }
}

int32_t elm_vocab_eog_ids(const elm_vocab *v, const int32_t **ids) {
    *ids = v->eog;
    return v->n_eog;
}

elm_vocab *elm_vocab_new(const elm_vocab_desc *d, gl_error *err) {
    if (!d || d->n_tokens <= 0 || !d->tokens) {
        gl_error_set(err, GL_ERR_INVALID, "vocabulary: no tokens");
        return NULL;
    }
    if (d->kind < ELM_VOCAB_SPM || d->kind > ELM_VOCAB_UGM) {
        gl_error_set(err, GL_ERR_INVALID, "vocabulary: unknown tokenizer kind %d", (int)d->kind);
        return NULL;
    }
    elm_vocab *v = ELM_CALLOC(1, sizeof *v);
    if (!v) {
        gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
        return NULL;
    }
    v->kind = d->kind;
    v->n_tokens = d->n_tokens;
    v->pre_name = "";
    size_t n = (size_t)d->n_tokens;
    v->text = ELM_MALLOC(n * sizeof *v->text);
    v->score = ELM_MALLOC(n * sizeof *v->score);
    v->type = ELM_MALLOC(n);
    if (!v->text || !v->score || !v->type) {
        gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        v->text[i] = d->tokens[i];
        if (!v->text[i].data) v->text[i].len = 0;
        if (!v->text[i].data) v->text[i].data = "";
        if (v->text[i].len > INT32_MAX / 2) {
            gl_error_set(err, GL_ERR_FORMAT, "vocabulary: token %zu is too long", i);
            goto fail;
        }
        if ((int32_t)v->text[i].len > v->max_token_len) v->max_token_len = (int32_t)v->text[i].len;
        v->score[i] = d->scores ? d->scores[i] : 0.0f;
        int32_t t = d->types ? d->types[i] : ELM_TOKEN_NORMAL;
        v->type[i] = (uint8_t)(t >= ELM_TOKEN_NORMAL && t <= ELM_TOKEN_BYTE ? t : ELM_TOKEN_NORMAL);
    }
    if (vocab_build_token_map(v, err) != GL_OK) goto fail;

    if (v->kind == ELM_VOCAB_BPE) {
        if (!vocab_pre_from_name(d->pre, &v->pre, &v->pre_name)) {
            gl_error_set(err, GL_ERR_UNSUPPORTED,
                         "vocabulary: unknown BPE pre-tokenizer '%s' (known: gpt-2, default, "
                         "llama3, llama-bpe, qwen2, smollm, starcoder, refact)",
                         d->pre);
            goto fail;
        }
        v->ignore_merges = v->pre == ELM_PRE_LLAMA3;
        if (d->n_merges <= 0 || !d->merges) {
            gl_error_set(err, GL_ERR_FORMAT, "vocabulary: BPE model without merges");
            goto fail;
        }
        if (d->n_merges > INT32_MAX) {
            gl_error_set(err, GL_ERR_FORMAT, "vocabulary: too many merges");
            goto fail;
        }
        v->n_merges = d->n_merges;
        v->merges = ELM_MALLOC((size_t)d->n_merges * sizeof *v->merges);
        if (!v->merges) {
            gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
            goto fail;
        }
        for (int64_t i = 0; i < d->n_merges; i++) {
            v->merges[i] = d->merges[i];
            if (!v->merges[i].data) v->merges[i] = (gl_str){"", 0};
        }
        if (vocab_build_merge_map(v, err) != GL_OK) goto fail;
        vocab_init_byte_level(v);
    } else if (v->kind == ELM_VOCAB_SPM) {
        vocab_init_byte_tokens_spm(v);
        vocab_init_spm_word_split(v);
    } else {
        for (int b = 0; b < 256; b++) v->byte_id[b] = -1;
    }

    bool spm = v->kind == ELM_VOCAB_SPM;
    bool ugm = v->kind == ELM_VOCAB_UGM; /* llama.cpp's t5 defaults: eos 1, unk 2, pad 0 */
    int32_t eot_text = -1;
    if (v->kind == ELM_VOCAB_BPE) eot_text = elm_vocab_find(v, "<|endoftext|>", 13);
    {
        const int32_t given[] = {d->bos, d->eos, d->unk, d->eot, d->eom, d->pad, d->sep, d->cls, d->mask};
        static const char *const names[] = {"BOS", "EOS", "unknown", "end-of-turn", "end-of-message",
                                            "padding", "separator", "CLS", "mask"};
        for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
            if (vocab_check_given_id(given[i], names[i], v->n_tokens, err) != GL_OK) goto fail;
    }
    v->bos = vocab_pick_id(d->bos, spm ? 1 : ugm ? -1 : eot_text, v->n_tokens);
    v->eos = vocab_pick_id(d->eos, spm ? 2 : ugm ? 1 : eot_text, v->n_tokens);
    v->unk = vocab_pick_id(d->unk, spm ? 0 : ugm ? 2 : -1, v->n_tokens);
    v->eot = vocab_pick_id(d->eot, -1, v->n_tokens);
    v->eom = vocab_pick_id(d->eom, -1, v->n_tokens);
    v->pad = vocab_pick_id(d->pad, ugm ? 0 : -1, v->n_tokens);
    v->sep = vocab_pick_id(d->sep, -1, v->n_tokens);
    v->cls = vocab_pick_id(d->cls, -1, v->n_tokens);
    v->mask = vocab_pick_id(d->mask, -1, v->n_tokens);
    v->add_bos = d->add_bos < 0 ? spm : d->add_bos != 0;
    v->add_eos = d->add_eos < 0 ? ugm : d->add_eos != 0;
    v->add_sep = d->add_sep < 0 ? false : d->add_sep != 0;
    v->add_space_prefix = d->add_space_prefix < 0 ? spm || ugm : d->add_space_prefix != 0;
    if (ugm) {
        v->remove_extra_ws = d->remove_extra_ws != 0; /* -1 (default) = on */
        if (d->charsmap && d->charsmap_len > 0) {
            if (!elm_ugm_charsmap_valid(d->charsmap, d->charsmap_len)) {
                gl_error_set(err, GL_ERR_FORMAT, "vocabulary: malformed precompiled_charsmap");
                goto fail;
            }
            v->charsmap = d->charsmap;
            v->charsmap_len = d->charsmap_len;
        }
    }

    if (v->kind == ELM_VOCAB_WPM) elm_wpm_init(v, d);
    vocab_init_eog(v);
    if (vocab_build_specials(v, err) != GL_OK) goto fail;
    if (v->unk < 0 && v->kind != ELM_VOCAB_BPE && !vocab_covers_all_bytes(v)) {
        /* (BPE vocabularies without <unk>: the tokenizer reports text it cannot represent) */
        /* without either, text outside the vocabulary would be dropped without a word */
        gl_error_set(err, GL_ERR_FORMAT,
                     "vocabulary: no unknown token, and not every byte has a token: text outside the "
                     "vocabulary could not be represented");
        goto fail;
    }
    return v;
fail:
    elm_vocab_free(v);
    return NULL;
}

void elm_vocab_free(elm_vocab *v) {
    if (!v) return;
    ELM_FREE(v->text);
    ELM_FREE(v->score);
    ELM_FREE(v->type);
    ELM_FREE(v->tok_slots);
    ELM_FREE(v->merges);
    ELM_FREE(v->merge_slots);
    ELM_FREE(v->special);
    ELM_FREE(v);
}

/* ------------------------------------------------------------------------------------------
 * loading from GGUF
 * ---------------------------------------------------------------------------------------- */

static int32_t vocab_gguf_id(const gl_gguf *f, const char *key) {
    int64_t i = gl_gguf_find_key(f, key);
    if (i < 0) return ELM_VOCAB_ID_DEFAULT;
    int64_t x;
    if (!gl_gguf_get_i64(f, i, &x)) return ELM_VOCAB_ID_DEFAULT;
    /* 0xFFFFFFFF (uint32 -1) and other out-of-range values mean "none". */
    return x >= 0 && x <= INT32_MAX ? (int32_t)x : -1;
}

static int vocab_gguf_flag(const gl_gguf *f, const char *key) {
    int64_t i = gl_gguf_find_key(f, key);
    bool b;
    if (i < 0 || !gl_gguf_get_bool(f, i, &b)) return -1;
    return b ? 1 : 0;
}

elm_vocab *elm_vocab_load(const gl_gguf *f, gl_error *err) {
    elm_vocab *v = NULL;
    gl_str *tokens = NULL, *merges = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    char pre[64] = "";
    if (!f) {
        gl_error_set(err, GL_ERR_INVALID, "vocabulary: no file");
        return NULL;
    }
    elm_vocab_desc d;
    elm_vocab_desc_init(&d);

    int64_t km = gl_gguf_find_key(f, "tokenizer.ggml.model");
    if (km < 0 || gl_gguf_kv_type(f, km) != GL_GGUF_STRING) {
        gl_error_set(err, GL_ERR_FORMAT, "the file has no tokenizer (tokenizer.ggml.model is missing)");
        return NULL;
    }
    gl_str model = gl_gguf_get_str(f, km);
    if (gl_str_eq(model, "llama")) d.kind = ELM_VOCAB_SPM;
    else if (gl_str_eq(model, "gpt2")) d.kind = ELM_VOCAB_BPE;
    else if (gl_str_eq(model, "bert")) d.kind = ELM_VOCAB_WPM;
    else if (gl_str_eq(model, "t5")) d.kind = ELM_VOCAB_UGM;
    else {
        gl_error_set(err, GL_ERR_UNSUPPORTED,
                     "unsupported tokenizer model '%.*s' (known: llama, gpt2, bert, t5)",
                     (int)(model.len > 64 ? 64 : model.len), model.data);
        return NULL;
    }

    int64_t kt = gl_gguf_find_key(f, "tokenizer.ggml.tokens");
    if (kt < 0 || gl_gguf_kv_type(f, kt) != GL_GGUF_ARRAY || gl_gguf_arr_type(f, kt) != GL_GGUF_STRING) {
        gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.tokens is missing or not a string array");
        return NULL;
    }
    uint64_t n = gl_gguf_arr_n(f, kt);
    if (n == 0 || n > INT32_MAX) {
        gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries",
                     (unsigned long long)n);
        return NULL;
    }
    d.n_tokens = (int32_t)n;
    tokens = ELM_MALLOC((size_t)n * sizeof *tokens);
    if (!tokens) goto oom;
    for (uint64_t j = 0; j < n; j++) tokens[j] = gl_gguf_arr_str(f, kt, j);
    d.tokens = tokens;

    int64_t ks = gl_gguf_find_key(f, "tokenizer.ggml.scores");
    if (ks >= 0) {
        if (gl_gguf_kv_type(f, ks) != GL_GGUF_ARRAY || gl_gguf_arr_n(f, ks) != n) {
            gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.scores does not have one score per token");
            goto fail;
        }
        scores = ELM_MALLOC((size_t)n * sizeof *scores);
        if (!scores) goto oom;
        for (uint64_t j = 0; j < n; j++) {
            double x;
            if (!gl_gguf_arr_get_f64(f, ks, j, &x)) {
                gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.scores is not numeric");
                goto fail;
            }
            scores[j] = (float)x;
        }
        d.scores = scores;
    }
    int64_t ky = gl_gguf_find_key(f, "tokenizer.ggml.token_type");
    if (ky >= 0) {
        if (gl_gguf_kv_type(f, ky) != GL_GGUF_ARRAY || gl_gguf_arr_n(f, ky) != n) {
            gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.token_type does not have one type per token");
            goto fail;
        }
        types = ELM_MALLOC((size_t)n * sizeof *types);
        if (!types) goto oom;
        for (uint64_t j = 0; j < n; j++) {
            int64_t x;
            if (!gl_gguf_arr_get_i64(f, ky, j, &x)) {
                gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.token_type is not an integer array");
                goto fail;
            }
            types[j] = x >= INT32_MIN && x <= INT32_MAX ? (int32_t)x : 0;
        }
        d.types = types;
    }
    int64_t kg = gl_gguf_find_key(f, "tokenizer.ggml.merges");
    if (kg >= 0 && gl_gguf_kv_type(f, kg) == GL_GGUF_ARRAY && gl_gguf_arr_type(f, kg) == GL_GGUF_STRING) {
        uint64_t nm = gl_gguf_arr_n(f, kg);
        if (nm > INT32_MAX) {
            gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.merges has too many entries");
            goto fail;
        }
        if (nm > 0) {
            merges = ELM_MALLOC((size_t)nm * sizeof *merges);
            if (!merges) goto oom;
            for (uint64_t j = 0; j < nm; j++) merges[j] = gl_gguf_arr_str(f, kg, j);
        }
        d.n_merges = (int64_t)nm;
        d.merges = merges;
    }
    int64_t kp = gl_gguf_find_key(f, "tokenizer.ggml.pre");
    if (kp >= 0 && gl_gguf_kv_type(f, kp) == GL_GGUF_STRING) {
        gl_str s = gl_gguf_get_str(f, kp);
        size_t l = s.len < sizeof pre - 1 ? (size_t)s.len : sizeof pre - 1;
        memcpy(pre, s.data, l);
        pre[l] = '\0';
    }
    d.pre = pre;

    d.bos = vocab_gguf_id(f, "tokenizer.ggml.bos_token_id");
    d.eos = vocab_gguf_id(f, "tokenizer.ggml.eos_token_id");
    d.eot = vocab_gguf_id(f, "tokenizer.ggml.eot_token_id");
    d.eom = vocab_gguf_id(f, "tokenizer.ggml.eom_token_id");
    d.unk = vocab_gguf_id(f, "tokenizer.ggml.unknown_token_id");
    d.pad = vocab_gguf_id(f, "tokenizer.ggml.padding_token_id");
    d.sep = vocab_gguf_id(f, "tokenizer.ggml.seperator_token_id"); /* llama.cpp's spelling */
    if (d.sep == ELM_VOCAB_ID_DEFAULT) d.sep = vocab_gguf_id(f, "tokenizer.ggml.separator_token_id");
    d.cls = vocab_gguf_id(f, "tokenizer.ggml.cls_token_id");
    d.mask = vocab_gguf_id(f, "tokenizer.ggml.mask_token_id");
    d.add_bos = vocab_gguf_flag(f, "tokenizer.ggml.add_bos_token");
    d.add_eos = vocab_gguf_flag(f, "tokenizer.ggml.add_eos_token");
    d.add_sep = vocab_gguf_flag(f, "tokenizer.ggml.add_sep_token");
    d.add_space_prefix = vocab_gguf_flag(f, "tokenizer.ggml.add_space_prefix");
    d.remove_extra_ws = vocab_gguf_flag(f, "tokenizer.ggml.remove_extra_whitespaces");
    d.wpm_lower = vocab_gguf_flag(f, "edgelm.tokenizer.do_lower_case");
    d.wpm_strip_accents = vocab_gguf_flag(f, "edgelm.tokenizer.strip_accents");
    d.wpm_chinese = vocab_gguf_flag(f, "edgelm.tokenizer.tokenize_chinese_chars");
    int32_t max_chars = vocab_gguf_id(f, "edgelm.tokenizer.max_input_chars_per_word");
    d.wpm_max_chars = max_chars > 0 ? max_chars : -1;
    int64_t kc = gl_gguf_find_key(f, "tokenizer.ggml.precompiled_charsmap");
    if (kc >= 0 && d.kind == ELM_VOCAB_UGM) {
        gl_gguf_type et = gl_gguf_arr_type(f, kc);
        if (gl_gguf_kv_type(f, kc) != GL_GGUF_ARRAY || (et != GL_GGUF_UINT8 && et != GL_GGUF_INT8)) {
            gl_error_set(err, GL_ERR_FORMAT, "tokenizer.ggml.precompiled_charsmap is not a byte array");
            goto fail;
        }
        d.charsmap = gl_gguf_arr_data(f, kc);
        d.charsmap_len = gl_gguf_arr_n(f, kc);
    }

    v = elm_vocab_new(&d, err);
    /* The vocabulary copied the arrays; the pre-tokenizer name is canonicalised to a static
     * string, so nothing here needs to outlive this call except the file itself. */
    ELM_FREE(tokens);
    ELM_FREE(merges);
    ELM_FREE(scores);
    ELM_FREE(types);
    return v;
oom:
    gl_error_set(err, GL_ERR_NOMEM, "vocabulary: out of memory");
fail:
    ELM_FREE(tokens);
    ELM_FREE(merges);
    ELM_FREE(scores);
    ELM_FREE(types);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * accessors
 * ---------------------------------------------------------------------------------------- */

elm_vocab_kind elm_vocab_type(const elm_vocab *v) { return v->kind; }
int32_t elm_vocab_n_tokens(const elm_vocab *v) { return v->n_tokens; }
int32_t elm_vocab_bos(const elm_vocab *v) { return v->bos; }
int32_t elm_vocab_eos(const elm_vocab *v) { return v->eos; }
int32_t elm_vocab_eot(const elm_vocab *v) { return v->eot >= 0 ? v->eot : v->eos; }
int32_t elm_vocab_unk(const elm_vocab *v) { return v->unk; }
int32_t elm_vocab_pad(const elm_vocab *v) { return v->pad; }
int32_t elm_vocab_sep(const elm_vocab *v) { return v->sep; }
int32_t elm_vocab_cls(const elm_vocab *v) { return v->cls; }
int32_t elm_vocab_mask(const elm_vocab *v) { return v->mask; }
const char *elm_vocab_pre(const elm_vocab *v) { return v->pre_name; }
bool elm_vocab_add_bos(const elm_vocab *v) { return v->add_bos; }
bool elm_vocab_add_eos(const elm_vocab *v) { return v->add_eos; }

bool elm_vocab_is_eog(const elm_vocab *v, int32_t id) {
    if (id < 0) return false;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

int32_t elm_vocab_token_type(const elm_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->type[id] : 0;
}

gl_str elm_vocab_token_text(const elm_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_tokens) return (gl_str){"", 0};
    return v->text[id];
}

/* ------------------------------------------------------------------------------------------
 * tokenizing: special tokens first, the cores for the text between them
 * ---------------------------------------------------------------------------------------- */

/* The longest special token starting at text[i], or -1. */
static int32_t vocab_match_special(const elm_vocab *v, const char *text, size_t len, size_t i) {
    unsigned char b = (unsigned char)text[i];
    for (int32_t k = v->special_start[b]; k < v->special_start[b + 1]; k++) {
        const gl_str *t = &v->text[v->special[k]];
        if (t->len <= len - i && memcmp(text + i, t->data, t->len) == 0) return v->special[k];
    }
    return -1;
}

static gl_status vocab_tokenize_raw(const elm_vocab *v, const char *text, size_t len,
                                    bool at_text_start, elm_ids *out, gl_error *err) {
    if (len == 0) return GL_OK;
    if (v->kind == ELM_VOCAB_SPM)
        return elm_spm_tokenize(v, text, len, v->add_space_prefix && at_text_start, out, err);
    if (v->kind == ELM_VOCAB_UGM)
        return elm_ugm_tokenize(v, text, len, v->add_space_prefix && at_text_start, out, err);
    if (v->kind == ELM_VOCAB_WPM) return elm_wpm_tokenize(v, text, len, out, err);
    return elm_bpe_tokenize(v, text, len, out, err);
}

int64_t elm_tokenize(const elm_vocab *v, const char *text, size_t len, int32_t *ids,
                     int64_t max_ids, bool add_special, bool parse_special, gl_error *err) {
    if (!v || (!text && len) || (max_ids > 0 && !ids) || max_ids < 0)
        return gl_error_set(err, GL_ERR_INVALID, "elm_tokenize: invalid arguments");
    if (len > ELM_TOKENIZE_MAX_BYTES)
        return gl_error_set(err, GL_ERR_INVALID,
                            "tokenizer: a text of %zu bytes is over the limit of %zu MiB per call: split it "
                            "(at line or paragraph breaks)",
                            len, ELM_TOKENIZE_MAX_BYTES >> 20);
    elm_ids out = {0};
    gl_status st = GL_OK;
    bool wpm = v->kind == ELM_VOCAB_WPM; /* [CLS] text [SEP], whatever the add_* flags say */
    if (add_special && wpm && v->cls >= 0) elm_ids_push(&out, v->cls);
    if (add_special && !wpm && v->add_bos && v->bos >= 0) elm_ids_push(&out, v->bos);

    /* Split out special tokens (longest match at each position), tokenize the rest. */
    size_t start = 0;
    if (parse_special && v->special_start[256] > 0) {
        for (size_t i = 0; i < len && st == GL_OK;) {
            int32_t id = vocab_match_special(v, text, len, i);
            if (id < 0) {
                i++;
                continue;
            }
            st = vocab_tokenize_raw(v, text + start, i - start, start == 0, &out, err);
            elm_ids_push(&out, id);
            i += v->text[id].len;
            start = i;
        }
    }
    if (st == GL_OK) st = vocab_tokenize_raw(v, text + start, len - start, start == 0, &out, err);
    if (st == GL_OK && add_special && !wpm && v->add_eos && v->eos >= 0) elm_ids_push(&out, v->eos);
    if (st == GL_OK && add_special && (wpm || v->add_sep) && v->sep >= 0) elm_ids_push(&out, v->sep);
    if (st == GL_OK && out.oom) st = gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    if (st != GL_OK) {
        ELM_FREE(out.v);
        return st;
    }
    int64_t n = out.n;
    if (n > 0 && max_ids > 0) memcpy(ids, out.v, (size_t)(n < max_ids ? n : max_ids) * sizeof *ids);
    ELM_FREE(out.v);
    return n;
}

/* ------------------------------------------------------------------------------------------
 * decoding
 * ---------------------------------------------------------------------------------------- */

static int vocab_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xHH>" -> the byte, else -1. */
static int vocab_byte_token_value(gl_str t) {
    if (t.len != 6 || memcmp(t.data, "<0x", 3) != 0 || t.data[5] != '>') return -1;
    int hi = vocab_hex(t.data[3]), lo = vocab_hex(t.data[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Copies n bytes at the running position; always counts, writes only what fits. */
static void vocab_put(char *buf, int32_t size, int32_t *pos, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++, (*pos)++)
        if (*pos < size) buf[*pos] = s[i];
}

int32_t elm_token_to_piece(const elm_vocab *v, int32_t id, char *buf, int32_t size,
                           bool render_special) {
    if (!v || id < 0 || id >= v->n_tokens) return 0;
    if (!buf) size = 0;
    gl_str t = v->text[id];
    int32_t pos = 0;
    switch (v->type[id]) {
    case ELM_TOKEN_CONTROL:
    case ELM_TOKEN_UNUSED:
        if (render_special) vocab_put(buf, size, &pos, t.data, t.len);
        return pos;
    case ELM_TOKEN_UNKNOWN:
    case ELM_TOKEN_USER_DEFINED:
        vocab_put(buf, size, &pos, t.data, t.len);
        return pos;
    case ELM_TOKEN_BYTE: {
        int b = vocab_byte_token_value(t);
        if (b >= 0) {
            char c = (char)b;
            vocab_put(buf, size, &pos, &c, 1);
            return pos;
        }
        break; /* not of the <0xHH> form: print it as a normal token */
    }
    default:
        break;
    }
    if (v->kind == ELM_VOCAB_BPE) {
        /* Byte-level: every character of the alphabet stands for one byte. */
        for (size_t i = 0; i < t.len;) {
            size_t adv;
            uint32_t cp = elm_utf8_decode(t.data + i, t.len - i, &adv);
            if (cp < 512 && v->cp_byte[cp] >= 0) {
                char c = (char)v->cp_byte[cp];
                vocab_put(buf, size, &pos, &c, 1);
            } else {
                vocab_put(buf, size, &pos, t.data + i, adv);
            }
            i += adv;
        }
        return pos;
    }
    if (v->kind == ELM_VOCAB_SPM || v->kind == ELM_VOCAB_UGM) {
        /* '▁' (U+2581) is how SentencePiece writes a space. */
        for (size_t i = 0; i < t.len;) {
            if (t.len - i >= 3 && memcmp(t.data + i, "\xE2\x96\x81", 3) == 0) {
                vocab_put(buf, size, &pos, " ", 1);
                i += 3;
            } else {
                vocab_put(buf, size, &pos, t.data + i, 1);
                i++;
            }
        }
        return pos;
    }
    if (v->kind == ELM_VOCAB_WPM) {
        /* A word start is preceded by a space, a continuation joins its word (what
         * BertTokenizer's decode does with " ##"); the phantom spelling says it with '▁'. */
        bool phantom_start = v->wpm_phantom && t.len >= 3 && !memcmp(t.data, "\xE2\x96\x81", 3);
        bool hash_cont = !v->wpm_phantom && t.len >= 2 && t.data[0] == '#' && t.data[1] == '#';
        if (phantom_start || (!v->wpm_phantom && !hash_cont)) vocab_put(buf, size, &pos, " ", 1);
        size_t skip = phantom_start ? 3 : hash_cont ? 2 : 0;
        vocab_put(buf, size, &pos, t.data + skip, t.len - skip);
        return pos;
    }
    vocab_put(buf, size, &pos, t.data, t.len);
    return pos;
}

/* ------------------------------------------------------------------------------------------
 * streaming detokenizer
 * ---------------------------------------------------------------------------------------- */

void elm_detok_init(elm_detok *d, const elm_vocab *v, bool render_special) {
    memset(d, 0, sizeof *d);
    d->vocab = v;
    d->at_start = true;
    d->render_special = render_special;
}

/* Emits the pending bytes as U+FFFD (one per maximal invalid prefix, as Python's
 * errors="replace" does for a truncated sequence). */
static bool detok_emit(char *out, int32_t cap, int32_t *pos, const char *s, int32_t n) {
    if (*pos + n > cap) return false;
    memcpy(out + *pos, s, (size_t)n);
    *pos += n;
    return true;
}

/* Feeds bytes through the UTF-8 assembler; complete characters go to out. */
static bool detok_feed(elm_detok *d, const char *s, int32_t n, char *out, int32_t cap,
                       int32_t *pos) {
    static const char repl[3] = {'\xEF', '\xBF', '\xBD'};
    for (int32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (d->n_pending > 0) {
            int need = elm_utf8_seq_len((unsigned char)d->pending[0]);
            /* Second bytes of E0/ED/F0/F4 sequences have narrower ranges (no overlongs,
             * surrogates or code points past U+10FFFF). */
            unsigned char lead = (unsigned char)d->pending[0];
            bool ok = (c & 0xC0) == 0x80;
            if (ok && d->n_pending == 1) {
                if (lead == 0xE0) ok = c >= 0xA0;
                else if (lead == 0xED) ok = c < 0xA0;
                else if (lead == 0xF0) ok = c >= 0x90;
                else if (lead == 0xF4) ok = c < 0x90;
            }
            if (ok) {
                d->pending[d->n_pending++] = (char)c;
                if (d->n_pending == need) {
                    if (!detok_emit(out, cap, pos, d->pending, need)) return false;
                    d->n_pending = 0;
                }
                continue;
            }
            /* The sequence broke off: replace it, then look at c afresh. */
            if (!detok_emit(out, cap, pos, repl, 3)) return false;
            d->n_pending = 0;
        }
        int len = elm_utf8_seq_len(c);
        if (len == 1) {
            if (!detok_emit(out, cap, pos, (const char *)&s[i], 1)) return false;
        } else if (len == 0) {
            if (!detok_emit(out, cap, pos, repl, 3)) return false;
        } else {
            d->pending[0] = (char)c;
            d->n_pending = 1;
        }
    }
    return true;
}

int32_t elm_detok_push(elm_detok *d, int32_t id, char *out, int32_t cap) {
    const elm_vocab *v = d->vocab;
    if (!v || (!out && cap > 0) || cap < 0) return GL_ERR_INVALID;
    elm_detok saved = *d;
    if (id == v->bos && v->bos >= 0) {
        d->at_start = true;
        if (!d->render_special) return 0;
    }
    char small[256];
    char *piece = small;
    int32_t n = elm_token_to_piece(v, id, small, (int32_t)sizeof small, d->render_special);
    if (n > (int32_t)sizeof small) {
        piece = ELM_MALLOC((size_t)n);
        if (!piece) return GL_ERR_NOMEM;
        elm_token_to_piece(v, id, piece, n, d->render_special);
    }
    int32_t skip = 0;
    bool strip = d->at_start && id != v->bos &&
                 (v->kind == ELM_VOCAB_SPM || v->kind == ELM_VOCAB_UGM) && v->add_space_prefix &&
                 id >= 0 && id < v->n_tokens && v->type[id] == ELM_TOKEN_NORMAL;
    if (strip && n > 0 && piece[0] == ' ') skip = 1;
    if (id != v->bos) d->at_start = false;
    int32_t pos = 0;
    bool ok = detok_feed(d, piece + skip, n - skip, out, cap, &pos);
    if (piece != small) ELM_FREE(piece);
    if (!ok) {
        *d = saved;
        return GL_ERR_INVALID;
    }
    return pos;
}

int32_t elm_detok_flush(elm_detok *d, char *out, int32_t cap) {
    if (d->n_pending == 0) return 0;
    if (!out || cap < 3) return GL_ERR_INVALID;
    memcpy(out, "\xEF\xBF\xBD", 3);
    d->n_pending = 0;
    return 3;
}
