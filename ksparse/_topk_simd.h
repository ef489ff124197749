/*
 * SIMD building blocks of the top-k selection in ksparse/_topk.pxi.
 *
 * The selection of the k largest keys of a row (key = value, or |value|) is
 * built from these functions, for float32 (_f32) and float64 (_f64):
 *
 *   ksp_all_finite    1 when the row holds no NaN and no infinity.
 *   ksp_group_max     maxima of c strided groups: mx[l] = max key(x[j]) over
 *                     j = l (mod c); also returns ksp_all_finite of the row.
 *   ksp_kth_largest   the k-th largest of n values (a quickselect whose 8
 *                     pivots per round are ranked with SIMD).  Taken over the
 *                     group maxima it is a threshold T with at least k keys
 *                     of the row >= T, so every top-k key is >= T.
 *   ksp_gather_ge     the keys >= T (or > T) and their positions, in increasing
 *                     position.
 *   ksp_rank          the rank of each gathered key in descending order, ties
 *                     to the lower position: r[i] = #{j < i: x[j] >= x[i]}
 *                     + #{j > i: x[j] > x[i]}.  Ranks are a permutation of
 *                     0..n-1; the entries ranked < k are the top k, in order.
 *
 * Every function takes the instruction set to use, `level` (KSP_SIMD_SCALAR,
 * KSP_SIMD_SSE2 or KSP_SIMD_AVX2), read once per kernel call from
 * the one dispatch, ks_simd.level (_ks_simd.h), so that a call never mixes code paths.  SSE2 is part of
 * x86-64; AVX2 code is compiled with __attribute__((target("avx2,popcnt")))
 * and used only when __builtin_cpu_supports says the CPU has both.  The
 * scalar code is portable C and is what non-x86 machines run.  All paths
 * return identical results: they only compare, take maxima and copy, which are
 * exact in IEEE arithmetic (no -ffast-math).
 *
 * Buffers: ksp_gather_ge writes up to 8 elements past the last gathered one
 * and ksp_rank reads and writes up to 8 elements past n, so the caller gives
 * both 8 elements of slack.  Positions are int32: rows must be shorter than
 * 2**31 - 8 (checked by the Python wrapper).
 */
#ifndef KSPARSE_TOPK_SIMD_H
#define KSPARSE_TOPK_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_ks_simd.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE2__)
#define KSP_HAVE_SSE2 1
#include <emmintrin.h>
#else
#define KSP_HAVE_SSE2 0
#endif

/* AVX2 code exactly where _ks_simd.h's dispatch can select it */
#if KSP_HAVE_SSE2 && KS_X86 && !defined(KSP_NO_AVX2)
#define KSP_HAVE_AVX2 1
#define KSP_TARGET_AVX2 KS_TARGET_AVX2
#else
#define KSP_HAVE_AVX2 0
#endif

/* The levels are those of the one dispatch (ks_simd in _ks_simd.h). */
#define KSP_SIMD_SCALAR KS_SIMD_SCALAR
#define KSP_SIMD_SSE2 KS_SIMD_SSE2
#define KSP_SIMD_AVX2 KS_SIMD_AVX2

/* Compress tables for the AVX2 gather: for a lane mask, the lanes to keep,
 * packed to the front, and how many there are. */
static uint8_t ksp_lut8_perm[256][8];   /* 8 x 32-bit lanes (float32) */
static uint8_t ksp_lut8_count[256];
static uint8_t ksp_lut4_perm[16][8];    /* 4 x 64-bit lanes as 8 x 32-bit (float64) */
static uint8_t ksp_lut4_idx[16][8];     /* 4 x 32-bit positions */

static void ksp_simd_init(void)
{
    int mask, lane, n;
    for (mask = 0; mask < 256; mask++) {
        n = 0;
        memset(ksp_lut8_perm[mask], 0, 8);
        for (lane = 0; lane < 8; lane++)
            if (mask & (1 << lane)) ksp_lut8_perm[mask][n++] = (uint8_t)lane;
        ksp_lut8_count[mask] = (uint8_t)n;
    }
    for (mask = 0; mask < 16; mask++) {
        n = 0;
        memset(ksp_lut4_perm[mask], 0, 8);
        memset(ksp_lut4_idx[mask], 0, 8);
        for (lane = 0; lane < 4; lane++)
            if (mask & (1 << lane)) {
                ksp_lut4_perm[mask][2 * n] = (uint8_t)(2 * lane);
                ksp_lut4_perm[mask][2 * n + 1] = (uint8_t)(2 * lane + 1);
                ksp_lut4_idx[mask][n] = (uint8_t)lane;
                n++;
            }
    }
    ks_simd_init();
}

/* ------------------------------------------------------------------------ */
/* Portable scalar code                                                      */
/* ------------------------------------------------------------------------ */

#define KSP_SCALAR_FUNCS(T, SFX, FABS)                                          \
static int ksp_all_finite_##SFX##_scalar(const T *x, ptrdiff_t m)              \
{                                                                               \
    ptrdiff_t j;                                                                \
    int ok = 1;                                                                 \
    for (j = 0; j < m; j++) ok &= (x[j] - x[j] == 0);                           \
    return ok;                                                                  \
}                                                                               \
                                                                                \
/* also returns 1 when x[0..m) is all finite (x - x is 0, else NaN) */        \
static int ksp_group_max_##SFX##_scalar(const T *x, ptrdiff_t m, ptrdiff_t c,   \
                                        int by_abs, T *mx)                      \
{                                                                               \
    ptrdiff_t l, j;                                                             \
    int ok = 1;                                                                 \
    for (l = 0; l < c; l++) {                                                   \
        T best = by_abs ? FABS(x[l]) : x[l];                                    \
        ok &= (x[l] - x[l] == 0);                                               \
        for (j = l + c; j < m; j += c) {                                        \
            T v = by_abs ? FABS(x[j]) : x[j];                                   \
            ok &= (x[j] - x[j] == 0);                                           \
            best = v > best ? v : best;                                         \
        }                                                                       \
        mx[l] = best;                                                           \
    }                                                                           \
    return ok;                                                                  \
}                                                                               \
                                                                                \
