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

The ``model`` values are checked by the estimator's own rules
(``KSparseAutoencoder._check_params``), so a configuration accepts exactly the
model values the estimator accepts. A configuration file is plain data: at most
:data:`MAX_CONFIG_BYTES` of UTF-8 text, nested at most :data:`MAX_DEPTH` deep,
and YAML anchors and aliases (``&name`` / ``*name``) are refused before they
could be expanded.

Running a configuration from Python
-----------------------------------
``ksparse train run.yaml`` runs a configuration from the command line. From
Python, :func:`load_config` reads and checks it, :meth:`RunConfig.model_params`
gives the estimator's parameters (with ``seed`` and ``threads`` applied), and
``cfg.data`` names the data to load::

    import os
    import ksparse
    from ksparse.config import load_config
    from ksparse.datasets import load_idx_folder, load_mnist

    cfg = load_config("run.yaml", overrides=["model.k=30"])
    params = cfg.model_params()
    model = ksparse.KSparseAutoencoder(**params)
    if cfg.data.dataset == "mnist":
        data = load_mnist(normalize=cfg.data.normalize, dtype=params["dtype"])
    elif cfg.data.dataset == "mnist-full":
        data = load_mnist(full=True, normalize=cfg.data.normalize, dtype=params["dtype"],
                          data_home=cfg.data.data_home)
    else:
        data = load_idx_folder(cfg.data.dataset, normalize=cfg.data.normalize, dtype=params["dtype"])
    X = data.X_train[: cfg.data.limit]
    model.fit(X)
    os.makedirs(cfg.output_dir, exist_ok=True)
    ksparse.save(model, os.path.join(cfg.output_dir, "model.safetensors"))

The command line also shuffles the training set with the run's seed before
taking ``data.limit`` samples, and writes metrics, history and checkpoints
(``checkpoint_every``) into ``output_dir``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import json
import numbers
import os
import re
import textwrap
import typing
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Literal, Optional, Union

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

#: Largest configuration file read, in bytes (1 MiB); a real one is a few hundred bytes.
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of lists and mappings in a configuration file (a real one needs 3).
MAX_DEPTH = 64
#: Most YAML nodes (values, lists, mappings) in a configuration file (a real one has a few dozen).
MAX_YAML_NODES = 10_000

ACTIVATIONS = ("linear", "sigmoid", "relu", "tanh", "leaky_relu", "elu", "swish", "gelu")


class ConfigError(ValueError):
    """Raised for an unknown key or a bad value in a configuration; names the key.

    A ValueError, so ``except ValueError`` catches it too.

    Examples
    --------
    >>> from ksparse.config import ConfigError, RunConfig
    >>> try:
    ...     RunConfig.from_dict({"model": {"kk": 3}})
    ... except ConfigError as exc:
    ...     print("refused")
    refused
    """


def _model_config() -> type:
    """:class:`ModelConfig`, built from the estimator's parameter table (ksparse._params)."""
    from ksparse._params import PARAMS

    fields = [(p.name, p.annotation, dataclasses.field(default=p.default, metadata={"doc": p.doc}))
              for p in PARAMS]
    cls = dataclasses.make_dataclass("ModelConfig", fields)
    cls.__module__ = __name__
    cls.__doc__ = """Constructor parameters of :class:`ksparse.KSparseAutoencoder`.

    The fields, their defaults and their one-line docs come from the estimator's
    parameter table (``ksparse._params.PARAMS``), and the values are checked by the
    same rules (``ksparse._params.resolve``), so a configuration accepts exactly the
    model values the estimator accepts, and names the key when it refuses one.
    """
    return cls


if TYPE_CHECKING:  # the fields are the parameter table's, made at import time
    @dataclasses.dataclass
    class ModelConfig:
        def __getattr__(self, name: str) -> Any: ...
else:
    ModelConfig = _model_config()


