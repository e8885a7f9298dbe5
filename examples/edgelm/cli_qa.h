/*
 * cli_qa.h — what `tag`, `qa` and `finetune --task qa` share: word pieces with the byte
 * offsets of the text they come from (BERT's basic split), the "[CLS] question [SEP] context
 * [SEP]" windows with a stride, the best answer span over windows (as Hugging Face's
 * question-answering pipeline), SQuAD's answer normalisation, exact match and F1, and the
 * entity spans of a label sequence as seqeval finds them (for `finetune --task tag`'s F1).
 */
#ifndef EDGELM_CLI_QA_H
#define EDGELM_CLI_QA_H

#include "edgelm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A word piece and the bytes of the text it comes from. */
typedef struct tq_piece {
    int32_t id;
    int32_t start, end; /* byte offsets (a byte-level BPE piece's leading space excluded, as a
                           fast tokenizer's trimmed offsets) */
    bool word_start;    /* first piece of a word */
    int32_t raw;        /* where the piece's own bytes start (byte-level BPE: its leading space) */
} tq_piece;

typedef struct tq_pieces {
    tq_piece *v;
    int64_t n, cap;
} tq_pieces;

/* WordPiece: splits text at whitespace and punctuation and tokenizes each word; byte-level
 * BPE (RoBERTa): tokenizes the whole text, each piece spanning the bytes it decodes to.
 * Appends to out. Returns out->n, or -1 (err set, or out of memory). */
int64_t tq_tokenize(const elm_bert *m, const char *text, tq_pieces *out, elm_error *err);
/* [CLS] and [SEP] ids (what the tokenizer adds around an empty text). */
bool tq_specials(const elm_bert *m, int32_t *cls, int32_t *sep);
/* Code points in text[0, byte). */
int32_t tq_chars(const char *text, int32_t byte);

/* Windows over the context: window w holds context pieces [start[w], start[w] + n_ctx[w]) at
 * token positions first.. (first = question pieces + 2); token types 0 then 1. */
typedef struct qa_windows {
    int32_t n, first;
    int32_t **ids, **types, *lens, *start, *n_ctx;
    int32_t *buf;
} qa_windows;

/* false with msg when the context is empty or the question leaves no room for windows of
 * max_len tokens that share stride context pieces. */
bool qa_windows_make(const tq_pieces *q, const tq_pieces *c, int32_t cls, int32_t sep, int32_t max_len, int32_t stride,
                     qa_windows *w, char *msg, size_t msz);
void qa_windows_free(qa_windows *w);
/* The best span over the windows given each window's logits ([lens[w]][2]: start, end):
 * non-context logits (except [CLS]) masked, both softmaxed, [CLS] zeroed, the best
 * p_start * p_end with start <= end < start + max_answer_len (the first maximum). Sets the
 * span as context piece indices; returns its score, or -1 when out of memory. */
double qa_best_span(const qa_windows *w, const float *const *logits, int32_t max_answer_len, int64_t *bs, int64_t *be);

/* SQuAD's evaluation: lower-case, ASCII punctuation removed, the articles a/an/the removed,
 * whitespace collapsed; exact match of the normalised strings, and the F1 of their
 * whitespace tokens (bag overlap; when either side has no tokens, 1 if both have none). */
bool squad_normalize(const char *s, char *out, size_t cap);
double squad_exact(const char *pred, const char *gold);
double squad_f1(const char *pred, const char *gold);

/* An entity of a label sequence: its type (a slice of the label) and first/last position. */
typedef struct seq_entity {
    const char *type;
    size_t type_len;
    int64_t start, end;
} seq_entity;

/* The entities of labels[0..n) as seqeval's get_entities finds them (default mode: prefix B/I/
 * E/S/O from the label's first character, type after the first '-' of the rest, "_" when
 * empty; conlleval's chunk start and end rules). out needs room for n; returns the count. */
int64_t seqeval_entities(const char *const *labels, int64_t n, seq_entity *out);
/* Whether two entities are the same (type, start, end). */
bool seqeval_same(const seq_entity *a, const seq_entity *b);

#endif
