# Kernels for ksparse._core (included by _core.pyx); see its docstring.
#
# Sparse-code kernels: sparse decode, its backward, the sparse encoder backward,
# decoder-row normalisation and gradient projection, firing counters.
#
# Layers (as in scikit-learn's loss module):
#   1. C helpers ``ks_sp_*`` on contiguous runs of floats (axpy, dot), compiled
#      twice on x86-64 Linux with GCC (AVX2 and baseline, picked at load time);
#      neither clone uses FMA, so both give the same IEEE results and a
#      vectorised body equals its scalar tail bit for bit.
#   2. ``noexcept nogil`` Cython loops over rows, parallel with ``prange``
#      (never more threads than work items: see ``_sp_team``, also used by
#      ``_optim.pxi``).
#      Every output row is written by one thread only: decode goes by batch
#      row; scatter-adds first group the (b, j) pairs by unit (a stable
#      counting sort) and then build each unit's row, adding its terms in the
#      serial (b, j) order. Each output element sees the same sequence of adds
#      whatever the thread count: 2 threads give the serial result exactly.
#   3. ``def`` entry points (``_sparse_*``) that trust their arguments; the
#      checks live in ``ksparse/sparse.py``.

from libc.stdint cimport int64_t, INT64_MAX
from libc.math cimport sqrt, INFINITY
from libc.float cimport FLT_MIN, FLT_EPSILON, DBL_MIN, DBL_EPSILON
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cdef extern from *:
    """
    #if defined(_MSC_VER)
    #define KS_SP_RESTRICT __restrict
    #else
    #define KS_SP_RESTRICT __restrict__
    #endif
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
    #define KS_SP_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define KS_SP_CLONES
    #endif

    #define KS_SP_DEFINE(T, SUF)                                                   \\
    /* y[i] += a * x[i] */                                                        \\
    KS_SP_CLONES static void ks_sp_axpy_##SUF(Py_ssize_t n, T a,                  \\
            const T *KS_SP_RESTRICT x, T *KS_SP_RESTRICT y) {                     \\
        for (Py_ssize_t i = 0; i < n; i++) y[i] += a * x[i];                      \\
    }                                                                             \\
    /* y[i] /= a */                                                               \\
    KS_SP_CLONES static void ks_sp_div_##SUF(Py_ssize_t n, T a,                   \\
            T *KS_SP_RESTRICT y) {                                                \\
        for (Py_ssize_t i = 0; i < n; i++) y[i] /= a;                             \\
    }                                                                             \\
    /* sum_i x[i] * y[i] with 16 independent partial sums combined in a fixed */ \\
    /* order: vectorisable without -ffast-math, and deterministic.            */ \\
    KS_SP_CLONES static T ks_sp_dot_##SUF(Py_ssize_t n, const T *KS_SP_RESTRICT x, \\
            const T *KS_SP_RESTRICT y) {                                          \\
        T acc[16];                                                                \\
        Py_ssize_t i = 0;                                                         \\
        int j;                                                                    \\
        for (j = 0; j < 16; j++) acc[j] = 0;                                      \\
        for (; i + 16 <= n; i += 16)                                              \\
            for (j = 0; j < 16; j++) acc[j] += x[i + j] * y[i + j];               \\
        for (j = 0; i < n; i++, j++) acc[j] += x[i] * y[i];                       \\
        for (j = 0; j < 8; j++) acc[j] += acc[j + 8];                             \\
        for (j = 0; j < 4; j++) acc[j] += acc[j + 4];                             \\
        return (acc[0] + acc[2]) + (acc[1] + acc[3]);                             \\
    }                                                                             \\
    /* max_i |y[i]| with 16 independent maxima (vectorisable, as the dot).    */ \\
    KS_SP_CLONES static T ks_sp_amax_##SUF(Py_ssize_t n, const T *KS_SP_RESTRICT y) { \\
        T mx[16], a;                                                              \\
        Py_ssize_t i = 0;                                                         \\
        int j;                                                                    \\
        for (j = 0; j < 16; j++) mx[j] = 0;                                       \\
        for (; i + 16 <= n; i += 16)                                              \\
            for (j = 0; j < 16; j++) {                                            \\
                a = ks_sp_abs_##SUF(y[i + j]);                                    \\
                mx[j] = a > mx[j] ? a : mx[j];                                    \\
            }                                                                     \\
        for (j = 0; i < n; i++, j++) {                                            \\
            a = ks_sp_abs_##SUF(y[i]);                                            \\
            mx[j] = a > mx[j] ? a : mx[j];                                        \\
        }                                                                         \\
        for (j = 0; j < 8; j++) mx[j] = mx[j + 8] > mx[j] ? mx[j + 8] : mx[j];    \\
        for (j = 0; j < 4; j++) mx[j] = mx[j + 4] > mx[j] ? mx[j + 4] : mx[j];    \\
        for (j = 0; j < 2; j++) mx[j] = mx[j + 2] > mx[j] ? mx[j + 2] : mx[j];    \\
        return mx[1] > mx[0] ? mx[1] : mx[0];                                     \\
    }                                                                             \\
    /* Norm of a row whose plain sum of squares left the range of T (overflow */ \\
    /* to inf, or underflow below tiny / eps): divide by the largest |y[i]|  */ \\
    /* (as BLAS nrm2 scales), so every square is at most 1 and the largest   */ \\
    /* is exactly 1, then by the norm of the scaled row. Leaves y with unit  */ \\
    /* norm and returns its old norm (inf when that is beyond the range of   */ \\
    /* T); a row of zeros is left as it is and 0 returned, a row holding an */ \\
    /* infinity is divided by it as the plain path would (inf returned).    */ \\
    static T ks_sp_normalize_scaled_##SUF(Py_ssize_t n, T *KS_SP_RESTRICT y) {   \\
        T amax = ks_sp_amax_##SUF(n, y), r;                                       \\
        if (!(amax > 0)) return amax;                                             \\
        ks_sp_div_##SUF(n, amax, y);                                              \\
        if (amax - amax != 0) return amax;                                        \\
        r = (T)sqrt((double)ks_sp_dot_##SUF(n, y, y));                            \\
        ks_sp_div_##SUF(n, r, y);                                                 \\
        return amax * r;                                                          \\
    }                                                                             \\
    /* dst[c] = start[c] + sum_q coef[q] * base[rows[q] * ld + c], adding the */ \\
    /* terms in q order; start is dst itself (accumulate), init, or zero.     */ \\
    /* Full chunks of 8 vectors stay in registers across the cnt rows.        */ \\
    KS_SP_CLONES static void ks_sp_combine_##SUF(Py_ssize_t n, T *KS_SP_RESTRICT dst,\\
            int accumulate, const T *KS_SP_RESTRICT init, const T *KS_SP_RESTRICT base,\\
            Py_ssize_t ld, const int64_t *KS_SP_RESTRICT rows,                        \\
            const T *KS_SP_RESTRICT coef, Py_ssize_t cnt) {                            \\
        Py_ssize_t c0 = 0, q, i, w;                                                   \\
        const Py_ssize_t L = (Py_ssize_t)(sizeof(VT) / sizeof(T));                    \\
        for (; c0 + 8 * L <= n; c0 += 8 * L) {                                        \\
            VT a0, a1, a2, a3, a4, a5, a6, a7;                                        \\
            const T *s0 = accumulate ? dst + c0 : (init ? init + c0 : NULL);          \\
            if (s0) {                                                                 \\
                a0 = LD(s0); a1 = LD(s0 + L); a2 = LD(s0 + 2 * L); a3 = LD(s0 + 3 * L); \\
                a4 = LD(s0 + 4 * L); a5 = LD(s0 + 5 * L); a6 = LD(s0 + 6 * L);       \\
                a7 = LD(s0 + 7 * L);                                                  \\
            } else {                                                                  \\
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = (VT){0};                      \\
            }                                                                         \\
            for (q = 0; q < cnt; q++) {                                               \\
                const T *x = base + rows[q] * ld + c0;                                \\
                const T c = coef[q];                                                  \\
                a0 += c * LD(x); a1 += c * LD(x + L); a2 += c * LD(x + 2 * L);        \\
                a3 += c * LD(x + 3 * L); a4 += c * LD(x + 4 * L);                     \\
                a5 += c * LD(x + 5 * L); a6 += c * LD(x + 6 * L);                     \\
                a7 += c * LD(x + 7 * L);                                              \\
            }                                                                         \\
            ST(dst + c0, a0); ST(dst + c0 + L, a1); ST(dst + c0 + 2 * L, a2);         \\
            ST(dst + c0 + 3 * L, a3); ST(dst + c0 + 4 * L, a4);                       \\
            ST(dst + c0 + 5 * L, a5); ST(dst + c0 + 6 * L, a6);                       \\
            ST(dst + c0 + 7 * L, a7);                                                 \\
        }                                                                             \\
        w = n - c0;                                                                   \\
        if (w > 0) {                                                                  \\
            T acc[8 * sizeof(VT) / sizeof(T)];                                        \\
            if (accumulate) { for (i = 0; i < w; i++) acc[i] = dst[c0 + i]; }         \\
            else if (init) { for (i = 0; i < w; i++) acc[i] = init[c0 + i]; }         \\
            else { for (i = 0; i < w; i++) acc[i] = 0; }                              \\
            for (q = 0; q < cnt; q++) {                                               \\
                const T *x = base + rows[q] * ld + c0;                                \\
                const T c = coef[q];                                                  \\
                for (i = 0; i < w; i++) acc[i] += c * x[i];                           \\
            }                                                                         \\
            for (i = 0; i < w; i++) dst[c0 + i] = acc[i];                             \\
        }                                                                             \\
    }

    /* One unit r of the decoder backward, fused: for its (b, coef, pos)     */
    /* triples in order, dwrow += coef * G[b] and dvals[pos] = G[b] . wrow.  */
    /* The rows W[r] and dW[r] stay in L1 across the triples; each dot uses  */
    /* four vector partial sums reduced in a fixed order.                    */
    #define KS_SP_LATENT_BWD(T, SUF, VT, LD, ST)                                      \
    KS_SP_CLONES static void ks_sp_latent_bwd_##SUF(Py_ssize_t n,                     \
            const T *KS_SP_RESTRICT wrow, T *KS_SP_RESTRICT dwrow,                    \
            const T *KS_SP_RESTRICT G, Py_ssize_t ld, const int64_t *KS_SP_RESTRICT brow,\
            const T *KS_SP_RESTRICT coef, const int64_t *KS_SP_RESTRICT pos,          \
            Py_ssize_t cnt, T *KS_SP_RESTRICT dvals) {                                \
        const Py_ssize_t L = (Py_ssize_t)(sizeof(VT) / sizeof(T));                    \
        Py_ssize_t q, l, c;                                                           \
        for (q = 0; q < cnt; q++) {                                                   \
            const T *g = G + brow[q] * ld;                                            \
            const T cf = coef[q];                                                     \
            VT p0 = (VT){0}, p1 = (VT){0}, p2 = (VT){0}, p3 = (VT){0};                \
            T r = 0;                                                                  \
            for (c = 0; c + 4 * L <= n; c += 4 * L) {                                 \
                VT g0 = LD(g + c), g1 = LD(g + c + L);                                \
                VT g2 = LD(g + c + 2 * L), g3 = LD(g + c + 3 * L);                    \
                ST(dwrow + c, LD(dwrow + c) + cf * g0);                               \
                ST(dwrow + c + L, LD(dwrow + c + L) + cf * g1);                       \
                ST(dwrow + c + 2 * L, LD(dwrow + c + 2 * L) + cf * g2);               \
                ST(dwrow + c + 3 * L, LD(dwrow + c + 3 * L) + cf * g3);               \
                p0 += g0 * LD(wrow + c);                                              \
                p1 += g1 * LD(wrow + c + L);                                          \
                p2 += g2 * LD(wrow + c + 2 * L);                                      \
                p3 += g3 * LD(wrow + c + 3 * L);                                      \
            }                                                                         \
            for (; c + L <= n; c += L) {                                              \
                VT g0 = LD(g + c);                                                    \
                ST(dwrow + c, LD(dwrow + c) + cf * g0);                               \
                p0 += g0 * LD(wrow + c);                                              \
            }                                                                         \
            p0 = (p0 + p1) + (p2 + p3);                                               \
            for (l = 0; l < L; l++) r += p0[l];                                       \
            for (; c < n; c++) {                                                      \
                dwrow[c] += cf * g[c];                                                \
                r += g[c] * wrow[c];                                                  \
            }                                                                         \
            dvals[pos[q]] = r;                                                        \
        }                                                                             \
    }

    /* Vectors of 32 bytes as GCC/Clang vector extensions (lowered to SSE2    */
    /* pairs in the baseline clone, AVX registers in the AVX2 clone).         */
    typedef float ks_sp_vf __attribute__((vector_size(32)));
    typedef double ks_sp_vd __attribute__((vector_size(32)));
    typedef float ks_sp_vfu __attribute__((vector_size(32), aligned(4), may_alias));
    typedef double ks_sp_vdu __attribute__((vector_size(32), aligned(8), may_alias));
    #define ks_sp_ldf(p) (*(const ks_sp_vfu *)(p))
    #define ks_sp_stf(p, v) (*(ks_sp_vfu *)(p) = (v))
    #define ks_sp_ldd(p) (*(const ks_sp_vdu *)(p))
    #define ks_sp_std(p, v) (*(ks_sp_vdu *)(p) = (v))

    #define ks_sp_abs_f fabsf
    #define ks_sp_abs_d fabs
    #define VT ks_sp_vf
    #define LD ks_sp_ldf
    #define ST ks_sp_stf
    KS_SP_DEFINE(float, f)
    KS_SP_LATENT_BWD(float, f, ks_sp_vf, ks_sp_ldf, ks_sp_stf)
    #undef VT
    #undef LD
    #undef ST
    #define VT ks_sp_vd
    #define LD ks_sp_ldd
    #define ST ks_sp_std
    KS_SP_DEFINE(double, d)
    KS_SP_LATENT_BWD(double, d, ks_sp_vd, ks_sp_ldd, ks_sp_std)
    #undef VT
    #undef LD
    #undef ST
    """
    void ks_sp_latent_bwd_f(Py_ssize_t n, const float *wrow, float *dwrow, const float *G,
                            Py_ssize_t ld, const int64_t *brow, const float *coef,
                            const int64_t *pos, Py_ssize_t cnt, float *dvals) noexcept nogil
    void ks_sp_latent_bwd_d(Py_ssize_t n, const double *wrow, double *dwrow, const double *G,
                            Py_ssize_t ld, const int64_t *brow, const double *coef,
                            const int64_t *pos, Py_ssize_t cnt, double *dvals) noexcept nogil
    void ks_sp_combine_f(Py_ssize_t n, float *dst, int accumulate, const float *init,
                         const float *base, Py_ssize_t ld, const int64_t *rows,
                         const float *coef, Py_ssize_t cnt) noexcept nogil
    void ks_sp_combine_d(Py_ssize_t n, double *dst, int accumulate, const double *init,
                         const double *base, Py_ssize_t ld, const int64_t *rows,
                         const double *coef, Py_ssize_t cnt) noexcept nogil
    void ks_sp_axpy_f(Py_ssize_t n, float a, const float *x, float *y) noexcept nogil
    void ks_sp_axpy_d(Py_ssize_t n, double a, const double *x, double *y) noexcept nogil
    void ks_sp_div_f(Py_ssize_t n, float a, float *y) noexcept nogil
    void ks_sp_div_d(Py_ssize_t n, double a, double *y) noexcept nogil
    float ks_sp_dot_f(Py_ssize_t n, const float *x, const float *y) noexcept nogil
    double ks_sp_dot_d(Py_ssize_t n, const double *x, const double *y) noexcept nogil
    float ks_sp_normalize_scaled_f(Py_ssize_t n, float *y) noexcept nogil
    double ks_sp_normalize_scaled_d(Py_ssize_t n, double *y) noexcept nogil


