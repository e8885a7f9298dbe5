/*
 * test-quants-k — the K-quants (Q2_K..Q6_K weights, Q8_K activations): reference quantizer
 * bytes, round trips, dots, traits, mul_mat and a GGUF file of K-quant tensors.
 *
 * Tolerances (stated once, used below):
 *   reference quantizers: byte-exact against scripts/quant_k_ref.py (tests/quant_k_golden.h);
 *   round trip on N(0,1) data, rms(x - x') / rms(x) at most: Q2_K 0.40, Q3_K 0.22, Q4_K 0.11,
 *     Q5_K 0.055, Q6_K 0.028, Q8_K 0.006 (measured about 10-20% below these), and per element
 *     |x - x'| <= 0.5 * step + 2^-8 |x| where the step is the sub-block's dequantized scale
 *     (Q6_K/Q8_K only: the asymmetric types may clamp a code to the end of their range);
 *   vec_dot vs dequantize-then-dot in double: |s - ref| <= 2e-5 * sum |x_i y_i|;
 *   SIMD vec_dot vs scalar vec_dot: equal (both scale the same exact per-block integers);
 *   mul_mat of a K-quant weight vs the dots of its rows: 2e-5 * sum |x_i y_i|, and with one
 *     k-slice (row under 8 KiB) equal to the scalar vec_dot (the gemm kernels form the same
 *     integers and float steps); 1 and 2 threads give the same bits;
 *   gemm kernels (gl_type_gemm) called directly, every tile size nr <= mr, nc <= nc_max, store
 *     and add, a call split along k: equal to the scalar dots (and their sum for the split);
 *     the 4-row mat-vec kernel (gl_type_vec_dot4_k: Q4_K with AVX2) equal to them too.
 */
#include "tf.h"

#include "ggml-lite.h"
#include "gl-quants.h"
#include "quant_k_golden.h"
#include "tf-quants.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef void (*kq_quant_fn)(const float *, void *, int64_t);
typedef void (*kq_deq_fn)(const void *, float *, int64_t);
typedef void (*kq_dot_fn)(int, float *, const void *, const void *);

typedef struct kq_type {
    const char *name;
    gl_type type;
    size_t bytes;
    kq_quant_fn quant;
    kq_deq_fn deq;
    kq_dot_fn dot, dot_scalar;
    const uint8_t *golden;
    double rel_rms;
} kq_type;

static const kq_type kq_types[] = {
    {"q2_K", GL_TYPE_Q2_K, sizeof(block_q2_K), gl_quantize_row_q2_K_ref, gl_dequantize_row_q2_K,
     gl_vec_dot_q2_K_q8_K, gl_vec_dot_q2_K_q8_K_scalar, qkg_q2_K, 0.40},
    {"q3_K", GL_TYPE_Q3_K, sizeof(block_q3_K), gl_quantize_row_q3_K_ref, gl_dequantize_row_q3_K,
     gl_vec_dot_q3_K_q8_K, gl_vec_dot_q3_K_q8_K_scalar, qkg_q3_K, 0.22},
    {"q4_K", GL_TYPE_Q4_K, sizeof(block_q4_K), gl_quantize_row_q4_K_ref, gl_dequantize_row_q4_K,
     gl_vec_dot_q4_K_q8_K, gl_vec_dot_q4_K_q8_K_scalar, qkg_q4_K, 0.11},
    {"q5_K", GL_TYPE_Q5_K, sizeof(block_q5_K), gl_quantize_row_q5_K_ref, gl_dequantize_row_q5_K,
     gl_vec_dot_q5_K_q8_K, gl_vec_dot_q5_K_q8_K_scalar, qkg_q5_K, 0.055},
    {"q6_K", GL_TYPE_Q6_K, sizeof(block_q6_K), gl_quantize_row_q6_K_ref, gl_dequantize_row_q6_K,
     gl_vec_dot_q6_K_q8_K, gl_vec_dot_q6_K_q8_K_scalar, qkg_q6_K, 0.028},
};
#define KQ_N (int)(sizeof kq_types / sizeof kq_types[0])

