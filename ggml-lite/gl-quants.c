/*
 * gl-quants.c — type traits, fp16/bf16 conversion, quantize/dequantize and dot products.
 *
 * Every kernel has a portable scalar version; SIMD versions (AVX2/FMA/F16C, NEON, NEON
 * dotprod) are selected at compile time and must agree with the scalar one: integer block
 * sums are exact, so the only differences come from the order of the float accumulation.
 * Static names carry the module prefix q_.
 */
#include "gl-quants.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------------------
 * fp16 / bf16 (portable, bit-exact: round to nearest even, subnormals, inf and NaN)
 * ---------------------------------------------------------------------------------------- */

static inline uint32_t q_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float q_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float gl_fp16_to_fp32(gl_fp16 h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in float */
        const float v = (float)mant * 5.9604644775390625e-8f;
        return q_bits_f32(q_f32_bits(v) | sign);
    }
    if (exp == 31) {
        /* inf, or NaN made quiet with its payload kept (as F16C and NEON convert it) */
        return q_bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
    }
    return q_bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

gl_fp16 gl_fp32_to_fp16(float f) {
    const uint32_t x = q_f32_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) {
        /* NaN: quiet it and keep the top payload bits (what F16C and NEON do) */
        return (gl_fp16)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    }
    if (ax >= 0x477ff000u) return (gl_fp16)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (ax >= 0x38800000u) {
        /* normal half: rebias the exponent, round the 13 dropped bits to nearest even;
         * a carry out of the mantissa correctly bumps the exponent */
        const uint32_t r = ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1);
        return (gl_fp16)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) return (gl_fp16)sign; /* <= 2^-25 (a tie) rounds to zero */
    /* subnormal half: value / 2^-24 = mant * 2^(e - 126), shift in [14, 24] */
    const uint32_t e = ax >> 23;
    const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (gl_fp16)(sign | h);
}

float gl_bf16_to_fp32(gl_bf16 h) { return q_bits_f32((uint32_t)h << 16); }

gl_bf16 gl_fp32_to_bf16(float f) {
    const uint32_t x = q_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (gl_bf16)((x >> 16) | 0x40); /* quiet NaN */
    return (gl_bf16)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

#define Q_FP16(h) gl_fp16_to_fp32(h)
#define Q_TO_FP16(f) gl_fp32_to_fp16(f)

void gl_fp16_to_fp32_row_ref(const void *vx, float *y, int64_t n) {
    const gl_fp16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = gl_fp16_to_fp32(x[i]);
}

void gl_fp32_to_fp16_row_ref(const float *x, void *vy, int64_t n) {
    gl_fp16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = gl_fp32_to_fp16(x[i]);
}

void gl_fp16_to_fp32_row(const void *vx, float *y, int64_t n) {
    const gl_fp16 *x = vx;
    int64_t i = 0;
#if defined(GL_AVX2)
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    }
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) {
        vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    }
#endif
    for (; i < n; i++) y[i] = gl_fp16_to_fp32(x[i]);
}

void gl_fp32_to_fp16_row(const float *x, void *vy, int64_t n) {
    gl_fp16 *y = vy;
    int64_t i = 0;
#if defined(GL_AVX2)
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(y + i), h);
    }
#elif defined(GL_NEON)
    for (; i + 4 <= n; i += 4) {
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    }
#endif
    for (; i < n; i++) y[i] = gl_fp32_to_fp16(x[i]);
}

void gl_bf16_to_fp32_row(const void *vx, float *y, int64_t n) {
    const gl_bf16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = gl_bf16_to_fp32(x[i]);
}

void gl_fp32_to_bf16_row(const float *x, void *vy, int64_t n) {
    gl_bf16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = gl_fp32_to_bf16(x[i]);
}

static void q_f32_to_f32_row(const void *x, float *y, int64_t n) {
    memmove(y, x, (size_t)n * sizeof(float));
}

static void q_f32_from_f32_row(const float *x, void *y, int64_t n) {
    memmove(y, x, (size_t)n * sizeof(float));
}

/* ------------------------------------------------------------------------------------------
 * Reference quantizers (ggml's algorithms, so files we write match llama.cpp's bytes)
 * ---------------------------------------------------------------------------------------- */

/* ggml computes MIN(hi, (int8_t)v) for v >= 0; this is the same for every v in [0, 127]
 * and also defined for NaN/inf inputs (a float-to-int cast out of range is undefined). */
static inline int q_trunc_clamp(float v, int hi) {
    if (!(v > 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* roundf(v) as int8, defined for every input (|v| <= 127 for finite rows). */
static inline int8_t q_round_i8(float v) {
    if (!(v > -127.5f)) return (int8_t)(v != v ? 0 : -127);
    if (v >= 127.5f) return 127;
    return (int8_t)roundf(v);
}

/* The element with the largest magnitude, sign kept (first one wins on ties). */
static inline float q_signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        const float v = x[j];
        if (amax < fabsf(v)) {
            amax = fabsf(v);
            max = v;
        }
    }
    return max;
}

static inline void q_min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void gl_quantize_row_q4_0_ref(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    const int64_t nb = n / GL_QK4_0;
    for (int64_t i = 0; i < nb; i++, x += GL_QK4_0) {
        const float max = q_signed_absmax(x, GL_QK4_0);
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = Q_TO_FP16(d);
        for (int j = 0; j < GL_QK4_0 / 2; j++) {
            const int q0 = q_trunc_clamp(x[j] * id + 8.5f, 15);
            const int q1 = q_trunc_clamp(x[j + GL_QK4_0 / 2] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void gl_quantize_row_q4_1_ref(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    const int64_t nb = n / GL_QK4_1;
    for (int64_t i = 0; i < nb; i++, x += GL_QK4_1) {
        float mn, mx;
        q_min_max(x, GL_QK4_1, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = Q_TO_FP16(d);
        y[i].m = Q_TO_FP16(mn);
        for (int j = 0; j < GL_QK4_1 / 2; j++) {
            const int q0 = q_trunc_clamp((x[j] - mn) * id + 0.5f, 15);
            const int q1 = q_trunc_clamp((x[j + GL_QK4_1 / 2] - mn) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void gl_quantize_row_q5_0_ref(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    const int64_t nb = n / GL_QK5_0;
    for (int64_t i = 0; i < nb; i++, x += GL_QK5_0) {
        const float max = q_signed_absmax(x, GL_QK5_0);
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = Q_TO_FP16(d);
        uint32_t qh = 0;
        for (int j = 0; j < GL_QK5_0 / 2; j++) {
            const int q0 = q_trunc_clamp(x[j] * id + 16.5f, 31);
            const int q1 = q_trunc_clamp(x[j + GL_QK5_0 / 2] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + GL_QK5_0 / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void gl_quantize_row_q5_1_ref(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    const int64_t nb = n / GL_QK5_1;
    for (int64_t i = 0; i < nb; i++, x += GL_QK5_1) {
        float mn, mx;
        q_min_max(x, GL_QK5_1, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = Q_TO_FP16(d);
        y[i].m = Q_TO_FP16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < GL_QK5_1 / 2; j++) {
            const int q0 = q_trunc_clamp((x[j] - mn) * id + 0.5f, 31);
            const int q1 = q_trunc_clamp((x[j + GL_QK5_1 / 2] - mn) * id + 0.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + GL_QK5_1 / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

static inline float q_absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void gl_quantize_row_q8_0_ref(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    const int64_t nb = n / GL_QK8_0;
    for (int64_t i = 0; i < nb; i++, x += GL_QK8_0) {
        const float d = q_absmax(x, GL_QK8_0) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = Q_TO_FP16(d);
        for (int j = 0; j < GL_QK8_0; j++) y[i].qs[j] = q_round_i8(x[j] * id);
    }
}

void gl_quantize_row_q8_1_ref(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    const int64_t nb = n / GL_QK8_1;
    for (int64_t i = 0; i < nb; i++, x += GL_QK8_1) {
        const float d = q_absmax(x, GL_QK8_1) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < GL_QK8_1; j++) {
            y[i].qs[j] = q_round_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = Q_TO_FP16(d);
        y[i].s = Q_TO_FP16((float)sum * d);
    }
}

/* ------------------------------------------------------------------------------------------
 * Dequantizers
 * ---------------------------------------------------------------------------------------- */

void gl_dequantize_row_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    const int64_t nb = n / GL_QK4_0;
    for (int64_t i = 0; i < nb; i++, y += GL_QK4_0) {
        const float d = Q_FP16(x[i].d);
        for (int j = 0; j < GL_QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + GL_QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void gl_dequantize_row_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    const int64_t nb = n / GL_QK4_1;
    for (int64_t i = 0; i < nb; i++, y += GL_QK4_1) {
        const float d = Q_FP16(x[i].d), m = Q_FP16(x[i].m);
        for (int j = 0; j < GL_QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
            y[j + GL_QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit values of elements j and j + 16 of a Q5 block. */
static inline void q_q5_pair(const uint8_t *qs, uint32_t qh, int j, int *v0, int *v1) {
    *v0 = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
    *v1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
}

void gl_dequantize_row_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    const int64_t nb = n / GL_QK5_0;
    for (int64_t i = 0; i < nb; i++, y += GL_QK5_0) {
        const float d = Q_FP16(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < GL_QK5_0 / 2; j++) {
            int v0, v1;
            q_q5_pair(x[i].qs, qh, j, &v0, &v1);
            y[j] = (float)(v0 - 16) * d;
            y[j + GL_QK5_0 / 2] = (float)(v1 - 16) * d;
        }
    }
}

void gl_dequantize_row_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    const int64_t nb = n / GL_QK5_1;
    for (int64_t i = 0; i < nb; i++, y += GL_QK5_1) {
        const float d = Q_FP16(x[i].d), m = Q_FP16(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < GL_QK5_1 / 2; j++) {
            int v0, v1;
            q_q5_pair(x[i].qs, qh, j, &v0, &v1);
            y[j] = (float)v0 * d + m;
            y[j + GL_QK5_1 / 2] = (float)v1 * d + m;
        }
    }
}

void gl_dequantize_row_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    const int64_t nb = n / GL_QK8_0;
    for (int64_t i = 0; i < nb; i++, y += GL_QK8_0) {
        const float d = Q_FP16(x[i].d);
        for (int j = 0; j < GL_QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void gl_dequantize_row_q8_1(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    const int64_t nb = n / GL_QK8_1;
    for (int64_t i = 0; i < nb; i++, y += GL_QK8_1) {
        const float d = Q_FP16(x[i].d);
        for (int j = 0; j < GL_QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* ------------------------------------------------------------------------------------------
 * Scalar dot products (the reference every SIMD path is tested against)
 * ---------------------------------------------------------------------------------------- */

void gl_vec_dot_f32_scalar(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

void gl_vec_dot_f16_scalar(int n, float *s, const void *vx, const void *vy) {
    const gl_fp16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(Q_FP16(x[i]) * Q_FP16(y[i]));
    *s = (float)sum;
}

void gl_vec_dot_bf16_scalar(int n, float *s, const void *vx, const void *vy) {
    const gl_bf16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(gl_bf16_to_fp32(x[i]) * gl_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

void gl_vec_dot_q4_0_q8_0_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < GL_QK4_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + GL_QK4_0 / 2];
        }
        sum += (float)sumi * (Q_FP16(x[i].d) * Q_FP16(y[i].d));
    }
    *s = sum;
}

void gl_vec_dot_q4_1_q8_1_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int nb = n / GL_QK8_1;
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < GL_QK4_1 / 2; j++) {
            sumi += (x[i].qs[j] & 0x0f) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + GL_QK4_1 / 2];
        }
        /* sum_j (q_j d + m) y_j = d dy sumi + m * (dy sum qy) = ... + m * s */
        sum += (float)sumi * (Q_FP16(x[i].d) * Q_FP16(y[i].d)) + Q_FP16(x[i].m) * Q_FP16(y[i].s);
    }
    *s = sum;
}

void gl_vec_dot_q5_0_q8_0_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < GL_QK5_0 / 2; j++) {
            int v0, v1;
            q_q5_pair(x[i].qs, qh, j, &v0, &v1);
            sumi += (v0 - 16) * y[i].qs[j] + (v1 - 16) * y[i].qs[j + GL_QK5_0 / 2];
        }
        sum += (float)sumi * (Q_FP16(x[i].d) * Q_FP16(y[i].d));
    }
    *s = sum;
}

void gl_vec_dot_q5_1_q8_1_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int nb = n / GL_QK8_1;
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < GL_QK5_1 / 2; j++) {
            int v0, v1;
            q_q5_pair(x[i].qs, qh, j, &v0, &v1);
            sumi += v0 * y[i].qs[j] + v1 * y[i].qs[j + GL_QK5_1 / 2];
        }
        sum += (float)sumi * (Q_FP16(x[i].d) * Q_FP16(y[i].d)) + Q_FP16(x[i].m) * Q_FP16(y[i].s);
    }
    *s = sum;
}

void gl_vec_dot_q8_0_q8_0_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < GL_QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sum += (float)sumi * (Q_FP16(x[i].d) * Q_FP16(y[i].d));
    }
    *s = sum;
}

/* ------------------------------------------------------------------------------------------
 * SIMD helpers
 * ---------------------------------------------------------------------------------------- */


#if defined(GL_AVX2)
static inline float q_avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Eight int32 partial sums of unsigned x times signed y (as floats). */
static inline __m256 q_avx2_dot_u8_i8(__m256i ux, __m256i sy) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, sy));
#else
    const __m256i p16 = _mm256_maddubs_epi16(ux, sy); /* |pairs| <= 2*128*127: no saturation */
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
#endif
}

/* Signed x times signed y: move x's sign onto y so maddubs can take |x| as unsigned. */
static inline __m256 q_avx2_dot_i8_i8(__m256i x, __m256i y) {
    return q_avx2_dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 16 packed bytes → 32 nibbles: low nibbles are elements 0-15, high ones 16-31. */
static inline __m256i q_avx2_nibbles(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(b, m);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* 32 bits → 32 bytes, 0xFF where the bit is set (byte i from bit i). */
static inline __m256i q_avx2_bits_to_bytes(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                           0x0303030303030303));
    /* byte k of each 8-byte group keeps only bit k clear in the mask: all ones iff set */
    const __m256i probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1));
}
#endif

#if defined(GL_NEON)
/* int32x4 partial sums of two int8x16 products (dotprod when available). */
static inline int32x4_t q_neon_dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(GL_NEON_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/* 16 bits of qh (starting at bit `first`) → 16 bytes, 0xFF where set. */
static inline uint8x16_t q_neon_bits_to_bytes(uint32_t qh, int first) {
    static const uint8_t q_bit_probe[16] = {1, 2, 4, 8, 16, 32, 64, 128,
                                            1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x8_t b0 = vdup_n_u8((uint8_t)(qh >> first));
    const uint8x8_t b1 = vdup_n_u8((uint8_t)(qh >> (first + 8)));
    return vtstq_u8(vcombine_u8(b0, b1), vld1q_u8(q_bit_probe));
}
#endif

/* ------------------------------------------------------------------------------------------
 * SIMD dot products. Integer block sums are exact; the float accumulation order differs
 * from the scalar reference (per-lane partial sums are scaled before being added), which
 * test-quants bounds at a relative 1e-5 of sum |x_i y_i|.
 * ---------------------------------------------------------------------------------------- */

#if defined(GL_AVX2)
static void q_vec_dot_f32_avx2(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = q_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 q_avx2_load_f16(const gl_fp16 *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static void q_vec_dot_f16_avx2(int n, float *s, const void *vx, const void *vy) {
    const gl_fp16 *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(q_avx2_load_f16(x + i), q_avx2_load_f16(y + i), a0);
        a1 = _mm256_fmadd_ps(q_avx2_load_f16(x + i + 8), q_avx2_load_f16(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(q_avx2_load_f16(x + i + 16), q_avx2_load_f16(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(q_avx2_load_f16(x + i + 24), q_avx2_load_f16(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(q_avx2_load_f16(x + i), q_avx2_load_f16(y + i), a0);
    float sum = q_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += gl_fp16_to_fp32(x[i]) * gl_fp16_to_fp32(y[i]);
    *s = sum;
}

static inline __m256 q_avx2_load_bf16(const gl_bf16 *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static void q_vec_dot_bf16_avx2(int n, float *s, const void *vx, const void *vy) {
    const gl_bf16 *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(q_avx2_load_bf16(x + i), q_avx2_load_bf16(y + i), a0);
        a1 = _mm256_fmadd_ps(q_avx2_load_bf16(x + i + 8), q_avx2_load_bf16(y + i + 8), a1);
    }
    float sum = q_avx2_hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += gl_bf16_to_fp32(x[i]) * gl_bf16_to_fp32(y[i]);
    *s = sum;
}

static void q_vec_dot_q8_0_q8_0_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256 d0 = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        const __m256 d1 = _mm256_set1_ps(GL_FP16_FAST(x[i + 1].d) * GL_FP16_FAST(y[i + 1].d));
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)x[i + 1].qs);
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)y[i + 1].qs);
        acc0 = _mm256_fmadd_ps(d0, q_avx2_dot_i8_i8(x0, y0), acc0);
        acc1 = _mm256_fmadd_ps(d1, q_avx2_dot_i8_i8(x1, y1), acc1);
    }
    for (; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc0 = _mm256_fmadd_ps(d, q_avx2_dot_i8_i8(qx, qy), acc0);
    }
    *s = q_avx2_hsum(_mm256_add_ps(acc0, acc1));
}

static void q_vec_dot_q4_0_q8_0_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256 d0 = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        const __m256 d1 = _mm256_set1_ps(GL_FP16_FAST(x[i + 1].d) * GL_FP16_FAST(y[i + 1].d));
        const __m256i x0 = _mm256_sub_epi8(q_avx2_nibbles(x[i].qs), eight);
        const __m256i x1 = _mm256_sub_epi8(q_avx2_nibbles(x[i + 1].qs), eight);
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)y[i + 1].qs);
        acc0 = _mm256_fmadd_ps(d0, q_avx2_dot_i8_i8(x0, y0), acc0);
        acc1 = _mm256_fmadd_ps(d1, q_avx2_dot_i8_i8(x1, y1), acc1);
    }
    for (; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        const __m256i qx = _mm256_sub_epi8(q_avx2_nibbles(x[i].qs), eight);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc0 = _mm256_fmadd_ps(d, q_avx2_dot_i8_i8(qx, qy), acc0);
    }
    *s = q_avx2_hsum(_mm256_add_ps(acc0, acc1));
}

static void q_vec_dot_q4_1_q8_1_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int nb = n / GL_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f; /* the minimums' part: sum of m_x * s_y */
    for (int i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        summ += GL_FP16_FAST(x[i].m) * GL_FP16_FAST(y[i].s);
        const __m256i qx = q_avx2_nibbles(x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, q_avx2_dot_u8_i8(qx, qy), acc);
    }
    *s = q_avx2_hsum(acc) + summ;
}

static void q_vec_dot_q5_0_q8_0_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    const __m256i high = _mm256_set1_epi8((char)0xf0);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        /* (nib | bit<<4) - 16 equals nib | 0xF0 as int8 when the bit is clear, nib when set */
        const __m256i bits = q_avx2_bits_to_bytes(x[i].qh);
        const __m256i qx = _mm256_or_si256(q_avx2_nibbles(x[i].qs), _mm256_andnot_si256(bits, high));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, q_avx2_dot_i8_i8(qx, qy), acc);
    }
    *s = q_avx2_hsum(acc);
}

static void q_vec_dot_q5_1_q8_1_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int nb = n / GL_QK8_1;
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d));
        summ += GL_FP16_FAST(x[i].m) * GL_FP16_FAST(y[i].s);
        const __m256i bits = q_avx2_bits_to_bytes(x[i].qh);
        const __m256i qx = _mm256_or_si256(q_avx2_nibbles(x[i].qs), _mm256_and_si256(bits, bit4));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, q_avx2_dot_u8_i8(qx, qy), acc);
    }
    *s = q_avx2_hsum(acc) + summ;
}
#endif /* GL_AVX2 */

