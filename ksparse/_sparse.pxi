# Kernels for ksparse._core (included by _core.pyx); see its docstring.
#
# Sparse-code kernels: sparse decode, its backward, the sparse encoder backward,
# decoder-row normalisation and gradient projection, firing counters.
#
# Layers:
#   1. C row kernels, declared in _kernels.pxd: the sparse combine and the fused
#      decoder backward of one unit (_ks_sparse.h: one body, compiled base and
#      AVX2, picked by the one dispatch; neither uses FMA, so both give the same
#      IEEE results), axpy/dot, row normalisation, the firing counters and the
#      counting sort by unit (_ks_common.h, shared with the fused step).
#   2. ``noexcept nogil`` Cython loops over rows, parallel with ``prange``
#      (never more threads than work items: ``ks_team``).
#      Every output row is written by one thread only: decode goes by batch
#      row; scatter-adds first group the (b, j) pairs by unit (a stable
#      counting sort) and then build each unit's row, adding its terms in the
#      serial (b, j) order. Each output element sees the same sequence of adds
#      whatever the thread count: 2 threads give the serial result exactly.
#   3. ``def`` entry points (``_sparse_*``) that trust their arguments; the
#      checks live in ``ksparse/sparse.py``.

from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset


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
    cdef Py_ssize_t p, r, q, cnt
    cdef int64_t *offsets
    cdef int64_t *order
    cdef int64_t *src_rows
    cdef int64_t *src_pos = NULL
    cdef floating *src_coef
    cdef const floating *cf = &coef[0, 0] if nnz > 0 else NULL
    cdef floating s
    cdef const floating *base = &X[0, 0] if (B > 0 and n > 0) else NULL
    if nnz == 0:
        return 0
    offsets = <int64_t *> malloc((m + 1) * sizeof(int64_t))
    order = <int64_t *> malloc(nnz * sizeof(int64_t))
    src_rows = <int64_t *> malloc(nnz * sizeof(int64_t))
    src_coef = <floating *> malloc(nnz * sizeof(floating))
    if (offsets == NULL or order == NULL or src_rows == NULL or src_coef == NULL):
        free(offsets)
        free(order)
        free(src_rows)
        free(src_coef)
        return -1
    # the entries p = b k + j by unit, ascending p (every entry kept)
    k_group_by_unit(m, &indices[0, 0], <const floating *> NULL, <const floating *> NULL, nnz,
                    NULL, <const floating *> NULL, <const floating *> NULL, 0, offsets, order,
                    src_rows, k)
    for q in range(nnz):
        src_coef[q] = cf[order[q]]
    if W != NULL:
        src_pos = order      # dvalues position of entry p is p itself
    for r in prange(m, num_threads=ks_team(n_threads, (m + 15) // 16), schedule="dynamic",
                    chunksize=16):
        cnt = offsets[r + 1] - offsets[r]
        if cnt > 0:
            if n > 0 and W != NULL:
                k_sp_latent_bwd(n, W + r * n, &dW[r, 0], base, n, src_rows + offsets[r],
                                src_coef + offsets[r], src_pos + offsets[r], cnt, dvalues)
            elif n > 0:
                k_sp_combine(n, &dW[r, 0], 1, NULL, base, n, src_rows + offsets[r],
                             src_coef + offsets[r], cnt)
            if db != NULL:
                s = db[r]
                for q in range(offsets[r], offsets[r + 1]):
                    s = s + src_coef[q]
                db[r] = s
    free(offsets)
    free(order)
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
    for b in prange(B, num_threads=ks_team(n_threads, B), schedule="static"):
        k_sp_combine(n, &out[b, 0], 0, init, base, n,
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
    largest entry first (``ks_normalize_scaled``; the row kernel is ``ks_normalize_row``
    in _ks_common.h, which the fused step uses too). Rows of length 0 get norm 0.
    """
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t n = W.shape[1]
    cdef Py_ssize_t i
    if m == 0:
        return
    if n == 0:
        memset(&norms[0], 0, m * sizeof(floating))
        return
    with nogil:
        for i in prange(m, num_threads=ks_team(n_threads, m), schedule="static"):
            norms[i] = k_normalize_row(n, &W[i, 0], 0)


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
        for i in prange(m, num_threads=ks_team(n_threads, m), schedule="static"):
            ww = k_dot(n, &W[i, 0], &W[i, 0])
            if ww > 0:
                gw = k_dot(n, &G[i, 0], &W[i, 0])
                k_axpy(n, -(gw / ww), &W[i, 0], &G[i, 0])


def _update_firing(int64_t[::1] steps_since_fired, const int64_t[::1] indices,
                   int64_t n_samples):
    """Unchecked: every counter += n_samples (``n_samples >= 0``), stopping at
    INT64_MAX rather than wrapping; counters of ``indices`` reset to 0."""
    with nogil:
        ks_firing_update_d(&steps_since_fired[0] if steps_since_fired.shape[0] > 0 else NULL,
                           steps_since_fired.shape[0], n_samples,
                           &indices[0] if indices.shape[0] > 0 else NULL, NULL, indices.shape[0])
