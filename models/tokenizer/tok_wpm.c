/*
 * tok_wpm.c — WordPiece (BERT) tokenizer: Hugging Face's BasicTokenizer followed by greedy
 * longest-match-first WordPiece.
 *
 * Basic tokenizer, in Hugging Face's order:
 *   1. clean: U+0000, U+FFFD and control characters (category C*, except \t \n \r) are dropped;
 *      whitespace (\t \n \r, space and Zs) becomes a space;
 *   2. CJK ideographs get a space on both sides (each becomes a word of its own);
 *   2b. Unicode NFC (as BasicTokenizer does since transformers 4.3x: a word typed with
 *      combining accents matches the vocabulary's precomposed spelling, cased or not);
 *   3. split on whitespace; for each word: lower-case (str.lower()) when the model is uncased,
 *      strip accents (NFD, drop Mn) when strip_accents (default: = lower-case);
 *   4. split every punctuation character (P*, plus the ASCII symbols $+<=>^`|~) into its own
 *      word.
 * WordPiece: a word longer than max_chars (100) code points is [UNK]; otherwise the longest
 * vocabulary piece from the start, then "##"-continuations; any unmatched rest makes the whole
 * word [UNK].
 *
 * Two vocabulary spellings are understood: Hugging Face's ("word", "##piece") and llama.cpp's
 * "phantom space" one ("▁word" for a word start, "piece" for a continuation), used by BERT GGUF
 * files that llama.cpp's converter writes.
 */
#include "alloc.h"
#include "unicode.h"
#include "vocab_impl.h"

#include <stdlib.h>
#include <string.h>

#define WPM_MAX_PIECE_BYTES 512 /* 100 code points × 4 bytes + "##"/"▁" fit easily */

static bool wpm_is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Hugging Face's _is_punctuation: elm_uc_is_bert_punct (unicode.c). */
static bool wpm_is_punct(uint32_t c) { return elm_uc_is_bert_punct(c); }

static bool wpm_is_space(uint32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || elm_uc_category(c) == ELM_UC_ZS;
}

/* Dropped by cleaning: NUL, U+FFFD, undecodable bytes and C* other than \t \n \r. */
static bool wpm_is_dropped(uint32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    return c == 0 || c == 0xFFFD || c == ELM_UTF8_INVALID || elm_uc_is_other(c);
}

/* Growable code-point buffer. */
typedef struct wpm_cps {
    uint32_t *v;
    size_t n, cap;
} wpm_cps;

static bool wpm_push(wpm_cps *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = ELM_REALLOC(b->v, cap * sizeof *p);
        if (!p) return false;
        b->v = p;
        b->cap = cap;
    }
    b->v[b->n++] = c;
    return true;
}

/* Steps 1-2: cleaned code points with CJK characters spaced out. */
static bool wpm_clean(const char *text, size_t len, bool chinese, wpm_cps *out) {
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t c = elm_utf8_decode(text + i, len - i, &adv);
        i += adv;
        if (wpm_is_dropped(c)) continue;
        bool ok;
        if (wpm_is_space(c)) ok = wpm_push(out, ' ');
        else if (chinese && wpm_is_cjk(c)) ok = wpm_push(out, ' ') && wpm_push(out, c) && wpm_push(out, ' ');
        else ok = wpm_push(out, c);
        if (!ok) return false;
    }
    return true;
}

/* Step 2b: the cleaned text in NFC (in place; the NFD form may be longer, so it goes through
 * a second buffer). */
static bool wpm_nfc(wpm_cps *b) {
    size_t need = elm_uc_nfc(b->v, b->n, NULL, 0);
    uint32_t *o = ELM_MALLOC((need ? need : 1) * sizeof *o);
    if (!o) return false;
    size_t n = elm_uc_nfc(b->v, b->n, o, need);
    ELM_FREE(b->v);
    b->v = o;
    b->n = n;
    b->cap = need ? need : 1;
    return true;
}

/* Step 3 for one word: lower-case and/or strip accents into out. */
static bool wpm_normalize_word(const elm_vocab *v, const uint32_t *w, size_t n, wpm_cps *tmp, wpm_cps *out) {
    tmp->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (v->wpm_lower) {
            uint32_t lo[3];
            int k = elm_uc_tolower(w[i], lo);
            for (int j = 0; j < k; j++)
                if (!wpm_push(tmp, lo[j])) return false;
        } else if (!wpm_push(tmp, w[i])) {
            return false;
        }
    }
    out->n = 0;
    if (!v->wpm_strip_accents) {
        for (size_t i = 0; i < tmp->n; i++)
            if (!wpm_push(out, tmp->v[i])) return false;
        return true;
    }
    size_t need = elm_uc_nfd(tmp->v, tmp->n, NULL, 0);
    while (out->cap < need + 1)
        if (!wpm_push(out, 0)) return false;
    elm_uc_nfd(tmp->v, tmp->n, out->v, out->cap);
    size_t k = 0;
    for (size_t i = 0; i < need; i++)
        if (elm_uc_category(out->v[i]) != ELM_UC_MN) out->v[k++] = out->v[i];
    out->n = k;
    return true;
}

