/*
 * gl-quants.h — block layouts of the quantized types and the row kernels of gl-quants.c.
 * Internal to ggml-lite (not part of the public API).
 *
 * Layouts are ggml's (they are what GGUF files hold): a block of 32 elements starts with an
 * fp16 scale; see docs/reference-notes.md §1.5. Sizes are checked at compile time because a
 * padded struct would silently corrupt every weight read from a file.
 */
#ifndef GL_QUANTS_H
#define GL_QUANTS_H

#include "gl-impl.h"

/* fp16 scale of a block, read in the hot loops of gl-quants*.c: the same value as
 * gl_fp16_to_fp32, without its branches where the ISA converts. */
#if defined(GL_AVX2)
#define GL_FP16_FAST(h) _cvtsh_ss(h)
#elif defined(GL_NEON)
static inline float gl_neon_fp16(gl_fp16 h) {
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}
#define GL_FP16_FAST(h) gl_neon_fp16(h)
#else
#define GL_FP16_FAST(h) gl_fp16_to_fp32(h)
#endif

/* Round to nearest, ties to even, via the 1.5*2^23 trick (valid for |v| < 2^22; larger or
 * NaN inputs give some in-range int, never undefined behaviour): ggml's nearest_int. */
static inline int gl_nearest_int(float v) {
    const float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

#define GL_QK4_0 32
#define GL_QK4_1 32
#define GL_QK5_0 32
#define GL_QK5_1 32
#define GL_QK8_0 32
#define GL_QK8_1 32
#define GL_QK_K 256

typedef struct block_q4_0 {
    gl_fp16 d;                 /* scale */
    uint8_t qs[GL_QK4_0 / 2];  /* low nibble: element j, high nibble: element j + 16 */
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 2 + GL_QK4_0 / 2, "block_q4_0 must be 18 bytes");

typedef struct block_q4_1 {
    gl_fp16 d;                 /* scale */
    gl_fp16 m;                 /* minimum */
    uint8_t qs[GL_QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 4 + GL_QK4_1 / 2, "block_q4_1 must be 20 bytes");

typedef struct block_q5_0 {
    gl_fp16 d;
    uint8_t qh[4];             /* 5th bits, a little-endian u32: bit j belongs to element j */
    uint8_t qs[GL_QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 2 + 4 + GL_QK5_0 / 2, "block_q5_0 must be 22 bytes");

typedef struct block_q5_1 {
    gl_fp16 d;
    gl_fp16 m;
    uint8_t qh[4];
    uint8_t qs[GL_QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 4 + 4 + GL_QK5_1 / 2, "block_q5_1 must be 24 bytes");

typedef struct block_q8_0 {
    gl_fp16 d;
    int8_t qs[GL_QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 2 + GL_QK8_0, "block_q8_0 must be 34 bytes");

typedef struct block_q8_1 {
    gl_fp16 d;
    gl_fp16 s;                 /* d * sum(qs): lets Q4_1/Q5_1 dots add the weight minimum */
    int8_t qs[GL_QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 4 + GL_QK8_1, "block_q8_1 must be 36 bytes");

/* ---- reference quantizers (ggml's quantize_row_*_ref; deterministic bytes for files) ---- */
GL_PRIVATE void gl_quantize_row_q4_0_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q4_1_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q5_0_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q5_1_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q8_0_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q8_1_ref(const float *x, void *y, int64_t n);
/* Fast activation quantizers (SIMD where compiled in). Q8_0: same bytes as the reference.
 * Q8_1: same qs and d; s is computed from the same integer sum, so also identical. */
GL_PRIVATE void gl_quantize_row_q8_0(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q8_1(const float *x, void *y, int64_t n);

/* ---- dequantizers ---- */
GL_PRIVATE void gl_dequantize_row_q4_0(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q4_1(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q5_0(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q5_1(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q8_0(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q8_1(const void *x, float *y, int64_t n);

/* ---- float rows ---- */
GL_PRIVATE void gl_fp16_to_fp32_row(const void *x, float *y, int64_t n);   /* F16C / NEON when built */
GL_PRIVATE void gl_fp32_to_fp16_row(const float *x, void *y, int64_t n);   /* F16C / NEON when built */
GL_PRIVATE void gl_fp16_to_fp32_row_ref(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_fp32_to_fp16_row_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_bf16_to_fp32_row(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_fp32_to_bf16_row(const float *x, void *y, int64_t n);

/* ---- dot products: s = sum x[i] y[i], x of the weight type, y of its vec_dot_type ---- */
GL_PRIVATE void gl_vec_dot_f32_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_f16_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_bf16_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q4_0_q8_0_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q4_1_q8_1_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q5_0_q8_0_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q5_1_q8_1_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q8_0_q8_0_scalar(int n, float *s, const void *x, const void *y);

/* Four weight rows (x, x + bx, x + 2 bx, x + 3 bx) against one activation row y:
 * s[r] = row r . y. Agrees with vec_dot within float reassociation (test-quants bounds it).
 * gl_type_vec_dot4 returns NULL when a type has no such kernel in this build. */
typedef void (*gl_vec_dot4_fn)(int n, float *s, const void *x, size_t bx, const void *y);
GL_PRIVATE gl_vec_dot4_fn gl_type_vec_dot4(gl_type type);

/* Register-blocked mat-mat tile: for r < nr <= mr and c < nc <= nc_max,
 *   s[c * bs + r] (=, or += when add) (row r of x, at x + r bx) . y[c]
 * over n elements; y[c] are activation rows of ytype (F32 for F32/F16 weights, Q8_0 for
 * Q4_0/Q8_0). With f16_round, the F32 activations must already be rounded to fp16 values
 * (so the product equals the f16 . f16 vec_dot within reassociation). An element's value
 * does not depend on nr, nc or its place in the tile. fn is NULL when the build has no
 * such kernel for the type (always so with GL_NO_SIMD: vec_dot is the reference). */
typedef void (*gl_gemm_fn)(int n, int nr, int nc, const void *x, size_t bx, const void *const *y,
                           float *s, size_t bs, bool add);
typedef struct gl_gemm_kernel {
    gl_gemm_fn fn;
    int mr, nc;       /* tile: weight rows × activation rows */
    gl_type ytype;    /* type of the activation rows */
    bool f16_round;   /* activations rounded through fp16 first */
    /* Non-NULL: the activation rows are made by yconvert instead of ytype's from_float, and
     * take yblock bytes per 32 elements (the X8 kernels' block_q8_0s rows). */
    gl_from_float_fn yconvert;
    size_t yblock;
    /* The kernel's cost follows nc (one column costs one column's work), so it also serves
     * the mat-vec (m = 1): then a batched decode and a single-sequence one compute each
     * element alike. */
    bool matvec;
} gl_gemm_kernel;
GL_PRIVATE gl_gemm_kernel gl_type_gemm(gl_type type);
#define GL_GEMM_NC_MAX 8 /* no kernel's nc exceeds this */

/* ---- X8 layout (gl_repack; see the top of the X8 section in gl-quants.c) ----
 * A group of 8 weight rows is stored block index by block index: for block b, the 8 rows'
 * fp16 scales, then their quants in chunks of 4 bytes: qs[32 c + 4 r + j] = byte 4 c + j of
 * row r's block b. Q4_0 chunks c = 0..3 hold (low nibbles) elements 4c..4c+3 and (high
 * nibbles) 16+4c..16+4c+3 of each row; Q8_0 chunks c = 0..7 hold elements 4c..4c+3. So a
 * 32-byte chunk is one 4-byte group of each of the 8 rows: one SIMD lane per row. */
typedef struct block_q4_0x8 {
    gl_fp16 d[8];
    uint8_t qs[8 * GL_QK4_0 / 2];
} block_q4_0x8;
_Static_assert(sizeof(block_q4_0x8) == 8 * sizeof(block_q4_0), "X8 keeps Q4_0's size");

typedef struct block_q8_0x8 {
    gl_fp16 d[8];
    int8_t qs[8 * GL_QK8_0];
} block_q8_0x8;
_Static_assert(sizeof(block_q8_0x8) == 8 * sizeof(block_q8_0), "X8 keeps Q8_0's size");

/* Activation block of the X8 kernels: the Q8_0 block of gl_quantize_row_q8_0 (same quants,
 * d = its fp16 scale as a float) with an integer correction: -8 sum(qs) for Q4_0 weights
 * (whose nibbles the kernels use unsigned), -128 sum(qs) for Q8_0 (weights ^ 0x80). */
typedef struct block_q8_0s {
    float d;
    int32_t corr;
    int8_t qs[GL_QK8_0];
} block_q8_0s;
_Static_assert(sizeof(block_q8_0s) == 40, "block_q8_0s must be 40 bytes");

/* Rewrites nrows rows (a last group short of 8 is padded with zero rows: dst holds
 * ceil(nrows / 8) * 8 rows) of k elements of type (Q4_0 or Q8_0) from the row
 * layout at src (row stride src_row bytes) into the X8 layout at dst. Portable, always
 * compiled (the tests use it in every build). false for another type or shape. */
GL_PRIVATE bool gl_repack_x8_rows(gl_type type, const void *src, size_t src_row, void *dst, int64_t nrows,
                       int64_t k);
/* Row `row` of an X8 tensor of type (Q4_0 or Q8_0) with k elements per row, data at x (the
 * group's blocks as gl_repack_x8_rows wrote them), dequantized into y[0..k): the same floats
 * as the row layout's to_float gives. false for another type or a k not a multiple of 32. */
GL_PRIVATE bool gl_x8_row_to_f32(gl_type type, const void *x, int64_t k, int64_t row, float *y);
/* X8 mat-mat kernels, in the gl_gemm_kernel form with mr = 8 (one group per call: x points at
 * the group's first block of the k-slice, bx is unused, nr <= 8 rows of it are stored).
 * gl_type_gemm_x8: the SIMD kernel of this build, fn NULL when there is none (then
 * gl_repack_size is 0). gl_type_gemm_x8_ref: the portable reference (Q4_0, Q8_0 in every
 * build), bit-identical to the SIMD kernels: exact integer block sums, then per block the same
 * float operations (int->float, d_w * d_y, one fused multiply-add) in the same order. */
GL_PRIVATE gl_gemm_kernel gl_type_gemm_x8(gl_type type);
GL_PRIVATE gl_gemm_kernel gl_type_gemm_x8_ref(gl_type type);

/* Quantizes nrows rows of n_per_row floats with the reference quantizer of type (any
 * supported type, F32/F16/BF16 included). Returns bytes written, 0 when the type is not
 * supported or n_per_row is not a multiple of its block size. */
GL_PRIVATE size_t gl_quantize_rows(gl_type type, const float *src, void *dst, int64_t nrows,
                        int64_t n_per_row);

/* ---- K-quants (gl-quants-k.c): super-blocks of GL_QK_K = 256 elements ---- */
#define GL_K_SCALE_SIZE 12

typedef struct block_q2_K {
    uint8_t scales[GL_QK_K / 16]; /* per 16 elements: low nibble scale, high nibble min */
    uint8_t qs[GL_QK_K / 4];      /* 2-bit codes, four per byte */
    gl_fp16 d;                    /* super-block scale of the scales */
    gl_fp16 dmin;                 /* super-block scale of the mins */
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K must be 84 bytes");

typedef struct block_q3_K {
    uint8_t hmask[GL_QK_K / 8];   /* high (third) bit of each code */
    uint8_t qs[GL_QK_K / 4];      /* low two bits */
    uint8_t scales[12];           /* sixteen 6-bit scales */
    gl_fp16 d;
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K must be 110 bytes");

typedef struct block_q4_K {
    gl_fp16 d;
    gl_fp16 dmin;
    uint8_t scales[GL_K_SCALE_SIZE]; /* eight 6-bit scales and eight 6-bit mins */
    uint8_t qs[GL_QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K must be 144 bytes");

typedef struct block_q5_K {
    gl_fp16 d;
    gl_fp16 dmin;
    uint8_t scales[GL_K_SCALE_SIZE];
    uint8_t qh[GL_QK_K / 8];      /* fifth bits */
    uint8_t qs[GL_QK_K / 2];      /* low four bits */
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K must be 176 bytes");

typedef struct block_q6_K {
    uint8_t ql[GL_QK_K / 2];      /* low four bits */
    uint8_t qh[GL_QK_K / 4];      /* high two bits */
    int8_t scales[GL_QK_K / 16];  /* 8-bit scale per 16 elements */
    gl_fp16 d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K must be 210 bytes");

typedef struct block_q8_K {
    float d;                      /* a float32 scale (not fp16) */
    int8_t qs[GL_QK_K];
    int16_t bsums[GL_QK_K / 16];  /* sums of qs per 16 elements, for the K-quant mins */
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K must be 292 bytes");

GL_PRIVATE void gl_quantize_row_q2_K_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q3_K_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q4_K_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q5_K_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q6_K_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q8_K_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_q8_K(const float *x, void *y, int64_t n); /* same bytes as the ref */
GL_PRIVATE void gl_dequantize_row_q2_K(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q3_K(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q4_K(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q5_K(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q6_K(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_q8_K(const void *x, float *y, int64_t n);
/* Scalar dots against Q8_K, and the best compiled-in kernel. The SIMD kernels compute the
 * same per-block integer sums and scale them in the same order, so they return the same
 * float as the scalar ones (test-quants-k checks equality). */
GL_PRIVATE void gl_vec_dot_q2_K_q8_K_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q3_K_q8_K_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q4_K_q8_K_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q5_K_q8_K_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q6_K_q8_K_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q2_K_q8_K(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q3_K_q8_K(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q4_K_q8_K(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q5_K_q8_K(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_q6_K_q8_K(int n, float *s, const void *x, const void *y);
/* Mat-mat kernels of the K types (what gl_type_gemm gives for them): mr = 4 weight rows ×
 * nc Q8_K activation rows, n a multiple of 256. An unsliced call (add false, the whole row)
 * gives exactly the float of the scalar vec_dot for every element; fn NULL without SIMD. */
GL_PRIVATE gl_gemm_kernel gl_type_gemm_k(gl_type type);
/* Four-row mat-vec kernel of a K type (gl_vec_dot4_fn; Q4_K with AVX2): s[r] equals row r's
 * vec_dot exactly. NULL where there is none. */
GL_PRIVATE gl_vec_dot4_fn gl_type_vec_dot4_k(gl_type type);

/* ---- IQ4_NL and IQ4_XS (gl-quants-iq.c): 4-bit codes through ggml's fixed non-linear table
 * of 16 int8 values (iq4nl values), a block scale per 32 elements ---- */
#define GL_QK4_NL 32
typedef struct block_iq4_nl {
    gl_fp16 d;
    uint8_t qs[GL_QK4_NL / 2]; /* low nibble: element j, high nibble: element j + 16 */
} block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl must be 18 bytes");

typedef struct block_iq4_xs {
    gl_fp16 d;                   /* super-block scale */
    uint16_t scales_h;           /* high 2 bits of the 8 6-bit sub-block scales (2 per one) */
    uint8_t scales_l[GL_QK_K / 64]; /* low 4 bits of the scales, two per byte (even: low) */
    uint8_t qs[GL_QK_K / 2];     /* 16 bytes per 32 elements, nibbles as in IQ4_NL */
} block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs must be 136 bytes");

/* Quantizers: the bytes of ggml's quantize_iq4_nl / quantize_iq4_xs without an importance
 * matrix (what llama-quantize writes; ggml's quantize_row_iq4_nl_ref skips the scale search
 * and gives other bytes for IQ4_NL). */
GL_PRIVATE void gl_quantize_row_iq4_nl_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_quantize_row_iq4_xs_ref(const float *x, void *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_iq4_nl(const void *x, float *y, int64_t n);
GL_PRIVATE void gl_dequantize_row_iq4_xs(const void *x, float *y, int64_t n);
/* IQ4_NL . Q8_0 and IQ4_XS . Q8_K. IQ4_XS's SIMD kernels add the same integer per
 * super-block as the scalar one (same float result); IQ4_NL's keep per-lane float sums
 * (equal within float reassociation). */
GL_PRIVATE void gl_vec_dot_iq4_nl_q8_0_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_iq4_xs_q8_K_scalar(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_iq4_nl_q8_0(int n, float *s, const void *x, const void *y);
GL_PRIVATE void gl_vec_dot_iq4_xs_q8_K(int n, float *s, const void *x, const void *y);

/* ---- run-time dispatch (gl-cpu.c, gl-kset.c) ----
 * CPU features (GL_CPU_*), and a kernel set: the entry points of the ISA-dependent modules
 * as compiled for one instruction set. gl_kset_self is this build's (the baseline's, or a
 * copy's under its renamed symbol); gl_kset_active() the one chosen at the first call. */
enum {
    GL_CPU_SSE42 = 1u << 0, GL_CPU_AVX2 = 1u << 1, GL_CPU_FMA = 1u << 2, GL_CPU_F16C = 1u << 3,
    GL_CPU_AVX512F = 1u << 4, GL_CPU_AVX512BW = 1u << 5, GL_CPU_AVX512VL = 1u << 6,
    GL_CPU_AVX512VNNI = 1u << 7, GL_CPU_NEON = 1u << 8, GL_CPU_DOTPROD = 1u << 9,
    GL_CPU_FP16 = 1u << 10, GL_CPU_I8MM = 1u << 11,
};
typedef enum gl_kset_family { GL_KSET_SCALAR, GL_KSET_X86, GL_KSET_NEON } gl_kset_family;
typedef struct gl_kset {
    const char *name;      /* scalar, avx2, avx512, neon, dotprod (EDGELM_KERNELS spells these) */
    unsigned needs;        /* GL_CPU_* bits its instructions need */
    gl_kset_family family; /* which SIMD code paths it has */
    const char *(*simd_name)(void);
    void (*compute_forward)(const gl_compute_params *p, gl_tensor *t);
    int (*op_n_tasks)(const gl_tensor *t, int n_threads);
    size_t (*op_work_size)(const gl_tensor *t, int n_threads);
    size_t (*repack_size)(const gl_tensor *t);
    bool (*repack)(gl_tensor *t, void *dst, size_t size, gl_error *err);
    const gl_type_traits *(*type_get)(int type);
    gl_vec_dot4_fn (*type_vec_dot4)(gl_type type);
    gl_gemm_kernel (*type_gemm)(gl_type type);
    gl_gemm_kernel (*type_gemm_k)(gl_type type);
    gl_vec_dot4_fn (*type_vec_dot4_k)(gl_type type);
    gl_gemm_kernel (*type_gemm_x8)(gl_type type);
} gl_kset;
#if defined(GL_AMALGAMATION)
static const gl_kset gl_kset_self;
#else
extern const gl_kset gl_kset_self;
#endif
GL_PRIVATE const gl_kset *gl_kset_active(void);
/* First statement of an entry point of the baseline: hands the call to the chosen set's copy
 * (the copies, compiled with GL_KSET_COPY, run their own body). */
#if defined(GL_KSET_COPY)
#define GL_KDISPATCH(field, ...) ((void)0)
#define GL_KDISPATCH_VOID(field, ...) ((void)0)
#else
#define GL_KDISPATCH(field, ...)                                                             \
    do {                                                                                     \
        const gl_kset *gl_k_ = gl_kset_active();                                             \
        if (gl_k_ != &gl_kset_self) return gl_k_->field(__VA_ARGS__);                        \
    } while (0)
#define GL_KDISPATCH_VOID(field, ...)                                                        \
    do {                                                                                     \
        const gl_kset *gl_k_ = gl_kset_active();                                             \
        if (gl_k_ != &gl_kset_self) {                                                        \
            gl_k_->field(__VA_ARGS__);                                                       \
            return;                                                                          \
        }                                                                                    \
    } while (0)
#endif

#endif /* GL_QUANTS_H */