#if defined(GL_NEON)
static void q_vec_dot_f32_neon(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline float32x4_t q_neon_load_f16(const gl_fp16 *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static void q_vec_dot_f16_neon(int n, float *s, const void *vx, const void *vy) {
    const gl_fp16 *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, q_neon_load_f16(x + i), q_neon_load_f16(y + i));
        a1 = vfmaq_f32(a1, q_neon_load_f16(x + i + 4), q_neon_load_f16(y + i + 4));
        a2 = vfmaq_f32(a2, q_neon_load_f16(x + i + 8), q_neon_load_f16(y + i + 8));
        a3 = vfmaq_f32(a3, q_neon_load_f16(x + i + 12), q_neon_load_f16(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, q_neon_load_f16(x + i), q_neon_load_f16(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += gl_fp16_to_fp32(x[i]) * gl_fp16_to_fp32(y[i]);
    *s = sum;
}

static inline float32x4_t q_neon_load_bf16(const gl_bf16 *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

static void q_vec_dot_bf16_neon(int n, float *s, const void *vx, const void *vy) {
    const gl_bf16 *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, q_neon_load_bf16(x + i), q_neon_load_bf16(y + i));
        a1 = vfmaq_f32(a1, q_neon_load_bf16(x + i + 4), q_neon_load_bf16(y + i + 4));
    }
    float sum = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++) sum += gl_bf16_to_fp32(x[i]) * gl_bf16_to_fp32(y[i]);
    *s = sum;
}

/* acc += d * (a0.b0 + a1.b1) over two 16-byte halves of a block. */
static inline float32x4_t q_neon_block(float32x4_t acc, float d, int8x16_t a0, int8x16_t a1,
                                       const int8_t *b) {
    int32x4_t p = q_neon_dot(vdupq_n_s32(0), a0, vld1q_s8(b));
    p = q_neon_dot(p, a1, vld1q_s8(b + 16));
    return vmlaq_n_f32(acc, vcvtq_f32_s32(p), d);
}

static void q_vec_dot_q8_0_q8_0_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q_neon_block(acc0, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d),
                            vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
        acc1 = q_neon_block(acc1, GL_FP16_FAST(x[i + 1].d) * GL_FP16_FAST(y[i + 1].d),
                            vld1q_s8(x[i + 1].qs), vld1q_s8(x[i + 1].qs + 16), y[i + 1].qs);
    }
    for (; i < nb; i++) {
        acc0 = q_neon_block(acc0, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d),
                            vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

static void q_vec_dot_q4_0_q8_0_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        const uint8x16_t b0 = vld1q_u8(x[i].qs), b1 = vld1q_u8(x[i + 1].qs);
        const int8x16_t l0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b0, m4)), eight);
        const int8x16_t h0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), eight);
        const int8x16_t l1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b1, m4)), eight);
        const int8x16_t h1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), eight);
        acc0 = q_neon_block(acc0, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d), l0, h0, y[i].qs);
        acc1 = q_neon_block(acc1, GL_FP16_FAST(x[i + 1].d) * GL_FP16_FAST(y[i + 1].d), l1, h1,
                            y[i + 1].qs);
    }
    for (; i < nb; i++) {
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t l = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, m4)), eight);
        const int8x16_t h = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);
        acc0 = q_neon_block(acc0, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d), l, h, y[i].qs);
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

static void q_vec_dot_q4_1_q8_1_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int nb = n / GL_QK8_1;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summ = 0.0f;
    for (int i = 0; i < nb; i++) {
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t l = vreinterpretq_s8_u8(vandq_u8(b, m4));
        const int8x16_t h = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
        summ += GL_FP16_FAST(x[i].m) * GL_FP16_FAST(y[i].s);
        acc = q_neon_block(acc, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d), l, h, y[i].qs);
    }
    *s = vaddvq_f32(acc) + summ;
}

static void q_vec_dot_q5_0_q8_0_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int nb = n / GL_QK8_0;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), high = vdupq_n_u8(0xf0);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        /* (nib | bit<<4) - 16 is nib | 0xF0 (as int8) when the bit is clear, nib when set */
        const uint8x16_t l = vorrq_u8(vandq_u8(b, m4), vbicq_u8(high, q_neon_bits_to_bytes(qh, 0)));
        const uint8x16_t h = vorrq_u8(vshrq_n_u8(b, 4), vbicq_u8(high, q_neon_bits_to_bytes(qh, 16)));
        acc = q_neon_block(acc, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d), vreinterpretq_s8_u8(l),
                           vreinterpretq_s8_u8(h), y[i].qs);
    }
    *s = vaddvq_f32(acc);
}

static void q_vec_dot_q5_1_q8_1_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int nb = n / GL_QK8_1;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), bit4 = vdupq_n_u8(0x10);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summ = 0.0f;
    for (int i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const uint8x16_t l = vorrq_u8(vandq_u8(b, m4), vandq_u8(q_neon_bits_to_bytes(qh, 0), bit4));
        const uint8x16_t h = vorrq_u8(vshrq_n_u8(b, 4), vandq_u8(q_neon_bits_to_bytes(qh, 16), bit4));
        summ += GL_FP16_FAST(x[i].m) * GL_FP16_FAST(y[i].s);
        acc = q_neon_block(acc, GL_FP16_FAST(x[i].d) * GL_FP16_FAST(y[i].d), vreinterpretq_s8_u8(l),
                           vreinterpretq_s8_u8(h), y[i].qs);
    }
    *s = vaddvq_f32(acc) + summ;
}
#endif /* GL_NEON */

