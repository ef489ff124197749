"""MNIST loaders: the bundled subset, the full download, and any IDX folder."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.resources
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from ksparse._validation import check_dtype
from ksparse.datasets._idx import IDXFormatError, read_idx
from ksparse.io import _fsync_dir, _umask_permissions

__all__ = [
    "Dataset",
    "DownloadError",
    "ChecksumError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "load_mnist",
    "load_idx_folder",
    "get_data_home",
]

#: Mirrors of the official MNIST files, tried in order (the first is the one
#: TensorFlow Datasets uses, the second the one torchvision uses).
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

# SHA-256 of the official MNIST files.
# - "gz": the published .gz archives, as listed in tensorflow/datasets,
#   tensorflow_datasets/url_checksums/mnist.txt (with sizes 9912422, 28881,
#   1648877 and 4542 bytes).
# - "raw": the uncompressed IDX content, as published in many projects that pin
#   MNIST (e.g. build scripts that verify the decompressed files); the two t10k
#   values were checked against the official test files bundled in this package,
#   whose gzip wrappers differ from the published archives but whose content is
#   identical. A file is accepted when either checksum matches, so a re-compressed
#   or uncompressed copy placed by hand is accepted too.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": {
        "gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "raw": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    "train-labels-idx1-ubyte.gz": {
        "gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "raw": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    "t10k-images-idx3-ubyte.gz": {
        "gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "raw": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    "t10k-labels-idx1-ubyte.gz": {
        "gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "raw": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}

_BUNDLED = {
    "X_train": "train-5k-images-idx3-ubyte.gz",
    "y_train": "train-5k-labels-idx1-ubyte.gz",
    "X_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

_MNIST_CREDIT = (
    "MNIST by Yann LeCun and Corinna Cortes (with Christopher J.C. Burges), "
    "licensed CC BY-SA 3.0."
)


class DownloadError(OSError):
    """Raised when a data file cannot be downloaded; the message says how to place it by hand."""


class ChecksumError(ValueError):
    """Raised when a file's SHA-256 does not match the published value."""


@dataclasses.dataclass
class Dataset:
    """A train/test split of flattened images with their labels.

    Unpacks like a tuple: ``X_train, y_train, X_test, y_test = load_mnist()``.
    """

    X_train: np.ndarray
    """Training images, shape (n_train, n_features), one flattened image per row."""
    y_train: np.ndarray
    """Training labels, shape (n_train,), int64."""
    X_test: np.ndarray
    """Test images, shape (n_test, n_features)."""
    y_test: np.ndarray
    """Test labels, shape (n_test,), int64."""
    description: str = ""
    """Where the data comes from, its size and its licence."""
    image_shape: tuple = ()
    """Shape of one image before flattening, e.g. (28, 28)."""

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __repr__(self) -> str:
        return (
            f"Dataset(X_train={self.X_train.shape} {self.X_train.dtype}, "
            f"X_test={self.X_test.shape}, image_shape={self.image_shape})"
        )


def get_data_home(data_home: Union[str, os.PathLike, None] = None) -> Path:
    """Return the folder that holds downloaded data sets (created if missing).

    The first of: ``data_home``; the environment variable ``KSPARSE_DATA``; the
    user cache folder (``$XDG_CACHE_HOME/ksparse`` or ``~/.cache/ksparse`` on
    Linux, ``~/Library/Caches/ksparse`` on macOS, ``%LOCALAPPDATA%\\ksparse`` on
    Windows).
    """
    if data_home is None:
        data_home = os.environ.get("KSPARSE_DATA") or None
    if data_home is None:
        if sys.platform == "win32":
            base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        elif sys.platform == "darwin":
            base = Path.home() / "Library" / "Caches"
        else:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        data_home = base / "ksparse"
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_uint8(dtype: Any) -> bool:
    try:
        return np.dtype(dtype) == np.uint8
    except TypeError:
        return False


