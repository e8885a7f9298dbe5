/*
 * test-graph.c — contexts, views, the thread pool, graph ordering and memory planning.
 */
#include "ggml-lite.h"
#include "tf.h"

#include <stdatomic.h>

static gl_context *new_ctx(size_t size, bool no_alloc) {
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = size, .no_alloc = no_alloc},
                                     &err);
    TF_CHECK(ctx != NULL, "%s", err.msg);
    return ctx;
}

static void fill(gl_tensor *t, tf_rng *r) {
    for (int64_t i = 0; i < gl_nelements(t); i++) ((float *)t->data)[i] = tf_rand_uniform(r, -1, 1);
}

/* Plans, allocates and runs g with n_threads; returns the buffer (caller frees). */
static void *run_graph(gl_graph *g, int n_threads, gl_graph_plan *plan_out) {
    gl_error err = {0};
    gl_graph_plan plan;
    if (!TF_CHECK(gl_graph_plan_memory(g, n_threads, &plan, &err) == GL_OK, "%s", err.msg))
        return NULL;
    /* Every planned range lies inside buffer_size (the work area follows it). */
    for (int i = 0; i < gl_graph_n_nodes(g); i++) {
        const gl_tensor *t = gl_graph_node(g, i);
        if (t->plan_slot == 1)
            TF_CHECK(t->plan_offs + gl_nbytes(t) <= plan.buffer_size,
                     "node %d ends at %zu, past buffer_size %zu", i, t->plan_offs + gl_nbytes(t),
                     plan.buffer_size);
    }
    size_t size = plan.buffer_size + plan.work_size;
    void *buf = aligned_alloc(64, size ? (size + 63) / 64 * 64 : 64);
    TF_CHECK(gl_graph_alloc(g, &plan, buf, size, &err) == GL_OK, "%s", err.msg);
    gl_pool *pool = gl_pool_new(n_threads, &err);
    TF_CHECK(pool != NULL, "%s", err.msg);
    TF_CHECK(gl_graph_compute(g, pool, &err) == GL_OK, "%s", err.msg);
    gl_pool_free(pool);
    if (plan_out) *plan_out = plan;
    return buf;
}

TF_TEST(context_arena_full_is_an_error) {
    gl_context *ctx = new_ctx(4096, false);
    gl_tensor *a = gl_new_tensor_1d(ctx, GL_TYPE_F32, 16);
    TF_CHECK(a && a->data, "small tensor fits");
    gl_tensor *b = gl_new_tensor_1d(ctx, GL_TYPE_F32, 1 << 20);
    TF_CHECK(b == NULL, "4 MiB cannot fit in 4 KiB");
    TF_CHECK(gl_ctx_error(ctx) && strstr(gl_ctx_error(ctx), "arena full"), "message: %s",
             gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "(none)");
    /* Errors are sticky: later calls fail too, and ops propagate NULL. */
    TF_CHECK(gl_new_tensor_1d(ctx, GL_TYPE_F32, 1) == NULL);
    TF_CHECK(gl_add(ctx, a, NULL) == NULL);
    gl_context_free(ctx);
}

TF_TEST(context_on_caller_buffer) {
    static unsigned char buf[8192 + 3];
    gl_error err = {0};
    gl_context *ctx = gl_context_new(
        (gl_context_params){.mem_size = sizeof buf - 3, .mem_buffer = buf + 3}, &err);
    TF_CHECK(ctx != NULL, "%s", err.msg);
    gl_tensor *t = gl_new_tensor_2d(ctx, GL_TYPE_F32, 8, 8);
    TF_CHECK(t && ((uintptr_t)t->data % 64) == 0, "data aligned inside an unaligned buffer");
    TF_CHECK((unsigned char *)t->data >= buf && (unsigned char *)t->data < buf + sizeof buf);
    gl_context_free(ctx);
}

