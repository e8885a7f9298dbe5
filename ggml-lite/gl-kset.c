/*
 * This kernel set's table (gl_kset_self; see gl-cpu.c): the entry points of the ISA-dependent
 * modules as compiled in this translation unit's build, its name and the CPU features its
 * instructions need, all read from the compiler's target macros. The Makefile compiles this
 * file with the other kernel-set modules once per extra set, renaming gl_kset_self.
 */
#include "gl-impl.h"
#include "gl-quants.h"

#if defined(GL_AVX2) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define KSET_NAME "avx512"
#elif defined(GL_AVX2)
#define KSET_NAME "avx2"
#elif defined(GL_NEON_DOTPROD)
#define KSET_NAME "dotprod"
#elif defined(GL_NEON)
#define KSET_NAME "neon"
#else
#define KSET_NAME "scalar"
#endif

#define KSET_HAS(macro, bit) (macro ? (bit) : 0u)
#if defined(__AVX2__)
#define KSET_AVX2 1
#else
#define KSET_AVX2 0
#endif
#if defined(__FMA__)
#define KSET_FMA 1
#else
#define KSET_FMA 0
#endif
#if defined(__F16C__)
#define KSET_F16C 1
#else
#define KSET_F16C 0
#endif
#if defined(__AVX512F__)
#define KSET_AVX512F 1
#else
#define KSET_AVX512F 0
#endif
#if defined(__AVX512BW__)
#define KSET_AVX512BW 1
#else
#define KSET_AVX512BW 0
#endif
#if defined(__AVX512VL__)
#define KSET_AVX512VL 1
#else
#define KSET_AVX512VL 0
#endif
#if defined(__AVX512VNNI__)
#define KSET_AVX512VNNI 1
#else
#define KSET_AVX512VNNI 0
#endif
#if defined(__ARM_FEATURE_DOTPROD)
#define KSET_DOTPROD 1
#else
#define KSET_DOTPROD 0
#endif
#if defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
#define KSET_FP16 1
#else
#define KSET_FP16 0
#endif
#if defined(__ARM_FEATURE_MATMUL_INT8)
#define KSET_I8MM 1
#else
#define KSET_I8MM 0
#endif

#if !defined(GL_AMALGAMATION)
const
#else
static const
#endif
gl_kset gl_kset_self = {
    .name = KSET_NAME,
    .needs = KSET_HAS(KSET_AVX2, GL_CPU_AVX2) | KSET_HAS(KSET_FMA, GL_CPU_FMA) | KSET_HAS(KSET_F16C, GL_CPU_F16C) |
             KSET_HAS(KSET_AVX512F, GL_CPU_AVX512F) | KSET_HAS(KSET_AVX512BW, GL_CPU_AVX512BW) |
             KSET_HAS(KSET_AVX512VL, GL_CPU_AVX512VL) | KSET_HAS(KSET_AVX512VNNI, GL_CPU_AVX512VNNI) |
             KSET_HAS(KSET_DOTPROD, GL_CPU_DOTPROD) | KSET_HAS(KSET_FP16, GL_CPU_FP16) |
             KSET_HAS(KSET_I8MM, GL_CPU_I8MM),
#if defined(GL_AVX2)
    .family = GL_KSET_X86,
#elif defined(GL_NEON)
    .family = GL_KSET_NEON,
#else
    .family = GL_KSET_SCALAR,
#endif
    .simd_name = gl_simd_name,
    .compute_forward = gl_compute_forward,
    .op_n_tasks = gl_op_n_tasks,
    .op_work_size = gl_op_work_size,
    .repack_size = gl_repack_size,
    .repack = gl_repack,
    .type_get = gl_type_get,
    .type_vec_dot4 = gl_type_vec_dot4,
    .type_gemm = gl_type_gemm,
    .type_gemm_k = gl_type_gemm_k,
    .type_vec_dot4_k = gl_type_vec_dot4_k,
    .type_gemm_x8 = gl_type_gemm_x8,
};
