/*
 * Row helpers shared by every kernel of ksparse._core, written once for
 * float and double (_f / _d, see _ks_pass.h) and dispatched by ks_simd.level
 * (_ks_simd.h):
 *
 *   ks_axpy(n, a, x, y)      y += a x
 *   ks_dot(n, x, y)          x . y (partial sums in a fixed order per level)
 *   ks_scale(n, a, y)        y *= a
 *   ks_add(n, x, y)          y += x
 *   ks_div(n, a, y)          y /= a
 *   ks_amax(n, y)            max |y|
 *   ks_normalize_row(n, y, recip)
 *                            y /= ||y|| (times 1/||y|| when recip), the old
 *                            norm returned; the sum of squares is scaled by
 *                            max |y| first when plainly it would overflow or
 *                            underflow (ks_normalize_scaled)
 *   ks_firing_update(since, m, n_samples, idx, val, cnt)
 *                            the firing counters: += n_samples, saturating
 *                            at INT64_MAX; units idx[p] with val[p] != 0 (val
 *                            NULL: every listed unit) reset to 0
 *   ks_group_by_unit(...)    the counting sort of (b, j) entries by unit
 *
 * axpy, dot, scale and add are each one body over a vector family (AVX, SSE2,
 * scalar: the same operations in the same order for axpy, scale and add);
 * div and amax are plain C compiled twice (base and AVX2 target).
 */
#if defined(KS_ISA)
/* ======================= per type and instruction set ==================== */

/* y[i] /= a */
KS_ISA_ATTR static void KS_I(ks_div)(Py_ssize_t n, KS_T a, KS_T *KS_RESTRICT y)
{
    for (Py_ssize_t i = 0; i < n; i++) y[i] /= a;
}

/* max_i |y[i]| with 16 independent maxima (vectorisable) */
KS_ISA_ATTR static KS_T KS_I(ks_amax)(Py_ssize_t n, const KS_T *KS_RESTRICT y)
{
    KS_T mx[16], a;
    Py_ssize_t i = 0;
    int j;
    for (j = 0; j < 16; j++) mx[j] = 0;
    for (; i + 16 <= n; i += 16)
        for (j = 0; j < 16; j++) {
            a = y[i + j] < 0 ? -y[i + j] : y[i + j];
            mx[j] = a > mx[j] ? a : mx[j];
        }
    for (j = 0; i < n; i++, j++) {
        a = y[i] < 0 ? -y[i] : y[i];
        mx[j] = a > mx[j] ? a : mx[j];
    }
    for (j = 0; j < 8; j++) mx[j] = mx[j + 8] > mx[j] ? mx[j + 8] : mx[j];
    for (j = 0; j < 4; j++) mx[j] = mx[j + 4] > mx[j] ? mx[j + 4] : mx[j];
    for (j = 0; j < 2; j++) mx[j] = mx[j + 2] > mx[j] ? mx[j + 2] : mx[j];
    return mx[1] > mx[0] ? mx[1] : mx[0];
}

#elif defined(KS_T)
/* ============================== per type ================================= */

#define KS_ISA 0
#include "_ks_isa.h"
#include "_ks_common.h"
#if KS_X86
#undef KS_ISA
#define KS_ISA 2
#include "_ks_isa.h"
#include "_ks_common.h"
#endif
#undef KS_ISA
#define KS_ISA -1
#include "_ks_isa.h"
#undef KS_ISA

KS_FAMILY_FNS(void, KS_N(ks_axpy), (Py_ssize_t n, KS_T a, const KS_T *KS_RESTRICT x, KS_T *KS_RESTRICT y), KS_AXPY_BODY)
KS_FAMILY_FNS(KS_T, KS_N(ks_dot), (Py_ssize_t n, const KS_T *KS_RESTRICT x, const KS_T *KS_RESTRICT y), KS_DOT_BODY)
KS_FAMILY_FNS(void, KS_N(ks_scale), (Py_ssize_t n, KS_T a, KS_T *KS_RESTRICT y), KS_SCALE_BODY)
KS_FAMILY_FNS(void, KS_N(ks_add), (Py_ssize_t n, const KS_T *KS_RESTRICT x, KS_T *KS_RESTRICT y), KS_ADD_BODY)

static inline void KS_N(ks_axpy)(Py_ssize_t n, KS_T a, const KS_T *x, KS_T *y)
{
    KS_PICK(KS_N(ks_axpy))(n, a, x, y);
}
static inline KS_T KS_N(ks_dot)(Py_ssize_t n, const KS_T *x, const KS_T *y)
{
    return KS_PICK(KS_N(ks_dot))(n, x, y);
}
static inline void KS_N(ks_scale)(Py_ssize_t n, KS_T a, KS_T *y)
{
    KS_PICK(KS_N(ks_scale))(n, a, y);
}
static inline void KS_N(ks_add)(Py_ssize_t n, const KS_T *x, KS_T *y)
{
    KS_PICK(KS_N(ks_add))(n, x, y);
}
static inline void KS_N(ks_div)(Py_ssize_t n, KS_T a, KS_T *y)
{
    KS_PICK_ISA(KS_N(ks_div))(n, a, y);
}
static inline KS_T KS_N(ks_amax)(Py_ssize_t n, const KS_T *y)
{
    return KS_PICK_ISA(KS_N(ks_amax))(n, y);
}