TF_TEST(tensor_shape_checks) {
    gl_context *ctx = new_ctx(1 << 16, true);
    TF_CHECK(gl_new_tensor_2d(ctx, GL_TYPE_Q4_0, 33, 2) == NULL, "33 is not a multiple of 32");
    TF_CHECK(strstr(gl_ctx_error(ctx), "block size") != NULL, "%s", gl_ctx_error(ctx));
    gl_context_free(ctx);
    ctx = new_ctx(1 << 16, true);
    const int64_t huge[4] = {INT64_MAX / 2, 4, 1, 1};
    TF_CHECK(gl_new_tensor(ctx, GL_TYPE_F32, 4, huge) == NULL, "element count overflow");
    gl_context_free(ctx);
    ctx = new_ctx(1 << 16, true);
    TF_CHECK(gl_new_tensor_1d(ctx, (gl_type)4, 32) == NULL, "type 4 is not a valid id");
    gl_context_free(ctx);
}

TF_TEST(views_share_data_and_check_bounds) {
    gl_context *ctx = new_ctx(1 << 20, false);
    gl_tensor *a = gl_new_tensor_3d(ctx, GL_TYPE_F32, 6, 5, 4);
    for (int i = 0; i < 120; i++) ((float *)a->data)[i] = (float)i;
    gl_tensor *v = gl_view_2d(ctx, a, 3, 4, a->nb[1], 2 * sizeof(float) + a->nb[2]);
    TF_CHECK(v && v->data == (char *)a->data + 2 * 4 + a->nb[2]);
    TF_CHECK(gl_get_f32_nd(v, 1, 2, 0, 0) == 30 + 2 * 6 + 2 + 1, "%g", gl_get_f32_nd(v, 1, 2, 0, 0));
    TF_CHECK(!gl_is_contiguous(v), "a row subset is not contiguous");
    gl_tensor *vv = gl_view_1d(ctx, v, 2, sizeof(float));
    TF_CHECK(vv && vv->view_src == a && vv->data == (char *)v->data + 4, "views of views collapse");
    gl_tensor *t = gl_transpose(ctx, a);
    TF_CHECK(t && t->ne[0] == 5 && t->ne[1] == 6 && t->nb[0] == a->nb[1] && t->nb[1] == a->nb[0]);
    TF_CHECK(gl_get_f32_nd(t, 3, 2, 1, 0) == gl_get_f32_nd(a, 2, 3, 1, 0));
    gl_tensor *p = gl_permute(ctx, a, 2, 0, 1, 3);
    TF_CHECK(p && p->ne[2] == 6 && p->ne[0] == 5 && p->ne[1] == 4);
    TF_CHECK(gl_get_f32_nd(p, 1, 3, 5, 0) == gl_get_f32_nd(a, 5, 1, 3, 0));
    gl_tensor *r = gl_reshape_2d(ctx, a, 30, 4);
    TF_CHECK(r && r->data == a->data && r->ne[0] == 30 && gl_is_contiguous(r));
    TF_CHECK(gl_ctx_ok(ctx), "%s", gl_ctx_error(ctx));
    /* Failures: out of bounds, reshape of a non-contiguous view, bad axes. */
    TF_CHECK(gl_view_2d(ctx, a, 6, 21, a->nb[1], 0) == NULL, "view past the end");
    TF_CHECK(strstr(gl_ctx_error(ctx), "exceeds") != NULL, "%s", gl_ctx_error(ctx));
    gl_context_free(ctx);
    ctx = new_ctx(1 << 20, false);
    a = gl_new_tensor_2d(ctx, GL_TYPE_F32, 6, 5);
    TF_CHECK(gl_reshape_2d(ctx, gl_transpose(ctx, a), 5, 6) == NULL);
    TF_CHECK(strstr(gl_ctx_error(ctx), "contiguous") != NULL, "%s", gl_ctx_error(ctx));
    gl_context_free(ctx);
    ctx = new_ctx(1 << 20, false);
    a = gl_new_tensor_2d(ctx, GL_TYPE_F32, 6, 5);
    TF_CHECK(gl_permute(ctx, a, 0, 0, 1, 2) == NULL);
    TF_CHECK(strstr(gl_ctx_error(ctx), "permutation") != NULL, "%s", gl_ctx_error(ctx));
    gl_context_free(ctx);
}

