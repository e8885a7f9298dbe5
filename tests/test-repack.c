/*
 * test-repack — the X8 weight layout (gl_repack) and its mul_mat kernels.
 *
 *   - the portable X8 reference kernel (every build) against a naive double
 *     dequantize-and-dot; tolerance 3e-5 * sum_l |w_l x_l| (float accumulation order);
 *   - the SIMD X8 kernel of the build against the reference: bit-identical (exact integer
 *     block sums, the same float steps in the same order), for every column count of a call,
 *     row counts below 8 and the add (k-slice) mode;
 *   - gl_mul_mat of repacked weights (where the build can repack) against the same weights in
 *     the row layout (within 1e-5 * sum |w x|: both are float sums of the same exact block
 *     products) and against the naive reference (3e-5), 1 and 2 threads bit-identical,
 *     k long enough to be cut into k-slices;
 *   - refusals: gl_repack_size 0 where it must be, gl_repack's errors, and every op but
 *     mul_mat's first operand refusing an X8 tensor when the graph is built.
 */
#include "tf.h"

#include "ggml-lite.h"
#include "gl-quants.h"

static void fill(float *v, int64_t n, tf_rng *r) {
    for (int64_t i = 0; i < n; i++) v[i] = tf_rand_normal(r) + (i % 7 == 0 ? 0.3f : 0.0f);
}

/* Row-layout weights [k, n] quantized with the reference quantizer. */
static void *make_rows(gl_type t, int64_t k, int64_t n, tf_rng *r) {
    const size_t row = gl_row_size(t, k);
    char *w = malloc(row * (size_t)n);
    float *tmp = malloc(sizeof(float) * (size_t)k);
    for (int64_t i = 0; i < n; i++) {
        fill(tmp, k, r);
        gl_quantize_rows(t, tmp, w + row * (size_t)i, 1, k);
    }
    free(tmp);
    return w;
}

/* Naive reference of row i of the weights times column x (quantized to Q8_0 and back, as
 * the kernels see it); *mag gets sum |w x|. */
static double naive_dot(gl_type t, const void *rows, int64_t i, const float *x, int64_t k,
                        double *mag) {
    const gl_type_traits *wt = gl_type_get(t), *qt = gl_type_get(GL_TYPE_Q8_0);
    float *w = malloc(sizeof(float) * (size_t)k), *xd = malloc(sizeof(float) * (size_t)k);
    void *xq = malloc(gl_row_size(GL_TYPE_Q8_0, k));
    wt->to_float((const char *)rows + gl_row_size(t, k) * (size_t)i, w, k);
    qt->from_float_ref(x, xq, k);
    qt->to_float(xq, xd, k);
    double s = 0, m = 0;
    for (int64_t l = 0; l < k; l++) {
        s += (double)w[l] * xd[l];
        m += fabs((double)w[l] * xd[l]);
    }
    free(w);
    free(xd);
    free(xq);
    *mag = m;
    return s;
}

static const gl_type x8_types[] = {GL_TYPE_Q4_0, GL_TYPE_Q8_0};

/* Calls kernel g over a whole [k, n] X8 matrix and m activation rows (made by g.yconvert),
 * column groups of nc_call, k in slices of kc (added in order): out[j * n + i]. */
static void run_kernel(const gl_gemm_kernel *g, gl_type t, const void *x8, int64_t k, int64_t n,
                       const void *yrows, int64_t m, int nc_call, int64_t kc, float *out) {
    const size_t yrow = (size_t)(k / 32) * g->yblock;
    const size_t grp = gl_row_size(t, k) * 8;
    for (int64_t k0 = 0; k0 < k; k0 += kc) {
        const int kl = (int)(k - k0 < kc ? k - k0 : kc);
        for (int64_t j = 0; j < m; j += nc_call) {
            const int nc = (int)(m - j < nc_call ? m - j : nc_call);
            const void *y[64];
            for (int c = 0; c < nc; c++)
                y[c] = (const char *)yrows + yrow * (size_t)(j + c) + (size_t)(k0 / 32) * g->yblock;
            for (int64_t i = 0; i < n; i += 8) {
                g->fn(kl, 8, nc, (const char *)x8 + grp * (size_t)(i / 8) + gl_row_size(t, k0) * 8,
                      grp, y, out + j * n + i, (size_t)n, k0 > 0);
            }
        }
    }
}

