"""The fused training step: AuxK in the compiled kernel, AVX vs SSE2/scalar paths, threads."""

import numpy as np
import pytest

from ksparse import KSparseAutoencoder, _core
from ksparse.losses import AuxKLoss, CombinedLoss, MSELoss
from ksparse.training import AdamState, FusedStep, GeneralStep, get_activation
from _model_helpers import init_params


def copy_params(P):
    return {key: v.copy() for key, v in P.items()}


def step_both_and_compare(fused, gen, X, k, lr, dead, P, Q, tol, step):
    """One step of each; the losses, selections and parameters agree. Returns the fused code."""
    l1, _, i1, v1 = fused(X, k, lr, dead)
    l2, _, i2, _ = gen(X, k, lr, dead)
    assert l1 == pytest.approx(l2, rel=tol)
    np.testing.assert_array_equal(i1, i2)
    for name in P:
        np.testing.assert_allclose(P[name], Q[name], rtol=tol, atol=tol * 0.1, err_msg=f"{name} step {step}")
    return i1, v1


@pytest.mark.parametrize("mode", ["relu", "linear", "linear-abs"])
@pytest.mark.parametrize("n_dead", [1, 3, 17, 28])
def test_fused_auxk_equals_general_step(mode, n_dead):
    """Loss value, MSE and every updated parameter match GeneralStep with MSE + AuxK (float64)."""
    rng = np.random.default_rng(10 + n_dead)
    m, n, B, k, auxk_k, coef = 30, 20, 12, 4, 6, 0.25
    relu, by_abs = mode == "relu", mode == "linear-abs"
    P = init_params(rng, m, n, np.float64)
    Q = copy_params(P)
    fused = FusedStep(P, AdamState(P), True, B, k, n_threads=1, relu=relu, auxk_k=auxk_k, auxk_coef=coef,
                      by_abs=by_abs)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(auxk_k))])
    act = get_activation("relu" if relu else "linear")
    gen = GeneralStep(Q, AdamState(Q), loss, act, "abs" if by_abs else "value", True, B)
    for step in range(4):
        X = rng.random((B, n))
        dead = np.zeros(m, bool)
        dead[rng.choice(m, n_dead, replace=False)] = True
        l1, mse1, i1, v1 = fused(X, k, 5e-3, dead)
        l2, mse2, i2, v2 = gen(X, k, 5e-3, dead)
        assert fused.last_values["auxk"] > 0
        assert fused.last_values["auxk"] == pytest.approx(gen.last_values["auxk"], rel=1e-10)
        assert l1 == pytest.approx(l2, rel=1e-10)
        assert mse1 == pytest.approx(mse2, rel=1e-10)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(v1, v2, rtol=1e-10)
        for name in P:
            np.testing.assert_allclose(P[name], Q[name], rtol=1e-10, atol=1e-12, err_msg=f"{name} step {step}")


