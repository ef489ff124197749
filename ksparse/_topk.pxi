# Kernels for ksparse._core (included by _core.pyx); see its docstring.
#
# Top-k selection and mask generation.  Three layers, as in the rest of the core:
#   * per-row helpers, ``cdef ... noexcept nogil``, that trust their inputs;
#   * batch kernels looping over rows (``prange`` when n_threads > 1; each row
#     is computed by one thread exactly as the serial loop would, so results
#     do not depend on the thread count);
#   * thin ``def`` entry points called by ``ksparse/topk.py`` once it has
#     checked shapes, dtypes, ``1 <= k <= m`` and thread counts.
#
# Selecting the k largest keys of a row (key = value or |value|), in
# descending order, ties to the lower index:
#   1. threshold (when m >= 2c, c = 2k rounded up to 8): the maxima of the c
#      strided groups j = l (mod c) are c distinct entries, so their k-th
#      largest, T, has at least k keys >= T: every top-k key is >= T.  Gather
#      the keys >= T (about 1.4 k candidates on random data) with their
#      positions, in increasing position.  Otherwise every entry is a candidate.
#   2. when ties or a large k leave more than ``_rank_limit`` (or 2k + 16)
#      candidates, find the k-th largest key t exactly (SIMD quickselect with 8 pivots per
#      round, ksp_kth_largest) and keep the keys > t plus the lowest-positioned
#      keys == t: exactly k candidates.
#   3. rank the candidates branch-free (SIMD): rank = number of candidates
#      with a greater key, plus those with an equal key and a lower position.
#      Ranks 0..k-1 are the answer, in order.  Ranking is quadratic, so above
#      ``_rank_limit`` the k are ranked in runs of that length and merged.
# The building blocks are in _topk_simd.h (scalar, SSE2 and AVX2 versions, all
# giving identical results), declared in _kernels.pxd; the level comes from the
# one dispatch of _ks_simd.h, read once per call.

from libc.stdint cimport int32_t, int64_t, uint8_t, uintptr_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from libc.math cimport INFINITY
from cython.parallel cimport threadid

cdef enum:
    # Slack after every scratch array (SIMD loads and stores run past the end).
    _SLACK = 16


