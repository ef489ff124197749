/*
 * Optimizer updates of ksparse._core, each rule written once (one body over a
 * vector family, instantiated for float and double and for AVX, SSE2 and
 * scalar code, see _ks_simd.h), all paths doing the same IEEE operations in
 * the same order (no FMA): results do not depend on the instruction set.
 *
 *   ks_adam_row(n, w, g, m, v, wd, b1, omb1, b2, omb2, a, c, eps)
 *       g' = g + wd w (when wd != 0; g NULL: a zero gradient)
 *       m = b1 m + omb1 g';  v = b2 v + omb2 g' g';  w -= (a m) / (sqrt(v) c + eps)
 *     The one Adam of the package: the optimizer objects (ks_opt_segment) and
 *     the fused training step (_ks_step.h's callers) both call it.
 *   ks_opt_segment(kind, n, p, g, s1, s2, hyper)
 *       one contiguous run of a parameter, rule `kind` (0 SGD, 1 momentum,
 *       2 Nesterov, 3 Adam, 4 RMSprop, 5 AdaGrad; hyper layout in _optim.pxi).
 */
#if defined(KS_T)
/* ============================== per type ================================= */

KS_FAMILY_FNS(void, KS_N(ks_adam_row), (Py_ssize_t n, KS_T *KS_RESTRICT w, const KS_T *KS_RESTRICT g,
              KS_T *KS_RESTRICT m, KS_T *KS_RESTRICT v, KS_T wd, KS_T b1, KS_T omb1, KS_T b2,
              KS_T omb2, KS_T a, KS_T c, KS_T eps), KS_ADAM_BODY)
KS_FAMILY_FNS(void, KS_N(ks_opt_sgd), (Py_ssize_t n, KS_T *KS_RESTRICT p, const KS_T *KS_RESTRICT g,
              KS_T lr, KS_T wd), KS_SGD_BODY)
KS_FAMILY_FNS(void, KS_N(ks_opt_momentum), (Py_ssize_t n, KS_T *KS_RESTRICT p, const KS_T *KS_RESTRICT g,
              KS_T *KS_RESTRICT s, KS_T lr, KS_T wd, KS_T mu, int nesterov), KS_MOM_BODY)
KS_FAMILY_FNS(void, KS_N(ks_opt_rmsprop), (Py_ssize_t n, KS_T *KS_RESTRICT p, const KS_T *KS_RESTRICT g,
              KS_T *KS_RESTRICT v, KS_T lr, KS_T wd, KS_T alpha, KS_T oma, KS_T eps), KS_RMS_BODY)
KS_FAMILY_FNS(void, KS_N(ks_opt_adagrad), (Py_ssize_t n, KS_T *KS_RESTRICT p, const KS_T *KS_RESTRICT g,
              KS_T *KS_RESTRICT s, KS_T lr, KS_T wd, KS_T eps), KS_ADAGRAD_BODY)

static inline void KS_N(ks_adam_row)(Py_ssize_t n, KS_T *w, const KS_T *g, KS_T *m, KS_T *v,
                                     KS_T wd, KS_T b1, KS_T omb1, KS_T b2, KS_T omb2,
                                     KS_T a, KS_T c, KS_T eps)
{
    KS_PICK(KS_N(ks_adam_row))(n, w, g, m, v, wd, b1, omb1, b2, omb2, a, c, eps);
}

/* hyper layout per kind: 0: lr, wd   1/2: lr, wd, mu   3: wd, b1, b2, a, c, eps
   4: lr, wd, alpha, eps   5: lr, wd, eps */
static void KS_N(ks_opt_segment)(int kind, Py_ssize_t n, KS_T *p, const KS_T *g,
                                 KS_T *s1, KS_T *s2, const double *h)
{
    switch (kind) {
    case 0: KS_PICK(KS_N(ks_opt_sgd))(n, p, g, (KS_T)h[0], (KS_T)h[1]); break;
    case 1: case 2:
        KS_PICK(KS_N(ks_opt_momentum))(n, p, g, s1, (KS_T)h[0], (KS_T)h[1], (KS_T)h[2], kind == 2);
        break;
    case 3:
        KS_N(ks_adam_row)(n, p, g, s1, s2, (KS_T)h[0], (KS_T)h[1], (KS_T)(1.0 - h[1]), (KS_T)h[2],
                          (KS_T)(1.0 - h[2]), (KS_T)h[3], (KS_T)h[4], (KS_T)h[5]);
        break;
    case 4:
        KS_PICK(KS_N(ks_opt_rmsprop))(n, p, g, s1, (KS_T)h[0], (KS_T)h[1], (KS_T)h[2],
                                      (KS_T)(1.0 - h[2]), (KS_T)h[3]);
        break;
    case 5: KS_PICK(KS_N(ks_opt_adagrad))(n, p, g, s1, (KS_T)h[0], (KS_T)h[1], (KS_T)h[2]); break;
    default: break;
    }
}

#else
/* ============================== prelude ================================== */
#ifndef KSPARSE_KS_OPTIM_H
#define KSPARSE_KS_OPTIM_H

#include "_ks_common.h"

/* g' = g (+ wd p) at offset i, the gradient loaded by GL; the scalar family is every tail */
#define KS_OPT_GRAD_(O, GL) \
    O##_VT gi = GL; \
    if (wd != 0) gi = O##_ADD(gi, O##_MUL(O##_SET1(wd), O##_LD(w + i)));
#define KS_OPT_GRAD(O) KS_OPT_GRAD_(O, O##_LD(g + i))

