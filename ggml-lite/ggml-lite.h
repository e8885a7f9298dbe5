/*
 * ggml-lite — a small tensor graph library for quantized CPU inference.
 *
 * Part of edgelm. C11; depends on libc, libm and pthreads only.
 *
 * Quick tour
 * ----------
 *   gl_context   an arena the caller sizes (or hands over as a buffer). It holds tensor
 *                headers and, unless `no_alloc` is set, tensor data.
 *   gl_tensor    up to 4 dims; ne[0] is the contiguous dimension; nb[] are byte strides.
 *                Views, reshapes and permutes share data with their source.
 *   ops          gl_add(), gl_mul_mat(), gl_softmax_ext() ... only *record* an operation:
 *                the result tensor has no data yet.
 *   gl_graph     gl_graph_build() orders the nodes; gl_graph_plan() measures the memory the
 *                intermediate results need when buffers are reused as soon as their last
 *                reader has run (peak, not sum); gl_graph_alloc() places them in a buffer
 *                the caller owns; gl_graph_compute() runs the graph on a gl_pool.
 *   gl_pool      a persistent pthread pool: all threads walk the nodes, each op splits its
 *                rows by thread, and one barrier separates consecutive nodes.
 *   gl_gguf      a GGUF v3 reader over an mmap-ed file or a caller's buffer (no copies of
 *                tensor data; every field is validated before use), and a streaming writer.
 *
 * Errors: nothing here exits or prints. Functions that can fail on input return NULL or a
 * negative gl_status and fill a gl_error. Graph-building functions record the first error in
 * the context (gl_ctx_error) and return NULL; every op given a NULL source returns NULL too, so
 * a model builder can check once at the end.
 *
 * Thread safety: a context, graph or pool is used by one thread at a time. There is no global
 * mutable state.
 */
#ifndef GGML_LITE_H
#define GGML_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GL_API marks the public functions: the only symbols a shared library built with
 * -fvisibility=hidden exports. Define it before including this header to override. */
#ifndef GL_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define GL_API __attribute__((visibility("default")))
#else
#define GL_API
#endif
#endif

#define GL_MAX_DIMS 4
#define GL_MAX_NAME 64   /* including the terminating NUL: names are at most 63 bytes */
#define GL_MAX_SRC 6
#define GL_MAX_OP_PARAMS 16 /* int32 slots */
#define GL_ERR_MAX 256

/* ------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------- */

typedef enum gl_status {
    GL_OK = 0,
    GL_ERR_INVALID = -1,   /* bad argument or malformed input */
    GL_ERR_NOMEM = -2,     /* an arena or malloc ran out */
    GL_ERR_IO = -3,        /* open/read/write/mmap failed */
    GL_ERR_UNSUPPORTED = -4,
    GL_ERR_FORMAT = -5,    /* a file violates its format */
} gl_status;

typedef struct gl_error {
    gl_status code;
    char msg[GL_ERR_MAX];
} gl_error;

