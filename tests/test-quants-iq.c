/*
 * test-quants-iq — IQ4_NL (Q8_0 activations) and IQ4_XS (Q8_K activations): quantizer bytes,
 * block layout, round trips, dots, traits and mul_mat.
 *
 * Tolerances (stated once, used below):
 *   quantizers: byte-exact against scripts/quant_iq_ref.py (tests/quant_iq_golden.h), an
 *     independent numpy implementation of ggml's quantize_iq4_nl / quantize_iq4_xs;
 *   layout: a hand-made block dequantizes to d * table[code] (IQ4_XS: d * (ls - 32) * table)
 *     exactly, element order as ggml's (low nibbles 0-15, high 16-31);
 *   round trip on N(0,1) data: rms(x - x') / rms(x) <= 0.09 for both
 *     (measured 0.075-0.078; Q4_0's bound in test-quants is 0.15);
 *   vec_dot vs dequantize-then-dot in double: |s - ref| <= 2e-5 * sum |x_i y_i|;
 *   SIMD vs scalar vec_dot: IQ4_XS equal (same integer per super-block, same float steps);
 *     IQ4_NL within 1e-6 * sum |x_i y_i| (the SIMD kernels keep per-lane float sums);
 *   mul_mat of an IQ4 weight (1 and 2 threads) vs its rows' vec_dot: 2e-5 * sum |x_i y_i|;
 *     IQ4_XS equal: its gemm tile (M > 1, rows under 8 KiB: one k-slice) forms the scalar
 *     dot's integer and float steps, like its SIMD vec_dot.
 */
#include "tf.h"

#include "ggml-lite.h"
#include "gl-quants.h"
#include "quant_iq_golden.h"
#include "tf-quants.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct iq_type {
    const char *name;
    gl_type type;
    const uint8_t *golden;
    size_t golden_size;
    double rel_rms;
} iq_type;

static const iq_type iq_types[] = {
    {"iq4_nl", GL_TYPE_IQ4_NL, qig_iq4_nl, sizeof qig_iq4_nl, 0.09},
    {"iq4_xs", GL_TYPE_IQ4_XS, qig_iq4_xs, sizeof qig_iq4_xs, 0.09},
};
#define IQ_N 2

static const int iq_table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

TF_TEST(reference_quantizers_match_numpy) {
    static float x[QIG_N];
    static uint8_t q[QIG_N];
    tfq_golden_input(qig_input, x, QIG_N);
    for (int t = 0; t < IQ_N; t++) {
        const gl_type_traits *tt = gl_type_get(iq_types[t].type);
        const size_t nbytes = gl_row_size(iq_types[t].type, QIG_N);
        TF_CHECK(nbytes == iq_types[t].golden_size, "%s: %zu bytes vs golden %zu", iq_types[t].name,
                 nbytes, iq_types[t].golden_size);
        memset(q, 0xAA, sizeof q);
        TF_CHECK(gl_quantize_rows(iq_types[t].type, x, q, 1, QIG_N) == nbytes);
        tfq_check_golden(iq_types[t].name, q, iq_types[t].golden, nbytes, tt->type_size);
    }
}

TF_TEST(block_layout) {
    block_iq4_nl nl = {.d = gl_fp32_to_fp16(0.5f)};
    for (int j = 0; j < 16; j++) nl.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[256];
    gl_dequantize_row_iq4_nl(&nl, y, 32);
    for (int j = 0; j < 16; j++) {
        TF_CHECK(y[j] == 0.5f * iq_table[j], "nl element %d: %g", j, y[j]);
        TF_CHECK(y[j + 16] == 0.5f * iq_table[15 - j], "nl element %d: %g", j + 16, y[j + 16]);
    }
    block_iq4_xs xs;
    memset(&xs, 0, sizeof xs);
    xs.d = gl_fp32_to_fp16(0.25f);
    const int ls[8] = {0, 1, 31, 32, 33, 47, 63, 40}; /* stored values (scale ls - 32) */
    for (int ib = 0; ib < 8; ib++) {
        xs.scales_l[ib / 2] |= (uint8_t)((ls[ib] & 15) << (4 * (ib % 2)));
        xs.scales_h |= (uint16_t)((ls[ib] >> 4) << (2 * ib));
    }
    for (int j = 0; j < 128; j++) xs.qs[j] = (uint8_t)((j % 16) | (((j * 7) % 16) << 4));
    gl_dequantize_row_iq4_xs(&xs, y, 256);
    for (int ib = 0; ib < 8; ib++) {
        const float dl = 0.25f * (float)(ls[ib] - 32);
        for (int j = 0; j < 16; j++) {
            const int b = 16 * ib + j;
            TF_CHECK(y[32 * ib + j] == dl * iq_table[b % 16], "xs %d.%d", ib, j);
            TF_CHECK(y[32 * ib + 16 + j] == dl * iq_table[(b * 7) % 16], "xs %d.%d", ib, j + 16);
        }
    }
}