TF_TEST(reference_kernel_vs_naive) {
    tf_rng rng = {11};
    static const int64_t ks[] = {32, 96, 768};
    for (int ti = 0; ti < 2; ti++) {
        const gl_type t = x8_types[ti];
        const gl_gemm_kernel g = gl_type_gemm_x8_ref(t);
        TF_CHECK(g.fn && g.yconvert && g.mr == 8 && g.yblock == sizeof(block_q8_0s));
        if (!g.fn) continue;
        for (int ki = 0; ki < 3; ki++) {
            const int64_t k = ks[ki], n = 16, m = 5;
            void *rows = make_rows(t, k, n, &rng);
            void *x8 = malloc(gl_row_size(t, k) * (size_t)n);
            TF_CHECK(gl_repack_x8_rows(t, rows, gl_row_size(t, k), x8, n, k));
            float *x = malloc(sizeof(float) * (size_t)(k * m));
            fill(x, k * m, &rng);
            void *yr = malloc((size_t)(k / 32) * g.yblock * (size_t)m);
            for (int64_t j = 0; j < m; j++)
                g.yconvert(x + j * k, (char *)yr + (size_t)(k / 32) * g.yblock * (size_t)j, k);
            float *out = malloc(sizeof(float) * (size_t)(n * m));
            run_kernel(&g, t, x8, k, n, yr, m, 3, k, out);
            int bad = 0;
            for (int64_t j = 0; j < m; j++)
                for (int64_t i = 0; i < n; i++) {
                    double mag;
                    const double ref = naive_dot(t, rows, i, x + j * k, k, &mag);
                    if (!(fabs(out[j * n + i] - ref) <= 3e-5 * mag) && bad++ < 3)
                        TF_CHECK(false, "%s k=%lld: y[%lld,%lld] %.8g vs %.8g", gl_type_name(t),
                                 (long long)k, (long long)i, (long long)j, out[j * n + i], ref);
                }
            TF_CHECK(bad == 0, "%s k=%lld: %d bad", gl_type_name(t), (long long)k, bad);
            /* the correction the converter stores: -8 / -128 times the sum of the quants */
            const block_q8_0s *b = yr;
            int sum = 0;
            for (int l = 0; l < 32; l++) sum += b->qs[l];
            TF_CHECK(b->corr == (t == GL_TYPE_Q4_0 ? -8 : -128) * sum, "corr %d, sum %d",
                     (int)b->corr, sum);
            free(rows);
            free(x8);
            free(x);
            free(yr);
            free(out);
        }
    }
}

TF_TEST(simd_kernel_bit_identical_to_reference) {
    tf_rng rng = {12};
    int tested = 0;
    for (int ti = 0; ti < 2; ti++) {
        const gl_type t = x8_types[ti];
        const gl_gemm_kernel g = gl_type_gemm_x8(t), r = gl_type_gemm_x8_ref(t);
        if (!g.fn) continue;
        tested++;
        TF_CHECK(g.mr == 8 && g.yconvert && g.yblock == r.yblock && g.nc >= 1 &&
                 g.nc <= GL_GEMM_NC_MAX);
        const int64_t k = 320, n = 24, m = 19;
        void *rows = make_rows(t, k, n, &rng);
        void *x8 = malloc(gl_row_size(t, k) * (size_t)n);
        gl_repack_x8_rows(t, rows, gl_row_size(t, k), x8, n, k);
        float *x = malloc(sizeof(float) * (size_t)(k * m));
        fill(x, k * m, &rng);
        /* the activation rows of both converters are the same bytes */
        const size_t yrow = (size_t)(k / 32) * g.yblock;
        void *yg = malloc(yrow * (size_t)m), *yref = malloc(yrow * (size_t)m);
        for (int64_t j = 0; j < m; j++) {
            g.yconvert(x + j * k, (char *)yg + yrow * (size_t)j, k);
            r.yconvert(x + j * k, (char *)yref + yrow * (size_t)j, k);
        }
        TF_CHECK(memcmp(yg, yref, yrow * (size_t)m) == 0, "%s: activation rows differ",
                 gl_type_name(t));
        float *want = malloc(sizeof(float) * (size_t)(n * m)), *got = malloc(sizeof(float) * (size_t)(n * m));
        run_kernel(&r, t, x8, k, n, yref, m, 1, k, want);
        /* every call width, whole and sliced k (k-slices: add mode) */
        for (int nc = 1; nc <= g.nc; nc++) {
            for (int sl = 0; sl < 2; sl++) {
                const int64_t kc = sl ? 96 : k;
                float *w2 = want;
                float *tmp = NULL;
                if (sl) { /* the sliced reference: slices summed in order by the same kernel */
                    tmp = malloc(sizeof(float) * (size_t)(n * m));
                    run_kernel(&r, t, x8, k, n, yref, m, 1, kc, tmp);
                    w2 = tmp;
                }
                memset(got, 0xff, sizeof(float) * (size_t)(n * m));
                run_kernel(&g, t, x8, k, n, yg, m, nc, kc, got);
                TF_CHECK(memcmp(got, w2, sizeof(float) * (size_t)(n * m)) == 0,
                         "%s nc=%d kc=%lld: SIMD and reference differ (first %g vs %g)",
                         gl_type_name(t), nc, (long long)kc, got[0], w2[0]);
                free(tmp);
            }
        }
        /* nr < 8: only the first nr rows are written */
        float s[2 * 8];
        for (int i = 0; i < 16; i++) s[i] = -7.0f;
        const void *y2[2] = {yg, (const char *)yg + yrow};
        g.fn((int)k, 5, 2, x8, 0, y2, s, 8, false);
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 8; i++) {
                if (i < 5) TF_CHECK(s[c * 8 + i] == want[c * n + i], "c %d row %d", c, i);
                else TF_CHECK(s[c * 8 + i] == -7.0f, "row %d beyond nr written", i);
            }
        free(rows);
        free(x8);
        free(x);
        free(yg);
        free(yref);
        free(want);
        free(got);
    }
    if (!tested) tf_skip("no SIMD X8 kernel in this build (%s)", gl_simd_name());
}

