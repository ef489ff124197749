# Kernels for ksparse._core (included by _core.pyx); see its docstring.
#
# Fused in-place optimizer updates: one streaming pass over a parameter, its
# gradient and its state per step (SGD, momentum/Nesterov, Adam, RMSprop,
# AdaGrad), dense or restricted to given rows (lazy / row-sparse updates).
#
# Every parameter is seen as a flat run of ``size`` elements made of rows of
# ``row_len`` elements (a 1-D parameter has rows of length 1).  The dense
# update walks fixed chunks of OPT_CHUNK elements in parallel; the lazy update
# walks the listed rows in parallel.  Each element's arithmetic is independent
# of the others and of the chunking (SSE2 or AVX intrinsics picked at run time,
# scalar tails in the same operation order, no FMA), so results do not depend
# on the thread count.
#
# Update rules (g = grad + weight_decay * param when weight_decay != 0):
#   kind 0 SGD       p -= lr * g
#   kind 1 momentum  buf = mu * buf + g;  p -= lr * buf
#   kind 2 Nesterov  buf = mu * buf + g;  p -= lr * (g + mu * buf)
#   kind 3 Adam      m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g * g
#                    p -= (a * m) / (sqrt(v) * c + eps)
#                    with a = lr / (1 - b1**t), c = 1 / sqrt(1 - b2**t)
#   kind 4 RMSprop   v = alpha * v + (1 - alpha) * g * g;  p -= (lr * g) / (sqrt(v) + eps)
#   kind 5 AdaGrad   s = s + g * g;  p -= (lr * g) / (sqrt(s) + eps)
# The hyper-parameters arrive as a float64 array ``hyper`` (layout per kind
# below, built by ksparse/optim.py) and are rounded to the parameter's dtype.

from libc.stdint cimport int64_t

