/*
 * edgelm bench --kernels [-t 1,2] [--reps N] [-o json]
 *
 * Kernel benchmarks on the public ggml-lite API:
 *   1. memory read bandwidth: a SIMD sum over a buffer much larger than the last-level cache,
 *      with each thread count, plain and with software prefetch (the better one is kept) —
 *      the ceiling a mat-vec can reach;
 *   2. mat-vec (weights × one column) for F32, F16, Q8_0 and Q4_0 at 4096×4096 and 768×3072:
 *      one graph holds mul_mat nodes over several copies of the weights, so that what a call
 *      reads exceeds the cache and comes from DRAM, as it does in a model; reported as time per
 *      call, GB/s of weights streamed and the ratio to the measured read bandwidth;
 *   3. mat-mat at 4096×4096 with 64 and 512 columns, in GFLOP/s (--mm-shapes and --cols
 *      choose other shapes, --types fewer types).
 * Q4_0 and Q8_0 also run repacked (gl_repack, layout X8: "q4_0x8", "q8_0x8") where the build
 * has an X8 kernel, beside the row layout on the same weights. The K types (q2_K..q6_K) run
 * when --types names them (time per call / (k n / 256) = time per super-block).
 *
 * edgelm bench -m M.gguf[,M2.gguf] [-t 1,2] [-p 64,512] [-n 128] [-r REPS] [-o md|json]
 *
 * Decoder benchmarks through the public runtime (include/edgelm.h), like llama-bench: prompt
 * processing "ppN" and generation "tgN" tokens per second, and generation as a share of the
 * memory read bandwidth measured (with the function of 1.) in the same run.
 */
#include "cli.h"
#include "cli_family.h"
#include "cli_table.h"
#include "opts.h"
#include "edgelm.h"
#include "ggml-lite.h"

#include <math.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX2__) && !defined(GL_NO_SIMD)
#include <immintrin.h>
#define BENCH_AVX2 1
#elif defined(__aarch64__) && defined(__ARM_NEON) && !defined(GL_NO_SIMD)
#include <arm_neon.h>
#define BENCH_NEON 1
#endif

#define BENCH_MAX_THREADS 16
#define BENCH_MAX_COPIES 512

#define BENCH_MAX_SHAPES 16

typedef struct bench_opts {
    int threads[BENCH_MAX_THREADS];
    int n_threads;
    int reps;
    bool json;
    int fmt;                                 /* CLI_FMT_* */
    unsigned types;                          /* bit per entry of the type list; 0: all */
    int64_t mm_shapes[BENCH_MAX_SHAPES][2];  /* k, n of the mat-mat runs */
    int n_mm_shapes;
    int64_t cols[BENCH_MAX_SHAPES];          /* mat-mat column counts */
    int n_cols;
} bench_opts;

static double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best and median of n timings. The best is what the machine can do; on a shared machine
 * (other processes on the same cores) the median shows how much they disturbed the run. */
typedef struct bench_time {
    double best, median;
} bench_time;

static bench_time bench_summary(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return (bench_time){v[0], n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])};
}

/* Last-level cache size in bytes from sysfs (index3, else index2), 32 MiB when unknown. */
static size_t bench_llc_bytes(void) {
    const char *paths[] = {"/sys/devices/system/cpu/cpu0/cache/index3/size",
                           "/sys/devices/system/cpu/cpu0/cache/index2/size"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f) continue;
        unsigned long v = 0;
        char unit = 0;
        const int got = fscanf(f, "%lu%c", &v, &unit);
        fclose(f);
        if (got >= 1 && v > 0) {
            if (unit == 'K') return (size_t)v << 10;
            if (unit == 'M') return (size_t)v << 20;
            return (size_t)v;
        }
    }
    return (size_t)32 << 20;
}

/* ---- memory read bandwidth ---- */

typedef struct bench_bw_job {
    const uint8_t *buf;
    size_t size;
    size_t prefetch; /* software prefetch distance in bytes, 0 = none */
    uint64_t sink[BENCH_MAX_THREADS * 8]; /* one cache line per thread: results are kept */
} bench_bw_job;

/* Sums this thread's slice as 32-bit words (the value is irrelevant, the loads are not). */
static void bench_bw_thread(int ith, int nth, void *arg) {
    bench_bw_job *job = arg;
    const size_t per = (job->size / (size_t)nth) & ~(size_t)255;
    const uint8_t *p = job->buf + per * (size_t)ith;
    uint64_t total = 0;
    const size_t pf = job->prefetch;
#if defined(BENCH_AVX2)
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < per; i += 128) {
        if (pf) {
            __builtin_prefetch(p + i + pf);
            __builtin_prefetch(p + i + pf + 64);
        }
        a0 = _mm256_add_epi32(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi32(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi32(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi32(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, s);
    for (int i = 0; i < 8; i++) total += lanes[i];
#elif defined(BENCH_NEON)
    uint32x4_t a0 = vdupq_n_u32(0), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < per; i += 64) {
        if (pf) __builtin_prefetch(p + i + pf);
        a0 = vaddq_u32(a0, vld1q_u32((const uint32_t *)(p + i)));
        a1 = vaddq_u32(a1, vld1q_u32((const uint32_t *)(p + i + 16)));
        a2 = vaddq_u32(a2, vld1q_u32((const uint32_t *)(p + i + 32)));
        a3 = vaddq_u32(a3, vld1q_u32((const uint32_t *)(p + i + 48)));
    }
    total = vaddvq_u32(vaddq_u32(vaddq_u32(a0, a1), vaddq_u32(a2, a3)));
#else
    const uint64_t *q = (const uint64_t *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < per / 8; i += 4) {
        if (pf && i % 8 == 0) __builtin_prefetch(p + 8 * i + pf);
        s0 += q[i];
        s1 += q[i + 1];
        s2 += q[i + 2];
        s3 += q[i + 3];
    }
    total = s0 + s1 + s2 + s3;
#endif
    job->sink[ith * 8] = total;
}

/* GB/s read by nth threads summing a buffer of size bytes (best of reps), with the given
 * software prefetch distance. (Prefetching past a thread's slice is harmless.) */
static double bench_read_bw(gl_pool *pool, const uint8_t *buf, size_t size, size_t prefetch,
                            int reps) {
    bench_bw_job job = {.buf = buf, .size = size, .prefetch = prefetch};
    const int nth = gl_pool_n_threads(pool);
    const size_t bytes = ((size / (size_t)nth) & ~(size_t)255) * (size_t)nth;
    double t[64];
    reps = reps < 2 ? 2 : reps > 64 ? 64 : reps;
    gl_pool_run(pool, bench_bw_thread, &job); /* warm-up */
    for (int r = 0; r < reps; r++) {
        const double t0 = bench_now();
        gl_pool_run(pool, bench_bw_thread, &job);
        t[r] = bench_now() - t0;
    }
    return (double)bytes / bench_summary(t, reps).best / 1e9;
}

/* A buffer for bandwidth runs, kept for the whole benchmark: the read bandwidth is measured
 * again right before each mat-vec, because on a VM it drifts with the neighbours' load and a
 * ratio is only meaningful against a ceiling measured under the same conditions. */
typedef struct bench_bw_buf {
    uint8_t *buf;
    size_t size;
    int reps;
} bench_bw_buf;

/* Read bandwidth with nth threads: the better of a plain stream and one with software
 * prefetch, so the ceiling does not depend on how well the hardware prefetchers guess. */
static double bench_bw_now(const bench_bw_buf *b, int nth) {
    gl_error err = {0};
    gl_pool *pool = gl_pool_new(nth, &err);
    if (!pool) return -1;
    const double plain = bench_read_bw(pool, b->buf, b->size - 4096, 0, b->reps);
    const double ahead = bench_read_bw(pool, b->buf, b->size - 4096, 2048, b->reps);
    gl_pool_free(pool);
    return plain > ahead ? plain : ahead;
}

/* The default bandwidth buffer: 4x the last-level cache, at least 512 MiB, and at most an
 * eighth of the machine's memory (a VM may report a whole host socket's L3, 480 MiB here, and a
 * Pi Zero 2 has 512 MiB in all). */
static size_t bench_bw_default_bytes(size_t llc) {
    size_t bytes = 4 * llc;
    if (bytes < ((size_t)512 << 20)) bytes = (size_t)512 << 20;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) {
        const size_t cap = (size_t)pages / 8 * (size_t)page;
        if (cap >= ((size_t)64 << 20) && bytes > cap) bytes = cap;
    }
    return bytes;
}

/* Allocates the bandwidth buffer (bytes; 0: bench_bw_default_bytes) and faults its pages in
 * with distinct contents (see bench_make_weights). */
static bool bench_bw_buf_init(bench_bw_buf *b, size_t bytes, size_t llc, int reps) {
    if (!bytes) bytes = bench_bw_default_bytes(llc);
    bytes = (bytes + 8191) & ~(size_t)4095; /* bench_bw_now reads size - 4096 */
    b->buf = aligned_alloc(256, bytes);
    if (!b->buf) return false;
    b->size = bytes;
    b->reps = reps;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        const uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        memcpy(b->buf + i, &v, 8);
    }
    return true;
}

