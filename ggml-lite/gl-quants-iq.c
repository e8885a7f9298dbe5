/*
 * gl-quants-iq.c — IQ4_NL and IQ4_XS: reference quantizers, dequantizers and dots (iq_).
 *
 * Both store 4-bit codes that index ggml's fixed non-linear table of 16 int8 values (denser
 * near zero, where most weights are), scaled per 32 elements:
 *   IQ4_NL  blocks of 32: an fp16 scale d, 16 bytes of codes; x = d * value[code].
 *   IQ4_XS  super-blocks of 256: an fp16 d and eight 6-bit sub-block scales ls (low 4 bits
 *           in scales_l, high 2 in scales_h); x = d * (ls - 32) * value[code].
 * Codes: byte j of a 32-element group holds element j (low nibble) and j + 16 (high).
 *
 * Quantizer (facts from ggml's ggml-quants.c, quantize_row_iq4_nl_impl with no importance
 * matrix, written down independently): weights x^2; per 32 elements a first scale
 * max / value[0]-style from the signed largest |x|, codes by nearest table entry, a weighted
 * least-squares scale, then 15 stretched trial scales (value[0] + t) / max, t in -7..7, kept
 * when they improve sumqx^2 / sumq2. IQ4_NL stores the scale as fp16 and re-picks codes with
 * the float scale; IQ4_XS stores d = -max_scale / 32 and 6-bit ls = round(scale / d) clamped
 * to -32..31, re-picking codes with d * ls. Float steps are float32 in ggml's order (no fused
 * multiply-add: this file is built with -std=c11, where GCC does not contract).
 *
 * Dots: IQ4_NL against Q8_0 activations, IQ4_XS against Q8_K (as in ggml). SIMD: the table
 * lookup is one byte shuffle (AVX2 vpshufb, NEON tbl); products as in the Q4_0 kernels.
 */
#include "gl-quants.h"

#include <math.h>

static const int8_t iq_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

const int8_t *gl_iq4_table(void) { return iq_values; }

/* ------------------------------------------------------------------------------------------
 * Reference quantizers
 * ---------------------------------------------------------------------------------------- */

/* Index of the table entry nearest x (ties to the lower entry's upper neighbour as ggml's
 * binary search resolves them). */
static int iq_best_index(float x) {
    if (x <= iq_values[0]) return 0;
    if (x >= iq_values[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < iq_values[mid]) hi = mid;
        else lo = mid;
    }
    return x - iq_values[hi - 1] < iq_values[hi] - x ? hi - 1 : hi;
}

/* Weighted fit of the codes picked with inverse scale id: sumqx and sumq2. */
static void iq_fit(const float *x, const float *w, float id, float *sumqx, float *sumq2) {
    float sx = 0, s2 = 0;
    for (int j = 0; j < 32; j++) {
        const float q = iq_values[iq_best_index(id * x[j])];
        sx += w[j] * q * x[j];
        s2 += w[j] * q * q;
    }
    *sumqx = sx;
    *sumq2 = s2;
}

