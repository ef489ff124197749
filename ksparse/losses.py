"""Training losses of the k-sparse autoencoder, each with its exact gradient.

Every loss works on a :class:`StepContext` (the forward pass of one mini-batch) and
adds its gradient, scaled by a weight, into a :class:`Gradients` buffer:

* :class:`MSELoss` -- mean squared reconstruction error ``mean((Xh - X)**2)``; its
  gradient is with respect to the reconstruction ``Xh`` (``grads.G``), which the
  training step then sends back through the decoder and the encoder.
* :class:`AuxKLoss` -- the auxiliary loss of Gao et al. (2024): the ``k_aux`` dead
  units with the largest activations reconstruct the residual ``X - Xh`` of the main
  code (the residual is a fixed target, as in the paper); normalised by the residual's
  variance. Its gradient reaches the dead units' encoder and decoder rows.
* :class:`DiversityLoss` -- a decorrelation penalty on the decoder rows, the mean
  squared off-diagonal entry of ``W_dec @ W_dec.T`` (squared cosines when the rows
  have unit norm), which pushes the dictionary atoms apart.
* :class:`CombinedLoss` -- a weighted sum of the above.

The value a loss returns is exactly the function whose gradient it adds, so a
finite-difference check of ``value`` against the added gradient must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ksparse import _model_ops as ops

#: AuxK needs residuals that vary across the batch: sum((e - mean e)**2) > this * sum(e**2)
#: (AuxKLoss here; training.FusedStep passes it to the compiled step)
_AUXK_MIN_SPREAD = 1e-6

__all__ = [
    "StepContext",
    "Gradients",
    "Loss",
    "MSELoss",
    "AuxKLoss",
    "DiversityLoss",
    "CombinedLoss",
]


@dataclass
class StepContext:
    """The forward pass of one mini-batch, as seen by the losses.

    Attributes
    ----------
    X : ndarray (B, n)
        The input batch.
    Xc : ndarray (B, n)
        ``X - b_dec`` (the input after the pre-encoder bias).
    Z : ndarray (B, m)
        Encoder pre-activations ``Xc @ W_enc.T + b_enc``.
    indices, values : ndarray (B, k)
        The sparse code of the batch.
    Xh : ndarray (B, n)
        The reconstruction ``b_dec + sum_j values[:, j] * W_dec[indices[:, j]]``, clipped
        to the output bounds when the model has them.
    params : dict
        ``W_enc, b_enc, W_dec, b_dec``.
    activation : object
        The activation (``forward``, ``derivative``, ``name``).
    selection : str
        ``"value"`` or ``"abs"``.
    dead : ndarray of bool (m,) or None
        Units counted as dead (used by :class:`AuxKLoss`).
    n_threads : int
        Threads of the compiled kernels the losses call.
    clip_inside : ndarray of bool (B, n) or None
        Where the output clip is not active; None when the output is not clipped.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.losses import Gradients, StepContext
    >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
    >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
    ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
    >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
    >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
    >>> ctx.Z.shape
    (2, 4)
    """

    X: np.ndarray
    Xc: np.ndarray
    Z: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    Xh: np.ndarray
    params: dict
    activation: Any
    selection: str = "value"
    dead: Optional[np.ndarray] = None
    n_threads: int = 1
    #: boolean (B, n): where the output clip is not active (the clip's derivative is 1
    #: there and 0 elsewhere); None when the output is not clipped. The training step
    #: multiplies ``grads.G`` by it after the losses have run.
    clip_inside: Optional[np.ndarray] = None


@dataclass
class Gradients:
    """Gradient buffers: ``G`` is dLoss/dXh, the others dLoss/dparameter.

    Attributes
    ----------
    G : ndarray (B, n)
        Gradient with respect to the reconstruction ``Xh``.
    W_enc, b_enc, W_dec, b_dec : ndarray
        Gradients with respect to the parameters, shaped like them.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.losses import Gradients, StepContext
    >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
    >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
    ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
    >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
    >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
    >>> grads = Gradients.zeros_like(ctx)
    >>> grads.G.shape, grads.W_dec.shape
    ((2, 3), (4, 3))
    """

    G: np.ndarray
    W_enc: np.ndarray
    b_enc: np.ndarray
    W_dec: np.ndarray
    b_dec: np.ndarray

    @classmethod
    def zeros_like(cls, ctx: StepContext) -> "Gradients":
        """Zero buffers shaped like the context's batch and parameters.

        Parameters
        ----------
        ctx : StepContext
            The batch (``ctx.X``) and parameters (``ctx.params``) to match.

        Returns
        -------
        grads : Gradients
            New zero arrays, in the parameters' dtypes.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import Gradients, StepContext
        >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
        >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
        >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
        >>> float(Gradients.zeros_like(ctx).b_dec.sum())
        0.0
        """
        p = ctx.params
        return cls(
            G=np.zeros_like(ctx.X),
            W_enc=np.zeros_like(p["W_enc"]),
            b_enc=np.zeros_like(p["b_enc"]),
            W_dec=np.zeros_like(p["W_dec"]),
            b_dec=np.zeros_like(p["b_dec"]),
        )

    def fill_zero(self) -> None:
        """Reset every buffer to zero in place.

        Returns
        -------
        None

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import Gradients, StepContext
        >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
        >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
        >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
        >>> grads = Gradients.zeros_like(ctx)
        >>> grads.G += 1.0
        >>> grads.fill_zero()
        >>> float(grads.G.sum())
        0.0
        """
        for a in (self.G, self.W_enc, self.b_enc, self.W_dec, self.b_dec):
            a.fill(0)


class Loss:
    """Base class: ``forward_backward(ctx, grads, weight)`` returns the value and adds ``weight * gradient``.

    Subclasses implement :meth:`forward_backward` and set ``name`` (the key of
    their value in :attr:`CombinedLoss.last_values`).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.losses import Gradients, StepContext
    >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
    >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
    ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
    >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
    >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
    >>> from ksparse.losses import Loss
    >>> class MeanAbs(Loss):
    ...     name = "mean_abs"
    ...     def forward_backward(self, ctx, grads, weight=1.0):
    ...         D = ctx.Xh - ctx.X
    ...         grads.G += weight * np.sign(D) / D.size
    ...         return float(np.abs(D).mean())
    >>> MeanAbs().value(ctx)
    1.0
    """

    name = "loss"

    def forward_backward(self, ctx: StepContext, grads: Gradients, weight: float = 1.0) -> float:
        """Return the loss value and add ``weight`` times its gradient into ``grads``.

        Parameters
        ----------
        ctx : StepContext
            The forward pass of the batch.
        grads : Gradients
            Buffers the weighted gradient is added to (not overwritten).
        weight : float, default 1.0
            Factor of the gradient; 0 computes the value alone.

        Returns
        -------
        value : float
            The loss of the batch (unweighted).

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import Gradients, StepContext
        >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
        >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
        >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
        >>> from ksparse.losses import MSELoss
        >>> grads = Gradients.zeros_like(ctx)
        >>> MSELoss().forward_backward(ctx, grads, weight=0.5)
        1.0
        """
        raise NotImplementedError

    def value(self, ctx: StepContext) -> float:
        """Return the loss value alone (no gradient).

        Parameters
        ----------
        ctx : StepContext
            The forward pass of the batch.

        Returns
        -------
        value : float
            The loss of the batch.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import Gradients, StepContext
        >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
        >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
        >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
        >>> from ksparse.losses import MSELoss
        >>> MSELoss().value(ctx)
        1.0
        """
        scratch = Gradients.zeros_like(ctx)
        return self.forward_backward(ctx, scratch, 0.0)

    @property
    def uses_code_gradient(self) -> bool:
        """True when the loss adds into ``grads.G`` (the reconstruction gradient).

        Returns
        -------
        flag : bool
            Whether the training step must send ``grads.G`` back through the model.

        Examples
        --------
        >>> from ksparse.losses import DiversityLoss, MSELoss
        >>> MSELoss().uses_code_gradient, DiversityLoss().uses_code_gradient
        (True, False)
        """
        return False


class MSELoss(Loss):
    """Mean squared reconstruction error ``mean((Xh - X)**2)`` over every element.

    Its gradient ``2 (Xh - X) / size`` goes into ``grads.G``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.losses import Gradients, StepContext
    >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
    >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
    ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
    >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
    >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
    >>> from ksparse.losses import MSELoss
    >>> grads = Gradients.zeros_like(ctx)
    >>> MSELoss().forward_backward(ctx, grads)
    1.0
    >>> round(float(grads.G[0, 0]), 4)
    -0.3333
    """

    name = "mse"

    def forward_backward(self, ctx: StepContext, grads: Gradients, weight: float = 1.0) -> float:
        """Return the MSE and add ``weight`` times its gradient into ``grads.G``.

        Parameters
        ----------
        ctx : StepContext
            The forward pass of the batch.
        grads : Gradients
            Buffers the weighted gradient is added to.
        weight : float, default 1.0
            Factor of the gradient.

        Returns
        -------
        value : float
            ``mean((Xh - X)**2)``.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import Gradients, StepContext
        >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
        >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
        >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
        >>> from ksparse.losses import MSELoss
        >>> MSELoss().forward_backward(ctx, Gradients.zeros_like(ctx))
        1.0
        """
        D = ctx.Xh - ctx.X
        val = float(np.einsum("ij,ij->", D, D, dtype=np.float64)) / D.size
        if weight != 0.0:
            grads.G += (2.0 * weight / D.size) * D
        return val

    @property
    def uses_code_gradient(self) -> bool:
        """True: the MSE's gradient is the reconstruction gradient ``grads.G``.

        Returns
        -------
        flag : bool
            Always True.

        Examples
        --------
        >>> from ksparse.losses import MSELoss
        >>> MSELoss().uses_code_gradient
        True
        """
        return True


def _encoder_input_backward(ctx: StepContext, idx, dz, grads: Gradients) -> None:
    """Send dLoss/dZ at (idx, dz) into the encoder weights, encoder bias and pre-encoder bias."""
    p = ctx.params
    ops.encoder_backward(idx, dz, ctx.Xc, grads.W_enc, grads.b_enc, n_threads=ctx.n_threads)
    # Xc = X - b_dec, so dL/db_dec gets -sum_{b,j} dz[b,j] W_enc[idx[b,j]]
    grads.b_dec -= ops.gather_rows_weighted_sum(idx, dz, p["W_enc"])


class AuxKLoss(Loss):
    """AuxK loss of Gao et al. (2024): dead units reconstruct the main code's residual.

    With ``e = X - Xh`` (held fixed), the ``k_aux`` dead units with the largest
    activation give ``e_hat = sum_j a_j W_dec[i_j]`` (no bias); the loss is
    ``sum((e_hat - e)**2) / sum((e - mean_b e)**2)``. It is zero when no unit is dead,
    and when the residuals hardly vary across the batch (the denominator at most 1e-6 of
    ``sum(e**2)``: identical samples, a batch of one), where the ratio would only amplify
    rounding.

    Parameters
    ----------
    k_aux : int
        Number of dead units used per sample (fewer when fewer units are dead).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.activations import get_activation
    >>> from ksparse.losses import AuxKLoss, Gradients, StepContext
    >>> rng = np.random.default_rng(0)
    >>> X, Xh = rng.random((4, 3)), np.zeros((4, 3))
    >>> p = {"W_enc": rng.random((4, 3)), "b_enc": np.zeros(4),
    ...      "W_dec": rng.random((4, 3)), "b_dec": np.zeros(3)}
    >>> idx, val = np.zeros((4, 1), dtype=np.int64), np.zeros((4, 1))
    >>> ctx = StepContext(X, X, X @ p["W_enc"].T, idx, val, Xh, p, get_activation("relu"),
    ...                   dead=np.array([False, False, True, True]))
    >>> grads = Gradients.zeros_like(ctx)
    >>> round(AuxKLoss(k_aux=1).forward_backward(ctx, grads), 4)
    1.4877
    >>> grads.W_dec.any(axis=1).tolist()  # only dead units get a gradient
    [False, False, True, True]
    """

    name = "auxk"

    def __init__(self, k_aux: int):
        self.k_aux = int(k_aux)

    def forward_backward(self, ctx: StepContext, grads: Gradients, weight: float = 1.0) -> float:
        """Return the AuxK loss and add ``weight`` times its gradient into ``grads``.

        Parameters
        ----------
        ctx : StepContext
            The forward pass of the batch; ``ctx.dead`` marks the dead units.
        grads : Gradients
            Buffers the weighted gradient is added to (dead units' rows only).
        weight : float, default 1.0
            Factor of the gradient (the estimator's ``auxk_coef``).

        Returns
        -------
        value : float
            The normalised AuxK loss; 0 when no unit is dead.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.activations import get_activation
        >>> from ksparse.losses import AuxKLoss, Gradients, StepContext
        >>> rng = np.random.default_rng(0)
        >>> X, Xh = rng.random((4, 3)), np.zeros((4, 3))
        >>> p = {"W_enc": rng.random((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": rng.random((4, 3)), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((4, 1), dtype=np.int64), np.zeros((4, 1))
        >>> ctx = StepContext(X, X, X @ p["W_enc"].T, idx, val, Xh, p, get_activation("relu"),
        ...                   dead=np.array([False, False, True, True]))
        >>> grads = Gradients.zeros_like(ctx)
        >>> ctx.dead = None
        >>> AuxKLoss(k_aux=1).forward_backward(ctx, grads)
        0.0
        """
        dead = ctx.dead
        if dead is None or not dead.any():
            return 0.0
        p = ctx.params
        W_dec = p["W_dec"]
        act = ctx.activation
        e = ctx.X - ctx.Xh
        # In float64, as the fused kernel. Residuals that (nearly) do not vary across the
        # batch (identical samples; one sample) carry nothing for AuxK, and rounding alone
        # would make the normalised loss ~1e14: below 1e-6 of sum(e**2) there is no AuxK.
        ec = e.astype(np.float64)
        energy = float(np.einsum("ij,ij->", ec, ec))
        ec -= ec.mean(axis=0)
        denom = float(np.einsum("ij,ij->", ec, ec))
        if not denom > _AUXK_MIN_SPREAD * energy:
            return 0.0
        ka = min(self.k_aux, int(dead.sum()))
        Z = ctx.Z
        dead_units = np.flatnonzero(dead)
        Zd = np.ascontiguousarray(Z[:, dead_units])
        local, zsel, val = ops.select(Zd, ka, act, ctx.selection, n_threads=ctx.n_threads)
        idx = np.ascontiguousarray(dead_units[local], dtype=np.int64)
        e_hat = ops.decode(idx, val, W_dec)
        R = e_hat - e
        value = float(np.einsum("ij,ij->", R, R, dtype=np.float64)) / denom
        if weight != 0.0:
            Ga = ((2.0 * weight / denom) * R).astype(e.dtype, copy=False)
            dval = ops.decode_backward(idx, val, W_dec, Ga, grads.W_dec, n_threads=ctx.n_threads)
            dz = (dval * act.derivative(zsel, val)).astype(e.dtype, copy=False)
            _encoder_input_backward(ctx, idx, dz, grads)
        return value


class DiversityLoss(Loss):
    """Decorrelation penalty on the decoder rows.

    ``sum_{i != j} (W_dec[i] . W_dec[j])**2 / (m (m - 1))``: the mean squared
    off-diagonal Gram entry (mean squared cosine for unit-norm rows). Costs one
    (m, m) Gram product per step, O(m^2 n).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.losses import DiversityLoss, Gradients, StepContext
    >>> W_dec = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> p = {"W_enc": W_dec.copy(), "b_enc": np.zeros(3), "W_dec": W_dec, "b_dec": np.zeros(2)}
    >>> X, idx, val = np.zeros((1, 2)), np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1))
    >>> ctx = StepContext(X, X, np.zeros((1, 3)), idx, val, X, p, activation=None)
    >>> round(DiversityLoss().value(ctx), 4)  # (2 * 0.36 + 2 * 0.64) / 6
    0.3333
    """

    name = "diversity"

    def forward_backward(self, ctx: StepContext, grads: Gradients, weight: float = 1.0) -> float:
        """Return the penalty and add ``weight`` times its gradient into ``grads.W_dec``.

        Parameters
        ----------
        ctx : StepContext
            The forward pass; only ``ctx.params["W_dec"]`` is read.
        grads : Gradients
            Buffers the weighted gradient is added to.
        weight : float, default 1.0
            Factor of the gradient (the estimator's ``diversity_coef``).

        Returns
        -------
        value : float
            The mean squared off-diagonal Gram entry; 0 with fewer than 2 units.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import DiversityLoss, Gradients, StepContext
        >>> W_dec = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
        >>> p = {"W_enc": W_dec.copy(), "b_enc": np.zeros(3), "W_dec": W_dec, "b_dec": np.zeros(2)}
        >>> X, idx, val = np.zeros((1, 2)), np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1))
        >>> ctx = StepContext(X, X, np.zeros((1, 3)), idx, val, X, p, activation=None)
        >>> grads = Gradients.zeros_like(ctx)
        >>> round(DiversityLoss().forward_backward(ctx, grads), 4)
        0.3333
        """
        W = ctx.params["W_dec"]
        m = W.shape[0]
        if m < 2:
            return 0.0
        C = W @ W.T
        np.fill_diagonal(C, 0.0)
        scale = 1.0 / (m * (m - 1))
        value = float(np.einsum("ij,ij->", C, C, dtype=np.float64)) * scale
        if weight != 0.0:
            C *= 4.0 * weight * scale
            grads.W_dec += C @ W
        return value


class CombinedLoss(Loss):
    """Weighted sum of losses: ``sum_i w_i * loss_i``.

    Parameters
    ----------
    terms : sequence of (float, Loss)
        The weights and losses.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.losses import Gradients, StepContext
    >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
    >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
    ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
    >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
    >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
    >>> from ksparse.losses import CombinedLoss, DiversityLoss, MSELoss
    >>> loss = CombinedLoss([(1.0, MSELoss()), (0.5, DiversityLoss())])
    >>> loss.forward_backward(ctx, Gradients.zeros_like(ctx))
    1.0
    >>> loss.last_values
    {'mse': 1.0, 'diversity': 0.0}
    """

    name = "combined"

    def __init__(self, terms: Sequence[Tuple[float, Loss]]):
        self.terms: List[Tuple[float, Loss]] = [(float(w), l) for w, l in terms]
        self.last_values: dict = {}

    def forward_backward(self, ctx: StepContext, grads: Gradients, weight: float = 1.0) -> float:
        """Return ``sum_i w_i * loss_i`` and add each term's weighted gradient.

        Each term's unweighted value is kept in ``last_values`` under its name.

        Parameters
        ----------
        ctx : StepContext
            The forward pass of the batch.
        grads : Gradients
            Buffers the weighted gradients are added to.
        weight : float, default 1.0
            Factor applied on top of each term's own weight.

        Returns
        -------
        value : float
            The weighted sum of the terms' values.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.losses import Gradients, StepContext
        >>> X, Xh = np.ones((2, 3)), np.zeros((2, 3))
        >>> p = {"W_enc": np.zeros((4, 3)), "b_enc": np.zeros(4),
        ...      "W_dec": np.eye(4, 3), "b_dec": np.zeros(3)}
        >>> idx, val = np.zeros((2, 1), dtype=np.int64), np.zeros((2, 1))
        >>> ctx = StepContext(X, X, np.zeros((2, 4)), idx, val, Xh, p, activation=None)
        >>> from ksparse.losses import CombinedLoss, MSELoss
        >>> CombinedLoss([(2.0, MSELoss())]).forward_backward(ctx, Gradients.zeros_like(ctx))
        2.0
        """
        total = 0.0
        self.last_values = {}
        for w, loss in self.terms:
            v = loss.forward_backward(ctx, grads, weight * w)
            self.last_values[loss.name] = v
            total += w * v
        return total

    @property
    def uses_code_gradient(self) -> bool:
        """True when any term adds into ``grads.G``.

        Returns
        -------
        flag : bool
            Whether some term uses the reconstruction gradient.

        Examples
        --------
        >>> from ksparse.losses import CombinedLoss, DiversityLoss, MSELoss
        >>> CombinedLoss([(1.0, MSELoss()), (0.1, DiversityLoss())]).uses_code_gradient
        True
        """
        return any(l.uses_code_gradient for _, l in self.terms)
