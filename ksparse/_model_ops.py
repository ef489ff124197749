"""Unchecked array operations shared by the autoencoder's losses and training step.

These are the sparse building blocks of the model (top-k selection, sparse decode
and the two scatter-add backward passes) called with inputs that the estimator has
already validated. They delegate to the library's kernels (``ksparse.topk`` and
``ksparse.sparse``) when those modules are present and otherwise fall back to plain
numpy; both paths compute the same thing. Thread counts are handed on to those
public functions, which bound them with ``ksparse._validation.check_n_threads``
(the numpy fallback has no threads).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

import importlib

try:  # the kernels engineer's module
    _sparse: Any = importlib.import_module("ksparse.sparse")
except ImportError:  # pragma: no cover - depends on merge state
    _sparse = None

try:  # the topk engineer's module
    _topk_mod: Any = importlib.import_module("ksparse.topk")
except ImportError:  # pragma: no cover - depends on merge state
    _topk_mod = None

#: activations that are non-decreasing, so the top k of act(Z) are the top k of Z.
MONOTONE = frozenset({"linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu"})


def topk_rows(A: np.ndarray, k: int, by: str = "value", n_threads: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Return ``(values, indices)`` of the k largest entries of each row of A.

    Rows are in descending order of the key (value or |value|), ties to the lower index.
    """
    if _topk_mod is not None:
        return _topk_mod.topk(A, k, by=by, n_threads=n_threads)
    return topk_rows_numpy(A, k, by)


def topk_rows_numpy(A: np.ndarray, k: int, by: str = "value") -> Tuple[np.ndarray, np.ndarray]:
    """Plain numpy top-k per row: argpartition, then an exact ordering of the k kept."""
    key = np.abs(A) if by == "abs" else A
    m = A.shape[1]
    if k < m:
        part = np.argpartition(-key, k - 1, axis=1)[:, :k]
        # the k-th largest key; include every entry tied with it so ties go to the lower index
        kth = np.take_along_axis(key, part, 1).min(axis=1)
        ties = (key == kth[:, None]).sum(axis=1)
        inside = (np.take_along_axis(key, part, 1) == kth[:, None]).sum(axis=1)
        if np.any(ties != inside):
            order = np.lexsort((np.broadcast_to(np.arange(m), A.shape), -key), axis=1)[:, :k]
            part = order
    else:
        part = np.broadcast_to(np.arange(m), A.shape).copy()
    sel = np.take_along_axis(key, part, 1)
    order = np.lexsort((part, -sel), axis=1)
    idx = np.ascontiguousarray(np.take_along_axis(part, order, 1), dtype=np.int64)
    return np.take_along_axis(A, idx, 1), idx


def dense_codes(indices: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    """Scatter a (indices, values) code into a dense (B, m) array."""
    S = np.zeros((indices.shape[0], m), dtype=values.dtype)
    np.put_along_axis(S, indices, values, axis=1)
    return S


def decode(indices, values, W, b=None, *, out=None, n_threads: int = 1) -> np.ndarray:
    """``out = b + sum_j values[:, j, None] * W[indices[:, j]]``."""
    if _sparse is not None:
        return _sparse.sparse_decode(indices, values, W, b, n_threads=n_threads, out=out)
    res = np.einsum("bk,bkn->bn", values, W[indices])
    if b is not None:
        res += b
    if out is not None:
        out[...] = res
        return out
    return res


def decode_backward(indices, values, W, G, dW, *, n_threads: int = 1) -> np.ndarray:
    """Accumulate ``dW[indices] += values * G`` in place; return ``dvalues = G . W[indices]``."""
    if _sparse is not None:
        _, dval = _sparse.sparse_decode_backward(indices, values, W, G, dW=dW, n_threads=n_threads)
        return dval
    dval = np.einsum("bn,bkn->bk", G, W[indices])
    dW += dense_codes(indices, values, W.shape[0]).T @ G
    return dval


def encoder_backward(indices, dz, Xc, dW, db, *, n_threads: int = 1) -> None:
    """Accumulate ``dW[indices] += dz * Xc`` and ``db[indices] += dz`` in place."""
    if _sparse is not None:
        _sparse.sparse_encoder_backward(indices, dz, Xc, dW=dW, db=db, n_threads=n_threads)
        return
    S = dense_codes(indices, dz, dW.shape[0])
    dW += S.T @ Xc
    db += S.sum(axis=0)


def gather_dot(indices, W, V) -> np.ndarray:
    """Return ``out[b, j] = V[b] . W[indices[b, j]]`` ((B, k))."""
    return np.einsum("bn,bkn->bk", V, W[indices])


def gather_rows_weighted_sum(indices, weights, W) -> np.ndarray:
    """Return ``sum_{b, j} weights[b, j] * W[indices[b, j]]`` ((n,))."""
    return decode(indices, weights, W).sum(axis=0)


def remove_parallel_component(W, G) -> None:
    """In place: ``G[i] -= (G[i].W[i] / W[i].W[i]) W[i]`` (rows of W that are zero are left)."""
    if _sparse is not None:
        _sparse.remove_parallel_component(W, G)
        return
    ww = np.einsum("ij,ij->i", W, W)
    gw = np.einsum("ij,ij->i", G, W)
    coef = np.divide(gw, ww, out=np.zeros_like(gw), where=ww > 0)
    G -= coef[:, None] * W


def normalize_rows(W) -> None:
    """In place: scale the rows of W to unit L2 norm (zero rows stay zero)."""
    if _sparse is not None:
        _sparse.normalize_rows(W)
        return
    norms = np.sqrt(np.einsum("ij,ij->i", W, W))
    np.divide(W, norms[:, None], out=W, where=norms[:, None] > 0)


_INT64_MAX = int(np.iinfo(np.int64).max)


def update_firing(steps_since_fired, indices, values, n_samples: int) -> None:
    """Every unit's counter += n_samples; units selected with a nonzero value reset to 0.

    The int64 counters stop at their largest value instead of wrapping round to
    negative (``0 <= n_samples <= 2**63 - 1``).
    """
    np.minimum(steps_since_fired, _INT64_MAX - n_samples, out=steps_since_fired)
    steps_since_fired += n_samples
    fired = indices[values != 0]
    steps_since_fired[fired] = 0
