"""Optimizers whose update is one fused, in-place pass of a compiled kernel.

Each optimizer keeps its state (momentum buffers, Adam moments ...) per
parameter name, allocated once on the first step and updated in place, like
the parameters themselves. One call of :meth:`Optimizer.step` makes one pass
over each parameter, its gradient and its state (the compiled kernels in
``ksparse/_optim.pxi``; ``backend="numpy"`` runs the plain numpy reference of
the same rule, which the tests use as ground truth).

Update rules (``g`` is the gradient plus ``weight_decay * p`` when
``weight_decay > 0``, the coupled L2 penalty of ``torch.optim``; ``t`` counts
the steps that updated the parameter):

============ ============================================================
SGD          ``p -= lr * g``
Momentum     ``buf = momentum * buf + g``; ``p -= lr * buf``
Nesterov     ``buf = momentum * buf + g``; ``p -= lr * (g + momentum * buf)``
Adam         ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
             ``p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)``
RMSprop      ``v = alpha v + (1 - alpha) g^2``; ``p -= lr g / (sqrt(v) + eps)``
AdaGrad      ``s = s + g^2``; ``p -= lr g / (sqrt(s) + eps)``
============ ============================================================

These are the rules of the ``torch.optim`` classes of the same names (with
their default dampening 0, ``centered=False`` and ``lr_decay=0``).

Row-sparse (lazy) updates
-------------------------
``step(params, grads, rows={"W_dec": idx})`` updates only the listed rows of
``W_dec`` (rows along the first axis; for a 1-D parameter, the listed
elements): for those rows the update is exactly the dense rule above, while
every other row keeps its parameter values *and* its optimizer state
unchanged (no decay of momentum or of Adam moments, no weight decay).
``idx`` may have any shape (e.g. the (B, k) code indices of a batch);
repeated entries count once. The step count ``t`` used for Adam's bias
correction is the number of :meth:`~Optimizer.step` calls that touched the
parameter, as in ``torch.optim.SparseAdam``. Only the gradient rows listed are
read, so the gradient may hold anything elsewhere.

An optimizer made with ``lazy=True`` (the ``"sparse_*"`` names of
:func:`make_optimizer`, e.g. ``"sparse_adam"``) chooses the rows by itself
when ``rows`` does not name a parameter: the rows whose gradient is not
entirely zero, which is the set of latents a k-sparse batch touched. Without
``lazy``, parameters absent from ``rows`` get the dense update.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from ksparse import _core
from ksparse._validation import FLOAT_DTYPES, InvalidParameterError, check_backend, check_n_threads, check_real

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Adam",
    "RMSprop",
    "AdaGrad",
    "SparseAdam",
    "make_optimizer",
    "OPTIMIZERS",
]

_STATE_PREFIX = "state."
_NO_ROWS = np.empty(0, dtype=np.int64)
_EMPTY = {dt: np.empty(0, dtype=dt) for dt in FLOAT_DTYPES}


class Optimizer:
    """Base class: state per parameter name, fused in-place updates.

    Parameters
    ----------
    lr : float
        Learning rate, >= 0. Writable attribute (learning-rate schedules set it).
    weight_decay : float, default 0.0
        Coupled L2 penalty added to the gradient (``g + weight_decay * p``).
    lazy : bool, default False
        Update only rows with a non-zero gradient when ``step`` gets no
        ``rows`` for a parameter (see the module docstring).
    n_threads : int, default 1
        Threads of the compiled update (-1: all cores); results do not depend
        on it. Writable; a count above the usable CPUs is reduced to them with a
        :class:`~ksparse._validation.ThreadCountWarning`.
    backend : {"compiled", "numpy"}, default "compiled"
        ``"numpy"`` runs the plain numpy reference of the same update.

    Examples
    --------
    Use a subclass (or :func:`make_optimizer`); every rule is called the same way:

    >>> import numpy as np
    >>> from ksparse.optim import SGD
    >>> p = {"w": np.ones(3)}
    >>> SGD(lr=0.5).step(p, {"w": np.ones(3)})
    >>> p["w"]
    array([0.5, 0.5, 0.5])
    """

    #: Registry name of the dense variant ("adam", ...).
    base_name: str = ""
    #: Kernel number in ``_core._optim_update``.
    _kind: int = -1
    #: Names of the state arrays kept per parameter.
    _slots: Tuple[str, ...] = ()
    #: Hyper-parameters saved by ``state_dict`` (besides lr and weight_decay).
    _extra_hyper: Tuple[str, ...] = ()

    def __init__(self, lr: float, *, weight_decay: float = 0.0, lazy: bool = False,
                 n_threads: int = 1, backend: str = "compiled") -> None:
        self.lr = lr
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        if not isinstance(lazy, (bool, np.bool_)):
            raise TypeError(f"lazy must be True or False, got {lazy!r}")
        self.lazy = bool(lazy)
        self.n_threads = n_threads  # checked by the property
        self.backend = check_backend(backend)
        self.state: Dict[str, Dict[str, Any]] = {}

    # ------------------------------------------------------------------ attributes
    @property
    def lr(self) -> float:
        """Learning rate (writable; must be finite and >= 0).

        Returns
        -------
        lr : float
            The current learning rate.

        Examples
        --------
        >>> from ksparse.optim import Adam
        >>> opt = Adam(lr=1e-3)
        >>> opt.lr = 5e-4
        >>> opt.lr
        0.0005
        """
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_real(value, "lr", 0.0)

    @property
    def n_threads(self) -> int:
        """Threads of the compiled update (writable; checked by ``check_n_threads``).

        Returns
        -------
        n_threads : int
            The thread count, -1 resolved to the available cores.

        Examples
        --------
        >>> from ksparse.optim import SGD
        >>> SGD(n_threads=1).n_threads
        1
        """
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int) -> None:
        self._n_threads = check_n_threads(value)

    @property
    def name(self) -> str:
        """Registry name: ``base_name``, prefixed with ``"sparse_"`` when lazy.

        Returns
        -------
        name : str
            The name :func:`make_optimizer` builds this optimizer from.

        Examples
        --------
        >>> from ksparse.optim import Adam
        >>> Adam().name, Adam(lazy=True).name
        ('adam', 'sparse_adam')
        """
        return ("sparse_" if self.lazy else "") + self.base_name

    def hyperparameters(self) -> Dict[str, float]:
        """Return the hyper-parameters (lr, weight_decay and the rule's own).

        Returns
        -------
        hyper : dict of str to float
            ``lr``, ``weight_decay`` and the rule's own hyper-parameters, as
            the constructor takes them.

        Examples
        --------
        >>> from ksparse.optim import RMSprop
        >>> RMSprop(lr=0.1).hyperparameters()
        {'lr': 0.1, 'weight_decay': 0.0, 'alpha': 0.99, 'eps': 1e-08}
        """
        d = {"lr": self.lr, "weight_decay": self.weight_decay}
        for key in self._extra_hyper:
            d[key] = getattr(self, key)
        return d

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hp}, lazy={self.lazy})"

    def reset(self) -> None:
        """Forget all state (moments, buffers, step counts).

        The hyper-parameters are kept; the next :meth:`step` starts afresh.

        Returns
        -------
        None

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.optim import Adam
        >>> opt = Adam()
        >>> opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
        >>> opt.reset()
        >>> opt.state
        {}
        """
        self.state.clear()

    # ------------------------------------------------------------------ update
    def _hyper(self, t: int) -> np.ndarray:
        raise NotImplementedError

    def _init_state(self, p: np.ndarray) -> Dict[str, Any]:
        st: Dict[str, Any] = {"step": 0}
        for slot in self._slots:
            st[slot] = np.zeros_like(p)
        return st

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, Any], *,
             rows: Optional[Mapping[str, Any]] = None) -> None:
        """Update every parameter named in ``grads`` in place.

        Parameters
        ----------
        params : dict of str to ndarray
            Parameters, float32 or float64, C-contiguous and writeable;
            modified in place.
        grads : dict of str to array_like
            Gradients, same shapes and dtypes as the parameters; each name must
            be in ``params``. Only the named parameters are updated.
        rows : dict of str to array_like of int, optional
            For a parameter named here, update only these rows (first axis;
            elements of a 1-D parameter), leaving other rows and their state
            untouched.

        Returns
        -------
        None
            The parameters are changed in place.

        Raises
        ------
        KeyError
            If a gradient or ``rows`` names an unknown parameter.
        ValueError, TypeError
            On mismatched shapes or dtypes, non-contiguous parameters, or rows
            out of range.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.optim import SGD
        >>> p = {"W": np.ones((3, 2)), "b": np.ones(2)}
        >>> SGD(lr=1.0).step(p, {"W": np.ones((3, 2))}, rows={"W": [1]})
        >>> p["W"].tolist(), p["b"].tolist()
        ([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]], [1.0, 1.0])
        """
        rows = {} if rows is None else rows
        for name in rows:
            if name not in grads:
                raise KeyError(f"rows names {name!r}, which has no gradient in grads")
        for name, g in grads.items():
            if name not in params:
                raise KeyError(f"grads names {name!r}, which is not in params ({sorted(params)})")
            self._step_one(name, params[name], g, rows.get(name))

    def _step_one(self, name: str, p: Any, g: Any, r: Any) -> None:
        if not isinstance(p, np.ndarray) or p.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"parameter {name!r} must be a float32 or float64 numpy array, "
                f"got {type(p).__name__}{'' if not isinstance(p, np.ndarray) else ' of dtype ' + str(p.dtype)}"
            )
        if p.ndim == 0 or p.size == 0:
            raise ValueError(f"parameter {name!r} must be a non-empty array with ndim >= 1, got shape {p.shape}")
        if not p.flags.c_contiguous or not p.flags.writeable:
            raise ValueError(
                f"parameter {name!r} is updated in place and must be a C-contiguous, writeable array"
            )
        g = np.asarray(g)
        if g.dtype.kind in "iub":
            g = g.astype(p.dtype)
        if g.dtype != p.dtype:
            raise TypeError(
                f"gradient {name!r} has dtype {g.dtype} but the parameter has dtype {p.dtype}; "
                "compute gradients in the parameter's dtype"
            )
        if g.shape != p.shape:
            raise ValueError(f"gradient {name!r} has shape {g.shape} but the parameter has shape {p.shape}")
        g = np.ascontiguousarray(g)
        st = self.state.get(name)
        if st is None:
            st = self.state[name] = self._init_state(p)
        else:
            ref = st[self._slots[0]] if self._slots else None
            if ref is not None and (ref.shape != p.shape or ref.dtype != p.dtype):
                raise ValueError(
                    f"parameter {name!r} now has shape {p.shape} and dtype {p.dtype}, but its "
                    f"optimizer state was made for {ref.shape} {ref.dtype}; call reset() first"
                )
        n_rows = p.shape[0]
        row_len = p.size // n_rows
        if r is not None:
            r = np.asarray(r)
            if r.dtype.kind not in "iu":
                raise TypeError(f"rows[{name!r}] must hold integers, got dtype {r.dtype}")
            r = r.reshape(-1)
            if r.size and (int(r.min()) < 0 or int(r.max()) >= n_rows):
                raise ValueError(
                    f"rows[{name!r}] must lie in [0, {n_rows}) (rows of the parameter), "
                    f"found values from {int(r.min())} to {int(r.max())}"
                )
            mask = np.zeros(n_rows, dtype=bool)  # O(len(r) + n_rows): no sort
            mask[r] = True
            sel = np.flatnonzero(mask).astype(np.int64, copy=False)
        elif self.lazy:
            sel = _nonzero_rows(g.reshape(n_rows, row_len), self.backend)
        else:
            sel = None
        st["step"] += 1
        hyper = self._hyper(st["step"])
        s1 = st[self._slots[0]] if len(self._slots) > 0 else _EMPTY[p.dtype]
        s2 = st[self._slots[1]] if len(self._slots) > 1 else _EMPTY[p.dtype]
        apply_update(self._kind, p, g, s1, s2, hyper, sel, self.backend, self.n_threads)

    def check_state(self, params: Mapping[str, np.ndarray], check_finite: bool = True) -> None:
        """Raise ValueError unless every state array matches its parameter's shape and dtype.

        Run after :meth:`load_state_dict` on state from a file, so that a damaged
        checkpoint is refused before the compiled update reads past an array's end.

        Parameters
        ----------
        params : dict of str to ndarray
            The parameters the state belongs to.
        check_finite : bool, default True
            Also refuse NaN or infinity in the state (one pass over it).

        Returns
        -------
        None

        Raises
        ------
        ValueError
            Naming the state array that does not fit, or holds NaN or infinity.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.optim import make_optimizer
        >>> opt = make_optimizer("adam", lr=1e-3)
        >>> p = {"w": np.zeros(3)}
        >>> opt.step(p, {"w": np.ones(3)})
        >>> opt.check_state(p)
        """
        for pname, st in self.state.items():
            if pname not in params:
                raise ValueError(f"the optimizer holds state for {pname!r}, which is not a parameter "
                                 f"({sorted(params)})")
            p = params[pname]
            for slot in self._slots:
                a = st.get(slot)
                if not isinstance(a, np.ndarray) or a.shape != p.shape or a.dtype != p.dtype:
                    raise ValueError(
                        f"the optimizer state {pname}.{slot} is {getattr(a, 'dtype', None)}"
                        f"{getattr(a, 'shape', None)}, but the parameter is {p.dtype}{p.shape}")
                if check_finite and a.size and not np.isfinite(a).all():
                    raise ValueError(f"the optimizer state {pname}.{slot} holds NaN or infinity")

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> Dict[str, Any]:
        """Return hyper-parameters and state as a flat dict (for checkpoints).

        Keys: the hyper-parameter names (floats), ``"lazy"`` (0 or 1), and per
        parameter ``"state.<name>.step"`` (int) and ``"state.<name>.<slot>"``
        (a copy of each state array). :meth:`load_state_dict` restores it
        exactly.

        Returns
        -------
        state : dict of str to object
            Floats, ints and array copies, keyed as above.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.optim import Momentum
        >>> opt = Momentum(lr=0.1)
        >>> opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
        >>> sorted(opt.state_dict())
        ['lazy', 'lr', 'momentum', 'nesterov', 'state.w.momentum_buffer', 'state.w.step', 'weight_decay']
        """
        d: Dict[str, Any] = dict(self.hyperparameters())
        d["lazy"] = int(self.lazy)
        for pname, st in self.state.items():
            d[f"{_STATE_PREFIX}{pname}.step"] = int(st["step"])
            for slot in self._slots:
                d[f"{_STATE_PREFIX}{pname}.{slot}"] = st[slot].copy()
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        The hyper-parameters are checked by the constructor's rules; call
        :meth:`check_state` afterwards to check the arrays against the parameters.

        Parameters
        ----------
        d : dict of str to object
            A state dict from :meth:`state_dict` of the same optimizer class.

        Returns
        -------
        None

        Raises
        ------
        KeyError
            If a hyper-parameter or a state entry is missing.
        ValueError
            If a key is not understood by this optimizer or an array is not a
            float array.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.optim import Adam
        >>> opt = Adam(lr=0.01)
        >>> opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
        >>> other = Adam()
        >>> other.load_state_dict(opt.state_dict())
        >>> other.lr, other.state["w"]["step"]
        (0.01, 1)
        """
        hyper = self.hyperparameters()
        missing = [k for k in list(hyper) + ["lazy"] if k not in d]
        if missing:
            raise KeyError(f"state dict lacks {missing} for {type(self).__name__}")
        states: Dict[str, Dict[str, Any]] = {}
        for key, value in d.items():
            if key in hyper or key == "lazy":
                continue
            if not key.startswith(_STATE_PREFIX) or "." not in key[len(_STATE_PREFIX):]:
                raise ValueError(f"state dict key {key!r} is not understood by {type(self).__name__}")
            pname, slot = key[len(_STATE_PREFIX):].rsplit(".", 1)
            if slot != "step" and slot not in self._slots:
                raise ValueError(
                    f"state dict key {key!r}: {type(self).__name__} keeps {list(self._slots)}, not {slot!r}"
                )
            st = states.setdefault(pname, {})
            if slot == "step":
                if isinstance(value, np.ndarray):
                    value = value.item()
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if not isinstance(value, numbers.Integral) or value < 0:
                    raise ValueError(f"state dict key {key!r} must be a non-negative int, got {value!r}")
                st["step"] = int(value)
            else:
                arr = np.asarray(value)
                if arr.dtype not in FLOAT_DTYPES:
                    raise ValueError(f"state dict key {key!r} must be a float32/float64 array, got {arr.dtype}")
                st[slot] = np.array(arr, order="C", copy=True)
        for pname, st in states.items():
            need = {"step", *self._slots}
            if set(st) != need:
                raise KeyError(f"state of parameter {pname!r} lacks {sorted(need - set(st))}")
            shapes = {(st[s].shape, st[s].dtype) for s in self._slots}
            if len(shapes) > 1:
                raise ValueError(f"state arrays of parameter {pname!r} differ in shape or dtype")
        # Validate every hyper-parameter through the constructor's checks.
        lazy = d["lazy"]
        if isinstance(lazy, np.ndarray):
            lazy = lazy.item()
        probe = type(self)(**{k: (d[k].item() if isinstance(d[k], np.ndarray) else d[k]) for k in hyper},
                           lazy=bool(lazy))
        for k in hyper:
            setattr(self, k, getattr(probe, k))
        self.lazy = probe.lazy
        self.state = states


