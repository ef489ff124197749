"""Top-k selection and mask generation: kernels against numpy, edge cases, errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ksparse
from ksparse import _core
from ksparse.topk import codes_to_dense, masked_dense, topk, topk_mask

DTYPES = [np.float32, np.float64]
BYS = ["value", "abs"]
# Every instruction-set path this CPU runs (0 scalar, 1 SSE2, 2 AVX2).
LEVELS = list(range(_core._topk_simd_best() + 1))


def oracle(A, k, by="value"):
    """Full stable sort: the definition of the answer, independent of topk.py."""
    A = np.asarray(A)
    key = np.abs(A) if by == "abs" else A
    order = np.argsort(-key, axis=1, kind="stable")[:, :k].astype(np.int64)
    return np.take_along_axis(A, order, axis=1), order


def assert_same(got, want):
    gv, gi = got
    wv, wi = want
    assert gi.dtype == np.int64
    assert gv.dtype == wv.dtype
    np.testing.assert_array_equal(gi, wi)
    np.testing.assert_array_equal(gv, wv)  # exact: values are copied, not computed


@pytest.fixture(params=LEVELS, ids=lambda lv: ["scalar", "sse2", "avx2"][lv])
def simd_level(request):
    """Run a test with each instruction set, restoring the best one afterwards."""
    previous = _core._topk_simd_level()
    assert _core._topk_set_simd_level(request.param) == request.param
    yield request.param
    _core._topk_set_simd_level(previous)


def make_matrix(rng, B, m, kind, dtype):
    if kind == "normal":
        A = rng.standard_normal((B, m))
    elif kind == "ties":  # few distinct values: ties everywhere, also at the k-th place
        A = rng.integers(-3, 4, size=(B, m)).astype(float)
    elif kind == "rounded":
        A = np.round(rng.standard_normal((B, m)), 1)
    elif kind == "sparse":  # mostly zeros, both signs of zero
        A = rng.standard_normal((B, m)) * (rng.random((B, m)) < 0.2)
        A[rng.random((B, m)) < 0.3] = -0.0
    elif kind == "negative":
        A = -np.abs(rng.standard_normal((B, m))) - 5.0
    elif kind == "sorted":  # worst case for some selection algorithms
        A = np.tile(np.arange(m, dtype=float), (B, 1))
    else:
        raise AssertionError(kind)
    return A.astype(dtype)


# (B, m, k): the threshold path (m >= 2 * ceil8(2k)), ranking all entries
# (small m), exact selection + ranking or merge sort (large k, ties), SIMD tails
# (m not a multiple of 8).
SHAPES = [
    (1, 1, 1),
    (3, 1, 1),
    (1, 7, 3),
    (5, 8, 8),
    (4, 33, 1),
    (4, 33, 33),
    (6, 100, 10),
    (3, 257, 17),
    (7, 1000, 25),
    (2, 1003, 1),
    (2, 1003, 128),
    (2, 1003, 129),
    (2, 1024, 256),
    (2, 1201, 600),
    (2, 300, 300),
    (1, 4099, 32),
]
KINDS = ["normal", "ties", "rounded", "sparse", "negative", "sorted"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("by", BYS)
@pytest.mark.parametrize("B,m,k", SHAPES)
def test_topk_matches_reference_on_every_simd_path(simd_level, B, m, k, by, dtype):
    rng = np.random.default_rng(1000 * m + k)
    for kind in KINDS:
        A = make_matrix(rng, B, m, kind, dtype)
        want = oracle(A, k, by)
        assert_same(topk(A, k, by=by, backend="numpy"), want)
        assert_same(topk(A, k, by=by), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("by", BYS)
def test_topk_random_shapes_one_and_two_threads_bit_identical(by, dtype):
    rng = np.random.default_rng(7)
    for _ in range(40):
        B = int(rng.integers(1, 40))
        m = int(rng.integers(1, 1500))
        k = int(rng.integers(1, min(m, 150) + 1))
        A = make_matrix(rng, B, m, KINDS[int(rng.integers(len(KINDS)))], dtype)
        ref = topk(A, k, by=by, backend="numpy")
        one = topk(A, k, by=by, n_threads=1)
        two = topk(A, k, by=by, n_threads=2)
        assert_same(one, ref)
        assert_same(two, one)
        assert_same(topk(A, k, by=by, n_threads=-1), one)


def test_numpy_reference_matches_full_sort():
    rng = np.random.default_rng(3)
    for _ in range(60):
        B, m = int(rng.integers(1, 6)), int(rng.integers(1, 80))
        k = int(rng.integers(1, m + 1))
        A = make_matrix(rng, B, m, KINDS[int(rng.integers(len(KINDS)))], np.float64)
        for by in BYS:
            assert_same(topk(A, k, by=by, backend="numpy"), oracle(A, k, by))


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_ties_go_to_the_lower_index(backend):
    A = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 2.0]], dtype=np.float32)
    values, indices = topk(A, 4, backend=backend)
    np.testing.assert_array_equal(indices, [[1, 2, 4, 3]])
    np.testing.assert_array_equal(values, [[3, 3, 3, 2]])
    # all-equal rows keep the first k positions, in order
    E = np.full((3, 50), -1.5)
    for k in (1, 7, 50):
        values, indices = topk(E, k, backend=backend)
        np.testing.assert_array_equal(indices, np.tile(np.arange(k), (3, 1)))
        np.testing.assert_array_equal(values, np.full((3, k), -1.5))


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_abs_selection_returns_signed_values(backend):
    A = np.array([[0.5, -4.0, 3.0, -3.0, 0.0, 4.0]])
    values, indices = topk(A, 4, by="abs", backend=backend)
    np.testing.assert_array_equal(indices, [[1, 5, 2, 3]])
    np.testing.assert_array_equal(values, [[-4.0, 4.0, 3.0, -3.0]])
    values, indices = topk(A, 2, by="value", backend=backend)
    np.testing.assert_array_equal(indices, [[5, 2]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_all_equal_and_mostly_equal_rows(simd_level, dtype):
    # Ties leave every entry a candidate: the exact selection must handle it.
    A = np.zeros((4, 5000), dtype=dtype)
    A[1, 4321] = 1.0
    A[2, ::7] = -1.0
    A[3, 4000:] = 2.0
    for k in (1, 3, 32, 100):
        for by in BYS:
            assert_same(topk(A, k, by=by), oracle(A, k, by))


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_handles_infinities_and_counts_them(simd_level, dtype):
    # The public wrapper rejects non-finite input; the kernel itself selects
    # correctly with +-inf and reports how many rows held NaN or infinity.
    rng = np.random.default_rng(11)
    for m, k in [(1000, 25), (60, 7), (2000, 200)]:
        A = rng.standard_normal((6, m))
        A[0, rng.integers(0, m, 30)] = np.inf
        A[1, rng.integers(0, m, 30)] = -np.inf
        A[2, :] = -np.inf
        A[3, : m // 2] = np.inf
        A = A.astype(dtype)
        for by in BYS:
            values = np.empty((6, k), dtype)
            indices = np.empty((6, k), np.int64)
            n_bad = _core._topk(A, k, by == "abs", 1, values, indices)
            assert n_bad == 4
            assert_same((values, indices), oracle(A, k, by))


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_with_nan_reports_and_stays_in_range(simd_level, dtype):
    rng = np.random.default_rng(12)
    A = rng.standard_normal((5, 700)).astype(dtype)
    A[1, 3] = np.nan
    A[3, :] = np.nan
    for k in (1, 30, 700):
        values = np.empty((5, k), dtype)
        indices = np.empty((5, k), np.int64)
        assert _core._topk(A, k, False, 2, values, indices) == 2
        assert indices.min() >= 0 and indices.max() < 700
        good = [0, 2, 4]
        assert_same((values[good], indices[good]), oracle(A[good], k))


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(backend, bad):
    A = np.ones((3, 40), dtype=np.float32)
    A[2, 17] = bad
    with pytest.raises(ValueError, match=r"A contains NaN or infinity \(first at index \(2, 17\)\)"):
        topk(A, 5, backend=backend)


def test_input_layouts_and_dtypes_are_accepted():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((30, 400))
    # non-contiguous views
    for A in (base[:, ::3], base.T[:50], base[::2, 5:300], np.asfortranarray(base)):
        assert_same(topk(A, 9), oracle(A, 9))
    # read-only
    ro = base.astype(np.float32)
    ro.setflags(write=False)
    assert_same(topk(ro, 9, by="abs"), oracle(ro, 9, "abs"))
    # integers and booleans become float64; lists work
    ints = rng.integers(-50, 50, size=(8, 64))
    values, indices = topk(ints, 6)
    assert values.dtype == np.float64
    assert_same((values, indices), oracle(ints.astype(np.float64), 6))
    assert_same(topk(ints.astype(np.uint8), 3), oracle(ints.astype(np.uint8).astype(float), 3))
    assert_same(topk(ints > 0, 4), oracle((ints > 0).astype(float), 4))
    assert_same(topk([[1, 5, 3]], 2), (np.array([[5.0, 3.0]]), np.array([[1, 2]])))
    # dtype is kept, the input is not modified
    before = base.copy()
    assert topk(base.astype(np.float32), 3)[0].dtype == np.float32
    np.testing.assert_array_equal(base, before)


def test_empty_batch():
    for backend in ("compiled", "numpy"):
        values, indices = topk(np.zeros((0, 10)), 3, backend=backend)
        assert values.shape == (0, 3) and indices.shape == (0, 3)
        assert indices.dtype == np.int64


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"k": 0}, ValueError, r"k=0 must be between 1 and the number of columns of A=12"),
        ({"k": -3}, ValueError, r"k=-3 must be between 1 and"),
        ({"k": 13}, ValueError, r"k=13 must be between 1 and the number of columns of A=12"),
        ({"k": 2.5}, TypeError, r"k must be an integer"),
        ({"k": True}, TypeError, r"k must be an integer"),
        ({"k": None}, TypeError, r"k must be an integer"),
        ({"k": 3, "by": "magnitude"}, ValueError, r"by='magnitude' is not known; use 'value'"),
        ({"k": 3, "backend": "torch"}, ValueError, r"backend='torch' is not known; use 'compiled' or 'numpy'"),
        ({"k": 3, "n_threads": 0}, ValueError, r"n_threads=0 must be a positive integer"),
        ({"k": 3, "n_threads": -2}, ValueError, r"n_threads=-2 must be a positive integer"),
        ({"k": 3, "n_threads": 1.5}, TypeError, r"n_threads must be a positive integer"),
        ({"k": 3, "n_threads": "4"}, TypeError, r"n_threads must be a positive integer"),
        ({"k": 3, "n_threads": False}, TypeError, r"n_threads must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    A = np.ones((4, 12))
    with pytest.raises(exc, match=match):
        topk(A, **kwargs)


def test_bad_arrays():
    with pytest.raises(ValueError, match=r"A must be a 2-D array .* reshape a single sample"):
        topk(np.ones(10), 3)
    with pytest.raises(ValueError, match=r"A must be a 2-D array"):
        topk(np.ones((2, 3, 4)), 3)
    with pytest.raises(ValueError, match=r"A must be a 2-D array"):
        topk(5.0, 1)
    with pytest.raises(TypeError, match=r"A must hold real numbers"):
        topk(np.array([["a", "b"]]), 1)
    with pytest.raises(TypeError, match=r"A must hold real numbers"):
        topk(np.ones((2, 3), dtype=complex), 1)
    with pytest.raises(ValueError, match=r"k=1 must be between 1 and the number of columns of A=0"):
        topk(np.ones((2, 0)), 1)


# ---------------------------------------------------------------------------
# Masks and dense forms
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forms_match_reference_and_definition(dtype):
    rng = np.random.default_rng(21)
    for B, m, k in [(1, 1, 1), (5, 40, 7), (17, 1000, 25), (3, 9, 9), (0, 5, 2)]:
        A = make_matrix(rng, B, m, "normal", dtype)
        values, indices = topk(A, k)
        mask = topk_mask(indices, m)
        dense = masked_dense(A, indices)
        codes = codes_to_dense(indices, values, m)
        expect_mask = np.zeros((B, m), dtype=bool)
        for b in range(B):
            expect_mask[b, indices[b]] = True
        np.testing.assert_array_equal(mask, expect_mask)
        np.testing.assert_array_equal(dense, np.where(expect_mask, A, 0))
        np.testing.assert_array_equal(codes, dense)
        assert mask.dtype == bool and dense.dtype == dtype and codes.dtype == dtype
        np.testing.assert_array_equal(topk_mask(indices, m, backend="numpy"), mask)
        np.testing.assert_array_equal(masked_dense(A, indices, backend="numpy"), dense)
        np.testing.assert_array_equal(codes_to_dense(indices, values, m, backend="numpy"), codes)
        assert (mask.sum(axis=1) == k).all()  # top-k indices are distinct within a row


def test_dense_forms_with_arbitrary_indices():
    rng = np.random.default_rng(22)
    m = 30
    idx = rng.integers(0, m, size=(6, 12))  # duplicates within rows
    vals = rng.standard_normal((6, 12)).astype(np.float32)
    A = rng.standard_normal((6, m))
    A[0, :] = np.nan  # masked_dense only reads the selected entries
    for backend in ("compiled", "numpy"):
        summed = codes_to_dense(idx, vals, m, backend=backend)
        expect = np.zeros((6, m), dtype=np.float32)
        for b in range(6):
            for j in range(12):
                expect[b, idx[b, j]] += vals[b, j]
        np.testing.assert_array_equal(summed, expect)
        mask = topk_mask(idx.astype(np.int32), m, backend=backend)
        np.testing.assert_array_equal(mask, expect != 0)  # vals are nonzero almost surely
        dense = masked_dense(A, idx, backend=backend)
        np.testing.assert_array_equal(dense[1:], np.where(mask[1:], A[1:], 0))
    # non-contiguous / read-only / integer inputs
    vals64 = vals.astype(np.float64)
    idx_ro = idx.copy()
    idx_ro.setflags(write=False)
    np.testing.assert_array_equal(
        codes_to_dense(idx_ro, np.asfortranarray(vals64), m), codes_to_dense(idx, vals64, m, backend="numpy")
    )
    assert codes_to_dense(idx, np.ones((6, 12), dtype=int), m).dtype == np.float64
    A_nc, idx_half = A[1:, ::2], idx[1:] // 2
    np.testing.assert_array_equal(
        masked_dense(A_nc, idx_half), masked_dense(np.ascontiguousarray(A_nc), idx_half, backend="numpy")
    )
    A_int = rng.integers(-9, 9, size=(6, m))
    np.testing.assert_array_equal(masked_dense(A_int, idx), masked_dense(A_int.astype(float), idx, backend="numpy"))


def test_dense_forms_bad_arguments():
    idx = np.array([[0, 3], [1, 2]])
    vals = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        topk_mask(idx, 3)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\).*from -3 to 0"):
        topk_mask(-idx, 4)
    with pytest.raises(TypeError, match=r"indices must hold integers"):
        topk_mask(idx.astype(float), 4)
    with pytest.raises(ValueError, match=r"indices must be 2-D"):
        topk_mask(idx[0], 4)
    with pytest.raises(ValueError, match=r"m=0 must be a positive integer"):
        topk_mask(idx, 0)
    with pytest.raises(TypeError, match=r"m must be an integer"):
        codes_to_dense(idx, vals, 4.0)
    with pytest.raises(ValueError, match=r"indices has shape \(2, 2\) but values has shape \(2, 3\)"):
        codes_to_dense(idx, np.ones((2, 3)), 4)
    with pytest.raises(ValueError, match=r"indices has 2 rows but A has 3"):
        masked_dense(np.ones((3, 4)), idx)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        masked_dense(np.ones((2, 3)), idx)
    with pytest.raises(ValueError, match=r"A must be a 2-D array"):
        masked_dense(np.ones(4), idx)
    with pytest.raises(ValueError, match=r"backend='fast' is not known"):
        codes_to_dense(idx, vals, 4, backend="fast")


# ---------------------------------------------------------------------------
# Properties over shapes and k
# ---------------------------------------------------------------------------


@st.composite
def problems(draw):
    B = draw(st.integers(1, 6))
    m = draw(st.integers(1, 700))
    k = draw(st.integers(1, min(m, 140)))
    dtype = draw(st.sampled_from(DTYPES))
    distinct = draw(st.sampled_from([2, 5, 1000, None]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if distinct is None:
        A = rng.standard_normal((B, m)) * draw(st.sampled_from([1e-30, 1.0, 1e30]))
    else:
        A = rng.integers(-distinct, distinct + 1, size=(B, m)).astype(float)
    return A.astype(dtype), k, draw(st.sampled_from(BYS)), draw(st.sampled_from([1, 2]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_property_topk_equals_full_sort(problem):
    A, k, by, n_threads = problem
    values, indices = topk(A, k, by=by, n_threads=n_threads)
    assert_same((values, indices), oracle(A, k, by))
    key = np.abs(A) if by == "abs" else A
    selected = np.take_along_axis(key, indices, axis=1)
    # descending, and nothing left out is larger than the smallest kept key
    assert (np.diff(selected, axis=1) <= 0).all()
    rest = np.where(topk_mask(indices, A.shape[1]), -np.inf, key)
    assert (rest.max(axis=1) <= selected[:, -1]).all()


def test_public_names():
    for name in ("topk", "topk_mask", "masked_dense", "codes_to_dense"):
        assert name in ksparse.__all__
    assert ksparse.topk is topk
