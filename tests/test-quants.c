/*
 * test-quants — type traits, fp16/bf16 conversion, quantizers, dequantizers and dot products.
 *
 * Tolerances (stated once, used below):
 *   round trip (per element, d and m the block's stored fp16 scale and minimum):
 *     Q4_0, Q5_0: |x - x'| <= 1.0*|d| + 2^-9*|x|   (the top code is clamped: one full step)
 *     Q4_1, Q5_1: |x - x'| <= 0.5*d + 2^-9*(|x| + |m|) + 2^-9*d*(2^bits - 1)
 *     Q8_0, Q8_1: |x - x'| <= 0.5*|d| + 2^-10*max|x|
 *     F16: 2^-11*|x| + 2^-25, BF16: 2^-8*|x|
 *   vec_dot (SIMD and scalar) vs dequantize-then-dot in double:
 *     |s - ref| <= 2e-5 * sum|x_i y_i| + (Q4_1/Q5_1: 2^-10 * sum_blocks |m_x s_y|, the fp16 s)
 *   SIMD vec_dot vs scalar vec_dot: |a - b| <= 1e-5 * sum|x_i y_i| (float reassociation only)
 *   fp16/bf16: bit-exact; fast Q8_0/Q8_1 quantizers: byte-exact vs the reference (finite input).
 */
#include "tf.h"

#include "ggml-lite.h"
#include "gl-quants.h"
#include "quant_golden.h"
#include "tf-quants.h"

#include <float.h>

static const gl_type q_weight_types[] = {GL_TYPE_F32, GL_TYPE_F16, GL_TYPE_BF16, GL_TYPE_Q4_0,
                                         GL_TYPE_Q4_1, GL_TYPE_Q5_0, GL_TYPE_Q5_1, GL_TYPE_Q8_0};
#define N_WEIGHT_TYPES (int)(sizeof q_weight_types / sizeof q_weight_types[0])

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---------------------------------------------------------------- traits */

TF_TEST(traits_sizes) {
    static const struct { int id; const char *name; int64_t bs; size_t ts; } want[] = {
        {0, "f32", 1, 4},       {1, "f16", 1, 2},        {2, "q4_0", 32, 18},
        {3, "q4_1", 32, 20},    {6, "q5_0", 32, 22},     {7, "q5_1", 32, 24},
        {8, "q8_0", 32, 34},    {9, "q8_1", 32, 36},     {10, "q2_K", 256, 84},
        {11, "q3_K", 256, 110}, {12, "q4_K", 256, 144},  {13, "q5_K", 256, 176},
        {14, "q6_K", 256, 210}, {15, "q8_K", 256, 292},  {16, "iq2_xxs", 256, 66},
        {17, "iq2_xs", 256, 74}, {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},
        {20, "iq4_nl", 32, 18}, {21, "iq3_s", 256, 110}, {22, "iq2_s", 256, 82},
        {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},      {25, "i16", 1, 2},
        {26, "i32", 1, 4},      {27, "i64", 1, 8},       {28, "f64", 1, 8},
        {29, "iq1_m", 256, 56}, {30, "bf16", 1, 2},      {34, "tq1_0", 256, 54},
        {35, "tq2_0", 256, 66}, {39, "mxfp4", 32, 17},   {40, "nvfp4", 64, 36},
        {41, "q1_0", 128, 18},  {42, "q2_0", 128, 34},
    };
    int n_known = 0;
    for (int id = 0; id < GL_TYPE_COUNT; id++) n_known += gl_type_known(id);
    TF_CHECK(n_known == (int)(sizeof want / sizeof want[0]), "%d known ids", n_known);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const gl_type_traits *t = gl_type_get(want[i].id);
        if (!TF_CHECK(t && t->known, "id %d", want[i].id)) continue;
        TF_CHECK(strcmp(t->name, want[i].name) == 0, "id %d: %s", want[i].id, t->name);
        TF_CHECK(t->blck_size == want[i].bs && t->type_size == want[i].ts, "%s: %lld/%zu",
                 t->name, (long long)t->blck_size, t->type_size);
        TF_CHECK(t->is_quantized == (want[i].bs > 1), "%s is_quantized", t->name);
        TF_CHECK(strcmp(gl_type_name(want[i].id), want[i].name) == 0, "name of %d", want[i].id);
    }
    static const int invalid[] = {4, 5, 31, 32, 33, 36, 37, 38};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        TF_CHECK(!gl_type_known(invalid[i]), "id %d must be unknown", invalid[i]);
        TF_CHECK(strcmp(gl_type_name(invalid[i]), "?") == 0, "name of %d", invalid[i]);
        TF_CHECK(gl_row_size((gl_type)invalid[i], 32) == 0, "row size of %d", invalid[i]);
    }
    TF_CHECK(gl_type_get(-1) == NULL && gl_type_get(GL_TYPE_COUNT) == NULL);
    TF_CHECK(!gl_type_known(-1) && !gl_type_known(1000));
    TF_CHECK(strcmp(gl_type_name(99), "?") == 0);
    TF_CHECK(sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20 && sizeof(block_q5_0) == 22 &&
             sizeof(block_q5_1) == 24 && sizeof(block_q8_0) == 34 && sizeof(block_q8_1) == 36);
}