def _nonzero_rows(g2: np.ndarray, backend: str) -> np.ndarray:
    if backend == "numpy":
        return np.flatnonzero((g2 != 0).any(axis=1)).astype(np.int64)
    out = np.empty(g2.shape[0], dtype=np.int64)
    count = _core._nonzero_rows(g2, out)
    return out[:count]


def apply_update(kind: int, p: np.ndarray, g: np.ndarray, s1: np.ndarray, s2: np.ndarray, hyper: np.ndarray,
                 rows: Optional[np.ndarray], backend: str = "compiled", n_threads: int = 1) -> None:
    """One update rule applied in place to a parameter and its state (unchecked).

    The one call site of each rule's kernel: the optimizer objects and the estimator's
    Adam state both go through it. ``kind`` is the rule's kernel number (an
    optimizer class's ``_kind``), ``hyper`` its ``_hyper(t)`` array, ``s1`` / ``s2``
    the state arrays (empty when the rule keeps fewer), ``rows`` the rows (first
    axis) to update, or None for all. ``backend="numpy"`` runs the numpy reference.
    """
    n_rows = p.shape[0] if p.ndim else 1
    row_len = p.size // n_rows if n_rows else 0
    if backend == "numpy":
        _numpy_update(kind, p.reshape(n_rows, row_len), g.reshape(n_rows, row_len),
                      s1.reshape(n_rows, row_len) if s1.size else None,
                      s2.reshape(n_rows, row_len) if s2.size else None, hyper, rows)
        return
    _core._optim_update(kind, p.reshape(-1), g.reshape(-1), s1.reshape(-1), s2.reshape(-1), hyper,
                        _NO_ROWS if rows is None else rows, row_len, rows is not None, n_threads)