/* ------------------------------------------------------------------------------------------
 * Four weight rows against one activation row (the mat-vec / mat-mat inner kernel).
 * Sharing the activation work over four rows and keeping per-lane float accumulators until
 * the end roughly halves the instructions per weight block, which mat-vec needs to keep up
 * with memory. Q4_0: the nibbles are used unsigned (0..15) and 8*sum(y) is subtracted in
 * the integer domain: sum (q-8) y = sum q y - 8 sum y, exact.
 * ---------------------------------------------------------------------------------------- */

/* Where a 4-row kernel starts prefetching: the rows after its own four, but at least
 * Q_PREFETCH_MIN bytes ahead so short rows still leave the memory time to answer (each
 * group prefetches as many bytes as it reads, so consecutive groups cover the whole
 * stream). Prefetches never fault, so running past the end of the weights is harmless. */
#if defined(GL_AVX2) || defined(GL_NEON) /* (the SIMD kernels below are its only users) */
#define Q_PREFETCH_MIN 8192
static inline uintptr_t q_prefetch_base(const void *x, size_t bx) {
    /* integer arithmetic: a pointer past the end of an object would be undefined */
    return (uintptr_t)x + GL_MAX(4 * bx, (size_t)Q_PREFETCH_MIN);
}
#define Q_PREFETCH_AT(base, off) ((const void *)((base) + (off)))
#endif

#if defined(GL_AVX2)
/* acc + lane-wise sums of unsigned u times signed s, four bytes per int32 lane. */
static inline __m256i q_avx2_dot_acc(__m256i acc, __m256i u, __m256i sgn) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, sgn);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, sgn), _mm256_set1_epi16(1)));
#endif
}

static void q_vec_dot4_q4_0_q8_0_avx2(int n, float *s, const void *vx, size_t bx, const void *vy) {
    const block_q8_0 *y = vy;
    const block_q4_0 *x0 = vx;
    const block_q4_0 *x1 = (const block_q4_0 *)((const char *)vx + bx);
    const block_q4_0 *x2 = (const block_q4_0 *)((const char *)vx + 2 * bx);
    const block_q4_0 *x3 = (const block_q4_0 *)((const char *)vx + 3 * bx);
    const int nb = n / GL_QK8_0;
    const __m256i m4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
    const __m256i zero = _mm256_setzero_si256();
    /* two rows share a register: row a in the low 128 bits, row b in the high ones */
    const __m256i lanes01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i lanes23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    /* Four rows read side by side are four short streams that the hardware prefetchers
     * train on too late; walk the bytes ahead of this group of rows (usually the next
     * rows) at one cache line per block, so mat-vec keeps streaming from DRAM. */
    const uintptr_t next = q_prefetch_base(vx, bx);
    for (int i = 0; i < nb; i++) {
        _mm_prefetch(Q_PREFETCH_AT(next, (size_t)i * 4 * sizeof(block_q4_0)), _MM_HINT_T0);
        const __m256i ylo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y[i].qs));
        const __m256i yhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y[i].qs + 16)));
        const __m256i corr = q_avx2_dot_acc(q_avx2_dot_acc(zero, eight, ylo), eight, yhi);
        const __m256i q01 = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)x0[i].qs)),
            _mm_loadu_si128((const __m128i *)x1[i].qs), 1);
        const __m256i q23 = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)x2[i].qs)),
            _mm_loadu_si128((const __m128i *)x3[i].qs), 1);
        __m256i p01 = q_avx2_dot_acc(zero, _mm256_and_si256(q01, m4), ylo);
        p01 = q_avx2_dot_acc(p01, _mm256_and_si256(_mm256_srli_epi16(q01, 4), m4), yhi);
        __m256i p23 = q_avx2_dot_acc(zero, _mm256_and_si256(q23, m4), ylo);
        p23 = q_avx2_dot_acc(p23, _mm256_and_si256(_mm256_srli_epi16(q23, 4), m4), yhi);
        p01 = _mm256_sub_epi32(p01, corr);
        p23 = _mm256_sub_epi32(p23, corr);
        const __m128i dh = _mm_setr_epi16((short)x0[i].d, (short)x1[i].d, (short)x2[i].d,
                                          (short)x3[i].d, 0, 0, 0, 0);
        const __m256 d4 = _mm256_castps128_ps256(
            _mm_mul_ps(_mm_cvtph_ps(dh), _mm_set1_ps(GL_FP16_FAST(y[i].d))));
        acc01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p01), _mm256_permutevar8x32_ps(d4, lanes01), acc01);
        acc23 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p23), _mm256_permutevar8x32_ps(d4, lanes23), acc23);
    }
    /* h = [r0, r2, r0, r2 | r1, r3, r1, r3] after two horizontal adds */
    __m256 h = _mm256_hadd_ps(acc01, acc23);
    h = _mm256_hadd_ps(h, h);
    float out[8];
    _mm256_storeu_ps(out, h);
    s[0] = out[0];
    s[1] = out[4];
    s[2] = out[1];
    s[3] = out[5];
}
#endif

#if defined(GL_NEON)
/* Unlike AVX2 (where this layout lost to the single-row kernel), NEON's pairwise adds are
 * cheap and each block saves three int→float conversions and scale conversions. */
static void q_vec_dot4_q8_0_q8_0_neon(int n, float *s, const void *vx, size_t bx, const void *vy) {
    const block_q8_0 *y = vy;
    const block_q8_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_q8_0 *)((const char *)vx + (size_t)r * bx);
    const int nb = n / GL_QK8_0;
    const uintptr_t next = q_prefetch_base(vx, bx);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        __builtin_prefetch(Q_PREFETCH_AT(next, (size_t)i * 4 * sizeof(block_q8_0)));
        __builtin_prefetch(Q_PREFETCH_AT(next, (size_t)i * 4 * sizeof(block_q8_0) + 64));
        const int8x16_t y0 = vld1q_s8(y[i].qs), y1 = vld1q_s8(y[i].qs + 16);
        int32x4_t p[4];
        uint16_t dh[4];
        for (int r = 0; r < 4; r++) {
            p[r] = q_neon_dot(q_neon_dot(vdupq_n_s32(0), vld1q_s8(x[r][i].qs), y0),
                              vld1q_s8(x[r][i].qs + 16), y1);
            dh[r] = x[r][i].d;
        }
        const int32x4_t tot = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
        const float32x4_t d = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh))),
                                          GL_FP16_FAST(y[i].d));
        acc = vfmaq_f32(acc, vcvtq_f32_s32(tot), d);
    }
    vst1q_f32(s, acc);
}
#endif

#if defined(GL_NEON)
static void q_vec_dot4_q4_0_q8_0_neon(int n, float *s, const void *vx, size_t bx, const void *vy) {
    const block_q8_0 *y = vy;
    const block_q4_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_q4_0 *)((const char *)vx + (size_t)r * bx);
    const int nb = n / GL_QK8_0;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const uintptr_t next = q_prefetch_base(vx, bx); /* see the AVX2 version */
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        __builtin_prefetch(Q_PREFETCH_AT(next, (size_t)i * 4 * sizeof(block_q4_0)));
        const int8x16_t y0 = vld1q_s8(y[i].qs), y1 = vld1q_s8(y[i].qs + 16);
        const int32_t ysum8 = 8 * ((int32_t)vaddlvq_s8(y0) + (int32_t)vaddlvq_s8(y1));
        int32x4_t p[4];
        uint16_t dh[4];
        for (int r = 0; r < 4; r++) {
            const uint8x16_t b = vld1q_u8(x[r][i].qs);
            p[r] = q_neon_dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(b, m4)), y0);
            p[r] = q_neon_dot(p[r], vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), y1);
            dh[r] = x[r][i].d;
        }
        /* [row0, row1, row2, row3] block sums, exact, then one conversion for all four */
        int32x4_t tot = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
        tot = vsubq_s32(tot, vdupq_n_s32(ysum8));
        const float32x4_t d = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh))),
                                          GL_FP16_FAST(y[i].d));
        acc = vfmaq_f32(acc, vcvtq_f32_s32(tot), d);
    }
    vst1q_f32(s, acc);
}
#endif

/* ------------------------------------------------------------------------------------------
 * Register-blocked mat-mat kernels (gl_type_gemm): a tile of MR weight rows × NC activation
 * rows per call, every loaded (or decoded) weight vector used NC times and every activation
 * vector MR times. Each output element has its own accumulator and always sees the same
 * instruction sequence: a tile smaller than MR × NC (the caller's edges) repeats its last
 * row / column pointer and drops the duplicates, so an element's value does not depend on
 * where the tile edges fall (tiling, thread split). test-quants checks this bit for bit.
 * ---------------------------------------------------------------------------------------- */


/* Weight types of the Q8_0-activation gemm tiles (q_gemm_q8_avx2 / _neon): Q4_0 and IQ4_NL
 * blocks have the same 18-byte layout (an fp16 scale, 16 bytes of nibble codes), IQ4_NL's
 * codes index ggml's table (gl_iq4_table) instead of meaning code - 8. */
enum { Q_GQ_Q4_0, Q_GQ_Q8_0, Q_GQ_IQ4_NL };
_Static_assert(sizeof(block_iq4_nl) == sizeof(block_q4_0), "IQ4_NL and Q4_0 blocks share a layout");

#if defined(GL_AVX2)
/* F32/F16 × F32: MR×NC accumulators of 8 lanes. With AVX-512VL the compiler has 32 ymm
 * registers (EVEX encodings), so the tile grows to 4×5; plain AVX2 has 16: 3×4 keeps 12
 * accumulators, 3 weight vectors and one activation vector in registers. */
/* Keeps v in a register: without it GCC folds the activation load into each of the MR
 * FMAs (a memory operand each), and the kernel becomes bound by loads instead of FMAs. */
#if defined(__AVX512VL__)
#define Q_PIN_REG(v) __asm__("" : "+v"(v))
#else
#define Q_PIN_REG(v) __asm__("" : "+x"(v))
#endif
#if defined(__AVX512VL__)
#define Q_GF_MR 4
#define Q_GF_NC 5
#else
#define Q_GF_MR 3
#define Q_GF_NC 4
#endif
_Static_assert(Q_GF_MR <= 4, "the epilogue reduces at most four rows per column");
/* [sum(a), sum(b), sum(c), sum(d)] of four vectors of eight floats. */
static inline __m128 q_avx2_hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* NC: the columns this instance computes (a constant after inlining, 1 .. Q_GF_NC), nc <= NC:
 * a call for fewer columns than the full tile does only their work (a mat-vec, the two
 * sequences of a batched decode) instead of repeating the last column. Each accumulator
 * sees the same instructions whatever NC is, so an element's value does not depend on it. */