/* Sets err (if non-NULL) and returns code. printf-style. */
GL_API gl_status gl_error_set(gl_error *err, gl_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------------------------- */

/* Type ids are ggml's (they are stored in GGUF files). */
typedef enum gl_type {
    GL_TYPE_F32 = 0,
    GL_TYPE_F16 = 1,
    GL_TYPE_Q4_0 = 2,
    GL_TYPE_Q4_1 = 3,
    GL_TYPE_Q5_0 = 6,
    GL_TYPE_Q5_1 = 7,
    GL_TYPE_Q8_0 = 8,
    GL_TYPE_Q8_1 = 9,
    GL_TYPE_Q2_K = 10,
    GL_TYPE_Q3_K = 11,
    GL_TYPE_Q4_K = 12,
    GL_TYPE_Q5_K = 13,
    GL_TYPE_Q6_K = 14,
    GL_TYPE_Q8_K = 15,
    GL_TYPE_IQ4_NL = 20,
    GL_TYPE_IQ4_XS = 23,
    GL_TYPE_I8 = 24,
    GL_TYPE_I16 = 25,
    GL_TYPE_I32 = 26,
    GL_TYPE_I64 = 27,
    GL_TYPE_F64 = 28,
    GL_TYPE_BF16 = 30,
    GL_TYPE_COUNT = 43, /* ids below this may appear in files; see gl_type_known() */
} gl_type;

typedef uint16_t gl_fp16; /* IEEE half, bit pattern */
typedef uint16_t gl_bf16; /* bfloat16, bit pattern */

/* Row kernels. n is a multiple of the type's block size. */
typedef void (*gl_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*gl_from_float_fn)(const float *x, void *y, int64_t n);
/* s = sum_i x[i]*y[i], x of the weight type, y of its vec_dot_type. */
typedef void (*gl_vec_dot_fn)(int n, float *s, const void *x, const void *y);

typedef struct gl_type_traits {
    const char *name;          /* ggml's spelling: "f32", "q4_0" ... */
    int64_t blck_size;         /* elements per block */
    size_t type_size;          /* bytes per block */
    bool is_quantized;
    bool known;                /* a valid id (ids 4, 5, 31-33, 36-38 are not) */
    bool supported;            /* edgelm can compute with it */
    gl_to_float_fn to_float;         /* dequantize_row (scalar reference) */
    gl_from_float_fn from_float_ref; /* quantize_row_*_ref: ggml's reference algorithm */
    gl_from_float_fn from_float;     /* the fast activation quantizer (SIMD where available) */
    gl_vec_dot_fn vec_dot;           /* best kernel compiled in */
    gl_vec_dot_fn vec_dot_scalar;    /* portable reference of the same dot */
    gl_type vec_dot_type;            /* activations are converted to this type */
} gl_type_traits;

/* Traits of a type id; NULL when the id is outside [0, GL_TYPE_COUNT). */
GL_API const gl_type_traits *gl_type_get(int type);
GL_API bool gl_type_known(int type);
GL_API const char *gl_type_name(int type); /* "?" for unknown ids */
/* ASCII case-insensitive equality of two C strings (type and option names). */
GL_API bool gl_name_eq(const char *a, const char *b);
/* Parses ggml's spelling, case-insensitively ("Q8_0", "f16"); -1 when unknown. */
GL_API int gl_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
GL_API size_t gl_row_size(gl_type type, int64_t n);

GL_API float gl_fp16_to_fp32(gl_fp16 h);
GL_API gl_fp16 gl_fp32_to_fp16(float f); /* round to nearest even */
GL_API float gl_bf16_to_fp32(gl_bf16 h);
GL_API gl_bf16 gl_fp32_to_bf16(float f); /* round to nearest even, NaN kept quiet */

/* Name of the SIMD paths of the kernel set in use, e.g. "AVX2 FMA F16C", "NEON DOTPROD", "scalar". */
GL_API const char *gl_simd_name(void);
/* Run-time dispatch (gl-cpu.c): the kernel set is chosen at the first call of any of these or
 * of a computation: the best one compiled in whose instructions this CPU has, or the one the
 * environment variable EDGELM_KERNELS names (scalar, avx2, avx512, neon, dotprod).
 * gl_cpu_features: the detected features ("avx2 fma f16c avx512f ..."); gl_kernels_name: the
 * set in use; gl_kernels_available: the usable sets, best first; gl_kernels_error: NULL, or
 * why EDGELM_KERNELS was refused (then the best usable set is in use: callers should stop). */
GL_API const char *gl_cpu_features(void);
GL_API const char *gl_kernels_name(void);
GL_API const char *gl_kernels_available(void);
GL_API const char *gl_kernels_error(void);

/* ------------------------------------------------------------------------------------------
 * Tensors and contexts
 * ---------------------------------------------------------------------------------------- */

typedef enum gl_op {
    GL_OP_NONE = 0,    /* a leaf: weights or inputs */
    GL_OP_VIEW,        /* shares its source's data (view, reshape, permute, transpose) */
    GL_OP_CPY,         /* copy src0 into dst with type conversion (dst may be a view) */
    GL_OP_CONT,        /* contiguous copy */
    GL_OP_GET_ROWS,
    GL_OP_ADD,
    GL_OP_SUB,
    GL_OP_MUL,
    GL_OP_DIV,
    GL_OP_SCALE,
    GL_OP_ADD1,        /* x + scalar bias */
    GL_OP_MUL_MAT,
    GL_OP_NORM,        /* layer norm without affine */
    GL_OP_RMS_NORM,
    GL_OP_UNARY,
    GL_OP_SOFTMAX,
    GL_OP_ROPE,
    GL_OP_ATTN,        /* fused attention: softmax(q k^T * scale + mask) v */
    GL_OP_CONV1D_MAX,  /* conv1d over a sequence, then max over time */
    GL_OP_LSTM,        /* a whole sequence of LSTM steps with projection */
    GL_OP_CONCAT,
    GL_OP_SUM_ROWS,
    GL_OP_MEAN,
    GL_OP_ARGMAX,
    GL_OP_CUSTOM,
    GL_OP_COUNT,
} gl_op;

typedef enum gl_unary_op {
    GL_UNARY_RELU,
    GL_UNARY_GELU,      /* exact: 0.5 x (1 + erf(x/sqrt 2)) */
    GL_UNARY_GELU_TANH, /* tanh approximation */
    GL_UNARY_SILU,
    GL_UNARY_TANH,
    GL_UNARY_SIGMOID,
    GL_UNARY_NEG,
    GL_UNARY_SQR,
    GL_UNARY_SQRT,
    GL_UNARY_EXP,
    GL_UNARY_COUNT,
} gl_unary_op;

typedef enum gl_rope_mode {
    GL_ROPE_NORMAL = 0, /* rotate adjacent pairs (x0,x1),(x2,x3)... (llama.cpp's llama) */
    GL_ROPE_NEOX = 2,   /* rotate (x_i, x_{i+n/2}) (HF rotate_half, gpt-neox, qwen2) */
} gl_rope_mode;

/* How a tensor's bytes are laid out. GL_LAYOUT_ROWS: ggml's, row after row (what files hold).
 * GL_LAYOUT_X8: made by gl_repack at load time, never stored in files: groups of 8 rows whose
 * blocks are interleaved, read only by mul_mat as its first operand and by get_rows as its
 * table (a tied embedding is both). */
typedef enum gl_layout { GL_LAYOUT_ROWS = 0, GL_LAYOUT_X8 = 1 } gl_layout;

typedef struct gl_tensor gl_tensor;
struct gl_tensor {
    gl_type type;
    gl_layout layout;        /* ROWS unless gl_repack made it X8 (ne and nb keep their values) */
    int64_t ne[GL_MAX_DIMS]; /* elements per dim; ne[0] contiguous */
    size_t nb[GL_MAX_DIMS];  /* bytes per step in each dim */
    gl_op op;
    int32_t op_params[GL_MAX_OP_PARAMS];
    gl_tensor *src[GL_MAX_SRC];
    gl_tensor *view_src;     /* the tensor whose data a view shares */
    size_t view_offs;        /* byte offset into view_src's data */
    void *data;              /* NULL until allocated (graph nodes) */
    bool is_input;           /* leaf whose data the caller writes before compute */
    bool is_output;          /* keep its buffer alive to the end of the graph */
    int32_t n_children;      /* pending readers, used by the planner */
    int32_t plan_slot;       /* set by the planner */
    size_t plan_offs;
    char name[GL_MAX_NAME];
};

typedef struct gl_context gl_context;

typedef struct gl_context_params {
    size_t mem_size;  /* arena size in bytes (headers + data) */
    void *mem_buffer; /* caller's memory, or NULL to have the context malloc it */
    bool no_alloc;    /* tensors get headers only; data stays NULL (weights, graph nodes) */
} gl_context_params;

/* Bytes a context needs for n tensor headers (excluding data). */
GL_API size_t gl_tensor_overhead(void);
GL_API gl_context *gl_context_new(gl_context_params params, gl_error *err);
GL_API void gl_context_free(gl_context *ctx);
/* Forgets every tensor (and the error state): the arena is reused from its start. Tensors
 * created before are invalid afterwards. For graphs rebuilt per step without allocation. */
GL_API void gl_context_reset(gl_context *ctx);
/* Arena bytes in use. */
GL_API size_t gl_context_used(const gl_context *ctx);
/* First error recorded while building (NULL when none). */
GL_API const char *gl_ctx_error(const gl_context *ctx);
GL_API bool gl_ctx_ok(const gl_context *ctx);

GL_API gl_tensor *gl_new_tensor(gl_context *ctx, gl_type type, int n_dims, const int64_t *ne);
GL_API gl_tensor *gl_new_tensor_1d(gl_context *ctx, gl_type type, int64_t ne0);
GL_API gl_tensor *gl_new_tensor_2d(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1);
GL_API gl_tensor *gl_new_tensor_3d(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1, int64_t ne2);
GL_API gl_tensor *gl_new_tensor_4d(gl_context *ctx, gl_type type, int64_t ne0, int64_t ne1, int64_t ne2,
                            int64_t ne3);
/* A tensor header over memory the caller owns (e.g. a weight inside an mmap-ed file). */
GL_API gl_tensor *gl_new_tensor_with_data(gl_context *ctx, gl_type type, int n_dims, const int64_t *ne,
                                   void *data);
GL_API gl_tensor *gl_set_name(gl_tensor *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
GL_API void gl_set_input(gl_tensor *t);
GL_API void gl_set_output(gl_tensor *t);

GL_API int64_t gl_nelements(const gl_tensor *t);
GL_API int64_t gl_nrows(const gl_tensor *t);       /* ne1*ne2*ne3 */
GL_API size_t gl_nbytes(const gl_tensor *t);       /* bytes spanned by the strides */
GL_API bool gl_is_contiguous(const gl_tensor *t);
GL_API bool gl_are_same_shape(const gl_tensor *a, const gl_tensor *b);
GL_API int gl_n_dims(const gl_tensor *t);

/* Element access (any float type or I32; slow, for tests and tools). */
GL_API float gl_get_f32_nd(const gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3);
GL_API void gl_set_f32_nd(gl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, float v);

/* ---- repacked weights (gl_repack): faster mul_mat for Q4_0 / Q8_0 ----
 * An X8 tensor holds the same bytes per 8 rows as its row layout, in another order: for each
 * group of 8 rows, for each 32-element block in k order, the 8 rows' fp16 scales and then their
 * quants interleaved in 4-byte groups. Only gl_mul_mat (as its first operand) and gl_get_rows
 * (as its table) may read it; every other op and every view refuses it when the graph is
 * built. */
/* Bytes gl_repack needs for t, or 0 when t cannot be repacked in this build: a type without
 * an X8 kernel here (only Q4_0 and Q8_0 with a SIMD kernel), not a plain contiguous 2-D
 * tensor (ne[2] == ne[3] == 1, no view), already X8. Rows are rounded up to a multiple of 8
 * (the last group is padded with zero rows that mul_mat computes but never stores). */
GL_API size_t gl_repack_size(const gl_tensor *t);
/* Writes t's data in the X8 layout into dst (size bytes, aligned to at least 64), then points
 * t->data at dst and sets t->layout = GL_LAYOUT_X8. t's old data is only read. false (with a
 * message in err) when gl_repack_size(t) is 0 or size is too small. */
GL_API bool gl_repack(gl_tensor *t, void *dst, size_t size, gl_error *err);

/* ---- views (share data; no copy) ---- */
GL_API gl_tensor *gl_view_1d(gl_context *ctx, gl_tensor *a, int64_t ne0, size_t offset);
GL_API gl_tensor *gl_view_2d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, size_t nb1,
                      size_t offset);
GL_API gl_tensor *gl_view_3d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2,
                      size_t nb1, size_t nb2, size_t offset);