TF_TEST(traits_supported_and_pairs) {
    static const struct { gl_type w, act; } pairs[] = {
        {GL_TYPE_F32, GL_TYPE_F32},   {GL_TYPE_F16, GL_TYPE_F16},   {GL_TYPE_BF16, GL_TYPE_BF16},
        {GL_TYPE_Q4_0, GL_TYPE_Q8_0}, {GL_TYPE_Q4_1, GL_TYPE_Q8_1}, {GL_TYPE_Q5_0, GL_TYPE_Q8_0},
        {GL_TYPE_Q5_1, GL_TYPE_Q8_1}, {GL_TYPE_Q8_0, GL_TYPE_Q8_0},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const gl_type_traits *t = gl_type_get(pairs[i].w);
        TF_CHECK(t->supported && t->vec_dot_type == pairs[i].act, "%s", t->name);
        TF_CHECK(t->vec_dot && t->vec_dot_scalar && t->to_float && t->from_float_ref &&
                 t->from_float, "%s kernels", t->name);
    }
    int n_supported = 0;
    for (int id = 0; id < GL_TYPE_COUNT; id++) {
        const gl_type_traits *t = gl_type_get(id);
        n_supported += t->supported;
        if (!t->known) TF_CHECK(!t->supported && t->name == NULL, "id %d", id);
    }
    TF_CHECK(n_supported == 17, "%d supported (f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q8_1, "
             "q2_K..q6_K q8_K, iq4_nl iq4_xs)", n_supported);
    TF_CHECK(gl_type_get(GL_TYPE_Q8_1)->supported && gl_type_get(GL_TYPE_Q8_1)->from_float);
    TF_CHECK(!gl_type_get(16 /* iq2_xxs */)->supported && !gl_type_get(GL_TYPE_I32)->supported);
}

TF_TEST(row_size) {
    TF_CHECK(gl_row_size(GL_TYPE_F32, 7) == 28);
    TF_CHECK(gl_row_size(GL_TYPE_F16, 3) == 6);
    TF_CHECK(gl_row_size(GL_TYPE_Q4_0, 4096) == 128 * 18);
    TF_CHECK(gl_row_size(GL_TYPE_Q8_0, 64) == 68);
    TF_CHECK(gl_row_size(GL_TYPE_Q6_K, 512) == 420);
    TF_CHECK(gl_row_size(GL_TYPE_Q4_0, 33) == 0, "not a block multiple");
    TF_CHECK(gl_row_size(GL_TYPE_Q4_K, 32) == 0, "not a block multiple");
    TF_CHECK(gl_row_size(GL_TYPE_Q8_0, 0) == 0);
    TF_CHECK(gl_row_size(GL_TYPE_F32, -4) == 0, "negative");
    TF_CHECK(gl_row_size(GL_TYPE_F64, INT64_MAX) == 0, "overflow");
    TF_CHECK(gl_row_size(GL_TYPE_I64, INT64_MAX / 4) == 0, "overflow");
    TF_CHECK(gl_row_size(GL_TYPE_Q8_0, (INT64_MAX / 32) * 32) == 0, "beyond int64");
    TF_CHECK(gl_row_size(GL_TYPE_I8, INT64_MAX) == (size_t)INT64_MAX, "largest");
    TF_CHECK(gl_row_size((gl_type)77, 32) == 0, "unknown");
}

TF_TEST(type_from_name) {
    TF_CHECK(gl_type_from_name("Q8_0") == GL_TYPE_Q8_0);
    TF_CHECK(gl_type_from_name("q8_0") == GL_TYPE_Q8_0);
    TF_CHECK(gl_type_from_name("f16") == GL_TYPE_F16);
    TF_CHECK(gl_type_from_name("F32") == GL_TYPE_F32);
    TF_CHECK(gl_type_from_name("BF16") == GL_TYPE_BF16);
    TF_CHECK(gl_type_from_name("q4_K") == GL_TYPE_Q4_K);
    TF_CHECK(gl_type_from_name("Q4_K") == GL_TYPE_Q4_K);
    TF_CHECK(gl_type_from_name("IQ2_XXS") == 16);
    TF_CHECK(gl_type_from_name("mxfp4") == 39);
    TF_CHECK(gl_type_from_name("Q4_K_M") == -1, "a file type, not a tensor type");
    TF_CHECK(gl_type_from_name("q8") == -1 && gl_type_from_name("") == -1);
    TF_CHECK(gl_type_from_name("?") == -1 && gl_type_from_name(NULL) == -1);
    for (int id = 0; id < GL_TYPE_COUNT; id++) {
        if (gl_type_known(id)) TF_CHECK(gl_type_from_name(gl_type_name(id)) == id, "%d", id);
    }
}

TF_TEST(simd_name) {
    const char *s = gl_simd_name();
    TF_CHECK(s && *s);
    const gl_kset_family fam = gl_kset_active()->family;
    if (fam == GL_KSET_X86) {
        TF_CHECK(strstr(s, "AVX2") != NULL, "%s", s);
    } else if (fam == GL_KSET_NEON) {
        TF_CHECK(strstr(s, "NEON") != NULL, "%s", s);
    } else {
        TF_CHECK(strcmp(s, "scalar") == 0, "%s", s);
    }
}

/* Run-time dispatch: the set in use is one of the usable ones, named by the public API, and
 * needs no instruction the CPU lacks; EDGELM_KERNELS (when the suite forces a set) is obeyed. */