TF_TEST(roundtrip_error_bounds) {
    tf_rng rng = {17};
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N];
    for (int i = 0; i < N; i++) x[i] = tf_rand_normal(&rng) * (i < N / 2 ? 1.0f : 0.01f);
    for (int t = 0; t < IQ_N; t++) {
        const gl_type_traits *tt = gl_type_get(iq_types[t].type);
        tt->from_float_ref(x, q, N);
        tt->to_float(q, y, N);
        for (int h = 0; h < 2; h++) { /* each scale separately */
            double e2 = 0, x2 = 0;
            for (int i = h * N / 2; i < (h + 1) * N / 2; i++) {
                e2 += (double)(x[i] - y[i]) * (x[i] - y[i]);
                x2 += (double)x[i] * x[i];
            }
            const double rel = sqrt(e2 / x2);
            TF_CHECK(rel <= iq_types[t].rel_rms, "%s half %d: relative rms %.4f > %.2f", iq_types[t].name,
                     h, rel, iq_types[t].rel_rms);
            printf("    %s half %d: relative rms error %.4f\n", iq_types[t].name, h, rel);
        }
    }
}

/* s vs the dequantized dot (double), SIMD vs scalar, for rows of n elements. */
static void iq_check_dot(const iq_type *it, const float *x, const float *a, int n) {
    const gl_type_traits *tt = gl_type_get(it->type);
    const gl_type_traits *yt = gl_type_get(tt->vec_dot_type);
    uint8_t *wq = malloc(gl_row_size(it->type, n)), *aq = malloc(gl_row_size(tt->vec_dot_type, n));
    float *wd = malloc(sizeof(float) * (size_t)n), *ad = malloc(sizeof(float) * (size_t)n);
    tt->from_float_ref(x, wq, n);
    yt->from_float(a, aq, n);
    tt->to_float(wq, wd, n);
    yt->to_float(aq, ad, n);
    double mag;
    const double ref = tfq_dot_ref(wd, ad, n, &mag);
    float s = 0, s_scalar = 0;
    tt->vec_dot(n, &s, wq, aq);
    tt->vec_dot_scalar(n, &s_scalar, wq, aq);
    TF_CHECK(fabs(s_scalar - ref) <= 2e-5 * mag + 1e-30, "%s n=%d: scalar %.9g vs %.9g", it->name, n,
             s_scalar, ref);
    if (it->type == GL_TYPE_IQ4_XS)
        TF_CHECK(s == s_scalar, "%s n=%d: simd %.9g vs scalar %.9g", it->name, n, s, s_scalar);
    else
        TF_CHECK(fabs(s - s_scalar) <= 1e-6 * mag + 1e-30, "%s n=%d: simd %.9g vs scalar %.9g", it->name,
                 n, s, s_scalar);
    free(wq);
    free(aq);
    free(wd);
    free(ad);
}

TF_TEST(vec_dot_vs_dequantized_and_scalar) {
    tf_rng rng = {23};
    enum { NMAX = 2048 };
    static float x[NMAX], a[NMAX];
    for (int i = 0; i < NMAX; i++) {
        x[i] = tf_rand_normal(&rng);
        a[i] = tf_rand_normal(&rng) * 3.0f;
    }
    for (int t = 0; t < IQ_N; t++) {
        const int blk = (int)gl_type_get(iq_types[t].type)->blck_size;
        for (int n = blk; n <= NMAX; n += blk * (n < 8 * blk ? 1 : 3)) iq_check_dot(&iq_types[t], x, a, n);
    }
}

