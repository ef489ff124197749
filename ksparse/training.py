"""The training step of the k-sparse autoencoder.

Three implementations of one step, computing the same update:

* :func:`reference_step` -- the plain, dense numpy reference (the masked code is a
  dense (B, m) matrix and every product is a dense GEMM). It is the ground truth for
  the other two and the baseline of ``bench/bench_step.py``.
* :class:`GeneralStep` -- any activation, selection, optimizer and loss; the code
  travels as (indices, values) through the sparse kernels.
* :class:`FusedStep` -- the default configuration (ReLU, selection by value, Adam,
  MSE only): the encoder product by BLAS, then one compiled kernel does top-k, ReLU,
  the sparse decode, the MSE gradient and, latent by latent, the backward pass fused
  with the Adam update of the decoder row, encoder row and encoder bias.

The update of one step (shapes: batch B, inputs n, hidden m, kept k)::

    Xc = X - b_dec;  Z = Xc @ W_enc.T + b_enc;  (idx, val) = topk(act(Z), k)
    Xh = b_dec + sum_j val[:, j] W_dec[idx[:, j]]
    loss = mean((Xh - X)**2) (+ weighted AuxK / diversity terms)
    gradients by back-propagation through the k selected units only
    (dL/db_dec has a term from the decoder bias and one from the pre-encoder bias)
    decoder gradient: the component parallel to each row removed
    optimizer update; decoder rows scaled back to unit norm
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

import numpy as np

from ksparse import _model_ops as ops
from ksparse.activations import get_activation
from ksparse.losses import _AUXK_MIN_SPREAD, Gradients, Loss, StepContext

__all__ = [
    "AdamState",
    "reference_step",
    "GeneralStep",
    "FusedStep",
    "PARAM_NAMES",
]

PARAM_NAMES = ("W_enc", "b_enc", "W_dec", "b_dec")
#: the parameters with one row (or entry) per hidden unit
_UNIT_PARAMS = ("W_enc", "b_enc", "W_dec")


class _NonFiniteActivations(ArithmeticError):
    """The encoder's pre-activations hold NaN or infinity (the weights have diverged)."""