/* Looks a piece up in the vocabulary's spelling: word starts as-is (or "▁"-prefixed in the
 * phantom spelling), continuations "##"-prefixed (or as-is in the phantom spelling). */
static int32_t wpm_lookup(const elm_vocab *v, const char *s, size_t n, bool continuation) {
    char buf[WPM_MAX_PIECE_BYTES + 8];
    size_t k = 0;
    if (n > WPM_MAX_PIECE_BYTES) return -1;
    if (v->wpm_phantom && !continuation) {
        memcpy(buf, "\xE2\x96\x81", 3);
        k = 3;
    } else if (!v->wpm_phantom && continuation) {
        memcpy(buf, "##", 2);
        k = 2;
    }
    memcpy(buf + k, s, n);
    return elm_vocab_find(v, buf, k + n);
}

/* WordPiece for one word of n code points. */
static void wpm_word(const elm_vocab *v, const uint32_t *w, size_t n, elm_ids *out) {
    if (n == 0) return;
    if (n > (size_t)v->wpm_max_chars) {
        if (v->unk >= 0) elm_ids_push(out, v->unk);
        return;
    }
    char utf8[WPM_MAX_PIECE_BYTES];
    size_t off[WPM_MAX_PIECE_BYTES / 4 + 2]; /* byte offset of each code point, n <= 128 */
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = nb;
        char tmp[4];
        int k = elm_utf8_encode(w[i], tmp);
        if (k <= 0 || nb + (size_t)k > sizeof utf8) {
            if (v->unk >= 0) elm_ids_push(out, v->unk);
            return;
        }
        memcpy(utf8 + nb, tmp, (size_t)k);
        nb += (size_t)k;
    }
    off[n] = nb;
    int64_t first = out->n;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            id = wpm_lookup(v, utf8 + off[start], off[end] - off[start], start > 0);
            if (id >= 0) break;
        }
        if (id < 0) { /* no piece fits: the whole word is unknown */
            out->n = first;
            if (v->unk >= 0) elm_ids_push(out, v->unk);
            return;
        }
        elm_ids_push(out, id);
        start = end;
    }
}

/* Step 4 and WordPiece for one normalised word. */
static void wpm_split_punct(const elm_vocab *v, const uint32_t *w, size_t n, elm_ids *out) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wpm_is_punct(w[i])) continue;
        wpm_word(v, w + start, i - start, out);
        wpm_word(v, w + i, 1, out);
        start = i + 1;
    }
    wpm_word(v, w + start, n - start, out);
}

gl_status elm_wpm_tokenize(const elm_vocab *v, const char *text, size_t len, elm_ids *out, gl_error *err) {
    wpm_cps all = {0}, tmp = {0}, word = {0};
    bool ok = wpm_clean(text, len, v->wpm_chinese, &all) && wpm_nfc(&all);
    for (size_t i = 0; ok && i < all.n;) {
        if (all.v[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < all.n && all.v[j] != ' ') j++;
        ok = wpm_normalize_word(v, all.v + i, j - i, &tmp, &word);
        if (ok) wpm_split_punct(v, word.v, word.n, out);
        i = j;
    }
    ELM_FREE(all.v);
    ELM_FREE(tmp.v);
    ELM_FREE(word.v);
    if (!ok || out->oom) return gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    return GL_OK;
}

/* Settings and special ids of a WordPiece vocabulary (called by elm_vocab_new). */
void elm_wpm_init(elm_vocab *v, const elm_vocab_desc *d) {
    v->wpm_lower = d->wpm_lower != 0; /* -1 (absent, e.g. llama.cpp files): uncased */
    v->wpm_strip_accents = d->wpm_strip_accents < 0 ? v->wpm_lower : d->wpm_strip_accents != 0;
    v->wpm_chinese = d->wpm_chinese != 0;
    v->wpm_max_chars = d->wpm_max_chars > 0 ? (d->wpm_max_chars < 128 ? d->wpm_max_chars : 128) : 100;
    /* The phantom spelling has no "##" pieces and spells word starts with '▁'. */
    int32_t hash = 0, phantom = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        gl_str t = v->text[i];
        if (t.len > 2 && t.data[0] == '#' && t.data[1] == '#') hash++;
        else if (t.len > 3 && !memcmp(t.data, "\xE2\x96\x81", 3)) phantom++;
    }
    v->wpm_phantom = phantom > hash;
    /* Special tokens by their usual texts when the file names none (llama.cpp's defaults are
     * bert-base's ids 100-103; the texts cover every BERT vocabulary). */
    static const struct {
        const char *text;
        size_t off;
    } named[] = {
        {"[UNK]", offsetof(elm_vocab, unk)}, {"[CLS]", offsetof(elm_vocab, cls)},
        {"[SEP]", offsetof(elm_vocab, sep)}, {"[PAD]", offsetof(elm_vocab, pad)},
        {"[MASK]", offsetof(elm_vocab, mask)},
    };
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        int32_t *slot = (int32_t *)((char *)v + named[k].off);
        if (*slot < 0) *slot = elm_vocab_find(v, named[k].text, strlen(named[k].text));
    }
    if (v->cls < 0) v->cls = v->bos;
    if (v->sep < 0) v->sep = v->eos;
}
