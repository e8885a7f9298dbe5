/*
 * test-ops-ext.c — the decoder-architecture extensions of ggml-lite's sequence ops, against
 * direct double-precision formulas, on every build variant (SIMD, scalar, aarch64):
 *   gl_attn_ext   sliding window and tanh soft-capping, on the row path (one query) and the
 *                 blocked path (many queries), F32 and F16 keys/values, grouped-query heads;
 *   gl_rope_ext   per-pair frequency divisors (Llama 3.x / LongRoPE) and the attention factor,
 *                 NORMAL and NEOX, a partial rotary width.
 */
#include "ggml-lite.h"
#include "tf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Computes out's graph on the calling thread; returns the buffer to free after reading. */
static void *ext_run(gl_context *ctx, gl_tensor *out) {
    gl_error err = {0};
    gl_graph *g = gl_graph_new(ctx, 64);
    gl_graph_plan plan;
    if (!TF_CHECK(g && gl_graph_expand(g, out) == GL_OK, "graph: %s", gl_ctx_error(ctx)) ||
        !TF_CHECK(gl_graph_plan_memory(g, 1, &plan, &err) == GL_OK, "%s", err.msg))
        return NULL;
    const size_t size = (plan.buffer_size + plan.work_size + 127) / 64 * 64;
    void *buf = aligned_alloc(64, size);
    if (!TF_CHECK(buf && gl_graph_alloc(g, &plan, buf, size, &err) == GL_OK, "%s", err.msg) ||
        !TF_CHECK(gl_graph_compute(g, NULL, &err) == GL_OK, "%s", err.msg)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static gl_tensor *ext_rand(gl_context *ctx, gl_type type, int64_t a, int64_t b, int64_t c, tf_rng *r) {
    gl_tensor *t = gl_new_tensor_3d(ctx, type, a, b, c);
    for (int64_t i = 0; t && i < a * b * c; i++) {
        const float v = tf_rand_uniform(r, -1.5f, 1.5f);
        if (type == GL_TYPE_F16) ((gl_fp16 *)t->data)[i] = gl_fp32_to_fp16(v);
        else ((float *)t->data)[i] = v;
    }
    return t;
}

static double ext_get(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2) {
    return gl_get_f32_nd(t, i0, i1, i2, 0);
}

/* q [d, n_q, H], k/v [d, n_kv, Hkv]; result [d, H, n_q]. */
static void ext_attn_case(int n_q, int n_kv, int window, float softcap, gl_type kv_type) {
    const int d = 16, H = 4, Hkv = 2;
    const float scale = 0.3f;
    tf_rng r = {(uint64_t)(n_q * 131 + n_kv * 7 + window + 1)};
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 16u << 20}, &err);
    gl_tensor *q = ext_rand(ctx, GL_TYPE_F32, d, n_q, H, &r);
    gl_tensor *k = ext_rand(ctx, kv_type, d, n_kv, Hkv, &r);
    gl_tensor *v = ext_rand(ctx, kv_type, d, n_kv, Hkv, &r);
    gl_tensor *o = gl_attn_ext(ctx, q, k, v, NULL, scale, true, window, softcap);
    void *buf = o ? ext_run(ctx, o) : NULL;
    if (TF_CHECK(buf != NULL, "gl_attn_ext: %s", gl_ctx_error(ctx))) {
        double worst = 0.0;
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < n_q; i++) {
                const int qpos = i + (n_kv - n_q);
                double s[512], mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < n_kv; j++) {
                    s[j] = -INFINITY;
                    if (j > qpos || (window > 0 && qpos - j >= window)) continue;
                    double dot = 0.0;
                    for (int e = 0; e < d; e++) dot += ext_get(q, e, i, h) * ext_get(k, e, j, h / (H / Hkv));
                    dot *= scale;
                    if (softcap > 0) dot = softcap * tanh(dot / softcap);
                    s[j] = dot;
                    mx = fmax(mx, dot);
                }
                for (int j = 0; j < n_kv; j++) sum += s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
                for (int e = 0; e < d; e++) {
                    double acc = 0.0;
                    for (int j = 0; j < n_kv; j++)
                        if (s[j] != -INFINITY) acc += exp(s[j] - mx) / sum * ext_get(v, e, j, h / (H / Hkv));
                    worst = fmax(worst, fabs(acc - ext_get(o, e, h, i)));
                }
            }
        }
        TF_CHECK(worst < 2e-5, "n_q %d n_kv %d window %d softcap %g %s: max |diff| %g", n_q, n_kv, window,
                 (double)softcap, gl_type_name(kv_type), worst);
    }
    free(buf);
    gl_context_free(ctx);
}