/* g NULL (a zero gradient) gets loops of its own: no test per element */
#define KS_ADAM_BODY(O) KS_ADAM_BODY_(O)
#define KS_ADAM_LOOP(O, GL) KS_ADAM_LOOP_(O, GL)
#define KS_ADAM_BODY_(O) Py_ssize_t i = 0; \
    if (g) { KS_ADAM_LOOP_(O, O##_LD(g + i)) KS_ADAM_LOOP(KS_FS, g[i]) } \
    else { KS_ADAM_LOOP_(O, O##_ZERO) KS_ADAM_LOOP(KS_FS, (KS_T)0) }
#define KS_ADAM_LOOP_(O, GL) { \
    const O##_VT vb1 = O##_SET1(b1), vomb1 = O##_SET1(omb1), vb2 = O##_SET1(b2); \
    const O##_VT vomb2 = O##_SET1(omb2), va = O##_SET1(a), vc = O##_SET1(c), veps = O##_SET1(eps); \
    for (; i + O##_W <= n; i += O##_W) { \
        KS_OPT_GRAD_(O, GL) \
        O##_VT mi = O##_ADD(O##_MUL(vb1, O##_LD(m + i)), O##_MUL(vomb1, gi)); \
        O##_VT vi = O##_ADD(O##_MUL(vb2, O##_LD(v + i)), O##_MUL(vomb2, O##_MUL(gi, gi))); \
        O##_ST(m + i, mi); \
        O##_ST(v + i, vi); \
        O##_ST(w + i, O##_SUB(O##_LD(w + i), O##_DIV(O##_MUL(va, mi), \
                      O##_ADD(O##_MUL(O##_SQRT(vi), vc), veps)))); } }

#define KS_SGD_BODY(O) KS_SGD_BODY_(O)
#define KS_SGD_LOOP(O) KS_SGD_LOOP_(O)
#define KS_SGD_BODY_(O) Py_ssize_t i = 0; KS_T *w = p; KS_SGD_LOOP_(O) KS_SGD_LOOP(KS_FS)
#define KS_SGD_LOOP_(O) { \
    const O##_VT vlr = O##_SET1(lr); \
    for (; i + O##_W <= n; i += O##_W) { \
        KS_OPT_GRAD(O) \
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_MUL(vlr, gi))); } }

/* buf = mu buf + g; p -= lr (nesterov ? g + mu buf : buf) */
#define KS_MOM_BODY(O) KS_MOM_BODY_(O)
#define KS_MOM_LOOP(O) KS_MOM_LOOP_(O)
#define KS_MOM_BODY_(O) Py_ssize_t i = 0; KS_T *w = p; KS_MOM_LOOP_(O) KS_MOM_LOOP(KS_FS)
#define KS_MOM_LOOP_(O) { \
    const O##_VT vlr = O##_SET1(lr), vmu = O##_SET1(mu); \
    for (; i + O##_W <= n; i += O##_W) { \
        KS_OPT_GRAD(O) \
        O##_VT bi = O##_ADD(O##_MUL(vmu, O##_LD(s + i)), gi); \
        O##_ST(s + i, bi); \
        O##_VT di = nesterov ? O##_ADD(gi, O##_MUL(vmu, bi)) : bi; \
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_MUL(vlr, di))); } }

#define KS_RMS_BODY(O) KS_RMS_BODY_(O)
#define KS_RMS_LOOP(O) KS_RMS_LOOP_(O)
#define KS_RMS_BODY_(O) Py_ssize_t i = 0; KS_T *w = p; KS_RMS_LOOP_(O) KS_RMS_LOOP(KS_FS)
#define KS_RMS_LOOP_(O) { \
    const O##_VT vlr = O##_SET1(lr), valpha = O##_SET1(alpha), voma = O##_SET1(oma), veps = O##_SET1(eps); \
    for (; i + O##_W <= n; i += O##_W) { \
        KS_OPT_GRAD(O) \
        O##_VT vi = O##_ADD(O##_MUL(valpha, O##_LD(v + i)), O##_MUL(voma, O##_MUL(gi, gi))); \
        O##_ST(v + i, vi); \
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_DIV(O##_MUL(vlr, gi), O##_ADD(O##_SQRT(vi), veps)))); } }

#define KS_ADAGRAD_BODY(O) KS_ADAGRAD_BODY_(O)
#define KS_ADAGRAD_LOOP(O) KS_ADAGRAD_LOOP_(O)
#define KS_ADAGRAD_BODY_(O) Py_ssize_t i = 0; KS_T *w = p; KS_ADAGRAD_LOOP_(O) KS_ADAGRAD_LOOP(KS_FS)
#define KS_ADAGRAD_LOOP_(O) { \
    const O##_VT vlr = O##_SET1(lr), veps = O##_SET1(eps); \
    for (; i + O##_W <= n; i += O##_W) { \
        KS_OPT_GRAD(O) \
        O##_VT si = O##_ADD(O##_LD(s + i), O##_MUL(gi, gi)); \
        O##_ST(s + i, si); \
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_DIV(O##_MUL(vlr, gi), O##_ADD(O##_SQRT(si), veps)))); } }

#define KS_PASS 1
#include "_ks_pass.h"
#include "_ks_optim.h"
#undef KS_PASS
#define KS_PASS 2
#include "_ks_pass.h"
#include "_ks_optim.h"
#undef KS_PASS
#define KS_PASS 0
#include "_ks_pass.h"
#undef KS_PASS

#endif /* KSPARSE_KS_OPTIM_H */
#endif
