/*
 * tok_spm.c — SentencePiece BPE (tokenizer.ggml.model "llama").
 *
 * SentencePiece's BPE encoder: the text is escaped (every ' ' becomes '▁', and a '▁' is put
 * in front when the model adds a dummy prefix), split into characters, and then the adjacent
 * pair whose concatenation is the vocabulary piece with the HIGHEST score is merged, again
 * and again (ties: the leftmost pair), until no adjacent pair forms a piece. Each remaining
 * symbol becomes its piece's id; a symbol that is not a piece (a character outside the
 * vocabulary) falls back to its UTF-8 bytes as <0xHH> tokens, or to <unk> without them.
 *
 * Symbols live in a doubly linked list over an array; candidate pairs wait in a binary heap.
 * A popped pair whose symbols changed since it was pushed is stale and skipped, so each merge
 * costs O(log n): O(n log n) in all.
 */
#include "alloc.h"
#include "unicode.h"
#include "vocab_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_sym {
    int32_t start, len; /* bytes in the escaped text; len 0 once merged into its left */
    int32_t prev, next; /* -1 at the ends */
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right;
    int32_t len; /* combined length when pushed (stale check) */
} spm_pair;

typedef struct spm_heap {
    spm_pair *a;
    int64_t n, cap;
} spm_heap;

/* Pair a comes out before b: higher score, then further left. */
static bool spm_before(const spm_pair *a, const spm_pair *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static bool spm_heap_push(spm_heap *h, spm_pair p) {
    if (h->n == h->cap) {
        int64_t cap = h->cap ? h->cap * 2 : 64;
        spm_pair *a = ELM_REALLOC(h->a, (size_t)cap * sizeof *a);
        if (!a) return false;
        h->a = a;
        h->cap = cap;
    }
    int64_t i = h->n++;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!spm_before(&p, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = p;
    return true;
}

static spm_pair spm_heap_pop(spm_heap *h) {
    spm_pair top = h->a[0];
    spm_pair last = h->a[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && spm_before(&h->a[c + 1], &h->a[c])) c++;
        if (!spm_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

typedef struct spm_state {
    const elm_vocab *v;
    const char *s; /* escaped text */
    spm_sym *sym;
    spm_heap heap;
} spm_state;

/* Queues the pair (left, right) when their concatenation is a usable piece. */
static bool spm_try_pair(spm_state *st, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const spm_sym *a = &st->sym[left], *b = &st->sym[right];
    int32_t len = a->len + b->len;
    int32_t id = elm_vocab_find(st->v, st->s + a->start, (size_t)len);
    if (id < 0 || st->v->type[id] == ELM_TOKEN_UNUSED) return true;
    spm_pair p = {st->v->score[id], left, right, len};
    return spm_heap_push(&st->heap, p);
}

/* Escapes the text: ' ' -> "▁", with an optional "▁" in front. */
static char *spm_escape(const char *text, size_t len, bool add_prefix, size_t *out_len) {
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t n = len + 2 * spaces + (add_prefix ? 3 : 0);
    if (n > INT32_MAX) return NULL;
    char *s = ELM_MALLOC(n ? n : 1);
    if (!s) return NULL;
    size_t k = 0;
    if (add_prefix) {
        memcpy(s, "\xE2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + k, "\xE2\x96\x81", 3);
            k += 3;
        } else {
            s[k++] = text[i];
        }
    }
    *out_len = n;
    return s;
}

/* A symbol that is no piece: its bytes as <0xHH> tokens, else <unk> (once). */
static void spm_emit_fallback(const elm_vocab *v, const char *s, int32_t len, elm_ids *out) {
    bool all_bytes = true;
    for (int32_t i = 0; i < len; i++)
        if (v->byte_id[(unsigned char)s[i]] < 0) all_bytes = false;
    if (all_bytes) {
        for (int32_t i = 0; i < len; i++) elm_ids_push(out, v->byte_id[(unsigned char)s[i]]);
    } else if (v->unk >= 0) {
        elm_ids_push(out, v->unk);
    }
}

/* Merges the characters of s[begin, end) and emits their ids (symbols and heap reused). */
static bool spm_merge(spm_state *st, size_t begin, size_t end, elm_ids *out) {
    const elm_vocab *v = st->v;
    const char *s = st->s;
    /* One symbol per character (an invalid byte is a character of its own). */
    int32_t n_sym = 0;
    for (size_t i = begin; i < end;) {
        size_t adv;
        elm_utf8_decode(s + i, end - i, &adv);
        st->sym[n_sym] = (spm_sym){(int32_t)i, (int32_t)adv, n_sym - 1, n_sym + 1};
        n_sym++;
        i += adv;
    }
    if (n_sym > 0) st->sym[n_sym - 1].next = -1;
    st->heap.n = 0;
    bool ok = true;
    for (int32_t i = 0; i + 1 < n_sym && ok; i++) ok = spm_try_pair(st, i, i + 1);
    while (ok && st->heap.n > 0) {
        spm_pair p = spm_heap_pop(&st->heap);
        spm_sym *a = &st->sym[p.left], *b = &st->sym[p.right];
        /* Stale when either side was merged away or grew since the pair was queued. */
        if (a->len == 0 || b->len == 0 || a->next != p.right || a->len + b->len != p.len) continue;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0) st->sym[b->next].prev = p.left;
        ok = spm_try_pair(st, a->prev, p.left) && spm_try_pair(st, p.left, a->next);
    }
    if (!ok) return false;
    for (int32_t i = n_sym > 0 ? 0 : -1; i >= 0; i = st->sym[i].next) {
        const spm_sym *y = &st->sym[i];
        int32_t id = elm_vocab_find(v, s + y->start, (size_t)y->len);
        if (id >= 0) elm_ids_push(out, id);
        else spm_emit_fallback(v, s + y->start, y->len, out);
    }
    return true;
}

/* End of the word starting at i: the next "▁" that follows another character (the whole text
 * when the vocabulary has pieces that cross such a point: spm_word_split). */
static size_t spm_word_end(const elm_vocab *v, const char *s, size_t n, size_t i) {
    if (!v->spm_word_split) return n;
    for (size_t k = i + 1; k + 3 <= n; k++)
        if (memcmp(s + k, "\xE2\x96\x81", 3) == 0 && (k < i + 3 || memcmp(s + k - 3, "\xE2\x96\x81", 3) != 0))
            return k;
    return n;
}

gl_status elm_spm_tokenize(const elm_vocab *v, const char *text, size_t len, bool add_prefix,
                           elm_ids *out, gl_error *err) {
    size_t n;
    char *s = spm_escape(text, len, add_prefix, &n);
    if (!s) return gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory (%zu bytes of text)", len);
    spm_state st = {v, s, NULL, {0}};
    size_t sym_cap = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok;) {
        const size_t e = spm_word_end(v, s, n, i);
        if (e - i > sym_cap) { /* one symbol per byte at most */
            sym_cap = e - i > 2 * sym_cap ? e - i : 2 * sym_cap;
            spm_sym *ns = ELM_REALLOC(st.sym, sym_cap * sizeof *st.sym);
            if (!ns) {
                ok = false;
                break;
            }
            st.sym = ns;
        }
        ok = spm_merge(&st, i, e, out);
        i = e;
    }
    ELM_FREE(st.heap.a);
    ELM_FREE(st.sym);
    ELM_FREE(s);
    if (!ok || out->oom) return gl_error_set(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    return GL_OK;
}
