/*
 * gl-ops.h — vector primitives and shared helpers of the op kernels (gl-ops.c, gl-ops-nn.c).
 * Internal to ggml-lite.
 *
 * Every primitive has a portable scalar body (the reference) and, unless GL_NO_SIMD, an
 * AVX2/FMA or NEON body. The SIMD bodies differ from the scalar ones only by float
 * reassociation (sums kept in 8 or 4 lanes) and by the vectorised exp below:
 *
 *   ops_exp8 / ops_exp4: x = n ln2 + r (Cody-Waite, |r| <= ln2/2), exp(r) by its degree-7
 *   Taylor polynomial (truncation < 6e-9 relative), times 2^n built in the exponent bits.
 *   Measured and expected error: <= 2 ulp for x in [-87.33, 88.72]; x < -87.33 (true result
 *   below FLT_MIN) gives 0 (absolute error < 1.2e-38), x > 88.72 gives +inf, NaN stays NaN.
 *   tanh(x) = sign(x) (1 - e)/(1 + e), e = exp(-2|x|): absolute error <= ~3e-7.
 *   sigmoid(x) = 1/(1 + exp(-x)): relative error <= ~3 ulp.
 */
#ifndef GL_OPS_H
#define GL_OPS_H

#include "gl-impl.h"

#include <math.h>

/* ------------------------------------------------------------------------------------------
 * Vectorised exp
 * ---------------------------------------------------------------------------------------- */

#define OPS_EXP_HI 88.72283935546875f    /* ln(FLT_MAX), rounded down */
#define OPS_EXP_LO (-87.33654022216797f) /* ln(FLT_MIN) */
#define OPS_LOG2E 1.44269504088896341f
#define OPS_LN2_HI 0.693359375f          /* 355/512: n * OPS_LN2_HI is exact for |n| < 2^15 */
#define OPS_LN2_LO (-2.12194440e-4f)     /* ln2 - OPS_LN2_HI */
#define OPS_C2 (1.0f / 2.0f)
#define OPS_C3 (1.0f / 6.0f)
#define OPS_C4 (1.0f / 24.0f)
#define OPS_C5 (1.0f / 120.0f)
#define OPS_C6 (1.0f / 720.0f)
#define OPS_C7 (1.0f / 5040.0f)

#if defined(GL_AVX2)
static inline float ops_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float ops_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline __m256 ops_exp8(__m256 x) {
    /* Clamp keeping a NaN x (minps/maxps return their second operand when either is NaN). */
    const __m256 xr = _mm256_max_ps(_mm256_set1_ps(OPS_EXP_LO), _mm256_min_ps(_mm256_set1_ps(OPS_EXP_HI), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xr, _mm256_set1_ps(OPS_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(OPS_LN2_HI), xr);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(OPS_LN2_LO), r);
    __m256 p = _mm256_set1_ps(OPS_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(OPS_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(OPS_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(OPS_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(OPS_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(OPS_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^n as two factors so that n = 128 (x near ln FLT_MAX) does not overflow the exponent. */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(OPS_EXP_LO), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(OPS_EXP_HI), _CMP_GT_OQ));
    return y;
}
static inline __m256 ops_sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = ops_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(one, _mm256_add_ps(one, e));
}
static inline __m256 ops_tanh8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 e = ops_exp8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(t, sign);
}
#elif defined(GL_NEON)
static inline float32x4_t ops_exp4(float32x4_t x) {
    const uint32x4_t is_nan = vmvnq_u32(vceqq_f32(x, x));
    float32x4_t xr = vmaxq_f32(vdupq_n_f32(OPS_EXP_LO), vminq_f32(vdupq_n_f32(OPS_EXP_HI), x));
    xr = vbslq_f32(is_nan, x, xr);
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(xr, OPS_LOG2E));
    float32x4_t r = vfmsq_f32(xr, n, vdupq_n_f32(OPS_LN2_HI));
    r = vfmsq_f32(r, n, vdupq_n_f32(OPS_LN2_LO));
    float32x4_t p = vdupq_n_f32(OPS_C7);
    p = vfmaq_f32(vdupq_n_f32(OPS_C6), p, r);
    p = vfmaq_f32(vdupq_n_f32(OPS_C5), p, r);
    p = vfmaq_f32(vdupq_n_f32(OPS_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(OPS_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(OPS_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t ni = vcvtq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1);
    const int32x4_t n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    float32x4_t y = vmulq_f32(vmulq_f32(p, s1), s2);
    y = vbslq_f32(vcltq_f32(x, vdupq_n_f32(OPS_EXP_LO)), vdupq_n_f32(0.0f), y);
    y = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(OPS_EXP_HI)), vdupq_n_f32(INFINITY), y);
    return y;
}
static inline float32x4_t ops_sigmoid4(float32x4_t x) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    return vdivq_f32(one, vaddq_f32(one, ops_exp4(vnegq_f32(x))));
}
static inline float32x4_t ops_tanh4(float32x4_t x) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t e = ops_exp4(vmulq_n_f32(vabsq_f32(x), -2.0f));
    const float32x4_t t = vdivq_f32(vsubq_f32(one, e), vaddq_f32(one, e));
    /* copy x's sign bit onto t (t >= 0) */
    const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(t), sign));
}
static inline float32x4_t ops_load_f16x4(const gl_fp16 *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
#endif

/* Scalar references of the nonlinearities (libm). */
static inline float ops_sigmoid1(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ------------------------------------------------------------------------------------------
 * Dot products and axpy
 * ---------------------------------------------------------------------------------------- */

static inline float ops_vec_dot_f32(int64_t n, const float *x, const float *y) {
    int64_t i = 0;
    float sum = 0.0f;
#if defined(GL_AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    sum = ops_hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#elif defined(GL_NEON)
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0), a3 = vdupq_n_f32(0);
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
#endif
    double tail = 0.0; /* the scalar reference accumulates in double */
    for (; i < n; i++) tail += (double)x[i] * (double)y[i];
    return sum + (float)tail;
}

/* x F16 (a weight or K row), y F32. */
static inline float ops_vec_dot_f16(int64_t n, const gl_fp16 *x, const float *y) {
    int64_t i = 0;
    float sum = 0.0f;
#if defined(GL_AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                             _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8))),
                             _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                             _mm256_loadu_ps(y + i), a0);
    sum = ops_hsum8(_mm256_add_ps(a0, a1));
#elif defined(GL_NEON)
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, ops_load_f16x4(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, ops_load_f16x4(x + i + 4), vld1q_f32(y + i + 4));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, ops_load_f16x4(x + i), vld1q_f32(y + i));
    sum = vaddvq_f32(vaddq_f32(a0, a1));