/* ---- mul_mat runs ---- */

typedef struct bench_result {
    const char *test; /* "matvec" or "matmul" */
    gl_type type;
    bool x8;          /* weights repacked (GL_LAYOUT_X8) */
    int64_t k, n, m;
    int n_threads, copies;
    double sec_per_call, sec_median, gbps, read_bw, bw_ratio, gflops;
} bench_result;

/* Random weights of `type`, [k, n], quantized once and copied `copies` times into ctx.
 * Copy c is the first one rotated by c blocks, so that no two copies share a 4 KiB page of
 * identical bytes: a hypervisor that merges identical pages (KSM) would otherwise let the
 * copies share physical memory, and cache, and the "DRAM" numbers would be too good. */
static bool bench_make_weights(gl_context *ctx, gl_type type, int64_t k, int64_t n, int copies,
                               gl_tensor **w) {
    const gl_type_traits *tt = gl_type_get(type);
    const size_t row = gl_row_size(type, k);
    float *src = malloc(sizeof(float) * (size_t)k);
    if (!src) return false;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int c = 0; c < copies; c++) {
        w[c] = gl_new_tensor_2d(ctx, type, k, n);
        if (!w[c]) {
            free(src);
            return false;
        }
        if (c > 0) {
            const size_t total = row * (size_t)n, shift = ((size_t)c * tt->type_size) % total;
            memcpy(w[c]->data, (const char *)w[0]->data + shift, total - shift);
            memcpy((char *)w[c]->data + (total - shift), w[0]->data, shift);
            continue;
        }
        for (int64_t r = 0; r < n; r++) {
            for (int64_t i = 0; i < k; i++) {
                s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
                src[i] = (float)((s * 2685821657736338717ull) >> 40) / 16777216.0f - 0.5f;
            }
            tt->from_float_ref(src, (char *)w[0]->data + row * (size_t)r, k);
        }
    }
    free(src);
    return true;
}

/* Times `copies` mul_mats (one graph) with nth threads; seconds per mul_mat (best, median),
 * best < 0 on failure. */
static bench_time bench_time_mul_mat(gl_tensor **w, int copies, gl_tensor *x, int nth, int reps,
                                     gl_error *err) {
    const size_t hdr = gl_tensor_overhead() * (size_t)(copies + 8) + 4096 + (size_t)copies * 512;
    gl_context *gctx = gl_context_new((gl_context_params){.mem_size = hdr, .no_alloc = true}, err);
    bench_time result = {-1, -1};
    if (!gctx) return result;
    void *buf = NULL;
    gl_pool *pool = NULL;
    gl_graph *g = gl_graph_new(gctx, copies + 4);
    for (int c = 0; g && c < copies; c++) {
        gl_tensor *y = gl_mul_mat(gctx, w[c], x);
        if (!y) break;
        gl_set_output(y);
        if (gl_graph_expand(g, y) != GL_OK) break;
    }
    gl_graph_plan plan;
    if (!gl_ctx_ok(gctx) || !g) {
        gl_error_set(err, GL_ERR_INVALID, "building the graph: %s",
                     gl_ctx_error(gctx) ? gl_ctx_error(gctx) : "out of memory");
        goto done;
    }
    if (gl_graph_plan_memory(g, nth, &plan, err) != GL_OK) goto done;
    const size_t size = (plan.buffer_size + plan.work_size + 63) / 64 * 64 + 64;
    buf = aligned_alloc(64, size);
    pool = gl_pool_new(nth, err);
    if (!buf || !pool) {
        if (!buf) gl_error_set(err, GL_ERR_NOMEM, "graph buffer of %zu bytes", size);
        goto done;
    }
    if (gl_graph_alloc(g, &plan, buf, size, err) != GL_OK) goto done;
    if (gl_graph_compute(g, pool, err) != GL_OK) goto done; /* warm-up */
    double t[64];
    reps = reps < 1 ? 1 : reps > 64 ? 64 : reps;
    for (int r = 0; r < reps; r++) {
        const double t0 = bench_now();
        if (gl_graph_compute(g, pool, err) != GL_OK) goto done;
        t[r] = (bench_now() - t0) / copies;
    }
    result = bench_summary(t, reps);
done:
    gl_pool_free(pool);
    free(buf);
    gl_context_free(gctx);
    return result;
}

