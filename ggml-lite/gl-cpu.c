/*
 * Run-time CPU dispatch: which instruction-set extensions this CPU has, and which of the
 * compiled-in kernel sets the library uses.
 *
 * A kernel set is the ISA-dependent part of ggml-lite (gl-ops.c, gl-ops-nn.c, gl-matmul.c,
 * gl-quants*.c, gl-kset.c) compiled for one instruction set. The ordinary build compiles it
 * once with the baseline flags (x86-64-v2, armv8-a) and, in the Makefile build, again per
 * extra set (avx2, avx512 on x86-64; dotprod on aarch64) with that set's -m flags; the copies'
 * global names carry a suffix (gl_kset_self__avx2 ...). The baseline's entry points
 * (gl_compute_forward, gl_type_get, gl_repack ... : GL_KDISPATCH) hand the call to the chosen
 * set's copy, so a whole graph computation runs in one set.
 *
 * The choice is made once, at the first call (pthread_once): the best set whose instructions
 * the CPU has, or the one named by the environment variable EDGELM_KERNELS (refused, with the
 * reason in gl_kernels_error(), when unknown, not compiled in or not supported by the CPU).
 * This once-written, then read-only record (cpu_state) is ggml-lite's only process-wide
 * state: the documented exception to "no global mutable state".
 */
#include "gl-impl.h"
#include "gl-quants.h"

#include <pthread.h>
#include <stdio.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#define CPU_X86 1
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define CPU_ARM64 1
#endif

#if defined(GL_AMALGAMATION)
/* the amalgamation has the baseline set only */
#else
#if defined(GL_KSET_HAVE_avx512)
extern const gl_kset gl_kset_self__avx512;
#endif
#if defined(GL_KSET_HAVE_avx2)
extern const gl_kset gl_kset_self__avx2;
#endif
#if defined(GL_KSET_HAVE_dotprod)
extern const gl_kset gl_kset_self__dotprod;
#endif
#endif

/* The compiled-in sets, best first; the baseline last. */
static const gl_kset *const cpu_ksets[] = {
#if !defined(GL_AMALGAMATION) && defined(GL_KSET_HAVE_avx512)
    &gl_kset_self__avx512,
#endif
#if !defined(GL_AMALGAMATION) && defined(GL_KSET_HAVE_avx2)
    &gl_kset_self__avx2,
#endif
#if !defined(GL_AMALGAMATION) && defined(GL_KSET_HAVE_dotprod)
    &gl_kset_self__dotprod,
#endif
    &gl_kset_self,
};
#define CPU_N_KSETS (sizeof cpu_ksets / sizeof cpu_ksets[0])

static const struct {
    unsigned bit;
    const char *name;
} cpu_feature_names[] = {
    {GL_CPU_SSE42, "sse4.2"},     {GL_CPU_AVX2, "avx2"},         {GL_CPU_FMA, "fma"},
    {GL_CPU_F16C, "f16c"},        {GL_CPU_AVX512F, "avx512f"},   {GL_CPU_AVX512BW, "avx512bw"},
    {GL_CPU_AVX512VL, "avx512vl"}, {GL_CPU_AVX512VNNI, "avx512vnni"}, {GL_CPU_NEON, "neon"},
    {GL_CPU_DOTPROD, "asimddp"},  {GL_CPU_FP16, "fphp+asimdhp"}, {GL_CPU_I8MM, "i8mm"},
};

typedef struct cpu_state {
    unsigned features;           /* GL_CPU_* */
    const gl_kset *active;
    char features_str[160];
    char available[80];          /* usable sets, best first */
    char error[512];             /* why EDGELM_KERNELS was refused; "" when it was not */
} cpu_state;

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static cpu_state cpu_st; /* written once by cpu_init, read-only afterwards */

