"""Elementwise activation functions with their exact derivatives.

Every activation is an :class:`Activation` object with

* ``name`` -- the registry name (``"relu"``, ``"gelu"`` ...);
* ``params`` -- a dict of its hyper-parameters (``{"alpha": 0.01}`` for leaky ReLU);
* ``forward(Z, out=None)`` -- ``A = f(Z)``, written into ``out`` when given
  (``out=Z`` evaluates in place);
* ``derivative(Z, A=None)`` -- the elementwise derivative ``f'(Z)``; some
  activations can reuse the outputs ``A = f(Z)`` of the forward pass.

All functions keep the floating dtype of their input (float32 stays float32,
float64 stays float64; integer and boolean input is computed in float64) and are
written so that no floating-point overflow happens for any finite input: the
sigmoid, tanh, swish and ELU use ``exp(-|z|)`` forms, GELU clips the argument of
its Gaussian density.

The GELU is the exact one, ``z * Phi(z)`` with the standard normal CDF
``Phi(z) = erfc(-z / sqrt(2)) / 2`` evaluated by :func:`scipy.special.erfc`
(``erfc`` rather than ``1 + erf`` keeps full relative accuracy in the negative
tail), not the tanh approximation.

At the kinks of ReLU, leaky ReLU and ELU (``z == 0``) the derivative is the
left-hand one: 0 for ReLU, ``alpha`` for leaky ReLU and ELU.

These functions are used at the boundary and on the ``B x k`` selected entries
of a sparse layer, so they are plain numpy.

Examples
--------
>>> import numpy as np
>>> from ksparse.activations import get_activation
>>> act = get_activation("leaky_relu", alpha=0.1)
>>> act.forward(np.array([-2.0, 0.0, 3.0]))
array([-0.2,  0. ,  3. ])
>>> act.derivative(np.array([-2.0, 0.0, 3.0]))
array([0.1, 0.1, 1. ])
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Type, Union

import numpy as np
from scipy.special import erfc

__all__ = [
    "Activation",
    "Linear",
    "Sigmoid",
    "ReLU",
    "Tanh",
    "LeakyReLU",
    "ELU",
    "Swish",
    "GELU",
    "get_activation",
    "ACTIVATIONS",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_float(Z: Any, name: str = "Z") -> np.ndarray:
    """Return ``Z`` as a float32/float64 array (no copy when it already is one)."""
    arr = np.asarray(Z)
    if arr.dtype in _FLOAT_DTYPES:
        return arr
    if arr.dtype.kind not in "iub" and arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64)


def _prepare_out(out: Optional[np.ndarray], Z: np.ndarray) -> np.ndarray:
    """Check a caller-supplied output array, or allocate one like ``Z``."""
    if out is None:
        return np.empty(Z.shape, dtype=Z.dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != Z.shape or out.dtype != Z.dtype:
        raise ValueError(
            f"out must have the shape and dtype of Z, {Z.shape} {Z.dtype}, "
            f"got {out.shape} {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    return out


def _check_alpha(alpha: Any, name: str) -> float:
    from ksparse._validation import check_real

    return check_real(alpha, f"{name}: alpha", 0.0)


class Activation:
    """Base class of the elementwise activations.

    Subclasses implement ``_forward(Z, out)`` and ``_derivative(Z, A)`` on
    float arrays; the public :meth:`forward` and :meth:`derivative` coerce and
    check their arguments first.

    Attributes
    ----------
    name : str
        The registry name, accepted by :func:`get_activation`.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.activations import Activation
    >>> class Square(Activation):
    ...     name = "square"
    ...     def _forward(self, Z, out):
    ...         np.multiply(Z, Z, out=out)
    ...     def _derivative(self, Z, A):
    ...         return 2 * Z
    >>> Square().forward([1.0, -2.0]), Square().derivative([3.0])
    (array([1., 4.]), array([6.]))
    """

    name: str = ""
    #: True when :meth:`derivative` uses the outputs ``A`` when they are given.
    uses_output: bool = False
    #: True for a non-decreasing activation: the k largest activations are then the
    #: activations of the k largest pre-activations (ksparse._model_ops.select).
    monotone: bool = False

    @property
    def params(self) -> Dict[str, float]:
        """Hyper-parameters of the activation (a new dict; empty for most).

        Returns
        -------
        params : dict of str to float
            ``{"alpha": ...}`` for LeakyReLU and ELU, else empty.

        Examples
        --------
        >>> from ksparse.activations import ReLU
        >>> ReLU().params
        {}
        """
        return {}

    def forward(self, Z: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Evaluate the activation elementwise.

        Parameters
        ----------
        Z : array_like
            Pre-activations, any shape. float32 and float64 keep their dtype.
        out : numpy.ndarray, optional
            Array of the same shape and dtype as ``Z`` to write the result into
            (modified in place; ``out=Z`` evaluates in place).

        Returns
        -------
        numpy.ndarray
            ``f(Z)`` (``out`` when it was given).

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.activations import ReLU
        >>> Z = np.array([-1.0, 0.5], dtype=np.float32)
        >>> ReLU().forward(Z)
        array([0. , 0.5], dtype=float32)
        >>> _ = ReLU().forward(Z, out=Z)  # in place
        >>> Z
        array([0. , 0.5], dtype=float32)
        """
        Z = _as_float(Z)
        out = _prepare_out(out, Z)
        self._forward(Z, out)
        return out

    __call__ = forward

    def derivative(self, Z: Any, A: Optional[Any] = None) -> np.ndarray:
        """Elementwise derivative ``dA/dZ`` evaluated at the pre-activations.

        Parameters
        ----------
        Z : array_like
            Pre-activations.
        A : array_like, optional
            The outputs ``f(Z)`` of the forward pass, same shape. Sigmoid, tanh,
            ELU and swish (:attr:`uses_output`) compute the derivative from them,
            exact up to the rounding of ``A``; the others only check the shape.

        Returns
        -------
        numpy.ndarray
            ``f'(Z)``, a new array with the dtype of ``Z``.

        Raises
        ------
        ValueError
            When ``A`` does not have the shape of ``Z``.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.activations import Sigmoid
        >>> Z = np.array([0.0, 2.0])
        >>> act = Sigmoid()
        >>> np.allclose(act.derivative(Z), act.derivative(Z, act.forward(Z)))
        True
        >>> act.derivative([0.0])
        array([0.25])
        """
        Z = _as_float(Z)
        if A is not None:
            A = np.asarray(A)
            if A.shape != Z.shape:
                raise ValueError(f"A must have the shape of Z, {Z.shape}, got {A.shape}")
            A = A.astype(Z.dtype, copy=False)
        return np.asarray(self._derivative(Z, A), dtype=Z.dtype)

    def get_config(self) -> Dict[str, Any]:
        """Return a JSON-able description, ``{"name": ..., **params}``.

        ``get_activation(act.get_config())`` rebuilds an equal activation.

        Returns
        -------
        config : dict
            ``{"name": ..., **params}``.

        Examples
        --------
        >>> from ksparse.activations import LeakyReLU, get_activation
        >>> LeakyReLU(0.1).get_config()
        {'name': 'leaky_relu', 'alpha': 0.1}
        >>> get_activation(LeakyReLU(0.1).get_config()) == LeakyReLU(0.1)
        True
        """
        return {"name": self.name, **self.params}

    # subclasses
    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Activation):
            return NotImplemented
        return type(self) is type(other) and self.params == other.params

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.params.items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class Linear(Activation):
    """The identity, ``f(z) = z``; ``f'(z) = 1``.

    Takes no parameters.

    Examples
    --------
    >>> from ksparse.activations import Linear
    >>> Linear()([-1.0, 2.0])
    array([-1.,  2.])
    """

    name = "linear"
    monotone = True

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        if out is not Z:
            np.copyto(out, Z)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        return np.ones_like(Z)


