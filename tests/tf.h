/*
 * tf.h — the tiny test framework of edgelm's suite.
 *
 * A test program is a list of TF_TEST functions run by tf_main(). Each test ends as passed,
 * failed (any TF_CHECK false) or skipped (tf_skip). The program prints one line per test and a
 * closing "# tf: P passed, F failed, S skipped" line that tests/run-tests.sh adds up; it exits
 * non-zero when a test failed.
 *
 *   TF_TEST(quant_roundtrip) { TF_CHECK(err < 1e-3, "err %g", err); }
 *   int main(int argc, char **argv) { return tf_main(argc, argv, tf_tests); }  // see TF_MAIN
 */
#ifndef TF_H
#define TF_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tf_state {
    int n_checks;
    int n_failed_checks;
    bool skipped;
    char skip_reason[256];
} tf_state;

static tf_state tf_cur;

typedef void (*tf_fn)(void);
typedef struct tf_case {
    const char *name;
    tf_fn fn;
} tf_case;

#define TF_MAX_TESTS 512
static tf_case tf_cases[TF_MAX_TESTS];
static int tf_n_cases;

static inline void tf_register(const char *name, tf_fn fn) {
    if (tf_n_cases < TF_MAX_TESTS) {
        tf_cases[tf_n_cases].name = name;
        tf_cases[tf_n_cases].fn = fn;
        tf_n_cases++;
    }
}

/* Registration through constructors keeps each test next to its body. */
#define TF_TEST(name)                                                                        \
    static void tf_test_##name(void);                                                        \
    __attribute__((constructor)) static void tf_reg_##name(void) {                          \
        tf_register(#name, tf_test_##name);                                                  \
    }                                                                                        \
    static void tf_test_##name(void)

/* Reports a failed check (first 20 per test printed) and continues. */
static inline bool tf_check_impl(bool ok, const char *file, int line, const char *expr,
                                 const char *fmt, ...) {
    tf_cur.n_checks++;
    if (ok) return true;
    tf_cur.n_failed_checks++;
    if (tf_cur.n_failed_checks <= 20) {
        fprintf(stdout, "    %s:%d: check failed: %s", file, line, expr);
        if (fmt && *fmt) {
            va_list ap;
            va_start(ap, fmt);
            fputs(" — ", stdout);
            vfprintf(stdout, fmt, ap);
            va_end(ap);
        }
        fputc('\n', stdout);
    }
    return false;
}

#define TF_CHECK(cond, ...) tf_check_impl((cond) ? true : false, __FILE__, __LINE__, #cond, "" __VA_ARGS__)

/* |a - b| <= tol, with a message naming both values. NaN fails. */
#define TF_NEAR(a, b, tol)                                                                   \
    do {                                                                                     \
        double tf_a_ = (double)(a), tf_b_ = (double)(b), tf_t_ = (double)(tol);               \
        tf_check_impl(fabs(tf_a_ - tf_b_) <= tf_t_, __FILE__, __LINE__, #a " ~ " #b,          \
                      "%.9g vs %.9g (diff %.3g > tol %.3g)", tf_a_, tf_b_, fabs(tf_a_ - tf_b_), \
                      tf_t_);                                                                \
    } while (0)

static inline void tf_skip(const char *fmt, ...) {
    tf_cur.skipped = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tf_cur.skip_reason, sizeof tf_cur.skip_reason, fmt, ap);
    va_end(ap);
}

/* Deterministic random numbers for tests (xorshift64*). */
typedef struct tf_rng {
    uint64_t s;
} tf_rng;
static inline uint64_t tf_rand_u64(tf_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}
static inline float tf_rand_uniform(tf_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((tf_rand_u64(r) >> 40) * (1.0 / 16777216.0));
}
static inline float tf_rand_normal(tf_rng *r) {
    double u1 = ((tf_rand_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (tf_rand_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static inline int tf_rand_int(tf_rng *r, int lo, int hi) { /* inclusive */
    return lo + (int)(tf_rand_u64(r) % (uint64_t)(hi - lo + 1));
}

/* dir/name for a file of this process's own temporary directory (/tmp/edgelm-test-XXXXXX, made
 * at the first call), in one of 4 rotating buffers (valid until 4 more calls). */
static inline const char *tf_tmp_path(const char *name) {
    static char dir[64], buf[4][512];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/edgelm-test-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* The whole file at path, NUL-terminated (malloc-ed; NULL when it cannot be read), and its
 * length without the NUL in *len (when len is not NULL; 0 when it cannot be read). */
static inline char *tf_read_file(const char *path, size_t *len) {
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *buf = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

/* Directory of the shared fixtures (env EDGELM_FIXTURES, default ../shared/fixtures). */
static inline const char *tf_fixtures_dir(void) {
    const char *d = getenv("EDGELM_FIXTURES");
    return d && *d ? d : "../shared/fixtures";
}
/* tf_fixtures_dir()/rel, in one of 8 rotating buffers (valid until 8 more calls). */
static inline const char *tf_fixture(const char *rel) {
    static char buf[8][768];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tf_fixtures_dir(), rel);
    return buf[k];
}
/* A skip because fixtures are missing: with EDGELM_REQUIRE_FIXTURES=1 (set by .ci/run) it is
 * a failure instead, so that CI cannot pass while fixtures silently went missing. */
static inline void tf_skip_fixture(const char *fmt, ...) {
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *req = getenv("EDGELM_REQUIRE_FIXTURES");
    if (req && !strcmp(req, "1")) {
        tf_check_impl(false, __FILE__, __LINE__, "fixture present", "%s (EDGELM_REQUIRE_FIXTURES=1)", why);
        return;
    }
    tf_skip("%s", why);
}
/* True when path exists and is readable. */
static inline bool tf_file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fclose(f);
    return true;
}

/* Runs every registered test, or those whose name contains argv[1]. */
static inline int tf_main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    const char *filter = argc > 1 ? argv[1] : NULL;
    for (int i = 0; i < tf_n_cases; i++) {
        if (filter && !strstr(tf_cases[i].name, filter)) continue;
        memset(&tf_cur, 0, sizeof tf_cur);
        fflush(stdout);
        tf_cases[i].fn();
        if (tf_cur.n_failed_checks > 0) {
            printf("FAIL %s (%d of %d checks failed)\n", tf_cases[i].name, tf_cur.n_failed_checks,
                   tf_cur.n_checks);
            failed++;
        } else if (tf_cur.skipped) {
            printf("skip %s: %s\n", tf_cases[i].name, tf_cur.skip_reason);
            skipped++;
        } else if (tf_cur.n_checks == 0) {
            printf("FAIL %s (made no checks)\n", tf_cases[i].name);
            failed++;
        } else {
            printf("ok   %s (%d checks)\n", tf_cases[i].name, tf_cur.n_checks);
            passed++;
        }
        fflush(stdout);
    }
    printf("# tf: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#define TF_MAIN                                                                              \
    int main(int argc, char **argv) { return tf_main(argc, argv); }

#endif /* TF_H */
