"""The fitted state of :class:`ksparse.KSparseAutoencoder`: its consistency rules and its files.

The compiled kernels trust the sizes they are given, so the learned arrays are
checked against each other and against the parameters (:meth:`EstimatorState._check_state`)
before any kernel touches them: before inference, ``partial_fit``,
``fit(resume=True)`` and after ``ksparse.load``. ``_get_state`` / ``_from_state``
are the estimator's side of the persistence protocol of :mod:`ksparse.io`; reading
validates everything a file says before the estimator is rebuilt.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ksparse._validation import check_output_bounds
from ksparse.engine import check_history, is_int, new_position, read_training_state, training_state
from ksparse.training import AdamState

__all__ = ["EstimatorState"]


def _check_learned_array(name: str, a: Any, shape: Tuple[int, ...], dtype: np.dtype, why: str,
                         training: bool = True) -> None:
    """Raise ValueError unless ``a`` is a C-contiguous array of this shape and dtype (writeable for training)."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, but {why} require {shape}")
    if a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype}, but the model's dtype is {dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous array (use np.ascontiguousarray)")
    if training and not a.flags.writeable:
        raise ValueError(f"{name} is read-only; training updates it in place (give it a writeable copy)")


def _bounds_to_json(bounds: Optional[Tuple[float, float]]) -> Optional[List[Optional[float]]]:
    """``output_bounds_`` for JSON metadata: infinite bounds as None (JSON has no infinity)."""
    if bounds is None:
        return None
    return [b if math.isfinite(b) else None for b in bounds]


