/*
 * tf-quants.h — what the quantization tests share (after tf.h and ggml-lite.h):
 *   tfq_golden_input(words, x, n)        a golden header's input (float bit patterns) as floats
 *   tfq_check_golden(name, got, want, n, block)
 *                                        bytes equal to a golden header's, else one failed
 *                                        check naming the first differing byte and its block
 *   tfq_dot_ref(a, b, n, &mag)           sum a_i b_i in double (and sum |a_i b_i| in mag)
 *   tfq_mul_mat(type, wq, k, nr, x, m, n_threads)
 *                                        y = W x through a graph (malloc-ed, nr * m floats,
 *                                        column j at y + j * nr), NULL after a failed check
 * The golden headers (tests/quant*_golden.h) are written by scripts/quant*_ref.py through
 * scripts/golden_header.py.
 */
#ifndef TF_QUANTS_H
#define TF_QUANTS_H

static inline void tfq_golden_input(const uint32_t *words, float *x, int n) {
    for (int i = 0; i < n; i++) memcpy(&x[i], &words[i], sizeof x[i]);
}

static inline bool tfq_check_golden(const char *name, const uint8_t *got, const uint8_t *want,
                                    size_t n, size_t block) {
    size_t first = 0;
    while (first < n && got[first] == want[first]) first++;
    return TF_CHECK(first == n, "%s: first differing byte %zu (block %zu, offset %zu): %02x vs %02x",
                    name, first, first / block, first % block, first < n ? got[first] : 0,
                    first < n ? want[first] : 0);
}

static inline double tfq_dot_ref(const float *a, const float *b, int n, double *mag) {
    double ref = 0, m = 0;
    for (int i = 0; i < n; i++) {
        ref += (double)a[i] * b[i];
        m += fabs((double)a[i] * b[i]);
    }
    *mag = m;
    return ref;
}

static inline float *tfq_mul_mat(gl_type ty, const void *wq, int64_t k, int64_t nr, const float *x,
                                 int64_t m, int n_threads) {
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1u << 20}, &err);
    if (!TF_CHECK(ctx != NULL, "%s", err.msg)) return NULL;
    const int64_t wne[2] = {k, nr}, xne[2] = {k, m};
    gl_tensor *W = gl_new_tensor_with_data(ctx, ty, 2, wne, (void *)wq);
    gl_tensor *X = gl_new_tensor_with_data(ctx, GL_TYPE_F32, 2, xne, (void *)x);
    gl_tensor *Y = W && X ? gl_mul_mat(ctx, W, X) : NULL;
    gl_graph *g = Y ? gl_graph_new(ctx, 8) : NULL;
    float *out = NULL;
    gl_graph_plan plan;
    if (TF_CHECK(g && gl_graph_expand(g, Y) == GL_OK, "build: %s", gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "?") &&
        TF_CHECK(gl_graph_plan_memory(g, n_threads, &plan, &err) == GL_OK, "%s", err.msg)) {
        const size_t size = plan.buffer_size + plan.work_size;
        void *buf = aligned_alloc(64, size ? (size + 63) / 64 * 64 : 64);
        gl_pool *pool = gl_pool_new(n_threads, &err);
        if (TF_CHECK(gl_graph_alloc(g, &plan, buf, size, &err) == GL_OK, "%s", err.msg) &&
            TF_CHECK(pool != NULL, "%s", err.msg) &&
            TF_CHECK(gl_graph_compute(g, pool, &err) == GL_OK, "%s", err.msg)) {
            out = malloc(sizeof(float) * (size_t)(nr * m));
            for (int64_t j = 0; j < m; j++)
                for (int64_t i = 0; i < nr; i++) out[j * nr + i] = gl_get_f32_nd(Y, i, j, 0, 0);
        }
        gl_pool_free(pool);
        free(buf);
    }
    gl_context_free(ctx);
    return out;
}

#endif
