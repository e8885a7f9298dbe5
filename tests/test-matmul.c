/*
 * test-matmul — gl_mul_mat through the public graph API against a naive double reference.
 *
 * The reference multiplies the dequantized weights by the activations after the same
 * conversion the kernel applies (x quantized to the weight's vec_dot_type, then dequantized),
 * in double. Tolerance per output: 3e-5 * sum_l |w_l x_l|, plus for Q4_1/Q5_1 the rounding of
 * the Q8_1 block sums s to fp16: 2^-10 * sum_blocks |m_w * s_x|.
 * 1 and 2 threads must give bit-identical results: every output element is one vec_dot (or
 * one register-blocked gemm sequence, the same in every tile) over the same bytes, whichever
 * thread computes it.
 */
#include "tf.h"

#include "ggml-lite.h"
#include "gl-quants.h"

static const gl_type mm_types[] = {GL_TYPE_F32,  GL_TYPE_F16,  GL_TYPE_BF16, GL_TYPE_Q4_0,
                                   GL_TYPE_Q4_1, GL_TYPE_Q5_0, GL_TYPE_Q5_1, GL_TYPE_Q8_0,
                                   GL_TYPE_IQ4_NL};
#define N_TYPES (int)(sizeof mm_types / sizeof mm_types[0])

enum { X_CONTIG, X_TRANSPOSED, X_ROW_GAPS, X_PERMUTED };
enum { W_CONTIG, W_WIDE_ROWS };

typedef struct mm_case {
    gl_type wt;
    int64_t k, n, m;
    int64_t b2, b3; /* batch of x */
    int64_t w2, w3; /* batch of w (divides b2, b3) */
    int xlayout, wlayout;
} mm_case;

typedef struct mm_built {
    gl_context *ctx;
    gl_tensor *w, *x, *y;
    gl_graph *g;
} mm_built;

static void fill_uniform(float *v, int64_t n, tf_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) v[i] = tf_rand_normal(r) * scale + (i % 7 == 0 ? 0.3f : 0.0f);
}

/* Weights: the view seen by mul_mat is [k, n, w2, w3], possibly with rows wider than k. */
static gl_tensor *make_w(gl_context *ctx, const mm_case *c, tf_rng *rng) {
    const int64_t kk = c->wlayout == W_WIDE_ROWS ? c->k + 64 : c->k;
    gl_tensor *base = gl_new_tensor_4d(ctx, c->wt, kk, c->n, c->w2, c->w3);
    if (!base) return NULL;
    const int64_t rows = c->n * c->w2 * c->w3;
    float *tmp = malloc(sizeof(float) * (size_t)kk);
    for (int64_t r = 0; r < rows; r++) {
        fill_uniform(tmp, kk, rng, 1.0f);
        gl_quantize_rows(c->wt, tmp, (char *)base->data + (size_t)r * base->nb[1], 1, kk);
    }
    free(tmp);
    if (c->wlayout == W_CONTIG) return base;
    /* a view of the first k columns: nb1 exceeds the row size of k elements */
    return gl_view_4d(ctx, base, c->k, c->n, c->w2, c->w3, base->nb[1], base->nb[2], base->nb[3],
                      gl_row_size(c->wt, 32)); /* skip the first block of each row */
}

