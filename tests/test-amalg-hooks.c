/*
 * test-amalg-hooks.c — the amalgamation with its allocation hooks (GL_MALLOC ... GL_FREE)
 * routed to counting functions: contexts, a graph computed on a 2-thread pool, a GGUF written
 * through a callback and read back from memory all allocate through the hooks, and everything
 * they allocated is given back to them. (That ggml-lite's sources call no allocator directly is
 * checked by tests/cli-symbols.sh.) Built by the Makefile with the amalgamation included below.
 */
#include "tf.h"

static long n_alloc, n_free;

static void *hk_malloc(size_t n) {
    n_alloc++;
    return malloc(n);
}
static void *hk_calloc(size_t n, size_t size) {
    n_alloc++;
    return calloc(n, size);
}
static void *hk_realloc(void *p, size_t n) {
    if (!p) n_alloc++;
    return realloc(p, n);
}
static void *hk_aligned_alloc(size_t align, size_t n) {
    n_alloc++;
    return aligned_alloc(align, n);
}
static void hk_free(void *p) {
    if (p) n_free++;
    free(p);
}
#define GL_MALLOC(n) hk_malloc(n)
#define GL_CALLOC(n, size) hk_calloc(n, size)
#define GL_REALLOC(p, n) hk_realloc(p, n)
#define GL_ALIGNED_ALLOC(align, n) hk_aligned_alloc(align, n)
#define GL_FREE(p) hk_free(p)

#include "ggml-lite.c"

typedef struct membuf {
    unsigned char data[8192];
    size_t n;
} membuf;

static size_t to_mem(void *user, const void *buf, size_t n) {
    membuf *m = (membuf *)user;
    if (n > sizeof m->data - m->n) return 0;
    memcpy(m->data + m->n, buf, n);
    m->n += n;
    return n;
}

TF_TEST(every_allocation_goes_through_the_hooks) {
    gl_error err = {GL_OK, ""};
    gl_context_params cp = {1 << 20, NULL, false};
    gl_context *ctx = gl_context_new(cp, &err);
    gl_pool *pool = gl_pool_new(2, &err);
    TF_CHECK(ctx && pool, "%s", err.msg);
    if (!ctx || !pool) return;
    TF_CHECK(n_alloc >= 3, "%ld allocations counted for a context and a pool", n_alloc);
    gl_tensor *a = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 8), *w = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 16);
    for (int64_t i = 0; i < 64 * 8; i++) ((float *)a->data)[i] = (float)(i % 7) - 3.0f;
    for (int64_t i = 0; i < 64 * 16; i++) ((float *)w->data)[i] = (float)(i % 5) * 0.25f;
    gl_tensor *y = gl_softmax(ctx, gl_mul_mat(ctx, w, a));
    gl_graph *g = gl_graph_new(ctx, 16);
    gl_graph_plan plan;
    TF_CHECK(gl_graph_expand(g, y) == GL_OK && gl_graph_plan_memory(g, 2, &plan, &err) == GL_OK, "%s", err.msg);
    void *buf = aligned_alloc(64, GL_PAD(plan.buffer_size + plan.work_size + 64, 64));
    TF_CHECK(gl_graph_alloc(g, &plan, buf, plan.buffer_size + plan.work_size, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(gl_graph_compute(g, pool, &err) == GL_OK, "%s", err.msg);
    float sum = 0;
    for (int64_t i = 0; i < 16; i++) sum += ((float *)y->data)[i];
    TF_CHECK(fabsf(sum - 1.0f) < 1e-5f, "softmax row sums to %g", sum);

    membuf *mb = (membuf *)calloc(1, sizeof *mb);
    gl_gguf_writer *wr = gl_gguf_writer_open_cb(to_mem, mb, &err);
    TF_CHECK(wr != NULL, "%s", err.msg);
    const int64_t ne[2] = {64, 16};
    gl_gguf_w_kv_str(wr, "general.architecture", "test");
    gl_gguf_w_tensor_info(wr, "w", GL_TYPE_F32, 2, ne);
    gl_gguf_w_tensor_data(wr, w->data, 64 * 16 * sizeof(float));
    TF_CHECK(gl_gguf_writer_close(wr, &err) == GL_OK, "%s", err.msg);
    gl_gguf *f = gl_gguf_open_buffer(mb->data, mb->n, &err);
    TF_CHECK(f && gl_gguf_n_tensors(f) == 1, "%s", err.msg);
    gl_gguf_close(f);
    gl_context_free(ctx);
    gl_pool_free(pool);
    free(buf);
    free(mb);
    TF_CHECK(n_alloc > 6 && n_alloc == n_free, "%ld allocations, %ld frees through the hooks", n_alloc, n_free);
}

TF_MAIN