/* Random codes and scales (every table entry, extreme 6-bit scales) against random int8. */
TF_TEST(vec_dot_random_blocks) {
    tf_rng rng = {29};
    enum { NB = 16 };
    static block_iq4_xs xs[NB];
    static block_q8_K yk[NB];
    static block_iq4_nl nl[NB * 8];
    static block_q8_0 y0[NB * 8];
    for (int i = 0; i < NB; i++) {
        xs[i].d = gl_fp32_to_fp16(tf_rand_uniform(&rng, -0.5f, 0.5f));
        xs[i].scales_h = (uint16_t)tf_rand_u64(&rng);
        for (int j = 0; j < 4; j++) xs[i].scales_l[j] = (uint8_t)tf_rand_u64(&rng);
        for (int j = 0; j < 128; j++) xs[i].qs[j] = (uint8_t)tf_rand_u64(&rng);
        yk[i].d = tf_rand_uniform(&rng, 0.0f, 1.0f);
        for (int j = 0; j < 256; j++) yk[i].qs[j] = (int8_t)(tf_rand_int(&rng, -127, 127));
    }
    for (int i = 0; i < NB * 8; i++) {
        nl[i].d = gl_fp32_to_fp16(tf_rand_uniform(&rng, -0.5f, 0.5f));
        y0[i].d = gl_fp32_to_fp16(tf_rand_uniform(&rng, 0.0f, 1.0f));
        for (int j = 0; j < 16; j++) nl[i].qs[j] = (uint8_t)tf_rand_u64(&rng);
        for (int j = 0; j < 32; j++) y0[i].qs[j] = (int8_t)(i % 3 == 0 ? (j % 2 ? 127 : -127) : tf_rand_int(&rng, -127, 127));
    }
    float s = 0, r = 0;
    gl_vec_dot_iq4_xs_q8_K(NB * 256, &s, xs, yk);
    gl_vec_dot_iq4_xs_q8_K_scalar(NB * 256, &r, xs, yk);
    TF_CHECK(s == r, "iq4_xs: %.9g vs %.9g", s, r);
    /* the scalar dot against a plain double sum of the dequantized products */
    static float wd[NB * 256], yd[NB * 256];
    gl_dequantize_row_iq4_xs(xs, wd, NB * 256);
    gl_dequantize_row_q8_K(yk, yd, NB * 256);
    double mag;
    double ref = tfq_dot_ref(wd, yd, NB * 256, &mag);
    TF_CHECK(fabs(r - ref) <= 2e-5 * mag, "iq4_xs scalar %.9g vs %.9g", r, ref);
    gl_vec_dot_iq4_nl_q8_0(NB * 256, &s, nl, y0);
    gl_vec_dot_iq4_nl_q8_0_scalar(NB * 256, &r, nl, y0);
    gl_dequantize_row_iq4_nl(nl, wd, NB * 256);
    gl_dequantize_row_q8_0(y0, yd, NB * 256);
    ref = tfq_dot_ref(wd, yd, NB * 256, &mag);
    TF_CHECK(fabs(r - ref) <= 2e-5 * mag, "iq4_nl scalar %.9g vs %.9g", r, ref);
    TF_CHECK(fabs(s - r) <= 1e-6 * mag, "iq4_nl simd %.9g vs scalar %.9g", s, r);
}

TF_TEST(traits_iq_types) {
    for (int t = 0; t < IQ_N; t++) {
        const gl_type_traits *tt = gl_type_get(iq_types[t].type);
        TF_CHECK(tt->known && tt->supported && tt->is_quantized && tt->vec_dot && tt->vec_dot_scalar &&
                 tt->to_float && tt->from_float_ref, "%s traits", iq_types[t].name);
        TF_CHECK(gl_type_from_name(iq_types[t].name) == (int)iq_types[t].type, "%s by name", iq_types[t].name);
    }
    TF_CHECK(gl_type_get(GL_TYPE_IQ4_NL)->vec_dot_type == GL_TYPE_Q8_0 &&
             gl_type_get(GL_TYPE_IQ4_XS)->vec_dot_type == GL_TYPE_Q8_K);
    TF_CHECK(gl_row_size(GL_TYPE_IQ4_NL, 64) == 36 && gl_row_size(GL_TYPE_IQ4_XS, 512) == 272);
    TF_CHECK(gl_row_size(GL_TYPE_IQ4_XS, 32) == 0, "not a super-block multiple");
}

TF_TEST(mul_mat_iq_weights) {
    tf_rng rng = {31};
    enum { K = 512, NR = 13, M = 5 };
    static float w[K * NR], x[K * M];
    for (int i = 0; i < K * NR; i++) w[i] = tf_rand_normal(&rng);
    for (int i = 0; i < K * M; i++) x[i] = tf_rand_normal(&rng);
    for (int t = 0; t < IQ_N; t++) {
        const gl_type ty = iq_types[t].type;
        const gl_type_traits *tt = gl_type_get(ty), *yt = gl_type_get(tt->vec_dot_type);
        const size_t row = gl_row_size(ty, K);
        uint8_t *wq = malloc(row * NR), *xq = malloc(gl_row_size(tt->vec_dot_type, K));
        gl_quantize_rows(ty, w, wq, NR, K);
        for (int nth = 1; nth <= 2; nth++) {
            float *y = tfq_mul_mat(ty, wq, K, NR, x, M, nth);
            if (!y) continue;
            double worst = 0;
            for (int j = 0; j < M; j++) {
                yt->from_float(x + j * K, xq, K);
                for (int i = 0; i < NR; i++) {
                    float s;
                    tt->vec_dot(K, &s, wq + i * row, xq);
                    float wd[K];
                    tt->to_float(wq + i * row, wd, K);
                    double mag = 0;
                    for (int e = 0; e < K; e++) mag += fabs((double)wd[e] * x[j * K + e]);
                    const double err = fabs(y[j * NR + i] - s);
                    TF_CHECK(err <= 2e-5 * mag, "%s %d threads (%d,%d): %.9g vs %.9g", iq_types[t].name,
                             nth, i, j, y[j * NR + i], s);
                    TF_CHECK(ty != GL_TYPE_IQ4_XS || y[j * NR + i] == s, "iq4_xs %d threads (%d,%d): %.9g vs %.9g",
                             nth, i, j, y[j * NR + i], s);
                    if (err / mag > worst) worst = err / mag;
                }
            }
            printf("    %s mul_mat %d thread(s): worst |y - dot| / sum|w x| = %.2e\n", iq_types[t].name, nth, worst);
            free(y);
        }
        free(wq);
        free(xq);
    }
}

TF_MAIN