/* Activations: [k, m, b2, b3] F32 in several memory layouts. */
static gl_tensor *make_x(gl_context *ctx, const mm_case *c, tf_rng *rng) {
    gl_tensor *x = NULL;
    switch (c->xlayout) {
    case X_CONTIG:
        x = gl_new_tensor_4d(ctx, GL_TYPE_F32, c->k, c->m, c->b2, c->b3);
        break;
    case X_TRANSPOSED: { /* nb[0] = m * 4: elements of a row are not adjacent */
        gl_tensor *t = gl_new_tensor_4d(ctx, GL_TYPE_F32, c->m, c->k, c->b2, c->b3);
        x = t ? gl_transpose(ctx, t) : NULL;
        break;
    }
    case X_ROW_GAPS: { /* rows of k inside rows of k + 5 */
        gl_tensor *t = gl_new_tensor_4d(ctx, GL_TYPE_F32, c->k + 5, c->m, c->b2, c->b3);
        x = t ? gl_view_4d(ctx, t, c->k, c->m, c->b2, c->b3, t->nb[1], t->nb[2], t->nb[3],
                           3 * sizeof(float))
              : NULL;
        break;
    }
    case X_PERMUTED: { /* stored as [k, b2, m, b3], seen as [k, m, b2, b3] */
        gl_tensor *t = gl_new_tensor_4d(ctx, GL_TYPE_F32, c->k, c->b2, c->m, c->b3);
        x = t ? gl_permute(ctx, t, 0, 2, 1, 3) : NULL;
        break;
    }
    }
    if (!x) return NULL;
    for (int64_t i3 = 0; i3 < c->b3; i3++)
        for (int64_t i2 = 0; i2 < c->b2; i2++)
            for (int64_t i1 = 0; i1 < c->m; i1++)
                for (int64_t i0 = 0; i0 < c->k; i0++)
                    gl_set_f32_nd(x, i0, i1, i2, i3, tf_rand_normal(rng) * 2.0f);
    return x;
}

static bool mm_build(const mm_case *c, uint64_t seed, mm_built *b) {
    gl_error err = {0};
    memset(b, 0, sizeof *b);
    b->ctx = gl_context_new((gl_context_params){.mem_size = 16u << 20}, &err);
    if (!TF_CHECK(b->ctx != NULL, "%s", err.msg)) return false;
    tf_rng rng = {seed};
    b->w = make_w(b->ctx, c, &rng);
    b->x = make_x(b->ctx, c, &rng);
    b->y = b->w && b->x ? gl_mul_mat(b->ctx, b->w, b->x) : NULL;
    b->g = gl_graph_new(b->ctx, 64);
    if (!TF_CHECK(b->y && b->g && gl_ctx_ok(b->ctx), "build: %s",
                  gl_ctx_error(b->ctx) ? gl_ctx_error(b->ctx) : "?")) {
        return false;
    }
    TF_CHECK(gl_graph_expand(b->g, b->y) == GL_OK);
    return true;
}

/* Copies t's values into out as dense [ne0, ne1, ne2, ne3]. */
static void mm_read_dense(const gl_tensor *t, float *out) {
    int64_t o = 0;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++) out[o++] = gl_get_f32_nd(t, i0, i1, i2, i3);
}

/* Runs the graph with n_threads; returns the result as dense [n, m, b2, b3] (caller frees).
 * The n_keep tensors of keep (marked as outputs before planning) are also read, one after the
 * other into keep_out, before the graph's buffer is freed. */
static float *mm_run_keep(mm_built *b, int n_threads, gl_tensor *const *keep, int n_keep, float *keep_out) {
    gl_error err = {0};
    gl_graph_plan plan;
    if (!TF_CHECK(gl_graph_plan_memory(b->g, n_threads, &plan, &err) == GL_OK, "%s", err.msg))
        return NULL;
    const size_t size = plan.buffer_size + plan.work_size;
    void *buf = aligned_alloc(64, size ? (size + 63) / 64 * 64 : 64);
    gl_pool *pool = gl_pool_new(n_threads, &err);
    float *out = NULL;
    if (TF_CHECK(gl_graph_alloc(b->g, &plan, buf, size, &err) == GL_OK, "%s", err.msg) &&
        TF_CHECK(pool != NULL, "%s", err.msg) &&
        TF_CHECK(gl_graph_compute(b->g, pool, &err) == GL_OK, "%s", err.msg)) {
        out = malloc(sizeof(float) * (size_t)gl_nelements(b->y));
        mm_read_dense(b->y, out);
        for (int i = 0; i < n_keep; i++) {
            mm_read_dense(keep[i], keep_out);
            keep_out += gl_nelements(keep[i]);
        }
    }
    gl_pool_free(pool);
    free(buf);
    return out;
}