@dataclasses.dataclass
class DataConfig:
    """What to train and evaluate on.

    Parameters
    ----------
    dataset : str, default "mnist"
        "mnist" (the bundled subset), "mnist-full" (downloaded once) or the path of
        a folder of MNIST-format IDX files.
    data_home : str, optional
        Folder for downloaded data ("mnist-full" only).
    limit, test_limit : int, optional
        Use only this many training (after a seeded shuffle) / test samples.
    normalize : bool, default True
        Scale pixels from 0-255 to [0, 1].

    Examples
    --------
    >>> from ksparse.config import DataConfig
    >>> DataConfig(limit=1000).dataset
    'mnist'
    """

    dataset: str = "mnist"
    """'mnist' (the bundled 5,000/10,000 subset), 'mnist-full' (the official 60,000/10,000,
    downloaded once), the path of a folder of MNIST-format IDX files (e.g. Fashion-MNIST),
    or of a data file (.npy, .npz or one IDX file; 10% of its rows are held out for testing)."""
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
    """A whole training run: model, data and where the results go.

    Parameters
    ----------
    model : ModelConfig
        The estimator's constructor parameters.
    data : DataConfig
        The data set to train and evaluate on.
    output_dir : str, default "ksparse-run"
        Folder for the model, metrics, history and checkpoints.
    seed, threads : int, optional
        When set, replace ``model.random_state`` / ``model.n_threads``.
    checkpoint_every : int, default 0
        Write a checkpoint every this many epochs (0: never).

    Examples
    --------
    >>> from ksparse.config import RunConfig
    >>> cfg = RunConfig.from_dict({"model": {"k": 20}, "seed": 0})
    >>> cfg.model.k, cfg.model_params()["random_state"]
    (20, 0)
    """

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
        """The configuration as plain dicts, ready for YAML or JSON.

        Returns
        -------
        data : dict
            Nested dicts of the sections and their values.

        Examples
        --------
        >>> from ksparse.config import RunConfig
        >>> RunConfig().to_dict()["data"]["dataset"]
        'mnist'
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "RunConfig":
        """Build and check a configuration from nested dicts.

        Parameters
        ----------
        data : dict
            Sections (``model``, ``data``) and top-level keys as in a
            configuration file; missing keys take their defaults.

        Returns
        -------
        config : RunConfig
            The checked configuration.

        Raises
        ------
        ConfigError
            For an unknown key or a bad value, naming the key.

        Examples
        --------
        >>> from ksparse.config import RunConfig
        >>> RunConfig.from_dict({"model": {"n_hidden": 50}}).model.n_hidden
        50
        """
        return _build(cls, data, "")

    def model_params(self) -> Dict[str, Any]:
        """Estimator parameters with the run's seed and threads applied.

        Returns
        -------
        params : dict of str to object
            Keyword arguments for :class:`ksparse.KSparseAutoencoder`;
            ``random_state`` is ``seed`` and ``n_threads`` is ``threads`` when set.

        Examples
        --------
        >>> from ksparse import KSparseAutoencoder
        >>> from ksparse.config import RunConfig
        >>> cfg = RunConfig.from_dict({"model": {"k": 5}, "seed": 1})
        >>> KSparseAutoencoder(**cfg.model_params()).random_state
        1
        """
        params = dataclasses.asdict(self.model)
        if self.seed is not None:
            params["random_state"] = self.seed
        if self.threads is not None:
            params["n_threads"] = self.threads
        return params


# --------------------------------------------------------------- field docs


def field_docs(cls: type) -> Dict[str, str]:
    """Return {field name: one-line doc} of a configuration dataclass.

    A field's doc is its ``metadata["doc"]`` (the parameter table's, for
    :class:`ModelConfig`) or the string literal under it in the class body.

    Parameters
    ----------
    cls : type
        A configuration dataclass (:class:`ModelConfig`, :class:`DataConfig`,
        :class:`RunConfig`).

    Returns
    -------
    docs : dict of str to str
        One line of documentation per field.

    Examples
    --------
    >>> from ksparse.config import DataConfig, field_docs
    >>> field_docs(DataConfig)["normalize"]
    'Scale pixels from 0-255 to [0, 1].'
    """
    from_metadata = {f.name: f.metadata["doc"] for f in dataclasses.fields(cls) if "doc" in f.metadata}
    if len(from_metadata) == len(dataclasses.fields(cls)):
        return from_metadata
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

def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters so a huge value cannot flood a message."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _is_plain(value: Any) -> bool:
    """True if ``value`` is YAML/JSON plain data: str, number, bool, None, lists and str-keyed dicts.

    Walks the value with an explicit stack, so deep nesting cannot exhaust the
    interpreter's recursion limit.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (str, bool, int, float)):
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        else:
            return False
    return True