/* ---- mul_mat through graphs ---- */

typedef struct built {
    gl_context *ctx;
    gl_tensor *w, *w8, *x, *y, *y8;
    void *packed;
    gl_graph *g;
} built;

static bool build(gl_type t, int64_t k, int64_t n, int64_t m, uint64_t seed, built *b) {
    memset(b, 0, sizeof *b);
    gl_error err = {0};
    const size_t wbytes = gl_row_size(t, k) * (size_t)n;
    b->ctx = gl_context_new((gl_context_params){.mem_size = 2 * wbytes + (size_t)(k * m) * 4 + (1 << 16)}, &err);
    if (!TF_CHECK(b->ctx, "%s", err.msg)) return false;
    tf_rng rng = {seed};
    b->w = gl_new_tensor_2d(b->ctx, t, k, n);
    b->w8 = gl_new_tensor_2d(b->ctx, t, k, n);
    b->x = gl_new_tensor_2d(b->ctx, GL_TYPE_F32, k, m);
    if (!TF_CHECK(b->w && b->w8 && b->x)) return false;
    void *rows = make_rows(t, k, n, &rng);
    memcpy(b->w->data, rows, wbytes);
    memcpy(b->w8->data, rows, wbytes);
    free(rows);
    fill(b->x->data, k * m, &rng);
    const size_t need = gl_repack_size(b->w8);
    const size_t padded = gl_row_size(t, k) * (size_t)((n + 7) / 8 * 8); /* whole groups of 8 */
    TF_CHECK(need == padded, "repack size %zu, expected %zu", need, padded);
    b->packed = aligned_alloc(64, (need + 63) / 64 * 64);
    const void *old = b->w8->data;
    if (!TF_CHECK(gl_repack(b->w8, b->packed, need, &err), "%s", err.msg)) return false;
    TF_CHECK(b->w8->layout == GL_LAYOUT_X8 && b->w8->data == b->packed);
    TF_CHECK(memcmp(old, b->w->data, wbytes) == 0, "the old data is only read");
    b->y = gl_mul_mat(b->ctx, b->w, b->x);
    b->y8 = gl_mul_mat(b->ctx, b->w8, b->x);
    b->g = gl_graph_new(b->ctx, 8);
    if (!TF_CHECK(b->y && b->y8 && b->g, "%s", gl_ctx_error(b->ctx) ? gl_ctx_error(b->ctx) : "?"))
        return false;
    gl_set_output(b->y);
    gl_set_output(b->y8);
    TF_CHECK(gl_graph_expand(b->g, b->y) == GL_OK && gl_graph_expand(b->g, b->y8) == GL_OK);
    return true;
}

static void unbuild(built *b) {
    gl_context_free(b->ctx);
    free(b->packed);
}