/* The best float scale of 32 values (0 for an all-zero group). */
static float iq_group_scale(const float *x) {
    float w[32], amax = 0, max = 0;
    for (int j = 0; j < 32; j++) {
        w[j] = x[j] * x[j];
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax < 1e-15f) return 0;
    float sumqx, sumq2;
    iq_fit(x, w, 1 / (-max / iq_values[0]), &sumqx, &sumq2);
    float d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int t = -7; t <= 7; t++) {
        iq_fit(x, w, (float)(t + iq_values[0]) / max, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* Codes of 32 values for inverse scale id, packed into 16 bytes. */
static void iq_pack_codes(const float *x, float id, uint8_t *qs) {
    uint8_t L[32];
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)iq_best_index(id * x[j]);
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

void gl_quantize_row_iq4_nl_ref(const float *x, void *vy, int64_t n) {
    block_iq4_nl *y = vy;
    for (int64_t i = 0; i < n / GL_QK4_NL; i++) {
        const float *xb = x + i * GL_QK4_NL;
        const float d = iq_group_scale(xb);
        y[i].d = gl_fp32_to_fp16(d);
        iq_pack_codes(xb, d ? 1 / d : 0.f, y[i].qs);
    }
}

void gl_quantize_row_iq4_xs_ref(const float *x, void *vy, int64_t n) {
    block_iq4_xs *y = vy;
    for (int64_t i = 0; i < n / GL_QK_K; i++) {
        const float *xs = x + i * GL_QK_K;
        float scales[8], max_scale = 0, amax_scale = 0;
        for (int ib = 0; ib < 8; ib++) {
            scales[ib] = iq_group_scale(xs + 32 * ib);
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        const float d = -max_scale / 32;
        const float id = d ? 1 / d : 0.f;
        y[i].d = gl_fp32_to_fp16(d);
        y[i].scales_h = 0;
        memset(y[i].scales_l, 0, sizeof y[i].scales_l);
        for (int ib = 0; ib < 8; ib++) {
            int l = gl_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * l;
            iq_pack_codes(xs + 32 * ib, dl ? 1 / dl : 0.f, y[i].qs + 16 * ib);
            l += 32;
            y[i].scales_l[ib / 2] |= (uint8_t)((l & 15) << (4 * (ib % 2)));
            y[i].scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Dequantizers
 * ---------------------------------------------------------------------------------------- */

static inline int iq_xs_scale(const block_iq4_xs *b, int ib) {
    return (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

static void iq_dequant_group(const uint8_t *qs, float d, float *y) {
    for (int j = 0; j < 16; j++) {
        y[j] = d * iq_values[qs[j] & 15];
        y[j + 16] = d * iq_values[qs[j] >> 4];
    }
}

void gl_dequantize_row_iq4_nl(const void *vx, float *y, int64_t n) {
    const block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / GL_QK4_NL; i++)
        iq_dequant_group(x[i].qs, gl_fp16_to_fp32(x[i].d), y + i * GL_QK4_NL);
}

void gl_dequantize_row_iq4_xs(const void *vx, float *y, int64_t n) {
    const block_iq4_xs *x = vx;
    for (int64_t i = 0; i < n / GL_QK_K; i++) {
        const float d = gl_fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ib++)
            iq_dequant_group(x[i].qs + 16 * ib, d * iq_xs_scale(&x[i], ib), y + i * GL_QK_K + 32 * ib);
    }
}

/* ------------------------------------------------------------------------------------------
 * Dots
 * ---------------------------------------------------------------------------------------- */

/* sum over 32 elements of value[code] * a (codes of 16 bytes, a 32 int8). */
static inline int iq_group_dot(const uint8_t *qs, const int8_t *a) {
    int sum = 0;
    for (int j = 0; j < 16; j++) sum += iq_values[qs[j] & 15] * a[j] + iq_values[qs[j] >> 4] * a[j + 16];
    return sum;
}

void gl_vec_dot_iq4_nl_q8_0_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / GL_QK4_NL; i++)
        sum += (float)iq_group_dot(x[i].qs, y[i].qs) * (gl_fp16_to_fp32(x[i].d) * gl_fp16_to_fp32(y[i].d));
    *s = sum;
}

/* Per super-block one integer, sum over sub-blocks of (ls - 32) * dot; the SIMD kernels make
 * the same integer. */
static inline float iq_xs_step(float sum, const block_iq4_xs *x, const block_q8_K *y, int32_t isum) {
    return sum + (float)isum * (GL_FP16_FAST(x->d) * y->d);
}

void gl_vec_dot_iq4_xs_q8_K_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / GL_QK_K; i++) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++)
            isum += iq_xs_scale(&x[i], ib) * iq_group_dot(x[i].qs + 16 * ib, y[i].qs + 32 * ib);
        sum = iq_xs_step(sum, &x[i], &y[i], isum);
    }
    *s = sum;
}

#if defined(GL_AVX2)
/* The 32 table values of a group's codes, in element order. */
static inline __m256i iq_avx2_lookup(const uint8_t *qs, __m256i table) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    return _mm256_shuffle_epi8(table, idx);
}
/* 16 int16 sums of adjacent products w * a (|w|, |a| <= 127: a pair fits int16). */
static inline __m256i iq_avx2_pairs(__m256i w, const int8_t *a) {
    const __m256i av = _mm256_loadu_si256((const __m256i *)a);
    return _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(av, w));
}
static inline __m256i iq_avx2_table(void) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq_values));
}
#elif defined(GL_NEON)
/* 4 int32 partial sums of w0 . a0 + w1 . a1 (16 int8 each; |w|, |a| <= 127). */
static inline int32x4_t iq_neon_dot(int8x16_t w0, int8x16_t a0, int8x16_t w1, int8x16_t a1) {
#if defined(GL_NEON_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, a0), w1, a1);
#else
    int16x8_t l = vmull_s8(vget_low_s8(w0), vget_low_s8(a0));
    l = vmlal_s8(l, vget_low_s8(w1), vget_low_s8(a1));
    int16x8_t h = vmull_high_s8(w0, a0);
    h = vmlal_high_s8(h, w1, a1);
    return vpaddq_s32(vpaddlq_s16(l), vpaddlq_s16(h));
#endif
}
/* Group dot: codes (16 bytes) through the table against 32 int8 activations. */
static inline int32x4_t iq_neon_group(const uint8_t *qs, int8x16_t table, const int8_t *a) {
    const uint8x16_t q = vld1q_u8(qs);
    const int8x16_t lo = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0f)));
    const int8x16_t hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
    return iq_neon_dot(lo, vld1q_s8(a), hi, vld1q_s8(a + 16));
}
#endif