TF_TEST(kernel_set_dispatch) {
    const char *name = gl_kernels_name(), *avail = gl_kernels_available();
    TF_CHECK(name && *name && avail && *avail && gl_cpu_features() && *gl_cpu_features());
    TF_CHECK(strcmp(name, gl_kset_active()->name) == 0, "%s", name);
    TF_CHECK(strstr(avail, name) != NULL, "%s not in %s", name, avail);
    TF_CHECK(gl_kernels_error() == NULL, "%s", gl_kernels_error() ? gl_kernels_error() : "");
    const char *want = getenv("EDGELM_KERNELS");
    if (want && *want) TF_CHECK(strcmp(want, name) == 0, "forced %s, got %s", want, name);
    else TF_CHECK(strncmp(avail, name, strlen(name)) == 0, "the best usable set: %s of %s", name, avail);
}

/* ---------------------------------------------------------------- fp16 / bf16 */

/* Independent fp16 decoding: sign * mantissa * 2^exp through ldexp. */
static double ref_fp16_value(uint16_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0) return sign * ldexp(m, -24);
    if (e == 31) return m ? NAN : sign * INFINITY;
    return sign * ldexp(1024 + m, e - 25);
}

/* Independent fp32 → fp16: nearest of the two neighbouring halves found by binary search
 * over the (monotonic) positive encodings; ties go to the even encoding. */
static uint16_t ref_fp32_to_fp16(float f) {
    if (isnan(f)) return 0x7e00; /* callers compare NaN-ness only */
    const uint16_t sign = signbit(f) ? 0x8000 : 0;
    const double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* largest encoding with value <= a */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (ref_fp16_value((uint16_t)mid) <= a) lo = mid; else hi = mid - 1;
    }
    if (lo == 0x7bff) return sign | 0x7bff;
    const double below = a - ref_fp16_value((uint16_t)lo), above = ref_fp16_value((uint16_t)(lo + 1)) - a;
    const int pick = below < above ? lo : above < below ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
    return (uint16_t)(sign | pick);
}

TF_TEST(fp16_to_fp32_exhaustive) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = gl_fp16_to_fp32((gl_fp16)h);
        const double r = ref_fp16_value((uint16_t)h);
        const bool ok = isnan(r) ? isnan(f) : ((double)f == r && !signbit(f) == !signbit(r));
        if (!ok && bad++ < 5) TF_CHECK(ok, "h=0x%04x: %g vs %g", h, f, r);
        if (!isnan(r)) {
            /* every half is exactly representable, so the way back is exact */
            if (gl_fp32_to_fp16(f) != h && bad++ < 5) TF_CHECK(false, "round trip 0x%04x", h);
        } else if ((gl_fp32_to_fp16(f) & 0x7e00) != 0x7e00 && bad++ < 5) {
            TF_CHECK(false, "NaN 0x%04x must stay a (quiet) NaN", h);
        }
    }
    TF_CHECK(bad == 0, "%d mismatches", bad);
    /* the row kernel (F16C / NEON when built) agrees on all encodings */
    static float row[65536], row_ref[65536];
    static gl_fp16 hs[65536];
    for (uint32_t h = 0; h < 65536; h++) hs[h] = (gl_fp16)h;
    gl_fp16_to_fp32_row(hs, row, 65536);
    gl_fp16_to_fp32_row_ref(hs, row_ref, 65536);
    TF_CHECK(memcmp(row, row_ref, sizeof row) == 0, "row conversion differs");
}

TF_TEST(fp32_to_fp16_sample) {
    tf_rng rng = {0x1234567};
    enum { N = 200000 };
    static float xs[N];
    static gl_fp16 fast[N];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)tf_rand_u64(&rng);
        /* bias half the samples into the fp16 range (exponents 100..145) */
        if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + (u >> 8) % 46) << 23);
        /* and some onto exact ties: 13 dropped bits = 1000...0 */
        if (i % 7 == 0) u = (u & ~0x1fffu) | 0x1000u;
        xs[i] = bits_f32(u);
        const gl_fp16 h = gl_fp32_to_fp16(xs[i]);
        const uint16_t r = ref_fp32_to_fp16(xs[i]);
        const bool ok = isnan(xs[i]) ? ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) : h == r;
        if (!ok && bad++ < 5) TF_CHECK(ok, "x=%a (0x%08x): 0x%04x vs 0x%04x", xs[i], u, h, r);
    }
    TF_CHECK(bad == 0, "%d mismatches", bad);
    gl_fp32_to_fp16_row(xs, fast, N);
    int row_bad = 0;
    for (int i = 0; i < N; i++) row_bad += fast[i] != gl_fp32_to_fp16(xs[i]);
    TF_CHECK(row_bad == 0, "SIMD row conversion: %d differ (NaN payloads included)", row_bad);
}

TF_TEST(fp16_golden_numpy) {
    for (int i = 0; i < QG_N_FP16; i++) {
        const float f = bits_f32(qg_fp16_in[i]);
        TF_CHECK(gl_fp32_to_fp16(f) == qg_fp16_out[i], "%a: 0x%04x vs numpy 0x%04x", f,
                 gl_fp32_to_fp16(f), qg_fp16_out[i]);
    }
    TF_CHECK(gl_fp32_to_fp16(NAN) >= 0x7e00 && gl_fp32_to_fp16(NAN) <= 0x7fff);
    TF_CHECK(isnan(gl_fp16_to_fp32(0x7e00)) && isinf(gl_fp16_to_fp32(0xfc00)));
}

