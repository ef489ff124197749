"""Tests for ksparse.metrics: hand-computed values, edge cases and scikit-image SSIM."""

import math

import numpy as np
import pytest

from ksparse import metrics
from ksparse.metrics import (
    compression_ratio,
    dead_fraction,
    firing_frequency,
    fraction_of_variance_unexplained,
    mean_l0,
    mse,
    psnr,
    ssim,
)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    a = rng.random((6, 28, 28))
    b = np.clip(a + 0.15 * rng.standard_normal(a.shape), 0.0, 1.0)
    return a, b


# ----------------------------------------------------------------------------- mse / psnr
def test_mse_hand_value():
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    Y = np.array([[0.0, 0.0], [2.0, 1.0]])
    assert mse(X, Y) == pytest.approx((0 + 1 + 0 + 4) / 4)
    np.testing.assert_allclose(mse(X, Y, per_sample=True), [0.5, 2.0])


def test_mse_float32_accumulates_in_float64():
    X = np.full((1000, 10), 0.1, dtype=np.float32)
    Y = np.zeros_like(X)
    assert mse(X, Y) == pytest.approx(float(np.float32(0.1)) ** 2, rel=1e-12)


def test_psnr_hand_value_and_data_range():
    X = np.zeros((2, 4))
    Y = np.full((2, 4), 0.1)
    assert psnr(X, Y) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert psnr(X * 255, Y * 255, data_range=255) == pytest.approx(20.0)


def test_psnr_identical_is_inf_without_warning():
    X = np.random.default_rng(1).random((3, 5))
    assert psnr(X, X) == math.inf
    Y = X.copy()
    Y[1] += 0.1
    per = psnr(X, Y, per_sample=True)
    assert per[0] == math.inf and per[2] == math.inf
    assert per[1] == pytest.approx(20.0)


def test_psnr_matches_skimage(images):
    from skimage.metrics import peak_signal_noise_ratio

    a, b = images
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), rel=1e-12)


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan])
def test_psnr_rejects_bad_data_range(bad):
    with pytest.raises(ValueError, match="data_range"):
        psnr(np.zeros(3), np.ones(3), data_range=bad)