/* Norm of a row whose plain sum of squares left the range of T (overflow to
   inf, or underflow below tiny / eps): divide by the largest |y[i]| (as BLAS
   nrm2 scales), so every square is at most 1 and the largest exactly 1, then
   by the norm of the scaled row.  Leaves y with unit norm and returns its old
   norm (inf when that is beyond the range of T); a row of zeros is left as it
   is and 0 returned, a row holding an infinity is divided by it as the plain
   path would (inf returned). */
static KS_T KS_N(ks_normalize_scaled)(Py_ssize_t n, KS_T *y)
{
    KS_T amax = KS_N(ks_amax)(n, y), r;
    if (!(amax > 0)) return amax;
    KS_N(ks_div)(n, amax, y);
    if (amax - amax != 0) return amax;
    r = (KS_T)sqrt((double)KS_N(ks_dot)(n, y, y));
    KS_N(ks_div)(n, r, y);
    return amax * r;
}

/* Scale row y to unit L2 norm and return its old norm.  The plain sum of squares
   serves every row whose result stays in the normal range of T, with a margin of
   one epsilon for squares that underflowed (tiny / eps <= ss < inf): y is divided
   by the norm (multiplied by its reciprocal when recip).  Other rows go through
   ks_normalize_scaled; a row holding NaN is left as it is (NaN returned). */
static inline KS_T KS_N(ks_normalize_row)(Py_ssize_t n, KS_T *y, int recip)
{
    KS_T ss = KS_N(ks_dot)(n, y, y), s;
    if (ss >= (KS_T)(KS_T_MIN / KS_T_EPS) && ss < (KS_T)INFINITY) {
        s = (KS_T)sqrt((double)ss);
        if (recip) KS_N(ks_scale)(n, 1 / s, y);
        else KS_N(ks_div)(n, s, y);
        return s;
    }
    if (ss == ss) return KS_N(ks_normalize_scaled)(n, y);
    return ss;
}

/* Firing counters: every counter += n_samples (>= 0), stopping at INT64_MAX
   rather than wrapping; then the counters of units idx[p] (p < cnt) with
   val[p] != 0 (val NULL: all of them) reset to 0. */
static void KS_N(ks_firing_update)(int64_t *since, Py_ssize_t m, int64_t n_samples,
                                   const int64_t *idx, const KS_T *val, Py_ssize_t cnt)
{
    const int64_t top = INT64_MAX - n_samples;   /* counters above this would overflow */
    Py_ssize_t i, p;
    for (i = 0; i < m; i++) since[i] = since[i] > top ? INT64_MAX : since[i] + n_samples;
    for (p = 0; p < cnt; p++)
        if (val == NULL || val[p] != 0) since[idx[p]] = 0;
}

/* Counting sort of entries by unit (stable).  Entry p < n1 is unit keys1[p];
   entry n1 + p (p < n2) is unit keys2[p].  An entry is kept when its list's a
   is NULL, or a[p] != 0, or d[p] != 0 (a value or a gradient to add).  On
   return the kept entries of unit i are order[starts[i] : starts[i + 1]],
   ascending; starts has m + 1 elements.  When rows1 is not NULL, the entries of
   list 1 also get rows1[q] = order[q] / k1 (their batch row; no division). */
static void KS_N(ks_group_by_unit)(Py_ssize_t m,
        const int64_t *keys1, const KS_T *a1, const KS_T *d1, Py_ssize_t n1,
        const int64_t *keys2, const KS_T *a2, const KS_T *d2, Py_ssize_t n2,
        int64_t *starts, int64_t *order, int64_t *rows1, Py_ssize_t k1)
{
    Py_ssize_t i, p, b = 0, j = 0;
    memset(starts, 0, (size_t)(m + 1) * sizeof(int64_t));
    for (p = 0; p < n1; p++)
        if (a1 == NULL || a1[p] != 0 || d1[p] != 0) starts[keys1[p] + 1]++;
    for (p = 0; p < n2; p++)
        if (a2 == NULL || a2[p] != 0 || d2[p] != 0) starts[keys2[p] + 1]++;
    for (i = 0; i < m; i++) starts[i + 1] += starts[i];
    /* starts[i] serves as unit i's cursor, then is shifted back */
    for (p = 0; p < n1; p++) {
        if (a1 == NULL || a1[p] != 0 || d1[p] != 0) {
            if (rows1 != NULL) rows1[starts[keys1[p]]] = b;
            order[starts[keys1[p]]++] = p;
        }
        if (++j == k1) { j = 0; b++; }
    }
    for (p = 0; p < n2; p++)
        if (a2 == NULL || a2[p] != 0 || d2[p] != 0) order[starts[keys2[p]]++] = n1 + p;
    for (i = m; i > 0; i--) starts[i] = starts[i - 1];
    starts[0] = 0;
}