static float *mm_run(mm_built *b, int n_threads) { return mm_run_keep(b, n_threads, NULL, 0, NULL); }

/* Compares out with the double reference; returns the number of bad elements. */
static int mm_check(const mm_case *c, const mm_built *b, const float *out) {
    const gl_type_traits *wt = gl_type_get(c->wt);
    const gl_type_traits *vt = gl_type_get(wt->vec_dot_type);
    const int64_t k = c->k;
    float *wrow = malloc(sizeof(float) * (size_t)k), *xcol = malloc(sizeof(float) * (size_t)k);
    float *xdeq = malloc(sizeof(float) * (size_t)k);
    void *xq = malloc(gl_row_size(wt->vec_dot_type, k));
    int bad = 0;
    int64_t o = 0;
    for (int64_t i3 = 0; i3 < c->b3; i3++) {
        for (int64_t i2 = 0; i2 < c->b2; i2++) {
            for (int64_t j = 0; j < c->m; j++) {
                for (int64_t l = 0; l < k; l++) xcol[l] = gl_get_f32_nd(b->x, l, j, i2, i3);
                vt->from_float_ref(xcol, xq, k);
                vt->to_float(xq, xdeq, k);
                for (int64_t i = 0; i < c->n; i++, o++) {
                    const int64_t w2 = i2 / (c->b2 / c->w2), w3 = i3 / (c->b3 / c->w3);
                    const char *wr = (const char *)b->w->data + i * b->w->nb[1] +
                                     w2 * b->w->nb[2] + w3 * b->w->nb[3];
                    wt->to_float(wr, wrow, k);
                    double ref = 0, mag = 0, sterm = 0;
                    for (int64_t l = 0; l < k; l++) {
                        ref += (double)wrow[l] * xdeq[l];
                        mag += fabs((double)wrow[l] * xdeq[l]);
                    }
                    if (c->wt == GL_TYPE_Q4_1 || c->wt == GL_TYPE_Q5_1) {
                        for (int64_t blk = 0; blk < k / 32; blk++) {
                            const gl_fp16 m = c->wt == GL_TYPE_Q4_1
                                                  ? ((const block_q4_1 *)wr)[blk].m
                                                  : ((const block_q5_1 *)wr)[blk].m;
                            sterm += fabs((double)gl_fp16_to_fp32(m) *
                                          gl_fp16_to_fp32(((const block_q8_1 *)xq)[blk].s)) / 1024;
                        }
                    }
                    const double tol = 3e-5 * mag + sterm + 1e-30;
                    if (!(fabs(out[o] - ref) <= tol) && bad++ < 3) {
                        TF_CHECK(false, "%s k=%lld n=%lld m=%lld: y[%lld,%lld,%lld,%lld] %.8g vs %.8g",
                                 wt->name, (long long)k, (long long)c->n, (long long)c->m,
                                 (long long)i, (long long)j, (long long)i2, (long long)i3, out[o], ref);
                    }
                }
            }
        }
    }
    free(wrow);
    free(xcol);
    free(xdeq);
    free(xq);
    return bad;
}

/* Builds (twice, from the same seed: a graph is allocated once), runs with 1 and 2 threads,
 * checks both against the reference and each other. */
