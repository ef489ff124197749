"""Run configuration: dataclasses checked on load, saved as YAML or JSON.

A run is described by a :class:`RunConfig` holding a :class:`ModelConfig` (the
estimator's constructor parameters) and a :class:`DataConfig` (what to train
on). Files are YAML or JSON; every key is checked, and a mistake is reported
with the key's dotted name, what is allowed and, for a misspelt key, the
nearest valid one::

    model:
      n_hidden: 100
      k: 20
    data:
      dataset: mnist
    output_dir: runs/k20
    seed: 0

Command-line overrides use dotted keys: ``--set model.k=30 --set data.limit=1000``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import json
import numbers
import os
import textwrap
import typing
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Optional, Union

__all__ = [
    "ConfigError",
    "ModelConfig",
    "DataConfig",
    "RunConfig",
    "load_config",
    "save_config",
    "apply_overrides",
    "field_docs",
]

PathLike = Union[str, "os.PathLike[str]"]

ACTIVATIONS = ("linear", "sigmoid", "relu", "tanh", "leaky_relu", "elu", "swish", "gelu")


class ConfigError(ValueError):
    """Raised for an unknown key or a bad value in a configuration; names the key."""


@dataclasses.dataclass
class ModelConfig:
    """Constructor parameters of :class:`ksparse.KSparseAutoencoder`.

    The field names and defaults are those of the estimator (a test keeps them
    equal to ``KSparseAutoencoder().get_params()``).
    """

    n_hidden: int = 256
    """Number of hidden units (latents), m."""
    k: int = 32
    """Number of units kept active per sample (the k of top-k)."""
    activation: Literal["linear", "sigmoid", "relu", "tanh", "leaky_relu", "elu", "swish", "gelu"] = "relu"
    """Activation applied to the encoder's pre-activations before the top-k selection."""
    selection: Literal["value", "abs"] = "value"
    """Rank units by their value, or by their absolute value (keeping the sign)."""
    n_epochs: Union[int, Literal["auto"]] = "auto"
    """Number of full shuffled passes over the training data, or "auto": about 30,000
    optimizer steps, at most 200 passes (192 on the 5,000 bundled MNIST images)."""
    batch_size: int = 32
    """Samples per optimizer step."""
    optimizer: str = "sparse_adam"
    """Optimizer name: sgd, momentum, nesterov, adam, rmsprop, adagrad, or a sparse_* (lazy)
    variant; the default lazy Adam leaves the units outside a batch's code untouched."""
    learning_rate: float = 1e-2
    """Peak learning rate (reached after the warm-up)."""
    lr_schedule: Literal["constant", "warmup", "linear", "cosine"] = "cosine"
    """Learning-rate schedule over the whole run."""
    warmup_fraction: float = 0.05
    """Fraction of the steps spent warming the learning rate up from zero."""
    k_start: Optional[int] = None
    """k at the start of progressive sparsity (annealed linearly down to k); None means min(n_hidden, 4 * k)."""
    k_anneal_fraction: float = 0.5
    """Fraction of training over which k is annealed from k_start down to k."""
    auxk_k: Optional[int] = None
    """Number of dead units used by the AuxK loss per sample; None means min(n_hidden, 2 * k)."""
    auxk_coef: float = 0.0
    """Weight of the AuxK loss (0 turns it off)."""
    dead_samples: int = 5000
    """A unit that has not fired in this many training samples counts as dead."""
    dead_reset: bool = False
    """Re-initialise dead units on badly reconstructed samples at the end of each epoch in the first 80% of training."""
    diversity_coef: float = 0.0
    """Weight of the decoder decorrelation (diversity) penalty."""
    encoder_decay: float = 0.3
    """Decoupled weight decay of the encoder rows of the units that fire in a batch (0 turns it off)."""
    normalize_decoder: bool = True
    """Keep decoder rows at unit L2 norm (with the parallel gradient component removed)."""
    output_bounds: Union[Literal["auto"], None, List[Optional[float]]] = "auto"
    """Clip the reconstruction: "auto" to the range of the training data, null for no
    clipping, or [low, high] (either may be null for no bound), e.g. [0, 1]."""
    clip_training: bool = False
    """Train through the output clip (the loss is that of the clipped output); false clips only the model's output."""
    validation_fraction: float = 0.0
    """Fraction of the training data held out to compute val_loss/val_mse each epoch."""
    early_stopping: bool = False
    """Stop when the validation loss has not improved for `patience` epochs."""
    patience: int = 5
    """Epochs without improvement before early stopping."""
    n_threads: int = 1
    """Threads for the compiled kernels and BLAS (-1 for all cores)."""
    dtype: Literal["float32", "float64"] = "float32"
    """Floating-point precision of the weights and computations."""
    random_state: Optional[int] = None
    """Seed for initialisation and shuffling; an integer makes training reproducible."""
    verbose: bool = False
    """Show a progress bar during training."""


