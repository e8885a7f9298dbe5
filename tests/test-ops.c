/*
 * test-ops — every op of ggml-lite against a naive double-precision reference written here
 * (plain loops; nothing shared with the kernels), on odd shapes and non-contiguous sources
 * (views with gaps between rows, transposed and permuted tensors), each graph run with 1
 * thread and with a pool of 2. Kernels split work by rows and compute each row the same way
 * whatever the thread count, so 1 vs 2 threads must agree bit for bit (checked); mul_mat
 * (another module) is allowed reassociation.
 *
 * Tolerances, |got - want| <= atol + rtol |want|:
 *   elementwise (add/sub/mul/div/scale/add1), copies, get_rows, concat: 1e-6 + 1e-6 rel
 *   unary: 2e-6 + 1e-5 rel (the SIMD tanh has an absolute error ~3e-7)
 *   norms, softmax, reductions, rope, attention, conv1d_max, highway, LSTM, mul_mat:
 *   1e-5 + 1e-4 rel
 */
#include "tf.h"

#include "ggml-lite.h"
#include "gl-ops.h" /* the vector exp/tanh/sigmoid are checked directly below */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Harness
 * ---------------------------------------------------------------------------------------- */

#define TOL_ELEM 1e-6, 1e-6
#define TOL_UNARY 2e-6, 1e-5
#define TOL_RED 1e-5, 1e-4

static gl_pool *test_pool2(void) {
    static gl_pool *pool; /* kept for the whole program */
    if (!pool) pool = gl_pool_new(2, NULL);
    return pool;
}

static gl_context *new_ctx(void) {
    gl_context_params cp = {.mem_size = 24u << 20, .mem_buffer = NULL, .no_alloc = false};
    gl_error err;
    gl_context *ctx = gl_context_new(cp, &err);
    TF_CHECK(ctx != NULL, "context: %s", err.msg);
    return ctx;
}

static size_t elem_size(gl_type type) { return type == GL_TYPE_F16 || type == GL_TYPE_BF16 ? 2 : 4; }

static double get(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    const char *p = (const char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] +
                    i3 * t->nb[3];
    switch (t->type) {
    case GL_TYPE_F32: return *(const float *)p;
    case GL_TYPE_F16: return gl_fp16_to_fp32(*(const gl_fp16 *)p);
    case GL_TYPE_BF16: return gl_bf16_to_fp32(*(const gl_bf16 *)p);
    case GL_TYPE_I32: return *(const int32_t *)p;
    default: return NAN;
    }
}

