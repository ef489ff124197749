"""Figures for k-sparse autoencoders (matplotlib, no display needed).

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot, no
global figure state, the Agg renderer), returns it, and saves it as a PNG when
``path`` is given. Figures have a fixed size in inches and are saved at their own
``dpi`` without cropping, so a saved PNG is ``figsize * dpi`` pixels.

=========================== ==================================================
:func:`plot_reconstructions` originals above reconstructions, one row per k
:func:`plot_decoder_atoms`   decoder rows as image tiles (what each unit draws)
:func:`plot_unit`            one unit's atom beside the samples that drive it most
:func:`plot_training_curves` loss, MSE, L0, dead units, time, memory per epoch
:func:`plot_k_tradeoff`      MSE and PSNR against k, with PCA and the original
:func:`plot_firing_histogram` unit firing frequencies on a log scale
:func:`plot_code_sparsity`   which units fire for each sample of a batch
:func:`plot_architecture`    a network's layers, sizes, activations and k
=========================== ==================================================

Importing this module imports matplotlib; ``import ksparse`` does not.
"""

from __future__ import annotations

import functools
import math
import numbers
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

import matplotlib
import numpy as np
from matplotlib import colors as mcolors
from matplotlib import ticker as mticker
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ksparse._validation import check_float_array, check_index_array

__all__ = [
    "ORIGINAL_ROWS",
    "PCA_REFERENCE_ROWS",
    "TARGET_ROWS",
    "pca_k_mse",
    "plot_reconstructions",
    "plot_decoder_atoms",
    "plot_unit",
    "plot_training_curves",
    "plot_k_tradeoff",
    "plot_firing_histogram",
    "plot_code_sparsity",
    "plot_architecture",
]

#: MSE of the original numpy project (784 -> 100, 5,000 MNIST training images,
#: first 1,000 test images, pixels in [0, 1]); see ``shared/DESIGN.md``.
ORIGINAL_ROWS: Tuple[Dict[str, float], ...] = tuple(
    {"k": k, "mse": v} for k, v in zip((5, 10, 20, 30, 50), (0.0518, 0.0410, 0.0367, 0.0356, 0.0345))
)
#: MSE of PCA with k components on the same split (for reference; recompute with
#: :func:`pca_k_mse`).
PCA_REFERENCE_ROWS: Tuple[Dict[str, float], ...] = tuple(
    {"k": k, "mse": v} for k, v in zip((5, 10, 20, 30, 50), (0.0447, 0.0347, 0.0244, 0.0185, 0.0122))
)
#: MSE a well-trained k-sparse autoencoder reaches on the same split.
TARGET_ROWS: Tuple[Dict[str, float], ...] = tuple(
    {"k": k, "mse": v} for k, v in zip((5, 10, 20, 30, 50), (0.024, 0.018, 0.0116, 0.0087, 0.0069))
)

# ----------------------------------------------------------------------------- style
COLORS = {
    "ours": "#2b6cb0",
    "val": "#d69e2e",
    "pca": "#dd6b20",
    "original": "#718096",
    "target": "#2f855a",
    "dead": "#c53030",
    "dense": "#dd6b20",
    "normal": "#2b6cb0",
    "ink": "#1a202c",
    "muted": "#4a5568",
    "panel": "#f7fafc",
    "grid": "#e2e8f0",
}

_STYLE: Dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.labelcolor": COLORS["ink"],
    "axes.edgecolor": "#a0aec0",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": COLORS["grid"],
    "grid.linewidth": 0.8,
    "xtick.color": COLORS["muted"],
    "ytick.color": COLORS["muted"],
    "legend.frameon": False,
    "legend.fontsize": 9,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
    "image.interpolation": "antialiased",
}

PathLike = Union[str, Path]
_F = TypeVar("_F", bound=Callable[..., Figure])