typedef struct pool_probe {
    gl_pool *pool;
    atomic_int hits[8];
    int phase_values[8];
    atomic_int errors;
} pool_probe;

static void probe_fn(int ith, int nth, void *arg) {
    pool_probe *pr = arg;
    atomic_fetch_add(&pr->hits[ith], 1);
    /* Phases separated by barriers: each thread writes, then checks everyone's writes. */
    for (int phase = 1; phase <= 200; phase++) {
        pr->phase_values[ith] = phase * 10 + ith;
        gl_pool_barrier(pr->pool);
        for (int j = 0; j < nth; j++)
            if (pr->phase_values[j] != phase * 10 + j) atomic_fetch_add(&pr->errors, 1);
        gl_pool_barrier(pr->pool);
    }
}

TF_TEST(pool_runs_every_thread_and_barriers_separate_phases) {
    for (int nth = 1; nth <= 4; nth++) {
        gl_error err = {0};
        pool_probe pr;
        memset(&pr, 0, sizeof pr);
        pr.pool = gl_pool_new(nth, &err);
        TF_CHECK(pr.pool != NULL, "%s", err.msg);
        for (int rep = 0; rep < 20; rep++) gl_pool_run(pr.pool, probe_fn, &pr);
        for (int i = 0; i < nth; i++) TF_CHECK(atomic_load(&pr.hits[i]) == 20, "thread %d", i);
        TF_CHECK(atomic_load(&pr.errors) == 0, "%d threads: %d phase errors", nth,
                 atomic_load(&pr.errors));
        gl_pool_free(pr.pool);
    }
    gl_error err = {0};
    TF_CHECK(gl_pool_new(0, &err) == NULL && strstr(err.msg, "thread count"), "%s", err.msg);
}

/* A long chain reuses buffers: peak is a few tensors, not the chain's length. */
TF_TEST(plan_reuses_buffers_along_a_chain) {
    gl_context *w = new_ctx(1 << 22, false);
    gl_context *ctx = new_ctx(1 << 20, true);
    tf_rng r = {42};
    const int n = 4096, steps = 24;
    gl_tensor *x = gl_new_tensor_1d(w, GL_TYPE_F32, n);
    gl_tensor *b = gl_new_tensor_1d(w, GL_TYPE_F32, n);
    fill(x, &r);
    fill(b, &r);
    gl_tensor *y = x;
    for (int i = 0; i < steps; i++) y = gl_scale(ctx, gl_add(ctx, y, b), 0.5f);
    gl_graph *g = gl_graph_new(ctx, 256);
    TF_CHECK(gl_graph_expand(g, y) == GL_OK);
    TF_CHECK(gl_graph_n_nodes(g) == 2 * steps, "%d nodes", gl_graph_n_nodes(g));
    gl_graph_plan plan;
    void *buf = run_graph(g, 2, &plan);
    size_t one = (size_t)n * sizeof(float);
    TF_CHECK(plan.naive_size == 2 * steps * one, "naive %zu", plan.naive_size);
    TF_CHECK(plan.buffer_size <= 2 * one, "peak %zu bytes for tensors of %zu", plan.buffer_size,
             one);
    double maxerr = 0;
    for (int j = 0; j < n; j++) {
        double v = ((float *)x->data)[j], bj = ((float *)b->data)[j];
        for (int i = 0; i < steps; i++) v = (v + bj) * 0.5;
        double e = fabs(v - ((float *)y->data)[j]);
        if (e > maxerr) maxerr = e;
    }
    TF_CHECK(maxerr < 1e-5, "max error %g", maxerr);
    free(buf);
    gl_context_free(ctx);
    gl_context_free(w);
}

