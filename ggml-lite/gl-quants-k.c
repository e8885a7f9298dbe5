/*
 * gl-quants-k.c — the K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights and Q8_K activations.
 *
 * Block layouts are ggml's (gl-quants.h, docs/reference-notes.md §1.5), so K-quant GGUF files
 * made by llama.cpp load here and ours load there. The reference quantizers follow ggml's
 * quantize_row_*_ref algorithms step by step in float32 (the results are file bytes, so the
 * order of every float operation matters; the build never contracts to FMA: -std=c11):
 *   Q4_K/Q5_K  per 32 elements an iterative (scale, min) search weighted by |x| + rms(x),
 *              then the eight scales and mins are themselves quantized to 6 bits;
 *   Q6_K       per 16 elements a symmetric scale search (weights x^2), scales to int8;
 *   Q3_K       per 16 elements a symmetric search that moves single codes, scales to 6 bits;
 *   Q2_K       per 16 elements the (scale, min) search weighted by |x|, 4-bit scales/mins;
 *   Q8_K       max-magnitude scale, round half to even, with sums per 16 codes.
 * scripts/quant_k_ref.py is an independent numpy implementation; tests/test-quants-k.c
 * compares bytes.
 *
 * Dots against Q8_K: every kernel computes, per super-block, two exact integers (the
 * scaled code·activation sum and the min correction from Q8_K's bsums) and then one float
 * expression in a fixed order, so the AVX2 and NEON kernels give the same float as the scalar
 * one (the AVX2 Q4_K/Q5_K/Q6_K dots reduce four blocks' integers and float expressions
 * together, then add the four results in order; gl_type_vec_dot4_k: Q4_K four rows at once). The mat-mat kernels at the end (gl_type_gemm_k) decode each weight super-block once
 * per call and reuse it for several activation rows, with the same integers and float steps.
 * Static names carry the module prefix qk_.
 */
#include "gl-quants.h"

#include <math.h>
#include <stddef.h>

#define QK_GROUP_MAX_EPS 1e-15f

/* The mat-mat kernels (and the decoded Q2_K/Q3_K dots) at the end of the file; built with
 * SIMD only. -DGL_K_NO_GEMM leaves the K types on the per-element vec_dot path and the Q2_K/
 * Q3_K dots on qk_scaled_dot16 (for before/after benchmarks). */
#if (defined(GL_AVX2) || defined(GL_NEON)) && !defined(GL_K_NO_GEMM)
#define QK_GEMM 1
#endif



static inline int qk_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ------------------------------------------------------------------------------------------
 * Scale searches
 * ---------------------------------------------------------------------------------------- */

/* Error of codes L under (scale, min) with weights w: sum w (scale*L + min - x)^2, or |.|. */
static float qk_weighted_error(int n, const float *x, const float *w, const uint8_t *L,
                               float scale, float min, bool use_mad) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

/* Asymmetric codes 0..nmax for x ≈ scale*L - the_min. Starts from the plain min/max fit,
 * then tries nstep+1 stretched grids (rmin + rdelta*is extra steps) and, for each, solves
 * the weighted least squares for scale and min; keeps the one of smallest weighted error. */
