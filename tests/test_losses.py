"""Losses: values and their exact gradients (finite differences, float64)."""

import numpy as np
import pytest

from ksparse import _model_ops as ops
from ksparse.topk import topk
from ksparse.losses import AuxKLoss, CombinedLoss, DiversityLoss, Gradients, MSELoss, StepContext
from ksparse.activations import get_activation
from ksparse.training import GeneralStep, AdamState

EPS = 1e-6


def make_params(rng, m=12, n=7, dtype=np.float64):
    W = rng.standard_normal((m, n))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return {
        "W_enc": (W + 0.1 * rng.standard_normal((m, n))).astype(dtype),
        "b_enc": (0.1 * rng.standard_normal(m)).astype(dtype),
        "W_dec": W.astype(dtype),
        "b_dec": (0.1 * rng.standard_normal(n)).astype(dtype),
    }


def context(params, X, k, act="relu", dead=None, idx=None):
    """Forward pass; with ``idx`` given the selection is held fixed (for finite differences)."""
    a = get_activation(act)
    Xc = X - params["b_dec"]
    Z = Xc @ params["W_enc"].T + params["b_enc"]
    if idx is None:
        _, idx = topk(Z, k, backend="numpy")
    val = a.forward(np.take_along_axis(Z, idx, 1))
    Xh = ops.decode(idx, val, params["W_dec"], params["b_dec"])
    return StepContext(X=X, Xc=Xc, Z=Z, indices=idx, values=val, Xh=Xh, params=params, activation=a, dead=dead)


def numeric_grad(f, arr, n_checks, rng):
    """Central differences of f at a few random entries of arr (modified then restored)."""
    out = []
    for _ in range(n_checks):
        i = tuple(int(rng.integers(0, s)) for s in arr.shape)
        old = arr[i]
        arr[i] = old + EPS
        fp = f()
        arr[i] = old - EPS
        fm = f()
        arr[i] = old
        out.append((i, (fp - fm) / (2 * EPS)))
    return out


def test_mse_value_and_gradient():
    rng = np.random.default_rng(0)
    p = make_params(rng)
    X = rng.random((5, 7))
    ctx = context(p, X, 3)
    g = Gradients.zeros_like(ctx)
    v = MSELoss().forward_backward(ctx, g, 1.0)
    assert v == pytest.approx(((ctx.Xh - X) ** 2).mean())

    def f():
        return MSELoss().value(ctx)

    for i, num in numeric_grad(f, ctx.Xh, 10, rng):
        assert g.G[i] == pytest.approx(num, rel=1e-5, abs=1e-9)


def test_mse_weight_scales_gradient():
    rng = np.random.default_rng(1)
    p = make_params(rng)
    X = rng.random((4, 7))
    ctx = context(p, X, 3)
    g1, g2 = Gradients.zeros_like(ctx), Gradients.zeros_like(ctx)
    MSELoss().forward_backward(ctx, g1, 1.0)
    MSELoss().forward_backward(ctx, g2, 2.5)
    np.testing.assert_allclose(g2.G, 2.5 * g1.G)


def test_diversity_gradient():
    rng = np.random.default_rng(2)
    p = make_params(rng)
    X = rng.random((4, 7))
    ctx = context(p, X, 3)
    g = Gradients.zeros_like(ctx)
    loss = DiversityLoss()
    v = loss.forward_backward(ctx, g, 1.0)
    W = p["W_dec"]
    C = W @ W.T
    m = W.shape[0]
    assert v == pytest.approx(((C ** 2).sum() - (np.diag(C) ** 2).sum()) / (m * (m - 1)))
    for i, num in numeric_grad(lambda: loss.value(ctx), W, 15, rng):
        assert g.W_dec[i] == pytest.approx(num, rel=1e-5, abs=1e-10)


