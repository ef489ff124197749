"""The training engine: one epoch loop for every model of the library.

:class:`ksparse.KSparseAutoencoder` and :class:`ksparse.layers.Network` both train
through :func:`run_epochs`. The loop owns what every run shares: shuffled
mini-batches (:class:`ArrayBatches`), the learning-rate schedule, the training
position (epoch and step, for exact resumption), divergence detection with rollback
to the last good weights, the per-epoch history, validation and early stopping, the
progress bar and the per-epoch callback. What a model does with one batch is its
*step*, a function::

    step(batch, step_number, lr) -> (loss, figures)

where ``batch`` is a tuple of arrays (views into reused buffers), ``loss`` the
batch's mean loss (a non-finite value stops training) and ``figures`` a dict of
per-sample means to average over the epoch (for example ``{"mse": ..., "l0": ...}``).
The step itself is chosen by the model, once per run.

Epochs are numbered from 0: ``history["epoch"]`` holds 0, 1, ... and the callback
receives the number of the epoch that has just ended.
"""

from __future__ import annotations

import math
import resource
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, MutableMapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["DivergenceError", "ArrayBatches", "run_epochs", "new_position", "check_position", "check_history",
           "rng_to_json", "rng_from_json", "training_state", "read_training_state", "lr_schedule",
           "check_fields", "is_int"]

#: step(batch, step_number, lr) -> (loss, per-sample mean figures)
Step = Callable[[Tuple[np.ndarray, ...], int, float], Tuple[float, Mapping[str, float]]]


class DivergenceError(RuntimeError, FloatingPointError):
    """Training produced a non-finite loss or weights; the last good weights are kept.

    A ``RuntimeError`` and a ``FloatingPointError``, so code that caught either before
    still catches it.

    Examples
    --------
    >>> from ksparse.engine import DivergenceError
    >>> issubclass(DivergenceError, FloatingPointError)
    True
    """


def new_position(n_samples: int = 0, split_seed: int = 0) -> Dict[str, Any]:
    """A training position at the start of a run (saved in checkpoints).

    Keys: ``epoch`` and ``step`` (counts done), ``split_seed`` (the validation split's
    seed), ``best_val`` and ``bad_epochs`` (early stopping), ``n_samples`` (the data the
    run trains on, checked on resume) and ``done`` (early stopping ended the run).

    Parameters
    ----------
    n_samples : int, default 0
        Number of samples the run trains on.
    split_seed : int, default 0
        Seed of the validation split.

    Returns
    -------
    position : dict
        A fresh position, epoch and step 0.

    Examples
    --------
    >>> from ksparse.engine import new_position
    >>> pos = new_position(n_samples=100)
    >>> pos["epoch"], pos["step"], pos["n_samples"], pos["done"]
    (0, 0, 100, False)
    """
    return {"epoch": 0, "step": 0, "split_seed": int(split_seed), "best_val": None, "bad_epochs": 0,
            "n_samples": int(n_samples), "done": False}


def is_int(v: Any) -> bool:
    """True for a Python integer that is not a bool (a JSON integer)."""
    return isinstance(v, int) and not isinstance(v, bool)


#: the training position's keys: key -> (check, what it must be)
_POSITION_RULES: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "epoch": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "step": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "split_seed": (lambda v: is_int(v) and 0 <= v < 2**63, "an integer in [0, 2**63)"),
    "best_val": (lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
                 "null or a number"),
    "bad_epochs": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "n_samples": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "done": (lambda v: isinstance(v, bool), "true or false"),
}


def check_position(state: Any) -> Dict[str, Any]:
    """Validate a training position read from a file; return a copy.

    Parameters
    ----------
    state : object
        The decoded JSON of a position, as :func:`new_position` makes them.

    Returns
    -------
    position : dict
        A copy of ``state``, every key checked.

    Raises
    ------
    ValueError
        Naming the key that is missing, unknown or of the wrong kind.

    Examples
    --------
    >>> from ksparse.engine import check_position, new_position
    >>> check_position(new_position())["epoch"]
    0
    >>> check_position(dict(new_position(), epoch=-1))
    Traceback (most recent call last):
    ...
    ValueError: training state epoch=-1 must be an integer >= 0
    """
    return check_fields(state, _POSITION_RULES, "training state")


