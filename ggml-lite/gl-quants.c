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
#include <strings.h>

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
    if (exp == 31) return q_bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf / NaN */
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
 * Fast activation quantizers
 * ---------------------------------------------------------------------------------------- */

void gl_quantize_row_q8_0(const float *x, void *y, int64_t n) { gl_quantize_row_q8_0_ref(x, y, n); }
void gl_quantize_row_q8_1(const float *x, void *y, int64_t n) { gl_quantize_row_q8_1_ref(x, y, n); }

/* ------------------------------------------------------------------------------------------
 * SIMD dot products (selected below; scalar when none is compiled in)
 * ---------------------------------------------------------------------------------------- */

#define Q_VEC_DOT_F32 gl_vec_dot_f32_scalar
#define Q_VEC_DOT_F16 gl_vec_dot_f16_scalar
#define Q_VEC_DOT_BF16 gl_vec_dot_bf16_scalar
#define Q_VEC_DOT_Q4_0 gl_vec_dot_q4_0_q8_0_scalar
#define Q_VEC_DOT_Q4_1 gl_vec_dot_q4_1_q8_1_scalar
#define Q_VEC_DOT_Q5_0 gl_vec_dot_q5_0_q8_0_scalar
#define Q_VEC_DOT_Q5_1 gl_vec_dot_q5_1_q8_1_scalar
#define Q_VEC_DOT_Q8_0 gl_vec_dot_q8_0_q8_0_scalar

/* ------------------------------------------------------------------------------------------
 * Type traits
 * ---------------------------------------------------------------------------------------- */

/* A type we can name and size but not compute with. */
#define Q_KNOWN(nm, bs, ts, quant) \
    { .name = nm, .blck_size = bs, .type_size = ts, .is_quantized = quant, .known = true }

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
    [GL_TYPE_Q2_K] = Q_KNOWN("q2_K", GL_QK_K, 84, true),
    [GL_TYPE_Q3_K] = Q_KNOWN("q3_K", GL_QK_K, 110, true),
    [GL_TYPE_Q4_K] = Q_KNOWN("q4_K", GL_QK_K, 144, true),
    [GL_TYPE_Q5_K] = Q_KNOWN("q5_K", GL_QK_K, 176, true),
    [GL_TYPE_Q6_K] = Q_KNOWN("q6_K", GL_QK_K, 210, true),
    [GL_TYPE_Q8_K] = Q_KNOWN("q8_K", GL_QK_K, 292, true),
    [16] = Q_KNOWN("iq2_xxs", GL_QK_K, 66, true),
    [17] = Q_KNOWN("iq2_xs", GL_QK_K, 74, true),
    [18] = Q_KNOWN("iq3_xxs", GL_QK_K, 98, true),
    [19] = Q_KNOWN("iq1_s", GL_QK_K, 50, true),
    [20] = Q_KNOWN("iq4_nl", 32, 18, true),
    [21] = Q_KNOWN("iq3_s", GL_QK_K, 110, true),
    [22] = Q_KNOWN("iq2_s", GL_QK_K, 82, true),
    [23] = Q_KNOWN("iq4_xs", GL_QK_K, 136, true),
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
        if (q_traits[i].known && strcasecmp(q_traits[i].name, name) == 0) return i;
    }
    return -1;
}

size_t gl_row_size(gl_type type, int64_t n) {
    const gl_type_traits *t = gl_type_get((int)type);
    if (!t || !t->known || n < 0 || n % t->blck_size != 0) return 0;
    const uint64_t blocks = (uint64_t)(n / t->blck_size);
    if (blocks > SIZE_MAX / t->type_size) return 0;
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
#if defined(GL_AVX2)
    return "AVX2 FMA F16C";
#elif defined(GL_NEON_DOTPROD)
    return "NEON DOTPROD";
#elif defined(GL_NEON)
    return "NEON";
#else
    return "scalar";
#endif
}
