"""Composable layers: a k-sparse encoder layer, a dense layer and a network of them.

The spirit is the original numpy project's quick start::

    >>> from ksparse.layers import KSparseLayer, DenseLayer, Network
    >>> net = Network([KSparseLayer(784, 100, k=20), DenseLayer(100, 784)])
    >>> history = net.train(X, X, epochs=10, batch_size=64, random_state=0)  # doctest: +SKIP
    >>> X_hat = net.predict(X)                                                # doctest: +SKIP

How the pieces fit
------------------
* :class:`KSparseLayer` ``(n_in -> n_out)``: ``Z = X W.T + b``, ``A = f(Z)``,
  then keep the ``k`` largest entries of each row of ``A`` (by value, or by
  absolute value with ``by="abs"``). Its output is the sparse code
  ``(indices, values)``, each of shape ``(B, k)``. ``W`` has shape
  ``(n_out, n_in)``: one contiguous row per hidden unit (the estimator's
  ``W_enc``).
* :class:`DenseLayer` ``(n_in -> n_out)``: ``A = f(X W + b)``. ``W`` has shape
  ``(n_in, n_out)``: one contiguous row per *input* unit, which is the layout of
  the estimator's ``W_dec`` ``(m, n)``. When its input is the sparse code of a
  :class:`KSparseLayer`, the forward pass gathers only the ``k`` selected rows
  (:func:`ksparse.sparse.sparse_decode`) and the backward pass scatters into
  them (:func:`ksparse.sparse.sparse_decode_backward`); the code is never
  densified. After a dense input it is one BLAS product.
* The backward pass of a :class:`KSparseLayer` touches only the selected units
  (:func:`ksparse.sparse.sparse_encoder_backward`); the gradient for the layer
  before it is a sparse decode of the ``(B, k)`` gradients with ``W``.
* A :class:`KSparseLayer` whose input is the code of another
  :class:`KSparseLayer`, and the code at the very end of a network, are
  converted to dense ``(B, m)`` arrays (these are not sparse-to-sparse paths).
* :class:`Network` chains the layers, trains them on the mean squared error with
  an optimizer of :mod:`ksparse.optim` (an epoch is one full shuffled pass over
  the data) and predicts.

Inputs are checked once, where they enter (``Network.train``, ``predict``,
``loss``, the layers' ``forward``); inside, the compiled kernels behind
:func:`ksparse.topk.topk` and the :mod:`ksparse.sparse` functions are called
directly, without their wrappers' per-call checks.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ksparse import _model_ops as ops
from ksparse._threads import blas_threads
from ksparse._validation import (
    check_dtype,
    check_float_array,
    check_index_array,
    check_int,
    check_k,
    check_n_threads,
    check_real,
)
from ksparse.activations import Activation, get_activation
from ksparse.engine import (ArrayBatches, check_fields, check_history, is_int, new_position, read_training_state,
                            run_epochs, training_state)
from ksparse.engine import lr_schedule as engine_lr_schedule
from ksparse.optim import Optimizer, make_optimizer
from ksparse.topk import codes_to_dense

__all__ = ["KSparseLayer", "DenseLayer", "Network"]

SparseCode = Tuple[np.ndarray, np.ndarray]

#: rows per chunk in predict/loss (bounds the (chunk, n_out) pre-activations)
_PREDICT_CHUNK = 2048


# The layers call the compiled kernels through ksparse._model_ops, without the public
# wrappers' checks: every array is made by this module with consistent shapes and
# dtypes, and the user's input was checked once at the boundary (Network.train /
# predict / loss, the layers' forward methods).


def _is_code(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 2


class _Layer:
    """Shared parts of the layers: sizes, activation, parameters, config."""

    def _w_shape(self) -> Tuple[int, int]:  # pragma: no cover - overridden
        """Shape of ``W`` for this layer type."""
        raise NotImplementedError

    def _forward(self, X: Any, n_threads: int, keep_cache: bool) -> Tuple[Any, Any]:  # pragma: no cover
        """Output for ``X`` (dense or a code) and, with ``keep_cache``, what the backward pass needs."""
        raise NotImplementedError

    def _backward(
        self,
        cache: Any,
        G: np.ndarray,
        dW: np.ndarray,
        db: np.ndarray,
        need_input_grad: bool,
        n_threads: int,
        rows: Optional[Dict[str, np.ndarray]] = None,
        name: str = "",
    ) -> Optional[np.ndarray]:  # pragma: no cover
        """Write the parameter gradients into ``dW``/``db``; return the input gradient."""
        raise NotImplementedError

    def __init__(self, n_in: Any, n_out: Any, activation: Any) -> None:
        self.n_in = check_int(n_in, "n_in", 1)
        self.n_out = check_int(n_out, "n_out", 1)
        self.activation: Activation = get_activation(activation)
        # None until the weights are drawn or set (see `initialized`); every
        # method that reads them checks `initialized` first
        self.W: np.ndarray = None  # type: ignore[assignment]
        self.b: np.ndarray = None  # type: ignore[assignment]

    @property
    def initialized(self) -> bool:
        """True once the layer has weights (after ``Network.initialize`` or ``train``).

        Returns
        -------
        flag : bool
            Whether ``W`` and ``b`` are set.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer
        >>> DenseLayer(4, 2).initialized
        False
        """
        return self.W is not None

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.n_in}->{self.n_out}"

    def _check_dense_input(self, X: Any) -> np.ndarray:
        if not self.initialized:
            raise RuntimeError(
                f"{self._describe()} has no weights yet; put it in a Network and call "
                "train() or initialize() first"
            )
        X = check_float_array(X, "X", ndim=2, dtype=self.W.dtype)
        if X.shape[1] != self.n_in:
            raise ValueError(f"X has {X.shape[1]} features but {self._describe()} expects {self.n_in}")
        return X

    def _init_weights(self, rng: np.random.Generator, dtype: np.dtype) -> None:
        # uniform(-1/sqrt(n_in), 1/sqrt(n_in)), biases zero
        bound = 1.0 / math.sqrt(self.n_in)
        self.W = np.ascontiguousarray(rng.uniform(-bound, bound, size=self._w_shape()), dtype=dtype)
        self.b = np.zeros(self.n_out, dtype=dtype)

    def _set_weights(self, W: np.ndarray, b: np.ndarray, dtype: np.dtype, where: str) -> None:
        W = np.asarray(W)
        b = np.asarray(b)
        if W.shape != self._w_shape() or b.shape != (self.n_out,):
            raise ValueError(
                f"{where}: expected W {self._w_shape()} and b ({self.n_out},) for "
                f"{self._describe()}, got W {W.shape} and b {b.shape}"
            )
        self.W = np.array(W, dtype=dtype, order="C", copy=True)
        self.b = np.array(b, dtype=dtype, order="C", copy=True)

    def get_config(self) -> Dict[str, Any]:
        """Constructor parameters as a JSON-able dict (``"class"`` names the layer type).

        Returns
        -------
        config : dict
            ``class``, ``n_in``, ``n_out``, ``activation`` (and ``k``, ``by`` for a
            :class:`KSparseLayer`).

        Examples
        --------
        >>> from ksparse.layers import DenseLayer
        >>> DenseLayer(4, 2).get_config()
        {'class': 'DenseLayer', 'n_in': 4, 'n_out': 2, 'activation': {'name': 'linear'}}
        """
        return {
            "class": type(self).__name__,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation.get_config(),
        }

    def __repr__(self) -> str:
        cfg = self.get_config()
        cfg.pop("class")
        cfg["activation"] = self.activation.name if not self.activation.params else self.activation
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.items())
        return f"{type(self).__name__}({args})"


class KSparseLayer(_Layer):
    """A linear map, an activation, and the top ``k`` entries of each sample.

    ``A = f(X W.T + b)``; the output is the sparse code ``(indices, values)``
    of the ``k`` largest entries of each row of ``A`` (descending, ties to the
    lower index). Gradients flow only through the selected entries.

    Parameters
    ----------
    n_in : int
        Input features.
    n_out : int
        Hidden units ``m``.
    k : int
        Units kept per sample, ``1 <= k <= n_out``.
    activation : str, dict or Activation, default "relu"
        See :func:`ksparse.activations.get_activation`.
    by : {"value", "abs"}, default "value"
        Rank entries by their value or by their absolute value (the kept
        values keep their sign).

    Attributes
    ----------
    W : ndarray of shape (n_out, n_in)
        Encoder weights, one row per hidden unit (None until initialised).
    b : ndarray of shape (n_out,)
        Encoder bias.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
    >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
    >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
    >>> layer = net.layers[0]
    >>> indices, values = layer.forward(X[:3])
    >>> indices.shape, values.shape
    ((3, 2), (3, 2))
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        k: int,
        activation: Union[str, Activation, Dict[str, Any]] = "relu",
        by: str = "value",
    ) -> None:
        super().__init__(n_in, n_out, activation)
        self.k = check_k(k, self.n_out, m_name="n_out")
        if by not in ("value", "abs"):
            raise ValueError(f"by={by!r} is not known; use 'value' or 'abs'")
        self.by = by

    def _w_shape(self) -> Tuple[int, int]:
        return (self.n_out, self.n_in)

    def _describe(self) -> str:
        return f"KSparseLayer {self.n_in}->{self.n_out} (k={self.k})"

    def get_config(self) -> Dict[str, Any]:
        """Constructor parameters as a JSON-able dict, with ``k`` and ``by``.

        Returns
        -------
        config : dict
            ``class``, ``n_in``, ``n_out``, ``activation``, ``k`` and ``by``.

        Examples
        --------
        >>> from ksparse.layers import KSparseLayer
        >>> KSparseLayer(4, 8, k=2).get_config()["k"]
        2
        """
        cfg = super().get_config()
        cfg["k"] = self.k
        cfg["by"] = self.by
        return cfg

    def forward(self, X: np.ndarray, *, n_threads: int = 1) -> SparseCode:
        """Encode dense input into its sparse code.

        Parameters
        ----------
        X : ndarray of shape (B, n_in)
            Input, in the dtype of the weights.
        n_threads : int, default 1
            Threads for the product (BLAS) and the top-k selection.

        Returns
        -------
        indices : int64 ndarray of shape (B, k)
            The kept units of each sample.
        values : ndarray of shape (B, k)
            Their activations, largest first.

        Raises
        ------
        RuntimeError
            Before the layer has weights.
        ValueError
            When X has the wrong shape or holds NaN or infinity.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
        >>> indices, values = net.layers[0].forward(X[:2])
        >>> bool((values[:, 0] >= values[:, 1]).all())
        True
        """
        X = self._check_dense_input(X)
        n_threads = check_n_threads(n_threads)
        with blas_threads(n_threads):
            code, _ = self._forward(X, n_threads, keep_cache=False)
        return code

    def _forward(self, X: np.ndarray, n_threads: int, keep_cache: bool) -> Tuple[SparseCode, Any]:
        Z = X @ self.W.T
        Z += self.b
        try:
            indices, z_sel, values = ops.select(Z, self.k, self.activation, self.by, n_threads)
        except FloatingPointError:
            raise FloatingPointError(
                f"the activations of {self._describe()} hold NaN or infinity (the weights or the input are "
                "too large)") from None
        cache = None
        if keep_cache:
            cache = (X, indices, values, z_sel)
        return (indices, values), cache

    def _backward(
        self,
        cache: Any,
        dvalues: np.ndarray,
        dW: np.ndarray,
        db: np.ndarray,
        need_input_grad: bool,
        n_threads: int,
        rows: Optional[Dict[str, np.ndarray]] = None,
        name: str = "",
    ) -> Optional[np.ndarray]:
        X, indices, values, z_sel = cache
        if self.activation.name == "linear":
            dz = dvalues
        else:
            dz = dvalues * self.activation.derivative(z_sel, values)
        dz = np.ascontiguousarray(dz)
        if rows is None:
            dW.fill(0)
            db.fill(0)
        else:
            # a lazy optimizer reads only these rows: zero just them
            touched = np.unique(indices)
            dW[touched] = 0
            db[touched] = 0
            rows[f"{name}.W"] = touched
            rows[f"{name}.b"] = touched
        ops.encoder_backward(indices, dz, X, dW, db, n_threads=n_threads)
        if not need_input_grad:
            return None
        # dX[b] = sum_j dz[b, j] * W[indices[b, j]]
        return ops.decode(indices, dz, self.W, n_threads=n_threads)