@pytest.mark.parametrize("avx", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-4), (np.float64, 1e-10)])
def test_fused_auxk_relu_positive_dead_counts(avx, dtype, tol):
    """Under ReLU the kernel finds the positive dead pre-activations with a masked scan:
    samples with none (the AuxK error is then the main error), with a few (taken as they
    are) and with more than auxk_k (a selection) all match GeneralStep, AVX on and off."""
    had = _core._step_uses_avx()
    rng = np.random.default_rng(21)
    m, n, B, k, auxk_k, coef = 37, 19, 12, 3, 4, 0.5
    P = init_params(rng, m, n, dtype)
    dead = np.zeros(m, bool)
    dead[rng.choice(m, 20, replace=False)] = True
    Q = copy_params(P)
    fused = FusedStep(P, AdamState(P), True, B, k, auxk_k=auxk_k, auxk_coef=coef)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(auxk_k))])
    gen = GeneralStep(Q, AdamState(Q), loss, get_activation("relu"), "value", True, B)
    counts = []
    try:
        _core._step_set_avx(avx)
        # the dead units' biases set how many of them have a positive pre-activation:
        # none (all very negative), a few (0 to 4 <= auxk_k) and many (up to all 20)
        for top, scale in ((-40.0, 1.0), (-0.6, 1.0), (3.0, 30.0)):
            for p in (P, Q):
                p["b_enc"][dead] = np.linspace(-50, top, 20).astype(dtype)
            X = (scale * rng.random((B, n))).astype(dtype)
            Z = (X - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
            counts.append((Z[:, dead] > 0).sum(axis=1))
            l1, mse1, i1, _ = fused(X, k, 1e-3, dead)
            l2, mse2, i2, _ = gen(X, k, 1e-3, dead)
            assert fused.last_values["auxk"] == pytest.approx(gen.last_values["auxk"], rel=tol)
            assert l1 == pytest.approx(l2, rel=tol)
            np.testing.assert_array_equal(i1, i2)
            for name in P:
                np.testing.assert_allclose(P[name], Q[name], rtol=tol, atol=tol * 0.1, err_msg=name)
    finally:
        _core._step_set_avx(had)
    counts = np.concatenate(counts)
    assert counts.min() == 0 and ((counts > 0) & (counts <= auxk_k)).any() and counts.max() > auxk_k


def test_fused_auxk_without_positive_dead_units_is_the_main_error():
    """No dead unit with a positive pre-activation: e_hat = 0, so AuxK = sum e^2 / sum
    (e - mean_b e)^2 with e = X - Xh, and the update equals the MSE-only step's."""
    rng = np.random.default_rng(22)
    m, n, B, k = 24, 16, 10, 3
    P = init_params(rng, m, n, np.float64)
    dead = np.zeros(m, bool)
    dead[:8] = True
    P["b_enc"][:8] = -100.0
    before = copy_params(P)
    Q = copy_params(P)
    with_aux = FusedStep(P, AdamState(P), True, B, k, auxk_k=4, auxk_coef=0.5)
    without = FusedStep(Q, AdamState(Q), True, B, k)
    X = rng.random((B, n))
    la, msea, _, _ = with_aux(X, k, 1e-2, dead)
    lb, mseb, _, _ = without(X, k, 1e-2, dead)
    assert msea == mseb
    Z = (X - before["b_dec"]) @ before["W_enc"].T + before["b_enc"]
    top = np.argsort(-Z, axis=1, kind="stable")[:, :k]
    codes = np.zeros_like(Z)
    np.put_along_axis(codes, top, np.maximum(np.take_along_axis(Z, top, axis=1), 0), axis=1)
    E = X - (codes @ before["W_dec"] + before["b_dec"])
    expected = (E * E).sum() / ((E - E.mean(axis=0)) ** 2).sum()
    assert with_aux.last_values["auxk"] == pytest.approx(expected, rel=1e-10)
    assert la == pytest.approx(msea + 0.5 * expected, rel=1e-10)
    for name in P:
        np.testing.assert_array_equal(P[name], Q[name])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auxk_batch_of_identical_samples_adds_nothing(dtype):
    """Identical samples leave identical residuals: the AuxK denominator is exactly 0, so
    both steps add no AuxK (a float32 mean once left rounding noise and a loss of 1e14)."""
    rng = np.random.default_rng(23)
    m, n, B, k, coef = 30, 20, 12, 4, 0.25
    P = init_params(rng, m, n, dtype)
    Q = copy_params(P)
    fused = FusedStep(P, AdamState(P), True, B, k, auxk_k=6, auxk_coef=coef)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(6))])
    gen = GeneralStep(Q, AdamState(Q), loss, get_activation("relu"), "value", True, B)
    X = np.tile(rng.random(n), (B, 1)).astype(dtype)
    dead = np.zeros(m, bool)
    dead[:10] = True
    l1, mse1, _, _ = fused(X, k, 1e-3, dead)
    l2, mse2, _, _ = gen(X, k, 1e-3, dead)
    assert fused.last_values["auxk"] == 0.0
    assert gen.last_values["auxk"] == 0.0
    assert l1 == pytest.approx(mse1) and l2 == pytest.approx(mse2)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for name in P:
        np.testing.assert_allclose(P[name], Q[name], rtol=tol, atol=tol * 0.1, err_msg=name)


