/*
 * gl-matmul.c — the mul_mat kernel: dst[n, m, b2, b3] = W[k, n, w2, w3] · X[k, m, b2, b3].
 *
 * Two phases, run by every thread of the pool:
 *   1. the rows of X are converted to W's vec_dot_type (e.g. Q8_0 for Q4_0 weights) into the
 *      shared scratch p->wdata, rows split evenly across threads, then one barrier. When X
 *      has only a few rows (mat-vec), each thread converts all of them into its own area
 *      instead: that costs less than the barrier, which small mat-vecs would feel;
 *   2. output tiles (a block of W rows × a block of X columns × one batch) are handed out
 *      through the atomic counter p->chunk, so a thread that finishes early takes more;
 *      tile heights are multiples of 4 for the 4-row kernels (gl_type_vec_dot4, and
 *      gl_type_vec_dot4_k for a Q4_K mat-vec of short rows).
 * Mat-mat (m > 1) with a register-blocked kernel for the weight type (gl_type_gemm: F32,
 * F16, Q4_0, Q8_0 and Q2_K..Q6_K with SIMD; also the mat-vec where the kernel says
 * gemm.matvec, F16 with AVX2) computes each tile in k-slices of a fixed length
 * (so that a slice of the W tile and of the X columns stays in L1/L2; whole blocks of the
 * type), micro-tiles of mr W rows × nc X columns per call, the slices' results added in
 * order. F32 and F16 weights take that kernel for a mat-vec too (gl_gemm_kernel.matvec: one
 * column per call, the same k-slices), so a token gives the same bits alone as in a batch.
 * Otherwise (mat-vec of other types, GL_NO_SIMD) each output element is one vec_dot.
 * Either way an element's value depends only on the inputs and k, never on the tiling or the
 * thread count.
 * Repacked weights (layout X8, gl_repack; Q4_0/Q8_0 in groups of 8 interleaved rows) always
 * take the gemm path with the X8 kernel (gl_type_gemm_x8, mr = 8: one group per call): tiles
 * are whole groups, X is converted to the kernel's block_q8_0s rows, and the mat-vec (m = 1)
 * uses the same kernel with one column, unsliced along k so that each group streams in one
 * run, in tiles sized like the row-layout mat-vec's.
 * Static names carry the module prefix mm_.
 */
#include "gl-quants.h"

/* Shape of one mul_mat node, gathered once per call. */
typedef struct mm_shape {
    const gl_tensor *w, *x;
    const gl_type_traits *wt, *vt; /* weight traits and its vec_dot_type traits */
    int64_t k, n, m;               /* dot length, W rows, X columns */
    int64_t b2, b3;                /* batch dims of X (and dst) */
    int64_t r2, r3;                /* broadcast ratios: X batch / W batch */
    bool convert;                  /* X rows go through wdata (else read in place) */
    bool private_x;                /* each thread converts all X rows for itself */
    gl_type xtype;                 /* type of the converted X rows */
    size_t xrow;                   /* bytes of one converted X row */
    gl_gemm_kernel gemm;           /* register-blocked mat-mat kernel; fn NULL: vec_dot */
    int64_t kc;                    /* k-slice length of the gemm path */
    bool x8;                       /* W is repacked (GL_LAYOUT_X8): groups of 8 rows */
} mm_shape;

/* Mat-vec chunks per thread. Few and long: each chunk restarts the weight stream (the
 * hardware prefetchers ramp up again) and takes the shared counter. On the build VM (Zen 4,
 * 2 threads, BENCHMARKS.md "GPT decoders") 2 instead of 8 raised X8 Q4_0 generation by
 * 18-39 % (smollm-135m 259 -> 356 tokens/s, llama-110m 424 -> 501), Q8_0 by 11 %, and left
 * F16/F32 (already at the read bandwidth) unchanged; 1 was within noise of 2 but leaves no
 * room to even out a thread that falls behind. */
#ifndef MM_MATVEC_CHUNKS
#define MM_MATVEC_CHUNKS 2
#endif