/* Independent fp32 → bf16: compare the two truncation neighbours in double. */
static uint16_t ref_fp32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    const uint32_t down = u & 0xffff0000u, up = down + 0x10000u;
    const double x = fabs((double)f), a = fabs((double)bits_f32(down));
    const double b = (up & 0x7f800000u) == 0x7f800000u && (up & 0x7fffffu) == 0
                         ? ldexp(1.0, 128) /* the next step up is infinity: compare at 2^128 */
                         : fabs((double)bits_f32(up));
    const double below = x - a, above = b - x;
    const uint32_t pick = below < above ? down : above < below ? up : (((down >> 16) & 1) ? up : down);
    return (uint16_t)(pick >> 16);
}

TF_TEST(bf16_conversion) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = gl_bf16_to_fp32((gl_bf16)h);
        const uint32_t e = (h >> 7) & 0xff, m = h & 0x7f;
        double r = (e == 0) ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, (int)e - 134);
        if (h & 0x8000) r = -r;
        const bool ok = isnan(r) ? isnan(f) : ((double)f == r && !signbit(f) == !signbit(r));
        if (!ok && bad++ < 5) TF_CHECK(ok, "bf16 0x%04x: %g vs %g", h, f, r);
        if (!isnan(r) && gl_fp32_to_bf16(f) != h && bad++ < 5) TF_CHECK(false, "round trip 0x%04x", h);
    }
    tf_rng rng = {99};
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)tf_rand_u64(&rng);
        if (i % 5 == 0) u = (u & 0xffff0000u) | 0x8000u; /* ties */
        const float f = bits_f32(u);
        const gl_bf16 b = gl_fp32_to_bf16(f);
        if (isnan(f)) {
            if (!((b & 0x7f80) == 0x7f80 && (b & 0x40)) && bad++ < 5) TF_CHECK(false, "NaN 0x%08x", u);
        } else if (b != ref_fp32_to_bf16(f) && bad++ < 5) {
            TF_CHECK(false, "0x%08x: 0x%04x vs 0x%04x", u, b, ref_fp32_to_bf16(f));
        }
    }
    TF_CHECK(bad == 0, "%d mismatches", bad);
    TF_CHECK(gl_fp32_to_bf16(1.0f) == 0x3f80 && gl_fp32_to_bf16(-2.0f) == 0xc000);
    TF_CHECK(gl_fp32_to_bf16(3.4028235e38f) == 0x7f80, "FLT_MAX rounds to inf");
}

/* ---------------------------------------------------------------- quantizers */

TF_TEST(reference_quantizers_match_numpy) {
    static float x[QG_N];
    static uint8_t out[QG_N * 2];
    tfq_golden_input(qg_input, x, QG_N);
    static const struct { gl_type t; const uint8_t *want; size_t n; } cases[] = {
        {GL_TYPE_Q4_0, qg_q4_0, sizeof qg_q4_0}, {GL_TYPE_Q4_1, qg_q4_1, sizeof qg_q4_1},
        {GL_TYPE_Q5_0, qg_q5_0, sizeof qg_q5_0}, {GL_TYPE_Q5_1, qg_q5_1, sizeof qg_q5_1},
        {GL_TYPE_Q8_0, qg_q8_0, sizeof qg_q8_0}, {GL_TYPE_Q8_1, qg_q8_1, sizeof qg_q8_1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const gl_type_traits *t = gl_type_get(cases[c].t);
        TF_CHECK(gl_row_size(cases[c].t, QG_N) == cases[c].n, "%s size", t->name);
        memset(out, 0xAA, sizeof out);
        t->from_float_ref(x, out, QG_N);
        tfq_check_golden(t->name, out, cases[c].want, cases[c].n, t->type_size);
        TF_CHECK(gl_quantize_rows(cases[c].t, x, out, 3, QG_N / 3) == cases[c].n);
        TF_CHECK(memcmp(out, cases[c].want, cases[c].n) == 0, "%s via gl_quantize_rows", t->name);
    }
    TF_CHECK(gl_quantize_rows((gl_type)16 /* iq2_xxs */, x, out, 1, 256) == 0, "unsupported type");
    TF_CHECK(gl_quantize_rows(GL_TYPE_Q4_0, x, out, 1, 48) == 0, "not a block multiple");
}

/* Random rows with ties and edge blocks, for the fast-vs-reference byte comparisons. */
static void fill_activation_row(tf_rng *rng, float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = tf_rand_normal(rng) * (i % 96 < 32 ? 1.0f : 37.0f);
    if (n >= 128) {
        for (int j = 0; j < 32; j++) x[j] = 0.0f;             /* zero block */
        x[32] = 127.0f;                                         /* d = 1: exact .5 ties */
        for (int j = 1; j < 32; j++) x[32 + j] = (float)(j - 16) + 0.5f;
        for (int j = 0; j < 32; j++) x[64 + j] = -2.25f;       /* constant */
        for (int j = 0; j < 32; j++) x[96 + j] = (j & 1 ? 1e-35f : -3e-36f) * (float)j;
    }
}

TF_TEST(fast_activation_quantizers_are_exact) {
    tf_rng rng = {42};
    static float x[4096];
    static uint8_t a[4096 / 32 * 36], b[4096 / 32 * 36];
    for (int rep = 0; rep < 20; rep++) {
        const int n = rep == 0 ? 32 : 4096;
        fill_activation_row(&rng, x, n);
        if (rep == 1) tfq_golden_input(qg_input, x, QG_N);
        const int nn = rep == 1 ? QG_N : n;
        for (int t = GL_TYPE_Q8_0; t <= GL_TYPE_Q8_1; t++) {
            const gl_type_traits *tr = gl_type_get(t);
            memset(a, 0, sizeof a);
            memset(b, 1, sizeof b);
            tr->from_float_ref(x, a, nn);
            tr->from_float(x, b, nn);
            TF_CHECK(memcmp(a, b, gl_row_size(t, nn)) == 0, "%s rep %d", tr->name, rep);
        }
    }
    /* non-finite input: any bytes, but no crash (and no UB under the sanitizers) */
    for (int i = 0; i < 64; i++) x[i] = (i % 3 == 0) ? NAN : (i % 3 == 1) ? INFINITY : -1.0f;
    for (int t = 0; t < GL_TYPE_COUNT; t++) {
        const gl_type_traits *tr = gl_type_get(t);
        if (!tr->supported) continue;
        tr->from_float_ref(x, a, 64);
        tr->from_float(x, b, 64);
    }
    TF_CHECK(true);
}

/* Per-element round-trip bound; see the table at the top. */
static double roundtrip_bound(gl_type t, const void *blocks, int64_t blk, const float *x, int j) {
    const float a = fabsf(x[j]);
    switch (t) {
    case GL_TYPE_Q4_0: {
        const float d = fabsf(gl_fp16_to_fp32(((const block_q4_0 *)blocks)[blk].d));
        return 1.0 * d + a / 512;
    }
    case GL_TYPE_Q5_0: {
        const float d = fabsf(gl_fp16_to_fp32(((const block_q5_0 *)blocks)[blk].d));
        return 1.0 * d + a / 512;
    }
    case GL_TYPE_Q4_1: {
        const block_q4_1 *b = (const block_q4_1 *)blocks + blk;
        const float d = gl_fp16_to_fp32(b->d), m = fabsf(gl_fp16_to_fp32(b->m));
        return 0.5 * d + (a + m) / 512 + d * 15 / 512;
    }
    case GL_TYPE_Q5_1: {
        const block_q5_1 *b = (const block_q5_1 *)blocks + blk;
        const float d = gl_fp16_to_fp32(b->d), m = fabsf(gl_fp16_to_fp32(b->m));
        return 0.5 * d + (a + m) / 512 + d * 31 / 512;
    }
    case GL_TYPE_Q8_0:
    case GL_TYPE_Q8_1: {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[j - j % 32 + i]));
        const float d = gl_fp16_to_fp32(((const gl_fp16 *)((const char *)blocks +
                                        (size_t)blk * gl_type_get(t)->type_size))[0]);
        return 0.5 * d + amax / 1024;
    }
    case GL_TYPE_F16: return a / 2048 + 0x1p-25; /* half a subnormal step */
    case GL_TYPE_BF16: return a / 256;
    default: return 0;
    }
}