static void mm_case_run(const mm_case *c, uint64_t seed) {
    mm_built b1, b2;
    const bool ok1 = mm_build(c, seed, &b1), ok2 = ok1 && mm_build(c, seed, &b2);
    float *o1 = ok2 ? mm_run(&b1, 1) : NULL;
    float *o2 = ok2 ? mm_run(&b2, 2) : NULL;
    if (o1 && o2) {
        const int bad = mm_check(c, &b1, o1);
        TF_CHECK(bad == 0, "%s: %d bad outputs", gl_type_name(c->wt), bad);
        const size_t bytes = sizeof(float) * (size_t)(c->n * c->m * c->b2 * c->b3);
        TF_CHECK(memcmp(o1, o2, bytes) == 0, "%s k=%lld n=%lld m=%lld: 1 vs 2 threads differ",
                 gl_type_name(c->wt), (long long)c->k, (long long)c->n, (long long)c->m);
    }
    free(o1);
    free(o2);
    gl_context_free(b1.ctx);
    if (ok1) gl_context_free(b2.ctx);
}

TF_TEST(odd_shapes_every_type) {
    static const int64_t ks[] = {32, 96, 256};
    static const int64_t dims[] = {1, 3, 17, 33};
    uint64_t seed = 1;
    for (int t = 0; t < N_TYPES; t++)
        for (size_t ki = 0; ki < 3; ki++)
            for (size_t ni = 0; ni < 4; ni++)
                for (size_t mi = 0; mi < 4; mi++) {
                    if (ki != 1 && ni != mi) continue; /* full grid for k=96, diagonal otherwise */
                    const mm_case c = {mm_types[t], ks[ki], dims[ni], dims[mi], 1, 1, 1, 1,
                                       X_CONTIG, W_CONTIG};
                    mm_case_run(&c, seed++);
                }
}

