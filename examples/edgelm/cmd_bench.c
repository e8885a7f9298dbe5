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
 *   3. mat-mat at 4096×4096 with 64 and 512 columns, in GFLOP/s.
 * `edgelm bench -m MODEL` (prompt/generation tokens per second) needs the model runtime.
 */
#include "cli.h"
#include "ggml-lite.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX2__) && !defined(GL_NO_SIMD)
#include <immintrin.h>
#define BENCH_AVX2 1
#elif defined(__aarch64__) && defined(__ARM_NEON) && !defined(GL_NO_SIMD)
#include <arm_neon.h>
#define BENCH_NEON 1
#endif

#define BENCH_MAX_THREADS 16
#define BENCH_MAX_COPIES 512

typedef struct bench_opts {
    int threads[BENCH_MAX_THREADS];
    int n_threads;
    int reps;
    bool json;
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

/* ---- mul_mat runs ---- */

typedef struct bench_result {
    const char *test; /* "matvec" or "matmul" */
    gl_type type;
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
static int bench_shape(const bench_opts *o, const char *test, gl_type type, int64_t k, int64_t n,
                       int64_t m, size_t llc, const bench_bw_buf *bwb, bench_result *out,
                       int *n_out) {
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
        fprintf(stderr, "edgelm bench: cannot allocate %zu MiB of weights: %s\n", mem >> 20,
                ctx ? gl_ctx_error(ctx) : err.msg);
        gl_context_free(ctx);
        return 1;
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
            fprintf(stderr, "edgelm bench: %s %s: %s\n", test, gl_type_name(type), err.msg);
            gl_context_free(ctx);
            return 1;
        }
        bench_result *r = &out[(*n_out)++];
        *r = (bench_result){.test = test, .type = type, .k = k, .n = n, .m = m, .n_threads = nth,
                            .copies = copies, .sec_per_call = sec, .sec_median = bt.median};
        r->gbps = (double)wbytes / sec / 1e9;
        r->read_bw = read_bw;
        r->bw_ratio = read_bw > 0 ? r->gbps / read_bw : 0;
        r->gflops = 2.0 * (double)k * (double)n * (double)m / sec / 1e9;
    }
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

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: edgelm bench --kernels [-t 1,2] [--reps N] [-o table|json]\n"
            "       edgelm bench -m MODEL.gguf ...   (not yet: needs a model runtime)\n\n"
            "  --kernels   memory read bandwidth, mat-vec (F32/F16/Q8_0/Q4_0 at 4096x4096 and\n"
            "              768x3072, weights larger than the last-level cache) and mat-mat\n"
            "              (64 and 512 columns) timings\n"
            "  -t LIST     thread counts, comma separated (default 1,2)\n"
            "  --reps N    timed repetitions per mat-vec measurement (default 10; best and median)\n"
            "  -o FORMAT   table (default) or json\n");
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
            printf("  {\"test\": \"%s\", \"type\": \"%s\", \"k\": %lld, \"n\": %lld, \"m\": %lld, "
                   "\"n_threads\": %d, \"copies\": %d, \"us_per_call\": %.2f, \"us_median\": %.2f, \"gbps\": %.2f, "
                   "\"read_bw_gbps\": %.2f, \"bw_ratio\": %.3f, \"gflops\": %.2f}%s\n",
                   r->test, gl_type_name(r->type), (long long)r->k, (long long)r->n, (long long)r->m,
                   r->n_threads, r->copies, r->sec_per_call * 1e6, r->sec_median * 1e6, r->gbps,
                   r->read_bw, r->bw_ratio, r->gflops, i + 1 < n_res ? "," : "");
        }
        printf(" ]}\n");
        return;
    }
    printf("SIMD: %s; last-level cache %zu MiB\n", gl_simd_name(), llc >> 20);
    for (int i = 0; i < o->n_threads; i++)
        printf("memory read bandwidth, %d thread%s: %.2f GB/s (%zu MiB buffer)\n", o->threads[i],
               o->threads[i] > 1 ? "s" : "", bw[i], bw_bytes >> 20);
    printf("(times: best of the repetitions, median in parentheses; mat-vec: read bw measured\n"
           " again right before, with the same threads, and the weights' GB/s as a share of it)\n");
    printf("\n| test   | type | k x n       | cols | threads | copies | time/call             |  GB/s | read bw | %% of read bw | GFLOP/s |\n");
    printf("|--------|------|-------------|------|---------|--------|-----------------------|-------|---------|--------------|---------|\n");
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)r->k, (long long)r->n);
        char pct[16] = "", rbw[16] = "";
        if (r->m == 1) {
            snprintf(pct, sizeof pct, "%.0f%%", 100 * r->bw_ratio);
            snprintf(rbw, sizeof rbw, "%.1f", r->read_bw);
        }
        printf("| %-6s | %-4s | %-11s | %4lld | %7d | %6d | %8.3f (%8.3f) ms | %5.1f | %7s | %12s | %7.1f |\n",
               r->test, gl_type_name(r->type), shape, (long long)r->m, r->n_threads, r->copies,
               r->sec_per_call * 1e3, r->sec_median * 1e3, r->gbps, rbw, pct, r->gflops);
    }
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.threads = {1, 2}, .n_threads = 2, .reps = 10};
    bool kernels = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--kernels")) {
            kernels = true;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            fprintf(stderr, "edgelm bench -m: not yet: needs a model runtime "
                            "(use `edgelm bench --kernels` for kernel benchmarks)\n");
            return 1;
        } else if (!strcmp(a, "-t") && i + 1 < argc) {
            if (bench_parse_threads(argv[++i], &o) != 0) {
                fprintf(stderr, "edgelm bench: bad thread list '%s' (e.g. -t 1,2)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--reps") && i + 1 < argc) {
            o.reps = atoi(argv[++i]);
            if (o.reps < 1 || o.reps > 64) {
                fprintf(stderr, "edgelm bench: --reps must be in 1..64\n");
                return 2;
            }
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "json") && strcmp(f, "table")) {
                fprintf(stderr, "edgelm bench: -o takes table or json\n");
                return 2;
            }
            o.json = !strcmp(f, "json");
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "edgelm bench: unknown or incomplete option '%s'\n\n", a);
            bench_usage(stderr);
            return 2;
        }
    }
    if (!kernels) {
        bench_usage(stderr);
        return 2;
    }

    const size_t llc = bench_llc_bytes();
    size_t bw_bytes = 16 * llc;
    if (bw_bytes < ((size_t)512 << 20)) bw_bytes = (size_t)512 << 20;
    uint8_t *buf = aligned_alloc(256, bw_bytes);
    if (!buf) {
        fprintf(stderr, "edgelm bench: cannot allocate %zu MiB\n", bw_bytes >> 20);
        return 1;
    }
    /* fault the pages in before timing, with distinct contents (see bench_make_weights) */
    for (size_t i = 0; i + 8 <= bw_bytes; i += 8) {
        const uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        memcpy(buf + i, &v, 8);
    }
    const bench_bw_buf bwb = {.buf = buf, .size = bw_bytes, .reps = o.reps};
    double bw[BENCH_MAX_THREADS];
    for (int i = 0; i < o.n_threads; i++) {
        bw[i] = bench_bw_now(&bwb, o.threads[i]);
        if (bw[i] <= 0) {
            fprintf(stderr, "edgelm bench: cannot start %d threads\n", o.threads[i]);
            free(buf);
            return 1;
        }
    }

    static const gl_type types[] = {GL_TYPE_F32, GL_TYPE_F16, GL_TYPE_Q8_0, GL_TYPE_Q4_0};
    static const int64_t mv_shapes[][2] = {{4096, 4096}, {768, 3072}};
    static const int64_t mm_cols[] = {64, 512};
    bench_result res[64];
    int n_res = 0;
    for (size_t s = 0; s < 2; s++)
        for (size_t t = 0; t < 4; t++)
            if (bench_shape(&o, "matvec", types[t], mv_shapes[s][0], mv_shapes[s][1], 1, llc, &bwb,
                            res, &n_res))
                goto fail;
    for (size_t c = 0; c < 2; c++)
        for (size_t t = 0; t < 4; t++)
            if (bench_shape(&o, "matmul", types[t], 4096, 4096, mm_cols[c], llc, &bwb, res, &n_res))
                goto fail;
    free(buf);
    bench_print(&o, res, n_res, bw, llc, bw_bytes);
    return 0;
fail:
    free(buf);
    return 1;
}
