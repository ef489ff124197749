"""Sparse-code kernels: decode from ``(indices, values)``, its gradients, and the
decoder-row housekeeping of a k-sparse autoencoder.

A k-sparse code travels as ``(indices, values)``, two arrays of shape (B, k):
row ``b`` keeps units ``indices[b]`` with activations ``values[b]``. Weights are
stored (m, n), one contiguous row per hidden unit, so decoding gathers k rows per
sample and the gradients scatter-add k rows per sample: O(B k n) work instead of
the O(B m n) of a dense product with the (B, m) code.

Every function validates its arguments, then calls an unchecked compiled kernel
in :mod:`ksparse._core` (``backend="compiled"``, the default) or runs the plain
numpy reference implementation next to it (``backend="numpy"``), which the
tests use as ground truth. Parallel compiled results (``n_threads > 1``) equal
the serial ones bit for bit: scatter-adds first group the (b, j) pairs by unit
(a stable counting sort), then each unit's gradient row is built by one thread,
adding its terms in the serial order.
"""

from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ksparse import _core
from ksparse._validation import (
    FLOAT_DTYPES,
    check_backend,
    check_float_array,
    check_index_array,
    check_n_threads,
    check_out,
)

__all__ = [
    "sparse_decode",
    "sparse_decode_backward",
    "sparse_encoder_backward",
    "normalize_rows",
    "remove_parallel_component",
    "update_firing",
]

_EMPTY = {dt: np.empty(0, dtype=dt) for dt in FLOAT_DTYPES}
_INT64_MAX = int(np.iinfo(np.int64).max)


# --------------------------------------------------------------------------- checks
def _float_input(a: Any, name: str, ndim: int, dtype: Optional[np.dtype], ref: str,
                 finite: bool = True) -> np.ndarray:
    """Coerce a read-only float input; integer/bool input takes ``dtype``.

    A float input whose dtype differs from ``dtype`` is rejected rather than
    silently cast (a float64 array next to float32 weights is usually a bug).
    """
    arr = np.asarray(a)
    target = dtype if (dtype is not None and arr.dtype.kind in "iub") else None
    out = check_float_array(arr, name, ndim=ndim, dtype=target, allow_nonfinite=not finite)
    if dtype is not None and out.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {out.dtype} but {ref} has dtype {dtype}; "
            f"cast one of them, e.g. {name}.astype(np.{dtype})"
        )
    return out