TF_TEST(larger_matvec_and_matmat) {
    /* big enough for several chunks per thread on both the mat-vec and the tiled path */
    for (int t = 0; t < N_TYPES; t++) {
        const mm_case mv = {mm_types[t], 512, 300, 1, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
        mm_case_run(&mv, 100 + (uint64_t)t);
        const mm_case mm = {mm_types[t], 256, 70, 37, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
        mm_case_run(&mm, 200 + (uint64_t)t);
    }
}

TF_TEST(non_contiguous_x) {
    uint64_t seed = 300;
    for (int t = 0; t < N_TYPES; t++) {
        for (int layout = X_TRANSPOSED; layout <= X_PERMUTED; layout++) {
            const mm_case c = {mm_types[t], 64, 17, 5, layout == X_PERMUTED ? 3 : 1, 1, 1, 1,
                               layout, W_CONTIG};
            mm_case_run(&c, seed++);
        }
    }
}

TF_TEST(weight_views_with_wide_rows) {
    uint64_t seed = 400;
    for (int t = 0; t < N_TYPES; t++) {
        const mm_case c = {mm_types[t], 64, 9, 4, 1, 1, 1, 1, X_CONTIG, W_WIDE_ROWS};
        mm_case_run(&c, seed++);
        const mm_case v = {mm_types[t], 96, 33, 1, 1, 1, 1, 1, X_ROW_GAPS, W_WIDE_ROWS};
        mm_case_run(&v, seed++);
    }
}

TF_TEST(broadcast_over_batches) {
    uint64_t seed = 500;
    for (int t = 0; t < N_TYPES; t++) {
        /* w [k, n, 2, 1] against x [k, m, 6, 2]: each w matrix serves 3 x batches (x2 in dim 3) */
        const mm_case c = {mm_types[t], 64, 7, 3, 6, 2, 2, 1, X_CONTIG, W_CONTIG};
        mm_case_run(&c, seed++);
        const mm_case p = {mm_types[t], 32, 5, 4, 4, 1, 4, 1, X_PERMUTED, W_CONTIG};
        mm_case_run(&p, seed++);
    }
}

TF_TEST(gemm_tails_and_k_slices) {
    /* mat-mat (m > 1) goes through the register-blocked kernels where the build has them:
     * k not a multiple of the SIMD width (F32/F16 only), m and n not multiples of the tile,
     * strided x, and k long enough (weight rows over 16 KiB) to be cut into k-slices */
    uint64_t seed = 600;
    static const int64_t odd_k[] = {37, 100};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < 2; i++) {
            const mm_case c = {mm_types[t], odd_k[i], 9, 7, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
            mm_case_run(&c, seed++);
            const mm_case g = {mm_types[t], odd_k[i], 6, 5, 2, 1, 1, 1, X_ROW_GAPS, W_CONTIG};
            mm_case_run(&g, seed++);
        }
    }
    const struct { gl_type t; int64_t k; } sliced[] = {
        {GL_TYPE_F32, 4160}, {GL_TYPE_F16, 8224}, {GL_TYPE_Q8_0, 15488}, {GL_TYPE_Q4_0, 29216}};
    for (size_t i = 0; i < sizeof sliced / sizeof sliced[0]; i++) {
        const mm_case c = {sliced[i].t, sliced[i].k, 6, 7, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
        mm_case_run(&c, seed++);
    }
}

/* Where the gemm kernel also serves the mat-vec (gemm.matvec: F16 with AVX2), a column
 * computed alone (one sequence's decode step) is bit-identical to the same column inside a
 * mat-mat (a batched step), unsliced and in k-slices. */
TF_TEST(matvec_equals_matmat_column) {
    static const int64_t ks[] = {100, 768, 8224};
    int n_cases = 0;
    for (int t = 0; t < N_TYPES; t++) {
        if (!gl_type_gemm(mm_types[t]).matvec) continue;
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            const mm_case one = {mm_types[t], ks[i], 45, 1, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
            const mm_case two = {mm_types[t], ks[i], 45, 2, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
            const mm_case six = {mm_types[t], ks[i], 45, 6, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
            mm_built b[3];
            /* the same seed: W, then X column 0 first, are the same random values */
            const bool ok = mm_build(&one, 700 + i, &b[0]) && mm_build(&two, 700 + i, &b[1]) &&
                            mm_build(&six, 700 + i, &b[2]);
            float *o[3] = {NULL, NULL, NULL};
            for (int j = 0; ok && j < 3; j++) o[j] = mm_run(&b[j], j == 1 ? 2 : 1);
            if (o[0] && o[1] && o[2]) {
                TF_CHECK(mm_check(&one, &b[0], o[0]) == 0, "%s k=%lld: mat-vec vs reference",
                         gl_type_name(mm_types[t]), (long long)ks[i]);
                TF_CHECK(memcmp(o[0], o[1], 45 * sizeof(float)) == 0 &&
                             memcmp(o[0], o[2], 45 * sizeof(float)) == 0,
                         "%s k=%lld: mat-vec differs from column 0 of the mat-mat",
                         gl_type_name(mm_types[t]), (long long)ks[i]);
                n_cases++;
            }
            for (int j = 0; j < 3; j++) {
                free(o[j]);
                gl_context_free(b[j].ctx);
            }
        }
    }
    if (n_cases == 0) tf_skip("no gemm kernel serves the mat-vec in this kernel set");
}

TF_TEST(work_size_and_rejections) {
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1 << 20, .no_alloc = true}, &err);
    gl_tensor *w = gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 64, 8);
    gl_tensor *x = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 3);
    gl_tensor *y = gl_mul_mat(ctx, w, x);
    TF_CHECK(y && y->ne[0] == 8 && y->ne[1] == 3 && y->type == GL_TYPE_F32);
    /* 3 rows of Q8_0 (68 bytes each, padded to a cache line) + per-thread gather */
    const size_t ws1 = gl_mul_mat_work_size(y, 1), ws2 = gl_mul_mat_work_size(y, 2);
    TF_CHECK(ws1 >= 3 * 68 && ws2 > ws1, "%zu %zu", ws1, ws2);
    gl_tensor *wf = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 8);
    gl_tensor *yf = gl_mul_mat(ctx, wf, x);
    TF_CHECK(yf && gl_mul_mat_work_size(yf, 2) == 0, "F32 weights read x in place");
    gl_tensor *bad = gl_new_tensor_2d(ctx, GL_TYPE_F32, 32, 3);
    TF_CHECK(gl_mul_mat(ctx, w, bad) == NULL, "k mismatch is rejected");
    gl_context_free(ctx);
}