#endif
    double tail = 0.0;
    for (; i < n; i++) tail += (double)gl_fp16_to_fp32(x[i]) * (double)y[i];
    return sum + (float)tail;
}

/* y += a * x */
static inline void ops_vec_mad_f32(int64_t n, float *y, const float *x, float a) {
    int64_t i = 0;
#if defined(GL_AVX2)
    const __m256 va = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), va, _mm256_loadu_ps(y + i)));
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
#endif
    for (; i < n; i++) y[i] += a * x[i];
}

static inline void ops_vec_mad_f16(int64_t n, float *y, const gl_fp16 *x, float a) {
    int64_t i = 0;
#if defined(GL_AVX2)
    const __m256 va = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                                                va, _mm256_loadu_ps(y + i)));
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), ops_load_f16x4(x + i), a));
#endif
    for (; i < n; i++) y[i] += a * gl_fp16_to_fp32(x[i]);
}

/* ------------------------------------------------------------------------------------------
 * Elementwise
 * ---------------------------------------------------------------------------------------- */

typedef enum ops_binop { OPS_BIN_ADD, OPS_BIN_SUB, OPS_BIN_MUL, OPS_BIN_DIV } ops_binop;

static inline float ops_bin1(ops_binop op, float a, float b) {
    switch (op) {
    case OPS_BIN_ADD: return a + b;
    case OPS_BIN_SUB: return a - b;
    case OPS_BIN_MUL: return a * b;
    default: return a / b;
    }
}

/* z = x op y (z may alias x or y). */
static inline void ops_vec_bin(ops_binop op, int64_t n, float *z, const float *x, const float *y) {
    int64_t i = 0;
#if defined(GL_AVX2)
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(y + i);
        __m256 r;
        switch (op) {
        case OPS_BIN_ADD: r = _mm256_add_ps(a, b); break;
        case OPS_BIN_SUB: r = _mm256_sub_ps(a, b); break;
        case OPS_BIN_MUL: r = _mm256_mul_ps(a, b); break;
        default: r = _mm256_div_ps(a, b); break;
        }
        _mm256_storeu_ps(z + i, r);
    }
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) {
        const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(y + i);
        float32x4_t r;
        switch (op) {
        case OPS_BIN_ADD: r = vaddq_f32(a, b); break;
        case OPS_BIN_SUB: r = vsubq_f32(a, b); break;
        case OPS_BIN_MUL: r = vmulq_f32(a, b); break;
        default: r = vdivq_f32(a, b); break;
        }
        vst1q_f32(z + i, r);
    }