static inline __attribute__((always_inline)) void
q_gemm_float_avx2(bool f16, const int NC, int n, int nr, int nc, const void *vx, size_t bx,
                  const void *const *vy, float *s, size_t bs, bool add) {
    const char *x[Q_GF_MR];
    const float *y[Q_GF_NC];
    for (int r = 0; r < Q_GF_MR; r++) x[r] = (const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx;
    for (int c = 0; c < NC; c++) y[c] = vy[GL_MIN(c, nc - 1)];
    __m256 acc[Q_GF_MR][Q_GF_NC];
#pragma GCC unroll 8
    for (int r = 0; r < Q_GF_MR; r++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    /* one or two columns (a decode step) stream the weights from memory: prefetch the rows
     * after these, as many bytes ahead as each step reads (see q_prefetch_base) */
    const uintptr_t next = q_prefetch_base(vx, bx);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        if (f16 && NC <= 2)
            _mm_prefetch(Q_PREFETCH_AT(next, (size_t)i * 2 * Q_GF_MR), _MM_HINT_T0);
        __m256 w[Q_GF_MR];
#pragma GCC unroll 8
        for (int r = 0; r < Q_GF_MR; r++) {
            w[r] = f16 ? q_avx2_load_f16((const gl_fp16 *)x[r] + i)
                       : _mm256_loadu_ps((const float *)x[r] + i);
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            __m256 yv = _mm256_loadu_ps(y[c] + i);
            Q_PIN_REG(yv);
#pragma GCC unroll 8
            for (int r = 0; r < Q_GF_MR; r++) acc[r][c] = _mm256_fmadd_ps(w[r], yv, acc[r][c]);
        }
    }
    /* one transposing reduction per column gives all its rows' sums at once */
    for (int c = 0; c < nc; c++) {
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
#pragma GCC unroll 8
        for (int r = 0; r < Q_GF_MR; r++) a[r] = acc[r][c];
        float sum[4];
        _mm_storeu_ps(sum, q_avx2_hsum4(a[0], a[1], a[2], a[3]));
        for (int r = 0; r < nr; r++) {
            for (int t = i; t < n; t++) {
                const float wv = f16 ? _cvtsh_ss(((const gl_fp16 *)x[r])[t]) : ((const float *)x[r])[t];
                sum[r] += wv * y[c][t];
            }
            gl_gemm_put(s + (size_t)c * bs + r, add, sum[r]);
        }
    }
}

/* One instance per column count, so that nc columns cost nc columns' work. */
#define Q_GEMM_FLOAT_NC(f16, NC)                                                               \
    case NC:                                                                                   \
        q_gemm_float_avx2(f16, NC, n, nr, nc, x, bx, y, s, bs, add);                           \
        return
#if Q_GF_NC == 5
#define Q_GEMM_FLOAT_CASES(f16)                                                                \
    Q_GEMM_FLOAT_NC(f16, 1);                                                                   \
    Q_GEMM_FLOAT_NC(f16, 2);                                                                   \
    Q_GEMM_FLOAT_NC(f16, 3);                                                                   \
    Q_GEMM_FLOAT_NC(f16, 4);                                                                   \
    default: q_gemm_float_avx2(f16, 5, n, nr, nc, x, bx, y, s, bs, add)
#else
#define Q_GEMM_FLOAT_CASES(f16)                                                                \
    Q_GEMM_FLOAT_NC(f16, 1);                                                                   \
    Q_GEMM_FLOAT_NC(f16, 2);                                                                   \
    Q_GEMM_FLOAT_NC(f16, 3);                                                                   \
    default: q_gemm_float_avx2(f16, 4, n, nr, nc, x, bx, y, s, bs, add)
#endif
_Static_assert(Q_GF_NC == 4 || Q_GF_NC == 5, "Q_GEMM_FLOAT_CASES lists 1 .. Q_GF_NC");

static void q_gemm_f32_avx2(int n, int nr, int nc, const void *x, size_t bx, const void *const *y,
                            float *s, size_t bs, bool add) {
    switch (nc) { Q_GEMM_FLOAT_CASES(false); }
}

static void q_gemm_f16_avx2(int n, int nr, int nc, const void *x, size_t bx, const void *const *y,
                            float *s, size_t bs, bool add) {
    switch (nc) { Q_GEMM_FLOAT_CASES(true); }
}

/* [sum(a), sum(b), sum(c), sum(d)] of four vectors of eight int32. */
static inline __m128i q_avx2_sum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Q4_0 / Q8_0 weights × Q8_0 activations, 4 rows × Q_GQ_NC columns. Per block, the four
 * rows are decoded once; for each column the four exact integer block sums are reduced
 * into one vector [r0..r3] and scaled by [d_r0..d_r3] * d_y with one FMA, into an
 * accumulator whose lanes are the four rows. With AVX-512VL's 32 registers the tile has 8
 * columns (Q4_0 +11 % over 4 on Zen 4: the row decoding is shared by twice the columns;
 * Q8_0 the same either way). */
#define Q_GQ_MR 4
#if defined(__AVX512VL__)
#define Q_GQ_NC 8
#else
#define Q_GQ_NC 4
#endif
static inline __attribute__((always_inline)) void
q_gemm_q8_avx2(int wtype, int n, int nr, int nc, const void *vx, size_t bx, const void *const *vy,
               float *s, size_t bs, bool add) {
    const char *x[Q_GQ_MR];
    const block_q8_0 *y[Q_GQ_NC];
    for (int r = 0; r < Q_GQ_MR; r++) x[r] = (const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx;
    for (int c = 0; c < Q_GQ_NC; c++) y[c] = vy[GL_MIN(c, nc - 1)];
    const bool q4 = wtype == Q_GQ_Q4_0, nib = wtype != Q_GQ_Q8_0; /* nib: 16 bytes of nibble codes */
    const size_t bsz = nib ? sizeof(block_q4_0) : sizeof(block_q8_0);
    const __m256i m4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
    const __m256i zero = _mm256_setzero_si256();
    const __m256i table = wtype == Q_GQ_IQ4_NL
                              ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)gl_iq4_table()))
                              : zero;
    __m128 acc[Q_GQ_NC];
#pragma GCC unroll 8
    for (int c = 0; c < Q_GQ_NC; c++) acc[c] = _mm_setzero_ps();
    const int nb = n / GL_QK8_0;
    for (int i = 0; i < nb; i++) {
        __m256i u[Q_GQ_MR]; /* Q4_0: nibbles 0..15 (unsigned); Q8_0, IQ4_NL: |x| */
        __m256i sgn[Q_GQ_MR];
        uint16_t dh[Q_GQ_MR];
#pragma GCC unroll 8
        for (int r = 0; r < Q_GQ_MR; r++) {
            const char *blk = x[r] + (size_t)i * bsz;
            if (nib) {
                const __m128i b = _mm_loadu_si128((const __m128i *)(blk + sizeof(gl_fp16)));
                const __m256i bb = _mm256_inserti128_si256(_mm256_castsi128_si256(b),
                                                           _mm_srli_epi16(b, 4), 1);
                u[r] = _mm256_and_si256(bb, m4);
                sgn[r] = zero;
                if (!q4) { /* IQ4_NL: the table's values, then as for Q8_0 */
                    sgn[r] = _mm256_shuffle_epi8(table, u[r]);
                    u[r] = _mm256_sign_epi8(sgn[r], sgn[r]);
                }
            } else {
                sgn[r] = _mm256_loadu_si256((const __m256i *)(blk + sizeof(gl_fp16)));
                u[r] = _mm256_sign_epi8(sgn[r], sgn[r]);
            }
            memcpy(&dh[r], blk, sizeof(gl_fp16));
        }
        const __m128 dx = _mm_cvtph_ps(_mm_setr_epi16((short)dh[0], (short)dh[1], (short)dh[2],
                                                      (short)dh[3], 0, 0, 0, 0));
#pragma GCC unroll 8
        for (int c = 0; c < Q_GQ_NC; c++) {
            const __m256i yv = _mm256_loadu_si256((const __m256i *)y[c][i].qs);
            __m256i p[Q_GQ_MR];
            if (q4) {
                /* sum (q - 8) y = sum q y - 8 sum y: start each row's sum at -8 sum y */
                const __m256i neg = _mm256_sub_epi32(zero, q_avx2_dot_acc(zero, eight, yv));
#pragma GCC unroll 8
                for (int r = 0; r < Q_GQ_MR; r++) p[r] = q_avx2_dot_acc(neg, u[r], yv);
            } else {
#pragma GCC unroll 8
                for (int r = 0; r < Q_GQ_MR; r++) {
                    p[r] = q_avx2_dot_acc(zero, u[r], _mm256_sign_epi8(yv, sgn[r]));
                }
            }
            const __m128i tot = q_avx2_sum4_epi32(p[0], p[1], p[2], p[3]);
            const __m128 d = _mm_mul_ps(dx, _mm_set1_ps(GL_FP16_FAST(y[c][i].d)));
            acc[c] = _mm_fmadd_ps(_mm_cvtepi32_ps(tot), d, acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) {
        float out[4];
        _mm_storeu_ps(out, acc[c]);
        for (int r = 0; r < nr; r++) gl_gemm_put(s + (size_t)c * bs + r, add, out[r]);
    }
}

static void q_gemm_q4_0_avx2(int n, int nr, int nc, const void *x, size_t bx,
                             const void *const *y, float *s, size_t bs, bool add) {
    q_gemm_q8_avx2(Q_GQ_Q4_0, n, nr, nc, x, bx, y, s, bs, add);
}

static void q_gemm_q8_0_avx2(int n, int nr, int nc, const void *x, size_t bx,
                             const void *const *y, float *s, size_t bs, bool add) {
    q_gemm_q8_avx2(Q_GQ_Q8_0, n, nr, nc, x, bx, y, s, bs, add);
}

static void q_gemm_iq4_nl_avx2(int n, int nr, int nc, const void *x, size_t bx,
                               const void *const *y, float *s, size_t bs, bool add) {
    q_gemm_q8_avx2(Q_GQ_IQ4_NL, n, nr, nc, x, bx, y, s, bs, add);
}
#endif /* GL_AVX2 */

#if defined(GL_NEON)
/* 32 registers of 128 bits: 4×4 accumulators + 4 weight vectors + 1 activation vector. */
#define Q_GF_MR 4
#define Q_GF_NC 4
_Static_assert(Q_GF_MR == 4, "the epilogue reduces exactly four rows per column");
static inline __attribute__((always_inline)) void
q_gemm_float_neon(bool f16, int NC, int n, int nr, int nc, const void *vx, size_t bx,
                  const void *const *vy, float *s, size_t bs, bool add) {
    const char *x[Q_GF_MR];
    const float *y[Q_GF_NC];
    for (int r = 0; r < Q_GF_MR; r++) x[r] = (const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx;
    for (int c = 0; c < NC; c++) y[c] = vy[GL_MIN(c, nc - 1)];
    float32x4_t acc[Q_GF_MR][Q_GF_NC];
#pragma GCC unroll 8
    for (int r = 0; r < Q_GF_MR; r++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) acc[r][c] = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t w[Q_GF_MR];
#pragma GCC unroll 8
        for (int r = 0; r < Q_GF_MR; r++) {
            w[r] = f16 ? q_neon_load_f16((const gl_fp16 *)x[r] + i) : vld1q_f32((const float *)x[r] + i);
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const float32x4_t yv = vld1q_f32(y[c] + i);
#pragma GCC unroll 8
            for (int r = 0; r < Q_GF_MR; r++) acc[r][c] = vfmaq_f32(acc[r][c], w[r], yv);
        }
    }
    /* pairwise adds reduce a column's four rows at once: [sum r0, sum r1, sum r2, sum r3] */
    for (int c = 0; c < nc; c++) {
        float sum[4];
        vst1q_f32(sum, vpaddq_f32(vpaddq_f32(acc[0][c], acc[1][c]), vpaddq_f32(acc[2][c], acc[3][c])));
        for (int r = 0; r < nr; r++) {
            for (int t = i; t < n; t++) {
                const float wv = f16 ? GL_FP16_FAST(((const gl_fp16 *)x[r])[t]) : ((const float *)x[r])[t];
                sum[r] += wv * y[c][t];
            }
            gl_gemm_put(s + (size_t)c * bs + r, add, sum[r]);
        }
    }
}

/* nc = 1 (a mat-vec): a one-column instance, as on AVX2. */
static void q_gemm_f32_neon(int n, int nr, int nc, const void *x, size_t bx, const void *const *y,
                            float *s, size_t bs, bool add) {
    if (nc == 1) q_gemm_float_neon(false, 1, n, nr, 1, x, bx, y, s, bs, add);
    else q_gemm_float_neon(false, Q_GF_NC, n, nr, nc, x, bx, y, s, bs, add);
}

static void q_gemm_f16_neon(int n, int nr, int nc, const void *x, size_t bx, const void *const *y,
                            float *s, size_t bs, bool add) {
    if (nc == 1) q_gemm_float_neon(true, 1, n, nr, 1, x, bx, y, s, bs, add);
    else q_gemm_float_neon(true, Q_GF_NC, n, nr, nc, x, bx, y, s, bs, add);
}

/* Q4_0 / Q8_0 × Q8_0: rows decoded to signed bytes once per block (Q4_0: nibble - 8), then
 * per column four exact block sums, pairwise-added into [r0..r3], one conversion, one FMA
 * with [d_r0..d_r3] * d_y into an accumulator whose lanes are the rows. */
#define Q_GQ_MR 4
#define Q_GQ_NC 4
static inline __attribute__((always_inline)) void
q_gemm_q8_neon(int wtype, int n, int nr, int nc, const void *vx, size_t bx, const void *const *vy,
               float *s, size_t bs, bool add) {
    const char *x[Q_GQ_MR];
    const block_q8_0 *y[Q_GQ_NC];
    for (int r = 0; r < Q_GQ_MR; r++) x[r] = (const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx;
    for (int c = 0; c < Q_GQ_NC; c++) y[c] = vy[GL_MIN(c, nc - 1)];
    const size_t bsz = wtype == Q_GQ_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t table = wtype == Q_GQ_IQ4_NL ? vld1q_s8(gl_iq4_table()) : vdupq_n_s8(0);
    float32x4_t acc[Q_GQ_NC];
#pragma GCC unroll 8
    for (int c = 0; c < Q_GQ_NC; c++) acc[c] = vdupq_n_f32(0.0f);
    const int nb = n / GL_QK8_0;
    for (int i = 0; i < nb; i++) {
        int8x16_t lo[Q_GQ_MR], hi[Q_GQ_MR];
        uint16_t dh[Q_GQ_MR];
#pragma GCC unroll 8
        for (int r = 0; r < Q_GQ_MR; r++) {
            const char *blk = x[r] + (size_t)i * bsz;
            const uint8_t *qs = (const uint8_t *)blk + sizeof(gl_fp16);
            if (wtype == Q_GQ_Q4_0) {
                const uint8x16_t b = vld1q_u8(qs);
                lo[r] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, m4)), eight);
                hi[r] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);
            } else if (wtype == Q_GQ_IQ4_NL) {
                const uint8x16_t b = vld1q_u8(qs);
                lo[r] = vqtbl1q_s8(table, vandq_u8(b, m4));
                hi[r] = vqtbl1q_s8(table, vshrq_n_u8(b, 4));
            } else {
                lo[r] = vreinterpretq_s8_u8(vld1q_u8(qs));
                hi[r] = vreinterpretq_s8_u8(vld1q_u8(qs + 16));
            }
            memcpy(&dh[r], blk, sizeof(gl_fp16));
        }
        const float32x4_t dx = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh)));