/* One shape and type: builds weights (rotated copies for mat-vec) and runs every thread count. */
static int bench_shape(const bench_opts *o, const char *test, gl_type type, bool x8, int64_t k,
                       int64_t n, int64_t m, size_t llc, const bench_bw_buf *bwb,
                       bench_result *out, int *n_out) {
    const size_t wbytes = gl_row_size(type, k) * (size_t)n;
    int copies = 1;
    if (m == 1) { /* enough copies that one pass over them is 8x the last-level cache */
        const size_t want = 8 * llc / wbytes + 1;
        copies = (int)(want < 2 ? 2 : want > BENCH_MAX_COPIES ? BENCH_MAX_COPIES : want);
    }
    const size_t mem = (wbytes + 256) * (size_t)copies + (size_t)k * (size_t)m * 4 +
                       gl_tensor_overhead() * (size_t)(copies + 4) + 4096;
    gl_error err = {0};
    gl_context *ctx = gl_context_new((gl_context_params){.mem_size = mem}, &err);
    gl_tensor *w[BENCH_MAX_COPIES];
    if (!ctx || !bench_make_weights(ctx, type, k, n, copies, w)) {
        opts_fail("bench", "free memory or give smaller --mm-shapes", "cannot allocate %zu MiB of weights: %s",
                  mem >> 20, ctx ? gl_ctx_error(ctx) : err.msg);
        gl_context_free(ctx);
        return 1;
    }
    void *packed = NULL;
    if (x8) { /* every copy repacked into one buffer; the row-layout bytes stay unused */
        const size_t each = (gl_repack_size(w[0]) + 63) / 64 * 64;
        packed = each ? aligned_alloc(64, each * (size_t)copies) : NULL;
        for (int c = 0; c < copies; c++) {
            if (!packed || !gl_repack(w[c], (char *)packed + each * (size_t)c, each, &err)) {
                opts_fail("bench", "free memory or leave the type out (--types)", "repacking %s: %s",
                          gl_type_name(type), packed ? err.msg : "out of memory");
                free(packed);
                gl_context_free(ctx);
                return 1;
            }
        }
    }
    gl_tensor *x = gl_new_tensor_2d(ctx, GL_TYPE_F32, k, m);
    for (int64_t i = 0; i < k * m; i++) ((float *)x->data)[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (int ti = 0; ti < o->n_threads; ti++) {
        const int nth = o->threads[ti];
        const int reps = m == 1 ? o->reps : (m >= 512 ? (o->reps + 4) / 5 : (o->reps + 1) / 2);
        const double read_bw = m == 1 ? bench_bw_now(bwb, nth) : 0;
        const bench_time bt = bench_time_mul_mat(w, copies, x, nth, reps, &err);
        const double sec = bt.best;
        if (sec <= 0) {
            opts_fail_err("bench", test, &err, NULL);
            free(packed);
            gl_context_free(ctx);
            return 1;
        }
        bench_result *r = &out[(*n_out)++];
        *r = (bench_result){.test = test, .type = type, .x8 = x8, .k = k, .n = n, .m = m, .n_threads = nth,
                            .copies = copies, .sec_per_call = sec, .sec_median = bt.median};
        r->gbps = (double)wbytes / sec / 1e9;
        r->read_bw = read_bw;
        r->bw_ratio = read_bw > 0 ? r->gbps / read_bw : 0;
        r->gflops = 2.0 * (double)k * (double)n * (double)m / sec / 1e9;
    }
    free(packed);
    gl_context_free(ctx);
    return 0;
}

static int bench_parse_threads(const char *s, bench_opts *o) {
    o->n_threads = 0;
    while (*s) {
        char *end;
        const long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 256 || o->n_threads == BENCH_MAX_THREADS) return -1;
        o->threads[o->n_threads++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return o->n_threads > 0 ? 0 : -1;
}

/* The first BENCH_N_DEFAULT types run when --types is not given; the K types only on request. */
static const gl_type bench_types[] = {GL_TYPE_F32,  GL_TYPE_F16,  GL_TYPE_Q8_0, GL_TYPE_Q4_0,
                                      GL_TYPE_Q2_K, GL_TYPE_Q3_K, GL_TYPE_Q4_K, GL_TYPE_Q5_K,
                                      GL_TYPE_Q6_K, GL_TYPE_IQ4_NL, GL_TYPE_IQ4_XS};
#define BENCH_N_TYPES 11
#define BENCH_N_DEFAULT 4

static int bench_parse_types(const char *s, bench_opts *o) {
    o->types = 0;
    char buf[128];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int t = 0;
        while (t < BENCH_N_TYPES && !gl_name_eq(tok, gl_type_name(bench_types[t]))) t++;
        if (t == BENCH_N_TYPES) return -1;
        o->types |= 1u << t;
    }
    return o->types ? 0 : -1;
}

static int bench_parse_shapes(const char *s, bench_opts *o) {
    o->n_mm_shapes = 0;
    while (*s) {
        char *end;
        const long long k = strtoll(s, &end, 10);
        if (end == s || *end != 'x' || o->n_mm_shapes == BENCH_MAX_SHAPES) return -1;
        s = end + 1;
        const long long n = strtoll(s, &end, 10);
        if (end == s || k < 32 || k % 32 || k > (1 << 20) || n < 1 || n > (1 << 20)) return -1;
        o->mm_shapes[o->n_mm_shapes][0] = k;
        o->mm_shapes[o->n_mm_shapes++][1] = n;
        if (*end && *end != ',') return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return o->n_mm_shapes > 0 ? 0 : -1;
}

/* Whether this build can repack `type` (a probe tensor of 8 rows, headers only). */
static bool bench_x8_available(gl_type type) {
    gl_error err = {0};
    gl_context *ctx = gl_context_new(
        (gl_context_params){.mem_size = gl_tensor_overhead() + 256, .no_alloc = true}, &err);
    gl_tensor *t = ctx ? gl_new_tensor_2d(ctx, type, 32, 8) : NULL;
    const bool ok = t && gl_repack_size(t) > 0;
    gl_context_free(ctx);
    return ok;
}

/* ---- model benchmarks (edgelm bench -m) ----
 *
 * Like llama-bench: for every model × thread count, "ppN" decodes N random tokens as one batch
 * into an empty cache and "tgN" decodes N single random tokens one after the other, starting
 * from an empty cache; each test runs once untimed (warm-up: the whole prompt, or one token),
 * then `reps` timed repetitions; tokens/s is N / time per repetition, averaged over the
 * repetitions with its sample standard deviation. Generation is also reported against the
 * memory read bandwidth measured right before it with the same thread count: a step has to
 * read every weight matrix once, so weight bytes per token × tokens/s can not exceed it. */

#define BENCH_MAX_LIST 16
#define BENCH_MAX_REPS 64

typedef struct bench_list {
    int v[BENCH_MAX_LIST];
    int n;
} bench_list;

typedef struct model_opts {
    const char *models[BENCH_MAX_LIST];
    int n_models;
    bench_list threads, prompt, gen;
    int reps;
    bool json;
    int fmt;         /* CLI_FMT_* */
    bool kv_f16;
    bool no_repack;
    elm_cache_type type_k, type_v;
    size_t bw_bytes; /* 0: the default (bench_bw_default_bytes) */
} model_opts;

/* What a model file tells the report. */
typedef struct model_info {
    const char *path;
    char name[128];   /* file name without folder and .gguf */
    char arch[32];
    char type[16];    /* type of the weight matrices holding most bytes ("Q8_0") */
    uint64_t size;    /* bytes of all tensors */
    int64_t n_params;
    uint64_t bytes_per_token; /* weight bytes a generation step reads */
} model_info;

typedef struct model_result {
    const model_info *mi;
    int64_t repacked; /* weight bytes the load copied into the interleaved layout */
    int n_threads, n_prompt, n_gen;
    int n_samples;
    double samples_ts[BENCH_MAX_REPS];
    double avg_ts, stddev_ts, avg_ns, stddev_ns;
    double read_bw;   /* GB/s, generation tests only */
    double bw_frac;   /* bytes_per_token * avg_ts / read_bw */
    int64_t rss, rss_peak; /* resident bytes after the test, and the process's peak so far */
} model_result;

static int bench_parse_list(const char *s, bench_list *l, int lo, int hi) {
    l->n = 0;
    while (*s) {
        char *end;
        const long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > hi || l->n == BENCH_MAX_LIST) return -1;
        if (*end && *end != ',') return -1;
        l->v[l->n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return l->n > 0 ? 0 : -1;
}

/* Weight bytes one generated token reads: every tensor except the embedding tables, of which
 * a step reads one row (unless the output matrix is the token embedding: tied). */
static uint64_t model_bytes_per_token(const gl_gguf *g) {
    const bool untied = gl_gguf_find_tensor(g, "output.weight") >= 0;
    uint64_t total = 0;
    for (int64_t i = 0; i < gl_gguf_n_tensors(g); i++) {
        const gl_gguf_tensor_info *t = gl_gguf_tensor(g, i);
        const bool tok = t->name.len == 17 && !memcmp(t->name.data, "token_embd.weight", 17);
        const bool pos = t->name.len == 20 && !memcmp(t->name.data, "position_embd.weight", 20);
        if ((tok && untied) || pos)
            total += t->ne[1] > 0 ? t->nbytes / (uint64_t)t->ne[1] : 0;
        else
            total += t->nbytes;
    }
    return total;
}

static int model_info_read(const char *path, model_info *mi, char *msg, size_t msg_size) {
    memset(mi, 0, sizeof *mi);
    mi->path = path;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
    snprintf(mi->name, sizeof mi->name, "%.*s", (int)n, base);
    gl_error err = {0};
    gl_gguf *g = gl_gguf_open(path, &err);
    if (!g) {
        snprintf(msg, msg_size, "%s", err.msg);
        return -1;
    }
    const int64_t ka = gl_gguf_find_key(g, "general.architecture");
    const gl_str a = ka >= 0 ? gl_gguf_get_str(g, ka) : (gl_str){"?", 1};
    snprintf(mi->arch, sizeof mi->arch, "%.*s", (int)(a.len < 31 ? a.len : 31), a.data);
    uint64_t by_type[GL_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gl_gguf_n_tensors(g); i++) {
        const gl_gguf_tensor_info *t = gl_gguf_tensor(g, i);
        mi->size += t->nbytes;
        int64_t ne = 1;
        for (int d = 0; d < GL_MAX_DIMS; d++) ne *= t->ne[d];
        mi->n_params += ne;
        if ((int)t->type >= 0 && t->type < GL_TYPE_COUNT && t->ne[1] > 1) by_type[t->type] += t->nbytes;
    }
    int best = 0;
    for (int t = 1; t < GL_TYPE_COUNT; t++)
        if (by_type[t] > by_type[best]) best = t;
    const char *tn = gl_type_name(best);
    for (size_t i = 0; i + 1 < sizeof mi->type && tn[i]; i++)
        mi->type[i] = (char)(tn[i] >= 'a' && tn[i] <= 'z' ? tn[i] - 32 : tn[i]);
    mi->bytes_per_token = model_bytes_per_token(g);
    gl_gguf_close(g);
    return 0;
}

/* Random token ids (llama-bench feeds random ids too: the content does not change the work). */
static void model_random_ids(int32_t *ids, int n, int32_t n_vocab, uint64_t *s) {
    for (int i = 0; i < n; i++) {
        *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
        ids[i] = (int32_t)(((*s * 2685821657736338717ull) >> 33) % (uint64_t)n_vocab);
    }
}

/* One repetition of a test from an empty cache; seconds, or < 0 on failure. */
static double model_run_once(elm_ctx *c, const int32_t *ids, int n_prompt, int n_gen,
                             elm_error *err) {
    elm_ctx_rewind(c, 0);
    const double t0 = bench_now();
    if (n_prompt > 0 && elm_decode(c, ids, n_prompt, ELM_OUT_LOGITS_LAST, err) != ELM_OK) return -1;
    for (int i = 0; i < n_gen; i++)
        if (elm_decode(c, ids + i, 1, ELM_OUT_LOGITS_LAST, err) != ELM_OK) return -1;
    return bench_now() - t0;
}

static void model_stats(model_result *r, const double *sec, int n_tokens) {
    double s = 0, sn = 0;
    for (int i = 0; i < r->n_samples; i++) {
        r->samples_ts[i] = n_tokens / sec[i];
        s += r->samples_ts[i];
        sn += sec[i] * 1e9;
    }
    r->avg_ts = s / r->n_samples;
    r->avg_ns = sn / r->n_samples;
    double v = 0, vn = 0;
    for (int i = 0; i < r->n_samples; i++) {
        v += (r->samples_ts[i] - r->avg_ts) * (r->samples_ts[i] - r->avg_ts);
        vn += (sec[i] * 1e9 - r->avg_ns) * (sec[i] * 1e9 - r->avg_ns);
    }
    r->stddev_ts = r->n_samples > 1 ? sqrt(v / (r->n_samples - 1)) : 0;
    r->stddev_ns = r->n_samples > 1 ? sqrt(vn / (r->n_samples - 1)) : 0;
}

/* Runs one test (n_prompt or n_gen tokens) on context c: warm-up, then reps timed runs. */
static int model_test(elm_ctx *c, const model_opts *o, const int32_t *ids, int n_prompt,
                      int n_gen, const bench_bw_buf *bwb, model_result *r) {
    elm_error err = {0};
    const int nth = r->n_threads;
    if (model_run_once(c, ids, n_prompt, n_gen > 0 ? 1 : 0, &err) < 0) goto fail;
    if (n_gen > 0) { /* the ceiling, measured now, under the same neighbours' load */
        r->read_bw = bench_bw_now(bwb, nth);
        if (r->read_bw <= 0) {
            snprintf(err.msg, sizeof err.msg, "cannot start %d threads", nth);
            goto fail;
        }
    }
    double sec[BENCH_MAX_REPS];
    r->n_samples = o->reps;
    for (int i = 0; i < o->reps; i++)
        if ((sec[i] = model_run_once(c, ids, n_prompt, n_gen, &err)) <= 0) goto fail;
    model_stats(r, sec, n_prompt + n_gen);
    if (n_gen > 0) r->bw_frac = (double)r->mi->bytes_per_token * r->avg_ts / (r->read_bw * 1e9);
    return 0;
fail:
    opts_fail_err("bench", r->mi->path, &err, NULL);
    return 1;
}

/* Every thread count and test of one model. */
/* Resets VmHWM to the current resident set (Linux >= 4.0; a no-op elsewhere). */
static void model_reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

static int model_bench_file(const model_opts *o, const model_info *mi, const bench_bw_buf *bwb,
                            model_result *res, int *n_res, int max_res) {
    elm_error err = {0};
    elm_model_params mp = elm_model_default_params();
    mp.no_vocab = true; /* ids only */
    mp.no_repack = o->no_repack;
    model_reset_peak_rss(); /* each model's peak, not the one before it */
    elm_model *m = elm_model_load(mi->path, &mp, &err);
    if (!m) {
        opts_fail_err("bench", mi->path, &err, NULL);
        return 1;
    }
    const int64_t repacked = elm_model_repacked_bytes(m);
    int max_tokens = 1, max_prompt = 1;
    for (int i = 0; i < o->prompt.n; i++) {
        if (o->prompt.v[i] > max_tokens) max_tokens = o->prompt.v[i];
        if (o->prompt.v[i] > max_prompt) max_prompt = o->prompt.v[i];
    }
    for (int i = 0; i < o->gen.n; i++)
        if (o->gen.v[i] > max_tokens) max_tokens = o->gen.v[i];
    int32_t *ids = malloc(sizeof *ids * (size_t)max_tokens);
    if (!ids) {
        elm_model_free(m);
        opts_fail("bench", "free memory or give fewer -p/-n values", "out of memory");
        return 1;
    }
    uint64_t seed = 0x2545f4914f6cdd1dull;
    model_random_ids(ids, max_tokens, elm_model_n_vocab(m), &seed);
    int rc = 0;
    for (int ti = 0; ti < o->threads.n && !rc; ti++) {
        elm_ctx_params cp = elm_ctx_default_params();
        cp.n_ctx = max_tokens;
        cp.n_batch = max_prompt < 512 ? max_prompt : 512;
        cp.n_threads = o->threads.v[ti];
        cp.kv_f16 = o->kv_f16;
        cp.type_k = o->type_k;
        cp.type_v = o->type_v;
        elm_ctx *c = elm_ctx_new_ext(m, &cp, &err);
        if (!c) {
            opts_fail_err("bench", mi->path, &err, NULL);
            rc = 1;
            break;
        }
        for (int k = 0; k < o->prompt.n + o->gen.n && !rc; k++) {
            const bool pp = k < o->prompt.n;
            const int n = pp ? o->prompt.v[k] : o->gen.v[k - o->prompt.n];
            if (n == 0) continue; /* -p 0 / -n 0: no such test */
            if (*n_res == max_res) break;
            model_result *r = &res[*n_res];
            *r = (model_result){.mi = mi, .repacked = repacked, .n_threads = cp.n_threads,
                                .n_prompt = pp ? n : 0, .n_gen = pp ? 0 : n};
            rc = model_test(c, o, ids, r->n_prompt, r->n_gen, bwb, r);
            /* without the bandwidth buffer (allocated and read through before the model) */
            if (elm_process_memory(&r->rss, &r->rss_peak)) {
                r->rss -= (int64_t)bwb->size;
                r->rss_peak -= (int64_t)bwb->size;
            }
            if (!rc) (*n_res)++;
        }
        elm_ctx_free(c);
    }
    free(ids);
    elm_model_free(m);
    return rc;
}

static void model_print_json(const model_result *res, int n_res) {
    printf("[\n");
    for (int i = 0; i < n_res; i++) {
        const model_result *r = &res[i];
        const model_info *mi = r->mi;
        printf("  {\"model_filename\": \"");
        for (const char *p = mi->path; *p; p++) { /* JSON string escapes */
            if (*p == '"' || *p == '\\') printf("\\%c", *p);
            else if ((unsigned char)*p < 0x20) printf("\\u%04x", (unsigned char)*p);
            else putchar(*p);
        }
        printf("\", \"model_type\": \"%s %s\", \"model_size\": %llu, \"model_n_params\": %lld, "
               "\"simd\": \"%s\", \"n_threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, "
               "\"test\": \"%s%d\", \"avg_ns\": %.0f, \"stddev_ns\": %.0f, \"avg_ts\": %.6f, "
               "\"stddev_ts\": %.6f, \"samples_ts\": [",
               mi->arch, mi->type, (unsigned long long)mi->size, (long long)mi->n_params,
               gl_simd_name(), r->n_threads, r->n_prompt, r->n_gen, r->n_gen ? "tg" : "pp",
               r->n_gen ? r->n_gen : r->n_prompt, r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
        for (int s = 0; s < r->n_samples; s++) printf("%s%.4f", s ? ", " : "", r->samples_ts[s]);
        printf("], \"weight_bytes_per_token\": %llu, \"repacked_bytes\": %lld, \"rss_peak_bytes\": %lld, "
               "\"rss_bytes\": %lld", (unsigned long long)mi->bytes_per_token, (long long)r->repacked,
               (long long)r->rss_peak, (long long)r->rss);
        if (r->n_gen)
            printf(", \"read_bw_gbps\": %.3f, \"bw_fraction\": %.4f", r->read_bw, r->bw_frac);
        printf("}%s\n", i + 1 < n_res ? "," : "");
    }
    printf("]\n");
}

/* -o csv: one row per test, the numbers without units. */
static void model_print_csv(const model_result *res, int n_res) {
    static const char *const cols[] = {"model", "size_bytes", "n_params", "type", "repacked", "n_threads", "test",
                                       "avg_ts", "stddev_ts", "read_bw_gbps", "bw_fraction", "rss_peak_bytes", "rss_bytes"};
    static const bool numeric[] = {false, true, true, false, true, true, false, true, true, true, true, true, true};
    cli_table t = {stdout, CLI_FMT_CSV, cols, numeric, 13, 0};
    cli_table_begin(&t);
    for (int i = 0; i < n_res; i++) {
        const model_result *r = &res[i];
        char c[11][48];
        snprintf(c[0], 48, "%llu", (unsigned long long)r->mi->size);
        snprintf(c[1], 48, "%lld", (long long)r->mi->n_params);
        snprintf(c[2], 48, "%d", r->repacked ? 1 : 0);
        snprintf(c[3], 48, "%d", r->n_threads);
        snprintf(c[4], 48, "%s%d", r->n_gen ? "tg" : "pp", r->n_gen ? r->n_gen : r->n_prompt);
        snprintf(c[5], 48, "%.4f", r->avg_ts);
        snprintf(c[6], 48, "%.4f", r->stddev_ts);
        snprintf(c[7], 48, "%.3f", r->n_gen ? r->read_bw : 0.0);
        snprintf(c[8], 48, "%.4f", r->n_gen ? r->bw_frac : 0.0);
        snprintf(c[9], 48, "%lld", (long long)r->rss_peak);
        snprintf(c[10], 48, "%lld", (long long)r->rss);
        const char *cells[] = {r->mi->name, c[0], c[1], r->mi->type, c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]};
        cli_table_row(&t, cells);
    }
    cli_table_end(&t);
}

static void model_print_table(const model_result *res, int n_res) {
    printf("| model | size | params | type | threads | test | t/s | %% of read bw | peak RSS | RSS |\n");
    printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < n_res; i++) {
        const model_result *r = &res[i];
        char test[32], bw[48] = "";
        snprintf(test, sizeof test, "%s%d", r->n_gen ? "tg" : "pp", r->n_gen ? r->n_gen : r->n_prompt);
        if (r->n_gen)
            snprintf(bw, sizeof bw, "%.0f%% of %.1f GB/s", 100 * r->bw_frac, r->read_bw);
        printf("| %s | %.2f MiB | %.2f M | %s%s | %d | %s | %.2f ± %.2f | %s | %.1f MiB | %.1f MiB |\n",
               r->mi->name, (double)r->mi->size / 1048576.0, (double)r->mi->n_params / 1e6, r->mi->type,
               r->repacked ? " (x8)" : "", r->n_threads, test, r->avg_ts, r->stddev_ts, bw,
               (double)r->rss_peak / 1048576.0, (double)r->rss / 1048576.0);
    }
}

/* -o csv for --kernels: one row per run, times in microseconds. */
static void bench_print_csv(const bench_result *res, int n_res) {
    static const char *const cols[] = {"test", "type", "layout", "k", "n", "cols", "n_threads", "copies", "us_per_call",
                                       "us_median", "gbps", "read_bw_gbps", "bw_ratio", "gflops"};
    static const bool numeric[] = {false, false, false, true, true, true, true, true, true, true, true, true, true, true};
    cli_table t = {stdout, CLI_FMT_CSV, cols, numeric, 14, 0};
    cli_table_begin(&t);
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        char c[11][32];
        snprintf(c[0], 32, "%lld", (long long)r->k);
        snprintf(c[1], 32, "%lld", (long long)r->n);
        snprintf(c[2], 32, "%lld", (long long)r->m);
        snprintf(c[3], 32, "%d", r->n_threads);
        snprintf(c[4], 32, "%d", r->copies);
        snprintf(c[5], 32, "%.2f", r->sec_per_call * 1e6);
        snprintf(c[6], 32, "%.2f", r->sec_median * 1e6);
        snprintf(c[7], 32, "%.2f", r->gbps);
        snprintf(c[8], 32, "%.2f", r->read_bw);
        snprintf(c[9], 32, "%.3f", r->bw_ratio);
        snprintf(c[10], 32, "%.2f", r->gflops);
        const char *cells[] = {r->test, gl_type_name(r->type), r->x8 ? "x8" : "rows", c[0], c[1], c[2], c[3], c[4],
                               c[5], c[6], c[7], c[8], c[9], c[10]};
        cli_table_row(&t, cells);
    }
    cli_table_end(&t);
}

static void bench_print(const bench_opts *o, const bench_result *res, int n_res, const double *bw,
                        size_t llc, size_t bw_bytes) {
    if (o->json) {
        printf("{\"simd\": \"%s\", \"llc_bytes\": %zu, \"read_bw_buffer_bytes\": %zu,\n", gl_simd_name(),
               llc, bw_bytes);
        printf(" \"read_bw_gbps\": [");
        for (int i = 0; i < o->n_threads; i++)
            printf("%s{\"n_threads\": %d, \"gbps\": %.2f}", i ? ", " : "", o->threads[i], bw[i]);
        printf("],\n \"results\": [\n");
        for (int i = 0; i < n_res; i++) {
            const bench_result *r = &res[i];
            printf("  {\"test\": \"%s\", \"type\": \"%s\", \"layout\": \"%s\", \"k\": %lld, \"n\": %lld, \"m\": %lld, "
                   "\"n_threads\": %d, \"copies\": %d, \"us_per_call\": %.2f, \"us_median\": %.2f, \"gbps\": %.2f, "
                   "\"read_bw_gbps\": %.2f, \"bw_ratio\": %.3f, \"gflops\": %.2f}%s\n",
                   r->test, gl_type_name(r->type), r->x8 ? "x8" : "rows", (long long)r->k, (long long)r->n, (long long)r->m,
                   r->n_threads, r->copies, r->sec_per_call * 1e6, r->sec_median * 1e6, r->gbps,
                   r->read_bw, r->bw_ratio, r->gflops, i + 1 < n_res ? "," : "");
        }
        printf(" ]}\n");
        return;
    }
    if (o->fmt == CLI_FMT_CSV) {
        bench_print_csv(res, n_res);
        return;
    }
    printf("SIMD: %s; last-level cache %zu MiB\n", gl_simd_name(), llc >> 20);
    for (int i = 0; i < o->n_threads; i++)
        printf("memory read bandwidth, %d thread%s: %.2f GB/s (%zu MiB buffer)\n", o->threads[i],
               o->threads[i] > 1 ? "s" : "", bw[i], bw_bytes >> 20);
    printf("(times: best of the repetitions, median in parentheses; mat-vec: read bw measured\n"
           " again right before, with the same threads, and the weights' GB/s as a share of it)\n");
    printf("\n| test   | type   | k x n       | cols | threads | copies | time/call             |  GB/s | read bw | %% of read bw | GFLOP/s |\n");
    printf("|--------|--------|-------------|------|---------|--------|-----------------------|-------|---------|--------------|---------|\n");
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)r->k, (long long)r->n);
        char pct[16] = "", rbw[16] = "";
        if (r->m == 1) {
            snprintf(pct, sizeof pct, "%.0f%%", 100 * r->bw_ratio);
            snprintf(rbw, sizeof rbw, "%.1f", r->read_bw);
        }
        char tname[16];
        snprintf(tname, sizeof tname, "%s%s", gl_type_name(r->type), r->x8 ? "x8" : "");
        printf("| %-6s | %-6s | %-11s | %4lld | %7d | %6d | %8.3f (%8.3f) ms | %5.1f | %7s | %12s | %7.1f |\n",
               r->test, tname, shape, (long long)r->m, r->n_threads, r->copies,
               r->sec_per_call * 1e3, r->sec_median * 1e3, r->gbps, rbw, pct, r->gflops);
    }
}