static float qk_make_qkx2(int n, int nmax, const float *x, const float *w, uint8_t *L,
                          float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                          bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)qk_clamp(gl_nearest_int(iscale * (x[i] - min)), 0, nmax);
    }
    float best = qk_weighted_error(n, x, w, L, scale, min, use_mad);
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = qk_clamp(gl_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        const float err = qk_weighted_error(n, x, w, Laux, this_scale, this_min, use_mad);
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Weight of element x in the symmetric searches (ggml's rmse_type 1: x^2). */
static inline float qk_w_sq(float x) { return x * x; }

/* Signed value of largest magnitude (first one wins) and that magnitude. */
static float qk_signed_max(int n, const float *x, float *amax_out) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

/* Symmetric codes -nmax..nmax-1 (stored + nmax) for x ≈ scale*code, weights x^2: the first
 * grid from the extreme value, then 18 slightly stretched grids; keeps the best fit. */
static float qk_make_qx(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = qk_signed_max(n, x, &amax);
    if (amax < QK_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = qk_clamp(gl_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = qk_w_sq(x[i]);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = qk_clamp(gl_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qk_w_sq(x[i]);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                L[i] = (int8_t)(nmax + qk_clamp(gl_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric search: codes from the extreme value, then up to five passes that move
 * single codes when that raises sumlx^2/suml2 (weights x^2). Codes stored + nmax. */
static float qk_make_q3(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = qk_signed_max(n, x, &amax);
    if (amax < QK_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = qk_clamp(gl_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = qk_w_sq(x[i]);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = qk_w_sq(x[i]);
            float slx = sumlx - w * x[i] * L[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            const int nl = qk_clamp(gl_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ------------------------------------------------------------------------------------------
 * 6-bit scale/min packing of Q4_K and Q5_K (12 bytes for 8 scales + 8 mins):
 * bytes 0-3 scales 0-3, bytes 4-7 mins 0-3 (bits 0-5); sub-blocks 4-7 keep their low four
 * bits in bytes 8-11 (scale low nibble, min high nibble) and their top two bits in bits 6-7
 * of bytes 0-3 (scales) and 4-7 (mins).
 * ---------------------------------------------------------------------------------------- */
static inline void qk_get_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void qk_put_scale_min(int j, uint8_t *q, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* Shared body of the Q4_K and Q5_K reference quantizers: codes 0..nmax into L[256], the
 * super-block scales into d and dmin and the packed 6-bit scales into scales[12]. */
static void qk_quantize_k_block(const float *x, int nmax, float rmin, int nstep, uint8_t *L,
                                gl_fp16 *d_out, gl_fp16 *dmin_out, uint8_t *packed) {
    float mins[8], scales[8], w[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xb = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xb[l] * xb[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xb[l]);
        scales[j] = qk_make_qkx2(32, nmax, xb, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep,
                                 false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, GL_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        /* (uint8_t) keeps ggml's narrowing: an out-of-range value wraps before the clamp */
        uint8_t ls = (uint8_t)gl_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)gl_nearest_int(inv_min * mins[j]);
        qk_put_scale_min(j, packed, GL_MIN(63, ls), GL_MIN(63, lm));
    }
    *d_out = gl_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = gl_fp32_to_fp16(max_min / 63.f);
    const float d = gl_fp16_to_fp32(*d_out), dmin = gl_fp16_to_fp32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        qk_get_scale_min(j, packed, &sc, &m);
        const float dl = d * sc;
        if (!dl) continue;
        const float dm = dmin * m;
        for (int i = 0; i < 32; i++) {
            L[32 * j + i] = (uint8_t)qk_clamp(gl_nearest_int((x[32 * j + i] + dm) / dl), 0, nmax);
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Reference quantizers
 * ---------------------------------------------------------------------------------------- */

void gl_quantize_row_q4_K_ref(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    uint8_t L[GL_QK_K];
    for (int64_t b = 0; b < n / GL_QK_K; b++, x += GL_QK_K) {
        qk_quantize_k_block(x, 15, -1.f, 20, L, &y[b].d, &y[b].dmin, y[b].scales);
        /* per 64 elements: low nibbles the first 32, high nibbles the next 32 */
        for (int j = 0; j < GL_QK_K; j += 64) {
            uint8_t *q = y[b].qs + j / 2;
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        }
    }
}

void gl_quantize_row_q5_K_ref(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    uint8_t L[GL_QK_K];
    for (int64_t b = 0; b < n / GL_QK_K; b++, x += GL_QK_K) {
        qk_quantize_k_block(x, 31, -0.5f, 15, L, &y[b].d, &y[b].dmin, y[b].scales);
        memset(y[b].qh, 0, sizeof y[b].qh);
        /* chunk c of 64: bit 2c of qh[l] is the fifth bit of element l, bit 2c+1 of l+32 */
        for (int c = 0; c < 4; c++) {
            const uint8_t *Lc = L + 64 * c;
            uint8_t *ql = y[b].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                const int l1 = Lc[l], l2 = Lc[l + 32];
                y[b].qh[l] |= (uint8_t)(((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
                ql[l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

void gl_quantize_row_q6_K_ref(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    int8_t L[GL_QK_K];
    float scales[16];
    for (int64_t b = 0; b < n / GL_QK_K; b++, x += GL_QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = qk_make_qx(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs < QK_GROUP_MAX_EPS) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[b].d = gl_fp32_to_fp16(1 / iscale);
        for (int j = 0; j < 16; j++) {
            y[b].scales[j] = (int8_t)GL_MIN(127, gl_nearest_int(iscale * scales[j]));
        }
        const float d = gl_fp16_to_fp32(y[b].d);
        for (int j = 0; j < 16; j++) {
            const float dl = d * y[b].scales[j];
            if (!dl) continue;
            for (int i = 0; i < 16; i++) {
                L[16 * j + i] = (int8_t)(qk_clamp(gl_nearest_int(x[16 * j + i] / dl), -32, 31) + 32);
            }
        }
        /* per 128 elements: ql[l] = e[l] | e[l+64] << 4, ql[l+32] = e[l+32] | e[l+96] << 4,
         * qh[l] holds the top two bits of e[l], e[l+32], e[l+64], e[l+96] */
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                const int e0 = Lh[l], e1 = Lh[l + 32], e2 = Lh[l + 64], e3 = Lh[l + 96];
                ql[l] = (uint8_t)((e0 & 0xF) | ((e2 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((e1 & 0xF) | ((e3 & 0xF) << 4));
                qh[l] = (uint8_t)((e0 >> 4) | ((e1 >> 4) << 2) | ((e2 >> 4) << 4) | ((e3 >> 4) << 6));
            }
        }
    }
}

/* Packs 2-bit codes L[256] as Q2_K/Q3_K do: per 128 elements, byte l holds elements l,
 * l+32, l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7. */
static void qk_pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < GL_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
        }
    }
}

void gl_quantize_row_q2_K_ref(const float *x, void *vy, int64_t n) {
    block_q2_K *y = vy;
    uint8_t L[GL_QK_K], Laux[16];
    float w[16], mins[16], scales[16];
    for (int64_t b = 0; b < n / GL_QK_K; b++, x += GL_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = qk_make_qkx2(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f,
                                     0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        memset(y[b].scales, 0, sizeof y[b].scales);
        y[b].d = gl_fp32_to_fp16(0.f);
        y[b].dmin = gl_fp32_to_fp16(0.f);
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) y[b].scales[j] = (uint8_t)gl_nearest_int(iscale * scales[j]);
            y[b].d = gl_fp32_to_fp16(max_scale / 15.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++) {
                y[b].scales[j] |= (uint8_t)((unsigned)gl_nearest_int(iscale * mins[j]) << 4);
            }
            y[b].dmin = gl_fp32_to_fp16(max_min / 15.f);
        }
        const float d = gl_fp16_to_fp32(y[b].d), dmin = gl_fp16_to_fp32(y[b].dmin);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (y[b].scales[j] & 0xF);
            if (!dl) continue;
            const float dm = dmin * (y[b].scales[j] >> 4);
            for (int i = 0; i < 16; i++) {
                L[16 * j + i] = (uint8_t)qk_clamp(gl_nearest_int((x[16 * j + i] + dm) / dl), 0, 3);
            }
        }
        qk_pack_2bit(L, y[b].qs);
    }
}

/* Q3_K's 16 signed 6-bit scales (stored + 32): low nibbles in bytes 0-7 (scale j in byte
 * j % 8, high nibble for j >= 8), top two bits in bytes 8-11 (byte 8 + j % 4, bits 2*(j/4)). */
static int qk_q3_scale(const uint8_t *s, int j) {
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* All sixteen qk_q3_scale values at once, from the 12 bytes read as three little-endian words:
 * low nibbles of words 0/1 are scales 0-3/4-7, their high nibbles scales 8-11/12-15, and bit
 * pair 2i of each byte of word 2 is the top of scales 4i..4i+3. */
static inline void qk_q3_words(const uint8_t *s, uint32_t *v) {
    uint32_t w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 | (uint32_t)s[4 * i + 2] << 16 |
               (uint32_t)s[4 * i + 3] << 24;
    }
    const uint32_t k4 = 0x0f0f0f0fu, k2 = 0x03030303u;
    v[0] = (w[0] & k4) | ((w[2] & k2) << 4);
    v[1] = (w[1] & k4) | (((w[2] >> 2) & k2) << 4);
    v[2] = ((w[0] >> 4) & k4) | (((w[2] >> 4) & k2) << 4);
    v[3] = ((w[1] >> 4) & k4) | (((w[2] >> 6) & k2) << 4);
}

static void qk_q3_scales16(const uint8_t *s, int32_t *out) {
    uint32_t v[4];
    qk_q3_words(s, v);
#if defined(GL_AVX2) /* little-endian: byte k of word i is scale 4i + k */
    const __m128i bytes = _mm_setr_epi32((int)v[0], (int)v[1], (int)v[2], (int)v[3]);
    const __m256i off = _mm256_set1_epi32(32);
    _mm256_storeu_si256((__m256i *)out, _mm256_sub_epi32(_mm256_cvtepu8_epi32(bytes), off));
    _mm256_storeu_si256((__m256i *)(out + 8),
                        _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)), off));
#else
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) out[j] = (int32_t)((v[j / 4] >> (8 * (j % 4))) & 0xFF) - 32;
#endif
}

void gl_quantize_row_q3_K_ref(const float *x, void *vy, int64_t n) {
    block_q3_K *y = vy;
    int8_t L[GL_QK_K];
    float scales[16];
    for (int64_t b = 0; b < n / GL_QK_K; b++, x += GL_QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = qk_make_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(y[b].scales, 0, sizeof y[b].scales);
        if (max_scale != 0) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                /* ggml narrows to int8 before clamping; the value is within ±32 anyway */
                const int l = qk_clamp((int8_t)gl_nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) {
                    y[b].scales[j] = (uint8_t)(l & 0xF);
                } else {
                    y[b].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                }
                y[b].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[b].d = gl_fp32_to_fp16(1 / iscale);
        } else {
            y[b].d = gl_fp32_to_fp16(0.f);
        }
        const float d_all = gl_fp16_to_fp32(y[b].d);
        for (int j = 0; j < 16; j++) {
            const float d = d_all * qk_q3_scale(y[b].scales, j);
            if (!d) continue;
            for (int i = 0; i < 16; i++) {
                L[16 * j + i] = (int8_t)(qk_clamp(gl_nearest_int(x[16 * j + i] / d), -4, 3) + 4);
            }
        }
        /* the third bit of element j goes to hmask[j % 32], bit j / 32 */
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        uint8_t L2[GL_QK_K];
        for (int j = 0; j < GL_QK_K; j++) {
            if (L[j] > 3) y[b].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            L2[j] = (uint8_t)(L[j] & 3);
        }
        qk_pack_2bit(L2, y[b].qs);
    }
}

void gl_quantize_row_q8_K_ref(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / GL_QK_K; b++, x += GL_QK_K) {
        float amax;
        const float max = qk_signed_max(GL_QK_K, x, &amax);
        if (!amax) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < GL_QK_K; j++) {
            y[b].qs[j] = (int8_t)GL_MIN(127, gl_nearest_int(iscale * x[j]));
        }
        for (int j = 0; j < GL_QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1 / iscale;
    }
}

/* The activation quantizer runs once per mat-vec row; it is not where the time goes, so the
 * reference serves (it is also what keeps the dot results identical across builds). */
void gl_quantize_row_q8_K(const float *x, void *y, int64_t n) { gl_quantize_row_q8_K_ref(x, y, n); }

/* ------------------------------------------------------------------------------------------
 * Dequantizers
 * ---------------------------------------------------------------------------------------- */

void gl_dequantize_row_q2_K(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    for (int64_t b = 0; b < n / GL_QK_K; b++) {
        const float d = gl_fp16_to_fp32(x[b].d), dmin = gl_fp16_to_fp32(x[b].dmin);
        for (int e = 0; e < GL_QK_K; e++) {
            /* element e: half e/128, byte l = e%32, bit pair (e%128)/32, scale e/16 */
            const int q = (x[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const uint8_t sc = x[b].scales[e / 16];
            *y++ = d * (sc & 0xF) * q - dmin * (sc >> 4);
        }
    }
}

void gl_dequantize_row_q3_K(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    for (int64_t b = 0; b < n / GL_QK_K; b++) {
        const float d = gl_fp16_to_fp32(x[b].d);
        for (int e = 0; e < GL_QK_K; e++) {
            const int lo = (x[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const int hi = (x[b].hmask[e % 32] >> (e / 32)) & 1;
            *y++ = d * qk_q3_scale(x[b].scales, e / 16) * (lo - (hi ? 0 : 4));
        }
    }
}

void gl_dequantize_row_q4_K(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    for (int64_t b = 0; b < n / GL_QK_K; b++) {
        const float d = gl_fp16_to_fp32(x[b].d), dmin = gl_fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            qk_get_scale_min(j, x[b].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) *y++ = dl * ((q[l] >> shift) & 0xF) - ml;
        }
    }
}

void gl_dequantize_row_q5_K(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    for (int64_t b = 0; b < n / GL_QK_K; b++) {
        const float d = gl_fp16_to_fp32(x[b].d), dmin = gl_fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            qk_get_scale_min(j, x[b].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xF) | (((x[b].qh[l] >> j) & 1) << 4);
                *y++ = dl * v - ml;
            }
        }
    }
}

/* Six-bit code of element e (0..255) of a Q6_K block, 0..63. */
static inline int qk_q6_code(const block_q6_K *x, int e) {
    const int h = e / 128, r = e % 128, l = r % 32, part = r / 32;
    const uint8_t lowb = x->ql[64 * h + l + 32 * (part & 1)];
    const int low = part < 2 ? lowb & 0xF : lowb >> 4;
    const int high = (x->qh[32 * h + l] >> (2 * part)) & 3;
    return low | (high << 4);
}

void gl_dequantize_row_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t b = 0; b < n / GL_QK_K; b++) {
        const float d = gl_fp16_to_fp32(x[b].d);
        for (int e = 0; e < GL_QK_K; e++) {
            *y++ = d * x[b].scales[e / 16] * (qk_q6_code(&x[b], e) - 32);
        }
    }
}

void gl_dequantize_row_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t b = 0; b < n / GL_QK_K; b++) {
        for (int j = 0; j < GL_QK_K; j++) *y++ = x[b].d * x[b].qs[j];
    }
}

/* ------------------------------------------------------------------------------------------
 * Scalar dots. Per block: isum = sum_j scale_j * sum(code * y) and msum = sum_j min_j *
 * bsum_j, both exact int32 (bounded well below 2^31 by the code ranges), then
 * s += yd * (d * isum - dmin * msum).
 * ---------------------------------------------------------------------------------------- */

static inline float qk_block_result(float yd, float d, int32_t isum, float dmin, int32_t msum) {
    return yd * (d * (float)isum - dmin * (float)msum);
}

/* Sum of the two bsums covering 32 elements starting at sub-block j of 32. */
static inline int32_t qk_bsum32(const block_q8_K *y, int j) {
    return (int32_t)y->bsums[2 * j] + y->bsums[2 * j + 1];
}

/* Q2_K and Q3_K: the block's codes are first unpacked to one byte each (u[256], 0..3 for
 * Q2_K, 0..7 = code + 4 for Q3_K), then sum_j scale_j * sum_{16 elements of j} u * y is
 * taken by qk_scaled_dot16 (SIMD where compiled in; exact integers either way). */

/* Element e: byte 32*(e/128) + e%32 of qs, bit pair (e%128)/32. */
static void qk_unpack_2bit(const uint8_t *qs, uint8_t *u) {
    for (int h = 0; h < 2; h++)
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++) u[128 * h + 32 * p + l] = (uint8_t)((qs[32 * h + l] >> (2 * p)) & 3);
}

/* Adds 4 where Q3_K's high bit (hmask[e % 32] bit e / 32) is set: u becomes code + 4. */
static void qk_add_hbit(const uint8_t *hmask, uint8_t *u) {
    for (int p = 0; p < 8; p++)
        for (int l = 0; l < 32; l++) u[32 * p + l] = (uint8_t)(u[32 * p + l] + (((hmask[l] >> p) & 1) << 2));
}

/* The bytes of qk_unpack_2bit, plus those of qk_add_hbit when hmask is not NULL, with SIMD
 * where compiled in (the dots' simd path and the mat-mat decoders). */
static void qk_unpack_2bit_fast(const uint8_t *qs, const uint8_t *hmask, uint8_t *u) {
#if defined(GL_AVX2)
    const __m256i m2 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    const __m256i hm = hmask ? _mm256_loadu_si256((const __m256i *)hmask) : _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int p = 0; p < 4; p++) {
            /* 16-bit shifts: the bits that cross into a byte's top are masked off */
            __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * p), m2);
            if (hmask) {
                v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + p), m1), 2));
            }
            _mm256_storeu_si256((__m256i *)(u + 128 * h + 32 * p), v);
        }
    }
#elif defined(GL_NEON)
    const uint8x16_t m2 = vdupq_n_u8(3), m1 = vdupq_n_u8(1);
    for (int h = 0; h < 2; h++) {
        for (int half = 0; half < 2; half++) {
            const uint8x16_t q = vld1q_u8(qs + 32 * h + 16 * half);
            const uint8x16_t hm = hmask ? vld1q_u8(hmask + 16 * half) : vdupq_n_u8(0);
            for (int p = 0; p < 4; p++) {
                uint8x16_t v = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * p))), m2);
                const uint8x16_t hb = vandq_u8(vshlq_u8(hm, vdupq_n_s8((int8_t)(-(4 * h + p)))), m1);
                vst1q_u8(u + 128 * h + 32 * p + 16 * half, vorrq_u8(v, vshlq_n_u8(hb, 2)));
            }
        }
    }