/* Computes with n_threads; copies y (rows) and y8 (X8) out. */
static bool run(built *b, int n_threads, float *y, float *y8) {
    gl_error err = {0};
    gl_graph_plan plan;
    if (!TF_CHECK(gl_graph_plan_memory(b->g, n_threads, &plan, &err) == GL_OK, "%s", err.msg))
        return false;
    const size_t size = (plan.buffer_size + plan.work_size + 63) / 64 * 64 + 64;
    void *buf = aligned_alloc(64, size);
    gl_pool *pool = gl_pool_new(n_threads, &err);
    const bool ok = TF_CHECK(gl_graph_alloc(b->g, &plan, buf, size, &err) == GL_OK, "%s", err.msg) &&
                    TF_CHECK(pool, "%s", err.msg) &&
                    TF_CHECK(gl_graph_compute(b->g, pool, &err) == GL_OK, "%s", err.msg);
    if (ok) {
        memcpy(y, b->y->data, sizeof(float) * (size_t)gl_nelements(b->y));
        memcpy(y8, b->y8->data, sizeof(float) * (size_t)gl_nelements(b->y8));
    }
    gl_pool_free(pool);
    free(buf);
    return ok;
}

static void mm_case(gl_type t, int64_t k, int64_t n, int64_t m, uint64_t seed) {
    built b1, b2;
    if (!build(t, k, n, m, seed, &b1)) {
        unbuild(&b1);
        return;
    }
    if (!build(t, k, n, m, seed, &b2)) {
        unbuild(&b1);
        unbuild(&b2);
        return;
    }
    const size_t ne = (size_t)(n * m);
    float *y1 = malloc(sizeof(float) * ne), *y81 = malloc(sizeof(float) * ne);
    float *y2 = malloc(sizeof(float) * ne), *y82 = malloc(sizeof(float) * ne);
    if (run(&b1, 1, y1, y81) && run(&b2, 2, y2, y82)) {
        TF_CHECK(memcmp(y81, y82, sizeof(float) * ne) == 0,
                 "%s k=%lld n=%lld m=%lld: X8 with 1 and 2 threads differ", gl_type_name(t),
                 (long long)k, (long long)n, (long long)m);
        int bad = 0;
        for (int64_t j = 0; j < m; j++) {
            for (int64_t i = 0; i < n; i++) {
                double mag;
                const double ref = naive_dot(t, b1.w->data, i, (const float *)b1.x->data + j * k, k, &mag);
                const float v = y81[j * n + i], r = y1[j * n + i];
                const bool ok = fabs(v - ref) <= 3e-5 * mag + 1e-30 && fabs(v - r) <= 1e-5 * mag + 1e-30;
                if (!ok && bad++ < 3)
                    TF_CHECK(false, "%s k=%lld n=%lld m=%lld: y[%lld,%lld] x8 %.9g rows %.9g ref %.9g",
                             gl_type_name(t), (long long)k, (long long)n, (long long)m, (long long)i,
                             (long long)j, v, r, ref);
            }
        }
        TF_CHECK(bad == 0, "%s k=%lld n=%lld m=%lld: %d bad outputs", gl_type_name(t), (long long)k,
                 (long long)n, (long long)m, bad);
    }
    free(y1);
    free(y2);
    free(y81);
    free(y82);
    unbuild(&b1);
    unbuild(&b2);
}

static bool can_repack(gl_type t) {
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 4096, .no_alloc = true}, NULL);
    gl_tensor *w = gl_new_tensor_2d(ctx, t, 64, 8);
    const bool ok = w && gl_repack_size(w) > 0;
    gl_context_free(ctx);
    return ok;
}

