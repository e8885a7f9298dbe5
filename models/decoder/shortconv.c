/*
 * shortconv.c — LFM2's gated short-convolution block (the one decoder block that differs in
 * kind from attention; dec_block calls it for the layers whose key/value head count is 0).
 *
 *   (b, c, x) = split_3(in_proj · h)                  three [n_embd, n] thirds, in that order
 *   u_t       = b_t * x_t                             stored in the cache at its position
 *   y_t       = c_t * sum_{k<L} w[k] * u_{t-L+1+k}    w = shortconv.conv [L, n_embd] (per channel)
 *   out       = out_proj · y
 * with u before position 0 taken as 0. The L-1 inputs before a step come from the cache rows
 * of the preceding positions (elm_kv_conv_window), so chat turns, generation and rewinds see
 * the same state a single pass over all the ids would. The sum runs over k in order, as
 * llama.cpp's ssm_conv does.
 */
#include "model.h"

/* Rows [k*E, (k+1)*E) of a [3E, n] projection as a contiguous [E, n] tensor. */
static gl_tensor *sc_third(gl_context *ctx, gl_tensor *bcx, int64_t E, int k) {
    return gl_cont(ctx, gl_view_2d(ctx, bcx, E, bcx->ne[1], bcx->nb[1], (size_t)k * (size_t)E * bcx->nb[0]));
}

gl_tensor *elm_shortconv_block(gl_context *ctx, gl_graph *g, const elm_model *m, const elm_kv_cache *kv,
                               int il, gl_tensor *cur, int32_t n_past) {
    const elm_layer *l = &m->layers[il];
    const int64_t E = m->hp.n_embd, L = m->hp.n_conv, n = cur ? cur->ne[1] : 0;
    gl_tensor *bcx = gl_mul_mat(ctx, l->conv_in, cur);
    if (!bcx) return NULL;
    gl_tensor *u = gl_mul(ctx, sc_third(ctx, bcx, E, 0), sc_third(ctx, bcx, E, 2));
    gl_tensor *st = elm_kv_conv_store(ctx, kv, il, u, n_past);
    if (!st) return NULL;
    gl_graph_expand(g, st); /* the window below reads what this wrote */
    gl_tensor *win = elm_kv_conv_window(ctx, kv, il, n_past, (int32_t)n); /* [E, L-1 + n] */
    if (!win) return NULL;
    gl_tensor *y = NULL;
    for (int64_t k = 0; k < L; k++) {
        /* tap k of every channel as [E, 1]: column k of the [L, E] kernel */
        gl_tensor *w = gl_reshape_2d(ctx, gl_cast(ctx, gl_view_2d(ctx, l->conv, 1, E, l->conv->nb[1],
                                                                  (size_t)k * l->conv->nb[0]), GL_TYPE_F32), E, 1);
        gl_tensor *t = gl_mul(ctx, gl_view_2d(ctx, win, E, n, win->nb[1], (size_t)k * win->nb[1]), w);
        y = y ? gl_add(ctx, y, t) : t;
    }
    y = gl_mul(ctx, sc_third(ctx, bcx, E, 1), y);
    return gl_mul_mat(ctx, l->conv_out, y);
}
