"""Quality and sparsity metrics for k-sparse autoencoders.

One model on one data set
    :func:`evaluate` measures a fitted model on data and returns every figure
    below as one dict. It is the one place those figures are computed: the
    ``ksparse`` command (``demo``, ``train``, ``evaluate``, ``reproduce``), the
    HTML report (:mod:`ksparse.report`) and Python users all call it, and
    :data:`EVALUATION_KEYS` lists its keys, whose meanings are given in
    :func:`evaluate`'s docstring.
Reconstruction quality
    :func:`mse`, :func:`psnr`, :func:`ssim`, :func:`fraction_of_variance_unexplained`.
The code itself
    :func:`mean_l0`, :func:`firing_frequency`, :func:`dead_fraction`,
    :func:`compression_ratio`.

Every function checks its arguments with :mod:`ksparse._validation` and raises a
``ValueError`` or ``TypeError`` that says what is wrong. All reductions are done
in float64 whatever the input dtype, and the functions return plain Python floats
(or float64 arrays with ``per_sample=True``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import ndimage

from ksparse._validation import check_float_array, check_index_array

__all__ = [
    "evaluate",
    "EVALUATION_KEYS",
    "mse",
    "psnr",
    "ssim",
    "fraction_of_variance_unexplained",
    "mean_l0",
    "firing_frequency",
    "dead_fraction",
    "compression_ratio",
]

#: Standard deviation of the Gaussian SSIM window (Wang et al., 2004).
SSIM_SIGMA = 1.5
#: The Gaussian window is cut at this many standard deviations, which gives the
#: 11-tap window of Wang et al. for sigma = 1.5 (scikit-image's convention).
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: The keys of :func:`evaluate`, in the order it returns them. What each one
#: means is given once, in :func:`evaluate`'s docstring. ``ssim`` is present only
#: for images, ``fvu`` only when the data vary, and the last three only for
#: models with sparse codes (``encode``).
EVALUATION_KEYS: Tuple[str, ...] = (
    "mse",
    "psnr",
    "ssim",
    "fvu",
    "mean_l0",
    "never_fired_fraction",
    "compression_ratio",
)

Codes = Union[np.ndarray, Tuple[Any, Any]]


# --------------------------------------------------------------------------- helpers
def _pair(X: Any, Y: Any, xname: str = "X", yname: str = "X_hat") -> Tuple[np.ndarray, np.ndarray]:
    """Check two arrays of the same shape and return them as float64."""
    X = check_float_array(X, xname, dtype=np.float64)
    Y = check_float_array(Y, yname, dtype=np.float64)
    if X.shape != Y.shape:
        raise ValueError(f"{xname} and {yname} must have the same shape, got {X.shape} and {Y.shape}")
    if X.size == 0:
        raise ValueError(f"{xname} and {yname} are empty; metrics need at least one value")
    return X, Y


def _check_data_range(data_range: Any) -> float:
    if isinstance(data_range, (bool, np.bool_)) or not isinstance(data_range, numbers.Real):
        raise TypeError(f"data_range must be a positive number, got {data_range!r}")
    value = float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"data_range={data_range!r} must be a positive finite number "
            "(the span of possible pixel values, e.g. 1.0 for [0, 1] or 255 for uint8)"
        )
    return value


def _per_sample_view(X: np.ndarray) -> np.ndarray:
    """Return X as (n_samples, -1): 1-D input is one sample."""
    return X.reshape(1, -1) if X.ndim <= 1 else X.reshape(X.shape[0], -1)


# --------------------------------------------------------------------------- quality
def mse(X: Any, X_hat: Any, *, per_sample: bool = False) -> Union[float, np.ndarray]:
    """Mean squared error between data and its reconstruction.

    Parameters
    ----------
    X, X_hat : array_like of the same shape
        Data and reconstruction, e.g. ``(n_samples, n_features)``.
    per_sample : bool, default False
        Return one value per sample (first axis) instead of the overall mean.

    Returns
    -------
    float or ndarray of shape (n_samples,)
        ``mean((X - X_hat) ** 2)``, over everything or over each sample.

    Examples
    --------
    >>> from ksparse.metrics import mse
    >>> mse([[0.0, 1.0]], [[0.0, 0.5]])
    0.125
    """
    X, X_hat = _pair(X, X_hat)
    sq = (X - X_hat) ** 2
    if per_sample:
        return _per_sample_view(sq).mean(axis=1)
    return float(sq.mean())


def _psnr_from_mse(err: np.ndarray, data_range: float) -> np.ndarray:
    out = np.full(err.shape, np.inf)
    pos = err > 0
    out[pos] = 10.0 * np.log10(data_range**2 / err[pos])
    return out


def psnr(X: Any, X_hat: Any, *, data_range: float = 1.0, per_sample: bool = False) -> Union[float, np.ndarray]:
    """Peak signal-to-noise ratio in decibels.

    ``PSNR = 10 log10(data_range**2 / MSE)``. By default the MSE is taken over the
    whole array (the convention of ``skimage.metrics.peak_signal_noise_ratio``);
    identical inputs give ``inf`` (no warning is raised).

    Parameters
    ----------
    X, X_hat : array_like of the same shape
        Data and reconstruction.
    data_range : float, default 1.0
        The span of possible values: 1.0 for pixels in [0, 1], 255 for uint8.
    per_sample : bool, default False
        Return the PSNR of each sample (first axis) instead.

    Returns
    -------
    float or ndarray of shape (n_samples,)

    Examples
    --------
    >>> from ksparse.metrics import psnr
    >>> round(psnr([[0.0, 1.0]], [[0.0, 0.9]]), 3)
    23.01
    """
    data_range = _check_data_range(data_range)
    X, X_hat = _pair(X, X_hat)
    sq = (X - X_hat) ** 2
    if per_sample:
        return _psnr_from_mse(_per_sample_view(sq).mean(axis=1), data_range)
    return float(_psnr_from_mse(np.asarray([sq.mean()]), data_range)[0])


def _as_image_batch(X: np.ndarray, name: str, image_shape: Optional[Sequence[int]]) -> np.ndarray:
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"image_shape must be (height, width) with positive sizes, got {image_shape!r}")
        size = shape[0] * shape[1]
        if X.ndim not in (1, 2) or X.shape[-1] != size:
            raise ValueError(
                f"{name} of shape {X.shape} cannot be read as images of shape {shape}: "
                f"expected (n_samples, {size}) or ({size},)"
            )
        return X.reshape((-1,) + shape)
    if X.ndim == 2:
        return X[None]
    if X.ndim == 3:
        return X
    raise ValueError(
        f"{name} must be one image (H, W), a stack (n_images, H, W), or flattened images "
        f"(n_images, H*W) together with image_shape=(H, W); got shape {X.shape}"
    )


def ssim(
    X: Any,
    X_hat: Any,
    *,
    data_range: float = 1.0,
    image_shape: Optional[Sequence[int]] = None,
    per_sample: bool = False,
) -> Union[float, np.ndarray]:
    """Structural similarity (SSIM) with the Gaussian window of Wang et al. (2004).

    For each image the local means, variances and covariance are weighted by a
    Gaussian of standard deviation 1.5 cut at 3.5 standard deviations (an 11 x 11
    window), with population (not sample) covariances, ``K1 = 0.01``,
    ``K2 = 0.03`` and reflected borders; the SSIM map is averaged over the
    interior (a 5-pixel border is dropped) and then over images. This matches
    ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range)`` image by image.

    Parameters
    ----------
    X, X_hat : array_like of the same shape
        One image ``(H, W)``, a stack ``(n_images, H, W)``, or flattened images
        ``(n_images, H * W)`` (or ``(H * W,)``) when ``image_shape`` is given.
    data_range : float, default 1.0
        The span of possible pixel values (1.0 for [0, 1], 255 for uint8).
    image_shape : (int, int), optional
        ``(H, W)`` of flattened images. Required for flattened input: without it
        a 2-D array is one image.
    per_sample : bool, default False
        Return one SSIM per image instead of their mean.

    Returns
    -------
    float or ndarray of shape (n_images,)
        1.0 for identical images; lower is worse (the minimum is -1).

    Raises
    ------
    ValueError
        If an image is smaller than the 11 x 11 window, or shapes disagree.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.metrics import ssim
    >>> img = np.random.default_rng(0).random((2, 784))
    >>> ssim(img, img, image_shape=(28, 28))
    1.0
    """
    data_range = _check_data_range(data_range)
    X, X_hat = _pair(X, X_hat)
    A = _as_image_batch(X, "X", image_shape)
    B = _as_image_batch(X_hat, "X_hat", image_shape)
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    win = 2 * radius + 1
    if min(A.shape[1:]) < win:
        hint = ""
        if image_shape is None and np.ndim(X) == 2:
            hint = (f"; a 2-D array is read as one image: for {np.shape(X)[0]} flattened images pass "
                    f"image_shape=(H, W), e.g. image_shape=(28, 28) for MNIST")
        raise ValueError(
            f"images of shape {A.shape[1:]} are smaller than the {win}x{win} Gaussian SSIM window; "
            f"SSIM needs images of at least {win}x{win} pixels{hint}"
        )

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    per_image = np.empty(len(A))
    # a bounded number of pixels at a time keeps the temporaries small for large test sets
    step = max(1, (1 << 20) // (A.shape[1] * A.shape[2]))
    for lo in range(0, len(A), step):
        per_image[lo:lo + step] = _ssim_chunk(A[lo:lo + step], B[lo:lo + step], c1, c2, radius)
    if per_sample:
        return per_image
    return float(per_image.mean())


def _ssim_chunk(A: np.ndarray, B: np.ndarray, c1: float, c2: float, radius: int) -> np.ndarray:
    """Mean SSIM of each image of the stacks A and B (n, H, W), float64."""

    def smooth(img: np.ndarray) -> np.ndarray:
        # sigma 0 along the image axis: images are filtered independently.
        return ndimage.gaussian_filter(
            img, sigma=(0.0, SSIM_SIGMA, SSIM_SIGMA), mode="reflect", truncate=SSIM_TRUNCATE
        )

    mu_a, mu_b = smooth(A), smooth(B)
    var_a = smooth(A * A) - mu_a * mu_a
    var_b = smooth(B * B) - mu_b * mu_b
    cov = smooth(A * B) - mu_a * mu_b
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    smap = num / den
    return smap[:, radius:-radius, radius:-radius].reshape(len(smap), -1).mean(axis=1)


def fraction_of_variance_unexplained(X: Any, X_hat: Any) -> float:
    """Fraction of the data's variance the reconstruction leaves unexplained.

    ``FVU = sum((X - X_hat)**2) / sum((X - mean(X, axis=0))**2)``: the squared
    error relative to that of predicting every sample by the per-feature mean.
    0 is perfect, 1 is no better than the mean (the "normalised MSE" of Gao et al.).

    Parameters
    ----------
    X, X_hat : array_like of shape (n_samples, n_features)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``X`` has zero variance (e.g. a single sample), where FVU is undefined.

    Examples
    --------
    >>> from ksparse.metrics import fraction_of_variance_unexplained
    >>> fraction_of_variance_unexplained([[0.0], [2.0]], [[1.0], [1.0]])
    1.0
    """
    X, X_hat = _pair(X, X_hat)
    X2 = _per_sample_view(X)
    total = float(((X2 - X2.mean(axis=0)) ** 2).sum())
    if total == 0.0:
        raise ValueError(
            "X has zero variance around its mean (a single sample or constant data); "
            "the fraction of variance unexplained is undefined"
        )
    return float(((X - X_hat) ** 2).sum()) / total


# --------------------------------------------------------------------------- the code
def _codes_nonzero(codes: Codes, name: str = "codes") -> Tuple[Optional[np.ndarray], np.ndarray]:
    """Return (indices or None, boolean 'active' array) for sparse or dense codes."""
    if isinstance(codes, tuple):
        if len(codes) != 2:
            raise ValueError(f"{name} must be an (indices, values) pair or a dense array, got a tuple of {len(codes)}")
        indices, values = codes
        vals = check_float_array(values, f"{name} values", ndim=2, allow_nonfinite=False)
        idx = np.asarray(indices)
        if idx.shape != vals.shape:
            raise ValueError(f"{name}: indices {idx.shape} and values {vals.shape} must have the same shape (B, k)")
        idx = check_index_array(idx, f"{name} indices", np.iinfo(np.int64).max)
        return idx, vals != 0
    dense = check_float_array(codes, name, ndim=2)
    return None, dense != 0


def mean_l0(codes: Codes, *, per_sample: bool = False) -> Union[float, np.ndarray]:
    """Mean number of active (nonzero) units per sample.

    Parameters
    ----------
    codes : (indices, values) tuple or array_like of shape (n_samples, n_hidden)
        The sparse code as ``(indices, values)`` of shape (B, k) each (as returned
        by ``KSparseAutoencoder.encode``), or dense codes (``transform``). Entries
        whose value is exactly zero (e.g. a ReLU that zeroed a selected unit) are
        not counted.
    per_sample : bool, default False
        Return the count for each sample instead of the mean.

    Returns
    -------
    float or ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.metrics import mean_l0
    >>> mean_l0((np.array([[3, 1], [0, 2]]), np.array([[0.5, 0.0], [1.0, 2.0]])))
    1.5
    """
    _, active = _codes_nonzero(codes)
    if active.shape[0] == 0:
        raise ValueError("codes are empty; mean_l0 needs at least one sample")
    counts = active.sum(axis=1).astype(np.float64)
    if per_sample:
        return counts
    return float(counts.mean())


def firing_frequency(indices: Any, n_hidden: int, *, values: Any = None) -> np.ndarray:
    """Fraction of samples in which each unit fired.

    Parameters
    ----------
    indices : array_like of int, shape (n_samples, k)
        The selected units of each sample.
    n_hidden : int
        Number of units ``m``.
    values : array_like of shape (n_samples, k), optional
        The code values; when given, a selected unit whose value is exactly zero
        does not count as firing.

    Returns
    -------
    ndarray of float64, shape (n_hidden,)
        For each unit, (number of samples in which it fired) / n_samples, in [0, 1].
        A unit listed twice in one sample counts once.

    Examples
    --------
    >>> from ksparse.metrics import firing_frequency
    >>> firing_frequency([[0, 1], [0, 2]], 4)
    array([1. , 0.5, 0.5, 0. ])
    """
    if isinstance(n_hidden, (bool, np.bool_)) or not isinstance(n_hidden, numbers.Integral) or n_hidden < 1:
        raise ValueError(f"n_hidden must be a positive integer, got {n_hidden!r}")
    m = int(n_hidden)
    idx = check_index_array(indices, "indices", m)
    n_samples = idx.shape[0]
    if n_samples == 0:
        raise ValueError("indices are empty; firing_frequency needs at least one sample")
    rows = np.broadcast_to(np.arange(n_samples, dtype=np.int64)[:, None], idx.shape)
    keep = np.ones(idx.shape, dtype=bool)
    if values is not None:
        vals = check_float_array(values, "values", ndim=2)
        if vals.shape != idx.shape:
            raise ValueError(f"values {vals.shape} must have the same shape as indices {idx.shape}")
        keep = vals != 0
    pairs = np.unique(rows[keep] * m + idx[keep])
    counts = np.bincount(pairs % m, minlength=m)
    return counts / float(n_samples)


def dead_fraction(
    firing: Any = None,
    *,
    steps_since_fired: Any = None,
    dead_samples: Optional[int] = None,
) -> float:
    """Fraction of units that are dead.

    Give exactly one of:

    - ``firing``: per-unit firing counts or frequencies (e.g. from
      :func:`firing_frequency`); a unit is dead when it never fired (value 0);
    - ``steps_since_fired`` with ``dead_samples``: per-unit number of samples
      since the unit last fired (``KSparseAutoencoder.steps_since_fired_``); a
      unit is dead once it has not fired for ``dead_samples`` samples, i.e.
      ``steps_since_fired >= dead_samples``.

    Parameters
    ----------
    firing : array_like of shape (n_hidden,), optional
    steps_since_fired : array_like of int, shape (n_hidden,), optional
    dead_samples : int, optional
        Required with ``steps_since_fired``.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> from ksparse.metrics import dead_fraction
    >>> dead_fraction([0.0, 0.2, 0.0, 0.5])
    0.5
    >>> dead_fraction(steps_since_fired=[0, 10, 500], dead_samples=100)
    0.3333333333333333
    """
    if (firing is None) == (steps_since_fired is None):
        raise ValueError("give exactly one of firing (counts/frequencies) or steps_since_fired")
    if firing is not None:
        if dead_samples is not None:
            raise ValueError("dead_samples applies only with steps_since_fired; drop it when passing firing")
        f = check_float_array(firing, "firing", ndim=1)
        if f.size == 0:
            raise ValueError("firing is empty; pass one value per unit")
        if (f < 0).any():
            raise ValueError("firing counts/frequencies must be non-negative")
        return float(np.count_nonzero(f == 0)) / f.size
    if dead_samples is None:
        raise ValueError("dead_samples is required with steps_since_fired (a unit is dead after that many samples)")
    if isinstance(dead_samples, (bool, np.bool_)) or not isinstance(dead_samples, numbers.Integral) or dead_samples < 1:
        raise ValueError(f"dead_samples must be a positive integer, got {dead_samples!r}")
    s = np.asarray(steps_since_fired)
    if s.dtype.kind not in "iu":
        raise TypeError(f"steps_since_fired must hold integers, got dtype {s.dtype}")
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"steps_since_fired must be a non-empty 1-D array (one counter per unit), got shape {s.shape}")
    if (s < 0).any():
        raise ValueError("steps_since_fired must be non-negative")
    return float(np.count_nonzero(s >= int(dead_samples))) / s.size


def _bits(x: Any, name: str) -> float:
    """Bits per element: a positive number, or the item size of a dtype."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number of bits or a dtype, got {x!r}")
    if isinstance(x, numbers.Real):
        if not (math.isfinite(float(x)) and float(x) > 0):
            raise ValueError(f"{name}={x!r} must be a positive number of bits")
        return float(x)
    try:
        dt = np.dtype(x)
    except TypeError as exc:
        raise TypeError(f"{name} must be a number of bits or a dtype such as 'float32', got {x!r}") from exc
    if dt.kind not in "fiub" or dt.itemsize == 0:
        raise TypeError(f"{name}: dtype {dt} is not numeric")
    return 8.0 * dt.itemsize