def _numpy_update(kind: int, p: np.ndarray, g: np.ndarray, s1: Optional[np.ndarray],
                  s2: Optional[np.ndarray], h: np.ndarray, sel: Optional[np.ndarray]) -> None:
    """Reference update in numpy, same operation order as the compiled kernel."""
    T = p.dtype.type
    s1v: Any
    s2v: Any
    if sel is not None:
        pv, gv = p[sel], g[sel]
        s1v = None if s1 is None else s1[sel]
        s2v = None if s2 is None else s2[sel]
    else:
        pv, gv, s1v, s2v = p, g, s1, s2
    wd = T(h[1]) if kind != 3 else T(h[0])
    gi = gv + wd * pv if wd != 0 else gv.copy()
    if kind == 0:
        pv -= T(h[0]) * gi
    elif kind in (1, 2):
        lr, mu = T(h[0]), T(h[2])
        s1v[...] = mu * s1v + gi
        d = gi + mu * s1v if kind == 2 else s1v
        pv -= lr * d
    elif kind == 3:
        b1, omb1, b2, omb2 = T(h[1]), T(1.0 - h[1]), T(h[2]), T(1.0 - h[2])
        a, c, eps = T(h[3]), T(h[4]), T(h[5])
        s1v[...] = b1 * s1v + omb1 * gi
        s2v[...] = b2 * s2v + omb2 * (gi * gi)
        pv -= (a * s1v) / (np.sqrt(s2v) * c + eps)
    elif kind == 4:
        lr, alpha, oma, eps = T(h[0]), T(h[2]), T(1.0 - h[2]), T(h[3])
        s1v[...] = alpha * s1v + oma * (gi * gi)
        pv -= (lr * gi) / (np.sqrt(s1v) + eps)
    elif kind == 5:
        lr, eps = T(h[0]), T(h[2])
        s1v += gi * gi
        pv -= (lr * gi) / (np.sqrt(s1v) + eps)
    else:  # pragma: no cover - kinds are fixed by the classes
        raise AssertionError(kind)
    if sel is not None:
        p[sel] = pv
        if s1 is not None:
            s1[sel] = s1v
        if s2 is not None:
            s2[sel] = s2v


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p -= lr * g``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, >= 0.
    weight_decay, lazy, n_threads, backend
        See :class:`Optimizer`.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.optim import SGD
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> SGD(lr=0.1).step(p, {"w": np.array([1.0, -1.0])})
    >>> p["w"]
    array([0.9, 2.1])
    """

    base_name = "sgd"
    _kind = 0

    def __init__(self, lr: float = 0.01, *, weight_decay: float = 0.0, lazy: bool = False,
                 n_threads: int = 1, backend: str = "compiled") -> None:
        super().__init__(lr, weight_decay=weight_decay, lazy=lazy, n_threads=n_threads,
                         backend=backend)

    def _hyper(self, t: int) -> np.ndarray:
        return np.array([self.lr, self.weight_decay])


class Momentum(Optimizer):
    """SGD with heavy-ball or Nesterov momentum (``torch.optim.SGD`` rule).

    ``buf = momentum * buf + g``; ``p -= lr * buf``, or with ``nesterov=True``
    ``p -= lr * (g + momentum * buf)``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, >= 0.
    momentum : float, default 0.9
        Momentum coefficient, in [0, 1).
    nesterov : bool, default False
        Use the Nesterov form of the update.
    weight_decay, lazy, n_threads, backend
        See :class:`Optimizer`.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.optim import Momentum
    >>> opt = Momentum(lr=0.1, momentum=0.5)
    >>> p = {"w": np.zeros(1)}
    >>> for _ in range(2):
    ...     opt.step(p, {"w": np.ones(1)})
    >>> p["w"]  # 0.1 * 1, then 0.1 * (0.5 * 1 + 1)
    array([-0.25])
    """

    _slots = ("momentum_buffer",)
    _extra_hyper = ("momentum", "nesterov")

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, *, nesterov: bool = False,
                 weight_decay: float = 0.0, lazy: bool = False, n_threads: int = 1,
                 backend: str = "compiled") -> None:
        super().__init__(lr, weight_decay=weight_decay, lazy=lazy, n_threads=n_threads,
                         backend=backend)
        self.momentum = momentum
        self.nesterov = nesterov

    @property
    def momentum(self) -> float:
        """Momentum coefficient in [0, 1) (writable).

        Returns
        -------
        momentum : float
            The coefficient.

        Examples
        --------
        >>> from ksparse.optim import Momentum
        >>> Momentum(momentum=0.8).momentum
        0.8
        """
        return self._momentum

    @momentum.setter
    def momentum(self, value: float) -> None:
        self._momentum = check_real(value, "momentum", 0.0, 1.0, hi_open=True)

    @property
    def nesterov(self) -> bool:
        """Use the Nesterov form of the update (writable).

        Returns
        -------
        nesterov : bool
            True for the Nesterov form.

        Examples
        --------
        >>> from ksparse.optim import Momentum
        >>> Momentum(nesterov=True).nesterov
        True
        """
        return self._nesterov

    @nesterov.setter
    def nesterov(self, value: Any) -> None:
        if isinstance(value, numbers.Integral) and value in (0, 1):
            value = bool(value)
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {value!r}")
        self._nesterov = bool(value)

    @property
    def base_name(self) -> str:  # type: ignore[override]
        """Registry name of the rule: "nesterov" or "momentum".

        Returns
        -------
        name : str
            "nesterov" when ``nesterov`` is set, else "momentum".

        Examples
        --------
        >>> from ksparse.optim import Momentum
        >>> Momentum(nesterov=True).base_name
        'nesterov'
        """
        return "nesterov" if self.nesterov else "momentum"

    @property
    def _kind(self) -> int:  # type: ignore[override]
        return 2 if self.nesterov else 1

    def hyperparameters(self) -> Dict[str, Any]:
        """Return the hyper-parameters, ``nesterov`` as 0 or 1.

        Returns
        -------
        hyper : dict of str to float
            ``lr``, ``weight_decay``, ``momentum`` and ``nesterov``.

        Examples
        --------
        >>> from ksparse.optim import Momentum
        >>> Momentum(lr=0.1).hyperparameters()
        {'lr': 0.1, 'weight_decay': 0.0, 'momentum': 0.9, 'nesterov': 0}
        """
        d = super().hyperparameters()
        d["nesterov"] = int(self.nesterov)
        return d

    def _hyper(self, t: int) -> np.ndarray:
        return np.array([self.lr, self.weight_decay, self.momentum])


class Adam(Optimizer):
    """Adam with bias correction (the ``torch.optim.Adam`` rule).

    Parameters
    ----------
    lr : float, default 1e-3
        Learning rate, >= 0.
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the first and second moments, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay, lazy, n_threads, backend
        See :class:`Optimizer`.

    Examples
    --------
    The first Adam step moves each weight by about ``lr`` against its gradient's sign:

    >>> import numpy as np
    >>> from ksparse.optim import Adam
    >>> p = {"w": np.zeros(2)}
    >>> Adam(lr=0.1).step(p, {"w": np.array([3.0, -0.5])})
    >>> np.round(p["w"], 6)
    array([-0.1,  0.1])
    """

    base_name = "adam"
    _kind = 3
    _slots = ("exp_avg", "exp_avg_sq")
    _extra_hyper = ("beta1", "beta2", "eps")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, *, weight_decay: float = 0.0, lazy: bool = False,
                 n_threads: int = 1, backend: str = "compiled") -> None:
        super().__init__(lr, weight_decay=weight_decay, lazy=lazy, n_threads=n_threads,
                         backend=backend)
        self.beta1 = check_real(beta1, "beta1", 0.0, 1.0, hi_open=True)
        self.beta2 = check_real(beta2, "beta2", 0.0, 1.0, hi_open=True)
        self.eps = check_real(eps, "eps", 0.0, lo_open=True)

    def _hyper(self, t: int) -> np.ndarray:
        bc1 = 1.0 - self.beta1 ** t
        bc2 = 1.0 - self.beta2 ** t
        return np.array([self.weight_decay, self.beta1, self.beta2, self.lr / bc1,
                         1.0 / math.sqrt(bc2), self.eps])


class SparseAdam(Adam):
    """Lazy Adam: :class:`Adam` with ``lazy=True`` (the ``"sparse_adam"`` optimizer).

    Only rows listed in ``rows`` (or, when a parameter has no entry there, rows
    with a non-zero gradient) are updated; other rows keep their values and
    their moments. The bias correction uses the number of steps that touched
    the parameter, as ``torch.optim.SparseAdam`` does.

    Parameters
    ----------
    lr, beta1, beta2, eps
        See :class:`Adam`.
    weight_decay, lazy, n_threads, backend
        See :class:`Optimizer` (``lazy`` defaults to True here).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.optim import SparseAdam
    >>> p = {"W": np.zeros((2, 2))}
    >>> SparseAdam(lr=0.1).step(p, {"W": np.array([[1.0, 1.0], [0.0, 0.0]])})
    >>> np.round(p["W"], 6).tolist()  # the row without gradient is left alone
    [[-0.1, -0.1], [0.0, 0.0]]
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, *, weight_decay: float = 0.0, lazy: bool = True,
                 n_threads: int = 1, backend: str = "compiled") -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay=weight_decay, lazy=lazy,
                         n_threads=n_threads, backend=backend)


