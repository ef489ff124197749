/*
 * Sparse-code row kernels (ksparse/_sparse.pxi), written once with GCC/Clang
 * vector extensions of 32 bytes, instantiated for float and double and
 * compiled twice from the same source: base (SSE2 pairs on x86-64) and AVX2
 * target; ks_simd.level picks one (_ks_simd.h).  Neither uses FMA, so both
 * give the same IEEE results and a vectorised body equals its scalar tail.
 *
 *   ks_sp_combine(n, dst, accumulate, init, base, ld, rows, coef, cnt)
 *       dst[c] = start[c] + sum_q coef[q] base[rows[q] ld + c], terms added in
 *       q order; start is dst itself (accumulate), init, or zero.
 *   ks_sp_latent_bwd(n, wrow, dwrow, G, ld, brow, coef, pos, cnt, dvals)
 *       one unit of the decoder backward: for its (b, coef, pos) triples in
 *       order, dwrow += coef G[b] and dvals[pos] = G[b] . wrow.
 */
#if defined(KS_ISA)
/* ======================= per type and instruction set ==================== */

/* Full chunks of 8 vectors stay in registers across the cnt rows. */
KS_ISA_ATTR static void KS_I(ks_sp_combine)(Py_ssize_t n, KS_T *KS_RESTRICT dst, int accumulate,
        const KS_T *KS_RESTRICT init, const KS_T *KS_RESTRICT base, Py_ssize_t ld,
        const int64_t *KS_RESTRICT rows, const KS_T *KS_RESTRICT coef, Py_ssize_t cnt)
{
    Py_ssize_t c0 = 0, q, i, w;
    const Py_ssize_t L = (Py_ssize_t)(sizeof(KS_VT) / sizeof(KS_T));
    for (; c0 + 8 * L <= n; c0 += 8 * L) {
        KS_VT a0, a1, a2, a3, a4, a5, a6, a7;
        const KS_T *s0 = accumulate ? dst + c0 : (init ? init + c0 : NULL);
        if (s0) {
            a0 = KS_VLD(s0); a1 = KS_VLD(s0 + L); a2 = KS_VLD(s0 + 2 * L); a3 = KS_VLD(s0 + 3 * L);
            a4 = KS_VLD(s0 + 4 * L); a5 = KS_VLD(s0 + 5 * L); a6 = KS_VLD(s0 + 6 * L);
            a7 = KS_VLD(s0 + 7 * L);
        } else {
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = (KS_VT){0};
        }
        for (q = 0; q < cnt; q++) {
            const KS_T *x = base + rows[q] * ld + c0;
            const KS_T c = coef[q];
            a0 += c * KS_VLD(x); a1 += c * KS_VLD(x + L); a2 += c * KS_VLD(x + 2 * L);
            a3 += c * KS_VLD(x + 3 * L); a4 += c * KS_VLD(x + 4 * L);
            a5 += c * KS_VLD(x + 5 * L); a6 += c * KS_VLD(x + 6 * L);
            a7 += c * KS_VLD(x + 7 * L);
        }
        KS_VST(dst + c0, a0); KS_VST(dst + c0 + L, a1); KS_VST(dst + c0 + 2 * L, a2);
        KS_VST(dst + c0 + 3 * L, a3); KS_VST(dst + c0 + 4 * L, a4);
        KS_VST(dst + c0 + 5 * L, a5); KS_VST(dst + c0 + 6 * L, a6);
        KS_VST(dst + c0 + 7 * L, a7);
    }
    w = n - c0;
    if (w > 0) {
        KS_T acc[8 * sizeof(KS_VT) / sizeof(KS_T)];
        if (accumulate) { for (i = 0; i < w; i++) acc[i] = dst[c0 + i]; }
        else if (init) { for (i = 0; i < w; i++) acc[i] = init[c0 + i]; }
        else { for (i = 0; i < w; i++) acc[i] = 0; }
        for (q = 0; q < cnt; q++) {
            const KS_T *x = base + rows[q] * ld + c0;
            const KS_T c = coef[q];
            for (i = 0; i < w; i++) acc[i] += c * x[i];
        }
        for (i = 0; i < w; i++) dst[c0 + i] = acc[i];
    }
}

/* The rows W[r] and dW[r] stay in L1 across the triples; each dot uses four
   vector partial sums reduced in a fixed order. */