@pytest.mark.parametrize("mode", ["relu", "linear", "linear-abs"])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-4), (np.float64, 1e-10)])
def test_encoder_decay_fused_equals_general_step(mode, dtype, tol):
    """Decoupled encoder decay of the units that fired: FusedStep and GeneralStep agree,
    with AuxK on and a k that changes between steps."""
    rng = np.random.default_rng(31)
    m, n, B, k, coef, decay = 30, 20, 12, 4, 0.25, 0.7
    relu, by_abs = mode == "relu", mode == "linear-abs"
    P = init_params(rng, m, n, dtype)
    Q = copy_params(P)
    fused = FusedStep(P, AdamState(P), True, B, 6, relu=relu, auxk_k=6, auxk_coef=coef, by_abs=by_abs,
                      encoder_decay=decay)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(6))])
    gen = GeneralStep(Q, AdamState(Q), loss, get_activation("relu" if relu else "linear"),
                      "abs" if by_abs else "value", True, B, encoder_decay=decay)
    for step, kk in enumerate((6, 5, 4, 4)):
        X = rng.random((B, n)).astype(dtype)
        dead = rng.random(m) < 0.3
        step_both_and_compare(fused, gen, X, kk, 2e-2, dead, P, Q, tol, step)


@pytest.mark.parametrize("mode", ["relu", "linear", "linear-abs"])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-4), (np.float64, 1e-10)])
def test_lazy_adam_fused_equals_general_step(mode, dtype, tol):
    """Lazy Adam ("sparse_adam"): FusedStep and GeneralStep (AdamState.step_numpy) agree,
    with AuxK, encoder decay and k changing between steps; the units outside the code of
    a step keep their rows, biases and moments exactly."""
    rng = np.random.default_rng(33)
    m, n, B, k, coef = 40, 20, 6, 3, 0.25
    relu, by_abs = mode == "relu", mode == "linear-abs"
    P = init_params(rng, m, n, dtype)
    Q = copy_params(P)
    adam_f, adam_g = AdamState(P, lazy=True), AdamState(Q, lazy=True)
    fused = FusedStep(P, adam_f, True, B, 5, relu=relu, auxk_k=4, auxk_coef=coef, by_abs=by_abs,
                      encoder_decay=0.5)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(4))])
    gen = GeneralStep(Q, adam_g, loss, get_activation("relu" if relu else "linear"),
                      "abs" if by_abs else "value", True, B, encoder_decay=0.5)
    silent_steps = 0
    for step, kk in enumerate((5, 4, 3, 3, 3)):
        X = rng.random((B, n)).astype(dtype)
        dead = rng.random(m) < 0.2 if step % 2 else None
        before = copy_params(P)
        m_before = {name: adam_f.m[name].copy() for name in ("W_enc", "W_dec")}
        i1, v1 = step_both_and_compare(fused, gen, X, kk, 2e-2, dead, P, Q, tol, step)
        for name in ("W_enc", "W_dec"):
            np.testing.assert_allclose(adam_f.m[name], adam_g.m[name], rtol=tol, atol=tol * 1e-3)
            np.testing.assert_allclose(adam_f.v[name], adam_g.v[name], rtol=tol, atol=tol * 1e-6)
        if dead is None:  # without AuxK, the code is exactly the units (i1, v1) selects
            in_code = np.zeros(m, bool)
            in_code[i1[v1 != 0]] = True
            silent = ~in_code
            silent_steps += int(silent.any())
            for name in ("W_enc", "W_dec", "b_enc"):
                np.testing.assert_array_equal(P[name][silent], before[name][silent], err_msg=name)
            for name in ("W_enc", "W_dec"):
                np.testing.assert_array_equal(adam_f.m[name][silent], m_before[name][silent])
            # b_dec belongs to no unit: it is updated every step, lazy or not
            assert not np.array_equal(P["b_dec"], before["b_dec"])
    assert silent_steps >= 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoder_decay_scales_only_the_rows_of_units_that_fired(dtype):
    """From the same state, the step with decay d differs from the step without it by
    exactly lr d W_enc[i] on the units that fired, and not at all elsewhere."""
    rng = np.random.default_rng(32)
    m, n, B, k, lr, decay = 40, 16, 6, 2, 1e-2, 0.5
    P = init_params(rng, m, n, dtype)
    P["b_enc"][:10] = -50.0  # these ten never fire
    before = copy_params(P)
    Q = copy_params(P)
    with_decay = FusedStep(P, AdamState(P), True, B, k, encoder_decay=decay)
    without = FusedStep(Q, AdamState(Q), True, B, k)
    X = rng.random((B, n)).astype(dtype)
    _, _, idx, val = with_decay(X, k, lr)
    without(X, k, lr)
    fired = np.zeros(m, bool)
    fired[idx[val != 0]] = True
    assert 0 < fired.sum() < m and not fired[:10].any()
    np.testing.assert_array_equal(P["W_enc"][~fired], Q["W_enc"][~fired])
    factor = dtype(1.0 - lr * decay)
    expected = before["W_enc"][fired] * factor - (before["W_enc"][fired] - Q["W_enc"][fired])
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(P["W_enc"][fired], expected, rtol=tol, atol=tol)
    for name in ("b_enc", "W_dec", "b_dec"):
        np.testing.assert_array_equal(P[name], Q[name])