TF_TEST(block_sizes) {
    TF_CHECK(sizeof(block_q2_K) == 84 && sizeof(block_q3_K) == 110 && sizeof(block_q4_K) == 144 &&
             sizeof(block_q5_K) == 176 && sizeof(block_q6_K) == 210 && sizeof(block_q8_K) == 292);
}

TF_TEST(reference_quantizers_match_numpy) {
    static float x[QKG_N];
    static uint8_t q[QKG_N * 2];
    tfq_golden_input(qkg_input, x, QKG_N);
    for (int t = 0; t < KQ_N; t++) {
        const size_t nbytes = kq_types[t].bytes * (QKG_N / GL_QK_K);
        memset(q, 0xAA, sizeof q);
        kq_types[t].quant(x, q, QKG_N);
        tfq_check_golden(kq_types[t].name, q, kq_types[t].golden, nbytes, kq_types[t].bytes);
    }
    gl_quantize_row_q8_K_ref(x, q, QKG_N);
    tfq_check_golden("q8_K", q, qkg_q8_K, sizeof qkg_q8_K, sizeof(block_q8_K));
    gl_quantize_row_q8_K(x, q, QKG_N);
    tfq_check_golden("fast q8_K", q, qkg_q8_K, sizeof qkg_q8_K, sizeof(block_q8_K));
}

/* Dequantized step (code 1 - code 0) of sub-block j (of 16 or 32) for the symmetric types. */
static double kq_step(const kq_type *t, const void *blk, int e) {
    if (t->type == GL_TYPE_Q6_K) {
        const block_q6_K *b = blk;
        return fabs((double)gl_fp16_to_fp32(b->d) * b->scales[e / 16]);
    }
    return -1; /* no per-element bound */
}

TF_TEST(roundtrip_error_bounds) {
    tf_rng rng = {5};
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    for (int i = 0; i < N; i++) x[i] = tf_rand_normal(&rng) * (i < N / 2 ? 1.0f : 0.01f);
    for (int t = 0; t < KQ_N; t++) {
        kq_types[t].quant(x, q, N);
        kq_types[t].deq(q, y, N);
        double se = 0, sx = 0;
        int bad = 0;
        for (int i = 0; i < N; i++) {
            const double e = fabs((double)x[i] - y[i]);
            se += e * e;
            sx += (double)x[i] * x[i];
            const double step = kq_step(&kq_types[t], q + (i / GL_QK_K) * kq_types[t].bytes, i % GL_QK_K);
            if (step >= 0 && e > 0.5 * step + fabs(x[i]) / 256 && bad++ < 3) {
                TF_CHECK(false, "%s elem %d: err %g > half step %g", kq_types[t].name, i, e, step / 2);
            }
        }
        /* the two halves (scales 1 and 0.01) count alike: compare relative to each half */
        const double rel = sqrt(se / sx);
        printf("# %s rel rms %.4f (bound %.3f)\n", kq_types[t].name, rel, kq_types[t].rel_rms);
        TF_CHECK(rel <= kq_types[t].rel_rms, "%s rel rms %g", kq_types[t].name, rel);
        /* zero rows come back exactly zero */
        static float z[GL_QK_K];
        kq_types[t].quant(z, q, GL_QK_K);
        kq_types[t].deq(q, y, GL_QK_K);
        int nz = 0;
        for (int i = 0; i < GL_QK_K; i++) nz += y[i] != 0.0f;
        TF_CHECK(nz == 0, "%s zero block: %d non-zero", kq_types[t].name, nz);
    }
    /* Q8_K: half a step of its float scale */
    block_q8_K b8[N / GL_QK_K];
    gl_quantize_row_q8_K_ref(x, b8, N);
    gl_dequantize_row_q8_K(b8, y, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const double e = fabs((double)x[i] - y[i]);
        if (e > 0.5 * fabs(b8[i / GL_QK_K].d) * 1.0001 + 1e-30 && bad++ < 3) {
            TF_CHECK(false, "q8_K elem %d err %g", i, e);
        }
        int s = 0;
        if (i % 16 == 15) {
            for (int k = i - 15; k <= i; k++) s += b8[i / GL_QK_K].qs[k % GL_QK_K];
            TF_CHECK(s == b8[i / GL_QK_K].bsums[(i % GL_QK_K) / 16], "bsum at %d", i);
        }
    }
}