cdef extern from *:
    """
    #include <math.h>
    #if defined(_MSC_VER)
    #define KS_OPT_RESTRICT __restrict
    #else
    #define KS_OPT_RESTRICT __restrict__
    #endif

    /* Elementwise ops on "vectors" of one scalar (also the tail of every SIMD loop). */
    #define KS_SF_VT float
    #define KS_SF_W 1
    #define KS_SF_LD(x) (*(x))
    #define KS_SF_ST(x, a) (*(x) = (a))
    #define KS_SF_SET1(a) (a)
    #define KS_SF_ADD(a, b) ((a) + (b))
    #define KS_SF_SUB(a, b) ((a) - (b))
    #define KS_SF_MUL(a, b) ((a) * (b))
    #define KS_SF_DIV(a, b) ((a) / (b))
    #define KS_SF_SQRT(a) sqrtf(a)
    #define KS_SD_VT double
    #define KS_SD_W 1
    #define KS_SD_LD(x) (*(x))
    #define KS_SD_ST(x, a) (*(x) = (a))
    #define KS_SD_SET1(a) (a)
    #define KS_SD_ADD(a, b) ((a) + (b))
    #define KS_SD_SUB(a, b) ((a) - (b))
    #define KS_SD_MUL(a, b) ((a) * (b))
    #define KS_SD_DIV(a, b) ((a) / (b))
    #define KS_SD_SQRT(a) sqrt(a)

    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    #define KS_OPT_X86 1
    #include <immintrin.h>
    /* SSE2 (baseline on x86-64) and AVX; AVX is chosen at run time.  No FMA is
       used, so every path rounds exactly like the scalar code. */
    #define KS_XF_VT __m128
    #define KS_XF_W 4
    #define KS_XF_LD _mm_loadu_ps
    #define KS_XF_ST _mm_storeu_ps
    #define KS_XF_SET1 _mm_set1_ps
    #define KS_XF_ADD _mm_add_ps
    #define KS_XF_SUB _mm_sub_ps
    #define KS_XF_MUL _mm_mul_ps
    #define KS_XF_DIV _mm_div_ps
    #define KS_XF_SQRT _mm_sqrt_ps
    #define KS_XD_VT __m128d
    #define KS_XD_W 2
    #define KS_XD_LD _mm_loadu_pd
    #define KS_XD_ST _mm_storeu_pd
    #define KS_XD_SET1 _mm_set1_pd
    #define KS_XD_ADD _mm_add_pd
    #define KS_XD_SUB _mm_sub_pd
    #define KS_XD_MUL _mm_mul_pd
    #define KS_XD_DIV _mm_div_pd
    #define KS_XD_SQRT _mm_sqrt_pd
    #define KS_YF_VT __m256
    #define KS_YF_W 8
    #define KS_YF_LD _mm256_loadu_ps
    #define KS_YF_ST _mm256_storeu_ps
    #define KS_YF_SET1 _mm256_set1_ps
    #define KS_YF_ADD _mm256_add_ps
    #define KS_YF_SUB _mm256_sub_ps
    #define KS_YF_MUL _mm256_mul_ps
    #define KS_YF_DIV _mm256_div_ps
    #define KS_YF_SQRT _mm256_sqrt_ps
    #define KS_YD_VT __m256d
    #define KS_YD_W 4
    #define KS_YD_LD _mm256_loadu_pd
    #define KS_YD_ST _mm256_storeu_pd
    #define KS_YD_SET1 _mm256_set1_pd
    #define KS_YD_ADD _mm256_add_pd
    #define KS_YD_SUB _mm256_sub_pd
    #define KS_YD_MUL _mm256_mul_pd
    #define KS_YD_DIV _mm256_div_pd
    #define KS_YD_SQRT _mm256_sqrt_pd
    #define KS_OPT_AVX_ATTR __attribute__((target("avx")))
    static int ks_opt_force_baseline = 0;  /* tests: run the SSE2 path on AVX machines */
    static int ks_opt_have_avx(void) {
        static int cached = -1;
        if (cached < 0) cached = __builtin_cpu_supports("avx") ? 1 : 0;
        return cached && !ks_opt_force_baseline;
    }
    static int ks_opt_set_baseline(int on) { ks_opt_force_baseline = on; return 1; }
    #endif

    /* One element (or one vector of elements) at offset i of each rule.  The
       operation order is the same for every op family, so results match. */
    #define KS_OPT_GRAD(O) \\
        O##_VT gi = O##_LD(g + i); \\
        if (wd != 0) gi = O##_ADD(gi, O##_MUL(vwd, O##_LD(p + i)));
    #define KS_OPT_ADAM_STEP(O) { \\
        KS_OPT_GRAD(O) \\
        O##_VT mi = O##_ADD(O##_MUL(vb1, O##_LD(m + i)), O##_MUL(vomb1, gi)); \\
        O##_VT vi = O##_ADD(O##_MUL(vb2, O##_LD(v + i)), O##_MUL(vomb2, O##_MUL(gi, gi))); \\
        O##_ST(m + i, mi); \\
        O##_ST(v + i, vi); \\
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_DIV(O##_MUL(va, mi), \\
                      O##_ADD(O##_MUL(O##_SQRT(vi), vc), veps)))); }
    #define KS_OPT_ADAM_LOOP(O, T) { \\
        O##_VT vwd = O##_SET1(wd), vb1 = O##_SET1(b1), vomb1 = O##_SET1(omb1); \\
        O##_VT vb2 = O##_SET1(b2), vomb2 = O##_SET1(omb2), va = O##_SET1(a); \\
        O##_VT vc = O##_SET1(c), veps = O##_SET1(eps); \\
        for (; i + O##_W <= n; i += O##_W) KS_OPT_ADAM_STEP(O) }
    #define KS_OPT_RMS_STEP(O) { \\
        KS_OPT_GRAD(O) \\
        O##_VT vi = O##_ADD(O##_MUL(valpha, O##_LD(v + i)), O##_MUL(voma, O##_MUL(gi, gi))); \\
        O##_ST(v + i, vi); \\
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_DIV(O##_MUL(vlr, gi), \\
                      O##_ADD(O##_SQRT(vi), veps)))); }
    #define KS_OPT_RMS_LOOP(O, T) { \\
        O##_VT vwd = O##_SET1(wd), vlr = O##_SET1(lr), valpha = O##_SET1(alpha); \\
        O##_VT voma = O##_SET1(oma), veps = O##_SET1(eps); \\
        for (; i + O##_W <= n; i += O##_W) KS_OPT_RMS_STEP(O) }
    #define KS_OPT_ADAGRAD_STEP(O) { \\
        KS_OPT_GRAD(O) \\
        O##_VT si = O##_ADD(O##_LD(s + i), O##_MUL(gi, gi)); \\
        O##_ST(s + i, si); \\
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_DIV(O##_MUL(vlr, gi), \\
                      O##_ADD(O##_SQRT(si), veps)))); }
    #define KS_OPT_ADAGRAD_LOOP(O, T) { \\
        O##_VT vwd = O##_SET1(wd), vlr = O##_SET1(lr), veps = O##_SET1(eps); \\
        for (; i + O##_W <= n; i += O##_W) KS_OPT_ADAGRAD_STEP(O) }
    #define KS_OPT_SGD_STEP(O) { \\
        KS_OPT_GRAD(O) \\
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_MUL(vlr, gi))); }
    #define KS_OPT_SGD_LOOP(O, T) { \\
        O##_VT vwd = O##_SET1(wd), vlr = O##_SET1(lr); \\
        for (; i + O##_W <= n; i += O##_W) KS_OPT_SGD_STEP(O) }
    /* buf = mu * buf + g; p -= lr * (nesterov ? g + mu * buf : buf) */
    #define KS_OPT_MOM_STEP(O) { \\
        KS_OPT_GRAD(O) \\
        O##_VT bi = O##_ADD(O##_MUL(vmu, O##_LD(s + i)), gi); \\
        O##_ST(s + i, bi); \\
        O##_VT di = nesterov ? O##_ADD(gi, O##_MUL(vmu, bi)) : bi; \\
        O##_ST(p + i, O##_SUB(O##_LD(p + i), O##_MUL(vlr, di))); }
    #define KS_OPT_MOM_LOOP(O, T) { \\
        O##_VT vwd = O##_SET1(wd), vlr = O##_SET1(lr), vmu = O##_SET1(mu); \\
        for (; i + O##_W <= n; i += O##_W) KS_OPT_MOM_STEP(O) }

    /* Define each rule for one op family O (vector loop, then scalar tail S). */
    #define KS_OPT_DEFINE(T, O, S, ATTR, SUF) \\
    ATTR static void ks_opt_adam_##SUF(Py_ssize_t n, T *KS_OPT_RESTRICT p, \\
            const T *KS_OPT_RESTRICT g, T *KS_OPT_RESTRICT m, T *KS_OPT_RESTRICT v, \\
            T wd, T b1, T omb1, T b2, T omb2, T a, T c, T eps) { \\
        Py_ssize_t i = 0; KS_OPT_ADAM_LOOP(O, T) KS_OPT_ADAM_LOOP(S, T) } \\
    ATTR static void ks_opt_rmsprop_##SUF(Py_ssize_t n, T *KS_OPT_RESTRICT p, \\
            const T *KS_OPT_RESTRICT g, T *KS_OPT_RESTRICT v, T lr, T wd, T alpha, \\
            T oma, T eps) { \\
        Py_ssize_t i = 0; KS_OPT_RMS_LOOP(O, T) KS_OPT_RMS_LOOP(S, T) } \\
    ATTR static void ks_opt_adagrad_##SUF(Py_ssize_t n, T *KS_OPT_RESTRICT p, \\
            const T *KS_OPT_RESTRICT g, T *KS_OPT_RESTRICT s, T lr, T wd, T eps) { \\
        Py_ssize_t i = 0; KS_OPT_ADAGRAD_LOOP(O, T) KS_OPT_ADAGRAD_LOOP(S, T) } \\
    ATTR static void ks_opt_sgd_##SUF(Py_ssize_t n, T *KS_OPT_RESTRICT p, \\
            const T *KS_OPT_RESTRICT g, T lr, T wd) { \\
        Py_ssize_t i = 0; KS_OPT_SGD_LOOP(O, T) KS_OPT_SGD_LOOP(S, T) } \\
    ATTR static void ks_opt_momentum_##SUF(Py_ssize_t n, T *KS_OPT_RESTRICT p, \\
            const T *KS_OPT_RESTRICT g, T *KS_OPT_RESTRICT s, T lr, T wd, T mu, \\
            int nesterov) { \\
        Py_ssize_t i = 0; KS_OPT_MOM_LOOP(O, T) KS_OPT_MOM_LOOP(S, T) }

    /* Dispatch one contiguous run of n elements; hyper layout per kind:
         0: lr, wd          1/2: lr, wd, mu       3: wd, b1, b2, a, c, eps
         4: lr, wd, alpha, eps                    5: lr, wd, eps            */
    #define KS_OPT_SEGMENT(T, SUF) \\
    static void ks_opt_segment_##SUF##_impl(int kind, Py_ssize_t n, T *p, const T *g, \\
            T *s1, T *s2, const double *h) { \\
        switch (kind) { \\
        case 0: ks_opt_sgd_##SUF(n, p, g, (T)h[0], (T)h[1]); break; \\
        case 1: case 2: \\
            ks_opt_momentum_##SUF(n, p, g, s1, (T)h[0], (T)h[1], (T)h[2], kind == 2); break; \\
        case 3: \\
            ks_opt_adam_##SUF(n, p, g, s1, s2, (T)h[0], (T)h[1], (T)(1.0 - h[1]), (T)h[2], \\
                              (T)(1.0 - h[2]), (T)h[3], (T)h[4], (T)h[5]); break; \\
        case 4: \\
            ks_opt_rmsprop_##SUF(n, p, g, s1, (T)h[0], (T)h[1], (T)h[2], (T)(1.0 - h[2]), \\
                                 (T)h[3]); break; \\
        case 5: ks_opt_adagrad_##SUF(n, p, g, s1, (T)h[0], (T)h[1], (T)h[2]); break; \\
        default: break; \\
        } \\
    }

    #ifdef KS_OPT_X86
    KS_OPT_DEFINE(float, KS_YF, KS_SF, KS_OPT_AVX_ATTR, f_avx)
    KS_OPT_DEFINE(double, KS_YD, KS_SD, KS_OPT_AVX_ATTR, d_avx)
    KS_OPT_DEFINE(float, KS_XF, KS_SF, , f_sse)
    KS_OPT_DEFINE(double, KS_XD, KS_SD, , d_sse)
    KS_OPT_SEGMENT(float, f_avx)
    KS_OPT_SEGMENT(double, d_avx)
    KS_OPT_SEGMENT(float, f_sse)
    KS_OPT_SEGMENT(double, d_sse)
    static void ks_opt_segment_f(int kind, Py_ssize_t n, float *p, const float *g,
            float *s1, float *s2, const double *h) {
        if (ks_opt_have_avx()) ks_opt_segment_f_avx_impl(kind, n, p, g, s1, s2, h);
        else ks_opt_segment_f_sse_impl(kind, n, p, g, s1, s2, h);
    }
    static void ks_opt_segment_d(int kind, Py_ssize_t n, double *p, const double *g,
            double *s1, double *s2, const double *h) {
        if (ks_opt_have_avx()) ks_opt_segment_d_avx_impl(kind, n, p, g, s1, s2, h);
        else ks_opt_segment_d_sse_impl(kind, n, p, g, s1, s2, h);
    }
    #else
    KS_OPT_DEFINE(float, KS_SF, KS_SF, , f_gen)
    KS_OPT_DEFINE(double, KS_SD, KS_SD, , d_gen)
    KS_OPT_SEGMENT(float, f_gen)
    KS_OPT_SEGMENT(double, d_gen)
    static void ks_opt_segment_f(int kind, Py_ssize_t n, float *p, const float *g,
            float *s1, float *s2, const double *h) {
        ks_opt_segment_f_gen_impl(kind, n, p, g, s1, s2, h);
    }
    static int ks_opt_set_baseline(int on) { (void)on; return 0; }
    static void ks_opt_segment_d(int kind, Py_ssize_t n, double *p, const double *g,
            double *s1, double *s2, const double *h) {
        ks_opt_segment_d_gen_impl(kind, n, p, g, s1, s2, h);
    }
    #endif
    """
    void ks_opt_segment_f(int kind, Py_ssize_t n, float *p, const float *g,
                          float *s1, float *s2, const double *h) noexcept nogil
    void ks_opt_segment_d(int kind, Py_ssize_t n, double *p, const double *g,
                          double *s1, double *s2, const double *h) noexcept nogil
    int ks_opt_set_baseline(int on) noexcept nogil