TF_TEST(roundtrip_error_bounds) {
    tf_rng rng = {7};
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    /* aggregate bound: rms error / rms x on N(0,1) data (measured ~ half of these) */
    static const struct { gl_type t; double rel_rms; } cases[] = {
        {GL_TYPE_F32, 0.0},     {GL_TYPE_F16, 4e-4},   {GL_TYPE_BF16, 3e-3},
        {GL_TYPE_Q4_0, 0.15},   {GL_TYPE_Q4_1, 0.12},  {GL_TYPE_Q5_0, 0.075},
        {GL_TYPE_Q5_1, 0.06},   {GL_TYPE_Q8_0, 0.01},  {GL_TYPE_Q8_1, 0.01},
    };
    for (int i = 0; i < N; i++) x[i] = tf_rand_normal(&rng) * (i < N / 2 ? 1.0f : 0.01f);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const gl_type_traits *t = gl_type_get(cases[c].t);
        t->from_float_ref(x, q, N);
        t->to_float(q, y, N);
        double se = 0, sx = 0;
        int bad = 0;
        for (int j = 0; j < N; j++) {
            const double e = fabs((double)x[j] - y[j]);
            se += e * e;
            sx += (double)x[j] * x[j];
            const double bound = roundtrip_bound(cases[c].t, q, j / t->blck_size, x, j);
            if (e > bound && bad++ < 3) TF_CHECK(false, "%s elem %d: err %g > %g", t->name, j, e, bound);
        }
        TF_CHECK(sqrt(se / sx) <= cases[c].rel_rms, "%s rel rms %g", t->name, sqrt(se / sx));
        /* an all-zero row comes back exactly zero */
        memset(x + N - 64, 0, 64 * sizeof(float));
        t->from_float_ref(x + N - 64, q, 64);
        t->to_float(q, y, 64);
        for (int j = 0; j < 64; j++) {
            if (y[j] != 0.0f) { TF_CHECK(false, "%s zero block elem %d = %g", t->name, j, y[j]); break; }
        }
        for (int j = N - 64; j < N; j++) x[j] = tf_rand_normal(&rng) * 0.01f;
    }
    /* constant block and a negative extreme survive for the symmetric types */
    for (int j = 0; j < 32; j++) x[j] = -8.0f;
    gl_quantize_row_q4_0_ref(x, q, 32);
    gl_dequantize_row_q4_0(q, y, 32);
    TF_CHECK(y[0] == -8.0f && y[31] == -8.0f, "constant block %g", y[0]);
    for (int j = 0; j < 32; j++) x[j] = j == 5 ? -16.0f : (float)(j - 16) * 0.5f;
    gl_quantize_row_q5_0_ref(x, q, 32);
    gl_dequantize_row_q5_0(q, y, 32);
    TF_CHECK(y[5] == -16.0f, "negative max kept exactly: %g", y[5]);
}