#else
/* ============================== prelude ================================== */
#ifndef KSPARSE_KS_COMMON_H
#define KSPARSE_KS_COMMON_H

#include "_ks_simd.h"

/* OpenMP, or a stand-in for its thread count */
#ifdef _OPENMP
#include <omp.h>
#define KSPARSE_HAVE_OPENMP 1
#else
#define KSPARSE_HAVE_OPENMP 0
static int omp_get_max_threads(void) { return 1; }
#endif

/* Three functions NAME_y (AVX), NAME_x (SSE2), NAME_s (scalar) from one body
   BODY(O) over vector family O; the x86 families only on x86-64. */
#if KS_X86
#define KS_FAMILY_FNS(RET, NAME, PARAMS, BODY) \
    KS_TARGET_AVX static RET KS_CAT(NAME, _y) PARAMS { BODY(KS_FY) } \
    static RET KS_CAT(NAME, _x) PARAMS { BODY(KS_FX) } \
    static RET KS_CAT(NAME, _s) PARAMS { BODY(KS_FS) }
#define KS_PICK(NAME) (ks_simd.level >= KS_SIMD_AVX2 ? KS_CAT(NAME, _y) \
                       : ks_simd.level >= KS_SIMD_SSE2 ? KS_CAT(NAME, _x) : KS_CAT(NAME, _s))
#define KS_PICK_ISA(NAME) (ks_simd.level >= KS_SIMD_AVX2 ? KS_CAT(NAME, _avx2) : KS_CAT(NAME, _base))
#else
#define KS_FAMILY_FNS(RET, NAME, PARAMS, BODY) \
    static RET KS_CAT(NAME, _s) PARAMS { BODY(KS_FS) }
#define KS_PICK(NAME) KS_CAT(NAME, _s)
#define KS_PICK_ISA(NAME) KS_CAT(NAME, _base)
#endif

/* Bodies: the family loop, then the scalar tail (the same operations). */
#define KS_AXPY_BODY(O) KS_AXPY_BODY_(O)
#define KS_AXPY_BODY_(O) \
    Py_ssize_t c = 0; \
    { const O##_VT va = O##_SET1(a); \
      for (; c + O##_W <= n; c += O##_W) O##_ST(y + c, O##_ADD(O##_LD(y + c), O##_MUL(va, O##_LD(x + c)))); } \
    for (; c < n; c++) y[c] += a * x[c];
#define KS_SCALE_BODY(O) KS_SCALE_BODY_(O)
#define KS_SCALE_BODY_(O) \
    Py_ssize_t c = 0; \
    { const O##_VT va = O##_SET1(a); \
      for (; c + O##_W <= n; c += O##_W) O##_ST(y + c, O##_MUL(va, O##_LD(y + c))); } \
    for (; c < n; c++) y[c] *= a;
#define KS_ADD_BODY(O) KS_ADD_BODY_(O)
#define KS_ADD_BODY_(O) \
    Py_ssize_t c = 0; \
    for (; c + O##_W <= n; c += O##_W) O##_ST(y + c, O##_ADD(O##_LD(y + c), O##_LD(x + c))); \
    for (; c < n; c++) y[c] += x[c];
/* four vector partial sums, combined in a fixed order, then the tail */
#define KS_DOT_BODY(O) KS_DOT_BODY_(O)
#define KS_DOT_BODY_(O) \
    Py_ssize_t c = 0; \
    O##_VT s0 = O##_ZERO, s1 = O##_ZERO, s2 = O##_ZERO, s3 = O##_ZERO; \
    for (; c + 4 * O##_W <= n; c += 4 * O##_W) { \
        s0 = O##_ADD(s0, O##_MUL(O##_LD(x + c), O##_LD(y + c))); \
        s1 = O##_ADD(s1, O##_MUL(O##_LD(x + c + O##_W), O##_LD(y + c + O##_W))); \
        s2 = O##_ADD(s2, O##_MUL(O##_LD(x + c + 2 * O##_W), O##_LD(y + c + 2 * O##_W))); \
        s3 = O##_ADD(s3, O##_MUL(O##_LD(x + c + 3 * O##_W), O##_LD(y + c + 3 * O##_W))); \
    } \
    for (; c + O##_W <= n; c += O##_W) s0 = O##_ADD(s0, O##_MUL(O##_LD(x + c), O##_LD(y + c))); \
    KS_T r = O##_HSUM(O##_ADD(O##_ADD(s0, s1), O##_ADD(s2, s3))); \
    for (; c < n; c++) r += x[c] * y[c]; \
    return r;

#define KS_PASS 1
#include "_ks_pass.h"
#include "_ks_common.h"
#undef KS_PASS
#define KS_PASS 2
#include "_ks_pass.h"
#include "_ks_common.h"
#undef KS_PASS
#define KS_PASS 0
#include "_ks_pass.h"
#undef KS_PASS

#endif /* KSPARSE_KS_COMMON_H */
#endif