TF_TEST(mul_mat_x8_vs_rows_and_reference) {
    static const int64_t ks[] = {32, 64, 96, 768, 2080};
    static const int64_t ms[] = {1, 2, 3, 7, 8, 9, 64, 65};
    uint64_t seed = 100;
    int tested = 0;
    for (int ti = 0; ti < 2; ti++) {
        const gl_type t = x8_types[ti];
        if (!can_repack(t)) continue;
        tested++;
        /* every k with every m (n = 24: three groups, tiles split them among threads) */
        for (int ki = 0; ki < 5; ki++)
            for (int mi = 0; mi < 8; mi++) mm_case(t, ks[ki], 24, ms[mi], seed++);
        /* n = 8, 16, 776 (many tiles and chunks); 12 and 777: a last group padded with zero
         * rows, which the kernels compute but must not store */
        static const int64_t ns[] = {8, 16, 776, 12, 777, 3};
        for (int ni = 0; ni < 6; ni++) {
            mm_case(t, 96, ns[ni], 1, seed++);
            mm_case(t, 96, ns[ni], 9, seed++);
            mm_case(t, 96, ns[ni], 65, seed++);
        }
        mm_case(t, 2080, 776, 1, seed++);
        mm_case(t, 2080, 776, 65, seed++);
        mm_case(t, 2080, 777, 65, seed++);
        /* k long enough to be cut into k-slices (rows over 8 KiB) */
        const int64_t ksl = t == GL_TYPE_Q4_0 ? 29216 : 15488;
        mm_case(t, ksl, 16, 9, seed++);
        mm_case(t, ksl, 8, 1, seed++);
    }
    if (!tested) tf_skip("no X8 kernel in this build (%s)", gl_simd_name());
}

/* ---- refusals ---- */

TF_TEST(repack_size_refusals) {
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1 << 16}, NULL);
    gl_tensor *f32 = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 8);
    gl_tensor *q41 = gl_new_tensor_2d(ctx, GL_TYPE_Q4_1, 64, 8);
    gl_tensor *odd = gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 64, 12);
    gl_tensor *q3d = gl_new_tensor_3d(ctx, GL_TYPE_Q4_0, 64, 8, 2);
    gl_tensor *q40 = gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 64, 16);
    gl_tensor *q80 = gl_new_tensor_2d(ctx, GL_TYPE_Q8_0, 64, 16);
    gl_tensor *view = gl_view_2d(ctx, q40, 64, 8, q40->nb[1], 0);
    TF_CHECK(gl_ctx_ok(ctx));
    TF_CHECK(gl_repack_size(NULL) == 0);
    TF_CHECK(gl_repack_size(f32) == 0, "F32");
    TF_CHECK(gl_repack_size(q41) == 0, "Q4_1");
    TF_CHECK(gl_repack_size(odd) == (gl_type_gemm_x8(GL_TYPE_Q4_0).fn ? gl_row_size(GL_TYPE_Q4_0, 64) * 16 : 0),
             "ne1 %% 8 != 0: padded to 16 rows");
    TF_CHECK(gl_repack_size(q3d) == 0, "3-D");
    TF_CHECK(gl_repack_size(view) == 0, "view");
    const bool have4 = gl_type_gemm_x8(GL_TYPE_Q4_0).fn != NULL;
    const bool have8 = gl_type_gemm_x8(GL_TYPE_Q8_0).fn != NULL;
    TF_CHECK(gl_repack_size(q40) == (have4 ? gl_nbytes(q40) : 0));
    TF_CHECK(gl_repack_size(q80) == (have8 ? gl_nbytes(q80) : 0));
#if defined(GL_NO_SIMD)
    TF_CHECK(!have4 && !have8, "no X8 kernel without SIMD");
#endif
    gl_error err = {0};
    char *buf = aligned_alloc(64, 4096);
    TF_CHECK(!gl_repack(f32, buf, 4096, &err) && strstr(err.msg, "X8"), "F32: '%s'", err.msg);
    TF_CHECK(!gl_repack(NULL, buf, 4096, &err) && err.msg[0]);
    if (have4) {
        err.msg[0] = '\0';
        TF_CHECK(!gl_repack(q40, buf, gl_nbytes(q40) - 1, &err) && strstr(err.msg, "needs"),
                 "too small: '%s'", err.msg);
        TF_CHECK(!gl_repack(q40, buf + 8, 1024, &err) && strstr(err.msg, "aligned"), "'%s'", err.msg);
        TF_CHECK(!gl_repack(q40, q40->data, 4096, &err) && strstr(err.msg, "overlaps"), "'%s'", err.msg);
        TF_CHECK(q40->layout == GL_LAYOUT_ROWS, "failed repacks leave the tensor alone");
        TF_CHECK(gl_repack(q40, buf, 4096, &err), "%s", err.msg);
        TF_CHECK(q40->layout == GL_LAYOUT_X8 && q40->data == buf);
        TF_CHECK(gl_repack_size(q40) == 0, "already X8");
        TF_CHECK(!gl_repack(q40, buf + 2048, 2048, &err) && strstr(err.msg, "already"), "'%s'", err.msg);
    } else {
        TF_CHECK(!gl_repack(q40, buf, 4096, &err) && strstr(err.msg, "X8"), "'%s'", err.msg);
    }
    free(buf);
    gl_context_free(ctx);
}