def test_fused_auxk_changes_the_update():
    """AuxK is not ignored: with dead units the update differs from the MSE-only step."""
    rng = np.random.default_rng(5)
    m, n, B, k = 24, 16, 8, 3
    P = init_params(rng, m, n, np.float64)
    Q = copy_params(P)
    with_aux = FusedStep(P, AdamState(P), True, B, k, auxk_k=4, auxk_coef=0.5)
    without = FusedStep(Q, AdamState(Q), True, B, k)
    X = rng.random((B, n))
    dead = np.ones(m, bool)
    la, msea, _, _ = with_aux(X, k, 1e-2, dead)
    lb, mseb, _, _ = without(X, k, 1e-2, dead)
    assert msea == mseb
    assert la > lb
    assert not np.array_equal(P["W_dec"], Q["W_dec"])


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_auxk_two_threads_equal_one(dtype, lazy):
    rng = np.random.default_rng(6)
    m, n, B, k = 64, 40, 32, 6
    P1 = init_params(rng, m, n, dtype)
    P2 = copy_params(P1)
    s1 = FusedStep(P1, AdamState(P1, lazy=lazy), True, B, k, n_threads=1, auxk_k=8, auxk_coef=1 / 32)
    s2 = FusedStep(P2, AdamState(P2, lazy=lazy), True, B, k, n_threads=2, auxk_k=8, auxk_coef=1 / 32)
    for _ in range(3):
        X = rng.random((B, n)).astype(dtype)
        dead = rng.random(m) < 0.4
        r1 = s1(X, k, 1e-2, dead)
        r2 = s2(X, k, 1e-2, dead)
        assert r1[0] == r2[0]
        np.testing.assert_array_equal(r1[2], r2[2])
    for name in P1:
        np.testing.assert_array_equal(P1[name], P2[name])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 37, 784])
@pytest.mark.parametrize("zero_grad", [False, True])
def test_avx_and_baseline_adam_rows_bit_identical(dtype, n, zero_grad):
    """The AVX Adam rows do the same IEEE operations as the SSE2/scalar ones (no FMA)."""
    had = _core._step_uses_avx()
    rng = np.random.default_rng(7)
    w = rng.standard_normal(n).astype(dtype)
    m = (0.1 * rng.standard_normal(n)).astype(dtype)
    v = (0.01 * rng.random(n)).astype(dtype)
    g = None if zero_grad else rng.standard_normal(n).astype(dtype)
    out = []
    try:
        for flag in (False, True):
            _core._step_set_avx(flag)
            w1, m1, v1 = w.copy(), m.copy(), v.copy()
            _core._step_adam_row(w1, m1, v1, g, 1e-3 / 0.1, 1 / np.sqrt(0.001), 0.9, 0.999, 1e-8)
            out.append((w1, m1, v1))
    finally:
        _core._step_set_avx(had)
    assert _core._step_uses_avx() == had
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
    # and both equal the numpy formula
    gg = np.zeros(n, dtype) if g is None else g
    mm = dtype(0.9) * m + dtype(0.1) * gg
    vv = dtype(0.999) * v + dtype(1 - 0.999) * (gg * gg)
    ww = w - dtype(1e-2) * mm / (np.sqrt(vv) * dtype(1 / np.sqrt(0.001)) + dtype(1e-8))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out[1][0], ww, rtol=tol, atol=tol)
    np.testing.assert_allclose(out[1][1], mm, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-12)])