/* A value read much later (a residual) and a marked output must survive reuse. */
TF_TEST(plan_keeps_long_lived_values_and_outputs) {
    gl_context *w = new_ctx(1 << 22, false);
    gl_context *ctx = new_ctx(1 << 20, true);
    tf_rng r = {7};
    const int n = 1000;
    gl_tensor *x = gl_new_tensor_1d(w, GL_TYPE_F32, n);
    fill(x, &r);
    gl_tensor *res = gl_scale(ctx, x, 2.0f); /* read again at the end */
    gl_tensor *mid = gl_scale(ctx, res, 3.0f);
    gl_set_output(mid);                      /* looked at after compute */
    gl_tensor *y = mid;
    for (int i = 0; i < 10; i++) y = gl_add1(ctx, y, 1.0f);
    y = gl_add(ctx, y, res);
    gl_graph *g = gl_graph_new(ctx, 64);
    gl_graph_expand(g, y);
    void *buf = run_graph(g, 1, NULL);
    int bad = 0;
    for (int j = 0; j < n; j++) {
        float xv = ((float *)x->data)[j];
        if (fabsf(((float *)mid->data)[j] - 6 * xv) > 1e-5f) bad++;
        if (fabsf(((float *)y->data)[j] - (6 * xv + 10 + 2 * xv)) > 1e-4f) bad++;
    }
    TF_CHECK(bad == 0, "%d wrong values", bad);
    free(buf);
    gl_context_free(ctx);
    gl_context_free(w);
}

/* Threads split work; the result does not depend on the thread count. */
TF_TEST(one_and_two_threads_agree) {
    gl_context *w = new_ctx(1 << 22, false);
    tf_rng r = {9};
    gl_tensor *a = gl_new_tensor_2d(w, GL_TYPE_F32, 64, 37);
    gl_tensor *m = gl_new_tensor_2d(w, GL_TYPE_F32, 64, 19);
    fill(a, &r);
    fill(m, &r);
    float *out[2];
    for (int k = 0; k < 2; k++) {
        gl_context *ctx = new_ctx(1 << 20, true);
        gl_tensor *y = gl_softmax(ctx, gl_mul_mat(ctx, m, gl_gelu(ctx, a)));
        gl_graph *g = gl_graph_new(ctx, 16);
        gl_graph_expand(g, y);
        void *buf = run_graph(g, k + 1, NULL);
        out[k] = malloc(19 * 37 * sizeof(float));
        memcpy(out[k], y->data, 19 * 37 * sizeof(float));
        free(buf);
        gl_context_free(ctx);
    }
    double maxd = 0;
    for (int i = 0; i < 19 * 37; i++) maxd = fmax(maxd, fabs(out[0][i] - out[1][i]));
    TF_CHECK(maxd <= 1e-6, "1 vs 2 threads differ by %g", maxd);
    free(out[0]);
    free(out[1]);
    gl_context_free(w);
}

/* A one-token step alternates runs of single-task nodes (one row: only thread 0 computes
 * them, with no barrier between them) with mul_mats every thread shares. Whatever the thread
 * count, each run must see the finished results of the one before: 1, 2 and 4 threads give
 * the same bits, every time (repeated to give a missing barrier a chance to show). */
TF_TEST(single_task_runs_then_shared_nodes_agree_across_threads) {
    gl_context *w = new_ctx(1 << 22, false);
    tf_rng r = {21};
    gl_tensor *x = gl_new_tensor_2d(w, GL_TYPE_F32, 64, 1);
    gl_tensor *w1 = gl_new_tensor_2d(w, GL_TYPE_F32, 64, 256);
    gl_tensor *w2 = gl_new_tensor_2d(w, GL_TYPE_F32, 256, 64);
    fill(x, &r);
    fill(w1, &r);
    fill(w2, &r);
    float ref[64];
    for (int nth = 1; nth <= 4; nth *= 2) {
        for (int rep = 0; rep < 20; rep++) {
            gl_context *ctx = new_ctx(1 << 20, true);
            gl_tensor *h = gl_add(ctx, gl_scale(ctx, gl_gelu(ctx, x), 0.5f), x); /* 3 single */
            gl_tensor *z = gl_mul_mat(ctx, w1, h);                                 /* shared */
            gl_tensor *u = gl_gelu(ctx, gl_add(ctx, z, z));                        /* 2 single */
            gl_tensor *y = gl_softmax(ctx, gl_mul_mat(ctx, w2, u));                /* shared, single */
            gl_graph *g = gl_graph_new(ctx, 16);
            gl_graph_expand(g, y);
            void *buf = run_graph(g, nth, NULL);
            if (nth == 1 && rep == 0) memcpy(ref, y->data, sizeof ref);
            else if (!TF_CHECK(!memcmp(ref, y->data, sizeof ref), "%d threads, run %d differs", nth, rep))
                rep = 20;
            free(buf);
            gl_context_free(ctx);
        }
    }
    gl_context_free(w);
}