class DenseLayer(_Layer):
    """A fully connected layer, ``A = f(X W + b)``.

    After a :class:`KSparseLayer` it takes the code ``(indices, values)`` and
    uses the sparse kernels (gather/scatter of the ``k`` selected rows of
    ``W``); after dense input it is one BLAS product.

    Parameters
    ----------
    n_in : int
        Input features.
    n_out : int
        Output features.
    activation : str, dict or Activation, default "linear"
        See :func:`ksparse.activations.get_activation`.

    Attributes
    ----------
    W : ndarray of shape (n_in, n_out)
        Weights, one row per input unit (the decoder layout ``W_dec (m, n)``;
        None until initialised).
    b : ndarray of shape (n_out,)
        Bias.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
    >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
    >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
    >>> net.layers[1].forward(net.layers[0].forward(X[:3])).shape
    (3, 6)
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: Union[str, Activation, Dict[str, Any]] = "linear",
    ) -> None:
        super().__init__(n_in, n_out, activation)

    def _w_shape(self) -> Tuple[int, int]:
        return (self.n_in, self.n_out)

    def forward(self, X: Union[np.ndarray, SparseCode], *, n_threads: int = 1) -> np.ndarray:
        """Apply the layer to dense input or to a sparse code.

        Parameters
        ----------
        X : ndarray of shape (B, n_in), or tuple (indices, values)
            Dense input, or the code of a :class:`KSparseLayer` with ``n_out == n_in``.
        n_threads : int, default 1
            Threads for the sparse kernels or the BLAS product.

        Returns
        -------
        ndarray of shape (B, n_out)
            ``f(X W + b)``, in the dtype of the weights.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
        >>> decoder = net.layers[1]
        >>> code = net.layers[0].forward(X[:2])
        >>> dense = np.zeros((2, 8), dtype=np.float32)
        >>> np.put_along_axis(dense, code[0], code[1], axis=1)
        >>> np.allclose(decoder.forward(code), decoder.forward(dense), atol=1e-6)
        True
        """
        if _is_code(X):
            if not self.initialized:
                self._check_dense_input(None)
            indices, values = X
            values = check_float_array(values, "values", ndim=2, dtype=self.W.dtype)
            indices = check_index_array(indices, "indices", self.n_in)
            if indices.shape != values.shape:
                raise ValueError(
                    f"indices and values must have the same shape, got {indices.shape} and {values.shape}"
                )
            X = (indices, values)
        else:
            X = self._check_dense_input(X)
        n_threads = check_n_threads(n_threads)
        with blas_threads(n_threads):
            out, _ = self._forward(X, n_threads, keep_cache=False)
        return out

    def _forward(self, X: Any, n_threads: int, keep_cache: bool) -> Tuple[np.ndarray, Any]:
        if _is_code(X):
            indices, values = X
            Z = ops.decode(indices, values, self.W, self.b, n_threads=n_threads)
        else:
            Z = X @ self.W
            Z += self.b
        A = Z if self.activation.name == "linear" else self.activation.forward(Z)
        cache = (X, Z, A) if keep_cache else None
        return A, cache

    def _backward(
        self,
        cache: Any,
        G: np.ndarray,
        dW: np.ndarray,
        db: np.ndarray,
        need_input_grad: bool,
        n_threads: int,
        rows: Optional[Dict[str, np.ndarray]] = None,
        name: str = "",
    ) -> Optional[np.ndarray]:
        X, Z, A = cache
        if self.activation.name == "linear":
            dZ = G
        else:
            dZ = G * self.activation.derivative(Z, A)
        dZ = np.ascontiguousarray(dZ)
        np.sum(dZ, axis=0, out=db)
        if _is_code(X):
            indices, values = X
            if rows is None:
                dW.fill(0)
            else:
                touched = np.unique(indices)
                dW[touched] = 0
                rows[f"{name}.W"] = touched
            dvalues = ops.decode_backward(indices, values, self.W, dZ, dW, n_threads=n_threads)
            return dvalues if need_input_grad else None
        np.matmul(X.T, dZ, out=dW)
        if not need_input_grad:
            return None
        return dZ @ self.W.T


_LAYER_CLASSES = {"KSparseLayer": KSparseLayer, "DenseLayer": DenseLayer}


def _layer_from_config(cfg: Dict[str, Any]) -> _Layer:
    cfg = dict(cfg)
    name = cfg.pop("class", None)
    if name not in _LAYER_CLASSES:
        raise ValueError(f"unknown layer class {name!r}; known: {sorted(_LAYER_CLASSES)}")
    return _LAYER_CLASSES[name](**cfg)


#: a checkpoint's run description: key -> (check, what it must be)
_RUN_RULES: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "optimizer": (lambda v: isinstance(v, str), "an optimizer name"),
    "learning_rate": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
                      "a finite number > 0"),
    "optimizer_params": (lambda v: isinstance(v, dict), "an object"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "epochs": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "lr_schedule": (lambda v: isinstance(v, str), "a schedule name"),
    "warmup_fraction": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                        "a number in [0, 1)"),
    "start_epoch": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "start_step": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
}


def _training_from_v01(training: Dict[str, Any]) -> Dict[str, Any]:
    """A ksparse 0.1 network checkpoint's training entry in the engine's layout."""
    epoch, step = training.get("epoch", 0), training.get("step", 0)
    run = training.get("run")
    scalars = training.get("optimizer_scalars")
    return {
        "state": dict(new_position(), epoch=epoch, step=step),
        "rng": training.get("rng_state"),
        "optimizer": None if scalars is None or run is None else {"name": run.get("optimizer"), "scalars": scalars},
        "run": run,
    }


def _check_run(run: Any) -> Dict[str, Any]:
    """Validate a checkpoint's run description (what ``train(resume=True)`` continues)."""
    return check_fields(run, _RUN_RULES, "checkpoint's run")


