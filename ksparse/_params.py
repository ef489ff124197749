"""The parameter table of :class:`ksparse.KSparseAutoencoder`: one place for every rule.

Each :class:`Param` states a parameter's name, default, allowed values and a one-line
description. Everything that takes these parameters reads this table:

- the estimator's validation (:func:`resolve`, called by ``fit`` and ``partial_fit``),
- the run configuration (:class:`ksparse.config.ModelConfig` is built from it, and a
  configuration is checked by :func:`resolve`),
- the command line's help (``ksparse train --help``),
- the estimator's docstring and ``docs/parameters.md`` (:func:`numpydoc_section`,
  :func:`markdown_table`; a test keeps the file in step with the table).

A rule may depend on parameters listed before it (``k`` on ``n_hidden``): it receives
the values resolved so far. Every refusal is :class:`InvalidParameterError`, a
``ValueError`` and a ``TypeError``, naming the parameter and what is allowed.
"""

from __future__ import annotations

import dataclasses
import numbers
import textwrap
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ksparse._validation import (InvalidParameterError, check_bool, check_choice, check_dtype, check_int,
                                 check_n_threads, check_output_bounds, check_real)

__all__ = ["Param", "PARAMS", "InvalidParameterError", "resolve", "defaults", "numpydoc_section",
           "markdown_table", "SCHEDULES", "OPTIMIZERS", "SELECTIONS", "ACTIVATIONS"]

SCHEDULES = ("constant", "warmup", "linear", "cosine")
SELECTIONS = ("value", "abs")
ACTIVATIONS = ("linear", "sigmoid", "relu", "tanh", "leaky_relu", "elu", "swish", "gelu")


def _optimizer_names() -> Tuple[str, ...]:
    from ksparse.optim import OPTIMIZERS as rules

    return tuple(rules) + tuple("sparse_" + name for name in rules)


OPTIMIZERS = _optimizer_names()


@dataclasses.dataclass(frozen=True)
class Param:
    """One constructor parameter.

    Attributes
    ----------
    name : str
        The constructor argument's name.
    default : object
        Its default value.
    allowed : str
        What is allowed, for people (``"integer >= 1"``, ``"one of ..."``).
    doc : str
        What it does, one to three lines.
    rule : callable
        ``rule(value, resolved_so_far) -> resolved value``; raises
        InvalidParameterError.
    annotation : object
        The type a configuration file's value has (for :class:`ModelConfig`).

    Examples
    --------
    >>> from ksparse._params import PARAMS
    >>> p = PARAMS[0]
    >>> p.name, p.default
    ('n_hidden', 256)
    """

    name: str
    default: Any
    allowed: str
    doc: str
    rule: Callable[[Any, Dict[str, Any]], Any]
    annotation: Any = Any


# ------------------------------------------------------------------ rules that span parameters
def _k(value: Any, r: Dict[str, Any]) -> int:
    return check_int(value, "k", 1, r["n_hidden"], hi_name="n_hidden")


def _k_start(value: Any, r: Dict[str, Any]) -> int:
    if value is None:
        return min(r["n_hidden"], 4 * r["k"])
    ks = check_int(value, "k_start", 1)
    if not r["k"] <= ks <= r["n_hidden"]:
        raise InvalidParameterError(f"k_start={ks} must be between k={r['k']} and n_hidden={r['n_hidden']}")
    return ks


def _auxk_k(value: Any, r: Dict[str, Any]) -> int:
    if value is None:
        return min(r["n_hidden"], 2 * r["k"])
    return check_int(value, "auxk_k", 1, r["n_hidden"], hi_name="n_hidden")


def _n_epochs(value: Any, r: Dict[str, Any]) -> Any:
    if isinstance(value, str) and value == "auto":
        return "auto"
    try:
        return check_int(value, "n_epochs", 1)
    except InvalidParameterError:
        raise InvalidParameterError(f"n_epochs={value!r} must be an integer >= 1 or 'auto'") from None


def _encoder_decay(value: Any, r: Dict[str, Any]) -> float:
    decay = check_real(value, "encoder_decay", 0.0)
    if r["learning_rate"] * decay >= 1.0:  # the fired encoder rows are scaled by 1 - lr * decay each step
        raise InvalidParameterError(
            f"encoder_decay={value!r} with learning_rate={r['learning_rate']!r} would scale the encoder rows by "
            f"1 - lr * encoder_decay = {1.0 - r['learning_rate'] * decay:.3g} <= 0 each step; keep learning_rate "
            "* encoder_decay well below 1 (the default is 0.01 * 0.3), or set encoder_decay=0 to turn the decay off")
    return decay


def _early_stopping(value: Any, r: Dict[str, Any]) -> bool:
    on = check_bool(value, "early_stopping")
    if on and r["validation_fraction"] == 0.0:
        raise InvalidParameterError(
            "early_stopping=True needs a validation split: set validation_fraction > 0 (e.g. 0.1)")
    return on