GL_API gl_tensor *gl_view_4d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2,
                      int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset);
/* Reshape needs a contiguous source. */
GL_API gl_tensor *gl_reshape_2d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1);
GL_API gl_tensor *gl_reshape_3d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2);
GL_API gl_tensor *gl_reshape_4d(gl_context *ctx, gl_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2,
                         int64_t ne3);
/* Axis i of a goes to position axN of the result. */
GL_API gl_tensor *gl_permute(gl_context *ctx, gl_tensor *a, int ax0, int ax1, int ax2, int ax3);
GL_API gl_tensor *gl_transpose(gl_context *ctx, gl_tensor *a); /* swap dims 0 and 1 */

/* ---- ops (record only; results get data when the graph is allocated) ---- */
GL_API gl_tensor *gl_cpy(gl_context *ctx, gl_tensor *a, gl_tensor *dst); /* writes a into dst (a view) */
GL_API gl_tensor *gl_cont(gl_context *ctx, gl_tensor *a);
GL_API gl_tensor *gl_cast(gl_context *ctx, gl_tensor *a, gl_type type); /* contiguous copy as type */
/* rows of a (any type) picked by I32 ids [n] → F32 [a.ne0, n]. a may be 3-D with ids 2-D. */
GL_API gl_tensor *gl_get_rows(gl_context *ctx, gl_tensor *a, gl_tensor *ids);
/* Binary ops broadcast b over a when each b.ne[i] divides a.ne[i]. F32 results. */
GL_API gl_tensor *gl_add(gl_context *ctx, gl_tensor *a, gl_tensor *b);
GL_API gl_tensor *gl_sub(gl_context *ctx, gl_tensor *a, gl_tensor *b);
GL_API gl_tensor *gl_mul(gl_context *ctx, gl_tensor *a, gl_tensor *b);
GL_API gl_tensor *gl_div(gl_context *ctx, gl_tensor *a, gl_tensor *b);
GL_API gl_tensor *gl_scale(gl_context *ctx, gl_tensor *a, float s);
GL_API gl_tensor *gl_add1(gl_context *ctx, gl_tensor *a, float bias);
/* W [k, n] (any type) times X [k, m, ...] (F32) → [n, m, ...]: y[j,i] = sum_l W[l,j] X[l,i].
 * Like ggml_mul_mat(W, X). W broadcasts over dims 2,3 of X when they divide. */
