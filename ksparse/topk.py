"""Top-k selection and the dense forms of a sparse code.

A k-sparse code travels as ``(indices, values)``, two (B, k) arrays: for every
row of a (B, m) matrix, the positions of its k largest entries (by value, or
by absolute value) in descending order of that key, ties to the lower
position, and the signed entries at those positions.

The functions here check their arguments, allocate the outputs and call the
compiled kernels of ``ksparse._core``; ``backend="numpy"`` runs a plain numpy
reference instead (what the tests compare the kernels with).  Both backends
return identical arrays.
"""

from __future__ import annotations

import numbers
from typing import Any, Tuple

import numpy as np

from ksparse import _core
from ksparse._validation import (
    check_backend,
    check_float_array,
    check_index_array,
    check_k,
    check_n_threads,
)

__all__ = ["topk", "topk_mask", "masked_dense", "codes_to_dense"]

# Positions are int32 inside the kernel, and its scratch has some slack.
_MAX_ROW_LENGTH = 2**31 - 64


def _check_by(by: Any) -> bool:
    """Return True for selection by absolute value, False for selection by value."""
    if by not in ("value", "abs"):
        raise ValueError(f"by={by!r} is not known; use 'value' (k largest entries) or 'abs' (k largest |entries|)")
    return by == "abs"


def _check_m(m: Any) -> int:
    """Return the row length ``m`` of a dense output as an int, or raise."""
    if isinstance(m, (bool, np.bool_)) or not isinstance(m, numbers.Integral):
        raise TypeError(f"m must be an integer (the number of columns of the dense array), got {m!r}")
    if int(m) < 1:
        raise ValueError(f"m={m} must be a positive integer (the number of columns of the dense array)")
    return int(m)


def _check_rows(indices: np.ndarray, other: np.ndarray, other_name: str) -> None:
    if indices.shape[0] != other.shape[0]:
        raise ValueError(
            f"indices has {indices.shape[0]} rows but {other_name} has {other.shape[0]}; "
            "they must describe the same batch"
        )


