"""KSparseAutoencoder: training step equivalence, training behaviour, API, errors, persistence."""

import math

import numpy as np
import pytest

from ksparse import DivergenceError, KSparseAutoencoder
from ksparse.activations import get_activation
from ksparse.training import AdamState, FusedStep, GeneralStep, reference_step
from ksparse.losses import CombinedLoss, MSELoss
from _model_helpers import init_params


def small_data(n=120, d=16, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    # a few prototypes plus noise: a sparse code fits it well
    protos = rng.random((6, d))
    X = protos[rng.integers(0, 6, n)] * rng.random((n, 1)) + 0.05 * rng.random((n, d))
    return X.astype(dtype)


def quick(**kw):
    base = dict(n_hidden=12, k=3, n_epochs=4, batch_size=16, random_state=0)
    base.update(kw)
    return KSparseAutoencoder(**base)


# ------------------------------------------------------------------ step equivalence
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("normalize", [True, False])
def test_fused_step_equals_reference(dtype, rtol, relu, normalize):
    rng = np.random.default_rng(1)
    m, n, B, k = 40, 24, 16, 5
    P = init_params(rng, m, n, dtype)
    Q = {key: v.copy() for key, v in P.items()}
    a1, a2 = AdamState(P), AdamState(Q)
    fused = FusedStep(P, a1, normalize, B, k, n_threads=1, relu=relu)
    for _ in range(4):
        X = rng.random((B, n)).astype(dtype)
        l1, _, i1, v1 = fused(X, k, 5e-3)
        l2, i2, v2 = reference_step(Q, a2, X, k, lr=5e-3, activation="relu" if relu else "linear",
                                    normalize_decoder=normalize)
        assert l1 == pytest.approx(l2, rel=rtol)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(v1, v2, rtol=rtol, atol=rtol * 1e-2)
        for name in P:
            np.testing.assert_allclose(P[name], Q[name], rtol=rtol, atol=rtol * 1e-2, err_msg=name)
    assert a1.t == a2.t == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_general_step_equals_reference(dtype):
    rng = np.random.default_rng(2)
    m, n, B, k = 30, 20, 12, 4
    P = init_params(rng, m, n, dtype)
    Q = {key: v.copy() for key, v in P.items()}
    a1, a2 = AdamState(P), AdamState(Q)
    gen = GeneralStep(P, a1, CombinedLoss([(1.0, MSELoss())]), get_activation("relu"), "value", True, B)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for _ in range(3):
        X = rng.random((B, n)).astype(dtype)
        l1, _, _, _ = gen(X, k, 5e-3)
        l2, _, _ = reference_step(Q, a2, X, k, lr=5e-3)
        assert l1 == pytest.approx(l2, rel=tol)
    for name in P:
        np.testing.assert_allclose(P[name], Q[name], rtol=tol, atol=tol * 1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_step_two_threads_equal_one(dtype):
    rng = np.random.default_rng(3)
    m, n, B, k = 64, 40, 32, 6
    P1 = init_params(rng, m, n, dtype)
    P2 = {key: v.copy() for key, v in P1.items()}
    s1 = FusedStep(P1, AdamState(P1), True, B, k, n_threads=1)
    s2 = FusedStep(P2, AdamState(P2), True, B, k, n_threads=2)
    for _ in range(3):
        X = rng.random((B, n)).astype(dtype)
        l1 = s1(X, k, 1e-2)[0]
        l2 = s2(X, k, 1e-2)[0]
        assert l1 == l2
    for name in P1:
        np.testing.assert_array_equal(P1[name], P2[name])


def test_fused_step_nonfinite_loss_leaves_weights():
    rng = np.random.default_rng(4)
    P = init_params(rng, 10, 6, np.float64)
    before = {key: v.copy() for key, v in P.items()}
    a = AdamState(P)
    step = FusedStep(P, a, True, 4, 2)
    X = rng.random((4, 6))
    X[1, 2] = np.inf
    loss = step(X, 2, 1e-2)[0]
    assert not math.isfinite(loss)
    assert a.t == 0
    for name in P:
        np.testing.assert_array_equal(P[name], before[name])


# ------------------------------------------------------------------ training behaviour
def test_fit_reduces_error_and_history():
    X = small_data()
    est = quick(n_epochs=8, validation_fraction=0.2).fit(X)
    h = est.history_
    keys = {"epoch", "loss", "mse", "l0", "dead_fraction", "k", "time", "peak_rss_mb", "val_loss", "val_mse"}
    assert set(h) == keys
    assert all(len(v) == 8 for v in h.values())
    assert h["mse"][-1] < h["mse"][0]
    assert all(t >= 0 for t in h["time"]) and all(r > 0 for r in h["peak_rss_mb"])
    assert est.n_iter_ == 8
    assert est.W_enc_.shape == (12, 16) and est.W_enc_.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(est.W_dec_, axis=1), 1.0, rtol=1e-5)
    assert -est.score(X) < ((X - X.mean(0)) ** 2).mean()


@pytest.mark.parametrize("steps,epochs", [(1, 200), (150, 200), (151, 199), (157, 192), (625, 48), (1875, 16),
                                          (30_000, 1), (10**6, 1)])
def test_auto_epochs_is_a_step_budget(steps, epochs):
    from ksparse.autoencoder import AUTO_MAX_EPOCHS, AUTO_STEPS, auto_epochs

    assert auto_epochs(steps) == epochs
    # the budget is met: enough steps, unless capped at AUTO_MAX_EPOCHS passes
    assert epochs * steps >= AUTO_STEPS or epochs == AUTO_MAX_EPOCHS
    assert (epochs - 1) * steps < AUTO_STEPS
    with pytest.raises(ValueError, match="steps_per_epoch=0 must be at least 1"):
        auto_epochs(0)


def test_fit_with_auto_epochs_trains_the_resolved_number_of_passes():
    X = small_data(n=40)
    est = KSparseAutoencoder(n_hidden=6, k=2, batch_size=16, random_state=0, n_epochs="auto")
    assert est.get_params()["n_epochs"] == "auto" and KSparseAutoencoder().n_epochs == "auto"
    # 40 samples in batches of 16: 3 steps per epoch, capped at 200 epochs (600 steps)
    assert est.epochs_for(40) == 200
    est.fit(X)
    assert est.n_iter_ == 200 and len(est.history_["epoch"]) == 200
    assert est.n_epochs == "auto"  # the parameter is left as given
    # an integer is used as it is; a validation split leaves fewer samples per epoch
    assert quick(n_epochs=7).epochs_for(10**6) == 7
    assert KSparseAutoencoder(batch_size=32).epochs_for(5000) == 192
    assert KSparseAutoencoder(batch_size=32, validation_fraction=0.5).epochs_for(120_000) == 16
    with pytest.raises(ValueError, match="n_samples=0 must be at least 1"):
        est.epochs_for(0)


@pytest.mark.parametrize("bad", ["Auto", "100", 0, -3, 2.5, True, None])
def test_bad_n_epochs_names_the_choices(bad):
    with pytest.raises(ValueError, match="must be an integer >= 1 or 'auto'"):
        quick(n_epochs=bad).fit(small_data())


def test_reproducible_with_random_state():
    X = small_data()
    a = quick().fit(X)
    b = quick().fit(X)
    for name in ("W_enc_", "b_enc_", "W_dec_", "b_dec_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = quick(random_state=1).fit(X)
    assert not np.array_equal(a.W_dec_, c.W_dec_)


def test_two_threads_equal_one():
    X = small_data()
    a = quick(n_threads=1).fit(X)
    b = quick(n_threads=2).fit(X)
    for name in ("W_enc_", "b_enc_", "W_dec_", "b_dec_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_float64():
    X = small_data(dtype=np.float64)
    est = quick(dtype="float64").fit(X)
    assert est.W_dec_.dtype == np.float64
    assert est.transform(X).dtype == np.float64


def test_progressive_sparsity():
    X = small_data()
    est = quick(k=2, k_start=10, k_anneal_fraction=0.5, n_epochs=6).fit(X)
    ks = est.history_["k"]
    assert ks[0] > 2 and ks[-1] == 2
    assert all(a >= b for a, b in zip(ks, ks[1:]))
    assert est.history_["l0"][0] > est.history_["l0"][-1]


@pytest.mark.filterwarnings("ignore:.*units are dead:ksparse.ConvergenceWarning")  # by design
def test_dead_unit_reset():
    X = small_data(n=64)
    kw = dict(n_hidden=40, k=1, k_start=1, batch_size=8, dead_samples=8, n_epochs=4, auxk_coef=0.0)
    since = []
    est = quick(dead_reset=True, **kw).fit(X, callback=lambda e, epoch: since.append(e.steps_since_fired_.copy()))
    assert est.history_["dead_fraction"][0] > 0
    # resets at the ends of epochs 0, 1 and 2 (the first 80% of training) ...
    assert (since[0] < 8).all() and (since[1] < 8).all() and (since[2] < 8).all()
    # ... and none later, so no unit is left untrained at the end
    assert est.history_["dead_fraction"][-1] > 0 and (since[-1] >= 8).any()
    no_reset = quick(dead_reset=False, **kw).fit(X)
    assert (no_reset.steps_since_fired_ >= 8).any()


@pytest.mark.filterwarnings("ignore:.*units are dead:ksparse.ConvergenceWarning")  # by design
def test_auxk_trains_dead_units():
    """With dead units, AuxK changes the dead units' encoder rows (MSE alone does not)."""
    X = small_data(n=64)
    kw = dict(n_hidden=40, k=1, k_start=1, batch_size=8, dead_samples=8, n_epochs=2, dead_reset=False)
    with_aux = quick(auxk_coef=0.5, **kw).fit(X)
    without = quick(auxk_coef=0.0, **kw).fit(X)
    assert not np.array_equal(with_aux.W_enc_, without.W_enc_)


def test_divergence_keeps_last_good_weights():
    X = small_data()
    saved = {}

    def cb(est, epoch):
        saved[epoch] = est.W_dec_.copy()

    # encoder_decay=0: with the decay, such a learning rate is refused before training
    est = quick(learning_rate=1e30, lr_schedule="constant", n_epochs=5, encoder_decay=0.0)
    with pytest.raises(DivergenceError, match="diverged"):
        est.fit(X, callback=cb)
    assert np.isfinite(est.W_dec_).all() and np.isfinite(est.W_enc_).all()
    if saved:
        np.testing.assert_array_equal(est.W_dec_, saved[max(saved)])


def test_early_stopping(monkeypatch):
    X = small_data()
    est = quick(n_epochs=30, validation_fraction=0.25, early_stopping=True, patience=2)
    calls = []

    def worse(self, X_val, k):
        calls.append(1)
        return float(len(calls))  # the validation loss only grows

    monkeypatch.setattr(KSparseAutoencoder, "_mse", worse)
    est.fit(X)
    assert est.n_iter_ == 3  # best at epoch 0, then 2 epochs without improvement
    assert len(est.history_["val_loss"]) == 3


def test_partial_fit_one_batch_is_one_step():
    X = small_data(n=16, dtype=np.float64)
    est = KSparseAutoencoder(n_hidden=12, k=3, batch_size=16, dtype="float64", random_state=5,
                             learning_rate=1e-2)
    est.partial_fit(X)
    assert est._opt.t == 1 and est.n_iter_ == 1
    # the same step by the reference implementation from the same initial weights
    ref = KSparseAutoencoder(n_hidden=12, k=3, batch_size=16, dtype="float64", random_state=5)
    r = ref._check_params()
    rng = np.random.default_rng(5)
    rng.integers(0, 2**63 - 1)
    ref._init_weights(X, r, rng)
    P = ref._params()
    reference_step(P, AdamState(P), X, 3, lr=1e-2, encoder_decay=est.encoder_decay)
    assert est.encoder_decay > 0  # the default decays the encoder rows that fired
    for name in P:
        np.testing.assert_allclose(est._params()[name], P[name], rtol=1e-10, atol=1e-12)
    est.partial_fit(X)
    assert est._opt.t == 2


def test_transform_with_larger_k_and_round_trip():
    X = small_data()
    est = quick().fit(X)
    C = est.transform(X)
    assert C.shape == (len(X), 12)
    assert ((C != 0).sum(1) <= 3).all()
    C3 = est.transform(X, k=9)
    assert ((C3 != 0).sum(1) <= 9).all() and (C3 != 0).sum() > (C != 0).sum()
    idx, val = est.encode(X)
    idx9, _ = est.encode(X, k=9)
    np.testing.assert_array_equal(idx9[:, :3], idx)
    assert idx.dtype == np.int64 and idx.shape == (len(X), 3)
    R1 = est.inverse_transform((idx, val))
    R2 = est.inverse_transform(C)
    np.testing.assert_allclose(R1, R2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.reconstruct(X), R1, rtol=1e-6)
    assert est.score(X) == pytest.approx(-((R1 - X) ** 2).mean(), rel=1e-4)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "X,match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
        (np.zeros((0, 4)), "0 sample"),
        (np.zeros(5), "2-D"),
        (np.zeros((4, 0)), "0 feature"),
        ([[1.0, 2.0], [3.0]], "same length"),
    ],
)
def test_bad_input_raises_before_training(X, match):
    est = quick()
    with pytest.raises(ValueError, match=match):
        est.fit(X)
    assert not hasattr(est, "W_enc_")


def test_bad_params():
    X = small_data()
    with pytest.raises(ValueError, match="k=20 must be between 1 and n_hidden=12"):
        quick(k=20).fit(X)
    with pytest.raises(ValueError, match="k_start"):
        quick(k_start=2).fit(X)
    with pytest.raises(ValueError, match="learning_rate"):
        quick(learning_rate=-1).fit(X)
    with pytest.raises(ValueError, match="validation_fraction"):
        quick(early_stopping=True).fit(X)
    with pytest.raises(ValueError, match="optimizer"):
        quick(optimizer="nope").fit(X)
    with pytest.raises(ValueError, match="encoder_decay=-1 must be a finite number >= 0"):
        quick(encoder_decay=-1).fit(X)
    # the fired encoder rows are scaled by 1 - lr * decay: a factor <= 0 flips or zeroes them
    with pytest.raises(ValueError, match="learning_rate \\* encoder_decay well below 1"):
        quick(encoder_decay=200.0, learning_rate=0.01).fit(X)
    quick(encoder_decay=50.0, learning_rate=0.01, n_epochs=1).fit(X)


ALL_OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "sparse_sgd", "sparse_momentum",
                  "sparse_nesterov", "sparse_adam", "sparse_rmsprop", "sparse_adagrad"]