#pragma GCC unroll 8
        for (int c = 0; c < Q_GQ_NC; c++) {
            const int8x16_t y0 = vld1q_s8(y[c][i].qs), y1 = vld1q_s8(y[c][i].qs + 16);
            int32x4_t p[Q_GQ_MR];
#pragma GCC unroll 8
            for (int r = 0; r < Q_GQ_MR; r++) {
                p[r] = q_neon_dot(q_neon_dot(vdupq_n_s32(0), lo[r], y0), hi[r], y1);
            }
            const int32x4_t tot = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
            acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(tot), vmulq_n_f32(dx, GL_FP16_FAST(y[c][i].d)));
        }
    }
    for (int c = 0; c < nc; c++) {
        float out[4];
        vst1q_f32(out, acc[c]);
        for (int r = 0; r < nr; r++) gl_gemm_put(s + (size_t)c * bs + r, add, out[r]);
    }
}

static void q_gemm_q4_0_neon(int n, int nr, int nc, const void *x, size_t bx,
                             const void *const *y, float *s, size_t bs, bool add) {
    q_gemm_q8_neon(Q_GQ_Q4_0, n, nr, nc, x, bx, y, s, bs, add);
}

static void q_gemm_q8_0_neon(int n, int nr, int nc, const void *x, size_t bx,
                             const void *const *y, float *s, size_t bs, bool add) {
    q_gemm_q8_neon(Q_GQ_Q8_0, n, nr, nc, x, bx, y, s, bs, add);
}

static void q_gemm_iq4_nl_neon(int n, int nr, int nc, const void *x, size_t bx,
                               const void *const *y, float *s, size_t bs, bool add) {
    q_gemm_q8_neon(Q_GQ_IQ4_NL, n, nr, nc, x, bx, y, s, bs, add);
}
#endif /* GL_NEON */

#if defined(GL_AVX2)
#define Q_VEC_DOT_F32 q_vec_dot_f32_avx2
#define Q_VEC_DOT_F16 q_vec_dot_f16_avx2
#define Q_VEC_DOT_BF16 q_vec_dot_bf16_avx2
#define Q_VEC_DOT_Q4_0 q_vec_dot_q4_0_q8_0_avx2
#define Q_VEC_DOT_Q4_1 q_vec_dot_q4_1_q8_1_avx2
#define Q_VEC_DOT_Q5_0 q_vec_dot_q5_0_q8_0_avx2
#define Q_VEC_DOT_Q5_1 q_vec_dot_q5_1_q8_1_avx2
#define Q_VEC_DOT_Q8_0 q_vec_dot_q8_0_q8_0_avx2
#elif defined(GL_NEON)
#define Q_VEC_DOT_F32 q_vec_dot_f32_neon
#define Q_VEC_DOT_F16 q_vec_dot_f16_neon
#define Q_VEC_DOT_BF16 q_vec_dot_bf16_neon
#define Q_VEC_DOT_Q4_0 q_vec_dot_q4_0_q8_0_neon
#define Q_VEC_DOT_Q4_1 q_vec_dot_q4_1_q8_1_neon
#define Q_VEC_DOT_Q5_0 q_vec_dot_q5_0_q8_0_neon
#define Q_VEC_DOT_Q5_1 q_vec_dot_q5_1_q8_1_neon
#define Q_VEC_DOT_Q8_0 q_vec_dot_q8_0_q8_0_neon
#else
#define Q_VEC_DOT_F32 gl_vec_dot_f32_scalar
#define Q_VEC_DOT_F16 gl_vec_dot_f16_scalar
#define Q_VEC_DOT_BF16 gl_vec_dot_bf16_scalar
#define Q_VEC_DOT_Q4_0 gl_vec_dot_q4_0_q8_0_scalar
#define Q_VEC_DOT_Q4_1 gl_vec_dot_q4_1_q8_1_scalar
#define Q_VEC_DOT_Q5_0 gl_vec_dot_q5_0_q8_0_scalar
#define Q_VEC_DOT_Q5_1 gl_vec_dot_q5_1_q8_1_scalar
#define Q_VEC_DOT_Q8_0 gl_vec_dot_q8_0_q8_0_scalar
#endif

/* ------------------------------------------------------------------------------------------
 * Fast activation quantizers. They produce exactly the reference's bytes for finite input:
 * the max |x| is order-independent, d and 1/d are computed by the same scalar expressions,
 * x*id is one IEEE multiply either way, and the rounding is roundf's (half away from zero),
 * not the SIMD default of half to even. (Non-finite input gives some bytes, never UB.)
 * ---------------------------------------------------------------------------------------- */

#if defined(GL_AVX2)
/* One block of 32: writes the rounded quants, returns d; *sum gets the sum of the quants. */
static inline float q_avx2_quant_block_q8(const float *x, int8_t *qs, int *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        /* max_ps returns its second operand when the first is NaN: NaNs are skipped as fmaxf does */
        amax = _mm256_max_ps(_mm256_and_ps(v[k], absmask), amax);
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 qmax = _mm256_set1_ps(127.0f), qmin = _mm256_set1_ps(-127.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
        /* as q_round_i8: NaN (a NaN input, inf * 0) gives 0 and the result is clamped to
         * [-127, 127] (an inf id from a subnormal d), so that the int conversion and the sum
         * below stay in range for every input */
        __m256 p = _mm256_mul_ps(v[k], vid);
        p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));
        /* roundf: truncate, then step away from zero when the dropped part is >= 0.5 */
        const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 frac = _mm256_and_ps(_mm256_sub_ps(p, t), absmask);
        const __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ),
                                          _mm256_or_ps(one, _mm256_andnot_ps(absmask, p)));
        q[k] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, step), qmin), qmax));
    }
    if (sum) {
        const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        *sum = _mm_cvtsi128_si32(s4);
    }
    /* pack 32 int32 → 32 int8; the packs interleave 128-bit lanes, the permute restores order */
    const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i b = _mm256_packs_epi16(w01, w23);
    const __m256i ordered = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, ordered);
    return d;
}
#elif defined(GL_NEON)
static inline float q_neon_quant_block_q8(const float *x, int8_t *qs, int *sum) {
    float32x4_t v[8];
    float32x4_t amax = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        amax = vmaxnmq_f32(amax, vabsq_f32(v[k])); /* maxnm skips NaN like fmaxf */
    }
    const float d = vmaxnmvq_f32(amax) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32x4_t q[8];
    int32x4_t s = vdupq_n_s32(0);
    for (int k = 0; k < 8; k++) {
        q[k] = vcvtaq_s32_f32(vmulq_n_f32(v[k], id)); /* ties away from zero, as roundf */
        /* NaN converts to 0 and inf saturates: clamp to [-127, 127] as q_round_i8 does */
        q[k] = vmaxq_s32(vminq_s32(q[k], vdupq_n_s32(127)), vdupq_n_s32(-127));
        s = vaddq_s32(s, q[k]);
    }
    if (sum) *sum = vaddvq_s32(s);
    for (int k = 0; k < 8; k += 4) {
        const int16x8_t a = vcombine_s16(vqmovn_s32(q[k]), vqmovn_s32(q[k + 1]));
        const int16x8_t b = vcombine_s16(vqmovn_s32(q[k + 2]), vqmovn_s32(q[k + 3]));
        vst1q_s8(qs + 4 * k, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
    return d;
}
#endif

void gl_quantize_row_q8_0(const float *x, void *vy, int64_t n) {
#if defined(GL_AVX2) || defined(GL_NEON)
    block_q8_0 *y = vy;
    const int64_t nb = n / GL_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
#if defined(GL_AVX2)
        y[i].d = Q_TO_FP16(q_avx2_quant_block_q8(x + i * GL_QK8_0, y[i].qs, NULL));
#else
        y[i].d = Q_TO_FP16(q_neon_quant_block_q8(x + i * GL_QK8_0, y[i].qs, NULL));
#endif
    }
#else
    gl_quantize_row_q8_0_ref(x, vy, n);
#endif
}

void gl_quantize_row_q8_1(const float *x, void *vy, int64_t n) {
#if defined(GL_AVX2) || defined(GL_NEON)
    block_q8_1 *y = vy;
    const int64_t nb = n / GL_QK8_1;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
#if defined(GL_AVX2)
        const float d = q_avx2_quant_block_q8(x + i * GL_QK8_1, y[i].qs, &sum);
#else
        const float d = q_neon_quant_block_q8(x + i * GL_QK8_1, y[i].qs, &sum);
#endif
        y[i].d = Q_TO_FP16(d);
        y[i].s = Q_TO_FP16((float)sum * d);
    }
#else
    gl_quantize_row_q8_1_ref(x, vy, n);
#endif
}

/* ------------------------------------------------------------------------------------------
 * X8: weights repacked in groups of 8 rows (gl_repack), and their mat-mat / mat-vec kernels.
 *
 * Layout (block_q4_0x8 / block_q8_0x8 in gl-quants.h): per group of 8 rows and per 32-element
 * block, the 8 fp16 scales side by side, then the quants in 32-byte chunks, each chunk one
 * 4-byte group of every row (row r at bytes 4r..4r+3). The size is that of the 8 rows, so the
 * mat-vec streams no more bytes; a k-slice of a group is contiguous.
 *
 * Why: with lanes = rows, one 4-byte group of an activation column broadcast to all lanes
 * and one dot instruction (x86 VNNI vpdpbusd, NEON vdotq_laneq_s32) add 4 products to each
 * of the 8 rows' sums. No horizontal reduction is needed, and per (8 rows × column × block)
 * there is one int->float conversion, one product of the 8 row scales by the column's scale
 * and one FMA, against ~4 reductions and float steps per 4 rows in the row-layout kernels.
 *
 * Activations: block_q8_0s rows (the Q8_0 quants and scale of gl_quantize_row_q8_0, plus an
 * integer correction), made by q_quantize_row_q8_0s_*:
 *   Q4_0: nibbles q in 0..15 are used unsigned: sum (q-8) a = sum q a - 8 sum a, and the
 *         correction -8 sum a starts each block's integer sum;
 *   Q8_0: on x86 vpdpbusd wants an unsigned operand: w ^ 0x80 = w + 128 (once per decoded
 *         weight vector, shared by the tile's columns), correction -128 sum a. NEON's sdot is
 *         signed x signed and uses w as stored.
 * Every integer block sum is exact, and the float steps per block (convert, d_w * d_y, one
 * fused multiply-add into the row's accumulator, blocks in k order) are the same in every
 * kernel, the portable reference included: all X8 kernels give the same bits (test-repack
 * checks it), and the same bits as the row-layout gemm kernels on x86/NEON, which do these
 * float steps in the same order.
 * Kernels: x86 with AVX-512VL + VNNI: Q4_0 and Q8_0, 8 columns per call (8 decoded weight
 * vectors + 8 accumulators + scales fit the 32 ymm registers); plain AVX2: Q4_0 only, by
 * maddubs (no saturation: 2*15*127 per pair, and 8 pair sums 30480 < 32767 are added in int16
 * before one madd), Q8_0 stays on the row layout (maddubs cannot take w + 128: it saturates,
 * and the sign trick needs a madd per chunk: no gain measured worth it); NEON: Q4_0 and
 * Q8_0, 4 columns per call, by sdot with dotprod, by widening multiply-accumulate on ARMv8.0
 * (q_x8_block_sums); GL_NO_SIMD and 32-bit ARM: none (gl_repack_size is 0).
 * ---------------------------------------------------------------------------------------- */

