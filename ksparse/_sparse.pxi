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
#   2. ``noexcept nogil`` Cython loops over rows, parallel with ``prange``.
#      Row-parallel loops write only their own rows; scatter-adds split the n
#      columns into per-thread blocks and every thread walks all (b, j) pairs in
#      the same order, so each output element sees the same sequence of adds
#      whatever the thread count: 2 threads give the serial result exactly.
#   3. ``def`` entry points (``_sparse_*``) that trust their arguments; the
#      checks live in ``ksparse/sparse.py``.

from libc.stdint cimport int64_t
from libc.math cimport sqrt

cdef extern from *:
    """
    #if defined(_MSC_VER)
    #define KS_SP_RESTRICT __restrict
    #else
    #define KS_SP_RESTRICT __restrict__
    #endif
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
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
    }

    KS_SP_DEFINE(float, f)
    KS_SP_DEFINE(double, d)
    """
    void ks_sp_axpy_f(Py_ssize_t n, float a, const float *x, float *y) noexcept nogil
    void ks_sp_axpy_d(Py_ssize_t n, double a, const double *x, double *y) noexcept nogil
    void ks_sp_div_f(Py_ssize_t n, float a, float *y) noexcept nogil
    void ks_sp_div_d(Py_ssize_t n, double a, double *y) noexcept nogil
    float ks_sp_dot_f(Py_ssize_t n, const float *x, const float *y) noexcept nogil
    double ks_sp_dot_d(Py_ssize_t n, const double *x, const double *y) noexcept nogil


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


cdef inline Py_ssize_t _sp_block_start(Py_ssize_t n, int nb, int t) noexcept nogil:
    """First column of block ``t`` of ``nb`` (blocks are multiples of 16 wide)."""
    cdef Py_ssize_t width = (n + nb - 1) // nb
    width = ((width + 15) // 16) * 16
    cdef Py_ssize_t c = width * t
    return c if c < n else n


cdef inline int _sp_column_blocks(Py_ssize_t n, int n_threads) noexcept nogil:
    """Number of column blocks: one per thread, but no block narrower than 64."""
    cdef Py_ssize_t nb = n // 64
    if nb < 1:
        nb = 1
    if nb > n_threads:
        nb = n_threads
    return <int>nb


cdef void _sp_scatter_rows(
    const int64_t[:, ::1] indices,   # IN (B, k) rows of dW to add into
    const floating[:, ::1] coef,     # IN (B, k) coefficients
    const floating[:, ::1] X,        # IN (B, n) rows to add
    floating[:, ::1] dW,             # OUT (m, n), accumulated in place
    int n_threads,
) noexcept nogil:
    """dW[indices[b, j]] += coef[b, j] * X[b], parallel over column blocks."""
    cdef Py_ssize_t B = indices.shape[0]
    cdef Py_ssize_t k = indices.shape[1]
    cdef Py_ssize_t n = X.shape[1]
    cdef int nb = _sp_column_blocks(n, n_threads)
    cdef int t
    cdef Py_ssize_t b, j, c0, c1
    if B == 0 or k == 0 or n == 0:
        return
    for t in prange(nb, num_threads=nb, schedule="static"):
        c0 = _sp_block_start(n, nb, t)
        c1 = _sp_block_start(n, nb, t + 1)
        if c1 > c0:
            for b in range(B):
                for j in range(k):
                    _sp_axpy(c1 - c0, coef[b, j], &X[b, c0],
                             &dW[indices[b, j], c0])


cdef void _sp_decode(
    const int64_t[:, ::1] indices,   # IN (B, k)
    const floating[:, ::1] values,   # IN (B, k)
    const floating[:, ::1] W,        # IN (m, n)
    const floating[::1] bias,        # IN (n,) or empty for no bias
    floating[:, ::1] out,            # OUT (B, n)
    int n_threads,
) noexcept nogil:
    cdef Py_ssize_t B = indices.shape[0]
    cdef Py_ssize_t k = indices.shape[1]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t b, j, c
    cdef bint has_bias = bias.shape[0] > 0
    if B == 0 or n == 0:
        return
    for b in prange(B, num_threads=n_threads, schedule="static"):
        if has_bias:
            for c in range(n):
                out[b, c] = bias[c]
        else:
            for c in range(n):
                out[b, c] = 0
        for j in range(k):
            _sp_axpy(n, values[b, j], &W[indices[b, j], 0], &out[b, 0])


cdef void _sp_dvalues(
    const int64_t[:, ::1] indices,   # IN (B, k)
    const floating[:, ::1] W,        # IN (m, n)
    const floating[:, ::1] G,        # IN (B, n)
    floating[:, ::1] dvalues,        # OUT (B, k)
    int n_threads,
) noexcept nogil:
    cdef Py_ssize_t B = indices.shape[0]
    cdef Py_ssize_t k = indices.shape[1]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t b, j
    if B == 0 or k == 0:
        return
    for b in prange(B, num_threads=n_threads, schedule="static"):
        for j in range(k):
            dvalues[b, j] = _sp_dot(n, &G[b, 0], &W[indices[b, j], 0])


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
    with nogil:
        _sp_dvalues(indices, W, G, dvalues, n_threads)
        _sp_scatter_rows(indices, values, G, dW, n_threads)


def _sparse_encoder_backward(const int64_t[:, ::1] indices,
                             const floating[:, ::1] dz,
                             const floating[:, ::1] Xc, floating[:, ::1] dW,
                             floating[::1] db, int n_threads):
    """Unchecked: ``dW[indices] += dz * Xc``; ``db[indices] += dz`` when db is not empty."""
    cdef Py_ssize_t b, j
    with nogil:
        _sp_scatter_rows(indices, dz, Xc, dW, n_threads)
        if db.shape[0] > 0:
            for b in range(indices.shape[0]):
                for j in range(indices.shape[1]):
                    db[indices[b, j]] += dz[b, j]


def _normalize_rows(floating[:, ::1] W, floating[::1] norms, int n_threads):
    """Unchecked: scale each non-zero row of W to unit L2 norm; norms get the old norms."""
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t i
    cdef floating s
    if m == 0 or n == 0:
        return
    with nogil:
        for i in prange(m, num_threads=n_threads, schedule="static"):
            s = sqrt(_sp_dot(n, &W[i, 0], &W[i, 0]))
            norms[i] = s
            if s > 0:
                if floating is float:
                    ks_sp_div_f(n, s, &W[i, 0])
                else:
                    ks_sp_div_d(n, s, &W[i, 0])


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
        for i in prange(m, num_threads=n_threads, schedule="static"):
            ww = _sp_dot(n, &W[i, 0], &W[i, 0])
            if ww > 0:
                gw = _sp_dot(n, &G[i, 0], &W[i, 0])
                _sp_axpy(n, -(gw / ww), &W[i, 0], &G[i, 0])


def _update_firing(int64_t[::1] steps_since_fired, const int64_t[::1] indices,
                   int64_t n_samples):
    """Unchecked: every counter += n_samples, counters of ``indices`` reset to 0."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(steps_since_fired.shape[0]):
            steps_since_fired[i] += n_samples
        for i in range(indices.shape[0]):
            steps_since_fired[indices[i]] = 0