#else
    qk_unpack_2bit(qs, u);
    if (hmask) qk_add_hbit(hmask, u);
#endif
}

static int32_t qk_scaled_dot16_scalar(const uint8_t *u, const int8_t *y, const int32_t *sc) {
    int32_t isum = 0;
    for (int j = 0; j < 16; j++) {
        int32_t d = 0;
        for (int i = 16 * j; i < 16 * j + 16; i++) d += u[i] * y[i];
        isum += sc[j] * d;
    }
    return isum;
}

#if defined(GL_AVX2)
/* acc + pairwise sums of int16 products a * b (one instruction with AVX-512VL + VNNI). */
static inline __m256i qk_avx2_dp16(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

static int32_t qk_scaled_dot16(const uint8_t *u, const int8_t *y, const int32_t *sc) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) { /* 32 elements: sub-blocks 2k (low half) and 2k+1 */
        const __m256i c = _mm256_loadu_si256((const __m256i *)(u + 32 * k));
        const __m256i p16 = _mm256_maddubs_epi16(c, _mm256_loadu_si256((const __m256i *)(y + 32 * k)));
        const __m256i s = _mm256_setr_m128i(_mm_set1_epi16((int16_t)sc[2 * k]), _mm_set1_epi16((int16_t)sc[2 * k + 1]));
        acc = qk_avx2_dp16(acc, p16, s);
    }
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
    return _mm_cvtsi128_si32(r);
}
#elif defined(GL_NEON)
/* Lanes of 16 products u * y (u < 128), as four int32 partial sums. */
static inline int32x4_t qk_neon_dot16x4(uint8x16_t u, int8x16_t y) {
    const int8x16_t a = vreinterpretq_s8_u8(u);
#if defined(GL_NEON_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), a, y);
#else
    return vaddq_s32(vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(y))),
                     vpaddlq_s16(vmull_s8(vget_high_s8(a), vget_high_s8(y))));
#endif
}

static int32_t qk_scaled_dot16(const uint8_t *u, const int8_t *y, const int32_t *sc) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 16; j++) {
        acc = vmlaq_n_s32(acc, qk_neon_dot16x4(vld1q_u8(u + 16 * j), vld1q_s8(y + 16 * j)), sc[j]);
    }
    return vaddvq_s32(acc);
}
#else
#define qk_scaled_dot16 qk_scaled_dot16_scalar
#endif

/* One Q2_K block's (isum, msum); simd selects the kernel for the code sums. */
static void qk_q2_block(const block_q2_K *x, const block_q8_K *y, bool simd, int32_t *isum, int32_t *msum) {
    uint8_t u[GL_QK_K];
    int32_t sc[16];
    if (simd) {
        qk_unpack_2bit_fast(x->qs, NULL, u);
    } else {
        qk_unpack_2bit(x->qs, u);
    }
    *msum = 0;
    for (int j = 0; j < 16; j++) {
        sc[j] = x->scales[j] & 0xF;
        *msum += (x->scales[j] >> 4) * y->bsums[j];
    }
    *isum = simd ? qk_scaled_dot16(u, y->qs, sc) : qk_scaled_dot16_scalar(u, y->qs, sc);
}

/* Q3_K: u = code + 4, so the sum is sum_j sc_j (sum u y - 4 bsum_j). */
static int32_t qk_q3_block(const block_q3_K *x, const block_q8_K *y, bool simd) {
    uint8_t u[GL_QK_K];
    int32_t sc[16], corr = 0;
    if (simd) {
        qk_unpack_2bit_fast(x->qs, x->hmask, u);
        qk_q3_scales16(x->scales, sc);
    } else {
        qk_unpack_2bit(x->qs, u);
        qk_add_hbit(x->hmask, u);
        for (int j = 0; j < 16; j++) sc[j] = qk_q3_scale(x->scales, j);
    }
    for (int j = 0; j < 16; j++) corr += sc[j] * y->bsums[j];
    return (simd ? qk_scaled_dot16(u, y->qs, sc) : qk_scaled_dot16_scalar(u, y->qs, sc)) - 4 * corr;
}