class RMSprop(Optimizer):
    """RMSprop (the ``torch.optim.RMSprop`` rule, not centred, no momentum).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, >= 0.
    alpha : float, default 0.99
        Decay rate of the mean square, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay, lazy, n_threads, backend
        See :class:`Optimizer`.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.optim import RMSprop
    >>> p = {"w": np.zeros(1)}
    >>> RMSprop(lr=0.01, alpha=0.0).step(p, {"w": np.array([2.0])})
    >>> np.round(p["w"], 6)  # 0.01 * 2 / sqrt(4)
    array([-0.01])
    """

    base_name = "rmsprop"
    _kind = 4
    _slots = ("square_avg",)
    _extra_hyper = ("alpha", "eps")

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, *,
                 weight_decay: float = 0.0, lazy: bool = False, n_threads: int = 1,
                 backend: str = "compiled") -> None:
        super().__init__(lr, weight_decay=weight_decay, lazy=lazy, n_threads=n_threads,
                         backend=backend)
        self.alpha = check_real(alpha, "alpha", 0.0, 1.0, hi_open=True)
        self.eps = check_real(eps, "eps", 0.0, lo_open=True)

    def _hyper(self, t: int) -> np.ndarray:
        return np.array([self.lr, self.weight_decay, self.alpha, self.eps])