void gl_vec_dot_iq4_nl_q8_0(int n, float *s, const void *vx, const void *vy) {
#if defined(GL_AVX2)
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const __m256i table = iq_avx2_table();
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / GL_QK4_NL; i++) {
        const __m256i p = _mm256_madd_epi16(iq_avx2_pairs(iq_avx2_lookup(x[i].qs, table), y[i].qs), ones);
        const float d = GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
    }
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    const __m128 h2 = _mm_add_ps(h, _mm_movehl_ps(h, h));
    *s = _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)));
#elif defined(GL_NEON)
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t table = vld1q_s8(iq_values);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / GL_QK4_NL; i++) {
        const int32x4_t p = iq_neon_group(x[i].qs, table, y[i].qs);
        const float d = GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
    }
    *s = vaddvq_f32(acc);
#else
    gl_vec_dot_iq4_nl_q8_0_scalar(n, s, vx, vy);
#endif
}

void gl_vec_dot_iq4_xs_q8_K(int n, float *s, const void *vx, const void *vy) {
#if defined(GL_AVX2)
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const __m256i table = iq_avx2_table();
    float sum = 0.0f;
    for (int i = 0; i < n / GL_QK_K; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i p = iq_avx2_pairs(iq_avx2_lookup(x[i].qs + 16 * ib, table), y[i].qs + 32 * ib);
            /* |pair| <= 32258, times |ls - 32| <= 32, two per lane: fits int32 */
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16((int16_t)iq_xs_scale(&x[i], ib))));
        }
        const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        const __m128i h2 = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
        const int32_t isum = _mm_cvtsi128_si32(_mm_add_epi32(h2, _mm_shuffle_epi32(h2, 1)));
        sum = iq_xs_step(sum, &x[i], &y[i], isum);
    }
    *s = sum;
#elif defined(GL_NEON)
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int8x16_t table = vld1q_s8(iq_values);
    float sum = 0.0f;
    for (int i = 0; i < n / GL_QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++)
            acc = vmlaq_n_s32(acc, iq_neon_group(x[i].qs + 16 * ib, table, y[i].qs + 32 * ib),
                              iq_xs_scale(&x[i], ib));
        sum = iq_xs_step(sum, &x[i], &y[i], vaddvq_s32(acc));
    }
    *s = sum;
#else
    gl_vec_dot_iq4_xs_q8_K_scalar(n, s, vx, vy);
#endif
}

/* ------------------------------------------------------------------------------------------
 * IQ4_XS mat-mat (gl_type_gemm_iq, in gl_type_gemm's form): IQ_GEMM_MR weight rows ×
 * IQ_GEMM_NC Q8_K activation rows per call. Each super-block of each weight row is decoded
 * once per call (the table values of its codes, its eight scales ls - 32) and then met by
 * every column; per (row, column, super-block) the kernels form the scalar dot's exact
 * integer and then its float steps in its order, sum + isum * (d * yd) (no fused
 * multiply-add), so an unsliced product equals the scalar vec_dot bit for bit in any tile
 * position. (IQ4_NL takes Q4_0's tile in gl-quants.c: the two share a block layout.)
 * ---------------------------------------------------------------------------------------- */

#if defined(GL_AVX2) || defined(GL_NEON)
#define IQ_GEMM_MR 4
#if defined(GL_AVX2) && defined(__AVX512VL__)
#define IQ_GEMM_NC 8
#else
#define IQ_GEMM_NC 4
#endif
_Static_assert(IQ_GEMM_NC <= GL_GEMM_NC_MAX, "gemm tile wider than mul_mat allows");

typedef struct iq_xs_dec {
    _Alignas(32) int8_t w[GL_QK_K]; /* table values, in element order */
#if defined(GL_AVX2)
    _Alignas(32) int8_t aw[GL_QK_K]; /* |w| (the unsigned operand of vpmaddubsw) */
#endif
    int16_t sc[8]; /* ls - 32 per 32 elements */
    float d;
} iq_xs_dec;

#if defined(GL_AVX2)
typedef __m256i iq_table;
#else
typedef int8x16_t iq_table;
#endif