/* -m: every model, then one table or JSON array. */
static int bench_models(const model_opts *o) {
    model_info mi[BENCH_MAX_LIST];
    for (int i = 0; i < o->n_models; i++) {
        char msg[256];
        if (model_info_read(o->models[i], &mi[i], msg, sizeof msg) != 0) {
            opts_fail("bench", "give decoder GGUF files ('edgelm info FILE' shows what a file is)", "%s: %s",
                      o->models[i], msg);
            return 1;
        }
    }
    bench_bw_buf bwb;
    if (!bench_bw_buf_init(&bwb, o->bw_bytes, bench_llc_bytes(), 10)) {
        opts_fail("bench", "free memory or give a smaller --bw-mib", "cannot allocate the bandwidth buffer");
        return 1;
    }
    const int max_res = o->n_models * o->threads.n * (o->prompt.n + o->gen.n);
    model_result *res = calloc((size_t)max_res, sizeof *res);
    int n_res = 0, rc = res ? 0 : 1;
    for (int i = 0; i < o->n_models && !rc; i++)
        rc = model_bench_file(o, &mi[i], &bwb, res, &n_res, max_res);
    if (!rc) {
        if (o->json) model_print_json(res, n_res);
        else if (o->fmt == CLI_FMT_CSV) model_print_csv(res, n_res);
        else model_print_table(res, n_res);
    }
    free(res);
    free(bwb.buf);
    return rc;
}