def check_fields(obj: Any, rules: Mapping[str, Tuple[Callable[[Any], bool], str]], what: str) -> Dict[str, Any]:
    """Validate a JSON object read from a file against ``rules`` (key -> (check, description)).

    The object must have exactly the rules' keys and each value must pass its check;
    returns a copy.

    Raises
    ------
    ValueError
        ``"<what> has missing keys ... / unknown keys ..."`` or ``"<what> key=value must
        be <description>"``.

    Examples
    --------
    >>> from ksparse.engine import check_fields
    >>> check_fields({"n": 3}, {"n": (lambda v: v > 0, "positive")}, "counter")
    {'n': 3}
    """
    if not isinstance(obj, dict):
        raise ValueError(f"the {what} must be a JSON object")
    missing = sorted(set(rules) - set(obj))
    extra = sorted(set(obj) - set(rules))
    if missing or extra:
        raise ValueError(f"the {what} has missing keys {missing} / unknown keys {extra}")
    for key, (ok, description) in rules.items():
        if not ok(obj[key]):
            raise ValueError(f"{what} {key}={obj[key]!r} must be {description}")
    return dict(obj)


class ArrayBatches:
    """Shuffled mini-batches of in-memory arrays that share their first axis.

    Each epoch draws one permutation from the run's generator and gathers the rows of
    each batch into buffers allocated once, so a step receives C-contiguous arrays and
    nothing of size (B, .) is allocated per step.

    Parameters
    ----------
    arrays : sequence of ndarray
        Arrays with the same number of rows (e.g. ``(X,)`` or ``(X, Y)``).
    batch_size : int
        Rows per batch; the last batch of an epoch may be smaller. Clipped to the
        number of rows.
    shuffle : bool, default True
        Draw a permutation each epoch; False takes the rows in order, as slices of
        the arrays themselves (no copy; ``partial_fit``).

    Raises
    ------
    ValueError
        When the arrays have different numbers of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.engine import ArrayBatches
    >>> batches = ArrayBatches((np.arange(10.0).reshape(5, 2),), batch_size=2)
    >>> batches.steps_per_epoch
    3
    >>> [b[0].shape for b in batches.epoch(np.random.default_rng(0))]
    [(2, 2), (2, 2), (1, 2)]
    """

    def __init__(self, arrays: Sequence[np.ndarray], batch_size: int, shuffle: bool = True) -> None:
        self.arrays = tuple(arrays)
        self.n_samples = int(self.arrays[0].shape[0])
        if any(a.shape[0] != self.n_samples for a in self.arrays):
            raise ValueError("the arrays of a batch source must have the same number of rows")
        self.batch_size = min(int(batch_size), self.n_samples)
        self.shuffle = bool(shuffle)
        self._buffers = tuple(np.empty((self.batch_size,) + a.shape[1:], dtype=a.dtype) for a in self.arrays) \
            if self.shuffle else ()

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass (the last may be short).

        Returns
        -------
        n : int
            ``ceil(n_samples / batch_size)``.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.engine import ArrayBatches
        >>> ArrayBatches((np.zeros((7, 1)),), batch_size=3).steps_per_epoch
        3
        """
        return -(-self.n_samples // self.batch_size)

    def epoch(self, rng: np.random.Generator) -> Iterator[Tuple[np.ndarray, ...]]:
        """Yield the batches of one pass (views into reused buffers, or slices in order).

        Parameters
        ----------
        rng : numpy Generator
            Draws the epoch's permutation (unused without shuffling).

        Yields
        ------
        batch : tuple of ndarray
            One array per source array. With shuffling they are reused buffers:
            copy a batch to keep it past the next one.

        Examples
        --------
        >>> import numpy as np
        >>> from ksparse.engine import ArrayBatches
        >>> X = np.arange(4.0).reshape(4, 1)
        >>> [b[0].ravel().tolist() for b in ArrayBatches((X,), 2, shuffle=False).epoch(None)]
        [[0.0, 1.0], [2.0, 3.0]]
        """
        B = self.batch_size
        if not self.shuffle:
            for s in range(0, self.n_samples, B):
                yield tuple(a[s:s + B] for a in self.arrays)
            return
        perm = rng.permutation(self.n_samples)
        for s in range(self.steps_per_epoch):
            sel = perm[s * B:(s + 1) * B]
            out = []
            for a, buf in zip(self.arrays, self._buffers):
                view = buf[: len(sel)]
                np.take(a, sel, axis=0, out=view)
                out.append(view)
            yield tuple(out)


def lr_schedule(name: str, total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier of a run (:func:`ksparse.schedules.make_schedule`).

    A warm-up may be added to any schedule: "constant" with a warm-up is the "warmup"
    schedule, and "warmup" without one is "constant". The estimator and
    ``Network.train`` both build their schedule here.

    Parameters
    ----------
    name : {"constant", "warmup", "linear", "cosine"}
    total_steps : int
        Optimizer steps of the run (at least 1 is used).
    warmup_steps : int
        Steps of linear warm-up (at most ``total_steps``).

    Returns
    -------
    callable
        ``schedule(step) -> multiplier``.

    Examples
    --------
    >>> from ksparse.engine import lr_schedule
    >>> s = lr_schedule("constant", 10, 2)
    >>> [round(s(t), 2) for t in (0, 1, 5)]
    [0.5, 1.0, 1.0]
    """
    from ksparse.schedules import make_schedule

    total_steps = max(1, int(total_steps))
    warmup_steps = min(int(warmup_steps), total_steps)
    if name == "constant" and warmup_steps > 0:
        name = "warmup"
    elif name == "warmup" and warmup_steps == 0:
        name = "constant"
    return make_schedule(name, total_steps=total_steps, warmup_steps=warmup_steps)