static void qk_vec_dot_q2_K(int n, float *s, const void *vx, const void *vy, bool simd) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        int32_t isum, msum;
        qk_q2_block(&x[b], &y[b], simd, &isum, &msum);
        sum += qk_block_result(y[b].d, gl_fp16_to_fp32(x[b].d), isum, gl_fp16_to_fp32(x[b].dmin), msum);
    }
    *s = sum;
}

static void qk_vec_dot_q3_K(int n, float *s, const void *vx, const void *vy, bool simd) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        sum += qk_block_result(y[b].d, gl_fp16_to_fp32(x[b].d), qk_q3_block(&x[b], &y[b], simd), 0.0f, 0);
    }
    *s = sum;
}

void gl_vec_dot_q2_K_q8_K_scalar(int n, float *s, const void *vx, const void *vy) {
    qk_vec_dot_q2_K(n, s, vx, vy, false);
}

void gl_vec_dot_q3_K_q8_K_scalar(int n, float *s, const void *vx, const void *vy) {
    qk_vec_dot_q3_K(n, s, vx, vy, false);
}

void gl_vec_dot_q4_K_q8_K_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            qk_get_scale_min(j, x[b].scales, &sc, &m);
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) dot += ((q[l] >> shift) & 0xF) * y[b].qs[32 * j + l];
            isum += sc * dot;
            msum += m * qk_bsum32(&y[b], j);
        }
        sum += qk_block_result(y[b].d, gl_fp16_to_fp32(x[b].d), isum, gl_fp16_to_fp32(x[b].dmin),
                               msum);
    }
    *s = sum;
}

void gl_vec_dot_q5_K_q8_K_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            qk_get_scale_min(j, x[b].scales, &sc, &m);
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xF) | (((x[b].qh[l] >> j) & 1) << 4);
                dot += v * y[b].qs[32 * j + l];
            }
            isum += sc * dot;
            msum += m * qk_bsum32(&y[b], j);
        }
        sum += qk_block_result(y[b].d, gl_fp16_to_fp32(x[b].d), isum, gl_fp16_to_fp32(x[b].dmin),
                               msum);
    }
    *s = sum;
}

/* Q6_K: codes are stored + 32, so sum (c - 32) y = sum c y - 32 bsum (msum carries the 32). */
void gl_vec_dot_q6_K_q8_K_scalar(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t dot = 0;
            for (int i = 16 * j; i < 16 * j + 16; i++) dot += qk_q6_code(&x[b], i) * y[b].qs[i];
            isum += x[b].scales[j] * (dot - 32 * y[b].bsums[j]);
        }
        sum += qk_block_result(y[b].d, gl_fp16_to_fp32(x[b].d), isum, 0.0f, 0);
    }
    *s = sum;
}

/* ------------------------------------------------------------------------------------------
 * SIMD dots of Q4_K, Q5_K, Q6_K (Q2_K/Q3_K: qk_scaled_dot16 above)
 * ---------------------------------------------------------------------------------------- */

#if defined(GL_AVX2)
/* Horizontal sum of eight int32 lanes. */
static inline int32_t qk_avx2_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* 32 unsigned codes (< 64) times 32 int8 activations, pairs summed to int16, then times the
 * int16 scales in sc (per 128-bit half) and summed in pairs to int32. */
static inline __m256i qk_avx2_scaled_dot_acc(__m256i acc, __m256i codes, const int8_t *y, __m256i sc) {
    const __m256i p16 = _mm256_maddubs_epi16(codes, _mm256_loadu_si256((const __m256i *)y));
    return qk_avx2_dp16(acc, p16, sc);
}

/* Scale j (0..7) of a vector of eight int16 scales (in both 128-bit halves) in all sixteen
 * int16 lanes. */
static inline __m256i qk_avx2_scale_of(__m256i sc8, int j) {
    return _mm256_shuffle_epi8(sc8, _mm256_set1_epi16((short)(0x0100 + 0x0202 * j)));
}

/* The twelve scale bytes of Q4_K/Q5_K (x->scales, read as 16 bytes: the four after them are
 * the block's own qh/qs) as [sc0..sc7, m0..m7], qk_get_scale_min for all eight j: in 32-bit
 * words, sc 0-3 / mins 0-3 are the low six bits of words 0 / 1, sc 4-7 / mins 4-7 the low
 * and high nibbles of word 2 with bits 6-7 of words 0 / 1 on top. */
static inline __m128i qk_avx2_k_scale_bytes(const uint8_t *q) {
    const __m128i v = _mm_loadu_si128((const __m128i *)q);
    const __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)); /* w0 w2 w1 w2 */
    const __m128i c = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* w0 w0 w1 w1 */
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(b, _mm_setr_epi32(0, 0, 0, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    /* (w >> 6 & 3) << 4 per byte = (w >> 2) & 0x30 per byte */
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(c, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* [sum(a), sum(b), sum(c), sum(d)] of four vectors of eight int32. */
static inline __m128i qk_avx2_sum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* [sum(a), sum(b), sum(c), sum(d)] of four vectors of four int32. */
static inline __m128i qk_sse_sum4(__m128i a, __m128i b, __m128i c, __m128i d) {
    return _mm_hadd_epi32(_mm_hadd_epi32(a, b), _mm_hadd_epi32(c, d));
}

/* Adds the four block results of t to *sum one at a time, lanes 0..g-1 in order (the scalar
 * dot's float steps). */
static inline void qk_add_lanes(float *sum, __m128 t, int g) {
    float v[4];
    _mm_storeu_ps(v, t);
    float s = *sum;
    s += v[0];
    if (g > 1) s += v[1];
    if (g > 2) s += v[2];
    if (g > 3) s += v[3];
    *sum = s;
}

/* One Q4_K (q5 false) or Q5_K block at blk against y: lanes summing to the scalar dot's isum;
 * *mpart: lanes summing to its msum. */
static inline __attribute__((always_inline)) __m256i
qk_avx2_q45_K_isum(const uint8_t *blk, const block_q8_K *y, __m128i *mpart, bool q5) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i b4 = _mm256_set1_epi8(0x10);
    const __m128i sm = qk_avx2_k_scale_bytes(blk + offsetof(block_q4_K, scales));
    const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums),
                                      _mm_loadu_si128((const __m128i *)(y->bsums + 8))); /* pairs: |.| <= 4096 */
    *mpart = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), bs);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const uint8_t *qs = blk + (q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs));
    const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)(blk + offsetof(block_q5_K, qh)))
                          : _mm256_setzero_si256();
    /* two accumulators: two dependency chains of dp16 instead of one */
    __m256i acc = _mm256_setzero_si256(), acc2 = acc;
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) {
            /* fifth bits: bit 2c (low nibbles) and 2c+1 (high nibbles) of each qh byte */
            const __m256i bl = _mm256_set1_epi8((char)(1 << (2 * c)));
            const __m256i bh = _mm256_set1_epi8((char)(1 << (2 * c + 1)));
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), b4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), b4));
        }
        acc = qk_avx2_scaled_dot_acc(acc, lo, y->qs + 64 * c, qk_avx2_scale_of(sc, 2 * c));
        acc2 = qk_avx2_scaled_dot_acc(acc2, hi, y->qs + 64 * c + 32, qk_avx2_scale_of(sc, 2 * c + 1));
    }
    return _mm256_add_epi32(acc, acc2);
}

/* g (1..4) Q4_K/Q5_K blocks (bsize bytes each) from x, y: their block results
 * yd * (d * isum - dmin * msum) in lanes 0..g-1, the integers reduced together, the float
 * steps those of the scalar dot. */
static inline __attribute__((always_inline)) __m128
qk_avx2_q45_K_group(const uint8_t *x, const block_q8_K *y, int g, bool q5) {
    const size_t bsize = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    __m256i iv[4];
    __m128i mv[4];
    uint32_t dw[4];
    float yd[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        if (r < g) {
            iv[r] = qk_avx2_q45_K_isum(x + r * bsize, &y[r], &mv[r], q5);
            memcpy(&dw[r], x + r * bsize, sizeof dw[r]); /* d, dmin */
            yd[r] = y[r].d;
        } else {
            iv[r] = _mm256_setzero_si256();
            mv[r] = _mm_setzero_si128();
            dw[r] = 0;
            yd[r] = 0;
        }
    }
    const __m128i isum = qk_avx2_sum4(iv[0], iv[1], iv[2], iv[3]);
    const __m128i msum = qk_sse_sum4(mv[0], mv[1], mv[2], mv[3]);
    const __m256 dd = _mm256_cvtph_ps(_mm_setr_epi32((int)dw[0], (int)dw[1], (int)dw[2], (int)dw[3]));
    /* dd: d0 m0 d1 m1 | d2 m2 d3 m3 */
    const __m128 lo = _mm256_castps256_ps128(dd), hi = _mm256_extractf128_ps(dd, 1);
    const __m128 d4 = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    const __m128 m4 = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm_mul_ps(_mm_setr_ps(yd[0], yd[1], yd[2], yd[3]),
                      _mm_sub_ps(_mm_mul_ps(d4, _mm_cvtepi32_ps(isum)), _mm_mul_ps(m4, _mm_cvtepi32_ps(msum))));
}