def _to_xy(images: np.ndarray, labels: np.ndarray, *, normalize: bool, dtype: Any, what: str):
    if labels.ndim != 1:
        raise IDXFormatError(f"{what}: labels must be 1-D, the file holds shape {labels.shape}")
    if images.ndim < 2:
        raise IDXFormatError(f"{what}: images must be at least 2-D (n, ...), the file holds shape {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(
            f"{what}: {images.shape[0]} images but {labels.shape[0]} labels; the files do not belong together"
        )
    X = images.reshape(images.shape[0], -1)
    if normalize:
        if _is_uint8(dtype):
            raise ValueError("dtype='uint8' needs normalize=False (normalized pixels are floats)")
        if images.dtype != np.uint8:
            raise ValueError(
                f"{what}: normalize=True scales uint8 pixels to [0, 1], but the images are {images.dtype}; "
                "pass normalize=False"
            )
        dt = check_dtype(dtype)
        X = X.astype(dt) / dt.type(255)
    else:
        if not _is_uint8(dtype):
            X = X.astype(check_dtype(dtype))
        elif images.dtype != np.uint8:
            raise ValueError(f"{what}: dtype='uint8' needs uint8 data, the files hold {images.dtype}")
    return np.ascontiguousarray(X), labels.astype(np.int64), tuple(images.shape[1:])


def _load_bundled(normalize: bool, dtype: Any) -> Dataset:
    root = importlib.resources.files("ksparse.datasets").joinpath("data")
    arrays = {}
    for key, fname in _BUNDLED.items():
        with root.joinpath(fname).open("rb") as fh:
            arrays[key] = read_idx(fh, name=f"bundled {fname}")
    X_train, y_train, shape = _to_xy(arrays["X_train"], arrays["y_train"], normalize=normalize, dtype=dtype, what="bundled MNIST train")
    X_test, y_test, _ = _to_xy(arrays["X_test"], arrays["y_test"], normalize=normalize, dtype=dtype, what="bundled MNIST test")
    desc = (
        f"MNIST subset bundled with ksparse: {len(X_train)} training images (500 per digit, "
        f"drawn from the official 60,000-image training set, sorted by class: shuffle before "
        f"training) and the official {len(X_test)}-image test set; 28x28 pixels, "
        f"{'scaled to [0, 1]' if normalize else 'raw 0-255 values'}. {_MNIST_CREDIT}"
    )
    return Dataset(X_train, y_train, X_test, y_test, desc, shape)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, fname: str) -> Optional[str]:
    """Return None when ``path`` holds the official ``fname``, else a reason."""
    sums = MNIST_FILES[fname]
    digest = _sha256_file(path)
    if digest == sums["gz"]:
        return None
    try:
        with open(path, "rb") as fh:
            content = fh.read()
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as exc:
        return f"SHA-256 {digest} does not match the published {sums['gz']}, and it does not decompress ({exc})"
    raw_digest = hashlib.sha256(content).hexdigest()
    if raw_digest == sums["raw"]:
        return None
    return (
        f"SHA-256 {digest} does not match the published {sums['gz']} "
        f"(uncompressed content {raw_digest}, expected {sums['raw']})"
    )