def _bar_figures(figures: Mapping[str, Any]) -> Dict[str, str]:
    """What the progress bar shows after an epoch: the loss, the MSE and k (while it anneals)."""
    shown = {"loss": f"{figures['loss']:.4g}"}
    if "mse" in figures:
        shown["mse"] = f"{figures['mse']:.4g}"
    if "k" in figures:
        shown["k"] = f"{figures['k']} (annealing)" if figures.get("_annealing") else str(figures["k"])
    return shown


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_epochs(
    batches: ArrayBatches,
    step: Step,
    *,
    params: Mapping[str, np.ndarray],
    position: MutableMapping[str, Any],
    rng: np.random.Generator,
    end_epoch: int,
    history: MutableMapping[str, List[Any]],
    learning_rate: float,
    lr_at: Callable[[int], float] = lambda step: 1.0,
    on_epoch_end: Optional[Callable[[int, Dict[str, Any]], None]] = None,
    validate: Optional[Callable[[], Dict[str, float]]] = None,
    patience: Optional[int] = None,
    rollback: bool = True,
    on_divergence: Optional[Callable[[], None]] = None,
    callback: Optional[Callable[[Any, int], Any]] = None,
    owner: Any = None,
    verbose: bool = False,
    desc: str = "ksparse",
) -> None:
    """Train until ``position["epoch"] == end_epoch`` (or early stopping).

    Parameters
    ----------
    batches : ArrayBatches
        The training data.
    step : callable
        ``step(batch, step_number, lr) -> (loss, figures)``; see the module docstring.
    params : dict of str to ndarray
        The weights the step updates in place; they are restored to the end of the
        last good epoch when training diverges.
    position : dict
        The training position (:func:`new_position`), updated in place: ``epoch`` and
        ``step`` after each epoch and step, ``best_val``, ``bad_epochs`` and ``done``
        for early stopping.
    rng : numpy Generator
        Draws each epoch's permutation.
    end_epoch : int
        Train until this many epochs are done in all.
    history : dict of lists
        Appended to after each epoch: ``epoch``, ``loss``, each figure of the step,
        what ``on_epoch_end`` adds, the figures of ``validate``, ``time`` (seconds)
        and ``peak_rss_mb``.
    learning_rate : float
        The base learning rate; a step gets ``learning_rate * lr_at(step_number)``.
    lr_at : callable, optional
        The learning-rate multiplier of a step number (constant 1 by default).
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, figures)`` before the figures go to the history; it may
        add figures (a dict it changes in place).
    validate : callable, optional
        Returns the validation figures after each epoch, a dict with at least
        ``val_loss`` (the figure early stopping watches); they go to the history.
    patience : int, optional
        With ``validate``: stop when the validation loss has not improved for this
        many epochs.
    rollback : bool, default True
        Keep a copy of the weights at the end of each epoch, restored on divergence,
        and check them for NaN or infinity after each epoch. False (``partial_fit``)
        relies on a step leaving the weights unchanged when its loss is not finite.
    on_divergence : callable, optional
        Called after the weights are restored and before DivergenceError is raised.
    callback : callable, optional
        ``callback(owner, epoch)`` after each epoch.
    owner : object
        What the callback receives.
    verbose : bool
        Show a progress bar over the epochs.
    desc : str
        The progress bar's label.

    Raises
    ------
    DivergenceError
        When a step's loss or the weights at the end of an epoch are not finite; the
        weights of the last good epoch are restored first.

    Examples
    --------
    Fit the mean of some data by gradient descent on the squared error:

    >>> import numpy as np
    >>> from ksparse.engine import ArrayBatches, new_position, run_epochs
    >>> X = np.random.default_rng(0).normal(3.0, 1.0, (64, 2))
    >>> w = np.zeros(2)
    >>> def step(batch, step_number, lr):
    ...     D = w - batch[0]
    ...     w[...] -= lr * D.mean(axis=0)
    ...     return float((D ** 2).mean()), {}
    >>> history = {}
    >>> pos = new_position(n_samples=len(X))
    >>> run_epochs(ArrayBatches((X,), 16), step, params={"w": w}, position=pos,
    ...            rng=np.random.default_rng(0), end_epoch=20, history=history, learning_rate=0.5)
    >>> pos["epoch"], len(history["loss"]), bool(np.allclose(w, X.mean(axis=0), atol=0.5))
    (20, 20, True)
    """
    good = {name: p.copy() for name, p in params.items()} if rollback else {}
    bar = None
    if verbose:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        bar = tqdm(total=end_epoch, initial=position["epoch"], desc=desc, unit="epoch")

    def diverged(what: str) -> None:
        for name, p in good.items():
            params[name][...] = p
        if on_divergence is not None:
            on_divergence()
        kept = "of the last good epoch" if rollback else "from before this batch"
        raise DivergenceError(
            f"training diverged at epoch {position['epoch']}, step {position['step']}: {what}. The weights "
            f"{kept} were kept. Lower the learning rate (now {learning_rate:g}) or scale the data to a "
            "smaller range."
        )

    try:
        while position["epoch"] < end_epoch and not position["done"]:
            epoch = position["epoch"]
            t0 = time.perf_counter()
            sums: Dict[str, float] = {"loss": 0.0}
            for batch in batches.epoch(rng):
                step_no = position["step"]
                with np.errstate(over="ignore", invalid="ignore"):
                    loss, figures = step(batch, step_no, learning_rate * lr_at(step_no))
                if not math.isfinite(loss):
                    diverged(f"the loss is {loss}")
                position["step"] = step_no + 1
                w = len(batch[0])
                sums["loss"] += loss * w
                for key, value in figures.items():
                    sums[key] = sums.get(key, 0.0) + value * w
            if rollback and not all(np.isfinite(p).all() for p in params.values()):
                diverged("the weights became non-finite")
            n = batches.n_samples
            epoch_figures: Dict[str, Any] = {"epoch": epoch}
            epoch_figures.update({key: value / n for key, value in sums.items()})
            if on_epoch_end is not None:
                on_epoch_end(epoch, epoch_figures)
            if validate is not None:
                val_figures = validate()
                epoch_figures.update(val_figures)
                val = float(val_figures["val_loss"])
                if patience is not None:
                    if position["best_val"] is None or val < position["best_val"]:
                        position["best_val"] = val
                        position["bad_epochs"] = 0
                    else:
                        position["bad_epochs"] += 1
                        if position["bad_epochs"] >= patience:
                            position["done"] = True
            epoch_figures["time"] = time.perf_counter() - t0
            epoch_figures["peak_rss_mb"] = _peak_rss_mb()
            for key, value in epoch_figures.items():
                if not key.startswith("_"):  # "_name": for the progress bar only
                    history.setdefault(key, []).append(value)
            for key, values in history.items():  # a figure this epoch lacks (e.g. no validation)
                if key not in epoch_figures:
                    values.append(math.nan)
            position["epoch"] = epoch + 1
            for name, p in good.items():
                p[...] = params[name]
            if bar is not None:
                bar.update(1)
                bar.set_postfix(_bar_figures(epoch_figures))
            if callback is not None:
                callback(owner, epoch)
    finally:
        if bar is not None:
            bar.close()