static T ksp_kth_largest_##SFX##_scalar(const T *x, ptrdiff_t n, ptrdiff_t k)   \
{                                                                               \
    ptrdiff_t i, j;                                                             \
    T best = -(T)INFINITY;                                                      \
    for (i = 0; i < n; i++) {                                                   \
        ptrdiff_t ge = 0;                                                       \
        T xi = x[i];                                                            \
        for (j = 0; j < n; j++) ge += (x[j] >= xi);                             \
        if (ge >= k && xi > best) best = xi;                                    \
    }                                                                           \
    return best;                                                                \
}                                                                               \
                                                                                \
/* cnt[p] = #{j : x[j] >= piv[p]} for 8 pivots */                              \
static void ksp_count_ge8_##SFX##_scalar(const T *x, ptrdiff_t n, const T *piv, \
                                         int32_t *cnt)                          \
{                                                                               \
    ptrdiff_t j;                                                                \
    int p;                                                                      \
    for (p = 0; p < 8; p++) {                                                   \
        int32_t c_ = 0;                                                         \
        for (j = 0; j < n; j++) c_ += (x[j] >= piv[p]);                         \
        cnt[p] = c_;                                                            \
    }                                                                           \
}                                                                               \
                                                                                \
/* keys >= thr (> thr if strict) at positions start..m-1 */                    \
static ptrdiff_t ksp_gather_ge_##SFX##_scalar(const T *x, ptrdiff_t start,      \
                                              ptrdiff_t m, T thr, int by_abs,   \
                                              int strict, T *ck, int32_t *ci)   \
{                                                                               \
    ptrdiff_t j, n = 0;                                                         \
    for (j = start; j < m; j++) {                                               \
        T v = by_abs ? FABS(x[j]) : x[j];                                       \
        ck[n] = v;                                                              \
        ci[n] = (int32_t)j;                                                     \
        n += strict ? (v > thr) : (v >= thr);                                   \
    }                                                                           \
    return n;                                                                   \
}                                                                               \
                                                                                \
static void ksp_rank_##SFX##_scalar(const T *x, ptrdiff_t n, int32_t *r)        \
{                                                                               \
    ptrdiff_t i, j;                                                             \
    for (i = 0; i < n; i++) {                                                   \
        T xi = x[i];                                                            \
        int32_t cnt = 0;                                                        \
        for (j = 0; j < i; j++) cnt += (x[j] >= xi);                            \
        for (j = i + 1; j < n; j++) cnt += (x[j] > xi);                         \
        r[i] = cnt;                                                             \
    }                                                                           \
}

KSP_SCALAR_FUNCS(float, f32, fabsf)
KSP_SCALAR_FUNCS(double, f64, fabs)

/* ------------------------------------------------------------------------ */
/* SSE2 (baseline on x86-64)                                                 */
/* ------------------------------------------------------------------------ */
#if KSP_HAVE_SSE2

static int ksp_all_finite_f32_sse2(const float *x, ptrdiff_t m)
{
    /* x - x is +0.0 for finite x and NaN otherwise: OR the bit patterns. */
    __m128 acc = _mm_setzero_ps();
    ptrdiff_t j = 0;
    for (; j + 4 <= m; j += 4) {
        __m128 v = _mm_loadu_ps(x + j);
        acc = _mm_or_ps(acc, _mm_sub_ps(v, v));
    }
    if (_mm_movemask_epi8(_mm_cmpeq_epi32(_mm_castps_si128(acc), _mm_setzero_si128())) != 0xFFFF)
        return 0;
    return ksp_all_finite_f32_scalar(x + j, m - j);
}

static int ksp_all_finite_f64_sse2(const double *x, ptrdiff_t m)
{
    __m128d acc = _mm_setzero_pd();
    ptrdiff_t j = 0;
    for (; j + 2 <= m; j += 2) {
        __m128d v = _mm_loadu_pd(x + j);
        acc = _mm_or_pd(acc, _mm_sub_pd(v, v));
    }
    if (_mm_movemask_epi8(_mm_cmpeq_epi32(_mm_castpd_si128(acc), _mm_setzero_si128())) != 0xFFFF)
        return 0;
    return ksp_all_finite_f64_scalar(x + j, m - j);
}

/* c is a multiple of 8 and m >= c. */
#define KSP_LD(p) (raw = _mm_loadu_ps(p), fin = _mm_or_ps(fin, _mm_sub_ps(raw, raw)), _mm_and_ps(raw, am))
static int ksp_group_max_f32_sse2(const float *x, ptrdiff_t m, ptrdiff_t c, int by_abs, float *mx)
{
    const __m128 am = _mm_castsi128_ps(_mm_set1_epi32(by_abs ? 0x7FFFFFFF : -1));
    ptrdiff_t l, base, last = (m / c) * c, j;
    __m128 fin = _mm_setzero_ps(), raw;
    int ok;
    for (l = 0; l < c; l += 8) {
        __m128 a0 = KSP_LD(x + l);
        __m128 a1 = KSP_LD(x + l + 4);
        for (base = c; base < last; base += c) {
            a0 = _mm_max_ps(a0, KSP_LD(x + base + l));
            a1 = _mm_max_ps(a1, KSP_LD(x + base + l + 4));
        }
        _mm_storeu_ps(mx + l, a0);
        _mm_storeu_ps(mx + l + 4, a1);
    }
    for (j = last; j < m; j++) {
        float v = by_abs ? fabsf(x[j]) : x[j];
        if (v > mx[j - last]) mx[j - last] = v;
    }
    ok = _mm_movemask_epi8(_mm_cmpeq_epi32(_mm_castps_si128(fin), _mm_setzero_si128())) == 0xFFFF;
    for (j = last; j < m; j++) ok &= (x[j] - x[j] == 0);
    return ok;
}

#undef KSP_LD

