/*
 * test-train: the backward graph and AdamW of ggml-lite (gl-backward.c, gl-opt.c) against
 * PyTorch autograd (tests/data/train, scripts/train_reference.py): a tiny BERT-like classifier
 * (embeddings, LayerNorm, 2-head attention built from views / permutes / mul_mat / softmax,
 * GELU feed-forward, tanh pooler, cross-entropy) — every parameter's gradient within 1e-4 of
 * the reference relative to that gradient's largest magnitude, the same with 1 and 2 threads,
 * and the loss before each of 20 AdamW steps (warm-up, linear decay, clipping) within 1e-4.
 * Plus: a gradient through a Q8_0 weight against finite differences of the forward pass,
 * dropout's mask reproduced by its backward, cross-entropy's ignored labels, unsupported ops
 * named.
 */
#include "tf.h"
#include "tf-npy.h"

#include "edgelm.h"
#include "ggml-lite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/train/"
enum { E = 8, H = 2, D = 4, F = 16, V = 20, T = 6, B = 3, C = 3, NP = 24 };

static const char *names[NP] = {"tok", "pos", "ln0.w", "ln0.b", "q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "o.w", "o.b",
                                "ln1.w", "ln1.b", "up.w", "up.b", "down.w", "down.b", "ln2.w", "ln2.b", "pool.w",
                                "pool.b", "cls.w", "cls.b"};

/* tests/data/train/<name>.npy in its stored type: *kind 0 float (f4), 1 int32_t (i4), 2 double
 * (f8); NULL when it cannot be read or holds another type. */
static void *npy(const char *name, int64_t *n, int *kind) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s.npy", name);
    tf_npy a;
    *n = 0;
    *kind = -1;
    if (!tf_npy_read(path, &a)) return NULL;
    if (a.dtype > 2) {
        free(a.data);
        return NULL;
    }
    *n = a.count;
    *kind = a.dtype; /* the same numbering */
    if (*kind == 2) return a.data;
    void *out = malloc((size_t)a.count * 4 + 8);
    for (int64_t i = 0; out && i < a.count; i++) {
        if (*kind == 0) ((float *)out)[i] = (float)a.data[i];
        else ((int32_t *)out)[i] = (int32_t)a.data[i];
    }
    free(a.data);
    return out;
}

typedef struct model {
    gl_context *ctx;
    gl_tensor *p[NP];
    float *data[NP];
    int32_t ids[B * T], pos[B * T], cls_rows[B], labels[B];
} model;

static const int64_t shapes[NP][2] = {{E, V}, {E, T}, {E, 1}, {E, 1}, {E, E}, {E, 1}, {E, E}, {E, 1}, {E, E}, {E, 1},
                                      {E, E}, {E, 1}, {E, 1}, {E, 1}, {E, F}, {F, 1}, {F, E}, {E, 1}, {E, 1}, {E, 1},
                                      {E, E}, {E, 1}, {E, C}, {C, 1}};

static bool model_load(model *m) {
    memset(m, 0, sizeof *m);
    int64_t n;
    int kind;
    for (int i = 0; i < NP; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "param_%s", names[i]);
        m->data[i] = npy(nm, &n, &kind);
        if (!m->data[i] || kind != 0 || n != shapes[i][0] * shapes[i][1]) return false;
    }
    int32_t *ids = npy("ids", &n, &kind), *lab = NULL;
    bool ok = ids && kind == 1 && n == B * T;
    if (ok) lab = npy("labels", &n, &kind);
    ok = ok && lab && kind == 1 && n == B;
    for (int i = 0; ok && i < B * T; i++) m->ids[i] = ids[i], m->pos[i] = i % T;
    for (int b = 0; ok && b < B; b++) m->cls_rows[b] = b * T, m->labels[b] = lab[b];
    free(ids);
    free(lab);
    return ok;
}

static void model_free(model *m) {
    for (int i = 0; i < NP; i++) free(m->data[i]);
}

static gl_tensor *lin(gl_context *c, gl_tensor *x, gl_tensor *w, gl_tensor *b) { return gl_add(c, gl_mul_mat(c, w, x), b); }