/* A mat-vec of one X column gives the bits of that column of the mat-mat, for the float
 * weight types on every kernel set (their mat-vec runs the gemm kernel with one column, over
 * the same k-slices; BF16 and scalar builds take vec_dot both ways). A decode step then
 * matches the prompt's batch exactly, which an F16 KV cache needs (test-decoder). */
TF_TEST(matvec_bits_equal_matmat_column) {
    static const struct { gl_type t; int64_t k; } cases[] = {
        {GL_TYPE_F32, 37}, {GL_TYPE_F32, 100}, {GL_TYPE_F32, 4160}, {GL_TYPE_F16, 64},
        {GL_TYPE_F16, 100}, {GL_TYPE_F16, 8224}, {GL_TYPE_BF16, 96}};
    enum { N = 9, M = 6 };
    uint64_t seed = 700;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const mm_case c = {cases[ci].t, cases[ci].k, N, M, 1, 1, 1, 1, X_CONTIG, W_CONTIG};
        mm_built b;
        if (!mm_build(&c, seed++, &b)) {
            gl_context_free(b.ctx);
            continue;
        }
        gl_tensor *one[M];
        bool ok = true;
        for (int j = 0; j < M; j++) {
            gl_tensor *col = gl_view_2d(b.ctx, b.x, c.k, 1, b.x->nb[1], (size_t)j * b.x->nb[1]);
            one[j] = col ? gl_mul_mat(b.ctx, b.w, col) : NULL;
            if (one[j]) gl_set_output(one[j]); /* its buffer is not reused by a later node */
            ok = ok && one[j] && gl_graph_expand(b.g, one[j]) == GL_OK;
        }
        float ones[M * N];
        float *all = ok ? mm_run_keep(&b, 2, one, M, ones) : NULL; /* every node of the graph */
        if (TF_CHECK(all != NULL, "%s k=%lld: build", gl_type_name(c.wt), (long long)c.k)) {
            int differ = 0;
            for (int j = 0; j < M; j++)
                for (int i = 0; i < N; i++) differ += memcmp(&ones[j * N + i], &all[j * N + i], sizeof(float)) != 0;
            TF_CHECK(differ == 0, "%s k=%lld: %d of %d mat-vec outputs differ from the mat-mat's",
                     gl_type_name(c.wt), (long long)c.k, differ, N * M);
        }
        free(all);
        gl_context_free(b.ctx);
    }
}

/* IQ4_XS (super-blocks of 256, Q8_K activations): the mat-vec (vec_dot) and the mat-mat
 * (its gemm tile where the build has one) against the reference, with strided x, and weight
 * rows over 8 KiB (61 super-blocks) so that the mat-mat is cut into k-slices. */
TF_TEST(iq4_xs_matvec_and_matmat) {
    static const mm_case cases[] = {
        {GL_TYPE_IQ4_XS, 256, 9, 1, 1, 1, 1, 1, X_CONTIG, W_CONTIG},
        {GL_TYPE_IQ4_XS, 256, 9, 7, 1, 1, 1, 1, X_CONTIG, W_CONTIG},
        {GL_TYPE_IQ4_XS, 512, 17, 5, 1, 1, 1, 1, X_ROW_GAPS, W_CONTIG},
        {GL_TYPE_IQ4_XS, 768, 33, 13, 2, 1, 1, 1, X_PERMUTED, W_CONTIG},
        {GL_TYPE_IQ4_XS, 15616, 6, 7, 1, 1, 1, 1, X_CONTIG, W_CONTIG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) mm_case_run(&cases[i], 800 + (uint64_t)i);
}

TF_MAIN