/* Mat-vec rows of at most this many bytes take the K types' 4-row kernel (gl_type_vec_dot4_k:
 * Q4_K): four such rows lie within 2 KiB and stream like one. On the build VM (Zen 4,
 * BENCHMARKS.md "K-quant kernels") it made Q4_K 768x3072 ~15 % faster than one row at a time
 * but 4096x4096 (2304-byte rows) 2.4x slower, with or without software prefetch. */
#ifndef MM_K_DOT4_ROW_BYTES
#define MM_K_DOT4_ROW_BYTES 512
#endif

/* Up to this many X rows, every thread converts them all (no barrier). */
#define MM_PRIVATE_ROWS 4

/* Gemm tiles: MM_GEMM_MR_GROUPS micro-tiles of W rows × MM_GEMM_NC_GROUPS groups of X
 * columns, cut along k into slices of at most MM_SLICE_BYTES per weight row, so that a
 * tile-slice of W (8 × 4 rows, 256 KiB for F32) and of X (40 columns, 320 KiB) stays in a
 * 1 MiB L2 while it is reused, and W is re-read from memory once per 32-40 columns. On the
 * build VM (Zen 4; BENCHMARKS.md) 8 KiB slices with 32-40-column tiles beat both 2-4 KiB
 * slices (each slice adds a horizontal sum and a read-modify-write per element) and no
 * slicing with 16-20-column tiles (W re-read twice as often) at 4096×4096; at BERT's
 * shapes the choices were within the noise of the shared machine. */
#ifndef MM_SLICE_BYTES
#define MM_SLICE_BYTES 8192
#endif

#ifndef MM_GEMM_NC_GROUPS
#define MM_GEMM_NC_GROUPS 8
#endif
#ifndef MM_GEMM_MR_GROUPS
#define MM_GEMM_MR_GROUPS 8
#endif

/* Slice length for k: equal slices of a multiple of 32 elements, or of the type's block
 * (256 for the K types) when that is larger, a function of k and the type only. */
static int64_t mm_slice(const mm_shape *s) {
    const size_t full = gl_row_size(s->w->type, s->k);
    const int64_t n_slices = (int64_t)((full + MM_SLICE_BYTES - 1) / MM_SLICE_BYTES);
    if (n_slices <= 1) return s->k;
    const int64_t per = (s->k + n_slices - 1) / n_slices;
    const int64_t q = GL_MAX(32, (int64_t)s->wt->blck_size);
    return (per + q - 1) / q * q;
}

/* Converted rows start after a per-thread float gather area used for strided X. */
static size_t mm_gather_bytes(int64_t k, int n_threads) {
    return GL_PAD((size_t)k * sizeof(float), GL_CACHE_LINE) * (size_t)n_threads;
}

static bool mm_get_shape(const gl_tensor *dst, mm_shape *s) {
    const gl_tensor *w = dst->src[0], *x = dst->src[1];
    if (!w || !x || x->type != GL_TYPE_F32 || dst->type != GL_TYPE_F32) return false;
    s->w = w;
    s->x = x;
    s->wt = gl_type_get(w->type);
    if (!s->wt || !s->wt->supported || !s->wt->vec_dot) return false;
    s->k = w->ne[0];
    s->n = w->ne[1];
    s->m = x->ne[1];
    s->b2 = x->ne[2];
    s->b3 = x->ne[3];
    if (x->ne[0] != s->k || w->ne[2] <= 0 || w->ne[3] <= 0 || s->b2 % w->ne[2] != 0 ||
        s->b3 % w->ne[3] != 0 || s->k > INT32_MAX) {
        return false;
    }
    s->r2 = s->b2 / w->ne[2];
    s->r3 = s->b3 / w->ne[3];
    s->x8 = w->layout == GL_LAYOUT_X8;
    if (s->x8) {
        /* gl_repack made it: 2-D, a type with an X8 kernel; when the rows are not a multiple
         * of 8 the last group is padded with zero rows, which the kernel computes but the
         * tile (n1 - i < 8 rows) does not store */
        s->gemm = gl_type_gemm_x8(w->type);
        if (!s->gemm.fn || s->gemm.mr != 8 || !s->gemm.yconvert ||
            w->ne[2] != 1 || w->ne[3] != 1 || s->k == 0 || s->gemm.nc < 1 ||
            s->gemm.nc > GL_GEMM_NC_MAX)
            return false;
    } else {
        /* k == 0 stays on the vec_dot path, which writes the zeros; a mat-vec takes the
         * gemm kernel only where it says it serves mat-vecs too (F32, F16 with SIMD) */
        s->gemm = s->k > 0 ? gl_type_gemm(w->type) : (gl_gemm_kernel){0};
        if (s->gemm.fn && (s->gemm.mr < 1 || s->gemm.nc < 1 || s->gemm.nc > GL_GEMM_NC_MAX ||
                           (s->m == 1 && !s->gemm.matvec))) {
            s->gemm.fn = NULL;
        }
    }
    s->xtype = s->gemm.fn ? s->gemm.ytype : s->wt->vec_dot_type;
    s->vt = gl_type_get(s->xtype);
    s->convert = s->xtype != GL_TYPE_F32 || x->nb[0] != sizeof(float) ||
                 (s->gemm.fn && (s->gemm.f16_round || s->gemm.yconvert));
    s->xrow = s->gemm.yconvert ? (size_t)(s->k / 32) * s->gemm.yblock : gl_row_size(s->xtype, s->k);
    s->kc = s->gemm.fn && !(s->x8 && s->m == 1) ? mm_slice(s) : s->k;
    s->private_x = s->m * s->b2 * s->b3 <= MM_PRIVATE_ROWS;
    return s->xrow != 0 || s->k == 0;
}