class AdaGrad(Optimizer):
    """AdaGrad (the ``torch.optim.Adagrad`` rule with ``lr_decay=0``).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, >= 0.
    eps : float, default 1e-10
        Added to the denominator, > 0.
    initial_accumulator_value : float, default 0.0
        Starting value of the sum of squared gradients, >= 0.
    weight_decay, lazy, n_threads, backend
        See :class:`Optimizer`.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.optim import AdaGrad
    >>> p = {"w": np.zeros(1)}
    >>> AdaGrad(lr=0.1).step(p, {"w": np.array([4.0])})
    >>> np.round(p["w"], 6)  # 0.1 * 4 / sqrt(16)
    array([-0.1])
    """

    base_name = "adagrad"
    _kind = 5
    _slots = ("sum",)
    _extra_hyper = ("eps", "initial_accumulator_value")

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, *,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0,
                 lazy: bool = False, n_threads: int = 1, backend: str = "compiled") -> None:
        super().__init__(lr, weight_decay=weight_decay, lazy=lazy, n_threads=n_threads,
                         backend=backend)
        self.eps = check_real(eps, "eps", 0.0, lo_open=True)
        self.initial_accumulator_value = check_real(initial_accumulator_value,
                                                     "initial_accumulator_value", 0.0)

    def _init_state(self, p: np.ndarray) -> Dict[str, Any]:
        st = super()._init_state(p)
        st["sum"].fill(self.initial_accumulator_value)
        return st

    def _hyper(self, t: int) -> np.ndarray:
        return np.array([self.lr, self.weight_decay, self.eps])