def _styled(func: _F) -> _F:
    """Build (and save) the figure under the ksparse style."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _new_figure(width: float, height: float, dpi: int) -> Figure:
    if isinstance(dpi, (bool, np.bool_)) or not isinstance(dpi, numbers.Integral) or not 10 <= dpi <= 600:
        raise ValueError(f"dpi must be an integer between 10 and 600, got {dpi!r}")
    return Figure(figsize=(width, height), dpi=int(dpi))


def _finish(fig: Figure, path: Optional[PathLike]) -> Figure:
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=fig.dpi, format="png")
    return fig


def _suptitle(fig: Figure, title: Optional[str], default: str, subtitle: Optional[str] = None) -> None:
    text = default if title is None else title
    if text:
        fig.suptitle(text, fontsize=13, fontweight="bold", color=COLORS["ink"], x=0.01, ha="left",
                     y=1 - 0.06 / fig.get_figheight(), va="top")
    if subtitle:
        height = fig.get_figheight()
        fig.text(0.01, 1 - (0.42 if text else 0.06) / height, subtitle, fontsize=9, color=COLORS["muted"], ha="left", va="top")


def _layout(fig: Figure, *, rows: int, cols: int, left: float = 0.85, right: float = 0.25, bottom: float = 0.55,
            top: float = 0.95, wgap: float = 0.9, hgap: float = 0.75) -> None:
    """Place a rows x cols grid of axes with fixed margins in inches (fast, unlike tight_layout).

    ``top`` leaves room for the suptitle, subtitle and panel titles; ``wgap`` and
    ``hgap`` are the gaps between panels (tick labels and axis labels).
    """
    W, H = fig.get_figwidth(), fig.get_figheight()
    ax_w = (W - left - right - wgap * (cols - 1)) / cols
    ax_h = (H - top - bottom - hgap * (rows - 1)) / rows
    fig.subplots_adjust(left=left / W, right=1 - right / W, bottom=bottom / H, top=1 - top / H,
                        wspace=wgap / ax_w, hspace=hgap / ax_h)


def _check_image_shape(image_shape: Sequence[int], n_features: int, name: str) -> Tuple[int, int]:
    try:
        shape = tuple(int(s) for s in image_shape)
    except TypeError as exc:
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}") from exc
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width) with positive sizes, got {image_shape!r}")
    if shape[0] * shape[1] != n_features:
        raise ValueError(
            f"{name} has {n_features} features per row, which cannot be shown as "
            f"{shape[0]}x{shape[1]} images; pass image_shape=(height, width) with height*width={n_features}"
        )
    return shape  # type: ignore[return-value]


def _check_count(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _bare(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


# ----------------------------------------------------------------------------- reconstructions
@_styled
def plot_reconstructions(
    originals: Any,
    reconstructions: Mapping[Any, Any],
    *,
    image_shape: Sequence[int] = (28, 28),
    n_images: int = 10,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Originals in the top row, their reconstructions below, one row per k.

    Parameters
    ----------
    originals : array_like of shape (N, n)
        Flattened images.
    reconstructions : dict
        ``{k: array (N, n)}``, the reconstructions with each k, drawn in
        increasing k. String keys (e.g. ``"PCA, 10 components"``) label the rows,
        then drawn in the dict's order.
    image_shape : (int, int), default (28, 28)
        Shape of one image; ``n`` must equal its product.
    n_images : int, default 10
        Number of columns (the first ``n_images`` samples).
    title : str, optional
        Figure title; ``""`` for none.
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Width ``0.95 * n_images + 1.3`` inches, height ``0.95 * (rows) + 0.8``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((4, 784))
    >>> fig = plot_reconstructions(X, {5: X * 0.9, 10: X * 0.95}, n_images=4)
    """
    X = check_float_array(originals, "originals", ndim=2)
    if not isinstance(reconstructions, Mapping) or len(reconstructions) == 0:
        raise ValueError("reconstructions must be a non-empty dict {k: array of shape (N, n)}")
    n_images = _check_count(n_images, "n_images")
    shape = _check_image_shape(image_shape, X.shape[1], "originals")
    n_show = min(n_images, X.shape[0])
    if n_show == 0:
        raise ValueError("originals is empty; pass at least one image")
    recs: List[Tuple[Any, np.ndarray]] = []
    keys = list(reconstructions)
    if all(isinstance(k, numbers.Real) for k in keys):
        keys.sort()
    for key in keys:
        R = check_float_array(reconstructions[key], f"reconstructions[{key!r}]", ndim=2)
        if R.shape[1] != X.shape[1] or R.shape[0] < n_show:
            raise ValueError(
                f"reconstructions[{key!r}] has shape {R.shape}; it needs at least {n_show} rows "
                f"of {X.shape[1]} features, matching originals"
            )
        recs.append((key, R[:n_show]))

    vmin = float(min(0.0, X.min()))
    vmax = 1.0 if X.max() <= 1.0 else float(X.max())
    n_rows = 1 + len(recs)
    rows = [("original", X[:n_show], None)] + [
        (f"k = {key}" if isinstance(key, numbers.Real) else str(key), R,
         float(((R - X[:n_show]) ** 2).mean())) for key, R in recs
    ]
    H, W = shape
    gap = max(2, round(0.1 * W))
    tile_in = 0.95 * W / (W + gap)  # inches per image, so a column is 0.95 in
    width = 0.95 * n_show + 1.35
    row_h = tile_in * H / W
    head, sep = 0.62, 0.14
    fig = _new_figure(width, head + n_rows * row_h + (n_rows - 1) * sep + 0.08, dpi)
    fh = fig.get_figheight()
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    for r, (label, imgs, err) in enumerate(rows):
        y = fh - head - (r + 1) * row_h - r * sep
        ax = fig.add_axes((1.3 / width, y / fh, 0.95 * n_show / width, row_h / fh))
        ax.imshow(_mosaic(imgs.reshape(-1, H, W), 1, n_show, 0, gap), cmap=cmap, vmin=vmin, vmax=vmax,
                  interpolation="nearest", aspect="auto")
        _bare(ax)
        if r == 0:
            for c in range(n_show):
                ax.add_patch(Rectangle((c * (W + gap) + gap // 2 - 0.5, -0.5), W, H, fill=False,
                                       edgecolor=COLORS["ours"], linewidth=1.5))
        text = label if err is None else f"{label}\nMSE {err:.4f}"
        ax.set_ylabel(text, rotation=0, ha="right", va="center", labelpad=8,
                      fontsize=10, fontweight="bold" if err is None else "normal")
    _suptitle(fig, title, "Reconstructions")
    return _finish(fig, path)


def _mosaic(tiles: np.ndarray, rows: int, cols: int, gap_y: int, gap_x: int) -> np.ndarray:
    """Lay (N, H, W) tiles on a rows x cols grid with NaN gaps (drawn white).

    Each cell is (H + gap_y) x (W + gap_x); the tile sits at its bottom, centred
    horizontally, so ``gap_y`` leaves room for a label above it.
    """
    n, H, W = tiles.shape
    out = np.full((rows * (H + gap_y), cols * (W + gap_x)), np.nan)
    for i in range(n):
        r, c = divmod(i, cols)
        y0, x0 = r * (H + gap_y) + gap_y, c * (W + gap_x) + gap_x // 2
        out[y0:y0 + H, x0:x0 + W] = tiles[i]
    return out


# ----------------------------------------------------------------------------- atoms
@_styled
def plot_decoder_atoms(
    W_dec: Any,
    *,
    image_shape: Sequence[int] = (28, 28),
    n_atoms: int = 64,
    usage: Any = None,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Decoder rows (atoms) drawn as images: what each unit adds to a reconstruction.

    Parameters
    ----------
    W_dec : array_like of shape (m, n)
        Decoder weights, one atom per row.
    image_shape : (int, int), default (28, 28)
        Shape of one image; ``n`` must equal its product.
    n_atoms : int, default 64
        How many atoms to show (all of them if m is smaller).
    usage : array_like of shape (m,), optional
        Per-unit firing frequency (:func:`ksparse.metrics.firing_frequency`):
        then the most used atoms are shown first, labelled with unit and
        frequency. Without it, the first ``n_atoms`` rows are shown.
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Sized by the grid of tiles.

    Notes
    -----
    Each tile has its own symmetric colour scale (red positive, blue negative,
    white zero), so the shape of every atom is visible whatever its norm.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.plotting import plot_decoder_atoms
    >>> W = np.random.default_rng(0).normal(size=(16, 64))
    >>> fig = plot_decoder_atoms(W, image_shape=(8, 8), usage=np.linspace(0, 1, 16))
    >>> type(fig).__name__
    'Figure'
    """
    W = check_float_array(W_dec, "W_dec", ndim=2)
    n_atoms = _check_count(n_atoms, "n_atoms")
    shape = _check_image_shape(image_shape, W.shape[1], "W_dec")
    m = W.shape[0]
    if m == 0:
        raise ValueError("W_dec has no rows")
    if usage is not None:
        u = check_float_array(usage, "usage", ndim=1)
        if u.shape[0] != m:
            raise ValueError(f"usage has {u.shape[0]} entries, expected one per unit ({m})")
        order = np.argsort(-u, kind="stable")[:n_atoms]
    else:
        u = None
        order = np.arange(min(n_atoms, m))
    n = len(order)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    H, Wd = shape
    atoms = W[order].reshape(n, H, Wd)
    scale = np.abs(atoms).reshape(n, -1).max(axis=1)
    atoms = atoms / np.where(scale > 0, scale, 1.0)[:, None, None]  # each tile on its own symmetric scale
    gap_x = max(2, round(0.12 * Wd))
    gap_y = max(2, round(0.12 * H)) if u is None else max(7, round(0.34 * H))
    mosaic = _mosaic(atoms, rows, cols, gap_y, gap_x)
    tile_in = 1.0 if u is not None else 0.9  # inches per cell
    ax_w = cols * tile_in
    ax_h = ax_w * mosaic.shape[0] / mosaic.shape[1]
    head = 0.72 if u is None else 0.6
    fig = _new_figure(ax_w + 0.3, ax_h + head + 0.08, dpi)
    fw, fh = fig.get_figwidth(), fig.get_figheight()
    ax = fig.add_axes((0.15 / fw, 0.08 / fh, ax_w / fw, ax_h / fh))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest", aspect="auto")
    _bare(ax)
    if u is not None:
        for i, unit in enumerate(order):
            r, c = divmod(i, cols)
            ax.text(c * (Wd + gap_x) + gap_x // 2 + (Wd - 1) / 2, r * (H + gap_y) + gap_y - 1.2,
                    f"#{unit} · {100 * u[unit]:.1f}%", ha="center", va="bottom", fontsize=7,
                    color=COLORS["muted"])
    sub = ("most used units first; label: unit · share of samples it fires on" if u is not None
           else f"units 0-{n - 1}")
    _suptitle(fig, title, f"Decoder atoms ({n} of {m})", sub + "  ·  red +, blue −")
    return _finish(fig, path)


# ----------------------------------------------------------------------------- one unit
@_styled
def plot_unit(
    model: Any,
    X: Any,
    unit: int,
    *,
    image_shape: Sequence[int] = (28, 28),
    n: int = 8,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """One unit: its decoder atom beside the samples of X that drive it most.

    The samples are those of ``model.top_activating(X, unit, n)``, most
    activating first, each labelled with its row in X and the unit's
    activation in its code (0 where the unit is not selected).

    Parameters
    ----------
    model : KSparseAutoencoder
        A fitted model (with ``top_activating`` and ``W_dec_``).
    X : array_like of shape (n_samples, n_features)
        Flattened images to search, e.g. a test set.
    unit : int
        The hidden unit, in ``[0, n_hidden)``.
    image_shape : (int, int), default (28, 28)
        Shape of one image; ``n_features`` must equal its product.
    n : int, default 8
        How many samples to show (at most ``n_samples``).
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        One axes for the atom, then one per sample shown
        (``1 + min(n, n_samples)`` in all).

    Raises
    ------
    TypeError
        If ``model`` has no ``top_activating`` (not a KSparseAutoencoder).
    ValueError
        If ``unit`` or ``n`` is out of range, or X or ``image_shape`` does not fit
        the model.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse import KSparseAutoencoder
    >>> from ksparse.plotting import plot_unit
    >>> X = np.random.default_rng(0).random((60, 64))
    >>> model = KSparseAutoencoder(n_hidden=16, k=3, n_epochs=1, random_state=0).fit(X)
    >>> fig = plot_unit(model, X, unit=2, image_shape=(8, 8), n=4)
    >>> len(fig.axes)
    5
    """
    if not callable(getattr(model, "top_activating", None)) or not hasattr(model, "W_dec_"):
        raise TypeError(
            f"model must be a fitted KSparseAutoencoder (with top_activating and W_dec_), got a {type(model).__name__}"
        )
    n = _check_count(n, "n")
    Xc = check_float_array(X, "X", ndim=2)
    W = np.asarray(model.W_dec_)
    shape = _check_image_shape(image_shape, W.shape[1], "the model's decoder")
    # every sample ranked once: the first n are shown, the nonzero ones give the firing share
    rows, acts = model.top_activating(Xc, unit, n=Xc.shape[0])
    fires = int(np.count_nonzero(acts))
    rows, acts = rows[:n], acts[:n]
    n_show = len(rows)
    H, Wd = shape
    tile = 1.05  # inches per image
    cols = min(n_show, 8)
    n_rows = int(math.ceil(n_show / cols))
    left, gap, label_h = 0.15, 0.12, 0.42  # label_h: the two-line label above each image
    head = 0.66 + label_h  # title, subtitle, then the first row's labels
    atom_gap = 0.45
    row_h = tile * H / Wd
    width = max(left + tile + atom_gap + cols * (tile + gap) + 0.05, 6.8)  # room for the title
    height = head + n_rows * row_h + (n_rows - 1) * label_h + 0.1
    fig = _new_figure(width, height, dpi)
    fw, fh = fig.get_figwidth(), fig.get_figheight()

    atom = W[int(unit)].reshape(H, Wd).astype(np.float64)
    scale = float(np.abs(atom).max())
    ax = fig.add_axes((left / fw, (fh - head - row_h) / fh, tile / fw, row_h / fh))
    ax.imshow(atom / (scale if scale > 0 else 1.0), cmap=matplotlib.colormaps["RdBu_r"], vmin=-1, vmax=1,
              interpolation="nearest", aspect="auto")
    _bare(ax)
    ax.set_title(f"atom #{int(unit)}", fontsize=9, color=COLORS["ink"])

    shown = Xc[rows].reshape(n_show, H, Wd)
    vmin = float(min(0.0, Xc.min()))
    vmax = 1.0 if Xc.max() <= 1.0 else float(Xc.max())
    gray = matplotlib.colormaps["gray"]
    x0 = left + tile + atom_gap
    for i in range(n_show):
        r, c = divmod(i, cols)
        y = fh - head - row_h - r * (row_h + label_h)
        ax = fig.add_axes(((x0 + c * (tile + gap)) / fw, y / fh, tile / fw, row_h / fh))
        ax.imshow(shown[i], cmap=gray, vmin=vmin, vmax=vmax, interpolation="nearest", aspect="auto")
        _bare(ax)
        ax.set_title(f"row {int(rows[i])}\n{float(acts[i]):.3g}", fontsize=8,
                     color=COLORS["ink"] if acts[i] != 0 else COLORS["muted"])
    share = 100.0 * fires / Xc.shape[0]
    _suptitle(fig, title, f"Unit {int(unit)}: its atom and the {n_show} samples that drive it most",
              f"fires in {fires} of {Xc.shape[0]} samples ({share:.1f}%)  ·  label: row of X, activation  ·  "
              "atom: red +, blue −")
    return _finish(fig, path)


# ----------------------------------------------------------------------------- training curves
_HISTORY_KEYS = ("epoch", "loss", "mse", "l0", "dead_fraction", "k", "time", "peak_rss_mb", "val_loss", "val_mse")


def _check_history(history: Any) -> Dict[str, np.ndarray]:
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history must be a dict of per-epoch lists (an estimator's history_), got {type(history).__name__}"
        )
    if "loss" not in history and "mse" not in history:
        raise ValueError(
            f"history has neither 'loss' nor 'mse'; expected some of {list(_HISTORY_KEYS)}, got {sorted(history)}"
        )
    out: Dict[str, np.ndarray] = {}
    n = None
    for key in _HISTORY_KEYS:
        if key not in history:
            continue
        arr = check_float_array(np.asarray(history[key], dtype=float), f"history[{key!r}]", ndim=1,
                                allow_nonfinite=True)
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            first = next(k for k in _HISTORY_KEYS if k in history)
            raise ValueError(f"history[{key!r}] has {arr.shape[0]} entries but history[{first!r}] has {n}")
        out[key] = arr
    if not n:
        raise ValueError("history is empty: train for at least one epoch first")
    if "epoch" not in out:
        out["epoch"] = np.arange(1, n + 1, dtype=float)
    return out


def _maybe_log(ax: Any, *arrays: np.ndarray) -> None:
    vals = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if vals.size and (vals > 0).all() and vals.max() / vals.min() > 8:
        ax.set_yscale("log")


def _auxiliary_part(h: Mapping[str, np.ndarray]) -> Optional[np.ndarray]:
    """``loss - mse`` per epoch (the AuxK and diversity terms), NaN where it is zero;
    None when the history has no such terms (or no ``mse`` to subtract)."""
    if "mse" not in h:
        return None
    aux = np.asarray(h["loss"], dtype=np.float64) - np.asarray(h["mse"], dtype=np.float64)
    scale = np.abs(np.asarray(h["loss"], dtype=np.float64))
    present = np.isfinite(aux) & (aux > 1e-9 * np.where(np.isfinite(scale), scale, 0.0))
    if not present.any():
        return None
    return np.where(present, aux, np.nan)


@_styled
def plot_training_curves(
    history: Mapping[str, Sequence[float]],
    *,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Training curves per epoch, one panel per recorded quantity.

    Panels, each drawn when its keys are present: loss (with ``val_loss``),
    reconstruction MSE (with ``val_mse``), active units (``l0`` against the
    ``k`` schedule), dead units (``dead_fraction``), time per epoch (``time``)
    and peak memory (``peak_rss_mb``). While ``k`` is above its final value
    (progressive sparsity) the top panels are shaded.

    Parameters
    ----------
    history : dict of equal-length lists
        An estimator's or a ``Network``'s ``history_`` (the keys listed above).
        ``loss`` or ``mse`` is required; without ``epoch`` epochs are numbered
        from 1.
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        ``4 * columns`` x ``3 * rows + 0.6`` inches with up to three panels a
        row: 12 x 6.6 for an estimator's full history.

    Examples
    --------
    >>> from ksparse.plotting import plot_training_curves
    >>> fig = plot_training_curves({"epoch": [0, 1, 2], "loss": [0.05, 0.03, 0.02]})
    >>> len(fig.axes) >= 1
    True
    """
    h = _check_history(history)
    ep = h["epoch"]
    n = len(ep)
    mk = "o" if n <= 30 else None
    style = dict(marker=mk, markersize=4)

    panels: List[str] = [key for key in ("loss", "mse") if key in h]
    if "l0" in h or "k" in h:
        panels.append("l0")
    panels += [key for key in ("dead_fraction", "time", "peak_rss_mb") if key in h]
    cols = min(3, len(panels))
    rows = int(math.ceil(len(panels) / cols))
    fig = _new_figure(4.0 * cols, 3.0 * rows + 0.6, dpi)
    grid = fig.subplots(rows, cols, squeeze=False)
    axes = dict(zip(panels, grid.flat))
    for extra in list(grid.flat)[len(panels):]:
        extra.set_visible(False)

    if "loss" in axes:
        ax = axes["loss"]
        ax.plot(ep, h["loss"], color=COLORS["ours"], label="train", **style)
        if "val_loss" in h:
            ax.plot(ep, h["val_loss"], color=COLORS["val"], label="validation", **style)
        aux = _auxiliary_part(h)
        if aux is not None:
            # the objective can rise while the MSE falls (AuxK joins in once units die): show why
            ax.plot(ep, aux, color=COLORS["dead"], linewidth=1.2, label="auxiliary terms (loss - MSE)")
            ax.plot(ep, h["mse"], color=COLORS["muted"], linewidth=1.0, linestyle=":", label="MSE part")
        _maybe_log(ax, h["loss"], h.get("val_loss", h["loss"]))
        ax.set(title="Loss" if aux is None else "Loss = MSE + auxiliary terms", ylabel="training objective")
        if aux is not None:
            ax.legend()

    if "mse" in axes:
        ax = axes["mse"]
        ax.plot(ep, h["mse"], color=COLORS["ours"], label="train", **style)
        if "val_mse" in h:
            ax.plot(ep, h["val_mse"], color=COLORS["val"], label="validation", **style)
            ax.legend()
        _maybe_log(ax, h["mse"], h.get("val_mse", h["mse"]))
        ax.set(title="Reconstruction MSE", ylabel="mean squared error")
        ok = np.isfinite(h["mse"])
        if ok.any():
            ax.annotate(f"{h['mse'][ok][-1]:.4g}", xy=(ep[ok][-1], h["mse"][ok][-1]), xytext=(-2, 7),
                        textcoords="offset points", ha="right", fontsize=9, color=COLORS["ours"])

    if "l0" in axes:
        ax = axes["l0"]
        if "k" in h:
            ax.plot(ep, h["k"], color=COLORS["original"], linestyle="--", label="k (target of top-k)")
        if "l0" in h:
            ax.plot(ep, h["l0"], color=COLORS["ours"], label="mean L0 (active units)", **style)
        ax.set(title="Active units per sample", ylabel="units")
        ax.set_ylim(bottom=0)
        ax.legend()

    if "dead_fraction" in axes:
        ax = axes["dead_fraction"]
        ax.plot(ep, 100 * h["dead_fraction"], color=COLORS["dead"], **style)
        ax.fill_between(ep, 0, 100 * h["dead_fraction"], color=COLORS["dead"], alpha=0.12)
        ax.set(title="Dead units", ylabel="% of units")
        top = float(np.nanmax(100 * h["dead_fraction"])) if np.isfinite(h["dead_fraction"]).any() else 0.0
        ax.set_ylim(0, max(5.0, 1.15 * top))

    if "time" in axes:
        ax = axes["time"]
        width = 0.8 * (float(np.min(np.diff(ep))) if n > 1 else 1.0)
        ax.bar(ep, h["time"], width=width, color=COLORS["ours"], alpha=0.85)
        total = float(np.nansum(h["time"]))
        ax.set(title=f"Time per epoch (total {total:.1f} s)", ylabel="seconds")

    if "peak_rss_mb" in axes:
        ax = axes["peak_rss_mb"]
        ax.plot(ep, h["peak_rss_mb"], color=COLORS["muted"], **style)
        ax.set(title="Peak memory (RSS)", ylabel="MB")
        peak = float(np.nanmax(h["peak_rss_mb"])) if np.isfinite(h["peak_rss_mb"]).any() else 0.0
        ax.set_ylim(bottom=0, top=max(1.0, 1.15 * peak))

    # shade the progressive-sparsity phase (k above its final value), which explains bumps in the loss
    if "k" in h and n > 1:
        kk = h["k"]
        annealing = np.isfinite(kk) & (kk != kk[-1])
        if annealing.any():
            end = float(ep[int(np.nonzero(annealing)[0].max()) + 1])
            shaded = [axes[key] for key in ("loss", "mse", "l0") if key in axes]
            for a in shaded:
                a.axvspan(float(ep[0]), end, color="#e2e8f0", alpha=0.7, zorder=0, linewidth=0,
                          label="k annealing" if a is shaded[0] else None)
            shaded[0].legend()
    if "loss" in axes and "val_loss" in h and axes["loss"].get_legend() is None:
        axes["loss"].legend()
    for a in axes.values():
        a.xaxis.get_major_locator().set_params(integer=True)
        a.set_xlabel("epoch")
    _suptitle(fig, title, "Training", f"{n} epoch{'s' if n != 1 else ''}")
    _layout(fig, rows=rows, cols=cols)
    return _finish(fig, path)


# ----------------------------------------------------------------------------- k trade-off
def _rows(rows: Any, name: str) -> List[Dict[str, float]]:
    if rows is None:
        return []
    if isinstance(rows, Mapping):
        rows = [{"k": k, "mse": v} for k, v in rows.items()]
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "k" not in row or "mse" not in row:
            raise ValueError(f"{name}[{i}] must be a dict with at least 'k' and 'mse', got {row!r}")
        k, err = float(row["k"]), float(row["mse"])
        if not (k > 0 and math.isfinite(err) and err >= 0):
            raise ValueError(f"{name}[{i}] has k={row['k']!r}, mse={row['mse']!r}; need k > 0 and a finite mse >= 0")
        item = {"k": k, "mse": err}
        if row.get("psnr") is not None:
            item["psnr"] = float(row["psnr"])
        out.append(item)
    return sorted(out, key=lambda r: r["k"])


def _psnr_of(row: Mapping[str, float], data_range: float) -> float:
    if "psnr" in row:
        return float(row["psnr"])
    return math.inf if row["mse"] == 0 else 10.0 * math.log10(data_range**2 / row["mse"])


def pca_k_mse(X_train: Any, X_test: Any, ks: Sequence[int], *, data_range: float = 1.0) -> List[Dict[str, float]]:
    """MSE of the best rank-k linear reconstruction (PCA with k components).

    The principal axes are those of ``X_train`` centred by its mean: its right
    singular vectors, found with ``numpy.linalg.svd`` (of the n x n Gram matrix
    when there are more samples than features, which is several times faster
    and gives the same axes); ``X_test`` is projected on the first k and
    reconstructed. This is the classical baseline any k-sparse code should beat
    at the same k.

    Parameters
    ----------
    X_train : array_like of shape (n_train, n)
        Data the principal axes are computed from.
    X_test : array_like of shape (n_test, n)
        Data projected and reconstructed.
    ks : sequence of int
        Numbers of components, each in ``[1, min(n_train, n)]``.
    data_range : float, default 1.0
        Used for the PSNR column.

    Returns
    -------
    list of dict
        ``[{"k": k, "mse": ..., "psnr": ...}, ...]`` in the order of ``ks``.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.plotting import pca_k_mse
    >>> X = np.random.default_rng(0).random((50, 10))
    >>> rows = pca_k_mse(X, X, [2, 10])
    >>> [r["k"] for r in rows], rows[1]["mse"] < 1e-20
    ([2, 10], True)
    """
    from ksparse.metrics import mse as _mse, psnr as _psnr

    A = check_float_array(X_train, "X_train", ndim=2, dtype=np.float64)
    B = check_float_array(X_test, "X_test", ndim=2, dtype=np.float64)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"X_train has {A.shape[1]} features but X_test has {B.shape[1]}")
    limit = min(A.shape)
    ks = [int(k) for k in ks]
    for k in ks:
        if not 1 <= k <= limit:
            raise ValueError(f"k={k} components must be between 1 and min(n_train, n_features)={limit}")
    mean = A.mean(axis=0)
    Ac = A - mean
    if Ac.shape[0] > Ac.shape[1]:
        _, _, Vt = np.linalg.svd(Ac.T @ Ac, hermitian=True)
    else:
        _, _, Vt = np.linalg.svd(Ac, full_matrices=False)
    Bc = B - mean
    rows = []
    for k in ks:
        V = Vt[:k]
        rec = (Bc @ V.T) @ V + mean
        rows.append({"k": k, "mse": float(_mse(B, rec)), "psnr": float(_psnr(B, rec, data_range=data_range))})
    return rows


@_styled
def plot_k_tradeoff(
    rows: Any,
    *,
    pca_rows: Any = None,
    original_rows: Any = ORIGINAL_ROWS,
    target_rows: Any = None,
    data_range: float = 1.0,
    label: str = "ksparse",
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Reconstruction error against k: MSE (log scale) and PSNR panels.

    Parameters
    ----------
    rows : list of dict or dict
        Measured results, ``[{"k": 5, "mse": ..., "psnr": ...}, ...]`` (the
        ``rows`` of ``ksparse reproduce --json``) or ``{k: mse}``. A row without
        ``psnr`` gets ``10 log10(data_range**2 / mse)``.
    pca_rows : list of dict, optional
        PCA with k components (:func:`pca_k_mse`, or :data:`PCA_REFERENCE_ROWS`).
    original_rows : list of dict, default :data:`ORIGINAL_ROWS`
        The original project's numbers; ``None`` to leave them out.
    target_rows : list of dict, optional
        Another reference, e.g. :data:`TARGET_ROWS`.
    data_range : float, default 1.0
        Range of the data, for the PSNR (1 for [0, 1] pixels, 255 for raw bytes).
    label : str, default "ksparse"
        Legend label of ``rows``.
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        11 x 4.6 inches. On the MSE panel each measured point is labelled with how
        many times lower its MSE is than the original's at the same k.

    Examples
    --------
    >>> from ksparse.plotting import TARGET_ROWS, plot_k_tradeoff
    >>> fig = plot_k_tradeoff({5: 0.023, 10: 0.016, 30: 0.008}, target_rows=TARGET_ROWS)
    >>> len(fig.axes)
    2
    """
    ours = _rows(rows, "rows")
    if not ours:
        raise ValueError("rows is empty: pass at least one measured {'k': ..., 'mse': ...}")
    refs = [
        (r, name, COLORS[key], ls, mk)
        for r, name, key, ls, mk in (
            (_rows(original_rows, "original_rows"), "original project", "original", "--", "s"),
            (_rows(pca_rows, "pca_rows"), "PCA, k components", "pca", ":", "^"),
            (_rows(target_rows, "target_rows"), "target", "target", "-.", "D"),
        )
        if r
    ]
    fig = _new_figure(11.0, 4.6, dpi)
    ax_mse, ax_psnr = fig.subplots(1, 2)
    for series, name, color, ls, mk in refs:
        ks = [r["k"] for r in series]
        ax_mse.plot(ks, [r["mse"] for r in series], color=color, linestyle=ls, marker=mk, linewidth=1.6, label=name)
        ax_psnr.plot(ks, [_psnr_of(r, data_range) for r in series], color=color, linestyle=ls, marker=mk,
                     linewidth=1.6, label=name)
    ks = [r["k"] for r in ours]
    ax_mse.plot(ks, [r["mse"] for r in ours], color=COLORS["ours"], marker="o", markersize=7, linewidth=2.6,
                label=label, zorder=5)
    ax_psnr.plot(ks, [_psnr_of(r, data_range) for r in ours], color=COLORS["ours"], marker="o", markersize=7,
                 linewidth=2.6, label=label, zorder=5)
    orig = {r["k"]: r["mse"] for r in _rows(original_rows, "original_rows")}
    for r in ours:
        if r["k"] in orig and r["mse"] > 0:
            ax_mse.annotate(f"{orig[r['k']] / r['mse']:.1f}×", xy=(r["k"], r["mse"]), xytext=(7, 4),
                            textcoords="offset points", ha="left", fontsize=8.5, color=COLORS["ours"],
                            fontweight="bold")
    all_mse = [r["mse"] for r in ours] + [r["mse"] for s in refs for r in s[0]]
    if min(all_mse) > 0:
        ax_mse.set_yscale("log")
        ax_mse.set_ylim(min(all_mse) / 1.6, max(all_mse) * 1.3)
        fmt = mticker.FuncFormatter(lambda v, _: f"{v:.3g}")
        ax_mse.yaxis.set_major_formatter(fmt)
        ax_mse.yaxis.set_minor_formatter(fmt)
        ax_mse.tick_params(axis="y", which="minor", labelsize=8)
    all_k = sorted(set(ks) | {r["k"] for s in refs for r in s[0]})
    for ax in (ax_mse, ax_psnr):
        ax.set_xticks(all_k)
        ax.set_xticklabels([f"{k:g}" for k in all_k])
        ax.set_xlabel("k (active units per sample)")
    ax_mse.set(title="Reconstruction error (lower is better)", ylabel="MSE")
    ax_psnr.set(title="PSNR (higher is better)", ylabel=f"PSNR, dB (data range {data_range:g})")
    ax_psnr.legend(loc="lower right")
    _suptitle(fig, title, "Quality against sparsity",
              "labels: times lower MSE than the original project" if orig and any(r["k"] in orig for r in ours) else None)
    _layout(fig, rows=1, cols=2)
    return _finish(fig, path)


# ----------------------------------------------------------------------------- firing histogram
@_styled
def plot_firing_histogram(
    frequencies: Any,
    *,
    dense_threshold: Optional[float] = None,
    n_samples: Optional[int] = None,
    n_bins: int = 40,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Histogram of per-unit firing frequencies on a log scale.

    Units that never fired (dead) get their own red bar at the left; units
    above ``dense_threshold`` (dense) are orange. A dashed line marks the
    frequency every unit would have if usage were uniform (the mean frequency,
    k/m for top-k codes).

    Parameters
    ----------
    frequencies : array_like of shape (m,)
        Fraction of samples each unit fired on, in [0, 1]
        (:func:`ksparse.metrics.firing_frequency`).
    dense_threshold : float, optional
        Frequency above which a unit counts as dense. Default: five times the
        uniform rate, but at least 0.1 (the "dense latent" threshold of Gao et
        al.) and at most 1.
    n_samples : int, optional
        Number of samples the frequencies were measured on: ``1 / n_samples``
        (one firing) is the lowest non-zero frequency, which bounds the axis
        and is checked against ``frequencies``.
    n_bins : int, default 40
        Number of histogram bins over the non-zero frequencies.
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        8 x 4.4 inches.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.plotting import plot_firing_histogram
    >>> freq = np.random.default_rng(0).integers(1, 200, 100) / 1000  # fired 1 to 199 times in 1000
    >>> freq[:5] = 0.0  # five dead units
    >>> fig = plot_firing_histogram(freq, n_samples=1000)
    """
    f = check_float_array(frequencies, "frequencies", ndim=1)
    if f.size == 0:
        raise ValueError("frequencies is empty; pass one value per unit")
    if (f < 0).any() or (f > 1).any():
        raise ValueError("frequencies must lie in [0, 1] (fractions of samples); divide counts by the number of samples")
    n_bins = _check_count(n_bins, "n_bins", 2)
    uniform = float(f.mean())
    if dense_threshold is None:
        dense_threshold = min(1.0, max(0.1, 5.0 * uniform))
    elif not (0 < float(dense_threshold) <= 1):
        raise ValueError(f"dense_threshold={dense_threshold!r} must be in (0, 1]")
    dense_threshold = float(dense_threshold)
    m = f.size
    dead = f == 0
    pos = f[~dead]
    resolution = None
    if n_samples is not None:
        resolution = 1.0 / _check_count(n_samples, "n_samples")
        if pos.size and pos.min() < resolution * (1 - 1e-9):
            raise ValueError(
                f"a unit fires on a fraction {pos.min():.3g} < 1/n_samples = {resolution:.3g}; check n_samples"
            )
    if pos.size:
        # start a factor of 2 below the rarest live unit (but never below one sample's worth)
        lo = max(float(pos.min()) / 2.0, resolution or 0.0)
    else:
        lo = resolution if resolution is not None else 1e-3
    lo = min(lo, float(pos.min()) if pos.size else lo, dense_threshold) / 1.15
    edges = np.logspace(math.log10(lo), 0.0 + 0.02, n_bins + 1)
    if dense_threshold < 1.0:
        # a bin edge at the threshold, so every bar is either all dense or all not
        edges = np.union1d(edges, [dense_threshold * (1 + 1e-12)])
    counts, _ = np.histogram(pos, bins=edges)
    colors = [COLORS["dense"] if left > dense_threshold else COLORS["normal"] for left in edges[:-1]]

    fig = _new_figure(8.0, 4.4, dpi)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colors, edgecolor="white", linewidth=0.5)
    ax.set_xscale("log")
    # the dead bar sits one decade-fraction left of the axis' first bin
    dead_left, dead_right = lo / 3.2, lo / 1.6
    n_dead = int(dead.sum())
    ax.bar([dead_left], [n_dead], width=[dead_right - dead_left], align="edge", color=COLORS["dead"])
    ax.set_xlim(dead_left / 1.3, 1.25)
    top = max(int(counts.max(initial=0)), n_dead, 1)
    ax.set_ylim(0, top * 1.22)
    ax.text(math.sqrt(dead_left * dead_right), n_dead + top * 0.03, f"dead\n{n_dead}", ha="center", va="bottom",
            fontsize=8.5, color=COLORS["dead"], fontweight="bold")
    ax.axvline(uniform, color=COLORS["ink"], linestyle="--", linewidth=1.2)
    ax.text(uniform, top * 1.17, f" uniform {uniform:.3g}", ha="left", va="top", fontsize=8.5, color=COLORS["ink"])
    n_dense = int((f > dense_threshold).sum())
    if dense_threshold < 1.0:
        ax.axvline(dense_threshold, color=COLORS["dense"], linestyle=":", linewidth=1.2)
        right = dense_threshold > 0.3
        ax.text(dense_threshold, top * 1.08, f"dense > {dense_threshold:.2g}: {n_dense} " if right
                else f" dense > {dense_threshold:.2g}: {n_dense}", ha="right" if right else "left", va="top",
                fontsize=8.5, color=COLORS["dense"])
    ax.set(xlabel="firing frequency (fraction of samples, log scale)", ylabel="number of units")
    ax.grid(axis="x", visible=False)
    _suptitle(fig, title, "How often each unit fires",
              f"{m} units · {n_dead} dead ({100 * n_dead / m:.1f}%) · {n_dense} dense · median "
              f"{float(np.median(f)):.3g}")
    _layout(fig, rows=1, cols=1)
    return _finish(fig, path)


# ----------------------------------------------------------------------------- code sparsity
@_styled
def plot_code_sparsity(
    indices: Any,
    n_hidden: int,
    *,
    values: Any = None,
    n_samples: int = 64,
    sort_units: bool = False,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Which units fire for each sample of a batch.

    A (samples x units) map of the code, with the number of samples using each
    unit above it and the number of active units of each sample at its right.

    Parameters
    ----------
    indices : array_like of int, shape (B, k)
        The selected units of each sample.
    n_hidden : int
        Number of units ``m``.
    values : array_like of shape (B, k), optional
        The code values; when given the map shows their magnitude and zero
        values do not count as active.
    n_samples : int, default 64
        Show the first ``n_samples`` rows of the batch.
    sort_units : bool, default False
        Order the units by how many of the shown samples use them (most used
        left), which shows how concentrated the code is.
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        11 x 5.6 inches.

    Examples
    --------
    >>> import numpy as np
    >>> from ksparse.plotting import plot_code_sparsity
    >>> indices = np.random.default_rng(0).integers(0, 32, (16, 4))
    >>> fig = plot_code_sparsity(indices, 32, sort_units=True)
    """
    m = _check_count(n_hidden, "n_hidden")
    idx = check_index_array(indices, "indices", m)
    n_samples = _check_count(n_samples, "n_samples")
    B = min(n_samples, idx.shape[0])
    if B == 0:
        raise ValueError("indices is empty; pass the codes of at least one sample")
    idx = idx[:B]
    dense = np.zeros((B, m))
    if values is not None:
        vals = check_float_array(values, "values", ndim=2)
        if vals.shape[0] < B or vals.shape[1] != idx.shape[1]:
            raise ValueError(f"values {vals.shape} must have the same shape as indices {np.shape(indices)}")
        np.put_along_axis(dense, idx, np.abs(vals[:B]), axis=1)
    else:
        np.put_along_axis(dense, idx, 1.0, axis=1)
    active = dense != 0
    per_unit = active.sum(axis=0)
    per_sample = active.sum(axis=1)
    order = np.argsort(-per_unit, kind="stable") if sort_units else np.arange(m)
    dense, per_unit, active = dense[:, order], per_unit[order], active[:, order]

    fig = _new_figure(11.0, 5.6, dpi)
    gs = fig.add_gridspec(2, 2, width_ratios=(12, 1.3), height_ratios=(1.2, 4), left=0.08, right=0.97,
                          bottom=0.1, top=0.84, wspace=0.04, hspace=0.06)
    ax = fig.add_subplot(gs[1, 0])
    ax_top = fig.add_subplot(gs[0, 0], sharex=ax)
    ax_right = fig.add_subplot(gs[1, 1], sharey=ax)
    vmax = float(dense.max()) or 1.0
    cmap = matplotlib.colormaps["Blues"] if values is not None else mcolors.ListedColormap(["white", COLORS["ours"]])
    ax.imshow(dense, aspect="auto", cmap=cmap, vmin=0, vmax=vmax, interpolation="antialiased" if m > 600 else "nearest",
              extent=(-0.5, m - 0.5, B - 0.5, -0.5))
    ax.grid(False)
    ax.set(xlabel="unit" + (" (sorted by use in this batch)" if sort_units else ""), ylabel="sample")
    if sort_units:
        ax.set_xticks([])
    ax_top.bar(np.arange(m), per_unit, width=1.0, color=COLORS["ours"], linewidth=0)
    ax_top.set_ylabel("samples\nusing unit", fontsize=8.5)
    ax_top.tick_params(labelbottom=False)
    ax_top.grid(axis="x", visible=False)
    ax_right.barh(np.arange(B), per_sample, height=0.85, color=COLORS["muted"])
    ax_right.set_xlabel("active", fontsize=8.5)
    ax_right.tick_params(labelleft=False)
    ax_right.grid(axis="y", visible=False)
    ax_right.set_xlim(0, max(1, int(per_sample.max())) * 1.1)
    used = int((per_unit > 0).sum())
    _suptitle(fig, title, "Sparsity pattern of the code",
              f"{B} samples × {m} units · {per_sample.mean():.1f} active per sample on average · "
              f"{used} units ({100 * used / m:.0f}%) used by this batch"
              + (" · shade = |value|" if values is not None else ""))
    return _finish(fig, path)


# ----------------------------------------------------------------------------- architecture
def _activation_name(act: Any) -> str:
    if act is None:
        return "linear"
    if isinstance(act, str):
        return act
    name = getattr(act, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"a layer's activation must be a name or an object with a .name, got {act!r}")
    return name


def _describe_layers(model: Any) -> List[Dict[str, Any]]:
    """Turn a Network, a list of layers, or a KSparseAutoencoder into layer dicts."""
    if hasattr(model, "n_hidden") and hasattr(model, "k") and not hasattr(model, "layers") and not hasattr(model, "n_in"):
        n_in = getattr(model, "n_features_in_", None)
        if n_in is None:
            raise ValueError("the autoencoder is not fitted yet (no n_features_in_); fit it before drawing it")
        return [
            {"type": "KSparse encoder", "n_in": int(n_in), "n_out": int(model.n_hidden),
             "activation": _activation_name(getattr(model, "activation", "relu")), "k": int(model.k)},
            {"type": "Linear decoder", "n_in": int(model.n_hidden), "n_out": int(n_in),
             "activation": "linear", "k": None},
        ]
    layers = model.layers if hasattr(model, "layers") else model
    if hasattr(layers, "n_in"):
        layers = [layers]
    try:
        layers = list(layers)
    except TypeError as exc:
        raise TypeError(
            "plot_architecture needs a Network (with .layers), a list of layers, or a fitted "
            f"KSparseAutoencoder; got {type(model).__name__}"
        ) from exc
    if not layers:
        raise ValueError("the network has no layers")
    out = []
    for i, layer in enumerate(layers):
        for attr in ("n_in", "n_out", "activation"):
            if not hasattr(layer, attr):
                raise TypeError(f"layer {i} ({type(layer).__name__}) has no .{attr}; layers need n_in, n_out, activation")
        k = getattr(layer, "k", None)
        out.append({"type": type(layer).__name__, "n_in": int(layer.n_in), "n_out": int(layer.n_out),
                    "activation": _activation_name(layer.activation), "k": None if k is None else int(k)})
        if i and out[i]["n_in"] != out[i - 1]["n_out"]:
            raise ValueError(
                f"layer {i} takes {out[i]['n_in']} inputs but layer {i - 1} gives {out[i - 1]['n_out']}"
            )
    return out


@_styled
def plot_architecture(
    model: Any,
    *,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    dpi: int = 100,
) -> Figure:
    """Diagram of a network: its tensors (bars), layers (arrows), sizes, activations and k.

    Parameters
    ----------
    model : Network, sequence of layers, layer, or KSparseAutoencoder
        Layers exposing ``n_in``, ``n_out``, ``activation`` (and ``k`` when
        k-sparse), a ``Network`` of them, or a fitted ``KSparseAutoencoder``,
        drawn as its encoder and decoder.
    title : str, optional
        Figure title (a default when None; ``""`` for none).
    path : str or Path, optional
        Save the figure as a PNG here.
    dpi : int, default 100
        Dots per inch, 10 to 600; a saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        ``2.7 * (n_layers + 1) + 0.6`` inches wide, 4.6 high.

    Examples
    --------
    >>> from ksparse.layers import DenseLayer, KSparseLayer, Network
    >>> from ksparse.plotting import plot_architecture
    >>> fig = plot_architecture(Network([KSparseLayer(784, 100, k=20), DenseLayer(100, 784)]))
    >>> fig.get_size_inches().round(1).tolist()
    [8.7, 4.6]
    """
    layers = _describe_layers(model)
    sizes = [layers[0]["n_in"]] + [l["n_out"] for l in layers]
    ks: List[Optional[int]] = [None] + [l["k"] for l in layers]
    n_t = len(sizes)
    width = 2.7 * n_t + 0.6
    fig = _new_figure(width, 4.6, dpi)
    ax = fig.add_axes((0, 0, 1, 0.86))
    ax.set_xlim(-0.6, 2.7 * (n_t - 1) + 0.6 + 0.6)
    ax.set_ylim(-2.3, 2.0)
    ax.axis("off")
    big = math.log10(max(sizes) + 1)
    xs = [0.3 + 2.7 * i for i in range(n_t)]
    for i, (x, size, k) in enumerate(zip(xs, sizes, ks)):
        h = 0.9 + 2.2 * math.log10(size + 1) / big
        y0 = -h / 2
        face = "#ebf4ff" if k is None else "#f7fafc"
        ax.add_patch(FancyBboxPatch((x - 0.22, y0), 0.44, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=face, edgecolor=COLORS["ours"], linewidth=1.6))
        if k is not None:
            # a schematic column of units: about k/size of them lit, at fixed pseudo-random places
            cells = 24
            on = max(1, min(cells, round(cells * k / size)))
            chosen = set(np.random.default_rng(size).choice(cells, size=on, replace=False).tolist())
            ch = (h - 0.12) / cells
            for c in range(cells):
                ax.add_patch(Rectangle((x - 0.16, y0 + 0.06 + c * ch + ch * 0.18), 0.32, ch * 0.64,
                                       facecolor=COLORS["ours"] if c in chosen else "#e2e8f0", edgecolor="none"))
            ax.text(x, y0 - 0.12, f"{k} of {size:,} active", ha="center", va="top", fontsize=9,
                    color=COLORS["ours"], fontweight="bold")
        label = "input" if i == 0 else ("output" if i == n_t - 1 else f"hidden {i}")
        ax.text(x, h / 2 + 0.12, f"{size:,}", ha="center", va="bottom", fontsize=12, fontweight="bold",
                color=COLORS["ink"])
        ax.text(x, -h / 2 - (0.42 if k is not None else 0.12), label, ha="center", va="top", fontsize=9,
                color=COLORS["muted"])
    for i, layer in enumerate(layers):
        x0, x1 = xs[i] + 0.3, xs[i + 1] - 0.3
        ax.add_patch(FancyArrowPatch((x0, 0), (x1, 0), arrowstyle="-|>", mutation_scale=16, linewidth=1.6,
                                     color=COLORS["muted"]))
        xm = (x0 + x1) / 2
        ax.text(xm, 0.5, layer["type"], ha="center", va="bottom", fontsize=10, fontweight="bold", color=COLORS["ink"])
        detail = layer["activation"] + (f" · top-{layer['k']}" if layer["k"] is not None else "")
        ax.text(xm, 0.22, detail, ha="center", va="bottom", fontsize=9.5,
                color=COLORS["ours"] if layer["k"] is not None else COLORS["muted"])
        ax.text(xm, -0.22, f"{layer['n_in']:,} × {layer['n_out']:,} weights", ha="center", va="top", fontsize=8.5,
                color=COLORS["muted"])
    n_w = sum(l["n_in"] * l["n_out"] + l["n_out"] for l in layers)
    _suptitle(fig, title, "Architecture",
              " → ".join(f"{s:,}" for s in sizes) + f"  ·  {len(layers)} layer{'s' if len(layers) != 1 else ''}"
              f"  ·  {n_w:,} weights and biases")
    return _finish(fig, path)
