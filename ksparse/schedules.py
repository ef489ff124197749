"""Learning-rate schedules: multipliers of the base learning rate by step.

A schedule is a callable ``schedule(step) -> float`` giving the factor to apply
to the base learning rate at optimizer step ``step`` (0 for the first step).
Typical use::

    sched = make_schedule("cosine", total_steps=1000, warmup_steps=50)
    for step in range(1000):
        opt.lr = base_lr * sched(step)
        opt.step(params, grads)

Shapes (``w`` = warmup_steps, ``T`` = total_steps, ``f`` = final_fraction):

- every schedule first ramps up linearly over the ``w`` warm-up steps:
  ``(step + 1) / w`` for ``step < w`` (so the first step is never 0);
- ``"constant"`` then stays at 1 (requires ``w == 0``: use "warmup" for a ramp);
- ``"warmup"`` then stays at 1 (requires ``w >= 1``);
- ``"linear"`` then decays linearly from 1 at ``step = w`` to ``f`` at ``step = T``;
- ``"cosine"`` then follows half a cosine from 1 at ``step = w`` to ``f`` at ``step = T``.

Steps at or beyond ``T`` keep the final value. Schedules are plain picklable
objects with their parameters as attributes.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict

import numpy as np

__all__ = ["Schedule", "make_schedule", "SCHEDULES"]

#: Schedule names understood by :func:`make_schedule`.
SCHEDULES = ("constant", "warmup", "linear", "cosine")


def _int_arg(value: Any, name: str, lo: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < lo:
        raise ValueError(f"{name}={value} must be >= {lo}")
    return int(value)


class Schedule:
    """A learning-rate multiplier as a function of the step (see the module docs).

    Parameters
    ----------
    name : {"constant", "warmup", "linear", "cosine"}
        The shape of the schedule after the warm-up.
    total_steps : int
        Number of optimizer steps in training, >= 1.
    warmup_steps : int, default 0
        Length of the linear warm-up, in ``[0, total_steps]``.
    final_fraction : float, default 0.0
        Multiplier reached at ``total_steps`` by "linear" and "cosine", in [0, 1].

    Raises
    ------
    ValueError, TypeError
        For an unknown name or an argument out of range (see :func:`make_schedule`).

    Examples
    --------
    >>> from ksparse.schedules import Schedule
    >>> s = Schedule("cosine", total_steps=4)
    >>> [round(s(i), 3) for i in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, name: str, *, total_steps: int, warmup_steps: int = 0,
                 final_fraction: float = 0.0) -> None:
        if not isinstance(name, str) or name.lower() not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; choose one of {list(SCHEDULES)}")
        self.name = name.lower()
        self.total_steps = _int_arg(total_steps, "total_steps", 1)
        self.warmup_steps = _int_arg(warmup_steps, "warmup_steps", 0)
        if self.warmup_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps={warmup_steps} must not exceed total_steps={total_steps}"
            )
        if isinstance(final_fraction, (bool, np.bool_)) or not isinstance(final_fraction, numbers.Real):
            raise TypeError(f"final_fraction must be a real number, got {final_fraction!r}")
        ff: float = float(final_fraction)
        if not (0.0 <= ff <= 1.0):
            raise ValueError(f"final_fraction={final_fraction!r} must be between 0 and 1")
        self.final_fraction: float = ff
        if self.name == "constant" and self.warmup_steps:
            raise ValueError("the 'constant' schedule has no warm-up; use 'warmup' with warmup_steps")
        if self.name == "warmup" and not self.warmup_steps:
            raise ValueError("the 'warmup' schedule needs warmup_steps >= 1")
        if self.name in ("constant", "warmup") and ff != 0.0:
            raise ValueError(
                f"final_fraction applies to the 'linear' and 'cosine' schedules, not {self.name!r}"
            )

    def __call__(self, step: int) -> float:
        """Return the multiplier for optimizer step ``step`` (0-based, >= 0).

        Parameters
        ----------
        step : int
            The optimizer step, from 0; steps past ``total_steps`` get the final value.

        Returns
        -------
        multiplier : float
            The factor the base learning rate is multiplied by.

        Examples
        --------
        >>> from ksparse.schedules import Schedule
        >>> Schedule("warmup", total_steps=10, warmup_steps=4)(1)
        0.5
        """
        step = _int_arg(step, "step", 0)
        w, T, f = self.warmup_steps, self.total_steps, self.final_fraction
        if step < w:
            return (step + 1) / w
        if self.name in ("constant", "warmup"):
            return 1.0
        span = T - w
        progress = 1.0 if span <= 0 else min(1.0, (step - w) / span)
        if self.name == "linear":
            return f + (1.0 - f) * (1.0 - progress)
        return f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_params(self) -> Dict[str, Any]:
        """Return the constructor arguments (JSON-serialisable).

        Returns
        -------
        params : dict
            ``name``, ``total_steps``, ``warmup_steps`` and ``final_fraction``;
            ``Schedule(**params)`` rebuilds the schedule.

        Examples
        --------
        >>> from ksparse.schedules import Schedule
        >>> Schedule("linear", total_steps=5).get_params()
        {'name': 'linear', 'total_steps': 5, 'warmup_steps': 0, 'final_fraction': 0.0}
        """
        return {"name": self.name, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "final_fraction": self.final_fraction}

    def __repr__(self) -> str:
        return (f"Schedule({self.name!r}, total_steps={self.total_steps}, "
                f"warmup_steps={self.warmup_steps}, final_fraction={self.final_fraction})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.get_params() == other.get_params()


def make_schedule(name: str, *, total_steps: int, warmup_steps: int = 0,
                  final_fraction: float = 0.0) -> Schedule:
    """Build a learning-rate schedule: a callable ``step -> multiplier``.

    Parameters
    ----------
    name : {"constant", "warmup", "linear", "cosine"}
        The shape of the schedule after the warm-up.
    total_steps : int
        Number of optimizer steps in training, >= 1.
    warmup_steps : int, default 0
        Linear warm-up length (``(step + 1) / warmup_steps`` for the first steps).
    final_fraction : float, default 0.0
        Final multiplier of the "linear" and "cosine" decays, in [0, 1].

    Returns
    -------
    schedule : Schedule
        Call it with a step number to get the multiplier.

    Raises
    ------
    ValueError
        For an unknown name, ``warmup_steps > total_steps``, a warm-up given to
        "constant", none given to "warmup", or a final fraction outside [0, 1]
        (or given to a schedule without decay).

    Examples
    --------
    >>> from ksparse.schedules import make_schedule
    >>> s = make_schedule("linear", total_steps=10, warmup_steps=2)
    >>> [round(s(i), 3) for i in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    return Schedule(name, total_steps=total_steps, warmup_steps=warmup_steps,
                    final_fraction=final_fraction)