def _activation(value: Any, r: Dict[str, Any]) -> Any:
    from ksparse.activations import get_activation

    try:
        return get_activation(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"activation={value!r} is not allowed: {exc}") from None


def _random_state(value: Any, r: Dict[str, Any]) -> Any:
    if value is None or isinstance(value, (np.random.Generator, np.random.RandomState)):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidParameterError(
            f"random_state={value!r} must be None, a non-negative integer or a numpy random generator")
    return int(value)


def _dtype(value: Any, r: Dict[str, Any]) -> np.dtype:
    try:
        return check_dtype(value)
    except TypeError as exc:
        raise InvalidParameterError(str(exc)) from None


def _n_threads(value: Any, r: Dict[str, Any]) -> int:
    try:
        return check_n_threads(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(str(exc)) from None


def _output_bounds(value: Any, r: Dict[str, Any]) -> Any:
    try:
        return check_output_bounds(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(str(exc)) from None


def _int(name: str, lo: int = 1) -> Callable[[Any, Dict[str, Any]], int]:
    return lambda value, r: check_int(value, name, lo)


def _real(name: str, lo: float = 0.0, hi: Optional[float] = None, lo_open: bool = False,
          hi_open: bool = False) -> Callable[[Any, Dict[str, Any]], float]:
    return lambda value, r: check_real(value, name, lo, hi, lo_open=lo_open, hi_open=hi_open)


def _flag(name: str) -> Callable[[Any, Dict[str, Any]], bool]:
    return lambda value, r: check_bool(value, name)


def _choice(name: str, choices: Tuple[str, ...]) -> Callable[[Any, Dict[str, Any]], str]:
    return lambda value, r: check_choice(value, name, choices)


def _one_of(choices: Tuple[str, ...]) -> str:
    return "one of " + ", ".join(f'"{c}"' for c in choices)


PARAMS: Tuple[Param, ...] = (
    Param("n_hidden", 256, "integer >= 1", "Number of hidden units (dictionary size) m.", _int("n_hidden"), int),
    Param("k", 32, "integer in [1, n_hidden]", "Number of units kept per sample.", _k, int),
    Param("activation", "relu", _one_of(ACTIVATIONS) + " (or a dict with parameters)",
          "Activation of the encoder's pre-activations; for non-decreasing ones the top k are chosen on the "
          "pre-activations.", _activation, Any),
    Param("selection", "value", _one_of(SELECTIONS),
          "Keep the k largest activations, or the k largest in absolute value.", _choice("selection", SELECTIONS),
          str),
    Param("n_epochs", "auto", 'integer >= 1 or "auto"',
          'Full shuffled passes over the training data; "auto" trains for about 30,000 optimizer steps, '
          "at most 200 passes.", _n_epochs, Any),
    Param("batch_size", 32, "integer >= 1", "Samples per optimizer step.", _int("batch_size"), int),
    Param("optimizer", "sparse_adam", _one_of(OPTIMIZERS),
          'Update rule; "sparse_*" variants update only the units in the batch\'s code (lazy), and '
          '"adam" / "sparse_adam" run in the fused compiled step.', _choice("optimizer", OPTIMIZERS), str),
    Param("learning_rate", 1e-2, "finite number > 0", "Peak learning rate (reached after the warm-up).",
          _real("learning_rate", lo_open=True), float),
    Param("lr_schedule", "cosine", _one_of(SCHEDULES), "Learning-rate schedule over the whole run.",
          _choice("lr_schedule", SCHEDULES), str),
    Param("warmup_fraction", 0.05, "number in [0, 1)",
          "Fraction of the training steps used for a linear learning-rate warm-up.",
          _real("warmup_fraction", 0.0, 1.0, hi_open=True), float),
    Param("k_start", None, "null or integer in [k, n_hidden]",
          "Progressive sparsity: k starts here and decreases linearly to k; null means min(n_hidden, 4 k).",
          _k_start, Optional[int]),
    Param("k_anneal_fraction", 0.5, "number in [0, 1]",
          "Fraction of the training steps over which k decreases (0 disables the curriculum).",
          _real("k_anneal_fraction", 0.0, 1.0), float),
    Param("auxk_k", None, "null or integer in [1, n_hidden]",
          "Dead units used by the AuxK loss per sample; null means min(n_hidden, 2 k).", _auxk_k, Optional[int]),
    Param("auxk_coef", 0.0, "finite number >= 0", "Weight of the AuxK loss on dead units (0 disables it).",
          _real("auxk_coef"), float),
    Param("dead_samples", 5000, "integer >= 1",
          "A unit that has not fired in this many training samples counts as dead.", _int("dead_samples"), int),
    Param("dead_reset", False, "true or false",
          "Re-initialise dead units on badly reconstructed samples after each epoch of the first 80% of "
          "training.", _flag("dead_reset"), bool),
    Param("diversity_coef", 0.0, "finite number >= 0",
          "Weight of the decorrelation penalty on the decoder rows (O(m^2 n) per step).",
          _real("diversity_coef"), float),
    Param("encoder_decay", 0.3, "finite number >= 0 with learning_rate * encoder_decay < 1",
          "Decoupled weight decay (as AdamW) of the encoder rows of the units that fire in a batch; "
          "0 turns it off.", _encoder_decay, float),
    Param("normalize_decoder", True, "true or false",
          "Keep decoder rows at unit norm (the gradient's parallel component is removed).",
          _flag("normalize_decoder"), bool),
    Param("output_bounds", "auto", '"auto", null or [low, high]',
          'Clip the reconstruction: "auto" to the training data\'s range, null for no clip, or bounds '
          "(either may be null).", _output_bounds, Any),
    Param("clip_training", False, "true or false",
          "Train through the clip (the loss is that of the clipped output).", _flag("clip_training"), bool),
    Param("validation_fraction", 0.0, "number in [0, 1)",
          "Fraction of the samples held out for the validation figures (val_loss, val_mse).",
          _real("validation_fraction", 0.0, 1.0, hi_open=True), float),
    Param("early_stopping", False, "true or false (true needs validation_fraction > 0)",
          "Stop when the validation loss has not improved for `patience` epochs.", _early_stopping, bool),
    Param("patience", 5, "integer >= 1", "Epochs without improvement before early stopping.",
          _int("patience"), int),
    Param("n_threads", 1, "integer >= 1 or -1 (all cores)",
          "Threads of the compiled kernels and BLAS; more than the usable cores are reduced with a warning.",
          _n_threads, int),
    Param("dtype", "float32", '"float32" or "float64"', "Floating-point type of the weights and computations.",
          _dtype, str),
    Param("random_state", None, "null, integer >= 0 or a numpy generator",
          "Seed of the initialisation and shuffling; an integer makes training reproducible.", _random_state,
          Optional[int]),
    Param("verbose", False, "true or false", "Show a progress bar over the epochs.", _flag("verbose"), bool),
)

_BY_NAME: Dict[str, Param] = {p.name: p for p in PARAMS}


def defaults() -> Dict[str, Any]:
    """The default value of every parameter, in the table's order.

    Returns
    -------
    defaults : dict of str to object
        Parameter name to default value.

    Examples
    --------
    >>> from ksparse._params import defaults
    >>> defaults()["k"], defaults()["n_epochs"]
    (32, 'auto')
    """
    return {p.name: p.default for p in PARAMS}


def resolve(values: Mapping[str, Any]) -> Dict[str, Any]:
    """Check every parameter by the table's rules; return the resolved values.

    Parameters
    ----------
    values : mapping
        A value for each parameter of the table (missing ones take the default).

    Returns
    -------
    dict
        The resolved values under the parameters' names (``k_start`` and ``auxk_k``
        filled in, ``activation`` an activation object, ``dtype`` a numpy dtype,
        ``n_threads`` a positive count).

    Raises
    ------
    InvalidParameterError
        For an unknown name or a value its rule refuses; the message names it.

    Examples
    --------
    >>> resolve({"n_hidden": 100, "k": 20})["k_start"]
    80
    """
    unknown = sorted(set(values) - set(_BY_NAME))
    if unknown:
        raise InvalidParameterError(f"unknown parameters {unknown}; valid parameters are {list(_BY_NAME)}")
    r: Dict[str, Any] = {}
    for p in PARAMS:
        r[p.name] = p.rule(values.get(p.name, p.default), r)
    return r


def numpydoc_section() -> str:
    """The Parameters section of the estimator's docstring, from the table.

    Returns
    -------
    text : str
        A numpydoc ``Parameters`` section, not indented.

    Examples
    --------
    >>> from ksparse._params import numpydoc_section
    >>> print(numpydoc_section().splitlines()[2])
    n_hidden : integer >= 1, default 256
    """
    lines: List[str] = ["Parameters", "----------"]
    for p in PARAMS:
        default = f'"{p.default}"' if isinstance(p.default, str) else repr(p.default)
        lines.append(f"{p.name} : {p.allowed}, default {default}")
        lines.extend(textwrap.wrap(p.doc, width=84, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def markdown_table() -> str:
    """The table as Markdown (``docs/parameters.md``).

    Returns
    -------
    text : str
        A Markdown table, one row per parameter, ending in a newline.

    Examples
    --------
    >>> from ksparse._params import markdown_table
    >>> print(markdown_table().splitlines()[0])
    | parameter | default | allowed | what it does |
    """
    rows = ["| parameter | default | allowed | what it does |", "| --- | --- | --- | --- |"]
    for p in PARAMS:
        default = "null" if p.default is None else (str(p.default).lower() if isinstance(p.default, bool)
                                                      else str(p.default))
        rows.append(f"| `{p.name}` | `{default}` | {p.allowed} | {p.doc} |")
    return "\n".join(rows) + "\n"