TF_TEST(attn_ext_window_softcap) {
    const gl_type types[2] = {GL_TYPE_F32, GL_TYPE_F16};
    for (int t = 0; t < 2; t++) {
        ext_attn_case(1, 37, 8, 0.0f, types[t]);   /* one query: the row path */
        ext_attn_case(24, 40, 8, 0.0f, types[t]);  /* a batch: the blocked path where there is one */
        ext_attn_case(24, 24, 5, 2.0f, types[t]);  /* window and soft-capping together */
        ext_attn_case(3, 30, 0, 1.5f, types[t]);   /* soft-capping alone */
        ext_attn_case(16, 16, 100, 0.0f, types[t]); /* a window wider than the sequence: plain causal */
    }
}

TF_TEST(attn_ext_refuses_bad_arguments) {
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 1u << 20}, &err);
    tf_rng r = {3};
    gl_tensor *q = ext_rand(ctx, GL_TYPE_F32, 8, 2, 2, &r), *k = ext_rand(ctx, GL_TYPE_F32, 8, 4, 2, &r);
    TF_CHECK(gl_attn_ext(ctx, q, k, k, NULL, 1.0f, false, 4, 0.0f) == NULL); /* a window needs causal */
    gl_context_free(ctx);
    ctx = gl_context_new((gl_context_params){.mem_size = 1u << 20}, &err);
    q = ext_rand(ctx, GL_TYPE_F32, 8, 2, 2, &r);
    k = ext_rand(ctx, GL_TYPE_F32, 8, 4, 2, &r);
    TF_CHECK(gl_attn_ext(ctx, q, k, k, NULL, 1.0f, true, 0, -1.0f) == NULL); /* negative soft-cap */
    gl_context_free(ctx);
}

static void ext_rope_case(gl_rope_mode mode, int n_rot, bool factors, float attn_factor) {
    const int hd = 24, H = 3, n = 5;
    const float base = 10000.0f, fscale = 0.5f;
    tf_rng r = {(uint64_t)(n_rot + 17 * (int)mode + (factors ? 1000 : 0))};
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = 4u << 20}, &err);
    gl_tensor *a = ext_rand(ctx, GL_TYPE_F32, hd, H, n, &r);
    gl_tensor *pos = gl_new_tensor_1d(ctx, GL_TYPE_I32, n);
    gl_tensor *ff = factors ? gl_new_tensor_1d(ctx, GL_TYPE_F32, n_rot / 2) : NULL;
    for (int i = 0; i < n; i++) ((int32_t *)pos->data)[i] = 3 * i + 1;
    for (int i = 0; ff && i < n_rot / 2; i++) ((float *)ff->data)[i] = 1.0f + 0.7f * (float)i;
    gl_tensor *y = gl_rope_ext(ctx, a, pos, ff, n_rot, mode, base, fscale, attn_factor);
    void *buf = y ? ext_run(ctx, y) : NULL;
    if (TF_CHECK(buf != NULL, "gl_rope_ext: %s", gl_ctx_error(ctx))) {
        double worst = 0.0;
        for (int t = 0; t < n; t++)
            for (int h = 0; h < H; h++)
                for (int e = 0; e < hd; e++) {
                    double want = ext_get(a, e, h, t);
                    if (e < n_rot) {
                        const int i = mode == GL_ROPE_NEOX ? e % (n_rot / 2) : e / 2;
                        const int e0 = mode == GL_ROPE_NEOX ? i : 2 * i, e1 = mode == GL_ROPE_NEOX ? i + n_rot / 2 : 2 * i + 1;
                        double th = (3 * t + 1) * fscale * pow(base, -2.0 * i / n_rot);
                        if (ff) th /= 1.0 + 0.7 * i;
                        const double x0 = ext_get(a, e0, h, t), x1 = ext_get(a, e1, h, t);
                        want = (e == e0 ? x0 * cos(th) - x1 * sin(th) : x0 * sin(th) + x1 * cos(th)) * attn_factor;
                    }
                    worst = fmax(worst, fabs(want - ext_get(y, e, h, t)));
                }
        TF_CHECK(worst < 1e-5, "mode %d n_rot %d factors %d attn_factor %g: max |diff| %g", (int)mode, n_rot, factors,
                 (double)attn_factor, worst);
    }
    free(buf);
    gl_context_free(ctx);
}

TF_TEST(rope_ext_freq_factors_attn_factor) {
    ext_rope_case(GL_ROPE_NORMAL, 24, true, 1.0f);
    ext_rope_case(GL_ROPE_NEOX, 24, true, 1.2f);
    ext_rope_case(GL_ROPE_NEOX, 16, true, 1.0f); /* partial rotary: the rest copied */
    ext_rope_case(GL_ROPE_NORMAL, 16, false, 0.9f);
}

TF_MAIN