@pytest.mark.filterwarnings("ignore:the training loss rose:ksparse.ConvergenceWarning")  # plain SGD at 0.1
@pytest.mark.parametrize("optimizer", ALL_OPTIMIZERS)
def test_every_optimizer_trains_the_estimator(optimizer):
    X = small_data()
    lr = 0.1 if optimizer.endswith(("sgd", "momentum", "nesterov", "adagrad")) else 1e-2
    est = quick(optimizer=optimizer, learning_rate=lr, n_epochs=8, lr_schedule="constant").fit(X)
    mse = est.history_["mse"]
    assert np.isfinite(est.W_enc_).all() and np.isfinite(est.W_dec_).all()
    assert mse[-1] < 0.7 * mse[0], (optimizer, mse)


@pytest.mark.parametrize("base", ["momentum", "nesterov", "adam"])
def test_lazy_optimizers_leave_the_rows_of_silent_units_alone(base):
    # two steps: units that fire in the first batch but not in the second carry optimizer
    # state; the dense rule still moves their encoder rows, the lazy one does not
    X = small_data(n=32)
    moved = {}
    for name in (base, "sparse_" + base):
        est = quick(optimizer=name, batch_size=16, k=2, auxk_coef=0.0, encoder_decay=0.0)
        est.partial_fit(X[:16])
        idx, val = est.encode(X[16:])
        quiet = np.setdiff1d(np.arange(12), idx[val != 0])
        before = est.W_enc_.copy()
        est.partial_fit(X[16:])
        assert quiet.size, "the test needs units that stay silent on the second batch"
        moved[name] = np.abs(est.W_enc_[quiet] - before[quiet]).max(axis=1)
    assert (moved[base] > 0).any()
    np.testing.assert_array_equal(moved["sparse_" + base], 0.0)