/* The dot of n quantized weights xq (type kq_types[t]) with the Q8_K row yq: the scalar dot
 * within 2e-5 of the dequantized double-precision sum (relative to sum |x y|), and the
 * best compiled-in dot equal to the scalar one. xf/yf are scratch of n floats. */
static void kq_check_dot(int t, int n, const void *xq, const void *yq, float *xf, float *yf,
                         const char *what) {
    kq_types[t].deq(xq, xf, n);
    gl_dequantize_row_q8_K(yq, yf, n);
    double mag;
    const double ref = tfq_dot_ref(xf, yf, n, &mag);
    float s = NAN, ss = NAN;
    kq_types[t].dot(n, &s, xq, yq);
    kq_types[t].dot_scalar(n, &ss, xq, yq);
    TF_CHECK(fabs(ss - ref) <= 2e-5 * mag, "%s %s scalar %.9g vs %.9g", kq_types[t].name, what,
             ss, ref);
    TF_CHECK(s == ss, "%s %s simd %.9g vs scalar %.9g", kq_types[t].name, what, s, ss);
}

TF_TEST(vec_dot_vs_dequantized_and_scalar) {
    tf_rng rng = {9};
    enum { NMAX = 4096 };
    static float x[NMAX], y[NMAX], xf[NMAX], yf[NMAX];
    static uint8_t xq[NMAX], yq[NMAX / GL_QK_K * sizeof(block_q8_K)];
    static const int sizes[] = {256, 512, 1280, 4096};
    for (int t = 0; t < KQ_N; t++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int n = sizes[si];
            for (int i = 0; i < n; i++) {
                x[i] = tf_rand_normal(&rng) + (i % 97 == 3 ? 4.0f : 0.0f) + (si == 2 ? 0.7f : 0.0f);
                y[i] = tf_rand_normal(&rng) * 3.0f + 0.5f;
            }
            kq_types[t].quant(x, xq, n);
            gl_quantize_row_q8_K(y, yq, n);
            char what[32];
            snprintf(what, sizeof what, "n=%d", n);
            kq_check_dot(t, n, xq, yq, xf, yf, what);
        }
    }
}

/* Random bytes as nb blocks of type t (any code, any scale bits), with sane fp16 scales. */
static void kq_random_blocks(tf_rng *rng, const kq_type *t, uint8_t *xq, int nb) {
    for (size_t i = 0; i < (size_t)nb * t->bytes; i++) xq[i] = (uint8_t)tf_rand_int(rng, 0, 255);
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = xq + (size_t)b * t->bytes;
        const gl_fp16 h = gl_fp32_to_fp16(tf_rand_uniform(rng, 0.001f, 0.1f));
        const gl_fp16 h2 = gl_fp32_to_fp16(tf_rand_uniform(rng, 0.001f, 0.1f));
        switch (t->type) {
        case GL_TYPE_Q2_K: memcpy(blk + 80, &h, 2); memcpy(blk + 82, &h2, 2); break;
        case GL_TYPE_Q3_K: memcpy(blk + 108, &h, 2); break;
        case GL_TYPE_Q4_K: case GL_TYPE_Q5_K: memcpy(blk, &h, 2); memcpy(blk + 2, &h2, 2); break;
        case GL_TYPE_Q6_K: memcpy(blk + 208, &h, 2); break;
        default: break;
        }
    }
}