#: Names accepted by :func:`make_optimizer` (dense ones; each also has a
#: ``"sparse_"`` lazy variant).
OPTIMIZERS = {
    "sgd": (SGD, {}),
    "momentum": (Momentum, {"nesterov": False}),
    "nesterov": (Momentum, {"nesterov": True}),
    "adam": (Adam, {}),
    "rmsprop": (RMSprop, {}),
    "adagrad": (AdaGrad, {}),
}


def make_optimizer(name: Any, **hyper: Any) -> Optimizer:
    """Build an optimizer by name.

    Parameters
    ----------
    name : str or Optimizer
        "sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", or one of
        them prefixed "sparse_" (the lazy variant, ``lazy=True``). An
        :class:`Optimizer` is returned as is (then give no hyper-parameters).
    **hyper
        Keyword arguments of the class (``lr``, ``beta1`` ...).

    Returns
    -------
    optimizer : Optimizer
        A new optimizer with no state (or ``name`` itself).

    Raises
    ------
    ValueError
        For an unknown name or a bad hyper-parameter value.
    TypeError
        For a hyper-parameter the optimizer does not have.

    Examples
    --------
    >>> from ksparse.optim import make_optimizer
    >>> opt = make_optimizer("sparse_adam", lr=1e-3)
    >>> opt.name, opt.lazy
    ('sparse_adam', True)
    """
    if isinstance(name, Optimizer):
        if hyper:
            raise TypeError("hyper-parameters cannot be given together with an Optimizer instance")
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name or an Optimizer, got {type(name).__name__}")
    key = name.lower()
    lazy = key.startswith("sparse_")
    base = key[len("sparse_"):] if lazy else key
    if base not in OPTIMIZERS:
        known = sorted(OPTIMIZERS) + sorted("sparse_" + k for k in OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}; choose one of {known}")
    cls, fixed = OPTIMIZERS[base]
    for k in fixed:
        if k in hyper:
            raise TypeError(f"{k!r} is fixed by the name {name!r}; do not pass it")
    if "lazy" in hyper:
        raise TypeError(f"'lazy' is fixed by the name {name!r}; use a 'sparse_' name for lazy updates")
    try:
        return cls(**fixed, **hyper, lazy=lazy)
    except InvalidParameterError:
        raise
    except TypeError as exc:  # an unknown hyper-parameter name
        raise TypeError(f"make_optimizer({name!r}): {exc}") from None