/* Blocks in groups of four (the horizontal sums and float steps four blocks at a time), the
 * block results then added in order. */
static inline __attribute__((always_inline)) void
qk_vec_dot_q45_K_avx2(int n, float *s, const void *vx, const void *vy, bool q5) {
    const uint8_t *x = vx;
    const block_q8_K *y = vy;
    const size_t bsize = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const int nb = n / GL_QK_K;
    float sum = 0;
    int b = 0;
    for (; b + 4 <= nb; b += 4) qk_add_lanes(&sum, qk_avx2_q45_K_group(x + (size_t)b * bsize, y + b, 4, q5), 4);
    const uint8_t *xt = x + (size_t)b * bsize;
    switch (nb - b) {
    case 1: qk_add_lanes(&sum, qk_avx2_q45_K_group(xt, y + b, 1, q5), 1); break;
    case 2: qk_add_lanes(&sum, qk_avx2_q45_K_group(xt, y + b, 2, q5), 2); break;
    case 3: qk_add_lanes(&sum, qk_avx2_q45_K_group(xt, y + b, 3, q5), 3); break;
    default: break;
    }
    *s = sum;
}

static void qk_vec_dot_q4_K_avx2(int n, float *s, const void *vx, const void *vy) {
    qk_vec_dot_q45_K_avx2(n, s, vx, vy, false);
}

static void qk_vec_dot_q5_K_avx2(int n, float *s, const void *vx, const void *vy) {
    qk_vec_dot_q45_K_avx2(n, s, vx, vy, true);
}

/* One Q6_K block against y: lanes summing to the scalar dot's isum (the - 32 bsum offset
 * folded in: sum_j sc_j (dot_j - 32 bsum_j), exact as int32). */
static inline __attribute__((always_inline)) __m256i
qk_avx2_q6_K_isum(const block_q6_K *x, const block_q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
    /* [s0..s7 | s0..s7] and [s8..s15 | s8..s15]: one in-lane shuffle per 32 elements */
    const __m256i sh[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),
                           _mm256_permute2x128_si256(sc16, sc16, 0x11)};
    __m256i acc[4] = {_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5)),
                      _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()}; /* four independent chains */
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        /* bit pair 2p of qh to bits 4-5 of each byte (16-bit shifts: what crosses a byte
         * boundary is masked off) */
        __m256i codes[4];
        codes[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
        codes[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
        codes[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
        codes[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {
            /* 32 elements = sub-blocks 8h + 2p (low half) and 8h + 2p + 1 (high half) */
            const __m256i ctrl = _mm256_setr_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * p))),
                                                   _mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * p + 1))));
            acc[p] = qk_avx2_scaled_dot_acc(acc[p], codes[p], y->qs + 128 * h + 32 * p,
                                            _mm256_shuffle_epi8(sh[h], ctrl));
        }
    }
    return _mm256_add_epi32(_mm256_add_epi32(acc[0], acc[1]), _mm256_add_epi32(acc[2], acc[3]));
}

/* g (1..4) Q6_K blocks: yd * (d * isum) in lanes 0..g-1 (the scalar dot's d * isum - 0 * 0:
 * subtracting +0 changes no value). */
static inline __attribute__((always_inline)) __m128
qk_avx2_q6_K_group(const block_q6_K *x, const block_q8_K *y, int g) {
    __m256i iv[4];
    uint16_t dh[4];
    float yd[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        if (r < g) {
            iv[r] = qk_avx2_q6_K_isum(&x[r], &y[r]);
            memcpy(&dh[r], &x[r].d, sizeof dh[r]);
            yd[r] = y[r].d;
        } else {
            iv[r] = _mm256_setzero_si256();
            dh[r] = 0;
            yd[r] = 0;
        }
    }
    const __m128i isum = qk_avx2_sum4(iv[0], iv[1], iv[2], iv[3]);
    const __m128 d4 = _mm_cvtph_ps(_mm_setr_epi16((short)dh[0], (short)dh[1], (short)dh[2], (short)dh[3], 0, 0, 0, 0));
    return _mm_mul_ps(_mm_setr_ps(yd[0], yd[1], yd[2], yd[3]), _mm_mul_ps(d4, _mm_cvtepi32_ps(isum)));
}

static void qk_vec_dot_q6_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int nb = n / GL_QK_K;
    float sum = 0;
    int b = 0;
    for (; b + 4 <= nb; b += 4) qk_add_lanes(&sum, qk_avx2_q6_K_group(x + b, y + b, 4), 4);
    switch (nb - b) {
    case 1: qk_add_lanes(&sum, qk_avx2_q6_K_group(x + b, y + b, 1), 1); break;
    case 2: qk_add_lanes(&sum, qk_avx2_q6_K_group(x + b, y + b, 2), 2); break;
    case 3: qk_add_lanes(&sum, qk_avx2_q6_K_group(x + b, y + b, 3), 3); break;
    default: break;
    }
    *s = sum;
}

#if !defined(GL_K_NO_DOT4) /* -DGL_K_NO_DOT4: the mat-vec takes one row at a time */
/* ---- four-row mat-vec kernels (gl_type_vec_dot4_k) ----
 * Rows x + r bx (r < 4) against one Q8_K row: per super-block the four rows' integers are
 * reduced together and the scalar dot's float steps run in four lanes, so s[r] equals row r's
 * vec_dot bit for bit. The y block is read once for the four rows. gl-matmul.c uses it for
 * short rows only (MM_K_DOT4_ROW_BYTES): from DRAM, four long rows read slower than one, and
 * software prefetch (of the next four rows, or 1 KiB ahead in each) did not change that. */
static inline __attribute__((always_inline)) void
qk_vec_dot4_q45_K_avx2(int n, float *s, const void *vx, size_t bx, const void *vy, bool q5) {
    const size_t bsize = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const block_q8_K *y = vy;
    __m128 acc = _mm_setzero_ps();
    for (int b = 0; b < n / GL_QK_K; b++) {
        __m256i iv[4];
        __m128i mv[4];
        uint32_t dw[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const uint8_t *xb = (const uint8_t *)vx + (size_t)r * bx + (size_t)b * bsize;
            iv[r] = qk_avx2_q45_K_isum(xb, &y[b], &mv[r], q5);
            memcpy(&dw[r], xb, sizeof dw[r]); /* d, dmin */
        }
        const __m128i isum = qk_avx2_sum4(iv[0], iv[1], iv[2], iv[3]);
        const __m128i msum = qk_sse_sum4(mv[0], mv[1], mv[2], mv[3]);
        const __m256 dd = _mm256_cvtph_ps(_mm_setr_epi32((int)dw[0], (int)dw[1], (int)dw[2], (int)dw[3]));
        const __m128 lo = _mm256_castps256_ps128(dd), hi = _mm256_extractf128_ps(dd, 1);
        const __m128 d4 = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 m4 = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 t = _mm_sub_ps(_mm_mul_ps(d4, _mm_cvtepi32_ps(isum)), _mm_mul_ps(m4, _mm_cvtepi32_ps(msum)));
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(y[b].d), t));
    }
    _mm_storeu_ps(s, acc);
}

static void qk_vec_dot4_q4_K_avx2(int n, float *s, const void *vx, size_t bx, const void *vy) {
    qk_vec_dot4_q45_K_avx2(n, s, vx, bx, vy, false);
}
#endif /* !GL_K_NO_DOT4 */
#endif /* GL_AVX2 */