static void set(gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, double v) {
    char *p = (char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
    switch (t->type) {
    case GL_TYPE_F32: *(float *)p = (float)v; break;
    case GL_TYPE_F16: *(gl_fp16 *)p = gl_fp32_to_fp16((float)v); break;
    case GL_TYPE_BF16: *(gl_bf16 *)p = gl_fp32_to_bf16((float)v); break;
    case GL_TYPE_I32: *(int32_t *)p = (int32_t)v; break;
    default: break;
    }
}

#define FOR4(t)                                                                              \
    for (int64_t i3 = 0; i3 < (t)->ne[3]; i3++)                                              \
        for (int64_t i2 = 0; i2 < (t)->ne[2]; i2++)                                          \
            for (int64_t i1 = 0; i1 < (t)->ne[1]; i1++)                                      \
                for (int64_t i0 = 0; i0 < (t)->ne[0]; i0++)

static void fill(gl_tensor *t, tf_rng *r, float lo, float hi) {
    FOR4(t) set(t, i0, i1, i2, i3, tf_rand_uniform(r, lo, hi));
}

static gl_tensor *rnd(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1, int64_t ne2,
                      int64_t ne3, tf_rng *r, float lo, float hi) {
    gl_tensor *t = gl_new_tensor_4d(ctx, type, ne0, ne1, ne2, ne3);
    if (t) fill(t, r, lo, hi);
    return t;
}

/* A view of shape ne with gaps between rows, planes and blocks of a bigger random tensor. */
static gl_tensor *padded(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1, int64_t ne2,
                         int64_t ne3, tf_rng *r, float lo, float hi) {
    const size_t es = elem_size(type);
    const size_t nb1 = (size_t)(ne0 + 3) * es, nb2 = nb1 * (size_t)ne1 + 5 * es;
    const size_t nb3 = nb2 * (size_t)ne2 + 2 * es;
    const int64_t total = (int64_t)(nb3 * (size_t)ne3 / es) + 8;
    gl_tensor *base = gl_new_tensor_1d(ctx, type, total);
    if (!base) return NULL;
    fill(base, r, lo, hi);
    return gl_view_4d(ctx, base, ne0, ne1, ne2, ne3, nb1, nb2, nb3, es);
}

/* A [ne0, ne1, ne2] tensor whose dim 0 is strided: the transpose of a random [ne1, ne0, ne2]. */
static gl_tensor *transposed(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1, int64_t ne2,
                             tf_rng *r, float lo, float hi) {
    gl_tensor *base = rnd(ctx, type, ne1, ne0, ne2, 1, r, lo, hi);
    return gl_transpose(ctx, base);
}

/* Layout variants of a random source: 0 contiguous, 1 padded view, 2 transposed (dims 0,1). */
static gl_tensor *src_layout(gl_context *ctx, int layout, gl_type type, int64_t ne0, int64_t ne1,
                             int64_t ne2, int64_t ne3, tf_rng *r, float lo, float hi) {
    if (layout == 1) return padded(ctx, type, ne0, ne1, ne2, ne3, r, lo, hi);
    if (layout == 2 && ne3 == 1) return transposed(ctx, type, ne0, ne1, ne2, r, lo, hi);
    return rnd(ctx, type, ne0, ne1, ne2, ne3, r, lo, hi);
}

/* Plans, allocates and computes the graph of out with nth threads; on success returns the
 * graph buffer (free it after reading the results). */
static void *compute(gl_context *ctx, gl_tensor *out, int nth) {
    gl_error err = {0};
    gl_graph *g = gl_graph_new(ctx, 512);
    if (!TF_CHECK(g != NULL, "graph: %s", gl_ctx_error(ctx))) return NULL;
    if (!TF_CHECK(gl_graph_expand(g, out) == GL_OK, "expand")) return NULL;
    gl_graph_plan plan;
    if (!TF_CHECK(gl_graph_plan_memory(g, nth, &plan, &err) == GL_OK, "plan: %s", err.msg))
        return NULL;
    const size_t size = GL_PAD(plan.buffer_size + plan.work_size + 1, 64);
    void *buf = aligned_alloc(64, size);
    if (!TF_CHECK(gl_graph_alloc(g, &plan, buf, size, &err) == GL_OK, "alloc: %s", err.msg) ||
        !TF_CHECK(gl_graph_compute(g, nth > 1 ? test_pool2() : NULL, &err) == GL_OK, "compute: %s",
                  err.msg)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The result of out computed with nth threads, in row-major order (malloc'ed). */
static double *eval(gl_context *ctx, gl_tensor *out, int nth) {
    void *buf = compute(ctx, out, nth);
    if (!buf) return NULL;
    double *res = malloc((size_t)gl_nelements(out) * sizeof(double) + 1);
    int64_t k = 0;
    FOR4(out) res[k++] = get(out, i0, i1, i2, i3);
    free(buf);
    return res;
}

/* Compares got with want; one check per call, naming the worst element. */
static bool compare(const char *what, const double *got, const double *want, int64_t n,
                    double atol, double rtol) {
    int64_t worst = -1;
    double worst_excess = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double tol = atol + rtol * fabs(want[i]);
        const double d = fabs(got[i] - want[i]);
        const bool bad = !(d <= tol) && !(got[i] == want[i]); /* equal infinities pass */
        if (bad && (worst < 0 || !(d - tol <= worst_excess))) {
            worst = i;
            worst_excess = d - tol;
        }
    }
    return TF_CHECK(worst < 0, "%s: element %lld of %lld: got %.9g want %.9g", what,
                    (long long)worst, (long long)n, worst >= 0 ? got[worst] : 0.0,
                    worst >= 0 ? want[worst] : 0.0);
}

/* Runs out with 1 and 2 threads, compares both with want, and the two runs with each other
 * (bitwise unless reassoc). */
static void expect_op(gl_context *ctx, gl_tensor *out, const double *want, double atol,
                      double rtol, const char *what, bool reassoc) {
    if (!TF_CHECK(out != NULL, "%s: builder failed: %s", what, gl_ctx_error(ctx))) return;
    const int64_t n = gl_nelements(out);
    double *r1 = eval(ctx, out, 1), *r2 = eval(ctx, out, 2);
    if (r1 && r2) {
        char name[160];
        snprintf(name, sizeof name, "%s (1 thread)", what);
        compare(name, r1, want, n, atol, rtol);
        snprintf(name, sizeof name, "%s (2 threads)", what);
        compare(name, r2, want, n, atol, rtol);
        if (reassoc)
            compare(name, r2, r1, n, 1e-6, 1e-5);
        else
            TF_CHECK(memcmp(r1, r2, (size_t)n * sizeof(double)) == 0, "%s: 1 vs 2 threads differ",
                     what);
    }
    free(r1);
    free(r2);
}

static double *ref_alloc(const gl_tensor *out) {
    return calloc((size_t)gl_nelements(out) + 1, sizeof(double));
}

/* Row-major index of (i0..i3) in out. */
static int64_t at(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return i0 + t->ne[0] * (i1 + t->ne[1] * (i2 + t->ne[2] * i3));
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* A Q8_0 copy of the 2-D F32 tensor w; w's values are replaced by the dequantized ones so
 * that references computed from w use exactly the weights the kernel sees. */
static gl_tensor *q8_copy(gl_context *ctx, gl_tensor *w) {
    const gl_type_traits *tt = gl_type_get(GL_TYPE_Q8_0);
    gl_tensor *q = gl_new_tensor_2d(ctx, GL_TYPE_Q8_0, w->ne[0], w->ne[1]);
    if (!q) return NULL;
    for (int64_t j = 0; j < w->ne[1]; j++) {
        float *row = (float *)((char *)w->data + j * w->nb[1]);
        void *qrow = (char *)q->data + j * q->nb[1];
        tt->from_float_ref(row, qrow, w->ne[0]);
        tt->to_float(qrow, row, w->ne[0]);
    }
    return q;
}

/* ------------------------------------------------------------------------------------------
 * Vector primitives (gl-ops.h): the SIMD exp / sigmoid / tanh against libm in double
 * ---------------------------------------------------------------------------------------- */

TF_TEST(vec_exp_accuracy) {
    enum { N = 4099 };
    static float x[N], y[N];
    tf_rng r = {0x1234};
    double worst_rel = 0.0;
    for (int pass = 0; pass < 8; pass++) {
        for (int i = 0; i < N; i++) x[i] = tf_rand_uniform(&r, -87.0f, 88.5f);
        ops_vec_exp_sum(N, y, x, 0.0f);
        for (int i = 0; i < N; i++) {
            const double want = exp((double)x[i]);
            const double rel = fabs(y[i] - want) / want;
            if (rel > worst_rel) worst_rel = rel;
        }
    }
    /* 2 ulp of float is 2^-22 relative at worst (2.4e-7). */
    TF_CHECK(worst_rel <= 2.4e-7, "exp worst relative error %.3g", worst_rel);
    const float special[8] = {-INFINITY, -1000.0f, -88.0f, 0.0f, 89.0f, INFINITY, NAN, -0.0f};
    float out[8];
    volatile int n_special = 8; /* not a constant: keeps gcc's loop analysis quiet */
    ops_vec_exp_sum(n_special, out, special, 0.0f);
    /* below ln(FLT_MIN) the SIMD path flushes to 0, libm may return a subnormal */
    TF_CHECK(out[0] == 0.0f && out[1] == 0.0f && out[2] >= 0.0f && out[2] < 1.2e-38f,
             "exp of very negative: %g %g %g", out[0], out[1], out[2]);
    TF_CHECK(out[3] == 1.0f && out[7] == 1.0f, "exp(0) = %g, exp(-0) = %g", out[3], out[7]);
    TF_CHECK(isinf(out[4]) && isinf(out[5]), "exp overflow: %g %g", out[4], out[5]);
    TF_CHECK(isnan(out[6]), "exp(NaN) = %g", out[6]);
}

TF_TEST(vec_sigmoid_tanh_accuracy) {
    enum { N = 2053 };
    static float x[N], s[N], t[N];
    tf_rng r = {0x777};
    for (int i = 0; i < N; i++) x[i] = tf_rand_uniform(&r, -20.0f, 20.0f);
    x[0] = 0.0f;
    x[1] = 1e-6f;
    x[2] = -100.0f;
    x[3] = 100.0f;
    ops_vec_sigmoid(N, s, x);
    ops_vec_tanh(N, t, x);
    double ws = 0.0, wt = 0.0;
    for (int i = 0; i < N; i++) {
        /* relative where the true value is a normal float, absolute below */
        const double es = fabs(s[i] - sigm(x[i])) / fmax(sigm(x[i]), 1e-30);
        const double et = fabs(t[i] - tanh((double)x[i]));
        ws = es > ws ? es : ws;
        wt = et > wt ? et : wt;
    }
    TF_CHECK(ws <= 5e-7, "sigmoid worst relative error %.3g", ws);
    TF_CHECK(wt <= 4e-7, "tanh worst absolute error %.3g", wt);
    TF_CHECK(t[0] == 0.0f && t[2] == -1.0f && t[3] == 1.0f, "tanh(0, -100, 100) = %g %g %g", t[0],
             t[2], t[3]);
}

/* ------------------------------------------------------------------------------------------
 * Elementwise
 * ---------------------------------------------------------------------------------------- */

static double binop_ref(gl_op op, double a, double b) {
    switch (op) {
    case GL_OP_ADD: return (float)a + (float)b;
    case GL_OP_SUB: return (float)a - (float)b;
    case GL_OP_MUL: return (float)a * (float)b;
    default: return (float)a / (float)b;
    }
}

TF_TEST(binary_broadcast) {
    tf_rng r = {42};
    const int64_t A[4] = {33, 7, 3, 2};
    const int64_t shapes_b[6][4] = {{33, 7, 3, 2}, {33, 1, 1, 1}, {1, 7, 1, 1},
                                    {33, 7, 3, 1}, {1, 1, 1, 1}, {11, 7, 1, 2}};
    const gl_op ops[4] = {GL_OP_ADD, GL_OP_SUB, GL_OP_MUL, GL_OP_DIV};
    for (int oi = 0; oi < 4; oi++) {
        for (int si = 0; si < 6; si++) {
            for (int layout = 0; layout < 3; layout++) {
                gl_context *ctx = new_ctx();
                const int64_t *B = shapes_b[si];
                gl_tensor *a = src_layout(ctx, layout, GL_TYPE_F32, A[0], A[1], A[2], A[3], &r, -2, 2);
                /* b: alternate F16 and padded layouts; divisors kept away from zero */
                gl_type tb = (si + layout) % 2 ? GL_TYPE_F16 : GL_TYPE_F32;
                gl_tensor *b = src_layout(ctx, (layout + 1) % 2, tb, B[0], B[1], B[2], B[3], &r, 0.5f, 1.5f);
                gl_tensor *out = ops[oi] == GL_OP_ADD ? gl_add(ctx, a, b)
                               : ops[oi] == GL_OP_SUB ? gl_sub(ctx, a, b)
                               : ops[oi] == GL_OP_MUL ? gl_mul(ctx, a, b)
                                                      : gl_div(ctx, a, b);
                double *want = out ? ref_alloc(out) : NULL;
                if (want) {
                    FOR4(out) want[at(out, i0, i1, i2, i3)] =
                        binop_ref(ops[oi], get(a, i0, i1, i2, i3),
                                  get(b, i0 % B[0], i1 % B[1], i2 % B[2], i3 % B[3]));
                }
                char what[96];
                snprintf(what, sizeof what, "%s b#%d layout %d", gl_op_name(ops[oi]), si, layout);
                expect_op(ctx, out, want, TOL_ELEM, what, false);
                free(want);
                gl_context_free(ctx);
            }
        }
    }
}

TF_TEST(scale_add1) {
    tf_rng r = {7};
    for (int layout = 0; layout < 3; layout++) {
        gl_context *ctx = new_ctx();
        gl_tensor *a = src_layout(ctx, layout, GL_TYPE_F32, 65, 3, 2, 1, &r, -3, 3);
        gl_tensor *s = gl_scale(ctx, a, -0.37f);
        gl_tensor *b = gl_add1(ctx, a, 1.25f);
        double *ws = ref_alloc(s), *wb = ref_alloc(b);
        FOR4(a) {
            ws[at(a, i0, i1, i2, i3)] = (float)get(a, i0, i1, i2, i3) * -0.37f;
            wb[at(a, i0, i1, i2, i3)] = (float)get(a, i0, i1, i2, i3) + 1.25f;
        }
        expect_op(ctx, s, ws, TOL_ELEM, "scale", false);
        expect_op(ctx, b, wb, TOL_ELEM, "add1", false);
        free(ws);
        free(wb);
        gl_context_free(ctx);
    }
}

static double unary_ref(gl_unary_op op, double x) {
    switch (op) {
    case GL_UNARY_RELU: return x > 0 ? x : 0;
    case GL_UNARY_GELU: return 0.5 * x * erfc(-x / sqrt(2.0)); /* = 1 + erf, without its cancellation */
    case GL_UNARY_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case GL_UNARY_SILU: return x * sigm(x);
    case GL_UNARY_TANH: return tanh(x);
    case GL_UNARY_SIGMOID: return sigm(x);
    case GL_UNARY_NEG: return -x;
    case GL_UNARY_SQR: return x * x;
    case GL_UNARY_SQRT: return sqrt(x);
    case GL_UNARY_EXP: return exp(x);
    default: return NAN;
    }
}

TF_TEST(unary_all) {
    tf_rng r = {99};
    for (int op = 0; op < GL_UNARY_COUNT; op++) {
        for (int layout = 0; layout < 3; layout++) {
            gl_context *ctx = new_ctx();
            const float lo = op == GL_UNARY_SQRT ? 0.0f : -7.0f;
            gl_tensor *a = src_layout(ctx, layout, GL_TYPE_F32, 67, 5, 3, 1, &r, lo, 7.0f);
            gl_tensor *out = op == GL_UNARY_GELU ? gl_gelu(ctx, a)
                           : op == GL_UNARY_SILU ? gl_silu(ctx, a)
                                                 : gl_unary(ctx, a, (gl_unary_op)op);
            double *want = ref_alloc(out);
            FOR4(a) want[at(a, i0, i1, i2, i3)] = unary_ref((gl_unary_op)op, get(a, i0, i1, i2, i3));
            char what[64];
            snprintf(what, sizeof what, "unary %d layout %d", op, layout);
            expect_op(ctx, out, want, TOL_UNARY, what, false);
            free(want);
            gl_context_free(ctx);
        }
    }
}

/* Exact GELU in relative terms over x in [-12, 12] (values down to ~1e-31), both the SIMD
 * body and the scalar tail (a row of 24001 elements: 24000 in 8- or 4-wide steps and one
 * left over, then a row of 7: tail only). 1 + erf(x / sqrt 2) computed as such cancels for
 * x < -5.5 (0 instead of ~1e-8); the kernels use erfc there. Bound: 5e-7 relative (~8 ulp;
 * measured 2e-7..4e-7 with AVX2; erfcf (scalar path) is within 1-2 ulp). */
TF_TEST(gelu_relative) {
    const int64_t lens[2] = {24001, 7};
    for (int k = 0; k < 2; k++) {
        gl_context *ctx = new_ctx();
        const int64_t n = lens[k];
        gl_tensor *a = gl_new_tensor_1d(ctx, GL_TYPE_F32, n);
        double *want = calloc((size_t)n, sizeof *want);
        for (int64_t i = 0; i < n; i++) {
            const float x = n > 1 ? -12.0f + 24.0f * (float)i / (float)(n - 1) : 0.0f;
            ((float *)a->data)[i] = x;
            /* from the float z = x * (float)(1/sqrt 2) that the kernels (and PyTorch) round
             * to: erfc's relative condition number is 2 z^2 (~64 at x = -8), which would
             * otherwise hide the kernels' own error */
            const double z = (double)(x * 0.70710678118654752f);
            want[i] = 0.5 * x * erfc(-z);
        }
        char what[48];
        snprintf(what, sizeof what, "gelu relative, %lld elements", (long long)n);
        expect_op(ctx, gl_gelu(ctx, a), want, 1e-37, 5e-7, what, false);
        free(want);
        gl_context_free(ctx);
    }
}

/* ------------------------------------------------------------------------------------------
 * Norms, softmax, reductions
 * ---------------------------------------------------------------------------------------- */

TF_TEST(norms) {
    tf_rng r = {5};
    const int64_t widths[5] = {1, 7, 33, 65, 768};
    for (int wi = 0; wi < 5; wi++) {
        for (int layout = 0; layout < 3; layout++) {
            const int64_t n = widths[wi];
            gl_context *ctx = new_ctx();
            gl_tensor *a = src_layout(ctx, layout, GL_TYPE_F32, n, 5, 2, 1, &r, -2.0f, 3.0f);
            gl_tensor *w = rnd(ctx, layout == 1 ? GL_TYPE_F16 : GL_TYPE_F32, n, 1, 1, 1, &r, 0.5f, 1.5f);
            gl_tensor *b = rnd(ctx, GL_TYPE_F32, n, 1, 1, 1, &r, -1.0f, 1.0f);
            const float eps = 1e-5f;
            gl_tensor *o_norm = gl_norm(ctx, a, eps);
            gl_tensor *o_rms = gl_rms_norm(ctx, a, eps);
            gl_tensor *o_ln = gl_layer_norm(ctx, a, w, b, eps);
            gl_tensor *o_lnw = gl_layer_norm(ctx, a, w, NULL, eps);
            double *w_norm = ref_alloc(a), *w_rms = ref_alloc(a), *w_ln = ref_alloc(a), *w_lnw = ref_alloc(a);
            for (int64_t i2 = 0; i2 < a->ne[2]; i2++) {
                for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                    double mean = 0, ms = 0, var = 0;
                    for (int64_t i0 = 0; i0 < n; i0++) mean += get(a, i0, i1, i2, 0);
                    mean /= n;
                    for (int64_t i0 = 0; i0 < n; i0++) {
                        const double x = get(a, i0, i1, i2, 0);
                        var += (x - mean) * (x - mean);
                        ms += x * x;
                    }
                    var /= n;
                    ms /= n;
                    for (int64_t i0 = 0; i0 < n; i0++) {
                        const double x = get(a, i0, i1, i2, 0);
                        const double z = (x - mean) / sqrt(var + eps);
                        const int64_t k = at(a, i0, i1, i2, 0);
                        w_norm[k] = z;
                        w_rms[k] = x / sqrt(ms + eps);
                        w_ln[k] = z * get(w, i0, 0, 0, 0) + get(b, i0, 0, 0, 0);
                        w_lnw[k] = z * get(w, i0, 0, 0, 0);
                    }
                }
            }
            char what[64];
            snprintf(what, sizeof what, "norm n=%lld layout %d", (long long)n, layout);
            expect_op(ctx, o_norm, w_norm, TOL_RED, what, false);
            snprintf(what, sizeof what, "rms_norm n=%lld layout %d", (long long)n, layout);
            expect_op(ctx, o_rms, w_rms, TOL_RED, what, false);
            snprintf(what, sizeof what, "layer_norm n=%lld layout %d", (long long)n, layout);
            expect_op(ctx, o_ln, w_ln, TOL_RED, what, false);
            snprintf(what, sizeof what, "layer_norm(w) n=%lld layout %d", (long long)n, layout);
            expect_op(ctx, o_lnw, w_lnw, TOL_RED, what, false);
            free(w_norm);
            free(w_rms);
            free(w_ln);
            free(w_lnw);
            gl_context_free(ctx);
        }
    }
}

/* softmax over ne0 of a*scale + mask with the causal rule i0 > i1 + (ne0 - ne1). */
static void softmax_ref(const gl_tensor *a, const gl_tensor *mask, double scale, bool causal,
                        const gl_tensor *out, double *want) {
    const int64_t n = a->ne[0], n_past = a->ne[0] - a->ne[1];
    double *row = malloc((size_t)n * sizeof(double) + 1);
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++) {
                double mx = -INFINITY;
                for (int64_t i0 = 0; i0 < n; i0++) {
                    double v = get(a, i0, i1, i2, i3) * scale;
                    if (mask) v += get(mask, i0, i1, i2 % mask->ne[2], i3 % mask->ne[3]);
                    if (causal && i0 > i1 + n_past) v = -INFINITY;
                    row[i0] = v;
                    if (v > mx) mx = v;
                }
                double sum = 0;
                for (int64_t i0 = 0; i0 < n; i0++) sum += row[i0] == -INFINITY ? 0 : exp(row[i0] - mx);
                for (int64_t i0 = 0; i0 < n; i0++)
                    want[at(out, i0, i1, i2, i3)] =
                        mx == -INFINITY || row[i0] == -INFINITY ? 0.0 : exp(row[i0] - mx) / sum;
            }
    free(row);
}

TF_TEST(softmax) {
    tf_rng r = {11};
    for (int layout = 0; layout < 3; layout++) {
        for (int variant = 0; variant < 4; variant++) {
            gl_context *ctx = new_ctx();
            const bool use_mask = variant & 1, causal = variant & 2;
            gl_tensor *a = src_layout(ctx, layout, GL_TYPE_F32, 37, 5, 3, 1, &r, -4, 4);
            gl_tensor *mask = NULL;
            if (use_mask) { /* [37, 6 >= 5, 1, 1] with some -inf and one fully masked row */
                mask = rnd(ctx, GL_TYPE_F32, 37, 6, 1, 1, &r, -2, 2);
                for (int64_t j = 0; j < 37; j += 5) set(mask, j, 1, 0, 0, -INFINITY);
                for (int64_t j = 0; j < 37; j++) set(mask, j, 3, 0, 0, -INFINITY);
            }
            gl_tensor *out = gl_softmax_ext(ctx, a, mask, 0.3f, causal);
            double *want = ref_alloc(out);
            softmax_ref(a, mask, 0.3f, causal, out, want);
            char what[64];
            snprintf(what, sizeof what, "softmax mask %d causal %d layout %d", use_mask, causal, layout);
            expect_op(ctx, out, want, TOL_RED, what, false);
            free(want);
            gl_context_free(ctx);
        }
    }
    /* plain softmax on single elements and on a per-head mask broadcast over dim 3 */
    gl_context *ctx = new_ctx();
    gl_tensor *a = rnd(ctx, GL_TYPE_F32, 1, 3, 1, 1, &r, -1, 1);
    gl_tensor *out = gl_softmax(ctx, a);
    double want1[3] = {1, 1, 1};
    expect_op(ctx, out, want1, TOL_RED, "softmax ne0=1", false);
    gl_tensor *b = rnd(ctx, GL_TYPE_F32, 65, 4, 2, 3, &r, -5, 5);
    gl_tensor *m = rnd(ctx, GL_TYPE_F32, 65, 4, 2, 1, &r, -1, 1);
    out = gl_softmax_ext(ctx, b, m, 1.0f, false);
    double *want = ref_alloc(out);
    softmax_ref(b, m, 1.0, false, out, want);
    expect_op(ctx, out, want, TOL_RED, "softmax per-head mask", false);
    free(want);
    gl_context_free(ctx);
}

TF_TEST(reductions) {
    tf_rng r = {13};
    for (int layout = 0; layout < 3; layout++) {
        gl_context *ctx = new_ctx();
        gl_tensor *a = src_layout(ctx, layout, GL_TYPE_F32, 65, 7, 3, 1, &r, -3, 3);
        /* a tie in row (1, 0): the first maximum wins */
        set(a, 10, 1, 0, 0, 9.0);
        set(a, 40, 1, 0, 0, 9.0);
        gl_tensor *s = gl_sum_rows(ctx, a), *m = gl_mean(ctx, a), *am = gl_argmax(ctx, a);
        double *ws = ref_alloc(s), *wm = ref_alloc(m), *wa = ref_alloc(am);
        for (int64_t i2 = 0; i2 < 3; i2++)
            for (int64_t i1 = 0; i1 < 7; i1++) {
                double sum = 0, best = -INFINITY;
                int64_t bi = 0;
                for (int64_t i0 = 0; i0 < 65; i0++) {
                    const double x = get(a, i0, i1, i2, 0);
                    sum += x;
                    if (x > best) {
                        best = x;
                        bi = i0;
                    }
                }
                ws[at(s, 0, i1, i2, 0)] = sum;
                wm[at(m, 0, i1, i2, 0)] = sum / 65;
                wa[at(am, i1, i2, 0, 0)] = (double)bi;
            }
        TF_CHECK(am && am->type == GL_TYPE_I32 && am->ne[0] == 7 && am->ne[1] == 3, "argmax shape");
        expect_op(ctx, s, ws, TOL_RED, "sum_rows", false);
        expect_op(ctx, m, wm, TOL_RED, "mean", false);
        expect_op(ctx, am, wa, 0, 0, "argmax", false);
        free(ws);
        free(wm);
        free(wa);
        gl_context_free(ctx);
    }
}

/* ------------------------------------------------------------------------------------------
 * Copies, get_rows, concat
 * ---------------------------------------------------------------------------------------- */

TF_TEST(cont_cast_cpy) {
    tf_rng r = {17};
    gl_context *ctx = new_ctx();
    /* cont of a transposed tensor, F32 and F16 */
    for (int ti = 0; ti < 2; ti++) {
        const gl_type type = ti ? GL_TYPE_F16 : GL_TYPE_F32;
        gl_tensor *a = transposed(ctx, type, 7, 33, 3, &r, -2, 2);
        gl_tensor *out = gl_cont(ctx, a);
        TF_CHECK(out && out->type == type, "cont keeps the type");
        double *want = ref_alloc(out);
        FOR4(a) want[at(a, i0, i1, i2, i3)] = get(a, i0, i1, i2, i3);
        expect_op(ctx, out, want, TOL_ELEM, ti ? "cont f16" : "cont f32", false);
        free(want);
    }
    /* cast F32 (permuted) -> F16 and -> BF16: results rounded like gl_fp32_to_fp16 */
    {
        gl_tensor *base = rnd(ctx, GL_TYPE_F32, 5, 9, 4, 1, &r, -3, 3);
        gl_tensor *a = gl_permute(ctx, base, 0, 2, 1, 3); /* [5, 4, 9] */
        gl_tensor *h = gl_cast(ctx, a, GL_TYPE_F16), *bf = gl_cast(ctx, a, GL_TYPE_BF16);
        double *wh = ref_alloc(h), *wb = ref_alloc(bf);
        FOR4(a) {
            const float x = (float)get(a, i0, i1, i2, i3);
            wh[at(a, i0, i1, i2, i3)] = gl_fp16_to_fp32(gl_fp32_to_fp16(x));
            wb[at(a, i0, i1, i2, i3)] = gl_bf16_to_fp32(gl_fp32_to_bf16(x));
        }
        expect_op(ctx, h, wh, 0, 0, "cast f16", false);
        expect_op(ctx, bf, wb, 0, 0, "cast bf16", false);
        free(wh);
        free(wb);
    }
    /* cast to Q8_0: within the type's rounding (half a step of max|x|/127 per block) */
    {
        gl_tensor *a = rnd(ctx, GL_TYPE_F32, 64, 3, 1, 1, &r, -1, 1);
        gl_tensor *q = gl_cast(ctx, gl_cont(ctx, a), GL_TYPE_Q8_0);
        gl_tensor *back = gl_cast(ctx, q, GL_TYPE_F32);
        double *want = ref_alloc(back);
        FOR4(a) want[at(a, i0, i1, i2, i3)] = get(a, i0, i1, i2, i3);
        expect_op(ctx, back, want, 1.0 / 254 + 1e-3, 0, "cast q8_0 round trip", false);
        free(want);
    }
    /* cpy into a view of an F16 KV cache (rows 2..6 of [16, 10] with a row stride) */
    {
        gl_tensor *cache = gl_new_tensor_2d(ctx, GL_TYPE_F16, 16, 10);
        for (int64_t i = 0; i < 160; i++) ((gl_fp16 *)cache->data)[i] = gl_fp32_to_fp16(-7.0f);
        gl_tensor *kcur = padded(ctx, GL_TYPE_F32, 16, 5, 1, 1, &r, -1, 1);
        gl_tensor *dst = gl_view_2d(ctx, cache, 16, 5, cache->nb[1], 2 * cache->nb[1]);
        gl_tensor *out = gl_cpy(ctx, kcur, dst);
        if (TF_CHECK(out != NULL, "cpy: %s", gl_ctx_error(ctx))) {
            void *buf = compute(ctx, out, 2);
            bool ok = true;
            for (int64_t j = 0; j < 10; j++)
                for (int64_t i = 0; i < 16; i++) {
                    const double want = j >= 2 && j < 7
                                            ? gl_fp16_to_fp32(gl_fp32_to_fp16((float)get(kcur, i, j - 2, 0, 0)))
                                            : -7.0;
                    ok = ok && get(cache, i, j, 0, 0) == want;
                }
            TF_CHECK(ok, "cpy into the cache view wrote the wrong elements");
            free(buf);
        }
    }
    /* a reshaping copy: [6, 4] into [4, 6] in row-major element order, F16 -> F32 */
    {
        gl_tensor *a = rnd(ctx, GL_TYPE_F16, 6, 4, 1, 1, &r, -2, 2);
        gl_tensor *dst = gl_new_tensor_2d(ctx, GL_TYPE_F32, 4, 6);
        gl_tensor *out = gl_cpy(ctx, a, dst);
        double want[24];
        for (int k = 0; k < 24; k++) want[k] = get(a, k % 6, k / 6, 0, 0);
        expect_op(ctx, out, want, 0, 0, "cpy reshaping", false);
    }
    gl_context_free(ctx);
}

TF_TEST(get_rows) {
    tf_rng r = {19};
    gl_context *ctx = new_ctx();
    const gl_type types[3] = {GL_TYPE_F32, GL_TYPE_F16, GL_TYPE_Q8_0};
    for (int ti = 0; ti < 3; ti++) {
        const int64_t ne0 = 64, rows = 9;
        gl_tensor *a;
        if (types[ti] == GL_TYPE_Q8_0) {
            gl_tensor *src = rnd(ctx, GL_TYPE_F32, ne0, rows, 1, 1, &r, -1, 1);
            a = gl_new_tensor_2d(ctx, GL_TYPE_Q8_0, ne0, rows);
            const gl_type_traits *tt = gl_type_get(GL_TYPE_Q8_0);
            for (int64_t j = 0; j < rows; j++)
                tt->from_float_ref((const float *)src->data + j * ne0, (char *)a->data + j * a->nb[1], ne0);
        } else {
            a = rnd(ctx, types[ti], ne0, rows, 1, 1, &r, -1, 1);
        }
        gl_tensor *ids = gl_new_tensor_1d(ctx, GL_TYPE_I32, 6);
        const int32_t idv[6] = {3, 0, 8, 3, -1, 9}; /* the last two are out of range */
        memcpy(ids->data, idv, sizeof idv);
        gl_tensor *out = gl_get_rows(ctx, a, ids);
        double *want = ref_alloc(out);
        float rowf[64];
        for (int k = 0; k < 6; k++) {
            if (idv[k] < 0 || idv[k] >= rows) continue; /* zeros */
            gl_type_get(a->type)->to_float((const char *)a->data + idv[k] * a->nb[1], rowf, ne0);
            for (int64_t i = 0; i < ne0; i++) want[at(out, i, k, 0, 0)] = rowf[i];
        }
        char what[48];
        snprintf(what, sizeof what, "get_rows %s", gl_type_name(types[ti]));
        expect_op(ctx, out, want, TOL_ELEM, what, false);
        free(want);
    }
    /* 3-D table [5, 4, 3] with 2-D ids [2, 3]: slice i11 picks from a[:, id, i11] */
    gl_tensor *a = padded(ctx, GL_TYPE_F32, 5, 4, 3, 1, &r, -1, 1);
    gl_tensor *ids = gl_new_tensor_2d(ctx, GL_TYPE_I32, 2, 3);
    const int32_t idv[6] = {1, 3, 0, 0, 2, 1};
    memcpy(ids->data, idv, sizeof idv);
    gl_tensor *out = gl_get_rows(ctx, a, ids);
    double *want = ref_alloc(out);
    for (int64_t i2 = 0; i2 < 3; i2++)
        for (int64_t i1 = 0; i1 < 2; i1++)
            for (int64_t i0 = 0; i0 < 5; i0++)
                want[at(out, i0, i1, i2, 0)] = get(a, i0, idv[i2 * 2 + i1], i2, 0);
    expect_op(ctx, out, want, TOL_ELEM, "get_rows 3-D", false);
    free(want);
    gl_context_free(ctx);
}

TF_TEST(concat) {
    tf_rng r = {23};
    for (int dim = 0; dim < 4; dim++) {
        gl_context *ctx = new_ctx();
        int64_t na[4] = {7, 3, 2, 2}, nb[4] = {7, 3, 2, 2};
        nb[dim] = dim == 0 ? 5 : 1 + dim;
        gl_tensor *a = padded(ctx, GL_TYPE_F32, na[0], na[1], na[2], na[3], &r, -1, 1);
        gl_tensor *b = rnd(ctx, GL_TYPE_F16, nb[0], nb[1], nb[2], nb[3], &r, -1, 1);
        gl_tensor *out = gl_concat(ctx, a, b, dim);
        double *want = ref_alloc(out);
        FOR4(out) {
            int64_t i[4] = {i0, i1, i2, i3};
            const bool from_a = i[dim] < na[dim];
            if (!from_a) i[dim] -= na[dim];
            want[at(out, i0, i1, i2, i3)] = from_a ? get(a, i[0], i[1], i[2], i[3]) : get(b, i[0], i[1], i[2], i[3]);
        }
        char what[32];
        snprintf(what, sizeof what, "concat dim %d", dim);
        expect_op(ctx, out, want, TOL_ELEM, what, false);
        free(want);
        gl_context_free(ctx);
    }
}

/* ------------------------------------------------------------------------------------------
 * RoPE
 * ---------------------------------------------------------------------------------------- */

TF_TEST(rope) {
    tf_rng r = {29};
    const struct { int64_t hd; int n_dims; gl_rope_mode mode; float scale; } cases[] = {
        {64, 64, GL_ROPE_NORMAL, 1.0f}, {64, 64, GL_ROPE_NEOX, 1.0f},
        {20, 12, GL_ROPE_NORMAL, 0.5f}, {20, 12, GL_ROPE_NEOX, 0.25f},
        {34, 34, GL_ROPE_NEOX, 1.0f},   {6, 2, GL_ROPE_NORMAL, 1.0f},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        for (int layout = 0; layout < 2; layout++) {
            gl_context *ctx = new_ctx();
            const int64_t hd = cases[ci].hd, nh = 3, nt = 5;
            gl_tensor *a;
            if (layout == 0) {
                a = rnd(ctx, GL_TYPE_F32, hd, nh, nt, 1, &r, -1, 1);
            } else { /* the q part of a fused qkv row: [hd, nh, nt] view of [3*hd*nh, nt] */
                gl_tensor *qkv = rnd(ctx, GL_TYPE_F32, 3 * hd * nh, nt, 1, 1, &r, -1, 1);
                a = gl_view_3d(ctx, qkv, hd, nh, nt, hd * sizeof(float), qkv->nb[1],
                               hd * nh * sizeof(float));
            }
            gl_tensor *pos = gl_new_tensor_1d(ctx, GL_TYPE_I32, nt);
            for (int64_t i = 0; i < nt; i++) ((int32_t *)pos->data)[i] = tf_rand_int(&r, 0, 300);
            const float base = 10000.0f;
            gl_tensor *out = gl_rope(ctx, a, pos, cases[ci].n_dims, cases[ci].mode, base, cases[ci].scale);
            double *want = ref_alloc(out);
            const int nd = cases[ci].n_dims;
            for (int64_t t = 0; t < nt; t++)
                for (int64_t h = 0; h < nh; h++) {
                    const double p = ((int32_t *)pos->data)[t];
                    for (int64_t i = 0; i < hd; i++) want[at(out, i, h, t, 0)] = get(a, i, h, t, 0);
                    for (int i = 0; i < nd / 2; i++) {
                        const double th = p * cases[ci].scale * pow(base, -2.0 * i / nd);
                        const int64_t j0 = cases[ci].mode == GL_ROPE_NEOX ? i : 2 * i;
                        const int64_t j1 = cases[ci].mode == GL_ROPE_NEOX ? i + nd / 2 : 2 * i + 1;
                        const double x0 = get(a, j0, h, t, 0), x1 = get(a, j1, h, t, 0);
                        want[at(out, j0, h, t, 0)] = x0 * cos(th) - x1 * sin(th);
                        want[at(out, j1, h, t, 0)] = x0 * sin(th) + x1 * cos(th);
                    }
                }
            char what[64];
            snprintf(what, sizeof what, "rope case %zu layout %d", ci, layout);
            expect_op(ctx, out, want, TOL_RED, what, false);
            free(want);
            gl_context_free(ctx);
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Attention
 * ---------------------------------------------------------------------------------------- */

/* out[:, h, i, b] = softmax_j(q.k_j * scale + mask[j, i]) v_j, causal j > i + n_kv - n_q. */
static void attn_ref(const gl_tensor *q, const gl_tensor *k, const gl_tensor *v,
                     const gl_tensor *mask, double scale, bool causal, const gl_tensor *out,
                     double *want) {
    const int64_t d = q->ne[0], n_q = q->ne[1], n_head = q->ne[2], n_kv = k->ne[1], dv = v->ne[0];
    const int64_t group = n_head / k->ne[2];
    double *s = malloc((size_t)n_kv * sizeof(double) + 1);
    for (int64_t b = 0; b < q->ne[3]; b++)
        for (int64_t h = 0; h < n_head; h++)
            for (int64_t i = 0; i < n_q; i++) {
                const int64_t hk = h / group;
                double mx = -INFINITY;
                for (int64_t j = 0; j < n_kv; j++) {
                    double dot = 0;
                    for (int64_t l = 0; l < d; l++) dot += get(q, l, i, h, b) * get(k, l, j, hk, b % k->ne[3]);
                    s[j] = dot * scale;
                    if (mask) s[j] += get(mask, j, i, h % mask->ne[2], b % mask->ne[3]);
                    if (causal && j > i + n_kv - n_q) s[j] = -INFINITY;
                    if (s[j] > mx) mx = s[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < n_kv; j++) {
                    s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
                    sum += s[j];
                }
                for (int64_t e = 0; e < dv; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < n_kv; j++) acc += s[j] * get(v, e, j, hk, b % v->ne[3]);
                    want[at(out, e, h, i, b)] = mx == -INFINITY ? 0.0 : acc / sum;
                }
            }
    free(s);
}

typedef struct attn_case {
    int64_t d, dv, n_q, n_kv, n_head, n_head_kv, batch;
    bool causal, mask, f16, cache_view, permuted_q;
    bool head_mask; /* mask [n_kv, n_q, n_head, batch]: one per head (T5's position bias) */
} attn_case;

static void run_attn_case(const attn_case *c, tf_rng *r, const char *what) {
    gl_context *ctx = new_ctx();
    const gl_type kvt = c->f16 ? GL_TYPE_F16 : GL_TYPE_F32;
    gl_tensor *q;
    if (c->permuted_q) { /* [d, n_head, n_q] as a matmul leaves it, permuted to [d, n_q, n_head] */
        gl_tensor *base = rnd(ctx, GL_TYPE_F32, c->d, c->n_head, c->n_q, c->batch, r, -1, 1);
        q = gl_permute(ctx, base, 0, 2, 1, 3);
    } else {
        q = rnd(ctx, GL_TYPE_F32, c->d, c->n_q, c->n_head, c->batch, r, -1, 1);
    }
    gl_tensor *k, *v;
    if (c->cache_view) { /* the first n_kv cells of a cache of n_kv + 3 cells */
        const int64_t n_ctx = c->n_kv + 3;
        gl_tensor *kc = rnd(ctx, kvt, c->d, n_ctx, c->n_head_kv, c->batch, r, -1, 1);
        gl_tensor *vc = rnd(ctx, kvt, c->dv, n_ctx, c->n_head_kv, c->batch, r, -1, 1);
        k = gl_view_4d(ctx, kc, c->d, c->n_kv, c->n_head_kv, c->batch, kc->nb[1], kc->nb[2], kc->nb[3], 0);
        v = gl_view_4d(ctx, vc, c->dv, c->n_kv, c->n_head_kv, c->batch, vc->nb[1], vc->nb[2], vc->nb[3], 0);
    } else {
        k = rnd(ctx, kvt, c->d, c->n_kv, c->n_head_kv, c->batch, r, -1, 1);
        v = rnd(ctx, kvt, c->dv, c->n_kv, c->n_head_kv, c->batch, r, -1, 1);
    }
    gl_tensor *mask = NULL;
    if (c->head_mask) {
        mask = rnd(ctx, GL_TYPE_F32, c->n_kv, c->n_q, c->n_head, c->batch, r, -3, 3);
    } else if (c->mask) { /* [n_kv, n_q + 1, 1, batch]: per-sequence padding masks */
        mask = rnd(ctx, GL_TYPE_F32, c->n_kv, c->n_q + 1, 1, c->batch, r, -1, 1);
        for (int64_t b = 0; b < c->batch; b++)
            for (int64_t i = 0; i < c->n_q + 1; i++) set(mask, (i + b) % c->n_kv, i, 0, b, -INFINITY);
    }
    const float scale = 1.0f / sqrtf((float)c->d);
    gl_tensor *out = gl_attn(ctx, q, k, v, mask, scale, c->causal);
    if (TF_CHECK(out != NULL, "%s: %s", what, gl_ctx_error(ctx))) {
        TF_CHECK(out->ne[0] == c->dv && out->ne[1] == c->n_head && out->ne[2] == c->n_q, "%s: shape", what);
        double *want = ref_alloc(out);
        attn_ref(q, k, v, mask, scale, c->causal, out, want);
        expect_op(ctx, out, want, TOL_RED, what, false);
        free(want);
    }
    gl_context_free(ctx);
}

TF_TEST(attention) {
    tf_rng r = {31};
    const attn_case cases[] = {
        /* d  dv n_q n_kv nh nkv b  causal mask  f16   view  perm  head_mask */
        {16, 16, 5, 9, 4, 2, 1, true, false, true, true, false, false}, /* GQA, causal n_kv > n_q, F16 cache */
        {16, 16, 5, 9, 4, 2, 1, true, true, false, false, true, false}, /* + mask, permuted q */
        {33, 7, 3, 3, 2, 2, 1, false, true, false, true, false, false}, /* odd sizes, dv != d */
        {8, 8, 1, 17, 4, 1, 1, true, false, true, true, false, false}, /* decode: one query, MQA */
        {8, 8, 5, 3, 2, 1, 1, true, false, false, false, false, false}, /* n_kv < n_q: first rows see nothing */
        {12, 12, 4, 4, 2, 2, 2, false, true, true, false, true, false},   /* batch of 2 with own masks */
        {64, 64, 7, 65, 4, 2, 1, true, true, false, true, false, false},  /* longer rows (SIMD bodies) */
        {16, 16, 6, 6, 4, 4, 1, false, true, false, false, true, true}, /* per-head bias (T5 encoder) */
        {16, 16, 1, 9, 4, 4, 2, true, true, false, true, true, true},   /* per-head bias, decode step */
        /* n_q >= 8 with F32 K/V: the blocked path (mat-mat kernel) where the build has one */
        {64, 64, 128, 128, 4, 4, 1, false, false, false, false, true, false}, /* BERT-like, 2 query blocks */
        {16, 16, 70, 75, 4, 2, 2, true, true, false, true, true, false},  /* causal + mask, GQA, cache view, 2 blocks */
        {33, 7, 9, 9, 2, 1, 1, true, false, false, false, false, false},   /* odd d, dv < kernel tile */
        {16, 16, 20, 12, 2, 2, 1, true, false, false, false, false, false}, /* n_kv < n_q: first rows see nothing */
        {16, 16, 12, 12, 4, 4, 2, false, true, false, false, true, true},  /* per-head bias (T5 encoder) */
        {8, 8, 10, 3, 2, 2, 1, false, true, false, false, false, false},   /* short rows with a mask */
        {16, 16, 70, 3, 2, 2, 1, true, false, false, false, false, false},  /* a whole block sees no key */
        /* the blocked path with an F16 cache (converted while K and V are packed) */
        {64, 64, 70, 75, 4, 2, 1, true, true, true, true, true, false},  /* causal + mask, GQA, cache view */
        {40, 16, 12, 12, 4, 4, 2, false, true, true, false, false, true}, /* d not a multiple of the tile */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "attn case %zu", i);
        run_attn_case(&cases[i], &r, what);
    }
}

/* ------------------------------------------------------------------------------------------
 * conv1d_max and highway
 * ---------------------------------------------------------------------------------------- */

TF_TEST(conv1d_max) {
    tf_rng r = {37};
    const struct { int64_t c_in, len, n, c_out; int width; bool f16, padded, q8; } cases[] = {
        {5, 11, 3, 37, 3, false, true, false}, {5, 11, 3, 37, 11, true, false, false},
        {4, 50, 2, 64, 7, false, false, false}, {1, 3, 1, 1, 1, true, true, false},
        {16, 9, 3, 40, 2, false, true, true}, /* Q8_0 weights, K = 32 */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        gl_context *ctx = new_ctx();
        const int64_t c_in = cases[ci].c_in, len = cases[ci].len, n = cases[ci].n;
        const int64_t c_out = cases[ci].c_out, width = cases[ci].width;
        gl_tensor *x = cases[ci].padded ? padded(ctx, GL_TYPE_F32, c_in, len, n, 1, &r, -1, 1)
                                        : rnd(ctx, GL_TYPE_F32, c_in, len, n, 1, &r, -1, 1);
        gl_tensor *w = rnd(ctx, cases[ci].f16 ? GL_TYPE_F16 : GL_TYPE_F32, c_in * width, c_out, 1, 1, &r, -1, 1);
        gl_tensor *b = rnd(ctx, GL_TYPE_F32, c_out, 1, 1, 1, &r, -1, 1);
        gl_tensor *out = gl_conv1d_max(ctx, x, cases[ci].q8 ? q8_copy(ctx, w) : w, b, (int)width);
        double *want = out ? ref_alloc(out) : NULL;
        for (int64_t s = 0; want && s < n; s++)
            for (int64_t o = 0; o < c_out; o++) {
                double best = -INFINITY;
                for (int64_t t = 0; t + width <= len; t++) {
                    double acc = get(b, o, 0, 0, 0);
                    for (int64_t kk = 0; kk < width; kk++)
                        for (int64_t c = 0; c < c_in; c++) acc += get(w, kk * c_in + c, o, 0, 0) * get(x, c, t + kk, s, 0);
                    if (acc > best) best = acc;
                }
                want[at(out, o, s, 0, 0)] = best;
            }
        char what[32];
        snprintf(what, sizeof what, "conv1d_max case %zu", ci);
        if (cases[ci].q8)
            expect_op(ctx, out, want, 5e-2, 0, what, false);
        else
            expect_op(ctx, out, want, TOL_RED, what, false);
        free(want);
        gl_context_free(ctx);
    }
}

TF_TEST(highway) {
    tf_rng r = {41};
    /* variant 2: F16 weights (x rounded to fp16 for the product, as gl_mul_mat does for F16
     * weights: tolerance 2e-3); variant 3: Q8_0 weights (x quantized to Q8_0: 2e-2) */
    for (int variant = 0; variant < 4; variant++) {
        gl_context *ctx = new_ctx();
        const int64_t d = variant >= 2 ? 64 : 33, n = variant == 2 ? 1 : 4;
        gl_tensor *x = variant == 1 ? padded(ctx, GL_TYPE_F32, d, n, 1, 1, &r, -1, 1)
                                    : rnd(ctx, GL_TYPE_F32, d, n, 1, 1, &r, -1, 1);
        gl_tensor *w = rnd(ctx, variant == 2 ? GL_TYPE_F16 : GL_TYPE_F32, d, 2 * d, 1, 1, &r, -0.5f, 0.5f);
        gl_tensor *b = rnd(ctx, GL_TYPE_F32, 2 * d, 1, 1, 1, &r, -1, 1);
        gl_tensor *out = gl_highway(ctx, x, variant == 3 ? q8_copy(ctx, w) : w, b);
        double *want = ref_alloc(out);
        for (int64_t s = 0; s < n; s++)
            for (int64_t j = 0; j < d; j++) {
                double ht = get(b, j, 0, 0, 0), hg = get(b, d + j, 0, 0, 0);
                for (int64_t l = 0; l < d; l++) {
                    ht += get(w, l, j, 0, 0) * get(x, l, s, 0, 0);
                    hg += get(w, l, d + j, 0, 0) * get(x, l, s, 0, 0);
                }
                const double g = sigm(hg);
                want[at(out, j, s, 0, 0)] = g * get(x, j, s, 0, 0) + (1 - g) * (ht > 0 ? ht : 0);
            }
        char what[32];
        snprintf(what, sizeof what, "highway variant %d", variant);
        if (variant >= 2)
            expect_op(ctx, out, want, variant == 3 ? 2e-2 : 2e-3, 0, what, false);
        else
            expect_op(ctx, out, want, TOL_RED, what, false);
        free(want);
        gl_context_free(ctx);
    }
}

/* ------------------------------------------------------------------------------------------
 * LSTM
 * ---------------------------------------------------------------------------------------- */

static double clipd(double x, double c) { return c > 0 ? (x > c ? c : (x < -c ? -c : x)) : x; }

/* One run of the sequence in double: updates st (c then h per column) and fills out. */
static void lstm_ref(const gl_tensor *xw, const gl_tensor *wh, const gl_tensor *wp,
                     const int32_t *lens, double fb, double cclip, double pclip, bool reverse,
                     double *st, double *out) {
    const int64_t cell = xw->ne[0] / 4, T = xw->ne[1], B = xw->ne[2], proj = wh->ne[0];
    double *g = malloc(sizeof(double) * (size_t)(4 * cell)), *hc = malloc(sizeof(double) * (size_t)cell);
    for (int64_t b = 0; b < B; b++) {
        double *c = st + b * (cell + proj), *h = c + cell;
        for (int64_t step = 0; step < T; step++) {
            const int64_t t = reverse ? T - 1 - step : step;
            double *o = out + (b * T + t) * proj;
            if (lens && t >= lens[b]) {
                for (int64_t k = 0; k < proj; k++) o[k] = 0;
                continue;
            }
            for (int64_t j = 0; j < 4 * cell; j++) {
                g[j] = get(xw, j, t, b, 0);
                for (int64_t k = 0; k < proj; k++) g[j] += get(wh, k, j, 0, 0) * h[k];
            }
            for (int64_t j = 0; j < cell; j++) {
                const double ig = sigm(g[j]), fg = sigm(g[cell + j] + fb), gg = tanh(g[2 * cell + j]);
                const double og = sigm(g[3 * cell + j]);
                c[j] = clipd(fg * c[j] + ig * gg, cclip);
                hc[j] = og * tanh(c[j]);
            }
            for (int64_t k = 0; k < proj; k++) {
                if (wp) {
                    double acc = 0;
                    for (int64_t j = 0; j < cell; j++) acc += get(wp, j, k, 0, 0) * hc[j];
                    h[k] = clipd(acc, pclip);
                } else {
                    h[k] = hc[k];
                }
                o[k] = h[k];
            }
        }
    }
    free(g);
    free(hc);
}

typedef struct lstm_case {
    int64_t cell, proj, T, B;
    bool projection, f16, reverse, lens, padded_xw;
    float cclip, pclip;
    bool q8; /* Q8_0 wh and wp: h quantized for the dots (errors seen ~3e-3), tolerance 1e-2 */
} lstm_case;

static void run_lstm_case(const lstm_case *lc, tf_rng *r, const char *what) {
    gl_context *ctx = new_ctx();
    const int64_t cell = lc->cell, proj = lc->projection ? lc->proj : lc->cell, T = lc->T, B = lc->B;
    /* large enough inputs that the clips bite */
    gl_tensor *xw = lc->padded_xw ? padded(ctx, GL_TYPE_F32, 4 * cell, T, B, 1, r, -2, 2)
                                  : rnd(ctx, GL_TYPE_F32, 4 * cell, T, B, 1, r, -2, 2);
    /* quantized runs keep the recurrence contractive so that rounding does not grow */
    const float amp = lc->q8 ? 0.15f : 1.0f;
    gl_tensor *wh = rnd(ctx, lc->f16 ? GL_TYPE_F16 : GL_TYPE_F32, proj, 4 * cell, 1, 1, r, -amp, amp);
    gl_tensor *wp = lc->projection ? rnd(ctx, GL_TYPE_F32, cell, proj, 1, 1, r, -amp, amp) : NULL;
    gl_tensor *state = rnd(ctx, GL_TYPE_F32, cell + proj, B, 1, 1, r, -0.5f, 0.5f);
    gl_tensor *lens = NULL;
    int32_t lv[8];
    for (int64_t b = 0; b < B; b++) lv[b] = (int32_t)(b == 0 ? T : (b == 1 ? T / 2 : (b == 2 ? 0 : T + 5)));
    if (lc->lens) {
        lens = gl_new_tensor_1d(ctx, GL_TYPE_I32, B);
        memcpy(lens->data, lv, sizeof(int32_t) * (size_t)B);
    }
    gl_tensor *whk = lc->q8 ? q8_copy(ctx, wh) : wh, *wpk = lc->q8 && wp ? q8_copy(ctx, wp) : wp;
    const double atol = lc->q8 ? 1e-2 : 1e-5, rtol = lc->q8 ? 0.0 : 1e-4;
    gl_tensor *out = gl_lstm(ctx, xw, whk, wpk, state, lens, 1.0f, lc->cclip, lc->pclip, lc->reverse);
    if (!TF_CHECK(out != NULL, "%s: %s", what, gl_ctx_error(ctx))) {
        gl_context_free(ctx);
        return;
    }
    const int64_t n_st = (cell + proj) * B, n_out = proj * T * B;
    double *st0 = malloc(sizeof(double) * (size_t)n_st), *st_ref = malloc(sizeof(double) * (size_t)n_st);
    double *want = malloc(sizeof(double) * (size_t)n_out), *want2 = malloc(sizeof(double) * (size_t)n_out);
    float *st_init = malloc(sizeof(float) * (size_t)n_st);
    memcpy(st_init, state->data, sizeof(float) * (size_t)n_st);
    for (int64_t i = 0; i < n_st; i++) st0[i] = st_init[i];
    memcpy(st_ref, st0, sizeof(double) * (size_t)n_st);
    lstm_ref(xw, wh, wp, lc->lens ? lv : NULL, 1.0, lc->cclip, lc->pclip, lc->reverse, st_ref, want);
    /* second call continues from the carried state */
    double *st_ref2 = malloc(sizeof(double) * (size_t)n_st);
    memcpy(st_ref2, st_ref, sizeof(double) * (size_t)n_st);
    lstm_ref(xw, wh, wp, lc->lens ? lv : NULL, 1.0, lc->cclip, lc->pclip, lc->reverse, st_ref2, want2);

    double *res[2][2] = {{NULL, NULL}, {NULL, NULL}};
    for (int nth = 1; nth <= 2; nth++) {
        memcpy(state->data, st_init, sizeof(float) * (size_t)n_st);
        char name[96];
        for (int call = 0; call < 2; call++) {
            res[nth - 1][call] = eval(ctx, out, nth);
            if (!res[nth - 1][call]) continue;
            snprintf(name, sizeof name, "%s call %d (%d threads)", what, call + 1, nth);
            compare(name, res[nth - 1][call], call ? want2 : want, n_out, atol, rtol);
            double got_st[512];
            for (int64_t i = 0; i < n_st && i < 512; i++) got_st[i] = ((float *)state->data)[i];
            snprintf(name, sizeof name, "%s state after call %d (%d threads)", what, call + 1, nth);
            compare(name, got_st, call ? st_ref2 : st_ref, n_st < 512 ? n_st : 512, atol, rtol);
        }
    }
    for (int call = 0; call < 2; call++)
        if (res[0][call] && res[1][call])
            TF_CHECK(memcmp(res[0][call], res[1][call], sizeof(double) * (size_t)n_out) == 0,
                     "%s: 1 vs 2 threads differ", what);
    for (int i = 0; i < 4; i++) free(res[i / 2][i % 2]);
    free(st0);
    free(st_ref);
    free(st_ref2);
    free(want);
    free(want2);
    free(st_init);
    gl_context_free(ctx);
}

TF_TEST(lstm) {
    tf_rng r = {43};
    const lstm_case cases[] = {
        /* cell proj T  B  proj   f16    rev    lens   padded cclip pclip q8 */
        {5, 3, 6, 4, true, false, false, true, true, 0.5f, 0.3f, false},
        {5, 3, 6, 4, true, true, true, true, false, 0.5f, 0.3f, false},
        {6, 6, 5, 3, false, false, false, true, false, 0.0f, 0.0f, false},
        {6, 6, 5, 3, false, true, true, false, true, 3.0f, 0.0f, false},
        {33, 17, 4, 2, true, false, true, false, false, 0.0f, 0.0f, false},
        {1, 1, 3, 1, false, false, false, false, false, 0.0f, 0.0f, false},
        {64, 32, 4, 3, true, false, true, true, false, 0.0f, 0.0f, true},
        {32, 32, 3, 2, false, false, false, false, true, 0.0f, 0.0f, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "lstm case %zu", i);
        run_lstm_case(&cases[i], &r, what);
    }
}

/* ------------------------------------------------------------------------------------------
 * mul_mat (one F32 case; per-type tests live in test-matmul)
 * ---------------------------------------------------------------------------------------- */

TF_TEST(mul_mat_f32) {
    tf_rng r = {47};
    gl_context *ctx = new_ctx();
    gl_tensor *w = rnd(ctx, GL_TYPE_F32, 33, 5, 1, 1, &r, -1, 1);
    gl_tensor *x = rnd(ctx, GL_TYPE_F32, 33, 3, 2, 1, &r, -1, 1);
    gl_tensor *out = gl_mul_mat(ctx, w, x);
    double *want = ref_alloc(out);
    for (int64_t i2 = 0; i2 < 2; i2++)
        for (int64_t i = 0; i < 3; i++)
            for (int64_t j = 0; j < 5; j++) {
                double acc = 0;
                for (int64_t l = 0; l < 33; l++) acc += get(w, l, j, 0, 0) * get(x, l, i, i2, 0);
                want[at(out, j, i, i2, 0)] = acc;
            }
    expect_op(ctx, out, want, TOL_RED, "mul_mat f32", true);
    free(want);
    gl_context_free(ctx);
}

/* ------------------------------------------------------------------------------------------
 * Errors and NULL propagation
 * ---------------------------------------------------------------------------------------- */

TF_TEST(builder_errors) {
    gl_context *ctx = new_ctx();
    gl_tensor *a = gl_new_tensor_2d(ctx, GL_TYPE_F32, 4, 3);
    gl_tensor *b = gl_new_tensor_2d(ctx, GL_TYPE_F32, 3, 3);
    TF_CHECK(gl_ctx_ok(ctx), "fresh context ok");
    gl_tensor *bad = gl_add(ctx, a, b);
    TF_CHECK(bad == NULL, "gl_add of [4,3] and [3,3] must fail");
    const char *e = gl_ctx_error(ctx);
    TF_CHECK(e && strstr(e, "gl_add") && strstr(e, "[4,3,1,1]") && strstr(e, "[3,3,1,1]"),
             "error names the op and shapes: %s", e ? e : "(none)");
    char first[256];
    snprintf(first, sizeof first, "%s", e ? e : "");
    /* NULL propagates through every builder, and the first error is kept */
    TF_CHECK(gl_relu(ctx, bad) == NULL && gl_mul_mat(ctx, a, bad) == NULL &&
                 gl_softmax_ext(ctx, bad, NULL, 1.0f, true) == NULL &&
                 gl_layer_norm(ctx, bad, a, NULL, 1e-5f) == NULL && gl_concat(ctx, a, bad, 0) == NULL &&
                 gl_attn(ctx, bad, a, a, NULL, 1.0f, false) == NULL &&
                 gl_lstm(ctx, bad, a, NULL, a, NULL, 0, 0, 0, false) == NULL && gl_cont(ctx, bad) == NULL &&
                 gl_get_rows(ctx, a, bad) == NULL && gl_argmax(ctx, bad) == NULL,
             "NULL source gives NULL");
    /* an optional source given as NULL after a failure also propagates */
    TF_CHECK(gl_layer_norm(ctx, a, gl_new_tensor_1d(ctx, GL_TYPE_F32, 4), NULL, 1e-5f) == NULL,
             "optional NULL after an error propagates");
    TF_CHECK(strcmp(gl_ctx_error(ctx), first) == 0, "first error kept: %s", gl_ctx_error(ctx));
    gl_context_free(ctx);

    /* one fresh context per case: the message names the builder */
    struct { const char *name; int which; } cases[] = {
        {"gl_mul_mat", 0}, {"gl_rope", 1}, {"gl_attn", 2}, {"gl_lstm", 3}, {"gl_concat", 4},
        {"gl_softmax_ext", 5}, {"gl_conv1d_max", 6}, {"gl_highway", 7}, {"gl_layer_norm", 8},
        {"gl_get_rows", 9}, {"gl_cpy", 10}, {"gl_rope", 11}, {"gl_conv1d_max", 12}, {"gl_highway", 13},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx = new_ctx();
        gl_tensor *x = gl_new_tensor_3d(ctx, GL_TYPE_F32, 8, 4, 2);
        gl_tensor *y = gl_new_tensor_2d(ctx, GL_TYPE_F32, 6, 4);
        gl_tensor *pos = gl_new_tensor_1d(ctx, GL_TYPE_I32, 2);
        gl_tensor *res = x;
        switch (cases[i].which) {
        case 0: res = gl_mul_mat(ctx, y, x); break;                          /* 6 != 8 */
        case 1: res = gl_rope(ctx, x, pos, 3, GL_ROPE_NORMAL, 1e4f, 1.0f); break; /* odd n_dims */
        case 2: res = gl_attn(ctx, x, y, y, NULL, 1.0f, false); break;      /* d mismatch */
        case 3: res = gl_lstm(ctx, gl_new_tensor_3d(ctx, GL_TYPE_F32, 8, 3, 2), gl_new_tensor_2d(ctx, GL_TYPE_F32, 2, 8),
                              NULL, gl_new_tensor_2d(ctx, GL_TYPE_F32, 4, 3), NULL, 0, 0, 0, false);
            break;                                                           /* state B mismatch */
        case 4: res = gl_concat(ctx, x, y, 0); break;
        case 5: res = gl_softmax_ext(ctx, x, y, 1.0f, false); break;         /* mask ne0 6 != 8 */
        case 6: res = gl_conv1d_max(ctx, x, y, gl_new_tensor_1d(ctx, GL_TYPE_F32, 4), 9); break; /* width > len */
        case 7: res = gl_highway(ctx, y, x, gl_new_tensor_1d(ctx, GL_TYPE_F32, 12)); break;
        case 8: res = gl_layer_norm(ctx, x, y, NULL, 1e-5f); break;
        case 9: res = gl_get_rows(ctx, x, y); break;                          /* ids not I32 */
        case 10: res = gl_cpy(ctx, x, y); break;                              /* 64 vs 24 elements */
        case 11: res = gl_rope(ctx, x, gl_new_tensor_1d(ctx, GL_TYPE_I32, 3), 4, GL_ROPE_NEOX, 1e4f, 1.0f); break;
        case 12: res = gl_conv1d_max(ctx, pos, y, gl_new_tensor_1d(ctx, GL_TYPE_F32, 4), 1); break; /* x I32 */
        case 13: res = gl_highway(ctx, y, x, NULL); break;                    /* no bias */
        }
        e = gl_ctx_error(ctx);
        TF_CHECK(res == NULL && e && strstr(e, cases[i].name), "case %zu (%s): result %p, error '%s'", i,
                 cases[i].name, (void *)res, e ? e : "(none)");
        gl_context_free(ctx);
    }
}

TF_TEST(op_names_and_tasks) {
    TF_CHECK(strcmp(gl_op_name(GL_OP_ATTN), "attn") == 0, "attn name");
    TF_CHECK(strcmp(gl_op_name((gl_op)999), "?") == 0, "unknown op name");
    gl_context *ctx = new_ctx();
    gl_tensor *a = gl_new_tensor_2d(ctx, GL_TYPE_F32, 8, 1);
    gl_tensor *s = gl_softmax(ctx, a);
    TF_CHECK(gl_op_n_tasks(s, 4) == 1, "one row, one task");
    gl_tensor *xw = gl_new_tensor_3d(ctx, GL_TYPE_F32, 8, 3, 1);
    gl_tensor *st = gl_new_tensor_2d(ctx, GL_TYPE_F32, 4, 1);
    gl_tensor *l = gl_lstm(ctx, xw, gl_new_tensor_2d(ctx, GL_TYPE_F32, 2, 8), NULL, st, NULL, 0, 0, 0, false);
    TF_CHECK(l && gl_op_n_tasks(l, 4) == 4, "the LSTM uses every thread (barriers inside)");
    gl_context_free(ctx);
}

TF_MAIN