bool gl_repack_x8_rows(gl_type type, const void *src, size_t src_row, void *dst, int64_t nrows,
                       int64_t k) {
    if ((type != GL_TYPE_Q4_0 && type != GL_TYPE_Q8_0) || nrows < 0 || k < 0 || k % GL_QK8_0 != 0)
        return false;
    const int64_t nb = k / GL_QK8_0;
    /* a last group short of 8 rows is padded with zero blocks (scale 0: every product 0) */
    const int64_t n_groups = (nrows + 7) / 8;
    if (nrows % 8 != 0) {
        const size_t gsize = (size_t)nb * (type == GL_TYPE_Q4_0 ? sizeof(block_q4_0x8) : sizeof(block_q8_0x8));
        memset((char *)dst + (size_t)(n_groups - 1) * gsize, 0, gsize);
    }
    for (int64_t g = 0; g < n_groups; g++) {
        for (int64_t b = 0; b < nb; b++) {
            for (int r = 0; r < 8 && 8 * g + r < nrows; r++) {
                const char *row = (const char *)src + (size_t)(8 * g + r) * src_row;
                if (type == GL_TYPE_Q4_0) {
                    const block_q4_0 *in = (const block_q4_0 *)row + b;
                    block_q4_0x8 *o = (block_q4_0x8 *)dst + g * nb + b;
                    o->d[r] = in->d;
                    for (int c = 0; c < 4; c++) memcpy(o->qs + 32 * c + 4 * r, in->qs + 4 * c, 4);
                } else {
                    const block_q8_0 *in = (const block_q8_0 *)row + b;
                    block_q8_0x8 *o = (block_q8_0x8 *)dst + g * nb + b;
                    o->d[r] = in->d;
                    for (int c = 0; c < 8; c++) memcpy(o->qs + 32 * c + 4 * r, in->qs + 4 * c, 4);
                }
            }
        }
    }
    return true;
}

bool gl_x8_row_to_f32(gl_type type, const void *x, int64_t k, int64_t row, float *y) {
    if ((type != GL_TYPE_Q4_0 && type != GL_TYPE_Q8_0) || k < 0 || k % GL_QK8_0 != 0 || row < 0)
        return false;
    const int64_t nb = k / GL_QK8_0, g = row / 8;
    const int r = (int)(row % 8);
    for (int64_t b = 0; b < nb; b++) {
        if (type == GL_TYPE_Q4_0) {
            const block_q4_0x8 *in = (const block_q4_0x8 *)x + g * nb + b;
            block_q4_0 blk = {.d = in->d[r]};
            for (int c = 0; c < 4; c++) memcpy(blk.qs + 4 * c, in->qs + 32 * c + 4 * r, 4);
            gl_dequantize_row_q4_0(&blk, y + b * GL_QK4_0, GL_QK4_0);
        } else {
            const block_q8_0x8 *in = (const block_q8_0x8 *)x + g * nb + b;
            block_q8_0 blk = {.d = in->d[r]};
            for (int c = 0; c < 8; c++) memcpy(blk.qs + 4 * c, in->qs + 32 * c + 4 * r, 4);
            gl_dequantize_row_q8_0(&blk, y + b * GL_QK8_0, GL_QK8_0);
        }
    }
    return true;
}

/* Activation rows for the X8 kernels: mult * sum(qs) is the correction (see above). */
static inline void q_quantize_row_q8_0s(const float *x, void *vy, int64_t n, int32_t mult) {
    block_q8_0s *y = vy;
    const int64_t nb = n / GL_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
#if defined(GL_AVX2)
        const float d = q_avx2_quant_block_q8(x + i * GL_QK8_0, y[i].qs, &sum);
#elif defined(GL_NEON)
        const float d = q_neon_quant_block_q8(x + i * GL_QK8_0, y[i].qs, &sum);
#else
        block_q8_0 b;
        gl_quantize_row_q8_0_ref(x + i * GL_QK8_0, &b, GL_QK8_0);
        memcpy(y[i].qs, b.qs, sizeof b.qs);
        for (int j = 0; j < GL_QK8_0; j++) sum += b.qs[j];
        const float d = Q_FP16(b.d);
#endif
        y[i].d = Q_FP16(Q_TO_FP16(d)); /* the value the Q8_0 row's fp16 scale holds */
        y[i].corr = mult * sum;
    }
}
static void q_quantize_row_q8_0s_q4(const float *x, void *y, int64_t n) {
    q_quantize_row_q8_0s(x, y, n, -8);
}
static void q_quantize_row_q8_0s_q8(const float *x, void *y, int64_t n) {
    q_quantize_row_q8_0s(x, y, n, -128);
}

/* The portable reference: the direct integer sums sum (q-8) a and sum w a (it does not read
 * the corrections, so comparing the SIMD kernels with it checks those too). */
static inline void q_gemm_x8_ref(bool q4, int n, int nr, int nc, const void *vx,
                                 const void *const *vy, float *s, size_t bs, bool add) {
    const int nb = n / GL_QK8_0;
    for (int c = 0; c < nc; c++) {
        const block_q8_0s *y = vy[c];
        float acc[8] = {0};
        for (int i = 0; i < nb; i++) {
            const gl_fp16 *dw;
            const uint8_t *qs;
            if (q4) {
                const block_q4_0x8 *b = (const block_q4_0x8 *)vx + i;
                dw = b->d;
                qs = b->qs;
            } else {
                const block_q8_0x8 *b = (const block_q8_0x8 *)vx + i;
                dw = b->d;
                qs = (const uint8_t *)b->qs;
            }
            for (int r = 0; r < 8; r++) {
                int32_t sum = 0;
                for (int ch = 0; ch < (q4 ? 4 : 8); ch++) {
                    for (int j = 0; j < 4; j++) {
                        const int v = qs[32 * ch + 4 * r + j];
                        if (q4) {
                            sum += ((v & 15) - 8) * y[i].qs[4 * ch + j] +
                                   ((v >> 4) - 8) * y[i].qs[16 + 4 * ch + j];
                        } else {
                            sum += (int8_t)v * y[i].qs[4 * ch + j];
                        }
                    }
                }
                acc[r] = fmaf((float)sum, Q_FP16(dw[r]) * y[i].d, acc[r]);
            }
        }
        for (int r = 0; r < nr; r++) gl_gemm_put(s + (size_t)c * bs + r, add, acc[r]);
    }
}
static void q_gemm_q4_0_x8_ref(int n, int nr, int nc, const void *x, size_t bx,
                               const void *const *y, float *s, size_t bs, bool add) {
    (void)bx;
    q_gemm_x8_ref(true, n, nr, nc, x, y, s, bs, add);
}
static void q_gemm_q8_0_x8_ref(int n, int nr, int nc, const void *x, size_t bx,
                               const void *const *y, float *s, size_t bs, bool add) {
    (void)bx;
    q_gemm_x8_ref(false, n, nr, nc, x, y, s, bs, add);
}

#if defined(GL_AVX2)
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define Q_X8_VNNI 1
#endif
#define Q_X8_NC 8 /* columns per call (wide instance); tails take 4 and 1 */
#ifndef Q_X8_PREFETCH
#define Q_X8_PREFETCH 1024
#endif

static inline int32_t q_load_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 8 rows × NC columns (NC a constant after inlining). Per block the 8 weight vectors are
 * decoded once (w[j]: elements 4j..4j+3 of every row, as unsigned bytes), then per column
 * eight dots with the broadcast 4-byte groups of the activation, started at the correction. */
static inline __attribute__((always_inline)) void
q_gemm_x8_avx2(bool q4, int NC, int n, int nr, const void *vx, const void *const *vy, float *s,
               size_t bs, bool add) {
    const block_q8_0s *y[Q_X8_NC];
    for (int c = 0; c < NC; c++) y[c] = vy[c];
    const size_t bsz = q4 ? sizeof(block_q4_0x8) : sizeof(block_q8_0x8);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
#if defined(Q_X8_VNNI)
    const __m256i flip = _mm256_set1_epi8((char)0x80);
#else
    const __m256i ones = _mm256_set1_epi16(1);
#endif
    __m256 acc[Q_X8_NC];
#pragma GCC unroll 16
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    const int nb = n / GL_QK8_0;
    for (int i = 0; i < nb; i++) {
        const char *blk = (const char *)vx + (size_t)i * bsz;
        if (NC > 1) { /* see Q_X8_PREFETCH */
            _mm_prefetch(Q_PREFETCH_AT((uintptr_t)blk, Q_X8_PREFETCH), _MM_HINT_T0);
            if (!q4) _mm_prefetch(Q_PREFETCH_AT((uintptr_t)blk, Q_X8_PREFETCH + 128), _MM_HINT_T0);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        __m256i w[8];
        if (q4) {
#pragma GCC unroll 8
            for (int ch = 0; ch < 4; ch++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * ch));
                w[ch] = _mm256_and_si256(v, m4);
                w[4 + ch] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            }
        } else {
#if defined(Q_X8_VNNI)
#pragma GCC unroll 8
            for (int ch = 0; ch < 8; ch++) {
                w[ch] = _mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * ch)), flip);
            }
#endif
        }
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++) {
            const block_q8_0s *yb = y[c] + i;
#if defined(Q_X8_VNNI)
            __m256i p = _mm256_set1_epi32(yb->corr);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                p = _mm256_dpbusd_epi32(p, w[j], _mm256_set1_epi32(q_load_i32(yb->qs + 4 * j)));
#else
            /* (Q4_0 only) int16 sums of pairs, all 8 added in int16 (<= 30480), then to int32 */
            __m256i p16 = _mm256_maddubs_epi16(w[0], _mm256_set1_epi32(q_load_i32(yb->qs)));
#pragma GCC unroll 8
            for (int j = 1; j < 8; j++) {
                p16 = _mm256_add_epi16(
                    p16, _mm256_maddubs_epi16(w[j], _mm256_set1_epi32(q_load_i32(yb->qs + 4 * j))));
            }
            const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(p16, ones),
                                               _mm256_set1_epi32(yb->corr));
#endif
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw, _mm256_set1_ps(yb->d)),
                                     acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        float out[8];
        _mm256_storeu_ps(out, acc[c]);
        for (int r = 0; r < nr; r++) gl_gemm_put(s + (size_t)c * bs + r, add, out[r]);
    }
}

/* Whole groups of Q_X8_NC columns, then 4, then single ones: each column's value is the same
 * whichever instance computes it (its own accumulator, the same instruction sequence). */
#define Q_X8_DISPATCH(q4)                                                                      \
    int c = 0;                                                                                 \
    for (; c + Q_X8_NC <= nc; c += Q_X8_NC)                                                    \
        q_gemm_x8_avx2(q4, Q_X8_NC, n, nr, x, y + c, s + (size_t)c * bs, bs, add);             \
    for (; c + 4 <= nc; c += 4) q_gemm_x8_avx2(q4, 4, n, nr, x, y + c, s + (size_t)c * bs, bs, add); \
    for (; c < nc; c++) q_gemm_x8_avx2(q4, 1, n, nr, x, y + c, s + (size_t)c * bs, bs, add)

static void q_gemm_q4_0_x8_avx2(int n, int nr, int nc, const void *x, size_t bx,
                                const void *const *y, float *s, size_t bs, bool add) {
    (void)bx;
    Q_X8_DISPATCH(true);
}
#if defined(Q_X8_VNNI)
static void q_gemm_q8_0_x8_avx2(int n, int nr, int nc, const void *x, size_t bx,
                                const void *const *y, float *s, size_t bs, bool add) {
    (void)bx;
    Q_X8_DISPATCH(false);
}
#endif
#endif /* GL_AVX2 */

#if defined(GL_NEON)
#define Q_X8_NC 4

/* One block of one column: the 8 rows' integer sums (rows 0-3 in *p0, 4-7 in *p1, each
 * started at its value). w[2j + h]: elements 4j..4j+3 of rows 4h..4h+3; a0/a1: the column's
 * 32 activation bytes. With dotprod: 16 sdot by lane. ARMv8.0 (Pi 4 / Cortex-A72, no sdot):
 * the 4-byte group j of the activation is broadcast to all lanes, and widening multiplies
 * (vmull_s8 / vmull_high_s8, two groups added in int16 by vmlal: |w a| <= 128 * 127, so two
 * products fit) give per row two int16 pairs per group, folded into int32 by vpadalq_s16; a
 * final pairwise add makes one sum per row. Both are exact, so both give the same sums. */