#endif
    for (; i < n; i++) z[i] = ops_bin1(op, x[i], y[i]);
}

/* y = x * s */
static inline void ops_vec_scale(int64_t n, float *y, const float *x, float s) {
    int64_t i = 0;
#if defined(GL_AVX2)
    const __m256 vs = _mm256_set1_ps(s);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(x + i), s));
#endif
    for (; i < n; i++) y[i] = x[i] * s;
}

/* y = (x - shift) * s */
static inline void ops_vec_shift_scale(int64_t n, float *y, const float *x, float shift, float s) {
    int64_t i = 0;
#if defined(GL_AVX2)
    const __m256 vs = _mm256_set1_ps(s), vm = _mm256_set1_ps(shift);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vs));
#elif defined(GL_NEON)
    const float32x4_t vm = vdupq_n_f32(shift);
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vm), s));
#endif
    for (; i < n; i++) y[i] = (x[i] - shift) * s;
}

static inline float ops_vec_max(int64_t n, const float *x) {
    float m = -INFINITY;
    int64_t i = 0;
#if defined(GL_AVX2)
    if (n >= 8) {
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
        m = ops_hmax8(vm);
    }
#elif defined(GL_NEON)
    if (n >= 4) {
        float32x4_t vm = vdupq_n_f32(-INFINITY);
        for (; i + 4 <= n; i += 4) vm = vmaxq_f32(vm, vld1q_f32(x + i));
        m = vmaxvq_f32(vm);
    }
#endif
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline float ops_vec_sum(int64_t n, const float *x) {
    int64_t i = 0;
    float sum = 0.0f;
#if defined(GL_AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    sum = ops_hsum8(_mm256_add_ps(a0, a1));
#elif defined(GL_NEON)
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    for (; i + 8 <= n; i += 8) {
        a0 = vaddq_f32(a0, vld1q_f32(x + i));
        a1 = vaddq_f32(a1, vld1q_f32(x + i + 4));
    }
    for (; i + 4 <= n; i += 4) a0 = vaddq_f32(a0, vld1q_f32(x + i));
    sum = vaddvq_f32(vaddq_f32(a0, a1));
#endif
    double tail = 0.0;
    for (; i < n; i++) tail += x[i];
    return sum + (float)tail;
}

/* sum (x - mean)^2 */
static inline float ops_vec_sumsq_dev(int64_t n, const float *x, float mean) {
    int64_t i = 0;
    float sum = 0.0f;
#if defined(GL_AVX2)
    const __m256 vm = _mm256_set1_ps(mean);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm);
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        a0 = _mm256_fmadd_ps(d0, d0, a0);
    }
    sum = ops_hsum8(_mm256_add_ps(a0, a1));
#elif defined(GL_NEON)
    const float32x4_t vm = vdupq_n_f32(mean);
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    for (; i + 8 <= n; i += 8) {
        const float32x4_t d0 = vsubq_f32(vld1q_f32(x + i), vm);
        const float32x4_t d1 = vsubq_f32(vld1q_f32(x + i + 4), vm);
        a0 = vfmaq_f32(a0, d0, d0);
        a1 = vfmaq_f32(a1, d1, d1);
    }
    for (; i + 4 <= n; i += 4) {
        const float32x4_t d0 = vsubq_f32(vld1q_f32(x + i), vm);
        a0 = vfmaq_f32(a0, d0, d0);
    }
    sum = vaddvq_f32(vaddq_f32(a0, a1));
#endif
    double tail = 0.0;
    for (; i < n; i++) {
        const double d = (double)x[i] - mean;
        tail += d * d;
    }
    return sum + (float)tail;
}

/* y = exp(x - shift); returns the sum of y. */
static inline float ops_vec_exp_sum(int64_t n, float *y, const float *x, float shift) {
    int64_t i = 0;
    float sum = 0.0f;
#if defined(GL_AVX2)
    const __m256 vs = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        const __m256 e = ops_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
        _mm256_storeu_ps(y + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    sum = ops_hsum8(acc);
#elif defined(GL_NEON)
    const float32x4_t vs = vdupq_n_f32(shift);
    float32x4_t acc = vdupq_n_f32(0);
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = ops_exp4(vsubq_f32(vld1q_f32(x + i), vs));
        vst1q_f32(y + i, e);
        acc = vaddq_f32(acc, e);
    }
    sum = vaddvq_f32(acc);
#endif
    double tail = 0.0;
    for (; i < n; i++) {
        y[i] = expf(x[i] - shift);
        tail += y[i];
    }
    return sum + (float)tail;
}

