"""Looking at what a :class:`ksparse.KSparseAutoencoder` learned: which samples drive a unit, how often units fire."""

from __future__ import annotations

import numbers
from typing import Any, Dict, Tuple

import numpy as np

__all__ = ["UnitInspection"]


class UnitInspection:
    """Mixin of :class:`ksparse.KSparseAutoencoder`: per-unit views of its codes."""

    def top_activating(self: Any, X, unit, n=10, *, k=None) -> Tuple[np.ndarray, np.ndarray]:
        """The samples of X that drive one unit most: their row indices and the unit's activations.

        A sample's activation of ``unit`` is the value the unit takes in its
        code (:meth:`encode`), and 0 when the unit is not among its k selected
        units. Samples are ranked by that activation, largest first; equal
        activations are ranked by row index, lowest first. X is encoded in
        chunks, so memory stays O(n_samples) whatever ``n_hidden``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples to search.
        unit : int
            The hidden unit, in ``[0, n_hidden)``.
        n : int, default 10
            How many samples to return (at most ``n_samples``).
        k : int, optional
            Units kept per sample when encoding; the estimator's ``k`` when None.

        Returns
        -------
        indices : ndarray of int64, shape (min(n, n_samples),)
            Row indices into X, the most activating first.
        activations : ndarray of shape (min(n, n_samples),)
            The unit's activation in each of those samples, in the model's dtype
            (0 for a sample where it is not selected).

        Raises
        ------
        NotFittedError
            Before the estimator is fitted.
        ValueError
            When ``unit`` is outside ``[0, n_hidden)``, ``n`` is below 1, or X has
            the wrong shape.

        See Also
        --------
        unit_statistics : firing frequency and activations of every unit.
        ksparse.plotting.plot_unit : the unit's decoder atom beside these samples.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((50, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> rows, acts = model.top_activating(X, unit=0, n=5)
        >>> rows.shape, bool(np.all(np.diff(acts) <= 0))
        ((5,), True)
        """
        self._check_fitted()
        m = self.W_enc_.shape[0]
        if isinstance(unit, (bool, np.bool_)) or not isinstance(unit, numbers.Integral):
            raise TypeError(f"unit must be an integer in [0, n_hidden={m}), got {unit!r}")
        if not 0 <= int(unit) < m:
            raise ValueError(f"unit={int(unit)} is outside [0, n_hidden={m}); pass a unit between 0 and {m - 1}")
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n={n!r} must be a positive integer (the number of samples to return)")
        X = self._check_X(X, reset=False, dtype=self.W_enc_.dtype)
        k = self._resolve_k(k)
        acts = np.zeros(X.shape[0], dtype=self.W_enc_.dtype)  # 0 where the unit is not selected
        chunk = 4096
        for s in range(0, X.shape[0], chunk):
            idx, val = self._encode(X[s:s + chunk], k, chunk)
            rows, cols = np.nonzero(idx == int(unit))  # a unit appears at most once per row
            acts[s + rows] = val[rows, cols]
        # a stable sort of the negated activations: ties keep the lower row first
        order = np.argsort(-acts, kind="stable")[: int(n)].astype(np.int64)
        return order, acts[order]

    def unit_statistics(self: Any, X, *, k=None, chunk_size=4096) -> Dict[str, np.ndarray]:
        """How often each unit fires on X, and how strongly.

        A unit fires in a sample when it is among the sample's k selected units
        with a nonzero value (the rule of :func:`ksparse.metrics.firing_frequency`).
        X is encoded ``chunk_size`` samples at a time and only per-unit sums are
        kept, so memory is O(chunk_size * k + n_hidden), never n_samples x n_hidden.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples to encode.
        k : int, optional
            Units kept per sample; the estimator's ``k`` when None.
        chunk_size : int, default 4096
            Samples encoded at a time.

        Returns
        -------
        stats : dict of str to ndarray of shape (n_hidden,)
            - ``"count"`` (int64): samples the unit fires in.
            - ``"frequency"`` (float64): ``count / n_samples``, in [0, 1].
            - ``"mean_activation"`` (float64): mean of its value over the samples
              it fires in; NaN for a unit that never fires.
            - ``"max_activation"`` (float64): the largest activation it takes,
              counting 0 for samples where it is not selected (so it equals the
              first activation :meth:`top_activating` returns).

        Raises
        ------
        NotFittedError
            Before the estimator is fitted.
        ValueError
            When X has the wrong shape or ``chunk_size`` is below 1.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse import KSparseAutoencoder
        >>> X = np.random.default_rng(0).random((50, 8))
        >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
        >>> stats = model.unit_statistics(X)
        >>> sorted(stats)
        ['count', 'frequency', 'max_activation', 'mean_activation']
        >>> bool(np.isclose(stats["frequency"].sum() * len(X), np.count_nonzero(model.transform(X))))
        True
        """
        self._check_fitted()
        if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer (samples encoded at a time)")
        X = self._check_X(X, reset=False, dtype=self.W_enc_.dtype)
        k = self._resolve_k(k)
        m = self.W_enc_.shape[0]
        count = np.zeros(m, dtype=np.int64)
        selected = np.zeros(m, dtype=np.int64)
        total = np.zeros(m, dtype=np.float64)
        best = np.full(m, -np.inf)
        for s in range(0, X.shape[0], int(chunk_size)):
            idx, val = self._encode(X[s:s + int(chunk_size)], k, int(chunk_size))
            idx, val = idx.ravel(), val.ravel().astype(np.float64)
            selected += np.bincount(idx, minlength=m)
            fires = val != 0
            count += np.bincount(idx[fires], minlength=m)
            total += np.bincount(idx[fires], weights=val[fires], minlength=m)
            np.maximum.at(best, idx, val)
        n_samples = X.shape[0]
        # samples where a unit is not selected count as 0
        best = np.where(selected < n_samples, np.maximum(best, 0.0), best)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return {"count": count, "frequency": count / float(n_samples), "mean_activation": mean,
                "max_activation": best}

    # ------------------------------------------------------------------ persistence