#if defined(GL_NEON)
/* Sum of products of 16 int8 pairs, as int32 (dotprod instruction where available). */
static inline int32_t qk_neon_dot16(int8x16_t a, int8x16_t b) {
#if defined(GL_NEON_DOTPROD)
    return vaddvq_s32(vdotq_s32(vdupq_n_s32(0), a, b));
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vaddvq_s32(vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

/* Codes of one 32-element sub-block (c0, c1 hold elements 0-15 and 16-31) · y. */
static inline int32_t qk_neon_dot32(uint8x16_t c0, uint8x16_t c1, const int8_t *y) {
    return qk_neon_dot16(vreinterpretq_s8_u8(c0), vld1q_s8(y)) +
           qk_neon_dot16(vreinterpretq_s8_u8(c1), vld1q_s8(y + 16));
}

static void qk_vec_dot_q4_K_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * c), q1 = vld1q_u8(x[b].qs + 32 * c + 16);
            int sc, m;
            qk_get_scale_min(2 * c, x[b].scales, &sc, &m);
            isum += sc * qk_neon_dot32(vandq_u8(q0, m4), vandq_u8(q1, m4), y[b].qs + 64 * c);
            msum += m * qk_bsum32(&y[b], 2 * c);
            qk_get_scale_min(2 * c + 1, x[b].scales, &sc, &m);
            isum += sc * qk_neon_dot32(vshrq_n_u8(q0, 4), vshrq_n_u8(q1, 4), y[b].qs + 64 * c + 32);
            msum += m * qk_bsum32(&y[b], 2 * c + 1);
        }
        sum += qk_block_result(y[b].d, GL_FP16_FAST(x[b].d), isum, GL_FP16_FAST(x[b].dmin),
                               msum);
    }
    *s = sum;
}

static void qk_vec_dot_q5_K_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        const uint8x16_t h0 = vld1q_u8(x[b].qh), h1 = vld1q_u8(x[b].qh + 16);
        int32_t isum = 0, msum = 0;
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * c), q1 = vld1q_u8(x[b].qs + 32 * c + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1 << (2 * c)));
            const uint8x16_t bh = vdupq_n_u8((uint8_t)(1 << (2 * c + 1)));
            /* vtstq: all ones where the bit is set; keep 0x10 there */
            const uint8x16_t l0 = vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(h0, bl), b4));
            const uint8x16_t l1 = vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(h1, bl), b4));
            const uint8x16_t u0 = vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, bh), b4));
            const uint8x16_t u1 = vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, bh), b4));
            int sc, m;
            qk_get_scale_min(2 * c, x[b].scales, &sc, &m);
            isum += sc * qk_neon_dot32(l0, l1, y[b].qs + 64 * c);
            msum += m * qk_bsum32(&y[b], 2 * c);
            qk_get_scale_min(2 * c + 1, x[b].scales, &sc, &m);
            isum += sc * qk_neon_dot32(u0, u1, y[b].qs + 64 * c + 32);
            msum += m * qk_bsum32(&y[b], 2 * c + 1);
        }
        sum += qk_block_result(y[b].d, GL_FP16_FAST(x[b].d), isum, GL_FP16_FAST(x[b].dmin),
                               msum);
    }
    *s = sum;
}

static void qk_vec_dot_q6_K_neon(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            for (int k = 0; k < 2; k++) { /* elements l = 16k .. 16k+15 of each quarter */
                const uint8x16_t a = vld1q_u8(ql + 16 * k), c = vld1q_u8(ql + 32 + 16 * k);
                const uint8x16_t hb = vld1q_u8(qh + 16 * k);
                uint8x16_t codes[4];
                codes[0] = vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m2), 4));
                codes[1] = vorrq_u8(vandq_u8(c, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m2), 4));
                codes[2] = vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m2), 4));
                codes[3] = vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                for (int p = 0; p < 4; p++) {
                    const int j = 8 * h + 2 * p + k; /* sub-block of 16 */
                    const int32_t dot = qk_neon_dot16(vreinterpretq_s8_u8(codes[p]),
                                                      vld1q_s8(y[b].qs + 16 * j));
                    isum += x[b].scales[j] * (dot - 32 * y[b].bsums[j]);
                }
            }
        }
        sum += qk_block_result(y[b].d, GL_FP16_FAST(x[b].d), isum, 0.0f, 0);
    }
    *s = sum;
}
#endif /* GL_NEON */

/* ---- dispatch: the best kernel compiled in ---- */
#if defined(QK_GEMM) && defined(GL_AVX2)
static void qk_vec_dot_dec_q2_K(int n, float *s, const void *x, const void *y);
static void qk_vec_dot_dec_q3_K(int n, float *s, const void *x, const void *y);
#endif
void gl_vec_dot_q2_K_q8_K(int n, float *s, const void *x, const void *y) {
#if defined(QK_GEMM) && defined(GL_AVX2)
    qk_vec_dot_dec_q2_K(n, s, x, y);
#else
    qk_vec_dot_q2_K(n, s, x, y, true);
#endif
}
void gl_vec_dot_q3_K_q8_K(int n, float *s, const void *x, const void *y) {
#if defined(QK_GEMM) && defined(GL_AVX2)
    qk_vec_dot_dec_q3_K(n, s, x, y);
#else
    qk_vec_dot_q3_K(n, s, x, y, true);
#endif
}
/* Q4_K..Q6_K: the AVX2 or NEON kernel, else the scalar reference. */
#if defined(GL_AVX2)
#define QK_DOT_IMPL(t) qk_vec_dot_##t##_avx2
#elif defined(GL_NEON)
#define QK_DOT_IMPL(t) qk_vec_dot_##t##_neon
#else
#define QK_DOT_IMPL(t) gl_vec_dot_##t##_q8_K_scalar
#endif
#define QK_DOT_PICK(t) \
    void gl_vec_dot_##t##_q8_K(int n, float *s, const void *x, const void *y) { QK_DOT_IMPL(t)(n, s, x, y); }
QK_DOT_PICK(q4_K)
QK_DOT_PICK(q5_K)
QK_DOT_PICK(q6_K)

/* ------------------------------------------------------------------------------------------
 * Mat-mat kernels (gl_type_gemm_k, in gl_type_gemm's form): QK_GEMM_MR weight rows ×
 * QK_GEMM_NC Q8_K activation rows per call. Each super-block of each weight row is decoded
 * once per call (qk_dec: codes to one unsigned byte each, scales and mins to int16 per 16
 * elements) and then met by every column. Per (row, column, super-block) the kernels form
 * the same two exact integers as the scalar dot (isum = sum sc * code * y, msum = sum mn *
 * bsum; Q3_K and Q6_K fold their code offset into isum as the scalar dots do) and then the
 * same float steps in the same order, yd * (d * isum - dmin * msum) added to a sum that
 * starts at 0: an unsliced product gives exactly the scalar vec_dot's float, in any tile
 * position (test-quants-k checks equality).
 * ---------------------------------------------------------------------------------------- */

#if defined(QK_GEMM)
typedef struct qk_dec {
    _Alignas(32) uint8_t u[GL_QK_K]; /* codes, unsigned: Q2_K 0..3, Q3_K code + 4, ... Q6_K 0..63 */
    _Alignas(32) int16_t sc[16];     /* scale of each 16 elements */
    _Alignas(32) int16_t mn[16];     /* multiplier of each bsum (min, or the folded offset) */
    float d, dmin;                   /* dmin 0 where the offset is folded into isum */
} qk_dec;

typedef void (*qk_dec_fn)(const void *x, qk_dec *o);

/* Q4_K/Q5_K codes: u[64 c + l] = low nibble of qs[32 c + l], u[64 c + 32 + l] its high
 * nibble; with qh, bit 2c (2c + 1) of qh[l] adds 16. */
static void qk_unpack_nibbles_fast(const uint8_t *qs, const uint8_t *qh, uint8_t *u) {
#if defined(GL_AVX2)
    const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
    const __m256i hb = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), m1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), m1), 4));
        }
        _mm256_storeu_si256((__m256i *)(u + 64 * c), lo);
        _mm256_storeu_si256((__m256i *)(u + 64 * c + 32), hi);
    }
#elif defined(GL_NEON)
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m1 = vdupq_n_u8(1);
    for (int half = 0; half < 2; half++) {
        const uint8x16_t hb = qh ? vld1q_u8(qh + 16 * half) : vdupq_n_u8(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q = vld1q_u8(qs + 32 * c + 16 * half);
            const uint8x16_t bl = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * c))), m1);
            const uint8x16_t bh = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * c - 1))), m1);
            vst1q_u8(u + 64 * c + 16 * half, vorrq_u8(vandq_u8(q, m4), vshlq_n_u8(bl, 4)));
            vst1q_u8(u + 64 * c + 32 + 16 * half, vorrq_u8(vshrq_n_u8(q, 4), vshlq_n_u8(bh, 4)));
        }
    }
#else
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            const int hl = qh ? ((qh[l] >> (2 * c)) & 1) << 4 : 0;
            const int hh = qh ? ((qh[l] >> (2 * c + 1)) & 1) << 4 : 0;
            u[64 * c + l] = (uint8_t)((qs[32 * c + l] & 0xF) | hl);
            u[64 * c + 32 + l] = (uint8_t)((qs[32 * c + l] >> 4) | hh);
        }
    }