GL_API gl_tensor *gl_mul_mat(gl_context *ctx, gl_tensor *w, gl_tensor *x);
GL_API gl_tensor *gl_norm(gl_context *ctx, gl_tensor *a, float eps);      /* over ne0 */
GL_API gl_tensor *gl_rms_norm(gl_context *ctx, gl_tensor *a, float eps);  /* over ne0 */
/* norm(a)*w + b in one node (w, b: [ne0], b may be NULL) */
GL_API gl_tensor *gl_layer_norm(gl_context *ctx, gl_tensor *a, gl_tensor *w, gl_tensor *b, float eps);
GL_API gl_tensor *gl_unary(gl_context *ctx, gl_tensor *a, gl_unary_op op);
GL_API gl_tensor *gl_relu(gl_context *ctx, gl_tensor *a);
GL_API gl_tensor *gl_gelu(gl_context *ctx, gl_tensor *a);
GL_API gl_tensor *gl_gelu_tanh(gl_context *ctx, gl_tensor *a);
GL_API gl_tensor *gl_silu(gl_context *ctx, gl_tensor *a);
GL_API gl_tensor *gl_tanh(gl_context *ctx, gl_tensor *a);
GL_API gl_tensor *gl_sigmoid(gl_context *ctx, gl_tensor *a);
/* softmax over ne0 of (a*scale + mask), mask F32 [ne0, ne1] broadcast over dims 2,3 (or NULL).
 * With causal = true, element (i0, i1) is masked when i0 > i1 + n_past, where
 * n_past = ne0 - ne1 (keys that precede the first query). */
GL_API gl_tensor *gl_softmax_ext(gl_context *ctx, gl_tensor *a, gl_tensor *mask, float scale,
                          bool causal);
GL_API gl_tensor *gl_softmax(gl_context *ctx, gl_tensor *a);
/* a: [head_dim, n_head, n_tokens] F32, pos: I32 [n_tokens]. Rotates the first n_dims dims
 * with theta_i = pos * freq_base^(-2i/n_dims). */
GL_API gl_tensor *gl_rope(gl_context *ctx, gl_tensor *a, gl_tensor *pos, int n_dims, gl_rope_mode mode,
                   float freq_base, float freq_scale);
/* gl_rope with per-pair frequency divisors (freq_factors F32 [n_dims/2] or NULL: theta_i is
 * divided by freq_factors[i], Llama 3.x / LongRoPE) and cos/sin multiplied by attn_factor. */
GL_API gl_tensor *gl_rope_ext(gl_context *ctx, gl_tensor *a, gl_tensor *pos, gl_tensor *freq_factors,
                       int n_dims, gl_rope_mode mode, float freq_base, float freq_scale,
                       float attn_factor);