def _coerce(value: Any, hint: Any) -> Any:
    """Return the value converted to ``hint``, or _NO if it does not fit.

    Only lossless, type-level conversions are made (an integer where a number
    is expected becomes a float, a tuple becomes a list); a float is never
    taken for an integer, as the estimator does not take it either.
    """
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
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return _NO
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return _NO
        try:
            return float(value)
        except OverflowError:  # an integer beyond the float range
            return _NO
    if hint is str:
        return value if isinstance(value, str) else _NO
    if hint is Any:  # the parameter's own rule decides (e.g. activation: ReLU or a mapping)
        return value if _is_plain(value) else _NO
    raise TypeError(f"unsupported annotation {hint!r}")  # pragma: no cover


def _unknown_key(key: str, prefix: str, allowed: Iterable[str]) -> ConfigError:
    allowed = list(allowed)
    key = key if len(key) <= 80 else _short(key)
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
        if out is _NO and cls is ModelConfig and _is_plain(value):
            # the estimator's rules decide (in _check_ranges): it may accept what the
            # annotation does not spell out, such as activation: ReLU
            out = value
        if out is _NO:
            raise ConfigError(f"{prefix}{key}={_short(value)} is not allowed: expected {_describe(hint)}")
        kwargs[key] = out
    obj = cls(**kwargs)
    _check_ranges(obj, prefix, given=list(kwargs))
    return obj


def _first_named(message: str, names: Iterable[str]) -> Optional[str]:
    """The parameter name that occurs first, as a whole word, in ``message`` (None if none does)."""
    best = None
    for name in names:
        match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), name)
    return None if best is None else best[1]


def _estimator_problem(params: Dict[str, Any]) -> Optional[Exception]:
    """Run the estimator's parameter checks on ``params``; return the error, or None if they pass."""
    from ksparse.autoencoder import KSparseAutoencoder  # numpy and the compiled core: not at import time

    # built outside the try: a parameter the estimator does not know is a bug, not a bad value
    estimator = KSparseAutoencoder(**params)
    with warnings.catch_warnings():
        # e.g. "more threads than CPUs": the estimator says so again when it is used
        warnings.simplefilter("ignore")
        try:
            estimator._check_params()
        except (ValueError, TypeError, ArithmeticError, LookupError) as exc:
            return exc
    return None