static inline void ops_vec_sigmoid(int64_t n, float *y, const float *x) {
    int64_t i = 0;
#if defined(GL_AVX2)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, ops_sigmoid8(_mm256_loadu_ps(x + i)));
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, ops_sigmoid4(vld1q_f32(x + i)));
#endif
    for (; i < n; i++) y[i] = ops_sigmoid1(x[i]);
}

static inline void ops_vec_tanh(int64_t n, float *y, const float *x) {
    int64_t i = 0;
#if defined(GL_AVX2)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, ops_tanh8(_mm256_loadu_ps(x + i)));
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, ops_tanh4(vld1q_f32(x + i)));
#endif
    for (; i < n; i++) y[i] = tanhf(x[i]);
}

/* ------------------------------------------------------------------------------------------
 * Shared by gl-ops.c and gl-ops-nn.c
 * ---------------------------------------------------------------------------------------- */

/* Per-thread scratch: a row of n floats, padded to a cache line. */
static inline size_t ops_row_bytes(int64_t n) { return GL_PAD((size_t)n * sizeof(float), GL_CACHE_LINE); }

/* Converts row (i1, i2, i3) of t (F32/F16/BF16 with any nb0, or any type with to_float and
 * contiguous rows) to F32 in out. */
GL_PRIVATE void gl_ops_row_to_f32(const gl_tensor *t, int64_t i1, int64_t i2, int64_t i3, float *out);
/* The row itself when it is already contiguous F32, else its conversion into tmp. */
static inline const float *ops_row_f32(const gl_tensor *t, int64_t i1, int64_t i2, int64_t i3,
                                       float *tmp) {
    if (t->type == GL_TYPE_F32 && t->nb[0] == sizeof(float)) return (const float *)gl_row(t, i1, i2, i3);
    gl_ops_row_to_f32(t, i1, i2, i3, tmp);
    return tmp;
}
/* True when ops_row_f32 on t needs a scratch row. */
static inline bool ops_needs_tmp(const gl_tensor *t) {
    return t && !(t->type == GL_TYPE_F32 && t->nb[0] == sizeof(float));
}

/* ---- weight rows: dot products with any supported weight type ----
 * F32 and F16 weights use the kernels above on an F32 vector. Other types use the type's
 * vec_dot on the vector converted once to its vec_dot_type (gl_ops_wvec_prepare). */
GL_PRIVATE bool gl_ops_weight_ok(const gl_tensor *w);
/* Bytes of the prepared vector of n elements for w's type (0 when the F32 vector is used). */
GL_PRIVATE size_t gl_ops_wvec_bytes(gl_type wtype, int64_t n);
/* Returns x itself or its conversion into buf (gl_ops_wvec_bytes bytes). */
GL_PRIVATE const void *gl_ops_wvec_prepare(gl_type wtype, const float *x, int64_t n, void *buf);
/* Dot of row j of w (i2 = i3 = 0) with a prepared vector. */
static inline float ops_wrow_dot(const gl_tensor *w, int64_t j, const void *xp, int64_t n) {
    const void *row = (const char *)w->data + j * w->nb[1];
    if (w->type == GL_TYPE_F32) return ops_vec_dot_f32(n, (const float *)row, (const float *)xp);
    if (w->type == GL_TYPE_F16) return ops_vec_dot_f16(n, (const gl_fp16 *)row, (const float *)xp);
    float s = 0.0f;
    gl_type_get(w->type)->vec_dot((int)n, &s, row, xp);
    return s;
}

/* Element i of a 1-D float tensor (F32/F16/BF16) as F32. */
GL_PRIVATE float gl_ops_get1(const gl_tensor *t, int64_t i);

/* Kernels in gl-ops-nn.c */
GL_PRIVATE void gl_ops_forward_rope(const gl_compute_params *p, gl_tensor *dst);
GL_PRIVATE void gl_ops_forward_attn(const gl_compute_params *p, gl_tensor *dst);
GL_PRIVATE void gl_ops_forward_conv1d_max(const gl_compute_params *p, gl_tensor *dst);
GL_PRIVATE void gl_ops_forward_lstm(const gl_compute_params *p, gl_tensor *dst);
GL_PRIVATE size_t gl_ops_nn_work_size(const gl_tensor *t, int n_threads);

#endif /* GL_OPS_H */
