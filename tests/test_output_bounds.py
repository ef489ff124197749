"""The clipped output (``output_bounds``): exact gradients, kernel = reference, estimator API."""

import math

import numpy as np
import pytest

from ksparse import KSparseAutoencoder, _core
from ksparse import io as kio
from ksparse.config import ConfigError, RunConfig
from ksparse.losses import AuxKLoss, CombinedLoss, MSELoss
from ksparse.training import AdamState, FusedStep, GeneralStep, clip_output, get_activation, reference_step
from _model_helpers import init_params
from test_losses import context, make_params, numeric_grad


def clipped_mse(p, X, k, act, idx, bounds):
    """MSE of the clipped reconstruction with the selection held fixed."""
    c = context(p, X, k, act=act, idx=idx)
    Xh = np.clip(c.Xh, *bounds)
    return float(((Xh - X) ** 2).mean())


@pytest.mark.parametrize("act", ["relu", "linear"])
@pytest.mark.parametrize("bounds", [(0.2, 0.7), (0.3, math.inf), (-math.inf, 0.5)])
def test_clipped_step_gradient_matches_finite_differences(act, bounds):
    rng = np.random.default_rng(7)
    p = make_params(rng, m=10, n=9)
    X = rng.random((6, 9))
    step = GeneralStep(p, AdamState(p), CombinedLoss([(1.0, MSELoss())]), get_activation(act), "value", True, 6)
    step.output_bounds = bounds
    ctx = step.forward(X, 3)
    inside = ctx.clip_inside
    assert inside is not None and 0 < inside.sum() < inside.size  # some entries are clipped, some not
    idx = ctx.indices.copy()
    total, grads = step.gradients(ctx)
    assert clipped_mse(p, X, 3, act, idx, bounds) == pytest.approx(total)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        for i, num in numeric_grad(lambda: clipped_mse(p, X, 3, act, idx, bounds), p[name], 15, rng):
            assert getattr(grads, name)[i] == pytest.approx(num, rel=1e-5, abs=1e-9), name


@pytest.mark.parametrize("avx", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("bounds", [(0.1, 0.8), (0.25, math.inf)])
def test_fused_clipped_step_equals_reference(avx, dtype, tol, relu, bounds):
    had = _core._step_uses_avx()
    rng = np.random.default_rng(11)
    m, n, B, k = 40, 27, 16, 5  # n = 27: the AVX loops and their scalar tails both run
    P = init_params(rng, m, n, dtype)
    Q = {key: v.copy() for key, v in P.items()}
    a1, a2 = AdamState(P), AdamState(Q)
    fused = FusedStep(P, a1, True, B, k, relu=relu, encoder_decay=0.3)
    fused.output_bounds = bounds
    try:
        _core._step_set_avx(avx)
        for _ in range(4):
            X = rng.random((B, n)).astype(dtype)
            l1, _, i1, v1 = fused(X, k, 5e-3)
            l2, i2, v2 = reference_step(Q, a2, X, k, lr=5e-3, activation="relu" if relu else "linear",
                                        encoder_decay=0.3, output_bounds=bounds)
            assert l1 == pytest.approx(l2, rel=tol)
            np.testing.assert_array_equal(i1, i2)
            for name in P:
                np.testing.assert_allclose(P[name], Q[name], rtol=tol, atol=tol * 1e-2, err_msg=name)
    finally:
        _core._step_set_avx(had)


def test_clip_changes_the_step():
    """Not a no-op: with bounds that clip, the update differs from the unclipped one."""
    rng = np.random.default_rng(12)
    P = init_params(rng, 20, 16, np.float64)
    Q = {key: v.copy() for key, v in P.items()}
    X = rng.random((8, 16))
    f1, f2 = FusedStep(P, AdamState(P), True, 8, 3), FusedStep(Q, AdamState(Q), True, 8, 3)
    f1.output_bounds = (0.3, 0.6)
    l1, *_ = f1(X, 3, 1e-2)
    l2, *_ = f2(X, 3, 1e-2)
    assert l1 != l2
    assert not np.allclose(P["W_dec"], Q["W_dec"])


@pytest.mark.parametrize("mode", ["relu", "linear-abs"])
def test_fused_clipped_auxk_equals_general_step(mode):
    """AuxK reconstructs the residual of the clipped output, in the kernel as in AuxKLoss."""
    rng = np.random.default_rng(13)
    m, n, B, k, auxk_k, coef = 30, 20, 12, 4, 6, 0.25
    relu, by_abs = mode == "relu", mode == "linear-abs"
    P = init_params(rng, m, n, np.float64)
    Q = {key: v.copy() for key, v in P.items()}
    fused = FusedStep(P, AdamState(P), True, B, k, relu=relu, auxk_k=auxk_k, auxk_coef=coef, by_abs=by_abs)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(auxk_k))])
    gen = GeneralStep(Q, AdamState(Q), loss, get_activation("relu" if relu else "linear"),
                      "abs" if by_abs else "value", True, B)
    fused.output_bounds = gen.output_bounds = (0.15, 0.75)
    for step in range(3):
        X = rng.random((B, n))
        dead = np.zeros(m, bool)
        dead[rng.choice(m, 9, replace=False)] = True
        l1, mse1, i1, _ = fused(X, k, 5e-3, dead)
        l2, mse2, i2, _ = gen(X, k, 5e-3, dead)
        assert fused.last_values["auxk"] == pytest.approx(gen.last_values["auxk"], rel=1e-10)
        assert (l1, mse1) == pytest.approx((l2, mse2), rel=1e-10)
        np.testing.assert_array_equal(i1, i2)
        for name in P:
            np.testing.assert_allclose(P[name], Q[name], rtol=1e-10, atol=1e-12, err_msg=f"{name} step {step}")