#endif
}

/* Q6_K codes 0..63 (qk_q6_code of every element). */
static void qk_unpack_q6_fast(const block_q6_K *x, uint8_t *u) {
#if defined(GL_AVX2)
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        uint8_t *o = u + 128 * h;
        _mm256_storeu_si256((__m256i *)o, _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                                          _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)));
        _mm256_storeu_si256((__m256i *)(o + 32),
                            _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)));
        _mm256_storeu_si256((__m256i *)(o + 64),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)));
        _mm256_storeu_si256((__m256i *)(o + 96),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)));
    }
#elif defined(GL_NEON)
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        for (int k = 0; k < 2; k++) {
            const uint8x16_t a = vld1q_u8(ql + 16 * k), c = vld1q_u8(ql + 32 + 16 * k);
            const uint8x16_t hb = vld1q_u8(qh + 16 * k);
            uint8_t *o = u + 128 * h + 16 * k;
            vst1q_u8(o, vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m2), 4)));
            vst1q_u8(o + 32, vorrq_u8(vandq_u8(c, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m2), 4)));
            vst1q_u8(o + 64, vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m2), 4)));
            vst1q_u8(o + 96, vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)));
        }
    }
#else
    for (int e = 0; e < GL_QK_K; e++) u[e] = (uint8_t)qk_q6_code(x, e);
#endif
}

/* The scales and mins go out as whole vectors in the AVX2 build: the kernels read them back
 * with 32-byte loads, which sixteen 2-byte stores could not forward. */
static void qk_dec_q2_K(const void *vx, qk_dec *o) {
    const block_q2_K *x = vx;
    qk_unpack_2bit_fast(x->qs, NULL, o->u);
#if defined(GL_AVX2)
    const __m128i sb = _mm_loadu_si128((const __m128i *)x->scales), m4 = _mm_set1_epi8(0x0F);
    _mm256_store_si256((__m256i *)o->sc, _mm256_cvtepu8_epi16(_mm_and_si128(sb, m4)));
    _mm256_store_si256((__m256i *)o->mn, _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), m4)));
#else
    for (int j = 0; j < 16; j++) {
        o->sc[j] = (int16_t)(x->scales[j] & 0xF);
        o->mn[j] = (int16_t)(x->scales[j] >> 4);
    }
#endif
    o->d = GL_FP16_FAST(x->d);
    o->dmin = GL_FP16_FAST(x->dmin);
}

/* u = code + 4: isum = sum sc (u y) - sum 4 sc bsum (qk_q3_block) */
static void qk_dec_q3_K(const void *vx, qk_dec *o) {
    const block_q3_K *x = vx;
    qk_unpack_2bit_fast(x->qs, x->hmask, o->u);
#if defined(GL_AVX2)
    uint32_t v[4];
    qk_q3_words(x->scales, v);
    const __m256i sc = _mm256_sub_epi16(
        _mm256_cvtepu8_epi16(_mm_setr_epi32((int)v[0], (int)v[1], (int)v[2], (int)v[3])), _mm256_set1_epi16(32));
    _mm256_store_si256((__m256i *)o->sc, sc);
    _mm256_store_si256((__m256i *)o->mn, _mm256_slli_epi16(sc, 2));
#else
    int32_t sc[16];
    qk_q3_scales16(x->scales, sc);
    for (int j = 0; j < 16; j++) {
        o->sc[j] = (int16_t)sc[j];
        o->mn[j] = (int16_t)(4 * sc[j]);
    }
#endif
    o->d = GL_FP16_FAST(x->d);
    o->dmin = 0.0f;
}

/* Q4_K/Q5_K: the scale and min of each 32 elements, once per 16 */
static void qk_dec_scales8(const uint8_t *scales, qk_dec *o) {
#if defined(GL_AVX2)
    /* [sc0..sc7 | m0..m7] as bytes, each doubled for the 16-element form */
    const __m128i sm = qk_avx2_k_scale_bytes(scales);
    _mm256_store_si256((__m256i *)o->sc, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sm, sm)));
    _mm256_store_si256((__m256i *)o->mn, _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)));
    return;
#endif
    for (int j = 0; j < 8; j++) {
        int sc, m;
        qk_get_scale_min(j, scales, &sc, &m);
        o->sc[2 * j] = o->sc[2 * j + 1] = (int16_t)sc;
        o->mn[2 * j] = o->mn[2 * j + 1] = (int16_t)m;
    }
}

static void qk_dec_q4_K(const void *vx, qk_dec *o) {
    const block_q4_K *x = vx;
    qk_unpack_nibbles_fast(x->qs, NULL, o->u);
    qk_dec_scales8(x->scales, o);
    o->d = GL_FP16_FAST(x->d);
    o->dmin = GL_FP16_FAST(x->dmin);
}

static void qk_dec_q5_K(const void *vx, qk_dec *o) {
    const block_q5_K *x = vx;
    qk_unpack_nibbles_fast(x->qs, x->qh, o->u);
    qk_dec_scales8(x->scales, o);
    o->d = GL_FP16_FAST(x->d);
    o->dmin = GL_FP16_FAST(x->dmin);
}

/* codes stored + 32: isum = sum sc (c y) - sum 32 sc bsum (the scalar Q6_K dot) */
static void qk_dec_q6_K(const void *vx, qk_dec *o) {
    const block_q6_K *x = vx;
    qk_unpack_q6_fast(x, o->u);
#if defined(GL_AVX2)
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    _mm256_store_si256((__m256i *)o->sc, sc);
    _mm256_store_si256((__m256i *)o->mn, _mm256_slli_epi16(sc, 5));
#else
    for (int j = 0; j < 16; j++) {
        o->sc[j] = x->scales[j];
        o->mn[j] = (int16_t)(32 * x->scales[j]);
    }
#endif
    o->d = GL_FP16_FAST(x->d);
    o->dmin = 0.0f;
}

/* Stores (or adds, for the later k-slices) one result. */
static inline void qk_gemm_put(float *s, bool add, float v) { *s = add ? *s + v : v; }

#define QK_GEMM_MR 4
#if defined(GL_AVX2) && defined(__AVX512VL__)
#define QK_GEMM_NC 8
#else
#define QK_GEMM_NC 4
#endif
_Static_assert(QK_GEMM_NC <= GL_GEMM_NC_MAX, "gemm tile wider than mul_mat allows");

#if defined(GL_AVX2)
static inline __attribute__((always_inline)) void
qk_gemm_avx2(qk_dec_fn decode, size_t bsize, bool fold, int n, int nr, int nc, const void *vx, size_t bx,
             const void *const *vy, float *s, size_t bs, bool add) {
    qk_dec dec[QK_GEMM_MR];
    __m256i scv[QK_GEMM_MR][8]; /* per 32 elements: sc of the first 16 (low half), next 16 */
    __m128 acc[QK_GEMM_NC];
    for (int c = 0; c < QK_GEMM_NC; c++) acc[c] = _mm_setzero_ps();
    /* int16 lanes [s0..s7 | s8..s15] -> [s0 s2 .. s14 | s1 s3 .. s15]: then one in-lane
     * shuffle per 32 elements puts s(2k) in the low half and s(2k+1) in the high half */
    const __m256i even_odd = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                              0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const int nb = n / GL_QK_K;
    for (int b = 0; b < nb; b++) {
        for (int r = 0; r < QK_GEMM_MR; r++) {
            /* rows past nr repeat the last one; their results are dropped */
            decode((const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx + (size_t)b * bsize, &dec[r]);
            const __m256i v = _mm256_permute4x64_epi64(
                _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)dec[r].sc), even_odd), 0xD8);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                scv[r][k] = _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(0x0100 + 0x0202 * k)));
            }
        }
        const __m128 d4 = _mm_setr_ps(dec[0].d, dec[1].d, dec[2].d, dec[3].d);
        const __m128 m4 = _mm_setr_ps(dec[0].dmin, dec[1].dmin, dec[2].dmin, dec[3].dmin);
        for (int c = 0; c < nc; c++) {
            const block_q8_K *yb = (const block_q8_K *)vy[c] + b;
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(yb->qs + 32 * k));
                a0 = qk_avx2_dp16(a0, _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(dec[0].u + 32 * k)), yv), scv[0][k]);
                a1 = qk_avx2_dp16(a1, _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(dec[1].u + 32 * k)), yv), scv[1][k]);
                a2 = qk_avx2_dp16(a2, _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(dec[2].u + 32 * k)), yv), scv[2][k]);
                a3 = qk_avx2_dp16(a3, _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(dec[3].u + 32 * k)), yv), scv[3][k]);
            }
            const __m256i bsv = _mm256_loadu_si256((const __m256i *)yb->bsums);
            const __m128i isum = qk_avx2_sum4(a0, a1, a2, a3);
            const __m128i msum = qk_avx2_sum4(_mm256_madd_epi16(_mm256_load_si256((const __m256i *)dec[0].mn), bsv),
                                              _mm256_madd_epi16(_mm256_load_si256((const __m256i *)dec[1].mn), bsv),
                                              _mm256_madd_epi16(_mm256_load_si256((const __m256i *)dec[2].mn), bsv),
                                              _mm256_madd_epi16(_mm256_load_si256((const __m256i *)dec[3].mn), bsv));
            /* a folded offset (dmin is 0 then): isum - msum, and the min term 0 * 0 */
            const __m128i iv = fold ? _mm_sub_epi32(isum, msum) : isum;
            const __m128i mv = fold ? _mm_setzero_si128() : msum;
            const __m128 t = _mm_sub_ps(_mm_mul_ps(d4, _mm_cvtepi32_ps(iv)), _mm_mul_ps(m4, _mm_cvtepi32_ps(mv)));
            acc[c] = _mm_add_ps(acc[c], _mm_mul_ps(_mm_set1_ps(yb->d), t));
        }
    }
    for (int c = 0; c < nc; c++) {
        float out[4];
        _mm_storeu_ps(out, acc[c]);
        for (int r = 0; r < nr; r++) qk_gemm_put(s + (size_t)c * bs + r, add, out[r]);
    }
}
#define QK_GEMM_IMPL qk_gemm_avx2

