/*
 * tok_ugm.c — SentencePiece unigram (tokenizer.ggml.model "t5").
 *
 * Two stages, as SentencePiece runs them:
 *
 * 1. Normalisation. The precompiled charsmap (tokenizer.ggml.precompiled_charsmap, copied
 *    verbatim from the spiece.model / tokenizer.json) is a blob
 *        u32 trie_bytes | double-array trie (trie_bytes / 4 units) | replacement strings
 *    The trie maps input byte strings to offsets of NUL-terminated replacements (this is how
 *    "nmt_nfkc" encodes NFKC plus its control-character rules: tab and newline become a space,
 *    full-width forms fold, and so on). At each position the LONGEST match is replaced; with no
 *    match one UTF-8 character is copied (an invalid byte becomes U+FFFD). On top of that:
 *    remove_extra_whitespaces drops leading spaces, collapses runs of spaces and drops trailing
 *    ones; every space becomes U+2581 '▁'; add_dummy_prefix puts one '▁' in front of non-empty
 *    text (only at the very start of the input, see vocab.h).
 *
 * 2. Viterbi segmentation. Each position of the normalised text is a lattice node; every
 *    vocabulary piece (normal or user-defined) starting there is an edge weighted by its score
 *    (user-defined pieces: length * max_score - 0.1, so they always win). A character that no
 *    single-character piece covers gets an <unk> edge of score min_score - 10. The best path
 *    (sum of scores, float, ties keep the first path found: earlier start, then shorter piece)
 *    is the segmentation; runs of consecutive <unk> tokens are merged into one, as
 *    SentencePiece does.
 *
 * The trie is read defensively: every unit index is bounds-checked, and a replacement offset
 * outside the blob or without a NUL is treated as "no match".
 */
#include "alloc.h"
#include "unicode.h"
#include "vocab_impl.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define UGM_UNK_PENALTY 10.0f
#define UGM_SPACE "\xE2\x96\x81"

/* ------------------------------------------------------------------------------------------
 * precompiled charsmap (a darts-clone double array)
 * ---------------------------------------------------------------------------------------- */

typedef struct ugm_charsmap {
    const uint8_t *trie; /* units, little-endian u32 */
    uint32_t n_units;
    const char *repl;    /* replacement strings */
    uint32_t repl_len;
} ugm_charsmap;

static uint32_t ugm_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool elm_ugm_charsmap_valid(const uint8_t *blob, uint64_t len) {
    if (!blob || len < 4) return false;
    uint32_t trie_bytes = ugm_u32(blob);
    return trie_bytes % 4 == 0 && trie_bytes >= 4 && (uint64_t)trie_bytes + 4 <= len &&
           len - 4 - trie_bytes <= UINT32_MAX;
}

static bool ugm_charsmap_open(const elm_vocab *v, ugm_charsmap *cm) {
    if (!elm_ugm_charsmap_valid(v->charsmap, v->charsmap_len)) return false;
    uint32_t trie_bytes = ugm_u32(v->charsmap);
    cm->trie = v->charsmap + 4;
    cm->n_units = trie_bytes / 4;
    cm->repl = (const char *)v->charsmap + 4 + trie_bytes;
    cm->repl_len = (uint32_t)(v->charsmap_len - 4 - trie_bytes);
    return true;
}

/* Unit fields of the double array: a label (byte + leaf flag bit 31), an offset to the
 * children (10 bits shifted, optionally by 8 more), a has-leaf flag, and for leaves a value. */