static inline __attribute__((always_inline)) void
q_x8_block_sums(const int8x16_t *w, int8x16_t a0, int8x16_t a1, int32x4_t *p0, int32x4_t *p1) {
#if defined(GL_NEON_DOTPROD)
#define Q_X8_SDOT(j, a, l)                                    \
    *p0 = vdotq_laneq_s32(*p0, w[2 * (j)], a, l);             \
    *p1 = vdotq_laneq_s32(*p1, w[2 * (j) + 1], a, l)
    Q_X8_SDOT(0, a0, 0);
    Q_X8_SDOT(1, a0, 1);
    Q_X8_SDOT(2, a0, 2);
    Q_X8_SDOT(3, a0, 3);
    Q_X8_SDOT(4, a1, 0);
    Q_X8_SDOT(5, a1, 1);
    Q_X8_SDOT(6, a1, 2);
    Q_X8_SDOT(7, a1, 3);
#undef Q_X8_SDOT
#else
    int32x4_t lo[2] = {vdupq_n_s32(0), vdupq_n_s32(0)}, hi[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
#define Q_X8_WIDE(j, a, l)                                                                    \
    do {                                                                                      \
        const int8x16_t b0 = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), l));     \
        const int8x16_t b1 = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), l + 1)); \
        for (int h = 0; h < 2; h++) {                                                         \
            const int8x16_t w0 = w[2 * (j) + h], w1 = w[2 * ((j) + 1) + h];                   \
            int16x8_t l16 = vmull_s8(vget_low_s8(w0), vget_low_s8(b0));                       \
            l16 = vmlal_s8(l16, vget_low_s8(w1), vget_low_s8(b1));                            \
            int16x8_t h16 = vmull_high_s8(w0, b0);                                            \
            h16 = vmlal_high_s8(h16, w1, b1);                                                 \
            lo[h] = vpadalq_s16(lo[h], l16);                                                  \
            hi[h] = vpadalq_s16(hi[h], h16);                                                  \
        }                                                                                     \
    } while (0)
    Q_X8_WIDE(0, a0, 0);
    Q_X8_WIDE(2, a0, 2);
    Q_X8_WIDE(4, a1, 0);
    Q_X8_WIDE(6, a1, 2);
#undef Q_X8_WIDE
    /* lo[h]: rows 4h, 4h+1 as two partial sums each; hi[h]: rows 4h+2, 4h+3 */
    *p0 = vaddq_s32(*p0, vpaddq_s32(lo[0], hi[0]));
    *p1 = vaddq_s32(*p1, vpaddq_s32(lo[1], hi[1]));
#endif
}

/* 8 rows × NC columns: rows 0-3 and 4-7 in two int32x4 / float32x4 halves. Per block the 16
 * weight vectors are loaded (Q4_0: nibbles split, kept unsigned) once, then per column 16
 * sdot by lane: w[2j + h] (elements 4j..4j+3 of rows 4h..4h+3) with lane j % 4 of the
 * activation's 16-byte half j / 4. */
static inline __attribute__((always_inline)) void
q_gemm_x8_neon(bool q4, int NC, int n, int nr, const void *vx, const void *const *vy, float *s,
               size_t bs, bool add) {
    const block_q8_0s *y[Q_X8_NC];
    for (int c = 0; c < NC; c++) y[c] = vy[c];
    const size_t bsz = q4 ? sizeof(block_q4_0x8) : sizeof(block_q8_0x8);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float32x4_t acc[Q_X8_NC][2];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
    const int nb = n / GL_QK8_0;
    for (int i = 0; i < nb; i++) {
        const uint8_t *blk = (const uint8_t *)vx + (size_t)i * bsz;
        uint16_t dh[8];
        memcpy(dh, blk, sizeof dh);
        const float32x4_t dw0 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh)));
        const float32x4_t dw1 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh + 4)));
        const uint8_t *qs = blk + 16;
        int8x16_t w[16];
        if (q4) {
#pragma GCC unroll 8
            for (int ch = 0; ch < 4; ch++) {
                for (int h = 0; h < 2; h++) {
                    const uint8x16_t b = vld1q_u8(qs + 32 * ch + 16 * h);
                    w[2 * ch + h] = vreinterpretq_s8_u8(vandq_u8(b, m4));
                    w[2 * (4 + ch) + h] = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
                }
            }
        } else {
#pragma GCC unroll 16
            for (int v = 0; v < 16; v++) w[v] = vld1q_s8((const int8_t *)qs + 16 * v);
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const block_q8_0s *yb = y[c] + i;
            const int8x16_t a0 = vld1q_s8(yb->qs), a1 = vld1q_s8(yb->qs + 16);
            /* Q4_0: unsigned nibbles, so start at the -8 sum(a) correction; Q8_0: signed dot */
            int32x4_t p0 = vdupq_n_s32(q4 ? yb->corr : 0), p1 = p0;
            q_x8_block_sums(w, a0, a1, &p0, &p1);
            acc[c][0] = vfmaq_f32(acc[c][0], vcvtq_f32_s32(p0), vmulq_n_f32(dw0, yb->d));
            acc[c][1] = vfmaq_f32(acc[c][1], vcvtq_f32_s32(p1), vmulq_n_f32(dw1, yb->d));
        }
    }
    for (int c = 0; c < NC; c++) {
        float out[8];
        vst1q_f32(out, acc[c][0]);
        vst1q_f32(out + 4, acc[c][1]);
        for (int r = 0; r < nr; r++) gl_gemm_put(s + (size_t)c * bs + r, add, out[r]);
    }
}

#define Q_X8_DISPATCH(q4)                                                                      \
    int c = 0;                                                                                 \
    for (; c + Q_X8_NC <= nc; c += Q_X8_NC)                                                    \
        q_gemm_x8_neon(q4, Q_X8_NC, n, nr, x, y + c, s + (size_t)c * bs, bs, add);             \
    for (; c < nc; c++) q_gemm_x8_neon(q4, 1, n, nr, x, y + c, s + (size_t)c * bs, bs, add)

static void q_gemm_q4_0_x8_neon(int n, int nr, int nc, const void *x, size_t bx,
                                const void *const *y, float *s, size_t bs, bool add) {
    (void)bx;
    Q_X8_DISPATCH(true);
}
static void q_gemm_q8_0_x8_neon(int n, int nr, int nc, const void *x, size_t bx,
                                const void *const *y, float *s, size_t bs, bool add) {
    (void)bx;
    Q_X8_DISPATCH(false);
}
#endif /* GL_NEON */

gl_gemm_kernel gl_type_gemm_x8_ref(gl_type type) {
    const size_t yb = sizeof(block_q8_0s);
    if (type == GL_TYPE_Q4_0)
        return (gl_gemm_kernel){q_gemm_q4_0_x8_ref, 8, 8, GL_TYPE_Q8_0, false,
                                q_quantize_row_q8_0s_q4, yb, false};
    if (type == GL_TYPE_Q8_0)
        return (gl_gemm_kernel){q_gemm_q8_0_x8_ref, 8, 8, GL_TYPE_Q8_0, false,
                                q_quantize_row_q8_0s_q8, yb, false};
    return (gl_gemm_kernel){0};
}

gl_gemm_kernel gl_type_gemm_x8(gl_type type) {
    GL_KDISPATCH(type_gemm_x8, type);
    gl_gemm_kernel k = {0};
    const size_t yb = sizeof(block_q8_0s);
#if defined(GL_AVX2)
    if (type == GL_TYPE_Q4_0)
        k = (gl_gemm_kernel){q_gemm_q4_0_x8_avx2, 8, Q_X8_NC, GL_TYPE_Q8_0, false,
                             q_quantize_row_q8_0s_q4, yb, false};
#if defined(Q_X8_VNNI)
    if (type == GL_TYPE_Q8_0)
        k = (gl_gemm_kernel){q_gemm_q8_0_x8_avx2, 8, Q_X8_NC, GL_TYPE_Q8_0, false,
                             q_quantize_row_q8_0s_q8, yb, false};
#endif
#elif defined(GL_NEON)
    if (type == GL_TYPE_Q4_0)
        k = (gl_gemm_kernel){q_gemm_q4_0_x8_neon, 8, Q_X8_NC, GL_TYPE_Q8_0, false,
                             q_quantize_row_q8_0s_q4, yb, false};
    if (type == GL_TYPE_Q8_0)
        k = (gl_gemm_kernel){q_gemm_q8_0_x8_neon, 8, Q_X8_NC, GL_TYPE_Q8_0, false,
                             q_quantize_row_q8_0s_q8, yb, false};
#endif
    (void)type;
    (void)yb;
    return k;
}

size_t gl_repack_size(const gl_tensor *t) {
    GL_KDISPATCH(repack_size, t);
    if (!t || t->layout != GL_LAYOUT_ROWS || t->view_src || t->op != GL_OP_NONE) return 0;
    if (!gl_type_gemm_x8(t->type).fn) return 0;
    if (t->ne[0] <= 0 || t->ne[1] <= 0 || t->ne[2] != 1 || t->ne[3] != 1) return 0;
    if (!gl_is_contiguous(t)) return 0;
    /* rows rounded up to whole groups of 8 (the last one padded); 0 when that overflows size_t */
    const size_t row = gl_row_size(t->type, t->ne[0]);
    const uint64_t rows = (uint64_t)(t->ne[1] + 7) / 8 * 8;
    if (!row || rows > (uint64_t)(SIZE_MAX / row)) return 0;
    return row * (size_t)rows;
}

bool gl_repack(gl_tensor *t, void *dst, size_t size, gl_error *err) {
    GL_KDISPATCH(repack, t, dst, size, err);
    const size_t need = gl_repack_size(t);
    if (!need) {
        if (!t) {
            gl_error_set(err, GL_ERR_INVALID, "gl_repack: no tensor");
        } else {
            gl_error_set(err, GL_ERR_UNSUPPORTED,
                         "gl_repack: '%s' (%s [%lld, %lld, %lld, %lld]%s%s) has no X8 layout in "
                         "this build (%s): needs Q4_0 or Q8_0 with an X8 kernel, a contiguous 2-D "
                         "leaf",
                         t->name, gl_type_name(t->type), (long long)t->ne[0], (long long)t->ne[1],
                         (long long)t->ne[2], (long long)t->ne[3], t->view_src ? ", a view" : "",
                         t->layout != GL_LAYOUT_ROWS ? ", already repacked" : "", gl_simd_name());
        }
        return false;
    }
    if (!t->data) {
        gl_error_set(err, GL_ERR_INVALID, "gl_repack: '%s' has no data", t->name);
        return false;
    }
    if (!dst || size < need) {
        gl_error_set(err, GL_ERR_INVALID, "gl_repack: '%s' needs %zu bytes, the buffer has %zu",
                     t->name, need, dst ? size : 0);
        return false;
    }
    if ((uintptr_t)dst % 64 != 0) {
        gl_error_set(err, GL_ERR_INVALID, "gl_repack: the buffer for '%s' is not 64-byte aligned",
                     t->name);
        return false;
    }
    const uintptr_t a0 = (uintptr_t)t->data, d0 = (uintptr_t)dst;
    if (a0 < d0 + need && d0 < a0 + gl_nbytes(t)) {
        gl_error_set(err, GL_ERR_INVALID, "gl_repack: the buffer overlaps '%s''s data", t->name);
        return false;
    }
    gl_repack_x8_rows(t->type, t->data, t->nb[1], dst, t->ne[1], t->ne[0]);
    t->data = dst;
    t->layout = GL_LAYOUT_X8;
    return true;
}

/* ------------------------------------------------------------------------------------------
 * Type traits
 * ---------------------------------------------------------------------------------------- */

/* A type we can name and size but not compute with. */
#define Q_KNOWN(nm, bs, ts, quant) \
    { .name = nm, .blck_size = bs, .type_size = ts, .is_quantized = quant, .known = true }

/* A K-quant weight type t (gl-quants-k.c). */
#define Q_KQUANT(nm, t, ts)                                                                   \
    { .name = nm, .blck_size = GL_QK_K, .type_size = ts, .is_quantized = true, .known = true,  \
      .supported = true, .to_float = gl_dequantize_row_##t,                                    \
      .from_float_ref = gl_quantize_row_##t##_ref, .from_float = gl_quantize_row_##t##_ref,    \
      .vec_dot = gl_vec_dot_##t##_q8_K, .vec_dot_scalar = gl_vec_dot_##t##_q8_K_scalar,        \
      .vec_dot_type = GL_TYPE_Q8_K }