/* The forward graph: returns the loss node; params become leaves over m->data. */
static gl_tensor *build(model *m, gl_context *c) {
    for (int i = 0; i < NP; i++) {
        const int64_t ne[2] = {shapes[i][0], shapes[i][1]};
        m->p[i] = gl_new_tensor_with_data(c, GL_TYPE_F32, shapes[i][1] > 1 ? 2 : 1, ne, m->data[i]);
        gl_set_name(m->p[i], "%s", names[i]);
    }
    gl_tensor **p = m->p;
    const int64_t nbt = B * T, nb = B;
    gl_tensor *ids = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nbt, m->ids);
    gl_tensor *pos = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nbt, m->pos);
    gl_tensor *cls = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nb, m->cls_rows);
    gl_tensor *lab = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nb, m->labels);
    gl_tensor *x = gl_add(c, gl_get_rows(c, p[0], ids), gl_get_rows(c, p[1], pos));
    x = gl_layer_norm(c, x, p[2], p[3], 1e-12f);
    /* attention: [E, B*T] -> [D, H, T, B] -> [D, T, H, B] */
    gl_tensor *q = gl_cont(c, gl_permute(c, gl_reshape_4d(c, lin(c, x, p[4], p[5]), D, H, T, B), 0, 2, 1, 3));
    gl_tensor *k = gl_cont(c, gl_permute(c, gl_reshape_4d(c, lin(c, x, p[6], p[7]), D, H, T, B), 0, 2, 1, 3));
    gl_tensor *vt = gl_cont(c, gl_permute(c, gl_reshape_4d(c, lin(c, x, p[8], p[9]), D, H, T, B), 1, 2, 0, 3));
    gl_tensor *s = gl_softmax_ext(c, gl_mul_mat(c, k, q), NULL, 1.0f / sqrtf((float)D), false); /* [Tk, Tq, H, B] */
    gl_tensor *a = gl_mul_mat(c, vt, s);                                                           /* [D, Tq, H, B] */
    a = gl_reshape_2d(c, gl_cont(c, gl_permute(c, a, 0, 2, 1, 3)), E, B * T);
    x = gl_layer_norm(c, gl_add(c, lin(c, a, p[10], p[11]), x), p[12], p[13], 1e-12f);
    gl_tensor *f = lin(c, gl_gelu(c, lin(c, x, p[14], p[15])), p[16], p[17]);
    x = gl_layer_norm(c, gl_add(c, f, x), p[18], p[19], 1e-12f);
    gl_tensor *pooled = gl_tanh(c, lin(c, gl_get_rows(c, x, cls), p[20], p[21]));
    return gl_cross_entropy(c, lin(c, pooled, p[22], p[23]), lab);
}

typedef struct run {
    gl_context *ctx;
    gl_graph *g;
    gl_tensor *loss, *grads[NP];
    void *buf;
    gl_pool *pool;
} run;

static bool run_build(run *r, model *m, int n_threads) {
    gl_error err = {0};
    memset(r, 0, sizeof *r);
    r->ctx = gl_context_new((gl_context_params){.mem_size = 4 << 20, .no_alloc = true}, &err);
    if (!TF_CHECK(r->ctx != NULL, "%s", err.msg)) return false;
    r->loss = build(m, r->ctx);
    gl_graph *fwd = gl_graph_new(r->ctx, 4096);
    if (!TF_CHECK(r->loss && fwd && gl_graph_expand(fwd, r->loss) == GL_OK, "%s", gl_ctx_error(r->ctx))) return false;
    if (!TF_CHECK(gl_build_backward(r->ctx, fwd, r->loss, m->p, NP, r->grads, &err) == GL_OK, "%s", err.msg)) return false;
    r->g = gl_graph_new(r->ctx, 4096);
    gl_set_output(r->loss);
    bool ok = r->g && gl_graph_expand(r->g, r->loss) == GL_OK;
    for (int i = 0; ok && i < NP; i++) ok = r->grads[i] && gl_graph_expand(r->g, r->grads[i]) == GL_OK;
    if (!TF_CHECK(ok, "every parameter has a gradient node")) return false;
    gl_graph_plan plan;
    if (!TF_CHECK(gl_graph_plan_memory(r->g, n_threads, &plan, &err) == GL_OK, "%s", err.msg)) return false;
    size_t size = plan.buffer_size + plan.work_size;
    r->buf = aligned_alloc(64, (size + 64) / 64 * 64);
    r->pool = gl_pool_new(n_threads, &err);
    return TF_CHECK(r->buf && r->pool && gl_graph_alloc(r->g, &plan, r->buf, size, &err) == GL_OK, "%s", err.msg);
}

