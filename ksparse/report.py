"""One-file HTML reports: figures and metrics a user opens in a browser.

- :func:`write_report` writes ``report.html`` from a metrics dict, figure files
  and optional tables. Images are embedded (base64), so the file stands alone;
  every figure is also linked by its relative path.
- :func:`compute_metrics` gives the report's metrics table: the figures of
  :func:`ksparse.metrics.evaluate` (the one function that measures a model on
  data) and the model's context (units, k, epochs, the training-time dead units).
- :func:`make_demo_report` (for ``ksparse demo``) and :func:`make_reproduce_report`
  (for ``ksparse reproduce``) draw the standard figures and write the report.

matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import numbers
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ksparse import metrics as _m
from ksparse._validation import check_float_array

__all__ = [
    "write_report",
    "compute_metrics",
    "plausible_image_shape",
    "make_demo_report",
    "make_reproduce_report",
    "write_demo_report",
    "write_reproduce_report",
    "METRIC_LABELS",
    "FIGURE_CAPTIONS",
]

PathLike = Union[str, Path]

#: Human-readable names (and units) of the metrics :func:`compute_metrics` returns
#: (the keys of :data:`ksparse.metrics.EVALUATION_KEYS`, then the model's context).
METRIC_LABELS: Dict[str, str] = {
    "mse": "MSE (mean squared error)",
    "psnr": "PSNR, dB",
    "ssim": "SSIM (Gaussian window, mean over images)",
    "fvu": "Fraction of variance unexplained",
    "mean_l0": "Active units per sample (mean L0)",
    "never_fired_fraction": "Units that never fired on the test set",
    "compression_ratio": "Compression ratio (input bits / bits of the nonzero code pairs)",
    "dead_fraction": "Dead units at the end of training (training counter, as in history.csv)",
    "n_test": "Test samples",
    "n_features": "Input features",
    "n_hidden": "Hidden units",
    "k": "k (active units kept)",
    "epochs": "Epochs trained",
    "train_seconds": "Training time, s",
    "peak_rss_mb": "Peak memory (RSS), MB",
    "n_train": "Training samples",
    "fit_seconds": "Fit time (wall clock), s",
    "train_mse": "MSE on the training set",
    "train_psnr": "PSNR on the training set, dB",
    "k_values": "k values",
    "best_mse": "Best MSE",
    "median_improvement": "Median × lower MSE than the original project",
    "total_seconds": "Total training time, s",
}

#: Captions of the standard figures, keyed by figure name.
FIGURE_CAPTIONS: Dict[str, str] = {
    "reconstructions": "Test images (top row, outlined) and their reconstructions; "
    "each row gives its k and the MSE of the images shown.",
    "atoms": "Decoder atoms: the image each unit adds to a reconstruction (red positive, blue negative), "
    "most used units first.",
    "training_curves": "Training per epoch: loss, reconstruction MSE, active units against the k schedule, "
    "dead units, wall time and peak memory.",
    "tradeoff": "Reconstruction error against k, beside PCA with k components and the original project.",
    "firing_histogram": "How often each unit fires on the test set (log scale): dead units in red at the left, "
    "dense units in orange.",
    "code_sparsity": "Which units fire for each of the first test samples (shade = activation), with the "
    "number of samples using each unit above and the active units per sample at the right.",
    "architecture": "The network: tensor sizes, layers, activations and k.",
}

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1a202c;background:#f7fafc;margin:0;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:1.7em;margin:0 0 4px}
h2{font-size:1.2em;margin:34px 0 10px;border-bottom:2px solid #e2e8f0;padding-bottom:4px}
.meta{color:#4a5568;font-size:.9em;margin-bottom:18px}
nav a{margin-right:14px;color:#2b6cb0;text-decoration:none;font-size:.92em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.06);margin:6px 0 4px;
font-variant-numeric:tabular-nums}
th,td{padding:6px 14px;border-bottom:1px solid #e2e8f0;text-align:right}
th{background:#edf2f7;font-weight:600}
td.name,th.name{text-align:left}
td.key{color:#718096;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;text-align:left}
figure{background:#fff;margin:14px 0 26px;padding:14px;box-shadow:0 1px 3px rgba(0,0,0,.08);border-radius:6px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:#4a5568;font-size:.92em;margin-top:8px}
figcaption a{color:#2b6cb0;font-size:.9em;margin-left:6px}
.notes{background:#fff;padding:10px 14px;border-left:4px solid #2b6cb0}
footer{color:#718096;font-size:.85em;margin-top:40px}
"""