size_t gl_mul_mat_work_size(const gl_tensor *dst, int n_threads) {
    mm_shape s;
    if (!mm_get_shape(dst, &s) || !s.convert) return 0;
    const int nth = n_threads > 0 ? n_threads : 1;
    const size_t rows = (size_t)(s.m * s.b2 * s.b3) * (s.private_x ? (size_t)nth : 1);
    return mm_gather_bytes(s.k, nth) + rows * GL_PAD(s.xrow, GL_CACHE_LINE) + GL_CACHE_LINE;
}

/* F32 row → the same values rounded to fp16 (what an F16 · F16 dot would see). */
static void mm_round_f16(const float *src, float *dst, int64_t k) {
    gl_fp16 tmp[256];
    for (int64_t i = 0; i < k; i += 256) {
        const int64_t len = GL_MIN(256, k - i);
        gl_fp32_to_fp16_row(src + i, tmp, len);
        gl_fp16_to_fp32_row(tmp, dst + i, len);
    }
}

/* Phase 1: this thread's share of X rows → rows of s->xtype in wdata. */
static void mm_convert_x(const gl_compute_params *p, const mm_shape *s, char *xq, float *gather) {
    const gl_tensor *x = s->x;
    const int64_t nrows = s->m * s->b2 * s->b3;
    const size_t stride = GL_PAD(s->xrow, GL_CACHE_LINE);
    int64_t r0 = 0, r1 = nrows;
    if (!s->private_x) gl_split_rows(nrows, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % s->m, i2 = (r / s->m) % s->b2, i3 = r / (s->m * s->b2);
        const char *src = gl_row(x, i1, i2, i3);
        const float *row = (const float *)src;
        if (x->nb[0] != sizeof(float)) {
            for (int64_t i = 0; i < s->k; i++) memcpy(&gather[i], src + i * x->nb[0], sizeof(float));
            row = gather;
        }
        char *dstrow = xq + (size_t)r * stride;
        if (s->gemm.fn && s->gemm.f16_round) {
            mm_round_f16(row, (float *)dstrow, s->k);
        } else if (s->gemm.yconvert) {
            s->gemm.yconvert(row, dstrow, s->k);
        } else {
            s->vt->from_float(row, dstrow, s->k);
        }
    }
}

/* Tile sizes: mat-vec streams W in long row runs; mat-mat keeps a block of W rows hot in L1
 * while it meets a block of X columns held in L2. */