def test_avx_and_baseline_steps_agree(dtype, tol):
    """Whole steps with AVX off and on agree (the dot products sum in another order)."""
    had = _core._step_uses_avx()
    rng = np.random.default_rng(7)
    m, n, B, k = 50, 37, 16, 5
    P1 = init_params(rng, m, n, dtype)
    P2 = copy_params(P1)
    s1 = FusedStep(P1, AdamState(P1), True, B, k, auxk_k=6, auxk_coef=0.1)
    s2 = FusedStep(P2, AdamState(P2), True, B, k, auxk_k=6, auxk_coef=0.1)
    try:
        for _ in range(3):
            X = rng.random((B, n)).astype(dtype)
            dead = rng.random(m) < 0.5
            _core._step_set_avx(False)
            r1 = s1(X, k, 1e-3, dead)
            _core._step_set_avx(True)
            r2 = s2(X, k, 1e-3, dead)
            assert r1[0] == pytest.approx(r2[0], rel=tol)
    finally:
        _core._step_set_avx(had)
    for name in P1:
        np.testing.assert_allclose(P1[name], P2[name], rtol=tol, atol=tol)


def test_estimator_with_dead_units_uses_fused_step(monkeypatch):
    """Dead units with AuxK on no longer send the estimator to the general step."""
    rng = np.random.default_rng(8)
    X = rng.random((64, 12)).astype(np.float32)
    est = KSparseAutoencoder(n_hidden=40, k=2, batch_size=16, n_epochs=3, dead_samples=16, random_state=0)
    est.partial_fit(X[:16])
    assert isinstance(est._step, FusedStep)
    est.partial_fit(X)
    assert est.steps_since_fired_.max() >= 16  # some units are dead
    assert isinstance(est._step, FusedStep)  # the step is chosen by the parameters alone
    assert np.isfinite(est.history_["loss"][-1])


def test_fused_auxk_float32_and_short_batch_match_general_step():
    """float32 within float32 tolerance, and a batch shorter than the workspaces."""
    rng = np.random.default_rng(9)
    m, n, B, k, auxk_k, coef = 40, 24, 16, 5, 10, 1 / 32
    P = init_params(rng, m, n, np.float32)
    Q = copy_params(P)
    fused = FusedStep(P, AdamState(P), True, B, k, auxk_k=auxk_k, auxk_coef=coef)
    loss = CombinedLoss([(1.0, MSELoss()), (coef, AuxKLoss(auxk_k))])
    gen = GeneralStep(Q, AdamState(Q), loss, get_activation("relu"), "value", True, B)
    for Bs in (B, 7, B):
        X = rng.random((Bs, n)).astype(np.float32)
        dead = rng.random(m) < 0.5
        l1, _, i1, _ = fused(X, k, 5e-3, dead)
        l2, _, i2, _ = gen(X, k, 5e-3, dead)
        assert l1 == pytest.approx(l2, rel=2e-4)
        np.testing.assert_array_equal(i1, i2)
        for name in P:
            np.testing.assert_allclose(P[name], Q[name], rtol=2e-4, atol=2e-5, err_msg=name)


def test_fused_abs_selection_needs_the_linear_activation():
    rng = np.random.default_rng(0)
    P = init_params(rng, 10, 6, np.float64)
    with pytest.raises(ValueError, match="absolute value only with the linear activation"):
        FusedStep(P, AdamState(P), True, 4, 2, relu=True, by_abs=True)