# ----------------------------------------------------------------------------- formatting
def _fmt(value: Any) -> str:
    """Format one table cell."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.1f}"
        if abs(v) >= 1e-3:
            return f"{v:.4g}"
        return f"{v:.3e}"
    return str(value)


def _esc(value: Any) -> str:
    return html.escape(_fmt(value), quote=True)


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    rows = []
    for key, value in metrics.items():
        text = str(key).replace("_", " ")
        label = METRIC_LABELS.get(key, text[:1].upper() + text[1:])
        rows.append(
            f'<tr><td class="name">{html.escape(label)}</td><td class="key">{html.escape(str(key))}</td>'
            f"<td>{_esc(value)}</td></tr>"
        )
    return (
        '<table class="metrics"><thead><tr><th class="name">metric</th><th class="name">key</th><th>value</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: List[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(str(key))
    head = "".join(f'<th{" class=name" if i == 0 else ""}>{html.escape(c)}</th>' for i, c in enumerate(columns))
    body = "".join(
        "<tr>" + "".join(
            f'<td{" class=name" if i == 0 else ""}>{_esc(row.get(c))}</td>' for i, c in enumerate(columns)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "figure"


# ----------------------------------------------------------------------------- the report
def write_report(
    out_dir: PathLike,
    *,
    metrics: Mapping[str, Any],
    figures: Mapping[str, PathLike],
    tables: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None,
    title: str = "ksparse report",
    notes: Optional[str] = None,
    embed: bool = True,
    filename: str = "report.html",
) -> Path:
    """Write one self-contained HTML report with the metrics, tables and figures.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the report (created if needed).
    metrics : dict
        ``{name: value}``, shown as a table (known names such as ``"mse"`` get
        a readable label; numbers are formatted, ``inf`` shows as ∞).
    figures : dict
        ``{name: path to a PNG}``, shown in this order with a caption (see
        :data:`FIGURE_CAPTIONS` for the standard names).
    tables : dict, optional
        ``{title: rows}``, each rows a list of dicts sharing keys (the columns).
    title : str, default "ksparse report"
    notes : str, optional
        A paragraph of plain text shown under the title.
    embed : bool, default True
        Embed the images as base64 so the report is one portable file; with
        False the images are only linked by their path relative to ``out_dir``.
        Either way each figure carries a link to its PNG.
    filename : str, default "report.html"

    Returns
    -------
    pathlib.Path
        The path of the written report.

    Raises
    ------
    FileNotFoundError
        If a figure file does not exist.
    ValueError
        If a figure is not a PNG file.
    """
    out = Path(out_dir)
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict {{name: value}}, got {type(metrics).__name__}")
    if not isinstance(figures, Mapping):
        raise TypeError(f"figures must be a dict {{name: path}}, got {type(figures).__name__}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / filename

    fig_html = []
    fig_nav = []
    for name, fpath in figures.items():
        p = Path(fpath)
        if not p.is_file():
            raise FileNotFoundError(f"figure {name!r}: no file at {p}")
        data = p.read_bytes()
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError(f"figure {name!r}: {p} is not a PNG file")
        try:
            rel = Path(os.path.relpath(p.resolve(), out.resolve())).as_posix()
        except ValueError:  # another drive on Windows: no relative path exists
            rel = p.resolve().as_uri()
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii") if embed else rel
        slug = _slug(str(name))
        caption = FIGURE_CAPTIONS.get(str(name), str(name).replace("_", " ").capitalize())
        fig_html.append(
            f'<figure id="fig-{html.escape(slug)}"><img src="{html.escape(src, quote=True)}" '
            f'alt="{html.escape(str(name), quote=True)}">'
            f"<figcaption>{html.escape(caption)}"
            f'<a href="{html.escape(rel, quote=True)}">{html.escape(p.name)}</a></figcaption></figure>'
        )
        fig_nav.append(f'<a href="#fig-{html.escape(slug)}">{html.escape(str(name).replace("_", " "))}</a>')

    table_html = []
    nav = ['<a href="#metrics">Metrics</a>']
    for ttitle, rows in (tables or {}).items():
        rows = list(rows)
        if not rows or not all(isinstance(r, Mapping) for r in rows):
            raise ValueError(f"table {ttitle!r} must be a non-empty list of dicts")
        slug = _slug(str(ttitle))
        table_html.append(f'<h2 id="table-{html.escape(slug)}">{html.escape(str(ttitle))}</h2>{_table(rows)}')
        nav.append(f'<a href="#table-{html.escape(slug)}">{html.escape(str(ttitle))}</a>')

    nav += fig_nav
    from ksparse._version import __version__

    stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1>"
        f'<div class="meta">ksparse {html.escape(__version__)} · {html.escape(stamp)}</div>'
        f"<nav>{''.join(nav)}</nav>"
        + (f'<p class="notes">{html.escape(notes)}</p>' if notes else "")
        + f'<h2 id="metrics">Metrics</h2>{_metrics_table(metrics)}'
        + "".join(table_html)
        + ("<h2>Figures</h2>" + "".join(fig_html) if fig_html else "")
        + "<footer>Written by <code>ksparse.report.write_report</code>.</footer></main></body></html>\n"
    )
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(doc, encoding="utf-8")
    os.replace(tmp, target)
    return target


# ----------------------------------------------------------------------------- metrics of a model
def _fitting_image_shape(image_shape: Optional[Sequence[int]], n_features: int) -> Optional[Tuple[int, int]]:
    """``image_shape`` when samples of ``n_features`` fold into such images of at least 11 x 11, else None."""
    if image_shape is None:
        return None
    h, w = (int(s) for s in image_shape)
    return (h, w) if h * w == n_features and min(h, w) >= 11 else None


def plausible_image_shape(X: Any, *, min_side: int = 8) -> Optional[Tuple[int, int]]:
    """``(side, side)`` when the rows of X look like square images, else None.

    Rows look like images when their width is the square of a whole number of
    at least ``min_side`` and no value is negative (pixel intensities).
    Embeddings of width 768, or of width 1024 with negative values, are not
    images; standardised images (negative values) are not recognised either:
    pass their shape explicitly.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The data.
    min_side : int, default 8
        Smallest side of a plausible image (8 x 8 digits are one).

    Returns
    -------
    (int, int) or None
        The square image shape, or None for data that do not look like images.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.report import plausible_image_shape
    >>> plausible_image_shape(np.zeros((2, 784)))
    (28, 28)
    >>> plausible_image_shape(np.zeros((2, 768))) is None
    True
    >>> plausible_image_shape(-np.ones((2, 1024))) is None
    True
    """
    A = check_float_array(X, "X", ndim=2)
    side = math.isqrt(int(A.shape[1]))
    if side * side != A.shape[1] or side < int(min_side) or A.size == 0 or float(A.min()) < 0:
        return None
    return (side, side)


def _resolve_image_shape(image_shape: Any, X: np.ndarray) -> Optional[Tuple[int, int]]:
    """The image shape of a report: "auto" guessed from X, None kept, a given shape checked against X."""
    if image_shape is None:
        return None
    if isinstance(image_shape, str):
        if image_shape != "auto":
            raise ValueError(f"image_shape={image_shape!r}: use 'auto', (height, width) or None for data that "
                             "are not images")
        return plausible_image_shape(X)
    try:
        h, w = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be 'auto', (height, width) or None, got {image_shape!r}") from None
    if h < 1 or w < 1 or h * w != X.shape[1]:
        raise ValueError(
            f"image_shape={(h, w)!r} does not fit samples of {X.shape[1]} features: pass (height, width) with "
            f"height * width == {X.shape[1]}, or image_shape=None for data that are not images")
    return (h, w)


def compute_metrics(
    estimator: Any,
    X: Any,
    *,
    data_range: float = 1.0,
    image_shape: Optional[Sequence[int]] = (28, 28),
    evaluation: Optional[Mapping[str, float]] = None,
) -> Dict[str, Any]:
    """The report's metrics table: :func:`ksparse.metrics.evaluate` on test data, then the model's context.

    The measured figures are those of :func:`ksparse.metrics.evaluate`, under
    its keys and with its meanings (``mse, psnr, ssim, fvu, mean_l0,
    never_fired_fraction, compression_ratio``); this function adds only figures
    that describe the model rather than ``X``.

    Parameters
    ----------
    estimator : KSparseAutoencoder
        Fitted; besides what :func:`ksparse.metrics.evaluate` uses, its
        ``W_dec_`` / ``n_hidden``, ``k``, and when present ``steps_since_fired_``,
        ``dead_samples`` and ``history_``.
    X : array_like of shape (n_samples, n_features)
        Test data.
    data_range : float, default 1.0
        Span of the data's values, for PSNR and SSIM.
    image_shape : (int, int) or None, default (28, 28)
        Shape of one image for SSIM; SSIM is left out when None, when the
        features do not form such images, or when they are smaller than the
        11 x 11 SSIM window.
    evaluation : dict, optional
        ``ksparse.metrics.evaluate(estimator, X, ...)`` when already computed
        (``ksparse demo`` passes the ``"test"`` figures it wrote to
        ``metrics.json``, so the report shows the very same values); computed
        here when None.

    Returns
    -------
    dict
        The figures of :func:`ksparse.metrics.evaluate`, then

        - ``dead_fraction``: share of units the training counter calls dead
          (``steps_since_fired_ >= dead_samples``), the figure
          ``history_["dead_fraction"]`` (``history.csv``) reaches at the end of
          training; not measured on ``X``. Present when the estimator has the
          counter.
        - ``n_test, n_features, n_hidden, k``: samples of ``X``, its features,
          the model's units and its k.
        - from ``history_``: ``epochs`` (epochs trained), ``train_seconds`` (sum
          of the epoch times), ``peak_rss_mb`` (largest peak memory).

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.report import compute_metrics
    >>> X = np.random.default_rng(0).random((100, 784)).astype(np.float32)
    >>> model = KSparseAutoencoder(n_hidden=32, k=4, n_epochs=1, random_state=0).fit(X)
    >>> figures = compute_metrics(model, X[:20])
    >>> figures["k"], figures["n_test"], "ssim" in figures
    (4, 20, True)
    """
    X_given, X = X, check_float_array(X, "X", ndim=2)
    if evaluation is None:
        # X as given: evaluate reads the input's bits per value from its dtype
        evaluation = _m.evaluate(estimator, X_given, data_range=data_range,
                                 image_shape=_fitting_image_shape(image_shape, X.shape[1]))
    out: Dict[str, Any] = dict(evaluation)
    m = int(np.asarray(estimator.W_dec_).shape[0]) if hasattr(estimator, "W_dec_") else int(estimator.n_hidden)
    steps = getattr(estimator, "steps_since_fired_", None)
    dead_samples = getattr(estimator, "dead_samples", None)
    if steps is not None and isinstance(dead_samples, numbers.Integral) and int(dead_samples) > 0:
        out["dead_fraction"] = _m.dead_fraction(steps_since_fired=np.asarray(steps), dead_samples=int(dead_samples))
    out.update({"n_test": int(X.shape[0]), "n_features": int(X.shape[1]), "n_hidden": m, "k": int(estimator.k)})
    history = getattr(estimator, "history_", None)
    if isinstance(history, Mapping) and history.get("epoch"):
        out["epochs"] = int(len(history["epoch"]))
        if history.get("time"):
            out["train_seconds"] = float(np.sum(history["time"]))
        if history.get("peak_rss_mb"):
            out["peak_rss_mb"] = float(np.max(history["peak_rss_mb"]))
    return out


def _model_table(estimator: Any) -> List[Dict[str, Any]]:
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return []
    rows = []
    for key, value in sorted(get_params(deep=False).items()):
        if value is None or isinstance(value, (str, numbers.Number, bool)):
            rows.append({"parameter": key, "value": value if value is not None else "None"})
        else:
            rows.append({"parameter": key, "value": repr(value)})
    return rows


# ----------------------------------------------------------------------------- demo / reproduce
def make_demo_report(
    estimator: Any,
    X_test: Any,
    out_dir: PathLike,
    *,
    extra_metrics: Optional[Mapping[str, Any]] = None,
    evaluation: Optional[Mapping[str, float]] = None,
    image_shape: Union[str, Sequence[int], None] = "auto",
    data_range: float = 1.0,
    n_images: int = 10,
    encode_ks: Optional[Sequence[int]] = None,
    title: str = "ksparse demo",
    notes: Optional[str] = None,
    dpi: int = 100,
) -> Dict[str, Path]:
    """Draw the standard figures of a fitted model and write ``report.html``.

    Figures (PNG files in ``out_dir/figures/``): ``reconstructions``, ``atoms``,
    ``training_curves`` (when the estimator has a non-empty ``history_``),
    ``firing_histogram``, ``code_sparsity`` and ``architecture``.

    Parameters
    ----------
    estimator : KSparseAutoencoder
        A fitted estimator (see :func:`compute_metrics` for what is used).
    X_test : array_like of shape (n_samples, n_features)
        Held-out images, flattened, e.g. pixels in [0, 1].
    out_dir : str or Path
        Created if needed.
    extra_metrics : dict, optional
        More rows for the metrics table (e.g. the command's wall time); they
        override computed values of the same name.
    evaluation : dict, optional
        ``ksparse.metrics.evaluate(estimator, X_test, ...)`` when already
        computed, shown as is (see :func:`compute_metrics`); computed when None.
    image_shape : "auto", (int, int) or None, default "auto"
        Shape of one image. With None (data that are not images) the
        reconstruction grid, the atoms and SSIM are left out. "auto" reads
        square samples of non-negative values (784 -> 28 x 28) as images and
        anything else as not images (see :func:`plausible_image_shape`).
    data_range : float, default 1.0
    n_images : int, default 10
        Columns of the reconstruction grid.
    encode_ks : sequence of int, optional
        Encode-time k values of the reconstruction rows. Default: the model's k
        and, when it fits in ``n_hidden``, 2k (Makhzani & Frey encode with
        alpha * k).
    title : str, default "ksparse demo"
    notes : str, optional
        Text added to the report's introduction (e.g. where the data come from).
    dpi : int, default 100
        Resolution of the PNG figures.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"report": ..., "<figure name>": ..., ...}``.
    """
    from ksparse import plotting as P

    X = check_float_array(X_test, "X_test", ndim=2)
    image_shape = _resolve_image_shape(image_shape, X)
    out = Path(out_dir)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    metrics = compute_metrics(estimator, X_test, data_range=data_range, image_shape=image_shape,
                              evaluation=evaluation)
    if extra_metrics:
        metrics.update(extra_metrics)
    k, m = metrics["k"], metrics["n_hidden"]
    indices, values = estimator.encode(X)
    freq = _m.firing_frequency(indices, m, values=values)
    paths: Dict[str, Path] = {}

    n_show = min(int(n_images), X.shape[0])
    if image_shape is not None:
        _image_figures(estimator, X, fig_dir, paths, k=k, m=m, freq=freq, n_show=n_show, encode_ks=encode_ks,
                       image_shape=image_shape, dpi=dpi)

    history = getattr(estimator, "history_", None)
    if isinstance(history, Mapping) and history.get("epoch"):
        paths["training_curves"] = fig_dir / "training_curves.png"
        P.plot_training_curves(history, path=paths["training_curves"], dpi=dpi)

    paths["firing_histogram"] = fig_dir / "firing_histogram.png"
    P.plot_firing_histogram(freq, n_samples=X.shape[0], path=paths["firing_histogram"], dpi=dpi)

    paths["code_sparsity"] = fig_dir / "code_sparsity.png"
    P.plot_code_sparsity(indices, m, values=values, n_samples=64, path=paths["code_sparsity"], dpi=dpi)

    paths["architecture"] = fig_dir / "architecture.png"
    P.plot_architecture(estimator, path=paths["architecture"], dpi=dpi)

    tables = {}
    model_rows = _model_table(estimator)
    if model_rows:
        tables["Model parameters"] = model_rows
    paths_report = write_report(
        out, metrics=metrics, figures=dict(paths), tables=tables, title=title,
        notes=f"A k-sparse autoencoder {metrics['n_features']} → {m} units (k = {k}) evaluated on "
        f"{metrics['n_test']:,} held-out samples." + (f" {notes}" if notes else "")
        + ("" if image_shape is not None else " The samples are not read as images, so the reconstruction grid "
           "and the decoder atoms are left out."),
    )
    return {"report": paths_report, **paths}


def _image_figures(estimator: Any, X: np.ndarray, fig_dir: Path, paths: Dict[str, Path], *, k: int, m: int,
                   freq: np.ndarray, n_show: int, encode_ks: Optional[Sequence[int]],
                   image_shape: Sequence[int], dpi: int) -> None:
    from ksparse import plotting as P

    ks = list(encode_ks) if encode_ks is not None else ([k, 2 * k] if 2 * k <= m else [k])
    recs: Dict[Any, np.ndarray] = {}
    for kk in ks:
        if int(kk) == k:
            recs[f"k = {k}"] = np.asarray(estimator.reconstruct(X[:n_show]))
        else:
            codes = estimator.transform(X[:n_show], k=int(kk))
            recs[f"k = {int(kk)}\n(encode-time)"] = np.asarray(estimator.inverse_transform(codes))
    paths["reconstructions"] = fig_dir / "reconstructions.png"
    P.plot_reconstructions(X, recs, image_shape=image_shape, n_images=n_show, path=paths["reconstructions"], dpi=dpi)

    paths["atoms"] = fig_dir / "atoms.png"
    P.plot_decoder_atoms(estimator.W_dec_, image_shape=image_shape, usage=freq, n_atoms=min(64, m),
                         path=paths["atoms"], dpi=dpi)


def make_reproduce_report(
    rows: Sequence[Mapping[str, Any]],
    out_dir: PathLike,
    *,
    pca_rows: Optional[Sequence[Mapping[str, Any]]] = None,
    originals: Any = None,
    reconstructions: Optional[Mapping[Any, Any]] = None,
    extra_metrics: Optional[Mapping[str, Any]] = None,
    image_shape: Sequence[int] = (28, 28),
    data_range: float = 1.0,
    title: str = "ksparse reproduce: the original project's table",
    dpi: int = 100,
) -> Dict[str, Path]:
    """Report of ``ksparse reproduce``: the k table beside the original project's.

    Parameters
    ----------
    rows : list of dict
        ``[{"k": 5, "mse": ..., "psnr": ..., "seconds": ...}, ...]``, one per
        trained model (the ``rows`` of ``ksparse reproduce --json``).
    out_dir : str or Path
    pca_rows : list of dict, optional
        PCA with k components (:func:`ksparse.plotting.pca_k_mse`); drawn and tabled.
    originals : array_like of shape (N, n), optional
        Test images for a reconstruction grid, with ``reconstructions``.
    reconstructions : dict, optional
        ``{k: reconstructions of originals by the model trained with that k}``.
    extra_metrics : dict, optional
        More rows for the metrics table (e.g. total time, threads, seed).
    image_shape : (int, int), default (28, 28)
    data_range : float, default 1.0
    title : str
    dpi : int, default 100
        Resolution of the PNG figures.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"report": ..., "tradeoff": ..., "reconstructions": ...}``
        (reconstructions only when given).
    """
    from ksparse import plotting as P

    if isinstance(rows, Mapping):
        rows = [{"k": k, "mse": v} for k, v in rows.items()]
    ours = P._rows(rows, "rows")
    if not ours:
        raise ValueError("rows is empty: pass at least one {'k': ..., 'mse': ...}")
    pca = P._rows(pca_rows, "pca_rows")
    if (originals is None) != (reconstructions is None):
        raise ValueError("pass originals and reconstructions together (or neither)")
    out = Path(out_dir)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {"tradeoff": fig_dir / "tradeoff.png"}
    P.plot_k_tradeoff(ours, pca_rows=pca or None, data_range=data_range, path=paths["tradeoff"], dpi=dpi)
    if originals is not None and reconstructions is not None:
        paths["reconstructions"] = fig_dir / "reconstructions.png"
        P.plot_reconstructions(originals, reconstructions, image_shape=image_shape, path=paths["reconstructions"],
                               title="Reconstructions by the model trained with each k", dpi=dpi)

    original = {r["k"]: r["mse"] for r in P.ORIGINAL_ROWS}
    pca_by_k = {r["k"]: r["mse"] for r in pca}
    raw = {float(r["k"]): r for r in rows}
    table = []
    for r in ours:
        kk = r["k"]
        row: Dict[str, Any] = {"k": int(kk) if float(kk).is_integer() else kk, "MSE": r["mse"],
                               "PSNR, dB": P._psnr_of(r, data_range)}
        if "seconds" in raw[kk]:
            row["seconds"] = float(raw[kk]["seconds"])
        row["original MSE"] = original.get(kk)
        row["× lower than original"] = (original[kk] / r["mse"]) if kk in original and r["mse"] > 0 else None
        if pca:
            row["PCA-k MSE"] = pca_by_k.get(kk)
        table.append(row)

    metrics: Dict[str, Any] = {"k_values": ", ".join(_fmt(t["k"]) for t in table),
                               "best_mse": min(r["mse"] for r in ours)}
    ratios = [t["× lower than original"] for t in table if t["× lower than original"] is not None]
    if ratios:
        metrics["median_improvement"] = float(np.median(ratios))
    if any("seconds" in t for t in table):
        metrics["total_seconds"] = float(sum(t.get("seconds", 0.0) for t in table))
    if extra_metrics:
        metrics.update(extra_metrics)
    report = write_report(
        out, metrics=metrics, figures=dict(paths), tables={"Reproduced table": table}, title=title,
        notes="Setup of the original project: 784 → 100 hidden units, trained on the 5,000 bundled MNIST "
        "training images, MSE on the first 1,000 test images, pixels in [0, 1].",
    )
    return {"report": report, **paths}


# ----------------------------------------------------------------------------- the command's entry points
def _square_shape(n_features: int) -> Optional[Tuple[int, int]]:
    side = math.isqrt(int(n_features))
    return (side, side) if side * side == n_features else None


def _data_range(X: np.ndarray) -> float:
    # the rule of ksparse.metrics.evaluate: pixels scaled to [0, 1], else 8-bit values
    return _m._infer_data_range(X)


def write_demo_report(
    out_dir: PathLike,
    *,
    model: Any,
    data: Any,
    metrics: Optional[Mapping[str, Any]] = None,
    image_shape: Union[str, Sequence[int], None] = "auto",
    title: str = "ksparse demo",
    dpi: int = 100,
) -> Path:
    """Figures and ``report.html`` for ``ksparse demo`` and ``ksparse train``; returns the report's path.

    A thin entry point over :func:`make_demo_report` for the command line.

    Parameters
    ----------
    out_dir : str or Path
    model : KSparseAutoencoder
        The fitted estimator.
    data : object
        With ``X_test`` (and optionally ``description``, shown in the
        introduction, and ``image_shape``), as returned by the command's data
        loader.
    metrics : dict, optional
        What the command measured (``metrics.json``): its ``test`` figures
        (:func:`ksparse.metrics.evaluate` on ``X_test``) are shown as they are,
        not measured again, and ``n_train``, ``fit_seconds`` and the
        training-set ``train`` MSE and PSNR are added to the metrics table.
    image_shape : "auto", (int, int) or None, default "auto"
        Shape of one image; None for data that are not images (no
        reconstruction grid, no atoms). "auto" takes ``data.image_shape`` when
        it is (height, width) fitting the samples, else guesses with
        :func:`plausible_image_shape`.
    title : str, default "ksparse demo"
        Title of the report.
    dpi : int, default 100

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, types
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.report import write_demo_report
    >>> X = np.random.default_rng(0).normal(size=(60, 40)).astype(np.float32)
    >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
    >>> path = write_demo_report(tempfile.mkdtemp(), model=model, data=types.SimpleNamespace(X_test=X), dpi=30)
    >>> 'id="fig-atoms"' in path.read_text(encoding="utf-8")  # width 40: not images
    False
    """
    X_test = np.asarray(data.X_test)
    if isinstance(image_shape, str) and image_shape == "auto":
        given = tuple(getattr(data, "image_shape", None) or ())
        if len(given) == 2 and int(given[0]) * int(given[1]) == X_test.shape[1]:
            image_shape = (int(given[0]), int(given[1]))
    extra: Dict[str, Any] = {}
    if metrics:
        for key in ("n_train", "fit_seconds"):
            if key in metrics:
                extra[key] = metrics[key]
        train = metrics.get("train")
        if isinstance(train, Mapping):
            for key in ("mse", "psnr"):
                if key in train:
                    extra[f"train_{key}"] = train[key]
    description = getattr(data, "description", None) or (metrics or {}).get("dataset")
    test = (metrics or {}).get("test")
    paths = make_demo_report(model, X_test, out_dir, extra_metrics=extra,
                             evaluation=test if isinstance(test, Mapping) else None,
                             notes=f"Data: {description}" if description else None, title=title,
                             image_shape=image_shape, data_range=_data_range(X_test), dpi=dpi)
    return paths["report"]


def write_reproduce_report(
    out_dir: PathLike,
    *,
    rows: Sequence[Mapping[str, Any]],
    data: Any = None,
    models: Optional[Mapping[Any, Any]] = None,
    n_images: int = 10,
    dpi: int = 100,
) -> Path:
    """Figures and ``report.html`` for ``ksparse reproduce``; returns the report's path.

    A thin entry point over :func:`make_reproduce_report` for the command line.

    Parameters
    ----------
    out_dir : str or Path
    rows : list of dict
        ``{"k", "mse", "psnr", "seconds"}`` per trained model.
    data : object, optional
        With ``X_train`` and ``X_test``: PCA with the same k values (and those of
        the original table) is computed on them and drawn as a reference.
    models : dict, optional
        ``{k: fitted model}``; adds a grid of the first ``n_images`` test images
        reconstructed by each model (needs ``data``).
    n_images : int, default 10
    dpi : int, default 100

    Returns
    -------
    pathlib.Path
    """
    from ksparse import plotting as P

    pca_rows = None
    originals = reconstructions = None
    data_range = 1.0
    shape: Optional[Tuple[int, int]] = (28, 28)
    if data is not None:
        X_train, X_test = np.asarray(data.X_train), np.asarray(data.X_test)
        data_range = _data_range(X_test)
        shape = _square_shape(X_test.shape[1])
        limit = min(X_train.shape)
        # PCA at the measured k and at the original table's k, so the reference line is whole
        wanted = {int(r["k"]) for r in rows} | {int(r["k"]) for r in P.ORIGINAL_ROWS}
        ks = sorted(k for k in wanted if 1 <= k <= limit)
        if ks:
            pca_rows = P.pca_k_mse(X_train, X_test, ks, data_range=data_range)
        if models and shape is not None:
            originals = X_test[:n_images]
            reconstructions = {k: np.asarray(mdl.reconstruct(originals)) for k, mdl in models.items()}
    elif models:
        raise ValueError("models need data (its X_test) to draw their reconstructions")
    paths = make_reproduce_report(rows, out_dir, pca_rows=pca_rows, originals=originals,
                                  reconstructions=reconstructions, data_range=data_range,
                                  image_shape=shape or (28, 28), dpi=dpi)
    return paths["report"]