def test_wrong_width_and_unfitted():
    X = small_data()
    est = quick()
    with pytest.raises(ValueError, match="not fitted"):
        est.transform(X)
    est.fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but KSparseAutoencoder is expecting 16"):
        est.transform(X[:, :5])
    with pytest.raises(ValueError, match="k=13 must be between 1 and n_hidden=12"):
        est.encode(X, k=13)


# ------------------------------------------------------------------ persistence
def test_state_round_trip():
    X = small_data()
    est = quick().fit(X)
    arrays, meta = est._get_state(include_optimizer=False)
    import json

    json.dumps(meta)
    back = KSparseAutoencoder._from_state(arrays, meta)
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    assert back.get_params() == est.get_params()
    assert back.history_ == est.history_
    arrays, meta = est._get_state(include_optimizer=True)
    json.dumps(meta)
    assert any(key.startswith("optim.") for key in arrays)


def test_resume_equals_uninterrupted():
    X = small_data()
    full = quick(n_epochs=5, validation_fraction=0.2).fit(X)

    class Stop(Exception):
        pass

    def stop_after_two(est, epoch):
        if epoch == 1:
            raise Stop

    part = quick(n_epochs=5, validation_fraction=0.2)
    with pytest.raises(Stop):
        part.fit(X, callback=stop_after_two)
    import json

    arrays, meta = part._get_state(include_optimizer=True)
    meta = json.loads(json.dumps(meta))
    resumed = KSparseAutoencoder._from_state({k: v.copy() for k, v in arrays.items()}, meta)
    resumed.fit(X, resume=True)
    for name in ("W_enc_", "b_enc_", "W_dec_", "b_dec_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name))
    assert resumed.history_["mse"] == full.history_["mse"]
    assert resumed.n_iter_ == 5


def test_resume_needs_state():
    with pytest.raises(ValueError, match="resume"):
        quick().fit(small_data(), resume=True)


def test_pickle():
    import pickle

    X = small_data()
    est = quick().fit(X)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    back.partial_fit(X[:16])


def test_blas_threads_limits_and_restores():
    from threadpoolctl import threadpool_info

    from ksparse._threads import blas_threads

    def blas_counts():
        return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]

    before = blas_counts()
    if not before:
        pytest.skip("no BLAS library visible to threadpoolctl")
    with blas_threads(1):
        assert all(n == 1 for n in blas_counts())
    assert blas_counts() == before