#if defined(CPU_X86)
/* XCR0: which register states the OS saves (AVX needs XMM|YMM, AVX-512 also opmask|ZMM). */
static unsigned long long cpu_xgetbv(void) {
    unsigned lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static unsigned cpu_detect(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (c & (1u << 20)) f |= GL_CPU_SSE42;
    const bool osxsave = (c & (1u << 27)) != 0, fma = (c & (1u << 12)) != 0, f16c = (c & (1u << 29)) != 0;
    const bool avx = (c & (1u << 28)) != 0;
    if (!osxsave || !avx) return f;
    const unsigned long long xcr0 = cpu_xgetbv();
    if ((xcr0 & 6) != 6) return f; /* no YMM state */
    if (fma) f |= GL_CPU_FMA;
    if (f16c) f |= GL_CPU_F16C;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    if (b & (1u << 5)) f |= GL_CPU_AVX2;
    if ((xcr0 & 0xe0) != 0xe0) return f; /* no opmask / ZMM state */
    if (b & (1u << 16)) f |= GL_CPU_AVX512F;
    if (b & (1u << 30)) f |= GL_CPU_AVX512BW;
    if (b & (1u << 31)) f |= GL_CPU_AVX512VL;
    if (c & (1u << 11)) f |= GL_CPU_AVX512VNNI;
    return f;
}
#elif defined(CPU_ARM64)
static unsigned cpu_detect(void) {
    /* HWCAP bits of the Linux arm64 ABI (asm/hwcap.h) */
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    unsigned f = 0;
    if (hw & (1ul << 1)) f |= GL_CPU_NEON;                            /* asimd */
    if (hw & (1ul << 20)) f |= GL_CPU_DOTPROD;                        /* asimddp */
    if ((hw & (1ul << 9)) && (hw & (1ul << 10))) f |= GL_CPU_FP16;    /* fphp, asimdhp */
    if (hw2 & (1ul << 13)) f |= GL_CPU_I8MM;                          /* i8mm */
    return f;
}
#else
static unsigned cpu_detect(void) {
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
    return GL_CPU_NEON; /* built for NEON: the CPU has it */
#else
    return 0;
#endif
}
#endif

static void cpu_append(char *buf, size_t cap, const char *word) {
    const size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", len ? " " : "", word);
}

static bool cpu_usable(const gl_kset *k, unsigned features) {
    return (k->needs & features) == k->needs;
}

static void cpu_init(void) {
    cpu_state *st = &cpu_st;
    st->features = cpu_detect();
    for (size_t i = 0; i < sizeof cpu_feature_names / sizeof cpu_feature_names[0]; i++)
        if (st->features & cpu_feature_names[i].bit)
            cpu_append(st->features_str, sizeof st->features_str, cpu_feature_names[i].name);
    if (!st->features_str[0]) snprintf(st->features_str, sizeof st->features_str, "none detected");
    st->active = NULL;
    for (size_t i = 0; i < CPU_N_KSETS; i++) {
        if (!cpu_usable(cpu_ksets[i], st->features)) continue;
        cpu_append(st->available, sizeof st->available, cpu_ksets[i]->name);
        if (!st->active) st->active = cpu_ksets[i];
    }
    /* The baseline runs anywhere the binary runs (its flags are the build's minimum). */
    if (!st->active) st->active = &gl_kset_self;
    const char *want = getenv("EDGELM_KERNELS");
    if (!want || !*want) return;
    for (size_t i = 0; i < CPU_N_KSETS; i++) {
        if (strcmp(want, cpu_ksets[i]->name) != 0) continue;
        if (cpu_ksets[i] != &gl_kset_self && !cpu_usable(cpu_ksets[i], st->features)) {
            snprintf(st->error, sizeof st->error,
                     "EDGELM_KERNELS=%.32s: this CPU lacks the instructions of that kernel set "
                     "(CPU features: %.159s; usable sets: %.79s)", want, st->features_str, st->available);
            return;
        }
        st->active = cpu_ksets[i];
        return;
    }
    char compiled[80] = "";
    for (size_t i = 0; i < CPU_N_KSETS; i++) cpu_append(compiled, sizeof compiled, cpu_ksets[i]->name);
    snprintf(st->error, sizeof st->error,
             "EDGELM_KERNELS=%.32s: no such kernel set in this build (compiled in: %.79s; usable: %.79s)", want,
             compiled, st->available);
}

static const cpu_state *cpu_get(void) {
    pthread_once(&cpu_once, cpu_init);
    return &cpu_st;
}

const gl_kset *gl_kset_active(void) {
    return cpu_get()->active;
}

const char *gl_cpu_features(void) {
    return cpu_get()->features_str;
}

const char *gl_kernels_name(void) {
    return cpu_get()->active->name;
}

const char *gl_kernels_available(void) {
    return cpu_get()->available;
}

const char *gl_kernels_error(void) {
    const cpu_state *st = cpu_get();
    return st->error[0] ? st->error : NULL;
}