class EstimatorState:
    """Mixin of :class:`ksparse.KSparseAutoencoder`: checking and saving its learned state."""

    def _check_state(self: Any, r: Optional[dict] = None) -> None:
        """Check the learned arrays against each other and, given ``r``, against the parameters.

        The compiled kernels trust the sizes they are given, so this runs before any of
        them touches the arrays: before inference, ``partial_fit``, ``fit(resume=True)``
        and after ``load``. With ``r`` (the resolved parameters) it also catches a
        shape-defining parameter (``n_hidden``, ``dtype``) changed after fitting, and an
        optimizer state that does not match the weights.

        Raises
        ------
        ValueError
            Naming the array or parameter that does not fit.
        """
        W = self.W_enc_
        if not isinstance(W, np.ndarray) or W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < 1:
            raise ValueError(f"W_enc_ must be a non-empty 2-D array, got {getattr(W, 'shape', type(W).__name__)}")
        m, n = W.shape
        dt = W.dtype
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"W_enc_ has dtype {dt}; the model's arrays must be float32 or float64")
        if r is not None:
            if m != r["n_hidden"]:
                raise ValueError(
                    f"n_hidden={r['n_hidden']} does not match the fitted model's {m} units (W_enc_ is {W.shape}): "
                    f"n_hidden was changed after fitting. Call fit to train a model of the new size, or set "
                    f"n_hidden back to {m}")
            if dt != r["dtype"]:
                raise ValueError(
                    f"dtype={r['dtype'].name!r} does not match the fitted model's {dt.name} arrays: dtype was "
                    f"changed after fitting. Call fit to train anew, or set dtype back to {dt.name!r}")
        if self.n_features_in_ != n:
            raise ValueError(f"n_features_in_={self.n_features_in_!r} does not match W_enc_'s {n} columns")
        why, training = f"{m} units and {n} features", r is not None
        _check_learned_array("W_enc_", W, (m, n), dt, why, training)
        _check_learned_array("W_dec_", self.W_dec_, (m, n), dt, why, training)
        _check_learned_array("b_enc_", self.b_enc_, (m,), dt, why, training)
        _check_learned_array("b_dec_", self.b_dec_, (n,), dt, why, training)
        _check_learned_array("steps_since_fired_", self.steps_since_fired_, (m,), np.dtype(np.int64), why, training)
        if r is None:
            return
        if not 1 <= r["k"] <= m:  # k is checked against n_hidden, which equals m here
            raise ValueError(f"k={r['k']} must be between 1 and n_hidden={m}")
        opt = getattr(self, "_opt", None)
        params = self._params()
        if isinstance(opt, AdamState):
            for name, p in params.items():
                _check_learned_array(f"the Adam moment m.{name}", opt.m.get(name), p.shape, dt, why)
                _check_learned_array(f"the Adam moment v.{name}", opt.v.get(name), p.shape, dt, why)
        elif opt is not None:
            opt.check_state(params, check_finite=False)

    def _get_state(self: Any, include_optimizer: bool) -> Tuple[Dict[str, np.ndarray], dict]:
        """Arrays and JSON metadata that rebuild this estimator (see the persistence protocol)."""
        self._check_fitted()
        arrays = {
            "W_enc": self.W_enc_, "b_enc": self.b_enc_, "W_dec": self.W_dec_, "b_dec": self.b_dec_,
            "steps_since_fired": self.steps_since_fired_,
        }
        params = self.get_params()
        rs = params.get("random_state")
        if rs is not None and not isinstance(rs, numbers.Integral):
            params["random_state"] = None
        elif rs is not None:
            params["random_state"] = int(rs)
        meta: Dict[str, Any] = {
            "class": type(self).__name__,
            "params": params,
            "attributes": {
                "n_features_in_": int(self.n_features_in_),
                "n_iter_": int(self.n_iter_),
                "output_bounds_": _bounds_to_json(getattr(self, "output_bounds_", None)),
                "history_": {k: [float(x) if isinstance(x, (float, np.floating)) else int(x) for x in v]
                             for k, v in getattr(self, "history_", {}).items()},
            },
        }
        if include_optimizer:
            if getattr(self, "_opt", None) is None:
                raise ValueError("no optimizer state to save: the estimator has not been trained")
            meta["training"], optim_arrays = training_state(
                getattr(self, "_train_state", new_position()), getattr(self, "_rng", None), self.optimizer,
                self._opt.state_dict())
            arrays.update(optim_arrays)
        return arrays, meta

    @classmethod
    def _from_state(cls: Any, arrays: Dict[str, np.ndarray], meta: dict) -> Any:
        """Rebuild an estimator saved by :meth:`_get_state`, checking everything first.

        The parameters go through the constructor's validation, every array is checked
        against them and against the others (shape, dtype, finiteness), and a
        checkpoint's training position, generator and optimizer state are validated, so
        that a damaged or edited file is refused here and never reaches a kernel.

        Raises
        ------
        ValueError or TypeError
            Naming the parameter, attribute or array that is wrong
            (:func:`ksparse.load` turns them into ``ModelFileError``).
        """
        if meta.get("class") != cls.__name__:
            raise ValueError(f"state is for class {meta.get('class')!r}, not {cls.__name__}")
        params = meta.get("params")
        if not isinstance(params, dict):
            raise ValueError("the metadata has no 'params' object")
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise ValueError(f"unknown parameters {unknown} for {cls.__name__}")
        est = cls(**params)
        try:
            r = est._check_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad parameter: {exc}") from None
        dt = r["dtype"]
        known = {"W_enc", "b_enc", "W_dec", "b_dec", "steps_since_fired"}
        tr = meta.get("training")
        extra = sorted(k for k in arrays if k not in known and not (tr is not None and k.startswith("optim.")))
        if extra:
            raise ValueError(f"unexpected tensors {extra}")
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            if name not in arrays:
                raise ValueError(f"tensor {name!r} is missing")
            a = arrays[name]
            if a.dtype != dt:
                raise ValueError(f"tensor {name!r} has dtype {a.dtype}, but the parameters say dtype={dt.name!r}")
            if a.size and not np.isfinite(a).all():
                raise ValueError(f"tensor {name!r} holds NaN or infinity")
        est.W_enc_ = np.array(arrays["W_enc"], order="C")
        est.b_enc_ = np.array(arrays["b_enc"], order="C")
        est.W_dec_ = np.array(arrays["W_dec"], order="C")
        est.b_dec_ = np.array(arrays["b_dec"], order="C")
        m = est.W_enc_.shape[0] if est.W_enc_.ndim == 2 else 0
        since = arrays.get("steps_since_fired")
        if since is None:
            since = np.zeros(m, dtype=np.int64)
        elif since.dtype.kind not in "iu" or (since.size and int(since.min()) < 0):
            raise ValueError(f"tensor 'steps_since_fired' must hold integers >= 0, got dtype {since.dtype}")
        est.steps_since_fired_ = np.array(since, dtype=np.int64, order="C")
        attrs = meta.get("attributes", {})
        if not isinstance(attrs, dict):
            raise ValueError("the metadata's 'attributes' is not an object")
        n_features: Any = attrs.get("n_features_in_", est.W_enc_.shape[-1])
        n_iter: Any = attrs.get("n_iter_", 0)
        if not (is_int(n_features) and is_int(n_iter)) or n_iter < 0:
            raise ValueError(f"attributes n_features_in_={n_features!r} and n_iter_={n_iter!r} must be integers")
        est.n_features_in_ = int(n_features)
        est.n_iter_ = int(n_iter)
        ob = attrs.get("output_bounds_")  # absent in files written before output_bounds: no clipping
        est.output_bounds_ = None if ob is None else check_output_bounds(ob)
        if est.output_bounds_ == "auto":
            raise ValueError("attribute output_bounds_ must be null or [low, high], not 'auto'")
        est.history_ = check_history(attrs.get("history_", {}))
        W = est.W_enc_
        if W.ndim != 2 or W.shape[0] != r["n_hidden"]:
            raise ValueError(f"tensor 'W_enc' has shape {W.shape}, but the parameters say n_hidden={r['n_hidden']}")
        est._check_state(r)
        if tr is not None:
            est._train_state, rng, opt_name, sd = read_training_state(tr, arrays)
            if rng is not None:
                est._rng = rng
            if opt_name != est.optimizer:
                raise ValueError(f"the checkpoint's optimizer state is for {opt_name!r}, not optimizer={est.optimizer!r}")
            est._opt = est._make_optimizer(r)
            try:
                est._opt.load_state_dict(sd)  # checks the hyper-parameters by the constructor's rules
                if not isinstance(est._opt, AdamState):
                    est._opt.check_state(est._params())
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"the checkpoint's optimizer state is damaged: {exc}") from None
            est._check_state(r)
        return est