static int bench_parse_models(char *s, model_opts *mo) {
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (mo->n_models == BENCH_MAX_LIST) return -1;
        mo->models[mo->n_models++] = tok;
    }
    return mo->n_models > 0 ? 0 : -1;
}

/* The option parsers of the lists (opts.h OPT_FUNC): dst is the bench_cli. */
typedef struct bench_cli {
    bench_opts o;
    model_opts mo;
} bench_cli;

static bool bench_opt_models(const char *v, void *dst, char *why, size_t why_size) {
    bench_cli *b = dst;
    b->mo.n_models = 0;
    char *copy = strdup(v); /* kept: the model names point into it until exit */
    if (copy && bench_parse_models(copy, &b->mo) == 0) return true;
    free(copy);
    snprintf(why, why_size, "give up to %d comma-separated GGUF files", BENCH_MAX_LIST);
    return false;
}

static bool bench_opt_threads(const char *v, void *dst, char *why, size_t why_size) {
    bench_cli *b = dst;
    if (bench_parse_threads(v, &b->o) == 0 && bench_parse_list(v, &b->mo.threads, 1, 256) == 0) return true;
    snprintf(why, why_size, "give comma-separated thread counts in [1, 256], e.g. -t 1,2");
    return false;
}

static bool bench_opt_prompt(const char *v, void *dst, char *why, size_t why_size) {
    if (bench_parse_list(v, &((bench_cli *)dst)->mo.prompt, 0, 1 << 16) == 0) return true;
    snprintf(why, why_size, "give comma-separated token counts in [0, 65536], e.g. -p 64,512");
    return false;
}