/* Fused attention. q [d, n_q, n_head], k [d, n_kv, n_head_kv], v [dv, n_kv, n_head_kv]
 * (k/v F32 or F16, any strides, e.g. views of a KV cache; n_head % n_head_kv == 0 for GQA),
 * mask F32 [n_kv, n_q] or NULL; causal masks key j for query i when j > i + (n_kv - n_q).
 * The mask broadcasts: its dims 2 and 3 may be 1 or divide n_head and q's dim 3, so a mask
 * [n_kv, n_q, n_head] adds a different bias per head (T5's relative position bias). Rows of the
 * mask beyond n_q are ignored.
 * Result [dv, n_head, n_q] (heads side by side per token, ready for the output matmul). */
GL_API gl_tensor *gl_attn(gl_context *ctx, gl_tensor *q, gl_tensor *k, gl_tensor *v, gl_tensor *mask,
                   float scale, bool causal);
/* gl_attn with a sliding window (window > 0, causal only: query i sees key j only when
 * (i + n_kv - n_q) - j < window) and logit soft-capping (softcap > 0: a score s = scale q.k
 * becomes softcap * tanh(s / softcap) before the softmax). */
GL_API gl_tensor *gl_attn_ext(gl_context *ctx, gl_tensor *q, gl_tensor *k, gl_tensor *v,
                       gl_tensor *mask, float scale, bool causal, int32_t window, float softcap);
/* x [c_in, len, n] (one sequence per column of dim 2: e.g. characters of a word),
 * w [c_in * width, c_out] (row-major over (tap, channel)), b [c_out] →
 * [c_out, n]: max over valid positions t of b + sum_{k<width} w[k] . x[t+k]. */
GL_API gl_tensor *gl_conv1d_max(gl_context *ctx, gl_tensor *x, gl_tensor *w, gl_tensor *b, int width);
/* Highway layer, AllenNLP convention: x [d, n]; w [d, 2d] rows = (transform | gate), b [2d];
 * t = relu(h[0:d]), g = sigmoid(h[d:2d]), y = g*x + (1-g)*t, h = w.x + b. Builds a few nodes
 * (mul_mat, add, views, relu, sigmoid, sub, mul), so the product uses the mat-mat kernels. */
GL_API gl_tensor *gl_highway(gl_context *ctx, gl_tensor *x, gl_tensor *w, gl_tensor *b);
/* LSTM over a sequence (one direction, a batch of columns):
 *   xw   [4*cell, T, B]   input contributions W_x . x_t + b, precomputed by gl_mul_mat
 *   wh   [proj, 4*cell]   recurrent weights (proj = cell when there is no projection)
 *   wp   [cell, proj]     projection (or NULL)
 *   state [cell + proj, B] F32 in/out: c then h, updated in place after the last step
 *   lens  I32 [B] valid steps per column (or NULL = all T); padded steps keep the state and
 *         output zeros.
 * Gate order in 4*cell rows is (i, f, g, o); forget_bias is added to f.
 * cell_clip / proj_clip <= 0 disable clipping. reverse runs t = T-1 .. 0.
 * Result [proj, T, B]: h_t. */
GL_API gl_tensor *gl_lstm(gl_context *ctx, gl_tensor *xw, gl_tensor *wh, gl_tensor *wp, gl_tensor *state,
                   gl_tensor *lens, float forget_bias, float cell_clip, float proj_clip,
                   bool reverse);
GL_API gl_tensor *gl_concat(gl_context *ctx, gl_tensor *a, gl_tensor *b, int dim);
GL_API gl_tensor *gl_sum_rows(gl_context *ctx, gl_tensor *a); /* [1, ne1, ne2, ne3] */
GL_API gl_tensor *gl_mean(gl_context *ctx, gl_tensor *a);     /* mean over ne0 */
GL_API gl_tensor *gl_argmax(gl_context *ctx, gl_tensor *a);   /* I32 [ne1] */

/* ------------------------------------------------------------------------------------------
 * Graphs
 * ---------------------------------------------------------------------------------------- */

typedef struct gl_graph gl_graph;
typedef struct gl_pool gl_pool;

/* Collects every node that out depends on, in execution order. The graph lives in ctx. */
GL_API gl_graph *gl_graph_new(gl_context *ctx, int max_nodes);
/* Adds out and its ancestors; call more than once for several outputs. */
GL_API gl_status gl_graph_expand(gl_graph *g, gl_tensor *out);
GL_API int gl_graph_n_nodes(const gl_graph *g);
GL_API gl_tensor *gl_graph_node(const gl_graph *g, int i);

typedef struct gl_graph_plan {
    size_t buffer_size; /* bytes for intermediate tensors, with reuse */
    size_t work_size;   /* bytes of scratch for kernels (activation quantization ...) */
    size_t naive_size;  /* bytes without reuse, for comparison */
    int n_threads;
} gl_graph_plan;

/* Decides where each intermediate tensor lives (reusing freed buffers) for n_threads. */
GL_API gl_status gl_graph_plan_memory(gl_graph *g, int n_threads, gl_graph_plan *plan, gl_error *err);
/* Points every planned tensor into buf (buffer_size + work_size bytes, 64-byte aligned). */
GL_API gl_status gl_graph_alloc(gl_graph *g, const gl_graph_plan *plan, void *buf, size_t size,
                         gl_error *err);