def test_shape_mismatch_and_nan_rejected():
    with pytest.raises(ValueError, match="same shape"):
        mse(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        mse([[np.nan, 0.0]], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="empty"):
        mse(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        mse(np.array(["a"]), np.array(["b"]))


# ----------------------------------------------------------------------------- ssim
def test_ssim_identical_is_one(images):
    a, _ = images
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(ssim(a, a, per_sample=True), np.ones(len(a)), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_range", [1.0, 2.0])
def test_ssim_agrees_with_skimage(images, dtype, data_range):
    from skimage.metrics import structural_similarity

    a, b = (x.astype(dtype) for x in images)
    ref = np.array(
        [
            structural_similarity(
                x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range
            )
            for x, y in zip(a, b)
        ]
    )
    ours = ssim(a, b, data_range=data_range, per_sample=True)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert ssim(a, b, data_range=data_range) == pytest.approx(ref.mean(), abs=1e-4)


def test_ssim_non_square_and_flattened_input(images):
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    a = rng.random((20, 33))
    b = a * 0.8 + 0.1
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-4)
    assert ssim(a.ravel(), b.ravel(), image_shape=(20, 33)) == pytest.approx(ref, abs=1e-4)
    x, y = images
    flat = ssim(x.reshape(len(x), -1), y.reshape(len(y), -1), image_shape=(28, 28), per_sample=True)
    np.testing.assert_allclose(flat, ssim(x, y, per_sample=True))


def test_ssim_lower_for_worse_reconstruction(images):
    a, b = images
    worse = np.clip(a + 0.4 * np.random.default_rng(5).standard_normal(a.shape), 0, 1)
    assert ssim(a, worse) < ssim(a, b) < 1.0


def test_ssim_errors():
    with pytest.raises(ValueError, match="smaller than the 11x11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"for 4 flattened images pass image_shape=\(H, W\)"):
        ssim(np.zeros((4, 784)), np.zeros((4, 784)))  # flattened rows without image_shape
    with pytest.raises(ValueError, match="cannot be read as images"):
        ssim(np.zeros((2, 100)), np.zeros((2, 100)), image_shape=(28, 28))
    with pytest.raises(ValueError, match="image_shape"):
        ssim(np.zeros((2, 784)), np.zeros((2, 784)), image_shape=(784,))
    with pytest.raises(ValueError, match="flattened"):
        ssim(np.zeros(784), np.zeros(784))


# ----------------------------------------------------------------------------- FVU
def test_fvu_hand_values():
    X = np.array([[0.0, 0.0], [2.0, 4.0]])  # column means (1, 2); total SS = 1+1+4+4 = 10
    assert fraction_of_variance_unexplained(X, X) == 0.0
    mean_pred = np.tile(X.mean(axis=0), (2, 1))
    assert fraction_of_variance_unexplained(X, mean_pred) == pytest.approx(1.0)
    Y = X + np.array([[1.0, 0.0], [0.0, 0.0]])
    assert fraction_of_variance_unexplained(X, Y) == pytest.approx(0.1)


def test_fvu_zero_variance_raises():
    with pytest.raises(ValueError, match="zero variance"):
        fraction_of_variance_unexplained(np.ones((1, 4)), np.zeros((1, 4)))


# ----------------------------------------------------------------------------- code metrics
def test_mean_l0_sparse_and_dense_agree():
    idx = np.array([[3, 1, 0], [0, 2, 4]])
    val = np.array([[0.5, 0.0, 1.0], [1.0, 2.0, -3.0]], dtype=np.float32)
    assert mean_l0((idx, val)) == pytest.approx(2.5)
    np.testing.assert_array_equal(mean_l0((idx, val), per_sample=True), [2.0, 3.0])
    dense = np.zeros((2, 5), dtype=np.float32)
    np.put_along_axis(dense, idx, val, axis=1)
    assert mean_l0(dense) == pytest.approx(2.5)


def test_mean_l0_errors():
    with pytest.raises(ValueError, match="same shape"):
        mean_l0((np.zeros((2, 3), dtype=np.int64), np.zeros((2, 2))))
    with pytest.raises(TypeError, match="integers"):
        mean_l0((np.zeros((2, 2)), np.zeros((2, 2))))
    with pytest.raises(ValueError, match="pair"):
        mean_l0((np.zeros((2, 2)),))
    with pytest.raises(ValueError, match="2-D"):
        mean_l0(np.zeros(4))


def test_firing_frequency_hand_value():
    idx = np.array([[0, 1], [0, 2], [0, 1], [3, 0]])
    np.testing.assert_allclose(firing_frequency(idx, 5), [1.0, 0.5, 0.25, 0.25, 0.0])


def test_firing_frequency_ignores_zero_values_and_duplicates():
    idx = np.array([[0, 1], [2, 2]])
    val = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(firing_frequency(idx, 3, values=val), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(firing_frequency(idx, 3), [0.5, 0.5, 0.5])


def test_firing_frequency_matches_dense_count():
    rng = np.random.default_rng(2)
    A = rng.random((50, 30))
    idx = np.argsort(-A, axis=1)[:, :4]
    dense = np.zeros(A.shape, dtype=bool)
    np.put_along_axis(dense, idx, True, axis=1)
    np.testing.assert_allclose(firing_frequency(idx, 30), dense.mean(axis=0))
    assert firing_frequency(idx, 30).sum() == pytest.approx(4.0)


def test_firing_frequency_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        firing_frequency([[0, 3]], 3)
    with pytest.raises(ValueError, match="n_hidden"):
        firing_frequency([[0]], 0)
    with pytest.raises(ValueError, match="same shape"):
        firing_frequency([[0, 1]], 3, values=[[1.0]])


def test_dead_fraction_from_firing_and_counters():
    assert dead_fraction(np.array([0, 3, 0, 1])) == 0.5
    assert dead_fraction(firing_frequency([[0, 1]], 4)) == 0.5
    steps = np.array([0, 99, 100, 5000], dtype=np.int64)
    assert dead_fraction(steps_since_fired=steps, dead_samples=100) == 0.5
    assert dead_fraction(steps_since_fired=steps, dead_samples=10_000) == 0.0


def test_dead_fraction_errors():
    with pytest.raises(ValueError, match="exactly one"):
        dead_fraction()
    with pytest.raises(ValueError, match="exactly one"):
        dead_fraction([1.0], steps_since_fired=[1])
    with pytest.raises(ValueError, match="dead_samples is required"):
        dead_fraction(steps_since_fired=[1, 2])
    with pytest.raises(ValueError, match="positive integer"):
        dead_fraction(steps_since_fired=[1, 2], dead_samples=0)
    with pytest.raises(TypeError, match="integers"):
        dead_fraction(steps_since_fired=[1.5], dead_samples=3)
    with pytest.raises(ValueError, match="non-negative"):
        dead_fraction([-1.0, 2.0])


def test_compression_ratio_convention():
    # 784 float32 pixels vs 10 x (ceil(log2 100) = 7 index bits + 32 value bits)
    assert compression_ratio(784, 100, 10) == pytest.approx(784 * 32 / (10 * 39))
    assert compression_ratio(784, 1000, 25, value_bits="float16", input_bits="uint8") == pytest.approx(
        784 * 8 / (25 * (10 + 16))
    )
    assert compression_ratio(784, 1024, 25, value_bits=np.float64) == pytest.approx(784 * 32 / (25 * (10 + 64)))
    assert compression_ratio(10, 1, 1, value_bits=8, input_bits=8) == pytest.approx(10.0)  # no index bits
    assert compression_ratio(784, 100, 7.5) == pytest.approx(784 * 32 / (7.5 * 39))


def test_compression_ratio_errors():
    with pytest.raises(ValueError, match="k=101"):
        compression_ratio(784, 100, 101)
    with pytest.raises(ValueError, match="n_hidden"):
        compression_ratio(784, 0, 1)
    with pytest.raises(ValueError, match="value_bits"):
        compression_ratio(784, 100, 5, value_bits=0)
    with pytest.raises(TypeError, match="dtype"):
        compression_ratio(784, 100, 5, input_bits="not-a-dtype")


def test_public_names():
    for name in metrics.__all__:
        if name == "EVALUATION_KEYS":  # the one public constant: the keys of evaluate
            continue
        assert callable(getattr(metrics, name))
        assert getattr(metrics, name).__doc__


def test_ssim_chunks_agree_with_whole_batch():
    # more images than one chunk (2**20 pixels): chunked result equals image-by-image SSIM
    rng = np.random.default_rng(7)
    a = rng.random((1400, 28, 28))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    per = ssim(a, b, per_sample=True)
    assert per.shape == (1400,)
    np.testing.assert_allclose(per[[0, 1336, 1337, 1399]],
                               [ssim(a[i], b[i]) for i in (0, 1336, 1337, 1399)], rtol=1e-12)


# ----------------------------------------------------------------------------- evaluate
class TinyModel:
    """A fitted model of fixed reconstruction and codes, for hand-computed figures."""

    def __init__(self, X_hat, indices, values, n_hidden):
        self._X_hat, self._codes = np.asarray(X_hat), (np.asarray(indices), np.asarray(values))
        self.W_dec_ = np.zeros((n_hidden, self._X_hat.shape[1]), np.float32)

    def reconstruct(self, X):
        return self._X_hat

    def encode(self, X):
        return self._codes


class ReconstructOnly:
    """A model without sparse codes (like ksparse.layers.Network): only predict."""

    def predict(self, X):
        return np.asarray(X) * 0.5


def test_evaluate_hand_values():
    X = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], np.float32)
    X_hat = np.array([[0.0, 0.5, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5]], np.float32)
    # 8 units, k = 2; the second sample's second value is zero (a ReLU zeroed it)
    idx = np.array([[0, 1], [0, 2], [3, 1]])
    val = np.array([[1.0, 0.5], [2.0, 0.0], [1.5, 0.25]], np.float32)
    got = metrics.evaluate(TinyModel(X_hat, idx, val, 8), X)
    assert list(got) == ["mse", "psnr", "fvu", "mean_l0", "never_fired_fraction", "compression_ratio"]
    assert got["mse"] == pytest.approx(0.5 / 12)
    assert got["psnr"] == pytest.approx(10 * math.log10(1 / (0.5 / 12)))  # data in [0, 1]: data_range 1
    total = float(((X - X.mean(axis=0)) ** 2).sum())
    assert got["fvu"] == pytest.approx(0.5 / total)
    assert got["mean_l0"] == pytest.approx(5 / 3)
    assert got["never_fired_fraction"] == pytest.approx(5 / 8)  # units 0, 1, 3 fired; unit 2 only with value 0
    # float32 inputs and values, indices of ceil(log2 8) = 3 bits, 5/3 pairs stored per sample
    assert got["compression_ratio"] == pytest.approx(4 * 32 / ((5 / 3) * (3 + 32)))
    assert all(type(v) is float for v in got.values())


def test_evaluate_keys_are_the_documented_ones():
    assert metrics.EVALUATION_KEYS == ("mse", "psnr", "ssim", "fvu", "mean_l0", "never_fired_fraction",
                                       "compression_ratio")
    doc = metrics.evaluate.__doc__
    table = doc[doc.index("====="):doc.index("Parameters")]
    # a key starts a row in the first column; continuation lines are indented to the second
    documented = [line.split()[0].strip("`") for line in table.splitlines() if line.startswith("    ``")]
    assert documented == list(metrics.EVALUATION_KEYS)
    rng = np.random.default_rng(0)
    X = rng.random((5, 121))
    idx = np.tile(np.arange(3), (5, 1))
    got = metrics.evaluate(TinyModel(np.clip(X + 0.1, 0, 1), idx, np.ones((5, 3)), 16), X, image_shape=(11, 11))
    assert tuple(got) == metrics.EVALUATION_KEYS
    assert got["ssim"] == pytest.approx(ssim(X, np.clip(X + 0.1, 0, 1), image_shape=(11, 11)))
    assert got["never_fired_fraction"] == pytest.approx(13 / 16)
    # float64 input and values: 64 bits each; indices of 4 bits
    assert got["compression_ratio"] == pytest.approx(121 * 64 / (3 * (4 + 64)))


def test_evaluate_data_range_and_input_bits():
    X = np.array([[0, 255, 10], [255, 0, 20]], np.uint8)
    X_hat = X.astype(np.float64) + 1.0
    model = TinyModel(X_hat, [[0], [1]], np.ones((2, 1), np.float32), 4)
    got = metrics.evaluate(model, X)
    assert got["psnr"] == pytest.approx(10 * math.log10(255.0**2 / 1.0))  # 8-bit values: data_range 255
    assert got["compression_ratio"] == pytest.approx(3 * 8 / (1 * (2 + 32)))  # uint8 input: 8 bits a value
    assert metrics.evaluate(model, X, data_range=510.0)["psnr"] == pytest.approx(10 * math.log10(510.0**2))


def test_evaluate_conditional_keys():
    # one sample: FVU is undefined and left out
    one = metrics.evaluate(TinyModel([[0.5, 0.5]], [[0]], [[1.0]], 2), np.array([[0.0, 1.0]]))
    assert "fvu" not in one and one["never_fired_fraction"] == 0.5
    # no sparse codes: only the reconstruction figures
    X = np.random.default_rng(1).random((4, 6))
    assert list(metrics.evaluate(ReconstructOnly(), X)) == ["mse", "psnr", "fvu"]
    # every code value zero: nothing is stored
    zero = metrics.evaluate(TinyModel(X, np.zeros((4, 2), int), np.zeros((4, 2)), 3), X)
    assert zero["mean_l0"] == 0 and zero["never_fired_fraction"] == 1.0 and zero["compression_ratio"] == math.inf
    assert zero["mse"] == 0.0 and zero["psnr"] == math.inf and zero["fvu"] == 0.0


def test_evaluate_errors():
    X = np.random.default_rng(2).random((3, 6))
    with pytest.raises(TypeError, match="reconstruct or predict"):
        metrics.evaluate(object(), X)
    with pytest.raises(ValueError, match="height \\* width == 6"):
        metrics.evaluate(ReconstructOnly(), X, image_shape=(2, 2))
    with pytest.raises(ValueError, match="11x11"):
        metrics.evaluate(ReconstructOnly(), X, image_shape=(2, 3))
    with pytest.raises(ValueError, match="empty"):
        metrics.evaluate(ReconstructOnly(), np.zeros((0, 6)))
    with pytest.raises(ValueError, match="2"):
        metrics.evaluate(ReconstructOnly(), np.zeros(6))
    with pytest.raises(ValueError, match="data_range"):
        metrics.evaluate(ReconstructOnly(), X, data_range=0)


def test_evaluate_real_estimator():
    from ksparse import KSparseAutoencoder

    X = np.random.default_rng(3).random((60, 121)).astype(np.float32)
    est = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=2, batch_size=20, random_state=0).fit(X)
    got = metrics.evaluate(est, X, image_shape=(11, 11))
    assert tuple(got) == metrics.EVALUATION_KEYS
    assert got["mse"] == pytest.approx(-est.score(X), rel=1e-6)
    idx, val = est.encode(X)
    assert got["mean_l0"] == mean_l0((idx, val)) <= 3
    assert got["never_fired_fraction"] == dead_fraction(firing_frequency(idx, 16, values=val))
    assert got == metrics.evaluate(est, X, image_shape=(11, 11))  # deterministic
