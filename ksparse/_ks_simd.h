/*
 * The one SIMD dispatch of ksparse._core, and the vector operation families
 * every kernel body is written with.
 *
 * Dispatch: ks_simd_init() (called once at import) reads the CPU (cpuid via
 * __builtin_cpu_supports) and the environment variable KSPARSE_SIMD
 * ("portable" or "scalar", "sse2", "avx2": an upper bound; unset: the best
 * the CPU runs) and sets ks_simd.level:
 *     KS_SIMD_SCALAR 0  portable C (what non-x86 machines run)
 *     KS_SIMD_SSE2   1  SSE2 (baseline of x86-64)
 *     KS_SIMD_AVX2   2  AVX2 + POPCNT (the float kernels use AVX, the top-k AVX2)
 * Every kernel reads ks_simd.level (once per call) and nothing else; tests
 * switch paths with ks_simd_set_level().  AVX and AVX2 code is compiled with
 * target attributes (KS_TARGET_AVX, KS_TARGET_AVX2), never -march=native, and
 * no path uses FMA or -ffast-math: the paths of one kernel do the same IEEE
 * operations in the same order where the kernel promises bit-identical results.
 *
 * Vector families: for element type T (F = float, D = double) and instruction
 * set S (scalar), X (SSE2) or Y (AVX), KS_<S><T>_OP names one operation on a
 * "vector" of KS_<S><T>_W elements.  A kernel body written once with a family
 * parameter O (O##_LD, O##_ADD ...) is instantiated for every family; the
 * scalar family is also every SIMD loop's tail, so tails round the same way.
 */
#ifndef KSPARSE_KS_SIMD_H
#define KSPARSE_KS_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>

#if defined(_MSC_VER)
#define KS_RESTRICT __restrict
#else
#define KS_RESTRICT __restrict__
#endif

#define KS_SIMD_SCALAR 0
#define KS_SIMD_SSE2 1
#define KS_SIMD_AVX2 2

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define KS_X86 1
#include <immintrin.h>
#define KS_TARGET_AVX __attribute__((target("avx")))
#define KS_TARGET_AVX2 __attribute__((target("avx2,popcnt")))
#else
#define KS_X86 0
#define KS_TARGET_AVX
#define KS_TARGET_AVX2
#endif

typedef struct {
    int cpu;    /* best level this CPU runs */
    int best;   /* the CPU's best, capped by KSPARSE_SIMD */
    int level;  /* level the kernels use */
} ks_simd_state;

static ks_simd_state ks_simd = {KS_SIMD_SCALAR, KS_SIMD_SCALAR, KS_SIMD_SCALAR};

static void ks_simd_init(void)
{
    const char *env = getenv("KSPARSE_SIMD");
    int cap = KS_SIMD_AVX2;
    ks_simd.cpu = KS_SIMD_SCALAR;
#if KS_X86
    ks_simd.cpu = KS_SIMD_SSE2;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        ks_simd.cpu = KS_SIMD_AVX2;
#elif defined(_M_X64) || defined(__SSE2__)
    ks_simd.cpu = KS_SIMD_SSE2;
#endif
    if (env != NULL && env[0] != '\0') {
        if (!strcmp(env, "portable") || !strcmp(env, "scalar") || !strcmp(env, "0"))
            cap = KS_SIMD_SCALAR;
        else if (!strcmp(env, "sse2") || !strcmp(env, "1"))
            cap = KS_SIMD_SSE2;
    }
    ks_simd.best = ks_simd.cpu < cap ? ks_simd.cpu : cap;
    ks_simd.level = ks_simd.best;
}

/* Use `level` (clamped to [0, best]); return the level now in effect. */
static int ks_simd_set_level(int level)
{
    if (level < KS_SIMD_SCALAR) level = KS_SIMD_SCALAR;
    if (level > ks_simd.best) level = ks_simd.best;
    ks_simd.level = level;
    return level;
}

static inline int ks_simd_get_level(void) { return ks_simd.level; }
static inline int ks_simd_get_best(void) { return ks_simd.best; }

/* Threads for `items` independent work items: never more than items, at least 1. */
static inline int ks_team(int n_threads, Py_ssize_t items)
{
    if (items < 1 || n_threads < 1) return 1;
    if (items < n_threads) return (int)items;
    return n_threads;
}