def check_history(history: Any) -> Dict[str, List[float]]:
    """Validate a stored history (from a file): a dict of lists of numbers; return a copy.

    Parameters
    ----------
    history : object
        The decoded JSON of a ``history_``.

    Returns
    -------
    history : dict of str to list
        A copy with each list copied.

    Raises
    ------
    ValueError
        Naming the entry that is not a list of numbers.

    Examples
    --------
    >>> from ksparse.engine import check_history
    >>> check_history({"epoch": [0, 1], "loss": [0.5, 0.25]})
    {'epoch': [0, 1], 'loss': [0.5, 0.25]}
    """
    if not isinstance(history, dict):
        raise ValueError("history_ must be a JSON object of lists")
    out: Dict[str, List[float]] = {}
    for key, values in history.items():
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"history_[{key!r}] must be a list of numbers")
        out[key] = list(values)
    return out


# ------------------------------------------------------------------ generator state
def rng_to_json(rng: np.random.Generator) -> Dict[str, Any]:
    """A PCG64 generator's state with its big integers as decimal strings (JSON-safe).

    Parameters
    ----------
    rng : numpy Generator
        A generator on a PCG64 bit generator (``np.random.default_rng``'s).

    Returns
    -------
    state : dict
        The state, ready for ``json.dumps``.

    Raises
    ------
    ValueError
        For another bit generator.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from ksparse.engine import rng_from_json, rng_to_json
    >>> rng = np.random.default_rng(0)
    >>> text = json.dumps(rng_to_json(rng))
    >>> rng_from_json(json.loads(text)).random() == rng.random()
    True
    """
    state = rng.bit_generator.state
    if state.get("bit_generator") != "PCG64":
        raise ValueError(f"only PCG64 generators can be saved, got {state.get('bit_generator')}")
    return {
        "bit_generator": "PCG64",
        "state": {"state": str(int(state["state"]["state"])), "inc": str(int(state["state"]["inc"]))},
        "has_uint32": str(int(state["has_uint32"])),
        "uinteger": str(int(state["uinteger"])),
    }


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"the random generator state's {name} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the random generator state's {name} must be an integer, got {value!r}") from None


