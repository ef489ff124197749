"""The ``ksparse`` command: demo, train, evaluate, encode, reproduce.

Run ``ksparse --help`` or ``ksparse COMMAND --help``. Errors are printed as one
line on stderr with exit status 2 (set ``KSPARSE_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

__all__ = ["main", "build_parser", "ORIGINAL_MSE", "HOLDOUT_FRACTION"]

#: MSE of the original numpy project (784 -> 100 hidden, 5,000 MNIST training
#: images, MSE on the first 1,000 test images), by k.
ORIGINAL_MSE = {5: 0.0518, 10: 0.0410, 20: 0.0367, 30: 0.0356, 50: 0.0345}


#: Share of the rows of a data file without a test split that ``train`` holds out for
#: the test figures (at least one row); ``evaluate`` measures on the same rows.
HOLDOUT_FRACTION = 0.1
#: Seed of the choice of those rows: fixed, whatever the run's seed, so that every
#: run and ``evaluate`` on the same file hold out the same rows.
HOLDOUT_SEED = 0


class CLIError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


# ------------------------------------------------------------------ helpers


def _estimator_class():
    try:
        from ksparse.autoencoder import KSparseAutoencoder
    except ImportError as exc:  # pragma: no cover - only before the estimator exists
        raise CLIError(f"ksparse.KSparseAutoencoder is not available in this build ({exc})") from exc
    return KSparseAutoencoder


def _say(args: argparse.Namespace, *lines: str) -> None:
    if not args.quiet:
        for line in lines:
            print(line)


def _out_dir(path: str, option: str = "--out") -> Path:
    """Create the output folder and prove a file can be written in it; return it.

    Called before any data is loaded or any training starts, so that an output
    folder that cannot be used stops the command at once rather than after
    the work. The proof is a probe file, created and removed again.

    Parameters
    ----------
    path : str
        The folder (``~`` is expanded); created with its parents if missing.
    option : str, default "--out"
        Where the folder was given, named in the error message.

    Raises
    ------
    CLIError
        If the path is a file, the folder cannot be created, or no file can be
        written in it (no permission, a read-only file system, ...).
    """
    import tempfile

    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # with exist_ok: the path exists and is not a folder
        raise CLIError(f"output folder {out} is a file, not a folder; choose another {option}") from exc
    except OSError as exc:
        raise CLIError(f"cannot create output folder {out}: {exc.strerror or exc}; choose another {option}") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".ksparse-write-test-", dir=out)
        try:
            os.write(fd, b"ksparse")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise CLIError(f"cannot write in output folder {out}: {exc.strerror or exc}; "
                       f"choose a folder you can write to with {option}") from exc
    return out


def _load_data(data_cfg, *, seed: Optional[int], dtype: str, quiet: bool):
    """Load the data set named by a DataConfig; shuffle and limit the training set.

    ``data_cfg.dataset`` is 'mnist', 'mnist-full', a folder of IDX files or a
    data file (:func:`_load_file`: .npy, .npz or a single IDX file).
    """
    from ksparse.datasets import load_idx_folder, load_mnist

    if data_cfg.dataset == "mnist":
        data = load_mnist(normalize=data_cfg.normalize, dtype=dtype)
    elif data_cfg.dataset == "mnist-full":
        data = load_mnist(full=True, normalize=data_cfg.normalize, dtype=dtype,
                          data_home=data_cfg.data_home, progress=not quiet)
    elif _is_file(data_cfg.dataset):
        data = _load_file(data_cfg.dataset, normalize=data_cfg.normalize, dtype=dtype)
    else:
        data = load_idx_folder(data_cfg.dataset, normalize=data_cfg.normalize, dtype=dtype)
    rng = np.random.default_rng(0 if seed is None else seed)
    order = rng.permutation(len(data.X_train))
    if data_cfg.limit is not None:
        order = order[: data_cfg.limit]
    data.X_train = np.ascontiguousarray(data.X_train[order])
    data.y_train = data.y_train[order]
    if data_cfg.test_limit is not None:
        data.X_test = data.X_test[: data_cfg.test_limit]
        data.y_test = data.y_test[: data_cfg.test_limit]
    return data


def _is_file(path: str) -> bool:
    try:
        return Path(path).expanduser().is_file()
    except (OSError, RuntimeError, ValueError):  # a name too long, an unknown ~user
        return False


def _check_data_path(text: str, option: str = "--data") -> str:
    """``text`` when it is 'mnist', 'mnist-full' or an existing file or folder; else a CLIError."""
    if text in ("mnist", "mnist-full") or _is_file(text):
        return text
    try:
        exists = Path(text).expanduser().is_dir()
    except (OSError, RuntimeError, ValueError):
        exists = False
    if not exists:
        raise CLIError(f"{option} {text}: no such file or folder; use 'mnist', 'mnist-full', a .npy or .npz file, "
                       "or a folder of IDX files")
    return text


def _load_file(path: str, *, normalize: bool, dtype: str):
    """A Dataset from one data file: .npy, .npz or a single IDX file, read by :func:`_read_input`.

    An .npz holding ``X_train`` (and optionally ``X_test``) gives those splits;
    otherwise the file must hold one array of samples. Without an ``X_test``,
    :data:`HOLDOUT_FRACTION` of the rows (at least one), picked with
    :data:`HOLDOUT_SEED` whatever the run's seed, are held out as the test set,
    so ``evaluate`` on the same file measures the rows ``train`` did not see.
    Samples of shape (H, W) are images of that shape; flat samples are images
    when :func:`ksparse.report.plausible_image_shape` says so. There are no
    labels (``y`` is -1).
    """
    import zipfile

    from ksparse.datasets import Dataset
    from ksparse.report import plausible_image_shape

    p = Path(path).expanduser()
    try:
        keys: List[Optional[str]] = [None]
        if p.name.lower().endswith(".npz"):
            with np.load(p, allow_pickle=False) as z:
                names = list(z.keys())
            if "X_train" in names:
                keys = ["X_train", "X_test"] if "X_test" in names else ["X_train"]
            elif len(names) != 1:
                raise CLIError(f"{path} holds arrays {names}; name the training samples X_train (and the test "
                               "samples X_test), or save a single array of samples")
        arrays = [_read_input(str(p), key, normalize, return_shape=True) for key in keys]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CLIError(f"{path}: cannot read samples from it ({exc}); use a .npy or .npz file of numbers "
                       "or an IDX file") from None
    (X_train, sample_shape), test = arrays[0], arrays[1:]
    n_features = X_train.shape[1]
    if test:
        X_test = test[0][0]
        if X_test.shape[1] != n_features:
            raise CLIError(f"{path}: X_train has {n_features} features but X_test has {X_test.shape[1]}")
        split = f"its X_train ({len(X_train)}) and X_test ({len(X_test)}) arrays"
    else:
        n = X_train.shape[0]
        if n < 2:
            raise CLIError(f"{path} holds {n} sample(s); it needs at least 2, as part of them is held out "
                           "for the test figures")
        n_test = max(1, int(round(n * HOLDOUT_FRACTION)))
        held = np.zeros(n, dtype=bool)
        held[np.random.default_rng(HOLDOUT_SEED).permutation(n)[:n_test]] = True
        X_train, X_test = X_train[~held], X_train[held]
        split = (f"{n - n_test} for training, {n_test} ({HOLDOUT_FRACTION:.0%}, rows picked with seed "
                 f"{HOLDOUT_SEED}) held out for the test figures")
    try:
        X_train = np.ascontiguousarray(X_train, dtype=dtype)
        X_test = np.ascontiguousarray(X_test, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"{path}: the samples cannot be read as {dtype} numbers ({exc})") from None
    if len(sample_shape) == 2:
        shape = tuple(int(v) for v in sample_shape)
    elif len(sample_shape) == 1:
        shape = plausible_image_shape(X_train) or ()
    else:
        shape = ()
    desc = (f"{path}: {len(X_train) + len(X_test)} samples of {n_features} features; {split}; "
            + (f"read as {shape[0]}x{shape[1]} images." if shape else "not read as images."))
    return Dataset(X_train, np.full(len(X_train), -1, np.int64), X_test, np.full(len(X_test), -1, np.int64),
                   desc, shape)


def _image_shape_arg(text: str):
    """Parse ``--image-shape``: 'auto', 'none' or HxW (e.g. 28x28)."""
    low = text.strip().lower()
    if low in ("auto", "none"):
        return None if low == "none" else "auto"
    parts = low.split("x")
    try:
        h, w = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use HxW (e.g. 28x28), 'none' for data that are not images, "
                                         "or 'auto'") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the height and width must be positive")
    return (h, w)


def _apply_image_shape(data: Any, value: Any) -> Optional[tuple]:
    """Set ``data.image_shape`` from ``--image-shape`` and return it (None: not images).

    'auto' keeps the data set's own shape (MNIST, IDX, a 3-D array, or a
    plausible square for flat samples); None says the data are not images; a
    shape must fit the samples.
    """
    n_features = data.X_test.shape[1]
    if value is None:
        data.image_shape = ()
    elif value != "auto":
        h, w = value
        if h * w != n_features:
            raise CLIError(f"--image-shape {h}x{w} does not fit samples of {n_features} features: use HxW with "
                           f"H*W = {n_features}, or --image-shape none for data that are not images")
        data.image_shape = (h, w)
    shape = tuple(getattr(data, "image_shape", None) or ())
    return shape if len(shape) == 2 and shape[0] * shape[1] == n_features else None


def _data_range(X: np.ndarray) -> float:
    """Span of the data's values for PSNR and SSIM: the rule of ``ksparse.metrics.evaluate``."""
    from ksparse.metrics import _infer_data_range

    return _infer_data_range(X)


