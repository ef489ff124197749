"""Argument checks shared by every public entry point.

The compiled kernels in ``ksparse._core`` trust their inputs; the functions here
are the one place where user input is checked and coerced before a kernel runs.
Every error names the argument, says what was wrong and what is accepted.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import types
import warnings
from typing import Any, Optional, Tuple

import numpy as np

#: dtypes the compiled kernels are built for.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: dtype of every index array handed to a kernel.
INDEX_DTYPE = np.dtype(np.int64)


def check_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a numpy float dtype, or raise if it is not float32/float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name}={dtype!r} is not a dtype; use 'float32' or 'float64'") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name}={dt} is not supported; use 'float32' or 'float64'")
    return dt


def check_float_array(
    a: Any,
    name: str,
    *,
    ndim: Optional[int] = None,
    dtype: Any = None,
    allow_nonfinite: bool = False,
    copy: bool = False,
) -> np.ndarray:
    """Coerce ``a`` to a C-contiguous float32/float64 array and check it.

    Parameters
    ----------
    a : array_like
        The user's input.
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
        Required number of dimensions.
    dtype : dtype, optional
        Target dtype. By default float32 and float64 input keep their dtype and
        anything else (integers, booleans) is converted to float64.
    allow_nonfinite : bool, default False
        Accept NaN and infinity.
    copy : bool, default False
        Always return a new array (otherwise the input is returned when it
        already has the right dtype and layout).

    Returns
    -------
    numpy.ndarray
        A C-contiguous array of a float dtype.

    Raises
    ------
    TypeError
        If ``a`` is not numeric (strings, objects, complex numbers).
    ValueError
        If ``a`` has the wrong number of dimensions, or holds NaN or infinity
        and ``allow_nonfinite`` is False.
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"{name} must hold real numbers, got an array of dtype {arr.dtype}; "
            "convert it with np.asarray(..., dtype=np.float32)"
        )
    if dtype is not None:
        target = check_dtype(dtype)
    elif arr.dtype in FLOAT_DTYPES:
        target = arr.dtype
    else:
        target = np.dtype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        shape_hint = {1: "(n,)", 2: "(n_samples, n_features)"}.get(ndim, f"{ndim}-D")
        extra = ""
        if ndim == 2 and arr.ndim == 1:
            extra = "; reshape a single sample with x.reshape(1, -1)"
        raise ValueError(
            f"{name} must be a {ndim}-D array of shape {shape_hint}, "
            f"got {arr.ndim}-D array of shape {arr.shape}{extra}"
        )
    out = np.array(arr, dtype=target, order="C", copy=True) if copy else np.ascontiguousarray(arr, dtype=target)
    if not allow_nonfinite and out.size:
        finite_range(out, name)
    return out


def finite_range(a: np.ndarray, name: str) -> Tuple[float, float]:
    """``(min, max)`` of a non-empty float array, which must be finite.

    Two reductions and no temporary: a NaN propagates into the minimum and an
    infinity shows in the minimum or the maximum, so this is also the finiteness
    check (cheaper than ``np.isfinite(a).all()``), and callers that need the range
    get it for free.

    Raises
    ------
    ValueError
        If ``a`` holds NaN or infinity (the message gives the first such index).
    """
    lo, hi = float(a.min()), float(a.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = np.argwhere(~np.isfinite(a))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(
            f"{name} contains NaN or infinity (first at index {where}); "
            "remove or impute non-finite values first"
        )
    return lo, hi


_BOUNDS_HELP = ("output_bounds must be 'auto' (the range of the training data), None (no clipping) or a pair "
                "(low, high) of numbers with low < high, either of which may be None for no bound, e.g. (0, 1)")


def check_output_bounds(value: Any):
    """Validate an ``output_bounds`` value: "auto", None, or ``(low, high)`` as floats.

    A None side of a pair becomes -inf / inf. Shared by the estimator and the run
    configuration, which turns the ValueError into its own ConfigError.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value == "auto":
            return "auto"
        raise ValueError(f"output_bounds={value!r} is not known: {_BOUNDS_HELP}")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"output_bounds={value!r}: {_BOUNDS_HELP}")
    out = []
    for v, inf in zip(value, (-math.inf, math.inf)):
        if v is None:
            out.append(inf)
        elif isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or math.isnan(v):
            raise ValueError(f"output_bounds={value!r}: {_BOUNDS_HELP}")
        else:
            out.append(float(v))
    if not out[0] < out[1]:
        raise ValueError(f"output_bounds={value!r} has low >= high: {_BOUNDS_HELP}")
    return (out[0], out[1])


def check_index_array(indices: Any, name: str, m: int, *, ndim: int = 2) -> np.ndarray:
    """Coerce ``indices`` to a C-contiguous int64 array with every entry in ``[0, m)``."""
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=INDEX_DTYPE)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= m:
            raise ValueError(
                f"{name} must lie in [0, {m}) (the number of rows/units), "
                f"found values from {lo} to {hi}"
            )
    return arr


def check_k(k: Any, m: int, *, name: str = "k", m_name: str = "m") -> int:
    """Return ``k`` as an int, or raise unless it is an integer with ``1 <= k <= m``."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {k!r}")
    k = int(k)
    if not 1 <= k <= m:
        raise ValueError(f"{name}={k} must be between 1 and {m_name}={m}")
    return k