static bool run_compute(run *r) {
    gl_error err = {0};
    return TF_CHECK(gl_graph_compute(r->g, r->pool, &err) == GL_OK, "%s", err.msg);
}

static void run_free(run *r) {
    gl_pool_free(r->pool);
    free(r->buf);
    gl_context_free(r->ctx);
}

TF_TEST(every_gradient_matches_pytorch) {
    model m;
    if (!TF_CHECK(model_load(&m), "tests/data/train (scripts/train_reference.py)")) return;
    float *first[NP] = {0};
    for (int threads = 1; threads <= 2; threads++) {
        run r;
        if (run_build(&r, &m, threads) && run_compute(&r)) {
            int64_t n;
            int kind;
            float *loss = npy("loss", &n, &kind);
            TF_CHECK(loss && fabsf(*(float *)r.loss->data - loss[0]) < 1e-5f, "loss %g vs %g", *(float *)r.loss->data,
                     loss ? loss[0] : 0);
            free(loss);
            for (int i = 0; i < NP; i++) {
                char nm[64];
                snprintf(nm, sizeof nm, "grad_%s", names[i]);
                float *ref = npy(nm, &n, &kind);
                const float *got = r.grads[i]->data;
                double scale = 0, worst = 0;
                for (int64_t k = 0; ref && k < n; k++) scale = fmax(scale, fabs(ref[k]));
                for (int64_t k = 0; ref && k < n; k++) worst = fmax(worst, fabs(got[k] - ref[k]));
                /* relative to the gradient's scale, floored at 1e-3 (the key bias's gradient is 0
                 * in exact arithmetic: softmax ignores a constant added to every score) */
                TF_CHECK(ref && n == gl_nelements(r.grads[i]) && worst <= 1e-4 * fmax(scale, 1e-3), "%s: max error %g, scale %g",
                         names[i], worst, scale);
                if (threads == 1) printf("    %-7s max |grad - torch| %.2g (max |grad| %.2g)\n", names[i], worst, scale);
                if (threads == 1) {
                    first[i] = malloc((size_t)n * sizeof(float));
                    if (first[i]) memcpy(first[i], got, (size_t)n * sizeof(float));
                } else {
                    TF_CHECK(first[i] && !memcmp(first[i], got, (size_t)n * sizeof(float)), "%s: 1 and 2 threads differ",
                             names[i]);
                }
                free(ref);
            }
        }
        run_free(&r);
    }
    for (int i = 0; i < NP; i++) free(first[i]);
    model_free(&m);
}

TF_TEST(adamw_loss_curve_matches_pytorch) {
    model m;
    if (!TF_CHECK(model_load(&m), "tests/data/train")) return;
    int64_t n;
    int kind;
    double *ref = npy("adamw_losses", &n, &kind);
    run r;
    if (TF_CHECK(ref && kind == 2 && n == 21) && run_build(&r, &m, 1)) {
        gl_error err = {0};
        gl_adamw_params ap = gl_adamw_default_params();
        ap.lr = 1e-2f;
        ap.warmup_steps = 4;
        ap.total_steps = 20;
        gl_adamw *opt = gl_adamw_new(m.p, NP, &ap, &err);
        TF_CHECK(opt != NULL, "%s", err.msg);
        double worst = 0;
        for (int step = 0; opt && step <= 20; step++) {
            if (!run_compute(&r)) break;
            worst = fmax(worst, fabs(*(float *)r.loss->data - ref[step]));
            if (step < 20) TF_CHECK(gl_adamw_step(opt, r.grads, NULL, &err) == GL_OK, "%s", err.msg);
        }
        TF_CHECK(worst <= 1e-4, "loss curve: max difference %g", worst);
        TF_CHECK(opt && gl_adamw_steps(opt) == 20 && gl_adamw_lr(opt) == 0.0f);
        printf("    20 AdamW steps: loss %.5f -> %.5f, max difference from PyTorch %.2g\n", ref[0], ref[20], worst);
        gl_adamw_free(opt);
        run_free(&r);
    }
    free(ref);
    model_free(&m);
}