def _image_shape(data: Any, n_features: int) -> Optional[tuple]:
    """The data set's image shape when its rows fold into images SSIM can measure (11 x 11 or larger)."""
    shape = tuple(getattr(data, "image_shape", None) or ())
    if len(shape) == 2 and shape[0] * shape[1] == n_features and min(shape) >= 11:
        return shape
    return None


def _quality(model: Any, X: np.ndarray, data_range: float, image_shape: Any = None) -> Dict[str, float]:
    """The figures of ``model`` on ``X``: :func:`ksparse.metrics.evaluate`, the one function that computes them.

    The keys and their meanings are those of ``ksparse.metrics.evaluate``
    (listed in ``ksparse.metrics.EVALUATION_KEYS``); SSIM is included when
    ``image_shape`` is given.
    """
    from ksparse.metrics import evaluate

    return evaluate(model, X, image_shape=image_shape, data_range=data_range)


def _write_history(path: Path, history: Dict[str, List[Any]]) -> None:
    from ksparse.io import atomic_write_bytes

    keys = list(history)
    n = max((len(v) for v in history.values()), default=0)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for i in range(n):
        writer.writerow([history[k][i] if i < len(history[k]) else "" for k in keys])
    atomic_write_bytes(path, buf.getvalue().encode())


def _write_json(path: Path, obj: Any) -> None:
    from ksparse.io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        if math.isinf(c) or math.isnan(c):
            return str(c)
        return f"{c:.4f}" if abs(c) < 1000 else f"{c:.1f}"
    return str(c)