def _inplace_array(a: Any, name: str, ndim: int, *, dtype: Optional[np.dtype] = None,
                   finite: bool = True) -> np.ndarray:
    """Check an array that is modified in place (it cannot be converted)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} is modified in place and must be a numpy array, got {type(a).__name__}"
        )
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} is modified in place and must have dtype float32 or float64, "
            f"got {a.dtype}; convert it first with {name} = {name}.astype(np.float32)"
        )
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype}, expected {dtype} to match the other arrays")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(
            f"{name} is modified in place and must be a C-contiguous, writeable array; "
            f"pass np.ascontiguousarray({name}) (and keep the result)"
        )
    if finite and a.size and not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{name} contains NaN or infinity (first at index {where})")
    return a


def _code_arrays(indices: Any, values: Any, m: int, dtype: np.dtype, ref: str,
                 values_name: str = "values", finite: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    vals = _float_input(values, values_name, 2, dtype, ref, finite)
    idx = check_index_array(indices, "indices", m)
    if idx.shape != vals.shape:
        raise ValueError(
            f"indices and {values_name} must have the same shape (B, k), "
            f"got {idx.shape} and {vals.shape}"
        )
    return idx, vals


def _check_no_overlap(out_name: str, out: np.ndarray, **inputs: Optional[np.ndarray]) -> None:
    """Raise unless the array written by a kernel shares no memory with the arrays it reads.

    The kernels read their inputs while they write their outputs, so an output
    that overlaps an input would be read back half-written. Every array here is
    a contiguous block, so overlapping bounds mean overlapping memory.
    """
    clash = [name for name, a in inputs.items() if a is not None and np.may_share_memory(out, a)]
    if clash:
        listed = " or ".join(clash)
        raise ValueError(
            f"{out_name} must not share memory with {listed} (it would be overwritten while "
            f"being read); pass a separate {out_name} array, or a copy of {listed}"
        )


def _rows_match(name: str, a: np.ndarray, B: int, what: str = "indices") -> None:
    if a.shape[0] != B:
        raise ValueError(
            f"{name} has {a.shape[0]} rows but {what} has {B}; they must describe the same batch"
        )


# --------------------------------------------------------------------------- decode
def sparse_decode(
    indices: Any,
    values: Any,
    W: Any,
    b: Any = None,
    *,
    n_threads: int = 1,
    backend: str = "compiled",
    out: Optional[np.ndarray] = None,
    check_finite: bool = True,
) -> np.ndarray:
    """Decode a k-sparse code: ``out = b + sum_j values[:, j, None] * W[indices[:, j]]``.

    Parameters
    ----------
    indices : array_like of int, shape (B, k)
        Selected units of each sample, each in ``[0, m)``. Repeated indices add up.
    values : array_like of float, shape (B, k)
        Their activations (same float dtype as ``W``; integers are converted).
    W : array_like of float, shape (m, n)
        Decoder weights, one row per hidden unit.
    b : array_like of float, shape (n,), optional
        Decoder bias.
    n_threads : int, default 1
        Threads for the compiled kernel (-1: all cores); rows of the batch are
        split between threads.
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference.
    out : ndarray of shape (B, n), optional
        C-contiguous output of W's dtype, overwritten and returned. It must not
        share memory with ``W``, ``values``, ``b`` or ``indices``.
    check_finite : bool, default True
        Scan the float inputs for NaN and infinity (and raise). Pass False in a
        hot loop whose inputs are known to be finite: the scan of W costs about
        a fifth of the kernel's time at B=256, m=1000, n=784, k=25.

    Returns
    -------
    ndarray of shape (B, n)
        The decoded batch.

    Raises
    ------
    ValueError
        On mismatched shapes, indices outside ``[0, m)``, NaN or infinity, or
        an ``out`` that overlaps an input.
    TypeError
        On non-numeric input or float arrays of different dtypes.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.eye(3, 2, dtype=np.float32)
    >>> sparse_decode([[0, 1]], np.array([[2.0, 3.0]], np.float32), W)
    array([[2., 3.]], dtype=float32)
    """
    backend = check_backend(backend)
    n_threads = check_n_threads(n_threads)
    W = check_float_array(W, "W", ndim=2, allow_nonfinite=not check_finite)
    m, n = W.shape
    idx, vals = _code_arrays(indices, values, m, W.dtype, "W", finite=check_finite)
    B = idx.shape[0]
    bias = None
    if b is not None:
        bias = _float_input(b, "b", 1, W.dtype, "W", check_finite)
        if bias.shape[0] != n:
            raise ValueError(f"b must have shape ({n},) to match W of shape {W.shape}, got {bias.shape}")
    if out is None:
        out = np.empty((B, n), dtype=W.dtype)
    else:
        check_out(out, "out", (B, n), W.dtype)
        _check_no_overlap("out", out, W=W, values=vals, b=bias, indices=idx)
    if backend == "numpy":
        return _sparse_decode_numpy(idx, vals, W, bias, out)
    _core._sparse_decode(idx, vals, W, _EMPTY[W.dtype] if bias is None else bias, out, n_threads)
    return out


def _sparse_decode_numpy(idx, vals, W, bias, out):
    out[...] = 0 if bias is None else bias
    for j in range(idx.shape[1]):
        out += vals[:, j, None] * W[idx[:, j]]
    return out


def sparse_decode_backward(
    indices: Any,
    values: Any,
    W: Any,
    G: Any,
    *,
    dW: Optional[np.ndarray] = None,
    n_threads: int = 1,
    backend: str = "compiled",
    check_finite: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
    """Gradients of a sparse decode given ``G = dLoss/dout``.

    ``dW[indices[b, j]] += values[b, j] * G[b]`` (a scatter-add of rows; repeated
    indices accumulate) and ``dvalues[b, j] = G[b] . W[indices[b, j]]``.
    The bias gradient is ``G.sum(axis=0)`` and is left to the caller.

    Parameters
    ----------
    indices : array_like of int, shape (B, k)
        Selected units of each sample, each in ``[0, m)``.
    values : array_like of float, shape (B, k)
        Their activations, in W's dtype.
    W : array_like of float, shape (m, n)
        Decoder weights, one row per hidden unit.
    G : array_like of float, shape (B, n)
        Gradient of the loss with respect to the decoded batch.
    dW : ndarray of shape (m, n), optional
        C-contiguous array of W's dtype that the weight gradient is added to,
        modified in place; a new zero array when omitted. It must not share
        memory with the other arguments.
    n_threads : int, default 1
        Threads (-1: all cores). Units are split between threads (each unit's
        row of ``dW`` and its ``dvalues`` entries are computed by one thread), so
        the result does not depend on it.
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference.
    check_finite : bool, default True
        Scan the float inputs for NaN and infinity (and raise). Pass False in a
        hot loop whose inputs are known to be finite: the scan of W costs about
        a fifth of the kernel's time at B=256, m=1000, n=784, k=25.

    Returns
    -------
    dW : ndarray of shape (m, n)
        The accumulated weight gradient (the array passed in, when given).
    dvalues : ndarray of shape (B, k)
        Gradient with respect to ``values``.

    Raises
    ------
    ValueError, TypeError
        As :func:`sparse_decode`, and when ``dW`` has the wrong shape or dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.sparse import sparse_decode_backward
    >>> W = np.eye(3, 2)
    >>> dW, dvalues = sparse_decode_backward([[0, 1]], [[2.0, 3.0]], W, [[1.0, -1.0]])
    >>> dW
    array([[ 2., -2.],
           [ 3., -3.],
           [ 0.,  0.]])
    >>> dvalues
    array([[ 1., -1.]])
    """
    backend = check_backend(backend)
    n_threads = check_n_threads(n_threads)
    W = check_float_array(W, "W", ndim=2, allow_nonfinite=not check_finite)
    m, n = W.shape
    idx, vals = _code_arrays(indices, values, m, W.dtype, "W", finite=check_finite)
    B = idx.shape[0]
    G = _float_input(G, "G", 2, W.dtype, "W", check_finite)
    _rows_match("G", G, B)
    if G.shape[1] != n:
        raise ValueError(f"G must have {n} columns to match W of shape {W.shape}, got {G.shape}")
    if dW is None:
        dW = np.zeros((m, n), dtype=W.dtype)
    else:
        check_out(dW, "dW", (m, n), W.dtype)
        _check_no_overlap("dW", dW, W=W, G=G, values=vals, indices=idx)
    dvalues = np.empty((B, idx.shape[1]), dtype=W.dtype)
    if backend == "numpy":
        _scatter_rows_numpy(idx, vals, G, dW)
        if idx.size:
            dvalues[...] = np.einsum("bn,bkn->bk", G, W[idx])
        return dW, dvalues
    _core._sparse_decode_backward(idx, vals, W, G, dW, dvalues, n_threads)
    return dW, dvalues


def _scatter_rows_numpy(idx, coef, X, dW):
    """dW[idx[b, j]] += coef[b, j] * X[b], accumulated in (b, j) order."""
    if idx.size:
        rows = (coef[:, :, None] * X[:, None, :]).reshape(-1, X.shape[1])
        np.add.at(dW, idx.ravel(), rows)


# --------------------------------------------------------------------------- encoder
def sparse_encoder_backward(
    indices: Any,
    dz: Any,
    Xc: Any,
    *,
    dW: Optional[np.ndarray] = None,
    db: Optional[np.ndarray] = None,
    m: Optional[int] = None,
    n_threads: int = 1,
    backend: str = "compiled",
    check_finite: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
    """Encoder gradients that touch only the k selected rows per sample.

    ``dW[indices[b, j]] += dz[b, j] * Xc[b]`` and ``db[indices[b, j]] += dz[b, j]``
    (repeated indices accumulate), where ``dz`` is the gradient with respect to
    the selected pre-activations and ``Xc`` the encoder input.

    Parameters
    ----------
    indices : array_like of int, shape (B, k)
        Selected units of each sample, each in ``[0, m)``.
    dz : array_like of float, shape (B, k)
        Gradient with respect to the selected pre-activations, in Xc's dtype.
    Xc : array_like of float, shape (B, n)
        The encoder input (after the pre-encoder bias).
    dW : ndarray of shape (m, n), optional
        Added to in place; a new zero array when omitted. Must not share
        memory with the other arguments.
    db : ndarray of shape (m,), optional
        Added to in place; a new zero array when omitted. Must not share
        memory with the other arguments.
    m : int, optional
        Number of hidden units, needed only when both ``dW`` and ``db`` are omitted.
    n_threads : int, default 1
        Threads (-1: all cores); units are split between them (the result does
        not depend on it).
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference.
    check_finite : bool, default True
        Scan the float inputs for NaN and infinity (and raise). Pass False in a
        hot loop whose inputs are known to be finite: the scan of W costs about
        a fifth of the kernel's time at B=256, m=1000, n=784, k=25.

    Returns
    -------
    dW : ndarray of shape (m, n)
        Encoder weight gradient (``dW`` itself when given).
    db : ndarray of shape (m,)
        Encoder bias gradient (``db`` itself when given).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.sparse import sparse_encoder_backward
    >>> dW, db = sparse_encoder_backward([[2]], [[0.5]], [[1.0, 2.0]], m=3)
    >>> dW
    array([[0. , 0. ],
           [0. , 0. ],
           [0.5, 1. ]])
    >>> db
    array([0. , 0. , 0.5])
    """
    backend = check_backend(backend)
    n_threads = check_n_threads(n_threads)
    Xc = check_float_array(Xc, "Xc", ndim=2, allow_nonfinite=not check_finite)
    dtype = Xc.dtype
    B, n = Xc.shape
    if dW is not None:
        dW = _inplace_array(dW, "dW", 2, dtype=dtype, finite=False)
        m_found = dW.shape[0]
        if dW.shape[1] != n:
            raise ValueError(f"dW must have {n} columns to match Xc of shape {Xc.shape}, got {dW.shape}")
    elif db is not None:
        m_found = _inplace_array(db, "db", 1, dtype=dtype, finite=False).shape[0]
    elif m is not None:
        if isinstance(m, (bool, np.bool_)) or not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"m={m!r} must be a positive integer (the number of hidden units)")
        m_found = int(m)
    else:
        raise ValueError("pass dW or db to accumulate into, or m (the number of hidden units)")
    if m is not None and int(m) != m_found:
        raise ValueError(f"m={m} does not match dW/db with {m_found} rows")
    m = m_found
    if db is not None:
        db = _inplace_array(db, "db", 1, dtype=dtype, finite=False)
        if db.shape[0] != m:
            raise ValueError(f"db must have shape ({m},), got {db.shape}")
    idx, dzs = _code_arrays(indices, dz, m, dtype, "Xc", values_name="dz", finite=check_finite)
    _rows_match("Xc", Xc, idx.shape[0])
    if dW is not None:
        _check_no_overlap("dW", dW, Xc=Xc, dz=dzs, indices=idx, db=db)
    if db is not None:
        _check_no_overlap("db", db, Xc=Xc, dz=dzs, indices=idx)
    if dW is None:
        dW = np.zeros((m, n), dtype=dtype)
    if db is None:
        db = np.zeros(m, dtype=dtype)
    if backend == "numpy":
        _scatter_rows_numpy(idx, dzs, Xc, dW)
        np.add.at(db, idx.ravel(), dzs.ravel())
        return dW, db
    _core._sparse_encoder_backward(idx, dzs, Xc, dW, db, n_threads)
    return dW, db


# --------------------------------------------------------------------------- decoder rows
def normalize_rows(W: np.ndarray, *, n_threads: int = 1, backend: str = "compiled",
                   check_finite: bool = True) -> np.ndarray:
    """Scale each row of ``W`` to unit L2 norm, in place; zero rows stay zero.

    Parameters
    ----------
    W : ndarray of shape (m, n), float32 or float64
        C-contiguous and writeable; modified in place.
    n_threads : int, default 1
        Threads (-1: all cores); rows are split between them.
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference.
    check_finite : bool, default True
        Scan the float inputs for NaN and infinity (and raise). Pass False in a
        hot loop whose inputs are known to be finite: the scan of W costs about
        a fifth of the kernel's time at B=256, m=1000, n=784, k=25.

    Returns
    -------
    ndarray of shape (m,)
        The norms of the rows before scaling (0 for rows of length 0; inf
        for a row whose norm exceeds the dtype's range, which is still
        scaled to unit norm).

    Notes
    -----
    A row whose sum of squares would overflow or lose its precision to
    underflow (norms above about 1.8e19 or below about 3e-16 in float32,
    1.3e154 and 1e-146 in float64) is divided by its largest absolute entry
    before squaring, as BLAS ``nrm2`` scales, so it still comes out with unit
    norm; other rows take the plain sum of squares (the fast path).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.sparse import normalize_rows
    >>> W = np.array([[3.0, 4.0], [0.0, 0.0]])
    >>> normalize_rows(W)
    array([5., 0.])
    >>> W
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    backend = check_backend(backend)
    n_threads = check_n_threads(n_threads)
    W = _inplace_array(W, "W", 2, finite=check_finite)
    norms = np.empty(W.shape[0], dtype=W.dtype)
    if backend == "numpy":
        return _normalize_rows_numpy(W, norms)
    _core._normalize_rows(W, norms, n_threads)
    return norms