cdef inline void _sp_axpy(Py_ssize_t n, floating a, const floating *x,
                          floating *y) noexcept nogil:
    if floating is float:
        ks_sp_axpy_f(n, a, x, y)
    else:
        ks_sp_axpy_d(n, a, x, y)


cdef inline floating _sp_dot(Py_ssize_t n, const floating *x,
                             const floating *y) noexcept nogil:
    if floating is float:
        return ks_sp_dot_f(n, x, y)
    else:
        return ks_sp_dot_d(n, x, y)


cdef inline int _sp_team(int n_threads, Py_ssize_t items) noexcept nogil:
    """Threads to use for ``items`` independent work items: never more than items.

    ``n_threads`` comes checked and bounded (``ksparse._validation.check_n_threads``);
    a count below 1 from an unchecked caller still means one thread, never a
    negative count that OpenMP would read as a huge unsigned one.
    """
    if items < 1 or n_threads < 1:
        return 1
    if items < n_threads:
        return <int>items
    return n_threads


cdef inline void _sp_combine(Py_ssize_t n, floating *dst, int accumulate,
                             const floating *init, const floating *base, Py_ssize_t ld,
                             const int64_t *rows, const floating *coef,
                             Py_ssize_t cnt) noexcept nogil:
    if floating is float:
        ks_sp_combine_f(n, dst, accumulate, init, base, ld, rows, coef, cnt)
    else:
        ks_sp_combine_d(n, dst, accumulate, init, base, ld, rows, coef, cnt)