def _check_with_estimator(params: Dict[str, Any], prefix: str, given: Iterable[str] = (),
                          rename: Optional[Dict[str, str]] = None) -> None:
    """Raise ConfigError, naming the configuration key, if the estimator refuses ``params``.

    Parameters
    ----------
    params : dict
        Estimator parameters (``ModelConfig`` fields).
    prefix : str
        Prefix of the configuration keys, e.g. ``"model."``.
    given : iterable of str
        The parameters the configuration set, in order; the suspects when the
        estimator's message names no parameter.
    rename : dict, optional
        Configuration key of a parameter when it is not the parameter's name
        (``{"n_threads": "threads"}`` for the run's ``threads``).
    """
    problem = _estimator_problem(params)
    if problem is None:
        return
    rename = rename or {}
    message = str(problem) or type(problem).__name__
    if len(message) > 600:  # a huge value repeated in the estimator's message; its advice is at the end
        message = f"{message[:300]} ... {message[-250:]}"
    given = [name for name in given if name in params]
    # a parameter the configuration set is named before one left at its default: with
    # n_hidden: 10 alone, "k=32 must be between 1 and n_hidden=10" is about n_hidden
    key = _first_named(message, given) or _first_named(message, params)
    if key is None:  # e.g. an OverflowError: find the one parameter that, put back to its default, fixes it
        defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
        for name in given:
            if name in defaults and _estimator_problem({**params, name: defaults[name]}) is None:
                key = name
                break
    if key is None:
        where = prefix.rstrip(".") or "model"
        raise ConfigError(f"{where}: the estimator refuses these values: {message}")
    name = rename.get(key, key)
    if message.startswith((f"{key}=", f"{key} ")):
        # the estimator's message starts with the parameter: put the configuration key in its place
        raise ConfigError(f"{prefix}{name}{message[len(key):]}")
    raise ConfigError(f"{prefix}{name}={_short(params[key])} is not allowed: {message}")


def _check_ranges(obj: Any, prefix: str, given: Iterable[str] = ()) -> None:
    """Value checks beyond the type.

    The model's values go to the estimator's own checks; the data set, the
    output and the run settings, which the estimator does not see, are checked
    here.
    """

    def bad(key, value, allowed):
        raise ConfigError(f"{prefix}{key}={_short(value)} is not allowed: {allowed}")

    if isinstance(obj, ModelConfig):
        _check_with_estimator(dataclasses.asdict(obj), prefix, given)
    elif isinstance(obj, DataConfig):
        if obj.dataset not in ("mnist", "mnist-full"):
            try:
                path = Path(obj.dataset).expanduser()
                exists = path.is_dir() or path.is_file()
            except (OSError, RuntimeError, ValueError):  # a name too long, an unknown ~user
                exists = False
            if not exists:
                bad("dataset", obj.dataset, "use 'mnist', 'mnist-full', the path of an existing folder of IDX "
                    "files, or of a data file (.npy, .npz or IDX)")
        for key in ("limit", "test_limit"):
            value = getattr(obj, key)
            if value is not None and value < 1:
                bad(key, value, "must be a positive integer or null")
        if obj.data_home is not None and obj.dataset != "mnist-full":
            bad("data_home", obj.data_home, "is used only with dataset: mnist-full")
    elif isinstance(obj, RunConfig):
        if obj.checkpoint_every < 0:
            bad("checkpoint_every", obj.checkpoint_every, "must be >= 0 (0: no checkpoints)")
        if obj.threads is not None or obj.seed is not None:
            # seed and threads replace model.random_state and model.n_threads: the estimator's rules apply
            _check_with_estimator(obj.model_params(), prefix, rename={"n_threads": "threads", "random_state": "seed"})
        if not obj.output_dir:
            bad("output_dir", obj.output_dir, "must be a folder path")


# ------------------------------------------------------------------ files


class _Refused(Exception):
    """A configuration text refused before it is turned into Python objects."""


_LOADER: Optional[type] = None


def _config_loader() -> type:
    """A safe YAML loader class (libyaml's when available) that also reads ``1e-3`` as a number.

    YAML 1.1, which PyYAML follows, reads a number with an exponent but no
    decimal point (``1e-3``) as a string; a configuration means the number.
    """
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

        class ConfigLoader(base):  # type: ignore[misc, valid-type]
            pass

        ConfigLoader.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
            list("-+0123456789"),
        )
        _LOADER = ConfigLoader
    return _LOADER