@pytest.mark.parametrize("act", ["relu", "linear"])
def test_auxk_gradient(act):
    rng = np.random.default_rng(3)
    p = make_params(rng, m=14, n=6)
    X = rng.random((6, 6))
    dead = np.zeros(14, dtype=bool)
    dead[[1, 4, 5, 9, 13]] = True
    base = context(p, X, 3, act=act, dead=dead)
    loss = AuxKLoss(k_aux=3)
    g = Gradients.zeros_like(base)
    v = loss.forward_backward(base, g, 1.0)
    assert v > 0
    Xh_fixed = base.Xh.copy()  # the residual is a fixed target
    a = get_activation(act)
    Z0 = base.Z.copy()
    dead_units = np.flatnonzero(dead)
    _, local = topk(np.ascontiguousarray(Z0[:, dead_units]), 3, backend="numpy")
    aux_idx = dead_units[local]

    def f():
        Xc = X - p["b_dec"]
        Z = Xc @ p["W_enc"].T + p["b_enc"]
        e = X - Xh_fixed
        val = a.forward(np.take_along_axis(Z, aux_idx, 1))
        e_hat = ops.decode(aux_idx, val, p["W_dec"])
        ec = e - e.mean(0)
        return ((e_hat - e) ** 2).sum() / (ec ** 2).sum()

    assert f() == pytest.approx(v)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        for i, num in numeric_grad(f, p[name], 12, rng):
            assert getattr(g, name)[i] == pytest.approx(num, rel=1e-5, abs=1e-9), name
    # only dead units receive decoder/encoder gradient
    assert not g.W_dec[~dead].any()
    assert not g.W_enc[~dead].any()


def test_auxk_is_zero_without_dead_units():
    rng = np.random.default_rng(4)
    p = make_params(rng)
    ctx = context(p, rng.random((4, 7)), 3, dead=np.zeros(12, dtype=bool))
    g = Gradients.zeros_like(ctx)
    assert AuxKLoss(4).forward_backward(ctx, g, 1.0) == 0.0
    assert not g.W_dec.any()


def test_combined_is_weighted_sum():
    rng = np.random.default_rng(5)
    p = make_params(rng)
    X = rng.random((5, 7))
    ctx = context(p, X, 3)
    comb = CombinedLoss([(1.0, MSELoss()), (0.3, DiversityLoss())])
    g = Gradients.zeros_like(ctx)
    v = comb.forward_backward(ctx, g, 1.0)
    assert v == pytest.approx(MSELoss().value(ctx) + 0.3 * DiversityLoss().value(ctx))
    g_div = Gradients.zeros_like(ctx)
    DiversityLoss().forward_backward(ctx, g_div, 0.3)
    np.testing.assert_allclose(g.W_dec, g_div.W_dec)
    assert set(comb.last_values) == {"mse", "diversity"}


@pytest.mark.parametrize("act", ["relu", "linear"])
@pytest.mark.parametrize("with_diversity", [False, True])
def test_full_step_gradient(act, with_diversity):
    """The general step's gradients of MSE (+ diversity) w.r.t. every parameter."""
    rng = np.random.default_rng(6)
    p = make_params(rng, m=10, n=6)
    X = rng.random((5, 6))
    terms = [(1.0, MSELoss())] + ([(0.5, DiversityLoss())] if with_diversity else [])
    step = GeneralStep(p, AdamState(p), CombinedLoss(terms), get_activation(act), "value", True, 5)
    ctx = step.forward(X, 3)
    idx = ctx.indices.copy()
    total, grads = step.gradients(ctx)

    def f():
        c = context(p, X, 3, act=act, idx=idx)
        v = MSELoss().value(c)
        if with_diversity:
            v += 0.5 * DiversityLoss().value(c)
        return v

    assert f() == pytest.approx(total)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        for i, num in numeric_grad(f, p[name], 12, rng):
            assert getattr(grads, name)[i] == pytest.approx(num, rel=1e-5, abs=1e-9), name