def _topk_numpy(A: np.ndarray, k: int, by_abs: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Plain numpy top-k: argpartition-style selection, then a stable sort of the k."""
    key = np.abs(A) if by_abs else A
    B, m = key.shape
    if k == m:
        chosen_pos = np.broadcast_to(np.arange(m, dtype=np.int64), (B, m))
    else:
        # The k-th largest key of each row, then every greater key and the
        # lowest-positioned keys equal to it, up to k in all.
        kth = np.partition(key, m - k, axis=1)[:, m - k : m - k + 1]
        greater = key > kth
        tie = key == kth
        need = k - greater.sum(axis=1, keepdims=True)
        chosen = greater | (tie & (np.cumsum(tie, axis=1) <= need))
        chosen_pos = np.nonzero(chosen)[1].reshape(B, k)  # increasing position per row
    keys = np.take_along_axis(key, chosen_pos, axis=1)
    order = np.argsort(-keys, axis=1, kind="stable")  # descending, ties keep position order
    indices = np.take_along_axis(chosen_pos, order, axis=1).astype(np.int64)
    return np.take_along_axis(A, indices, axis=1), indices


def topk(
    A: Any,
    k: int,
    *,
    by: str = "value",
    n_threads: int = 1,
    backend: str = "compiled",
) -> Tuple[np.ndarray, np.ndarray]:
    """Select the k largest entries of every row.

    Parameters
    ----------
    A : array_like of shape (B, m)
        Finite numbers. float32 and float64 keep their dtype; integer and
        boolean input is converted to float64. Any memory layout is accepted
        (non-contiguous and read-only arrays are copied or read as they are).
    k : int
        How many entries to keep per row, ``1 <= k <= m``.
    by : {"value", "abs"}, default "value"
        Rank the entries by their value, or by their absolute value. Either
        way the returned values are the signed entries of ``A``.
    n_threads : int, default 1
        Threads to split the rows between (-1 for all cores). The result does
        not depend on it.
    backend : {"compiled", "numpy"}, default "compiled"
        The compiled kernel, or the plain numpy reference implementation
        (slower; returns the same arrays).

    Returns
    -------
    values : ndarray of shape (B, k), dtype of ``A``
        The selected entries, each row in descending order of the key.
    indices : ndarray of shape (B, k), int64
        Their column positions; equal keys are ordered by position, and the
        lower position is kept when ties straddle the k-th place.

    Raises
    ------
    ValueError
        If ``A`` is not 2-D or holds NaN or infinity, if ``k`` is not in
        ``[1, m]``, or if ``by``, ``n_threads`` or ``backend`` is not valid.
    TypeError
        If ``A`` is not numeric or ``k`` or ``n_threads`` is not an integer.

    Notes
    -----
    The compiled kernel does not sort the rows. Per row it takes the maxima
    of ``c >= 2k`` strided groups of entries; the k-th largest of these maxima
    is a threshold that at least k entries reach, so only the few entries at
    or above it (about 1.4 k on random data) are candidates. The candidates
    are ranked branch-free with SIMD instructions (AVX2 when the CPU has it,
    else SSE2 or portable C). When ties or a large k leave many candidates, a
    SIMD quickselect finds the k-th largest key first and a merge sort orders
    the k selected entries.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import topk
    >>> A = np.array([[0.5, -2.0, 1.5, 1.5]], dtype=np.float32)
    >>> values, indices = topk(A, 2)
    >>> values, indices
    (array([[1.5, 1.5]], dtype=float32), array([[2, 3]]))
    >>> topk(A, 2, by="abs")
    (array([[-2. ,  1.5]], dtype=float32), array([[1, 2]]))
    """
    A = check_float_array(A, "A", ndim=2, allow_nonfinite=True)
    B, m = A.shape
    k = check_k(k, m, m_name="the number of columns of A")
    by_abs = _check_by(by)
    n_threads = check_n_threads(n_threads)
    backend = check_backend(backend)
    if backend == "numpy":
        check_float_array(A, "A", ndim=2)  # rejects NaN and infinity
        return _topk_numpy(A, k, by_abs)
    if m > _MAX_ROW_LENGTH:
        raise ValueError(f"rows of A have {m} entries; the compiled top-k supports up to {_MAX_ROW_LENGTH}")
    values = np.empty((B, k), dtype=A.dtype)
    indices = np.empty((B, k), dtype=np.int64)
    # The kernel checks finiteness in the same pass and counts offending rows.
    if _core._topk(A, k, by_abs, n_threads, values, indices):
        check_float_array(A, "A", ndim=2)  # raises, naming the first NaN or infinity
        raise ValueError("A contains NaN or infinity; remove or impute non-finite values first")
    return values, indices


def topk_mask(indices: Any, m: int, *, backend: str = "compiled") -> np.ndarray:
    """Dense boolean mask of a sparse code.

    Parameters
    ----------
    indices : array_like of int, shape (B, k)
        Column positions per row, each in ``[0, m)`` (e.g. from :func:`topk`).
    m : int
        Number of columns of the mask.
    backend : {"compiled", "numpy"}, default "compiled"
        The compiled kernel or the plain numpy reference.

    Returns
    -------
    mask : ndarray of bool, shape (B, m)
        ``mask[b, indices[b, j]]`` is True, every other entry False.

    Raises
    ------
    ValueError
        If ``indices`` is not 2-D or has entries outside ``[0, m)``, or ``m < 1``.
    TypeError
        If ``indices`` does not hold integers or ``m`` is not an integer.

    Examples
    --------
    >>> from ksparse import topk_mask
    >>> topk_mask([[2, 0]], 4)
    array([[ True, False,  True, False]])
    """
    m = _check_m(m)
    indices = check_index_array(indices, "indices", m)
    backend = check_backend(backend)
    B = indices.shape[0]
    if backend == "numpy":
        mask = np.zeros((B, m), dtype=bool)
        np.put_along_axis(mask, indices, True, axis=1)
        return mask
    mask = np.empty((B, m), dtype=bool)
    _core._topk_mask(indices, mask.view(np.uint8))
    return mask


def masked_dense(A: Any, indices: Any, *, backend: str = "compiled") -> np.ndarray:
    """Copy of ``A`` with zeros outside the selected positions.

    Parameters
    ----------
    A : array_like of shape (B, m)
        float32 and float64 keep their dtype; integer and boolean input is
        converted to float64. Entries outside the selection may be anything,
        NaN included (they are not read).
    indices : array_like of int, shape (B, k)
        Column positions to keep per row, each in ``[0, m)``.
    backend : {"compiled", "numpy"}, default "compiled"
        The compiled kernel or the plain numpy reference.

    Returns
    -------
    ndarray of shape (B, m), dtype of ``A``
        ``out[b, i] = A[b, i]`` for ``i`` in ``indices[b]``, else 0.

    Raises
    ------
    ValueError
        If an array is not 2-D, the row counts differ, or an index is outside
        ``[0, m)``.
    TypeError
        If ``A`` is not numeric or ``indices`` does not hold integers.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import masked_dense, topk
    >>> A = np.array([[0.5, -2.0, 1.5]])
    >>> masked_dense(A, topk(A, 2)[1])
    array([[0.5, 0. , 1.5]])
    """
    A = check_float_array(A, "A", ndim=2, allow_nonfinite=True)
    indices = check_index_array(indices, "indices", A.shape[1])
    _check_rows(indices, A, "A")
    backend = check_backend(backend)
    if backend == "numpy":
        out = np.zeros_like(A)
        np.put_along_axis(out, indices, np.take_along_axis(A, indices, axis=1), axis=1)
        return out
    out = np.empty_like(A)
    _core._masked_dense(A, indices, out)
    return out


def codes_to_dense(indices: Any, values: Any, m: int, *, backend: str = "compiled") -> np.ndarray:
    """Dense (B, m) form of a sparse code ``(indices, values)``.

    Parameters
    ----------
    indices : array_like of int, shape (B, k)
        Column positions per row, each in ``[0, m)``.
    values : array_like of shape (B, k)
        The entries at those positions. float32 and float64 keep their dtype;
        integer and boolean input is converted to float64.
    m : int
        Number of columns of the dense array.
    backend : {"compiled", "numpy"}, default "compiled"
        The compiled kernel or the plain numpy reference.

    Returns
    -------
    ndarray of shape (B, m), dtype of ``values``
        Zeros, plus ``values[b, j]`` added at ``[b, indices[b, j]]``. A
        position repeated within a row receives the sum of its values (in
        order of ``j``), so ``codes_to_dense(indices, values, m) @ W`` equals
        ``sum_j values[:, j, None] * W[indices[:, j]]``.

    Raises
    ------
    ValueError
        If ``indices`` and ``values`` differ in shape or are not 2-D, an index
        is outside ``[0, m)``, or ``m < 1``.
    TypeError
        If ``indices`` does not hold integers, ``values`` is not numeric or
        ``m`` is not an integer.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import codes_to_dense
    >>> codes_to_dense([[2, 0]], np.array([[1.5, 0.5]]), 4)
    array([[0.5, 0. , 1.5, 0. ]])
    """
    m = _check_m(m)
    values = check_float_array(values, "values", ndim=2, allow_nonfinite=True)
    indices = check_index_array(indices, "indices", m)
    if indices.shape != values.shape:
        raise ValueError(
            f"indices has shape {indices.shape} but values has shape {values.shape}; "
            "a sparse code pairs one index with one value"
        )
    backend = check_backend(backend)
    if backend == "numpy":
        out = np.zeros((values.shape[0], m), dtype=values.dtype)
        rows = np.broadcast_to(np.arange(values.shape[0])[:, None], indices.shape)
        np.add.at(out, (rows, indices), values)
        return out
    out = np.empty((values.shape[0], m), dtype=values.dtype)
    _core._codes_to_dense(indices, values, out)
    return out