/* ---- scalar families ---------------------------------------------------- */
#define KS_SF_VT float
#define KS_SF_W 1
#define KS_SF_LD(x) (*(x))
#define KS_SF_ST(x, a) (*(x) = (a))
#define KS_SF_SET1(a) ((float)(a))
#define KS_SF_ZERO 0.0f
#define KS_SF_ADD(a, b) ((a) + (b))
#define KS_SF_SUB(a, b) ((a) - (b))
#define KS_SF_MUL(a, b) ((a) * (b))
#define KS_SF_DIV(a, b) ((a) / (b))
#define KS_SF_SQRT(a) sqrtf(a)
#define KS_SF_HSUM(a) (a)
#define KS_SD_VT double
#define KS_SD_W 1
#define KS_SD_LD(x) (*(x))
#define KS_SD_ST(x, a) (*(x) = (a))
#define KS_SD_SET1(a) ((double)(a))
#define KS_SD_ZERO 0.0
#define KS_SD_ADD(a, b) ((a) + (b))
#define KS_SD_SUB(a, b) ((a) - (b))
#define KS_SD_MUL(a, b) ((a) * (b))
#define KS_SD_DIV(a, b) ((a) / (b))
#define KS_SD_SQRT(a) sqrt(a)
#define KS_SD_HSUM(a) (a)
/* extras of the step kernels: clamp to [lo, hi] (a NaN h stays NaN), keep val
   where h == hc (else 0), and the double accumulators of squared errors */
#define KS_SF_CLAMP(lo, hi, h) ((h) < (lo) ? (lo) : ((h) > (hi) ? (hi) : (h)))
#define KS_SF_KEEPEQ(h, hc, val) ((h) == (hc) ? (val) : 0.0f)
#define KS_SF_DVT double
#define KS_SF_DZERO 0.0
#define KS_SF_DADD(a, b) ((a) + (b))
#define KS_SF_DHSUM(a) (a)
#define KS_SF_SQACC(a0, a1, d) ((a0) += (double)(d) * (d))
#define KS_SD_CLAMP KS_SF_CLAMP
#define KS_SD_KEEPEQ(h, hc, val) ((h) == (hc) ? (val) : 0.0)
#define KS_SD_DVT double
#define KS_SD_DZERO 0.0
#define KS_SD_DADD(a, b) ((a) + (b))
#define KS_SD_DHSUM(a) (a)
#define KS_SD_SQACC(a0, a1, d) ((a0) += (d) * (d))

#if KS_X86
/* ---- SSE2 families ------------------------------------------------------ */
#define KS_XF_VT __m128
#define KS_XF_W 4
#define KS_XF_LD _mm_loadu_ps
#define KS_XF_ST _mm_storeu_ps
#define KS_XF_SET1 _mm_set1_ps
#define KS_XF_ZERO _mm_setzero_ps()
#define KS_XF_ADD _mm_add_ps
#define KS_XF_SUB _mm_sub_ps
#define KS_XF_MUL _mm_mul_ps
#define KS_XF_DIV _mm_div_ps
#define KS_XF_SQRT _mm_sqrt_ps
#define KS_XF_HSUM ks_hsum_xf
#define KS_XF_CLAMP(lo, hi, h) _mm_min_ps(hi, _mm_max_ps(lo, h))
#define KS_XF_KEEPEQ(h, hc, val) _mm_and_ps(_mm_cmpeq_ps(h, hc), val)
#define KS_XF_DVT __m128d
#define KS_XF_DZERO _mm_setzero_pd()
#define KS_XF_DADD _mm_add_pd
#define KS_XF_DHSUM ks_hsum_xd
#define KS_XF_SQACC(a0, a1, d) do { \
        __m128d lo_ = _mm_cvtps_pd(d), hi_ = _mm_cvtps_pd(_mm_movehl_ps(d, d)); \
        a0 = _mm_add_pd(a0, _mm_mul_pd(lo_, lo_)); a1 = _mm_add_pd(a1, _mm_mul_pd(hi_, hi_)); } while (0)