def _make_estimator(params: Dict[str, Any]):
    return _estimator_class()(**params)


def _fit_and_write(model, data, out: Path, *, args, checkpoint_every: int = 0, resume: bool = False,
                   extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Fit ``model`` (writing checkpoints), then write model, history and metrics to ``out``."""
    import ksparse

    ckpt = out / "checkpoint.safetensors"

    def callback(est, epoch):
        done = len(est.history_["epoch"]) if getattr(est, "history_", None) else epoch + 1
        if checkpoint_every and done % checkpoint_every == 0:
            ksparse.save(est, ckpt, checkpoint=True)

    t0 = time.perf_counter()
    model.fit(data.X_train, callback=callback if checkpoint_every else None, resume=resume)
    seconds = time.perf_counter() - t0
    ksparse.save(model, out / "model.safetensors")
    _write_history(out / "history.csv", model.history_)
    data_range = _data_range(data.X_train)  # one range for both splits
    shape = _image_shape(data, data.X_train.shape[1])
    train_q = _quality(model, data.X_train, data_range, shape)
    test_q = _quality(model, data.X_test, data_range, shape)
    history = model.history_
    metrics = {
        "ksparse_version": ksparse.__version__,
        "dataset": data.description,
        "n_train": int(len(data.X_train)),
        "n_test": int(len(data.X_test)),
        "n_features": int(data.X_train.shape[1]),
        "params": model.get_params(),
        "epochs": len(history.get("epoch", [])),
        "fit_seconds": seconds,
        "epoch_seconds": list(history.get("time", [])),
        "peak_rss_mb": max(history.get("peak_rss_mb", [0.0]) or [0.0]),
        "train": train_q,
        "test": test_q,
    }
    if extra:
        metrics.update(extra)
    _write_json(out / "metrics.json", metrics)
    return metrics


#: Short labels of the printed quality table, one per key of ksparse.metrics.EVALUATION_KEYS.
_QUALITY_LABELS = {"mse": "MSE", "psnr": "PSNR (dB)", "ssim": "SSIM", "fvu": "FVU", "mean_l0": "mean L0",
                   "never_fired_fraction": "never-fired units", "compression_ratio": "compression"}


def _print_quality(args, title: str, metrics: Dict[str, Any]) -> None:
    from ksparse.metrics import EVALUATION_KEYS

    rows = [[_QUALITY_LABELS[k], metrics["train"].get(k, "-"), metrics["test"][k]]
            for k in EVALUATION_KEYS if k in metrics["test"]]
    _say(args, title, _table(rows, ["metric", f"train ({metrics['n_train']})", f"test ({metrics['n_test']})"]))


def _report(kind: str, out: Path, args, **kwargs) -> Optional[Path]:
    """Write the figures and report with ksparse.report when it is available."""
    try:
        from ksparse import report  # type: ignore[attr-defined]
    except ImportError:
        return None
    writer = getattr(report, f"write_{kind}_report", None)
    if writer is None:
        return None
    return writer(out, **kwargs)


# ----------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> int:
    from ksparse.config import DataConfig

    out = _out_dir(args.out)  # before the data is loaded and the model trained
    seed = 0 if args.seed is None else args.seed
    params = {"random_state": seed, "verbose": not args.quiet}
    if args.threads is not None:
        params["n_threads"] = args.threads
    if args.epochs is not None:
        params["n_epochs"] = args.epochs
    est_cls = _estimator_class()
    model = est_cls(**params)
    data = _load_data(DataConfig(limit=args.limit, test_limit=args.test_limit), seed=seed,
                      dtype=model.get_params().get("dtype", "float32"), quiet=args.quiet)
    p = model.get_params()
    _say(args, f"ksparse demo: {data.X_train.shape[1]} -> {p['n_hidden']} hidden units, k={p['k']}, "
               f"{model.epochs_for(len(data.X_train))} epochs on {len(data.X_train)} MNIST training images")
    metrics = _fit_and_write(model, data, out, args=args)
    _print_quality(args, f"trained in {metrics['fit_seconds']:.1f} s; results in {out}", metrics)
    report = _report("demo", out, args, model=model, data=data, metrics=metrics)
    if report is not None:
        _say(args, f"report: {report}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import ksparse
    from ksparse.config import RunConfig, apply_overrides, load_config

    overrides = list(args.set or [])
    if args.out is not None:
        overrides.append(f"output_dir={args.out}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.threads is not None:
        overrides.append(f"threads={args.threads}")
    overrides.append(f"model.verbose={'false' if args.quiet else 'true'}")  # the CLI shows progress unless --quiet
    if args.data is not None:
        overrides.append(f"data.dataset={_check_data_path(args.data)}")
    if args.config is not None:
        cfg = load_config(args.config, overrides)
    elif args.data is not None:  # the defaults of every key, with the overrides
        cfg = apply_overrides(RunConfig(), overrides)
    else:
        raise CLIError("train needs a run configuration (--config FILE) or data (--data FILE|FOLDER), or both")
    params = cfg.model_params()
    if args.resume:
        model = ksparse.load(args.resume)
        if type(model).__name__ != "KSparseAutoencoder":
            raise CLIError(f"{args.resume} holds a {type(model).__name__}, not a KSparseAutoencoder checkpoint")
        saved = model.get_params()
        differ = [k for k in params if k not in ("n_threads", "verbose") and saved.get(k) != params[k]]
        if differ:
            detail = ", ".join(f"model.{k}: checkpoint {saved.get(k)!r} vs config {params[k]!r}" for k in differ)
            raise CLIError(f"the checkpoint was trained with other settings ({detail}); resume with the same config")
        model.set_params(n_threads=params["n_threads"], verbose=params["verbose"])
    else:
        model = _make_estimator(params)
    # the output folder is checked before the data is loaded (maybe downloaded) and the model trained
    out = _out_dir(cfg.output_dir, "--out (or output_dir in the configuration)")
    data = _load_data(cfg.data, seed=cfg.seed if cfg.seed is not None else params.get("random_state"),
                      dtype=params["dtype"], quiet=args.quiet)
    image_shape = _apply_image_shape(data, args.image_shape)
    from ksparse.config import save_config

    save_config(cfg, out / "config.yaml")
    _say(args, f"ksparse train: {data.X_train.shape[1]} -> {params['n_hidden']}, k={params['k']}, "
               f"{len(data.X_train)} training samples" + (f", resuming {args.resume}" if args.resume else ""))
    metrics = _fit_and_write(model, data, out, args=args, checkpoint_every=cfg.checkpoint_every,
                             resume=bool(args.resume))
    _print_quality(args, f"trained in {metrics['fit_seconds']:.1f} s; results in {out}", metrics)
    report = _report("demo", out, args, model=model, data=data, metrics=metrics, image_shape=image_shape,
                     title="ksparse train")
    if report is not None:
        _say(args, f"report: {report}")
    return 0


def _load_model(path: str):
    import ksparse

    return ksparse.load(path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ksparse.config import ConfigError, RunConfig

    from ksparse.config import DataConfig

    model = _load_model(args.model)
    _apply_threads(model, args)
    _check_data_path(args.data)
    if _is_file(args.data):  # a data file: the configuration's data.dataset takes none
        data_cfg = DataConfig(test_limit=args.limit)
        data_cfg.dataset = args.data
    else:
        try:
            data_cfg = RunConfig.from_dict({"data": {"dataset": args.data, "test_limit": args.limit}}).data
        except ConfigError as exc:
            raise CLIError(str(exc).replace("data.dataset=", "--data ")) from None
    dtype = model.get_params().get("dtype", "float32") if hasattr(model, "get_params") else "float32"
    data = _load_data(data_cfg, seed=0, dtype=dtype, quiet=args.quiet)
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and n_in != data.X_test.shape[1]:
        raise CLIError(f"the model takes {n_in} features but {args.data} has {data.X_test.shape[1]}")
    _apply_image_shape(data, args.image_shape)
    # a data file: the range rule of train (its training part); MNIST and IDX folders: their pixel scale
    data_range = _data_range(data.X_train) if _is_file(data_cfg.dataset) else (1.0 if data_cfg.normalize else 255.0)
    q = _quality(model, data.X_test, data_range, _image_shape(data, data.X_test.shape[1]))
    rows = [[k, v] for k, v in q.items()]
    which = "held-out" if _is_file(data_cfg.dataset) and "held out" in data.description else "test"
    _say(args, f"{args.model} on {len(data.X_test)} {which} samples of {args.data}", _table(rows, ["metric", "value"]))
    if args.json:
        _write_json(Path(args.json), {"model": args.model, "data": args.data, "n_test": len(data.X_test), **q})
    return 0


def _read_input(path: str, key: Optional[str], normalize: bool, *, return_shape: bool = False):
    """Samples from a .npy, .npz or IDX file, one flattened sample per row.

    With ``return_shape``, also the shape of one sample before flattening.
    """
    from ksparse.datasets import read_idx

    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such input file")
    name = p.name.lower()
    if name.endswith(".npy"):
        X = np.load(p, allow_pickle=False)
    elif name.endswith(".npz"):
        with np.load(p, allow_pickle=False) as z:
            keys = list(z.keys())
            if key is None:
                if len(keys) != 1:
                    raise CLIError(f"{path} holds arrays {keys}; choose one with --key")
                key = keys[0]
            if key not in keys:
                raise CLIError(f"{path} has no array {key!r}; it holds {keys}")
            X = z[key]
    else:
        X = read_idx(p)
    if X.ndim < 2:
        raise CLIError(f"{path}: expected samples of at least one feature, got an array of shape {X.shape}")
    sample_shape = tuple(X.shape[1:])
    X = X.reshape(X.shape[0], -1)
    if X.dtype == np.uint8 and normalize:
        X = X / 255.0
    return (X, sample_shape) if return_shape else X


def _apply_threads(model: Any, args: argparse.Namespace) -> None:
    if args.threads is not None:
        if not hasattr(model, "set_params"):
            raise CLIError(f"--threads: a {type(model).__name__} has no thread setting")
        model.set_params(n_threads=args.threads)


def cmd_encode(args: argparse.Namespace) -> int:
    from ksparse.io import atomic_write_bytes

    model = _load_model(args.model)
    if not hasattr(model, "encode"):
        raise CLIError(f"{args.model} holds a {type(model).__name__}; encode needs a KSparseAutoencoder")
    _apply_threads(model, args)
    X = _read_input(args.input, args.key, not args.raw)
    dtype = model.get_params().get("dtype", "float32")
    X = X.astype(dtype, copy=False)
    indices, values = model.encode(X, k=args.k)
    buf = io.BytesIO()
    np.savez_compressed(buf, indices=indices, values=values, n_hidden=np.int64(model.W_dec_.shape[0]))
    out = Path(args.out)
    if out.suffix != ".npz":
        raise CLIError(f"--out {args.out}: the codes are written as .npz; name the file *.npz")
    atomic_write_bytes(out, buf.getvalue())
    _say(args, f"encoded {len(X)} samples with k={indices.shape[1]} active units of {model.W_dec_.shape[0]} "
               f"-> {out} (arrays: indices, values, n_hidden)")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from ksparse.config import DataConfig

    est_cls = _estimator_class()
    seed = 0 if args.seed is None else args.seed
    data = _load_data(DataConfig(limit=args.limit, test_limit=args.test_limit), seed=seed,
                      dtype=est_cls().get_params().get("dtype", "float32"), quiet=args.quiet)
    ks = list(dict.fromkeys(args.k))
    for k in ks:
        if not 1 <= k <= 100:
            raise CLIError(f"--k {k}: k must be between 1 and n_hidden=100")
    _say(args, f"ksparse reproduce: 784 -> 100 hidden, {len(data.X_train)} training images, "
               f"MSE on the first {len(data.X_test)} test images, estimator defaults, seed {seed}")
    rows = []
    models = {}
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ks), desc="reproduce", unit="k", leave=False)
    try:
        for k in ks:
            params = {"n_hidden": 100, "k": k, "random_state": seed}
            if args.threads is not None:
                params["n_threads"] = args.threads
            if args.epochs is not None:
                params["n_epochs"] = args.epochs
            model = est_cls(**params)
            t0 = time.perf_counter()
            model.fit(data.X_train)
            seconds = time.perf_counter() - t0
            q = _quality(model, data.X_test, _data_range(data.X_test))
            models[k] = model
            rows.append({"k": k, "mse": q["mse"], "psnr": q["psnr"], "seconds": seconds,
                         "original_mse": ORIGINAL_MSE.get(k)})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    table = [[r["k"], r["original_mse"] if r["original_mse"] is not None else "-", r["mse"], r["psnr"], r["seconds"]]
             for r in rows]
    _say(args, _table(table, ["k", "original MSE", "ksparse MSE", "PSNR (dB)", "seconds"]))
    if args.json:
        _write_json(Path(args.json), {"rows": [{"k": r["k"], "mse": r["mse"], "psnr": r["psnr"],
                                                 "seconds": r["seconds"]} for r in rows],
                                       "original_mse": {str(k): v for k, v in ORIGINAL_MSE.items()},
                                       "n_train": len(data.X_train), "n_test": len(data.X_test), "seed": seed})
        _say(args, f"wrote {args.json}")
    if args.out:
        out = _out_dir(args.out)
        _write_json(out / "reproduce.json", {"rows": rows, "n_train": len(data.X_train),
                                              "n_test": len(data.X_test), "seed": seed})
        report = _report("reproduce", out, args, rows=rows, data=data, models=models)
        if report is not None:
            _say(args, f"report: {report}")
    return 0


# ------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def _threads(text: str) -> int:
    """Parse ``--threads``: a positive count, reduced to the CPUs the process may use, or -1.

    The count goes through ``check_n_threads``, the bound every thread count
    meets before a kernel; its ThreadCountWarning, when the count is reduced,
    is shown as one line on stderr. -1 stays -1 so that a saved configuration
    keeps meaning "all cores".
    """
    import warnings

    from ksparse._validation import ThreadCountWarning, check_n_threads

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == -1:
        return -1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ThreadCountWarning)
        try:
            checked = check_n_threads(value)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"{value}: use a positive number of threads, or -1 for all cores") from None
    if any(issubclass(w.category, ThreadCountWarning) for w in caught):
        print(f"ksparse: --threads {value} is more than the {checked} CPU(s) this process may use; "
              f"using {checked} (--threads -1 uses them all)", file=sys.stderr)
    return checked


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _config_keys_help() -> str:
    """The configuration keys with their defaults and docstrings, for ``ksparse train --help``."""
    import dataclasses
    import textwrap

    from ksparse.config import DataConfig, ModelConfig, RunConfig, field_docs

    lines = ["configuration keys (file values; --set KEY=VALUE overrides them):"]
    for prefix, cls in (("model.", ModelConfig), ("data.", DataConfig), ("", RunConfig)):
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            if f.name in ("model", "data"):
                continue
            default = f.default if f.default is not dataclasses.MISSING else "-"
            head = f"  {prefix}{f.name} (default {default!r})"
            lines.append(head)
            lines.extend(textwrap.wrap(docs.get(f.name, ""), 76, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``ksparse`` command."""
    from ksparse._version import __version__

    def common_options(seed: bool) -> _Parser:
        common = _Parser(add_help=False)
        g = common.add_argument_group("common options")
        g.add_argument("--threads", type=_threads, default=None, metavar="N",
                       help="threads for the compiled kernels (-1: all cores; default: the model's setting)")
        if seed:
            g.add_argument("--seed", type=_int, default=None, metavar="S",
                           help="random seed of initialisation and shuffling (default 0, or the config's)")
        g.add_argument("--quiet", action="store_true", help="print nothing but errors; no progress bars")
        return common

    common, common_noseed = common_options(True), common_options(False)

    parser = _Parser(prog="ksparse", description="k-sparse (top-k) autoencoders: train, evaluate, encode.",
                     epilog="Run 'ksparse COMMAND --help' for the options of each command.")
    parser.add_argument("--version", action="version", version=f"ksparse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def image_shape_option(p):
        p.add_argument("--image-shape", type=_image_shape_arg, default="auto", metavar="HxW|none",
                       help="shape of one sample as an image (SSIM, image figures), or 'none' for data that are "
                            "not images (default: the data's own, or square non-negative samples)")

    def hidden(p):
        p.add_argument("--limit", type=_positive_int, default=None, help=argparse.SUPPRESS)
        p.add_argument("--test-limit", type=_positive_int, default=None, help=argparse.SUPPRESS)
        p.add_argument("--epochs", type=_positive_int, default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("demo", parents=[common], help="train the default model on the bundled MNIST",
                       description="Train the default model on the MNIST subset bundled with ksparse and write "
                                   "model.safetensors, metrics.json, history.csv (and the figures and report) "
                                   "to the output folder.")
    p.add_argument("--out", default="ksparse-demo", metavar="DIR", help="output folder (default: ksparse-demo)")
    hidden(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", parents=[common], help="train from a YAML/JSON config file or a data file",
                       description="Train a model described by a YAML or JSON config file\n"
                                   "(see ksparse.config.RunConfig); values can be overridden with --set,\n"
                                   "the data with --data. Writes the model, metrics, history and a report.",
                       epilog=_config_keys_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a .yaml, .yml or .json run configuration (without it, with --data: every key's default)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.k=20 --set data.limit=1000 (repeatable)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (overrides output_dir)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="continue an interrupted run from its checkpoint.safetensors")
    p.add_argument("--data", default=None, metavar="FILE|FOLDER",
                   help="train on this data (overrides data.dataset): a .npy or .npz file of samples, one per "
                        "row, or a folder of IDX files; a file without an X_test array has "
                        f"{HOLDOUT_FRACTION * 100:.0f}%% of its rows held out for the test figures")
    image_shape_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common_noseed], help="measure a saved model on a test set",
                       description="Print the figures of ksparse.metrics.evaluate (MSE, PSNR, SSIM, FVU, "
                                   "mean L0, the share of units that never fire, the compression ratio) "
                                   "of a saved model on a test set.")
    p.add_argument("model", metavar="MODEL", help="a model file written by ksparse (model.safetensors)")
    p.add_argument("--data", default="mnist", metavar="DATA",
                   help="'mnist' (bundled test set, default), 'mnist-full', a folder of IDX files, or a .npy or "
                        ".npz file (its X_test, or the rows train held out of it)")
    p.add_argument("--limit", type=_positive_int, default=None, metavar="N", help="use the first N test samples")
    image_shape_option(p)
    p.add_argument("--json", default=None, metavar="PATH", help="also write the figures to a JSON file")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("encode", parents=[common_noseed], help="write the sparse codes of some data",
                       description="Encode samples with a saved model and write the sparse codes "
                                   "(indices, values) to a .npz file.")
    p.add_argument("model", metavar="MODEL", help="a model file written by ksparse")
    p.add_argument("input", metavar="INPUT", help="samples as .npy, .npz or an IDX file (raw or .gz)")
    p.add_argument("--out", required=True, metavar="CODES.npz", help="output .npz file")
    p.add_argument("--k", type=_positive_int, default=None, help="active units per sample (default: the model's k)")
    p.add_argument("--key", default=None, help="array name inside an .npz input with several arrays")
    p.add_argument("--raw", action="store_true", help="do not scale uint8 input from 0-255 to [0, 1]")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("reproduce", parents=[common], help="reproduce the original project's k-vs-MSE table",
                       description="Train 784 -> 100 models on the 5,000 bundled MNIST images with the estimator's "
                                   "default settings and print the MSE on the first 1,000 test images beside the "
                                   "original project's figures.")
    p.add_argument("--k", type=_positive_int, nargs="+", default=[5, 10, 20, 30, 50], metavar="K",
                   help="values of k (default: 5 10 20 30 50)")
    p.add_argument("--json", default=None, metavar="PATH", help='write {"rows": [{"k", "mse", "psnr", "seconds"}]}')
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for reproduce.json (rows with the original's MSE), the figures and the report")
    hidden(p)
    p.set_defaults(func=cmd_reproduce, test_limit=1000)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``ksparse`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("ksparse: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line instead of a traceback
        if os.environ.get("KSPARSE_DEBUG"):
            raise
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, CLIError):
            message = f"{message} ({type(exc).__name__})" if not isinstance(exc, (ValueError, OSError)) else message
        print(f"ksparse {args.command}: error: {message}", file=sys.stderr)
        return 2