def rng_from_json(d: Any) -> np.random.Generator:
    """Rebuild a generator saved by :func:`rng_to_json` (or by ksparse 0.1, either layout).

    Parameters
    ----------
    d : object
        The decoded JSON of a generator state.

    Returns
    -------
    rng : numpy Generator
        A generator that continues exactly where the saved one stopped.

    Raises
    ------
    ValueError
        If the state is not a well-formed PCG64 state.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.engine import rng_from_json, rng_to_json
    >>> rng = np.random.default_rng(1)
    >>> int(rng_from_json(rng_to_json(rng)).integers(100)) == int(rng.integers(100))
    True
    """
    if not isinstance(d, dict) or d.get("bit_generator") != "PCG64":
        raise ValueError("the random generator state is not a PCG64 state")
    inner = d.get("state")
    if isinstance(inner, dict):  # {"state": {"state": s, "inc": i}, ...}
        s, inc = inner.get("state"), inner.get("inc")
    else:  # ksparse 0.1 networks: {"state": s, "inc": i, ...}
        s, inc = inner, d.get("inc")
    state: Any = {
        "bit_generator": "PCG64",
        "state": {"state": _as_int(s, "state"), "inc": _as_int(inc, "inc")},
        "has_uint32": _as_int(d.get("has_uint32"), "has_uint32"),
        "uinteger": _as_int(d.get("uinteger"), "uinteger"),
    }
    bg = np.random.PCG64()
    try:
        bg.state = state
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"the random generator state is damaged ({exc})") from None
    return np.random.Generator(bg)