def compression_ratio(
    n_features: int,
    n_hidden: int,
    k: float,
    *,
    value_bits: Any = 32,
    input_bits: Any = 32,
) -> float:
    """How many times smaller the sparse code is than the dense input.

    Convention: a sample's code stores ``k`` (index, value) pairs; an index takes
    ``ceil(log2(n_hidden))`` bits and a value ``value_bits`` bits. The dense
    input takes ``n_features * input_bits`` bits. The ratio is

    ``n_features * input_bits / (k * (ceil(log2(n_hidden)) + value_bits))``.

    Biases and the decoder are not counted (they are shared by every sample),
    nor is any entropy coding. For MNIST stored as bytes use ``input_bits=8``
    (or ``"uint8"``); for float32 pixels the default 32.

    Parameters
    ----------
    n_features : int
        Input dimension ``n``.
    n_hidden : int
        Number of units ``m``.
    k : int or float
        Stored pairs per sample: the k of the top-k, or a measured mean L0 (a
        float) when only nonzero values are stored.
    value_bits : int or dtype, default 32
        Precision of a stored value, in bits or as a dtype (``"float16"`` -> 16).
    input_bits : int or dtype, default 32
        Precision of one dense input value, in bits or as a dtype.

    Returns
    -------
    float
        Values above 1 mean the code is smaller than the input.

    Examples
    --------
    >>> from ksparse.metrics import compression_ratio
    >>> round(compression_ratio(784, 100, 10), 4)   # 784*32 / (10 * (7 + 32))
    64.3282
    """
    for name, v in (("n_features", n_features), ("n_hidden", n_hidden)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Real):
        raise TypeError(f"k must be a number, got {k!r}")
    if not (0 < float(k) <= n_hidden):
        raise ValueError(f"k={k} must be in (0, n_hidden={n_hidden}]")
    vb = _bits(value_bits, "value_bits")
    ib = _bits(input_bits, "input_bits")
    index_bits = math.ceil(math.log2(int(n_hidden))) if n_hidden > 1 else 0
    return int(n_features) * ib / (float(k) * (index_bits + vb))