/* Extreme codes: random bytes as blocks (any code, any scale bits) with sane fp16 scales. */
TF_TEST(vec_dot_random_blocks) {
    tf_rng rng = {13};
    enum { NB = 8, N = NB * GL_QK_K };
    static uint8_t xq[NB * 210];
    static block_q8_K yq[NB];
    static float y[N], xf[N], yf[N];
    for (int t = 0; t < KQ_N; t++) {
        kq_random_blocks(&rng, &kq_types[t], xq, NB);
        for (int i = 0; i < N; i++) y[i] = i % 5 == 0 ? -200.0f : tf_rand_normal(&rng);
        gl_quantize_row_q8_K(y, yq, N);
        kq_check_dot(t, N, xq, yq, xf, yf, "random blocks");
        float s, ss;
        /* every shorter row too: the SIMD dots take blocks in groups (of four for Q4_K/Q5_K/Q6_K
         * with AVX2), so 1..NB blocks cover every tail */
        for (int nb = 1; nb < NB; nb++) {
            s = NAN;
            ss = NAN;
            kq_types[t].dot(nb * GL_QK_K, &s, xq, yq);
            kq_types[t].dot_scalar(nb * GL_QK_K, &ss, xq, yq);
            TF_CHECK(s == ss, "%s nb=%d simd %.9g vs scalar %.9g", kq_types[t].name, nb, s, ss);
        }
    }
}

/* The gemm kernels against the scalar dots, bit for bit: rows of real quantized data and of
 * random blocks (extreme codes and scales, activations with -200 entries), every tile shape. */