static void mm_tile(const mm_shape *s, int nth, int64_t *bn, int64_t *bm) {
    if (s->x8 && s->m == 1) {
        /* X8 mat-vec: like the row-layout one below, in whole groups of 8 rows */
        *bm = 1;
        *bn = GL_MAX(16, GL_MIN(1024, s->n / (MM_MATVEC_CHUNKS * (int64_t)nth))) & ~(int64_t)7;
    } else if (s->gemm.fn && s->m == 1) {
        /* a mat-vec through the gemm kernel (gemm.matvec): sized like the row-layout one
         * below, in whole micro-tiles */
        const int64_t mr = s->gemm.mr;
        *bm = 1;
        *bn = GL_MAX(mr, GL_MAX(16, GL_MIN(1024, s->n / (MM_MATVEC_CHUNKS * (int64_t)nth))) / mr * mr);
    } else if (s->gemm.fn) {
        /* whole micro-tiles: heights a multiple of mr, widths a multiple of nc */
        const int64_t mr = s->gemm.mr, nc = s->gemm.nc;
        *bm = GL_MIN(s->m, MM_GEMM_NC_GROUPS * nc);
        *bn = MM_GEMM_MR_GROUPS * mr;
        const int64_t tiles = ((s->n + *bn - 1) / *bn) * ((s->m + *bm - 1) / *bm) * s->b2 * s->b3;
        if (tiles < 4 * (int64_t)nth) *bn = GL_MAX(mr, s->n / (4 * (int64_t)nth) / mr * mr);
    } else if (s->m == 1) {
        /* MM_MATVEC_CHUNKS chunks per thread, at least 16 rows so each chunk streams */
        *bm = 1;
        *bn = GL_MAX(16, GL_MIN(1024, s->n / (MM_MATVEC_CHUNKS * (int64_t)nth))) & ~(int64_t)3;
    } else {
        *bm = GL_MIN(s->m, 16);
        *bn = 32;
        const int64_t tiles = ((s->n + 31) / 32) * ((s->m + *bm - 1) / *bm) * s->b2 * s->b3;
        if (tiles < 4 * (int64_t)nth) *bn = GL_MAX(4, s->n / (4 * (int64_t)nth)) & ~(int64_t)3;
    }
}

/* Converted (or in-place) row of X for column j of batch (i2, i3). */
static inline const void *mm_x_row(const mm_shape *s, const char *xq, int64_t j, int64_t i2,
                                   int64_t i3) {
    if (!s->convert) return gl_row(s->x, j, i2, i3);
    return xq + (size_t)(j + s->m * (i2 + s->b2 * i3)) * GL_PAD(s->xrow, GL_CACHE_LINE);
}

/* One tile: W rows [n0, n1) × X columns [m0, m1) of batch (i2, i3). Rows go four at a time
 * through the 4-row kernel where there is one; n0 is a multiple of 4, so which rows take
 * which kernel does not depend on the tiling (or the thread count). */
static void mm_tile_compute(const mm_shape *s, gl_tensor *dst, const char *xq, int64_t n0,
                            int64_t n1, int64_t m0, int64_t m1, int64_t i2, int64_t i3) {
    const gl_vec_dot_fn dot = s->wt->vec_dot;
    gl_vec_dot4_fn dot4 = gl_type_vec_dot4(s->w->type);
    /* the K types' 4-row kernel for a mat-vec of short rows (a mat-mat takes their gemm) */
    if (!dot4 && s->m == 1 && s->w->nb[1] <= MM_K_DOT4_ROW_BYTES) dot4 = gl_type_vec_dot4_k(s->w->type);
    const int64_t w2 = i2 / s->r2, w3 = i3 / s->r3;
    char *out0 = (char *)dst->data + i2 * dst->nb[2] + i3 * dst->nb[3];
    int64_t i = n0;
    if (dot4) {
        for (; i + 4 <= n1; i += 4) {
            const void *wrow = gl_row(s->w, i, w2, w3);
            for (int64_t j = m0; j < m1; j++) {
                float r[4];
                dot4((int)s->k, r, wrow, s->w->nb[1], mm_x_row(s, xq, j, i2, i3));
                memcpy(out0 + j * dst->nb[1] + i * sizeof(float), r, sizeof r);
            }
        }
    }
    for (; i < n1; i++) {
        const void *wrow = gl_row(s->w, i, w2, w3);
        for (int64_t j = m0; j < m1; j++) {
            dot((int)s->k, (float *)(out0 + j * dst->nb[1] + i * sizeof(float)), wrow,
                mm_x_row(s, xq, j, i2, i3));
        }
    }
}