static bool bench_opt_gen(const char *v, void *dst, char *why, size_t why_size) {
    if (bench_parse_list(v, &((bench_cli *)dst)->mo.gen, 0, 1 << 16) == 0) return true;
    snprintf(why, why_size, "give comma-separated token counts in [0, 65536], e.g. -n 128");
    return false;
}

static bool bench_opt_types(const char *v, void *dst, char *why, size_t why_size) {
    if (bench_parse_types(v, &((bench_cli *)dst)->o) == 0) return true;
    snprintf(why, why_size, "use some of f32, f16, q8_0, q4_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, e.g. --types q4_0,q8_0");
    return false;
}

static bool bench_opt_shapes(const char *v, void *dst, char *why, size_t why_size) {
    if (bench_parse_shapes(v, &((bench_cli *)dst)->o) == 0) return true;
    snprintf(why, why_size, "give KxN shapes, K a multiple of 32, e.g. 768x3072,4096x4096");
    return false;
}

static bool bench_opt_cols(const char *v, void *dst, char *why, size_t why_size) {
    bench_cli *b = dst;
    bench_list l;
    if (bench_parse_list(v, &l, 2, 1 << 16) == 0 && l.n <= BENCH_MAX_SHAPES) {
        b->o.n_cols = l.n;
        for (int j = 0; j < l.n; j++) b->o.cols[j] = l.v[j];
        return true;
    }
    snprintf(why, why_size, "give comma-separated column counts in [2, 65536], e.g. 64,512");
    return false;
}

