/*
 * sampler.h — token sampling (internal; the public API is elm_sampler_* in edgelm.h).
 *
 * A sampler works on a candidate list (id, logit, p) that each filter narrows. The filters
 * are exposed here so the tests can check each one on a known distribution.
 */
#ifndef EDGELM_SAMPLER_H
#define EDGELM_SAMPLER_H

#include "edgelm.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct elm_candidate {
    int32_t id;
    float logit;
    float p; /* valid after elm_cand_softmax */
} elm_candidate;

typedef struct elm_candidates {
    elm_candidate *data;
    int32_t n;
    bool sorted; /* by logit, descending (elm_cand_softmax sorts) */
} elm_candidates;

/* PCG32 (O'Neill's pcg32_random_r, XSH RR output): small, fast, reproducible. */
typedef struct elm_rng {
    uint64_t state, inc;
} elm_rng;

void elm_rng_seed(elm_rng *r, uint64_t seed);
uint32_t elm_rng_u32(elm_rng *r);
float elm_rng_uniform(elm_rng *r); /* [0, 1) with 24 random bits */

/* Fills c with ids 0..n-1 and their logits (c->data must hold n entries). */
void elm_cand_init(elm_candidates *c, const float *logits, int32_t n);
/* Repetition penalty on the distinct ids among last[0..n_last) (c must be unsorted, i.e.
 * c->data[id].id == id). seen: scratch of at least c->n bits, all zero; left zero. */
void elm_cand_penalize(elm_candidates *c, const int32_t *last, int32_t n_last, float penalty,
                       uint8_t *seen);
/* Sorts by logit (descending) and sets p = softmax(logit). */
void elm_cand_softmax(elm_candidates *c);
/* Keeps the k largest logits (sorted). */
void elm_cand_top_k(elm_candidates *c, int32_t k);
/* Keeps the smallest prefix whose probability reaches p (at least one). */
void elm_cand_top_p(elm_candidates *c, float p);
/* Keeps candidates with probability >= min_p * the largest probability. */
void elm_cand_min_p(elm_candidates *c, float min_p);
/* Divides the logits by t (> 0). */
void elm_cand_temp(elm_candidates *c, float t);
/* Index of the largest logit (ties: the lowest id). */
int32_t elm_cand_argmax(const elm_candidates *c);
/* Draws from softmax(logits) of c with the uniform number u in [0, 1). */
int32_t elm_cand_draw(elm_candidates *c, float u);

#endif /* EDGELM_SAMPLER_H */
