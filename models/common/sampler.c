/*
 * sampler.c — turning logits into a token: repetition penalty, top-k, top-p, min-p,
 * temperature, then greedy or a seeded draw.
 *
 * The order and the rules follow llama.cpp's default chain: penalties first (on raw logits),
 * then the truncations, each computed on the softmax of the current (untempered) logits, then
 * the temperature, then the draw. temp <= 0 means greedy: the argmax after the penalty.
 * The random generator lives in the sampler, so the same seed gives the same tokens.
 */
#include "alloc.h"
#include "sampler.h"
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * PCG32
 * ---------------------------------------------------------------------------------------- */

void elm_rng_seed(elm_rng *r, uint64_t seed) {
    r->state = 0;
    r->inc = (seed << 1) | 1u; /* the stream: any odd increment */
    elm_rng_u32(r);
    r->state += 0x853c49e6748fea9bULL ^ seed;
    elm_rng_u32(r);
}

uint32_t elm_rng_u32(elm_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

float elm_rng_uniform(elm_rng *r) { return (float)(elm_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

/* ------------------------------------------------------------------------------------------
 * Candidate filters
 * ---------------------------------------------------------------------------------------- */

void elm_cand_init(elm_candidates *c, const float *logits, int32_t n) {
    for (int32_t i = 0; i < n; i++) c->data[i] = (elm_candidate){i, logits[i], 0.0f};
    c->n = n;
    c->sorted = false;
}

void elm_cand_penalize(elm_candidates *c, const int32_t *last, int32_t n_last, float penalty,
                       uint8_t *seen) {
    if (penalty == 1.0f || n_last <= 0) return;
    for (int32_t i = 0; i < n_last; i++) {
        int32_t id = last[i];
        if (id < 0 || id >= c->n || (seen[id >> 3] & (1u << (id & 7)))) continue;
        seen[id >> 3] |= (uint8_t)(1u << (id & 7));
        float *l = &c->data[id].logit;
        /* Dividing a negative logit would raise its probability: multiply instead. */
        *l = *l > 0.0f ? *l / penalty : *l * penalty;
    }
    for (int32_t i = 0; i < n_last; i++)
        if (last[i] >= 0 && last[i] < c->n) seen[last[i] >> 3] = 0;
}

static int sampler_cmp_desc(const void *a, const void *b) {
    const elm_candidate *x = a, *y = b;
    /* NaN logits (a model with NaN weights) sort last: qsort needs a consistent order */
    const bool xn = isnan(x->logit), yn = isnan(y->logit);
    if (xn != yn) return xn ? 1 : -1;
    if (x->logit > y->logit) return -1;
    if (x->logit < y->logit) return 1;
    return x->id < y->id ? -1 : x->id > y->id; /* stable order for equal logits */
}

static void sampler_sort(elm_candidates *c) {
    if (!c->sorted) qsort(c->data, (size_t)c->n, sizeof *c->data, sampler_cmp_desc);
    c->sorted = true;
}

void elm_cand_softmax(elm_candidates *c) {
    if (c->n <= 0) return;
    sampler_sort(c);
    const float max = c->data[0].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < c->n; i++) {
        c->data[i].p = expf(c->data[i].logit - max);
        sum += c->data[i].p;
    }
    for (int32_t i = 0; i < c->n; i++) c->data[i].p = (float)(c->data[i].p / sum);
}

/* Moves the k largest logits to the front, sorted; a partial selection keeps it cheap when
 * k is much smaller than the vocabulary. */
void elm_cand_top_k(elm_candidates *c, int32_t k) {
    if (k <= 0 || k >= c->n) return;
    if (!c->sorted) {
        /* Keep a sorted front of k entries; insert each later candidate that beats its tail. */
        elm_candidate *d = c->data;
        qsort(d, (size_t)k, sizeof *d, sampler_cmp_desc);
        for (int32_t i = k; i < c->n; i++) {
            if (sampler_cmp_desc(&d[i], &d[k - 1]) >= 0) continue;
            elm_candidate x = d[i];
            int32_t j = k - 1;
            while (j > 0 && sampler_cmp_desc(&x, &d[j - 1]) < 0) {
                d[j] = d[j - 1];
                j--;
            }
            d[j] = x;
        }
    }
    c->n = k;
    c->sorted = true;
}

void elm_cand_top_p(elm_candidates *c, float p) {
    if (p >= 1.0f || c->n <= 1) return;
    elm_cand_softmax(c);
    double cum = 0.0;
    for (int32_t i = 0; i < c->n; i++) {
        cum += c->data[i].p;
        if (cum >= p) {
            c->n = i + 1;
            return;
        }
    }
}

void elm_cand_min_p(elm_candidates *c, float min_p) {
    if (min_p <= 0.0f || c->n <= 1) return;
    elm_cand_softmax(c);
    const float threshold = min_p * c->data[0].p;
    int32_t keep = 1;
    while (keep < c->n && c->data[keep].p >= threshold) keep++;
    c->n = keep;
}

void elm_cand_temp(elm_candidates *c, float t) {
    for (int32_t i = 0; i < c->n; i++) c->data[i].logit /= t;
}

int32_t elm_cand_argmax(const elm_candidates *c) {
    int32_t best = 0;
    for (int32_t i = 1; i < c->n; i++)
        if (c->data[i].logit > c->data[best].logit ||
            (c->data[i].logit == c->data[best].logit && c->data[i].id < c->data[best].id))
            best = i;
    return c->n > 0 ? c->data[best].id : -1;
}

int32_t elm_cand_draw(elm_candidates *c, float u) {
    if (c->n <= 0) return -1;
    elm_cand_softmax(c);
    double cum = 0.0;
    for (int32_t i = 0; i < c->n; i++) {
        cum += c->data[i].p;
        if (u < cum) return c->data[i].id;
    }
    return c->data[c->n - 1].id; /* u within rounding of 1 */
}

/* ------------------------------------------------------------------------------------------
 * The sampler
 * ---------------------------------------------------------------------------------------- */

struct elm_sampler {
    elm_sampler_params p;
    int32_t n_vocab;
    elm_rng rng;
    elm_candidates cand;
    uint8_t *seen;      /* n_vocab bits, for the penalty's distinct ids */
    int32_t *history;   /* ring of the last repeat_last_n accepted ids */
    int32_t *last;      /* the history in order (scratch) */
    int32_t n_hist, hist_pos;
};

elm_sampler_params elm_sampler_default_params(void) {
    elm_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                            .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
    return p;
}

elm_sampler *elm_sampler_new(const elm_sampler_params *params, int32_t n_vocab, elm_error *err) {
    elm_sampler_params p = params ? *params : elm_sampler_default_params();
    const char *bad = NULL;
    if (n_vocab < 1) bad = "vocabulary size must be positive";
    else if (!isfinite(p.temp)) bad = "temperature must be finite";
    else if (!(p.top_p > 0.0f) || !isfinite(p.top_p)) bad = "top-p must be in (0, 1]";
    else if (!(p.min_p >= 0.0f) || p.min_p > 1.0f) bad = "min-p must be in [0, 1]";
    else if (!(p.repeat_penalty > 0.0f) || !isfinite(p.repeat_penalty))
        bad = "repeat penalty must be positive";
    else if (p.repeat_last_n < 0 || p.repeat_last_n > (1 << 20))
        bad = "repeat-last-n must be in [0, 1048576]";
    if (bad) {
        elm_err_set(err, ELM_ERR_INVALID, "sampler: %s", bad);
        return NULL;
    }
    elm_sampler *s = ELM_CALLOC(1, sizeof *s);
    if (s) {
        s->p = p;
        s->n_vocab = n_vocab;
        s->cand.data = ELM_MALLOC((size_t)n_vocab * sizeof *s->cand.data);
        s->seen = ELM_CALLOC(((size_t)n_vocab + 7) / 8, 1);
        s->history = ELM_MALLOC(((size_t)p.repeat_last_n + 1) * sizeof *s->history);
        s->last = ELM_MALLOC(((size_t)p.repeat_last_n + 1) * sizeof *s->last);
    }
    if (!s || !s->cand.data || !s->seen || !s->history || !s->last) {
        elm_sampler_free(s);
        elm_err_set(err, ELM_ERR_NOMEM, "sampler: out of memory");
        return NULL;
    }
    elm_rng_seed(&s->rng, p.seed);
    return s;
}

void elm_sampler_free(elm_sampler *s) {
    if (!s) return;
    ELM_FREE(s->cand.data);
    ELM_FREE(s->seen);
    ELM_FREE(s->history);
    ELM_FREE(s->last);
    ELM_FREE(s);
}

void elm_sampler_reset(elm_sampler *s, uint64_t seed) {
    if (!s) return;
    s->n_hist = s->hist_pos = 0;
    s->p.seed = seed;
    elm_rng_seed(&s->rng, seed);
}

void elm_sampler_accept(elm_sampler *s, int32_t id) {
    if (!s || s->p.repeat_last_n == 0) return;
    s->history[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

int32_t elm_sampler_sample(elm_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    elm_candidates *c = &s->cand;
    elm_cand_init(c, logits, s->n_vocab);
    if (s->p.repeat_penalty != 1.0f && s->n_hist > 0) {
        /* Unroll the ring, oldest first (the order does not matter for the rule). */
        int32_t start = (s->hist_pos - s->n_hist + s->p.repeat_last_n) % s->p.repeat_last_n;
        for (int32_t i = 0; i < s->n_hist; i++)
            s->last[i] = s->history[(start + i) % s->p.repeat_last_n];
        elm_cand_penalize(c, s->last, s->n_hist, s->p.repeat_penalty, s->seen);
    }
    if (s->p.temp <= 0.0f) return elm_cand_argmax(c);
    elm_cand_top_k(c, s->p.top_k);
    elm_cand_top_p(c, s->p.top_p);
    elm_cand_min_p(c, s->p.min_p);
    elm_cand_temp(c, s->p.temp);
    return elm_cand_draw(c, elm_rng_uniform(&s->rng));
}
