/*
 * tok_bpe.c — byte-level BPE (tokenizer.ggml.model "gpt2").
 *
 * 1. Pre-tokenizer: the text is cut into words the way the model's regex would cut it. The
 *    regexes are not run by a regex engine: each family is a hand-written scanner over code
 *    points and their Unicode categories that reproduces the regex's leftmost-first,
 *    greedy-with-backtracking result (the alternatives are spelled out above each scanner).
 * 2. Each word's bytes are written in GPT-2's byte-level alphabet (one character per byte).
 * 3. BPE: the adjacent pair with the best (lowest) merge rank is merged, leftmost first on
 *    ties, until no pair has a rule. Pairs wait in a binary heap; a pair whose symbols changed
 *    since it was queued is stale and skipped (O(n log n) per word).
 * 4. Each symbol becomes its token id (a symbol outside the vocabulary, which a complete
 *    byte-level vocabulary never has, falls back to its characters one by one).
 */
#include "alloc.h"
#include "unicode.h"
#include "vocab_impl.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * pre-tokenizer scanners
 * ---------------------------------------------------------------------------------------- */

enum { BPE_L = 1, BPE_N = 2, BPE_WS = 4 }; /* none of these = "other" ([^\s\p{L}\p{N}]) */

typedef struct bpe_text {
    uint32_t *cp;  /* code points (ELM_UTF8_INVALID for a stray byte) */
    uint8_t *cls;  /* BPE_L / BPE_N / BPE_WS / 0 */
    size_t *off;   /* byte offset of each code point; off[n] = byte length */
    size_t n;
} bpe_text;

static bool bpe_is(const bpe_text *t, size_t i, int cls) { return i < t->n && (t->cls[i] & cls); }
static bool bpe_other(const bpe_text *t, size_t i) { return i < t->n && t->cls[i] == 0; }
static bool bpe_crlf(const bpe_text *t, size_t i) {
    return i < t->n && (t->cp[i] == '\r' || t->cp[i] == '\n');
}

/* End of the run of class cls starting at i. */
static size_t bpe_run(const bpe_text *t, size_t i, int cls) {
    while (i < t->n && (t->cls[i] & cls)) i++;
    return i;
}
static size_t bpe_run_other(const bpe_text *t, size_t i) {
    while (bpe_other(t, i)) i++;
    return i;
}