def _normalize_rows_numpy(W: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Reference of the kernel: plain sum of squares, scaled again where it left the range."""
    info = np.finfo(W.dtype)
    with np.errstate(over="ignore", under="ignore"):  # such rows are the ones redone below
        ss = np.einsum("ij,ij->i", W, W)
        norms[...] = np.sqrt(ss)
        # below tiny / eps, squares that underflowed may have mattered; inf overflowed
        redo = (ss < info.tiny / info.eps) | (ss == np.inf)
        plain = norms > 0
        plain &= ~redo
        W[plain] /= norms[plain, None]
        for i in np.flatnonzero(redo):
            row = W[i]
            amax = np.abs(row).max(initial=0)
            if not amax > 0:  # zero row: left as it is
                norms[i] = amax
                continue
            if not np.isfinite(amax):  # a row holding an infinity: as the plain path
                row /= amax
                norms[i] = amax
                continue
            row /= amax
            r = np.sqrt(np.dot(row, row))
            row /= r
            norms[i] = amax * r
    return norms


def remove_parallel_component(W: Any, G: np.ndarray, *, n_threads: int = 1,
                              backend: str = "compiled", check_finite: bool = True) -> np.ndarray:
    """Project out of each gradient row its component along the weight row, in place.

    ``G[i] -= (G[i] . W[i] / W[i] . W[i]) * W[i]`` for every row with ``W[i] != 0``
    (rows of zeros leave ``G[i]`` unchanged). Used with unit-norm decoder rows so
    that a gradient step does not change their norm to first order.

    Parameters
    ----------
    W : array_like of float, shape (m, n)
        The weights (e.g. unit-norm decoder rows).
    G : ndarray of shape (m, n)
        Same dtype as W, C-contiguous and writeable, not overlapping ``W``;
        modified in place.
    n_threads : int, default 1
        Threads for the compiled kernel (-1: all cores).
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference.
    check_finite : bool, default True
        Scan the float inputs for NaN and infinity (and raise). Pass False in a
        hot loop whose inputs are known to be finite: the scan of W costs about
        a fifth of the kernel's time at B=256, m=1000, n=784, k=25.

    Returns
    -------
    ndarray
        ``G``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.sparse import remove_parallel_component
    >>> W = np.array([[1.0, 0.0]])
    >>> remove_parallel_component(W, np.array([[2.0, 3.0]]))
    array([[0., 3.]])
    """
    backend = check_backend(backend)
    n_threads = check_n_threads(n_threads)
    G = _inplace_array(G, "G", 2, finite=check_finite)
    W = _float_input(W, "W", 2, G.dtype, "G", check_finite)
    if W.shape != G.shape:
        raise ValueError(f"W and G must have the same shape, got {W.shape} and {G.shape}")
    _check_no_overlap("G", G, W=W)
    if backend == "numpy":
        ww = np.einsum("ij,ij->i", W, W)
        gw = np.einsum("ij,ij->i", G, W)
        nz = ww > 0
        G[nz] -= (gw[nz] / ww[nz])[:, None] * W[nz]
        return G
    _core._remove_parallel_component(W, G, n_threads)
    return G


# --------------------------------------------------------------------------- firing
def update_firing(steps_since_fired: np.ndarray, indices: Any, n_samples: int, *,
                  backend: str = "compiled") -> np.ndarray:
    """Update per-unit counters of samples since each unit last fired, in place.

    Every counter grows by ``n_samples``, stopping at the largest int64
    (``2**63 - 1``) instead of wrapping round to negative; the counters of
    units present in ``indices`` (any shape, e.g. the (B, k) code indices of a
    batch) are reset to 0.

    Parameters
    ----------
    steps_since_fired : ndarray of int64, shape (m,)
        C-contiguous, writeable; modified in place.
    indices : array_like of int
        Units that fired, each in ``[0, m)``.
    n_samples : int
        Samples seen since the last update (usually the batch size), >= 0.
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference.

    Returns
    -------
    ndarray
        ``steps_since_fired``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.sparse import update_firing
    >>> since = np.array([5, 5, 5], dtype=np.int64)
    >>> update_firing(since, [[1]], n_samples=2)
    array([7, 0, 7])
    """
    backend = check_backend(backend)
    c = steps_since_fired
    if not isinstance(c, np.ndarray) or c.dtype != np.int64 or c.ndim != 1:
        raise TypeError(
            "steps_since_fired must be a 1-D numpy array of dtype int64, e.g. "
            "np.zeros(n_hidden, dtype=np.int64)"
        )
    if not c.flags.c_contiguous or not c.flags.writeable:
        raise ValueError("steps_since_fired is modified in place and must be C-contiguous and writeable")
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"n_samples must be an integer, got {n_samples!r}")
    if not 0 <= n_samples <= _INT64_MAX:
        raise ValueError(f"n_samples={n_samples} must be >= 0 and fit in int64")
    arr = np.asarray(indices)
    idx = check_index_array(arr.reshape(-1), "indices", c.shape[0], ndim=1)
    if backend == "numpy":
        np.minimum(c, _INT64_MAX - int(n_samples), out=c)  # saturate at _INT64_MAX
        c += int(n_samples)
        c[idx] = 0
        return c
    _core._update_firing(c, idx, int(n_samples))
    return c