def _json_scalar(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str) or v is None:
        return v
    raise TypeError(f"optimizer state entry of type {type(v).__name__} is not JSON-able")


class Network:
    """A feed-forward network of :class:`KSparseLayer` and :class:`DenseLayer`.

    Parameters
    ----------
    layers : sequence of layers
        Consecutive sizes must chain: ``layers[i].n_out == layers[i + 1].n_in``.
        A layer object may appear only once.
    dtype : {"float32", "float64"}, default "float32"
        Dtype of the weights; inputs are converted to it.
    n_threads : int, default 1
        Threads for the compiled kernels and (with threadpoolctl) BLAS; -1 for
        all cores. A count above the usable CPUs is reduced to them with a
        :class:`~ksparse._validation.ThreadCountWarning`.

    Attributes
    ----------
    layers : list
        The layers.
    history_ : dict of lists or None
        Per-epoch record across ``train`` calls: ``"epoch"`` (from 0), ``"loss"``
        (mean MSE of the epoch's batches, before each update), ``"time"``
        (seconds) and ``"peak_rss_mb"``.
    epoch_ : int
        Epochs completed.
    n_steps_ : int
        Optimizer steps taken.
    optimizer_ : optimizer or None
        The optimizer of the latest ``train`` call.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.layers import KSparseLayer, DenseLayer, Network
    >>> X = np.random.default_rng(0).random((64, 20), dtype=np.float32)
    >>> net = Network([KSparseLayer(20, 16, k=4), DenseLayer(16, 20)])
    >>> hist = net.train(X, X, epochs=3, batch_size=16, random_state=0)
    >>> net.predict(X).shape
    (64, 20)
    """

    def __init__(self, layers: Sequence[_Layer], *, dtype: Any = "float32", n_threads: int = 1) -> None:
        if isinstance(layers, _Layer):
            layers = [layers]
        if not isinstance(layers, (list, tuple)) or len(layers) == 0:
            raise ValueError("layers must be a non-empty list of KSparseLayer/DenseLayer objects")
        for i, layer in enumerate(layers):
            if not isinstance(layer, _Layer):
                raise TypeError(
                    f"layers[{i}] is a {type(layer).__name__}; use KSparseLayer or DenseLayer"
                )
        seen: Dict[int, int] = {}
        for i, layer in enumerate(layers):
            if id(layer) in seen:
                raise ValueError(
                    f"layers[{i}] is the same object as layers[{seen[id(layer)]}]; "
                    "create a separate layer for each position"
                )
            seen[id(layer)] = i
        for i in range(len(layers) - 1):
            a, b = layers[i], layers[i + 1]
            if a.n_out != b.n_in:
                raise ValueError(
                    f"layer {i} ({a._describe()}) outputs {a.n_out} features but layer {i + 1} "
                    f"({b._describe()}) expects {b.n_in}; make n_in of layer {i + 1} equal {a.n_out}"
                )
        self.layers: List[_Layer] = list(layers)
        self.dtype = check_dtype(dtype)
        self.n_threads = n_threads  # checked by the property
        self.history_: Optional[Dict[str, List[Any]]] = None
        self._position: Dict[str, Any] = new_position()
        self.optimizer_: Any = None
        self._rng: Optional[np.random.Generator] = None
        self._run: Optional[Dict[str, Any]] = None
        self._in_epoch = False
        for layer in self.layers:
            if layer.initialized:
                layer._set_weights(layer.W, layer.b, self.dtype, "layer weights")

    # ------------------------------------------------------------------ basics
    @property
    def n_threads(self) -> int:
        """Threads of the compiled kernels and BLAS (writable; checked when set).

        Set through :func:`ksparse._validation.check_n_threads`: -1 becomes the
        number of CPUs the process may use, and a larger count is reduced to it
        with a :class:`~ksparse._validation.ThreadCountWarning`.

        Returns
        -------
        n_threads : int
            The thread count in use.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, Network
        >>> net = Network([DenseLayer(4, 2)])
        >>> net.n_threads = 1
        >>> net.n_threads
        1
        """
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int) -> None:
        self._n_threads = check_n_threads(value)

    @property
    def n_in(self) -> int:
        """Input features of the first layer.

        Returns
        -------
        n_in : int
            ``layers[0].n_in``.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> Network([KSparseLayer(10, 5, k=2), DenseLayer(5, 3)]).n_in
        10
        """
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        """Output features of the last layer.

        Returns
        -------
        n_out : int
            ``layers[-1].n_out``.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> Network([KSparseLayer(10, 5, k=2), DenseLayer(5, 3)]).n_out
        3
        """
        return self.layers[-1].n_out

    @property
    def initialized(self) -> bool:
        """True when every layer has weights.

        Returns
        -------
        flag : bool
            Whether :meth:`predict` can run.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, Network
        >>> net = Network([DenseLayer(4, 2)])
        >>> net.initialized, net.initialize(0).initialized
        (False, True)
        """
        return all(layer.initialized for layer in self.layers)

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Network([\n    {inner}\n], dtype={self.dtype.name!r})"

    def initialize(self, random_state: Any = None) -> "Network":
        """Draw fresh weights for every layer.

        Weights are ``uniform(-1/sqrt(n_in), 1/sqrt(n_in))`` and biases zero. A
        :class:`DenseLayer` ``m -> n`` directly after a :class:`KSparseLayer`
        ``n -> m`` (an autoencoder pair) starts with the same matrix as the
        encoder, i.e. the decoder is initialised as the encoder's transpose
        (Gao et al., 2024).

        Parameters
        ----------
        random_state : int, numpy Generator or None
            Seed for the weights.

        Returns
        -------
        self
            The network, with new weights and no training history.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
        >>> bool((net.layers[1].W == net.layers[0].W).all())  # decoder = encoder transposed
        True
        """
        rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
        self._initialize(rng)
        return self

    def _initialize(self, rng: np.random.Generator) -> None:
        for i, layer in enumerate(self.layers):
            prev = self.layers[i - 1] if i > 0 else None
            if (
                isinstance(layer, DenseLayer)
                and isinstance(prev, KSparseLayer)
                and layer.n_out == prev.n_in
            ):
                layer.W = prev.W.copy()
                layer.b = np.zeros(layer.n_out, dtype=self.dtype)
            else:
                layer._init_weights(rng, self.dtype)
        self.history_ = None
        self.epoch_ = 0
        self.n_steps_ = 0
        self.optimizer_ = None
        self._run = None
        self._in_epoch = False

    def _params_and_grads(self) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]:
        params: Dict[str, np.ndarray] = {}
        grads: Dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            params[f"layers.{i}.W"] = layer.W
            params[f"layers.{i}.b"] = layer.b
            grads[f"layers.{i}.W"] = np.zeros_like(layer.W)
            grads[f"layers.{i}.b"] = np.zeros_like(layer.b)
        return params, grads

    def _check_X(self, X: Any, name: str = "X") -> np.ndarray:
        X = check_float_array(X, name, ndim=2, dtype=self.dtype)
        if X.shape[0] == 0:
            raise ValueError(f"{name} is empty (0 samples); pass at least one sample")
        if X.shape[1] != self.n_in:
            raise ValueError(
                f"{name} has {X.shape[1]} features but the first layer "
                f"({self.layers[0]._describe()}) expects {self.n_in}"
            )
        return X

    def _check_Y(self, Y: Any, n_samples: int) -> np.ndarray:
        Y = check_float_array(Y, "Y", ndim=2, dtype=self.dtype)
        if Y.shape[0] != n_samples:
            raise ValueError(f"X and Y must have the same number of samples, got {n_samples} and {Y.shape[0]}")
        if Y.shape[1] != self.n_out:
            raise ValueError(
                f"Y has {Y.shape[1]} features but the last layer "
                f"({self.layers[-1]._describe()}) outputs {self.n_out}"
            )
        return Y

    def _require_initialized(self) -> None:
        if not self.initialized:
            raise RuntimeError("the network has no weights yet; call train() or initialize() first")

    # ---------------------------------------------------------------- forward
    def _forward(self, X: np.ndarray, keep_cache: bool) -> Tuple[np.ndarray, List[Any], List[bool], Any]:
        """Run every layer. Returns the dense output, the caches, which layers
        received a densified code, and the final code when the last layer is sparse."""
        caches: List[Any] = []
        densified: List[bool] = []
        out: Any = X
        for layer in self.layers:
            was_code = _is_code(out)
            if isinstance(layer, KSparseLayer) and was_code:
                out = codes_to_dense(out[0], out[1], layer.n_in)
                densified.append(True)
            else:
                densified.append(False)
            out, cache = layer._forward(out, self.n_threads, keep_cache)
            caches.append(cache)
        final_code = None
        if _is_code(out):
            final_code = out
            out = codes_to_dense(out[0], out[1], self.n_out)
        return out, caches, densified, final_code

    def predict(self, X: Any) -> np.ndarray:
        """Network output for ``X``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_in)
            Input, converted to the network's dtype.

        Returns
        -------
        out : ndarray of shape (n_samples, n_out)
            The output, in the network's dtype.

        Raises
        ------
        RuntimeError
            Before the network has weights.
        ValueError
            When X has the wrong shape or holds NaN or infinity.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
        >>> net.predict(X).shape
        (32, 6)
        """
        self._require_initialized()
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.n_out), dtype=self.dtype)
        with blas_threads(self.n_threads):
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                stop = min(start + _PREDICT_CHUNK, X.shape[0])
                out[start:stop] = self._forward(X[start:stop], keep_cache=False)[0]
        return out

    def loss(self, X: Any, Y: Any) -> float:
        """Mean squared error of ``predict(X)`` against ``Y`` (mean over every element).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_in)
            Input.
        Y : array_like of shape (n_samples, n_out)
            Targets (``Y = X`` for an autoencoder).

        Returns
        -------
        loss : float
            ``mean((predict(X) - Y) ** 2)``.

        Raises
        ------
        RuntimeError
            Before the network has weights.
        ValueError
            When X or Y has the wrong shape.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
        >>> bool(np.isclose(net.loss(X, X), np.mean((net.predict(X) - X) ** 2)))
        True
        """
        self._require_initialized()
        X = self._check_X(X)
        Y = self._check_Y(Y, X.shape[0])
        total = 0.0
        with blas_threads(self.n_threads):
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                stop = min(start + _PREDICT_CHUNK, X.shape[0])
                diff = self._forward(X[start:stop], keep_cache=False)[0] - Y[start:stop]
                total += float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
        return total / Y.size

    # --------------------------------------------------------------- training
    def loss_and_gradients(self, X: Any, Y: Any) -> Tuple[float, Dict[str, np.ndarray]]:
        """MSE on ``(X, Y)`` and its gradient with respect to every parameter.

        One forward and backward pass over all of ``X`` as a single batch, exactly
        as :meth:`train` does per batch (useful for gradient checks and custom loops).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_in)
            Input, one batch.
        Y : array_like of shape (n_samples, n_out)
            Targets.

        Returns
        -------
        loss : float
            Mean squared error over every element.
        grads : dict of str to ndarray
            ``"layers.{i}.W"`` and ``"layers.{i}.b"``, shaped like the parameters.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)]).initialize(0)
        >>> loss, grads = net.loss_and_gradients(X, X)
        >>> sorted(grads)
        ['layers.0.W', 'layers.0.b', 'layers.1.W', 'layers.1.b']
        >>> bool(np.isclose(loss, net.loss(X, X)))
        True
        """
        self._require_initialized()
        X = self._check_X(X)
        Y = self._check_Y(Y, X.shape[0])
        _, grads = self._params_and_grads()
        with blas_threads(self.n_threads):
            loss = self._loss_and_grads(X, Y, grads)
        return loss, grads

    def _loss_and_grads(
        self,
        Xb: np.ndarray,
        Yb: np.ndarray,
        grads: Dict[str, np.ndarray],
        rows: Optional[Dict[str, np.ndarray]] = None,
    ) -> float:
        """Forward and backward on one batch; fills ``grads`` in place, returns the MSE.

        With ``rows`` (a dict, for a lazy optimizer), the gradients of the
        parameters indexed by a sparse code are written only on the rows the
        batch selected, and those rows are recorded in ``rows``.
        """
        out, caches, densified, final_code = self._forward(Xb, keep_cache=True)
        diff = out - Yb
        loss = float(np.einsum("ij,ij->", diff, diff, dtype=np.float64)) / diff.size
        if not math.isfinite(loss):
            return loss  # diverged: the caller reports it; no backward pass on non-finite values
        G = diff
        G *= self.dtype.type(2.0 / diff.size)
        if final_code is not None:
            G = np.take_along_axis(G, final_code[0], axis=1)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            G = layer._backward(
                caches[i], G, grads[f"layers.{i}.W"], grads[f"layers.{i}.b"], i > 0, self.n_threads,
                rows, f"layers.{i}",
            )
            if i > 0 and densified[i]:
                # layer i got the previous layer's code as a dense array: take the gradient
                # at the selected entries only
                prev_indices = caches[i - 1][1]
                G = np.take_along_axis(G, prev_indices, axis=1)
        return loss

    def train(
        self,
        X: Any,
        Y: Any,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: Any = "sparse_adam",
        learning_rate: Optional[float] = None,
        optimizer_params: Optional[Dict[str, Any]] = None,
        lr_schedule: str = "cosine",
        warmup_fraction: float = 0.05,
        random_state: Any = None,
        verbose: bool = False,
        callback: Optional[Callable[["Network", int], Any]] = None,
        resume: bool = False,
    ) -> Dict[str, List[Any]]:
        """Train on the mean squared error between ``predict(X)`` and ``Y``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_in)
            Training input.
        Y : array_like of shape (n_samples, n_out)
            Targets (``Y = X`` for an autoencoder).
        epochs : int, default 10
            Full shuffled passes over the data.
        batch_size : int, default 32
            Samples per optimizer step (the last batch of an epoch may be smaller;
            clipped to ``n_samples``).
        optimizer : str or ksparse.optim.Optimizer, default "sparse_adam"
            A name accepted by :func:`ksparse.optim.make_optimizer` ("adam",
            "sparse_adam", "sgd"...), or an optimizer object (used as is, its
            state kept). See the Notes for lazy ("sparse_*") optimizers.
        learning_rate : float, optional
            The base learning rate: 1e-2, or an optimizer object's own ``lr``.
        optimizer_params : dict, optional
            Further hyper-parameters for a named optimizer (e.g. ``{"beta1": 0.9}``).
        lr_schedule : {"constant", "warmup", "linear", "cosine"}, default "cosine"
            Learning-rate multiplier over the steps of this call
            (:func:`ksparse.schedules.make_schedule`; "linear" and "cosine" decay to 0).
        warmup_fraction : float, default 0.05
            Fraction of the steps spent in a linear warm-up (any schedule but
            "constant" without warm-up).
        random_state : int, numpy Generator or None
            Seeds the weights (when the network has none yet) and the shuffling.
        verbose : bool, default False
            Show a progress bar with the running loss.
        callback : callable, optional
            ``callback(network, epoch)`` after every epoch (e.g. to save a checkpoint);
            epochs count from 0, as in the estimator.
        resume : bool, default False
            Continue the run of a checkpoint restored with ``ksparse.load`` (or
            of an earlier ``train`` call that stopped at an epoch boundary) until
            ``epochs`` epochs of that run are done; see the Notes.

        Returns
        -------
        dict of lists
            :attr:`history_`, one entry per epoch since the weights were initialised.

        Raises
        ------
        ValueError
            Bad shapes, NaN/inf in the data, bad hyper-parameters.
        ksparse.DivergenceError
            When the loss becomes non-finite; the weights are restored to the
            start of that epoch.

        Notes
        -----
        The defaults of ``batch_size``, ``optimizer``, ``learning_rate``,
        ``lr_schedule`` and ``warmup_fraction`` are the estimator's
        (:class:`ksparse.KSparseAutoencoder`).

        A lazy optimizer gets, for the weights indexed by a sparse code (the
        k-sparse layer's ``W`` and ``b``, the next dense layer's ``W``), only the
        rows the batch selected: other rows and their optimizer state stay untouched.

        With ``resume=True`` the saved optimizer state and random generator are
        reused, and ``batch_size``, ``optimizer``, ``learning_rate``,
        ``optimizer_params``, ``lr_schedule`` and ``warmup_fraction`` must equal
        those of the run.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
        >>> X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
        >>> net = Network([KSparseLayer(6, 8, k=2), DenseLayer(8, 6)])
        >>> history = net.train(X, X, epochs=2, batch_size=8, random_state=0)
        >>> history["epoch"], net.epoch_, net.n_steps_
        ([0, 1], 2, 8)
        """
        epochs = check_int(epochs, "epochs", 1)
        batch_size = check_int(batch_size, "batch_size", 1)
        if isinstance(optimizer, Optimizer):
            if optimizer_params:
                raise ValueError("optimizer_params go with an optimizer name; configure the optimizer object itself")
            if learning_rate is None:
                learning_rate = optimizer.lr
        elif not isinstance(optimizer, str):
            raise TypeError(
                f"optimizer must be a name such as 'adam' or a ksparse.optim optimizer, got {type(optimizer).__name__}")
        learning_rate = check_real(1e-2 if learning_rate is None else learning_rate, "learning_rate", 0.0, lo_open=True)
        optimizer_params = dict(optimizer_params or {})
        if isinstance(warmup_fraction, (bool, np.bool_)) or not isinstance(warmup_fraction, numbers.Real):
            raise TypeError(f"warmup_fraction must be a number in [0, 1), got {warmup_fraction!r}")
        warmup_fraction = float(warmup_fraction)
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction={warmup_fraction} must be in [0, 1)")
        X = self._check_X(X)
        Y = self._check_Y(Y, X.shape[0])
        batches = ArrayBatches((X, Y), batch_size)
        run: Dict[str, Any] = {
            "optimizer": optimizer.name if isinstance(optimizer, Optimizer) else optimizer,
            "learning_rate": learning_rate,
            "optimizer_params": {k: _json_scalar(v) for k, v in optimizer_params.items()},
            "batch_size": batches.batch_size,
            "epochs": epochs,
            "lr_schedule": lr_schedule,
            "warmup_fraction": warmup_fraction,
        }
        total_steps = epochs * batches.steps_per_epoch
        schedule = engine_lr_schedule(lr_schedule, total_steps, int(round(warmup_fraction * total_steps)))

        if resume:
            if self._run is None or self._rng is None or self.optimizer_ is None:
                raise ValueError(
                    "resume=True needs a network restored from a checkpoint "
                    "(ksparse.save(net, path, checkpoint=True)); this one has no saved run"
                )
            if self._in_epoch:
                raise ValueError(
                    "the previous run stopped in the middle of an epoch; "
                    "resume from a checkpoint saved at the end of an epoch"
                )
            for key in ("optimizer", "learning_rate", "optimizer_params", "batch_size", "lr_schedule", "warmup_fraction"):
                if run[key] != self._run[key]:
                    raise ValueError(
                        f"resume=True continues the saved run, which used {key}={self._run[key]!r}; "
                        f"got {key}={run[key]!r}"
                    )
            run["start_epoch"] = self._run["start_epoch"]
            run["start_step"] = self._run["start_step"]
            rng = self._rng
            opt = self.optimizer_
        else:
            rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
            if isinstance(optimizer, Optimizer):
                opt = optimizer
            else:
                opt = make_optimizer(optimizer, lr=learning_rate, n_threads=self.n_threads, **optimizer_params)
            if not self.initialized:
                self._initialize(rng)
                last = self.layers[-1]
                if isinstance(last, DenseLayer) and last.activation.name == "linear":
                    # start the output bias at the mean target
                    last.b[:] = Y.mean(axis=0, dtype=np.float64)
            run["start_epoch"] = self.epoch_
            run["start_step"] = self.n_steps_
            self.optimizer_ = opt
            self._rng = rng
        self._run = run
        if self.history_ is None:
            self.history_ = {}
        params, grads = self._params_and_grads()
        rows: Optional[Dict[str, np.ndarray]] = {} if getattr(opt, "lazy", False) else None

        def step(batch: Tuple[np.ndarray, ...], step_no: int, lr: float) -> Tuple[float, Dict[str, float]]:
            self._in_epoch = True
            if rows is not None:
                rows.clear()
            try:
                loss = self._loss_and_grads(batch[0], batch[1], grads, rows)
            except FloatingPointError:  # non-finite activations before a top-k: the weights diverged
                return math.nan, {}
            if math.isfinite(loss):
                opt.lr = lr
                opt.step(params, grads, rows=rows)
            return loss, {}

        def on_epoch_end(epoch: int, figures: Dict[str, Any]) -> None:
            self._in_epoch = False

        def spoiled() -> None:
            self._in_epoch = False
            self._run = None  # the optimizer state is spoiled: this run cannot be resumed

        position = self._position
        with blas_threads(self.n_threads):
            run_epochs(batches, step, params=params, position=position, rng=rng,
                       end_epoch=run["start_epoch"] + epochs, history=self.history_, learning_rate=learning_rate,
                       lr_at=lambda step_no: schedule(step_no - run["start_step"]), on_epoch_end=on_epoch_end,
                       on_divergence=spoiled, callback=callback, owner=self, verbose=verbose, desc="train")
        return self.history_

    @property
    def epoch_(self) -> int:
        """Epochs trained since the weights were initialised.

        Returns
        -------
        epoch : int
            Completed epochs, across ``train`` calls.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, Network
        >>> Network([DenseLayer(4, 2)]).initialize(0).epoch_
        0
        """
        return int(self._position["epoch"])

    @epoch_.setter
    def epoch_(self, value: int) -> None:
        self._position["epoch"] = int(value)

    @property
    def n_steps_(self) -> int:
        """Optimizer steps taken since the weights were initialised.

        Returns
        -------
        n_steps : int
            Steps taken, across ``train`` calls.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, Network
        >>> Network([DenseLayer(4, 2)]).initialize(0).n_steps_
        0
        """
        return int(self._position["step"])

    @n_steps_.setter
    def n_steps_(self, value: int) -> None:
        self._position["step"] = int(value)

    # ------------------------------------------------------------ persistence
    def get_config(self) -> Dict[str, Any]:
        """Constructor parameters as a JSON-able dict.

        Returns
        -------
        config : dict
            ``layers`` (each layer's :meth:`KSparseLayer.get_config`), ``dtype``
            and ``n_threads``.

        Examples
        --------
        >>> from ksparse.layers import DenseLayer, Network
        >>> cfg = Network([DenseLayer(4, 2)], dtype="float64").get_config()
        >>> cfg["dtype"], len(cfg["layers"])
        ('float64', 1)
        """
        return {
            "layers": [layer.get_config() for layer in self.layers],
            "dtype": self.dtype.name,
            "n_threads": self.n_threads,
        }

    def _get_state(self, include_optimizer: bool) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """Arrays and JSON-able metadata describing the network (persistence protocol).

        Parameters
        ----------
        include_optimizer : bool
            Also store the optimizer state, the random generator and the
            position in training (a checkpoint that ``train(resume=True)`` continues).

        Returns
        -------
        arrays : dict of str to ndarray
            ``"layers.{i}.W"``, ``"layers.{i}.b"`` and, with the optimizer,
            ``"optim.{key}"`` entries.
        meta : dict
            ``"class": "Network"``, ``"params"``, ``"attributes"`` and, with the
            optimizer, ``"training"``.
        """
        arrays: Dict[str, np.ndarray] = {}
        if self.initialized:
            for i, layer in enumerate(self.layers):
                arrays[f"layers.{i}.W"] = layer.W
                arrays[f"layers.{i}.b"] = layer.b
        history = None
        if self.history_ is not None:
            history = {k: [_json_scalar(v) for v in vals] for k, vals in self.history_.items()}
        meta: Dict[str, Any] = {
            "class": "Network",
            "params": self.get_config(),
            "attributes": {
                "initialized": self.initialized,
                "history_": history,
                "epoch_": self.epoch_,
                "n_steps_": self.n_steps_,
            },
        }
        if include_optimizer:
            if self._in_epoch:
                raise RuntimeError(
                    "cannot checkpoint in the middle of an epoch; save from the train() callback"
                )
            opt = self.optimizer_
            training, optim_arrays = training_state(
                self._position, self._rng, None if opt is None else opt.name,
                {} if opt is None else opt.state_dict())
            training["run"] = dict(self._run) if self._run is not None else None
            arrays.update(optim_arrays)
            meta["training"] = training
        return arrays, meta

    @classmethod
    def _from_state(cls, arrays: Dict[str, np.ndarray], meta: Dict[str, Any]) -> "Network":
        """Rebuild a network from :meth:`_get_state` output (persistence protocol)."""
        if meta.get("class") != "Network":
            raise ValueError(f"state describes a {meta.get('class')!r}, not a 'Network'")
        params = meta["params"]
        layers = [_layer_from_config(cfg) for cfg in params["layers"]]
        net = cls(layers, dtype=params["dtype"], n_threads=params.get("n_threads", 1))
        attrs = meta.get("attributes", {})
        if attrs.get("initialized"):
            for i, layer in enumerate(net.layers):
                try:
                    W, b = arrays[f"layers.{i}.W"], arrays[f"layers.{i}.b"]
                except KeyError as exc:
                    raise ValueError(f"state is missing the array {exc.args[0]!r}") from None
                if np.asarray(W).dtype != net.dtype or np.asarray(b).dtype != net.dtype:
                    raise ValueError(
                        f"layers.{i} arrays have dtype {np.asarray(W).dtype}, expected {net.dtype}"
                    )
                if not (np.isfinite(W).all() and np.isfinite(b).all()):
                    raise ValueError(f"layers.{i} weights hold NaN or infinity")
                layer._set_weights(W, b, net.dtype, f"layers.{i}")
        history = attrs.get("history_")
        net.history_ = check_history(history) if history is not None else None
        for key in ("epoch_", "n_steps_"):
            value = attrs.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"attribute {key}={value!r} must be an integer >= 0")
        net.epoch_ = attrs.get("epoch_", 0)
        net.n_steps_ = attrs.get("n_steps_", 0)
        known = {f"layers.{i}.{w}" for i in range(len(net.layers)) for w in "Wb"}
        training = meta.get("training")
        extra = sorted(k for k in arrays if k not in known and not (training is not None and k.startswith("optim.")))
        if extra:
            raise ValueError(f"unexpected tensors {extra}")
        if training is not None:
            if not isinstance(training, dict):
                raise ValueError("the checkpoint's 'training' metadata is not an object")
            if "state" not in training:  # the layout of ksparse 0.1's network checkpoints
                training = _training_from_v01(training)
            position, rng, opt_name, state = read_training_state(training, arrays)
            net._position.update(position)
            net._rng = rng
            run = training.get("run")
            if run is not None:
                net._run = _check_run(run)
                opt = make_optimizer(
                    run["optimizer"], lr=run["learning_rate"], n_threads=net.n_threads, **run["optimizer_params"]
                )
                if opt_name is not None and opt_name != opt.name:
                    raise ValueError(f"the checkpoint's optimizer state is for {opt_name!r}, not {opt.name!r}")
                if state:
                    opt.load_state_dict(state)
                    opt.check_state(net._params_and_grads()[0])
                net.optimizer_ = opt
        return net
