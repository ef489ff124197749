"""Helpers shared by the estimator and fused-step tests."""

import numpy as np


def init_params(rng, m, n, dtype):
    """Random autoencoder parameters: unit-norm decoder rows, encoder = decoder."""
    W = rng.standard_normal((m, n))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return {
        "W_enc": W.astype(dtype).copy(),
        "b_enc": (0.05 * rng.standard_normal(m)).astype(dtype),
        "W_dec": W.astype(dtype),
        "b_dec": rng.random(n).astype(dtype) * 0.5,
    }
