/*
 * ggml-lite internals shared by its modules. Not part of the public API.
 *
 * Module map (each static name is prefixed with its module tag so that the amalgamation,
 * build/ggml-lite.c, compiles as one translation unit):
 *   gl-core.c    errors, contexts/arena, tensor creation, views          (core_)
 *   gl-graph.c   graph build, memory planning, compute loop, thread pool (graph_, pool_)
 *   gl-ops.c     op builders (shape checks) and their CPU kernels        (ops_)
 *   gl-quants.c  type traits, fp16/bf16, quantize/dequantize, vec_dot    (q_)
 *   gl-quants-k.c the K-quants: Q2_K..Q6_K, Q8_K                        (qk_)
 *   gl-quants-iq.c IQ4_NL, IQ4_XS                                       (iq_)
 *   gl-matmul.c  the mul_mat kernel (activation quantization, chunking)  (mm_)
 *   gl-gguf.c    GGUF v3 reader and writer                               (gguf_)
 *   gl-cpu.c     CPU feature detection, choice of the kernel set         (cpu_)
 *   gl-kset.c    this build's kernel-set table (gl_kset_self)            (kset_)
 */
#ifndef GL_IMPL_H
#define GL_IMPL_H

/* GL_PRIVATE marks functions shared between ggml-lite's modules but not public (SQLite's
 * SQLITE_PRIVATE): in the amalgamation (GL_AMALGAMATION) they become static, so the one file
 * exports only GL_API functions; in the library build they are hidden by -fvisibility=hidden. */
#ifndef GL_PRIVATE
#if defined(GL_AMALGAMATION) && defined(__GNUC__)
#define GL_PRIVATE static __attribute__((unused))
#elif defined(GL_AMALGAMATION)
#define GL_PRIVATE static
#else
#define GL_PRIVATE
#endif
#endif

#include "ggml-lite.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Allocation hooks (stb-style, chosen at build time): define GL_MALLOC, GL_CALLOC, GL_REALLOC,
 * GL_ALIGNED_ALLOC and GL_FREE together (e.g. -DGL_MALLOC=fw_malloc ... or before including
 * the amalgamation) to route every allocation of ggml-lite to the firmware's allocator.
 * GL_FREE receives whatever any of the four returned. Default: the C library's. */
/* Inside libedgelm, its hooks (ELM_MALLOC ... ELM_FREE, models/common/alloc.h) route ggml-lite too. */
#if defined(ELM_MALLOC) && !defined(GL_MALLOC) && !defined(GL_CALLOC) && !defined(GL_REALLOC) && \
    !defined(GL_ALIGNED_ALLOC) && !defined(GL_FREE)
void *ELM_MALLOC(size_t n);
void *ELM_CALLOC(size_t n, size_t size);
void *ELM_REALLOC(void *p, size_t n);
void *ELM_ALIGNED_ALLOC(size_t align, size_t n);
void ELM_FREE(void *p);
#define GL_MALLOC(n) ELM_MALLOC(n)
#define GL_CALLOC(n, size) ELM_CALLOC(n, size)
#define GL_REALLOC(p, n) ELM_REALLOC(p, n)
#define GL_ALIGNED_ALLOC(align, n) ELM_ALIGNED_ALLOC(align, n)
#define GL_FREE(p) ELM_FREE(p)
#endif
#if !defined(GL_MALLOC) && !defined(GL_CALLOC) && !defined(GL_REALLOC) && !defined(GL_ALIGNED_ALLOC) && \
    !defined(GL_FREE)
#define GL_MALLOC(n) malloc(n)
#define GL_CALLOC(n, size) calloc(n, size)
#define GL_REALLOC(p, n) realloc(p, n)
#define GL_ALIGNED_ALLOC(align, n) aligned_alloc(align, n)
#define GL_FREE(p) free(p)
#elif !defined(GL_MALLOC) || !defined(GL_CALLOC) || !defined(GL_REALLOC) || !defined(GL_ALIGNED_ALLOC) || \
    !defined(GL_FREE)
#error "define all of GL_MALLOC, GL_CALLOC, GL_REALLOC, GL_ALIGNED_ALLOC and GL_FREE, or none"
#endif

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && !defined(GL_NO_SIMD)
#define GL_AVX2 1
#include <immintrin.h>
#endif
#if (defined(__ARM_NEON) || defined(__ARM_NEON__)) && defined(__aarch64__) && !defined(GL_NO_SIMD)
#define GL_NEON 1
#include <arm_neon.h>
#if defined(__ARM_FEATURE_DOTPROD)
#define GL_NEON_DOTPROD 1
#endif
#endif

#define GL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GL_PAD(x, n) (((x) + (n) - 1) & ~((size_t)(n) - 1))
#define GL_ALIGN 64 /* data alignment inside arenas and graph buffers */
#define GL_CACHE_LINE 64

/* ---- compute-time parameters passed to every kernel ---- */
/* The first error a kernel met while a graph computed (gl_compute_fail); gl_graph_compute
 * returns it. Nodes after it are skipped (every thread still meets every barrier). */
typedef struct gl_compute_error {
    atomic_int set;
    const gl_tensor *node;
    char msg[GL_ERR_MAX];
} gl_compute_error;