/* Runs the graph. pool may be NULL (runs on the calling thread). */
GL_API gl_status gl_graph_compute(gl_graph *g, gl_pool *pool, gl_error *err);

/* ------------------------------------------------------------------------------------------
 * Training (gl-backward.c)
 *
 * gl_build_backward adds to ctx the gradient of loss (one F32 value in fwd, a graph expanded
 * from it) with respect to each of params[] (leaves, F32) and stores them in grads[] (NULL for
 * a parameter the loss does not depend on); the gradient nodes are marked as outputs, so
 * expanding a graph from loss and every grads[k] computes the loss and the gradients in one
 * run, memory planned as for inference. Gradient kernels are custom nodes; the matrix-product
 * ones split their outputs over the threads, every element summed in one fixed order: results
 * do not depend on the thread count. Ops with a gradient: add, sub, mul (broadcast
 * b), scale, mul_mat (to x through any weight type; to F32 weights), gelu, tanh, relu, layer
 * norm, softmax (scale, mask; not causal), get_rows (F32 table), views / reshape / permute /
 * transpose / cont, sum_rows, mean, and the custom ops below; others fail naming the op.
 * ---------------------------------------------------------------------------------------- */

/* A node computed by fn(dst) on one thread (dst->src[] are its inputs); back (may be NULL:
 * no gradient) returns the gradient of dst's source i given g = d loss / d dst. */
typedef void (*gl_custom_fn)(gl_tensor *dst);
typedef gl_tensor *(*gl_custom_backward_fn)(gl_context *ctx, gl_tensor *dst, int i, gl_tensor *g);
GL_API gl_tensor *gl_custom(gl_context *ctx, gl_type type, const int64_t ne[4], gl_tensor *const *src, int n_src,
                     gl_custom_fn fn, gl_custom_backward_fn back);
/* The int32 slots a custom node's kernel may use for its parameters (11; the 12th is the
 * library's). */
GL_API int32_t *gl_custom_params(gl_tensor *t);
/* Mean over the rows whose label is >= 0 of -log softmax(logits[:, n])[labels[n]]: logits
 * [C, N] F32, labels I32 [N]. Result [1]. */
GL_API gl_tensor *gl_cross_entropy(gl_context *ctx, gl_tensor *logits, gl_tensor *labels);
/* Inverted dropout: each element kept with probability 1 - p (scaled by 1 / (1 - p)), the
 * decision a function of (seed, element index) only. */
GL_API gl_tensor *gl_dropout(gl_context *ctx, gl_tensor *x, float p, uint64_t seed);
GL_API gl_status gl_build_backward(gl_context *ctx, gl_graph *fwd, gl_tensor *loss, gl_tensor *const *params,
                            int n_params, gl_tensor **grads, gl_error *err);

/* AdamW (gl-opt.c): decoupled weight decay on matrices (ne1 > 1) only, linear warm-up over
 * warmup_steps then linear decay to 0 at total_steps (0: constant after warm-up), gradients
 * clipped to a global L2 norm of clip_norm (0: no clipping), as torch.optim.AdamW +
 * transformers' get_linear_schedule_with_warmup + clip_grad_norm_ compute them. Parameters are
 * F32 tensors with data; the state (m, v) is the optimiser's. */
typedef struct gl_adamw_params {
    float lr, beta1, beta2, eps, weight_decay, clip_norm;
    int64_t warmup_steps, total_steps;
} gl_adamw_params;
typedef struct gl_adamw gl_adamw;
GL_API gl_adamw_params gl_adamw_default_params(void); /* lr 2e-5, 0.9, 0.999, 1e-8, wd 0.01, clip 1 */
GL_API gl_adamw *gl_adamw_new(gl_tensor *const *params, int n, const gl_adamw_params *p, gl_error *err);
GL_API void gl_adamw_free(gl_adamw *o);
/* One update from grads[i] (F32, contiguous, as many elements as params[i]; NULL: zero). */
GL_API gl_status gl_adamw_step(gl_adamw *o, gl_tensor *const *grads, float *grad_norm, gl_error *err);
GL_API float gl_adamw_lr(const gl_adamw *o);    /* the rate the next step uses */
GL_API int64_t gl_adamw_steps(const gl_adamw *o);

/* ------------------------------------------------------------------------------------------
 * Thread pool
 * ---------------------------------------------------------------------------------------- */

/* n_threads includes the calling thread (1 = no workers). */
GL_API gl_pool *gl_pool_new(int n_threads, gl_error *err);
GL_API void gl_pool_free(gl_pool *pool);
GL_API int gl_pool_n_threads(const gl_pool *pool);
/* Runs fn(ith, nth, arg) on every thread of the pool and waits. */
typedef void (*gl_pool_fn)(int ith, int nth, void *arg);
GL_API void gl_pool_run(gl_pool *pool, gl_pool_fn fn, void *arg);
/* Barrier among the threads inside gl_pool_run (all must call it). */
GL_API void gl_pool_barrier(gl_pool *pool);

/* ------------------------------------------------------------------------------------------
 * GGUF v3
 * ---------------------------------------------------------------------------------------- */

