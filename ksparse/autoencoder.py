"""The k-sparse autoencoder estimator (scikit-learn compatible).

``KSparseAutoencoder`` encodes a sample as the k largest activations of a linear
encoder (top-k, by default on the pre-activations followed by ReLU, as in Gao et
al. 2024) and reconstructs it with a linear decoder whose rows have unit norm, its
output clipped to the range of the training data (``output_bounds="auto"``).
Training follows the recipe of Makhzani & Frey (2013) and Gao et al. (2024): the
decoder rows start at random (centred, normalised) training samples, the
encoder starts as the transpose of the decoder, a pre-encoder bias (tied to the
decoder bias) centres the data, k is annealed from a larger value down to the
target over the first part of training (progressive sparsity), dead units are
detected (no firing in ``dead_samples`` samples) and can be trained by the AuxK loss
(``auxk_coef``) or reset to badly reconstructed samples in the first 80% of training
(``dead_reset``; both off by default, see their parameters), and lazy Adam with a
cosine learning-rate decay does the updates for about 30,000 steps (``n_epochs="auto"``).
The default configuration trains through one fused compiled kernel per step
(:class:`ksparse.training.FusedStep`).
"""

from __future__ import annotations

import inspect
import math
import numbers
import textwrap
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ksparse import _model_ops as ops
from ksparse._validation import check_dtype, check_float_array, check_k, finite_range
from ksparse.losses import AuxKLoss, CombinedLoss, DiversityLoss, Loss, MSELoss
from ksparse._threads import blas_threads
from ksparse.activations import get_activation
from ksparse.optim import make_optimizer
from ksparse._estimator_state import EstimatorState
from ksparse._inspection import UnitInspection
from ksparse._params import numpydoc_section
from ksparse._params import resolve as resolve_params
from ksparse.engine import ArrayBatches, DivergenceError, new_position, run_epochs
from ksparse.engine import lr_schedule as _lr_schedule
from ksparse.training import AdamState, FusedStep, GeneralStep, clip_output

class NotFittedError(ValueError, AttributeError):
    """Raised when a method needs a fitted estimator.

    It is a ValueError and an AttributeError, as scikit-learn's own
    ``NotFittedError``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.autoencoder import NotFittedError
    >>> try:
    ...     KSparseAutoencoder().encode(np.zeros((1, 4)))
    ... except NotFittedError:
    ...     print("not fitted")
    not fitted
    """