/* ---------------------------------------------------------------- dot products */

/* Σ|x_i y_i| and the double dot of the dequantized rows. */
static void dequant_dot(gl_type wt, const void *xq, const void *yq, int n, double *dot, double *mag,
                        double *s_term) {
    static float xf[8192], yf[8192];
    const gl_type_traits *t = gl_type_get(wt);
    t->to_float(xq, xf, n);
    gl_type_get(t->vec_dot_type)->to_float(yq, yf, n);
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        d += (double)xf[i] * yf[i];
        m += fabs((double)xf[i] * yf[i]);
    }
    *dot = d;
    *mag = m;
    *s_term = 0;
    if (wt == GL_TYPE_Q4_1 || wt == GL_TYPE_Q5_1) {
        const block_q8_1 *yb = yq;
        for (int b = 0; b < n / 32; b++) {
            const float mx = wt == GL_TYPE_Q4_1 ? gl_fp16_to_fp32(((const block_q4_1 *)xq)[b].m)
                                                : gl_fp16_to_fp32(((const block_q5_1 *)xq)[b].m);
            *s_term += fabs((double)mx * gl_fp16_to_fp32(yb[b].s)) / 1024;
        }
    }
}

TF_TEST(vec_dot_vs_dequantized_double) {
    tf_rng rng = {11};
    static float x[8192], y[8192];
    static uint8_t xq[8192 * 4], yq[8192 * 4];
    static const int sizes[] = {32, 64, 96, 160, 1024, 4096, 8192};
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const gl_type wt = q_weight_types[ti];
        const gl_type_traits *t = gl_type_get(wt);
        const gl_type_traits *vt = gl_type_get(t->vec_dot_type);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int n = sizes[si];
            for (int i = 0; i < n; i++) {
                x[i] = tf_rand_normal(&rng) + (i % 64 == 3 ? 4.0f : 0.0f);
                y[i] = tf_rand_normal(&rng) * 3.0f + 0.5f;
            }
            t->from_float_ref(x, xq, n);
            vt->from_float(y, yq, n);
            double ref, mag, sterm;
            dequant_dot(wt, xq, yq, n, &ref, &mag, &sterm);
            float s_fast = NAN, s_scalar = NAN;
            t->vec_dot(n, &s_fast, xq, yq);
            t->vec_dot_scalar(n, &s_scalar, xq, yq);
            const double tol = 2e-5 * mag + sterm;
            TF_CHECK(fabs(s_scalar - ref) <= tol, "%s n=%d scalar %.9g vs %.9g (tol %g)", t->name,
                     n, s_scalar, ref, tol);
            TF_CHECK(fabs(s_fast - ref) <= tol, "%s n=%d simd %.9g vs %.9g (tol %g)", t->name, n,
                     s_fast, ref, tol);
            TF_CHECK(fabs((double)s_fast - s_scalar) <= 1e-5 * mag, "%s n=%d simd %.9g vs scalar %.9g",
                     t->name, n, s_fast, s_scalar);
        }
    }
}

TF_TEST(vec_dot4_matches_single_rows) {
    /* four rows at a byte stride (a view may have wide rows) against one activation row */
    tf_rng rng = {21};
    static float x[4 * 4160], y[4096];
    static uint8_t xq[4 * 4160 * 4], yq[4096 * 4];
    static const int sizes[] = {32, 64, 96, 4096};
    int n_kernels = 0;
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const gl_type wt = q_weight_types[ti];
        const gl_vec_dot4_fn dot4 = gl_type_vec_dot4(wt);
        if (!dot4) continue;
        n_kernels++;
        const gl_type_traits *t = gl_type_get(wt);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int n = sizes[si];
            const size_t bx = gl_row_size(wt, n + 64);
            for (int i = 0; i < 4 * (n + 64); i++) x[i] = tf_rand_normal(&rng);
            for (int i = 0; i < n; i++) y[i] = tf_rand_normal(&rng) * 5.0f;
            for (int r = 0; r < 4; r++) t->from_float_ref(x + r * (n + 64), xq + r * bx, n + 64);
            gl_type_get(t->vec_dot_type)->from_float(y, yq, n);
            float s4[4];
            dot4(n, s4, xq, bx, yq);
            for (int r = 0; r < 4; r++) {
                double ref, mag, sterm;
                dequant_dot(wt, xq + r * bx, yq, n, &ref, &mag, &sterm);
                float s1 = NAN;
                t->vec_dot_scalar(n, &s1, xq + r * bx, yq);
                TF_CHECK(fabs(s4[r] - ref) <= 2e-5 * mag + sterm, "%s n=%d row %d: %.9g vs %.9g",
                         t->name, n, r, s4[r], ref);
                TF_CHECK(fabs((double)s4[r] - s1) <= 1e-5 * mag, "%s n=%d row %d: %.9g vs scalar %.9g",
                         t->name, n, r, s4[r], s1);
            }
        }
    }
    if (gl_kset_active()->family == GL_KSET_NEON) {
        TF_CHECK(n_kernels >= 2, "NEON sets have 4-row Q4_0 and Q8_0 kernels");
    } else if (gl_kset_active()->family == GL_KSET_X86) {
        TF_CHECK(n_kernels >= 1, "AVX2 sets have a 4-row Q4_0 kernel");
    } else if (n_kernels == 0) {
        tf_skip("no 4-row kernels in this kernel set");
    }
}