/* y = sum(W x) with W Q8_0 [32, 4]: runs the forward pass at x and, with grad != NULL, the
 * backward graph's d y / d x. Returns y. */
enum { QK = 32, QM = 4 };
static float q8_run(const unsigned char *wq, const float *x, float *grad) {
    gl_error err = {0};
    gl_context *c = gl_context_new((gl_context_params){.mem_size = 1 << 20, .no_alloc = true}, &err);
    float xx[QK];
    memcpy(xx, x, sizeof xx);
    const int64_t wne[2] = {QK, QM}, xne[2] = {QK, 1};
    gl_tensor *wt = gl_new_tensor_with_data(c, GL_TYPE_Q8_0, 2, wne, (void *)wq);
    gl_tensor *xt = gl_new_tensor_with_data(c, GL_TYPE_F32, 2, xne, xx);
    gl_tensor *y = gl_sum_rows(c, gl_reshape_2d(c, gl_mul_mat(c, wt, xt), QM, 1));
    gl_graph *fg = gl_graph_new(c, 256), *g = gl_graph_new(c, 256);
    gl_tensor *gx = NULL;
    gl_graph_expand(fg, y);
    if (grad) TF_CHECK(gl_build_backward(c, fg, y, &xt, 1, &gx, &err) == GL_OK && gx, "%s", err.msg);
    gl_set_output(y);
    gl_graph_expand(g, y);
    if (gx) gl_graph_expand(g, gx);
    gl_graph_plan plan;
    gl_graph_plan_memory(g, 1, &plan, &err);
    void *buf = aligned_alloc(64, (plan.buffer_size + plan.work_size + 64) / 64 * 64);
    gl_graph_alloc(g, &plan, buf, plan.buffer_size + plan.work_size, &err);
    TF_CHECK(gl_graph_compute(g, NULL, &err) == GL_OK, "%s", err.msg);
    const float yv = *(float *)y->data;
    if (grad && gx) memcpy(grad, gx->data, QK * sizeof *grad);
    free(buf);
    gl_context_free(c);
    return yv;
}

TF_TEST(gradient_through_quantized_weight) {
    float w[QK * QM], x[QK], grad[QK];
    unsigned char wq[QM * 34];
    for (int i = 0; i < QK * QM; i++) w[i] = sinf(0.37f * (float)i);
    for (int i = 0; i < QK; i++) x[i] = cosf(0.11f * (float)i);
    for (int r = 0; r < QM; r++) gl_type_get(GL_TYPE_Q8_0)->from_float_ref(w + r * QK, wq + r * 34, QK);
    q8_run(wq, x, grad);
    /* expected: d/dx sum(Wq x) = the column sums of the dequantized Wq (exact: no activation
     * rounding enters the gradient) */
    float wd[QK * QM];
    for (int r = 0; r < QM; r++) gl_type_get(GL_TYPE_Q8_0)->to_float(wq + r * 34, wd + r * QK, QK);
    /* column sums row by row (an element-wise loop: summing each column as a reduction made
     * aarch64-linux-gnu-gcc 12 -O2 stop with an internal compiler error in the vectoriser) */
    double colsum[QK] = {0}, worst = 0, scale = 0;
    for (int r = 0; r < QM; r++)
        for (int j = 0; j < QK; j++) colsum[j] += wd[r * QK + j];
    for (int j = 0; j < QK; j++) {
        if (fabs(colsum[j] - grad[j]) > worst) worst = fabs(colsum[j] - grad[j]);
        if (fabs(colsum[j]) > scale) scale = fabs(colsum[j]);
    }
    TF_CHECK(worst <= 1e-6 * scale, "max |backward - exact| %g (scale %g)", worst, scale);
    /* and the quantized weights themselves are not trainable: a clear error */
    gl_error err = {0};
    gl_context *c = gl_context_new((gl_context_params){.mem_size = 1 << 20, .no_alloc = true}, &err);
    const int64_t wne[2] = {QK, QM}, xne[2] = {QK, 1};
    gl_tensor *wt = gl_new_tensor_with_data(c, GL_TYPE_Q8_0, 2, wne, wq);
    gl_tensor *xt = gl_new_tensor_with_data(c, GL_TYPE_F32, 2, xne, x);
    gl_tensor *y = gl_sum_rows(c, gl_reshape_2d(c, gl_mul_mat(c, wt, xt), QM, 1));
    gl_graph *fg = gl_graph_new(c, 64);
    gl_graph_expand(fg, y);
    gl_tensor *gw = NULL;
    TF_CHECK(gl_build_backward(c, fg, y, &wt, 1, &gw, &err) == GL_ERR_UNSUPPORTED && strstr(err.msg, "q8_0"), "%s", err.msg);
    gl_context_free(c);
}