# Elements per chunk of the dense update (a multiple of every vector width).
cdef enum:
    OPT_CHUNK = 8192


cdef inline void _opt_segment(int kind, Py_ssize_t n, floating *p, const floating *g,
                              floating *s1, floating *s2,
                              const double *h) noexcept nogil:
    if floating is float:
        ks_opt_segment_f(kind, n, p, g, s1, s2, h)
    else:
        ks_opt_segment_d(kind, n, p, g, s1, s2, h)


def _optim_update(int kind, floating[::1] param, const floating[::1] grad,
                  floating[::1] state1, floating[::1] state2,
                  const double[::1] hyper, const int64_t[::1] rows,
                  Py_ssize_t row_len, bint use_rows, int n_threads):
    """Unchecked fused optimizer update, in place on param and its state.

    ``param``, ``grad`` and the state arrays are the flat views of arrays of the
    same shape (state arrays the algorithm does not use are empty).  With
    ``use_rows`` only the rows listed in ``rows`` (each ``row_len`` elements
    long, listed once) are updated; otherwise every element is.
    """
    cdef Py_ssize_t size = param.shape[0]
    cdef floating *p = &param[0] if size > 0 else NULL
    cdef const floating *g = &grad[0] if size > 0 else NULL
    cdef floating *s1 = &state1[0] if state1.shape[0] > 0 else NULL
    cdef floating *s2 = &state2[0] if state2.shape[0] > 0 else NULL
    cdef const double *h = &hyper[0]
    cdef Py_ssize_t n_chunks, c, start, stop, i, r, n_rows = rows.shape[0]
    cdef Py_ssize_t off
    if size == 0 or (use_rows and n_rows == 0):
        return
    with nogil:
        if use_rows:
            for i in prange(n_rows, schedule="static",
                            num_threads=_sp_team(n_threads, (n_rows * row_len + OPT_CHUNK - 1) // OPT_CHUNK)):
                r = rows[i]
                off = r * row_len
                _opt_segment(kind, row_len, p + off, g + off,
                             s1 + off if s1 != NULL else NULL,
                             s2 + off if s2 != NULL else NULL, h)
        else:
            n_chunks = (size + OPT_CHUNK - 1) // OPT_CHUNK
            for c in prange(n_chunks, num_threads=_sp_team(n_threads, n_chunks), schedule="static"):
                start = c * OPT_CHUNK
                stop = start + OPT_CHUNK
                if stop > size:
                    stop = size
                _opt_segment(kind, stop - start, p + start, g + start,
                             s1 + start if s1 != NULL else NULL,
                             s2 + start if s2 != NULL else NULL, h)


def _optim_force_baseline(bint on):
    """Testing aid: run the baseline (SSE2) optimizer code even where AVX exists.

    Returns True when the build has a separate baseline path to switch to.
    """
    return bool(ks_opt_set_baseline(on))


def _nonzero_rows(const floating[:, ::1] grad, int64_t[::1] out):
    """Unchecked: write the indices of rows of ``grad`` holding a non-zero into ``out``.

    Returns how many were written (``out`` has room for every row).
    """
    cdef Py_ssize_t m = grad.shape[0]
    cdef Py_ssize_t n = grad.shape[1]
    cdef Py_ssize_t i, j, count = 0
    with nogil:
        for i in range(m):
            for j in range(n):
                if grad[i, j] != 0:
                    out[count] = i
                    count += 1
                    break
    return count