# --------------------------------------------------------------------------- Adam
class AdamState:
    """Adam moments for the four parameters (allocated once) and the step count.

    The update of a parameter p with gradient g at step t (1-based)::

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    With ``lazy=True`` (the estimator's ``"sparse_adam"``) a hidden unit whose gradients
    are all zero in a step (it is not in the batch's code) keeps its ``W_enc`` and
    ``W_dec`` rows, its ``b_enc`` entry and their moments; the step count ``t`` and the
    bias correction stay global, as in ``torch.optim.SparseAdam``. ``b_dec`` is updated
    every step.
    """

    def __init__(self, params: Dict[str, np.ndarray], beta1=0.9, beta2=0.999, eps=1e-8, lazy=False):
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.lazy = bool(lazy)
        self.t = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Dict[str, np.ndarray], grads: Dict[str, np.ndarray], lr: float, *,
             backend: str = "compiled", n_threads: int = 1) -> None:
        """Count one step and apply the Adam update to every parameter in ``grads`` (in place).

        The update is :class:`ksparse.optim.Adam`'s rule, through the one call site of its
        kernel (:func:`ksparse.optim.apply_update`); ``backend="numpy"`` runs its numpy
        reference (the reference step). With ``lazy``, only the units with a nonzero
        gradient in any of their parameters are updated.
        """
        from ksparse.optim import Adam, apply_update

        self.t += 1
        hyper = np.array([0.0, self.beta1, self.beta2, lr / (1.0 - self.beta1 ** self.t),
                          1.0 / math.sqrt(1.0 - self.beta2 ** self.t), self.eps])
        units = self._units_in_step(grads) if self.lazy else None
        for name, g in grads.items():
            rows = units if units is not None and name in _UNIT_PARAMS else None
            apply_update(Adam._kind, params[name], g, self.m[name], self.v[name], hyper, rows, backend, n_threads)

    @staticmethod
    def _units_in_step(grads: Dict[str, np.ndarray]) -> np.ndarray:
        """The hidden units with a nonzero gradient in any of their parameters."""
        any_row = np.zeros(grads["b_enc"].shape[0], dtype=bool)
        for name in _UNIT_PARAMS:
            g = grads[name]
            any_row |= (g != 0).any(axis=1) if g.ndim == 2 else (g != 0)
        return np.flatnonzero(any_row)

    def reset_rows(self, rows: np.ndarray) -> None:
        """Zero the moments of the given hidden units (rows of the (m, .) parameters)."""
        for name in ("W_enc", "b_enc", "W_dec"):
            self.m[name][rows] = 0
            self.v[name][rows] = 0

    def state_dict(self) -> Dict[str, Any]:
        """Arrays and scalars that restore this state exactly."""
        d: Dict[str, Any] = {"t": self.t, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        for k in self.m:
            d[f"m.{k}"] = self.m[k]
            d[f"v.{k}"] = self.v[k]
        return d

    def load_state_dict(self, d: Dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`, checking it first.

        Raises
        ------
        KeyError
            If an entry is missing.
        ValueError
            If a moment's shape or dtype differs from its parameter's (nothing is
            broadcast), a moment holds NaN, infinity or (``v``) a negative value, or a
            hyper-parameter is out of range (``0 <= beta < 1``, ``eps > 0``, ``t >= 0``).
        """
        expected = {"t", "beta1", "beta2", "eps"} | {f"{s}.{k}" for k in self.m for s in ("m", "v")}
        missing, extra = sorted(expected - set(d)), sorted(set(d) - expected)
        if missing or extra:
            raise KeyError(f"Adam state has missing entries {missing} / unknown entries {extra}")
        t = d["t"]
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ValueError(f"Adam step count t={t!r} must be an integer >= 0")
        hyper = {}
        for name in ("beta1", "beta2", "eps"):
            v = d[name]
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise ValueError(f"Adam {name}={v!r} must be a number")
            hyper[name] = float(v)
        for name in ("beta1", "beta2"):
            if not 0.0 <= hyper[name] < 1.0:
                raise ValueError(f"Adam {name}={hyper[name]!r} must be in [0, 1)")
        if not (math.isfinite(hyper["eps"]) and hyper["eps"] > 0):
            raise ValueError(f"Adam eps={hyper['eps']!r} must be a finite number > 0")
        for key in sorted(expected - {"t", "beta1", "beta2", "eps"}):
            slot, name = key.split(".", 1)
            a, ref = np.asarray(d[key]), self.m[name]
            if a.shape != ref.shape or a.dtype != ref.dtype:
                raise ValueError(f"Adam moment {key!r} is {a.dtype}{a.shape}, but its parameter is {ref.dtype}{ref.shape}")
            if a.size and not np.isfinite(a).all():
                raise ValueError(f"Adam moment {key!r} holds NaN or infinity")
            if slot == "v" and a.size and float(a.min()) < 0:
                raise ValueError(f"Adam moment {key!r} holds negative values (a second moment is >= 0)")
        self.t = int(t)
        self.beta1, self.beta2, self.eps = hyper["beta1"], hyper["beta2"], hyper["eps"]
        for k in self.m:
            self.m[k][...] = d[f"m.{k}"]
            self.v[k][...] = d[f"v.{k}"]


# --------------------------------------------------------------------------- encoder decay
def encoder_decay_factor(lr: float, encoder_decay: float) -> float:
    """The factor ``1 - lr * encoder_decay`` (computed in double, as the fused kernel gets it)."""
    return 1.0 - float(lr) * float(encoder_decay)


def apply_encoder_decay(W_enc: np.ndarray, idx: np.ndarray, val: np.ndarray, lr: float,
                        encoder_decay: float) -> None:
    """Decoupled weight decay (as AdamW) of the encoder rows of the units that fired.

    Every unit selected with a nonzero value by at least one sample of the batch has its
    encoder row scaled by ``1 - lr * encoder_decay``; call it before the optimizer step
    (whose update does not depend on ``W_enc``), so the row becomes
    ``w (1 - lr decay) - step``. Units that did not fire are left alone, so a rarely used
    unit of a wide model is not shrunk away between its uses.
    """
    if encoder_decay == 0.0:
        return
    fired = np.unique(idx[val != 0])
    if fired.size:
        W_enc[fired] *= W_enc.dtype.type(encoder_decay_factor(lr, encoder_decay))


def clip_output(Xh: np.ndarray, bounds) -> Optional[np.ndarray]:
    """Clip a reconstruction to ``bounds = (low, high)`` in place.

    Returns the boolean mask of the entries where the clip is not active (``low <= Xh
    <= high``: the clip's derivative is 1 there, 0 elsewhere), or None when ``bounds``
    is None (nothing is clipped). NaN entries stay NaN and count as clipped.
    """
    if bounds is None:
        return None
    lo, hi = bounds
    inside = (Xh >= lo) & (Xh <= hi)
    np.clip(Xh, lo, hi, out=Xh)
    return inside


# --------------------------------------------------------------------------- reference step
def reference_step(params, adam: AdamState, X, k, *, lr, activation="relu", normalize_decoder=True,
                   encoder_decay=0.0, output_bounds=None):
    """One training step (MSE loss, Adam), dense numpy, in place on ``params`` and ``adam``.

    This is the plain reference: the code is densified to (B, m) and every product is a
    dense GEMM. ``encoder_decay`` is the decoupled weight decay of the encoder rows of
    the units that fired in the batch (see :func:`apply_encoder_decay`).
    ``output_bounds=(low, high)`` clips the reconstruction (:func:`clip_output`). Returns
    ``(mse, indices, values)``.
    """
    act = get_activation(activation) if isinstance(activation, str) else activation
    W_enc, b_enc, W_dec, b_dec = (params[n] for n in PARAM_NAMES)
    m = W_enc.shape[0]
    Xc = X - b_dec
    Z = Xc @ W_enc.T + b_enc
    idx, zsel, val = ops.select(Z, k, act, backend="numpy")
    S = np.zeros((X.shape[0], m), dtype=val.dtype)
    np.put_along_axis(S, idx, val, axis=1)
    Xh = S @ W_dec + b_dec
    inside = clip_output(Xh, output_bounds)
    D = Xh - X
    mse = float(np.einsum("ij,ij->", D, D, dtype=np.float64)) / D.size
    G = (2.0 / D.size) * D
    if inside is not None:
        G *= inside
    dW_dec = S.T @ G
    dS = G @ W_dec.T
    dZ = np.zeros_like(Z)
    np.put_along_axis(dZ, idx, np.take_along_axis(dS, idx, 1) * act.derivative(zsel, val), 1)
    dW_enc = dZ.T @ Xc
    db_enc = dZ.sum(axis=0)
    db_dec = G.sum(axis=0) - db_enc @ W_enc
    if normalize_decoder:
        ops.remove_parallel_component(W_dec, dW_dec)
    apply_encoder_decay(W_enc, idx, val, lr, encoder_decay)
    adam.step(params, {"W_enc": dW_enc, "b_enc": db_enc, "W_dec": dW_dec, "b_dec": db_dec}, lr, backend="numpy")
    if normalize_decoder:
        ops.normalize_rows(W_dec)
    return mse, idx, val


# --------------------------------------------------------------------------- general step
class GeneralStep:
    """Any activation / selection / optimizer / loss; sparse (indices, values) throughout.

    Parameters
    ----------
    params : dict
        The four parameters (updated in place).
    optimizer : AdamState or an optimizer object with ``step(params, grads)`` and ``lr``.
    loss : Loss
    activation : activation object
    selection : {"value", "abs"}
    normalize_decoder : bool
    batch_size : int
        Workspaces are allocated for this batch size (smaller batches use views).
    n_threads : int
    encoder_decay : float, default 0
        Decoupled weight decay of the encoder rows of the units that fire (see
        :func:`apply_encoder_decay`).

    Attributes
    ----------
    output_bounds : tuple (low, high) or None
        The reconstruction is clipped to these bounds (:func:`clip_output`); read at
        each call, so the owner may change it between steps.
    """

    def __init__(self, params, optimizer, loss: Loss, activation, selection, normalize_decoder, batch_size, n_threads=1,
                 encoder_decay=0.0):
        self.params = params
        self.output_bounds = None
        self.encoder_decay = float(encoder_decay)
        self.optimizer = optimizer
        self.loss = loss
        self.act = activation
        self.selection = selection
        self.normalize_decoder = normalize_decoder
        self.n_threads = n_threads
        m, n = params["W_enc"].shape
        dt = params["W_enc"].dtype
        self._Xc = np.empty((batch_size, n), dt)
        self._Z = np.empty((batch_size, m), dt)
        self.grads_full = Gradients(
            G=np.empty((batch_size, n), dt),
            W_enc=np.zeros((m, n), dt),
            b_enc=np.zeros(m, dt),
            W_dec=np.zeros((m, n), dt),
            b_dec=np.zeros(n, dt),
        )
        self.last_values: dict = {}

    def forward(self, X, k, dead=None) -> StepContext:
        """Forward pass of a batch: returns the loss context."""
        p = self.params
        B = X.shape[0]
        Xc = self._Xc[:B]
        Z = self._Z[:B]
        np.subtract(X, p["b_dec"], out=Xc)
        np.matmul(Xc, p["W_enc"].T, out=Z)
        Z += p["b_enc"]
        if not math.isfinite(float(np.add.reduce(Z, axis=None))):
            # the weights (or an optimizer's huge update) overflowed: the caller stops training
            raise _NonFiniteActivations
        idx, zsel, val = ops.select(Z, k, self.act, self.selection, n_threads=self.n_threads)
        Xh = ops.decode(idx, val, p["W_dec"], p["b_dec"], n_threads=self.n_threads)
        inside = clip_output(Xh, self.output_bounds)
        return StepContext(X=X, Xc=Xc, Z=Z, indices=idx, values=val, Xh=Xh, params=p,
                           activation=self.act, selection=self.selection, dead=dead,
                           n_threads=self.n_threads, clip_inside=inside)

    def gradients(self, ctx: StepContext) -> tuple:
        """Loss value and gradients (written into the step's buffers) for a forward context."""
        B = ctx.X.shape[0]
        gf = self.grads_full
        grads = Gradients(G=gf.G[:B], W_enc=gf.W_enc, b_enc=gf.b_enc, W_dec=gf.W_dec, b_dec=gf.b_dec)
        grads.fill_zero()
        total = self.loss.forward_backward(ctx, grads, 1.0)
        self.last_values = dict(getattr(self.loss, "last_values", {}) or {self.loss.name: total})
        p = self.params
        if self.loss.uses_code_gradient:
            G = grads.G
            if ctx.clip_inside is not None:
                G *= ctx.clip_inside  # through the clip: dXh/d(linear output) is 0 where it is active
            dval = ops.decode_backward(ctx.indices, ctx.values, p["W_dec"], G, grads.W_dec, n_threads=self.n_threads)
            zsel = np.take_along_axis(ctx.Z, ctx.indices, 1)
            dz = (dval * self.act.derivative(zsel, ctx.values)).astype(G.dtype, copy=False)
            grads.b_dec += G.sum(axis=0)
            ops.encoder_backward(ctx.indices, dz, ctx.Xc, grads.W_enc, grads.b_enc, n_threads=self.n_threads)
            grads.b_dec -= ops.gather_rows_weighted_sum(ctx.indices, dz, p["W_enc"])
        return total, grads

    def __call__(self, X, k, lr, dead=None):
        """Run one step on batch X; return ``(loss, mse, indices, values)``.

        A non-finite loss (or non-finite pre-activations, which would make it one) is
        returned as is, with no update: the caller stops training.
        """
        try:
            ctx = self.forward(X, k, dead)
        except _NonFiniteActivations:
            empty = np.empty((X.shape[0], 0), np.int64)
            return math.nan, math.nan, empty, empty.astype(X.dtype)
        total, grads = self.gradients(ctx)
        mse = self.last_values.get("mse", float("nan"))
        if not np.isfinite(total):
            return total, mse, ctx.indices, ctx.values
        p = self.params
        if self.normalize_decoder:
            ops.remove_parallel_component(p["W_dec"], grads.W_dec)
        gd = {"W_enc": grads.W_enc, "b_enc": grads.b_enc, "W_dec": grads.W_dec, "b_dec": grads.b_dec}
        apply_encoder_decay(p["W_enc"], ctx.indices, ctx.values, lr, self.encoder_decay)
        if isinstance(self.optimizer, AdamState):
            self.optimizer.step(p, gd, lr, n_threads=self.n_threads)
        else:
            self.optimizer.lr = lr
            self.optimizer.step(p, gd)
        if self.normalize_decoder:
            ops.normalize_rows(p["W_dec"])
        return total, mse, ctx.indices, ctx.values


# --------------------------------------------------------------------------- fused step
class FusedStep:
    """The default configuration's step: BLAS encoder product + one compiled kernel.

    ReLU or linear activation, selection by value (or, with the linear activation and
    ``by_abs=True``, by absolute value), Adam (lazy when ``adam.lazy``: the units that are
    not in the batch's code keep their rows and moments), MSE loss plus optionally the AuxK loss
    (``auxk_coef > 0``: when a ``dead`` mask is passed, the ``auxk_k`` dead units with
    the largest pre-activation (or |pre-activation|) reconstruct the residual, exactly as
    :class:`ksparse.losses.AuxKLoss`), and optionally the decoupled weight decay of the
    encoder rows of the units that fire (``encoder_decay``, as :func:`apply_encoder_decay`).
    The reconstruction is clipped to ``output_bounds`` (an attribute, read at each call;
    None: no clipping), as :func:`clip_output`.
    Every workspace is allocated once here; a call allocates nothing of size (B, .) or (m, .).
    """

    def __init__(self, params, adam: AdamState, normalize_decoder, batch_size, k_max, n_threads=1, relu=True,
                 steps_since_fired=None, auxk_k=0, auxk_coef=0.0, by_abs=False, encoder_decay=0.0):
        from ksparse import _core
        from ksparse._validation import check_n_threads

        self.encoder_decay = float(encoder_decay)
        self.output_bounds = None
        self.params = params
        self.adam = adam
        self.normalize_decoder = bool(normalize_decoder)
        self.n_threads = check_n_threads(n_threads)
        self.relu = bool(relu)
        self.by_abs = bool(by_abs)
        if self.relu and self.by_abs:
            raise ValueError("the fused step selects by absolute value only with the linear activation (relu=False)")
        self.auxk_coef = float(auxk_coef)
        self.auxk_k = int(auxk_k) if self.auxk_coef > 0 else 0
        m = params["W_enc"].shape[0]
        # the compiled step's settings and every workspace, allocated once
        self._ws = _core._FusedStepWorkspace(
            params, adam.m, adam.v, int(batch_size), int(k_max), self.n_threads, self.relu,
            self.normalize_decoder, self.by_abs, self.auxk_k, self.auxk_coef, _AUXK_MIN_SPREAD)
        #: loss terms of the last call: {"mse": ..., "auxk": ...}
        self.last_values: dict = {}
        #: firing counters updated by the kernel (the estimator's steps_since_fired_)
        self.since = steps_since_fired if steps_since_fired is not None else np.zeros(m, np.int64)

    def __call__(self, X, k, lr, dead=None):
        """Run one step on batch X; return ``(loss, mse, indices, values)`` (views into workspaces).

        ``dead`` is a boolean (m,) mask of dead units for the AuxK loss (ignored when
        ``auxk_coef == 0``). The firing counters ``self.since`` are updated in the kernel.
        """
        p, a, ws = self.params, self.adam, self._ws
        B = X.shape[0]
        np.subtract(X, p["b_dec"], out=ws.Xc[:B])
        np.matmul(ws.Xc[:B], p["W_enc"].T, out=ws.Z[:B])
        dead_units = np.flatnonzero(dead) if self.auxk_k > 0 and dead is not None else None
        t = a.t + 1
        lo, hi = self.output_bounds if self.output_bounds is not None else (-math.inf, math.inf)
        hyper = (lr / (1.0 - a.beta1**t), 1.0 / math.sqrt(1.0 - a.beta2**t), a.beta1, a.beta2, a.eps,
                 encoder_decay_factor(lr, self.encoder_decay), int(a.lazy), lo, hi)
        loss, mse, auxv, idx, val = ws.run(X, k, dead_units, self.since, hyper)
        self.last_values = {"mse": mse, "auxk": auxv}
        if math.isfinite(loss):
            a.t = t
        return loss, mse, idx, val