def test_estimator_uses_the_fused_step_for_linear_abs():
    X = np.random.default_rng(1).random((64, 12)).astype(np.float32)
    est = KSparseAutoencoder(n_hidden=16, k=3, activation="linear", selection="abs", n_epochs=2,
                             batch_size=16, random_state=0).fit(X)
    assert isinstance(est._step, FusedStep) and est._step.by_abs
    idx, val = est.encode(X)
    assert (val < 0).any()  # signed codes


# --------------------------------------------------------------------------- one engine
def test_fused_step_checks_n_threads():
    """The thread count goes through ksparse._validation.check_n_threads."""
    rng = np.random.default_rng(30)
    P = init_params(rng, 20, 9, np.float32)
    with pytest.raises(ValueError):
        FusedStep(P, AdamState(P), True, 4, 2, n_threads=0)
    with pytest.raises(TypeError):
        FusedStep(P, AdamState(P), True, 4, 2, n_threads=1.5)
    assert FusedStep(P, AdamState(P), True, 4, 2, n_threads=-1).n_threads >= 1


@pytest.mark.parametrize("dtype,big", [(np.float32, 1e20), (np.float64, 1e160), (np.float32, 1e-25)])
def test_fused_step_normalises_rows_beyond_the_plain_sum_of_squares(dtype, big):
    """A decoder row whose sum of squares overflows (or underflows) still comes out with
    unit norm, in the direction it had (the row kernel scales by max |w| first)."""
    rng = np.random.default_rng(31)
    m, n, B, k = 24, 13, 8, 3
    P = init_params(rng, m, n, dtype)
    # unit 5 is never selected (a very negative bias) and gets a huge (tiny) decoder row;
    # non-lazy Adam renormalises every row
    P["b_enc"][5] = -1e6
    direction = rng.standard_normal(n)
    direction /= np.linalg.norm(direction)
    P["W_dec"][5] = (direction * big).astype(dtype)
    fused = FusedStep(P, AdamState(P, lazy=False), True, B, k)
    X = rng.random((B, n)).astype(dtype)
    loss, _, idx, _ = fused(X, k, 1e-3)
    assert np.isfinite(loss) and 5 not in idx
    row = P["W_dec"][5].astype(np.float64)
    assert np.all(np.isfinite(row))
    assert np.linalg.norm(row) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(row, direction, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-12)])
def test_every_simd_level_gives_the_same_step(dtype, tol):
    """The one dispatch: portable C, SSE2 and AVX give the same step (up to the order of
    the dot products' sums), and the Adam rows bit for bit."""
    best = _core._simd_level()
    rng = np.random.default_rng(32)
    m, n, B, k = 40, 37, 16, 5
    P0 = init_params(rng, m, n, dtype)
    X = [rng.random((B, n)).astype(dtype) for _ in range(3)]
    dead = rng.random(m) < 0.5
    out = []
    try:
        for level in range(best + 1):
            assert _core._simd_set_level(level) == level
            P = copy_params(P0)
            step = FusedStep(P, AdamState(P), True, B, k, auxk_k=6, auxk_coef=0.1)
            losses = [step(x, k, 1e-3, dead)[0] for x in X]
            w = np.random.default_rng(33).standard_normal(n).astype(dtype)
            mm, vv = np.zeros(n, dtype), np.full(n, 0.01, dtype)
            _core._step_adam_row(w, mm, vv, X[0][0], 1e-3, 1.5, 0.9, 0.999, 1e-8)
            out.append((losses, P, (w, mm, vv)))
    finally:
        _core._simd_set_level(best)
    assert _core._simd_level() == best
    for losses, P, rows in out[1:]:
        np.testing.assert_allclose(losses, out[0][0], rtol=tol)
        for name in P:
            np.testing.assert_allclose(P[name], out[0][1][name], rtol=tol, atol=tol)
        for a, b in zip(rows, out[0][2]):
            np.testing.assert_array_equal(a, b)


def test_ksparse_simd_environment_forces_the_portable_path():
    """KSPARSE_SIMD=portable caps the dispatch at portable C for every kernel."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, KSPARSE_SIMD="portable")
    code = ("from ksparse import _core; "
            "print(_core._simd_level(), _core._topk_simd_level(), int(_core._step_uses_avx()))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "0", "0"]