/* A fresh context per refusal (the first error is the one recorded). The X8 tensor is a
 * header marked X8 by hand, so these run in every build; ops that take only float tensors get
 * an F32 one marked X8 (which gl_repack never makes), so that the layout check, not the type
 * check, is what refuses it. */
typedef enum { R_VIEW, R_RESHAPE, R_TRANSPOSE, R_ADD, R_CPY_INTO, R_CONT, R_MUL_MAT_X,
               R_SCALE, R_COUNT } refusal;

static gl_tensor *try_op(gl_context *ctx, refusal r, gl_tensor *w8, gl_tensor *f8, gl_tensor *f,
                         gl_tensor *ids) {
    switch (r) {
    case R_VIEW: return gl_view_2d(ctx, w8, 64, 4, w8->nb[1], 0);
    case R_RESHAPE: return gl_reshape_2d(ctx, w8, 128, 4);
    case R_TRANSPOSE: return gl_transpose(ctx, f8);
    case R_ADD: return gl_add(ctx, f, f8);
    case R_CPY_INTO: return gl_cpy(ctx, gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 64, 8), w8);
    case R_CONT: return gl_cont(ctx, w8);
    case R_MUL_MAT_X: return gl_mul_mat(ctx, f, f8);
    case R_SCALE: return gl_scale(ctx, f8, 2.0f);
    default: return NULL;
    }
}

TF_TEST(ops_refuse_x8_tensors) {
    for (int r = 0; r < R_COUNT; r++) {
        gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1 << 16, .no_alloc = true}, NULL);
        gl_tensor *w8 = gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 64, 8);
        gl_tensor *f8 = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 8);
        gl_tensor *f = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 8);
        gl_tensor *ids = gl_new_tensor_1d(ctx, GL_TYPE_I32, 2);
        gl_set_name(w8, "blk.0.ffn_up.weight");
        gl_set_name(f8, "blk.0.ffn_up.weight");
        w8->layout = GL_LAYOUT_X8;
        f8->layout = GL_LAYOUT_X8;
        TF_CHECK(gl_ctx_ok(ctx));
        gl_tensor *t = try_op(ctx, (refusal)r, w8, f8, f, ids);
        const char *e = gl_ctx_error(ctx);
        TF_CHECK(t == NULL && e && strstr(e, "repacked (X8)") && strstr(e, "blk.0.ffn_up.weight"),
                 "case %d: %s", r, e ? e : "(no error)");
        gl_context_free(ctx);
    }
    /* what stays allowed: mul_mat's first operand, get_rows' table */
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1 << 16, .no_alloc = true}, NULL);
    gl_tensor *w8 = gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 64, 8);
    gl_tensor *x = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 3);
    w8->layout = GL_LAYOUT_X8;
    gl_tensor *y = gl_mul_mat(ctx, w8, x);
    TF_CHECK(y && gl_ctx_ok(ctx) && y->layout == GL_LAYOUT_ROWS, "%s", gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "");
    gl_tensor *ids = gl_new_tensor_1d(ctx, GL_TYPE_I32, 2);
    TF_CHECK(gl_get_rows(ctx, w8, ids) != NULL && gl_ctx_ok(ctx), "%s", gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "");
    /* results of ops are row-layout tensors: ops on them are fine */
    TF_CHECK(gl_scale(ctx, y, 2.0f) != NULL && gl_ctx_ok(ctx));
    gl_context_free(ctx);
}

/* get_rows of an X8 table (a tied embedding: the output mul_mat reads it too) gives the rows
 * the row layout gives, bit for bit; an id out of range gives a zero row. The X8 data is made
 * with gl_repack_x8_rows and marked by hand, so this runs in every build. */