#define KSP_LD(p) (raw = _mm_loadu_pd(p), fin = _mm_or_pd(fin, _mm_sub_pd(raw, raw)), _mm_and_pd(raw, am))
static int ksp_group_max_f64_sse2(const double *x, ptrdiff_t m, ptrdiff_t c, int by_abs, double *mx)
{
    const __m128d am = _mm_castsi128_pd(by_abs ? _mm_set1_epi64x(0x7FFFFFFFFFFFFFFFLL) : _mm_set1_epi32(-1));
    ptrdiff_t l, base, last = (m / c) * c, j;
    __m128d fin = _mm_setzero_pd(), raw;
    int ok;
    for (l = 0; l < c; l += 4) {
        __m128d a0 = KSP_LD(x + l);
        __m128d a1 = KSP_LD(x + l + 2);
        for (base = c; base < last; base += c) {
            a0 = _mm_max_pd(a0, KSP_LD(x + base + l));
            a1 = _mm_max_pd(a1, KSP_LD(x + base + l + 2));
        }
        _mm_storeu_pd(mx + l, a0);
        _mm_storeu_pd(mx + l + 2, a1);
    }
    for (j = last; j < m; j++) {
        double v = by_abs ? fabs(x[j]) : x[j];
        if (v > mx[j - last]) mx[j - last] = v;
    }
    ok = _mm_movemask_epi8(_mm_cmpeq_epi32(_mm_castpd_si128(fin), _mm_setzero_si128())) == 0xFFFF;
    for (j = last; j < m; j++) ok &= (x[j] - x[j] == 0);
    return ok;
}

#undef KSP_LD

/* n is a multiple of 8.  Lanes hold 4 (or 2) different x[i]; each x[j] is
 * broadcast and compared with all of them; a true compare is -1, so the
 * accumulators hold minus the counts. */
static float ksp_kth_largest_f32_sse2(const float *x, ptrdiff_t n, ptrdiff_t k)
{
    const __m128i limit = _mm_set1_epi32((int)(1 - k)); /* -ge <= -k <=> 1-k > -ge */
    const __m128 ninf = _mm_set1_ps(-INFINITY);
    __m128 best = ninf;
    float out[4];
    ptrdiff_t i0, j;
    for (i0 = 0; i0 < n; i0 += 4) {
        __m128 xi = _mm_loadu_ps(x + i0);
        __m128i cnt = _mm_setzero_si128();
        for (j = 0; j < n; j++) {
            __m128 xj = _mm_set1_ps(x[j]);
            cnt = _mm_add_epi32(cnt, _mm_castps_si128(_mm_cmpge_ps(xj, xi)));
        }
        {
            __m128 ok = _mm_castsi128_ps(_mm_cmpgt_epi32(limit, cnt));
            __m128 cand = _mm_or_ps(_mm_and_ps(ok, xi), _mm_andnot_ps(ok, ninf));
            best = _mm_max_ps(best, cand);
        }
    }
    _mm_storeu_ps(out, best);
    {
        float b = out[0];
        if (out[1] > b) b = out[1];
        if (out[2] > b) b = out[2];
        if (out[3] > b) b = out[3];
        return b;
    }
}

static double ksp_kth_largest_f64_sse2(const double *x, ptrdiff_t n, ptrdiff_t k)
{
    double best = -INFINITY;
    int64_t cnt_out[2];
    double xs[2];
    ptrdiff_t i0, j;
    for (i0 = 0; i0 < n; i0 += 2) {
        __m128d xi = _mm_loadu_pd(x + i0);
        __m128i cnt = _mm_setzero_si128();
        for (j = 0; j < n; j++) {
            __m128d xj = _mm_set1_pd(x[j]);
            cnt = _mm_add_epi64(cnt, _mm_castpd_si128(_mm_cmpge_pd(xj, xi)));
        }
        _mm_storeu_si128((__m128i *)cnt_out, cnt);
        _mm_storeu_pd(xs, xi);
        if (-cnt_out[0] >= k && xs[0] > best) best = xs[0];
        if (-cnt_out[1] >= k && xs[1] > best) best = xs[1];
    }
    return best;
}

static void ksp_count_ge8_f32_sse2(const float *x, ptrdiff_t n, const float *piv, int32_t *cnt)
{
    __m128 p0 = _mm_loadu_ps(piv), p1 = _mm_loadu_ps(piv + 4);
    __m128i c0 = _mm_setzero_si128(), c1 = _mm_setzero_si128();
    ptrdiff_t j;
    for (j = 0; j < n; j++) {
        __m128 xj = _mm_set1_ps(x[j]);
        c0 = _mm_add_epi32(c0, _mm_castps_si128(_mm_cmpge_ps(xj, p0)));
        c1 = _mm_add_epi32(c1, _mm_castps_si128(_mm_cmpge_ps(xj, p1)));
    }
    _mm_storeu_si128((__m128i *)cnt, _mm_sub_epi32(_mm_setzero_si128(), c0));
    _mm_storeu_si128((__m128i *)(cnt + 4), _mm_sub_epi32(_mm_setzero_si128(), c1));
}

static void ksp_count_ge8_f64_sse2(const double *x, ptrdiff_t n, const double *piv, int32_t *cnt)
{
    __m128d p[4];
    __m128i c[4];
    int64_t out[2];
    ptrdiff_t j;
    int q;
    for (q = 0; q < 4; q++) {
        p[q] = _mm_loadu_pd(piv + 2 * q);
        c[q] = _mm_setzero_si128();
    }
    for (j = 0; j < n; j++) {
        __m128d xj = _mm_set1_pd(x[j]);
        for (q = 0; q < 4; q++)
            c[q] = _mm_add_epi64(c[q], _mm_castpd_si128(_mm_cmpge_pd(xj, p[q])));
    }
    for (q = 0; q < 4; q++) {
        _mm_storeu_si128((__m128i *)out, c[q]);
        cnt[2 * q] = (int32_t)(-out[0]);
        cnt[2 * q + 1] = (int32_t)(-out[1]);
    }
}

