/*
 * gl-opt.c — AdamW with linear warm-up and linear decay, and gradient-norm clipping, over F32
 * parameter tensors (see ggml-lite.h, "Training"). The update follows the decoupled weight
 * decay form (Loshchilov & Hutter), as torch.optim.AdamW computes it:
 *   w -= lr * wd * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * with lr(step) = base * step / warmup during warm-up, then base * (total - step) / (total -
 * warmup) down to 0 (transformers' get_linear_schedule_with_warmup; step counts from 0). The
 * gradients are first scaled by clip / (norm + 1e-6) when their global L2 norm exceeds clip.
 * Plain loops in a fixed order: the same numbers on every machine and thread count.
 */
#include "ggml-lite.h"
#include "gl-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gl_adamw {
    gl_adamw_params p;
    int n;
    gl_tensor **params;
    float **m, **v;
    int64_t step; /* updates done */
};

gl_adamw_params gl_adamw_default_params(void) {
    gl_adamw_params p = {.lr = 2e-5f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                         .clip_norm = 1.0f, .warmup_steps = 0, .total_steps = 0};
    return p;
}

void gl_adamw_free(gl_adamw *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        if (o->m) GL_FREE(o->m[i]);
        if (o->v) GL_FREE(o->v[i]);
    }
    GL_FREE(o->m);
    GL_FREE(o->v);
    GL_FREE(o->params);
    GL_FREE(o);
}

gl_adamw *gl_adamw_new(gl_tensor *const *params, int n, const gl_adamw_params *p, gl_error *err) {
    if (!params || n <= 0 || !p || !(p->lr >= 0) || !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) ||
        !(p->eps > 0) || !(p->weight_decay >= 0) || p->warmup_steps < 0 || p->total_steps < 0) {
        gl_error_set(err, GL_ERR_INVALID, "gl_adamw_new: bad parameters");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!params[i] || params[i]->type != GL_TYPE_F32 || !params[i]->data) {
            gl_error_set(err, GL_ERR_INVALID, "gl_adamw_new: parameter %d is not an F32 tensor with data", i);
            return NULL;
        }
    gl_adamw *o = GL_CALLOC(1, sizeof *o);
    if (!o || !(o->params = GL_MALLOC((size_t)n * sizeof *o->params)) || !(o->m = GL_CALLOC((size_t)n, sizeof *o->m)) ||
        !(o->v = GL_CALLOC((size_t)n, sizeof *o->v))) {
        gl_adamw_free(o);
        gl_error_set(err, GL_ERR_NOMEM, "gl_adamw_new: out of memory");
        return NULL;
    }
    o->p = *p;
    o->n = n;
    for (int i = 0; i < n; i++) {
        o->params[i] = params[i];
        size_t ne = (size_t)gl_nelements(params[i]);
        if (!(o->m[i] = GL_CALLOC(ne ? ne : 1, sizeof(float))) || !(o->v[i] = GL_CALLOC(ne ? ne : 1, sizeof(float)))) {
            gl_adamw_free(o);
            gl_error_set(err, GL_ERR_NOMEM, "gl_adamw_new: out of memory");
            return NULL;
        }
    }
    return o;
}

float gl_adamw_lr(const gl_adamw *o) {
    const int64_t s = o->step, w = o->p.warmup_steps, t = o->p.total_steps;
    if (s < w) return o->p.lr * (float)s / (float)(w > 0 ? w : 1);
    if (t <= 0) return o->p.lr;
    const double f = (double)(t - s) / (double)(t - w > 0 ? t - w : 1);
    return (float)(o->p.lr * (f > 0 ? f : 0));
}

int64_t gl_adamw_steps(const gl_adamw *o) { return o ? o->step : 0; }

/* Contiguous F32 data of a gradient (the backward graph makes them so). */
static const float *opt_grad(const gl_tensor *g) { return g && g->type == GL_TYPE_F32 ? g->data : NULL; }

gl_status gl_adamw_step(gl_adamw *o, gl_tensor *const *grads, float *grad_norm, gl_error *err) {
    if (!o || !grads) return gl_error_set(err, GL_ERR_INVALID, "gl_adamw_step: bad arguments");
    double ss = 0;
    for (int i = 0; i < o->n; i++) {
        const float *g = opt_grad(grads[i]);
        if (grads[i] && (!g || gl_nelements(grads[i]) != gl_nelements(o->params[i])))
            return gl_error_set(err, GL_ERR_INVALID, "gl_adamw_step: gradient %d does not match its parameter", i);
        for (int64_t k = 0; g && k < gl_nelements(grads[i]); k++) ss += (double)g[k] * g[k];
    }
    const double norm = sqrt(ss);
    if (grad_norm) *grad_norm = (float)norm;
    const double clip = o->p.clip_norm > 0 && norm > o->p.clip_norm ? o->p.clip_norm / (norm + 1e-6) : 1.0;
    const double lr = gl_adamw_lr(o);
    o->step++;
    const double b1 = o->p.beta1, b2 = o->p.beta2;
    const double bc1 = 1.0 - pow(b1, (double)o->step), bc2 = sqrt(1.0 - pow(b2, (double)o->step));
    for (int i = 0; i < o->n; i++) {
        const float *g = opt_grad(grads[i]);
        float *w = o->params[i]->data, *m = o->m[i], *v = o->v[i];
        const bool decay = o->params[i]->ne[1] > 1; /* matrices only: not biases or norms */
        for (int64_t k = 0; k < gl_nelements(o->params[i]); k++) {
            const double gk = g ? g[k] * clip : 0.0;
            double wk = w[k];
            if (decay) wk -= lr * o->p.weight_decay * wk;
            m[k] = (float)(b1 * m[k] + (1 - b1) * gk);
            v[k] = (float)(b2 * v[k] + (1 - b2) * gk * gk);
            wk -= lr / bc1 * m[k] / (sqrt((double)v[k]) / bc2 + o->p.eps);
            w[k] = (float)wk;
        }
    }
    return GL_OK;
}