@dataclasses.dataclass
class DataConfig:
    """What to train and evaluate on."""

    dataset: str = "mnist"
    """'mnist' (the bundled 5,000/10,000 subset), 'mnist-full' (the official 60,000/10,000,
    downloaded once) or the path of a folder of MNIST-format IDX files (e.g. Fashion-MNIST)."""
    data_home: Optional[str] = None
    """Folder for downloaded data ('mnist-full' only); default $KSPARSE_DATA or the user cache."""
    limit: Optional[int] = None
    """Train on the first `limit` training samples after a seeded shuffle (None: all)."""
    test_limit: Optional[int] = None
    """Evaluate on the first `test_limit` test samples (None: all)."""
    normalize: bool = True
    """Scale pixels from 0-255 to [0, 1]."""


@dataclasses.dataclass
class RunConfig:
    """A whole training run: model, data and where the results go."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    """The estimator's parameters."""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    """The data set."""
    output_dir: str = "ksparse-run"
    """Folder for model.safetensors, metrics.json, history.csv and checkpoints."""
    seed: Optional[int] = None
    """Seed of the run; when set it replaces model.random_state and seeds the data shuffle."""
    threads: Optional[int] = None
    """Threads of the run; when set it replaces model.n_threads."""
    checkpoint_every: int = 0
    """Write output_dir/checkpoint.safetensors every this many epochs (0: never)."""

    def to_dict(self) -> Dict[str, Any]:
        """The configuration as plain dicts, ready for YAML or JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "RunConfig":
        """Build and check a configuration from nested dicts; raises ConfigError naming the key."""
        return _build(cls, data, "")

    def model_params(self) -> Dict[str, Any]:
        """Estimator parameters with the run's seed and threads applied."""
        params = dataclasses.asdict(self.model)
        if self.seed is not None:
            params["random_state"] = self.seed
        if self.threads is not None:
            params["n_threads"] = self.threads
        return params


# --------------------------------------------------------------- field docs


def field_docs(cls: type) -> Dict[str, str]:
    """Return {field name: docstring} from the string literals under each field."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # pragma: no cover - source not available
        return {}
    tree = ast.parse(source).body[0]
    body = tree.body if isinstance(tree, ast.ClassDef) else []
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


# --------------------------------------------------------------- checking


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is Union:
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is list:
        return f"a list of ({_describe(typing.get_args(hint)[0])})"
    if dataclasses.is_dataclass(hint):
        return "a mapping of " + ", ".join(f.name for f in dataclasses.fields(hint))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


_NO = object()


def _coerce(value: Any, hint: Any) -> Any:
    """Return the value converted to ``hint``, or _NO if it does not fit."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value if value in typing.get_args(hint) and isinstance(value, str) else _NO
    if origin is Union:
        for arg in typing.get_args(hint):
            out = _coerce(value, arg)
            if out is not _NO:
                return out
        return _NO
    if hint is type(None):
        return None if value is None else _NO
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return _NO
        items = [_coerce(v, typing.get_args(hint)[0]) for v in value]
        return _NO if any(v is _NO for v in items) else items
    if hint is bool:
        return value if isinstance(value, bool) else _NO
    if hint is int:
        if isinstance(value, bool):
            return _NO
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _NO
    if hint is float:
        if isinstance(value, bool):
            return _NO
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                return _NO
        return _NO
    if hint is str:
        return value if isinstance(value, str) else _NO
    raise TypeError(f"unsupported annotation {hint!r}")  # pragma: no cover


