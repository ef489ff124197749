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
# of the others and of the chunking (AVX, SSE2 or scalar code picked by the one
# dispatch, tails in the same operation order, no FMA), so results do not depend
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

# The rules are C, written once each in _ks_optim.h (Adam there is the same row
# function the fused step calls), declared in _kernels.pxd.

from libc.stdint cimport int64_t


# Elements per chunk of the dense update (a multiple of every vector width).
cdef enum:
    OPT_CHUNK = 8192


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
                            num_threads=ks_team(n_threads, (n_rows * row_len + OPT_CHUNK - 1) // OPT_CHUNK)):
                r = rows[i]
                off = r * row_len
                k_opt_segment(kind, row_len, p + off, g + off,
                             s1 + off if s1 != NULL else NULL,
                             s2 + off if s2 != NULL else NULL, h)
        else:
            n_chunks = (size + OPT_CHUNK - 1) // OPT_CHUNK
            for c in prange(n_chunks, num_threads=ks_team(n_threads, n_chunks), schedule="static"):
                start = c * OPT_CHUNK
                stop = start + OPT_CHUNK
                if stop > size:
                    stop = size
                k_opt_segment(kind, stop - start, p + start, g + start,
                             s1 + start if s1 != NULL else NULL,
                             s2 + start if s2 != NULL else NULL, h)


def _optim_force_baseline(bint on):
    """Testing aid: run the baseline (SSE2) optimizer code even where AVX exists.

    Sets the one SIMD dispatch (``ks_simd``, shared by every kernel) to SSE2, or back
    to the best level.  Returns True when the build has a separate baseline path to
    switch to.
    """
    if on:
        return ks_simd_set_level(min(ks_simd_get_best(), KS_SIMD_SSE2)) < ks_simd_get_best()
    ks_simd_set_level(ks_simd_get_best())
    return ks_simd_get_best() > KS_SIMD_SSE2


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