def _safe_yaml(text: str) -> Any:
    """Parse YAML text into plain data, refusing anchors, aliases, deep nesting and too many nodes.

    The text's events are read first, one at a time (no recursion, nothing
    built), and the first anchor or alias, the 65th level of nesting or the
    10,001st node stops the reading with :class:`_Refused`; only a text that
    passes is then loaded. Aliases are refused rather than counted because a
    few hundred bytes of nested aliases name billions of values.

    Raises
    ------
    _Refused
        For an anchor, an alias, nesting deeper than :data:`MAX_DEPTH` or more
        than :data:`MAX_YAML_NODES` nodes (the message says which and where).
    yaml.YAMLError, ValueError
        For a syntax error, or a value YAML cannot build (an integer too long to convert).
    """
    import yaml

    loader = _config_loader()
    depth = nodes = 0
    for event in yaml.parse(text, Loader=loader):
        line = f"line {event.start_mark.line + 1}" if event.start_mark is not None else "the text"
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"{line}: YAML aliases (*{event.anchor}) are not supported in ksparse configs; "
                           "write the value out in full")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"{line}: YAML anchors (&{event.anchor}) are not supported in ksparse configs; "
                           "remove the anchor and write every value out in full")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"{line}: nested too deeply (more than {MAX_DEPTH} levels of lists and mappings; "
                               "a ksparse configuration needs 3)")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise _Refused(f"{line}: more than {MAX_YAML_NODES:,} values; a ksparse configuration has a few dozen")
    return yaml.load(text, Loader=loader)


#: A JSON string (skipped whole) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def _json_too_deep(text: str) -> Optional[int]:
    """The line where ``text`` first nests lists/objects deeper than MAX_DEPTH, or None.

    A scan of the brackets outside strings, so that the recursive JSON decoder
    never sees a text nested deeper than the limit.
    """
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, match.start()) + 1
        elif token in ("]", "}"):
            depth -= 1
    return None


def _read_text(path: Path) -> str:
    """The text of a configuration file: at most MAX_CONFIG_BYTES of UTF-8."""
    too_large = ConfigError(f"{path}: the file is larger than 1 MiB ({MAX_CONFIG_BYTES:,} bytes), the most a ksparse "
                            "configuration may be (one needs a few hundred bytes); check that this is the right file")
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_CONFIG_BYTES:  # a large regular file: not read at all
                raise too_large
            # read in pieces up to one byte past the limit: a pipe or a growing file has no size to trust
            chunks, total = [], 0
            while total <= MAX_CONFIG_BYTES:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give the path of a .yaml, .yml or .json file") from None
    if total > MAX_CONFIG_BYTES:
        raise too_large
    raw = b"".join(chunks)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ConfigError(f"{path}: not UTF-8 text (it starts with a UTF-16 byte-order mark); "
                          "save the configuration as UTF-8")
    if b"\x00" in raw:  # valid UTF-8 may hold NUL, but no text configuration does
        raise ConfigError(f"{path}: not UTF-8 text (it holds NUL bytes: UTF-16, UTF-32 or a binary file?); "
                          "save the configuration as UTF-8")
    try:
        return raw.decode("utf-8-sig")  # a UTF-8 byte-order mark is dropped
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                          "is not valid UTF-8); save the configuration as UTF-8") from None


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ConfigError(f"{path}: unknown configuration format {suffix!r}; use .yaml, .yml or .json")