TF_TEST(gemm_kernels_vs_scalar_dot) {
    tf_rng rng = {29};
    enum { NB = 3, N = NB * GL_QK_K, ROWS = 4, COLS = GL_GEMM_NC_MAX };
    static float x[N], y[N];
    static uint8_t wq[ROWS][NB * 210];
    static block_q8_K yq[COLS][NB];
    for (int c = 0; c < COLS; c++) {
        for (int i = 0; i < N; i++) y[i] = (i + c) % 7 == 0 ? -200.0f : tf_rand_normal(&rng) * (1 + c);
        gl_quantize_row_q8_K(y, yq[c], N);
    }
    for (int t = 0; t < KQ_N; t++) {
        const kq_type *kt = &kq_types[t];
        const gl_gemm_kernel g = gl_type_gemm(kt->type);
#if defined(GL_K_NO_GEMM)
        TF_CHECK(g.fn == NULL, "%s: a gemm kernel with GL_K_NO_GEMM", kt->name);
#else
        const bool simd = gl_kset_active()->family != GL_KSET_SCALAR;
        TF_CHECK((g.fn != NULL) == simd, "%s: gemm kernel %s in the %s set", kt->name, g.fn ? "present" : "missing",
                 gl_kset_active()->name);
#endif
        if (!g.fn) continue;
        TF_CHECK(g.ytype == GL_TYPE_Q8_K && g.mr >= 1 && g.mr <= ROWS && g.nc >= 1 &&
                     g.nc <= COLS && !g.f16_round && !g.yconvert, "%s kernel shape", kt->name);
        if (g.mr > ROWS || g.nc > COLS) continue;
        for (int r = 0; r < ROWS; r++) {
            if (r % 2 == 0) {
                for (int i = 0; i < N; i++) x[i] = tf_rand_normal(&rng) + (r == 2 ? 0.8f : 0.0f);
                kt->quant(x, wq[r], N);
            } else {
                kq_random_blocks(&rng, kt, wq[r], NB);
            }
        }
        const size_t bx = sizeof wq[0];
        const void *yp[COLS];
        for (int c = 0; c < COLS; c++) yp[c] = yq[c];
        float ref[COLS][ROWS], part[COLS][ROWS];
        for (int c = 0; c < COLS; c++) {
            for (int r = 0; r < ROWS; r++) {
                kt->dot_scalar(N, &ref[c][r], wq[r], yq[c]);
                float a, b;
                kt->dot_scalar(GL_QK_K, &a, wq[r], yq[c]);
                kt->dot_scalar(N - GL_QK_K, &b, wq[r] + kt->bytes, yq[c] + 1);
                part[c][r] = a + b;
            }
        }
        int bad = 0;
        for (int nr = 1; nr <= g.mr; nr++) {
            for (int nc = 1; nc <= g.nc; nc++) {
                enum { BS = ROWS + 3 };
                float out[COLS * BS];
                /* store */
                for (int i = 0; i < COLS * BS; i++) out[i] = -7.0f;
                g.fn(N, nr, nc, wq[0], bx, yp, out, BS, false);
                for (int c = 0; c < COLS; c++)
                    for (int r = 0; r < BS; r++) {
                        const float want = c < nc && r < nr ? ref[c][r] : -7.0f;
                        if (out[c * BS + r] != want && bad++ < 5)
                            TF_CHECK(false, "%s nr=%d nc=%d (%d,%d): %.9g vs %.9g", kt->name, nr,
                                     nc, r, c, out[c * BS + r], want);
                    }
                /* add, and a call split along k: first block stored, the rest added */
                for (int i = 0; i < COLS * BS; i++) out[i] = 1.5f;
                g.fn(N, nr, nc, wq[0], bx, yp, out, BS, true);
                const void *yp1[COLS];
                for (int c = 0; c < COLS; c++) yp1[c] = yq[c] + 1;
                float out2[COLS * BS];
                for (int i = 0; i < COLS * BS; i++) out2[i] = -7.0f;
                g.fn(GL_QK_K, nr, nc, wq[0], bx, yp, out2, BS, false);
                g.fn(N - GL_QK_K, nr, nc, wq[0] + kt->bytes, bx, yp1, out2, BS, true);
                for (int c = 0; c < nc; c++)
                    for (int r = 0; r < nr; r++) {
                        if (out[c * BS + r] != 1.5f + ref[c][r] && bad++ < 5)
                            TF_CHECK(false, "%s add nr=%d nc=%d (%d,%d)", kt->name, nr, nc, r, c);
                        if (out2[c * BS + r] != part[c][r] && bad++ < 5)
                            TF_CHECK(false, "%s split nr=%d nc=%d (%d,%d): %.9g vs %.9g", kt->name,
                                     nr, nc, r, c, out2[c * BS + r], part[c][r]);
                    }
            }
        }
        TF_CHECK(bad == 0, "%s: %d mismatches", kt->name, bad);
        /* the 4-row mat-vec kernel, where there is one: each row's scalar dot exactly, for
         * 1..NB blocks */
        const gl_vec_dot4_fn d4 = gl_type_vec_dot4_k(kt->type);
#if !defined(GL_K_NO_DOT4)
        if (gl_kset_active()->family == GL_KSET_X86)
            TF_CHECK((d4 != NULL) == (kt->type == GL_TYPE_Q4_K), "%s: 4-row kernel", kt->name);
        else
#endif
            TF_CHECK(d4 == NULL, "%s: a 4-row kernel in this kernel set", kt->name);
        for (int nb = 1; d4 && nb <= NB; nb++) {
            for (int c = 0; c < COLS; c++) {
                float s4[4], want;
                d4(nb * GL_QK_K, s4, wq[0], bx, yq[c]);
                for (int r = 0; r < 4; r++) {
                    kt->dot_scalar(nb * GL_QK_K, &want, wq[r], yq[c]);
                    TF_CHECK(s4[r] == want, "%s dot4 nb=%d row %d col %d: %.9g vs %.9g", kt->name,
                             nb, r, c, s4[r], want);
                }
            }
        }
    }
}

/* ---- the traits table and the graph (need the K rows wired into gl-quants.c) ---- */

TF_TEST(traits_k_types) {
    for (int t = 0; t < KQ_N; t++) {
        const gl_type_traits *tr = gl_type_get(kq_types[t].type);
        if (!tr->supported) {
            tf_skip("%s not wired into the traits table", kq_types[t].name);
            return;
        }
        TF_CHECK(tr->blck_size == GL_QK_K && tr->type_size == kq_types[t].bytes, "%s", tr->name);
        TF_CHECK(tr->vec_dot_type == GL_TYPE_Q8_K && tr->vec_dot && tr->vec_dot_scalar &&
                 tr->to_float && tr->from_float_ref, "%s kernels", tr->name);
        TF_CHECK(gl_row_size(kq_types[t].type, 512) == 2 * kq_types[t].bytes);
        TF_CHECK(gl_row_size(kq_types[t].type, 300) == 0, "rows must divide into 256");
    }
    TF_CHECK(gl_type_get(GL_TYPE_Q8_K)->from_float != NULL);
    TF_CHECK(gl_type_from_name("Q4_K") == GL_TYPE_Q4_K && gl_type_from_name("q6_k") == GL_TYPE_Q6_K);
}