def _download(url: str, dest: Path, fname: str, *, progress: bool, timeout: float) -> None:
    """Download ``url`` to ``dest`` atomically; keep it only if the checksum matches."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        _umask_permissions(fd)
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
                bar = None
                if progress:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                               desc=fname, leave=False)
                try:
                    while True:
                        block = resp.read(1 << 16)
                        if not block:
                            break
                        out.write(block)
                        if bar is not None:
                            bar.update(len(block))
                finally:
                    if bar is not None:
                        bar.close()
            out.flush()
            os.fsync(out.fileno())
        reason = _verify(tmp, fname)
        if reason is not None:
            raise ChecksumError(f"download of {fname} from {url} is corrupt: {reason}; it was not saved")
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _manual_hint(folder: Path) -> str:
    names = ", ".join(MNIST_FILES)
    return (
        f"To install the files by hand, download {names} from any MNIST mirror "
        f"(e.g. {MNIST_MIRRORS[0]}) on a machine with internet access and copy them into "
        f"{folder} (set KSPARSE_DATA or data_home= to use another folder); "
        "or use the bundled subset with load_mnist(full=False)."
    )


def _fetch_full(folder: Path, mirrors: Sequence[str], *, progress: bool, timeout: float) -> dict:
    paths = {}
    for fname in MNIST_FILES:
        dest = folder / fname
        raw_copy = folder / fname[:-3]  # an uncompressed copy placed by hand
        existing = dest if dest.exists() else raw_copy if raw_copy.exists() else None
        if existing is not None:
            reason = _verify(existing, fname)
            if reason is not None:
                raise ChecksumError(
                    f"{existing} is not the official {fname}: {reason}. Delete it so that it is "
                    "downloaded again, or replace it with a good copy."
                )
            paths[fname] = existing
            continue
        errors = []
        for base in mirrors:
            url = base if base.endswith(fname) else base.rstrip("/") + "/" + fname
            try:
                _download(url, dest, fname, progress=progress, timeout=timeout)
            except ChecksumError as exc:
                errors.append(str(exc))
                continue
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
                continue
            paths[fname] = dest
            break
        else:
            detail = "; ".join(errors)
            if errors and all("is corrupt" in e for e in errors):
                raise ChecksumError(f"could not get a good copy of {fname}: {detail}. {_manual_hint(folder)}")
            raise DownloadError(f"could not download {fname} ({detail}). {_manual_hint(folder)}")
    return paths


def load_mnist(
    full: bool = False,
    *,
    normalize: bool = True,
    dtype: Any = "float32",
    data_home: Union[str, os.PathLike, None] = None,
    url: Union[str, Sequence[str], None] = None,
    progress: bool = False,
    timeout: float = 60.0,
) -> Dataset:
    """Load MNIST: the bundled subset (default, offline) or the full data set.

    Parameters
    ----------
    full : bool, default False
        False: the subset shipped with ksparse, 5,000 training images (500 per
        digit, sorted by class) and the official 10,000 test images; no network.
        True: the official 60,000 training and 10,000 test images, downloaded
        once into the data folder (see ``data_home``) and verified by SHA-256.
    normalize : bool, default True
        Scale pixels from 0-255 to [0, 1].
    dtype : {"float32", "float64", "uint8"}, default "float32"
        dtype of the images; "uint8" only with ``normalize=False``.
    data_home : path, optional
        Folder for downloaded files (only with ``full=True``). Default:
        ``$KSPARSE_DATA``, else the user cache folder (see :func:`get_data_home`).
        The files live in its ``mnist/`` subfolder.
    url : str or sequence of str, optional
        Base URL(s) to download from, tried in order (only with ``full=True``);
        http(s) and file:// URLs work. Default: :data:`MNIST_MIRRORS`.
    progress : bool, default False
        Show a progress bar while downloading.
    timeout : float, default 60
        Seconds to wait for a server before trying the next mirror.

    Returns
    -------
    Dataset
        ``X_train`` (n, 784), ``y_train`` (n,) int64, ``X_test``, ``y_test``,
        ``description`` and ``image_shape`` (28, 28).

    Raises
    ------
    DownloadError
        If ``full=True`` and a file cannot be downloaded (the message says where
        to put the files by hand).
    ChecksumError
        If a downloaded or cached file is not the official one; a corrupt
        download is never kept.

    Examples
    --------
    >>> from ksparse.datasets import load_mnist
    >>> data = load_mnist()
    >>> data.X_train.shape, data.X_test.shape
    ((5000, 784), (10000, 784))
    """
    if not full:
        for name, value in (("data_home", data_home), ("url", url)):
            if value is not None:
                raise ValueError(f"{name}= is used only with full=True (the bundled subset needs no download)")
        return _load_bundled(normalize, dtype)
    mirrors = (url,) if isinstance(url, str) else tuple(url) if url is not None else MNIST_MIRRORS
    if not mirrors:
        raise ValueError("url= must name at least one base URL")
    folder = get_data_home(data_home) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    paths = _fetch_full(folder, mirrors, progress=progress, timeout=timeout)
    arr = {f: read_idx(p, name=str(p)) for f, p in paths.items()}
    X_train, y_train, shape = _to_xy(arr["train-images-idx3-ubyte.gz"], arr["train-labels-idx1-ubyte.gz"],
                                     normalize=normalize, dtype=dtype, what="MNIST train")
    X_test, y_test, _ = _to_xy(arr["t10k-images-idx3-ubyte.gz"], arr["t10k-labels-idx1-ubyte.gz"],
                               normalize=normalize, dtype=dtype, what="MNIST test")
    desc = (
        f"MNIST, the official {len(X_train)} training and {len(X_test)} test images (28x28), "
        f"from {folder}; {'scaled to [0, 1]' if normalize else 'raw 0-255 values'}. {_MNIST_CREDIT}"
    )
    return Dataset(X_train, y_train, X_test, y_test, desc, shape)


_SLOT_RE = re.compile(r"^(?P<split>train|t10k|test)[-_.]?(?P<rest>.*)$")


def _classify(fname: str) -> Optional[tuple]:
    low = fname.lower()
    m = _SLOT_RE.match(low)
    if not m or not re.search(r"(ubyte|idx)", low):
        return None
    split = "train" if m.group("split") == "train" else "test"
    rest = m.group("rest")
    if "idx3" in rest or "images" in rest:
        kind = "images"
    elif "idx1" in rest or "labels" in rest:
        kind = "labels"
    else:
        return None
    return split, kind


def load_idx_folder(
    path: Union[str, os.PathLike],
    *,
    normalize: bool = True,
    dtype: Any = "float32",
) -> Dataset:
    """Load a folder of MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST...).

    The folder must hold four files named like MNIST's: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` (or ``test-...``),
    ``t10k-labels-idx1-ubyte``, each raw or gzip-compressed (``.gz``); ``.`` in
    place of ``-`` before ``idx`` is accepted too.

    Parameters
    ----------
    path : path
        The folder, e.g. ``/usr/share/datasets/fashion-mnist`` (Debian package
        ``dataset-fashion-mnist``).
    normalize : bool, default True
        Scale uint8 pixels to [0, 1].
    dtype : {"float32", "float64", "uint8"}, default "float32"
        dtype of the images; "uint8" only with ``normalize=False``.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or one of the four files is missing.
    ValueError
        If two files match the same role, or the files are inconsistent.
    IDXFormatError
        If a file is not valid IDX.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder that holds the IDX files")
    slots: dict = {}
    for entry in sorted(folder.iterdir()):
        if not entry.is_file():
            continue
        slot = _classify(entry.name)
        if slot is None:
            continue
        if slot in slots:
            raise ValueError(
                f"{folder}: both {slots[slot].name} and {entry.name} look like the {slot[0]} {slot[1]}; "
                "keep only one of them"
            )
        slots[slot] = entry
    wanted = [("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels")]
    missing = [f"{s} {k}" for s, k in wanted if (s, k) not in slots]
    if missing:
        found = ", ".join(sorted(p.name for p in slots.values())) or "none"
        raise FileNotFoundError(
            f"{folder}: missing the {', '.join(missing)} file(s) (found: {found}); expected names like "
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
            "t10k-labels-idx1-ubyte[.gz]"
        )
    arr = {slot: read_idx(p, name=str(p)) for slot, p in slots.items()}
    X_train, y_train, shape = _to_xy(arr["train", "images"], arr["train", "labels"], normalize=normalize,
                                     dtype=dtype, what=f"{folder} train")
    X_test, y_test, _ = _to_xy(arr["test", "images"], arr["test", "labels"], normalize=normalize,
                               dtype=dtype, what=f"{folder} test")
    desc = (
        f"IDX data from {folder}: {len(X_train)} training and {len(X_test)} test samples of shape "
        f"{shape}, {len(np.unique(y_train))} classes; {'scaled to [0, 1]' if normalize else 'raw values'}."
    )
    return Dataset(X_train, y_train, X_test, y_test, desc, shape)