/* The peak is what counts: a big tensor freed at the top must not shrink buffer_size. */
TF_TEST(plan_reports_the_peak_not_the_final_top) {
    gl_context *w = new_ctx(1 << 22, false);
    gl_context *ctx = new_ctx(1 << 20, true);
    tf_rng r = {3};
    gl_tensor *x = gl_new_tensor_1d(w, GL_TYPE_F32, 64);
    fill(x, &r);
    /* small -> big -> small: the big one sits on top and is freed before the end */
    gl_tensor *small = gl_scale(ctx, x, 2.0f);
    gl_tensor *big = gl_concat(ctx, gl_concat(ctx, small, small, 0), gl_concat(ctx, small, small, 0), 0);
    gl_tensor *y = gl_add1(ctx, gl_sum_rows(ctx, big), 1.0f);
    gl_graph *g = gl_graph_new(ctx, 32);
    gl_graph_expand(g, y);
    gl_graph_plan plan;
    void *buf = run_graph(g, 2, &plan);
    double sum = 0;
    for (int j = 0; j < 64; j++) sum += 8.0 * ((float *)x->data)[j];
    TF_NEAR(((float *)y->data)[0], sum + 1.0, 1e-3);
    free(buf);
    gl_context_free(ctx);
    gl_context_free(w);
}

/* Planning and allocating again (new buffer, old one freed) must not reuse stale pointers;
 * an op right after a view must still get its share of work with 2 threads. */
TF_TEST(replan_and_ops_after_views) {
    gl_context *w = new_ctx(1 << 22, false);
    gl_context *ctx = new_ctx(1 << 20, true);
    tf_rng r = {5};
    gl_tensor *a = gl_new_tensor_2d(w, GL_TYPE_F32, 32, 48);
    gl_tensor *m = gl_new_tensor_2d(w, GL_TYPE_F32, 64, 40);
    fill(a, &r);
    fill(m, &r);
    gl_tensor *h = gl_scale(ctx, a, 1.5f);
    gl_tensor *v = gl_reshape_2d(ctx, h, 64, 24);            /* a view node */
    gl_tensor *y = gl_mul_mat(ctx, m, v);                    /* [40, 24] right after it */
    gl_graph *g = gl_graph_new(ctx, 16);
    gl_graph_expand(g, y);
    float first[40 * 24];
    for (int round = 0; round < 3; round++) {
        void *buf = run_graph(g, 2, NULL);
        int bad = 0;
        for (int i = 0; i < 24; i++)
            for (int j = 0; j < 40; j++) {
                double ref = 0;
                for (int k = 0; k < 64; k++)
                    ref += (double)((float *)m->data)[j * 64 + k] * 1.5 * ((float *)a->data)[i * 64 + k];
                float got = ((float *)y->data)[i * 40 + j];
                if (fabs(got - ref) > 1e-4) bad++;
                if (round == 0) first[i * 40 + j] = got;
                else if (got != first[i * 40 + j]) bad++;
            }
        TF_CHECK(bad == 0, "round %d: %d wrong outputs", round, bad);
        memset(buf, 0xff, 64); /* scribble before freeing: stale pointers would read this */
        free(buf);
    }
    gl_context_free(ctx);
    gl_context_free(w);
}