/* The register-blocked mat-mat kernels (gl_type_gemm): each element within 1e-5 * sum |x y|
 * of the scalar vec_dot (and 2e-5 of the double reference), and bit-identical whatever tile
 * it is computed in (full tiles, clipped edge tiles, single elements) and in add mode. */
TF_TEST(gemm_matches_scalar_and_is_tile_invariant) {
    enum { GR = 7, GC = 11 }; /* more rows and columns than any tile, not multiples */
    /* the weight types, and IQ4_NL (Q4_0's tile with a table; IQ4_XS: test-quants-iq) */
    gl_type gemm_types[N_WEIGHT_TYPES + 1];
    memcpy(gemm_types, q_weight_types, sizeof q_weight_types);
    gemm_types[N_WEIGHT_TYPES] = GL_TYPE_IQ4_NL;
    tf_rng rng = {31};
    static float xf[GR * 4160], yf[GC * 4096], yr[4096];
    static uint8_t xq[GR * 4160 * 4], yv[GC * 4096 * 4], yg[GC * 4096 * 4];
    static const int sizes[] = {8, 37, 100, 32, 96, 4096}; /* the first three: float types */
    int n_kernels = 0;
    for (int ti = 0; ti < N_WEIGHT_TYPES + 1; ti++) {
        const gl_type wt = gemm_types[ti];
        const gl_gemm_kernel g = gl_type_gemm(wt);
        if (!g.fn) continue;
        n_kernels++;
        TF_CHECK(g.mr >= 1 && g.nc >= 1 && g.nc <= GL_GEMM_NC_MAX && g.mr <= GR && g.nc <= GC);
        const gl_type_traits *t = gl_type_get(wt), *vt = gl_type_get(t->vec_dot_type);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int n = sizes[si];
            if (n % t->blck_size != 0) continue;
            const size_t bx = gl_row_size(wt, n + 64); /* rows wider than n, as in a view */
            const size_t by = gl_row_size(g.ytype, n), bv = gl_row_size(t->vec_dot_type, n);
            for (int i = 0; i < GR * (n + 64); i++) xf[i] = tf_rand_normal(&rng);
            for (int r = 0; r < GR; r++) t->from_float_ref(xf + r * (n + 64), xq + r * bx, n + 64);
            const void *yp[GC];
            for (int c = 0; c < GC; c++) {
                for (int i = 0; i < n; i++) yf[c * n + i] = tf_rand_normal(&rng) * 3.0f;
                vt->from_float(yf + c * n, yv + c * bv, n);
                if (g.ytype == t->vec_dot_type) {
                    memcpy(yg + c * by, yv + c * bv, bv);
                } else { /* F16 weights: F32 activations holding the fp16-rounded values */
                    TF_CHECK(g.ytype == GL_TYPE_F32 && g.f16_round);
                    vt->to_float(yv + c * bv, yr, n);
                    memcpy(yg + c * by, yr, by);
                }
                yp[c] = yg + c * by;
            }
            /* full tiling from (0, 0): out[c * GR + r] */
            float full[GR * GC], one[GR * GC];
            for (int j = 0; j < GC; j += g.nc)
                for (int i = 0; i < GR; i += g.mr)
                    g.fn(n, GL_MIN(g.mr, GR - i), GL_MIN(g.nc, GC - j), xq + (size_t)i * bx, bx,
                         yp + j, full + j * GR + i, GR, false);
            /* every element alone, and shifted tiles starting at (1, 2) */
            for (int c = 0; c < GC; c++)
                for (int r = 0; r < GR; r++)
                    g.fn(n, 1, 1, xq + (size_t)r * bx, bx, yp + c, one + c * GR + r, GR, false);
            TF_CHECK(memcmp(full, one, sizeof full) == 0, "%s n=%d: single elements differ from tiles",
                     t->name, n);
            for (int j = 2; j < GC; j += g.nc)
                for (int i = 1; i < GR; i += g.mr)
                    g.fn(n, GL_MIN(g.mr, GR - i), GL_MIN(g.nc, GC - j), xq + (size_t)i * bx, bx,
                         yp + j, one + j * GR + i, GR, false);
            TF_CHECK(memcmp(full, one, sizeof full) == 0, "%s n=%d: shifted tiles differ", t->name, n);
            /* add mode: s += value, one float addition */
            float acc[GR * GC];
            for (int e = 0; e < GR * GC; e++) acc[e] = (float)e * 0.25f;
            for (int j = 0; j < GC; j += g.nc)
                for (int i = 0; i < GR; i += g.mr)
                    g.fn(n, GL_MIN(g.mr, GR - i), GL_MIN(g.nc, GC - j), xq + (size_t)i * bx, bx,
                         yp + j, acc + j * GR + i, GR, true);
            int bad_add = 0, bad = 0;
            for (int e = 0; e < GR * GC; e++) bad_add += acc[e] != (float)e * 0.25f + full[e];
            TF_CHECK(bad_add == 0, "%s n=%d: add mode", t->name, n);
            for (int c = 0; c < GC; c++) {
                for (int r = 0; r < GR; r++) {
                    double ref, mag, sterm;
                    dequant_dot(wt, xq + (size_t)r * bx, yv + c * bv, n, &ref, &mag, &sterm);
                    float s1 = NAN;
                    t->vec_dot_scalar(n, &s1, xq + (size_t)r * bx, yv + c * bv);
                    const float v = full[c * GR + r];
                    if (!(fabs(v - ref) <= 2e-5 * mag + 1e-30) ||
                        !(fabs((double)v - s1) <= 1e-5 * mag + 1e-30)) {
                        if (bad++ < 3)
                            TF_CHECK(false, "%s n=%d [%d,%d]: %.9g vs ref %.9g, scalar %.9g",
                                     t->name, n, r, c, v, ref, s1);
                    }
                }
            }
            TF_CHECK(bad == 0, "%s n=%d: %d elements off", t->name, n, bad);
        }
    }
    if (gl_kset_active()->family != GL_KSET_SCALAR) {
        TF_CHECK(n_kernels == 5, "SIMD sets have gemm kernels for F32, F16, Q4_0, Q8_0, IQ4_NL (%d)", n_kernels);
    } else if (n_kernels == 0) {
        tf_skip("no gemm kernels in the scalar set (vec_dot is used)");
    }
}

