/*
 * Row kernels of the fused training step (ksparse/_step.pxi), each written once
 * over a vector family (AVX, SSE2, scalar; float and double), dispatched by
 * ks_simd.level.  Adam, axpy, dot, scale and add come from _ks_optim.h and
 * _ks_common.h, shared with the other kernels.
 *
 *   ks_axpy4(n, y, x0..x3, a0..a3)   y += (a0 x0 + a1 x1) + (a2 x2 + a3 x3)
 *   ks_set4(n, y, x0..x3, a0..a3)    y  = (a0 x0 + a1 x1) + (a2 x2 + a3 x3)
 *   ks_dot4(n, x, y0..y3, out)       out[q] = x . yq (x loaded once)
 *   ks_sqerr(n, g, x, scale)         g = scale (g - x); returns sum (g - x)^2
 *                                    in double (float differences widened)
 *   ks_sqerr_clip(n, g, x, resid, scale, lo, hi)
 *                                    the same with h = min(hi, max(lo, g)) (NaN
 *                                    stays NaN), g = 0 where the clip is active,
 *                                    and resid = x - h when resid is not NULL
 *
 * axpy4 and set4 do the same IEEE operations on every path; the sums of dot4
 * and sqerr are in a fixed order per path.
 */
#if defined(KS_T)
/* ============================== per type ================================= */

KS_FAMILY_FNS(void, KS_N(ks_axpy4), (Py_ssize_t n, KS_T *KS_RESTRICT y, const KS_T *x0, const KS_T *x1,
              const KS_T *x2, const KS_T *x3, KS_T a0, KS_T a1, KS_T a2, KS_T a3), KS_AXPY4_BODY)
KS_FAMILY_FNS(void, KS_N(ks_set4), (Py_ssize_t n, KS_T *KS_RESTRICT y, const KS_T *x0, const KS_T *x1,
              const KS_T *x2, const KS_T *x3, KS_T a0, KS_T a1, KS_T a2, KS_T a3), KS_SET4_BODY)
KS_FAMILY_FNS(void, KS_N(ks_dot4), (Py_ssize_t n, const KS_T *KS_RESTRICT x, const KS_T *y0, const KS_T *y1,
              const KS_T *y2, const KS_T *y3, KS_T *out), KS_DOT4_BODY)
KS_FAMILY_FNS(double, KS_N(ks_sqerr), (Py_ssize_t n, KS_T *KS_RESTRICT g, const KS_T *KS_RESTRICT x,
              KS_T scale), KS_SQERR_BODY)
KS_FAMILY_FNS(double, KS_N(ks_sqerr_clip), (Py_ssize_t n, KS_T *KS_RESTRICT g, const KS_T *KS_RESTRICT x,
              KS_T *KS_RESTRICT resid, KS_T scale, KS_T lo, KS_T hi), KS_SQERR_CLIP_BODY)

static inline void KS_N(ks_axpy4)(Py_ssize_t n, KS_T *y, const KS_T *x0, const KS_T *x1, const KS_T *x2,
                                  const KS_T *x3, KS_T a0, KS_T a1, KS_T a2, KS_T a3)
{
    KS_PICK(KS_N(ks_axpy4))(n, y, x0, x1, x2, x3, a0, a1, a2, a3);
}
static inline void KS_N(ks_set4)(Py_ssize_t n, KS_T *y, const KS_T *x0, const KS_T *x1, const KS_T *x2,
                                 const KS_T *x3, KS_T a0, KS_T a1, KS_T a2, KS_T a3)
{
    KS_PICK(KS_N(ks_set4))(n, y, x0, x1, x2, x3, a0, a1, a2, a3);
}
static inline void KS_N(ks_dot4)(Py_ssize_t n, const KS_T *x, const KS_T *y0, const KS_T *y1,
                                 const KS_T *y2, const KS_T *y3, KS_T *out)
{
    KS_PICK(KS_N(ks_dot4))(n, x, y0, y1, y2, y3, out);
}
static inline double KS_N(ks_sqerr)(Py_ssize_t n, KS_T *g, const KS_T *x, KS_T scale)
{
    return KS_PICK(KS_N(ks_sqerr))(n, g, x, scale);
}
static inline double KS_N(ks_sqerr_clip)(Py_ssize_t n, KS_T *g, const KS_T *x, KS_T *resid,
                                         KS_T scale, KS_T lo, KS_T hi)
{
    return KS_PICK(KS_N(ks_sqerr_clip))(n, g, x, resid, scale, lo, hi);
}

#else
/* ============================== prelude ================================== */
#ifndef KSPARSE_KS_STEP_H
#define KSPARSE_KS_STEP_H

#include "_ks_common.h"

#define KS_COMB4(O, c) O##_ADD(O##_ADD(O##_MUL(v0, O##_LD(x0 + c)), O##_MUL(v1, O##_LD(x1 + c))), \
                               O##_ADD(O##_MUL(v2, O##_LD(x2 + c)), O##_MUL(v3, O##_LD(x3 + c))))