typedef enum gl_gguf_type {
    GL_GGUF_UINT8 = 0,
    GL_GGUF_INT8 = 1,
    GL_GGUF_UINT16 = 2,
    GL_GGUF_INT16 = 3,
    GL_GGUF_UINT32 = 4,
    GL_GGUF_INT32 = 5,
    GL_GGUF_FLOAT32 = 6,
    GL_GGUF_BOOL = 7,
    GL_GGUF_STRING = 8,
    GL_GGUF_ARRAY = 9,
    GL_GGUF_UINT64 = 10,
    GL_GGUF_INT64 = 11,
    GL_GGUF_FLOAT64 = 12,
    GL_GGUF_TYPE_COUNT = 13,
} gl_gguf_type;

#define GL_GGUF_DEFAULT_ALIGNMENT 32

typedef struct gl_gguf gl_gguf;

/* A string inside the file: not NUL-terminated. */
typedef struct gl_str {
    const char *data;
    uint64_t len;
} gl_str;

typedef struct gl_gguf_tensor_info {
    gl_str name;
    int n_dims;
    int64_t ne[GL_MAX_DIMS]; /* unused dims are 1 */
    gl_type type;
    uint64_t offset;         /* relative to the data section */
    uint64_t nbytes;
    const void *data;        /* points into the file's memory */
} gl_gguf_tensor_info;

/* Maps a whole regular file read-only (*base, *size); messages start with who. A file larger
 * than the address space (32-bit builds) is refused with GL_ERR_NOMEM and a message saying so;
 * an empty file is GL_ERR_FORMAT. Undo with gl_unmap_file. */
GL_API gl_status gl_map_file(const char *path, const char *who, void **base, size_t *size, gl_error *err);
GL_API void gl_unmap_file(void *base, size_t size);

/* Open: mmap the file read-only. The whole header is validated; tensor data is not copied. */
GL_API gl_gguf *gl_gguf_open(const char *path, gl_error *err);
/* Tells the OS that the bytes [p, p + n) of f's file mapping will not be read again soon
 * (e.g. a matrix copied into another layout): the pages wholly inside leave the process's
 * resident set (madvise MADV_DONTNEED on the read-only private mapping; a later read faults
 * them back in from the file, so the data stay valid). False, and nothing done, when f was
 * opened over a caller's buffer, p is outside the mapping, or no whole page lies inside. */
GL_API bool gl_gguf_release_pages(const gl_gguf *f, const void *p, size_t n);
/* Locks f's whole file mapping in RAM (mlock; pages released later are unlocked first).
 * GL_ERR_NOMEM with a message naming the locked-memory limit when the OS refuses; GL_OK and
 * nothing done for a file opened over a caller's buffer. */
GL_API gl_status gl_gguf_mlock(const gl_gguf *f, gl_error *err);
/* Open over memory the caller keeps alive until gl_gguf_close. */
GL_API gl_gguf *gl_gguf_open_buffer(const void *buf, size_t size, gl_error *err);
GL_API void gl_gguf_close(gl_gguf *f);

GL_API uint32_t gl_gguf_version(const gl_gguf *f);
GL_API uint32_t gl_gguf_alignment(const gl_gguf *f);
GL_API size_t gl_gguf_file_size(const gl_gguf *f);
GL_API size_t gl_gguf_data_offset(const gl_gguf *f); /* start of the data section in the file */

GL_API int64_t gl_gguf_n_kv(const gl_gguf *f);
GL_API int64_t gl_gguf_find_key(const gl_gguf *f, const char *key); /* -1 when absent */
GL_API gl_str gl_gguf_key(const gl_gguf *f, int64_t i);
GL_API gl_gguf_type gl_gguf_kv_type(const gl_gguf *f, int64_t i);
/* For arrays: element type and count. */
GL_API gl_gguf_type gl_gguf_arr_type(const gl_gguf *f, int64_t i);
GL_API uint64_t gl_gguf_arr_n(const gl_gguf *f, int64_t i);
/* Raw little-endian element data of a non-string array (validated length). */
GL_API const void *gl_gguf_arr_data(const gl_gguf *f, int64_t i);
/* j-th string of a string array (bounds-checked: empty string when out of range). */
GL_API gl_str gl_gguf_arr_str(const gl_gguf *f, int64_t i, uint64_t j);
GL_API gl_str gl_gguf_get_str(const gl_gguf *f, int64_t i);
/* Scalar values, converted from whatever integer/float width the file used.
 * Return false when the key's type does not fit the request. */
GL_API bool gl_gguf_get_u64(const gl_gguf *f, int64_t i, uint64_t *out);
GL_API bool gl_gguf_get_i64(const gl_gguf *f, int64_t i, int64_t *out);
GL_API bool gl_gguf_get_f64(const gl_gguf *f, int64_t i, double *out);
GL_API bool gl_gguf_get_bool(const gl_gguf *f, int64_t i, bool *out);
/* Array element j as a number (integer, float or bool arrays). */
GL_API bool gl_gguf_arr_get_f64(const gl_gguf *f, int64_t i, uint64_t j, double *out);
GL_API bool gl_gguf_arr_get_i64(const gl_gguf *f, int64_t i, uint64_t j, int64_t *out);