TF_TEST(vec_dot_float_tails) {
    /* float types take any n: the SIMD tails must be right */
    tf_rng rng = {5};
    static float x[1100], y[1100];
    static uint16_t xh[1100], yh[1100];
    static const int sizes[] = {1, 3, 7, 8, 9, 15, 17, 31, 33, 100, 1000, 1100};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int n = sizes[si];
        for (int i = 0; i < n; i++) {
            x[i] = tf_rand_uniform(&rng, -2, 2);
            y[i] = tf_rand_uniform(&rng, -2, 2);
        }
        for (int k = 0; k < 3; k++) {
            const gl_type wt = k == 0 ? GL_TYPE_F32 : k == 1 ? GL_TYPE_F16 : GL_TYPE_BF16;
            const gl_type_traits *t = gl_type_get(wt);
            const void *px = x, *py = y;
            if (k) {
                t->from_float_ref(x, xh, n);
                t->from_float(y, yh, n);
                px = xh;
                py = yh;
            }
            double ref, mag, sterm;
            dequant_dot(wt, px, py, n, &ref, &mag, &sterm);
            float a = NAN, b = NAN;
            t->vec_dot(n, &a, px, py);
            t->vec_dot_scalar(n, &b, px, py);
            TF_CHECK(fabs(a - ref) <= 1e-6 * mag + 1e-30, "%s n=%d %.9g vs %.9g", t->name, n, a, ref);
            TF_CHECK(fabs(b - ref) <= 1e-6 * mag + 1e-30, "%s n=%d scalar %.9g vs %.9g", t->name, n, b, ref);
        }
    }
}

TF_TEST(vec_dot_extreme_codes) {
    /* weights at the ends of their code range and activations at +-127 exercise the integer
     * paths' saturation limits (maddubs pairs, int8 sign tricks) */
    static float x[256], y[256];
    static uint8_t xq[256 * 4], yq[256 * 4];
    for (int i = 0; i < 256; i++) {
        x[i] = (i & 1) ? -1.0f : 1.0f;
        if (i % 32 == 0) x[i] = -1.0f;
        y[i] = (i % 3 == 0) ? 1.0f : -1.0f;
    }
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const gl_type_traits *t = gl_type_get(q_weight_types[ti]);
        t->from_float_ref(x, xq, 256);
        gl_type_get(t->vec_dot_type)->from_float(y, yq, 256);
        double ref, mag, sterm;
        dequant_dot(q_weight_types[ti], xq, yq, 256, &ref, &mag, &sterm);
        float a = NAN, b = NAN;
        t->vec_dot(256, &a, xq, yq);
        t->vec_dot_scalar(256, &b, xq, yq);
        TF_CHECK(fabs(a - ref) <= 2e-5 * mag + sterm, "%s %.9g vs %.9g", t->name, a, ref);
        TF_CHECK(fabs(b - ref) <= 2e-5 * mag + sterm, "%s scalar %.9g vs %.9g", t->name, b, ref);
    }
    /* Q8_0 weights straight from a file may hold -128 */
    block_q8_0 w[2], act[2];
    for (int b = 0; b < 2; b++) {
        w[b].d = act[b].d = gl_fp32_to_fp16(1.0f);
        for (int j = 0; j < 32; j++) {
            w[b].qs[j] = (int8_t)(j % 2 ? -128 : 127);
            act[b].qs[j] = (int8_t)(j % 3 ? 127 : -127);
        }
    }
    float a = 0, b = 0;
    gl_type_get(GL_TYPE_Q8_0)->vec_dot(64, &a, w, act);
    gl_vec_dot_q8_0_q8_0_scalar(64, &b, w, act);
    long exact = 0;
    for (int j = 0; j < 64; j++) exact += (long)w[j / 32].qs[j % 32] * act[j / 32].qs[j % 32];
    TF_CHECK(a == (float)exact && b == (float)exact, "%g %g vs %ld", a, b, exact);
    const gl_vec_dot4_fn dot4 = gl_type_vec_dot4(GL_TYPE_Q8_0);
    if (dot4) {
        block_q8_0 rows[4][2];
        for (int r = 0; r < 4; r++) memcpy(rows[r], w, sizeof w);
        float s4[4];
        dot4(64, s4, rows, sizeof rows[0], act);
        for (int r = 0; r < 4; r++) TF_CHECK(s4[r] == (float)exact, "dot4 row %d: %g", r, s4[r]);
    }
}

TF_MAIN