TF_TEST(mul_mat_k_weights) {
    if (!gl_type_get(GL_TYPE_Q4_K)->supported) {
        tf_skip("K types not wired into the traits table");
        return;
    }
    tf_rng rng = {17};
    enum { K = 512, NR = 37, MMAX = 3 };
    static float w[K * NR], xin[K * MMAX], wf[K], xf[K];
    static uint8_t wq[K * NR];
    static block_q8_K xq[K / GL_QK_K];
    for (int i = 0; i < K * NR; i++) w[i] = tf_rand_normal(&rng);
    for (int i = 0; i < K * MMAX; i++) xin[i] = tf_rand_normal(&rng);
    for (int t = 0; t < KQ_N; t++) {
        const gl_type ty = kq_types[t].type;
        const size_t row = gl_row_size(ty, K);
        TF_CHECK(gl_quantize_rows(ty, w, wq, NR, K) == NR * row);
        /* M = 1: the mat-vec (the 4-row kernel where there is one; row 36 alone), M = 3: gemm */
        for (int M = 1; M <= MMAX; M += 2)
        for (int nth = 1; nth <= 2; nth++) {
            float *y = tfq_mul_mat(ty, wq, K, NR, xin, M, nth);
            if (!y) continue;
            int bad = 0;
            for (int m = 0; m < M; m++) {
                gl_quantize_row_q8_K(xin + m * K, xq, K);
                gl_dequantize_row_q8_K(xq, xf, K);
                for (int r = 0; r < NR; r++) {
                    kq_types[t].deq(wq + (size_t)r * row, wf, K);
                    double mag;
                    const double ref = tfq_dot_ref(wf, xf, K, &mag);
                    const float got = y[m * NR + r];
                    if (fabs(got - ref) > 2e-5 * mag && bad++ < 3) {
                        TF_CHECK(false, "%s M=%d nth=%d row %d col %d: %g vs %g", kq_types[t].name,
                                 M, nth, r, m, got, ref);
                    }
                    /* one k-slice: the gemm kernels give the scalar dot's float */
                    float sd;
                    kq_types[t].dot_scalar(K, &sd, wq + (size_t)r * row, xq);
                    if (got != sd && bad++ < 3) {
                        TF_CHECK(false, "%s M=%d nth=%d row %d col %d: %.9g vs scalar dot %.9g",
                                 kq_types[t].name, M, nth, r, m, got, sd);
                    }
                }
            }
            free(y);
        }
    }
}

/* Rows long enough (100 super-blocks, 8.4-21 KB) that mul_mat's gemm path cuts k into
 * slices (whole super-blocks), several tiles of rows and columns: 1 and 2 threads give the
 * same bits, and the result stays within the dot tolerance of the dequantized product. */