static const char *const bench_fmt_names[] = {"md", "csv", "json", "table", NULL}; /* table = md */

int cmd_bench(int argc, char **argv) {
    /* threads: 1 and the default count (the scaling from one core, and what the other commands use) */
    const int nd = opts_default_threads(), n_def = nd > 1 ? 2 : 1;
    bench_cli b = {.o = {.threads = {1, nd}, .n_threads = n_def, .reps = 10},
                   .mo = {.threads = {{1, nd}, n_def}, .prompt = {{64}, 1}, .gen = {{128}, 1}, .reps = 5}};
    bench_opts o;
    model_opts mo;
    bool kernels = false, reps_set = false;
    int32_t reps = 0, bw_mib = 0;
    int fmt = 0;
    const opt_def defs[] = {
        OPT_SECTION("Kernels (--kernels)"),
        OPT_FLAG("--kernels", &kernels, "memory read bandwidth, mat-vec (F32/F16/Q8_0/Q4_0 at 4096x4096 and 768x3072, "
                 "weights larger than the last-level cache) and mat-mat (64 and 512 columns) timings; Q8_0/Q4_0 also "
                 "repacked (X8) where the build has X8 kernels"),
        OPT_FUNC("--types", &b, bench_opt_types, "LIST", "these of f32,f16,q8_0,q4_0 (the default set) and "
                 "q2_K,q3_K,q4_K,q5_K,q6_K,iq4_nl,iq4_xs (mat-mat shapes: K a multiple of 256 for the K types and iq4_xs)"),
        OPT_FUNC("--mm-shapes", &b, bench_opt_shapes, "LIST", "mat-mat weight shapes KxN (default 4096x4096)"),
        OPT_FUNC("--cols", &b, bench_opt_cols, "LIST", "mat-mat column counts (default 64,512)"),
        OPT_SECTION("Models (-m)"),
        OPT_FUNC("-m,--model", &b, bench_opt_models, "LIST", "decoder models (GGUF): prompt processing ppN (N tokens in "
                 "one batch into an empty cache) and generation tgN (N single-token steps), tokens/s averaged over the "
                 "repetitions, and generation as a share of the memory read bandwidth measured just before it; peak and "
                 "current resident memory of the process after each test (less the bandwidth buffer)"),
        OPT_FUNC("-p,--n-prompt", &b, bench_opt_prompt, "LIST", "prompt lengths (default 64; 0: none)"),
        OPT_FUNC("-n,--n-gen", &b, bench_opt_gen, "LIST", "generated tokens (default 128; 0: none)"),
        OPT_FUNC("-ctk,--cache-type-k", &b.mo.type_k, opt_parse_cache_type, "T",
                 "KV cache type of the keys: f16 (default, as llama-bench) or f32"),
        OPT_FUNC("-ctv,--cache-type-v", &b.mo.type_v, opt_parse_cache_type, "T",
                 "KV cache type of the values: f16 (default, as llama-bench) or f32"),
        OPT_FLAG("--kv-f16", &b.mo.kv_f16, "no effect: the KV cache is F16 by default (kept for old scripts)"),
        OPT_FLAG("--no-repack", &b.mo.no_repack, "Q4_0/Q8_0 weights stay in the file's row layout (type \"x8\" in the "
                 "table marks models whose matrices were repacked at load)"),
        OPT_INT("--bw-mib", &bw_mib, 1, 1 << 16, "N", "size of the bandwidth buffer (default 4x the last-level cache, >= 512, <= RAM/8)"),
        OPT_SECTION("Both"),
        OPT_FUNC("-t,--threads", &b, bench_opt_threads, "LIST", "thread counts, comma separated (default: 1 and the default count of the other commands, i.e. "
                 OPT_THREADS_DEFAULT ")"),
        {.names = "-r,--repetitions,--reps", .kind = OPTK_INT, .dst = &reps, .lo = 1, .hi = BENCH_MAX_REPS, .meta = "N",
         .help = "repetitions (default 10 for --kernels, best and median; 5 for -m, mean and standard deviation)",
         .seen = &reps_set},
        OPT_ENUM("-o,--output", &fmt, bench_fmt_names, "result format (default md; table = md)"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("bench", "--kernels [options] | -m MODEL.gguf[,MODEL2.gguf] [options]",
                                "Kernel benchmarks (--kernels) or decoder benchmarks like llama-bench (-m).", defs);
    const int pr = opts_parse(&cmd, argc, argv);
    if (pr != OPTS_OK) return opts_exit(pr);
    o = b.o;
    mo = b.mo;
    if (reps_set) o.reps = mo.reps = reps;
    if (bw_mib) mo.bw_bytes = (size_t)bw_mib << 20;
    o.fmt = mo.fmt = fmt == 3 ? CLI_FMT_MD : fmt;
    o.json = mo.json = o.fmt == CLI_FMT_JSON;
    if (kernels == (mo.n_models > 0))
        return opts_fail("bench", "give one of them (see 'edgelm bench --help')",
                         kernels ? "--kernels and -m are separate runs" : "neither --kernels nor -m given");
    for (int i = 0; i < mo.n_models; i++)
        if (!cli_family_check("bench", mo.models[i], CLI_DECODER)) return 1;
    if (mo.n_models > 0) return bench_models(&mo);

    const size_t llc = bench_llc_bytes();
    bench_bw_buf bwb;
    if (!bench_bw_buf_init(&bwb, 0, llc, o.reps)) {
        opts_fail("bench", "free memory", "cannot allocate the bandwidth buffer");
        return 1;
    }
    uint8_t *buf = bwb.buf;
    const size_t bw_bytes = bwb.size;
    double bw[BENCH_MAX_THREADS];
    for (int i = 0; i < o.n_threads; i++) {
        bw[i] = bench_bw_now(&bwb, o.threads[i]);
        if (bw[i] <= 0) {
            opts_fail("bench", "give fewer threads (-t)", "cannot start %d threads", o.threads[i]);
            free(buf);
            return 1;
        }
    }

    static const int64_t mv_shapes[][2] = {{4096, 4096}, {768, 3072}};
    if (o.n_mm_shapes == 0) {
        o.mm_shapes[0][0] = o.mm_shapes[0][1] = 4096;
        o.n_mm_shapes = 1;
    }
    if (o.n_cols == 0) {
        o.cols[0] = 64;
        o.cols[1] = 512;
        o.n_cols = 2;
    }
    /* every (type, layout) to run: the row layout, then X8 where gl_repack can make it */
    gl_type run_type[2 * BENCH_N_TYPES];
    bool run_x8[2 * BENCH_N_TYPES];
    int n_run = 0;
    for (int t = 0; t < BENCH_N_TYPES; t++) {
        if (o.types ? !(o.types & (1u << t)) : t >= BENCH_N_DEFAULT) continue;
        run_type[n_run] = bench_types[t];
        run_x8[n_run++] = false;
        if (bench_x8_available(bench_types[t])) {
            run_type[n_run] = bench_types[t];
            run_x8[n_run++] = true;
        }
    }
    const int max_res = (2 + o.n_mm_shapes * o.n_cols) * n_run * o.n_threads;
    bench_result *res = malloc(sizeof *res * (size_t)(max_res > 0 ? max_res : 1));
    int n_res = 0;
    if (!res) goto fail;
    for (size_t s = 0; s < 2; s++)
        for (int t = 0; t < n_run; t++)
            if (bench_shape(&o, "matvec", run_type[t], run_x8[t], mv_shapes[s][0], mv_shapes[s][1], 1,
                            llc, &bwb, res, &n_res))
                goto fail;
    for (int si = 0; si < o.n_mm_shapes; si++)
        for (int c = 0; c < o.n_cols; c++)
            for (int t = 0; t < n_run; t++)
                if (bench_shape(&o, "matmul", run_type[t], run_x8[t], o.mm_shapes[si][0],
                                o.mm_shapes[si][1], o.cols[c], llc, &bwb, res, &n_res))
                    goto fail;
    free(buf);
    bench_print(&o, res, n_res, bw, llc, bw_bytes);
    free(res);
    return 0;
fail:
    free(res);
    free(buf);
    return 1;
}