# --------------------------------------------------------------------------- one model on one data set
def _infer_data_range(X: np.ndarray) -> float:
    """1.0 for data in [0, 1] (scaled pixels), else 255.0 (8-bit values)."""
    return 1.0 if float(np.max(X)) <= 1.0 else 255.0


def evaluate(
    model: Any,
    X: Any,
    *,
    image_shape: Optional[Sequence[int]] = None,
    data_range: Optional[float] = None,
) -> Dict[str, float]:
    """Measure a fitted model on data: every quality and sparsity figure, in one dict.

    This is the one function that computes these figures: ``ksparse demo``,
    ``train`` and ``evaluate`` write its result to ``metrics.json`` (``"train"``
    and ``"test"``) or print it, ``ksparse reproduce`` takes its ``mse`` and
    ``psnr``, and :func:`ksparse.report.make_demo_report` shows it. Each key means
    exactly what the table below says, wherever it appears.

    ========================  ===========================================================
    key                       meaning (``X_hat = model.reconstruct(X)``; codes ``model.encode(X)``)
    ========================  ===========================================================
    ``mse``                   Mean of ``(X - X_hat) ** 2`` over all entries (:func:`mse`).
    ``psnr``                  ``10 log10(data_range ** 2 / mse)`` in dB; ``inf`` when
                              ``mse`` is 0 (:func:`psnr`).
    ``ssim``                  Mean SSIM over the images, Gaussian window (:func:`ssim`).
                              Only when ``image_shape`` is given.
    ``fvu``                   Fraction of variance unexplained: ``sum((X - X_hat) ** 2) /
                              sum((X - mean(X, axis=0)) ** 2)``
                              (:func:`fraction_of_variance_unexplained`). Left out when
                              ``X`` does not vary (one sample, constant data), where it
                              is undefined.
    ``mean_l0``               Mean number of nonzero code values per sample, with the
                              model's own k (:func:`mean_l0`); at most k, lower when the
                              activation zeroes selected units.
    ``never_fired_fraction``  Share of the ``n_hidden`` units that are nonzero in no
                              sample of ``X`` (:func:`firing_frequency`, then
                              :func:`dead_fraction` of it). It depends on ``X`` and its
                              size; it is *not* the training-time
                              ``history_["dead_fraction"]`` (units that have not fired
                              for ``dead_samples`` training samples).
    ``compression_ratio``     Bits of a dense input sample over bits of its code when only
                              the nonzero (index, value) pairs are stored:
                              ``n_features * input_bits / (mean_l0 * (ceil(log2 n_hidden)
                              + value_bits))`` (:func:`compression_ratio` with
                              ``k=mean_l0``), ``input_bits`` from the dtype of ``X`` as
                              given and ``value_bits`` from that of the code values;
                              ``inf`` when ``mean_l0`` is 0.
    ========================  ===========================================================

    The last three are present only for models with sparse codes (an ``encode``
    method returning ``(indices, values)`` and a decoder ``W_dec_``, as
    :class:`ksparse.KSparseAutoencoder`); a :class:`ksparse.layers.Network` gets
    the reconstruction figures only. :data:`EVALUATION_KEYS` lists the keys.

    Parameters
    ----------
    model : KSparseAutoencoder or Network
        A fitted model with ``reconstruct(X)`` (or ``predict(X)``).
    X : array_like of shape (n_samples, n_features)
        The data to measure on, e.g. a held-out test set.
    image_shape : (int, int), optional
        ``(height, width)`` of one sample read as an image; adds ``ssim``.
        ``height * width`` must equal ``n_features`` and both must be at least 11
        (the SSIM window).
    data_range : float, optional
        The span of possible values, for ``psnr`` and ``ssim``. By default 1.0
        when every value of ``X`` is at most 1 (pixels scaled to [0, 1]), else
        255.0 (8-bit pixel values).

    Returns
    -------
    dict of str to float
        The figures of the table above, in the order of :data:`EVALUATION_KEYS`.

    Raises
    ------
    TypeError
        If ``model`` cannot reconstruct (no ``reconstruct`` or ``predict``).
    ValueError
        If ``X`` is not a non-empty 2-D array of finite numbers, or
        ``image_shape`` does not fit its rows.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.metrics import evaluate
    >>> X = np.random.default_rng(0).random((200, 64)).astype(np.float32)
    >>> model = KSparseAutoencoder(n_hidden=32, k=4, n_epochs=2, random_state=0).fit(X)
    >>> sorted(evaluate(model, X))
    ['compression_ratio', 'fvu', 'mean_l0', 'mse', 'never_fired_fraction', 'psnr']
    >>> 0 < evaluate(model, X)["mean_l0"] <= 4
    True
    """
    rebuild = getattr(model, "reconstruct", None) or getattr(model, "predict", None)
    if not callable(rebuild):
        raise TypeError(
            f"model must be a fitted KSparseAutoencoder or Network (with reconstruct or predict), "
            f"got a {type(model).__name__}"
        )
    input_dtype = np.asarray(X).dtype
    X = check_float_array(X, "X", ndim=2)
    if X.size == 0:
        raise ValueError(f"X of shape {X.shape} is empty; evaluate needs at least one sample and one feature")
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != X.shape[1]:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} does not fit samples of {X.shape[1]} features: "
                f"pass (height, width) with height * width == {X.shape[1]}, or None for data that are not images"
            )
    data_range = _infer_data_range(X) if data_range is None else _check_data_range(data_range)

    X_hat = np.asarray(rebuild(X))
    out: Dict[str, float] = {
        "mse": float(mse(X, X_hat)),
        "psnr": float(psnr(X, X_hat, data_range=data_range)),
    }
    if image_shape is not None:
        out["ssim"] = float(ssim(X, X_hat, data_range=data_range, image_shape=shape))
    X64 = X.astype(np.float64, copy=False)  # the variance test of fraction_of_variance_unexplained
    if X.shape[0] > 1 and float(((X64 - X64.mean(axis=0)) ** 2).sum()) > 0:
        out["fvu"] = fraction_of_variance_unexplained(X, X_hat)
    if callable(getattr(model, "encode", None)) and hasattr(model, "W_dec_"):
        indices, values = model.encode(X)
        values = np.asarray(values)
        n_hidden = int(np.asarray(model.W_dec_).shape[0])
        out["mean_l0"] = float(mean_l0((indices, values)))
        out["never_fired_fraction"] = dead_fraction(firing_frequency(indices, n_hidden, values=values))
        if out["mean_l0"] > 0:
            out["compression_ratio"] = compression_ratio(
                X.shape[1], n_hidden, out["mean_l0"], value_bits=values.dtype, input_bits=input_dtype
            )
        else:  # no nonzero value: nothing is stored
            out["compression_ratio"] = math.inf
    return out