GL_API int64_t gl_gguf_n_tensors(const gl_gguf *f);
GL_API int64_t gl_gguf_find_tensor(const gl_gguf *f, const char *name); /* -1 when absent */
GL_API const gl_gguf_tensor_info *gl_gguf_tensor(const gl_gguf *f, int64_t i);

GL_API const char *gl_gguf_type_name(gl_gguf_type t);
/* Compares a gl_str to a C string. */
GL_API bool gl_str_eq(gl_str s, const char *c);

/* ---- writer: metadata first, then tensor infos, then data streamed in the same order ---- */

typedef struct gl_gguf_writer gl_gguf_writer;
/* Writes to a file (created/truncated). */
GL_API gl_gguf_writer *gl_gguf_writer_open(const char *path, gl_error *err);
/* Writes through a callback (returns bytes written; short = error). */
typedef size_t (*gl_write_fn)(void *user, const void *buf, size_t n);
GL_API gl_gguf_writer *gl_gguf_writer_open_cb(gl_write_fn fn, void *user, gl_error *err);

GL_API gl_status gl_gguf_w_set_alignment(gl_gguf_writer *w, uint32_t alignment); /* before any kv */
/* Scalars: type must not be STRING or ARRAY. val points at a value of that type. */
GL_API gl_status gl_gguf_w_kv(gl_gguf_writer *w, const char *key, gl_gguf_type type, const void *val);
GL_API gl_status gl_gguf_w_kv_u32(gl_gguf_writer *w, const char *key, uint32_t v);
GL_API gl_status gl_gguf_w_kv_i32(gl_gguf_writer *w, const char *key, int32_t v);
GL_API gl_status gl_gguf_w_kv_f32(gl_gguf_writer *w, const char *key, float v);
GL_API gl_status gl_gguf_w_kv_bool(gl_gguf_writer *w, const char *key, bool v);
GL_API gl_status gl_gguf_w_kv_str(gl_gguf_writer *w, const char *key, const char *s);
GL_API gl_status gl_gguf_w_kv_strn(gl_gguf_writer *w, const char *key, const char *s, uint64_t len);
/* Non-string array: n elements of elem_type, little-endian, packed. */
GL_API gl_status gl_gguf_w_kv_arr(gl_gguf_writer *w, const char *key, gl_gguf_type elem_type,
                           const void *data, uint64_t n);
/* String array. lens may be NULL (strings then NUL-terminated). */
GL_API gl_status gl_gguf_w_kv_arr_str(gl_gguf_writer *w, const char *key, const char *const *strs,
                               const uint64_t *lens, uint64_t n);
/* Declare a tensor (all declarations before the first gl_gguf_w_tensor_data). */
GL_API gl_status gl_gguf_w_tensor_info(gl_gguf_writer *w, const char *name, gl_type type, int n_dims,
                                const int64_t *ne);
/* Stream the data of the next declared tensor, in declaration order, possibly in pieces:
 * the writer pads to the alignment once a tensor's declared byte count is complete. */
GL_API gl_status gl_gguf_w_tensor_data(gl_gguf_writer *w, const void *data, size_t n);
/* Finishes (checks all data was written) and closes. Returns the first error of the writer.
 * A file writer (gl_gguf_writer_open) writes to gl_tmp_path(path) and renames it over path
 * here, only when complete and flushed; on any error the temporary file is removed and an
 * existing file at path is left as it was. The free space is checked (statvfs) once the
 * tensors are declared, with an error naming the size needed. */
GL_API gl_status gl_gguf_writer_close(gl_gguf_writer *w, gl_error *err);
/* Closes without finishing: the temporary file is removed, the target never touched. */
GL_API void gl_gguf_writer_discard(gl_gguf_writer *w);
/* The writer's first error message ("" when none). */
GL_API const char *gl_gguf_writer_error(const gl_gguf_writer *w);

/* ---- atomic file output (gl-file.c) ----
 * gl_tmp_path: the temporary name used for target ("<target>.edgelm-tmp-<pid>", in the same
 * folder so that the rename is atomic); false when buf is too small or target exists and is
 * not a regular file (a device or a pipe: written directly). gl_commit_file: fsync and
 * close fd (the temporary file), rename it over target and fsync the folder; on error the
 * temporary file is removed. gl_check_free_space: GL_ERR_IO with both sizes when the folder of
 * path has less than need bytes free (GL_OK when statvfs cannot tell). */
GL_API bool gl_tmp_path(const char *target, char *buf, size_t size);
GL_API gl_status gl_commit_file(int fd, const char *tmp, const char *target, gl_error *err);
GL_API gl_status gl_check_free_space(const char *path, uint64_t need, gl_error *err);
/* Bytes free for an unprivileged user in the folder of path (UINT64_MAX when unknown). */
GL_API uint64_t gl_free_space(const char *path);
/* A file writer calls fn once, when the file's size is known (before the first tensor byte is
 * written and before the free-space check): the target, the bytes needed and gl_free_space.
 * For a command that states the space it needs before starting. */
typedef void (*gl_space_fn)(void *user, const char *path, uint64_t need, uint64_t avail);
GL_API void gl_gguf_writer_on_size(gl_gguf_writer *w, gl_space_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif /* GGML_LITE_H */