@pytest.mark.parametrize("avx", [False, True])
def test_a_nan_reconstruction_is_not_hidden_by_the_clip(avx):
    had = _core._step_uses_avx()
    rng = np.random.default_rng(14)
    P = init_params(rng, 20, 16, np.float32)
    P["W_dec"][:] = np.nan  # every reconstruction is NaN; the clip must not make it finite
    before = {key: v.copy() for key, v in P.items()}
    fused = FusedStep(P, AdamState(P), True, 8, 3)
    fused.output_bounds = (0.0, 1.0)
    try:
        _core._step_set_avx(avx)
        loss, *_ = fused(rng.random((8, 16)).astype(np.float32), 3, 1e-2)
    finally:
        _core._step_set_avx(had)
    assert not math.isfinite(loss)
    for name in P:
        np.testing.assert_array_equal(P[name], before[name])  # no update


def test_clip_output_helper():
    Xh = np.array([[-1.0, 0.5, 2.0, np.nan]])
    inside = clip_output(Xh, (0.0, 1.0))
    np.testing.assert_array_equal(Xh[:, :3], [[0.0, 0.5, 1.0]])
    assert np.isnan(Xh[0, 3])
    np.testing.assert_array_equal(inside, [[False, True, False, False]])
    assert clip_output(Xh, None) is None