TF_TEST(cross_entropy_ignores_negative_labels_and_dropout_repeats_its_mask) {
    gl_error err = {0};
    gl_context *c = gl_context_new((gl_context_params){.mem_size = 1 << 20, .no_alloc = true}, &err);
    float lg[6] = {1, 2, 3, 0.5f, 0.5f, 0.5f}, xs[64];
    int32_t lab[2] = {2, -100};
    for (int i = 0; i < 64; i++) xs[i] = 1.0f + (float)i;
    const int64_t lne[2] = {3, 2}, nn = 2, xne = 64;
    gl_tensor *l = gl_new_tensor_with_data(c, GL_TYPE_F32, 2, lne, lg);
    gl_tensor *y = gl_new_tensor_with_data(c, GL_TYPE_I32, 1, &nn, lab);
    gl_tensor *x = gl_new_tensor_with_data(c, GL_TYPE_F32, 1, &xne, xs);
    gl_tensor *loss = gl_cross_entropy(c, l, y);
    gl_tensor *d = gl_dropout(c, x, 0.5f, 42);
    gl_tensor *both = gl_add(c, loss, gl_scale(c, gl_sum_rows(c, d), 1e-3f)); /* d both / d x = 1e-3 mask / 0.5 */
    gl_graph *fg = gl_graph_new(c, 256);
    gl_graph_expand(fg, both);
    gl_tensor *params[2] = {l, x}, *grads[2] = {0};
    TF_CHECK(gl_build_backward(c, fg, both, params, 2, grads, &err) == GL_OK, "%s", err.msg);
    gl_graph *g = gl_graph_new(c, 256);
    gl_set_output(loss);
    gl_set_output(d);
    gl_graph_expand(g, both);
    gl_graph_expand(g, grads[0]);
    gl_graph_expand(g, grads[1]);
    gl_graph_plan plan;
    gl_graph_plan_memory(g, 1, &plan, &err);
    void *buf = aligned_alloc(64, (plan.buffer_size + plan.work_size + 64) / 64 * 64);
    gl_graph_alloc(g, &plan, buf, plan.buffer_size + plan.work_size, &err);
    TF_CHECK(gl_graph_compute(g, NULL, &err) == GL_OK, "%s", err.msg);
    const double want = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0; /* row 1 is ignored */
    TF_CHECK(fabs(*(float *)loss->data - want) < 1e-6, "loss %g want %g", *(float *)loss->data, want);
    const float *gl = grads[0]->data, *gd = grads[1]->data, *dv = d->data;
    TF_CHECK(gl[3] == 0 && gl[4] == 0 && gl[5] == 0 && fabsf(gl[0] + gl[1] + gl[2]) < 1e-6f);
    int kept = 0;
    bool same = true;
    for (int i = 0; i < 64; i++) {
        kept += dv[i] != 0;
        same = same && (dv[i] != 0) == (gd[i] != 0) && (dv[i] == 0 || fabsf(gd[i] - 2e-3f) < 1e-7f);
        same = same && (dv[i] == 0 || dv[i] == 2 * xs[i]);
    }
    TF_CHECK(same && kept > 16 && kept < 48, "kept %d of 64, backward mask equal to the forward one", kept);
    free(buf);
    /* an op without a gradient is named */
    gl_tensor *r = gl_rms_norm(c, x, 1e-6f);
    gl_tensor *sr = gl_sum_rows(c, r);
    gl_graph *fg2 = gl_graph_new(c, 64);
    gl_graph_expand(fg2, sr);
    gl_tensor *gx = NULL;
    TF_CHECK(gl_build_backward(c, fg2, sr, &x, 1, &gx, &err) == GL_ERR_UNSUPPORTED && strstr(err.msg, "rms_norm"), "%s", err.msg);
    gl_context_free(c);
}