def _unknown_key(key: str, prefix: str, allowed: Iterable[str]) -> ConfigError:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else "."
    return ConfigError(f"unknown key '{prefix}{key}'{hint} Allowed keys: {', '.join(allowed)}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "the configuration"
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in hints:
            raise _unknown_key(str(key), prefix, names)
        hint = hints[key]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{prefix}{key}.")
            continue
        out = _coerce(value, hint)
        if out is _NO:
            raise ConfigError(f"{prefix}{key}={value!r} is not allowed: expected {_describe(hint)}")
        kwargs[key] = out
    obj = cls(**kwargs)
    _check_ranges(obj, prefix)
    return obj


def _check_ranges(obj: Any, prefix: str) -> None:
    """Value checks beyond the type: positive sizes, fractions in [0, 1)..."""

    def bad(key, value, allowed):
        raise ConfigError(f"{prefix}{key}={value!r} is not allowed: {allowed}")

    if isinstance(obj, ModelConfig):
        for key in ("n_hidden", "k", "n_epochs", "batch_size", "dead_samples", "patience"):
            if getattr(obj, key) != "auto" and getattr(obj, key) < 1:
                bad(key, getattr(obj, key), "must be a positive integer" + (" or 'auto'" if key == "n_epochs" else ""))
        if obj.k > obj.n_hidden:
            bad("k", obj.k, f"must be at most n_hidden={obj.n_hidden}")
        if obj.k_start is not None and not obj.k <= obj.k_start <= obj.n_hidden:
            bad("k_start", obj.k_start, f"must be between k={obj.k} and n_hidden={obj.n_hidden}, or null")
        if obj.auxk_k is not None and not 1 <= obj.auxk_k <= obj.n_hidden:
            bad("auxk_k", obj.auxk_k, f"must be between 1 and n_hidden={obj.n_hidden}, or null")
        if obj.learning_rate <= 0:
            bad("learning_rate", obj.learning_rate, "must be a positive number")
        for key in ("warmup_fraction", "k_anneal_fraction"):
            if not 0.0 <= getattr(obj, key) <= 1.0:
                bad(key, getattr(obj, key), "must be between 0 and 1")
        if not 0.0 <= obj.validation_fraction < 1.0:
            bad("validation_fraction", obj.validation_fraction, "must be in [0, 1)")
        for key in ("auxk_coef", "diversity_coef"):
            if getattr(obj, key) < 0:
                bad(key, getattr(obj, key), "must be >= 0")
        if obj.n_threads == 0 or obj.n_threads < -1:
            bad("n_threads", obj.n_threads, "must be a positive integer or -1 (all cores)")
        if obj.early_stopping and obj.validation_fraction == 0.0:
            bad("early_stopping", True, "needs validation_fraction > 0 to have a validation loss to watch")
        from ksparse._validation import check_output_bounds  # numpy: not at import time

        try:
            check_output_bounds(obj.output_bounds)
        except ValueError:
            bad("output_bounds", obj.output_bounds, "must be 'auto', null or [low, high] with low < high "
                "(either may be null for no bound), e.g. [0, 1]")
    elif isinstance(obj, DataConfig):
        if obj.dataset not in ("mnist", "mnist-full") and not Path(obj.dataset).expanduser().is_dir():
            bad("dataset", obj.dataset, "use 'mnist', 'mnist-full' or the path of an existing folder of IDX files")
        for key in ("limit", "test_limit"):
            value = getattr(obj, key)
            if value is not None and value < 1:
                bad(key, value, "must be a positive integer or null")
        if obj.data_home is not None and obj.dataset != "mnist-full":
            bad("data_home", obj.data_home, "is used only with dataset: mnist-full")
    elif isinstance(obj, RunConfig):
        if obj.checkpoint_every < 0:
            bad("checkpoint_every", obj.checkpoint_every, "must be >= 0 (0: no checkpoints)")
        if obj.threads is not None and (obj.threads == 0 or obj.threads < -1):
            bad("threads", obj.threads, "must be a positive integer or -1 (all cores)")
        if not obj.output_dir:
            bad("output_dir", obj.output_dir, "must be a folder path")


# ------------------------------------------------------------------ files


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ConfigError(f"{path}: unknown configuration format {suffix!r}; use .yaml, .yml or .json")


def load_config(path: PathLike, overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML or JSON configuration file, apply overrides and check everything.

    Parameters
    ----------
    path : path
        A ``.yaml``/``.yml`` or ``.json`` file.
    overrides : iterable of str
        ``"section.key=value"`` strings applied after the file (values are
        parsed as YAML: ``20``, ``0.5``, ``true``, ``null``, ``relu``).

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        For a syntax error, an unknown key or a bad value (the message names the key).
    FileNotFoundError
        If the file does not exist.
    """
    import yaml

    path = Path(path)
    fmt = _format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such configuration file") from None
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {fmt.upper()}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (model:, data:, output_dir:, ...)")
    data = _apply_to_dict(data, overrides)
    try:
        return RunConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(config: RunConfig, path: PathLike) -> Path:
    """Write ``config`` as YAML or JSON (chosen by the file's extension), atomically."""
    import yaml

    from ksparse.io import atomic_write_bytes

    path = Path(path)
    fmt = _format_of(path)
    data = config.to_dict()
    text = json.dumps(data, indent=2) + "\n" if fmt == "json" else yaml.safe_dump(data, sort_keys=False)
    return atomic_write_bytes(path, text.encode("utf-8"))


def _parse_override(item: str) -> tuple:
    import yaml

    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.key=value, e.g. model.k=20")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has no key before '='")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _apply_to_dict(data: dict, overrides: Iterable[str]) -> dict:
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        parts, value = _parse_override(item)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return data


def apply_overrides(config: RunConfig, overrides: Iterable[str]) -> RunConfig:
    """Return a new, checked configuration with ``"section.key=value"`` overrides applied."""
    return RunConfig.from_dict(_apply_to_dict(config.to_dict(), overrides))