/* Ranks of x[0..n), lanes = 4 consecutive i.  Reads and writes up to 4
 * elements past n (slack). */
static void ksp_rank_f32_sse2(const float *x, ptrdiff_t n, int32_t *r)
{
    const __m128i lane = _mm_setr_epi32(0, 1, 2, 3);
    ptrdiff_t i0, j;
    for (i0 = 0; i0 < n; i0 += 4) {
        __m128 xi = _mm_loadu_ps(x + i0);
        __m128i cnt = _mm_setzero_si128();
        ptrdiff_t end = i0 + 4 < n ? i0 + 4 : n;
        for (j = 0; j < i0; j++)
            cnt = _mm_add_epi32(cnt, _mm_castps_si128(_mm_cmpge_ps(_mm_set1_ps(x[j]), xi)));
        for (j = i0; j < end; j++) {
            __m128 xj = _mm_set1_ps(x[j]);
            /* lanes after j (i > j) count ties, the others only greater keys */
            __m128 later = _mm_castsi128_ps(_mm_cmpgt_epi32(lane, _mm_set1_epi32((int)(j - i0))));
            __m128 sel = _mm_or_ps(_mm_cmpgt_ps(xj, xi), _mm_and_ps(later, _mm_cmpeq_ps(xj, xi)));
            cnt = _mm_add_epi32(cnt, _mm_castps_si128(sel));
        }
        for (j = end; j < n; j++)
            cnt = _mm_add_epi32(cnt, _mm_castps_si128(_mm_cmpgt_ps(_mm_set1_ps(x[j]), xi)));
        _mm_storeu_si128((__m128i *)(r + i0), _mm_sub_epi32(_mm_setzero_si128(), cnt));
    }
}

static void ksp_rank_f64_sse2(const double *x, ptrdiff_t n, int32_t *r)
{
    ptrdiff_t i0, j;
    int64_t cnt_out[2];
    for (i0 = 0; i0 < n; i0 += 2) {
        __m128d xi = _mm_loadu_pd(x + i0);
        __m128i cnt = _mm_setzero_si128();
        ptrdiff_t end = i0 + 2 < n ? i0 + 2 : n;
        for (j = 0; j < i0; j++)
            cnt = _mm_add_epi64(cnt, _mm_castpd_si128(_mm_cmpge_pd(_mm_set1_pd(x[j]), xi)));
        for (j = i0; j < end; j++) {
            __m128d xj = _mm_set1_pd(x[j]);
            /* lane 1 is after j = i0; no lane is after j = i0 + 1 */
            __m128d later = _mm_castsi128_pd(j == i0 ? _mm_set_epi64x(-1, 0) : _mm_setzero_si128());
            __m128d sel = _mm_or_pd(_mm_cmpgt_pd(xj, xi), _mm_and_pd(later, _mm_cmpeq_pd(xj, xi)));
            cnt = _mm_add_epi64(cnt, _mm_castpd_si128(sel));
        }
        for (j = end; j < n; j++)
            cnt = _mm_add_epi64(cnt, _mm_castpd_si128(_mm_cmpgt_pd(_mm_set1_pd(x[j]), xi)));
        _mm_storeu_si128((__m128i *)cnt_out, cnt);
        r[i0] = (int32_t)(-cnt_out[0]);
        r[i0 + 1] = (int32_t)(-cnt_out[1]);
    }
}

#endif /* KSP_HAVE_SSE2 */

/* ------------------------------------------------------------------------ */
/* AVX2 (run-time dispatch)                                                  */
/* ------------------------------------------------------------------------ */
#if KSP_HAVE_AVX2

KSP_TARGET_AVX2 static int ksp_all_finite_f32_avx2(const float *x, ptrdiff_t m)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    ptrdiff_t j = 0;
    for (; j + 16 <= m; j += 16) {
        __m256 v0 = _mm256_loadu_ps(x + j), v1 = _mm256_loadu_ps(x + j + 8);
        acc0 = _mm256_or_ps(acc0, _mm256_sub_ps(v0, v0));
        acc1 = _mm256_or_ps(acc1, _mm256_sub_ps(v1, v1));
    }
    acc0 = _mm256_or_ps(acc0, acc1);
    if (!_mm256_testz_si256(_mm256_castps_si256(acc0), _mm256_castps_si256(acc0)))
        return 0;
    return ksp_all_finite_f32_scalar(x + j, m - j);
}

KSP_TARGET_AVX2 static int ksp_all_finite_f64_avx2(const double *x, ptrdiff_t m)
{
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    ptrdiff_t j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256d v0 = _mm256_loadu_pd(x + j), v1 = _mm256_loadu_pd(x + j + 4);
        acc0 = _mm256_or_pd(acc0, _mm256_sub_pd(v0, v0));
        acc1 = _mm256_or_pd(acc1, _mm256_sub_pd(v1, v1));
    }
    acc0 = _mm256_or_pd(acc0, acc1);
    if (!_mm256_testz_si256(_mm256_castpd_si256(acc0), _mm256_castpd_si256(acc0)))
        return 0;
    return ksp_all_finite_f64_scalar(x + j, m - j);
}