# ------------------------------------------------------------------ estimator
def data(n=200, d=12, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.random((5, d))
    return (protos[rng.integers(0, 5, n)] * rng.random((n, 1)) + 0.05 * rng.random((n, d))).astype(np.float32)


def quick(**kw):
    base = dict(n_hidden=10, k=3, n_epochs=3, batch_size=16, random_state=0)
    base.update(kw)
    return KSparseAutoencoder(**base)


def test_partial_fit_step_through_the_clip_equals_reference():
    """With clip_training, one partial_fit step is the reference step on the clipped output;
    without it (the default), the step is the unclipped one."""
    X = data(n=16).astype(np.float64)
    kw = dict(n_hidden=12, k=3, batch_size=16, dtype="float64", random_state=5, output_bounds=(0.1, 0.6))
    for clip_training in (True, False):
        est = KSparseAutoencoder(clip_training=clip_training, **kw)
        est.partial_fit(X)
        ref = KSparseAutoencoder(**kw)
        r = ref._check_params()
        rng = np.random.default_rng(5)
        rng.integers(0, 2**63 - 1)
        ref._init_weights(X, r, rng)
        P = ref._params()
        reference_step(P, AdamState(P), X, 3, lr=1e-2, encoder_decay=est.encoder_decay,
                       output_bounds=(0.1, 0.6) if clip_training else None)
        for name in P:
            np.testing.assert_allclose(est._params()[name], P[name], rtol=1e-10, atol=1e-12)


def test_clip_training_changes_training_and_is_checked():
    X = data()
    a = quick().fit(X)
    b = quick(clip_training=True).fit(X)
    assert a.output_bounds_ == b.output_bounds_
    assert not np.allclose(a.W_dec_, b.W_dec_)
    with pytest.raises(ValueError, match="clip_training"):
        quick(clip_training="yes").fit(X)


def test_auto_bounds_are_the_training_range_and_bound_every_reconstruction():
    X = data()
    est = quick().fit(X)
    assert est.output_bounds_ == (float(X.min()), float(X.max()))
    wide = 3.0 * data(seed=1) - 1.0  # far outside the training range
    for R in (est.reconstruct(wide), est.inverse_transform(est.transform(wide)),
              est.inverse_transform(est.encode(wide))):
        assert R.min() >= X.min() and R.max() <= X.max()
    R = est.reconstruct(wide)
    assert est.score(wide) == pytest.approx(-float(((R - wide) ** 2).mean()), rel=1e-6)


def test_no_bounds_and_explicit_bounds():
    X = data()
    wide = 3.0 * data(seed=1) - 1.0
    free = quick(output_bounds=None).fit(X)
    assert free.output_bounds_ is None
    assert free.reconstruct(wide).max() > X.max()  # nothing clips it
    one = quick(output_bounds=(0.05, None)).fit(X)
    assert one.output_bounds_ == (0.05, math.inf)
    assert one.reconstruct(wide).min() >= 0.05
    assert one.reconstruct(wide).max() > X.max()


def test_partial_fit_widens_auto_bounds():
    X = data()
    est = quick(batch_size=50)
    est.partial_fit(X[:50])
    assert est.output_bounds_ == (float(X[:50].min()), float(X[:50].max()))
    est.partial_fit(X[50:] + 1.0)
    assert est.output_bounds_ == (float(X[:50].min()), float((X[50:] + 1.0).max()))
    est.partial_fit(X[10:40])  # inside the range: no change
    assert est.output_bounds_ == (float(X[:50].min()), float((X[50:] + 1.0).max()))


@pytest.mark.parametrize("bad", ["AUTO", "none", (1.0, 0.0), (0.5, 0.5), (0.0,), (0, 1, 2), (float("nan"), 1.0),
                                 (True, 1.0), ("0", "1"), 3.0])
def test_bad_bounds_raise_before_training(bad):
    est = quick(output_bounds=bad)
    with pytest.raises(ValueError, match="output_bounds"):
        est.fit(data())
    assert not hasattr(est, "W_enc_")


def test_bounds_survive_save_and_load(tmp_path):
    X = data()
    for spec in ("auto", None, (0.0, None)):
        est = quick(output_bounds=spec).fit(X)
        path = kio.save(est, tmp_path / "m.safetensors")
        back = kio.load(path)
        assert back.output_bounds_ == est.output_bounds_
        np.testing.assert_array_equal(back.reconstruct(X), est.reconstruct(X))


def test_checkpoint_resume_keeps_bounds(tmp_path):
    X = data()
    stop = {}

    def interrupt(est, epoch):
        if epoch == 0:
            kio.save(est, tmp_path / "ck.safetensors", checkpoint=True)
            stop["done"] = True

    full = quick(n_epochs=2).fit(X)
    quick(n_epochs=2).fit(X, callback=interrupt)
    back = kio.load(tmp_path / "ck.safetensors")
    assert back.output_bounds_ == full.output_bounds_
    back.fit(X, resume=True)
    for name, a in full._params().items():
        np.testing.assert_allclose(back._params()[name], a, rtol=1e-6, atol=1e-7)


def test_config_accepts_bounds():
    assert RunConfig.from_dict({"model": {"output_bounds": [0, 1]}}).model.output_bounds == [0.0, 1.0]
    assert RunConfig.from_dict({"model": {"output_bounds": [None, 1]}}).model.output_bounds == [None, 1.0]
    assert RunConfig.from_dict({"model": {"output_bounds": None}}).model.output_bounds is None
    assert RunConfig.from_dict({}).model.output_bounds == "auto"
    est = KSparseAutoencoder(**RunConfig.from_dict({"model": {"output_bounds": [0, None]}}).model_params())
    assert est._check_params()["output_bounds"] == (0.0, math.inf)
    for bad in ([1, 0], [0, 1, 2], "sometimes", [0, "x"]):
        with pytest.raises(ConfigError, match="output_bounds"):
            RunConfig.from_dict({"model": {"output_bounds": bad}})
