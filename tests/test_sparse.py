"""Sparse-code kernels against their numpy references, gradients, edge cases, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksparse import (
    normalize_rows,
    remove_parallel_component,
    sparse_decode,
    sparse_decode_backward,
    sparse_encoder_backward,
    update_firing,
)

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _code(rng, B, m, k, dtype, *, unique=True):
    if unique:
        idx = np.argsort(rng.random((B, m)), axis=1)[:, :k]
    else:
        idx = rng.integers(0, m, size=(B, k))
    val = rng.standard_normal((B, k)).astype(dtype)
    return idx.astype(np.int64), val


def _central_differences(f, x, h=1e-6):
    """Gradient of the scalar ``f(x)`` w.r.t. every entry of ``x``, by central differences."""
    grad = np.zeros_like(x, dtype=np.float64)
    for pos in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[pos] += h
        xm[pos] -= h
        grad[pos] = (f(xp) - f(xm)) / (2 * h)
    return grad


def _dense(idx, val, m):
    D = np.zeros((idx.shape[0], m), dtype=val.dtype)
    np.add.at(D, (np.arange(idx.shape[0])[:, None], idx), val)
    return D


SHAPES = [  # B, m, n, k
    (1, 1, 1, 1),
    (1, 5, 7, 5),
    (7, 30, 33, 1),
    (16, 40, 100, 40),
    (33, 200, 257, 12),
    (64, 300, 784, 25),
]


# ----------------------------------------------------------------------------- decode
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_sparse_decode_matches_reference_and_dense(dtype, shape, with_bias):
    B, m, n, k = shape
    rng = np.random.default_rng(B * 1000 + m + n + k)
    idx, val = _code(rng, B, m, k, dtype)
    W = rng.standard_normal((m, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype) if with_bias else None
    ref = sparse_decode(idx, val, W, b, backend="numpy")
    out1 = sparse_decode(idx, val, W, b, n_threads=1)
    out2 = sparse_decode(idx, val, W, b, n_threads=2)
    assert out1.dtype == dtype and out1.shape == (B, n)
    np.testing.assert_array_equal(out1, out2)
    np.testing.assert_allclose(out1, ref, **TOL[dtype])
    dense = _dense(idx, val, m) @ W + (0 if b is None else b)
    np.testing.assert_allclose(out1, dense, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_decode_duplicates_and_out(dtype):
    rng = np.random.default_rng(1)
    idx = np.array([[2, 2, 0], [1, 1, 1]])
    val = rng.standard_normal((2, 3)).astype(dtype)
    W = rng.standard_normal((3, 5)).astype(dtype)
    out = np.full((2, 5), np.nan, dtype=dtype)
    res = sparse_decode(idx, val, W, out=out, n_threads=2)
    assert res is out
    np.testing.assert_allclose(out, _dense(idx, val, 3) @ W, **TOL[dtype])


def test_sparse_decode_non_contiguous_read_only_and_int_inputs():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((20, 12))
    Wf = np.asfortranarray(W)
    Wf.flags.writeable = False
    idx = np.argsort(rng.random((6, 20)), axis=1)[:, :8].astype(np.int32)
    val_big = rng.standard_normal((6, 16))
    val = val_big[:, ::2]  # non-contiguous
    val.flags.writeable = False
    ref = sparse_decode(idx, np.ascontiguousarray(val), W, backend="numpy")
    np.testing.assert_allclose(sparse_decode(idx, val, Wf, n_threads=2), ref, rtol=1e-12)
    # integer values are converted to W's dtype
    ival = np.ones((6, 8), dtype=np.int64)
    out = sparse_decode(idx, ival, W.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _dense(idx, np.ones((6, 8), np.float32), 20) @ W.astype(np.float32), rtol=1e-5, atol=1e-5)
    # integer W becomes float64
    assert sparse_decode(idx, val.astype(np.float64), np.ones((20, 12), dtype=np.int64)).dtype == np.float64


def test_sparse_decode_empty_batch():
    W = np.ones((4, 3), np.float32)
    out = sparse_decode(np.zeros((0, 2), np.int64), np.zeros((0, 2), np.float32), W)
    assert out.shape == (0, 3)


# ----------------------------------------------------------------------------- decode backward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("unique", [True, False])
def test_sparse_decode_backward_matches_reference(dtype, shape, unique):
    B, m, n, k = shape
    rng = np.random.default_rng(7 * B + m + 3 * n + k)
    idx, val = _code(rng, B, m, k, dtype, unique=unique)
    W = rng.standard_normal((m, n)).astype(dtype)
    G = rng.standard_normal((B, n)).astype(dtype)
    dW_ref, dv_ref = sparse_decode_backward(idx, val, W, G, backend="numpy")
    dW1, dv1 = sparse_decode_backward(idx, val, W, G, n_threads=1)
    dW2, dv2 = sparse_decode_backward(idx, val, W, G, n_threads=2)
    np.testing.assert_array_equal(dW1, dW2)
    np.testing.assert_array_equal(dv1, dv2)
    np.testing.assert_allclose(dW1, dW_ref, **TOL[dtype])
    np.testing.assert_allclose(dv1, dv_ref, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-4 if dtype == np.float32 else 1e-10)
    # dense equivalents
    D = _dense(idx, val, m)
    np.testing.assert_allclose(dW1, D.T @ G, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dv1, np.take_along_axis(G @ W.T, idx, axis=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_sparse_decode_backward_accumulates_into_dW(n_threads):
    rng = np.random.default_rng(3)
    idx = np.array([[0, 0], [0, 2], [2, 0]])  # duplicates within and across rows
    val = rng.standard_normal((3, 2))
    W = rng.standard_normal((4, 130))
    G = rng.standard_normal((3, 130))
    start = rng.standard_normal((4, 130))
    dW = start.copy()
    res, _ = sparse_decode_backward(idx, val, W, G, dW=dW, n_threads=n_threads)
    assert res is dW
    expected = start.copy()
    for b in range(3):
        for j in range(2):
            expected[idx[b, j]] += val[b, j] * G[b]
    np.testing.assert_allclose(dW, expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(dW[1], start[1])
    np.testing.assert_array_equal(dW[3], start[3])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_decode_backward_finite_differences(dtype):
    """Gradient of L = sum(G * sparse_decode(idx, val, W)) w.r.t. W and values."""
    rng = np.random.default_rng(5)
    B, m, n, k = 3, 6, 5, 3
    idx, val = _code(rng, B, m, k, np.float64, unique=False)
    W = rng.standard_normal((m, n))
    G = rng.standard_normal((B, n))
    dW, dv = sparse_decode_backward(idx, val.astype(dtype), W.astype(dtype), G.astype(dtype))

    def loss(val_, W_):
        return float(np.sum(G * sparse_decode(idx, val_, W_, backend="numpy")))

    num_dW = _central_differences(lambda W_: loss(val, W_), W)
    num_dv = _central_differences(lambda v_: loss(v_, W), val)
    tol = 1e-4 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(dW, num_dW, rtol=tol, atol=tol)
    np.testing.assert_allclose(dv, num_dv, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- encoder backward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("unique", [True, False])
def test_sparse_encoder_backward_matches_reference(dtype, shape, unique):
    B, m, n, k = shape
    rng = np.random.default_rng(11 * B + m + n + 5 * k)
    idx, dz = _code(rng, B, m, k, dtype, unique=unique)
    Xc = rng.standard_normal((B, n)).astype(dtype)
    dW_ref, db_ref = sparse_encoder_backward(idx, dz, Xc, m=m, backend="numpy")
    dW1, db1 = sparse_encoder_backward(idx, dz, Xc, m=m, n_threads=1)
    dW2, db2 = sparse_encoder_backward(idx, dz, Xc, m=m, n_threads=2)
    np.testing.assert_array_equal(dW1, dW2)
    np.testing.assert_array_equal(db1, db2)
    np.testing.assert_allclose(dW1, dW_ref, **TOL[dtype])
    np.testing.assert_allclose(db1, db_ref, **TOL[dtype])
    D = _dense(idx, dz, m)
    np.testing.assert_allclose(dW1, D.T @ Xc, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db1, D.sum(axis=0), rtol=1e-4, atol=1e-4)


def test_sparse_encoder_backward_accumulates_in_place():
    rng = np.random.default_rng(8)
    idx = np.array([[1, 1, 3], [3, 0, 1]])
    dz = rng.standard_normal((2, 3)).astype(np.float32)
    Xc = rng.standard_normal((2, 70)).astype(np.float32)
    dW0 = rng.standard_normal((4, 70)).astype(np.float32)
    db0 = rng.standard_normal(4).astype(np.float32)
    dW, db = dW0.copy(), db0.copy()
    rW, rb = sparse_encoder_backward(idx, dz, Xc, dW=dW, db=db, n_threads=2)
    assert rW is dW and rb is db
    D = _dense(idx, dz, 4)
    np.testing.assert_allclose(dW, dW0 + D.T @ Xc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, db0 + D.sum(0), rtol=1e-5, atol=1e-5)
    # only db given: dW allocated with m rows taken from db
    dW_new, _ = sparse_encoder_backward(idx, dz, Xc, db=db0.copy())
    assert dW_new.shape == (4, 70)


def test_sparse_encoder_backward_finite_differences():
    """L = sum(H * (dense code of z) ...): check dW, db for z = Xc W^T + b at selected units."""
    rng = np.random.default_rng(9)
    B, m, n, k = 3, 5, 4, 2
    idx = np.array([[0, 3], [3, 3], [4, 1]])
    Xc = rng.standard_normal((B, n))
    W = rng.standard_normal((m, n))
    bias = rng.standard_normal(m)
    C = rng.standard_normal((B, k))  # upstream gradient dL/dz at the selected units

    def loss(W_, b_):
        z = Xc @ W_.T + b_
        return float(np.sum(C * np.take_along_axis(z, idx, axis=1)))

    dW, db = sparse_encoder_backward(idx, C, Xc, m=m)
    num_dW = _central_differences(lambda W_: loss(W_, bias), W)
    num_db = _central_differences(lambda b_: loss(W, b_), bias)
    np.testing.assert_allclose(dW, num_dW, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(db, num_db, rtol=1e-7, atol=1e-7)


# ----------------------------------------------------------------------------- rows
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (40, 100), (300, 784)])
def test_normalize_rows(dtype, shape):
    rng = np.random.default_rng(shape[0])
    W = rng.standard_normal(shape).astype(dtype)
    W[0] = 0  # a zero row stays zero
    Wn, W1, W2 = W.copy(), W.copy(), W.copy()
    nref = normalize_rows(Wn, backend="numpy")
    n1 = normalize_rows(W1, n_threads=1)
    n2 = normalize_rows(W2, n_threads=2)
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_allclose(n1, np.linalg.norm(W, axis=1), **TOL[dtype])
    np.testing.assert_allclose(W1, Wn, **TOL[dtype])
    assert not W1[0].any() and n1[0] == 0
    if shape[0] > 1:
        np.testing.assert_allclose(np.linalg.norm(W1[1:].astype(np.float64), axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (40, 100), (300, 784)])
def test_remove_parallel_component(dtype, shape):
    rng = np.random.default_rng(shape[1])
    W = rng.standard_normal(shape).astype(dtype)
    W[-1] = 0
    G = rng.standard_normal(shape).astype(dtype)
    Gn, G1, G2 = G.copy(), G.copy(), G.copy()
    remove_parallel_component(W, Gn, backend="numpy")
    assert remove_parallel_component(W, G1, n_threads=1) is G1
    remove_parallel_component(W, G2, n_threads=2)
    np.testing.assert_array_equal(G1, G2)
    np.testing.assert_allclose(G1, Gn, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-4 if dtype == np.float32 else 1e-10)
    np.testing.assert_array_equal(G1[-1], G[-1])  # zero weight row: unchanged
    dots = np.einsum("ij,ij->i", G1[:-1].astype(np.float64), W[:-1].astype(np.float64))
    scale = np.linalg.norm(G[:-1], axis=1) * np.linalg.norm(W[:-1], axis=1) + 1e-30
    assert np.all(np.abs(dots) / scale < (1e-5 if dtype == np.float32 else 1e-12))


# ----------------------------------------------------------------------------- firing
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_update_firing(backend):
    c = np.array([0, 5, 100, 7, 3], dtype=np.int64)
    res = update_firing(c, np.array([[1, 1], [4, 1]]), 2, backend=backend)
    assert res is c
    np.testing.assert_array_equal(c, [2, 0, 102, 9, 0])
    update_firing(c, np.zeros((0, 3), np.int64), 10, backend=backend)
    np.testing.assert_array_equal(c, [12, 10, 112, 19, 10])


def test_update_firing_random_matches_numpy():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 1000, 50).astype(np.int64)
    b = a.copy()
    idx = rng.integers(0, 50, (16, 4))
    update_firing(a, idx, 16)
    update_firing(b, idx, 16, backend="numpy")
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(
    B=st.integers(1, 12), m=st.integers(1, 40), n=st.integers(1, 150),
    kfrac=st.floats(0, 1), dup=st.booleans(), f64=st.booleans(), seed=st.integers(0, 2**31),
)
def test_property_kernels_match_reference(B, m, n, kfrac, dup, f64, seed):
    dtype = np.float64 if f64 else np.float32
    k = 1 + int(kfrac * (m - 1))
    rng = np.random.default_rng(seed)
    idx, val = _code(rng, B, m, k, dtype, unique=not dup)
    W = rng.standard_normal((m, n)).astype(dtype)
    G = rng.standard_normal((B, n)).astype(dtype)
    tol = TOL[dtype]
    o1 = sparse_decode(idx, val, W, n_threads=1)
    np.testing.assert_array_equal(o1, sparse_decode(idx, val, W, n_threads=2))
    np.testing.assert_allclose(o1, sparse_decode(idx, val, W, backend="numpy"), **tol)
    dW1, dv1 = sparse_decode_backward(idx, val, W, G, n_threads=1)
    dW2, dv2 = sparse_decode_backward(idx, val, W, G, n_threads=2)
    dWr, dvr = sparse_decode_backward(idx, val, W, G, backend="numpy")
    np.testing.assert_array_equal(dW1, dW2)
    np.testing.assert_array_equal(dv1, dv2)
    np.testing.assert_allclose(dW1, dWr, **tol)
    np.testing.assert_allclose(dv1, dvr, rtol=1e-4, atol=1e-4)
    e1 = sparse_encoder_backward(idx, val, G, m=m, n_threads=1)
    e2 = sparse_encoder_backward(idx, val, G, m=m, n_threads=2)
    er = sparse_encoder_backward(idx, val, G, m=m, backend="numpy")
    for a, b, r in zip(e1, e2, er):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, r, **tol)


# ----------------------------------------------------------------------------- errors
def _ok():
    rng = np.random.default_rng(0)
    idx = np.array([[0, 2], [1, 3]])
    val = rng.standard_normal((2, 2)).astype(np.float32)
    W = rng.standard_normal((4, 5)).astype(np.float32)
    G = rng.standard_normal((2, 5)).astype(np.float32)
    return idx, val, W, G


@pytest.mark.parametrize(
    "mutate, exc, match",
    [
        (lambda a: a.update(indices=np.array([[0, 4], [1, 2]])), ValueError, r"\[0, 4\)"),
        (lambda a: a.update(indices=np.array([[0, -1], [1, 2]])), ValueError, r"\[0, 4\)"),
        (lambda a: a.update(indices=np.array([[0.0, 1.0], [1.0, 2.0]])), TypeError, "integers"),
        (lambda a: a.update(indices=np.array([0, 1])), ValueError, "2-D"),
        (lambda a: a.update(values=a["values"][:, :1]), ValueError, "same shape"),
        (lambda a: a.update(values=a["values"].astype(np.float64)), TypeError, "dtype"),
        (lambda a: a.update(W=a["W"][0]), ValueError, "2-D"),
        (lambda a: a.update(W=np.full((4, 5), np.nan, np.float32)), ValueError, "NaN"),
        (lambda a: a.update(values=np.array([[np.inf, 1], [1, 1]], np.float32)), ValueError, "NaN or inf"),
        (lambda a: a.update(b=np.zeros(4, np.float32)), ValueError, r"\(5,\)"),
        (lambda a: a.update(W=np.array([["a"] * 5] * 4)), TypeError, "real numbers"),
        (lambda a: a.update(out=np.zeros((2, 4), np.float32)), ValueError, "out must have shape"),
        (lambda a: a.update(n_threads=0), ValueError, "n_threads"),
        (lambda a: a.update(n_threads=-5), ValueError, "n_threads"),
        (lambda a: a.update(backend="cuda"), ValueError, "backend"),
        (lambda a: a.update(out=a["W"][1:3]), ValueError, "out must not share memory with W"),
    ],
)
def test_sparse_decode_bad_arguments(mutate, exc, match):
    idx, val, W, _ = _ok()
    args = dict(indices=idx, values=val, W=W)
    mutate(args)
    with pytest.raises(exc, match=match):
        sparse_decode(**args)


def test_sparse_decode_out_overlapping_values():
    idx, _, W, _ = _ok()
    buf = np.arange(14, dtype=np.float32)
    out = buf[:10].reshape(2, 5)
    with pytest.raises(ValueError, match="out must not share memory with values"):
        sparse_decode(idx, buf[8:12].reshape(2, 2), W, out=out)
    vals = buf[10:14].reshape(2, 2)  # next to out, not overlapping it: accepted
    expect = sparse_decode(idx, vals.copy(), W)
    np.testing.assert_array_equal(sparse_decode(idx, vals, W, out=out), expect)


def test_backward_bad_arguments():
    idx, val, W, G = _ok()
    with pytest.raises(ValueError, match="columns"):
        sparse_decode_backward(idx, val, W, G[:, :4])
    with pytest.raises(ValueError, match="rows"):
        sparse_decode_backward(idx, val, W, G[:1])
    with pytest.raises(TypeError, match="dtype"):
        sparse_decode_backward(idx, val, W, G.astype(np.float64))
    with pytest.raises(ValueError, match="dW must have shape"):
        sparse_decode_backward(idx, val, W, G, dW=np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        sparse_decode_backward(idx, val, W, np.full_like(G, np.nan))
    with pytest.raises(ValueError, match="share memory"):
        sparse_decode_backward(idx, val, W, G, dW=W)
    with pytest.raises(ValueError, match="pass dW or db"):
        sparse_encoder_backward(idx, val, G)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        sparse_encoder_backward(idx, val, G, m=3)
    with pytest.raises(TypeError, match="dtype"):
        sparse_encoder_backward(idx, val, G, dW=np.zeros((4, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        sparse_encoder_backward(idx, val, G, dW=np.zeros((5, 4), np.float32).T)
    with pytest.raises(ValueError, match="does not match"):
        sparse_encoder_backward(idx, val, G, dW=np.zeros((4, 5), np.float32), m=6)
    with pytest.raises(ValueError, match="positive integer"):
        sparse_encoder_backward(idx, val, G, m=0)
    with pytest.raises(ValueError, match="rows"):
        sparse_encoder_backward(idx, val, G[:1], m=4)


def test_row_kernels_bad_arguments():
    W = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="numpy array"):
        normalize_rows(W.tolist())
    with pytest.raises(TypeError, match="float32 or float64"):
        normalize_rows(np.ones((3, 4), np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        normalize_rows(np.ones((4, 3), np.float32).T)
    ro = W.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        normalize_rows(ro)
    with pytest.raises(ValueError, match="NaN"):
        normalize_rows(np.full((2, 2), np.inf))
    with pytest.raises(ValueError, match="same shape"):
        remove_parallel_component(W, np.ones((3, 5), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        remove_parallel_component(W.astype(np.float64), np.ones((3, 4), np.float32))
    with pytest.raises(TypeError, match="int64"):
        update_firing(np.zeros(3, np.int32), [0], 1)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        update_firing(np.zeros(3, np.int64), [3], 1)
    with pytest.raises(ValueError, match=">= 0"):
        update_firing(np.zeros(3, np.int64), [0], -1)
    with pytest.raises(TypeError, match="integer"):
        update_firing(np.zeros(3, np.int64), [0], 1.5)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_backward_kernels_accept_read_only_and_strided_inputs(n_threads):
    rng = np.random.default_rng(12)
    idx, val = _code(rng, 9, 40, 6, np.float32, unique=False)
    W = rng.standard_normal((40, 90)).astype(np.float32)
    G = rng.standard_normal((9, 180)).astype(np.float32)[:, ::2]  # strided view
    for a in (idx, val, W, G):
        a.flags.writeable = False
    dW, dv = sparse_decode_backward(idx, val, W, G, n_threads=n_threads)
    dW_r, dv_r = sparse_decode_backward(idx, val, W, np.ascontiguousarray(G), backend="numpy")
    np.testing.assert_allclose(dW, dW_r, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dv, dv_r, rtol=1e-4, atol=1e-4)
    eW, eb = sparse_encoder_backward(idx, val, G, m=40, n_threads=n_threads)
    eW_r, eb_r = sparse_encoder_backward(idx, val, np.ascontiguousarray(G), m=40, backend="numpy")
    np.testing.assert_allclose(eW, eW_r, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(eb, eb_r, rtol=1e-5, atol=1e-5)
    G2 = np.array(W)  # remove_parallel_component reads W read-only
    remove_parallel_component(W, G2, n_threads=n_threads)


def test_k_zero_and_no_units_selected():
    W = np.ones((4, 3), np.float32)
    b = np.arange(3, dtype=np.float32)
    idx = np.zeros((2, 0), np.int64)
    val = np.zeros((2, 0), np.float32)
    np.testing.assert_array_equal(sparse_decode(idx, val, W, b), np.tile(b, (2, 1)))
    dW, dv = sparse_decode_backward(idx, val, W, np.ones((2, 3), np.float32))
    assert dv.shape == (2, 0) and not dW.any()


def test_check_finite_false_skips_the_scan():
    idx, val, W, G = _ok()
    Wn = W.copy()
    Wn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sparse_decode(idx, val, Wn)
    out = sparse_decode(idx, val, Wn, check_finite=False)
    assert np.isnan(out[0]).any() and np.isfinite(out[1]).all()  # row 1 does not use unit 0
    dW, dv = sparse_decode_backward(idx, val, Wn, G, check_finite=False)
    assert np.isnan(dv[0, 0]) and np.isfinite(dW).all()
    Gn = G.copy()
    Gn[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        sparse_encoder_backward(idx, val, Gn, m=4)
    eW, _ = sparse_encoder_backward(idx, val, Gn, m=4, check_finite=False)
    assert np.isinf(eW[1, 2]) and np.isinf(eW[3, 2])
    with pytest.raises(ValueError, match="NaN"):
        normalize_rows(Wn.copy())
    W2, W2r = Wn.copy(), Wn.copy()
    n2 = normalize_rows(W2, check_finite=False)
    n2r = normalize_rows(W2r, check_finite=False, backend="numpy")
    assert np.isnan(n2[0]) and np.isfinite(W2[1:]).all()  # a NaN row is left as it is
    np.testing.assert_allclose(W2, W2r, rtol=1e-6)
    np.testing.assert_allclose(n2, n2r, rtol=1e-6)
    G3 = np.ones_like(W)
    with pytest.raises(ValueError, match="NaN"):
        remove_parallel_component(Wn, G3)
    G3r = G3.copy()
    remove_parallel_component(Wn, G3, check_finite=False)
    remove_parallel_component(Wn, G3r, check_finite=False, backend="numpy")
    np.testing.assert_array_equal(G3[0], 1)  # a row with a NaN weight is left as it is
    np.testing.assert_allclose(G3, G3r, rtol=1e-5, atol=1e-6)