#define KSP_LD(p) (raw = _mm256_loadu_ps(p), fin = _mm256_or_ps(fin, _mm256_sub_ps(raw, raw)), _mm256_and_ps(raw, am))
KSP_TARGET_AVX2 static int ksp_group_max_f32_avx2(const float *x, ptrdiff_t m, ptrdiff_t c,
                                                   int by_abs, float *mx)
{
    const __m256 am = _mm256_castsi256_ps(_mm256_set1_epi32(by_abs ? 0x7FFFFFFF : -1));
    ptrdiff_t l, base, last = (m / c) * c, j;
    __m256 fin = _mm256_setzero_ps(), raw;
    int ok;
    l = 0;
    /* four independent max chains per sweep hide the latency of vmaxps */
    for (; l + 32 <= c; l += 32) {
        __m256 a0 = KSP_LD(x + l);
        __m256 a1 = KSP_LD(x + l + 8);
        __m256 a2 = KSP_LD(x + l + 16);
        __m256 a3 = KSP_LD(x + l + 24);
        for (base = c; base < last; base += c) {
            const float *p = x + base + l;
            a0 = _mm256_max_ps(a0, KSP_LD(p));
            a1 = _mm256_max_ps(a1, KSP_LD(p + 8));
            a2 = _mm256_max_ps(a2, KSP_LD(p + 16));
            a3 = _mm256_max_ps(a3, KSP_LD(p + 24));
        }
        _mm256_storeu_ps(mx + l, a0);
        _mm256_storeu_ps(mx + l + 8, a1);
        _mm256_storeu_ps(mx + l + 16, a2);
        _mm256_storeu_ps(mx + l + 24, a3);
    }
    for (; l + 16 <= c; l += 16) {
        __m256 a0 = KSP_LD(x + l);
        __m256 a1 = KSP_LD(x + l + 8);
        for (base = c; base < last; base += c) {
            a0 = _mm256_max_ps(a0, KSP_LD(x + base + l));
            a1 = _mm256_max_ps(a1, KSP_LD(x + base + l + 8));
        }
        _mm256_storeu_ps(mx + l, a0);
        _mm256_storeu_ps(mx + l + 8, a1);
    }
    for (; l < c; l += 8) {
        __m256 a0 = KSP_LD(x + l);
        for (base = c; base < last; base += c)
            a0 = _mm256_max_ps(a0, KSP_LD(x + base + l));
        _mm256_storeu_ps(mx + l, a0);
    }
    for (j = last; j < m; j++) {
        float v = by_abs ? fabsf(x[j]) : x[j];
        if (v > mx[j - last]) mx[j - last] = v;
    }
    ok = _mm256_testz_si256(_mm256_castps_si256(fin), _mm256_castps_si256(fin));
    for (j = last; j < m; j++) ok &= (x[j] - x[j] == 0);
    return ok;
}

#undef KSP_LD

#define KSP_LD(p) (raw = _mm256_loadu_pd(p), fin = _mm256_or_pd(fin, _mm256_sub_pd(raw, raw)), _mm256_and_pd(raw, am))
KSP_TARGET_AVX2 static int ksp_group_max_f64_avx2(const double *x, ptrdiff_t m, ptrdiff_t c,
                                                   int by_abs, double *mx)
{
    const __m256d am = _mm256_castsi256_pd(by_abs ? _mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL)
                                                  : _mm256_set1_epi32(-1));
    ptrdiff_t l, base, last = (m / c) * c, j;
    __m256d fin = _mm256_setzero_pd(), raw;
    int ok;
    for (l = 0; l < c; l += 8) {
        __m256d a0 = KSP_LD(x + l);
        __m256d a1 = KSP_LD(x + l + 4);
        for (base = c; base < last; base += c) {
            a0 = _mm256_max_pd(a0, KSP_LD(x + base + l));
            a1 = _mm256_max_pd(a1, KSP_LD(x + base + l + 4));
        }
        _mm256_storeu_pd(mx + l, a0);
        _mm256_storeu_pd(mx + l + 4, a1);
    }
    for (j = last; j < m; j++) {
        double v = by_abs ? fabs(x[j]) : x[j];
        if (v > mx[j - last]) mx[j - last] = v;
    }
    ok = _mm256_testz_si256(_mm256_castpd_si256(fin), _mm256_castpd_si256(fin));
    for (j = last; j < m; j++) ok &= (x[j] - x[j] == 0);
    return ok;
}

#undef KSP_LD

KSP_TARGET_AVX2 static float ksp_kth_largest_f32_avx2(const float *x, ptrdiff_t n, ptrdiff_t k)
{
    const __m256i limit = _mm256_set1_epi32((int)(1 - k));
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 best = ninf;
    float out[8], b;
    ptrdiff_t i0, j;
    int l;
    for (i0 = 0; i0 < n; i0 += 8) {
        __m256 xi = _mm256_loadu_ps(x + i0);
        __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
        for (j = 0; j + 2 <= n; j += 2) {
            c0 = _mm256_add_epi32(c0, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j), xi, _CMP_GE_OQ)));
            c1 = _mm256_add_epi32(c1, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j + 1), xi, _CMP_GE_OQ)));
        }
        for (; j < n; j++)
            c0 = _mm256_add_epi32(c0, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j), xi, _CMP_GE_OQ)));
        c0 = _mm256_add_epi32(c0, c1);
        best = _mm256_max_ps(best, _mm256_blendv_ps(ninf, xi,
                                 _mm256_castsi256_ps(_mm256_cmpgt_epi32(limit, c0))));
    }
    _mm256_storeu_ps(out, best);
    b = out[0];
    for (l = 1; l < 8; l++)
        if (out[l] > b) b = out[l];
    return b;
}

KSP_TARGET_AVX2 static double ksp_kth_largest_f64_avx2(const double *x, ptrdiff_t n, ptrdiff_t k)
{
    const __m256i limit = _mm256_set1_epi64x((long long)(1 - k));
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d best = ninf;
    double out[4], b;
    ptrdiff_t i0, j;
    int l;
    for (i0 = 0; i0 < n; i0 += 4) {
        __m256d xi = _mm256_loadu_pd(x + i0);
        __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
        for (j = 0; j + 2 <= n; j += 2) {
            c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j), xi, _CMP_GE_OQ)));
            c1 = _mm256_add_epi64(c1, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j + 1), xi, _CMP_GE_OQ)));
        }
        for (; j < n; j++)
            c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j), xi, _CMP_GE_OQ)));
        c0 = _mm256_add_epi64(c0, c1);
        best = _mm256_max_pd(best, _mm256_blendv_pd(ninf, xi,
                                 _mm256_castsi256_pd(_mm256_cmpgt_epi64(limit, c0))));
    }
    _mm256_storeu_pd(out, best);
    b = out[0];
    for (l = 1; l < 4; l++)
        if (out[l] > b) b = out[l];
    return b;
}