typedef struct gl_compute_params {
    int ith, nth;          /* this thread, thread count */
    void *wdata;           /* shared scratch of plan.work_size bytes (GL_ALIGN aligned) */
    size_t wsize;
    gl_pool *pool;         /* for gl_pool_barrier() inside a kernel; NULL when nth == 1 */
    atomic_int *chunk;     /* shared counter for dynamic work distribution, reset to 0 per node */
    gl_compute_error *error; /* where a kernel reports an error (NULL: nowhere, e.g. direct calls) */
} gl_compute_params;

/* Records that kernel t cannot run (unsupported shape or type, too little scratch): the first
 * call of a graph's computation wins, gl_graph_compute returns it with the node named. */
void gl_compute_fail(const gl_compute_params *p, const gl_tensor *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* In a kernel: if cond is false, report msg for t and return. */
#define GL_KERNEL_REQUIRE(p, t, cond, ...)                                                   \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            gl_compute_fail((p), (t), __VA_ARGS__);                                          \
            return;                                                                          \
        }                                                                                    \
    } while (0)

/* Barrier usable from a kernel (no-op with one thread). */
GL_PRIVATE void gl_compute_barrier(const gl_compute_params *p);

/* Rows [*r0, *r1) of nr rows assigned to thread ith of nth (even split). */
static inline void gl_split_rows(int64_t nr, int ith, int nth, int64_t *r0, int64_t *r1) {
    const int64_t per = (nr + nth - 1) / nth;
    *r0 = GL_MIN(nr, per * ith);
    *r1 = GL_MIN(nr, *r0 + per);
}

/* Storage rules the planner relies on: a node with view_src set (views) uses its base's
 * memory at view_offs; a GL_OP_CPY node with src[1] (the destination) uses the destination's
 * memory (its data pointer equals src[1]'s), so the copy lands in place, e.g. in a KV cache.
 * A kernel for which gl_op_n_tasks() returns 1 runs on thread 0 only and must not call
 * gl_compute_barrier(); otherwise it runs on every thread with nth = the pool's size. */

/* gl-ops.c: runs the op of node t (t->data allocated). Called by every thread. */
GL_PRIVATE void gl_compute_forward(const gl_compute_params *p, gl_tensor *t);
/* gl-backward.c: runs a GL_OP_CUSTOM node's kernel (thread ith of nth; single-threaded
 * kernels run on thread 0) and says over how many threads it splits. */
GL_PRIVATE void gl_compute_custom(gl_tensor *t, int ith, int nth);
GL_PRIVATE int gl_custom_n_tasks(const gl_tensor *t, int n_threads);
/* gl-ops.c: scratch bytes the op of t needs with n_threads threads. */
GL_PRIVATE size_t gl_op_work_size(const gl_tensor *t, int n_threads);
/* gl-ops.c: how many threads the op can use (1 for tiny or serial ops). */
GL_PRIVATE int gl_op_n_tasks(const gl_tensor *t, int n_threads);
GL_PRIVATE const char *gl_op_name(gl_op op);

/* gl-matmul.c */
GL_PRIVATE void gl_compute_mul_mat(const gl_compute_params *p, gl_tensor *dst);
GL_PRIVATE size_t gl_mul_mat_work_size(const gl_tensor *dst, int n_threads);

/* ---- gl-core.c: helpers for op builders ---- */
/* Records an error in ctx (first one wins) and returns NULL. */
GL_PRIVATE gl_tensor *gl_ctx_fail(gl_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A new result node (data NULL) of op with the given sources (n_src of them, may be NULL
 * entries after the first). Returns NULL if ctx is out of memory. */
GL_PRIVATE gl_tensor *gl_new_op_tensor(gl_context *ctx, gl_type type, int n_dims, const int64_t *ne, gl_op op,
                            int n_src, gl_tensor *const *src);
/* Raw arena memory (GL_ALIGN aligned), also in no_alloc contexts; NULL + ctx error if full. */
GL_PRIVATE void *gl_ctx_alloc(gl_context *ctx, size_t size, const char *what);
/* Row/element strides for a contiguous tensor of type and ne. */
GL_PRIVATE void gl_set_contiguous_strides(gl_tensor *t);
/* True when element counts are in range and the arithmetic does not overflow. */
GL_PRIVATE bool gl_ne_valid(const int64_t *ne, int n_dims);

/* Pointer to element (i0, i1, i2, i3) of a non-quantized t. */
static inline void *gl_ptr(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}
/* Start of row (i1, i2, i3) of t (any type). */
static inline void *gl_row(const gl_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

static inline float gl_op_param_f32(const gl_tensor *t, int i) {
    float f;
    memcpy(&f, &t->op_params[i], sizeof f);
    return f;
}
static inline void gl_op_param_set_f32(gl_tensor *t, int i, float v) {
    memcpy(&t->op_params[i], &v, sizeof v);
}

/* (int64_t)v truncated and clamped to [lo, hi], NaN giving 0: a float-to-int cast out of
 * range (NaN and inf included) is undefined behaviour. */
static inline int64_t gl_f32_to_int_sat(float v, int64_t lo, int64_t hi) {
    if (v != v) return 0;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    return (int64_t)v;
}

#endif /* GL_IMPL_H */