static const gl_type_traits q_traits[GL_TYPE_COUNT] = {
    [GL_TYPE_F32] = {.name = "f32", .blck_size = 1, .type_size = 4, .known = true,
                     .supported = true, .to_float = q_f32_to_f32_row,
                     .from_float_ref = q_f32_from_f32_row, .from_float = q_f32_from_f32_row,
                     .vec_dot = Q_VEC_DOT_F32, .vec_dot_scalar = gl_vec_dot_f32_scalar,
                     .vec_dot_type = GL_TYPE_F32},
    [GL_TYPE_F16] = {.name = "f16", .blck_size = 1, .type_size = 2, .known = true,
                     .supported = true, .to_float = gl_fp16_to_fp32_row,
                     .from_float_ref = gl_fp32_to_fp16_row_ref, .from_float = gl_fp32_to_fp16_row,
                     .vec_dot = Q_VEC_DOT_F16, .vec_dot_scalar = gl_vec_dot_f16_scalar,
                     .vec_dot_type = GL_TYPE_F16},
    [GL_TYPE_Q4_0] = {.name = "q4_0", .blck_size = GL_QK4_0, .type_size = sizeof(block_q4_0),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q4_0,
                      .from_float_ref = gl_quantize_row_q4_0_ref,
                      .from_float = gl_quantize_row_q4_0_ref, .vec_dot = Q_VEC_DOT_Q4_0,
                      .vec_dot_scalar = gl_vec_dot_q4_0_q8_0_scalar,
                      .vec_dot_type = GL_TYPE_Q8_0},
    [GL_TYPE_Q4_1] = {.name = "q4_1", .blck_size = GL_QK4_1, .type_size = sizeof(block_q4_1),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q4_1,
                      .from_float_ref = gl_quantize_row_q4_1_ref,
                      .from_float = gl_quantize_row_q4_1_ref, .vec_dot = Q_VEC_DOT_Q4_1,
                      .vec_dot_scalar = gl_vec_dot_q4_1_q8_1_scalar,
                      .vec_dot_type = GL_TYPE_Q8_1},
    [GL_TYPE_Q5_0] = {.name = "q5_0", .blck_size = GL_QK5_0, .type_size = sizeof(block_q5_0),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q5_0,
                      .from_float_ref = gl_quantize_row_q5_0_ref,
                      .from_float = gl_quantize_row_q5_0_ref, .vec_dot = Q_VEC_DOT_Q5_0,
                      .vec_dot_scalar = gl_vec_dot_q5_0_q8_0_scalar,
                      .vec_dot_type = GL_TYPE_Q8_0},
    [GL_TYPE_Q5_1] = {.name = "q5_1", .blck_size = GL_QK5_1, .type_size = sizeof(block_q5_1),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q5_1,
                      .from_float_ref = gl_quantize_row_q5_1_ref,
                      .from_float = gl_quantize_row_q5_1_ref, .vec_dot = Q_VEC_DOT_Q5_1,
                      .vec_dot_scalar = gl_vec_dot_q5_1_q8_1_scalar,
                      .vec_dot_type = GL_TYPE_Q8_1},
    [GL_TYPE_Q8_0] = {.name = "q8_0", .blck_size = GL_QK8_0, .type_size = sizeof(block_q8_0),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q8_0,
                      .from_float_ref = gl_quantize_row_q8_0_ref,
                      .from_float = gl_quantize_row_q8_0, .vec_dot = Q_VEC_DOT_Q8_0,
                      .vec_dot_scalar = gl_vec_dot_q8_0_q8_0_scalar,
                      .vec_dot_type = GL_TYPE_Q8_0},
    /* Q8_1 is an activation type: no dot of its own as a weight (as in ggml). */
    [GL_TYPE_Q8_1] = {.name = "q8_1", .blck_size = GL_QK8_1, .type_size = sizeof(block_q8_1),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q8_1,
                      .from_float_ref = gl_quantize_row_q8_1_ref,
                      .from_float = gl_quantize_row_q8_1, .vec_dot_type = GL_TYPE_Q8_1},
    /* K-quants: kernels in gl-quants-k.c; activations go through Q8_K */
    [GL_TYPE_Q2_K] = Q_KQUANT("q2_K", q2_K, sizeof(block_q2_K)),
    [GL_TYPE_Q3_K] = Q_KQUANT("q3_K", q3_K, sizeof(block_q3_K)),
    [GL_TYPE_Q4_K] = Q_KQUANT("q4_K", q4_K, sizeof(block_q4_K)),
    [GL_TYPE_Q5_K] = Q_KQUANT("q5_K", q5_K, sizeof(block_q5_K)),
    [GL_TYPE_Q6_K] = Q_KQUANT("q6_K", q6_K, sizeof(block_q6_K)),
    /* Q8_K is an activation type only (as in ggml) */
    [GL_TYPE_Q8_K] = {.name = "q8_K", .blck_size = GL_QK_K, .type_size = sizeof(block_q8_K),
                      .is_quantized = true, .known = true, .supported = true,
                      .to_float = gl_dequantize_row_q8_K,
                      .from_float_ref = gl_quantize_row_q8_K_ref,
                      .from_float = gl_quantize_row_q8_K, .vec_dot_type = GL_TYPE_Q8_K},
    [16] = Q_KNOWN("iq2_xxs", GL_QK_K, 66, true),
    [17] = Q_KNOWN("iq2_xs", GL_QK_K, 74, true),
    [18] = Q_KNOWN("iq3_xxs", GL_QK_K, 98, true),
    [19] = Q_KNOWN("iq1_s", GL_QK_K, 50, true),
    /* IQ4_NL / IQ4_XS: gl-quants-iq.c */
    [GL_TYPE_IQ4_NL] = {.name = "iq4_nl", .blck_size = GL_QK4_NL, .type_size = sizeof(block_iq4_nl),
                        .is_quantized = true, .known = true, .supported = true,
                        .to_float = gl_dequantize_row_iq4_nl,
                        .from_float_ref = gl_quantize_row_iq4_nl_ref,
                        .from_float = gl_quantize_row_iq4_nl_ref, .vec_dot = gl_vec_dot_iq4_nl_q8_0,
                        .vec_dot_scalar = gl_vec_dot_iq4_nl_q8_0_scalar,
                        .vec_dot_type = GL_TYPE_Q8_0},
    [21] = Q_KNOWN("iq3_s", GL_QK_K, 110, true),
    [22] = Q_KNOWN("iq2_s", GL_QK_K, 82, true),
    [GL_TYPE_IQ4_XS] = {.name = "iq4_xs", .blck_size = GL_QK_K, .type_size = sizeof(block_iq4_xs),
                        .is_quantized = true, .known = true, .supported = true,
                        .to_float = gl_dequantize_row_iq4_xs,
                        .from_float_ref = gl_quantize_row_iq4_xs_ref,
                        .from_float = gl_quantize_row_iq4_xs_ref, .vec_dot = gl_vec_dot_iq4_xs_q8_K,
                        .vec_dot_scalar = gl_vec_dot_iq4_xs_q8_K_scalar,
                        .vec_dot_type = GL_TYPE_Q8_K},
    [GL_TYPE_I8] = Q_KNOWN("i8", 1, 1, false),
    [GL_TYPE_I16] = Q_KNOWN("i16", 1, 2, false),
    [GL_TYPE_I32] = Q_KNOWN("i32", 1, 4, false),
    [GL_TYPE_I64] = Q_KNOWN("i64", 1, 8, false),
    [GL_TYPE_F64] = Q_KNOWN("f64", 1, 8, false),
    [29] = Q_KNOWN("iq1_m", GL_QK_K, 56, true),
    [GL_TYPE_BF16] = {.name = "bf16", .blck_size = 1, .type_size = 2, .known = true,
                      .supported = true, .to_float = gl_bf16_to_fp32_row,
                      .from_float_ref = gl_fp32_to_bf16_row, .from_float = gl_fp32_to_bf16_row,
                      .vec_dot = Q_VEC_DOT_BF16, .vec_dot_scalar = gl_vec_dot_bf16_scalar,
                      .vec_dot_type = GL_TYPE_BF16},
    [34] = Q_KNOWN("tq1_0", GL_QK_K, 54, true),
    [35] = Q_KNOWN("tq2_0", GL_QK_K, 66, true),
    [39] = Q_KNOWN("mxfp4", 32, 17, true),
    [40] = Q_KNOWN("nvfp4", 64, 36, true),
    [41] = Q_KNOWN("q1_0", 128, 18, true),
    [42] = Q_KNOWN("q2_0", 128, 34, true),
};

const gl_type_traits *gl_type_get(int type) {
    GL_KDISPATCH(type_get, type);
    if (type < 0 || type >= GL_TYPE_COUNT) return NULL;
    return &q_traits[type];
}

bool gl_type_known(int type) {
    const gl_type_traits *t = gl_type_get(type);
    return t && t->known;
}

const char *gl_type_name(int type) { return gl_type_known(type) ? q_traits[type].name : "?"; }

int gl_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < GL_TYPE_COUNT; i++) {
        if (q_traits[i].known && gl_name_eq(q_traits[i].name, name)) return i;
    }
    return -1;
}

size_t gl_row_size(gl_type type, int64_t n) {
    const gl_type_traits *t = gl_type_get((int)type);
    if (!t || !t->known || n < 0 || n % t->blck_size != 0) return 0;
    const uint64_t blocks = (uint64_t)(n / t->blck_size);
    /* sizes must also fit int64 (offsets and nbytes are compared as such) */
    if (blocks > (uint64_t)INT64_MAX / t->type_size) return 0;
    return (size_t)blocks * t->type_size;
}

size_t gl_quantize_rows(gl_type type, const float *src, void *dst, int64_t nrows,
                        int64_t n_per_row) {
    const gl_type_traits *t = gl_type_get((int)type);
    if (!t || !t->supported || !t->from_float_ref || nrows < 0) return 0;
    const size_t row = gl_row_size(type, n_per_row);
    if (row == 0 && n_per_row != 0) return 0;
    for (int64_t r = 0; r < nrows; r++) {
        t->from_float_ref(src + r * n_per_row, (char *)dst + (size_t)r * row, n_per_row);
    }
    return row * (size_t)nrows;
}

const char *gl_simd_name(void) {
#if !defined(GL_KSET_COPY)
    if (gl_kset_active() != &gl_kset_self) return gl_kset_active()->simd_name();
#endif
#if defined(GL_AVX2) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return "AVX2 FMA F16C + AVX-512 VL VNNI";
#elif defined(GL_AVX2)
    return "AVX2 FMA F16C";
#elif defined(GL_NEON_DOTPROD)
    return "NEON DOTPROD";
#elif defined(GL_NEON)
    return "NEON";
#else
    return "scalar";
#endif
}

gl_vec_dot4_fn gl_type_vec_dot4(gl_type type) {
    GL_KDISPATCH(type_vec_dot4, type);
#if defined(GL_AVX2)
    /* (a 4-row Q8_0 kernel measured slower here than the single-row one: the horizontal
     * sums cost more than the shared work saves) */
    if (type == GL_TYPE_Q4_0) return q_vec_dot4_q4_0_q8_0_avx2;
#elif defined(GL_NEON)
    if (type == GL_TYPE_Q4_0) return q_vec_dot4_q4_0_q8_0_neon;
    if (type == GL_TYPE_Q8_0) return q_vec_dot4_q8_0_q8_0_neon;
#endif
    (void)type;
    return NULL;
}

gl_gemm_kernel gl_type_gemm(gl_type type) {
    GL_KDISPATCH(type_gemm, type);
    gl_gemm_kernel k = {0};
#if defined(GL_AVX2) || defined(GL_NEON)
#if defined(GL_AVX2)
#define Q_GEMM_PICK(t) q_gemm_##t##_avx2
#else
#define Q_GEMM_PICK(t) q_gemm_##t##_neon
#endif
    switch (type) {
    case GL_TYPE_F32:
        k = (gl_gemm_kernel){Q_GEMM_PICK(f32), Q_GF_MR, Q_GF_NC, GL_TYPE_F32, false, NULL, 0, true};
        break;
    case GL_TYPE_F16:
        k = (gl_gemm_kernel){Q_GEMM_PICK(f16), Q_GF_MR, Q_GF_NC, GL_TYPE_F32, true, NULL, 0, true};
        break;
    case GL_TYPE_Q4_0:
        k = (gl_gemm_kernel){Q_GEMM_PICK(q4_0), Q_GQ_MR, Q_GQ_NC, GL_TYPE_Q8_0, false, NULL, 0, false};
        break;
    case GL_TYPE_Q8_0:
        k = (gl_gemm_kernel){Q_GEMM_PICK(q8_0), Q_GQ_MR, Q_GQ_NC, GL_TYPE_Q8_0, false, NULL, 0, false};
        break;
    case GL_TYPE_IQ4_NL:
        k = (gl_gemm_kernel){Q_GEMM_PICK(iq4_nl), Q_GQ_MR, Q_GQ_NC, GL_TYPE_Q8_0, false, NULL, 0, false};
        break;
    case GL_TYPE_IQ4_XS:
        k = gl_type_gemm_iq(type);
        break;
    default:
        k = gl_type_gemm_k(type); /* the K types (gl-quants-k.c) */
        break;
    }
#undef Q_GEMM_PICK
#endif
    (void)type;
    return k;
}