KSP_TARGET_AVX2 static void ksp_count_ge8_f32_avx2(const float *x, ptrdiff_t n, const float *piv,
                                                   int32_t *cnt)
{
    __m256 p0 = _mm256_loadu_ps(piv);
    __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
    ptrdiff_t j;
    for (j = 0; j + 2 <= n; j += 2) {
        c0 = _mm256_add_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(_mm256_broadcast_ss(x + j), p0, _CMP_GE_OQ)));
        c1 = _mm256_add_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps(_mm256_broadcast_ss(x + j + 1), p0, _CMP_GE_OQ)));
    }
    for (; j < n; j++)
        c0 = _mm256_add_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(_mm256_broadcast_ss(x + j), p0, _CMP_GE_OQ)));
    _mm256_storeu_si256((__m256i *)cnt, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_add_epi32(c0, c1)));
}

KSP_TARGET_AVX2 static void ksp_count_ge8_f64_avx2(const double *x, ptrdiff_t n, const double *piv,
                                                   int32_t *cnt)
{
    const __m256i low32 = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
    __m256d p0 = _mm256_loadu_pd(piv), p1 = _mm256_loadu_pd(piv + 4);
    __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
    ptrdiff_t j;
    for (j = 0; j < n; j++) {
        __m256d xj = _mm256_broadcast_sd(x + j);
        c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(_mm256_cmp_pd(xj, p0, _CMP_GE_OQ)));
        c1 = _mm256_add_epi64(c1, _mm256_castpd_si256(_mm256_cmp_pd(xj, p1, _CMP_GE_OQ)));
    }
    c0 = _mm256_sub_epi64(_mm256_setzero_si256(), c0);
    c1 = _mm256_sub_epi64(_mm256_setzero_si256(), c1);
    _mm_storeu_si128((__m128i *)cnt, _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c0, low32)));
    _mm_storeu_si128((__m128i *)(cnt + 4), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c1, low32)));
}

/* Branch-free compress: keep the lanes >= thr, packed, with their positions. */
KSP_TARGET_AVX2 static inline __attribute__((always_inline)) ptrdiff_t
ksp_gather_f32_avx2_impl(const float *x, ptrdiff_t start, ptrdiff_t m, float thr, int by_abs,
                          const int strict, float *ck, int32_t *ci)
{
    const __m256 am = _mm256_castsi256_ps(_mm256_set1_epi32(by_abs ? 0x7FFFFFFF : -1));
    const __m256 t = _mm256_set1_ps(thr);
    const __m256i eight = _mm256_set1_epi32(8);
    __m256i pos = _mm256_add_epi32(_mm256_set1_epi32((int)start), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    ptrdiff_t j = start, n = 0;
    for (; j + 8 <= m; j += 8) {
        __m256 v = _mm256_and_ps(_mm256_loadu_ps(x + j), am);
        int mask = _mm256_movemask_ps(strict ? _mm256_cmp_ps(v, t, _CMP_GT_OQ) : _mm256_cmp_ps(v, t, _CMP_GE_OQ));
        __m256i perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)ksp_lut8_perm[mask]));
        _mm256_storeu_ps(ck + n, _mm256_permutevar8x32_ps(v, perm));
        _mm256_storeu_si256((__m256i *)(ci + n), _mm256_permutevar8x32_epi32(pos, perm));
        n += __builtin_popcount((unsigned)mask); /* popcnt: keeps the chain on n short */
        pos = _mm256_add_epi32(pos, eight);
    }
    return n + ksp_gather_ge_f32_scalar(x, j, m, thr, by_abs, strict, ck + n, ci + n);
}

KSP_TARGET_AVX2 static ptrdiff_t ksp_gather_ge_f32_avx2(const float *x, ptrdiff_t start, ptrdiff_t m, float thr,
                                                        int by_abs, int strict, float *ck, int32_t *ci)
{
    /* two specialised loops: the compare predicate is an immediate */
    if (strict) return ksp_gather_f32_avx2_impl(x, start, m, thr, by_abs, 1, ck, ci);
    return ksp_gather_f32_avx2_impl(x, start, m, thr, by_abs, 0, ck, ci);
}

KSP_TARGET_AVX2 static inline __attribute__((always_inline)) ptrdiff_t
ksp_gather_f64_avx2_impl(const double *x, ptrdiff_t start, ptrdiff_t m, double thr, int by_abs,
                          const int strict, double *ck, int32_t *ci)
{
    const __m256d am = _mm256_castsi256_pd(by_abs ? _mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL)
                                                  : _mm256_set1_epi32(-1));
    const __m256d t = _mm256_set1_pd(thr);
    const __m256i four = _mm256_set1_epi32(4);
    __m256i pos = _mm256_add_epi32(_mm256_set1_epi32((int)start), _mm256_setr_epi32(0, 1, 2, 3, 0, 0, 0, 0));
    ptrdiff_t j = start, n = 0;
    for (; j + 4 <= m; j += 4) {
        __m256d v = _mm256_and_pd(_mm256_loadu_pd(x + j), am);
        int mask = _mm256_movemask_pd(strict ? _mm256_cmp_pd(v, t, _CMP_GT_OQ) : _mm256_cmp_pd(v, t, _CMP_GE_OQ));
        __m256i perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)ksp_lut4_perm[mask]));
        __m256i pidx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)ksp_lut4_idx[mask]));
        _mm256_storeu_pd(ck + n, _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), perm)));
        _mm_storeu_si128((__m128i *)(ci + n),
                         _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(pos, pidx)));
        n += __builtin_popcount((unsigned)mask); /* popcnt: keeps the chain on n short */
        pos = _mm256_add_epi32(pos, four);
    }
    return n + ksp_gather_ge_f64_scalar(x, j, m, thr, by_abs, strict, ck + n, ci + n);
}