class ThreadCountWarning(RuntimeWarning):
    """A requested thread count was larger than the CPUs this process may use and was reduced.

    Issued by :func:`check_n_threads`. Filter it with
    ``warnings.filterwarnings("ignore", category=ThreadCountWarning)`` when a
    model saved on a larger machine is expected to run on a smaller one.
    """


def available_cpus() -> int:
    """Number of CPUs this process may run on (its affinity mask), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:  # pragma: no cover - affinity not readable on this platform
            pass
    return max(1, os.cpu_count() or 1)


def _caller_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` that points at the first frame outside ksparse."""
    frame: Optional[types.FrameType] = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != "ksparse" and not name.startswith("ksparse."):
            return level
        frame = frame.f_back
        level += 1
    return 1  # pragma: no cover - always called from outside in the end


def check_n_threads(n_threads: Any) -> int:
    """Return the thread count to hand to the compiled kernels.

    Every thread count given to a kernel passes through here, so this is the one
    bound on it: a count larger than the number of CPUs the process may use
    (``os.sched_getaffinity``) is reduced to that number with a
    :class:`ThreadCountWarning` (more threads than CPUs only add contention, and
    huge counts crash the OpenMP runtime), so that a model saved on a large
    machine still runs on a small one.

    Parameters
    ----------
    n_threads : int or None
        A positive integer, or -1 (or None) for every CPU the process may use.

    Returns
    -------
    int
        Between 1 and :func:`available_cpus`.

    Raises
    ------
    TypeError
        If ``n_threads`` is not an integer (booleans, floats and strings are refused).
    ValueError
        If ``n_threads`` is 0 or negative other than -1.

    Warns
    -----
    ThreadCountWarning
        When ``n_threads`` exceeds the available CPUs and is reduced.
    """
    if n_threads is None:
        return available_cpus()
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be a positive integer or -1 (all cores), got {n_threads!r}")
    n = int(n_threads)
    if n == 1:  # the default: no system call
        return 1
    if n == -1:
        return available_cpus()
    if n < 1:
        raise ValueError(f"n_threads={n} must be a positive integer, or -1 for all cores")
    cpus = available_cpus()
    if n > cpus:
        warnings.warn(
            f"n_threads={n} is more than the {cpus} CPU(s) this process may use; using {cpus} "
            "(pass n_threads=-1 to use every available CPU without this warning)",
            ThreadCountWarning,
            stacklevel=_caller_stacklevel(),
        )
        return cpus
    return n


def check_backend(backend: Any) -> str:
    """Return ``backend`` if it is 'compiled' or 'numpy', else raise ValueError."""
    if backend not in ("compiled", "numpy"):
        raise ValueError(f"backend={backend!r} is not known; use 'compiled' or 'numpy'")
    return backend


def check_same_dtype(**arrays: np.ndarray) -> np.dtype:
    """Raise unless every array has the same dtype; return it."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise TypeError(f"arrays must share one float dtype, got {listing}; cast them with .astype()")
    return next(iter(dtypes.values()))


def check_out(out: Any, name: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Check a caller-supplied output array (C-contiguous, writeable, exact shape and dtype)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"{name} must have shape {tuple(shape)} and dtype {dtype}, got {out.shape} {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a C-contiguous, writeable array")
    return out


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value its rule refuses (a ValueError and a TypeError, as in scikit-learn)."""


def check_int(value: Any, name: str, lo: Optional[int] = None, hi: Optional[int] = None, *,
              hi_name: Optional[str] = None) -> int:
    """Return ``value`` as an int, or raise unless it is an integer in ``[lo, hi]``.

    Booleans, floats (even 3.0) and strings are refused. ``hi_name`` names the
    parameter the upper bound comes from (``k=9 must be between 1 and n_hidden=8``).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{name}={value!r} must be an integer{_int_range(lo, hi, hi_name)}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        kind = "" if lo is not None and hi is not None else " an integer"
        raise InvalidParameterError(f"{name}={v} must be{kind}{_int_range(lo, hi, hi_name)}")
    return v


def _int_range(lo: Optional[int], hi: Optional[int], hi_name: Optional[str]) -> str:
    if lo is not None and hi is not None:
        return f" between {lo} and {hi_name + '=' if hi_name else ''}{hi}"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def check_real(value: Any, name: str, lo: Optional[float] = None, hi: Optional[float] = None, *,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a float, or raise unless it is a finite real number in the range.

    The range is ``[lo, hi]``, with ``lo_open`` / ``hi_open`` excluding an end.
    """
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)
    v = float(value) if ok else math.nan
    ok = ok and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        if lo is not None and hi is not None:
            what = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo is not None:
            what = f"a finite number {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            what = f"a finite number {'<' if hi_open else '<='} {hi:g}"
        else:
            what = "a finite number"
        raise InvalidParameterError(f"{name}={value!r} must be {what}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as a bool, or raise unless it is True or False (a numpy bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name}={value!r} must be True or False")
    return bool(value)


def check_choice(value: Any, name: str, choices: Tuple[str, ...]) -> str:
    """Return ``value`` unless it is not one of ``choices`` (the message lists them)."""
    if not isinstance(value, str) or value not in choices:
        use = " or ".join(repr(c) for c in choices) if len(choices) == 2 else f"one of {list(choices)}"
        raise InvalidParameterError(f"{name}={value!r} is not known; use {use}")
    return value