class _BaseEstimator:
    """The scikit-learn estimator protocol without importing scikit-learn.

    Importing ``sklearn.base`` takes about a second, so ``import ksparse`` does not:
    parameters come from the constructor's signature (``get_params`` /
    ``set_params``), and ``__sklearn_tags__`` imports scikit-learn's tag classes
    only when scikit-learn's own tooling asks for them (then it is already loaded).
    ``sklearn.utils.estimator_checks.check_estimator`` passes
    (tests/test_autoencoder_sklearn.py).
    """

    @classmethod
    def _get_param_names(cls) -> List[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Constructor parameters as a dict (scikit-learn protocol).

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn compatibility; no parameter is itself an
            estimator, so it changes nothing.

        Returns
        -------
        params : dict of str to object
            Every constructor parameter and its current value.

        Examples
        --------
        >>> from ksparse import KSparseAutoencoder
        >>> KSparseAutoencoder(k=8).get_params()["k"]
        8
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any):
        """Set constructor parameters (scikit-learn protocol).

        Parameters
        ----------
        **params
            Parameter names and their new values; they are validated when the
            estimator is next fitted or used.

        Returns
        -------
        self
            The estimator itself.

        Raises
        ------
        ValueError
            When a name is not a constructor parameter.

        Examples
        --------
        >>> from ksparse import KSparseAutoencoder
        >>> KSparseAutoencoder().set_params(k=4, n_hidden=16)
        KSparseAutoencoder(k=4, n_hidden=16)
        """
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {type(self).__name__}; "
                                 f"valid parameters are {valid}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        args = []
        for key, value in self.get_params().items():
            d = defaults.get(key, inspect.Parameter.empty)
            try:
                same = bool(d is value or (type(d) is type(value) and d == value))
            except Exception:  # noqa: BLE001 - arrays and odd objects: show them
                same = False
            if not same:
                args.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags, TransformerTags  # type: ignore[import-untyped]

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags())

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to X, then transform X.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        **fit_params
            Passed on to ``fit`` (``callback``, ``resume``).

        Returns
        -------
        codes : ndarray of shape (n_samples, n_hidden)
            The dense codes of X, as :meth:`transform` gives them.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((50, 8))
        >>> model = KSparseAutoencoder(n_hidden=12, k=3, n_epochs=1, random_state=0)
        >>> model.fit_transform(X).shape
        (50, 12)
        """
        return self.fit(X, y, **fit_params).transform(X)  # type: ignore[attr-defined]


__all__ = ["KSparseAutoencoder", "DivergenceError", "DataScaleWarning", "ConvergenceWarning", "NotFittedError",
           "auto_epochs"]


class ConvergenceWarning(UserWarning):
    """Training ended with a reconstruction error above the data's variance.

    The model then reconstructs worse than the constant mean of the data would: the
    learning rate is usually far too high (or the data needs scaling).

    Examples
    --------
    Turn it into an error to stop a pipeline on a failed fit:

    >>> import warnings
    >>> from ksparse.autoencoder import ConvergenceWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ConvergenceWarning)
    ...     issubclass(ConvergenceWarning, UserWarning)
    True
    """


class DataScaleWarning(UserWarning):
    """The training data's values are so small that Adam's updates stall (see ``fit``).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.autoencoder import DataScaleWarning
    >>> X = np.random.default_rng(0).random((40, 4)) * 1e-3
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = KSparseAutoencoder(n_hidden=4, k=2, n_epochs=1, random_state=0).fit(X)
    >>> any(issubclass(w.category, DataScaleWarning) for w in caught)
    True
    """


#: below this standard deviation of X (and above 0), fit warns with DataScaleWarning
_MIN_DATA_STD = 5e-3


def _warn_small_scale(X: np.ndarray) -> None:
    """Warn when X's values are so small that training stalls.

    The MSE gradients scale with the square of the data, and below a standard deviation
    of about 5e-3 they fall under Adam's eps (1e-8). Measured on MNIST, 784 -> 100, k=30,
    30 epochs, MSE in the original units: 0.0110 as is (standard deviation 0.31), 0.0108
    scaled to 0.009, 0.020 to 0.003 (0.023 with learning_rate=1e-4), 0.064 to 0.0009;
    large values train well (0.0113 at 1e6 times). One pass over at most 10,000 rows.
    """
    sub = X[: min(X.shape[0], 10_000)]
    std = float(np.std(sub, dtype=np.float64))
    if 0.0 < std < _MIN_DATA_STD:
        warnings.warn(
            f"X has a standard deviation of {std:.3g}: with values this small the gradients fall "
            "below Adam's eps and training stalls (MNIST scaled to a standard deviation of 0.003 "
            "reaches twice the error). Scale X to about unit range first, e.g. X / X.std() or "
            "sklearn.preprocessing.StandardScaler; the model works in the scaled units.",
            DataScaleWarning,
            stacklevel=3,
        )


#: rows of the training data on which fit compares the final error with the data's variance
_CHECK_ROWS = 2048


def _warn_if_worse_than_mean(model: "KSparseAutoencoder", X: np.ndarray, k: int, learning_rate: float) -> None:
    """Warn with ConvergenceWarning when the trained model reconstructs worse than the mean.

    The final model's error and the data's variance (the mean squared error of
    reconstructing every sample by the data's mean) are measured on at most
    :data:`_CHECK_ROWS` training rows drawn with a fixed seed, so the check costs about
    one forward pass of that many rows and leaves the training generator alone.
    """
    if X.shape[0] > _CHECK_ROWS:
        X = X[np.sort(np.random.default_rng(0).choice(X.shape[0], _CHECK_ROWS, replace=False))]
    variance = float(np.mean(np.var(X, axis=0, dtype=np.float64)))
    D = model._reconstruct(X, k) - X
    final_mse = float(np.mean(np.square(D, dtype=np.float64)))
    if final_mse > variance:
        warnings.warn(
            f"the trained model's mean squared error is {final_mse:.4g}, above the data's variance "
            f"{variance:.4g} (the error of reconstructing every sample by the mean): the model has not "
            f"learned. The learning rate (now {learning_rate:g}) is probably far too high; try 10 to 100 "
            "times lower, or scale the data to about unit range.",
            ConvergenceWarning,
            stacklevel=4,
        )


#: more than this share of dead units at the end of fit warns
_MAX_DEAD_SHARE = 0.5
#: epochs in a row whose training loss rose, after k annealing, by this factor in all, make fit warn
_RISING_EPOCHS = 3
_RISE_FACTOR = 1.1


def _warn_if_training_failed(history: Dict[str, List[float]], first_epoch: int, anneal_epochs: int) -> None:
    """Warn with ConvergenceWarning when most units died or the loss kept rising.

    ``first_epoch`` is the epoch number of ``history``'s first entry; the loss is
    watched only after the first ``anneal_epochs`` (while k anneals, the loss rises
    by design).
    """
    dead = history.get("dead_fraction") or []
    if dead and dead[-1] > _MAX_DEAD_SHARE:
        warnings.warn(
            f"{100 * dead[-1]:.0f}% of the units are dead at the end of training (they fired in none of the "
            "last dead_samples training samples): the model uses few of its units. Try a lower learning_rate, "
            "a lower encoder_decay, auxk_coef=1/32 to train the dead units, or fewer units (n_hidden).",
            ConvergenceWarning, stacklevel=4)
    losses = [v for e, v in enumerate(history.get("loss") or [], start=first_epoch) if e >= anneal_epochs]
    for start in range(len(losses) - _RISING_EPOCHS):
        stretch = losses[start:start + _RISING_EPOCHS + 1]
        if all(b > a for a, b in zip(stretch, stretch[1:])) and stretch[-1] > _RISE_FACTOR * stretch[0]:
            warnings.warn(
                f"the training loss rose in {_RISING_EPOCHS} epochs in a row after k stopped annealing, from "
                f"{stretch[0]:.4g} to {stretch[-1]:.4g}: "
                "training is unstable. Lower learning_rate, or check that the data is scaled to about unit "
                "range.", ConvergenceWarning, stacklevel=4)
            return


_PARAM_NAMES: Dict[type, Tuple[str, ...]] = {}
#: the per-epoch figures of ``history_`` (plus "val_loss" and "val_mse" with a validation split)
_HISTORY_KEYS = ("epoch", "loss", "mse", "l0", "dead_fraction", "k", "time", "peak_rss_mb")
#: dead units are reset (``dead_reset=True``) only in this first fraction of the epochs
_RESET_FRACTION = 0.8
# n_epochs="auto": a budget of optimizer steps rather than of passes, so that a small
# data set gets enough steps and a large one is not trained for hundreds of passes
AUTO_STEPS = 30_000
AUTO_MAX_EPOCHS = 200


def _n_validation(n_samples: int, validation_fraction: float) -> int:
    """Samples held out by ``validation_fraction`` (at least 1 when the fraction is > 0).

    Raises ValueError when nothing would be left to train on.
    """
    n_val = max(1, int(round(validation_fraction * n_samples))) if validation_fraction > 0 else 0
    if n_val >= n_samples:
        raise ValueError(f"validation_fraction={validation_fraction} leaves no training samples out of {n_samples}")
    return n_val


def _steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one pass over ``n_train`` samples (the last batch may be short)."""
    return -(-n_train // min(batch_size, n_train))


def auto_epochs(steps_per_epoch: int) -> int:
    """The number of epochs ``n_epochs="auto"`` trains for, given the steps per epoch.

    About :data:`AUTO_STEPS` (30,000) optimizer steps, ``ceil(30000 / steps_per_epoch)``
    full passes, at least 1 and at most :data:`AUTO_MAX_EPOCHS` (200). For example, at
    ``batch_size=32``: 192 epochs on the 5,000 bundled MNIST images (157 steps each), 48
    on 20,000 images, 16 on 60,000.

    Parameters
    ----------
    steps_per_epoch : int
        Optimizer steps in one pass over the training data (at least 1).

    Returns
    -------
    n_epochs : int
        Epochs to train for, between 1 and 200.

    Raises
    ------
    ValueError
        When ``steps_per_epoch`` is less than 1.

    Examples
    --------
    >>> from ksparse.autoencoder import auto_epochs
    >>> auto_epochs(157)
    192
    >>> auto_epochs(1875)
    16
    """
    steps_per_epoch = int(steps_per_epoch)
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch={steps_per_epoch} must be at least 1")
    return max(1, min(AUTO_MAX_EPOCHS, -(-AUTO_STEPS // steps_per_epoch)))


def _as_2d(X: Any, name: str = "X", dtype=None, return_range: bool = False):
    """Validate a data matrix: 2-D, real, finite, non-empty, dense.

    Returns the array, or with ``return_range`` the array and its ``(min, max)`` (the
    finiteness check computes them anyway).
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a sparse matrix, which is not supported; pass a dense array (X.toarray())")
    try:
        arr = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"{name} cannot be read as a 2-D array of numbers (do all rows have the same length?): {exc}"
        ) from exc
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}; pass real numbers")
    if arr.dtype == object:
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got a {arr.ndim}-D array "
            f"of shape {arr.shape}. Reshape your data with X.reshape(1, -1) for a single sample "
            "or X.reshape(-1, 1) for a single feature"
        )
    arr = check_float_array(arr, name, ndim=2, dtype=dtype, allow_nonfinite=True)  # finite: below
    if arr.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required: {name} is empty")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: {name} has no columns")
    data_range = finite_range(arr, name)
    return (arr, data_range) if return_range else arr


class KSparseAutoencoder(EstimatorState, UnitInspection, _BaseEstimator):
    """k-sparse (top-k) autoencoder, a scikit-learn estimator.

    Each sample is encoded by a linear encoder, and only its k largest activations are
    kept (by default the top k pre-activations, then ReLU, as Gao et al. 2024); a linear
    decoder with unit-norm rows reconstructs it from those k units. Training follows the
    recipe described in the module docstring; ``docs/defaults.md`` gives the
    measurements behind each default and ``docs/parameters.md`` the table below.

%(parameters)s

    Attributes
    ----------
    W_enc_, b_enc_, W_dec_, b_dec_ : ndarray
        Encoder (m, n), encoder bias (m,), decoder (m, n), decoder / pre-encoder bias (n,).
    n_features_in_ : int
        Number of features seen by the first fit.
    n_iter_ : int
        Epochs run (partial_fit counts one per call).
    history_ : dict of lists
        Per epoch: "epoch", "loss", "mse", "l0", "dead_fraction", "k", "time",
        "peak_rss_mb", and "val_loss", "val_mse" with a validation split.
    steps_since_fired_ : ndarray of int64 (m,)
        Training samples seen since each unit last fired.
    output_bounds_ : tuple (low, high) of float, or None
        The bounds the reconstruction is clipped to (``output_bounds`` resolved; an
        infinite bound does not clip), or None when it is not clipped.

    Examples
    --------
    >>> import numpy as np
    >>> import ksparse
    >>> X = np.random.default_rng(0).random((200, 16)).astype(np.float32)
    >>> model = ksparse.KSparseAutoencoder(n_hidden=32, k=4, n_epochs=2, random_state=0).fit(X)
    >>> indices, values = model.encode(X[:3])
    >>> indices.shape
    (3, 4)
    """

    output_bounds_: Optional[Tuple[float, float]]

    def __init__(
        self,
        n_hidden=256,
        k=32,
        *,
        activation="relu",
        selection="value",
        n_epochs="auto",
        batch_size=32,
        optimizer="sparse_adam",
        learning_rate=1e-2,
        lr_schedule="cosine",
        warmup_fraction=0.05,
        k_start=None,
        k_anneal_fraction=0.5,
        auxk_k=None,
        auxk_coef=0.0,
        dead_samples=5000,
        dead_reset=False,
        diversity_coef=0.0,
        encoder_decay=0.3,
        normalize_decoder=True,
        output_bounds="auto",
        clip_training=False,
        validation_fraction=0.0,
        early_stopping=False,
        patience=5,
        n_threads=1,
        dtype="float32",
        random_state=None,
        verbose=False,
    ):
        self.n_hidden = n_hidden
        self.k = k
        self.activation = activation
        self.selection = selection
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.warmup_fraction = warmup_fraction
        self.k_start = k_start
        self.k_anneal_fraction = k_anneal_fraction
        self.auxk_k = auxk_k
        self.auxk_coef = auxk_coef
        self.dead_samples = dead_samples
        self.dead_reset = dead_reset
        self.diversity_coef = diversity_coef
        self.encoder_decay = encoder_decay
        self.normalize_decoder = normalize_decoder
        self.output_bounds = output_bounds
        self.clip_training = clip_training
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.n_threads = n_threads
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        """scikit-learn tags: the output dtype is the estimator's ``dtype``, not the input's."""
        tags = super().__sklearn_tags__()
        try:
            dt = str(check_dtype(self.dtype))
        except TypeError:
            dt = "float32"
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = [dt]
        return tags

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> dict:
        """Validate the constructor parameters by the parameter table; return the resolved values.

        See :mod:`ksparse._params`: the same rules serve the run configuration and the
        command line, and every refusal is an ``InvalidParameterError`` (a ValueError
        and a TypeError) naming the parameter.
        """
        return resolve_params(self.get_params())

    def _checked_params(self) -> dict:
        """:meth:`_check_params`, reused while no parameter has changed.

        ``partial_fit`` on one batch is called in a loop; validating ~25 parameters each
        time is measurable there (the step's own work leaves Python's data out of cache).
        The key is the parameters' current values, so ``set_params`` and plain attribute
        assignment are both seen.
        """
        names = _PARAM_NAMES.get(type(self))
        if names is None:
            names = _PARAM_NAMES[type(self)] = tuple(self._get_param_names())
        key = tuple(self.__dict__.get(name) for name in names)
        cached = self.__dict__.get("_params_cache")
        if cached is not None and len(cached[0]) == len(key) and all(a is b or (type(a) is type(b) and a == b)
                                                                      for a, b in zip(cached[0], key)):
            return cached[1]
        r = self._check_params()
        self._params_cache = (key, r)
        return r

    def _check_fitted(self) -> None:
        """Raise NotFittedError before fitting, ValueError when the learned arrays disagree."""
        if not hasattr(self, "W_enc_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit (or partial_fit) first"
            )
        self._check_state()

    def _check_X(self, X, reset: bool, dtype, return_range: bool = False):
        """Validate X (and its width unless ``reset``); with ``return_range`` also return (min, max)."""
        arr, data_range = _as_2d(X, "X", dtype=dtype, return_range=True)
        if not reset:
            n = self.n_features_in_
            if arr.shape[1] != n:
                raise ValueError(
                    f"X has {arr.shape[1]} features, but {type(self).__name__} is expecting {n} features as input."
                )
        return (arr, data_range) if return_range else arr

    # ------------------------------------------------------------------ setup
    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.default_rng().integers(0, 2**63 - 1))
        if isinstance(rs, (bool, np.bool_)):
            raise ValueError(f"random_state={rs!r} must be None, an int or a numpy random generator")
        if isinstance(rs, numbers.Integral):
            if rs < 0:
                raise ValueError(f"random_state={rs} must be a non-negative integer")
            return int(rs)
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(0, 2**63 - 1))
        raise ValueError(f"random_state={rs!r} must be None, an int or a numpy random generator")

    def _init_weights(self, X: np.ndarray, r: dict, rng: np.random.Generator) -> None:
        """Data-dependent initialisation.

        ``b_dec`` (the pre-encoder bias) starts at the data mean. Each decoder row starts
        as a randomly chosen training sample minus that mean, plus a small Gaussian jitter
        (5% of the mean row norm, so repeated picks differ and constant data still gives
        nonzero rows), scaled to unit norm; the encoder starts as the decoder's transpose.
        Every unit then starts pointing at real data and fires from the first steps
        (on MNIST, 784 -> 1000, k=25, it lifts the accuracy of a logistic regression on
        the codes from 0.924 to 0.948; see bench/features_accuracy.py).
        """
        m, n, dt = r["n_hidden"], X.shape[1], r["dtype"]
        mu = X.mean(axis=0, dtype=np.float64)
        sel = rng.choice(X.shape[0], size=m, replace=X.shape[0] < m)
        W = X[sel].astype(np.float64) - mu
        scale = float(np.linalg.norm(W, axis=1).mean())
        if not scale > 0:
            scale = 1.0
        W += (0.05 * scale / math.sqrt(n)) * rng.standard_normal((m, n))
        W /= np.linalg.norm(W, axis=1, keepdims=True)
        self.W_dec_ = np.ascontiguousarray(W, dtype=dt)
        self.W_enc_ = self.W_dec_.copy()  # encoder starts as the decoder's transpose
        self.b_enc_ = np.zeros(m, dtype=dt)
        self.b_dec_ = np.ascontiguousarray(mu, dtype=dt)
        self.n_features_in_ = n
        self.steps_since_fired_ = np.zeros(m, dtype=np.int64)
        self.n_iter_ = 0

    def _params(self) -> Dict[str, np.ndarray]:
        return {"W_enc": self.W_enc_, "b_enc": self.b_enc_, "W_dec": self.W_dec_, "b_dec": self.b_dec_}

    def _make_optimizer(self, r: dict):
        """A fresh optimizer state for the current weights; ``_opt_name`` records its rule."""
        self._opt_name = self.optimizer
        if self.optimizer in ("adam", "sparse_adam"):  # both run in the fused compiled step
            return AdamState(self._params(), lazy=self.optimizer == "sparse_adam")
        return make_optimizer(self.optimizer, lr=r["learning_rate"], n_threads=r["n_threads"])

    def _start_training(self, r: dict, rng: np.random.Generator, split_seed: int, n_samples: int) -> None:
        """Fresh optimizer, generator, history and training position (the weights are set)."""
        self._opt = self._make_optimizer(r)
        self._rng = rng
        self.history_: Dict[str, List[float]] = {key: [] for key in _HISTORY_KEYS}
        if r["validation_fraction"] > 0 and n_samples > 0:
            self.history_["val_loss"] = []
            self.history_["val_mse"] = []
        self._train_state = new_position(n_samples, split_seed)

    def _continue_training(self, r: dict) -> None:
        """Make a fitted (or loaded) model ready for more ``partial_fit`` steps.

        A model loaded from a plain model file has weights but no optimizer, generator or
        training position: they start afresh here, before any weight changes. An optimizer
        whose rule was changed with ``set_params`` starts afresh too.
        """
        if not hasattr(self, "_train_state"):
            self._rng = np.random.default_rng(self._seed())
            self._train_state = dict(new_position(0, int(self._rng.integers(0, 2**63 - 1))),
                                     epoch=int(self.n_iter_))
        if not hasattr(self, "_rng"):
            self._rng = np.random.default_rng(self._seed())
        if getattr(self, "_opt", None) is None or getattr(self, "_opt_name", self.optimizer) != self.optimizer:
            self._opt = self._make_optimizer(r)
        for key in _HISTORY_KEYS:
            self.history_.setdefault(key, [])

    def _make_loss(self, r: dict):
        terms: List[Tuple[float, Loss]] = [(1.0, MSELoss())]
        if r["auxk_coef"] > 0:
            terms.append((r["auxk_coef"], AuxKLoss(r["auxk_k"])))
        if r["diversity_coef"] > 0:
            terms.append((r["diversity_coef"], DiversityLoss()))
        return CombinedLoss(terms)

    def _build_steps(self, r: dict, batch_size: int) -> None:
        """Choose and build the training step (the one place the choice is made).

        :class:`~ksparse.training.FusedStep`, the compiled kernel, serves Adam (dense or
        lazy) with a ReLU or linear activation selected by value (or a linear one by
        absolute value) and no diversity penalty; every other configuration trains
        through :class:`~ksparse.training.GeneralStep`. Both implement the same step
        (``step(X, k, lr, dead) -> (loss, mse, indices, values)``) and only the chosen
        one allocates its workspaces.
        """
        params = self._params()
        opt = self._opt
        act_name = r["activation"].name
        fusable = (isinstance(opt, AdamState) and act_name in ("relu", "linear") and r["diversity_coef"] == 0.0
                   and (self.selection == "value" or act_name == "linear"))
        if fusable:
            self._step: Any = FusedStep(
                params, opt, bool(self.normalize_decoder), batch_size, max(r["k"], r["k_start"]), r["n_threads"],
                relu=act_name == "relu", steps_since_fired=self.steps_since_fired_, auxk_k=r["auxk_k"],
                auxk_coef=r["auxk_coef"], by_abs=self.selection == "abs", encoder_decay=r["encoder_decay"])
        else:
            self._step = GeneralStep(params, opt, self._make_loss(r), r["activation"], self.selection,
                                     bool(self.normalize_decoder), batch_size, r["n_threads"],
                                     encoder_decay=r["encoder_decay"])
        self._steps_key = (batch_size, r["n_hidden"], self.n_features_in_, r["dtype"].str)
        self._steps_params = r  # the step is rebuilt when any parameter changes
        self._sync_output_bounds(r)

    def _sync_output_bounds(self, r: dict) -> None:
        """Hand the bounds to the step (read at each step): ``output_bounds_`` with
        ``clip_training``, else None (training sees the unclipped output)."""
        step = getattr(self, "_step", None)
        if step is not None:
            step.output_bounds = self.output_bounds_ if r["clip_training"] else None

    def _set_output_bounds(self, X: np.ndarray, r: dict, extend: bool,
                           data_range: Optional[Tuple[float, float]] = None) -> None:
        """Resolve ``output_bounds`` into ``output_bounds_`` for training data X.

        "auto" takes X's range (``data_range`` when the caller has it), or with
        ``extend`` (a later ``partial_fit``) widens the current bounds to cover it.
        """
        spec = r["output_bounds"]
        if spec == "auto":
            lo, hi = data_range if data_range is not None else finite_range(X, "X")
            cur = getattr(self, "output_bounds_", None)
            if extend and cur is not None:
                lo, hi = min(lo, cur[0]), max(hi, cur[1])
            self.output_bounds_ = (lo, hi)
        else:
            self.output_bounds_ = spec
        self._sync_output_bounds(r)

    def epochs_for(self, n_samples: int) -> int:
        """The number of epochs :meth:`fit` trains for on ``n_samples`` samples.

        ``n_epochs`` itself when it is an integer; with ``n_epochs="auto"``,
        :func:`auto_epochs` of the steps per epoch (after the validation split).

        Parameters
        ----------
        n_samples : int
            Number of samples that would be passed to :meth:`fit`.

        Returns
        -------
        n_epochs : int
            The epochs :meth:`fit` would run.

        Raises
        ------
        ValueError
            On bad parameters, or when ``n_samples`` is less than 1.

        Examples
        --------
        >>> from ksparse import KSparseAutoencoder
        >>> KSparseAutoencoder().epochs_for(5000)
        192
        >>> KSparseAutoencoder(n_epochs=3).epochs_for(5000)
        3
        """
        r = self._check_params()
        n_samples = int(n_samples)
        if n_samples < 1:
            raise ValueError(f"n_samples={n_samples} must be at least 1")
        if r["n_epochs"] != "auto":
            return r["n_epochs"]
        n = n_samples - _n_validation(n_samples, r["validation_fraction"])
        return auto_epochs(_steps_per_epoch(n, r["batch_size"]))

    def _dead_mask(self, r: dict) -> np.ndarray:
        return self.steps_since_fired_ >= r["dead_samples"]

    def _one_step(self, X: np.ndarray, k: int, lr: float, r: dict) -> Tuple[float, Dict[str, float]]:
        """One optimizer step on batch X, the one step of fit and partial_fit.

        Returns the batch's loss and its per-sample figures ``{"mse": ..., "l0": ...}``
        (the engine's step protocol, :mod:`ksparse.engine`).
        """
        dead = None
        if r["auxk_coef"] > 0 and self.steps_since_fired_.max() >= r["dead_samples"]:
            dead = self._dead_mask(r)
        loss, mse, idx, val = self._step(X, k, lr, dead)
        if math.isfinite(loss) and isinstance(self._step, GeneralStep):  # the fused kernel counts itself
            ops.update_firing(self.steps_since_fired_, idx, val, X.shape[0])
        return float(loss), {"mse": float(mse), "l0": np.count_nonzero(val) / X.shape[0]}

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, callback: Optional[Callable] = None, resume: bool = False):
        """Train on X for ``n_epochs`` full shuffled passes.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data, real and finite, scaled to about unit range.
        y : None
            Ignored (scikit-learn compatibility).
        callback : callable, optional
            ``callback(estimator, epoch)`` after each epoch (epoch counts from 0).
        resume : bool, default False
            Continue an interrupted run (e.g. restored from a checkpoint) from where
            it stopped, with its optimizer and RNG state.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            On bad parameters or data (before any training).
        DivergenceError
            When the loss becomes non-finite; the weights of the last good epoch are kept.

        Warns
        -----
        DataScaleWarning
            When X's standard deviation is below 5e-3 (and not 0): training then stalls
            under Adam's eps; scale X to about unit range first.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((100, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=2, random_state=0).fit(X)
        >>> model.n_iter_, len(model.history_["loss"])
        (2, 2)
        """
        r = self._check_params()
        if resume:
            if not hasattr(self, "_train_state") or not hasattr(self, "W_enc_"):
                raise ValueError("resume=True needs an estimator restored from a checkpoint or an interrupted fit")
            self._check_state(r)
            self._continue_training(r)
            X, data_range = self._check_X(X, reset=False, dtype=r["dtype"], return_range=True)
        else:
            X, data_range = self._check_X(X, reset=True, dtype=r["dtype"], return_range=True)
            _warn_small_scale(X)
        with blas_threads(r["n_threads"]), np.errstate(over="ignore", invalid="ignore"):
            # overflow shows up as a non-finite loss, which stops training with DivergenceError
            return self._fit(X, r, callback, resume, data_range)

    def _fit(self, X, r, callback, resume, data_range):
        n_total = X.shape[0]
        if not resume:
            rng = np.random.default_rng(self._seed())
            split_seed = int(rng.integers(0, 2**63 - 1))
            self._init_weights(X, r, rng)
            self._start_training(r, rng, split_seed, n_samples=n_total)
        ts = self._train_state
        if resume and ts.get("n_samples") != n_total:
            raise ValueError(f"resume=True needs the same training data: the run used {ts.get('n_samples')} samples, X has {n_total}")
        # validation split, the same on resume
        if r["validation_fraction"] > 0:
            perm = np.random.default_rng(ts["split_seed"]).permutation(n_total)
            n_val = _n_validation(n_total, r["validation_fraction"])
            X_val = X[np.sort(perm[:n_val])]
            X_train = np.ascontiguousarray(X[np.sort(perm[n_val:])])
        else:
            X_val, X_train = None, X
        if not resume:
            self._set_output_bounds(X_train, r, extend=False, data_range=data_range if X_train is X else None)
        batches = ArrayBatches((X_train,), r["batch_size"])
        B = batches.batch_size
        steps_per_epoch = batches.steps_per_epoch
        if r["n_epochs"] == "auto":
            r["n_epochs"] = auto_epochs(steps_per_epoch)
        total_steps = r["n_epochs"] * steps_per_epoch
        warmup = int(round(r["warmup_fraction"] * total_steps))
        anneal_steps = r["k_anneal_fraction"] * total_steps
        self._build_steps(r, B)
        k_now = r["k"]

        def step(batch, step_no, lr):
            nonlocal k_now
            if anneal_steps > 0 and step_no < anneal_steps:  # progressive sparsity: k_start -> k
                k_now = int(round(r["k_start"] + (r["k"] - r["k_start"]) * step_no / anneal_steps))
            else:
                k_now = r["k"]
            return self._one_step(batch[0], k_now, lr, r)

        def on_epoch_end(epoch, figures):
            dead = self._dead_mask(r)
            figures["dead_fraction"] = float(dead.mean())
            figures["k"] = int(k_now)
            if anneal_steps > 0 and ts["step"] < anneal_steps:
                figures["_annealing"] = True  # shown by the progress bar, not kept in the history
            # resets only in the first 80% of training, so the reset units are trained
            # before the end (a unit reset in the last epoch would fire untrained)
            if self.dead_reset and dead.any() and epoch + 1 <= _RESET_FRACTION * r["n_epochs"]:
                self._reset_dead(X_train, np.flatnonzero(dead), r)
            self.n_iter_ = epoch + 1

        def validate():
            vm = self._mse(X_val, r["k"])
            return {"val_loss": vm, "val_mse": vm}

        run_epochs(batches, step, params=self._params(), position=ts, rng=self._rng, end_epoch=r["n_epochs"],
                   history=self.history_, learning_rate=r["learning_rate"],
                   lr_at=_lr_schedule(self.lr_schedule, total_steps, warmup), on_epoch_end=on_epoch_end,
                   validate=validate if X_val is not None else None,
                   patience=r["patience"] if self.early_stopping else None,
                   callback=callback, owner=self, verbose=self.verbose, desc="ksparse fit")
        _warn_if_worse_than_mean(self, X_train, r["k"], r["learning_rate"])
        _warn_if_training_failed(self.history_, ts["epoch"] - len(self.history_["loss"]),
                                 int(math.ceil(anneal_steps / steps_per_epoch)) if anneal_steps > 0 else 0)
        return self

    def _reset_dead(self, X_train: np.ndarray, dead_units: np.ndarray, r: dict) -> None:
        """Point dead units at the residuals of the worst reconstructed samples of a random subset."""
        sub = self._rng.choice(X_train.shape[0], size=min(X_train.shape[0], 1024), replace=False)
        Xs = X_train[np.sort(sub)]
        R = Xs - self._reconstruct(Xs, r["k"])
        err = np.einsum("ij,ij->i", R, R)
        order = np.argsort(-err, kind="stable")
        alive = np.ones(r["n_hidden"], dtype=bool)
        alive[dead_units] = False
        enc_norm = float(np.linalg.norm(self.W_enc_[alive], axis=1).mean()) if alive.any() else 1.0
        for j, u in enumerate(dead_units):
            res = R[order[j % len(order)]]
            nrm = float(np.linalg.norm(res))
            if nrm == 0.0:
                continue
            d = res / nrm
            self.W_dec_[u] = d
            self.W_enc_[u] = d * (0.2 * enc_norm)  # small, so it does not crowd out trained units
            self.b_enc_[u] = 0
        if isinstance(self._opt, AdamState):
            self._opt.reset_rows(dead_units)
        self.steps_since_fired_[dead_units] = 0

    def partial_fit(self, X, y=None):
        """One pass over X in mini-batches of ``batch_size`` (in the given order).

        A call with ``len(X) == batch_size`` is exactly one optimizer step. The target
        ``k`` and the constant ``learning_rate`` are used (no curriculum or schedule).
        The first call initialises the weights from X; later calls keep training them.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data; after the first call, as many features as then.
        y : None
            Ignored (scikit-learn compatibility).

        Returns
        -------
        self
            The estimator, with ``n_iter_`` one higher.

        Raises
        ------
        ValueError
            On bad parameters or data, or when parameters that fix the model's
            shape (``n_hidden``, ``dtype``) changed since the first call.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> rng = np.random.default_rng(0)
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, batch_size=10, random_state=0)
        >>> for _ in range(3):
        ...     model = model.partial_fit(rng.random((10, 8)))
        >>> model.n_iter_
        3
        """
        r = self._checked_params()
        first = not hasattr(self, "W_enc_")
        if not first:  # before any array is touched: parameters changed since fit, or edited arrays
            self._check_state(r)
        X, data_range = self._check_X(X, reset=first, dtype=r["dtype"], return_range=True)
        if first:
            _warn_small_scale(X)
        with blas_threads(r["n_threads"]), np.errstate(over="ignore", invalid="ignore"):
            if first:
                rng = np.random.default_rng(self._seed())
                split_seed = int(rng.integers(0, 2**63 - 1))
                self._init_weights(X, r, rng)
                self._start_training(r, rng, split_seed, n_samples=0)
            else:
                self._continue_training(r)
            self._set_output_bounds(X, r, extend=not first, data_range=data_range)
            B = r["batch_size"]
            key = (B, r["n_hidden"], self.n_features_in_, r["dtype"].str)
            if (getattr(self, "_steps_key", None) != key or getattr(self, "_steps_params", None) is not r
                    or getattr(self, "_step", None) is None):
                self._build_steps(r, B)
            # one in-order pass through the engine, without the rollback copy: a diverging
            # step changes nothing, so the weights stay as they were before that batch
            position = dict(self._train_state, epoch=self.n_iter_, done=False)

            def step(batch, step_no, lr):
                return self._one_step(batch[0], r["k"], lr, r)

            def on_epoch_end(epoch, figures):
                figures["dead_fraction"] = float(self._dead_mask(r).mean())
                figures["k"] = r["k"]

            run_epochs(ArrayBatches((X,), B, shuffle=False), step, params=self._params(), position=position,
                       rng=self._rng, end_epoch=self.n_iter_ + 1, history=self.history_,
                       learning_rate=r["learning_rate"], on_epoch_end=on_epoch_end, rollback=False)
            self._train_state["step"] = position["step"]
            self.n_iter_ += 1
        return self

    # ------------------------------------------------------------------ inference
    def _encode(self, X: np.ndarray, k: int, chunk: int = 4096) -> Tuple[np.ndarray, np.ndarray]:
        act = get_activation(self.activation)
        N = X.shape[0]
        idx_all = np.empty((N, k), dtype=np.int64)
        val_all = np.empty((N, k), dtype=self.W_enc_.dtype)
        for s in range(0, N, chunk):
            Xc = X[s:s + chunk] - self.b_dec_
            Z = Xc @ self.W_enc_.T
            Z += self.b_enc_
            idx_all[s:s + chunk], _, val_all[s:s + chunk] = ops.select(Z, k, act, self.selection)
        return idx_all, val_all

    def _clip_output(self, Xh: np.ndarray) -> np.ndarray:
        """Clip a reconstruction to ``output_bounds_`` in place (nothing when it is None)."""
        clip_output(Xh, getattr(self, "output_bounds_", None))
        return Xh

    def _reconstruct(self, X: np.ndarray, k: int) -> np.ndarray:
        idx, val = self._encode(X, k)
        return self._clip_output(ops.decode(idx, val, self.W_dec_, self.b_dec_))

    def _mse(self, X: np.ndarray, k: int) -> float:
        D = self._reconstruct(X, k) - X
        return float(np.einsum("ij,ij->", D, D, dtype=np.float64)) / D.size

    def _resolve_k(self, k) -> int:
        """``k`` (the estimator's own when None), checked against the fitted units."""
        return check_k(self.k if k is None else k, self.W_enc_.shape[0], name="k", m_name="n_hidden")

    def encode(self, X, k=None) -> Tuple[np.ndarray, np.ndarray]:
        """Sparse codes ``(indices, values)``, each (n_samples, k), rows in descending order.

        ``k`` may be raised at encode time (e.g. ``3 * self.k``, Makhzani & Frey's alpha*k).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Data to encode.
        k : int, optional
            Units kept per sample, between 1 and ``n_hidden``; the estimator's
            ``k`` when None.

        Returns
        -------
        indices : ndarray of int64, shape (n_samples, k)
            The kept units of each sample.
        values : ndarray of shape (n_samples, k)
            Their activations, in the model's dtype, largest first.

        Raises
        ------
        NotFittedError
            Before the estimator is fitted.
        ValueError
            When X has the wrong number of features or k is out of range.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((30, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> indices, values = model.encode(X[:2], k=5)
        >>> indices.shape, values.shape
        ((2, 5), (2, 5))
        """
        self._check_fitted()
        X = self._check_X(X, reset=False, dtype=self.W_enc_.dtype)
        return self._encode(X, self._resolve_k(k))

    def transform(self, X, k=None) -> np.ndarray:
        """Dense codes (n_samples, n_hidden): zero except the k kept units of each sample.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Data to encode.
        k : int, optional
            Units kept per sample; the estimator's ``k`` when None.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_hidden)
            The codes, in the model's dtype.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((30, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> codes = model.transform(X[:2])
        >>> codes.shape, bool((np.count_nonzero(codes, axis=1) <= 3).all())
        ((2, 16), True)
        """
        idx, val = self.encode(X, k)
        return ops.dense_codes(idx, val, self.W_enc_.shape[0])

    def inverse_transform(self, codes) -> np.ndarray:
        """Reconstruct from dense codes (n_samples, n_hidden) or a tuple ``(indices, values)``.

        The output is clipped to ``output_bounds_``.

        Parameters
        ----------
        codes : array_like of shape (n_samples, n_hidden), or tuple of two arrays
            Dense codes as :meth:`transform` gives them, or ``(indices, values)``
            as :meth:`encode` gives them.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The reconstruction, in the model's dtype.

        Raises
        ------
        ValueError
            When the codes' shape does not fit the model.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((30, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> model.inverse_transform(model.transform(X[:2])).shape
        (2, 8)
        >>> np.allclose(model.inverse_transform(model.encode(X[:2])), model.reconstruct(X[:2]))
        True
        """
        self._check_fitted()
        m = self.W_dec_.shape[0]
        dt = self.W_dec_.dtype
        if isinstance(codes, tuple):
            if len(codes) != 2:
                raise ValueError("codes as a tuple must be (indices, values)")
            from ksparse._validation import check_index_array

            idx = check_index_array(codes[0], "indices", m)
            val = check_float_array(codes[1], "values", ndim=2, dtype=dt)
            if idx.shape != val.shape:
                raise ValueError(f"indices {idx.shape} and values {val.shape} must have the same shape")
            return self._clip_output(ops.decode(idx, val, self.W_dec_, self.b_dec_))
        C = _as_2d(codes, "codes", dtype=dt)
        if C.shape[1] != m:
            raise ValueError(f"codes has {C.shape[1]} columns, but the model has n_hidden={m} units")
        return self._clip_output(C @ self.W_dec_ + self.b_dec_)

    def reconstruct(self, X) -> np.ndarray:
        """Encode then decode X (with the training k).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Data to reconstruct.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The reconstruction, clipped to ``output_bounds_``.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((30, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> model.reconstruct(X[:2]).shape
        (2, 8)
        """
        return self.inverse_transform(self.encode(X))

    def score(self, X, y=None) -> float:
        """Negative mean squared reconstruction error (higher is better).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Data to reconstruct with the estimator's ``k``.
        y : None
            Ignored (scikit-learn compatibility).

        Returns
        -------
        score : float
            Minus the mean over all entries of ``(reconstruct(X) - X) ** 2``.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((30, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> model.score(X) <= 0
        True
        """
        self._check_fitted()
        X = self._check_X(X, reset=False, dtype=self.W_enc_.dtype)
        return -self._mse(X, self._resolve_k(None))

    # ------------------------------------------------------------------ inspection
    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("_step", "_steps_key", "_steps_params"):
            state.pop(key, None)
        return state

# the Parameters section is the parameter table's (ksparse._params), so the two cannot disagree
KSparseAutoencoder.__doc__ = (KSparseAutoencoder.__doc__ or "").replace(
    "%(parameters)s", textwrap.indent(numpydoc_section(), "    "))