TF_TEST(graph_errors_are_reported) {
    gl_context *ctx = new_ctx(1 << 16, true);
    gl_tensor *a = gl_new_tensor_1d(ctx, GL_TYPE_F32, 8); /* no data: a leaf without memory */
    gl_tensor *y = gl_scale(ctx, a, 2.0f);
    gl_graph *g = gl_graph_new(ctx, 4);
    TF_CHECK(gl_graph_expand(g, y) == GL_OK);
    gl_graph_plan plan;
    gl_error err = {0};
    TF_CHECK(gl_graph_plan_memory(g, 1, &plan, &err) == GL_OK, "%s", err.msg);
    static _Alignas(64) char buf[4096];
    TF_CHECK(gl_graph_alloc(g, &plan, buf, sizeof buf, &err) != GL_OK);
    TF_CHECK(strstr(err.msg, "no data") != NULL, "%s", err.msg);
    TF_CHECK(gl_graph_compute(g, NULL, &err) != GL_OK, "not allocated");
    /* too many nodes */
    gl_tensor *z = a;
    for (int i = 0; i < 6; i++) z = gl_scale(ctx, z, 1.0f);
    gl_graph *g2 = gl_graph_new(ctx, 4);
    TF_CHECK(gl_graph_expand(g2, z) != GL_OK);
    TF_CHECK(gl_ctx_error(ctx) && strstr(gl_ctx_error(ctx), "more than 4 nodes"), "%s",
             gl_ctx_error(ctx) ? gl_ctx_error(ctx) : "(none)");
    gl_context_free(ctx);
}

/* Issue 14: a kernel that cannot run (here: a mat-mul whose activation conversion needs
 * scratch memory the caller did not provide) returns its error through gl_graph_compute,
 * naming the node, instead of returning silently while the compute says OK; with 1 and 2
 * threads, and the graph still runs once given the planned scratch. */
TF_TEST(kernel_errors_reach_graph_compute) {
    for (int nth = 1; nth <= 2; nth++) {
        gl_context *ctx = new_ctx(1 << 20, false);
        if (!ctx) return;
        gl_tensor *w = gl_new_tensor_2d(ctx, GL_TYPE_Q8_0, 64, 4);
        gl_tensor *x = gl_new_tensor_2d(ctx, GL_TYPE_F32, 64, 2);
        if (!TF_CHECK(w && x)) return;
        memset(w->data, 0, gl_nbytes(w));
        tf_rng r = {5};
        fill(x, &r);
        gl_tensor *y = gl_mul_mat(ctx, w, x);
        gl_set_name(y, "the_product");
        gl_graph *g = gl_graph_new(ctx, 8);
        gl_graph_expand(g, y);
        gl_error err = {0};
        gl_graph_plan plan;
        TF_CHECK(gl_graph_plan_memory(g, nth, &plan, &err) == GL_OK, "%s", err.msg);
        TF_CHECK(plan.work_size > 0, "Q8_0 x F32 needs scratch to convert the activations");
        gl_graph_plan starved = plan;
        starved.work_size = 0;
        const size_t size = plan.buffer_size + plan.work_size + 64;
        void *buf = aligned_alloc(64, (size + 63) / 64 * 64);
        gl_pool *pool = gl_pool_new(nth, &err);
        TF_CHECK(gl_graph_alloc(g, &starved, buf, size, &err) == GL_OK, "%s", err.msg);
        TF_CHECK(gl_graph_compute(g, pool, &err) == GL_ERR_INVALID && strstr(err.msg, "scratch") &&
                     strstr(err.msg, "the_product"),
                 "%d threads: '%s'", nth, err.msg);
        memset(&err, 0, sizeof err);
        TF_CHECK(gl_graph_alloc(g, &plan, buf, size, &err) == GL_OK && gl_graph_compute(g, pool, &err) == GL_OK,
                 "%s", err.msg);
        gl_pool_free(pool);
        free(buf);
        gl_context_free(ctx);
    }
}

TF_MAIN