static uint32_t ugm_unit(const ugm_charsmap *cm, uint32_t i) { return ugm_u32(cm->trie + 4 * (size_t)i); }
static uint32_t ugm_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t ugm_label(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
static bool ugm_has_leaf(uint32_t u) { return (u >> 8) & 1u; }
static uint32_t ugm_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* Longest key of the trie that prefixes s: its length and replacement, or 0. */
static size_t ugm_longest_match(const ugm_charsmap *cm, const char *s, size_t n, const char **repl,
                                size_t *repl_n) {
    size_t best = 0;
    uint32_t pos = 0;
    if (cm->n_units == 0) return 0;
    pos ^= ugm_offset(ugm_unit(cm, 0));
    for (size_t i = 0; i < n; i++) {
        const uint8_t c = (uint8_t)s[i];
        if (c == 0) break; /* keys never contain NUL */
        pos ^= c;
        if (pos >= cm->n_units) break;
        const uint32_t u = ugm_unit(cm, pos);
        if (ugm_label(u) != c) break;
        pos ^= ugm_offset(u);
        if (pos >= cm->n_units) break;
        if (ugm_has_leaf(u)) {
            const uint32_t off = ugm_value(ugm_unit(cm, pos));
            if (off >= cm->repl_len) continue;
            const char *r = cm->repl + off;
            const char *end = memchr(r, '\0', cm->repl_len - off);
            if (!end) continue;
            best = i + 1;
            *repl = r;
            *repl_n = (size_t)(end - r);
        }
    }
    return best;
}

/* ------------------------------------------------------------------------------------------
 * normaliser
 * ---------------------------------------------------------------------------------------- */

typedef struct ugm_buf {
    char *s;
    size_t n, cap;
    bool oom;
} ugm_buf;

static void ugm_put(ugm_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        char *p = ELM_REALLOC(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
}

/* The replacement of the text at s[0..n) (in out, out_n); returns the bytes consumed (>= 1). */
static size_t ugm_norm_prefix(const ugm_charsmap *cm, bool have_cm, const char *s, size_t n,
                              const char **out, size_t *out_n) {
    if (have_cm) {
        size_t m = ugm_longest_match(cm, s, n, out, out_n);
        if (m > 0) return m;
    }
    size_t adv;
    uint32_t cp = elm_utf8_decode(s, n, &adv);
    if (cp == ELM_UTF8_INVALID) {
        *out = "\xEF\xBF\xBD";
        *out_n = 3;
        return 1;
    }
    *out = s;
    *out_n = adv;
    return adv;
}

gl_status elm_ugm_normalize(const elm_vocab *v, const char *text, size_t len, bool add_prefix,
                            char **out, size_t *out_len, gl_error *err) {
    ugm_charsmap cm;
    const bool have_cm = ugm_charsmap_open(v, &cm);
    const bool rm_ws = v->remove_extra_ws;
    ugm_buf b = {0};
    const char *r;
    size_t rn;
    size_t i = 0;
    if (rm_ws) { /* leading whitespace */
        while (i < len) {
            size_t used = ugm_norm_prefix(&cm, have_cm, text + i, len - i, &r, &rn);
            if (!(rn == 1 && r[0] == ' ')) break;
            i += used;
        }
    }
    if (i < len && add_prefix) ugm_put(&b, UGM_SPACE, 3);
    bool prev_space = rm_ws;
    while (i < len) {
        i += ugm_norm_prefix(&cm, have_cm, text + i, len - i, &r, &rn);
        while (prev_space && rn > 0 && r[0] == ' ') r++, rn--;
        if (rn > 0) {
            for (size_t k = 0; k < rn; k++) {
                if (r[k] == ' ') ugm_put(&b, UGM_SPACE, 3);
                else ugm_put(&b, r + k, 1);
            }
            prev_space = r[rn - 1] == ' ';
        }
        if (!rm_ws) prev_space = false;
    }
    if (rm_ws)
        while (b.n >= 3 && memcmp(b.s + b.n - 3, UGM_SPACE, 3) == 0) b.n -= 3;
    if (b.oom) {
        ELM_FREE(b.s);
        return gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    }
    *out = b.s;
    *out_len = b.n;
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * Viterbi
 * ---------------------------------------------------------------------------------------- */

typedef struct ugm_node {
    float score;   /* best path score ending here */
    int32_t id;    /* last token of that path */
    int32_t start; /* where that token starts; -1: not reached */
} ugm_node;

/* Ids of every usable piece that prefixes s[0..n), by increasing length: the token hash is
 * probed with an FNV-1a hash extended one byte at a time (vocab.c's hash), so trying all
 * lengths costs O(max_token_len) per position. */
static bool ugm_usable(const elm_vocab *v, int32_t id) {
    return v->type[id] == ELM_TOKEN_NORMAL || v->type[id] == ELM_TOKEN_USER_DEFINED;
}

static void ugm_scores(const elm_vocab *v, float *min_s, float *max_s) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (v->type[id] != ELM_TOKEN_NORMAL) continue;
        lo = v->score[id] < lo ? v->score[id] : lo;
        hi = v->score[id] > hi ? v->score[id] : hi;
    }
    if (lo > hi) lo = hi = 0.0f;
    *min_s = lo;
    *max_s = hi;
}

gl_status elm_ugm_tokenize(const elm_vocab *v, const char *text, size_t len, bool add_prefix,
                           elm_ids *out, gl_error *err) {
    char *s = NULL;
    size_t n = 0;
    gl_status st = elm_ugm_normalize(v, text, len, add_prefix, &s, &n, err);
    if (st != GL_OK) return st;
    if (n == 0) {
        ELM_FREE(s);
        return GL_OK;
    }
    if (n > INT32_MAX / 2) {
        ELM_FREE(s);
        return gl_error_set(err, GL_ERR_INVALID, "tokenizer: text too long");
    }
    float min_s, max_s;
    ugm_scores(v, &min_s, &max_s);
    const float unk_score = min_s - UGM_UNK_PENALTY;
    ugm_node *nodes = ELM_MALLOC((n + 1) * sizeof *nodes);
    int32_t *path = ELM_MALLOC((n + 1) * sizeof *path);
    if (!nodes || !path) {
        ELM_FREE(s);
        ELM_FREE(nodes);
        ELM_FREE(path);
        return gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; i <= n; i++) nodes[i] = (ugm_node){0.0f, -1, -1};
    nodes[0].start = 0;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].start < 0) continue;
        size_t mblen;
        if (elm_utf8_decode(s + i, n - i, &mblen) == ELM_UTF8_INVALID) mblen = 1;
        bool has_single = false;
        uint64_t h = ELM_FNV_INIT;
        size_t max_len = n - i < (size_t)v->max_token_len ? n - i : (size_t)v->max_token_len;
        for (size_t l = 1; l <= max_len; l++) {
            h = elm_fnv(h, s + i + l - 1, 1);
            /* probe the token hash for s[i..i+l) */
            int32_t id = -1;
            for (uint32_t k = (uint32_t)h & v->tok_mask;; k = (k + 1) & v->tok_mask) {
                int32_t c = v->tok_slots[k];
                if (c < 0) break;
                if (v->text[c].len == l && memcmp(v->text[c].data, s + i, l) == 0) {
                    id = c;
                    break;
                }
            }
            if (id < 0 || !ugm_usable(v, id)) continue;
            float sc = v->type[id] == ELM_TOKEN_USER_DEFINED ? (float)l * max_s - 0.1f : v->score[id];
            float cand = nodes[i].score + sc;
            ugm_node *e = &nodes[i + l];
            if (e->start < 0 || cand > e->score) *e = (ugm_node){cand, id, (int32_t)i};
            if (l == mblen) has_single = true;
        }
        if (!has_single) {
            float cand = nodes[i].score + unk_score;
            ugm_node *e = &nodes[i + mblen];
            if (e->start < 0 || cand > e->score) *e = (ugm_node){cand, v->unk, (int32_t)i};
        }
    }
    /* Walk back from the end; every node on the path was reached. */
    int32_t np = 0;
    for (size_t i = n; i > 0; i = (size_t)nodes[i].start) path[np++] = nodes[i].id;
    int32_t prev = -2;
    for (int32_t k = np - 1; k >= 0; k--) {
        int32_t id = path[k];
        if (id < 0) id = v->unk; /* no <unk> id in the vocabulary: keep the slot visible */
        if (id == v->unk && prev == v->unk) continue; /* merge runs of unknowns */
        if (id >= 0) elm_ids_push(out, id);
        prev = id;
    }
    ELM_FREE(s);
    ELM_FREE(nodes);
    ELM_FREE(path);
    return out->oom ? gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory") : GL_OK;
}