cdef inline Py_ssize_t _n_groups(Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """Number of groups of the threshold path, or 0 when it does not apply."""
    cdef Py_ssize_t c = ((2 * k + 7) // 8) * 8
    if m >= 2 * c:
        return c
    return 0


cdef inline Py_ssize_t _rank_limit(int level, Py_ssize_t itemsize) noexcept nogil:
    """Most keys ranked by counting (quadratic, SIMD): about 40 vector widths."""
    if level >= KS_SIMD_AVX2:
        return 40 * (32 // itemsize)
    if level >= KS_SIMD_SSE2:
        return 40 * (16 // itemsize)
    return 48


cdef inline Py_ssize_t _align(Py_ssize_t nbytes) noexcept nogil:
    return ((nbytes + 63) // 64) * 64


cdef inline Py_ssize_t _scratch_bytes(Py_ssize_t m, Py_ssize_t itemsize) noexcept nogil:
    """Bytes of per-thread scratch used by _topk_row: 3 key and 3 position arrays."""
    return 3 * _align((m + _SLACK) * itemsize) + 2 * _align((m + _SLACK) * 4) + _align((m + _SLACK) * 8)


cdef void _sort_desc(floating *key, int32_t *pos, Py_ssize_t n,
                     floating *key2, int32_t *pos2,   # scratch (n,)
                     int32_t *ranks,                  # scratch (run + 16,)
                     Py_ssize_t run, int level) noexcept nogil:
    """Stable sort of (key, pos) by descending key, in place.

    Entries come in increasing position, so stability puts equal keys in
    increasing position.  Runs of ``run`` entries are ordered by their SIMD
    ranks, then merged bottom-up with a branch-free inner loop (the next
    entry's index is computed, not branched on).
    """
    cdef Py_ssize_t lo, i, width, a, amid, b, bend, o, src, ln
    cdef floating *sk = key2
    cdef int32_t *sp = pos2
    cdef floating *dk = key
    cdef int32_t *dp = pos
    cdef floating *tk
    cdef int32_t *tp
    cdef Py_ssize_t take_b
    lo = 0
    while lo < n:
        ln = min(run, n - lo)
        k_rank(key + lo, ln, ranks, level)
        for i in range(ln):
            key2[lo + ranks[i]] = key[lo + i]
            pos2[lo + ranks[i]] = pos[lo + i]
        lo += run
    width = run
    while width < n:
        lo = 0
        while lo < n:
            a = lo
            amid = min(lo + width, n)
            b = amid
            bend = min(lo + 2 * width, n)
            o = lo
            while a < amid and b < bend:
                take_b = sk[b] > sk[a]  # strictly greater: ties keep the left (lower) position
                src = a + take_b * (b - a)
                dk[o] = sk[src]
                dp[o] = sp[src]
                b += take_b
                a += 1 - take_b
                o += 1
            while a < amid:
                dk[o] = sk[a]
                dp[o] = sp[a]
                a += 1
                o += 1
            while b < bend:
                dk[o] = sk[b]
                dp[o] = sp[b]
                b += 1
                o += 1
            lo += 2 * width
        tk = sk
        sk = dk
        dk = tk
        tp = sp
        sp = dp
        dp = tp
        width *= 2
    if sk != key:
        for i in range(n):
            key[i] = sk[i]
            pos[i] = sp[i]


cdef bint _topk_row(const floating *row, Py_ssize_t m, Py_ssize_t k, bint by_abs,
                    Py_ssize_t c, int level, char *scratch,
                    floating *out_val,     # OUT (k,)
                    int64_t *out_idx,      # OUT (k,)
                    ) noexcept nogil:
    """Top k of one row; returns False when the row holds NaN or infinity.

    Rows with infinities are still selected correctly; rows with NaN get
    indices in range but otherwise unspecified.
    """
    cdef Py_ssize_t keys_bytes = _align((m + _SLACK) * sizeof(floating))
    cdef Py_ssize_t pos_bytes = _align((m + _SLACK) * 4)
    cdef floating *ck = <floating *> scratch                           # candidate keys
    cdef floating *tk = <floating *> (scratch + keys_bytes)            # temporary keys
    cdef floating *mx = <floating *> (scratch + 2 * keys_bytes)        # group maxima
    cdef int32_t *ci = <int32_t *> (scratch + 3 * keys_bytes)          # candidate positions
    cdef int32_t *rk = <int32_t *> (scratch + 3 * keys_bytes + pos_bytes)  # ranks / temporary positions
    cdef int64_t *hi = <int64_t *> (scratch + 3 * keys_bytes + 2 * pos_bytes)  # positions in output order
    cdef Py_ssize_t limit = _rank_limit(level, sizeof(floating))
    cdef bint finite
    cdef floating thr, t, key
    cdef Py_ssize_t n, i, j, r, need, s, n_gt, start
    cdef bint eq

    if c:
        finite = k_group_max(row, m, c, by_abs, mx, level)
        thr = k_kth_largest(mx, c, k, level, tk)
    else:
        finite = k_all_finite(row, m, level)
        thr = -INFINITY
    n = k_gather_ge(row, 0, m, thr, by_abs, False, ck, ci, level)

    if n > k and (n > limit or n > 2 * k + 16):
        # Too many candidates to rank (ties, or a large k): find the k-th
        # largest key t, then keep
        # the keys > t and the first (lowest-positioned) keys == t.  When
        # fewer than k keys exceed the threshold, t is the threshold itself
        # (at least k keys reach it): the usual case of ties.
        n_gt = 0
        for i in range(n):
            n_gt += ck[i] > thr
        if n_gt < k:
            t = thr
        else:
            t = k_kth_largest(ck, n, k, level, tk)
            n_gt = 0
            for i in range(n):
                n_gt += ck[i] > t
        # Candidates up to the last key == t that is kept...
        need = k - n_gt
        s = 0
        i = 0
        while need > 0 and i < n:
            key = ck[i]
            eq = key == t
            need -= eq
            ck[s] = key
            ci[s] = ci[i]
            s += (key > t) | eq
            i += 1
        # ...then only keys > t, gathered from the rest of the row (SIMD).
        start = ci[s - 1] + 1 if s > 0 else 0
        s += k_gather_ge(row, start, m, t, by_abs, True, ck + s, ci + s, level)
        n = s

    if n < k:
        # Only possible with NaN (which compares false): keep the output in range.
        for j in range(k):
            out_idx[j] = j
            out_val[j] = row[j]
        return False

    if n <= limit:
        k_rank(ck, n, rk, level)
        # Ranks are a permutation of 0..n-1; those >= k land in the spare slot k.
        for i in range(n):
            r = rk[i]
            hi[r if r < k else k] = ci[i]
    else:
        # n == k here: sort them (hi serves as scratch until the end).
        _sort_desc(ck, ci, k, tk, <int32_t *> hi, rk, limit, level)
        for j in range(k):
            hi[j] = ci[j]
    for j in range(k):
        out_idx[j] = hi[j]
        out_val[j] = row[hi[j]]
    return finite


cdef Py_ssize_t _topk_kernel(const floating[:, ::1] A,   # IN (B, m)
                             Py_ssize_t k, bint by_abs, int n_threads,
                             char *scratch, Py_ssize_t scratch_bytes,
                             floating[:, ::1] values,     # OUT (B, k)
                             int64_t[:, ::1] indices,     # OUT (B, k)
                             ) noexcept nogil:
    """Top k of every row; returns the number of rows holding NaN or infinity."""
    cdef Py_ssize_t B = A.shape[0], m = A.shape[1], b
    cdef Py_ssize_t c = _n_groups(m, k)
    cdef int level = ks_simd_get_level()
    cdef Py_ssize_t n_bad = 0, chunk
    if B == 0:
        return 0
    if n_threads <= 1 or B == 1:
        for b in range(B):
            if not _topk_row(&A[b, 0], m, k, by_abs, c, level, scratch,
                             &values[b, 0], &indices[b, 0]):
                n_bad += 1
    else:
        # Dynamic chunks: on a busy machine a stalled thread does not hold up
        # the others.  Each row is still computed whole by one thread.
        chunk = max(1, B // (16 * n_threads))
        for b in prange(B, schedule="dynamic", chunksize=chunk, num_threads=n_threads):
            if not _topk_row(&A[b, 0], m, k, by_abs, c, level,
                             scratch + threadid() * scratch_bytes,
                             &values[b, 0], &indices[b, 0]):
                n_bad += 1
    return n_bad


def _topk(const floating[:, ::1] A, Py_ssize_t k, bint by_abs, int n_threads,
          floating[:, ::1] values, int64_t[:, ::1] indices):
    """Unchecked top-k of every row of ``A`` into ``values`` and ``indices``.

    Trusts its inputs (see ``ksparse.topk.topk``): ``1 <= k <= m < 2**31 - 16``,
    outputs of shape (B, k), ``n_threads >= 1``.  Returns the number of rows
    holding NaN or infinity; rows with infinity are still correct.
    """
    cdef Py_ssize_t m = A.shape[1]
    cdef Py_ssize_t per = _scratch_bytes(m, sizeof(floating))
    cdef int nt = max(1, n_threads)
    cdef char *scratch = <char *> malloc(nt * per + 64)
    cdef char *aligned
    cdef Py_ssize_t n_bad
    if scratch == NULL:
        raise MemoryError("top-k: could not allocate scratch memory")
    # Zero it so SIMD loads past the candidates never read uninitialised memory.
    memset(scratch, 0, nt * per + 64)
    aligned = scratch + (64 - (<uintptr_t> scratch) % 64) % 64
    with nogil:
        n_bad = _topk_kernel(A, k, by_abs, nt, aligned, per, values, indices)
    free(scratch)
    return n_bad


def _topk_simd_level():
    """Instruction set used by the top-k kernels: 0 scalar, 1 SSE2, 2 AVX2."""
    return int(ks_simd_get_level())


def _topk_set_simd_level(int level):
    """Use instruction set ``level`` (clamped to what the CPU runs); return it.

    For tests and benchmarks only: the scalar, SSE2 and AVX2 paths give
    identical results.  Not thread-safe with concurrent top-k calls.
    """
    return int(ks_simd_set_level(level))


def _topk_simd_best():
    """Best instruction set of this CPU for the top-k kernels: 0, 1 or 2."""
    return int(ks_simd_get_best())


def _topk_mask(const int64_t[:, ::1] indices, uint8_t[:, ::1] mask):
    """Unchecked dense mask: ``mask[b] = 0`` then ``mask[b, indices[b]] = 1``.

    ``mask`` is the uint8 view of a boolean (B, m) array; indices in [0, m).
    """
    cdef Py_ssize_t B = indices.shape[0], k = indices.shape[1], m = mask.shape[1]
    cdef Py_ssize_t b, j
    with nogil:
        for b in range(B):
            memset(&mask[b, 0], 0, m)
            for j in range(k):
                mask[b, indices[b, j]] = 1


def _masked_dense(const floating[:, ::1] A, const int64_t[:, ::1] indices,
                  floating[:, ::1] out):
    """Unchecked masked copy: ``out[b] = 0`` then ``out[b, idx] = A[b, idx]``."""
    cdef Py_ssize_t B = indices.shape[0], k = indices.shape[1], m = out.shape[1]
    cdef Py_ssize_t b, j, i
    with nogil:
        for b in range(B):
            memset(&out[b, 0], 0, m * sizeof(floating))
            for j in range(k):
                i = indices[b, j]
                out[b, i] = A[b, i]


def _codes_to_dense(const int64_t[:, ::1] indices, const floating[:, ::1] values,
                    floating[:, ::1] out):
    """Unchecked densify: ``out[b] = 0`` then ``out[b, indices[b, j]] += values[b, j]``."""
    cdef Py_ssize_t B = indices.shape[0], k = indices.shape[1], m = out.shape[1]
    cdef Py_ssize_t b, j
    with nogil:
        for b in range(B):
            memset(&out[b, 0], 0, m * sizeof(floating))
            for j in range(k):
                out[b, indices[b, j]] += values[b, j]