def _stable_sigmoid(Z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Logistic sigmoid without overflow: ``1/(1+e)`` or ``e/(1+e)``, ``e = exp(-|z|)``."""
    e = np.exp(-np.abs(Z))
    num = np.where(Z >= 0, np.ones_like(e), e)
    e += 1
    return np.divide(num, e, out=out)


class Sigmoid(Activation):
    """Logistic sigmoid, ``f(z) = 1 / (1 + exp(-z))``; ``f'(z) = f(z) (1 - f(z))``.

    Evaluated from ``exp(-|z|)``, so large ``|z|`` neither overflows nor warns.
    Takes no parameters.

    Examples
    --------
    >>> from ksparse.activations import Sigmoid
    >>> Sigmoid()([0.0, -1000.0])
    array([0.5, 0. ])
    """

    name = "sigmoid"
    monotone = True
    uses_output = True

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        _stable_sigmoid(Z, out)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        if A is not None:
            return A * (1 - A)
        # e / (1 + e)^2 with e = exp(-|z|): symmetric and exact in both tails
        e = np.exp(-np.abs(Z))
        d = 1 + e
        return e / (d * d)


class ReLU(Activation):
    """Rectified linear unit, ``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0``.

    Takes no parameters.

    Examples
    --------
    >>> from ksparse.activations import ReLU
    >>> ReLU()([-2.0, 3.0]), ReLU().derivative([-2.0, 3.0])
    (array([0., 3.]), array([0., 1.]))
    """

    name = "relu"
    monotone = True

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        np.maximum(Z, 0, out=out)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        return (Z > 0).astype(Z.dtype)


class Tanh(Activation):
    """Hyperbolic tangent; ``f'(z) = 1 - tanh(z)^2``.

    Without ``A`` the derivative is evaluated as ``4 e / (1 + e)^2`` with
    ``e = exp(-2|z|)``, which keeps full relative accuracy for large ``|z|``.
    Takes no parameters.

    Examples
    --------
    >>> from ksparse.activations import Tanh
    >>> Tanh()([0.0]), Tanh().derivative([0.0])
    (array([0.]), array([1.]))
    """

    name = "tanh"
    monotone = True
    uses_output = True

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        np.tanh(Z, out=out)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        if A is not None:
            return 1 - A * A
        e = np.exp(-np.abs(Z))
        e *= e  # exp(-2|z|) without forming 2|z|, which can overflow
        d = 1 + e
        return 4 * e / (d * d)


class LeakyReLU(Activation):
    """Leaky ReLU, ``f(z) = z if z > 0 else alpha z``; ``f'(z) = 1 if z > 0 else alpha``.

    Parameters
    ----------
    alpha : float, default 0.01
        Slope for negative inputs, finite and ``>= 0``.

    Examples
    --------
    >>> from ksparse.activations import LeakyReLU
    >>> LeakyReLU(alpha=0.1)([-2.0, 3.0])
    array([-0.2,  3. ])
    """

    name = "leaky_relu"
    monotone = True

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = _check_alpha(alpha, "leaky_relu")

    @property
    def params(self) -> Dict[str, float]:
        """The hyper-parameters, ``{"alpha": alpha}``.

        Returns
        -------
        params : dict of str to float
            A new dict.

        Examples
        --------
        >>> from ksparse.activations import LeakyReLU
        >>> LeakyReLU(0.2).params
        {'alpha': 0.2}
        """
        return {"alpha": self.alpha}

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        pos = Z > 0
        np.multiply(Z, Z.dtype.type(self.alpha), out=out, where=~pos)
        if out is not Z:
            np.copyto(out, Z, where=pos)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        return np.where(Z > 0, Z.dtype.type(1), Z.dtype.type(self.alpha))


class ELU(Activation):
    """Exponential linear unit, ``f(z) = z if z > 0 else alpha (exp(z) - 1)``.

    ``f'(z) = 1 if z > 0 else alpha exp(z)`` (``= f(z) + alpha`` there, which is
    what is used when ``A`` is given). The exponential is taken of
    ``min(z, 0)`` only, so large positive inputs do not overflow.

    Parameters
    ----------
    alpha : float, default 1.0
        Scale of the negative part, finite and ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.activations import ELU
    >>> np.round(ELU()([-1.0, 2.0]), 4)
    array([-0.6321,  2.    ])
    """

    name = "elu"
    monotone = True
    uses_output = True

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = _check_alpha(alpha, "elu")

    @property
    def params(self) -> Dict[str, float]:
        """The hyper-parameters, ``{"alpha": alpha}``.

        Returns
        -------
        params : dict of str to float
            A new dict.

        Examples
        --------
        >>> from ksparse.activations import ELU
        >>> ELU().params
        {'alpha': 1.0}
        """
        return {"alpha": self.alpha}

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        pos = Z > 0
        neg = np.expm1(np.minimum(Z, 0))
        neg *= Z.dtype.type(self.alpha)
        np.copyto(out, np.where(pos, Z, neg))

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        alpha = Z.dtype.type(self.alpha)
        if A is not None:
            neg = A + alpha
        else:
            neg = alpha * np.exp(np.minimum(Z, 0))
        return np.where(Z > 0, Z.dtype.type(1), neg)


class Swish(Activation):
    """Swish / SiLU, ``f(z) = z sigmoid(z)``.

    ``f'(z) = s + z s (1 - s)`` with ``s = sigmoid(z)``, written
    ``f(z) + s (1 - f(z))`` when ``A`` is given. Takes no parameters.

    Examples
    --------
    >>> from ksparse.activations import Swish
    >>> Swish()([0.0]), Swish().derivative([0.0])
    (array([0.]), array([0.5]))
    """

    name = "swish"
    uses_output = True

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        s = _stable_sigmoid(Z, np.empty_like(Z))
        np.multiply(Z, s, out=out)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        s = _stable_sigmoid(Z, np.empty_like(Z))
        if A is not None:
            return A + s * (1 - A)
        return s + Z * s * (1 - s)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: beyond this |z| the Gaussian density exp(-z^2 / 2) underflows to 0 in float64
_GELU_CLIP = 40.0


class GELU(Activation):
    """Exact Gaussian error linear unit, ``f(z) = z Phi(z)``.

    ``Phi(z) = erfc(-z / sqrt(2)) / 2`` is the standard normal CDF, evaluated by
    :func:`scipy.special.erfc` (exact form, not the tanh approximation).
    ``f'(z) = Phi(z) + z phi(z)`` with the density
    ``phi(z) = exp(-z^2 / 2) / sqrt(2 pi)``, evaluated on ``z`` clipped to
    ``[-40, 40]`` (outside, ``phi`` underflows to 0 anyway) so ``z^2`` cannot overflow.
    Takes no parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.activations import GELU
    >>> np.round(GELU()([-1.0, 0.0, 1.0]), 4)
    array([-0.1587,  0.    ,  0.8413])
    """

    name = "gelu"

    def _forward(self, Z: np.ndarray, out: np.ndarray) -> None:
        cdf = erfc(Z * Z.dtype.type(-_SQRT_HALF))
        cdf *= Z.dtype.type(0.5)
        np.multiply(Z, cdf, out=out)

    def _derivative(self, Z: np.ndarray, A: Optional[np.ndarray]) -> np.ndarray:
        t = Z.dtype.type
        cdf = erfc(Z * t(-_SQRT_HALF)) * t(0.5)
        zc = np.clip(Z, -_GELU_CLIP, _GELU_CLIP)
        pdf = np.exp(zc * zc * t(-0.5)) * t(_INV_SQRT_2PI)
        return cdf + zc * pdf


#: name -> class of every known activation.
ACTIVATIONS: Dict[str, Type[Activation]] = {
    cls.name: cls for cls in (Linear, Sigmoid, ReLU, Tanh, LeakyReLU, ELU, Swish, GELU)
}


def get_activation(
    name_or_instance: Union[str, Activation, Mapping[str, Any]], **params: Any
) -> Activation:
    """Return an :class:`Activation` from its name, a config dict, or an instance.

    Parameters
    ----------
    name_or_instance : str, dict or Activation
        A name of :data:`ACTIVATIONS` (case-insensitive, ``-`` for ``_``), a
        dict ``{"name": ..., **params}`` as :meth:`Activation.get_config` makes,
        or an ``Activation``, returned unchanged.
    **params
        Hyper-parameters for the named activation, e.g. ``alpha=0.1`` for
        ``"leaky_relu"`` and ``"elu"``.

    Returns
    -------
    activation : Activation
        A new activation (or ``name_or_instance`` itself).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or parameters
        the activation does not take.
    TypeError
        For an argument of another type, or parameters given with an instance.

    Examples
    --------
    >>> from ksparse.activations import get_activation
    >>> get_activation("Leaky-ReLU", alpha=0.2)
    LeakyReLU(alpha=0.2)
    >>> get_activation({"name": "elu", "alpha": 0.5})
    ELU(alpha=0.5)
    """
    if isinstance(name_or_instance, Activation):
        if params:
            raise TypeError(
                f"parameters {sorted(params)} cannot be applied to an existing "
                f"{name_or_instance!r}; pass its name instead"
            )
        return name_or_instance
    if isinstance(name_or_instance, Mapping):
        config = dict(name_or_instance)
        if "name" not in config:
            raise ValueError(f"an activation config needs a 'name' key, got {config!r}")
        name = config.pop("name")
        overlap = set(config) & set(params)
        if overlap:
            raise TypeError(f"parameters {sorted(overlap)} given twice")
        return get_activation(name, **config, **params)
    if not isinstance(name_or_instance, str):
        raise TypeError(
            "activation must be a name, a config dict or an Activation, "
            f"got {type(name_or_instance).__name__}"
        )
    key = name_or_instance.strip().lower().replace("-", "_")
    if key not in ACTIVATIONS:
        known = ", ".join(repr(n) for n in ACTIVATIONS)
        raise ValueError(f"unknown activation {name_or_instance!r}; known activations are {known}")
    cls = ACTIVATIONS[key]
    try:
        return cls(**params)
    except TypeError:
        allowed = [p for p in ("alpha",) if p in cls().params]
        hint = f"it takes {allowed}" if allowed else "it takes no parameters"
        raise ValueError(
            f"activation {key!r} does not accept parameters {sorted(params)}; {hint}"
        ) from None