cdef int _sp_scatter_rows(
    const int64_t[:, ::1] indices,   # IN (B, k) rows of dW to add into
    const floating[:, ::1] coef,     # IN (B, k) coefficients
    const floating[:, ::1] X,        # IN (B, n) rows to add
    floating[:, ::1] dW,             # OUT (m, n), accumulated in place
    floating *db,                    # OUT (m,) accumulated in place, or NULL
    const floating *W,               # IN (m, n) decoder weights, or NULL
    floating *dvalues,               # OUT (B, k) <X[b], W[indices[b, j]]>, or NULL
    int n_threads,
) noexcept nogil:
    """dW[indices[b, j]] += coef[b, j] * X[b] and db[indices[b, j]] += coef[b, j].

    With W (not NULL), also dvalues[b, j] = X[b] . W[indices[b, j]], computed in
    the same pass over each unit (the decoder backward).

    The (b, j) pairs are grouped by unit with a stable counting sort, then each
    unit's row of dW is built by one thread (parallel over units), adding its
    terms in increasing (b, j) order: the order of the serial scatter-add, so
    results do not depend on the thread count. Returns -1 if out of memory.
    """
    cdef Py_ssize_t B = indices.shape[0]
    cdef Py_ssize_t k = indices.shape[1]
    cdef Py_ssize_t n = X.shape[1]
    cdef Py_ssize_t m = dW.shape[0]
    cdef Py_ssize_t nnz = B * k
    cdef Py_ssize_t b, j, r, q, cnt
    cdef int64_t *offsets
    cdef int64_t *cursor
    cdef int64_t *src_rows
    cdef int64_t *src_pos = NULL
    cdef floating *src_coef
    cdef floating s
    cdef const floating *base = &X[0, 0] if (B > 0 and n > 0) else NULL
    if nnz == 0:
        return 0
    offsets = <int64_t *> malloc((m + 1) * sizeof(int64_t))
    cursor = <int64_t *> malloc(m * sizeof(int64_t))
    src_rows = <int64_t *> malloc(nnz * sizeof(int64_t))
    src_coef = <floating *> malloc(nnz * sizeof(floating))
    if W != NULL:
        src_pos = <int64_t *> malloc(nnz * sizeof(int64_t))
    if (offsets == NULL or cursor == NULL or src_rows == NULL or src_coef == NULL
            or (W != NULL and src_pos == NULL)):
        free(src_pos)
        free(offsets)
        free(cursor)
        free(src_rows)
        free(src_coef)
        return -1
    memset(offsets, 0, (m + 1) * sizeof(int64_t))
    for b in range(B):
        for j in range(k):
            offsets[indices[b, j] + 1] += 1
    for r in range(m):
        offsets[r + 1] += offsets[r]
        cursor[r] = offsets[r]
    for b in range(B):
        for j in range(k):
            r = indices[b, j]
            q = cursor[r]
            cursor[r] = q + 1
            src_rows[q] = b
            src_coef[q] = coef[b, j]
            if src_pos != NULL:
                src_pos[q] = b * k + j
    for r in prange(m, num_threads=_sp_team(n_threads, (m + 15) // 16), schedule="dynamic",
                    chunksize=16):
        cnt = offsets[r + 1] - offsets[r]
        if cnt > 0:
            if n > 0 and W != NULL:
                if floating is float:
                    ks_sp_latent_bwd_f(n, W + r * n, &dW[r, 0], base, n,
                                       src_rows + offsets[r], src_coef + offsets[r],
                                       src_pos + offsets[r], cnt, dvalues)
                else:
                    ks_sp_latent_bwd_d(n, W + r * n, &dW[r, 0], base, n,
                                       src_rows + offsets[r], src_coef + offsets[r],
                                       src_pos + offsets[r], cnt, dvalues)
            elif n > 0:
                _sp_combine(n, &dW[r, 0], 1, NULL, base, n, src_rows + offsets[r],
                            src_coef + offsets[r], cnt)
            if db != NULL:
                s = db[r]
                for q in range(offsets[r], offsets[r + 1]):
                    s = s + src_coef[q]
                db[r] = s
    free(src_pos)
    free(offsets)
    free(cursor)
    free(src_rows)
    free(src_coef)
    return 0


cdef void _sp_decode(
    const int64_t[:, ::1] indices,   # IN (B, k)
    const floating[:, ::1] values,   # IN (B, k)
    const floating[:, ::1] W,        # IN (m, n)
    const floating[::1] bias,        # IN (n,) or empty for no bias
    floating[:, ::1] out,            # OUT (B, n)
    int n_threads,
) noexcept nogil:
    """out[b] = bias + sum_j values[b, j] W[indices[b, j]], terms added in j order."""
    cdef Py_ssize_t B = indices.shape[0]
    cdef Py_ssize_t k = indices.shape[1]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t b
    cdef const floating *init = &bias[0] if bias.shape[0] > 0 else NULL
    if B == 0 or n == 0:
        return
    cdef const floating *base = &W[0, 0] if W.shape[0] > 0 else NULL
    for b in prange(B, num_threads=_sp_team(n_threads, B), schedule="static"):
        _sp_combine(n, &out[b, 0], 0, init, base, n,
                    &indices[b, 0] if k > 0 else NULL,
                    &values[b, 0] if k > 0 else NULL, k)


def _sparse_decode(const int64_t[:, ::1] indices, const floating[:, ::1] values,
                   const floating[:, ::1] W, const floating[::1] bias,
                   floating[:, ::1] out, int n_threads):
    """Unchecked: ``out = bias + sum_j values[:, j, None] * W[indices[:, j]]``."""
    with nogil:
        _sp_decode(indices, values, W, bias, out, n_threads)


def _sparse_decode_backward(const int64_t[:, ::1] indices,
                            const floating[:, ::1] values,
                            const floating[:, ::1] W, const floating[:, ::1] G,
                            floating[:, ::1] dW, floating[:, ::1] dvalues,
                            int n_threads):
    """Unchecked: ``dW[indices] += values * G`` and ``dvalues = <G, W[indices]>``."""
    cdef int status
    cdef Py_ssize_t B = indices.shape[0]
    cdef Py_ssize_t k = indices.shape[1]
    if B == 0 or k == 0:
        return
    with nogil:
        status = _sp_scatter_rows(indices, values, G, dW, NULL, &W[0, 0],
                                  &dvalues[0, 0], n_threads)
    if status != 0:
        raise MemoryError("sparse_decode_backward: out of memory for the scatter index")


def _sparse_encoder_backward(const int64_t[:, ::1] indices,
                             const floating[:, ::1] dz,
                             const floating[:, ::1] Xc, floating[:, ::1] dW,
                             floating[::1] db, int n_threads):
    """Unchecked: ``dW[indices] += dz * Xc``; ``db[indices] += dz`` when db is not empty."""
    cdef int status
    cdef floating *dbp = &db[0] if db.shape[0] > 0 else NULL
    with nogil:
        status = _sp_scatter_rows(indices, dz, Xc, dW, dbp, NULL, NULL, n_threads)
    if status != 0:
        raise MemoryError("sparse_encoder_backward: out of memory for the scatter index")


def _normalize_rows(floating[:, ::1] W, floating[::1] norms, int n_threads):
    """Unchecked: scale each non-zero row of W to unit L2 norm; norms get the old norms.

    The plain sum of squares serves every row whose result stays in the normal
    range of the dtype, with a margin of one epsilon for squares that underflowed
    (``tiny / eps <= ss < inf``). Other rows (norms above about 1.8e19 or below
    about 3e-16 in float32; 1.3e154 and 1e-146 in float64) are scaled by their
    largest entry first (``ks_sp_normalize_scaled``). Rows of length 0 get norm 0.
    """
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t i
    cdef floating ss, s, lo
    if floating is float:
        lo = FLT_MIN / FLT_EPSILON
    else:
        lo = DBL_MIN / DBL_EPSILON
    if m == 0:
        return
    if n == 0:
        memset(&norms[0], 0, m * sizeof(floating))
        return
    with nogil:
        for i in prange(m, num_threads=_sp_team(n_threads, m), schedule="static"):
            ss = _sp_dot(n, &W[i, 0], &W[i, 0])
            if ss >= lo and ss < INFINITY:
                s = sqrt(ss)
                norms[i] = s
                if floating is float:
                    ks_sp_div_f(n, s, &W[i, 0])
                else:
                    ks_sp_div_d(n, s, &W[i, 0])
            elif ss == ss:
                # overflow, underflow or a row of zeros; NaN rows are left as they are
                if floating is float:
                    norms[i] = ks_sp_normalize_scaled_f(n, &W[i, 0])
                else:
                    norms[i] = ks_sp_normalize_scaled_d(n, &W[i, 0])
            else:
                norms[i] = ss


def _remove_parallel_component(const floating[:, ::1] W, floating[:, ::1] G,
                               int n_threads):
    """Unchecked: ``G[i] -= (G[i].W[i] / W[i].W[i]) W[i]`` for rows with W[i] != 0."""
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t i
    cdef floating ww, gw
    if m == 0 or n == 0:
        return
    with nogil:
        for i in prange(m, num_threads=_sp_team(n_threads, m), schedule="static"):
            ww = _sp_dot(n, &W[i, 0], &W[i, 0])
            if ww > 0:
                gw = _sp_dot(n, &G[i, 0], &W[i, 0])
                _sp_axpy(n, -(gw / ww), &W[i, 0], &G[i, 0])


def _update_firing(int64_t[::1] steps_since_fired, const int64_t[::1] indices,
                   int64_t n_samples):
    """Unchecked: every counter += n_samples (``n_samples >= 0``), stopping at
    INT64_MAX rather than wrapping; counters of ``indices`` reset to 0."""
    cdef Py_ssize_t i
    cdef int64_t top = INT64_MAX - n_samples   # counters above this would overflow
    with nogil:
        for i in range(steps_since_fired.shape[0]):
            if steps_since_fired[i] > top:
                steps_since_fired[i] = INT64_MAX
            else:
                steps_since_fired[i] += n_samples
        for i in range(indices.shape[0]):
            steps_since_fired[indices[i]] = 0