TF_TEST(mul_mat_k_sliced_threads) {
    if (!gl_type_get(GL_TYPE_Q4_K)->supported) {
        tf_skip("K types not wired into the traits table");
        return;
    }
    tf_rng rng = {31};
    enum { K = 100 * GL_QK_K, NR = 9, M = 10 };
    static float w[K * NR], xin[K * M], wf[K], xf[K];
    static uint8_t wq[K / GL_QK_K * 210 * NR];
    static block_q8_K xq[K / GL_QK_K];
    for (int i = 0; i < K * NR; i++) w[i] = tf_rand_normal(&rng);
    for (int i = 0; i < K * M; i++) xin[i] = tf_rand_normal(&rng) + (i % 11 == 0 ? 3.0f : 0.0f);
    for (int t = 0; t < KQ_N; t++) {
        const gl_type ty = kq_types[t].type;
        const size_t row = gl_row_size(ty, K);
        TF_CHECK(gl_quantize_rows(ty, w, wq, NR, K) == NR * row);
        float *y1 = tfq_mul_mat(ty, wq, K, NR, xin, M, 1);
        float *y2 = tfq_mul_mat(ty, wq, K, NR, xin, M, 2);
        if (y1 && y2) {
            TF_CHECK(memcmp(y1, y2, sizeof(float) * NR * M) == 0, "%s: 1 vs 2 threads", kq_types[t].name);
            int bad = 0;
            for (int m = 0; m < M; m++) {
                gl_quantize_row_q8_K(xin + (size_t)m * K, xq, K);
                gl_dequantize_row_q8_K(xq, xf, K);
                for (int r = 0; r < NR; r++) {
                    kq_types[t].deq(wq + (size_t)r * row, wf, K);
                    double mag;
                    const double ref = tfq_dot_ref(wf, xf, K, &mag);
                    if (fabs(y1[m * NR + r] - ref) > 2e-5 * mag && bad++ < 3) {
                        TF_CHECK(false, "%s row %d col %d: %g vs %g", kq_types[t].name, r, m,
                                 y1[m * NR + r], ref);
                    }
                }
            }
        }
        free(y1);
        free(y2);
    }
}

/* A GGUF file of K-quant tensors (written with our writer, as a llama.cpp file would hold
 * them) reads back with the right sizes and dequantizes to what was written. */
TF_TEST(gguf_k_tensors_roundtrip) {
    char path[] = "/tmp/edgelm-test-quants-k-XXXXXX";
    const int fd = mkstemp(path);
    TF_CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    tf_rng rng = {23};
    enum { K = 512, R = 3 };
    static float w[K * R], back[K * R], direct[K * R];
    static uint8_t q[KQ_N][K * R];
    for (int i = 0; i < K * R; i++) w[i] = tf_rand_normal(&rng) * 0.05f;
    gl_error err = {0};
    gl_gguf_writer *wr = gl_gguf_writer_open(path, &err);
    TF_CHECK(wr != NULL, "%s", err.msg);
    if (!wr) return;
    gl_gguf_w_kv_str(wr, "general.architecture", "test");
    const int64_t ne[2] = {K, R};
    for (int t = 0; t < KQ_N; t++) {
        char name[32];
        snprintf(name, sizeof name, "w.%s", kq_types[t].name);
        TF_CHECK(gl_gguf_w_tensor_info(wr, name, kq_types[t].type, 2, ne) == GL_OK,
                 "%s", gl_gguf_writer_error(wr));
    }
    for (int t = 0; t < KQ_N; t++) {
        for (int r = 0; r < R; r++) kq_types[t].quant(w + r * K, q[t] + r * (K / GL_QK_K) * kq_types[t].bytes, K);
        gl_gguf_w_tensor_data(wr, q[t], R * (K / GL_QK_K) * kq_types[t].bytes);
    }
    TF_CHECK(gl_gguf_writer_close(wr, &err) == GL_OK, "%s", err.msg);
    gl_gguf *f = gl_gguf_open(path, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        for (int t = 0; t < KQ_N; t++) {
            char name[32];
            snprintf(name, sizeof name, "w.%s", kq_types[t].name);
            const int64_t id = gl_gguf_find_tensor(f, name);
            TF_CHECK(id >= 0, "%s", name);
            if (id < 0) continue;
            const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, id);
            TF_CHECK(ti->type == kq_types[t].type && ti->nbytes == R * (K / GL_QK_K) * kq_types[t].bytes);
            kq_types[t].deq(ti->data, back, K * R);
            kq_types[t].deq(q[t], direct, K * R);
            TF_CHECK(memcmp(back, direct, sizeof back) == 0, "%s data", name);
        }
        gl_gguf_close(f);
    }
    remove(path);
}

TF_MAIN
