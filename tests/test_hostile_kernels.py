"""Hostile input for the compiled kernels: none of it may crash the process or write
out of bounds.

Thread counts far above the machine's CPUs (clamped with a warning) or below 1
(refused on every entry point), outputs that alias their inputs, rows of length
0, rows whose squares overflow or underflow, and firing counters at the top of
int64.
"""

import os
import warnings

import numpy as np
import pytest

import ksparse
from ksparse import _core, _model_ops
from ksparse._validation import ThreadCountWarning, available_cpus, check_n_threads
from ksparse.cli import _threads as cli_threads
from ksparse.layers import DenseLayer, KSparseLayer, Network
from ksparse.optim import OPTIMIZERS, make_optimizer
from ksparse.sparse import (
    normalize_rows,
    remove_parallel_component,
    sparse_decode,
    sparse_decode_backward,
    sparse_encoder_backward,
    update_firing,
)
from ksparse.topk import topk
from ksparse.training import AdamState, FusedStep
from _model_helpers import init_params

HUGE = 100_000
INT64_MAX = 2**63 - 1
BAD_COUNTS = [
    (0, ValueError),
    (-2, ValueError),
    (-5, ValueError),
    (True, TypeError),
    (np.bool_(True), TypeError),
    (1.5, TypeError),
    (2.0, TypeError),
    ("2", TypeError),
]