KS_ISA_ATTR static void KS_I(ks_sp_latent_bwd)(Py_ssize_t n, const KS_T *KS_RESTRICT wrow,
        KS_T *KS_RESTRICT dwrow, const KS_T *KS_RESTRICT G, Py_ssize_t ld,
        const int64_t *KS_RESTRICT brow, const KS_T *KS_RESTRICT coef,
        const int64_t *KS_RESTRICT pos, Py_ssize_t cnt, KS_T *KS_RESTRICT dvals)
{
    const Py_ssize_t L = (Py_ssize_t)(sizeof(KS_VT) / sizeof(KS_T));
    Py_ssize_t q, l, c;
    for (q = 0; q < cnt; q++) {
        const KS_T *g = G + brow[q] * ld;
        const KS_T cf = coef[q];
        KS_VT p0 = (KS_VT){0}, p1 = (KS_VT){0}, p2 = (KS_VT){0}, p3 = (KS_VT){0};
        KS_T r = 0;
        for (c = 0; c + 4 * L <= n; c += 4 * L) {
            KS_VT g0 = KS_VLD(g + c), g1 = KS_VLD(g + c + L);
            KS_VT g2 = KS_VLD(g + c + 2 * L), g3 = KS_VLD(g + c + 3 * L);
            KS_VST(dwrow + c, KS_VLD(dwrow + c) + cf * g0);
            KS_VST(dwrow + c + L, KS_VLD(dwrow + c + L) + cf * g1);
            KS_VST(dwrow + c + 2 * L, KS_VLD(dwrow + c + 2 * L) + cf * g2);
            KS_VST(dwrow + c + 3 * L, KS_VLD(dwrow + c + 3 * L) + cf * g3);
            p0 += g0 * KS_VLD(wrow + c);
            p1 += g1 * KS_VLD(wrow + c + L);
            p2 += g2 * KS_VLD(wrow + c + 2 * L);
            p3 += g3 * KS_VLD(wrow + c + 3 * L);
        }
        for (; c + L <= n; c += L) {
            KS_VT g0 = KS_VLD(g + c);
            KS_VST(dwrow + c, KS_VLD(dwrow + c) + cf * g0);
            p0 += g0 * KS_VLD(wrow + c);
        }
        p0 = (p0 + p1) + (p2 + p3);
        for (l = 0; l < L; l++) r += p0[l];
        for (; c < n; c++) {
            dwrow[c] += cf * g[c];
            r += g[c] * wrow[c];
        }
        dvals[pos[q]] = r;
    }
}

#elif defined(KS_T)
/* ============================== per type ================================= */

typedef KS_T KS_N(ks_sp_vec) __attribute__((vector_size(32)));
typedef KS_T KS_N(ks_sp_vecu) __attribute__((vector_size(32), aligned(sizeof(KS_T)), may_alias));
#define KS_VT KS_N(ks_sp_vec)
#define KS_VLD(p) (*(const KS_N(ks_sp_vecu) *)(p))
#define KS_VST(p, v) (*(KS_N(ks_sp_vecu) *)(p) = (v))

#define KS_ISA 0
#include "_ks_isa.h"
#include "_ks_sparse.h"
#if KS_X86
#undef KS_ISA
#define KS_ISA 2
#include "_ks_isa.h"
#include "_ks_sparse.h"
#endif
#undef KS_ISA
#define KS_ISA -1
#include "_ks_isa.h"
#undef KS_ISA
#undef KS_VT
#undef KS_VLD
#undef KS_VST

static inline void KS_N(ks_sp_combine)(Py_ssize_t n, KS_T *dst, int accumulate, const KS_T *init,
        const KS_T *base, Py_ssize_t ld, const int64_t *rows, const KS_T *coef, Py_ssize_t cnt)
{
    KS_PICK_ISA(KS_N(ks_sp_combine))(n, dst, accumulate, init, base, ld, rows, coef, cnt);
}
static inline void KS_N(ks_sp_latent_bwd)(Py_ssize_t n, const KS_T *wrow, KS_T *dwrow, const KS_T *G,
        Py_ssize_t ld, const int64_t *brow, const KS_T *coef, const int64_t *pos, Py_ssize_t cnt,
        KS_T *dvals)
{
    KS_PICK_ISA(KS_N(ks_sp_latent_bwd))(n, wrow, dwrow, G, ld, brow, coef, pos, cnt, dvals);
}

#else
/* ============================== prelude ================================== */
#ifndef KSPARSE_KS_SPARSE_H
#define KSPARSE_KS_SPARSE_H

#include "_ks_common.h"

#define KS_PASS 1
#include "_ks_pass.h"
#include "_ks_sparse.h"
#undef KS_PASS
#define KS_PASS 2
#include "_ks_pass.h"
#include "_ks_sparse.h"
#undef KS_PASS
#define KS_PASS 0
#include "_ks_pass.h"
#undef KS_PASS

#endif /* KSPARSE_KS_SPARSE_H */
#endif