def _parse(text: str, fmt: str, path: Path) -> Any:
    """Parse a configuration text as JSON or YAML; every failure is a ConfigError naming ``path``."""
    import yaml

    try:
        if fmt == "json":
            line = _json_too_deep(text)
            if line is not None:
                raise _Refused(f"line {line}: nested too deeply (more than {MAX_DEPTH} levels of lists and "
                               "objects; a ksparse configuration needs 3)")
            return json.loads(text)
        return _safe_yaml(text)
    except _Refused as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecursionError:  # not expected after the depth checks; kept so it can never escape
        raise ConfigError(f"{path}: nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's scanner has its own limit (1000), met while reading ahead
            where = f"line {exc.problem_mark.line + 1}: " if getattr(exc, "problem_mark", None) else ""
            raise ConfigError(f"{path}: {where}nested too deeply (more than {MAX_DEPTH} levels of lists and "
                              "mappings; a ksparse configuration needs 3)") from None
        raise ConfigError(f"{path}: not valid {fmt.upper()}: {exc}") from None
    except ValueError as exc:  # JSON syntax, an integer too long to convert
        raise ConfigError(f"{path}: not valid {fmt.upper()}: {exc}") from None


def load_config(path: PathLike, overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML or JSON configuration file, apply overrides and check everything.

    Parameters
    ----------
    path : path
        A ``.yaml``/``.yml`` or ``.json`` file of UTF-8 text, at most 1 MiB
        (:data:`MAX_CONFIG_BYTES`), nested at most :data:`MAX_DEPTH` deep.
        YAML anchors and aliases (``&name``, ``*name``) are not supported.
    overrides : iterable of str
        ``"section.key=value"`` strings applied after the file (values are
        parsed as YAML: ``20``, ``0.5``, ``true``, ``null``, ``relu``).

    Returns
    -------
    config : RunConfig
        The checked configuration. Run it with
        ``KSparseAutoencoder(**config.model_params()).fit(X)``, ``X`` loaded as
        ``config.data`` says (see the module docstring).

    Raises
    ------
    ConfigError
        For a file that is too large, not UTF-8, nested too deeply or uses YAML
        anchors/aliases; for a syntax error; for an unknown key or a bad value
        (the message names the file and the key).
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.config import load_config
    >>> path = os.path.join(tempfile.mkdtemp(), "run.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("{model: {n_hidden: 16, k: 4, n_epochs: 1}, seed: 0}")
    >>> cfg = load_config(path, overrides=["model.k=3"])
    >>> model = KSparseAutoencoder(**cfg.model_params())
    >>> model.k, model.random_state
    (3, 0)
    >>> model.fit(np.random.default_rng(0).random((40, 8))).n_iter_
    1
    """
    path = Path(path)
    fmt = _format_of(path)
    data = _parse(_read_text(path), fmt, path)
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
    """Write ``config`` as YAML or JSON (chosen by the file's extension), atomically.

    Parameters
    ----------
    config : RunConfig
        The configuration to write.
    path : path
        Target file, ending in ``.yaml``, ``.yml`` or ``.json``.

    Returns
    -------
    path : Path
        The file written.

    Raises
    ------
    ConfigError
        When the extension is not one of those.

    Examples
    --------
    >>> import os, tempfile
    >>> from ksparse.config import RunConfig, load_config, save_config
    >>> path = save_config(RunConfig(seed=3), os.path.join(tempfile.mkdtemp(), "run.json"))
    >>> load_config(path).seed
    3
    """
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
        value = _safe_yaml(raw) if raw.strip() else ""
    except _Refused as exc:
        raise ConfigError(f"override {_short(item)}: {exc}") from None
    except (yaml.YAMLError, ValueError):  # not YAML: the text itself
        value = raw
    return key.split("."), value


def _copy_sections(data: dict) -> dict:
    """Copy of ``data`` with every nested mapping copied (the only objects overrides change)."""
    return {key: _copy_sections(value) if isinstance(value, dict) else value for key, value in data.items()}


def _apply_to_dict(data: dict, overrides: Iterable[str]) -> dict:
    data = _copy_sections(data)
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
    """Return a new, checked configuration with ``"section.key=value"`` overrides applied.

    Parameters
    ----------
    config : RunConfig
        The configuration to start from; it is not changed.
    overrides : iterable of str
        ``"section.key=value"`` strings (values parsed as YAML), applied in order.

    Returns
    -------
    config : RunConfig
        A new, checked configuration.

    Raises
    ------
    ConfigError
        For a malformed override, an unknown key or a bad value.

    Examples
    --------
    >>> from ksparse.config import RunConfig, apply_overrides
    >>> cfg = apply_overrides(RunConfig(), ["model.k=12", "data.limit=500"])
    >>> cfg.model.k, cfg.data.limit
    (12, 500)
    """
    return RunConfig.from_dict(_apply_to_dict(config.to_dict(), overrides))