@pytest.fixture
def one_cpu(monkeypatch):
    """Pretend the process may run on one CPU only (a 64-core model on a 1-core machine)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)


def _code(rng, B, m, k, dtype):
    idx = np.stack([rng.choice(m, k, replace=False) for _ in range(B)]).astype(np.int64)
    vals = rng.standard_normal((B, k)).astype(dtype)
    return idx, vals


# ----------------------------------------------------------------------------- check_n_threads
def test_check_n_threads_clamps_to_the_available_cpus():
    cpus = available_cpus()
    assert cpus == len(os.sched_getaffinity(0))
    with pytest.warns(ThreadCountWarning, match=f"n_threads={HUGE} is more than the {cpus} CPU"):
        assert check_n_threads(HUGE) == cpus
    with pytest.warns(ThreadCountWarning):
        assert check_n_threads(np.int64(2**40)) == cpus
    assert issubclass(ThreadCountWarning, RuntimeWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_n_threads(-1) == cpus
        assert check_n_threads(None) == cpus
        assert check_n_threads(1) == 1
        assert check_n_threads(np.int32(cpus)) == cpus


def test_check_n_threads_on_one_cpu(one_cpu):
    with pytest.warns(ThreadCountWarning, match="more than the 1 CPU"):
        assert check_n_threads(2) == 1
    assert check_n_threads(-1) == 1
    assert check_n_threads(1) == 1


@pytest.mark.parametrize("bad, exc", BAD_COUNTS)
def test_check_n_threads_refuses(bad, exc):
    with pytest.raises(exc, match="n_threads"):
        check_n_threads(bad)


def test_warning_points_at_the_callers_code():
    A = np.zeros((2, 5), np.float32)
    with pytest.warns(ThreadCountWarning) as rec:
        topk(A, 2, n_threads=HUGE)
    assert rec[0].filename == __file__


# ----------------------------------------------------------------------------- every entry point
def _entry_points(dtype):
    """(name, call(n_threads) -> result) for every public function that takes a thread count."""
    rng = np.random.default_rng(3)
    B, m, n, k = 9, 14, 11, 4
    A = rng.standard_normal((B, m)).astype(dtype)
    idx, vals = _code(rng, B, m, k, dtype)
    W = rng.standard_normal((m, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    G = rng.standard_normal((B, n)).astype(dtype)
    Gm = rng.standard_normal((m, n)).astype(dtype)
    P = {"w": rng.standard_normal((m, n)).astype(dtype)}
    g = {"w": rng.standard_normal((m, n)).astype(dtype)}

    def opt_step(nt):
        p = {"w": P["w"].copy()}
        opt = make_optimizer("adam", lr=0.01, n_threads=nt)
        opt.step(p, g)
        return p["w"]

    return [
        ("topk", lambda nt: topk(A, k, n_threads=nt)),
        ("sparse_decode", lambda nt: sparse_decode(idx, vals, W, b, n_threads=nt)),
        ("sparse_decode_backward", lambda nt: sparse_decode_backward(idx, vals, W, G, n_threads=nt)),
        ("sparse_encoder_backward", lambda nt: sparse_encoder_backward(idx, vals, G, m=m, n_threads=nt)),
        ("normalize_rows", lambda nt: (lambda X: (normalize_rows(X, n_threads=nt), X))(W.copy())),
        ("remove_parallel_component",
         lambda nt: remove_parallel_component(W, Gm.copy(), n_threads=nt)),
        ("optimizer", opt_step),
    ]


def _assert_same(a, b):
    if isinstance(a, tuple):
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [name for name, _ in _entry_points(np.float32)])
def test_huge_thread_count_clamps_and_matches_one_thread(name, dtype):
    call = dict(_entry_points(dtype))[name]
    one = call(1)
    with pytest.warns(ThreadCountWarning, match="more than the"):
        many = call(HUGE)
    _assert_same(many, one)


@pytest.mark.parametrize("bad, exc", BAD_COUNTS)
@pytest.mark.parametrize("name", [name for name, _ in _entry_points(np.float32)])
def test_bad_thread_count_refused(name, bad, exc):
    call = dict(_entry_points(np.float32))[name]
    with pytest.raises(exc, match="n_threads"):
        call(bad)


# ----------------------------------------------------------------------------- optimizer objects
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_optimizer_thread_count_set_after_construction(opt_name):
    rng = np.random.default_rng(4)
    opt = make_optimizer(opt_name, lr=0.01)
    for bad, exc in BAD_COUNTS:
        with pytest.raises(exc, match="n_threads"):
            opt.n_threads = bad
        assert opt.n_threads == 1  # the bad value was not kept
    p = {"w": rng.standard_normal((20, 7)).astype(np.float32)}
    g = {"w": rng.standard_normal((20, 7)).astype(np.float32)}
    ref = {"w": p["w"].copy()}
    make_optimizer(opt_name, lr=0.01).step(ref, g)
    with pytest.warns(ThreadCountWarning):
        opt.n_threads = HUGE
    assert opt.n_threads == available_cpus()
    opt.step(p, g)
    np.testing.assert_array_equal(p["w"], ref["w"])
    opt.n_threads = -1
    assert opt.n_threads == available_cpus()
    with pytest.raises(ValueError, match="n_threads=-5"):
        type(opt)(lr=0.01, n_threads=-5)


def test_kernels_treat_a_count_below_one_as_one_thread():
    """Second line of defence behind check_n_threads: the unchecked row kernels of
    _sparse.pxi and _optim.pxi never hand OpenMP a negative team size."""
    rng = np.random.default_rng(5)
    idx, vals = _code(rng, 6, 10, 3, np.float64)
    W = rng.standard_normal((10, 8))
    out = np.empty((6, 8))
    _core._sparse_decode(idx, vals, W, np.empty(0), out, -5)
    np.testing.assert_array_equal(out, sparse_decode(idx, vals, W))
    W2, norms = W.copy(), np.empty(10)
    _core._normalize_rows(W2, norms, -5)
    np.testing.assert_allclose(np.linalg.norm(W2, axis=1), 1.0, rtol=1e-12)
    p = rng.standard_normal(50)
    g = rng.standard_normal(50)
    expect = p - 0.1 * g
    _core._optim_update(0, p, g, np.empty(0), np.empty(0), np.array([0.1, 0.0]),
                        np.empty(0, np.int64), 50, False, -5)
    np.testing.assert_allclose(p, expect)


# ----------------------------------------------------------------------------- layers
def _net_data():
    rng = np.random.default_rng(6)
    return rng.random((40, 12), dtype=np.float32)


def test_network_thread_count_validated_in_constructor_and_setter():
    for bad, exc in BAD_COUNTS:
        with pytest.raises(exc, match="n_threads"):
            Network([DenseLayer(3, 3)], n_threads=bad)
    net = Network([KSparseLayer(12, 20, k=3), DenseLayer(20, 12)])
    for bad, exc in BAD_COUNTS:
        with pytest.raises(exc, match="n_threads"):
            net.n_threads = bad
        assert net.n_threads == 1
    with pytest.warns(ThreadCountWarning):
        net.n_threads = HUGE
    assert net.n_threads == available_cpus()
    with pytest.warns(ThreadCountWarning):
        big = Network([DenseLayer(3, 3)], n_threads=HUGE)
    assert big.n_threads == available_cpus()
    assert big.get_config()["n_threads"] == available_cpus()


def test_network_with_huge_thread_count_trains_as_one_thread():
    X = _net_data()

    def run(nt):
        net = Network([KSparseLayer(12, 20, k=3), DenseLayer(20, 12)], n_threads=nt)
        net.train(X, X, epochs=2, batch_size=10, random_state=0)
        return net

    one = run(1)
    with pytest.warns(ThreadCountWarning):
        many = run(HUGE)
    for a, b in zip(one.layers, many.layers):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one.predict(X), many.predict(X), rtol=1e-5, atol=1e-6)


def test_network_file_from_a_larger_machine(tmp_path, monkeypatch):
    """A model saved with n_threads=64 on a 64-CPU machine loads and trains on a 1-CPU one."""
    X = _net_data()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    net = Network([KSparseLayer(12, 20, k=3), DenseLayer(20, 12)], n_threads=64).initialize(0)
    assert net.n_threads == 64
    path = ksparse.save(net, tmp_path / "net.safetensors")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    with pytest.warns(ThreadCountWarning, match="n_threads=64 is more than the 1 CPU"):
        back = ksparse.load(path)
    assert back.n_threads == 1
    back.train(X, X, epochs=1, batch_size=10, random_state=0)


@pytest.mark.parametrize("layer", [KSparseLayer(12, 20, k=3), DenseLayer(12, 20)])
def test_layer_forward_thread_count(layer):
    X = _net_data()
    Network([layer]).initialize(0)
    one = layer.forward(X, n_threads=1)
    with pytest.warns(ThreadCountWarning):
        many = layer.forward(X, n_threads=HUGE)
    _assert_same(many, one)
    for bad, exc in BAD_COUNTS:
        with pytest.raises(exc, match="n_threads"):
            layer.forward(X, n_threads=bad)


# ----------------------------------------------------------------------------- estimator, config, CLI
def test_estimator_huge_thread_count_clamps_and_matches_one_thread():
    X = np.random.default_rng(7).random((64, 16)).astype(np.float32)

    def fit(nt):
        return ksparse.KSparseAutoencoder(n_hidden=12, k=3, n_epochs=2, batch_size=16, random_state=0,
                                          n_threads=nt, verbose=False).fit(X)

    one = fit(1)
    with pytest.warns(ThreadCountWarning):
        many = fit(HUGE)
    np.testing.assert_allclose(many.W_dec_, one.W_dec_, rtol=1e-5, atol=1e-7)
    for bad, exc in BAD_COUNTS:
        with pytest.raises(exc, match="n_threads"):
            fit(bad)


def test_estimator_file_from_a_larger_machine(tmp_path, one_cpu):
    X = np.random.default_rng(8).random((48, 10)).astype(np.float32)
    est = ksparse.KSparseAutoencoder(n_hidden=8, k=2, n_epochs=1, batch_size=16, random_state=0,
                                     n_threads=64, verbose=False)
    with pytest.warns(ThreadCountWarning):
        est.fit(X)
    path = ksparse.save(est, tmp_path / "est.safetensors")
    with pytest.warns(ThreadCountWarning, match="n_threads=64"):
        back = ksparse.load(path)
    assert back.get_params()["n_threads"] == 64  # kept as the user asked; bounded where it is used
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back.partial_fit(X)
    assert all(issubclass(w.category, ThreadCountWarning) for w in caught), [str(w.message) for w in caught]


def test_config_thread_count_reaches_the_estimator_bounded():
    from ksparse.config import RunConfig

    params = RunConfig.from_dict({"threads": HUGE}).model_params()
    assert params["n_threads"] == HUGE
    X = np.random.default_rng(9).random((32, 8)).astype(np.float32)
    params.update(n_hidden=6, k=2, n_epochs=1, batch_size=16, verbose=False)
    with pytest.warns(ThreadCountWarning):
        ksparse.KSparseAutoencoder(**params).fit(X)


def test_cli_threads_option(capsys):
    import argparse

    assert cli_threads("1") == 1
    assert cli_threads("-1") == -1
    assert cli_threads(str(HUGE)) == available_cpus()
    assert f"--threads {HUGE} is more than the {available_cpus()} CPU" in capsys.readouterr().err
    for text in ("0", "-2", "-5", "1.5", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            cli_threads(text)


# ----------------------------------------------------------------------------- aliasing
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_sparse_decode_refuses_out_aliasing_an_input(backend):
    rng = np.random.default_rng(10)
    B, m, n, k = 6, 6, 6, 6
    idx, vals = _code(rng, B, m, k, np.float32)
    W = rng.standard_normal((m, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    with pytest.raises(ValueError, match="out must not share memory with W"):
        sparse_decode(idx, vals, W, out=W, backend=backend)
    with pytest.raises(ValueError, match="out must not share memory with values"):
        sparse_decode(idx, vals, W, out=vals, backend=backend)
    # a view of some rows of the weights
    Wbig = rng.standard_normal((m + 3, n)).astype(np.float32)
    with pytest.raises(ValueError, match="share memory with W"):
        sparse_decode(idx, vals, Wbig, out=Wbig[2:2 + B], backend=backend)
    # the bias inside out
    buf = np.zeros((B, n), np.float32)
    with pytest.raises(ValueError, match="share memory with b"):
        sparse_decode(idx, vals, W, buf[1], out=buf, backend=backend)
    # separate parts of one buffer are fine
    big = rng.standard_normal((m + B, n)).astype(np.float32)
    Wpart, out = big[:m], big[m:]
    got = sparse_decode(idx, vals, Wpart, b, out=out, backend=backend)
    assert got is out
    np.testing.assert_allclose(out, sparse_decode(idx, vals, Wpart.copy(), b), rtol=1e-6)


def test_other_in_place_kernels_refuse_aliasing():
    rng = np.random.default_rng(11)
    B, m, n, k = 5, 5, 5, 5
    idx, vals = _code(rng, B, m, k, np.float64)
    W = rng.standard_normal((m, n))
    G = rng.standard_normal((B, n))
    with pytest.raises(ValueError, match="dW must not share memory with W"):
        sparse_decode_backward(idx, vals, W, G, dW=W)
    with pytest.raises(ValueError, match="dW must not share memory with G"):
        sparse_decode_backward(idx, vals, W, G, dW=G)
    Xc = rng.standard_normal((B, n))
    with pytest.raises(ValueError, match="dW must not share memory with Xc"):
        sparse_encoder_backward(idx, vals, Xc, dW=Xc)
    dW = np.zeros((m, n))
    with pytest.raises(ValueError, match="db must not share memory with Xc"):
        sparse_encoder_backward(idx, vals, Xc, dW=dW, db=Xc[0])
    with pytest.raises(ValueError, match="dW must not share memory with db"):
        sparse_encoder_backward(idx, vals, Xc, dW=dW, db=dW[1])
    with pytest.raises(ValueError, match="G must not share memory with W"):
        remove_parallel_component(W, W)


# ----------------------------------------------------------------------------- normalize_rows
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [0, 1, 5])
def test_normalize_rows_of_length_zero(backend, dtype, m):
    for _ in range(3):  # fresh np.empty each time: no leftover memory shows through
        W = np.empty((m, 0), dtype)
        norms = normalize_rows(W, backend=backend)
        assert norms.shape == (m,) and norms.dtype == dtype
        np.testing.assert_array_equal(norms, np.zeros(m, dtype))
    # the unchecked kernel too
    norms = np.full(m, 7.0, dtype)
    _core._normalize_rows(np.empty((m, 0), dtype), norms, 1)
    np.testing.assert_array_equal(norms, 0)


SCALES = {
    np.float32: [1e20, 1e-30, 3e38, 1e-40, 1e-20, 2e19],
    np.float64: [1e20, 1e-30, 1e300, 1e-310, 1e160, 1e-150],
}


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_rows_huge_and_tiny_rows(dtype, backend, n_threads):
    rng = np.random.default_rng(12)
    n = 784
    pattern = rng.standard_normal(n)
    pattern /= np.abs(pattern).max()
    scales = SCALES[dtype]
    W = np.stack([pattern * s for s in scales] + [pattern, np.zeros(n)]).astype(dtype)
    exact = np.array([np.linalg.norm(pattern.astype(dtype).astype(np.float64)) * s for s in scales]
                     + [np.linalg.norm(pattern), 0.0])
    direction = pattern / np.linalg.norm(pattern)
    with np.errstate(invalid="raise", divide="raise"):  # no inf / inf, no x / 0
        norms = normalize_rows(W, backend=backend, n_threads=n_threads, check_finite=True)
    assert np.isfinite(W).all()
    got = np.linalg.norm(W.astype(np.float64), axis=1)
    np.testing.assert_allclose(got[:-1], 1.0, rtol=10 * np.finfo(dtype).eps * 4)
    assert got[-1] == 0 and norms[-1] == 0  # zero row stays zero
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for i, s in enumerate(scales + [1.0]):
        np.testing.assert_allclose(W[i].astype(np.float64), direction, rtol=0, atol=tol * 10)
        too_big = exact[i] > np.finfo(dtype).max
        if too_big:
            assert norms[i] == np.inf
        else:
            assert np.isfinite(norms[i]) and norms[i] > 0
            rel = 1e-4 if exact[i] < np.finfo(dtype).tiny else 10 * np.finfo(dtype).eps * 4
            np.testing.assert_allclose(float(norms[i]), exact[i], rtol=rel)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_rows_1e20_and_1e_30_in_one_matrix(dtype):
    W = np.full((3, 784), 1e20, dtype)
    W[1] = 1e-30
    W[2] = -1e20
    norms = normalize_rows(W)
    np.testing.assert_allclose(norms, [28e20, 28e-30, 28e20], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(W.astype(np.float64), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(W[0], 1 / 28, rtol=1e-6)
    np.testing.assert_allclose(W[2], -1 / 28, rtol=1e-6)


def test_normalize_rows_non_finite_rows_do_not_crash():
    W = np.ones((3, 20), np.float32)
    W[0, 3] = np.nan
    W[1, 4] = np.inf
    with np.errstate(invalid="ignore"):
        norms = normalize_rows(W, check_finite=False)
    assert np.isnan(norms[0]) and norms[1] == np.inf and norms[2] == pytest.approx(np.sqrt(20))
    assert np.isnan(W[0, 3]) and np.isnan(W[1, 4]) and (W[1, :4] == 0).all()


# ----------------------------------------------------------------------------- firing counters
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_update_firing_saturates(backend):
    c = np.array([INT64_MAX - 10, INT64_MAX - 20, INT64_MAX, 5, INT64_MAX - 10], np.int64)
    update_firing(c, np.array([[4]]), 20, backend=backend)
    np.testing.assert_array_equal(c, [INT64_MAX, INT64_MAX, INT64_MAX, 25, 0])
    update_firing(c, np.zeros((0, 1), np.int64), INT64_MAX, backend=backend)
    np.testing.assert_array_equal(c, [INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX])
    assert (c >= 0).all()
    with pytest.raises(ValueError, match="n_samples"):
        update_firing(c, [0], INT64_MAX + 1, backend=backend)


def test_model_ops_update_firing_saturates():
    """The estimator's own (general step) path."""
    c = np.array([INT64_MAX - 10, 3, INT64_MAX, 7], np.int64)
    idx = np.array([[1, 3]])
    _model_ops.update_firing(c, idx, np.array([[0.5, 0.0]]), 16)
    np.testing.assert_array_equal(c, [INT64_MAX, 0, INT64_MAX, 23])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_step_counters_saturate(dtype):
    rng = np.random.default_rng(13)
    m, n, B, k = 24, 10, 8, 3
    P = init_params(rng, m, n, dtype)
    fused = FusedStep(P, AdamState(P), True, B, k, n_threads=1)
    fused.since[:] = INT64_MAX - 10
    fused.since[0] = INT64_MAX
    fused.since[1] = 4
    expect = fused.since.copy()
    X = rng.random((B, n)).astype(dtype)
    for _ in range(3):
        _, _, idx, val = fused(X, k, 1e-3)
        top = expect > INT64_MAX - B
        expect[top] = INT64_MAX
        expect[~top] += B
        expect[idx[val != 0]] = 0
        np.testing.assert_array_equal(fused.since, expect)
    assert (fused.since >= 0).all()
    assert (fused.since == INT64_MAX).sum() >= m - 3 * B * k  # the quiet units saturated
