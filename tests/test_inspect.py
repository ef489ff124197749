"""KSparseAutoencoder.top_activating and unit_statistics: what each unit learned, checked against numpy."""

import numpy as np
import pytest

from ksparse import KSparseAutoencoder
from ksparse.autoencoder import NotFittedError

M, N_FEATURES, K = 6, 5, 2


def constructed_model(activation="relu", seed=0):
    """A fitted model whose weights are then set by hand (so the expected codes are plain numpy)."""
    rng = np.random.default_rng(seed)
    model = KSparseAutoencoder(n_hidden=M, k=K, activation=activation, n_epochs=1, random_state=0)
    model.fit(rng.random((20, N_FEATURES)))
    model.W_enc_ = rng.normal(size=(M, N_FEATURES)).astype(np.float32)
    model.b_enc_ = rng.normal(scale=0.1, size=M).astype(np.float32)
    model.b_dec_ = rng.normal(scale=0.1, size=N_FEATURES).astype(np.float32)
    return model


def data(seed=1, n=40):
    X = np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(np.float32)
    X[10] = X[3]  # equal rows: equal activations, ranked by row index
    X[25] = X[3]
    return X


def brute_force_activations(model, X, activation="relu"):
    """(n_samples, n_hidden): each unit's value in each code, 0 where it is not among the k selected."""
    Z = (X.astype(np.float64) - model.b_dec_) @ model.W_enc_.T.astype(np.float64) + model.b_enc_
    A = np.maximum(Z, 0) if activation == "relu" else Z
    out = np.zeros_like(A)
    for i, row in enumerate(Z):
        keep = np.argsort(-row, kind="stable")[:K]  # the k largest pre-activations
        out[i, keep] = A[i, keep]
    return out


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_top_activating_matches_brute_force(activation):
    model = constructed_model(activation)
    X = data()
    dense = brute_force_activations(model, X, activation)
    codes = model.transform(X)
    np.testing.assert_allclose(codes, dense, rtol=1e-5, atol=1e-6)  # the numpy codes are the model's
    for unit in range(M):
        rows, acts = model.top_activating(X, unit, n=12)
        column = codes[:, unit]  # the model's float32 values: equal rows give exactly equal activations
        # largest first, ties to the lower row (np.lexsort sorts by its last key first)
        expected = np.lexsort((np.arange(len(X)), -column))[:12]
        assert rows.dtype == np.int64 and rows.shape == (12,) and acts.shape == (12,)
        np.testing.assert_allclose(acts, column[expected], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(rows, expected)
        assert np.all(np.diff(acts) <= 0)


def test_top_activating_ties_go_to_the_lower_row():
    model = constructed_model()
    X = data()
    dense = brute_force_activations(model, X)
    unit = int(np.argmax(dense[3]))  # a unit that fires on the three equal rows 3, 10 and 25
    assert dense[3, unit] > 0
    rows, acts = model.top_activating(X, unit, n=len(X))
    where = [int(np.flatnonzero(rows == r)[0]) for r in (3, 10, 25)]
    assert where == sorted(where) and where[2] - where[0] == 2
    assert acts[where[0]] == acts[where[1]] == acts[where[2]]
    # samples where the unit is not selected count as 0, and come after those where it is, by row
    zero = rows[acts == 0]
    np.testing.assert_array_equal(zero, np.sort(zero))


def test_top_activating_sizes_and_encode_time_k():
    model = constructed_model()
    X = data()[:7]
    rows, acts = model.top_activating(X, 0, n=100)
    assert sorted(rows.tolist()) == list(range(7)) and len(acts) == 7
    rows_k, acts_k = model.top_activating(X, 0, n=7, k=M)  # every unit selected: the plain activations
    Z = (X.astype(np.float64) - model.b_dec_) @ model.W_enc_[0].astype(np.float64) + model.b_enc_[0]
    np.testing.assert_allclose(np.sort(acts_k)[::-1], np.sort(np.maximum(Z, 0))[::-1], rtol=1e-5, atol=1e-6)


def test_top_activating_errors():
    model = constructed_model()
    X = data()
    for unit in (-1, M):
        with pytest.raises(ValueError, match=rf"unit={unit} is outside \[0, n_hidden={M}\)"):
            model.top_activating(X, unit)
    for unit in (1.0, True, "0"):
        with pytest.raises(TypeError, match="unit must be an integer"):
            model.top_activating(X, unit)
    for n in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="must be a positive integer"):
            model.top_activating(X, 0, n=n)
    with pytest.raises(ValueError, match=f"expecting {N_FEATURES} features"):
        model.top_activating(X[:, :3], 0)
    with pytest.raises(ValueError, match="2-D"):
        model.top_activating(X[0], 0)
    with pytest.raises(ValueError, match="k=7 must be between 1 and n_hidden=6"):
        model.top_activating(X, 0, k=7)
    with pytest.raises(NotFittedError):
        KSparseAutoencoder(n_hidden=4, k=2).top_activating(X, 0)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_unit_statistics_match_dense_numpy(activation):
    model = constructed_model(activation, seed=2)
    X = data(seed=3, n=101)
    dense = model.transform(X).astype(np.float64)
    fires = dense != 0
    count = fires.sum(axis=0)
    stats = model.unit_statistics(X)
    assert set(stats) == {"count", "frequency", "mean_activation", "max_activation"}
    for value in stats.values():
        assert value.shape == (M,)
    np.testing.assert_array_equal(stats["count"], count)
    np.testing.assert_allclose(stats["frequency"], count / len(X))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, dense.sum(axis=0) / count, np.nan)
    np.testing.assert_allclose(stats["mean_activation"], mean, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(stats["max_activation"], dense.max(axis=0), rtol=1e-5)
    # the same in small chunks, and the same maximum as top_activating's first value
    small = model.unit_statistics(X, chunk_size=7)
    for key in stats:
        np.testing.assert_allclose(small[key], stats[key], rtol=1e-6, equal_nan=True)
    for unit in range(M):
        assert stats["max_activation"][unit] == pytest.approx(float(model.top_activating(X, unit, n=1)[1][0]),
                                                              rel=1e-6)


def test_unit_statistics_of_a_unit_that_never_fires():
    model = constructed_model(seed=4)
    model.b_enc_[0] = -1e3  # never among the top k
    X = data()
    stats = model.unit_statistics(X)
    assert stats["count"][0] == 0 and stats["frequency"][0] == 0
    assert np.isnan(stats["mean_activation"][0]) and stats["max_activation"][0] == 0
    assert not np.isnan(stats["mean_activation"][1:][stats["count"][1:] > 0]).any()


def test_unit_statistics_encode_time_k_and_errors():
    model = constructed_model()
    X = data()
    assert model.unit_statistics(X, k=M)["count"].sum() == np.count_nonzero(model.transform(X, k=M))
    for chunk in (0, 1.5, True):
        with pytest.raises(ValueError, match="chunk_size"):
            model.unit_statistics(X, chunk_size=chunk)
    with pytest.raises(ValueError, match=f"expecting {N_FEATURES} features"):
        model.unit_statistics(X[:, :2])
    with pytest.raises(NotFittedError):
        KSparseAutoencoder(n_hidden=4, k=2).unit_statistics(X)


def test_inspection_on_a_trained_model(mnist):
    model = KSparseAutoencoder(n_hidden=32, k=5, n_epochs=1, random_state=0).fit(mnist.X_train[:500])
    X = mnist.X_test[:300]
    stats = model.unit_statistics(X)
    assert stats["count"].sum() == np.count_nonzero(model.encode(X)[1])
    unit = int(np.argmax(stats["count"]))
    rows, acts = model.top_activating(X, unit, n=5)
    codes = model.transform(X[rows])
    np.testing.assert_allclose(codes[:, unit], acts, rtol=1e-6)