TF_TEST(get_rows_reads_x8_tables) {
    for (size_t ti = 0; ti < sizeof x8_types / sizeof x8_types[0]; ti++) {
        const gl_type t = x8_types[ti];
        const int64_t k = 96, n = 24;
        tf_rng r = {77 + ti};
        void *rows = make_rows(t, k, n, &r);
        const size_t rs = gl_row_size(t, k);
        void *x8 = aligned_alloc(64, (rs * (size_t)n + 63) / 64 * 64);
        TF_CHECK(gl_repack_x8_rows(t, rows, rs, x8, n, k));
        int32_t idv[6] = {0, 7, 8, 23, 13, 24};
        float out[2][6 * 96];
        for (int v = 0; v < 2; v++) {
            gl_context *wctx = gl_context_new((gl_context_params){.mem_size = 1 << 20}, NULL);
            gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1 << 16, .no_alloc = true}, NULL);
            gl_tensor *w = gl_new_tensor_2d(wctx, t, k, n);
            memcpy(w->data, v ? x8 : rows, rs * (size_t)n);
            if (v) w->layout = GL_LAYOUT_X8;
            gl_tensor *ids = gl_new_tensor_1d(wctx, GL_TYPE_I32, 6);
            memcpy(ids->data, idv, sizeof idv);
            gl_tensor *y = gl_get_rows(ctx, w, ids);
            gl_graph *g = gl_graph_new(ctx, 8);
            gl_graph_expand(g, y);
            gl_error err = {0};
            gl_graph_plan plan;
            void *buf = NULL;
            gl_pool *pool = gl_pool_new(2, &err);
            bool ok = y && pool && gl_graph_plan_memory(g, 2, &plan, &err) == GL_OK;
            if (ok) {
                const size_t size = (plan.buffer_size + plan.work_size + 63) / 64 * 64 + 64;
                buf = aligned_alloc(64, size);
                ok = gl_graph_alloc(g, &plan, buf, size, &err) == GL_OK &&
                     gl_graph_compute(g, pool, &err) == GL_OK;
            }
            if (TF_CHECK(ok, "%s", err.msg)) memcpy(out[v], y->data, sizeof out[v]);
            gl_pool_free(pool);
            free(buf);
            gl_context_free(ctx);
            gl_context_free(wctx);
        }
        TF_CHECK(!memcmp(out[0], out[1], sizeof out[0]), "%s: X8 rows differ", gl_type_name(t));
        bool zero = true;
        for (int i = 0; i < 96; i++) zero = zero && out[1][5 * 96 + i] == 0.0f;
        TF_CHECK(zero, "id out of range gives a zero row");
        free(x8);
        free(rows);
    }
}

/* Regression (issue 14): NaN/inf activations made the AVX2 activation quantizer add
 * INT_MIN conversions into the correction (signed overflow in mult * sum). Every activation
 * quantizer now gives the reference's bytes for such blocks, and the correction matches. */
TF_TEST(activation_quantizers_nan_inf_blocks) {
    float x[4 * 32];
    for (int i = 0; i < 4 * 32; i++) x[i] = (float)((i * 37) % 19) - 9.0f;
    x[3] = NAN;                          /* block 0: one NaN */
    x[32 + 5] = INFINITY;                /* block 1: +inf (d = inf, id = 0) */
    x[32 + 6] = -INFINITY;
    for (int i = 64; i < 96; i++) x[i] = i % 2 ? 1e-40f : -3e-41f; /* block 2: subnormal d */
    for (int i = 96; i < 128; i++) x[i] = NAN; /* block 3: all NaN */
    block_q8_0 ref[4], fast[4];
    gl_quantize_row_q8_0_ref(x, ref, 128);
    gl_type_get(GL_TYPE_Q8_0)->from_float(x, fast, 128);
    for (int b = 0; b < 4; b++)
        TF_CHECK(!memcmp(ref[b].qs, fast[b].qs, 32), "block %d: fast Q8_0 quants differ from ref", b);
    for (int ti = 0; ti < 2; ti++) {
        const gl_type t = x8_types[ti];
        const gl_gemm_kernel ks[2] = {gl_type_gemm_x8(t), gl_type_gemm_x8_ref(t)};
        for (int v = 0; v < 2; v++) {
            if (!ks[v].fn) continue;
            block_q8_0s y[4];
            ks[v].yconvert(x, y, 128);
            for (int b = 0; b < 4; b++) {
                int sum = 0;
                for (int l = 0; l < 32; l++) sum += y[b].qs[l];
                TF_CHECK(!memcmp(y[b].qs, ref[b].qs, 32), "%s block %d quants", gl_type_name(t), b);
                TF_CHECK(y[b].corr == (t == GL_TYPE_Q4_0 ? -8 : -128) * sum, "%s block %d corr %d sum %d",
                         gl_type_name(t), b, (int)y[b].corr, sum);
            }
        }
    }
}

TF_MAIN