/* One tile through the gemm kernel: k-slices outermost (a slice of the W tile is reused by
 * every column group), then groups of nc X columns, then micro-tiles of mr W rows. The first
 * slice stores, later ones add, so every element sums its slices in the same order. */
static void mm_tile_gemm(const mm_shape *s, gl_tensor *dst, const char *xq, int64_t n0,
                         int64_t n1, int64_t m0, int64_t m1, int64_t i2, int64_t i3) {
    const gl_gemm_kernel *g = &s->gemm;
    const int64_t w2 = i2 / s->r2, w3 = i3 / s->r3;
    char *out0 = (char *)dst->data + i2 * dst->nb[2] + i3 * dst->nb[3];
    const size_t bs = dst->nb[1] / sizeof(float);
    for (int64_t k0 = 0; k0 < s->k; k0 += s->kc) {
        const int kl = (int)GL_MIN(s->kc, s->k - k0);
        /* an X8 group holds the 8 rows' blocks side by side: its k-slice starts 8 times further */
        const size_t woff = gl_row_size(s->w->type, k0) * (s->x8 ? 8 : 1);
        const size_t xoff = g->yconvert ? (size_t)(k0 / 32) * g->yblock : gl_row_size(s->xtype, k0);
        for (int64_t j = m0; j < m1; j += g->nc) {
            const int nc = (int)GL_MIN(g->nc, m1 - j);
            const void *y[GL_GEMM_NC_MAX];
            for (int c = 0; c < nc; c++) {
                y[c] = (const char *)mm_x_row(s, xq, j + c, i2, i3) + xoff;
            }
            for (int64_t i = n0; i < n1; i += g->mr) {
                const int nr = (int)GL_MIN(g->mr, n1 - i);
                float *out = (float *)(out0 + j * dst->nb[1] + i * (int64_t)sizeof(float));
                g->fn(kl, nr, nc, (const char *)gl_row(s->w, i, w2, w3) + woff, s->w->nb[1], y,
                      out, bs, k0 > 0);
            }
        }
    }
}

void gl_compute_mul_mat(const gl_compute_params *p, gl_tensor *dst) {
    mm_shape s;
    GL_KERNEL_REQUIRE(p, dst, mm_get_shape(dst, &s), "unsupported operand types or shapes");
    char *xq = NULL;
    if (s.convert) {
        GL_KERNEL_REQUIRE(p, dst, p->wdata && p->wsize >= gl_mul_mat_work_size(dst, p->nth),
                          "too little scratch memory (%zu bytes, %zu needed)", p->wsize,
                          gl_mul_mat_work_size(dst, p->nth));
        /* the caller sized wdata with gl_mul_mat_work_size; align the start ourselves */
        char *base = (char *)GL_PAD((uintptr_t)p->wdata, GL_CACHE_LINE);
        float *gather = (float *)(base + GL_PAD((size_t)s.k * sizeof(float), GL_CACHE_LINE) * p->ith);
        xq = base + mm_gather_bytes(s.k, p->nth);
        if (s.private_x) {
            xq += (size_t)p->ith * (size_t)(s.m * s.b2 * s.b3) * GL_PAD(s.xrow, GL_CACHE_LINE);
            mm_convert_x(p, &s, xq, gather);
        } else {
            mm_convert_x(p, &s, xq, gather);
            gl_compute_barrier(p);
        }
    }
    int64_t bn, bm;
    mm_tile(&s, p->nth, &bn, &bm);
    const int64_t tn = (s.n + bn - 1) / bn, tm = (s.m + bm - 1) / bm;
    const int64_t n_chunks = tn * tm * s.b2 * s.b3;
    for (;;) {
        const int64_t c = atomic_fetch_add(p->chunk, 1);
        if (c >= n_chunks) break;
        /* consecutive chunks walk down W first, so one thread's chunks stream W in order */
        const int64_t in = c % tn, im = (c / tn) % tm, ib = c / (tn * tm);
        const int64_t i2 = ib % s.b2, i3 = ib / s.b2;
        (s.gemm.fn ? mm_tile_gemm : mm_tile_compute)(&s, dst, xq, in * bn, GL_MIN(s.n, (in + 1) * bn), im * bm,
                        GL_MIN(s.m, (im + 1) * bm), i2, i3);
    }
}
