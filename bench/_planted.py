"""Seeded generators of planted-dictionary data and the metrics of bench/quality_suite.py.

A planted dictionary is m unit-norm random directions ("atoms") in n dimensions. Each
sample is the sum of k distinct atoms, drawn without replacement with probabilities
``p`` (uniform or Zipf), with non-negative coefficients, plus Gaussian noise. A model
with m units that learns the data should find each atom as one of its decoder rows.

Activation-like data is planted data transformed the way transformer residual streams
look: a few dimensions with 10-100x the variance of the rest (a diagonal stretch of the
atoms), heavy-tailed sample norms (a log-normal factor per sample) and a large mean
shared by every sample. The stretch and the per-sample factor keep each sample a
non-negative combination of k stretched atoms, so those are the atoms to recover.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np


def make_dictionary(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """m unit-norm random directions in n dimensions, float64 (m, n)."""
    D = rng.standard_normal((m, n))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return D


def atom_probabilities(m: int, kind: str = "uniform", alpha: float = 1.0) -> np.ndarray:
    """Sampling weights of the m atoms: equal, or Zipf (p_i proportional to 1/(i+1)^alpha)."""
    if kind == "uniform":
        p = np.ones(m)
    elif kind == "zipf":
        p = 1.0 / np.arange(1, m + 1, dtype=np.float64) ** alpha
    else:
        raise ValueError(f"unknown frequency kind {kind!r}")
    return p / p.sum()


def draw_supports(p: np.ndarray, k: int, n_samples: int, rng: np.random.Generator,
                  chunk: int = 2048) -> np.ndarray:
    """(n_samples, k) distinct atom indices per sample, drawn without replacement with
    weights p (the Gumbel top-k trick)."""
    m = len(p)
    logp = np.log(p)
    out = np.empty((n_samples, k), dtype=np.int64)
    for s in range(0, n_samples, chunk):
        e = min(n_samples, s + chunk)
        g = logp - np.log(-np.log(rng.random((e - s, m))))
        out[s:e] = np.argpartition(-g, k - 1, axis=1)[:, :k]
    return out


def sample_planted(D: np.ndarray, p: np.ndarray, k: int, n_samples: int, noise: float,
                   rng: np.random.Generator):
    """Samples from the planted dictionary D (m, n): (X float64, supports, coefficients).

    Coefficients are uniform on [0.5, 1.5]; ``noise`` is the standard deviation of the
    additive Gaussian noise relative to the signal's per-coordinate RMS
    (sqrt(k * E[c^2] / n)), so its energy is ``noise**2`` of the signal's.
    """
    m, n = D.shape
    idx = draw_supports(p, k, n_samples, rng)
    coef = rng.uniform(0.5, 1.5, size=(n_samples, k))
    X = np.einsum("sk,skn->sn", coef, D[idx]) if n_samples * k * n <= 2**26 else _sum_atoms(D, idx, coef)
    rms = np.sqrt(k * (13.0 / 12.0) / n)  # E[c^2] = 13/12 for c ~ U(0.5, 1.5)
    X += (noise * rms) * rng.standard_normal(X.shape)
    return X, idx, coef


def _sum_atoms(D: np.ndarray, idx: np.ndarray, coef: np.ndarray, chunk: int = 4096) -> np.ndarray:
    X = np.empty((idx.shape[0], D.shape[1]))
    for s in range(0, idx.shape[0], chunk):
        X[s:s + chunk] = np.einsum("sk,skn->sn", coef[s:s + chunk], D[idx[s:s + chunk]])
    return X


def make_planted(n: int, m: int, k: int, n_train: int, n_test: int, freq: str = "uniform",
                 noise: float = 0.1, seed: int = 0, zipf_alpha: float = 1.0) -> Dict[str, np.ndarray]:
    """A planted-dictionary data set: X_train, X_test (float32), atoms (m, n, unit rows)
    and counts (each atom's occurrences in X_train), all from ``seed``."""
    rng = np.random.default_rng([seed, n, m, k])
    D = make_dictionary(n, m, rng)
    p = atom_probabilities(m, freq, zipf_alpha)
    perm = rng.permutation(m)  # the rare atoms are not the last rows of D
    p = p[perm]
    X, idx, _ = sample_planted(D, p, k, n_train + n_test, noise, rng)
    counts = np.bincount(idx[:n_train].ravel(), minlength=m)
    return {"X_train": X[:n_train].astype(np.float32), "X_test": X[n_train:].astype(np.float32),
            "atoms": D, "counts": counts, "p": p}


def make_activation_like(n: int, m: int, k: int, n_train: int, n_test: int, freq: str = "zipf",
                         noise: float = 0.1, seed: int = 0, n_outlier_dims: Optional[int] = None,
                         var_ratio=(10.0, 100.0), mean_scale: float = 10.0, norm_sigma: float = 0.75,
                         overall_scale: float = 3.0) -> Dict[str, np.ndarray]:
    """Planted data made to look like transformer activations.

    ``n_outlier_dims`` coordinates (default n // 64, at least 1) get log-uniformly 10-100x the variance of the rest
    (the atoms are stretched by ``sqrt(ratio)`` there), each sample's deviation is
    multiplied by a log-normal factor (sigma ``norm_sigma``; heavy-tailed norms), a
    shared mean with ``mean_scale`` times the RMS deviation norm is added, and the whole
    is multiplied by ``overall_scale`` (residual streams are not in unit range). The
    returned ``atoms`` are the stretched atoms, renormalised.
    """
    rng = np.random.default_rng([seed, n, m, k, 7])
    D = make_dictionary(n, m, rng)
    p = atom_probabilities(m, freq)[rng.permutation(m)]
    X, idx, _ = sample_planted(D, p, k, n_train + n_test, noise, rng)
    stretch = np.ones(n)
    if n_outlier_dims is None:
        n_outlier_dims = max(1, n // 64)
    dims = rng.choice(n, size=n_outlier_dims, replace=False)
    stretch[dims] = np.sqrt(np.exp(rng.uniform(np.log(var_ratio[0]), np.log(var_ratio[1]), n_outlier_dims)))
    X *= stretch
    X *= rng.lognormal(0.0, norm_sigma, size=(X.shape[0], 1))
    rms_norm = float(np.sqrt(np.mean(np.einsum("ij,ij->i", X, X))))
    mu = rng.standard_normal(n)
    mu *= mean_scale * rms_norm / np.linalg.norm(mu)
    X += mu
    X *= overall_scale
    A = D * stretch
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    counts = np.bincount(idx[:n_train].ravel(), minlength=m)
    return {"X_train": X[:n_train].astype(np.float32), "X_test": X[n_train:].astype(np.float32),
            "atoms": A, "counts": counts, "p": p}


# ---------------------------------------------------------------------- metrics
def max_cosines(W_dec: np.ndarray, atoms: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """For each atom (row of ``atoms``), the largest cosine with any row of ``W_dec``."""
    W = np.asarray(W_dec, dtype=np.float64)
    W = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-30)
    A = np.asarray(atoms, dtype=np.float64)
    A = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-30)
    out = np.empty(A.shape[0])
    for s in range(0, A.shape[0], chunk):
        out[s:s + chunk] = (A[s:s + chunk] @ W.T).max(axis=1)
    return out


def rarest_quartile(counts: np.ndarray) -> np.ndarray:
    """Indices of the quarter of atoms seen least often (ties broken by index)."""
    q = max(1, len(counts) // 4)
    return np.argsort(counts, kind="stable")[:q]


def recovery(W_dec: np.ndarray, atoms: np.ndarray, counts: np.ndarray,
             threshold: float = 0.9) -> Dict[str, float]:
    """Fraction of atoms some decoder row matches with cosine > threshold ("recovered"),
    the same for the rarest quartile ("rare"), and the mean of the atoms' best cosines."""
    c = max_cosines(W_dec, atoms)
    hit = c > threshold
    return {"recovered": float(hit.mean()), "rare": float(hit[rarest_quartile(counts)].mean()),
            "mean_max_cos": float(c.mean())}


def fvu(X: np.ndarray, Xh: np.ndarray, mean: Optional[np.ndarray] = None) -> float:
    """Fraction of variance unexplained: sum (X - Xh)^2 / sum (X - mean)^2 (mean of X by
    default)."""
    X = np.asarray(X, dtype=np.float64)
    Xh = np.asarray(Xh, dtype=np.float64)
    mu = X.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float64)
    return float(((X - Xh) ** 2).sum() / ((X - mu) ** 2).sum())
