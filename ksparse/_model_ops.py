"""The one wrapper layer over the compiled core: allocate outputs, call the kernel.

Nothing here checks its arguments. Every caller has validated them once at the
public boundary (:mod:`ksparse.topk` and :mod:`ksparse.sparse` for the array
functions; the estimator, :mod:`ksparse.layers` and the training steps for their
own arrays, whose shapes are fixed when the model is built): indices are int64 in
``[0, m)``, float arrays C-contiguous and of one dtype, shapes consistent, ``k`` in
``[1, m]`` and ``n_threads`` a checked count.

It also holds the one top-k rule of every k-sparse model, :func:`select`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ksparse import _core

_NO_BIAS: Dict[np.dtype, np.ndarray] = {
    np.dtype(np.float32): np.empty(0, np.float32),
    np.dtype(np.float64): np.empty(0, np.float64),
}


def topk_rows(A: np.ndarray, k: int, by: str = "value", n_threads: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """``(values, indices)`` of the k largest entries (or |entries|) of each row of A.

    Rows are in descending order of the key, ties to the lower index.

    Raises
    ------
    FloatingPointError
        If A holds NaN or infinity (the kernel finds it in the same pass).
    """
    values = np.empty((A.shape[0], k), dtype=A.dtype)
    indices = np.empty((A.shape[0], k), dtype=np.int64)
    if _core._topk(A, k, by == "abs", n_threads, values, indices):
        raise FloatingPointError("the activations hold NaN or infinity (the weights or the input are too large)")
    return values, indices


def select(Z: np.ndarray, k: int, activation: Any, selection: str = "value", n_threads: int = 1,
           backend: str = "compiled") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top-k rule of every k-sparse model: which k units each sample keeps.

    With a non-decreasing activation and selection by value, the k largest
    pre-activations are the k largest activations, so they are selected on ``Z``
    itself (no pass of the activation over the (B, m) array); otherwise on
    ``activation(Z)``, by value or by absolute value. ``backend="numpy"`` selects
    with the plain numpy top-k (the numpy reference step).

    Returns
    -------
    indices : int64 ndarray (B, k)
    z_selected : ndarray (B, k)
        The pre-activations of the kept units.
    values : ndarray (B, k)
        Their activations, the code's values.
    """
    key = Z if activation.monotone and selection == "value" else activation.forward(Z)
    if backend == "numpy":
        from ksparse.topk import topk

        _, idx = topk(key, k, by=selection, backend="numpy")
    else:
        _, idx = topk_rows(key, k, by=selection, n_threads=n_threads)
    z_sel = np.take_along_axis(Z, idx, 1)
    return idx, z_sel, activation.forward(z_sel)


def dense_codes(indices: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    """Scatter a (indices, values) code into a dense (B, m) array."""
    out = np.empty((indices.shape[0], m), dtype=values.dtype)
    _core._codes_to_dense(indices, values, out)
    return out


def decode(indices: np.ndarray, values: np.ndarray, W: np.ndarray, b: Optional[np.ndarray] = None, *,
           out: Optional[np.ndarray] = None, n_threads: int = 1) -> np.ndarray:
    """``out = b + sum_j values[:, j, None] * W[indices[:, j]]`` (b may be None)."""
    if out is None:
        out = np.empty((indices.shape[0], W.shape[1]), dtype=W.dtype)
    _core._sparse_decode(indices, values, W, _NO_BIAS[W.dtype] if b is None else b, out, n_threads)
    return out


def decode_backward(indices: np.ndarray, values: np.ndarray, W: np.ndarray, G: np.ndarray, dW: np.ndarray, *,
                    n_threads: int = 1) -> np.ndarray:
    """Accumulate ``dW[indices] += values * G`` in place; return ``dvalues = G . W[indices]``."""
    dvalues = np.empty(indices.shape, dtype=W.dtype)
    _core._sparse_decode_backward(indices, values, W, G, dW, dvalues, n_threads)
    return dvalues


def encoder_backward(indices: np.ndarray, dz: np.ndarray, Xc: np.ndarray, dW: np.ndarray, db: np.ndarray, *,
                     n_threads: int = 1) -> None:
    """Accumulate ``dW[indices] += dz * Xc`` and ``db[indices] += dz`` in place."""
    _core._sparse_encoder_backward(indices, dz, Xc, dW, db, n_threads)


def gather_rows_weighted_sum(indices: np.ndarray, weights: np.ndarray, W: np.ndarray,
                             n_threads: int = 1) -> np.ndarray:
    """Return ``sum_{b, j} weights[b, j] * W[indices[b, j]]`` ((n,))."""
    return decode(indices, weights, W, n_threads=n_threads).sum(axis=0)


def remove_parallel_component(W: np.ndarray, G: np.ndarray, n_threads: int = 1) -> None:
    """In place: ``G[i] -= (G[i].W[i] / W[i].W[i]) W[i]`` (rows of W that are zero are left)."""
    _core._remove_parallel_component(W, G, n_threads)


def normalize_rows(W: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """In place: scale the rows of W to unit L2 norm (zero rows stay zero); return the old norms."""
    norms = np.empty(W.shape[0], dtype=W.dtype)
    _core._normalize_rows(W, norms, n_threads)
    return norms


def update_firing(steps_since_fired: np.ndarray, indices: np.ndarray, values: np.ndarray, n_samples: int) -> None:
    """Every unit's counter += n_samples (saturating); units selected with a nonzero value reset to 0."""
    fired = np.ascontiguousarray(indices[values != 0], dtype=np.int64)
    _core._update_firing(steps_since_fired, fired, int(n_samples))