@pytest.mark.parametrize("name, warmup, first, at_end", [
    ("constant", 0, 1.0, 1.0), ("constant", 4, 0.25, 1.0), ("warmup", 0, 1.0, 1.0),
    ("cosine", 0, 1.0, 0.0), ("linear", 2, 0.5, 0.0),
])
def test_lr_schedule_of_training(name, warmup, first, at_end):
    from ksparse.autoencoder import _lr_schedule

    s = _lr_schedule(name, 10, warmup)
    assert s(0) == pytest.approx(first)
    assert s(10) == pytest.approx(at_end)


def test_decoder_starts_at_centred_training_samples():
    rng = np.random.default_rng(0)
    X = rng.random((40, 12))
    est = KSparseAutoencoder(n_hidden=50, k=3, learning_rate=1e-12, batch_size=40, random_state=0)
    est.partial_fit(X)  # one step with a negligible learning rate: the weights are the initial ones
    Xc = X - X.mean(axis=0)
    Xc /= np.linalg.norm(Xc, axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(est.W_dec_, axis=1), 1.0, rtol=1e-5)
    cos = est.W_dec_.astype(np.float64) @ Xc.T
    assert (cos.max(axis=1) > 0.99).all()  # every row is one sample (up to the small jitter)
    np.testing.assert_allclose(est.W_enc_, est.W_dec_, atol=1e-6)
    np.testing.assert_allclose(est.b_dec_, X.mean(axis=0), atol=1e-5)
    # n_hidden > n_samples: samples are picked with replacement, the jitter separates repeats
    assert len(np.unique(np.round(est.W_dec_, 4), axis=0)) == 50
    # constant data: rows are still finite unit vectors
    c = KSparseAutoencoder(n_hidden=5, k=2, n_epochs=1, random_state=0).fit(np.ones((10, 4)))
    assert np.isfinite(c.W_dec_).all()
    np.testing.assert_allclose(np.linalg.norm(c.W_dec_, axis=1), 1.0, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::ksparse.ConvergenceWarning")  # one epoch on tiny data learns little
def test_small_scale_data_warns_once_and_normal_data_does_not():
    import warnings

    from ksparse import DataScaleWarning

    rng = np.random.default_rng(0)
    X = rng.random((40, 12))
    with pytest.warns(DataScaleWarning, match=r"standard deviation of 0\.000\d+.*StandardScaler"):
        KSparseAutoencoder(n_hidden=8, k=2, n_epochs=1, random_state=0).fit(1e-3 * X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        for data in (X, 1e6 * X, np.zeros((40, 12)), 0.05 * X):  # normal, large, constant, smallish
            KSparseAutoencoder(n_hidden=8, k=2, n_epochs=1, random_state=0).fit(data)
    est = KSparseAutoencoder(n_hidden=8, k=2, batch_size=8, random_state=0)
    with pytest.warns(DataScaleWarning):
        est.partial_fit(1e-3 * X[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        est.partial_fit(1e-3 * X[8:16])  # only the first call checks