KSP_TARGET_AVX2 static ptrdiff_t ksp_gather_ge_f64_avx2(const double *x, ptrdiff_t start, ptrdiff_t m, double thr,
                                                        int by_abs, int strict, double *ck, int32_t *ci)
{
    /* two specialised loops: the compare predicate is an immediate */
    if (strict) return ksp_gather_f64_avx2_impl(x, start, m, thr, by_abs, 1, ck, ci);
    return ksp_gather_f64_avx2_impl(x, start, m, thr, by_abs, 0, ck, ci);
}

/* Ranks, lanes = 8 (float32) or 4 (float64) consecutive i; reads and writes
 * up to 8 elements past n (slack). */
KSP_TARGET_AVX2 static void ksp_rank_f32_avx2(const float *x, ptrdiff_t n, int32_t *r)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    ptrdiff_t i0, j;
    for (i0 = 0; i0 < n; i0 += 8) {
        __m256 xi = _mm256_loadu_ps(x + i0);
        __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
        ptrdiff_t end = i0 + 8 < n ? i0 + 8 : n;
        /* earlier positions: ties count (they win) */
        for (j = 0; j + 2 <= i0; j += 2) {
            c0 = _mm256_add_epi32(c0, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j), xi, _CMP_GE_OQ)));
            c1 = _mm256_add_epi32(c1, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j + 1), xi, _CMP_GE_OQ)));
        }
        /* the block itself: ties count for the lanes after j */
        for (j = i0; j < end; j++) {
            __m256 xj = _mm256_broadcast_ss(x + j);
            __m256 later = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)(j - i0))));
            __m256 sel = _mm256_or_ps(_mm256_cmp_ps(xj, xi, _CMP_GT_OQ),
                                      _mm256_and_ps(later, _mm256_cmp_ps(xj, xi, _CMP_EQ_OQ)));
            c0 = _mm256_add_epi32(c0, _mm256_castps_si256(sel));
        }
        /* later positions: only greater keys count */
        for (j = end; j + 2 <= n; j += 2) {
            c0 = _mm256_add_epi32(c0, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j), xi, _CMP_GT_OQ)));
            c1 = _mm256_add_epi32(c1, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j + 1), xi, _CMP_GT_OQ)));
        }
        for (; j < n; j++)
            c0 = _mm256_add_epi32(c0, _mm256_castps_si256(
                     _mm256_cmp_ps(_mm256_broadcast_ss(x + j), xi, _CMP_GT_OQ)));
        _mm256_storeu_si256((__m256i *)(r + i0),
                            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_add_epi32(c0, c1)));
    }
}

KSP_TARGET_AVX2 static void ksp_rank_f64_avx2(const double *x, ptrdiff_t n, int32_t *r)
{
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    const __m256i low32 = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
    ptrdiff_t i0, j;
    for (i0 = 0; i0 < n; i0 += 4) {
        __m256d xi = _mm256_loadu_pd(x + i0);
        __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
        ptrdiff_t end = i0 + 4 < n ? i0 + 4 : n;
        for (j = 0; j + 2 <= i0; j += 2) {
            c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j), xi, _CMP_GE_OQ)));
            c1 = _mm256_add_epi64(c1, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j + 1), xi, _CMP_GE_OQ)));
        }
        for (j = i0; j < end; j++) {
            __m256d xj = _mm256_broadcast_sd(x + j);
            __m256d later = _mm256_castsi256_pd(_mm256_cmpgt_epi64(lane, _mm256_set1_epi64x((long long)(j - i0))));
            __m256d sel = _mm256_or_pd(_mm256_cmp_pd(xj, xi, _CMP_GT_OQ),
                                       _mm256_and_pd(later, _mm256_cmp_pd(xj, xi, _CMP_EQ_OQ)));
            c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(sel));
        }
        for (j = end; j + 2 <= n; j += 2) {
            c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j), xi, _CMP_GT_OQ)));
            c1 = _mm256_add_epi64(c1, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j + 1), xi, _CMP_GT_OQ)));
        }
        for (; j < n; j++)
            c0 = _mm256_add_epi64(c0, _mm256_castpd_si256(
                     _mm256_cmp_pd(_mm256_broadcast_sd(x + j), xi, _CMP_GT_OQ)));
        c0 = _mm256_sub_epi64(_mm256_setzero_si256(), _mm256_add_epi64(c0, c1));
        _mm_storeu_si128((__m128i *)(r + i0),
                         _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c0, low32)));
    }
}

#endif /* KSP_HAVE_AVX2 */

/* ------------------------------------------------------------------------ */
/* Dispatch on `level`                                                       */
/* ------------------------------------------------------------------------ */
#if KSP_HAVE_AVX2
#define KSP_IF_AVX2(call) if (level >= KSP_SIMD_AVX2) return call;
#define KSP_IF_AVX2_VOID(call) if (level >= KSP_SIMD_AVX2) { call; return; }
#else
#define KSP_IF_AVX2(call)
#define KSP_IF_AVX2_VOID(call)
#endif
#if KSP_HAVE_SSE2
#define KSP_IF_SSE2(call) if (level >= KSP_SIMD_SSE2) return call;
#define KSP_IF_SSE2_VOID(call) if (level >= KSP_SIMD_SSE2) { call; return; }
#else
#define KSP_IF_SSE2(call)
#define KSP_IF_SSE2_VOID(call)
#endif