# ------------------------------------------------------------------ checkpoints
def training_state(position: Mapping[str, Any], rng: Optional[np.random.Generator], optimizer_name: Optional[str],
                   optimizer_state: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """What a checkpoint stores of a run: ``(meta, arrays)``.

    ``meta`` is the JSON ``training`` entry: ``state`` (the position), ``rng`` (the
    generator, :func:`rng_to_json`) and ``optimizer`` (``name`` and the non-array
    ``scalars`` of its state dict); ``arrays`` holds the state dict's arrays under
    ``"optim.<key>"``. Every model writes this one layout.

    Parameters
    ----------
    position : dict
        The training position (:func:`new_position`).
    rng : numpy Generator or None
        The run's generator, or None when there is none to save.
    optimizer_name : str or None
        The optimizer's name, or None when no optimizer is saved.
    optimizer_state : dict
        The optimizer's ``state_dict()``.

    Returns
    -------
    meta : dict
        The JSON ``training`` entry.
    arrays : dict of str to ndarray
        The optimizer's arrays, keyed ``"optim.<key>"``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.engine import new_position, training_state
    >>> meta, arrays = training_state(new_position(), np.random.default_rng(0), "sgd",
    ...                               {"step": 3, "m.W": np.zeros(2)})
    >>> sorted(meta), sorted(arrays), meta["optimizer"]
    (['optimizer', 'rng', 'state'], ['optim.m.W'], {'name': 'sgd', 'scalars': {'step': 3}})
    """
    arrays: Dict[str, np.ndarray] = {}
    scalars: Dict[str, Any] = {}
    for key, value in optimizer_state.items():
        if isinstance(value, np.ndarray):
            arrays["optim." + key] = value
        else:
            scalars[key] = value.item() if isinstance(value, np.generic) else value
    meta = {"state": dict(position), "rng": rng_to_json(rng) if rng is not None else None,
            "optimizer": None if optimizer_name is None else {"name": optimizer_name, "scalars": scalars}}
    return meta, arrays


def read_training_state(meta: Any, arrays: Mapping[str, np.ndarray]
                        ) -> Tuple[Dict[str, Any], Optional[np.random.Generator], Optional[str], Dict[str, Any]]:
    """Read :func:`training_state`'s layout back: ``(position, rng, optimizer_name, state_dict)``.

    Everything is validated except the optimizer's state dict, which the optimizer's
    own ``load_state_dict`` checks. The name is None when no optimizer was saved.

    Parameters
    ----------
    meta : object
        The decoded JSON ``training`` entry.
    arrays : dict of str to ndarray
        The file's tensors; those keyed ``"optim.<key>"`` are the optimizer's.

    Returns
    -------
    position : dict
        The checked training position.
    rng : numpy Generator or None
        The restored generator, or None when none was saved.
    optimizer_name : str or None
        The optimizer's name, or None when none was saved.
    state_dict : dict
        The optimizer's state, for its ``load_state_dict``.

    Raises
    ------
    ValueError
        Naming what is malformed.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.engine import new_position, read_training_state, training_state
    >>> meta, arrays = training_state(new_position(), None, "sgd", {"step": 3, "m.W": np.zeros(2)})
    >>> position, rng, name, state = read_training_state(meta, arrays)
    >>> rng is None, name, sorted(state)
    (True, 'sgd', ['m.W', 'step'])
    """
    if not isinstance(meta, dict):
        raise ValueError("the checkpoint's 'training' metadata is not an object")
    position = check_position(meta.get("state"))
    rng = rng_from_json(meta["rng"]) if meta.get("rng") is not None else None
    opt = meta.get("optimizer")
    if opt is None:
        if any(k.startswith("optim.") for k in arrays):
            raise ValueError("the checkpoint holds optimizer tensors but no optimizer entry")
        return position, rng, None, {}
    if not isinstance(opt, dict) or not isinstance(opt.get("name"), str) or not isinstance(opt.get("scalars"), dict):
        raise ValueError("the checkpoint's optimizer entry must be an object with a name and scalars")
    state = {k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")}
    state.update(opt["scalars"])
    return position, rng, opt["name"], state
