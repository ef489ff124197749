"""Fused optimizers against their numpy reference and torch.optim; lazy rows; state dicts."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksparse import SGD, AdaGrad, Adam, Momentum, RMSprop, SparseAdam, make_optimizer
from ksparse.optim import Optimizer

NAMES = ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"]
DTYPES = [np.float32, np.float64]
HYPER = {
    "sgd": dict(lr=0.1),
    "momentum": dict(lr=0.05, momentum=0.8),
    "nesterov": dict(lr=0.05, momentum=0.8),
    "adam": dict(lr=0.01, beta1=0.8, beta2=0.95),
    "rmsprop": dict(lr=0.01, alpha=0.9),
    "adagrad": dict(lr=0.1),
}


def _problem(rng, dtype, shapes=(("W", (37, 2100)), ("b", (37,)), ("c", (5,)))):
    params = {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes}
    return params


def _grads(rng, params):
    return {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}


def _run(opt, params, grad_seq, rows_seq=None):
    params = {k: v.copy() for k, v in params.items()}
    for i, g in enumerate(grad_seq):
        opt.step(params, g, rows=None if rows_seq is None else rows_seq[i])
    return params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_dense_update_matches_numpy_reference(name, dtype, weight_decay):
    rng = np.random.default_rng(hash((name, weight_decay)) % 2**32)
    params = _problem(rng, dtype)
    grads = [_grads(rng, params) for _ in range(4)]
    out = {}
    for backend, n_threads in [("numpy", 1), ("compiled", 1), ("compiled", 2)]:
        opt = make_optimizer(name, **HYPER[name], weight_decay=weight_decay,
                             n_threads=n_threads, backend=backend)
        out[(backend, n_threads)] = (_run(opt, params, grads), opt)
    ref = out[("numpy", 1)][0]
    for key in [("compiled", 1), ("compiled", 2)]:
        res, opt = out[key]
        for k in params:
            # same operation order as the kernel: equal up to the last bit or so
            np.testing.assert_allclose(res[k], ref[k], rtol=1e-6 if dtype == np.float32 else 1e-14,
                                       atol=1e-6 if dtype == np.float32 else 1e-14)
    for k in params:
        np.testing.assert_array_equal(out[("compiled", 1)][0][k], out[("compiled", 2)][0][k])
    sd1 = out[("compiled", 1)][1].state_dict()
    sd2 = out[("compiled", 2)][1].state_dict()
    for k, v in sd1.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, sd2[k])


def _closed_form(name, p0, g, steps, h):
    """Hand-written float64 formulas for a constant gradient, as an independent check."""
    p = p0.copy()
    buf = np.zeros_like(p)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t in range(1, steps + 1):
        if name == "sgd":
            p = p - h["lr"] * g
        elif name in ("momentum", "nesterov"):
            buf = h["momentum"] * buf + g
            p = p - h["lr"] * ((g + h["momentum"] * buf) if name == "nesterov" else buf)
        elif name == "adam":
            m = h["beta1"] * m + (1 - h["beta1"]) * g
            v = h["beta2"] * v + (1 - h["beta2"]) * g * g
            mhat = m / (1 - h["beta1"] ** t)
            vhat = v / (1 - h["beta2"] ** t)
            p = p - h["lr"] * mhat / (np.sqrt(vhat) + 1e-8)
        elif name == "rmsprop":
            v = h["alpha"] * v + (1 - h["alpha"]) * g * g
            p = p - h["lr"] * g / (np.sqrt(v) + 1e-8)
        elif name == "adagrad":
            v = v + g * g
            p = p - h["lr"] * g / (np.sqrt(v) + 1e-10)
    return p


@pytest.mark.parametrize("name", NAMES)
def test_matches_textbook_formula(name):
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((6, 9))
    g = rng.standard_normal((6, 9))
    params = {"p": p0.copy()}
    opt = make_optimizer(name, **HYPER[name])
    for _ in range(5):
        opt.step(params, {"p": g})
    np.testing.assert_allclose(params["p"], _closed_form(name, p0, g, 5, HYPER[name]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lazy_rows_update_only_listed_rows(name, dtype):
    rng = np.random.default_rng(2)
    # rows of 3000: enough work per listed row for the 2-thread path to use 2 threads
    params = _problem(rng, dtype, shapes=(("W", (50, 3000)), ("b", (50,)), ("d", (300,))))
    grads = [_grads(rng, params) for _ in range(3)]
    rows_seq = [
        {"W": rng.integers(0, 50, (8, 3)), "b": np.array([1, 1, 7, 49])},
        {"W": np.array([0, 0, 0]), "b": np.array([], dtype=np.int64)},
        {"W": rng.integers(0, 50, 20)},  # "b" and "d" dense on this step
    ]
    res = {}
    for backend, n_threads in [("numpy", 1), ("compiled", 1), ("compiled", 2)]:
        opt = make_optimizer(name, **HYPER[name], n_threads=n_threads, backend=backend)
        res[(backend, n_threads)] = _run(opt, params, grads, rows_seq)
    for k in params:
        np.testing.assert_allclose(res[("compiled", 1)][k], res[("numpy", 1)][k],
                                   rtol=1e-6 if dtype == np.float32 else 1e-14,
                                   atol=1e-6 if dtype == np.float32 else 1e-14)
        np.testing.assert_array_equal(res[("compiled", 1)][k], res[("compiled", 2)][k])
    touched = set(np.unique(np.concatenate([rows_seq[0]["W"].ravel(), rows_seq[1]["W"], rows_seq[2]["W"]])))
    untouched = [r for r in range(50) if r not in touched]
    np.testing.assert_array_equal(res[("compiled", 1)]["W"][untouched], params["W"][untouched])
    # "b": step 0 touched 1, 7, 49; step 1 nothing; step 2 dense
    assert not np.array_equal(res[("compiled", 1)]["b"], params["b"])


@pytest.mark.parametrize("name", NAMES)
def test_lazy_rows_equal_dense_on_touched_rows_and_keep_state(name):
    """A row updated at every step evolves exactly as under the dense optimizer."""
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((10, 40))}
    grads = [{"W": rng.standard_normal((10, 40))} for _ in range(4)]
    dense = _run(make_optimizer(name, **HYPER[name]), params, grads)
    lazy_opt = make_optimizer(name, **HYPER[name])
    lazy = _run(lazy_opt, params, grads, [{"W": np.array([2, 5])}] * 4)
    np.testing.assert_array_equal(lazy["W"][[2, 5]], dense["W"][[2, 5]])
    np.testing.assert_array_equal(lazy["W"][[0, 1, 3]], params["W"][[0, 1, 3]])
    for slot, arr in lazy_opt.state["W"].items():
        if isinstance(arr, np.ndarray):
            assert not arr[[0, 1, 3]].any(), slot if name != "adagrad" else None


@pytest.mark.parametrize("name", ["sparse_" + n for n in NAMES])
def test_sparse_names_skip_zero_gradient_rows(name):
    rng = np.random.default_rng(4)
    base = name[len("sparse_"):]
    W0 = rng.standard_normal((12, 30)).astype(np.float32)
    b0 = rng.standard_normal(12).astype(np.float32)
    opt = make_optimizer(name, **HYPER[base])
    assert opt.lazy and opt.name == name
    ref = make_optimizer(base, **HYPER[base])
    params = {"W": W0.copy(), "b": b0.copy()}
    params_ref = {"W": W0.copy(), "b": b0.copy()}
    for _ in range(3):
        gW = rng.standard_normal((12, 30)).astype(np.float32)
        gW[[0, 4, 11]] = 0
        gW[5, :29] = 0  # one non-zero at the very end still counts as touched
        gb = rng.standard_normal(12).astype(np.float32)
        gb[[2, 3]] = 0
        opt.step(params, {"W": gW, "b": gb})
        ref.step(params_ref, {"W": gW, "b": gb}, rows={"W": np.flatnonzero(gW.any(1)),
                                                       "b": np.flatnonzero(gb)})
    np.testing.assert_array_equal(params["W"], params_ref["W"])
    np.testing.assert_array_equal(params["b"], params_ref["b"])
    np.testing.assert_array_equal(params["W"][[0, 4, 11]], W0[[0, 4, 11]])
    np.testing.assert_array_equal(params["b"][[2, 3]], b0[[2, 3]])
    assert not np.array_equal(params["W"][5], W0[5])


def test_sparse_adam_class_and_numpy_backend_lazy_detection():
    rng = np.random.default_rng(5)
    opt = SparseAdam(lr=0.01)
    opt_np = SparseAdam(lr=0.01, backend="numpy")
    assert opt.name == "sparse_adam"
    p1 = {"W": rng.standard_normal((8, 16))}
    p2 = {"W": p1["W"].copy()}
    for _ in range(3):
        g = rng.standard_normal((8, 16))
        g[rng.random(8) < 0.5] = 0
        opt.step(p1, {"W": g})
        opt_np.step(p2, {"W": g})
    np.testing.assert_allclose(p1["W"], p2["W"], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", NAMES + ["sparse_adam"])
def test_state_dict_round_trip_is_exact(name):
    rng = np.random.default_rng(6)
    base = name.replace("sparse_", "")
    params = _problem(rng, np.float32, shapes=(("W", (9, 20)), ("b", (9,))))
    opt = make_optimizer(name, **HYPER[base], weight_decay=0.001)
    for _ in range(3):
        opt.step(params, _grads(rng, params))
    sd = opt.state_dict()
    for k, v in sd.items():
        assert isinstance(v, (np.ndarray, float, int)), k
    restored = make_optimizer(name)  # default hyper-parameters, overwritten by the load
    restored.load_state_dict(sd)
    assert restored.hyperparameters() == opt.hyperparameters()
    sd2 = restored.state_dict()
    assert sd2.keys() == sd.keys()
    for k in sd:
        if isinstance(sd[k], np.ndarray):
            assert sd2[k].dtype == sd[k].dtype
            np.testing.assert_array_equal(sd2[k], sd[k])
        else:
            assert sd2[k] == sd[k] and type(sd2[k]) is type(sd[k])
    # continuing from the restored state == continuing the original
    p1 = {k: v.copy() for k, v in params.items()}
    p2 = {k: v.copy() for k, v in params.items()}
    g = _grads(rng, params)
    opt.step(p1, g)
    restored.step(p2, g)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    # the state dict holds copies
    arrays = [k for k in sd if isinstance(sd[k], np.ndarray)]
    assert bool(arrays) == (base != "sgd")
    for k in arrays:
        sd[k][...] = 123
    assert not any(np.any(v == 123) for v in opt.state_dict().values() if isinstance(v, np.ndarray))


def test_load_state_dict_errors():
    opt = Adam()
    sd = opt.state_dict()
    with pytest.raises(KeyError, match="lacks"):
        opt.load_state_dict({k: v for k, v in sd.items() if k != "beta1"})
    with pytest.raises(ValueError, match="not understood"):
        opt.load_state_dict({**sd, "bogus": 1.0})
    with pytest.raises(ValueError, match="keeps"):
        opt.load_state_dict({**sd, "state.W.momentum_buffer": np.zeros(3)})
    with pytest.raises(KeyError, match="lacks"):
        opt.load_state_dict({**sd, "state.W.exp_avg": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="beta2"):
        opt.load_state_dict({**sd, "beta2": 1.5})


def test_lr_is_writable_and_used():
    opt = SGD(lr=0.5)
    p = {"w": np.ones(4)}
    opt.lr = 0.25
    opt.step(p, {"w": np.ones(4)})
    np.testing.assert_array_equal(p["w"], 0.75)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1
    with pytest.raises(ValueError, match="lr"):
        opt.lr = float("nan")


def test_state_allocated_once_and_updated_in_place():
    opt = Adam()
    p = {"W": np.zeros((3, 4), np.float32)}
    opt.step(p, {"W": np.ones((3, 4), np.float32)})
    m_id = id(opt.state["W"]["exp_avg"])
    W_id = id(p["W"])
    opt.step(p, {"W": np.ones((3, 4), np.float32)})
    assert id(opt.state["W"]["exp_avg"]) == m_id and id(p["W"]) == W_id
    assert opt.state["W"]["step"] == 2


def test_non_contiguous_and_integer_gradients():
    rng = np.random.default_rng(7)
    W = rng.standard_normal((5, 6))
    g = np.asfortranarray(rng.standard_normal((5, 6)))
    p1, p2 = {"W": W.copy()}, {"W": W.copy()}
    Momentum(lr=0.1).step(p1, {"W": g})
    Momentum(lr=0.1).step(p2, {"W": np.ascontiguousarray(g)})
    np.testing.assert_array_equal(p1["W"], p2["W"])
    p3 = {"W": W.copy()}
    SGD(lr=1.0).step(p3, {"W": np.ones((5, 6), dtype=np.int64)})
    np.testing.assert_array_equal(p3["W"], W - 1)


def test_step_bad_arguments():
    opt = Adam()
    W = np.zeros((3, 4), np.float32)
    with pytest.raises(KeyError, match="not in params"):
        opt.step({"W": W}, {"V": W})
    with pytest.raises(KeyError, match="no gradient"):
        opt.step({"W": W}, {"W": W}, rows={"V": [0]})
    with pytest.raises(TypeError, match="dtype"):
        opt.step({"W": W}, {"W": W.astype(np.float64)})
    with pytest.raises(ValueError, match="shape"):
        opt.step({"W": W}, {"W": W[:2]})
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step({"W": np.zeros((4, 3), np.float32).T}, {"W": W})
    with pytest.raises(TypeError, match="float32 or float64"):
        opt.step({"W": np.zeros((3, 4), np.int64)}, {"W": W})
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        opt.step({"W": W}, {"W": W}, rows={"W": [3]})
    with pytest.raises(TypeError, match="integers"):
        opt.step({"W": W}, {"W": W}, rows={"W": [0.5]})
    opt.step({"W": W}, {"W": W})
    with pytest.raises(ValueError, match="reset"):
        opt.step({"W": np.zeros((2, 4), np.float32)}, {"W": np.zeros((2, 4), np.float32)})
    opt.reset()
    opt.step({"W": np.zeros((2, 4), np.float32)}, {"W": np.zeros((2, 4), np.float32)})


@pytest.mark.parametrize(
    "name, hyper, exc, match",
    [
        ("adamw", {}, ValueError, "unknown optimizer"),
        (3, {}, TypeError, "name"),
        ("adam", {"momentum": 0.9}, TypeError, "momentum"),
        ("adam", {"beta1": 1.0}, ValueError, "beta1"),
        ("adam", {"eps": 0.0}, ValueError, "eps"),
        ("nesterov", {"nesterov": False}, TypeError, "fixed"),
        ("sparse_adam", {"lazy": False}, TypeError, "fixed"),
        ("rmsprop", {"alpha": -0.1}, ValueError, "alpha"),
        ("momentum", {"momentum": 1.0}, ValueError, "momentum"),
        ("sgd", {"lr": "0.1"}, TypeError, "lr"),
        ("sgd", {"weight_decay": -1}, ValueError, "weight_decay"),
        ("sgd", {"n_threads": 0}, ValueError, "n_threads"),
        ("adam", {"n_threads": -5}, ValueError, "n_threads=-5"),
        ("adam", {"n_threads": True}, TypeError, "n_threads"),
        ("sgd", {"backend": "gpu"}, ValueError, "backend"),
    ],
)
def test_make_optimizer_errors(name, hyper, exc, match):
    with pytest.raises(exc, match=match):
        make_optimizer(name, **hyper)


def test_make_optimizer_names_and_instances():
    for name in NAMES:
        for lazy in (False, True):
            full = ("sparse_" if lazy else "") + name
            opt = make_optimizer(full)
            assert isinstance(opt, Optimizer) and opt.name == full and opt.lazy is lazy
    assert isinstance(make_optimizer("nesterov"), Momentum) and make_optimizer("nesterov").nesterov
    assert isinstance(make_optimizer("adagrad"), AdaGrad)
    assert isinstance(make_optimizer("RMSprop"), RMSprop)
    inst = Adam(lr=0.5)
    assert make_optimizer(inst) is inst
    with pytest.raises(TypeError):
        make_optimizer(inst, lr=0.1)
    assert "lr=0.5" in repr(inst)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(NAMES), m=st.integers(1, 40), n=st.integers(1, 70),
    f64=st.booleans(), seed=st.integers(0, 2**31), lazy_rows=st.booleans(),
)
def test_property_compiled_equals_reference(name, m, n, f64, seed, lazy_rows):
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((m, n)).astype(dtype), "b": rng.standard_normal(m).astype(dtype)}
    grads = [_grads(rng, params) for _ in range(2)]
    rows = [{"W": rng.integers(0, m, 3), "b": rng.integers(0, m, 2)}] * 2 if lazy_rows else None
    a = _run(make_optimizer(name, **HYPER[name]), params, grads, rows)
    b = _run(make_optimizer(name, **HYPER[name], n_threads=2), params, grads, rows)
    c = _run(make_optimizer(name, **HYPER[name], backend="numpy"), params, grads, rows)
    for k in params:
        np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_allclose(a[k], c[k], rtol=1e-6 if not f64 else 1e-14, atol=1e-6 if not f64 else 1e-14)


# ----------------------------------------------------------------------------- torch
TORCH_CASES = [
    ("sgd", lambda t, ps: t.optim.SGD(ps, lr=0.1)),
    ("momentum", lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.8)),
    ("nesterov", lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", lambda t, ps: t.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-8)),
    ("rmsprop", lambda t, ps: t.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-8)),
    ("adagrad", lambda t, ps: t.optim.Adagrad(ps, lr=0.1, eps=1e-10)),
]


@pytest.mark.parametrize("name, make_torch", TORCH_CASES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_matches_torch_optim(name, make_torch, weight_decay):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    W0 = rng.standard_normal((7, 13))
    grads = [rng.standard_normal((7, 13)) for _ in range(5)]
    tp = torch.nn.Parameter(torch.tensor(W0.copy()))
    topt = make_torch(torch, [tp])
    for group in topt.param_groups:
        group["weight_decay"] = weight_decay
    params = {"W": W0.copy()}
    opt = make_optimizer(name, **HYPER[name], weight_decay=weight_decay)
    for g in grads:
        tp.grad = torch.tensor(g.copy())
        topt.step()
        opt.step(params, {"W": g})
    np.testing.assert_allclose(params["W"], tp.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_sparse_adam_matches_torch_sparse_adam():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    W0 = rng.standard_normal((10, 6))
    emb = torch.nn.Embedding(10, 6, sparse=True).double()
    with torch.no_grad():
        emb.weight.copy_(torch.tensor(W0))
    topt = torch.optim.SparseAdam(list(emb.parameters()), lr=0.01, betas=(0.8, 0.95), eps=1e-8)
    params = {"W": W0.copy()}
    opt = make_optimizer("sparse_adam", lr=0.01, beta1=0.8, beta2=0.95)
    for _ in range(4):
        idx = rng.integers(0, 10, 3)
        coef = rng.standard_normal((3, 6))
        topt.zero_grad()
        out = emb(torch.tensor(idx))
        (out * torch.tensor(coef)).sum().backward()
        g = np.zeros((10, 6))
        np.add.at(g, idx, coef)
        opt.step(params, {"W": g}, rows={"W": idx})
        topt.step()
    # torch.optim.SparseAdam adds eps before the bias correction of the second
    # moment (ksparse follows torch.optim.Adam), so they differ by O(eps).
    np.testing.assert_allclose(params["W"], emb.weight.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert math.isfinite(float(params["W"].sum()))


@pytest.mark.parametrize("name", NAMES)
def test_baseline_simd_path_matches_reference(name):
    """The SSE2 code (used on CPUs without AVX) gives the same results as AVX."""
    from ksparse import _core

    rng = np.random.default_rng(10)
    params = _problem(rng, np.float32, shapes=(("W", (20, 1001)), ("b", (7,))))
    grads = [_grads(rng, params) for _ in range(3)]
    fast = _run(make_optimizer(name, **HYPER[name], weight_decay=0.01), params, grads)
    if not _core._optim_force_baseline(True):
        pytest.skip("this build has a single code path")
    try:
        base = _run(make_optimizer(name, **HYPER[name], weight_decay=0.01), params, grads)
    finally:
        _core._optim_force_baseline(False)
    for k in params:
        np.testing.assert_array_equal(base[k], fast[k])