#define KSP_DISPATCH(T, SFX)                                                     \
static int ksp_all_finite_##SFX(const T *x, ptrdiff_t m, int level)             \
{                                                                               \
    KSP_IF_AVX2(ksp_all_finite_##SFX##_avx2(x, m))                              \
    KSP_IF_SSE2(ksp_all_finite_##SFX##_sse2(x, m))                              \
    return ksp_all_finite_##SFX##_scalar(x, m);                                 \
}                                                                               \
static int ksp_group_max_##SFX(const T *x, ptrdiff_t m, ptrdiff_t c,            \
                               int by_abs, T *mx, int level)                    \
{                                                                               \
    KSP_IF_AVX2(ksp_group_max_##SFX##_avx2(x, m, c, by_abs, mx))                \
    KSP_IF_SSE2(ksp_group_max_##SFX##_sse2(x, m, c, by_abs, mx))                \
    return ksp_group_max_##SFX##_scalar(x, m, c, by_abs, mx);                   \
}                                                                               \
/* k-th largest of x[0..n) by counting ranks (quadratic: small n only) */      \
static T ksp_kth_direct_##SFX(const T *x, ptrdiff_t n, ptrdiff_t k, int level)  \
{                                                                               \
    T pad[64];                                                                  \
    ptrdiff_t j;                                                                \
    if (n % 8) {                                                                \
        /* the SIMD versions take whole blocks of 8: pad with -inf, which      \
         * leaves the k largest unchanged */                                    \
        if (n > 56) return ksp_kth_largest_##SFX##_scalar(x, n, k);             \
        for (j = 0; j < n; j++) pad[j] = x[j];                                  \
        while (j % 8) pad[j++] = -(T)INFINITY;                                  \
        x = pad;                                                                \
        n = j;                                                                  \
    }                                                                           \
    KSP_IF_AVX2(ksp_kth_largest_##SFX##_avx2(x, n, k))                          \
    KSP_IF_SSE2(ksp_kth_largest_##SFX##_sse2(x, n, k))                          \
    return ksp_kth_largest_##SFX##_scalar(x, n, k);                             \
}                                                                               \
static void ksp_count_ge8_##SFX(const T *x, ptrdiff_t n, const T *piv,          \
                                int32_t *cnt, int level)                        \
{                                                                               \
    KSP_IF_AVX2_VOID(ksp_count_ge8_##SFX##_avx2(x, n, piv, cnt))                \
    KSP_IF_SSE2_VOID(ksp_count_ge8_##SFX##_sse2(x, n, piv, cnt))                \
    ksp_count_ge8_##SFX##_scalar(x, n, piv, cnt);                               \
}                                                                               \
/* k-th largest of x[0..n), 1 <= k <= n: a quickselect with 8 pivots per round \
 * whose ranks are counted with SIMD.  The answer lies in [lo, hi) between the \
 * tightest pivots; keep the entries there (in tmp, n values) and look for the \
 * (k - G)-th largest of them, G = number of entries >= hi.  If nothing was    \
 * dropped, no pivot was too large and lo is the minimum: it is the answer     \
 * when fewer than k entries exceed it, else drop the entries equal to it.    \
 * x is not modified (unless it is tmp). */                                     \
static T ksp_kth_largest_##SFX(const T *x, ptrdiff_t n, ptrdiff_t k, int level, \
                               T *tmp)                                          \
{                                                                               \
    int32_t ge[8];                                                              \
    T piv[8];                                                                   \
    int round;                                                                  \
    for (round = 0;; round++) {                                                 \
        T lo = -(T)INFINITY, hi = (T)INFINITY;                                  \
        ptrdiff_t G = 0, s = 0, j, gt;                                          \
        int p, has_hi = 0;                                                      \
        if (n <= 32 || round >= 16) return ksp_kth_direct_##SFX(x, n, k, level);\
        for (p = 0; p < 8; p++) piv[p] = x[(2 * p + 1) * n / 16];               \
        ksp_count_ge8_##SFX(x, n, piv, ge, level);                              \
        for (p = 0; p < 8; p++) {                                               \
            if (ge[p] >= k) {                                                   \
                if (piv[p] > lo) lo = piv[p];                                   \
            } else if (!has_hi || piv[p] < hi) {                                \
                hi = piv[p];                                                    \
                G = ge[p];                                                      \
                has_hi = 1;                                                     \
            }                                                                   \
        }                                                                       \
        if (has_hi) {                                                           \
            for (j = 0; j < n; j++) {                                           \
                T v = x[j];                                                     \
                tmp[s] = v;                                                     \
                s += (v >= lo) & (v < hi);                                      \
            }                                                                   \
        } else {                                                                \
            for (j = 0; j < n; j++) {                                           \
                T v = x[j];                                                     \
                tmp[s] = v;                                                     \
                s += (v >= lo);                                                 \
            }                                                                   \
        }                                                                       \
        if (s == n) {                                                           \
            for (gt = 0, j = 0; j < n; j++) gt += (tmp[j] > lo);                \
            if (gt < k) return lo;                                              \
            for (s = 0, j = 0; j < n; j++) {                                    \
                T v = tmp[j];                                                   \
                tmp[s] = v;                                                     \
                s += (v > lo);                                                  \
            }                                                                   \
        }                                                                       \
        if (s < k - G) return lo; /* only with NaN: stay memory-safe */         \
        k -= G;                                                                 \
        x = tmp;                                                                \
        n = s;                                                                  \
    }                                                                           \
}                                                                               \
/* keys >= thr (> thr if strict) of x[start..m) and their positions */         \
static ptrdiff_t ksp_gather_ge_##SFX(const T *x, ptrdiff_t start, ptrdiff_t m,  \
                                     T thr, int by_abs, int strict,             \
                                     T *ck, int32_t *ci, int level)             \
{                                                                               \
    KSP_IF_AVX2(ksp_gather_ge_##SFX##_avx2(x, start, m, thr, by_abs, strict, ck, ci)) \
    return ksp_gather_ge_##SFX##_scalar(x, start, m, thr, by_abs, strict, ck, ci); \
}                                                                               \
static void ksp_rank_##SFX(const T *x, ptrdiff_t n, int32_t *r, int level)      \
{                                                                               \
    KSP_IF_AVX2_VOID(ksp_rank_##SFX##_avx2(x, n, r))                            \
    KSP_IF_SSE2_VOID(ksp_rank_##SFX##_sse2(x, n, r))                            \
    ksp_rank_##SFX##_scalar(x, n, r);                                           \
}

KSP_DISPATCH(float, f32)
KSP_DISPATCH(double, f64)

#endif /* KSPARSE_TOPK_SIMD_H */