/* One row against one column on the decoded form (the Q2_K/Q3_K dots): the integers and
 * float steps of the scalar dot, as in qk_gemm_avx2. */
static inline __attribute__((always_inline)) void
qk_vec_dot_dec_avx2(qk_dec_fn decode, size_t bsize, bool fold, int n, float *s, const void *vx,
                    const void *vy) {
    const block_q8_K *y = vy;
    const __m256i even_odd = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                              0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    qk_dec dec;
    float sum = 0;
    for (int b = 0; b < n / GL_QK_K; b++) {
        decode((const char *)vx + (size_t)b * bsize, &dec);
        const __m256i v = _mm256_permute4x64_epi64(
            _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)dec.sc), even_odd), 0xD8);
        __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}; /* two chains */
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m256i p = _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(dec.u + 32 * k)),
                                                   _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * k)));
            acc[k & 1] = qk_avx2_dp16(acc[k & 1], p, _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(0x0100 + 0x0202 * k))));
        }
        int32_t isum = qk_avx2_hsum_i32(_mm256_add_epi32(acc[0], acc[1]));
        int32_t msum = qk_avx2_hsum_i32(_mm256_madd_epi16(_mm256_load_si256((const __m256i *)dec.mn),
                                                          _mm256_loadu_si256((const __m256i *)y[b].bsums)));
        if (fold) {
            isum -= msum;
            msum = 0;
        }
        sum += qk_block_result(y[b].d, dec.d, isum, dec.dmin, msum);
    }
    *s = sum;
}

static void qk_vec_dot_dec_q2_K(int n, float *s, const void *x, const void *y) {
    qk_vec_dot_dec_avx2(qk_dec_q2_K, sizeof(block_q2_K), false, n, s, x, y);
}
static void qk_vec_dot_dec_q3_K(int n, float *s, const void *x, const void *y) {
    qk_vec_dot_dec_avx2(qk_dec_q3_K, sizeof(block_q3_K), true, n, s, x, y);
}
#else
static inline __attribute__((always_inline)) void
qk_gemm_neon(qk_dec_fn decode, size_t bsize, bool fold, int n, int nr, int nc, const void *vx, size_t bx,
             const void *const *vy, float *s, size_t bs, bool add) {
    qk_dec dec[QK_GEMM_MR];
    float32x4_t acc[QK_GEMM_NC];
    for (int c = 0; c < QK_GEMM_NC; c++) acc[c] = vdupq_n_f32(0.0f);
    const int nb = n / GL_QK_K;
    for (int b = 0; b < nb; b++) {
        for (int r = 0; r < QK_GEMM_MR; r++) {
            decode((const char *)vx + (size_t)GL_MIN(r, nr - 1) * bx + (size_t)b * bsize, &dec[r]);
        }
        const float dd[4] = {dec[0].d, dec[1].d, dec[2].d, dec[3].d};
        const float dm[4] = {dec[0].dmin, dec[1].dmin, dec[2].dmin, dec[3].dmin};
        const float32x4_t d4 = vld1q_f32(dd), m4 = vld1q_f32(dm);
        for (int c = 0; c < nc; c++) {
            const block_q8_K *yb = (const block_q8_K *)vy[c] + b;
            int32x4_t a[QK_GEMM_MR], m[QK_GEMM_MR];
            for (int r = 0; r < QK_GEMM_MR; r++) a[r] = m[r] = vdupq_n_s32(0);
            for (int j = 0; j < 16; j++) {
                const int8x16_t yv = vld1q_s8(yb->qs + 16 * j);
                for (int r = 0; r < QK_GEMM_MR; r++) {
                    a[r] = vmlaq_n_s32(a[r], qk_neon_dot16x4(vld1q_u8(dec[r].u + 16 * j), yv), dec[r].sc[j]);
                }
            }
            for (int q = 0; q < 4; q++) {
                const int16x4_t bsv = vld1_s16(yb->bsums + 4 * q);
                for (int r = 0; r < QK_GEMM_MR; r++) m[r] = vmlal_s16(m[r], vld1_s16(dec[r].mn + 4 * q), bsv);
            }
            int32_t is[4], ms[4];
            for (int r = 0; r < QK_GEMM_MR; r++) {
                is[r] = vaddvq_s32(a[r]);
                ms[r] = vaddvq_s32(m[r]);
                if (fold) { /* a folded offset (dmin is 0 then): isum - msum, the min term 0 * 0 */
                    is[r] -= ms[r];
                    ms[r] = 0;
                }
            }
            const float32x4_t t = vsubq_f32(vmulq_f32(d4, vcvtq_f32_s32(vld1q_s32(is))),
                                            vmulq_f32(m4, vcvtq_f32_s32(vld1q_s32(ms))));
            acc[c] = vaddq_f32(acc[c], vmulq_f32(vdupq_n_f32(yb->d), t));
        }
    }
    for (int c = 0; c < nc; c++) {
        float out[4];
        vst1q_f32(out, acc[c]);
        for (int r = 0; r < nr; r++) qk_gemm_put(s + (size_t)c * bs + r, add, out[r]);
    }
}
#define QK_GEMM_IMPL qk_gemm_neon
#endif

#define QK_GEMM_DEF(t, fold)                                                                    \
    static void qk_gemm_##t(int n, int nr, int nc, const void *x, size_t bx,                    \
                            const void *const *y, float *s, size_t bs, bool add) {              \
        QK_GEMM_IMPL(qk_dec_##t, sizeof(block_##t), fold, n, nr, nc, x, bx, y, s, bs, add);      \
    }
QK_GEMM_DEF(q2_K, false)
QK_GEMM_DEF(q3_K, true)
QK_GEMM_DEF(q4_K, false)
QK_GEMM_DEF(q5_K, false)
QK_GEMM_DEF(q6_K, true)
#undef QK_GEMM_DEF
#endif /* QK_GEMM */

gl_gemm_kernel gl_type_gemm_k(gl_type type) {
    GL_KDISPATCH(type_gemm_k, type);
    gl_gemm_kernel k = {0};
#if defined(QK_GEMM)
    gl_gemm_fn fn = NULL;
    switch (type) {
    case GL_TYPE_Q2_K: fn = qk_gemm_q2_K; break;
    case GL_TYPE_Q3_K: fn = qk_gemm_q3_K; break;
    case GL_TYPE_Q4_K: fn = qk_gemm_q4_K; break;
    case GL_TYPE_Q5_K: fn = qk_gemm_q5_K; break;
    case GL_TYPE_Q6_K: fn = qk_gemm_q6_K; break;
    default: break;
    }
    if (fn) k = (gl_gemm_kernel){fn, QK_GEMM_MR, QK_GEMM_NC, GL_TYPE_Q8_K, false, NULL, 0, false};
#endif
    (void)type;
    return k;
}

gl_vec_dot4_fn gl_type_vec_dot4_k(gl_type type) {
    GL_KDISPATCH(type_vec_dot4_k, type);
#if defined(GL_AVX2) && !defined(GL_K_NO_DOT4)
    if (type == GL_TYPE_Q4_K) return qk_vec_dot4_q4_K_avx2;
#endif
    (void)type;
    return NULL;
}