#define KS_XD_VT __m128d
#define KS_XD_W 2
#define KS_XD_LD _mm_loadu_pd
#define KS_XD_ST _mm_storeu_pd
#define KS_XD_SET1 _mm_set1_pd
#define KS_XD_ZERO _mm_setzero_pd()
#define KS_XD_ADD _mm_add_pd
#define KS_XD_SUB _mm_sub_pd
#define KS_XD_MUL _mm_mul_pd
#define KS_XD_DIV _mm_div_pd
#define KS_XD_SQRT _mm_sqrt_pd
#define KS_XD_HSUM ks_hsum_xd
#define KS_XD_CLAMP(lo, hi, h) _mm_min_pd(hi, _mm_max_pd(lo, h))
#define KS_XD_KEEPEQ(h, hc, val) _mm_and_pd(_mm_cmpeq_pd(h, hc), val)
#define KS_XD_DVT __m128d
#define KS_XD_DZERO _mm_setzero_pd()
#define KS_XD_DADD _mm_add_pd
#define KS_XD_DHSUM ks_hsum_xd
#define KS_XD_SQACC(a0, a1, d) (a0 = _mm_add_pd(a0, _mm_mul_pd(d, d)))
/* ---- AVX families ------------------------------------------------------- */
#define KS_YF_VT __m256
#define KS_YF_W 8
#define KS_YF_LD _mm256_loadu_ps
#define KS_YF_ST _mm256_storeu_ps
#define KS_YF_SET1 _mm256_set1_ps
#define KS_YF_ZERO _mm256_setzero_ps()
#define KS_YF_ADD _mm256_add_ps
#define KS_YF_SUB _mm256_sub_ps
#define KS_YF_MUL _mm256_mul_ps
#define KS_YF_DIV _mm256_div_ps
#define KS_YF_SQRT _mm256_sqrt_ps
#define KS_YF_HSUM ks_hsum_yf
#define KS_YF_CLAMP(lo, hi, h) _mm256_min_ps(hi, _mm256_max_ps(lo, h))
#define KS_YF_KEEPEQ(h, hc, val) _mm256_and_ps(_mm256_cmp_ps(h, hc, _CMP_EQ_OQ), val)
#define KS_YF_DVT __m256d
#define KS_YF_DZERO _mm256_setzero_pd()
#define KS_YF_DADD _mm256_add_pd
#define KS_YF_DHSUM ks_hsum_yd
#define KS_YF_SQACC(a0, a1, d) do { \
        __m256d lo_ = _mm256_cvtps_pd(_mm256_castps256_ps128(d)); \
        __m256d hi_ = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1)); \
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(lo_, lo_)); a1 = _mm256_add_pd(a1, _mm256_mul_pd(hi_, hi_)); } while (0)
#define KS_YD_VT __m256d
#define KS_YD_W 4
#define KS_YD_LD _mm256_loadu_pd
#define KS_YD_ST _mm256_storeu_pd
#define KS_YD_SET1 _mm256_set1_pd
#define KS_YD_ZERO _mm256_setzero_pd()
#define KS_YD_ADD _mm256_add_pd
#define KS_YD_SUB _mm256_sub_pd
#define KS_YD_MUL _mm256_mul_pd
#define KS_YD_DIV _mm256_div_pd
#define KS_YD_SQRT _mm256_sqrt_pd
#define KS_YD_HSUM ks_hsum_yd
#define KS_YD_CLAMP(lo, hi, h) _mm256_min_pd(hi, _mm256_max_pd(lo, h))
#define KS_YD_KEEPEQ(h, hc, val) _mm256_and_pd(_mm256_cmp_pd(h, hc, _CMP_EQ_OQ), val)
#define KS_YD_DVT __m256d
#define KS_YD_DZERO _mm256_setzero_pd()
#define KS_YD_DADD _mm256_add_pd
#define KS_YD_DHSUM ks_hsum_yd
#define KS_YD_SQACC(a0, a1, d) (a0 = _mm256_add_pd(a0, _mm256_mul_pd(d, d)))
/* lane sums in a fixed order */
static inline float ks_hsum_xf(__m128 v)
{
    float b[4];
    _mm_storeu_ps(b, v);
    return (b[0] + b[1]) + (b[2] + b[3]);
}
static inline double ks_hsum_xd(__m128d v)
{
    double b[2];
    _mm_storeu_pd(b, v);
    return b[0] + b[1];
}
KS_TARGET_AVX static inline float ks_hsum_yf(__m256 v)
{
    float b[8];
    _mm256_storeu_ps(b, v);
    return ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}
KS_TARGET_AVX static inline double ks_hsum_yd(__m256d v)
{
    double b[4];
    _mm256_storeu_pd(b, v);
    return (b[0] + b[1]) + (b[2] + b[3]);
}
#endif

/* Token pasting through one level of expansion, so that a family can be named
   by a macro (KS_FY below is KS_YF in the float pass, KS_YD in the double one). */
#define KS_CAT(a, b) KS_CAT_(a, b)
#define KS_CAT_(a, b) a##b

#endif /* KSPARSE_KS_SIMD_H */