#define KS_AXPY4_BODY(O) KS_AXPY4_BODY_(O)
#define KS_AXPY4_LOOP(O) KS_AXPY4_LOOP_(O)
#define KS_AXPY4_BODY_(O) Py_ssize_t c = 0; KS_AXPY4_LOOP_(O) KS_AXPY4_LOOP(KS_FS)
#define KS_AXPY4_LOOP_(O) { \
    const O##_VT v0 = O##_SET1(a0), v1 = O##_SET1(a1), v2 = O##_SET1(a2), v3 = O##_SET1(a3); \
    for (; c + O##_W <= n; c += O##_W) O##_ST(y + c, O##_ADD(O##_LD(y + c), KS_COMB4(O, c))); }
#define KS_SET4_BODY(O) KS_SET4_BODY_(O)
#define KS_SET4_LOOP(O) KS_SET4_LOOP_(O)
#define KS_SET4_BODY_(O) Py_ssize_t c = 0; KS_SET4_LOOP_(O) KS_SET4_LOOP(KS_FS)
#define KS_SET4_LOOP_(O) { \
    const O##_VT v0 = O##_SET1(a0), v1 = O##_SET1(a1), v2 = O##_SET1(a2), v3 = O##_SET1(a3); \
    for (; c + O##_W <= n; c += O##_W) O##_ST(y + c, KS_COMB4(O, c)); }

#define KS_DOT4_BODY(O) KS_DOT4_BODY_(O)
#define KS_DOT4_BODY_(O) \
    Py_ssize_t c = 0, t; \
    O##_VT s0 = O##_ZERO, s1 = O##_ZERO, s2 = O##_ZERO, s3 = O##_ZERO; \
    for (; c + O##_W <= n; c += O##_W) { \
        const O##_VT xc = O##_LD(x + c); \
        s0 = O##_ADD(s0, O##_MUL(xc, O##_LD(y0 + c))); \
        s1 = O##_ADD(s1, O##_MUL(xc, O##_LD(y1 + c))); \
        s2 = O##_ADD(s2, O##_MUL(xc, O##_LD(y2 + c))); \
        s3 = O##_ADD(s3, O##_MUL(xc, O##_LD(y3 + c))); \
    } \
    KS_T r0 = O##_HSUM(s0), r1 = O##_HSUM(s1), r2 = O##_HSUM(s2), r3 = O##_HSUM(s3); \
    for (t = c; t < n; t++) { \
        r0 += x[t] * y0[t]; r1 += x[t] * y1[t]; r2 += x[t] * y2[t]; r3 += x[t] * y3[t]; \
    } \
    out[0] = r0; out[1] = r1; out[2] = r2; out[3] = r3;

#define KS_SQERR_BODY(O) KS_SQERR_BODY_(O)
#define KS_SQERR_LOOP(O) KS_SQERR_LOOP_(O)
#define KS_SQERR_BODY_(O) double err = 0.0; Py_ssize_t c = 0; KS_SQERR_LOOP_(O) KS_SQERR_LOOP(KS_FS) return err;
#define KS_SQERR_LOOP_(O) { \
    const O##_VT vs = O##_SET1(scale); \
    O##_DVT e0 = O##_DZERO, e1 = O##_DZERO; \
    for (; c + O##_W <= n; c += O##_W) { \
        O##_VT d = O##_SUB(O##_LD(g + c), O##_LD(x + c)); \
        O##_SQACC(e0, e1, d); \
        O##_ST(g + c, O##_MUL(vs, d)); \
    } \
    err += O##_DHSUM(O##_DADD(e0, e1)); }

#define KS_SQERR_CLIP_BODY(O) KS_SQERR_CLIP_BODY_(O)
#define KS_SQERR_CLIP_LOOP(O) KS_SQERR_CLIP_LOOP_(O)
#define KS_SQERR_CLIP_BODY_(O) double err = 0.0; Py_ssize_t c = 0; \
    KS_SQERR_CLIP_LOOP_(O) KS_SQERR_CLIP_LOOP(KS_FS) return err;
#define KS_SQERR_CLIP_LOOP_(O) { \
    const O##_VT vs = O##_SET1(scale), vlo = O##_SET1(lo), vhi = O##_SET1(hi); \
    O##_DVT e0 = O##_DZERO, e1 = O##_DZERO; \
    for (; c + O##_W <= n; c += O##_W) { \
        O##_VT h = O##_LD(g + c); \
        O##_VT hc = O##_CLAMP(vlo, vhi, h); \
        O##_VT xc = O##_LD(x + c); \
        O##_VT d = O##_SUB(hc, xc); \
        O##_SQACC(e0, e1, d); \
        O##_ST(g + c, O##_KEEPEQ(h, hc, O##_MUL(vs, d))); \
        if (resid) O##_ST(resid + c, O##_SUB(xc, hc)); \
    } \
    err += O##_DHSUM(O##_DADD(e0, e1)); }

#define KS_PASS 1
#include "_ks_pass.h"
#include "_ks_step.h"
#undef KS_PASS
#define KS_PASS 2
#include "_ks_pass.h"
#include "_ks_step.h"
#undef KS_PASS
#define KS_PASS 0
#include "_ks_pass.h"
#undef KS_PASS

#endif /* KSPARSE_KS_STEP_H */
#endif