static uint32_t bpe_lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d (optionally case-insensitive): length in code points, or 0. */
static size_t bpe_contraction(const bpe_text *t, size_t i, bool icase) {
    if (t->cp[i] != '\'' || i + 1 >= t->n) return 0;
    uint32_t a = t->cp[i + 1], b = i + 2 < t->n ? t->cp[i + 2] : 0;
    if (icase) {
        a = bpe_lower_ascii(a);
        b = bpe_lower_ascii(b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S)|\s+ from i (a whitespace character): the run, less its last character when a
 * non-space follows and the run is longer than one (that character then leads the next word). */
static size_t bpe_space_run(const bpe_text *t, size_t i) {
    size_t j = bpe_run(t, i, BPE_WS);
    if (j == t->n || j - i == 1) return j;
    return j - 1;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Returns the end of the word that starts at i. */
static size_t bpe_scan_gpt2(const bpe_text *t, size_t i) {
    size_t k = bpe_contraction(t, i, false);
    if (k) return i + k;
    size_t s = t->cp[i] == ' ' ? i + 1 : i; /* the optional leading space */
    if (bpe_is(t, s, BPE_L)) return bpe_run(t, s, BPE_L);
    if (bpe_is(t, s, BPE_N)) return bpe_run(t, s, BPE_N);
    if (bpe_other(t, s)) return bpe_run_other(t, s);
    return bpe_space_run(t, i); /* t->cp[i] is whitespace here */
}

/* llama3 / qwen2:
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *   \s*[\r\n]+|\s+(?!\S)|\s+
 * qwen2 has \p{N} (one digit) where llama3 has \p{N}{1,3}. */
static size_t bpe_scan_llama3(const bpe_text *t, size_t i, size_t max_digits) {
    size_t k = bpe_contraction(t, i, true);
    if (k) return i + k;
    if (bpe_is(t, i, BPE_L)) return bpe_run(t, i, BPE_L);
    if (!bpe_crlf(t, i) && !bpe_is(t, i, BPE_N) && bpe_is(t, i + 1, BPE_L))
        return bpe_run(t, i + 1, BPE_L);
    if (bpe_is(t, i, BPE_N)) {
        size_t j = i;
        while (j < t->n && j - i < max_digits && (t->cls[j] & BPE_N)) j++;
        return j;
    }
    size_t s = t->cp[i] == ' ' ? i + 1 : i;
    if (bpe_other(t, s)) {
        size_t j = bpe_run_other(t, s);
        while (bpe_crlf(t, j)) j++;
        return j;
    }
    /* Whitespace: \s*[\r\n]+ takes the run up to its last \r or \n, if it has one. */
    size_t j = bpe_run(t, i, BPE_WS), last_nl = j;
    for (size_t p = i; p < j; p++)
        if (bpe_crlf(t, p)) last_nl = p;
    if (last_nl < j) return last_nl + 1;
    return bpe_space_run(t, i);
}

static size_t bpe_scan(elm_bpe_pre pre, const bpe_text *t, size_t i) {
    switch (pre) {
    case ELM_PRE_LLAMA3: return bpe_scan_llama3(t, i, 3);
    case ELM_PRE_QWEN2: return bpe_scan_llama3(t, i, 1);
    default: return bpe_scan_gpt2(t, i);
    }
}

static void bpe_text_free(bpe_text *t) {
    ELM_FREE(t->cp);
    ELM_FREE(t->cls);
    ELM_FREE(t->off);
}

static bool bpe_text_init(bpe_text *t, const char *s, size_t len) {
    memset(t, 0, sizeof *t);
    t->cp = ELM_MALLOC((len + 1) * sizeof *t->cp);
    t->cls = ELM_MALLOC(len + 1);
    t->off = ELM_MALLOC((len + 1) * sizeof *t->off);
    if (!t->cp || !t->cls || !t->off) {
        bpe_text_free(t);
        return false;
    }
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t c = elm_utf8_decode(s + i, len - i, &adv);
        uint8_t cls = 0;
        if (c != ELM_UTF8_INVALID) {
            if (elm_uc_is_letter(c)) cls = BPE_L;
            else if (elm_uc_is_number(c)) cls = BPE_N;
            else if (elm_uc_is_whitespace(c)) cls = BPE_WS;
        }
        t->cp[t->n] = c;
        t->cls[t->n] = cls;
        t->off[t->n] = i;
        t->n++;
        i += adv;
    }
    t->off[t->n] = len;
    return true;
}

/* Scans code points [a, b) of t into words. */
static void bpe_scan_span(elm_bpe_pre pre, const bpe_text *t, size_t a, size_t b,
                          elm_pretok_fn fn, void *user) {
    /* The scanners look at most a few characters past a word, so a span is scanned as a
     * view that ends at b. */
    bpe_text view = *t;
    view.n = b;
    for (size_t i = a; i < b;) {
        size_t j = bpe_scan(pre, &view, i);
        if (j <= i) j = i + 1; /* cannot happen; guarantees progress */
        fn(user, t->off[i], t->off[j]);
        i = j;
    }
}

gl_status elm_bpe_pretokenize(elm_bpe_pre pre, const char *text, size_t len, elm_pretok_fn fn,
                              void *user) {
    bpe_text t;
    if (!bpe_text_init(&t, text, len)) return GL_ERR_NOMEM;
    if (pre == ELM_PRE_SMOLLM) {
        /* Digits(individual_digits=True) first: every number character is a word of its own;
         * the text between them goes through the GPT-2 regex. */
        size_t a = 0;
        for (size_t i = 0; i < t.n; i++) {
            if (!(t.cls[i] & BPE_N)) continue;
            bpe_scan_span(ELM_PRE_GPT2, &t, a, i, fn, user);
            fn(user, t.off[i], t.off[i + 1]);
            a = i + 1;
        }
        bpe_scan_span(ELM_PRE_GPT2, &t, a, t.n, fn, user);
    } else {
        bpe_scan_span(pre, &t, 0, t.n, fn, user);
    }
    bpe_text_free(&t);
    return GL_OK;
}

/* ------------------------------------------------------------------------------------------
 * BPE merges over one word
 * ---------------------------------------------------------------------------------------- */

typedef struct bpe_sym {
    int32_t start, len; /* bytes in the mapped word */
    int32_t prev, next;
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank, left, right, len;
} bpe_pair;

static bool bpe_before(const bpe_pair *a, const bpe_pair *b) {
    if (a->rank != b->rank) return a->rank < b->rank;
    return a->left < b->left;
}

typedef struct bpe_work {
    const elm_vocab *v;
    elm_ids *out;
    char *map;       /* the word in the byte-level alphabet */
    size_t map_cap;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *heap;
    int64_t heap_n, heap_cap;
    bool oom;
    int64_t lost_at; /* first word with text that has no token and no <unk> (-1: none) */
    int64_t word_at; /* byte offset of the word being tokenized */
} bpe_work;

static void bpe_heap_push(bpe_work *w, bpe_pair p) {
    if (w->heap_n == w->heap_cap) {
        int64_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        bpe_pair *a = ELM_REALLOC(w->heap, (size_t)cap * sizeof *a);
        if (!a) {
            w->oom = true;
            return;
        }
        w->heap = a;
        w->heap_cap = cap;
    }
    int64_t i = w->heap_n++;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!bpe_before(&p, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = p;
}

static bpe_pair bpe_heap_pop(bpe_work *w) {
    bpe_pair top = w->heap[0], last = w->heap[--w->heap_n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= w->heap_n) break;
        if (c + 1 < w->heap_n && bpe_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!bpe_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->heap_n > 0) w->heap[i] = last;
    return top;
}

static void bpe_try_pair(bpe_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const bpe_sym *a = &w->sym[left], *b = &w->sym[right];
    int32_t rank = elm_vocab_find_merge(w->v, w->map + a->start, (size_t)a->len,
                                        w->map + b->start, (size_t)b->len);
    if (rank < 0) return;
    bpe_heap_push(w, (bpe_pair){rank, left, right, a->len + b->len});
}

static bool bpe_reserve(bpe_work *w, size_t n_bytes) {
    /* A byte maps to at most 2 UTF-8 bytes (code points below 512). */
    if (n_bytes * 2 > w->map_cap) {
        char *m = ELM_REALLOC(w->map, n_bytes * 2);
        if (!m) return false;
        w->map = m;
        w->map_cap = n_bytes * 2;
    }
    if (n_bytes > w->sym_cap) {
        bpe_sym *s = ELM_REALLOC(w->sym, n_bytes * sizeof *s);
        if (!s) return false;
        w->sym = s;
        w->sym_cap = n_bytes;
    }
    return true;
}

/* A symbol outside the vocabulary: its characters one by one (each one byte). */
static void bpe_emit_fallback(bpe_work *w, const char *s, int32_t len) {
    for (int32_t i = 0; i < len;) {
        size_t adv;
        elm_utf8_decode(s + i, (size_t)(len - i), &adv);
        int32_t id = elm_vocab_find(w->v, s + i, adv);
        if (id < 0) id = w->v->unk;
        if (id >= 0) elm_ids_push(w->out, id);
        else if (w->lost_at < 0) w->lost_at = w->word_at; /* reported, not dropped */
        i += (int32_t)adv;
    }
}

static void bpe_word(bpe_work *w, const char *word, size_t len) {
    if (len == 0 || w->oom) return;
    if (len > INT32_MAX / 2 || !bpe_reserve(w, len)) {
        w->oom = true;
        return;
    }
    const elm_vocab *v = w->v;
    int32_t m = 0, n_sym = 0;
    for (size_t i = 0; i < len; i++) {
        char u[4];
        int k = elm_utf8_encode(v->byte_cp[(unsigned char)word[i]], u);
        memcpy(w->map + m, u, (size_t)k);
        w->sym[n_sym] = (bpe_sym){m, k, n_sym - 1, n_sym + 1};
        n_sym++;
        m += k;
    }
    w->sym[n_sym - 1].next = -1;
    if (v->ignore_merges) {
        int32_t id = elm_vocab_find(v, w->map, (size_t)m);
        if (id >= 0) {
            elm_ids_push(w->out, id);
            return;
        }
    }
    w->heap_n = 0;
    for (int32_t i = 0; i + 1 < n_sym; i++) bpe_try_pair(w, i, i + 1);
    while (w->heap_n > 0 && !w->oom) {
        bpe_pair p = bpe_heap_pop(w);
        bpe_sym *a = &w->sym[p.left], *b = &w->sym[p.right];
        if (a->len == 0 || b->len == 0 || a->next != p.right || a->len + b->len != p.len) continue;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0) w->sym[b->next].prev = p.left;
        bpe_try_pair(w, a->prev, p.left);
        bpe_try_pair(w, p.left, a->next);
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
        const bpe_sym *y = &w->sym[i];
        int32_t id = elm_vocab_find(v, w->map + y->start, (size_t)y->len);
        if (id >= 0) elm_ids_push(w->out, id);
        else bpe_emit_fallback(w, w->map + y->start, y->len);
    }
}

typedef struct bpe_cb {
    bpe_work *w;
    const char *text;
} bpe_cb;

static void bpe_on_word(void *user, size_t start, size_t end) {
    bpe_cb *c = user;
    c->w->word_at = (int64_t)start;
    bpe_word(c->w, c->text + start, end - start);
}

gl_status elm_bpe_tokenize(const elm_vocab *v, const char *text, size_t len, elm_ids *out,
                           gl_error *err) {
    bpe_work w = {0};
    w.v = v;
    w.out = out;
    w.lost_at = -1;
    bpe_cb cb = {&w, text};
    gl_status st = elm_bpe_pretokenize(v->pre, text, len, bpe_on_word, &cb);
    ELM_FREE(w.map);
    ELM_FREE(w.sym);
    ELM_FREE(w.heap);
    if (st != GL_OK || w.oom || out->oom)
        return gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory (%zu bytes of text)", len);
    if (w.lost_at >= 0)
        return gl_error_set(err, GL_ERR_INVALID,
                            "tokenizer: the word at byte %lld has text with no token, and the vocabulary has no "
                            "unknown token to stand for it",
                            (long long)w.lost_at);
    return GL_OK;
}