/* ELMo scalar mix: three "layers" of random vectors per token, the label a function of layer
 * 2 only (the sign of its sentence mean along a fixed direction); training s, gamma and the
 * classifier from equal weights must put most of the mix on layer 2 and classify held-out
 * sentences. */
TF_TEST(elmo_mix_recovers_planted_layer) {
    enum { NL = 3, DM = 8, NS = 240, NT = 5, NTRAIN = 200 };
    float *data = malloc((size_t)NS * NL * NT * DM * sizeof *data);
    int32_t labels[NS], ntok[NS];
    const float *ptr[NS];
    uint64_t st = 12345;
    for (int s = 0; s < NS; s++) {
        float *d = data + (size_t)s * NL * NT * DM;
    again:
        for (int i = 0; i < NL * NT * DM; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            d[i] = (float)((double)(st >> 11) * 0x1.0p-53 * 2.0 - 1.0);
        }
        double dot = 0; /* the signal: layer 2's mean along (1, -1, 1, -1, ...) */
        for (int tk = 0; tk < NT; tk++)
            for (int k = 0; k < DM; k++) dot += d[(2 * NT + tk) * DM + k] * (k % 2 ? -1.0 : 1.0);
        if (fabs(dot) < 1.0) goto again; /* a margin: the classes are separable */
        labels[s] = dot > 0;
        ntok[s] = NT;
        ptr[s] = d;
    }
    elm_error err = {0};
    elm_mix_trainer *t = elm_mix_trainer_new(NL, DM, 2, 0.05f, 0, 7, &err);
    TF_CHECK(t != NULL, "%s", err.msg);
    float loss = 0, w[NL], gamma = 0;
    for (int step = 0; t && step < 300; step++) {
        const int b0 = (step * 20) % NTRAIN;
        if (elm_mix_trainer_step(t, 20, ptr + b0, ntok + b0, labels + b0, &loss, &err) != ELM_OK) {
            TF_CHECK(false, "%s", err.msg);
            break;
        }
    }
    float lg[2 * (NS - NTRAIN)];
    int right = 0;
    if (t && TF_CHECK(elm_mix_trainer_predict(t, NS - NTRAIN, ptr + NTRAIN, ntok + NTRAIN, lg, &err) == ELM_OK, "%s", err.msg))
        for (int s = 0; s < NS - NTRAIN; s++) right += (lg[2 * s + 1] > lg[2 * s]) == labels[NTRAIN + s];
    elm_mix_trainer_mix(t, w, &gamma);
    printf("    mix weights %.3f %.3f %.3f, gamma %.3f, loss %.4f, held-out accuracy %d/%d\n", w[0], w[1], w[2], gamma, loss,
           right, NS - NTRAIN);
    TF_CHECK(w[2] > 0.8f && w[2] > w[0] && w[2] > w[1], "the planted layer gets %.3f of the mix", w[2]);
    TF_CHECK(right >= (NS - NTRAIN) * 95 / 100, "held-out accuracy %d/%d", right, NS - NTRAIN);
    elm_mix_trainer_free(t);
    free(data);
}

TF_MAIN