static inline void iq_xs_decode(const block_iq4_xs *x, iq_table table, iq_xs_dec *o) {
    for (int ib = 0; ib < 8; ib++) {
#if defined(GL_AVX2)
        const __m256i w = iq_avx2_lookup(x->qs + 16 * ib, table);
        _mm256_store_si256((__m256i *)(o->w + 32 * ib), w);
        _mm256_store_si256((__m256i *)(o->aw + 32 * ib), _mm256_sign_epi8(w, w));
#else
        const uint8x16_t q = vld1q_u8(x->qs + 16 * ib);
        vst1q_s8(o->w + 32 * ib, vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0f))));
        vst1q_s8(o->w + 32 * ib + 16, vqtbl1q_s8(table, vshrq_n_u8(q, 4)));
#endif
        o->sc[ib] = (int16_t)iq_xs_scale(x, ib);
    }
    o->d = GL_FP16_FAST(x->d);
}

/* [isum of row 0..3] for one column's super-block yb. */
static inline void iq_xs_isums(const iq_xs_dec *dec, const block_q8_K *yb, int32_t *isum) {
#if defined(GL_AVX2)
    __m256i a[IQ_GEMM_MR];
    for (int r = 0; r < IQ_GEMM_MR; r++) a[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m256i yv = _mm256_loadu_si256((const __m256i *)(yb->qs + 32 * k));
#pragma GCC unroll 4
        for (int r = 0; r < IQ_GEMM_MR; r++) {
            const __m256i w = _mm256_load_si256((const __m256i *)(dec[r].w + 32 * k));
            const __m256i p = _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(dec[r].aw + 32 * k)),
                                                   _mm256_sign_epi8(yv, w));
            /* |pair| <= 32258, times |ls - 32| <= 32, two per lane: fits int32 */
            a[r] = _mm256_add_epi32(a[r], _mm256_madd_epi16(p, _mm256_set1_epi16(dec[r].sc[k])));
        }
    }
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    _mm_storeu_si128((__m128i *)isum, _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
#else
    int32x4_t a[IQ_GEMM_MR];
    for (int r = 0; r < IQ_GEMM_MR; r++) a[r] = vdupq_n_s32(0);
    for (int k = 0; k < 8; k++) {
        const int8x16_t y0 = vld1q_s8(yb->qs + 32 * k), y1 = vld1q_s8(yb->qs + 32 * k + 16);
        for (int r = 0; r < IQ_GEMM_MR; r++) {
            const int8x16_t w0 = vld1q_s8(dec[r].w + 32 * k), w1 = vld1q_s8(dec[r].w + 32 * k + 16);
            a[r] = vmlaq_n_s32(a[r], iq_neon_dot(w0, y0, w1, y1), dec[r].sc[k]);
        }
    }
    vst1q_s32(isum, vpaddq_s32(vpaddq_s32(a[0], a[1]), vpaddq_s32(a[2], a[3])));
#endif
}

static void iq_gemm_iq4_xs(int n, int nr, int nc, const void *vx, size_t bx, const void *const *vy,
                           float *s, size_t bs, bool add) {
    iq_xs_dec dec[IQ_GEMM_MR];
#if defined(GL_AVX2)
    const iq_table table = iq_avx2_table();
#else
    const iq_table table = vld1q_s8(iq_values);
#endif
    float acc[IQ_GEMM_NC][IQ_GEMM_MR] = {{0}};
    for (int b = 0; b < n / GL_QK_K; b++) {
        for (int r = 0; r < IQ_GEMM_MR; r++) {
            /* rows past nr repeat the last one; their results are dropped */
            const char *row = (const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx;
            iq_xs_decode((const block_iq4_xs *)row + b, table, &dec[r]);
        }
        for (int c = 0; c < nc; c++) {
            const block_q8_K *yb = (const block_q8_K *)vy[c] + b;
            int32_t isum[IQ_GEMM_MR];
            iq_xs_isums(dec, yb, isum);
            for (int r = 0; r < IQ_GEMM_MR; r++) acc[c][r] = acc[c][r] + (float)isum[r] * (dec[r].d * yb->d);
        }
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) gl_gemm_put(s + (size_t)c * bs + r, add, acc[c][r]);
}
#endif

gl_gemm_kernel gl_type_gemm_iq(gl_type type) {
#if defined(GL_AVX2) || defined(GL_NEON)
    if (type == GL_TYPE_IQ4_XS)
        return (gl_gemm_kernel){iq_gemm_iq4_xs, IQ_GEMM_MR, IQ_GEMM_NC, GL_TYPE_Q8_K, false, NULL, 0, false};
#endif
    (void)type;
    return (gl_gemm_kernel){0};
}
